//! `notify` and `comms_draft`: tell a team in its channel, and draft a communication from the
//! templates for approval. Nothing reaches a client from here: drafts are only posted as
//! drafts; sending needs a communicator's approval.

use serde_json::json;

use super::{StepEnv, StepError, StepInput, StepOutput};
use crate::chat::{ChannelId, Message};
use crate::runbook::{Audience, CommsDraft, NoticeKind, Notify};

pub async fn notify(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &Notify,
) -> Result<StepOutput, StepError> {
    let team = env
        .config
        .team(&args.team)
        .ok_or_else(|| StepError::invalid(format!("unknown team `{}`", args.team)))?;
    let text = input.expand(env, &args.message)?;
    let mention = team
        .role_id
        .as_deref()
        .map(|r| format!("<@&{r}> "))
        .unwrap_or_default();
    let channel = team
        .channel_id
        .clone()
        .map(ChannelId)
        .unwrap_or_else(|| env.channel.clone());
    let content = format!("{mention}[{}] {text}", input.run);
    let posted = env
        .chat
        .post(
            &channel,
            &Message {
                content: content.clone(),
                ..Message::default()
            },
        )
        .await
        .map_err(|e| StepError::retryable(format!("notifying {} failed: {e}", team.name)))?;
    Ok(StepOutput::new(
        format!("told {} in #{}", team.name, channel.0),
        json!({ "team": team.name, "channel": channel, "text": content, "message": posted }),
    ))
}

fn template_name(args: &CommsDraft) -> String {
    let audience = match args.audience {
        Audience::Clients => "clients",
        Audience::Internal => "internal",
    };
    let notice = match args.notice {
        NoticeKind::Initial => "initial",
        NoticeKind::Update => "update",
        NoticeKind::Resolved => "resolved",
    };
    format!("{audience}-{notice}.md.j2")
}

pub async fn draft(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &CommsDraft,
) -> Result<StepOutput, StepError> {
    let name = template_name(args);
    let path = env.config.paths.templates.join(&name);
    let template = std::fs::read_to_string(&path)
        .map_err(|e| StepError::invalid(format!("template {} unreadable: {e}", path.display())))?;
    // Facts known to the run; the comms module adds the incident's own facts.
    let data_loss = input
        .earlier
        .values()
        .find_map(|out| out["age_secs"].as_u64())
        .map(|secs| crate::duration::format_elapsed(std::time::Duration::from_secs(secs)));
    let steps_done: Vec<&String> = input.earlier.keys().collect();
    // The providers whose outage this workstream's runbooks answer (Heroku for hosting,
    // OpenAI for the LLM switch).
    let providers: Vec<String> = env
        .config
        .providers
        .iter()
        .filter(|p| p.runbook.is_some() && Some(p.workstream) == input.workstream)
        .map(|p| p.title.clone().unwrap_or_else(|| p.name.clone()))
        .collect();
    let facts = json!({
        "company": env.config.vars.get("company").cloned().unwrap_or_else(|| "Our service".into()),
        "incident": input.incident.map(|i| i.to_string()).unwrap_or_else(|| input.run.to_string()),
        "audience": name.split('-').next(),
        "status": "mitigating",
        "providers": providers,
        "services": vec!["the application"],
        "started_at": chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        "steps_done": steps_done,
        "expected_recovery": serde_json::Value::Null,
        "data_loss_window": data_loss,
        "now": chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        "drill": false,
    });
    let env_j = minijinja::Environment::new();
    let text = env_j
        .render_str(&template, &facts)
        .map_err(|e| StepError::invalid(format!("template {name}: {e}")))?;
    let posted = env
        .chat
        .post(
            &env.channel,
            &Message {
                content: format!(
                    "📝 DRAFT ({name}, not sent; needs a communicator's approval)\n{text}"
                ),
                ..Message::default()
            },
        )
        .await
        .map_err(|e| StepError::retryable(format!("posting the draft failed: {e}")))?;
    Ok(StepOutput::new(
        format!("drafted {name}"),
        json!({ "template": name, "text": text, "message": posted }),
    ))
}
