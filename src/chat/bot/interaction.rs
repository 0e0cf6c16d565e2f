//! One interaction, decided at once: the chat adapter hands the bot a typed [`Interaction`]
//! (command, person, channel, parent channel, the pressed message) and gets back a
//! [`Response`] saying everything it has to carry out — the answer (private or public, now
//! or after an acknowledgement), the pressed message's buttons to settle, the incident thread
//! to open or the answer to repeat there, and the request whose buttons expire at a time.
//! The channel rule, the choice of thread and the expiry live here, not in the adapter.

use std::sync::Arc;
use std::time::Duration;

use super::{Bot, Reply, mention};
use crate::approval::Person;
use crate::chat::command::Command;
use crate::domain::event::NewEvent;
use crate::domain::{Actor, IncidentId};
use crate::events::IncidentThreadOpened;
use crate::ports::chat::{ChannelId, Chat, Message, MessageRef};
use crate::ports::store::EventStore;

/// A command as it arrived from chat.
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    pub command: Command,
    pub person: Person,
    /// Where it was issued.
    pub channel: ChannelId,
    /// The channel `channel` is a thread of, if it is one.
    pub parent: Option<ChannelId>,
    /// The message whose button was pressed, for a button.
    pub pressed: Option<MessageRef>,
}

/// Everything the adapter carries out for one interaction, in this order: acknowledge when
/// `deferred`, deliver `reply` (settling the pressed message's buttons when `reply.settles`),
/// then `thread`, then schedule `expiry`.
pub struct Response {
    pub reply: Reply,
    /// Acknowledge at once and answer when done: the command may outlast Discord's 3 s.
    pub deferred: bool,
    pub thread: Option<ThreadWork>,
    pub expiry: Option<Expiry>,
}

/// Which message the incident thread starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Starter {
    /// The message whose button declared the incident (an alert).
    Pressed(MessageRef),
    /// The answer itself (the declaration): the adapter names it once posted.
    Answer,
    /// None: the thread starts on its own.
    Nothing,
}

/// What a delivered answer leaves to do in the incident's thread.
#[derive(Debug, Clone, PartialEq)]
pub enum ThreadStep {
    /// Open the open incident's thread (or reuse it), started from `starter`.
    Open { starter: Starter },
    /// Repeat the public answer in the incident's thread, where it was not given (buttons
    /// stay on the original), so the thread holds the whole story.
    Echo { thread: ChannelId, message: Message },
}

/// A [`ThreadStep`] with what carrying it out takes (the chat port, the log).
pub struct ThreadWork {
    pub step: ThreadStep,
    chat: Arc<dyn Chat>,
    store: Arc<dyn EventStore>,
    /// Where incident threads are opened.
    channel: ChannelId,
    /// The open incident and its title.
    incident: Option<(IncidentId, String)>,
}

/// A run request whose message's buttons are settled when it expires undecided.
pub struct Expiry {
    pub request: String,
    /// How long from now to settle it (a little after it expires, so it has).
    pub after: Duration,
    bot: Arc<Bot>,
}

/// How long after a request's expiry its message is settled: the expiry is measured on the
/// bot's clock, the wait on tokio's, so a little later rather than a little early.
const EXPIRY_MARGIN: Duration = Duration::from_millis(50);

/// State-changing commands are taken only in the incident channel or a thread under it, so
/// the incident's record in chat stays in one place. Without a configured channel, anywhere.
pub fn allowed_channel(
    incident: Option<&ChannelId>,
    channel: &ChannelId,
    parent: Option<&ChannelId>,
) -> bool {
    incident.is_none_or(|c| c == channel || parent == Some(c))
}

/// What happens in the incident thread after a public answer: a declaration opens it (from
/// the alert pressed, else from the answer where the answer can be named), another state
/// change given outside it is repeated in it. `thread`: the incident's thread before the
/// command ran (a resolution closes the incident, yet belongs in its thread).
pub fn thread_step(
    interaction: &Interaction,
    reply: &Reply,
    thread: Option<ChannelId>,
    deferred: bool,
) -> Option<ThreadStep> {
    if reply.ephemeral {
        return None;
    }
    if matches!(interaction.command, Command::IncidentDeclare { .. }) {
        let starter = match (&interaction.pressed, deferred) {
            (Some(pressed), _) => Starter::Pressed(pressed.clone()),
            (None, false) => Starter::Answer,
            (None, true) => Starter::Nothing,
        };
        return Some(ThreadStep::Open { starter });
    }
    let thread = thread.filter(|t| *t != interaction.channel)?;
    Some(ThreadStep::Echo {
        thread,
        message: Message {
            buttons: Vec::new(),
            ..reply.message.clone()
        },
    })
}

impl Bot {
    /// Decides one interaction: refuses a state change outside the incident channel, carries
    /// out the command, and says what the adapter does next. A command that may outlast
    /// Discord's 3 s is acknowledged first through `acknowledge` (the adapter's own way);
    /// `None` when that failed, and the command was not run.
    pub async fn interact<F, Fut>(
        self: &Arc<Self>,
        interaction: Interaction,
        acknowledge: F,
    ) -> Option<Response>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = bool>,
    {
        // While a game day runs, what belongs to it is played on the drill's bot and log.
        // Its answers are marked DRILL like everything else it says.
        if let Some(drill) = self.gameday_bot_for(&interaction) {
            let mut response = Box::pin(drill.interact(interaction, acknowledge)).await?;
            response.reply.message = crate::drill::mark(&response.reply.message);
            return Some(response);
        }
        let command = &interaction.command;
        let incident_channel = self.incident_channel_id();
        if let Some(incident) = incident_channel.filter(|c| {
            command.changes_state()
                && !allowed_channel(Some(c), &interaction.channel, interaction.parent.as_ref())
        }) {
            self.refuse(&interaction.person, command, "the incident channel");
            return Some(Response {
                reply: Reply::private(format!(
                    "Refused: `/{}` changes state, so it is taken only in {} or its threads.",
                    command.name(),
                    mention(&incident)
                )),
                deferred: false,
                thread: None,
                expiry: None,
            });
        }
        let deferred = command.is_slow();
        if deferred && !acknowledge().await {
            return None;
        }
        let thread_before = command
            .changes_state()
            .then(|| self.incident_thread())
            .flatten();
        let reply = self
            .handle(interaction.command.clone(), &interaction.person)
            .await;
        let thread =
            thread_step(&interaction, &reply, thread_before, deferred).map(|step| self.work(step));
        let expiry = reply.request.as_deref().and_then(|id| self.expiry(id));
        Some(Response {
            reply,
            deferred,
            thread,
            expiry,
        })
    }

    /// `[discord] incident_channel_id`: where state changes are taken.
    fn incident_channel_id(&self) -> Option<ChannelId> {
        self.config
            .discord
            .as_ref()
            .and_then(|d| d.incident_channel_id.clone())
            .map(ChannelId)
    }

    fn work(&self, step: ThreadStep) -> ThreadWork {
        let env = self.engine.env();
        ThreadWork {
            step,
            chat: env.chat.clone(),
            store: self.store.clone(),
            channel: env.channel.clone(),
            incident: self.open_incident(),
        }
    }

    /// The work of opening the open incident's thread from `from` (see [`ThreadWork::open`]).
    pub(super) async fn open_thread_from(&self, from: Option<&MessageRef>) -> Option<ChannelId> {
        self.work(ThreadStep::Open {
            starter: Starter::Nothing,
        })
        .open(from)
        .await
    }

    fn expiry(self: &Arc<Self>, id: &str) -> Option<Expiry> {
        let request = self.pending_request(id)?;
        let after = (request.expires_at - self.now())
            .to_std()
            .unwrap_or_default();
        Some(Expiry {
            request: id.to_owned(),
            after: after + EXPIRY_MARGIN,
            bot: self.clone(),
        })
    }
}

impl ThreadWork {
    /// Carries the step out; `starter` is the message the thread starts from, as the adapter
    /// found it for [`Starter`] (`None` when it has none).
    pub async fn carry_out(self, starter: Option<MessageRef>) {
        match &self.step {
            ThreadStep::Open { .. } => {
                if let Some(thread) = self.open(starter.as_ref()).await {
                    tracing::info!(thread = %thread.0, "incident thread opened");
                }
            }
            ThreadStep::Echo { thread, message } => {
                if let Err(err) = self.chat.post(thread, message).await {
                    tracing::warn!(error = %err, "the reply could not be repeated in the incident thread");
                }
            }
        }
    }

    /// Opens the open incident's thread, once, started from `from` where the adapter has it,
    /// and records it in the log; the thread already on record otherwise.
    async fn open(&self, from: Option<&MessageRef>) -> Option<ChannelId> {
        let (id, title) = self.incident.clone()?;
        if let Some(thread) = self
            .store
            .by_incident(&id)
            .ok()
            .and_then(|events| crate::ports::chat::incident_thread(&events))
        {
            return Some(thread);
        }
        let name = format!("{id} {title}");
        match self.chat.open_thread(&self.channel, from, &name).await {
            Ok(thread) => {
                let event = NewEvent::of(
                    Actor::Bot,
                    IncidentThreadOpened {
                        thread: thread.clone(),
                        channel: self.channel.clone(),
                        from: from.map(|m| m.id.clone()),
                    },
                )
                .incident(id);
                if let Err(err) = self.store.append(event) {
                    tracing::error!(error = %err, "event could not be stored");
                }
                Some(thread)
            }
            Err(err) => {
                tracing::warn!(error = %err, incident = %id, "the incident thread could not be opened");
                None
            }
        }
    }
}

impl Expiry {
    /// Settles the request if it expired undecided: how it ended, for its message. `None`
    /// while it can still be decided, or once decided.
    pub fn settle(&self) -> Option<String> {
        self.bot.expire(&self.request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::chat::{Button, ButtonStyle};

    fn id(s: &str) -> ChannelId {
        ChannelId(s.to_owned())
    }

    #[test]
    fn state_changes_only_in_the_incident_channel_or_its_threads() {
        assert!(allowed_channel(Some(&id("7")), &id("7"), None));
        assert!(
            allowed_channel(Some(&id("7")), &id("9"), Some(&id("7"))),
            "a thread under the incident channel"
        );
        assert!(!allowed_channel(Some(&id("7")), &id("9"), None));
        assert!(!allowed_channel(Some(&id("7")), &id("9"), Some(&id("8"))));
        assert!(
            allowed_channel(None, &id("9"), None),
            "no channel configured: anywhere"
        );
    }

    fn interaction(command: Command, channel: &str, pressed: Option<&str>) -> Interaction {
        Interaction {
            command,
            person: Person {
                id: "1".into(),
                name: "alice".into(),
                roles: Vec::new(),
            },
            channel: id(channel),
            parent: None,
            pressed: pressed.map(|m| MessageRef {
                channel: id(channel),
                id: m.to_owned(),
            }),
        }
    }

    fn public(text: &str) -> Reply {
        Reply::public(Message {
            content: text.into(),
            buttons: vec![Button {
                custom_id: "approve:R".into(),
                label: "Approve".into(),
                style: ButtonStyle::Success,
            }],
            ..Message::default()
        })
    }

    fn declare() -> Command {
        Command::IncidentDeclare {
            title: "Heroku down".into(),
            severity: None,
            commander: None,
            alert: None,
        }
    }

    #[test]
    fn a_declaration_opens_the_thread_from_the_alert_or_its_own_answer() {
        let open = |starter| Some(ThreadStep::Open { starter });
        let typed = interaction(declare(), "7", None);
        assert_eq!(
            thread_step(&typed, &public("declared"), None, false),
            open(Starter::Answer)
        );
        assert_eq!(
            thread_step(&typed, &public("declared"), None, true),
            open(Starter::Nothing),
            "a deferred answer cannot be named"
        );
        let pressed = interaction(declare(), "7", Some("42"));
        assert_eq!(
            thread_step(&pressed, &public("declared"), None, false),
            open(Starter::Pressed(MessageRef {
                channel: id("7"),
                id: "42".into()
            }))
        );
        assert_eq!(
            thread_step(&typed, &Reply::private("refused"), None, false),
            None,
            "a refusal opens nothing"
        );
    }

    #[test]
    fn other_public_state_changes_are_repeated_in_the_thread_without_buttons() {
        let note = interaction(
            Command::IncidentNote {
                text: "DNS".into(),
                lesson: false,
            },
            "7",
            None,
        );
        let Some(ThreadStep::Echo { thread, message }) =
            thread_step(&note, &public("noted"), Some(id("T")), false)
        else {
            panic!("echoed");
        };
        assert_eq!(thread, id("T"));
        assert_eq!(message.content, "noted");
        assert!(message.buttons.is_empty(), "buttons stay on the original");
        assert_eq!(
            thread_step(&note, &public("noted"), Some(id("7")), false),
            None,
            "given in the thread itself"
        );
        assert_eq!(thread_step(&note, &public("noted"), None, false), None);
        assert_eq!(
            thread_step(&note, &Reply::private("x"), Some(id("T")), false),
            None
        );
    }
}
