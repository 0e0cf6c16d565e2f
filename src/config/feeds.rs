//! `[[providers]]`, `[[feeds]]` and `[watch]`: the third parties the app depends on, the status
//! feeds that report on them and how the watcher reads those feeds.

use std::fmt;

use serde::Deserialize;

use crate::domain::Workstream;
use crate::duration::HumanDuration;

/// A third party the app depends on, and the runbook that answers its outage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: String,
    pub title: Option<String>,
    pub workstream: Workstream,
    /// The runbook proposed when this provider is down.
    pub runbook: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedKind {
    Statuspage,
    Heroku,
    Sftrust,
    AwsHealth,
    Rss,
    Probe,
}

impl FeedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::Statuspage => "statuspage",
            FeedKind::Heroku => "heroku",
            FeedKind::Sftrust => "sftrust",
            FeedKind::AwsHealth => "aws-health",
            FeedKind::Rss => "rss",
            FeedKind::Probe => "probe",
        }
    }
}

impl fmt::Display for FeedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    pub name: String,
    pub provider: String,
    pub kind: FeedKind,
    pub url: String,
    #[serde(default = "default_feed_interval")]
    pub interval: HumanDuration,
    #[serde(default = "default_feed_timeout")]
    pub timeout: HumanDuration,
    /// Watched components; empty = all.
    #[serde(default)]
    pub components: Vec<String>,
    /// `aws-health` only: the regions in use (e.g. `us-east-1`); empty = all.
    #[serde(default)]
    pub regions: Vec<String>,
    /// `aws-health` only: the services in use (e.g. `ecs`, `route53`); empty = all.
    #[serde(default)]
    pub services: Vec<String>,
    /// `probe` only: the HTTP status a healthy endpoint answers.
    pub expect_status: Option<u16>,
    /// `probe` only: a substring a healthy body contains.
    pub body_contains: Option<String>,
    /// `probe` only: slower than this counts as degraded.
    pub max_latency: Option<HumanDuration>,
}

fn default_feed_interval() -> HumanDuration {
    HumanDuration::from_secs(60)
}

fn default_feed_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}

/// How the watcher turns observations into alerts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// A level change counts after this many consecutive observations.
    #[serde(default = "default_debounce")]
    pub debounce: u32,
    /// This many level changes within `flap_window` mark a feed as flapping.
    #[serde(default = "default_flap_changes")]
    pub flap_changes: usize,
    #[serde(default = "default_flap_window")]
    pub flap_window: HumanDuration,
    /// A feed unreadable for this long gets a "feed unreadable" notice.
    #[serde(default = "default_unreadable_after")]
    pub unreadable_after: HumanDuration,
    /// Largest body read from a feed, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body: usize,
    /// Poll intervals vary by up to this share (0.0–0.5) so feeds are not polled in lockstep.
    #[serde(default = "default_jitter")]
    pub jitter: f64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            debounce: default_debounce(),
            flap_changes: default_flap_changes(),
            flap_window: default_flap_window(),
            unreadable_after: default_unreadable_after(),
            max_body: default_max_body(),
            jitter: default_jitter(),
        }
    }
}

fn default_debounce() -> u32 {
    2
}

fn default_flap_changes() -> usize {
    4
}

fn default_flap_window() -> HumanDuration {
    HumanDuration::from_secs(30 * 60)
}

fn default_unreadable_after() -> HumanDuration {
    HumanDuration::from_secs(5 * 60)
}

fn default_max_body() -> usize {
    2 * 1024 * 1024
}

fn default_jitter() -> f64 {
    0.1
}
