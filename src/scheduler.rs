//! The scheduler: the timer loop behind RTO checkpoints, the drill and plan-review reminders
//! and the RPO watch. Every decision is a pure function of the log and `now` (tested below).
//! A checkpoint, reminder or RPO alert counts as done only once it was delivered: it is posted,
//! then its event (`clock.checkpoint`, `reminder.posted`, `rpo.*`) is logged and read back on
//! the next pass. A post that fails is logged as its own kind (`clock.checkpoint_failed`,
//! `reminder.failed`, `rpo.alert_failed`) which counts for nothing, so the next pass retries
//! it. The one remaining window: a crash between a successful post and its event means the
//! message is posted once more after the restart (a store that cannot be written repeats it
//! on each pass until it can). Store reads and appends run on tokio's blocking pool. Time
//! comes from a `Clock` and tokio timers, so tests drive it with `tokio::time::pause`.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tracing::{info, instrument, warn};

use crate::domain::event::{Event, NewEvent};
use crate::domain::{Actor, RunId, Workstream};
use crate::duration::format_elapsed;
use crate::incident::{self, IncidentView, StepHistory};
use crate::ports::chat::{ChannelId, Message, incident_thread};
use crate::ports::clock::Clock;
use crate::ports::store::EventStore;
use crate::readiness::{self, DrillRecord};
use crate::runbook::state;
use crate::runbook::{BackupCheck, Runbook, Step, StepAction};
use crate::steps::{StepEnv, StepError, StepInput, StepOutput};

/// The longest the loop sleeps: new incidents and runs are noticed within this time.
pub const TICK: Duration = Duration::from_secs(60);

/// The event that records a plan review (`/dr reviewed`).
pub const PLAN_REVIEWED: &str = "plan.reviewed";

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
    args: BackupCheck,
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
                    args,
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
        loop {
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
                () = &mut shutdown => break,
            }
        }
        info!("scheduler stopped");
    }

    /// The whole log, read off the async threads (sled reads block).
    async fn read(&self) -> Option<Vec<Event>> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.all()).await {
            Ok(Ok(events)) => Some(events),
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

    /// Every finished drill: those in the live log and those in the `drill-*` logs beside it
    /// (where `/drill start` and `lifeboat drill` write), oldest first.
    async fn drills(&self, events: &[Event]) -> Vec<DrillRecord> {
        let data_dir = self.env.config.store.data_dir.clone();
        let known: BTreeSet<PathBuf> = match self.drill_logs.lock() {
            Ok(logs) => logs.keys().cloned().collect(),
            Err(_) => BTreeSet::new(),
        };
        let read = tokio::task::spawn_blocking(move || read_drill_logs(&data_dir, &known)).await;
        let mut drills = readiness::drills_from_events(events);
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
    async fn post(&self, channel: &ChannelId, text: String) -> Result<Value, String> {
        let message = Message {
            content: text,
            ..Message::default()
        };
        match self.env.chat.post(channel, &message).await {
            Ok(posted) => Ok(json!({ "delivered": true, "message": posted })),
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
        let events = self.read().await?;
        let next = self.checkpoints(&events).await;
        let drills = self.drills(&events).await;
        self.reminders(&events, &drills).await;
        next
    }

    /// Posts the checkpoints due on every open incident's clocks; returns the next one.
    #[instrument(skip_all)]
    pub async fn checkpoints(&self, events: &[Event]) -> Option<DateTime<Utc>> {
        let now = self.clock.now();
        let open = incident::open(events);
        if open.is_empty() {
            return None;
        }
        let history = StepHistory::from_runs(&state::fold(events));
        let mut next: Option<DateTime<Utc>> = None;
        for inc in &open {
            for clock in incident::clocks(inc, &self.env.config.objectives) {
                let mut posted = incident::posted(inc, clock.workstream);
                let due = clock.due_checkpoints(now, &posted);
                if let Some(&highest) = due.last() {
                    let delivered = self
                        .post_checkpoint(events, inc, &clock, &due, highest, &history, now)
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
        events: &[Event],
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
        let own: Vec<Event> = events
            .iter()
            .filter(|e| e.incident.as_ref() == Some(&inc.id))
            .cloned()
            .collect();
        let channel = incident_thread(&own).unwrap_or_else(|| self.env.channel.clone());
        info!(incident = %inc.id, workstream = %clock.workstream, percent = highest, "RTO checkpoint");
        let delivery = match self.post(&channel, text.clone()).await {
            Ok(delivery) => delivery,
            Err(error) => {
                self.append(vec![
                    NewEvent::new(
                        Actor::Scheduler,
                        "clock.checkpoint_failed",
                        json!({
                            "workstream": clock.workstream,
                            "percents": due,
                            "posted_as": highest,
                            "error": error,
                        }),
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
                NewEvent::new(
                    Actor::Scheduler,
                    "clock.checkpoint",
                    json!({
                        "workstream": clock.workstream,
                        "percent": percent,
                        "posted_as": highest,
                        "elapsed_secs": clock.elapsed(now).as_secs(),
                        "budget_secs": clock.budget.as_secs(),
                        "forecast_fits": forecast.as_ref().map(incident::Forecast::fits),
                        "text": text,
                        "delivery": delivery,
                    }),
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
        let protocols = readiness::drilled_protocols(&self.env.config, &self.runbooks);
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
            let mut data = json!({
                "reminder": kind.as_str(),
                "basis_at": due.basis_at(),
                "protocol": due.basis.as_ref().and_then(|b| b.protocol.clone()),
                "period": due.period,
            });
            let kind_done = match self
                .post(&self.env.channel, due.text(kind, every, now))
                .await
            {
                Ok(delivery) => {
                    data["delivery"] = delivery;
                    "reminder.posted"
                }
                Err(error) => {
                    data["error"] = json!(error);
                    "reminder.failed"
                }
            };
            self.append(vec![NewEvent::new(Actor::Scheduler, kind_done, data)])
                .await;
        }
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
        let checked = tokio::time::timeout(
            watch.step.timeout.get(),
            crate::steps::backup::check(&self.env, &input, &watch.args),
        )
        .await
        .unwrap_or_else(|_| {
            Err(StepError::retryable(format!(
                "the backup check did not answer within {}",
                watch.step.timeout
            )))
        });
        let reading = BackupReading::from_check(&checked);
        let events = self.read().await?;
        let effect = rpo_decision(rpo_state(&events), &reading)?;
        let rpo = self.env.config.objectives.rpo.get();
        let text = effect.text(&reading, rpo, &watch.runbook, &watch.step.id);
        info!(effect = effect.kind(), "RPO watch");
        let mut data = reading.data();
        data["rpo_secs"] = json!(rpo.as_secs());
        data["runbook"] = json!(watch.runbook);
        data["step"] = json!(watch.step.id);
        match self.post(&self.env.channel, text).await {
            Ok(delivery) => {
                data["delivery"] = delivery;
                self.append(vec![NewEvent::new(Actor::Scheduler, effect.kind(), data)])
                    .await;
                Some(effect)
            }
            Err(error) => {
                // Not a state change: the next check decides (and posts) again.
                data["effect"] = json!(effect.kind());
                data["error"] = json!(error);
                self.append(vec![NewEvent::new(
                    Actor::Scheduler,
                    "rpo.alert_failed",
                    data,
                )])
                .await;
                None
            }
        }
    }
}

/// The finished drills of each `drill-*` log in `data_dir` not in `known`. A log that cannot
/// be opened (a drill still writing it holds its lock) is left for a later pass.
fn read_drill_logs(
    data_dir: &std::path::Path,
    known: &BTreeSet<PathBuf>,
) -> BTreeMap<PathBuf, Vec<DrillRecord>> {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            !known.contains(p)
                && readiness::is_log(p)
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("drill-"))
        })
        .filter_map(|dir| {
            match crate::store::SledStore::open(&dir).and_then(|s| s.all()) {
                Ok(events) => Some((dir, readiness::drills_from_events(&events))),
                Err(err) => {
                    tracing::debug!(dir = %dir.display(), error = %err, "a drill log is not readable yet");
                    None
                }
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Reminders (pure)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderKind {
    /// The annual drill of the plan's protocols.
    Drill,
    /// The semi-annual plan review.
    Review,
}

impl ReminderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReminderKind::Drill => "drill",
            ReminderKind::Review => "review",
        }
    }
}

/// What a reminder counts from.
#[derive(Debug, Clone, PartialEq)]
pub struct Basis {
    pub at: DateTime<Utc>,
    /// Who recorded the review (reviews only).
    pub by: Option<String>,
    /// The protocol whose last successful drill is the oldest (drills only).
    pub protocol: Option<String>,
}

/// The review reminder counts from the last `plan.reviewed` in the log.
pub fn review_basis(events: &[Event]) -> Option<Basis> {
    events
        .iter()
        .rev()
        .find(|e| e.kind == PLAN_REVIEWED)
        .map(|e| Basis {
            at: e.at,
            by: Some(incident::who(&e.actor)),
            protocol: None,
        })
}

/// The drill reminder is one reminder for the whole plan, and a drill counts only where it
/// proved something: per protocol (`readiness::drilled_protocols`), the last finished drill
/// in which that protocol's run succeeded within its RTO and RPO. The reminder counts from
/// the oldest of those, so a one-protocol drill renews only its own protocol. `None` while a
/// protocol has no such drill.
pub fn drill_basis(protocols: &[&str], drills: &[DrillRecord]) -> Option<Basis> {
    let mut oldest: Option<Basis> = None;
    for protocol in protocols {
        let at = drills
            .iter()
            .filter(|d| d.results.iter().any(|r| r.runbook == *protocol && r.met()))
            .map(|d| d.at)
            .max()?;
        if oldest.as_ref().is_none_or(|o| at < o.at) {
            oldest = Some(Basis {
                at,
                by: None,
                protocol: Some((*protocol).to_owned()),
            });
        }
    }
    oldest
}

/// A reminder that is due: what it counts from and which due period it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// The last drill or review; `None` when there never was one.
    pub basis: Option<Basis>,
    /// 1 for the first period past due, 2 a whole period later, ...; 0 with no basis.
    pub period: u64,
}

impl Due {
    /// The basis's time as logged in `reminder.posted` (what "already posted" compares).
    pub fn basis_at(&self) -> Option<String> {
        self.basis
            .as_ref()
            .map(|b| b.at.to_rfc3339_opts(SecondsFormat::Nanos, true))
    }

    pub fn text(&self, kind: ReminderKind, every: Duration, now: DateTime<Utc>) -> String {
        let every_text = crate::duration::HumanDuration(every).to_string();
        let when = |at: DateTime<Utc>| {
            format!(
                "{} ({} days ago)",
                at.format("%Y-%m-%d"),
                (now - at).num_days()
            )
        };
        match (kind, &self.basis) {
            (ReminderKind::Drill, Some(basis)) => format!(
                "📅 DR drill due: the last drill of {} that met its objectives was on {}; the plan asks for one every {every_text}. Run `/drill start both` (or `lifeboat drill both`).",
                basis.protocol.as_deref().unwrap_or("the plan"),
                when(basis.at)
            ),
            (ReminderKind::Drill, None) => format!(
                "📅 DR drill due: no drill that met its objectives on record for every protocol; the plan asks for one every {every_text}. Run `/drill start both` (or `lifeboat drill both`)."
            ),
            (ReminderKind::Review, Some(basis)) => format!(
                "📅 DR plan review due: last reviewed on {}{}; the plan asks for a review every {every_text}. Review it (`lifeboat docs`), then record it with `/dr reviewed`.",
                when(basis.at),
                basis
                    .by
                    .as_deref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default()
            ),
            (ReminderKind::Review, None) => format!(
                "📅 DR plan review due: no review on record; the plan asks for one every {every_text}. Review it (`lifeboat docs`), then record it with `/dr reviewed`."
            ),
        }
    }
}

/// Whether a reminder is due at `now` and not yet delivered for its period: due `every`
/// after its basis, then again each further `every`; with no basis, once. Only a
/// `reminder.posted` (a delivered reminder) counts as done; `reminder.failed` does not.
pub fn reminder_due(
    kind: ReminderKind,
    basis: Option<Basis>,
    events: &[Event],
    every: Duration,
    now: DateTime<Utc>,
) -> Option<Due> {
    let period = match &basis {
        Some(b) => {
            let since = (now - b.at).to_std().unwrap_or_default();
            let every_ms = every.as_millis().max(1);
            u64::try_from(since.as_millis() / every_ms).unwrap_or(u64::MAX)
        }
        None => 0,
    };
    if basis.is_some() && period == 0 {
        return None;
    }
    let due = Due { basis, period };
    let basis_at = json!(due.basis_at());
    let already = events.iter().any(|e| {
        e.kind == "reminder.posted"
            && e.data["reminder"] == kind.as_str()
            && e.data["basis_at"] == basis_at
            && e.data["period"].as_u64() == Some(period)
    });
    (!already).then_some(due)
}

// ---------------------------------------------------------------------------------------------
// RPO watch (pure)

/// What one backup check said.
#[derive(Debug, Clone, PartialEq)]
pub enum BackupReading {
    Fresh {
        age: Duration,
        completed_at: Option<String>,
    },
    TooOld {
        age: Duration,
        completed_at: Option<String>,
    },
    Unreadable {
        error: String,
    },
}

impl BackupReading {
    /// Reads `backup_check`'s result: a failure that measured an age is a stale backup; any
    /// other failure means the age is unknown.
    pub fn from_check(result: &Result<StepOutput, StepError>) -> Self {
        let (data, ok) = match result {
            Ok(out) => (&out.data, true),
            Err(err) => (&err.data, false),
        };
        let completed_at = data["completed_at"].as_str().map(str::to_owned);
        match (data["age_secs"].as_u64().map(Duration::from_secs), ok) {
            (Some(age), true) => BackupReading::Fresh { age, completed_at },
            (Some(age), false) => BackupReading::TooOld { age, completed_at },
            (None, _) => BackupReading::Unreadable {
                error: match result {
                    Err(err) => err.message.clone(),
                    Ok(out) => format!("the check answered without an age: {}", out.summary),
                },
            },
        }
    }

    fn data(&self) -> Value {
        match self {
            BackupReading::Fresh { age, completed_at }
            | BackupReading::TooOld { age, completed_at } => {
                json!({ "age_secs": age.as_secs(), "completed_at": completed_at })
            }
            BackupReading::Unreadable { error } => json!({ "error": error }),
        }
    }
}

/// The watch's state, from its last event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpoState {
    Ok,
    Breached,
    Unreadable,
}

pub fn rpo_state(events: &[Event]) -> RpoState {
    events
        .iter()
        .rev()
        .find_map(|e| match e.kind.as_str() {
            "rpo.breached" => Some(RpoState::Breached),
            "rpo.recovered" | "rpo.readable" => Some(RpoState::Ok),
            "rpo.unreadable" => Some(RpoState::Unreadable),
            _ => None,
        })
        .unwrap_or(RpoState::Ok)
}

/// What the watch posts and logs when its state changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpoEffect {
    Breached,
    Recovered,
    Unreadable,
    Readable,
}

impl RpoEffect {
    pub fn kind(self) -> &'static str {
        match self {
            RpoEffect::Breached => "rpo.breached",
            RpoEffect::Recovered => "rpo.recovered",
            RpoEffect::Unreadable => "rpo.unreadable",
            RpoEffect::Readable => "rpo.readable",
        }
    }

    fn text(self, reading: &BackupReading, rpo: Duration, runbook: &str, step: &str) -> String {
        let rpo = format_elapsed(rpo);
        let (age, completed) = match reading {
            BackupReading::Fresh { age, completed_at }
            | BackupReading::TooOld { age, completed_at } => (
                format_elapsed(*age),
                completed_at
                    .as_deref()
                    .map(|c| format!(", completed {c}"))
                    .unwrap_or_default(),
            ),
            BackupReading::Unreadable { .. } => (String::new(), String::new()),
        };
        match (self, reading) {
            (RpoEffect::Breached, _) => format!(
                "🚨 RPO breach: the latest backup is {age} old{completed}, older than the RPO of {rpo}. A failover now would lose more data than the plan allows: check the backup job."
            ),
            (RpoEffect::Recovered, _) => format!(
                "✅ Backups are within the RPO again: the latest is {age} old{completed} (RPO {rpo})."
            ),
            (RpoEffect::Unreadable, BackupReading::Unreadable { error }) => format!(
                "⚠️ RPO watch: the backup's age cannot be read ({runbook} step {step}): {error}"
            ),
            (RpoEffect::Unreadable, _) => {
                format!("⚠️ RPO watch: the backup's age cannot be read ({runbook} step {step})")
            }
            (RpoEffect::Readable, _) => {
                format!("RPO watch: the backup's age can be read again: {age} old (RPO {rpo}).")
            }
        }
    }
}

/// Once per breach: a stale backup alerts once until a fresh one ends the breach. An
/// unreadable status is reported once, and never ends a breach.
pub fn rpo_decision(state: RpoState, reading: &BackupReading) -> Option<RpoEffect> {
    match (state, reading) {
        (RpoState::Breached, BackupReading::Fresh { .. }) => Some(RpoEffect::Recovered),
        (RpoState::Breached, _) => None,
        (_, BackupReading::TooOld { .. }) => Some(RpoEffect::Breached),
        (RpoState::Unreadable, BackupReading::Fresh { .. }) => Some(RpoEffect::Readable),
        (RpoState::Ok, BackupReading::Unreadable { .. }) => Some(RpoEffect::Unreadable),
        (RpoState::Ok, BackupReading::Fresh { .. })
        | (RpoState::Unreadable, BackupReading::Unreadable { .. }) => None,
    }
}

// ---------------------------------------------------------------------------------------------
// /dr status (pure)

/// Each provider's level as its feeds last reported it (settled or observed), by provider.
pub fn provider_levels(events: &[Event]) -> BTreeMap<String, (String, DateTime<Utc>)> {
    let mut levels = BTreeMap::new();
    for e in events {
        if !matches!(
            e.kind.as_str(),
            "feed.observed"
                | "feed.degraded"
                | "feed.outage"
                | "feed.recovered"
                | "feed.maintenance"
        ) {
            continue;
        }
        if let (Some(provider), Some(level)) = (e.data["provider"].as_str(), e.data["to"].as_str())
        {
            levels.insert(provider.to_owned(), (level.to_owned(), e.at));
        }
    }
    levels
}

/// The whole disaster-recovery picture: providers, open incidents with their clocks, runs,
/// and the RPO watch.
pub fn dr_status(
    config: &crate::config::Config,
    runbooks: &[Runbook],
    events: &[Event],
    now: DateTime<Utc>,
) -> String {
    let mut out = String::from("providers:\n");
    let levels = provider_levels(events);
    let mut names: BTreeSet<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
    names.extend(levels.keys().map(String::as_str));
    for name in names {
        let ws = config
            .providers
            .iter()
            .find(|p| p.name == name)
            .map(|p| format!(" ({})", p.workstream))
            .unwrap_or_default();
        match levels.get(name) {
            Some((level, at)) => out.push_str(&format!(
                "  {name}{ws}: {level} since {}\n",
                at.format("%Y-%m-%d %H:%M UTC")
            )),
            None => out.push_str(&format!("  {name}{ws}: no reading yet\n")),
        }
    }
    let open = incident::open(events);
    let history = StepHistory::from_runs(&state::fold(events));
    if open.is_empty() {
        out.push_str("incidents: none open\n");
    }
    for inc in &open {
        out.push_str("incident ");
        out.push_str(&incident::status_text(inc, config, runbooks, &history, now));
    }
    let running: Vec<String> = state::fold(events)
        .iter()
        .filter(|r| !r.status.is_terminal())
        .filter(|r| !open.iter().any(|i| i.runs.iter().any(|ir| ir.run == r.run)))
        .map(|r| {
            format!(
                "run {} ({}): {}",
                r.run,
                r.runbook,
                incident::run_state(&r.status)
            )
        })
        .collect();
    for line in running {
        out.push_str(&line);
        out.push('\n');
    }
    match rpo_state(events) {
        RpoState::Breached => {
            out.push_str("RPO watch: BREACHED (latest backup older than the RPO)\n")
        }
        RpoState::Unreadable => out.push_str("RPO watch: backup age unreadable\n"),
        RpoState::Ok if config.schedule.rpo_watch_every.is_some() => {
            out.push_str("RPO watch: within the RPO\n");
        }
        RpoState::Ok => {}
    }
    out
}

/// The affected workstreams for a declaration: the alert's provider's, else those of every
/// provider with an alert open (posted and not recovered).
pub fn affected_at_declaration(
    config: &crate::config::Config,
    events: &[Event],
    alert: Option<&str>,
) -> (BTreeSet<Workstream>, BTreeSet<String>) {
    let mut open: BTreeMap<String, String> = BTreeMap::new();
    for e in events {
        let (Some(provider), Some(id)) = (e.data["provider"].as_str(), e.data["alert_id"].as_str())
        else {
            continue;
        };
        match e.kind.as_str() {
            "alert.posted" => {
                open.insert(provider.to_owned(), id.to_owned());
            }
            "alert.recovered" => {
                open.remove(provider);
            }
            _ => {}
        }
    }
    let providers: BTreeSet<String> = match alert {
        Some(alert) => {
            let from_log = events
                .iter()
                .filter(|e| e.data["alert_id"].as_str() == Some(alert))
                .find_map(|e| e.data["provider"].as_str().map(str::to_owned));
            // Alert ids are `<provider>-<timestamp>`: the prefix names the provider.
            from_log
                .or_else(|| alert.rsplit_once('-').map(|(p, _)| p.to_owned()))
                .into_iter()
                .collect()
        }
        None => open.into_keys().collect(),
    };
    let workstreams = providers
        .iter()
        .filter_map(|p| config.providers.iter().find(|c| &c.name == p))
        .map(|p| p.workstream)
        .collect();
    (workstreams, providers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{GENESIS, NewEvent};
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn days(d: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::days(d)
    }

    #[derive(Default)]
    struct Log(Vec<Event>);

    impl Log {
        fn at(&mut self, at: DateTime<Utc>, new: NewEvent) -> &mut Self {
            let prev = self.0.last().map_or(GENESIS.to_owned(), |e| e.hash.clone());
            let seq = self.0.len() as u64 + 1;
            self.0.push(Event::seal(new, seq, at, &prev));
            self
        }
    }

    const YEAR: Duration = Duration::from_secs(365 * 86_400);

    fn posted(kind: &str, due: &Due) -> NewEvent {
        NewEvent::new(
            Actor::Scheduler,
            "reminder.posted",
            json!({"reminder": kind, "basis_at": due.basis_at(), "period": due.period}),
        )
    }

    /// A finished drill as `src/drill` logs it: one result per (runbook, objectives met).
    fn finished(results: &[(&str, bool)]) -> NewEvent {
        let results: Vec<Value> = results
            .iter()
            .map(|(runbook, met)| {
                json!({"provider": "p", "runbook": runbook, "run": "r", "status": "succeeded",
                       "rto_met": met, "rpo_met": true})
            })
            .collect();
        NewEvent::new(
            Actor::Scheduler,
            "drill.finished",
            json!({ "results": results }),
        )
    }

    fn drill_due(log: &Log, protocols: &[&str], now: DateTime<Utc>) -> Option<Due> {
        let basis = drill_basis(protocols, &readiness::drills_from_events(&log.0));
        reminder_due(ReminderKind::Drill, basis, &log.0, YEAR, now)
    }

    #[test]
    fn a_drill_reminder_is_due_a_period_after_the_last_drill_once_per_period() {
        let mut log = Log::default();
        let hosting = ["failover-hosting"];
        log.at(t0(), finished(&[("failover-hosting", true)]));
        assert_eq!(drill_due(&log, &hosting, days(364)), None);
        let due = drill_due(&log, &hosting, days(366)).unwrap();
        assert_eq!((due.basis.as_ref().unwrap().at, due.period), (t0(), 1));
        assert!(
            due.text(ReminderKind::Drill, YEAR, days(366)).contains(
                "the last drill of failover-hosting that met its objectives was on 2026-01-01 (366 days ago)"
            )
        );
        log.at(days(366), posted("drill", &due));
        assert_eq!(drill_due(&log, &hosting, days(400)), None, "posted once");
        let again = drill_due(&log, &hosting, days(731)).unwrap();
        assert_eq!(again.period, 2, "a whole period later it is due again");
        // A new drill starts a new basis.
        log.at(days(740), finished(&[("failover-hosting", true)]));
        assert_eq!(drill_due(&log, &hosting, days(800)), None);
        // The review reminder is independent of drills.
        assert!(
            reminder_due(
                ReminderKind::Review,
                review_basis(&log.0),
                &log.0,
                YEAR,
                days(800)
            )
            .is_some()
        );
    }

    #[test]
    fn only_a_drill_that_met_its_objectives_counts_and_only_for_its_protocol() {
        let both = ["failover-hosting", "switch-llm"];
        let mut log = Log::default();
        // Requested is not done, and a drill that missed its RTO proves nothing.
        log.at(
            t0(),
            NewEvent::new(Actor::Scheduler, "drill.requested", json!({})),
        )
        .at(t0(), finished(&[("failover-hosting", false)]));
        let due = drill_due(&log, &both, days(1)).unwrap();
        assert_eq!(due.basis, None);
        assert!(
            due.text(ReminderKind::Drill, YEAR, days(1))
                .contains("no drill that met its objectives on record for every protocol")
        );
        // One protocol drilled well: the other still has none.
        log.at(days(10), finished(&[("failover-hosting", true)]));
        assert_eq!(drill_due(&log, &both, days(11)).unwrap().basis, None);
        // Both drilled (separately): the reminder counts from the older one.
        log.at(days(20), finished(&[("switch-llm", true)]));
        assert_eq!(drill_due(&log, &both, days(300)), None);
        let due = drill_due(&log, &both, days(376)).unwrap();
        let basis = due.basis.unwrap();
        assert_eq!(
            (basis.at, basis.protocol.as_deref()),
            (days(10), Some("failover-hosting"))
        );
        // A failed reminder is not a posted one: it is due again on the next pass.
        let due = drill_due(&log, &both, days(376)).unwrap();
        log.at(
            days(376),
            NewEvent::new(
                Actor::Scheduler,
                "reminder.failed",
                json!({"reminder": "drill", "basis_at": due.basis_at(), "period": due.period}),
            ),
        );
        assert_eq!(drill_due(&log, &both, days(376)), Some(due));
    }

    #[test]
    fn with_nothing_on_record_a_reminder_is_posted_once() {
        let mut log = Log::default();
        let review = |log: &Log, now| {
            reminder_due(
                ReminderKind::Review,
                review_basis(&log.0),
                &log.0,
                YEAR,
                now,
            )
        };
        let due = review(&log, t0()).unwrap();
        assert_eq!((due.basis.clone(), due.period), (None, 0));
        assert!(
            due.text(ReminderKind::Review, YEAR, t0())
                .contains("no review on record")
        );
        log.at(t0(), posted("review", &due));
        assert_eq!(review(&log, days(900)), None);
        log.at(
            days(901),
            NewEvent::new(
                Actor::User {
                    id: "1".into(),
                    name: "dana".into(),
                },
                PLAN_REVIEWED,
                json!({}),
            ),
        );
        let due = review(&log, days(901 + 366)).unwrap();
        assert_eq!(due.basis.as_ref().unwrap().by.as_deref(), Some("dana"));
        assert!(
            due.text(ReminderKind::Review, YEAR, days(901 + 366))
                .contains("by dana")
        );
    }

    fn fresh(secs: u64) -> BackupReading {
        BackupReading::Fresh {
            age: Duration::from_secs(secs),
            completed_at: None,
        }
    }

    fn old(secs: u64) -> BackupReading {
        BackupReading::TooOld {
            age: Duration::from_secs(secs),
            completed_at: None,
        }
    }

    #[test]
    fn the_rpo_watch_alerts_once_per_breach() {
        let unreadable = BackupReading::Unreadable {
            error: "503".into(),
        };
        assert_eq!(rpo_decision(RpoState::Ok, &fresh(60)), None);
        assert_eq!(
            rpo_decision(RpoState::Ok, &old(7200)),
            Some(RpoEffect::Breached)
        );
        assert_eq!(rpo_decision(RpoState::Breached, &old(9000)), None);
        assert_eq!(rpo_decision(RpoState::Breached, &unreadable), None);
        assert_eq!(
            rpo_decision(RpoState::Breached, &fresh(60)),
            Some(RpoEffect::Recovered)
        );
        assert_eq!(
            rpo_decision(RpoState::Ok, &unreadable),
            Some(RpoEffect::Unreadable)
        );
        assert_eq!(rpo_decision(RpoState::Unreadable, &unreadable), None);
        assert_eq!(
            rpo_decision(RpoState::Unreadable, &fresh(5)),
            Some(RpoEffect::Readable)
        );
        assert_eq!(
            rpo_decision(RpoState::Unreadable, &old(7200)),
            Some(RpoEffect::Breached)
        );
    }

    #[test]
    fn readings_come_from_the_backup_checks_result() {
        let ok = Ok(StepOutput::new(
            "fine",
            json!({"age_secs": 600, "completed_at": "2026-01-01T00:00:00Z"}),
        ));
        assert_eq!(
            BackupReading::from_check(&ok),
            BackupReading::Fresh {
                age: Duration::from_secs(600),
                completed_at: Some("2026-01-01T00:00:00Z".into())
            }
        );
        let stale = Err(StepError::invalid("too old").with_data(json!({"age_secs": 7200})));
        assert!(matches!(
            BackupReading::from_check(&stale),
            BackupReading::TooOld { .. }
        ));
        let down = Err(StepError::retryable("x answered 503"));
        assert_eq!(
            BackupReading::from_check(&down),
            BackupReading::Unreadable {
                error: "x answered 503".into()
            }
        );
        let text = RpoEffect::Breached.text(&old(4320), Duration::from_secs(3600), "rb", "s");
        assert!(
            text.contains("1h 12m old, older than the RPO of 1h 00m"),
            "{text}"
        );
    }

    #[test]
    fn the_rpo_state_is_read_from_the_log() {
        let mut log = Log::default();
        assert_eq!(rpo_state(&log.0), RpoState::Ok);
        log.at(
            t0(),
            NewEvent::new(Actor::Scheduler, "rpo.breached", json!({})),
        );
        assert_eq!(rpo_state(&log.0), RpoState::Breached);
        log.at(
            t0(),
            NewEvent::new(Actor::Scheduler, "rpo.recovered", json!({})),
        );
        assert_eq!(rpo_state(&log.0), RpoState::Ok);
    }

    #[test]
    fn declarations_name_the_workstreams_of_alerted_providers() {
        let config = crate::config::Config::from_source(crate::toml_source::TomlSource::new(
            "t.toml",
            "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n\
             [[providers]]\nname = \"heroku\"\nworkstream = \"hosting\"\n\
             [[providers]]\nname = \"openai\"\nworkstream = \"llm\"\n",
        ))
        .unwrap()
        .config;
        let mut log = Log::default();
        log.at(
            t0(),
            NewEvent::new(
                Actor::Bot,
                "alert.posted",
                json!({"provider": "heroku", "alert_id": "heroku-1"}),
            ),
        )
        .at(
            t0(),
            NewEvent::new(
                Actor::Bot,
                "alert.posted",
                json!({"provider": "openai", "alert_id": "openai-2"}),
            ),
        )
        .at(
            t0(),
            NewEvent::new(
                Actor::Bot,
                "alert.recovered",
                json!({"provider": "openai", "alert_id": "openai-2"}),
            ),
        );
        let (ws, providers) = affected_at_declaration(&config, &log.0, None);
        assert_eq!(ws, BTreeSet::from([Workstream::Hosting]));
        assert_eq!(providers, BTreeSet::from(["heroku".to_owned()]));
        let (ws, _) = affected_at_declaration(&config, &log.0, Some("openai-2"));
        assert_eq!(ws, BTreeSet::from([Workstream::Llm]));
        let (ws, _) = affected_at_declaration(&config, &[], Some("openai-20261125083000"));
        assert_eq!(
            ws,
            BTreeSet::from([Workstream::Llm]),
            "the id's prefix names the provider"
        );
    }

    #[test]
    fn provider_levels_follow_the_latest_feed_event() {
        let mut log = Log::default();
        log.at(
            t0(),
            NewEvent::new(
                Actor::Bot,
                "feed.observed",
                json!({"provider": "heroku", "to": "degraded"}),
            ),
        )
        .at(
            days(1),
            NewEvent::new(
                Actor::Bot,
                "feed.recovered",
                json!({"provider": "heroku", "to": "operational"}),
            ),
        );
        assert_eq!(
            provider_levels(&log.0)["heroku"],
            ("operational".to_owned(), days(1))
        );
    }

    #[test]
    fn dr_status_shows_levels_incidents_clocks_runs_and_the_rpo_watch() {
        let config = crate::config::Config::from_source(crate::toml_source::TomlSource::new(
            "t.toml",
            "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n\
             [schedule]\nrpo_watch_every = \"15m\"\n\
             [[providers]]\nname = \"heroku\"\nworkstream = \"hosting\"\n\
             [[providers]]\nname = \"openai\"\nworkstream = \"llm\"\n",
        ))
        .unwrap()
        .config;
        let minutes = |m: i64| t0() + chrono::Duration::minutes(m);
        let inc = crate::domain::IncidentId::from("INC-1");
        let run = |id: &str, runbook: &str, ws: &str| {
            NewEvent::new(
                Actor::Bot,
                "run.started",
                json!({"runbook": runbook, "title": runbook, "workstream": ws, "file_hash": "h", "params": {}, "steps": ["a", "b"]}),
            )
            .run(crate::domain::RunId::from(id))
        };
        let mut log = Log::default();
        log.at(
            t0(),
            NewEvent::new(
                Actor::Feed {
                    name: "heroku-status".into(),
                },
                "feed.outage",
                json!({"provider": "heroku", "to": "major_outage"}),
            ),
        )
        .at(
            minutes(1),
            NewEvent::new(
                Actor::Bot,
                "incident.declared",
                json!({"title": "Heroku down", "severity": "sev1", "commander": "carol", "workstreams": ["hosting"]}),
            )
            .incident(inc.clone()),
        )
        .at(
            minutes(2),
            run("RUN-1", "failover-hosting", "hosting").incident(inc.clone()),
        )
        .at(minutes(3), run("RUN-2", "restore-data", "data"));

        // No RPO reading yet: the watch is configured, so it says all is well.
        let text = dr_status(&config, &[], &log.0, minutes(60));
        assert!(
            text.starts_with(
                "providers:\n  heroku (hosting): major_outage since 2026-01-01 00:00 UTC\n  openai (llm): no reading yet\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("incident INC-1: Heroku down — mitigating, sev1, commander carol\n"),
            "{text}"
        );
        assert!(text.contains("workstreams: hosting\n"), "{text}");
        assert!(
            text.contains("run RUN-1 (failover-hosting): running\n"),
            "{text}"
        );
        // The hosting clock runs from the first signal: 1 h of a 4 h budget.
        assert!(
            text.contains("clock hosting: 1h 00m / 4h 00m (25%)"),
            "{text}"
        );
        // A run for no open incident is listed on its own, once.
        assert!(
            text.contains("\nrun RUN-2 (restore-data): running\n"),
            "{text}"
        );
        assert_eq!(text.matches("RUN-1").count(), 1, "{text}");
        assert!(text.ends_with("RPO watch: within the RPO\n"), "{text}");
        assert!(!text.contains("incidents: none open"));

        log.at(
            minutes(61),
            NewEvent::new(Actor::Scheduler, "rpo.breached", json!({"age_secs": 7200})),
        );
        let text = dr_status(&config, &[], &log.0, minutes(120));
        assert!(
            text.contains("clock hosting: 2h 00m / 4h 00m (50%)"),
            "{text}"
        );
        assert!(
            text.ends_with("RPO watch: BREACHED (latest backup older than the RPO)\n"),
            "{text}"
        );
        log.at(
            minutes(62),
            NewEvent::new(Actor::Scheduler, "rpo.unreadable", json!({})),
        );
        let text = dr_status(&config, &[], &log.0, minutes(120));
        assert!(
            text.ends_with("RPO watch: backup age unreadable\n"),
            "{text}"
        );

        // Without a watch configured and nothing open: no RPO line, no incident.
        let quiet = crate::config::Config::from_source(crate::toml_source::TomlSource::new(
            "t.toml",
            "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n",
        ))
        .unwrap()
        .config;
        let text = dr_status(&quiet, &[], &[], t0());
        assert_eq!(text, "providers:\nincidents: none open\n");
    }
}
