//! The data-recovery port: what the `db_*` steps, `lifeboat db backup` and the RPO watch need
//! from PostgreSQL (`Database`) and from the place backups are kept (`BackupStore`), the
//! vocabulary they share (backups and their manifests, table statistics) and the pure
//! decisions (how a backup is named, which one is newest, the measured data-loss window).
//! The adapters are in `db/` (the PostgreSQL tools, a local directory, the simulation) and
//! `aws/s3.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::config::TableConfig;
pub use crate::runbook::Side;

/// Why a data operation failed. Messages never hold a URL or a password: the adapters redact
/// every tool output before it gets here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// The database did not answer (connection refused, DNS, timeout, authentication).
    #[error("{0}")]
    Unreachable(String),
    /// A tool ran and failed (`pg_restore: error: ...`).
    #[error("{0}")]
    Tool(String),
    /// A tool ran past its limit; its whole process group was killed.
    #[error("{0}")]
    TimedOut(String),
    /// A backup is not what its manifest says (size, checksum) or not a readable dump.
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    NotFound(String),
    /// The backup store failed (network, throttling, permissions).
    #[error("{0}")]
    Store(String),
    /// Something only a person can fix: a tool missing, a URL variable unset.
    #[error("{0}")]
    Setup(String),
}

impl DataError {
    /// Whether another attempt may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DataError::Unreachable(_) | DataError::Store(_))
    }
}

/// One table's rows and its newest row, as `count(*)` and `max(freshness column)` say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStats {
    /// `schema.table`.
    pub table: String,
    pub rows: u64,
    /// `None` for an empty table.
    pub newest: Option<DateTime<Utc>>,
}

/// What Lifeboat wrote beside each dump it took: when the snapshot was taken and the table
/// statistics read *in that same snapshot*, so a restore can be checked row for row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub key: String,
    /// When the dump's snapshot was taken: the data is as of this moment.
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub size: u64,
    pub sha256: String,
    pub tables: Vec<TableStats>,
}

pub const MANIFEST_FORMAT: &str = "lifeboat-db-backup";

/// A backup in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupInfo {
    /// The object key (S3) or file name (directory).
    pub key: String,
    /// Where it is, for people: `s3://bucket/key` or a path.
    pub location: String,
    pub completed_at: DateTime<Utc>,
    pub size: u64,
    /// Present for dumps Lifeboat took; a dump copied in from elsewhere has none.
    pub manifest: Option<Manifest>,
}

impl BackupInfo {
    /// The moment the backup's data is from: its snapshot when known, else its completion.
    pub fn data_at(&self) -> DateTime<Utc> {
        self.manifest
            .as_ref()
            .map_or(self.completed_at, |m| m.started_at)
    }
}

/// A dump, once in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dumped {
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub size: u64,
    pub sha256: String,
    pub tables: Vec<TableStats>,
}

/// What a backup's dump holds for the configured tables: rows per table (`None` when the
/// dump has no data for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpContents {
    pub entries: usize,
    pub tables: Vec<(String, Option<u64>)>,
}

/// The PostgreSQL side: the primary and the standby, through their URLs.
#[async_trait]
pub trait Database: Send + Sync {
    /// Connect and `SELECT 1` within `limit`; how long it took.
    async fn probe(&self, side: Side, limit: Duration) -> Result<Duration, DataError>;
    /// `pg_dump --format=custom` of `side` into `file`, with `tables`' statistics read in the
    /// dump's own snapshot.
    async fn dump(
        &self,
        side: Side,
        file: &Path,
        tables: &[TableConfig],
        limit: Duration,
    ) -> Result<Dumped, DataError>;
    /// Lists a dump's table of contents (`pg_restore --list`): fails on a file that is not a
    /// readable custom-format dump, touching no database.
    async fn check_dump(&self, file: &Path, limit: Duration) -> Result<usize, DataError>;
    /// Rows per configured table, counted from the dump's own data.
    async fn dump_contents(
        &self,
        file: &Path,
        tables: &[TableConfig],
        limit: Duration,
    ) -> Result<DumpContents, DataError>;
    /// `pg_restore --clean --if-exists --no-owner --jobs N` of `file` into `side`.
    async fn restore(
        &self,
        file: &Path,
        side: Side,
        jobs: u32,
        limit: Duration,
    ) -> Result<(), DataError>;
    /// `pg_dump | pg_restore --clean --if-exists --no-owner` from one side into the other.
    async fn copy(&self, from: Side, to: Side, limit: Duration) -> Result<(), DataError>;
    /// `count(*)` and `max(freshness)` of each table.
    async fn table_stats(
        &self,
        side: Side,
        tables: &[TableConfig],
        limit: Duration,
    ) -> Result<Vec<TableStats>, DataError>;
    /// What this side is, for people, without secrets (`standby (STANDBY_DATABASE_URL)`).
    fn describe(&self, side: Side) -> String;
    /// Whether this is the simulation (nothing real is read or written).
    fn simulated(&self) -> bool {
        false
    }
}

/// A backup to restore, as a local file.
#[derive(Debug)]
pub struct LocalBackup {
    pub path: PathBuf,
    /// A downloaded copy, deleted when dropped; `None` when the file is the backup itself.
    pub _download: Option<tempfile::TempDir>,
}

/// Where dumps are kept: an S3 bucket and prefix, or a local directory.
#[async_trait]
pub trait BackupStore: Send + Sync {
    /// `s3://bucket/prefix` or the directory.
    fn location(&self) -> String;
    /// The newest backup by completion time.
    async fn latest(&self) -> Result<Option<BackupInfo>, DataError>;
    /// One backup by key.
    async fn get(&self, key: &str) -> Result<BackupInfo, DataError>;
    /// Stores `file` under `manifest.key`, with the manifest beside it.
    async fn put(&self, file: &Path, manifest: &Manifest) -> Result<BackupInfo, DataError>;
    /// The backup's bytes as a local file, checked against its manifest (size and SHA-256)
    /// when it has one.
    async fn fetch(&self, backup: &BackupInfo) -> Result<LocalBackup, DataError>;
}

/// The name of a dump completed at `at`: `{prefix}lifeboat-20261125T105000Z.dump`. Names sort
/// by time, so the newest is the last in a listing.
pub fn backup_key(prefix: &str, at: DateTime<Utc>) -> String {
    format!("{prefix}lifeboat-{}.dump", at.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// The completion time in a name made by [`backup_key`].
pub fn key_time(key: &str) -> Option<DateTime<Utc>> {
    let name = key.rsplit('/').next()?;
    let stamp = name.strip_prefix("lifeboat-")?.strip_suffix(".dump")?;
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.3fZ")
        .ok()
        .map(|t| t.and_utc())
}

/// The newest row over all tables.
pub fn newest_row(stats: &[TableStats]) -> Option<DateTime<Utc>> {
    stats.iter().filter_map(|s| s.newest).max()
}

/// The measured data-loss window: from the newest row the standby holds to the start of the
/// outage (writes after that went to a primary that is gone). Rows newer than the outage
/// start (the primary kept taking writes for a while) lose nothing: zero.
pub fn loss_window(outage_start: DateTime<Utc>, newest_restored: DateTime<Utc>) -> Duration {
    (outage_start - newest_restored)
        .to_std()
        .unwrap_or_default()
}

/// Compares restored tables with what they should hold; one line per table that differs.
pub fn row_mismatches(expected: &[(String, Option<u64>)], restored: &[TableStats]) -> Vec<String> {
    let mut problems = Vec::new();
    for (table, want) in expected {
        let got = restored.iter().find(|s| &s.table == table).map(|s| s.rows);
        match (want, got) {
            (Some(want), Some(got)) if *want != got => {
                problems.push(format!("{table}: {got} rows, expected {want}"))
            }
            (None, _) => problems.push(format!("{table}: not in the backup")),
            (_, None) => problems.push(format!("{table}: not restored")),
            _ => {}
        }
    }
    problems
}

/// `2026-11-25T10:50:00Z`.
pub fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn keys_carry_their_completion_time_and_sort_by_it() {
        let early = backup_key("pg/", at("2026-11-25T09:59:59.5Z"));
        let late = backup_key("pg/", at("2026-11-25T10:00:00Z"));
        assert_eq!(late, "pg/lifeboat-20261125T100000.000Z.dump");
        assert!(early < late);
        assert_eq!(key_time(&late), Some(at("2026-11-25T10:00:00Z")));
        assert_eq!(key_time(&early), Some(at("2026-11-25T09:59:59.5Z")));
        assert_eq!(key_time("pg/heroku-b042.dump"), None);
    }

    #[test]
    fn the_window_runs_from_the_newest_row_to_the_outage() {
        let outage = at("2026-11-25T10:00:00Z");
        assert_eq!(
            loss_window(outage, at("2026-11-25T09:48:00Z")),
            Duration::from_secs(720)
        );
        assert_eq!(
            loss_window(outage, at("2026-11-25T10:00:05Z")),
            Duration::ZERO
        );
        let stats = vec![
            TableStats {
                table: "public.a".into(),
                rows: 3,
                newest: Some(at("2026-11-25T09:00:00Z")),
            },
            TableStats {
                table: "public.b".into(),
                rows: 0,
                newest: None,
            },
            TableStats {
                table: "public.c".into(),
                rows: 1,
                newest: Some(at("2026-11-25T09:30:00Z")),
            },
        ];
        assert_eq!(newest_row(&stats), Some(at("2026-11-25T09:30:00Z")));
    }

    #[test]
    fn mismatched_rows_are_named() {
        let restored = vec![TableStats {
            table: "public.a".into(),
            rows: 3,
            newest: None,
        }];
        let expected = vec![
            ("public.a".to_owned(), Some(4)),
            ("public.b".to_owned(), None),
            ("public.c".to_owned(), Some(1)),
        ];
        assert_eq!(
            row_mismatches(&expected, &restored),
            [
                "public.a: 3 rows, expected 4",
                "public.b: not in the backup",
                "public.c: not restored"
            ]
        );
        assert!(row_mismatches(&[("public.a".to_owned(), Some(3))], &restored).is_empty());
    }
}
