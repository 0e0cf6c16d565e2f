//! The scheduler's training reminder: with `[schedule] training_every`, at most once an hour it
//! reads who holds a role (the chat's members, the roster) and the training records of the
//! game days' `drill-*` logs, and names (pings) the people never trained or overdue, each at
//! most once per period (`crate::training::reminder`); `reminder.posted` (or
//! `reminder.failed`, retried) records whom it named.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, instrument, warn};

use super::Scheduler;
use crate::domain::Actor;
use crate::domain::event::{Event, NewEvent};
use crate::events::{EventKind, Payload, ReminderFailed, ReminderPosted};
use crate::training::reminder::{self, REMINDER};

/// How often the training record is looked at (it asks the chat for its members).
const CHECK_EVERY: Duration = Duration::from_secs(3600);

/// What the training reminder keeps between passes.
#[derive(Default)]
pub(super) struct TrainingWatch {
    /// The training records of each `drill-*` log already read (a finished log no longer
    /// changes).
    logs: std::sync::Mutex<std::collections::BTreeMap<PathBuf, Vec<Event>>>,
    /// When the record was last looked at.
    checked_at: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl Scheduler {
    /// Every training record: the live log's (`events`) and the `drill-*` logs'.
    async fn training_records(&self, events: &[Event]) -> Vec<Event> {
        let data_dir = self.env.config.store.data_dir.clone();
        let known: BTreeSet<PathBuf> = match self.training.logs.lock() {
            Ok(logs) => logs.keys().cloned().collect(),
            Err(_) => BTreeSet::new(),
        };
        let read = tokio::task::spawn_blocking(move || {
            crate::store::drill_logs::read_drill_log_events(
                &data_dir,
                &known,
                EventKind::TrainingRecorded.as_str(),
            )
        })
        .await;
        let mut records: Vec<Event> = events
            .iter()
            .filter(|e| e.is(EventKind::TrainingRecorded))
            .cloned()
            .collect();
        if let Ok(mut logs) = self.training.logs.lock() {
            match read {
                Ok(found) => logs.extend(found),
                Err(err) => warn!(error = %err, "reading the drill logs did not finish"),
            }
            records.extend(logs.values().flatten().cloned());
        }
        records
    }

    /// Posts the training reminder when someone is due and was not named within the period.
    /// `events` holds the live log's `reminder.posted` (and any training records).
    #[instrument(skip_all)]
    pub(super) async fn training_reminder(&self, events: &[Event]) {
        let Some(every) = self.env.config.schedule.training_every.map(|e| e.get()) else {
            return;
        };
        let now = self.clock.now();
        if let Ok(mut checked) = self.training.checked_at.lock() {
            if checked.is_some_and(|at| (now - at).to_std().unwrap_or_default() < CHECK_EVERY) {
                return;
            }
            *checked = Some(now);
        }
        let records = self.training_records(events).await;
        let members = crate::service::training::read_members(self.members.as_ref()).await;
        let standings = crate::training::assess(&self.env.config, &members, &records, now);
        let due = reminder::due(&standings, events, every, now);
        if due.is_empty() {
            return;
        }
        let people: Vec<String> = due.iter().map(|s| reminder::key(s)).collect();
        info!(people = people.len(), "training reminder due");
        let message = reminder::message(&due, every, now);
        let done: Payload = match self.env.chat.post(&self.env.channel, &message).await {
            Ok(posted) => ReminderPosted {
                reminder: REMINDER.to_owned(),
                basis_at: None,
                protocol: None,
                period: 0,
                delivery: Some(crate::events::Delivery::posted(posted)),
                people: Some(people),
            }
            .into(),
            Err(err) => {
                warn!(error = %err, "the training reminder could not be posted; it is retried");
                // Retried on the next pass rather than an hour later.
                if let Ok(mut checked) = self.training.checked_at.lock() {
                    *checked = None;
                }
                ReminderFailed {
                    reminder: REMINDER.to_owned(),
                    basis_at: None,
                    protocol: None,
                    period: 0,
                    error: err.to_string(),
                    people: Some(people),
                }
                .into()
            }
        };
        self.append(vec![NewEvent::of(Actor::Scheduler, done)])
            .await;
    }
}
