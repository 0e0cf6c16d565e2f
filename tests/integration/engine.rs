//! The runbook engine with the simulated AWS and the chat recorder: order, durability,
//! retries, pauses, cancellation, one run per workstream, and recovery from the log.

use std::collections::BTreeMap;
use std::time::Duration;

use lifeboat::engine::{Decision, EngineError};
use lifeboat::ports::aws::{Containers, Dns};
use lifeboat::ports::store::EventStore;
use lifeboat::runbook::state::RunStatus;
use lifeboat::steps::confirm::Answer;
use serde_json::json;

use crate::support::app::runs::{alice, kinds};
use crate::support::{App, TestConfig, spawn_app};

/// The bench's config: a simulated standby (two services, one record) and a team to notify.
fn config() -> TestConfig {
    TestConfig::minimal()
        .set(
            "aws.ecs",
            json!({
                "cluster": "standby",
                "services": [{ "name": "web", "standby": 3 }, { "name": "worker", "standby": 2 }],
            }),
        )
        .set(
            "aws.dns",
            json!({
                "zone_id": "Z1",
                "ttl": 60,
                "records": [{ "name": "App.Example.com", "primary": "app.herokudns.com", "standby": "alb.aws.example.com" }],
            }),
        )
        .team("engineering", json!({ "channel_id": "77" }))
}

/// The engine with the simulated AWS and the chat recorder: the app in process on the bench's
/// config (shared with the bot, Discord, ops and readiness suites). `restart()` gives a fresh
/// engine on the same log, simulation and recorder.
pub type Bench = App;

pub async fn bench() -> Bench {
    spawn_app(config()).start().await
}

const FAILOVER: &str = r#"
name = "failover"
title = "Fail over"
workstream = "hosting"

[[steps]]
id = "scale"
kind = "ecs_scale"
with = { to = "standby" }

[[steps]]
id = "dns"
kind = "route53_upsert"
with = { to = "standby" }

[[steps]]
id = "dns-wait"
kind = "route53_wait"
with = { change_of = "dns", poll = "1s" }

[[steps]]
id = "tell"
kind = "notify"
with = { team = "engineering", message = "moved" }
"#;

#[tokio::test]
async fn steps_run_in_order_and_every_start_and_end_is_logged() {
    let bench = bench().await;
    let rb = bench.runbook(FAILOVER);
    let handle = bench
        .engine
        .start(&rb, BTreeMap::new(), None, alice())
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), handle.task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, RunStatus::Succeeded);
    let events = bench.run_events(&handle.run);
    assert_eq!(
        kinds(&events),
        [
            "run.started",
            "step.started scale",
            "step.succeeded scale",
            "step.started dns",
            "step.succeeded dns",
            "step.started dns-wait",
            "step.succeeded dns-wait",
            "step.started tell",
            "step.succeeded tell",
            "run.succeeded"
        ]
    );
    // The simulated standby really moved.
    let services = bench
        .sim()
        .describe_services("standby", &["web".into(), "worker".into()])
        .await
        .unwrap();
    assert_eq!((services[0].desired, services[1].desired), (3, 2));
    let record = bench
        .sim()
        .current_record("Z1", "app.example.com.", "CNAME")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.values, ["alb.aws.example.com."]);
    // The DNS step recorded what it replaced, so the change can be reversed.
    let dns = events
        .iter()
        .find(|e| e.kind == "step.succeeded" && e.data["step"] == "dns")
        .unwrap();
    assert_eq!(
        dns.data["output"]["previous"][0]["state"]["values"][0],
        "app.herokudns.com."
    );
    assert_eq!(dns.data["output"]["records"][0]["name"], "app.example.com.");
    // The team was told in its channel.
    assert!(
        bench
            .chat()
            .posts()
            .iter()
            .any(|m| m.content.contains("moved"))
    );
}

#[tokio::test]
async fn a_second_run_for_the_same_workstream_is_refused_naming_the_active_one() {
    let bench = bench().await;
    let rb = bench.runbook(&CONFIRM_FIRST.replace("{tail}", ""));
    let first = bench
        .engine
        .start(&rb, BTreeMap::new(), None, alice())
        .unwrap();
    match bench.engine.start(&rb, BTreeMap::new(), None, alice()) {
        Err(EngineError::Busy { run, .. }) => assert_eq!(run, first.run),
        other => panic!("expected Busy, got {:?}", other.map(|h| h.run)),
    }
    let err = bench
        .engine
        .start(&rb, BTreeMap::new(), None, alice())
        .err()
        .unwrap();
    assert!(err.to_string().contains(first.run.as_str()), "{err}");
}

const CONFIRM_FIRST: &str = r#"
name = "guarded"
title = "Guarded"
workstream = "hosting"

[[steps]]
id = "scale"
kind = "ecs_scale"
with = { to = "standby", services = ["web"] }

[[steps]]
id = "ask"
kind = "confirm"
with = { question = "go on?" }
{tail}
"#;

async fn wait_for_question(bench: &Bench) -> String {
    for _ in 0..200 {
        if let Some(key) = bench.engine.env().answers.open().pop() {
            return key;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no question was asked");
}

#[tokio::test]
async fn a_rejected_confirmation_fails_the_run_and_later_steps_never_run() {
    let bench = bench().await;
    let rb = bench.runbook(&CONFIRM_FIRST.replace(
        "{tail}",
        "[[steps]]\nid = \"dns\"\nkind = \"route53_upsert\"\nwith = { to = \"standby\" }\n",
    ));
    let handle = bench
        .engine
        .start(&rb, BTreeMap::new(), None, alice())
        .unwrap();
    let key = wait_for_question(&bench).await;
    assert!(bench.engine.env().answers.answer(
        &key,
        Answer {
            yes: false,
            by: "bob".into()
        }
    ));
    let status = handle.task.await.unwrap();
    assert!(
        matches!(status, RunStatus::Failed { ref step, .. } if step == "ask"),
        "{status:?}"
    );
    let k = kinds(&bench.run_events(&handle.run));
    assert!(!k.iter().any(|e| e.ends_with(" dns")), "{k:?}");
    let record = bench
        .sim()
        .current_record("Z1", "app.example.com.", "CNAME")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.values, ["app.herokudns.com."], "DNS never moved");
}

#[tokio::test]
async fn a_paused_run_can_be_retried_skipped_or_aborted() {
    let bench = bench().await;
    let text = CONFIRM_FIRST
        .replace("with = { question = \"go on?\" }", "with = { question = \"go on?\" }\non_failure = \"pause\"")
        .replace("{tail}", "[[steps]]\nid = \"tell\"\nkind = \"notify\"\nwith = { team = \"engineering\", message = \"done\" }\n");
    let rb = bench.runbook(&text);
    let handle = bench
        .engine
        .start(&rb, BTreeMap::new(), None, alice())
        .unwrap();
    let key = wait_for_question(&bench).await;
    bench.engine.env().answers.answer(
        &key,
        Answer {
            yes: false,
            by: "bob".into(),
        },
    );
    // Paused: a retry asks again; this time the answer is yes.
    for _ in 0..200 {
        if bench
            .engine
            .decide(&handle.run, Decision::Retry, alice())
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let key = wait_for_question(&bench).await;
    bench.engine.env().answers.answer(
        &key,
        Answer {
            yes: true,
            by: "bob".into(),
        },
    );
    assert_eq!(handle.task.await.unwrap(), RunStatus::Succeeded);
    let k = kinds(&bench.run_events(&handle.run));
    assert!(k.contains(&"run.paused ask".to_string()), "{k:?}");
    assert!(k.contains(&"run.resumed ask".to_string()), "{k:?}");
    assert_eq!(
        k.iter().filter(|e| *e == "step.started scale").count(),
        1,
        "{k:?}"
    );

    // Skip and abort, on fresh runs.
    for (decision, expected) in [(Decision::Skip, "succeeded"), (Decision::Abort, "aborted")] {
        let handle = bench
            .engine
            .start(&rb, BTreeMap::new(), None, alice())
            .unwrap();
        let key = wait_for_question(&bench).await;
        bench.engine.env().answers.answer(
            &key,
            Answer {
                yes: false,
                by: "bob".into(),
            },
        );
        for _ in 0..200 {
            if bench.engine.decide(&handle.run, decision, alice()).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let status = handle.task.await.unwrap();
        let k = kinds(&bench.run_events(&handle.run));
        match expected {
            "succeeded" => {
                assert_eq!(status, RunStatus::Succeeded);
                assert!(k.contains(&"step.skipped ask".to_string()), "{k:?}");
                assert!(k.contains(&"step.succeeded tell".to_string()), "{k:?}");
            }
            _ => {
                assert!(matches!(status, RunStatus::Aborted { .. }), "{status:?}");
                assert!(!k.iter().any(|e| e.ends_with(" tell")), "{k:?}");
            }
        }
    }
}

#[tokio::test]
async fn cancel_stops_after_the_current_step() {
    let bench = bench().await;
    let rb = bench.runbook(&CONFIRM_FIRST.replace("{tail}", "[[steps]]\nid = \"tell\"\nkind = \"notify\"\nwith = { team = \"engineering\", message = \"x\" }\n"));
    let handle = bench
        .engine
        .start(&rb, BTreeMap::new(), None, alice())
        .unwrap();
    let key = wait_for_question(&bench).await;
    bench.engine.cancel(&handle.run, alice()).unwrap();
    bench.engine.env().answers.answer(
        &key,
        Answer {
            yes: true,
            by: "bob".into(),
        },
    );
    assert_eq!(handle.task.await.unwrap(), RunStatus::Cancelled);
    let k = kinds(&bench.run_events(&handle.run));
    assert!(
        k.contains(&"step.succeeded ask".to_string()),
        "the current step finished: {k:?}"
    );
    assert!(!k.iter().any(|e| e.ends_with(" tell")), "{k:?}");
    assert_eq!(k.last().unwrap(), "run.cancelled");
}

#[tokio::test]
async fn after_a_restart_finished_steps_are_not_run_again() {
    let mut bench = bench().await;
    let rb = bench.runbook(&CONFIRM_FIRST.replace(
        "{tail}",
        "[[steps]]\nid = \"dns\"\nkind = \"route53_upsert\"\nwith = { to = \"standby\" }\n",
    ));
    let handle = bench
        .engine
        .start(&rb, BTreeMap::new(), None, alice())
        .unwrap();
    wait_for_question(&bench).await;
    // Crash: the task dies with the question open.
    handle.task.abort();
    let _ = handle.task.await;
    bench.restart().await;
    let handles = bench.engine.recover(std::slice::from_ref(&rb)).unwrap();
    assert_eq!(handles.len(), 1);
    let key = wait_for_question(&bench).await;
    bench.engine.env().answers.answer(
        &key,
        Answer {
            yes: true,
            by: "bob".into(),
        },
    );
    let handle = handles.into_iter().next().unwrap();
    assert_eq!(handle.task.await.unwrap(), RunStatus::Succeeded);
    let k = kinds(&bench.run_events(&handle.run));
    assert_eq!(
        k.iter().filter(|e| *e == "step.started scale").count(),
        1,
        "{k:?}"
    );
    assert!(k.contains(&"step.interrupted ask".to_string()), "{k:?}");
    assert_eq!(
        k.iter().filter(|e| *e == "step.started ask").count(),
        2,
        "confirm is re-asked: {k:?}"
    );
    assert!(matches!(
        bench.store.verify().unwrap(),
        lifeboat::domain::event::ChainCheck::Intact { .. }
    ));
}

#[tokio::test]
async fn an_interrupted_non_idempotent_step_pauses_for_a_human() {
    let mut bench = bench().await;
    let text = CONFIRM_FIRST
        .replace(
            "with = { question = \"go on?\" }",
            "with = { question = \"go on?\" }\nidempotent = false",
        )
        .replace("{tail}", "");
    let rb = bench.runbook(&text);
    let handle = bench
        .engine
        .start(&rb, BTreeMap::new(), None, alice())
        .unwrap();
    wait_for_question(&bench).await;
    handle.task.abort();
    let _ = handle.task.await;
    bench.restart().await;
    let handles = bench.engine.recover(std::slice::from_ref(&rb)).unwrap();
    let run = handles[0].run.clone();
    for _ in 0..200 {
        if bench.engine.decide(&run, Decision::Skip, alice()).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let handle = handles.into_iter().next().unwrap();
    assert_eq!(handle.task.await.unwrap(), RunStatus::Succeeded);
    let k = kinds(&bench.run_events(&run));
    assert!(k.contains(&"run.paused ask".to_string()), "{k:?}");
    assert_eq!(
        k.iter().filter(|e| *e == "step.started ask").count(),
        1,
        "not re-run: {k:?}"
    );
    assert!(bench.engine.env().answers.open().is_empty());
}

#[tokio::test]
async fn parameters_are_checked() {
    let bench = bench().await;
    let rb = bench.runbook(
        "name = \"p\"\ntitle = \"P\"\nworkstream = \"llm\"\n[[params]]\nname = \"reason\"\n[[steps]]\nid = \"w\"\nkind = \"wait\"\nwith = { duration = \"1ms\" }\n",
    );
    let err = bench
        .engine
        .start(&rb, BTreeMap::new(), None, alice())
        .err()
        .unwrap();
    assert!(matches!(err, EngineError::MissingParam { .. }), "{err}");
    let params = BTreeMap::from([("reson".to_string(), "x".to_string())]);
    let err = bench
        .engine
        .start(&rb, params, None, alice())
        .err()
        .unwrap();
    assert!(err.to_string().contains("no parameter `reson`"), "{err}");
}

#[tokio::test]
async fn a_second_decision_for_one_pause_does_not_decide_the_next() {
    let bench = bench().await;
    let text = CONFIRM_FIRST
        .replace("with = { question = \"go on?\" }", "with = { question = \"go on?\" }\non_failure = \"pause\"")
        .replace("{tail}", "[[steps]]\nid = \"tell\"\nkind = \"notify\"\nwith = { team = \"engineering\", message = \"done\" }\n");
    let rb = bench.runbook(&text);
    let handle = bench
        .engine
        .start(&rb, BTreeMap::new(), None, alice())
        .unwrap();
    let no = Answer {
        yes: false,
        by: "bob".into(),
    };
    let key = wait_for_question(&bench).await;
    bench.engine.env().answers.answer(&key, no.clone());
    // Pause 1: two presses before the run takes the first; only the first counts.
    let mut first = false;
    for _ in 0..200 {
        if bench
            .engine
            .decide(&handle.run, Decision::Retry, alice())
            .is_ok()
        {
            first = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(first, "the run never paused");
    assert!(matches!(
        bench.engine.decide(&handle.run, Decision::Skip, alice()),
        Err(EngineError::NotPaused(_))
    ));
    // An abort while the run is running is refused too: cancel is the way to stop it.
    assert!(matches!(
        bench.engine.decide(&handle.run, Decision::Abort, alice()),
        Err(EngineError::NotPaused(_))
    ));
    // The retry asks again; "no" pauses a second time, and that pause waits for a human.
    let key = wait_for_question(&bench).await;
    bench.engine.env().answers.answer(&key, no);
    for _ in 0..200 {
        if bench
            .run_events(&handle.run)
            .iter()
            .filter(|e| e.kind == "run.paused")
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let k = kinds(&bench.run_events(&handle.run));
    assert_eq!(
        k.iter().filter(|e| *e == "run.paused ask").count(),
        2,
        "{k:?}"
    );
    assert_eq!(
        k.iter().filter(|e| *e == "run.resumed ask").count(),
        1,
        "the second pause was decided without a human: {k:?}"
    );
    assert!(!k.iter().any(|e| e.starts_with("step.skipped")), "{k:?}");
    assert!(!handle.task.is_finished(), "{k:?}");
    bench
        .engine
        .decide(&handle.run, Decision::Abort, alice())
        .unwrap();
    let status = handle.task.await.unwrap();
    assert!(matches!(status, RunStatus::Aborted { .. }), "{status:?}");
}

/// A run in an incident posts where the incident's thread is, looked up as the run goes: a
/// thread opened mid-run takes the rest of the run's messages; another incident's thread
/// never does.
#[tokio::test]
async fn a_thread_opened_mid_run_takes_the_rest_of_its_messages() {
    use lifeboat::domain::event::NewEvent;
    use lifeboat::domain::{Actor, IncidentId};
    use lifeboat::events::IncidentThreadOpened;
    use lifeboat::ports::chat::ChannelId;

    let bench = bench().await;
    let opened = |incident: &str, thread: &str| {
        NewEvent::of(
            Actor::Bot,
            IncidentThreadOpened {
                thread: ChannelId(thread.into()),
                channel: bench.engine.env().channel.clone(),
                from: None,
            },
        )
        .incident(IncidentId(incident.into()))
    };
    bench
        .store
        .append(opened("INC-OTHER", "other-thread"))
        .unwrap();
    let rb = bench.runbook(&CONFIRM_FIRST.replace("{tail}", ""));
    let handle = bench
        .engine
        .start(
            &rb,
            BTreeMap::new(),
            Some(IncidentId("INC-1".into())),
            alice(),
        )
        .unwrap();
    let key = wait_for_question(&bench).await;
    bench.store.append(opened("INC-1", "run-thread")).unwrap();
    bench.engine.env().answers.answer(
        &key,
        Answer {
            yes: true,
            by: "bob".into(),
        },
    );
    let status = tokio::time::timeout(Duration::from_secs(10), handle.task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, RunStatus::Succeeded);
    let texts = |channel: &str| -> Vec<String> {
        bench
            .chat()
            .in_channel(&ChannelId(channel.into()))
            .into_iter()
            .map(|m| m.content)
            .filter(|c| c.contains(&format!("[{}]", handle.run)))
            .collect()
    };
    let before = texts(&bench.engine.env().channel.0);
    assert!(before.iter().any(|c| c.contains("▶ scale")), "{before:?}");
    let after = texts("run-thread");
    assert!(after.iter().any(|c| c.contains("✔ ask")), "{after:?}");
    assert!(after.iter().any(|c| c.contains("🏁")), "{after:?}");
    assert!(texts("other-thread").is_empty());
}
