//! Training: who took part in a game day, in which role (`lifeboat training`, `/dr training`
//! and readiness's training check read these back).

use serde::{Deserialize, Serialize};

/// The part a person played in a game day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainingRole {
    /// Declared the incident, requested a run or answered a `confirm` step.
    Responder,
    /// Approved a run.
    Approver,
    /// Approved or edited a client draft.
    Communicator,
    /// Commanded the incident (the declaration names them).
    Commander,
}

impl TrainingRole {
    pub const ALL: [TrainingRole; 4] = [
        TrainingRole::Responder,
        TrainingRole::Approver,
        TrainingRole::Communicator,
        TrainingRole::Commander,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Responder => "responder",
            Self::Approver => "approver",
            Self::Communicator => "communicator",
            Self::Commander => "commander",
        }
    }
}

impl std::fmt::Display for TrainingRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `training.recorded`: one person played one role in a game day (its `at` is when the game
/// day recorded it, at its end). Written into the game day's own log, one per person and role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingRecorded {
    /// The game day's (drill) incident; `null` when the log names none.
    pub incident: Option<String>,
    /// `heroku-outage`, `openai-outage`, `both`; `unknown` when the log does not say.
    pub scenario: String,
    /// The chat user id; `null` when the log names the person only (a `confirm` answer by
    /// someone who did nothing else).
    pub person_id: Option<String>,
    pub person_name: String,
    pub role: TrainingRole,
}

impl Default for TrainingRecorded {
    fn default() -> Self {
        Self {
            incident: None,
            scenario: "unknown".to_owned(),
            person_id: None,
            person_name: String::new(),
            role: TrainingRole::Responder,
        }
    }
}
