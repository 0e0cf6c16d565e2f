//! Typed, strict configuration: one section per feature, unknown keys rejected, durations
//! written as `"90s"`/`"4h"`, secrets named by environment variable and never stored here.
//!
//! Loading collects every problem it can find (one per section at most, since a section stops
//! at its first shape error) and reports each as `path:line:col: message`.

use std::collections::BTreeMap;

use serde::Deserialize;

mod aws;
mod comms;
mod data;
mod discord;
mod feeds;
mod ha;
mod llm;
mod load;
mod objectives;
mod runtime;
mod secret;
mod validate;

pub use aws::*;
pub use comms::*;
pub use data::{BackupLocation, BackupsConfig, DataConfig, TableConfig, is_identifier};
pub use discord::*;
pub use feeds::*;
pub use ha::{HaConfig, LeaseTiming, host_name};
pub use llm::*;
pub use load::*;
pub use objectives::*;
pub use runtime::*;
pub use secret::*;
pub(crate) use validate::join_or_none;

/// Where `lifeboat` looks for its config when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config/lifeboat.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub paths: PathsConfig,
    pub objectives: Objectives,
    pub discord: Option<DiscordConfig>,
    #[serde(default)]
    pub access: AccessConfig,
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    #[serde(default)]
    pub feeds: Vec<FeedConfig>,
    #[serde(default)]
    pub watch: WatchConfig,
    #[serde(default)]
    pub aws: AwsConfig,
    #[serde(default)]
    pub llm: LlmConfig,
    #[serde(default)]
    pub teams: Vec<TeamConfig>,
    /// Client communications: who may approve, where approved drafts go, LLM polish.
    #[serde(default)]
    pub comms: CommsConfig,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// How game days are played (`[drill] gameday_timeout`).
    #[serde(default)]
    pub drill: DrillConfig,
    /// The PostgreSQL databases and their backups; `None`: the data steps are simulated.
    pub data: Option<DataConfig>,
    /// Health, metrics and backup endpoints; shutdown grace.
    #[serde(default)]
    pub server: ServerConfig,
    /// Company-specific values runbooks refer to as `${vars.NAME}` (URLs, app names, ...).
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// The production app on Heroku (parity, the LLM switch while the app runs there).
    pub heroku: Option<HerokuConfig>,
    /// What the app reads and answers (its LLM variable, its container on ECS).
    #[serde(default)]
    pub app: AppConfig,
    /// How the standby is compared with production; the LLM parity suite.
    #[serde(default)]
    pub parity: ParityConfig,
    /// The active/standby pair on DynamoDB; `None`: a single node (the default).
    pub ha: Option<HaConfig>,
}

pub use crate::parity::config::{AppConfig, CodeSource, HerokuConfig, ParityConfig};

impl Config {
    /// Every environment variable this config reads secrets from.
    pub fn secret_env_vars(&self) -> Vec<&str> {
        let mut vars = Vec::new();
        if let Some(d) = &self.discord {
            vars.push(d.token_env.as_str());
        }
        for p in [&self.llm.openai, &self.llm.anthropic]
            .into_iter()
            .flatten()
        {
            vars.push(p.key_env.as_str());
        }
        for team in &self.teams {
            if let Some(var) = &team.pagerduty_routing_key_env {
                vars.push(var.as_str());
            }
        }
        if let Some(email) = &self.comms.email {
            vars.extend(email.username_env.as_deref());
            vars.extend(email.password_env.as_deref());
        }
        if let Some(data) = &self.data {
            vars.extend(data.secret_env_vars());
        }
        vars.extend(self.heroku.as_ref().map(|h| h.token_env.as_str()));
        vars.extend(self.server.token_env.as_deref());
        vars
    }

    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }

    pub fn team(&self, name: &str) -> Option<&TeamConfig> {
        self.teams.iter().find(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests;
