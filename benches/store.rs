//! Event-log benchmarks: durable single appends, batched appends, reading one incident out
//! of a 100,000-event log, verifying the whole chain of 100,000 events, and the bot's status
//! views (`/dr status`, `/incident status`, `/runbook status`, and the bot's restore on start)
//! built from logs of 10k, 100k and 1M realistic events through the same code the bot runs.
//!
//! `cargo bench --bench store`; throughput is printed as elements per second.
//! `LIFEBOAT_BENCH_LOG_SIZES` (default `10000,100000,1000000`) sets the views' log sizes, and
//! `LIFEBOAT_BENCH_VIEWS=only|skip` runs only the views or skips them.

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use lifeboat::domain::event::NewEvent;
use lifeboat::domain::{Actor, IncidentId};
use lifeboat::ports::store::EventStore;
use lifeboat::store::SledStore;
use serde_json::json;

const LOG_SIZE: u64 = 100_000;
const INCIDENTS: u64 = 1_000;

fn event(n: u64) -> NewEvent {
    NewEvent::new(
        Actor::Feed {
            name: "heroku-status".into(),
        },
        "feed.observed",
        json!({ "n": n, "level": "major_outage", "summary": "Heroku API degraded in us-east" }),
    )
    .incident(IncidentId(format!("INC-{}", n % INCIDENTS)))
}

fn appends(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(1));
    let mut n = 0;
    group.bench_function("durable single", |b| {
        b.iter(|| {
            n += 1;
            store.append(event(n)).unwrap()
        })
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("batch of 100", |b| {
        b.iter_batched(
            || (0..100).map(event).collect::<Vec<_>>(),
            |batch| store.append_batch(batch).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn big_log() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    for chunk in 0..(LOG_SIZE / 1_000) {
        let batch = (0..1_000).map(|i| event(chunk * 1_000 + i)).collect();
        store.append_batch(batch).unwrap();
    }
    (dir, store)
}

fn reads(c: &mut Criterion) {
    let (_dir, store) = big_log();
    let mut group = c.benchmark_group("100k-event log");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    let incident = IncidentId::from("INC-7");
    group.bench_function("read one incident (100 events)", |b| {
        b.iter(|| {
            let events = store.by_incident(&incident).unwrap();
            assert_eq!(events.len(), (LOG_SIZE / INCIDENTS) as usize);
            events
        })
    });
    group.throughput(Throughput::Elements(LOG_SIZE));
    group.bench_function("audit verify", |b| b.iter(|| store.verify().unwrap()));
    group.finish();
}

criterion_group!(benches, appends, reads);

fn main() {
    let views = std::env::var("LIFEBOAT_BENCH_VIEWS").unwrap_or_default();
    if views != "skip" {
        views::run();
    }
    if views != "only" {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
}

#[path = "store/views.rs"]
mod views;
