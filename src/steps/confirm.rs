//! `confirm`: ask a human in chat and wait for the answer. Questions are keyed by run and
//! step, so an answer routed from a button (or the console) reaches the waiting run, and a
//! question asked again after a restart is answered the same way.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::oneshot;

use super::{StepEnv, StepError, StepInput, StepOutput};
use crate::domain::Actor;
use crate::ports::chat::{Action, Button, ButtonStyle, Message};
use crate::runbook::Confirm;

/// A human's answer to a `confirm` step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub yes: bool,
    /// Who answered (display form of the actor).
    pub by: String,
}

/// An answer as the asking step receives it: with the person who gave it when the chat knows
/// them (the bot does), so a decision recorded from it names that person as its actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub answer: Answer,
    pub actor: Option<Actor>,
}

/// Open questions, waiting for answers.
#[derive(Debug, Default)]
pub struct Answers {
    waiting: Mutex<BTreeMap<String, oneshot::Sender<Answered>>>,
    /// Questions only an approver may answer (accepting more data loss than the RPO).
    approvers_only: Mutex<std::collections::BTreeSet<String>>,
}

impl Answers {
    pub fn key(run: &str, step: &str) -> String {
        format!("{run}:{step}")
    }

    fn register(&self, key: String) -> oneshot::Receiver<Answered> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.insert(key, tx);
        }
        rx
    }

    /// Registers a question; the future gets the answer (an error when it is withdrawn).
    pub fn ask(
        &self,
        key: String,
    ) -> impl std::future::Future<Output = Result<Answer, oneshot::error::RecvError>> + Send + use<>
    {
        let rx = self.register(key);
        async move { rx.await.map(|a| a.answer) }
    }

    /// Registers a question only a person with the approver role may answer; the receiver
    /// gets the answer with who gave it.
    pub fn ask_approver(&self, key: String) -> oneshot::Receiver<Answered> {
        if let Ok(mut only) = self.approvers_only.lock() {
            only.insert(key.clone());
        }
        self.register(key)
    }

    /// Whether the question needs an approver's answer (the chat checks the role).
    pub fn needs_approver(&self, key: &str) -> bool {
        self.approvers_only
            .lock()
            .is_ok_and(|only| only.contains(key))
    }

    /// Delivers an answer; false when nobody is waiting for that question.
    pub fn answer(&self, key: &str, answer: Answer) -> bool {
        self.deliver(
            key,
            Answered {
                answer,
                actor: None,
            },
        )
    }

    /// Delivers an answer given by `actor` (a person in chat).
    pub fn answer_as(&self, key: &str, answer: Answer, actor: Actor) -> bool {
        self.deliver(
            key,
            Answered {
                answer,
                actor: Some(actor),
            },
        )
    }

    fn deliver(&self, key: &str, answered: Answered) -> bool {
        if let Ok(mut only) = self.approvers_only.lock() {
            only.remove(key);
        }
        let sender = self.waiting.lock().ok().and_then(|mut w| w.remove(key));
        sender.is_some_and(|tx| tx.send(answered).is_ok())
    }

    /// The questions currently waiting.
    pub fn open(&self) -> Vec<String> {
        self.waiting
            .lock()
            .map(|w| w.keys().cloned().collect())
            .unwrap_or_default()
    }
}

pub async fn ask(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &Confirm,
) -> Result<StepOutput, StepError> {
    let question = input.expand(env, &args.question)?;
    let key = Answers::key(input.run.as_str(), &input.step.id);
    let answer = env.answers.ask(key.clone());
    let message = Message {
        pings: Box::default(),
        content: format!(
            "❓ {} — run {}, step `{}`",
            question, input.run, input.step.id
        ),
        embeds: Vec::new(),
        buttons: vec![
            Button {
                custom_id: Action::Confirm {
                    run: input.run.to_string(),
                    step: input.step.id.clone(),
                    yes: true,
                }
                .to_custom_id(),
                label: "Confirm".into(),
                style: ButtonStyle::Success,
            },
            Button {
                custom_id: Action::Confirm {
                    run: input.run.to_string(),
                    step: input.step.id.clone(),
                    yes: false,
                }
                .to_custom_id(),
                label: "Reject".into(),
                style: ButtonStyle::Danger,
            },
        ],
    }
    .simulated(env.aws_simulated());
    env.chat
        .post(&env.channel, &message)
        .await
        .map_err(|e| StepError::retryable(format!("cannot ask the question in chat: {e}")))?;
    let answer = answer
        .await
        .map_err(|_| StepError::invalid("the question was withdrawn"))?;
    let data = json!({ "question": question, "answer": if answer.yes { "yes" } else { "no" }, "by": answer.by });
    if answer.yes {
        Ok(StepOutput::new(format!("confirmed by {}", answer.by), data))
    } else {
        Err(StepError::invalid(format!("rejected by {}", answer.by)).with_data(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_reaches_the_waiting_question_once() {
        let answers = Answers::default();
        let rx = answers.ask(Answers::key("RUN-1", "confirm"));
        assert_eq!(answers.open(), vec!["RUN-1:confirm".to_string()]);
        let given = Answer {
            yes: true,
            by: "bob".into(),
        };
        assert!(answers.answer("RUN-1:confirm", given.clone()));
        assert!(
            !answers.answer("RUN-1:confirm", given.clone()),
            "answered already"
        );
        assert_eq!(rx.await.unwrap(), given);
        assert!(!answers.answer("RUN-2:x", given));
    }
}
