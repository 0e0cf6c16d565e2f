//! `db_copy`, `db_restore` and `db_verify`: the data half of the DRP, through the `Database`
//! and `BackupStore` edges.
//!
//! - `db_copy` streams one database into the other when the source answers (nothing lost);
//!   on failover a source that does not answer sends the run on to the backup path.
//! - `db_restore` measures the data the chosen backup would lose (outage start − its data
//!   time) *before* touching the target; a window over
//!   the RPO needs an approver to accept the extra loss (asked in chat, recorded), else the run
//!   stops there, before DNS. A half-done restore is re-run from a clean target.
//! - `db_verify` counts the configured tables against what they should hold and measures the
//!   data-loss window: outage start − newest restored row (zero after a direct copy).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tracing::{info, instrument, warn};

use super::backup::{Freshness, freshness};
use super::confirm::{Answered, Answers};
use super::http::within_step;
use super::{StepEnv, StepError, StepInput, StepOutput};
use crate::config::TableConfig;
use crate::domain::Actor;
use crate::domain::event::NewEvent;
use crate::duration::{HumanDuration, format_elapsed};
use crate::ports::chat::{Action, Button, ButtonStyle, Message};
use crate::ports::data::{
    BackupInfo, DataError, Side, TableStats, loss_window, newest_row, row_mismatches, stamp,
};
use crate::runbook::{DbCopy, DbRestore, DbVerify, IfUnreachable};

/// The event that records an approver accepting more data loss than the RPO.
pub const DATA_LOSS_ACCEPTED: &str = crate::events::EventKind::DbDataLossAccepted.as_str();

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Primary => "primary",
        Side::Standby => "standby",
    }
}

fn tables(env: &StepEnv) -> &[TableConfig] {
    env.config
        .data
        .as_ref()
        .map_or(&[], |d| d.tables.as_slice())
}

fn jobs(env: &StepEnv) -> u32 {
    env.config.data.as_ref().map_or(1, |d| d.jobs)
}

fn connect_timeout(env: &StepEnv) -> Duration {
    env.config
        .data
        .as_ref()
        .map_or(Duration::from_secs(10), |d| d.connect_timeout.get())
        + Duration::from_secs(5)
}

fn failed(err: DataError) -> StepError {
    if err.is_retryable() {
        StepError::retryable(err.to_string())
    } else {
        StepError::invalid(err.to_string())
    }
}

fn stats_json(stats: &[TableStats]) -> Value {
    json!(
        stats
            .iter()
            .map(|s| json!({ "table": s.table, "rows": s.rows, "newest": s.newest.map(stamp) }))
            .collect::<Vec<_>>()
    )
}

/// `orders +250 (10,250)`: the rows a copy added to each table.
fn rows_back(before: &[TableStats], after: &[TableStats]) -> Vec<String> {
    after
        .iter()
        .map(|a| {
            let was = before
                .iter()
                .find(|b| b.table == a.table)
                .map_or(0, |b| b.rows);
            let delta = a.rows as i64 - was as i64;
            format!("{} {delta:+} ({} rows)", a.table, a.rows)
        })
        .collect()
}

/// `db_copy`.
#[instrument(skip_all, fields(run = %input.run, step = %input.step.id))]
pub async fn copy(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &DbCopy,
) -> Result<StepOutput, StepError> {
    let db = &env.data.db;
    let (from, to) = (db.describe(args.from), db.describe(args.to));
    let mut data = json!({
        "from": side_name(args.from), "to": side_name(args.to), "copied": false,
        "simulated": db.simulated(),
    });
    let go_on = args.if_unreachable == IfUnreachable::Continue;
    if let Err(err) = db.probe(args.from, connect_timeout(env)).await {
        data["reason"] = json!(err.to_string());
        if go_on {
            info!(error = %err, "source does not answer: backup path");
            return Ok(StepOutput::new(
                format!("{from} does not answer ({err}): going on to the backup path"),
                data,
            ));
        }
        return Err(StepError::invalid(format!(
            "{from} does not answer, so nothing was copied: {err}"
        ))
        .with_data(data));
    }
    let limit = within_step(input.step.timeout.get());
    let before = db
        .table_stats(args.to, tables(env), limit)
        .await
        .unwrap_or_default();
    let started = std::time::Instant::now();
    if let Err(err) = db.copy(args.from, args.to, limit).await {
        warn!(error = %err, "copy failed");
        data["reason"] = json!(err.to_string());
        data["target_state"] = json!("needs a clean restore");
        if go_on {
            return Ok(StepOutput::new(
                format!(
                    "copying {from} into {to} failed ({err}): going on to the backup path, which restores {to} from clean"
                ),
                data,
            ));
        }
        return Err(StepError::invalid(format!(
            "copying {from} into {to} failed: {err}; {to} is half copied: retry to copy it again from clean"
        ))
        .with_data(data));
    }
    let took = started.elapsed();
    let after = db
        .table_stats(args.to, tables(env), limit)
        .await
        .map_err(failed)?;
    let back = rows_back(&before, &after);
    data["copied"] = json!(true);
    data["at"] = finished_now();
    data["duration_ms"] = json!(took.as_millis() as u64);
    data["before"] = stats_json(&before);
    data["after"] = stats_json(&after);
    // The source answered and was copied whole: nothing written before the copy is lost.
    data["data_loss_secs"] = json!(0);
    data["measured"] = json!(!db.simulated());
    let rows = if back.is_empty() {
        String::new()
    } else {
        format!("; rows per table: {}", back.join(", "))
    };
    Ok(StepOutput::new(
        format!("copied {from} into {to} in {}{rows}", format_elapsed(took)),
        data,
    ))
}

/// The earlier step of this run that copied a database straight into `target`, if any.
fn copied_into(input: &StepInput<'_>, target: Side) -> Option<String> {
    input
        .earlier
        .iter()
        .find(|(_, out)| out["copied"] == true && out["to"] == side_name(target))
        .map(|(step, _)| step.clone())
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
    if let Some(step) = copied_into(input, args.to) {
        return Ok(StepOutput::new(
            format!("nothing to restore: step `{step}` copied the data straight into {target}"),
            json!({ "skipped": true, "copied_by": step }),
        ));
    }
    let backup = pick(env, input, args).await?;
    let (max_age, limit_name) = match args.max_age {
        Some(max) => (max, format!("the maximum age of {max}")),
        None => (
            env.config.objectives.rpo,
            format!("the RPO of {}", env.config.objectives.rpo),
        ),
    };
    let now = Utc::now();
    let mut data = json!({
        "backup": backup.key, "location": backup.location,
        "completed_at": stamp(backup.completed_at), "data_at": stamp(backup.data_at()),
        "max_age_secs": max_age.get().as_secs(), "to": side_name(args.to),
        "simulated": data_edges.db.simulated(),
    });
    let loss = match judge_loss(&backup, outage_start(env, input), now, max_age.get()) {
        Ok(loss) => loss,
        Err(by) => {
            return Err(StepError::invalid(format!(
                "backup {} claims to be from {}, {} from now: check the clock of the host that took it",
                backup.location,
                stamp(backup.data_at()),
                format_elapsed(by)
            ))
            .with_data(data));
        }
    };
    data["backup_age_secs"] = json!(loss.age.as_secs());
    data["outage_start"] = json!(stamp(loss.outage_start));
    data["loss_window_secs"] = json!(loss.window.as_secs());
    let mut accepted = None;
    if loss.too_much {
        let by = accept_more_loss(env, input, &backup, &loss, &limit_name)
            .await
            .map_err(|e| e.with_data(data.clone()))?;
        data["accepted_by"] = json!(by);
        accepted = Some(by);
    }
    let limit = within_step(input.step.timeout.get());
    // Everything that can refuse the backup does so before the target is touched.
    let local = data_edges.backups.fetch(&backup).await.map_err(|e| {
        let mut err = failed(e);
        err.data = data.clone();
        err
    })?;
    data_edges
        .db
        .check_dump(&local.path, limit)
        .await
        .map_err(|e| {
            StepError::invalid(format!(
                "backup {} is not a readable dump, so {target} was left as it was: {e}",
                backup.location
            ))
            .with_data(data.clone())
        })?;
    let started = std::time::Instant::now();
    let jobs = jobs(env);
    info!(backup = %backup.key, jobs, "restoring");
    if let Err(err) = data_edges
        .db
        .restore(&local.path, args.to, jobs, limit)
        .await
    {
        data["target_state"] = json!("needs a clean restore");
        return Err(StepError::invalid(format!(
            "restoring {} into {target} failed: {err}; {target} is half restored: retry restores it again from clean (or restore another backup)",
            backup.location
        ))
        .with_data(data));
    }
    let took = started.elapsed();
    data["duration_ms"] = json!(took.as_millis() as u64);
    data["at"] = finished_now();
    data["jobs"] = json!(jobs);
    let accepted_text = accepted
        .map(|by| format!(", more than {limit_name}: accepted by {by}"))
        .unwrap_or_else(|| format!(", within {limit_name}"));
    let simulated = if data_edges.db.simulated() {
        "simulated: "
    } else {
        ""
    };
    Ok(StepOutput::new(
        format!(
            "{simulated}restored {} (data from {}, {} old now; data-loss window {} before the outage began at {}{accepted_text}) into {target} in {}",
            backup.location,
            stamp(backup.data_at()),
            format_elapsed(loss.age),
            format_elapsed(loss.window),
            stamp(loss.outage_start),
            format_elapsed(took)
        ),
        data,
    ))
}

/// What restoring a backup would cost: its age now, and the data it loses — the writes
/// between the backup's data time and the outage start (`window`). The limit (the RPO) is
/// held against the window, not the age: detection and approval take time that loses no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loss {
    age: Duration,
    outage_start: DateTime<Utc>,
    window: Duration,
    too_much: bool,
}

/// Judges `backup` against `limit`; `Err(by)` when it claims to be from the future.
fn judge_loss(
    backup: &BackupInfo,
    outage_start: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: Duration,
) -> Result<Loss, Duration> {
    let age = match freshness(backup.data_at(), now, limit) {
        Freshness::Fresh { age } | Freshness::TooOld { age } => age,
        Freshness::InFuture { by } => return Err(by),
    };
    let window = loss_window(outage_start, backup.data_at());
    Ok(Loss {
        age,
        outage_start,
        window,
        too_much: window > limit,
    })
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

/// Asks the incident channel whether to restore a backup older than the limit; only an
/// approver's yes counts, and it is recorded. `Err` when refused.
async fn accept_more_loss(
    env: &StepEnv,
    input: &StepInput<'_>,
    backup: &BackupInfo,
    loss: &Loss,
    limit_name: &str,
) -> Result<String, StepError> {
    let question = format!(
        "Restoring backup {} loses {} of data (its data is from {}, the outage began at {}), more than {limit_name}; it is {} old now. An approver may accept that and restore it; otherwise the run stops here, before DNS moves.",
        backup.location,
        format_elapsed(loss.window),
        stamp(backup.data_at()),
        stamp(loss.outage_start),
        format_elapsed(loss.age)
    );
    let key = Answers::key(input.run.as_str(), &input.step.id);
    let answer = env.answers.ask_approver(key.clone());
    let message = Message {
        pings: Box::default(),
        content: format!(
            "⚠️ {question} — run {}, step `{}`",
            input.run, input.step.id
        ),
        embeds: Vec::new(),
        buttons: vec![
            Button {
                custom_id: Action::Confirm {
                    run: input.run.to_string(),
                    step: input.step.id.clone(),
                    yes: true,
                }
                .to_custom_id(),
                label: "Accept more data loss".into(),
                style: ButtonStyle::Danger,
            },
            Button {
                custom_id: Action::Confirm {
                    run: input.run.to_string(),
                    step: input.step.id.clone(),
                    yes: false,
                }
                .to_custom_id(),
                label: "Stop the run".into(),
                style: ButtonStyle::Secondary,
            },
        ],
    };
    let refused = || {
        StepError::invalid(format!(
            "backup {} would lose {} of data before the outage, more than {limit_name} ({} old now): the run stops before DNS moves (an approver may accept more data loss when the step is retried)",
            backup.location,
            format_elapsed(loss.window),
            format_elapsed(loss.age)
        ))
    };
    if let Err(err) = env.chat.post(&env.channel, &message).await {
        warn!(error = %err, "cannot ask to accept more data loss");
        return Err(refused());
    }
    let Ok(Answered { answer, actor }) = answer.await else {
        return Err(refused());
    };
    if !answer.yes {
        return Err(StepError::invalid(format!(
            "{} (refused by {})",
            refused().message,
            answer.by
        )));
    }
    if let Some(store) = &env.comms.store {
        // The approver who answered is the actor; the bot only when the answer came without
        // a person (never through chat).
        let mut event = NewEvent::of(
            actor.unwrap_or(Actor::Bot),
            crate::events::DbDataLossAccepted {
                step: input.step.id.clone(),
                by: answer.by.clone(),
                backup: backup.key.clone(),
                location: backup.location.clone(),
                age_secs: loss.age.as_secs(),
                window_secs: Some(loss.window.as_secs()),
                outage_start: Some(stamp(loss.outage_start)),
                limit: limit_name.to_owned(),
                question,
            },
        )
        .run(input.run.clone());
        if let Some(incident) = input.incident {
            event = event.incident(incident.clone());
        }
        if let Err(err) = store.append(event) {
            // Without the record the acceptance does not count.
            return Err(StepError::retryable(format!(
                "the acceptance could not be recorded: {err}"
            )));
        }
    }
    info!(by = %answer.by, "more data loss accepted");
    Ok(answer.by)
}

/// The outage start the window is measured from: the incident's first signal (or its
/// declaration), else the run's start.
fn outage_start(env: &StepEnv, input: &StepInput<'_>) -> DateTime<Utc> {
    let Some(store) = &env.comms.store else {
        return Utc::now();
    };
    // The incident's history through the indexes: the signals before a declaration carry no
    // incident id, the provider index finds them.
    if let Some(incident) = input.incident
        && let Ok(log) = crate::views::incident_log(store.as_ref(), incident)
        && let Some(at) = crate::incident::outage_start(&log, incident)
    {
        return at;
    }
    store
        .by_run(input.run)
        .ok()
        .and_then(|events| events.first().map(|e| e.at))
        .unwrap_or_else(Utc::now)
}

/// Where the data in `target` came from in this run: a copy from a side, or a backup.
enum Origin {
    Copy(Side),
    Backup(String),
    Unknown,
}

fn origin(input: &StepInput<'_>, target: Side) -> Origin {
    // Outputs are keyed by step id: the one that finished last (`at`) decides.
    let mut latest: Option<(&str, Origin)> = None;
    for out in input.earlier.values() {
        let at = out["at"].as_str().unwrap_or_default();
        let found = if out["copied"] == true && out["to"] == side_name(target) {
            Origin::Copy(if out["from"] == "primary" {
                Side::Primary
            } else {
                Side::Standby
            })
        } else if out["to"] == side_name(target)
            && out["duration_ms"].is_u64()
            && let Some(key) = out["backup"].as_str()
        {
            Origin::Backup(key.to_owned())
        } else {
            continue;
        };
        if latest.as_ref().is_none_or(|(t, _)| at >= *t) {
            latest = Some((at, found));
        }
    }
    latest.map_or(Origin::Unknown, |(_, o)| o)
}

/// When a step finished, sortable (milliseconds), for [`origin`].
fn finished_now() -> Value {
    json!(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// `db_verify`.
#[instrument(skip_all, fields(run = %input.run, step = %input.step.id))]
pub async fn verify(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &DbVerify,
) -> Result<StepOutput, StepError> {
    let db = &env.data.db;
    let on = db.describe(args.on);
    if db.simulated() {
        return Ok(StepOutput::new(
            "simulated: no database to count (no [data] in the config); the data-loss window is not measured",
            json!({ "simulated": true, "measured": false }),
        ));
    }
    let tables = tables(env);
    if tables.is_empty() {
        return Err(StepError::invalid(
            "[data] lists no tables: add each table with its freshness column to verify the data",
        ));
    }
    let limit = within_step(input.step.timeout.get());
    let restored = db
        .table_stats(args.on, tables, limit)
        .await
        .map_err(failed)?;
    let newest = newest_row(&restored);
    let (against, expected, window) = match origin(input, args.on) {
        Origin::Copy(source) => {
            let theirs = db
                .table_stats(source, tables, limit)
                .await
                .map_err(failed)?;
            let window = match (newest_row(&theirs), newest) {
                (Some(src), Some(got)) => loss_window(src, got),
                _ => Duration::ZERO,
            };
            let expected = theirs
                .iter()
                .map(|t| (t.table.clone(), Some(t.rows)))
                .collect();
            (format!("the {}", side_name(source)), expected, window)
        }
        Origin::Backup(key) => {
            let backup = env.data.backups.get(&key).await.map_err(failed)?;
            let expected: Vec<(String, Option<u64>)> = match &backup.manifest {
                Some(m) => m
                    .tables
                    .iter()
                    .map(|t| (t.table.clone(), Some(t.rows)))
                    .collect(),
                None => {
                    let local = env.data.backups.fetch(&backup).await.map_err(failed)?;
                    db.dump_contents(&local.path, tables, limit)
                        .await
                        .map_err(failed)?
                        .tables
                }
            };
            let start = outage_start(env, input);
            let window = newest.map_or(Duration::ZERO, |n| loss_window(start, n));
            (format!("backup {}", backup.location), expected, window)
        }
        Origin::Unknown => {
            let start = outage_start(env, input);
            let window = newest.map_or(Duration::ZERO, |n| loss_window(start, n));
            (
                "nothing (no copy or restore earlier in this run)".to_owned(),
                Vec::new(),
                window,
            )
        }
    };
    let wanted: Vec<(String, Option<u64>)> = expected
        .into_iter()
        .filter(|(t, _)| restored.iter().any(|r| &r.table == t))
        .collect();
    let problems = row_mismatches(&wanted, &restored);
    let per_table: Vec<Value> = restored
        .iter()
        .map(|r| {
            let want = wanted.iter().find(|(t, _)| t == &r.table).and_then(|(_, n)| *n);
            json!({ "table": r.table, "rows": r.rows, "expected": want, "newest": r.newest.map(stamp) })
        })
        .collect();
    let mut data = json!({
        "on": side_name(args.on), "against": against, "tables": per_table,
        "newest_row": newest.map(stamp), "data_loss_secs": window.as_secs(),
        "measured": true,
    });
    if !problems.is_empty() {
        data["measured"] = json!(false);
        return Err(StepError::invalid(format!(
            "{on} does not hold what {against} does: {}",
            problems.join("; ")
        ))
        .with_data(data));
    }
    let counts: Vec<String> = restored
        .iter()
        .map(|r| format!("{} {}", r.table, r.rows))
        .collect();
    Ok(StepOutput::new(
        format!(
            "{on}: {} rows as in {against}; newest row {}; data-loss window {}",
            counts.join(", "),
            newest.map_or_else(|| "none".to_owned(), stamp),
            format_elapsed(window)
        ),
        data,
    ))
}

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
    let mut data = json!({
        "source": "store", "from": store.location(), "backup": newest.key,
        "completed_at": stamp(newest.completed_at), "max_age_secs": rpo.get().as_secs(),
        "simulated": env.data.simulated(),
    });
    match freshness(newest.data_at(), Utc::now(), rpo.get()) {
        Freshness::Fresh { age } => {
            data["age_secs"] = json!(age.as_secs());
            Ok(StepOutput::new(
                format!(
                    "newest backup {} completed at {}, {} ago (within the RPO of {rpo})",
                    newest.location,
                    stamp(newest.completed_at),
                    format_elapsed(age)
                ),
                data,
            ))
        }
        Freshness::TooOld { age } => {
            data["age_secs"] = json!(age.as_secs());
            Err(StepError::invalid(format!(
                "newest backup {} is {} old, older than the RPO of {rpo}",
                newest.location,
                format_elapsed(age)
            ))
            .with_data(data))
        }
        Freshness::InFuture { by } => Err(StepError::invalid(format!(
            "newest backup {} claims to complete {} from now: check the clock of the host that took it",
            newest.location,
            format_elapsed(by)
        ))),
    }
}

pub async fn plan_copy(env: &StepEnv, args: &DbCopy) -> Result<Vec<String>, StepError> {
    let db = &env.data.db;
    let answers = db.probe(args.from, connect_timeout(env)).await;
    Ok(vec![match answers {
        Ok(took) => format!(
            "copy {} into {} (it answers now, in {})",
            db.describe(args.from),
            db.describe(args.to),
            format_elapsed(took)
        ),
        Err(err) => format!(
            "copy {} into {}: it does not answer now ({err}){}",
            db.describe(args.from),
            db.describe(args.to),
            if args.if_unreachable == IfUnreachable::Continue {
                ", so the run would go on to the backup path"
            } else {
                ", so the step would fail"
            }
        ),
    }])
}

pub async fn plan_restore(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &DbRestore,
) -> Result<Vec<String>, StepError> {
    let limit = args.max_age.unwrap_or(env.config.objectives.rpo);
    let target = env.data.db.describe(args.to);
    Ok(vec![match pick(env, input, args).await {
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

pub fn plan_verify(env: &StepEnv, args: &DbVerify) -> Vec<String> {
    let names: Vec<&str> = tables(env).iter().map(|t| t.name.as_str()).collect();
    vec![format!(
        "count {} on {} and measure the data-loss window",
        if names.is_empty() {
            "(no tables configured)".to_owned()
        } else {
            names.join(", ")
        },
        env.data.db.describe(args.on)
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken_at(at: DateTime<Utc>) -> BackupInfo {
        BackupInfo {
            key: "k".into(),
            location: "s3://b/k".into(),
            completed_at: at,
            size: 1,
            manifest: None,
        }
    }

    #[test]
    fn the_rpo_is_held_against_the_loss_before_the_outage_not_the_age_now() {
        let outage: DateTime<Utc> = "2026-11-25T10:00:00Z".parse().unwrap();
        let now = outage + chrono::Duration::hours(2);
        let hour = Duration::from_secs(3600);
        // Taken 20 min before the outage, restored 2 h into it: 2h 20m old, 20 min lost.
        let loss = judge_loss(
            &taken_at(outage - chrono::Duration::minutes(20)),
            outage,
            now,
            hour,
        )
        .unwrap();
        assert_eq!(loss.age, Duration::from_secs(140 * 60));
        assert_eq!(loss.window, Duration::from_secs(20 * 60));
        assert!(!loss.too_much);
        let loss = judge_loss(
            &taken_at(outage - chrono::Duration::minutes(90)),
            outage,
            now,
            hour,
        )
        .unwrap();
        assert_eq!(loss.window, Duration::from_secs(90 * 60));
        assert!(loss.too_much);
        // A backup taken after the outage began loses nothing it held.
        let after = judge_loss(
            &taken_at(outage + chrono::Duration::minutes(5)),
            outage,
            now,
            hour,
        )
        .unwrap();
        assert_eq!(after.window, Duration::ZERO);
        assert!(
            judge_loss(
                &taken_at(now + chrono::Duration::hours(1)),
                outage,
                now,
                hour
            )
            .is_err(),
            "from the future"
        );
    }

    #[test]
    fn rows_back_are_per_table_deltas() {
        let t = |rows| TableStats {
            table: "public.orders".into(),
            rows,
            newest: None,
        };
        assert_eq!(
            rows_back(&[t(10_000)], &[t(10_250)]),
            ["public.orders +250 (10250 rows)"]
        );
        assert_eq!(rows_back(&[], &[t(3)]), ["public.orders +3 (3 rows)"]);
    }
}
