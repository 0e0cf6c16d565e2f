//! The Discord adapter (serenity 0.12): delivers `Message`s over REST, defines and registers
//! the slash commands, and translates interactions into typed `Command`s for the bot core.
//! It only translates: every decision is the bot core's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serenity::all::{
    ButtonStyle as DiscordButtonStyle, ChannelId as DiscordChannelId, Client, ClientBuilder,
    CommandData, CommandDataOption, CommandDataOptionValue, CommandInteraction, CommandOptionType,
    ComponentInteraction, Context, CreateActionRow, CreateAutocompleteResponse, CreateButton,
    CreateCommand, CreateCommandOption, CreateEmbed, CreateEmbedFooter, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, CreateMessage,
    EditInteractionResponse, EditMessage, EventHandler, GatewayIntents, GuildId, Http, HttpBuilder,
    Interaction, Member, MessageId, Nonce, Ready, User,
};

use super::bot::{Bot, Reply};
use super::command::Command;
use super::{ButtonStyle, ChannelId, Chat, ChatError, Message, MessageRef};
use crate::approval::Person;
use crate::config::Secret;
use crate::runbook::engine::Decision;

/// Discord's limits on one message.
const MAX_CONTENT: usize = 2000;
const MAX_EMBEDS: usize = 10;
const MAX_BUTTONS_PER_ROW: usize = 5;
const MAX_ROWS: usize = 5;
const MAX_CUSTOM_ID: usize = 100;
/// How often a REST call is retried after a 429 or a 5xx, and the first pause.
const RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Builds the REST client. With `api_base` (tests, a proxy), the ratelimiter must be off:
/// serenity's ratelimiter ignores the proxy and would send requests to discord.com.
pub fn build_http(token: &Secret, api_base: Option<&str>) -> Http {
    match api_base {
        Some(base) => HttpBuilder::new(token.expose())
            .proxy(base.trim_end_matches('/'))
            .ratelimiter_disabled(true)
            .build(),
        None => HttpBuilder::new(token.expose()).build(),
    }
}

/// The gateway client with Lifeboat's handler. Never call `.token()` on the builder: it would
/// replace the Http and lose the proxy.
pub async fn client(
    token: &Secret,
    api_base: Option<&str>,
    handler: Handler,
) -> serenity::Result<Client> {
    ClientBuilder::new_with_http(build_http(token, api_base), GatewayIntents::GUILDS)
        .event_handler(handler)
        .await
}

/// A guild or channel id from config (digits only).
pub fn snowflake(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|n| *n != 0)
        .ok_or_else(|| format!("`{text}` is not a Discord id"))
}

/// The slash commands, as registered with the guild.
pub fn commands() -> Vec<CreateCommand> {
    use CommandOptionType::{Boolean, String as Text, SubCommand};
    let sub =
        |name: &str, description: &str| CreateCommandOption::new(SubCommand, name, description);
    let runbook_name = || {
        CreateCommandOption::new(Text, "name", "The runbook")
            .required(true)
            .set_autocomplete(true)
    };
    let params = || CreateCommandOption::new(Text, "params", "Parameters, as k=v k=v");
    let run_id = || CreateCommandOption::new(Text, "run", "The run id").required(true);
    vec![
        CreateCommand::new("incident")
            .description("Declare and follow an incident")
            .add_option(
                sub("declare", "Declare an incident").add_sub_option(CreateCommandOption::new(
                    Text,
                    "title",
                    "What is happening",
                )),
            )
            .add_option(sub("status", "The open incident"))
            .add_option(
                sub("note", "Add a note to the open incident")
                    .add_sub_option(
                        CreateCommandOption::new(Text, "text", "The note").required(true),
                    )
                    .add_sub_option(CreateCommandOption::new(
                        Boolean,
                        "lesson",
                        "A lesson learned, for the post-mortem",
                    )),
            )
            .add_option(sub("resolve", "Resolve the open incident")),
        CreateCommand::new("runbook")
            .description("Plan and run disaster-recovery runbooks")
            .add_option(sub("list", "The runbooks"))
            .add_option(
                sub("plan", "Dry-run a runbook")
                    .add_sub_option(runbook_name())
                    .add_sub_option(params()),
            )
            .add_option(
                sub("run", "Request a run (a second person approves)")
                    .add_sub_option(runbook_name())
                    .add_sub_option(params()),
            )
            .add_option(sub("status", "Active runs and pending requests"))
            .add_option(
                sub("resume", "Resume a paused run")
                    .add_sub_option(run_id())
                    .add_sub_option(
                        CreateCommandOption::new(Text, "decision", "What to do with the step")
                            .add_string_choice("retry", "retry")
                            .add_string_choice("skip", "skip")
                            .add_string_choice("abort", "abort"),
                    ),
            )
            .add_option(
                sub("cancel", "Stop a run after its current step").add_sub_option(run_id()),
            ),
        CreateCommand::new("dr")
            .description("Disaster-recovery status")
            .add_option(sub("status", "Providers, incidents, runs, clocks")),
    ]
}

/// Registers the slash commands with the guild (PUT replaces the whole list). Returns how
/// many Discord now has.
pub async fn register(http: &Http, guild_id: u64) -> serenity::Result<usize> {
    if http.application_id().is_none() {
        let app = http.get_current_application_info().await?;
        http.set_application_id(app.id);
    }
    let registered = GuildId::new(guild_id)
        .set_commands(http, commands())
        .await?;
    Ok(registered.len())
}

fn option<'a>(options: &'a [CommandDataOption], name: &str) -> Option<&'a CommandDataOptionValue> {
    options.iter().find(|o| o.name == name).map(|o| &o.value)
}

fn text_option(options: &[CommandDataOption], name: &str) -> Option<String> {
    match option(options, name)? {
        CommandDataOptionValue::String(s) => Some(s.trim().to_owned()),
        CommandDataOptionValue::Autocomplete { value, .. } => Some(value.trim().to_owned()),
        _ => None,
    }
}

fn required(options: &[CommandDataOption], name: &str) -> Result<String, String> {
    text_option(options, name)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("missing option `{name}`"))
}

/// `k=v k=v` as typed in the `params` option.
fn parse_params(text: &str) -> Result<BTreeMap<String, String>, String> {
    text.split_whitespace()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(format!("`{w}` is not a parameter (write NAME=VALUE)")),
        })
        .collect()
}

fn parse_decision(text: &str) -> Result<Decision, String> {
    match text {
        "retry" => Ok(Decision::Retry),
        "skip" => Ok(Decision::Skip),
        "abort" => Ok(Decision::Abort),
        other => Err(format!("`{other}`: resume with retry, skip or abort")),
    }
}

/// A slash command's data as a typed `Command`; the error is shown to the user.
pub fn command_from(data: &CommandData) -> Result<Command, String> {
    let (sub, options) = match data.options.first() {
        Some(CommandDataOption {
            name,
            value: CommandDataOptionValue::SubCommand(options),
            ..
        }) => (name.as_str(), options.as_slice()),
        _ => return Err(format!("`/{}` needs a subcommand", data.name)),
    };
    let runbook =
        |options: &[CommandDataOption]| -> Result<(String, BTreeMap<String, String>), String> {
            let name = required(options, "name")?;
            let params = parse_params(&text_option(options, "params").unwrap_or_default())?;
            Ok((name, params))
        };
    match (data.name.as_str(), sub) {
        ("incident", "declare") => Ok(Command::IncidentDeclare {
            title: text_option(options, "title").unwrap_or_default(),
        }),
        ("incident", "status") => Ok(Command::IncidentStatus),
        ("incident", "note") => Ok(Command::IncidentNote {
            text: required(options, "text")?,
            lesson: matches!(
                option(options, "lesson"),
                Some(CommandDataOptionValue::Boolean(true))
            ),
        }),
        ("incident", "resolve") => Ok(Command::IncidentResolve),
        ("runbook", "list") => Ok(Command::RunbookList),
        ("runbook", "plan") => {
            runbook(options).map(|(name, params)| Command::RunbookPlan { name, params })
        }
        ("runbook", "run") => {
            runbook(options).map(|(name, params)| Command::RunbookRun { name, params })
        }
        ("runbook", "status") => Ok(Command::RunbookStatus),
        ("runbook", "resume") => Ok(Command::RunbookDecide {
            run: required(options, "run")?,
            decision: parse_decision(
                &text_option(options, "decision").unwrap_or_else(|| "retry".into()),
            )?,
        }),
        ("runbook", "cancel") => Ok(Command::RunbookCancel {
            run: required(options, "run")?,
        }),
        ("dr", "status") => Ok(Command::DrStatus),
        (command, sub) => Err(format!("unknown command `/{command} {sub}`")),
    }
}

/// A button's `custom_id` as a typed `Command`. Ids carry everything needed, so buttons on
/// old messages still work after a restart.
pub fn command_from_custom_id(id: &str) -> Result<Command, String> {
    let unknown = || format!("unknown button `{id}`");
    let (kind, rest) = id.split_once(':').ok_or_else(unknown)?;
    let owned = |s: &str| s.to_owned();
    match kind {
        "approve" | "deny" if !rest.is_empty() && !rest.contains(':') => Ok(if kind == "approve" {
            Command::Approve {
                request: owned(rest),
            }
        } else {
            Command::Deny {
                request: owned(rest),
            }
        }),
        // The step id is the part between the run id and the answer; it may hold colons.
        "confirm" => {
            let (key, answer) = rest.rsplit_once(':').ok_or_else(unknown)?;
            let (run, step) = key.split_once(':').ok_or_else(unknown)?;
            let yes = match answer {
                "yes" => true,
                "no" => false,
                _ => return Err(unknown()),
            };
            if run.is_empty() || step.is_empty() {
                return Err(unknown());
            }
            Ok(Command::Confirm {
                run: owned(run),
                step: owned(step),
                yes,
            })
        }
        "run" => {
            let (run, decision) = rest.rsplit_once(':').ok_or_else(unknown)?;
            if run.is_empty() {
                return Err(unknown());
            }
            Ok(Command::RunbookDecide {
                run: owned(run),
                decision: parse_decision(decision).map_err(|_| unknown())?,
            })
        }
        "declare" => Ok(Command::IncidentDeclare {
            title: if rest.is_empty() {
                String::new()
            } else {
                format!("Outage: {rest}")
            },
        }),
        "plan" => {
            let (runbook, _alert) = rest.split_once(':').ok_or_else(unknown)?;
            if runbook.is_empty() {
                return Err(unknown());
            }
            Ok(Command::RunbookPlan {
                name: owned(runbook),
                params: BTreeMap::new(),
            })
        }
        _ => Err(unknown()),
    }
}

/// Commands that may take longer than Discord's 3 s: acknowledged first, answered later.
pub fn is_slow(command: &Command) -> bool {
    matches!(
        command,
        Command::RunbookRun { .. } | Command::RunbookPlan { .. } | Command::Approve { .. }
    )
}

/// Cuts `text` to at most `max` characters, on a character boundary, marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn embeds(message: &Message) -> Vec<CreateEmbed> {
    message
        .embeds
        .iter()
        .take(MAX_EMBEDS)
        .map(|e| {
            let mut embed = CreateEmbed::new()
                .title(truncate(&e.title, 256))
                .description(truncate(&e.description, 4096))
                .colour(e.colour.rgb());
            for field in e.fields.iter().take(25) {
                embed = embed.field(
                    truncate(&field.name, 256),
                    truncate(&field.value, 1024),
                    field.inline,
                );
            }
            if let Some(url) = &e.url {
                embed = embed.url(url);
            }
            if let Some(footer) = &e.footer {
                embed = embed.footer(CreateEmbedFooter::new(truncate(footer, 2048)));
            }
            embed
        })
        .collect()
}

/// Buttons as action rows of at most five; ids Discord would refuse are dropped (and logged).
pub fn rows(message: &Message) -> Vec<CreateActionRow> {
    let buttons: Vec<CreateButton> = message
        .buttons
        .iter()
        .filter(|b| {
            let ok = !b.custom_id.is_empty() && b.custom_id.len() <= MAX_CUSTOM_ID;
            if !ok {
                tracing::warn!(custom_id = %b.custom_id, "button dropped: custom_id too long or empty");
            }
            ok
        })
        .take(MAX_ROWS * MAX_BUTTONS_PER_ROW)
        .map(|b| {
            CreateButton::new(b.custom_id.clone())
                .label(truncate(&b.label, 80))
                .style(match b.style {
                    ButtonStyle::Primary => DiscordButtonStyle::Primary,
                    ButtonStyle::Secondary => DiscordButtonStyle::Secondary,
                    ButtonStyle::Success => DiscordButtonStyle::Success,
                    ButtonStyle::Danger => DiscordButtonStyle::Danger,
                })
        })
        .collect();
    buttons
        .chunks(MAX_BUTTONS_PER_ROW)
        .map(|row| CreateActionRow::Buttons(row.to_vec()))
        .collect()
}

fn content(message: &Message) -> String {
    truncate(&message.content, MAX_CONTENT)
}

/// Whether a failed call is worth repeating (rate limited, or Discord's side failed).
fn retryable(err: &serenity::Error) -> bool {
    match err {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(resp)) => {
            resp.status_code.as_u16() == 429 || resp.status_code.is_server_error()
        }
        serenity::Error::Http(serenity::http::HttpError::Request(_)) => true,
        _ => false,
    }
}

/// Runs a REST call, retrying 429 and 5xx with exponential backoff. With the ratelimiter
/// disabled (loopback tests, proxies) serenity does not retry by itself.
async fn with_retry<T, F, Fut>(what: &'static str, call: F) -> serenity::Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = serenity::Result<T>>,
{
    let mut pause = FIRST_BACKOFF;
    let mut attempt = 0;
    loop {
        match call().await {
            Err(err) if attempt < RETRIES && retryable(&err) => {
                attempt += 1;
                tracing::warn!(call = what, attempt, error = %err, "Discord call failed; retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            other => return other,
        }
    }
}

fn chat_error(err: serenity::Error) -> ChatError {
    match &err {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(resp))
            if resp.status_code.is_client_error() && resp.status_code.as_u16() != 429 =>
        {
            ChatError::Rejected(err.to_string())
        }
        _ => ChatError::Unavailable(err.to_string()),
    }
}

fn channel_id(channel: &ChannelId) -> Result<DiscordChannelId, ChatError> {
    snowflake(&channel.0)
        .map(DiscordChannelId::new)
        .map_err(ChatError::Rejected)
}

fn message_id(id: &str) -> Result<MessageId, ChatError> {
    snowflake(id)
        .map(MessageId::new)
        .map_err(ChatError::Rejected)
}

/// `Chat` over Discord's REST API.
pub struct DiscordChat {
    http: Arc<Http>,
    /// Makes each post's nonce unique, so a retried POST is not posted twice.
    posts: AtomicU64,
    started: u64,
}

impl DiscordChat {
    pub fn new(http: Arc<Http>) -> Self {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        Self {
            http,
            posts: AtomicU64::new(0),
            started,
        }
    }

    /// One nonce per logical post (≤ 25 chars), reused by its retries: with `enforce_nonce`
    /// Discord returns the first message instead of creating a duplicate.
    fn nonce(&self) -> String {
        let n = self.posts.fetch_add(1, Ordering::Relaxed);
        format!("lb{:x}-{n:x}", self.started)
    }

    fn create(message: &Message, nonce: &str) -> CreateMessage {
        CreateMessage::new()
            .content(content(message))
            .embeds(embeds(message))
            .components(rows(message))
            .nonce(Nonce::String(nonce.to_owned()))
            .enforce_nonce(true)
    }
}

#[async_trait]
impl Chat for DiscordChat {
    async fn post(&self, channel: &ChannelId, message: &Message) -> Result<MessageRef, ChatError> {
        let target = channel_id(channel)?;
        let nonce = self.nonce();
        let posted = with_retry("post", || {
            target.send_message(&self.http, Self::create(message, &nonce))
        })
        .await
        .map_err(chat_error)?;
        Ok(MessageRef {
            channel: channel.clone(),
            id: posted.id.to_string(),
        })
    }

    async fn update(&self, target: &MessageRef, message: &Message) -> Result<(), ChatError> {
        let channel = channel_id(&target.channel)?;
        let id = message_id(&target.id)?;
        with_retry("update", || {
            channel.edit_message(
                &self.http,
                id,
                EditMessage::new()
                    .content(content(message))
                    .embeds(embeds(message))
                    .components(rows(message)),
            )
        })
        .await
        .map_err(chat_error)?;
        Ok(())
    }

    /// A reply is a message in the same channel that references the target.
    async fn reply(&self, target: &MessageRef, message: &Message) -> Result<MessageRef, ChatError> {
        let channel = channel_id(&target.channel)?;
        let id = message_id(&target.id)?;
        let nonce = self.nonce();
        let posted = with_retry("reply", || {
            channel.send_message(
                &self.http,
                Self::create(message, &nonce).reference_message((channel, id)),
            )
        })
        .await
        .map_err(chat_error)?;
        Ok(MessageRef {
            channel: target.channel.clone(),
            id: posted.id.to_string(),
        })
    }
}

/// The person behind an interaction, with the role ids Discord says they hold.
pub fn person(user: &User, member: Option<&Member>) -> Person {
    let name = member
        .and_then(|m| m.nick.clone())
        .or_else(|| user.global_name.clone())
        .unwrap_or_else(|| user.name.clone());
    Person {
        id: user.id.to_string(),
        name,
        roles: member
            .map(|m| m.roles.iter().map(|r| r.to_string()).collect())
            .unwrap_or_default(),
    }
}

const OTHER_GUILD: &str = "Lifeboat only takes commands in its own server.";

/// Handles INTERACTION_CREATE: slash commands, buttons and autocomplete.
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
            .embeds(embeds(&reply.message))
            .components(rows(&reply.message))
            .ephemeral(reply.ephemeral)
    }

    fn followup(reply: &Reply) -> CreateInteractionResponseFollowup {
        CreateInteractionResponseFollowup::new()
            .content(content(&reply.message))
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
        let parent = cmd
            .channel
            .as_ref()
            .and_then(|c| c.parent_id)
            .map(|p| p.get());
        if let Some(refusal) = self.wrong_channel(&command, &who, cmd.channel_id.get(), parent) {
            return reply_now(refusal).await;
        }
        if !is_slow(&command) {
            let reply = self.bot.handle(command, &who).await;
            return reply_now(reply).await;
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
                        .components(rows(&reply.message)),
                )
            })
            .await
            .map(|_| ())
        };
        if let Err(err) = sent {
            tracing::error!(error = %err, "answering the interaction failed");
        }
    }

    #[tracing::instrument(skip_all, fields(interaction = %press.id, custom_id = %press.data.custom_id))]
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
        let command = match command_from_custom_id(&press.data.custom_id) {
            Ok(command) => command,
            Err(problem) => return reply_now(Self::private(problem)).await,
        };
        let who = person(&press.user, press.member.as_ref());
        tracing::info!(command = command.name(), user = %who.id, "button");
        let parent = press
            .channel
            .as_ref()
            .and_then(|c| c.parent_id)
            .map(|p| p.get());
        if let Some(refusal) = self.wrong_channel(&command, &who, press.channel_id.get(), parent) {
            return reply_now(refusal).await;
        }
        if !is_slow(&command) {
            let reply = self.bot.handle(command, &who).await;
            return reply_now(reply).await;
        }
        // Acknowledge without changing the message, then answer with a follow-up.
        if let Err(err) = with_retry("ack", || {
            press.create_response(&ctx.http, CreateInteractionResponse::Acknowledge)
        })
        .await
        {
            tracing::error!(error = %err, "acknowledging the button failed");
            return;
        }
        let reply = self.bot.handle(command, &who).await;
        if let Err(err) = with_retry("followup", || {
            press.create_followup(&ctx.http, Self::followup(&reply))
        })
        .await
        {
            tracing::error!(error = %err, "answering the button failed");
        }
    }

    #[tracing::instrument(skip_all, fields(interaction = %cmd.id))]
    async fn on_autocomplete(&self, ctx: &Context, cmd: &CommandInteraction) {
        let typed = cmd
            .data
            .autocomplete()
            .map(|o| o.value.to_lowercase())
            .unwrap_or_default();
        let mut choices = CreateAutocompleteResponse::new();
        if cmd.guild_id == Some(self.guild) {
            for name in self.runbooks.iter().filter(|n| n.contains(&typed)).take(25) {
                choices = choices.add_string_choice(name.clone(), name.clone());
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

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        tracing::info!(user = %ready.user.name, guilds = ready.guilds.len(), "connected to Discord");
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match &interaction {
            Interaction::Command(cmd) => self.on_command(&ctx, cmd).await,
            Interaction::Component(press) => self.on_component(&ctx, press).await,
            Interaction::Autocomplete(cmd) => self.on_autocomplete(&ctx, cmd).await,
            other => tracing::debug!(kind = ?other.kind(), "interaction ignored"),
        }
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
    use serde_json::json;

    fn data(name: &str, sub: &str, options: serde_json::Value) -> CommandData {
        serde_json::from_value(json!({
            "id": "1100000000000000001",
            "name": name,
            "type": 1,
            "options": [{ "name": sub, "type": 1, "options": options }],
        }))
        .unwrap()
    }

    #[test]
    fn slash_commands_become_typed_commands() {
        let run = data(
            "runbook",
            "run",
            json!([
                { "name": "name", "type": 3, "value": "failover-hosting" },
                { "name": "params", "type": 3, "value": "region=eu reason=db" }
            ]),
        );
        assert_eq!(
            command_from(&run).unwrap(),
            Command::RunbookRun {
                name: "failover-hosting".into(),
                params: BTreeMap::from([
                    ("reason".into(), "db".into()),
                    ("region".into(), "eu".into())
                ]),
            }
        );
        let note = data(
            "incident",
            "note",
            json!([
                { "name": "text", "type": 3, "value": "TTL too high" },
                { "name": "lesson", "type": 5, "value": true }
            ]),
        );
        assert_eq!(
            command_from(&note).unwrap(),
            Command::IncidentNote {
                text: "TTL too high".into(),
                lesson: true
            }
        );
        let resume = data(
            "runbook",
            "resume",
            json!([
                { "name": "run", "type": 3, "value": "RUN-1" },
                { "name": "decision", "type": 3, "value": "skip" }
            ]),
        );
        assert_eq!(
            command_from(&resume).unwrap(),
            Command::RunbookDecide {
                run: "RUN-1".into(),
                decision: Decision::Skip
            }
        );
        assert_eq!(
            command_from(&data("dr", "status", json!([]))).unwrap(),
            Command::DrStatus
        );
        assert_eq!(
            command_from(&data("incident", "declare", json!([]))).unwrap(),
            Command::IncidentDeclare {
                title: String::new()
            }
        );
    }

    #[test]
    fn bad_slash_commands_are_explained() {
        let missing = data("runbook", "run", json!([]));
        assert!(
            command_from(&missing)
                .unwrap_err()
                .contains("missing option `name`")
        );
        let bad_params = data(
            "runbook",
            "plan",
            json!([
                { "name": "name", "type": 3, "value": "x" },
                { "name": "params", "type": 3, "value": "oops" }
            ]),
        );
        assert!(
            command_from(&bad_params)
                .unwrap_err()
                .contains("NAME=VALUE")
        );
        let no_sub: CommandData = serde_json::from_value(json!({
            "id": "1100000000000000001", "name": "runbook", "type": 1
        }))
        .unwrap();
        assert!(
            command_from(&no_sub)
                .unwrap_err()
                .contains("needs a subcommand")
        );
        assert!(
            command_from(&data("drill", "start", json!([])))
                .unwrap_err()
                .contains("unknown command")
        );
    }

    #[test]
    fn button_ids_become_typed_commands() {
        assert_eq!(
            command_from_custom_id("approve:REQ-1").unwrap(),
            Command::Approve {
                request: "REQ-1".into()
            }
        );
        assert_eq!(
            command_from_custom_id("deny:REQ-1").unwrap(),
            Command::Deny {
                request: "REQ-1".into()
            }
        );
        assert_eq!(
            command_from_custom_id("confirm:RUN-1:scope:no").unwrap(),
            Command::Confirm {
                run: "RUN-1".into(),
                step: "scope".into(),
                yes: false
            }
        );
        assert_eq!(
            command_from_custom_id("run:RUN-1:abort").unwrap(),
            Command::RunbookDecide {
                run: "RUN-1".into(),
                decision: Decision::Abort
            }
        );
        assert_eq!(
            command_from_custom_id("declare:heroku").unwrap(),
            Command::IncidentDeclare {
                title: "Outage: heroku".into()
            }
        );
        assert_eq!(
            command_from_custom_id("plan:failover-hosting:heroku").unwrap(),
            Command::RunbookPlan {
                name: "failover-hosting".into(),
                params: BTreeMap::new()
            }
        );
        assert_eq!(
            command_from_custom_id("confirm:RUN-1:db:restore:yes").unwrap(),
            Command::Confirm {
                run: "RUN-1".into(),
                step: "db:restore".into(),
                yes: true
            }
        );
        for bad in [
            "",
            "approve",
            "approve:",
            "confirm:R:S:maybe",
            "run:R:later",
            "launch:x",
            "approve:a:b",
            "confirm:RUN-1:yes",
            "plan:",
            "run::retry",
        ] {
            assert!(command_from_custom_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn members_become_people_with_their_role_ids() {
        let member: Member = serde_json::from_value(json!({
            "user": { "id": "300000000000000001", "username": "alice", "global_name": "Alice A." },
            "nick": null,
            "roles": ["200000000000000001", "200000000000000002"],
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "deaf": false,
            "mute": false,
            "flags": 0,
        }))
        .unwrap();
        let who = person(&member.user, Some(&member));
        assert_eq!(who.id, "300000000000000001");
        assert_eq!(who.name, "Alice A.");
        assert_eq!(who.roles, ["200000000000000001", "200000000000000002"]);
        let dm = person(&member.user, None);
        assert!(dm.roles.is_empty(), "outside a guild nobody holds a role");
    }

    #[test]
    fn messages_fit_discord_limits() {
        let long = "é".repeat(2500);
        let cut = truncate(&long, MAX_CONTENT);
        assert_eq!(cut.chars().count(), MAX_CONTENT);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short", 10), "short");

        let message = Message {
            content: String::new(),
            embeds: Vec::new(),
            buttons: (0..12)
                .map(|i| super::super::Button {
                    custom_id: format!("approve:{i}"),
                    label: format!("B{i}"),
                    style: ButtonStyle::Success,
                })
                .chain(std::iter::once(super::super::Button {
                    custom_id: "x".repeat(101),
                    label: "too long".into(),
                    style: ButtonStyle::Danger,
                }))
                .collect(),
        };
        let rows = serde_json::to_value(rows(&message)).unwrap();
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["components"].as_array().unwrap().len(), 5);
        assert_eq!(rows[2]["components"].as_array().unwrap().len(), 2);
        assert_eq!(rows[0]["components"][0]["custom_id"], "approve:0");
    }

    #[test]
    fn command_definitions_cover_the_parser() {
        let defs = serde_json::to_value(commands()).unwrap();
        let names: Vec<&str> = defs
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["incident", "runbook", "dr"]);
        let runbook = &defs[1]["options"];
        let run = runbook
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "run")
            .unwrap();
        assert_eq!(run["options"][0]["autocomplete"], true);
        assert!(snowflake("0").is_err());
        assert_eq!(
            snowflake("100000000000000001").unwrap(),
            100_000_000_000_000_001
        );
    }
}
