//! `llm_probe`, and the small OpenAI / Anthropic client it is built on: one prompt in, the
//! answer's text out, over each provider's real wire format (OpenAI chat completions,
//! Anthropic messages). The client (`complete`) knows nothing about steps, so client comms
//! can reuse it for drafting.
//!
//! The wire formats live in pure functions (`request_body`, `parse_answer`, `parse_error`),
//! tested below against the providers' documented shapes.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::{debug, info, instrument, warn};

use super::http::{describe, read_capped, truncate_chars, within_step};
use super::{StepEnv, StepError, StepInput, StepOutput};
use crate::config::{LlmProviderConfig, Secret};
use crate::duration::HumanDuration;
use crate::runbook::LlmProbe;

/// The Messages API version Lifeboat speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// A probe only needs a word or two back; a small cap keeps it fast and cheap.
pub const PROBE_MAX_TOKENS: u32 = 64;
/// Characters of the answer kept in a probe's output.
const ANSWER_KEPT: usize = 500;
/// Largest answer body read: a chat completion is a few KiB.
const BODY_LIMIT: usize = 1024 * 1024;

/// Which API a provider speaks. The config has one slot per provider, so the name decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// `POST /v1/chat/completions`, `Authorization: Bearer`.
    OpenAiChat,
    /// `POST /v1/messages`, `x-api-key` and `anthropic-version`.
    AnthropicMessages,
}

impl WireFormat {
    pub fn for_provider(name: &str) -> Option<Self> {
        match name {
            "openai" => Some(WireFormat::OpenAiChat),
            "anthropic" => Some(WireFormat::AnthropicMessages),
            _ => None,
        }
    }

    fn path(self) -> &'static str {
        match self {
            WireFormat::OpenAiChat => "/chat/completions",
            WireFormat::AnthropicMessages => "/messages",
        }
    }
}

/// The URL to POST to. Both providers' SDKs are often configured with a base URL that already
/// ends in `/v1`; accept both forms rather than sending `/v1/v1/...`.
pub fn endpoint(format: WireFormat, base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let base = base.strip_suffix("/v1").unwrap_or(base);
    format!("{base}/v1{}", format.path())
}

/// The JSON body of a one-prompt request.
pub fn request_body(format: WireFormat, model: &str, prompt: &str, max_tokens: u32) -> Value {
    let messages = json!([{ "role": "user", "content": prompt }]);
    match format {
        WireFormat::OpenAiChat => {
            json!({ "model": model, "messages": messages, "max_tokens": max_tokens })
        }
        WireFormat::AnthropicMessages => {
            json!({ "model": model, "max_tokens": max_tokens, "messages": messages })
        }
    }
}

/// The text of a successful answer, and the model the provider says answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub text: String,
    pub model: Option<String>,
}

/// Reads a 2xx body: `choices[0].message.content` (OpenAI) or the concatenated `text` blocks
/// of `content` (Anthropic). An answer without text (a refusal, only tool calls) is an error.
pub fn parse_answer(format: WireFormat, body: &[u8]) -> Result<Answer, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON ({e})"))?;
    let model = value["model"].as_str().map(str::to_owned);
    let text = match format {
        WireFormat::OpenAiChat => {
            let message = value
                .pointer("/choices/0/message")
                .ok_or("the answer has no choices[0].message")?;
            let text = match &message["content"] {
                Value::String(text) => text.clone(),
                // Some OpenAI-compatible servers send content as a list of typed parts.
                Value::Array(parts) => text_blocks(parts),
                _ => String::new(),
            };
            if text.trim().is_empty() {
                return Err(match message["refusal"].as_str() {
                    Some(refusal) => format!("the model refused: {refusal}"),
                    None => "the answer has no text in choices[0].message.content".to_owned(),
                });
            }
            text
        }
        WireFormat::AnthropicMessages => {
            let blocks = value["content"]
                .as_array()
                .ok_or("the answer has no content list")?;
            let text = text_blocks(blocks);
            if text.trim().is_empty() {
                return Err(format!(
                    "the answer has no text block (stop_reason: {})",
                    value["stop_reason"].as_str().unwrap_or("none")
                ));
            }
            text
        }
    };
    Ok(Answer {
        text: text.trim().to_owned(),
        model,
    })
}

/// Concatenated `text` of the blocks whose `type` is `text`.
fn text_blocks(blocks: &[Value]) -> String {
    blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect()
}

/// The provider's own explanation of an error answer. Both formats put it at
/// `error.message`; OpenAI adds `error.code` (or `error.type`), Anthropic `error.type`.
pub fn parse_error(format: WireFormat, body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let message = error["message"].as_str().filter(|m| !m.is_empty())?;
    let kind = match format {
        WireFormat::OpenAiChat => error["code"].as_str().or_else(|| error["type"].as_str()),
        WireFormat::AnthropicMessages => error["type"].as_str(),
    };
    Some(match kind {
        Some(kind) => format!("{message} ({kind})"),
        None => message.to_owned(),
    })
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

/// Sends one prompt to `provider` in its wire format and returns the answer's text.
/// `timeout` bounds the whole exchange (connect, answer, body).
#[instrument(skip_all, fields(provider = provider_name, model = %provider.model))]
pub async fn complete(
    http: &reqwest::Client,
    provider_name: &str,
    provider: &LlmProviderConfig,
    key: &Secret,
    prompt: &str,
    max_tokens: u32,
    timeout: Duration,
) -> Result<Completion, LlmError> {
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

/// `llm_probe`: one test prompt, judged on the answer's content and speed.
#[instrument(skip_all, fields(run = %input.run, step = %input.step.id, provider = %args.provider))]
pub async fn probe(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &LlmProbe,
) -> Result<StepOutput, StepError> {
    let name = args.provider.as_str();
    let provider = env.config.llm.provider(name).ok_or_else(|| {
        StepError::invalid(format!(
            "LLM provider `{name}` is not configured in [llm] (use openai or anthropic)"
        ))
    })?;
    // Name the variable, never its value.
    let key = env.secrets.get(&provider.key_env).ok_or_else(|| {
        StepError::invalid(format!(
            "no API key for {name}: the environment variable {} is not set",
            provider.key_env
        ))
    })?;
    let prompt = input.expand(env, &args.prompt)?;
    let expect = args
        .expect_contains
        .as_deref()
        .map(|e| input.expand(env, e))
        .transpose()?;
    let timeout = provider
        .timeout
        .get()
        .min(within_step(input.step.timeout.get()));
    let mut data = json!({ "provider": name, "model": provider.model });

    let completion = complete(
        &env.http,
        name,
        provider,
        &key,
        &prompt,
        PROBE_MAX_TOKENS,
        timeout,
    )
    .await
    .map_err(|err| {
        if let Some(status) = err.status() {
            data["status"] = json!(status);
        }
        StepError {
            message: err.to_string(),
            retryable: err.is_retryable(),
            data: data.clone(),
        }
    })?;
    let answer = truncate_chars(&completion.text, ANSWER_KEPT);
    let latency_ms = completion.latency.as_millis() as u64;
    data["latency_ms"] = json!(latency_ms);
    data["answer"] = json!(answer);

    // A probe that got the wrong answer or a slow one said no: not retried automatically.
    if let Some(expect) = expect.filter(|e| !contains_ignoring_case(&completion.text, e)) {
        return Err(StepError::invalid(format!(
            "{name} answered without {expect:?}: {:?}",
            truncate_chars(&completion.text, 120)
        ))
        .with_data(data));
    }
    if let Some(max) = args
        .max_latency
        .filter(|max| completion.latency > max.get())
    {
        return Err(StepError::invalid(format!(
            "{name} answered in {latency_ms} ms, slower than {max}"
        ))
        .with_data(data));
    }
    Ok(StepOutput::new(
        format!("{name} ({}) answered in {latency_ms} ms", provider.model),
        data,
    ))
}

fn contains_ignoring_case(text: &str, needle: &str) -> bool {
    text.to_lowercase().contains(&needle.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_accept_base_urls_with_or_without_v1() {
        use WireFormat::*;
        assert_eq!(
            endpoint(OpenAiChat, "https://api.openai.com"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            endpoint(OpenAiChat, "https://api.openai.com/v1/"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            endpoint(AnthropicMessages, "http://127.0.0.1:9/"),
            "http://127.0.0.1:9/v1/messages"
        );
        assert_eq!(WireFormat::for_provider("mistral"), None);
    }

    #[test]
    fn request_bodies_follow_each_api() {
        let openai = request_body(WireFormat::OpenAiChat, "gpt-4o-mini", "Say pong", 64);
        assert_eq!(
            openai,
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say pong"}], "max_tokens": 64})
        );
        let anthropic = request_body(
            WireFormat::AnthropicMessages,
            "claude-sonnet-4-5",
            "Say pong",
            64,
        );
        assert_eq!(
            anthropic,
            json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Say pong"}]})
        );
    }

    #[test]
    fn openai_answers_are_read_from_the_first_choice() {
        let body = br#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini-2024-07-18",
            "choices":[{"index":0,"message":{"role":"assistant","content":"Pong!","refusal":null},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#;
        let answer = parse_answer(WireFormat::OpenAiChat, body).unwrap();
        assert_eq!(answer.text, "Pong!");
        assert_eq!(answer.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));

        let refused = br#"{"choices":[{"message":{"role":"assistant","content":null,"refusal":"I can't help with that."}}]}"#;
        assert_eq!(
            parse_answer(WireFormat::OpenAiChat, refused).unwrap_err(),
            "the model refused: I can't help with that."
        );
        assert!(
            parse_answer(WireFormat::OpenAiChat, br#"{"choices":[]}"#)
                .unwrap_err()
                .contains("no choices[0].message")
        );
        assert!(
            parse_answer(WireFormat::OpenAiChat, b"<html>")
                .unwrap_err()
                .contains("not JSON")
        );
    }

    #[test]
    fn anthropic_answers_join_the_text_blocks() {
        let body = br#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
            "content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"Pong"},{"type":"text","text":"!"}],
            "stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":3}}"#;
        let answer = parse_answer(WireFormat::AnthropicMessages, body).unwrap();
        assert_eq!(answer.text, "Pong!");
        assert_eq!(answer.model.as_deref(), Some("claude-sonnet-4-5-20250929"));

        let empty = br#"{"type":"message","content":[],"stop_reason":"max_tokens"}"#;
        assert_eq!(
            parse_answer(WireFormat::AnthropicMessages, empty).unwrap_err(),
            "the answer has no text block (stop_reason: max_tokens)"
        );
    }

    #[test]
    fn provider_errors_carry_their_own_message() {
        let openai = br#"{"error":{"message":"Incorrect API key provided: sk-abc***xyz.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        assert_eq!(
            parse_error(WireFormat::OpenAiChat, openai).as_deref(),
            Some("Incorrect API key provided: sk-abc***xyz. (invalid_api_key)")
        );
        let openai_no_code = br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":null}}"#;
        assert_eq!(
            parse_error(WireFormat::OpenAiChat, openai_no_code).as_deref(),
            Some("Rate limit reached (requests)")
        );
        let anthropic = br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_1"}"#;
        assert_eq!(
            parse_error(WireFormat::AnthropicMessages, anthropic).as_deref(),
            Some("invalid x-api-key (authentication_error)")
        );
        let overloaded =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(
            parse_error(WireFormat::AnthropicMessages, overloaded).as_deref(),
            Some("Overloaded (overloaded_error)")
        );
        assert_eq!(
            parse_error(WireFormat::AnthropicMessages, b"Bad Gateway"),
            None
        );
    }

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

    #[test]
    fn expected_text_is_matched_ignoring_case() {
        assert!(contains_ignoring_case("PONG!", "pong"));
        assert!(!contains_ignoring_case("ping", "pong"));
    }
}
