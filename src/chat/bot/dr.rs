//! The DR commands: `/dr status` (providers, incidents, runs, the RPO watch), `/dr readiness`,
//! `/dr training` (who holds a role and their last game day) and `/dr reviewed` (the plan's
//! review).

use super::{Bot, Reply, actor, plain_message};
use crate::approval::Person;
use crate::chat::command::Command;
use crate::domain::event::NewEvent;
use crate::events::PlanReviewed;
use crate::training::MembersRead;

impl Bot {
    /// `/dr status|readiness|reviewed` (routed here by `Bot::handle`).
    pub(super) async fn dr_command(&self, command: Command, who: &Person) -> Reply {
        match command {
            Command::DrStatus => self.dr_status(),
            Command::DrReadiness => self.readiness().await,
            Command::DrTraining => self.training().await,
            Command::DrReviewed { note } => self.plan_reviewed(note, who),
            other => Self::misrouted("DR", &other),
        }
    }

    /// `/dr status`: providers, open incidents with their clocks, runs, the RPO watch.
    fn dr_status(&self) -> Reply {
        match crate::views::dr_picture(self.store.as_ref(), &self.config, &self.runbooks) {
            Ok(picture) => Reply::private(crate::status::render(
                &self.config,
                &self.runbooks,
                &picture,
                self.clock.now(),
            )),
            Err(err) => Self::unreadable(err),
        }
    }

    /// `/dr readiness`: the checks of `lifeboat readiness`, for the person who asked. Drills
    /// are read from this log and the `drill-*` logs beside it.
    async fn readiness(&self) -> Reply {
        let mut events = crate::readiness::store_events(self.store.as_ref());
        events.append(&mut self.drill_log_events().await);
        let members = self.members_read().await;
        let report =
            crate::readiness::run(self.engine.env(), &self.runbooks, &events, &members).await;
        // The verdict first: a long report may be cut to fit one chat message.
        Reply::private(format!("**{}**\n{}", report.verdict(), report.render()))
    }

    /// Every event of the `drill-*` logs beside this log (drills, training records).
    async fn drill_log_events(&self) -> Vec<crate::domain::event::Event> {
        let Some(drills) = self.drills.clone() else {
            return Vec::new();
        };
        let data_dir = self.config.store.data_dir.clone();
        match tokio::task::spawn_blocking(move || drills.logged_events(&data_dir)).await {
            Ok(events) => events,
            Err(err) => {
                tracing::warn!(error = %err, "reading the drill logs failed");
                Vec::new()
            }
        }
    }

    /// The guild's members, as far as the chat can list them.
    async fn members_read(&self) -> MembersRead {
        match &self.members {
            None => MembersRead::NotConnected,
            Some(members) => match members.members().await {
                Ok(found) => MembersRead::Read(found),
                Err(err) => {
                    tracing::warn!(error = %err, "the guild's members could not be read");
                    MembersRead::Failed(err.to_string())
                }
            },
        }
    }

    /// `/dr training`: every person holding a responder, approver or communicator role, with
    /// their last game day (from the training records of the game days' logs) or "never".
    async fn training(&self) -> Reply {
        let events = self.drill_log_events().await;
        let members = self.members_read().await;
        let listing = crate::training::listing(&self.config, &members, &events, self.clock.now());
        Reply::private(format!("```\n{listing}```"))
    }

    /// `/dr reviewed`: records a review of the plan, which resets the review reminder.
    fn plan_reviewed(&self, note: Option<String>, who: &Person) -> Reply {
        self.append(NewEvent::of(actor(who), PlanReviewed { note }));
        let next = self.clock.now()
            + chrono::Duration::from_std(self.config.schedule.review_every.get())
                .unwrap_or(chrono::Duration::MAX);
        Reply::public(plain_message(format!(
            "📝 DR plan review recorded by {}. Next review due by {}.",
            who.name,
            next.format("%Y-%m-%d")
        )))
    }
}
