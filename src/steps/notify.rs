//! `notify` and `comms_draft`: tell a team on every route it has, and draft a communication
//! from the templates for approval. Nothing reaches a client from here: drafts are only posted
//! as drafts; sending needs a communicator's approval. Both share their code with the bot's
//! `/notify team` and `/comms draft` (see `crate::comms`).

use serde_json::json;

use super::{StepEnv, StepError, StepInput, StepOutput};
use crate::comms::{self, Audience, Kind, Scope};
use crate::domain::Actor;
use crate::runbook::{CommsDraft, Notify};

pub async fn notify(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &Notify,
) -> Result<StepOutput, StepError> {
    let team = env
        .config
        .team(&args.team)
        .ok_or_else(|| StepError::invalid(format!("unknown team `{}`", args.team)))?;
    let text = format!("[{}] {}", input.run, input.expand(env, &args.message)?);
    let store = env.comms.store.as_deref();
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
