//! One run driven to its end: after a restart, what to do with the step a crash interrupted
//! and with a runbook file that changed; then each step in order between the checks for a
//! pause, a cancel and a shutdown; and every event of the run appended to the log.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::info;

use super::Decision;
use super::progress::ThreadWatch;
use crate::domain::Actor;
use crate::domain::event::NewEvent;
use crate::events::{Payload, RunCancelled, RunSucceeded, StepInterrupted};
use crate::ports::ha::{Leadership, Role};
use crate::ports::store::EventStore;
use crate::runbook::state::{RunStatus, RunView};
use crate::runbook::{Runbook, Step};
use crate::steps::StepEnv;

/// Drives one run to its end.
pub(super) struct Driver {
    pub(super) env: StepEnv,
    pub(super) store: Arc<dyn EventStore>,
    pub(super) runbook: Runbook,
    pub(super) view: RunView,
    pub(super) decisions: mpsc::UnboundedReceiver<(Decision, Actor)>,
    pub(super) cancel: Arc<AtomicBool>,
    pub(super) paused: Arc<AtomicBool>,
    /// This pause was marked (decisions accepted) and not yet awaited.
    pub(super) pause_open: bool,
    pub(super) stopping: watch::Receiver<bool>,
    pub(super) metrics: crate::metrics::Recorder,
    /// Where the run's messages go (its incident's thread, once one is open).
    pub(super) thread: ThreadWatch,
    /// Whether this node may act (an HA pair's leader, or a single node).
    pub(super) leadership: Leadership,
}

/// What the run does after a step or a decision.
pub(super) enum Next {
    Continue,
    Stop(RunStatus),
}

impl Driver {
    pub(super) async fn drive(mut self) -> RunStatus {
        self.check_after_restart().await;
        loop {
            if let RunStatus::Paused { step, .. } = self.view.status.clone() {
                match self.await_decision(&step).await {
                    Next::Continue => continue,
                    Next::Stop(status) => return status,
                }
            }
            if self.cancel.load(Ordering::SeqCst) {
                self.record(RunCancelled {});
                return RunStatus::Cancelled;
            }
            if *self.stopping.borrow() {
                // A step boundary: everything so far is durable; the next start carries on.
                info!(next = ?self.next_step().map(|s| &s.id), "shutting down between steps");
                return self.view.status.clone();
            }
            if !self.leadership.may_act() {
                // The lease is lost or its acting deadline passed: no step starts here; the
                // new leader resumes the run from the replicated log.
                info!(next = ?self.next_step().map(|s| &s.id), "not leading any more: stopping between steps");
                return self.view.status.clone();
            }
            let Some(step) = self.next_step().cloned() else {
                self.succeed().await;
                return RunStatus::Succeeded;
            };
            if let Next::Stop(status) = self.run_step(&step).await {
                return status;
            }
        }
    }

    /// After a restart: decides what to do with the step the crash interrupted (an idempotent
    /// one runs again, any other pauses the run), and pauses a run whose runbook file changed.
    async fn check_after_restart(&mut self) {
        if let Some(step_id) = self.view.in_flight.clone()
            && matches!(self.view.status, RunStatus::Running)
        {
            let idempotent = self.runbook.step(&step_id).is_some_and(|s| s.idempotent);
            self.record(StepInterrupted {
                step: step_id.clone(),
                idempotent,
                action: if idempotent { "rerun" } else { "pause" }.to_owned(),
            });
            if !idempotent {
                let reason = format!(
                    "Lifeboat restarted while step `{step_id}` was running; it is not idempotent, so check whether it took effect, then retry, skip or abort"
                );
                self.pause(step_id, reason).await;
            }
        }
        if self.view.file_hash != self.runbook.file_hash
            && matches!(self.view.status, RunStatus::Running)
        {
            let step = self.next_step().map(|s| s.id.clone()).unwrap_or_default();
            let reason = "the runbook file changed since this run started; review the change, then retry (with the new file), skip or abort".to_owned();
            self.pause(step, reason).await;
        }
    }

    /// Every step is done: the run succeeded.
    async fn succeed(&mut self) {
        let elapsed = (self.env.clock.now() - self.view.started_at).num_milliseconds();
        self.record(RunSucceeded {
            duration_ms: elapsed,
        });
        self.progress(
            format!(
                "🏁 {} finished in {}",
                self.runbook.name,
                crate::duration::format_elapsed(Duration::from_millis(elapsed.max(0) as u64))
            ),
            false,
        )
        .await;
    }

    pub(super) fn next_step(&self) -> Option<&Step> {
        self.runbook
            .steps
            .iter()
            .find(|s| !self.view.finished.contains(&s.id))
    }

    pub(super) fn record(&self, payload: impl Into<Payload>) {
        self.record_as(Actor::Bot, payload);
    }

    /// Appends an event for this run. A failed append is logged loudly; the run goes on
    /// only because stopping mid-failover would be worse than a gap the audit will show.
    pub(super) fn record_as(&self, actor: Actor, payload: impl Into<Payload>) {
        self.try_record_as(actor, payload);
    }

    /// As [`record_as`](Self::record_as); `false` when the append failed.
    pub(super) fn try_record_as(&self, actor: Actor, payload: impl Into<Payload>) -> bool {
        let mut event = NewEvent::of(actor, payload).run(self.view.run.clone());
        if let Some(incident) = &self.view.incident {
            event = event.incident(incident.clone());
        }
        let kind = event.kind.clone();
        match self.store.append(event) {
            Ok(event) => {
                self.thread.appended(event.seq);
                true
            }
            Err(err) => {
                tracing::error!(error = %err, %kind, "run event could not be stored");
                false
            }
        }
    }

    /// Whether this node is one of an HA pair: there, a refused append means another node
    /// holds the lease (the store fences it), so the step must not start.
    pub(super) fn in_pair(&self) -> bool {
        !matches!(self.leadership.role(), Role::Single)
    }
}
