//! Post-mortem export: an incident's events → a derived [`Summary`] → Markdown, JSON, CSV or a
//! self-contained HTML page with an SVG chart. Pure rendering: no I/O, no environment, no clock;
//! everything printed comes from the events passed in. Which events belong to an incident is
//! `crate::incident::incident_events`.
//!
//! The rooms: `summary.rs` ([`Summary`], [`summarize`]) gathers `runs.rs` (what each run did),
//! `communications.rs` (what was sent and drafted) and `detection.rs` (a drill's detection
//! times); `objectives.rs` measures them against the DRP; `describe.rs` writes one line per
//! event; `document.rs` lays out the post-mortem's sections once, for `markdown.rs` and
//! `html.rs` (with `chart.rs`, its SVG); `json.rs` and `csv.rs` write the events as they are;
//! `text.rs` is how times, spans and free text read in all of them.

mod chart;
mod communications;
mod csv;
mod describe;
mod detection;
mod document;
mod html;
mod json;
mod markdown;
mod objectives;
mod runs;
mod summary;
mod text;

use std::str::FromStr;

use crate::config::Objectives;
use crate::domain::IncidentId;
use crate::domain::event::Event;
use crate::events::EventKind;

pub use crate::incident::{Note, Signal};
pub use communications::Communication;
pub use csv::csv;
pub use describe::describe;
pub use detection::{Detection, drill_detections};
pub use html::html;
pub use json::json;
pub use markdown::markdown;
pub use objectives::{ObjectiveOutcome, ObjectiveRow, objective_rows};
pub use runs::{ApprovalSummary, RunSummary, StepSummary};
pub use summary::{Summary, summarize};
pub use text::t_offset;

/// The export formats of `lifeboat export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Json,
    Csv,
    Html,
}

impl Format {
    /// The usual file extension, for default output names.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Html => "html",
        }
    }
}

impl FromStr for Format {
    type Err = TimelineError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "md" | "markdown" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "html" => Ok(Format::Html),
            other => Err(TimelineError::UnknownFormat(other.to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimelineError {
    #[error("no events for incident {0}: check the id and the data directory")]
    NoEvents(IncidentId),
    #[error("unknown export format `{0}`: use md, json, csv or html")]
    UnknownFormat(String),
}

/// Selects the incident's events from the whole log and renders them in `format`.
pub fn render(
    all_events: &[Event],
    incident: &IncidentId,
    format: Format,
    objectives: &Objectives,
) -> Result<String, TimelineError> {
    let mut events = crate::incident::incident_events(all_events, incident);
    // Clients' addresses in older logs never reach an export.
    for e in events.iter_mut().filter(|e| e.is(EventKind::CommsSent)) {
        crate::events::comms::scrub_recipients(&mut e.data);
    }
    if !events.iter().any(|e| e.incident.as_ref() == Some(incident)) {
        return Err(TimelineError::NoEvents(incident.clone()));
    }
    let summary = summarize(&events, incident);
    Ok(match format {
        Format::Markdown => markdown(&summary, &events, objectives),
        Format::Json => json(&summary, &events),
        Format::Csv => csv(&events),
        Format::Html => html(&summary, &events, objectives),
    })
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests;
