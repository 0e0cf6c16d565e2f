//! A `Chat` for the terminal (`lifeboat run --console`): messages are printed as they happen,
//! with their buttons shown so a person sees what Discord would offer.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::{ChannelId, Chat, ChatError, Message, MessageRef};

/// Prints to any writer (stdout in the CLI, a buffer in tests).
pub struct ConsoleChat<W: Write + Send> {
    out: Mutex<W>,
    next: AtomicU64,
}

impl ConsoleChat<std::io::Stdout> {
    pub fn stdout() -> Self {
        Self::new(std::io::stdout())
    }
}

impl<W: Write + Send> ConsoleChat<W> {
    pub fn new(out: W) -> Self {
        Self {
            out: Mutex::new(out),
            next: AtomicU64::new(1),
        }
    }

    pub fn into_inner(self) -> W {
        match self.out.into_inner() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn print(&self, header: &str, message: &Message) -> Result<String, ChatError> {
        let id = format!("c{}", self.next.fetch_add(1, Ordering::Relaxed));
        let text = format!("{header} [{id}]\n{}", render_text(message));
        let mut out = self
            .out
            .lock()
            .map_err(|_| ChatError::Unavailable("console poisoned".into()))?;
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| ChatError::Unavailable(e.to_string()))?;
        Ok(id)
    }
}

/// Plain text of a message: content, embeds as indented blocks, buttons in brackets.
pub fn render_text(message: &Message) -> String {
    let mut out = String::new();
    if !message.content.is_empty() {
        out.push_str(&message.content);
        out.push('\n');
    }
    for embed in &message.embeds {
        out.push_str(&format!("  == {} ==\n", embed.title));
        for line in embed.description.lines() {
            out.push_str(&format!("  {line}\n"));
        }
        for field in &embed.fields {
            out.push_str(&format!(
                "  {}: {}\n",
                field.name,
                field.value.replace('\n', "\n    ")
            ));
        }
        if let Some(url) = &embed.url {
            out.push_str(&format!("  {url}\n"));
        }
        if let Some(footer) = &embed.footer {
            out.push_str(&format!("  -- {footer}\n"));
        }
    }
    if !message.buttons.is_empty() {
        let buttons: Vec<String> = message
            .buttons
            .iter()
            .map(|b| format!("[{}]", b.label))
            .collect();
        out.push_str(&format!("  {}\n", buttons.join(" ")));
    }
    out
}

#[async_trait]
impl<W: Write + Send> Chat for ConsoleChat<W> {
    async fn post(&self, channel: &ChannelId, message: &Message) -> Result<MessageRef, ChatError> {
        let id = self.print(&format!("--- #{}", channel.0), message)?;
        Ok(MessageRef {
            channel: channel.clone(),
            id,
        })
    }

    async fn update(&self, target: &MessageRef, message: &Message) -> Result<(), ChatError> {
        self.print(
            &format!("--- #{} (edited {})", target.channel.0, target.id),
            message,
        )
        .map(|_| ())
    }

    async fn reply(&self, target: &MessageRef, message: &Message) -> Result<MessageRef, ChatError> {
        let id = self.print(
            &format!("--- #{} (reply to {})", target.channel.0, target.id),
            message,
        )?;
        Ok(MessageRef {
            channel: target.channel.clone(),
            id,
        })
    }
}

/// Reads commands from `input` line by line (`/runbook run failover-hosting --as alice
/// --roles responder`) and prints each reply. Ends at end of input.
pub async fn command_loop<R>(bot: std::sync::Arc<super::bot::Bot>, input: R)
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    use tokio::io::AsyncBufReadExt;

    use super::command::{Line, parse_line};

    let mut identity = crate::approval::Person {
        id: "console".into(),
        name: "console".into(),
        roles: Vec::new(),
    };
    let mut lines = input.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let reply = match parse_line(&line) {
            Ok(Line::Empty) => continue,
            Ok(Line::SetIdentity(person)) => {
                let text = format!(
                    "you are now {} (roles: {})",
                    person.name,
                    person.roles.join(", ")
                );
                identity = person;
                text
            }
            Ok(Line::Command { command, who }) => {
                let who = who.unwrap_or_else(|| identity.clone());
                let reply = bot.handle(command, &who).await;
                let prefix = if reply.ephemeral { "(only you) " } else { "" };
                format!("{prefix}{}", render_text(&reply.message))
            }
            Err(err) => format!("(only you) {err}"),
        };
        println!("{}", reply.trim_end());
    }
}
