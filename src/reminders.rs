//! Reminders and the RPO watch, as pure decisions over the log and `now`: when the drill and
//! plan-review reminders fall due (once per period, counted only once delivered), and what the
//! RPO watch says when a backup check changes its state. The timer loop that acts on them is
//! `crate::service::scheduler`.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::domain::event::Event;
use crate::drill::history::DrillRecord;
use crate::duration::format_elapsed;
use crate::events::{BackupAge, EventKind, ReminderPosted};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderKind {
    /// The annual drill of the plan's protocols.
    Drill,
    /// The semi-annual plan review.
    Review,
}

impl ReminderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReminderKind::Drill => "drill",
            ReminderKind::Review => "review",
        }
    }
}

/// What a reminder counts from.
#[derive(Debug, Clone, PartialEq)]
pub struct ReminderBasis {
    pub at: DateTime<Utc>,
    /// Who recorded the review (reviews only).
    pub by: Option<String>,
    /// The protocol whose last successful drill is the oldest (drills only).
    pub protocol: Option<String>,
}

/// The review reminder counts from the last `plan.reviewed` in the log.
pub fn review_basis(events: &[Event]) -> Option<ReminderBasis> {
    events
        .iter()
        .rev()
        .find(|e| e.is(EventKind::PlanReviewed))
        .map(|e| ReminderBasis {
            at: e.at,
            by: Some(crate::incident::who(&e.actor)),
            protocol: None,
        })
}

/// The drill reminder is one reminder for the whole plan, and a drill counts only where it
/// proved something: a game day or a drill against real AWS
/// (`drill::history::counts_as_plan_drill`; a fully automatic drill measures Lifeboat's
/// pipeline, not the people), per protocol (`drill::history::drilled_protocols`), the last finished drill
/// in which that protocol's run succeeded within its RTO and RPO. The reminder counts from
/// the oldest of those, so a one-protocol drill renews only its own protocol. `None` while a
/// protocol has no such drill.
pub fn drill_basis(protocols: &[&str], drills: &[DrillRecord]) -> Option<ReminderBasis> {
    let mut oldest: Option<ReminderBasis> = None;
    for protocol in protocols {
        let at = drills
            .iter()
            .filter(|d| d.counts())
            .filter(|d| d.results.iter().any(|r| r.runbook == *protocol && r.met()))
            .map(|d| d.at)
            .max()?;
        if oldest.as_ref().is_none_or(|o| at < o.at) {
            oldest = Some(ReminderBasis {
                at,
                by: None,
                protocol: Some((*protocol).to_owned()),
            });
        }
    }
    oldest
}

/// A reminder that is due: what it counts from and which due period it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// The last drill or review; `None` when there never was one.
    pub basis: Option<ReminderBasis>,
    /// 1 for the first period past due, 2 a whole period later, ...; 0 with no basis.
    pub period: u64,
}

impl Due {
    /// The basis's time as logged in `reminder.posted` (what "already posted" compares).
    pub fn basis_at(&self) -> Option<String> {
        self.basis
            .as_ref()
            .map(|b| b.at.to_rfc3339_opts(SecondsFormat::Nanos, true))
    }

    /// What the scheduler posts for this reminder.
    pub fn message(&self, kind: ReminderKind, every: Duration, now: DateTime<Utc>) -> String {
        let every_text = crate::duration::HumanDuration(every).to_string();
        let when = |at: DateTime<Utc>| {
            format!(
                "{} ({} days ago)",
                at.format("%Y-%m-%d"),
                (now - at).num_days()
            )
        };
        match (kind, &self.basis) {
            (ReminderKind::Drill, Some(basis)) => format!(
                "📅 DR drill due: the last drill of {} that met its objectives was on {}; the plan asks for one every {every_text}. Run `/drill start both` (or `lifeboat drill both`).",
                basis.protocol.as_deref().unwrap_or("the plan"),
                when(basis.at)
            ),
            (ReminderKind::Drill, None) => format!(
                "📅 DR drill due: no drill that met its objectives on record for every protocol; the plan asks for one every {every_text}. Run `/drill start both` (or `lifeboat drill both`)."
            ),
            (ReminderKind::Review, Some(basis)) => format!(
                "📅 DR plan review due: last reviewed on {}{}; the plan asks for a review every {every_text}. Review it (`lifeboat docs`), then record it with `/dr reviewed`.",
                when(basis.at),
                basis
                    .by
                    .as_deref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default()
            ),
            (ReminderKind::Review, None) => format!(
                "📅 DR plan review due: no review on record; the plan asks for one every {every_text}. Review it (`lifeboat docs`), then record it with `/dr reviewed`."
            ),
        }
    }
}

/// Whether a reminder is due at `now` and not yet delivered for its period: due `every`
/// after its basis, then again each further `every`; with no basis, once. Only a
/// `reminder.posted` (a delivered reminder) counts as done; `reminder.failed` does not.
pub fn reminder_due(
    kind: ReminderKind,
    basis: Option<ReminderBasis>,
    events: &[Event],
    every: Duration,
    now: DateTime<Utc>,
) -> Option<Due> {
    let period = match &basis {
        Some(b) => {
            let since = (now - b.at).to_std().unwrap_or_default();
            let every_ms = every.as_millis().max(1);
            u64::try_from(since.as_millis() / every_ms).unwrap_or(u64::MAX)
        }
        None => 0,
    };
    if basis.is_some() && period == 0 {
        return None;
    }
    let due = Due { basis, period };
    let basis_at = due.basis_at();
    let already = events
        .iter()
        .filter_map(Event::data_as::<ReminderPosted>)
        .any(|r| r.reminder == kind.as_str() && r.basis_at == basis_at && r.period == period);
    (!already).then_some(due)
}

// ---------------------------------------------------------------------------------------------
// The RPO watch

/// What one backup check said (read from a `backup_check` result by
/// `BackupReading::from_check`, in `steps::backup`, which knows that output).
#[derive(Debug, Clone, PartialEq)]
pub enum BackupReading {
    Fresh {
        age: Duration,
        completed_at: Option<String>,
    },
    TooOld {
        age: Duration,
        completed_at: Option<String>,
    },
    Unreadable {
        error: String,
    },
}

impl BackupReading {
    /// The backup's age, as the watch logs it; `None` when it could not be read.
    pub fn backup(&self) -> Option<BackupAge> {
        match self {
            BackupReading::Fresh { age, completed_at }
            | BackupReading::TooOld { age, completed_at } => Some(BackupAge {
                age_secs: age.as_secs(),
                completed_at: completed_at.clone(),
            }),
            BackupReading::Unreadable { .. } => None,
        }
    }
}

/// The watch's state, from its last event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RpoState {
    #[default]
    Ok,
    Breached,
    Unreadable,
}

pub fn rpo_state(events: &[Event]) -> RpoState {
    events
        .iter()
        .rev()
        .find_map(|e| match e.event_kind()? {
            EventKind::RpoBreached => Some(RpoState::Breached),
            EventKind::RpoRecovered | EventKind::RpoReadable => Some(RpoState::Ok),
            EventKind::RpoUnreadable => Some(RpoState::Unreadable),
            _ => None,
        })
        .unwrap_or(RpoState::Ok)
}

/// What the watch posts and logs when its state changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpoEffect {
    Breached,
    Recovered,
    Unreadable,
    Readable,
}

impl RpoEffect {
    /// The kind of the event it records.
    pub fn event_kind(self) -> EventKind {
        match self {
            RpoEffect::Breached => EventKind::RpoBreached,
            RpoEffect::Recovered => EventKind::RpoRecovered,
            RpoEffect::Unreadable => EventKind::RpoUnreadable,
            RpoEffect::Readable => EventKind::RpoReadable,
        }
    }

    pub fn kind(self) -> &'static str {
        self.event_kind().as_str()
    }

    /// What the watch posts.
    pub fn message(
        self,
        reading: &BackupReading,
        rpo: Duration,
        runbook: &str,
        step: &str,
    ) -> String {
        let rpo = format_elapsed(rpo);
        let (age, completed) = match reading {
            BackupReading::Fresh { age, completed_at }
            | BackupReading::TooOld { age, completed_at } => (
                format_elapsed(*age),
                completed_at
                    .as_deref()
                    .map(|c| format!(", completed {c}"))
                    .unwrap_or_default(),
            ),
            BackupReading::Unreadable { .. } => (String::new(), String::new()),
        };
        match (self, reading) {
            (RpoEffect::Breached, _) => format!(
                "🚨 RPO breach: the latest backup is {age} old{completed}, older than the RPO of {rpo}. A failover now would lose more data than the plan allows: check the backup job."
            ),
            (RpoEffect::Recovered, _) => format!(
                "✅ Backups are within the RPO again: the latest is {age} old{completed} (RPO {rpo})."
            ),
            (RpoEffect::Unreadable, BackupReading::Unreadable { error }) => format!(
                "⚠️ RPO watch: the backup's age cannot be read ({runbook} step {step}): {error}"
            ),
            (RpoEffect::Unreadable, _) => {
                format!("⚠️ RPO watch: the backup's age cannot be read ({runbook} step {step})")
            }
            (RpoEffect::Readable, _) => {
                format!("RPO watch: the backup's age can be read again: {age} old (RPO {rpo}).")
            }
        }
    }
}

/// Once per breach: a stale backup alerts once until a fresh one ends the breach. An
/// unreadable status is reported once, and never ends a breach.
pub fn rpo_decision(state: RpoState, reading: &BackupReading) -> Option<RpoEffect> {
    match (state, reading) {
        (RpoState::Breached, BackupReading::Fresh { .. }) => Some(RpoEffect::Recovered),
        (RpoState::Breached, _) => None,
        (_, BackupReading::TooOld { .. }) => Some(RpoEffect::Breached),
        (RpoState::Unreadable, BackupReading::Fresh { .. }) => Some(RpoEffect::Readable),
        (RpoState::Ok, BackupReading::Unreadable { .. }) => Some(RpoEffect::Unreadable),
        (RpoState::Ok, BackupReading::Fresh { .. })
        | (RpoState::Unreadable, BackupReading::Unreadable { .. }) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use crate::domain::event::NewEvent;
    use crate::domain::event::testing::Log;
    use crate::drill::history::drills_from_events;
    use serde_json::{Value, json};

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn days(d: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::days(d)
    }

    const YEAR: Duration = Duration::from_secs(365 * 86_400);

    fn posted(kind: &str, due: &Due) -> NewEvent {
        NewEvent::new(
            Actor::Scheduler,
            "reminder.posted",
            json!({"reminder": kind, "basis_at": due.basis_at(), "period": due.period}),
        )
    }

    /// A finished game day as `src/drill` logs it: one result per (runbook, objectives met).
    fn finished(results: &[(&str, bool)]) -> NewEvent {
        finished_as("gameday", results)
    }

    /// A finished drill played in `mode`.
    fn finished_as(mode: &str, results: &[(&str, bool)]) -> NewEvent {
        let results: Vec<Value> = results
            .iter()
            .map(|(runbook, met)| {
                json!({"provider": "p", "runbook": runbook, "run": "r", "status": "succeeded",
                       "rto_met": met, "rpo_met": true})
            })
            .collect();
        NewEvent::new(
            Actor::Scheduler,
            "drill.finished",
            json!({ "results": results, "mode": mode }),
        )
    }

    fn drill_due(log: &Log, protocols: &[&str], now: DateTime<Utc>) -> Option<Due> {
        let basis = drill_basis(protocols, &drills_from_events(&log.0));
        reminder_due(ReminderKind::Drill, basis, &log.0, YEAR, now)
    }

    #[test]
    fn a_drill_reminder_is_due_a_period_after_the_last_drill_once_per_period() {
        let mut log = Log::default();
        let hosting = ["failover-hosting"];
        log.at(t0(), finished(&[("failover-hosting", true)]));
        assert_eq!(drill_due(&log, &hosting, days(364)), None);
        let due = drill_due(&log, &hosting, days(366)).unwrap();
        assert_eq!((due.basis.as_ref().unwrap().at, due.period), (t0(), 1));
        assert!(
            due.message(ReminderKind::Drill, YEAR, days(366)).contains(
                "the last drill of failover-hosting that met its objectives was on 2026-01-01 (366 days ago)"
            )
        );
        log.at(days(366), posted("drill", &due));
        assert_eq!(drill_due(&log, &hosting, days(400)), None, "posted once");
        let again = drill_due(&log, &hosting, days(731)).unwrap();
        assert_eq!(again.period, 2, "a whole period later it is due again");
        // A new drill starts a new basis.
        log.at(days(740), finished(&[("failover-hosting", true)]));
        assert_eq!(drill_due(&log, &hosting, days(800)), None);
        // The review reminder is independent of drills.
        assert!(
            reminder_due(
                ReminderKind::Review,
                review_basis(&log.0),
                &log.0,
                YEAR,
                days(800)
            )
            .is_some()
        );
    }

    #[test]
    fn only_a_drill_that_met_its_objectives_counts_and_only_for_its_protocol() {
        let both = ["failover-hosting", "switch-llm"];
        let mut log = Log::default();
        // Requested is not done, and a drill that missed its RTO proves nothing.
        log.at(
            t0(),
            NewEvent::new(Actor::Scheduler, "drill.requested", json!({})),
        )
        .at(t0(), finished(&[("failover-hosting", false)]));
        let due = drill_due(&log, &both, days(1)).unwrap();
        assert_eq!(due.basis, None);
        assert!(
            due.message(ReminderKind::Drill, YEAR, days(1))
                .contains("no drill that met its objectives on record for every protocol")
        );
        // One protocol drilled well: the other still has none.
        log.at(days(10), finished(&[("failover-hosting", true)]));
        assert_eq!(drill_due(&log, &both, days(11)).unwrap().basis, None);
        // Both drilled (separately): the reminder counts from the older one.
        log.at(days(20), finished(&[("switch-llm", true)]));
        assert_eq!(drill_due(&log, &both, days(300)), None);
        let due = drill_due(&log, &both, days(376)).unwrap();
        let basis = due.basis.unwrap();
        assert_eq!(
            (basis.at, basis.protocol.as_deref()),
            (days(10), Some("failover-hosting"))
        );
        // A failed reminder is not a posted one: it is due again on the next pass.
        let due = drill_due(&log, &both, days(376)).unwrap();
        log.at(
            days(376),
            NewEvent::new(
                Actor::Scheduler,
                "reminder.failed",
                json!({"reminder": "drill", "basis_at": due.basis_at(), "period": due.period}),
            ),
        );
        assert_eq!(drill_due(&log, &both, days(376)), Some(due));
    }

    #[test]
    fn an_automatic_drill_does_not_reset_the_drill_reminder() {
        let hosting = ["failover-hosting"];
        let mut log = Log::default();
        log.at(t0(), finished(&[("failover-hosting", true)]));
        // A year later, only automatic drills on the simulation: the reminder is still due,
        // counted from the game day.
        log.at(
            days(300),
            finished_as("automatic", &[("failover-hosting", true)]),
        );
        let due = drill_due(&log, &hosting, days(366)).unwrap();
        assert_eq!(due.basis.unwrap().at, t0());
        // Logged before modes existed: automatic too.
        let mut old = Log::default();
        old.at(
            t0(),
            NewEvent::new(
                Actor::Scheduler,
                "drill.finished",
                json!({ "results": [{"provider": "p", "runbook": "failover-hosting", "run": "r",
                        "status": "succeeded", "rto_met": true, "rpo_met": true}] }),
            ),
        );
        assert_eq!(drill_due(&old, &hosting, days(1)).unwrap().basis, None);
        // An automatic drill against real AWS counts.
        old.at(
            days(2),
            NewEvent::new(
                Actor::Scheduler,
                "drill.finished",
                json!({ "results": [{"provider": "p", "runbook": "failover-hosting", "run": "r",
                        "status": "succeeded", "rto_met": true, "rpo_met": true}],
                        "mode": "automatic", "real_aws": true }),
            ),
        );
        assert_eq!(drill_due(&old, &hosting, days(3)), None);
    }

    #[test]
    fn with_nothing_on_record_a_reminder_is_posted_once() {
        let mut log = Log::default();
        let review = |log: &Log, now| {
            reminder_due(
                ReminderKind::Review,
                review_basis(&log.0),
                &log.0,
                YEAR,
                now,
            )
        };
        let due = review(&log, t0()).unwrap();
        assert_eq!((due.basis.clone(), due.period), (None, 0));
        assert!(
            due.message(ReminderKind::Review, YEAR, t0())
                .contains("no review on record")
        );
        log.at(t0(), posted("review", &due));
        assert_eq!(review(&log, days(900)), None);
        log.at(
            days(901),
            NewEvent::new(
                Actor::User {
                    id: "1".into(),
                    name: "dana".into(),
                },
                "plan.reviewed",
                json!({}),
            ),
        );
        let due = review(&log, days(901 + 366)).unwrap();
        assert_eq!(due.basis.as_ref().unwrap().by.as_deref(), Some("dana"));
        assert!(
            due.message(ReminderKind::Review, YEAR, days(901 + 366))
                .contains("by dana")
        );
    }

    fn fresh(secs: u64) -> BackupReading {
        BackupReading::Fresh {
            age: Duration::from_secs(secs),
            completed_at: None,
        }
    }

    fn old(secs: u64) -> BackupReading {
        BackupReading::TooOld {
            age: Duration::from_secs(secs),
            completed_at: None,
        }
    }

    #[test]
    fn the_rpo_watch_alerts_once_per_breach() {
        let unreadable = BackupReading::Unreadable {
            error: "503".into(),
        };
        assert_eq!(rpo_decision(RpoState::Ok, &fresh(60)), None);
        assert_eq!(
            rpo_decision(RpoState::Ok, &old(7200)),
            Some(RpoEffect::Breached)
        );
        assert_eq!(rpo_decision(RpoState::Breached, &old(9000)), None);
        assert_eq!(rpo_decision(RpoState::Breached, &unreadable), None);
        assert_eq!(
            rpo_decision(RpoState::Breached, &fresh(60)),
            Some(RpoEffect::Recovered)
        );
        assert_eq!(
            rpo_decision(RpoState::Ok, &unreadable),
            Some(RpoEffect::Unreadable)
        );
        assert_eq!(rpo_decision(RpoState::Unreadable, &unreadable), None);
        assert_eq!(
            rpo_decision(RpoState::Unreadable, &fresh(5)),
            Some(RpoEffect::Readable)
        );
        assert_eq!(
            rpo_decision(RpoState::Unreadable, &old(7200)),
            Some(RpoEffect::Breached)
        );
    }

    #[test]
    fn the_rpo_state_is_read_from_the_log() {
        let mut log = Log::default();
        assert_eq!(rpo_state(&log.0), RpoState::Ok);
        log.at(
            t0(),
            NewEvent::new(Actor::Scheduler, "rpo.breached", json!({})),
        );
        assert_eq!(rpo_state(&log.0), RpoState::Breached);
        log.at(
            t0(),
            NewEvent::new(Actor::Scheduler, "rpo.recovered", json!({})),
        );
        assert_eq!(rpo_state(&log.0), RpoState::Ok);
    }
}
