//! Opening the log: the file lock (with a short grace for this process's own last handle),
//! the head record, and the indexes rebuilt from the events when they are missing, of an
//! older layout or behind the head (a crash between an event and its index record).

use std::path::Path;
use std::sync::Mutex;

use super::index::{INDEX_VERSION, IndexBatch, index_record, key_seq};
use super::{SledStore, decode, io, poisoned, trees};
use crate::domain::event::GENESIS;
use crate::ports::store::StoreError;

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
            by_kind: open_tree(trees::BY_KIND)?,
            by_provider: open_tree(trees::BY_PROVIDER)?,
            open: open_tree(trees::OPEN)?,
            meta: open_tree(trees::META)?,
            head: Mutex::new((0, GENESIS.to_owned())),
            db,
            metrics: crate::metrics::Recorder::live(),
            redactor: None,
        };
        let head = match store.meta.get(trees::HEAD_KEY).map_err(io)? {
            Some(bytes) => parse_head(&bytes)?,
            None => (0, GENESIS.to_owned()),
        };
        let indexed = match store.meta.get(trees::INDEX_KEY).map_err(io)? {
            Some(bytes) => serde_json::from_slice::<(u32, u64)>(&bytes).ok(),
            None => None,
        };
        if indexed != Some((INDEX_VERSION, head.0)) {
            store.rebuild_indexes(head.0)?;
        }
        *store.head.lock().map_err(|_| poisoned())? = head;
        Ok(store)
    }

    /// Rebuilds every index from the events (up to `head`), then records that they cover it.
    /// The record is written last, so a crash midway leaves it stale and the next open
    /// rebuilds again.
    fn rebuild_indexes(&self, head: u64) -> Result<(), StoreError> {
        if head > 0 {
            tracing::info!(events = head, "rebuilding the event log's indexes");
        }
        self.meta.remove(trees::INDEX_KEY).map_err(io)?;
        for tree in [
            &self.by_incident,
            &self.by_run,
            &self.by_kind,
            &self.by_provider,
            &self.open,
        ] {
            tree.clear().map_err(io)?;
        }
        let mut batch = IndexBatch::default();
        for entry in self.events.range(..=head.to_be_bytes()) {
            let (key, bytes) = entry.map_err(io)?;
            batch.add(&decode(key_seq(&key), &bytes)?);
            if batch.len >= 10_000 {
                std::mem::take(&mut batch).apply(self)?;
            }
        }
        batch.apply(self)?;
        self.meta
            .insert(trees::INDEX_KEY, index_record(head))
            .map_err(io)?;
        self.flush()
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

pub(super) fn parse_head(bytes: &[u8]) -> Result<(u64, String), StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
        seq: 0,
        reason: format!("head record: {err}"),
    })
}
