//! Communications: drafts of notices and their approval (`comms.*`), their delivery to the
//! configured outputs, and teams told on their routes (`notify.*`). Every text is recorded
//! exactly as it went out.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::comms::polish::Attempt;
use crate::domain::RunId;

fn one() -> u32 {
    1
}

fn template_writer() -> String {
    "template".to_owned()
}

/// `comms.drafted`: a notice drafted from a template (and perhaps polished by a model).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommsDrafted {
    /// `DRAFT-<n>`.
    pub draft: String,
    /// `clients` or `internal`.
    pub audience: String,
    /// `initial`, `update` or `resolved`.
    pub kind: String,
    /// The template's file name.
    pub template: String,
    /// The draft's text.
    pub text: String,
    /// The template's own text, before any polish.
    pub template_text: String,
    /// `openai`, `anthropic` or `template`.
    #[serde(default = "template_writer")]
    pub writer: String,
    /// A provider other than the first one tried wrote it.
    pub fallback: bool,
    #[serde(deserialize_with = "super::lenient::or_default")]
    pub attempts: Vec<Attempt>,
    /// Why the template's text was kept, when polish was asked for; `null` otherwise.
    pub note: Option<String>,
    /// The facts the text was rendered from (`crate::comms::facts::Facts`), kept for the
    /// record; nothing reads them back.
    pub facts: Value,
    /// The run it was drafted for (a `comms_draft` step), named here rather than on the
    /// envelope so that a run's own events stay its steps'; `null` otherwise.
    pub run: Option<RunId>,
}

/// `comms.edited`: a new version of the text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommsEdited {
    pub draft: String,
    pub text: String,
    pub previous: String,
}

/// `comms.approved`: a communicator approved version `version`; `text` is what goes out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommsApproved {
    pub draft: String,
    #[serde(default = "one")]
    pub version: u32,
    /// Always written.
    pub text: Option<String>,
}

/// `comms.approval_refused`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommsApprovalRefused {
    pub draft: String,
    /// The version named in the approval; `null` when none was.
    pub version: Option<u32>,
    pub reason: String,
}

/// `comms.discarded`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommsDiscarded {
    pub draft: String,
}

/// `comms.resend`: an approved notice is sent again to the outputs that did not get it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommsResend {
    pub draft: String,
    pub outputs: Vec<String>,
}

/// `comms.sent`: one output delivered an approved notice (one event per attempt that did).
/// Each output adds what it sent through: `channel` (announcement), or `recipient_count`,
/// `recipient_domains`, `subject` and `body` (email); a webhook adds nothing. Clients'
/// addresses stay in the config: logs written before this kept them in `recipients`, which
/// still decodes and is shown only as a count and domains (`scrub_recipients`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommsSent {
    pub draft: String,
    /// `announcement`, `webhook` or `email`.
    pub output: String,
    pub attempt: u32,
    pub text: String,
    /// What the output answered.
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Older logs only: the addresses themselves. Never written again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<String>>,
    /// Email: how many addresses it went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_count: Option<usize>,
    /// Email: the addresses' domains, lowercase, sorted, each once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_domains: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The run that sent it (a step), when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<RunId>,
}

impl CommsSent {
    /// The count and domains of `addresses`, for a new event (never the addresses).
    pub fn to_recipients(addresses: &[String]) -> Self {
        Self {
            recipient_count: Some(addresses.len()),
            recipient_domains: Some(domains(addresses.iter().map(String::as_str))),
            ..Self::default()
        }
    }

    /// `3 recipients at example.com, example.org`, from the count and domains (or, in an
    /// older event, from the addresses); `None` when the output has no recipients.
    pub fn recipients_line(&self) -> Option<String> {
        let (count, domains) = match (&self.recipient_count, &self.recipients) {
            (Some(count), _) => (*count, self.recipient_domains.clone().unwrap_or_default()),
            (None, Some(old)) => (old.len(), domains(old.iter().map(String::as_str))),
            (None, None) => return None,
        };
        let s = if count == 1 { "" } else { "s" };
        Some(if domains.is_empty() {
            format!("{count} recipient{s}")
        } else {
            format!("{count} recipient{s} at {}", domains.join(", "))
        })
    }
}

/// The domain of each address (`Ops <ops@Example.com>` → `example.com`), sorted, each once.
fn domains<'a>(addresses: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = addresses
        .filter_map(|a| a.rsplit_once('@'))
        .map(|(_, domain)| domain.trim().trim_end_matches('>').trim().to_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The data of a `comms.sent` event as exports show it: an older event's `recipients` (the
/// addresses) become `recipient_count` and `recipient_domains`; anything else is unchanged.
/// (The event's hash was over the addresses, so such an event no longer verifies on its own
/// in an export: the log itself, where it does, is unchanged.)
pub fn scrub_recipients(data: &mut Value) {
    let Some(object) = data.as_object_mut() else {
        return;
    };
    let Some(old) = object.remove("recipients") else {
        return;
    };
    let addresses: Vec<&str> = old
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    object
        .entry("recipient_count")
        .or_insert_with(|| addresses.len().into());
    object
        .entry("recipient_domains")
        .or_insert_with(|| domains(addresses.into_iter()).into());
}

/// `comms.delivery_failed`: one attempt of an output failed; `final` on the last one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommsDeliveryFailed {
    pub draft: String,
    pub output: String,
    #[serde(default = "one")]
    pub attempt: u32,
    pub error: String,
    #[serde(rename = "final")]
    pub last: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<RunId>,
}

/// `notify.delivered`: a team was told on one route (`discord`, `webhook`, `pagerduty`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyDelivered {
    pub team: String,
    pub route: String,
    /// PagerDuty's `trigger` or `resolve`; `null` on other routes.
    pub action: Option<String>,
    pub attempt: u32,
    pub text: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<RunId>,
}

/// `notify.failed`: one attempt on a route failed; `final` on the last one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyFailed {
    pub team: String,
    pub route: String,
    pub action: Option<String>,
    #[serde(default = "one")]
    pub attempt: u32,
    pub error: String,
    #[serde(rename = "final")]
    pub last: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<RunId>,
}
