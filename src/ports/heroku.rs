//! The `Platform` port: what Lifeboat reads from and changes on the primary platform, Heroku
//! (its Platform API): the app's config var names (values only as digests), its formation,
//! its current release, and setting config vars (the LLM switch while the app runs there).
//! The adapter over reqwest is `crate::heroku::HerokuApi`.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use super::digest::ValueDigest;
use crate::config::Secret;
use crate::duration::HumanDuration;

/// Which app, reached how: one call's worth, like `LlmRequest`.
#[derive(Debug, Clone, Copy)]
pub struct PlatformTarget<'a> {
    /// `https://api.heroku.com`, or a loopback server in tests.
    pub api_base: &'a str,
    pub app: &'a str,
    pub token: &'a Secret,
    /// Bounds each HTTP exchange.
    pub timeout: Duration,
}

/// The app's config vars: every name, each value only as its digest (`None`: null).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigVars(pub BTreeMap<String, Option<ValueDigest>>);

/// One process type of the formation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// `web`, `worker`, ...
    pub kind: String,
    pub quantity: u32,
    /// The dyno size, e.g. `Standard-1X`.
    pub size: String,
}

/// The release the app runs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub version: u64,
    /// The git commit of its slug, when Heroku knows it.
    pub commit: Option<String>,
    pub description: String,
}

/// Why a Platform API call failed; `is_retryable` says whether another attempt may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// 401/403: the token is missing, wrong or lacks access. Never retried.
    #[error("Heroku refused the token ({status} {id}): {message}")]
    Refused {
        status: u16,
        id: String,
        message: String,
    },
    #[error("{what} not found on Heroku: {message}")]
    NotFound { what: String, message: String },
    /// 429: slow down; `retry_after` when Heroku said how long.
    #[error("Heroku is rate limiting ({message}){}", .retry_after.map(|d| format!(", retry after {}", HumanDuration(d))).unwrap_or_default())]
    Throttled {
        message: String,
        retry_after: Option<Duration>,
    },
    /// 5xx: Heroku's side failed; another attempt may pass.
    #[error("Heroku answered {status}: {message}")]
    Unavailable { status: u16, message: String },
    /// Any other 4xx: the same request fails again.
    #[error("Heroku rejected the request ({status} {id}): {message}")]
    Rejected {
        status: u16,
        id: String,
        message: String,
    },
    #[error("Heroku did not answer within {}", HumanDuration(*.0))]
    Timeout(Duration),
    #[error("Heroku is unreachable: {0}")]
    Unreachable(String),
    #[error("Heroku's answer could not be read: {0}")]
    Malformed(String),
    #[error("the Heroku token contains characters a header cannot carry")]
    UnusableToken,
}

impl PlatformError {
    /// Like the AWS errors: throttling, 5xx, timeouts and connection failures may pass on
    /// another attempt; a refused token or a rejected request will not.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PlatformError::Throttled { .. }
                | PlatformError::Unavailable { .. }
                | PlatformError::Timeout(_)
                | PlatformError::Unreachable(_)
        )
    }

    /// How long Heroku asked to wait, on a 429 that said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PlatformError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The primary platform, as far as parity and the LLM switch need it.
#[async_trait]
pub trait Platform: Send + Sync {
    /// Every config var name; values are hashed as they are read and never leave the adapter.
    async fn config_vars(&self, target: PlatformTarget<'_>) -> Result<ConfigVars, PlatformError>;

    /// The formation: process types, quantities, sizes.
    async fn formation(&self, target: PlatformTarget<'_>) -> Result<Vec<Process>, PlatformError>;

    /// The current release and its slug's commit.
    async fn current_release(&self, target: PlatformTarget<'_>) -> Result<Release, PlatformError>;

    /// Sets config vars (`PATCH`); Heroku restarts the dynos with them. What Heroku answers
    /// (every var, values included) is read for its status only and dropped.
    async fn set_config_vars(
        &self,
        target: PlatformTarget<'_>,
        vars: &BTreeMap<String, String>,
    ) -> Result<(), PlatformError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_like_the_aws_ones() {
        let refused = PlatformError::Refused {
            status: 401,
            id: "unauthorized".into(),
            message: "Invalid credentials provided.".into(),
        };
        assert!(!refused.is_retryable());
        let throttled = PlatformError::Throttled {
            message: "Your account reached the API rate limit".into(),
            retry_after: Some(Duration::from_secs(7)),
        };
        assert!(throttled.is_retryable());
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(
            throttled.to_string(),
            "Heroku is rate limiting (Your account reached the API rate limit), retry after 7s"
        );
        assert!(
            PlatformError::Unavailable {
                status: 503,
                message: "x".into()
            }
            .is_retryable()
        );
        assert!(PlatformError::Timeout(Duration::from_secs(15)).is_retryable());
        assert!(!PlatformError::Malformed("x".into()).is_retryable());
        assert!(
            !PlatformError::Rejected {
                status: 422,
                id: "invalid_params".into(),
                message: "x".into()
            }
            .is_retryable()
        );
    }
}
