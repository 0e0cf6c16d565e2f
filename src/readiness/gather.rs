//! The edge: looking at ECS, Route 53, the LLM, the backups and the drills on record, through
//! the same edges and step code the runbooks use.

use super::observations::*;
use crate::domain::RunId;
use crate::domain::event::Event;
use crate::drill::history::drills_from_events;
use crate::duration::HumanDuration;
use crate::events::{BackupCheckOutput, read_output};
use crate::ports::aws::ServiceState;
use crate::ports::llm::LlmRequest;
use crate::runbook::{BackupCheck, Runbook, StepAction};
use crate::steps::backup::parse_time;
use crate::steps::{StepEnv, StepInput};
use chrono::Utc;
use std::collections::BTreeMap;
use std::time::Duration;

/// A readiness probe never waits longer than this for one answer (backup status, LLM).
const PROBE_LIMIT: Duration = Duration::from_secs(30);
/// What the Anthropic probe asks; any answer proves the key and the endpoint work.
const PROBE_PROMPT: &str = "Reply with the single word: pong";

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
            .describe_service(&ecs.cluster, &service.name)
            .await;
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
