//! The `EventStore` port: the append-only, hash-chained event log, as every layer uses it. The
//! sled implementation is `crate::store::SledStore`; the events themselves and the chain's
//! rules are `crate::domain::event`.

use std::ops::RangeInclusive;

use crate::domain::event::{Event, NewEvent, Verdict};
use crate::domain::{IncidentId, RunId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the data directory {path} is in use by another running Lifeboat (only one may hold it at a time)"
    )]
    Locked { path: String },
    #[error("cannot open the event log in {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("event log I/O failed: {0}")]
    Io(String),
    #[error("event {seq} is corrupt: {reason}")]
    Corrupt { seq: u64, reason: String },
}

/// The append-only event log. Appends are serialised and durable before they return.
pub trait EventStore: Send + Sync {
    fn append(&self, event: NewEvent) -> Result<Event, StoreError>;
    /// Appends several events atomically, with one flush.
    fn append_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Event>, StoreError>;
    fn by_incident(&self, incident: &IncidentId) -> Result<Vec<Event>, StoreError>;
    fn by_run(&self, run: &RunId) -> Result<Vec<Event>, StoreError>;
    fn range(&self, seqs: RangeInclusive<u64>) -> Result<Vec<Event>, StoreError>;
    /// Every event, in seq order.
    fn all(&self) -> Result<Vec<Event>, StoreError> {
        self.range(1..=u64::MAX)
    }
    /// The last event, if any.
    fn last(&self) -> Result<Option<Event>, StoreError>;
    /// Walks the whole chain.
    fn verify(&self) -> Result<Verdict, StoreError>;
    /// Every event up to the last fully committed append, even while others append: what a
    /// backup copies. Stores whose `all` can see half of a batch override this.
    fn snapshot(&self) -> Result<Vec<Event>, StoreError> {
        self.all()
    }
    /// Proves the log can still be written (for `/healthz`) without adding an event.
    fn check_writable(&self) -> Result<(), StoreError>;
}
