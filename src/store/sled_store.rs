//! The `EventStore` on sled: events keyed by big-endian seq, secondary indexes by incident,
//! run and kind written in the same transaction as the event, and a head record (last seq and
//! hash) so that a removed tail is detectable. An index record (version and the seq it covers)
//! says whether the indexes match the log; on open, indexes that are missing (a log from
//! before they existed), of an older version or behind the head are rebuilt from the events.

use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::Mutex;

use chrono::Utc;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::domain::event::{ChainCheck, Event, GENESIS, NewEvent, verify_chain};
use crate::domain::{IncidentId, RunId};
use crate::ports::store::{
    CLOSE_RUN, CLOSES_INCIDENT, EpisodeMark, EventStore, Filed, OPENS_INCIDENT, OPENS_RUN,
    StoreError, episode_mark, provider_of,
};

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

    fn seal_and_insert(&self, batch: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
        let mut head = self.head.lock().map_err(|_| poisoned())?;
        let now = Utc::now();
        let mut prev = head.1.clone();
        let mut seq = head.0;
        let sealed: Vec<Event> = batch
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
            .collect();
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

    fn by_index(&self, tree: &sled::Tree, id: &str) -> Result<Vec<Event>, StoreError> {
        let mut prefix = id.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for entry in tree.scan_prefix(&prefix) {
            let (key, _) = entry.map_err(io)?;
            let seq_bytes: [u8; 8] = key[prefix.len()..]
                .try_into()
                .map_err(|_| StoreError::Io("malformed index key".into()))?;
            out.push(self.indexed(u64::from_be_bytes(seq_bytes))?);
        }
        Ok(out)
    }

    /// The open ids under `prefix` of the open index, in order of their opening.
    fn open_of<T>(&self, prefix: &[u8], id: fn(String) -> T) -> Result<Vec<T>, StoreError> {
        let mut open = Vec::new();
        for entry in self.open.scan_prefix(prefix) {
            let (key, seq) = entry.map_err(io)?;
            let name = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            open.push((key_seq(&seq), id(name)));
        }
        open.sort_by_key(|(seq, _)| *seq);
        Ok(open.into_iter().map(|(_, id)| id).collect())
    }

    /// An event an index points at; its absence is corruption.
    fn indexed(&self, seq: u64) -> Result<Event, StoreError> {
        self.get(seq)?.ok_or_else(|| StoreError::Corrupt {
            seq,
            reason: "indexed but missing from the log".into(),
        })
    }

    /// The kind index's entries of `kind` with a seq below `before`, newest first.
    fn kind_rev(
        &self,
        kind: &str,
        before: u64,
    ) -> impl Iterator<Item = Result<(u64, sled::IVec), StoreError>> + use<> {
        let start = index_key(kind, 0);
        let end = index_key(kind, before);
        let prefix = start.len() - 8;
        self.by_kind.range(start..end).rev().map(move |entry| {
            let (key, value) = entry.map_err(io)?;
            Ok((key_seq(&key[prefix..]), value))
        })
    }

    /// The seqs filed under `provider` and `tag` within `seqs`, oldest first (or newest first
    /// when `rev`), at most `limit` of them; reads only the index.
    fn provider_seqs(
        &self,
        provider: &str,
        tag: u8,
        seqs: RangeInclusive<u64>,
        rev: bool,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let start = provider_key(provider, tag, *seqs.start());
        let end = provider_key(provider, tag, *seqs.end());
        let prefix = start.len() - 8;
        let range = self.by_provider.range(start..=end);
        let entries: Box<dyn Iterator<Item = _>> = if rev {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        entries
            .take(limit)
            .map(|entry| {
                let (key, _) = entry.map_err(io)?;
                Ok(key_seq(&key[prefix..]))
            })
            .collect()
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

    fn by_kinds(&self, kinds: &[&str]) -> Result<Vec<Event>, StoreError> {
        let mut seqs = Vec::new();
        for kind in kinds {
            let mut prefix = kind.as_bytes().to_vec();
            prefix.push(0);
            for entry in self.by_kind.scan_prefix(&prefix) {
                let (key, _) = entry.map_err(io)?;
                seqs.push(key_seq(&key[prefix.len()..]));
            }
        }
        seqs.sort_unstable();
        seqs.into_iter().map(|seq| self.indexed(seq)).collect()
    }

    fn recent_of_kinds(
        &self,
        kinds: &[&str],
        before: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        // Merges the kinds' reverse index scans, newest first; reads only what it returns.
        let mut scans: Vec<_> = kinds
            .iter()
            .map(|kind| self.kind_rev(kind, before).peekable())
            .collect();
        let mut out = Vec::new();
        while out.len() < limit {
            let mut newest: Option<(usize, u64)> = None;
            for (i, scan) in scans.iter_mut().enumerate() {
                match scan.peek() {
                    Some(Ok((seq, _))) if newest.is_none_or(|(_, n)| *seq > n) => {
                        newest = Some((i, *seq));
                    }
                    Some(Err(_)) => {
                        return Err(scan
                            .next()
                            .and_then(Result::err)
                            .unwrap_or_else(|| StoreError::Io("index scan failed".into())));
                    }
                    _ => {}
                }
            }
            let Some((i, seq)) = newest else { break };
            scans[i].next();
            out.push(self.indexed(seq)?);
        }
        Ok(out)
    }

    fn kinds_in(
        &self,
        kinds: &[&str],
        seqs: RangeInclusive<u64>,
    ) -> Result<Vec<Event>, StoreError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for kind in kinds {
            let start = index_key(kind, *seqs.start());
            let end = index_key(kind, *seqs.end());
            let prefix = start.len() - 8;
            for entry in self.by_kind.range(start..=end) {
                let (key, _) = entry.map_err(io)?;
                found.push(key_seq(&key[prefix..]));
            }
        }
        found.sort_unstable();
        found.into_iter().map(|seq| self.indexed(seq)).collect()
    }

    fn providers(&self) -> Result<Vec<String>, StoreError> {
        // Skips from one provider's entries to the next: reads one key per provider.
        let mut names = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        while let Some(entry) = self.by_provider.range(from.clone()..).next() {
            let (key, _) = entry.map_err(io)?;
            let end = key.iter().position(|b| *b == 0).unwrap_or(key.len());
            names.push(String::from_utf8_lossy(&key[..end]).into_owned());
            from = [&key[..end], &[1u8][..]].concat();
        }
        Ok(names)
    }

    fn by_provider(
        &self,
        provider: &str,
        seqs: RangeInclusive<u64>,
    ) -> Result<Vec<Event>, StoreError> {
        self.provider_seqs(provider, EVERY, seqs, false, usize::MAX)?
            .into_iter()
            .map(|seq| self.indexed(seq))
            .collect()
    }

    fn recent_of_provider(
        &self,
        provider: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        self.provider_seqs(provider, EVERY, 1..=before.saturating_sub(1), true, limit)?
            .into_iter()
            .map(|seq| self.indexed(seq))
            .collect()
    }

    fn episode_start(&self, provider: &str, before: u64) -> Result<Option<u64>, StoreError> {
        // Four index lookups: the last recovery, the last settled mark (none after the
        // recovery: no episode), and the first settled or observed mark after the recovery.
        let upto = before.saturating_sub(1);
        let last = |mark| -> Result<Option<u64>, StoreError> {
            Ok(self
                .provider_seqs(provider, mark_tag(mark), 1..=upto, true, 1)?
                .pop())
        };
        let recovered = last(EpisodeMark::Recovered)?.unwrap_or(0);
        if last(EpisodeMark::Settled)?.is_none_or(|settled| settled <= recovered) {
            return Ok(None);
        }
        let first = |mark| -> Result<Option<u64>, StoreError> {
            Ok(self
                .provider_seqs(provider, mark_tag(mark), recovered + 1..=upto, false, 1)?
                .pop())
        };
        Ok(
            [first(EpisodeMark::Settled)?, first(EpisodeMark::Observed)?]
                .into_iter()
                .flatten()
                .min(),
        )
    }

    fn filed(&self, kinds: &[&str]) -> Result<Vec<Filed>, StoreError> {
        let mut out = Vec::new();
        for kind in kinds {
            let mut prefix = kind.as_bytes().to_vec();
            prefix.push(0);
            for entry in self.by_kind.scan_prefix(&prefix) {
                let (key, value) = entry.map_err(io)?;
                let seq = key_seq(&key[prefix.len()..]);
                let (incident, run): (Option<String>, Option<String>) =
                    serde_json::from_slice(&value).map_err(|err| StoreError::Corrupt {
                        seq,
                        reason: format!("kind index entry: {err}"),
                    })?;
                out.push(Filed {
                    seq,
                    kind: (*kind).to_owned(),
                    incident: incident.map(IncidentId),
                    run: run.map(RunId),
                });
            }
        }
        out.sort_unstable_by_key(|f| f.seq);
        Ok(out)
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

    fn open_incidents(&self) -> Result<Vec<IncidentId>, StoreError> {
        self.open_of(OPEN_INCIDENT, IncidentId)
    }

    fn open_runs(&self) -> Result<Vec<RunId>, StoreError> {
        self.open_of(OPEN_RUN, RunId)
    }

    fn last(&self) -> Result<Option<Event>, StoreError> {
        match self.events.last().map_err(io)? {
            Some((key, bytes)) => decode(key_seq(&key), &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn verify(&self) -> Result<ChainCheck, StoreError> {
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

/// The layout of the indexes; a log whose index record names another is re-indexed on open.
const INDEX_VERSION: u32 = 3;

fn index_record(seq: u64) -> Vec<u8> {
    serde_json::to_vec(&(INDEX_VERSION, seq)).unwrap_or_default()
}

const OPEN_INCIDENT: &[u8] = b"i\0";
const OPEN_RUN: &[u8] = b"r\0";

/// The open index's key an event opens (`true`) or closes (`false`), if it does either.
fn opens_or_closes(event: &Event) -> Option<(Vec<u8>, bool)> {
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
const EVERY: u8 = b'e';

fn mark_tag(mark: EpisodeMark) -> u8 {
    match mark {
        EpisodeMark::Settled => b's',
        EpisodeMark::Observed => b'o',
        EpisodeMark::Recovered => b'r',
    }
}

/// `provider \0 tag seq`.
fn provider_key(provider: &str, tag: u8, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(provider.len() + 10);
    key.extend_from_slice(provider.as_bytes());
    key.push(0);
    key.push(tag);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The provider index's keys of an event: none unless it is about a provider.
fn provider_keys(event: &Event) -> Vec<Vec<u8>> {
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
fn kind_value(event: &Event) -> Vec<u8> {
    serde_json::to_vec(&(
        event.incident.as_ref().map(IncidentId::as_str),
        event.run.as_ref().map(RunId::as_str),
    ))
    .unwrap_or_default()
}

/// Index entries gathered for events written outside a transaction (an import, a rebuild).
#[derive(Default)]
struct IndexBatch {
    incidents: sled::Batch,
    runs: sled::Batch,
    kinds: sled::Batch,
    providers: sled::Batch,
    open: sled::Batch,
    len: usize,
}

impl IndexBatch {
    fn add(&mut self, event: &Event) {
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

    fn apply(self, store: &SledStore) -> Result<(), StoreError> {
        store.by_incident.apply_batch(self.incidents).map_err(io)?;
        store.by_run.apply_batch(self.runs).map_err(io)?;
        store.by_kind.apply_batch(self.kinds).map_err(io)?;
        store.by_provider.apply_batch(self.providers).map_err(io)?;
        store.open.apply_batch(self.open).map_err(io)
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
            ChainCheck::Intact { events: 3, .. }
        ));
    }

    fn kinds_log(store: &SledStore) {
        let inc = IncidentId::from("INC-1");
        let run = RunId::from("RUN-1");
        for (kind, incident, run) in [
            ("feed.observed", None, None),
            ("incident.declared", Some(&inc), None),
            ("run.started", Some(&inc), Some(&run)),
            ("feed.observed", None, None),
            ("note.added", Some(&inc), None),
            ("feed.outage", None, None),
            ("run.succeeded", Some(&inc), Some(&run)),
            ("incident.resolved", Some(&inc), None),
        ] {
            let mut event = NewEvent::new(Actor::Bot, kind, json!({}));
            if let Some(incident) = incident {
                event = event.incident(incident.clone());
            }
            if let Some(run) = run {
                event = event.run(run.clone());
            }
            store.append(event).unwrap();
        }
    }

    fn seqs(events: &[Event]) -> Vec<u64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn the_kind_index_answers_by_kind_newest_first_and_filed() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        kinds_log(&store);
        let feeds = ["feed.observed", "feed.outage"];
        assert_eq!(seqs(&store.by_kinds(&feeds).unwrap()), vec![1, 4, 6]);
        assert_eq!(
            seqs(&store.recent_of_kinds(&feeds, u64::MAX, 10).unwrap()),
            vec![6, 4, 1]
        );
        assert_eq!(
            seqs(&store.recent_of_kinds(&feeds, 6, 1).unwrap()),
            vec![4],
            "pages back from a seq"
        );
        assert!(
            store
                .recent_of_kinds(&["nothing.like.this"], u64::MAX, 5)
                .unwrap()
                .is_empty()
        );
        let filed = store
            .filed(&["run.started", "run.succeeded", "incident.declared"])
            .unwrap();
        assert_eq!(
            filed,
            vec![
                Filed {
                    seq: 2,
                    kind: "incident.declared".into(),
                    incident: Some("INC-1".into()),
                    run: None,
                },
                Filed {
                    seq: 3,
                    kind: "run.started".into(),
                    incident: Some("INC-1".into()),
                    run: Some("RUN-1".into()),
                },
                Filed {
                    seq: 7,
                    kind: "run.succeeded".into(),
                    incident: Some("INC-1".into()),
                    run: Some("RUN-1".into()),
                },
            ]
        );
    }

    /// What a store answers through its indexes equals what the port's defaults find by
    /// walking the whole log.
    struct Walked<'a>(&'a SledStore);

    impl EventStore for Walked<'_> {
        fn append(&self, _: NewEvent) -> Result<Event, StoreError> {
            unreachable!()
        }
        fn append_batch(&self, _: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
            unreachable!()
        }
        fn by_incident(&self, _: &IncidentId) -> Result<Vec<Event>, StoreError> {
            unreachable!()
        }
        fn by_run(&self, _: &RunId) -> Result<Vec<Event>, StoreError> {
            unreachable!()
        }
        fn range(&self, seqs: RangeInclusive<u64>) -> Result<Vec<Event>, StoreError> {
            self.0.range(seqs)
        }
        fn last(&self) -> Result<Option<Event>, StoreError> {
            self.0.last()
        }
        fn verify(&self) -> Result<ChainCheck, StoreError> {
            self.0.verify()
        }
        fn check_writable(&self) -> Result<(), StoreError> {
            Ok(())
        }
    }

    #[test]
    fn indexed_answers_match_a_walk_of_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        kinds_log(&store);
        let walked = Walked(&store);
        let kinds = ["feed.observed", "incident.resolved", "run.started"];
        assert_eq!(
            store.by_kinds(&kinds).unwrap(),
            walked.by_kinds(&kinds).unwrap()
        );
        assert_eq!(store.filed(&kinds).unwrap(), walked.filed(&kinds).unwrap());
        for (before, limit) in [(u64::MAX, 10), (8, 2), (2, 5), (1, 5)] {
            assert_eq!(
                store.recent_of_kinds(&kinds, before, limit).unwrap(),
                walked.recent_of_kinds(&kinds, before, limit).unwrap()
            );
        }
        assert!(store.open_incidents().unwrap().is_empty());
        assert!(store.open_runs().unwrap().is_empty());
        // A second incident, still open, with a run paused in it; a third declared after it.
        let (two, three) = (IncidentId::from("INC-2"), IncidentId::from("INC-3"));
        let run = RunId::from("RUN-2");
        store
            .append_batch(vec![
                NewEvent::new(Actor::Bot, "incident.declared", json!({})).incident(two.clone()),
                NewEvent::new(Actor::Bot, "run.started", json!({}))
                    .incident(two.clone())
                    .run(run.clone()),
                NewEvent::new(Actor::Bot, "run.paused", json!({}))
                    .incident(two.clone())
                    .run(run.clone()),
                NewEvent::new(Actor::Bot, "incident.declared", json!({})).incident(three.clone()),
            ])
            .unwrap();
        assert_eq!(store.open_incidents().unwrap(), vec![two, three]);
        assert_eq!(store.open_runs().unwrap(), vec![run]);
        assert_eq!(
            store.open_incidents().unwrap(),
            walked.open_incidents().unwrap()
        );
        assert_eq!(store.open_runs().unwrap(), walked.open_runs().unwrap());
    }

    /// A log of two providers' episodes (recoveries, raw flaps, settled signals, alerts),
    /// incidents with runs and approval trails, a drill, one incident still open.
    fn providers_log(store: &SledStore) -> Vec<IncidentId> {
        let feed = |kind: &str, provider: &str, to: &str| {
            NewEvent::new(
                Actor::Feed {
                    name: format!("{provider}-status"),
                },
                kind,
                json!({ "provider": provider, "from": "operational", "to": to }),
            )
        };
        let alert = |kind: &str, provider: &str| {
            NewEvent::new(
                Actor::Bot,
                kind,
                json!({ "alert_id": format!("{provider}-1"), "provider": provider,
                        "level": "major_outage", "confirmed": true }),
            )
        };
        let on = |kind: &str, inc: &IncidentId, data: serde_json::Value| {
            NewEvent::new(Actor::Bot, kind, data).incident(inc.clone())
        };
        let ran = |kind: &str, inc: &IncidentId, run: &str, data: serde_json::Value| {
            on(kind, inc, data).run(RunId::from(run))
        };
        let ids: Vec<IncidentId> = ["INC-A", "INC-B", "INC-C", "INC-D"]
            .map(IncidentId::from)
            .to_vec();
        let [a, b, c, d] = [&ids[0], &ids[1], &ids[2], &ids[3]];
        let log = vec![
            feed("feed.observed", "openai", "degraded"),
            feed("feed.observed", "openai", "operational"),
            feed("feed.outage", "heroku", "major_outage"),
            feed("feed.recovered", "heroku", "operational"),
            feed("feed.observed", "heroku", "degraded"),
            feed("feed.degraded", "heroku", "degraded"),
            alert("alert.posted", "heroku"),
            feed("feed.observed", "openai", "degraded"),
            on("incident.declared", a, json!({ "title": "Heroku down" })),
            on(
                "run.requested",
                a,
                json!({ "request": "REQ-1", "runbook": "failover-hosting" }),
            ),
            NewEvent::new(
                Actor::Bot,
                "run.approval_counted",
                json!({ "request": "REQ-1" }),
            ),
            NewEvent::new(Actor::Bot, "run.denied", json!({ "request": "REQ-9" })),
            on(
                "run.approved",
                a,
                json!({ "request": "REQ-1", "runbook": "failover-hosting" }),
            ),
            ran(
                "run.started",
                a,
                "RUN-1",
                json!({ "runbook": "failover-hosting", "workstream": "hosting" }),
            ),
            NewEvent::new(
                Actor::Bot,
                "step.started",
                json!({ "step": "scale", "attempt": 1 }),
            )
            .run(RunId::from("RUN-1")),
            ran(
                "step.succeeded",
                a,
                "RUN-1",
                json!({ "step": "scale", "attempt": 1, "output": {} }),
            ),
            feed("feed.recovered", "heroku", "operational"),
            alert("alert.recovered", "heroku"),
            ran("run.succeeded", a, "RUN-1", json!({})),
            on("incident.resolved", a, json!({})),
            feed("feed.outage", "heroku", "major_outage"),
            NewEvent::new(
                Actor::Bot,
                "drill.started",
                json!({ "providers": ["openai"] }),
            ),
            NewEvent::new(
                Actor::Bot,
                "drill.outage_simulated",
                json!({ "provider": "openai" }),
            ),
            feed("feed.outage", "openai", "major_outage"),
            on(
                "incident.declared",
                b,
                json!({ "title": "DRILL: OpenAI down" }),
            ),
            on("note.added", b, json!({ "text": "noted" })),
            feed("feed.recovered", "openai", "operational"),
            on("incident.resolved", b, json!({})),
            on("incident.declared", c, json!({ "title": "Nothing wrong" })),
            on("incident.resolved", c, json!({})),
            on("incident.reviewed", c, json!({})),
            feed("feed.observed", "openai", "degraded"),
            on("incident.declared", d, json!({ "title": "Heroku again" })),
            ran(
                "run.started",
                d,
                "RUN-2",
                json!({ "runbook": "failover-hosting", "workstream": "hosting" }),
            ),
            feed("feed.degraded", "heroku", "degraded"),
            feed("rpo.breached", "heroku", "degraded"),
        ];
        store.append_batch(log).unwrap();
        ids
    }

    #[test]
    fn the_provider_index_answers_as_a_walk_of_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        providers_log(&store);
        let walked = Walked(&store);
        assert_eq!(store.providers().unwrap(), vec!["heroku", "openai"]);
        assert_eq!(store.providers().unwrap(), walked.providers().unwrap());
        let head = store.last().unwrap().unwrap().seq;
        for provider in ["heroku", "openai", "nobody"] {
            for before in 0..=head + 1 {
                assert_eq!(
                    store.episode_start(provider, before).unwrap(),
                    walked.episode_start(provider, before).unwrap(),
                    "{provider} before {before}"
                );
                assert_eq!(
                    store.recent_of_provider(provider, before, 3).unwrap(),
                    walked.recent_of_provider(provider, before, 3).unwrap()
                );
                assert_eq!(
                    store.by_provider(provider, before..=head).unwrap(),
                    walked.by_provider(provider, before..=head).unwrap()
                );
            }
        }
        let kinds = ["run.denied", "run.approval_counted", "feed.outage"];
        for from in 0..=head + 1 {
            assert_eq!(
                store.kinds_in(&kinds, from..=head - 3).unwrap(),
                walked.kinds_in(&kinds, from..=head - 3).unwrap()
            );
        }
        assert_eq!(store.episode_start("heroku", 9).unwrap(), Some(5));
        // A log indexed before the provider index existed (version 2) gets it on open.
        store.by_provider.clear().unwrap();
        store
            .meta
            .insert(trees::INDEX_KEY, serde_json::to_vec(&(2u32, head)).unwrap())
            .unwrap();
        store.flush().unwrap();
        drop(store);
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.providers().unwrap(), vec!["heroku", "openai"]);
        assert_eq!(store.episode_start("heroku", 9).unwrap(), Some(5));
    }

    #[test]
    fn the_views_read_through_indexes_what_the_folds_find_in_the_whole_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let ids = providers_log(&store);
        let all = store.all().unwrap();
        for id in &ids {
            let indexed = crate::views::incident_log(&store, id).unwrap();
            assert_eq!(
                seqs(&indexed),
                seqs(&crate::incident::incident_events(&all, id)),
                "{id}"
            );
            assert!(indexed.len() > 1, "{id}");
            assert_eq!(
                crate::incident::incident_events(&indexed, id),
                indexed,
                "what it selects selects itself: the folds may take it for the whole log"
            );
        }
        assert_eq!(
            crate::views::awaiting_review(&store).unwrap().map(|i| i.id),
            crate::incident::awaiting_review(&all).map(|i| i.id)
        );
        assert_eq!(
            crate::views::awaiting_review(&store).unwrap().map(|i| i.id),
            Some(ids[1].clone()),
            "the latest resolved, not the reviewed one after it"
        );
        let loaded = crate::config::Config::load(Path::new("config/lifeboat.toml")).unwrap();
        let config = loaded.config;
        let runbooks = crate::runbook::load_dir(Path::new("commands"), &config).runbooks;
        let now = Utc::now() + chrono::Duration::minutes(30);
        let picture = crate::views::dr_picture(&store, &config, &runbooks).unwrap();
        assert_eq!(
            crate::status::render(&config, &runbooks, &picture, now),
            crate::status::dr_status(&config, &runbooks, &all, now)
        );
        assert_eq!(picture.open.len(), 1);
        for alert in [None, Some("heroku-1"), Some("openai-1")] {
            let events = crate::views::alert_events(&store, alert).unwrap();
            assert_eq!(
                crate::incident::affected_at_declaration(&config, &events, alert),
                crate::incident::affected_at_declaration(&config, &all, alert),
                "{alert:?}"
            );
            assert!(events.len() < all.len());
        }
        assert_eq!(picture.rpo, crate::reminders::RpoState::Breached);
    }

    #[test]
    fn missing_or_stale_indexes_are_rebuilt_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            kinds_log(&store);
            // A log written before the kind index existed: no kind entries, no index record.
            store.by_kind.clear().unwrap();
            store.by_incident.clear().unwrap();
            store.meta.remove(trees::INDEX_KEY).unwrap();
            store.flush().unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(
            seqs(&store.by_kinds(&["feed.observed"]).unwrap()),
            vec![1, 4]
        );
        assert_eq!(store.by_incident(&"INC-1".into()).unwrap().len(), 5);
        {
            // Indexes behind the head (their record says so) are rebuilt as well.
            store
                .meta
                .insert(trees::INDEX_KEY, index_record(3))
                .unwrap();
            store.by_kind.clear().unwrap();
            store.flush().unwrap();
        }
        drop(store);
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(
            seqs(&store.by_kinds(&["incident.resolved"]).unwrap()),
            vec![8]
        );
        assert!(
            store.open_incidents().unwrap().is_empty(),
            "closed in order"
        );
        assert!(matches!(
            store.verify().unwrap(),
            ChainCheck::Intact { events: 8, .. }
        ));
    }

    #[test]
    fn an_imported_log_is_indexed() {
        let from = tempfile::tempdir().unwrap();
        let source = SledStore::open(from.path()).unwrap();
        kinds_log(&source);
        let to = tempfile::tempdir().unwrap();
        let copy = SledStore::open(to.path()).unwrap();
        copy.import(&source.all().unwrap()).unwrap();
        assert_eq!(
            copy.filed(&["run.started"]).unwrap(),
            source.filed(&["run.started"]).unwrap()
        );
        drop(copy);
        // Its index record covers it: reopening does not rebuild (and would find the same).
        let copy = SledStore::open(to.path()).unwrap();
        assert_eq!(
            copy.meta.get(trees::INDEX_KEY).unwrap().unwrap().to_vec(),
            index_record(8)
        );
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
