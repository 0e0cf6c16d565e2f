//! The scheduler's RTO checkpoints: each open incident's clocks, the checkpoints due on them
//! posted in the incident's thread (with the forecast), and `clock.checkpoint` recorded only
//! once the post went out (`clock.checkpoint_failed` otherwise, retried on the next pass).

use chrono::{DateTime, Utc};
use tracing::{info, instrument};

use super::{Pass, Scheduler};
use crate::domain::Actor;
use crate::domain::event::NewEvent;
use crate::events::{ClockCheckpoint, ClockCheckpointFailed};
use crate::incident::{self, IncidentView, StepHistory};

impl Scheduler {
    /// Posts the checkpoints due on every open incident's clocks; returns the next one.
    #[instrument(skip_all)]
    pub(super) async fn checkpoints(&self, pass: &Pass) -> Option<DateTime<Utc>> {
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
}
