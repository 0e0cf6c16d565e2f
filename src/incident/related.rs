//! Which events belong to an incident: its own, its runs', and the involved providers' feed
//! and alert events, and the workstreams affected at a declaration.

use std::collections::{BTreeMap, BTreeSet};

use super::fold::title_is_drill;
use crate::domain::event::Event;
use crate::domain::{IncidentId, RunId, Workstream};
use crate::events::{EventKind, IncidentDeclared, Payload, RunRequested};
use crate::ports::store::{episode_mark, episode_starts};
// ---------------------------------------------------------------------------------------------
// Which events belong to an incident

/// The provider a `feed.*`, `vendor.*`, `alert.*` or `drill.outage_simulated` event is about.
pub(crate) fn provider_of(e: &Event) -> Option<String> {
    e.payload().ok()?.provider().map(str::to_owned)
}

/// The incident's events and the related ones that carry no incident id, in seq order:
/// - every event carrying the incident's id;
/// - every event of a run started for the incident (`run.started` with that incident id);
/// - the approval trail of the incident's run requests (`run.approval_counted`, `run.denied`,
///   `approval.refused` carry only the request id);
/// - the `feed.*`, `alert.*` and `vendor.*` events of the providers *involved*: a provider is
///   involved when it was unhealthy at the declaration (its latest settled signal before the
///   declaration was `feed.degraded`/`feed.outage`, or it had an alert posted and not yet
///   recovered). Its events are kept from the start of that bad episode (the first unhealthy
///   `feed.observed`, `feed.degraded`, `feed.outage` or `alert.posted` after its last recovery)
///   up to the incident's end (`incident.resolved`, or the end of the log while it is open);
/// - for a drill, the `drill.started` that opened it (the last one before the declaration) and
///   the `drill.outage_simulated` events logged between it and the declaration.
pub fn incident_events(all: &[Event], incident: &IncidentId) -> Vec<Event> {
    let mine = |e: &Event| e.incident.as_ref() == Some(incident);
    let runs: BTreeSet<&RunId> = all
        .iter()
        .filter(|e| e.is(EventKind::RunStarted) && mine(e))
        .filter_map(|e| e.run.as_ref())
        .collect();
    let requests: BTreeSet<String> = all
        .iter()
        .filter(|e| mine(e))
        .filter_map(Event::data_as::<RunRequested>)
        .map(|r| r.request)
        .filter(|r| !r.is_empty())
        .collect();
    let declared = all
        .iter()
        .find(|e| e.is(EventKind::IncidentDeclared) && mine(e));
    let declared_seq = declared.map_or(0, |e| e.seq);
    let end_seq = all
        .iter()
        .find(|e| e.is(EventKind::IncidentResolved) && mine(e))
        .map_or(u64::MAX, |e| e.seq);

    // Per provider, the seq where its current bad episode started, as of the declaration.
    let episode = episode_starts(
        all.iter()
            .filter(|e| e.seq < declared_seq)
            .filter_map(|e| episode_mark(e).map(|(provider, mark)| (e.seq, provider, mark))),
    );
    let drill = all.iter().any(|e| e.is(EventKind::DrillMarked) && mine(e))
        || declared
            .and_then(Event::data_as::<IncidentDeclared>)
            .is_some_and(|d| title_is_drill(&d.title));
    let drill_started = drill
        .then(|| {
            all.iter()
                .filter(|e| e.is(EventKind::DrillStarted) && e.seq < declared_seq)
                .map(|e| e.seq)
                .next_back()
        })
        .flatten();
    // The drill's simulated outages: logged between its start and the declaration.
    let outage_simulated = |e: &Event| {
        e.is(EventKind::DrillOutageSimulated)
            && drill_started.is_some_and(|start| e.seq > start && e.seq < declared_seq)
    };
    // An event of the approval trail of one of the incident's requests.
    let approval_trail = |e: &Event| {
        e.event_kind().is_some_and(EventKind::names_a_request)
            && e.payload()
                .ok()
                .and_then(|p| p.request().map(|r| requests.contains(r)))
                .unwrap_or(false)
    };

    let mut selected: Vec<Event> = all
        .iter()
        .filter(|e| {
            mine(e)
                || e.run.as_ref().is_some_and(|r| runs.contains(r))
                || (e.incident.is_none() && approval_trail(e))
                || (e.event_kind().is_some_and(EventKind::is_about_a_provider)
                    && e.seq <= end_seq
                    && provider_of(e)
                        .and_then(|p| episode.get(&p))
                        .is_some_and(|start| e.seq >= *start))
                || Some(e.seq) == drill_started
                || outage_simulated(e)
        })
        .cloned()
        .collect();
    selected.sort_by_key(|e| e.seq);
    selected
}

/// The affected workstreams for a declaration: the alert's provider's, else those of every
/// provider with an alert open (posted and not recovered).
pub fn affected_at_declaration(
    config: &crate::config::Config,
    events: &[Event],
    alert: Option<&str>,
) -> (BTreeSet<Workstream>, BTreeSet<String>) {
    let alerts: Vec<Payload> = events
        .iter()
        .filter(|e| e.event_kind().is_some_and(EventKind::is_about_a_provider))
        .filter_map(|e| e.payload().ok())
        .filter(|p| p.alert_id().is_some_and(|id| !id.is_empty()))
        .collect();
    let mut open: BTreeMap<String, String> = BTreeMap::new();
    for payload in &alerts {
        match payload {
            Payload::AlertPosted(posted) if !posted.provider.is_empty() => {
                open.insert(posted.provider.clone(), posted.alert_id.clone());
            }
            Payload::AlertRecovered(recovered) if !recovered.alert.provider.is_empty() => {
                open.remove(&recovered.alert.provider);
            }
            _ => {}
        }
    }
    let providers: BTreeSet<String> = match alert {
        Some(alert) => {
            let from_log = alerts
                .iter()
                .filter(|p| p.alert_id() == Some(alert))
                .find_map(|p| p.provider().filter(|p| !p.is_empty()).map(str::to_owned));
            // Alert ids are `<provider>-<timestamp>`: the prefix names the provider.
            from_log
                .or_else(|| alert.rsplit_once('-').map(|(p, _)| p.to_owned()))
                .into_iter()
                .collect()
        }
        None => open.into_keys().collect(),
    };
    let workstreams = providers
        .iter()
        .filter_map(|p| config.providers.iter().find(|c| &c.name == p))
        .map(|p| p.workstream)
        .collect();
    (workstreams, providers)
}

/// `affected_at_declaration`, with the log of timed events it was written with.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use crate::domain::event::NewEvent;
    use crate::domain::event::testing::Log;
    use chrono::{DateTime, Utc};
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn declarations_name_the_workstreams_of_alerted_providers() {
        let config = crate::config::Config::from_source(crate::toml_source::TomlSource::new(
            "t.toml",
            "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n\
             [[providers]]\nname = \"heroku\"\nworkstream = \"hosting\"\n\
             [[providers]]\nname = \"openai\"\nworkstream = \"llm\"\n",
        ))
        .unwrap()
        .config;
        let mut log = Log::default();
        log.at(
            t0(),
            NewEvent::new(
                Actor::Bot,
                "alert.posted",
                json!({"provider": "heroku", "alert_id": "heroku-1"}),
            ),
        )
        .at(
            t0(),
            NewEvent::new(
                Actor::Bot,
                "alert.posted",
                json!({"provider": "openai", "alert_id": "openai-2"}),
            ),
        )
        .at(
            t0(),
            NewEvent::new(
                Actor::Bot,
                "alert.recovered",
                json!({"provider": "openai", "alert_id": "openai-2"}),
            ),
        );
        let (ws, providers) = affected_at_declaration(&config, &log.0, None);
        assert_eq!(ws, BTreeSet::from([Workstream::Hosting]));
        assert_eq!(providers, BTreeSet::from(["heroku".to_owned()]));
        let (ws, _) = affected_at_declaration(&config, &log.0, Some("openai-2"));
        assert_eq!(ws, BTreeSet::from([Workstream::Llm]));
        let (ws, _) = affected_at_declaration(&config, &[], Some("openai-20261125083000"));
        assert_eq!(
            ws,
            BTreeSet::from([Workstream::Llm]),
            "the id's prefix names the provider"
        );
    }
}
