//! What the command paths read from the log, through the store's narrow queries (by
//! incident, by run, by kind, by provider, the newest of some kinds) and never the whole log:
//! an incident's history, the open incidents and runs, the providers' levels, the RPO watch's
//! state and the recent step durations. Their cost follows what they show, not the log's
//! length. Each answer equals what the pure folds find in the whole log (tested below).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::domain::event::Event;
use crate::domain::{Actor, IncidentId, RunId};
use crate::events::{EventKind, IncidentDeclared, Payload, RunApproved, RunRequested, RunStarted};
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
        .filter_map(|e| Some((e.seq, e.data_as::<RunRequested>()?.request)))
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

/// How many of the newest runs the step history looks at (their starts), and how many of
/// those of the runbooks it needs it reads in full, at most: "recent" durations come from
/// them, so the history's cost does not grow with the log (a step that never runs, e.g. one
/// skipped by a condition, would otherwise send it through every run on record).
pub const HISTORY_STARTS: usize = 100;
pub const HISTORY_RUNS: usize = 20;

/// Recent step durations of `runbooks` (the ones a forecast needs), from the newest runs:
/// it stops once each of their steps has as many durations as a forecast averages, or after
/// [`HISTORY_RUNS`] of their runs or [`HISTORY_STARTS`] runs of any runbook.
pub fn step_history(
    store: &dyn EventStore,
    runbooks: &[&Runbook],
) -> Result<StepHistory, StoreError> {
    let names: BTreeSet<&str> = runbooks.iter().map(|r| r.name.as_str()).collect();
    if names.is_empty() {
        return Ok(StepHistory::default());
    }
    let complete = |runs: &[RunView]| {
        let history = StepHistory::from_runs(runs);
        runbooks.iter().all(|rb| {
            rb.steps.iter().all(|s| {
                history
                    .recent(&rb.name, &s.id)
                    .is_some_and(|(_, n)| n >= incident::RECENT)
            })
        })
    };
    let mut runs: Vec<RunView> = Vec::new();
    let mut before = u64::MAX;
    let mut looked = 0;
    'pages: while looked < HISTORY_STARTS && runs.len() < HISTORY_RUNS {
        let page = store.recent_of_kinds(&[EventKind::RunStarted.as_str()], before, 20)?;
        let Some(last) = page.last() else { break };
        before = last.seq;
        for started in page {
            looked += 1;
            let needed = started
                .data_as::<RunStarted>()
                .is_some_and(|s| names.contains(s.runbook.as_str()));
            if let (true, Some(run)) = (needed, &started.run) {
                runs.extend(state::fold(&store.by_run(run)?));
                if complete(&runs) {
                    break 'pages;
                }
            }
            if looked >= HISTORY_STARTS || runs.len() >= HISTORY_RUNS {
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

/// The id of the person who requested `run`: the request its approval named (the approval is
/// filed under the run), then that request, read back from the approval.
pub fn requester_of(store: &dyn EventStore, run: &RunId) -> Result<Option<String>, StoreError> {
    let approved = |e: &Event| match e.payload() {
        Ok(Payload::RunApproved(RunApproved {
            request,
            run: Some(r),
            ..
        })) if &r == run => Some((e.seq, request)),
        _ => None,
    };
    let found = match store.by_run(run)?.iter().find_map(approved) {
        Some(found) => Some(found),
        // Logs from before approvals were filed under their run.
        None => store
            .by_kinds(&[EventKind::RunApproved.as_str()])?
            .iter()
            .find_map(approved),
    };
    let Some((approved_at, request)) = found else {
        return Ok(None);
    };
    let mut before = approved_at;
    loop {
        let page = store.recent_of_kinds(&[EventKind::RunRequested.as_str()], before, 32)?;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        before = last.seq;
        for e in &page {
            if let Some(RunRequested {
                request: r, detail, ..
            }) = e.data_as::<RunRequested>()
                && r == request
            {
                return Ok(Some(match (detail, &e.actor) {
                    (Some(detail), _) => detail.requester.id,
                    (None, Actor::User { id, .. }) => id.clone(),
                    (None, other) => other.to_string(),
                }));
            }
        }
    }
}

/// The provider events that say which alerts are open (a declaration's affected providers,
/// `incident::affected_at_declaration`; the watcher's restart): per provider, everything from
/// its newest alert posted or recovered on; and for a named alert, its provider's events from
/// that alert's posting on (its provider and latest level).
pub fn alert_events(store: &dyn EventStore, alert: Option<&str>) -> Result<Vec<Event>, StoreError> {
    let opens_or_closes = |e: &Event| {
        matches!(
            e.payload(),
            Ok(Payload::AlertPosted(_) | Payload::AlertRecovered(_))
        ) && e
            .payload()
            .ok()
            .and_then(|p| p.alert_id().map(|id| !id.is_empty()))
            .unwrap_or(false)
    };
    let posts = |e: &Event, alert: &str| matches!(e.payload(), Ok(Payload::AlertPosted(p)) if p.alert_id == alert);
    let mut selected: BTreeMap<u64, Event> = BTreeMap::new();
    let named = alert.and_then(|a| a.rsplit_once('-').map(|(p, _)| (a, p.to_owned())));
    for provider in store.providers()? {
        let mut before = u64::MAX;
        let mut latest_seen = false;
        let named_here = named.as_ref().filter(|(_, p)| *p == provider);
        let mut named_seen = named_here.is_none();
        'pages: while !(latest_seen && named_seen) {
            let page = store.recent_of_provider(&provider, before, 64)?;
            let Some(last) = page.last() else { break };
            before = last.seq;
            for e in page {
                latest_seen |= opens_or_closes(&e);
                named_seen |= named_here.is_some_and(|(a, _)| posts(&e, a));
                selected.insert(e.seq, e);
                if latest_seen && named_seen {
                    break 'pages;
                }
            }
        }
    }
    Ok(selected.into_values().collect())
}

/// The latest resolved incident not yet reviewed (`incident::awaiting_review`), found in the
/// kind index without reading events; only that incident is read.
pub fn awaiting_review(store: &dyn EventStore) -> Result<Option<IncidentView>, StoreError> {
    let kinds = [
        EventKind::IncidentDeclared,
        EventKind::IncidentResolved,
        EventKind::IncidentReviewed,
    ]
    .map(EventKind::as_str);
    // Per incident, in order of declaration: its first resolution and first review.
    let mut order: Vec<IncidentId> = Vec::new();
    let mut marks: BTreeMap<IncidentId, (Option<u64>, Option<u64>)> = BTreeMap::new();
    for filed in store.filed(&kinds)? {
        let Some(id) = filed.incident else { continue };
        let slot = marks.entry(id.clone()).or_default();
        match filed.kind.as_str() {
            k if k == kinds[0] => {
                if !order.contains(&id) {
                    order.push(id);
                }
            }
            k if k == kinds[1] => {
                slot.0.get_or_insert(filed.seq);
            }
            _ => {
                slot.1.get_or_insert(filed.seq);
            }
        }
    }
    let waiting = order.into_iter().rev().find(|id| {
        matches!(marks.get(id), Some((Some(resolved), reviewed))
            if reviewed.is_none_or(|r| r <= *resolved))
    });
    waiting
        .map(|id| Ok(incident::view(&incident_log(store, &id)?, &id)))
        .transpose()
}

/// The events of these kinds, for folds that read only them (drafts, drills, reminders).
pub fn of_kinds(store: &dyn EventStore, kinds: &[EventKind]) -> Result<Vec<Event>, StoreError> {
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    store.by_kinds(&kinds)
}
