//! RTO clocks: one per affected workstream with an objective, and the checkpoints they post.

use super::fold::IncidentView;
use crate::config::{ClockStart, Objectives};
use crate::domain::{RunId, Workstream};
use crate::duration::format_elapsed;
use crate::runbook::state::RunStatus;
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use std::time::Duration;
// ---------------------------------------------------------------------------------------------
// RTO clocks

/// The budget fractions at which a checkpoint is posted.
pub const CHECKPOINTS: [u8; 4] = [50, 75, 90, 100];

/// One workstream's recovery-time clock.
#[derive(Debug, Clone, PartialEq)]
pub struct RtoClock {
    pub workstream: Workstream,
    pub started_at: DateTime<Utc>,
    pub budget: Duration,
    /// When the clock stopped: its run succeeded, or the incident was resolved without it.
    pub stopped_at: Option<DateTime<Utc>>,
    /// The clock stopped because the workstream recovered (so `stopped_at` is the achieved RTO).
    pub recovered: bool,
    /// The workstream's latest run, if one started.
    pub run: Option<RunId>,
    /// Started at the first signal (else at the declaration).
    pub from_signal: bool,
}

pub(super) fn non_negative(d: chrono::Duration) -> Duration {
    d.to_std().unwrap_or_default()
}

impl RtoClock {
    /// Time on the clock at `now` (frozen once stopped).
    pub fn elapsed(&self, now: DateTime<Utc>) -> Duration {
        non_negative(self.stopped_at.unwrap_or(now) - self.started_at)
    }

    /// Elapsed time as a whole percentage of the budget (may exceed 100).
    pub fn percent(&self, now: DateTime<Utc>) -> u64 {
        let budget = self.budget.as_millis().max(1);
        (self.elapsed(now).as_millis() * 100 / budget) as u64
    }

    /// The achieved RTO, once the workstream recovered.
    pub fn achieved(&self) -> Option<Duration> {
        self.stopped_at
            .filter(|_| self.recovered)
            .map(|at| non_negative(at - self.started_at))
    }

    /// When the clock reaches `percent` of its budget.
    pub fn at_percent(&self, percent: u8) -> DateTime<Utc> {
        let ms = self.budget.as_millis() * u128::from(percent) / 100;
        self.started_at + chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    /// Checkpoints reached by `now` and not yet posted; none once the clock stopped.
    pub fn due_checkpoints(&self, now: DateTime<Utc>, posted: &BTreeSet<u8>) -> Vec<u8> {
        if self.stopped_at.is_some() {
            return Vec::new();
        }
        CHECKPOINTS
            .into_iter()
            .filter(|p| !posted.contains(p) && self.at_percent(*p) <= now)
            .collect()
    }

    /// The next checkpoint still to come, for sleeping until exactly then.
    pub fn next_checkpoint(&self, posted: &BTreeSet<u8>) -> Option<DateTime<Utc>> {
        if self.stopped_at.is_some() {
            return None;
        }
        CHECKPOINTS
            .into_iter()
            .filter(|p| !posted.contains(p))
            .map(|p| self.at_percent(p))
            .min()
    }

    /// `1h 02m / 4h (26%)`, with `recovered in` or `stopped` once it stopped.
    pub fn describe(&self, now: DateTime<Utc>) -> String {
        let state = match (self.stopped_at, self.recovered) {
            (Some(_), true) => {
                let met = self.elapsed(now) <= self.budget;
                format!(", recovered — RTO {}", if met { "met" } else { "MISSED" })
            }
            (Some(_), false) => ", stopped (resolved without recovery)".to_owned(),
            (None, _) => String::new(),
        };
        format!(
            "{}: {} / {} ({}%){state}",
            self.workstream,
            format_elapsed(self.elapsed(now)),
            format_elapsed(self.budget),
            self.percent(now)
        )
    }
}

/// One clock per affected workstream that has an objective.
pub fn clocks(incident: &IncidentView, objectives: &Objectives) -> Vec<RtoClock> {
    let declared = incident.declared_at;
    let signal = incident.first_signal.as_ref().map(|s| s.at);
    let (start, from_signal) = match (objectives.clock_start, signal) {
        (ClockStart::FirstSignal, Some(at)) => (Some(at), true),
        _ => (declared, false),
    };
    let Some(started_at) = start else {
        return Vec::new();
    };
    incident
        .workstreams
        .iter()
        .filter_map(|ws| {
            let budget = objectives.rto_for(*ws)?.get();
            let run = incident.run_for(*ws);
            let succeeded = run.filter(|r| r.status == RunStatus::Succeeded);
            let (stopped_at, recovered) = match succeeded {
                Some(r) => (r.ended_at, true),
                None => (incident.resolved_at, false),
            };
            Some(RtoClock {
                workstream: *ws,
                started_at,
                budget,
                stopped_at,
                recovered: recovered && stopped_at.is_some(),
                run: run.map(|r| r.run.clone()),
                from_signal,
            })
        })
        .collect()
}

/// Per workstream, the checkpoints already posted.
pub fn posted(incident: &IncidentView, workstream: Workstream) -> BTreeSet<u8> {
    incident
        .checkpoints
        .iter()
        .filter(|(ws, _)| *ws == workstream)
        .map(|(_, p)| *p)
        .collect()
}
