//! The data edges when `[data]` is not configured: an in-memory stand-in for drills and demos
//! (the primary is down, as in the outage a drill plays, and the store holds one stand-in
//! backup). Nothing is read or written, every output says `simulated`, and no data-loss window
//! is ever reported from it: only a real restore measures one.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::TableConfig;
use crate::ports::data::{
    BackupInfo, BackupStore, DataError, Database, DumpContents, Dumped, LocalBackup, Manifest,
    Side, backup_key,
};

/// How old the stand-in backup is: a typical hourly schedule, well within an hour's RPO.
pub const STANDIN_BACKUP_AGE: Duration = Duration::from_secs(12 * 60);

#[derive(Debug)]
pub struct SimulatedData {
    backups: Mutex<Vec<BackupInfo>>,
}

impl SimulatedData {
    pub fn new(now: DateTime<Utc>) -> Self {
        let completed_at = now - chrono::Duration::from_std(STANDIN_BACKUP_AGE).unwrap_or_default();
        let key = backup_key("", completed_at);
        Self {
            backups: Mutex::new(vec![BackupInfo {
                location: format!("simulated:{key}"),
                key,
                completed_at,
                size: 0,
                manifest: None,
            }]),
        }
    }

    fn list(&self) -> Vec<BackupInfo> {
        self.backups.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Database for SimulatedData {
    async fn probe(&self, side: Side, _: Duration) -> Result<Duration, DataError> {
        match side {
            Side::Primary => Err(DataError::Unreachable(
                "the simulated primary is down (there is no [data] in the config)".into(),
            )),
            Side::Standby => Ok(Duration::ZERO),
        }
    }

    async fn dump(
        &self,
        _: Side,
        _: &Path,
        _: &[TableConfig],
        _: Duration,
    ) -> Result<Dumped, DataError> {
        Err(DataError::Setup(
            "there is no [data] in the config: nothing to back up".into(),
        ))
    }

    async fn check_dump(&self, _: &Path, _: Duration) -> Result<usize, DataError> {
        Ok(0)
    }

    async fn dump_contents(
        &self,
        _: &Path,
        _: &[TableConfig],
        _: Duration,
    ) -> Result<DumpContents, DataError> {
        Ok(DumpContents {
            entries: 0,
            tables: Vec::new(),
        })
    }

    async fn restore(&self, _: &Path, _: Side, _: u32, _: Duration) -> Result<(), DataError> {
        Ok(())
    }

    async fn copy(&self, from: Side, _: Side, limit: Duration) -> Result<(), DataError> {
        self.probe(from, limit).await.map(|_| ())
    }

    async fn table_stats(
        &self,
        _: Side,
        _: &[TableConfig],
        _: Duration,
    ) -> Result<Vec<crate::ports::data::TableStats>, DataError> {
        Ok(Vec::new())
    }

    fn describe(&self, side: Side) -> String {
        match side {
            Side::Primary => "the simulated primary".into(),
            Side::Standby => "the simulated standby".into(),
        }
    }

    fn simulated(&self) -> bool {
        true
    }
}

#[async_trait]
impl BackupStore for SimulatedData {
    fn location(&self) -> String {
        "simulated backups".into()
    }

    async fn latest(&self) -> Result<Option<BackupInfo>, DataError> {
        Ok(self.list().into_iter().max_by_key(|b| b.completed_at))
    }

    async fn get(&self, key: &str) -> Result<BackupInfo, DataError> {
        self.list()
            .into_iter()
            .find(|b| b.key == key)
            .ok_or_else(|| DataError::NotFound(format!("no simulated backup {key}")))
    }

    async fn put(&self, _: &Path, manifest: &Manifest) -> Result<BackupInfo, DataError> {
        let info = BackupInfo {
            key: manifest.key.clone(),
            location: format!("simulated:{}", manifest.key),
            completed_at: manifest.completed_at,
            size: manifest.size,
            manifest: Some(manifest.clone()),
        };
        if let Ok(mut backups) = self.backups.lock() {
            backups.push(info.clone());
        }
        Ok(info)
    }

    async fn fetch(&self, _: &BackupInfo) -> Result<LocalBackup, DataError> {
        Ok(LocalBackup {
            path: "/dev/null".into(),
            _download: None,
        })
    }
}
