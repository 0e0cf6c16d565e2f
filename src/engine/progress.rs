//! Telling the channel how a run goes: one line per step start and end, the run's end, and
//! a pause with its decision buttons, in the run's incident thread once one is open.

use tracing::warn;

use super::Decision;
use super::driver::Driver;
use crate::ports::chat::{Action, Button, ButtonStyle, ChannelId, Message};

impl Driver {
    /// Tells the channel how the run goes; paused runs get their decision buttons.
    pub(super) async fn progress(&self, text: String, paused: bool) {
        let run = &self.view.run;
        let buttons = if paused {
            [
                (Decision::Retry, "Resume", ButtonStyle::Primary),
                (Decision::Skip, "Skip", ButtonStyle::Secondary),
                (Decision::Abort, "Abort", ButtonStyle::Danger),
            ]
            .into_iter()
            .map(|(decision, label, style)| Button {
                custom_id: Action::Decide {
                    run: run.to_string(),
                    decision,
                }
                .to_custom_id(),
                label: label.into(),
                style,
            })
            .collect()
        } else {
            Vec::new()
        };
        let message = Message {
            pings: Box::default(),
            content: format!("[{run}] {text}"),
            embeds: Vec::new(),
            buttons,
        }
        .simulated(self.env.aws_simulated());
        if let Err(err) = self.env.chat.post(&self.channel(), &message).await {
            warn!(error = %err, "progress could not be posted");
        }
    }

    /// Where this run's messages go: its incident's thread once one is open (looked up each
    /// time, so a thread opened mid-run is used at once), else the configured channel.
    pub(super) fn channel(&self) -> ChannelId {
        crate::ports::chat::incident_channel(
            self.store.as_ref(),
            self.view.incident.as_ref(),
            &self.env.channel,
        )
    }
}
