//! A `Chat` that keeps every message in memory: for tests and for offline drills that print
//! a summary at the end.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::ports::chat::{Attachment, ChannelId, Chat, ChatError, Message, MessageRef};

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
    ThreadOpened {
        channel: ChannelId,
        from: Option<MessageRef>,
        name: String,
        thread: ChannelId,
    },
    Attached {
        at: MessageRef,
        message: Message,
        files: Vec<Attachment>,
    },
}

#[derive(Debug, Default)]
pub struct RecordingChat {
    log: Mutex<Vec<Recorded>>,
    changed: Notify,
    /// How many of the next posts fail (as an unavailable chat would), for retry tests.
    failing_posts: AtomicUsize,
}

impl RecordingChat {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `n` posts fail with `ChatError::Unavailable`; they are not recorded.
    pub fn fail_next_posts(&self, n: usize) {
        self.failing_posts.store(n, Ordering::SeqCst);
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

    /// The threads opened so far.
    pub fn threads(&self) -> Vec<ChannelId> {
        self.all()
            .into_iter()
            .filter_map(|r| match r {
                Recorded::ThreadOpened { thread, .. } => Some(thread),
                _ => None,
            })
            .collect()
    }

    /// Every message posted, replied or attached in `channel`, in order.
    pub fn in_channel(&self, channel: &ChannelId) -> Vec<Message> {
        self.all()
            .into_iter()
            .filter_map(|r| match r {
                Recorded::Posted { at, message }
                | Recorded::Replied { at, message, .. }
                | Recorded::Attached { at, message, .. }
                    if &at.channel == channel =>
                {
                    Some(message)
                }
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
        let failing = self
            .failing_posts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failing.is_ok() {
            return Err(ChatError::Unavailable(
                "the test chat refused this post".into(),
            ));
        }
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

    async fn open_thread(
        &self,
        channel: &ChannelId,
        from: Option<&MessageRef>,
        name: &str,
    ) -> Result<ChannelId, ChatError> {
        let thread = ChannelId(format!("{}/{}", channel.0, self.next_id()));
        self.push(Recorded::ThreadOpened {
            channel: channel.clone(),
            from: from.cloned(),
            name: name.to_owned(),
            thread: thread.clone(),
        })?;
        Ok(thread)
    }

    async fn attach(
        &self,
        channel: &ChannelId,
        message: &Message,
        files: &[Attachment],
    ) -> Result<MessageRef, ChatError> {
        let at = MessageRef {
            channel: channel.clone(),
            id: self.next_id(),
        };
        self.push(Recorded::Attached {
            at: at.clone(),
            message: message.clone(),
            files: files.to_vec(),
        })?;
        Ok(at)
    }
}
