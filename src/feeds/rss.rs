//! RSS 2.0 / Atom status feeds (AWS's per-service feeds, Statuspage's history feeds) → `Parsed`, via `feed-rs`.
//!
//! A feed is a history, not a snapshot: the latest item of each topic decides that topic's
//! state. Two ways of stating it are understood:
//! - AWS item titles start with the state: "Service is operating normally:" and "Resolved:" →
//!   operational; "Informational message:" and "Performance issues:" → degraded; "Service
//!   disruption:" → major_outage, because it is AWS's red, most severe state (the same
//!   severity as the dashboard's code 3 and Heroku's red), and a per-service, per-region feed
//!   is already scoped to what we use. A topic is the item guid's fragment without its
//!   `_<epoch>` suffix (`#internetconnectivity-us-gov-west-1_1639599392`), else the title text
//!   after the prefix.
//! - Statuspage history items open their text with the latest update's state in bold
//!   (`<strong>Monitoring</strong> - ...`); an open state is degraded, since those feeds carry
//!   no impact. A topic is the item id (one item per incident, updated in place).
//!
//! Items stating neither are ignored; a feed where no item states a level gives no level.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::config::FeedKind;
use crate::domain::HealthLevel;

use super::text::decode_text;
use super::{ComponentHealth, FeedError, ParseContext, Parsed, VendorIncident, is_watched, plural};

const KIND: FeedKind = FeedKind::Rss;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing wrong, or no longer wrong.
    Fine,
    Open {
        level: HealthLevel,
        word: &'static str,
    },
}

/// AWS's title prefixes, matched case-insensitively.
const AWS_PREFIXES: [(&str, State); 5] = [
    ("Service is operating normally:", State::Fine),
    ("Resolved:", State::Fine),
    (
        "Informational message:",
        State::Open {
            level: HealthLevel::Degraded,
            word: "informational message",
        },
    ),
    (
        "Performance issues:",
        State::Open {
            level: HealthLevel::Degraded,
            word: "performance issues",
        },
    ),
    (
        "Service disruption:",
        State::Open {
            level: HealthLevel::MajorOutage,
            word: "service disruption",
        },
    ),
];

/// Statuspage's update states as they appear in bold at the start of an item.
fn statuspage_state(word: &str) -> Option<State> {
    let open = |level, word| Some(State::Open { level, word });
    match word.trim().to_ascii_lowercase().as_str() {
        "investigating" => open(HealthLevel::Degraded, "investigating"),
        "identified" => open(HealthLevel::Degraded, "identified"),
        "monitoring" => open(HealthLevel::Degraded, "monitoring"),
        "update" => open(HealthLevel::Degraded, "update"),
        "in progress" => open(HealthLevel::Maintenance, "in progress"),
        "verifying" => open(HealthLevel::Maintenance, "verifying"),
        "resolved" | "completed" | "postmortem" | "scheduled" => Some(State::Fine),
        _ => None,
    }
}

/// One item, read.
struct Item {
    topic: String,
    title: String,
    state: State,
    at: Option<DateTime<Utc>>,
    /// Position in the feed; feeds list newest first, which breaks ties between equal times.
    pos: usize,
    link: Option<String>,
    text: Option<String>,
}

pub fn parse(body: &[u8], ctx: &ParseContext) -> Result<Parsed, FeedError> {
    let malformed = |detail: String| FeedError::Malformed {
        kind: KIND.as_str(),
        detail,
    };
    let text = decode_text(body, KIND)?;
    let feed = feed_rs::parser::parse(without_declared_encoding(&text).as_bytes())
        .map_err(|err| malformed(format!("not an RSS or Atom feed: {err}")))?;
    if feed.entries.is_empty() {
        return Err(malformed("the feed has no items".to_owned()));
    }
    let total = feed.entries.len();

    // Latest item per topic.
    let mut topics: BTreeMap<String, (Item, Option<DateTime<Utc>>)> = BTreeMap::new();
    for (pos, entry) in feed.entries.into_iter().enumerate() {
        let Some(item) = read_item(pos, entry) else {
            continue;
        };
        if !is_watched(&ctx.components, &item.topic) && !is_watched(&ctx.components, &item.title) {
            continue;
        }
        match topics.get_mut(&item.topic) {
            None => {
                let first = item.at;
                topics.insert(item.topic.clone(), (item, first));
            }
            Some((latest, first)) => {
                *first = match (*first, item.at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let newer = (item.at, std::cmp::Reverse(item.pos))
                    > (latest.at, std::cmp::Reverse(latest.pos));
                if newer {
                    *latest = item;
                }
            }
        }
    }
    if topics.is_empty() {
        return Ok(Parsed {
            level: None,
            summary: format!("{}, none stating a level", plural(total, "item")),
            incidents: Vec::new(),
            components: Vec::new(),
        });
    }

    let mut components = Vec::new();
    let mut incidents = Vec::new();
    for (topic, (item, first)) in topics {
        let level = match item.state {
            State::Fine => HealthLevel::Operational,
            State::Open { level, .. } => level,
        };
        components.push(ComponentHealth {
            name: topic.clone(),
            level,
        });
        if let State::Open { level, word } = item.state {
            incidents.push(VendorIncident {
                id: topic,
                title: item.title,
                status: word.to_owned(),
                impact: level,
                started_at: first,
                updated_at: item.at,
                url: item.link,
                latest_update: item.text,
            });
        }
    }
    let level = components
        .iter()
        .map(|c| c.level)
        .max()
        .unwrap_or(HealthLevel::Operational);
    let summary = match incidents.as_slice() {
        [] => format!(
            "No open events ({} checked)",
            plural(components.len(), "topic")
        ),
        [one] => format!("{}: {}", one.status, one.title),
        many => format!("{} open", plural(many.len(), "event")),
    };
    Ok(Parsed {
        level: Some(level),
        summary,
        incidents,
        components,
    })
}

fn read_item(pos: usize, entry: feed_rs::model::Entry) -> Option<Item> {
    let title = entry
        .title
        .as_ref()
        .map(|t| t.content.trim().to_owned())
        .unwrap_or_default();
    let html = entry
        .summary
        .as_ref()
        .map(|s| s.content.as_str())
        .or_else(|| entry.content.as_ref().and_then(|c| c.body.as_deref()))
        .unwrap_or_default();
    let at = entry.updated.or(entry.published);
    let link = entry.links.first().map(|l| l.href.clone());
    let text = Some(plain_text(html)).filter(|t| !t.is_empty());

    if let Some((state, rest)) = aws_prefix(&title) {
        let rest = rest.trim();
        let topic = aws_topic(&entry.id).unwrap_or_else(|| {
            let bare = rest.strip_prefix("[RESOLVED]").unwrap_or(rest);
            bare.trim().to_lowercase()
        });
        return Some(Item {
            topic,
            title: rest.to_owned(),
            state,
            at,
            pos,
            link,
            text,
        });
    }
    let state = leading_bold(html).and_then(statuspage_state)?;
    Some(Item {
        topic: entry.id,
        title,
        state,
        at,
        pos,
        link,
        text,
    })
}

fn aws_prefix(title: &str) -> Option<(State, &str)> {
    AWS_PREFIXES.iter().find_map(|(prefix, state)| {
        let head = title.get(..prefix.len())?;
        head.eq_ignore_ascii_case(prefix)
            .then(|| (*state, &title[prefix.len()..]))
    })
}

/// `http://status.aws.amazon.com/#internetconnectivity-us-gov-west-1_1639599392` →
/// `internetconnectivity-us-gov-west-1`: the same event keeps its fragment across updates.
fn aws_topic(guid: &str) -> Option<String> {
    let (_, fragment) = guid.split_once('#')?;
    let topic = match fragment.rsplit_once('_') {
        Some((topic, stamp)) if stamp.chars().all(|c| c.is_ascii_digit()) => topic,
        _ => fragment,
    };
    Some(topic.trim().to_lowercase()).filter(|t| !t.is_empty())
}

/// The text of the first `<strong>` element when it opens the item's text (after an optional
/// `<small>` date line, as Statuspage writes it).
fn leading_bold(html: &str) -> Option<&str> {
    let start = html.find("<strong>")? + "<strong>".len();
    let len = html[start..].find("</strong>")?;
    let before = plain_text(&html[..start - "<strong>".len()]);
    // Anything before the bold word other than a date line means it is not a state.
    (before.len() < 80).then(|| &html[start..start + len])
}

/// Tags dropped, the common entities decoded, whitespace collapsed: enough for one line of
/// chat, not a general HTML renderer.
fn plain_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The body is already decoded to UTF-8 by `decode_text`; an `encoding="UTF-16"` left in the
/// XML declaration would make the XML reader decode it a second time.
fn without_declared_encoding(text: &str) -> Cow<'_, str> {
    let trimmed = text.trim_start();
    let Some(end) = trimmed
        .starts_with("<?xml")
        .then(|| trimmed.find("?>"))
        .flatten()
    else {
        return Cow::Borrowed(text);
    };
    let declaration = &trimmed[..end];
    let Some(at) = declaration.find("encoding") else {
        return Cow::Borrowed(text);
    };
    let after = &declaration[at + "encoding".len()..];
    let value_end = after
        .char_indices()
        .skip_while(|(_, c)| c.is_whitespace() || *c == '=')
        .find(|(_, c)| *c == '"' || *c == '\'')
        .and_then(|(open, quote)| after[open + 1..].find(quote).map(|len| open + 1 + len + 1));
    match value_end {
        Some(value_end) => Cow::Owned(format!(
            "{}{}{}",
            &declaration[..at],
            &after[value_end..],
            &trimmed[end..]
        )),
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::test_support::{capture, own};

    #[test]
    fn the_aws_capture_says_operating_normally() {
        let parsed = parse(
            &capture("aws_status_rss_all_2021-12.xml"),
            &ParseContext::default(),
        )
        .unwrap();
        assert_eq!(parsed.level, Some(HealthLevel::Operational));
        assert!(parsed.incidents.is_empty());
        // Both items are updates of one event.
        assert_eq!(
            parsed.components,
            [ComponentHealth {
                name: "internetconnectivity-us-gov-west-1".to_owned(),
                level: HealthLevel::Operational
            }]
        );
        assert_eq!(parsed.summary, "No open events (1 topic checked)");
    }

    #[test]
    fn the_latest_item_of_each_topic_decides() {
        let parsed = parse(&own("aws_rss_disruption.xml"), &ParseContext::default()).unwrap();
        assert_eq!(parsed.level, Some(HealthLevel::MajorOutage), "{parsed:?}");
        let open: Vec<_> = parsed
            .incidents
            .iter()
            .map(|i| (i.id.as_str(), i.status.as_str(), i.impact))
            .collect();
        assert_eq!(
            open,
            [
                (
                    "ecs-us-east-1",
                    "service disruption",
                    HealthLevel::MajorOutage
                ),
                ("route53", "performance issues", HealthLevel::Degraded),
            ]
        );
        let ecs = &parsed.incidents[0];
        assert_eq!(ecs.title, "Increased task launch failures");
        assert_eq!(
            ecs.started_at.unwrap().to_rfc3339(),
            "2026-03-02T09:10:00+00:00"
        );
        assert!(
            ecs.latest_update
                .as_deref()
                .unwrap()
                .starts_with("We continue")
        );
        // The earlier S3 disruption has a newer "Resolved:" item.
        assert!(
            parsed
                .components
                .iter()
                .any(|c| c.name == "s3-us-east-1" && c.level == HealthLevel::Operational)
        );
    }

    #[test]
    fn atom_statuspage_history_is_read_from_the_bold_state() {
        let parsed = parse(&own("statuspage_history.atom"), &ParseContext::default()).unwrap();
        assert_eq!(parsed.level, Some(HealthLevel::Degraded));
        assert_eq!(parsed.incidents.len(), 1);
        let i = &parsed.incidents[0];
        assert_eq!(i.status, "monitoring");
        assert_eq!(i.title, "Elevated errors on the API");
        assert_eq!(
            i.url.as_deref(),
            Some("https://status.example.com/incidents/abc123")
        );
        assert!(
            i.latest_update
                .as_deref()
                .unwrap()
                .contains("Monitoring - A fix")
        );
    }

    #[test]
    fn a_component_filter_keeps_watched_topics() {
        let ctx = ParseContext {
            components: vec!["s3-us-east-1".to_owned()],
            ..ParseContext::default()
        };
        let parsed = parse(&own("aws_rss_disruption.xml"), &ctx).unwrap();
        assert_eq!(parsed.level, Some(HealthLevel::Operational));
        assert_eq!(parsed.components.len(), 1);
    }

    #[test]
    fn items_that_state_nothing_give_no_level() {
        let body = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>Blog</title>
            <item><title>We shipped a thing</title><guid>1</guid></item></channel></rss>"#;
        let parsed = parse(body, &ParseContext::default()).unwrap();
        assert_eq!(parsed.level, None);
        assert_eq!(parsed.summary, "1 item, none stating a level");
    }

    #[test]
    fn no_items_html_and_truncation_are_malformed() {
        for (body, want) in [
            (
                &br#"<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>"#[..],
                "the feed has no items",
            ),
            (
                b"<!DOCTYPE html><html><body><h1>502</h1></body></html>",
                "not an RSS or Atom feed",
            ),
            (b"<rss version=\"2.0\"><channel><item><title>Ser", "not an RSS or Atom feed"),
            (b"\xff\xfe\xfd", "invalid UTF-16"),
        ] {
            match parse(body, &ParseContext::default()) {
                Err(FeedError::Malformed { kind: "rss", detail }) => {
                    assert!(detail.starts_with(want), "{detail}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_utf16_declaration_does_not_decode_twice() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss version=\"2.0\"><channel><title>t</title><item><title>Resolved: done</title><guid>g</guid></item></channel></rss>";
        let mut body = vec![0xFF, 0xFE];
        body.extend(xml.encode_utf16().flat_map(u16::to_le_bytes));
        let parsed = parse(&body, &ParseContext::default()).unwrap();
        assert_eq!(parsed.level, Some(HealthLevel::Operational));
        assert_eq!(
            without_declared_encoding("<?xml version='1.0' encoding='utf-16' ?><a/>"),
            "<?xml version='1.0'  ?><a/>"
        );
    }

    #[test]
    fn plain_text_strips_tags_and_entities() {
        assert_eq!(
            plain_text(
                "<p><small>Mar <var>2</var></small><br><strong>Resolved</strong> - A &amp; B</p>"
            ),
            "Mar 2 Resolved - A & B"
        );
    }
}
