//! Typed, strict configuration: one section per feature, unknown keys rejected, durations
//! written as `"90s"`/`"4h"`, secrets named by environment variable and never stored here.
//!
//! Loading collects every problem it can find (one per section at most, since a section stops
//! at its first shape error) and reports each as `path:line:col: message`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::Workstream;
use crate::duration::HumanDuration;
use crate::key_path;
use crate::toml_source::{Diagnostic, Seg, TomlSource};

mod data;
pub use data::{BackupLocation, BackupsConfig, DataConfig, TableConfig, is_identifier};

/// Where `lifeboat` looks for its config when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config/lifeboat.toml";

/// A secret loaded from the environment. It prints as `[redacted]` in every format, so it can
/// sit inside structs that are logged or debug-printed without leaking.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Reads the secret from the environment variable `var`; `None` when unset or empty.
    pub fn from_env(var: &str) -> Option<Self> {
        std::env::var(var).ok().filter(|v| !v.is_empty()).map(Self)
    }

    /// The secret itself, for the one place that must send it (an HTTP header, a login).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where `${env.NAME}` values come from: the process environment in production.
pub trait SecretSource: Send + Sync {
    fn get(&self, name: &str) -> Option<Secret>;
}

/// The process environment.
pub struct ProcessEnv;

impl SecretSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<Secret> {
        Secret::from_env(name)
    }
}

/// Fixed values, for tests and drills.
impl SecretSource for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<Secret> {
        BTreeMap::get(self, name).map(|v| Secret::new(v.clone()))
    }
}

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
}

pub use crate::parity::config::{AppConfig, CodeSource, HerokuConfig, ParityConfig};

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

/// The DRP's objectives. A workstream without an objective cannot have a runbook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objectives {
    pub hosting_rto: HumanDuration,
    pub llm_rto: HumanDuration,
    pub rpo: HumanDuration,
    /// Recovery time for a data restore on its own; optional because not every plan has one.
    pub data_rto: Option<HumanDuration>,
    /// When the RTO clocks start: at the outage's first signal (the DRP's reading) or at the
    /// incident's declaration.
    #[serde(default)]
    pub clock_start: ClockStart,
}

/// Where an incident's RTO clocks start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockStart {
    /// The first `feed.degraded`, `feed.outage` or `alert.posted` of the outage (the
    /// declaration when nothing was signalled).
    #[default]
    FirstSignal,
    /// The `incident.declared` event.
    Declaration,
}

impl Objectives {
    /// The recovery-time objective a workstream is measured against.
    pub fn rto_for(&self, workstream: Workstream) -> Option<HumanDuration> {
        match workstream {
            Workstream::Hosting => Some(self.hosting_rto),
            Workstream::Llm => Some(self.llm_rto),
            Workstream::Data => self.data_rto,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// Name of the environment variable that holds the bot token.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    pub guild_id: Option<String>,
    pub incident_channel_id: Option<String>,
    /// Points REST (and, through `/gateway`, the gateway) at another base URL.
    pub api_base: Option<String>,
    /// Register the slash commands with the guild on every start.
    #[serde(default)]
    pub register_on_start: bool,
}

fn default_token_env() -> String {
    "LIFEBOAT_DISCORD_TOKEN".to_owned()
}

impl DiscordConfig {
    /// The bot token, when its environment variable is set.
    pub fn token(&self) -> Option<Secret> {
        Secret::from_env(&self.token_env)
    }
}

/// Discord role ids allowed to act.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// Declare incidents, request runs, add notes.
    #[serde(default)]
    pub responders: Vec<String>,
    /// Approve runs (never their own unless the runbook allows it).
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Approve client communications.
    #[serde(default)]
    pub communicators: Vec<String>,
}

/// A third party the app depends on, and the runbook that answers its outage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: String,
    pub title: Option<String>,
    pub workstream: Workstream,
    /// The runbook proposed when this provider is down.
    pub runbook: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedKind {
    Statuspage,
    Heroku,
    Sftrust,
    AwsHealth,
    Rss,
    Probe,
}

impl FeedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::Statuspage => "statuspage",
            FeedKind::Heroku => "heroku",
            FeedKind::Sftrust => "sftrust",
            FeedKind::AwsHealth => "aws-health",
            FeedKind::Rss => "rss",
            FeedKind::Probe => "probe",
        }
    }
}

impl fmt::Display for FeedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    pub name: String,
    pub provider: String,
    pub kind: FeedKind,
    pub url: String,
    #[serde(default = "default_feed_interval")]
    pub interval: HumanDuration,
    #[serde(default = "default_feed_timeout")]
    pub timeout: HumanDuration,
    /// Watched components; empty = all.
    #[serde(default)]
    pub components: Vec<String>,
    /// `aws-health` only: the regions in use (e.g. `us-east-1`); empty = all.
    #[serde(default)]
    pub regions: Vec<String>,
    /// `aws-health` only: the services in use (e.g. `ecs`, `route53`); empty = all.
    #[serde(default)]
    pub services: Vec<String>,
    /// `probe` only: the HTTP status a healthy endpoint answers.
    pub expect_status: Option<u16>,
    /// `probe` only: a substring a healthy body contains.
    pub body_contains: Option<String>,
    /// `probe` only: slower than this counts as degraded.
    pub max_latency: Option<HumanDuration>,
}

fn default_feed_interval() -> HumanDuration {
    HumanDuration::from_secs(60)
}

fn default_feed_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}

/// How the watcher turns observations into alerts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// A level change counts after this many consecutive observations.
    #[serde(default = "default_debounce")]
    pub debounce: u32,
    /// This many level changes within `flap_window` mark a feed as flapping.
    #[serde(default = "default_flap_changes")]
    pub flap_changes: usize,
    #[serde(default = "default_flap_window")]
    pub flap_window: HumanDuration,
    /// A feed unreadable for this long gets a "feed unreadable" notice.
    #[serde(default = "default_unreadable_after")]
    pub unreadable_after: HumanDuration,
    /// Largest body read from a feed, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body: usize,
    /// Poll intervals vary by up to this share (0.0–0.5) so feeds are not polled in lockstep.
    #[serde(default = "default_jitter")]
    pub jitter: f64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            debounce: default_debounce(),
            flap_changes: default_flap_changes(),
            flap_window: default_flap_window(),
            unreadable_after: default_unreadable_after(),
            max_body: default_max_body(),
            jitter: default_jitter(),
        }
    }
}

fn default_debounce() -> u32 {
    2
}

fn default_flap_changes() -> usize {
    4
}

fn default_flap_window() -> HumanDuration {
    HumanDuration::from_secs(30 * 60)
}

fn default_unreadable_after() -> HumanDuration {
    HumanDuration::from_secs(5 * 60)
}

fn default_max_body() -> usize {
    2 * 1024 * 1024
}

fn default_jitter() -> f64 {
    0.1
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AwsMode {
    /// In memory, seeded from this config: for demos and drills, never for a real failover.
    #[default]
    Simulated,
    /// The real AWS APIs through the SDK (with `endpoint_url` when set).
    Live,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    #[serde(default)]
    pub mode: AwsMode,
    #[serde(default = "default_region")]
    pub region: String,
    /// Overrides every AWS endpoint (moto in tests, a VPC endpoint, ...).
    pub endpoint_url: Option<String>,
    /// The 12-digit account that holds the standby, for the ARNs of `lifeboat iam-policy`.
    pub account_id: Option<String>,
    /// The standby ECS environment.
    pub ecs: Option<EcsConfig>,
    /// The DNS records that move between the primary and the standby.
    pub dns: Option<DnsConfig>,
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            mode: AwsMode::default(),
            region: default_region(),
            endpoint_url: None,
            account_id: None,
            ecs: None,
            dns: None,
        }
    }
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcsConfig {
    pub cluster: String,
    pub services: Vec<EcsServiceConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcsServiceConfig {
    pub name: String,
    /// Desired count while AWS serves the app.
    pub standby: u32,
    /// Desired count while the primary (Heroku) serves the app.
    #[serde(default)]
    pub idle: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    pub zone_id: String,
    /// TTL of the records Lifeboat writes, in seconds.
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    /// The longest TTL `lifeboat readiness` accepts on the live records (resolvers keep the
    /// old answer that long after DNS moves).
    #[serde(default = "default_max_ttl")]
    pub max_ttl: HumanDuration,
    pub records: Vec<DnsRecordConfig>,
}

fn default_ttl() -> u32 {
    60
}

fn default_max_ttl() -> HumanDuration {
    HumanDuration::from_secs(300)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsRecordConfig {
    pub name: String,
    #[serde(rename = "type", default = "default_record_type")]
    pub record_type: String,
    /// The value while the primary serves (e.g. `myapp.herokudns.com`).
    pub primary: String,
    /// The value while the standby serves (e.g. the AWS load balancer's name).
    pub standby: String,
}

fn default_record_type() -> String {
    "CNAME".to_owned()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    pub openai: Option<LlmProviderConfig>,
    pub anthropic: Option<LlmProviderConfig>,
}

impl LlmConfig {
    pub fn provider(&self, name: &str) -> Option<&LlmProviderConfig> {
        match name {
            "openai" => self.openai.as_ref(),
            "anthropic" => self.anthropic.as_ref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmProviderConfig {
    pub base_url: String,
    /// Name of the environment variable that holds the API key.
    pub key_env: String,
    pub model: String,
    #[serde(default = "default_llm_timeout")]
    pub timeout: HumanDuration,
}

fn default_llm_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}

impl LlmProviderConfig {
    pub fn key(&self) -> Option<Secret> {
        Secret::from_env(&self.key_env)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    pub name: String,
    pub channel_id: Option<String>,
    pub role_id: Option<String>,
    /// A Slack-compatible JSON webhook (`{"text": ...}`).
    pub webhook_url: Option<String>,
    /// Name of the environment variable holding the team's PagerDuty Events API v2 routing
    /// key; set, the team is paged on notify and the page resolves with the incident.
    pub pagerduty_routing_key_env: Option<String>,
    /// The PagerDuty Events API v2 endpoint (tests and proxies point it elsewhere).
    #[serde(default = "default_pagerduty_events_url")]
    pub events_url: String,
}

/// PagerDuty's Events API v2 enqueue endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

fn default_pagerduty_events_url() -> String {
    PAGERDUTY_EVENTS_URL.to_owned()
}

/// `[comms]`: client communications and the delivery of team notifications.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommsConfig {
    /// The affected services named in notices (`services` in templates).
    #[serde(default = "default_comms_services")]
    pub services: Vec<String>,
    /// Whether a draft's author may approve it (never by default: a second person reads it).
    #[serde(default)]
    pub author_may_approve: bool,
    /// Ask the LLM providers of `[llm]` (OpenAI, then Anthropic) to polish drafts.
    #[serde(default)]
    pub polish: bool,
    /// Bounds one polish request.
    #[serde(default = "default_polish_timeout")]
    pub polish_timeout: HumanDuration,
    /// A provider that failed is skipped for this long (circuit breaker).
    #[serde(default = "default_breaker_cooldown")]
    pub breaker_cooldown: HumanDuration,
    /// Attempts per delivery route (team routes and client outputs), at least 1.
    #[serde(default = "default_delivery_attempts")]
    pub attempts: u32,
    /// Delay before the second attempt; doubled for each later one.
    #[serde(default = "default_delivery_backoff")]
    pub backoff: HumanDuration,
    /// Bounds one HTTP delivery (webhook, PagerDuty).
    #[serde(default = "default_delivery_timeout")]
    pub timeout: HumanDuration,
    /// A Discord channel where approved client notices are announced.
    pub announcement_channel_id: Option<String>,
    /// A Slack-compatible JSON webhook that receives approved client notices.
    pub webhook_url: Option<String>,
    /// Email to the key clients.
    pub email: Option<EmailConfig>,
}

impl Default for CommsConfig {
    fn default() -> Self {
        Self {
            services: default_comms_services(),
            author_may_approve: false,
            polish: false,
            polish_timeout: default_polish_timeout(),
            breaker_cooldown: default_breaker_cooldown(),
            attempts: default_delivery_attempts(),
            backoff: default_delivery_backoff(),
            timeout: default_delivery_timeout(),
            announcement_channel_id: None,
            webhook_url: None,
            email: None,
        }
    }
}

fn default_comms_services() -> Vec<String> {
    vec!["the application".to_owned()]
}

fn default_polish_timeout() -> HumanDuration {
    HumanDuration::from_secs(20)
}

fn default_breaker_cooldown() -> HumanDuration {
    HumanDuration::from_secs(5 * 60)
}

fn default_delivery_attempts() -> u32 {
    3
}

fn default_delivery_backoff() -> HumanDuration {
    HumanDuration::from_secs(2)
}

fn default_delivery_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}

/// `[comms.email]`: approved client notices by SMTP. With a login, TLS is required (STARTTLS,
/// or TLS from the first byte on port 465 / `tls = "wrapper"`); without one, STARTTLS is used
/// whenever the server offers it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    /// The sender, e.g. `"Example Status <status@example.com>"`.
    pub from: String,
    /// The key clients: every approved client notice goes to each of them.
    pub recipients: Vec<String>,
    /// Names of the environment variables holding the SMTP login, when the server needs one.
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    /// A PEM root certificate trusted besides the public roots (a relay with a private CA).
    pub ca_file: Option<PathBuf>,
    /// `starttls` (required, even without a login) or `wrapper` (implicit TLS); unset means
    /// `wrapper` on port 465, else STARTTLS (required with a login, opportunistic without).
    pub tls: Option<SmtpTls>,
    #[serde(default = "default_delivery_timeout")]
    pub timeout: HumanDuration,
}

/// How the SMTP connection is encrypted, when set explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    Starttls,
    Wrapper,
}

fn default_smtp_port() -> u16 {
    587
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
        }
    }
}

fn default_drill_every() -> HumanDuration {
    HumanDuration::from_secs(365 * 86_400)
}

fn default_review_every() -> HumanDuration {
    HumanDuration::from_secs(182 * 86_400)
}

/// A loaded, validated config and the source it came from (kept for locating later errors).
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub source: TomlSource,
}

const SECTIONS: [&str; 19] = [
    "store",
    "server",
    "paths",
    "objectives",
    "discord",
    "access",
    "providers",
    "feeds",
    "watch",
    "aws",
    "llm",
    "teams",
    "comms",
    "schedule",
    "data",
    "vars",
    "heroku",
    "app",
    "parity",
];

impl Config {
    /// Reads and validates the config at `path`, reporting every problem found.
    pub fn load(path: &Path) -> Result<LoadedConfig, Vec<Diagnostic>> {
        let source = TomlSource::read(path).map_err(|d| vec![d])?;
        Self::from_source(source)
    }

    pub fn from_source(source: TomlSource) -> Result<LoadedConfig, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        // A syntax error stops everything: nothing below can be located reliably.
        if let Err(err) = source.parse_at::<toml::Value>(&[]) {
            return Err(vec![err]);
        }
        for key in source.keys_at(&[]) {
            if !SECTIONS.contains(&key.as_str()) {
                errors.push(source.error_at(
                    &key_path![key.as_str()],
                    format!(
                        "unknown section `{key}`, expected one of {}",
                        SECTIONS.join(", ")
                    ),
                ));
            }
        }
        // Each section is checked on its own so that one mistake does not hide the others.
        macro_rules! section {
            ($name:literal) => {
                match source.parse_at(&key_path![$name]) {
                    Ok(value) => value,
                    Err(err) => {
                        errors.push(err);
                        None
                    }
                }
            };
        }
        let objectives_missing = source.keys_at(&[]).iter().all(|k| k != "objectives");
        let store: Option<StoreConfig> = section!("store");
        let paths: Option<PathsConfig> = section!("paths");
        let objectives: Option<Objectives> = section!("objectives");
        let discord: Option<DiscordConfig> = section!("discord");
        let access: Option<AccessConfig> = section!("access");
        let providers: Option<Vec<ProviderConfig>> = section!("providers");
        let feeds: Option<Vec<FeedConfig>> = section!("feeds");
        let watch: Option<WatchConfig> = section!("watch");
        let aws: Option<AwsConfig> = section!("aws");
        let llm: Option<LlmConfig> = section!("llm");
        let teams: Option<Vec<TeamConfig>> = section!("teams");
        let comms: Option<CommsConfig> = section!("comms");
        let schedule: Option<ScheduleConfig> = section!("schedule");
        let server: Option<ServerConfig> = section!("server");
        let data: Option<DataConfig> = section!("data");
        let vars: Option<BTreeMap<String, String>> = section!("vars");
        let heroku: Option<HerokuConfig> = section!("heroku");
        let app: Option<AppConfig> = section!("app");
        let parity: Option<ParityConfig> = section!("parity");
        if objectives_missing {
            errors.push(source.error_at(
                &[],
                "missing section [objectives]: hosting_rto, llm_rto and rpo are required",
            ));
        }
        let (Some(objectives), true) = (objectives, errors.is_empty()) else {
            return Err(errors);
        };
        let config = Config {
            store: store.unwrap_or_default(),
            paths: paths.unwrap_or_default(),
            objectives,
            discord,
            access: access.unwrap_or_default(),
            providers: providers.unwrap_or_default(),
            feeds: feeds.unwrap_or_default(),
            watch: watch.unwrap_or_default(),
            aws: aws.unwrap_or_default(),
            llm: llm.unwrap_or_default(),
            teams: teams.unwrap_or_default(),
            comms: comms.unwrap_or_default(),
            schedule: schedule.unwrap_or_default(),
            server: server.unwrap_or_default(),
            data,
            vars: vars.unwrap_or_default(),
            heroku,
            app: app.unwrap_or_default(),
            parity: parity.unwrap_or_default(),
        };
        let semantic = config.validate(&source);
        if semantic.is_empty() {
            Ok(LoadedConfig { config, source })
        } else {
            Err(semantic)
        }
    }

    /// Checks that need the whole config: unique names, references between sections, URLs.
    fn validate(&self, source: &TomlSource) -> Vec<Diagnostic> {
        let mut errors = Vec::new();
        unique_names(
            source,
            "providers",
            self.providers.iter().map(|p| &p.name),
            &mut errors,
        );
        unique_names(
            source,
            "feeds",
            self.feeds.iter().map(|f| &f.name),
            &mut errors,
        );
        unique_names(
            source,
            "teams",
            self.teams.iter().map(|t| &t.name),
            &mut errors,
        );
        let providers: BTreeSet<&str> = self.providers.iter().map(|p| p.name.as_str()).collect();
        for (i, feed) in self.feeds.iter().enumerate() {
            if !providers.contains(feed.provider.as_str()) {
                errors.push(source.error_at(
                    &key_path!["feeds", i, "provider"],
                    format!(
                        "feed `{}` names provider `{}`, which is not in [[providers]] (known: {})",
                        feed.name,
                        feed.provider,
                        join_or_none(providers.iter().copied())
                    ),
                ));
            }
            check_url(
                source,
                &key_path!["feeds", i, "url"],
                &feed.url,
                &mut errors,
            );
            if feed.interval.get().is_zero() {
                errors.push(source.error_at(
                    &key_path!["feeds", i, "interval"],
                    "interval must be longer than 0s",
                ));
            }
        }
        if self.store.backup_every.get().is_zero() {
            errors.push(source.error_at(
                &key_path!["store", "backup_every"],
                "backup_every must be longer than 0s",
            ));
        }
        if self.store.backup_keep == 0 {
            errors.push(source.error_at(
                &key_path!["store", "backup_keep"],
                "backup_keep must be at least 1 (the newest backup is always kept)",
            ));
        }
        let w = &self.watch;
        if w.debounce == 0 {
            errors.push(source.error_at(
                &key_path!["watch", "debounce"],
                "debounce must be at least 1",
            ));
        }
        if w.flap_changes < 2 {
            errors.push(source.error_at(
                &key_path!["watch", "flap_changes"],
                "flap_changes must be at least 2",
            ));
        }
        if !(0.0..=0.5).contains(&w.jitter) {
            errors.push(source.error_at(
                &key_path!["watch", "jitter"],
                "jitter must be between 0.0 and 0.5",
            ));
        }
        if w.max_body == 0 {
            errors.push(
                source.error_at(&key_path!["watch", "max_body"], "max_body must be positive"),
            );
        }
        if let Some(discord) = &self.discord {
            if let Some(base) = &discord.api_base {
                check_url(source, &key_path!["discord", "api_base"], base, &mut errors);
            }
            for (key, value) in [
                ("guild_id", &discord.guild_id),
                ("incident_channel_id", &discord.incident_channel_id),
            ] {
                if let Some(id) = value
                    && !is_snowflake(id)
                {
                    errors.push(source.error_at(
                        &key_path!["discord", key],
                        format!("`{id}` is not a Discord id (digits only)"),
                    ));
                }
            }
        }
        if let Some(endpoint) = &self.aws.endpoint_url {
            check_url(
                source,
                &key_path!["aws", "endpoint_url"],
                endpoint,
                &mut errors,
            );
        }
        if let Some(account) = &self.aws.account_id
            && !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        {
            errors.push(source.error_at(
                &key_path!["aws", "account_id"],
                format!("`{account}` is not an AWS account id (12 digits)"),
            ));
        }
        if let Some(ecs) = &self.aws.ecs {
            let names = ecs.services.iter().map(|s| &s.name);
            unique_names_at(
                source,
                &key_path!["aws", "ecs", "services"],
                names,
                &mut errors,
            );
        }
        if let Some(dns) = &self.aws.dns {
            let names = dns.records.iter().map(|r| &r.name);
            unique_names_at(
                source,
                &key_path!["aws", "dns", "records"],
                names,
                &mut errors,
            );
        }
        for (name, provider) in [
            ("openai", &self.llm.openai),
            ("anthropic", &self.llm.anthropic),
        ] {
            if let Some(p) = provider {
                check_url(
                    source,
                    &key_path!["llm", name, "base_url"],
                    &p.base_url,
                    &mut errors,
                );
            }
        }
        for (i, team) in self.teams.iter().enumerate() {
            if let Some(url) = &team.webhook_url {
                check_url(
                    source,
                    &key_path!["teams", i, "webhook_url"],
                    url,
                    &mut errors,
                );
            }
            check_url(
                source,
                &key_path!["teams", i, "events_url"],
                &team.events_url,
                &mut errors,
            );
        }
        self.validate_comms(source, &mut errors);
        if let Some(data) = &self.data {
            data.validate(source, &mut errors);
        }
        if self
            .schedule
            .db_backup_every
            .is_some_and(|d| d.get().is_zero())
        {
            errors.push(source.error_at(
                &key_path!["schedule", "db_backup_every"],
                "db_backup_every must be longer than 0s",
            ));
        }
        crate::parity::config::validate(self, source, &mut errors);
        errors
    }

    fn validate_comms(&self, source: &TomlSource, errors: &mut Vec<Diagnostic>) {
        let c = &self.comms;
        if c.attempts == 0 {
            errors.push(source.error_at(
                &key_path!["comms", "attempts"],
                "attempts must be at least 1",
            ));
        }
        if let Some(url) = &c.webhook_url {
            check_url(source, &key_path!["comms", "webhook_url"], url, errors);
        }
        if let Some(id) = &c.announcement_channel_id
            && !is_snowflake(id)
        {
            errors.push(source.error_at(
                &key_path!["comms", "announcement_channel_id"],
                format!("`{id}` is not a Discord id (digits only)"),
            ));
        }
        if let Some(email) = &c.email {
            if email.recipients.is_empty() {
                errors.push(source.error_at(
                    &key_path!["comms", "email", "recipients"],
                    "recipients is empty: list the key clients' addresses",
                ));
            }
            let addresses = std::iter::once(("from".to_owned(), &email.from)).chain(
                email
                    .recipients
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (format!("recipients[{i}]"), r)),
            );
            for (key, address) in addresses {
                if let Err(err) = address.parse::<lettre::message::Mailbox>() {
                    let at = if key == "from" {
                        key_path!["comms", "email", "from"]
                    } else {
                        key_path!["comms", "email", "recipients"]
                    };
                    errors.push(source.error_at(
                        &at,
                        format!("{key} `{address}` is not an email address: {err}"),
                    ));
                }
            }
            if let Some(ca) = &email.ca_file
                && !ca.is_file()
            {
                errors.push(source.error_at(
                    &key_path!["comms", "email", "ca_file"],
                    format!(
                        "ca_file `{}` is not a readable file{}",
                        ca.display(),
                        crate::toml_source::relative_path_hint(ca)
                    ),
                ));
            }
            if email.username_env.is_some() != email.password_env.is_some() {
                errors.push(source.error_at(
                    &key_path!["comms", "email"],
                    "set both username_env and password_env, or neither",
                ));
            }
        }
    }

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

fn unique_names<'a>(
    source: &TomlSource,
    section: &str,
    names: impl Iterator<Item = &'a String>,
    errors: &mut Vec<Diagnostic>,
) {
    unique_names_at(source, &key_path![section], names, errors);
}

fn unique_names_at<'a>(
    source: &TomlSource,
    at: &[Seg],
    names: impl Iterator<Item = &'a String>,
    errors: &mut Vec<Diagnostic>,
) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, name) in names.enumerate() {
        let mut path = at.to_vec();
        path.extend([Seg::Index(i), Seg::from("name")]);
        if let Some(first) = seen.get(name.as_str()) {
            let mut first_path = at.to_vec();
            first_path.extend([Seg::Index(*first), Seg::from("name")]);
            let first_line = source.error_at(&first_path, "").line;
            errors.push(source.error_at(
                &path,
                format!("duplicate name `{name}` (first used at line {first_line})"),
            ));
        } else {
            seen.insert(name, i);
        }
    }
}

fn check_url(source: &TomlSource, at: &[Seg], url: &str, errors: &mut Vec<Diagnostic>) {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https" | "ws" | "wss") => {}
        Ok(parsed) => errors.push(source.error_at(
            at,
            format!("`{url}`: scheme `{}` is not http or https", parsed.scheme()),
        )),
        Err(err) => errors.push(source.error_at(at, format!("`{url}` is not a valid URL: {err}"))),
    }
}

fn is_snowflake(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn join_or_none<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let joined: Vec<&str> = items.collect();
    if joined.is_empty() {
        "none".to_owned()
    } else {
        joined.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n";

    fn load(text: &str) -> Result<LoadedConfig, Vec<Diagnostic>> {
        Config::from_source(TomlSource::new("lifeboat.toml", text))
    }

    fn errors(text: &str) -> Vec<String> {
        load(text)
            .expect_err("config should be rejected")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let loaded = load(MINIMAL).unwrap();
        let c = loaded.config;
        assert_eq!(c.objectives.hosting_rto.to_string(), "4h");
        assert_eq!(c.store.data_dir, PathBuf::from("data"));
        assert_eq!(c.aws.mode, AwsMode::Simulated);
        assert_eq!(c.schedule.drill_every.to_string(), "365d");
    }

    #[test]
    fn unknown_key_names_the_key_and_its_position() {
        let text = format!("{MINIMAL}\n[store]\ndata_dri = \"x\"\n");
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("lifeboat.toml:7:1: unknown field `data_dri`"),
            "{errs:?}"
        );
    }

    #[test]
    fn unknown_section_is_reported() {
        let errs = errors(&format!("{MINIMAL}[stor]\n"));
        assert!(errs[0].contains(":5:2: unknown section `stor`"), "{errs:?}");
    }

    #[test]
    fn wrong_type_and_bad_duration_are_both_reported() {
        let text = "[objectives]\nhosting_rto = \"4 hours\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n\n[discord]\nregister_on_start = \"yes\"\n";
        let errs = errors(text);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs.iter()
                .any(|e| e.contains(":2:15: invalid duration `4 hours`")),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|e| e.contains(":7:21: invalid type")),
            "{errs:?}"
        );
    }

    #[test]
    fn missing_required_field() {
        let errs = errors("[objectives]\nhosting_rto = \"4h\"\nrpo = \"1h\"\n");
        assert!(errs[0].contains("missing field `llm_rto`"), "{errs:?}");
        let errs = errors("[store]\n");
        assert!(errs[0].contains("missing section [objectives]"), "{errs:?}");
    }

    #[test]
    fn feed_must_name_a_known_provider() {
        let text = format!(
            "{MINIMAL}[[providers]]\nname = \"heroku\"\nworkstream = \"hosting\"\n\n[[feeds]]\nname = \"f\"\nprovider = \"herok\"\nkind = \"heroku\"\nurl = \"http://127.0.0.1/x\"\n"
        );
        let errs = errors(&text);
        assert!(
            errs[0].contains(":11:1: feed `f` names provider `herok`"),
            "{errs:?}"
        );
    }

    #[test]
    fn duplicate_team_names_are_rejected_with_both_lines() {
        let text = format!("{MINIMAL}[[teams]]\nname = \"eng\"\n[[teams]]\nname = \"eng\"\n");
        let errs = errors(&text);
        assert!(
            errs[0].contains(":8:1: duplicate name `eng` (first used at line 6)"),
            "{errs:?}"
        );
    }

    #[test]
    fn urls_and_ids_are_checked() {
        let text = format!("{MINIMAL}[discord]\nguild_id = \"abc\"\napi_base = \"not a url\"\n");
        let errs = errors(&text);
        assert_eq!(errs.len(), 2, "{errs:?}");
    }

    #[test]
    fn store_and_server_keys_are_typed_and_checked() {
        let loaded = load(MINIMAL).unwrap().config;
        assert_eq!(loaded.server.listen.to_string(), "127.0.0.1:9090");
        assert!(loaded.server.enabled);
        assert_eq!(loaded.server.shutdown_grace.to_string(), "30s");
        assert_eq!(loaded.store.backup_dir, None);
        let text = format!(
            "{MINIMAL}[store]\nbackup_dir = \"b\"\nbackup_every = \"15m\"\nbackup_keep = 3\n[server]\nlisten = \"127.0.0.1:0\"\nshutdown_grace = \"5s\"\n"
        );
        let c = load(&text).unwrap().config;
        assert_eq!(c.store.backup_dir, Some(PathBuf::from("b")));
        assert_eq!(
            (c.store.backup_every.to_string(), c.store.backup_keep),
            ("15m".into(), 3)
        );
        assert_eq!(c.server.listen.port(), 0);
        let errs = errors(&format!(
            "{MINIMAL}[store]\nbackup_keep = 0\nbackup_every = \"0s\"\n"
        ));
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs.iter()
                .any(|e| e.contains(":6:1: backup_keep must be at least 1")),
            "{errs:?}"
        );
        let errs = errors(&format!(
            "{MINIMAL}[server]\nlisten = \"localhost\"\nport = 1\n"
        ));
        assert!(errs[0].contains(":6:"), "{errs:?}");
    }

    #[test]
    fn comms_and_team_routes_are_checked() {
        let c = load(MINIMAL).unwrap().config;
        assert_eq!(c.comms.attempts, 3);
        assert!(!c.comms.author_may_approve && c.comms.email.is_none());
        let text = format!(
            "{MINIMAL}[[teams]]\nname = \"eng\"\npagerduty_routing_key_env = \"PD\"\n[comms]\nattempts = 0\nannouncement_channel_id = \"x1\"\n[comms.email]\nsmtp_host = \"127.0.0.1\"\nfrom = \"status@example.com\"\nrecipients = [\"not an address\"]\nusername_env = \"U\"\n"
        );
        let errs = errors(&text);
        assert_eq!(errs.len(), 4, "{errs:?}");
        for expected in [
            ":9:1: attempts must be at least 1",
            "`x1` is not a Discord id",
            "recipients[0] `not an address`",
            "username_env and password_env",
        ] {
            assert!(errs.iter().any(|e| e.contains(expected)), "{errs:?}");
        }
        let text = format!(
            "{MINIMAL}[[teams]]\nname = \"eng\"\npagerduty_routing_key_env = \"PD\"\n[comms.email]\nsmtp_host = \"h\"\nfrom = \"s@example.com\"\nrecipients = [\"a@example.com\"]\nusername_env = \"U\"\npassword_env = \"P\"\n"
        );
        let c = load(&text).unwrap().config;
        assert_eq!(c.teams[0].events_url, PAGERDUTY_EVENTS_URL);
        assert_eq!(c.comms.email.as_ref().unwrap().smtp_port, 587);
        let vars = c.secret_env_vars();
        assert!(
            ["PD", "U", "P"].iter().all(|v| vars.contains(v)),
            "{vars:?}"
        );
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "hunter2");
    }
}
