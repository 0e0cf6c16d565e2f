//! What the command paths read from the log, through the store's narrow queries (by
//! incident, by run, by kind, by provider, the newest of some kinds) and never the whole log:
//! an incident's history, the open incidents and runs, the providers' levels, the RPO watch's
//! state and the recent step durations. Their cost follows what they show, not the log's
//! length. Each answer equals what the pure folds find in the whole log (tested below).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::domain::IncidentId;
use crate::domain::event::Event;
use crate::events::{EventKind, IncidentDeclared, RunStarted};
use crate::incident::{self, IncidentView, StepHistory};
use crate::ports::store::{EventStore, StoreError};
use crate::reminders::RpoState;
use crate::runbook::Runbook;
use crate::runbook::state::{self, RunView};

/// The events [`incident::incident_events`] selects for `id` from the whole log, read through
/// the indexes: the incident's own, its runs', the approval trail of its requests, the
/// involved providers' events from the start of their bad episode, and a drill's start and
/// simulated outages.
pub fn incident_log(store: &dyn EventStore, id: &IncidentId) -> Result<Vec<Event>, StoreError> {
    let mine = store.by_incident(id)?;
    let declared = mine.iter().find(|e| e.is(EventKind::IncidentDeclared));
    let declared_seq = declared.map_or(0, |e| e.seq);
    let end_seq = mine
        .iter()
        .find(|e| e.is(EventKind::IncidentResolved))
        .map_or(u64::MAX, |e| e.seq);
    let drill = mine.iter().any(|e| e.is(EventKind::DrillMarked))
        || declared
            .and_then(Event::data_as::<IncidentDeclared>)
            .is_some_and(|d| incident::title_is_drill(&d.title));
    let mut selected: BTreeMap<u64, Event> = BTreeMap::new();
    for run in mine
        .iter()
        .filter(|e| e.is(EventKind::RunStarted))
        .filter_map(|e| e.run.as_ref())
        .collect::<BTreeSet<_>>()
    {
        selected.extend(store.by_run(run)?.into_iter().map(|e| (e.seq, e)));
    }
    // The approval trail of its requests: the events naming one of them without the
    // incident's id, from the first request on.
    let requested: Vec<(u64, String)> = mine
        .iter()
        .filter_map(|e| Some((e.seq, e.data_as::<crate::events::RunRequested>()?.request)))
        .filter(|(_, r)| !r.is_empty())
        .collect();
    if let Some(first) = requested.iter().map(|(seq, _)| *seq).min() {
        let requests: BTreeSet<&str> = requested.iter().map(|(_, r)| r.as_str()).collect();
        let kinds = names_a_request();
        for e in store.kinds_in(&kinds, first..=u64::MAX)? {
            let names_one = e
                .payload()
                .ok()
                .and_then(|p| p.request().map(|r| requests.contains(r)))
                .unwrap_or(false);
            if e.incident.is_none() && names_one {
                selected.insert(e.seq, e);
            }
        }
    }
    if declared_seq > 0 {
        for provider in store.providers()? {
            if let Some(start) = store.episode_start(&provider, declared_seq)? {
                let events = store.by_provider(&provider, start..=end_seq)?;
                selected.extend(events.into_iter().map(|e| (e.seq, e)));
            }
        }
    }
    if drill {
        let started = store
            .recent_of_kinds(&[EventKind::DrillStarted.as_str()], declared_seq, 1)?
            .pop();
        if let Some(started) = started {
            let between = (started.seq + 1)..=declared_seq.saturating_sub(1);
            let simulated = EventKind::DrillOutageSimulated.as_str();
            for e in store.kinds_in(&[simulated], between)? {
                selected.insert(e.seq, e);
            }
            selected.insert(started.seq, started);
        }
    }
    selected.extend(mine.into_iter().map(|e| (e.seq, e)));
    Ok(selected.into_values().collect())
}

fn names_a_request() -> Vec<&'static str> {
    EventKind::ALL
        .iter()
        .filter(|k| k.names_a_request())
        .map(|k| k.as_str())
        .collect()
}

/// The incidents declared and not resolved, oldest first, each folded from its own history.
pub fn open_incidents(store: &dyn EventStore) -> Result<Vec<IncidentView>, StoreError> {
    store
        .open_incidents()?
        .into_iter()
        .map(|id| Ok(incident::view(&incident_log(store, &id)?, &id)))
        .collect()
}

/// The runs started and not finished (paused ones included), oldest first.
pub fn open_runs(store: &dyn EventStore) -> Result<Vec<RunView>, StoreError> {
    let mut runs = Vec::new();
    for run in store.open_runs()? {
        runs.extend(state::fold(&store.by_run(&run)?));
    }
    Ok(runs)
}

/// How many of the newest runs the step history looks through at most: "recent" durations
/// come from them, so the history's cost does not grow with the log.
pub const HISTORY_RUNS: usize = 100;

/// Recent step durations of `runbooks` (the ones a forecast needs), from the newest runs:
/// it stops once each of their steps has as many durations as a forecast averages, or after
/// [`HISTORY_RUNS`] runs.
pub fn step_history(
    store: &dyn EventStore,
    runbooks: &[&Runbook],
) -> Result<StepHistory, StoreError> {
    let names: BTreeSet<&str> = runbooks.iter().map(|r| r.name.as_str()).collect();
    let mut runs: Vec<RunView> = Vec::new();
    let mut before = u64::MAX;
    let mut looked = 0;
    if names.is_empty() {
        return Ok(StepHistory::default());
    }
    'pages: while looked < HISTORY_RUNS {
        let page = store.recent_of_kinds(&[EventKind::RunStarted.as_str()], before, 20)?;
        let Some(last) = page.last() else { break };
        before = last.seq;
        for started in page {
            looked += 1;
            let of_interest = started
                .data_as::<RunStarted>()
                .is_some_and(|s| names.contains(s.runbook.as_str()));
            if let (true, Some(run)) = (of_interest, &started.run) {
                runs.extend(state::fold(&store.by_run(run)?));
                let history = StepHistory::from_runs(&runs);
                if runbooks.iter().all(|rb| {
                    rb.steps.iter().all(|s| {
                        history
                            .recent(&rb.name, &s.id)
                            .is_some_and(|(_, n)| n >= incident::RECENT)
                    })
                }) {
                    break 'pages;
                }
            }
            if looked >= HISTORY_RUNS {
                break 'pages;
            }
        }
    }
    runs.reverse();
    Ok(StepHistory::from_runs(&runs))
}

/// The runbooks the forecasts of these incidents' clocks measure against.
pub fn forecast_runbooks<'a>(
    open: &[IncidentView],
    config: &crate::config::Config,
    runbooks: &'a [Runbook],
) -> Vec<&'a Runbook> {
    let mut needed: Vec<&Runbook> = Vec::new();
    for inc in open {
        for clock in incident::clocks(inc, &config.objectives) {
            if let Some(rb) = incident::runbook_for(inc, clock.workstream, config, runbooks)
                && !needed.iter().any(|n| n.name == rb.name)
            {
                needed.push(rb);
            }
        }
    }
    needed
}

/// Each provider's level as its feeds last reported it, by provider (see
/// [`crate::status::provider_levels`]).
pub fn provider_levels(
    store: &dyn EventStore,
) -> Result<BTreeMap<String, (String, DateTime<Utc>)>, StoreError> {
    let mut levels = BTreeMap::new();
    for provider in store.providers()? {
        let mut before = u64::MAX;
        'pages: loop {
            let page = store.recent_of_provider(&provider, before, 16)?;
            let Some(last) = page.last() else { break };
            before = last.seq;
            for e in &page {
                // The newest level-bearing feed event wins, as in the fold over the log.
                if let Some(level) =
                    crate::status::provider_levels(std::slice::from_ref(e)).remove(&provider)
                {
                    levels.insert(provider.clone(), level);
                    break 'pages;
                }
            }
        }
    }
    Ok(levels)
}

/// The RPO watch's state: its newest event says it.
pub fn rpo_state(store: &dyn EventStore) -> Result<RpoState, StoreError> {
    let kinds = [
        EventKind::RpoBreached,
        EventKind::RpoRecovered,
        EventKind::RpoReadable,
        EventKind::RpoUnreadable,
    ]
    .map(EventKind::as_str);
    Ok(crate::reminders::rpo_state(&store.recent_of_kinds(
        &kinds,
        u64::MAX,
        1,
    )?))
}

/// `/dr status`'s picture, read through the indexes.
pub fn dr_picture(
    store: &dyn EventStore,
    config: &crate::config::Config,
    runbooks: &[Runbook],
) -> Result<crate::status::Picture, StoreError> {
    let open = open_incidents(store)?;
    let history = step_history(store, &forecast_runbooks(&open, config, runbooks))?;
    Ok(crate::status::Picture {
        levels: provider_levels(store)?,
        open,
        history,
        running: open_runs(store)?,
        rpo: rpo_state(store)?,
    })
}
