//! What the post-mortem says, derived from the incident's events only: [`Summary`] and
//! [`summarize`], which gathers the incident's view, its runs, its communications and a drill's
//! detection times.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::communications::communications;
use super::detection::confirmed_alert;
use super::runs::run_summary;
use super::{Communication, Detection, Note, RunSummary, Signal, drill_detections};
use crate::domain::event::Event;
use crate::domain::{IncidentId, Workstream};
use crate::events::EventKind;
use crate::runbook::state;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub incident: IncidentId,
    pub title: String,
    pub drill: bool,
    /// `sev1`, `sev2` or `sev3`, as declared.
    pub severity: crate::incident::Severity,
    pub commander: Option<String>,
    /// Named at the declaration, plus those of the runs started for it.
    pub workstreams: Vec<Workstream>,
    pub declared_at: Option<DateTime<Utc>>,
    pub declared_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    /// Providers whose feeds or alerts are part of the incident.
    pub providers: Vec<String>,
    /// Earliest `feed.degraded`, `feed.outage` or `alert.posted`.
    pub first_signal: Option<Signal>,
    pub alert_at: Option<DateTime<Utc>>,
    /// First `alert.*` with `confirmed = true`.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Last `alert.recovered`: the providers were healthy again.
    pub providers_recovered_at: Option<DateTime<Utc>>,
    /// For a drill, each simulated outage and its detection time.
    pub simulated_outages: Vec<Detection>,
    pub runs: Vec<RunSummary>,
    pub notes: Vec<Note>,
    /// Communications actually delivered (`notify.delivered`, `comms.sent`), one per text and
    /// recipient, with every route it went by.
    pub sent: Vec<Communication>,
    /// Drafts (`comms.drafted`, `comms.edited`, `comms.approved`), one per draft and text.
    pub drafts: Vec<Communication>,
}

impl Summary {
    /// Where T+ offsets count from: the first signal, else the declaration, else `fallback`.
    pub fn origin(&self, fallback: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        self.first_signal
            .as_ref()
            .map(|s| s.at)
            .or(self.declared_at)
            .or(fallback)
    }
}

/// Derives the summary from [`crate::incident::incident_events`]' output; the incident's own state (title,
/// declaration, signal, notes) is [`crate::incident::view`]'s, shared with the status views.
pub fn summarize(events: &[Event], incident: &IncidentId) -> Summary {
    let view = crate::incident::view(events, incident);
    let first_signal = view.first_signal.clone();
    let providers: Vec<String> = view.providers.iter().cloned().collect();
    let alert_at = events
        .iter()
        .find(|e| e.is(EventKind::AlertPosted))
        .map(|e| e.at);
    let confirmed_at = events
        .iter()
        .find(|e| confirmed_alert(e).is_some())
        .map(|e| e.at);
    let providers_recovered_at = events
        .iter()
        .rfind(|e| e.is(EventKind::AlertRecovered))
        .map(|e| e.at);
    let origin = first_signal.as_ref().map(|s| s.at).or(view.declared_at);

    let runs = state::fold(events)
        .into_iter()
        .map(|run| run_summary(events, &run, origin, view.drill))
        .collect::<Vec<_>>();

    let notes = view.notes;

    let (sent, drafts) = communications(events);

    Summary {
        incident: incident.clone(),
        title: view.title,
        drill: view.drill,
        severity: view.severity,
        commander: view.commander,
        workstreams: view.workstreams.into_iter().collect(),
        declared_at: view.declared_at,
        declared_by: view.declared_by,
        resolved_at: view.resolved_at,
        resolved_by: view.resolved_by,
        providers,
        first_signal,
        alert_at,
        confirmed_at,
        providers_recovered_at,
        simulated_outages: if view.drill {
            drill_detections(events)
        } else {
            Vec::new()
        },
        runs,
        notes,
        sent,
        drafts,
    }
}
