//! The decisions: `assess` turns the observations into one check per line (ECS, DNS, LLM,
//! backups, drills), and the DNS TTL rule.

use super::observations::*;
use super::{Check, Readiness, TTL_SHARE_OF_RTO};
use crate::config::{AwsMode, Config, DnsRecordConfig};
use crate::drill::history::{DrillRecord, drilled_protocols};
use crate::duration::{HumanDuration, format_elapsed};
use crate::ports::aws::RecordState;
use crate::runbook::Runbook;
use crate::steps::backup::{Freshness, freshness};
use chrono::{DateTime, SecondsFormat, Utc};
use std::time::Duration;

/// The longest acceptable DNS TTL, and the rule in words.
pub fn ttl_limit(hosting_rto: Duration, max_ttl: Duration) -> (Duration, String) {
    let share = hosting_rto / TTL_SHARE_OF_RTO;
    let limit = share.min(max_ttl);
    let rule = format!(
        "the lower of [aws.dns] max_ttl {} and 1/{TTL_SHARE_OF_RTO} of the hosting RTO {} ({})",
        HumanDuration(max_ttl),
        HumanDuration(hosting_rto),
        HumanDuration(share)
    );
    (limit, rule)
}

/// An age as people read it: days beyond two days, else `format_elapsed`.
fn age_text(age: Duration) -> String {
    let secs = age.as_secs();
    if secs >= 2 * 86_400 {
        format!("{}d {:02}h", secs / 86_400, (secs % 86_400) / 3600)
    } else {
        format_elapsed(age)
    }
}

fn secs(ttl: u32) -> Duration {
    Duration::from_secs(u64::from(ttl))
}

/// Builds the report from what was observed. Pure.
pub fn assess(config: &Config, runbooks: &[Runbook], obs: &Observations) -> Readiness {
    let mut checks = Vec::new();
    checks.push(match obs.aws_mode {
        AwsMode::Live => Check::ok(
            "aws",
            format!(
                "live, region {}{}",
                config.aws.region,
                config
                    .aws
                    .endpoint_url
                    .as_deref()
                    .map(|u| format!(", endpoint {u}"))
                    .unwrap_or_default()
            ),
        ),
        AwsMode::Simulated => Check::fail(
            "aws",
            "[aws] mode is simulated: the ECS and DNS checks below read the in-memory simulation, not AWS",
        ),
    });
    assess_ecs(obs.ecs.as_ref(), &mut checks);
    assess_dns(config, obs.dns.as_ref(), &mut checks);
    checks.push(assess_llm(&obs.anthropic));
    assess_backups(&obs.backups, obs.now, &mut checks);
    assess_drills(config, runbooks, &obs.drills, obs.now, &mut checks);
    Readiness {
        at: obs.now,
        checks,
    }
}

fn assess_ecs(ecs: Option<&EcsObserved>, checks: &mut Vec<Check>) {
    let Some(ecs) = ecs else {
        checks.push(Check::fail(
            "ecs",
            "no [aws.ecs] in the config: there is no standby environment to check",
        ));
        return;
    };
    let name = format!("ecs cluster {}", ecs.cluster);
    checks.push(match &ecs.cluster_state {
        Ok(c) if c.status == "ACTIVE" => Check::ok(name, "exists, ACTIVE"),
        Ok(c) => Check::fail(name, format!("exists but is {}, not ACTIVE", c.status)),
        Err(err) => Check::fail(name, err.to_string()),
    });
    for service in &ecs.services {
        let name = format!("ecs service {}", service.name);
        let state = match &service.state {
            Ok(state) => state,
            Err(err) => {
                checks.push(Check::fail(name, err.to_string()));
                continue;
            }
        };
        checks.push(if state.status == "ACTIVE" {
            Check::ok(
                name,
                format!(
                    "exists, ACTIVE, desired {} running {}",
                    state.desired, state.running
                ),
            )
        } else {
            Check::fail(
                name,
                match state.status.as_str() {
                    "INACTIVE" => {
                        "deleted (INACTIVE): it cannot be scaled up; create it again".to_owned()
                    }
                    "DRAINING" => "being deleted (DRAINING): it cannot be scaled up".to_owned(),
                    other => format!("{other}, not ACTIVE: it cannot be scaled up"),
                },
            )
        });
        let td_name = format!("ecs task definition of {}", service.name);
        checks.push(match (&state.task_definition, &service.task_definition) {
            (None, _) | (Some(_), None) => {
                Check::fail(td_name, "ECS names no task definition for the service")
            }
            (Some(_), Some(Ok(td))) if td.status == "ACTIVE" => {
                Check::ok(td_name, format!("{} exists, ACTIVE", td.name))
            }
            (Some(_), Some(Ok(td))) => Check::fail(
                td_name,
                format!(
                    "{} is {}: deregistered, it cannot be deployed again; register it anew",
                    td.name, td.status
                ),
            ),
            (Some(_), Some(Err(err))) => Check::fail(td_name, err.to_string()),
        });
    }
}

fn assess_dns(config: &Config, dns: Option<&DnsObserved>, checks: &mut Vec<Check>) {
    let Some(dns) = dns else {
        checks.push(Check::fail(
            "dns",
            "no [aws.dns] in the config: there are no records to move",
        ));
        return;
    };
    let (limit, rule) = ttl_limit(config.objectives.hosting_rto.get(), dns.max_ttl);
    let configured = secs(dns.configured_ttl);
    checks.push(if configured <= limit {
        Check::ok(
            "dns ttl written on failover",
            format!(
                "[aws.dns] ttl {} ≤ {} ({rule})",
                HumanDuration(configured),
                HumanDuration(limit)
            ),
        )
    } else {
        Check::fail(
            "dns ttl written on failover",
            format!(
                "[aws.dns] ttl {} > {} ({rule})",
                HumanDuration(configured),
                HumanDuration(limit)
            ),
        )
    });
    for record in &dns.records {
        let rtype = record.config.record_type.to_ascii_uppercase();
        let name = format!(
            "dns record {} {rtype}",
            crate::ports::aws::normalize_name(&record.config.name)
        );
        let state = match &record.state {
            Err(err) => {
                checks.push(Check::fail(name, err.to_string()));
                continue;
            }
            Ok(None) => {
                checks.push(Check::fail(
                    name,
                    format!("missing from hosted zone {}", dns.zone_id),
                ));
                continue;
            }
            Ok(Some(state)) => state,
        };
        let side = pointing_at(&record.config, state);
        checks.push(match state.ttl {
            None => Check::ok(
                name,
                format!("exists, {side}; an alias record: its TTL is its target's"),
            ),
            Some(ttl) if secs(ttl) <= limit => Check::ok(
                name,
                format!(
                    "exists, {side}, TTL {} ≤ {} ({rule})",
                    HumanDuration(secs(ttl)),
                    HumanDuration(limit)
                ),
            ),
            Some(ttl) => Check::fail(
                name,
                format!(
                    "TTL {} > {} ({rule}): resolvers would keep the old answer that long after a failover",
                    HumanDuration(secs(ttl)),
                    HumanDuration(limit)
                ),
            ),
        });
    }
}

/// Which side a live record points at, in words.
fn pointing_at(config: &DnsRecordConfig, state: &RecordState) -> String {
    let norm = |v: &str| crate::ports::aws::normalize_name(v);
    let values: Vec<String> = state.values.iter().map(|v| norm(v)).collect();
    if let Some(alias) = &state.alias_target {
        return format!("alias to {alias}");
    }
    if values.contains(&norm(&config.primary)) {
        "points at the primary".to_owned()
    } else if values.contains(&norm(&config.standby)) {
        "points at the standby".to_owned()
    } else {
        format!("points at {}", state.values.join(", "))
    }
}

fn assess_llm(observed: &LlmObserved) -> Check {
    const NAME: &str = "anthropic key";
    match observed {
        LlmObserved::NotConfigured => Check::fail(
            NAME,
            "no [llm.anthropic] in the config: there is no LLM fallback to switch to",
        ),
        LlmObserved::KeyUnset { env } => {
            Check::fail(NAME, format!("the environment variable {env} is not set"))
        }
        LlmObserved::Answered { model, latency } => Check::ok(
            NAME,
            format!(
                "a test prompt was answered in {}{}",
                format_elapsed(*latency),
                model
                    .as_deref()
                    .map(|m| format!(" by {m}"))
                    .unwrap_or_default()
            ),
        ),
        LlmObserved::Failed(err) => {
            let why = match err.status() {
                Some(401 | 403) => "the key was refused",
                _ => "the probe failed",
            };
            Check::fail(NAME, format!("{why}: {err}"))
        }
    }
}

fn assess_backups(backups: &[BackupObserved], now: DateTime<Utc>, checks: &mut Vec<Check>) {
    if backups.is_empty() {
        checks.push(Check::fail(
            "backup",
            "no runbook has a backup_check step, so the latest backup's age is unknown",
        ));
        return;
    }
    for backup in backups {
        let name = format!("backup ({})", backup.checked_by);
        let max = HumanDuration(backup.max_age);
        checks.push(match &backup.completed_at {
            Err(why) => Check::fail(name, why.clone()),
            Ok(at) => {
                let stamp = at.to_rfc3339_opts(SecondsFormat::Secs, true);
                match freshness(*at, now, backup.max_age) {
                    Freshness::Fresh { age } => Check::ok(
                        name,
                        format!(
                            "latest completed {stamp}, {} ago (within {max})",
                            format_elapsed(age)
                        ),
                    ),
                    Freshness::TooOld { age } => Check::fail(
                        name,
                        format!(
                            "latest completed {stamp}, {} ago: older than {max}",
                            format_elapsed(age)
                        ),
                    ),
                    Freshness::InFuture { by } => Check::fail(
                        name,
                        format!(
                            "latest claims to complete {stamp}, {} from now: check its clock",
                            format_elapsed(by)
                        ),
                    ),
                }
            }
        });
    }
}

fn assess_drills(
    config: &Config,
    runbooks: &[Runbook],
    drills: &[DrillRecord],
    now: DateTime<Utc>,
    checks: &mut Vec<Check>,
) {
    let every = config.schedule.drill_every;
    for protocol in drilled_protocols(config, runbooks) {
        let name = format!("drill of {protocol}");
        let of_protocol = |counting: bool| {
            drills
                .iter()
                .rev()
                .filter(move |d| d.counts() == counting)
                .find_map(|d| {
                    d.results
                        .iter()
                        .find(|r| r.runbook == protocol)
                        .map(|r| (d, r))
                })
        };
        // Only a game day or a drill against real AWS is the plan's test; a later automatic
        // drill is shown, and said not to count.
        let last = of_protocol(true);
        let automatic = of_protocol(false)
            .filter(|(a, _)| last.is_none_or(|(d, _)| a.at > d.at))
            .map(|(a, _)| {
                format!(
                    "; the automatic drill of {} does not count (it measures Lifeboat's pipeline on the simulation, not the people)",
                    a.at.to_rfc3339_opts(SecondsFormat::Secs, true)
                )
            })
            .unwrap_or_default();
        let Some((drill, result)) = last else {
            checks.push(Check::fail(
                name,
                format!(
                    "never drilled (the plan asks for one every {every}, by a game day or against real AWS: `/drill start … mode:gameday`){automatic}"
                ),
            ));
            continue;
        };
        let how = if drill.mode == crate::events::DrillMode::Gameday {
            "game day"
        } else {
            "against real AWS"
        };
        let stamp = drill.at.to_rfc3339_opts(SecondsFormat::Secs, true);
        let age = (now - drill.at).to_std().unwrap_or_default();
        checks.push(if age > every.get() {
            Check::fail(
                name,
                format!(
                    "last drilled {stamp} ({how}), {} ago: older than [schedule] drill_every {every}{automatic}",
                    age_text(age)
                ),
            )
        } else if !result.met() {
            let mut missed = Vec::new();
            if result.status != "succeeded" {
                missed.push(format!("the run {}", result.status));
            }
            if !result.rto_met {
                missed.push("the RTO was missed".to_owned());
            }
            if !result.rpo_met {
                missed.push("the RPO was missed".to_owned());
            }
            Check::fail(
                name,
                format!("last drilled {stamp} ({how}), but {}{automatic}", missed.join(", ")),
            )
        } else {
            Check::ok(
                name,
                format!(
                    "last drilled {stamp} ({how}), {} ago (within {every}), objectives met{automatic}",
                    age_text(age)
                ),
            )
        });
    }
}
