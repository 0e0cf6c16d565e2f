//! The `EventStore` port: the append-only, hash-chained event log, as every layer uses it. The
//! sled implementation is `crate::store::SledStore`; the events themselves and the chain's
//! rules are `crate::domain::event`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

use crate::domain::event::{ChainCheck, Event, NewEvent};
use crate::domain::{HealthLevel, IncidentId, RunId};
use crate::events::{EventKind, Payload};

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
    /// `[ha]`: this node does not hold the lease at the epoch it would write under (it was
    /// deposed, or its acting deadline passed): nothing was recorded, nothing may start.
    #[error("refused: {0}")]
    Fenced(String),
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

/// How a provider event bears on a bad episode of its provider: a settled outage or
/// degradation or an alert posted (which alone make a provider involved in an incident), an
/// unhealthy raw observation (which may start an episode), or a recovery (which ends one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EpisodeMark {
    Settled,
    Observed,
    Recovered,
}

/// The provider an event is about (`feed.*`, `alert.*`, `vendor.*` events), if any.
pub fn provider_of(event: &Event) -> Option<String> {
    if !event
        .event_kind()
        .is_some_and(EventKind::is_about_a_provider)
    {
        return None;
    }
    event.payload().ok()?.provider().map(str::to_owned)
}

/// A provider event's provider and its episode mark, if it has one; other events are not
/// decoded.
pub fn episode_mark(event: &Event) -> Option<(String, EpisodeMark)> {
    if !event
        .event_kind()
        .is_some_and(EventKind::is_about_a_provider)
    {
        return None;
    }
    let payload = event.payload().ok()?;
    let mark = match &payload {
        Payload::FeedDegraded(_) | Payload::FeedOutage(_) | Payload::AlertPosted(_) => {
            EpisodeMark::Settled
        }
        Payload::FeedObserved(observed)
            if matches!(
                observed.to,
                Some(HealthLevel::Degraded | HealthLevel::PartialOutage | HealthLevel::MajorOutage)
            ) =>
        {
            EpisodeMark::Observed
        }
        Payload::FeedRecovered(_) | Payload::AlertRecovered(_) => EpisodeMark::Recovered,
        _ => return None,
    };
    Some((payload.provider()?.to_owned(), mark))
}

/// Per provider, the seq where its bad episode still open after these marks (in seq order)
/// began: the first settled or observed mark after its last recovery. Only episodes with a
/// settled mark count: a single raw observation is noise.
pub fn episode_starts(
    marks: impl IntoIterator<Item = (u64, String, EpisodeMark)>,
) -> BTreeMap<String, u64> {
    // Per provider: (start of the current episode, whether it has a settled mark).
    let mut episode: BTreeMap<String, (u64, bool)> = BTreeMap::new();
    for (seq, provider, mark) in marks {
        match mark {
            EpisodeMark::Recovered => {
                episode.remove(&provider);
            }
            EpisodeMark::Settled | EpisodeMark::Observed => {
                let slot = episode.entry(provider).or_insert((seq, false));
                slot.1 |= mark == EpisodeMark::Settled;
            }
        }
    }
    episode
        .into_iter()
        .filter(|(_, (_, settled))| *settled)
        .map(|(provider, (start, _))| (provider, start))
        .collect()
}

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
    /// The events of these kinds with a seq in `seqs`, in seq order.
    fn kinds_in(
        &self,
        kinds: &[&str],
        seqs: RangeInclusive<u64>,
    ) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .range(seqs)?
            .into_iter()
            .filter(|e| kinds.contains(&e.kind.as_str()))
            .collect())
    }
    /// Every provider named by a provider event (`feed.*`, `alert.*`, `vendor.*`), by name.
    fn providers(&self) -> Result<Vec<String>, StoreError> {
        let names: BTreeSet<String> = self.all()?.iter().filter_map(provider_of).collect();
        Ok(names.into_iter().collect())
    }
    /// The events about `provider` with a seq in `seqs`, in seq order.
    fn by_provider(
        &self,
        provider: &str,
        seqs: RangeInclusive<u64>,
    ) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .range(seqs)?
            .into_iter()
            .filter(|e| provider_of(e).as_deref() == Some(provider))
            .collect())
    }
    /// The newest events about `provider` with a seq below `before`, newest first, at most
    /// `limit` of them.
    fn recent_of_provider(
        &self,
        provider: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let mut events = self.by_provider(provider, 1..=before.saturating_sub(1))?;
        events.reverse();
        events.truncate(limit);
        Ok(events)
    }
    /// Where the bad episode of `provider` still open just before seq `before` began (see
    /// [`episode_starts`]), if one is.
    fn episode_start(&self, provider: &str, before: u64) -> Result<Option<u64>, StoreError> {
        let marks = self
            .by_provider(provider, 1..=before.saturating_sub(1))?
            .iter()
            .filter_map(|e| episode_mark(e).map(|(p, mark)| (e.seq, p, mark)))
            .collect::<Vec<_>>();
        Ok(episode_starts(marks).remove(provider))
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
    fn verify(&self) -> Result<ChainCheck, StoreError>;
    /// Every event up to the last fully committed append, even while others append: what a
    /// backup copies. Stores whose `all` can see half of a batch override this.
    fn snapshot(&self) -> Result<Vec<Event>, StoreError> {
        self.all()
    }
    /// Proves the log can still be written (for `/healthz`) without adding an event.
    fn check_writable(&self) -> Result<(), StoreError>;
}
