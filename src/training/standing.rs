//! Who must be trained and who is: the people holding a responder, approver or communicator
//! role (from Discord's members of the `[access]` role ids where connected, `[[access.roster]]`,
//! and everyone the training records name), each with their last game day, and what
//! `[schedule] training_every` makes of it (the readiness line, the reminder). Pure.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{AccessConfig, AccessRole};
use crate::domain::check::Check;
use crate::domain::event::Event;
use crate::duration::HumanDuration;
use crate::events::{EventKind, TrainingRecorded, TrainingRole};

/// A guild member as the chat lists them: user id, display name and role ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub role_ids: Vec<String>,
}

/// A `training.recorded` event: when, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub at: DateTime<Utc>,
    pub record: TrainingRecorded,
}

/// The training records in `events`, oldest first.
pub fn recorded(events: &[Event]) -> Vec<Recorded> {
    let mut out: Vec<Recorded> = events
        .iter()
        .filter(|e| e.is(EventKind::TrainingRecorded))
        .filter_map(|e| {
            Some(Recorded {
                at: e.at,
                record: e.data_as::<TrainingRecorded>()?,
            })
        })
        .collect();
    out.sort_by_key(|r| r.at);
    out
}

/// Someone the training record lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The chat user id; `None` for a roster entry or a record that names them only.
    pub id: Option<String>,
    pub name: String,
    /// The `[access]` roles they hold, as far as Discord or the roster say.
    pub roles: BTreeSet<AccessRole>,
    /// Whether the training rule applies: they hold a role, or nothing tells (no Discord
    /// members were read, and the roster does not name them).
    pub checked: bool,
}

impl Holder {
    fn is(&self, id: Option<&str>, name: &str) -> bool {
        match (self.id.as_deref(), id) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => self.name.eq_ignore_ascii_case(name.trim()),
        }
    }
}

/// Everyone to list: the members holding an `[access]` role (when `members` were read), the
/// roster, and the people of the training records. One entry per person (by user id, else by
/// name), in that order. With members read, a person only the records name no longer holds a
/// role and is listed unchecked.
pub fn people(
    access: &AccessConfig,
    members: Option<&[Member]>,
    records: &[Recorded],
) -> Vec<Holder> {
    let mut out: Vec<Holder> = Vec::new();
    let mut add = |id: Option<&str>, name: &str, roles: BTreeSet<AccessRole>, checked: bool| {
        if let Some(known) = out.iter_mut().find(|h| h.is(id, name)) {
            known.roles.extend(roles);
            known.checked |= checked;
            if known.id.is_none() {
                known.id = id.map(str::to_owned);
            }
        } else {
            out.push(Holder {
                id: id.map(str::to_owned),
                name: name.trim().to_owned(),
                roles,
                checked,
            });
        }
    };
    for member in members.unwrap_or_default() {
        let roles: BTreeSet<AccessRole> = AccessRole::ALL
            .into_iter()
            .filter(|role| {
                access
                    .role_ids(*role)
                    .iter()
                    .any(|id| member.role_ids.contains(id))
            })
            .collect();
        if !roles.is_empty() {
            add(Some(&member.id), &member.name, roles, true);
        }
    }
    for entry in &access.roster {
        add(
            entry.id.as_deref(),
            &entry.name,
            entry.roles.iter().copied().collect(),
            true,
        );
    }
    for r in records {
        let record = &r.record;
        add(
            record.person_id.as_deref(),
            &record.person_name,
            BTreeSet::new(),
            members.is_none(),
        );
    }
    out
}

/// Where a person stands against `training_every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Took part within the period (or no period is set and they took part).
    Current,
    /// Took part, longer ago than the period.
    Overdue,
    /// Never took part in a game day.
    Never,
    /// The rule does not apply to them (they hold no role any more).
    Unchecked,
}

/// One person's line: who, their last game day (the roles they played in it), their state.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub person: Holder,
    /// Their last game day: its last record of them, with every role they played in it.
    pub last: Option<(Recorded, Vec<TrainingRole>)>,
    pub state: State,
}

impl Standing {
    /// Whether the rule finds them lacking (never trained, or overdue).
    pub fn due(&self) -> bool {
        matches!(self.state, State::Never | State::Overdue)
    }
}

/// Each person's standing at `now` under `every` (`None`: no rule; nobody is overdue).
pub fn standings(
    people: Vec<Holder>,
    records: &[Recorded],
    now: DateTime<Utc>,
    every: Option<Duration>,
) -> Vec<Standing> {
    people
        .into_iter()
        .map(|person| {
            let mine: Vec<&Recorded> = records
                .iter()
                .filter(|r| person.is(r.record.person_id.as_deref(), &r.record.person_name))
                .collect();
            let last = mine.iter().max_by_key(|r| r.at).map(|last| {
                let roles: Vec<TrainingRole> = mine
                    .iter()
                    .filter(|r| r.record.incident == last.record.incident)
                    .map(|r| r.record.role)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                ((*last).clone(), roles)
            });
            let state = match (&last, person.checked) {
                (_, false) => State::Unchecked,
                (None, true) => State::Never,
                (Some((r, _)), true) => {
                    let age = (now - r.at).to_std().unwrap_or_default();
                    if every.is_some_and(|every| age > every) {
                        State::Overdue
                    } else {
                        State::Current
                    }
                }
            };
            Standing {
                person,
                last,
                state,
            }
        })
        .collect()
}

fn who(person: &Holder) -> String {
    match &person.id {
        Some(id) => format!("{} ({id})", person.name),
        None => person.name.clone(),
    }
}

fn last_text(standing: &Standing) -> String {
    match &standing.last {
        None => "never".to_owned(),
        Some((r, roles)) => format!(
            "{} {} as {}",
            r.at.format("%Y-%m-%d"),
            r.record.scenario,
            roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The listing of `lifeboat training` and `/dr training`: one line per person (name and id,
/// roles held, last game day or "never", state), then where the people came from.
pub fn render(
    standings: &[Standing],
    every: Option<Duration>,
    now: DateTime<Utc>,
    sources: &str,
) -> String {
    let rule = every.map_or_else(
        || "no [schedule] training_every".to_owned(),
        |e| format!("a game day every {}", HumanDuration(e)),
    );
    let mut out = format!("Training record at {} ({rule})\n", now.format("%Y-%m-%d"));
    if standings.is_empty() {
        out.push_str(
            "nobody holds a responder, approver or communicator role that Lifeboat can see\n",
        );
    }
    for s in standings {
        let roles = if s.person.roles.is_empty() {
            "no role known".to_owned()
        } else {
            s.person
                .roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let state = match s.state {
            State::Current if every.is_some() => "ok",
            State::Current => "",
            State::Overdue => "OVERDUE",
            State::Never if every.is_some() => "NOT TRAINED",
            State::Never => "",
            State::Unchecked => "(holds no role now)",
        };
        let line = format!(
            "{:<28} {:<34} last game day: {}  {state}",
            who(&s.person),
            roles,
            last_text(s)
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&format!("People: {sources}.\n"));
    out
}

/// The readiness line under `training_every` (`None` when it is not set): it fails naming
/// everyone never trained or overdue.
pub fn readiness_check(
    standings: &[Standing],
    every: Option<Duration>,
    now: DateTime<Utc>,
) -> Option<Check> {
    let every = every?;
    let never: Vec<String> = standings
        .iter()
        .filter(|s| s.state == State::Never)
        .map(|s| s.person.name.clone())
        .collect();
    let overdue: Vec<String> = standings
        .iter()
        .filter(|s| s.state == State::Overdue)
        .map(|s| {
            let at = s.last.as_ref().map(|(r, _)| r.at).unwrap_or(now);
            format!(
                "{} (last {}, {} days ago)",
                s.person.name,
                at.format("%Y-%m-%d"),
                (now - at).num_days()
            )
        })
        .collect();
    let checked = standings
        .iter()
        .filter(|s| s.state != State::Unchecked)
        .count();
    let name = "training";
    if never.is_empty() && overdue.is_empty() {
        return Some(if checked == 0 {
            Check::fail(
                name,
                "nobody to check: no [access] role member was read and [[access.roster]] is empty",
            )
        } else {
            Check::ok(
                name,
                format!(
                    "all {checked} people took part in a game day within {}",
                    HumanDuration(every)
                ),
            )
        });
    }
    let mut parts = Vec::new();
    if !never.is_empty() {
        parts.push(format!("never trained: {}", never.join(", ")));
    }
    if !overdue.is_empty() {
        parts.push(format!(
            "overdue (a game day every {}): {}",
            HumanDuration(every),
            overdue.join(", ")
        ));
    }
    Some(Check::fail(name, parts.join("; ")))
}
