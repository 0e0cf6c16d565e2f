//! Runs started straight on the app's engine, the way the failover, data and engine suites
//! drive the shipped runbooks: loaded against the app's config, started by alice, their
//! `confirm` steps answered by bob once asked, their events and their end waited for within the
//! app's patience.

use std::collections::BTreeMap;
use std::time::Duration;

use lifeboat::domain::event::Event;
use lifeboat::domain::{Actor, IncidentId, RunId};
use lifeboat::engine::RunHandle;
use lifeboat::runbook::state::RunStatus;
use lifeboat::runbook::{Runbook, load_file};
use lifeboat::steps::confirm::{Answer, Answers};

use super::App;
use crate::support::root;

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(10);

/// The person who starts the runs.
pub fn alice() -> Actor {
    Actor::User {
        id: "1".into(),
        name: "alice".into(),
    }
}

/// `kind step` for each event, e.g. `step.started scale-standby`.
pub fn kinds(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e.data["step"].as_str() {
            Some(step) => format!("{} {step}", e.kind),
            None => e.kind.clone(),
        })
        .collect()
}

impl App {
    /// A runbook shipped in `commands/`, loaded and validated against the app's config.
    pub fn shipped(&self, name: &str) -> Runbook {
        let path = root().join("commands").join(format!("{name}.toml"));
        load_file(&path, &self.config).unwrap_or_else(|e| panic!("{name}: {e:#?}"))
    }

    /// alice starts `runbook` (for `incident`, if any) on the engine, without a request.
    pub fn start_run(&self, runbook: &Runbook, incident: Option<IncidentId>) -> RunHandle {
        self.engine
            .start(runbook, BTreeMap::new(), incident, alice())
            .unwrap_or_else(|err| panic!("{} refused: {err}", runbook.name))
    }

    /// bob answers a `confirm` step as a person would, once the run has asked.
    pub async fn answer(&self, run: &RunId, step: &str, yes: bool) {
        let answers = &self.engine.env().answers;
        let key = Answers::key(run.as_str(), step);
        tokio::time::timeout(self.patience, async {
            while !answers.open().contains(&key) {
                tokio::time::sleep(POLL).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{run} never asked `{step}`; events: {:#?}",
                kinds(&self.run_events(run))
            )
        });
        let answer = Answer {
            yes,
            by: "bob".into(),
        };
        assert!(answers.answer(&key, answer), "nobody waited for {key}");
    }

    /// Waits for the run's end; its status and its whole log.
    pub async fn finish(&self, handle: RunHandle) -> (RunStatus, Vec<Event>) {
        let run = handle.run.clone();
        let status = match tokio::time::timeout(self.patience, handle.task).await {
            Ok(joined) => joined.expect("the run task panicked"),
            Err(_) => panic!(
                "{run} did not end within {:?}; events: {:#?}",
                self.patience,
                kinds(&self.run_events(&run))
            ),
        };
        (status, self.run_events(&run))
    }

    /// Waits until the run has logged `kind` for `step`.
    pub async fn step_event(&self, run: &RunId, kind: &str, step: &str) -> Event {
        let found = tokio::time::timeout(self.patience, async {
            loop {
                if let Some(event) = self
                    .run_events(run)
                    .into_iter()
                    .find(|e| e.kind == kind && e.data["step"] == step)
                {
                    return event;
                }
                tokio::time::sleep(POLL).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!(
                "no `{kind} {step}` within {:?}; events: {:#?}",
                self.patience,
                kinds(&self.run_events(run))
            )
        })
    }
}
