//! Break-glass for the solo responder: on a sev1 incident, the requester starts a run alone
//! once the runbook's `[approval] break_glass_after` passed without approval (the decision is
//! `approval::break_glass`); the approvers are pinged, and the incident cannot be reviewed
//! until one of them acknowledges the run.

use std::collections::BTreeMap;

use super::{Bot, Reply, actor, plain_message};
use crate::approval::{self, Person};
use crate::domain::event::{Event, NewEvent};
use crate::domain::{IncidentId, RunId, Severity};
use crate::duration::format_elapsed;
use crate::events::{
    ApprovalRefused, EventKind, RunApproved, RunBreakGlass, RunBreakGlassAcknowledged,
};
use crate::ports::chat::Message;
use crate::ports::store::StoreError;

/// A break-glass run as the log tells it.
struct Broken {
    event: Event,
    glass: RunBreakGlass,
    run: Option<RunId>,
    acknowledged: bool,
}

impl Bot {
    /// The severity of incident `id` (`None`: the log cannot be read).
    fn severity_of(&self, id: &IncidentId) -> Option<Severity> {
        let events = crate::views::incident_log(self.store.as_ref(), id).ok()?;
        Some(crate::incident::view(&events, id).severity)
    }

    /// `/runbook break-glass REQUEST REASON`.
    pub(super) async fn break_glass(&self, id: &str, reason: &str, who: &Person) -> Reply {
        // Read once: the severity checked and the incident the break-glass is filed under are
        // the same one, even if the incident is resolved meanwhile.
        let incident = self.open_incident().map(|(id, _)| id);
        let sev1 = incident
            .as_ref()
            .is_some_and(|id| self.severity_of(id) == Some(Severity::Sev1));
        let decided = {
            let mut requests = self.lock();
            let Some(request) = requests.get_mut(id) else {
                return Reply::private(format!("no request {id}"));
            };
            let after = self
                .runbooks
                .iter()
                .find(|r| r.name == request.runbook)
                .and_then(|rb| rb.approval.break_glass_after)
                .map(|d| d.get());
            let decided =
                approval::break_glass(request, who, sev1, after, reason, self.clock.now());
            if decided.is_ok() {
                // Closed under the lock, so an approval pressed now finds it decided.
                request.closed = true;
            }
            decided.map(|waited| (request.clone(), waited))
        };
        let (request, waited) = match decided {
            Ok(ok) => ok,
            Err(refusal) => {
                self.append(NewEvent::of(
                    actor(who),
                    ApprovalRefused {
                        request: id.to_owned(),
                        reason: format!("break-glass: {refusal}"),
                    },
                ));
                return Reply::private(format!("Refused: {refusal}."));
            }
        };
        let reason = reason.trim().to_owned();
        let mut event = NewEvent::of(
            actor(who),
            RunBreakGlass {
                request: id.to_owned(),
                runbook: request.runbook.clone(),
                by: Some(who.clone()),
                reason: reason.clone(),
                waited_secs: waited,
            },
        );
        if let Some(incident) = incident {
            event = event.incident(incident);
        }
        // Recorded before the run starts: the log says why it ran without approval even when
        // the start fails.
        self.append(event);
        let started = self.start(&request, who).await;
        if started.ephemeral {
            return started;
        }
        let approvers = &self.config.access.approvers;
        let mentions: String = approvers.iter().map(|r| format!("<@&{r}> ")).collect();
        Reply::public(Message {
            content: format!(
                "🚨 BREAK-GLASS: {reason}\n{} started {id} alone after {} without approval. {}\n{mentions}please acknowledge with `/runbook acknowledge {id}`.",
                who.name,
                format_elapsed(std::time::Duration::from_secs(waited.max(0) as u64)),
                started.message.content,
            ),
            pings: approvers.iter().cloned().collect(),
            ..Message::default()
        })
        .settling(format!("break-glass by {}", who.name))
    }

    /// Every break-glass run, with its run (from `run.approved`) and whether it was
    /// acknowledged.
    fn broken(&self) -> Result<Vec<Broken>, StoreError> {
        let kinds = [
            EventKind::RunBreakGlass,
            EventKind::RunApproved,
            EventKind::RunBreakGlassAcknowledged,
        ]
        .map(EventKind::as_str);
        let events = self.store.by_kinds(&kinds)?;
        let mut runs: BTreeMap<String, RunId> = BTreeMap::new();
        let mut acknowledged: Vec<String> = Vec::new();
        for e in &events {
            if let Some(RunApproved {
                request,
                run: Some(run),
                ..
            }) = e.data_as::<RunApproved>()
            {
                runs.insert(request, run);
            } else if let Some(ack) = e.data_as::<RunBreakGlassAcknowledged>() {
                acknowledged.push(ack.request);
            }
        }
        Ok(events
            .iter()
            .filter_map(|e| Some((e, e.data_as::<RunBreakGlass>()?)))
            .map(|(e, glass)| Broken {
                run: runs.get(&glass.request).cloned(),
                acknowledged: acknowledged.contains(&glass.request),
                event: e.clone(),
                glass,
            })
            .collect())
    }

    /// The break-glass runs of `incident` no approver has acknowledged yet (their requests).
    pub(super) fn unacknowledged(&self, incident: &IncidentId) -> Result<Vec<String>, StoreError> {
        Ok(self
            .broken()?
            .into_iter()
            .filter(|b| !b.acknowledged && b.event.incident.as_ref() == Some(incident))
            .map(|b| b.run.map_or(b.glass.request, |r| r.0))
            .collect())
    }

    /// `/runbook acknowledge RUN` (a run or request id): an approver other than the one who
    /// broke the glass has looked at the run.
    pub(super) fn acknowledge(&self, key: &str, who: &Person) -> Reply {
        let broken = match self.broken() {
            Ok(broken) => broken,
            Err(err) => return Self::unreadable(err),
        };
        let Some(b) = broken
            .into_iter()
            .find(|b| b.glass.request == key || b.run.as_ref().is_some_and(|r| r.0 == key))
        else {
            return Reply::private(format!("no break-glass run {key}"));
        };
        if b.acknowledged {
            return Reply::private(format!("{key} is already acknowledged"));
        }
        if b.glass.by.as_ref().is_some_and(|p| p.id == who.id) {
            return Reply::private(
                "you broke the glass on this run: another approver must acknowledge it",
            );
        }
        let mut event = NewEvent::of(
            actor(who),
            RunBreakGlassAcknowledged {
                request: b.glass.request.clone(),
                run: b.run.clone(),
                by: Some(who.clone()),
            },
        );
        if let Some(incident) = b.event.incident.clone() {
            event = event.incident(incident);
        }
        if let Some(run) = b.run.clone() {
            event = event.run(run);
        }
        self.append(event);
        Reply::public(plain_message(format!(
            "👀 {} acknowledged the break-glass run {} ({}).",
            who.name,
            b.run.map_or(b.glass.request, |r| r.0),
            b.glass.reason
        )))
    }
}
