//! A `Chat` that keeps every message in memory: for tests and for offline drills that print
//! a summary at the end.

use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{ChannelId, Chat, ChatError, Message, MessageRef};

/// What happened to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Posted {
        at: MessageRef,
        message: Message,
    },
    Updated {
        at: MessageRef,
        message: Message,
    },
    Replied {
        to: MessageRef,
        at: MessageRef,
        message: Message,
    },
}

#[derive(Debug, Default)]
pub struct RecordingChat {
    log: Mutex<Vec<Recorded>>,
    changed: Notify,
}

impl RecordingChat {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything recorded so far, in order.
    pub fn all(&self) -> Vec<Recorded> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Only the new posts (not edits or replies).
    pub fn posts(&self) -> Vec<Message> {
        self.all()
            .into_iter()
            .filter_map(|r| match r {
                Recorded::Posted { message, .. } => Some(message),
                _ => None,
            })
            .collect()
    }

    /// Waits until `pred` holds for the recorded log (use under a timeout).
    pub async fn wait_for(&self, pred: impl Fn(&[Recorded]) -> bool) {
        loop {
            let notified = self.changed.notified();
            if pred(&self.all()) {
                return;
            }
            notified.await;
        }
    }

    fn push(&self, entry: Recorded) -> Result<(), ChatError> {
        self.log
            .lock()
            .map_err(|_| ChatError::Unavailable("recorder poisoned".into()))?
            .push(entry);
        self.changed.notify_waiters();
        Ok(())
    }

    fn next_id(&self) -> String {
        let n = self.log.lock().map(|l| l.len()).unwrap_or_default();
        format!("m{}", n + 1)
    }
}

#[async_trait]
impl Chat for RecordingChat {
    async fn post(&self, channel: &ChannelId, message: &Message) -> Result<MessageRef, ChatError> {
        let at = MessageRef {
            channel: channel.clone(),
            id: self.next_id(),
        };
        self.push(Recorded::Posted {
            at: at.clone(),
            message: message.clone(),
        })?;
        Ok(at)
    }

    async fn update(&self, target: &MessageRef, message: &Message) -> Result<(), ChatError> {
        self.push(Recorded::Updated {
            at: target.clone(),
            message: message.clone(),
        })
    }

    async fn reply(&self, target: &MessageRef, message: &Message) -> Result<MessageRef, ChatError> {
        let at = MessageRef {
            channel: target.channel.clone(),
            id: self.next_id(),
        };
        self.push(Recorded::Replied {
            to: target.clone(),
            at: at.clone(),
            message: message.clone(),
        })?;
        Ok(at)
    }
}
