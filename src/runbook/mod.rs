//! Runbooks as data (`commands/*.toml`): the model, the loader and its validation, and a run's
//! state as folded from the log (`state`; the engine that executes runs is `crate::engine`).
//!
//! A runbook names the workstream it restores, its approval policy, its parameters and its
//! ordered steps. Each step has a `kind` and its arguments in a `with` table; common settings
//! (timeout, retries, idempotency, what to do on failure) sit beside them.

pub mod interp;
mod load;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::domain::Workstream;
use crate::duration::HumanDuration;

#[cfg(test)]
pub(crate) use load::load_source;
pub use load::{LoadedRunbooks, load_dir, load_file};

/// A validated runbook.
#[derive(Debug, Clone, Serialize)]
pub struct Runbook {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    pub workstream: Workstream,
    pub approval: ApprovalPolicy,
    pub params: Vec<Param>,
    pub steps: Vec<Step>,
    /// The file it came from.
    pub source: PathBuf,
    /// SHA-256 of the file's bytes: approvals are bound to it.
    pub file_hash: String,
}

/// Who must approve a run before it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    /// How many distinct approvers are needed (0 = no approval: read-only runbooks only).
    #[serde(default = "one")]
    pub approvals: u32,
    /// A request not approved within this time expires.
    #[serde(default = "default_expiry")]
    pub expires: HumanDuration,
    /// Whether the requester's own approval counts. Never, unless a runbook says so.
    #[serde(default)]
    pub requester_may_approve: bool,
    /// On a sev1 incident, the requester may start the run alone (with a stated reason) once
    /// the request has waited this long without approval. `None` (the default): never.
    #[serde(default)]
    pub break_glass_after: Option<HumanDuration>,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        Self {
            approvals: 1,
            expires: default_expiry(),
            requester_may_approve: false,
            break_glass_after: None,
        }
    }
}

fn one() -> u32 {
    1
}

fn default_expiry() -> HumanDuration {
    HumanDuration::from_secs(15 * 60)
}

/// A value given when a run is requested, referred to as `${params.NAME}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Param {
    pub name: String,
    pub description: Option<String>,
    /// Used when the requester gives none; without a default the parameter is required.
    pub default: Option<String>,
}

/// What to do when a step fails after its retries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Stop the run; later steps do not run.
    #[default]
    Abort,
    /// Pause and let a responder resume (retry), skip or abort.
    Pause,
    /// Record the failure and go on.
    Continue,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub id: String,
    pub title: String,
    pub action: StepAction,
    pub timeout: HumanDuration,
    /// Extra attempts after the first, on retryable errors only.
    pub retries: u32,
    /// The first retry's delay; doubled each time, with jitter.
    pub backoff: HumanDuration,
    /// Safe to run again after a crash that interrupted it.
    pub idempotent: bool,
    pub on_failure: OnFailure,
}

/// The step kinds, as written in `kind = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    EcsScale,
    Route53Upsert,
    Route53Wait,
    HttpCheck,
    HttpRequest,
    LlmProbe,
    BackupCheck,
    Command,
    Notify,
    CommsDraft,
    Confirm,
    Wait,
    DbCopy,
    DbRestore,
    DbVerify,
    LlmParity,
    LlmSwitch,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::EcsScale => "ecs_scale",
            StepKind::Route53Upsert => "route53_upsert",
            StepKind::Route53Wait => "route53_wait",
            StepKind::HttpCheck => "http_check",
            StepKind::HttpRequest => "http_request",
            StepKind::LlmProbe => "llm_probe",
            StepKind::BackupCheck => "backup_check",
            StepKind::Command => "command",
            StepKind::Notify => "notify",
            StepKind::CommsDraft => "comms_draft",
            StepKind::Confirm => "confirm",
            StepKind::Wait => "wait",
            StepKind::DbCopy => "db_copy",
            StepKind::DbRestore => "db_restore",
            StepKind::DbVerify => "db_verify",
            StepKind::LlmParity => "llm_parity",
            StepKind::LlmSwitch => "llm_switch",
        }
    }

    /// Whether re-running after a crash is safe unless the runbook says otherwise.
    pub fn idempotent_by_default(self) -> bool {
        !matches!(
            self,
            StepKind::Command | StepKind::HttpRequest | StepKind::Notify | StepKind::CommsDraft
        )
    }

    pub fn default_timeout(self) -> HumanDuration {
        let secs = match self {
            StepKind::EcsScale => 15 * 60,
            StepKind::Route53Wait => 10 * 60,
            StepKind::Confirm => 30 * 60,
            StepKind::Command => 60 * 60,
            StepKind::Wait => 24 * 3600,
            StepKind::DbCopy | StepKind::DbRestore => 60 * 60,
            StepKind::DbVerify => 15 * 60,
            // A suite of prompts, one after the other; a switch on AWS waits for a deploy.
            StepKind::LlmParity => 10 * 60,
            StepKind::LlmSwitch => 15 * 60,
            _ => 2 * 60,
        };
        HumanDuration::from_secs(secs)
    }
}

/// Which side of the failover a step moves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The primary (Heroku) serves.
    Primary,
    /// The standby (AWS) serves.
    Standby,
}

/// A step's arguments, typed by kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepAction {
    EcsScale(EcsScale),
    Route53Upsert(Route53Upsert),
    Route53Wait(Route53Wait),
    HttpCheck(HttpCheck),
    HttpRequest(HttpRequest),
    LlmProbe(LlmProbe),
    BackupCheck(BackupCheck),
    Command(CommandStep),
    Notify(Notify),
    CommsDraft(CommsDraft),
    Confirm(Confirm),
    Wait(WaitStep),
    DbCopy(DbCopy),
    DbRestore(DbRestore),
    DbVerify(DbVerify),
    LlmParity(LlmParity),
    LlmSwitch(LlmSwitch),
}

impl StepAction {
    pub fn kind(&self) -> StepKind {
        match self {
            StepAction::EcsScale(_) => StepKind::EcsScale,
            StepAction::Route53Upsert(_) => StepKind::Route53Upsert,
            StepAction::Route53Wait(_) => StepKind::Route53Wait,
            StepAction::HttpCheck(_) => StepKind::HttpCheck,
            StepAction::HttpRequest(_) => StepKind::HttpRequest,
            StepAction::LlmProbe(_) => StepKind::LlmProbe,
            StepAction::BackupCheck(_) => StepKind::BackupCheck,
            StepAction::Command(_) => StepKind::Command,
            StepAction::Notify(_) => StepKind::Notify,
            StepAction::CommsDraft(_) => StepKind::CommsDraft,
            StepAction::Confirm(_) => StepKind::Confirm,
            StepAction::Wait(_) => StepKind::Wait,
            StepAction::DbCopy(_) => StepKind::DbCopy,
            StepAction::DbRestore(_) => StepKind::DbRestore,
            StepAction::DbVerify(_) => StepKind::DbVerify,
            StepAction::LlmParity(_) => StepKind::LlmParity,
            StepAction::LlmSwitch(_) => StepKind::LlmSwitch,
        }
    }
}

/// Scale the configured ECS services (`[aws.ecs]`) to their counts for one side and wait
/// until they are stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcsScale {
    pub to: Side,
    /// A subset of the configured services; empty = all.
    #[serde(default)]
    pub services: Vec<String>,
    /// Every service to this many tasks instead of the side's count: `0` stops the app on
    /// AWS before failback copies its data home.
    #[serde(default)]
    pub count: Option<u32>,
}

/// UPSERT the configured records (`[aws.dns]`) to their values for one side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53Upsert {
    pub to: Side,
    /// A subset of the configured records; empty = all.
    #[serde(default)]
    pub records: Vec<String>,
}

/// Wait until the change made by an earlier `route53_upsert` step is INSYNC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53Wait {
    /// The id of the `route53_upsert` step whose change to wait for.
    pub change_of: String,
    #[serde(default = "default_poll")]
    pub poll: HumanDuration,
}

fn default_poll() -> HumanDuration {
    HumanDuration::from_secs(5)
}

/// Poll a URL until it answers as expected, or the step times out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    pub url: String,
    #[serde(default = "ok_status")]
    pub expect_status: u16,
    pub body_contains: Option<String>,
    pub max_latency: Option<HumanDuration>,
    #[serde(default = "default_poll")]
    pub poll: HumanDuration,
}

fn ok_status() -> u16 {
    200
}

/// One HTTP request with side effects (flip a config var, call an admin endpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRequest {
    #[serde(default = "default_method")]
    pub method: String,
    pub url: String,
    /// Header values may use `${env.NAME}` for secrets.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Sent as JSON.
    pub json: Option<serde_json::Value>,
    /// Accepted statuses; empty = any 2xx.
    #[serde(default)]
    pub expect_status: Vec<u16>,
}

fn default_method() -> String {
    "POST".to_owned()
}

/// Send a test prompt to an LLM provider configured in `[llm]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmProbe {
    pub provider: String,
    pub prompt: String,
    pub expect_contains: Option<String>,
    pub max_latency: Option<HumanDuration>,
}

/// Measure the latest backup's age; fail when it is older than the RPO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupCheck {
    /// A JSON endpoint describing the latest backup...
    pub url: Option<String>,
    /// ...and the JSON pointer to its completion time (RFC 3339), e.g. `/latest/completed_at`.
    pub time_pointer: Option<String>,
    /// Or a command that prints the completion time (RFC 3339) on stdout.
    pub command: Option<Vec<String>>,
    /// Defaults to the configured RPO.
    pub max_age: Option<HumanDuration>,
}

/// Run a program (argv, never a shell).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandStep {
    pub argv: Vec<String>,
    /// Environment variables passed through; nothing else is inherited.
    #[serde(default)]
    pub env: Vec<String>,
    pub workdir: Option<PathBuf>,
}

/// Tell a team (from `[[teams]]`), with exactly one of `message` or `template`. Both are
/// rendered with the incident's facts (`crate::comms::facts::VARIABLES`), so a message may say
/// `{{ data_loss_window }}`; `template` names a file in `[paths] templates`
/// (`internal-notify` or `internal-notify.md.j2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    pub team: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub template: Option<String>,
}

impl Notify {
    /// What is sent, for plans and docs: the message as written, or `template NAME`.
    pub fn what(&self) -> String {
        match (&self.message, &self.template) {
            (Some(message), _) => message.clone(),
            (None, Some(name)) => format!("template {name}"),
            (None, None) => String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    Clients,
    Internal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Initial,
    Update,
    Resolved,
}

/// Draft a communication for approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommsDraft {
    pub audience: Audience,
    pub notice: NoticeKind,
}

/// Ask a human in chat; the run waits for the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    pub question: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitStep {
    pub duration: HumanDuration,
}

/// Copy one database straight into the other (`pg_dump | pg_restore`): no data lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbCopy {
    pub from: Side,
    pub to: Side,
    /// What a source that does not answer means: `fail` the step (failback must reach the
    /// primary), or `continue` to the backup path (failover; the step says so).
    #[serde(default)]
    pub if_unreachable: IfUnreachable,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IfUnreachable {
    #[default]
    Fail,
    Continue,
}

/// Restore a backup from `[data.backups]`: its age is checked against the RPO before the
/// target is touched; skipped when an earlier `db_copy` of the run already filled the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbRestore {
    #[serde(default = "standby")]
    pub to: Side,
    /// A backup's key (e.g. `${params.backup}`); empty or absent: the newest.
    #[serde(default)]
    pub backup: Option<String>,
    /// Defaults to the configured RPO.
    pub max_age: Option<HumanDuration>,
}

/// Count the configured tables and measure the data-loss window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbVerify {
    #[serde(default = "standby")]
    pub on: Side,
}

fn standby() -> Side {
    Side::Standby
}

/// Run the LLM parity suite against a provider; the run stops here when it passes less than
/// the minimum share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmParity {
    pub provider: String,
    /// Defaults to `[parity] llm_min_pass`.
    pub min_pass: Option<f64>,
    /// Defaults to `[parity] llm_suite`.
    pub suite: Option<PathBuf>,
}

/// Set the app's LLM variable (`[app] llm_var`) where the app runs now, as the log says: on
/// Heroku through the Platform API, on AWS as a new task definition revision, deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSwitch {
    pub provider: String,
    /// On AWS, these services only; empty = every configured service whose task definition
    /// sets the variable.
    #[serde(default)]
    pub services: Vec<String>,
}

impl Runbook {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
}

pub mod state;
