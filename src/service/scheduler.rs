//! The scheduler: the timer loop behind RTO checkpoints, the drill and plan-review reminders,
//! the RPO watch and the weekly parity check ([`parity_watch`]). Every decision is a pure function of the log and `now`, in
//! `crate::reminders` and `crate::incident` (tested there); this loop carries them out.
//! A checkpoint, reminder or RPO alert counts as done only once it was delivered: it is posted,
//! then its event (`clock.checkpoint`, `reminder.posted`, `rpo.*`) is logged and read back on
//! the next pass. A post that fails is logged as its own kind (`clock.checkpoint_failed`,
//! `reminder.failed`, `rpo.alert_failed`) which counts for nothing, so the next pass retries
//! it. The one remaining window: a crash between a successful post and its event means the
//! message is posted once more after the restart (a store that cannot be written repeats it
//! on each pass until it can). Store reads and appends run on tokio's blocking pool. Time
//! comes from a `Clock` and tokio timers, so tests drive it with `tokio::time::pause`.

mod parity_watch;

pub use parity_watch::ParityEffect;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, instrument, warn};

use crate::domain::event::{Event, NewEvent};
use crate::domain::{Actor, RunId};
use crate::drill::history::{DrillRecord, drilled_protocols, drills_from_events};
use crate::events::{
    ClockCheckpoint, ClockCheckpointFailed, Delivery, EventKind, Payload, ReminderFailed,
    ReminderPosted, RpoAlertFailed, RpoMeasured, RpoUnreadable,
};
use crate::incident::{self, IncidentView, StepHistory};
use crate::ports::chat::{ChannelId, Message, incident_thread};
use crate::ports::clock::Clock;
use crate::ports::store::{EventStore, StoreError};
use crate::reminders::{
    BackupReading, ReminderKind, RpoEffect, drill_basis, reminder_due, review_basis, rpo_decision,
};
use crate::runbook::{BackupCheck, Runbook, Step, StepAction};
use crate::steps::{StepEnv, StepError, StepInput};

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

/// The backup check the RPO watch runs: a runbook's `backup_check` step.
#[derive(Debug, Clone)]
struct RpoWatch {
    every: Duration,
    runbook: String,
    step: Step,
    /// `None`: the newest backup in `[data.backups]` (when `[data]` is configured and no
    /// runbook is named).
    args: Option<BackupCheck>,
}

/// The watch's own step when it reads `[data.backups]`: a name for messages and a timeout.
fn store_step() -> Step {
    Step {
        id: "newest-backup".into(),
        title: "The newest backup in [data.backups]".into(),
        action: StepAction::BackupCheck(BackupCheck {
            url: None,
            time_pointer: None,
            command: None,
            max_age: None,
        }),
        timeout: crate::duration::HumanDuration::from_secs(120),
        retries: 0,
        backoff: crate::duration::HumanDuration::from_secs(2),
        idempotent: true,
        on_failure: crate::runbook::OnFailure::Abort,
    }
}

fn backup_step(runbook: &Runbook) -> Option<(Step, BackupCheck)> {
    runbook.steps.iter().find_map(|s| match &s.action {
        StepAction::BackupCheck(args) => Some((s.clone(), args.clone())),
        _ => None,
    })
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
        })
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

    /// Every finished drill: those in the live log and those in the `drill-*` logs beside it
    /// (where `/drill start` and `lifeboat drill` write), oldest first.
    async fn drills(&self, events: &[Event]) -> Vec<DrillRecord> {
        let data_dir = self.env.config.store.data_dir.clone();
        let known: BTreeSet<PathBuf> = match self.drill_logs.lock() {
            Ok(logs) => logs.keys().cloned().collect(),
            Err(_) => BTreeSet::new(),
        };
        let read = tokio::task::spawn_blocking(move || {
            crate::store::drill_logs::read_drill_logs(&data_dir, &known)
        })
        .await;
        let mut drills = drills_from_events(events);
        if let Ok(mut logs) = self.drill_logs.lock() {
            match read {
                Ok(found) => logs.extend(found),
                Err(err) => warn!(error = %err, "reading the drill logs did not finish"),
            }
            drills.extend(logs.values().flatten().cloned());
        }
        drills.sort_by_key(|d| d.at);
        drills
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
        next
    }

    /// Posts the checkpoints due on every open incident's clocks; returns the next one.
    #[instrument(skip_all)]
    async fn checkpoints(&self, pass: &Pass) -> Option<DateTime<Utc>> {
        let now = self.clock.now();
        let (open, history) = (&pass.open, &pass.history);
        if open.is_empty() {
            return None;
        }
        let mut next: Option<DateTime<Utc>> = None;
        for inc in open {
            for clock in incident::clocks(inc, &self.env.config.objectives) {
                let mut posted = incident::posted(inc, clock.workstream);
                let due = clock.due_checkpoints(now, &posted);
                if let Some(&highest) = due.last() {
                    let delivered = self
                        .post_checkpoint(pass, inc, &clock, &due, highest, history, now)
                        .await;
                    if !delivered {
                        // Retried on the next pass (within a `TICK`), not in a tight loop.
                        continue;
                    }
                    posted.extend(due);
                }
                if let Some(at) = clock.next_checkpoint(&posted) {
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
            }
        }
        next
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one checkpoint needs the incident, its clock and what was decided about it"
    )]
    async fn post_checkpoint(
        &self,
        pass: &Pass,
        inc: &IncidentView,
        clock: &incident::RtoClock,
        due: &[u8],
        highest: u8,
        history: &StepHistory,
        now: DateTime<Utc>,
    ) -> bool {
        let forecast =
            incident::clock_forecast(inc, clock, &self.env.config, &self.runbooks, history, now);
        let text = incident::checkpoint_text(inc, clock, highest, forecast.as_ref(), now);
        let channel = (pass.threads.get(&inc.id).cloned().flatten())
            .unwrap_or_else(|| self.env.channel.clone());
        info!(incident = %inc.id, workstream = %clock.workstream, percent = highest, "RTO checkpoint");
        let delivery = match self.post(&channel, text.clone()).await {
            Ok(delivery) => delivery,
            Err(error) => {
                self.append(vec![
                    NewEvent::of(
                        Actor::Scheduler,
                        ClockCheckpointFailed {
                            workstream: Some(clock.workstream),
                            percents: due.to_vec(),
                            posted_as: highest,
                            error,
                        },
                    )
                    .incident(inc.id.clone()),
                ])
                .await;
                return false;
            }
        };
        let batch = due
            .iter()
            .map(|percent| {
                NewEvent::of(
                    Actor::Scheduler,
                    ClockCheckpoint {
                        workstream: Some(clock.workstream),
                        percent: *percent,
                        posted_as: highest,
                        elapsed_secs: clock.elapsed(now).as_secs(),
                        budget_secs: clock.budget.as_secs(),
                        forecast_fits: forecast.as_ref().map(incident::Forecast::fits),
                        text: text.clone(),
                        delivery: Some(delivery.clone()),
                    },
                )
                .incident(inc.id.clone())
            })
            .collect();
        self.append(batch).await;
        true
    }

    /// Posts the drill and plan-review reminders that are due and not yet posted.
    #[instrument(skip_all)]
    /// `drills` are every finished drill, from this log and the `drill-*` logs.
    #[instrument(skip_all)]
    pub async fn reminders(&self, events: &[Event], drills: &[DrillRecord]) {
        let now = self.clock.now();
        let schedule = &self.env.config.schedule;
        let protocols = drilled_protocols(&self.env.config, &self.runbooks);
        for (kind, every, basis) in [
            (
                ReminderKind::Drill,
                schedule.drill_every.get(),
                drill_basis(&protocols, drills),
            ),
            (
                ReminderKind::Review,
                schedule.review_every.get(),
                review_basis(events),
            ),
        ] {
            let Some(due) = reminder_due(kind, basis, events, every, now) else {
                continue;
            };
            info!(
                reminder = kind.as_str(),
                period = due.period,
                "reminder due"
            );
            let (reminder, basis_at, protocol, period) = (
                kind.as_str().to_owned(),
                due.basis_at(),
                due.basis.as_ref().and_then(|b| b.protocol.clone()),
                due.period,
            );
            let done: Payload = match self
                .post(&self.env.channel, due.message(kind, every, now))
                .await
            {
                Ok(delivery) => ReminderPosted {
                    reminder,
                    basis_at,
                    protocol,
                    period,
                    delivery: Some(delivery),
                }
                .into(),
                Err(error) => ReminderFailed {
                    reminder,
                    basis_at,
                    protocol,
                    period,
                    error,
                }
                .into(),
            };
            self.append(vec![NewEvent::of(Actor::Scheduler, done)])
                .await;
        }
    }

    /// Starts one database backup in the background (`[schedule] db_backup_every`), unless
    /// the previous one is still running; it records `db.backup_taken` or `db.backup_failed`.
    fn start_db_backup(&self, busy: &Arc<std::sync::atomic::AtomicBool>) {
        use std::sync::atomic::Ordering;
        if busy.swap(true, Ordering::SeqCst) {
            warn!("the previous database backup is still running; skipping this one");
            return;
        }
        let (edges, config, store) = (
            self.env.data.clone(),
            self.env.config.clone(),
            self.store.clone(),
        );
        let busy = busy.clone();
        tokio::spawn(async move {
            match crate::db::cli::backup_into(&edges, &config, Some(store.as_ref())).await {
                Ok(line) => info!(%line, "database backup"),
                Err(error) => warn!(%error, "database backup failed"),
            }
            busy.store(false, Ordering::SeqCst);
        });
    }

    /// Runs the backup check once and posts a breach (or its end) when the state changes.
    #[instrument(skip_all)]
    pub async fn watch_rpo(&self) -> Option<RpoEffect> {
        let watch = self.rpo.as_ref()?;
        let run = RunId::from("rpo-watch");
        let params = BTreeMap::new();
        let earlier = BTreeMap::new();
        let input = StepInput {
            run: &run,
            incident: None,
            step: &watch.step,
            workstream: None,
            params: &params,
            earlier: &earlier,
            attempt: 1,
        };
        let checked = tokio::time::timeout(watch.step.timeout.get(), async {
            match &watch.args {
                Some(args) => crate::steps::backup::check(&self.env, &input, args).await,
                None => crate::steps::db::newest_backup_age(&self.env).await,
            }
        })
        .await
        .unwrap_or_else(|_| {
            Err(StepError::retryable(format!(
                "the backup check did not answer within {}",
                watch.step.timeout
            )))
        });
        let reading = BackupReading::from_check(&checked);
        let state = self.read(crate::views::rpo_state).await?;
        let effect = rpo_decision(state, &reading)?;
        let rpo = self.env.config.objectives.rpo.get();
        let text = effect.message(&reading, rpo, &watch.runbook, &watch.step.id);
        info!(effect = effect.kind(), "RPO watch");
        let (rpo_secs, runbook, step) =
            (rpo.as_secs(), watch.runbook.clone(), watch.step.id.clone());
        match self.post(&self.env.channel, text).await {
            Ok(delivery) => {
                let delivery = Some(delivery);
                let done = match &reading {
                    BackupReading::Unreadable { error } => Payload::RpoUnreadable(RpoUnreadable {
                        error: error.clone(),
                        rpo_secs,
                        runbook,
                        step,
                        delivery,
                    }),
                    _ => {
                        let measured = RpoMeasured {
                            backup: reading.backup(),
                            rpo_secs,
                            runbook,
                            step,
                            delivery,
                        };
                        match effect {
                            RpoEffect::Breached => Payload::RpoBreached(measured),
                            RpoEffect::Recovered => Payload::RpoRecovered(measured),
                            _ => Payload::RpoReadable(measured),
                        }
                    }
                };
                self.append(vec![NewEvent::of(Actor::Scheduler, done)])
                    .await;
                Some(effect)
            }
            Err(error) => {
                // Not a state change: the next check decides (and posts) again.
                let failed = RpoAlertFailed {
                    backup: reading.backup(),
                    error,
                    effect: Some(effect.event_kind()),
                    rpo_secs,
                    runbook,
                    step,
                };
                self.append(vec![NewEvent::of(Actor::Scheduler, failed)])
                    .await;
                None
            }
        }
    }
}
