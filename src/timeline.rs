//! Post-mortem export: an incident's events → a derived [`Summary`] → Markdown, JSON, CSV or a
//! self-contained HTML page with an SVG chart. Pure rendering: no I/O, no environment, no clock;
//! everything printed comes from the events passed in. Which events belong to an incident is
//! `crate::incident::incident_events`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::config::Objectives;
use crate::domain::event::Event;
use crate::domain::{IncidentId, RunId, Workstream};
use crate::duration::{HumanDuration, format_elapsed};
use crate::events::{
    CommsDraftOutput, DrillOutageSimulated, EventKind, NotifyOutput, Payload, RunApprovalCounted,
    RunApproved, RunRequested, RunStarted, StepSucceeded, read_output,
};
use crate::runbook::StepKind;
use crate::runbook::state::{self, RunStatus};

/// The export formats of `lifeboat export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Json,
    Csv,
    Html,
}

impl Format {
    /// The usual file extension, for default output names.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Html => "html",
        }
    }
}

impl FromStr for Format {
    type Err = TimelineError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "md" | "markdown" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "html" => Ok(Format::Html),
            other => Err(TimelineError::UnknownFormat(other.to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimelineError {
    #[error("no events for incident {0}: check the id and the data directory")]
    NoEvents(IncidentId),
    #[error("unknown export format `{0}`: use md, json, csv or html")]
    UnknownFormat(String),
}

/// Selects the incident's events from the whole log and renders them in `format`.
pub fn render(
    all_events: &[Event],
    incident: &IncidentId,
    format: Format,
    objectives: &Objectives,
) -> Result<String, TimelineError> {
    let mut events = crate::incident::incident_events(all_events, incident);
    // Clients' addresses in older logs never reach an export.
    for e in events.iter_mut().filter(|e| e.is(EventKind::CommsSent)) {
        crate::events::comms::scrub_recipients(&mut e.data);
    }
    if !events.iter().any(|e| e.incident.as_ref() == Some(incident)) {
        return Err(TimelineError::NoEvents(incident.clone()));
    }
    let summary = summarize(&events, incident);
    Ok(match format {
        Format::Markdown => markdown(&summary, &events, objectives),
        Format::Json => json(&summary, &events),
        Format::Csv => csv(&events),
        Format::Html => html(&summary, &events, objectives),
    })
}

// ---------------------------------------------------------------------------------------------
// Summary

pub use crate::incident::{Note, Signal};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepSummary {
    pub id: String,
    pub kind: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub attempts: u32,
    /// `succeeded`, `failed`, `skipped`, `interrupted`, `running` or `not_run`.
    pub outcome: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalSummary {
    pub by: String,
    pub at: DateTime<Utc>,
    /// Milliseconds from the request to this approval (drills take less than a second).
    pub wait_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub run: RunId,
    pub runbook: String,
    pub workstream: Option<Workstream>,
    pub request: Option<String>,
    pub requested_at: Option<DateTime<Utc>>,
    pub requested_by: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// `running`, `paused`, `succeeded`, `failed`, `aborted` or `cancelled`.
    pub status: String,
    pub steps: Vec<StepSummary>,
    pub approvals: Vec<ApprovalSummary>,
    /// `run.succeeded` − first signal (or the declaration when no signal was logged), in ms.
    pub achieved_rto_ms: Option<i64>,
    /// The `age_secs` of the backup its `backup_check` step found.
    pub achieved_rpo_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Communication {
    /// When it was first sent (or drafted).
    pub at: DateTime<Utc>,
    pub run: Option<RunId>,
    pub step: Option<String>,
    /// Sent: `notify` (a team told) or `comms.sent` (a client notice). Drafts: the
    /// `comms.*` kinds it went through (`comms.drafted`, `comms.edited`, `comms.approved`),
    /// joined with `, `, or `comms_draft` for a draft step's output.
    pub kind: String,
    /// The team told, the draft's audience, or the template drafted.
    pub to: Option<String>,
    /// The draft (`DRAFT-1`) it came from, if any.
    pub draft: Option<String>,
    /// Sent: every route or output it was delivered by (`discord`, `webhook`, `email`, …).
    pub via: Vec<String>,
    /// The exact text.
    pub text: String,
}

/// A drill's simulated outage of one provider and how long detection took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    pub provider: String,
    /// The `drill.outage_simulated` event: when the stand-in feeds flipped to an outage.
    pub outage_at: DateTime<Utc>,
    /// The provider's first confirmed alert (`alert.*` with `confirmed = true`) after it.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// `confirmed_at − outage_at`: the drill's detection time.
    pub detection_ms: Option<i64>,
}

/// Per `drill.outage_simulated` event, the time to the provider's first confirmed alert after
/// it. The drill prints these figures and the post-mortem shows them: both read the log.
pub fn drill_detections(events: &[Event]) -> Vec<Detection> {
    events
        .iter()
        .filter_map(|outage| {
            let provider = outage.data_as::<DrillOutageSimulated>()?.provider;
            if provider.is_empty() {
                return None;
            }
            let confirmed_at = events
                .iter()
                .find(|c| c.seq > outage.seq && confirmed_alert(c).is_some_and(|p| p == provider))
                .map(|c| c.at);
            Some(Detection {
                provider,
                outage_at: outage.at,
                confirmed_at,
                detection_ms: confirmed_at.map(|c| (c - outage.at).num_milliseconds()),
            })
        })
        .collect()
}

/// The provider of a confirmed alert's event (`alert.*` with `confirmed = true`).
fn confirmed_alert(e: &Event) -> Option<String> {
    if !matches!(
        e.event_kind(),
        Some(EventKind::AlertPosted | EventKind::AlertUpdated | EventKind::AlertRecovered)
    ) {
        return None;
    }
    let payload = e.payload().ok()?;
    let alert = payload.alert().filter(|a| a.confirmed)?;
    Some(alert.provider.clone())
}

/// What the post-mortem says, derived from the incident's events only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub incident: IncidentId,
    pub title: String,
    pub drill: bool,
    /// `sev1`, `sev2` or `sev3`, as declared.
    pub severity: crate::incident::Severity,
    pub commander: Option<String>,
    /// Named at the declaration, plus those of the runs started for it.
    pub workstreams: Vec<Workstream>,
    pub declared_at: Option<DateTime<Utc>>,
    pub declared_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    /// Providers whose feeds or alerts are part of the incident.
    pub providers: Vec<String>,
    /// Earliest `feed.degraded`, `feed.outage` or `alert.posted`.
    pub first_signal: Option<Signal>,
    pub alert_at: Option<DateTime<Utc>>,
    /// First `alert.*` with `confirmed = true`.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Last `alert.recovered`: the providers were healthy again.
    pub providers_recovered_at: Option<DateTime<Utc>>,
    /// For a drill, each simulated outage and its detection time.
    pub simulated_outages: Vec<Detection>,
    pub runs: Vec<RunSummary>,
    pub notes: Vec<Note>,
    /// Communications actually delivered (`notify.delivered`, `comms.sent`), one per text and
    /// recipient, with every route it went by.
    pub sent: Vec<Communication>,
    /// Drafts (`comms.drafted`, `comms.edited`, `comms.approved`), one per draft and text.
    pub drafts: Vec<Communication>,
}

impl Summary {
    /// Where T+ offsets count from: the first signal, else the declaration, else `fallback`.
    pub fn origin(&self, fallback: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        self.first_signal
            .as_ref()
            .map(|s| s.at)
            .or(self.declared_at)
            .or(fallback)
    }
}

use crate::incident::who;

/// Derives the summary from [`crate::incident::incident_events`]' output; the incident's own state (title,
/// declaration, signal, notes) is [`crate::incident::view`]'s, shared with the status views.
pub fn summarize(events: &[Event], incident: &IncidentId) -> Summary {
    let view = crate::incident::view(events, incident);
    let first_signal = view.first_signal.clone();
    let providers: Vec<String> = view.providers.iter().cloned().collect();
    let alert_at = events
        .iter()
        .find(|e| e.is(EventKind::AlertPosted))
        .map(|e| e.at);
    let confirmed_at = events
        .iter()
        .find(|e| confirmed_alert(e).is_some())
        .map(|e| e.at);
    let providers_recovered_at = events
        .iter()
        .rfind(|e| e.is(EventKind::AlertRecovered))
        .map(|e| e.at);
    let origin = first_signal.as_ref().map(|s| s.at).or(view.declared_at);

    let runs = state::fold(events)
        .into_iter()
        .map(|view| run_summary(events, &view, origin))
        .collect::<Vec<_>>();

    let notes = view.notes;

    let (sent, drafts) = communications(events);

    Summary {
        incident: incident.clone(),
        title: view.title,
        drill: view.drill,
        severity: view.severity,
        commander: view.commander,
        workstreams: view.workstreams.into_iter().collect(),
        declared_at: view.declared_at,
        declared_by: view.declared_by,
        resolved_at: view.resolved_at,
        resolved_by: view.resolved_by,
        providers,
        first_signal,
        alert_at,
        confirmed_at,
        providers_recovered_at,
        simulated_outages: if view.drill {
            drill_detections(events)
        } else {
            Vec::new()
        },
        runs,
        notes,
        sent,
        drafts,
    }
}

/// Adds `item` to `list` unless it is there already.
fn add_once(list: &mut Vec<String>, item: Option<String>) {
    if let Some(item) = item
        && !list.contains(&item)
    {
        list.push(item);
    }
}

/// What was sent (one entry per recipient and text, with every route it went by) and what was
/// drafted (one entry per draft and text, with the stages it went through). A `notify` or
/// `comms_draft` step's output only adds an entry when no delivery or draft event has its text.
fn communications(events: &[Event]) -> (Vec<Communication>, Vec<Communication>) {
    let mut sent: Vec<Communication> = Vec::new();
    let mut drafts: Vec<Communication> = Vec::new();
    for e in events {
        if !matches!(
            e.event_kind(),
            Some(
                EventKind::NotifyDelivered
                    | EventKind::CommsSent
                    | EventKind::CommsDrafted
                    | EventKind::CommsEdited
                    | EventKind::CommsApproved
            )
        ) {
            continue;
        }
        match e.payload() {
            Ok(Payload::NotifyDelivered(delivered)) => add_sent(
                &mut sent,
                e,
                "notify",
                Some(delivered.team),
                None,
                Some(delivered.route),
                delivered.text,
            ),
            Ok(Payload::CommsSent(delivered)) => {
                let audience = drafts
                    .iter()
                    .find(|c| c.draft.as_deref() == Some(&delivered.draft))
                    .and_then(|c| c.to.clone());
                add_sent(
                    &mut sent,
                    e,
                    EventKind::CommsSent.as_str(),
                    audience,
                    Some(delivered.draft),
                    Some(delivered.output),
                    delivered.text,
                );
            }
            Ok(Payload::CommsDrafted(drafted)) => add_draft(
                &mut drafts,
                e,
                drafted.draft,
                Some(drafted.audience),
                drafted.text,
            ),
            Ok(Payload::CommsEdited(edited)) => {
                add_draft(&mut drafts, e, edited.draft, None, edited.text);
            }
            Ok(Payload::CommsApproved(approved)) => {
                if let Some(text) = approved.text {
                    add_draft(&mut drafts, e, approved.draft, None, text);
                }
            }
            _ => {}
        }
    }
    for e in events {
        let Some(step) = e.data_as::<StepSucceeded>() else {
            continue;
        };
        let (list, kind, to, draft, text) = match step.kind {
            Some(StepKind::Notify) => {
                let out: NotifyOutput = read_output(&step.output);
                (&mut sent, "notify", out.team, None, out.text)
            }
            Some(StepKind::CommsDraft) => {
                let out: CommsDraftOutput = read_output(&step.output);
                (
                    &mut drafts,
                    "comms_draft",
                    out.template,
                    out.draft,
                    out.text,
                )
            }
            _ => continue,
        };
        let Some(text) = text else {
            continue;
        };
        let known = list
            .iter_mut()
            .find(|c| c.text == text && (kind == "comms_draft" || c.to.is_none() || c.to == to));
        match known {
            Some(c) => {
                c.step = c.step.take().or(Some(step.step));
                c.run = c.run.take().or_else(|| e.run.clone());
            }
            None => list.push(Communication {
                at: e.at,
                run: e.run.clone(),
                step: Some(step.step),
                kind: kind.to_owned(),
                to,
                draft,
                via: Vec::new(),
                text,
            }),
        }
    }
    sent.sort_by_key(|c| c.at);
    drafts.sort_by_key(|c| c.at);
    (sent, drafts)
}

/// A delivered text: one entry per `kind`, recipient and text, with every route it went by.
fn add_sent(
    sent: &mut Vec<Communication>,
    e: &Event,
    kind: &str,
    to: Option<String>,
    draft: Option<String>,
    via: Option<String>,
    text: String,
) {
    match sent
        .iter_mut()
        .find(|c| c.kind == kind && c.to == to && c.text == text)
    {
        Some(c) => add_once(&mut c.via, via),
        None => sent.push(Communication {
            at: e.at,
            run: e.run.clone(),
            step: None,
            kind: kind.to_owned(),
            to,
            draft,
            via: via.into_iter().collect(),
            text,
        }),
    }
}

/// A draft's text: one entry per draft and text, with the `comms.*` stages it went through;
/// `to` is the draft's audience (from its `comms.drafted`).
fn add_draft(
    drafts: &mut Vec<Communication>,
    e: &Event,
    draft: String,
    audience: Option<String>,
    text: String,
) {
    let draft = Some(draft);
    let to = audience.or_else(|| {
        drafts
            .iter()
            .find(|c| c.draft == draft)
            .and_then(|c| c.to.clone())
    });
    match drafts
        .iter_mut()
        .find(|c| c.draft == draft && c.text == text)
    {
        Some(c) => {
            if !c.kind.split(", ").any(|k| k == e.kind) {
                c.kind = format!("{}, {}", c.kind, e.kind);
            }
        }
        None => drafts.push(Communication {
            at: e.at,
            run: e.run.clone(),
            step: None,
            kind: e.kind.clone(),
            to,
            draft,
            via: Vec::new(),
            text,
        }),
    }
}

impl StepSummary {
    /// The step's end at `at`: its outcome, attempts, error and duration (from its start when
    /// the event has none).
    fn end(
        &mut self,
        at: DateTime<Utc>,
        outcome: &str,
        attempts: Option<u32>,
        error: Option<String>,
        duration_ms: Option<u64>,
    ) {
        self.ended_at = Some(at);
        self.outcome = outcome.to_owned();
        if let Some(n) = attempts {
            self.attempts = self.attempts.max(n);
        }
        self.error = error;
        self.duration_ms = duration_ms
            .and_then(|ms| i64::try_from(ms).ok())
            .or_else(|| self.started_at.map(|s| (at - s).num_milliseconds()));
    }
}

fn status_name(status: &RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running",
        RunStatus::Paused { .. } => "paused",
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed { .. } => "failed",
        RunStatus::Aborted { .. } => "aborted",
        RunStatus::Cancelled => "cancelled",
    }
}

fn run_summary(
    events: &[Event],
    view: &state::RunView,
    origin: Option<DateTime<Utc>>,
) -> RunSummary {
    let run_events: Vec<&Event> = events
        .iter()
        .filter(|e| e.run.as_ref() == Some(&view.run))
        .collect();
    let request = run_events
        .iter()
        .find_map(|e| e.data_as::<RunApproved>())
        .map(|approved| approved.request)
        .filter(|r| !r.is_empty());
    let requested = request.as_ref().and_then(|r| {
        events.iter().find(|e| {
            e.is(EventKind::RunRequested)
                && e.data_as::<RunRequested>().is_some_and(|q| &q.request == r)
        })
    });
    let approvals = request
        .as_ref()
        .map(|r| {
            events
                .iter()
                .filter_map(|e| Some((e, e.data_as::<RunApprovalCounted>()?)))
                .filter(|(_, counted)| &counted.request == r)
                .map(|(e, counted)| ApprovalSummary {
                    by: counted
                        .by
                        .map_or_else(|| who(&e.actor), |person| person.name),
                    at: e.at,
                    wait_ms: requested.map(|q| (e.at - q.at).num_milliseconds()),
                })
                .collect()
        })
        .unwrap_or_default();

    // Steps in the order they first started; planned steps that never started come last.
    let mut steps: Vec<StepSummary> = Vec::new();
    let index = |steps: &Vec<StepSummary>, id: &str| steps.iter().position(|s| s.id == id);
    for e in &run_events {
        let Ok(payload) = e.payload() else {
            continue;
        };
        let id = match &payload {
            Payload::StepStarted(p) => &p.step,
            Payload::StepRetrying(p) => &p.step,
            Payload::StepSucceeded(p) => &p.step,
            Payload::StepFailed(p) => &p.step,
            Payload::StepSkipped(p) => &p.step,
            Payload::StepInterrupted(p) => &p.step,
            _ => continue,
        };
        let pos = match index(&steps, id) {
            Some(pos) => pos,
            None if matches!(payload, Payload::StepStarted(_) | Payload::StepSkipped(_)) => {
                steps.push(StepSummary {
                    id: id.clone(),
                    kind: None,
                    started_at: None,
                    ended_at: None,
                    duration_ms: None,
                    attempts: 0,
                    outcome: "running".to_owned(),
                    error: None,
                });
                steps.len() - 1
            }
            None => continue,
        };
        let step = &mut steps[pos];
        match payload {
            Payload::StepStarted(started) => {
                step.started_at.get_or_insert(e.at);
                step.kind = step
                    .kind
                    .take()
                    .or_else(|| started.kind.map(|k| k.as_str().to_owned()));
                step.attempts = step.attempts.max(started.attempt);
                step.outcome = "running".to_owned();
            }
            Payload::StepRetrying(retrying) => {
                step.attempts = step.attempts.max(retrying.attempt + 1);
            }
            Payload::StepSucceeded(succeeded) => step.end(
                e.at,
                "succeeded",
                succeeded.attempts,
                None,
                succeeded.duration_ms,
            ),
            Payload::StepFailed(failed) => step.end(
                e.at,
                "failed",
                failed.attempts,
                Some(failed.error),
                failed.duration_ms,
            ),
            Payload::StepSkipped(_) => step.end(e.at, "skipped", None, None, None),
            Payload::StepInterrupted(_) => step.outcome = "interrupted".to_owned(),
            _ => {}
        }
    }
    if let Some(planned) = run_events
        .iter()
        .find(|e| e.is(EventKind::RunStarted))
        .and_then(|e| e.data_as::<RunStarted>())
    {
        for id in &planned.steps {
            if index(&steps, id).is_none() {
                steps.push(StepSummary {
                    id: id.clone(),
                    kind: None,
                    started_at: None,
                    ended_at: None,
                    duration_ms: None,
                    attempts: 0,
                    outcome: "not_run".to_owned(),
                    error: None,
                });
            }
        }
    }

    let succeeded_at = run_events
        .iter()
        .find(|e| e.is(EventKind::RunSucceeded))
        .map(|e| e.at);
    let achieved_rpo_secs = crate::incident::restored_backup_age_secs(run_events.iter().copied());
    RunSummary {
        run: view.run.clone(),
        runbook: view.runbook.clone(),
        workstream: view.workstream,
        request,
        requested_at: requested.map(|e| e.at),
        requested_by: requested.map(|e| who(&e.actor)),
        started_at: view.started_at,
        ended_at: view.ended_at,
        status: status_name(&view.status).to_owned(),
        steps,
        approvals,
        achieved_rto_ms: succeeded_at
            .zip(origin)
            .map(|(end, start)| (end - start).num_milliseconds()),
        achieved_rpo_secs,
    }
}

// ---------------------------------------------------------------------------------------------
// Objectives

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectiveOutcome {
    Met,
    Missed,
    /// No objective, or nothing to measure.
    NotMeasured,
}

impl ObjectiveOutcome {
    fn as_str(self) -> &'static str {
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

// ---------------------------------------------------------------------------------------------
// Formatting helpers

/// A time as the documents show it: UTC to the millisecond.
fn utc_ms(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

fn utc_ms_or_dash(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "—".to_owned(), utc_ms)
}

/// `T+HH:MM:SS` (with `.mmm` when there are milliseconds), `T-…` before the origin.
pub fn t_offset(at: DateTime<Utc>, origin: DateTime<Utc>) -> String {
    let ms = (at - origin).num_milliseconds();
    let sign = if ms < 0 { '-' } else { '+' };
    let ms = ms.unsigned_abs();
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if frac == 0 {
        format!("T{sign}{h:02}:{m:02}:{s:02}")
    } else {
        format!("T{sign}{h:02}:{m:02}:{s:02}.{frac:03}")
    }
}

/// A signed span for people: `3m 12s`, `-850ms`.
fn span(d: chrono::Duration) -> String {
    let ms = d.num_milliseconds();
    let text = format_elapsed(Duration::from_millis(ms.unsigned_abs()));
    if ms < 0 { format!("-{text}") } else { text }
}

fn ms_text(ms: Option<i64>) -> String {
    ms.map_or_else(
        || "—".to_owned(),
        |ms| span(chrono::Duration::milliseconds(ms)),
    )
}

fn dur_opt(d: Option<Duration>) -> String {
    d.map_or_else(|| "—".to_owned(), format_elapsed)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `: text`, or nothing when `text` is empty.
fn suffix(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// A value an event lacks reads as `?`.
fn or_unknown<T: AsRef<str>>(value: Option<T>) -> String {
    value.map_or_else(|| "?".to_owned(), |v| v.as_ref().to_owned())
}

/// One human line per event kind; unknown kinds (and events whose data does not decode) fall
/// back to the kind name.
pub fn describe(e: &Event) -> String {
    let text = match e.payload() {
        Ok(payload) => describe_feed(&payload)
            .or_else(|| describe_incident(&payload))
            .or_else(|| describe_run(e, &payload))
            .or_else(|| describe_comms(&payload))
            .or_else(|| describe_data(&payload))
            .unwrap_or_else(|| e.kind.clone()),
        Err(_) => e.kind.clone(),
    };
    one_line(&text)
}

/// Data recovery and parity.
fn describe_data(payload: &Payload) -> Option<String> {
    use Payload::*;
    Some(match payload {
        LlmParityGated(p) => format!(
            "LLM parity gate for {}: {} of {} prompts passed ({:.0}%, minimum {:.0}%): {}",
            p.provider,
            p.passed,
            p.total,
            p.share * 100.0,
            p.min_pass * 100.0,
            if p.is_open() {
                "open, the switch may go ahead"
            } else {
                "closed, the switch stops"
            }
        ),
        ParityChecked(p) => format!(
            "Parity check: {} drift(s), {} new",
            p.drift.len(),
            p.new.len()
        ),
        DbDataLossAccepted(p) => match p.window_secs {
            Some(window) => format!(
                "More data loss than the plan allows accepted by {}: {} (loses {} of data before the outage, more than {}; {} old)",
                p.by,
                p.location,
                format_elapsed(Duration::from_secs(window)),
                p.limit,
                format_elapsed(Duration::from_secs(p.age_secs)),
            ),
            // Recorded before the window was measured against the outage start.
            None => format!(
                "More data loss than the plan allows accepted by {}: {} ({} old, older than {})",
                p.by,
                p.location,
                format_elapsed(Duration::from_secs(p.age_secs)),
                p.limit
            ),
        },
        DbBackupTaken(p) => format!(
            "Database backup {} taken ({} bytes in {})",
            p.location,
            p.size,
            ms_text(i64::try_from(p.duration_ms).ok())
        ),
        DbBackupFailed(p) => format!("Database backup failed{}", suffix(&p.error)),
        _ => return None,
    })
}

/// Feeds, vendor incidents and alerts.
fn describe_feed(payload: &Payload) -> Option<String> {
    use Payload::*;
    let level = |l: Option<crate::domain::HealthLevel>| or_unknown(l.map(|l| l.as_str()));
    Some(match payload {
        FeedObserved(p) => format!(
            "{} observed {} → {}{}",
            p.provider,
            p.from.map_or("nothing", |l| l.as_str()),
            level(p.to),
            suffix(&p.summary)
        ),
        FeedDegraded(p) | FeedOutage(p) | FeedRecovered(p) | FeedMaintenance(p) => {
            let how = match payload {
                FeedDegraded(_) => "degraded",
                FeedOutage(_) => "outage",
                FeedRecovered(_) => "recovered",
                _ => "maintenance",
            };
            format!(
                "{} settled at {} ({how}){}",
                p.provider,
                level(p.to),
                suffix(&p.summary)
            )
        }
        FeedUnreadable(p) => format!("{} feed unreadable{}", p.provider, suffix(&p.reason)),
        FeedReadable(p) => format!("{} feed readable again", p.provider),
        FeedFlapping(p) => format!("{} feed flapping; alerts held", p.provider),
        FeedSettled(p) => format!("{} feed settled", p.provider),
        VendorIncidentOpened(p) | VendorIncidentUpdated(p) | VendorIncidentResolved(p) => {
            let how = match payload {
                VendorIncidentOpened(_) => "opened",
                VendorIncidentUpdated(_) => "updated",
                _ => "resolved",
            };
            format!(
                "{} status page: incident \"{}\" {how} ({})",
                p.provider,
                or_unknown(p.incident.as_ref().map(|i| &i.title)),
                or_unknown(p.incident.as_ref().map(|i| &i.status)),
            )
        }
        AlertPosted(p) | AlertUpdated(p) => format!(
            "Alert {}: {} {} ({})",
            if matches!(payload, AlertPosted(_)) {
                "posted"
            } else {
                "updated"
            },
            p.provider,
            level(p.level),
            if p.confirmed {
                "confirmed"
            } else {
                "unconfirmed"
            }
        ),
        AlertFailed(p) => format!(
            "Alert for {} could not be posted{}",
            p.provider,
            suffix(&p.error)
        ),
        AlertRecovered(p) => format!(
            "{} recovered{}",
            p.alert.provider,
            p.duration_ms
                .map(chrono::Duration::milliseconds)
                .or_else(|| p.duration_secs.map(chrono::Duration::seconds))
                .map(|d| format!(" after {}", span(d)))
                .unwrap_or_default()
        ),
        _ => return None,
    })
}

/// Incidents, drills and upkeep.
fn describe_incident(payload: &Payload) -> Option<String> {
    use Payload::*;
    Some(match payload {
        DrillStarted(p) => format!(
            "Drill started (simulated outage of {})",
            p.providers.join(", ")
        ),
        DrillMarked(_) => "Incident marked as a drill".to_owned(),
        DrillOutageSimulated(p) => format!("Drill: simulated outage of {} begins", p.provider),
        DrillFinished(_) => "Drill finished; results recorded".to_owned(),
        DrillRequested(p) => format!("Drill {} requested", p.scenario),
        IncidentDeclared(p) => format!(
            "Incident declared: {}",
            or_unknown(Some(&p.title).filter(|t| !t.is_empty()))
        ),
        IncidentResolved(_) => "Incident resolved".to_owned(),
        IncidentReviewed(_) => "Incident reviewed".to_owned(),
        IncidentThreadOpened(_) => "Incident thread opened".to_owned(),
        NoteAdded(p) if p.lesson => format!("Lesson: {}", p.text),
        NoteAdded(p) => format!("Note: {}", p.text),
        CommandRefused(p) => format!("/{} refused (needs {})", p.command, p.needs),
        ClockCheckpoint(p) => format!(
            "RTO clock {}: {}% of the budget",
            or_unknown(p.workstream.map(|w| w.as_str())),
            p.percent
        ),
        ClockCheckpointFailed(p) => format!(
            "RTO clock {} checkpoint could not be posted{}",
            or_unknown(p.workstream.map(|w| w.as_str())),
            suffix(&p.error)
        ),
        PlanReviewed(p) => format!(
            "DR plan reviewed{}",
            suffix(p.note.as_deref().unwrap_or_default())
        ),
        ReminderPosted(p) => format!("Reminder posted: {} due", p.reminder),
        ReminderFailed(p) => format!(
            "Reminder {} could not be posted{}",
            p.reminder,
            suffix(&p.error)
        ),
        RpoBreached(p) | RpoRecovered(p) | RpoReadable(p) => format!(
            "RPO watch: {}{}",
            match payload {
                RpoBreached(_) => "breached",
                RpoRecovered(_) => "recovered",
                _ => "readable",
            },
            p.backup
                .as_ref()
                .map(|b| format!(
                    ", latest backup {} old",
                    format_elapsed(Duration::from_secs(b.age_secs))
                ))
                .unwrap_or_default()
        ),
        RpoUnreadable(_) => "RPO watch: unreadable".to_owned(),
        RpoAlertFailed(p) => format!("RPO watch alert could not be posted{}", suffix(&p.error)),
        _ => return None,
    })
}

/// Requests, approvals, runs and steps.
fn describe_run(e: &Event, payload: &Payload) -> Option<String> {
    use Payload::*;
    Some(match payload {
        RunRequested(p) => format!("Run of {} requested ({})", p.runbook, p.request),
        RunApprovalCounted(p) => format!(
            "Approval of {} by {}",
            p.request,
            p.by.as_ref()
                .map_or_else(|| who(&e.actor), |person| person.name.clone())
        ),
        ApprovalRefused(p) => format!("Approval of {} refused{}", p.request, suffix(&p.reason)),
        RunApproved(p) => format!(
            "{} approved; run {} started{}",
            p.request,
            or_unknown(p.run.as_ref().map(|r| r.as_str())),
            p.wait_secs
                .map(|w| format!(
                    " ({} after the request)",
                    span(chrono::Duration::seconds(w))
                ))
                .unwrap_or_default()
        ),
        RunBreakGlass(p) => format!(
            "BREAK-GLASS: {} — {} started {} ({}) alone after {} without approval",
            p.reason,
            p.by.as_ref()
                .map_or_else(|| who(&e.actor), |person| person.name.clone()),
            p.request,
            p.runbook,
            span(chrono::Duration::seconds(p.waited_secs))
        ),
        RunBreakGlassAcknowledged(p) => format!(
            "Break-glass run {} acknowledged by {}",
            p.run.as_ref().map_or(p.request.as_str(), |r| r.as_str()),
            p.by.as_ref()
                .map_or_else(|| who(&e.actor), |person| person.name.clone())
        ),
        RunDenied(p) => format!(
            "{} denied{}",
            p.request,
            suffix(p.reason.as_deref().unwrap_or_default())
        ),
        RunRequestExpired(p) => format!("{} expired without approval", p.request),
        RunStarted(p) => format!(
            "Runbook {} started ({})",
            p.runbook,
            or_unknown(p.workstream.map(|w| w.as_str()))
        ),
        RunPaused(p) => format!("Run paused at {}{}", p.step, suffix(&p.reason)),
        RunResumed(p) => format!("Run resumed at {} ({})", p.step, p.decision),
        RunCancelRequested(_) => "Run cancellation requested".to_owned(),
        RunSucceeded(_) => "Run succeeded".to_owned(),
        RunFailed(p) => format!("Run failed at {}{}", p.step, suffix(&p.error)),
        RunAborted(p) => format!("Run aborted at {}", p.step),
        RunCancelled(_) => "Run cancelled".to_owned(),
        StepStarted(p) => format!(
            "Step {} ({}) started, attempt {}",
            p.step,
            or_unknown(p.kind.map(|k| k.as_str())),
            p.attempt
        ),
        StepRetrying(p) => format!(
            "Step {} attempt {} failed{}; retrying",
            p.step,
            p.attempt,
            suffix(&p.error)
        ),
        StepSucceeded(p) => format!(
            "Step {} succeeded in {}{}",
            p.step,
            ms_text(p.duration_ms.and_then(|ms| i64::try_from(ms).ok())),
            suffix(&p.summary)
        ),
        StepFailed(p) => format!(
            "Step {} failed after {} attempt(s){}",
            p.step,
            p.attempts.unwrap_or(1),
            suffix(&p.error)
        ),
        StepSkipped(p) => format!("Step {} skipped", p.step),
        StepInterrupted(p) => format!("Step {} interrupted ({})", p.step, p.action),
        _ => return None,
    })
}

/// Drafts, notices and notifications.
fn describe_comms(payload: &Payload) -> Option<String> {
    use Payload::*;
    Some(match payload {
        CommsDrafted(p) => format!(
            "Communication {} drafted ({} {}), written by {}",
            p.draft, p.audience, p.kind, p.writer
        ),
        CommsEdited(p) => format!("Communication {} edited", p.draft),
        CommsApproved(p) => format!("Communication {} approved (v{})", p.draft, p.version),
        CommsApprovalRefused(p) => format!(
            "Approval of communication {} refused{}",
            p.draft,
            suffix(&p.reason)
        ),
        CommsDiscarded(p) => format!("Communication {} discarded", p.draft),
        CommsResend(p) => format!("Communication {} re-sent", p.draft),
        CommsSent(p) => match p.recipients_line() {
            Some(to) => format!("Communication {} sent by {} to {to}", p.draft, p.output),
            None => format!("Communication {} sent by {}", p.draft, p.output),
        },
        CommsDeliveryFailed(p) => format!(
            "Communication {} not delivered by {} (attempt {}){}",
            p.draft,
            p.output,
            p.attempt,
            suffix(&p.error)
        ),
        NotifyDelivered(p) => format!("{} notified by {}", p.team, p.route),
        NotifyFailed(p) => format!(
            "{} not notified by {} (attempt {}){}",
            p.team,
            p.route,
            p.attempt,
            suffix(&p.error)
        ),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// The document, rendered to Markdown and HTML from one description

enum Block {
    Title(String),
    Heading(String),
    Sub(String),
    Para(String),
    Table {
        head: Vec<&'static str>,
        rows: Vec<Vec<String>>,
    },
    List(Vec<String>),
    Checklist(Vec<String>),
    Pre {
        caption: String,
        text: String,
    },
    Chart,
}

fn document(summary: &Summary, events: &[Event], objectives: &Objectives) -> Vec<Block> {
    let mut doc = Vec::new();
    let drill = if summary.drill { " [DRILL]" } else { "" };
    let title = if summary.drill && !crate::incident::title_is_drill(&summary.title) {
        format!(
            "Post-mortem{drill}: {} — {}",
            summary.incident, summary.title
        )
    } else {
        format!("Post-mortem: {} — {}", summary.incident, summary.title)
    };
    doc.push(Block::Title(title));
    let origin = summary.origin(events.first().map(|e| e.at));

    // Summary
    doc.push(Block::Heading("Summary".into()));
    let mut text = String::new();
    if summary.drill {
        text.push_str("This incident was a drill: the outage was simulated. ");
    }
    let _ = write!(
        text,
        "Incident {} ({}) was declared at {}{} and {}.",
        summary.incident,
        summary.title,
        utc_ms_or_dash(summary.declared_at),
        summary
            .declared_by
            .as_ref()
            .map(|b| format!(" by {b}"))
            .unwrap_or_default(),
        match summary.resolved_at {
            Some(at) => format!(
                "resolved at {}{}",
                utc_ms(at),
                summary
                    .resolved_by
                    .as_ref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default()
            ),
            None => "is still open".to_owned(),
        }
    );
    let _ = write!(
        text,
        " Severity {}; commander {}.",
        summary.severity,
        summary.commander.as_deref().unwrap_or("none named")
    );
    for run in &summary.runs {
        let _ = write!(
            text,
            " Runbook {} ({}) {}{}.",
            run.runbook,
            run.workstream.map_or("no workstream", Workstream::as_str),
            run.status,
            run.ended_at
                .map(|at| format!(" at {}", utc_ms(at)))
                .unwrap_or_default()
        );
    }
    doc.push(Block::Para(text));

    // Impact
    doc.push(Block::Heading("Impact".into()));
    let mut impact = Vec::new();
    impact.push(format!(
        "Providers affected: {}",
        if summary.providers.is_empty() {
            "none recorded".to_owned()
        } else {
            summary.providers.join(", ")
        }
    ));
    impact.push(format!("Severity: {}", summary.severity));
    impact.push(format!(
        "Workstreams affected: {}",
        if summary.workstreams.is_empty() {
            "none recorded".to_owned()
        } else {
            summary
                .workstreams
                .iter()
                .map(|w| w.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    let workstreams: BTreeSet<&str> = summary
        .runs
        .iter()
        .filter_map(|r| r.workstream.map(Workstream::as_str))
        .collect();
    impact.push(format!(
        "Workstreams recovered: {}",
        if workstreams.is_empty() {
            "none".to_owned()
        } else {
            workstreams.into_iter().collect::<Vec<_>>().join(", ")
        }
    ));
    if let Some(origin) = origin {
        let recovered = summary
            .runs
            .iter()
            .filter(|r| r.status == "succeeded")
            .filter_map(|r| r.ended_at)
            .max();
        impact.push(match recovered {
            Some(at) => format!(
                "Time from the first signal to the last recovery: {}",
                span(at - origin)
            ),
            None => "No runbook recovered service.".to_owned(),
        });
        if let Some(at) = summary.providers_recovered_at {
            impact.push(format!(
                "Providers healthy again at {} ({})",
                utc_ms(at),
                t_offset(at, origin)
            ));
        }
    }
    doc.push(Block::List(impact));

    // Objectives
    doc.push(Block::Heading("Objectives".into()));
    let rows = objective_rows(summary, objectives);
    doc.push(Block::Table {
        head: vec!["Objective", "Target", "Achieved", "Result"],
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.target
                        .map_or_else(|| "—".to_owned(), |t| HumanDuration(t).to_string()),
                    r.achieved.map_or_else(
                        || r.note.clone().unwrap_or_else(|| "—".to_owned()),
                        format_elapsed,
                    ),
                    r.verdict.as_str().to_owned(),
                ]
            })
            .collect(),
    });
    doc.push(Block::Para(
        "RTO is measured from the first signal (the declaration when none was logged) to the runbook's success; RPO is the data-loss window measured from the restored rows (outage start − newest restored row; zero after a direct copy), else the age of the backup the run checked.".into(),
    ));
    doc.push(Block::Chart);

    // Detection
    doc.push(Block::Heading("Detection".into()));
    let mut milestones: Vec<(String, DateTime<Utc>)> = Vec::new();
    for outage in &summary.simulated_outages {
        milestones.push((
            format!("Simulated outage of {} (drill)", outage.provider),
            outage.outage_at,
        ));
    }
    if let Some(sig) = &summary.first_signal {
        milestones.push(("First signal".into(), sig.at));
    }
    if let Some(at) = summary.confirmed_at {
        milestones.push(("Confirmation".into(), at));
    }
    if let Some(at) = summary.alert_at {
        milestones.push(("Alert posted".into(), at));
    }
    if let Some(at) = summary.declared_at {
        milestones.push(("Declaration".into(), at));
    }
    milestones.sort_by_key(|(_, at)| *at);
    let mut previous: Option<DateTime<Utc>> = None;
    doc.push(Block::Table {
        head: vec!["Milestone", "Time (UTC)", "T+", "Since previous"],
        rows: milestones
            .iter()
            .map(|(name, at)| {
                let row = vec![
                    name.clone(),
                    utc_ms(*at),
                    origin.map(|o| t_offset(*at, o)).unwrap_or_default(),
                    previous.map_or_else(|| "—".to_owned(), |p| span(*at - p)),
                ];
                previous = Some(*at);
                row
            })
            .collect(),
    });
    if let Some(sig) = &summary.first_signal {
        doc.push(Block::Para(format!(
            "The first signal was {} from {}.",
            sig.kind,
            sig.provider.as_deref().unwrap_or("an unknown provider")
        )));
    }
    if !summary.simulated_outages.is_empty() {
        doc.push(Block::List(
            summary
                .simulated_outages
                .iter()
                .map(|o| {
                    format!(
                        "Detection time of the drill for {}: {} (simulated outage → confirmed alert)",
                        o.provider,
                        o.detection_ms
                            .map_or_else(|| "never confirmed".to_owned(), |ms| ms_text(Some(ms)))
                    )
                })
                .collect(),
        ));
    }

    // Timeline
    doc.push(Block::Heading("Timeline".into()));
    doc.push(Block::Table {
        head: vec!["#", "Time (UTC)", "T+", "Actor", "What happened"],
        rows: events
            .iter()
            .map(|e| {
                vec![
                    e.seq.to_string(),
                    utc_ms(e.at),
                    origin.map(|o| t_offset(e.at, o)).unwrap_or_default(),
                    one_line(&who(&e.actor)),
                    describe(e),
                ]
            })
            .collect(),
    });

    // Approvals
    doc.push(Block::Heading("Approvals".into()));
    let approvals: Vec<Vec<String>> = summary
        .runs
        .iter()
        .flat_map(|run| {
            run.approvals.iter().map(move |a| {
                vec![
                    run.runbook.clone(),
                    run.request.clone().unwrap_or_default(),
                    run.requested_by.clone().unwrap_or_default(),
                    a.by.clone(),
                    utc_ms(a.at),
                    ms_text(a.wait_ms),
                ]
            })
        })
        .collect();
    if approvals.is_empty() {
        doc.push(Block::Para("No approvals were recorded.".into()));
    } else {
        doc.push(Block::Table {
            head: vec![
                "Runbook",
                "Request",
                "Requested by",
                "Approved by",
                "At (UTC)",
                "Waited",
            ],
            rows: approvals,
        });
    }

    // Steps
    doc.push(Block::Heading("Steps".into()));
    if summary.runs.is_empty() {
        doc.push(Block::Para("No runbook was run.".into()));
    }
    for run in &summary.runs {
        doc.push(Block::Para(format!(
            "Run {} — {} ({}), {}; started {}, ended {}.",
            run.run,
            run.runbook,
            run.workstream.map_or("no workstream", Workstream::as_str),
            run.status,
            utc_ms(run.started_at),
            utc_ms_or_dash(run.ended_at)
        )));
        doc.push(Block::Table {
            head: vec![
                "Step", "Kind", "Started", "Ended", "Duration", "Attempts", "Outcome",
            ],
            rows: run
                .steps
                .iter()
                .map(|st| {
                    vec![
                        st.id.clone(),
                        st.kind.clone().unwrap_or_default(),
                        utc_ms_or_dash(st.started_at),
                        utc_ms_or_dash(st.ended_at),
                        ms_text(st.duration_ms),
                        st.attempts.to_string(),
                        match &st.error {
                            Some(err) => format!("{}: {}", st.outcome, one_line(err)),
                            None => st.outcome.clone(),
                        },
                    ]
                })
                .collect(),
        });
    }

    // Communications
    doc.push(Block::Heading("Communications".into()));
    doc.push(Block::Sub("Sent".into()));
    if summary.sent.is_empty() {
        doc.push(Block::Para("Nothing was sent.".into()));
    }
    for c in &summary.sent {
        doc.push(Block::Pre {
            caption: format!(
                "{} — {}{}{}{}{}",
                utc_ms(c.at),
                if c.kind == "notify" {
                    "team notification"
                } else {
                    "client notice"
                },
                c.draft
                    .as_ref()
                    .map(|d| format!(" {d}"))
                    .unwrap_or_default(),
                c.to.as_ref()
                    .map(|t| format!(" to {t}"))
                    .unwrap_or_default(),
                if c.via.is_empty() {
                    String::new()
                } else {
                    format!(" by {}", c.via.join(", "))
                },
                c.step
                    .as_ref()
                    .map(|s| format!(" (step {s})"))
                    .unwrap_or_default()
            ),
            text: c.text.clone(),
        });
    }
    doc.push(Block::Sub("Drafts".into()));
    if summary.drafts.is_empty() {
        doc.push(Block::Para("No drafts were recorded.".into()));
    }
    for c in &summary.drafts {
        doc.push(Block::Pre {
            caption: format!(
                "{} — {}{} ({}){}",
                utc_ms(c.at),
                c.draft.as_deref().unwrap_or("draft"),
                c.to.as_ref()
                    .map(|t| format!(" for {t}"))
                    .unwrap_or_default(),
                c.kind,
                c.step
                    .as_ref()
                    .map(|s| format!(" (step {s})"))
                    .unwrap_or_default()
            ),
            text: c.text.clone(),
        });
    }

    // Lessons and notes
    doc.push(Block::Heading("Lessons learned".into()));
    let lessons: Vec<String> = summary
        .notes
        .iter()
        .filter(|n| n.lesson)
        .map(|n| format!("{} ({}, {})", one_line(&n.text), n.by, utc_ms(n.at)))
        .collect();
    if lessons.is_empty() {
        doc.push(Block::Para(
            "None recorded yet (`/incident note lesson:true`).".into(),
        ));
    } else {
        doc.push(Block::List(lessons));
    }
    let notes: Vec<String> = summary
        .notes
        .iter()
        .filter(|n| !n.lesson)
        .map(|n| format!("{} ({}, {})", one_line(&n.text), n.by, utc_ms(n.at)))
        .collect();
    if !notes.is_empty() {
        doc.push(Block::Heading("Notes".into()));
        doc.push(Block::List(notes));
    }

    // Follow-ups
    doc.push(Block::Heading("Open follow-ups".into()));
    let mut todo = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.verdict == ObjectiveOutcome::Missed)
    {
        todo.push(format!(
            "{} missed: achieved {} against a target of {}",
            r.name,
            r.achieved.map_or_else(
                || r.note.clone().unwrap_or_else(|| "nothing".into()),
                format_elapsed
            ),
            dur_opt(r.target)
        ));
    }
    for run in &summary.runs {
        for st in run
            .steps
            .iter()
            .filter(|st| matches!(st.outcome.as_str(), "failed" | "skipped" | "interrupted"))
        {
            todo.push(format!(
                "Step {} of {} {}{}",
                st.id,
                run.runbook,
                st.outcome,
                st.error
                    .as_ref()
                    .map(|e| format!(": {}", one_line(e)))
                    .unwrap_or_default()
            ));
        }
    }
    todo.push("Review the plan (DRP) and the runbooks with these lessons".into());
    doc.push(Block::Checklist(todo));
    doc
}

fn md_cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

/// A post-mortem ready to edit.
pub fn markdown(summary: &Summary, events: &[Event], objectives: &Objectives) -> String {
    let mut out = String::new();
    for block in document(summary, events, objectives) {
        match block {
            Block::Title(t) => {
                let _ = writeln!(out, "# {}\n", one_line(&t));
            }
            Block::Heading(h) => {
                let _ = writeln!(out, "## {h}\n");
            }
            Block::Sub(h) => {
                let _ = writeln!(out, "### {h}\n");
            }
            Block::Para(p) => {
                let _ = writeln!(out, "{p}\n");
            }
            Block::Table { head, rows } => {
                let _ = writeln!(out, "| {} |", head.join(" | "));
                let _ = writeln!(out, "|{}", head.iter().map(|_| "---|").collect::<String>());
                for row in rows {
                    let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
                    let _ = writeln!(out, "| {} |", cells.join(" | "));
                }
                out.push('\n');
            }
            Block::List(items) => {
                for item in items {
                    let _ = writeln!(out, "- {}", one_line(&item));
                }
                out.push('\n');
            }
            Block::Checklist(items) => {
                for item in items {
                    let _ = writeln!(out, "- [ ] {}", one_line(&item));
                }
                out.push('\n');
            }
            Block::Pre { caption, text } => {
                // A fence longer than any backtick run inside keeps the text exact.
                let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
                let fence = "`".repeat(longest.max(2) + 1);
                let _ = writeln!(out, "{caption}\n\n{fence}text\n{text}\n{fence}\n");
            }
            Block::Chart => {}
        }
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// `{"summary": …, "events": [the envelopes exactly as stored]}`.
pub fn json(summary: &Summary, events: &[Event]) -> String {
    #[derive(Serialize)]
    struct Export<'a> {
        summary: &'a Summary,
        events: &'a [Event],
    }
    serde_json::to_string_pretty(&Export { summary, events }).unwrap_or_default()
}

fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// One row per event, RFC 4180 (CRLF line ends; fields with `,`, `"`, CR or LF quoted).
pub fn csv(events: &[Event]) -> String {
    let mut out = String::from("seq,at,actor,incident,run,kind,data\r\n");
    for e in events {
        let fields = [
            e.seq.to_string(),
            e.at.to_rfc3339_opts(SecondsFormat::Millis, true),
            e.actor.to_string(),
            e.incident
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            e.run.as_ref().map(ToString::to_string).unwrap_or_default(),
            e.kind.clone(),
            serde_json::to_string(&e.data).unwrap_or_default(),
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Escapes text for HTML element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}pre{background:#f6f6f6;padding:.75em;white-space:pre-wrap}\
.chart{border:1px solid #ddd;margin:1em 0}ul.todo{list-style:none;padding-left:1em}";

/// One self-contained HTML page: the Markdown's content, escaped, plus an inline SVG chart.
pub fn html(summary: &Summary, events: &[Event], objectives: &Objectives) -> String {
    let doc = document(summary, events, objectives);
    let title = doc
        .iter()
        .find_map(|b| match b {
            Block::Title(t) => Some(t.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    for block in doc {
        match block {
            Block::Title(t) => {
                let _ = writeln!(out, "<h1>{}</h1>", esc(&t));
            }
            Block::Heading(h) => {
                let _ = writeln!(out, "<h2>{}</h2>", esc(&h));
            }
            Block::Sub(h) => {
                let _ = writeln!(out, "<h3>{}</h3>", esc(&h));
            }
            Block::Para(p) => {
                let _ = writeln!(out, "<p>{}</p>", esc(&p));
            }
            Block::Table { head, rows } => {
                out.push_str("<table>\n<thead><tr>");
                for h in head {
                    let _ = write!(out, "<th>{}</th>", esc(h));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for row in rows {
                    out.push_str("<tr>");
                    for cell in row {
                        let _ = write!(out, "<td>{}</td>", esc(&cell));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    let _ = writeln!(out, "<li>{}</li>", esc(&item));
                }
                out.push_str("</ul>\n");
            }
            Block::Checklist(items) => {
                out.push_str("<ul class=\"todo\">\n");
                for item in items {
                    let _ = writeln!(out, "<li>&#9744; {}</li>", esc(&item));
                }
                out.push_str("</ul>\n");
            }
            Block::Pre { caption, text } => {
                let _ = writeln!(out, "<p>{}</p>\n<pre>{}</pre>", esc(&caption), esc(&text));
            }
            Block::Chart => out.push_str(&chart(summary, events, objectives)),
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The SVG chart: one lane per workstream, steps as bars, markers and the RTO budget.
fn chart(summary: &Summary, events: &[Event], objectives: &Objectives) -> String {
    let Some(origin) = summary.origin(events.first().map(|e| e.at)) else {
        return String::new();
    };
    let last = events.iter().map(|e| e.at).max().unwrap_or(origin);
    let total_ms = (last - origin).num_milliseconds().max(1) as f64;
    let (left, width, lane_h, top) = (170.0, 700.0, 44.0, 50.0);
    let x = |at: DateTime<Utc>| {
        let ms = (at - origin).num_milliseconds() as f64;
        left + (ms / total_ms).clamp(0.0, 1.0) * width
    };
    let mut lanes: Vec<(String, Vec<&RunSummary>)> = Vec::new();
    for run in &summary.runs {
        let name = run
            .workstream
            .map_or_else(|| run.runbook.clone(), |w| w.to_string());
        match lanes.iter_mut().find(|(n, _)| *n == name) {
            Some((_, runs)) => runs.push(run),
            None => lanes.push((name, vec![run])),
        }
    }
    if lanes.is_empty() {
        lanes.push(("incident".to_owned(), Vec::new()));
    }
    // An RTO budget that ends after the chart is drawn past a break in the axis, at `beyond`.
    let budget_end = |ws: Option<Workstream>| {
        let budget = ws.and_then(|w| objectives.rto_for(w))?;
        let end = chrono::Duration::from_std(budget.get())
            .ok()
            .and_then(|d| origin.checked_add_signed(d))?;
        Some((budget, end))
    };
    let any_beyond = lanes
        .iter()
        .filter_map(|(_, runs)| budget_end(runs.first().and_then(|r| r.workstream)))
        .any(|(_, end)| end > last);
    let beyond = left + width + 60.0;
    let height = top + lanes.len() as f64 * lane_h + 40.0;
    let total_w = left + width + if any_beyond { 190.0 } else { 30.0 };
    let mut svg = format!(
        "<svg class=\"chart\" width=\"{total_w}\" height=\"{height}\" viewBox=\"0 0 {total_w} {height}\" role=\"img\" aria-label=\"Recovery chart\">\n"
    );
    let bottom = top + lanes.len() as f64 * lane_h;
    let marker = |svg: &mut String, at: DateTime<Utc>, label: &str, color: &str, row: f64| {
        let px = x(at);
        let _ = writeln!(
            svg,
            "<line x1=\"{px:.1}\" y1=\"{top}\" x2=\"{px:.1}\" y2=\"{bottom}\" stroke=\"{color}\" stroke-dasharray=\"4 3\"><title>{} {}</title></line>\n<text x=\"{px:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"{color}\">{}</text>",
            esc(label),
            esc(&utc_ms(at)),
            10.0 + row * 10.0,
            esc(label)
        );
    };
    // Lane backgrounds first, so the markers' lines stay visible on top of them.
    for (i, (name, _)) in lanes.iter().enumerate() {
        let y = top + i as f64 * lane_h;
        let _ = writeln!(
            svg,
            "<rect x=\"0\" y=\"{y}\" width=\"{total_w}\" height=\"{lane_h}\" fill=\"{}\"/>\n<text x=\"5\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            if i % 2 == 0 { "#fafafa" } else { "#f0f0f0" },
            y + lane_h / 2.0 + 4.0,
            esc(name)
        );
    }
    if let Some(sig) = &summary.first_signal {
        marker(&mut svg, sig.at, "first signal", "#c00", 0.0);
    }
    if let Some(at) = summary.alert_at {
        marker(&mut svg, at, "alert", "#a0a", 1.0);
    }
    if let Some(at) = summary.confirmed_at {
        marker(&mut svg, at, "confirmed", "#609", 2.0);
    }
    if let Some(at) = summary.declared_at {
        marker(&mut svg, at, "declared", "#d60", 3.0);
    }
    if any_beyond {
        // The axis break: the time between the chart's end and the budget is not to scale.
        let bx = left + width + 20.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" y1=\"{bottom}\" x2=\"{beyond}\" y2=\"{bottom}\" stroke=\"#666\"/>\n<text x=\"{bx:.1}\" y=\"{:.1}\" font-size=\"14\" fill=\"#666\" text-anchor=\"middle\">≈<title>axis break: not to scale beyond {}</title></text>",
            bottom + 5.0,
            esc(&t_offset(last, origin))
        );
    }
    for (i, (_, runs)) in lanes.iter().enumerate() {
        let y = top + i as f64 * lane_h;
        let ws = runs.first().and_then(|r| r.workstream);
        if let Some((budget, end)) = budget_end(ws) {
            let (px, note) = if end <= last {
                (x(end), String::new())
            } else {
                (beyond, format!(" at {}", t_offset(end, origin)))
            };
            let _ = writeln!(
                svg,
                "<line x1=\"{px:.1}\" y1=\"{y}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#900\" stroke-width=\"2\"><title>RTO budget {budget} ends {}</title></line>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#900\">RTO {budget}{}</text>",
                y + lane_h,
                esc(&t_offset(end, origin)),
                px + 3.0,
                y + 11.0,
                esc(&note)
            );
        }
        for run in runs {
            for a in &run.approvals {
                let px = x(a.at);
                let _ = writeln!(
                    svg,
                    "<circle cx=\"{px:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"#36c\"><title>approved by {} at {}</title></circle>",
                    y + 10.0,
                    esc(&a.by),
                    esc(&utc_ms(a.at))
                );
            }
            for st in &run.steps {
                let Some(start) = st.started_at else { continue };
                let end = st.ended_at.unwrap_or(last);
                let (x1, x2) = (x(start), x(end));
                let color = match st.outcome.as_str() {
                    "succeeded" => "#4a4",
                    "failed" | "interrupted" => "#c33",
                    "skipped" => "#aaa",
                    _ => "#fc3",
                };
                let _ = writeln!(
                    svg,
                    "<rect x=\"{x1:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"14\" fill=\"{color}\" stroke=\"#333\" stroke-width=\"0.5\"><title>{} {} ({})</title></rect>",
                    y + 18.0,
                    (x2 - x1).max(2.0),
                    esc(&st.id),
                    esc(&st.outcome),
                    esc(&ms_text(st.duration_ms))
                );
            }
            if run.status == "succeeded"
                && let Some(end) = run.ended_at
            {
                let px = x(end);
                let _ = writeln!(
                    svg,
                    "<polygon points=\"{px:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"#080\"><title>recovered at {}</title></polygon>",
                    y + 36.0,
                    px - 5.0,
                    y + 44.0,
                    px + 5.0,
                    y + 44.0,
                    esc(&utc_ms(end))
                );
            }
        }
    }
    let _ = writeln!(
        svg,
        "<text x=\"{left}\" y=\"{:.1}\" font-size=\"10\">{}</text>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
        bottom + 14.0,
        esc(&t_offset(origin, origin)),
        left + width,
        bottom + 14.0,
        esc(&t_offset(last, origin))
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use crate::domain::event::{GENESIS, NewEvent};
    use crate::incident::incident_events;
    use serde_json::{Value, json};

    const INC: &str = "INC-20261125-0901";
    const RUN: &str = "RUN-20261125-090210-failover-hosting-ab12";
    const URL: &str = "https://status.heroku.com/incidents/1";

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn user(name: &str) -> Actor {
        Actor::User {
            id: format!("id-{name}"),
            name: name.to_owned(),
        }
    }

    fn feed(name: &str) -> Actor {
        Actor::Feed {
            name: name.to_owned(),
        }
    }

    fn person(name: &str) -> Value {
        json!({ "id": format!("id-{name}"), "name": name, "roles": ["approver"] })
    }

    /// Seals events onto a chain with increasing seq, `ms` after 09:00:00 UTC.
    #[derive(Default)]
    struct Log {
        events: Vec<Event>,
    }

    impl Log {
        fn at(&mut self, ms: i64, new: NewEvent) -> &mut Self {
            let prev = self
                .events
                .last()
                .map_or(GENESIS.to_owned(), |e| e.hash.clone());
            let seq = self.events.len() as u64 + 1;
            let at = t0() + chrono::Duration::milliseconds(ms);
            self.events.push(Event::seal(new, seq, at, &prev));
            self
        }
    }

    fn inc() -> IncidentId {
        IncidentId::from(INC)
    }

    #[test]
    fn every_event_kind_reads_as_a_sentence() {
        let kinds = [
            "incident.thread_opened",
            "run.request_expired",
            "drill.requested",
            "clock.checkpoint_failed",
            "reminder.failed",
            "rpo.alert_failed",
            "comms.drafted",
            "comms.edited",
            "comms.approved",
            "comms.approval_refused",
            "comms.discarded",
            "comms.resend",
            "comms.sent",
            "comms.delivery_failed",
            "notify.delivered",
            "notify.failed",
        ];
        for kind in kinds {
            let data = json!({
                "draft": "DRAFT-1", "output": "email", "team": "engineering", "route": "webhook",
                "request": "REQ-1", "scenario": "both", "workstream": "hosting",
                "reminder": "drill", "error": "refused", "attempt": 2, "version": 2,
            });
            let event = Event::seal(NewEvent::new(Actor::Bot, kind, data), 1, t0(), GENESIS);
            let text = describe(&event);
            assert_ne!(text, kind, "{kind} has no description");
            assert!(!text.contains('{'), "{kind}: {text}");
        }
        let sent = Event::seal(
            NewEvent::new(
                Actor::Bot,
                "comms.delivery_failed",
                json!({ "draft": "DRAFT-2", "output": "email", "attempt": 3, "error": "550 no such user" }),
            ),
            1,
            t0(),
            GENESIS,
        );
        assert_eq!(
            describe(&sent),
            "Communication DRAFT-2 not delivered by email (attempt 3): 550 no such user"
        );
    }

    fn run_id() -> RunId {
        RunId::from(RUN)
    }

    fn ev(actor: Actor, kind: &str, data: Value) -> NewEvent {
        NewEvent::new(actor, kind, data)
    }

    fn step(kind: &str, data: Value) -> NewEvent {
        ev(Actor::Bot, kind, data).run(run_id())
    }

    /// A Heroku outage: feeds, alert, declaration, two approvals, a run with a retried step,
    /// a failed `continue` step and a skipped one, a lesson, recovery, resolution — with
    /// unrelated events before and after that must stay out.
    fn recorded() -> Vec<Event> {
        let s = 1000;
        let mut log = Log::default();
        log.at(
            -5000 * s,
            ev(user("zed"), "incident.declared", json!({"title": "Old one"}))
                .incident(IncidentId::from("INC-0")),
        )
        .at(
            -4000 * s,
            ev(user("zed"), "incident.resolved", json!({})).incident(IncidentId::from("INC-0")),
        )
        .at(
            -3600 * s,
            ev(feed("openai-status"), "feed.outage", json!({"provider": "openai", "from": "operational", "to": "major_outage"})),
        )
        .at(
            -3000 * s,
            ev(feed("openai-status"), "feed.recovered", json!({"provider": "openai", "from": "major_outage", "to": "operational"})),
        )
        .at(
            0,
            ev(feed("heroku-status"), "feed.observed", json!({"provider": "heroku", "from": "operational", "to": "major_outage", "summary": format!("Apps unavailable, see {URL}"), "reason": null})),
        )
        .at(
            2 * s,
            ev(feed("heroku-status"), "feed.outage", json!({"provider": "heroku", "from": "operational", "to": "major_outage", "summary": "Apps unavailable"})),
        )
        .at(
            3 * s,
            ev(Actor::Bot, "alert.posted", json!({"alert_id": "A1", "provider": "heroku", "level": "major_outage", "confirmed": false, "sources": ["heroku-status"], "incidents": [], "message": null})),
        )
        .at(
            5 * s,
            ev(Actor::Bot, "alert.updated", json!({"alert_id": "A1", "provider": "heroku", "level": "major_outage", "confirmed": true, "sources": ["heroku-status", "heroku-probe"], "incidents": [], "message": null})),
        )
        .at(
            60 * s,
            ev(user("alice"), "incident.declared", json!({"title": "Heroku outage", "severity": "sev1", "commander": "carol", "workstreams": ["hosting"]})).incident(inc()),
        )
        .at(
            70 * s,
            ev(user("alice"), "run.requested", json!({"request": "REQ-1", "runbook": "failover-hosting", "detail": {}})).incident(inc()),
        )
        .at(
            100 * s,
            ev(user("bob"), "run.approval_counted", json!({"request": "REQ-1", "by": person("bob")})),
        )
        .at(
            130 * s,
            ev(user("carol"), "run.approval_counted", json!({"request": "REQ-1", "by": person("carol")})),
        )
        .at(
            130 * s,
            ev(user("carol"), "run.started", json!({"runbook": "failover-hosting", "title": "Hosting failover", "workstream": "hosting", "file_hash": "h", "params": {}, "steps": ["scale", "restore", "notify", "dns", "smoke", "watch"]}))
                .run(run_id())
                .incident(inc()),
        )
        .at(
            130 * s + 500,
            ev(user("carol"), "run.approved", json!({"request": "REQ-1", "run": RUN, "wait_secs": 60})).run(run_id()),
        )
        .at(131 * s, step("step.started", json!({"step": "scale", "kind": "ecs_scale", "attempt": 1})))
        .at(140 * s, step("step.retrying", json!({"step": "scale", "attempt": 1, "error": "throttled", "delay_ms": 1000})))
        .at(141 * s, step("step.started", json!({"step": "scale", "kind": "ecs_scale", "attempt": 2})))
        .at(200 * s, step("step.succeeded", json!({"step": "scale", "kind": "ecs_scale", "summary": "2 services stable", "output": {}, "duration_ms": 59000, "attempts": 2})))
        .at(201 * s, step("step.started", json!({"step": "restore", "kind": "backup_check", "attempt": 1})))
        .at(210 * s, step("step.succeeded", json!({"step": "restore", "kind": "backup_check", "summary": "fresh", "output": {"age_secs": 720, "completed_at": "2026-11-25T08:48:30Z"}, "duration_ms": 9000, "attempts": 1})))
        .at(211 * s, step("step.started", json!({"step": "notify", "kind": "notify", "attempt": 1})))
        .at(212 * s, step("step.succeeded", json!({"step": "notify", "kind": "notify", "summary": "told engineering", "output": {"team": "engineering", "text": "[RUN-1] Hosting failover started, \"ETA\" 30m,\nstand by"}, "duration_ms": 1000, "attempts": 1})))
        .at(213 * s, step("step.started", json!({"step": "dns", "kind": "route53_upsert", "attempt": 1})))
        .at(220 * s, step("step.failed", json!({"step": "dns", "kind": "route53_upsert", "error": "zone not found", "duration_ms": 7000, "attempts": 1, "on_failure": "continue"})))
        .at(221 * s, ev(user("alice"), "step.skipped", json!({"step": "smoke"})).run(run_id()))
        .at(300 * s, step("run.succeeded", json!({"duration_ms": 170000})))
        .at(
            400 * s,
            ev(user("alice"), "note.added", json!({"text": "Backups should run hourly", "lesson": true})).incident(inc()),
        )
        .at(
            410 * s,
            ev(user("bob"), "note.added", json!({"text": "Dan joined <b>late</b> | pager", "lesson": false})).incident(inc()),
        )
        .at(
            500 * s,
            ev(user("alice"), "custom.thing", json!({})).incident(inc()),
        )
        .at(
            900 * s,
            ev(Actor::Bot, "alert.recovered", json!({"alert_id": "A1", "provider": "heroku", "level": "operational", "confirmed": true, "duration_secs": 897})),
        )
        .at(
            1000 * s,
            ev(user("alice"), "incident.resolved", json!({})).incident(inc()),
        )
        .at(
            2000 * s,
            ev(feed("heroku-status"), "feed.observed", json!({"provider": "heroku", "from": "operational", "to": "degraded"})),
        );
        log.events
    }

    fn objectives(hosting: u64) -> Objectives {
        Objectives {
            hosting_rto: HumanDuration::from_secs(hosting),
            llm_rto: HumanDuration::from_secs(2 * 3600),
            rpo: HumanDuration::from_secs(3600),
            data_rto: None,
            clock_start: crate::config::ClockStart::FirstSignal,
        }
    }

    fn selected() -> (Vec<Event>, Summary) {
        let events = incident_events(&recorded(), &inc());
        let summary = summarize(&events, &inc());
        (events, summary)
    }

    #[test]
    fn selection_keeps_runs_approvals_and_the_providers_episode_only() {
        let all = recorded();
        let (events, _) = selected();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        // Starts at the unhealthy raw observation, ends at the resolution.
        assert_eq!(events.first().unwrap().kind, "feed.observed");
        assert_eq!(events.first().unwrap().at, t0());
        assert_eq!(events.last().unwrap().kind, "incident.resolved");
        assert_eq!(
            kinds
                .iter()
                .filter(|k| **k == "run.approval_counted")
                .count(),
            2
        );
        assert!(kinds.contains(&"step.retrying"));
        assert!(kinds.contains(&"alert.recovered"));
        assert!(
            !events
                .iter()
                .any(|e| crate::incident::provider_of(e).as_deref() == Some("openai")),
            "a provider that recovered before the declaration is not involved"
        );
        assert!(
            !events
                .iter()
                .any(|e| e.incident == Some(IncidentId::from("INC-0")))
        );
        assert_eq!(events.len(), all.len() - 5, "{kinds:?}");
        assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    }

    #[test]
    fn summary_measures_detection_runs_steps_and_approvals() {
        let (_, s) = selected();
        assert_eq!(s.title, "Heroku outage");
        assert!(!s.drill);
        assert_eq!(s.providers, vec!["heroku".to_owned()]);
        let sig = s.first_signal.as_ref().unwrap();
        assert_eq!(sig.kind, "feed.outage");
        assert_eq!(sig.at, t0() + chrono::Duration::seconds(2));
        assert_eq!(s.alert_at, Some(t0() + chrono::Duration::seconds(3)));
        assert_eq!(s.confirmed_at, Some(t0() + chrono::Duration::seconds(5)));
        assert_eq!(s.declared_at, Some(t0() + chrono::Duration::seconds(60)));
        assert_eq!(s.declared_by.as_deref(), Some("alice"));
        assert_eq!(s.resolved_at, Some(t0() + chrono::Duration::seconds(1000)));

        assert_eq!(s.runs.len(), 1);
        let run = &s.runs[0];
        assert_eq!(run.status, "succeeded");
        assert_eq!(run.workstream, Some(Workstream::Hosting));
        assert_eq!(
            run.achieved_rto_ms,
            Some(298_000),
            "run.succeeded − first signal"
        );
        assert_eq!(run.achieved_rpo_secs, Some(720));
        assert_eq!(run.requested_by.as_deref(), Some("alice"));
        let waits: Vec<_> = run
            .approvals
            .iter()
            .map(|a| (a.by.as_str(), a.wait_ms))
            .collect();
        assert_eq!(waits, vec![("bob", Some(30_000)), ("carol", Some(60_000))]);

        let outcome = |id: &str| run.steps.iter().find(|st| st.id == id).unwrap();
        assert_eq!(outcome("scale").attempts, 2);
        assert_eq!(outcome("scale").duration_ms, Some(59_000));
        assert_eq!(outcome("scale").kind.as_deref(), Some("ecs_scale"));
        assert_eq!(outcome("dns").outcome, "failed");
        assert_eq!(outcome("dns").error.as_deref(), Some("zone not found"));
        assert_eq!(outcome("smoke").outcome, "skipped");
        assert_eq!(outcome("watch").outcome, "not_run");

        assert_eq!(s.notes.iter().filter(|n| n.lesson).count(), 1);
        assert_eq!(s.sent.len(), 1, "the notify step's output, sent");
        assert!(s.drafts.is_empty());
        assert_eq!(
            s.sent[0].text,
            "[RUN-1] Hosting failover started, \"ETA\" 30m,\nstand by"
        );
    }

    #[test]
    fn t_offsets_count_from_the_first_signal() {
        let o = t0();
        assert_eq!(t_offset(o, o), "T+00:00:00");
        assert_eq!(
            t_offset(o + chrono::Duration::seconds(3723), o),
            "T+01:02:03"
        );
        assert_eq!(
            t_offset(o + chrono::Duration::milliseconds(1500), o),
            "T+00:00:01.500"
        );
        assert_eq!(t_offset(o - chrono::Duration::seconds(2), o), "T-00:00:02");

        let (events, s) = selected();
        let md = markdown(&s, &events, &objectives(4 * 3600));
        // The raw observation came 2 s before the settled signal the clock starts from.
        assert!(
            md.contains("| 2026-11-25 09:00:00.000 UTC | T-00:00:02 | feed:heroku-status |"),
            "{md}"
        );
        assert!(
            md.contains("| Declaration | 2026-11-25 09:01:00.000 UTC | T+00:00:58 | 55s |"),
            "{md}"
        );
        assert!(md.contains("| T+00:04:58 | bot | Run succeeded |"), "{md}");
    }

    #[test]
    fn rto_is_met_within_budget_and_missed_beyond_it_or_without_recovery() {
        let (events, s) = selected();
        let rows = objective_rows(&s, &objectives(4 * 3600));
        assert_eq!(rows[0].name, "RTO hosting");
        assert_eq!(rows[0].verdict, ObjectiveOutcome::Met);
        assert_eq!(rows[1].name, "RPO");
        assert_eq!(rows[1].achieved, Some(Duration::from_secs(720)));
        assert_eq!(rows[1].verdict, ObjectiveOutcome::Met);

        // Exactly on the budget is met; one second less of budget is missed.
        assert_eq!(
            objective_rows(&s, &objectives(298))[0].verdict,
            ObjectiveOutcome::Met
        );
        let tight = objectives(297);
        assert_eq!(
            objective_rows(&s, &tight)[0].verdict,
            ObjectiveOutcome::Missed
        );
        let md = markdown(&s, &events, &tight);
        assert!(
            md.contains("| RTO hosting | 297s | 4m 58s | MISSED |"),
            "{md}"
        );
        assert!(
            md.contains("- [ ] RTO hosting missed: achieved 4m 58s against a target of 4m 57s"),
            "{md}"
        );

        // A run that never succeeded misses its RTO whatever the budget.
        let failed: Vec<Event> = events
            .iter()
            .filter(|e| e.kind != "run.succeeded")
            .cloned()
            .collect();
        let s = summarize(&failed, &inc());
        let row = &objective_rows(&s, &objectives(4 * 3600))[0];
        assert_eq!(row.verdict, ObjectiveOutcome::Missed);
        assert_eq!(row.note.as_deref(), Some("not recovered (run running)"));
    }

    #[test]
    fn markdown_has_every_section_and_the_key_lines() {
        let (events, s) = selected();
        let md = markdown(&s, &events, &objectives(4 * 3600));
        for line in [
            "# Post-mortem: INC-20261125-0901 — Heroku outage",
            "## Summary",
            "## Impact",
            "- Providers affected: heroku",
            "Severity sev1; commander carol.",
            "- Severity: sev1",
            "- Workstreams affected: hosting",
            "## Objectives",
            "| Objective | Target | Achieved | Result |",
            "| RTO hosting | 4h | 4m 58s | met |",
            "| RPO | 1h | 12m 00s | met |",
            "## Detection",
            "| First signal | 2026-11-25 09:00:02.000 UTC | T+00:00:00 | — |",
            "| Confirmation | 2026-11-25 09:00:05.000 UTC | T+00:00:03 | 2s |",
            "## Timeline",
            "## Approvals",
            "| failover-hosting | REQ-1 | alice | bob | 2026-11-25 09:01:40.000 UTC | 30s |",
            "## Steps",
            "| scale | ecs_scale | 2026-11-25 09:02:11.000 UTC | 2026-11-25 09:03:20.000 UTC | 59s | 2 | succeeded |",
            "| dns | route53_upsert |",
            "## Communications",
            "### Sent",
            "— team notification to engineering (step notify)",
            "### Drafts",
            "No drafts were recorded.",
            "[RUN-1] Hosting failover started, \"ETA\" 30m,\nstand by\n",
            "## Lessons learned",
            "- Backups should run hourly (alice, 2026-11-25 09:06:40.000 UTC)",
            "## Open follow-ups",
            "- [ ] Step dns of failover-hosting failed: zone not found",
            "- [ ] Step smoke of failover-hosting skipped",
            "- [ ] Review the plan (DRP) and the runbooks with these lessons",
        ] {
            assert!(md.contains(line), "missing {line:?} in\n{md}");
        }
        // Unknown kinds fall back to the kind name; pipes in text do not break the table.
        assert!(md.contains("| alice | custom.thing |"), "{md}");
        assert!(md.contains("Dan joined <b>late</b> \\| pager"), "{md}");
        assert!(!md.contains("- [ ] RTO"), "no missed objective: {md}");
    }

    /// Splits RFC 4180 text into records of fields.
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut records = Vec::new();
        let (mut record, mut field) = (Vec::new(), String::new());
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') => quoted = true,
                (false, ',') => record.push(std::mem::take(&mut field)),
                (false, '\r') => {}
                (false, '\n') => {
                    record.push(std::mem::take(&mut field));
                    records.push(std::mem::take(&mut record));
                }
                (false, c) => field.push(c),
            }
        }
        records
    }

    #[test]
    fn csv_quotes_commas_quotes_and_newlines() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\rhere"), "\"cr\rhere\"");

        let mut events = selected().0;
        let odd = Actor::User {
            id: "7".into(),
            name: "Eve, \"ops\"\nlead".into(),
        };
        let last = events.last().unwrap().clone();
        events.push(Event::seal(
            NewEvent::new(odd, "note.added", json!({"text": "a, b"})).incident(inc()),
            last.seq + 1,
            last.at,
            &last.hash,
        ));
        let text = csv(&events);
        assert!(text.starts_with("seq,at,actor,incident,run,kind,data\r\n"));
        assert!(text.contains(",\"Eve, \"\"ops\"\"\nlead (7)\","), "{text}");
        let records = parse_csv(&text);
        assert_eq!(records.len(), events.len() + 1);
        assert!(records.iter().all(|r| r.len() == 7), "{records:?}");
        let row = records.last().unwrap();
        assert_eq!(row[2], "Eve, \"ops\"\nlead (7)");
        assert_eq!(row[3], INC);
        assert_eq!(
            serde_json::from_str::<Value>(&row[6]).unwrap(),
            json!({"text": "a, b"})
        );
        let first = &records[1];
        assert_eq!(first[1], "2026-11-25T09:00:00.000Z");
        assert_eq!(first[5], "feed.observed");
    }

    #[test]
    fn json_round_trips_every_event_and_the_summary() {
        let (events, s) = selected();
        let text = json(&s, &events);
        let value: Value = serde_json::from_str(&text).unwrap();
        let back: Vec<Event> = serde_json::from_value(value["events"].clone()).unwrap();
        assert_eq!(back, events);
        for (e, stored) in back.iter().zip(value["events"].as_array().unwrap()) {
            assert_eq!(serde_json::to_value(e).unwrap(), *stored);
            assert_eq!(e.compute_hash(), e.hash, "the envelope is intact");
        }
        assert_eq!(value["summary"]["incident"], INC);
        assert_eq!(value["summary"]["runs"][0]["achieved_rto_ms"], 298_000);
        assert_eq!(value["summary"]["runs"][0]["achieved_rpo_secs"], 720);
        assert_eq!(value["summary"]["drill"], false);
        assert_eq!(value["summary"]["severity"], "sev1");
        assert_eq!(value["summary"]["commander"], "carol");
        assert_eq!(value["summary"]["workstreams"], json!(["hosting"]));
        assert_eq!(value["summary"]["sent"][0]["to"], "engineering");
        assert_eq!(value["summary"]["drafts"], json!([]));
        assert_eq!(value["summary"]["simulated_outages"], json!([]));
    }

    #[test]
    fn html_is_self_contained_escaped_and_has_the_chart() {
        let (mut events, _) = selected();
        let last = events.last().unwrap().clone();
        events.push(Event::seal(
            NewEvent::new(
                user("mallory"),
                "note.added",
                json!({"text": "<script>alert(1)</script><link rel=x href=\"http://evil\">", "lesson": true}),
            )
            .incident(inc()),
            last.seq + 1,
            last.at,
            &last.hash,
        ));
        let s = summarize(&events, &inc());
        let page = html(&s, &events, &objectives(4 * 3600));
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<svg") && page.contains("</svg>"));
        // Escaped event text may still read `href=&quot;…`; real attributes would be quoted.
        for forbidden in [
            "<script", "<link", "@import", "src=\"", "href=\"", "url(", "=\"http",
        ] {
            assert!(!page.contains(forbidden), "{forbidden} in\n{page}");
        }
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(
            page.contains(&format!("Apps unavailable, see {URL}")),
            "URLs in events stay text"
        );
        // Every "http" in the page comes from event text.
        assert_eq!(
            page.matches("http").count(),
            page.matches(URL).count() + page.matches("http://evil").count()
        );
        // The chart: a lane for hosting, markers, step bars, recovery; the 4 h budget is
        // beyond a 16-minute incident and says so.
        for part in [
            ">hosting</text>",
            "first signal",
            ">declared</text>",
            "<title>approved by carol",
            "<title>scale succeeded (59s)</title>",
            "<title>dns failed (7s)</title>",
            "<title>recovered at 2026-11-25 09:05:00.000 UTC</title>",
            ">alert</text>",
            ">confirmed</text>",
            "<title>alert 2026-11-25 09:00:03.000 UTC</title>",
            "<title>confirmed 2026-11-25 09:00:05.000 UTC</title>",
        ] {
            assert!(page.contains(part), "missing {part:?}");
        }
        // The 4 h budget ends far past a 16-minute incident: a line beyond a break in the axis,
        // labelled with where it ends.
        assert!(page.contains("axis break"), "{page}");
        assert!(
            page.contains("<title>RTO budget 4h ends T+04:00:00</title>"),
            "{page}"
        );
        assert!(page.contains(">RTO 4h at T+04:00:00</text>"), "{page}");
        // Within the chart the budget is a line at its place, and there is no break.
        let page = html(&s, &events, &objectives(120));
        assert!(page.contains("<title>RTO budget 2m ends T+00:02:00</title>"));
        assert!(page.contains(">RTO 2m</text>"));
        assert!(!page.contains("axis break"));
        // Same content as the Markdown.
        for heading in [
            "Detection",
            "Timeline",
            "Approvals",
            "Communications",
            "Open follow-ups",
        ] {
            assert!(page.contains(&format!("<h2>{heading}</h2>")), "{heading}");
        }
        assert!(page.contains("[RUN-1] Hosting failover started, &quot;ETA&quot; 30m,\nstand by"));
    }

    #[test]
    fn drills_are_marked_by_event_or_title() {
        let mut events = selected().0;
        assert!(!summarize(&events, &inc()).drill);
        let last = events.last().unwrap().clone();
        events.push(Event::seal(
            NewEvent::new(Actor::Scheduler, "drill.marked", json!({"drill": true})).incident(inc()),
            last.seq + 1,
            last.at,
            &last.hash,
        ));
        let s = summarize(&events, &inc());
        assert!(s.drill);
        let md = markdown(&s, &events, &objectives(4 * 3600));
        assert!(md.starts_with("# Post-mortem [DRILL]: "), "{md}");
        assert!(md.contains("This incident was a drill"));

        let mut log = Log::default();
        log.at(
            0,
            ev(
                Actor::Scheduler,
                "drill.started",
                json!({"providers": ["heroku"]}),
            ),
        )
        .at(
            1000,
            ev(
                user("c"),
                "incident.declared",
                json!({"title": "[DRILL] Heroku outage"}),
            )
            .incident(inc()),
        );
        let events = incident_events(&log.events, &inc());
        assert_eq!(events.len(), 2, "the drill.started that opened it is kept");
        assert!(summarize(&events, &inc()).drill);
    }

    #[test]
    fn render_selects_and_refuses_unknown_incidents() {
        let all = recorded();
        let obj = objectives(4 * 3600);
        for name in ["md", "json", "csv", "html"] {
            let format: Format = name.parse().unwrap();
            assert_eq!(format.extension(), name);
            assert!(!render(&all, &inc(), format, &obj).unwrap().is_empty());
        }
        assert!(matches!(
            "pdf".parse::<Format>(),
            Err(TimelineError::UnknownFormat(_))
        ));
        let err = render(&all, &IncidentId::from("INC-nope"), Format::Markdown, &obj).unwrap_err();
        assert_eq!(err, TimelineError::NoEvents(IncidentId::from("INC-nope")));
        assert!(err.to_string().contains("INC-nope"));
    }

    #[test]
    fn secrets_from_the_config_appear_in_no_format() {
        use crate::config::Config;
        use crate::toml_source::TomlSource;
        let text = "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n\n\
            [llm.anthropic]\nbase_url = \"https://api.anthropic.com\"\nkey_env = \"LIFEBOAT_TEST_ANTHROPIC_KEY\"\nmodel = \"m\"\n";
        let config = Config::from_source(TomlSource::new("lifeboat.toml", text))
            .unwrap()
            .config;
        const PLANTED: &str = "sk-ant-planted-7f3a9c";
        // The secrets map as the engine builds it: env var name → value.
        let secrets: BTreeMap<String, String> = config
            .secret_env_vars()
            .into_iter()
            .map(|v| (v.to_owned(), PLANTED.to_owned()))
            .collect();
        assert!(secrets.contains_key("LIFEBOAT_TEST_ANTHROPIC_KEY"));

        // Events name the variable (as a probe step's output might), never its value.
        let mut events = recorded();
        let last = events.last().unwrap().clone();
        events.push(Event::seal(
            NewEvent::new(
                Actor::Bot,
                "note.added",
                json!({"text": "probe used ${env.LIFEBOAT_TEST_ANTHROPIC_KEY}", "key_env": "LIFEBOAT_TEST_ANTHROPIC_KEY"}),
            )
            .incident(inc()),
            last.seq + 1,
            last.at,
            &last.hash,
        ));
        for format in [Format::Markdown, Format::Json, Format::Csv, Format::Html] {
            let out = render(&events, &inc(), format, &config.objectives).unwrap();
            for value in secrets.values() {
                assert!(!out.contains(value.as_str()), "{format:?} leaks the secret");
            }
            assert!(!out.contains("[redacted]"), "{format:?} printed a Secret");
        }
    }

    #[test]
    fn an_older_comms_sent_with_addresses_exports_as_a_count_and_domains() {
        let mut events = with_comms();
        let last = events.last().unwrap().clone();
        // As logs before this change recorded an email: the addresses themselves.
        events.push(Event::seal(
            NewEvent::new(
                Actor::Bot,
                "comms.sent",
                json!({"draft": "DRAFT-1", "output": "email", "attempt": 2, "text": "v2 text", "detail": "250",
                    "recipients": ["ops@Client-One.example", "Jo Doe <jo.doe@client-two.example>", "cto@client-one.example"],
                    "subject": "Notice", "body": "v2 text"}),
            )
            .incident(inc()),
            last.seq + 1,
            last.at,
            &last.hash,
        ));
        let payload: crate::events::CommsSent = events.last().unwrap().data_as().unwrap();
        assert_eq!(
            payload.recipients_line().as_deref(),
            Some("3 recipients at client-one.example, client-two.example")
        );
        for format in [Format::Markdown, Format::Json, Format::Csv, Format::Html] {
            let out = render(&events, &inc(), format, &objectives(4 * 3600)).unwrap();
            for address in ["ops@", "jo.doe@", "cto@", "Jo Doe"] {
                assert!(!out.contains(address), "{format:?} shows `{address}`");
            }
            if format == Format::Json {
                let doc: Value = serde_json::from_str(&out).unwrap();
                let sent = doc["events"].as_array().unwrap().last().unwrap();
                assert_eq!(sent["data"]["recipient_count"], 3);
                assert_eq!(
                    sent["data"]["recipient_domains"],
                    json!(["client-one.example", "client-two.example"])
                );
            }
        }
        // A new event never holds the addresses.
        let new =
            crate::events::CommsSent::to_recipients(&["a@x.example".into(), "b@x.example".into()]);
        let json = serde_json::to_value(&new).unwrap();
        assert_eq!(json["recipient_count"], 2);
        assert_eq!(json["recipient_domains"], json!(["x.example"]));
        assert!(json.get("recipients").is_none(), "{json}");
    }

    /// The fixture plus the communication events of a real run: a team told on two routes,
    /// a client notice drafted, edited, approved and sent on two outputs.
    fn with_comms() -> Vec<Event> {
        let mut events = recorded();
        let mut add = |kind: &str, data: Value, step_output: bool| {
            let last = events.last().unwrap().clone();
            let mut new = NewEvent::new(Actor::Bot, kind, data).incident(inc());
            if step_output {
                new = new.run(run_id());
            }
            events.push(Event::seal(
                new,
                last.seq + 1,
                last.at + chrono::Duration::seconds(1),
                &last.hash,
            ));
        };
        let told = "Hosting failed over to AWS.";
        add(
            "notify.delivered",
            json!({"team": "support", "route": "discord", "attempt": 1, "text": told, "detail": "ok"}),
            true,
        );
        add(
            "notify.delivered",
            json!({"team": "support", "route": "webhook", "attempt": 2, "text": told, "detail": "204"}),
            true,
        );
        add(
            "step.succeeded",
            json!({"step": "tell-support", "kind": "notify", "summary": "told support", "output": {"team": "support", "text": told}, "duration_ms": 5, "attempts": 1}),
            true,
        );
        add(
            "comms.drafted",
            json!({"draft": "DRAFT-1", "audience": "clients", "kind": "initial", "text": "v1 text"}),
            true,
        );
        add(
            "step.succeeded",
            json!({"step": "draft", "kind": "comms_draft", "summary": "drafted", "output": {"draft": "DRAFT-1", "template": "clients-initial.md.j2", "text": "v1 text"}, "duration_ms": 5, "attempts": 1}),
            true,
        );
        add(
            "comms.edited",
            json!({"draft": "DRAFT-1", "text": "v2 text", "previous": "v1 text"}),
            false,
        );
        add(
            "comms.approved",
            json!({"draft": "DRAFT-1", "version": 2, "text": "v2 text"}),
            false,
        );
        add(
            "comms.sent",
            json!({"draft": "DRAFT-1", "output": "webhook", "attempt": 1, "text": "v2 text", "detail": "200"}),
            false,
        );
        add(
            "comms.sent",
            json!({"draft": "DRAFT-1", "output": "email", "attempt": 1, "text": "v2 text", "detail": "250"}),
            false,
        );
        events
    }

    #[test]
    fn communications_sent_are_listed_apart_from_drafts_without_duplicates() {
        let events = incident_events(&with_comms(), &inc());
        let s = summarize(&events, &inc());
        let sent: Vec<(&str, Option<&str>, &str, Vec<&str>)> = s
            .sent
            .iter()
            .map(|c| {
                (
                    c.kind.as_str(),
                    c.to.as_deref(),
                    c.text.as_str(),
                    c.via.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            sent,
            vec![
                (
                    "notify",
                    Some("engineering"),
                    "[RUN-1] Hosting failover started, \"ETA\" 30m,\nstand by",
                    vec![]
                ),
                (
                    "notify",
                    Some("support"),
                    "Hosting failed over to AWS.",
                    vec!["discord", "webhook"]
                ),
                (
                    "comms.sent",
                    Some("clients"),
                    "v2 text",
                    vec!["webhook", "email"]
                ),
            ]
        );
        assert_eq!(
            s.sent[1].step.as_deref(),
            Some("tell-support"),
            "the step joins its delivery"
        );
        assert_eq!(s.sent[2].draft.as_deref(), Some("DRAFT-1"));
        let drafts: Vec<(&str, &str)> = s
            .drafts
            .iter()
            .map(|c| (c.kind.as_str(), c.text.as_str()))
            .collect();
        assert_eq!(
            drafts,
            vec![
                ("comms.drafted", "v1 text"),
                ("comms.edited, comms.approved", "v2 text"),
            ]
        );
        assert_eq!(s.drafts[0].step.as_deref(), Some("draft"));

        let md = markdown(&s, &events, &objectives(4 * 3600));
        let sent_part = &md[md.find("### Sent").unwrap()..md.find("### Drafts").unwrap()];
        let drafts_part = &md[md.find("### Drafts").unwrap()..md.find("## Lessons").unwrap()];
        assert!(
            sent_part.contains(
                "— client notice DRAFT-1 to clients by webhook, email\n\n```text\nv2 text\n```"
            ),
            "{sent_part}"
        );
        assert!(
            sent_part.contains("— team notification to support by discord, webhook (step tell-support)\n\n```text\nHosting failed over to AWS.\n```"),
            "{sent_part}"
        );
        assert_eq!(
            sent_part.matches("Hosting failed over to AWS.").count(),
            1,
            "{sent_part}"
        );
        assert_eq!(sent_part.matches("v2 text").count(), 1);
        assert!(
            !sent_part.contains("v1 text"),
            "a draft never sent is not listed as sent"
        );
        assert!(
            drafts_part.contains("DRAFT-1 for clients (comms.drafted) (step draft)"),
            "{drafts_part}"
        );
        assert!(
            drafts_part.contains("DRAFT-1 for clients (comms.edited, comms.approved)"),
            "{drafts_part}"
        );
        assert_eq!(drafts_part.matches("v1 text").count(), 1, "{drafts_part}");
    }

    #[test]
    fn a_drill_logs_its_simulated_outage_and_measures_detection_from_it() {
        let mut log = Log::default();
        log.at(0, ev(Actor::Scheduler, "drill.started", json!({"providers": ["heroku"]})))
            .at(800, ev(Actor::Scheduler, "drill.outage_simulated", json!({"provider": "heroku"})))
            .at(1050, ev(feed("heroku-probe"), "feed.observed", json!({"provider": "heroku", "from": "operational", "to": "major_outage"})))
            .at(1300, ev(feed("heroku-probe"), "feed.outage", json!({"provider": "heroku", "from": "operational", "to": "major_outage"})))
            .at(1301, ev(Actor::Bot, "alert.posted", json!({"alert_id": "A1", "provider": "heroku", "level": "major_outage", "confirmed": false})))
            .at(1303, ev(Actor::Bot, "alert.updated", json!({"alert_id": "A1", "provider": "heroku", "level": "major_outage", "confirmed": true})))
            .at(1310, ev(user("c"), "incident.declared", json!({"title": "[DRILL] Heroku outage", "severity": "sev1", "commander": "c"})).incident(inc()))
            .at(1900, ev(Actor::Bot, "alert.recovered", json!({"alert_id": "A1", "provider": "heroku", "duration_secs": 0, "duration_ms": 599})))
            .at(2000, ev(user("c"), "incident.resolved", json!({})).incident(inc()));
        let events = incident_events(&log.events, &inc());
        assert!(events.iter().any(|e| e.kind == "drill.outage_simulated"));
        let s = summarize(&events, &inc());
        assert_eq!(s.simulated_outages.len(), 1);
        let d = &s.simulated_outages[0];
        assert_eq!((d.provider.as_str(), d.detection_ms), ("heroku", Some(503)));
        assert_eq!(d.outage_at, t0() + chrono::Duration::milliseconds(800));

        let md = markdown(&s, &events, &objectives(4 * 3600));
        assert!(
            md.contains("| Simulated outage of heroku (drill) | 2026-11-25 09:00:00.800 UTC | T-00:00:00.500 | — |"),
            "{md}"
        );
        assert!(
            md.contains("| First signal | 2026-11-25 09:00:01.300 UTC | T+00:00:00 | 500ms |"),
            "{md}"
        );
        assert!(
            md.contains("- Detection time of the drill for heroku: 503ms (simulated outage → confirmed alert)"),
            "{md}"
        );
        assert!(
            md.contains("| Drill: simulated outage of heroku begins |"),
            "{md}"
        );
        // The recovery's duration in ms, not rounded down to 0 s.
        assert!(md.contains("heroku recovered after 599ms"), "{md}");

        // Outside a drill, a stray drill.outage_simulated is neither selected nor measured.
        let s = summarize(&selected().0, &inc());
        assert!(s.simulated_outages.is_empty());
        assert!(drill_detections(&log.events).len() == 1);
    }
}
