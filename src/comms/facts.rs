//! The facts a communication states, folded from the event log and the config: when the
//! incident started, what is affected, where recovery stands, when it should be done and how
//! much data may be lost. Pure: the same events always give the same facts.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::domain::event::Event;
use crate::domain::{IncidentId, RunId, Workstream};
use crate::events::{EventKind, Payload};

/// Every variable a communication template may use, by name.
pub const VARIABLES: &[&str] = &[
    "company",
    "incident",
    "audience",
    "status",
    "providers",
    "services",
    "started_at",
    "steps_done",
    "expected_recovery",
    "data_loss_window",
    "now",
    "drill",
];

/// How a drill's notices are marked; polish must keep it (see [`Facts::values`]).
pub const DRILL_MARKER: &str = "[DRILL]";

/// How times appear in notices: to the minute, always UTC, so readers in any zone agree.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M UTC";

/// What a notice may state. Field names are the template variables (`VARIABLES`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    pub company: String,
    /// The incident id (or the run id when a step runs outside an incident).
    pub incident: String,
    pub audience: String,
    /// investigating | mitigating | recovered | resolved
    pub status: String,
    pub providers: Vec<String>,
    pub services: Vec<String>,
    pub started_at: String,
    /// Titles of the runbook steps completed so far, in order.
    pub steps_done: Vec<String>,
    /// Incident start + the recovery-time objective of the workstream being recovered.
    pub expected_recovery: Option<String>,
    /// The age of the backup restored, as the backup check measured it.
    pub data_loss_window: Option<String>,
    pub now: String,
    pub drill: bool,
}

impl Facts {
    /// The values a polished text must keep verbatim: times, the data-loss window, the
    /// providers and services named, and a drill's `[DRILL]` marker.
    pub fn values(&self) -> Vec<String> {
        let mut values = vec![self.started_at.clone()];
        if self.drill {
            values.push(DRILL_MARKER.to_owned());
        }
        values.extend(self.expected_recovery.clone());
        values.extend(self.data_loss_window.clone());
        values.extend(self.providers.iter().cloned());
        values.extend(self.services.iter().cloned());
        values.retain(|v| !v.is_empty());
        values
    }
}

/// Which part of the log a notice is about.
#[derive(Debug, Clone, Default)]
pub struct Scope<'a> {
    pub incident: Option<&'a IncidentId>,
    /// A run outside any incident (a step run on its own, a drill without a declaration).
    pub run: Option<&'a RunId>,
}

/// Folds `events` into the facts of `scope`, for `audience`, as of `now`.
pub fn gather(
    events: &[Event],
    config: &Config,
    scope: &Scope<'_>,
    audience: &str,
    now: DateTime<Utc>,
) -> Facts {
    let mine = scope_events(events, scope);
    let mut found = Found::from_scope(&mine, config, now);
    if let Some(id) = scope.incident {
        found.follow_incident_view(events, id, config);
    }
    let expected_recovery = found
        .expected_recovery(config)
        .map(|at| at.format(TIME_FORMAT).to_string());
    let incident = scope
        .incident
        .map(ToString::to_string)
        .or_else(|| scope.run.map(ToString::to_string))
        .unwrap_or_default();
    Facts {
        company: config
            .vars
            .get("company")
            .cloned()
            .unwrap_or_else(|| "Our service".to_owned()),
        incident,
        audience: audience.to_owned(),
        status: found.status.to_owned(),
        providers: found.providers,
        services: config.comms.services.clone(),
        started_at: found.started.format(TIME_FORMAT).to_string(),
        steps_done: found.steps_done,
        expected_recovery,
        data_loss_window: found.data_loss,
        now: now.format(TIME_FORMAT).to_string(),
        drill: found.drill,
    }
}

/// The events of the scope: the incident's, and those of the runs that belong to it (started
/// for the incident, or the given run).
fn scope_events<'e>(events: &'e [Event], scope: &Scope<'_>) -> Vec<&'e Event> {
    let mut runs: BTreeSet<&RunId> = scope.run.into_iter().collect();
    for e in events {
        if e.is(EventKind::RunStarted)
            && scope.incident.is_some()
            && e.incident.as_ref() == scope.incident
            && let Some(run) = &e.run
        {
            runs.insert(run);
        }
    }
    let relevant = |e: &&Event| {
        (scope.incident.is_some() && e.incident.as_ref() == scope.incident)
            || e.run.as_ref().is_some_and(|r| runs.contains(r))
    };
    events.iter().filter(relevant).collect()
}

/// What the scope's runs did, in log order.
#[derive(Default)]
struct RunProgress {
    workstreams: Vec<Workstream>,
    /// Titles of the steps that succeeded.
    steps_done: Vec<String>,
    /// The age of the backup restored, as of the last step that measured one.
    data_loss: Option<String>,
    active: bool,
    succeeded: bool,
}

fn fold_runs(mine: &[&Event]) -> RunProgress {
    let mut progress = RunProgress::default();
    let mut titles: BTreeMap<(&RunId, String), String> = BTreeMap::new();
    // A drill's backups are stand-ins: only a window measured from restored data counts.
    let drill = mine.iter().any(|e| e.is(EventKind::DrillMarked));
    for e in mine {
        let Some(run) = &e.run else { continue };
        let Ok(payload) = e.payload() else { continue };
        match payload {
            Payload::RunStarted(started) => {
                progress.active = true;
                if let Some(ws) = started.workstream
                    && !progress.workstreams.contains(&ws)
                {
                    progress.workstreams.push(ws);
                }
            }
            Payload::StepStarted(step) => {
                titles.insert((run, step.step), step.title);
            }
            Payload::StepSucceeded(step) => {
                let title = titles.get(&(run, step.step.clone())).unwrap_or(&step.step);
                progress.steps_done.push(title.clone());
                // The measured window, as `incident::view`'s achieved RPO reads it.
                if let Some(secs) = crate::incident::loss_window_secs(
                    mine.iter().copied().filter(|m| m.seq <= e.seq),
                    drill,
                ) {
                    progress.data_loss = Some(crate::duration::format_elapsed(
                        std::time::Duration::from_secs(secs),
                    ));
                }
            }
            Payload::RunSucceeded(_) => {
                progress.active = false;
                progress.succeeded = true;
            }
            Payload::RunFailed(_) | Payload::RunCancelled(_) => progress.active = false,
            _ => {}
        }
    }
    progress
}

/// The facts as they are being gathered: first from the scope's events, then refined by the
/// incident's own view when there is one.
struct Found {
    started: DateTime<Utc>,
    status: &'static str,
    workstreams: Vec<Workstream>,
    providers: Vec<String>,
    steps_done: Vec<String>,
    data_loss: Option<String>,
    /// When the incident's RTO clocks run out, once a clock runs.
    clock_due: Option<DateTime<Utc>>,
    drill: bool,
}

impl Found {
    fn from_scope(mine: &[&Event], config: &Config, now: DateTime<Utc>) -> Found {
        let declared = mine.iter().find(|e| e.is(EventKind::IncidentDeclared));
        let started = declared.or_else(|| mine.first()).map_or(now, |e| e.at);
        let resolved = mine.iter().any(|e| e.is(EventKind::IncidentResolved));
        let drill = mine.iter().any(|e| e.is(EventKind::DrillMarked));
        let runs = fold_runs(mine);
        let workstreams = if runs.workstreams.is_empty() {
            alerted_workstreams(mine, config)
        } else {
            runs.workstreams
        };
        let providers = runbook_providers(&workstreams, config);
        let status = if resolved {
            "resolved"
        } else if runs.succeeded && !runs.active {
            "recovered"
        } else if runs.active || !runs.steps_done.is_empty() {
            "mitigating"
        } else {
            "investigating"
        };
        Found {
            started,
            status,
            workstreams,
            providers,
            steps_done: runs.steps_done,
            data_loss: runs.data_loss,
            clock_due: None,
            drill,
        }
    }

    /// The incident's own view and RTO clocks, so notices state what the clocks say: the
    /// outage began at the first signal, recovery is due when the clock's budget runs out.
    fn follow_incident_view(&mut self, events: &[Event], id: &IncidentId, config: &Config) {
        let scoped = crate::incident::incident_events(events, id);
        let view = crate::incident::view(&scoped, id);
        if let Some(signal) = &view.first_signal {
            self.started = self.started.min(signal.at);
            if let Some(p) = signal.provider.as_deref().and_then(|p| config.provider(p)) {
                let name = p.title.clone().unwrap_or_else(|| p.name.clone());
                if !self.providers.contains(&name) {
                    self.providers.push(name);
                }
                if !self.workstreams.contains(&p.workstream) {
                    self.workstreams.push(p.workstream);
                }
            }
        }
        let clocks = crate::incident::clocks(&view, &config.objectives);
        self.clock_due = clocks.iter().map(|c| c.at_percent(100)).max();
        if self.data_loss.is_none() {
            self.data_loss = view
                .achieved_rpo_secs
                .map(|secs| crate::duration::format_elapsed(std::time::Duration::from_secs(secs)));
        }
        self.drill |= view.drill;
        self.status = match view.phase {
            crate::incident::Phase::Declared => "investigating",
            crate::incident::Phase::Mitigating => "mitigating",
            crate::incident::Phase::Recovered => "recovered",
            crate::incident::Phase::Resolved | crate::incident::Phase::Reviewed => "resolved",
        };
    }

    /// When recovery is due: the running clock's end, or without one (no workstream named
    /// yet) the largest budget of the affected workstreams from the start.
    fn expected_recovery(&self, config: &Config) -> Option<DateTime<Utc>> {
        self.clock_due.or_else(|| {
            self.workstreams
                .iter()
                .filter_map(|ws| config.objectives.rto_for(*ws))
                .max_by_key(|d| d.get())
                .and_then(|rto| chrono::Duration::from_std(rto.get()).ok())
                .map(|d| self.started + d)
        })
    }
}

/// With no run yet: the workstreams of the providers the incident's alerts name.
fn alerted_workstreams(mine: &[&Event], config: &Config) -> Vec<Workstream> {
    let mut workstreams = Vec::new();
    for name in alerted_providers(mine) {
        if let Some(p) = config.provider(&name)
            && !workstreams.contains(&p.workstream)
        {
            workstreams.push(p.workstream);
        }
    }
    workstreams
}

/// The providers (by title) whose runbooks recover `workstreams`.
fn runbook_providers(workstreams: &[Workstream], config: &Config) -> Vec<String> {
    let mut providers: Vec<String> = Vec::new();
    for ws in workstreams {
        for p in config
            .providers
            .iter()
            .filter(|p| p.runbook.is_some() && p.workstream == *ws)
        {
            let name = p.title.clone().unwrap_or_else(|| p.name.clone());
            if !providers.contains(&name) {
                providers.push(name);
            }
        }
    }
    providers
}

/// `text` with the drill marker: kept if present, else put at the start of the subject (or
/// of the first line), so a drill's notice can never be mistaken for a real one.
pub fn mark_drill(text: &str) -> String {
    if text.contains(DRILL_MARKER) {
        return text.to_owned();
    }
    match text.strip_prefix("Subject:") {
        Some(rest) => format!("Subject: {DRILL_MARKER} {}", rest.trim_start()),
        None => format!("{DRILL_MARKER} {text}"),
    }
}

/// Providers named by alerts recorded in the scope (alerts carry the incident once declared
/// from them) or by the declaration itself.
fn alerted_providers(events: &[&Event]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for e in events {
        let provider = match e.payload() {
            Ok(Payload::IncidentDeclared(declared)) => declared.provider,
            Ok(Payload::AlertPosted(alert) | Payload::AlertUpdated(alert)) => Some(alert.provider),
            _ => None,
        };
        if let Some(p) = provider
            && !names.contains(&p)
        {
            names.push(p);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use crate::domain::event::NewEvent;
    use crate::toml_source::TomlSource;
    use serde_json::json;

    fn config() -> Config {
        Config::from_source(TomlSource::new(
            "t.toml",
            r#"
[objectives]
hosting_rto = "4h"
llm_rto = "2h"
rpo = "1h"

[[providers]]
name = "heroku"
title = "Heroku"
workstream = "hosting"
runbook = "failover-hosting"

[comms]
services = ["the web app", "the API"]

[vars]
company = "Example"
"#,
        ))
        .unwrap()
        .config
    }

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-11-25T10:{minute:02}:00Z"))
            .unwrap()
            .with_timezone(&Utc)
    }

    fn log(items: Vec<(u32, NewEvent)>) -> Vec<Event> {
        let mut prev = crate::domain::event::GENESIS.to_owned();
        items
            .into_iter()
            .enumerate()
            .map(|(i, (minute, new))| {
                let e = Event::seal(new, i as u64 + 1, at(minute), &prev);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn a_recorded_failover_gives_its_facts() {
        let inc = IncidentId("INC-1".into());
        let run = RunId("RUN-1".into());
        let events = log(vec![
            (
                0,
                NewEvent::new(
                    Actor::Bot,
                    "incident.declared",
                    json!({ "title": "Heroku down" }),
                )
                .incident(inc.clone()),
            ),
            (
                2,
                NewEvent::new(
                    Actor::Bot,
                    "run.started",
                    json!({ "workstream": "hosting" }),
                )
                .incident(inc.clone())
                .run(run.clone()),
            ),
            (
                3,
                NewEvent::new(
                    Actor::Bot,
                    "step.started",
                    json!({ "step": "restore", "title": "Restore the last backup" }),
                )
                .run(run.clone()),
            ),
            (
                5,
                NewEvent::new(
                    Actor::Bot,
                    "step.succeeded",
                    json!({ "step": "restore", "kind": "backup_check", "output": { "age_secs": 1500 } }),
                )
                .run(run.clone()),
            ),
            // Another incident's run does not leak in.
            (
                6,
                NewEvent::new(Actor::Bot, "step.succeeded", json!({ "step": "other" }))
                    .run(RunId("RUN-2".into())),
            ),
        ]);
        let scope = Scope {
            incident: Some(&inc),
            run: None,
        };
        let facts = gather(&events, &config(), &scope, "clients", at(10));
        assert_eq!(facts.started_at, "2026-11-25 10:00 UTC");
        assert_eq!(
            facts.expected_recovery.as_deref(),
            Some("2026-11-25 14:00 UTC")
        );
        assert_eq!(facts.data_loss_window.as_deref(), Some("25m 00s"));
        assert_eq!(facts.providers, ["Heroku"]);
        assert_eq!(facts.services, ["the web app", "the API"]);
        assert_eq!(facts.steps_done, ["Restore the last backup"]);
        assert_eq!(facts.status, "mitigating");
        assert_eq!(facts.company, "Example");
        assert!(!facts.drill);
        assert!(facts.values().contains(&"25m 00s".to_owned()));
        assert!(!facts.values().contains(&DRILL_MARKER.to_owned()));
    }

    #[test]
    fn the_data_loss_window_is_the_last_succeeded_backup_check_as_the_incident_view_says() {
        let inc = IncidentId("INC-4".into());
        let run = RunId("RUN-1".into());
        let check = |kind: &str, age: u64| {
            NewEvent::new(
                Actor::Bot,
                kind,
                json!({ "step": "check", "kind": "backup_check", "output": { "age_secs": age } }),
            )
            .incident(inc.clone())
            .run(run.clone())
        };
        let events = log(vec![
            (
                0,
                NewEvent::new(Actor::Bot, "incident.declared", json!({ "title": "t" }))
                    .incident(inc.clone()),
            ),
            (
                1,
                NewEvent::new(
                    Actor::Bot,
                    "run.started",
                    json!({ "workstream": "hosting" }),
                )
                .incident(inc.clone())
                .run(run.clone()),
            ),
            (2, check("step.succeeded", 600)),
            (3, check("step.succeeded", 900)),
            // A refused backup and another step's age are not the window.
            (4, check("step.failed", 7200)),
            (
                5,
                NewEvent::new(
                    Actor::Bot,
                    "step.succeeded",
                    json!({ "step": "other", "kind": "http", "output": { "age_secs": 5 } }),
                )
                .incident(inc.clone())
                .run(run.clone()),
            ),
        ]);
        let scope = Scope {
            incident: Some(&inc),
            run: None,
        };
        let facts = gather(&events, &config(), &scope, "clients", at(9));
        assert_eq!(facts.data_loss_window.as_deref(), Some("15m 00s"));
        let view = crate::incident::view(&crate::incident::incident_events(&events, &inc), &inc);
        assert_eq!(view.achieved_rpo_secs, Some(900));
    }

    #[test]
    fn a_drill_keeps_its_marker() {
        assert_eq!(
            mark_drill("Subject: Example: notice\n\nHi"),
            "Subject: [DRILL] Example: notice\n\nHi"
        );
        assert_eq!(mark_drill("We are back."), "[DRILL] We are back.");
        assert_eq!(mark_drill("Subject: [DRILL] x"), "Subject: [DRILL] x");
    }

    #[test]
    fn the_outage_starts_at_its_first_signal_like_the_rto_clock() {
        let inc = IncidentId("INC-3".into());
        let events = log(vec![
            (
                0,
                NewEvent::new(
                    Actor::Feed {
                        name: "heroku-status".into(),
                    },
                    "feed.outage",
                    json!({ "provider": "heroku", "to": "major_outage" }),
                ),
            ),
            (
                7,
                NewEvent::new(Actor::Bot, "incident.declared", json!({ "title": "t" }))
                    .incident(inc.clone()),
            ),
        ]);
        let scope = Scope {
            incident: Some(&inc),
            run: None,
        };
        let facts = gather(&events, &config(), &scope, "clients", at(9));
        assert_eq!(facts.started_at, "2026-11-25 10:00 UTC");
        assert_eq!(
            facts.expected_recovery.as_deref(),
            Some("2026-11-25 14:00 UTC")
        );
        assert_eq!(facts.providers, ["Heroku"]);
        assert_eq!(facts.status, "investigating");
    }

    #[test]
    fn before_any_run_the_incident_is_investigated() {
        let inc = IncidentId("INC-2".into());
        let events = log(vec![(
            1,
            NewEvent::new(
                Actor::Bot,
                "incident.declared",
                json!({ "title": "t", "provider": "heroku" }),
            )
            .incident(inc.clone()),
        )]);
        let scope = Scope {
            incident: Some(&inc),
            run: None,
        };
        let facts = gather(&events, &config(), &scope, "internal", at(9));
        assert_eq!(facts.status, "investigating");
        assert_eq!(facts.providers, ["Heroku"]);
        assert_eq!(
            facts.expected_recovery.as_deref(),
            Some("2026-11-25 14:01 UTC")
        );
        assert_eq!(facts.data_loss_window, None);
        // Every variable is a field, so templates and `check` agree.
        let value = serde_json::to_value(&facts).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = VARIABLES.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected);
    }
}
