//! The `EventStore` on sled: events keyed by big-endian seq, secondary indexes by incident,
//! run and kind written in the same transaction as the event, and a head record (last seq and
//! hash) so that a removed tail is detectable. An index record (version and the seq it covers)
//! says whether the indexes match the log; on open, indexes that are missing (a log from
//! before they existed), of an older version or behind the head are rebuilt from the events.
//!
//! One idea per file: opening and recovery (`open`), the append and seal path (`append`), the
//! indexes' keys and their batch (`index`), the reads through them (`queries`), and the
//! `EventStore` port on top of those (`event_store`).

mod append;
mod event_store;
mod index;
mod open;
mod queries;
#[cfg(test)]
mod tests;

use std::sync::Mutex;

use crate::domain::event::Event;
use crate::ports::store::StoreError;

/// Names of the sled trees, public so that tests and tools can inspect the raw log.
pub mod trees {
    pub const EVENTS: &str = "events";
    pub const BY_INCIDENT: &str = "by_incident";
    pub const BY_RUN: &str = "by_run";
    /// `kind \0 seq` → the event's incident and run ids (JSON), so that which incidents and
    /// runs began or ended is known without reading the events.
    pub const BY_KIND: &str = "by_kind";
    /// The events about a provider: `provider \0 tag seq`, where tag `e` files every event
    /// about it and `s`, `o`, `r` its episode marks (settled, observed, recovered), so that
    /// where its bad episode began is found without reading events.
    pub const BY_PROVIDER: &str = "by_provider";
    /// The incidents and runs open now: `i \0 id` or `r \0 id` → the seq that opened it.
    pub const OPEN: &str = "open";
    pub const META: &str = "meta";
    pub const HEAD_KEY: &[u8] = b"head";
    /// `[version, seq]`: the indexes' layout version and the last seq they cover.
    pub const INDEX_KEY: &[u8] = b"indexes";
    /// Rewritten by `check_writable`; never part of the chain.
    pub const PROBE_KEY: &[u8] = b"write_probe";
}

pub struct SledStore {
    db: sled::Db,
    events: sled::Tree,
    by_incident: sled::Tree,
    by_run: sled::Tree,
    by_kind: sled::Tree,
    by_provider: sled::Tree,
    open: sled::Tree,
    meta: sled::Tree,
    /// Last seq and hash. Held while sealing and inserting so appends are serialised; the
    /// flush happens after release so concurrent appenders share one fsync.
    head: Mutex<(u64, String)>,
    metrics: crate::metrics::Recorder,
    /// What no event may hold (`lifeboat run`'s secrets); `None`: events go as given.
    redactor: Option<crate::redact::Redactor>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

impl SledStore {
    /// Every string of every event appended from now on loses these secrets (and any URL's
    /// user info) before it is sealed: command output, HTTP error bodies, error messages.
    pub fn with_redactor(mut self, redactor: crate::redact::Redactor) -> Self {
        self.redactor = Some(redactor);
        self
    }

    /// Replaces where metrics go (a drill's log turns them off).
    pub fn with_metrics(mut self, metrics: crate::metrics::Recorder) -> Self {
        self.metrics = metrics;
        self
    }

    /// Flushes everything to disk; called on shutdown (appends are already durable).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(io)
    }
}

pub(super) fn decode(seq: u64, bytes: &[u8]) -> Result<Event, StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
        seq,
        reason: err.to_string(),
    })
}

pub(super) fn io(err: sled::Error) -> StoreError {
    StoreError::Io(err.to_string())
}

pub(super) fn poisoned() -> StoreError {
    StoreError::Io("a previous append panicked while holding the log".into())
}
