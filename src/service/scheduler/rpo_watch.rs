//! The scheduler's RPO watch (`[schedule] rpo_watch_every`): a runbook's `backup_check` step
//! (or the newest backup in `[data.backups]`) run on its own, the breach or its end decided by
//! `crate::reminders::rpo_decision`, posted, then recorded (`rpo.*`; `rpo.alert_failed` when
//! the post failed, which the next check decides again).

use std::collections::BTreeMap;
use std::time::Duration;

use tracing::{info, instrument};

use super::Scheduler;
use crate::domain::event::NewEvent;
use crate::domain::{Actor, RunId};
use crate::events::{Payload, RpoAlertFailed, RpoMeasured, RpoUnreadable};
use crate::reminders::{BackupReading, RpoEffect, rpo_decision};
use crate::runbook::{BackupCheck, Runbook, Step, StepAction};
use crate::steps::{StepError, StepInput};

/// The backup check the RPO watch runs: a runbook's `backup_check` step.
#[derive(Debug, Clone)]
pub(super) struct RpoWatch {
    pub(super) every: Duration,
    pub(super) runbook: String,
    pub(super) step: Step,
    /// `None`: the newest backup in `[data.backups]` (when `[data]` is configured and no
    /// runbook is named).
    pub(super) args: Option<BackupCheck>,
}

/// The watch's own step when it reads `[data.backups]`: a name for messages and a timeout.
pub(super) fn store_step() -> Step {
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

pub(super) fn backup_step(runbook: &Runbook) -> Option<(Step, BackupCheck)> {
    runbook.steps.iter().find_map(|s| match &s.action {
        StepAction::BackupCheck(args) => Some((s.clone(), args.clone())),
        _ => None,
    })
}

impl Scheduler {
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
