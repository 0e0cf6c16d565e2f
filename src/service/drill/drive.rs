//! The drill's script, step by step: the outage, the alerts, the declaration, the run requests
//! and approvals, the runs measured against the objectives, the recovery.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

use super::data::Throwaway;
use super::{Scripted, print_line};
use crate::approval::Person;
use crate::chat::bot::Bot;
use crate::chat::command::Command;
use crate::chat::recorder::RecordingChat;
use crate::config::Config;
use crate::db::DataEdges;
use crate::domain::Actor;
use crate::domain::event::NewEvent;
use crate::domain::{IncidentId, RunId};
use crate::drill::figures::DetectionBound;
use crate::drill::{DRILL_MARK, Drilled, Outcome, Target, mark, person};
use crate::duration::format_elapsed;
use crate::events::{DrillMarked, DrillOutageSimulated, DrillStarted, StepStarted};
use crate::ports::chat::Action;
use crate::ports::store::EventStore;
use crate::runbook::StepKind;
use crate::runbook::state::RunStatus;
use crate::store::SledStore;

async fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!(
                "the drill gave up waiting for {what} after {}",
                format_elapsed(timeout)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the drill's script acts on: the drill's bot, log, chat and feeds.
pub(super) struct Stage<'a> {
    pub bot: &'a Bot,
    pub store: &'a Arc<SledStore>,
    pub recorder: &'a RecordingChat,
    pub script: &'a Scripted,
    pub config: &'a Config,
    /// The user's config: its feeds' intervals bound a real outage's detection.
    pub base: &'a Config,
    pub targets: &'a [Target],
    /// The drill's throwaway cluster and the edges its steps act through, when it has one.
    pub data: Option<(&'a Throwaway, &'a DataEdges)>,
}

impl Stage<'_> {
    /// Plays the script: the outage, its detection, the declaration, the runs requested,
    /// approved and measured, the recovery, the resolution.
    pub(super) async fn drive(&self) -> anyhow::Result<Drilled> {
        let outage = self.take_down().await?;
        let detections = self.detect(outage).await?;
        let (incident, commander) = self.declare().await?;
        self.prepare_data(&incident).await?;
        let runs = self.request_and_approve().await?;
        let outcomes = self.measure(runs, &detections, outage).await?;
        self.bring_back().await?;
        print_reply(self.bot.handle(Command::IncidentResolve, &commander).await);
        Ok(Drilled {
            outcomes,
            incident,
            data: String::new(),
            real_aws: false,
        })
    }

    /// With a throwaway cluster: the primary's rows end `SEED_GAP` before the outage's start
    /// (as the data-loss window counts it, now that the incident is declared), its backup is
    /// taken, and it goes down with the provider.
    async fn prepare_data(&self, incident: &IncidentId) -> anyhow::Result<()> {
        let Some((throwaway, edges)) = self.data else {
            return Ok(());
        };
        let log = crate::views::incident_log(self.store.as_ref(), incident)?;
        let start = crate::incident::outage_start(&log, incident)
            .ok_or_else(|| anyhow!("the drill incident {incident} is not in its log"))?;
        let line = throwaway
            .prepare(self.config, edges, self.store.as_ref(), start)
            .await?;
        println!("== {DRILL_MARK} {line} ==");
        Ok(())
    }

    /// Settles on green, then takes the targets down; the outage's start.
    async fn take_down(&self) -> anyhow::Result<Instant> {
        println!(
            "== DRILL: {} — everything below is simulated{} ==",
            self.targets
                .iter()
                .map(|t| t.title.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
            if self.data.is_some() {
                ", but the data: it is restored for real, in a throwaway PostgreSQL of the drill's own"
            } else {
                ""
            }
        );
        self.store.append(NewEvent::of(
            Actor::Scheduler,
            DrillStarted {
                providers: self.targets.iter().map(|t| t.provider.clone()).collect(),
                mode: Some(crate::events::DrillMode::Automatic),
            },
        ))?;
        // Settle on green, then the disaster.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let outage = Instant::now();
        for t in self.targets {
            println!("== {DRILL_MARK} {} goes down ==", t.title);
            // Logged at the flip: the drill's detection time counts from this event.
            self.store.append(NewEvent::of(
                Actor::Scheduler,
                DrillOutageSimulated {
                    provider: t.provider.clone(),
                    detection_bound: Some(DetectionBound::of(self.base, &t.provider).to_string()),
                },
            ))?;
            if t.provider == "heroku" {
                &self.script.heroku_down
            } else {
                &self.script.openai_down
            }
            .store(true, Ordering::SeqCst);
        }
        Ok(outage)
    }

    /// Waits for each target's confirmed alert: how long each took to be detected.
    async fn detect(&self, outage: Instant) -> anyhow::Result<BTreeMap<String, Duration>> {
        let mut detections = BTreeMap::new();
        for t in self.targets {
            let title = t.title.clone();
            wait_until(
                &format!("the {title} alert"),
                Duration::from_secs(30),
                || {
                    self.recorder
                        .posts()
                        .iter()
                        .any(|m| m.content.contains("CONFIRMED") && m.content.contains(&title))
                        .then_some(())
                },
            )
            .await?;
            detections.insert(t.provider.clone(), outage.elapsed());
        }
        Ok(detections)
    }

    /// The commander declares the drill's incident, marked as a drill.
    async fn declare(&self) -> anyhow::Result<(IncidentId, Person)> {
        let commander = person("commander", "responder");
        let title = format!(
            "[DRILL] {} outage",
            self.targets
                .iter()
                .map(|t| t.title.as_str())
                .collect::<Vec<_>>()
                .join(" + ")
        );
        print_reply(
            self.bot
                .handle(
                    Command::IncidentDeclare {
                        title,
                        // Every simulated outage is a major one.
                        severity: Some(crate::incident::Severity::Sev1),
                        commander: None,
                        alert: None,
                    },
                    &commander,
                )
                .await,
        );
        let (incident, _) = self
            .bot
            .open_incident()
            .ok_or_else(|| anyhow!("the drill incident was not declared"))?;
        self.store.append(
            NewEvent::of(Actor::Scheduler, DrillMarked { drill: true }).incident(incident.clone()),
        )?;
        Ok((incident, commander))
    }

    /// Each target's runbook, requested by one person and approved by the next ones; the
    /// runs started.
    async fn request_and_approve(&self) -> anyhow::Result<Vec<(Target, String)>> {
        let mut runs = Vec::new();
        for t in self.targets {
            let reply = self
                .bot
                .handle(
                    Command::RunbookRun {
                        name: t.runbook.clone(),
                        params: BTreeMap::new(),
                    },
                    &person("alice", "responder"),
                )
                .await;
            let request = reply
                .message
                .buttons
                .iter()
                .find_map(|b| match Action::parse(&b.custom_id) {
                    Ok(Action::Approve { request }) => Some(request),
                    _ => None,
                })
                .ok_or_else(|| {
                    anyhow!(
                        "the {} request was not posted: {}",
                        t.runbook,
                        reply.message.content
                    )
                })?;
            print_reply(reply);
            let mut started = None;
            for approver in ["bob", "carol", "dan"] {
                let reply = self
                    .bot
                    .handle(
                        Command::Approve {
                            request: request.clone(),
                        },
                        &person(approver, "approver"),
                    )
                    .await;
                let run = reply
                    .message
                    .content
                    .split_whitespace()
                    .find(|w| w.starts_with("RUN-"))
                    .map(str::to_owned);
                print_reply(reply);
                if run.is_some() {
                    started = run;
                    break;
                }
            }
            let run = started.ok_or_else(|| anyhow!("{} was never approved", t.runbook))?;
            runs.push((t.clone(), run));
        }
        Ok(runs)
    }

    /// Waits for each run to end and measures it against the objectives.
    async fn measure(
        &self,
        runs: Vec<(Target, String)>,
        detections: &BTreeMap<String, Duration>,
        outage: Instant,
    ) -> anyhow::Result<Vec<Outcome>> {
        let mut outcomes = Vec::new();
        for (t, run) in runs {
            let view = wait_until(&format!("run {run}"), Duration::from_secs(120), || {
                self.bot
                    .run(&RunId(run.clone()))
                    .filter(|v| v.status.is_terminal())
            })
            .await?;
            let recovery = outage.elapsed();
            let data_loss = crate::incident::loss_window_secs(&self.store.by_run(&view.run)?, true)
                .map(Duration::from_secs);
            let status = match &view.status {
                RunStatus::Succeeded => "succeeded".to_owned(),
                other => format!("{other:?}").to_lowercase(),
            };
            outcomes.push(Outcome {
                provider: t.provider.clone(),
                runbook: t.runbook.clone(),
                run,
                detection: detections.get(&t.provider).copied().unwrap_or_default(),
                bound: DetectionBound::of(self.base, &t.provider),
                recovery,
                rto: self
                    .config
                    .objectives
                    .rto_for(t.workstream)
                    .map(|d| d.get())
                    .unwrap_or_default(),
                data_loss,
                rpo: self.config.objectives.rpo.get(),
                status,
                workstream_has_data: self
                    .store
                    .by_run(&view.run)?
                    .iter()
                    .filter_map(|e| e.data_as::<StepStarted>())
                    .any(|s| matches!(s.kind, Some(StepKind::DbRestore | StepKind::DbCopy))),
            });
        }
        Ok(outcomes)
    }

    /// Brings the targets back and waits for each recovery notice.
    async fn bring_back(&self) -> anyhow::Result<()> {
        for t in self.targets {
            println!("== {DRILL_MARK} {} comes back ==", t.title);
            if t.provider == "heroku" {
                &self.script.heroku_down
            } else {
                &self.script.openai_down
            }
            .store(false, Ordering::SeqCst);
        }
        for t in self.targets {
            let title = t.title.clone();
            wait_until(
                &format!("the {title} recovery notice"),
                Duration::from_secs(30),
                || {
                    self.recorder
                        .posts()
                        .iter()
                        .any(|m| m.content.contains("[RECOVERED]") && m.content.contains(&title))
                        .then_some(())
                },
            )
            .await?;
        }
        Ok(())
    }
}

/// Prints a command's reply (run requests, approvals), marked like every drill message.
fn print_reply(reply: crate::chat::bot::Reply) {
    print_line(&crate::chat::console::render_text(&mark(&reply.message)));
}
