//! Feed benchmarks.
//!
//! - Parse throughput per source kind, over the real captures (copied into
//!   `tests/fixtures/feeds/captured/`) and the project's own payloads.
//! - Detection latency: a local status server flips Heroku from green to red; the time until
//!   the alert reaches `Chat` is compared with its bound (debounce × poll interval), and
//!   Lifeboat's own share (observation received → alert posted) is reported separately.
//!
//! `cargo bench --bench feeds`

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lifeboat::chat::recorder::RecordingChat;
use lifeboat::config::{Config, FeedKind};
use lifeboat::feeds::{ParseContext, parse};
use lifeboat::ports::chat::ChannelId;
use lifeboat::ports::clock::TokioClock;
use lifeboat::store::SledStore;
use lifeboat::toml_source::TomlSource;

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn capture(name: &str) -> Vec<u8> {
    read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/feeds/captured")
            .join(name),
    )
}

fn own(name: &str) -> Vec<u8> {
    read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/feeds")
            .join(name),
    )
}

fn parsing(c: &mut Criterion) {
    let cases = [
        (
            FeedKind::Statuspage,
            "statuspage (Anthropic, incident)",
            capture("anthropic_statuspage_summary_incident_2026-10-07.json"),
        ),
        (
            FeedKind::Statuspage,
            "statuspage (OpenAI, incident.io)",
            capture("openai_incidentio_summary_degraded_2026-09-29.json"),
        ),
        (
            FeedKind::Heroku,
            "heroku v4",
            capture("heroku_v4_current_status_red_SHAPE_cli_test.json"),
        ),
        (FeedKind::Sftrust, "sftrust", own("sftrust_active.json")),
        (
            FeedKind::AwsHealth,
            "aws-health (UTF-16)",
            own("aws_health_utf16le_bom.json"),
        ),
        (
            FeedKind::Rss,
            "rss (AWS)",
            capture("aws_status_rss_all_2021-12.xml"),
        ),
    ];
    let mut group = c.benchmark_group("parse");
    for (kind, name, body) in &cases {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| parse(*kind, body, &ParseContext::default()).unwrap())
        });
    }
    group.finish();
}

const INTERVAL_MS: u64 = 100;
const DEBOUNCE: u64 = 2;

fn config(addr: SocketAddr) -> Config {
    let text = format!(
        r#"
[objectives]
hosting_rto = "4h"
llm_rto = "2h"
rpo = "1h"

[watch]
debounce = {DEBOUNCE}
jitter = 0.0

[[providers]]
name = "heroku"
workstream = "hosting"

[[feeds]]
name = "heroku-status"
provider = "heroku"
kind = "heroku"
url = "http://{addr}/api/v4/current-status"
interval = "{INTERVAL_MS}ms"
"#
    );
    Config::from_source(TomlSource::new("bench.toml", text))
        .unwrap()
        .config
}

/// Median and 95th percentile, in milliseconds.
fn percentiles(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

fn detection_latency(_: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let green = capture("heroku_v4_current_status_green_SHAPE_cli_test.json");
        let red = capture("heroku_v4_current_status_red_SHAPE_cli_test.json");
        let mut latencies = Vec::new();
        let mut own_time = Vec::new();
        for _ in 0..20 {
            let down = Arc::new(AtomicBool::new(false));
            let (g, r, d) = (green.clone(), red.clone(), down.clone());
            let app = Router::new().route(
                "/api/v4/current-status",
                get(move || {
                    let body = if d.load(Ordering::SeqCst) { r.clone() } else { g.clone() };
                    async move { ([("content-type", "application/json")], body) }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move { axum::serve(listener, app).await });
            let dir = tempfile::tempdir().unwrap();
            let store = Arc::new(SledStore::open(dir.path()).unwrap());
            let chat = Arc::new(RecordingChat::new());
            let watcher = lifeboat::service::watcher::Watcher::new(
                &config(addr),
                store,
                chat.clone(),
                ChannelId("bench".into()),
                Arc::new(TokioClock::new()),
            );
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let running = tokio::spawn(watcher.run(stopped));
            // Let it settle on green, flip, and time the alert.
            tokio::time::sleep(Duration::from_millis(INTERVAL_MS * 3 + 37)).await;
            let flipped = Instant::now();
            down.store(true, Ordering::SeqCst);
            tokio::time::timeout(Duration::from_secs(5), chat.wait_for(|log| !log.is_empty()))
                .await
                .expect("alert within 5 s");
            latencies.push(flipped.elapsed().as_secs_f64() * 1000.0);
            let _ = stop.send(true);
            let _ = running.await;
            server.abort();
        }
        // Lifeboat's own time: one deciding observation through monitor, store and chat.
        for _ in 0..200 {
            own_time.push(lifeboat_own_time(&red).await);
        }
        let (p50, p95) = percentiles(latencies);
        let (own50, own95) = percentiles(own_time);
        let bound = (DEBOUNCE * INTERVAL_MS) as f64;
        println!("detection latency (poll interval {INTERVAL_MS} ms, debounce {DEBOUNCE}): p50 {p50:.1} ms, p95 {p95:.1} ms; bound {bound:.0} ms + own time");
        println!("  ratio p95 / bound: {:.2}", p95 / bound);
        println!("Lifeboat's own time, observation → alert in Chat (incl. durable event appends): p50 {own50:.2} ms, p95 {own95:.2} ms");
    });
}

/// Time for the observation that opens an alert, from `handle` to the post.
async fn lifeboat_own_time(red: &[u8]) -> f64 {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let chat = Arc::new(RecordingChat::new());
    let mut watcher = lifeboat::service::watcher::Watcher::new(
        &config(addr),
        store,
        chat.clone(),
        ChannelId("bench".into()),
        Arc::new(TokioClock::new()),
    );
    let parsed = parse(FeedKind::Heroku, red, &ParseContext::default()).unwrap();
    let health = lifeboat::feeds::ProviderHealth::from_parsed(
        FeedKind::Heroku,
        "x",
        chrono::Utc::now(),
        parsed,
    );
    watcher.handle(0, &health).await;
    let start = Instant::now();
    watcher.handle(0, &health).await;
    let elapsed = start.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(chat.posts().len(), 1);
    elapsed
}

criterion_group!(benches, parsing, detection_latency);
criterion_main!(benches);
