//! `/dr status`: the whole disaster-recovery picture in one reply (providers' levels, open
//! incidents with their clocks, runs, the RPO watch), built from the log. Pure.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::domain::event::Event;
use crate::events::{EventKind, Payload};
use crate::incident::{self, IncidentView, StepHistory};
use crate::reminders::{RpoState, rpo_state};
use crate::runbook::Runbook;
use crate::runbook::state::{self, RunView};

/// Each provider's level as its feeds last reported it (settled or observed), by provider.
pub fn provider_levels(events: &[Event]) -> BTreeMap<String, (String, DateTime<Utc>)> {
    let mut levels = BTreeMap::new();
    for e in events {
        if !matches!(
            e.event_kind(),
            Some(
                EventKind::FeedObserved
                    | EventKind::FeedDegraded
                    | EventKind::FeedOutage
                    | EventKind::FeedRecovered
                    | EventKind::FeedMaintenance
            )
        ) {
            continue;
        }
        let (provider, to) = match e.payload() {
            Ok(Payload::FeedObserved(observed)) => (observed.provider, observed.to),
            Ok(
                Payload::FeedDegraded(settled)
                | Payload::FeedOutage(settled)
                | Payload::FeedRecovered(settled)
                | Payload::FeedMaintenance(settled),
            ) => (settled.provider, settled.to),
            _ => continue,
        };
        if let Some(level) = to
            && !provider.is_empty()
        {
            levels.insert(provider, (level.as_str().to_owned(), e.at));
        }
    }
    levels
}

/// What `/dr status` shows, read from the log: providers' levels, the open incidents, recent
/// step durations for their forecasts, the runs not finished, the RPO watch's state.
#[derive(Debug, Clone, Default)]
pub struct Picture {
    pub levels: BTreeMap<String, (String, DateTime<Utc>)>,
    pub open: Vec<IncidentView>,
    pub history: StepHistory,
    /// Runs started and not finished, in order of start.
    pub running: Vec<RunView>,
    pub rpo: RpoState,
}

impl Picture {
    /// The picture folded from a whole log (the bot reads it through the store's indexes:
    /// `crate::views::dr_picture`).
    pub fn of_log(events: &[Event]) -> Self {
        let runs = state::fold(events);
        Self {
            levels: provider_levels(events),
            open: incident::open(events),
            history: StepHistory::from_runs(&runs),
            running: runs
                .into_iter()
                .filter(|r| !r.status.is_terminal())
                .collect(),
            rpo: rpo_state(events),
        }
    }
}

/// The whole disaster-recovery picture: providers, open incidents with their clocks, runs,
/// and the RPO watch.
pub fn dr_status(
    config: &crate::config::Config,
    runbooks: &[Runbook],
    events: &[Event],
    now: DateTime<Utc>,
) -> String {
    render(config, runbooks, &Picture::of_log(events), now)
}

/// `/dr status`'s text of a picture.
pub fn render(
    config: &crate::config::Config,
    runbooks: &[Runbook],
    picture: &Picture,
    now: DateTime<Utc>,
) -> String {
    let mut out = String::from("providers:\n");
    let levels = &picture.levels;
    let mut names: BTreeSet<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
    names.extend(levels.keys().map(String::as_str));
    for name in names {
        let ws = config
            .providers
            .iter()
            .find(|p| p.name == name)
            .map(|p| format!(" ({})", p.workstream))
            .unwrap_or_default();
        match levels.get(name) {
            Some((level, at)) => out.push_str(&format!(
                "  {name}{ws}: {level} since {}\n",
                at.format("%Y-%m-%d %H:%M UTC")
            )),
            None => out.push_str(&format!("  {name}{ws}: no reading yet\n")),
        }
    }
    let open = &picture.open;
    if open.is_empty() {
        out.push_str("incidents: none open\n");
    }
    for inc in open {
        out.push_str("incident ");
        out.push_str(&incident::status_text(
            inc,
            config,
            runbooks,
            &picture.history,
            now,
        ));
    }
    let running: Vec<String> = picture
        .running
        .iter()
        .filter(|r| !r.status.is_terminal())
        .filter(|r| !open.iter().any(|i| i.runs.iter().any(|ir| ir.run == r.run)))
        .map(|r| {
            format!(
                "run {} ({}): {}",
                r.run,
                r.runbook,
                incident::run_state(&r.status)
            )
        })
        .collect();
    for line in running {
        out.push_str(&line);
        out.push('\n');
    }
    match picture.rpo {
        RpoState::Breached => {
            out.push_str("RPO watch: BREACHED (latest backup older than the RPO)\n")
        }
        RpoState::Unreadable => out.push_str("RPO watch: backup age unreadable\n"),
        RpoState::Ok if config.schedule.rpo_watch_every.is_some() => {
            out.push_str("RPO watch: within the RPO\n");
        }
        RpoState::Ok => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use crate::domain::event::NewEvent;
    use crate::domain::event::testing::Log;
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn days(d: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::days(d)
    }

    #[test]
    fn provider_levels_follow_the_latest_feed_event() {
        let mut log = Log::default();
        log.at(
            t0(),
            NewEvent::new(
                Actor::Bot,
                "feed.observed",
                json!({"provider": "heroku", "to": "degraded"}),
            ),
        )
        .at(
            days(1),
            NewEvent::new(
                Actor::Bot,
                "feed.recovered",
                json!({"provider": "heroku", "to": "operational"}),
            ),
        );
        assert_eq!(
            provider_levels(&log.0)["heroku"],
            ("operational".to_owned(), days(1))
        );
    }

    #[test]
    fn dr_status_shows_levels_incidents_clocks_runs_and_the_rpo_watch() {
        let config = crate::config::Config::from_source(crate::toml_source::TomlSource::new(
            "t.toml",
            "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n\
             [schedule]\nrpo_watch_every = \"15m\"\n\
             [[providers]]\nname = \"heroku\"\nworkstream = \"hosting\"\n\
             [[providers]]\nname = \"openai\"\nworkstream = \"llm\"\n",
        ))
        .unwrap()
        .config;
        let minutes = |m: i64| t0() + chrono::Duration::minutes(m);
        let inc = crate::domain::IncidentId::from("INC-1");
        let run = |id: &str, runbook: &str, ws: &str| {
            NewEvent::new(
                Actor::Bot,
                "run.started",
                json!({"runbook": runbook, "title": runbook, "workstream": ws, "file_hash": "h", "params": {}, "steps": ["a", "b"]}),
            )
            .run(crate::domain::RunId::from(id))
        };
        let mut log = Log::default();
        log.at(
            t0(),
            NewEvent::new(
                Actor::Feed {
                    name: "heroku-status".into(),
                },
                "feed.outage",
                json!({"provider": "heroku", "to": "major_outage"}),
            ),
        )
        .at(
            minutes(1),
            NewEvent::new(
                Actor::Bot,
                "incident.declared",
                json!({"title": "Heroku down", "severity": "sev1", "commander": "carol", "workstreams": ["hosting"]}),
            )
            .incident(inc.clone()),
        )
        .at(
            minutes(2),
            run("RUN-1", "failover-hosting", "hosting").incident(inc.clone()),
        )
        .at(minutes(3), run("RUN-2", "restore-data", "data"));

        // No RPO reading yet: the watch is configured, so it says all is well.
        let text = dr_status(&config, &[], &log.0, minutes(60));
        assert!(
            text.starts_with(
                "providers:\n  heroku (hosting): major_outage since 2026-01-01 00:00 UTC\n  openai (llm): no reading yet\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("incident INC-1: Heroku down — mitigating, sev1, commander carol\n"),
            "{text}"
        );
        assert!(text.contains("workstreams: hosting\n"), "{text}");
        assert!(
            text.contains("run RUN-1 (failover-hosting): running\n"),
            "{text}"
        );
        // The hosting clock runs from the first signal: 1 h of a 4 h budget.
        assert!(
            text.contains("clock hosting: 1h 00m / 4h 00m (25%)"),
            "{text}"
        );
        // A run for no open incident is listed on its own, once.
        assert!(
            text.contains("\nrun RUN-2 (restore-data): running\n"),
            "{text}"
        );
        assert_eq!(text.matches("RUN-1").count(), 1, "{text}");
        assert!(text.ends_with("RPO watch: within the RPO\n"), "{text}");
        assert!(!text.contains("incidents: none open"));

        log.at(
            minutes(61),
            NewEvent::new(Actor::Scheduler, "rpo.breached", json!({"age_secs": 7200})),
        );
        let text = dr_status(&config, &[], &log.0, minutes(120));
        assert!(
            text.contains("clock hosting: 2h 00m / 4h 00m (50%)"),
            "{text}"
        );
        assert!(
            text.ends_with("RPO watch: BREACHED (latest backup older than the RPO)\n"),
            "{text}"
        );
        log.at(
            minutes(62),
            NewEvent::new(Actor::Scheduler, "rpo.unreadable", json!({})),
        );
        let text = dr_status(&config, &[], &log.0, minutes(120));
        assert!(
            text.ends_with("RPO watch: backup age unreadable\n"),
            "{text}"
        );

        // Without a watch configured and nothing open: no RPO line, no incident.
        let quiet = crate::config::Config::from_source(crate::toml_source::TomlSource::new(
            "t.toml",
            "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n",
        ))
        .unwrap()
        .config;
        let text = dr_status(&quiet, &[], &[], t0());
        assert_eq!(text, "providers:\nincidents: none open\n");
    }
}
