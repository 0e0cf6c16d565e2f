//! The append path: a batch sealed onto the chain (redacted first) and written with its index
//! entries and the head in one transaction, never over a stored event; and the import of a
//! log sealed elsewhere (a backup being restored).

use chrono::Utc;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::index::{
    IndexBatch, index_key, index_record, kind_value, opens_or_closes, provider_keys,
};
use super::{SledStore, io, poisoned, trees};
use crate::domain::event::{Event, NewEvent};
use crate::ports::store::StoreError;

impl SledStore {
    /// Fills an empty log with events sealed elsewhere (a backup being restored), keeping
    /// their seq, time and hashes. Refused when the log already holds anything.
    pub fn import(&self, events: &[Event]) -> Result<(), StoreError> {
        let mut head = self.head.lock().map_err(|_| poisoned())?;
        if head.0 != 0 || !self.events.is_empty() {
            return Err(StoreError::Open {
                path: "the target log".into(),
                reason: "it already holds events; a restore needs an empty one".into(),
            });
        }
        let Some(last) = events.last() else {
            return Ok(());
        };
        let mut log = sled::Batch::default();
        let mut indexes = IndexBatch::default();
        for event in events {
            log.insert(&event.seq.to_be_bytes(), event.to_bytes());
            indexes.add(event);
        }
        self.events.apply_batch(log).map_err(io)?;
        indexes.apply(self)?;
        let head_bytes = serde_json::to_vec(&(last.seq, &last.hash)).unwrap_or_default();
        self.meta.insert(trees::HEAD_KEY, head_bytes).map_err(io)?;
        // Written after everything it covers: a crash before it makes the next open rebuild.
        self.meta
            .insert(trees::INDEX_KEY, index_record(last.seq))
            .map_err(io)?;
        self.flush()?;
        *head = (last.seq, last.hash.clone());
        Ok(())
    }

    pub(super) fn seal_and_insert(&self, batch: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
        let mut head = self.head.lock().map_err(|_| poisoned())?;
        let sealed = self.seal(batch, &head);
        self.insert_sealed(&mut head, sealed)
    }

    /// Seals a batch onto the head as an append would (redacted, next seqs, chained) without
    /// storing it: for a store that makes the events durable elsewhere first (`crate::ha`) and
    /// then keeps them here with [`SledStore::append_sealed`]. The caller serialises the two.
    pub fn seal_next(&self, batch: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
        let head = self.head.lock().map_err(|_| poisoned())?;
        Ok(self.seal(batch, &head))
    }

    /// Appends events sealed elsewhere (by this node before it replicated them, or by another
    /// node of an `[ha]` pair), keeping their seq, time and hashes, with their index entries,
    /// durably. Refused unless they continue this log's chain exactly and each one's hash
    /// matches its content: a replica never takes a broken link.
    pub fn append_sealed(&self, events: Vec<Event>) -> Result<(), StoreError> {
        let mut head = self.head.lock().map_err(|_| poisoned())?;
        let (mut seq, mut prev) = head.clone();
        for event in &events {
            let reason = if event.seq != seq + 1 {
                Some(format!("expected event {} next", seq + 1))
            } else if event.prev != prev {
                Some("its prev hash is not the hash of the log's last event".to_owned())
            } else if event.compute_hash() != event.hash {
                Some("its content does not match its hash".to_owned())
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(StoreError::Corrupt {
                    seq: event.seq,
                    reason: format!("refusing a replicated event: {reason}"),
                });
            }
            seq = event.seq;
            prev.clone_from(&event.hash);
        }
        self.insert_sealed(&mut head, events)?;
        drop(head);
        self.flush()
    }

    fn seal(&self, batch: Vec<NewEvent>, head: &(u64, String)) -> Vec<Event> {
        let now = Utc::now();
        let mut prev = head.1.clone();
        let mut seq = head.0;
        batch
            .into_iter()
            .map(|mut new| {
                if let Some(redactor) = &self.redactor {
                    redactor.redact_json(&mut new.data);
                }
                seq += 1;
                let event = Event::seal(new, seq, now, &prev);
                prev = event.hash.clone();
                event
            })
            .collect()
    }

    /// Writes sealed events after `head` with their index entries and the new head, in one
    /// transaction, never over a stored event; moves `head` once committed.
    fn insert_sealed(
        &self,
        head: &mut (u64, String),
        sealed: Vec<Event>,
    ) -> Result<Vec<Event>, StoreError> {
        let Some(last) = sealed.last() else {
            return Ok(sealed);
        };
        let head_bytes = serde_json::to_vec(&(last.seq, &last.hash)).unwrap_or_default();
        let index_bytes = index_record(last.seq);
        let trees = (
            &self.events,
            &self.by_incident,
            &self.by_run,
            &self.by_kind,
            &self.by_provider,
            &self.open,
            &self.meta,
        );
        trees
            .transaction(
                |(events, by_incident, by_run, by_kind, by_provider, open, meta)| {
                    for event in &sealed {
                        let key = event.seq.to_be_bytes();
                        if events.get(key)?.is_some() {
                            // Never overwrite: a stored event is history.
                            return Err(ConflictableTransactionError::Abort(event.seq));
                        }
                        events.insert(&key, event.to_bytes())?;
                        if let Some(incident) = &event.incident {
                            by_incident.insert(index_key(incident.as_str(), event.seq), &[])?;
                        }
                        if let Some(run) = &event.run {
                            by_run.insert(index_key(run.as_str(), event.seq), &[])?;
                        }
                        by_kind.insert(index_key(&event.kind, event.seq), kind_value(event))?;
                        for key in provider_keys(event) {
                            by_provider.insert(key, &[])?;
                        }
                        match opens_or_closes(event) {
                            Some((key, true)) => {
                                open.insert(key, &event.seq.to_be_bytes())?;
                            }
                            Some((key, false)) => {
                                open.remove(key)?;
                            }
                            None => {}
                        }
                    }
                    meta.insert(trees::HEAD_KEY, head_bytes.as_slice())?;
                    meta.insert(trees::INDEX_KEY, index_bytes.as_slice())?;
                    Ok(())
                },
            )
            .map_err(|err| match err {
                TransactionError::Abort(seq) => StoreError::Corrupt {
                    seq,
                    reason: "an event with this seq is already stored; refusing to overwrite"
                        .into(),
                },
                TransactionError::Storage(err) => io(err),
            })?;
        *head = (last.seq, last.hash.clone());
        Ok(sealed)
    }
}
