//! Incidents, RTO clocks and reminders end to end: the bot declares and reviews over the real
//! sled log, the scheduler loop posts checkpoints and reminders under paused tokio time (and
//! never twice, even after a restart over the same log; a post that fails is retried, not
//! counted), drills count only when finished and within their objectives (also from the
//! `drill-*` logs `/drill start` keeps), and the RPO watch runs the real `backup_check`
//! against a local HTTP endpoint.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use lifeboat::approval::Person;
use lifeboat::chat::bot::Bot;
use lifeboat::chat::command::{Command, Line, parse_line};
use lifeboat::domain::Actor;
use lifeboat::domain::event::NewEvent;
use lifeboat::engine::Engine;
use lifeboat::ports::chat::{ChannelId, Message};
use lifeboat::ports::clock::{Clock, TokioClock};
use lifeboat::ports::store::EventStore;
use lifeboat::runbook::load_file;
use lifeboat::service::scheduler::Scheduler;
use lifeboat::steps::StepEnv;
use lifeboat::store::SledStore;

use crate::support::http::{HttpServer, Reply};
use crate::support::{App, TestConfig, spawn_app};

const HOUR: u64 = 3600;

const RUNBOOK: &str = r#"
name = "failover-hosting"
title = "Fail over hosting"
workstream = "hosting"

[[steps]]
id = "scale"
kind = "wait"
with = { duration = "1s" }
timeout = "10m"

[[steps]]
id = "backup-age"
kind = "backup_check"
with = { url = "${vars.backup_url}", time_pointer = "/latest/completed_at" }
timeout = "5s"

[[steps]]
id = "restore"
kind = "wait"
with = { duration = "1s" }
timeout = "90m"

[[steps]]
id = "dns"
kind = "wait"
with = { duration = "1s" }
timeout = "30m"
"#;

/// The app in process (chat recorder, simulated AWS) with the RUNBOOK above, Heroku's
/// provider, and the roles by name; the scheduler loop is started by the test, on its clock.
struct Bench {
    app: App,
}

impl std::ops::Deref for Bench {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

impl Bench {
    /// `schedule` is the `[schedule]` section; `backup_url` goes into `[vars]`.
    async fn new(schedule: serde_json::Value, backup_url: &str) -> Self {
        let config = TestConfig::minimal()
            .set("access.responders", ["responder"])
            .set("access.approvers", ["approver"])
            .provider("heroku", "hosting", Some("failover-hosting"))
            .set("schedule", schedule)
            .var("backup_url", backup_url)
            .runbook(RUNBOOK);
        Bench {
            app: spawn_app(config).start().await,
        }
    }

    /// What every bot and scheduler of the bench acts through.
    fn env(&self) -> StepEnv {
        self.engine.env().clone()
    }

    fn bot(&self) -> Bot {
        Bot::new(
            self.config.clone(),
            self.runbooks.clone(),
            Engine::new(self.env(), self.store.clone()),
            self.store.clone(),
        )
    }

    /// Starts a scheduler loop over the bench's log; dropping or sending on the returned
    /// sender stops it.
    fn start(&self, clock: Arc<dyn Clock>) -> Running {
        let scheduler =
            Scheduler::new(self.env(), self.runbooks.clone(), self.store.clone(), clock).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(scheduler.run(async move {
            let _ = stopped.await;
        }));
        Running { stop, task }
    }

    fn kinds(&self, kind: &str) -> Vec<serde_json::Value> {
        self.store
            .all()
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.data)
            .collect()
    }

    fn posts_containing(&self, needle: &str) -> Vec<Message> {
        self.chat()
            .posts()
            .into_iter()
            .filter(|m| m.content.contains(needle))
            .collect()
    }
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the scheduler stops when asked")
            .unwrap();
    }
}

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

async fn sleep_secs(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

/// A Heroku alert (the first signal) and a declaration from its button; the incident's
/// thread is opened when `thread`.
async fn heroku_incident_in(bench: &Bench, thread: bool) -> (String, Option<ChannelId>) {
    bench
        .store
        .append(NewEvent::new(
            Actor::Bot,
            "alert.posted",
            json!({ "provider": "heroku", "alert_id": "heroku-1", "level": "major_outage", "confirmed": true }),
        ))
        .unwrap();
    let bot = bench.bot();
    let reply = bot
        .handle(
            Command::IncidentDeclare {
                title: "Heroku down".into(),
                severity: None,
                commander: Some("carol".into()),
                alert: Some("heroku-1".into()),
            },
            &person("alice", &["responder"]),
        )
        .await;
    assert!(
        reply
            .message
            .content
            .contains("(sev1, commander carol, affects hosting)"),
        "{}",
        reply.message.content
    );
    let id = bench
        .store
        .all()
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "incident.declared")
        .and_then(|e| e.incident)
        .expect("the incident was declared")
        .to_string();
    let thread = if thread {
        bot.open_thread(None).await
    } else {
        None
    };
    (id, thread)
}

async fn heroku_incident(bench: &Bench) -> String {
    heroku_incident_in(bench, false).await.0
}

/// The channels the posts containing `needle` went to.
fn channels_of(bench: &Bench, needle: &str) -> Vec<ChannelId> {
    bench
        .chat()
        .all()
        .into_iter()
        .filter_map(|r| match r {
            lifeboat::chat::recorder::Recorded::Posted { at, message }
                if message.content.contains(needle) =>
            {
                Some(at.channel)
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn checkpoints_are_posted_at_50_75_90_100_percent_once_each_even_across_a_restart() {
    let bench = Bench::new(json!({}), "http://127.0.0.1:9/unused").await;
    let (incident, thread) = heroku_incident_in(&bench, true).await;
    let thread = thread.expect("the incident has a thread");
    // One wall clock for the whole test: a restarted scheduler reads the same time.
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
    let checkpoints = |b: &Bench| b.posts_containing("RTO").len();

    let running = bench.start(clock.clone());
    sleep_secs(2 * HOUR - 60).await;
    assert_eq!(checkpoints(&bench), 0, "nothing before 50 %");
    sleep_secs(120).await;
    let posts = bench.posts_containing("RTO clock at 50%");
    assert_eq!(posts.len(), 1, "{:?}", bench.chat().posts());
    let first = &posts[0].content;
    assert!(
        first.starts_with(&format!(
            "⏱ {incident}: hosting RTO clock at 50% — 2h 00m of 4h 00m since the first signal, 2h 00m left."
        )),
        "{first}"
    );
    // Nothing ran yet: every step counts at its timeout (10m + 5s + 90m + 30m).
    assert!(
        first.contains(
            "forecast: does NOT fit: 10m 05s over the budget (4 steps left, about 2h 10m, done at 4h 10m of 4h 00m; 4 of them never ran, counted at their timeouts)"
        ),
        "{first}"
    );

    // A restart between checkpoints: the new scheduler reads what was posted.
    running.stop().await;
    let running = bench.start(clock.clone());
    sleep_secs(10 * 60).await;
    assert_eq!(checkpoints(&bench), 1, "not re-posted after a restart");

    sleep_secs(HOUR - 10 * 60).await; // 3h + 1m
    assert_eq!(bench.posts_containing("RTO clock at 75%").len(), 1);
    sleep_secs(36 * 60).await; // 3h 37m
    assert_eq!(bench.posts_containing("RTO clock at 90%").len(), 1);
    assert_eq!(checkpoints(&bench), 3);
    sleep_secs(24 * 60).await; // 4h 01m
    let spent = bench.posts_containing("RTO budget of 4h 00m is spent");
    assert_eq!(spent.len(), 1, "{:?}", bench.chat().posts());
    sleep_secs(3 * HOUR).await;
    assert_eq!(checkpoints(&bench), 4, "each checkpoint exactly once");
    assert_eq!(
        channels_of(&bench, "RTO"),
        vec![thread; 4],
        "checkpoints go to the incident's thread"
    );
    running.stop().await;

    // A scheduler started long after, over the same log, posts nothing again.
    let running = bench.start(clock.clone());
    sleep_secs(HOUR).await;
    running.stop().await;
    assert_eq!(checkpoints(&bench), 4);
    let logged: Vec<u64> = bench
        .kinds("clock.checkpoint")
        .iter()
        .map(|d| d["percent"].as_u64().unwrap())
        .collect();
    assert_eq!(logged, [50, 75, 90, 100]);
    assert!(
        bench
            .kinds("clock.checkpoint")
            .iter()
            .all(|d| d["workstream"] == "hosting" && d["delivery"]["delivered"] == true)
    );
}

/// A chat that refuses a post: the reminder or checkpoint is logged as failed (not as done),
/// retried on the next pass, then posted and logged exactly once.
#[tokio::test(start_paused = true)]
async fn a_failed_post_is_retried_on_the_next_pass_and_counted_only_once_delivered() {
    let bench = Bench::new(json!({}), "http://127.0.0.1:9/unused").await;
    let incident = heroku_incident(&bench).await;
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
    // The first pass posts both reminders (nothing on record): the first post fails.
    bench.chat().fail_next_posts(1);
    let running = bench.start(clock.clone());
    sleep_secs(30).await;
    let failed = bench.kinds("reminder.failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["reminder"], "drill");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("the test chat refused this post"),
        "{failed:?}"
    );
    assert!(bench.posts_containing("DR drill due").is_empty());
    assert_eq!(bench.posts_containing("DR plan review due").len(), 1);
    sleep_secs(60).await;
    assert_eq!(
        bench.posts_containing("DR drill due").len(),
        1,
        "retried on the next pass"
    );
    assert_eq!(bench.kinds("reminder.posted").len(), 2);

    // The 50 % checkpoint's first post fails too.
    bench.chat().fail_next_posts(1);
    sleep_secs(2 * HOUR - 60).await; // 2h 00m 30s
    assert!(bench.posts_containing("RTO clock at 50%").is_empty());
    assert!(bench.kinds("clock.checkpoint").is_empty(), "not counted");
    let failed = bench.kinds("clock.checkpoint_failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        (
            failed[0]["workstream"].clone(),
            failed[0]["percents"].clone()
        ),
        (json!("hosting"), json!([50]))
    );
    // A restart before the retry changes nothing: the failure counted for nothing.
    running.stop().await;
    let running = bench.start(clock.clone());
    sleep_secs(60).await;
    let posts = bench.posts_containing("RTO clock at 50%");
    assert_eq!(posts.len(), 1, "{:?}", bench.chat().posts());
    assert!(posts[0].content.starts_with(&format!("⏱ {incident}:")));
    sleep_secs(30 * 60).await;
    running.stop().await;
    assert_eq!(bench.posts_containing("RTO").len(), 1, "posted once");
    let logged = bench.kinds("clock.checkpoint");
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0]["percent"], 50);
    assert_eq!(logged[0]["delivery"]["delivered"], true);
    assert_eq!(bench.kinds("clock.checkpoint_failed").len(), 1);
    assert_eq!(bench.kinds("reminder.failed").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_recovered_workstream_stops_its_clock_and_status_shows_the_achieved_rto() {
    let bench = Bench::new(json!({}), "http://127.0.0.1:9/unused").await;
    let incident = heroku_incident(&bench).await;
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
    let running = bench.start(clock.clone());
    sleep_secs(2 * HOUR + 60).await;
    assert_eq!(bench.posts_containing("RTO clock at 50%").len(), 1);

    // The runbook ran and its verification passed (recorded as the engine records it).
    let run = lifeboat::domain::RunId::from("RUN-test-failover");
    let on_run = |kind: &str, data: serde_json::Value| {
        NewEvent::new(Actor::Bot, kind, data).run(run.clone())
    };
    bench
        .store
        .append_batch(vec![
            on_run(
                "run.started",
                json!({"runbook": "failover-hosting", "workstream": "hosting", "params": {}}),
            )
            .incident(lifeboat::domain::IncidentId(incident.clone())),
            on_run(
                "step.succeeded",
                json!({"step": "backup-age", "kind": "backup_check", "output": {"age_secs": 1500}}),
            ),
            on_run("run.succeeded", json!({})),
        ])
        .unwrap();
    sleep_secs(3 * HOUR).await;
    running.stop().await;
    assert_eq!(
        bench.posts_containing("RTO").len(),
        1,
        "a recovered clock posts no more checkpoints"
    );

    let bot = bench.bot();
    let alice = person("alice", &["responder"]);
    let status = bot.handle(command("/incident status"), &alice).await;
    let text = &status.message.content;
    assert!(
        text.contains("Heroku down — recovered, sev1, commander carol"),
        "{text}"
    );
    assert!(text.contains("recovered — RTO met"), "{text}");
    assert!(
        text.contains("RPO: backup 25m 00s old at restore, objective 1h 00m (met)"),
        "{text}"
    );
}

#[tokio::test]
async fn the_lifecycle_through_the_bot_and_dr_status() {
    let bench = Bench::new(json!({}), "http://127.0.0.1:9/unused").await;
    let bot = bench.bot();
    let alice = person("alice", &["responder"]);
    bench
        .store
        .append(NewEvent::new(
            Actor::Feed {
                name: "heroku-status".into(),
            },
            "feed.outage",
            json!({ "provider": "heroku", "to": "major_outage" }),
        ))
        .unwrap();

    let refused = bot
        .handle(command("/incident declare x"), &person("mallory", &[]))
        .await;
    assert!(refused.message.content.contains("needs the responder role"));
    // Exporting posts the post-mortem into the incident thread: a responder's call too.
    let refused = bot
        .handle(command("/timeline export md"), &person("mallory", &[]))
        .await;
    assert!(refused.ephemeral);
    assert_eq!(
        refused.message.content,
        "Refused: `/timeline export` needs the responder role."
    );
    assert_eq!(
        bench
            .kinds("command.refused")
            .iter()
            .map(|d| d["command"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>(),
        ["incident declare", "timeline export"]
    );

    let declared = bot
        .handle(
            command("/incident declare Checkout errors --sev sev2 --commander dan"),
            &alice,
        )
        .await;
    assert!(
        declared
            .message
            .content
            .contains("Checkout errors (sev2, commander dan)"),
        "{}",
        declared.message.content
    );
    let status = bot.handle(command("/incident status"), &alice).await;
    assert!(
        status
            .message
            .content
            .contains("Checkout errors — declared, sev2, commander dan"),
        "{}",
        status.message.content
    );

    let early = bot.handle(command("/incident review"), &alice).await;
    assert!(early.ephemeral);
    assert!(
        early.message.content.contains("still open: resolve it"),
        "{early:?}"
    );

    let dr = bot.handle(command("/dr status"), &alice).await;
    let text = &dr.message.content;
    assert!(
        text.contains("heroku (hosting): major_outage since"),
        "{text}"
    );
    assert!(text.contains("Checkout errors — declared"), "{text}");

    bot.handle(command("/incident note DNS TTL was 1h --lesson"), &alice)
        .await;
    bot.handle(command("/incident resolve"), &alice).await;
    let reviewed = bot.handle(command("/incident review"), &alice).await;
    assert!(!reviewed.ephemeral);
    assert!(
        reviewed
            .message
            .content
            .contains("reviewed by alice (1 lesson on record)"),
        "{}",
        reviewed.message.content
    );
    let again = bot.handle(command("/incident review"), &alice).await;
    assert!(
        again.message.content.contains("no resolved incident"),
        "{again:?}"
    );
    assert_eq!(bench.kinds("incident.reviewed").len(), 1);
    let dr = bot.handle(command("/dr status"), &alice).await;
    assert!(
        dr.message.content.contains("incidents: none open"),
        "{}",
        dr.message.content
    );

    let plan = bot
        .handle(command("/dr reviewed nothing changed"), &alice)
        .await;
    assert!(
        plan.message
            .content
            .contains("DR plan review recorded by alice")
    );
    assert_eq!(bench.kinds("plan.reviewed")[0]["note"], "nothing changed");
}

#[tokio::test(start_paused = true)]
async fn reminders_are_posted_when_due_once_per_period_across_restarts() {
    let bench = Bench::new(
        json!({ "drill_every": "2h", "review_every": "3h" }),
        "http://127.0.0.1:9/unused",
    )
    .await;
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
    // A drill that met its objectives, in a `drill-*` log beside the live one (as `/drill
    // start` and `lifeboat drill` leave it); a request and a drill that missed its RTO, in
    // the live log, count for nothing.
    {
        let drill_log = SledStore::open(&bench.config.store.data_dir.join("drill-1")).unwrap();
        drill_log
            .append(finished("failover-hosting", true))
            .unwrap();
    }
    bench
        .store
        .append(NewEvent::new(
            Actor::Scheduler,
            "drill.requested",
            json!({}),
        ))
        .unwrap();
    bench
        .bot()
        .handle(command("/dr reviewed"), &person("dana", &["responder"]))
        .await;
    bench
        .store
        .append(finished("failover-hosting", false))
        .unwrap();

    let running = bench.start(clock.clone());
    sleep_secs(HOUR).await;
    assert!(
        bench.posts_containing("due").is_empty(),
        "nothing is due yet"
    );
    // The loop ticks every minute from its start: check between ticks, not on one.
    sleep_secs(HOUR + 90).await; // 2h 01m 30s
    let drill = bench.posts_containing("DR drill due");
    assert_eq!(
        drill.len(),
        1,
        "{:?} {:?}",
        bench.chat().posts(),
        bench.store.all().unwrap()
    );
    assert!(
        drill[0]
            .content
            .contains("the last drill of failover-hosting that met its objectives was on"),
        "{}",
        drill[0].content
    );
    assert!(bench.posts_containing("plan review due").is_empty());
    running.stop().await;

    let running = bench.start(clock.clone());
    sleep_secs(HOUR).await; // 3h 01m 30s
    assert_eq!(
        bench.posts_containing("DR drill due").len(),
        1,
        "once per period"
    );
    let review = bench.posts_containing("DR plan review due");
    assert_eq!(
        review.len(),
        1,
        "{:?} {:?}",
        bench.chat().posts(),
        bench.store.all().unwrap()
    );
    assert!(
        review[0].content.contains("by dana"),
        "{}",
        review[0].content
    );
    sleep_secs(HOUR).await; // 4h 01m 30s: a whole drill period later
    assert_eq!(bench.posts_containing("DR drill due").len(), 2);
    running.stop().await;
    let logged = bench.kinds("reminder.posted");
    assert_eq!(logged.len(), 3, "{logged:?}");

    // A fresh log has neither: both are posted at once, once.
    let empty = Bench::new(json!({}), "http://127.0.0.1:9/unused").await;
    let running = empty.start(clock.clone());
    sleep_secs(HOUR).await;
    running.stop().await;
    assert_eq!(
        empty
            .posts_containing("no drill that met its objectives on record")
            .len(),
        1
    );
    assert_eq!(empty.posts_containing("no review on record").len(), 1);
    drop(bench);
}

/// `/drill start both` from chat on the shipped config: the drill's log is kept under
/// `<data_dir>/drill-*` with its `drill.finished`, recorded as automatic; the scheduler reads
/// it, but an automatic drill does not count as the plan's drill, so the drill reminder is due
/// (as is the plan review, never recorded).
#[tokio::test]
async fn a_drill_started_from_chat_is_kept_beside_the_log_and_read_but_not_counted_by_the_reminder()
{
    // The shipped config and runbooks, the log under the app's temp dir; the bot can start
    // drills, as in `lifeboat run`.
    let app = spawn_app(TestConfig::shipped()).start().await;
    let data = app.config.store.data_dir.clone();
    let (bot, store, chat) = (&app.bot, &app.store, app.chat());
    let reply = bot
        .handle(
            command("/drill start both"),
            &person("alice", &["responder"]),
        )
        .await;
    assert!(
        reply
            .message
            .content
            .contains("DRILL both started by alice"),
        "{}",
        reply.message.content
    );
    tokio::time::timeout(
        Duration::from_secs(120),
        chat.wait_for(|log| {
            log.iter()
                .any(|r| matches!(r, lifeboat::chat::recorder::Recorded::Attached { .. }))
        }),
    )
    .await
    .expect("the drill's report was posted");
    let finished = chat
        .all()
        .into_iter()
        .find_map(|r| match r {
            lifeboat::chat::recorder::Recorded::Attached { message, .. } => Some(message),
            _ => None,
        })
        .unwrap();
    assert!(
        finished.content.starts_with("🧪 DRILL both finished"),
        "{}",
        finished.content
    );

    // The drill's log is kept, beside the live one, and the request names it.
    let drills: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("drill-")
        })
        .collect();
    assert_eq!(drills.len(), 1, "{drills:?}");
    let requested = store
        .all()
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "drill.requested")
        .unwrap();
    assert_eq!(requested.data["log"], drills[0].display().to_string());
    let kept = SledStore::open(&drills[0]).unwrap().all().unwrap();
    let records = lifeboat::drill::history::drills_from_events(&kept);
    assert_eq!(records.len(), 1);
    assert!(
        records[0].results.len() == 2 && records[0].results.iter().all(|r| r.met()),
        "{records:?}"
    );
    assert!(
        !store
            .all()
            .unwrap()
            .iter()
            .any(|e| e.kind == "drill.finished"),
        "the live log has only the request"
    );

    // A fully automatic drill on the simulation, recorded so: it does not count.
    assert_eq!(records[0].mode, lifeboat::events::DrillMode::Automatic);
    assert!(!records[0].real_aws && !records[0].counts(), "{records:?}");

    // The scheduler reads it, but only a game day or a drill against real AWS resets the
    // drill reminder: both reminders are due.
    let scheduler = Scheduler::new(
        app.engine.env().clone(),
        app.runbooks.clone(),
        store.clone(),
        Arc::new(TokioClock::new()),
    )
    .unwrap();
    scheduler.tick().await;
    let posts: Vec<String> = chat.posts().into_iter().map(|m| m.content).collect();
    assert!(
        posts.iter().any(|p| p.contains("DR plan review due")),
        "{posts:?}"
    );
    assert!(
        posts.iter().any(|p| p.contains("DR drill due")),
        "an automatic drill does not count: {posts:?}"
    );
}

/// A finished game day of one protocol, as `src/drill` logs it (only a game day or a drill
/// against real AWS resets the drill reminder).
fn finished(runbook: &str, met: bool) -> NewEvent {
    NewEvent::new(
        Actor::Scheduler,
        "drill.finished",
        json!({ "results": [{ "provider": "heroku", "runbook": runbook, "run": "RUN-d",
            "status": "succeeded", "rto_met": met, "rpo_met": true }], "mode": "gameday" }),
    )
}

fn backup_json(age: Duration) -> Reply {
    let at = chrono::Utc::now() - chrono::Duration::from_std(age).unwrap();
    Reply::json(format!(
        r#"{{"latest":{{"completed_at":"{}"}}}}"#,
        at.to_rfc3339()
    ))
}

/// Real time: a paused clock and real sockets do not mix (the runtime would jump to the
/// check's own timeout while the server answers).
#[tokio::test]
async fn the_rpo_watch_alerts_once_per_breach_against_a_local_backup_endpoint() {
    let server = HttpServer::start();
    server.reply("/backups", backup_json(Duration::from_secs(90 * 60)));
    let bench = Bench::new(
        json!({ "rpo_watch_every": "50ms", "rpo_watch_runbook": "failover-hosting" }),
        &server.url("/backups"),
    )
    .await;
    // The first pass posts the two reminders, then the first alert: all three posts fail.
    // The alert is logged as `rpo.alert_failed`, not as a breach, so the next check alerts
    // again.
    bench.chat().fail_next_posts(3);
    let running = bench.start(Arc::new(TokioClock::new()));
    let wait = |needle: &'static str, n: usize| {
        let chat = bench.chat().clone();
        async move {
            tokio::time::timeout(
                Duration::from_secs(10),
                chat.wait_for(|log| {
                    log.iter()
                        .filter(|r| {
                            matches!(r, lifeboat::chat::recorder::Recorded::Posted { message, .. } if message.content.contains(needle))
                        })
                        .count()
                        >= n
                }),
            )
            .await
            .unwrap_or_else(|_| panic!("no {n}× `{needle}` posted"));
        }
    };

    wait("RPO breach", 1).await;
    let failed = bench.kinds("rpo.alert_failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["effect"], "rpo.breached");
    assert_eq!(bench.kinds("reminder.failed").len(), 2);
    let breach = &bench.posts_containing("RPO breach")[0].content;
    assert!(
        breach.contains("the latest backup is 1h 30m old")
            && breach.contains("older than the RPO of 1h 00m"),
        "{breach}"
    );
    // Many more checks, still one alert; an unreadable status does not end the breach.
    let hits = server.hits("/backups");
    server.reply("/backups", Reply::status(503));
    // At least three more checks, however slowly a loaded machine schedules them.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.hits("/backups") < hits + 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the watch keeps checking: {} checks after the status broke",
            server.hits("/backups") - hits
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(bench.posts_containing("RPO breach").len(), 1);
    assert_eq!(bench.kinds("rpo.breached").len(), 1);

    server.reply("/backups", backup_json(Duration::from_secs(5 * 60)));
    wait("within the RPO again", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bench.posts_containing("within the RPO again").len(), 1);

    // A new breach is a new alert.
    server.reply("/backups", backup_json(Duration::from_secs(3 * HOUR)));
    wait("RPO breach", 2).await;
    running.stop().await;
    assert_eq!(bench.kinds("rpo.breached").len(), 2);
    assert_eq!(bench.kinds("rpo.recovered").len(), 1);
    assert_eq!(
        bench.kinds("rpo.breached")[1]["age_secs"]
            .as_u64()
            .map(|a| a / 60),
        Some(180)
    );

    // A restart in the middle of a breach does not repeat the alert.
    let running = bench.start(Arc::new(TokioClock::new()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.stop().await;
    assert_eq!(bench.posts_containing("RPO breach").len(), 2);
}

#[tokio::test]
async fn a_misconfigured_rpo_watch_is_refused_at_start() {
    let bench = Bench::new(
        json!({ "rpo_watch_every": "15m", "rpo_watch_runbook": "nope" }),
        "http://127.0.0.1:9/unused",
    )
    .await;
    let err = Scheduler::new(
        bench.env(),
        bench.runbooks.clone(),
        bench.store.clone(),
        Arc::new(TokioClock::new()),
    )
    .err()
    .expect("an unknown runbook is refused");
    assert_eq!(
        err.to_string(),
        "[schedule] rpo_watch_runbook: no runbook `nope` (known: failover-hosting)"
    );
    let bench = Bench::new(
        json!({ "rpo_watch_every": "15m" }),
        "http://127.0.0.1:9/unused",
    )
    .await;
    let err = Scheduler::new(
        bench.env(),
        Vec::new(),
        bench.store.clone(),
        Arc::new(TokioClock::new()),
    )
    .err()
    .expect("no backup_check anywhere is refused");
    assert!(
        err.to_string()
            .contains("no runbook has a backup_check step")
    );
}

/// `/dr status` mid-incident: the provider's level, the incident with its workstream and its
/// running RTO clock (and forecast), the runbook running for it and one running for no
/// incident, and the RPO watch's breach.
#[tokio::test]
async fn dr_status_shows_the_running_clock_runs_and_the_rpo_watch() {
    let bench = Bench::new(json!({}), "http://127.0.0.1:9/unused").await;
    bench
        .store
        .append(NewEvent::new(
            Actor::Feed {
                name: "heroku-status".into(),
            },
            "feed.outage",
            json!({ "provider": "heroku", "to": "major_outage" }),
        ))
        .unwrap();
    let id = heroku_incident(&bench).await;
    let engine = Engine::new(bench.env(), bench.store.clone());
    let hosting = engine
        .start(
            &bench.runbooks[0],
            BTreeMap::new(),
            Some(lifeboat::domain::IncidentId::from(id.as_str())),
            Actor::Bot,
        )
        .unwrap();
    let path = bench.dir.path().join("slow-llm.toml");
    std::fs::write(
        &path,
        "name = \"slow-llm\"\ntitle = \"Slow\"\nworkstream = \"llm\"\n\n[[steps]]\nid = \"wait\"\nkind = \"wait\"\nwith = { duration = \"30s\" }\n",
    )
    .unwrap();
    let slow = load_file(&path, &bench.config).unwrap();
    let other = engine
        .start(&slow, BTreeMap::new(), None, Actor::Bot)
        .unwrap();
    bench
        .store
        .append(NewEvent::new(
            Actor::Scheduler,
            "rpo.breached",
            json!({ "age_secs": 7200 }),
        ))
        .unwrap();

    let dr = bench
        .bot()
        .handle(command("/dr status"), &person("alice", &["responder"]))
        .await;
    let text = &dr.message.content;
    assert!(dr.ephemeral, "a status is for the one who asked");
    assert!(
        text.contains("heroku (hosting): major_outage since"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "incident {id}: Heroku down — mitigating, sev1, commander carol\n"
        )),
        "{text}"
    );
    assert!(text.contains("workstreams: hosting\n"), "{text}");
    assert!(
        text.contains(&format!(
            "run {} (failover-hosting): running\n",
            hosting.run
        )),
        "{text}"
    );
    // The hosting clock runs from the first signal, a moment ago, against 4 h.
    let clock = text
        .lines()
        .find(|l| l.starts_with("clock hosting: "))
        .unwrap_or_else(|| panic!("no hosting clock in\n{text}"));
    assert!(clock.contains(" / 4h 00m (0%)"), "{clock}");
    assert!(clock.contains("; "), "the clock has a forecast: {clock}");
    assert!(
        text.contains(&format!("\nrun {} (slow-llm): running\n", other.run)),
        "{text}"
    );
    assert!(
        text.ends_with("RPO watch: BREACHED (latest backup older than the RPO)\n"),
        "{text}"
    );
    engine.begin_shutdown();
    engine.cancel(&other.run, Actor::Bot).unwrap();
    engine.cancel(&hosting.run, Actor::Bot).unwrap();
}

/// `/dr status` typed into `lifeboat run --console` (the real binary's command loop) over a
/// log with an outage, an open incident and a breached RPO watch.
#[test]
fn dr_status_through_the_console_command_loop() {
    let seed = |store: &SledStore| {
        store
            .append(NewEvent::new(
                Actor::Feed {
                    name: "heroku-status".into(),
                },
                "feed.outage",
                json!({ "provider": "heroku", "to": "major_outage" }),
            ))
            .unwrap();
        store
            .append(
                NewEvent::new(
                    Actor::User {
                        id: "1".into(),
                        name: "alice".into(),
                    },
                    "incident.declared",
                    json!({ "title": "Heroku down", "severity": "sev1", "commander": "carol", "workstreams": ["hosting"] }),
                )
                .incident(lifeboat::domain::IncidentId::from("INC-20260101-000000")),
            )
            .unwrap();
        store
            .append(NewEvent::new(
                Actor::Scheduler,
                "rpo.breached",
                json!({ "age_secs": 7200 }),
            ))
            .unwrap();
    };
    let mut bot = spawn_app(TestConfig::minimal().provider("heroku", "hosting", None))
        .seed(seed)
        .patience(Duration::from_secs(30))
        .binary();
    bot.say("/dr status");
    bot.wait_for("RPO watch");
    let text = bot.seen().join("\n");
    bot.kill();
    for line in [
        "providers:",
        "  heroku (hosting): major_outage since",
        "incident INC-20260101-000000: Heroku down — declared, sev1, commander carol",
        "workstreams: hosting",
        "clock hosting: ",
        "RPO watch: BREACHED (latest backup older than the RPO)",
    ] {
        assert!(
            text.contains(line),
            "`{line}` missing from the console:\n{text}"
        );
    }
}

/// `/drill start` from chat runs inside the live bot: with `[aws] endpoint_url` set (a VPC
/// endpoint reaches the real account) and the live mode, the drill still uses the simulated
/// AWS — no connection reaches the endpoint, and the drill meets its objectives.
#[tokio::test]
async fn a_chat_drill_never_uses_the_configured_aws_endpoint() {
    let endpoint = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint_url = format!("http://{}", endpoint.local_addr().unwrap());
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for stream in endpoint.incoming() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    // The shipped config in live mode at that endpoint: the bot's own steps would reach it.
    let app = spawn_app(
        TestConfig::shipped()
            .set("aws.mode", "live")
            .set("aws.endpoint_url", endpoint_url),
    )
    .start()
    .await;
    let data = app.config.store.data_dir.clone();
    let (bot, chat) = (&app.bot, app.chat());
    bot.handle(
        command("/drill start both"),
        &person("alice", &["responder"]),
    )
    .await;
    tokio::time::timeout(
        Duration::from_secs(120),
        chat.wait_for(|log| {
            log.iter()
                .any(|r| matches!(r, lifeboat::chat::recorder::Recorded::Attached { .. }))
        }),
    )
    .await
    .expect("the drill's report was posted");
    let finished = chat
        .all()
        .into_iter()
        .find_map(|r| match r {
            lifeboat::chat::recorder::Recorded::Attached { message, .. } => Some(message),
            _ => None,
        })
        .unwrap();
    assert!(
        finished.content.starts_with("🧪 DRILL both finished"),
        "{}",
        finished.content
    );
    let drill_log = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("drill-")
        })
        .unwrap();
    let records = lifeboat::drill::history::drills_from_events(
        &SledStore::open(&drill_log).unwrap().all().unwrap(),
    );
    assert!(
        records.len() == 1 && records[0].results.iter().all(|r| r.met()),
        "{records:?}"
    );
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the drill reached the configured AWS endpoint"
    );
}
