//! One human line per event, for the timeline table: feeds and alerts, incidents and upkeep,
//! runs and steps, communications, data recovery and parity.

use std::time::Duration;

use super::text::{ms_text, one_line, or_unknown, span, suffix};
use crate::domain::event::Event;
use crate::duration::format_elapsed;
use crate::events::Payload;
use crate::incident::who;

/// One human line per event kind; unknown kinds (and events whose data does not decode) fall
/// back to the kind name.
pub fn describe(e: &Event) -> String {
    let text = match e.payload() {
        Ok(payload) => describe_feed(&payload)
            .or_else(|| describe_incident(&payload))
            .or_else(|| describe_run(e, &payload))
            .or_else(|| describe_comms(&payload))
            .or_else(|| describe_data(&payload))
            .unwrap_or_else(|| e.kind.clone()),
        Err(_) => e.kind.clone(),
    };
    one_line(&text)
}

/// Data recovery and parity.
fn describe_data(payload: &Payload) -> Option<String> {
    use Payload::*;
    Some(match payload {
        LlmParityGated(p) => format!(
            "LLM parity gate for {}: {} of {} prompts passed ({:.0}%, minimum {:.0}%): {}",
            p.provider,
            p.passed,
            p.total,
            p.share * 100.0,
            p.min_pass * 100.0,
            if p.is_open() {
                "open, the switch may go ahead"
            } else {
                "closed, the switch stops"
            }
        ),
        ParityChecked(p) => format!(
            "Parity check: {} drift(s), {} new",
            p.drift.len(),
            p.new.len()
        ),
        DbDataLossAccepted(p) => match p.window_secs {
            Some(window) => format!(
                "More data loss than the plan allows accepted by {}: {} (loses {} of data before the outage, more than {}; {} old)",
                p.by,
                p.location,
                format_elapsed(Duration::from_secs(window)),
                p.limit,
                format_elapsed(Duration::from_secs(p.age_secs)),
            ),
            // Recorded before the window was measured against the outage start.
            None => format!(
                "More data loss than the plan allows accepted by {}: {} ({} old, older than {})",
                p.by,
                p.location,
                format_elapsed(Duration::from_secs(p.age_secs)),
                p.limit
            ),
        },
        DbBackupTaken(p) => format!(
            "Database backup {} taken ({} bytes in {})",
            p.location,
            p.size,
            ms_text(i64::try_from(p.duration_ms).ok())
        ),
        DbBackupFailed(p) => format!("Database backup failed{}", suffix(&p.error)),
        _ => return None,
    })
}

/// Feeds, vendor incidents and alerts.
fn describe_feed(payload: &Payload) -> Option<String> {
    use Payload::*;
    let level = |l: Option<crate::domain::HealthLevel>| or_unknown(l.map(|l| l.as_str()));
    Some(match payload {
        FeedObserved(p) => format!(
            "{} observed {} → {}{}",
            p.provider,
            p.from.map_or("nothing", |l| l.as_str()),
            level(p.to),
            suffix(&p.summary)
        ),
        FeedDegraded(p) | FeedOutage(p) | FeedRecovered(p) | FeedMaintenance(p) => {
            let how = match payload {
                FeedDegraded(_) => "degraded",
                FeedOutage(_) => "outage",
                FeedRecovered(_) => "recovered",
                _ => "maintenance",
            };
            format!(
                "{} settled at {} ({how}){}",
                p.provider,
                level(p.to),
                suffix(&p.summary)
            )
        }
        FeedUnreadable(p) => format!("{} feed unreadable{}", p.provider, suffix(&p.reason)),
        FeedReadable(p) => format!("{} feed readable again", p.provider),
        FeedFlapping(p) => format!("{} feed flapping; alerts held", p.provider),
        FeedSettled(p) => format!("{} feed settled", p.provider),
        VendorIncidentOpened(p) | VendorIncidentUpdated(p) | VendorIncidentResolved(p) => {
            let how = match payload {
                VendorIncidentOpened(_) => "opened",
                VendorIncidentUpdated(_) => "updated",
                _ => "resolved",
            };
            format!(
                "{} status page: incident \"{}\" {how} ({})",
                p.provider,
                or_unknown(p.incident.as_ref().map(|i| &i.title)),
                or_unknown(p.incident.as_ref().map(|i| &i.status)),
            )
        }
        AlertPosted(p) | AlertUpdated(p) => format!(
            "Alert {}: {} {} ({})",
            if matches!(payload, AlertPosted(_)) {
                "posted"
            } else {
                "updated"
            },
            p.provider,
            level(p.level),
            if p.confirmed {
                "confirmed"
            } else {
                "unconfirmed"
            }
        ),
        AlertFailed(p) => format!(
            "Alert for {} could not be posted{}",
            p.provider,
            suffix(&p.error)
        ),
        AlertRecovered(p) => format!(
            "{} recovered{}",
            p.alert.provider,
            p.duration_ms
                .map(chrono::Duration::milliseconds)
                .or_else(|| p.duration_secs.map(chrono::Duration::seconds))
                .map(|d| format!(" after {}", span(d)))
                .unwrap_or_default()
        ),
        _ => return None,
    })
}

/// Incidents, drills and upkeep.
fn describe_incident(payload: &Payload) -> Option<String> {
    use Payload::*;
    Some(match payload {
        DrillStarted(p) => format!(
            "Drill started (simulated outage of {})",
            p.providers.join(", ")
        ),
        DrillMarked(_) => "Incident marked as a drill".to_owned(),
        DrillOutageSimulated(p) => format!("Drill: simulated outage of {} begins", p.provider),
        DrillFinished(_) => "Drill finished; results recorded".to_owned(),
        DrillRequested(p) => format!("Drill {} requested", p.scenario),
        IncidentDeclared(p) => format!(
            "Incident declared: {}",
            or_unknown(Some(&p.title).filter(|t| !t.is_empty()))
        ),
        IncidentResolved(_) => "Incident resolved".to_owned(),
        IncidentReviewed(_) => "Incident reviewed".to_owned(),
        IncidentThreadOpened(_) => "Incident thread opened".to_owned(),
        NoteAdded(p) if p.lesson => format!("Lesson: {}", p.text),
        NoteAdded(p) => format!("Note: {}", p.text),
        CommandRefused(p) => format!("/{} refused (needs {})", p.command, p.needs),
        ClockCheckpoint(p) => format!(
            "RTO clock {}: {}% of the budget",
            or_unknown(p.workstream.map(|w| w.as_str())),
            p.percent
        ),
        ClockCheckpointFailed(p) => format!(
            "RTO clock {} checkpoint could not be posted{}",
            or_unknown(p.workstream.map(|w| w.as_str())),
            suffix(&p.error)
        ),
        PlanReviewed(p) => format!(
            "DR plan reviewed{}",
            suffix(p.note.as_deref().unwrap_or_default())
        ),
        ReminderPosted(p) => format!("Reminder posted: {} due", p.reminder),
        ReminderFailed(p) => format!(
            "Reminder {} could not be posted{}",
            p.reminder,
            suffix(&p.error)
        ),
        RpoBreached(p) | RpoRecovered(p) | RpoReadable(p) => format!(
            "RPO watch: {}{}",
            match payload {
                RpoBreached(_) => "breached",
                RpoRecovered(_) => "recovered",
                _ => "readable",
            },
            p.backup
                .as_ref()
                .map(|b| format!(
                    ", latest backup {} old",
                    format_elapsed(Duration::from_secs(b.age_secs))
                ))
                .unwrap_or_default()
        ),
        RpoUnreadable(_) => "RPO watch: unreadable".to_owned(),
        RpoAlertFailed(p) => format!("RPO watch alert could not be posted{}", suffix(&p.error)),
        _ => return None,
    })
}

/// Requests, approvals, runs and steps.
fn describe_run(e: &Event, payload: &Payload) -> Option<String> {
    use Payload::*;
    Some(match payload {
        RunRequested(p) => format!("Run of {} requested ({})", p.runbook, p.request),
        RunApprovalCounted(p) => format!(
            "Approval of {} by {}",
            p.request,
            p.by.as_ref()
                .map_or_else(|| who(&e.actor), |person| person.name.clone())
        ),
        ApprovalRefused(p) => format!("Approval of {} refused{}", p.request, suffix(&p.reason)),
        RunApproved(p) => format!(
            "{} approved; run {} started{}",
            p.request,
            or_unknown(p.run.as_ref().map(|r| r.as_str())),
            p.wait_secs
                .map(|w| format!(
                    " ({} after the request)",
                    span(chrono::Duration::seconds(w))
                ))
                .unwrap_or_default()
        ),
        RunBreakGlass(p) => format!(
            "BREAK-GLASS: {} — {} started {} ({}) alone after {} without approval",
            p.reason,
            p.by.as_ref()
                .map_or_else(|| who(&e.actor), |person| person.name.clone()),
            p.request,
            p.runbook,
            span(chrono::Duration::seconds(p.waited_secs))
        ),
        RunBreakGlassAcknowledged(p) => format!(
            "Break-glass run {} acknowledged by {}",
            p.run.as_ref().map_or(p.request.as_str(), |r| r.as_str()),
            p.by.as_ref()
                .map_or_else(|| who(&e.actor), |person| person.name.clone())
        ),
        RunDenied(p) => format!(
            "{} denied{}",
            p.request,
            suffix(p.reason.as_deref().unwrap_or_default())
        ),
        RunRequestExpired(p) => format!("{} expired without approval", p.request),
        RunStarted(p) => format!(
            "Runbook {} started ({})",
            p.runbook,
            or_unknown(p.workstream.map(|w| w.as_str()))
        ),
        RunPaused(p) => format!("Run paused at {}{}", p.step, suffix(&p.reason)),
        RunResumed(p) => format!("Run resumed at {} ({})", p.step, p.decision),
        RunCancelRequested(_) => "Run cancellation requested".to_owned(),
        RunSucceeded(_) => "Run succeeded".to_owned(),
        RunFailed(p) => format!("Run failed at {}{}", p.step, suffix(&p.error)),
        RunAborted(p) => format!("Run aborted at {}", p.step),
        RunCancelled(_) => "Run cancelled".to_owned(),
        StepStarted(p) => format!(
            "Step {} ({}) started, attempt {}",
            p.step,
            or_unknown(p.kind.map(|k| k.as_str())),
            p.attempt
        ),
        StepRetrying(p) => format!(
            "Step {} attempt {} failed{}; retrying",
            p.step,
            p.attempt,
            suffix(&p.error)
        ),
        StepSucceeded(p) => format!(
            "Step {} succeeded in {}{}",
            p.step,
            ms_text(p.duration_ms.and_then(|ms| i64::try_from(ms).ok())),
            suffix(&p.summary)
        ),
        StepFailed(p) => format!(
            "Step {} failed after {} attempt(s){}",
            p.step,
            p.attempts.unwrap_or(1),
            suffix(&p.error)
        ),
        StepSkipped(p) => format!("Step {} skipped", p.step),
        StepInterrupted(p) => format!("Step {} interrupted ({})", p.step, p.action),
        _ => return None,
    })
}

/// Drafts, notices and notifications.
fn describe_comms(payload: &Payload) -> Option<String> {
    use Payload::*;
    Some(match payload {
        CommsDrafted(p) => format!(
            "Communication {} drafted ({} {}), written by {}",
            p.draft, p.audience, p.kind, p.writer
        ),
        CommsEdited(p) => format!("Communication {} edited", p.draft),
        CommsApproved(p) => format!("Communication {} approved (v{})", p.draft, p.version),
        CommsApprovalRefused(p) => format!(
            "Approval of communication {} refused{}",
            p.draft,
            suffix(&p.reason)
        ),
        CommsDiscarded(p) => format!("Communication {} discarded", p.draft),
        CommsResend(p) => format!("Communication {} re-sent", p.draft),
        CommsSent(p) => match p.recipients_line() {
            Some(to) => format!("Communication {} sent by {} to {to}", p.draft, p.output),
            None => format!("Communication {} sent by {}", p.draft, p.output),
        },
        CommsDeliveryFailed(p) => format!(
            "Communication {} not delivered by {} (attempt {}){}",
            p.draft,
            p.output,
            p.attempt,
            suffix(&p.error)
        ),
        NotifyDelivered(p) => format!("{} notified by {}", p.team, p.route),
        NotifyFailed(p) => format!(
            "{} not notified by {} (attempt {}){}",
            p.team,
            p.route,
            p.attempt,
            suffix(&p.error)
        ),
        _ => return None,
    })
}
