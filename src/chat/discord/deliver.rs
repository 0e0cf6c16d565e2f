//! `DiscordChat`: the `Chat` port over Discord's REST API (post, edit, reply, threads,
//! attachments).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use serenity::all::{
    AutoArchiveDuration, ChannelId as DiscordChannelId, ChannelType, CreateAttachment,
    CreateMessage, CreateThread, EditMessage, Http, MessageId, Nonce,
};

use super::{connect::*, message::*, retry::*};
use crate::ports::chat::{Attachment, ChannelId, Chat, ChatError, Message, MessageRef};

pub(super) fn chat_error(err: serenity::Error) -> ChatError {
    match &err {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(resp))
            if resp.status_code.is_client_error() && resp.status_code.as_u16() != 429 =>
        {
            ChatError::Rejected(err.to_string())
        }
        _ => ChatError::Unavailable(err.to_string()),
    }
}

pub(super) fn channel_id(channel: &ChannelId) -> Result<DiscordChannelId, ChatError> {
    snowflake(&channel.0)
        .map(DiscordChannelId::new)
        .map_err(ChatError::Rejected)
}

pub(super) fn message_id(id: &str) -> Result<MessageId, ChatError> {
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
            .allowed_mentions(allowed_mentions(message))
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
                    .components(rows(message))
                    .allowed_mentions(allowed_mentions(message)),
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
