//! The interaction handler: each slash command, button and form becomes one typed
//! `Interaction` for the bot, called once; the `Response` it gets back says what to carry
//! out (the answer, now or after an acknowledgement, settled buttons, the incident thread,
//! an expiry edit). It decides no policy: the channel rule, the thread and the expiry are
//! the bot's (`chat::bot::interaction`).

use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::{
    CommandInteraction, ComponentInteraction, Context, CreateAutocompleteResponse,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
    EditInteractionResponse, EditMessage, EventHandler, GuildId, Http,
    Interaction as DiscordInteraction, ModalInteraction, Ready,
};

use super::{components::*, message::*, retry::*, slash::*};
use crate::chat::bot::interaction::{
    Expiry, Interaction, Response, Starter, ThreadStep, ThreadWork,
};
use crate::chat::bot::{Bot, Reply};
use crate::chat::command::Command;
use crate::ports::chat::{Action, ChannelId, Message, MessageRef};

pub(super) const OTHER_GUILD: &str = "Lifeboat only takes commands in its own server.";

/// Handles INTERACTION_CREATE: slash commands, buttons, modals and autocomplete.
pub struct Handler {
    bot: Arc<Bot>,
    guild: GuildId,
    runbooks: Vec<String>,
}

pub(super) fn parent_of(channel: Option<&serenity::all::PartialChannel>) -> Option<ChannelId> {
    channel
        .and_then(|c| c.parent_id)
        .map(|p| ChannelId(p.to_string()))
}

/// The message an incident thread starts from, as the bot's [`ThreadWork`] asks: the pressed
/// message it named, or the answer, read from Discord by `original`.
async fn starter<F>(work: &ThreadWork, original: F) -> Option<MessageRef>
where
    F: Future<Output = serenity::Result<serenity::all::Message>>,
{
    match &work.step {
        ThreadStep::Open {
            starter: Starter::Pressed(pressed),
        } => Some(pressed.clone()),
        ThreadStep::Open {
            starter: Starter::Answer,
        } => match original.await {
            Ok(answer) => Some(MessageRef {
                channel: ChannelId(answer.channel_id.to_string()),
                id: answer.id.to_string(),
            }),
            Err(err) => {
                tracing::warn!(error = %err, "the declaration message could not be read; the thread starts on its own");
                None
            }
        },
        _ => None,
    }
}

/// When the bot's [`Expiry`] comes, disables the buttons of `posted` (the request's message)
/// and says how it ended. Watched by this process only; after a restart the first press
/// settles it instead.
fn schedule_expiry(http: &Arc<Http>, expiry: Expiry, posted: serenity::all::Message) {
    let http = http.clone();
    tokio::spawn(async move {
        tokio::time::sleep(expiry.after).await;
        let Some(outcome) = expiry.settle() else {
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
            tracing::warn!(error = %err, request = %expiry.request, "the expired request's buttons could not be disabled");
        }
    });
}

/// Logs a failed acknowledgement; whether it went through.
fn acknowledged_ok<T>(result: serenity::Result<T>, what: &str) -> bool {
    if let Err(err) = &result {
        tracing::error!(error = %err, "{what} failed");
    }
    result.is_ok()
}

/// Answers a button press with a message of its own.
async fn reply_to_press(ctx: &Context, press: &ComponentInteraction, reply: Reply) {
    let response = CreateInteractionResponse::Message(Handler::response(&reply));
    if let Err(err) = with_retry("respond", || {
        press.create_response(&ctx.http, response.clone())
    })
    .await
    {
        tracing::error!(error = %err, "interaction response failed");
    }
}

/// The bot's interaction for a button press: who pressed it, where, and the pressed message.
fn pressed_interaction(press: &ComponentInteraction, command: Command) -> Interaction {
    let person = person(&press.user, press.member.as_ref());
    tracing::info!(command = command.name(), user = %person.id, "button");
    let channel = ChannelId(press.channel_id.to_string());
    Interaction {
        command,
        person,
        pressed: Some(MessageRef {
            channel: channel.clone(),
            id: press.message.id.to_string(),
        }),
        channel,
        parent: parent_of(press.channel.as_ref()),
    }
}

/// Settles the pressed message's buttons when the bot's reply says so, in the same response
/// that answers the press (or, after an acknowledgement, by editing the original response:
/// the button's message); else answers the press now unless it was deferred. The follow-up
/// that a settled or deferred press still needs is the caller's.
async fn settle_or_answer(
    ctx: &Context,
    press: &ComponentInteraction,
    response: &Response,
) -> serenity::Result<()> {
    let reply = &response.reply;
    let settled = reply.settles.as_ref().map(|outcome| {
        (
            settled_content(&press.message.content, outcome),
            disabled_rows(&press.message.components),
        )
    });
    match (settled, response.deferred) {
        (None, false) => {
            reply_to_press(ctx, press, reply.clone()).await;
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
    }
}

impl Handler {
    /// `runbooks`: the names offered by autocomplete.
    pub fn new(bot: Arc<Bot>, guild_id: u64, runbooks: Vec<String>) -> Self {
        Self {
            bot,
            guild: GuildId::new(guild_id),
            runbooks,
        }
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
            request: None,
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
        let person = person(&cmd.user, cmd.member.as_deref());
        tracing::info!(command = command.name(), user = %person.id, "slash command");
        let interaction = Interaction {
            command,
            person,
            channel: ChannelId(cmd.channel_id.to_string()),
            parent: parent_of(cmd.channel.as_ref()),
            pressed: None,
        };
        let defer = || async {
            let deferred =
                CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
            let sent =
                with_retry("defer", || cmd.create_response(&ctx.http, deferred.clone())).await;
            acknowledged_ok(sent, "deferring the interaction")
        };
        let Some(response) = self.bot.interact(interaction, defer).await else {
            return;
        };
        let reply = &response.reply;
        let mut answer = None;
        if !response.deferred {
            reply_now(reply.clone()).await;
        } else if reply.ephemeral {
            // The deferred answer is public: replace it with a private follow-up.
            if let Err(err) = cmd.delete_response(&ctx.http).await {
                tracing::warn!(error = %err, "deleting the deferred answer failed");
            }
            if let Err(err) = with_retry("followup", || {
                cmd.create_followup(&ctx.http, Self::followup(reply))
            })
            .await
            {
                tracing::error!(error = %err, "answering the interaction failed");
            }
        } else {
            let edit = EditInteractionResponse::new()
                .content(content(&reply.message))
                .embeds(embeds(&reply.message))
                .components(rows(&reply.message))
                .allowed_mentions(allowed_mentions(&reply.message));
            match with_retry("edit original", || {
                cmd.edit_response(&ctx.http, edit.clone())
            })
            .await
            {
                Ok(posted) => answer = Some(posted),
                Err(err) => tracing::error!(error = %err, "answering the interaction failed"),
            }
        }
        if let Some(work) = response.thread {
            let from = starter(
                &work,
                with_retry("original", || cmd.get_response(&ctx.http)),
            )
            .await;
            work.carry_out(from).await;
        }
        if let (Some(expiry), Some(posted)) = (response.expiry, answer) {
            schedule_expiry(&ctx.http, expiry, posted);
        }
    }

    #[tracing::instrument(skip_all, fields(interaction = %press.id, custom_id = %press.data.custom_id))]
    async fn on_component(&self, ctx: &Context, press: &ComponentInteraction) {
        if press.guild_id != Some(self.guild) {
            tracing::info!(guild = ?press.guild_id, "button from another guild refused");
            return reply_to_press(ctx, press, Self::private(OTHER_GUILD)).await;
        }
        let action = match Action::parse(&press.data.custom_id) {
            Ok(action) => action,
            Err(problem) => {
                return reply_to_press(ctx, press, Self::private(problem.to_string())).await;
            }
        };
        if let Action::CommsEdit { draft } = &action {
            return self.open_edit_form(ctx, press, draft).await;
        }
        let Some(command) = command_from_action(action) else {
            // Only the edit button has no command, and it was answered with its form above.
            return reply_to_press(ctx, press, Self::private("this button opens a form")).await;
        };
        let interaction = pressed_interaction(press, command);
        // Slow: acknowledge without changing the message, then answer with a follow-up.
        let acknowledge = || async {
            let sent = with_retry("ack", || {
                press.create_response(&ctx.http, CreateInteractionResponse::Acknowledge)
            })
            .await;
            acknowledged_ok(sent, "acknowledging the button")
        };
        let Some(response) = self.bot.interact(interaction, acknowledge).await else {
            return;
        };
        let reply = &response.reply;
        if let Err(err) = settle_or_answer(ctx, press, &response).await {
            tracing::error!(error = %err, "settling the buttons failed");
        }
        if (response.deferred || reply.settles.is_some())
            && let Err(err) = with_retry("followup", || {
                press.create_followup(&ctx.http, Self::followup(reply))
            })
            .await
        {
            tracing::error!(error = %err, "answering the button failed");
        }
        if let Some(work) = response.thread {
            let from = starter(&work, std::future::pending::<serenity::Result<_>>()).await;
            work.carry_out(from).await;
        }
    }

    /// A draft's edit button: opens the edit form with the draft's current text.
    async fn open_edit_form(&self, ctx: &Context, press: &ComponentInteraction, draft: &str) {
        let Some(current) = self.bot.draft_text(draft) else {
            return reply_to_press(ctx, press, Self::private(format!("no draft {draft}"))).await;
        };
        let modal = CreateInteractionResponse::Modal(edit_modal(draft, &current));
        if let Err(err) =
            with_retry("modal", || press.create_response(&ctx.http, modal.clone())).await
        {
            tracing::error!(error = %err, "opening the edit form failed");
        }
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
        let person = person(&submit.user, submit.member.as_ref());
        tracing::info!(command = command.name(), user = %person.id, "form");
        let interaction = Interaction {
            command,
            person,
            channel: ChannelId(submit.channel_id.to_string()),
            parent: parent_of(submit.channel.as_ref()),
            pressed: None,
        };
        let defer = || async {
            let deferred =
                CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
            let sent = with_retry("defer", || {
                submit.create_response(&ctx.http, deferred.clone())
            })
            .await;
            acknowledged_ok(sent, "deferring the form")
        };
        let Some(response) = self.bot.interact(interaction, defer).await else {
            return;
        };
        let reply = &response.reply;
        let answered = if response.deferred {
            with_retry("followup", || {
                submit.create_followup(&ctx.http, Self::followup(reply))
            })
            .await
            .map(|_| ())
        } else {
            reply_now(reply.clone()).await;
            Ok(())
        };
        if let Err(err) = answered {
            tracing::error!(error = %err, "answering the form failed");
        }
        if let Some(work) = response.thread {
            let from = starter(
                &work,
                with_retry("original", || submit.get_response(&ctx.http)),
            )
            .await;
            work.carry_out(from).await;
        }
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

    async fn interaction_create(&self, ctx: Context, interaction: DiscordInteraction) {
        let handled = async {
            match &interaction {
                DiscordInteraction::Command(cmd) => self.on_command(&ctx, cmd).await,
                DiscordInteraction::Component(press) => self.on_component(&ctx, press).await,
                DiscordInteraction::Modal(submit) => self.on_modal(&ctx, submit).await,
                DiscordInteraction::Autocomplete(cmd) => self.on_autocomplete(&ctx, cmd).await,
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
