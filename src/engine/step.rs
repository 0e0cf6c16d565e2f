//! One step of a run: its start logged and posted, its attempts (each within the step's
//! timeout, retried with backoff while the error says trying again may help), and its end
//! logged before the next step starts; a failure then continues, aborts or pauses the run as
//! the step says.

use std::time::{Duration, Instant};

use tracing::info;

use super::driver::{Driver, Next};
use crate::events::{RunFailed, StepFailed, StepRetrying, StepStarted, StepSucceeded};
use crate::retry::{Asked, Policy};
use crate::runbook::state::RunStatus;
use crate::runbook::{OnFailure, Step};
use crate::steps::{self, StepEnv, StepError, StepInput, StepOutput};

impl Driver {
    /// Executes one step with its timeout and retries, and records how it ended.
    pub(super) async fn run_step(&mut self, step: &Step) -> Next {
        let started = Instant::now();
        let durable = self.try_record_as(
            crate::domain::Actor::Bot,
            StepStarted {
                step: step.id.clone(),
                title: step.title.clone(),
                kind: Some(step.action.kind()),
                attempt: 1,
                idempotent: step.idempotent,
            },
        );
        // In a pair the append is fenced by the lease: refused, this node was deposed and the
        // side effect must not begin. A single node goes on, as it always has (a gap the audit
        // shows is better than stopping mid-failover).
        if !durable && self.in_pair() {
            info!(step = %step.id, "step.started refused by the fenced log: not starting the step");
            return Next::Stop(self.view.status.clone());
        }
        self.progress(format!("▶ {} — {}", step.id, step.title), false)
            .await;
        if !self.leadership.may_act() {
            // The post took the node past its acting deadline: the new leader decides.
            return Next::Stop(self.view.status.clone());
        }
        let Some((result, attempts)) = self.attempts(step).await else {
            // The retry note is durable; the step resumes on the next start.
            return Next::Stop(self.view.status.clone());
        };
        let took = started.elapsed();
        self.metrics.step_finished(
            step.action.kind().as_str(),
            if result.is_ok() {
                "succeeded"
            } else {
                "failed"
            },
            took,
        );
        let duration_ms = took.as_millis() as u64;
        match result {
            Ok(output) => self.succeeded(step, output, duration_ms, attempts).await,
            Err(err) => self.failed(step, err, duration_ms, attempts).await,
        }
    }

    /// Tries the step until it succeeds, fails for good or has no retry left, recording each
    /// retry and its delay; returns the last result and the number of attempts, or `None`
    /// when a shutdown came during a retry's wait.
    async fn attempts(&mut self, step: &Step) -> Option<(Result<StepOutput, StepError>, u32)> {
        let policy = retry_policy(step.retries, step.backoff.get());
        let mut attempt = 1;
        loop {
            if attempt > 1 && !self.leadership.may_act() {
                // Not leading any more: the retry is the new leader's to make.
                return None;
            }
            match self.attempt(step, attempt).await {
                Err(err) if err.retryable && policy.allows_another(attempt) => {
                    let delay = policy.delay(attempt, err.retry_after);
                    self.record(StepRetrying {
                        step: step.id.clone(),
                        attempt,
                        error: err.message.clone(),
                        delay_ms: delay.as_millis() as u64,
                    });
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = self.stopping.wait_for(|stop| *stop) => return None,
                    }
                    attempt += 1;
                }
                other => return Some((other, attempt)),
            }
        }
    }

    /// One attempt, within the step's timeout (a timeout may be retried).
    async fn attempt(&self, step: &Step, attempt: u32) -> Result<StepOutput, StepError> {
        let input = StepInput {
            run: &self.view.run,
            incident: self.view.incident.as_ref(),
            step,
            workstream: Some(self.runbook.workstream),
            params: &self.view.params,
            earlier: &self.view.outputs,
            attempt,
        };
        // Questions and notifications of the step go where the progress goes.
        let env = StepEnv {
            channel: self.channel(),
            ..self.env.clone()
        };
        match tokio::time::timeout(step.timeout.get(), steps::execute(&env, &input)).await {
            Ok(result) => result,
            Err(_) => Err(StepError::retryable(format!(
                "timed out after {}",
                step.timeout
            ))),
        }
    }

    /// Records a step's success; its output is there for the later steps.
    async fn succeeded(
        &mut self,
        step: &Step,
        StepOutput { summary, data }: StepOutput,
        duration_ms: u64,
        attempts: u32,
    ) -> Next {
        self.record(StepSucceeded {
            step: step.id.clone(),
            kind: Some(step.action.kind()),
            summary: summary.clone(),
            output: data.clone(),
            duration_ms: Some(duration_ms),
            attempts: Some(attempts),
        });
        self.view.finished.insert(step.id.clone());
        self.view.outputs.insert(step.id.clone(), data);
        self.progress(
            format!("✔ {} ({} ms): {summary}", step.id, duration_ms),
            false,
        )
        .await;
        Next::Continue
    }

    /// Records a step's failure, then does what the step says to do on failure.
    async fn failed(
        &mut self,
        step: &Step,
        err: StepError,
        duration_ms: u64,
        attempts: u32,
    ) -> Next {
        self.record(StepFailed {
            step: step.id.clone(),
            kind: Some(step.action.kind()),
            error: err.message.clone(),
            retryable: err.retryable,
            output: err.data.clone(),
            duration_ms: Some(duration_ms),
            attempts: Some(attempts),
            on_failure: Some(step.on_failure),
        });
        self.progress(
            format!(
                "✖ {} ({duration_ms} ms, {attempts} attempt(s)): {}",
                step.id, err.message
            ),
            false,
        )
        .await;
        match step.on_failure {
            OnFailure::Continue => {
                self.view.finished.insert(step.id.clone());
                Next::Continue
            }
            OnFailure::Abort => {
                self.record(RunFailed {
                    step: step.id.clone(),
                    error: err.message.clone(),
                });
                self.progress(
                    format!("🛑 run failed at {}; later steps did not run", step.id),
                    false,
                )
                .await;
                Next::Stop(RunStatus::Failed {
                    step: step.id.clone(),
                    error: err.message,
                })
            }
            OnFailure::Pause => {
                let reason = format!("step `{}` failed: {}", step.id, err.message);
                self.pause(step.id.clone(), reason).await;
                Next::Continue
            }
        }
    }
}

/// The longest a provider may make a retry wait (`Retry-After`), so one odd answer cannot
/// hold a run for hours.
const MAX_ASKED_WAIT: Duration = Duration::from_secs(5 * 60);

/// A step's retries: `backoff × 2^(attempt-1)` (the doubling stops at 2^10) with ±20 %
/// jitter, and at least what the failed call asked for (`StepError::retry_after`), within
/// [`MAX_ASKED_WAIT`].
fn retry_policy(retries: u32, base: Duration) -> Policy {
    Policy::exponential(retries.saturating_add(1), base)
        .capped(base.saturating_mul(1 << 10))
        .jittered(0.2)
        .asked(Asked::AtLeast(MAX_ASKED_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_waits_at_least_what_the_call_asked_for_within_a_cap() {
        let policy = retry_policy(2, Duration::from_secs(1));
        let wait = |asked: Option<Duration>| policy.delay_drawn(1, asked, 0.5);
        assert_eq!(wait(None), Duration::from_secs(1), "the backoff alone");
        assert_eq!(
            wait(Some(Duration::from_millis(7000))),
            Duration::from_secs(7)
        );
        assert_eq!(
            wait(Some(Duration::from_millis(86_400_000))),
            MAX_ASKED_WAIT,
            "capped"
        );
        assert!(policy.allows_another(2) && !policy.allows_another(3));
    }
}
