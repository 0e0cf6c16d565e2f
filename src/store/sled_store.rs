//! The `EventStore` on sled: events keyed by big-endian seq, secondary indexes by incident and
//! run, and a head record (last seq and hash) so that a removed tail is detectable.

use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::Mutex;

use chrono::Utc;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::domain::event::{Event, GENESIS, NewEvent, Verdict, verify_chain};
use crate::domain::{IncidentId, RunId};
use crate::ports::store::{EventStore, StoreError};

/// Names of the sled trees, public so that tests and tools can inspect the raw log.
pub mod trees {
    pub const EVENTS: &str = "events";
    pub const BY_INCIDENT: &str = "by_incident";
    pub const BY_RUN: &str = "by_run";
    pub const META: &str = "meta";
    pub const HEAD_KEY: &[u8] = b"head";
    /// Rewritten by `check_writable`; never part of the chain.
    pub const PROBE_KEY: &[u8] = b"write_probe";
}

pub struct SledStore {
    db: sled::Db,
    events: sled::Tree,
    by_incident: sled::Tree,
    by_run: sled::Tree,
    meta: sled::Tree,
    /// Last seq and hash. Held while sealing and inserting so appends are serialised; the
    /// flush happens after release so concurrent appenders share one fsync.
    head: Mutex<(u64, String)>,
    metrics: crate::metrics::Recorder,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the log in `dir`. Fails with `Locked` when another process holds it.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.display().to_string();
        if dir.exists() && !dir.is_dir() {
            return Err(StoreError::Open {
                path,
                reason: "it exists but is not a directory".to_owned(),
            });
        }
        let db = open_db(dir, &path)?;
        let open_tree = |name: &str| db.open_tree(name).map_err(io);
        let store = Self {
            events: open_tree(trees::EVENTS)?,
            by_incident: open_tree(trees::BY_INCIDENT)?,
            by_run: open_tree(trees::BY_RUN)?,
            meta: open_tree(trees::META)?,
            head: Mutex::new((0, GENESIS.to_owned())),
            db,
            metrics: crate::metrics::Recorder::live(),
        };
        let head = match store.meta.get(trees::HEAD_KEY).map_err(io)? {
            Some(bytes) => parse_head(&bytes)?,
            None => (0, GENESIS.to_owned()),
        };
        *store.head.lock().map_err(|_| poisoned())? = head;
        Ok(store)
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
        let (mut log, mut incidents, mut runs) = (
            sled::Batch::default(),
            sled::Batch::default(),
            sled::Batch::default(),
        );
        for event in events {
            log.insert(&event.seq.to_be_bytes(), event.to_bytes());
            if let Some(incident) = &event.incident {
                incidents.insert(index_key(incident.as_str(), event.seq), &[]);
            }
            if let Some(run) = &event.run {
                runs.insert(index_key(run.as_str(), event.seq), &[]);
            }
        }
        self.events.apply_batch(log).map_err(io)?;
        self.by_incident.apply_batch(incidents).map_err(io)?;
        self.by_run.apply_batch(runs).map_err(io)?;
        let head_bytes = serde_json::to_vec(&(last.seq, &last.hash)).unwrap_or_default();
        self.meta.insert(trees::HEAD_KEY, head_bytes).map_err(io)?;
        self.flush()?;
        *head = (last.seq, last.hash.clone());
        Ok(())
    }

    fn seal_and_insert(&self, batch: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
        let mut head = self.head.lock().map_err(|_| poisoned())?;
        let now = Utc::now();
        let mut prev = head.1.clone();
        let mut seq = head.0;
        let sealed: Vec<Event> = batch
            .into_iter()
            .map(|new| {
                seq += 1;
                let event = Event::seal(new, seq, now, &prev);
                prev = event.hash.clone();
                event
            })
            .collect();
        let Some(last) = sealed.last() else {
            return Ok(sealed);
        };
        let head_bytes = serde_json::to_vec(&(last.seq, &last.hash)).unwrap_or_default();
        (&self.events, &self.by_incident, &self.by_run, &self.meta)
            .transaction(|(events, by_incident, by_run, meta)| {
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
                }
                meta.insert(trees::HEAD_KEY, head_bytes.as_slice())?;
                Ok(())
            })
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

    fn by_index(&self, tree: &sled::Tree, id: &str) -> Result<Vec<Event>, StoreError> {
        let mut prefix = id.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for entry in tree.scan_prefix(&prefix) {
            let (key, _) = entry.map_err(io)?;
            let seq_bytes: [u8; 8] = key[prefix.len()..]
                .try_into()
                .map_err(|_| StoreError::Io("malformed index key".into()))?;
            let seq = u64::from_be_bytes(seq_bytes);
            out.push(self.get(seq)?.ok_or_else(|| StoreError::Corrupt {
                seq,
                reason: "indexed but missing from the log".into(),
            })?);
        }
        Ok(out)
    }

    fn get(&self, seq: u64) -> Result<Option<Event>, StoreError> {
        self.events
            .get(seq.to_be_bytes())
            .map_err(io)?
            .map(|bytes| decode(seq, &bytes))
            .transpose()
    }
}

impl EventStore for SledStore {
    fn append(&self, event: NewEvent) -> Result<Event, StoreError> {
        let mut sealed = self.append_batch(vec![event])?;
        sealed
            .pop()
            .ok_or_else(|| StoreError::Io("append produced no event".into()))
    }

    fn append_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
        let appended = self.seal_and_insert(events).and_then(|sealed| {
            // Durable before we return; concurrent appenders that inserted meanwhile share this fsync.
            self.flush()?;
            Ok(sealed)
        });
        match &appended {
            Ok(sealed) => self.metrics.events_appended(sealed.len()),
            Err(_) => self.metrics.append_failed(),
        }
        appended
    }

    fn snapshot(&self) -> Result<Vec<Event>, StoreError> {
        // The head moves only after its append's transaction committed, so every event up to
        // it is readable in full while later appends carry on.
        let head = self.head.lock().map_err(|_| poisoned())?.0;
        if head == 0 {
            return Ok(Vec::new());
        }
        self.range(1..=head)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        let now = Utc::now().timestamp_millis().to_be_bytes();
        self.meta.insert(trees::PROBE_KEY, &now).map_err(io)?;
        self.flush()
    }

    fn by_incident(&self, incident: &IncidentId) -> Result<Vec<Event>, StoreError> {
        self.by_index(&self.by_incident, incident.as_str())
    }

    fn by_run(&self, run: &RunId) -> Result<Vec<Event>, StoreError> {
        self.by_index(&self.by_run, run.as_str())
    }

    fn range(&self, seqs: RangeInclusive<u64>) -> Result<Vec<Event>, StoreError> {
        let (start, end) = (seqs.start().to_be_bytes(), seqs.end().to_be_bytes());
        self.events
            .range(start..=end)
            .map(|entry| {
                let (key, bytes) = entry.map_err(io)?;
                decode(key_seq(&key), &bytes)
            })
            .collect()
    }

    fn last(&self) -> Result<Option<Event>, StoreError> {
        match self.events.last().map_err(io)? {
            Some((key, bytes)) => decode(key_seq(&key), &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn verify(&self) -> Result<Verdict, StoreError> {
        let head = match self.meta.get(trees::HEAD_KEY).map_err(io)? {
            Some(bytes) => Some(parse_head(&bytes)?),
            None => None,
        };
        let mut read_error = None;
        let stored = self.events.iter().map_while(|entry| match entry {
            Ok((key, bytes)) => Some((key_seq(&key), bytes.to_vec())),
            Err(err) => {
                read_error = Some(err);
                None
            }
        });
        let verdict = verify_chain(stored, head);
        match read_error {
            Some(err) => Err(io(err)),
            None => Ok(verdict),
        }
    }
}

/// How long an open waits for a lock that is being released (see `open_db`).
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens sled, waiting briefly for the file lock. sled releases it only when its last
/// internal handle goes, which can be a few milliseconds after a `Db` in this process is
/// dropped; a lock held by another running Lifeboat is still refused after the grace.
fn open_db(dir: &Path, path: &str) -> Result<sled::Db, StoreError> {
    let deadline = std::time::Instant::now() + LOCK_GRACE;
    loop {
        // No background flusher: every append flushes itself.
        let opened = sled::Config::new().path(dir).flush_every_ms(None).open();
        match opened {
            Ok(db) => return Ok(db),
            Err(err) if err.to_string().contains("could not acquire lock") => {
                if std::time::Instant::now() >= deadline {
                    return Err(StoreError::Locked {
                        path: path.to_owned(),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(err) => {
                return Err(StoreError::Open {
                    path: path.to_owned(),
                    reason: err.to_string(),
                });
            }
        }
    }
}

fn index_key(id: &str, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(id.len() + 9);
    key.extend_from_slice(id.as_bytes());
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn key_seq(key: &[u8]) -> u64 {
    key.try_into().map(u64::from_be_bytes).unwrap_or(u64::MAX)
}

fn decode(seq: u64, bytes: &[u8]) -> Result<Event, StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
        seq,
        reason: err.to_string(),
    })
}

fn parse_head(bytes: &[u8]) -> Result<(u64, String), StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
        seq: 0,
        reason: format!("head record: {err}"),
    })
}

fn io(err: sled::Error) -> StoreError {
    StoreError::Io(err.to_string())
}

fn poisoned() -> StoreError {
    StoreError::Io("a previous append panicked while holding the log".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use serde_json::json;

    #[test]
    fn appends_chain_and_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let inc = IncidentId::from("INC-1");
        let run = RunId::from("RUN-1");
        let a = store
            .append(NewEvent::new(Actor::Bot, "incident.declared", json!({})).incident(inc.clone()))
            .unwrap();
        let b = store
            .append(
                NewEvent::new(Actor::Bot, "run.requested", json!({"runbook": "x"}))
                    .incident(inc.clone())
                    .run(run.clone()),
            )
            .unwrap();
        store
            .append(NewEvent::new(Actor::Scheduler, "reminder", json!({})))
            .unwrap();
        assert_eq!((a.seq, b.seq), (1, 2));
        assert_eq!(b.prev, a.hash);
        assert_eq!(store.by_incident(&inc).unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(store.by_run(&run).unwrap(), vec![b.clone()]);
        assert_eq!(store.range(2..=3).unwrap().len(), 2);
        assert_eq!(store.last().unwrap().unwrap().seq, 3);
        assert!(matches!(
            store.verify().unwrap(),
            Verdict::Intact { events: 3, .. }
        ));
    }

    #[test]
    fn a_second_open_of_the_same_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = SledStore::open(dir.path()).unwrap();
        // sled's lock is per process file handle: a second open in this process is refused too.
        match SledStore::open(dir.path()) {
            Err(StoreError::Locked { .. }) => {}
            other => panic!("expected Locked, got {other:?}"),
        }
    }

    #[test]
    fn a_file_in_place_of_the_dir_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data");
        std::fs::write(&file, b"x").unwrap();
        let err = SledStore::open(&file).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }
}
