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
    // The runs that belong to the scope: those started for the incident, and the given run.
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
    let mine: Vec<&Event> = events.iter().filter(relevant).collect();

    let declared = mine.iter().find(|e| e.is(EventKind::IncidentDeclared));
    let started = declared.or_else(|| mine.first()).map_or(now, |e| e.at);
    let resolved = mine.iter().any(|e| e.is(EventKind::IncidentResolved));
    let drill = mine.iter().any(|e| e.is(EventKind::DrillMarked));

    let mut workstreams: Vec<Workstream> = Vec::new();
    let mut titles: BTreeMap<(&RunId, String), String> = BTreeMap::new();
    let mut steps_done = Vec::new();
    let mut data_loss = None;
    let mut run_active = false;
    let mut run_succeeded = false;
    for e in &mine {
        let Some(run) = &e.run else { continue };
        let Ok(payload) = e.payload() else { continue };
        match payload {
            Payload::RunStarted(started) => {
                run_active = true;
                if let Some(ws) = started.workstream
                    && !workstreams.contains(&ws)
                {
                    workstreams.push(ws);
                }
            }
            Payload::StepStarted(step) => {
                titles.insert((run, step.step), step.title);
            }
            Payload::StepSucceeded(step) => {
                let title = titles.get(&(run, step.step.clone())).unwrap_or(&step.step);
                steps_done.push(title.clone());
                // The measured window, as `incident::view`'s achieved RPO reads it.
                if let Some(secs) = crate::incident::restored_backup_age_secs(
                    mine.iter().copied().filter(|m| m.seq <= e.seq),
                ) {
                    data_loss = Some(crate::duration::format_elapsed(
                        std::time::Duration::from_secs(secs),
                    ));
                }
            }
            Payload::RunSucceeded(_) => {
                run_active = false;
                run_succeeded = true;
            }
            Payload::RunFailed(_) | Payload::RunCancelled(_) => run_active = false,
            _ => {}
        }
    }
    if workstreams.is_empty() {
        // No run yet: the workstreams of the providers the incident's alerts name.
        for name in alerted_providers(&mine) {
            if let Some(p) = config.provider(&name)
                && !workstreams.contains(&p.workstream)
            {
                workstreams.push(p.workstream);
            }
        }
    }
    let mut providers: Vec<String> = Vec::new();
    for ws in &workstreams {
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
    let mut status = if resolved {
        "resolved"
    } else if run_succeeded && !run_active {
        "recovered"
    } else if run_active || !steps_done.is_empty() {
        "mitigating"
    } else {
        "investigating"
    };
    let mut started = started;
    let mut clock_due = None;
    let mut drill = drill;
    if let Some(id) = scope.incident {
        // The incident's own view and RTO clocks, so notices state what the clocks say: the
        // outage began at the first signal, recovery is due when the clock's budget runs out.
        let scoped = crate::incident::incident_events(events, id);
        let view = crate::incident::view(&scoped, id);
        if let Some(signal) = &view.first_signal {
            started = started.min(signal.at);
            if let Some(p) = signal.provider.as_deref().and_then(|p| config.provider(p)) {
                let name = p.title.clone().unwrap_or_else(|| p.name.clone());
                if !providers.contains(&name) {
                    providers.push(name);
                }
                if !workstreams.contains(&p.workstream) {
                    workstreams.push(p.workstream);
                }
            }
        }
        let clocks = crate::incident::clocks(&view, &config.objectives);
        clock_due = clocks.iter().map(|c| c.at_percent(100)).max();
        if data_loss.is_none() {
            data_loss = view
                .achieved_rpo_secs
                .map(|secs| crate::duration::format_elapsed(std::time::Duration::from_secs(secs)));
        }
        drill |= view.drill;
        status = match view.phase {
            crate::incident::Phase::Declared => "investigating",
            crate::incident::Phase::Mitigating => "mitigating",
            crate::incident::Phase::Recovered => "recovered",
            crate::incident::Phase::Resolved | crate::incident::Phase::Reviewed => "resolved",
        };
    }
    // Without a running clock (no workstream named yet), the budget of the affected
    // workstreams from the start.
    let expected = clock_due.or_else(|| {
        workstreams
            .iter()
            .filter_map(|ws| config.objectives.rto_for(*ws))
            .max_by_key(|d| d.get())
            .and_then(|rto| chrono::Duration::from_std(rto.get()).ok())
            .map(|d| started + d)
    });
    let expected_recovery = expected.map(|at| at.format(TIME_FORMAT).to_string());
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
        status: status.to_owned(),
        providers,
        services: config.comms.services.clone(),
        started_at: started.format(TIME_FORMAT).to_string(),
        steps_done,
        expected_recovery,
        data_loss_window: data_loss,
        now: now.format(TIME_FORMAT).to_string(),
        drill,
    }
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
