//! A scripted HTTP server on `127.0.0.1:0` for testing real HTTP clients on loopback: the
//! one local server of every suite (provider feeds, webhooks, PagerDuty, the LLM wire formats,
//! the app's endpoints).
//!
//! Each path answers with a [`Reply`] (status, headers, body bytes, optional delay), or with a
//! list of replies used in turn (the last one repeats), that a test can replace at any moment;
//! every request is counted and recorded with its headers and body. The server runs on its
//! own thread and runtime, so it serves sync tests (a `lifeboat` child process) and async ones
//! alike, and a test that pauses tokio time does not freeze it. It stops when dropped.
//!
//! ```ignore
//! let server = HttpServer::start();
//! server.reply("/status.json", Reply::json(r#"{"ok":true}"#).header("etag", "\"v1\""));
//! let url = server.url("/status.json");
//! // ... point a client at `url` ...
//! assert_eq!(server.hits("/status.json"), 1);
//! server.reply("/status.json", Reply::status(304)); // the next request gets this
//! ```
//!
//! Unscripted paths answer 404 with a body naming the path.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use tokio::sync::oneshot;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering (a slow or never-answering server).
    pub delay: Option<Duration>,
}

impl Reply {
    /// 200 with `body` and no content type.
    pub fn bytes(body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
            delay: None,
        }
    }

    /// 200 with `body` as `application/json`.
    pub fn json(body: impl Into<Vec<u8>>) -> Self {
        Self::bytes(body).header("content-type", "application/json")
    }

    /// `status` with an empty body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            ..Self::bytes(Vec::new())
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// The path alone.
    pub path: String,
    /// Lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: serde_json::Value,
}

impl Recorded {
    /// The body, which the client sent as JSON.
    pub fn json(&self) -> serde_json::Value {
        assert!(!self.body.is_null(), "the client sent no JSON: {self:?}");
        self.body.clone()
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Routes {
    /// Per path, used in turn; the last one repeats.
    replies: HashMap<String, VecDeque<Reply>>,
    /// The answer to paths without replies of their own.
    fallback: Option<Reply>,
    requests: HashMap<String, Vec<Recorded>>,
    /// Every request, in arrival order.
    all: Vec<Recorded>,
}

type Shared = Arc<Mutex<Routes>>;

/// A router served on a free loopback port from a thread of its own, until dropped. Every
/// local server of the tests (this one, the Heroku and LLM servers) stands on it.
pub struct Serving {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Serving {
    /// Binds a free loopback port and starts serving `app`; returns once the port accepts.
    pub fn start(app: Router) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("make the listener non-blocking");
        let addr = listener.local_addr().expect("the listener has an address");
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("http-test-server-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("build the server runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("adopt the listener");
                    // Not a graceful shutdown: a request held by a long delay must not keep a
                    // finished test waiting.
                    tokio::select! {
                        result = axum::serve(listener, app) => {
                            if let Err(err) = result {
                                eprintln!("test HTTP server stopped: {err}");
                            }
                        }
                        _ = stopped => {}
                    }
                });
            })
            .expect("spawn the server thread");
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub struct HttpServer {
    serving: Serving,
    routes: Shared,
}

impl HttpServer {
    /// Binds a free loopback port and starts serving; returns once the port accepts.
    pub fn start() -> Self {
        let routes = Shared::default();
        let app = Router::new().fallback(answer).with_state(routes.clone());
        Self {
            serving: Serving::start(app),
            routes,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.serving.base_url()
    }

    /// `http://127.0.0.1:PORT{path}`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Answers `path` (query ignored) with `reply` from the next request on.
    pub fn reply(&self, path: &str, reply: Reply) {
        self.replies(path, [reply]);
    }

    /// Answers `path` with `replies` in turn from the next request on; the last one repeats.
    pub fn replies(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        let replies: VecDeque<Reply> = replies.into_iter().collect();
        assert!(!replies.is_empty(), "no reply for {path}");
        self.routes().replies.insert(path.to_owned(), replies);
    }

    /// Answers `path` with JSON bodies and their statuses, in turn; the last one repeats.
    pub fn script(&self, path: &str, replies: &[(u16, &str)]) {
        self.replies(
            path,
            replies
                .iter()
                .map(|(status, body)| Reply::json(*body).with_status(*status)),
        );
    }

    /// Holds every reply to `path` for `delay` (a server that does not answer in time).
    pub fn stall(&self, path: &str, delay: Duration) {
        let mut routes = self.routes();
        let replies = routes
            .replies
            .get_mut(path)
            .unwrap_or_else(|| panic!("no reply scripted for {path} to stall"));
        for reply in replies.iter_mut() {
            reply.delay = Some(delay);
        }
    }

    /// Answers every path that has no replies of its own with `reply`.
    pub fn reply_to_all(&self, reply: Reply) {
        self.routes().fallback = Some(reply);
    }

    /// How many requests reached `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.routes().requests.get(path).map_or(0, Vec::len)
    }

    /// How many requests reached any path.
    pub fn total_hits(&self) -> usize {
        self.routes().all.len()
    }

    /// Every request, oldest first.
    pub fn all_requests(&self) -> Vec<Recorded> {
        self.routes().all.clone()
    }

    /// Every request to `path`, oldest first.
    pub fn requests(&self, path: &str) -> Vec<Recorded> {
        self.routes()
            .requests
            .get(path)
            .cloned()
            .unwrap_or_default()
    }

    /// The most recent request to `path`.
    pub fn last_request(&self, path: &str) -> Option<Recorded> {
        self.routes()
            .requests
            .get(path)
            .and_then(|list| list.last().cloned())
    }

    fn routes(&self) -> MutexGuard<'_, Routes> {
        // A test that panicked while holding the lock has already failed; keep serving.
        self.routes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn answer(State(routes): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let recorded = Recorded {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        path: path.clone(),
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    let reply = {
        let mut routes = routes.lock().unwrap_or_else(|p| p.into_inner());
        routes.all.push(recorded.clone());
        routes
            .requests
            .entry(path.clone())
            .or_default()
            .push(recorded);
        match routes.replies.get_mut(&path) {
            Some(turns) if turns.len() > 1 => turns.pop_front(),
            Some(turns) => turns.front().cloned(),
            None => routes.fallback.clone(),
        }
    };
    let reply = reply
        .unwrap_or_else(|| Reply::bytes(format!("no reply scripted for {path}")).with_status(404));
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).expect("a valid status code");
    for (name, value) in &reply.headers {
        response.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).expect("a valid header name"),
            HeaderValue::from_str(value).expect("a valid header value"),
        );
    }
    response
}

/// A loopback port with nothing listening: bound, then released.
pub fn dead_port_url(path: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("the listener has an address");
    drop(listener);
    format!("http://{addr}{path}")
}

/// A GET over a plain socket (HTTP/1.0, so the body is not chunked): status, head, body.
pub fn get(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    (status, head, raw[split + 4..].to_vec())
}
