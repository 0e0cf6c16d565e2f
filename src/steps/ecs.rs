//! `ecs_scale`: scale the configured ECS services to one side's counts, then wait until each
//! is stable (running == desired, one deployment) or the step times out.

use serde_json::json;

use super::{StepEnv, StepError, StepInput, StepOutput};
use crate::config::{EcsConfig, EcsServiceConfig};
use crate::ports::aws::wait_stable;
use crate::runbook::{EcsScale, Side};

fn targets<'a>(ecs: &'a EcsConfig, args: &EcsScale) -> Vec<&'a EcsServiceConfig> {
    ecs.services
        .iter()
        .filter(|s| args.services.is_empty() || args.services.contains(&s.name))
        .collect()
}

fn desired(service: &EcsServiceConfig, args: &EcsScale) -> u32 {
    if let Some(count) = args.count {
        return count;
    }
    match args.to {
        Side::Standby => service.standby,
        Side::Primary => service.idle,
    }
}

fn config(env: &StepEnv) -> Result<&EcsConfig, StepError> {
    env.config
        .aws
        .ecs
        .as_ref()
        .ok_or_else(|| StepError::invalid("ecs_scale needs [aws.ecs] in the config"))
}

pub async fn run(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &EcsScale,
) -> Result<StepOutput, StepError> {
    let ecs = config(env)?;
    // Check every service exists before scaling any, so a missing one leaves nothing half-done.
    // That read is also each service's state before the change: no second read per service.
    let names: Vec<String> = targets(ecs, args).iter().map(|s| s.name.clone()).collect();
    let states = env
        .aws
        .containers
        .describe_services(&ecs.cluster, &names)
        .await?;
    let mut changes = Vec::new();
    for (service, before) in targets(ecs, args).into_iter().zip(&states) {
        let want = desired(service, args);
        env.aws
            .containers
            .scale_known(&ecs.cluster, before, want)
            .await?;
        changes.push(json!({ "service": service.name, "from": before.desired, "to": want }));
    }
    // Wait for all of them; the step's own timeout bounds this.
    let mut lines = Vec::new();
    for service in targets(ecs, args) {
        let want = desired(service, args);
        let state = wait_stable(
            env.aws.containers.as_ref(),
            &ecs.cluster,
            &service.name,
            want,
            std::time::Duration::from_secs(5).min(input.step.timeout.get() / 10),
            input.step.timeout.get(),
        )
        .await?;
        lines.push(format!("{} {} running", service.name, state.running));
    }
    Ok(StepOutput::new(
        format!("cluster {}: {}", ecs.cluster, lines.join(", ")),
        json!({ "cluster": ecs.cluster, "changes": changes }),
    ))
}

pub async fn plan(env: &StepEnv, args: &EcsScale) -> Result<Vec<String>, StepError> {
    let ecs = config(env)?;
    let services = targets(ecs, args);
    let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    let current = env
        .aws
        .containers
        .describe_services(&ecs.cluster, &names)
        .await?;
    Ok(services
        .iter()
        .zip(current)
        .map(|(service, state)| {
            let want = desired(service, args);
            if state.desired == want {
                format!("service {} desired {} (unchanged)", service.name, want)
            } else {
                format!(
                    "service {} desired {} → {}",
                    service.name, state.desired, want
                )
            }
        })
        .collect())
}
