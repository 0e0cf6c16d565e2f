//! The bot's status views built from big logs: `/dr status`, `/incident status` and
//! `/runbook status`, and the bot's restore on start (pending requests, the open incident),
//! each through `Bot::handle` / `Bot::new` as the Discord handler calls them.
//!
//! The log is generated the way a long-lived bot fills it: incidents one after another (a
//! provider's feed turns bad, an alert, the declaration, a run requested, approved and carried
//! out step by step, many notes, recovery, resolution), with feed flaps that belong to no
//! incident in between; the last incident is still open with its run in progress. Events are
//! written with batch appends (1,000 per flush) so a 1M-event log takes seconds, not hours.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeboat::approval::Person;
use lifeboat::aws::SimulatedAws;
use lifeboat::chat::bot::Bot;
use lifeboat::chat::command::Command;
use lifeboat::chat::recorder::RecordingChat;
use lifeboat::config::Config;
use lifeboat::domain::event::NewEvent;
use lifeboat::domain::{Actor, IncidentId, RunId};
use lifeboat::engine::Engine;
use lifeboat::ports::aws::AwsEdges;
use lifeboat::ports::chat::ChannelId;
use lifeboat::ports::store::EventStore;
use lifeboat::runbook::Runbook;
use lifeboat::steps::StepEnv;
use lifeboat::store::SledStore;
use serde_json::{Value, json};

/// Events per incident cycle; a 1M-event log holds 2,000 incidents.
const CYCLE: u64 = 500;
/// The steps of the shipped `failover-hosting` runbook that each generated run goes through.
const STEPS: [&str; 10] = [
    "confirm-scope",
    "scale-standby",
    "copy-data",
    "restore",
    "verify-data",
    "point-dns",
    "dns-insync",
    "smoke",
    "notify-engineering",
    "notify-support",
];

fn sizes() -> Vec<u64> {
    std::env::var("LIFEBOAT_BENCH_LOG_SIZES")
        .unwrap_or_else(|_| "10000,100000,1000000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

fn user(n: u64) -> Actor {
    Actor::User {
        id: format!("30000000000000000{}", n % 3),
        name: ["alice", "bob", "carol"][(n % 3) as usize].into(),
    }
}

fn person(n: u64) -> Value {
    let name = ["alice", "bob", "carol"][(n % 3) as usize];
    json!({ "id": format!("30000000000000000{}", n % 3), "name": name, "roles": [] })
}

fn feed(provider: &str, from: &str, to: &str) -> NewEvent {
    NewEvent::new(
        Actor::Feed {
            name: format!("{provider}-status"),
        },
        "feed.observed",
        json!({ "provider": provider, "from": from, "to": to,
                "summary": format!("{provider} reports {to}"), "reason": null }),
    )
}

fn settled(kind: &str, provider: &str, from: &str, to: &str) -> NewEvent {
    NewEvent::new(
        Actor::Feed {
            name: format!("{provider}-status"),
        },
        kind,
        json!({ "provider": provider, "from": from, "to": to }),
    )
}

/// One incident's events, `CYCLE` of them; `open` leaves it unresolved with its run going.
fn cycle(i: u64, open: bool) -> Vec<NewEvent> {
    let inc = IncidentId(format!("INC-20260101-{i:06}"));
    let run = RunId(format!("RUN-{i:06}"));
    let request = format!("REQ-{i:06}");
    let alert = format!("A{i}");
    let mut out = vec![
        feed("heroku", "operational", "major_outage"),
        settled("feed.outage", "heroku", "operational", "major_outage"),
        NewEvent::new(
            Actor::Bot,
            "alert.posted",
            json!({ "alert_id": alert, "provider": "heroku", "level": "major_outage", "confirmed": true,
                    "sources": ["heroku-status"], "incidents": [], "message": null }),
        ),
        NewEvent::new(
            user(i),
            "incident.declared",
            json!({ "title": format!("Heroku outage {i}"), "severity": "sev1", "commander": "alice",
                    "workstreams": ["hosting"], "providers": ["heroku"], "alert": alert }),
        )
        .incident(inc.clone()),
        NewEvent::new(
            user(i),
            "run.requested",
            json!({ "request": request, "runbook": "failover-hosting", "detail": {
                "id": request, "runbook": "failover-hosting", "params": {}, "plan_hash": "ab12",
                "requester": person(i), "requested_at": "2026-01-01T00:00:00Z",
                "expires_at": "2026-01-01T00:30:00Z", "required": 1,
                "requester_may_approve": false, "approvals": [], "closed": false } }),
        )
        .incident(inc.clone()),
        NewEvent::new(
            user(i + 1),
            "run.approval_counted",
            json!({ "request": request, "by": person(i + 1) }),
        )
        .incident(inc.clone()),
        NewEvent::new(
            user(i + 1),
            "run.approved",
            json!({ "request": request, "runbook": "failover-hosting" }),
        )
        .incident(inc.clone()),
        NewEvent::new(
            Actor::Bot,
            "run.started",
            json!({ "runbook": "failover-hosting", "workstream": "hosting", "file_hash": "ab12",
                    "params": {}, "request": request }),
        )
        .incident(inc.clone())
        .run(run.clone()),
    ];
    let steps = if open { &STEPS[..4] } else { &STEPS[..] };
    for step in steps {
        out.push(
            NewEvent::new(
                Actor::Bot,
                "step.started",
                json!({ "step": step, "attempt": 1 }),
            )
            .incident(inc.clone())
            .run(run.clone()),
        );
        out.push(
            NewEvent::new(
                Actor::Bot,
                "step.succeeded",
                json!({ "step": step, "attempt": 1, "output": { "detail": format!("{step} done") }, "duration_ms": 1200 }),
            )
            .incident(inc.clone())
            .run(run.clone()),
        );
    }
    if !open {
        out.push(
            NewEvent::new(
                Actor::Bot,
                "run.succeeded",
                json!({ "duration_ms": 540_000 }),
            )
            .incident(inc.clone())
            .run(run.clone()),
        );
    }
    let tail = if open { 0 } else { 3 };
    let mut n = 0;
    while (out.len() as u64) < CYCLE - tail {
        n += 1;
        // Other providers flap now and then, outside any incident (no incident id).
        if n % 40 == 0 {
            let (from, to) = if n % 80 == 0 {
                ("degraded", "operational")
            } else {
                ("operational", "degraded")
            };
            out.push(feed("openai", from, to));
            continue;
        }
        out.push(
            NewEvent::new(
                user(n),
                "note.added",
                json!({ "text": format!("Note {n}: checked the standby dashboards, error rate at {}%, waiting on the provider", n % 17), "lesson": n % 97 == 0 }),
            )
            .incident(inc.clone()),
        );
    }
    if !open {
        out.push(feed("heroku", "major_outage", "operational"));
        out.push(settled(
            "feed.recovered",
            "heroku",
            "major_outage",
            "operational",
        ));
        out.push(NewEvent::new(user(i), "incident.resolved", json!({})).incident(inc));
    }
    out
}

/// Fills `store` with `size` events (rounded to whole incidents), 1,000 per batch append.
fn fill(store: &SledStore, size: u64) {
    let incidents = (size / CYCLE).max(1);
    let mut pending = Vec::with_capacity(1_000);
    for i in 0..incidents {
        pending.extend(cycle(i, i + 1 == incidents));
        if pending.len() >= 1_000 {
            store.append_batch(std::mem::take(&mut pending)).unwrap();
        }
    }
    if !pending.is_empty() {
        store.append_batch(pending).unwrap();
    }
}

fn config() -> (Arc<Config>, Vec<Runbook>) {
    let loaded =
        Config::load(Path::new("config/lifeboat.toml")).unwrap_or_else(|e| panic!("{e:#?}"));
    let config = Arc::new(loaded.config);
    let runbooks = lifeboat::runbook::load_dir(Path::new("commands"), &config);
    assert!(runbooks.errors.is_empty(), "{:#?}", runbooks.errors);
    (config, runbooks.runbooks)
}

fn bot(config: &Arc<Config>, runbooks: &[Runbook], store: Arc<SledStore>) -> Bot {
    let env = StepEnv {
        config: config.clone(),
        aws: AwsEdges::simulated(Arc::new(SimulatedAws::from_config(&config.aws))),
        http: lifeboat::ports::http::client(),
        chat: Arc::new(RecordingChat::new()),
        channel: ChannelId("bench".into()),
        answers: Arc::default(),
        secrets: Arc::new(BTreeMap::<String, String>::new()),
        llm: Arc::new(lifeboat::llm::HttpLlm::new(lifeboat::ports::http::client())),
        heroku: Arc::new(lifeboat::heroku::HerokuApi::new(
            lifeboat::ports::http::client(),
        )),
        clock: Arc::new(lifeboat::ports::clock::TokioClock::new()),
        comms: Default::default(),
        data: Default::default(),
    };
    let engine = Engine::new(env, store.clone());
    Bot::new(config.clone(), runbooks.to_vec(), engine, store)
}

/// Times `f` at least 3 times and for about a second (at most 30 times); the median.
fn time<T>(mut f: impl FnMut() -> T) -> Duration {
    let mut times = Vec::new();
    let started = Instant::now();
    while times.len() < 3 || (started.elapsed() < Duration::from_secs(1) && times.len() < 30) {
        let t = Instant::now();
        std::hint::black_box(f());
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

pub fn run() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let _entered = runtime.enter();
    let (config, runbooks) = config();
    let alice = Person {
        id: "300000000000000000".into(),
        name: "alice".into(),
        roles: vec!["200000000000000001".into()],
    };
    let mut queries = Vec::new();
    let mut whole = Vec::new();
    println!("status views through Bot::handle (median of ≥3 runs):");
    println!(
        "{:>9} | {:>10} | {:>12} | {:>16} | {:>15} | {:>15}",
        "events", "fill", "bot start", "/dr status", "/incident status", "/runbook status"
    );
    for size in sizes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(dir.path()).unwrap());
        let filled = Instant::now();
        fill(&store, size);
        let fill_time = filled.elapsed();
        let events = store.last().unwrap().map_or(0, |e| e.seq);
        let start = time(|| bot(&config, &runbooks, store.clone()));
        let bot = bot(&config, &runbooks, store.clone());
        let view =
            |command: fn() -> Command| time(|| runtime.block_on(bot.handle(command(), &alice)));
        let dr = view(|| Command::DrStatus);
        let incident = view(|| Command::IncidentStatus);
        let runbook = view(|| Command::RunbookStatus);
        println!(
            "{events:>9} | {:>10.2?} | {start:>12.2?} | {dr:>16.2?} | {incident:>15.2?} | {runbook:>15.2?}",
            fill_time
        );
        whole.push((events, dr, incident, whole_log(&store, &config, &runbooks)));
        queries.push((events, indexed_queries(&store, size)));
    }
    println!();
    println!("the same views built from the whole log, as before the indexes (median of ≥3 runs):");
    println!(
        "{:>9} | {:>22} | {:>22} | {:>22} | {:>22}",
        "events",
        "/dr status whole-log",
        "indexed (ratio)",
        "/incident status whole",
        "indexed (ratio)"
    );
    for (events, dr, incident, [dr_whole, incident_whole]) in whole {
        let ratio = |w: Duration, i: Duration| w.as_secs_f64() / i.as_secs_f64().max(1e-9);
        println!(
            "{events:>9} | {dr_whole:>22.2?} | {:>22} | {incident_whole:>22.2?} | {:>22}",
            format!("{dr:.2?} ({:.0}×)", ratio(dr_whole, dr)),
            format!("{incident:.2?} ({:.0}×)", ratio(incident_whole, incident)),
        );
    }
    println!();
    println!("the store's narrow queries on the same logs (median of ≥3 runs):");
    println!(
        "{:>9} | {:>22} | {:>24} | {:>26}",
        "events",
        "open incident's events",
        "open incidents and runs",
        "newest 50 feed/alert events"
    );
    for (events, [incident, filed, recent]) in queries {
        println!("{events:>9} | {incident:>22.2?} | {filed:>28.2?} | {recent:>27.2?}");
    }
}

/// `/dr status` and `/incident status` as they were built before the indexes: the whole log
/// read, then folded.
fn whole_log(store: &SledStore, config: &Config, runbooks: &[Runbook]) -> [Duration; 2] {
    let now = chrono::Utc::now();
    let dr = time(|| {
        let all = store.all().unwrap();
        lifeboat::status::dr_status(config, runbooks, &all, now)
    });
    let incident = time(|| {
        let all = store.all().unwrap();
        let open = lifeboat::incident::open(&all);
        let history =
            lifeboat::incident::StepHistory::from_runs(&lifeboat::runbook::state::fold(&all));
        open.iter()
            .map(|i| lifeboat::incident::status_text(i, config, runbooks, &history, now))
            .collect::<Vec<_>>()
    });
    [dr, incident]
}

/// What the views need from the log, read through the indexes: the open incident's events,
/// which incidents and runs are open (ids only), the newest feed and alert events.
fn indexed_queries(store: &SledStore, size: u64) -> [Duration; 3] {
    let open = IncidentId(format!("INC-20260101-{:06}", (size / CYCLE).max(1) - 1));
    let incident = time(|| store.by_incident(&open).unwrap());
    let filed = time(|| (store.open_incidents().unwrap(), store.open_runs().unwrap()));
    let feeds = [
        "feed.observed",
        "feed.degraded",
        "feed.outage",
        "feed.recovered",
        "feed.maintenance",
        "alert.posted",
        "alert.recovered",
    ];
    let recent = time(|| store.recent_of_kinds(&feeds, u64::MAX, 50).unwrap());
    [incident, filed, recent]
}
