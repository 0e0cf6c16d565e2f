//! Atlassian Statuspage v2 (`/api/v2/summary.json`) and incident.io's compatible variant → `Parsed`.
//!
//! One parser covers both because incident.io (OpenAI's page) serves the same shape with parts
//! left out: `incidents` may be absent or null, there is no `shortlink`, no component `group`,
//! and the ids are ULIDs. The narrower endpoints of the same API (`components.json`,
//! `incidents.json`, `incidents/unresolved.json`) are subsets of the summary and parse too.

use serde::Deserialize;

use crate::config::FeedKind;
use crate::domain::HealthLevel;

use super::text::{decode_text, json};
use super::{
    ComponentHealth, FeedError, ParseContext, Parsed, VendorIncident, is_watched, origin, timestamp,
};

const KIND: FeedKind = FeedKind::Statuspage;

#[derive(Debug, Deserialize)]
struct Summary {
    page: Option<Page>,
    components: Option<Vec<Component>>,
    incidents: Option<Vec<Incident>>,
    status: Option<PageStatus>,
}

#[derive(Debug, Deserialize)]
struct Page {
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PageStatus {
    indicator: String,
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Component {
    name: String,
    status: String,
    /// `true` on a group's own row, whose status only repeats its members'.
    group: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct Incident {
    id: String,
    name: String,
    status: String,
    impact: Option<String>,
    shortlink: Option<String>,
    started_at: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    incident_updates: Option<Vec<IncidentUpdate>>,
    /// The components the incident touches (Statuspage only; incident.io leaves it out).
    components: Option<Vec<IncidentComponent>>,
}

#[derive(Debug, Deserialize)]
struct IncidentUpdate {
    body: Option<String>,
    created_at: Option<String>,
    display_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct IncidentComponent {
    name: String,
}

pub fn parse(body: &[u8], ctx: &ParseContext) -> Result<Parsed, FeedError> {
    let text = decode_text(body, KIND)?;
    let summary: Summary = json(&text, KIND, "a Statuspage v2 summary")?;
    if summary.status.is_none() && summary.components.is_none() && summary.incidents.is_none() {
        return Err(FeedError::Malformed {
            kind: KIND.as_str(),
            detail:
                "JSON is not a Statuspage v2 summary: none of `status`, `components`, `incidents`"
                    .to_owned(),
        });
    }
    let filtered = !ctx.components.is_empty();
    let page = page_base(summary.page.as_ref(), &ctx.page_url);

    let components: Vec<ComponentHealth> = summary
        .components
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.group != Some(true) && is_watched(&ctx.components, &c.name))
        .map(|c| ComponentHealth {
            level: component_level(&c.status),
            name: c.name,
        })
        .collect();

    let incidents: Vec<VendorIncident> = summary
        .incidents
        .unwrap_or_default()
        .into_iter()
        .filter(|i| is_unresolved(&i.status))
        .filter(|i| !filtered || touches_watched(i, &ctx.components))
        .map(|i| incident(i, page.as_deref()))
        .collect();

    // The page indicator summarises every component, watched or not, so with a component
    // filter it would re-introduce exactly the noise the filter is there to remove.
    let indicator = match &summary.status {
        Some(status) if !filtered => Some(indicator_level(&status.indicator)),
        _ => None,
    };
    let level = indicator
        .into_iter()
        .chain(components.iter().map(|c| c.level))
        .chain(incidents.iter().map(|i| i.impact))
        .max()
        .unwrap_or(HealthLevel::Operational);

    let summary_line = match summary.status.and_then(|s| s.description) {
        Some(description) if !filtered && !description.trim().is_empty() => description,
        _ => compose_summary(level, &components, &incidents),
    };
    Ok(Parsed {
        level: Some(level),
        summary: summary_line,
        incidents,
        components,
    })
}

fn indicator_level(indicator: &str) -> HealthLevel {
    match indicator {
        "none" => HealthLevel::Operational,
        "minor" => HealthLevel::Degraded,
        "major" => HealthLevel::PartialOutage,
        "critical" => HealthLevel::MajorOutage,
        "maintenance" => HealthLevel::Maintenance,
        // A value we have never seen still says the page is not "none": do not round it down.
        _ => HealthLevel::Degraded,
    }
}

fn component_level(status: &str) -> HealthLevel {
    match status {
        "operational" => HealthLevel::Operational,
        "degraded_performance" => HealthLevel::Degraded,
        "partial_outage" => HealthLevel::PartialOutage,
        // `full_outage` is incident.io's name for it.
        "major_outage" | "full_outage" => HealthLevel::MajorOutage,
        "under_maintenance" => HealthLevel::Maintenance,
        _ => HealthLevel::Degraded,
    }
}

/// An incident's `impact` as a level.
fn impact_level(impact: &str) -> HealthLevel {
    match impact {
        "none" => HealthLevel::Operational,
        "minor" => HealthLevel::Degraded,
        "major" => HealthLevel::PartialOutage,
        "critical" => HealthLevel::MajorOutage,
        "maintenance" => HealthLevel::Maintenance,
        _ => HealthLevel::Degraded,
    }
}

fn is_unresolved(status: &str) -> bool {
    !matches!(status, "resolved" | "postmortem" | "completed")
}

/// Whether an incident concerns a watched component. Incidents that do not list their
/// components (incident.io's) are kept: we cannot tell, and a missed outage costs more.
fn touches_watched(incident: &Incident, watched: &[String]) -> bool {
    match &incident.components {
        Some(list) if !list.is_empty() => list.iter().any(|c| is_watched(watched, &c.name)),
        _ => true,
    }
}

fn incident(i: Incident, page: Option<&str>) -> VendorIncident {
    let url = i
        .shortlink
        .filter(|s| !s.trim().is_empty())
        .or_else(|| page.map(|page| format!("{page}/incidents/{}", i.id)));
    let latest = i
        .incident_updates
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        // Newest by time; on equal or missing times the earlier entry wins, since the API
        // lists updates newest first.
        .max_by_key(|(pos, u)| {
            let at = u.created_at.as_deref().or(u.display_at.as_deref());
            (at.and_then(timestamp), std::cmp::Reverse(*pos))
        })
        .and_then(|(_, u)| u.body)
        .filter(|b| !b.trim().is_empty());
    VendorIncident {
        impact: i
            .impact
            .as_deref()
            .map_or(HealthLevel::Degraded, impact_level),
        started_at: i
            .started_at
            .as_deref()
            .or(i.created_at.as_deref())
            .and_then(timestamp),
        updated_at: i.updated_at.as_deref().and_then(timestamp),
        id: i.id,
        title: i.name,
        status: i.status,
        url,
        latest_update: latest,
    }
}

/// `<page>` in `<page>/incidents/<id>`: the page's own URL, else the origin of the feed URL.
fn page_base(page: Option<&Page>, feed_url: &str) -> Option<String> {
    let from_payload = page
        .and_then(|p| p.url.as_deref())
        .map(|u| u.trim().trim_end_matches('/'))
        .filter(|u| !u.is_empty());
    match from_payload {
        Some(url) => Some(url.to_owned()),
        None => origin(feed_url),
    }
}

fn compose_summary(
    level: HealthLevel,
    components: &[ComponentHealth],
    incidents: &[VendorIncident],
) -> String {
    let affected = components
        .iter()
        .filter(|c| c.level != HealthLevel::Operational)
        .count();
    match (incidents.len(), affected) {
        (0, 0) => "All watched components operational".to_owned(),
        (n, m) => format!(
            "{level}: {n} open incident{}, {m} component{} not operational",
            if n == 1 { "" } else { "s" },
            if m == 1 { "" } else { "s" },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::test_support::{capture, own};

    fn ctx() -> ParseContext {
        ParseContext {
            page_url: "https://status.example.com/api/v2/summary.json".to_owned(),
            ..ParseContext::default()
        }
    }

    fn level(body: &[u8], ctx: &ParseContext) -> HealthLevel {
        parse(body, ctx).unwrap().level.unwrap()
    }

    #[test]
    fn real_captures_give_their_sources_md_levels() {
        use HealthLevel::*;
        for (file, want) in [
            ("anthropic_statuspage_summary_operational.json", Operational),
            (
                "anthropic_statuspage_summary_incident_2026-10-07.json",
                PartialOutage,
            ),
            (
                "openai_incidentio_summary_operational_2026-07.json",
                Operational,
            ),
            (
                "openai_incidentio_summary_degraded_2026-09-29.json",
                Degraded,
            ),
            (
                "github_statuspage_summary_operational_2019.json",
                Operational,
            ),
            (
                "github_statuspage_summary_major_outage_2020.json",
                MajorOutage,
            ),
            // Not in SOURCES.md's table: sub-endpoints with nothing open.
            (
                "github_statuspage_incidents_resolved_2024.json",
                Operational,
            ),
            ("github_statuspage_components_2024.json", Operational),
        ] {
            assert_eq!(level(&capture(file), &ctx()), want, "{file}");
        }
    }

    #[test]
    fn anthropic_incident_keeps_the_open_incident_with_its_latest_update_and_shortlink() {
        let parsed = parse(
            &capture("anthropic_statuspage_summary_incident_2026-10-07.json"),
            &ctx(),
        )
        .unwrap();
        assert_eq!(parsed.summary, "Partially Degraded Service");
        assert_eq!(parsed.incidents.len(), 1);
        let i = &parsed.incidents[0];
        assert_eq!(i.id, "978mjkgw6mh7");
        assert_eq!(i.status, "monitoring");
        assert_eq!(i.impact, HealthLevel::PartialOutage);
        assert_eq!(i.url.as_deref(), Some("https://stspg.io/sjkw7njwf0mt"));
        assert!(
            i.latest_update
                .as_deref()
                .unwrap()
                .starts_with("We've mitigated the errors"),
            "{i:?}"
        );
        assert_eq!(
            i.started_at.unwrap().to_rfc3339(),
            "2026-10-07T13:25:04.155+00:00"
        );
        let console = parsed
            .components
            .iter()
            .find(|c| c.name.starts_with("Claude Console"))
            .unwrap();
        assert_eq!(console.level, HealthLevel::Degraded);
        assert_eq!(parsed.components.len(), 6);
    }

    #[test]
    fn incident_io_incidents_link_to_the_page_without_a_double_slash() {
        let parsed = parse(
            &capture("openai_incidentio_summary_degraded_2026-09-29.json"),
            &ctx(),
        )
        .unwrap();
        assert_eq!(parsed.incidents.len(), 2);
        let i = &parsed.incidents[0];
        assert_eq!(
            i.url.as_deref(),
            Some("https://status.openai.com/incidents/01M3Q4RK1SM4EMK445GGPG7C0N")
        );
        assert_eq!(i.impact, HealthLevel::Degraded);
        assert!(
            i.latest_update
                .as_deref()
                .unwrap()
                .contains("including the Agents API")
        );
        // No started_at in incident.io's shape: created_at stands in.
        assert!(i.started_at.is_some());
        assert_eq!(parsed.incidents[1].impact, HealthLevel::Operational);
    }

    #[test]
    fn without_a_page_url_the_feed_origin_builds_the_link() {
        let body = br#"{"status":{"indicator":"minor","description":"x"},
            "incidents":[{"id":"abc","name":"n","status":"identified","impact":"minor"}]}"#;
        let parsed = parse(body, &ctx()).unwrap();
        assert_eq!(
            parsed.incidents[0].url.as_deref(),
            Some("https://status.example.com/incidents/abc")
        );
        let no_page = ParseContext::default();
        assert_eq!(parse(body, &no_page).unwrap().incidents[0].url, None);
    }

    #[test]
    fn resolved_incidents_and_group_rows_are_left_out() {
        let body = br#"{"status":{"indicator":"none","description":"All Systems Operational"},
            "components":[
              {"name":"EU","status":"major_outage","group":true},
              {"name":"API","status":"operational","group":false}],
            "incidents":[
              {"id":"1","name":"done","status":"resolved","impact":"critical"},
              {"id":"2","name":"written up","status":"postmortem","impact":"critical"}]}"#;
        let parsed = parse(body, &ctx()).unwrap();
        assert_eq!(parsed.level, Some(HealthLevel::Operational));
        assert!(parsed.incidents.is_empty());
        assert_eq!(parsed.components.len(), 1);
        assert_eq!(parsed.summary, "All Systems Operational");
    }

    #[test]
    fn null_incidents_and_missing_keys_are_accepted() {
        let body = br#"{"status":{"indicator":"none","description":"ok"},"incidents":null,"components":[]}"#;
        assert_eq!(level(body, &ctx()), HealthLevel::Operational);
    }

    #[test]
    fn own_payloads_maintenance_and_full_outage() {
        let maintenance = parse(&own("statuspage_under_maintenance.json"), &ctx()).unwrap();
        assert_eq!(maintenance.level, Some(HealthLevel::Maintenance));
        assert_eq!(maintenance.summary, "Service Under Maintenance");
        let full = parse(&own("incidentio_full_outage.json"), &ctx()).unwrap();
        assert_eq!(full.level, Some(HealthLevel::MajorOutage));
        let chat = full
            .components
            .iter()
            .find(|c| c.name == "Chat Completions")
            .unwrap();
        assert_eq!(chat.level, HealthLevel::MajorOutage);
    }

    #[test]
    fn a_component_filter_scopes_components_incidents_and_level() {
        let body = capture("anthropic_statuspage_summary_incident_2026-10-07.json");
        let api_only = ParseContext {
            components: vec!["claude api (api.anthropic.com)".to_owned()],
            ..ctx()
        };
        let parsed = parse(&body, &api_only).unwrap();
        assert_eq!(parsed.components.len(), 1);
        assert_eq!(parsed.level, Some(HealthLevel::Operational), "{parsed:?}");
        assert!(parsed.incidents.is_empty());
        assert_eq!(parsed.summary, "All watched components operational");

        let console = ParseContext {
            components: vec!["Claude Console (platform.claude.com)".to_owned()],
            ..ctx()
        };
        let parsed = parse(&body, &console).unwrap();
        assert_eq!(parsed.level, Some(HealthLevel::PartialOutage));
        assert_eq!(parsed.incidents.len(), 1);
        assert_eq!(
            parsed.summary,
            "partial_outage: 1 open incident, 1 component not operational"
        );
    }

    #[test]
    fn wrong_shapes_are_malformed() {
        for body in [
            &b"{\"hello\": \"world\"}"[..],
            b"[1, 2, 3]",
            b"{\"status\": {\"indicator\": 3}}",
            b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>",
            b"{\"status\": {\"indicator\": \"no",
        ] {
            let err = parse(body, &ctx()).unwrap_err();
            assert!(
                matches!(
                    err,
                    FeedError::Malformed {
                        kind: "statuspage",
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }
}
