//! `cargo bench --bench ha`: append latency and throughput of the `[ha]` store (one fenced
//! DynamoDB transaction per append, then the local sled log) against a local moto server,
//! versus sled alone, and their ratio. Single appends: 300 each (median, p95, appends/s);
//! batches of 99 (the most one transaction takes): 20 each (events/s). moto runs from `.venv`
//! (`scripts/test` installs it) or `LIFEBOAT_PYTHON`. Under `cargo test` it only compiles.
//! moto is a Python emulator on loopback: the figures bound the store's own overhead, not
//! DynamoDB's latency from a real region (single-digit ms per transaction plus the network).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_route53::config::Credentials;
use lifeboat::aws::AwsClients;
use lifeboat::config::{AwsConfig, AwsMode};
use lifeboat::domain::Actor;
use lifeboat::domain::event::NewEvent;
use lifeboat::ha::{HaStore, Table, lease::Attempt};
use lifeboat::metrics::Recorder;
use lifeboat::ports::ha::{Leadership, Role};
use lifeboat::ports::store::EventStore;
use lifeboat::store::SledStore;
use serde_json::json;

const SINGLES: usize = 300;
const BATCHES: usize = 20;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(bench());
}

fn event(n: usize) -> NewEvent {
    NewEvent::new(
        Actor::Bot,
        "step.started",
        json!({ "n": n, "step": "scale-standby", "kind": "ecs_scale", "attempt": 1 }),
    )
}

struct Moto(Child, u16);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto() -> Moto {
    let python = std::env::var("LIFEBOAT_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python").to_owned());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(python)
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto runs from .venv (scripts/test installs it)");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto(child, port)
}

/// Median, p95 and rate of `n` timed single appends.
fn singles(store: &dyn EventStore) -> (Duration, Duration, f64) {
    let mut took = Vec::with_capacity(SINGLES);
    let all = Instant::now();
    for n in 0..SINGLES {
        let one = Instant::now();
        store.append(event(n)).unwrap();
        took.push(one.elapsed());
    }
    let rate = SINGLES as f64 / all.elapsed().as_secs_f64();
    took.sort();
    (took[SINGLES / 2], took[SINGLES * 95 / 100], rate)
}

/// Events per second in batches of 99.
fn batches(store: &dyn EventStore) -> f64 {
    let all = Instant::now();
    for b in 0..BATCHES {
        store
            .append_batch((0..99).map(|i| event(b * 99 + i)).collect())
            .unwrap();
    }
    (BATCHES * 99) as f64 / all.elapsed().as_secs_f64()
}

async fn bench() {
    let server = moto();
    let aws = AwsConfig {
        mode: AwsMode::Live,
        endpoint_url: Some(format!("http://127.0.0.1:{}", server.1)),
        ..AwsConfig::default()
    };
    let credentials = Credentials::new("testing", "testing", None, None, "moto");
    let clients = AwsClients::connect_with_credentials(&aws, credentials).await;
    let table = Table::new(clients.dynamodb, "lifeboat-ha-bench");
    table.create().await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let Attempt::Held { epoch } = table.acquire("bench", now, now + 3_600_000).await else {
        panic!("the lease");
    };
    let (_keeper, leadership) = Leadership::channel(Role::Leader {
        epoch,
        acting_until: tokio::time::Instant::now() + Duration::from_secs(3_600),
    });
    let (ha_dir, sled_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let local = Arc::new(
        SledStore::open(ha_dir.path())
            .unwrap()
            .with_metrics(Recorder::off()),
    );
    let ha = HaStore::new(local, table, "bench", leadership, Duration::from_secs(10))
        .unwrap()
        .with_metrics(Recorder::off());
    let sled = SledStore::open(sled_dir.path())
        .unwrap()
        .with_metrics(Recorder::off());
    // The first append catches up from the table: not part of the steady state.
    ha.append(event(0)).unwrap();
    sled.append(event(0)).unwrap();

    let (ha_p50, ha_p95, ha_rate) = singles(&ha);
    let (sled_p50, sled_p95, sled_rate) = singles(&sled);
    let ha_batch = batches(&ha);
    let sled_batch = batches(&sled);
    println!("single appends ({SINGLES} each):");
    println!("  [ha] on moto  p50 {ha_p50:?}  p95 {ha_p95:?}  {ha_rate:.0} appends/s");
    println!("  sled alone    p50 {sled_p50:?}  p95 {sled_p95:?}  {sled_rate:.0} appends/s");
    println!(
        "  ratio (p50)   {:.1}x slower; throughput {:.1}x lower",
        ha_p50.as_secs_f64() / sled_p50.as_secs_f64(),
        sled_rate / ha_rate
    );
    println!("batches of 99 ({BATCHES} each):");
    println!("  [ha] on moto  {ha_batch:.0} events/s");
    println!("  sled alone    {sled_batch:.0} events/s");
    println!("  ratio         {:.1}x lower", sled_batch / ha_batch);
}
