//! Local stand-ins for everything a drill must not touch for real: the app (health, LLM
//! health, the provider switch), the backup-status endpoint and the LLM providers, speaking
//! their wire formats on a loopback port. A deliberately small HTTP/1.1 server: one request
//! per connection, `Content-Length` bodies only.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

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
}

impl StandIns {
    pub async fn start(backup_age: Duration, key: &str) -> std::io::Result<Arc<Self>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let this = Arc::new(Self {
            addr: listener.local_addr()?,
            provider: Mutex::new("openai".into()),
            backup_age,
            key: key.to_owned(),
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
        let (status, reply) = if path == "/config-vars"
            && authorization.as_deref() != Some(format!("Bearer {}", self.key).as_str())
        {
            (
                401,
                json!({ "id": "unauthorized", "message": "Invalid credentials provided." }),
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
            ("GET", "/health/llm") => (200, json!({ "status": "ok", "provider": self.provider() })),
            ("GET", "/backups/latest.json") => (
                200,
                json!({ "latest": { "completed_at": (Utc::now() - self.backup_age).to_rfc3339() } }),
            ),
            ("PATCH", "/config-vars") => {
                let vars: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                if let Some(p) = vars["LLM_PROVIDER"].as_str()
                    && let Ok(mut provider) = self.provider.lock()
                {
                    *provider = p.to_owned();
                }
                (200, json!({ "LLM_PROVIDER": self.provider() }))
            }
            ("POST", "/v1/messages") => (
                200,
                json!({ "id": "msg_drill", "type": "message", "role": "assistant", "model": "drill",
                        "content": [{ "type": "text", "text": "pong" }], "stop_reason": "end_turn" }),
            ),
            ("POST", "/v1/chat/completions") => (
                200,
                json!({ "id": "chatcmpl-drill", "object": "chat.completion", "model": "drill",
                        "choices": [{ "index": 0, "message": { "role": "assistant", "content": "pong" }, "finish_reason": "stop" }] }),
            ),
            _ => (404, json!({ "error": "not a drill stand-in route" })),
        }
    }
}
