//! A local server speaking Heroku's Platform API wire format (version 3, shapes from Heroku's
//! public API reference), for one app: `GET`/`PATCH /apps/{app}/config-vars` (a flat object
//! of strings or null; PATCH answers with every var, values included, as Heroku does),
//! `GET /apps/{app}/formation` (an array of process types), `GET /apps/{app}/releases`
//! (newest first, paged by the `Range` header: a cut list answers 206 with `Next-Range`) and
//! `GET /apps/{app}/slugs/{id}` (with the git `commit`). It demands
//! `Accept: application/vnd.heroku+json; version=3` and the bearer token, answering errors in
//! Heroku's `{"id", "message"}` shape. Runs on its own thread and runtime; stops when dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::http::Serving;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

pub const ACCEPT: &str = "application/vnd.heroku+json; version=3";

/// One release: its version, whether it is current, its status and slug.
#[derive(Debug, Clone)]
pub struct Release {
    pub version: u64,
    pub current: bool,
    pub status: &'static str,
    pub slug: Option<String>,
}

/// The app as Heroku holds it.
#[derive(Debug, Clone, Default)]
pub struct App {
    pub config_vars: BTreeMap<String, Option<String>>,
    /// `(type, quantity, dyno size)`.
    pub formation: Vec<(String, u32, String)>,
    /// Any order; served newest first.
    pub releases: Vec<Release>,
    /// Slug id → commit.
    pub slugs: BTreeMap<String, Option<String>>,
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
}

/// A canned answer for every request: status, JSON body, extra headers.
pub type Failure = (u16, Value, Vec<(String, String)>);

struct Shared {
    name: String,
    token: String,
    app: App,
    seen: Vec<Seen>,
    /// Answer every request with this status and body instead (rate limits, outages).
    failure: Option<Failure>,
}

pub struct HerokuServer {
    serving: Serving,
    shared: Arc<Mutex<Shared>>,
}

impl HerokuServer {
    /// Serves app `name` to holders of `token`.
    pub fn start(name: &str, token: &str, app: App) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            name: name.to_owned(),
            token: token.to_owned(),
            app,
            seen: Vec::new(),
            failure: None,
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

    /// Changes the app (a new config var, a deploy, a scale).
    pub fn with_app(&self, change: impl FnOnce(&mut App)) {
        change(&mut self.shared().app);
    }

    /// The current value of a config var.
    pub fn config_var(&self, name: &str) -> Option<String> {
        self.shared().app.config_vars.get(name).cloned().flatten()
    }

    /// From now on every request gets this answer (`None` to serve normally again).
    pub fn fail_with(&self, failure: Option<Failure>) {
        self.shared().failure = failure;
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared().seen.clone()
    }
}

fn reply(status: u16, body: &Value, headers: &[(String, String)]) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    let h = response.headers_mut();
    h.insert("content-type", "application/json".parse().unwrap());
    for (name, value) in headers {
        h.insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    response
}

fn error(status: u16, id: &str, message: &str) -> Response {
    reply(status, &json!({ "id": id, "message": message }), &[])
}

/// `version ..; order=desc, max=N` or a `Next-Range` we handed out (`]N..; ...`): the highest
/// version to include (exclusive bound for a continuation) and the page size.
fn parse_range(range: Option<&str>) -> (Option<u64>, usize) {
    let Some(range) = range else {
        return (None, 200);
    };
    let max = range
        .split("max=")
        .nth(1)
        .and_then(|m| m.trim_end_matches(';').trim().parse().ok())
        .unwrap_or(200);
    let below = range
        .strip_prefix("version ]")
        .and_then(|r| r.split("..").next())
        .and_then(|n| n.trim().parse().ok());
    (below, max)
}

async fn answer(
    State(shared): State<Arc<Mutex<Shared>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
    let seen_headers: BTreeMap<String, String> = headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    s.seen.push(Seen {
        method: method.to_string(),
        path: uri.path().to_owned(),
        headers: seen_headers.clone(),
    });
    if seen_headers.get("accept").map(String::as_str) != Some(ACCEPT) {
        return error(
            400,
            "bad_request",
            "Please specify a version along with Heroku's API MIME type. For example, `Accept: application/vnd.heroku+json; version=3`.",
        );
    }
    if seen_headers.get("authorization") != Some(&format!("Bearer {}", s.token)) {
        return error(401, "unauthorized", "Invalid credentials provided.");
    }
    if let Some((status, body, headers)) = &s.failure {
        return reply(*status, body, headers);
    }
    let prefix = format!("/apps/{}/", s.name);
    let Some(rest) = uri.path().strip_prefix(&prefix) else {
        return error(404, "not_found", "Couldn't find that app.");
    };
    match (method.as_str(), rest) {
        ("GET", "config-vars") => reply(200, &json!(s.app.config_vars), &[]),
        ("PATCH", "config-vars") => {
            let Ok(Value::Object(changes)) = serde_json::from_slice::<Value>(&body) else {
                return error(
                    422,
                    "invalid_params",
                    "Expected a JSON object of config vars.",
                );
            };
            for (name, value) in changes {
                match value {
                    Value::Null => {
                        s.app.config_vars.remove(&name);
                    }
                    Value::String(text) => {
                        s.app.config_vars.insert(name, Some(text));
                    }
                    _ => return error(422, "invalid_params", "Config var values must be strings."),
                }
            }
            reply(200, &json!(s.app.config_vars), &[])
        }
        ("GET", "formation") => {
            let list: Vec<Value> = s
                .app
                .formation
                .iter()
                .map(|(kind, quantity, size)| {
                    json!({
                        "app": { "id": "01234567-89ab-cdef-0123-456789abcdef", "name": s.name },
                        "command": format!("bin/{kind}"),
                        "created_at": "2026-01-01T12:00:00Z",
                        "dyno_size": { "id": "01234567-89ab-cdef-0123-456789abcdef", "name": size },
                        "id": format!("formation-{kind}"),
                        "quantity": quantity,
                        "size": size,
                        "type": kind,
                        "updated_at": "2026-01-01T12:00:00Z",
                    })
                })
                .collect();
            reply(200, &Value::Array(list), &[])
        }
        ("GET", "releases") => {
            let (below, max) = parse_range(headers.get("range").and_then(|v| v.to_str().ok()));
            let mut releases = s.app.releases.clone();
            releases.sort_by_key(|r| std::cmp::Reverse(r.version));
            let left: Vec<Release> = releases
                .into_iter()
                .filter(|r| below.is_none_or(|b| r.version < b))
                .collect();
            let page: Vec<Value> = left
                .iter()
                .take(max)
                .map(|r| {
                    json!({
                        "addon_plan_names": [],
                        "app": { "id": "01234567-89ab-cdef-0123-456789abcdef", "name": s.name },
                        "created_at": "2026-01-01T12:00:00Z",
                        "description": format!("Deploy v{}", r.version),
                        "status": r.status,
                        "id": format!("release-{}", r.version),
                        "slug": r.slug.as_ref().map(|id| json!({ "id": id })),
                        "updated_at": "2026-01-01T12:00:00Z",
                        "user": { "email": "dev@example.com", "id": "01234567-89ab-cdef-0123-456789abcdef" },
                        "version": r.version,
                        "current": r.current,
                        "output_stream_url": null,
                    })
                })
                .collect();
            if left.len() > max {
                let last = page.last().and_then(|r| r["version"].as_u64()).unwrap_or(0);
                let next = format!("version ]{last}..; order=desc, max={max}");
                reply(206, &Value::Array(page), &[("Next-Range".to_owned(), next)])
            } else {
                reply(200, &Value::Array(page), &[])
            }
        }
        ("GET", path) if path.starts_with("slugs/") => {
            let id = &path["slugs/".len()..];
            match s.app.slugs.get(id) {
                Some(commit) => reply(
                    200,
                    &json!({
                        "blob": { "method": "get", "url": "https://example.com/slug.tgz" },
                        "buildpack_provided_description": "Ruby/Rack",
                        "checksum": null,
                        "commit": commit,
                        "commit_description": "a commit",
                        "created_at": "2026-01-01T12:00:00Z",
                        "id": id,
                        "process_types": { "web": "bin/web" },
                        "size": 2048,
                        "stack": { "id": "01234567-89ab-cdef-0123-456789abcdef", "name": "heroku-24" },
                        "updated_at": "2026-01-01T12:00:00Z",
                    }),
                    &[],
                ),
                None => error(404, "not_found", "Couldn't find that slug."),
            }
        }
        _ => error(
            404,
            "not_found",
            "The requested API endpoint was not found.",
        ),
    }
}
