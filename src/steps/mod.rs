//! Step kinds: one module each, acting only through the ports (`Dns`, `Containers`, `Llm`,
//! HTTP, `Chat`, processes). The engine calls `execute` to act and `plan` to describe what
//! acting would change, reading current state without writing.

pub mod backup;
pub mod command;
pub mod confirm;
pub mod db;
pub mod ecs;
pub mod http;
pub mod llm;
pub mod llm_gate;
pub mod llm_switch;
pub mod notify;
pub(crate) mod process_group;
pub mod route53;
pub mod wait;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::config::{Config, Secret, SecretSource};
use crate::domain::{IncidentId, RunId, Workstream};
use crate::ports::aws::{AwsEdges, AwsError};
use crate::ports::chat::{ChannelId, Chat};
use crate::ports::clock::Clock;
use crate::ports::heroku::Platform;
use crate::ports::llm::Llm;
use crate::runbook::interp::{self, Namespace};
use crate::runbook::{Step, StepAction};

/// Everything steps act through; built once and shared by every run.
#[derive(Clone)]
pub struct StepEnv {
    pub config: Arc<Config>,
    pub aws: AwsEdges,
    pub http: reqwest::Client,
    pub chat: Arc<dyn Chat>,
    /// Where progress, questions and notifications go when no team channel applies.
    pub channel: ChannelId,
    pub answers: Arc<confirm::Answers>,
    pub secrets: Arc<dyn SecretSource>,
    /// The LLM providers (`llm_probe`, `llm_parity`, comms polish, readiness).
    pub llm: Arc<dyn Llm>,
    /// The primary platform, Heroku (`llm_switch` while the app runs there, parity).
    pub heroku: Arc<dyn Platform>,
    /// Wall time for what the engine and the bot decide and name (one clock per process).
    pub clock: Arc<dyn Clock>,
    /// Communications state shared with the bot (event log, LLM circuit breaker).
    pub comms: crate::comms::CommsShared,
    /// The databases and their backups (`[data]`), or their simulation.
    pub data: crate::db::DataEdges,
}

impl StepEnv {
    /// Whether the AWS edges are the simulation (`[aws] mode = "simulated"`): run requests,
    /// progress and questions then say SIMULATED (`Message::simulated`).
    pub fn aws_simulated(&self) -> bool {
        self.aws.mode == crate::config::AwsMode::Simulated
    }

    /// What communications (notify, drafts) act through, lent from this environment.
    pub fn comms_env(&self) -> crate::comms::CommsEnv<'_> {
        crate::comms::CommsEnv {
            config: &self.config,
            http: &self.http,
            chat: self.chat.as_ref(),
            channel: &self.channel,
            secrets: self.secrets.as_ref(),
            llm: self.llm.as_ref(),
            shared: &self.comms,
        }
    }
}

/// One step of one run, with what earlier steps produced.
pub struct StepInput<'a> {
    pub run: &'a RunId,
    pub incident: Option<&'a IncidentId>,
    pub step: &'a Step,
    /// The workstream of the runbook being run (`None` for a step run on its own).
    pub workstream: Option<Workstream>,
    pub params: &'a BTreeMap<String, String>,
    /// Outputs of the steps completed so far, by step id.
    pub earlier: &'a BTreeMap<String, serde_json::Value>,
    pub attempt: u32,
}

impl StepInput<'_> {
    /// Expands `${params.*}` and `${vars.*}`. `${env.*}` is refused here: secrets go only
    /// through `expand_secret`, so they never land in an event.
    pub fn expand(&self, env: &StepEnv, text: &str) -> Result<String, StepError> {
        interp::expand(text, |r| match r.namespace {
            Namespace::Params => self.params.get(&r.name).cloned(),
            Namespace::Vars => env.config.vars.get(&r.name).cloned(),
            Namespace::Env => None,
        })
        .map_err(|message| {
            StepError::invalid(format!("{message} (secrets are only allowed in headers)"))
        })
    }

    /// Expands everything, secrets included; the result must only be sent, never recorded.
    pub fn expand_secret(&self, env: &StepEnv, text: &str) -> Result<Secret, StepError> {
        interp::expand(text, |r| match r.namespace {
            Namespace::Params => self.params.get(&r.name).cloned(),
            Namespace::Vars => env.config.vars.get(&r.name).cloned(),
            Namespace::Env => env.secrets.get(&r.name).map(|s| s.expose().to_owned()),
        })
        .map(Secret::new)
        .map_err(StepError::invalid)
    }
}

/// What a step did: a line for people and data for the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    pub summary: String,
    pub data: serde_json::Value,
}

impl StepOutput {
    pub fn new(summary: impl Into<String>, data: serde_json::Value) -> Self {
        Self {
            summary: summary.into(),
            data,
        }
    }

    /// An output from its typed shape. A struct of plain fields (string keys) always
    /// serializes; the JSON is what the log gets.
    pub fn typed(summary: impl Into<String>, data: &impl Serialize) -> Self {
        Self::new(summary, serde_json::to_value(data).unwrap_or_default())
    }
}

/// Why a step failed, and whether trying again may help (throttling, 5xx, timeouts,
/// connection errors) or cannot (validation, not found, a check that said no).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub message: String,
    pub retryable: bool,
    pub data: serde_json::Value,
    /// How long the failed call asked to wait before another attempt (a server's
    /// `Retry-After`); the engine waits at least that long, within its cap. Not logged as
    /// such: a step that has one writes it into `data` as well.
    pub retry_after: Option<Duration>,
}

impl StepError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            data: serde_json::Value::Null,
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            data: serde_json::Value::Null,
            retry_after: None,
        }
    }

    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

impl From<AwsError> for StepError {
    fn from(err: AwsError) -> Self {
        Self {
            retryable: err.is_retryable(),
            message: err.to_string(),
            data: json!({ "aws_error": err.to_string() }),
            retry_after: None,
        }
    }
}

/// Carries out one step.
pub async fn execute(env: &StepEnv, input: &StepInput<'_>) -> Result<StepOutput, StepError> {
    match &input.step.action {
        StepAction::EcsScale(args) => ecs::run(env, input, args).await,
        StepAction::Route53Upsert(args) => route53::upsert(env, input, args).await,
        StepAction::Route53Wait(args) => route53::wait(env, input, args).await,
        StepAction::HttpCheck(args) => http::check(env, input, args).await,
        StepAction::HttpRequest(args) => http::request(env, input, args).await,
        StepAction::LlmProbe(args) => llm::probe(env, input, args).await,
        StepAction::BackupCheck(args) => backup::check(env, input, args).await,
        StepAction::Command(args) => command::run(env, input, args).await,
        StepAction::Notify(args) => notify::notify(env, input, args).await,
        StepAction::CommsDraft(args) => notify::draft(env, input, args).await,
        StepAction::Confirm(args) => confirm::ask(env, input, args).await,
        StepAction::Wait(args) => wait::run(args).await,
        StepAction::DbCopy(args) => db::copy(env, input, args).await,
        StepAction::DbRestore(args) => db::restore(env, input, args).await,
        StepAction::DbVerify(args) => db::verify(env, input, args).await,
        StepAction::LlmParity(args) => llm_gate::gate(env, input, args).await,
        StepAction::LlmSwitch(args) => llm_switch::switch(env, input, args).await,
    }
}

/// Describes what `execute` would change, reading current state only.
pub async fn plan(env: &StepEnv, input: &StepInput<'_>) -> Result<Vec<String>, StepError> {
    match &input.step.action {
        StepAction::EcsScale(args) => ecs::plan(env, args).await,
        StepAction::Route53Upsert(args) => route53::plan(env, args).await,
        StepAction::Route53Wait(args) => Ok(vec![format!(
            "wait until the DNS change of step `{}` is INSYNC (poll every {})",
            args.change_of, args.poll
        )]),
        StepAction::HttpCheck(args) => Ok(vec![format!(
            "GET {} until it answers {}{}",
            input.expand(env, &args.url)?,
            args.expect_status,
            args.body_contains
                .as_deref()
                .map(|b| format!(" containing \"{b}\""))
                .unwrap_or_default()
        )]),
        StepAction::HttpRequest(args) => Ok(vec![format!(
            "{} {}{}",
            args.method,
            input.expand(env, &args.url)?,
            args.json
                .as_ref()
                .map(|j| format!(" with {j}"))
                .unwrap_or_default()
        )]),
        StepAction::LlmProbe(args) => Ok(vec![format!(
            "send a test prompt to {} and expect {}",
            args.provider,
            args.expect_contains.as_deref().unwrap_or("any answer")
        )]),
        StepAction::BackupCheck(args) => Ok(vec![format!(
            "check the latest backup is younger than {}",
            args.max_age.unwrap_or(env.config.objectives.rpo)
        )]),
        StepAction::Command(args) => {
            let argv: Result<Vec<String>, StepError> =
                args.argv.iter().map(|a| input.expand(env, a)).collect();
            Ok(vec![format!("run {}", argv?.join(" "))])
        }
        StepAction::Notify(args) => Ok(vec![format!("notify team {}: {}", args.team, args.what())]),
        StepAction::CommsDraft(args) => Ok(vec![
            format!(
                "draft the {:?} notice for {:?} (sent only after a communicator approves)",
                args.notice, args.audience
            )
            .to_lowercase(),
        ]),
        StepAction::Confirm(args) => {
            Ok(vec![format!("ask: {}", input.expand(env, &args.question)?)])
        }
        StepAction::Wait(args) => Ok(vec![format!("wait {}", args.duration)]),
        StepAction::DbCopy(args) => db::plan_copy(env, args).await,
        StepAction::DbRestore(args) => db::plan_restore(env, input, args).await,
        StepAction::DbVerify(args) => Ok(db::plan_verify(env, args)),
        StepAction::LlmParity(args) => Ok(llm_gate::plan(env, args)),
        StepAction::LlmSwitch(args) => Ok(llm_switch::plan(env, args)),
    }
}
