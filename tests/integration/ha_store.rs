//! The `[ha]` pair's DynamoDB side against a real moto server: the lease taken and renewed by
//! conditional writes, its epoch, and the keeper's roles (short leases: the suite stays fast).

use std::time::Duration;

use lifeboat::config::LeaseTiming;
use lifeboat::ha::{Keeper, Table};
use lifeboat::metrics::Recorder;
use lifeboat::ports::ha::{Leadership, Role};

use crate::support::moto::{MotoServer, moto};

pub(crate) const TABLE: &str = "lifeboat-ha";

pub(crate) fn fast() -> LeaseTiming {
    LeaseTiming {
        lease: Duration::from_millis(1_200),
        renew: Duration::from_millis(300),
        skew_margin: Duration::from_millis(200),
    }
}

pub(crate) async fn table(server: &MotoServer) -> Table {
    let table = Table::new(server.clients().await.dynamodb, TABLE);
    assert!(table.create().await.expect("create the table"));
    assert!(!table.create().await.expect("a second create is a no-op"));
    table
}

/// Waits (up to 10 s) until `leadership` is in a role that `wanted` accepts.
pub(crate) async fn until(leadership: &Leadership, wanted: impl Fn(&Role) -> bool) -> Role {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let role = leadership.role();
        if wanted(&role) {
            return role;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {role:?} after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn epoch(role: &Role) -> u64 {
    match role {
        Role::Leader { epoch, .. } | Role::Follower { epoch, .. } => *epoch,
        Role::Single => 0,
    }
}

#[tokio::test]
async fn one_node_leads_the_other_follows_and_takes_over_with_a_new_epoch() {
    let server = moto().await;
    let table = table(&server).await;
    let (a, a_keeper) = Keeper::start(table.clone(), "a".into(), fast(), Recorder::off());
    let led = until(&a, |r| matches!(r, Role::Leader { .. })).await;
    assert_eq!(epoch(&led), 1);
    assert!(a.may_act());

    let (b, b_keeper) = Keeper::start(table.clone(), "b".into(), fast(), Recorder::off());
    let followed = until(&b, |r| {
        matches!(
            r,
            Role::Follower {
                leader: Some(_),
                ..
            }
        )
    })
    .await;
    assert_eq!(
        followed,
        Role::Follower {
            leader: Some("a".into()),
            epoch: 1
        }
    );
    // a keeps renewing through several lease lengths: b never gets it.
    tokio::time::sleep(fast().lease * 2).await;
    assert!(a.may_act() && !b.may_act());
    assert_eq!(epoch(&a.role()), 1);

    // A clean stop releases the lease: b takes it without waiting for the expiry.
    let stopped = tokio::time::Instant::now();
    a_keeper.stop().await;
    assert!(!a.may_act());
    let took = until(&b, |r| matches!(r, Role::Leader { .. })).await;
    assert_eq!(epoch(&took), 2);
    assert!(stopped.elapsed() < fast().lease, "{:?}", stopped.elapsed());
    let lease = table.lease().await.unwrap().unwrap();
    assert!(lease.is_held_by("b", 2), "{lease:?}");
    b_keeper.stop().await;
}

#[tokio::test]
async fn a_crashed_leaders_lease_is_taken_only_after_it_expires() {
    let server = moto().await;
    let table = table(&server).await;
    let (a, a_keeper) = Keeper::start(table.clone(), "a".into(), fast(), Recorder::off());
    until(&a, |r| matches!(r, Role::Leader { .. })).await;
    // A crash: no release, the renewals just stop.
    drop(a_keeper);
    let crashed = tokio::time::Instant::now();
    let (b, b_keeper) = Keeper::start(table.clone(), "b".into(), fast(), Recorder::off());
    let took = until(&b, |r| matches!(r, Role::Leader { .. })).await;
    let waited = crashed.elapsed();
    assert_eq!(epoch(&took), 2);
    assert!(waited >= fast().lease - fast().renew, "{waited:?}");
    assert!(waited < fast().lease + fast().renew * 3, "{waited:?}");
    // The old holder, were it still running, could renew nothing at its epoch.
    let now = chrono::Utc::now().timestamp_millis();
    let refused = table.renew("a", 1, now, now + 1_000).await;
    assert!(
        matches!(refused, lifeboat::ha::lease::Attempt::Refused { current: Some(ref l) } if l.is_held_by("b", 2)),
        "{refused:?}"
    );
    assert!(!a.may_act());
    b_keeper.stop().await;
}

// ---- the fenced, replicated log ----

use std::sync::Arc;

use lifeboat::domain::Actor;
use lifeboat::domain::event::{ChainCheck, NewEvent};
use lifeboat::ha::HaStore;
use lifeboat::ports::store::{EventStore, StoreError};
use lifeboat::store::SledStore;
use serde_json::json;
use tokio::sync::watch;

fn event(n: usize) -> NewEvent {
    NewEvent::new(Actor::Bot, "test.appended", json!({ "n": n }))
}

fn leader(epoch: u64) -> Role {
    Role::Leader {
        epoch,
        acting_until: tokio::time::Instant::now() + Duration::from_secs(600),
    }
}

/// A node of the pair whose role the test sets by hand (the keeper is tested above).
struct Node {
    store: Arc<HaStore>,
    role: watch::Sender<Role>,
    _dir: tempfile::TempDir,
}

impl Node {
    fn new(table: &Table, name: &str, role: Role) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let local = Arc::new(SledStore::open(dir.path()).unwrap());
        let (role, leadership) = Leadership::channel(role);
        let store = HaStore::new(
            local,
            table.clone(),
            name,
            leadership,
            Duration::from_secs(10),
        )
        .unwrap()
        .with_metrics(Recorder::off());
        Node {
            store: Arc::new(store),
            role,
            _dir: dir,
        }
    }

    fn head(&self) -> (u64, Option<String>) {
        match self.store.verify().unwrap() {
            ChainCheck::Intact { events, head } => (events, head),
            broken => panic!("broken local log: {broken:?}"),
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn take(table: &Table, node: &str) -> u64 {
    match table.acquire(node, now_ms(), now_ms() + 600_000).await {
        lifeboat::ha::lease::Attempt::Held { epoch } => epoch,
        other => panic!("{node} could not take the lease: {other:?}"),
    }
}

fn fenced(result: Result<impl std::fmt::Debug, StoreError>) -> String {
    match result {
        Err(StoreError::Fenced(reason)) => reason,
        other => panic!("expected a fenced refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn deposed_and_foreign_appends_are_refused_and_two_leaders_continue_one_chain() {
    let server = moto().await;
    let table = table(&server).await;
    let epoch_a = take(&table, "a").await;
    let a = Node::new(&table, "a", leader(epoch_a));
    let b = Node::new(&table, "b", leader(epoch_a));
    a.store.append(event(1)).unwrap();
    a.store.append_batch(vec![event(2), event(3)]).unwrap();

    // b claims the lease it does not hold: the table refuses, nothing is recorded anywhere
    // (b did copy a's events while catching up before its attempt).
    let reason = fenced(b.store.append(event(99)));
    assert!(
        reason.contains("no longer held by b at epoch 1"),
        "{reason}"
    );
    assert_eq!(b.head(), a.head());
    assert_eq!(table.last_seq().await.unwrap(), 3);
    // A follower and a leader past its deadline do not even try.
    b.role.send_replace(Role::Follower {
        leader: Some("a".into()),
        epoch: 1,
    });
    assert!(fenced(b.store.append(event(99))).contains("follower"));
    b.role.send_replace(Role::Leader {
        epoch: 1,
        acting_until: tokio::time::Instant::now(),
    });
    assert!(fenced(b.store.append(event(99))).contains("lapsed"));

    // The lease moves to b (epoch 2): b catches up first, so its first event continues a's chain.
    table.release("a", epoch_a).await.unwrap();
    let epoch_b = take(&table, "b").await;
    assert_eq!(epoch_b, 2);
    b.role.send_replace(leader(epoch_b));
    let fourth = b.store.append(event(4)).unwrap();
    assert_eq!(fourth.seq, 4);
    assert_eq!(Some(fourth.prev.clone()), a.head().1);

    // a still thinks it leads at epoch 1: its append is refused and leaves no trace.
    let reason = fenced(a.store.append(event(98)));
    assert!(
        reason.contains("no longer held by a at epoch 1"),
        "{reason}"
    );
    assert_eq!(a.head().0, 3);
    assert_eq!(a.store.catch_up().unwrap(), 4);
    assert_eq!(a.head(), b.head());

    // And back to a (epoch 3).
    table.release("b", epoch_b).await.unwrap();
    let epoch_a = take(&table, "a").await;
    assert_eq!(epoch_a, 3);
    a.role.send_replace(leader(epoch_a));
    b.role.send_replace(Role::Follower {
        leader: Some("a".into()),
        epoch: 3,
    });
    a.store.append(event(5)).unwrap();
    b.store.catch_up().unwrap();
    assert_eq!(a.head(), b.head());
    assert_eq!(a.head().0, 5);
    assert_eq!(
        table.verify().await.unwrap(),
        ChainCheck::Intact {
            events: 5,
            head: a.head().1
        }
    );
    let stored = a.store.all().unwrap();
    let kinds: Vec<_> = stored
        .iter()
        .map(|e| e.data["n"].as_u64().unwrap())
        .collect();
    assert_eq!(kinds, [1, 2, 3, 4, 5], "no refused event anywhere");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_tails_the_table_and_reports_its_lag() {
    let server = moto().await;
    let table = table(&server).await;
    let epoch = take(&table, "a").await;
    let a = Node::new(&table, "a", leader(epoch));
    let f = Node::new(
        &table,
        "f",
        Role::Follower {
            leader: Some("a".into()),
            epoch,
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let tail = lifeboat::ha::tail(Arc::clone(&f.store), Duration::from_millis(50), async {
        let _ = stopped.await;
    });
    // Appends from inside a multi-thread runtime's worker: the store bridges through
    // block_in_place without stalling the tail.
    for chunk in 0..3 {
        let batch = (0..40).map(|i| event(chunk * 40 + i)).collect();
        a.store.append_batch(batch).unwrap();
    }
    let too_many = (0..100).map(event).collect();
    assert!(matches!(
        a.store.append_batch(too_many),
        Err(StoreError::Io(reason)) if reason.contains("more than one DynamoDB transaction")
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while f.head().0 < 120 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "tail stuck at {:?}",
            f.head()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(f.head(), a.head());
    assert_eq!(f.store.replication_lag(), 0);
    let _ = stop.send(());
    tail.await.unwrap();
    let applied = table.applied().await.unwrap();
    assert!(
        applied.iter().any(|n| n.node == "f" && n.seq == 120),
        "{applied:?}"
    );
}

#[tokio::test]
async fn a_single_nodes_log_is_copied_into_the_table_by_its_first_leader() {
    let server = moto().await;
    let table = table(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let local = SledStore::open(dir.path()).unwrap();
    for n in 0..150 {
        local.append(event(n)).unwrap();
    }
    let before = local.verify().unwrap();
    let epoch = take(&table, "a").await;
    let (_role, leadership) = Leadership::channel(leader(epoch));
    let store = HaStore::new(
        Arc::new(local),
        table.clone(),
        "a",
        leadership,
        Duration::from_secs(10),
    )
    .unwrap()
    .with_metrics(Recorder::off());
    assert_eq!(store.append(event(150)).unwrap().seq, 151);
    let ChainCheck::Intact { events, head } = table.verify().await.unwrap() else {
        panic!("the table's chain is broken");
    };
    assert_eq!(events, 151);
    assert_eq!(Some(head), Some(store.last().unwrap().map(|e| e.hash)));
    assert!(matches!(before, ChainCheck::Intact { events: 150, .. }));
}

// ---- the operators' commands ----

use crate::support::{lifeboat, stderr, stdout};

fn cli(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut all = args.to_vec();
    all.extend(["--config", "lifeboat.toml"]);
    lifeboat(
        dir,
        &all,
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ha_init_status_and_audit_verify_table_through_the_cli() {
    let server = moto().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lifeboat.toml"),
        format!(
            "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n\n[aws]\nmode = \"live\"\nendpoint_url = \"{}\"\n\n[ha]\ntable = \"{TABLE}\"\nnode_id = \"a\"\n",
            server.endpoint()
        ),
    )
    .unwrap();
    let printed = cli(dir.path(), &["ha", "init", "--print"]);
    assert_eq!(printed.status.code(), Some(0), "{}", stderr(&printed));
    assert!(stdout(&printed).contains(&format!("--table-name {TABLE}")));
    assert!(
        Table::new(server.clients().await.dynamodb, TABLE)
            .lease()
            .await
            .is_err(),
        "--print touches nothing"
    );

    let created = cli(dir.path(), &["ha", "init"]);
    assert_eq!(created.status.code(), Some(0), "{}", stderr(&created));
    assert!(stdout(&created).contains("created the DynamoDB table lifeboat-ha"));
    let again = cli(dir.path(), &["ha", "init"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(stdout(&again).contains("already exists"));

    let table = Table::new(server.clients().await.dynamodb, TABLE);
    let epoch = take(&table, "a").await;
    let a = Node::new(&table, "a", leader(epoch));
    let f = Node::new(
        &table,
        "f",
        Role::Follower {
            leader: Some("a".into()),
            epoch,
        },
    );
    a.store.append_batch((0..3).map(event).collect()).unwrap();
    a.store.catch_up().unwrap();
    assert!(matches!(
        f.store.append(event(9)),
        Err(StoreError::Fenced(_))
    ));
    assert_eq!(f.store.catch_up().unwrap(), 3);
    a.store.append(event(3)).unwrap();

    let status = cli(dir.path(), &["ha", "status", "--json"]);
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    let json: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(json["leader"], "a");
    assert_eq!(json["epoch"], 1);
    assert_eq!(json["last_seq"], 4);
    assert_eq!(json["nodes"][0]["node"], "a");
    assert_eq!(json["nodes"][0]["lag"], 1, "{json}");
    assert_eq!(json["nodes"][1]["node"], "f");
    assert_eq!(json["nodes"][1]["lag"], 1, "f applied 3 of 4: {json}");
    let human = cli(dir.path(), &["ha", "status"]);
    assert!(
        stdout(&human).contains("leader a (epoch 1"),
        "{}",
        stdout(&human)
    );

    let verified = cli(dir.path(), &["audit", "verify", "--table"]);
    assert_eq!(verified.status.code(), Some(0), "{}", stderr(&verified));
    assert!(
        stdout(&verified).starts_with("4 events in table lifeboat-ha, chain intact"),
        "{}",
        stdout(&verified)
    );
    // Someone with write access to the table edits history: the walk finds it.
    let second = table.events_after(1, 1).await.unwrap().remove(0);
    let edited = String::from_utf8(second.to_bytes())
        .unwrap()
        .replace("\"n\":1", "\"n\":7");
    server
        .clients()
        .await
        .dynamodb
        .put_item()
        .table_name(TABLE)
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("log".into()),
        )
        .item(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("{:020}", 2)),
        )
        .item(
            "seq",
            aws_sdk_dynamodb::types::AttributeValue::N("2".into()),
        )
        .item("event", aws_sdk_dynamodb::types::AttributeValue::S(edited))
        .send()
        .await
        .unwrap();
    let broken = cli(dir.path(), &["audit", "verify", "--table"]);
    assert_eq!(broken.status.code(), Some(1), "{}", stdout(&broken));
    assert!(
        stdout(&broken).contains("chain broken at seq 2 in table lifeboat-ha"),
        "{}",
        stdout(&broken)
    );
}
