//! Local stand-ins for everything a drill must not touch for real: the app (health, LLM
//! health), Heroku's Platform API (the app's config vars), the backup-status endpoint and the
//! LLM providers (answering the parity suite's prompts with their examples), speaking their
//! wire formats on a loopback port. The app's LLM health names the provider of the side that
//! serves: Heroku's config var, or after a failover the variable in the (simulated) standby's
//! task definition. A deliberately small HTTP/1.1 server: one request per connection,
//! `Content-Length` bodies only.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::config::Config;
use crate::ports::aws::{AwsEdges, normalize_name};
use crate::ports::digest::ValueDigest;

/// What the stand-in app needs to know where it runs: the standby's edges and config.
#[derive(Clone, Debug)]
pub struct Standby {
    pub aws: AwsEdges,
    pub config: Arc<Config>,
}

impl Standby {
    /// The provider the standby's app uses, when DNS points at the standby: the LLM variable
    /// of its first service's task definition (the app's default, OpenAI, when unset).
    async fn provider(&self) -> Option<String> {
        let dns = self.config.aws.dns.as_ref()?;
        let record = dns.records.first()?;
        let now = self
            .aws
            .dns
            .current_record(&dns.zone_id, &record.name, &record.record_type)
            .await
            .ok()??;
        if !now
            .values
            .iter()
            .any(|v| normalize_name(v) == normalize_name(&record.standby))
        {
            return None;
        }
        let ecs = self.config.aws.ecs.as_ref()?;
        let service = ecs.services.first()?;
        let state = self
            .aws
            .containers
            .describe_services(&ecs.cluster, std::slice::from_ref(&service.name))
            .await
            .ok()?
            .pop()?;
        let spec = self
            .aws
            .containers
            .task_definition_spec(state.task_definition.as_deref()?)
            .await
            .ok()?;
        let var = &self.config.app.llm_var;
        let set = spec.containers.iter().find_map(|c| c.environment.get(var));
        Some(
            ["openai", "anthropic"]
                .into_iter()
                .find(|p| set == Some(&ValueDigest::of(p)))
                .unwrap_or("openai")
                .to_owned(),
        )
    }
}

/// What the stand-ins currently say.
#[derive(Debug)]
pub struct StandIns {
    pub addr: SocketAddr,
    /// The LLM provider the app uses (`openai` / `anthropic`), flipped by the switch request.
    provider: Mutex<String>,
    /// How old the latest backup is.
    backup_age: Duration,
    /// The key the provider switch demands (`Authorization: Bearer …`), as the real API does.
    key: String,
    /// The LLM parity suite's examples, by prompt: what the stand-in providers answer.
    examples: Mutex<BTreeMap<String, String>>,
    /// The standby, once the drill has built its edges.
    standby: Mutex<Option<Standby>>,
}

impl StandIns {
    pub async fn start(backup_age: Duration, key: &str) -> std::io::Result<Arc<Self>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let this = Arc::new(Self {
            addr: listener.local_addr()?,
            provider: Mutex::new("openai".into()),
            backup_age,
            key: key.to_owned(),
            examples: Mutex::default(),
            standby: Mutex::default(),
        });
        let server = this.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move {
                    let _ = server.serve(stream).await;
                });
            }
        });
        Ok(this)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn provider(&self) -> String {
        self.provider.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// The providers answer these prompts with these texts (the suite's examples).
    pub fn answer_with(&self, examples: BTreeMap<String, String>) {
        if let Ok(mut known) = self.examples.lock() {
            *known = examples;
        }
    }

    /// The app follows the standby once DNS points at it.
    pub fn watch_standby(&self, standby: Standby) {
        if let Ok(mut slot) = self.standby.lock() {
            *slot = Some(standby);
        }
    }

    /// The provider the app serving now uses.
    async fn provider_in_use(&self) -> String {
        let standby = self.standby.lock().ok().and_then(|s| s.clone());
        match standby {
            Some(standby) => match standby.provider().await {
                Some(provider) => provider,
                None => self.provider(),
            },
            None => self.provider(),
        }
    }

    /// The answer to a prompt: its example in the suite, else "pong".
    fn answer(&self, body: &[u8]) -> String {
        let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let prompt = request["messages"][0]["content"]
            .as_str()
            .unwrap_or_default();
        self.examples
            .lock()
            .ok()
            .and_then(|e| e.get(prompt).cloned())
            .unwrap_or_else(|| "pong".to_owned())
    }

    async fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).await?;
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut length = 0usize;
        let mut authorization = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await? == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0).min(1 << 20);
                } else if name.eq_ignore_ascii_case("authorization") {
                    authorization = Some(value.trim().to_owned());
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        let (status, reply) = if path.ends_with("/config-vars")
            && authorization.as_deref() != Some(format!("Bearer {}", self.key).as_str())
        {
            (
                401,
                json!({ "id": "unauthorized", "message": "Invalid credentials provided." }),
            )
        } else if (method.as_str(), path.as_str()) == ("GET", "/health/llm") {
            (
                200,
                json!({ "status": "ok", "provider": self.provider_in_use().await }),
            )
        } else {
            self.route(&method, &path, &body)
        };
        let text = reply.to_string();
        let response = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
            match status {
                200 => "OK",
                401 => "Unauthorized",
                _ => "Not Found",
            },
            text.len()
        );
        reader.get_mut().write_all(response.as_bytes()).await
    }

    fn route(&self, method: &str, path: &str, body: &[u8]) -> (u16, serde_json::Value) {
        match (method, path) {
            ("GET", "/health") => (200, json!({ "status": "ok" })),
            ("GET", "/backups/latest.json") => (
                200,
                json!({ "latest": { "completed_at": (Utc::now() - self.backup_age).to_rfc3339() } }),
            ),
            // Heroku's Platform API (`/apps/{app}/config-vars`), and the bare path older
            // configs pointed `llm_switch_url` at.
            ("PATCH", path) if path.ends_with("/config-vars") => {
                let vars: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                let named =
                    vars.as_object().into_iter().flatten().find_map(|(_, v)| {
                        v.as_str().filter(|p| ["openai", "anthropic"].contains(p))
                    });
                if let Some(p) = named
                    && let Ok(mut provider) = self.provider.lock()
                {
                    *provider = p.to_owned();
                }
                (200, json!({ "LLM_PROVIDER": self.provider() }))
            }
            ("POST", "/v1/messages") => (
                200,
                json!({ "id": "msg_drill", "type": "message", "role": "assistant", "model": "drill",
                        "content": [{ "type": "text", "text": self.answer(body) }], "stop_reason": "end_turn" }),
            ),
            ("POST", "/v1/chat/completions") => (
                200,
                json!({ "id": "chatcmpl-drill", "object": "chat.completion", "model": "drill",
                        "choices": [{ "index": 0, "message": { "role": "assistant", "content": self.answer(body) }, "finish_reason": "stop" }] }),
            ),
            _ => (404, json!({ "error": "not a drill stand-in route" })),
        }
    }
}
