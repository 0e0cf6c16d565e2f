//! The runbook engine: executes a run's steps in order, durably. A step's start is in the log
//! before its side effect begins and its end before the next step starts, so a restart folds
//! the log and carries on: finished steps never run again, an interrupted idempotent step is
//! re-run, an interrupted non-idempotent one pauses the run for a human.

pub mod plan;

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, info, info_span, warn};

use crate::domain::event::NewEvent;
use crate::domain::{Actor, IncidentId, RunId, Workstream};
use crate::events::{
    Payload, RunAborted, RunCancelRequested, RunCancelled, RunFailed, RunPaused, RunResumed,
    RunStarted, RunSucceeded, StepFailed, StepInterrupted, StepRetrying, StepSkipped, StepStarted,
    StepSucceeded,
};
use crate::ports::chat::{Action, Button, ButtonStyle, Message};
use crate::ports::store::{EventStore, StoreError};
use crate::retry::{Asked, Policy};
use crate::runbook::state::{RunStatus, RunView, fold};
use crate::runbook::{OnFailure, Runbook, Step};
use crate::steps::{self, StepEnv, StepError, StepInput, StepOutput};

/// What a responder decides for a paused run (defined with the buttons that carry it).
pub use crate::ports::chat::Decision;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "workstream {workstream} already has an active run: {run} ({runbook}); wait for it, or cancel it first"
    )]
    Busy {
        workstream: Workstream,
        run: RunId,
        runbook: String,
    },
    #[error("runbook {runbook} needs parameter `{name}`")]
    MissingParam { runbook: String, name: String },
    #[error("runbook {runbook} has no parameter `{name}`")]
    UnknownParam { runbook: String, name: String },
    #[error("no active run {0}")]
    UnknownRun(RunId),
    #[error("run {0} is not paused")]
    NotPaused(RunId),
    #[error("the event log refused the run: {0}")]
    Store(#[from] StoreError),
    #[error("Lifeboat is shutting down; start the run again once it is back")]
    ShuttingDown,
}

struct Control {
    workstream: Workstream,
    runbook: String,
    decisions: mpsc::UnboundedSender<(Decision, Actor)>,
    cancel: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
}

/// A started run: its id and the task driving it.
pub struct RunHandle {
    pub run: RunId,
    pub task: JoinHandle<RunStatus>,
}

#[derive(Clone)]
pub struct Engine {
    env: StepEnv,
    store: Arc<dyn EventStore>,
    controls: Arc<Mutex<BTreeMap<RunId, Control>>>,
    /// Turns true on shutdown: no new run starts, and drivers stop at their next step boundary.
    stopping: Arc<watch::Sender<bool>>,
    metrics: crate::metrics::Recorder,
}

impl Engine {
    pub fn new(mut env: StepEnv, store: Arc<dyn EventStore>) -> Self {
        // Notifications and drafts record their deliveries in the same log as the runs.
        env.comms.store.get_or_insert_with(|| store.clone());
        Self {
            env,
            store,
            controls: Arc::new(Mutex::new(BTreeMap::new())),
            stopping: Arc::new(watch::Sender::new(false)),
            metrics: crate::metrics::Recorder::live(),
        }
    }

    /// Replaces where metrics go (a drill turns them off).
    pub fn with_metrics(mut self, metrics: crate::metrics::Recorder) -> Self {
        self.metrics = metrics;
        self
    }

    /// Starts a graceful shutdown: new runs are refused; each run finishes the step it is in
    /// (its end is durable) and starts no other; paused runs stay paused in the log.
    pub fn begin_shutdown(&self) {
        self.stopping.send_replace(true);
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Waits up to `grace` for every run to reach a step boundary and stop; returns the runs
    /// still in a step when the grace ran out (they resume on the next start, as after a crash).
    pub async fn drain(&self, grace: Duration) -> Vec<RunId> {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let active: Vec<RunId> = self.lock().keys().cloned().collect();
            if active.is_empty() || tokio::time::Instant::now() >= deadline {
                return active;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn env(&self) -> &StepEnv {
        &self.env
    }

    /// Starts a run (after its approvals). Refused while the workstream has an active run.
    pub fn start(
        &self,
        runbook: &Runbook,
        params: BTreeMap<String, String>,
        incident: Option<IncidentId>,
        actor: Actor,
    ) -> Result<RunHandle, EngineError> {
        let params = resolve_params(runbook, params)?;
        if self.is_shutting_down() {
            return Err(EngineError::ShuttingDown);
        }
        let mut controls = self.lock();
        if let Some((run, control)) = controls
            .iter()
            .find(|(_, c)| c.workstream == runbook.workstream)
        {
            return Err(EngineError::Busy {
                workstream: runbook.workstream,
                run: run.clone(),
                runbook: control.runbook.clone(),
            });
        }
        let now = self.env.clock.now();
        // Time for people, a random suffix so two runs in one second never share an id.
        let suffix = std::collections::hash_map::RandomState::new().hash_one(now) & 0xffff;
        let run = RunId(format!(
            "RUN-{}-{}-{suffix:04x}",
            now.format("%Y%m%d-%H%M%S"),
            runbook.name
        ));
        let mut started = NewEvent::of(
            actor,
            RunStarted {
                runbook: runbook.name.clone(),
                title: runbook.title.clone(),
                workstream: Some(runbook.workstream),
                file_hash: runbook.file_hash.clone(),
                params,
                steps: runbook.steps.iter().map(|s| s.id.clone()).collect(),
            },
        )
        .run(run.clone());
        if let Some(incident) = &incident {
            started = started.incident(incident.clone());
        }
        let event = self.store.append(started)?;
        let view = fold(&[event])
            .pop()
            .ok_or_else(|| EngineError::UnknownRun(run.clone()))?;
        Ok(self.spawn(&mut controls, runbook.clone(), view))
    }

    /// Finds runs the log says are unfinished and carries them on. Returns their handles.
    pub fn recover(&self, runbooks: &[Runbook]) -> Result<Vec<RunHandle>, EngineError> {
        // The open-run index names them; only their events are read.
        let mut unfinished = Vec::new();
        for run in self.store.open_runs()? {
            unfinished.extend(fold(&self.store.by_run(&run)?));
        }
        let mut handles = Vec::new();
        let mut controls = self.lock();
        for view in unfinished {
            if view.status.is_terminal() || controls.contains_key(&view.run) {
                continue;
            }
            let Some(runbook) = runbooks.iter().find(|r| r.name == view.runbook) else {
                warn!(run = %view.run, runbook = %view.runbook, "unfinished run of a runbook that no longer exists");
                continue;
            };
            info!(run = %view.run, status = ?view.status, "resuming an unfinished run");
            handles.push(self.spawn(&mut controls, runbook.clone(), view));
        }
        Ok(handles)
    }

    /// A responder's decision on a paused run.
    pub fn decide(&self, run: &RunId, decision: Decision, actor: Actor) -> Result<(), EngineError> {
        let controls = self.lock();
        let control = controls
            .get(run)
            .ok_or_else(|| EngineError::UnknownRun(run.clone()))?;
        // One decision per pause: the first closes it, so a second press (or a stale button)
        // is refused instead of waiting in the channel to decide the next pause unseen.
        if control
            .paused
            .compare_exchange(true, false, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(EngineError::NotPaused(run.clone()));
        }
        control
            .decisions
            .send((decision, actor))
            .map_err(|_| EngineError::UnknownRun(run.clone()))
    }

    /// Stops a run after its current step.
    pub fn cancel(&self, run: &RunId, actor: Actor) -> Result<(), EngineError> {
        let controls = self.lock();
        let control = controls
            .get(run)
            .ok_or_else(|| EngineError::UnknownRun(run.clone()))?;
        self.store
            .append(NewEvent::of(actor.clone(), RunCancelRequested {}).run(run.clone()))?;
        control.cancel.store(true, Ordering::SeqCst);
        if control
            .paused
            .compare_exchange(true, false, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            let _ = control.decisions.send((Decision::Abort, actor));
        }
        Ok(())
    }

    /// The runs in progress (running or paused), from the log.
    pub fn active(&self) -> Result<Vec<RunView>, EngineError> {
        let ids: Vec<RunId> = self.lock().keys().cloned().collect();
        let mut views = Vec::new();
        for id in ids {
            views.extend(fold(&self.store.by_run(&id)?));
        }
        Ok(views)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<RunId, Control>> {
        self.controls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn spawn(
        &self,
        controls: &mut BTreeMap<RunId, Control>,
        runbook: Runbook,
        view: RunView,
    ) -> RunHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = Arc::new(AtomicBool::new(view.cancel_requested));
        let paused = Arc::new(AtomicBool::new(false));
        controls.insert(
            view.run.clone(),
            Control {
                workstream: runbook.workstream,
                runbook: runbook.name.clone(),
                decisions: tx,
                cancel: cancel.clone(),
                paused: paused.clone(),
            },
        );
        let run = view.run.clone();
        let driver = Driver {
            env: self.env.clone(),
            store: self.store.clone(),
            runbook,
            view,
            decisions: rx,
            cancel,
            paused,
            pause_open: false,
            stopping: self.stopping.subscribe(),
            metrics: self.metrics,
        };
        let controls = self.controls.clone();
        let span = info_span!("run", run = %run);
        let task = tokio::spawn(
            async move {
                let id = driver.view.run.clone();
                let runbook = driver.runbook.name.clone();
                let metrics = driver.metrics;
                let status = driver.drive().await;
                if let Some(outcome) = outcome(&status) {
                    metrics.run_finished(&runbook, outcome);
                }
                controls
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                status
            }
            .instrument(span),
        );
        RunHandle { run, task }
    }
}

/// Checks the given parameters against the runbook and fills in defaults.
fn resolve_params(
    runbook: &Runbook,
    mut given: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, EngineError> {
    if let Some(name) = given
        .keys()
        .find(|k| !runbook.params.iter().any(|p| &p.name == *k))
    {
        return Err(EngineError::UnknownParam {
            runbook: runbook.name.clone(),
            name: name.clone(),
        });
    }
    for param in &runbook.params {
        if !given.contains_key(&param.name) {
            match &param.default {
                Some(default) => {
                    given.insert(param.name.clone(), default.clone());
                }
                None => {
                    return Err(EngineError::MissingParam {
                        runbook: runbook.name.clone(),
                        name: param.name.clone(),
                    });
                }
            }
        }
    }
    Ok(given)
}

/// Drives one run to its end.
struct Driver {
    env: StepEnv,
    store: Arc<dyn EventStore>,
    runbook: Runbook,
    view: RunView,
    decisions: mpsc::UnboundedReceiver<(Decision, Actor)>,
    cancel: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    /// This pause was marked (decisions accepted) and not yet awaited.
    pause_open: bool,
    stopping: watch::Receiver<bool>,
    metrics: crate::metrics::Recorder,
}

/// The `outcome` label of a finished run; `None` while it is not finished.
fn outcome(status: &RunStatus) -> Option<&'static str> {
    match status {
        RunStatus::Running | RunStatus::Paused { .. } => None,
        RunStatus::Succeeded => Some("succeeded"),
        RunStatus::Failed { .. } => Some("failed"),
        RunStatus::Aborted { .. } => Some("aborted"),
        RunStatus::Cancelled => Some("cancelled"),
    }
}

enum Next {
    Continue,
    Stop(RunStatus),
}

impl Driver {
    async fn drive(mut self) -> RunStatus {
        // After a restart: decide what to do with the step the crash interrupted.
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
                self.mark_paused();
                self.record(RunPaused {
                    step: step_id.clone(),
                    reason: reason.clone(),
                });
                self.progress(format!("⏸ paused: {reason}"), true).await;
                self.view.status = RunStatus::Paused {
                    step: step_id,
                    reason,
                };
            }
        }
        if self.view.file_hash != self.runbook.file_hash
            && matches!(self.view.status, RunStatus::Running)
        {
            let step = self.next_step().map(|s| s.id.clone()).unwrap_or_default();
            let reason = "the runbook file changed since this run started; review the change, then retry (with the new file), skip or abort".to_owned();
            self.mark_paused();
            self.record(RunPaused {
                step: step.clone(),
                reason: reason.clone(),
            });
            self.progress(format!("⏸ paused: {reason}"), true).await;
            self.view.status = RunStatus::Paused { step, reason };
        }
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
            let Some(step) = self.next_step().cloned() else {
                let elapsed = (self.env.clock.now() - self.view.started_at).num_milliseconds();
                self.record(RunSucceeded {
                    duration_ms: elapsed,
                });
                self.progress(
                    format!(
                        "🏁 {} finished in {}",
                        self.runbook.name,
                        crate::duration::format_elapsed(Duration::from_millis(
                            elapsed.max(0) as u64
                        ))
                    ),
                    false,
                )
                .await;
                return RunStatus::Succeeded;
            };
            if let Next::Stop(status) = self.run_step(&step).await {
                return status;
            }
        }
    }

    fn next_step(&self) -> Option<&Step> {
        self.runbook
            .steps
            .iter()
            .find(|s| !self.view.finished.contains(&s.id))
    }

    /// Executes one step with its timeout and retries, and records how it ended.
    async fn run_step(&mut self, step: &Step) -> Next {
        let mut attempt = 1;
        let policy = retry_policy(step.retries, step.backoff.get());
        let started = Instant::now();
        self.record(StepStarted {
            step: step.id.clone(),
            title: step.title.clone(),
            kind: Some(step.action.kind()),
            attempt,
            idempotent: step.idempotent,
        });
        self.progress(format!("▶ {} — {}", step.id, step.title), false)
            .await;
        let result = loop {
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
            let result = match tokio::time::timeout(
                step.timeout.get(),
                steps::execute(&env, &input),
            )
            .await
            {
                Ok(result) => result,
                Err(_) => Err(StepError::retryable(format!(
                    "timed out after {}",
                    step.timeout
                ))),
            };
            match result {
                Err(err) if err.retryable && policy.allows_another(attempt) => {
                    let delay = policy.delay(attempt, asked_wait(&err.data));
                    self.record(StepRetrying {
                        step: step.id.clone(),
                        attempt,
                        error: err.message.clone(),
                        delay_ms: delay.as_millis() as u64,
                    });
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        // The retry note is durable; the step resumes on the next start.
                        _ = self.stopping.wait_for(|stop| *stop) => return Next::Stop(self.view.status.clone()),
                    }
                    attempt += 1;
                }
                other => break other,
            }
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        self.metrics.step_finished(
            step.action.kind().as_str(),
            if result.is_ok() {
                "succeeded"
            } else {
                "failed"
            },
            started.elapsed(),
        );
        match result {
            Ok(StepOutput { summary, data }) => {
                self.record(StepSucceeded {
                    step: step.id.clone(),
                    kind: Some(step.action.kind()),
                    summary: summary.clone(),
                    output: data.clone(),
                    duration_ms: Some(duration_ms),
                    attempts: Some(attempt),
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
            Err(err) => {
                self.record(StepFailed {
                    step: step.id.clone(),
                    kind: Some(step.action.kind()),
                    error: err.message.clone(),
                    retryable: err.retryable,
                    output: err.data.clone(),
                    duration_ms: Some(duration_ms),
                    attempts: Some(attempt),
                    on_failure: Some(step.on_failure),
                });
                self.progress(
                    format!(
                        "✖ {} ({duration_ms} ms, {attempt} attempt(s)): {}",
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
                        self.mark_paused();
                        self.record(RunPaused {
                            step: step.id.clone(),
                            reason: reason.clone(),
                        });
                        self.progress(format!("⏸ paused: {reason}"), true).await;
                        self.view.status = RunStatus::Paused {
                            step: step.id.clone(),
                            reason,
                        };
                        Next::Continue
                    }
                }
            }
        }
    }

    /// Takes decisions from the moment the pause is logged: a responder who sees it may
    /// decide (or cancel) while its message is still being posted; decisions wait in the
    /// channel until `await_decision` reads them.
    /// Anything still in the channel answered an earlier pause: it is dropped, never applied
    /// to this one (the cancel flag, not the channel, carries cancels).
    fn mark_paused(&mut self) {
        while self.decisions.try_recv().is_ok() {}
        self.pause_open = true;
        self.paused.store(true, Ordering::SeqCst);
    }

    /// Waits for a responder's decision on a paused run.
    async fn await_decision(&mut self, step: &str) -> Next {
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

    /// Tells the channel how the run goes; paused runs get their decision buttons.
    async fn progress(&self, text: String, paused: bool) {
        let run = &self.view.run;
        let buttons = if paused {
            [
                (Decision::Retry, "Resume", ButtonStyle::Primary),
                (Decision::Skip, "Skip", ButtonStyle::Secondary),
                (Decision::Abort, "Abort", ButtonStyle::Danger),
            ]
            .into_iter()
            .map(|(decision, label, style)| Button {
                custom_id: Action::Decide {
                    run: run.to_string(),
                    decision,
                }
                .to_custom_id(),
                label: label.into(),
                style,
            })
            .collect()
        } else {
            Vec::new()
        };
        let message = Message {
            pings: Box::default(),
            content: format!("[{run}] {text}"),
            embeds: Vec::new(),
            buttons,
        }
        .simulated(self.env.aws_simulated());
        if let Err(err) = self.env.chat.post(&self.channel(), &message).await {
            warn!(error = %err, "progress could not be posted");
        }
    }

    /// Where this run's messages go: its incident's thread once one is open (looked up each
    /// time, so a thread opened mid-run is used at once), else the configured channel.
    fn channel(&self) -> crate::ports::chat::ChannelId {
        crate::ports::chat::incident_channel(
            self.store.as_ref(),
            self.view.incident.as_ref(),
            &self.env.channel,
        )
    }

    fn record(&self, payload: impl Into<Payload>) {
        self.record_as(Actor::Bot, payload);
    }

    /// Appends an event for this run. A failed append is logged loudly; the run goes on
    /// only because stopping mid-failover would be worse than a gap the audit will show.
    fn record_as(&self, actor: Actor, payload: impl Into<Payload>) {
        let mut event = NewEvent::of(actor, payload).run(self.view.run.clone());
        if let Some(incident) = &self.view.incident {
            event = event.incident(incident.clone());
        }
        let kind = event.kind.clone();
        if let Err(err) = self.store.append(event) {
            tracing::error!(error = %err, %kind, "run event could not be stored");
        }
    }
}

/// The longest a provider may make a retry wait (`Retry-After`), so one odd answer cannot
/// hold a run for hours.
const MAX_ASKED_WAIT: Duration = Duration::from_secs(5 * 60);

/// How long the failed call asked to wait before another attempt (`retry_after_ms` in the
/// step error's data, from a `Retry-After`); `None` when it did not say.
fn asked_wait(data: &serde_json::Value) -> Option<Duration> {
    data["retry_after_ms"].as_u64().map(Duration::from_millis)
}

/// A step's retries: `backoff × 2^(attempt-1)` (the doubling stops at 2^10) with ±20 %
/// jitter, and at least what the failed call asked for, within [`MAX_ASKED_WAIT`].
fn retry_policy(retries: u32, base: Duration) -> Policy {
    Policy::exponential(retries.saturating_add(1), base)
        .capped(base.saturating_mul(1 << 10))
        .jittered(0.2)
        .asked(Asked::AtLeast(MAX_ASKED_WAIT))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_retry_waits_at_least_what_the_call_asked_for_within_a_cap() {
        let policy = retry_policy(2, Duration::from_secs(1));
        let wait = |data: serde_json::Value| policy.delay_drawn(1, asked_wait(&data), 0.5);
        assert_eq!(wait(json!({})), Duration::from_secs(1), "the backoff alone");
        assert_eq!(
            wait(json!({ "retry_after_ms": 7000 })),
            Duration::from_secs(7)
        );
        assert_eq!(
            wait(json!({ "retry_after_ms": 86_400_000 })),
            MAX_ASKED_WAIT,
            "capped"
        );
        assert!(policy.allows_another(2) && !policy.allows_another(3));
    }
}
