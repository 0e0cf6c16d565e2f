//! The `Chat` port: what Lifeboat says and where, independent of Discord. The bot core builds
//! `Message`s (pure rendering in `chat::render`); adapters (console, recorder, Discord)
//! deliver them.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::HealthLevel;

pub mod action;
pub use crate::domain::{ChannelId, MessageRef};
pub use action::{Action, ActionError, Decision};

/// Colours follow the health levels, so a glance at the channel tells how bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    Green,
    Blue,
    Yellow,
    Orange,
    Red,
    Grey,
}

impl Colour {
    pub fn for_level(level: HealthLevel) -> Self {
        match level {
            HealthLevel::Operational => Colour::Green,
            HealthLevel::Maintenance => Colour::Blue,
            HealthLevel::Degraded => Colour::Yellow,
            HealthLevel::PartialOutage => Colour::Orange,
            HealthLevel::MajorOutage => Colour::Red,
            HealthLevel::Unknown => Colour::Grey,
        }
    }

    /// The RGB value Discord embeds use.
    pub fn rgb(self) -> u32 {
        match self {
            Colour::Green => 0x2e_cc_71,
            Colour::Blue => 0x34_98_db,
            Colour::Yellow => 0xf1_c4_0f,
            Colour::Orange => 0xe6_7e_22,
            Colour::Red => 0xe7_4c_3c,
            Colour::Grey => 0x95_a5_a6,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub value: String,
    pub inline: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Embed {
    pub title: String,
    pub description: String,
    pub colour: Colour,
    pub fields: Vec<Field>,
    pub url: Option<String>,
    pub footer: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonStyle {
    Primary,
    Secondary,
    Success,
    Danger,
}

/// A button; its `custom_id` carries everything needed to act on it after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub custom_id: String,
    pub label: String,
    pub style: ButtonStyle,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Message {
    pub content: String,
    pub embeds: Vec<Embed>,
    pub buttons: Vec<Button>,
    /// The role ids this message means to ping (a notification's team role, the approvers of
    /// a break-glass run). Nothing else in it pings: user text (titles, notes, drafts) may
    /// hold `@everyone` or `<@&id>`, and adapters deliver it inert.
    /// (A boxed slice, not a `Vec`: replies travel in `Result`s, and a smaller `Message`
    /// keeps them cheap.)
    /// An entry `user:ID` (see [`user_ping`]) pings that one user instead (the training
    /// reminder names the people it concerns).
    #[serde(default, skip_serializing_if = "<[String]>::is_empty")]
    pub pings: Box<[String]>,
}

/// The `pings` entry that pings one user, by id.
pub fn user_ping(id: &str) -> String {
    format!("{USER_PING}{id}")
}

/// The prefix of a user's entry in `Message::pings` (the others are role ids).
pub const USER_PING: &str = "user:";

/// What marks a run request, a run's progress and an outage alert while `[aws] mode =
/// "simulated"`: the plain text and every embed title start with it, so nobody takes a drill or
/// a demo for a real failover.
pub const SIMULATED: &str = "SIMULATED — ";

impl Message {
    /// This message marked [`SIMULATED`] when `simulated`; unchanged with real AWS (an
    /// `endpoint_url` such as moto's counts as real: the SDK calls are made).
    pub fn simulated(mut self, simulated: bool) -> Self {
        if simulated {
            self.content = format!("{SIMULATED}{}", self.content);
            for embed in &mut self.embeds {
                embed.title = format!("{SIMULATED}{}", embed.title);
            }
        }
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("chat unavailable: {0}")]
    Unavailable(String),
    #[error("chat refused the message: {0}")]
    Rejected(String),
}

/// A file sent with a message (a post-mortem export, a drill report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// Where Lifeboat's messages go.
#[async_trait]
pub trait Chat: Send + Sync {
    /// Posts a new message in a channel.
    async fn post(&self, channel: &ChannelId, message: &Message) -> Result<MessageRef, ChatError>;
    /// Replaces a posted message's content (alerts are edited as the outage evolves).
    async fn update(&self, target: &MessageRef, message: &Message) -> Result<(), ChatError>;
    /// Replies under a posted message (in its thread where the adapter has threads).
    async fn reply(&self, target: &MessageRef, message: &Message) -> Result<MessageRef, ChatError>;
    /// Opens a thread in `channel` named `name`, started from the message `from` where given
    /// (the declaration or the alert). Later messages for it are posted to the returned id.
    async fn open_thread(
        &self,
        channel: &ChannelId,
        from: Option<&MessageRef>,
        name: &str,
    ) -> Result<ChannelId, ChatError>;
    /// Posts a message with files attached.
    async fn attach(
        &self,
        channel: &ChannelId,
        message: &Message,
        files: &[Attachment],
    ) -> Result<MessageRef, ChatError>;
}

/// Whether the chat connection is up (for `/healthz`); `Err` says why not.
#[async_trait]
pub trait ChatHealth: Send + Sync {
    async fn check(&self) -> Result<(), String>;
}

/// The kind of the event that records an incident's thread
/// ([`crate::events::IncidentThreadOpened`]).
pub const THREAD_OPENED: &str = crate::events::EventKind::IncidentThreadOpened.as_str();

/// The thread opened for an incident, from that incident's events (the last one recorded).
pub fn incident_thread(events: &[crate::domain::event::Event]) -> Option<ChannelId> {
    events
        .iter()
        .rev()
        .filter_map(|e| e.data_as::<crate::events::IncidentThreadOpened>())
        .map(|opened| opened.thread)
        .find(|thread| !thread.0.is_empty())
}

/// Where an incident's messages go: its thread when one is open, else `fallback`.
pub fn incident_channel(
    store: &dyn crate::ports::store::EventStore,
    incident: Option<&crate::domain::IncidentId>,
    fallback: &ChannelId,
) -> ChannelId {
    incident
        .and_then(|id| store.by_incident(id).ok())
        .and_then(|events| incident_thread(&events))
        .unwrap_or_else(|| fallback.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        Message {
            content: "[CONFIRMED] Heroku major outage".into(),
            embeds: vec![Embed {
                title: "Heroku: major outage (CONFIRMED)".into(),
                description: "d".into(),
                colour: Colour::Red,
                fields: Vec::new(),
                url: None,
                footer: None,
            }],
            ..Message::default()
        }
    }

    #[test]
    fn a_simulated_message_says_so_in_its_text_and_every_embed_title() {
        let marked = message().simulated(true);
        assert_eq!(
            marked.content,
            "SIMULATED — [CONFIRMED] Heroku major outage"
        );
        assert_eq!(
            marked.embeds[0].title,
            "SIMULATED — Heroku: major outage (CONFIRMED)"
        );
        assert_eq!(marked.embeds[0].description, "d");
    }

    #[test]
    fn with_real_aws_a_message_is_unchanged() {
        assert_eq!(message().simulated(false), message());
    }
}
