//! Engine overhead: the Route 53 and ECS calls of a failover made directly through the SDK
//! clients, and the same work through the runbook engine (a runbook of `route53_upsert`,
//! `route53_wait` and `ecs_scale`), against one moto server, interleaved round by round.
//!
//! Three series are timed:
//! - **raw**: UPSERT + GetChange, UpdateService + DescribeServices (4 calls);
//! - **raw, adapter calls**: the 6 calls the engine's adapters make for the same work (they
//!   also read the record before changing it, to log what it held, and the service before
//!   scaling it, to log its previous count);
//! - **engine**: one run of the 3-step runbook: those 6 calls plus 8 durable log appends
//!   (run started, each step started and succeeded, run succeeded) and chat progress.
//!
//! Then the engine alone: the same runbook against the in-memory simulated AWS (no network),
//! on its own log, so its own time per step is measured directly rather than as a difference
//! of two noisy series. Its log times its appends, so the run splits into the durable
//! appends (the floor) and the engine's own work. Once more in an incident of 1,000 events
//! (an incident channel full of notes): what a run's progress costs where people talk.
//!
//! `cargo bench --bench engine`. moto comes from `LIFEBOAT_PYTHON` or `.venv/bin/python`
//! (`scripts/test` installs it); `LIFEBOAT_BENCH_ROUNDS` sets the rounds (default 50).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_route53::config::Credentials;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use lifeboat::aws::{AwsClients, SimulatedAws};
use lifeboat::chat::recorder::RecordingChat;
use lifeboat::config::Config;
use lifeboat::domain::event::{ChainCheck, Event, NewEvent};
use lifeboat::domain::{Actor, IncidentId, RunId};
use lifeboat::engine::Engine;
use lifeboat::ports::aws::AwsEdges;
use lifeboat::ports::chat::ChannelId;
use lifeboat::ports::store::{EventStore, StoreError};
use lifeboat::runbook::state::RunStatus;
use lifeboat::runbook::{Runbook, load_file};
use lifeboat::steps::StepEnv;
use lifeboat::steps::confirm::Answers;
use lifeboat::store::SledStore;
use lifeboat::toml_source::TomlSource;
use serde_json::json;

const CLUSTER: &str = "bench";
const WARMUP: usize = 5;

// ---------------------------------------------------------------------------------------------
// moto, started as the integration tests' launcher does.

struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        let python = python();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        // moto exits when our end of its stdin closes.
        let script = "import os, sys, threading\n\
                      threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()\n\
                      from moto.server import main\n\
                      main(['-H', '127.0.0.1', '-p', sys.argv[1]])\n";
        let child = Command::new(&python)
            .args(["-c", script, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot start moto with {}: {err}; run scripts/test, which installs it into .venv",
                    python.display()
                )
            });
        let mut moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto exited during start-up with {status}");
            }
            if reset(moto.port).is_ok() {
                return moto;
            }
            assert!(Instant::now() < deadline, "moto did not answer within 30s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> PathBuf {
    std::env::var_os("LIFEBOAT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"))
}

fn reset(port: u16) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(
        b"POST /moto-api/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(std::io::Error::other(answer))
    }
}

// ---------------------------------------------------------------------------------------------
// The work.

fn upsert(name: &str, value: &str) -> ChangeBatch {
    let set = ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::Cname)
        .ttl(60)
        .resource_records(ResourceRecord::builder().value(value).build().unwrap())
        .build()
        .unwrap();
    let change = Change::builder()
        .action(ChangeAction::Upsert)
        .resource_record_set(set)
        .build()
        .unwrap();
    ChangeBatch::builder().changes(change).build().unwrap()
}

/// The side a round moves to: the values alternate so every call really changes something.
fn target(round: usize) -> (&'static str, i32) {
    if round.is_multiple_of(2) {
        ("standby.example.net.", 2)
    } else {
        ("primary.example.net.", 1)
    }
}

/// UPSERT + GetChange, UpdateService + DescribeServices.
async fn raw(aws: &AwsClients, zone: &str, round: usize) {
    let (value, desired) = target(round);
    let change = aws
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(upsert("raw.example.com.", value))
        .send()
        .await
        .unwrap();
    let id = change.change_info().unwrap().id().to_owned();
    aws.route53.get_change().id(id).send().await.unwrap();
    aws.ecs
        .update_service()
        .cluster(CLUSTER)
        .service("raw")
        .desired_count(desired)
        .send()
        .await
        .unwrap();
    let described = aws
        .ecs
        .describe_services()
        .cluster(CLUSTER)
        .services("raw")
        .send()
        .await
        .unwrap();
    assert_eq!(described.services()[0].running_count(), desired);
}

/// The calls the engine's adapters make for the same work: the record is read before the
/// UPSERT and the service described before the update.
async fn raw_adapter_calls(aws: &AwsClients, zone: &str, round: usize) {
    let (value, desired) = target(round);
    let name = "calls.example.com.";
    aws.route53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .start_record_name(name)
        .start_record_type(RrType::Cname)
        .max_items(10)
        .send()
        .await
        .unwrap();
    let change = aws
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(upsert(name, value))
        .send()
        .await
        .unwrap();
    let id = change.change_info().unwrap().id().to_owned();
    aws.route53.get_change().id(id).send().await.unwrap();
    let describe = || {
        aws.ecs
            .describe_services()
            .cluster(CLUSTER)
            .services("calls")
            .send()
    };
    describe().await.unwrap();
    aws.ecs
        .update_service()
        .cluster(CLUSTER)
        .service("calls")
        .desired_count(desired)
        .send()
        .await
        .unwrap();
    let described = describe().await.unwrap();
    assert_eq!(described.services()[0].running_count(), desired);
}

fn runbook_text(to: &str) -> String {
    format!(
        r#"
name = "bench-{to}"
title = "Move DNS and ECS to the {to}"
workstream = "hosting"

[[steps]]
id = "point-dns"
kind = "route53_upsert"
with = {{ to = "{to}" }}

[[steps]]
id = "dns-insync"
kind = "route53_wait"
with = {{ change_of = "point-dns", poll = "1s" }}

[[steps]]
id = "scale"
kind = "ecs_scale"
with = {{ to = "{to}" }}
timeout = "1m"
"#
    )
}

async fn engine_round(engine: &Engine, runbooks: &[Runbook; 2], round: usize) {
    engine_round_in(engine, runbooks, round, None).await;
}

async fn engine_round_in(
    engine: &Engine,
    runbooks: &[Runbook; 2],
    round: usize,
    incident: Option<IncidentId>,
) {
    let handle = engine
        .start(&runbooks[round % 2], BTreeMap::new(), incident, Actor::Bot)
        .expect("the engine starts the run");
    let status = handle.task.await.expect("the run task");
    assert_eq!(status, RunStatus::Succeeded);
}

/// The engine-alone log: sled, with the time spent in its appends (each one flushed) counted.
struct TimedStore {
    inner: SledStore,
    appends: AtomicU64,
    nanos: AtomicU64,
}

impl TimedStore {
    fn new(inner: SledStore) -> Self {
        TimedStore {
            inner,
            appends: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
        }
    }

    fn timed<T>(&self, append: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = append();
        self.nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.appends.fetch_add(1, Ordering::Relaxed);
        out
    }

    /// (appends, time in them) since the last call.
    fn take(&self) -> (u64, Duration) {
        (
            self.appends.swap(0, Ordering::Relaxed),
            Duration::from_nanos(self.nanos.swap(0, Ordering::Relaxed)),
        )
    }
}

impl EventStore for TimedStore {
    fn append(&self, event: NewEvent) -> Result<Event, StoreError> {
        self.timed(|| self.inner.append(event))
    }
    fn append_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
        self.timed(|| self.inner.append_batch(events))
    }
    fn by_incident(&self, incident: &IncidentId) -> Result<Vec<Event>, StoreError> {
        self.inner.by_incident(incident)
    }
    fn by_run(&self, run: &RunId) -> Result<Vec<Event>, StoreError> {
        self.inner.by_run(run)
    }
    fn range(&self, seqs: RangeInclusive<u64>) -> Result<Vec<Event>, StoreError> {
        self.inner.range(seqs)
    }
    fn by_kinds(&self, kinds: &[&str]) -> Result<Vec<Event>, StoreError> {
        self.inner.by_kinds(kinds)
    }
    fn recent_of_kinds(
        &self,
        kinds: &[&str],
        before: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        self.inner.recent_of_kinds(kinds, before, limit)
    }
    fn kinds_in(
        &self,
        kinds: &[&str],
        seqs: RangeInclusive<u64>,
    ) -> Result<Vec<Event>, StoreError> {
        self.inner.kinds_in(kinds, seqs)
    }
    fn open_runs(&self) -> Result<Vec<RunId>, StoreError> {
        self.inner.open_runs()
    }
    fn last(&self) -> Result<Option<Event>, StoreError> {
        self.inner.last()
    }
    fn verify(&self) -> Result<ChainCheck, StoreError> {
        self.inner.verify()
    }
    fn check_writable(&self) -> Result<(), StoreError> {
        self.inner.check_writable()
    }
}

// ---------------------------------------------------------------------------------------------
// Figures.

struct Series {
    name: &'static str,
    calls: &'static str,
    times: Vec<Duration>,
}

impl Series {
    fn new(name: &'static str, calls: &'static str) -> Self {
        Series {
            name,
            calls,
            times: Vec::new(),
        }
    }

    fn mean_ms(&self) -> f64 {
        ms(self.times.iter().sum::<Duration>()) / self.times.len() as f64
    }

    fn quantile_ms(&self, q: f64) -> f64 {
        let mut sorted = self.times.clone();
        sorted.sort();
        let i = ((sorted.len() - 1) as f64 * q).round() as usize;
        ms(sorted[i])
    }

    fn row(&self) -> String {
        format!(
            "  {:<34} {:>14} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            self.name,
            self.calls,
            self.mean_ms(),
            self.quantile_ms(0.5),
            self.quantile_ms(0.95),
            self.quantile_ms(0.0),
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let rounds: usize = std::env::var("LIFEBOAT_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let moto = Moto::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench(&moto, rounds));
}

async fn bench(moto: &Moto, rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let credentials = Credentials::new("testing", "testing", None, None, "moto");

    // The standby environment: one zone, one record and one service per series.
    let bootstrap = format!(
        "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n[aws]\nmode = \"live\"\nendpoint_url = \"{}\"\n",
        moto.endpoint()
    );
    let bootstrap = Config::from_source(TomlSource::new("bench.toml", &bootstrap))
        .unwrap()
        .config;
    let aws = AwsClients::connect_with_credentials(&bootstrap.aws, credentials.clone()).await;
    let zone = aws
        .route53
        .create_hosted_zone()
        .name("example.com.")
        .caller_reference("lifeboat-bench")
        .send()
        .await
        .unwrap();
    let zone_id = zone.hosted_zone().unwrap().id().to_owned();
    for name in ["raw.example.com.", "calls.example.com.", "app.example.com."] {
        aws.route53
            .change_resource_record_sets()
            .hosted_zone_id(&zone_id)
            .change_batch(upsert(name, "primary.example.net."))
            .send()
            .await
            .unwrap();
    }
    aws.ecs
        .create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .unwrap();
    aws.ecs
        .register_task_definition()
        .family("app")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("example/app:1")
                .memory(512)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for service in ["raw", "calls", "web"] {
        aws.ecs
            .create_service()
            .cluster(CLUSTER)
            .service_name(service)
            .task_definition("app")
            .desired_count(0)
            .send()
            .await
            .unwrap();
    }

    // The engine, as production builds it, over the same moto.
    let config_text = format!(
        r#"
[objectives]
hosting_rto = "4h"
llm_rto = "2h"
rpo = "1h"

[aws]
mode = "live"
endpoint_url = "{endpoint}"

[aws.ecs]
cluster = "{CLUSTER}"
services = [{{ name = "web", standby = 2, idle = 1 }}]

[aws.dns]
zone_id = "{zone_id}"
ttl = 60
records = [{{ name = "app.example.com.", type = "CNAME", primary = "primary.example.net.", standby = "standby.example.net." }}]
"#,
        endpoint = moto.endpoint(),
    );
    let config = Arc::new(
        Config::from_source(TomlSource::new("bench.toml", &config_text))
            .unwrap()
            .config,
    );
    let store = Arc::new(SledStore::open(&dir.path().join("data")).unwrap());
    let env = StepEnv {
        config: config.clone(),
        aws: AwsEdges::connect_with_credentials(&config.aws, credentials).await,
        http: lifeboat::ports::http::client(),
        chat: Arc::new(RecordingChat::new()),
        channel: ChannelId("bench".into()),
        answers: Arc::new(Answers::default()),
        secrets: Arc::new(BTreeMap::<String, String>::new()),
        llm: Arc::new(lifeboat::llm::HttpLlm::new(lifeboat::ports::http::client())),
        heroku: Arc::new(lifeboat::heroku::HerokuApi::new(
            lifeboat::ports::http::client(),
        )),
        clock: Arc::new(lifeboat::ports::clock::TokioClock::new()),
        comms: Default::default(),
        data: Default::default(),
    };
    // The engine alone: the same config and runbooks, AWS simulated in memory, its own log.
    let alone_store = Arc::new(TimedStore::new(
        SledStore::open(&dir.path().join("alone")).unwrap(),
    ));
    let alone = Engine::new(
        StepEnv {
            aws: AwsEdges::simulated(Arc::new(SimulatedAws::from_config(&config.aws))),
            ..env.clone()
        },
        alone_store.clone(),
    );
    let engine = Engine::new(env, store.clone());
    let runbooks = ["standby", "primary"].map(|to| {
        let path = dir.path().join(format!("bench-{to}.toml"));
        std::fs::write(&path, runbook_text(to)).unwrap();
        load_file(&path, &config).unwrap_or_else(|e| panic!("{e:#?}"))
    });

    for round in 0..WARMUP {
        raw(&aws, &zone_id, round).await;
        raw_adapter_calls(&aws, &zone_id, round).await;
        engine_round(&engine, &runbooks, round).await;
    }

    let mut series = [
        Series::new("raw SDK", "4 AWS calls"),
        Series::new("raw SDK, the adapters' calls", "6 AWS calls"),
        Series::new("engine run (3 steps)", "6 AWS + 8 log"),
    ];
    for round in 0..rounds {
        // Rotate the order so drift in moto (its state grows) falls on all three alike.
        for k in 0..3 {
            let which = (round + k) % 3;
            let started = Instant::now();
            let r = WARMUP + round;
            match which {
                0 => raw(&aws, &zone_id, r).await,
                1 => raw_adapter_calls(&aws, &zone_id, r).await,
                _ => engine_round(&engine, &runbooks, r).await,
            }
            series[which].times.push(started.elapsed());
        }
    }

    let mut alone_series = Series::new("engine alone, simulated AWS", "8 log");
    for round in 0..WARMUP {
        engine_round(&alone, &runbooks, round).await;
    }
    alone_store.take();
    for round in 0..rounds {
        let started = Instant::now();
        engine_round(&alone, &runbooks, WARMUP + round).await;
        alone_series.times.push(started.elapsed());
    }
    let alone_appends = alone_store.take();

    // The same in an incident whose channel is full of notes (no thread: the console's case).
    let incident = IncidentId("INC-BENCH".into());
    let notes: Vec<NewEvent> = (0..1_000)
        .map(|n| {
            NewEvent::new(
                Actor::Bot,
                "note.added",
                json!({ "text": format!("note {n}") }),
            )
            .incident(incident.clone())
        })
        .collect();
    alone_store.append_batch(notes).unwrap();
    let mut incident_series = Series::new("engine alone, in an incident", "1,000 events");
    for round in 0..WARMUP {
        engine_round_in(&alone, &runbooks, round, Some(incident.clone())).await;
    }
    alone_store.take();
    for round in 0..rounds {
        let started = Instant::now();
        engine_round_in(&alone, &runbooks, WARMUP + round, Some(incident.clone())).await;
        incident_series.times.push(started.elapsed());
    }
    let incident_appends = alone_store.take();

    // What one durable append costs on this disk, for reading the engine's share.
    let appends = 50;
    let append_store = SledStore::open(&dir.path().join("appends")).unwrap();
    let started = Instant::now();
    for n in 0..appends {
        append_store
            .append(NewEvent::new(Actor::Bot, "bench.append", json!({ "n": n })))
            .unwrap();
    }
    let append_ms = ms(started.elapsed()) / appends as f64;

    println!();
    println!(
        "Engine overhead against moto at {} — {rounds} rounds per series, interleaved, after {WARMUP} warm-up rounds",
        moto.endpoint()
    );
    println!(
        "  {:<34} {:>14} {:>9} {:>9} {:>9} {:>9}",
        "per round (ms)", "work", "mean", "median", "p95", "min"
    );
    for s in &series {
        println!("{}", s.row());
    }
    // Medians too: on a shared machine a few slow rounds move the means.
    for (label, pick) in [
        ("mean", Series::mean_ms as fn(&Series) -> f64),
        ("median", |s: &Series| s.quantile_ms(0.5)),
    ] {
        let [raw4, raw6, eng] = [pick(&series[0]), pick(&series[1]), pick(&series[2])];
        println!();
        println!("  by {label}:");
        println!(
            "    engine / raw (4 calls):             {:.2}×  (+{:.1} %)",
            eng / raw4,
            (eng / raw4 - 1.0) * 100.0
        );
        println!(
            "    engine / the adapters' 6 calls:     {:.2}×  (+{:.1} %)",
            eng / raw6,
            (eng / raw6 - 1.0) * 100.0
        );
        println!(
            "    per step, vs raw (4 calls):         {:.2} ms",
            (eng - raw4) / 3.0
        );
        println!(
            "    per step, vs the same 6 calls:      {:.2} ms  (the engine's own share)",
            (eng - raw6) / 3.0
        );
    }
    println!();
    println!(
        "  one durable log append (sled, flushed): {append_ms:.2} ms; a 3-step run appends 8 → {:.2} ms",
        append_ms * 8.0
    );
    println!();
    println!("{}", alone_series.row());
    println!(
        "    per step: {:.2} ms by mean, {:.2} ms by median (floor: 2 appends = {:.2} ms; run start and end add 2 more per run)",
        alone_series.mean_ms() / 3.0,
        alone_series.quantile_ms(0.5) / 3.0,
        append_ms * 2.0
    );
    // The engine's own share, without the appends' fsync jitter: run time minus the time the
    // runs spent inside their own appends.
    let split = |series: &Series, (appends, in_log): (u64, Duration)| {
        let per_run = ms(in_log) / rounds as f64;
        println!(
            "    of which in its {:.1} appends per run: {:.2} ms per step; the engine's own: {:.2} ms per step (by mean)",
            appends as f64 / rounds as f64,
            per_run / 3.0,
            (series.mean_ms() - per_run) / 3.0
        );
    };
    split(&alone_series, alone_appends);
    println!("{}", incident_series.row());
    println!(
        "    per step: {:.2} ms by mean, {:.2} ms by median",
        incident_series.mean_ms() / 3.0,
        incident_series.quantile_ms(0.5) / 3.0,
    );
    split(&incident_series, incident_appends);
}
