//! The phase function over hand-built logs: each phase timed from its events, who closed it,
//! the stalled phase, and the debrief built from the same reading.

use chrono::{TimeZone, Utc};

use super::*;
use crate::domain::event::NewEvent;
use crate::domain::{IncidentId, RunId};
use crate::events::*;

fn user(name: &str) -> Actor {
    Actor::User {
        id: format!("u-{name}"),
        name: name.to_owned(),
    }
}

/// Seals `events`, the n-th at `secs[n]` seconds after 10:00.
fn log(events: Vec<(u32, NewEvent)>) -> Vec<Event> {
    let mut prev = crate::domain::event::GENESIS.to_owned();
    events
        .into_iter()
        .enumerate()
        .map(|(i, (secs, e))| {
            let at = Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 0).unwrap()
                + chrono::Duration::seconds(secs.into());
            let event = Event::seal(e, i as u64 + 1, at, &prev);
            prev = event.hash.clone();
            event
        })
        .collect()
}

fn inc() -> IncidentId {
    IncidentId("INC-1".into())
}

fn run() -> RunId {
    RunId("RUN-1".into())
}

/// The game day up to the request: alert at 10s, declared by alice at 40s, requested by alice
/// at 100s.
fn until_requested() -> Vec<(u32, NewEvent)> {
    vec![
        (
            0,
            NewEvent::of(
                Actor::Scheduler,
                DrillStarted {
                    providers: vec!["heroku".into()],
                    mode: Some(DrillMode::Gameday),
                },
            ),
        ),
        (
            2,
            NewEvent::of(
                Actor::Scheduler,
                DrillOutageSimulated {
                    provider: "heroku".into(),
                    detection_bound: None,
                },
            ),
        ),
        (
            10,
            NewEvent::new(
                Actor::Feed {
                    name: "heroku-status".into(),
                },
                "alert.posted",
                serde_json::to_value(AlertState {
                    alert_id: "heroku-1".into(),
                    provider: "heroku".into(),
                    confirmed: true,
                    ..AlertState::default()
                })
                .unwrap(),
            ),
        ),
        (
            40,
            NewEvent::of(
                user("alice"),
                IncidentDeclared {
                    title: "[DRILL] Heroku".into(),
                    ..IncidentDeclared::default()
                },
            )
            .incident(inc()),
        ),
        (
            100,
            NewEvent::of(
                user("alice"),
                RunRequested {
                    request: "REQ-1".into(),
                    runbook: "failover-hosting".into(),
                    detail: None,
                },
            )
            .incident(inc()),
        ),
    ]
}

fn played_to_the_end() -> Vec<(u32, NewEvent)> {
    let mut events = until_requested();
    events.extend([
        (
            130,
            NewEvent::of(
                user("alice"),
                ApprovalRefused {
                    request: "REQ-1".into(),
                    reason: "the requester may not approve".into(),
                },
            ),
        ),
        (
            160,
            NewEvent::of(
                user("bob"),
                RunApprovalCounted {
                    request: "REQ-1".into(),
                    by: None,
                },
            ),
        ),
        (
            160,
            NewEvent::of(
                user("bob"),
                RunApproved {
                    request: "REQ-1".into(),
                    run: Some(run()),
                    wait_secs: Some(60),
                },
            )
            .incident(inc()),
        ),
        (
            161,
            NewEvent::of(Actor::Bot, RunStarted::default())
                .incident(inc())
                .run(run()),
        ),
        (
            170,
            NewEvent::of(
                Actor::Bot,
                StepSucceeded {
                    step: "confirm-scope".into(),
                    kind: Some(crate::runbook::StepKind::Confirm),
                    output: serde_json::json!({"answer": "yes", "by": "alice"}),
                    ..StepSucceeded::default()
                },
            )
            .incident(inc())
            .run(run()),
        ),
        (
            190,
            NewEvent::of(
                Actor::Bot,
                CommsDrafted {
                    draft: "DRAFT-1".into(),
                    ..CommsDrafted::default()
                },
            )
            .incident(inc()),
        ),
        (
            200,
            NewEvent::of(Actor::Bot, RunSucceeded::default())
                .incident(inc())
                .run(run()),
        ),
        (
            250,
            NewEvent::of(
                user("carol"),
                CommsApproved {
                    draft: "DRAFT-1".into(),
                    version: 1,
                    text: None,
                },
            )
            .incident(inc()),
        ),
    ]);
    events
}

fn objectives() -> crate::config::Objectives {
    crate::config::Objectives {
        hosting_rto: HumanDuration::from_secs(4 * 3600),
        llm_rto: HumanDuration::from_secs(2 * 3600),
        rpo: HumanDuration::from_secs(3600),
        data_rto: None,
        clock_start: Default::default(),
    }
}

fn secs(d: Option<Duration>) -> Option<u64> {
    d.map(|d| d.as_secs())
}

#[test]
fn every_phase_is_timed_from_the_events_that_open_and_close_it() {
    let played = played(&log(played_to_the_end()));
    let took: Vec<Option<u64>> = played.phases.iter().map(|t| secs(t.took())).collect();
    assert_eq!(
        took,
        vec![Some(30), Some(60), Some(60), Some(39), Some(60)],
        "{played:#?}"
    );
    let by: Vec<Option<&str>> = played.phases.iter().map(|t| t.by.as_deref()).collect();
    assert_eq!(
        by,
        vec![
            Some("alice"),
            Some("alice"),
            Some("bob"),
            None,
            Some("carol")
        ]
    );
    assert_eq!(played.stalled(), None);
    assert!(played.complete());
    assert_eq!(played.incident, Some(inc()));
    assert_eq!(
        played.started,
        Some(Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 2).unwrap()),
        "the outage's flip, not the drill's start"
    );
    assert_eq!(
        played.people["alice"],
        vec![
            "declared the incident",
            "requested failover-hosting",
            "was refused approving (the requester may not approve)",
            "answered confirm-scope yes",
        ]
    );
    assert_eq!(played.people["carol"], vec!["approved the draft DRAFT-1"]);
}

#[test]
fn a_game_day_nobody_approves_stalls_at_the_approval() {
    let mut events = until_requested();
    events.push((
        7200,
        NewEvent::of(
            Actor::Scheduler,
            DrillEnded {
                reason: DrillEndReason::TimedOut,
                stalled: Some("requested → approved".into()),
                mode: Some(DrillMode::Gameday),
            },
        ),
    ));
    let played = played(&log(events));
    assert_eq!(played.stalled(), Some(Phase::Approve));
    assert!(!played.complete());
    assert_eq!(played.phase(Phase::Approve).took(), None);
    assert_eq!(played.phase(Phase::Verify).from, None);
    let text = debrief("heroku-outage", &played, &[], &objectives(), &[]);
    assert!(text.contains("debrief (timed out after 1h 59m"), "{text}");
    assert!(
        text.contains("Stalled at: requested → approved (nobody approved the run request"),
        "{text}"
    );
    assert!(
        text.contains("requested → approved      not done"),
        "{text}"
    );
    assert!(
        text.contains("run → verified            not reached"),
        "{text}"
    );
}

#[test]
fn nothing_happened_stalls_at_the_declaration_and_a_resolution_completes() {
    let played_nothing = played(&log(until_requested()[..3].to_vec()));
    assert_eq!(played_nothing.stalled(), Some(Phase::Declare));
    let mut events = until_requested();
    events.push((
        300,
        NewEvent::of(user("alice"), IncidentResolved::default()).incident(inc()),
    ));
    let resolved = played(&log(events));
    assert!(resolved.complete(), "resolved by the people");
    assert_eq!(resolved.stalled(), Some(Phase::Approve));
}

#[test]
fn the_debrief_shows_the_phase_times_the_objectives_and_who_did_what() {
    let mut events = played_to_the_end();
    events.push((
        260,
        NewEvent::of(
            Actor::Scheduler,
            DrillEnded {
                reason: DrillEndReason::Finished,
                stalled: None,
                mode: Some(DrillMode::Gameday),
            },
        ),
    ));
    let played = played(&log(events));
    let measured = [Measured {
        runbook: "failover-hosting".into(),
        status: "succeeded".into(),
        recovery: Some(Duration::from_secs(190)),
        rto: Some(Duration::from_secs(4 * 3600)),
        data_loss: None,
    }];
    let objectives = objectives();
    let text = debrief(
        "heroku-outage",
        &played,
        &measured,
        &objectives,
        &["detection bound: x".into()],
    );
    for line in [
        "🧪 DRILL game day heroku-outage: debrief (finished after 4m 18s)",
        "  alert → declared          30s  by alice",
        "  requested → approved      1m 00s  by bob",
        "  run → verified            39s\n",
        "  draft → approved          1m 00s  by carol",
        "failover-hosting (succeeded): time to recovery 3m 10s (first signal → verified; RTO 4h: met)",
        "  detection bound: x",
        "  bob: approved REQ-1",
    ] {
        assert!(text.contains(line), "`{line}` missing:\n{text}");
    }
    assert!(!text.contains("Stalled"), "{text}");
}
