//! Provider status feeds and our own probes, each normalised to one `ProviderHealth`.
//!
//! Parsing is pure (bytes in, `Parsed` out) and lives in one module per source kind; fetching
//! (timeouts, body cap, conditional GET, `Retry-After`) is the only I/O, in `fetch`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::FeedKind;
use crate::domain::HealthLevel;

/// What one read of one source says, in the stable JSON shape of `lifeboat feed --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderHealth {
    pub kind: String,
    pub url: String,
    pub level: HealthLevel,
    pub summary: String,
    pub incidents: Vec<VendorIncident>,
    pub components: Vec<ComponentHealth>,
    #[serde(serialize_with = "rfc3339")]
    pub fetched_at: DateTime<Utc>,
    /// Why the level is `unknown` (unreachable, timed out, malformed, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An incident as the vendor reports it. Only unresolved incidents are kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VendorIncident {
    pub id: String,
    pub title: String,
    /// The vendor's word: investigating, identified, monitoring, ...
    pub status: String,
    /// The incident's impact, normalised.
    pub impact: HealthLevel,
    #[serde(serialize_with = "rfc3339_opt")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub updated_at: Option<DateTime<Utc>>,
    pub url: Option<String>,
    /// The text of the latest update, when the source has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_update: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentHealth {
    pub name: String,
    pub level: HealthLevel,
}

/// What a parser extracts from a body; `fetch` adds kind, url and time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub level: Option<HealthLevel>,
    pub summary: String,
    pub incidents: Vec<VendorIncident>,
    pub components: Vec<ComponentHealth>,
}

/// What a parser needs besides the body.
#[derive(Debug, Clone, Default)]
pub struct ParseContext {
    /// The page the feed came from, for incident links (`<page>/incidents/<id>`).
    pub page_url: String,
    /// Watched components; empty = all.
    pub components: Vec<String>,
    /// `aws-health`: regions in use; empty = all.
    pub regions: Vec<String>,
    /// `aws-health`: services in use; empty = all.
    pub services: Vec<String>,
}

/// Why a source could not be read. Each becomes level `unknown` with this as the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error("body larger than the {limit}-byte cap")]
    TooLarge { limit: usize },
    #[error("HTTP {status}")]
    Status { status: u16 },
    #[error("rate limited (HTTP {status}), retry after {retry_after_secs:?}s")]
    RateLimited {
        status: u16,
        retry_after_secs: Option<u64>,
    },
    #[error("not a {kind} payload: {detail}")]
    Malformed { kind: &'static str, detail: String },
}

impl ProviderHealth {
    /// A source that could not be read.
    pub fn unknown(kind: FeedKind, url: &str, at: DateTime<Utc>, error: &FeedError) -> Self {
        Self {
            kind: kind.as_str().to_owned(),
            url: url.to_owned(),
            level: HealthLevel::Unknown,
            summary: format!("unknown: {error}"),
            incidents: Vec::new(),
            components: Vec::new(),
            fetched_at: at,
            reason: Some(error.to_string()),
        }
    }
}

fn rfc3339<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn rfc3339_opt<S: serde::Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, s),
        None => s.serialize_none(),
    }
}
