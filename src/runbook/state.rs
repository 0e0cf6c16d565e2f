//! Run state derived from the event log, pure: a restart reads the log, folds it, and knows
//! exactly which steps finished, which one was interrupted, and whether a run is paused.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::event::Event;
use crate::domain::{IncidentId, RunId, Workstream};
use crate::events::{Payload, RunStarted};
use crate::runbook::OnFailure;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Paused { step: String, reason: String },
    Succeeded,
    Failed { step: String, error: String },
    Aborted { step: Option<String> },
    Cancelled,
}

impl RunStatus {
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded
                | RunStatus::Failed { .. }
                | RunStatus::Aborted { .. }
                | RunStatus::Cancelled
        )
    }
}

/// When a step started, when it ended (if it did) and how many attempts it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StepTiming {
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub attempts: u32,
}

/// One run as the log tells it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunView {
    pub run: RunId,
    pub incident: Option<IncidentId>,
    pub runbook: String,
    pub workstream: Option<Workstream>,
    pub file_hash: String,
    pub params: BTreeMap<String, String>,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Outputs of succeeded steps, by id.
    pub outputs: BTreeMap<String, serde_json::Value>,
    /// Steps that will not run again: succeeded, skipped, or failed with `continue`.
    pub finished: BTreeSet<String>,
    /// A step whose start is recorded but not its end: interrupted by a crash.
    pub in_flight: Option<String>,
    pub cancel_requested: bool,
    /// Per step: its last execution, for durations.
    pub timings: BTreeMap<String, StepTiming>,
}

/// Folds every run-related event into the runs they describe, in order of start.
pub fn fold(events: &[Event]) -> Vec<RunView> {
    let mut runs: BTreeMap<RunId, RunView> = BTreeMap::new();
    let mut order: Vec<RunId> = Vec::new();
    for event in events {
        let Some(run_id) = &event.run else { continue };
        if let Some(started) = event.data_as::<RunStarted>() {
            runs.insert(
                run_id.clone(),
                RunView {
                    run: run_id.clone(),
                    incident: event.incident.clone(),
                    runbook: started.runbook,
                    workstream: started.workstream,
                    file_hash: started.file_hash,
                    params: started.params,
                    status: RunStatus::Running,
                    started_at: event.at,
                    ended_at: None,
                    outputs: BTreeMap::new(),
                    finished: BTreeSet::new(),
                    in_flight: None,
                    cancel_requested: false,
                    timings: BTreeMap::new(),
                },
            );
            order.push(run_id.clone());
            continue;
        }
        let Some(run) = runs.get_mut(run_id) else {
            continue;
        };
        let Ok(payload) = event.payload() else {
            continue;
        };
        run.apply(event.at, payload);
    }
    order
        .into_iter()
        .filter_map(|id| runs.remove(&id))
        .collect()
}

impl RunView {
    /// One event of the run after its start, at `at`.
    fn apply(&mut self, at: DateTime<Utc>, payload: Payload) {
        match payload {
            Payload::StepStarted(started) => {
                self.in_flight = Some(started.step.clone());
                self.timings.insert(
                    started.step,
                    StepTiming {
                        started_at: at,
                        ended_at: None,
                        attempts: started.attempt,
                    },
                );
            }
            Payload::StepRetrying(retrying) => {
                if let Some(t) = self.timings.get_mut(&retrying.step) {
                    t.attempts = retrying.attempt + 1;
                }
            }
            Payload::StepSucceeded(succeeded) => {
                self.step_ended(&succeeded.step, at);
                self.outputs
                    .insert(succeeded.step.clone(), succeeded.output);
                self.finished.insert(succeeded.step);
            }
            Payload::StepSkipped(skipped) => {
                self.step_ended(&skipped.step, at);
                self.finished.insert(skipped.step);
            }
            Payload::StepFailed(failed) => {
                self.step_ended(&failed.step, at);
                if failed.on_failure == Some(OnFailure::Continue) {
                    self.finished.insert(failed.step);
                }
            }
            Payload::RunPaused(paused) => {
                self.status = RunStatus::Paused {
                    step: paused.step,
                    reason: paused.reason,
                };
            }
            Payload::RunResumed(_) => self.status = RunStatus::Running,
            Payload::RunCancelRequested(_) => self.cancel_requested = true,
            Payload::RunSucceeded(_) => {
                self.status = RunStatus::Succeeded;
                self.ended_at = Some(at);
            }
            Payload::RunFailed(failed) => {
                self.status = RunStatus::Failed {
                    step: failed.step,
                    error: failed.error,
                };
                self.ended_at = Some(at);
            }
            Payload::RunAborted(aborted) => {
                self.status = RunStatus::Aborted {
                    step: Some(aborted.step),
                };
                self.ended_at = Some(at);
            }
            Payload::RunCancelled(_) => {
                self.status = RunStatus::Cancelled;
                self.ended_at = Some(at);
            }
            _ => {}
        }
    }

    /// A step's end: it is no longer in flight, and its timing ends at `at`.
    fn step_ended(&mut self, step: &str, at: DateTime<Utc>) {
        self.in_flight = None;
        if let Some(t) = self.timings.get_mut(step) {
            t.ended_at = Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use crate::domain::event::{GENESIS, NewEvent};
    use serde_json::json;

    fn events(list: &[(&str, serde_json::Value)]) -> Vec<Event> {
        let mut prev = GENESIS.to_owned();
        list.iter()
            .enumerate()
            .map(|(i, (kind, data))| {
                let e = Event::seal(
                    NewEvent::new(Actor::Bot, *kind, data.clone()).run(RunId::from("RUN-1")),
                    i as u64 + 1,
                    Utc::now(),
                    &prev,
                );
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn an_interrupted_step_is_in_flight_and_finished_steps_are_known() {
        let log = events(&[
            (
                "run.started",
                json!({"runbook": "failover-hosting", "workstream": "hosting", "file_hash": "h", "params": {"a": "b"}}),
            ),
            ("step.started", json!({"step": "scale", "attempt": 1})),
            (
                "step.succeeded",
                json!({"step": "scale", "output": {"x": 1}}),
            ),
            ("step.started", json!({"step": "restore", "attempt": 1})),
        ]);
        let runs = fold(&log);
        assert_eq!(runs.len(), 1);
        let run = &runs[0];
        assert_eq!(run.status, RunStatus::Running);
        assert_eq!(run.workstream, Some(Workstream::Hosting));
        assert!(run.finished.contains("scale"));
        assert_eq!(run.outputs["scale"], json!({"x": 1}));
        assert_eq!(run.in_flight.as_deref(), Some("restore"));
        assert_eq!(run.params["a"], "b");
    }

    #[test]
    fn pauses_resumes_and_ends_are_followed() {
        let log = events(&[
            (
                "run.started",
                json!({"runbook": "r", "workstream": "llm", "file_hash": "h", "params": {}}),
            ),
            ("step.started", json!({"step": "a"})),
            ("step.failed", json!({"step": "a", "on_failure": "pause"})),
            (
                "run.paused",
                json!({"step": "a", "reason": "smoke test failed"}),
            ),
        ]);
        let run = &fold(&log)[0];
        assert!(matches!(&run.status, RunStatus::Paused { step, .. } if step == "a"));
        assert!(
            !run.finished.contains("a"),
            "a failed, paused step runs again on resume"
        );
        let mut more = log.clone();
        more.extend(events(&[
            ("run.resumed", json!({"step": "a"})),
            ("step.skipped", json!({"step": "a"})),
            ("run.succeeded", json!({})),
        ]));
        let run = &fold(&more)[0];
        assert_eq!(run.status, RunStatus::Succeeded);
        assert!(run.finished.contains("a"));
        assert!(run.status.is_terminal());
    }
}
