//! `[[teams]]` and `[comms]`: who is notified and how (webhook, PagerDuty), and client
//! communications (approval, delivery, LLM polish, `[comms.email]`).

use std::path::PathBuf;

use serde::Deserialize;

use crate::duration::HumanDuration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    pub name: String,
    pub channel_id: Option<String>,
    pub role_id: Option<String>,
    /// A Slack-compatible JSON webhook (`{"text": ...}`).
    pub webhook_url: Option<String>,
    /// Name of the environment variable holding the team's PagerDuty Events API v2 routing
    /// key; set, the team is paged on notify and the page resolves with the incident.
    pub pagerduty_routing_key_env: Option<String>,
    /// The PagerDuty Events API v2 endpoint (tests and proxies point it elsewhere).
    #[serde(default = "default_pagerduty_events_url")]
    pub events_url: String,
}

/// PagerDuty's Events API v2 enqueue endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

fn default_pagerduty_events_url() -> String {
    PAGERDUTY_EVENTS_URL.to_owned()
}

/// `[comms]`: client communications and the delivery of team notifications.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommsConfig {
    /// The affected services named in notices (`services` in templates).
    #[serde(default = "default_comms_services")]
    pub services: Vec<String>,
    /// Whether a draft's author may approve it (never by default: a second person reads it).
    #[serde(default)]
    pub author_may_approve: bool,
    /// Ask the LLM providers of `[llm]` (OpenAI, then Anthropic) to polish drafts.
    #[serde(default)]
    pub polish: bool,
    /// Bounds one polish request.
    #[serde(default = "default_polish_timeout")]
    pub polish_timeout: HumanDuration,
    /// A provider that failed is skipped for this long (circuit breaker).
    #[serde(default = "default_breaker_cooldown")]
    pub breaker_cooldown: HumanDuration,
    /// Attempts per delivery route (team routes and client outputs), at least 1.
    #[serde(default = "default_delivery_attempts")]
    pub attempts: u32,
    /// Delay before the second attempt; doubled for each later one.
    #[serde(default = "default_delivery_backoff")]
    pub backoff: HumanDuration,
    /// Bounds one HTTP delivery (webhook, PagerDuty).
    #[serde(default = "default_delivery_timeout")]
    pub timeout: HumanDuration,
    /// A Discord channel where approved client notices are announced.
    pub announcement_channel_id: Option<String>,
    /// A Slack-compatible JSON webhook that receives approved client notices.
    pub webhook_url: Option<String>,
    /// Email to the key clients.
    pub email: Option<EmailConfig>,
}

impl Default for CommsConfig {
    fn default() -> Self {
        Self {
            services: default_comms_services(),
            author_may_approve: false,
            polish: false,
            polish_timeout: default_polish_timeout(),
            breaker_cooldown: default_breaker_cooldown(),
            attempts: default_delivery_attempts(),
            backoff: default_delivery_backoff(),
            timeout: default_delivery_timeout(),
            announcement_channel_id: None,
            webhook_url: None,
            email: None,
        }
    }
}

fn default_comms_services() -> Vec<String> {
    vec!["the application".to_owned()]
}

fn default_polish_timeout() -> HumanDuration {
    HumanDuration::from_secs(20)
}

fn default_breaker_cooldown() -> HumanDuration {
    HumanDuration::from_secs(5 * 60)
}

fn default_delivery_attempts() -> u32 {
    3
}

fn default_delivery_backoff() -> HumanDuration {
    HumanDuration::from_secs(2)
}

fn default_delivery_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}

/// `[comms.email]`: approved client notices by SMTP. With a login, TLS is required (STARTTLS,
/// or TLS from the first byte on port 465 / `tls = "wrapper"`); without one, STARTTLS is used
/// whenever the server offers it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    /// The sender, e.g. `"Example Status <status@example.com>"`.
    pub from: String,
    /// The key clients: every approved client notice goes to each of them.
    pub recipients: Vec<String>,
    /// Names of the environment variables holding the SMTP login, when the server needs one.
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    /// A PEM root certificate trusted besides the public roots (a relay with a private CA).
    pub ca_file: Option<PathBuf>,
    /// `starttls` (required, even without a login) or `wrapper` (implicit TLS); unset means
    /// `wrapper` on port 465, else STARTTLS (required with a login, opportunistic without).
    pub tls: Option<SmtpTls>,
    #[serde(default = "default_delivery_timeout")]
    pub timeout: HumanDuration,
}

/// How the SMTP connection is encrypted, when set explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    Starttls,
    Wrapper,
}

fn default_smtp_port() -> u16 {
    587
}
