//! The `Llm` port: one prompt in, the answer's text out, from a named provider (OpenAI first,
//! Anthropic as the DRP's fallback). Used by the `llm_probe` step, comms polish and readiness;
//! the adapter over the providers' HTTP APIs is `crate::llm::HttpLlm`.

use std::time::Duration;

use async_trait::async_trait;

use crate::config::{LlmProviderConfig, Secret};
use crate::duration::HumanDuration;

/// One prompt for one provider.
#[derive(Debug, Clone, Copy)]
pub struct LlmRequest<'a> {
    /// `openai` or `anthropic`: the name decides the wire format.
    pub provider: &'a str,
    /// The provider's base URL and model.
    pub config: &'a LlmProviderConfig,
    pub key: &'a Secret,
    pub prompt: &'a str,
    pub max_tokens: u32,
    /// Bounds the whole exchange (connect, answer, body).
    pub timeout: Duration,
}

/// A successful completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub text: String,
    /// The model that answered, as the provider reports it.
    pub model: Option<String>,
    pub latency: Duration,
}

/// Why a completion failed; `is_retryable` says whether another attempt may succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    #[error("`{0}` is not a known LLM provider (use openai or anthropic)")]
    UnknownProvider(String),
    #[error("the API key for {0} contains characters a header cannot carry")]
    UnusableKey(String),
    #[error("{provider} answered {status}: {message}")]
    Status {
        provider: String,
        status: u16,
        message: String,
    },
    #[error("{provider} did not answer within {}", HumanDuration(*.timeout))]
    Timeout { provider: String, timeout: Duration },
    #[error("{provider} is unreachable: {reason}")]
    Unreachable { provider: String, reason: String },
    #[error("{provider}'s answer could not be read: {reason}")]
    Malformed { provider: String, reason: String },
}

impl LlmError {
    /// Overload (5xx, including Anthropic's 529), throttling (429), timeouts and connection
    /// failures may pass on another attempt; a refused request (400, 401, 403, 404) will not.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            LlmError::Timeout { .. } | LlmError::Unreachable { .. } => true,
            LlmError::UnknownProvider(_)
            | LlmError::UnusableKey(_)
            | LlmError::Malformed { .. } => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            LlmError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Sends prompts to LLM providers.
#[async_trait]
pub trait Llm: Send + Sync {
    /// Sends one prompt to the request's provider in its wire format and returns the answer's
    /// text.
    async fn complete(&self, request: LlmRequest<'_>) -> Result<Completion, LlmError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_for_retries() {
        let status = |status| LlmError::Status {
            provider: "anthropic".into(),
            status,
            message: String::new(),
        };
        for retry in [500, 502, 503, 529, 429, 408] {
            assert!(status(retry).is_retryable(), "{retry}");
        }
        for refuse in [400, 401, 403, 404] {
            assert!(!status(refuse).is_retryable(), "{refuse}");
        }
        assert!(
            LlmError::Timeout {
                provider: "openai".into(),
                timeout: Duration::from_secs(30)
            }
            .is_retryable()
        );
        assert!(
            LlmError::Unreachable {
                provider: "openai".into(),
                reason: "refused".into()
            }
            .is_retryable()
        );
        assert!(
            !LlmError::Malformed {
                provider: "openai".into(),
                reason: "x".into()
            }
            .is_retryable()
        );
        assert_eq!(
            LlmError::Timeout {
                provider: "openai".into(),
                timeout: Duration::from_secs(30)
            }
            .to_string(),
            "openai did not answer within 30s"
        );
    }
}
