//! `llm_switch`: set the app's LLM variable (`[app] llm_var`) where the app runs now, as the
//! log says (`crate::parity::hosting`). While Heroku serves: `PATCH` its config vars through
//! the `Platform` port. After a hosting failover: a new revision of each service's task
//! definition with the variable changed (or, switching back, the revision an earlier switch
//! came from, which is kept registered), deployed and waited on until stable. Each move is
//! recorded (`llm.revision_deployed`) before it is deployed, so a retry after a partial switch
//! reuses the revision it registered and the switch back finds every service's way back.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tracing::instrument;

use super::{StepEnv, StepError, StepInput, StepOutput};
use crate::config::EcsConfig;
use crate::domain::Actor;
use crate::domain::event::{Event, NewEvent};
use crate::events::LlmRevisionDeployed;
use crate::parity::gather::target;
use crate::parity::hosting::{Moved, aws_switches, hosting_now};
use crate::ports::aws::{EnvChange, TaskDefinitionSpec, task_definition_name, wait_stable};
use crate::ports::digest::ValueDigest;
use crate::ports::heroku::PlatformError;
use crate::runbook::{LlmSwitch, Side};

/// An `llm_switch` step's output (read back as `events::LlmSwitchOutput`): what it switched
/// where, and since which event the app runs there.
#[derive(Debug, Serialize)]
struct SwitchOutput {
    #[serde(flatten)]
    switched: Switched,
    /// The `seq` of the event that moved the app where it runs now; `None` when it never
    /// moved (the app runs on Heroku).
    hosting_since_seq: Option<u64>,
}

/// Where the variable was set, as `platform` says.
#[derive(Debug, Serialize)]
#[serde(tag = "platform", rename_all = "lowercase")]
enum Switched {
    Heroku {
        app: String,
        variable: String,
        value: String,
    },
    Aws {
        cluster: String,
        variable: String,
        value: String,
        services: Vec<ServiceSwitch>,
    },
}

/// One service the switch moved (or found set already) on AWS.
#[derive(Debug, Serialize)]
struct ServiceSwitch {
    service: String,
    from: String,
    to: String,
    /// `unchanged`, `registered`, `returned` or `reused`.
    how: &'static str,
}

/// What a failed Platform API call leaves in the step's output.
#[derive(Debug, Serialize)]
struct HerokuFailure {
    heroku_error: String,
    retry_after_ms: Option<u64>,
}

/// A Platform API error as a step error: retryable as the error says, with how long Heroku
/// asked to wait (the engine waits at least that long before the next attempt).
fn platform_error(err: PlatformError) -> StepError {
    let retry_after = err.retry_after();
    let failure = HerokuFailure {
        heroku_error: err.to_string(),
        retry_after_ms: retry_after.map(|d| d.as_millis() as u64),
    };
    StepError {
        retryable: err.is_retryable(),
        message: err.to_string(),
        data: serde_json::to_value(failure).unwrap_or_default(),
        retry_after,
    }
}

/// What the switch reads of the log so far (empty when the step runs outside the engine):
/// the steps that succeeded (the DNS moves say where the app runs, earlier switches what they
/// moved) and the deploys recorded before they were made.
fn log(env: &StepEnv) -> Result<Vec<Event>, StepError> {
    use crate::events::EventKind;
    match &env.comms.store {
        None => Ok(Vec::new()),
        Some(store) => crate::views::of_kinds(
            store.as_ref(),
            &[EventKind::StepSucceeded, EventKind::LlmRevisionDeployed],
        )
        .map_err(|e| StepError::retryable(format!("the event log could not be read: {e}"))),
    }
}

#[instrument(skip_all, fields(run = %input.run, step = %input.step.id, provider = %args.provider))]
pub async fn switch(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &LlmSwitch,
) -> Result<StepOutput, StepError> {
    if env.config.llm.provider(&args.provider).is_none() {
        return Err(StepError::invalid(format!(
            "LLM provider `{}` is not configured in [llm]",
            args.provider
        )));
    }
    let events = log(env)?;
    let hosting = hosting_now(&events, env.config.aws.dns.as_ref());
    tracing::info!(side = ?hosting.side, since = ?hosting.since_seq, "the app runs here now");
    let (summary, switched) = match hosting.side {
        Side::Primary => on_heroku(env, args).await?,
        Side::Standby => on_aws(env, input, args, &events).await?,
    };
    let output = SwitchOutput {
        switched,
        hosting_since_seq: hosting.since_seq,
    };
    Ok(StepOutput::typed(summary, &output))
}

async fn on_heroku(env: &StepEnv, args: &LlmSwitch) -> Result<(String, Switched), StepError> {
    let heroku = env.config.heroku.as_ref().ok_or_else(|| {
        StepError::invalid(
            "the app runs on Heroku (no hosting failover in the log) but the config has no [heroku] to switch it through",
        )
    })?;
    let token = env.secrets.get(&heroku.token_env).ok_or_else(|| {
        StepError::invalid(format!(
            "no Heroku token: the environment variable {} is not set",
            heroku.token_env
        ))
    })?;
    let var = &env.config.app.llm_var;
    let vars = BTreeMap::from([(var.clone(), args.provider.clone())]);
    env.heroku
        .set_config_vars(target(heroku, &token), &vars)
        .await
        .map_err(platform_error)?;
    Ok((
        format!(
            "Heroku app {}: {var} = {} (the dynos restart with it)",
            heroku.app, args.provider
        ),
        Switched::Heroku {
            app: heroku.app.clone(),
            variable: var.clone(),
            value: args.provider.clone(),
        },
    ))
}

/// The containers of `spec` that get the variable: those that set it already, else the app's
/// container (`[app] container`, or the only one).
fn containers_for(
    spec: &TaskDefinitionSpec,
    var: &str,
    app: Option<&str>,
) -> Result<Vec<String>, StepError> {
    if let Some(c) = spec.containers.iter().find(|c| c.secrets.contains(var)) {
        return Err(StepError::invalid(format!(
            "{var} comes from a secret store in container {} of {}: Lifeboat switches only plain `environment` variables",
            c.name, spec.name
        )));
    }
    let setting: Vec<String> = spec
        .containers
        .iter()
        .filter(|c| c.environment.contains_key(var))
        .map(|c| c.name.clone())
        .collect();
    if !setting.is_empty() {
        return Ok(setting);
    }
    match (app, spec.containers.as_slice()) {
        (Some(name), _) if spec.containers.iter().any(|c| c.name == name) => {
            Ok(vec![name.to_owned()])
        }
        (None, [only]) => Ok(vec![only.name.clone()]),
        _ => Err(StepError::invalid(format!(
            "{} sets no {var} and has several containers: name the app's in [app] container",
            spec.name
        ))),
    }
}

/// Which services to switch: those named, else those whose task definition sets the
/// variable, else (nobody sets it yet) every configured one.
async fn targets(
    env: &StepEnv,
    ecs: &EcsConfig,
    args: &LlmSwitch,
) -> Result<Vec<(String, u32, TaskDefinitionSpec)>, StepError> {
    let var = &env.config.app.llm_var;
    let mut found = Vec::new();
    for service in &ecs.services {
        if !args.services.is_empty() && !args.services.contains(&service.name) {
            continue;
        }
        let state = env
            .aws
            .containers
            .describe_services(&ecs.cluster, std::slice::from_ref(&service.name))
            .await?
            .pop()
            .ok_or_else(|| StepError::invalid(format!("ECS service {} not found", service.name)))?;
        let td = state.task_definition.ok_or_else(|| {
            StepError::invalid(format!("ECS names no task definition for {}", service.name))
        })?;
        let spec = env.aws.containers.task_definition_spec(&td).await?;
        found.push((service.name.clone(), state.desired, spec));
    }
    let setting: Vec<_> = found
        .iter()
        .filter(|(_, _, spec)| {
            spec.containers
                .iter()
                .any(|c| c.variables().any(|v| v == var))
        })
        .cloned()
        .collect();
    Ok(if args.services.is_empty() && !setting.is_empty() {
        setting
    } else {
        found
    })
}

async fn on_aws(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &LlmSwitch,
    events: &[Event],
) -> Result<(String, Switched), StepError> {
    let ecs = env.config.aws.ecs.as_ref().ok_or_else(|| {
        StepError::invalid("the app runs on AWS (per the log) but the config has no [aws.ecs]")
    })?;
    let var = env.config.app.llm_var.clone();
    let wanted = ValueDigest::of(&args.provider);
    let earlier = aws_switches(events);
    let mut registered: BTreeMap<String, String> = BTreeMap::new();
    let mut moves = Vec::new();
    for (service, desired, spec) in targets(env, ecs, args).await? {
        let containers = containers_for(&spec, &var, env.config.app.container.as_deref())?;
        let set = containers.iter().all(|name| {
            spec.containers
                .iter()
                .any(|c| &c.name == name && c.environment.get(&var) == Some(&wanted))
        });
        let (to, how) = if set {
            (spec.name.clone(), "unchanged")
        } else if let Some(new) = registered.get(&spec.name) {
            (new.clone(), "registered")
        } else if let Some(known) = known_revision(env, &earlier, &spec.name, &var, &wanted).await {
            known
        } else {
            let changes: Vec<EnvChange> = containers
                .iter()
                .map(|c| EnvChange {
                    container: c.clone(),
                    name: var.clone(),
                    value: args.provider.clone(),
                })
                .collect();
            let new = env
                .aws
                .containers
                .register_revision(&spec.name, &changes)
                .await?;
            registered.insert(spec.name.clone(), new.clone());
            (new, "registered")
        };
        if how != "unchanged" {
            // Recorded first: should the deploy (or the step) fail half-way, a retry and the
            // switch back still know where this service came from.
            let moved = LlmRevisionDeployed {
                service: service.clone(),
                cluster: ecs.cluster.clone(),
                from: spec.name.clone(),
                to: to.clone(),
                how: how.to_owned(),
            };
            record(env, input, moved)?;
            env.aws
                .containers
                .deploy(&ecs.cluster, &service, &to)
                .await?;
        }
        moves.push((service, desired, spec.name.clone(), to, how));
    }
    let step_timeout = input.step.timeout.get();
    let poll = Duration::from_secs(5).min(step_timeout / 10);
    // Every target, even one already set: a retry after a failed wait must wait again.
    for (service, desired, ..) in &moves {
        wait_stable(
            env.aws.containers.as_ref(),
            &ecs.cluster,
            service,
            *desired,
            poll,
            step_timeout,
        )
        .await?;
    }
    Ok(switched_on_aws(&ecs.cluster, var, &args.provider, moves))
}

/// The summary and output of a switch on AWS, from its moves (service, desired count, from,
/// to, how).
fn switched_on_aws(
    cluster: &str,
    var: String,
    provider: &str,
    moves: Vec<(String, u32, String, String, &'static str)>,
) -> (String, Switched) {
    let lines: Vec<String> = moves
        .iter()
        .map(|(s, _, from, to, how)| match *how {
            "unchanged" => format!("{s} already on {to}"),
            _ => format!("{s} {from} → {to} ({how})"),
        })
        .collect();
    let summary = format!(
        "ECS {}: {var} = {}; {}",
        cluster,
        provider,
        lines.join(", ")
    );
    let services = moves
        .into_iter()
        .map(|(service, _, from, to, how)| ServiceSwitch {
            service,
            from,
            to,
            how,
        })
        .collect();
    (
        summary,
        Switched::Aws {
            cluster: cluster.to_owned(),
            variable: var,
            value: provider.to_owned(),
            services,
        },
    )
}

/// Records a move on AWS (`llm.revision_deployed`) before it is made; outside the engine (no
/// log) there is nothing to record into. A move that cannot be recorded is not made.
fn record(
    env: &StepEnv,
    input: &StepInput<'_>,
    moved: LlmRevisionDeployed,
) -> Result<(), StepError> {
    let Some(store) = &env.comms.store else {
        return Ok(());
    };
    let mut event = NewEvent::of(Actor::Bot, moved).run(input.run.clone());
    if let Some(incident) = input.incident {
        event = event.incident(incident.clone());
    }
    store.append(event).map(|_| ()).map_err(|e| {
        StepError::retryable(format!(
            "the move could not be recorded in the event log, so it was not made: {e}"
        ))
    })
}

/// A revision an earlier switch (or an earlier attempt of this one) moved between, still
/// registered and already carrying the wanted value: the one a service on `current` came from
/// (`returned`), or the one made from `current` (`reused`), newest first. Two revisions one
/// switch moved between differ only in the variable, whichever service moved.
async fn known_revision(
    env: &StepEnv,
    earlier: &[Moved],
    current: &str,
    var: &str,
    wanted: &ValueDigest,
) -> Option<(String, &'static str)> {
    let current = task_definition_name(current);
    let mut tried: Vec<&str> = Vec::new();
    for moved in earlier {
        let (candidate, how) = if moved.to == current {
            (moved.from.as_str(), "returned")
        } else if moved.from == current {
            (moved.to.as_str(), "reused")
        } else {
            continue;
        };
        if tried.contains(&candidate) {
            continue;
        }
        tried.push(candidate);
        let Ok(spec) = env.aws.containers.task_definition_spec(candidate).await else {
            continue;
        };
        let fits = spec.status == "ACTIVE"
            && spec
                .containers
                .iter()
                .any(|c| c.environment.get(var) == Some(wanted));
        if fits {
            return Some((spec.name, how));
        }
    }
    None
}

/// What the switch would do, for `lifeboat plan` (where the app runs is read when it runs).
pub fn plan(env: &StepEnv, args: &LlmSwitch) -> Vec<String> {
    let var = &env.config.app.llm_var;
    let heroku = env.config.heroku.as_ref().map_or_else(
        || "(no [heroku] configured)".to_owned(),
        |h| format!("app {}", h.app),
    );
    let aws = env.config.aws.ecs.as_ref().map_or_else(
        || "(no [aws.ecs] configured)".to_owned(),
        |e| format!("cluster {}", e.cluster),
    );
    vec![format!(
        "set {var} = {} where the app runs when the step runs (read from the log): on Heroku {heroku} through the Platform API, or after a failover on AWS {aws} as a new task definition revision, deployed",
        args.provider
    )]
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::json;

    use super::*;
    use crate::ports::aws::ContainerSpec;

    fn container(name: &str, env: &[&str], secrets: &[&str]) -> ContainerSpec {
        ContainerSpec {
            name: name.into(),
            image: "example/app:1".into(),
            environment: env
                .iter()
                .map(|n| ((*n).to_owned(), ValueDigest::of("openai")))
                .collect(),
            secrets: secrets
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<BTreeSet<_>>(),
            labels: BTreeMap::new(),
        }
    }

    fn spec(containers: Vec<ContainerSpec>) -> TaskDefinitionSpec {
        TaskDefinitionSpec {
            name: "app:3".into(),
            status: "ACTIVE".into(),
            containers,
        }
    }

    #[test]
    fn the_variable_is_set_where_it_is_else_in_the_apps_container() {
        let var = "LLM_PROVIDER";
        let two = spec(vec![
            container("app", &[var], &[]),
            container("proxy", &[], &[]),
        ]);
        assert_eq!(containers_for(&two, var, None).unwrap(), ["app"]);
        let unset = spec(vec![
            container("app", &[], &[]),
            container("proxy", &[], &[]),
        ]);
        assert_eq!(containers_for(&unset, var, Some("app")).unwrap(), ["app"]);
        let err = containers_for(&unset, var, None).unwrap_err();
        assert!(
            err.message.contains("name the app's in [app] container"),
            "{err}"
        );
        let only = spec(vec![container("web", &[], &[])]);
        assert_eq!(containers_for(&only, var, None).unwrap(), ["web"]);
        let secret = spec(vec![container("app", &[], &[var])]);
        let err = containers_for(&secret, var, None).unwrap_err();
        assert!(err.message.contains("comes from a secret store"), "{err}");
        assert!(!err.retryable);
    }

    #[test]
    fn the_output_keeps_the_shape_of_the_log_and_reads_back() {
        let heroku = SwitchOutput {
            switched: Switched::Heroku {
                app: "acme".into(),
                variable: "LLM_PROVIDER".into(),
                value: "anthropic".into(),
            },
            hosting_since_seq: None,
        };
        assert_eq!(
            StepOutput::typed("s", &heroku).data,
            json!({ "platform": "heroku", "app": "acme", "variable": "LLM_PROVIDER", "value": "anthropic", "hosting_since_seq": null })
        );
        let aws = SwitchOutput {
            switched: Switched::Aws {
                cluster: "standby".into(),
                variable: "LLM_PROVIDER".into(),
                value: "anthropic".into(),
                services: vec![ServiceSwitch {
                    service: "web".into(),
                    from: "web:1".into(),
                    to: "web:2".into(),
                    how: "registered",
                }],
            },
            hosting_since_seq: Some(44),
        };
        let data = StepOutput::typed("s", &aws).data;
        assert_eq!(
            data,
            json!({ "platform": "aws", "cluster": "standby", "variable": "LLM_PROVIDER", "value": "anthropic",
                    "services": [{ "service": "web", "from": "web:1", "to": "web:2", "how": "registered" }],
                    "hosting_since_seq": 44 })
        );
        let read: crate::events::LlmSwitchOutput = crate::events::read_output(&data);
        assert_eq!(read.platform.as_deref(), Some("aws"));
        assert_eq!(read.services[0].to.as_deref(), Some("web:2"));
    }

    #[test]
    fn heroku_errors_keep_their_class_and_retry_after() {
        let err = platform_error(PlatformError::Throttled {
            message: "rate limit".into(),
            retry_after: Some(Duration::from_secs(4)),
        });
        assert!(err.retryable);
        assert_eq!(err.retry_after, Some(Duration::from_secs(4)));
        assert_eq!(
            err.data,
            json!({ "heroku_error": err.message, "retry_after_ms": 4000 }),
            "the log keeps its shape"
        );
        let err = platform_error(PlatformError::Refused {
            status: 403,
            id: "forbidden".into(),
            message: "no access".into(),
        });
        assert!(!err.retryable);
        assert_eq!(err.retry_after, None);
        assert_eq!(
            err.data,
            json!({ "heroku_error": err.message, "retry_after_ms": null })
        );
    }
}
