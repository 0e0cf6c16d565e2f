//! Where the app runs now, read from the log: the side the last successful `route53_upsert`
//! pointed DNS at (the standby after a failover, the primary after a failback), and the
//! LLM switches already made on AWS (so a retry reuses the revision it registered, and a switch
//! back returns to the revision it came from).
//! Pure folds over events.

use crate::config::DnsConfig;
use crate::domain::event::Event;
use crate::events::{
    LlmRevisionDeployed, LlmSwitchOutput, Route53UpsertOutput, ServiceMoved, StepSucceeded,
    read_output,
};
use crate::ports::aws::{normalize_name, task_definition_name};
use crate::runbook::{Side, StepKind};

/// The app runs where DNS points: Heroku (the primary) or the AWS standby.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostingNow {
    pub side: Side,
    /// The event that decided it (`None`: nothing in the log moved DNS; the primary serves).
    pub since_seq: Option<u64>,
}

/// The side one `route53_upsert` output pointed at: its `to` (written since parity), or, in
/// older logs, whether its record values are the configured standby's.
fn side_of(output: &Route53UpsertOutput, dns: Option<&DnsConfig>) -> Option<Side> {
    match output.to.as_deref() {
        Some("standby") => return Some(Side::Standby),
        Some("primary") => return Some(Side::Primary),
        _ => {}
    }
    let dns = dns?;
    let values: Vec<String> = output
        .records
        .as_ref()?
        .iter()
        .flat_map(|r| r.values.iter().map(|v| normalize_name(v)))
        .collect();
    let any = |pick: fn(&crate::config::DnsRecordConfig) -> &str| {
        dns.records
            .iter()
            .any(|r| values.contains(&normalize_name(pick(r))))
    };
    if any(|r| &r.standby) {
        Some(Side::Standby)
    } else if any(|r| &r.primary) {
        Some(Side::Primary)
    } else {
        None
    }
}

/// Where the app runs after `events` (oldest first).
pub fn hosting_now(events: &[Event], dns: Option<&DnsConfig>) -> HostingNow {
    events
        .iter()
        .rev()
        .find_map(|e| {
            let step = e
                .data_as::<StepSucceeded>()
                .filter(|s| s.kind == Some(StepKind::Route53Upsert))?;
            side_of(&read_output(&step.output), dns).map(|side| HostingNow {
                side,
                since_seq: Some(e.seq),
            })
        })
        .unwrap_or(HostingNow {
            side: Side::Primary,
            since_seq: None,
        })
}

/// One service an earlier LLM switch moved on AWS: from one revision to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub service: String,
    pub from: String,
    pub to: String,
}

/// Every service move of the LLM switches on AWS, newest first: each deploy recorded before it
/// was made (`llm.revision_deployed`; a deploy that then failed is listed too, which is
/// harmless: the service still runs the revision it came from), and the moves in the outputs of
/// `llm_switch` steps that succeeded (logs written before that event existed).
pub fn aws_switches(events: &[Event]) -> Vec<Moved> {
    events
        .iter()
        .rev()
        .flat_map(|e| {
            if let Some(moved) = e.data_as::<LlmRevisionDeployed>() {
                vec![ServiceMoved {
                    service: Some(moved.service),
                    from: Some(moved.from),
                    to: Some(moved.to),
                }]
            } else {
                e.data_as::<StepSucceeded>()
                    .filter(|s| s.kind == Some(StepKind::LlmSwitch))
                    .map(|s| read_output::<LlmSwitchOutput>(&s.output))
                    .filter(|out| out.platform.as_deref() == Some("aws"))
                    .map(|out| out.services)
                    .unwrap_or_default()
            }
        })
        .filter_map(|s| {
            Some(Moved {
                service: s.service?,
                from: task_definition_name(&s.from?).to_owned(),
                to: task_definition_name(&s.to?).to_owned(),
            })
        })
        .filter(|m| m.from != m.to)
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::Actor;
    use crate::domain::event::NewEvent;

    fn log(items: &[(&str, Value)]) -> Vec<Event> {
        let mut prev = crate::domain::event::GENESIS.to_owned();
        items
            .iter()
            .enumerate()
            .map(|(i, (kind, data))| {
                let e = Event::seal(
                    NewEvent::new(Actor::Bot, *kind, data.clone()),
                    i as u64 + 1,
                    Utc::now(),
                    &prev,
                );
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn dns() -> DnsConfig {
        DnsConfig {
            zone_id: "Z1".into(),
            ttl: 60,
            max_ttl: crate::duration::HumanDuration::from_secs(300),
            records: vec![crate::config::DnsRecordConfig {
                name: "app.example.com".into(),
                record_type: "CNAME".into(),
                primary: "app.herokudns.com".into(),
                standby: "alb.aws.com".into(),
            }],
        }
    }

    fn upsert(output: Value) -> (&'static str, Value) {
        (
            "step.succeeded",
            json!({ "step": "point-dns", "kind": "route53_upsert", "output": output }),
        )
    }

    #[test]
    fn the_last_dns_move_decides() {
        let dns = dns();
        assert_eq!(hosting_now(&[], Some(&dns)).side, Side::Primary);
        let failed_over = log(&[upsert(json!({ "to": "standby" }))]);
        assert_eq!(
            hosting_now(&failed_over, Some(&dns)),
            HostingNow {
                side: Side::Standby,
                since_seq: Some(1)
            }
        );
        let back = log(&[
            upsert(json!({ "to": "standby" })),
            ("step.failed", json!({ "kind": "route53_upsert" })),
            upsert(json!({ "to": "primary" })),
        ]);
        assert_eq!(hosting_now(&back, Some(&dns)).side, Side::Primary);
        // Older logs have no `to`: the record values say which side.
        let old = log(&[upsert(
            json!({ "records": [{ "name": "app.example.com.", "values": ["alb.aws.com."] }] }),
        )]);
        assert_eq!(hosting_now(&old, Some(&dns)).side, Side::Standby);
        assert_eq!(hosting_now(&old, None).side, Side::Primary);
    }

    #[test]
    fn earlier_switches_on_aws_are_listed_newest_first() {
        let events = log(&[
            (
                "step.succeeded",
                json!({ "kind": "llm_switch", "output": { "platform": "aws", "services": [
                    { "service": "web", "from": "arn:aws:ecs:r:1:task-definition/app:3", "to": "app:4" }
                ]}}),
            ),
            (
                "step.succeeded",
                json!({ "kind": "llm_switch", "output": { "platform": "heroku" }}),
            ),
            (
                "llm.revision_deployed",
                json!({ "service": "worker", "cluster": "c", "from": "app:3", "to": "app:4", "how": "reused" }),
            ),
        ]);
        let moved = |service: &str| Moved {
            service: service.into(),
            from: "app:3".into(),
            to: "app:4".into(),
        };
        assert_eq!(aws_switches(&events), [moved("worker"), moved("web")]);
    }
}
