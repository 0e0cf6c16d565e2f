//! The forecast: how long the remaining steps are expected to take, from recent runs, and
//! whether they fit in what is left of a clock's budget.

use super::fold::IncidentView;
use super::rto::{RtoClock, non_negative};
use crate::config::Config;
use crate::domain::Workstream;
use crate::duration::format_elapsed;
use crate::runbook::Runbook;
use crate::runbook::state::RunView;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;
// ---------------------------------------------------------------------------------------------
// Forecast

/// How long each step took recently, per (runbook, step), from every run in the log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepHistory {
    durations: BTreeMap<StepKey, Vec<Duration>>,
}

/// (runbook, step id).
type StepKey = (String, String);

/// How many recent runs of a step the estimate averages.
pub const RECENT: usize = 3;

impl StepHistory {
    /// Succeeded steps of every run, oldest first.
    pub fn from_runs(runs: &[RunView]) -> Self {
        let mut durations: BTreeMap<StepKey, Vec<(DateTime<Utc>, Duration)>> = BTreeMap::new();
        for run in runs {
            for (step, t) in &run.timings {
                if !run.outputs.contains_key(step) {
                    continue;
                }
                if let Some(end) = t.ended_at {
                    durations
                        .entry((run.runbook.clone(), step.clone()))
                        .or_default()
                        .push((t.started_at, non_negative(end - t.started_at)));
                }
            }
        }
        Self {
            durations: durations
                .into_iter()
                .map(|(k, mut v)| {
                    v.sort_by_key(|(at, _)| *at);
                    (k, v.into_iter().map(|(_, d)| d).collect())
                })
                .collect(),
        }
    }

    /// The mean of the last few durations of a step, and how many it averaged.
    pub fn recent(&self, runbook: &str, step: &str) -> Option<(Duration, usize)> {
        let all = self.durations.get(&(runbook.to_owned(), step.to_owned()))?;
        let last = &all[all.len().saturating_sub(RECENT)..];
        let n = u32::try_from(last.len()).ok().filter(|n| *n > 0)?;
        Some((last.iter().sum::<Duration>() / n, last.len()))
    }
}

/// What a step's expected duration is based on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstimateBasis {
    /// The mean of this many recent runs.
    Recent(usize),
    /// Never run: its timeout, the longest it may take.
    Timeout,
}

/// One step still to run and how long it is expected to take from now.
#[derive(Debug, Clone, PartialEq)]
pub struct StepEstimate {
    pub step: String,
    pub expected: Duration,
    pub basis: EstimateBasis,
}

/// The steps of `runbook` that `run` has not finished, with their expected remaining time.
/// Without a run, every step remains. A step in flight counts what is left of its estimate.
pub fn remaining_steps(
    runbook: &Runbook,
    run: Option<&RunView>,
    history: &StepHistory,
    now: DateTime<Utc>,
) -> Vec<StepEstimate> {
    runbook
        .steps
        .iter()
        .filter(|s| run.is_none_or(|r| !r.finished.contains(&s.id)))
        .map(|s| {
            let (full, basis) = match history.recent(&runbook.name, &s.id) {
                Some((d, n)) => (d, EstimateBasis::Recent(n)),
                None => (s.timeout.get(), EstimateBasis::Timeout),
            };
            let spent = run
                .filter(|r| r.in_flight.as_deref() == Some(s.id.as_str()))
                .and_then(|r| r.timings.get(&s.id))
                .map_or(Duration::ZERO, |t| non_negative(now - t.started_at));
            StepEstimate {
                step: s.id.clone(),
                expected: full.saturating_sub(spent),
                basis,
            }
        })
        .collect()
}

/// Whether the remaining steps fit in what is left of the budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub elapsed: Duration,
    pub budget: Duration,
    /// Expected time for the remaining steps.
    pub remaining: Duration,
    pub steps_left: usize,
    /// Of those, how many are estimated from their timeouts (never run before).
    pub from_timeouts: usize,
}

impl Forecast {
    pub fn expected_total(&self) -> Duration {
        self.elapsed + self.remaining
    }

    pub fn fits(&self) -> bool {
        self.expected_total() <= self.budget
    }

    /// One line for people.
    pub fn text(&self) -> String {
        let basis = if self.from_timeouts == 0 {
            String::new()
        } else {
            format!(
                "; {} of them never ran, counted at their timeouts",
                self.from_timeouts
            )
        };
        let verdict = if self.steps_left == 0 {
            return "forecast: no steps left".to_owned();
        } else if self.fits() {
            format!(
                "fits, {} to spare",
                format_elapsed(self.budget - self.expected_total())
            )
        } else {
            format!(
                "does NOT fit: {} over the budget",
                format_elapsed(self.expected_total() - self.budget)
            )
        };
        format!(
            "forecast: {verdict} ({} step{} left, about {}, done at {} of {}{basis})",
            self.steps_left,
            if self.steps_left == 1 { "" } else { "s" },
            format_elapsed(self.remaining),
            format_elapsed(self.expected_total()),
            format_elapsed(self.budget),
        )
    }
}

pub fn forecast(clock: &RtoClock, now: DateTime<Utc>, remaining: &[StepEstimate]) -> Forecast {
    Forecast {
        elapsed: clock.elapsed(now),
        budget: clock.budget,
        remaining: remaining.iter().map(|s| s.expected).sum(),
        steps_left: remaining.len(),
        from_timeouts: remaining
            .iter()
            .filter(|s| s.basis == EstimateBasis::Timeout)
            .count(),
    }
}

/// The runbook a workstream's clock is forecast against: its run's runbook, else the runbook
/// mapped to an involved provider of that workstream, else the first runbook for it.
pub fn runbook_for<'a>(
    incident: &IncidentView,
    workstream: Workstream,
    config: &Config,
    runbooks: &'a [Runbook],
) -> Option<&'a Runbook> {
    let by_name = |name: &str| runbooks.iter().find(|r| r.name == name);
    if let Some(run) = incident.run_for(workstream) {
        return by_name(&run.runbook);
    }
    let mapped = |involved: bool| {
        config
            .providers
            .iter()
            .filter(|p| p.workstream == workstream)
            .filter(|p| !involved || incident.providers.contains(&p.name))
            .find_map(|p| p.runbook.as_deref().and_then(by_name))
    };
    mapped(true)
        .or_else(|| mapped(false))
        .or_else(|| runbooks.iter().find(|r| r.workstream == workstream))
}

/// The forecast of one clock (none once it stopped or without a runbook to forecast).
pub fn clock_forecast(
    incident: &IncidentView,
    clock: &RtoClock,
    config: &Config,
    runbooks: &[Runbook],
    history: &StepHistory,
    now: DateTime<Utc>,
) -> Option<Forecast> {
    if clock.stopped_at.is_some() {
        return None;
    }
    let runbook = runbook_for(incident, clock.workstream, config, runbooks)?;
    let run = incident
        .run_for(clock.workstream)
        .filter(|r| r.runbook == runbook.name && !r.status.is_terminal());
    let steps = remaining_steps(runbook, run, history, now);
    Some(forecast(clock, now, &steps))
}
