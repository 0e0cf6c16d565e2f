//! The high-availability pair (`[ha]`), the service side: only a node that may act starts a
//! run or a step; a leader past its acting deadline stops between steps, and one whose
//! `step.started` the fenced log refuses never begins the step's side effect; the next leader
//! resumes the run from the log as after a crash; `/healthz` reports the role.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lifeboat::domain::event::{ChainCheck, Event, NewEvent};
use lifeboat::domain::{IncidentId, RunId};
use lifeboat::engine::{Engine, EngineError};
use lifeboat::ports::ha::{Leadership, Role};
use lifeboat::ports::store::{EventStore, StoreError};
use lifeboat::runbook::state::RunStatus;
use tokio::time::Instant;

use crate::support::app::runs::{alice, kinds};
use crate::support::http::{HttpServer, Reply};
use crate::support::{TestConfig, spawn_app};

/// Three steps, the middle one a wait that gives a leader time to lose its lease.
const RUNBOOK: &str = r#"
name = "switch"
title = "A switch with a wait in the middle"
workstream = "llm"

[[steps]]
id = "first"
kind = "http_request"
with = { method = "POST", url = "${vars.base}/first" }

[[steps]]
id = "pause"
kind = "wait"
with = { duration = "600ms" }

[[steps]]
id = "last"
kind = "http_request"
with = { method = "POST", url = "${vars.base}/last" }
"#;

fn server() -> HttpServer {
    let server = HttpServer::start();
    server.reply("/first", Reply::json("{}"));
    server.reply("/last", Reply::json("{}"));
    server
}

fn leader_until(until: Instant) -> Role {
    Role::Leader {
        epoch: 2,
        acting_until: until,
    }
}

#[tokio::test]
async fn a_follower_starts_no_run() {
    let server = server();
    let app = spawn_app(TestConfig::minimal().var("base", server.base_url()))
        .start()
        .await;
    let (_keeper, follower) = Leadership::channel(Role::Follower {
        leader: Some("node-a".into()),
        epoch: 1,
    });
    let engine = app.engine.clone().with_leadership(follower);
    let refused = engine.start(&app.runbook(RUNBOOK), BTreeMap::new(), None, alice());
    assert!(matches!(refused, Err(EngineError::NotLeading)));
    assert!(app.events("run.started").is_empty());
    assert_eq!(server.hits("/first"), 0);
}

#[tokio::test]
async fn a_leader_past_its_deadline_stops_between_steps_and_the_next_leader_finishes() {
    let server = server();
    let app = spawn_app(TestConfig::minimal().var("base", server.base_url()))
        .start()
        .await;
    let runbook = app.runbook(RUNBOOK);
    // Leads long enough for `first` and the start of `pause`, not for `last`; no renewal comes.
    let (_keeper, leadership) =
        Leadership::channel(leader_until(Instant::now() + Duration::from_millis(300)));
    let engine = app.engine.clone().with_leadership(leadership);
    let handle = engine
        .start(&runbook, BTreeMap::new(), None, alice())
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), handle.task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, RunStatus::Running, "stopped, not finished");
    assert_eq!(server.hits("/first"), 1);
    assert_eq!(server.hits("/last"), 0, "no step starts after the deadline");
    assert_eq!(
        kinds(&app.run_events(&handle.run)),
        [
            "run.started",
            "step.started first",
            "step.succeeded first",
            "step.started pause",
            "step.succeeded pause",
        ]
    );

    // The next leader (a fresh engine on the same log) carries the run on as after a crash.
    let (_next_keeper, next) =
        Leadership::channel(leader_until(Instant::now() + Duration::from_secs(60)));
    let next = Engine::new(app.engine.env().clone(), app.written.clone()).with_leadership(next);
    let resumed = next.recover(std::slice::from_ref(&runbook)).unwrap();
    assert_eq!(resumed.len(), 1);
    let status = tokio::time::timeout(
        Duration::from_secs(10),
        resumed.into_iter().next().unwrap().task,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(server.hits("/first"), 1, "a finished step ran again");
    assert_eq!(server.hits("/last"), 1);
    assert!(matches!(
        app.store.verify().unwrap(),
        ChainCheck::Intact { .. }
    ));
}

#[tokio::test]
async fn a_deposed_leader_whose_step_start_is_refused_never_begins_the_step() {
    let server = server();
    let fence = Arc::new(AtomicBool::new(false));
    let fenced = fence.clone();
    let app = spawn_app(TestConfig::minimal().var("base", server.base_url()))
        .store_through(move |log| Arc::new(Fenced { log, fenced }))
        .start()
        .await;
    let runbook = app.runbook(RUNBOOK);
    // The node believes it still leads (its deadline is far), but another node took the lease:
    // the log refuses its appends from the moment `pause` runs.
    let (_keeper, leadership) =
        Leadership::channel(leader_until(Instant::now() + Duration::from_secs(60)));
    let engine = app.engine.clone().with_leadership(leadership);
    let handle = engine
        .start(&runbook, BTreeMap::new(), None, alice())
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !app
            .run_events(&handle.run)
            .iter()
            .any(|e| e.kind == "step.started" && e.data["step"] == "pause")
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    fence.store(true, Ordering::SeqCst);
    let status = tokio::time::timeout(Duration::from_secs(10), handle.task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, RunStatus::Running);
    assert_eq!(
        server.hits("/last"),
        0,
        "a refused step.started began its step"
    );
    assert!(
        !app.run_events(&handle.run)
            .iter()
            .any(|e| e.data["step"] == "last"),
        "nothing of `last` reached the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_names_a_followers_leader_and_epoch_and_a_follower_without_gateway_is_ok() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(lifeboat::store::SledStore::open(dir.path()).unwrap());
    let (keeper, leadership) = Leadership::channel(Role::Follower {
        leader: Some("node-a".into()),
        epoch: 4,
    });
    let listener = lifeboat::service::server::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let ops = lifeboat::service::server::Ops {
        store,
        // Never connected: a follower leaves the gateway to the leader.
        chat: Arc::new(lifeboat::chat::discord::DiscordGateway::default()),
        token: None,
        leadership,
    };
    tokio::spawn(lifeboat::service::server::serve(
        listener,
        Arc::new(ops),
        stopped,
    ));
    let healthz = || async move {
        let (status, _, body) =
            tokio::task::spawn_blocking(move || crate::support::http::get(addr, "/healthz"))
                .await
                .unwrap();
        (
            status,
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        )
    };
    let (status, body) = healthz().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role"], "follower");
    assert_eq!(body["leader"], "node-a");
    assert_eq!(body["epoch"], 4);

    // Leading, the gateway counts again: not connected is a problem.
    keeper
        .send(leader_until(Instant::now() + Duration::from_secs(60)))
        .unwrap();
    let (status, body) = healthz().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["role"], "leader");
    assert_eq!(body["epoch"], 2);
}

/// The log as a deposed leader sees it: once fenced, every append is refused, as the
/// DynamoDB transaction refuses it when the lease's epoch moved on.
struct Fenced {
    log: Arc<dyn EventStore>,
    fenced: Arc<AtomicBool>,
}

impl Fenced {
    fn check(&self) -> Result<(), StoreError> {
        if self.fenced.load(Ordering::SeqCst) {
            return Err(StoreError::Io(
                "the lease is held by another node at a later epoch".into(),
            ));
        }
        Ok(())
    }
}

impl EventStore for Fenced {
    fn append(&self, event: NewEvent) -> Result<Event, StoreError> {
        self.check()?;
        self.log.append(event)
    }
    fn append_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
        self.check()?;
        self.log.append_batch(events)
    }
    fn by_incident(&self, incident: &IncidentId) -> Result<Vec<Event>, StoreError> {
        self.log.by_incident(incident)
    }
    fn by_run(&self, run: &RunId) -> Result<Vec<Event>, StoreError> {
        self.log.by_run(run)
    }
    fn range(&self, seqs: std::ops::RangeInclusive<u64>) -> Result<Vec<Event>, StoreError> {
        self.log.range(seqs)
    }
    fn last(&self) -> Result<Option<Event>, StoreError> {
        self.log.last()
    }
    fn verify(&self) -> Result<ChainCheck, StoreError> {
        self.log.verify()
    }
    fn check_writable(&self) -> Result<(), StoreError> {
        self.log.check_writable()
    }
}

/// `[ha]` off, as every other test of the suite runs: the node is `single` and acts at once.
#[test]
fn a_single_node_says_so_on_healthz() {
    let mut bot = spawn_app(TestConfig::minimal()).binary();
    let endpoint = bot.endpoint();
    bot.wait_for("Lifeboat is watching");
    let (status, _, body) = crate::support::http::get(endpoint, "/healthz");
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role"], "single");
    assert!(body.get("epoch").is_none(), "{body}");
}
