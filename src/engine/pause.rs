//! Pauses and the decisions that end them: a paused run waits for a responder's Resume,
//! Skip or Abort (or a cancel, or a shutdown that leaves it paused in the log).

use std::sync::atomic::Ordering;

use super::Decision;
use super::driver::{Driver, Next};
use crate::domain::Actor;
use crate::events::{RunAborted, RunPaused, RunResumed, StepSkipped};
use crate::runbook::state::RunStatus;

impl Driver {
    /// Pauses the run at `step`: decisions are taken from now on, the pause is logged and
    /// posted with its decision buttons.
    pub(super) async fn pause(&mut self, step: String, reason: String) {
        self.mark_paused();
        self.record(RunPaused {
            step: step.clone(),
            reason: reason.clone(),
        });
        self.progress(format!("⏸ paused: {reason}"), true).await;
        self.view.status = RunStatus::Paused { step, reason };
    }

    /// Takes decisions from the moment the pause is logged: a responder who sees it may
    /// decide (or cancel) while its message is still being posted; decisions wait in the
    /// channel until `await_decision` reads them.
    /// Anything still in the channel answered an earlier pause: it is dropped, never applied
    /// to this one (the cancel flag, not the channel, carries cancels).
    pub(super) fn mark_paused(&mut self) {
        while self.decisions.try_recv().is_ok() {}
        self.pause_open = true;
        self.paused.store(true, Ordering::SeqCst);
    }

    /// Waits for a responder's decision on a paused run.
    pub(super) async fn await_decision(&mut self, step: &str) -> Next {
        // A pause read back from the log (after a restart) was not marked yet; one marked
        // already may have been decided while its message was posted, so is not reopened.
        if !self.pause_open {
            self.mark_paused();
        }
        self.pause_open = false;
        // A cancel that came before the run was marked paused sent no decision: it ends the
        // run now. (`cancel` sets its flag before reading `paused`, so one side sees the other.)
        if self.cancel.load(Ordering::SeqCst) {
            self.paused.store(false, Ordering::SeqCst);
            // The canceller's abort, when `cancel` saw the pause, else the bot's.
            let actor = match self.decisions.try_recv() {
                Ok((Decision::Abort, actor)) => actor,
                _ => Actor::Bot,
            };
            self.record_as(
                actor,
                RunAborted {
                    step: step.to_owned(),
                },
            );
            return Next::Stop(RunStatus::Aborted {
                step: Some(step.to_owned()),
            });
        }
        let decision = tokio::select! {
            biased;
            decision = self.decisions.recv() => decision,
            // Stays paused in the log; the next start asks again.
            _ = self.stopping.wait_for(|stop| *stop) => None,
        };
        self.paused.store(false, Ordering::SeqCst);
        let Some((decision, actor)) = decision else {
            // The engine was dropped: leave the run paused in the log for the next start.
            return Next::Stop(self.view.status.clone());
        };
        match decision {
            Decision::Retry => {
                self.record_as(
                    actor,
                    RunResumed {
                        step: step.to_owned(),
                        decision: "retry".to_owned(),
                    },
                );
                self.view.status = RunStatus::Running;
                Next::Continue
            }
            Decision::Skip => {
                self.record_as(
                    actor.clone(),
                    StepSkipped {
                        step: step.to_owned(),
                    },
                );
                self.record_as(
                    actor,
                    RunResumed {
                        step: step.to_owned(),
                        decision: "skip".to_owned(),
                    },
                );
                self.view.finished.insert(step.to_owned());
                self.view.status = RunStatus::Running;
                Next::Continue
            }
            Decision::Abort => {
                self.record_as(
                    actor,
                    RunAborted {
                        step: step.to_owned(),
                    },
                );
                Next::Stop(RunStatus::Aborted {
                    step: Some(step.to_owned()),
                })
            }
        }
    }
}
