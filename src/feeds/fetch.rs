//! Reading one feed or probe over HTTP: the only I/O in `feeds`.
//!
//! Everything the network controls is bounded here (whole-request timeout, body cap enforced
//! while streaming, redirects) and every failure becomes a `FeedError`, never a panic, so an
//! unreadable source turns into `unknown` with a reason upstream.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{
    ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER,
};
use tracing::{debug, instrument};

use crate::config::{FeedConfig, FeedKind};

use super::{FeedError, ParseContext, ProviderHealth};

pub use super::probe::ProbeExpectations;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_BODY: usize = 2 * 1024 * 1024;

/// Everything needed to read one source once.
#[derive(Debug, Clone)]
pub struct FeedSpec {
    pub kind: FeedKind,
    pub url: String,
    /// For the whole request: connecting, headers and the body.
    pub timeout: Duration,
    /// Bodies larger than this are refused.
    pub max_body: usize,
    pub ctx: ParseContext,
    /// Used only when `kind` is `probe`.
    pub probe: ProbeExpectations,
}

impl FeedSpec {
    pub fn from_config(feed: &FeedConfig) -> Self {
        let defaults = ProbeExpectations::default();
        Self {
            kind: feed.kind,
            url: feed.url.clone(),
            timeout: feed.timeout.get(),
            max_body: DEFAULT_MAX_BODY,
            ctx: ParseContext {
                page_url: feed.url.clone(),
                components: feed.components.clone(),
                regions: feed.regions.clone(),
                services: feed.services.clone(),
            },
            probe: ProbeExpectations {
                expect_status: feed.expect_status.unwrap_or(defaults.expect_status),
                body_contains: feed.body_contains.clone(),
                max_latency: feed.max_latency.map(|d| d.get()),
            },
        }
    }

    /// A one-off read (`lifeboat feed`) with the defaults: 10 s, 2 MiB, probes expect 200.
    pub fn adhoc(kind: FeedKind, url: &str, components: Vec<String>) -> Self {
        Self {
            kind,
            url: url.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            ctx: ParseContext {
                page_url: url.to_owned(),
                components,
                ..ParseContext::default()
            },
            probe: ProbeExpectations::default(),
        }
    }
}

/// What the server said about the version it sent, for the next conditional GET.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one value per poll, moved straight into the watcher; a Box would only add a deref for every caller"
)]
pub enum Fetched {
    Changed {
        health: ProviderHealth,
        validators: Validators,
    },
    /// 304: the last snapshot still stands.
    NotModified,
}

/// One HTTP client (connection pool, rustls) shared by every feed.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
}

impl Default for Fetcher {
    fn default() -> Self {
        Self::new()
    }
}

impl Fetcher {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .user_agent(concat!("lifeboat/", env!("CARGO_PKG_VERSION")))
            .build()
            // Fails only when the TLS backend cannot initialise: a broken build, not input.
            .expect("the HTTP client (rustls) initialises");
        Self { client }
    }

    /// Reads `spec` once. Feeds send `validators` as a conditional GET; probes never do, since
    /// a cached answer says nothing about whether the endpoint works now.
    #[instrument(skip_all, fields(feed = %spec.url, kind = %spec.kind))]
    pub async fn fetch(
        &self,
        spec: &FeedSpec,
        validators: &Validators,
    ) -> Result<Fetched, FeedError> {
        let result = tokio::time::timeout(spec.timeout, self.fetch_inner(spec, validators))
            .await
            .unwrap_or(Err(FeedError::Timeout(spec.timeout)));
        match &result {
            Ok(Fetched::Changed { health, .. }) => {
                debug!(level = %health.level, incidents = health.incidents.len(), "feed read");
            }
            Ok(Fetched::NotModified) => debug!("feed not modified"),
            Err(error) => debug!(%error, "feed unreadable"),
        }
        result
    }

    async fn fetch_inner(
        &self,
        spec: &FeedSpec,
        validators: &Validators,
    ) -> Result<Fetched, FeedError> {
        let probe = spec.kind == FeedKind::Probe;
        let mut request = self.client.get(&spec.url);
        if !probe {
            if let Some(etag) = &validators.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(since) = &validators.last_modified {
                request = request.header(IF_MODIFIED_SINCE, since);
            }
        }
        let started = Instant::now();
        let mut response = request
            .send()
            .await
            .map_err(|err| request_error(&err, spec.timeout))?;
        let status = response.status();
        debug!(status = status.as_u16(), "response");

        if !probe {
            if status == StatusCode::NOT_MODIFIED {
                return Ok(Fetched::NotModified);
            }
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            {
                return Err(FeedError::RateLimited {
                    status: status.as_u16(),
                    retry_after_secs: retry_after(response.headers(), Utc::now()),
                });
            }
            if !status.is_success() {
                return Err(FeedError::Status {
                    status: status.as_u16(),
                });
            }
        }

        let validators = Validators {
            etag: header_text(response.headers(), ETAG),
            last_modified: header_text(response.headers(), LAST_MODIFIED),
        };
        let body = read_capped(&mut response, spec.max_body, spec.timeout).await?;
        let latency = started.elapsed();

        let parsed = if probe {
            super::probe::evaluate(
                status.as_u16(),
                &String::from_utf8_lossy(&body),
                latency,
                &spec.probe,
            )
        } else {
            super::parse(spec.kind, &body, &spec.ctx)?
        };
        Ok(Fetched::Changed {
            health: ProviderHealth::from_parsed(spec.kind, &spec.url, Utc::now(), parsed),
            validators: if probe {
                Validators::default()
            } else {
                validators
            },
        })
    }
}

/// Reads one source with a fresh client and no validators: `lifeboat feed`.
pub async fn fetch_once(spec: &FeedSpec) -> Result<ProviderHealth, FeedError> {
    match Fetcher::new().fetch(spec, &Validators::default()).await? {
        Fetched::Changed { health, .. } => Ok(health),
        // Only a server ignoring the protocol sends 304 to an unconditional request.
        Fetched::NotModified => Err(FeedError::Status {
            status: StatusCode::NOT_MODIFIED.as_u16(),
        }),
    }
}

/// The body, refused as soon as it passes `max_body`: at most one chunk beyond the cap is
/// ever held.
async fn read_capped(
    response: &mut reqwest::Response,
    max_body: usize,
    timeout: Duration,
) -> Result<Vec<u8>, FeedError> {
    let too_large = FeedError::TooLarge { limit: max_body };
    if response
        .content_length()
        .is_some_and(|len| len > max_body as u64)
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| request_error(&err, timeout))?
    {
        if body.len() + chunk.len() > max_body {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn request_error(err: &reqwest::Error, timeout: Duration) -> FeedError {
    if err.is_timeout() {
        return FeedError::Timeout(timeout);
    }
    // reqwest's own message names the URL; the root cause says what actually went wrong
    // ("Connection refused", "failed to lookup address", a TLS alert).
    let mut root = std::error::Error::source(err);
    while let Some(next) = root.and_then(std::error::Error::source) {
        root = Some(next);
    }
    let message = match root {
        Some(root) => format!("{err}: {root}"),
        None => err.to_string(),
    };
    FeedError::Unreachable(message)
}

fn header_text(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)?
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// `Retry-After` as seconds from `now`: delta-seconds or an HTTP-date (RFC 9110 §10.2.3,
/// which also admits the obsolete RFC 850 and asctime forms). A date in the past is 0.
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<u64> {
    let value = header_text(headers, RETRY_AFTER)?;
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let at = DateTime::parse_from_rfc2822(&value)
        .map(|at| at.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(&value, "%A, %d-%b-%y %H:%M:%S GMT")
                .map(|at| at.and_utc())
        })
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(&value, "%a %b %e %H:%M:%S %Y")
                .map(|at| at.and_utc())
        })
        .ok()?;
    Some(u64::try_from((at - now).num_seconds()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn retry_after_accepts_seconds_and_all_three_date_forms() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(retry_after(&headers("7"), now), Some(7));
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT"), now),
            Some(60)
        );
        assert_eq!(
            retry_after(&headers("Wednesday, 21-Oct-15 07:28:00 GMT"), now),
            Some(60)
        );
        assert_eq!(
            retry_after(&headers("Wed Oct 21 07:28:00 2015"), now),
            Some(60)
        );
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:00:00 GMT"), now),
            Some(0)
        );
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&headers("-5"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn specs_from_config_carry_filters_and_probe_expectations() {
        let feed: FeedConfig = toml::from_str(
            r#"
            name = "api"
            provider = "p"
            kind = "probe"
            url = "https://app.example.com/health"
            timeout = "3s"
            components = ["API"]
            expect_status = 204
            body_contains = "ok"
            max_latency = "800ms"
            "#,
        )
        .unwrap();
        let spec = FeedSpec::from_config(&feed);
        assert_eq!(spec.timeout, Duration::from_secs(3));
        assert_eq!(spec.max_body, 2 * 1024 * 1024);
        assert_eq!(spec.ctx.components, ["API"]);
        assert_eq!(spec.ctx.page_url, "https://app.example.com/health");
        assert_eq!(
            spec.probe,
            ProbeExpectations {
                expect_status: 204,
                body_contains: Some("ok".to_owned()),
                max_latency: Some(Duration::from_millis(800)),
            }
        );
        let adhoc = FeedSpec::adhoc(FeedKind::Heroku, "http://h/x", vec![]);
        assert_eq!(adhoc.timeout, Duration::from_secs(10));
        assert_eq!(adhoc.probe.expect_status, 200);
    }
}
