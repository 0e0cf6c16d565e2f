//! What each run of the incident did: its request and approvals, its steps in the order they
//! started (planned steps that never started last), its outcome and the RTO and RPO it achieved.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::event::Event;
use crate::domain::{RunId, Workstream};
use crate::events::{
    EventKind, Payload, RunApprovalCounted, RunApproved, RunRequested, RunStarted,
};
use crate::incident::who;
use crate::runbook::state::{self, RunStatus};

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

impl StepSummary {
    /// A step known only by its id so far: `running` (its start is being read) or `not_run`.
    fn blank(id: &str, outcome: &str) -> Self {
        StepSummary {
            id: id.to_owned(),
            kind: None,
            started_at: None,
            ended_at: None,
            duration_ms: None,
            attempts: 0,
            outcome: outcome.to_owned(),
            error: None,
        }
    }

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

/// The run's status as the exports name it.
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

/// What the run of `view` did, from the incident's events; its RTO counts from `origin`.
/// In a `drill`, only a data-loss window measured from restored data is reported.
pub(super) fn run_summary(
    events: &[Event],
    view: &state::RunView,
    origin: Option<DateTime<Utc>>,
    drill: bool,
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
    let approvals = approvals(events, request.as_ref(), requested);

    // Steps in the order they first started; planned steps that never started come last.
    let mut steps = started_steps(&run_events);
    add_not_run(&mut steps, &run_events);

    let succeeded_at = run_events
        .iter()
        .find(|e| e.is(EventKind::RunSucceeded))
        .map(|e| e.at);
    let achieved_rpo_secs = crate::incident::loss_window_secs(run_events.iter().copied(), drill);
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

/// Who approved the run's request (`run.approval_counted`), when, and how long after the
/// request (`requested`).
fn approvals(
    events: &[Event],
    request: Option<&String>,
    requested: Option<&Event>,
) -> Vec<ApprovalSummary> {
    request
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
        .unwrap_or_default()
}

/// The steps of the run's events, in the order they first started (or were skipped), with
/// their attempts, outcome, error and duration.
fn started_steps(run_events: &[&Event]) -> Vec<StepSummary> {
    let mut steps: Vec<StepSummary> = Vec::new();
    let index = |steps: &Vec<StepSummary>, id: &str| steps.iter().position(|s| s.id == id);
    for e in run_events {
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
                steps.push(StepSummary::blank(id, "running"));
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
    steps
}

/// The steps `run.started` planned that never started, as `not_run`, after the others.
fn add_not_run(steps: &mut Vec<StepSummary>, run_events: &[&Event]) {
    let index = |steps: &Vec<StepSummary>, id: &str| steps.iter().position(|s| s.id == id);
    if let Some(planned) = run_events
        .iter()
        .find(|e| e.is(EventKind::RunStarted))
        .and_then(|e| e.data_as::<RunStarted>())
    {
        for id in &planned.steps {
            if index(steps, id).is_none() {
                steps.push(StepSummary::blank(id, "not_run"));
            }
        }
    }
}
