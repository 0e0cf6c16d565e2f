//! The bot core: authorises and carries out typed commands, keeps run requests and their
//! approvals in the event log, and answers with messages any adapter can deliver.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde_json::json;

use super::command::{Command, HELP};
use super::{Button, ButtonStyle, Message};
use crate::approval::{self, Person, Request, Role, Verdict};
use crate::config::Config;
use crate::domain::{Actor, IncidentId, RunId};
use crate::runbook::Runbook;
use crate::runbook::engine::Engine;
use crate::runbook::plan::{plan, plan_hash};
use crate::runbook::state::{RunStatus, fold};
use crate::steps::confirm::{Answer, Answers};
use crate::store::{EventStore, NewEvent};

/// What the bot says back to the person who issued a command.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Only the person sees it (refusals, errors, lookups).
    pub ephemeral: bool,
    pub message: Message,
}

impl Reply {
    fn private(text: impl Into<String>) -> Self {
        Self {
            ephemeral: true,
            message: Message {
                content: text.into(),
                ..Message::default()
            },
        }
    }

    fn public(message: Message) -> Self {
        Self {
            ephemeral: false,
            message,
        }
    }
}

pub struct Bot {
    config: Arc<Config>,
    runbooks: Vec<Runbook>,
    engine: Engine,
    store: Arc<dyn EventStore>,
    answers: Arc<Answers>,
    requests: Mutex<BTreeMap<String, Request>>,
    /// The open incident, read from the log once and kept as this bot declares and resolves.
    incident: Mutex<Option<(IncidentId, String)>>,
}

fn actor(p: &Person) -> Actor {
    Actor::User {
        id: p.id.clone(),
        name: p.name.clone(),
    }
}

impl Bot {
    pub fn new(
        config: Arc<Config>,
        runbooks: Vec<Runbook>,
        engine: Engine,
        store: Arc<dyn EventStore>,
    ) -> Self {
        let env = engine.env().clone();
        let bot = Self {
            config,
            runbooks,
            store,
            answers: env.answers,
            engine,
            requests: Mutex::new(BTreeMap::new()),
            incident: Mutex::new(None),
        };
        bot.restore();
        bot
    }

    /// Pending requests and the open incident survive a restart: they are read back from
    /// the log, once.
    fn restore(&self) {
        let Ok(events) = self.store.all() else {
            return;
        };
        *self.incident_slot() = open_incident_in(&events);
        let mut requests = self.lock();
        for event in events {
            let id = event.data["request"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            match event.kind.as_str() {
                "run.requested" => {
                    if let Ok(request) =
                        serde_json::from_value::<Request>(event.data["detail"].clone())
                    {
                        requests.insert(request.id.clone(), request);
                    }
                }
                "run.approval_counted" => {
                    if let (Some(r), Ok(p)) = (
                        requests.get_mut(&id),
                        serde_json::from_value(event.data["by"].clone()),
                    ) {
                        r.approvals.push(p);
                    }
                }
                "run.approved" | "run.denied" => {
                    if let Some(r) = requests.get_mut(&id) {
                        r.closed = true;
                    }
                }
                _ => {}
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Request>> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn append(&self, event: NewEvent) {
        if let Err(err) = self.store.append(event) {
            tracing::error!(error = %err, "event could not be stored");
        }
    }

    /// Records a refusal decided by an adapter (e.g. a command outside the incident channel).
    pub fn refuse(&self, who: &Person, command: &Command, needs: &str) {
        self.append(NewEvent::new(
            actor(who),
            "command.refused",
            json!({ "command": command.name(), "needs": needs }),
        ));
    }

    /// The role a command needs.
    fn needs(command: &Command) -> Option<Role> {
        match command {
            Command::Approve { .. } | Command::Deny { .. } => Some(Role::Approver),
            c if c.changes_state() => Some(Role::Responder),
            _ => None,
        }
    }

    /// Authorises and carries out one command.
    pub async fn handle(&self, command: Command, who: &Person) -> Reply {
        if let Some(role) = Self::needs(&command)
            && !approval::holds(&self.config.access, who, role)
        {
            self.append(NewEvent::new(
                actor(who),
                "command.refused",
                json!({ "command": command.name(), "needs": role.as_str() }),
            ));
            return Reply::private(format!(
                "Refused: `/{}` needs the {} role.",
                command.name(),
                role.as_str()
            ));
        }
        match command {
            Command::Help => Reply::private(HELP),
            Command::RunbookList => Reply::private(
                self.runbooks
                    .iter()
                    .map(|r| {
                        format!(
                            "{} — {} ({}, {} steps)",
                            r.name,
                            r.title,
                            r.workstream,
                            r.steps.len()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            Command::RunbookPlan { name, params } => match self.runbook(&name) {
                Ok(rb) => Reply::private(plan(self.engine.env(), rb, &params).await.human()),
                Err(reply) => reply,
            },
            Command::RunbookRun { name, params } => self.request(&name, params, who).await,
            Command::Approve { request } => self.approve(&request, who).await,
            Command::Deny { request } => self.deny(&request, who),
            Command::RunbookStatus | Command::DrStatus => Reply::private(self.status()),
            Command::RunbookDecide { run, decision } => {
                match self
                    .engine
                    .decide(&RunId(run.clone()), decision, actor(who))
                {
                    Ok(()) => Reply::private(format!("{run}: {decision:?} sent")),
                    Err(err) => Reply::private(err.to_string()),
                }
            }
            Command::RunbookCancel { run } => {
                match self.engine.cancel(&RunId(run.clone()), actor(who)) {
                    Ok(()) => Reply::private(format!("{run} will stop after its current step")),
                    Err(err) => Reply::private(err.to_string()),
                }
            }
            Command::Confirm { run, step, yes } => {
                let key = Answers::key(&run, &step);
                if self.answers.answer(
                    &key,
                    Answer {
                        yes,
                        by: who.name.clone(),
                    },
                ) {
                    Reply::private(format!(
                        "answered {} for {run} step {step}",
                        if yes { "yes" } else { "no" }
                    ))
                } else {
                    Reply::private(format!("no open question for {run} step {step}"))
                }
            }
            Command::IncidentDeclare { title } => self.declare(title, who),
            Command::IncidentStatus => Reply::private(match self.open_incident() {
                Some((id, title)) => format!("open incident {id}: {title}"),
                None => "no open incident".to_owned(),
            }),
            Command::IncidentNote { text, lesson } => match self.open_incident() {
                Some((id, _)) => {
                    self.append(
                        NewEvent::new(
                            actor(who),
                            "note.added",
                            json!({ "text": text, "lesson": lesson }),
                        )
                        .incident(id.clone()),
                    );
                    Reply::private(format!("note added to {id}"))
                }
                None => Reply::private("no open incident to add a note to"),
            },
            Command::IncidentResolve => match self.open_incident() {
                Some((id, _)) => {
                    self.append(
                        NewEvent::new(actor(who), "incident.resolved", json!({}))
                            .incident(id.clone()),
                    );
                    *self.incident_slot() = None;
                    Reply::public(text(format!("Incident {id} resolved by {}.", who.name)))
                }
                None => Reply::private("no open incident"),
            },
        }
    }

    fn runbook(&self, name: &str) -> Result<&Runbook, Reply> {
        self.runbooks
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.runbooks.iter().map(|r| r.name.as_str()).collect();
                Reply::private(format!("no runbook `{name}` (known: {})", known.join(", ")))
            })
    }

    fn declare(&self, title: String, who: &Person) -> Reply {
        if let Some((id, _)) = self.open_incident() {
            return Reply::private(format!("incident {id} is already open"));
        }
        let now = Utc::now();
        let id = IncidentId(format!("INC-{}", now.format("%Y%m%d-%H%M%S")));
        let title = if title.is_empty() {
            "Outage".to_owned()
        } else {
            title
        };
        self.append(
            NewEvent::new(actor(who), "incident.declared", json!({ "title": title }))
                .incident(id.clone()),
        );
        *self.incident_slot() = Some((id.clone(), title.clone()));
        Reply::public(text(format!(
            "🚨 Incident {id} declared by {}: {title}",
            who.name
        )))
    }

    /// The open incident.
    pub fn open_incident(&self) -> Option<(IncidentId, String)> {
        self.incident_slot().clone()
    }

    fn incident_slot(&self) -> std::sync::MutexGuard<'_, Option<(IncidentId, String)>> {
        self.incident.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn request(&self, name: &str, params: BTreeMap<String, String>, who: &Person) -> Reply {
        let rb = match self.runbook(name) {
            Ok(rb) => rb,
            Err(reply) => return reply,
        };
        let now = Utc::now();
        let id = format!("REQ-{}-{}", now.format("%H%M%S"), rb.name);
        let request = Request {
            id: id.clone(),
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
        let mut event = NewEvent::new(
            actor(who),
            "run.requested",
            json!({ "request": id, "runbook": rb.name, "detail": request }),
        );
        if let Some((incident, _)) = self.open_incident() {
            event = event.incident(incident);
        }
        self.append(event);
        self.lock().insert(id.clone(), request.clone());
        let planned = plan(self.engine.env(), rb, &params).await;
        if request.required == 0 {
            return self.start(&request, who).await;
        }
        Reply::public(Message {
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
                    custom_id: format!("approve:{id}"),
                    label: "Approve".into(),
                    style: ButtonStyle::Success,
                },
                Button {
                    custom_id: format!("deny:{id}"),
                    label: "Deny".into(),
                    style: ButtonStyle::Danger,
                },
            ],
        })
    }

    async fn approve(&self, id: &str, who: &Person) -> Reply {
        let Some(request) = self.lock().get(id).cloned() else {
            return Reply::private(format!("no request {id}"));
        };
        let current = self
            .runbooks
            .iter()
            .find(|r| r.name == request.runbook)
            .map(|rb| plan_hash(rb, &request.params))
            .unwrap_or_default();
        match approval::approve(&request, who, &self.config.access, Utc::now(), &current) {
            Verdict::Refused(refusal) => {
                self.append(NewEvent::new(
                    actor(who),
                    "approval.refused",
                    json!({ "request": id, "reason": refusal.to_string() }),
                ));
                Reply::private(format!("Refused: {refusal}."))
            }
            Verdict::Counted { remaining } => {
                self.append(NewEvent::new(
                    actor(who),
                    "run.approval_counted",
                    json!({ "request": id, "by": who }),
                ));
                if let Some(r) = self.lock().get_mut(id) {
                    r.approvals.push(who.clone());
                }
                Reply::public(text(format!(
                    "{} approved {id}; {remaining} more needed.",
                    who.name
                )))
            }
            Verdict::Approved => {
                self.append(NewEvent::new(
                    actor(who),
                    "run.approval_counted",
                    json!({ "request": id, "by": who }),
                ));
                self.start(&request, who).await
            }
        }
    }

    async fn start(&self, request: &Request, who: &Person) -> Reply {
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
                let waited = (Utc::now() - request.requested_at).num_seconds();
                self.append(
                    NewEvent::new(
                        actor(who),
                        "run.approved",
                        json!({ "request": request.id, "run": handle.run, "wait_secs": waited }),
                    )
                    .run(handle.run.clone()),
                );
                Reply::public(text(format!(
                    "✅ {} approved {}: run {} started.",
                    who.name, request.id, handle.run
                )))
            }
            Err(err) => {
                self.append(NewEvent::new(
                    actor(who),
                    "run.denied",
                    json!({ "request": request.id, "reason": err.to_string() }),
                ));
                Reply::private(format!("Cannot start: {err}"))
            }
        }
    }

    fn deny(&self, id: &str, who: &Person) -> Reply {
        let mut requests = self.lock();
        match requests.get_mut(id) {
            Some(r) if !r.closed => {
                r.closed = true;
                drop(requests);
                self.append(NewEvent::new(
                    actor(who),
                    "run.denied",
                    json!({ "request": id, "by": who }),
                ));
                Reply::public(text(format!("❌ {} denied {id}.", who.name)))
            }
            Some(_) => Reply::private(format!("{id} is already decided")),
            None => Reply::private(format!("no request {id}")),
        }
    }

    fn status(&self) -> String {
        let mut out = String::new();
        match self.open_incident() {
            Some((id, title)) => out.push_str(&format!("incident: {id} {title}\n")),
            None => out.push_str("incident: none open\n"),
        }
        let runs = self.engine.active().unwrap_or_default();
        if runs.is_empty() {
            out.push_str("runs: none active\n");
        }
        for run in runs {
            let state = match &run.status {
                RunStatus::Paused { step, reason } => format!("PAUSED at {step}: {reason}"),
                other => format!("{other:?}").to_lowercase(),
            };
            out.push_str(&format!(
                "run {} ({}): {} steps done, {state}\n",
                run.run,
                run.runbook,
                run.finished.len()
            ));
        }
        let pending: Vec<String> = self
            .lock()
            .values()
            .filter(|r| !r.closed && r.expires_at > Utc::now())
            .map(|r| {
                format!(
                    "{} ({}, {}/{} approvals)",
                    r.id,
                    r.runbook,
                    r.approvals.len(),
                    r.required
                )
            })
            .collect();
        if !pending.is_empty() {
            out.push_str(&format!("requests: {}\n", pending.join(", ")));
        }
        out
    }

    /// Every run's state, from the log (for status views).
    pub fn runs(&self) -> Vec<crate::runbook::state::RunView> {
        self.store.all().map(|e| fold(&e)).unwrap_or_default()
    }

    /// A run request, pending or decided.
    pub fn pending_request(&self, id: &str) -> Option<Request> {
        self.lock().get(id).cloned()
    }
}

/// The incident declared and not yet resolved, according to `events`.
fn open_incident_in(events: &[crate::store::Event]) -> Option<(IncidentId, String)> {
    let mut open: Option<(IncidentId, String)> = None;
    for e in events {
        match (e.kind.as_str(), &e.incident) {
            ("incident.declared", Some(id)) => {
                open = Some((
                    id.clone(),
                    e.data["title"].as_str().unwrap_or_default().to_owned(),
                ));
            }
            ("incident.resolved", Some(id)) if open.as_ref().is_some_and(|(o, _)| o == id) => {
                open = None
            }
            _ => {}
        }
    }
    open
}

fn text(content: String) -> Message {
    Message {
        content,
        ..Message::default()
    }
}
