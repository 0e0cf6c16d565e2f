//! The replicated log in the pair's table: fenced appends (one `TransactWriteItems`: a
//! `ConditionCheck` that the lease is held by this node at its epoch, then a `Put` of each event
//! that must not exist yet), reads of the events after a seq, and each node's applied seq.

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};

use super::table::{DisplayErrorContext, Item, LEASE, LOG, NODE, PK, SK, Table, TableError};
use super::table::{n, s, seq_key};
use crate::domain::event::{ChainCheck, Event, verify_chain};

/// DynamoDB takes at most 100 items in one transaction; one is the lease's condition check.
pub const MAX_BATCH: usize = 99;

/// Why a fenced append was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// The lease is not this node's at this epoch: it was deposed.
    #[error("the lease in {table} is no longer held by {node} at epoch {epoch}")]
    Fenced {
        table: String,
        node: String,
        epoch: u64,
    },
    /// An event with one of these seqs is already in the table (written by this node in an
    /// attempt whose answer was lost, or the local log is behind the table).
    #[error("event {seq} is already in {table}")]
    Taken { table: String, seq: u64 },
    /// More events than one transaction takes.
    #[error("a batch of {0} events is more than one DynamoDB transaction takes ({MAX_BATCH})")]
    TooLarge(usize),
    /// No usable answer: the events may or may not have been written.
    #[error(transparent)]
    Table(#[from] TableError),
}

/// A node's progress, from its item: the last seq in its local log and when it said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub node: String,
    pub seq: u64,
    pub at_ms: i64,
}

impl Table {
    /// Writes `events` (sealed, consecutive) if and only if `node` holds the lease at `epoch`
    /// and none of their seqs is taken, all or nothing.
    pub async fn append_fenced(
        &self,
        node: &str,
        epoch: u64,
        events: &[Event],
    ) -> Result<(), AppendError> {
        if events.len() > MAX_BATCH {
            return Err(AppendError::TooLarge(events.len()));
        }
        let fence = ConditionCheck::builder()
            .table_name(&self.name)
            .key(PK, s(LEASE))
            .key(SK, s(LEASE))
            .condition_expression("#holder = :me AND #epoch = :epoch")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_names("#epoch", "epoch")
            .expression_attribute_values(":me", s(node))
            .expression_attribute_values(":epoch", n(epoch))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|err| self.malformed(LEASE, err.to_string()))?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(fence).build());
        for event in events {
            let bytes = String::from_utf8(event.to_bytes())
                .map_err(|err| self.malformed(&seq_key(event.seq), err.to_string()))?;
            let put = Put::builder()
                .table_name(&self.name)
                .item(PK, s(LOG))
                .item(SK, s(seq_key(event.seq)))
                .item("seq", n(event.seq))
                .item("event", s(bytes))
                .item("epoch", n(epoch))
                .item("node", s(node))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .build()
                .map_err(|err| self.malformed(&seq_key(event.seq), err.to_string()))?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        let err = match request.send().await {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        let reasons = err
            .as_service_error()
            .and_then(|e| match e {
                aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                    Some(c.cancellation_reasons().to_vec())
                }
                _ => None,
            });
        let Some(reasons) = reasons else {
            return Err(self.unreachable(DisplayErrorContext(&err)).into());
        };
        let failed = |r: &aws_sdk_dynamodb::types::CancellationReason| {
            r.code() == Some("ConditionalCheckFailed")
        };
        // Reasons come in the order of the items: the fence first, then each event.
        if reasons.first().is_some_and(failed) {
            return Err(AppendError::Fenced {
                table: self.name.clone(),
                node: node.to_owned(),
                epoch,
            });
        }
        if let Some(i) = reasons.iter().skip(1).position(failed) {
            return Err(AppendError::Taken {
                table: self.name.clone(),
                seq: events.get(i).map_or(0, |e| e.seq),
            });
        }
        Err(self.unreachable(DisplayErrorContext(&err)).into())
    }

    /// Up to `limit` events after `seq`, in order (strongly consistent reads).
    pub async fn events_after(&self, seq: u64, limit: usize) -> Result<Vec<Event>, TableError> {
        self.stored_after(seq, limit)
            .await?
            .into_iter()
            .map(|(seq, bytes)| {
                serde_json::from_slice(&bytes)
                    .map_err(|err| self.malformed(&seq_key(seq), err.to_string()))
            })
            .collect()
    }

    /// Walks the whole chain in the table, as `audit verify` walks a local log.
    pub async fn verify(&self) -> Result<ChainCheck, TableError> {
        let mut stored = Vec::new();
        let mut after = 0;
        loop {
            let page = self.stored_after(after, 1_000).await?;
            let Some((last, _)) = page.last() else { break };
            after = *last;
            stored.extend(page);
        }
        Ok(verify_chain(stored, None))
    }

    /// Up to `limit` stored events after `seq`, as (the seq of their key, their bytes).
    async fn stored_after(
        &self,
        seq: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, TableError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page_size = i32::try_from((limit - out.len()).min(500)).unwrap_or(500);
            let page = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression("#pk = :log AND #sk > :after")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":log", s(LOG))
                .expression_attribute_values(":after", s(seq_key(seq)))
                .consistent_read(true)
                .limit(page_size)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| self.unreachable(DisplayErrorContext(&err)))?;
            for item in page.items() {
                out.push(self.stored_of(item)?);
            }
            match page.last_evaluated_key {
                Some(key) if out.len() < limit && !key.is_empty() => start = Some(key),
                _ => return Ok(out),
            }
        }
    }

    /// The highest seq in the table (0 when the log is empty).
    pub async fn last_seq(&self) -> Result<u64, TableError> {
        let page = self
            .client
            .query()
            .table_name(&self.name)
            .key_condition_expression("#pk = :log")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":log", s(LOG))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| self.unreachable(DisplayErrorContext(&err)))?;
        match page.items().first() {
            Some(item) => self.number(item, LOG, "seq"),
            None => Ok(0),
        }
    }

    fn stored_of(&self, item: &Item) -> Result<(u64, Vec<u8>), TableError> {
        let key = match item.get(SK) {
            Some(AttributeValue::S(key)) => key.clone(),
            _ => String::from(LOG),
        };
        let seq = key
            .parse()
            .map_err(|_| self.malformed(&key, "the sort key is not a seq"))?;
        Ok((seq, self.string(item, &key, "event")?.into_bytes()))
    }

    /// Records that `node`'s local log holds every event up to `seq` (for `ha status`).
    pub async fn record_applied(&self, node: &str, seq: u64, at_ms: i64) -> Result<(), TableError> {
        self.client
            .put_item()
            .table_name(&self.name)
            .item(PK, s(NODE))
            .item(SK, s(node))
            .item("applied", n(seq))
            .item("at", n(at_ms))
            .send()
            .await
            .map_err(|err| self.unreachable(DisplayErrorContext(&err)))?;
        Ok(())
    }

    /// Every node's recorded progress, by node id.
    pub async fn applied(&self) -> Result<Vec<Applied>, TableError> {
        let page = self
            .client
            .query()
            .table_name(&self.name)
            .key_condition_expression("#pk = :node")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":node", s(NODE))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| self.unreachable(DisplayErrorContext(&err)))?;
        page.items()
            .iter()
            .map(|item| {
                Ok(Applied {
                    node: self.string(item, NODE, SK)?,
                    seq: self.number(item, NODE, "applied")?,
                    at_ms: self.number(item, NODE, "at")?,
                })
            })
            .collect()
    }
}
