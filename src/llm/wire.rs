//! The two wire formats, as pure functions tested against the providers' documented shapes:
//! OpenAI chat completions and Anthropic messages (`request_body`, `parse_answer`,
//! `parse_error`), and the URL each is posted to.

use serde_json::{Value, json};

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
pub struct Completion {
    pub text: String,
    pub model: Option<String>,
}

/// Reads a 2xx body: `choices[0].message.content` (OpenAI) or the concatenated `text` blocks
/// of `content` (Anthropic). An answer without text (a refusal, only tool calls) is an error.
pub fn parse_answer(format: WireFormat, body: &[u8]) -> Result<Completion, String> {
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
    Ok(Completion {
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
}
