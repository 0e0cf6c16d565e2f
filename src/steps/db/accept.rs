//! Asking an approver to accept more data loss than the limit allows: the question in the
//! incident channel with its two buttons, the answer, and the record of a yes
//! (`db.data_loss_accepted`), without which the acceptance does not count.

use tracing::{info, warn};

use super::loss::Loss;
use crate::domain::Actor;
use crate::domain::event::NewEvent;
use crate::duration::format_elapsed;
use crate::ports::chat::{Action, Button, ButtonStyle, Message};
use crate::ports::data::{BackupInfo, stamp};
use crate::steps::confirm::{Answered, Answers};
use crate::steps::{StepEnv, StepError, StepInput};

/// Asks the incident channel whether to restore a backup older than the limit; only an
/// approver's yes counts, and it is recorded. `Err` when refused.
pub(super) async fn accept_more_loss(
    env: &StepEnv,
    input: &StepInput<'_>,
    backup: &BackupInfo,
    loss: &Loss,
    limit_name: &str,
) -> Result<String, StepError> {
    let question = format!(
        "Restoring backup {} loses {} of data (its data is from {}, the outage began at {}), more than {limit_name}; it is {} old now. An approver may accept that and restore it; otherwise the run stops here, before DNS moves.",
        backup.location,
        format_elapsed(loss.window),
        stamp(backup.data_at()),
        stamp(loss.outage_start),
        format_elapsed(loss.age)
    );
    let key = Answers::key(input.run.as_str(), &input.step.id);
    let answer = env.answers.ask_approver(key.clone());
    let message = question_message(input, &question);
    let refused = || {
        StepError::invalid(format!(
            "backup {} would lose {} of data before the outage, more than {limit_name} ({} old now): the run stops before DNS moves (an approver may accept more data loss when the step is retried)",
            backup.location,
            format_elapsed(loss.window),
            format_elapsed(loss.age)
        ))
    };
    if let Err(err) = env.chat.post(&env.channel, &message).await {
        warn!(error = %err, "cannot ask to accept more data loss");
        return Err(refused());
    }
    let Ok(Answered { answer, actor }) = answer.await else {
        return Err(refused());
    };
    if !answer.yes {
        return Err(StepError::invalid(format!(
            "{} (refused by {})",
            refused().message,
            answer.by
        )));
    }
    if let Some(store) = &env.comms.store {
        // The approver who answered is the actor; the bot only when the answer came without
        // a person (never through chat).
        let mut event = NewEvent::of(
            actor.unwrap_or(Actor::Bot),
            crate::events::DbDataLossAccepted {
                step: input.step.id.clone(),
                by: answer.by.clone(),
                backup: backup.key.clone(),
                location: backup.location.clone(),
                age_secs: loss.age.as_secs(),
                window_secs: Some(loss.window.as_secs()),
                outage_start: Some(stamp(loss.outage_start)),
                limit: limit_name.to_owned(),
                question,
            },
        )
        .run(input.run.clone());
        if let Some(incident) = input.incident {
            event = event.incident(incident.clone());
        }
        if let Err(err) = store.append(event) {
            // Without the record the acceptance does not count.
            return Err(StepError::retryable(format!(
                "the acceptance could not be recorded: {err}"
            )));
        }
    }
    info!(by = %answer.by, "more data loss accepted");
    Ok(answer.by)
}

/// The question with its two answers: accept (danger) or stop the run.
fn question_message(input: &StepInput<'_>, question: &str) -> Message {
    let button = |yes: bool, label: &str, style: ButtonStyle| Button {
        custom_id: Action::Confirm {
            run: input.run.to_string(),
            step: input.step.id.clone(),
            yes,
        }
        .to_custom_id(),
        label: label.into(),
        style,
    };
    Message {
        pings: Box::default(),
        content: format!(
            "⚠️ {question} — run {}, step `{}`",
            input.run, input.step.id
        ),
        embeds: Vec::new(),
        buttons: vec![
            button(true, "Accept more data loss", ButtonStyle::Danger),
            button(false, "Stop the run", ButtonStyle::Secondary),
        ],
    }
}
