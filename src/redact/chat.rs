//! `Chat` through the redactor: every message (text, embeds, buttons) and every text file
//! attached (a post-mortem export) loses its secrets before the adapter underneath sends it.

use std::sync::Arc;

use async_trait::async_trait;

use super::Redactor;
use crate::ports::chat::{Attachment, ChannelId, Chat, ChatError, Message, MessageRef};

pub struct RedactingChat {
    inner: Arc<dyn Chat>,
    redactor: Redactor,
}

impl RedactingChat {
    pub fn wrap(inner: Arc<dyn Chat>, redactor: Redactor) -> Arc<dyn Chat> {
        Arc::new(Self { inner, redactor })
    }

    /// Through its JSON, so every text field (and any added later) is covered.
    fn message(&self, message: &Message) -> Message {
        let Ok(mut json) = serde_json::to_value(message) else {
            return message.clone();
        };
        self.redactor.redact_json(&mut json);
        serde_json::from_value(json).unwrap_or_else(|_| message.clone())
    }

    fn file(&self, file: &Attachment) -> Attachment {
        match std::str::from_utf8(&file.bytes) {
            Ok(text) => Attachment {
                filename: self.redactor.redact(&file.filename),
                bytes: self.redactor.redact(text).into_bytes(),
            },
            // Binary files (none today) go as they are.
            Err(_) => file.clone(),
        }
    }
}

#[async_trait]
impl Chat for RedactingChat {
    async fn post(&self, channel: &ChannelId, message: &Message) -> Result<MessageRef, ChatError> {
        self.inner.post(channel, &self.message(message)).await
    }

    async fn update(&self, target: &MessageRef, message: &Message) -> Result<(), ChatError> {
        self.inner.update(target, &self.message(message)).await
    }

    async fn reply(&self, target: &MessageRef, message: &Message) -> Result<MessageRef, ChatError> {
        self.inner.reply(target, &self.message(message)).await
    }

    async fn open_thread(
        &self,
        channel: &ChannelId,
        from: Option<&MessageRef>,
        name: &str,
    ) -> Result<ChannelId, ChatError> {
        self.inner
            .open_thread(channel, from, &self.redactor.redact(name))
            .await
    }

    async fn attach(
        &self,
        channel: &ChannelId,
        message: &Message,
        files: &[Attachment],
    ) -> Result<MessageRef, ChatError> {
        let files: Vec<Attachment> = files.iter().map(|f| self.file(f)).collect();
        self.inner
            .attach(channel, &self.message(message), &files)
            .await
    }
}
