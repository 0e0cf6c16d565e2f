//! Operating Lifeboat itself: backups of its log taken during appends and restored with every
//! hash checked, `/healthz` and `/metrics` scraped from the running binary and parsed, and
//! graceful shutdown on SIGTERM through a child process.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeboat::chat::console::Console;
use lifeboat::chat::discord::DiscordGateway;
use lifeboat::domain::event::{ChainCheck, Event, NewEvent};
use lifeboat::domain::{Actor, IncidentId, RunId};
use lifeboat::ports::chat::ChatHealth;
use lifeboat::ports::store::{EventStore, StoreError};
use lifeboat::service::server::Ops;
use lifeboat::store::SledStore;
use lifeboat::store::backup::{self, BackupError};
use serde_json::json;

use crate::support::discord::FakeDiscord;
use crate::support::http::{HttpServer, Reply, dead_port_url, get as http_get};
use crate::support::{Binary, TestConfig, lifeboat, root, spawn_app, stderr, stdout};

fn event(n: u64) -> NewEvent {
    let mut e = NewEvent::new(Actor::Bot, "test.appended", json!({ "n": n }));
    if n.is_multiple_of(3) {
        e = e.incident(IncidentId::from("INC-1"));
    }
    if n.is_multiple_of(5) {
        e = e.run(RunId::from("RUN-1"));
    }
    e
}

fn fill(store: &SledStore, n: u64) {
    for i in 0..n {
        store.append(event(i)).unwrap();
    }
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn gzip(text: &str) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Backups through the library

#[test]
fn backups_taken_during_concurrent_appends_restore_to_an_intact_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(&dir.path().join("data")).unwrap());
    fill(&store, 300);
    let appenders: Vec<_> = (0..4u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..400u64 {
                    if i.is_multiple_of(7) {
                        // Batches too: a snapshot must never hold half of one.
                        store
                            .append_batch(vec![event(t * 1000 + i), event(t * 1000 + i + 1)])
                            .unwrap();
                    } else {
                        store.append(event(t * 1000 + i)).unwrap();
                    }
                }
            })
        })
        .collect();
    let mut taken = Vec::new();
    for n in 0..4 {
        let path = dir.path().join(format!("during-{n}.jsonl.gz"));
        let summary = backup::backup_to_file(store.as_ref(), &path).unwrap();
        taken.push((path, summary));
        std::thread::sleep(Duration::from_millis(15));
    }
    for appender in appenders {
        appender.join().unwrap();
    }
    let total = store.last().unwrap().unwrap().seq;
    assert!(total > 1900, "{total}");
    assert!(
        taken.iter().any(|(_, s)| s.events < total),
        "no backup was taken while appends went on"
    );
    for (i, (path, summary)) in taken.iter().enumerate() {
        assert!(summary.events >= 300, "{summary}");
        let target = dir.path().join(format!("restored-{i}"));
        let restored = backup::restore(path, &target).unwrap();
        assert_eq!(&restored, summary);
        let copy = SledStore::open(&target).unwrap();
        let ChainCheck::Intact { events, head } = copy.verify().unwrap() else {
            panic!("restored log {i} is broken");
        };
        assert_eq!((events, &head), (summary.events, &summary.head));
        // The snapshot's last event is the original's event at that seq, byte for byte.
        let original = store.range(events..=events).unwrap();
        assert_eq!(Some(&original[0].hash), head.as_ref());
        assert_eq!(
            copy.range(1..=events).unwrap(),
            store.range(1..=events).unwrap()
        );
        // Indexes are rebuilt too.
        assert_eq!(
            copy.by_incident(&IncidentId::from("INC-1")).unwrap(),
            store
                .by_incident(&IncidentId::from("INC-1"))
                .unwrap()
                .into_iter()
                .filter(|e| e.seq <= events)
                .collect::<Vec<Event>>()
        );
        // A restored log takes new appends on its chain.
        let next = copy.append(event(9)).unwrap();
        assert_eq!((next.seq, Some(next.prev)), (events + 1, head));
    }
}

#[test]
fn a_restore_never_writes_over_an_existing_log_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("data")).unwrap();
    fill(&store, 5);
    let file = dir.path().join("b.jsonl.gz");
    backup::backup_to_file(&store, &file).unwrap();
    let occupied = dir.path().join("occupied");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("keep.txt"), "x").unwrap();
    let err = backup::restore(&file, &occupied).unwrap_err();
    assert!(matches!(err, BackupError::TargetNotEmpty { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(occupied.join("keep.txt")).unwrap(),
        "x"
    );
    // Over the live log itself.
    let err = backup::restore(&file, &dir.path().join("data")).unwrap_err();
    assert!(matches!(err, BackupError::TargetNotEmpty { .. }), "{err}");
    // An empty directory is fine.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_eq!(backup::restore(&file, &empty).unwrap().events, 5);
}

#[test]
fn retention_keeps_the_newest_scheduled_backups() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("data")).unwrap();
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    std::fs::write(backups.join("operator-notes.txt"), "mine").unwrap();
    let mut made = Vec::new();
    for n in 0..5 {
        store.append(event(n)).unwrap();
        let (path, summary) = backup::backup_into(&store, &backups, 3).unwrap();
        assert_eq!(summary.events, n + 1);
        made.push(path.file_name().unwrap().to_string_lossy().into_owned());
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut left: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut want = made[2..].to_vec();
    want.push("operator-notes.txt".into());
    want.sort();
    assert_eq!(left, want);
    // The newest holds everything.
    let newest = std::fs::File::open(backups.join(&made[4])).unwrap();
    assert_eq!(backup::read(newest).unwrap().1.events, 5);
}

// ---------------------------------------------------------------------------------------------
// Backups through the binary

/// A stopped log with `n` events in `dir/data`; returns the last hash.
fn stopped_log(dir: &Path, n: u64) -> String {
    let store = SledStore::open(&dir.join("data")).unwrap();
    fill(&store, n);
    let head = store.last().unwrap().unwrap().hash;
    store.flush().unwrap();
    head
}

#[test]
fn store_backup_and_restore_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let head = stopped_log(dir.path(), 40);
    let out = lifeboat(
        dir.path(),
        &[
            "store",
            "backup",
            "--out",
            "b.jsonl.gz",
            "--data-dir",
            "data",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("40 events, last hash {head}")),
        "{}",
        stdout(&out)
    );
    assert!(!dir.path().join("b.jsonl.gz.partial").exists());

    let out = lifeboat(
        dir.path(),
        &["store", "restore", "b.jsonl.gz", "--data-dir", "restored"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("restored 40 events, last hash {head}")),
        "{}",
        stdout(&out)
    );
    let out = lifeboat(
        dir.path(),
        &["audit", "verify", "--data-dir", "restored"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("40 events, chain intact, head {}", &head[..16])),
        "{}",
        stdout(&out)
    );

    // Again into the same place: refused, and the restored log is untouched.
    let out = lifeboat(
        dir.path(),
        &["store", "restore", "b.jsonl.gz", "--data-dir", "restored"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("restored is not empty"),
        "{}",
        stderr(&out)
    );

    // A missing log is an error, not a new empty one.
    let out = lifeboat(
        dir.path(),
        &[
            "store",
            "backup",
            "--out",
            "x.gz",
            "--data-dir",
            "nothing-here",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no event log at nothing-here"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("nothing-here").exists());
}

/// A `--data-dir` that exists but holds no log (a typo'd parent, the config dir) is refused:
/// no empty log is created in it and no 0-event backup is written.
#[test]
fn store_backup_refuses_a_directory_that_holds_no_log() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("not-a-log")).unwrap();
    std::fs::write(dir.path().join("not-a-log/notes.txt"), "hello").unwrap();
    let out = lifeboat(
        dir.path(),
        &[
            "store",
            "backup",
            "--out",
            "b.jsonl.gz",
            "--data-dir",
            "not-a-log",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("not-a-log holds no event log"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("b.jsonl.gz").exists(), "no backup written");
    let mut left: Vec<String> = std::fs::read_dir(dir.path().join("not-a-log"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["notes.txt"], "no log was created in it");
}

#[test]
fn edited_and_truncated_backups_are_refused_with_the_line_number() {
    let dir = tempfile::tempdir().unwrap();
    stopped_log(dir.path(), 30);
    let out = lifeboat(
        dir.path(),
        &[
            "store",
            "backup",
            "--out",
            "b.jsonl.gz",
            "--data-dir",
            "data",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bytes = std::fs::read(dir.path().join("b.jsonl.gz")).unwrap();
    let text = gunzip(&bytes);
    assert_eq!(text.lines().count(), 32);

    let restore = |name: &str, target: &str| {
        let out = lifeboat(
            dir.path(),
            &["store", "restore", name, "--data-dir", target],
            &[],
        );
        assert_eq!(out.status.code(), Some(1), "{name} was accepted");
        assert!(
            !dir.path().join(target).exists(),
            "{name} left a partial log"
        );
        stderr(&out)
    };

    // An event's data edited (event 12 sits on line 13).
    let edited = text.replacen(r#"{"n":11}"#, r#"{"n":99}"#, 1);
    assert_ne!(edited, text);
    std::fs::write(dir.path().join("edited.jsonl.gz"), gzip(&edited)).unwrap();
    let err = restore("edited.jsonl.gz", "r1");
    assert!(
        err.contains("line 13: event 12 does not match its hash"),
        "{err}"
    );

    // A line removed.
    let lines: Vec<&str> = text.lines().collect();
    let removed = [&lines[..5], &lines[6..]].concat().join("\n") + "\n";
    std::fs::write(dir.path().join("removed.jsonl.gz"), gzip(&removed)).unwrap();
    let err = restore("removed.jsonl.gz", "r2");
    assert!(
        err.contains("line 6: expected event 5 but found event 6"),
        "{err}"
    );

    // Cut at a line boundary, recompressed: the trailer is missing.
    let cut = lines[..20].join("\n") + "\n";
    std::fs::write(dir.path().join("cut.jsonl.gz"), gzip(&cut)).unwrap();
    let err = restore("cut.jsonl.gz", "r3");
    assert!(
        err.contains("line 21: the backup ends after event 19 without its trailer"),
        "{err}"
    );

    // The compressed file itself cut short.
    std::fs::write(
        dir.path().join("short.jsonl.gz"),
        &bytes[..bytes.len() * 2 / 3],
    )
    .unwrap();
    let err = restore("short.jsonl.gz", "r4");
    assert!(err.contains("short.jsonl.gz: line "), "{err}");
    assert!(err.contains("cut short"), "{err}");

    // Not a backup at all.
    std::fs::write(dir.path().join("notes.jsonl.gz"), gzip("hello\n")).unwrap();
    let err = restore("notes.jsonl.gz", "r5");
    assert!(
        err.contains("line 1: not a Lifeboat backup header"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// /healthz and /metrics in process

async fn get(addr: SocketAddr, path: &'static str) -> (u16, serde_json::Value) {
    let (status, _, body) = tokio::task::spawn_blocking(move || http_get(addr, path))
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

/// The real store, but the disk refuses writes (a full or read-only volume).
struct Unwritable(SledStore);

impl EventStore for Unwritable {
    fn append(&self, _: NewEvent) -> Result<Event, StoreError> {
        Err(StoreError::Io(
            "No space left on device (os error 28)".into(),
        ))
    }
    fn append_batch(&self, _: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
        Err(StoreError::Io(
            "No space left on device (os error 28)".into(),
        ))
    }
    fn by_incident(&self, incident: &IncidentId) -> Result<Vec<Event>, StoreError> {
        self.0.by_incident(incident)
    }
    fn by_run(&self, run: &RunId) -> Result<Vec<Event>, StoreError> {
        self.0.by_run(run)
    }
    fn range(&self, seqs: std::ops::RangeInclusive<u64>) -> Result<Vec<Event>, StoreError> {
        self.0.range(seqs)
    }
    fn last(&self) -> Result<Option<Event>, StoreError> {
        self.0.last()
    }
    fn verify(&self) -> Result<ChainCheck, StoreError> {
        self.0.verify()
    }
    fn check_writable(&self) -> Result<(), StoreError> {
        Err(StoreError::Io(
            "No space left on device (os error 28)".into(),
        ))
    }
}

async fn serve(
    store: Arc<dyn EventStore>,
    chat: Arc<dyn ChatHealth>,
) -> (SocketAddr, tokio::sync::watch::Sender<bool>) {
    let listener = lifeboat::service::server::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(lifeboat::service::server::serve(
        listener,
        Arc::new(Ops {
            store,
            chat,
            token: None,
            leadership: lifeboat::ports::ha::Leadership::single(),
        }),
        stopped,
    ));
    (addr, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_503_with_a_reason_when_the_log_is_not_writable() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let (ok, _stop) = serve(Arc::new(store), Arc::new(Console)).await;
    let (status, body) = get(ok, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["store"], "writable");
    assert_eq!(body["chat"], "connected");

    let dir = tempfile::tempdir().unwrap();
    let store = Unwritable(SledStore::open(dir.path()).unwrap());
    let (bad, _stop) = serve(Arc::new(store), Arc::new(Console)).await;
    let (status, body) = get(bad, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["reason"].as_str().unwrap().contains(
            "the event log is not writable: event log I/O failed: No space left on device"
        ),
        "{body}"
    );
    assert_eq!(body["chat"], "connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_follows_the_discord_gateway() {
    let fake = FakeDiscord::start();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let gateway = Arc::new(DiscordGateway::default());
    let (addr, _stop) = serve(store, gateway.clone()).await;

    let (status, body) = get(addr, "/healthz").await;
    assert_eq!(status, 503);
    assert_eq!(body["chat"], "the Discord client is not started yet");

    let token = lifeboat::config::Secret::new("health-token");
    let http = lifeboat::chat::discord::build_http(&token, Some(&fake.api_base()));
    let mut client =
        serenity::all::ClientBuilder::new_with_http(http, serenity::all::GatewayIntents::GUILDS)
            .await
            .unwrap();
    let shards = client.shard_manager.clone();
    gateway.connect(shards.clone());
    let running = tokio::spawn(async move { client.start().await });
    fake.wait_sessions(1, Duration::from_secs(20)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = get(addr, "/healthz").await;
        if status == 200 {
            assert_eq!(body["chat"], "connected");
            break;
        }
        assert!(Instant::now() < deadline, "never healthy: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The gateway goes away: unhealthy, with the reason.
    shards.shutdown_all().await;
    let (status, body) = get(addr, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("Discord gateway"),
        "{body}"
    );
    running.abort();
}

// ---------------------------------------------------------------------------------------------
// The running binary: endpoints, metrics, backups, shutdown

/// One sample of the exposition text: metric name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A small parser for the Prometheus/OpenMetrics text format: `# TYPE` lines give the
/// families; every other non-comment line is a sample.
fn parse_exposition(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut families = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            families.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels close");
                let labels = body
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').expect("label=value");
                        (k.to_owned(), v.trim_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), BTreeMap::new()),
        };
        let value = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in `{line}`")),
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    (families, samples)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

const PING: &str = r#"
name = "ping"
title = "Ping the standby"
workstream = "llm"

[[steps]]
id = "ping"
kind = "http_request"
with = { method = "POST", url = "${vars.base}/ping" }
"#;

#[test]
fn the_running_bot_serves_health_metrics_and_backups() {
    let server = HttpServer::start();
    let maintenance =
        std::fs::read(root().join("tests/fixtures/feeds/statuspage_under_maintenance.json"))
            .unwrap();
    server.reply("/status.json", Reply::json(maintenance));
    server.reply("/ping", Reply::json("{}"));
    let config = TestConfig::minimal()
        .set("store.data_dir", "data")
        .set("store.backup_dir", "backups")
        .set("store.backup_every", "300ms")
        .set("store.backup_keep", 2)
        .server_on_free_port()
        .set("watch.debounce", 1)
        .set("watch.jitter", 0.0)
        .provider("acme", "hosting", None)
        .feed(
            "acme-status",
            "acme",
            "statuspage",
            &server.url("/status.json"),
            "200ms",
        )
        .push(
            "feeds",
            json!({
                "name": "acme-dead", "provider": "acme", "kind": "statuspage",
                "url": dead_port_url("/status.json"), "interval": "200ms", "timeout": "1s",
            }),
        )
        .var("base", server.base_url())
        .runbook(PING);

    let mut bot = spawn_app(config.clone()).binary();
    let dir = bot.project.path().to_owned();
    // Port 0: the OS picks a free port and the bot prints the one it bound.
    let addr = bot.endpoint();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    bot.wait_for("Lifeboat is watching 2 feeds");
    bot.run("ping");
    bot.wait_for("🏁 ping finished");

    let (status, _, body) = http_get(addr, "/healthz");
    let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["store"], "writable");

    // Wait for a few polls and scheduled backups, then scrape.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (families, samples) = loop {
        let (status, head, body) = http_get(addr, "/metrics");
        assert_eq!(status, 200);
        assert!(
            head.to_lowercase()
                .contains("content-type: application/openmetrics-text"),
            "{head}"
        );
        let text = String::from_utf8(body).unwrap();
        let (families, samples) = parse_exposition(&text);
        let polls = value(
            &samples,
            "lifeboat_feed_polls_total",
            &[("feed", "acme-status")],
        );
        let backups = value(
            &samples,
            "lifeboat_backups_total",
            &[("outcome", "succeeded")],
        );
        let failures = value(
            &samples,
            "lifeboat_feed_poll_failures_total",
            &[("feed", "acme-dead")],
        );
        if polls >= Some(3.0) && backups >= Some(3.0) && failures >= Some(1.0) {
            break (families, samples);
        }
        assert!(
            Instant::now() < deadline,
            "not enough activity yet:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    for (family, kind) in [
        ("lifeboat_feed_polls", "counter"),
        ("lifeboat_feed_poll_failures", "counter"),
        ("lifeboat_provider_level", "gauge"),
        ("lifeboat_alerts", "counter"),
        ("lifeboat_runs", "counter"),
        ("lifeboat_step_duration_seconds", "histogram"),
        ("lifeboat_approval_wait_seconds", "histogram"),
        ("lifeboat_chat_ack_seconds", "histogram"),
        ("lifeboat_events_appended", "counter"),
        ("lifeboat_backups", "counter"),
        ("lifeboat_last_backup_timestamp_seconds", "gauge"),
    ] {
        assert_eq!(
            families.get(family).map(String::as_str),
            Some(kind),
            "{family}: {families:?}"
        );
    }
    assert_eq!(
        value(
            &samples,
            "lifeboat_feed_poll_failures_total",
            &[("feed", "acme-status")]
        ),
        Some(0.0),
        "the readable feed never failed"
    );
    // Maintenance on one feed, the other unreadable: the provider's settled level is maintenance.
    assert_eq!(
        value(&samples, "lifeboat_provider_level", &[("provider", "acme")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "lifeboat_runs_total",
            &[("runbook", "ping"), ("outcome", "succeeded")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "lifeboat_step_duration_seconds_count",
            &[("kind", "http_request"), ("outcome", "succeeded")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "lifeboat_approval_wait_seconds_count", &[]),
        Some(1.0)
    );
    assert!(
        value(
            &samples,
            "lifeboat_chat_ack_seconds_count",
            &[("adapter", "console")]
        ) >= Some(2.0)
    );
    let appended = value(&samples, "lifeboat_events_appended_total", &[]).unwrap();
    assert!(appended >= 8.0, "{appended}");
    assert!(value(&samples, "lifeboat_last_backup_timestamp_seconds", &[]) > Some(1.7e9));

    // A backup while the bot holds the log: the CLI asks the running bot, at the address its
    // config names (here the one the bot bound, as an operator's fixed port would be).
    bot.project
        .write_config("cli.toml", &config.set("server.listen", addr.to_string()));
    let read = |file: &str| std::fs::read_to_string(dir.as_path().join(file)).unwrap();
    assert_ne!(read("cli.toml"), read("lifeboat.toml"));
    let out = lifeboat(
        dir.as_path(),
        &[
            "store",
            "backup",
            "--out",
            "live.jsonl.gz",
            "--config",
            "cli.toml",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let live = backup::read(std::fs::File::open(dir.as_path().join("live.jsonl.gz")).unwrap())
        .unwrap()
        .1;
    assert!(live.events as f64 >= appended, "{live}");

    bot.sigterm();
    let (code, out) = bot.exit(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{}", out.join("\n"));
    assert!(out.iter().any(|l| l.contains("Lifeboat stopped.")));
    let scheduled: Vec<String> = std::fs::read_dir(dir.as_path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(scheduled.len(), 2, "retention keeps 2: {scheduled:?}");
    assert!(
        scheduled.iter().all(|n| n.ends_with(".jsonl.gz")),
        "{scheduled:?}"
    );

    // The live backup restores and verifies; the restored head is the live log's event at that seq.
    let out = lifeboat(
        dir.as_path(),
        &[
            "store",
            "restore",
            "live.jsonl.gz",
            "--data-dir",
            "restored",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let original = SledStore::open(&bot.project.data()).unwrap();
    let at = original.range(live.events..=live.events).unwrap();
    assert_eq!(Some(&at[0].hash), live.head.as_ref());
    drop(original);
    let out = lifeboat(
        dir.as_path(),
        &["audit", "verify", "--data-dir", "restored"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_port_in_use_stops_the_start_with_a_clear_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let project = TestConfig::minimal()
        .set("server.listen", format!("127.0.0.1:{port}"))
        .project();
    let out = lifeboat(
        project.path(),
        &["run", "--console", "--config", "lifeboat.toml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "cannot serve /healthz and /metrics on 127.0.0.1:{port}"
        )),
        "{}",
        stderr(&out)
    );
}

const SLOW: &str = r#"
name = "slow"
title = "A run with a slow middle step"
workstream = "llm"

[[steps]]
id = "first"
kind = "http_request"
with = { method = "POST", url = "${vars.base}/first" }

[[steps]]
id = "slow"
kind = "wait"
with = { duration = "DURATION" }

[[steps]]
id = "last"
kind = "http_request"
with = { method = "POST", url = "${vars.base}/last" }
"#;

/// The binary on a project with the slow runbook (its middle step waits `step`), `grace` as
/// the shutdown grace.
fn slow_bot(server: &HttpServer, step: &str, grace: &str) -> Binary {
    spawn_app(
        TestConfig::minimal()
            .set("server.shutdown_grace", grace)
            .var("base", server.base_url())
            .runbook(&SLOW.replace("DURATION", step)),
    )
    .binary()
}

/// The kinds and steps of the run's events in the stopped log.
fn run_events(dir: &Path) -> Vec<(String, String)> {
    let store = SledStore::open(&dir.join("data")).unwrap();
    store
        .all()
        .unwrap()
        .into_iter()
        .filter(|e| e.run.is_some())
        .map(|e| {
            (
                e.kind,
                e.data["step"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn has(events: &[(String, String)], kind: &str, step: &str) -> bool {
    events.iter().any(|(k, s)| k == kind && s == step)
}

#[test]
fn sigterm_lets_the_running_step_finish_and_starts_no_other() {
    let server = HttpServer::start();
    server.reply("/first", Reply::json("{}"));
    server.reply("/last", Reply::json("{}"));
    let mut bot = slow_bot(&server, "2s", "20s");
    bot.wait_for("Lifeboat is watching");
    bot.run("slow");
    bot.wait_for("▶ slow");
    let signalled = Instant::now();
    bot.sigterm();
    let (code, out) = bot.exit(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{}", out.join("\n"));
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "exited before the step ended: {took:?}"
    );
    assert!(
        out.iter().any(|l| l.contains("✔ slow")),
        "{}",
        out.join("\n")
    );
    assert!(
        !out.iter().any(|l| l.contains("grace")),
        "{}",
        out.join("\n")
    );
    let events = run_events(bot.project.path());
    assert!(has(&events, "step.succeeded", "slow"), "{events:?}");
    assert!(!has(&events, "step.started", "last"), "{events:?}");
    assert_eq!(server.hits("/last"), 0);

    // The next start carries on with the next step; nothing finished runs again.
    bot.restart();
    bot.wait_for("Resuming unfinished run(s)");
    bot.wait_for("🏁 slow finished");
    bot.sigterm();
    let (code, _) = bot.exit(Duration::from_secs(15));
    assert_eq!(code, Some(0));
    assert_eq!((server.hits("/first"), server.hits("/last")), (1, 1));
    let events = run_events(bot.project.path());
    assert_eq!(
        events
            .iter()
            .filter(|(k, s)| k == "step.started" && s == "slow")
            .count(),
        1,
        "{events:?}"
    );
    assert!(
        !events.iter().any(|(k, _)| k == "step.interrupted"),
        "{events:?}"
    );
}

#[test]
fn a_step_longer_than_the_grace_is_cut_and_resumes_as_after_a_crash() {
    let server = HttpServer::start();
    server.reply("/first", Reply::json("{}"));
    server.reply("/last", Reply::json("{}"));
    // The step is far longer than the grace, so an exit well before the step's end shows the
    // grace cut it; the bound leaves a loaded machine plenty of room above the 500ms grace.
    let mut bot = slow_bot(&server, "15s", "500ms");
    bot.wait_for("Lifeboat is watching");
    bot.run("slow");
    bot.wait_for("▶ slow");
    let signalled = Instant::now();
    bot.sigterm();
    let (code, out) = bot.exit(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", out.join("\n"));
    assert!(
        signalled.elapsed() < Duration::from_secs(8),
        "{:?}",
        signalled.elapsed()
    );
    assert!(
        out.iter()
            .any(|l| l.contains("shutdown grace of 500ms ran out")),
        "{}",
        out.join("\n")
    );
    let events = run_events(bot.project.path());
    assert!(has(&events, "step.started", "slow"), "{events:?}");
    assert!(!has(&events, "step.succeeded", "slow"), "{events:?}");

    // Exactly as after a crash: the interrupted step is noted and, being idempotent, re-run;
    // the finished one is not.
    bot.restart();
    bot.wait_for("Resuming unfinished run(s)");
    bot.wait_for("🏁 slow finished");
    bot.sigterm();
    let (code, _) = bot.exit(Duration::from_secs(10));
    assert_eq!(code, Some(0));
    let events = run_events(bot.project.path());
    assert!(has(&events, "step.interrupted", "slow"), "{events:?}");
    assert_eq!(
        events
            .iter()
            .filter(|(k, s)| k == "step.started" && s == "slow")
            .count(),
        2,
        "{events:?}"
    );
    assert_eq!((server.hits("/first"), server.hits("/last")), (1, 1));
    let out = lifeboat(
        bot.project.path(),
        &["audit", "verify", "--data-dir", "data"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------------
// The engine's shutdown in process: paused runs and retry back-offs do not hold it up

const PAUSES: &str = r#"
name = "pauses"
title = "A step that fails and pauses"
workstream = "llm"

[[steps]]
id = "fails"
kind = "command"
with = { argv = ["false"] }
on_failure = "pause"
"#;

const BACKS_OFF: &str = r#"
name = "backs-off"
title = "A step that times out and waits long before its retry"
workstream = "hosting"

[[steps]]
id = "slow"
kind = "wait"
with = { duration = "5s" }
timeout = "100ms"
retries = 3
backoff = "60s"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_leaves_paused_and_backing_off_runs_as_the_log_says() {
    let mut bench = crate::engine::bench().await;
    let pauses = bench.runbook(PAUSES);
    let backs_off = bench.runbook(BACKS_OFF);
    let paused = bench
        .engine
        .start(&pauses, BTreeMap::new(), None, Actor::Bot)
        .unwrap();
    let retrying = bench
        .engine
        .start(&backs_off, BTreeMap::new(), None, Actor::Bot)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(bench
        .run_events(&paused.run)
        .iter()
        .any(|e| e.kind == "run.paused")
        && bench
            .run_events(&retrying.run)
            .iter()
            .any(|e| e.kind == "step.retrying"))
    {
        assert!(
            Instant::now() < deadline,
            "the runs never paused and retried"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    bench.engine.begin_shutdown();
    let started = Instant::now();
    let left = bench.engine.drain(Duration::from_secs(10)).await;
    assert!(left.is_empty(), "{left:?}");
    // Far below the 60s back-off: the drain did not wait it out (roomy for a loaded machine).
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // No new run starts while stopping.
    let refused = bench
        .engine
        .start(&pauses, BTreeMap::new(), None, Actor::Bot)
        .err()
        .unwrap();
    assert!(refused.to_string().contains("shutting down"), "{refused}");
    // Nothing terminal was written: the log still says paused, and mid-step.
    for run in [&paused.run, &retrying.run] {
        let kinds: Vec<String> = bench.run_events(run).into_iter().map(|e| e.kind).collect();
        assert!(
            !kinds
                .iter()
                .any(|k| k == "run.aborted" || k == "run.failed" || k == "run.succeeded"),
            "{kinds:?}"
        );
    }

    // A new engine on the same log (the next start) picks both up again.
    bench.restart().await;
    let resumed = bench.engine.recover(&[pauses, backs_off]).unwrap();
    assert_eq!(resumed.len(), 2);
    let active = bench.engine.active().unwrap();
    assert_eq!(active.len(), 2, "{active:?}");
    bench.engine.begin_shutdown();
    assert!(bench.engine.drain(Duration::from_secs(5)).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Discord's acknowledgement latency, through serenity against the fake Discord

fn discord_acks() -> f64 {
    let (_, samples) = parse_exposition(&lifeboat::metrics::encode());
    value(
        &samples,
        "lifeboat_chat_ack_seconds_count",
        &[("adapter", "discord")],
    )
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_acknowledgements_are_timed() {
    use crate::support::discord::{CHANNEL, GUILD, Member, slash};

    // Serenity with the bot's handler over the fake, wired as `lifeboat run` wires them.
    let app = spawn_app(TestConfig::minimal())
        .discord()
        .patience(Duration::from_secs(20))
        .start()
        .await;
    let fake = app.fake();

    let before = discord_acks();
    let who = Member::new(300_000_000_000_000_001, "ops", &[]);
    let payload = slash(GUILD, CHANNEL, &who, "runbook", "list", json!([]));
    let (id, token) = (
        payload["id"].as_str().unwrap().to_owned(),
        payload["token"].as_str().unwrap().to_owned(),
    );
    let mark = fake.mark();
    fake.push_interaction(payload);
    fake.wait_call(
        mark,
        "the acknowledgement",
        |c| c.method == "POST" && c.path == format!("/interactions/{id}/{token}/callback"),
        Duration::from_secs(20),
    )
    .await;
    // Recorded right after the callback's response arrives.
    let deadline = Instant::now() + Duration::from_secs(5);
    while discord_acks() < before + 1.0 {
        assert!(Instant::now() < deadline, "no acknowledgement was timed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Alerts counted by the running binary

#[test]
fn an_outage_posts_an_alert_that_metrics_count_until_it_recovers() {
    let server = HttpServer::start();
    let outage =
        std::fs::read(root().join("tests/fixtures/feeds/incidentio_full_outage.json")).unwrap();
    server.reply("/status.json", Reply::json(outage));
    let mut bot = spawn_app(
        TestConfig::minimal()
            .set("watch.debounce", 1)
            .set("watch.jitter", 0.0)
            .provider("vendor", "llm", None)
            .feed(
                "vendor-status",
                "vendor",
                "statuspage",
                &server.url("/status.json"),
                "200ms",
            ),
    )
    .binary();
    let addr = bot.endpoint();
    bot.wait_for("Lifeboat is watching 1 feed");
    let scrape_until = |what: &str, done: &dyn Fn(&[Sample]) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, _, body) = http_get(addr, "/metrics");
            assert_eq!(status, 200);
            let text = String::from_utf8(body).unwrap();
            let (_, samples) = parse_exposition(&text);
            if done(&samples) {
                return samples;
            }
            assert!(Instant::now() < deadline, "{what} never counted:\n{text}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let alerts = |samples: &[Sample], event: &str| {
        value(
            samples,
            "lifeboat_alerts_total",
            &[("provider", "vendor"), ("event", event)],
        )
    };

    let samples = scrape_until("the alert", &|s| alerts(s, "posted") >= Some(1.0));
    assert_eq!(
        alerts(&samples, "posted"),
        Some(1.0),
        "one alert, not one per poll"
    );
    assert_eq!(alerts(&samples, "failed"), Some(0.0));
    assert_eq!(alerts(&samples, "recovered"), Some(0.0));
    assert_eq!(
        value(
            &samples,
            "lifeboat_provider_level",
            &[("provider", "vendor")]
        ),
        Some(4.0),
        "a full outage is a major outage"
    );

    // The vendor is back (maintenance is not an outage): the alert closes, once.
    let maintenance =
        std::fs::read(root().join("tests/fixtures/feeds/statuspage_under_maintenance.json"))
            .unwrap();
    server.reply("/status.json", Reply::json(maintenance));
    let samples = scrape_until("the recovery", &|s| alerts(s, "recovered") >= Some(1.0));
    assert_eq!(alerts(&samples, "recovered"), Some(1.0));
    assert_eq!(alerts(&samples, "posted"), Some(1.0));

    bot.sigterm();
    let (code, out) = bot.exit(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{}", out.join("\n"));
    // What the metrics counted is what the log holds.
    let store = SledStore::open(&bot.project.data()).unwrap();
    let kinds: Vec<String> = store.all().unwrap().into_iter().map(|e| e.kind).collect();
    let count = |kind: &str| kinds.iter().filter(|k| *k == kind).count();
    assert_eq!(
        (count("alert.posted"), count("alert.recovered")),
        (1, 1),
        "{kinds:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Graceful shutdown: SIGINT, command intake, the Discord gateway

#[test]
fn sigint_stops_like_sigterm_and_leaves_a_flushed_log() {
    let server = HttpServer::start();
    server.reply("/first", Reply::json("{}"));
    server.reply("/last", Reply::json("{}"));
    let mut bot = slow_bot(&server, "1s", "20s");
    bot.wait_for("Lifeboat is watching");
    bot.run("slow");
    bot.wait_for("▶ slow");
    bot.sigint();
    let (code, out) = bot.exit(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{}", out.join("\n"));
    assert!(
        out.iter().any(|l| l.contains("Stopping: no new commands")),
        "{}",
        out.join("\n")
    );
    assert!(
        out.iter().any(|l| l.contains("✔ slow")),
        "{}",
        out.join("\n")
    );
    assert_eq!(out.last().map(String::as_str), Some("Lifeboat stopped."));
    // Everything up to the step's end reached the disk: a fresh open of the stopped log has
    // it, with the chain intact, and the step after it never started.
    let events = run_events(bot.project.path());
    for (kind, step) in [
        ("step.succeeded", "first"),
        ("step.started", "slow"),
        ("step.succeeded", "slow"),
    ] {
        assert!(has(&events, kind, step), "{kind} {step}: {events:?}");
    }
    assert!(!has(&events, "step.started", "last"), "{events:?}");
    assert_eq!(server.hits("/last"), 0);
    let out = lifeboat(
        bot.project.path(),
        &["audit", "verify", "--data-dir", "data"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("chain intact"), "{}", stdout(&out));
}

#[test]
fn a_command_arriving_after_the_signal_is_not_taken() {
    let server = HttpServer::start();
    server.reply("/first", Reply::json("{}"));
    server.reply("/last", Reply::json("{}"));
    let mut bot = slow_bot(&server, "2s", "20s");
    bot.wait_for("Lifeboat is watching");
    bot.run("slow");
    bot.wait_for("▶ slow");
    bot.sigterm();
    // Intake has stopped, the running step has not finished: the bot is still alive and
    // its stdin open, but nothing more is read from it.
    bot.wait_for("Stopping: no new commands");
    bot.say("/runbook run slow --as carol --roles responder");
    bot.say("/runbook list");
    let (code, out) = bot.exit(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{}", out.join("\n"));
    let after: Vec<&String> = out
        .iter()
        .skip_while(|l| !l.contains("Stopping: no new commands"))
        .collect();
    assert!(
        after.iter().any(|l| l.contains("✔ slow")),
        "the running step still finished: {after:?}"
    );
    assert!(
        !after
            .iter()
            .any(|l| l.contains("carol") || l.contains("requests `slow`") || l.contains("A run")),
        "a command after the signal was answered: {after:?}"
    );
    let store = SledStore::open(&bot.project.data()).unwrap();
    let requests: Vec<Event> = store
        .all()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "run.requested")
        .collect();
    assert_eq!(requests.len(), 1, "only alice's request: {requests:?}");
    assert!(
        !requests[0].data.to_string().contains("carol"),
        "{requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_the_discord_gateway_cleanly() {
    use crate::support::app::TOKEN;

    let mut bot = spawn_app(TestConfig::minimal()).discord().binary();
    let fake = bot.fake();
    fake.wait_sessions(1, Duration::from_secs(30)).await;
    assert!(fake.closes().is_empty(), "{:?}", fake.closes());

    bot.sigterm();
    let fake = bot.fake();
    fake.wait_closes(1, Duration::from_secs(15)).await;
    assert_eq!(fake.closes(), [1000], "a normal closure, once");
    let (code, out, err) = bot.exit_with_output(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("Stopping: no new commands"), "{out}");
    assert!(out.ends_with("Lifeboat stopped.\n"), "{out}");
    let fake = bot.fake();
    assert_eq!(fake.identifies(), 1, "no reconnect after the close");
    assert!(
        !out.contains(TOKEN) && !err.contains(TOKEN),
        "the token leaked"
    );
}

#[test]
fn a_second_signal_exits_at_once_without_the_grace() {
    let server = HttpServer::start();
    server.reply("/first", Reply::json("{}"));
    server.reply("/last", Reply::json("{}"));
    let mut bot = slow_bot(&server, "60s", "120s");
    bot.wait_for("Lifeboat is watching");
    bot.run("slow");
    bot.wait_for("▶ slow");
    bot.sigterm();
    bot.wait_for("Stopping: no new commands");
    let second = Instant::now();
    bot.sigint();
    let (code, out) = bot.exit(Duration::from_secs(10));
    assert_eq!(code, Some(130), "{}", out.join("\n"));
    assert!(
        second.elapsed() < Duration::from_secs(10),
        "{:?}",
        second.elapsed()
    );
    assert!(
        !out.iter().any(|l| l.contains("Lifeboat stopped.")),
        "the graceful stop was not waited for: {}",
        out.join("\n")
    );
    assert_eq!(server.hits("/last"), 0);
}
