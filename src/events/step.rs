//! A step's execution, as the engine records it: its start is durable before its side effect,
//! its end before the next step starts. Each step kind's output is its own JSON; the parts of
//! it that Lifeboat reads back are typed at the end of this file.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::runbook::{OnFailure, StepKind};

fn one() -> u32 {
    1
}

/// `step.started`: one attempt of a step begins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepStarted {
    pub step: String,
    pub title: String,
    /// Always written; `None` only for an event that lacks it or names a kind this version
    /// does not know.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub kind: Option<StepKind>,
    /// From 1; a step started after a crash starts at 1 again.
    #[serde(default = "one")]
    pub attempt: u32,
    pub idempotent: bool,
}

/// `step.retrying`: attempt `attempt` failed with a retryable error; the next starts after
/// `delay_ms`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepRetrying {
    pub step: String,
    #[serde(default = "one")]
    pub attempt: u32,
    pub error: String,
    pub delay_ms: u64,
}

/// `step.succeeded`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepSucceeded {
    pub step: String,
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub kind: Option<StepKind>,
    pub summary: String,
    /// The step kind's own output (see [`BackupCheckOutput`], [`NotifyOutput`],
    /// [`CommsDraftOutput`] for the parts read back).
    pub output: Value,
    /// Always written; readers fall back to the step's start when it is missing.
    pub duration_ms: Option<u64>,
    /// Always written.
    pub attempts: Option<u32>,
}

/// `step.failed`: after its retries; `on_failure` says what the run does next.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepFailed {
    pub step: String,
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub kind: Option<StepKind>,
    pub error: String,
    pub retryable: bool,
    /// What the step measured before it failed; `null` when nothing.
    pub output: Value,
    pub duration_ms: Option<u64>,
    pub attempts: Option<u32>,
    /// Always written.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub on_failure: Option<OnFailure>,
}

/// `step.skipped`: a responder skipped a paused run's step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepSkipped {
    pub step: String,
}

/// `step.interrupted`: after a restart, a step had started and not ended; `action` is
/// `rerun` (idempotent) or `pause`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepInterrupted {
    pub step: String,
    pub idempotent: bool,
    pub action: String,
}

/// Reads a step's output as `T`, as tolerantly as its readers always did: an output of
/// another shape (or none, `null`) reads as `T`'s default.
pub fn read_output<T: DeserializeOwned + Default>(output: &Value) -> T {
    T::deserialize(output).unwrap_or_default()
}

/// A `backup_check` step's output (also on its failure, when it measured an age).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupCheckOutput {
    /// `url` or `command`.
    pub source: String,
    /// The URL or the command line it read the time from.
    pub from: String,
    /// When the latest backup completed (RFC 3339, seconds). Always written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    pub max_age_secs: u64,
    /// Its age; omitted when the time lies in the future.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_secs: Option<u64>,
}

/// The parts of a `notify` step's output read back: the team told and the exact text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NotifyOutput {
    pub team: Option<String>,
    pub text: Option<String>,
}

/// The parts of a `comms_draft` step's output read back: the draft, its template and text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CommsDraftOutput {
    pub draft: Option<String>,
    pub template: Option<String>,
    pub text: Option<String>,
}

/// The parts of a `db_verify` or `db_copy` step's output read back: whether it measured the
/// data-loss window (a real database answered) and the window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct DbWindowOutput {
    pub measured: bool,
    pub data_loss_secs: Option<u64>,
}

/// The parts of a `route53_upsert` step's output read back: the side it pointed DNS at
/// (`standby` or `primary`, written since parity) and, for older logs, the record values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Route53UpsertOutput {
    pub to: Option<String>,
    pub records: Option<Vec<RecordValues>>,
}

/// One record a `route53_upsert` wrote: its values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RecordValues {
    pub values: Vec<String>,
}

/// The parts of an `llm_switch` step's output read back: where it switched and, on AWS,
/// the services it moved from one task definition to another.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LlmSwitchOutput {
    pub platform: Option<String>,
    pub services: Vec<ServiceMoved>,
}

/// One service an `llm_switch` moved on AWS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ServiceMoved {
    pub service: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}
