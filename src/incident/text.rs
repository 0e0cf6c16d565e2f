//! What `/incident status`, `/dr status` and the checkpoint messages say about an incident.

use super::*;
use crate::config::Config;
use crate::duration::format_elapsed;
use crate::runbook::Runbook;
use crate::runbook::state::RunStatus;
use chrono::{DateTime, Utc};
use std::time::Duration;
/// What `/incident status` and `/dr status` show for one incident.
pub fn status_text(
    incident: &IncidentView,
    config: &Config,
    runbooks: &[Runbook],
    history: &StepHistory,
    now: DateTime<Utc>,
) -> String {
    let mut out = format!(
        "{}{}: {} — {}, {}, commander {}\n",
        incident.id,
        if incident.drill { " [DRILL]" } else { "" },
        incident.title,
        incident.phase,
        incident.severity,
        incident.commander.as_deref().unwrap_or("none named"),
    );
    let workstreams: Vec<&str> = incident.workstreams.iter().map(|w| w.as_str()).collect();
    out.push_str(&format!(
        "workstreams: {}\n",
        if workstreams.is_empty() {
            "none yet".to_owned()
        } else {
            workstreams.join(", ")
        }
    ));
    for run in &incident.runs {
        out.push_str(&format!(
            "run {} ({}): {}\n",
            run.run,
            run.runbook,
            run_state(&run.status)
        ));
    }
    let clocks = clocks(incident, &config.objectives);
    for clock in &clocks {
        out.push_str(&format!("clock {}", clock.describe(now)));
        if let Some(f) = clock_forecast(incident, clock, config, runbooks, history, now) {
            out.push_str(&format!("; {}", f.text()));
        }
        out.push('\n');
    }
    if let Some(age) = incident.achieved_rpo_secs {
        let rpo = config.objectives.rpo.get();
        let age = Duration::from_secs(age);
        out.push_str(&format!(
            "RPO: backup {} old at restore, objective {} ({})\n",
            format_elapsed(age),
            format_elapsed(rpo),
            if age <= rpo { "met" } else { "MISSED" }
        ));
    }
    out
}

/// A run's status in a word or two.
pub fn run_state(status: &RunStatus) -> String {
    match status {
        RunStatus::Running => "running".to_owned(),
        RunStatus::Paused { step, reason } => format!("PAUSED at {step}: {reason}"),
        RunStatus::Succeeded => "succeeded".to_owned(),
        RunStatus::Failed { step, .. } => format!("failed at {step}"),
        RunStatus::Aborted { .. } => "aborted".to_owned(),
        RunStatus::Cancelled => "cancelled".to_owned(),
    }
}

/// The message a checkpoint posts: the highest newly reached percent, with the forecast.
pub fn checkpoint_text(
    incident: &IncidentView,
    clock: &RtoClock,
    percent: u8,
    forecast: Option<&Forecast>,
    now: DateTime<Utc>,
) -> String {
    let since = if clock.from_signal {
        "the first signal"
    } else {
        "the declaration"
    };
    // Whole seconds: a wake-up a millisecond late must not read as a minute less left.
    let elapsed = Duration::from_secs(clock.elapsed(now).as_secs());
    let head = if percent >= 100 {
        format!(
            "⏰ {}: the {} RTO budget of {} is spent — {} since {since} and not recovered.",
            incident.id,
            clock.workstream,
            format_elapsed(clock.budget),
            format_elapsed(elapsed)
        )
    } else {
        format!(
            "⏱ {}: {} RTO clock at {percent}% — {} of {} since {since}, {} left.",
            incident.id,
            clock.workstream,
            format_elapsed(elapsed),
            format_elapsed(clock.budget),
            format_elapsed(clock.budget.saturating_sub(elapsed))
        )
    };
    match forecast {
        Some(f) => format!("{head}\n{}", f.text()),
        None => head,
    }
}
