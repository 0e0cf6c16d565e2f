//! The runbook engine: executes a run's steps in order, durably. A step's start is in the log
//! before its side effect begins and its end before the next step starts, so a restart folds
//! the log and carries on: finished steps never run again, an interrupted idempotent step is
//! re-run, an interrupted non-idempotent one pauses the run for a human.
//!
//! This file is the engine's handle (start, recover, decide, cancel, shut down); a run is
//! driven by `driver`, one step at a time by `step`, paused and decided in `pause`,
//! posted to the channel by `progress`, its parameters checked by `params`; [`plan`] is the dry run.

mod driver;
mod params;
mod pause;
pub mod plan;
mod progress;
mod step;

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, info, info_span, warn};

use crate::domain::event::NewEvent;
use crate::domain::{Actor, IncidentId, RunId, Workstream};
use crate::events::{RunCancelRequested, RunStarted};
use crate::ports::ha::Leadership;
use crate::ports::store::{EventStore, StoreError};
use crate::runbook::Runbook;
use crate::runbook::state::{RunStatus, RunView, fold};
use crate::steps::StepEnv;
use driver::Driver;
use params::resolve_params;

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
    #[error("this node is not the leader of the Lifeboat pair; the leader takes commands")]
    NotLeading,
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
    /// Whether this node may act (always, for a single node): checked before a run starts and
    /// before each step starts.
    leadership: Leadership,
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
            leadership: Leadership::single(),
        }
    }

    /// The node's leadership in an HA pair (`[ha]`): no run and no step starts unless it may
    /// act. Without it the engine is a single node's and always acts.
    pub fn with_leadership(mut self, leadership: Leadership) -> Self {
        self.leadership = leadership;
        self
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
        if !self.leadership.may_act() {
            return Err(EngineError::NotLeading);
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
            thread: Default::default(),
            leadership: self.leadership.clone(),
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
