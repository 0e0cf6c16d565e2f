//! `db_copy`: one database streamed into the other while the source still answers (nothing
//! lost), or, when it does not, the run sent on to the backup path; and its dry run.

use tracing::{info, instrument, warn};

use super::{connect_timeout, failed, finished_now, tables, to_data};
use crate::duration::format_elapsed;
use crate::events::{DbCopyOutput, TableRows};
use crate::ports::data::{TableStats, stamp};
use crate::runbook::{DbCopy, IfUnreachable};
use crate::steps::http::within_step;
use crate::steps::{StepEnv, StepError, StepInput, StepOutput};

/// What the target's tables held, as the output records them.
fn table_rows(stats: &[TableStats]) -> Vec<TableRows> {
    stats
        .iter()
        .map(|s| TableRows {
            table: s.table.clone(),
            rows: s.rows,
            newest: s.newest.map(stamp),
        })
        .collect()
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
    let mut output = DbCopyOutput {
        from: Some(args.from),
        to: Some(args.to),
        copied: false,
        simulated: db.simulated(),
        ..DbCopyOutput::default()
    };
    let go_on = args.if_unreachable == IfUnreachable::Continue;
    if let Err(err) = db.probe(args.from, connect_timeout(env)).await {
        output.reason = Some(err.to_string());
        if go_on {
            info!(error = %err, "source does not answer: backup path");
            return Ok(StepOutput::new(
                format!("{from} does not answer ({err}): going on to the backup path"),
                to_data(&output),
            ));
        }
        return Err(StepError::invalid(format!(
            "{from} does not answer, so nothing was copied: {err}"
        ))
        .with_data(to_data(&output)));
    }
    let limit = within_step(input.step.timeout.get());
    let before = db
        .table_stats(args.to, tables(env), limit)
        .await
        .unwrap_or_default();
    let started = std::time::Instant::now();
    if let Err(err) = db.copy(args.from, args.to, limit).await {
        warn!(error = %err, "copy failed");
        output.reason = Some(err.to_string());
        output.target_state = Some("needs a clean restore".to_owned());
        if go_on {
            return Ok(StepOutput::new(
                format!(
                    "copying {from} into {to} failed ({err}): going on to the backup path, which restores {to} from clean"
                ),
                to_data(&output),
            ));
        }
        return Err(StepError::invalid(format!(
            "copying {from} into {to} failed: {err}; {to} is half copied: retry to copy it again from clean"
        ))
        .with_data(to_data(&output)));
    }
    let took = started.elapsed();
    let after = db
        .table_stats(args.to, tables(env), limit)
        .await
        .map_err(failed)?;
    let back = rows_back(&before, &after);
    output.copied = true;
    output.at = Some(finished_now());
    output.duration_ms = Some(took.as_millis() as u64);
    output.before = Some(table_rows(&before));
    output.after = Some(table_rows(&after));
    // The source answered and was copied whole: nothing written before the copy is lost.
    output.data_loss_secs = Some(0);
    output.measured = Some(!db.simulated());
    let rows = if back.is_empty() {
        String::new()
    } else {
        format!("; rows per table: {}", back.join(", "))
    };
    Ok(StepOutput::new(
        format!("copied {from} into {to} in {}{rows}", format_elapsed(took)),
        to_data(&output),
    ))
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::runbook::Side;

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

    #[test]
    fn the_output_holds_the_keys_the_untyped_step_wrote() {
        let refused = DbCopyOutput {
            from: Some(Side::Primary),
            to: Some(Side::Standby),
            simulated: false,
            reason: Some("down".into()),
            target_state: Some("needs a clean restore".into()),
            ..DbCopyOutput::default()
        };
        assert_eq!(
            to_data(&refused),
            json!({
                "from": "primary", "to": "standby", "copied": false, "simulated": false,
                "reason": "down", "target_state": "needs a clean restore",
            })
        );
        let at = "2026-11-25T10:00:00Z".parse().unwrap();
        let stats = [TableStats {
            table: "public.orders".into(),
            rows: 3,
            newest: Some(at),
        }];
        let copied = DbCopyOutput {
            from: Some(Side::Primary),
            to: Some(Side::Standby),
            copied: true,
            simulated: false,
            at: Some("2026-11-25T10:00:01.500Z".into()),
            duration_ms: Some(1500),
            before: Some(Vec::new()),
            after: Some(table_rows(&stats)),
            data_loss_secs: Some(0),
            measured: Some(true),
            ..DbCopyOutput::default()
        };
        assert_eq!(
            to_data(&copied),
            json!({
                "from": "primary", "to": "standby", "copied": true, "simulated": false,
                "at": "2026-11-25T10:00:01.500Z", "duration_ms": 1500u64,
                "before": [],
                "after": [{ "table": "public.orders", "rows": 3, "newest": "2026-11-25T10:00:00Z" }],
                "data_loss_secs": 0, "measured": true,
            })
        );
        assert_eq!(
            to_data(&table_rows(&[TableStats {
                table: "t".into(),
                rows: 0,
                newest: None
            }])),
            json!([{ "table": "t", "rows": 0, "newest": null }])
        );
    }
}
