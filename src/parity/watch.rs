//! What the scheduler's parity check decides, pure: when the next check is due (the last
//! `parity.checked` or `parity.unreadable` plus `[schedule] parity_every`, so a restart does not
//! check again), which drift is new since the last check that was recorded (only new drift
//! is posted in the incident channel), and whether an unreadable side is news.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::event::Event;
use crate::events::{EventKind, ParityChecked, ParityUnreadable};

// The check records a comparison (`parity.checked`, with its drift keys), Heroku unreadable
// (`parity.unreadable`), and an alert that could not be posted (`parity.alert_failed`, which
// counts for nothing: the next check alerts again).

/// When the next check is due: `every` after the last one recorded, or now.
pub fn next_due(events: &[Event], every: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
    events
        .iter()
        .rev()
        .find(|e| e.is(EventKind::ParityChecked) || e.is(EventKind::ParityUnreadable))
        .and_then(|e| chrono::Duration::from_std(every).ok().map(|d| e.at + d))
        .unwrap_or(now)
}

/// Whether the last recorded check already found `side` (`heroku` or `aws`) unreadable: then it
/// was posted when it became so, and is not posted again until a check reads both sides (or
/// the other side fails). Checks recorded before the side was written blamed Heroku.
pub fn already_unreadable(events: &[Event], side: &str) -> bool {
    events
        .iter()
        .rev()
        .find(|e| e.is(EventKind::ParityChecked) || e.is(EventKind::ParityUnreadable))
        .and_then(Event::data_as::<ParityUnreadable>)
        .is_some_and(|u| u.side.as_deref().unwrap_or("heroku") == side)
}

/// The drift keys of the last recorded comparison; `None` before the first one.
pub fn last_drift(events: &[Event]) -> Option<BTreeSet<String>> {
    let last = events
        .iter()
        .rev()
        .find(|e| e.is(EventKind::ParityChecked))?;
    // A comparison whose drift does not read counts as one without drift, as before.
    Some(
        last.data_as::<ParityChecked>()
            .map(|checked| checked.drift.into_iter().collect())
            .unwrap_or_default(),
    )
}

/// The keys of `current` not in the last recorded comparison (all of them before the first).
pub fn new_drift(current: &[String], last: Option<&BTreeSet<String>>) -> Vec<String> {
    current
        .iter()
        .filter(|k| last.is_none_or(|last| !last.contains(*k)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::Actor;
    use crate::domain::event::{GENESIS, NewEvent};

    fn event(kind: &str, at: DateTime<Utc>, data: serde_json::Value) -> Event {
        Event::seal(NewEvent::new(Actor::Scheduler, kind, data), 1, at, GENESIS)
    }

    #[test]
    fn only_drift_not_seen_last_time_is_new() {
        let now = Utc::now();
        let week = Duration::from_secs(7 * 86_400);
        assert_eq!(next_due(&[], week, now), now);
        let log = vec![
            event("parity.checked", now, json!({ "drift": ["config_var:A"] })),
            event(
                "parity.alert_failed",
                now,
                json!({ "drift": ["config_var:A", "code:x"] }),
            ),
        ];
        assert_eq!(
            next_due(&log, week, now),
            log[0].at + chrono::Duration::days(7)
        );
        let last = last_drift(&log).unwrap();
        let current = vec!["code:x".to_owned(), "config_var:A".to_owned()];
        assert_eq!(new_drift(&current, Some(&last)), ["code:x"]);
        assert_eq!(new_drift(&current, None), current);
        assert!(new_drift(&["config_var:A".to_owned()], Some(&last)).is_empty());
        // Drift that went away and came back is new again.
        let fixed = vec![event("parity.checked", now, json!({ "drift": [] }))];
        let last = last_drift(&fixed).unwrap();
        assert_eq!(
            new_drift(&["config_var:A".to_owned()], Some(&last)),
            ["config_var:A"]
        );
    }

    #[test]
    fn an_unreadable_side_is_posted_only_when_it_becomes_so() {
        let now = Utc::now();
        assert!(!already_unreadable(&[], "heroku"));
        let mut log = vec![event("parity.checked", now, json!({ "drift": [] }))];
        assert!(!already_unreadable(&log, "heroku"));
        log.push(event(
            "parity.unreadable",
            now,
            json!({ "side": "heroku", "error": "401" }),
        ));
        log.push(event("parity.alert_failed", now, json!({})));
        assert!(already_unreadable(&log, "heroku"));
        assert!(!already_unreadable(&log, "aws"), "the other side is news");
        // Written before the side was: Heroku's.
        let old = vec![event("parity.unreadable", now, json!({ "error": "503" }))];
        assert!(already_unreadable(&old, "heroku"));
    }
}
