//! What a game day's log says about who took part.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::*;
use crate::domain::event::{GENESIS, NewEvent};
use crate::domain::{IncidentId, RunId};

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn user(id: &str, name: &str) -> Actor {
    Actor::User {
        id: id.into(),
        name: name.into(),
    }
}

/// `events` sealed one after the other, as a log holds them, all about incident INC-7.
fn log(events: Vec<(Actor, &str, serde_json::Value)>) -> Vec<Event> {
    let mut prev = GENESIS.to_owned();
    events
        .into_iter()
        .enumerate()
        .map(|(i, (actor, kind, data))| {
            let new = NewEvent::new(actor, kind, data)
                .incident(IncidentId("INC-7".into()))
                .run(RunId("run-1".into()));
            let event = Event::seal(new, i as u64 + 1, at(), &prev);
            prev = event.hash.clone();
            event
        })
        .collect()
}

fn person(id: &str, name: &str, role: &str) -> serde_json::Value {
    json!({ "id": id, "name": name, "roles": [role] })
}

fn request(requester: serde_json::Value) -> serde_json::Value {
    json!({ "request": "REQ-1", "runbook": "failover-hosting", "detail": {
        "id": "REQ-1", "runbook": "failover-hosting", "params": {}, "plan_hash": "h",
        "requester": requester, "requested_at": "2026-12-05T10:00:00Z",
        "expires_at": "2026-12-05T10:30:00Z", "required": 1, "requester_may_approve": false
    }})
}

fn roles(records: &[TrainingRecorded]) -> Vec<(Option<&str>, &str, TrainingRole)> {
    records
        .iter()
        .map(|r| (r.person_id.as_deref(), r.person_name.as_str(), r.role))
        .collect()
}

#[test]
fn a_game_day_records_each_person_once_per_role_they_played() {
    use TrainingRole::*;
    let events = log(vec![
        (
            Actor::Scheduler,
            "drill.started",
            json!({ "providers": ["heroku"], "mode": "gameday" }),
        ),
        (Actor::Scheduler, "drill.marked", json!({ "drill": true })),
        (
            user("u-ann", "ann"),
            "incident.declared",
            json!({ "title": "Heroku down", "commander": "ann" }),
        ),
        (
            user("u-ann", "ann"),
            "run.requested",
            request(person("u-ann", "ann", "responder")),
        ),
        (
            user("u-ben", "ben"),
            "approval.refused",
            json!({ "request": "REQ-1", "reason": "own" }),
        ),
        (
            user("u-ben", "ben"),
            "run.approval_counted",
            json!({ "request": "REQ-1", "by": person("u-ben", "ben", "approver") }),
        ),
        (
            user("u-ben", "ben"),
            "run.approved",
            json!({ "request": "REQ-1", "run": "run-1", "wait_secs": 60 }),
        ),
        (
            Actor::Bot,
            "step.succeeded",
            json!({ "step": "go", "kind": "confirm", "summary": "confirmed by ann",
            "output": { "question": "Go?", "answer": "yes", "by": "ann" } }),
        ),
        (
            Actor::Bot,
            "step.succeeded",
            json!({ "step": "again", "kind": "confirm", "summary": "confirmed by ann",
            "output": { "question": "Sure?", "answer": "yes", "by": "ann" } }),
        ),
        (
            Actor::Bot,
            "step.succeeded",
            json!({ "step": "dns", "kind": "route53_upsert", "summary": "ok",
            "output": { "by": "zed" } }),
        ),
        (
            user("u-cat", "cat"),
            "comms.edited",
            json!({ "draft": "D-1", "text": "new", "previous": "old" }),
        ),
        (
            user("u-cat", "cat"),
            "comms.approved",
            json!({ "draft": "D-1", "version": 2, "text": "new" }),
        ),
    ]);
    let records = records_of(&events);
    assert_eq!(
        roles(&records),
        [
            (Some("u-ann"), "ann", Responder),
            (Some("u-ann"), "ann", Commander),
            (Some("u-ben"), "ben", Approver),
            (Some("u-cat"), "cat", Communicator),
        ],
        "requests and confirm answers add nothing ann has not already; a refused approval and \
         a step that is not a confirm add no one"
    );
    assert!(
        records
            .iter()
            .all(|r| r.incident.as_deref() == Some("INC-7"))
    );
    assert!(records.iter().all(|r| r.scenario == "heroku-outage"));
}

#[test]
fn a_named_commander_and_a_confirm_answerer_are_recorded_with_the_ids_the_log_knows() {
    use TrainingRole::*;
    let events = log(vec![
        (
            Actor::Scheduler,
            "drill.requested",
            json!({ "scenario": "both", "log": "drill-1", "mode": "gameday" }),
        ),
        (
            user("u-ann", "ann"),
            "incident.declared",
            json!({ "title": "down", "commander": "dan" }),
        ),
        (
            user("u-eve", "eve"),
            "run.requested",
            request(person("u-eve", "eve", "responder")),
        ),
        (
            Actor::Bot,
            "step.failed",
            json!({ "step": "go", "kind": "confirm", "error": "rejected by fay",
            "output": { "question": "Go?", "answer": "no", "by": "fay" } }),
        ),
        (
            user("u-dan", "dan"),
            "note.added",
            json!({ "text": "on it" }),
        ),
        (
            user("u-gus", "gus"),
            "run.break_glass_acknowledged",
            json!({ "request": "REQ-1", "run": "run-1",
            "by": person("u-gus", "gus", "approver") }),
        ),
    ]);
    let records = records_of(&events);
    assert_eq!(
        roles(&records),
        [
            (Some("u-ann"), "ann", Responder),
            (Some("u-dan"), "dan", Commander),
            (Some("u-eve"), "eve", Responder),
            (None, "fay", Responder),
            (Some("u-gus"), "gus", Approver),
        ],
        "dan's id comes from his note; fay is known by name only"
    );
    assert!(records.iter().all(|r| r.scenario == "both"));
    assert_eq!(records[0].incident.as_deref(), Some("INC-7"));
}

#[test]
fn the_simulated_people_of_an_automatic_drill_never_count() {
    let alice = person("drill-alice", "alice (drill)", "responder");
    let bob = person("drill-bob", "bob (drill)", "approver");
    let events = log(vec![
        (
            Actor::Scheduler,
            "drill.started",
            json!({ "providers": ["openai"] }),
        ),
        (
            user("drill-commander", "commander (drill)"),
            "incident.declared",
            json!({ "title": "down", "commander": "commander (drill)" }),
        ),
        (
            user("drill-alice", "alice (drill)"),
            "run.requested",
            request(alice),
        ),
        (
            user("drill-bob", "bob (drill)"),
            "run.approval_counted",
            json!({ "request": "REQ-1", "by": bob }),
        ),
        (
            Actor::Bot,
            "step.succeeded",
            json!({ "step": "go", "kind": "confirm",
            "output": { "answer": "yes", "by": "commander (drill)" } }),
        ),
        (
            user("drill-carol", "carol (drill)"),
            "comms.approved",
            json!({ "draft": "D-1", "version": 1, "text": "x" }),
        ),
    ]);
    assert_eq!(records_of(&events), []);
}

#[test]
fn a_log_without_drill_events_has_an_unknown_scenario() {
    let events = log(vec![(
        user("u-ann", "ann"),
        "incident.declared",
        json!({ "title": "down" }),
    )]);
    let records = records_of(&events);
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0].scenario, "unknown");
    assert_eq!(records[1].role, TrainingRole::Commander);
    assert_eq!(records[1].person_id.as_deref(), Some("u-ann"));
}

#[test]
fn a_record_is_an_event_of_its_own_kind() {
    let record = TrainingRecorded {
        incident: Some("INC-7".into()),
        scenario: "heroku-outage".into(),
        person_id: Some("u-ann".into()),
        person_name: "ann".into(),
        role: TrainingRole::Approver,
    };
    let new = NewEvent::of(Actor::Scheduler, record.clone());
    assert_eq!(new.kind, "training.recorded");
    assert_eq!(
        new.data,
        json!({ "incident": "INC-7", "scenario": "heroku-outage", "person_id": "u-ann",
                "person_name": "ann", "role": "approver" })
    );
    let event = Event::seal(new, 1, at(), GENESIS);
    assert_eq!(event.data_as::<TrainingRecorded>(), Some(record));
}
