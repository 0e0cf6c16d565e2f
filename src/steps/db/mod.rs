//! `db_copy`, `db_restore` and `db_verify`: the data half of the DRP, through the `Database`
//! and `BackupStore` edges.
//!
//! - `db_copy` ([`copy`]) streams one database into the other when the source answers
//!   (nothing lost); on failover a source that does not answer sends the run on to the backup
//!   path.
//! - `db_restore` ([`restore`]) measures the data the chosen backup would lose (outage start −
//!   its data time, [`loss`]) *before* touching the target; a window over the RPO needs an
//!   approver to accept the extra loss (asked in chat, recorded: [`accept`]), else the run
//!   stops there, before DNS. A half-done restore is re-run from a clean target.
//! - `db_verify` ([`verify`]) counts the configured tables against what they should hold and
//!   measures the data-loss window: outage start − newest restored row (zero after a direct
//!   copy).
//! - [`newest`]: the newest stored backup's age against the RPO, for the RPO watch.
//!
//! Each step's output is a typed struct of the event catalogue (`crate::events::data`),
//! serialised into the step's data with the keys and values the log has always held.

mod accept;
mod copy;
mod loss;
mod newest;
mod restore;
mod verify;

use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use serde_json::Value;

use super::{StepEnv, StepError};
use crate::config::TableConfig;
use crate::ports::data::{DataError, Side};

pub use copy::{copy, plan_copy};
pub use newest::newest_backup_age;
pub use restore::{plan_restore, restore};
pub use verify::{plan_verify, verify};

/// The event that records an approver accepting more data loss than the RPO.
pub const DATA_LOSS_ACCEPTED: &str = crate::events::EventKind::DbDataLossAccepted.as_str();

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Primary => "primary",
        Side::Standby => "standby",
    }
}

fn tables(env: &StepEnv) -> &[TableConfig] {
    env.config
        .data
        .as_ref()
        .map_or(&[], |d| d.tables.as_slice())
}

fn jobs(env: &StepEnv) -> u32 {
    env.config.data.as_ref().map_or(1, |d| d.jobs)
}

fn connect_timeout(env: &StepEnv) -> Duration {
    env.config
        .data
        .as_ref()
        .map_or(Duration::from_secs(10), |d| d.connect_timeout.get())
        + Duration::from_secs(5)
}

fn failed(err: DataError) -> StepError {
    if err.is_retryable() {
        StepError::retryable(err.to_string())
    } else {
        StepError::invalid(err.to_string())
    }
}

/// A step's typed output as the step's data (the log's JSON).
fn to_data(output: &impl Serialize) -> Value {
    serde_json::to_value(output).unwrap_or_default()
}

/// When a step finished, sortable (milliseconds), for `verify`'s look at which step filled
/// a database last.
fn finished_now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
