//! The CSV export: one row per event, RFC 4180.

use chrono::SecondsFormat;

use crate::domain::event::Event;

pub(super) fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// One row per event, RFC 4180 (CRLF line ends; fields with `,`, `"`, CR or LF quoted).
pub fn csv(events: &[Event]) -> String {
    let mut out = String::from("seq,at,actor,incident,run,kind,data\r\n");
    for e in events {
        let fields = [
            e.seq.to_string(),
            e.at.to_rfc3339_opts(SecondsFormat::Millis, true),
            e.actor.to_string(),
            e.incident
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            e.run.as_ref().map(ToString::to_string).unwrap_or_default(),
            e.kind.clone(),
            serde_json::to_string(&e.data).unwrap_or_default(),
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}
