//! The objectives table: each workstream's RTO and the RPO, met, missed or not measured.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::{RunSummary, Summary};
use crate::config::Objectives;
use crate::domain::Workstream;
use crate::duration::HumanDuration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectiveOutcome {
    Met,
    Missed,
    /// No objective, or nothing to measure.
    NotMeasured,
}

impl ObjectiveOutcome {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ObjectiveOutcome::Met => "met",
            ObjectiveOutcome::Missed => "MISSED",
            ObjectiveOutcome::NotMeasured => "not measured",
        }
    }
}

/// One line of the objectives table.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectiveRow {
    /// e.g. `RTO hosting`, `RPO`.
    pub name: String,
    pub target: Option<Duration>,
    pub achieved: Option<Duration>,
    /// Why nothing was achieved (e.g. the run failed), when `achieved` is `None`.
    pub note: Option<String>,
    pub verdict: ObjectiveOutcome,
}

/// RTO per workstream (a run that did not succeed misses it) and the RPO from the backup age.
pub fn objective_rows(summary: &Summary, objectives: &Objectives) -> Vec<ObjectiveRow> {
    let mut rows = Vec::new();
    let mut by_workstream: BTreeMap<Workstream, &RunSummary> = BTreeMap::new();
    for run in &summary.runs {
        if let Some(ws) = run.workstream {
            // A later run of the same workstream (a retry) is the one that counts.
            by_workstream.insert(ws, run);
        }
    }
    // Measured from where the RTO clocks start (`[objectives] clock_start`), as the status
    // views measure it; `achieved_rto_ms` counts from the first signal.
    let shift_ms = match (objectives.clock_start, summary.declared_at) {
        (crate::config::ClockStart::Declaration, Some(declared)) => summary
            .origin(None)
            .map_or(0, |origin| (declared - origin).num_milliseconds()),
        _ => 0,
    };
    for (ws, run) in by_workstream {
        let target = objectives.rto_for(ws).map(HumanDuration::get);
        let achieved = run
            .achieved_rto_ms
            .map(|ms| Duration::from_millis((ms - shift_ms).max(0) as u64));
        let (verdict, note) = match (target, achieved) {
            (None, _) => (
                ObjectiveOutcome::NotMeasured,
                Some("no objective set".to_owned()),
            ),
            (Some(t), Some(a)) => (
                if a <= t {
                    ObjectiveOutcome::Met
                } else {
                    ObjectiveOutcome::Missed
                },
                None,
            ),
            (Some(_), None) => (
                ObjectiveOutcome::Missed,
                Some(format!("not recovered (run {})", run.status)),
            ),
        };
        rows.push(ObjectiveRow {
            name: format!("RTO {ws}"),
            target,
            achieved,
            note,
            verdict,
        });
    }
    let rpo = objectives.rpo.get();
    let age = summary
        .runs
        .iter()
        .find_map(|r| r.achieved_rpo_secs)
        .map(Duration::from_secs);
    rows.push(ObjectiveRow {
        name: "RPO".to_owned(),
        target: Some(rpo),
        achieved: age,
        note: age
            .is_none()
            .then(|| "no window measured: no real database restored, no backup checked".to_owned()),
        verdict: match age {
            Some(a) if a <= rpo => ObjectiveOutcome::Met,
            Some(_) => ObjectiveOutcome::Missed,
            None => ObjectiveOutcome::NotMeasured,
        },
    });
    rows
}
