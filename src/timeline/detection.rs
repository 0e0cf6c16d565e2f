//! A drill's detection time: from each simulated outage to the provider's first confirmed alert.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::event::Event;
use crate::events::{DrillOutageSimulated, EventKind};

/// A drill's simulated outage of one provider and how long detection took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    pub provider: String,
    /// The `drill.outage_simulated` event: when the stand-in feeds flipped to an outage.
    pub outage_at: DateTime<Utc>,
    /// The provider's first confirmed alert (`alert.*` with `confirmed = true`) after it.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// `confirmed_at − outage_at`: the drill's detection time (Lifeboat's pipeline, at the
    /// drill's own polls).
    pub detection_ms: Option<i64>,
    /// The detection bound under the configured intervals, as the drill logged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detection_bound: Option<String>,
}

/// Per `drill.outage_simulated` event, the time to the provider's first confirmed alert after
/// it. The drill prints these figures and the post-mortem shows them: both read the log.
pub fn drill_detections(events: &[Event]) -> Vec<Detection> {
    events
        .iter()
        .filter_map(|outage| {
            let DrillOutageSimulated {
                provider,
                detection_bound,
            } = outage.data_as::<DrillOutageSimulated>()?;
            if provider.is_empty() {
                return None;
            }
            let confirmed_at = events
                .iter()
                .find(|c| c.seq > outage.seq && confirmed_alert(c).is_some_and(|p| p == provider))
                .map(|c| c.at);
            Some(Detection {
                provider,
                outage_at: outage.at,
                confirmed_at,
                detection_ms: confirmed_at.map(|c| (c - outage.at).num_milliseconds()),
                detection_bound,
            })
        })
        .collect()
}

/// The provider of a confirmed alert's event (`alert.*` with `confirmed = true`).
pub(super) fn confirmed_alert(e: &Event) -> Option<String> {
    if !matches!(
        e.event_kind(),
        Some(EventKind::AlertPosted | EventKind::AlertUpdated | EventKind::AlertRecovered)
    ) {
        return None;
    }
    let payload = e.payload().ok()?;
    let alert = payload.alert().filter(|a| a.confirmed)?;
    Some(alert.provider.clone())
}
