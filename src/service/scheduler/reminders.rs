//! The scheduler's drill and plan-review reminders: every finished drill (from the live log
//! and the `drill-*` logs beside it), what `crate::reminders` says is due, and
//! `reminder.posted` (or `reminder.failed`, retried) once posted.

use std::collections::BTreeSet;
use std::path::PathBuf;

use tracing::{info, instrument, warn};

use super::Scheduler;
use crate::domain::Actor;
use crate::domain::event::{Event, NewEvent};
use crate::drill::history::{DrillRecord, drilled_protocols, drills_from_events};
use crate::events::{Payload, ReminderFailed, ReminderPosted};
use crate::reminders::{ReminderKind, drill_basis, reminder_due, review_basis};

impl Scheduler {
    /// Every finished drill: those in the live log and those in the `drill-*` logs beside it
    /// (where `/drill start` and `lifeboat drill` write), oldest first.
    pub(super) async fn drills(&self, events: &[Event]) -> Vec<DrillRecord> {
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

    /// Posts the drill and plan-review reminders that are due and not yet posted.
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
                    people: None,
                }
                .into(),
                Err(error) => ReminderFailed {
                    reminder,
                    basis_at,
                    protocol,
                    period,
                    error,
                    people: None,
                }
                .into(),
            };
            self.append(vec![NewEvent::of(Actor::Scheduler, done)])
                .await;
        }
    }
}
