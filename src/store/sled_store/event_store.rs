//! The `EventStore` port on sled: appends go through the seal path and are durable (flushed)
//! before they return; reads go through the indexes.

use std::ops::RangeInclusive;

use chrono::Utc;

use super::index::{EVERY, OPEN_INCIDENT, OPEN_RUN, index_key, key_seq, mark_tag};
use super::open::parse_head;
use super::{SledStore, decode, io, poisoned, trees};
use crate::domain::event::{ChainCheck, Event, NewEvent, verify_chain};
use crate::domain::{IncidentId, RunId};
use crate::ports::store::{EpisodeMark, EventStore, Filed, StoreError};

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
