//! The DynamoDB table of a pair and its items: the lease (taken by a conditional write when
//! free or expired, renewed conditionally on holder and epoch, released on shutdown), the
//! nodes' applied seqs, and the table's creation.
//!
//! One table, string keys `pk` and `sk`:
//! - the lease: `pk = "lease"`, `sk = "lease"`; `holder`, `epoch`, `expires` and `renewed` (Unix ms);
//! - the log: `pk = "log"`, `sk` = the seq on 20 digits (so that string order is seq order);
//!   `event` (the sealed event's JSON, byte for byte), `seq`, `epoch` and `node` that wrote it;
//! - the nodes: `pk = "node"`, `sk` = the node id; `applied` (the last seq in its local log)
//!   and `at` (Unix ms).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ScalarAttributeType,
};

use super::lease::{Attempt, Lease};

pub(crate) const PK: &str = "pk";
pub(crate) const SK: &str = "sk";
pub(crate) const LEASE: &str = "lease";
pub(crate) const LOG: &str = "log";
pub(crate) const NODE: &str = "node";

/// Why the table could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// A request did not get an answer, or not a usable one (network, throttling, timeout).
    #[error("the DynamoDB table {table} did not answer: {reason}")]
    Unreachable { table: String, reason: String },
    /// An item does not have the shape this module writes.
    #[error("the DynamoDB table {table} holds a malformed item ({key}): {reason}")]
    Malformed {
        table: String,
        key: String,
        reason: String,
    },
}

/// A pair's table, through one SDK client.
#[derive(Debug, Clone)]
pub struct Table {
    pub(crate) client: Client,
    pub(crate) name: String,
}

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The sort key of the event at `seq`.
pub(crate) fn seq_key(seq: u64) -> String {
    format!("{seq:020}")
}

impl Table {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn unreachable(&self, err: impl std::fmt::Display) -> TableError {
        TableError::Unreachable {
            table: self.name.clone(),
            reason: err.to_string(),
        }
    }

    pub(crate) fn malformed(&self, key: &str, reason: impl Into<String>) -> TableError {
        TableError::Malformed {
            table: self.name.clone(),
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    /// Takes the lease for `node` if it is free or expired at `now_ms`: the epoch grows by one.
    pub async fn acquire(&self, node: &str, now_ms: i64, expires_ms: i64) -> Attempt {
        let taken = self
            .client
            .update_item()
            .table_name(&self.name)
            .key(PK, s(LEASE))
            .key(SK, s(LEASE))
            .update_expression(
                "SET #holder = :me, #epoch = if_not_exists(#epoch, :zero) + :one, #expires = :expires, #renewed = :now",
            )
            .condition_expression("attribute_not_exists(#pk) OR #expires < :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_names("#epoch", "epoch")
            .expression_attribute_names("#expires", "expires")
            .expression_attribute_names("#renewed", "renewed")
            .expression_attribute_values(":me", s(node))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires", n(expires_ms))
            .expression_attribute_values(":now", n(now_ms))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match taken {
            Ok(out) => match out.attributes.map(|item| self.lease_of(&item)) {
                Some(Ok(lease)) => Attempt::Held { epoch: lease.epoch },
                _ => Attempt::Unknown,
            },
            Err(err) if condition_failed(&err) => self.refused().await,
            Err(err) => {
                tracing::warn!(table = %self.name, error = %err, "could not take the lease");
                Attempt::Unknown
            }
        }
    }

    /// Renews the lease `node` holds at `epoch`, whether or not it expired meanwhile: if the
    /// epoch is unchanged, nobody took it over.
    pub async fn renew(&self, node: &str, epoch: u64, now_ms: i64, expires_ms: i64) -> Attempt {
        let renewed = self
            .client
            .update_item()
            .table_name(&self.name)
            .key(PK, s(LEASE))
            .key(SK, s(LEASE))
            .update_expression("SET #expires = :expires, #renewed = :now")
            .condition_expression("#holder = :me AND #epoch = :epoch")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_names("#epoch", "epoch")
            .expression_attribute_names("#expires", "expires")
            .expression_attribute_names("#renewed", "renewed")
            .expression_attribute_values(":me", s(node))
            .expression_attribute_values(":epoch", n(epoch))
            .expression_attribute_values(":expires", n(expires_ms))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        match renewed {
            Ok(_) => Attempt::Held { epoch },
            Err(err) if condition_failed(&err) => self.refused().await,
            Err(err) => {
                tracing::warn!(table = %self.name, error = %err, "could not renew the lease");
                Attempt::Unknown
            }
        }
    }

    /// Gives the lease up (a clean shutdown), so that the other node need not wait for it to
    /// expire. Only if `node` still holds it at `epoch`; the epoch stays, the next taker's grows.
    pub async fn release(&self, node: &str, epoch: u64) -> Result<(), TableError> {
        let released = self
            .client
            .update_item()
            .table_name(&self.name)
            .key(PK, s(LEASE))
            .key(SK, s(LEASE))
            .update_expression("SET #expires = :zero")
            .condition_expression("#holder = :me AND #epoch = :epoch")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_names("#epoch", "epoch")
            .expression_attribute_names("#expires", "expires")
            .expression_attribute_values(":me", s(node))
            .expression_attribute_values(":epoch", n(epoch))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match released {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Ok(()),
            Err(err) => Err(self.unreachable(DisplayErrorContext(&err))),
        }
    }

    async fn refused(&self) -> Attempt {
        Attempt::Refused {
            current: self.lease().await.ok().flatten(),
        }
    }

    /// The lease item as it is now (strongly consistent), if there is one.
    pub async fn lease(&self) -> Result<Option<Lease>, TableError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.name)
            .key(PK, s(LEASE))
            .key(SK, s(LEASE))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| self.unreachable(DisplayErrorContext(&err)))?;
        got.item.map(|item| self.lease_of(&item)).transpose()
    }

    fn lease_of(&self, item: &Item) -> Result<Lease, TableError> {
        Ok(Lease {
            holder: self.string(item, LEASE, "holder")?,
            epoch: self.number(item, LEASE, "epoch")?,
            expires_ms: self.number(item, LEASE, "expires")?,
            renewed_ms: self.number(item, LEASE, "renewed")?,
        })
    }

    pub(crate) fn string(&self, item: &Item, key: &str, name: &str) -> Result<String, TableError> {
        match item.get(name) {
            Some(AttributeValue::S(value)) => Ok(value.clone()),
            _ => Err(self.malformed(key, format!("no string `{name}`"))),
        }
    }

    pub(crate) fn number<T: std::str::FromStr>(
        &self,
        item: &Item,
        key: &str,
        name: &str,
    ) -> Result<T, TableError> {
        match item.get(name) {
            Some(AttributeValue::N(value)) => value
                .parse()
                .map_err(|_| self.malformed(key, format!("`{name}` = {value} is out of range"))),
            _ => Err(self.malformed(key, format!("no number `{name}`"))),
        }
    }

    /// Creates the table (on-demand capacity, keys `pk` and `sk`) and waits until it is active.
    /// `Ok(false)` when it already existed.
    pub async fn create(&self) -> Result<bool, TableError> {
        let created = self
            .client
            .create_table()
            .table_name(&self.name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute(PK)?)
            .attribute_definitions(attribute(SK)?)
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                return Ok(false);
            }
            Err(err) => return Err(self.unreachable(DisplayErrorContext(&err))),
        }
        for _ in 0..120 {
            let described = self
                .client
                .describe_table()
                .table_name(&self.name)
                .send()
                .await
                .map_err(|err| self.unreachable(DisplayErrorContext(&err)))?;
            let active = described
                .table
                .and_then(|t| t.table_status)
                .is_some_and(|s| s == aws_sdk_dynamodb::types::TableStatus::Active);
            if active {
                return Ok(true);
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        Err(self.unreachable("the table was created but did not become ACTIVE within a minute"))
    }
}

fn attribute(name: &str) -> Result<AttributeDefinition, TableError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|err| TableError::Malformed {
            table: String::new(),
            key: name.to_owned(),
            reason: err.to_string(),
        })
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, TableError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|err| TableError::Malformed {
            table: String::new(),
            key: name.to_owned(),
            reason: err.to_string(),
        })
}

/// Whether an `UpdateItem` failed on its condition (as opposed to not being answered).
fn condition_failed<R>(
    err: &SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>,
) -> bool {
    err.as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}

pub(crate) use aws_sdk_dynamodb::error::DisplayErrorContext;
