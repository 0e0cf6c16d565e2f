//! Pure domain vocabulary shared by every module: workstreams, health levels, incident
//! severities, actors, ids (incidents, runs, chat channels and messages) and drill scenarios;
//! the events of the log are [`event`] (the envelope) and `crate::events` (the kinds).

pub mod check;
pub mod event;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a runbook restores; each workstream has its own recovery-time objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Workstream {
    /// The application's hosting (Heroku → AWS).
    Hosting,
    /// The application's LLM provider (OpenAI → Anthropic).
    Llm,
    /// The application's data (backup restore on its own).
    Data,
}

impl Workstream {
    pub const ALL: [Workstream; 3] = [Workstream::Hosting, Workstream::Llm, Workstream::Data];

    pub fn as_str(self) -> &'static str {
        match self {
            Workstream::Hosting => "hosting",
            Workstream::Llm => "llm",
            Workstream::Data => "data",
        }
    }
}

impl fmt::Display for Workstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider's health, least to most severe; `Unknown` when the source could not be read.
///
/// The derived order is the severity order for the known levels; `Unknown` sorts first so
/// that "the worst of" never lets an unreadable source mask or fake an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthLevel {
    Unknown,
    Operational,
    Maintenance,
    Degraded,
    PartialOutage,
    MajorOutage,
}

impl HealthLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthLevel::Unknown => "unknown",
            HealthLevel::Operational => "operational",
            HealthLevel::Maintenance => "maintenance",
            HealthLevel::Degraded => "degraded",
            HealthLevel::PartialOutage => "partial_outage",
            HealthLevel::MajorOutage => "major_outage",
        }
    }
}

impl fmt::Display for HealthLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who caused an event: a person in chat, the bot itself, a feed, or the scheduler.
/// How bad an incident is; `sev1` is the worst.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The product is down for everyone.
    Sev1,
    /// A major part is down or degraded for many.
    #[default]
    Sev2,
    /// Degraded, with a workaround.
    Sev3,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Sev1, Severity::Sev2, Severity::Sev3];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Sev1 => "sev1",
            Severity::Sev2 => "sev2",
            Severity::Sev3 => "sev3",
        }
    }

    /// The severity an alert's level suggests when an incident is declared from its button.
    pub fn for_level(level: HealthLevel) -> Self {
        match level {
            HealthLevel::MajorOutage => Severity::Sev1,
            HealthLevel::PartialOutage => Severity::Sev2,
            _ => Severity::Sev3,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sev1" | "1" => Ok(Severity::Sev1),
            "sev2" | "2" => Ok(Severity::Sev2),
            "sev3" | "3" => Ok(Severity::Sev3),
            _ => Err(format!(
                "`{s}` is not a severity: use sev1 (down for everyone), sev2 or sev3"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    User { id: String, name: String },
    Bot,
    Feed { name: String },
    Scheduler,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User { id, name } => write!(f, "{name} ({id})"),
            Actor::Bot => f.write_str("bot"),
            Actor::Feed { name } => write!(f, "feed:{name}"),
            Actor::Scheduler => f.write_str("scheduler"),
        }
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

string_id!(
    /// An incident, e.g. `INC-20261125-0931`.
    IncidentId
);
string_id!(
    /// One execution of a runbook, e.g. `RUN-20261125-093112-failover-hosting`.
    RunId
);

/// A channel or thread, as the adapter names it (a Discord snowflake, `console`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelId(pub String);

/// A posted message, so that it can be edited or replied to later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub channel: ChannelId,
    pub id: String,
}

/// A simulated disaster a drill can run (`lifeboat drill`, `/drill start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    HerokuOutage,
    OpenaiOutage,
    Both,
}

impl Scenario {
    /// The name `lifeboat drill` and `/drill start` take.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::HerokuOutage => "heroku-outage",
            Scenario::OpenaiOutage => "openai-outage",
            Scenario::Both => "both",
        }
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "heroku-outage" => Ok(Scenario::HerokuOutage),
            "openai-outage" => Ok(Scenario::OpenaiOutage),
            "both" => Ok(Scenario::Both),
            other => Err(format!(
                "unknown scenario `{other}`: use heroku-outage, openai-outage or both"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_order_matches_the_issue() {
        use HealthLevel::*;
        let mut levels = vec![
            MajorOutage,
            Operational,
            PartialOutage,
            Maintenance,
            Degraded,
        ];
        levels.sort();
        assert_eq!(
            levels,
            vec![
                Operational,
                Maintenance,
                Degraded,
                PartialOutage,
                MajorOutage
            ]
        );
        assert!(Unknown < Operational, "unknown never counts as an outage");
    }

    #[test]
    fn levels_serialise_as_the_stable_names() {
        let json = serde_json::to_string(&HealthLevel::PartialOutage).unwrap();
        assert_eq!(json, "\"partial_outage\"");
    }

    #[test]
    fn severity_parses_and_explains() {
        assert_eq!("SEV1".parse::<Severity>().unwrap(), Severity::Sev1);
        assert_eq!("3".parse::<Severity>().unwrap(), Severity::Sev3);
        assert!("critical".parse::<Severity>().unwrap_err().contains("sev1"));
        assert_eq!(
            Severity::for_level(HealthLevel::MajorOutage),
            Severity::Sev1
        );
        assert_eq!(Severity::default(), Severity::Sev2);
    }

    #[test]
    fn actors_display_like_the_design() {
        assert_eq!(
            Actor::Feed {
                name: "heroku".into()
            }
            .to_string(),
            "feed:heroku"
        );
        assert_eq!(Actor::Bot.to_string(), "bot");
    }
}
