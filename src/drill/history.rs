//! The drills on record: each finished drill as its `drill.finished` event tells it, and which
//! protocols the plan drills. Pure; readiness, the drill reminder and the DRP document read
//! them. The `drill-*` logs they come from are read by `crate::store::drill_logs`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::domain::event::Event;
use crate::events::{DrillFinished, DrillMode, EventKind};
use crate::runbook::Runbook;

/// A finished drill, from its `drill.finished` event.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillRecord {
    pub at: DateTime<Utc>,
    pub incident: Option<String>,
    pub results: Vec<DrillResult>,
    /// How it was played (`automatic` for drills logged before modes existed).
    pub mode: DrillMode,
    /// Whether its AWS steps ran against real AWS (`false` when the record does not say).
    pub real_aws: bool,
}

impl DrillRecord {
    /// Whether this drill is the plan's annual test (see [`counts_as_plan_drill`]).
    pub fn counts(&self) -> bool {
        counts_as_plan_drill(self.mode, self.real_aws)
    }
}

/// Whether a drill counts as the plan's annual test, for readiness and the drill reminder:
/// a game day (real people ran the protocol) or a drill against real AWS. A fully automatic
/// drill on the simulation measures Lifeboat's pipeline, not the company's readiness.
pub fn counts_as_plan_drill(mode: DrillMode, real_aws: bool) -> bool {
    mode == DrillMode::Gameday || real_aws
}

/// One drilled protocol, as `drill.finished` records it.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillResult {
    pub provider: String,
    pub runbook: String,
    pub run: String,
    pub status: String,
    /// Simulated outage → confirmed alert: Lifeboat's pipeline at the drill's own polls.
    pub detection: Option<Duration>,
    /// What the configured intervals add to a real outage, as the drill logged it.
    pub detection_bound: Option<String>,
    pub recovery: Option<Duration>,
    pub rto: Option<Duration>,
    pub data_loss: Option<Duration>,
    pub rpo: Option<Duration>,
    pub rto_met: bool,
    pub rpo_met: bool,
}

impl DrillResult {
    pub fn met(&self) -> bool {
        self.status == "succeeded" && self.rto_met && self.rpo_met
    }
}

/// The finished drills in `events` (`drill.finished`, as `src/drill` writes it), oldest first.
pub fn drills_from_events(events: &[Event]) -> Vec<DrillRecord> {
    let millis = |v: Option<u64>| v.map(Duration::from_millis);
    let secs = |v: Option<u64>| v.map(Duration::from_secs);
    let mut drills: Vec<DrillRecord> = events
        .iter()
        .filter(|e| e.is(EventKind::DrillFinished))
        .map(|e| {
            // A drill whose results do not read is still on record, without results (and
            // as an automatic drill on the simulation: it does not count).
            let finished = e.data_as::<DrillFinished>().unwrap_or_default();
            DrillRecord {
                at: e.at,
                incident: e.incident.as_ref().map(|i| i.0.clone()),
                mode: DrillMode::of(finished.mode),
                real_aws: finished.real_aws.unwrap_or(false),
                results: finished
                    .results
                    .into_iter()
                    .map(|r| DrillResult {
                        provider: r.provider,
                        runbook: r.runbook,
                        run: r.run,
                        status: r.status,
                        detection: millis(r.detection_ms),
                        detection_bound: r.detection_bound,
                        recovery: millis(r.recovery_ms),
                        rto: secs(r.rto_secs),
                        data_loss: secs(r.data_loss_secs),
                        rpo: secs(r.rpo_secs),
                        rto_met: r.rto_met,
                        rpo_met: r.rpo_met,
                    })
                    .collect(),
            }
        })
        .collect();
    drills.sort_by_key(|d| d.at);
    drills
}

/// How a drill was played, for people: `game day`, `automatic, against real AWS` or
/// `automatic`, and whether it counts as the plan's drill.
pub fn mode_text(drill: &DrillRecord) -> String {
    let how = match (drill.mode, drill.real_aws) {
        (DrillMode::Gameday, _) => "game day",
        (DrillMode::Automatic, true) => "automatic, against real AWS",
        (DrillMode::Automatic, false) => "automatic",
    };
    if drill.counts() {
        format!("{how} (counts as the plan's drill)")
    } else {
        format!(
            "{how} (does not count as the plan's drill: it measures Lifeboat's pipeline on the simulation)"
        )
    }
}

/// `lifeboat drills`: every finished drill, newest first, with its mode and, per protocol,
/// Lifeboat's measured pipeline apart from the detection bound and the data-loss window.
pub fn render(drills: &[DrillRecord]) -> String {
    use crate::duration::{HumanDuration, format_elapsed};
    if drills.is_empty() {
        return "No drill on record.\n".to_owned();
    }
    let fmt = |d: Option<Duration>| d.map_or_else(|| "—".to_owned(), format_elapsed);
    let objective =
        |d: Option<Duration>| d.map_or_else(|| "—".to_owned(), |d| HumanDuration(d).to_string());
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    let mut out = String::new();
    for d in drills.iter().rev() {
        out.push_str(&format!(
            "{}  {}  {}\n",
            d.at.format("%Y-%m-%d %H:%M UTC"),
            d.incident.as_deref().unwrap_or("—"),
            mode_text(d)
        ));
        for r in &d.results {
            out.push_str(&format!(
                "  {} → {} ({}, run {})\n    pipeline         detection {}, recovery {} (RTO {}: {}), measured\n    detection bound  {}\n    data-loss window {}\n",
                r.provider,
                r.runbook,
                r.status,
                r.run,
                fmt(r.detection),
                fmt(r.recovery),
                objective(r.rto),
                verdict(r.rto_met),
                r.detection_bound.as_deref().unwrap_or("not recorded (a drill from before it was)"),
                match r.data_loss {
                    Some(loss) => format!(
                        "{}, measured from the restored rows (RPO {}: {})",
                        format_elapsed(loss),
                        objective(r.rpo),
                        verdict(r.rpo_met)
                    ),
                    None => "not measured".to_owned(),
                },
            ));
        }
    }
    out
}

/// The protocols the plan drills: each provider's outage runbook, once (the first runbook
/// when no provider names one). Readiness and the drill reminder both count these.
pub fn drilled_protocols<'a>(config: &'a Config, runbooks: &'a [Runbook]) -> Vec<&'a str> {
    let mut protocols: Vec<&str> = Vec::new();
    for p in &config.providers {
        if let Some(rb) = &p.runbook
            && runbooks.iter().any(|r| &r.name == rb)
            && !protocols.contains(&rb.as_str())
        {
            protocols.push(rb);
        }
    }
    if protocols.is_empty() {
        protocols.extend(runbooks.iter().map(|r| r.name.as_str()).take(1));
    }
    protocols
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::NewEvent;
    use crate::domain::{Actor, IncidentId};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn drills_are_read_from_drill_finished_events() {
        let finished = Event::seal(
            NewEvent::new(
                Actor::Scheduler,
                "drill.finished",
                serde_json::json!({ "results": [{
                    "provider": "heroku", "runbook": "failover-hosting", "run": "RUN-9",
                    "status": "succeeded", "detection_ms": 462, "recovery_ms": 48,
                    "rto_secs": 14400, "data_loss_secs": 720, "rpo_secs": 3600,
                    "rto_met": true, "rpo_met": true
                }]}),
            )
            .incident(IncidentId("INC-9".into())),
            2,
            now(),
            crate::domain::event::GENESIS,
        );
        let started = Event::seal(
            NewEvent::new(Actor::Scheduler, "drill.started", serde_json::json!({})),
            1,
            now(),
            crate::domain::event::GENESIS,
        );
        let drills = drills_from_events(&[started, finished]);
        assert_eq!(drills.len(), 1);
        let d = &drills[0];
        assert_eq!(d.incident.as_deref(), Some("INC-9"));
        assert_eq!(d.results[0].runbook, "failover-hosting");
        assert_eq!(d.results[0].data_loss, Some(Duration::from_secs(720)));
        assert_eq!(d.results[0].detection, Some(Duration::from_millis(462)));
        assert!(d.results[0].met());
        // Logged before modes: an automatic drill on the simulation, which does not count.
        assert_eq!(d.mode, DrillMode::Automatic);
        assert!(!d.real_aws);
        assert!(!d.counts());
    }

    #[test]
    fn only_a_game_day_or_a_drill_against_real_aws_counts() {
        assert!(counts_as_plan_drill(DrillMode::Gameday, false));
        assert!(counts_as_plan_drill(DrillMode::Gameday, true));
        assert!(counts_as_plan_drill(DrillMode::Automatic, true));
        assert!(!counts_as_plan_drill(DrillMode::Automatic, false));
        let finished = |data: serde_json::Value| {
            drills_from_events(&[Event::seal(
                NewEvent::new(Actor::Scheduler, "drill.finished", data),
                1,
                now(),
                crate::domain::event::GENESIS,
            )])
            .remove(0)
        };
        let real =
            finished(serde_json::json!({ "results": [], "mode": "automatic", "real_aws": true }));
        assert_eq!(
            (real.mode, real.real_aws, real.counts()),
            (DrillMode::Automatic, true, true)
        );
        let gameday = finished(serde_json::json!({ "results": [], "mode": "gameday" }));
        assert_eq!(
            (gameday.mode, gameday.real_aws, gameday.counts()),
            (DrillMode::Gameday, false, true)
        );
        let simulated =
            finished(serde_json::json!({ "results": [], "mode": "automatic", "real_aws": false }));
        assert!(!simulated.counts());
        assert!(
            mode_text(&simulated).starts_with("automatic (does not count"),
            "{}",
            mode_text(&simulated)
        );
        assert_eq!(mode_text(&gameday), "game day (counts as the plan's drill)");
        assert_eq!(
            mode_text(&real),
            "automatic, against real AWS (counts as the plan's drill)"
        );
    }

    #[test]
    fn the_history_shows_each_drills_mode_and_keeps_the_pipeline_apart_from_the_bound() {
        let finished = |mode: &str, bound: Option<&str>, loss: Option<u64>| {
            Event::seal(
                NewEvent::new(
                    Actor::Scheduler,
                    "drill.finished",
                    serde_json::json!({ "mode": mode, "results": [{
                        "provider": "heroku", "runbook": "failover-hosting", "run": "RUN-9",
                        "status": "succeeded", "detection_ms": 461, "recovery_ms": 67,
                        "detection_bound": bound, "rto_secs": 14400, "data_loss_secs": loss,
                        "rpo_secs": 3600, "rto_met": true, "rpo_met": true
                    }]}),
                )
                .incident(IncidentId("INC-9".into())),
                1,
                now(),
                crate::domain::event::GENESIS,
            )
        };
        let text = render(&drills_from_events(&[finished(
            "automatic",
            Some(
                "with a every 60s and b every 30s, a real outage is confirmed within ≈ 2 polls: 60–120 s + pipeline",
            ),
            None,
        )]));
        assert!(
            text.starts_with("2026-11-25 12:00 UTC  INC-9  automatic (does not count"),
            "{text}"
        );
        assert!(
            text.contains(
                "    pipeline         detection 461ms, recovery 67ms (RTO 4h: met), measured\n"
            ),
            "{text}"
        );
        assert!(text.contains("    detection bound  with a every 60s and b every 30s, a real outage is confirmed within ≈ 2 polls: 60–120 s + pipeline\n"), "{text}");
        assert!(
            text.contains("    data-loss window not measured\n"),
            "{text}"
        );
        let text = render(&drills_from_events(&[finished("gameday", None, Some(720))]));
        assert!(
            text.contains("INC-9  game day (counts as the plan's drill)"),
            "{text}"
        );
        assert!(text.contains("detection bound  not recorded"), "{text}");
        assert!(
            text.contains(
                "data-loss window 12m 00s, measured from the restored rows (RPO 1h: met)"
            ),
            "{text}"
        );
        assert_eq!(render(&[]), "No drill on record.\n");
    }
}
