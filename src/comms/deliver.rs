//! Delivery with retries: team notifications on every route (Discord with a role mention, a
//! Slack-compatible webhook, PagerDuty Events API v2) and approved client notices on every
//! output (announcement channel, webhook, email). Every attempt's result is an event; a route
//! that still fails after its last attempt is reported in the incident channel. Never silent.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tracing::warn;

use super::email;
use super::errors::{DeliveryError, PagerDutyError, WebhookError};
use super::template::split_subject;
use crate::config::SecretSource;
use crate::config::{Config, TeamConfig};
use crate::domain::event::NewEvent;
use crate::domain::{Actor, IncidentId, RunId};
use crate::events::{CommsDeliveryFailed, CommsSent, NotifyDelivered, NotifyFailed, Payload};
use crate::ports::chat::{ChannelId, Chat, ChatError, Message};
use crate::ports::store::EventStore;
use crate::retry::{Asked, Policy, Retry};

/// PagerDuty caps `payload.summary` at 1024 characters.
const PAGERDUTY_SUMMARY_MAX: usize = 1024;

/// What delivery acts through, and where its events and failure reports go.
pub struct Delivery<'a> {
    pub config: &'a Config,
    pub http: &'a reqwest::Client,
    pub chat: &'a dyn Chat,
    pub secrets: &'a dyn SecretSource,
    pub store: Option<&'a dyn EventStore>,
    /// The incident channel (or thread): where a route that still fails is reported.
    pub channel: &'a ChannelId,
    pub incident: Option<&'a IncidentId>,
    pub run: Option<&'a RunId>,
    pub actor: Actor,
}

/// How one route ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteResult {
    /// `discord`, `webhook`, `pagerduty`, `announcement` or `email`.
    pub route: String,
    pub ok: bool,
    pub attempts: u32,
    /// The answer on success, the last error on failure.
    pub detail: String,
}

/// PagerDuty's two actions Lifeboat uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageAction {
    Trigger,
    Resolve,
}

impl PageAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PageAction::Trigger => "trigger",
            PageAction::Resolve => "resolve",
        }
    }
}

/// A Slack-compatible webhook body.
pub fn webhook_payload(text: &str) -> Value {
    json!({ "text": text })
}

/// A PagerDuty Events API v2 event. `dedup_key` is the incident id, so every notify updates
/// the same alert and recovery resolves it.
pub fn pagerduty_payload(
    routing_key: &str,
    action: PageAction,
    dedup_key: &str,
    team: &str,
    text: &str,
) -> Value {
    match action {
        PageAction::Trigger => {
            let summary: String = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or(text)
                .chars()
                .take(PAGERDUTY_SUMMARY_MAX)
                .collect();
            json!({
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": dedup_key,
                "payload": {
                    "summary": summary,
                    "source": "lifeboat",
                    "severity": "critical",
                    "component": team,
                    "custom_details": { "text": text, "team": team },
                },
            })
        }
        PageAction::Resolve => json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        }),
    }
}

/// `scheme://host[:port]/…`: a URL as it may appear in events and chat.
pub fn url_origin(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}/…",
                u.scheme(),
                u.host_str().unwrap_or_default()
            )
        }
        Err(_) => "the configured URL".to_owned(),
    }
}

/// `text` with `url` and every credential-bearing part of it (path, query, login) replaced,
/// however the URL was respelled (host case, default port), and `secret` redacted.
pub fn redact(text: &str, url: &str, shown: &str, secret: Option<&str>) -> String {
    let mut text = text.replace(url, shown);
    let mut parts: Vec<String> = Vec::new();
    if let Ok(u) = reqwest::Url::parse(url) {
        parts.push(u.to_string());
        let path = u.path();
        if path.len() > 1 {
            parts.push(path.to_owned());
            // The path as it was written (a URL parser may re-encode it).
            let authority = url.find("://").map_or(0, |i| i + 3);
            if let Some(at) = url[authority..].find('/') {
                parts.push(url[authority + at..].to_owned());
            }
        }
        parts.extend(u.query().map(str::to_owned));
        parts.extend(u.password().map(str::to_owned));
        if !u.username().is_empty() {
            parts.push(u.username().to_owned());
        }
    }
    parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for part in parts.iter().filter(|p| p.len() > 1) {
        text = text.replace(part.as_str(), "/…");
    }
    match secret {
        Some(secret) if !secret.is_empty() => text.replace(secret, "[redacted]"),
        _ => text,
    }
}

/// The client-notice outputs `[comms]` configures, in the order they are sent.
pub fn outputs(config: &Config) -> Vec<&'static str> {
    let comms = &config.comms;
    [
        ("announcement", comms.announcement_channel_id.is_some()),
        ("webhook", comms.webhook_url.is_some()),
        ("email", comms.email.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect()
}

/// The longest pause between two attempts, and the longest an endpoint's `Retry-After` is
/// honoured.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// A route's retries: `[comms] attempts` tries, the pause `[comms] backoff` doubled each time
/// up to a minute, longer when the endpoint asked (within that minute).
pub fn retry_policy(attempts: u32, backoff: Duration) -> Policy {
    Policy::exponential(attempts.max(1), backoff)
        .capped(MAX_PAUSE)
        .asked(Asked::AtLeast(MAX_PAUSE))
}

impl Delivery<'_> {
    /// The run a delivery is recorded for. It is named in the payload, not the envelope: a
    /// run's own events stay the steps' start/end pairs its state is folded from.
    fn run(&self) -> Option<RunId> {
        self.run.cloned()
    }

    fn record(&self, payload: impl Into<Payload>) {
        let Some(store) = self.store else { return };
        let mut event = NewEvent::of(self.actor.clone(), payload);
        if let Some(i) = self.incident {
            event = event.incident(i.clone());
        }
        if let Err(err) = store.append(event) {
            tracing::error!(error = %err, "delivery event could not be stored");
        }
    }

    /// Records each attempt of telling `team` `text` on `route`: `notify.delivered` with the
    /// exact text, or `notify.failed` with the error (`final` on the last attempt).
    fn team_attempts<'s>(
        &'s self,
        team: &str,
        route: &str,
        action: Option<&str>,
        text: &str,
    ) -> impl FnMut(u32, &Result<String, DeliveryError>, bool) + use<'s> {
        let team = team.to_owned();
        let route = route.to_owned();
        let action = action.map(str::to_owned);
        let text = text.to_owned();
        move |attempt, result, last| match result {
            Ok(detail) => self.record(NotifyDelivered {
                team: team.clone(),
                route: route.clone(),
                action: action.clone(),
                attempt,
                text: text.clone(),
                detail: detail.clone(),
                run: self.run(),
            }),
            Err(error) => self.record(NotifyFailed {
                team: team.clone(),
                route: route.clone(),
                action: action.clone(),
                attempt,
                error: error.to_string(),
                last,
                run: self.run(),
            }),
        }
    }

    /// Posts `message` in `channel`; what the route reports either way.
    async fn post(&self, channel: &ChannelId, message: &Message) -> Result<String, ChatError> {
        self.chat
            .post(channel, message)
            .await
            .map(|posted| format!("posted in {} as {}", posted.channel.0, posted.id))
    }

    /// The key PagerDuty groups pages by: the incident, or the run outside an incident.
    fn dedup_key(&self) -> String {
        self.incident
            .map(ToString::to_string)
            .or_else(|| self.run.map(ToString::to_string))
            .unwrap_or_else(|| "lifeboat".to_owned())
    }

    /// Runs `send` up to `[comms] attempts` times with backoff; `event(attempt, result, last)`
    /// records each result.
    async fn with_retries<F, Fut, E>(
        &self,
        route: &str,
        mut send: F,
        mut event: impl FnMut(u32, &Result<String, DeliveryError>, bool),
    ) -> RouteResult
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<String, E>>,
        E: Into<DeliveryError>,
    {
        let comms = &self.config.comms;
        let (result, attempts) = retry_policy(comms.attempts, comms.backoff.get())
            .run(
                || {
                    let sent = send();
                    async move { sent.await.map_err(Into::into) }
                },
                // Every failure is tried again, refusals too, as before this error was typed
                // (a route's attempts are part of what the comms tests pin); the edge's own
                // word on the wait is honoured.
                |err: &DeliveryError| err.retry_after().map_or(Retry::Yes, Retry::After),
                |attempt, result, last| {
                    if let (Err(err), false) = (result, last) {
                        warn!(route, attempt, retryable = err.retryable(), error = %err, "delivery failed; retrying");
                    }
                    event(attempt, result, last);
                },
            )
            .await;
        RouteResult {
            route: route.to_owned(),
            ok: result.is_ok(),
            attempts,
            detail: result.unwrap_or_else(|err| err.to_string()),
        }
    }

    async fn post_json(
        &self,
        url: &str,
        body: &Value,
        hide: Option<&str>,
    ) -> Result<String, WebhookError> {
        // Webhook URLs carry their credential in the path (Slack's do): name only the host.
        // Errors are described without their URL; the replacements are a backstop.
        let shown = url_origin(url);
        let hide = |text: String| redact(&text, url, &shown, hide);
        let response = self
            .http
            .post(url)
            .timeout(self.config.comms.timeout.get())
            .json(body)
            .send()
            .await
            .map_err(|e| WebhookError::Unreachable {
                shown: shown.clone(),
                detail: hide(crate::ports::http::describe(&e.without_url())),
            })?;
        let status = response.status();
        let retry_after = crate::feeds::fetch::retry_after(response.headers(), chrono::Utc::now())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        let text = crate::ports::http::truncate_chars(text.trim(), 200);
        if status.is_success() {
            Ok(hide(format!("{} {text}", status.as_u16()))
                .trim()
                .to_owned())
        } else {
            Err(WebhookError::answered(
                shown.clone(),
                status.as_u16(),
                hide(text),
                retry_after,
            ))
        }
    }

    async fn report_failure(&self, what: &str, result: &RouteResult) {
        let content = format!(
            "⚠️ {what} via {} failed after {} attempt{}: {}",
            result.route,
            result.attempts,
            if result.attempts == 1 { "" } else { "s" },
            result.detail
        );
        let message = Message {
            content,
            ..Message::default()
        };
        if let Err(err) = self.chat.post(self.channel, &message).await {
            tracing::error!(error = %err, "a delivery failure could not be reported in chat");
        }
    }

    /// Tells `team` `text` on every route it has. Returns each route's result.
    pub async fn notify_team(&self, team: &TeamConfig, text: &str) -> Vec<RouteResult> {
        let mut results = Vec::new();
        let record =
            |route: &str, action: Option<&str>| self.team_attempts(&team.name, route, action, text);
        // Discord: the team's channel (or the incident channel) with the role mentioned.
        let channel = team
            .channel_id
            .clone()
            .map(ChannelId)
            .unwrap_or_else(|| self.channel.clone());
        let mention = team
            .role_id
            .as_deref()
            .map(|r| format!("<@&{r}> "))
            .unwrap_or_default();
        // Only the team's role pings: `text` is user text and may hold other mentions.
        let message = Message {
            content: format!("{mention}{text}"),
            pings: team.role_id.iter().cloned().collect(),
            ..Message::default()
        };
        results.push(
            self.with_retries(
                "discord",
                || self.post(&channel, &message),
                record("discord", None),
            )
            .await,
        );
        if let Some(url) = &team.webhook_url {
            let body = webhook_payload(text);
            results.push(
                self.with_retries(
                    "webhook",
                    || self.post_json(url, &body, None),
                    record("webhook", None),
                )
                .await,
            );
        }
        if team.pagerduty_routing_key_env.is_some() {
            results.push(self.page(team, PageAction::Trigger, text, &record).await);
        }
        for failed in results.iter().filter(|r| !r.ok) {
            self.report_failure(&format!("Notifying {}", team.name), failed)
                .await;
        }
        results
    }

    async fn page<R, E>(
        &self,
        team: &TeamConfig,
        action: PageAction,
        text: &str,
        record: &R,
    ) -> RouteResult
    where
        R: Fn(&str, Option<&str>) -> E,
        E: FnMut(u32, &Result<String, DeliveryError>, bool),
    {
        let var = team
            .pagerduty_routing_key_env
            .as_deref()
            .unwrap_or_default();
        let Some(key) = self.secrets.get(var) else {
            let unset = PagerDutyError::NoRoutingKey {
                var: var.to_owned(),
            };
            let result = RouteResult {
                route: "pagerduty".into(),
                ok: false,
                attempts: 0,
                detail: unset.to_string(),
            };
            record("pagerduty", Some(action.as_str()))(0, &Err(unset.into()), true);
            return result;
        };
        let body = pagerduty_payload(key.expose(), action, &self.dedup_key(), &team.name, text);
        self.with_retries(
            "pagerduty",
            || async {
                self.post_json(&team.events_url, &body, Some(key.expose()))
                    .await
                    .map_err(PagerDutyError::from)
            },
            record("pagerduty", Some(action.as_str())),
        )
        .await
    }

    /// Resolves the PagerDuty alert `team` was paged with for this incident.
    pub async fn resolve_page(&self, team: &TeamConfig) -> RouteResult {
        let record = |route: &str, action: Option<&str>| {
            self.team_attempts(&team.name, route, action, "resolved")
        };
        let result = self
            .page(team, PageAction::Resolve, "resolved", &record)
            .await;
        if !result.ok {
            self.report_failure(&format!("Resolving {}'s page", team.name), &result)
                .await;
        }
        result
    }

    /// Sends an approved client notice on every configured output.
    pub async fn send_notice(&self, draft: &str, text: &str) -> Vec<RouteResult> {
        self.send_notice_to(draft, text, &outputs(self.config))
            .await
    }

    /// Sends an approved client notice on the configured outputs named in `only`.
    pub async fn send_notice_to(&self, draft: &str, text: &str, only: &[&str]) -> Vec<RouteResult> {
        let comms = &self.config.comms;
        let wanted = |output: &str| only.contains(&output);
        let mut results = Vec::new();
        // `via`: what the output adds to each `comms.sent` (its channel, or the email sent).
        let record = |output: &str, via: CommsSent| {
            let output = output.to_owned();
            let draft = draft.to_owned();
            let text = text.to_owned();
            move |attempt: u32, result: &Result<String, DeliveryError>, last: bool| match result {
                Ok(detail) => self.record(CommsSent {
                    draft: draft.clone(),
                    output: output.clone(),
                    attempt,
                    text: text.clone(),
                    detail: detail.clone(),
                    run: self.run(),
                    ..via.clone()
                }),
                Err(error) => self.record(CommsDeliveryFailed {
                    draft: draft.clone(),
                    output: output.clone(),
                    attempt,
                    error: error.to_string(),
                    last,
                    run: self.run(),
                }),
            }
        };
        if let Some(id) = comms
            .announcement_channel_id
            .as_ref()
            .filter(|_| wanted("announcement"))
        {
            let channel = ChannelId(id.clone());
            let message = Message {
                content: text.to_owned(),
                ..Message::default()
            };
            results.push(
                self.with_retries(
                    "announcement",
                    || self.post(&channel, &message),
                    record(
                        "announcement",
                        CommsSent {
                            channel: Some(id.clone()),
                            ..CommsSent::default()
                        },
                    ),
                )
                .await,
            );
        }
        if let Some(url) = comms.webhook_url.as_ref().filter(|_| wanted("webhook")) {
            let body = webhook_payload(text);
            results.push(
                self.with_retries(
                    "webhook",
                    || self.post_json(url, &body, None),
                    record("webhook", CommsSent::default()),
                )
                .await,
            );
        }
        if let Some(cfg) = comms.email.as_ref().filter(|_| wanted("email")) {
            let (subject, body) = split_subject(text);
            let subject = subject.unwrap_or_else(|| {
                format!(
                    "{}: service notice",
                    self.config
                        .vars
                        .get("company")
                        .map_or("Our service", String::as_str)
                )
            });
            results.push(
                self.with_retries(
                    "email",
                    || email::send(cfg, self.secrets, &subject, &body),
                    record(
                        "email",
                        CommsSent {
                            subject: Some(subject.clone()),
                            body: Some(body.clone()),
                            ..CommsSent::to_recipients(&cfg.recipients)
                        },
                    ),
                )
                .await,
            );
        }
        for failed in results.iter().filter(|r| !r.ok) {
            self.report_failure(&format!("Sending {draft}"), failed)
                .await;
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagerduty_events_have_the_v2_shape() {
        let t = pagerduty_payload(
            "R123",
            PageAction::Trigger,
            "INC-1",
            "eng",
            "\nHeroku down\nmore",
        );
        assert_eq!(t["event_action"], "trigger");
        assert_eq!(t["dedup_key"], "INC-1");
        assert_eq!(t["payload"]["summary"], "Heroku down");
        assert_eq!(t["payload"]["severity"], "critical");
        assert_eq!(t["payload"]["source"], "lifeboat");
        let r = pagerduty_payload("R123", PageAction::Resolve, "INC-1", "eng", "x");
        assert_eq!(
            r,
            json!({ "routing_key": "R123", "event_action": "resolve", "dedup_key": "INC-1" })
        );
        let long = "x".repeat(2000);
        let t = pagerduty_payload("k", PageAction::Trigger, "d", "t", &long);
        assert_eq!(t["payload"]["summary"].as_str().unwrap().len(), 1024);
        assert_eq!(webhook_payload("hi"), json!({ "text": "hi" }));
    }

    #[test]
    fn webhook_paths_stay_out_of_messages() {
        assert_eq!(
            url_origin("https://hooks.slack.com/services/T0/B0/SECRET"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            url_origin("http://127.0.0.1:8080/x"),
            "http://127.0.0.1:8080/…"
        );
    }

    #[test]
    fn a_respelled_webhook_url_never_leaks_its_path() {
        let url = "http://LOCALHOST:80/services/T0/B0/TOKEN123?sig=abc";
        let shown = url_origin(url);
        for said in [
            "error sending request for url (http://localhost/services/T0/B0/TOKEN123?sig=abc)",
            "404 no route for /services/T0/B0/TOKEN123",
            "sig=abc",
        ] {
            let out = redact(said, url, &shown, Some("R0UTING"));
            assert!(
                !out.contains("TOKEN123") && !out.contains("sig=abc"),
                "{said} -> {out}"
            );
        }
        assert_eq!(
            redact("key R0UTING", url, &shown, Some("R0UTING")),
            "key [redacted]"
        );
    }
}
