//! The JSON export: the summary and the incident's events exactly as stored.

use serde::Serialize;

use super::Summary;
use crate::domain::event::Event;

/// `{"summary": …, "events": [the envelopes exactly as stored]}`.
pub fn json(summary: &Summary, events: &[Event]) -> String {
    #[derive(Serialize)]
    struct Export<'a> {
        summary: &'a Summary,
        events: &'a [Event],
    }
    serde_json::to_string_pretty(&Export { summary, events }).unwrap_or_default()
}
