//! What people and the scheduler record about an incident: its declaration, resolution and
//! review, its thread, notes, the RTO clock's checkpoints, and commands refused.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::Delivery;
use crate::domain::{ChannelId, Severity, Workstream};

/// `incident.declared` (the event carries the incident's id).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentDeclared {
    /// Never empty as written (`Outage` when none was given); empty only when the event
    /// lacks it, and readers then name the incident by its id.
    pub title: String,
    /// The first declarations recorded only a title: they read as the default, `sev2`.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub severity: Severity,
    /// Always written (the declarer when none was named); `None` in the first declarations.
    pub commander: Option<String>,
    /// The workstreams of the providers alerting at the declaration.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub workstreams: BTreeSet<Workstream>,
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub providers: BTreeSet<String>,
    /// The alert it was declared from (its button), `null` otherwise.
    pub alert: Option<String>,
    /// One provider the declaration names. Today's declarations name `providers` instead and
    /// never write this; the comms facts still read it where a declaration has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// `incident.resolved`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentResolved {}

/// `incident.reviewed`: the post-incident review took place.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentReviewed {}

/// `incident.thread_opened`: the incident's thread, where its messages go from now on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentThreadOpened {
    pub thread: ChannelId,
    /// The channel it was opened in.
    pub channel: ChannelId,
    /// The message it was started from (the declaration or the alert), `null` when none.
    pub from: Option<String>,
}

/// `note.added` (`/incident note`); `lesson` marks lessons learned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NoteAdded {
    pub text: String,
    pub lesson: bool,
}

/// `clock.checkpoint`: one RTO checkpoint (a share of the budget) was posted; a message that
/// covers several checkpoints due at once records one event per checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClockCheckpoint {
    /// Always written; `None` only for an event that lacks it.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub workstream: Option<Workstream>,
    /// The checkpoint, in percent of the budget.
    pub percent: u8,
    /// The highest checkpoint the message was posted as.
    pub posted_as: u8,
    pub elapsed_secs: u64,
    pub budget_secs: u64,
    /// Whether the remaining steps fit in the budget; `null` without a forecast.
    pub forecast_fits: Option<bool>,
    pub text: String,
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub delivery: Option<Delivery>,
}

/// `clock.checkpoint_failed`: the checkpoints `percents` could not be posted (retried).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClockCheckpointFailed {
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub workstream: Option<Workstream>,
    pub percents: Vec<u8>,
    pub posted_as: u8,
    pub error: String,
}

/// `command.refused`: someone issued a command without the role (or the place) it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandRefused {
    pub command: String,
    /// The role it needs, or why it was refused (e.g. the incident channel).
    pub needs: String,
}
