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

mod standing {
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use serde_json::json;

    use crate::config::{AccessConfig, AccessRole, RosterEntry};
    use crate::domain::Actor;
    use crate::domain::event::{Event, GENESIS, NewEvent};
    use crate::events::{TrainingRecorded, TrainingRole};
    use crate::training::reminder;
    use crate::training::*;

    const HALF_YEAR: Duration = Duration::from_secs(182 * 86_400);

    fn day(d: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + chrono::Duration::days(d)
    }

    fn access() -> AccessConfig {
        AccessConfig {
            responders: vec!["R".into()],
            approvers: vec!["A".into()],
            communicators: vec!["C".into()],
            roster: vec![RosterEntry {
                id: None,
                name: "Dora".into(),
                roles: vec![AccessRole::Communicator],
            }],
        }
    }

    fn member(id: &str, name: &str, roles: &[&str]) -> Member {
        Member {
            id: id.into(),
            name: name.into(),
            role_ids: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn record(
        at: i64,
        id: Option<&str>,
        name: &str,
        role: TrainingRole,
        incident: &str,
    ) -> Recorded {
        Recorded {
            at: day(at),
            record: TrainingRecorded {
                incident: Some(incident.into()),
                scenario: "heroku-outage".into(),
                person_id: id.map(str::to_owned),
                person_name: name.into(),
                role,
            },
        }
    }

    fn records() -> Vec<Recorded> {
        vec![
            record(10, Some("1"), "ann", TrainingRole::Responder, "INC-A"),
            record(200, Some("1"), "ann", TrainingRole::Commander, "INC-B"),
            record(200, Some("1"), "ann", TrainingRole::Responder, "INC-B"),
            record(10, Some("2"), "ben", TrainingRole::Approver, "INC-A"),
            record(200, Some("9"), "old", TrainingRole::Approver, "INC-B"),
            record(200, None, "dora", TrainingRole::Communicator, "INC-B"),
        ]
    }

    fn names(standings: &[Standing]) -> Vec<(&str, State)> {
        standings
            .iter()
            .map(|s| (s.person.name.as_str(), s.state))
            .collect()
    }

    #[test]
    fn people_come_from_the_members_holding_a_role_the_roster_and_the_records() {
        let members = [
            member("1", "ann", &["R", "X"]),
            member("2", "ben", &["A"]),
            member("3", "cid", &["R", "C"]),
            member("4", "eve", &["X"]),
        ];
        let people = people(&access(), Some(&members), &records());
        let listed: Vec<(&str, Vec<&str>, bool)> = people
            .iter()
            .map(|h| {
                (
                    h.name.as_str(),
                    h.roles.iter().map(|r| r.as_str()).collect(),
                    h.checked,
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                ("ann", vec!["responder"], true),
                ("ben", vec!["approver"], true),
                ("cid", vec!["responder", "communicator"], true),
                ("Dora", vec!["communicator"], true),
                ("old", vec![], false),
            ],
            "eve holds no [access] role; the roster's Dora is the records' dora; old only \
             appears in the records and Discord no longer lists him with a role"
        );

        let standings = standings(people, &records(), day(300), Some(HALF_YEAR));
        assert_eq!(
            names(&standings),
            [
                ("ann", State::Current),
                ("ben", State::Overdue),
                ("cid", State::Never),
                ("Dora", State::Current),
                ("old", State::Unchecked),
            ]
        );
        let (last, roles) = standings[0].last.clone().unwrap();
        assert_eq!(last.at, day(200));
        assert_eq!(roles, [TrainingRole::Responder, TrainingRole::Commander]);

        let check = readiness_check(&standings, Some(HALF_YEAR), day(300)).unwrap();
        assert!(!check.ok);
        assert_eq!(
            check.reason,
            "never trained: cid; overdue (a game day every 182d): ben (last 2026-01-11, 290 days ago)"
        );
        assert_eq!(readiness_check(&standings, None, day(300)), None);
    }

    #[test]
    fn without_discord_the_roster_and_the_records_are_everyone_and_all_are_checked() {
        let people = people(&access(), None, &records());
        let standings = standings(people, &records(), day(190), Some(HALF_YEAR));
        assert_eq!(
            names(&standings),
            [
                ("Dora", State::Current),
                ("ann", State::Current),
                ("ben", State::Current),
                ("old", State::Current),
            ]
        );
        let check = readiness_check(&standings, Some(HALF_YEAR), day(190)).unwrap();
        assert!(check.ok, "{check:?}");
        assert_eq!(
            check.reason,
            "all 4 people took part in a game day within 182d"
        );

        let nobody = readiness_check(&[], Some(HALF_YEAR), day(1)).unwrap();
        assert!(!nobody.ok);
    }

    #[test]
    fn the_listing_shows_each_persons_last_game_day_or_never() {
        let members = [member("1", "ann", &["R"]), member("3", "cid", &["A"])];
        let people = people(&access(), Some(&members), &records()[..3]);
        let standings = standings(people, &records(), day(300), Some(HALF_YEAR));
        let text = render(&standings, Some(HALF_YEAR), day(300), "the test");
        assert_eq!(
            text,
            "Training record at 2026-10-28 (a game day every 182d)\n\
             ann (1)                      responder                          last game day: 2026-07-20 heroku-outage as responder, commander  ok\n\
             cid (3)                      approver                           last game day: never  NOT TRAINED\n\
             Dora                         communicator                       last game day: 2026-07-20 heroku-outage as communicator  ok\n\
             People: the test.\n"
        );
    }

    fn posted(at: DateTime<Utc>, people: &[&str]) -> Event {
        Event::seal(
            NewEvent::new(
                Actor::Scheduler,
                "reminder.posted",
                json!({ "reminder": "training", "basis_at": null, "protocol": null, "period": 0,
                        "delivery": null, "people": people }),
            ),
            1,
            at,
            GENESIS,
        )
    }

    #[test]
    fn the_reminder_names_only_the_people_due_once_per_period() {
        let members = [
            member("1", "ann", &["R"]),
            member("2", "ben", &["A"]),
            member("3", "cid", &["C"]),
        ];
        let people = people(&access(), Some(&members), &records());
        let standings = standings(people, &records(), day(300), Some(HALF_YEAR));
        let due = reminder::due(&standings, &[], HALF_YEAR, day(300));
        let keys: Vec<String> = due.iter().map(|s| reminder::key(s)).collect();
        assert_eq!(keys, ["2", "3"], "ann and Dora are current");

        let message = reminder::message(&due, HALF_YEAR, day(300));
        assert_eq!(&*message.pings, ["user:2", "user:3"]);
        assert!(
            message
                .content
                .contains("<@2> (ben): last game day 2026-01-11 (290 days ago)")
        );
        assert!(
            message
                .content
                .contains("<@3> (cid): never took part in a game day")
        );
        assert!(!message.content.contains("ann") && !message.content.contains("<@1>"));

        // Named 10 days ago: not again this period; 183 days later, again.
        let earlier = [posted(day(290), &["2", "3"])];
        assert!(reminder::due(&standings, &earlier, HALF_YEAR, day(300)).is_empty());
        let later = standings.clone();
        let keys: Vec<String> = reminder::due(&later, &earlier, HALF_YEAR, day(290 + 183))
            .iter()
            .map(|s| reminder::key(s))
            .collect();
        assert_eq!(keys, ["2", "3"]);
        // Someone named earlier does not hold back someone new.
        let only_ben = [posted(day(290), &["2"])];
        let keys: Vec<String> = reminder::due(&standings, &only_ben, HALF_YEAR, day(300))
            .iter()
            .map(|s| reminder::key(s))
            .collect();
        assert_eq!(keys, ["3"]);
    }

    #[test]
    fn training_records_are_read_from_their_events() {
        let record = TrainingRecorded {
            incident: Some("INC-B".into()),
            scenario: "both".into(),
            person_id: Some("1".into()),
            person_name: "ann".into(),
            role: TrainingRole::Approver,
        };
        let events = [
            Event::seal(
                NewEvent::of(Actor::Scheduler, record.clone()),
                2,
                day(5),
                GENESIS,
            ),
            Event::seal(
                NewEvent::new(Actor::Scheduler, "drill.finished", json!({ "results": [] })),
                1,
                day(4),
                GENESIS,
            ),
        ];
        assert_eq!(recorded(&events), [Recorded { at: day(5), record }]);
    }
}
