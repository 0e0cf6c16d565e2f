//! The interaction handler: slash commands, buttons, forms and autocomplete go to the bot;
//! the answers, settled buttons, threads and expiry edits come back to Discord.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serenity::all::{
    ChannelId as DiscordChannelId, CommandInteraction, ComponentInteraction, Context,
    CreateAutocompleteResponse, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, EditInteractionResponse, EditMessage, EventHandler, GuildId,
    Http, Interaction, ModalInteraction, Ready,
};

use super::{components::*, message::*, retry::*, slash::*};
use crate::approval::Person;
use crate::chat::bot::{Bot, Reply};
use crate::chat::command::Command;
use crate::ports::chat::{Action, ChannelId, Message, MessageRef};

pub(super) const OTHER_GUILD: &str = "Lifeboat only takes commands in its own server.";

/// Handles INTERACTION_CREATE: slash commands, buttons, modals and autocomplete.
pub struct Handler {
    bot: Arc<Bot>,
    guild: GuildId,
    runbooks: Vec<String>,
    incident_channel: Option<u64>,
}

/// State-changing commands are taken only in the incident channel or a thread under it, so
/// the incident's record in chat stays in one place. Without a configured channel, anywhere.
pub fn allowed_channel(incident: Option<u64>, channel: u64, parent: Option<u64>) -> bool {
    incident.is_none_or(|c| c == channel || parent == Some(c))
}

pub(super) fn parent_of(channel: Option<&serenity::all::PartialChannel>) -> Option<u64> {
    channel.and_then(|c| c.parent_id).map(|p| p.get())
}

impl Handler {
    /// `runbooks`: the names offered by autocomplete.
    pub fn new(bot: Arc<Bot>, guild_id: u64, runbooks: Vec<String>) -> Self {
        Self {
            bot,
            guild: GuildId::new(guild_id),
            runbooks,
            incident_channel: None,
        }
    }

    /// Restricts state-changing commands to this channel and its threads.
    pub fn with_incident_channel(mut self, channel: Option<u64>) -> Self {
        self.incident_channel = channel;
        self
    }

    /// The refusal for a state-changing command outside the incident channel, if any.
    fn wrong_channel(
        &self,
        command: &Command,
        who: &Person,
        channel: u64,
        parent: Option<u64>,
    ) -> Option<Reply> {
        if !command.changes_state() || allowed_channel(self.incident_channel, channel, parent) {
            return None;
        }
        let incident = self.incident_channel.unwrap_or_default();
        self.bot.refuse(who, command, "the incident channel");
        Some(Self::private(format!(
            "Refused: `/{}` changes state, so it is taken only in <#{incident}> or its threads.",
            command.name()
        )))
    }

    fn response(reply: &Reply) -> CreateInteractionResponseMessage {
        CreateInteractionResponseMessage::new()
            .content(content(&reply.message))
            .allowed_mentions(allowed_mentions(&reply.message))
            .embeds(embeds(&reply.message))
            .components(rows(&reply.message))
            .ephemeral(reply.ephemeral)
    }

    fn followup(reply: &Reply) -> CreateInteractionResponseFollowup {
        CreateInteractionResponseFollowup::new()
            .content(content(&reply.message))
            .allowed_mentions(allowed_mentions(&reply.message))
            .embeds(embeds(&reply.message))
            .components(rows(&reply.message))
            .ephemeral(reply.ephemeral)
    }

    fn private(text: impl Into<String>) -> Reply {
        Reply {
            ephemeral: true,
            message: Message {
                content: text.into(),
                ..Message::default()
            },
            settles: None,
        }
    }

    /// The incident thread a state-changing command's public answer belongs in, taken before
    /// the command runs (a resolution closes the incident, yet belongs in its thread).
    fn thread_before(&self, command: &Command) -> Option<ChannelId> {
        command
            .changes_state()
            .then(|| self.bot.incident_thread())
            .flatten()
    }

    /// What follows a delivered answer: a declaration opens the incident's thread from
    /// `starter`; other public answers to state changes are repeated in `thread`.
    async fn after(
        &self,
        declared: bool,
        thread: Option<ChannelId>,
        channel: DiscordChannelId,
        starter: Option<MessageRef>,
        reply: &Reply,
    ) {
        if declared && !reply.ephemeral {
            if let Some(thread) = self.bot.open_thread(starter.as_ref()).await {
                tracing::info!(thread = %thread.0, "incident thread opened");
            }
        } else if let Some(thread) = thread {
            self.bot
                .echo_in_thread(&thread, &ChannelId(channel.to_string()), reply)
                .await;
        }
    }

    #[tracing::instrument(skip_all, fields(interaction = %cmd.id, command = %cmd.data.name))]
    async fn on_command(&self, ctx: &Context, cmd: &CommandInteraction) {
        let reply_now = |reply: Reply| async move {
            let response = CreateInteractionResponse::Message(Self::response(&reply));
            if let Err(err) = with_retry("respond", || {
                cmd.create_response(&ctx.http, response.clone())
            })
            .await
            {
                tracing::error!(error = %err, "interaction response failed");
            }
        };
        if cmd.guild_id != Some(self.guild) {
            tracing::info!(guild = ?cmd.guild_id, "interaction from another guild refused");
            return reply_now(Self::private(OTHER_GUILD)).await;
        }
        let command = match command_from(&cmd.data) {
            Ok(command) => command,
            Err(problem) => return reply_now(Self::private(problem)).await,
        };
        let who = person(&cmd.user, cmd.member.as_deref());
        tracing::info!(command = command.name(), user = %who.id, "slash command");
        let parent = parent_of(cmd.channel.as_ref());
        if let Some(refusal) = self.wrong_channel(&command, &who, cmd.channel_id.get(), parent) {
            return reply_now(refusal).await;
        }
        let declared = matches!(command, Command::IncidentDeclare { .. });
        let thread = self.thread_before(&command);
        if !is_slow(&command) {
            let reply = self.bot.handle(command, &who).await;
            reply_now(reply.clone()).await;
            // The declaration's message starts the thread: ask Discord for its id.
            let starter = if declared && !reply.ephemeral {
                match with_retry("original", || cmd.get_response(&ctx.http)).await {
                    Ok(original) => Some(MessageRef {
                        channel: ChannelId(cmd.channel_id.to_string()),
                        id: original.id.to_string(),
                    }),
                    Err(err) => {
                        tracing::warn!(error = %err, "the declaration message could not be read; the thread starts on its own");
                        None
                    }
                }
            } else {
                None
            };
            self.after(declared, thread, cmd.channel_id, starter, &reply)
                .await;
            return;
        }
        let deferred = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
        if let Err(err) =
            with_retry("defer", || cmd.create_response(&ctx.http, deferred.clone())).await
        {
            tracing::error!(error = %err, "deferring the interaction failed");
            return;
        }
        let reply = self.bot.handle(command, &who).await;
        let sent = if reply.ephemeral {
            // The deferred answer is public: replace it with a private follow-up.
            if let Err(err) = cmd.delete_response(&ctx.http).await {
                tracing::warn!(error = %err, "deleting the deferred answer failed");
            }
            with_retry("followup", || {
                cmd.create_followup(&ctx.http, Self::followup(&reply))
            })
            .await
            .map(|_| ())
        } else {
            with_retry("edit original", || {
                cmd.edit_response(
                    &ctx.http,
                    EditInteractionResponse::new()
                        .content(content(&reply.message))
                        .embeds(embeds(&reply.message))
                        .components(rows(&reply.message))
                        .allowed_mentions(allowed_mentions(&reply.message)),
                )
            })
            .await
            .map(|posted| self.watch_expiry(&ctx.http, &reply, posted))
        };
        if let Err(err) = sent {
            tracing::error!(error = %err, "answering the interaction failed");
        }
        self.after(declared, thread, cmd.channel_id, None, &reply)
            .await;
    }

    /// A run request's message: when the request expires undecided, its buttons are disabled
    /// and it says so (pressing them would only be refused). Watched by this process only; after
    /// a restart the first press settles it instead.
    fn watch_expiry(&self, http: &Arc<Http>, reply: &Reply, posted: serenity::all::Message) {
        let Some(id) =
            reply
                .message
                .buttons
                .iter()
                .find_map(|b| match Action::parse(&b.custom_id) {
                    Ok(Action::Approve { request }) => Some(request),
                    _ => None,
                })
        else {
            return;
        };
        let Some(request) = self.bot.pending_request(&id) else {
            return;
        };
        let (bot, http) = (self.bot.clone(), http.clone());
        let wait = (request.expires_at - self.bot.now())
            .to_std()
            .unwrap_or_default();
        tokio::spawn(async move {
            tokio::time::sleep(wait + Duration::from_millis(50)).await;
            let Some(outcome) = bot.expire(&id) else {
                return;
            };
            let edit = EditMessage::new()
                .content(settled_content(&posted.content, &outcome))
                .components(disabled_rows(&posted.components));
            if let Err(err) = with_retry("expire", || {
                posted
                    .channel_id
                    .edit_message(&http, posted.id, edit.clone())
            })
            .await
            {
                tracing::warn!(error = %err, request = %id, "the expired request's buttons could not be disabled");
            }
        });
    }

    #[tracing::instrument(skip_all, fields(interaction = %press.id, custom_id = %press.data.custom_id))]
    // About 110 lines: the form, refusal, acknowledgement and settle paths of a press; the thin
    // handler (issue 12 item 5, not done yet) moves these decisions into the bot.
    async fn on_component(&self, ctx: &Context, press: &ComponentInteraction) {
        let reply_now = |reply: Reply| async move {
            let response = CreateInteractionResponse::Message(Self::response(&reply));
            if let Err(err) = with_retry("respond", || {
                press.create_response(&ctx.http, response.clone())
            })
            .await
            {
                tracing::error!(error = %err, "interaction response failed");
            }
        };
        if press.guild_id != Some(self.guild) {
            tracing::info!(guild = ?press.guild_id, "button from another guild refused");
            return reply_now(Self::private(OTHER_GUILD)).await;
        }
        let action = match Action::parse(&press.data.custom_id) {
            Ok(action) => action,
            Err(problem) => return reply_now(Self::private(problem.to_string())).await,
        };
        if let Action::CommsEdit { draft } = &action {
            let Some(current) = self.bot.draft_text(draft) else {
                return reply_now(Self::private(format!("no draft {draft}"))).await;
            };
            let modal = CreateInteractionResponse::Modal(edit_modal(draft, &current));
            if let Err(err) =
                with_retry("modal", || press.create_response(&ctx.http, modal.clone())).await
            {
                tracing::error!(error = %err, "opening the edit form failed");
            }
            return;
        }
        let Some(command) = command_from_action(action) else {
            // Only the edit button has no command, and it was answered with its form above.
            return reply_now(Self::private("this button opens a form")).await;
        };
        let who = person(&press.user, press.member.as_ref());
        tracing::info!(command = command.name(), user = %who.id, "button");
        let parent = parent_of(press.channel.as_ref());
        if let Some(refusal) = self.wrong_channel(&command, &who, press.channel_id.get(), parent) {
            return reply_now(refusal).await;
        }
        let declared = matches!(command, Command::IncidentDeclare { .. });
        let thread = self.thread_before(&command);
        let slow = is_slow(&command);
        // Slow: acknowledge without changing the message, then answer with a follow-up.
        if slow
            && let Err(err) = with_retry("ack", || {
                press.create_response(&ctx.http, CreateInteractionResponse::Acknowledge)
            })
            .await
        {
            tracing::error!(error = %err, "acknowledging the button failed");
            return;
        }
        let reply = self.bot.handle(command, &who).await;
        let settled = reply.settles.as_ref().map(|outcome| {
            (
                settled_content(&press.message.content, outcome),
                disabled_rows(&press.message.components),
            )
        });
        let answered = match (settled, slow) {
            (None, false) => {
                reply_now(reply.clone()).await;
                Ok(())
            }
            (None, true) => Ok(()),
            // The button's message is edited in the same response that answers the press.
            (Some((text, rows)), false) => {
                let update = CreateInteractionResponse::UpdateMessage(
                    CreateInteractionResponseMessage::new()
                        .content(text)
                        .components(rows),
                );
                with_retry("settle", || {
                    press.create_response(&ctx.http, update.clone())
                })
                .await
                .map(|_| ())
            }
            // After an acknowledgement, the original response is the button's message.
            (Some((text, rows)), true) => with_retry("settle", || {
                press.edit_response(
                    &ctx.http,
                    EditInteractionResponse::new()
                        .content(text.clone())
                        .components(rows.clone())
                        .allowed_mentions(no_mentions()),
                )
            })
            .await
            .map(|_| ()),
        };
        if let Err(err) = answered {
            tracing::error!(error = %err, "settling the buttons failed");
        }
        if (slow || reply.settles.is_some())
            && let Err(err) = with_retry("followup", || {
                press.create_followup(&ctx.http, Self::followup(&reply))
            })
            .await
        {
            tracing::error!(error = %err, "answering the button failed");
        }
        let starter = MessageRef {
            channel: ChannelId(press.channel_id.to_string()),
            id: press.message.id.to_string(),
        };
        self.after(declared, thread, press.channel_id, Some(starter), &reply)
            .await;
    }

    #[tracing::instrument(skip_all, fields(interaction = %submit.id, custom_id = %submit.data.custom_id))]
    async fn on_modal(&self, ctx: &Context, submit: &ModalInteraction) {
        let reply_now = |reply: Reply| async move {
            let response = CreateInteractionResponse::Message(Self::response(&reply));
            if let Err(err) = with_retry("respond", || {
                submit.create_response(&ctx.http, response.clone())
            })
            .await
            {
                tracing::error!(error = %err, "modal response failed");
            }
        };
        if submit.guild_id != Some(self.guild) {
            tracing::info!(guild = ?submit.guild_id, "form from another guild refused");
            return reply_now(Self::private(OTHER_GUILD)).await;
        }
        let command = match command_from_modal(&submit.data.custom_id, &submit.data.components) {
            Ok(command) => command,
            Err(problem) => return reply_now(Self::private(problem)).await,
        };
        let who = person(&submit.user, submit.member.as_ref());
        tracing::info!(command = command.name(), user = %who.id, "form");
        let parent = parent_of(submit.channel.as_ref());
        if let Some(refusal) = self.wrong_channel(&command, &who, submit.channel_id.get(), parent) {
            return reply_now(refusal).await;
        }
        let thread = self.thread_before(&command);
        let reply = self.bot.handle(command, &who).await;
        reply_now(reply.clone()).await;
        self.after(false, thread, submit.channel_id, None, &reply)
            .await;
    }

    #[tracing::instrument(skip_all, fields(interaction = %cmd.id))]
    async fn on_autocomplete(&self, ctx: &Context, cmd: &CommandInteraction) {
        let mut choices = CreateAutocompleteResponse::new();
        if cmd.guild_id == Some(self.guild)
            && let Some(focused) = cmd.data.autocomplete()
        {
            let typed = focused.value.to_lowercase();
            let known = match focused.name {
                "name" => self.runbooks.clone(),
                other => self.bot.suggestions(other),
            };
            for name in suggest(&known, &typed) {
                choices = choices.add_string_choice(name.clone(), name);
            }
        }
        let response = CreateInteractionResponse::Autocomplete(choices);
        if let Err(err) = with_retry("autocomplete", || {
            cmd.create_response(&ctx.http, response.clone())
        })
        .await
        {
            tracing::error!(error = %err, "autocomplete response failed");
        }
    }
}

/// What autocomplete offers for `typed`: names that start with it first, then names that
/// contain it, at most Discord's 25.
pub fn suggest(known: &[String], typed: &str) -> Vec<String> {
    let typed = typed.to_lowercase();
    let (mut first, rest): (Vec<&String>, Vec<&String>) = known
        .iter()
        .filter(|n| n.to_lowercase().contains(&typed))
        .partition(|n| n.to_lowercase().starts_with(&typed));
    first.extend(rest);
    first.into_iter().take(25).cloned().collect()
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        tracing::info!(user = %ready.user.name, guilds = ready.guilds.len(), "connected to Discord");
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        let handled = async {
            match &interaction {
                Interaction::Command(cmd) => self.on_command(&ctx, cmd).await,
                Interaction::Component(press) => self.on_component(&ctx, press).await,
                Interaction::Modal(submit) => self.on_modal(&ctx, submit).await,
                Interaction::Autocomplete(cmd) => self.on_autocomplete(&ctx, cmd).await,
                other => tracing::debug!(kind = ?other.kind(), "interaction ignored"),
            }
        };
        RECEIVED
            .scope(
                std::cell::Cell::new(Some(std::time::Instant::now())),
                handled,
            )
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_changes_only_in_the_incident_channel_or_its_threads() {
        assert!(allowed_channel(Some(7), 7, None));
        assert!(
            allowed_channel(Some(7), 9, Some(7)),
            "a thread under the incident channel"
        );
        assert!(!allowed_channel(Some(7), 9, None));
        assert!(!allowed_channel(Some(7), 9, Some(8)));
        assert!(
            allowed_channel(None, 9, None),
            "no channel configured: anywhere"
        );
    }

    #[test]
    fn suggestions_put_prefix_matches_first() {
        let known: Vec<String> = ["failover-hosting", "scale-up", "hosting-restore"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            suggest(&known, "HOST"),
            ["hosting-restore", "failover-hosting"]
        );
        assert_eq!(suggest(&known, "").len(), 3);
        let many: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
        assert_eq!(suggest(&many, "t").len(), 25);
    }
}
