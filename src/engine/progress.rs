//! Telling the channel how a run goes: one line per step start and end, the run's end, and
//! a pause with its decision buttons, in the run's incident thread once one is open.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::warn;

use super::Decision;
use super::driver::Driver;
use crate::domain::IncidentId;
use crate::domain::event::Event;
use crate::ports::chat::{
    Action, Button, ButtonStyle, ChannelId, Message, THREAD_OPENED, incident_thread,
};
use crate::ports::store::EventStore;

/// The thread a run's incident opened, kept current without reading the incident again and
/// again: each look reads, through the log's kind index, only the `incident.thread_opened`
/// events recorded since the last one. (Reading the whole incident for every progress line
/// cost 14 ms a step in an incident of 1,000 events: `cargo bench --bench engine`.)
#[derive(Debug, Default)]
pub(super) struct ThreadWatch {
    /// The thread found so far, and the seq up to which every event was looked at.
    seen: Mutex<(Option<ChannelId>, u64)>,
    /// The seq of the run's latest event: every event up to it is in the log's indexes
    /// (appends are sealed and indexed one after another).
    appended: AtomicU64,
}

impl ThreadWatch {
    /// The run appended the event `seq`.
    pub(super) fn appended(&self, seq: u64) {
        self.appended.fetch_max(seq, Ordering::SeqCst);
    }

    /// The incident's thread (the last one recorded), if any. A log that cannot be read now
    /// leaves the thread found before.
    fn thread(&self, store: &dyn EventStore, incident: &IncidentId) -> Option<ChannelId> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let complete_to = self.appended.load(Ordering::SeqCst);
        if let Ok(opened) = store.kinds_in(&[THREAD_OPENED], seen.1 + 1..=u64::MAX) {
            let of_incident: Vec<Event> = opened
                .into_iter()
                .filter(|e| e.incident.as_ref() == Some(incident))
                .collect();
            if let Some(thread) = incident_thread(&of_incident) {
                seen.0 = Some(thread);
            }
            seen.1 = seen.1.max(complete_to);
        }
        seen.0.clone()
    }
}

impl Driver {
    /// Tells the channel how the run goes; paused runs get their decision buttons.
    pub(super) async fn progress(&self, text: String, paused: bool) {
        if !self.leadership.may_act() {
            // A deposed leader of a pair says nothing: the channel is the new leader's.
            return;
        }
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
        self.view
            .incident
            .as_ref()
            .and_then(|incident| self.thread.thread(self.store.as_ref(), incident))
            .unwrap_or_else(|| self.env.channel.clone())
    }
}
