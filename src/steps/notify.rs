//! `notify` and `comms_draft`: tell a team on every route it has, and draft a communication
//! from the templates for approval. Nothing reaches a client from here: drafts are only posted
//! as drafts; sending needs a communicator's approval. Both share their code with the bot's
//! `/notify team` and `/comms draft` (see `crate::comms`).

use serde_json::json;

use super::{StepEnv, StepError, StepInput, StepOutput};
use crate::comms::{self, Audience, Kind, Scope};
use crate::domain::Actor;
use crate::ports::store::EventStore;
use crate::runbook::interp::{self, Namespace};
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
    let store = env.comms.store.as_deref();
    let text = format!("[{}] {}", input.run, message(env, input, args, store)?);
    let delivery = comms::delivery(
        env.comms_env(),
        store,
        input.incident,
        Some(input.run),
        Actor::Bot,
    );
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

/// The step's text: its `message` or its `template`, rendered with the facts of the run's
/// incident (`crate::comms::facts`). A message's `${params.*}`/`${vars.*}` are values, never
/// template code (a parameter typed in chat may hold `{{`): each becomes a template variable
/// holding the value. A message with no template syntax needs no facts and reads no log.
fn message(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &Notify,
    store: Option<&dyn EventStore>,
) -> Result<String, StepError> {
    let name = format!("step {}", input.step.id);
    let rendered = match (&args.message, &args.template) {
        (Some(message), _) => {
            // Checks every reference (and says which one has no value) before anything else.
            let plain = input.expand(env, message)?;
            if !is_template(message) {
                return Ok(plain.trim().to_owned());
            }
            let facts = facts(env, input, store)?;
            render_message(&name, message, &facts, |r| match r.namespace {
                Namespace::Params => input.params.get(&r.name).cloned(),
                Namespace::Vars => env.config.vars.get(&r.name).cloned(),
                Namespace::Env => None,
            })
        }
        (None, Some(template)) => comms::template::render(
            &env.config.paths.templates,
            &comms::template::resolve_name(template),
            &facts(env, input, store)?,
        ),
        (None, None) => Err("notify needs a `message` or a `template`".to_owned()),
    };
    rendered.map_err(StepError::invalid)
}

/// Whether `text` uses template syntax (an expression, a statement or a comment).
fn is_template(text: &str) -> bool {
    ["{{", "{%", "{#"].iter().any(|open| text.contains(open))
}

/// The facts of the run's scope, from the events that scope needs.
fn facts(
    env: &StepEnv,
    input: &StepInput<'_>,
    store: Option<&dyn EventStore>,
) -> Result<comms::Facts, StepError> {
    let scope = Scope {
        incident: input.incident,
        run: Some(input.run),
    };
    let events = match store {
        Some(store) => comms::scope_events(store, &scope).map_err(StepError::retryable)?,
        None => Vec::new(),
    };
    Ok(comms::facts::gather(
        &events,
        &env.config,
        &scope,
        "internal",
        chrono::Utc::now(),
    ))
}

/// The prefix of the template variables that carry a message's `${...}` values.
const VALUE_PREFIX: &str = "lifeboat_value_";

/// Renders `message` as a template with `facts`, each `${...}` in it replaced by a variable
/// holding `lookup`'s value, so the value is printed as it is and never evaluated.
fn render_message(
    name: &str,
    message: &str,
    facts: &comms::Facts,
    mut lookup: impl FnMut(&interp::Reference) -> Option<String>,
) -> Result<String, String> {
    let mut context = match serde_json::to_value(facts) {
        Ok(serde_json::Value::Object(map)) => map,
        other => {
            return Err(format!(
                "template {name}: the facts are not a map: {other:?}"
            ));
        }
    };
    let mut values = Vec::new();
    let text = interp::expand(message, |r| {
        let value = lookup(r)?;
        let var = format!("{VALUE_PREFIX}{}", values.len());
        values.push((var.clone(), value));
        Some(format!("{{{{ {var} }}}}"))
    })?;
    for (var, value) in values {
        context.insert(var, serde_json::Value::String(value));
    }
    let mut jinja = minijinja::Environment::new();
    jinja.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    jinja
        .render_str(&text, serde_json::Value::Object(context))
        .map(|out| out.trim().to_owned())
        .map_err(|e| format!("template {name}: {e}"))
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
        env.comms_env(),
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
