//! Data recovery (issue 13): the scheduled database backups and an approver accepting more
//! data loss than the plan allows.

use serde::{Deserialize, Serialize};

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
