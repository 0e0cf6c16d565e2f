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
