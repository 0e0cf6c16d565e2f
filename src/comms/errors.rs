//! How a delivery edge fails, typed so delivery can branch: a webhook or PagerDuty that asked
//! to be left alone for a while (`Retry-After`), one that refused the request outright, an
//! SMTP relay's permanent refusal, or a configuration problem no retry will mend. Every
//! message is already redacted: a webhook's path and a routing key never appear in one.

use std::time::Duration;

pub use super::email::EmailError;
use crate::ports::chat::ChatError;

/// How a JSON POST to a Slack-compatible webhook (or PagerDuty's Events API) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No answer (refused connection, timeout, TLS): worth repeating.
    #[error("POST {shown}: {detail}")]
    Unreachable { shown: String, detail: String },
    /// 429: the endpoint asked to wait, for `retry_after` when it said how long.
    #[error("POST {shown} answered {status}: {body}")]
    Throttled {
        shown: String,
        status: u16,
        body: String,
        retry_after: Option<Duration>,
    },
    /// 5xx or 408: the endpoint's side failed; worth repeating.
    #[error("POST {shown} answered {status}: {body}")]
    Failed {
        shown: String,
        status: u16,
        body: String,
    },
    /// Any other answer: the endpoint refused this request (a wrong URL, key or body).
    #[error("POST {shown} answered {status}: {body}")]
    Refused {
        shown: String,
        status: u16,
        body: String,
    },
}

impl WebhookError {
    /// The error for a non-success `status` with its (redacted) `body`.
    pub fn answered(
        shown: String,
        status: u16,
        body: String,
        retry_after: Option<Duration>,
    ) -> Self {
        match status {
            429 => Self::Throttled {
                shown,
                status,
                body,
                retry_after,
            },
            408 | 500.. => Self::Failed {
                shown,
                status,
                body,
            },
            _ => Self::Refused {
                shown,
                status,
                body,
            },
        }
    }

    /// Whether trying again may work.
    pub fn retryable(&self) -> bool {
        !matches!(self, Self::Refused { .. })
    }

    /// How long the endpoint asked to wait, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// How paging a team through PagerDuty's Events API v2 failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PagerDutyError {
    /// The team's routing key is not in the environment: nothing was sent.
    #[error("no routing key: {var} is not set")]
    NoRoutingKey { var: String },
    /// The Events API's answer, the same as a webhook's (202 accepted, 400 refused, 429
    /// throttled, 5xx failed).
    #[error(transparent)]
    Post(#[from] WebhookError),
}

impl PagerDutyError {
    pub fn retryable(&self) -> bool {
        match self {
            Self::NoRoutingKey { .. } => false,
            Self::Post(post) => post.retryable(),
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::NoRoutingKey { .. } => None,
            Self::Post(post) => post.retry_after(),
        }
    }
}

/// How one delivery route failed: a chat post, a webhook, a page or an email.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error(transparent)]
    PagerDuty(#[from] PagerDutyError),
    #[error(transparent)]
    Email(#[from] EmailError),
}

impl DeliveryError {
    /// Whether the edge says trying again may work.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Chat(ChatError::Unavailable(_)) => true,
            Self::Chat(ChatError::Rejected(_)) => false,
            Self::Webhook(err) => err.retryable(),
            Self::PagerDuty(err) => err.retryable(),
            Self::Email(err) => err.retryable(),
        }
    }

    /// How long the edge asked to wait before the next attempt, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Webhook(err) => err.retry_after(),
            Self::PagerDuty(err) => err.retry_after(),
            Self::Chat(_) | Self::Email(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted_by_what_a_caller_does_next() {
        let answered =
            |status, after| WebhookError::answered("h/…".into(), status, "b".into(), after);
        let wait = Some(Duration::from_secs(3));
        assert_eq!(answered(429, wait).retry_after(), wait);
        assert!(answered(429, None).retryable());
        assert!(answered(503, None).retryable() && answered(408, None).retryable());
        assert!(!answered(404, None).retryable() && !answered(400, None).retryable());
        assert_eq!(
            answered(503, wait).retry_after(),
            None,
            "only a 429 asks to wait"
        );
        assert_eq!(answered(503, None).to_string(), "POST h/… answered 503: b");
        let unset = PagerDutyError::NoRoutingKey {
            var: "PD_KEY".into(),
        };
        assert!(!unset.retryable());
        assert_eq!(unset.to_string(), "no routing key: PD_KEY is not set");
        let paged = DeliveryError::from(PagerDutyError::from(answered(429, wait)));
        assert_eq!(paged.retry_after(), wait);
        assert_eq!(paged.to_string(), "POST h/… answered 429: b");
    }
}
