//! The looking behind `lifeboat parity`, its readiness lines and the weekly check: Heroku
//! through the `Platform` port, the standby through `Containers`, and the app's health
//! endpoints (the URLs the runbooks' `http_check` steps poll) over HTTP, Heroku and ECS concurrently.
//! What it saw goes to the pure [`super::drift::compare`].

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;

use super::drift::{EcsSeen, HealthSeen, HerokuSeen, Observations, ParityReport, ServiceSeen};
use crate::config::{Config, HerokuConfig, Secret};
use crate::ports::aws::{AwsError, ServiceState};
use crate::ports::heroku::PlatformTarget;
use crate::ports::http::{describe, read_capped};
use crate::runbook::interp::{self, Namespace};
use crate::runbook::{Runbook, StepAction};
use crate::steps::StepEnv;

/// How much of a health answer is searched for the expected words.
const HEALTH_BODY_LIMIT: usize = 64 * 1024;

/// Looks and compares; `None` when the config has no `[heroku]` (nothing to compare with).
pub async fn check(env: &StepEnv, runbooks: &[Runbook]) -> Option<ParityReport> {
    let observed = look(env, runbooks).await?;
    Some(super::drift::compare(&env.config, &observed))
}

/// Everything `compare` needs, read concurrently.
pub async fn look(env: &StepEnv, runbooks: &[Runbook]) -> Option<Observations> {
    let heroku = env.config.heroku.as_ref()?;
    let (heroku_seen, ecs, health) = tokio::join!(
        look_heroku(env, heroku),
        look_ecs(env),
        look_health(env, runbooks)
    );
    Some(Observations {
        at: Utc::now(),
        heroku: heroku_seen,
        ecs,
        health,
    })
}

async fn look_heroku(env: &StepEnv, heroku: &HerokuConfig) -> HerokuSeen {
    let Some(token) = env.secrets.get(&heroku.token_env) else {
        let why = format!(
            "the environment variable {} (the Platform API token) is not set",
            heroku.token_env
        );
        return HerokuSeen {
            app: heroku.app.clone(),
            config_vars: Err(why.clone()),
            formation: Err(why.clone()),
            release: Err(why),
        };
    };
    let target = target(heroku, &token);
    let platform = env.heroku.as_ref();
    let (config_vars, formation, release) = tokio::join!(
        platform.config_vars(target),
        platform.formation(target),
        platform.current_release(target)
    );
    HerokuSeen {
        app: heroku.app.clone(),
        config_vars: config_vars.map_err(|e| e.to_string()),
        formation: formation.map_err(|e| e.to_string()),
        release: release.map_err(|e| e.to_string()),
    }
}

/// One call's target from `[heroku]` and the token.
pub fn target<'a>(heroku: &'a HerokuConfig, token: &'a Secret) -> PlatformTarget<'a> {
    PlatformTarget {
        api_base: &heroku.api_base,
        app: &heroku.app,
        token,
        timeout: heroku.timeout.get(),
    }
}

async fn look_ecs(env: &StepEnv) -> Result<EcsSeen, String> {
    let ecs = env
        .config
        .aws
        .ecs
        .as_ref()
        .ok_or("no [aws.ecs] in the config: there is no standby to compare")?;
    let containers = env.aws.containers.as_ref();
    let mut services = Vec::new();
    for service in &ecs.services {
        let state = containers
            .describe_services(&ecs.cluster, std::slice::from_ref(&service.name))
            .await
            .and_then(|mut found| {
                found.pop().ok_or_else(|| {
                    AwsError::not_found(
                        crate::ports::aws::service_resource(&ecs.cluster, &service.name),
                        "DescribeServices returned nothing",
                    )
                })
            });
        let task_definition = match &state {
            Ok(ServiceState {
                task_definition: Some(td),
                ..
            }) => Some(containers.task_definition_spec(td).await),
            _ => None,
        };
        services.push(ServiceSeen {
            name: service.name.clone(),
            standby: service.standby,
            state,
            task_definition,
        });
    }
    Ok(EcsSeen {
        cluster: ecs.cluster.clone(),
        services,
    })
}

/// An endpoint the runbooks check, and what they expect of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub expect_status: u16,
    pub expect_any: Vec<String>,
}

/// The URLs of the runbooks' `http_check` steps (expanded with `[vars]` and parameter
/// defaults), each once, with every word some runbook expects in its body: the app answers
/// "as the runbooks expect" when it names one of them (`/health/llm` names the provider in
/// use, `openai` or `anthropic`). Steps whose URL needs a parameter without a default are
/// left out.
pub fn endpoints(config: &Config, runbooks: &[Runbook]) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::new();
    for rb in runbooks {
        let defaults: BTreeMap<&str, &str> = rb
            .params
            .iter()
            .filter_map(|p| p.default.as_deref().map(|d| (p.name.as_str(), d)))
            .collect();
        for step in &rb.steps {
            let StepAction::HttpCheck(check) = &step.action else {
                continue;
            };
            let Ok(url) = interp::expand(&check.url, |r| match r.namespace {
                Namespace::Params => defaults.get(r.name.as_str()).map(|d| (*d).to_owned()),
                Namespace::Vars => config.vars.get(&r.name).cloned(),
                Namespace::Env => None,
            }) else {
                continue;
            };
            let found = out
                .iter_mut()
                .find(|e| e.url == url && e.expect_status == check.expect_status);
            let endpoint = match found {
                Some(endpoint) => endpoint,
                None => {
                    out.push(Endpoint {
                        url,
                        expect_status: check.expect_status,
                        expect_any: Vec::new(),
                    });
                    out.last_mut().expect("just pushed")
                }
            };
            if let Some(needle) = &check.body_contains
                && !endpoint.expect_any.contains(needle)
            {
                endpoint.expect_any.push(needle.clone());
            }
        }
    }
    out
}

async fn look_health(env: &StepEnv, runbooks: &[Runbook]) -> Vec<HealthSeen> {
    let timeout = env.config.parity.health_timeout.get();
    let mut seen = Vec::new();
    // A few endpoints, each bounded by `health_timeout`: one after the other is enough.
    for endpoint in endpoints(&env.config, runbooks) {
        let answer = get(&env.http, &endpoint.url, timeout).await;
        seen.push(HealthSeen {
            url: endpoint.url,
            expect_status: endpoint.expect_status,
            expect_any: endpoint.expect_any,
            answer,
        });
    }
    seen
}

async fn get(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let exchange = async {
        let mut response = http.get(url).send().await?;
        let status = response.status().as_u16();
        let (body, _) = read_capped(&mut response, HEALTH_BODY_LIMIT).await?;
        Ok::<_, reqwest::Error>((status, String::from_utf8_lossy(&body).into_owned()))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(err)) => Err(describe(&err)),
        Err(_) => Err(format!(
            "no answer within {}",
            crate::duration::HumanDuration(timeout)
        )),
    }
}
