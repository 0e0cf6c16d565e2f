//! A local LLM provider speaking both real wire formats: OpenAI's chat completions
//! (`POST /v1/chat/completions`, `Authorization: Bearer`) and Anthropic's messages
//! (`POST /v1/messages`, `x-api-key` and `anthropic-version`). It answers by prompt — a text
//! and a delay per prompt, a default for the rest — so a test scripts a provider that answers
//! well, wrongly or slowly. Wrong keys get each provider's own 401 body. Runs on its own
//! thread and runtime; stops when dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::http::Serving;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

/// How one prompt is answered.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub text: String,
    pub delay: Duration,
}

struct Shared {
    key: String,
    answers: BTreeMap<String, Behaviour>,
    default: Behaviour,
    /// Every prompt received, in order.
    prompts: Vec<String>,
    /// Every request's headers, in order.
    headers: Vec<BTreeMap<String, String>>,
}

pub struct LlmServer {
    serving: Serving,
    shared: Arc<Mutex<Shared>>,
}

impl LlmServer {
    /// A provider that accepts `key` and answers "pong" until told otherwise.
    pub fn start(key: &str) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            key: key.to_owned(),
            answers: BTreeMap::new(),
            default: Behaviour {
                text: "pong".into(),
                delay: Duration::ZERO,
            },
            prompts: Vec::new(),
            headers: Vec::new(),
        }));
        let router = Router::new().fallback(answer).with_state(shared.clone());
        Self {
            serving: Serving::start(router),
            shared,
        }
    }

    pub fn base_url(&self) -> String {
        self.serving.base_url()
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers `prompt` with `text` after `delay`.
    pub fn answer(&self, prompt: &str, text: &str, delay: Duration) {
        self.shared().answers.insert(
            prompt.to_owned(),
            Behaviour {
                text: text.to_owned(),
                delay,
            },
        );
    }

    /// Answers every prompt of the suite at `path` with its example (a provider that matches).
    pub fn answer_suite(&self, path: &std::path::Path) {
        let suite = lifeboat::parity::suite::load(path).expect("the suite loads");
        for prompt in suite.prompts {
            let example = prompt.example.expect("every shipped prompt has an example");
            self.answer(&prompt.prompt, &example, Duration::ZERO);
        }
    }

    /// Answers every prompt (not scripted otherwise) with `text` after `delay`.
    pub fn answer_all(&self, text: &str, delay: Duration) {
        let mut s = self.shared();
        s.answers.clear();
        s.default = Behaviour {
            text: text.to_owned(),
            delay,
        };
    }

    /// Every prompt received so far.
    pub fn prompts(&self) -> Vec<String> {
        self.shared().prompts.clone()
    }

    /// Every request's headers so far.
    pub fn headers(&self) -> Vec<BTreeMap<String, String>> {
        self.shared().headers.clone()
    }
}

fn reply(status: u16, body: Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

async fn answer(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let prompt = request["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (key, behaviour) = {
        let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
        s.prompts.push(prompt.clone());
        s.headers.push(
            headers
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
        );
        let behaviour = s.answers.get(&prompt).cloned().unwrap_or(s.default.clone());
        (s.key.clone(), behaviour)
    };
    match uri.path() {
        "/v1/chat/completions" => {
            if header("authorization") != Some(format!("Bearer {key}")) {
                return reply(
                    401,
                    json!({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
                );
            }
            tokio::time::sleep(behaviour.delay).await;
            reply(
                200,
                json!({
                    "id": "chatcmpl-parity",
                    "object": "chat.completion",
                    "created": 1741569952,
                    "model": request["model"],
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": behaviour.text, "refusal": null},
                        "logprobs": null,
                        "finish_reason": "stop"
                    }],
                    "usage": {"prompt_tokens": 14, "completion_tokens": 8, "total_tokens": 22}
                }),
            )
        }
        "/v1/messages" => {
            if header("x-api-key").as_deref() != Some(key.as_str())
                || header("anthropic-version").is_none()
            {
                return reply(
                    401,
                    json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
                );
            }
            tokio::time::sleep(behaviour.delay).await;
            reply(
                200,
                json!({
                    "id": "msg_parity",
                    "type": "message",
                    "role": "assistant",
                    "model": request["model"],
                    "content": [{"type": "text", "text": behaviour.text}],
                    "stop_reason": "end_turn",
                    "stop_sequence": null,
                    "usage": {"input_tokens": 14, "output_tokens": 8}
                }),
            )
        }
        other => reply(
            404,
            json!({"error": {"message": format!("no route {other}")}}),
        ),
    }
}
