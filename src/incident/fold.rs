//! One incident folded from its events: its phase, people, workstreams, signals, notes and
//! runs ([`IncidentView`]), and the queries over every incident in the log.

use super::related::{incident_events, provider_of};
use crate::domain::Severity;
use crate::domain::event::Event;
use crate::domain::{Actor, IncidentId, RunId, Workstream};
use crate::events::{
    BackupCheckOutput, ClockCheckpoint, DbWindowOutput, EventKind, IncidentDeclared, NoteAdded,
    StepSucceeded, read_output,
};
use crate::runbook::StepKind;
use crate::runbook::state::{self, RunStatus, RunView};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
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
/// disagree; a simulated restore measures nothing and yields `None`. A drill's views read
/// [`loss_window_secs`] instead.
pub fn restored_backup_age_secs<'a>(events: impl IntoIterator<Item = &'a Event>) -> Option<u64> {
    window_secs(events, true)
}

/// The data-loss window as [`restored_backup_age_secs`] reads it, but for a drill (`drill`)
/// only what was measured from restored data: a drill's backups are stand-ins whose age is
/// whatever the drill chose, so a `backup_check`'s age is no measurement there.
pub fn loss_window_secs<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    drill: bool,
) -> Option<u64> {
    window_secs(events, !drill)
}

/// The window per run (measured, else a checked backup's age when `backup_ages`), the largest.
fn window_secs<'a>(events: impl IntoIterator<Item = &'a Event>, backup_ages: bool) -> Option<u64> {
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
            Some(StepKind::BackupCheck) if backup_ages => {
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
    let achieved_rpo_secs = loss_window_secs(
        events
            .iter()
            .filter(|e| e.run.as_ref().is_some_and(|r| run_ids.contains(r))),
        drill,
    );

    let (phase, recovered_at) = phase_of(&workstreams, &runs, resolved, reviewed);
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

/// The phase an incident's runs and events put it in, and when it recovered: once every
/// affected workstream's latest run succeeded.
fn phase_of(
    workstreams: &BTreeSet<Workstream>,
    runs: &[RunView],
    resolved: Option<&Event>,
    reviewed: Option<&Event>,
) -> (Phase, Option<DateTime<Utc>>) {
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
    (phase, recovered_at)
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
