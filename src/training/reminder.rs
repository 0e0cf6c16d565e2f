//! The training reminder: the people `[schedule] training_every` finds never trained or
//! overdue, each named (and pinged) at most once per period. Pure; the scheduler posts it and
//! logs `reminder.posted` (or `reminder.failed`) with the people it named.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::standing::Standing;
use crate::domain::event::Event;
use crate::duration::HumanDuration;
use crate::events::ReminderPosted;
use crate::ports::chat::{Message, user_ping};

/// `reminder.posted`'s `reminder` for this one.
pub const REMINDER: &str = "training";

/// How a reminder names a person in `people`: the user id, else the name.
pub fn key(standing: &Standing) -> String {
    standing
        .person
        .id
        .clone()
        .unwrap_or_else(|| standing.person.name.clone())
}

/// The people to remind at `now`: due (never trained or overdue), and not named by a training
/// reminder delivered within the last `every` (`posted` holds the `reminder.posted` events).
pub fn due<'a>(
    standings: &'a [Standing],
    posted: &[Event],
    every: Duration,
    now: DateTime<Utc>,
) -> Vec<&'a Standing> {
    let recent: Vec<String> = posted
        .iter()
        .filter(|e| (now - e.at).to_std().unwrap_or_default() < every)
        .filter_map(Event::data_as::<ReminderPosted>)
        .filter(|r| r.reminder == REMINDER)
        .flat_map(|r| r.people.unwrap_or_default())
        .collect();
    standings
        .iter()
        .filter(|s| s.due() && !recent.contains(&key(s)))
        .collect()
}

/// What the scheduler posts: each person mentioned (pinged when their user id is known) with
/// why, and what to do. Only these people are pinged.
pub fn message(people: &[&Standing], every: Duration, now: DateTime<Utc>) -> Message {
    let lines: Vec<String> = people
        .iter()
        .map(|s| {
            let name = match &s.person.id {
                Some(id) => format!("<@{id}> ({})", s.person.name),
                None => s.person.name.clone(),
            };
            match &s.last {
                None => format!("- {name}: never took part in a game day"),
                Some((r, _)) => format!(
                    "- {name}: last game day {} ({} days ago)",
                    r.at.format("%Y-%m-%d"),
                    (now - r.at).num_days()
                ),
            }
        })
        .collect();
    Message {
        content: format!(
            "🎓 DR training due: the plan asks everyone holding a responder, approver or communicator role to take part in a game day every {}.\n{}\nJoin the next one (`/drill start scenario:heroku-outage mode:gameday`); `/dr training` shows the record.",
            HumanDuration(every),
            lines.join("\n")
        ),
        pings: people
            .iter()
            .filter_map(|s| s.person.id.as_deref().map(user_ping))
            .collect(),
        ..Message::default()
    }
}
