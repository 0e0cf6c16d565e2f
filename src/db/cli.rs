//! One database backup, as `lifeboat db backup` and the scheduler take it: dump, store,
//! record `db.backup_taken` (or `db.backup_failed`) in the event log.

use std::path::Path;
use std::time::Duration;

use super::{BackupTaken, DataEdges, take_backup};
use crate::config::{Config, Secret};
use crate::domain::Actor;
use crate::domain::event::NewEvent;
use crate::events::{DbBackupFailed, DbBackupTaken};
use crate::ports::data::{DataError, stamp};
use crate::ports::store::EventStore;

/// The longest a dump may take before it is killed: far beyond an hourly schedule.
pub const BACKUP_LIMIT: Duration = Duration::from_secs(6 * 3600);

/// `db.backup_taken`'s payload.
pub fn taken_event(taken: &BackupTaken) -> NewEvent {
    NewEvent::of(
        Actor::Scheduler,
        DbBackupTaken {
            key: taken.backup.key.clone(),
            location: taken.backup.location.clone(),
            size: taken.backup.size,
            duration_ms: taken.duration.as_millis() as u64,
            completed_at: stamp(taken.backup.completed_at),
        },
    )
}

pub fn failed_event(err: &DataError) -> NewEvent {
    NewEvent::of(
        Actor::Scheduler,
        DbBackupFailed {
            error: err.to_string(),
        },
    )
}

/// Takes one backup and records it in `store` (when given); the line to print.
pub async fn backup_into(
    edges: &DataEdges,
    config: &Config,
    store: Option<&dyn EventStore>,
) -> Result<String, String> {
    match take_backup(edges, config, BACKUP_LIMIT).await {
        Ok(taken) => {
            if let Some(store) = store {
                store
                    .append(taken_event(&taken))
                    .map_err(|e| format!("the backup was taken but not recorded: {e}"))?;
            }
            Ok(format!(
                "backup {} taken: {} bytes in {}",
                taken.backup.location,
                taken.backup.size,
                crate::duration::format_elapsed(taken.duration)
            ))
        }
        Err(err) => {
            if let Some(store) = store {
                let _ = store.append(failed_event(&err));
            }
            Err(err.to_string())
        }
    }
}

/// `lifeboat db backup`.
pub async fn backup(config: &Config, data_dir: &Path) -> Result<String, String> {
    if config.data.is_none() {
        return Err("there is no [data] in the config: nothing to back up".into());
    }
    let edges = DataEdges::connect(config, &Secret::from_env, None).await;
    // The running bot holds the log: then the line is printed and the bot's own schedule
    // records its backups.
    let store = crate::store::SledStore::open(data_dir).ok();
    let line = backup_into(&edges, config, store.as_ref().map(|s| s as &dyn EventStore)).await?;
    if let Some(store) = &store {
        let _ = store.flush();
    }
    Ok(match store {
        Some(_) => line,
        None => format!(
            "{line} (not recorded: the event log at {} is in use or missing)",
            data_dir.display()
        ),
    })
}
