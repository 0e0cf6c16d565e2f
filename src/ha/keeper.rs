//! The lease keeper: a task that takes the lease when it is free or expired and renews it while
//! it holds it, every `renew`, and publishes the node's [`Role`] through a [`Leadership`]. A
//! renewal that is not answered in time leaves the deadline where it was, so a leader cut off
//! from the table stops acting on its own clock; on a clean stop the lease is released.

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::lease::{self, Attempt};
use super::table::Table;
use crate::config::LeaseTiming;
use crate::metrics::Recorder;
use crate::ports::ha::{Leadership, Role};

/// Starts and stops the lease keeper.
pub struct Keeper;

/// The running keeper: stop it to release the lease on a clean shutdown.
#[derive(Debug)]
pub struct KeeperHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Keeper {
    /// Spawns the keeper for `node` on the current runtime. The node starts as a follower of
    /// nobody (epoch 0) and tries to take the lease at once.
    pub fn start(
        table: Table,
        node: String,
        timing: LeaseTiming,
        metrics: Recorder,
    ) -> (Leadership, KeeperHandle) {
        let (keeper, leadership) = Leadership::channel(Role::Follower {
            leader: None,
            epoch: 0,
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(keep(table, node, timing, metrics, keeper, stopped));
        (
            leadership,
            KeeperHandle {
                stop: Some(stop),
                task,
            },
        )
    }
}

impl KeeperHandle {
    /// Stops renewing, releases the lease if this node holds it, and waits for the task.
    /// Leadership views see the keeper gone (`acting` returns `false`, `lost` resolves).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for KeeperHandle {
    fn drop(&mut self) {
        // Dropped without `stop` (a panic, a test): stop renewing; the lease then expires.
        self.task.abort();
    }
}

async fn keep(
    table: Table,
    node: String,
    timing: LeaseTiming,
    metrics: Recorder,
    keeper: watch::Sender<Role>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        let started = Instant::now();
        let before = keeper.borrow().clone();
        let attempt = tokio::select! {
            attempt = attempt(&table, &node, &before, &timing, started) => attempt,
            _ = &mut stopped => break,
        };
        let after = lease::next_role(&before, attempt, started, &timing);
        if let Some(change) = lease::change(&before, &after) {
            tracing::info!(node = %node, epoch = lease::epoch_of(&after), change, "lease {change}");
            metrics.lease_changed(change);
        }
        keeper.send_replace(after);
        tokio::select! {
            () = tokio::time::sleep_until(started + timing.renew) => {}
            _ = &mut stopped => break,
        }
    }
    let last = keeper.borrow().clone();
    if let Role::Leader { epoch, .. } = last {
        // Stop acting before giving the lease away.
        keeper.send_replace(Role::Follower {
            leader: None,
            epoch,
        });
        metrics.lease_changed("lost");
        if let Err(err) = table.release(&node, epoch).await {
            tracing::warn!(node = %node, error = %err, "could not release the lease; it will expire");
        }
    }
}

/// One attempt: renew if this node leads (or led: a lapsed deadline with the same epoch may
/// still be renewed), else take the lease if free. Bounded by the renew interval: a late
/// answer is worth nothing, the next attempt starts then anyway.
async fn attempt(
    table: &Table,
    node: &str,
    before: &Role,
    timing: &LeaseTiming,
    started: Instant,
) -> Attempt {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let expires = lease::expires_ms(now_ms, timing);
    let call = async {
        match before {
            Role::Leader { epoch, .. } => table.renew(node, *epoch, now_ms, expires).await,
            _ => table.acquire(node, now_ms, expires).await,
        }
    };
    match tokio::time::timeout_at(started + timing.renew, call).await {
        Ok(attempt) => attempt,
        Err(_) => {
            tracing::warn!(node = %node, "the lease table did not answer within the renew interval");
            Attempt::Unknown
        }
    }
}
