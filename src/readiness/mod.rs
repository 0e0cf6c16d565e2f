//! `lifeboat readiness` and `/dr readiness`: is the standby really ready to take over?
//!
//! The decisions are pure: `assess` turns what was observed (ECS cluster, services and task
//! definitions; the live Route 53 records; an Anthropic probe; the latest backup; the drills in
//! the log) into a `Readiness` report, one check per line. `gather` does the looking, through
//! the same edges and step code the runbooks use, so "ready" means what a failover will meet.
//!
//! The DNS rule: resolvers keep the old answer for up to the record's TTL after DNS moves, so
//! that much of the recovery budget is lost on top of the runbook. A live record's TTL (and the
//! TTL a failover writes) must be at most `[aws.dns] max_ttl` (default 5m) and at most 1/48 of
//! the hosting RTO (5m for 4h), whichever is lower.

mod assess;
mod gather;
mod observations;

use crate::domain::event::Event;
use crate::ports::store::EventStore;
use crate::runbook::Runbook;
use crate::steps::StepEnv;
pub use assess::*;
use chrono::{DateTime, SecondsFormat, Utc};
pub use gather::*;
pub use observations::*;

/// The hosting RTO is divided by this to bound the TTL: DNS caches may cost at most ~2 % of it.
pub const TTL_SHARE_OF_RTO: u32 = 48;

pub use crate::domain::check::Check;

/// Every check, in a fixed order (AWS, ECS, DNS, LLM, backups, drills).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub at: DateTime<Utc>,
    pub checks: Vec<Check>,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    pub fn failures(&self) -> usize {
        self.checks.iter().filter(|c| !c.ok).count()
    }

    /// The report people read: a heading, one line per check, a verdict.
    pub fn render(&self) -> String {
        let mut out = format!(
            "Standby readiness at {}\n",
            self.at.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        for check in &self.checks {
            out.push_str(&check.line());
            out.push('\n');
        }
        out.push_str(&self.verdict());
        out.push('\n');
        out
    }

    /// `READY: all N checks passed` or `NOT READY: F of N checks failed`.
    pub fn verdict(&self) -> String {
        let n = self.checks.len();
        if self.ready() {
            format!("READY: all {n} checks passed")
        } else {
            format!("NOT READY: {} of {n} checks failed", self.failures())
        }
    }
}

/// `lifeboat readiness` and `/dr readiness` in one call: look, then decide.
/// With `[heroku]` configured, the parity lines (`crate::parity`) follow the others; with
/// `[schedule] training_every`, the training line (`crate::training`, from the
/// `training.recorded` events of `drill_log` and the chat's `members`) comes last.
pub async fn run(
    env: &StepEnv,
    runbooks: &[Runbook],
    drill_log: &[Event],
    members: &crate::training::MembersRead,
) -> Readiness {
    let (observed, parity) = tokio::join!(
        gather(env, runbooks, drill_log),
        crate::parity::gather::check(env, runbooks)
    );
    let mut report = assess(&env.config, runbooks, &observed);
    if let Some(parity) = parity {
        report
            .checks
            .extend(crate::parity::render::readiness_checks(&parity));
    }
    report.checks.extend(crate::training::check(
        &env.config,
        members,
        drill_log,
        report.at,
    ));
    report
}

/// The drills `store` holds (the bot's own log): its `drill.finished` events.
pub fn store_events(store: &dyn EventStore) -> Vec<Event> {
    crate::views::of_kinds(store, &[crate::events::EventKind::DrillFinished]).unwrap_or_else(
        |err| {
            tracing::warn!(error = %err, "the event log could not be read for drills");
            Vec::new()
        },
    )
}

#[cfg(test)]
mod tests;
