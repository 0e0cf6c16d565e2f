//! The Salesforce Trust API's active incidents (`api.status.salesforce.com/v1/incidents/active`) → `Parsed`.
//!
//! Heroku's own CLI falls back to this API when status.heroku.com fails, and so do we. The
//! endpoint lists every Salesforce product's incidents; an impact whose `endTime` is null is
//! still going on.
//!
//! Severity mapping (the API's `severity` on each active impact):
//! - `major` → `major_outage`, `minor` → `degraded`: the Heroku CLI turns these into red and
//!   yellow, and the `heroku` kind maps red/yellow the same way, so both Heroku sources grade
//!   one event alike and can confirm each other.
//! - `maintenance` → `maintenance`.
//! - anything else, or none, on an active impact → `degraded`: something is open, and we do
//!   not know how bad; rounding it down to operational would hide it.

use serde::Deserialize;

use crate::config::FeedKind;
use crate::domain::HealthLevel;

use super::text::{decode_text, json};
use super::{
    ComponentHealth, FeedError, ParseContext, Parsed, VendorIncident, is_watched, plural, timestamp,
};

const KIND: FeedKind = FeedKind::Sftrust;

/// The public page for an incident; the API host itself has no HTML.
const TRUST_PAGE: &str = "https://status.salesforce.com";

/// Heroku's systems, as the CLI derives them from `serviceKeys`.
const SYSTEMS: [(&str, &[&str]); 3] = [
    ("Apps", &["Apps", "HerokuApps"]),
    ("Data", &["Data", "HerokuData"]),
    (
        "Tools",
        &["Tools", "TOOLS", "CLI", "Dashboard", "Platform API"],
    ),
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrustIncident {
    id: serde_json::Value,
    created_at: Option<String>,
    updated_at: Option<String>,
    #[serde(rename = "IncidentImpacts")]
    impacts: Vec<Impact>,
    #[serde(rename = "IncidentEvents", default)]
    events: Option<Vec<Event>>,
    #[serde(default)]
    instance_keys: Option<Vec<String>>,
    #[serde(default)]
    service_keys: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Impact {
    end_time: Option<String>,
    start_time: Option<String>,
    severity: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    message: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

pub fn parse(body: &[u8], ctx: &ParseContext) -> Result<Parsed, FeedError> {
    let text = decode_text(body, KIND)?;
    let all: Vec<TrustIncident> = json(&text, KIND, "a Trust API incident list")?;

    let mut system_levels = [HealthLevel::Operational; SYSTEMS.len()];
    let mut incidents = Vec::new();
    for incident in all {
        if !concerns_heroku(&incident) {
            continue;
        }
        let active: Vec<&Impact> = incident
            .impacts
            .iter()
            .filter(|i| i.end_time.is_none())
            .collect();
        let Some(impact) = active
            .iter()
            .map(|i| severity_level(i.severity.as_deref()))
            .max()
        else {
            continue;
        };
        let systems = systems_of(&incident);
        if !ctx.components.is_empty()
            && !systems.is_empty()
            && !systems
                .iter()
                .any(|&s| is_watched(&ctx.components, SYSTEMS[s].0))
        {
            continue;
        }
        for &s in &systems {
            system_levels[s] = system_levels[s].max(impact);
        }
        let started_at = active
            .iter()
            .filter_map(|i| i.start_time.as_deref().and_then(timestamp))
            .min();
        incidents.push(vendor_incident(incident, &systems, impact, started_at));
    }

    let components: Vec<ComponentHealth> = SYSTEMS
        .iter()
        .zip(system_levels)
        .filter(|((name, _), _)| is_watched(&ctx.components, name))
        .map(|((name, _), level)| ComponentHealth {
            name: (*name).to_owned(),
            level,
        })
        .collect();
    let level = incidents
        .iter()
        .map(|i| i.impact)
        .chain(components.iter().map(|c| c.level))
        .max()
        .unwrap_or(HealthLevel::Operational);
    let summary = if incidents.is_empty() {
        "No active Heroku incidents on the Salesforce Trust API".to_owned()
    } else {
        format!(
            "{} on the Salesforce Trust API",
            plural(incidents.len(), "active Heroku incident")
        )
    };
    Ok(Parsed {
        level: Some(level),
        summary,
        incidents,
        components,
    })
}

fn severity_level(severity: Option<&str>) -> HealthLevel {
    match severity {
        Some("major") => HealthLevel::MajorOutage,
        Some("minor") => HealthLevel::Degraded,
        Some("maintenance") => HealthLevel::Maintenance,
        _ => HealthLevel::Degraded,
    }
}

/// Heroku's incidents name a Heroku instance (`Heroku Europe`) and use `heroku…` impact and
/// event types. An incident that carries none of those fields at all is kept: we cannot tell.
fn concerns_heroku(incident: &TrustIncident) -> bool {
    let instances = incident.instance_keys.as_deref().unwrap_or_default();
    let types: Vec<&str> = incident
        .impacts
        .iter()
        .filter_map(|i| i.kind.as_deref())
        .chain(
            incident
                .events
                .iter()
                .flatten()
                .filter_map(|e| e.kind.as_deref()),
        )
        .collect();
    if instances.is_empty() && types.is_empty() {
        return true;
    }
    let heroku = |s: &&str| s.to_ascii_lowercase().contains("heroku");
    instances.iter().map(String::as_str).any(|s| heroku(&s)) || types.iter().any(heroku)
}

fn systems_of(incident: &TrustIncident) -> Vec<usize> {
    let keys = incident.service_keys.as_deref().unwrap_or_default();
    SYSTEMS
        .iter()
        .enumerate()
        .filter(|(_, (_, aliases))| keys.iter().any(|k| aliases.contains(&k.as_str())))
        .map(|(i, _)| i)
        .collect()
}

fn vendor_incident(
    incident: TrustIncident,
    systems: &[usize],
    impact: HealthLevel,
    started_at: Option<chrono::DateTime<chrono::Utc>>,
) -> VendorIncident {
    let id = match &incident.id {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut events = incident.events.unwrap_or_default();
    // Newest first; events created in the same minute are told apart by `updatedAt`.
    events.sort_by_key(|e| {
        std::cmp::Reverse((
            e.created_at.as_deref().and_then(timestamp),
            e.updated_at.as_deref().and_then(timestamp),
        ))
    });
    // Event types read `herokuIncidentMonitoring`, `herokuIncidentInvestigating`, ...; a bare
    // `herokuIncident` is a plain update and says nothing about the state.
    let status = events
        .iter()
        .filter_map(|e| e.kind.as_deref()?.strip_prefix("herokuIncident"))
        .find(|rest| !rest.is_empty())
        .map_or_else(|| "active".to_owned(), str::to_ascii_lowercase);
    let names: Vec<&str> = systems.iter().map(|&s| SYSTEMS[s].0).collect();
    let instances = incident.instance_keys.unwrap_or_default();
    let title = match (names.is_empty(), instances.is_empty()) {
        (false, false) => format!("{} incident ({})", names.join(", "), instances.join(", ")),
        (false, true) => format!("{} incident", names.join(", ")),
        (true, false) => format!("Incident ({})", instances.join(", ")),
        (true, true) => format!("Incident {id}"),
    };
    VendorIncident {
        url: Some(format!("{TRUST_PAGE}/incidents/{id}")),
        title,
        status,
        impact,
        started_at: started_at.or_else(|| incident.created_at.as_deref().and_then(timestamp)),
        updated_at: incident.updated_at.as_deref().and_then(timestamp),
        latest_update: events
            .into_iter()
            .find_map(|e| e.message.filter(|m| !m.trim().is_empty())),
        id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::test_support::{capture, own};

    #[test]
    fn the_cli_fixture_is_a_minor_apps_incident() {
        let parsed = parse(
            &capture("heroku_sftrust_incidents_active_SHAPE_cli_test.json"),
            &ParseContext::default(),
        )
        .unwrap();
        assert_eq!(parsed.level, Some(HealthLevel::Degraded));
        let i = &parsed.incidents[0];
        assert_eq!(i.id, "12345");
        assert_eq!(i.title, "Apps incident (Heroku Europe)");
        assert_eq!(i.status, "monitoring");
        assert_eq!(i.latest_update.as_deref(), Some("Incident update 1"));
        assert_eq!(
            i.url.as_deref(),
            Some("https://status.salesforce.com/incidents/12345")
        );
        assert_eq!(
            i.started_at.unwrap().to_rfc3339(),
            "2025-08-21T08:52:00+00:00"
        );
        let levels: Vec<_> = parsed
            .components
            .iter()
            .map(|c| (c.name.as_str(), c.level))
            .collect();
        assert_eq!(
            levels,
            [
                ("Apps", HealthLevel::Degraded),
                ("Data", HealthLevel::Operational),
                ("Tools", HealthLevel::Operational)
            ]
        );
    }

    #[test]
    fn own_payload_major_heroku_incident_and_other_products_ignored() {
        let parsed = parse(&own("sftrust_active.json"), &ParseContext::default()).unwrap();
        assert_eq!(parsed.level, Some(HealthLevel::MajorOutage));
        assert_eq!(parsed.incidents.len(), 1, "{:?}", parsed.incidents);
        assert_eq!(parsed.incidents[0].id, "777001");
        assert_eq!(parsed.incidents[0].impact, HealthLevel::MajorOutage);
        assert_eq!(
            parsed.summary,
            "1 active Heroku incident on the Salesforce Trust API"
        );
    }

    #[test]
    fn ended_impacts_and_unwatched_systems_do_not_count() {
        let body = br#"[
          {"id": 1, "instanceKeys": ["Heroku US"], "serviceKeys": ["Data"],
           "IncidentImpacts": [{"endTime": "2025-01-01T00:00:00Z", "severity": "major"}]},
          {"id": 2, "instanceKeys": ["Heroku US"], "serviceKeys": ["Data"],
           "IncidentImpacts": [{"endTime": null, "severity": "major"}]}
        ]"#;
        let all = parse(body, &ParseContext::default()).unwrap();
        assert_eq!(all.incidents.len(), 1);
        assert_eq!(all.level, Some(HealthLevel::MajorOutage));
        let apps_only = ParseContext {
            components: vec!["apps".to_owned()],
            ..ParseContext::default()
        };
        let parsed = parse(body, &apps_only).unwrap();
        assert_eq!(parsed.level, Some(HealthLevel::Operational));
        assert!(parsed.incidents.is_empty());
        assert_eq!(parsed.components.len(), 1);
    }

    #[test]
    fn empty_list_is_operational_and_wrong_shapes_are_malformed() {
        let parsed = parse(b"[]", &ParseContext::default()).unwrap();
        assert_eq!(parsed.level, Some(HealthLevel::Operational));
        for body in [
            &br#"{"incidents": []}"#[..],
            br#"[{"id": 1}]"#,
            b"<html>maintenance</html>",
            b"[{\"id\": 1, \"IncidentImpacts\": [",
        ] {
            let err = parse(body, &ParseContext::default()).unwrap_err();
            assert!(
                matches!(
                    err,
                    FeedError::Malformed {
                        kind: "sftrust",
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }
}
