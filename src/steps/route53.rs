//! `route53_upsert` and `route53_wait`: point the configured records at one side (recording
//! what they held before, so the change can be reversed), then wait until Route 53 says INSYNC.

use serde_json::json;

use super::{StepEnv, StepError, StepInput, StepOutput};
use crate::config::DnsConfig;
use crate::ports::aws::{RecordChange, wait_insync};
use crate::runbook::{Route53Upsert, Route53Wait};

fn config(env: &StepEnv) -> Result<&DnsConfig, StepError> {
    env.config
        .aws
        .dns
        .as_ref()
        .ok_or_else(|| StepError::invalid("route53 steps need [aws.dns] in the config"))
}

fn changes(dns: &DnsConfig, args: &Route53Upsert) -> Vec<RecordChange> {
    dns.records
        .iter()
        .filter(|r| args.records.is_empty() || args.records.contains(&r.name))
        .map(|r| RecordChange::for_side(r, dns.ttl, args.to))
        .collect()
}

pub async fn upsert(
    env: &StepEnv,
    _: &StepInput<'_>,
    args: &Route53Upsert,
) -> Result<StepOutput, StepError> {
    let dns = config(env)?;
    let changes = crate::ports::aws::normalize_changes(&changes(dns, args))?;
    let change = env.aws.dns.point_records(&dns.zone_id, &changes).await?;
    let lines: Vec<String> = changes
        .iter()
        .map(|c| format!("{} {} → {}", c.name, c.rtype, c.values.join(", ")))
        .collect();
    Ok(StepOutput::new(
        format!("{} (change {})", lines.join("; "), change.change_id),
        json!({
            // Which side DNS now points at: where the app runs, for the LLM switch.
            "to": args.to,
            "zone_id": dns.zone_id,
            "change_id": change.change_id,
            "status": change.status,
            "records": changes.iter().map(|c| json!({"name": c.name, "type": c.rtype, "values": c.values, "ttl": c.ttl})).collect::<Vec<_>>(),
            "previous": change.previous,
        }),
    ))
}

pub async fn wait(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &Route53Wait,
) -> Result<StepOutput, StepError> {
    let change_id = input
        .earlier
        .get(&args.change_of)
        .and_then(|out| out["change_id"].as_str())
        .ok_or_else(|| {
            StepError::invalid(format!(
                "step `{}` has no recorded DNS change to wait for",
                args.change_of
            ))
        })?;
    wait_insync(
        env.aws.dns.as_ref(),
        change_id,
        args.poll.get(),
        input.step.timeout.get(),
    )
    .await?;
    Ok(StepOutput::new(
        format!("change {change_id} is INSYNC"),
        json!({ "change_id": change_id, "status": "INSYNC" }),
    ))
}

pub async fn plan(env: &StepEnv, args: &Route53Upsert) -> Result<Vec<String>, StepError> {
    let dns = config(env)?;
    let mut lines = Vec::new();
    for change in changes(dns, args) {
        let current = env
            .aws
            .dns
            .current_record(&dns.zone_id, &change.name, &change.rtype)
            .await?;
        let from = current
            .map(|r| r.values.join(", "))
            .unwrap_or_else(|| "(absent)".to_owned());
        let to = change.values.join(", ");
        let name = crate::ports::aws::normalize_name(&change.name);
        if from.trim_end_matches('.') == to.trim_end_matches('.') {
            lines.push(format!("{name} {} {to} (unchanged)", change.rtype));
        } else {
            lines.push(format!(
                "{name} {} {from} → {to} (TTL {})",
                change.rtype, dns.ttl
            ));
        }
    }
    Ok(lines)
}
