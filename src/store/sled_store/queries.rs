//! Reads through the indexes: the events filed under an id, the open ids, the kind index
//! newest first and the provider index within a range of seqs; each reads only what it returns.

use std::ops::RangeInclusive;

use super::index::{index_key, key_seq, provider_key};
use super::{SledStore, decode, io};
use crate::domain::event::Event;
use crate::ports::store::StoreError;

impl SledStore {
    pub(super) fn by_index(&self, tree: &sled::Tree, id: &str) -> Result<Vec<Event>, StoreError> {
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
    pub(super) fn open_of<T>(
        &self,
        prefix: &[u8],
        id: fn(String) -> T,
    ) -> Result<Vec<T>, StoreError> {
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
    pub(super) fn indexed(&self, seq: u64) -> Result<Event, StoreError> {
        self.get(seq)?.ok_or_else(|| StoreError::Corrupt {
            seq,
            reason: "indexed but missing from the log".into(),
        })
    }

    /// The kind index's entries of `kind` with a seq below `before`, newest first.
    pub(super) fn kind_rev(
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
    pub(super) fn provider_seqs(
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

    pub(super) fn get(&self, seq: u64) -> Result<Option<Event>, StoreError> {
        self.events
            .get(seq.to_be_bytes())
            .map_err(io)?
            .map(|bytes| decode(seq, &bytes))
            .transpose()
    }
}
