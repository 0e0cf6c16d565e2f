//! What the feed watcher records: raw observations, settled level changes, unreadable and
//! flapping feeds, vendor incidents, and the provider alerts posted in the incident channel.

use serde::{Deserialize, Serialize};

use crate::domain::{HealthLevel, MessageRef};
use crate::feeds::VendorIncident;

/// `feed.observed`: a feed's raw level changed (before any debounce).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedObserved {
    pub provider: String,
    /// The previous raw level; `null` for the feed's first observation.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub from: Option<HealthLevel>,
    /// Always written; `None` only for an event that lacks it.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub to: Option<HealthLevel>,
    pub summary: String,
    /// Why the level is `unknown`; `null` otherwise.
    pub reason: Option<String>,
}

/// `feed.degraded`, `feed.outage`, `feed.recovered`, `feed.maintenance`: a feed's level
/// settled (after `debounce` agreeing observations); the kind says which way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedLevelChanged {
    pub provider: String,
    /// The previous settled level; `null` when the feed had none yet.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub from: Option<HealthLevel>,
    /// Always written; `None` only for an event that lacks it.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub to: Option<HealthLevel>,
    pub summary: String,
}

/// `feed.unreadable`: a feed has answered nothing readable for `unreadable_after`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedUnreadable {
    pub provider: String,
    /// Since when (full precision, as chrono writes it). Always written.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub reason: String,
}

/// `feed.readable`: an unreadable feed answers again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedReadable {
    pub provider: String,
}

/// `feed.flapping`: `changes` settled changes within the window; its alerts are held.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedFlapping {
    pub provider: String,
    pub changes: usize,
    pub window_secs: i64,
}

/// `feed.settled`: a flapping feed has been still for a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedSettled {
    pub provider: String,
    /// Its settled level; `null` when it has none.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub level: Option<HealthLevel>,
}

/// `vendor.incident_opened`, `vendor.incident_updated`, `vendor.incident_resolved`: an
/// incident on the provider's status page, as the feed reported it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VendorIncidentChanged {
    pub provider: String,
    /// Always written; `None` only for an event that lacks it (or holds another shape).
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub incident: Option<VendorIncident>,
}

/// `alert.posted`, `alert.updated`: a provider's alert as it reads in the channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertState {
    /// Stable for the whole outage (`<provider>-<timestamp>`); carried by its buttons.
    pub alert_id: String,
    pub provider: String,
    /// Always written; `None` only for an event that lacks it.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub level: Option<HealthLevel>,
    /// Two of the provider's feeds agree.
    pub confirmed: bool,
    /// Each feed of the provider and its settled level (`[name, level]` pairs).
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub sources: Vec<(String, HealthLevel)>,
    /// The ids of the vendor incidents open with it.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub incidents: Vec<String>,
    /// The posted alert (`alert.posted`); `null` on updates.
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub message: Option<MessageRef>,
}

/// `alert.failed`: an alert could not be posted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertFailed {
    pub provider: String,
    pub alert_id: String,
    pub error: String,
}

/// `alert.recovered`: every feed of the provider is back; the alert is closed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertRecovered {
    /// The alert as it read when it closed (`message`: the recovery notice, `null` when it
    /// could not be posted).
    #[serde(flatten)]
    pub alert: AlertState,
    /// Always written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<i64>,
    /// Written since the drills measured detection in milliseconds; older alerts lack it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
}
