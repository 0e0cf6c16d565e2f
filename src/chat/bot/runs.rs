//! The runbook commands on runbooks and runs: `/runbook list|plan|status|resume|cancel` and
//! the answers to a step's question (confirm buttons); a run's state read from its events.

use super::{Bot, Reply, actor};
use crate::approval::{self, Person, Role};
use crate::chat::command::Command;
use crate::domain::RunId;
use crate::domain::event::NewEvent;
use crate::engine::plan::plan;
use crate::engine::{Decision, EngineError};
use crate::events::{CommandRefused, EventKind};
use crate::runbook::state::{RunStatus, fold};
use crate::steps::confirm::{Answer, Answers};

impl Bot {
    /// `/runbook list|plan|status|resume|cancel` and confirm buttons (routed here by
    /// `Bot::handle`).
    pub(super) async fn run_command(&self, command: Command, who: &Person) -> Reply {
        match command {
            Command::RunbookList => self.list(),
            Command::RunbookPlan { name, params } => match self.runbook(&name) {
                Ok(rb) => Reply::private(plan(self.engine.env(), rb, &params).await.human()),
                Err(reply) => reply,
            },
            Command::RunbookStatus => Reply::private(self.status()),
            Command::RunbookDecide { run, decision } => self.decide(run, decision, who),
            Command::RunbookCancel { run } => self.cancel(run, who),
            Command::Confirm { run, step, yes } => self.confirm(&run, &step, yes, who),
            other => Self::misrouted("run", &other),
        }
    }

    /// `/runbook list`: each runbook's name, title, workstream and length.
    fn list(&self) -> Reply {
        Reply::private(
            self.runbooks
                .iter()
                .map(|r| {
                    format!(
                        "{} — {} ({}, {} steps)",
                        r.name,
                        r.title,
                        r.workstream,
                        r.steps.len()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }

    /// `/runbook resume` (and the paused run's buttons): retry, skip or abort its step.
    fn decide(&self, run: String, decision: Decision, who: &Person) -> Reply {
        match self
            .engine
            .decide(&RunId(run.clone()), decision, actor(who))
        {
            Ok(()) => Reply::private(format!("{run}: {decision:?} sent"))
                .settling(format!("{decision:?} chosen by {}", who.name)),
            Err(err @ (EngineError::NotPaused(_) | EngineError::UnknownRun(_))) => {
                Reply::private(err.to_string()).settling("no longer paused")
            }
            Err(err) => Reply::private(err.to_string()),
        }
    }

    /// `/runbook cancel`: the run stops after its current step.
    fn cancel(&self, run: String, who: &Person) -> Reply {
        match self.engine.cancel(&RunId(run.clone()), actor(who)) {
            Ok(()) => Reply::private(format!("{run} will stop after its current step")),
            Err(err) => Reply::private(err.to_string()),
        }
    }

    /// A confirm button: answers a step's question. Accepting more data loss than the RPO
    /// takes an approver other than the run's requester.
    fn confirm(&self, run: &str, step: &str, yes: bool, who: &Person) -> Reply {
        let key = Answers::key(run, step);
        // Accepting more data loss than the RPO is an approver's decision.
        if self.answers.needs_approver(&key)
            && !approval::holds(&self.config.access, who, Role::Approver)
        {
            self.append(NewEvent::of(
                actor(who),
                // The shape of every refusal (the reply names the run and step).
                CommandRefused {
                    command: "confirm".to_owned(),
                    needs: Role::Approver.as_str().to_owned(),
                },
            ));
            return Reply::private(format!(
                "Refused: only an approver may answer {run} step {step} (it accepts more data loss than the RPO)."
            ));
        }
        // Two-person rule: whoever asked for the run does not also accept its loss.
        if self.answers.needs_approver(&key)
            && self.requester_of(run).as_deref() == Some(who.id.as_str())
        {
            self.append(NewEvent::of(
                actor(who),
                CommandRefused {
                    command: "confirm".to_owned(),
                    needs: "an approver other than the requester".to_owned(),
                },
            ));
            return Reply::private(format!(
                "Refused: you requested {run}; another approver must accept more data loss than the RPO for step {step}."
            ));
        }
        // The answer carries the person, so what the step records names them.
        if self.answers.answer_as(
            &key,
            Answer {
                yes,
                by: who.name.clone(),
            },
            actor(who),
        ) {
            let answer = if yes { "confirmed" } else { "rejected" };
            Reply::private(format!("{answer} for {run} step {step}"))
                .settling(format!("{answer} by {}", who.name))
        } else {
            Reply::private(format!("no open question for {run} step {step}"))
                .settling("no longer open")
        }
    }

    /// `/runbook status`: the open incident, the active runs and the pending requests.
    fn status(&self) -> String {
        let mut out = String::new();
        match self.open_incident() {
            Some((id, title)) => out.push_str(&format!("incident: {id} {title}\n")),
            None => out.push_str("incident: none open\n"),
        }
        let runs = self.engine.active().unwrap_or_default();
        if runs.is_empty() {
            out.push_str("runs: none active\n");
        }
        for run in runs {
            let state = match &run.status {
                RunStatus::Paused { step, reason } => format!("PAUSED at {step}: {reason}"),
                other => format!("{other:?}").to_lowercase(),
            };
            out.push_str(&format!(
                "run {} ({}): {} steps done, {state}\n",
                run.run,
                run.runbook,
                run.finished.len()
            ));
        }
        let pending: Vec<String> = self
            .lock()
            .values()
            .filter(|r| !r.closed && r.expires_at > self.clock.now())
            .map(|r| {
                format!(
                    "{} ({}, {}/{} approvals)",
                    r.id,
                    r.runbook,
                    r.approvals.len(),
                    r.required
                )
            })
            .collect();
        if !pending.is_empty() {
            out.push_str(&format!("requests: {}\n", pending.join(", ")));
        }
        out
    }

    /// A run's state, from its events.
    pub fn run(&self, run: &RunId) -> Option<crate::runbook::state::RunView> {
        self.store.by_run(run).ok().and_then(|e| fold(&e).pop())
    }

    /// Every run's state in order of start (the kind index names them; each run's own events
    /// are read): its cost grows with the runs on record, so no command path calls it.
    pub fn runs(&self) -> Vec<crate::runbook::state::RunView> {
        let started = self.store.filed(&[EventKind::RunStarted.as_str()]);
        started
            .unwrap_or_default()
            .into_iter()
            .filter_map(|filed| self.run(&filed.run?))
            .collect()
    }

    /// The id of the person who requested a run (read from the log: the request its
    /// approval named).
    fn requester_of(&self, run: &str) -> Option<String> {
        crate::views::requester_of(self.store.as_ref(), &RunId(run.to_owned()))
            .inspect_err(|err| tracing::error!(error = %err, "the event log could not be read"))
            .ok()
            .flatten()
    }
}
