//! Run requests and their approvals: `/runbook run` asks, `approve`/`deny` decide (two-person
//! rule, under one lock), the run starts once approved, and an undecided request expires.
//! (Break-glass and its acknowledgement are in `break_glass`.)

use std::collections::BTreeMap;
use std::hash::BuildHasher;

use chrono::Utc;

use super::{Bot, Reply, actor, plain_message};
use crate::approval::{self, Person, Request, Verdict};
use crate::chat::command::Command;
use crate::domain::Actor;
use crate::domain::event::NewEvent;
use crate::engine::plan::{plan, plan_hash};
use crate::events::{
    ApprovalRefused, RunApprovalCounted, RunApproved, RunDenied, RunRequestExpired, RunRequested,
};
use crate::ports::chat::{Action, Button, ButtonStyle, Message};

impl Bot {
    /// `/runbook run|break-glass|acknowledge` and the approve/deny buttons (routed here by
    /// `Bot::handle`).
    pub(super) async fn request_command(&self, command: Command, who: &Person) -> Reply {
        match command {
            Command::RunbookRun { name, params } => self.request(&name, params, who).await,
            Command::Approve { request } => self.approve(&request, who).await,
            Command::Deny { request } => self.deny(&request, who),
            Command::RunbookBreakGlass { request, reason } => {
                self.break_glass(&request, &reason, who).await
            }
            Command::RunbookAcknowledge { run } => self.acknowledge(&run, who),
            other => Self::misrouted("request", &other),
        }
    }

    /// `/runbook run`: a request for approvals, or the run at once when none are required.
    async fn request(&self, name: &str, params: BTreeMap<String, String>, who: &Person) -> Reply {
        let rb = match self.runbook(name) {
            Ok(rb) => rb,
            Err(reply) => return reply,
        };
        let now = self.clock.now();
        let request = Request {
            id: String::new(),
            runbook: rb.name.clone(),
            params: params.clone(),
            plan_hash: plan_hash(rb, &params),
            requester: who.clone(),
            requested_at: now,
            expires_at: approval::expiry(now, rb.approval.expires.get()),
            required: rb.approval.approvals,
            requester_may_approve: rb.approval.requester_may_approve,
            approvals: Vec::new(),
            closed: false,
        };
        // The id is chosen and taken under one lock, so no two requests ever share one.
        let request = {
            let mut requests = self.lock();
            let id = loop {
                let suffix = std::collections::hash_map::RandomState::new().hash_one(now) as u16;
                let id = request_id(now, &rb.name, suffix);
                if !requests.contains_key(&id) {
                    break id;
                }
            };
            let request = Request { id, ..request };
            requests.insert(request.id.clone(), request.clone());
            request
        };
        let id = request.id.clone();
        let mut event = NewEvent::of(
            actor(who),
            RunRequested {
                request: id.clone(),
                runbook: rb.name.clone(),
                detail: Some(request.clone()),
            },
        );
        if let Some((incident, _)) = self.open_incident() {
            event = event.incident(incident);
        }
        self.append(event);
        let planned = plan(self.engine.env(), rb, &params).await;
        if request.required == 0 {
            return self.start(&request, who).await;
        }
        Reply::public(
            Message {
                pings: Box::default(),
                content: format!(
                    "{} requests `{}` ({}). Needs {} approval{} by {}.\n{}",
                    who.name,
                    rb.name,
                    id,
                    request.required,
                    if request.required == 1 { "" } else { "s" },
                    request.expires_at.format("%H:%M UTC"),
                    planned.human()
                ),
                embeds: Vec::new(),
                buttons: vec![
                    Button {
                        custom_id: Action::Approve {
                            request: id.clone(),
                        }
                        .to_custom_id(),
                        label: "Approve".into(),
                        style: ButtonStyle::Success,
                    },
                    Button {
                        custom_id: Action::Deny {
                            request: id.clone(),
                        }
                        .to_custom_id(),
                        label: "Deny".into(),
                        style: ButtonStyle::Danger,
                    },
                ],
            }
            .simulated(self.engine.env().aws_simulated()),
        )
        .asking(id)
    }

    /// Decides one approval. The decision, the approval it adds and closing the request happen
    /// under one lock, so two approvals pressed at once can never both start the run: the
    /// later one finds the request decided.
    async fn approve(&self, id: &str, who: &Person) -> Reply {
        let (request, verdict) = {
            let mut requests = self.lock();
            let Some(request) = requests.get_mut(id) else {
                return Reply::private(format!("no request {id}"));
            };
            let current = self
                .runbooks
                .iter()
                .find(|r| r.name == request.runbook)
                .map(|rb| plan_hash(rb, &request.params))
                .unwrap_or_default();
            let verdict = approval::approve(
                request,
                who,
                &self.config.access,
                self.clock.now(),
                &current,
            );
            if !matches!(verdict, Verdict::Refused(_)) {
                // Logged under the lock, so the log holds approvals in the order decided; and
                // before it counts, so an approval the log refused never counts (the request
                // stays open for another try).
                if let Err(err) = self.store.append(NewEvent::of(
                    actor(who),
                    RunApprovalCounted {
                        request: id.to_owned(),
                        by: Some(who.clone()),
                    },
                )) {
                    tracing::error!(error = %err, request = %id, "approval could not be stored");
                    return Reply::private(format!(
                        "Not approved: the event log refused it ({err})."
                    ));
                }
            }
            match verdict {
                Verdict::Refused(_) => {}
                Verdict::Counted { .. } => request.approvals.push(who.clone()),
                Verdict::Approved => {
                    request.approvals.push(who.clone());
                    request.closed = true;
                }
            }
            (request.clone(), verdict)
        };
        match verdict {
            Verdict::Refused(refusal) => {
                self.append(NewEvent::of(
                    actor(who),
                    ApprovalRefused {
                        request: id.to_owned(),
                        reason: refusal.to_string(),
                    },
                ));
                let reply = Reply::private(format!("Refused: {refusal}."));
                match refusal {
                    approval::Refusal::Expired { at } => {
                        reply.settling(format!("expired at {}", at.format("%H:%M UTC")))
                    }
                    approval::Refusal::Closed => reply.settling("already decided"),
                    _ => reply,
                }
            }
            Verdict::Counted { remaining } => Reply::public(plain_message(format!(
                "{} approved {id}; {remaining} more needed.",
                who.name
            ))),
            Verdict::Approved => self
                .start(&request, who)
                .await
                .settling(format!("approved by {}", who.name)),
        }
    }

    /// Starts an approved request's run and logs `run.approved` (or why it could not start).
    pub(super) async fn start(&self, request: &Request, who: &Person) -> Reply {
        if let Some(r) = self.lock().get_mut(&request.id) {
            r.closed = true;
        }
        let Some(rb) = self.runbooks.iter().find(|r| r.name == request.runbook) else {
            return Reply::private(format!("runbook {} is gone", request.runbook));
        };
        let incident = self.open_incident().map(|(id, _)| id);
        match self
            .engine
            .start(rb, request.params.clone(), incident, actor(who))
        {
            Ok(handle) => {
                let waited = (self.clock.now() - request.requested_at).num_seconds();
                crate::metrics::approval_waited(
                    (self.clock.now() - request.requested_at)
                        .to_std()
                        .unwrap_or_default(),
                );
                self.append(
                    NewEvent::of(
                        actor(who),
                        RunApproved {
                            request: request.id.clone(),
                            run: Some(handle.run.clone()),
                            wait_secs: Some(waited),
                        },
                    )
                    .run(handle.run.clone()),
                );
                Reply::public(
                    plain_message(format!(
                        "✅ {} approved {}: run {} started.",
                        who.name, request.id, handle.run
                    ))
                    .simulated(self.engine.env().aws_simulated()),
                )
            }
            Err(err) => {
                self.append(NewEvent::of(
                    actor(who),
                    RunDenied {
                        request: request.id.clone(),
                        reason: Some(err.to_string()),
                        by: None,
                    },
                ));
                Reply::private(format!("Cannot start: {err}"))
            }
        }
    }

    /// A deny button: closes the request, so its run never starts.
    fn deny(&self, id: &str, who: &Person) -> Reply {
        let mut requests = self.lock();
        match requests.get_mut(id) {
            Some(r) if !r.closed => {
                r.closed = true;
                drop(requests);
                self.append(NewEvent::of(
                    actor(who),
                    RunDenied {
                        request: id.to_owned(),
                        reason: None,
                        by: Some(who.clone()),
                    },
                ));
                Reply::public(plain_message(format!("❌ {} denied {id}.", who.name)))
                    .settling(format!("denied by {}", who.name))
            }
            Some(_) => {
                Reply::private(format!("{id} is already decided")).settling("already decided")
            }
            None => Reply::private(format!("no request {id}")),
        }
    }

    /// A run request, pending or decided.
    pub fn pending_request(&self, id: &str) -> Option<Request> {
        self.lock().get(id).cloned()
    }

    /// A request nobody decided before it expired: logs `run.request_expired` and says how it
    /// ended, so the adapter can settle its message. `None` while it can still be decided, or
    /// once decided. (It stays open in memory: a late approval is refused as expired.)
    pub fn expire(&self, id: &str) -> Option<String> {
        let request = self.pending_request(id)?;
        if request.closed || self.clock.now() < request.expires_at {
            return None;
        }
        let mut event = NewEvent::of(
            Actor::Bot,
            RunRequestExpired {
                request: id.to_owned(),
                runbook: request.runbook.clone(),
                approvals: request.approvals.len(),
                required: request.required,
            },
        );
        if let Some((incident, _)) = self.open_incident() {
            event = event.incident(incident);
        }
        self.append(event);
        Some(format!(
            "expired at {} without enough approvals",
            request.expires_at.format("%H:%M UTC")
        ))
    }
}

/// A run request's id: the date and time for people, the runbook, and a random suffix so
/// requests made in the same second differ. The runbook's name is cut so that
/// `approve:<id>` stays within Discord's 100-character `custom_id`.
fn request_id(now: chrono::DateTime<Utc>, runbook: &str, suffix: u16) -> String {
    let name: String = runbook.chars().take(60).collect();
    format!("REQ-{}-{name}-{suffix:04x}", now.format("%Y%m%d-%H%M%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_carry_date_time_and_suffix_and_fit_a_custom_id() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T09:30:05Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            request_id(now, "failover-hosting", 0xab1),
            "REQ-20261125-093005-failover-hosting-0ab1"
        );
        assert_ne!(
            request_id(now, "failover-hosting", 1),
            request_id(now, "failover-hosting", 2),
            "the same runbook in the same second"
        );
        let long = "x".repeat(200);
        let id = request_id(now, &long, 0xffff);
        assert!(format!("approve:{id}").len() <= 100, "{id}");
        assert!(id.ends_with("-ffff"), "{id}");
    }
}
