//! The AWS Health Dashboard's public events (`health.aws.amazon.com/public/currentevents`) → `Parsed`.
//!
//! The endpoint lists every region's events, and some stay open for months (two Middle East
//! regional events did in 2026), so only the configured regions and services count. The live
//! body is UTF-16 with a BOM; `decode_text` takes care of that.
//!
//! Status mapping (the dashboard's codes, on an event and on each impacted service):
//! - `"0"` → operational: resolved, or nothing wrong.
//! - `"1"` → degraded: AWS's informational / performance notices. Weaker than an outage, but
//!   the dashboard only posts one when customers can notice, so it is not operational.
//! - `"2"` → partial_outage: a service degradation, some requests or zones failing.
//! - `"3"` → major_outage: a service disruption, AWS's most severe code.
//! - anything else on an open event → degraded: open, severity unknown.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;

use crate::config::FeedKind;
use crate::domain::HealthLevel;

use super::text::{decode_text, json};
use super::{ComponentHealth, FeedError, ParseContext, Parsed, VendorIncident, plural};

const KIND: FeedKind = FeedKind::AwsHealth;

/// Where a person reads the same events.
const DASHBOARD: &str = "https://health.aws.amazon.com/health/status";

#[derive(Debug, Deserialize)]
struct Event {
    arn: Option<String>,
    date: Option<Code>,
    status: Code,
    service: Option<String>,
    service_name: Option<String>,
    summary: Option<String>,
    region_name: Option<String>,
    end_time: Option<Code>,
    #[serde(default)]
    event_log: Option<Vec<LogEntry>>,
    #[serde(default)]
    impacted_services: Option<BTreeMap<String, ImpactedService>>,
}

#[derive(Debug, Deserialize)]
struct LogEntry {
    summary: Option<String>,
    message: Option<String>,
    timestamp: Option<Code>,
}

#[derive(Debug, Deserialize)]
struct ImpactedService {
    service_name: Option<String>,
    current: Option<Code>,
}

/// The dashboard writes codes and epoch seconds as strings in some places and numbers in
/// others ("status": "3" beside "timestamp": 1772369485); both are accepted everywhere.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Code {
    Text(String),
    Number(i64),
}

impl Code {
    fn text(&self) -> String {
        match self {
            Code::Text(s) => s.trim().to_owned(),
            Code::Number(n) => n.to_string(),
        }
    }

    fn epoch(&self) -> Option<DateTime<Utc>> {
        let secs = match self {
            Code::Text(s) => s.trim().parse().ok()?,
            Code::Number(n) => *n,
        };
        DateTime::from_timestamp(secs, 0)
    }
}

pub fn parse(body: &[u8], ctx: &ParseContext) -> Result<Parsed, FeedError> {
    let text = decode_text(body, KIND)?;
    let events: Vec<Event> = json(&text, KIND, "an AWS Health event list")?;

    let mut incidents = Vec::new();
    let mut components = Vec::new();
    for event in events {
        let region = region_of(&event);
        if !matches_filter(&ctx.regions, region.as_deref()) {
            continue;
        }
        let impacted: Vec<(String, &ImpactedService)> = event
            .impacted_services
            .iter()
            .flatten()
            .map(|(key, svc)| (service_code(key, region.as_deref()), svc))
            .filter(|(code, _)| matches_filter(&ctx.services, Some(code)))
            .collect();
        let own_code = event
            .service
            .as_deref()
            .map(|s| service_code(s, region.as_deref()));
        if !ctx.services.is_empty()
            && impacted.is_empty()
            && !matches_filter(&ctx.services, own_code.as_deref())
        {
            continue;
        }
        let region_label = region.clone().unwrap_or_else(|| "global".to_owned());
        for (code, svc) in &impacted {
            let name = svc.service_name.clone().unwrap_or_else(|| code.clone());
            components.push(ComponentHealth {
                name: format!("{name} ({region_label})"),
                level: svc
                    .current
                    .as_ref()
                    .map_or(HealthLevel::Degraded, |c| status_level(&c.text())),
            });
        }
        let ended = event
            .end_time
            .as_ref()
            .is_some_and(|t| !t.text().is_empty());
        let resolved = ended || event.status.text() == "0";
        if resolved {
            continue;
        }
        // With a service filter, a multi-service event counts at the level of the services we
        // use, not at the level of the worst service in it.
        let impact = if ctx.services.is_empty() || impacted.is_empty() {
            status_level(&event.status.text())
        } else {
            impacted
                .iter()
                .filter_map(|(_, svc)| svc.current.as_ref())
                .map(|c| status_level(&c.text()))
                .max()
                .unwrap_or_else(|| status_level(&event.status.text()))
        };
        incidents.push(vendor_incident(event, &region_label, impact));
    }

    let level = incidents
        .iter()
        .map(|i| i.impact)
        .max()
        .unwrap_or(HealthLevel::Operational);
    let scope = scope(ctx);
    let summary = if incidents.is_empty() {
        format!("No open AWS events{scope}")
    } else {
        format!("{}{scope}", plural(incidents.len(), "open AWS event"))
    };
    Ok(Parsed {
        level: Some(level),
        summary,
        incidents,
        components,
    })
}

fn status_level(code: &str) -> HealthLevel {
    match code {
        "0" => HealthLevel::Operational,
        "1" => HealthLevel::Degraded,
        "2" => HealthLevel::PartialOutage,
        "3" => HealthLevel::MajorOutage,
        _ => HealthLevel::Degraded,
    }
}

fn status_word(code: &str) -> &'static str {
    match code {
        "1" => "informational",
        "2" => "degradation",
        "3" => "disruption",
        _ => "open",
    }
}

/// The region code: from the ARN (`arn:aws:health:us-west-2::event/...`), else the suffix of
/// the service key (`multipleservices-us-west-2`). `None` for global events.
fn region_of(event: &Event) -> Option<String> {
    let from_arn = event
        .arn
        .as_deref()
        .and_then(|arn| arn.split(':').nth(3))
        .map(str::trim)
        .filter(|r| !r.is_empty() && *r != "global");
    if let Some(region) = from_arn {
        return Some(region.to_ascii_lowercase());
    }
    // Region codes look like `xx-name-N` (or `xx-gov-name-N`): take the longest such suffix.
    let service = event.service.as_deref()?;
    let parts: Vec<&str> = service.split('-').collect();
    (1..parts.len()).find_map(|start| {
        let tail = &parts[start..];
        let looks_like_region = tail.len() >= 3
            && tail[0].len() == 2
            && tail
                .last()
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()));
        looks_like_region.then(|| tail.join("-").to_ascii_lowercase())
    })
}

/// `sts-us-west-2` → `sts`; a key without the region suffix is its own code.
fn service_code(key: &str, region: Option<&str>) -> String {
    let key = key.trim().to_ascii_lowercase();
    match region.and_then(|r| key.strip_suffix(&format!("-{r}"))) {
        Some(code) => code.to_owned(),
        None => key,
    }
}

/// Empty filter = everything; an event without a region only passes an empty region filter
/// or one that names `global`.
fn matches_filter(filter: &[String], value: Option<&str>) -> bool {
    if filter.is_empty() {
        return true;
    }
    let value = value.unwrap_or("global");
    filter.iter().any(|f| f.trim().eq_ignore_ascii_case(value))
}

fn vendor_incident(event: Event, region: &str, impact: HealthLevel) -> VendorIncident {
    let code = event.status.text();
    let log = event.event_log.unwrap_or_default();
    let latest = log
        .iter()
        .enumerate()
        .max_by_key(|(pos, e)| (e.timestamp.as_ref().and_then(Code::epoch), *pos))
        .map(|(_, e)| e);
    let title = event
        .summary
        .clone()
        .or_else(|| latest.and_then(|e| e.summary.clone()))
        .unwrap_or_else(|| "AWS event".to_owned());
    let service = event
        .service_name
        .as_deref()
        .or(event.service.as_deref())
        .unwrap_or("AWS");
    let region_name = event.region_name.as_deref().unwrap_or(region);
    VendorIncident {
        id: event
            .arn
            .clone()
            .or_else(|| event.service.clone())
            .unwrap_or_else(|| title.clone()),
        title: format!("{title}: {service}, {region_name} ({region})"),
        status: status_word(&code).to_owned(),
        impact,
        started_at: event.date.as_ref().and_then(Code::epoch),
        updated_at: latest
            .and_then(|e| e.timestamp.as_ref())
            .and_then(Code::epoch),
        url: Some(DASHBOARD.to_owned()),
        latest_update: latest
            .and_then(|e| e.message.clone())
            .filter(|m| !m.trim().is_empty()),
    }
}

fn scope(ctx: &ParseContext) -> String {
    let mut parts = Vec::new();
    if !ctx.regions.is_empty() {
        parts.push(ctx.regions.join(", "));
    }
    if !ctx.services.is_empty() {
        parts.push(ctx.services.join(", "));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" in {}", parts.join(" / "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::test_support::{capture, own};

    fn ctx(regions: &[&str], services: &[&str]) -> ParseContext {
        ParseContext {
            regions: regions.iter().map(|s| (*s).to_owned()).collect(),
            services: services.iter().map(|s| (*s).to_owned()).collect(),
            ..ParseContext::default()
        }
    }

    fn level(body: &[u8], ctx: &ParseContext) -> HealthLevel {
        parse(body, ctx).unwrap().level.unwrap()
    }

    #[test]
    fn the_capture_depends_on_the_filter() {
        let body = capture("aws_health_currentevents.json");
        assert_eq!(level(&body, &ctx(&[], &[])), HealthLevel::MajorOutage);
        assert_eq!(
            level(&body, &ctx(&["me-central-1"], &[])),
            HealthLevel::MajorOutage
        );
        assert_eq!(
            level(&body, &ctx(&["me-south-1"], &["bedrock"])),
            HealthLevel::MajorOutage
        );
        // The region's only event is resolved.
        assert_eq!(
            level(&body, &ctx(&["us-west-2"], &[])),
            HealthLevel::Operational
        );
        assert_eq!(
            level(&body, &ctx(&["us-east-1"], &["ecs", "route53"])),
            HealthLevel::Operational
        );
        assert_eq!(level(&body, &ctx(&[], &["ecs"])), HealthLevel::Operational);
    }

    #[test]
    fn open_events_become_incidents_with_their_latest_log_entry() {
        let parsed = parse(
            &capture("aws_health_currentevents.json"),
            &ctx(&["me-central-1"], &[]),
        )
        .unwrap();
        assert_eq!(parsed.summary, "1 open AWS event in me-central-1");
        let i = &parsed.incidents[0];
        assert!(i.id.starts_with("arn:aws:health:me-central-1::event/"));
        assert_eq!(
            i.title,
            "Increased Error Rates: Multiple services, UAE (me-central-1)"
        );
        assert_eq!(i.status, "disruption");
        assert_eq!(i.impact, HealthLevel::MajorOutage);
        assert_eq!(
            i.latest_update.as_deref(),
            Some("We are investigating issues with AWS services in the ME-CENTRAL-1 Region.")
        );
        assert_eq!(i.started_at.unwrap().timestamp(), 1_772_369_485);
        assert_eq!(parsed.components.len(), 3);
        assert!(
            parsed
                .components
                .iter()
                .any(|c| c.name == "Amazon Bedrock (me-central-1)"
                    && c.level == HealthLevel::MajorOutage)
        );
    }

    #[test]
    fn own_utf16_payload_decodes_and_filters() {
        let body = own("aws_health_utf16le_bom.json");
        assert_eq!(&body[..2], &[0xFF, 0xFE], "the file keeps its BOM");
        let parsed = parse(&body, &ctx(&["us-east-1"], &["ecs"])).unwrap();
        assert_eq!(parsed.level, Some(HealthLevel::PartialOutage), "{parsed:?}");
        assert_eq!(parsed.incidents[0].status, "disruption", "event code is 3");
        assert_eq!(
            level(&body, &ctx(&["us-east-1"], &["route53"])),
            HealthLevel::Degraded
        );
        assert_eq!(
            level(&body, &ctx(&["eu-west-1"], &[])),
            HealthLevel::Operational
        );
    }

    #[test]
    fn region_and_service_codes_are_recovered() {
        let event = |arn: Option<&str>, service: &str| Event {
            arn: arn.map(str::to_owned),
            date: None,
            status: Code::Number(1),
            service: Some(service.to_owned()),
            service_name: None,
            summary: None,
            region_name: None,
            end_time: None,
            event_log: None,
            impacted_services: None,
        };
        assert_eq!(
            region_of(&event(None, "ec2-us-gov-west-1")).as_deref(),
            Some("us-gov-west-1")
        );
        assert_eq!(
            region_of(&event(Some("arn:aws:health:ap-south-2::event/x"), "x")).as_deref(),
            Some("ap-south-2")
        );
        assert_eq!(region_of(&event(None, "route53")), None);
        assert_eq!(service_code("sts-us-west-2", Some("us-west-2")), "sts");
        assert_eq!(service_code("route53", None), "route53");
    }

    #[test]
    fn empty_list_is_operational_and_wrong_shapes_are_malformed() {
        assert_eq!(level(b"[]", &ctx(&[], &[])), HealthLevel::Operational);
        for body in [
            &br#"{"events": []}"#[..],
            br#"[{"arn": "x"}]"#,
            b"<html><body>Service Unavailable</body></html>",
            br#"[{"status": "3", "arn": "arn:aws:he"#,
        ] {
            let err = parse(body, &ctx(&[], &[])).unwrap_err();
            assert!(
                matches!(
                    err,
                    FeedError::Malformed {
                        kind: "aws-health",
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }
}
