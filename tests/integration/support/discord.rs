//! An in-process fake Discord on `127.0.0.1:0` for the real serenity client: REST under
//! `/api/v10` (every call recorded with method, path and JSON body, multipart uploads with
//! their files; threads from a message or standalone; interaction callbacks of every type,
//! a type-7 update or a PATCH of `@original` after a button editing the pressed message) and
//! a websocket gateway (Hello, Identify → READY, heartbeat ACKs, Resume → RESUMED, pushed
//! INTERACTION_CREATE dispatches, op 7 on demand). Payloads follow Discord's shapes closely enough for serenity
//! 0.12 to deserialize them: a payload serenity cannot read is dropped with only a warning.
//!
//! Like `support::http`, it runs on its own thread and runtime and stops when dropped.
//!
//! ```ignore
//! let fake = FakeDiscord::start();
//! // ... start a client with api_base = fake.api_base() ...
//! fake.wait_sessions(1, WAIT).await;
//! let mark = fake.mark();
//! fake.push_interaction(slash(GUILD, CHANNEL, &alice, "runbook", "list", json!([])));
//! let call = fake.wait_call(mark, "the callback", |c| c.path.ends_with("/callback"), WAIT).await;
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, oneshot};

/// The bot's application id (and its user id, as for modern bots).
pub const APP_ID: u64 = 910_000_000_000_000_001;

/// The test guild and its incident channel (the shipped config's ids).
pub const GUILD: u64 = 100_000_000_000_000_001;
pub const CHANNEL: u64 = 100_000_000_000_000_002;
/// A guild the bot does not serve.
pub const OTHER_GUILD: u64 = 100_000_000_000_000_009;
/// The role ids `[access]` names (the shipped config's).
pub const RESPONDER: u64 = 200_000_000_000_000_001;
pub const APPROVER: u64 = 200_000_000_000_000_002;
pub const COMMUNICATOR: u64 = 200_000_000_000_000_003;

/// One REST call the bot made.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// The path after `/api/v10`, e.g. `/channels/1/messages`.
    pub path: String,
    /// The JSON body (`Null` when empty or not JSON); for a multipart upload, its
    /// `payload_json` part.
    pub body: Value,
    /// The files of a multipart upload, in order.
    pub files: Vec<File>,
    pub at: Instant,
}

/// One uploaded file (`files[N]` part of a multipart body).
#[derive(Debug, Clone)]
pub struct File {
    /// The part name, e.g. `files[0]`.
    pub part: String,
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// What the next matching REST call answers instead of its normal response.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// 429 with `retry_after` seconds (body and header), as Discord rate-limits.
    RateLimited { retry_after: f64 },
    /// 500 Internal Server Error.
    ServerError,
}

enum Push {
    Dispatch { kind: &'static str, data: Value },
    Reconnect,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    faults: VecDeque<(String, Fault)>,
    /// Messages the bot created, by id.
    messages: HashMap<String, Value>,
    /// The original response of each interaction token.
    originals: HashMap<String, Value>,
    /// The channel each interaction token was sent from.
    token_channels: HashMap<String, u64>,
    /// The message a component interaction's token was pressed on.
    token_messages: HashMap<String, String>,
    /// Threads the bot opened: (thread id, parent channel, starter message id).
    threads: Vec<(u64, u64, Option<u64>)>,
    identifies: usize,
    resumes: usize,
    /// The close code of each close frame a client sent on its gateway session.
    closes: Vec<u16>,
    /// When each pushed interaction was sent, by interaction id.
    sent: HashMap<String, Instant>,
    /// What `GET /guilds/{g}/members` lists (`FakeDiscord::set_members`).
    members: Vec<Value>,
}

struct Shared {
    addr: SocketAddr,
    inner: Mutex<Inner>,
    changed: Notify,
    gateway: Mutex<Option<mpsc::UnboundedSender<Push>>>,
    seq: AtomicU64,
    ids: AtomicU64,
    /// How long the waiting helpers (`interact`, `followup`, ...) wait, in milliseconds.
    patience_ms: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }
}

pub struct FakeDiscord {
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeDiscord {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            addr,
            inner: Mutex::default(),
            changed: Notify::new(),
            gateway: Mutex::new(None),
            seq: AtomicU64::new(1),
            ids: AtomicU64::new(1_200_000_000_000_000_001),
            patience_ms: AtomicU64::new(10_000),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let state = shared.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("fake discord runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = Router::new()
                    .route("/gateway", get(gateway))
                    .fallback(rest)
                    .with_state(state);
                let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
        });
        Self {
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// What `[discord] api_base` should be.
    pub fn api_base(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// How long `interact`, `followup`, `edited_original` and `wait_message` wait (10 s unless
    /// set).
    pub fn set_patience(&self, patience: Duration) {
        let ms = u64::try_from(patience.as_millis()).unwrap_or(u64::MAX);
        self.shared.patience_ms.store(ms, Ordering::Relaxed);
    }

    pub fn patience(&self) -> Duration {
        Duration::from_millis(self.shared.patience_ms.load(Ordering::Relaxed))
    }

    /// Pushes an interaction and waits for its callback (the acknowledgement); returns the
    /// interaction's token and the callback.
    pub async fn interact(&self, payload: Value) -> (String, Call) {
        let mark = self.mark();
        let id = payload["id"].as_str().unwrap().to_owned();
        let token = payload["token"].as_str().unwrap().to_owned();
        self.push_interaction(payload);
        let callback = self
            .wait_call(
                mark,
                "the interaction callback",
                |c| c.method == "POST" && c.path == format!("/interactions/{id}/{token}/callback"),
                self.patience(),
            )
            .await;
        (token, callback)
    }

    /// The follow-up the bot sent after `since` for an interaction token.
    pub async fn followup(&self, since: usize, token: &str) -> Call {
        self.wait_call(
            since,
            "the follow-up",
            |c| c.method == "POST" && c.path == format!("/webhooks/{APP_ID}/{token}"),
            self.patience(),
        )
        .await
    }

    /// The edit (PATCH) of an interaction's original response after `since`: the answer of a
    /// deferred command, or a pressed message settled.
    pub async fn edited_original(&self, since: usize, token: &str, what: &str) -> Call {
        self.wait_call(
            since,
            what,
            |c| c.method == "PATCH" && c.path.ends_with(&format!("{token}/messages/@original")),
            self.patience(),
        )
        .await
    }

    /// Waits for the bot's earliest message whose content starts with `start` and contains
    /// `needle`.
    pub async fn wait_message(&self, start: &str, needle: &str) -> Value {
        let found = tokio::time::timeout(self.patience(), async {
            loop {
                if let Some(m) = self.find_message(|m| {
                    let said = m["content"].as_str().unwrap_or_default();
                    said.starts_with(start) && said.contains(needle)
                }) {
                    return m;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no message starting {start:?} with {needle:?}"))
    }

    /// Every REST call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    /// A position in the call log, to wait only for later calls.
    pub fn mark(&self) -> usize {
        self.shared.lock().calls.len()
    }

    /// Waits for a call after `since` matching `pred`; panics with the calls seen on timeout.
    pub async fn wait_call(
        &self,
        since: usize,
        what: &str,
        pred: impl Fn(&Call) -> bool,
        timeout: Duration,
    ) -> Call {
        let found = tokio::time::timeout(timeout, async {
            loop {
                let notified = self.shared.changed.notified();
                if let Some(call) = self
                    .shared
                    .lock()
                    .calls
                    .iter()
                    .skip(since)
                    .find(|c| pred(c))
                {
                    return call.clone();
                }
                notified.await;
            }
        })
        .await;
        match found {
            Ok(call) => call,
            Err(_) => {
                let seen: Vec<String> = self
                    .calls()
                    .iter()
                    .skip(since)
                    .map(|c| format!("{} {} {}", c.method, c.path, c.body))
                    .collect();
                panic!(
                    "timed out waiting for {what}; calls since the mark:\n{}",
                    seen.join("\n")
                )
            }
        }
    }

    /// Waits until `n` gateway sessions have identified.
    pub async fn wait_sessions(&self, n: usize, timeout: Duration) {
        self.wait_state(|i| i.identifies >= n, "a gateway session", timeout)
            .await;
    }

    /// Waits until `n` resumes have been answered.
    pub async fn wait_resumes(&self, n: usize, timeout: Duration) {
        self.wait_state(|i| i.resumes >= n, "a gateway resume", timeout)
            .await;
    }

    async fn wait_state(&self, pred: impl Fn(&Inner) -> bool, what: &str, timeout: Duration) {
        let done = tokio::time::timeout(timeout, async {
            loop {
                let notified = self.shared.changed.notified();
                if pred(&self.shared.lock()) {
                    return;
                }
                notified.await;
            }
        })
        .await;
        assert!(done.is_ok(), "timed out waiting for {what}");
    }

    /// The close codes clients sent on their gateway sessions (1000: a clean close).
    pub fn closes(&self) -> Vec<u16> {
        self.shared.lock().closes.clone()
    }

    /// Waits until a client has sent `n` close frames.
    pub async fn wait_closes(&self, n: usize, timeout: Duration) {
        self.wait_state(|i| i.closes.len() >= n, "a gateway close frame", timeout)
            .await;
    }

    pub fn identifies(&self) -> usize {
        self.shared.lock().identifies
    }

    /// Sends an INTERACTION_CREATE dispatch on the current gateway session.
    /// The guild's members, as the REST route `GET /guilds/{g}/members` lists them.
    pub fn set_members(&self, guild: u64, members: &[Member]) {
        self.shared.lock().members = members.iter().map(|m| m.json(guild)).collect();
    }

    pub fn push_interaction(&self, payload: Value) {
        let mut inner = self.shared.lock();
        if let (Some(token), Some(channel)) = (
            payload["token"].as_str(),
            payload["channel_id"].as_str().and_then(|c| c.parse().ok()),
        ) {
            inner.token_channels.insert(token.to_owned(), channel);
        }
        if let (Some(token), Some(message)) =
            (payload["token"].as_str(), payload["message"]["id"].as_str())
        {
            inner
                .token_messages
                .insert(token.to_owned(), message.to_owned());
        }
        if let Some(id) = payload["id"].as_str() {
            inner.sent.insert(id.to_owned(), Instant::now());
        }
        drop(inner);
        self.push(Push::Dispatch {
            kind: "INTERACTION_CREATE",
            data: payload,
        });
    }

    /// Asks the client to reconnect (op 7); it resumes on `resume_gateway_url`.
    pub fn reconnect(&self) {
        self.push(Push::Reconnect);
    }

    fn push(&self, push: Push) {
        let gateway = self
            .shared
            .gateway
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let sender = gateway.as_ref().expect("no gateway session to push to");
        assert!(sender.send(push).is_ok(), "the gateway session is gone");
    }

    /// The next REST call whose path contains `path_contains` answers `fault` instead.
    pub fn fail_next(&self, path_contains: &str, fault: Fault) {
        self.shared
            .lock()
            .faults
            .push_back((path_contains.to_owned(), fault));
    }

    /// The original response the bot gave to an interaction token, as a message object.
    pub fn original(&self, token: &str) -> Option<Value> {
        self.shared.lock().originals.get(token).cloned()
    }

    /// A message the bot created, by id.
    pub fn message(&self, id: &str) -> Option<Value> {
        self.shared.lock().messages.get(id).cloned()
    }

    /// The earliest message the bot created that `matches` (message ids grow).
    pub fn find_message(&self, matches: impl Fn(&Value) -> bool) -> Option<Value> {
        self.shared
            .lock()
            .messages
            .values()
            .filter(|m| matches(m))
            .min_by_key(|m| m["id"].as_str().and_then(|id| id.parse::<u64>().ok()))
            .cloned()
    }

    /// The threads the bot opened: (thread id, parent channel, starter message id).
    pub fn threads(&self) -> Vec<(u64, u64, Option<u64>)> {
        self.shared.lock().threads.clone()
    }

    /// When the interaction with this id was pushed.
    pub fn sent_at(&self, interaction_id: &str) -> Option<Instant> {
        self.shared.lock().sent.get(interaction_id).copied()
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Drop open sessions so the server can finish.
        self.shared
            .gateway
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn bot_user() -> Value {
    json!({
        "id": APP_ID.to_string(),
        "username": "lifeboat",
        "discriminator": "0",
        "global_name": "Lifeboat",
        "avatar": null,
        "bot": true,
    })
}

/// A message object as Discord returns it, built from what the bot sent.
fn message_json(id: u64, channel: u64, body: &Value, webhook: bool) -> Value {
    let or = |key: &str, default: Value| match &body[key] {
        Value::Null => default,
        v => v.clone(),
    };
    json!({
        "id": id.to_string(),
        "channel_id": channel.to_string(),
        "author": bot_user(),
        "content": or("content", json!("")),
        "timestamp": "2026-11-25T10:00:00.000000+00:00",
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": or("embeds", json!([])),
        "components": or("components", json!([])),
        "pinned": false,
        "type": if body["message_reference"].is_null() { 0 } else { 19 },
        "flags": or("flags", json!(0)),
        "webhook_id": if webhook { json!(APP_ID.to_string()) } else { Value::Null },
        "application_id": APP_ID.to_string(),
        "message_reference": body["message_reference"].clone(),
    })
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn not_found(path: &str) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        json!({ "message": format!("404: Not Found ({path})"), "code": 0 }),
    )
}

/// The parts of a `multipart/form-data` body: (name, filename, bytes).
fn multipart(content_type: &str, body: &[u8]) -> Vec<(String, Option<String>, Vec<u8>)> {
    let Some(boundary) = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
    else {
        return Vec::new();
    };
    let delimiter = format!("--{}", boundary.trim_matches('"'));
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| i + from)
    };
    let mut parts = Vec::new();
    let mut at = match find(body, delimiter.as_bytes(), 0) {
        Some(i) => i + delimiter.len(),
        None => return parts,
    };
    while let Some(next) = find(body, delimiter.as_bytes(), at) {
        let part = &body[at..next];
        at = next + delimiter.len();
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let Some(split) = find(part, b"\r\n\r\n", 0) else {
            continue;
        };
        let headers = String::from_utf8_lossy(&part[..split]).to_lowercase();
        let original = String::from_utf8_lossy(&part[..split]).into_owned();
        let field = |key: &str| {
            let start = headers.find(&format!("{key}=\""))? + key.len() + 2;
            let end = headers[start..].find('"')? + start;
            Some(original[start..end].to_owned())
        };
        if let Some(name) = field("name") {
            parts.push((name, field("filename"), part[split + 4..].to_vec()));
        }
    }
    parts
}

async fn rest(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().as_str().to_owned();
    let full = request.uri().path().to_owned();
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Bytes = axum::body::to_bytes(request.into_body(), 8 << 20)
        .await
        .unwrap_or_default();
    let Some(path) = full.strip_prefix("/api/v10") else {
        return not_found(&full);
    };
    let path = path.to_owned();
    let mut files = Vec::new();
    let body: Value = if content_type.starts_with("multipart/form-data") {
        let mut payload = Value::Null;
        for (name, filename, bytes) in multipart(&content_type, &body) {
            match filename {
                Some(filename) => files.push(File {
                    part: name,
                    filename,
                    bytes,
                }),
                None if name == "payload_json" => {
                    payload = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                }
                None => {}
            }
        }
        payload
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let fault = {
        let mut inner = shared.lock();
        inner
            .faults
            .iter()
            .position(|(p, _)| path.contains(p.as_str()))
            .and_then(|i| inner.faults.remove(i))
            .map(|(_, f)| f)
    };
    let response = match fault {
        Some(fault) => fault_response(fault),
        None => route(&shared, &method, &path, &body),
    };
    // Recorded once its effects are in place, so a test that saw the call sees them too.
    shared.lock().calls.push(Call {
        method,
        path,
        body,
        files,
        at: Instant::now(),
    });
    shared.changed.notify_waiters();
    response
}

fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::RateLimited { retry_after } => Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("content-type", "application/json")
            .header("retry-after", format!("{}", retry_after.ceil()))
            .header("x-ratelimit-scope", "user")
            .body(Body::from(
                json!({ "message": "You are being rate limited.", "retry_after": retry_after, "global": false, "code": 0 })
                    .to_string(),
            ))
            .unwrap_or_else(|_| StatusCode::TOO_MANY_REQUESTS.into_response()),
        Fault::ServerError => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "message": "500: Internal Server Error", "code": 0 }),
        ),
    }
}

/// The normal answer to a REST call.
fn route(shared: &Shared, method: &str, path: &str, body: &Value) -> Response {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["gateway"]) => json_response(
            StatusCode::OK,
            json!({ "url": format!("ws://{}/gateway", shared.addr) }),
        ),
        ("GET", ["gateway", "bot"]) => json_response(
            StatusCode::OK,
            json!({
                "url": format!("ws://{}/gateway", shared.addr),
                "shards": 1,
                "session_start_limit": { "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1 }
            }),
        ),
        ("GET", ["users", "@me"]) => json_response(StatusCode::OK, bot_user()),
        // One page: the tests' guilds are far below Discord's page of 1000.
        ("GET", ["guilds", _guild, "members"]) => {
            json_response(StatusCode::OK, Value::Array(shared.lock().members.clone()))
        }
        ("GET", ["oauth2", "applications", "@me"]) => json_response(
            StatusCode::OK,
            json!({
                "id": APP_ID.to_string(),
                "name": "Lifeboat",
                "icon": null,
                "description": "",
                "bot_public": false,
                "bot_require_code_grant": false,
                "verify_key": "0000",
                "owner": null,
                "team": null,
                "flags": 0,
            }),
        ),
        ("PUT", ["applications", app, "guilds", guild, "commands"]) => {
            let commands: Vec<Value> = body
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut c| {
                    c["id"] = json!(shared.next_id().to_string());
                    c["application_id"] = json!(*app);
                    c["guild_id"] = json!(*guild);
                    c["version"] = json!(shared.next_id().to_string());
                    if c["type"].is_null() {
                        c["type"] = json!(1);
                    }
                    if c["default_member_permissions"].is_null() {
                        c["default_member_permissions"] = Value::Null;
                    }
                    c
                })
                .collect();
            json_response(StatusCode::OK, Value::Array(commands))
        }
        ("POST", ["interactions", _id, token, "callback"]) => {
            // Types 4 (message) and 7 (update) carry a message: keep it as the original.
            if matches!(body["type"].as_u64(), Some(4 | 7)) {
                let mut inner = shared.lock();
                let channel = inner.token_channels.get(*token).copied().unwrap_or(1);
                let pressed = inner.token_messages.get(*token).cloned();
                match (body["type"].as_u64(), pressed) {
                    (Some(7), Some(pressed)) => {
                        let id = pressed.parse().unwrap_or_default();
                        let message = message_json(id, channel, &body["data"], false);
                        inner.messages.insert(pressed, message);
                    }
                    _ => {
                        let id = shared.next_id();
                        let message = message_json(id, channel, &body["data"], true);
                        inner.originals.insert((*token).to_owned(), message);
                    }
                }
            }
            StatusCode::NO_CONTENT.into_response()
        }
        ("POST", ["webhooks", _app, token]) => {
            let mut inner = shared.lock();
            let channel = inner.token_channels.get(*token).copied().unwrap_or(1);
            let id = shared.next_id();
            let message = message_json(id, channel, body, true);
            inner.messages.insert(id.to_string(), message.clone());
            json_response(StatusCode::OK, message)
        }
        ("GET", ["webhooks", _app, token, "messages", "@original"]) => {
            match shared.lock().originals.get(*token) {
                Some(message) => json_response(StatusCode::OK, message.clone()),
                None => not_found(path),
            }
        }
        ("PATCH", ["webhooks", _app, token, "messages", "@original"]) => {
            let mut inner = shared.lock();
            let channel = inner.token_channels.get(*token).copied().unwrap_or(1);
            // After a component's acknowledgement, the original is the pressed message.
            if let Some(pressed) = inner.token_messages.get(*token).cloned() {
                let id = pressed.parse().unwrap_or_default();
                let mut message = message_json(id, channel, body, false);
                message["edited_timestamp"] = json!("2026-11-25T10:00:01.000000+00:00");
                inner.messages.insert(pressed, message.clone());
                return json_response(StatusCode::OK, message);
            }
            let id = shared.next_id();
            let message = message_json(id, channel, body, true);
            inner.originals.insert((*token).to_owned(), message.clone());
            inner.messages.insert(id.to_string(), message.clone());
            json_response(StatusCode::OK, message)
        }
        ("DELETE", ["webhooks", _app, token, "messages", "@original"]) => {
            shared.lock().originals.remove(*token);
            StatusCode::NO_CONTENT.into_response()
        }
        ("POST", ["channels", channel, "messages"]) => {
            let Ok(channel) = channel.parse::<u64>() else {
                return not_found(path);
            };
            let id = shared.next_id();
            let message = message_json(id, channel, body, false);
            shared
                .lock()
                .messages
                .insert(id.to_string(), message.clone());
            json_response(StatusCode::OK, message)
        }
        // A thread started from a message takes the message's id, as on Discord.
        ("POST", ["channels", channel, "messages", message, "threads"]) => {
            match (channel.parse::<u64>(), message.parse::<u64>()) {
                (Ok(parent), Ok(starter)) => open_thread(shared, parent, Some(starter), body),
                _ => not_found(path),
            }
        }
        ("POST", ["channels", channel, "threads"]) => match channel.parse::<u64>() {
            Ok(parent) => open_thread(shared, parent, None, body),
            Err(_) => not_found(path),
        },
        ("PATCH", ["channels", channel, "messages", message]) => {
            let Ok(channel) = channel.parse::<u64>() else {
                return not_found(path);
            };
            let Ok(id) = message.parse::<u64>() else {
                return not_found(path);
            };
            let mut updated = message_json(id, channel, body, false);
            updated["edited_timestamp"] = json!("2026-11-25T10:00:01.000000+00:00");
            shared
                .lock()
                .messages
                .insert(id.to_string(), updated.clone());
            json_response(StatusCode::OK, updated)
        }
        _ => not_found(path),
    }
}

fn open_thread(shared: &Shared, parent: u64, starter: Option<u64>, body: &Value) -> Response {
    let id = starter.unwrap_or_else(|| shared.next_id());
    shared.lock().threads.push((id, parent, starter));
    json_response(
        StatusCode::CREATED,
        json!({
            "id": id.to_string(),
            "type": 11,
            "guild_id": "100000000000000001",
            "parent_id": parent.to_string(),
            "owner_id": APP_ID.to_string(),
            "name": body["name"].clone(),
            "last_message_id": null,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "flags": 0,
            "total_message_sent": 0,
        }),
    )
}

async fn gateway(State(shared): State<Arc<Shared>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| session(shared, socket))
}

async fn send(socket: &mut WebSocket, payload: Value) -> bool {
    socket
        .send(WsMessage::Text(payload.to_string().into()))
        .await
        .is_ok()
}

fn dispatch(shared: &Shared, kind: &str, data: Value) -> Value {
    json!({ "op": 0, "t": kind, "s": shared.seq.fetch_add(1, Ordering::Relaxed), "d": data })
}

/// One gateway connection: Hello, then Identify/Resume/heartbeats from the client, and
/// dispatches pushed by the test.
async fn session(shared: Arc<Shared>, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    *shared.gateway.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    if !send(
        &mut socket,
        json!({ "op": 10, "d": { "heartbeat_interval": 41250 } }),
    )
    .await
    {
        return;
    }
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { return };
                let text = match message {
                    WsMessage::Text(text) => text.to_string(),
                    WsMessage::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    WsMessage::Close(frame) => {
                        shared.lock().closes.push(frame.map_or(1005, |f| f.code));
                        shared.changed.notify_waiters();
                        return;
                    }
                    _ => continue,
                };
                let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
                let reply = match frame["op"].as_u64() {
                    Some(1) => Some(json!({ "op": 11 })),
                    Some(2) => {
                        let n = {
                            let mut inner = shared.lock();
                            inner.identifies += 1;
                            inner.identifies
                        };
                        Some(dispatch(&shared, "READY", json!({
                            "v": 10,
                            "user": bot_user(),
                            "guilds": [],
                            "session_id": format!("session-{n}"),
                            "resume_gateway_url": format!("ws://{}/gateway", shared.addr),
                            "shard": [0, 1],
                            "application": { "id": APP_ID.to_string(), "flags": 0 },
                        })))
                    }
                    Some(6) => {
                        shared.lock().resumes += 1;
                        Some(dispatch(&shared, "RESUMED", json!({})))
                    }
                    _ => None,
                };
                if let Some(reply) = reply {
                    if !send(&mut socket, reply).await {
                        return;
                    }
                    shared.changed.notify_waiters();
                }
            }
            pushed = rx.recv() => {
                let frame = match pushed {
                    Some(Push::Dispatch { kind, data }) => dispatch(&shared, kind, data),
                    Some(Push::Reconnect) => json!({ "op": 7, "d": null }),
                    None => return,
                };
                if !send(&mut socket, frame).await {
                    return;
                }
            }
        }
    }
}

/// A guild member as interactions carry them.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: u64,
    pub name: &'static str,
    pub roles: Vec<u64>,
}

impl Member {
    pub fn new(id: u64, name: &'static str, roles: &[u64]) -> Self {
        Self {
            id,
            name,
            roles: roles.to_vec(),
        }
    }

    /// The same person as the bot core sees them outside Discord (the console, the tests'
    /// recorder): the test role ids become the role names every `[access]` accepts.
    pub fn person(&self) -> lifeboat::approval::Person {
        lifeboat::approval::Person {
            id: self.name.into(),
            name: self.name.into(),
            roles: self.role_names(),
        }
    }

    /// `--as NAME --roles ROLES` for a console command typed by this person.
    pub fn console_flags(&self) -> String {
        format!("--as {} --roles {}", self.name, self.role_names().join(","))
    }

    fn role_names(&self) -> Vec<String> {
        self.roles
            .iter()
            .map(|role| match *role {
                RESPONDER => "responder".to_owned(),
                APPROVER => "approver".to_owned(),
                COMMUNICATOR => "communicator".to_owned(),
                other => other.to_string(),
            })
            .collect()
    }

    fn json(&self, guild: u64) -> Value {
        json!({
            "user": {
                "id": self.id.to_string(),
                "username": self.name,
                "discriminator": "0",
                "global_name": self.name,
                "avatar": null,
            },
            "nick": null,
            "avatar": null,
            "roles": self.roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "premium_since": null,
            "deaf": false,
            "mute": false,
            "flags": 0,
            "pending": false,
            "permissions": "2147483647",
            "communication_disabled_until": null,
            "guild_id": guild.to_string(),
        })
    }
}

static INTERACTIONS: AtomicU64 = AtomicU64::new(1_300_000_000_000_000_001);

fn interaction(kind: u8, guild: u64, channel: u64, who: &Member, data: Value) -> Value {
    let id = INTERACTIONS.fetch_add(1, Ordering::Relaxed);
    json!({
        "id": id.to_string(),
        "application_id": APP_ID.to_string(),
        "type": kind,
        "data": data,
        "guild_id": guild.to_string(),
        "channel": { "id": channel.to_string(), "type": 0, "name": "incident", "permissions": "2147483647" },
        "channel_id": channel.to_string(),
        "member": who.json(guild),
        "token": format!("itok-{id}-secretish"),
        "version": 1,
        "app_permissions": "2147483647",
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": { "0": guild.to_string() },
        "context": 0,
        "attachment_size_limit": 10_485_760,
    })
}

/// A slash command `/command sub` with `options` (Discord's option objects).
pub fn slash(
    guild: u64,
    channel: u64,
    who: &Member,
    command: &str,
    sub: &str,
    options: Value,
) -> Value {
    interaction(
        2,
        guild,
        channel,
        who,
        json!({
            "id": "1100000000000000001",
            "name": command,
            "type": 1,
            "guild_id": guild.to_string(),
            "options": [{ "name": sub, "type": 1, "options": options }],
        }),
    )
}

/// Autocomplete (type 4) for `/command sub` while `option` is being typed.
pub fn autocomplete(
    guild: u64,
    channel: u64,
    who: &Member,
    command: &str,
    sub: &str,
    option: &str,
    typed: &str,
) -> Value {
    interaction(
        4,
        guild,
        channel,
        who,
        json!({
            "id": "1100000000000000001",
            "name": command,
            "type": 1,
            "options": [{ "name": sub, "type": 1, "options": [
                { "name": option, "type": 3, "value": typed, "focused": true }
            ] }],
        }),
    )
}

/// A button press on `message` (a message object the bot posted).
pub fn button(guild: u64, channel: u64, who: &Member, custom_id: &str, message: Value) -> Value {
    let mut payload = interaction(
        3,
        guild,
        channel,
        who,
        json!({ "custom_id": custom_id, "component_type": 2 }),
    );
    payload["message"] = message;
    payload
}

/// A message the bot could have posted in `channel` (for buttons on messages the test made up).
pub fn bot_message(channel: u64, content: &str) -> Value {
    message_json(
        INTERACTIONS.fetch_add(1, Ordering::Relaxed),
        channel,
        &json!({ "content": content }),
        false,
    )
}

/// A submitted modal (type 5): the form `custom_id` with one text input `input` = `value`.
pub fn modal_submit(
    guild: u64,
    channel: u64,
    who: &Member,
    custom_id: &str,
    input: &str,
    value: &str,
) -> Value {
    interaction(
        5,
        guild,
        channel,
        who,
        json!({
            "custom_id": custom_id,
            "components": [{ "type": 1, "components": [
                { "type": 4, "custom_id": input, "value": value }
            ] }],
        }),
    )
}

/// The same interaction sent from `thread`, a public thread under the channel `parent`.
pub fn in_thread(mut payload: Value, thread: u64, parent: u64) -> Value {
    payload["channel_id"] = json!(thread.to_string());
    payload["channel"] = json!({
        "id": thread.to_string(),
        "type": 11,
        "name": "INC thread",
        "parent_id": parent.to_string(),
        "permissions": "2147483647",
        "thread_metadata": {
            "archived": false,
            "auto_archive_duration": 1440,
            "archive_timestamp": "2026-11-25T10:00:00.000000+00:00",
            "locked": false,
        },
    });
    payload
}

/// A string option.
pub fn text(name: &str, value: &str) -> Value {
    json!({ "name": name, "type": 3, "value": value })
}

/// The text of a message body, or of an interaction callback's `data`.
pub fn content(body: &Value) -> String {
    body["content"]
        .as_str()
        .or(body["data"]["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Whether a message body (or a callback's `data`) is ephemeral (flag 64).
pub fn ephemeral(body: &Value) -> bool {
    body["flags"].as_u64().unwrap_or(0) & 64 == 64
        || body["data"]["flags"].as_u64().unwrap_or(0) & 64 == 64
}

/// The custom ids of every button on a message body (or a callback's `data`), in order.
pub fn custom_ids(body: &Value) -> Vec<String> {
    let rows = body["components"]
        .as_array()
        .or(body["data"]["components"].as_array())
        .cloned()
        .unwrap_or_default();
    rows.iter()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
        .collect()
}
