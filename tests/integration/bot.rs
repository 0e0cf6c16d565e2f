//! The bot core over the real engine: roles, the two-person rule, refusals in the log.

use std::time::Duration;

use lifeboat::approval::Person;
use lifeboat::chat::bot::Bot;
use lifeboat::chat::command::{Command, Line, parse_line};
use lifeboat::store::EventStore;

use crate::engine::Bench;

const RUNBOOK: &str = r#"
name = "scale-up"
title = "Scale up"
workstream = "hosting"

[approval]
approvals = 2

[[steps]]
id = "scale"
kind = "ecs_scale"
with = { to = "standby" }
"#;

fn person(name: &str, roles: &[&str]) -> Person {
    Person {
        id: name.into(),
        name: name.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

fn command(text: &str) -> Command {
    match parse_line(text).unwrap() {
        Line::Command { command, .. } => command,
        other => panic!("{other:?}"),
    }
}

fn kinds(bench: &Bench) -> Vec<String> {
    bench
        .store
        .all()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

#[tokio::test]
async fn two_approvals_by_other_people_start_the_run_and_refusals_are_logged() {
    let bench = Bench::new();
    let rb = bench.runbook(RUNBOOK);
    let bot = Bot::new(
        bench.config.clone(),
        vec![rb],
        bench.engine.clone(),
        bench.store.clone(),
    );
    let alice = person("alice", &["responder", "approver"]);

    // Someone without the responder role cannot request.
    let reply = bot
        .handle(command("/runbook run scale-up"), &person("mallory", &[]))
        .await;
    assert!(reply.ephemeral);
    assert!(
        reply.message.content.contains("needs the responder role"),
        "{reply:?}"
    );

    let reply = bot.handle(command("/runbook run scale-up"), &alice).await;
    assert!(!reply.ephemeral);
    let id = reply.message.buttons[0]
        .custom_id
        .trim_start_matches("approve:")
        .to_owned();
    assert!(
        reply.message.content.contains("Needs 2 approvals"),
        "{}",
        reply.message.content
    );

    let refused = bot.handle(command(&format!("/approve {id}")), &alice).await;
    assert!(
        refused.ephemeral && refused.message.content.contains("two-person rule"),
        "{refused:?}"
    );
    let refused = bot
        .handle(
            command(&format!("/approve {id}")),
            &person("carol", &["responder"]),
        )
        .await;
    assert!(
        refused.message.content.contains("needs the approver role"),
        "{refused:?}"
    );

    let counted = bot
        .handle(
            command(&format!("/approve {id}")),
            &person("bob", &["approver"]),
        )
        .await;
    assert!(
        counted.message.content.contains("1 more needed"),
        "{counted:?}"
    );
    let again = bot
        .handle(
            command(&format!("/approve {id}")),
            &person("bob", &["approver"]),
        )
        .await;
    assert!(
        again.message.content.contains("already approved"),
        "{again:?}"
    );
    let started = bot
        .handle(
            command(&format!("/approve {id}")),
            &person("dan", &["approver"]),
        )
        .await;
    assert!(started.message.content.contains("started"), "{started:?}");

    for _ in 0..200 {
        if kinds(&bench).contains(&"run.succeeded".to_string()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let k = kinds(&bench);
    for expected in [
        "command.refused",
        "run.requested",
        "approval.refused",
        "run.approval_counted",
        "run.approved",
        "run.started",
        "run.succeeded",
    ] {
        assert!(
            k.contains(&expected.to_string()),
            "{expected} missing from {k:?}"
        );
    }
    // The request is closed: a late approval is refused.
    let late = bot
        .handle(
            command(&format!("/approve {id}")),
            &person("erin", &["approver"]),
        )
        .await;
    assert!(late.message.content.contains("already decided"), "{late:?}");
}

#[tokio::test]
async fn a_changed_runbook_invalidates_pending_approvals_and_denial_ends_a_request() {
    let bench = Bench::new();
    let rb = bench.runbook(RUNBOOK);
    let bot = Bot::new(
        bench.config.clone(),
        vec![rb.clone()],
        bench.engine.clone(),
        bench.store.clone(),
    );
    let alice = person("alice", &["responder"]);
    let reply = bot.handle(command("/runbook run scale-up"), &alice).await;
    let id = reply.message.buttons[0]
        .custom_id
        .trim_start_matches("approve:")
        .to_owned();

    // The same log, a bot restarted with an edited runbook file: the plan hash moved.
    let mut edited = rb.clone();
    edited.file_hash = "edited".into();
    let restarted = Bot::new(
        bench.config.clone(),
        vec![edited],
        bench.engine.clone(),
        bench.store.clone(),
    );
    assert!(
        restarted.pending_request(&id).is_some(),
        "pending requests survive a restart"
    );
    let refused = restarted
        .handle(
            command(&format!("/approve {id}")),
            &person("bob", &["approver"]),
        )
        .await;
    assert!(
        refused
            .message
            .content
            .contains("changed since the request"),
        "{refused:?}"
    );

    let denied = bot
        .handle(
            command(&format!("/deny {id}")),
            &person("bob", &["approver"]),
        )
        .await;
    assert!(denied.message.content.contains("denied"), "{denied:?}");
    let after = bot
        .handle(
            command(&format!("/approve {id}")),
            &person("dan", &["approver"]),
        )
        .await;
    assert!(
        after.message.content.contains("already decided"),
        "{after:?}"
    );
}

#[tokio::test]
async fn incidents_are_declared_noted_and_resolved() {
    let bench = Bench::new();
    let bot = Bot::new(
        bench.config.clone(),
        Vec::new(),
        bench.engine.clone(),
        bench.store.clone(),
    );
    let alice = person("alice", &["responder"]);
    let reply = bot
        .handle(command("/incident declare Heroku down"), &alice)
        .await;
    assert!(reply.message.content.contains("declared"), "{reply:?}");
    let again = bot.handle(command("/incident declare again"), &alice).await;
    assert!(again.message.content.contains("already open"));
    bot.handle(command("/incident note TTL too high --lesson"), &alice)
        .await;
    let (id, title) = bot.open_incident().unwrap();
    assert_eq!(title, "Heroku down");
    // A restarted bot reads the open incident back from the log.
    let restarted = Bot::new(
        bench.config.clone(),
        Vec::new(),
        bench.engine.clone(),
        bench.store.clone(),
    );
    assert_eq!(restarted.open_incident(), Some((id.clone(), title.clone())));
    let events = bench.store.by_incident(&id).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "note.added" && e.data["lesson"] == true)
    );
    bot.handle(command("/incident resolve"), &alice).await;
    assert!(bot.open_incident().is_none());
}
