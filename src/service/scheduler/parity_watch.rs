//! The scheduler's parity check (`[schedule] parity_every`, with `[heroku]` configured):
//! compare the standby with production, record the result (`parity.checked`, drift keys only,
//! never a value), and post in the incident channel only the drift that is new since the last
//! recorded check, or, once, that a side (Heroku or AWS) cannot be read (`parity.unreadable`,
//! with its `side`). When the check is due and what is new are decided in
//! `crate::parity::watch`. The loop runs a check beside its other work (`Scheduler::run`), so
//! a slow Heroku holds up neither checkpoints nor shutdown.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, instrument};

use super::Scheduler;
use crate::domain::Actor;
use crate::domain::event::{Event, NewEvent};
use crate::events::{Delivery, EventKind, ParityAlertFailed, ParityChecked, ParityUnreadable};
use crate::parity::drift::Unreadable;
use crate::parity::render;
use crate::parity::watch::{already_unreadable, last_drift, new_drift, next_due};

/// An alert that could not be posted is tried again this much later, not a week later.
const ALERT_RETRY: Duration = Duration::from_secs(3600);

/// What one scheduled check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParityEffect {
    /// New drift was posted in the incident channel.
    Alerted { new: Vec<String> },
    /// Recorded without a post: no drift, or none that is new.
    Recorded,
    /// A side (`heroku` or `aws`) could not be read; nothing compared. Posted (`alerted`) only
    /// when it becomes unreadable, so a check that stays blind is said once, not never.
    Unreadable { side: &'static str, alerted: bool },
    /// The post failed; the next check alerts again.
    AlertFailed,
}

impl Scheduler {
    /// How often the check runs, when it runs at all.
    pub(super) fn parity_every(&self) -> Option<Duration> {
        let config = &self.env.config;
        config
            .schedule
            .parity_every
            .filter(|_| config.heroku.is_some())
            .map(|every| every.get())
    }

    /// When the next check is due (`next` remembers it across passes; the log decides the
    /// first time): `Ok(())` when it is due now, else how long until it is.
    pub(super) async fn parity_due(
        &self,
        every: Duration,
        next: &mut Option<DateTime<Utc>>,
    ) -> Result<(), Duration> {
        let due = match *next {
            Some(at) => at,
            None => match self.parity_events().await {
                Some(events) => next_due(&events, every, self.clock.now()),
                None => self.clock.now() + chrono::Duration::minutes(1),
            },
        };
        *next = Some(due);
        if self.clock.now() >= due {
            Ok(())
        } else {
            Err((due - self.clock.now()).to_std().unwrap_or_default())
        }
    }

    /// What the watch folds of the log (`crate::parity::watch`): the newest comparison and the
    /// newest check of either kind, read from the kind index.
    async fn parity_events(&self) -> Option<Vec<Event>> {
        self.read(|store| {
            let (checked, unreadable) = (
                EventKind::ParityChecked.as_str(),
                EventKind::ParityUnreadable.as_str(),
            );
            let mut events = store.recent_of_kinds(&[checked], u64::MAX, 1)?;
            events.extend(store.recent_of_kinds(&[checked, unreadable], u64::MAX, 1)?);
            events.sort_by_key(|e| e.seq);
            events.dedup_by_key(|e| e.seq);
            Ok(events)
        })
        .await
    }

    /// When the check after one that did `effect` is due.
    pub(super) fn parity_next(
        &self,
        every: Duration,
        effect: Option<&ParityEffect>,
    ) -> DateTime<Utc> {
        let wait = match effect {
            Some(ParityEffect::AlertFailed) => ALERT_RETRY.min(every),
            _ => every,
        };
        self.clock.now() + chrono::Duration::from_std(wait).unwrap_or_default()
    }

    /// A side could not be read: recorded each time, posted when it becomes so.
    async fn parity_unreadable(&self, unread: &Unreadable, events: &[Event]) -> ParityEffect {
        let side = unread.side.as_str();
        info!(side, why = %unread.reason, "parity check: a side is unreadable");
        let recorded = |alerted: bool, delivery: Option<Delivery>| ParityUnreadable {
            error: unread.reason.clone(),
            side: Some(side.to_owned()),
            alerted: Some(alerted),
            delivery,
        };
        if already_unreadable(events, side) {
            self.append(vec![NewEvent::of(Actor::Scheduler, recorded(false, None))])
                .await;
            return ParityEffect::Unreadable {
                side,
                alerted: false,
            };
        }
        match self
            .post(&self.env.channel, render::unreadable_alert(unread))
            .await
        {
            Ok(delivery) => {
                let event = NewEvent::of(Actor::Scheduler, recorded(true, Some(delivery)));
                self.append(vec![event]).await;
                ParityEffect::Unreadable {
                    side,
                    alerted: true,
                }
            }
            Err(error) => {
                let failed = ParityAlertFailed {
                    error,
                    ..Default::default()
                };
                self.append(vec![NewEvent::of(Actor::Scheduler, failed)])
                    .await;
                ParityEffect::AlertFailed
            }
        }
    }

    /// One check now: compare, record, and alert on new drift.
    #[instrument(skip_all)]
    pub async fn watch_parity(&self) -> Option<ParityEffect> {
        let report = crate::parity::gather::check(&self.env, &self.runbooks).await?;
        let events = self.parity_events().await?;
        if let Some(unread) = &report.unreadable {
            return Some(self.parity_unreadable(unread, &events).await);
        }
        let drift = report.drift_keys();
        let new = new_drift(&drift, last_drift(&events).as_ref());
        let unknown: Vec<String> = report.unknown().iter().map(|f| f.key()).collect();
        info!(drift = drift.len(), new = new.len(), "parity check");
        let checked = |delivery: Option<Delivery>| ParityChecked {
            drift: drift.clone(),
            new: new.clone(),
            unknown: unknown.clone(),
            alerted: delivery.is_some(),
            delivery,
        };
        if new.is_empty() {
            self.append(vec![NewEvent::of(Actor::Scheduler, checked(None))])
                .await;
            return Some(ParityEffect::Recorded);
        }
        match self
            .post(&self.env.channel, render::alert(&report, &new))
            .await
        {
            Ok(delivery) => {
                let event = NewEvent::of(Actor::Scheduler, checked(Some(delivery)));
                self.append(vec![event]).await;
                Some(ParityEffect::Alerted { new })
            }
            Err(error) => {
                let failed = ParityAlertFailed {
                    drift,
                    new,
                    unknown,
                    error,
                };
                self.append(vec![NewEvent::of(Actor::Scheduler, failed)])
                    .await;
                Some(ParityEffect::AlertFailed)
            }
        }
    }
}
