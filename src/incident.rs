//! Incidents and their RTO clocks, as pure state folded from the event log: the lifecycle
//! (declared → mitigating → recovered → resolved → reviewed), severity, commander, affected
//! workstreams, notes, one RTO clock per workstream with its checkpoints, and the forecast of
//! whether the remaining steps fit in the budget. No I/O and no clock: `now` is passed in.
//!
//! An incident's events are those [`incident_events`] selects (its own, its runs',
//! the involved providers' feed and alert events), so the status views and the post-mortem
//! read the same history the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{ClockStart, Config, Objectives};
pub use crate::domain::Severity;
use crate::domain::event::Event;
use crate::domain::{Actor, IncidentId, RunId, Workstream};
use crate::duration::format_elapsed;
use crate::events::{
    BackupCheckOutput, ClockCheckpoint, DbWindowOutput, EventKind, IncidentDeclared, NoteAdded,
    Payload, RunRequested, StepSucceeded, read_output,
};
use crate::ports::store::{episode_mark, episode_starts};
use crate::runbook::state::{self, RunStatus, RunView};
use crate::runbook::{Runbook, StepKind};

/// Where an incident is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Declared; no runbook started yet.
    Declared,
    /// A runbook run was started for it.
    Mitigating,
    /// Every affected workstream's latest run succeeded (its verification passed).
    Recovered,
    /// Someone resolved it.
    Resolved,
    /// The post-incident review took place (only after it was resolved).
    Reviewed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Declared => "declared",
            Phase::Mitigating => "mitigating",
            Phase::Recovered => "recovered",
            Phase::Resolved => "resolved",
            Phase::Reviewed => "reviewed",
        }
    }

    /// Declared, mitigating or recovered: still open.
    pub fn is_open(self) -> bool {
        self < Phase::Resolved
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first sign of trouble.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signal {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub provider: Option<String>,
}

/// A note added with `/incident note`; `lesson` marks lessons learned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    pub at: DateTime<Utc>,
    pub by: String,
    pub text: String,
    pub lesson: bool,
}

/// One incident as its events tell it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentView {
    pub id: IncidentId,
    pub title: String,
    pub drill: bool,
    pub severity: Severity,
    pub commander: Option<String>,
    pub declared_at: Option<DateTime<Utc>>,
    pub declared_by: Option<String>,
    pub phase: Phase,
    /// Named at the declaration, plus those of the runs started for it.
    pub workstreams: BTreeSet<Workstream>,
    /// Providers whose feed or alert events belong to the incident.
    pub providers: BTreeSet<String>,
    /// Earliest `feed.degraded`, `feed.outage` or `alert.posted` of the incident's events.
    pub first_signal: Option<Signal>,
    /// The runs started for the incident, in order of start.
    pub runs: Vec<RunView>,
    pub recovered_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub reviewed_by: Option<String>,
    pub notes: Vec<Note>,
    /// RTO checkpoints already posted: (workstream, percent).
    pub checkpoints: BTreeSet<(Workstream, u8)>,
    /// The age of the backup a `backup_check` step of its runs found: the data-loss window.
    pub achieved_rpo_secs: Option<u64>,
}

impl IncidentView {
    /// The latest run of a workstream (a retry after a failure is the one that counts).
    pub fn run_for(&self, workstream: Workstream) -> Option<&RunView> {
        self.runs
            .iter()
            .rev()
            .find(|r| r.workstream == Some(workstream))
    }
}

/// A short name for an actor: a person's display name, else `bot`, `feed:<name>`, `scheduler`.
pub fn who(actor: &Actor) -> String {
    match actor {
        Actor::User { name, .. } => name.clone(),
        other => other.to_string(),
    }
}

/// Whether a title marks a drill.
pub fn title_is_drill(title: &str) -> bool {
    title.trim_start().starts_with("[DRILL]")
}

/// The data-loss window in seconds. Per run: the last *measured* window (a `db_verify` that
/// counted the restored rows, or a `db_copy` that copied a source that answered), else — for
/// runbooks that only check a backup's age — the age of the backup the last succeeded
/// `backup_check` found (a failed check measured a backup that was refused). Over several
/// runs (a failover, then its failback) the largest. Every view of the window (clocks,
/// post-mortem, `/dr status`, drill, client notices) reads it through here so they cannot
/// disagree; a simulated restore measures nothing and yields `None`.
pub fn restored_backup_age_secs<'a>(events: impl IntoIterator<Item = &'a Event>) -> Option<u64> {
    let mut per_run: BTreeMap<Option<&RunId>, (Option<u64>, Option<u64>)> = BTreeMap::new();
    for e in events {
        let Some(step) = e.data_as::<StepSucceeded>() else {
            continue;
        };
        let slot = per_run.entry(e.run.as_ref()).or_default();
        match step.kind {
            Some(StepKind::DbVerify | StepKind::DbCopy) => {
                let out = read_output::<DbWindowOutput>(&step.output);
                if out.measured {
                    slot.0 = out.data_loss_secs.or(slot.0);
                }
            }
            Some(StepKind::BackupCheck) => {
                slot.1 = read_output::<BackupCheckOutput>(&step.output)
                    .age_secs
                    .or(slot.1);
            }
            _ => {}
        }
    }
    per_run
        .into_values()
        .filter_map(|(measured, age)| measured.or(age))
        .max()
}

/// When the outage of `incident` began, as the data-loss window counts it: its first signal,
/// else its declaration; `None` when the log does not hold the incident. `all` is the whole
/// log: the signals that led to a declaration carry no incident id.
pub fn outage_start(all: &[Event], incident: &IncidentId) -> Option<DateTime<Utc>> {
    let view = view(&incident_events(all, incident), incident);
    view.first_signal.map(|s| s.at).or(view.declared_at)
}

/// Folds one incident from its events (the output of [`incident_events`]).
pub fn view(events: &[Event], id: &IncidentId) -> IncidentView {
    let mine = |e: &&Event| e.incident.as_ref() == Some(id);
    let first = |kind: EventKind| events.iter().filter(mine).find(|e| e.is(kind));
    let declared = first(EventKind::IncidentDeclared);
    let resolved = first(EventKind::IncidentResolved);
    let reviewed = first(EventKind::IncidentReviewed);
    let declaration = declared
        .and_then(Event::data_as::<IncidentDeclared>)
        .unwrap_or_default();
    let title = Some(declaration.title)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| id.to_string());
    let drill = title_is_drill(&title)
        || events
            .iter()
            .filter(mine)
            .any(|e| e.is(EventKind::DrillMarked));
    let first_signal = events
        .iter()
        .find(|e| {
            matches!(
                e.event_kind(),
                Some(EventKind::FeedDegraded | EventKind::FeedOutage | EventKind::AlertPosted)
            )
        })
        .map(|e| Signal {
            at: e.at,
            kind: e.kind.clone(),
            provider: provider_of(e),
        });
    let providers = events
        .iter()
        .filter(|e| e.event_kind().is_some_and(EventKind::is_about_a_provider))
        .filter_map(provider_of)
        .collect();
    let runs: Vec<RunView> = state::fold(events)
        .into_iter()
        .filter(|r| r.incident.as_ref() == Some(id))
        .collect();
    let mut workstreams = declaration.workstreams;
    workstreams.extend(runs.iter().filter_map(|r| r.workstream));
    let notes = events
        .iter()
        .filter_map(|e| {
            let note = e.data_as::<NoteAdded>()?;
            Some(Note {
                at: e.at,
                by: who(&e.actor),
                text: note.text,
                lesson: note.lesson,
            })
        })
        .collect();
    let checkpoints = events
        .iter()
        .filter(mine)
        .filter_map(|e| {
            let checkpoint = e.data_as::<ClockCheckpoint>()?;
            Some((checkpoint.workstream?, checkpoint.percent))
        })
        .collect();
    let run_ids: BTreeSet<&RunId> = runs.iter().map(|r| &r.run).collect();
    // The backup actually restored: the last backup check that succeeded (a failed check
    // measured a backup that was refused; an earlier one was superseded).
    let achieved_rpo_secs = restored_backup_age_secs(
        events
            .iter()
            .filter(|e| e.run.as_ref().is_some_and(|r| run_ids.contains(r))),
    );

    // Recovered once every affected workstream's latest run succeeded.
    let latest: Vec<&RunView> = workstreams
        .iter()
        .filter_map(|ws| runs.iter().rev().find(|r| r.workstream == Some(*ws)))
        .collect();
    let all_recovered = !runs.is_empty()
        && latest.len() == workstreams.len()
        && latest.iter().all(|r| r.status == RunStatus::Succeeded);
    let recovered_at = all_recovered
        .then(|| latest.iter().filter_map(|r| r.ended_at).max())
        .flatten();
    let phase = if resolved.is_some()
        && reviewed.is_some_and(|r| resolved.is_some_and(|s| r.seq > s.seq))
    {
        Phase::Reviewed
    } else if resolved.is_some() {
        Phase::Resolved
    } else if all_recovered {
        Phase::Recovered
    } else if !runs.is_empty() {
        Phase::Mitigating
    } else {
        Phase::Declared
    };
    IncidentView {
        id: id.clone(),
        title,
        drill,
        severity: declaration.severity,
        commander: declaration.commander,
        declared_at: declared.map(|e| e.at),
        declared_by: declared.map(|e| who(&e.actor)),
        phase,
        workstreams,
        providers,
        first_signal,
        runs,
        recovered_at,
        resolved_at: resolved.map(|e| e.at),
        resolved_by: resolved.map(|e| who(&e.actor)),
        reviewed_at: reviewed.map(|e| e.at),
        reviewed_by: reviewed.map(|e| who(&e.actor)),
        notes,
        checkpoints,
        achieved_rpo_secs,
    }
}

/// Every incident declared in the log, in order of declaration.
pub fn all(log: &[Event]) -> Vec<IncidentView> {
    let mut seen = BTreeSet::new();
    log.iter()
        .filter(|e| e.is(EventKind::IncidentDeclared))
        .filter_map(|e| e.incident.as_ref())
        .filter(|id| seen.insert((*id).clone()))
        .map(|id| view(&incident_events(log, id), id))
        .collect()
}

/// The incidents not yet resolved (only those are folded: the scheduler asks every minute).
pub fn open(log: &[Event]) -> Vec<IncidentView> {
    let resolved: BTreeSet<&IncidentId> = log
        .iter()
        .filter(|e| e.is(EventKind::IncidentResolved))
        .filter_map(|e| e.incident.as_ref())
        .collect();
    let mut seen = BTreeSet::new();
    log.iter()
        .filter(|e| e.is(EventKind::IncidentDeclared))
        .filter_map(|e| e.incident.as_ref())
        .filter(|id| !resolved.contains(id) && seen.insert((*id).clone()))
        .map(|id| view(&incident_events(log, id), id))
        .collect()
}

/// The last incident declared and not yet resolved (the bot keeps one open at a time), with
/// its title; a light scan that needs no selection of related events.
pub fn last_open(log: &[Event]) -> Option<(IncidentId, String)> {
    let mut open: Option<(IncidentId, String)> = None;
    for e in log {
        let Some(id) = &e.incident else { continue };
        if let Some(declared) = e.data_as::<IncidentDeclared>() {
            open = Some((id.clone(), declared.title));
        } else if e.is(EventKind::IncidentResolved) && open.as_ref().is_some_and(|(o, _)| o == id) {
            open = None;
        }
    }
    open
}

/// The latest resolved incident that has not been reviewed, for `/incident review`.
pub fn awaiting_review(log: &[Event]) -> Option<IncidentView> {
    all(log)
        .into_iter()
        .rev()
        .find(|i| i.phase == Phase::Resolved)
}

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

fn non_negative(d: chrono::Duration) -> Duration {
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

// ---------------------------------------------------------------------------------------------
// Which events belong to an incident

/// The provider a `feed.*`, `vendor.*`, `alert.*` or `drill.outage_simulated` event is about.
pub(crate) fn provider_of(e: &Event) -> Option<String> {
    e.payload().ok()?.provider().map(str::to_owned)
}

/// The incident's events and the related ones that carry no incident id, in seq order:
/// - every event carrying the incident's id;
/// - every event of a run started for the incident (`run.started` with that incident id);
/// - the approval trail of the incident's run requests (`run.approval_counted`, `run.denied`,
///   `approval.refused` carry only the request id);
/// - the `feed.*`, `alert.*` and `vendor.*` events of the providers *involved*: a provider is
///   involved when it was unhealthy at the declaration (its latest settled signal before the
///   declaration was `feed.degraded`/`feed.outage`, or it had an alert posted and not yet
///   recovered). Its events are kept from the start of that bad episode (the first unhealthy
///   `feed.observed`, `feed.degraded`, `feed.outage` or `alert.posted` after its last recovery)
///   up to the incident's end (`incident.resolved`, or the end of the log while it is open);
/// - for a drill, the `drill.started` that opened it (the last one before the declaration) and
///   the `drill.outage_simulated` events logged between it and the declaration.
pub fn incident_events(all: &[Event], incident: &IncidentId) -> Vec<Event> {
    let mine = |e: &Event| e.incident.as_ref() == Some(incident);
    let runs: BTreeSet<&RunId> = all
        .iter()
        .filter(|e| e.is(EventKind::RunStarted) && mine(e))
        .filter_map(|e| e.run.as_ref())
        .collect();
    let requests: BTreeSet<String> = all
        .iter()
        .filter(|e| mine(e))
        .filter_map(Event::data_as::<RunRequested>)
        .map(|r| r.request)
        .filter(|r| !r.is_empty())
        .collect();
    let declared = all
        .iter()
        .find(|e| e.is(EventKind::IncidentDeclared) && mine(e));
    let declared_seq = declared.map_or(0, |e| e.seq);
    let end_seq = all
        .iter()
        .find(|e| e.is(EventKind::IncidentResolved) && mine(e))
        .map_or(u64::MAX, |e| e.seq);

    // Per provider, the seq where its current bad episode started, as of the declaration.
    let episode = episode_starts(
        all.iter()
            .filter(|e| e.seq < declared_seq)
            .filter_map(|e| episode_mark(e).map(|(provider, mark)| (e.seq, provider, mark))),
    );
    let drill = all.iter().any(|e| e.is(EventKind::DrillMarked) && mine(e))
        || declared
            .and_then(Event::data_as::<IncidentDeclared>)
            .is_some_and(|d| title_is_drill(&d.title));
    let drill_started = drill
        .then(|| {
            all.iter()
                .filter(|e| e.is(EventKind::DrillStarted) && e.seq < declared_seq)
                .map(|e| e.seq)
                .next_back()
        })
        .flatten();
    // The drill's simulated outages: logged between its start and the declaration.
    let outage_simulated = |e: &Event| {
        e.is(EventKind::DrillOutageSimulated)
            && drill_started.is_some_and(|start| e.seq > start && e.seq < declared_seq)
    };
    // An event of the approval trail of one of the incident's requests.
    let approval_trail = |e: &Event| {
        e.event_kind().is_some_and(EventKind::names_a_request)
            && e.payload()
                .ok()
                .and_then(|p| p.request().map(|r| requests.contains(r)))
                .unwrap_or(false)
    };

    let mut selected: Vec<Event> = all
        .iter()
        .filter(|e| {
            mine(e)
                || e.run.as_ref().is_some_and(|r| runs.contains(r))
                || (e.incident.is_none() && approval_trail(e))
                || (e.event_kind().is_some_and(EventKind::is_about_a_provider)
                    && e.seq <= end_seq
                    && provider_of(e)
                        .and_then(|p| episode.get(&p))
                        .is_some_and(|start| e.seq >= *start))
                || Some(e.seq) == drill_started
                || outage_simulated(e)
        })
        .cloned()
        .collect();
    selected.sort_by_key(|e| e.seq);
    selected
}

/// The affected workstreams for a declaration: the alert's provider's, else those of every
/// provider with an alert open (posted and not recovered).
pub fn affected_at_declaration(
    config: &crate::config::Config,
    events: &[Event],
    alert: Option<&str>,
) -> (BTreeSet<Workstream>, BTreeSet<String>) {
    let alerts: Vec<Payload> = events
        .iter()
        .filter(|e| e.event_kind().is_some_and(EventKind::is_about_a_provider))
        .filter_map(|e| e.payload().ok())
        .filter(|p| p.alert_id().is_some_and(|id| !id.is_empty()))
        .collect();
    let mut open: BTreeMap<String, String> = BTreeMap::new();
    for payload in &alerts {
        match payload {
            Payload::AlertPosted(posted) if !posted.provider.is_empty() => {
                open.insert(posted.provider.clone(), posted.alert_id.clone());
            }
            Payload::AlertRecovered(recovered) if !recovered.alert.provider.is_empty() => {
                open.remove(&recovered.alert.provider);
            }
            _ => {}
        }
    }
    let providers: BTreeSet<String> = match alert {
        Some(alert) => {
            let from_log = alerts
                .iter()
                .filter(|p| p.alert_id() == Some(alert))
                .find_map(|p| p.provider().filter(|p| !p.is_empty()).map(str::to_owned));
            // Alert ids are `<provider>-<timestamp>`: the prefix names the provider.
            from_log
                .or_else(|| alert.rsplit_once('-').map(|(p, _)| p.to_owned()))
                .into_iter()
                .collect()
        }
        None => open.into_keys().collect(),
    };
    let workstreams = providers
        .iter()
        .filter_map(|p| config.providers.iter().find(|c| &c.name == p))
        .map(|p| p.workstream)
        .collect();
    (workstreams, providers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{GENESIS, NewEvent};
    use crate::toml_source::TomlSource;
    use serde_json::{Value, json};

    const INC: &str = "INC-1";

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn mins(m: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::minutes(m)
    }

    #[derive(Default)]
    struct Log(Vec<Event>);

    impl Log {
        fn at(&mut self, minute: i64, new: NewEvent) -> &mut Self {
            let prev = self.0.last().map_or(GENESIS.to_owned(), |e| e.hash.clone());
            let seq = self.0.len() as u64 + 1;
            self.0.push(Event::seal(new, seq, mins(minute), &prev));
            self
        }
    }

    fn inc() -> IncidentId {
        IncidentId::from(INC)
    }

    fn user(name: &str) -> Actor {
        Actor::User {
            id: name.into(),
            name: name.into(),
        }
    }

    fn on_inc(kind: &str, data: Value) -> NewEvent {
        NewEvent::new(user("alice"), kind, data).incident(inc())
    }

    fn on_run(run: &str, kind: &str, data: Value) -> NewEvent {
        NewEvent::new(Actor::Bot, kind, data).run(RunId::from(run))
    }

    fn config(extra: &str) -> Config {
        let text = format!(
            "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n{extra}\n\
             [[providers]]\nname = \"heroku\"\nworkstream = \"hosting\"\nrunbook = \"failover-hosting\"\n"
        );
        Config::from_source(TomlSource::new("t.toml", &text))
            .unwrap_or_else(|e| panic!("{e:?}"))
            .config
    }

    fn runbook() -> Runbook {
        use crate::duration::HumanDuration;
        use crate::runbook::{ApprovalPolicy, OnFailure, Step, StepAction, WaitStep};
        let step = |id: &str, timeout_mins: u64| Step {
            id: id.into(),
            title: id.into(),
            action: StepAction::Wait(WaitStep {
                duration: HumanDuration::from_secs(1),
            }),
            timeout: HumanDuration::from_secs(timeout_mins * 60),
            retries: 0,
            backoff: HumanDuration::from_secs(1),
            idempotent: true,
            on_failure: OnFailure::Abort,
        };
        Runbook {
            name: "failover-hosting".into(),
            title: "Fail over".into(),
            description: None,
            workstream: Workstream::Hosting,
            approval: ApprovalPolicy::default(),
            params: Vec::new(),
            steps: vec![step("scale", 10), step("restore", 90), step("dns", 30)],
            source: std::path::PathBuf::new(),
            file_hash: String::new(),
        }
    }

    /// A Heroku outage: signal at 0, declared at 10, run at 20 (scale 20→30, restore from 30).
    fn outage() -> Log {
        let mut log = Log::default();
        log.at(
            0,
            NewEvent::new(Actor::Feed { name: "h".into() }, "feed.outage", json!({"provider": "heroku", "to": "major_outage"})),
        )
        .at(
            10,
            on_inc(
                "incident.declared",
                json!({"title": "Heroku down", "severity": "sev1", "commander": "carol", "workstreams": ["hosting"]}),
            ),
        );
        log
    }

    fn with_run(log: &mut Log) {
        let run = "RUN-1";
        log.at(
            20,
            on_run(
                run,
                "run.started",
                json!({"runbook": "failover-hosting", "workstream": "hosting", "params": {}}),
            )
            .incident(inc()),
        )
        .at(
            20,
            on_run(run, "step.started", json!({"step": "scale", "attempt": 1})),
        )
        .at(
            30,
            on_run(
                run,
                "step.succeeded",
                json!({"step": "scale", "output": {}}),
            ),
        )
        .at(
            30,
            on_run(
                run,
                "step.started",
                json!({"step": "restore", "attempt": 1}),
            ),
        );
    }

    #[test]
    fn the_lifecycle_follows_the_events() {
        let mut log = outage();
        let v = view(&incident_events(&log.0, &inc()), &inc());
        assert_eq!(v.phase, Phase::Declared);
        assert_eq!(v.severity, Severity::Sev1);
        assert_eq!(v.commander.as_deref(), Some("carol"));
        assert_eq!(v.first_signal.as_ref().unwrap().at, t0());
        assert_eq!(v.providers, BTreeSet::from(["heroku".to_owned()]));

        with_run(&mut log);
        let v = &all(&log.0)[0];
        assert_eq!(v.phase, Phase::Mitigating);
        assert_eq!(v.runs.len(), 1);

        log.at(
            100,
            on_run(
                "RUN-1",
                "step.succeeded",
                json!({"step": "restore", "kind": "backup_check", "output": {"age_secs": 1200}}),
            ),
        )
        .at(110, on_run("RUN-1", "run.succeeded", json!({})));
        let v = &all(&log.0)[0];
        assert_eq!(v.phase, Phase::Recovered);
        assert_eq!(v.recovered_at, Some(mins(110)));
        assert_eq!(v.achieved_rpo_secs, Some(1200));
        assert_eq!(open(&log.0).len(), 1, "recovered is still open");

        log.at(
            120,
            on_inc(
                "note.added",
                json!({"text": "TTL too high", "lesson": true}),
            ),
        )
        .at(130, on_inc("incident.resolved", json!({})));
        let v = &all(&log.0)[0];
        assert_eq!(v.phase, Phase::Resolved);
        assert!(v.notes[0].lesson);
        assert!(open(&log.0).is_empty());
        assert_eq!(awaiting_review(&log.0).unwrap().id, inc());
        assert_eq!(last_open(&log.0), None);

        log.at(200, on_inc("incident.reviewed", json!({})));
        let v = &all(&log.0)[0];
        assert_eq!(v.phase, Phase::Reviewed);
        assert_eq!(v.reviewed_by.as_deref(), Some("alice"));
        assert!(awaiting_review(&log.0).is_none());
    }

    #[test]
    fn a_failed_run_keeps_it_mitigating_and_runs_add_workstreams() {
        let mut log = outage();
        with_run(&mut log);
        log.at(
            40,
            on_run(
                "RUN-1",
                "run.failed",
                json!({"step": "restore", "error": "x"}),
            ),
        )
        .at(
            45,
            on_run(
                "RUN-2",
                "run.started",
                json!({"runbook": "switch-llm", "workstream": "llm", "params": {}}),
            )
            .incident(inc()),
        )
        .at(50, on_run("RUN-2", "run.succeeded", json!({})));
        let v = &all(&log.0)[0];
        assert_eq!(v.phase, Phase::Mitigating, "hosting has not recovered");
        assert_eq!(
            v.workstreams,
            BTreeSet::from([Workstream::Hosting, Workstream::Llm])
        );
    }

    #[test]
    fn clocks_start_at_the_first_signal_or_the_declaration() {
        let log = outage();
        let v = &all(&log.0)[0];
        let clocks = clocks(v, &config("").objectives);
        assert_eq!(clocks.len(), 1);
        let c = &clocks[0];
        assert_eq!(c.started_at, t0());
        assert_eq!(c.budget, Duration::from_secs(4 * 3600));
        assert_eq!(c.elapsed(mins(60)), Duration::from_secs(3600));
        assert_eq!(c.percent(mins(60)), 25);
        assert_eq!(c.at_percent(50), mins(120));
        assert_eq!(c.at_percent(90), mins(216));

        let by_declaration = config("clock_start = \"declaration\"");
        let c = &super::clocks(v, &by_declaration.objectives)[0];
        assert_eq!(c.started_at, mins(10));
    }

    #[test]
    fn clock_start_must_be_a_known_value() {
        let text = "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\nclock_start = \"alert\"\n";
        let errors = Config::from_source(TomlSource::new("t.toml", text)).unwrap_err();
        let text = errors[0].to_string();
        assert!(
            text.contains("first_signal") && text.contains("t.toml:5"),
            "{text}"
        );
    }

    #[test]
    fn checkpoints_are_due_once_each_and_stop_with_recovery() {
        let mut log = outage();
        let v = &all(&log.0)[0];
        let c = &clocks(v, &config("").objectives)[0];
        let none = BTreeSet::new();
        assert!(c.due_checkpoints(mins(119), &none).is_empty());
        assert_eq!(c.due_checkpoints(mins(120), &none), vec![50]);
        assert_eq!(c.due_checkpoints(mins(200), &none), vec![50, 75]);
        assert_eq!(
            c.due_checkpoints(mins(200), &BTreeSet::from([50])),
            vec![75]
        );
        assert_eq!(c.next_checkpoint(&BTreeSet::from([50])), Some(mins(180)));
        assert_eq!(c.due_checkpoints(mins(300), &none), vec![50, 75, 90, 100]);
        assert!(
            c.due_checkpoints(mins(300), &BTreeSet::from([50, 75, 90, 100]))
                .is_empty()
        );
        assert_eq!(c.next_checkpoint(&BTreeSet::from([50, 75, 90, 100])), None);

        // Posted checkpoints are read back from the log.
        log.at(
            121,
            NewEvent::new(
                Actor::Scheduler,
                "clock.checkpoint",
                json!({"workstream": "hosting", "percent": 50}),
            )
            .incident(inc()),
        );
        let v = &all(&log.0)[0];
        assert_eq!(posted(v, Workstream::Hosting), BTreeSet::from([50]));

        with_run(&mut log);
        log.at(150, on_run("RUN-1", "run.succeeded", json!({})));
        let v = &all(&log.0)[0];
        let c = &clocks(v, &config("").objectives)[0];
        assert!(c.recovered);
        assert_eq!(c.achieved(), Some(Duration::from_secs(150 * 60)));
        assert!(
            c.due_checkpoints(mins(300), &none).is_empty(),
            "a stopped clock posts nothing"
        );
        assert_eq!(c.elapsed(mins(500)), Duration::from_secs(150 * 60));
        assert!(
            c.describe(mins(500)).contains("RTO met"),
            "{}",
            c.describe(mins(500))
        );
    }

    #[test]
    fn the_achieved_rto_is_the_post_mortems_for_either_clock_start() {
        let mut log = outage();
        with_run(&mut log);
        log.at(110, on_run("RUN-1", "run.succeeded", json!({})));
        for (extra, minutes) in [("", 110), ("clock_start = \"declaration\"", 100)] {
            let objectives = config(extra).objectives;
            let v = &all(&log.0)[0];
            let achieved = clocks(v, &objectives)[0].achieved();
            assert_eq!(achieved, Some(Duration::from_secs(minutes * 60)), "{extra}");
            let events = incident_events(&log.0, &inc());
            let rows = crate::timeline::objective_rows(
                &crate::timeline::summarize(&events, &inc()),
                &objectives,
            );
            assert_eq!(rows[0].name, "RTO hosting");
            assert_eq!(
                rows[0].achieved, achieved,
                "the post-mortem agrees ({extra})"
            );
        }
    }

    #[test]
    fn a_clock_stops_without_recovery_when_resolved() {
        let mut log = outage();
        log.at(30, on_inc("incident.resolved", json!({})));
        let v = &all(&log.0)[0];
        let c = &clocks(v, &config("").objectives)[0];
        assert!(!c.recovered);
        assert_eq!(c.achieved(), None);
        assert_eq!(c.elapsed(mins(90)), Duration::from_secs(30 * 60));
    }

    #[test]
    fn the_forecast_uses_recent_durations_then_timeouts() {
        // An earlier run took 12m, 14m and 16m for `scale` (mean 14m) and 40m for `restore`.
        let mut log = Log::default();
        for (i, d) in [12, 14, 16].into_iter().enumerate() {
            let run = format!("RUN-OLD-{i}");
            let start = i as i64 * 100;
            log.at(
                start,
                on_run(
                    &run,
                    "run.started",
                    json!({"runbook": "failover-hosting", "workstream": "hosting"}),
                ),
            )
            .at(
                start,
                on_run(&run, "step.started", json!({"step": "scale"})),
            )
            .at(
                start + d,
                on_run(
                    &run,
                    "step.succeeded",
                    json!({"step": "scale", "output": {}}),
                ),
            );
        }
        let old = RunId::from("RUN-OLD-0");
        log.at(
            400,
            NewEvent::new(Actor::Bot, "step.started", json!({"step": "restore"})).run(old.clone()),
        )
        .at(
            440,
            NewEvent::new(
                Actor::Bot,
                "step.succeeded",
                json!({"step": "restore", "output": {}}),
            )
            .run(old),
        );
        let history = StepHistory::from_runs(&state::fold(&log.0));
        assert_eq!(
            history.recent("failover-hosting", "scale"),
            Some((Duration::from_secs(14 * 60), 3))
        );

        // No run yet: scale 14m + restore 40m + dns (never ran) 30m timeout = 84m.
        let rb = runbook();
        let steps = remaining_steps(&rb, None, &history, t0());
        assert_eq!(
            steps.iter().map(|s| s.expected).sum::<Duration>(),
            Duration::from_secs(84 * 60)
        );
        assert_eq!(steps[2].basis, EstimateBasis::Timeout);
        let clock = RtoClock {
            workstream: Workstream::Hosting,
            started_at: t0(),
            budget: Duration::from_secs(2 * 3600),
            stopped_at: None,
            recovered: false,
            run: None,
            from_signal: true,
        };
        let f = forecast(&clock, mins(30), &steps);
        assert!(f.fits());
        assert_eq!(
            f.text(),
            "forecast: fits, 6m 00s to spare (3 steps left, about 1h 24m, done at 1h 54m of 2h 00m; 1 of them never ran, counted at their timeouts)"
        );
        let late = forecast(&clock, mins(50), &steps);
        assert!(!late.fits());
        assert!(
            late.text()
                .starts_with("forecast: does NOT fit: 14m 00s over the budget"),
            "{}",
            late.text()
        );

        // A run in flight: scale done, restore 10m into its 40m estimate → 30m + dns 30m.
        let mut current = outage();
        with_run(&mut current);
        let v = &all(&current.0)[0];
        let run = v.run_for(Workstream::Hosting).unwrap();
        let steps = remaining_steps(&rb, Some(run), &history, mins(40));
        assert_eq!(
            steps
                .iter()
                .map(|s| (s.step.as_str(), s.expected))
                .collect::<Vec<_>>(),
            vec![
                ("restore", Duration::from_secs(30 * 60)),
                ("dns", Duration::from_secs(30 * 60))
            ]
        );
        let c = &clocks(v, &config("").objectives)[0];
        let f = clock_forecast(v, c, &config(""), &[rb], &history, mins(40)).unwrap();
        assert_eq!(f.steps_left, 2);
        assert_eq!(f.expected_total(), Duration::from_secs(100 * 60));
    }

    #[test]
    fn status_and_checkpoint_texts_say_what_matters() {
        let mut log = outage();
        with_run(&mut log);
        let v = &all(&log.0)[0];
        let cfg = config("");
        let history = StepHistory::default();
        let text = status_text(v, &cfg, &[runbook()], &history, mins(60));
        assert!(
            text.starts_with("INC-1: Heroku down — mitigating, sev1, commander carol\n"),
            "{text}"
        );
        assert!(text.contains("workstreams: hosting\n"), "{text}");
        assert!(
            text.contains("run RUN-1 (failover-hosting): running"),
            "{text}"
        );
        assert!(
            text.contains("clock hosting: 1h 00m / 4h 00m (25%); forecast: fits"),
            "{text}"
        );

        let c = &clocks(v, &cfg.objectives)[0];
        let msg = checkpoint_text(v, c, 75, None, mins(180));
        assert_eq!(
            msg,
            "⏱ INC-1: hosting RTO clock at 75% — 3h 00m of 4h 00m since the first signal, 1h 00m left."
        );
        let msg = checkpoint_text(v, c, 100, None, mins(240));
        assert!(
            msg.starts_with("⏰ INC-1: the hosting RTO budget of 4h 00m is spent"),
            "{msg}"
        );
    }

    /// `affected_at_declaration`, with the log of timed events it was written with.
    mod declaration {
        use super::super::*;
        use crate::domain::event::NewEvent;
        use crate::domain::event::testing::Log;
        use serde_json::json;

        fn t0() -> DateTime<Utc> {
            DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc)
        }

        #[test]
        fn declarations_name_the_workstreams_of_alerted_providers() {
            let config = crate::config::Config::from_source(crate::toml_source::TomlSource::new(
                "t.toml",
                "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n\
                 [[providers]]\nname = \"heroku\"\nworkstream = \"hosting\"\n\
                 [[providers]]\nname = \"openai\"\nworkstream = \"llm\"\n",
            ))
            .unwrap()
            .config;
            let mut log = Log::default();
            log.at(
                t0(),
                NewEvent::new(
                    Actor::Bot,
                    "alert.posted",
                    json!({"provider": "heroku", "alert_id": "heroku-1"}),
                ),
            )
            .at(
                t0(),
                NewEvent::new(
                    Actor::Bot,
                    "alert.posted",
                    json!({"provider": "openai", "alert_id": "openai-2"}),
                ),
            )
            .at(
                t0(),
                NewEvent::new(
                    Actor::Bot,
                    "alert.recovered",
                    json!({"provider": "openai", "alert_id": "openai-2"}),
                ),
            );
            let (ws, providers) = affected_at_declaration(&config, &log.0, None);
            assert_eq!(ws, BTreeSet::from([Workstream::Hosting]));
            assert_eq!(providers, BTreeSet::from(["heroku".to_owned()]));
            let (ws, _) = affected_at_declaration(&config, &log.0, Some("openai-2"));
            assert_eq!(ws, BTreeSet::from([Workstream::Llm]));
            let (ws, _) = affected_at_declaration(&config, &[], Some("openai-20261125083000"));
            assert_eq!(
                ws,
                BTreeSet::from([Workstream::Llm]),
                "the id's prefix names the provider"
            );
        }
    }
}
