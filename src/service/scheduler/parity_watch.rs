//! The scheduler's parity check (`[schedule] parity_every`, with `[heroku]` configured):
//! compare the standby with production, record the result (`parity.checked`, drift keys only,
//! never a value), and post in the incident channel only the drift that is new since the last
//! recorded check. When the check is due and what is new are decided in `crate::parity::watch`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, instrument};

use super::Scheduler;
use crate::domain::Actor;
use crate::domain::event::NewEvent;
use crate::events::{Delivery, ParityAlertFailed, ParityChecked, ParityUnreadable};
use crate::parity::render;
use crate::parity::watch::{last_drift, new_drift, next_due};

/// An alert that could not be posted is tried again this much later, not a week later.
const ALERT_RETRY: Duration = Duration::from_secs(3600);

/// What one scheduled check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParityEffect {
    /// New drift was posted in the incident channel.
    Alerted { new: Vec<String> },
    /// Recorded without a post: no drift, or none that is new.
    Recorded,
    /// Heroku could not be read; nothing compared, nothing posted.
    Unreadable,
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

    /// Runs the check when it is due (`next` remembers when that is across passes); returns
    /// how long until the next one.
    pub(super) async fn parity_pass(
        &self,
        every: Duration,
        next: &mut Option<DateTime<Utc>>,
    ) -> Duration {
        let due = match *next {
            Some(at) => at,
            None => match self.read().await {
                Some(events) => next_due(&events, every, self.clock.now()),
                None => self.clock.now() + chrono::Duration::minutes(1),
            },
        };
        let due = if self.clock.now() >= due {
            let wait = match self.watch_parity().await {
                Some(ParityEffect::AlertFailed) => ALERT_RETRY.min(every),
                _ => every,
            };
            self.clock.now() + chrono::Duration::from_std(wait).unwrap_or_default()
        } else {
            due
        };
        *next = Some(due);
        (due - self.clock.now()).to_std().unwrap_or_default()
    }

    /// One check now: compare, record, and alert on new drift.
    #[instrument(skip_all)]
    pub async fn watch_parity(&self) -> Option<ParityEffect> {
        let report = crate::parity::gather::check(&self.env, &self.runbooks).await?;
        let events = self.read().await?;
        if report.heroku_unreadable() {
            let why = report
                .unknown()
                .first()
                .map(|f| f.detail.clone())
                .unwrap_or_default();
            info!(%why, "parity check: Heroku unreadable");
            self.append(vec![NewEvent::of(
                Actor::Scheduler,
                ParityUnreadable {
                    error: why,
                    ..Default::default()
                },
            )])
            .await;
            return Some(ParityEffect::Unreadable);
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
