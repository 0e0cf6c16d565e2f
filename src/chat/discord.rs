//! The Discord adapter (serenity 0.12): delivers `Message`s over REST, defines and registers
//! the slash commands, and translates interactions into typed `Command`s for the bot core.
//! It only translates: every decision is the bot core's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serenity::all::{
    ActionRow, ActionRowComponent, AutoArchiveDuration, ButtonStyle as DiscordButtonStyle,
    ChannelId as DiscordChannelId, ChannelType, Client, ClientBuilder, CommandData,
    CommandDataOption, CommandDataOptionValue, CommandInteraction, CommandOptionType,
    ComponentInteraction, Context, CreateActionRow, CreateAttachment, CreateAutocompleteResponse,
    CreateButton, CreateCommand, CreateCommandOption, CreateEmbed, CreateEmbedFooter,
    CreateInputText, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, CreateMessage, CreateModal, CreateThread,
    EditInteractionResponse, EditMessage, EventHandler, GatewayIntents, GuildId, Http, HttpBuilder,
    InputTextStyle, Interaction, Member, MessageId, ModalInteraction, Nonce, Ready, User,
};

use super::bot::{Bot, Reply};
use super::command::Command;
use crate::approval::Person;
use crate::config::Secret;
use crate::engine::Decision;
use crate::ports::chat::{
    Action, Attachment, ButtonStyle, ChannelId, Chat, ChatError, ChatHealth, Message, MessageRef,
};

/// Discord's limits on one message.
const MAX_CONTENT: usize = 2000;
const MAX_EMBEDS: usize = 10;
const MAX_BUTTONS_PER_ROW: usize = 5;
const MAX_ROWS: usize = 5;
const MAX_THREAD_NAME: usize = 100;
/// How often a REST call is retried after a 429 or a 5xx, and the first pause.
const RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Builds the REST client. With `api_base` (tests, a proxy), the ratelimiter must be off:
/// serenity's ratelimiter ignores the proxy and would send requests to discord.com. Without
/// it serenity would not honour `retry_after` either, so the calls go through the loopback
/// gate of `super::ratelimit`, which does. Without `api_base`, serenity's ratelimiter
/// handles 429s itself (it reads `Retry-After`).
pub fn build_http(token: &Secret, api_base: Option<&str>) -> Http {
    match api_base {
        Some(base) => {
            let base = base.trim_end_matches('/');
            let via = match tokio::runtime::Handle::try_current() {
                Ok(_) => super::ratelimit::start(base).unwrap_or_else(|err| {
                    tracing::warn!(error = %err, "the rate-limit gate could not start; calling api_base directly");
                    base.to_owned()
                }),
                Err(_) => base.to_owned(),
            };
            HttpBuilder::new(token.expose())
                .proxy(via)
                .ratelimiter_disabled(true)
                .build()
        }
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
                sub("declare", "Declare an incident")
                    .add_sub_option(CreateCommandOption::new(Text, "title", "What is happening"))
                    .add_sub_option(
                        CreateCommandOption::new(Text, "severity", "How bad (default sev2)")
                            .add_string_choice("sev1: down for everyone", "sev1")
                            .add_string_choice("sev2: major part down", "sev2")
                            .add_string_choice("sev3: degraded", "sev3"),
                    )
                    .add_sub_option(CreateCommandOption::new(
                        Text,
                        "commander",
                        "Who leads the response (default: you)",
                    )),
            )
            .add_option(sub(
                "review",
                "Record the review of the last resolved incident",
            ))
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
            .add_option(sub("status", "Providers, incidents, runs, clocks"))
            .add_option(sub(
                "readiness",
                "Is the standby ready? ECS, DNS TTL, Anthropic key, backup age, drills",
            ))
            .add_option(
                sub("reviewed", "Record a review of the DR plan").add_sub_option(
                    CreateCommandOption::new(Text, "note", "What changed, if anything"),
                ),
            ),
        CreateCommand::new("timeline")
            .description("The incident's post-mortem")
            .add_option(
                sub("export", "Attach the post-mortem to the incident thread")
                    .add_sub_option(
                        CreateCommandOption::new(Text, "format", "File format")
                            .required(true)
                            .add_string_choice("Markdown", "md")
                            .add_string_choice("JSON", "json")
                            .add_string_choice("CSV", "csv")
                            .add_string_choice("HTML", "html"),
                    )
                    .add_sub_option(
                        CreateCommandOption::new(
                            Text,
                            "incident",
                            "Another incident than the open one",
                        )
                        .set_autocomplete(true),
                    ),
            ),
        CreateCommand::new("drill")
            .description("Rehearse an outage on a separate, simulated event log")
            .add_option(
                sub("start", "Run a drill in the background").add_sub_option(
                    CreateCommandOption::new(Text, "scenario", "Which outage")
                        .required(true)
                        .add_string_choice("heroku-outage", "heroku-outage")
                        .add_string_choice("openai-outage", "openai-outage")
                        .add_string_choice("both", "both"),
                ),
            ),
        CreateCommand::new("notify")
            .description("Reach a team")
            .add_option(
                sub("team", "Notify a team on every route it has")
                    .add_sub_option(
                        CreateCommandOption::new(Text, "team", "The team")
                            .required(true)
                            .set_autocomplete(true),
                    )
                    .add_sub_option(CreateCommandOption::new(Text, "text", "What to tell them")),
            ),
        CreateCommand::new("comms")
            .description("Client and internal communications")
            .add_option(
                sub("draft", "Draft a communication from the templates")
                    .add_sub_option(
                        CreateCommandOption::new(Text, "audience", "Who reads it")
                            .required(true)
                            .add_string_choice("clients", "clients")
                            .add_string_choice("internal", "internal"),
                    )
                    .add_sub_option(
                        CreateCommandOption::new(Text, "kind", "Which message")
                            .required(true)
                            .add_string_choice("initial", "initial")
                            .add_string_choice("update", "update")
                            .add_string_choice("resolved", "resolved"),
                    ),
            )
            .add_option(
                sub("show", "Show a draft, or every open draft")
                    .add_sub_option(CreateCommandOption::new(Text, "draft", "The draft id")),
            )
            .add_option(
                sub("approve", "Approve and send a draft")
                    .add_sub_option(
                        CreateCommandOption::new(Text, "draft", "The draft id").required(true),
                    )
                    .add_sub_option(CreateCommandOption::new(
                        Text,
                        "version",
                        "The version you read (v1 as drafted, one more per edit)",
                    )),
            )
            .add_option(
                sub(
                    "resend",
                    "Send an approved draft to the outputs it has not reached",
                )
                .add_sub_option(
                    CreateCommandOption::new(Text, "draft", "The draft id").required(true),
                ),
            ),
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
    text.parse()
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
            severity: text_option(options, "severity")
                .map(|s| s.parse())
                .transpose()?,
            commander: text_option(options, "commander").filter(|c| !c.is_empty()),
            alert: None,
        }),
        ("incident", "review") => Ok(Command::IncidentReview),
        ("dr", "reviewed") => Ok(Command::DrReviewed {
            note: text_option(options, "note").filter(|n| !n.is_empty()),
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
        ("dr", "readiness") => Ok(Command::DrReadiness),
        ("timeline", "export") => Ok(Command::TimelineExport {
            format: required(options, "format")?
                .parse()
                .map_err(|e: crate::timeline::TimelineError| e.to_string())?,
            incident: text_option(options, "incident").filter(|i| !i.is_empty()),
        }),
        ("drill", "start") => Ok(Command::DrillStart {
            scenario: required(options, "scenario")?.parse()?,
        }),
        ("notify", "team") => Ok(Command::NotifyTeam {
            team: required(options, "team")?,
            text: text_option(options, "text").filter(|t| !t.is_empty()),
        }),
        ("comms", "draft") => Ok(Command::CommsDraft {
            audience: required(options, "audience")?,
            kind: required(options, "kind")?,
        }),
        ("comms", "show") => Ok(Command::CommsShow {
            draft: text_option(options, "draft").filter(|d| !d.is_empty()),
        }),
        ("comms", "approve") => Ok(Command::CommsApprove {
            draft: required(options, "draft")?,
            version: text_option(options, "version")
                .filter(|v| !v.is_empty())
                .map(|v| crate::chat::command::parse_draft_version(&v))
                .transpose()?,
        }),
        ("comms", "resend") => Ok(Command::CommsResend {
            draft: required(options, "draft")?,
        }),
        (command, sub) => Err(format!("unknown command `/{command} {sub}`")),
    }
}

/// A button's `custom_id` as a typed `Command`. Ids carry everything needed, so buttons on
/// old messages still work after a restart.
pub fn command_from_custom_id(id: &str) -> Result<Command, String> {
    let action = Action::parse(id).map_err(|err| err.to_string())?;
    command_from_action(action).ok_or_else(|| format!("unknown button `{id}`: it opens a form"))
}

/// The command a pressed button stands for; `None` for the edit button, which opens a form
/// instead (see `Handler::on_component`).
pub fn command_from_action(action: Action) -> Option<Command> {
    Some(match action {
        Action::Approve { request } => Command::Approve { request },
        Action::Deny { request } => Command::Deny { request },
        Action::Confirm { run, step, yes } => Command::Confirm { run, step, yes },
        Action::Decide { run, decision } => Command::RunbookDecide { run, decision },
        Action::Declare { alert } => Command::IncidentDeclare {
            title: if alert.is_empty() {
                String::new()
            } else {
                format!("Outage: {alert}")
            },
            severity: None,
            commander: None,
            alert: (!alert.is_empty()).then_some(alert),
        },
        Action::Plan { runbook, alert: _ } => Command::RunbookPlan {
            name: runbook,
            params: BTreeMap::new(),
        },
        Action::CommsApprove { draft, version } => Command::CommsApprove {
            draft,
            version: Some(version),
        },
        Action::CommsDiscard { draft } => Command::CommsDiscard { draft },
        Action::CommsEdit { .. } => return None,
    })
}

/// Commands that may take longer than Discord's 3 s: acknowledged first, answered later.
pub fn is_slow(command: &Command) -> bool {
    matches!(
        command,
        Command::RunbookRun { .. }
            | Command::RunbookPlan { .. }
            | Command::Approve { .. }
            | Command::TimelineExport { .. }
            | Command::CommsDraft { .. }
            | Command::CommsApprove { .. }
            | Command::CommsResend { .. }
            | Command::NotifyTeam { .. }
            | Command::DrReadiness
            // Resolving calls PagerDuty for the alerts the incident opened.
            | Command::IncidentResolve
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
            let ok = !b.custom_id.is_empty() && b.custom_id.len() <= crate::ports::chat::action::MAX_CUSTOM_ID;
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

/// Runs a REST call, retrying 5xx, network errors and 429 with exponential backoff. With the
/// ratelimiter disabled (loopback tests, proxies) serenity does not retry by itself; a 429
/// gets here only after the gate of `super::ratelimit` waited as asked three times.
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
            other => {
                if other.is_ok() && ACKNOWLEDGEMENTS.contains(&what) {
                    acknowledged();
                }
                return other;
            }
        }
    }
}

tokio::task_local! {
    /// When the interaction being handled arrived; taken by its first acknowledgement.
    static RECEIVED: std::cell::Cell<Option<std::time::Instant>>;
}

/// The `with_retry` calls that answer an interaction's callback (Discord's 3 s clock).
const ACKNOWLEDGEMENTS: [&str; 5] = ["respond", "defer", "ack", "modal", "settle"];

/// Records the acknowledgement latency of the interaction being handled, once.
fn acknowledged() {
    let _ = RECEIVED.try_with(|received| {
        if let Some(at) = received.take() {
            crate::metrics::chat_acknowledged("discord", at.elapsed());
        }
    });
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
    /// Threads this process opened from a message: the message id → the thread. Replies to
    /// such a message (an alert's updates after the incident was declared from it) go there.
    threads: std::sync::Mutex<BTreeMap<String, ChannelId>>,
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
            threads: std::sync::Mutex::default(),
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
        let thread = self
            .threads
            .lock()
            .map(|t| t.get(&target.id).cloned())
            .unwrap_or_default();
        if let Some(thread) = thread {
            return self.post(&thread, message).await;
        }
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

    /// A public thread: from the message where given (POST
    /// `/channels/{c}/messages/{m}/threads`), else standalone (POST `/channels/{c}/threads`).
    async fn open_thread(
        &self,
        channel: &ChannelId,
        from: Option<&MessageRef>,
        name: &str,
    ) -> Result<ChannelId, ChatError> {
        let parent = channel_id(channel)?;
        let builder = || {
            CreateThread::new(truncate(name, MAX_THREAD_NAME))
                .auto_archive_duration(AutoArchiveDuration::OneWeek)
        };
        let thread = match from {
            Some(message) => {
                let id = message_id(&message.id)?;
                with_retry("open thread", || {
                    parent.create_thread_from_message(&self.http, id, builder())
                })
                .await
            }
            None => {
                with_retry("open thread", || {
                    parent.create_thread(&self.http, builder().kind(ChannelType::PublicThread))
                })
                .await
            }
        }
        .map_err(chat_error)?;
        let thread = ChannelId(thread.id.to_string());
        if let (Some(message), Ok(mut threads)) = (from, self.threads.lock()) {
            threads.insert(message.id.clone(), thread.clone());
        }
        Ok(thread)
    }

    /// One multipart POST: `payload_json` plus a `files[N]` part per file.
    async fn attach(
        &self,
        channel: &ChannelId,
        message: &Message,
        files: &[Attachment],
    ) -> Result<MessageRef, ChatError> {
        let target = channel_id(channel)?;
        let nonce = self.nonce();
        let posted = with_retry("attach", || {
            target.send_message(
                &self.http,
                Self::create(message, &nonce).add_files(
                    files
                        .iter()
                        .map(|f| CreateAttachment::bytes(f.bytes.clone(), f.filename.clone())),
                ),
            )
        })
        .await
        .map_err(chat_error)?;
        Ok(MessageRef {
            channel: channel.clone(),
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

/// The text of a message whose buttons a decision settled: how it ended, below the original.
pub fn settled_content(content: &str, outcome: &str) -> String {
    truncate(&format!("{content}\n**{outcome}**"), MAX_CONTENT)
}

/// The same buttons, disabled: nobody can press a decided question again.
pub fn disabled_rows(rows: &[ActionRow]) -> Vec<CreateActionRow> {
    rows.iter()
        .map(|row| {
            row.components
                .iter()
                .filter_map(|c| match c {
                    ActionRowComponent::Button(b) => {
                        Some(CreateButton::from(b.clone()).disabled(true))
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .filter(|buttons| !buttons.is_empty())
        .map(CreateActionRow::Buttons)
        .collect()
}

/// The edit-draft modal's input id; the modal's own id is the edit button's
/// (`Action::CommsEdit`), so it carries the draft.
const EDIT_INPUT: &str = "text";
/// Discord's cap on a text input's value.
const MAX_INPUT: usize = 4000;

/// A submitted modal as a typed `Command`.
pub fn command_from_modal(custom_id: &str, rows: &[ActionRow]) -> Result<Command, String> {
    let Ok(Action::CommsEdit { draft }) = Action::parse(custom_id) else {
        return Err(format!("unknown form `{custom_id}`"));
    };
    let text = rows
        .iter()
        .flat_map(|r| &r.components)
        .find_map(|c| match c {
            ActionRowComponent::InputText(input) if input.custom_id == EDIT_INPUT => {
                input.value.clone()
            }
            _ => None,
        })
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the draft text is empty".to_owned())?;
    Ok(Command::CommsEdit { draft, text })
}

/// The modal that edits a draft, prefilled with its current text.
pub fn edit_modal(draft: &str, current: &str) -> CreateModal {
    CreateModal::new(
        Action::CommsEdit {
            draft: draft.to_owned(),
        }
        .to_custom_id(),
        truncate(&format!("Edit {draft}"), 45),
    )
    .components(vec![CreateActionRow::InputText(
        CreateInputText::new(InputTextStyle::Paragraph, "Text", EDIT_INPUT)
            .value(truncate(current, MAX_INPUT))
            .max_length(MAX_INPUT as u16)
            .required(true),
    )])
}

fn parent_of(channel: Option<&serenity::all::PartialChannel>) -> Option<u64> {
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
                        .components(rows(&reply.message)),
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
                        .components(rows.clone()),
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

/// Discord: up when every gateway shard is connected. The shard manager exists only once the
/// client is built, after the server is already answering, hence `connect`.
#[derive(Default)]
pub struct DiscordGateway {
    shards: std::sync::OnceLock<Arc<serenity::gateway::ShardManager>>,
}

impl DiscordGateway {
    /// Starts reporting on this client's shards.
    pub fn connect(&self, shards: Arc<serenity::gateway::ShardManager>) {
        let _ = self.shards.set(shards);
    }
}

#[async_trait]
impl ChatHealth for DiscordGateway {
    async fn check(&self) -> Result<(), String> {
        let Some(shards) = self.shards.get() else {
            return Err("the Discord client is not started yet".into());
        };
        let runners = shards.runners.lock().await;
        if runners.is_empty() {
            return Err("the Discord gateway has no shard running".into());
        }
        let down: Vec<String> = runners
            .iter()
            .filter(|(_, info)| info.stage != serenity::gateway::ConnectionStage::Connected)
            .map(|(id, info)| format!("shard {id} is {}", info.stage))
            .collect();
        if down.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the Discord gateway is not connected: {}",
                down.join(", ")
            ))
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
            command_from(&data("dr", "readiness", json!([]))).unwrap(),
            Command::DrReadiness
        );
        assert!(
            is_slow(&Command::DrReadiness),
            "probes take time: defer first"
        );
        assert!(
            is_slow(&Command::IncidentResolve),
            "resolving calls PagerDuty: defer first"
        );
        assert_eq!(
            command_from(&data("incident", "declare", json!([]))).unwrap(),
            Command::IncidentDeclare {
                title: String::new(),
                severity: None,
                commander: None,
                alert: None
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
            command_from(&data("launch", "now", json!([])))
                .unwrap_err()
                .contains("unknown command")
        );
        assert!(
            command_from(&data("drill", "start", json!([])))
                .unwrap_err()
                .contains("missing option `scenario`")
        );
        let bad_scenario = data(
            "drill",
            "start",
            json!([{ "name": "scenario", "type": 3, "value": "aws-outage" }]),
        );
        assert!(
            command_from(&bad_scenario)
                .unwrap_err()
                .contains("unknown scenario")
        );
        let bad_format = data(
            "timeline",
            "export",
            json!([{ "name": "format", "type": 3, "value": "pdf" }]),
        );
        assert!(
            command_from(&bad_format)
                .unwrap_err()
                .contains("use md, json, csv or html")
        );
    }

    #[test]
    fn export_drill_notify_and_comms_become_typed_commands() {
        let export = data(
            "timeline",
            "export",
            json!([
                { "name": "format", "type": 3, "value": "html" },
                { "name": "incident", "type": 3, "value": "INC-1" }
            ]),
        );
        assert_eq!(
            command_from(&export).unwrap(),
            Command::TimelineExport {
                format: crate::timeline::Format::Html,
                incident: Some("INC-1".into())
            }
        );
        let drill = data(
            "drill",
            "start",
            json!([{ "name": "scenario", "type": 3, "value": "both" }]),
        );
        assert_eq!(
            command_from(&drill).unwrap(),
            Command::DrillStart {
                scenario: crate::domain::Scenario::Both
            }
        );
        let notify = data(
            "notify",
            "team",
            json!([{ "name": "team", "type": 3, "value": "eng" }]),
        );
        assert_eq!(
            command_from(&notify).unwrap(),
            Command::NotifyTeam {
                team: "eng".into(),
                text: None
            }
        );
        let draft = data(
            "comms",
            "draft",
            json!([
                { "name": "audience", "type": 3, "value": "clients" },
                { "name": "kind", "type": 3, "value": "initial" }
            ]),
        );
        assert_eq!(
            command_from(&draft).unwrap(),
            Command::CommsDraft {
                audience: "clients".into(),
                kind: "initial".into()
            }
        );
        assert_eq!(
            command_from(&data("comms", "show", json!([]))).unwrap(),
            Command::CommsShow { draft: None }
        );
        assert!(
            command_from(&data("comms", "approve", json!([])))
                .unwrap_err()
                .contains("missing option `draft`")
        );
        let approve = |options| command_from(&data("comms", "approve", options));
        assert_eq!(
            approve(json!([
                { "name": "draft", "type": 3, "value": "D-1" },
                { "name": "version", "type": 3, "value": "v3" }
            ]))
            .unwrap(),
            Command::CommsApprove {
                draft: "D-1".into(),
                version: Some(3)
            }
        );
        assert!(
            approve(json!([
                { "name": "draft", "type": 3, "value": "D-1" },
                { "name": "version", "type": 3, "value": "latest" }
            ]))
            .unwrap_err()
            .contains("not a draft version")
        );
        assert_eq!(
            command_from(&data(
                "comms",
                "resend",
                json!([{ "name": "draft", "type": 3, "value": "D-1" }])
            ))
            .unwrap(),
            Command::CommsResend {
                draft: "D-1".into()
            }
        );
        assert_eq!(
            command_from_custom_id("comms:approve:D-1:v2").unwrap(),
            Command::CommsApprove {
                draft: "D-1".into(),
                version: Some(2)
            }
        );
        assert_eq!(
            command_from_custom_id("comms:discard:D-1").unwrap(),
            Command::CommsDiscard {
                draft: "D-1".into()
            }
        );
        for bad in [
            "comms:approve:",
            "comms:approve:D-1",
            "comms:approve:D-1:",
            "comms:approve::v1",
            "comms:approve:D-1:v0",
            "comms:approve:D-1:v1:x",
            "comms:send:D-1",
            "comms:edit:D-1",
            "comms:discard:a:b",
        ] {
            assert!(command_from_custom_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_submitted_edit_form_becomes_an_edit_command() {
        let rows: Vec<ActionRow> = serde_json::from_value(json!([
            { "type": 1, "components": [{ "type": 4, "custom_id": "text", "value": "  We are back.  " }] }
        ]))
        .unwrap();
        assert_eq!(
            command_from_modal("comms:edit:D-1", &rows).unwrap(),
            Command::CommsEdit {
                draft: "D-1".into(),
                text: "We are back.".into()
            }
        );
        let empty: Vec<ActionRow> = serde_json::from_value(json!([
            { "type": 1, "components": [{ "type": 4, "custom_id": "text", "value": "   " }] }
        ]))
        .unwrap();
        assert!(
            command_from_modal("comms:edit:D-1", &empty)
                .unwrap_err()
                .contains("empty")
        );
        assert!(command_from_modal("other:D-1", &rows).is_err());
        assert!(command_from_modal("comms:edit:", &rows).is_err());

        let modal = serde_json::to_value(edit_modal("D-1", &"x".repeat(5000))).unwrap();
        assert_eq!(modal["custom_id"], "comms:edit:D-1");
        let input = &modal["components"][0]["components"][0];
        assert_eq!(input["style"], 2, "a paragraph");
        assert_eq!(input["custom_id"], "text");
        assert_eq!(input["value"].as_str().unwrap().chars().count(), MAX_INPUT);
    }

    #[test]
    fn settled_buttons_are_disabled_and_the_outcome_is_said() {
        let rows: Vec<ActionRow> = serde_json::from_value(json!([
            { "type": 1, "components": [
                { "type": 2, "custom_id": "approve:REQ-1", "label": "Approve", "style": 3 },
                { "type": 2, "custom_id": "deny:REQ-1", "label": "Deny", "style": 4 }
            ] }
        ]))
        .unwrap();
        let disabled = serde_json::to_value(disabled_rows(&rows)).unwrap();
        let buttons = disabled[0]["components"].as_array().unwrap();
        assert_eq!(buttons.len(), 2);
        assert!(buttons.iter().all(|b| b["disabled"] == true));
        assert_eq!(buttons[0]["custom_id"], "approve:REQ-1");
        assert_eq!(
            settled_content("alice requests `scale-up`", "approved by bob"),
            "alice requests `scale-up`\n**approved by bob**"
        );
        assert_eq!(
            settled_content(&"a".repeat(2500), "x").chars().count(),
            MAX_CONTENT
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
                title: "Outage: heroku".into(),
                severity: None,
                commander: None,
                alert: Some("heroku".into())
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
                .map(|i| crate::ports::chat::Button {
                    custom_id: format!("approve:{i}"),
                    label: format!("B{i}"),
                    style: ButtonStyle::Success,
                })
                .chain(std::iter::once(crate::ports::chat::Button {
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
        assert_eq!(
            names,
            [
                "incident", "runbook", "dr", "timeline", "drill", "notify", "comms"
            ]
        );
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
