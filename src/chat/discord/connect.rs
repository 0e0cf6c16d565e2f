//! Connecting to Discord: the REST client (through the `ratelimit` gate when serenity's own
//! ratelimiter is off), the gateway client, and ids from config.

use serenity::all::{Client, ClientBuilder, GatewayIntents, Http, HttpBuilder};

use super::handler::*;
use crate::config::Secret;

/// Builds the REST client. With `api_base` (tests, a proxy), the ratelimiter must be off:
/// serenity's ratelimiter ignores the proxy and would send requests to discord.com. Without
/// it serenity would not honour `retry_after` either, so the calls go through the loopback
/// gate of `super::ratelimit`, which does. Without `api_base`, serenity's ratelimiter
/// handles 429s itself (it reads `Retry-After`). Every request pings nobody unless its
/// message names the roles it means to ping (`Message::pings`).
pub fn build_http(token: &Secret, api_base: Option<&str>) -> Http {
    match api_base {
        Some(base) => {
            let base = base.trim_end_matches('/');
            let via = match tokio::runtime::Handle::try_current() {
                Ok(_) => super::ratelimit::start(base).unwrap_or_else(|err| {
                    tracing::warn!(error = %err, "the rate-limit gate could not start; calling api_base directly");
                    base.to_owned()
                }),
                Err(_) => base.to_owned(),
            };
            HttpBuilder::new(token.expose())
                .proxy(via)
                .ratelimiter_disabled(true)
                .default_allowed_mentions(super::message::no_mentions())
                .build()
        }
        None => HttpBuilder::new(token.expose())
            .default_allowed_mentions(super::message::no_mentions())
            .build(),
    }
}

/// The gateway client with Lifeboat's handler. Never call `.token()` on the builder: it would
/// replace the Http and lose the proxy.
pub async fn client(
    token: &Secret,
    api_base: Option<&str>,
    handler: Handler,
) -> serenity::Result<Client> {
    ClientBuilder::new_with_http(build_http(token, api_base), GatewayIntents::GUILDS)
        .event_handler(handler)
        .await
}

/// A guild or channel id from config (digits only).
pub fn snowflake(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|n| *n != 0)
        .ok_or_else(|| format!("`{text}` is not a Discord id"))
}
