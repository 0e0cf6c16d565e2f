//! The data adapters: PostgreSQL through its tools (`pg`), run in process groups
//! (`process`) with credentials in libpq variables (`url`); backups in a local directory
//! (`dir_store`; S3 is in `aws/s3.rs`); the simulation used without `[data]`; a throwaway
//! local cluster for drills, tests and benchmarks; and the taking of one backup
//! (`lifeboat db backup` and the schedule).

pub mod cli;
pub mod dir_store;
pub mod pg;
pub(crate) mod process;
pub mod simulated;
pub mod throwaway;
pub mod url;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_route53::config::Credentials;
use chrono::Utc;

use crate::config::{BackupLocation, Config, Secret};
use crate::ports::data::{
    BackupInfo, BackupStore, DataError, Database, MANIFEST_FORMAT, Manifest, Side, backup_key,
};

/// The two data edges the steps act through, real or simulated.
#[derive(Clone)]
pub struct DataEdges {
    pub db: Arc<dyn Database>,
    pub backups: Arc<dyn BackupStore>,
}

impl std::fmt::Debug for DataEdges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataEdges")
            .field("backups", &self.backups.location())
            .field("simulated", &self.db.simulated())
            .finish()
    }
}

impl Default for DataEdges {
    /// The simulation: what the steps use when `[data]` is not configured.
    fn default() -> Self {
        let simulation = Arc::new(simulated::SimulatedData::new(Utc::now()));
        Self {
            db: simulation.clone(),
            backups: simulation,
        }
    }
}

impl DataEdges {
    /// The real edges from `[data]` (URLs read through `url_of`; S3 through `[aws]` with the
    /// standard credential chain, or `credentials`), or the simulation without `[data]`.
    pub async fn connect(
        config: &Config,
        url_of: &(dyn Fn(&str) -> Option<Secret> + Sync),
        credentials: Option<Credentials>,
    ) -> Self {
        let Some(data) = &config.data else {
            return Self::default();
        };
        let db = Arc::new(pg::PgTools::new(data, url_of));
        let backups: Arc<dyn BackupStore> = match data.backups.location() {
            Some(BackupLocation::S3 { bucket, prefix }) => {
                let sdk = crate::aws::sdk_config(&config.aws, credentials).await;
                Arc::new(crate::aws::S3Backups::new(
                    crate::aws::s3_client(&sdk),
                    &bucket,
                    &prefix,
                ))
            }
            Some(BackupLocation::Dir(dir)) => Arc::new(dir_store::DirBackups::new(dir)),
            // Refused by the config's validation; kept total all the same.
            None => Arc::new(simulated::SimulatedData::new(Utc::now())),
        };
        Self { db, backups }
    }

    pub fn simulated(&self) -> bool {
        self.db.simulated()
    }
}

/// What one backup took.
#[derive(Debug, Clone)]
pub struct BackupTaken {
    pub backup: BackupInfo,
    pub duration: Duration,
}

/// Dumps the primary into the store: `pg_dump --format=custom` into a temp file (with the
/// tables' statistics from the same snapshot), then stored under its completion time with
/// its manifest.
pub async fn take_backup(
    edges: &DataEdges,
    config: &Config,
    limit: Duration,
) -> Result<BackupTaken, DataError> {
    let data = config
        .data
        .as_ref()
        .ok_or_else(|| DataError::Setup("there is no [data] in the config".into()))?;
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().map_err(|e| DataError::Store(format!("no temp dir: {e}")))?;
    let file = dir.path().join("dump");
    let dumped = edges
        .db
        .dump(Side::Primary, &file, &data.tables, limit)
        .await?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_owned(),
        version: 1,
        key: backup_key(&data.backups.prefix, dumped.completed_at),
        started_at: dumped.started_at,
        completed_at: dumped.completed_at,
        size: dumped.size,
        sha256: dumped.sha256,
        tables: dumped.tables,
    };
    let backup = edges.backups.put(&file, &manifest).await?;
    Ok(BackupTaken {
        backup,
        duration: started.elapsed(),
    })
}
