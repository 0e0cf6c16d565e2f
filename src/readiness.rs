//! `lifeboat readiness` and `/dr readiness`: is the standby really ready to take over?
//!
//! The decisions are pure: `assess` turns what was observed (ECS cluster, services and task
//! definitions; the live Route 53 records; an Anthropic probe; the latest backup; the drills in
//! the log) into a `Readiness` report, one check per line. `gather` does the looking, through
//! the same edges and step code the runbooks use, so "ready" means what a failover will meet.
//!
//! The DNS rule: resolvers keep the old answer for up to the record's TTL after DNS moves, so
//! that much of the recovery budget is lost on top of the runbook. A live record's TTL (and the
//! TTL a failover writes) must be at most `[aws.dns] max_ttl` (default 5m) and at most 1/48 of
//! the hosting RTO (5m for 4h), whichever is lower.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::config::{AwsMode, Config, DnsRecordConfig};
use crate::domain::RunId;
use crate::domain::event::Event;
use crate::drill::history::{DrillRecord, drilled_protocols, drills_from_events};
use crate::duration::{HumanDuration, format_elapsed};
use crate::events::{BackupCheckOutput, read_output};
use crate::ports::aws::{AwsError, ClusterState, RecordState, ServiceState, TaskDefinitionState};
use crate::ports::llm::{LlmError, LlmRequest};
use crate::ports::store::EventStore;
use crate::runbook::{BackupCheck, Runbook, StepAction};
use crate::steps::backup::{Freshness, freshness, parse_time};
use crate::steps::{StepEnv, StepInput};

/// The hosting RTO is divided by this to bound the TTL: DNS caches may cost at most ~2 % of it.
pub const TTL_SHARE_OF_RTO: u32 = 48;
/// A readiness probe never waits longer than this for one answer (backup status, LLM).
const PROBE_LIMIT: Duration = Duration::from_secs(30);
/// What the Anthropic probe asks; any answer proves the key and the endpoint work.
const PROBE_PROMPT: &str = "Reply with the single word: pong";

pub use crate::domain::check::Check;

/// Every check, in a fixed order (AWS, ECS, DNS, LLM, backups, drills).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub at: DateTime<Utc>,
    pub checks: Vec<Check>,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    pub fn failures(&self) -> usize {
        self.checks.iter().filter(|c| !c.ok).count()
    }

    /// The report people read: a heading, one line per check, a verdict.
    pub fn render(&self) -> String {
        let mut out = format!(
            "Standby readiness at {}\n",
            self.at.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        for check in &self.checks {
            out.push_str(&check.line());
            out.push('\n');
        }
        out.push_str(&self.verdict());
        out.push('\n');
        out
    }

    /// `READY: all N checks passed` or `NOT READY: F of N checks failed`.
    pub fn verdict(&self) -> String {
        let n = self.checks.len();
        if self.ready() {
            format!("READY: all {n} checks passed")
        } else {
            format!("NOT READY: {} of {n} checks failed", self.failures())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Observations: what `gather` saw, the only input of `assess`.

#[derive(Debug, Clone)]
pub struct Observations {
    pub now: DateTime<Utc>,
    pub aws_mode: AwsMode,
    /// `None` when the config has no `[aws.ecs]`.
    pub ecs: Option<EcsObserved>,
    /// `None` when the config has no `[aws.dns]`.
    pub dns: Option<DnsObserved>,
    pub anthropic: LlmObserved,
    /// One per distinct `backup_check` in the runbooks.
    pub backups: Vec<BackupObserved>,
    /// Every finished drill found in the logs.
    pub drills: Vec<DrillRecord>,
}

#[derive(Debug, Clone)]
pub struct EcsObserved {
    pub cluster: String,
    pub cluster_state: Result<ClusterState, AwsError>,
    pub services: Vec<ServiceObserved>,
}

#[derive(Debug, Clone)]
pub struct ServiceObserved {
    pub name: String,
    pub state: Result<ServiceState, AwsError>,
    /// Described when the service named one.
    pub task_definition: Option<Result<TaskDefinitionState, AwsError>>,
}

#[derive(Debug, Clone)]
pub struct DnsObserved {
    pub zone_id: String,
    /// The TTL a failover writes (`[aws.dns] ttl`), in seconds.
    pub configured_ttl: u32,
    pub max_ttl: Duration,
    pub records: Vec<RecordObserved>,
}

#[derive(Debug, Clone)]
pub struct RecordObserved {
    pub config: DnsRecordConfig,
    pub state: Result<Option<RecordState>, AwsError>,
}

#[derive(Debug, Clone)]
pub enum LlmObserved {
    NotConfigured,
    KeyUnset {
        env: String,
    },
    Answered {
        model: Option<String>,
        latency: Duration,
    },
    Failed(LlmError),
}

#[derive(Debug, Clone)]
pub struct BackupObserved {
    /// `runbook/step` of the first step that checks this source.
    pub checked_by: String,
    pub max_age: Duration,
    /// When the latest backup completed, or why that could not be read.
    pub completed_at: Result<DateTime<Utc>, String>,
}

// ---------------------------------------------------------------------------------------------
// The decisions.

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
        let last = drills.iter().rev().find_map(|d| {
            d.results
                .iter()
                .find(|r| r.runbook == protocol)
                .map(|r| (d, r))
        });
        let Some((drill, result)) = last else {
            checks.push(Check::fail(
                name,
                format!(
                    "never drilled (the plan asks for one every {every}; run `lifeboat drill`)"
                ),
            ));
            continue;
        };
        let stamp = drill.at.to_rfc3339_opts(SecondsFormat::Secs, true);
        let age = (now - drill.at).to_std().unwrap_or_default();
        checks.push(if age > every.get() {
            Check::fail(
                name,
                format!(
                    "last drilled {stamp}, {} ago: older than [schedule] drill_every {every}",
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
                format!("last drilled {stamp}, but {}", missed.join(", ")),
            )
        } else {
            Check::ok(
                name,
                format!(
                    "last drilled {stamp}, {} ago (within {every}), objectives met",
                    age_text(age)
                ),
            )
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The edge: looking.

/// The distinct `backup_check` steps of the runbooks (the same source and limit once).
fn backup_steps(runbooks: &[Runbook]) -> Vec<(&Runbook, &crate::runbook::Step, &BackupCheck)> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for rb in runbooks {
        for step in &rb.steps {
            if let StepAction::BackupCheck(args) = &step.action
                && !seen.contains(&args)
            {
                seen.push(args);
                out.push((rb, step, args));
            }
        }
    }
    out
}

/// Looks at everything `assess` needs, concurrently, through the runbooks' own edges.
/// `drill_log` is every event that may hold `drill.finished`.
pub async fn gather(env: &StepEnv, runbooks: &[Runbook], drill_log: &[Event]) -> Observations {
    let config = &env.config;
    let (ecs, dns, anthropic, backups) = tokio::join!(
        gather_ecs(env),
        gather_dns(env),
        gather_llm(env),
        gather_backups(env, runbooks)
    );
    Observations {
        now: Utc::now(),
        aws_mode: config.aws.mode,
        ecs,
        dns,
        anthropic,
        backups,
        drills: drills_from_events(drill_log),
    }
}

async fn gather_ecs(env: &StepEnv) -> Option<EcsObserved> {
    let ecs = env.config.aws.ecs.as_ref()?;
    let containers = env.aws.containers.as_ref();
    let cluster_state = containers.describe_cluster(&ecs.cluster).await;
    let mut services = Vec::new();
    // One at a time, so that each missing service is named on its own line.
    for service in &ecs.services {
        let state = containers
            .describe_services(&ecs.cluster, std::slice::from_ref(&service.name))
            .await
            .and_then(|mut found| {
                found.pop().ok_or_else(|| AwsError::NotFound {
                    resource: format!("ECS service {} in cluster {}", service.name, ecs.cluster),
                    detail: "DescribeServices returned nothing".into(),
                })
            });
        let task_definition = match &state {
            Ok(ServiceState {
                task_definition: Some(td),
                ..
            }) => Some(containers.describe_task_definition(td).await),
            _ => None,
        };
        services.push(ServiceObserved {
            name: service.name.clone(),
            state,
            task_definition,
        });
    }
    Some(EcsObserved {
        cluster: ecs.cluster.clone(),
        cluster_state,
        services,
    })
}

async fn gather_dns(env: &StepEnv) -> Option<DnsObserved> {
    let dns = env.config.aws.dns.as_ref()?;
    let mut records = Vec::new();
    for record in &dns.records {
        let state = env
            .aws
            .dns
            .current_record(&dns.zone_id, &record.name, &record.record_type)
            .await;
        records.push(RecordObserved {
            config: record.clone(),
            state,
        });
    }
    Some(DnsObserved {
        zone_id: dns.zone_id.clone(),
        configured_ttl: dns.ttl,
        max_ttl: dns.max_ttl.get(),
        records,
    })
}

async fn gather_llm(env: &StepEnv) -> LlmObserved {
    let Some(provider) = env.config.llm.anthropic.as_ref() else {
        return LlmObserved::NotConfigured;
    };
    let Some(key) = env.secrets.get(&provider.key_env) else {
        return LlmObserved::KeyUnset {
            env: provider.key_env.clone(),
        };
    };
    let timeout = provider.timeout.get().min(PROBE_LIMIT);
    match env
        .llm
        .complete(LlmRequest {
            provider: "anthropic",
            config: provider,
            key: &key,
            prompt: PROBE_PROMPT,
            max_tokens: crate::steps::llm::PROBE_MAX_TOKENS,
            timeout,
        })
        .await
    {
        Ok(done) => LlmObserved::Answered {
            model: done.model,
            latency: done.latency,
        },
        Err(err) => LlmObserved::Failed(err),
    }
}

/// Runs each distinct `backup_check` the way its runbook would (same step code, same
/// expansion of `${vars.*}` and parameter defaults), bounded by `PROBE_LIMIT`.
async fn gather_backups(env: &StepEnv, runbooks: &[Runbook]) -> Vec<BackupObserved> {
    let run = RunId("readiness".to_owned());
    let earlier = BTreeMap::new();
    let mut out = Vec::new();
    for (rb, step, args) in backup_steps(runbooks) {
        let params: BTreeMap<String, String> = rb
            .params
            .iter()
            .filter_map(|p| p.default.clone().map(|d| (p.name.clone(), d)))
            .collect();
        let mut step = step.clone();
        step.timeout = HumanDuration(step.timeout.get().min(PROBE_LIMIT));
        let input = StepInput {
            run: &run,
            incident: None,
            step: &step,
            workstream: Some(rb.workstream),
            params: &params,
            earlier: &earlier,
            attempt: 1,
        };
        let max_age = args.max_age.unwrap_or(env.config.objectives.rpo).get();
        let checked = crate::steps::backup::check(env, &input, args).await;
        // Too old is still a reading: the decision is made in `assess`, from the time.
        let (output, error) = match checked {
            Ok(output) => (output.data, None),
            Err(err) => (err.data.clone(), Some(err.message)),
        };
        let output: BackupCheckOutput = read_output(&output);
        let completed_at = match output.completed_at.as_deref().map(parse_time) {
            Some(Ok(at)) => Ok(at),
            _ => Err(error.unwrap_or_else(|| "no completion time was read".to_owned())),
        };
        out.push(BackupObserved {
            checked_by: format!("{}/{}", rb.name, step.id),
            max_age,
            completed_at,
        });
    }
    // The runbooks that restore from `[data.backups]`: its newest backup, by the time its
    // data is from.
    let restores = runbooks
        .iter()
        .flat_map(|rb| &rb.steps)
        .any(|s| matches!(s.action, crate::runbook::StepAction::DbRestore(_)));
    if restores {
        let store = &env.data.backups;
        let completed_at = match &env.config.data {
            None => Err(
                "there is no [data] in the config: a restore would act on a simulation".to_owned(),
            ),
            Some(_) => match store.latest().await {
                Ok(Some(newest)) => Ok(newest.data_at()),
                Ok(None) => Err(format!("there is no backup in {}", store.location())),
                Err(err) => Err(err.to_string()),
            },
        };
        out.push(BackupObserved {
            checked_by: format!("[data.backups] {}", store.location()),
            max_age: env.config.objectives.rpo.get(),
            completed_at,
        });
    }
    out
}

/// `lifeboat readiness` and `/dr readiness` in one call: look, then decide.
/// With `[heroku]` configured, the parity lines (`crate::parity`) follow the others.
pub async fn run(env: &StepEnv, runbooks: &[Runbook], drill_log: &[Event]) -> Readiness {
    let (observed, parity) = tokio::join!(
        gather(env, runbooks, drill_log),
        crate::parity::gather::check(env, runbooks)
    );
    let mut report = assess(&env.config, runbooks, &observed);
    if let Some(parity) = parity {
        report
            .checks
            .extend(crate::parity::render::readiness_checks(&parity));
    }
    report
}

/// The drills `store` holds (the bot's own log): its `drill.finished` events.
pub fn store_events(store: &dyn EventStore) -> Vec<Event> {
    crate::views::of_kinds(store, &[crate::events::EventKind::DrillFinished]).unwrap_or_else(
        |err| {
            tracing::warn!(error = %err, "the event log could not be read for drills");
            Vec::new()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Workstream;
    use crate::drill::history::DrillResult;
    use crate::toml_source::TomlSource;

    const CONFIG: &str = r#"
[objectives]
hosting_rto = "4h"
llm_rto = "2h"
rpo = "1h"

[[providers]]
name = "heroku"
workstream = "hosting"
runbook = "failover-hosting"

[[providers]]
name = "openai"
workstream = "llm"
runbook = "switch-llm"

[aws]
mode = "live"

[aws.ecs]
cluster = "standby"
services = [{ name = "web", standby = 3 }]

[aws.dns]
zone_id = "Z1"
ttl = 60
records = [{ name = "app.example.com", primary = "app.herokudns.com", standby = "alb.aws.com" }]

[schedule]
drill_every = "365d"
"#;

    fn config() -> Config {
        Config::from_source(TomlSource::new("t.toml", CONFIG))
            .unwrap()
            .config
    }

    fn runbook(name: &str, workstream: Workstream) -> Runbook {
        Runbook {
            name: name.into(),
            title: name.into(),
            description: None,
            workstream,
            approval: Default::default(),
            params: Vec::new(),
            steps: Vec::new(),
            source: "x.toml".into(),
            file_hash: String::new(),
        }
    }

    fn runbooks() -> Vec<Runbook> {
        vec![
            runbook("failover-hosting", Workstream::Hosting),
            runbook("switch-llm", Workstream::Llm),
        ]
    }

    fn now() -> DateTime<Utc> {
        parse_time("2026-11-25T12:00:00Z").unwrap()
    }

    fn result(runbook: &str, met: bool) -> DrillResult {
        DrillResult {
            provider: "p".into(),
            runbook: runbook.into(),
            run: "RUN-1".into(),
            status: "succeeded".into(),
            detection: Some(Duration::from_millis(400)),
            recovery: Some(Duration::from_secs(50)),
            rto: Some(Duration::from_secs(4 * 3600)),
            data_loss: Some(Duration::from_secs(720)),
            rpo: Some(Duration::from_secs(3600)),
            rto_met: met,
            rpo_met: true,
        }
    }

    fn drill(days_ago: i64, results: Vec<DrillResult>) -> DrillRecord {
        DrillRecord {
            at: now() - chrono::Duration::days(days_ago),
            incident: Some("INC-1".into()),
            results,
        }
    }

    fn service(status: &str, td: Option<&str>) -> ServiceState {
        ServiceState {
            name: "web".into(),
            desired: 0,
            running: 0,
            pending: 0,
            deployments: 1,
            status: status.into(),
            task_definition: td.map(str::to_owned),
        }
    }

    fn record(ttl: Option<u32>, value: &str) -> RecordState {
        RecordState {
            name: "app.example.com.".into(),
            rtype: "CNAME".into(),
            ttl,
            values: vec![value.into()],
            alias_target: None,
        }
    }

    /// Everything ready.
    fn ready() -> Observations {
        let c = config();
        Observations {
            now: now(),
            aws_mode: AwsMode::Live,
            ecs: Some(EcsObserved {
                cluster: "standby".into(),
                cluster_state: Ok(ClusterState {
                    name: "standby".into(),
                    status: "ACTIVE".into(),
                }),
                services: vec![ServiceObserved {
                    name: "web".into(),
                    state: Ok(service(
                        "ACTIVE",
                        Some("arn:aws:ecs:r:1:task-definition/web:3"),
                    )),
                    task_definition: Some(Ok(TaskDefinitionState {
                        name: "web:3".into(),
                        status: "ACTIVE".into(),
                    })),
                }],
            }),
            dns: Some(DnsObserved {
                zone_id: "Z1".into(),
                configured_ttl: 60,
                max_ttl: Duration::from_secs(300),
                records: vec![RecordObserved {
                    config: c.aws.dns.as_ref().unwrap().records[0].clone(),
                    state: Ok(Some(record(Some(60), "app.herokudns.com."))),
                }],
            }),
            anthropic: LlmObserved::Answered {
                model: Some("claude-test".into()),
                latency: Duration::from_millis(300),
            },
            backups: vec![BackupObserved {
                checked_by: "failover-hosting/backup-age".into(),
                max_age: Duration::from_secs(3600),
                completed_at: Ok(now() - chrono::Duration::minutes(12)),
            }],
            drills: vec![drill(
                30,
                vec![result("failover-hosting", true), result("switch-llm", true)],
            )],
        }
    }

    fn report(obs: &Observations) -> Readiness {
        assess(&config(), &runbooks(), obs)
    }

    /// The single failing line, asserting there is exactly one.
    fn failing(obs: &Observations) -> String {
        let r = report(obs);
        let failed: Vec<String> = r.checks.iter().filter(|c| !c.ok).map(Check::line).collect();
        assert_eq!(failed.len(), 1, "{}", r.render());
        assert!(!r.ready());
        failed[0].clone()
    }

    #[test]
    fn everything_ready_gives_one_ok_line_per_check() {
        let r = report(&ready());
        assert!(r.ready(), "{}", r.render());
        let text = r.render();
        for line in [
            "ok    aws: live, region us-east-1",
            "ok    ecs cluster standby: exists, ACTIVE",
            "ok    ecs service web: exists, ACTIVE, desired 0 running 0",
            "ok    ecs task definition of web: web:3 exists, ACTIVE",
            "ok    dns ttl written on failover: [aws.dns] ttl 1m ≤ 5m (the lower of [aws.dns] max_ttl 5m and 1/48 of the hosting RTO 4h (5m))",
            "ok    dns record app.example.com. CNAME: exists, points at the primary, TTL 1m ≤ 5m",
            "ok    anthropic key: a test prompt was answered in 300ms by claude-test",
            "ok    backup (failover-hosting/backup-age): latest completed 2026-11-25T11:48:00Z, 12m 00s ago (within 1h)",
            "ok    drill of failover-hosting: last drilled 2026-10-26T12:00:00Z",
            "ok    drill of switch-llm: last drilled",
            "READY: all 10 checks passed",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
    }

    #[test]
    fn the_ttl_limit_is_the_lower_of_the_max_and_a_share_of_the_rto() {
        let (limit, rule) = ttl_limit(Duration::from_secs(4 * 3600), Duration::from_secs(300));
        assert_eq!(limit, Duration::from_secs(300));
        assert!(rule.contains("1/48 of the hosting RTO 4h (5m)"), "{rule}");
        let (limit, _) = ttl_limit(Duration::from_secs(3600), Duration::from_secs(300));
        assert_eq!(limit, Duration::from_secs(75));
        let (limit, _) = ttl_limit(Duration::from_secs(48 * 3600), Duration::from_secs(120));
        assert_eq!(limit, Duration::from_secs(120));
    }

    #[test]
    fn simulated_aws_is_not_ready() {
        let mut obs = ready();
        obs.aws_mode = AwsMode::Simulated;
        assert!(failing(&obs).starts_with("FAIL  aws: [aws] mode is simulated"));
    }

    #[test]
    fn ecs_problems_each_fail_their_line() {
        let mut obs = ready();
        obs.ecs.as_mut().unwrap().cluster_state = Err(AwsError::NotFound {
            resource: "ECS cluster standby".into(),
            detail: "DescribeClusters reports it MISSING".into(),
        });
        assert_eq!(
            failing(&obs),
            "FAIL  ecs cluster standby: ECS cluster standby not found: DescribeClusters reports it MISSING"
        );

        let mut obs = ready();
        let web = &mut obs.ecs.as_mut().unwrap().services[0];
        web.state = Err(AwsError::NotFound {
            resource: "ECS service web in cluster standby".into(),
            detail: "MISSING".into(),
        });
        web.task_definition = None;
        assert!(
            failing(&obs)
                .starts_with("FAIL  ecs service web: ECS service web in cluster standby not found")
        );

        let mut obs = ready();
        obs.ecs.as_mut().unwrap().services[0].state = Ok(service("DRAINING", Some("web:3")));
        assert_eq!(
            failing(&obs),
            "FAIL  ecs service web: being deleted (DRAINING): it cannot be scaled up"
        );

        let mut obs = ready();
        obs.ecs.as_mut().unwrap().services[0].task_definition = Some(Err(AwsError::NotFound {
            resource: "ECS task definition web:3".into(),
            detail: "Unable to describe task definition.".into(),
        }));
        assert_eq!(
            failing(&obs),
            "FAIL  ecs task definition of web: ECS task definition web:3 not found: Unable to describe task definition."
        );

        let mut obs = ready();
        obs.ecs.as_mut().unwrap().services[0].task_definition = Some(Ok(TaskDefinitionState {
            name: "web:3".into(),
            status: "INACTIVE".into(),
        }));
        assert!(failing(&obs).contains("web:3 is INACTIVE: deregistered"));

        let mut obs = ready();
        obs.ecs = None;
        assert!(failing(&obs).starts_with("FAIL  ecs: no [aws.ecs]"));
    }

    #[test]
    fn dns_problems_each_fail_their_line() {
        let mut obs = ready();
        obs.dns.as_mut().unwrap().records[0].state =
            Ok(Some(record(Some(3600), "app.herokudns.com.")));
        let line = failing(&obs);
        assert!(
            line.starts_with("FAIL  dns record app.example.com. CNAME: TTL 1h > 5m"),
            "{line}"
        );

        let mut obs = ready();
        obs.dns.as_mut().unwrap().records[0].state = Ok(None);
        assert_eq!(
            failing(&obs),
            "FAIL  dns record app.example.com. CNAME: missing from hosted zone Z1"
        );

        let mut obs = ready();
        obs.dns.as_mut().unwrap().configured_ttl = 900;
        assert!(
            failing(&obs).starts_with("FAIL  dns ttl written on failover: [aws.dns] ttl 15m > 5m")
        );

        let mut obs = ready();
        obs.dns.as_mut().unwrap().records[0].state = Ok(Some(record(Some(60), "alb.aws.com")));
        assert!(report(&obs).render().contains("points at the standby"));
    }

    #[test]
    fn the_anthropic_key_must_answer() {
        let mut obs = ready();
        obs.anthropic = LlmObserved::Failed(LlmError::Status {
            provider: "anthropic".into(),
            status: 401,
            message: "invalid x-api-key (authentication_error)".into(),
        });
        assert_eq!(
            failing(&obs),
            "FAIL  anthropic key: the key was refused: anthropic answered 401: invalid x-api-key (authentication_error)"
        );
        obs.anthropic = LlmObserved::KeyUnset {
            env: "ANTHROPIC_API_KEY".into(),
        };
        assert!(failing(&obs).contains("ANTHROPIC_API_KEY is not set"));
        obs.anthropic = LlmObserved::NotConfigured;
        assert!(failing(&obs).contains("no [llm.anthropic]"));
    }

    #[test]
    fn the_backup_must_be_within_its_limit() {
        let mut obs = ready();
        obs.backups[0].completed_at = Ok(now() - chrono::Duration::minutes(61));
        assert_eq!(
            failing(&obs),
            "FAIL  backup (failover-hosting/backup-age): latest completed 2026-11-25T10:59:00Z, 1h 01m ago: older than 1h"
        );
        obs.backups[0].completed_at = Err("http://x answered 503".into());
        assert!(failing(&obs).ends_with(": http://x answered 503"));
        obs.backups.clear();
        assert!(failing(&obs).contains("no runbook has a backup_check step"));
    }

    #[test]
    fn each_protocol_needs_a_recent_successful_drill() {
        let mut obs = ready();
        obs.drills = vec![drill(30, vec![result("failover-hosting", true)])];
        assert!(failing(&obs).starts_with(
            "FAIL  drill of switch-llm: never drilled (the plan asks for one every 365d"
        ));

        obs.drills = vec![
            drill(400, vec![result("switch-llm", true)]),
            drill(30, vec![result("failover-hosting", true)]),
        ];
        let line = failing(&obs);
        assert!(
            line.starts_with("FAIL  drill of switch-llm: last drilled 2025-10-21T12:00:00Z"),
            "{line}"
        );
        assert!(
            line.contains("400d 00h ago: older than [schedule] drill_every 365d"),
            "{line}"
        );

        obs.drills = vec![drill(
            3,
            vec![
                result("failover-hosting", false),
                result("switch-llm", true),
            ],
        )];
        assert!(failing(&obs).ends_with("but the RTO was missed"));

        // A newer drill supersedes an older failed one.
        obs.drills
            .push(drill(1, vec![result("failover-hosting", true)]));
        assert!(report(&obs).ready());
    }
}
