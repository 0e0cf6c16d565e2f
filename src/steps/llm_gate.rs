//! `llm_parity`: the gate before the LLM switch. Runs the parity suite against the provider
//! about to take over, records the result (`llm.parity_gated`, which the post-mortem shows),
//! and fails — so the run stops before the flip — when the provider passes less than the
//! minimum share.

use tracing::{info, instrument};

use super::http::within_step;
use super::{StepEnv, StepError, StepInput, StepOutput};
use crate::domain::Actor;
use crate::domain::event::NewEvent;
use crate::events::{LlmParityGated, Payload};
use crate::parity::gather::run_suite;
use crate::parity::suite;
use crate::runbook::LlmParity;

/// The kind of the event that records a gate's result.
pub const GATED: &str = crate::events::EventKind::LlmParityGated.as_str();

#[instrument(skip_all, fields(run = %input.run, step = %input.step.id, provider = %args.provider))]
pub async fn gate(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &LlmParity,
) -> Result<StepOutput, StepError> {
    let config = &env.config;
    let path = args
        .suite
        .clone()
        .unwrap_or_else(|| config.parity.llm_suite_path(&config.paths));
    let suite = suite::load(&path).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        StepError::invalid(format!(
            "the LLM parity suite cannot be used: {}",
            lines.join("; ")
        ))
    })?;
    let min = args.min_pass.unwrap_or(config.parity.llm_min_pass);
    let measured = run_suite(
        env.llm.as_ref(),
        config,
        env.secrets.as_ref(),
        &args.provider,
        &suite,
        within_step(input.step.timeout.get()),
    )
    .await;
    let open = measured.meets(min);
    let gated = Payload::LlmParityGated(LlmParityGated {
        provider: measured.provider.clone(),
        model: measured.model.clone(),
        suite: path.display().to_string(),
        min_pass: min,
        passed: measured.passed() as u64,
        total: measured.total as u64,
        share: measured.share(),
        p50_ms: measured.p50().map(|d| d.as_millis() as u64),
        p95_ms: measured.p95().map(|d| d.as_millis() as u64),
        skipped: measured.skipped.clone(),
        failures: measured.failures(),
        gate: if open { "open" } else { "closed" }.to_owned(),
    });
    // The step's output is the event's data.
    let data = gated.to_data();
    if let Some(store) = &env.comms.store {
        let mut event = NewEvent::of(Actor::Bot, gated).run(input.run.clone());
        if let Some(incident) = input.incident {
            event = event.incident(incident.clone());
        }
        if let Err(err) = store.append(event) {
            tracing::error!(error = %err, "the gate's result could not be stored");
        }
    }
    info!(share = measured.share(), min, open, "LLM parity gate");
    if open {
        Ok(StepOutput::new(
            format!(
                "{} (minimum {:.0}%): the switch may go ahead",
                measured.line(),
                min * 100.0
            ),
            data,
        ))
    } else {
        let failed = measured.failures();
        Err(StepError::invalid(format!(
            "{}, below the minimum {:.0}%: the switch stops here{}",
            measured.line(),
            min * 100.0,
            if failed.is_empty() {
                String::new()
            } else {
                format!(". Failed: {}", failed.join(" | "))
            }
        ))
        .with_data(data))
    }
}

/// What the gate would do, for `lifeboat plan`.
pub fn plan(env: &StepEnv, args: &LlmParity) -> Vec<String> {
    let config = &env.config;
    let path = args
        .suite
        .clone()
        .unwrap_or_else(|| config.parity.llm_suite_path(&config.paths));
    let prompts = suite::load(&path).map_or_else(
        |_| "(cannot be read now)".to_owned(),
        |s| format!("{} prompts", s.prompts.len()),
    );
    vec![format!(
        "run the LLM parity suite {} ({prompts}) against {} and stop unless it passes at least {:.0}%",
        path.display(),
        args.provider,
        args.min_pass.unwrap_or(config.parity.llm_min_pass) * 100.0
    )]
}
