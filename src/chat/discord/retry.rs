//! Delivery with retries: REST calls repeated after a 429 or a 5xx with backoff, and the
//! acknowledgement latency of the interaction being answered.

use std::time::Duration;

/// How often a REST call is retried after a 429 or a 5xx, and the first pause.
pub(super) const RETRIES: u32 = 3;
pub(super) const FIRST_BACKOFF: Duration = Duration::from_millis(200);

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
    let mut pause = FIRST_BACKOFF;
    let mut attempt = 0;
    loop {
        match call().await {
            Err(err) if attempt < RETRIES && retryable(&err) => {
                attempt += 1;
                tracing::warn!(call = what, attempt, error = %err, "Discord call failed; retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            other => {
                if other.is_ok() && ACKNOWLEDGEMENTS.contains(&what) {
                    acknowledged();
                }
                return other;
            }
        }
    }
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
