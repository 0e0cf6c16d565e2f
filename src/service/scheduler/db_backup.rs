//! The scheduler's database backups (`[schedule] db_backup_every`, with `[data]` configured):
//! one at a time, in the background, each recording `db.backup_taken` or `db.backup_failed`.

use std::sync::Arc;

use tracing::{info, warn};

use super::Scheduler;

impl Scheduler {
    /// Starts one database backup in the background (`[schedule] db_backup_every`), unless
    /// the previous one is still running; it records `db.backup_taken` or `db.backup_failed`.
    pub(super) fn start_db_backup(&self, busy: &Arc<std::sync::atomic::AtomicBool>) {
        use std::sync::atomic::Ordering;
        if busy.swap(true, Ordering::SeqCst) {
            warn!("the previous database backup is still running; skipping this one");
            return;
        }
        let (edges, config, store) = (
            self.env.data.clone(),
            self.env.config.clone(),
            self.store.clone(),
        );
        let busy = busy.clone();
        tokio::spawn(async move {
            match crate::db::cli::backup_into(&edges, &config, Some(store.as_ref())).await {
                Ok(line) => info!(%line, "database backup"),
                Err(error) => warn!(%error, "database backup failed"),
            }
            busy.store(false, Ordering::SeqCst);
        });
    }
}
