//! Honours Discord's `retry_after` when serenity's ratelimiter is off (`[discord] api_base`).
//!
//! With the ratelimiter disabled, serenity 0.12 turns a 429 into an `ErrorResponse` that keeps
//! only the status, URL, method and `{code, message, errors}`: the `Retry-After` header and
//! the body's `retry_after` are dropped (a body without `code` does not even decode), so a
//! caller cannot know how long Discord asked it to wait. serenity's own ratelimiter reads the
//! header, but it ignores the proxy. So, when `api_base` is set, serenity talks to this gate
//! on loopback, which forwards every REST call to `api_base` unchanged and, on a 429, waits as
//! long as Discord asked (capped, logged) before trying again. Everything else (5xx included)
//! goes back to serenity and `with_retry` as it came.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;

use crate::retry::{Asked, Policy};

/// The longest wait honoured for one 429; Discord can ask for minutes on a global limit,
/// and a chat-ops bot would rather fail visibly than hang that long.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
/// How many 429s in a row one call waits through before the 429 is passed on.
pub const MAX_RATE_LIMITED: u32 = 3;

/// How long a 429 asks to wait: the JSON body's `retry_after` (seconds, fractional) where
/// present, else the `Retry-After` header (seconds). `None` when neither is readable.
pub fn retry_after(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    let from_body = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["retry_after"].as_f64());
    let from_header = || {
        headers
            .get("retry-after")?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
    };
    from_body
        .or_else(from_header)
        .filter(|s| s.is_finite() && *s >= 0.0)
        // Clamped before converting: a huge value from the network must not panic the gate.
        .map(|s| Duration::from_secs_f64(s.min(MAX_ASKED_SECS)))
}

/// The longest wait [`retry_after`] reports (a day), far above [`MAX_WAIT`]: longer asks are
/// read as this, so converting them cannot overflow.
const MAX_ASKED_SECS: f64 = 86_400.0;

/// `path` (without its query) fit for a log: the tokens in interaction callback and webhook
/// paths (`/interactions/{id}/{token}/…`, `/webhooks/{app}/{token}/…`) are credentials, so
/// they are replaced with `{token}`.
pub fn loggable_path(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let mut segments: Vec<&str> = path.split('/').collect();
    for i in 0..segments.len() {
        if matches!(segments[i], "interactions" | "webhooks")
            && let Some(token) = segments.get_mut(i + 2)
            && !token.is_empty()
        {
            *token = "{token}";
        }
    }
    segments.join("/")
}

/// The gate's retries of one call: up to [`MAX_RATE_LIMITED`] waits, each as long as Discord
/// asked (at most [`MAX_WAIT`]); without a readable hint, a short pause rather than a
/// hammering retry.
const POLICY: Policy = Policy::every(Duration::from_millis(500))
    .asked(Asked::Instead(MAX_WAIT))
    .tries(MAX_RATE_LIMITED + 1);

/// What the gate does with one 429: how long to wait (capped), or `None` to pass it on.
pub fn wait_for(asked: Option<Duration>, attempt: u32) -> Option<Duration> {
    POLICY
        .allows_another(attempt)
        .then(|| POLICY.delay(attempt, asked))
}

#[derive(Clone)]
struct Upstream {
    base: String,
    client: reqwest::Client,
}

/// Starts the gate on `127.0.0.1:0` in front of `upstream` (e.g. `http://127.0.0.1:PORT`)
/// and returns the base URL serenity should use. The gate lives as long as the runtime.
pub fn start(upstream: &str) -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr: SocketAddr = listener.local_addr()?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let state = Upstream {
        base: upstream.trim_end_matches('/').to_owned(),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default(),
    };
    let app = Router::new().fallback(forward).with_state(state);
    // Small request/response pairs on loopback: Nagle's algorithm would hold some back.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "TCP_NODELAY could not be set");
        }
    });
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = %err, "the Discord REST gate stopped");
        }
    });
    Ok(format!("http://{addr}"))
}

/// Headers that belong to one hop, not to the request or response itself.
fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "host" | "connection" | "content-length" | "transfer-encoding" | "keep-alive"
    )
}

async fn forward(State(up): State<Upstream>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let headers = request.headers().clone();
    let body: Bytes = match axum::body::to_bytes(request.into_body(), 64 << 20).await {
        Ok(body) => body,
        Err(err) => return (StatusCode::BAD_REQUEST, err.to_string()).into_response(),
    };
    let url = format!("{}{path}", up.base);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut outgoing = up.client.request(method.clone(), &url).body(body.clone());
        for (name, value) in &headers {
            if !hop_by_hop(name.as_str()) {
                outgoing = outgoing.header(name, value);
            }
        }
        let response = match outgoing.send().await {
            Ok(response) => response,
            Err(err) => {
                // Without the URL: it may hold an interaction or webhook token.
                tracing::warn!(error = %err.without_url(), path = %loggable_path(&path), "Discord could not be reached");
                return (StatusCode::BAD_GATEWAY, "Discord could not be reached").into_response();
            }
        };
        let status = response.status();
        let response_headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let asked = retry_after(&response_headers, &bytes);
            if let Some(wait) = wait_for(asked, attempt) {
                tracing::warn!(
                    %method,
                    path = %loggable_path(&path),
                    asked_ms = asked.map(|d| d.as_millis() as u64),
                    wait_ms = wait.as_millis() as u64,
                    attempt,
                    "Discord rate-limited the call; waiting as asked before retrying"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            tracing::warn!(%method, attempt, "still rate-limited; passing the 429 on");
        }
        let mut out = Response::builder().status(status);
        for (name, value) in &response_headers {
            if !hop_by_hop(name.as_str()) {
                out = out.header(name, value);
            }
        }
        return out
            .body(Body::from(bytes))
            .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_body_is_read_first_then_the_header() {
        let body =
            br#"{"message": "You are being rate limited.", "retry_after": 0.75, "global": false}"#;
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1")]), body),
            Some(Duration::from_millis(750))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")]), b"not json"),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1.5")]), b"{}"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(retry_after(&HeaderMap::new(), b"{}"), None);
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "soon")]),
                br#"{"retry_after": -1}"#
            ),
            None
        );
    }

    #[test]
    fn a_huge_negative_or_nan_retry_after_never_panics() {
        for body in [
            &br#"{"retry_after": 1e20}"#[..],
            br#"{"retry_after": 1.7976931348623157e308}"#,
        ] {
            let asked = retry_after(&HeaderMap::new(), body);
            assert_eq!(asked, Some(Duration::from_secs(86_400)));
            assert_eq!(wait_for(asked, 1), Some(MAX_WAIT));
        }
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1e300")]), b"{}"),
            Some(Duration::from_secs(86_400))
        );
        for bad in ["-5", "NaN", "-inf", "inf"] {
            assert_eq!(
                retry_after(&headers(&[("retry-after", bad)]), b"{}"),
                None,
                "{bad}"
            );
        }
        assert_eq!(
            retry_after(&HeaderMap::new(), br#"{"retry_after": -0.5}"#),
            None
        );
    }

    #[test]
    fn tokens_in_interaction_and_webhook_paths_are_redacted() {
        assert_eq!(
            loggable_path("/api/v10/interactions/123456/aW50ZXJhY3Rpb246c2VjcmV0/callback"),
            "/api/v10/interactions/123456/{token}/callback"
        );
        assert_eq!(
            loggable_path("/api/v10/webhooks/987/SECRETTOKEN/messages/@original?wait=true"),
            "/api/v10/webhooks/987/{token}/messages/@original"
        );
        assert_eq!(
            loggable_path("/api/v10/webhooks/987/SECRETTOKEN"),
            "/api/v10/webhooks/987/{token}"
        );
        // Paths without a token are kept as they are.
        assert_eq!(
            loggable_path("/api/v10/channels/42/messages"),
            "/api/v10/channels/42/messages"
        );
        assert_eq!(
            loggable_path("/api/v10/webhooks/987"),
            "/api/v10/webhooks/987"
        );
        assert_eq!(
            loggable_path("/api/v10/webhooks/987/"),
            "/api/v10/webhooks/987/"
        );
    }

    #[test]
    fn waits_are_capped_and_limited() {
        assert_eq!(
            wait_for(Some(Duration::from_millis(300)), 1),
            Some(Duration::from_millis(300))
        );
        assert_eq!(wait_for(Some(Duration::from_secs(120)), 1), Some(MAX_WAIT));
        assert_eq!(wait_for(None, 2), Some(Duration::from_millis(500)));
        assert_eq!(
            wait_for(Some(Duration::from_millis(1)), MAX_RATE_LIMITED + 1),
            None
        );
    }
}
