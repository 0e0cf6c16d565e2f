//! A drill's own PostgreSQL: a throwaway cluster on loopback (`db::throwaway::LocalCluster`)
//! with an empty "primary" and "standby" database, and a backup directory of the drill's. At
//! the outage it seeds the primary, backs it up through Lifeboat's own backup path and takes
//! it down; the drilled runbook then restores and verifies for real. What is seeded and why is
//! `crate::drill::data`.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::config::{Config, DataConfig};
use crate::db::DataEdges;
use crate::db::throwaway::LocalCluster;
use crate::drill::data::{
    PRIMARY_DB, PRIMARY_URL_ENV, SEED_ROWS, STANDBY_DB, STANDBY_URL_ENV, seed_newest, seed_sql,
    take_down_sql, throwaway_data,
};
use crate::ports::data::stamp;
use crate::ports::store::EventStore;

/// A running throwaway cluster and the drill's `[data]` over it; stopped and removed with
/// [`Throwaway::stop`] (or, failing that, when the process ends).
pub(super) struct Throwaway {
    cluster: Arc<LocalCluster>,
    _backups: tempfile::TempDir,
    pub data: DataConfig,
}

impl Throwaway {
    /// Starts the cluster and creates its two empty databases (about a second). The error says
    /// what to install when the PostgreSQL server is missing.
    pub async fn start(base: &Config) -> anyhow::Result<Throwaway> {
        let cluster = tokio::task::spawn_blocking(|| -> Result<LocalCluster, String> {
            let cluster = LocalCluster::start()?;
            for db in [PRIMARY_DB, STANDBY_DB] {
                cluster.create_database(db)?;
            }
            Ok(cluster)
        })
        .await
        .context("starting the throwaway PostgreSQL")?
        .map_err(anyhow::Error::msg)?;
        let backups = tempfile::Builder::new()
            .prefix("lifeboat-drill-backups-")
            .tempdir()
            .context("a directory for the drill's backups")?;
        let data = throwaway_data(base, backups.path());
        Ok(Throwaway {
            cluster: Arc::new(cluster),
            _backups: backups,
            data,
        })
    }

    /// The drill's URL variables with the throwaway's URLs, for the drill's secrets.
    pub fn secrets(&self) -> [(String, String); 2] {
        [
            (PRIMARY_URL_ENV.to_owned(), self.cluster.url(PRIMARY_DB)),
            (STANDBY_URL_ENV.to_owned(), self.cluster.url(STANDBY_DB)),
        ]
    }

    /// For people: where the drill's data is (and, when `[data]` is configured, that the
    /// company's databases were left alone).
    pub fn describe(&self, base: &Config) -> String {
        format!(
            "a throwaway PostgreSQL on 127.0.0.1:{} started by the drill ({PRIMARY_DB} and {STANDBY_DB}; {SEED_ROWS} rows per table, the newest {} before the outage){}",
            self.cluster.port(),
            crate::duration::format_elapsed(crate::drill::data::SEED_GAP),
            if base.data.is_some() {
                "; the configured databases and backups were not touched"
            } else {
                ""
            }
        )
    }

    /// At the outage, which started at `outage_start`: seeds the primary (its newest rows
    /// `SEED_GAP` before it), backs it up into the drill's store through `edges` (recorded in
    /// the drill's log as `db.backup_taken`), then takes the primary down. The line to print.
    pub async fn prepare(
        &self,
        config: &Config,
        edges: &DataEdges,
        store: &dyn EventStore,
        outage_start: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let newest = seed_newest(outage_start);
        let sql = seed_sql(&self.data.tables, SEED_ROWS, newest);
        self.sql(PRIMARY_DB, sql)
            .await
            .context("seeding the drill's primary")?;
        let taken = crate::db::cli::backup_into(edges, config, Some(store))
            .await
            .map_err(anyhow::Error::msg)
            .context("backing up the drill's primary")?;
        self.sql("postgres", take_down_sql())
            .await
            .context("taking the drill's primary down")?;
        Ok(format!(
            "the drill's primary held {} rows per table, the newest at {}; {taken}; the primary goes down",
            SEED_ROWS,
            stamp(newest)
        ))
    }

    async fn sql(&self, database: &'static str, sql: String) -> anyhow::Result<String> {
        let cluster = self.cluster.clone();
        tokio::task::spawn_blocking(move || cluster.sql(database, &sql))
            .await?
            .map_err(anyhow::Error::msg)
    }

    /// Stops the cluster and removes its directory, off the async threads.
    pub async fn stop(self) {
        let cluster = self.cluster;
        let _ = tokio::task::spawn_blocking(move || drop(cluster)).await;
    }
}
