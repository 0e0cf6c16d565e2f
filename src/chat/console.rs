//! A `Chat` for the terminal (`lifeboat run --console`): messages are printed as they happen,
//! with their buttons shown so a person sees what Discord would offer.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::ports::chat::{Attachment, ChannelId, Chat, ChatError, ChatHealth, Message, MessageRef};

/// Prints to any writer (stdout in the CLI, a buffer in tests).
pub struct ConsoleChat<W: Write + Send> {
    out: Mutex<W>,
    next: AtomicU64,
    /// Where attached files are saved (a terminal cannot show a file); `None`: listed only.
    files: Option<PathBuf>,
}

impl ConsoleChat<std::io::Stdout> {
    /// Prints to stdout; attached files are saved under the system's temp dir.
    pub fn stdout() -> Self {
        Self::new(std::io::stdout()).with_files(std::env::temp_dir().join("lifeboat-console"))
    }
}

impl<W: Write + Send> ConsoleChat<W> {
    pub fn new(out: W) -> Self {
        Self {
            out: Mutex::new(out),
            next: AtomicU64::new(1),
            files: None,
        }
    }

    /// Saves attached files in `dir` and prints their paths.
    pub fn with_files(mut self, dir: PathBuf) -> Self {
        self.files = Some(dir);
        self
    }

    /// Saves one attached file; its name is reduced to a plain file name first.
    fn save(&self, file: &Attachment) -> Option<Result<PathBuf, String>> {
        let dir = self.files.as_ref()?;
        let name: String = file
            .filename
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(name.trim_start_matches('.'));
        Some(
            std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(&path, &file.bytes))
                .map(|()| path)
                .map_err(|e| e.to_string()),
        )
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

    /// A terminal has no threads: the thread is a named section, and its messages are
    /// printed under headers naming it.
    async fn open_thread(
        &self,
        channel: &ChannelId,
        from: Option<&MessageRef>,
        name: &str,
    ) -> Result<ChannelId, ChatError> {
        let started = from.map(|m| format!(" from {}", m.id)).unwrap_or_default();
        let thread = ChannelId(format!("{}/{}", channel.0, slug(name)));
        self.print(
            &format!("=== thread #{} opened{started} ===", thread.0),
            &Message {
                content: name.to_owned(),
                ..Message::default()
            },
        )?;
        Ok(thread)
    }

    /// Files are listed by name and size; their content stays out of the terminal.
    async fn attach(
        &self,
        channel: &ChannelId,
        message: &Message,
        files: &[Attachment],
    ) -> Result<MessageRef, ChatError> {
        let mut shown = message.clone();
        for file in files {
            let saved = match self.save(file) {
                Some(Ok(path)) => format!(" → {}", path.display()),
                Some(Err(err)) => format!(" (not saved: {err})"),
                None => String::new(),
            };
            shown.content.push_str(&format!(
                "\n  📎 {} ({} bytes){saved}",
                file.filename,
                file.bytes.len()
            ));
        }
        let id = self.print(&format!("--- #{}", channel.0), &shown)?;
        Ok(MessageRef {
            channel: channel.clone(),
            id,
        })
    }
}

/// A thread name as a short channel-like label: lowercase words joined by `-`.
fn slug(name: &str) -> String {
    let words: Vec<String> = name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(6)
        .map(str::to_lowercase)
        .collect();
    words.join("-")
}

/// Reads commands from `input` line by line (`/runbook run failover-hosting --as alice
/// --roles responder`) and prints each reply. Ends at end of input.
pub async fn command_loop<R>(bot: std::sync::Arc<super::bot::Bot>, input: R)
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    command_loop_marked(bot, input, |text| text.to_owned()).await
}

/// [`command_loop`], each reply passed through `mark` (a game day marks its replies DRILL).
pub async fn command_loop_marked<R>(
    bot: std::sync::Arc<super::bot::Bot>,
    input: R,
    mark: fn(&str) -> String,
) where
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
                let received = std::time::Instant::now();
                let declared = matches!(command, super::command::Command::IncidentDeclare { .. });
                let reply = bot.handle(command, &who).await;
                // On the console the reply is the acknowledgement.
                crate::metrics::chat_acknowledged("console", received.elapsed());
                if declared && !reply.ephemeral {
                    // The incident's messages from now on print under its thread's name.
                    bot.open_thread(None).await;
                }
                let prefix = if reply.ephemeral { "(only you) " } else { "" };
                let settled = reply
                    .settles
                    .as_ref()
                    .map(|s| format!("  ({s})\n"))
                    .unwrap_or_default();
                format!("{prefix}{}{settled}", render_text(&reply.message))
            }
            Err(err) => format!("(only you) {err}"),
        };
        println!("{}", mark(reply.trim_end()));
    }
}

/// The console's health: commands come from this process's own terminal, which is there as long as
/// the process is.
pub struct Console;

#[async_trait]
impl ChatHealth for Console {
    async fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn threads_are_named_sections_and_files_are_listed() {
        let chat = ConsoleChat::new(Vec::new());
        let channel = ChannelId("incident".into());
        let thread = chat
            .open_thread(&channel, None, "INC-1 Heroku down!")
            .await
            .unwrap();
        assert_eq!(thread.0, "incident/inc-1-heroku-down");
        chat.post(
            &thread,
            &Message {
                content: "[RUN-1] ▶ scale".into(),
                ..Message::default()
            },
        )
        .await
        .unwrap();
        chat.attach(
            &thread,
            &Message {
                content: "📄 Post-mortem".into(),
                ..Message::default()
            },
            &[Attachment {
                filename: "postmortem-INC-1.md".into(),
                bytes: b"# INC-1".to_vec(),
            }],
        )
        .await
        .unwrap();
        let out = String::from_utf8(chat.into_inner()).unwrap();
        assert!(
            out.contains("=== thread #incident/inc-1-heroku-down opened ==="),
            "{out}"
        );
        assert!(
            out.contains("--- #incident/inc-1-heroku-down [c2]\n[RUN-1] ▶ scale"),
            "{out}"
        );
        assert!(out.contains("📎 postmortem-INC-1.md (7 bytes)"), "{out}");
        assert!(!out.contains("# INC-1"), "file contents stay out: {out}");

        let dir = tempfile::tempdir().unwrap();
        let chat = ConsoleChat::new(Vec::new()).with_files(dir.path().to_owned());
        chat.attach(
            &channel,
            &Message::default(),
            &[Attachment {
                filename: "../postmortem INC-1.md".into(),
                bytes: b"# INC-1".to_vec(),
            }],
        )
        .await
        .unwrap();
        let saved = dir.path().join("_postmortem_INC-1.md");
        assert_eq!(std::fs::read(&saved).unwrap(), b"# INC-1");
        let out = String::from_utf8(chat.into_inner()).unwrap();
        assert!(out.contains(&saved.display().to_string()), "{out}");
    }
}
