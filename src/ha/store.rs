//! `HaStore`: the `EventStore` of a node of an `[ha]` pair. An append is durable only once one
//! DynamoDB transaction wrote it under the lease's fence (see `log.rs`); then it is kept in the
//! local sled log with the same seq, prev and hash, from which every read is answered. A node
//! that does not hold the lease, or whose acting deadline passed, appends nothing. Before its
//! first append under an epoch a leader catches up from the table (and pushes up what only its
//! local log holds, when a single node's log becomes a pair's), so that the chain continues
//! across leaders; a follower's `ha::tail` copies the table into its local log.
//!
//! The port's append is synchronous and the SDK is async. The table calls run on a small
//! runtime of the store's own (one worker thread) and the caller waits on a channel: inside a
//! multi-thread runtime's worker it waits in `block_in_place` (the worker's other tasks move
//! to another thread); elsewhere (a current-thread runtime, a blocking thread, plain sync code)
//! it blocks its own thread only, which is sound because the future it waits for never runs
//! there. `Handle::block_on` on the caller's runtime would panic or deadlock on a
//! current-thread one, which the tests and the CLI use.

use std::future::Future;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

use super::log::{AppendError, MAX_BATCH};
use super::table::Table;
use crate::domain::event::{ChainCheck, Event, NewEvent};
use crate::domain::{IncidentId, RunId};
use crate::metrics::Recorder;
use crate::ports::ha::{Leadership, Role};
use crate::ports::store::{EventStore, Filed, StoreError};
use crate::store::SledStore;

/// How many events one read of the table brings.
const PAGE: usize = 500;

pub struct HaStore {
    local: Arc<SledStore>,
    table: Table,
    node: String,
    leadership: Leadership,
    bridge: Bridge,
    /// Serialises appends and catch-ups; holds the epoch the local log was last brought level
    /// with the table under (`None`: catch up before the next append).
    level_at: Mutex<Option<u64>>,
    /// Events in the table not yet in the local log, as of the last catch-up.
    lag: AtomicU64,
    /// How long one table call may take before the append counts as failed.
    call_timeout: Duration,
    metrics: Recorder,
}

impl std::fmt::Debug for HaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaStore")
            .field("table", &self.table.name())
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl HaStore {
    /// The store of `node` over its local log and the pair's table, appending while
    /// `leadership` says it leads. `call_timeout` bounds each table call (the lease duration
    /// is a good bound: past it the answer is worth nothing).
    pub fn new(
        local: Arc<SledStore>,
        table: Table,
        node: impl Into<String>,
        leadership: Leadership,
        call_timeout: Duration,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            local,
            table,
            node: node.into(),
            leadership,
            bridge: Bridge::new()?,
            level_at: Mutex::new(None),
            lag: AtomicU64::new(0),
            call_timeout,
            metrics: Recorder::live(),
        })
    }

    /// Replaces where metrics go.
    pub fn with_metrics(mut self, metrics: Recorder) -> Self {
        self.metrics = metrics;
        self
    }

    /// The local log (what reads see).
    pub fn local(&self) -> &Arc<SledStore> {
        &self.local
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Events in the table not yet in the local log, as of the last catch-up.
    pub fn replication_lag(&self) -> u64 {
        self.lag.load(Ordering::Relaxed)
    }

    /// Copies what the table holds beyond the local log into it, records this node's applied
    /// seq in the table, and returns it (the tail's step; a leader's is a no-op read).
    pub fn catch_up(&self) -> Result<u64, StoreError> {
        let _level = self.level_at.lock().map_err(|_| poisoned())?;
        let applied = self.pull()?;
        let now = chrono::Utc::now().timestamp_millis();
        let node = self.node.clone();
        let recorded = self.call(self.table.clone(), move |t| async move {
            t.record_applied(&node, applied, now).await
        });
        if let Err(err) = recorded {
            // Only `ha status` reads it; the next round records it again.
            tracing::warn!(node = %self.node, error = %err, "could not record the applied seq");
        }
        Ok(applied)
    }

    /// The epoch this node may append under now, or why it may not.
    fn acting_epoch(&self) -> Result<u64, StoreError> {
        let role = self.leadership.role();
        match role {
            Role::Leader { epoch, .. } if self.leadership.may_act() => Ok(epoch),
            Role::Leader { epoch, .. } => Err(StoreError::Fenced(format!(
                "{} led at epoch {epoch} but its lease lapsed without a renewal; it appends nothing until it renews",
                self.node
            ))),
            Role::Follower { leader, epoch } => Err(StoreError::Fenced(format!(
                "{} is a follower (the leader is {} at epoch {epoch}); only the leader appends",
                self.node,
                leader.as_deref().unwrap_or("nobody")
            ))),
            Role::Single => Err(StoreError::Fenced(
                "an [ha] store needs the lease keeper's leadership, not a single node's".into(),
            )),
        }
    }

    /// Brings the local log level with the table, then (as leader at `epoch`) the table level
    /// with the local log: a log that was a single node's before becomes the pair's.
    fn level(&self, epoch: u64) -> Result<(), StoreError> {
        let local_head = self.pull()?;
        let table_last = self.call(self.table.clone(), |t| async move { t.last_seq().await })?;
        if local_head <= table_last {
            return Ok(());
        }
        if table_last > 0 {
            let theirs = self.call(self.table.clone(), move |t| async move {
                t.events_after(table_last - 1, 1).await
            })?;
            let ours = self.local.range(table_last..=table_last)?;
            if theirs.first().map(|e| &e.hash) != ours.first().map(|e| &e.hash) {
                return Err(StoreError::Corrupt {
                    seq: table_last,
                    reason: format!(
                        "the local log and the table {} differ at this event: they are not the same log",
                        self.table.name()
                    ),
                });
            }
        }
        let missing = self.local.range(table_last + 1..=local_head)?;
        tracing::info!(node = %self.node, from = table_last + 1, to = local_head, "copying the local log into the [ha] table");
        for chunk in missing.chunks(MAX_BATCH) {
            self.write(epoch, chunk.to_vec())?;
        }
        Ok(())
    }

    /// Imports every table event after the local head; returns the new local head.
    fn pull(&self) -> Result<u64, StoreError> {
        loop {
            let head = self.local.last()?.map_or(0, |e| e.seq);
            let batch = self.call(self.table.clone(), move |t| async move {
                t.events_after(head, PAGE).await
            })?;
            if batch.is_empty() {
                self.lag.store(0, Ordering::Relaxed);
                self.metrics.replication_lag(0);
                return Ok(head);
            }
            let behind = batch.len() as u64;
            self.lag.store(behind, Ordering::Relaxed);
            self.metrics.replication_lag(behind);
            self.local.append_sealed(batch)?;
        }
    }

    /// One fenced transaction of sealed events.
    fn write(&self, epoch: u64, events: Vec<Event>) -> Result<(), StoreError> {
        let node = self.node.clone();
        let written = self.bridge.run({
            let table = self.table.clone();
            let timeout = self.call_timeout;
            async move {
                match tokio::time::timeout(timeout, table.append_fenced(&node, epoch, &events))
                    .await
                {
                    Ok(written) => written,
                    Err(_) => Err(table.unreachable("no answer within the lease").into()),
                }
            }
        })?;
        written.map_err(|err| match err {
            AppendError::Fenced { .. } => {
                self.metrics.append_fenced();
                tracing::warn!(node = %self.node, epoch, error = %err, "append refused: deposed");
                StoreError::Fenced(err.to_string())
            }
            other => StoreError::Io(other.to_string()),
        })
    }

    /// Runs one table call on the store's runtime, bounded by the call timeout.
    fn call<T, F, Fut>(&self, table: Table, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Table) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, super::TableError>> + Send + 'static,
    {
        let timeout = self.call_timeout;
        let name = table.name().to_owned();
        self.bridge
            .run(async move { tokio::time::timeout(timeout, f(table)).await })?
            .map_err(|_| {
                StoreError::Io(format!("the DynamoDB table {name} did not answer in time"))
            })?
            .map_err(|err| StoreError::Io(err.to_string()))
    }
}

impl EventStore for HaStore {
    fn append(&self, event: NewEvent) -> Result<Event, StoreError> {
        let mut sealed = self.append_batch(vec![event])?;
        sealed
            .pop()
            .ok_or_else(|| StoreError::Io("append produced no event".into()))
    }

    /// One transaction: at most `MAX_BATCH` (99) events.
    fn append_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
        let mut level_at = self.level_at.lock().map_err(|_| poisoned())?;
        let appended = (|| {
            let epoch = self.acting_epoch()?;
            if *level_at != Some(epoch) {
                self.level(epoch)?;
                *level_at = Some(epoch);
            }
            let sealed = self.local.seal_next(events)?;
            if let Err(err) = self.write(epoch, sealed.clone()) {
                // Refused, or perhaps written with the answer lost: read the table again first.
                *level_at = None;
                return Err(err);
            }
            if let Err(err) = self.local.append_sealed(sealed.clone()) {
                // Durable in the table; the next catch-up brings it here.
                *level_at = None;
                return Err(err);
            }
            Ok(sealed)
        })();
        match &appended {
            Ok(sealed) => self.metrics.events_appended(sealed.len()),
            Err(_) => self.metrics.append_failed(),
        }
        appended
    }

    fn by_incident(&self, incident: &IncidentId) -> Result<Vec<Event>, StoreError> {
        self.local.by_incident(incident)
    }

    fn by_run(&self, run: &RunId) -> Result<Vec<Event>, StoreError> {
        self.local.by_run(run)
    }

    fn range(&self, seqs: RangeInclusive<u64>) -> Result<Vec<Event>, StoreError> {
        self.local.range(seqs)
    }

    fn by_kinds(&self, kinds: &[&str]) -> Result<Vec<Event>, StoreError> {
        self.local.by_kinds(kinds)
    }

    fn recent_of_kinds(
        &self,
        kinds: &[&str],
        before: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        self.local.recent_of_kinds(kinds, before, limit)
    }

    fn kinds_in(
        &self,
        kinds: &[&str],
        seqs: RangeInclusive<u64>,
    ) -> Result<Vec<Event>, StoreError> {
        self.local.kinds_in(kinds, seqs)
    }

    fn providers(&self) -> Result<Vec<String>, StoreError> {
        self.local.providers()
    }

    fn by_provider(
        &self,
        provider: &str,
        seqs: RangeInclusive<u64>,
    ) -> Result<Vec<Event>, StoreError> {
        self.local.by_provider(provider, seqs)
    }

    fn recent_of_provider(
        &self,
        provider: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        self.local.recent_of_provider(provider, before, limit)
    }

    fn episode_start(&self, provider: &str, before: u64) -> Result<Option<u64>, StoreError> {
        self.local.episode_start(provider, before)
    }

    fn filed(&self, kinds: &[&str]) -> Result<Vec<Filed>, StoreError> {
        self.local.filed(kinds)
    }

    fn open_incidents(&self) -> Result<Vec<IncidentId>, StoreError> {
        self.local.open_incidents()
    }

    fn open_runs(&self) -> Result<Vec<RunId>, StoreError> {
        self.local.open_runs()
    }

    fn last(&self) -> Result<Option<Event>, StoreError> {
        self.local.last()
    }

    fn verify(&self) -> Result<ChainCheck, StoreError> {
        self.local.verify()
    }

    fn snapshot(&self) -> Result<Vec<Event>, StoreError> {
        self.local.snapshot()
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        self.local.check_writable()
    }
}

fn poisoned() -> StoreError {
    StoreError::Io("a previous append panicked while holding the [ha] log".into())
}

/// The store's own runtime for its table calls (see the module's note on bridging).
struct Bridge {
    runtime: Option<Runtime>,
}

impl Bridge {
    fn new() -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lifeboat-ha")
            .enable_all()
            .build()
            .map_err(|err| StoreError::Io(format!("cannot start the [ha] runtime: {err}")))?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Runs `future` on the store's runtime and waits for it without stalling the caller's.
    fn run<F>(&self, future: F) -> Result<F::Output, StoreError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let stopped = || StoreError::Io("the [ha] runtime stopped".into());
        let runtime = self.runtime.as_ref().ok_or_else(stopped)?;
        let (done, result) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = done.send(future.await);
        });
        let wait = move || result.recv().map_err(|_| stopped());
        match Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime: let it go instead.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
