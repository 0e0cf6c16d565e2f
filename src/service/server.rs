//! The operators' HTTP endpoints served by `lifeboat run` (loopback by default):
//! `GET /healthz` (is the event log writable and the chat connected?), `GET /metrics`
//! (Prometheus/OpenMetrics text) and `GET /backup` (a consistent, gzip-compressed snapshot of
//! the event log, which `lifeboat store backup` fetches while the bot holds the log's lock).
//! With `[server] token_env`, `/metrics` and `/backup` require that bearer token; `/healthz`
//! stays open (it says only whether the bot is up, and probes carry no credentials).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Secret;
use crate::ports::chat::ChatHealth;
use crate::ports::ha::{Leadership, Role};
use crate::ports::store::EventStore;
use crate::store::backup;

/// What the endpoints look at.
pub struct Ops {
    pub store: Arc<dyn EventStore>,
    pub chat: Arc<dyn ChatHealth>,
    /// The bearer token `/metrics` and `/backup` require (`[server] token_env`); `None`: open.
    pub token: Option<Secret>,
    /// The node's role (`single`, or an HA pair's `leader` or `follower`), for `/healthz`.
    pub leadership: Leadership,
}

/// The 401 to answer unless the request carries the configured bearer token.
fn refused(ops: &Ops, headers: &HeaderMap) -> Option<Response> {
    let token = ops.token.as_ref()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if same(given.as_bytes(), token.expose().as_bytes()) {
        return None;
    }
    let mut refused = json_response(
        StatusCode::UNAUTHORIZED,
        &json!({ "error": "a bearer token ([server] token_env) is required" }),
    );
    refused.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    Some(refused)
}

/// Compares without stopping at the first difference, so the time taken does not tell how
/// much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The routes, for serving and for in-process tests.
pub fn router(ops: Arc<Ops>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/backup", get(backup))
        .with_state(ops)
}

/// Binds `addr`; separate from `serve` so the caller can report the bound port (`:0`).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    ops: Arc<Ops>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router(ops))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

async fn healthz(State(ops): State<Arc<Ops>>) -> Response {
    let store = ops.store.clone();
    let store = match tokio::task::spawn_blocking(move || store.check_writable()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(format!("the event log is not writable: {err}")),
        Err(err) => Err(format!("the event log check failed: {err}")),
    };
    let role = ops.leadership.role();
    // A follower has no gateway by design: not a problem.
    let chat = match role {
        Role::Follower { .. } => Ok(()),
        _ => ops.chat.check().await,
    };
    let problems: Vec<&String> = [&store, &chat]
        .into_iter()
        .filter_map(|r| r.as_ref().err())
        .collect();
    let state = |r: &Result<(), String>, good: &str| match r {
        Ok(()) => good.to_owned(),
        Err(e) => e.clone(),
    };
    let mut body = json!({
        "status": if problems.is_empty() { "ok" } else { "unavailable" },
        "store": state(&store, "writable"),
        "chat": match role {
            Role::Follower { .. } => "not connected (a follower leaves the gateway to the leader)".to_owned(),
            _ => state(&chat, "connected"),
        },
        "reason": problems.iter().map(|p| p.as_str()).collect::<Vec<_>>().join("; "),
        "role": role.name(),
    });
    match &role {
        Role::Single => {}
        Role::Leader { epoch, .. } => body["epoch"] = json!(epoch),
        Role::Follower { leader, epoch } => {
            body["leader"] = json!(leader);
            body["epoch"] = json!(epoch);
        }
    }
    let code = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(code, &body)
}

async fn metrics(State(ops): State<Arc<Ops>>, headers: HeaderMap) -> Response {
    if let Some(refused) = refused(&ops, &headers) {
        return refused;
    }
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::encode(),
    )
        .into_response()
}

async fn backup(State(ops): State<Arc<Ops>>, headers: HeaderMap) -> Response {
    if let Some(refused) = refused(&ops, &headers) {
        return refused;
    }
    let store = ops.store.clone();
    let taken = tokio::task::spawn_blocking(move || {
        let events = store.snapshot()?;
        let mut bytes = Vec::new();
        let summary = backup::write(&events, &mut bytes)?;
        Ok::<_, backup::BackupError>((bytes, summary))
    })
    .await;
    match taken {
        Ok(Ok((bytes, summary))) => {
            tracing::info!(events = summary.events, "backup served");
            ([(header::CONTENT_TYPE, "application/gzip")], bytes).into_response()
        }
        Ok(Err(err)) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({ "error": err.to_string() }),
        ),
        Err(err) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({ "error": err.to_string() }),
        ),
    }
}

fn json_response(code: StatusCode, body: &serde_json::Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
