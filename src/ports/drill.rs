//! The `Drills` port: what the bot needs of drills beyond the core — running one end to end on
//! an event log of its own, and reading the drills kept beside the live log. A driver
//! implements it (`crate::service::drill::ChatDrills`), so the bot never imports the drill
//! runner.

use std::path::Path;

use async_trait::async_trait;

use crate::config::Config;
use crate::domain::event::Event;
use crate::domain::{IncidentId, Scenario};
use crate::runbook::Runbook;

/// A finished drill, for the bot to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillReport {
    /// The drill's incident, in the drill's own log.
    pub incident: IncidentId,
    /// The results table (`crate::drill::summary`).
    pub summary: String,
    /// The drill's post-mortem in Markdown.
    pub postmortem: String,
}

#[async_trait]
pub trait Drills: Send + Sync {
    /// Runs `scenario` end to end with `config` on its own event log in `dir`.
    async fn run(
        &self,
        config: &Config,
        runbooks: &[Runbook],
        scenario: Scenario,
        dir: &Path,
    ) -> anyhow::Result<DrillReport>;

    /// Every event of the drill logs (`drill-*`) in `data_dir`. Blocking: call it off the
    /// async threads.
    fn logged_events(&self, data_dir: &Path) -> Vec<Event>;
}
