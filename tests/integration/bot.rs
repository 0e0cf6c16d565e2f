//! The bot core over the real engine: roles, the two-person rule, refusals in the log.

use std::time::Duration;

use lifeboat::approval::Person;
use lifeboat::chat::bot::Bot;
use lifeboat::chat::command::{Command, Line, parse_line};
use lifeboat::ports::store::EventStore;

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
    let bench = crate::engine::bench().await;
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
    let bench = crate::engine::bench().await;
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
    let bench = crate::engine::bench().await;
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

/// A store that refuses `run.approval_counted` while `refusing` is set, as a full disk would.
struct RefusingApprovals {
    inner: std::sync::Arc<lifeboat::store::SledStore>,
    refusing: std::sync::atomic::AtomicBool,
}

impl RefusingApprovals {
    fn check(
        &self,
        event: &lifeboat::domain::event::NewEvent,
    ) -> Result<(), lifeboat::ports::store::StoreError> {
        if event.kind == "run.approval_counted"
            && self.refusing.load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(lifeboat::ports::store::StoreError::Io(
                "no space left on device".into(),
            ));
        }
        Ok(())
    }
}

impl EventStore for RefusingApprovals {
    fn append(
        &self,
        event: lifeboat::domain::event::NewEvent,
    ) -> Result<lifeboat::domain::event::Event, lifeboat::ports::store::StoreError> {
        self.check(&event)?;
        self.inner.append(event)
    }
    fn append_batch(
        &self,
        events: Vec<lifeboat::domain::event::NewEvent>,
    ) -> Result<Vec<lifeboat::domain::event::Event>, lifeboat::ports::store::StoreError> {
        for e in &events {
            self.check(e)?;
        }
        self.inner.append_batch(events)
    }
    fn by_incident(
        &self,
        i: &lifeboat::domain::IncidentId,
    ) -> Result<Vec<lifeboat::domain::event::Event>, lifeboat::ports::store::StoreError> {
        self.inner.by_incident(i)
    }
    fn by_run(
        &self,
        r: &lifeboat::domain::RunId,
    ) -> Result<Vec<lifeboat::domain::event::Event>, lifeboat::ports::store::StoreError> {
        self.inner.by_run(r)
    }
    fn range(
        &self,
        seqs: std::ops::RangeInclusive<u64>,
    ) -> Result<Vec<lifeboat::domain::event::Event>, lifeboat::ports::store::StoreError> {
        self.inner.range(seqs)
    }
    fn last(
        &self,
    ) -> Result<Option<lifeboat::domain::event::Event>, lifeboat::ports::store::StoreError> {
        self.inner.last()
    }
    fn verify(
        &self,
    ) -> Result<lifeboat::domain::event::ChainCheck, lifeboat::ports::store::StoreError> {
        self.inner.verify()
    }
    fn check_writable(&self) -> Result<(), lifeboat::ports::store::StoreError> {
        self.inner.check_writable()
    }
}

#[tokio::test]
async fn an_approval_the_log_refuses_does_not_count() {
    let bench = crate::engine::bench().await;
    let rb = bench.runbook(RUNBOOK);
    let store = std::sync::Arc::new(RefusingApprovals {
        inner: bench.store.clone(),
        refusing: std::sync::atomic::AtomicBool::new(true),
    });
    let bot = Bot::new(
        bench.config.clone(),
        vec![rb],
        bench.engine.clone(),
        store.clone(),
    );
    let reply = bot
        .handle(
            command("/runbook run scale-up"),
            &person("alice", &["responder"]),
        )
        .await;
    let id = reply.message.buttons[0]
        .custom_id
        .trim_start_matches("approve:")
        .to_owned();
    let bob = person("bob", &["approver"]);
    let refused = bot.handle(command(&format!("/approve {id}")), &bob).await;
    assert!(refused.ephemeral, "{refused:?}");
    assert!(
        refused.message.content.contains(
            "Not approved: the event log refused it (event log I/O failed: no space left on device)"
        ),
        "{refused:?}"
    );
    assert!(!kinds(&bench).contains(&"run.approval_counted".to_string()));

    // The request stayed open and bob's refused approval never counted: he approves again.
    store
        .refusing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let counted = bot.handle(command(&format!("/approve {id}")), &bob).await;
    assert!(
        counted.message.content.contains("1 more needed"),
        "{counted:?}"
    );
    // A second refusal, at the approval that would start the run: nothing starts.
    store
        .refusing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let dan = person("dan", &["approver"]);
    let refused = bot.handle(command(&format!("/approve {id}")), &dan).await;
    assert!(
        refused.message.content.contains("Not approved"),
        "{refused:?}"
    );
    let k = kinds(&bench);
    assert!(!k.contains(&"run.approved".to_string()), "{k:?}");
    assert!(!k.contains(&"run.started".to_string()), "{k:?}");
    store
        .refusing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let started = bot.handle(command(&format!("/approve {id}")), &dan).await;
    assert!(started.message.content.contains("started"), "{started:?}");
}

/// A restore whose backup (the simulation's, 12 minutes old) is older than its limit, so it
/// asks to accept more data loss; only an approver may answer.
const OLD_BACKUP: &str = r#"
name = "restore-old"
title = "Restore a backup older than its limit"
workstream = "hosting"

[approval]
approvals = 1

[[steps]]
id = "restore"
kind = "db_restore"
with = { to = "standby", max_age = "1m" }
"#;

#[tokio::test]
async fn only_an_approver_other_than_the_requester_may_accept_more_data_loss_and_is_recorded() {
    let bench = crate::engine::bench().await;
    let bot = Bot::new(
        bench.config.clone(),
        vec![bench.runbook(OLD_BACKUP)],
        bench.engine.clone(),
        bench.store.clone(),
    );
    let reply = bot
        .handle(
            command("/runbook run restore-old"),
            &person("alice", &["responder", "approver"]),
        )
        .await;
    let request = reply.message.buttons[0]
        .custom_id
        .trim_start_matches("approve:")
        .to_owned();
    let started = bot
        .handle(
            command(&format!("/approve {request}")),
            &person("bob", &["approver"]),
        )
        .await;
    let run = started
        .message
        .content
        .split_whitespace()
        .find(|w| w.starts_with("RUN-"))
        .unwrap_or_else(|| panic!("{started:?}"))
        .trim_end_matches(['.', ':'])
        .to_owned();
    let key = format!("{run}:restore");
    tokio::time::timeout(Duration::from_secs(10), async {
        while !bench.engine.env().answers.open().contains(&key) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the restore never asked: {:?}", kinds(&bench)));
    let asked = bench.chat().posts();
    let question = asked
        .iter()
        .find(|m| m.content.contains("more than the maximum age of 1m"))
        .unwrap_or_else(|| panic!("{asked:#?}"));
    assert!(
        question
            .buttons
            .iter()
            .any(|b| b.custom_id == format!("confirm:{key}:yes")),
        "{question:?}"
    );

    // A responder who is not an approver is refused, and the question stays open.
    let carol = person("carol", &["responder"]);
    let refused = bot
        .handle(command(&format!("/confirm {run} restore yes")), &carol)
        .await;
    assert!(refused.ephemeral, "{refused:?}");
    assert!(
        refused
            .message
            .content
            .contains("Refused: only an approver may answer"),
        "{refused:?}"
    );
    assert!(
        bench.engine.env().answers.open().contains(&key),
        "carol answered it"
    );
    let all = bench.store.all().unwrap();
    let refusal = all
        .iter()
        .rfind(|e| e.kind == "command.refused")
        .expect("the refusal is logged");
    assert_eq!(
        refusal.actor,
        lifeboat::domain::Actor::User {
            id: "carol".into(),
            name: "carol".into()
        }
    );
    assert_eq!(refusal.data["needs"], "approver");

    // The requester, although an approver, does not accept their own run's loss.
    let alice = person("alice", &["responder", "approver"]);
    let own = bot
        .handle(command(&format!("/confirm {run} restore yes")), &alice)
        .await;
    assert!(own.ephemeral, "{own:?}");
    assert!(
        own.message.content.contains("Refused: you requested"),
        "{own:?}"
    );
    assert!(
        bench.engine.env().answers.open().contains(&key),
        "the requester answered it"
    );
    let all = bench.store.all().unwrap();
    let refusal = all
        .iter()
        .rfind(|e| e.kind == "command.refused")
        .expect("the refusal is logged");
    assert_eq!(
        refusal.actor,
        lifeboat::domain::Actor::User {
            id: "alice".into(),
            name: "alice".into()
        }
    );
    assert_eq!(
        refusal.data["needs"],
        "an approver other than the requester"
    );

    // An approver (who may also answer questions, as a responder) is accepted and recorded.
    let dan = person("dan", &["responder", "approver"]);
    let accepted = bot
        .handle(command(&format!("/confirm {run} restore yes")), &dan)
        .await;
    assert!(
        accepted.message.content.contains("confirmed"),
        "{accepted:?}"
    );
    for _ in 0..500 {
        if kinds(&bench).contains(&"run.succeeded".to_string()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let all = bench.store.all().unwrap();
    assert!(
        all.iter().any(|e| e.kind == "run.succeeded"),
        "{:?}",
        kinds(&bench)
    );
    let recorded = all
        .iter()
        .find(|e| e.kind == "db.data_loss_accepted")
        .expect("the acceptance is recorded");
    assert_eq!(
        recorded.actor,
        lifeboat::domain::Actor::User {
            id: "dan".into(),
            name: "dan".into()
        },
        "the approver, not the bot, accepted the loss"
    );
    assert_eq!(recorded.data["by"], "dan");
    assert_eq!(recorded.data["step"], "restore");
    let restored = all
        .iter()
        .find(|e| e.kind == "step.succeeded" && e.data["step"] == "restore")
        .unwrap();
    assert_eq!(restored.data["output"]["accepted_by"], "dan");
}

const BREAK_GLASS: &str = r#"
name = "scale-up"
title = "Scale up"
workstream = "hosting"

[approval]
break_glass_after = "10m"

[[steps]]
id = "scale"
kind = "ecs_scale"
with = { to = "standby" }
"#;

/// The request id of the last `run.requested`.
fn last_request(bench: &Bench) -> String {
    let events = bench.store.all().unwrap();
    let e = events.iter().rev().find(|e| e.kind == "run.requested");
    e.unwrap().data["request"].as_str().unwrap().to_owned()
}

#[tokio::test(start_paused = true)]
async fn break_glass_lets_the_sev1_requester_start_alone_after_the_delay_until_acknowledged() {
    let bench = crate::engine::bench().await;
    // An approver role to ping (the bench's access names roles only by name).
    let mut config = (*bench.config).clone();
    config.access.approvers = vec!["900".into()];
    let bot = Bot::new(
        std::sync::Arc::new(config),
        vec![bench.runbook(BREAK_GLASS)],
        bench.engine.clone(),
        bench.store.clone(),
    );
    let alice = person("alice", &["responder"]);
    let bob = person("bob", &["responder", "approver"]);

    // Sev2: refused even after the delay.
    bot.handle(command("/incident declare slow --sev sev2"), &alice)
        .await;
    bot.handle(command("/runbook run scale-up"), &alice).await;
    let sev2 = last_request(&bench);
    tokio::time::advance(Duration::from_secs(11 * 60)).await;
    let reply = bot
        .handle(
            command(&format!("/runbook break-glass {sev2} db down")),
            &alice,
        )
        .await;
    assert!(
        reply.message.content.contains("only for a sev1"),
        "{reply:?}"
    );
    bot.handle(command(&format!("/deny {sev2}")), &bob).await;
    bot.handle(command("/incident resolve"), &alice).await;
    bot.handle(command("/incident review"), &alice).await;

    // Sev1: refused before the delay and to anyone but the requester; allowed after.
    bot.handle(command("/incident declare down --sev sev1"), &alice)
        .await;
    bot.handle(command("/runbook run scale-up"), &alice).await;
    let id = last_request(&bench);
    tokio::time::advance(Duration::from_secs(9 * 60)).await;
    let early = bot
        .handle(
            command(&format!("/runbook break-glass {id} db down")),
            &alice,
        )
        .await;
    assert!(
        early.message.content.contains("break-glass opens at"),
        "{early:?}"
    );
    tokio::time::advance(Duration::from_secs(2 * 60)).await;
    let other = bot
        .handle(command(&format!("/runbook break-glass {id} db down")), &bob)
        .await;
    assert!(
        other
            .message
            .content
            .contains("only the person who requested"),
        "{other:?}"
    );
    assert!(!kinds(&bench).contains(&"run.break_glass".to_owned()));
    let broke = bot
        .handle(
            command(&format!(
                "/runbook break-glass {id} db down, nobody answers"
            )),
            &alice,
        )
        .await;
    assert!(!broke.ephemeral, "{broke:?}");
    assert!(
        broke
            .message
            .content
            .contains("BREAK-GLASS: db down, nobody answers")
    );
    assert_eq!(
        broke.message.pings.as_ref(),
        ["900".to_owned()],
        "the approvers are pinged"
    );
    assert!(broke.message.content.contains("<@&900>"));
    let k = kinds(&bench);
    let glass = k.iter().position(|k| k == "run.break_glass").unwrap();
    let started = k.iter().position(|k| k == "run.started").unwrap();
    assert!(glass < started, "recorded before the run starts: {k:?}");
    let events = bench.store.all().unwrap();
    let e = events.iter().find(|e| e.kind == "run.break_glass").unwrap();
    assert_eq!(e.data["reason"], "db down, nobody answers");
    assert_eq!(e.data["waited_secs"], 660);
    let run = events
        .iter()
        .find(|e| e.kind == "run.approved" && e.data["request"] == id.as_str())
        .unwrap()
        .data["run"]
        .as_str()
        .unwrap()
        .to_owned();

    // The review waits for an approver's acknowledgement (not the requester's).
    bot.handle(command("/incident resolve"), &alice).await;
    let (incident, _) = {
        let all = bench.store.all().unwrap();
        let d = all
            .iter()
            .rev()
            .find(|e| e.kind == "incident.declared")
            .unwrap();
        (d.incident.clone().unwrap(), ())
    };
    let blocked = bot.handle(command("/incident review"), &alice).await;
    assert!(
        blocked.message.content.contains("cannot be reviewed yet"),
        "{blocked:?}"
    );
    let own = bot
        .handle(command(&format!("/runbook acknowledge {run}")), &alice)
        .await;
    assert!(
        own.message.content.contains("needs the approver role"),
        "{own:?}"
    );
    let ack = bot
        .handle(command(&format!("/runbook acknowledge {run}")), &bob)
        .await;
    assert!(ack.message.content.contains("acknowledged"), "{ack:?}");
    let reviewed = bot.handle(command("/incident review"), &alice).await;
    assert!(
        reviewed.message.content.contains("reviewed by"),
        "{reviewed:?}"
    );

    // The post-mortem flags the run, with the acknowledgement, in every format.
    let events = bench.store.all().unwrap();
    for format in [
        lifeboat::timeline::Format::Markdown,
        lifeboat::timeline::Format::Json,
        lifeboat::timeline::Format::Csv,
        lifeboat::timeline::Format::Html,
    ] {
        let out = lifeboat::timeline::render(&events, &incident, format, &bench.config.objectives)
            .unwrap();
        // JSON and CSV carry the events themselves: their kinds and the reason.
        let (flag, ack) = match format {
            lifeboat::timeline::Format::Json | lifeboat::timeline::Format::Csv => {
                ("run.break_glass", "run.break_glass_acknowledged")
            }
            _ => (
                "BREAK-GLASS: db down, nobody answers",
                "acknowledged by bob",
            ),
        };
        assert!(out.contains(flag), "{format:?}: {out}");
        assert!(out.contains("db down, nobody answers"), "{format:?}");
        assert!(out.contains(ack), "{format:?}");
    }
}
