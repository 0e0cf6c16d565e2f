//! The catalogue against a log written by the code before it (`tests/fixtures/events/`, see its
//! README): every event decodes into its payload and encodes back to the very bytes stored, and
//! every kind the catalogue names is there. Then: older and unknown events still decode.

use std::collections::BTreeSet;

use serde_json::json;

use super::*;
use crate::domain::event::{Event, GENESIS};

const FIXTURE: &str = include_str!("../../tests/fixtures/events/log.jsonl");

/// The fixture's events with their stored lines.
fn fixture() -> Vec<(&'static str, Event)> {
    FIXTURE
        .lines()
        .map(|line| {
            let event: Event = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("not a stored event ({err}): {line}"));
            (line, event)
        })
        .collect()
}

#[test]
fn every_stored_event_decodes_and_encodes_back_to_its_bytes() {
    for (line, event) in fixture() {
        let at = format!("{} (seq {})", event.kind, event.seq);
        // The line is what the store kept: canonical and sealed.
        assert_eq!(event.to_bytes(), line.as_bytes(), "{at}: not stored bytes");
        assert_eq!(event.compute_hash(), event.hash, "{at}: not sealed");

        let payload = event.payload().unwrap_or_else(|err| panic!("{at}: {err}"));
        assert_eq!(payload.kind(), event.event_kind(), "{at}");
        assert!(payload.kind().is_some(), "{at}: decoded as unknown");

        // Written again from the payload, as a writer does: the same kind and data, so the
        // same bytes and the same hash.
        let new = NewEvent::of(event.actor.clone(), payload);
        assert_eq!(new.kind, event.kind, "{at}");
        assert_eq!(new.data, event.data, "{at}");
        let rewritten = Event {
            data: new.data,
            ..event.clone()
        };
        assert_eq!(
            String::from_utf8_lossy(&rewritten.to_bytes()),
            line,
            "{at}: re-encoded differently"
        );
        assert_eq!(rewritten.compute_hash(), event.hash, "{at}");
    }
}

#[test]
fn the_fixture_holds_every_kind_the_catalogue_names() {
    let found: BTreeSet<String> = fixture().into_iter().map(|(_, e)| e.kind).collect();
    let missing: Vec<&str> = EventKind::ALL
        .iter()
        .map(|k| k.as_str())
        .filter(|k| !found.contains(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "kinds Lifeboat writes with no event in tests/fixtures/events/log.jsonl: {missing:?} \
         (add one written by the code, as its README says)"
    );
}

#[test]
fn every_kind_has_one_distinct_name_that_parses_back() {
    let names: BTreeSet<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(names.len(), EventKind::ALL.len());
    for kind in EventKind::ALL {
        assert_eq!(EventKind::parse(kind.as_str()), Some(*kind));
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
    }
    assert_eq!(EventKind::parse("feed.nonsense"), None);
}

fn sealed(kind: &str, data: serde_json::Value) -> Event {
    Event::seal(
        NewEvent::new(Actor::Bot, kind, data),
        1,
        chrono::Utc::now(),
        GENESIS,
    )
}

#[test]
fn a_kind_this_version_does_not_know_decodes_as_unknown_and_keeps_its_data() {
    let data = json!({ "anything": [1, 2], "from": "a newer Lifeboat" });
    let event = sealed("db.restored", data.clone());
    let payload = event.payload().unwrap();
    assert_eq!(
        payload,
        Payload::Unknown {
            kind: "db.restored".into(),
            data: data.clone()
        }
    );
    assert_eq!(payload.kind(), None);
    assert_eq!(payload.to_data(), data);
    assert_eq!(NewEvent::of(Actor::Bot, payload).kind, "db.restored");
}

#[test]
fn events_of_earlier_versions_decode_with_defaults() {
    // The first declarations recorded only a title.
    let declared = sealed("incident.declared", json!({ "title": "Heroku down" }));
    let Ok(Payload::IncidentDeclared(declared)) = declared.payload() else {
        panic!("{declared:?}");
    };
    assert_eq!(declared.title, "Heroku down");
    assert_eq!(declared.severity, crate::domain::Severity::Sev2);
    assert_eq!(declared.commander, None);
    assert!(declared.workstreams.is_empty());

    // Recoveries before drills measured milliseconds had only seconds; they encode as stored.
    let old = json!({ "alert_id": "heroku-1", "provider": "heroku", "level": "operational",
        "confirmed": true, "sources": [["heroku-status", "operational"]], "incidents": [],
        "message": null, "duration_secs": 897 });
    let recovered = sealed("alert.recovered", old.clone()).payload().unwrap();
    let Payload::AlertRecovered(r) = &recovered else {
        panic!("{recovered:?}");
    };
    assert_eq!((r.duration_secs, r.duration_ms), (Some(897), None));
    assert_eq!(recovered.to_data(), old);
}

#[test]
fn values_of_another_shape_read_as_defaults_where_the_readers_ignored_them() {
    let event = sealed(
        "run.started",
        json!({ "runbook": "r", "workstream": "mainframe", "params": { "n": 1 }, "steps": [1] }),
    );
    let started = event.data_as::<RunStarted>().unwrap();
    assert_eq!(started.runbook, "r");
    assert_eq!(started.workstream, None);
    assert!(started.params.is_empty() && started.steps.is_empty());

    let step = sealed("step.started", json!({ "step": "s", "kind": "teleport" }));
    let started = step.data_as::<StepStarted>().unwrap();
    assert_eq!((started.kind, started.attempt), (None, 1));
}

#[test]
fn a_known_kind_with_data_it_cannot_hold_is_a_decode_error() {
    let event = sealed("note.added", json!({ "text": ["not", "text"] }));
    let err = event.payload().unwrap_err();
    assert_eq!(err.kind, EventKind::NoteAdded);
    assert_eq!(event.data_as::<NoteAdded>(), None);
}

#[test]
fn data_as_reads_only_its_own_kind() {
    let event = sealed(
        "note.added",
        json!({ "text": "TTL too high", "lesson": true }),
    );
    assert_eq!(
        event.data_as::<NoteAdded>(),
        Some(NoteAdded {
            text: "TTL too high".into(),
            lesson: true
        })
    );
    assert_eq!(event.data_as::<CommandRefused>(), None);
    assert!(event.is(EventKind::NoteAdded));
}
