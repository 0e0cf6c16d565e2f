//! `[discord]` (the bot's token, guild and incident channel) and `[access]` (who may do what).

use serde::Deserialize;

use super::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// Name of the environment variable that holds the bot token.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    pub guild_id: Option<String>,
    pub incident_channel_id: Option<String>,
    /// Points REST (and, through `/gateway`, the gateway) at another base URL.
    pub api_base: Option<String>,
    /// Register the slash commands with the guild on every start.
    #[serde(default)]
    pub register_on_start: bool,
}

fn default_token_env() -> String {
    "LIFEBOAT_DISCORD_TOKEN".to_owned()
}

impl DiscordConfig {
    /// The bot token, when its environment variable is set.
    pub fn token(&self) -> Option<Secret> {
        Secret::from_env(&self.token_env)
    }
}

/// Discord role ids allowed to act.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// Declare incidents, request runs, add notes.
    #[serde(default)]
    pub responders: Vec<String>,
    /// Approve runs (never their own unless the runbook allows it).
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Approve client communications.
    #[serde(default)]
    pub communicators: Vec<String>,
    /// The people who hold those roles, for the training record (`lifeboat training`) where
    /// Discord cannot be asked, and for people Discord does not list; optional.
    #[serde(default)]
    pub roster: Vec<RosterEntry>,
}

/// One person of `[[access.roster]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterEntry {
    /// Their Discord user id (what the training records name); optional for people known
    /// only by name.
    pub id: Option<String>,
    pub name: String,
    pub roles: Vec<AccessRole>,
}

/// A role of `[access]`, as the roster names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessRole {
    Responder,
    Approver,
    Communicator,
}

impl AccessRole {
    pub const ALL: [AccessRole; 3] = [
        AccessRole::Responder,
        AccessRole::Approver,
        AccessRole::Communicator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Responder => "responder",
            Self::Approver => "approver",
            Self::Communicator => "communicator",
        }
    }
}

impl AccessConfig {
    /// The Discord role ids of `role`.
    pub fn role_ids(&self, role: AccessRole) -> &[String] {
        match role {
            AccessRole::Responder => &self.responders,
            AccessRole::Approver => &self.approvers,
            AccessRole::Communicator => &self.communicators,
        }
    }
}
