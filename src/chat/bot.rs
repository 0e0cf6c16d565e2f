//! The bot core: authorises and carries out typed commands, keeps run requests and their
//! approvals in the event log, and answers with messages any adapter can deliver.

mod break_glass;
mod comms_commands;
pub mod interaction;

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;

use super::command::{Command, HELP};
use crate::approval::{self, Person, Request, Role, Verdict};
use crate::config::Config;
use crate::domain::Scenario;
use crate::domain::event::NewEvent;
use crate::domain::{Actor, IncidentId, RunId};
use crate::engine::plan::{plan, plan_hash};
use crate::engine::{Engine, EngineError};
use crate::events::{
    ApprovalRefused, CommandRefused, DrillRequested, EventKind, IncidentDeclared, IncidentResolved,
    IncidentReviewed, NoteAdded, Payload, PlanReviewed, RunApprovalCounted, RunApproved, RunDenied,
    RunRequestExpired, RunRequested,
};
use crate::ports::chat::{
    Action, Attachment, Button, ButtonStyle, ChannelId, Message, MessageRef, incident_channel,
    incident_thread,
};
use crate::ports::clock::Clock;
use crate::ports::drill::{DrillReport, Drills};
use crate::ports::store::EventStore;
use crate::runbook::Runbook;
use crate::runbook::state::{RunStatus, fold};
use crate::steps::confirm::{Answer, Answers};
use crate::timeline::{self, Format};

/// What the bot says back to the person who issued a command.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Only the person sees it (refusals, errors, lookups).
    pub ephemeral: bool,
    pub message: Message,
    /// Set when the command settled what the buttons it came from asked (a request approved,
    /// denied or expired, a question answered, a paused run decided): how it ended, so the
    /// adapter disables those buttons and says so on the message.
    pub settles: Option<Box<str>>,
    /// The run request this reply asks approvals for: its buttons are settled when it
    /// expires undecided. (`settles` and `request` are boxed: a `Reply` is the error side of
    /// several `Result`s, and clippy's `result_large_err` bounds it at 128 bytes.)
    pub request: Option<Box<str>>,
}

impl Reply {
    fn private(text: impl Into<String>) -> Self {
        Self {
            ephemeral: true,
            message: Message {
                content: text.into(),
                ..Message::default()
            },
            settles: None,
            request: None,
        }
    }

    fn public(message: Message) -> Self {
        Self {
            ephemeral: false,
            message,
            settles: None,
            request: None,
        }
    }

    /// Marks the reply as asking approvals for `request`.
    fn asking(mut self, request: String) -> Self {
        self.request = Some(request.into());
        self
    }

    /// Marks the reply as settling its message's buttons, with how it ended.
    fn settling(mut self, outcome: impl Into<String>) -> Self {
        self.settles = Some(outcome.into().into_boxed_str());
        self
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
    /// A drill is running in the background (one at a time).
    drilling: Arc<AtomicBool>,
    /// The process's clock (from the engine's environment): ids, expiries, clocks shown.
    clock: Arc<dyn Clock>,
    /// Running drills and reading the finished ones (`None`: a bot that cannot start drills,
    /// such as the one inside a drill).
    drills: Option<Arc<dyn Drills>>,
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
            drilling: Arc::new(AtomicBool::new(false)),
            clock: env.clock,
            drills: None,
        };
        bot.restore();
        bot
    }

    /// Lets this bot start drills (`/drill start`) and read the finished ones beside its log
    /// (`/dr readiness`).
    pub fn with_drills(mut self, drills: Arc<dyn Drills>) -> Self {
        self.drills = Some(drills);
        self
    }

    /// Pending requests and the open incident survive a restart: they are read back from
    /// the log, once.
    /// Reads only what it restores: the last declaration (through the kind index) and the
    /// requests' trail, never the whole log.
    fn restore(&self) {
        let declared =
            self.store
                .recent_of_kinds(&[EventKind::IncidentDeclared.as_str()], u64::MAX, 1);
        let open = self.store.open_incidents();
        if let (Ok(declared), Ok(open)) = (declared, open) {
            // As `incident::last_open`: the last declaration, unless it was resolved since.
            *self.incident_slot() =
                crate::incident::last_open(&declared).filter(|(id, _)| open.contains(id));
        }
        let kinds: Vec<&str> = EventKind::ALL
            .iter()
            .filter(|k| k.names_a_request())
            .map(|k| k.as_str())
            .collect();
        let Ok(events) = self.store.by_kinds(&kinds) else {
            return;
        };
        let mut requests = self.lock();
        for event in events {
            if !event.event_kind().is_some_and(EventKind::names_a_request) {
                continue;
            }
            match event.payload() {
                Ok(Payload::RunRequested(RunRequested {
                    detail: Some(request),
                    ..
                })) => {
                    requests.insert(request.id.clone(), request);
                }
                Ok(Payload::RunApprovalCounted(RunApprovalCounted {
                    request,
                    by: Some(by),
                })) => {
                    if let Some(r) = requests.get_mut(&request) {
                        r.approvals.push(by);
                    }
                }
                Ok(Payload::RunApproved(RunApproved { request, .. }))
                | Ok(Payload::RunDenied(RunDenied { request, .. })) => {
                    if let Some(r) = requests.get_mut(&request) {
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

    /// Records a refusal (e.g. a command outside the incident channel).
    fn refuse(&self, who: &Person, command: &Command, needs: &str) {
        self.append(NewEvent::of(
            actor(who),
            CommandRefused {
                command: command.name().to_owned(),
                needs: needs.to_owned(),
            },
        ));
    }

    /// The id of the person who requested a run (read from the log: the request its
    /// approval named).
    fn requester_of(&self, run: &str) -> Option<String> {
        crate::views::requester_of(self.store.as_ref(), &RunId(run.to_owned()))
            .inspect_err(|err| tracing::error!(error = %err, "the event log could not be read"))
            .ok()
            .flatten()
    }

    /// The role a command needs.
    fn needs(command: &Command) -> Option<Role> {
        match command {
            Command::Approve { .. } | Command::Deny { .. } | Command::RunbookAcknowledge { .. } => {
                Some(Role::Approver)
            }
            Command::CommsApprove { .. } | Command::CommsResend { .. } => Some(Role::Communicator),
            c if c.needs_responder() => Some(Role::Responder),
            _ => None,
        }
    }

    /// Authorises and carries out one command.
    pub async fn handle(&self, command: Command, who: &Person) -> Reply {
        if let Some(role) = Self::needs(&command)
            && !approval::holds(&self.config.access, who, role)
            && !comms_commands::allowed_as_communicator(self, &command, who)
        {
            self.append(NewEvent::of(
                actor(who),
                CommandRefused {
                    command: command.name().to_owned(),
                    needs: role.as_str().to_owned(),
                },
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
            Command::RunbookBreakGlass { request, reason } => {
                self.break_glass(&request, &reason, who).await
            }
            Command::RunbookAcknowledge { run } => self.acknowledge(&run, who),
            Command::RunbookStatus => Reply::private(self.status()),
            Command::DrStatus => self.dr_status(),
            Command::DrReadiness => self.readiness().await,
            Command::DrReviewed { note } => self.plan_reviewed(note, who),
            Command::IncidentReview => self.review(who),
            Command::RunbookDecide { run, decision } => {
                match self
                    .engine
                    .decide(&RunId(run.clone()), decision, actor(who))
                {
                    Ok(()) => Reply::private(format!("{run}: {decision:?} sent"))
                        .settling(format!("{decision:?} chosen by {}", who.name)),
                    Err(err @ (EngineError::NotPaused(_) | EngineError::UnknownRun(_))) => {
                        Reply::private(err.to_string()).settling("no longer paused")
                    }
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
                // Accepting more data loss than the RPO is an approver's decision.
                if self.answers.needs_approver(&key)
                    && !approval::holds(&self.config.access, who, Role::Approver)
                {
                    self.append(NewEvent::of(
                        actor(who),
                        // The shape of every refusal (the reply names the run and step).
                        CommandRefused {
                            command: "confirm".to_owned(),
                            needs: Role::Approver.as_str().to_owned(),
                        },
                    ));
                    return Reply::private(format!(
                        "Refused: only an approver may answer {run} step {step} (it accepts more data loss than the RPO)."
                    ));
                }
                // Two-person rule: whoever asked for the run does not also accept its loss.
                if self.answers.needs_approver(&key)
                    && self.requester_of(&run).as_deref() == Some(who.id.as_str())
                {
                    self.append(NewEvent::of(
                        actor(who),
                        CommandRefused {
                            command: "confirm".to_owned(),
                            needs: "an approver other than the requester".to_owned(),
                        },
                    ));
                    return Reply::private(format!(
                        "Refused: you requested {run}; another approver must accept more data loss than the RPO for step {step}."
                    ));
                }
                // The answer carries the person, so what the step records names them.
                if self.answers.answer_as(
                    &key,
                    Answer {
                        yes,
                        by: who.name.clone(),
                    },
                    actor(who),
                ) {
                    let answer = if yes { "confirmed" } else { "rejected" };
                    Reply::private(format!("{answer} for {run} step {step}"))
                        .settling(format!("{answer} by {}", who.name))
                } else {
                    Reply::private(format!("no open question for {run} step {step}"))
                        .settling("no longer open")
                }
            }
            Command::TimelineExport { format, incident } => self.export(format, incident).await,
            Command::DrillStart { scenario } => self.drill(scenario, who),
            Command::IncidentDeclare {
                title,
                severity,
                commander,
                alert,
            } => self.declare(title, severity, commander, alert, who),
            Command::IncidentStatus => self.incident_status(),
            Command::IncidentNote { text, lesson } => match self.open_incident() {
                Some((id, _)) => {
                    self.append(
                        NewEvent::of(actor(who), NoteAdded { text, lesson }).incident(id.clone()),
                    );
                    Reply::private(format!("note added to {id}"))
                }
                None => Reply::private("no open incident to add a note to"),
            },
            Command::IncidentResolve => match self.open_incident() {
                Some((id, _)) => {
                    self.append(NewEvent::of(actor(who), IncidentResolved {}).incident(id.clone()));
                    *self.incident_slot() = None;
                    // Recovery resolves the PagerDuty alerts the incident opened.
                    let pages = self.resolve_pages(&id, who).await;
                    let pages = if pages.is_empty() {
                        String::new()
                    } else {
                        format!(" {}.", pages.join(", "))
                    };
                    Reply::public(plain_message(format!(
                        "Incident {id} resolved by {}.{pages}",
                        who.name
                    )))
                }
                None => Reply::private("no open incident"),
            },
            Command::CommsDraft { audience, kind } => self.comms_draft(&audience, &kind, who).await,
            Command::CommsShow { draft } => self.comms_show(draft.as_deref()),
            Command::CommsEdit { draft, text } => self.comms_edit(&draft, text, who),
            Command::CommsApprove { draft, version } => {
                self.comms_approve(&draft, version, who).await
            }
            Command::CommsResend { draft } => self.comms_resend(&draft, who).await,
            Command::CommsDiscard { draft } => self.comms_discard(&draft, who),
            Command::NotifyTeam { team, text } => self.notify_team(&team, text, who).await,
        }
    }

    #[expect(
        clippy::result_large_err,
        reason = "a Reply is 128 bytes; an unknown runbook is a refusal, not a hot path"
    )]
    fn runbook(&self, name: &str) -> Result<&Runbook, Reply> {
        self.runbooks
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.runbooks.iter().map(|r| r.name.as_str()).collect();
                Reply::private(format!("no runbook `{name}` (known: {})", known.join(", ")))
            })
    }

    fn declare(
        &self,
        title: String,
        severity: Option<crate::incident::Severity>,
        commander: Option<String>,
        alert: Option<String>,
        who: &Person,
    ) -> Reply {
        if let Some((id, _)) = self.open_incident() {
            return Reply::private(format!("incident {id} is already open"));
        }
        let now = self.clock.now();
        let id = IncidentId(format!("INC-{}", now.format("%Y%m%d-%H%M%S")));
        let title = if title.is_empty() {
            "Outage".to_owned()
        } else {
            title
        };
        // The affected workstreams: the alert's provider's, else every provider alerting now.
        let events = crate::views::alert_events(self.store.as_ref(), alert.as_deref())
            .unwrap_or_else(|err| {
                tracing::error!(error = %err, "the event log could not be read");
                Vec::new()
            });
        let (workstreams, providers) =
            crate::incident::affected_at_declaration(&self.config, &events, alert.as_deref());
        // The level of the alert's latest event (its posting, an update or its recovery).
        let alert_level = alert.as_deref().and_then(|a| {
            events
                .iter()
                .rev()
                .filter(|e| e.event_kind().is_some_and(EventKind::is_about_a_provider))
                .filter_map(|e| e.payload().ok())
                .find(|p| p.alert_id() == Some(a))
                .and_then(|p| p.alert()?.level)
        });
        let severity = severity
            .or(alert_level.map(crate::incident::Severity::for_level))
            .unwrap_or_default();
        let commander = commander.unwrap_or_else(|| who.name.clone());
        self.append(
            NewEvent::of(
                actor(who),
                IncidentDeclared {
                    title: title.clone(),
                    severity,
                    commander: Some(commander.clone()),
                    workstreams: workstreams.clone(),
                    providers,
                    alert,
                    provider: None,
                },
            )
            .incident(id.clone()),
        );
        *self.incident_slot() = Some((id.clone(), title.clone()));
        let affected: Vec<&str> = workstreams.iter().map(|w| w.as_str()).collect();
        Reply::public(plain_message(format!(
            "🚨 Incident {id} declared by {}: {title} ({severity}, commander {commander}{})",
            who.name,
            if affected.is_empty() {
                String::new()
            } else {
                format!(", affects {}", affected.join(", "))
            }
        )))
    }

    /// Logs a failed read of the event log; the reply to give instead.
    fn unreadable(err: crate::ports::store::StoreError) -> Reply {
        tracing::error!(error = %err, "the event log could not be read");
        Reply::private("the event log could not be read; see the bot's log")
    }

    /// `/incident status`: state, severity, commander, workstreams and clocks.
    fn incident_status(&self) -> Reply {
        let store = self.store.as_ref();
        let read = crate::views::open_incidents(store).and_then(|open| {
            let needed = crate::views::forecast_runbooks(&open, &self.config, &self.runbooks);
            let history = crate::views::step_history(store, &needed)?;
            Ok((open, history))
        });
        let (open, history) = match read {
            Ok(read) => read,
            Err(err) => return Self::unreadable(err),
        };
        if open.is_empty() {
            return Reply::private("no open incident");
        }
        Reply::private(
            open.iter()
                .map(|i| {
                    crate::incident::status_text(
                        i,
                        &self.config,
                        &self.runbooks,
                        &history,
                        self.clock.now(),
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }

    /// `/dr readiness`: the checks of `lifeboat readiness`, for the person who asked. Drills
    /// are read from this log and the `drill-*` logs beside it.
    async fn readiness(&self) -> Reply {
        let mut events = crate::readiness::store_events(self.store.as_ref());
        if let Some(drills) = self.drills.clone() {
            let data_dir = self.config.store.data_dir.clone();
            match tokio::task::spawn_blocking(move || drills.logged_events(&data_dir)).await {
                Ok(mut drills) => events.append(&mut drills),
                Err(err) => tracing::warn!(error = %err, "reading the drill logs failed"),
            }
        }
        let report = crate::readiness::run(self.engine.env(), &self.runbooks, &events).await;
        // The verdict first: a long report may be cut to fit one chat message.
        Reply::private(format!("**{}**\n{}", report.verdict(), report.render()))
    }

    /// `/dr status`: providers, open incidents with their clocks, runs, the RPO watch.
    fn dr_status(&self) -> Reply {
        match crate::views::dr_picture(self.store.as_ref(), &self.config, &self.runbooks) {
            Ok(picture) => Reply::private(crate::status::render(
                &self.config,
                &self.runbooks,
                &picture,
                self.clock.now(),
            )),
            Err(err) => Self::unreadable(err),
        }
    }

    /// `/incident review`: the latest resolved incident was reviewed (never an open one).
    fn review(&self, who: &Person) -> Reply {
        let waiting = match crate::views::awaiting_review(self.store.as_ref()) {
            Ok(waiting) => waiting,
            Err(err) => return Self::unreadable(err),
        };
        match waiting {
            Some(inc) => {
                match self.unacknowledged(&inc.id) {
                    Ok(runs) if !runs.is_empty() => {
                        return Reply::private(format!(
                            "incident {} cannot be reviewed yet: an approver must first acknowledge its break-glass run{} with `/runbook acknowledge`: {}",
                            inc.id,
                            if runs.len() == 1 { "" } else { "s" },
                            runs.join(", ")
                        ));
                    }
                    Ok(_) => {}
                    Err(err) => return Self::unreadable(err),
                }
                self.append(NewEvent::of(actor(who), IncidentReviewed {}).incident(inc.id.clone()));
                let lessons = inc.notes.iter().filter(|n| n.lesson).count();
                Reply::public(plain_message(format!(
                    "📝 Incident {} reviewed by {} ({lessons} lesson{} on record).",
                    inc.id,
                    who.name,
                    if lessons == 1 { "" } else { "s" }
                )))
            }
            None => match self.open_incident() {
                Some((id, _)) => Reply::private(format!(
                    "incident {id} is still open: resolve it before its review"
                )),
                None => Reply::private("no resolved incident is waiting for a review"),
            },
        }
    }

    /// `/dr reviewed`: records a review of the plan, which resets the review reminder.
    fn plan_reviewed(&self, note: Option<String>, who: &Person) -> Reply {
        self.append(NewEvent::of(actor(who), PlanReviewed { note }));
        let next = self.clock.now()
            + chrono::Duration::from_std(self.config.schedule.review_every.get())
                .unwrap_or(chrono::Duration::MAX);
        Reply::public(plain_message(format!(
            "📝 DR plan review recorded by {}. Next review due by {}.",
            who.name,
            next.format("%Y-%m-%d")
        )))
    }

    /// The time as this bot reads it (what its requests' expiries are measured against).
    pub fn now(&self) -> chrono::DateTime<Utc> {
        self.clock.now()
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
            .filter(|r| !r.closed && r.expires_at > self.clock.now())
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

    /// What autocomplete offers for an option: incident ids (newest first), team names,
    /// runbook names.
    pub fn suggestions(&self, option: &str) -> Vec<String> {
        match option {
            "incident" => {
                // Ids only, from the kind index: no event is read.
                let mut ids: Vec<String> = self
                    .store
                    .filed(&[EventKind::IncidentDeclared.as_str()])
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|f| f.incident.map(|i| i.0))
                    .collect();
                ids.reverse();
                ids.dedup();
                ids
            }
            "team" => self.config.teams.iter().map(|t| t.name.clone()).collect(),
            "name" | "runbook" => self.runbooks.iter().map(|r| r.name.clone()).collect(),
            _ => Vec::new(),
        }
    }

    /// The thread of the open incident, from the log (so it survives a restart).
    pub fn incident_thread(&self) -> Option<ChannelId> {
        let (id, _) = self.open_incident()?;
        self.store
            .by_incident(&id)
            .ok()
            .and_then(|events| incident_thread(&events))
    }

    /// Opens the open incident's thread, once, started from `from` (the declaration or the
    /// alert it was declared from) where the adapter has it, and records it in the log.
    pub async fn open_thread(&self, from: Option<&MessageRef>) -> Option<ChannelId> {
        self.open_thread_from(from).await
    }

    /// Renders the post-mortem of the open (or named) incident and attaches it in the
    /// incident's thread (its channel when it has none).
    async fn export(&self, format: Format, incident: Option<String>) -> Reply {
        let id = match incident.filter(|i| !i.is_empty()) {
            Some(id) => IncidentId(id),
            None => match self.open_incident() {
                Some((id, _)) => id,
                None => {
                    return Reply::private(
                        "no open incident: name one, e.g. `/timeline export format:md incident:INC-20261125-101500`",
                    );
                }
            },
        };
        // The incident's own history (what the export selects from a whole log).
        let events = match crate::views::incident_log(self.store.as_ref(), &id) {
            Ok(events) => events,
            Err(err) => {
                tracing::error!(error = %err, "the log could not be read for an export");
                return Reply::private("the event log could not be read; see the bot's log");
            }
        };
        let rendered = match timeline::render(&events, &id, format, &self.config.objectives) {
            Ok(rendered) => rendered,
            Err(err) => return Reply::private(err.to_string()),
        };
        let env = self.engine.env();
        let target = incident_channel(self.store.as_ref(), Some(&id), &env.channel);
        let file = Attachment {
            filename: format!("postmortem-{id}.{}", format.extension()),
            bytes: rendered.into_bytes(),
        };
        let note = plain_message(format!("📄 Post-mortem of {id} ({})", format.extension()));
        match env.chat.attach(&target, &note, &[file]).await {
            Ok(_) => Reply::private(format!(
                "post-mortem of {id} attached in {}",
                mention(&target)
            )),
            Err(err) => {
                tracing::error!(error = %err, incident = %id, "the export could not be attached");
                Reply::private(format!("the export could not be posted: {err}"))
            }
        }
    }

    /// Starts a drill in the background, on its own event log kept at
    /// `<data_dir>/drill-<time>` (where readiness and the drill reminder read finished
    /// drills); its summary and its Markdown post-mortem, both marked as a drill, are posted
    /// to the incident channel.
    fn drill(&self, scenario: Scenario, who: &Person) -> Reply {
        let Some(drills) = self.drills.clone() else {
            return Reply::private("drills cannot be started from here");
        };
        if self.drilling.swap(true, Ordering::SeqCst) {
            return Reply::private("a drill is already running; wait for its results");
        }
        let name = scenario.as_str();
        let dir = self.config.store.data_dir.join(format!(
            "drill-{}",
            self.clock.now().format("%Y%m%d-%H%M%S-%3f")
        ));
        self.append(NewEvent::of(
            actor(who),
            DrillRequested {
                scenario: name.to_owned(),
                log: dir.display().to_string(),
            },
        ));
        // A drill from chat runs inside the live bot: always against the simulated AWS, even
        // when `[aws] endpoint_url` is set (a VPC endpoint reaches the real account).
        let mut config = (*self.config).clone();
        config.aws.endpoint_url = None;
        config.aws.mode = crate::config::AwsMode::Simulated;
        let runbooks = self.runbooks.clone();
        let env = self.engine.env().clone();
        let drilling = DrillRunning(self.drilling.clone());
        tokio::spawn(async move {
            let (message, files) = match drills.run(&config, &runbooks, scenario, &dir).await {
                Ok(report) => drill_message(name, &report),
                Err(err) => {
                    tracing::error!(error = format!("{err:#}"), "the drill failed");
                    (
                        plain_message(format!("🧪 DRILL {name} failed: {err:#}")),
                        Vec::new(),
                    )
                }
            };
            if let Err(err) = env.chat.attach(&env.channel, &message, &files).await {
                tracing::error!(error = %err, "the drill results could not be posted");
            }
            drop(drilling);
        });
        Reply::public(plain_message(format!(
            "🧪 DRILL {name} started by {}: simulated outage, separate event log; results follow here.",
            who.name
        )))
    }

    /// A run's state, from its events.
    pub fn run(&self, run: &RunId) -> Option<crate::runbook::state::RunView> {
        self.store.by_run(run).ok().and_then(|e| fold(&e).pop())
    }

    /// Every run's state in order of start (the kind index names them; each run's own events
    /// are read): its cost grows with the runs on record, so no command path calls it.
    pub fn runs(&self) -> Vec<crate::runbook::state::RunView> {
        let started = self.store.filed(&[EventKind::RunStarted.as_str()]);
        started
            .unwrap_or_default()
            .into_iter()
            .filter_map(|filed| self.run(&filed.run?))
            .collect()
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

/// Marks a drill as running until dropped, so a drill that fails or panics frees the slot.
struct DrillRunning(Arc<AtomicBool>);

impl Drop for DrillRunning {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// A finished drill's report: its summary, and its Markdown post-mortem marked as a drill.
fn drill_message(name: &str, report: &DrillReport) -> (Message, Vec<Attachment>) {
    let message = plain_message(format!(
        "🧪 DRILL {name} finished (simulated; the live log is untouched)\n```{}```",
        report.summary
    ));
    let file = Attachment {
        filename: format!("drill-{}.md", report.incident),
        bytes: format!(
            "> **DRILL** ({name}): every event below was simulated by a Lifeboat drill.\n\n{}",
            report.postmortem
        )
        .into_bytes(),
    };
    (message, vec![file])
}

/// How a channel is named in a message (a Discord mention for snowflakes).
fn mention(channel: &ChannelId) -> String {
    if channel.0.bytes().all(|b| b.is_ascii_digit()) {
        format!("<#{}>", channel.0)
    } else {
        format!("#{}", channel.0)
    }
}

/// A run request's id: the date and time for people, the runbook, and a random suffix so
/// requests made in the same second differ. The runbook's name is cut so that
/// `approve:<id>` stays within Discord's 100-character `custom_id`.
fn request_id(now: chrono::DateTime<Utc>, runbook: &str, suffix: u16) -> String {
    let name: String = runbook.chars().take(60).collect();
    format!("REQ-{}-{name}-{suffix:04x}", now.format("%Y%m%d-%H%M%S"))
}

/// A message of text alone (no embeds, no buttons).
fn plain_message(content: String) -> Message {
    Message {
        content,
        ..Message::default()
    }
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
