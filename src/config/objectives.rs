//! `[objectives]`: the DRP's recovery-time and recovery-point objectives.

use serde::Deserialize;

use crate::domain::Workstream;
use crate::duration::HumanDuration;

/// The DRP's objectives. A workstream without an objective cannot have a runbook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objectives {
    pub hosting_rto: HumanDuration,
    pub llm_rto: HumanDuration,
    pub rpo: HumanDuration,
    /// Recovery time for a data restore on its own; optional because not every plan has one.
    pub data_rto: Option<HumanDuration>,
    /// When the RTO clocks start: at the outage's first signal (the DRP's reading) or at the
    /// incident's declaration.
    #[serde(default)]
    pub clock_start: ClockStart,
}

/// Where an incident's RTO clocks start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockStart {
    /// The first `feed.degraded`, `feed.outage` or `alert.posted` of the outage (the
    /// declaration when nothing was signalled).
    #[default]
    FirstSignal,
    /// The `incident.declared` event.
    Declaration,
}

impl Objectives {
    /// The recovery-time objective a workstream is measured against.
    pub fn rto_for(&self, workstream: Workstream) -> Option<HumanDuration> {
        match workstream {
            Workstream::Hosting => Some(self.hosting_rto),
            Workstream::Llm => Some(self.llm_rto),
            Workstream::Data => self.data_rto,
        }
    }
}
