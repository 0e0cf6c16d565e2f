//! Game days from chat (`/drill start mode:gameday`, `/drill stop`): the outage is simulated
//! on a drill log of its own, and real people play it. The driver starts it ([`GameDays`]) and
//! hands back the drill's own bot, on the drill's log and engine; while it runs, this bot
//! passes every interaction that belongs to the game day to that bot, so the people declare,
//! request, approve (the production approval code: roles, two-person rule, expiry), confirm
//! and approve drafts exactly as in production, and nothing of it reaches the live log.
//!
//! What belongs to the game day: anything said in the drill incident's thread, and any command
//! naming something only the drill's log holds (its alert, run request, run, incident, or a
//! draft the live log does not have). Everything else stays live, so a real outage during a
//! game day is handled as usual.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::watch;

use super::interaction::Interaction;
use super::{Bot, Reply, actor, plain_message};
use crate::approval::Person;
use crate::chat::command::Command;
use crate::config::Config;
use crate::domain::event::NewEvent;
use crate::domain::{IncidentId, RunId, Scenario};
use crate::events::{DrillMode, DrillRequested, EventKind};
use crate::ports::chat::{ChannelId, Chat};
use crate::runbook::Runbook;

/// What a game day starts from.
pub struct GameDayStart {
    /// The drill's base config (the live one, AWS simulated).
    pub config: Config,
    pub runbooks: Vec<Runbook>,
    pub scenario: Scenario,
    /// The drill's own log (`<data_dir>/drill-<time>`).
    pub dir: PathBuf,
    /// Where the people are: the live chat and incident channel (every message marked DRILL).
    pub chat: Arc<dyn Chat>,
    pub channel: ChannelId,
}

/// A running game day.
pub struct GameDay {
    /// The drill's bot: on the drill's log, with the drill's engine and stand-ins.
    pub bot: Arc<Bot>,
    /// Ends it early: who stopped it.
    pub stop: watch::Sender<Option<Person>>,
    /// Resolves once it ended and its debrief was posted.
    pub ended: Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// Starting game days: implemented by the driver that runs drills.
#[async_trait]
pub trait GameDays: Send + Sync {
    async fn start(&self, start: GameDayStart) -> anyhow::Result<GameDay>;
}

/// The game day this bot plays or passes interactions to.
pub(super) struct Playing {
    /// The drill's bot, in the live bot; `None` in the drill's bot itself.
    bot: Option<Arc<Bot>>,
    stop: watch::Sender<Option<Person>>,
}

pub(super) type Slot = Arc<Mutex<Option<Playing>>>;

impl Bot {
    /// Makes this (the drill's) bot stop its game day on `/drill stop` (the console's game day,
    /// where people talk to the drill's bot directly).
    pub fn stopping(self, stop: watch::Sender<Option<Person>>) -> Self {
        *self.playing() = Some(Playing { bot: None, stop });
        self
    }

    fn playing(&self) -> std::sync::MutexGuard<'_, Option<Playing>> {
        self.gameday.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a game day in the background (the `drilling` slot is taken by the caller).
    pub(super) fn start_gameday(
        &self,
        scenario: Scenario,
        who: &Person,
        dir: PathBuf,
        config: Config,
        done: impl Send + 'static,
    ) -> Reply {
        let Some(gamedays) = self.gamedays.clone() else {
            return Reply::private("game days cannot be started from here");
        };
        let name = scenario.as_str();
        self.append(NewEvent::of(
            actor(who),
            DrillRequested {
                scenario: name.to_owned(),
                log: dir.display().to_string(),
                mode: Some(DrillMode::Gameday),
            },
        ));
        let timeout = config.drill.gameday_timeout;
        let env = self.engine.env().clone();
        let slot = self.gameday.clone();
        let start = GameDayStart {
            config,
            runbooks: self.runbooks.clone(),
            scenario,
            dir,
            chat: env.chat.clone(),
            channel: env.channel.clone(),
        };
        tokio::spawn(async move {
            match gamedays.start(start).await {
                Ok(game) => {
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(Playing {
                        bot: Some(game.bot),
                        stop: game.stop,
                    });
                    game.ended.await;
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                Err(err) => {
                    tracing::error!(error = format!("{err:#}"), "the game day failed to start");
                    let message =
                        plain_message(format!("🧪 DRILL game day {name} failed: {err:#}"));
                    if let Err(err) = env.chat.post(&env.channel, &message).await {
                        tracing::error!(error = %err, "the game day's failure could not be posted");
                    }
                }
            }
            drop(done);
        });
        Reply::public(plain_message(format!(
            "🧪 DRILL game day {name} started by {}: a simulated outage for real people, on a separate event log. \
             The alert appears here marked DRILL: declare from it, request the runbook and approve it (two people), \
             answer its questions and approve the client draft. `/drill stop` ends it early; it times out after {timeout}.",
            who.name
        )))
    }

    /// `/drill stop`: ends the running game day; its debrief follows in its thread.
    pub(super) fn stop_gameday(&self, who: &Person) -> Reply {
        let stopped = self
            .playing()
            .as_ref()
            .map(|p| p.stop.send(Some(who.clone())).is_ok());
        match stopped {
            Some(true) => Reply::public(plain_message(format!(
                "🧪 DRILL game day stopped by {}; the debrief follows.",
                who.name
            ))),
            _ => Reply::private("no game day is running"),
        }
    }

    /// The drill's bot when `interaction` belongs to the running game day (see the module).
    pub fn gameday_bot_for(&self, interaction: &Interaction) -> Option<Arc<Bot>> {
        let bot = self.playing().as_ref()?.bot.clone()?;
        if matches!(
            interaction.command,
            Command::DrillStart { .. } | Command::DrillStop | Command::Help
        ) {
            return None;
        }
        let in_thread = bot
            .incident_thread()
            .is_some_and(|t| t == interaction.channel || interaction.parent.as_ref() == Some(&t));
        (in_thread || bot.holds(&interaction.command) && !self.holds_draft(&interaction.command))
            .then_some(bot)
    }

    /// Whether this bot's log holds what `command` names: its alert, run request, run,
    /// incident or draft.
    fn holds(&self, command: &Command) -> bool {
        let store = self.store.as_ref();
        let named = |kind: EventKind, field: &str, id: &str| {
            store.by_kinds(&[kind.as_str()]).is_ok_and(|events| {
                events
                    .iter()
                    .any(|e| e.data.get(field).and_then(|v| v.as_str()) == Some(id))
            })
        };
        match command {
            Command::IncidentDeclare { alert: Some(a), .. } => {
                named(EventKind::AlertPosted, "alert_id", a)
            }
            Command::Approve { request }
            | Command::Deny { request }
            | Command::RunbookBreakGlass { request, .. } => self.pending_request(request).is_some(),
            Command::Confirm { run, .. }
            | Command::RunbookDecide { run, .. }
            | Command::RunbookCancel { run }
            | Command::RunbookAcknowledge { run } => store
                .by_run(&RunId(run.clone()))
                .is_ok_and(|e| !e.is_empty()),
            Command::TimelineExport {
                incident: Some(id), ..
            } => store
                .by_incident(&IncidentId(id.clone()))
                .is_ok_and(|e| !e.is_empty()),
            command => {
                draft_of(command).is_some_and(|d| named(EventKind::CommsDrafted, "draft", d))
            }
        }
    }

    /// Whether `command` names a draft this bot's log holds too (draft ids count per log, so
    /// such a command outside the game day's thread stays live).
    fn holds_draft(&self, command: &Command) -> bool {
        draft_of(command).is_some() && self.holds(command)
    }
}

/// The draft a comms command names.
fn draft_of(command: &Command) -> Option<&str> {
    match command {
        Command::CommsShow { draft: Some(draft) }
        | Command::CommsApprove { draft, .. }
        | Command::CommsResend { draft }
        | Command::CommsEdit { draft, .. }
        | Command::CommsDiscard { draft } => Some(draft),
        _ => None,
    }
}
