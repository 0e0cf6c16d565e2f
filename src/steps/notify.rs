//! `notify` and `comms_draft`: tell a team on every route it has, and draft a communication
//! from the templates for approval. Nothing reaches a client from here: drafts are only posted
//! as drafts; sending needs a communicator's approval. Both share their code with the bot's
//! `/notify team` and `/comms draft` (see `crate::comms`).

use serde_json::json;

use super::{StepEnv, StepError, StepInput, StepOutput};
use crate::comms::{self, Audience, Kind, Scope};
use crate::domain::Actor;
use crate::runbook::{CommsDraft, Notify};
use crate::store::EventStore;

pub async fn notify(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &Notify,
) -> Result<StepOutput, StepError> {
    let team = env
        .config
        .team(&args.team)
        .ok_or_else(|| StepError::invalid(format!("unknown team `{}`", args.team)))?;
    let store = env.comms.store.as_deref();
    let text = format!("[{}] {}", input.run, message(env, input, args, store)?);
    let delivery = comms::delivery(env, store, input.incident, Some(input.run), Actor::Bot);
    let results = delivery.notify_team(team, &text).await;
    let summary = format!("told {}: {}", team.name, comms::summarise(&results));
    let data = json!({ "team": team.name, "text": text, "routes": results });
    if results.iter().all(|r| !r.ok) {
        return Err(StepError::retryable(format!(
            "notifying {} failed on every route: {}",
            team.name,
            comms::summarise(&results)
        ))
        .with_data(data));
    }
    Ok(StepOutput::new(summary, data))
}

/// The step's text: its `message` (after `${params}`/`${vars}`) or its `template`, rendered
/// with the facts of the run's incident (`crate::comms::facts`).
fn message(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &Notify,
    store: Option<&dyn EventStore>,
) -> Result<String, StepError> {
    let events = match store {
        Some(store) => store
            .all()
            .map_err(|e| StepError::retryable(format!("the event log: {e}")))?,
        None => Vec::new(),
    };
    let scope = Scope {
        incident: input.incident,
        run: Some(input.run),
    };
    let facts = comms::facts::gather(&events, &env.config, &scope, "internal", chrono::Utc::now());
    let rendered = match (&args.message, &args.template) {
        (Some(message), _) => {
            let expanded = input.expand(env, message)?;
            comms::template::render_str(&format!("step {}", input.step.id), &expanded, &facts)
        }
        (None, Some(name)) => comms::template::render(
            &env.config.paths.templates,
            &comms::template::resolve_name(name),
            &facts,
        ),
        (None, None) => Err("notify needs a `message` or a `template`".to_owned()),
    };
    rendered.map_err(StepError::invalid)
}

pub async fn draft(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &CommsDraft,
) -> Result<StepOutput, StepError> {
    let store =
        env.comms.store.clone().ok_or_else(|| {
            StepError::invalid("drafts need the event log (run under the engine)")
        })?;
    let scope = Scope {
        incident: input.incident,
        run: Some(input.run),
    };
    let made = comms::draft(
        env,
        store.as_ref(),
        Audience::from(args.audience),
        Kind::from(args.notice),
        scope,
        Actor::Bot,
    )
    .await
    .map_err(StepError::invalid)?;
    let posted = env
        .chat
        .post(&env.channel, &made.message)
        .await
        .map_err(|e| StepError::retryable(format!("posting the draft failed: {e}")))?;
    Ok(StepOutput::new(
        format!(
            "drafted {} from {} ({})",
            made.id, made.template, made.polished.writer
        ),
        json!({
            "draft": made.id,
            "template": made.template,
            "text": made.text,
            "writer": made.polished.writer,
            "message": posted,
        }),
    ))
}
