//! The scheduler: the timer loop (here) behind the jobs it runs, each in its own file: RTO
//! checkpoints (`checkpoints`), the drill and plan-review reminders (`reminders`), the RPO
//! watch (`rpo_watch`), scheduled database backups (`db_backup`), the weekly parity check
//! (`parity_watch`) and the training reminder (`training`). Every decision is a pure function of the log and `now`, in
//! `crate::reminders`, `crate::incident` and `crate::parity` (tested there); the loop carries
//! them out.
//! A checkpoint, reminder or RPO alert counts as done only once it was delivered: it is posted,
//! then its event (`clock.checkpoint`, `reminder.posted`, `rpo.*`) is logged and read back on
//! the next pass. A post that fails is logged as its own kind (`clock.checkpoint_failed`,
//! `reminder.failed`, `rpo.alert_failed`) which counts for nothing, so the next pass retries
//! it. The one remaining window: a crash between a successful post and its event means the
//! message is posted once more after the restart (a store that cannot be written repeats it
//! on each pass until it can). Store reads and appends run on tokio's blocking pool. Time
//! comes from a `Clock` and tokio timers, so tests drive it with `tokio::time::pause`.

mod checkpoints;
mod db_backup;
mod parity_watch;
mod reminders;
mod rpo_watch;
mod training;

pub use parity_watch::ParityEffect;
use rpo_watch::{RpoWatch, backup_step, store_step};

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::domain::event::{Event, NewEvent};
use crate::drill::history::DrillRecord;
use crate::events::{Delivery, EventKind};
use crate::incident::{IncidentView, StepHistory};
use crate::ports::chat::{ChannelId, Message, incident_thread};
use crate::ports::clock::Clock;
use crate::ports::members::Members;
use crate::ports::store::{EventStore, StoreError};
use crate::runbook::Runbook;
use crate::steps::StepEnv;

/// What one pass of the scheduler reads of the log (see `Scheduler::read_pass`).
struct Pass {
    open: Vec<IncidentView>,
    history: StepHistory,
    /// Each open incident's thread, if one was opened.
    threads: BTreeMap<crate::domain::IncidentId, Option<ChannelId>>,
    /// The events the reminders fold: finished drills, plan reviews, reminders posted.
    reminders: Vec<Event>,
}

/// The longest the loop sleeps: new incidents and runs are noticed within this time.
pub const TICK: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedulerError {
    #[error("[schedule] rpo_watch_runbook: no runbook `{name}` (known: {known})")]
    UnknownRunbook { name: String, known: String },
    #[error("[schedule] rpo_watch_runbook: runbook `{0}` has no backup_check step to run")]
    NoBackupCheck(String),
    #[error(
        "[schedule] rpo_watch_every is set but no runbook has a backup_check step: add one, or set rpo_watch_runbook"
    )]
    NoRunbookWithBackupCheck,
}

pub struct Scheduler {
    env: StepEnv,
    runbooks: Vec<Runbook>,
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    rpo: Option<RpoWatch>,
    /// The finished drills of each `drill-*` log already read: a finished drill's log no
    /// longer changes, so each is opened once (a log still being written is locked, is
    /// skipped, and is read on a later pass).
    drill_logs: Mutex<BTreeMap<PathBuf, Vec<DrillRecord>>>,
    training: training::TrainingWatch,
    /// The chat's guild members, for the training reminder (`None`: roster and records only).
    members: Option<Arc<dyn Members>>,
}

impl Scheduler {
    /// Builds the scheduler; a misconfigured RPO watch is an error here, at start.
    pub fn new(
        env: StepEnv,
        runbooks: Vec<Runbook>,
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SchedulerError> {
        let schedule = &env.config.schedule;
        let rpo = match schedule.rpo_watch_every {
            None => None,
            Some(every) if schedule.rpo_watch_runbook.is_none() && env.config.data.is_some() => {
                Some(RpoWatch {
                    every: every.get(),
                    runbook: "[data.backups]".into(),
                    step: store_step(),
                    args: None,
                })
            }
            Some(every) => {
                let (runbook, (step, args)) = match &schedule.rpo_watch_runbook {
                    Some(name) => {
                        let rb = runbooks.iter().find(|r| &r.name == name).ok_or_else(|| {
                            SchedulerError::UnknownRunbook {
                                name: name.clone(),
                                known: runbooks
                                    .iter()
                                    .map(|r| r.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", "),
                            }
                        })?;
                        let found = backup_step(rb)
                            .ok_or_else(|| SchedulerError::NoBackupCheck(name.clone()))?;
                        (rb, found)
                    }
                    None => {
                        let mut sorted: Vec<&Runbook> = runbooks.iter().collect();
                        sorted.sort_by(|a, b| a.name.cmp(&b.name));
                        sorted
                            .into_iter()
                            .find_map(|rb| backup_step(rb).map(|found| (rb, found)))
                            .ok_or(SchedulerError::NoRunbookWithBackupCheck)?
                    }
                };
                Some(RpoWatch {
                    every: every.get(),
                    runbook: runbook.name.clone(),
                    step,
                    args: Some(args),
                })
            }
        };
        Ok(Self {
            env,
            runbooks,
            store,
            clock,
            rpo,
            drill_logs: Mutex::default(),
            training: training::TrainingWatch::default(),
            members: None,
        })
    }

    /// Lets the training reminder read the chat's guild members.
    pub fn with_members(mut self, members: Option<Arc<dyn Members>>) -> Self {
        self.members = members;
        self
    }

    /// Runs until `shutdown` completes: a pass at start, then at every checkpoint, every
    /// [`TICK`] and every `rpo_watch_every`.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut next_rpo = tokio::time::Instant::now();
        let db_every = self
            .env
            .config
            .schedule
            .db_backup_every
            .filter(|_| self.env.config.data.is_some())
            .map(|d| d.get());
        let mut next_db_backup = tokio::time::Instant::now();
        let backing_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let parity_every = self.parity_every();
        let mut next_parity = None;
        // The parity check in progress: polled beside the sleep (below), never awaited in line,
        // so a slow Heroku or ECS holds up neither checkpoints nor shutdown (which drops it).
        let mut parity_check: Option<
            std::pin::Pin<Box<dyn Future<Output = Option<ParityEffect>> + Send + '_>>,
        > = None;
        loop {
            if let Some(every) = db_every
                && tokio::time::Instant::now() >= next_db_backup
            {
                self.start_db_backup(&backing_up);
                next_db_backup = tokio::time::Instant::now() + every;
            }
            let next_checkpoint = self.tick().await;
            let now_instant = tokio::time::Instant::now();
            if let Some(rpo) = &self.rpo
                && now_instant >= next_rpo
            {
                self.watch_rpo().await;
                next_rpo = tokio::time::Instant::now() + rpo.every;
            }
            let mut wake = tokio::time::Instant::now() + TICK;
            if self.rpo.is_some() {
                wake = wake.min(next_rpo);
            }
            if db_every.is_some() {
                wake = wake.min(next_db_backup);
            }
            if let Some(every) = parity_every
                && parity_check.is_none()
            {
                match self.parity_due(every, &mut next_parity).await {
                    Ok(()) => parity_check = Some(Box::pin(self.watch_parity())),
                    Err(until) => {
                        wake = wake
                            .min(tokio::time::Instant::now() + until.max(Duration::from_millis(1)));
                    }
                }
            }
            if let Some(at) = next_checkpoint {
                // At least a millisecond: under paused time a zero sleep would never let
                // the clock move on.
                let until = (at - self.clock.now())
                    .to_std()
                    .unwrap_or_default()
                    .max(Duration::from_millis(1));
                wake = wake.min(tokio::time::Instant::now() + until);
            }
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                effect = async { parity_check.as_mut().expect("enabled only when running").await },
                    if parity_check.is_some() =>
                {
                    parity_check = None;
                    if let Some(every) = parity_every {
                        next_parity = Some(self.parity_next(every, effect.as_ref()));
                    }
                }
                () = &mut shutdown => break,
            }
        }
        info!("scheduler stopped");
    }

    /// Reads the log off the async threads (sled reads block), through `read`.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&dyn EventStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Option<T> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || read(store.as_ref())).await {
            Ok(Ok(read)) => Some(read),
            Ok(Err(err)) => {
                warn!(error = %err, "the scheduler could not read the event log");
                None
            }
            Err(err) => {
                warn!(error = %err, "the scheduler's log read did not finish");
                None
            }
        }
    }

    /// What one pass reads, through the store's indexes: the open incidents (with their
    /// threads) and the step history their forecasts need, and the events the reminders fold
    /// (finished drills, plan reviews, reminders posted).
    async fn read_pass(&self) -> Option<Pass> {
        let (config, runbooks) = (self.env.config.clone(), self.runbooks.clone());
        self.read(move |store| {
            let open = crate::views::open_incidents(store)?;
            let needed = crate::views::forecast_runbooks(&open, &config, &runbooks);
            let history = crate::views::step_history(store, &needed)?;
            let mut threads = BTreeMap::new();
            for inc in &open {
                threads.insert(
                    inc.id.clone(),
                    incident_thread(&store.by_incident(&inc.id)?),
                );
            }
            let kinds = [
                EventKind::DrillFinished,
                EventKind::PlanReviewed,
                EventKind::ReminderPosted,
            ];
            Ok(Pass {
                open,
                history,
                threads,
                reminders: crate::views::of_kinds(store, &kinds)?,
            })
        })
        .await
    }

    /// Posts one message: what was posted, or why it was not.
    async fn post(&self, channel: &ChannelId, text: String) -> Result<Delivery, String> {
        let message = Message {
            content: text,
            ..Message::default()
        };
        match self.env.chat.post(channel, &message).await {
            Ok(posted) => Ok(Delivery::posted(posted)),
            Err(err) => {
                warn!(error = %err, "a scheduled message could not be posted; it is retried");
                Err(err.to_string())
            }
        }
    }

    /// Appends off the async threads (an append flushes to disk).
    async fn append(&self, events: Vec<NewEvent>) {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.append_batch(events)).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                tracing::error!(error = %err, "scheduled events could not be stored");
            }
            Err(err) => {
                tracing::error!(error = %err, "storing scheduled events did not finish");
            }
        }
    }

    /// One pass over the clocks and reminders. Returns when the next checkpoint falls due.
    pub async fn tick(&self) -> Option<DateTime<Utc>> {
        let pass = self.read_pass().await?;
        let next = self.checkpoints(&pass).await;
        let drills = self.drills(&pass.reminders).await;
        self.reminders(&pass.reminders, &drills).await;
        self.training_reminder(&pass.reminders).await;
        next
    }
}
