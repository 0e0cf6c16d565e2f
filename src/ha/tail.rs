//! `ha::tail`: the task that keeps a node's local log level with the pair's table (a follower
//! copies the leader's events; a leader finds nothing new) and records the node's applied seq
//! for `ha status`, every `every`, until `shutdown` resolves.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::HaStore;

/// Spawns the tail on the current runtime. Each round runs on a blocking thread (the local
/// log is sled, synchronous); a failed round is logged and retried at the next.
pub fn tail(
    store: Arc<HaStore>,
    every: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::pin!(shutdown);
        loop {
            let round = Arc::clone(&store);
            match tokio::task::spawn_blocking(move || round.catch_up()).await {
                Ok(Ok(applied)) => tracing::trace!(applied, "tail: level with the table"),
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "tail: cannot copy the table into the local log")
                }
                Err(err) => tracing::error!(error = %err, "tail: the round panicked"),
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = &mut shutdown => return,
            }
        }
    })
}
