//! `db_restore`: the chosen backup weighed (its data-loss window against the limit, more loss
//! accepted by an approver) and checked before the target is touched, then restored; skipped
//! when an earlier step copied the data straight in. And its dry run.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tracing::{info, instrument};

use super::accept::accept_more_loss;
use super::loss::{Loss, judge_loss, outage_start};
use super::{failed, finished_now, jobs, to_data};
use crate::duration::{HumanDuration, format_elapsed};
use crate::events::{DbCopyOutput, DbRestoreOutput, DbRestoreSkipped, read_output};
use crate::ports::data::{BackupInfo, LocalBackup, Side, stamp};
use crate::runbook::DbRestore;
use crate::steps::http::within_step;
use crate::steps::{StepEnv, StepError, StepInput, StepOutput};

/// The earlier step of this run (`earlier`: outputs by step id) that copied a database
/// straight into `target`, if any.
fn copied_into(earlier: &BTreeMap<String, Value>, target: Side) -> Option<String> {
    earlier
        .iter()
        .find(|(_, out)| {
            let out: DbCopyOutput = read_output(out);
            out.copied && out.to == Some(target)
        })
        .map(|(step, _)| step.clone())
}

/// The limit the data-loss window is held against: the step's `max_age`, else the RPO; and
/// its name for people.
fn limit_of(env: &StepEnv, args: &DbRestore) -> (HumanDuration, String) {
    match args.max_age {
        Some(max) => (max, format!("the maximum age of {max}")),
        None => (
            env.config.objectives.rpo,
            format!("the RPO of {}", env.config.objectives.rpo),
        ),
    }
}

/// `db_restore`.
#[instrument(skip_all, fields(run = %input.run, step = %input.step.id))]
pub async fn restore(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &DbRestore,
) -> Result<StepOutput, StepError> {
    let data_edges = &env.data;
    let target = data_edges.db.describe(args.to);
    if let Some(step) = copied_into(input.earlier, args.to) {
        return Ok(StepOutput::new(
            format!("nothing to restore: step `{step}` copied the data straight into {target}"),
            to_data(&DbRestoreSkipped {
                skipped: true,
                copied_by: step,
            }),
        ));
    }
    let backup = pick(env, input, args).await?;
    let (max_age, limit_name) = limit_of(env, args);
    let mut output = DbRestoreOutput {
        backup: backup.key.clone(),
        location: backup.location.clone(),
        completed_at: stamp(backup.completed_at),
        data_at: stamp(backup.data_at()),
        max_age_secs: max_age.get().as_secs(),
        to: Some(args.to),
        simulated: data_edges.db.simulated(),
        ..DbRestoreOutput::default()
    };
    let (loss, accepted) =
        weigh_loss(env, input, &backup, max_age.get(), &limit_name, &mut output).await?;
    let limit = within_step(input.step.timeout.get());
    let local = fetch_checked(env, &backup, &target, limit, &output).await?;
    let started = std::time::Instant::now();
    let jobs = jobs(env);
    info!(backup = %backup.key, jobs, "restoring");
    if let Err(err) = data_edges
        .db
        .restore(&local.path, args.to, jobs, limit)
        .await
    {
        output.target_state = Some("needs a clean restore".to_owned());
        return Err(StepError::invalid(format!(
            "restoring {} into {target} failed: {err}; {target} is half restored: retry restores it again from clean (or restore another backup)",
            backup.location
        ))
        .with_data(to_data(&output)));
    }
    let took = started.elapsed();
    output.duration_ms = Some(took.as_millis() as u64);
    output.at = Some(finished_now());
    output.jobs = Some(jobs);
    if data_edges.db.simulated() {
        // The stand-in backup's age only passes the RPO gate: it is a chosen constant, not a
        // measurement, so neither the summary nor the output reports it as a window.
        output.backup_age_secs = None;
        output.loss_window_secs = None;
        return Ok(StepOutput::new(
            format!(
                "simulated: restored the stand-in backup {} into {target} (nothing restored, no data-loss window measured)",
                backup.location
            ),
            to_data(&output),
        ));
    }
    let accepted_text = accepted
        .map(|by| format!(", more than {limit_name}: accepted by {by}"))
        .unwrap_or_else(|| format!(", within {limit_name}"));
    Ok(StepOutput::new(
        format!(
            "restored {} (data from {}, {} old now; data-loss window {} before the outage began at {}{accepted_text}) into {target} in {}",
            backup.location,
            stamp(backup.data_at()),
            format_elapsed(loss.age),
            format_elapsed(loss.window),
            stamp(loss.outage_start),
            format_elapsed(took)
        ),
        to_data(&output),
    ))
}

/// Measures what restoring `backup` would lose and records it in `output`; a window over the
/// limit needs an approver's yes (returned, also recorded). `Err` (with `output` as its
/// data) for a backup from the future or more loss refused.
async fn weigh_loss(
    env: &StepEnv,
    input: &StepInput<'_>,
    backup: &BackupInfo,
    max_age: Duration,
    limit_name: &str,
    output: &mut DbRestoreOutput,
) -> Result<(Loss, Option<String>), StepError> {
    let now = Utc::now();
    let loss = match judge_loss(backup, outage_start(env, input), now, max_age) {
        Ok(loss) => loss,
        Err(by) => {
            return Err(StepError::invalid(format!(
                "backup {} claims to be from {}, {} from now: check the clock of the host that took it",
                backup.location,
                stamp(backup.data_at()),
                format_elapsed(by)
            ))
            .with_data(to_data(output)));
        }
    };
    output.backup_age_secs = Some(loss.age.as_secs());
    output.outage_start = Some(stamp(loss.outage_start));
    output.loss_window_secs = Some(loss.window.as_secs());
    if !loss.too_much {
        return Ok((loss, None));
    }
    let by = accept_more_loss(env, input, backup, &loss, limit_name)
        .await
        .map_err(|e| e.with_data(to_data(output)))?;
    output.accepted_by = Some(by.clone());
    Ok((loss, Some(by)))
}

/// Fetches the backup and checks it is a readable dump: everything that can refuse the
/// backup does so before the target is touched. Errors carry `output` as their data.
async fn fetch_checked(
    env: &StepEnv,
    backup: &BackupInfo,
    target: &str,
    limit: Duration,
    output: &DbRestoreOutput,
) -> Result<LocalBackup, StepError> {
    let local = env.data.backups.fetch(backup).await.map_err(|e| {
        let mut err = failed(e);
        err.data = to_data(output);
        err
    })?;
    env.data
        .db
        .check_dump(&local.path, limit)
        .await
        .map_err(|e| {
            StepError::invalid(format!(
                "backup {} is not a readable dump, so {target} was left as it was: {e}",
                backup.location
            ))
            .with_data(to_data(output))
        })?;
    Ok(local)
}

/// The backup named by the step (or a parameter), else the newest.
async fn pick(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &DbRestore,
) -> Result<BackupInfo, StepError> {
    let store = &env.data.backups;
    let named = match &args.backup {
        Some(text) => input.expand(env, text)?,
        None => String::new(),
    };
    if named.trim().is_empty() {
        store.latest().await.map_err(failed)?.ok_or_else(|| {
            StepError::invalid(format!("there is no backup in {}", store.location()))
        })
    } else {
        store.get(named.trim()).await.map_err(failed)
    }
}

pub async fn plan_restore(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &DbRestore,
) -> Result<Vec<String>, StepError> {
    let limit = args.max_age.unwrap_or(env.config.objectives.rpo);
    let target = env.data.db.describe(args.to);
    Ok(vec![match pick(env, input, args).await {
        // The simulation's backup is a stand-in whose age is a chosen constant: no window.
        Ok(b) if env.data.db.simulated() => format!(
            "restore the stand-in backup {} into {target} with {} jobs, unless a copy filled it (simulated: nothing is restored and no data-loss window is measured)",
            b.location,
            jobs(env)
        ),
        Ok(b) => match judge_loss(&b, outage_start(env, input), Utc::now(), limit.get()) {
            Ok(loss) => format!(
                "restore {} ({} old now; data-loss window {} before the outage began at {}, limit {}{}) into {target} with {} jobs, unless a copy filled it",
                b.location,
                format_elapsed(loss.age),
                format_elapsed(loss.window),
                stamp(loss.outage_start),
                HumanDuration(limit.get()),
                if loss.too_much {
                    ": an approver would have to accept more data loss"
                } else {
                    ""
                },
                jobs(env)
            ),
            Err(by) => format!(
                "restore into {target}: backup {} claims to be from {} from now (check the clock of the host that took it)",
                b.location,
                format_elapsed(by)
            ),
        },
        Err(err) => format!("restore into {target}: no backup to restore now ({err})"),
    }])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_output_holds_the_keys_the_untyped_step_wrote() {
        let skipped = DbRestoreSkipped {
            skipped: true,
            copied_by: "copy".into(),
        };
        assert_eq!(
            to_data(&skipped),
            json!({ "skipped": true, "copied_by": "copy" })
        );
        let mut output = DbRestoreOutput {
            backup: "k".into(),
            location: "s3://b/k".into(),
            completed_at: "2026-11-25T09:00:00Z".into(),
            data_at: "2026-11-25T08:59:00Z".into(),
            max_age_secs: 3600,
            to: Some(Side::Standby),
            simulated: false,
            ..DbRestoreOutput::default()
        };
        let base = json!({
            "backup": "k", "location": "s3://b/k", "completed_at": "2026-11-25T09:00:00Z",
            "data_at": "2026-11-25T08:59:00Z", "max_age_secs": 3600u64, "to": "standby",
            "simulated": false,
        });
        assert_eq!(to_data(&output), base);
        output.backup_age_secs = Some(7200);
        output.outage_start = Some("2026-11-25T10:00:00Z".into());
        output.loss_window_secs = Some(3660);
        output.accepted_by = Some("dan".into());
        output.duration_ms = Some(900);
        output.at = Some("2026-11-25T11:00:00.123Z".into());
        output.jobs = Some(2);
        let mut done = base;
        for (key, value) in [
            ("backup_age_secs", json!(7200u64)),
            ("outage_start", json!("2026-11-25T10:00:00Z")),
            ("loss_window_secs", json!(3660u64)),
            ("accepted_by", json!("dan")),
            ("duration_ms", json!(900u64)),
            ("at", json!("2026-11-25T11:00:00.123Z")),
            ("jobs", json!(2u32)),
        ] {
            done[key] = value;
        }
        assert_eq!(to_data(&output), done);
    }

    #[test]
    fn a_copy_into_the_target_earlier_in_the_run_is_found() {
        let mut earlier = BTreeMap::new();
        earlier.insert(
            "copy".to_owned(),
            json!({ "from": "primary", "to": "standby", "copied": true, "simulated": false }),
        );
        earlier.insert("dns".to_owned(), json!({ "to": "primary", "records": [] }));
        assert_eq!(
            copied_into(&earlier, Side::Standby).as_deref(),
            Some("copy")
        );
        assert_eq!(copied_into(&earlier, Side::Primary), None);
    }
}
