//! How Lifeboat itself runs: `[store]` (the event log and its backups), `[server]`, `[paths]`
//! and `[schedule]` (drills, reviews, RPO watch, dumps, parity).

use std::path::PathBuf;

use serde::Deserialize;

use super::Secret;
use crate::duration::HumanDuration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The sled event log; `--data-dir` overrides it.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Where `lifeboat run` writes scheduled backups of the log; none when unset.
    pub backup_dir: Option<PathBuf>,
    /// How often a scheduled backup is taken.
    #[serde(default = "default_backup_every")]
    pub backup_every: HumanDuration,
    /// How many scheduled backups are kept (the newest).
    #[serde(default = "default_backup_keep")]
    pub backup_keep: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            backup_dir: None,
            backup_every: default_backup_every(),
            backup_keep: default_backup_keep(),
        }
    }
}

fn default_backup_every() -> HumanDuration {
    HumanDuration::from_secs(3600)
}

fn default_backup_keep() -> usize {
    48
}

/// The operators' HTTP endpoints of `lifeboat run` and how it stops.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `false` serves nothing (then `lifeboat store backup` needs the bot stopped).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Where `/healthz`, `/metrics` and `/backup` are served; loopback by default.
    #[serde(default = "default_listen")]
    pub listen: std::net::SocketAddr,
    /// On SIGTERM/SIGINT, how long a running step may take to finish before Lifeboat exits
    /// anyway (the run then resumes on the next start, as after a crash).
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: HumanDuration,
    /// The environment variable holding the bearer token that `/metrics` and `/backup` then
    /// require (`Authorization: Bearer ...`); `lifeboat store backup` sends it. Unset: both
    /// are open, which `check --production` accepts only on loopback.
    #[serde(default)]
    pub token_env: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: default_listen(),
            shutdown_grace: default_shutdown_grace(),
            token_env: None,
        }
    }
}

impl ServerConfig {
    /// The bearer token from `token_env`; `None` when no variable is named or it is unset.
    pub fn token(&self) -> Option<Secret> {
        self.token_env.as_deref().and_then(Secret::from_env)
    }
}

/// The file in the data dir where a running bot records the address its endpoints are bound
/// to (`listen = "127.0.0.1:0"` picks a free port), for `lifeboat store backup` to find it.
pub const BOUND_ADDRESS_FILE: &str = "lifeboat.addr";

fn default_true() -> bool {
    true
}

fn default_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 9090))
}

fn default_shutdown_grace() -> HumanDuration {
    HumanDuration::from_secs(30)
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

/// Where runbooks and templates live; relative paths are taken from the working directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathsConfig {
    #[serde(default = "default_runbooks_dir")]
    pub runbooks: PathBuf,
    #[serde(default = "default_templates_dir")]
    pub templates: PathBuf,
}

impl Default for PathsConfig {
    fn default() -> Self {
        Self {
            runbooks: default_runbooks_dir(),
            templates: default_templates_dir(),
        }
    }
}

fn default_runbooks_dir() -> PathBuf {
    PathBuf::from("commands")
}

fn default_templates_dir() -> PathBuf {
    PathBuf::from("config/templates")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    #[serde(default = "default_drill_every")]
    pub drill_every: HumanDuration,
    #[serde(default = "default_review_every")]
    pub review_every: HumanDuration,
    /// How often the RPO watch checks the latest backup's age; absent = no watch.
    pub rpo_watch_every: Option<HumanDuration>,
    /// The runbook whose `backup_check` step the watch runs; by default the first runbook
    /// (by name) that has one.
    pub rpo_watch_runbook: Option<String>,
    /// How often `lifeboat run` dumps the primary into `[data.backups]`; absent = never
    /// (an hourly RPO needs at least hourly dumps: Heroku's own backups are daily).
    pub db_backup_every: Option<HumanDuration>,
    /// How often the scheduler compares the standby with production (`lifeboat parity`) and
    /// alerts on new drift; absent = never.
    pub parity_every: Option<HumanDuration>,
    /// How often everyone holding a responder, approver or communicator role must take part
    /// in a game day; absent = no training check in readiness and no training reminder.
    pub training_every: Option<HumanDuration>,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            drill_every: default_drill_every(),
            review_every: default_review_every(),
            rpo_watch_every: None,
            rpo_watch_runbook: None,
            db_backup_every: None,
            parity_every: None,
            training_every: None,
        }
    }
}

fn default_drill_every() -> HumanDuration {
    HumanDuration::from_secs(365 * 86_400)
}

fn default_review_every() -> HumanDuration {
    HumanDuration::from_secs(182 * 86_400)
}

/// `[drill]`: how drills are played.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillConfig {
    /// How long a game day may run before it ends on its own, with a debrief naming the
    /// phase where it stalled.
    #[serde(default = "default_gameday_timeout")]
    pub gameday_timeout: HumanDuration,
}

impl Default for DrillConfig {
    fn default() -> Self {
        Self {
            gameday_timeout: default_gameday_timeout(),
        }
    }
}

fn default_gameday_timeout() -> HumanDuration {
    HumanDuration::from_secs(2 * 3600)
}
