//! The indexes' layout: their version and record, the keys of the incident, run, kind and
//! provider indexes and of the open incidents and runs, and the batch that files events
//! written outside a transaction (an import, a rebuild).

use super::{SledStore, io};
use crate::domain::event::Event;
use crate::domain::{IncidentId, RunId};
use crate::ports::store::{
    CLOSE_RUN, CLOSES_INCIDENT, EpisodeMark, OPENS_INCIDENT, OPENS_RUN, StoreError, episode_mark,
    provider_of,
};

/// The layout of the indexes; a log whose index record names another is re-indexed on open.
pub(super) const INDEX_VERSION: u32 = 3;

pub(super) fn index_record(seq: u64) -> Vec<u8> {
    serde_json::to_vec(&(INDEX_VERSION, seq)).unwrap_or_default()
}

pub(super) const OPEN_INCIDENT: &[u8] = b"i\0";
pub(super) const OPEN_RUN: &[u8] = b"r\0";

/// The open index's key an event opens (`true`) or closes (`false`), if it does either.
pub(super) fn opens_or_closes(event: &Event) -> Option<(Vec<u8>, bool)> {
    let key = |prefix: &[u8], id: &str| [prefix, id.as_bytes()].concat();
    let kind = event.kind.as_str();
    match (&event.incident, &event.run) {
        (_, Some(run)) if kind == OPENS_RUN => Some((key(OPEN_RUN, run.as_str()), true)),
        (_, Some(run)) if CLOSE_RUN.contains(&kind) => Some((key(OPEN_RUN, run.as_str()), false)),
        (Some(incident), _) if kind == OPENS_INCIDENT => {
            Some((key(OPEN_INCIDENT, incident.as_str()), true))
        }
        (Some(incident), _) if kind == CLOSES_INCIDENT => {
            Some((key(OPEN_INCIDENT, incident.as_str()), false))
        }
        _ => None,
    }
}

/// The provider index's tags: every event about a provider, and its episode marks.
pub(super) const EVERY: u8 = b'e';

pub(super) fn mark_tag(mark: EpisodeMark) -> u8 {
    match mark {
        EpisodeMark::Settled => b's',
        EpisodeMark::Observed => b'o',
        EpisodeMark::Recovered => b'r',
    }
}

/// `provider \0 tag seq`.
pub(super) fn provider_key(provider: &str, tag: u8, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(provider.len() + 10);
    key.extend_from_slice(provider.as_bytes());
    key.push(0);
    key.push(tag);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The provider index's keys of an event: none unless it is about a provider.
pub(super) fn provider_keys(event: &Event) -> Vec<Vec<u8>> {
    let Some(provider) = provider_of(event) else {
        return Vec::new();
    };
    let mut keys = vec![provider_key(&provider, EVERY, event.seq)];
    if let Some((_, mark)) = episode_mark(event) {
        keys.push(provider_key(&provider, mark_tag(mark), event.seq));
    }
    keys
}

/// The kind index's value: the event's incident and run ids.
pub(super) fn kind_value(event: &Event) -> Vec<u8> {
    serde_json::to_vec(&(
        event.incident.as_ref().map(IncidentId::as_str),
        event.run.as_ref().map(RunId::as_str),
    ))
    .unwrap_or_default()
}

/// Index entries gathered for events written outside a transaction (an import, a rebuild).
#[derive(Default)]
pub(super) struct IndexBatch {
    incidents: sled::Batch,
    runs: sled::Batch,
    kinds: sled::Batch,
    providers: sled::Batch,
    open: sled::Batch,
    pub(super) len: usize,
}

impl IndexBatch {
    pub(super) fn add(&mut self, event: &Event) {
        if let Some(incident) = &event.incident {
            self.incidents
                .insert(index_key(incident.as_str(), event.seq), &[]);
        }
        if let Some(run) = &event.run {
            self.runs.insert(index_key(run.as_str(), event.seq), &[]);
        }
        self.kinds
            .insert(index_key(&event.kind, event.seq), kind_value(event));
        for key in provider_keys(event) {
            self.providers.insert(key, &[]);
        }
        // A batch keeps the last write per key: a close after an open in it wins, as in order.
        match opens_or_closes(event) {
            Some((key, true)) => self.open.insert(key, &event.seq.to_be_bytes()),
            Some((key, false)) => self.open.remove(key),
            None => {}
        }
        self.len += 1;
    }

    pub(super) fn apply(self, store: &SledStore) -> Result<(), StoreError> {
        store.by_incident.apply_batch(self.incidents).map_err(io)?;
        store.by_run.apply_batch(self.runs).map_err(io)?;
        store.by_kind.apply_batch(self.kinds).map_err(io)?;
        store.by_provider.apply_batch(self.providers).map_err(io)?;
        store.open.apply_batch(self.open).map_err(io)
    }
}

pub(super) fn index_key(id: &str, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(id.len() + 9);
    key.extend_from_slice(id.as_bytes());
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

pub(super) fn key_seq(key: &[u8]) -> u64 {
    key.try_into().map(u64::from_be_bytes).unwrap_or(u64::MAX)
}
