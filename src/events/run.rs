//! A run's life: requested, approved (or denied, refused, expired) by the two-person rule,
//! started by the engine, paused and resumed, and how it ended.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::approval::{Person, Request};
use crate::domain::{RunId, Workstream};

/// `run.requested`: someone asked for a runbook to run; it waits for approvals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunRequested {
    pub request: String,
    pub runbook: String,
    /// The whole request, so pending requests survive a restart. Always written.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub detail: Option<Request>,
}

/// `run.approval_counted`: an approval the rules accepted (it counts towards `required`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunApprovalCounted {
    pub request: String,
    /// The approver. Always written.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub by: Option<Person>,
}

/// `approval.refused`: an approval the rules refused (own request, expired, plan changed, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApprovalRefused {
    pub request: String,
    pub reason: String,
}

/// `run.approved`: the last approval came and the run started (the event carries the run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunApproved {
    pub request: String,
    /// Always written.
    pub run: Option<RunId>,
    /// From the request to the start. Always written.
    pub wait_secs: Option<i64>,
}

/// `run.break_glass`: the requester started the run alone on a sev1 incident, after the
/// runbook's `break_glass_after` passed without approval. Recorded before the run starts;
/// `run.approved` (by the requester) follows with the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunBreakGlass {
    pub request: String,
    pub runbook: String,
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub by: Option<Person>,
    pub reason: String,
    /// From the request to the break-glass.
    pub waited_secs: i64,
}

/// `run.break_glass_acknowledged`: an approver looked at a break-glass run afterwards; until
/// then its incident cannot be reviewed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunBreakGlassAcknowledged {
    pub request: String,
    pub run: Option<RunId>,
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub by: Option<Person>,
}

/// `run.denied`: an approver denied the request (`by`), or the engine refused to start the
/// approved run (`reason`); the one not given is omitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunDenied {
    pub request: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::lenient::or_default"
    )]
    pub by: Option<Person>,
}

/// `run.request_expired`: nobody decided the request before it expired.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunRequestExpired {
    pub request: String,
    pub runbook: String,
    /// Approvals counted by then.
    pub approvals: usize,
    pub required: u32,
}

/// `run.started`: the engine started a run (the event carries the run, and the incident when
/// there is one); everything after is folded from here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunStarted {
    pub runbook: String,
    pub title: String,
    /// Always written; `None` only for an event that lacks it.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub workstream: Option<Workstream>,
    /// The runbook file's hash: a changed file pauses the run on resume.
    pub file_hash: String,
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub params: BTreeMap<String, String>,
    /// The planned steps, in order.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub steps: Vec<String>,
}

/// `run.paused`: waits for a responder (retry, skip or abort).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunPaused {
    pub step: String,
    pub reason: String,
}

/// `run.resumed`: a responder decided (`retry` or `skip`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunResumed {
    pub step: String,
    pub decision: String,
}

/// `run.cancel_requested`: the run stops after its current step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCancelRequested {}

/// `run.succeeded`: every step finished.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSucceeded {
    /// From the run's start.
    pub duration_ms: i64,
}

/// `run.failed`: a step failed with `on_failure = "abort"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunFailed {
    pub step: String,
    pub error: String,
}

/// `run.aborted`: a responder (or a cancel) stopped a paused run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunAborted {
    pub step: String,
}

/// `run.cancelled`: the run stopped between steps after a cancel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCancelled {}
