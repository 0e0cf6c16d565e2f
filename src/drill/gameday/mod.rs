//! Game days: what a drill played by real people measured, read from its log alone. The phases
//! (alert → declared → run requested → approved, the run to its verification, the client
//! draft to its approval), who did what, where it stalled, and the debrief that says so.
//! Pure: the running game day, its report and the debrief all read this one function.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Objectives;
use crate::domain::event::Event;
use crate::domain::{Actor, IncidentId};
use crate::duration::{HumanDuration, format_elapsed};
use crate::events::{DrillEndReason, Payload};
use crate::runbook::StepKind;

/// One phase of a game day, timed from the event that opens it to the one that closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// The first alert posted → the incident declared.
    Declare,
    /// The incident declared → the first runbook requested.
    Request,
    /// The first request → its approval (the run started).
    Approve,
    /// The first run started → it succeeded (the runbook verified the recovery).
    Verify,
    /// The first client draft → its approval.
    ApproveDraft,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::Declare,
        Phase::Request,
        Phase::Approve,
        Phase::Verify,
        Phase::ApproveDraft,
    ];

    /// How the phase is named in the debrief and in `drill.ended`.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Declare => "alert → declared",
            Phase::Request => "declared → run requested",
            Phase::Approve => "requested → approved",
            Phase::Verify => "run → verified",
            Phase::ApproveDraft => "draft → approved",
        }
    }

    /// What was missing when a game day stalled in this phase.
    pub fn waiting_for(self) -> &'static str {
        match self {
            Phase::Declare => "nobody declared the incident from the DRILL alert",
            Phase::Request => "nobody requested the runbook",
            Phase::Approve => "nobody approved the run request (the two-person rule)",
            Phase::Verify => "the run did not reach its verification",
            Phase::ApproveDraft => "nobody approved the client draft",
        }
    }
}

/// One phase as the log tells it: when it opened, when it closed, and who closed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timed {
    pub phase: Phase,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// The person whose action closed it (none for the run's verification).
    pub by: Option<String>,
}

impl Timed {
    /// How long the phase took; `None` until it closed.
    pub fn took(&self) -> Option<Duration> {
        Some((self.to? - self.from?).to_std().unwrap_or_default())
    }
}

/// How a game day ended, from its `drill.ended`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub reason: DrillEndReason,
    pub at: DateTime<Utc>,
    /// Who stopped it (`/drill stop`).
    pub by: Option<String>,
}

/// Everything a game day's log says about how the people played it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Played {
    /// When the outage began (`drill.outage_simulated`, else `drill.started`).
    pub started: Option<DateTime<Utc>>,
    /// The five phases, in order.
    pub phases: Vec<Timed>,
    /// Each person (by name) and what they did, in the log's order.
    pub people: BTreeMap<String, Vec<String>>,
    /// The drill incident, once declared.
    pub incident: Option<IncidentId>,
    /// The people resolved the drill incident.
    pub resolved: bool,
    pub ended: Option<Ending>,
}

impl Played {
    /// The first phase that has not closed; `None` when all did.
    pub fn stalled(&self) -> Option<Phase> {
        self.phases.iter().find(|t| t.to.is_none()).map(|t| t.phase)
    }

    /// The game day is over on its own: every phase closed, or the incident was resolved.
    pub fn complete(&self) -> bool {
        self.resolved || self.stalled().is_none()
    }

    pub fn phase(&self, phase: Phase) -> &Timed {
        // `phases` always holds every phase, in `Phase::ALL`'s order.
        &self.phases[Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0)]
    }
}

fn name(actor: &Actor) -> Option<&str> {
    match actor {
        Actor::User { name, .. } => Some(name),
        _ => None,
    }
}

/// What a person's event says they did, for "who did what"; `None` for events that are not
/// a person's doing worth listing.
fn doing(event: &Event, payload: &Payload) -> Option<String> {
    Some(match payload {
        Payload::IncidentDeclared(_) => "declared the incident".to_owned(),
        Payload::RunRequested(p) => format!("requested {}", p.runbook),
        Payload::RunApprovalCounted(p) => format!("approved {}", p.request),
        Payload::ApprovalRefused(p) => format!("was refused approving ({})", p.reason),
        Payload::RunDenied(p) => format!("denied {}", p.request),
        Payload::CommandRefused(p) => format!("was refused /{} (needs {})", p.command, p.needs),
        Payload::CommsEdited(p) => format!("edited {}", p.draft),
        Payload::CommsApproved(p) => format!("approved the draft {}", p.draft),
        Payload::CommsApprovalRefused(p) => format!("was refused approving {}", p.draft),
        Payload::NoteAdded(_) => "added a note".to_owned(),
        Payload::IncidentResolved(_) => "resolved the incident".to_owned(),
        Payload::DrillEnded(_) => "stopped the game day".to_owned(),
        _ => return None,
    })
    .filter(|_| name(&event.actor).is_some())
}

/// Reads a game day from its log: the phases (each from the first event that opens it),
/// who did what, and how it ended.
pub fn played(events: &[Event]) -> Played {
    let mut phases: Vec<Timed> = Phase::ALL
        .iter()
        .map(|&phase| Timed {
            phase,
            from: None,
            to: None,
            by: None,
        })
        .collect();
    let mut started = None;
    let mut people: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (mut incident, mut resolved, mut ended) = (None, false, None);
    let mut first_run = None;
    let mut first_draft = None;
    let mut first_request = None;
    for event in events {
        let Ok(payload) = event.payload() else {
            continue;
        };
        let who = name(&event.actor).map(str::to_owned);
        if let (Some(who), Some(did)) = (&who, doing(event, &payload)) {
            people.entry(who.clone()).or_default().push(did);
        }
        // A `confirm` step is answered by a person, named in its output (the step is the bot's).
        if let Payload::StepSucceeded(p) = &payload
            && p.kind == Some(StepKind::Confirm)
            && let Some(by) = p.output.get("by").and_then(|b| b.as_str())
        {
            let answer = p
                .output
                .get("answer")
                .and_then(|a| a.as_str())
                .unwrap_or("yes");
            people
                .entry(by.to_owned())
                .or_default()
                .push(format!("answered {} {answer}", p.step));
        }
        let open = |phases: &mut Vec<Timed>, p: usize, at| {
            phases[p].from.get_or_insert(at);
        };
        let close = |phases: &mut Vec<Timed>, p: usize, at, by: Option<String>| {
            if phases[p].from.is_some() && phases[p].to.is_none() {
                phases[p].to = Some(at);
                phases[p].by = by;
            }
        };
        match &payload {
            Payload::DrillStarted(_) => {
                started.get_or_insert(event.at);
            }
            Payload::DrillOutageSimulated(_) => {
                started = Some(started.map_or(event.at, |s: DateTime<Utc>| s.max(event.at)));
            }
            Payload::AlertPosted(_) => open(&mut phases, 0, event.at),
            Payload::IncidentDeclared(_) if incident.is_none() => {
                incident = event.incident.clone();
                // A declaration without an alert before it still opens the next phase.
                open(&mut phases, 0, event.at);
                close(&mut phases, 0, event.at, who);
                open(&mut phases, 1, event.at);
            }
            Payload::RunRequested(p) if first_request.is_none() => {
                first_request = Some(p.request.clone());
                close(&mut phases, 1, event.at, who);
                open(&mut phases, 2, event.at);
            }
            Payload::RunApproved(p) if first_request.as_deref() == Some(p.request.as_str()) => {
                close(&mut phases, 2, event.at, who);
            }
            Payload::RunStarted(_) if first_run.is_none() => {
                first_run = event.run.clone();
                open(&mut phases, 3, event.at);
            }
            Payload::RunSucceeded(_) if event.run.is_some() && event.run == first_run => {
                close(&mut phases, 3, event.at, None);
            }
            Payload::CommsDrafted(p) if first_draft.is_none() => {
                first_draft = Some(p.draft.clone());
                open(&mut phases, 4, event.at);
            }
            Payload::CommsApproved(p) if first_draft.as_deref() == Some(p.draft.as_str()) => {
                close(&mut phases, 4, event.at, who);
            }
            Payload::IncidentResolved(_)
                if event.incident.is_some() && event.incident == incident =>
            {
                resolved = true;
            }
            Payload::DrillEnded(p) => {
                ended = Some(Ending {
                    reason: p.reason,
                    at: event.at,
                    by: who,
                });
            }
            _ => {}
        }
    }
    Played {
        started,
        phases,
        people,
        incident,
        resolved,
        ended,
    }
}

/// One drilled runbook's result against the objectives, as the debrief shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    pub runbook: String,
    pub status: String,
    /// First signal → the runbook verified.
    pub recovery: Option<Duration>,
    pub rto: Option<Duration>,
    /// The data-loss window the restore measured (none on the simulation).
    pub data_loss: Option<Duration>,
}

/// Each run of the drill incident measured against the objectives, from the log.
pub fn measured(events: &[Event], played: &Played, objectives: &Objectives) -> Vec<Measured> {
    let Some(incident) = &played.incident else {
        return Vec::new();
    };
    let summary = crate::timeline::summarize(
        &crate::incident::incident_events(events, incident),
        incident,
    );
    summary
        .runs
        .iter()
        .map(|r| Measured {
            runbook: r.runbook.clone(),
            status: r.status.clone(),
            recovery: r
                .achieved_rto_ms
                .map(|ms| Duration::from_millis(ms.max(0) as u64)),
            rto: r
                .workstream
                .and_then(|w| objectives.rto_for(w))
                .map(|d| d.get()),
            data_loss: r.achieved_rpo_secs.map(Duration::from_secs),
        })
        .collect()
}

/// The debrief of a game day: how it ended, each phase's time and who closed it, where it
/// stalled, the runs against the objectives (RTO, RPO), and who did what. `scenario` names
/// the drill; `extra` lines (e.g. the detection bound) are shown under the objectives.
pub fn debrief(
    scenario: &str,
    played: &Played,
    measured: &[Measured],
    objectives: &Objectives,
    extra: &[String],
) -> String {
    let mut out = String::new();
    let lasted = |at: DateTime<Utc>| {
        played
            .started
            .map(|s| {
                format!(
                    " after {}",
                    format_elapsed((at - s).to_std().unwrap_or_default())
                )
            })
            .unwrap_or_default()
    };
    let how = match &played.ended {
        Some(Ending {
            reason: DrillEndReason::Finished,
            at,
            ..
        }) => format!("finished{}", lasted(*at)),
        Some(Ending {
            reason: DrillEndReason::Stopped,
            at,
            by,
        }) => format!(
            "stopped by {}{}",
            by.as_deref().unwrap_or("someone"),
            lasted(*at)
        ),
        Some(Ending {
            reason: DrillEndReason::TimedOut,
            at,
            ..
        }) => format!("timed out{}", lasted(*at)),
        None => "still running".to_owned(),
    };
    out.push_str(&format!(
        "🧪 DRILL game day {scenario}: debrief ({how})\nPhases (from the drill's log):\n"
    ));
    for t in &played.phases {
        let took = match (t.took(), t.from) {
            (Some(d), _) => format_elapsed(d),
            (None, Some(_)) => "not done".to_owned(),
            (None, None) => "not reached".to_owned(),
        };
        let by =
            t.by.as_deref()
                .map(|b| format!("  by {b}"))
                .unwrap_or_default();
        out.push_str(&format!("  {:<26}{took}{by}\n", t.phase.label()));
    }
    if let Some(phase) = played.stalled().filter(|_| !played.resolved) {
        out.push_str(&format!(
            "Stalled at: {} ({})\n",
            phase.label(),
            phase.waiting_for()
        ));
    }
    out.push_str("Objectives:\n");
    if measured.is_empty() {
        out.push_str("  no runbook ran\n");
    }
    for m in measured {
        let verdict = |met: bool| if met { "met" } else { "MISSED" };
        let rto = match (m.recovery, m.rto) {
            (Some(d), Some(rto)) => format!(
                "time to recovery {} (first signal → verified; RTO {}: {})",
                format_elapsed(d),
                HumanDuration(rto),
                verdict(m.status == "succeeded" && d <= rto)
            ),
            (Some(d), None) => format!("time to recovery {}", format_elapsed(d)),
            (None, _) => "not recovered".to_owned(),
        };
        let rpo = objectives.rpo.get();
        let data = m.data_loss.map_or_else(
            || "data-loss window not measured (no real database restored)".to_owned(),
            |d| {
                format!(
                    "data-loss window {} (RPO {}: {})",
                    format_elapsed(d),
                    HumanDuration(rpo),
                    verdict(d <= rpo)
                )
            },
        );
        out.push_str(&format!("  {} ({}): {rto}; {data}\n", m.runbook, m.status));
    }
    for line in extra {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str("Who did what:\n");
    if played.people.is_empty() {
        out.push_str("  nobody took part\n");
    }
    for (who, did) in &played.people {
        out.push_str(&format!("  {who}: {}\n", did.join("; ")));
    }
    out
}

#[cfg(test)]
mod tests;
