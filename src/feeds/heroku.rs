//! Heroku's status API v4 (`status.heroku.com/api/v4/current-status`) → `Parsed`.
//!
//! The colours of the three systems (Apps, Data, Tools) carry the level; incidents carry no
//! impact of their own, so an open one is graded by the colours its updates report, else by
//! the worst colour on the page while it is open.

use serde::Deserialize;

use crate::config::FeedKind;
use crate::domain::HealthLevel;

use super::text::{decode_text, json};
use super::{
    ComponentHealth, FeedError, ParseContext, Parsed, VendorIncident, is_watched, origin, plural,
    timestamp,
};

const KIND: FeedKind = FeedKind::Heroku;

#[derive(Debug, Deserialize)]
struct CurrentStatus {
    status: Vec<SystemStatus>,
    incidents: Option<Vec<Incident>>,
}

#[derive(Debug, Deserialize)]
struct SystemStatus {
    system: String,
    status: String,
}

#[derive(Debug, Deserialize)]
struct Incident {
    /// A number on the live API; absent from the CLI's test replies.
    id: Option<serde_json::Value>,
    title: String,
    /// The incident's state; the truth about whether it is open (`resolved` has lagged it).
    state: Option<String>,
    resolved: Option<bool>,
    full_url: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    updates: Option<Vec<Update>>,
}

#[derive(Debug, Deserialize)]
struct Update {
    contents: Option<String>,
    update_type: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    status_prod: Option<String>,
    status_dev: Option<String>,
}

pub fn parse(body: &[u8], ctx: &ParseContext) -> Result<Parsed, FeedError> {
    let text = decode_text(body, KIND)?;
    let current: CurrentStatus = json(&text, KIND, "a Heroku v4 current-status")?;

    let components: Vec<ComponentHealth> = current
        .status
        .into_iter()
        .filter(|s| is_watched(&ctx.components, &s.system))
        .map(|s| ComponentHealth {
            level: colour_level(&s.status),
            name: s.system,
        })
        .collect();
    let page_colour = components
        .iter()
        .map(|c| c.level)
        .max()
        .unwrap_or(HealthLevel::Operational);

    let page = origin(&ctx.page_url);
    let incidents: Vec<VendorIncident> = current
        .incidents
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| open_incident(i, page_colour, page.as_deref()))
        .collect();

    let level = incidents
        .iter()
        .map(|i| i.impact)
        .chain([page_colour])
        .max()
        .unwrap_or(HealthLevel::Operational);
    Ok(Parsed {
        level: Some(level),
        summary: summary(&components, &incidents),
        incidents,
        components,
    })
}

/// Heroku's traffic lights. The CLI knows only these three; anything else still is not green.
fn colour_level(colour: &str) -> HealthLevel {
    match colour {
        "green" => HealthLevel::Operational,
        "yellow" => HealthLevel::Degraded,
        "red" => HealthLevel::MajorOutage,
        _ => HealthLevel::Degraded,
    }
}

fn is_closed_word(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "resolved" | "completed" | "closed" | "postmortem"
    )
}

fn open_incident(
    i: Incident,
    page_colour: HealthLevel,
    page: Option<&str>,
) -> Option<VendorIncident> {
    let mut updates = i.updates.unwrap_or_default();
    // Newest first; a stable sort keeps the API's order for equal or missing times.
    updates.sort_by_key(|u| {
        std::cmp::Reverse(
            u.updated_at
                .as_deref()
                .or(u.created_at.as_deref())
                .and_then(timestamp),
        )
    });
    let latest = updates.first();
    let open = match (&i.state, i.resolved) {
        (Some(state), _) => !is_closed_word(state),
        (None, Some(resolved)) => !resolved,
        // The CLI's own replies carry neither; the latest update is all there is.
        (None, None) => !latest
            .and_then(|u| u.update_type.as_deref())
            .is_some_and(is_closed_word),
    };
    if !open {
        return None;
    }
    let impact = latest
        .into_iter()
        .flat_map(|u| [u.status_prod.as_deref(), u.status_dev.as_deref()])
        .flatten()
        .map(colour_level)
        .max()
        .unwrap_or(page_colour);
    let id = match &i.id {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let url = i
        .full_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| Some(format!("{}/incidents/{}", page?, id.as_deref()?)));
    let status = i
        .state
        .clone()
        .or_else(|| latest.and_then(|u| u.update_type.clone()))
        .unwrap_or_else(|| "open".to_owned());
    Some(VendorIncident {
        id: id
            .or_else(|| url.clone())
            .unwrap_or_else(|| i.title.clone()),
        status,
        impact,
        started_at: i.created_at.as_deref().and_then(timestamp),
        updated_at: i.updated_at.as_deref().and_then(timestamp).or_else(|| {
            latest
                .and_then(|u| u.updated_at.as_deref())
                .and_then(timestamp)
        }),
        url,
        latest_update: latest
            .and_then(|u| u.contents.clone())
            .filter(|c| !c.trim().is_empty()),
        title: i.title,
    })
}

fn summary(components: &[ComponentHealth], incidents: &[VendorIncident]) -> String {
    let troubled: Vec<String> = components
        .iter()
        .filter(|c| c.level != HealthLevel::Operational)
        .map(|c| format!("{} {}", c.name, c.level))
        .collect();
    if troubled.is_empty() && incidents.is_empty() {
        // Heroku's own words for all green.
        return "No known issues at this time".to_owned();
    }
    let mut parts = troubled;
    if !incidents.is_empty() {
        parts.push(plural(incidents.len(), "open incident"));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::test_support::{capture, own};

    fn ctx() -> ParseContext {
        ParseContext {
            page_url: "https://status.heroku.com/api/v4/current-status".to_owned(),
            ..ParseContext::default()
        }
    }

    #[test]
    fn real_captures_give_their_sources_md_levels() {
        let green = parse(
            &capture("heroku_v4_current_status_green_SHAPE_cli_test.json"),
            &ctx(),
        )
        .unwrap();
        assert_eq!(green.level, Some(HealthLevel::Operational));
        assert_eq!(green.summary, "No known issues at this time");
        assert_eq!(green.components.len(), 3);

        let red = parse(
            &capture("heroku_v4_current_status_red_SHAPE_cli_test.json"),
            &ctx(),
        )
        .unwrap();
        assert_eq!(red.level, Some(HealthLevel::MajorOutage));
        assert_eq!(red.summary, "Apps major_outage; 1 open incident");
        let i = &red.incidents[0];
        assert_eq!(i.title, "incident title");
        assert_eq!(i.status, "update type");
        assert_eq!(
            i.impact,
            HealthLevel::MajorOutage,
            "graded by the page colour"
        );
        assert_eq!(i.url.as_deref(), Some("https://status.heroku.com"));
        assert_eq!(i.latest_update.as_deref(), Some("update contents"));
    }

    #[test]
    fn yellow_is_degraded_and_update_colours_grade_the_incident() {
        let parsed = parse(&own("heroku_yellow.json"), &ctx()).unwrap();
        assert_eq!(parsed.level, Some(HealthLevel::Degraded));
        assert_eq!(parsed.incidents.len(), 1, "the resolved one is dropped");
        let i = &parsed.incidents[0];
        assert_eq!(i.id, "2817");
        assert_eq!(i.status, "monitoring");
        assert_eq!(i.impact, HealthLevel::Degraded);
        assert_eq!(
            i.latest_update.as_deref(),
            Some("A fix has been deployed and we are monitoring builds.")
        );
    }

    #[test]
    fn state_wins_over_resolved() {
        let body = br#"{"status":[{"system":"Apps","status":"green"}],"incidents":[
            {"id":1,"title":"still open","state":"monitoring","resolved":true,"updates":[]},
            {"id":2,"title":"closed","state":"resolved","resolved":false,
             "updates":[{"status_prod":"red","contents":"x"}]}]}"#;
        let parsed = parse(body, &ctx()).unwrap();
        assert_eq!(parsed.incidents.len(), 1);
        assert_eq!(parsed.incidents[0].title, "still open");
        assert_eq!(
            parsed.incidents[0].url.as_deref(),
            Some("https://status.heroku.com/incidents/1")
        );
        assert_eq!(parsed.level, Some(HealthLevel::Operational));
    }

    #[test]
    fn watched_systems_only() {
        let ctx = ParseContext {
            components: vec!["data".to_owned()],
            ..ctx()
        };
        let parsed = parse(
            &capture("heroku_v4_current_status_red_SHAPE_cli_test.json"),
            &ctx,
        )
        .unwrap();
        assert_eq!(parsed.components.len(), 1);
        // The open incident (no colour of its own) is graded by the watched systems only.
        assert_eq!(parsed.level, Some(HealthLevel::Operational));
        assert_eq!(parsed.incidents.len(), 1);
    }

    #[test]
    fn wrong_shapes_are_malformed() {
        for body in [
            &br#"{"status": "green"}"#[..],
            br#"{"incidents": []}"#,
            br#"[{"system":"Apps","status":"green"}]"#,
            b"<html><body>Application error</body></html>",
            br#"{"status":[{"system":"Apps","sta"#,
        ] {
            let err = parse(body, &ctx()).unwrap_err();
            assert!(
                matches!(err, FeedError::Malformed { kind: "heroku", .. }),
                "{err:?}"
            );
        }
    }
}
