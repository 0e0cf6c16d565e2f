//! The looking behind `lifeboat parity`, its readiness lines and the weekly check: Heroku
//! through the `Platform` port, the standby through `Containers`, and the app's health
//! endpoints (the URLs the runbooks' `http_check` steps poll) with reqwest GETs, Heroku and ECS
//! concurrently. What it saw goes to the pure [`super::drift::compare`]. Also the running of
//! the LLM parity suite through the `Llm` port ([`run_suite`]), measured by [`super::llm`].

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;

use super::drift::{EcsSeen, HealthSeen, HerokuSeen, Observations, ParityReport, ServiceSeen};
use super::llm::{PromptResult, ProviderRun};
use super::suite::Suite;
use crate::config::{AwsMode, Config, HerokuConfig, Secret, SecretSource};
use crate::ports::aws::ServiceState;
use crate::ports::heroku::PlatformTarget;
use crate::ports::http::{describe, read_capped, truncate_chars};
use crate::ports::llm::{Llm, LlmError, LlmRequest};
use crate::runbook::interp::{self, Namespace};
use crate::runbook::{Runbook, StepAction};
use crate::steps::StepEnv;

/// How much of a health answer is searched for the expected words.
const HEALTH_BODY_LIMIT: usize = 64 * 1024;
/// Characters of an LLM answer kept for people to read.
const ANSWER_KEPT: usize = 200;

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

/// Why a simulated standby is not compared: its services and task definitions are made up
/// on the spot, so every difference from Heroku would be invented.
pub const SIMULATED: &str =
    "standby is simulated: no real standby to compare ([aws] mode = \"simulated\")";

async fn look_ecs(env: &StepEnv) -> Result<EcsSeen, String> {
    if env.aws.mode == AwsMode::Simulated {
        return Err(SIMULATED.to_owned());
    }
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
            .describe_service(&ecs.cluster, &service.name)
            .await;
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
    /// The lowest `max_latency` of the runbooks' checks of it.
    pub max_latency: Option<Duration>,
}

/// The URLs of the runbooks' `http_check` steps (expanded with `[vars]` and parameter
/// defaults), each once, with the lowest `max_latency` any of them allows and every word some
/// runbook expects in its body: the app answers
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
                        max_latency: None,
                    });
                    out.last_mut().expect("just pushed")
                }
            };
            if let Some(max) = check.max_latency.map(|d| d.get()) {
                endpoint.max_latency = Some(endpoint.max_latency.map_or(max, |m| m.min(max)));
            }
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
        let started = std::time::Instant::now();
        let answer = get(&env.http, &endpoint.url, timeout).await;
        let latency = answer.is_ok().then(|| started.elapsed());
        seen.push(HealthSeen {
            url: endpoint.url,
            expect_status: endpoint.expect_status,
            expect_any: endpoint.expect_any,
            max_latency: endpoint.max_latency,
            answer,
            latency,
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

/// Runs every prompt of `suite` against `provider`, one after the other (so latencies are
/// not skewed by the suite competing with itself), each bounded by `timeout` and by the
/// provider's own `timeout`.
pub async fn run_suite(
    llm: &dyn Llm,
    config: &Config,
    secrets: &dyn SecretSource,
    provider: &str,
    suite: &Suite,
    timeout: Duration,
) -> ProviderRun {
    let mut run = ProviderRun {
        provider: provider.to_owned(),
        model: None,
        skipped: None,
        results: Vec::new(),
        total: suite.prompts.len(),
    };
    let Some(settings) = config.llm.provider(provider) else {
        run.skipped = Some(format!("no [llm.{provider}] in the config"));
        return run;
    };
    run.model = Some(settings.model.clone());
    let Some(key) = secrets.get(&settings.key_env) else {
        run.skipped = Some(format!(
            "the environment variable {} is not set",
            settings.key_env
        ));
        return run;
    };
    for prompt in &suite.prompts {
        let answer = llm
            .complete(LlmRequest {
                provider,
                config: settings,
                key: &key,
                prompt: &prompt.prompt,
                max_tokens: prompt.max_tokens,
                timeout: timeout.min(settings.timeout.get()),
            })
            .await;
        run.results.push(match answer {
            Ok(done) => PromptResult {
                id: prompt.id.clone(),
                latency: Some(done.latency),
                timed_out: false,
                failures: prompt.checks.judge(&done.text, Some(done.latency)),
                answer: Some(truncate_chars(&done.text, ANSWER_KEPT)),
            },
            // No answer within the bound: it took at least that long, which the
            // percentiles must not leave out.
            Err(err @ LlmError::Timeout { timeout, .. }) => PromptResult {
                id: prompt.id.clone(),
                latency: Some(timeout),
                timed_out: true,
                failures: vec![err.to_string()],
                answer: None,
            },
            Err(err) => PromptResult {
                id: prompt.id.clone(),
                latency: None,
                timed_out: false,
                failures: vec![err.to_string()],
                answer: None,
            },
        });
    }
    run
}
