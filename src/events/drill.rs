//! Drills: a simulated disaster requested, started, its outages, its incident marked as a
//! drill, and the results it finished with (readiness and the drill reminder read them back).

use serde::{Deserialize, Serialize};

fn unknown() -> String {
    "unknown".to_owned()
}

/// How a drill is played: `automatic` (stand-ins play the people as well as AWS, the providers
/// and the app) or `gameday` (real people declare, request, approve, confirm and approve the
/// draft; only AWS, the providers and the app are stand-ins). Drills logged before modes
/// existed carry none and were automatic: read them through [`DrillMode::of`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DrillMode {
    #[default]
    Automatic,
    Gameday,
}

impl DrillMode {
    /// The mode a drill event records, `automatic` when it records none (older drills).
    pub fn of(recorded: Option<DrillMode>) -> Self {
        recorded.unwrap_or_default()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Automatic => "automatic",
            Self::Gameday => "gameday",
        }
    }
}

/// `drill.requested` (`/drill start`): the drill runs on its own log, at `log`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrillRequested {
    /// `heroku-outage`, `openai-outage` or `both`.
    pub scenario: String,
    pub log: String,
    /// Written by every drill since modes exist; absent (automatic) before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<DrillMode>,
}

/// `drill.started`: the providers whose outage is simulated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrillStarted {
    pub providers: Vec<String>,
    /// Written by every drill since modes exist; absent (automatic) before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<DrillMode>,
}

/// `drill.outage_simulated`: the stand-in feeds of `provider` flipped to an outage; the
/// drill's detection time counts from here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrillOutageSimulated {
    pub provider: String,
    /// How soon the configured intervals would let a real outage of `provider` be seen
    /// (`crate::drill::figures::DetectionBound`, as people read it): the drill's own feeds
    /// poll far faster. Absent in drills logged before it was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detection_bound: Option<String>,
}

/// `drill.marked`: the incident is a drill (always `true`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrillMarked {
    pub drill: bool,
}

/// `drill.finished`: one result per drilled protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrillFinished {
    pub results: Vec<DrillResultRecord>,
    /// Written by every drill since modes exist; absent (automatic) before. Only a game day
    /// (or a drill against real AWS) counts as the plan's annual test.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<DrillMode>,
    /// Whether its AWS steps ran against real AWS (`[aws] endpoint_url` set and used) rather
    /// than the simulation. Written by drills since this field exists; absent before (and
    /// read as `false`: those drills ran on the simulation or never said).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real_aws: Option<bool>,
}

/// One drilled protocol in `drill.finished`. The figures are always written but for
/// `data_loss_secs`, which is `null` when no data was restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrillResultRecord {
    pub provider: String,
    pub runbook: String,
    pub run: String,
    /// The run's outcome (`succeeded`, ...); `unknown` when the record lacks it.
    #[serde(default = "unknown")]
    pub status: String,
    /// Simulated outage → confirmed alert: Lifeboat's pipeline, at the drill's own polls.
    pub detection_ms: Option<u64>,
    /// The detection bound under the configured intervals, as people read it (absent in
    /// drills logged before it was recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detection_bound: Option<String>,
    /// First signal → the runbook verified.
    pub recovery_ms: Option<u64>,
    pub rto_secs: Option<u64>,
    pub data_loss_secs: Option<u64>,
    pub rpo_secs: Option<u64>,
    pub rto_met: bool,
    pub rpo_met: bool,
}

impl Default for DrillResultRecord {
    fn default() -> Self {
        Self {
            provider: String::new(),
            runbook: String::new(),
            run: String::new(),
            status: unknown(),
            detection_ms: None,
            detection_bound: None,
            recovery_ms: None,
            rto_secs: None,
            data_loss_secs: None,
            rpo_secs: None,
            rto_met: false,
            rpo_met: false,
        }
    }
}

/// Why a game day ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillEndReason {
    /// Every phase was played (or the people resolved the drill incident).
    #[default]
    Finished,
    /// Someone ended it early (`/drill stop`, the event's actor).
    Stopped,
    /// Nobody finished it within `[drill] gameday_timeout`.
    TimedOut,
}

impl DrillEndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Finished => "finished",
            Self::Stopped => "stopped",
            Self::TimedOut => "timed_out",
        }
    }
}

/// `drill.ended`: a game day ended, why, and the phase it stalled in when it did not finish
/// (e.g. `requested → approved`). Its actor is who stopped it, or the scheduler.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrillEnded {
    pub reason: DrillEndReason,
    pub stalled: Option<String>,
    pub mode: Option<DrillMode>,
}
