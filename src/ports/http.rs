//! The HTTP edge: one `reqwest` client for the HTTP steps and the adapters that speak HTTP
//! (LLM providers, webhooks, PagerDuty), and what every such caller shares: capped body reads,
//! transport errors in words, text cut for messages. `reqwest::Client` itself is the port
//! (every base URL comes from config, so tests point it at loopback servers).

use std::error::Error as _;

/// The HTTP client of steps and adapters: rustls, a user agent, no global timeout (each
/// caller sets its own).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("lifeboat/", env!("CARGO_PKG_VERSION")))
        // Never follow redirects: custom secret headers (x-api-key, tokens) would be sent
        // to whatever host the redirect names.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// At most `limit` bytes of the body, and whether more was left unread. Reading stops at the
/// limit, so a huge or endless answer costs nothing beyond it.
pub(crate) async fn read_capped(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// A transport error in words. reqwest's own message names the URL, which callers already
/// say; the root cause says what actually failed ("Connection refused", a TLS alert).
pub(crate) fn describe(err: &reqwest::Error) -> String {
    let mut root = err.source();
    while let Some(next) = root.and_then(|e| e.source()) {
        root = Some(next);
    }
    match (root, err.is_connect()) {
        (Some(root), true) => format!("cannot connect: {root}"),
        (Some(root), false) => format!("{err}: {root}"),
        (None, _) => err.to_string(),
    }
}

/// At most `max` characters of `text`, with `…` when something was cut.
pub(crate) fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
