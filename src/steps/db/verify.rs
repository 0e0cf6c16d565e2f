//! `db_verify`: counts the configured tables against what filled the database in this run (a
//! copy's source, a backup's manifest or contents) and measures the data-loss window; and its
//! dry run.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use tracing::instrument;

use super::loss::outage_start;
use super::{failed, side_name, tables, to_data};
use crate::config::TableConfig;
use crate::duration::format_elapsed;
use crate::events::{
    DbCopyOutput, DbRestoreOutput, DbVerifyOutput, DbVerifySimulated, VerifiedTable, read_output,
};
use crate::ports::data::{Side, TableStats, loss_window, newest_row, row_mismatches, stamp};
use crate::runbook::DbVerify;
use crate::steps::http::within_step;
use crate::steps::{StepEnv, StepError, StepInput, StepOutput};

/// Where the data in `target` came from in this run: a copy from a side, or a backup.
#[derive(Debug, PartialEq, Eq)]
enum Origin {
    Copy(Side),
    Backup(String),
    Unknown,
}

/// What filled `target`, from the outputs of the earlier steps (by step id).
fn origin(earlier: &BTreeMap<String, Value>, target: Side) -> Origin {
    // Outputs are keyed by step id: the one that finished last (`at`) decides.
    let mut latest: Option<(String, Origin)> = None;
    for out in earlier.values() {
        let copy: DbCopyOutput = read_output(out);
        let restore: DbRestoreOutput = read_output(out);
        let (at, found) = if copy.copied && copy.to == Some(target) {
            (copy.at, Origin::Copy(copy.from.unwrap_or(Side::Standby)))
        } else if restore.to == Some(target)
            && restore.duration_ms.is_some()
            && !restore.backup.is_empty()
        {
            (restore.at, Origin::Backup(restore.backup))
        } else {
            continue;
        };
        let at = at.unwrap_or_default();
        if latest.as_ref().is_none_or(|(t, _)| at >= *t) {
            latest = Some((at, found));
        }
    }
    latest.map_or(Origin::Unknown, |(_, o)| o)
}

/// What the counted tables are held against: its name for people, the rows each table should
/// hold (`None`: unknown), and the data-loss window measured on the way.
struct Expected {
    against: String,
    rows: Vec<(String, Option<u64>)>,
    window: Duration,
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
            to_data(&DbVerifySimulated {
                simulated: true,
                measured: false,
            }),
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
    let Expected {
        against,
        rows: expected,
        window,
    } = expected(env, input, args.on, tables, &restored, limit).await?;
    let wanted: Vec<(String, Option<u64>)> = expected
        .into_iter()
        .filter(|(t, _)| restored.iter().any(|r| &r.table == t))
        .collect();
    let problems = row_mismatches(&wanted, &restored);
    let mut output = DbVerifyOutput {
        on: Some(args.on),
        against: against.clone(),
        tables: verified_tables(&restored, &wanted),
        newest_row: newest.map(stamp),
        data_loss_secs: window.as_secs(),
        measured: true,
    };
    if !problems.is_empty() {
        output.measured = false;
        return Err(StepError::invalid(format!(
            "{on} does not hold what {against} does: {}",
            problems.join("; ")
        ))
        .with_data(to_data(&output)));
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
        to_data(&output),
    ))
}

/// What `on` should hold, by what filled it in this run: a copy's source (counted now; the
/// window is the source's newest row − the newest copied), a backup (its manifest, else its
/// contents; the window runs to the outage start), or nothing known.
async fn expected(
    env: &StepEnv,
    input: &StepInput<'_>,
    on: Side,
    tables: &[TableConfig],
    restored: &[TableStats],
    limit: Duration,
) -> Result<Expected, StepError> {
    let db = &env.data.db;
    let newest = newest_row(restored);
    Ok(match origin(input.earlier, on) {
        Origin::Copy(source) => {
            let theirs = db
                .table_stats(source, tables, limit)
                .await
                .map_err(failed)?;
            let window = match (newest_row(&theirs), newest) {
                (Some(src), Some(got)) => loss_window(src, got),
                _ => Duration::ZERO,
            };
            let rows = theirs
                .iter()
                .map(|t| (t.table.clone(), Some(t.rows)))
                .collect();
            Expected {
                against: format!("the {}", side_name(source)),
                rows,
                window,
            }
        }
        Origin::Backup(key) => {
            let backup = env.data.backups.get(&key).await.map_err(failed)?;
            let rows: Vec<(String, Option<u64>)> = match &backup.manifest {
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
            Expected {
                against: format!("backup {}", backup.location),
                rows,
                window,
            }
        }
        Origin::Unknown => {
            let start = outage_start(env, input);
            let window = newest.map_or(Duration::ZERO, |n| loss_window(start, n));
            Expected {
                against: "nothing (no copy or restore earlier in this run)".to_owned(),
                rows: Vec::new(),
                window,
            }
        }
    })
}

/// Each counted table with the rows it should hold.
fn verified_tables(
    restored: &[TableStats],
    wanted: &[(String, Option<u64>)],
) -> Vec<VerifiedTable> {
    restored
        .iter()
        .map(|r| VerifiedTable {
            table: r.table.clone(),
            rows: r.rows,
            expected: wanted
                .iter()
                .find(|(t, _)| t == &r.table)
                .and_then(|(_, n)| *n),
            newest: r.newest.map(stamp),
        })
        .collect()
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
    use serde_json::json;

    use super::*;

    #[test]
    fn the_step_that_filled_the_target_last_decides_its_origin() {
        let mut earlier = BTreeMap::new();
        assert_eq!(origin(&earlier, Side::Standby), Origin::Unknown);
        earlier.insert(
            "restore".to_owned(),
            json!({ "backup": "k", "to": "standby", "duration_ms": 5, "at": "2026-11-25T10:00:00.000Z" }),
        );
        // A restore that did not run (no duration) filled nothing.
        earlier.insert(
            "restore-other".to_owned(),
            json!({ "backup": "j", "to": "standby" }),
        );
        assert_eq!(origin(&earlier, Side::Standby), Origin::Backup("k".into()));
        assert_eq!(origin(&earlier, Side::Primary), Origin::Unknown);
        earlier.insert(
            "copy".to_owned(),
            json!({ "from": "primary", "to": "standby", "copied": true, "at": "2026-11-25T10:00:01.000Z" }),
        );
        assert_eq!(origin(&earlier, Side::Standby), Origin::Copy(Side::Primary));
        // A copy that failed filled nothing.
        earlier.insert(
            "copy".to_owned(),
            json!({ "from": "primary", "to": "standby", "copied": false }),
        );
        assert_eq!(origin(&earlier, Side::Standby), Origin::Backup("k".into()));
    }

    #[test]
    fn the_output_holds_the_keys_the_untyped_step_wrote() {
        assert_eq!(
            to_data(&DbVerifySimulated {
                simulated: true,
                measured: false
            }),
            json!({ "simulated": true, "measured": false })
        );
        let at = "2026-11-25T09:30:00Z".parse().unwrap();
        let restored = [
            TableStats {
                table: "public.orders".into(),
                rows: 3,
                newest: Some(at),
            },
            TableStats {
                table: "public.empty".into(),
                rows: 0,
                newest: None,
            },
        ];
        let wanted = vec![("public.orders".to_owned(), Some(3))];
        let output = DbVerifyOutput {
            on: Some(Side::Standby),
            against: "backup s3://b/k".into(),
            tables: verified_tables(&restored, &wanted),
            newest_row: newest_row(&restored).map(stamp),
            data_loss_secs: 1800,
            measured: true,
        };
        assert_eq!(
            to_data(&output),
            json!({
                "on": "standby", "against": "backup s3://b/k",
                "tables": [
                    { "table": "public.orders", "rows": 3, "expected": 3, "newest": "2026-11-25T09:30:00Z" },
                    { "table": "public.empty", "rows": 0, "expected": null, "newest": null },
                ],
                "newest_row": "2026-11-25T09:30:00Z", "data_loss_secs": 1800u64, "measured": true,
            })
        );
    }
}
