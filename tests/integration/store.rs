//! The sled event log on disk: concurrent appends, tamper detection, reopening.

use std::sync::Arc;

use lifeboat::domain::event::{ChainCheck, NewEvent};
use lifeboat::domain::{Actor, IncidentId};
use lifeboat::ports::store::EventStore;
use lifeboat::store::SledStore;
use serde_json::json;

use crate::support::{lifeboat, stdout};

fn event(n: u64) -> NewEvent {
    NewEvent::new(Actor::Bot, "test.appended", json!({ "n": n }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appenders_get_consecutive_seqs_and_an_intact_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let tasks: Vec<_> = (0..8u64)
        .map(|task| {
            let store = store.clone();
            tokio::task::spawn_blocking(move || {
                (0..1000u64)
                    .map(|i| store.append(event(task * 1000 + i)).unwrap().seq)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        let mine = task.await.unwrap();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "each appender sees increasing seqs"
        );
        seqs.extend(mine);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=8000).collect::<Vec<u64>>());
    assert!(matches!(
        store.verify().unwrap(),
        ChainCheck::Intact { events: 8000, .. }
    ));
    let all = store.range(1..=8000).unwrap();
    assert!(all.windows(2).all(|w| w[1].prev == w[0].hash));
}

fn filled_store(n: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let incident = IncidentId::from("INC-1");
    for i in 1..=n {
        store.append(event(i).incident(incident.clone())).unwrap();
    }
    store.flush().unwrap();
    dir
}

/// Opens the raw sled tree, as an attacker or a disk fault would change it.
fn with_raw_events(dir: &std::path::Path, change: impl FnOnce(&sled::Tree)) {
    // sled lets go of its file lock a moment after the store is dropped: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let db = loop {
        match sled::Config::new().path(dir).flush_every_ms(None).open() {
            Ok(db) => break db,
            Err(err) if std::time::Instant::now() < deadline => {
                let _ = err;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(err) => panic!("cannot open the raw log: {err}"),
        }
    };
    let events = db.open_tree("events").unwrap();
    change(&events);
    db.flush().unwrap();
}

#[test]
fn a_changed_byte_is_detected_at_its_seq() {
    let dir = filled_store(20);
    with_raw_events(dir.path(), |events| {
        let key = 13u64.to_be_bytes();
        let mut bytes = events.get(key).unwrap().unwrap().to_vec();
        let at = bytes.windows(5).position(|w| w == b"\"n\":1").unwrap() + 4;
        bytes[at] = b'7';
        events.insert(key, bytes).unwrap();
    });
    let store = SledStore::open(dir.path()).unwrap();
    match store.verify().unwrap() {
        ChainCheck::Broken { seq, .. } => assert_eq!(seq, 13),
        other => panic!("tampering not detected: {other:?}"),
    }
}

#[test]
fn a_deleted_event_is_detected() {
    let dir = filled_store(20);
    with_raw_events(dir.path(), |events| {
        events.remove(7u64.to_be_bytes()).unwrap();
    });
    let out = lifeboat(
        &crate::support::root(),
        &[
            "audit",
            "verify",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("chain broken at seq 7"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_deleted_last_event_is_detected() {
    let dir = filled_store(5);
    with_raw_events(dir.path(), |events| {
        events.remove(5u64.to_be_bytes()).unwrap();
    });
    let store = SledStore::open(dir.path()).unwrap();
    assert!(matches!(
        store.verify().unwrap(),
        ChainCheck::Broken { seq: 5, .. }
    ));
}

#[test]
fn reordered_events_are_detected() {
    let dir = filled_store(10);
    with_raw_events(dir.path(), |events| {
        let a = events.get(4u64.to_be_bytes()).unwrap().unwrap();
        let b = events.get(5u64.to_be_bytes()).unwrap().unwrap();
        events.insert(4u64.to_be_bytes(), b).unwrap();
        events.insert(5u64.to_be_bytes(), a).unwrap();
    });
    let store = SledStore::open(dir.path()).unwrap();
    assert!(matches!(
        store.verify().unwrap(),
        ChainCheck::Broken { seq: 4, .. }
    ));
}

#[test]
fn the_store_reopens_after_a_clean_shutdown_with_everything_there() {
    let dir = filled_store(50);
    let store = SledStore::open(dir.path()).unwrap();
    let incident = store.by_incident(&IncidentId::from("INC-1")).unwrap();
    assert_eq!(incident.len(), 50);
    // Appending after reopening continues the same chain.
    let next = store.append(event(51)).unwrap();
    assert_eq!(next.seq, 51);
    assert_eq!(next.prev, incident[49].hash);
    drop(store);
    let out = lifeboat(
        &crate::support::root(),
        &[
            "audit",
            "verify",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).starts_with("51 events, chain intact"),
        "{}",
        stdout(&out)
    );
}
