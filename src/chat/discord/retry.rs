//! Delivery with retries: REST calls repeated after a 429 or a 5xx with backoff, and the
//! acknowledgement latency of the interaction being answered.

use std::time::Duration;

use crate::retry::{Policy, Retry};

/// A REST call is tried four times in all (three retries after a 429 or a 5xx), the first
/// pause 200 ms, doubling.
pub(super) const POLICY: Policy = Policy::exponential(4, Duration::from_millis(200));

/// Whether a failed call is worth repeating (rate limited, or Discord's side failed).
pub(super) fn retryable(err: &serenity::Error) -> bool {
    match err {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(resp)) => {
            resp.status_code.as_u16() == 429 || resp.status_code.is_server_error()
        }
        serenity::Error::Http(serenity::http::HttpError::Request(_)) => true,
        _ => false,
    }
}

/// Runs a REST call, retrying 5xx, network errors and 429 with exponential backoff. With the
/// ratelimiter disabled (loopback tests, proxies) serenity does not retry by itself; a 429
/// gets here only after the gate of `super::ratelimit` waited as asked three times.
pub(super) async fn with_retry<T, F, Fut>(what: &'static str, call: F) -> serenity::Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = serenity::Result<T>>,
{
    let judge = |err: &serenity::Error| {
        if retryable(err) {
            Retry::Yes
        } else {
            Retry::No
        }
    };
    let seen = |attempt: u32, result: &serenity::Result<T>, last: bool| match result {
        Err(err) if !last => {
            tracing::warn!(call = what, attempt, error = %err, "Discord call failed; retrying");
        }
        Ok(_) if ACKNOWLEDGEMENTS.contains(&what) => acknowledged(),
        _ => {}
    };
    POLICY.run(call, judge, seen).await.0
}

tokio::task_local! {
    /// When the interaction being handled arrived; taken by its first acknowledgement.
    pub(super) static RECEIVED: std::cell::Cell<Option<std::time::Instant>>;
}

/// The `with_retry` calls that answer an interaction's callback (Discord's 3 s clock).
pub(super) const ACKNOWLEDGEMENTS: [&str; 5] = ["respond", "defer", "ack", "modal", "settle"];

/// Records the acknowledgement latency of the interaction being handled, once.
pub(super) fn acknowledged() {
    let _ = RECEIVED.try_with(|received| {
        if let Some(at) = received.take() {
            crate::metrics::chat_acknowledged("discord", at.elapsed());
        }
    });
}
