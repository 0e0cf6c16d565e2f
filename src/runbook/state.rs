//! Run state derived from the event log, pure: a restart reads the log, folds it, and knows
//! exactly which steps finished, which one was interrupted, and whether a run is paused.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::event::Event;
use crate::domain::{IncidentId, RunId, Workstream};

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
        let data = &event.data;
        let step = data["step"].as_str().map(str::to_owned);
        if event.kind == "run.started" {
            let params = serde_json::from_value(data["params"].clone()).unwrap_or_default();
            runs.insert(
                run_id.clone(),
                RunView {
                    run: run_id.clone(),
                    incident: event.incident.clone(),
                    runbook: data["runbook"].as_str().unwrap_or_default().to_owned(),
                    workstream: serde_json::from_value(data["workstream"].clone()).ok(),
                    file_hash: data["file_hash"].as_str().unwrap_or_default().to_owned(),
                    params,
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
        match event.kind.as_str() {
            "step.started" => {
                if let Some(step) = step {
                    run.in_flight = Some(step.clone());
                    let attempts = data["attempt"].as_u64().unwrap_or(1) as u32;
                    run.timings.insert(
                        step,
                        StepTiming {
                            started_at: event.at,
                            ended_at: None,
                            attempts,
                        },
                    );
                }
            }
            "step.retrying" => {
                if let Some(t) = step.as_ref().and_then(|s| run.timings.get_mut(s)) {
                    t.attempts = data["attempt"].as_u64().unwrap_or(1) as u32 + 1;
                }
            }
            "step.succeeded" | "step.failed" | "step.skipped" => {
                if let Some(step) = step {
                    run.in_flight = None;
                    if let Some(t) = run.timings.get_mut(&step) {
                        t.ended_at = Some(event.at);
                    }
                    match event.kind.as_str() {
                        "step.succeeded" => {
                            run.outputs.insert(step.clone(), data["output"].clone());
                            run.finished.insert(step);
                        }
                        "step.skipped" => {
                            run.finished.insert(step);
                        }
                        _ if data["on_failure"] == "continue" => {
                            run.finished.insert(step);
                        }
                        _ => {}
                    }
                }
            }
            "run.paused" => {
                run.status = RunStatus::Paused {
                    step: step.unwrap_or_default(),
                    reason: data["reason"].as_str().unwrap_or_default().to_owned(),
                };
            }
            "run.resumed" => run.status = RunStatus::Running,
            "run.cancel_requested" => run.cancel_requested = true,
            "run.succeeded" => {
                run.status = RunStatus::Succeeded;
                run.ended_at = Some(event.at);
            }
            "run.failed" => {
                run.status = RunStatus::Failed {
                    step: step.unwrap_or_default(),
                    error: data["error"].as_str().unwrap_or_default().to_owned(),
                };
                run.ended_at = Some(event.at);
            }
            "run.aborted" => {
                run.status = RunStatus::Aborted { step };
                run.ended_at = Some(event.at);
            }
            "run.cancelled" => {
                run.status = RunStatus::Cancelled;
                run.ended_at = Some(event.at);
            }
            _ => {}
        }
    }
    order
        .into_iter()
        .filter_map(|id| runs.remove(&id))
        .collect()
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
