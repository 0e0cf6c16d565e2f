//! Training: who has practised the protocols. A game day's log says who declared, requested,
//! approved, confirmed and approved the client draft; [`records_of`] turns it into
//! `training.recorded` events (one per person and role), which the game day appends to its own
//! log. [`standing`] lists the people holding a role with their last game day and what
//! `[schedule] training_every` makes of it (readiness's line); [`reminder`] reminds the people
//! due. Pure: the logs are read by `crate::store::drill_logs`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::domain::check::Check;
use crate::domain::event::Event;
use crate::domain::{Actor, Scenario};
use crate::events::{
    CommsApproved, CommsEdited, DrillRequested, DrillStarted, EventKind, IncidentDeclared, Payload,
    RunApprovalCounted, RunBreakGlassAcknowledged, RunRequested, StepFailed, StepSucceeded,
    TrainingRecorded, TrainingRole,
};
use crate::runbook::StepKind;

pub mod reminder;
pub mod standing;

pub use standing::{
    Holder, Member, Recorded, Standing, State, people, readiness_check, recorded, render, standings,
};

/// What the chat said about its members: read, not connected (no Discord, the console), or
/// could not be read (then the roster and the records stand in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembersRead {
    Read(Vec<Member>),
    NotConnected,
    Failed(String),
}

impl MembersRead {
    fn members(&self) -> Option<&[Member]> {
        match self {
            MembersRead::Read(members) => Some(members),
            _ => None,
        }
    }

    /// Where the listed people came from, for the listing's last line.
    fn sources(&self, config: &Config) -> String {
        let roster = config.access.roster.len();
        let chat = match self {
            MembersRead::Read(members) => format!(
                "the Discord members holding an [access] role ({} members read)",
                members.len()
            ),
            MembersRead::NotConnected => "Discord not connected".to_owned(),
            MembersRead::Failed(why) => format!("Discord's members could not be read ({why})"),
        };
        format!("{chat}; [[access.roster]] ({roster}); the training records of the game days")
    }
}

/// Everyone's standing at `now` from the config, the chat's members and every
/// `training.recorded` in `events`.
pub fn assess(
    config: &Config,
    members: &MembersRead,
    events: &[Event],
    now: DateTime<Utc>,
) -> Vec<Standing> {
    let records = recorded(events);
    let people = people(&config.access, members.members(), &records);
    let every = config.schedule.training_every.map(|e| e.get());
    standings(people, &records, now, every)
}

/// The listing of `lifeboat training` and `/dr training`.
pub fn listing(
    config: &Config,
    members: &MembersRead,
    events: &[Event],
    now: DateTime<Utc>,
) -> String {
    let every = config.schedule.training_every.map(|e| e.get());
    render(
        &assess(config, members, events, now),
        every,
        now,
        &members.sources(config),
    )
}

/// Readiness's `training` line; `None` without `[schedule] training_every`.
pub fn check(
    config: &Config,
    members: &MembersRead,
    events: &[Event],
    now: DateTime<Utc>,
) -> Option<Check> {
    let every = config.schedule.training_every.map(|e| e.get())?;
    readiness_check(&assess(config, members, events, now), Some(every), now)
}

#[cfg(test)]
mod tests;

/// Who took part in the game day whose log is `game_day_events`, in which role: one record
/// per person and role, in the order they first acted. Declaring makes a responder (and the
/// commander the declaration names, the declarer by default, a commander); requesting a run
/// or answering a `confirm` step, a responder; approving a run (or acknowledging a
/// break-glass run), an approver; approving or editing a client draft, a communicator. The
/// simulated people of automatic drills ("alice (drill)") never count.
pub fn records_of(game_day_events: &[Event]) -> Vec<TrainingRecorded> {
    let incident = drill_incident(game_day_events);
    let scenario = scenario_of(game_day_events);
    let ids = ids_by_name(game_day_events);
    let mut seen = BTreeSet::new();
    let mut records = Vec::new();
    for event in game_day_events {
        for (person, role) in parts_in(event, &ids) {
            if is_simulated(&person) {
                continue;
            }
            let key = (
                person.id.clone().unwrap_or_else(|| person.name.clone()),
                role,
            );
            if seen.insert(key) {
                records.push(TrainingRecorded {
                    incident: incident.clone(),
                    scenario: scenario.clone(),
                    person_id: person.id,
                    person_name: person.name,
                    role,
                });
            }
        }
    }
    records
}

/// A person as a game day's log names them: by user id and name, or (a `confirm` answer, a
/// commander named in a declaration) by name alone when they did nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    id: Option<String>,
    name: String,
}

/// The simulated people of automatic drills (`crate::drill::person`): id `drill-…`, name
/// `… (drill)`.
fn is_simulated(person: &Named) -> bool {
    person.name.ends_with("(drill)")
        || person
            .id
            .as_deref()
            .is_some_and(|id| id.starts_with("drill-"))
}

fn user(actor: &Actor) -> Option<Named> {
    match actor {
        Actor::User { id, name } => Some(Named {
            id: Some(id.clone()),
            name: name.clone(),
        }),
        _ => None,
    }
}

fn by_name(name: &str, ids: &BTreeMap<String, String>) -> Option<Named> {
    let name = name.trim();
    (!name.is_empty()).then(|| Named {
        id: ids.get(name).cloned(),
        name: name.to_owned(),
    })
}

/// The parts the person behind `event` played.
fn parts_in(event: &Event, ids: &BTreeMap<String, String>) -> Vec<(Named, TrainingRole)> {
    use TrainingRole::*;
    let actor = user(&event.actor);
    let Ok(payload) = event.payload() else {
        return Vec::new();
    };
    let mut parts = Vec::new();
    match payload {
        Payload::IncidentDeclared(IncidentDeclared { commander, .. }) => {
            if let Some(declarer) = actor {
                let commander = match commander.as_deref() {
                    Some(name) if name.trim() != declarer.name => by_name(name, ids),
                    _ => Some(declarer.clone()),
                };
                parts.push((declarer, Responder));
                parts.extend(commander.map(|c| (c, Commander)));
            }
        }
        Payload::RunRequested(RunRequested { detail, .. }) => {
            let requester = detail.map(|d| Named {
                id: Some(d.requester.id),
                name: d.requester.name,
            });
            parts.extend(requester.or(actor).map(|p| (p, Responder)));
        }
        Payload::RunApprovalCounted(RunApprovalCounted { by, .. })
        | Payload::RunBreakGlassAcknowledged(RunBreakGlassAcknowledged { by, .. }) => {
            let approver = by.map(|p| Named {
                id: Some(p.id),
                name: p.name,
            });
            parts.extend(approver.or(actor).map(|p| (p, Approver)));
        }
        Payload::StepSucceeded(StepSucceeded { kind, output, .. })
        | Payload::StepFailed(StepFailed { kind, output, .. })
            if kind == Some(StepKind::Confirm) =>
        {
            // The step records the answerer's name (`by`); a rejection counts as practice too.
            let by = output
                .get("by")
                .and_then(|b| b.as_str())
                .unwrap_or_default();
            parts.extend(by_name(by, ids).or(actor).map(|p| (p, Responder)));
        }
        Payload::CommsApproved(CommsApproved { .. }) | Payload::CommsEdited(CommsEdited { .. }) => {
            parts.extend(actor.map(|p| (p, Communicator)));
        }
        _ => {}
    }
    parts
}

/// Every person's id by name, from the events people wrote and the people they name.
fn ids_by_name(events: &[Event]) -> BTreeMap<String, String> {
    let mut ids = BTreeMap::new();
    for event in events {
        if let Some(Named { id: Some(id), name }) = user(&event.actor) {
            ids.entry(name).or_insert(id);
        }
        let named = match event.payload() {
            Ok(Payload::RunApprovalCounted(p)) => p.by,
            Ok(Payload::RunBreakGlassAcknowledged(p)) => p.by,
            Ok(Payload::RunRequested(p)) => p.detail.map(|d| d.requester),
            _ => None,
        };
        if let Some(person) = named {
            ids.entry(person.name).or_insert(person.id);
        }
    }
    ids
}

/// The drill's incident: the one marked as a drill, else the first declared.
fn drill_incident(events: &[Event]) -> Option<String> {
    let of = |kind: EventKind| {
        events
            .iter()
            .find(|e| e.is(kind) && e.incident.is_some())
            .and_then(|e| e.incident.as_ref())
            .map(|i| i.0.clone())
    };
    of(EventKind::DrillMarked).or_else(|| of(EventKind::IncidentDeclared))
}

/// The scenario the log names (`drill.requested`), else the one its simulated outages make
/// (`drill.started`'s providers), else `unknown`.
fn scenario_of(events: &[Event]) -> String {
    if let Some(requested) = events.iter().find_map(|e| e.data_as::<DrillRequested>())
        && !requested.scenario.is_empty()
    {
        return requested.scenario;
    }
    let providers: BTreeSet<String> = events
        .iter()
        .filter_map(|e| e.data_as::<DrillStarted>())
        .flat_map(|s| s.providers)
        .collect();
    let has = |p: &str| providers.contains(p);
    let scenario = match (has("heroku"), has("openai")) {
        (true, true) => Some(Scenario::Both),
        (true, false) => Some(Scenario::HerokuOutage),
        (false, true) => Some(Scenario::OpenaiOutage),
        (false, false) => None,
    };
    scenario.map_or_else(|| "unknown".to_owned(), |s| s.as_str().to_owned())
}
