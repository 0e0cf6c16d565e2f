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

/// Where an event is filed in the store's kind index: enough to tell which incidents and runs
/// began or ended without reading the events themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filed {
    pub seq: u64,
    pub kind: String,
    pub incident: Option<IncidentId>,
    pub run: Option<RunId>,
}

impl Filed {
    pub fn of(event: &Event) -> Self {
        Self {
            seq: event.seq,
            kind: event.kind.clone(),
            incident: event.incident.clone(),
            run: event.run.clone(),
        }
    }
}

/// The kinds that open and close incidents and runs, for `open_incidents` and `open_runs`.
pub const OPENS_INCIDENT: &str = "incident.declared";
pub const CLOSES_INCIDENT: &str = "incident.resolved";
pub const OPENS_RUN: &str = "run.started";
pub const CLOSE_RUN: [&str; 4] = [
    "run.succeeded",
    "run.failed",
    "run.aborted",
    "run.cancelled",
];

/// The ids still open after a sequence of (opens?, id), in order of their opening.
fn still_open<T: Ord + Clone>(marks: impl Iterator<Item = (bool, Option<T>)>) -> Vec<T> {
    let mut open: Vec<T> = Vec::new();
    for (opens, id) in marks {
        let Some(id) = id else { continue };
        open.retain(|o| *o != id);
        if opens {
            open.push(id);
        }
    }
    open
}

/// The append-only event log. Appends are serialised and durable before they return.
///
/// Command paths read through the narrow queries (by incident, by run, by kind, the newest of
/// some kinds), never the whole log: their cost follows what they show, not the log's length.
/// The defaults walk `all()`, for small stores (tests' wrappers); the sled store answers them
/// from indexes kept with every append.
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
    /// Every event of these kinds, in seq order.
    fn by_kinds(&self, kinds: &[&str]) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .all()?
            .into_iter()
            .filter(|e| kinds.contains(&e.kind.as_str()))
            .collect())
    }
    /// The newest events of these kinds with a seq below `before`, newest first, at most
    /// `limit` of them (page further back with the last one's seq).
    fn recent_of_kinds(
        &self,
        kinds: &[&str],
        before: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .all()?
            .into_iter()
            .rev()
            .filter(|e| e.seq < before && kinds.contains(&e.kind.as_str()))
            .take(limit)
            .collect())
    }
    /// Where every event of these kinds is filed (seq, kind, incident, run), in seq order,
    /// without reading the events.
    fn filed(&self, kinds: &[&str]) -> Result<Vec<Filed>, StoreError> {
        Ok(self.by_kinds(kinds)?.iter().map(Filed::of).collect())
    }
    /// Incidents declared and not resolved since, oldest declaration first.
    fn open_incidents(&self) -> Result<Vec<IncidentId>, StoreError> {
        let filed = self.filed(&[OPENS_INCIDENT, CLOSES_INCIDENT])?;
        Ok(still_open(
            filed
                .into_iter()
                .map(|f| (f.kind == OPENS_INCIDENT, f.incident)),
        ))
    }
    /// Runs started and not finished (succeeded, failed, aborted or cancelled), oldest first;
    /// paused runs are open.
    fn open_runs(&self) -> Result<Vec<RunId>, StoreError> {
        let mut kinds = vec![OPENS_RUN];
        kinds.extend(CLOSE_RUN);
        let filed = self.filed(&kinds)?;
        Ok(still_open(
            filed.into_iter().map(|f| (f.kind == OPENS_RUN, f.run)),
        ))
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
