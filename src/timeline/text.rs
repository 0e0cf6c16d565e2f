//! How the exports write times, spans and free text: UTC to the millisecond, `T+` offsets,
//! spans for people, one-line text.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::duration::format_elapsed;

/// A time as the documents show it: UTC to the millisecond.
pub(super) fn utc_ms(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

pub(super) fn utc_ms_or_dash(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "—".to_owned(), utc_ms)
}

/// `T+HH:MM:SS` (with `.mmm` when there are milliseconds), `T-…` before the origin.
pub fn t_offset(at: DateTime<Utc>, origin: DateTime<Utc>) -> String {
    let ms = (at - origin).num_milliseconds();
    let sign = if ms < 0 { '-' } else { '+' };
    let ms = ms.unsigned_abs();
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if frac == 0 {
        format!("T{sign}{h:02}:{m:02}:{s:02}")
    } else {
        format!("T{sign}{h:02}:{m:02}:{s:02}.{frac:03}")
    }
}

/// A signed span for people: `3m 12s`, `-850ms`.
pub(super) fn span(d: chrono::Duration) -> String {
    let ms = d.num_milliseconds();
    let text = format_elapsed(Duration::from_millis(ms.unsigned_abs()));
    if ms < 0 { format!("-{text}") } else { text }
}

pub(super) fn ms_text(ms: Option<i64>) -> String {
    ms.map_or_else(
        || "—".to_owned(),
        |ms| span(chrono::Duration::milliseconds(ms)),
    )
}

pub(super) fn dur_opt(d: Option<Duration>) -> String {
    d.map_or_else(|| "—".to_owned(), format_elapsed)
}

pub(super) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `: text`, or nothing when `text` is empty.
pub(super) fn suffix(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// A value an event lacks reads as `?`.
pub(super) fn or_unknown<T: AsRef<str>>(value: Option<T>) -> String {
    value.map_or_else(|| "?".to_owned(), |v| v.as_ref().to_owned())
}
