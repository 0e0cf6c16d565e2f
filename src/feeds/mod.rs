//! Provider status feeds and our own probes, each normalised to one `ProviderHealth`.
//!
//! Parsing is pure (bytes in, `Parsed` out) and lives in one module per source kind; fetching
//! (timeouts, body cap, conditional GET, `Retry-After`) is the only I/O, in `fetch`.

pub mod aws_health;
pub mod fetch;
pub mod heroku;
pub mod probe;
pub mod rss;
pub mod sftrust;
pub mod statuspage;
pub mod text;

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::FeedKind;
use crate::domain::HealthLevel;

/// Parses one body of a feed of `kind`. Probes are judged by `probe::evaluate` on the whole
/// HTTP answer (status and latency too), not parsed from a body, so they are refused here.
pub fn parse(kind: FeedKind, body: &[u8], ctx: &ParseContext) -> Result<Parsed, FeedError> {
    match kind {
        FeedKind::Statuspage => statuspage::parse(body, ctx),
        FeedKind::Heroku => heroku::parse(body, ctx),
        FeedKind::Sftrust => sftrust::parse(body, ctx),
        FeedKind::AwsHealth => aws_health::parse(body, ctx),
        FeedKind::Rss => rss::parse(body, ctx),
        FeedKind::Probe => Err(FeedError::Malformed {
            kind: kind.as_str(),
            detail: "a probe is judged by probe::evaluate, not parsed from a body".to_owned(),
        }),
    }
}

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// A source that was read and parsed. A parser that found no statement of health (an RSS
    /// feed whose items say nothing we understand) gives `unknown`, with that as the reason.
    pub fn from_parsed(kind: FeedKind, url: &str, at: DateTime<Utc>, parsed: Parsed) -> Self {
        let (level, reason) = match parsed.level {
            Some(level) => (level, None),
            None => (
                HealthLevel::Unknown,
                Some(format!("the feed states no level: {}", parsed.summary)),
            ),
        };
        Self {
            kind: kind.as_str().to_owned(),
            url: url.to_owned(),
            level,
            summary: parsed.summary,
            incidents: parsed.incidents,
            components: parsed.components,
            fetched_at: at,
            reason,
        }
    }

    /// A short, multi-line summary for people: the level, the source's own words, open
    /// incidents and the components that are not operational.
    pub fn human(&self) -> String {
        // `unknown` summaries already open with the level.
        let mut out = if self.summary.starts_with(self.level.as_str()) {
            format!("{} ({} {})", self.summary, self.kind, self.url)
        } else {
            format!(
                "{}: {} ({} {})",
                self.level, self.summary, self.kind, self.url
            )
        };
        if let Some(reason) = &self.reason
            && !self.summary.contains(reason.as_str())
        {
            let _ = write!(out, "\n  reason: {reason}");
        }
        for incident in &self.incidents {
            let _ = write!(
                out,
                "\n  incident [{}, {}] {}",
                incident.status, incident.impact, incident.title
            );
            if let Some(url) = &incident.url {
                let _ = write!(out, " {url}");
            }
            if let Some(update) = &incident.latest_update {
                let _ = write!(out, "\n    latest: {}", one_line(update, 160));
            }
        }
        for component in self
            .components
            .iter()
            .filter(|c| c.level != HealthLevel::Operational)
        {
            let _ = write!(out, "\n  component {}: {}", component.name, component.level);
        }
        let _ = write!(
            out,
            "\n  fetched {}",
            self.fetched_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        out
    }

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

pub mod monitor;

/// Whether `name` is among the watched components (case-insensitive); an empty list watches all.
pub(crate) fn is_watched(watched: &[String], name: &str) -> bool {
    watched.is_empty()
        || watched
            .iter()
            .any(|w| w.trim().to_lowercase() == name.trim().to_lowercase())
}

/// `https://host[:port]` of a URL, for building links when a payload has no page URL.
pub(crate) fn origin(url: &str) -> Option<String> {
    let origin = url::Url::parse(url).ok()?.origin().ascii_serialization();
    // Opaque origins (`data:`, `file:`) serialise as "null".
    (origin != "null").then_some(origin)
}

/// An RFC 3339 timestamp; anything else is treated as absent rather than failing the feed.
pub(crate) fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// `1 open incident`, `2 open incidents`.
pub(crate) fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `text` on one line (whitespace collapsed), cut at `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        line
    } else {
        let cut: String = line.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! The real captures (`tests/fixtures/feeds/captured/`, origins in its SOURCES.md) and the
    //! project's own payloads (`tests/fixtures/feeds/`). Nothing is read outside the repository.

    use std::path::PathBuf;

    pub fn capture(file: &str) -> Vec<u8> {
        let dir = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/feeds/captured/"
        ));
        let path = dir.join(file);
        std::fs::read(&path)
            .unwrap_or_else(|err| panic!("cannot read capture {}: {err}", path.display()))
    }

    pub fn own(file: &str) -> Vec<u8> {
        let path = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/feeds/"
        ))
        .join(file);
        std::fs::read(&path)
            .unwrap_or_else(|err| panic!("cannot read fixture {}: {err}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health() -> ProviderHealth {
        ProviderHealth {
            kind: "statuspage".to_owned(),
            url: "https://status.example.com/api/v2/summary.json".to_owned(),
            level: HealthLevel::PartialOutage,
            summary: "Partial System Outage".to_owned(),
            incidents: vec![VendorIncident {
                id: "x1".to_owned(),
                title: "API errors".to_owned(),
                status: "identified".to_owned(),
                impact: HealthLevel::PartialOutage,
                started_at: None,
                updated_at: None,
                url: Some("https://stspg.io/x1".to_owned()),
                latest_update: Some("We found\nthe cause.".to_owned()),
            }],
            components: vec![
                ComponentHealth {
                    name: "API".to_owned(),
                    level: HealthLevel::PartialOutage,
                },
                ComponentHealth {
                    name: "Web".to_owned(),
                    level: HealthLevel::Operational,
                },
            ],
            fetched_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            reason: None,
        }
    }

    #[test]
    fn human_lists_level_incidents_and_troubled_components() {
        assert_eq!(
            health().human(),
            "partial_outage: Partial System Outage (statuspage https://status.example.com/api/v2/summary.json)\n  \
             incident [identified, partial_outage] API errors https://stspg.io/x1\n    \
             latest: We found the cause.\n  \
             component API: partial_outage\n  \
             fetched 2027-01-15T08:00:00Z"
        );
    }

    #[test]
    fn unknown_health_keeps_the_json_shape() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let h = ProviderHealth::unknown(
            FeedKind::Heroku,
            "http://x",
            at,
            &FeedError::Status { status: 500 },
        );
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["level"], "unknown");
        assert_eq!(json["reason"], "HTTP 500");
        assert_eq!(json["fetched_at"], "2027-01-15T08:00:00Z");
        assert_eq!(
            h.human().lines().next().unwrap(),
            "unknown: HTTP 500 (heroku http://x)"
        );
    }

    #[test]
    fn a_parse_without_level_is_unknown_with_a_reason() {
        let at = DateTime::from_timestamp(0, 0).unwrap();
        let parsed = Parsed {
            level: None,
            summary: "3 items, none stating a level".to_owned(),
            ..Parsed::default()
        };
        let h = ProviderHealth::from_parsed(FeedKind::Rss, "u", at, parsed);
        assert_eq!(h.level, HealthLevel::Unknown);
        assert_eq!(
            h.reason.as_deref(),
            Some("the feed states no level: 3 items, none stating a level")
        );
    }

    /// Every payload we have, cut short at many points and with bytes flipped, through every
    /// parser: errors are fine, panics are not.
    #[test]
    fn no_parser_panics_on_truncated_or_mangled_input() {
        use test_support::{capture, own};
        let bodies = [
            capture("anthropic_statuspage_summary_incident_2026-10-07.json"),
            capture("openai_incidentio_summary_degraded_2026-09-29.json"),
            capture("heroku_v4_current_status_red_SHAPE_cli_test.json"),
            capture("heroku_sftrust_incidents_active_SHAPE_cli_test.json"),
            capture("aws_health_currentevents.json"),
            capture("aws_status_rss_all_2021-12.xml"),
            own("aws_health_utf16le_bom.json"),
            own("statuspage_history.atom"),
            own("aws_rss_disruption.xml"),
        ];
        let kinds = [
            FeedKind::Statuspage,
            FeedKind::Heroku,
            FeedKind::Sftrust,
            FeedKind::AwsHealth,
            FeedKind::Rss,
        ];
        let ctx = ParseContext {
            page_url: "not a url".to_owned(),
            components: vec!["API".to_owned()],
            regions: vec!["us-east-1".to_owned()],
            services: vec!["ecs".to_owned()],
        };
        for body in &bodies {
            let step = (body.len() / 97).max(1);
            for cut in (0..body.len()).step_by(step) {
                let mut flipped = body.clone();
                flipped[cut] ^= 0x5A;
                for kind in kinds {
                    let _ = parse(kind, &body[..cut], &ctx);
                    let _ = parse(kind, &flipped, &ctx);
                }
            }
        }
    }

    #[test]
    fn the_dispatcher_refuses_probes() {
        assert!(matches!(
            parse(FeedKind::Probe, b"ok", &ParseContext::default()),
            Err(FeedError::Malformed { kind: "probe", .. })
        ));
        assert!(parse(FeedKind::Sftrust, b"[]", &ParseContext::default()).is_ok());
    }
}
