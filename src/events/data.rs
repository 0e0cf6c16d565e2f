//! Data recovery (issue 13): the scheduled database backups, an approver accepting more
//! data loss than the plan allows, and what the data steps (`db_copy`, `db_restore`,
//! `db_verify`, the RPO watch's look at the newest stored backup) record as their output.

use serde::{Deserialize, Serialize};

use crate::runbook::Side;

/// `db.backup_taken`: one database backup, dumped and stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DbBackupTaken {
    /// Its key in the backup store.
    pub key: String,
    /// Where it is, for people (e.g. `s3://bucket/pg/...`).
    pub location: String,
    /// Bytes.
    pub size: u64,
    pub duration_ms: u64,
    /// RFC 3339, seconds.
    pub completed_at: String,
}

/// `db.backup_failed`: a backup could not be taken (or stored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DbBackupFailed {
    pub error: String,
}

/// `db.data_loss_accepted`: an approver (the event's actor) accepted restoring a backup older
/// than the plan allows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DbDataLossAccepted {
    /// The step that asked.
    pub step: String,
    /// Who answered.
    pub by: String,
    /// The backup's key and where it is.
    pub backup: String,
    pub location: String,
    /// The backup's age when it was accepted.
    pub age_secs: u64,
    /// The data it loses: outage start − its data time, what the limit is held against
    /// (absent in events recorded before it was measured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
    /// The outage start the window is measured from (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outage_start: Option<String>,
    /// The limit the window is over (e.g. `the RPO of 1h`).
    pub limit: String,
    /// The question as it was asked.
    pub question: String,
}

/// A `db_copy` step's output, on success and on failure. The keys after `to` are written only
/// when they apply: `reason` when nothing (or not all) was copied, `target_state` when the
/// target was left half copied, the rest once the copy finished.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DbCopyOutput {
    /// Always written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Side>,
    /// Always written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Side>,
    pub copied: bool,
    pub simulated: bool,
    /// Why the source was not (or not wholly) copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `needs a clean restore` when the target was left half copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_state: Option<String>,
    /// When the copy finished (RFC 3339, milliseconds: sortable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The target's tables before and after the copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Vec<TableRows>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Vec<TableRows>>,
    /// 0: a source that answered and was copied whole loses nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_loss_secs: Option<u64>,
    /// Whether a real database was copied (not the simulation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured: Option<bool>,
}

/// One table as a step counted it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TableRows {
    /// `schema.table`.
    pub table: String,
    pub rows: u64,
    /// Its newest row (RFC 3339, seconds); `null` for an empty table.
    pub newest: Option<String>,
}

/// A `db_restore` step's output when an earlier step of the run had already copied the data
/// into its target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DbRestoreSkipped {
    /// Always `true`.
    pub skipped: bool,
    /// The step that copied.
    pub copied_by: String,
}

/// A `db_restore` step's output, on success and on failure: the backup chosen, then what was
/// measured before the target was touched, then how the restore went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DbRestoreOutput {
    /// The backup's key and where it is.
    pub backup: String,
    pub location: String,
    /// When it completed and when its data is from (RFC 3339, seconds).
    pub completed_at: String,
    pub data_at: String,
    /// The limit the data-loss window is held against (the step's `max_age`, else the RPO).
    pub max_age_secs: u64,
    /// Always written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Side>,
    pub simulated: bool,
    /// The backup's age, the outage start and the data-loss window (outage start − its data
    /// time); absent when the backup claims to be from the future.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_age_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outage_start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_window_secs: Option<u64>,
    /// The approver who accepted a window over the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
    /// `needs a clean restore` when the target was left half restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_state: Option<String>,
    /// Once restored: how long it took, when it finished (RFC 3339, milliseconds) and with how
    /// many `pg_restore` jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs: Option<u32>,
}

/// A `db_verify` step's output (also on its failure, then with `measured` false).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DbVerifyOutput {
    /// Always written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<Side>,
    /// What the counts were held against, for people (`the primary`, `backup s3://…`).
    pub against: String,
    pub tables: Vec<VerifiedTable>,
    /// The newest row restored (RFC 3339, seconds); `null` when every table is empty.
    pub newest_row: Option<String>,
    /// The measured data-loss window.
    pub data_loss_secs: u64,
    /// Whether the window counts: the rows matched what they were held against.
    pub measured: bool,
}

/// One table a `db_verify` counted: its rows, the rows it should hold (`null` when unknown)
/// and its newest row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifiedTable {
    pub table: String,
    pub rows: u64,
    pub expected: Option<u64>,
    pub newest: Option<String>,
}

/// A `db_verify` step's output on the simulation: nothing was counted or measured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DbVerifySimulated {
    /// Always `true`.
    pub simulated: bool,
    /// Always `false`.
    pub measured: bool,
}

/// The newest stored backup's age against the RPO (the RPO watch without a `backup_check`
/// step): `backup_check`'s shape ([`super::BackupCheckOutput`] reads it) with the backup's key
/// and whether the store is the simulation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewestBackupOutput {
    /// Always `store`.
    pub source: String,
    /// Where the backups are.
    pub from: String,
    pub backup: String,
    /// RFC 3339, seconds.
    pub completed_at: String,
    pub max_age_secs: u64,
    /// Its age; omitted when its time lies in the future.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_secs: Option<u64>,
    pub simulated: bool,
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    use super::*;
    use crate::domain::event::Event;
    use crate::events::{StepFailed, StepSucceeded};
    use crate::runbook::StepKind;

    const FIXTURE: &str = include_str!("../../tests/fixtures/events/log.jsonl");

    /// Decodes `output` as `T` strictly and checks it encodes back to the same JSON.
    fn round_trip<T: Serialize + DeserializeOwned>(output: &Value) {
        let typed: T =
            serde_json::from_value(output.clone()).unwrap_or_else(|err| panic!("{err}: {output}"));
        assert_eq!(&serde_json::to_value(&typed).unwrap(), output);
    }

    #[test]
    fn the_data_steps_outputs_in_the_fixture_decode_and_encode_back_unchanged() {
        let mut seen = 0;
        for line in FIXTURE.lines() {
            let event: Event = serde_json::from_str(line).unwrap();
            let (kind, output) = if let Some(step) = event.data_as::<StepSucceeded>() {
                (step.kind, step.output)
            } else if let Some(step) = event.data_as::<StepFailed>() {
                (step.kind, step.output)
            } else {
                continue;
            };
            match kind {
                Some(StepKind::DbCopy) => round_trip::<DbCopyOutput>(&output),
                Some(StepKind::DbRestore) if output.get("skipped").is_some() => {
                    round_trip::<DbRestoreSkipped>(&output)
                }
                Some(StepKind::DbRestore) => round_trip::<DbRestoreOutput>(&output),
                Some(StepKind::DbVerify) if output.get("on").is_none() => {
                    round_trip::<DbVerifySimulated>(&output)
                }
                Some(StepKind::DbVerify) => round_trip::<DbVerifyOutput>(&output),
                _ => continue,
            }
            seen += 1;
        }
        assert!(seen >= 3, "the fixture holds each data step's output");
    }
}
