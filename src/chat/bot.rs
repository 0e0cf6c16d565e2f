//! The bot core: authorises and carries out typed commands, keeps run requests and their
//! approvals in the event log, and answers with messages any adapter can deliver.
//!
//! This file holds the `Bot`, its construction, authorisation and the dispatch; each family of
//! commands is in its own file: `incident`, `runs` (runbooks and runs), `requests` (run
//! requests and approvals), `break_glass`, `dr`, `drill`, `export` (`/timeline export`),
//! `comms_commands`, and `interaction` (one chat interaction, decided at once).

mod break_glass;
mod comms_commands;
mod dr;
mod drill;
mod export;
pub mod gameday;
mod incident;
pub mod interaction;
mod requests;
mod runs;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use chrono::Utc;

use super::command::{Command, HELP};
use crate::approval::{self, Person, Request, Role};
use crate::config::Config;
use crate::domain::event::NewEvent;
use crate::domain::{Actor, IncidentId};
use crate::engine::Engine;
use crate::events::{
    CommandRefused, EventKind, Payload, RunApprovalCounted, RunApproved, RunDenied, RunRequested,
};
use crate::ports::chat::{ChannelId, Message};
use crate::ports::clock::Clock;
use crate::ports::drill::Drills;
use crate::ports::members::Members;
use crate::ports::store::EventStore;
use crate::runbook::Runbook;
use crate::steps::confirm::Answers;

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
    /// The chat's guild members, for the training record (`None`: the console, a drill).
    members: Option<Arc<dyn Members>>,
    /// Starting game days (`None`: as `drills`).
    gamedays: Option<Arc<dyn gameday::GameDays>>,
    /// The running game day: the drill's bot that interactions belonging to it go to (in the
    /// live bot), and how to stop it.
    gameday: gameday::Slot,
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
            members: None,
            gamedays: None,
            gameday: Arc::default(),
        };
        bot.restore();
        bot
    }

    /// Lets this bot start drills (`/drill start`, automatic or game days) and read the
    /// finished ones beside its log (`/dr readiness`).
    pub fn with_drills<D: Drills + gameday::GameDays + 'static>(mut self, drills: Arc<D>) -> Self {
        self.drills = Some(drills.clone());
        self.gamedays = Some(drills);
        self
    }

    /// Lets this bot list the chat's members holding a role (`/dr training`, `/dr readiness`).
    pub fn with_members(mut self, members: Option<Arc<dyn Members>>) -> Self {
        self.members = members;
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

    /// Authorises and carries out one command: each family of commands is a method in its
    /// own file (`incident`, `runs`, `requests`, `dr`, `drill`, `export`, `comms_commands`).
    pub async fn handle(&self, command: Command, who: &Person) -> Reply {
        if let Some(refusal) = self.refusal(&command, who) {
            return refusal;
        }
        match command {
            Command::Help => Reply::private(HELP),
            Command::IncidentDeclare { .. }
            | Command::IncidentStatus
            | Command::IncidentNote { .. }
            | Command::IncidentResolve
            | Command::IncidentReview => self.incident_command(command, who).await,
            Command::RunbookList
            | Command::RunbookPlan { .. }
            | Command::RunbookStatus
            | Command::RunbookDecide { .. }
            | Command::RunbookCancel { .. }
            | Command::Confirm { .. } => self.run_command(command, who).await,
            Command::RunbookRun { .. }
            | Command::Approve { .. }
            | Command::Deny { .. }
            | Command::RunbookBreakGlass { .. }
            | Command::RunbookAcknowledge { .. } => self.request_command(command, who).await,
            Command::DrStatus
            | Command::DrReadiness
            | Command::DrTraining
            | Command::DrReviewed { .. } => self.dr_command(command, who).await,
            Command::DrillStart { scenario, mode } => self.drill(scenario, mode, who),
            Command::DrillStop => self.stop_gameday(who),
            Command::TimelineExport { format, incident } => self.export(format, incident).await,
            Command::CommsDraft { .. }
            | Command::CommsShow { .. }
            | Command::CommsEdit { .. }
            | Command::CommsApprove { .. }
            | Command::CommsResend { .. }
            | Command::CommsDiscard { .. }
            | Command::NotifyTeam { .. } => self.comms_command(command, who).await,
        }
    }

    /// The refusal of a command `who` lacks the role for (logged), or `None` when allowed.
    fn refusal(&self, command: &Command, who: &Person) -> Option<Reply> {
        let role = Self::needs(command)?;
        if approval::holds(&self.config.access, who, role)
            || comms_commands::allowed_as_communicator(self, command, who)
        {
            return None;
        }
        self.refuse(who, command, role.as_str());
        Some(Reply::private(format!(
            "Refused: `/{}` needs the {} role.",
            command.name(),
            role.as_str()
        )))
    }

    /// The runbook called `name`, or the reply naming the known ones.
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

    /// Logs a failed read of the event log; the reply to give instead.
    /// A command a family's dispatch does not handle: `Bot::handle` routes every command to
    /// its family, so this means a routing mistake. Answered and logged, never a panic: one
    /// wrong arm must not take the bot down in the middle of an incident.
    fn misrouted(family: &str, command: &Command) -> Reply {
        tracing::error!(
            command = command.name(),
            family,
            "a command reached the wrong family"
        );
        Reply::private(format!(
            "`/{}` could not be handled (routed to the {family} commands); see the bot's log",
            command.name()
        ))
    }

    fn unreadable(err: crate::ports::store::StoreError) -> Reply {
        tracing::error!(error = %err, "the event log could not be read");
        Reply::private("the event log could not be read; see the bot's log")
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
}

/// How a channel is named in a message (a Discord mention for snowflakes).
fn mention(channel: &ChannelId) -> String {
    if channel.0.bytes().all(|b| b.is_ascii_digit()) {
        format!("<#{}>", channel.0)
    } else {
        format!("#{}", channel.0)
    }
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
    fn a_misrouted_command_is_answered_privately_not_a_panic() {
        let reply = Bot::misrouted("run", &Command::DrStatus);
        assert!(reply.ephemeral);
        assert_eq!(
            reply.message.content,
            "`/dr status` could not be handled (routed to the run commands); see the bot's log"
        );
    }
}
