//! Upkeep, by the scheduler and `/dr reviewed`: plan reviews, the drill and review reminders,
//! and the RPO watch over the latest backup.

use serde::{Deserialize, Serialize};

use super::{Delivery, EventKind};

/// `plan.reviewed` (`/dr reviewed`): resets the review reminder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanReviewed {
    pub note: Option<String>,
}

/// `reminder.posted`: a reminder was delivered for its period (only this counts as done).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReminderPosted {
    /// `drill` or `review`.
    pub reminder: String,
    /// The last drill or review it counts from (RFC 3339, nanoseconds); `null` when none.
    pub basis_at: Option<String>,
    /// The protocol whose last good drill is the oldest (drill reminders); `null` otherwise.
    pub protocol: Option<String>,
    /// Which due period: 1 for the first, ...; 0 with no basis.
    pub period: u64,
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub delivery: Option<Delivery>,
    /// The people a `training` reminder named (their user ids, else names); omitted by the
    /// other reminders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub people: Option<Vec<String>>,
}

/// `reminder.failed`: it could not be posted (retried on the next pass).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReminderFailed {
    pub reminder: String,
    pub basis_at: Option<String>,
    pub protocol: Option<String>,
    pub period: u64,
    pub error: String,
    /// As in `reminder.posted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub people: Option<Vec<String>>,
}

/// The age of the latest backup, as the watch's backup check read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupAge {
    pub age_secs: u64,
    /// `null` when the check gave no time.
    pub completed_at: Option<String>,
}

/// `rpo.breached`, `rpo.recovered`, `rpo.readable`: the watch's state changed with a backup
/// age read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RpoMeasured {
    /// Always written.
    #[serde(flatten)]
    pub backup: Option<BackupAge>,
    pub rpo_secs: u64,
    /// The runbook and step of the backup check.
    pub runbook: String,
    pub step: String,
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub delivery: Option<Delivery>,
}

/// `rpo.unreadable`: the backup's age cannot be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RpoUnreadable {
    pub error: String,
    pub rpo_secs: u64,
    pub runbook: String,
    pub step: String,
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub delivery: Option<Delivery>,
}

/// `rpo.alert_failed`: the change `effect` could not be posted; not a state change, so the
/// next check decides again. `error` is the chat's (it replaces the reading's own).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RpoAlertFailed {
    /// The age read, omitted when it could not be read.
    #[serde(flatten)]
    pub backup: Option<BackupAge>,
    pub error: String,
    /// The `rpo.*` kind it would have recorded. Always written.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub effect: Option<EventKind>,
    pub rpo_secs: u64,
    pub runbook: String,
    pub step: String,
}
