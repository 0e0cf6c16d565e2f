//! Parity (issue 14): the scheduler's weekly comparison of the standby with production, and
//! the LLM parity gate before a switch.

use serde::{Deserialize, Serialize};

use super::Delivery;

/// `parity.checked`: a comparison, by drift key only (never a value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ParityChecked {
    pub drift: Vec<String>,
    /// The drift not in the last recorded comparison (the only drift posted).
    pub new: Vec<String>,
    /// What could not be compared.
    pub unknown: Vec<String>,
    /// Whether new drift was posted in the incident channel.
    pub alerted: bool,
    /// Where it was posted; omitted when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
}

/// `parity.unreadable`: a side could not be read; nothing compared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ParityUnreadable {
    pub error: String,
    /// `heroku` or `aws`; omitted by versions that only knew Heroku's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<String>,
    /// Whether it was posted (only when it became unreadable); omitted by older versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
}

/// `parity.alert_failed`: new drift could not be posted (the next check alerts again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ParityAlertFailed {
    pub drift: Vec<String>,
    pub new: Vec<String>,
    pub unknown: Vec<String>,
    /// The chat's error.
    pub error: String,
}

/// `llm.parity_gated`: the parity suite's result against the provider about to take over
/// (also the `llm_parity` step's output).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmParityGated {
    pub provider: String,
    /// `null` when the provider has no model configured.
    pub model: Option<String>,
    /// The suite file.
    pub suite: String,
    /// The minimum share of prompts that must pass, 0 to 1.
    pub min_pass: f64,
    pub passed: u64,
    pub total: u64,
    /// `passed / total`, 0 with no prompts.
    pub share: f64,
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    /// Why the suite was skipped (no key, ...); `null` when it ran.
    pub skipped: Option<String>,
    pub failures: Vec<String>,
    /// `open` (the switch may go ahead) or `closed`.
    pub gate: String,
}

impl LlmParityGated {
    pub fn is_open(&self) -> bool {
        self.gate == "open"
    }
}

/// `llm.revision_deployed`: an `llm_switch` on AWS is about to deploy `to` to `service` (which
/// runs `from`); recorded before the deploy, so a retry and the switch back know each move.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmRevisionDeployed {
    pub service: String,
    pub cluster: String,
    /// `family:revision`.
    pub from: String,
    pub to: String,
    /// `registered`, `reused` or `returned`.
    pub how: String,
}
