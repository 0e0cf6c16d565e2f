//! The newest stored backup's age against the RPO, in `backup_check`'s shape: what the RPO
//! watch reads when no runbook has a `backup_check` step, and `lifeboat readiness`.

use chrono::Utc;

use super::{failed, to_data};
use crate::duration::format_elapsed;
use crate::events::NewestBackupOutput;
use crate::ports::data::stamp;
use crate::steps::backup::{Freshness, freshness};
use crate::steps::{StepEnv, StepError, StepOutput};

/// The newest backup's age against the RPO, in `backup_check`'s shape (`age_secs`,
/// `completed_at`; an error that carries an age is a stale backup): for the RPO watch and
/// `lifeboat readiness`.
pub async fn newest_backup_age(env: &StepEnv) -> Result<StepOutput, StepError> {
    let store = &env.data.backups;
    let rpo = env.config.objectives.rpo;
    let newest =
        store.latest().await.map_err(failed)?.ok_or_else(|| {
            StepError::invalid(format!("there is no backup in {}", store.location()))
        })?;
    let mut output = NewestBackupOutput {
        source: "store".to_owned(),
        from: store.location(),
        backup: newest.key.clone(),
        completed_at: stamp(newest.completed_at),
        max_age_secs: rpo.get().as_secs(),
        age_secs: None,
        simulated: env.data.simulated(),
    };
    match freshness(newest.data_at(), Utc::now(), rpo.get()) {
        Freshness::Fresh { age } => {
            output.age_secs = Some(age.as_secs());
            Ok(StepOutput::new(
                format!(
                    "newest backup {} completed at {}, {} ago (within the RPO of {rpo})",
                    newest.location,
                    stamp(newest.completed_at),
                    format_elapsed(age)
                ),
                to_data(&output),
            ))
        }
        Freshness::TooOld { age } => {
            output.age_secs = Some(age.as_secs());
            Err(StepError::invalid(format!(
                "newest backup {} is {} old, older than the RPO of {rpo}",
                newest.location,
                format_elapsed(age)
            ))
            .with_data(to_data(&output)))
        }
        Freshness::InFuture { by } => Err(StepError::invalid(format!(
            "newest backup {} claims to complete {} from now: check the clock of the host that took it",
            newest.location,
            format_elapsed(by)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::events::{BackupCheckOutput, read_output};

    #[test]
    fn the_output_is_backup_checks_shape_with_the_backup_and_the_simulation() {
        let output = NewestBackupOutput {
            source: "store".into(),
            from: "s3://b/pg/".into(),
            backup: "pg/k".into(),
            completed_at: "2026-11-25T09:00:00Z".into(),
            max_age_secs: 3600,
            age_secs: Some(600),
            simulated: false,
        };
        let data = to_data(&output);
        assert_eq!(
            data,
            json!({
                "source": "store", "from": "s3://b/pg/", "backup": "pg/k",
                "completed_at": "2026-11-25T09:00:00Z", "max_age_secs": 3600u64,
                "simulated": false, "age_secs": 600u64,
            })
        );
        let read: BackupCheckOutput = read_output(&data);
        assert_eq!(read.age_secs, Some(600));
        assert_eq!(read.completed_at.as_deref(), Some("2026-11-25T09:00:00Z"));
    }
}
