//! The LLM adapter: the `Llm` port (`crate::ports::llm`) over reqwest, speaking each
//! provider's real wire format (OpenAI chat completions, Anthropic messages; see [`wire`]),
//! with the base URL from config so tests point it at loopback servers.

pub mod wire;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use tokio::time::Instant;
use tracing::{debug, info, instrument, warn};

use crate::ports::http::{describe, read_capped, truncate_chars};
use crate::ports::llm::{Completion, Llm, LlmError, LlmRequest};
use wire::{WireFormat, endpoint, parse_answer, parse_error, request_body};

/// The Messages API version Lifeboat speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Largest answer body read: a chat completion is a few KiB.
const BODY_LIMIT: usize = 1024 * 1024;

/// The providers' HTTP APIs over one shared client.
#[derive(Debug, Clone)]
pub struct HttpLlm {
    http: reqwest::Client,
}

impl HttpLlm {
    pub fn new(http: reqwest::Client) -> Self {
        Self { http }
    }
}

#[async_trait]
impl Llm for HttpLlm {
    #[instrument(skip_all, fields(provider = request.provider, model = %request.config.model))]
    async fn complete(&self, request: LlmRequest<'_>) -> Result<Completion, LlmError> {
        let LlmRequest {
            provider: provider_name,
            config: provider,
            key,
            prompt,
            max_tokens,
            timeout,
        } = request;
        let http = &self.http;
        let name = provider_name.to_owned();
        let format = WireFormat::for_provider(provider_name)
            .ok_or_else(|| LlmError::UnknownProvider(name.clone()))?;
        let url = endpoint(format, &provider.base_url);
        let body = request_body(format, &provider.model, prompt, max_tokens);
        let secret_header = |value: String| {
            let mut value =
                HeaderValue::from_str(&value).map_err(|_| LlmError::UnusableKey(name.clone()))?;
            value.set_sensitive(true);
            Ok::<_, LlmError>(value)
        };
        // `json` also sets `content-type: application/json`, which both APIs require.
        let request = match format {
            WireFormat::OpenAiChat => http.post(&url).header(
                AUTHORIZATION,
                secret_header(format!("Bearer {}", key.expose()))?,
            ),
            WireFormat::AnthropicMessages => http
                .post(&url)
                .header("x-api-key", secret_header(key.expose().to_owned())?)
                .header("anthropic-version", ANTHROPIC_VERSION),
        }
        .json(&body);

        debug!(%url, "sending the prompt");
        let started = Instant::now();
        let exchange = async {
            let mut response = request.send().await?;
            let status = response.status().as_u16();
            let (bytes, _) = read_capped(&mut response, BODY_LIMIT).await?;
            Ok::<_, reqwest::Error>((status, bytes))
        };
        let (status, bytes) = match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(err)) if err.is_timeout() => {
                return Err(LlmError::Timeout {
                    provider: name,
                    timeout,
                });
            }
            Ok(Err(err)) => {
                return Err(LlmError::Unreachable {
                    provider: name,
                    reason: describe(&err),
                });
            }
            Err(_) => {
                return Err(LlmError::Timeout {
                    provider: name,
                    timeout,
                });
            }
        };
        let latency = started.elapsed();
        if !(200..300).contains(&status) {
            let message = parse_error(format, &bytes)
                .unwrap_or_else(|| truncate_chars(String::from_utf8_lossy(&bytes).trim(), 200));
            // A proxy in front of the API might echo the key back; it must not reach a log.
            let message = message.replace(key.expose(), "[redacted]");
            warn!(status, %message, "the provider refused");
            return Err(LlmError::Status {
                provider: name,
                status,
                message,
            });
        }
        let answer = parse_answer(format, &bytes).map_err(|reason| LlmError::Malformed {
            provider: name.clone(),
            reason,
        })?;
        info!(latency_ms = latency.as_millis() as u64, "answered");
        Ok(Completion {
            text: answer.text,
            model: answer.model,
            latency,
        })
    }
}
