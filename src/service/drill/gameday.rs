//! A game day: the drill's stand-ins, watcher, engine and bot on a log of its own, built as the
//! automatic drill builds them, but played by people. No simulated person requests, approves
//! or answers: the alert appears in the incident channel marked DRILL, and the people's
//! commands reach the drill's bot (the live bot passes them on, or the console talks to it).
//! It ends when every phase was played (or the people resolve the drill incident), on
//! `/drill stop`, or after `[drill] gameday_timeout`; then it logs `drill.ended` (and
//! `drill.finished` with the results when it finished) and posts the debrief and the drill
//! incident's post-mortem, marked DRILL, in the game day's thread.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use tokio::sync::watch;

use super::closable::Closable;
use super::standin::{self, StandIns};
use super::{ChatDrills, Scripted, drill_secrets, suite_examples};
use crate::approval::Person;
use crate::chat::bot::Bot;
use crate::chat::bot::gameday::{GameDay, GameDayStart, GameDays};
use crate::config::Config;
use crate::domain::event::{Event, NewEvent};
use crate::domain::{Actor, IncidentId};
use crate::drill::figures::{DRILL_POLL, DataLoss, DetectionBound, Figures, Pipeline};
use crate::drill::gameday::{Measured, Played, debrief, measured, played};
use crate::drill::{DRILL_SECRET, Drilled, Outcome, Target, drill_config, mark, marked};
use crate::engine::Engine;
use crate::events::{
    DrillEndReason, DrillEnded, DrillMarked, DrillMode, DrillOutageSimulated, DrillStarted,
};
use crate::ports::chat::{Attachment, ChannelId, Chat, ChatError, Message, MessageRef};
use crate::ports::clock::Clock;
use crate::ports::store::EventStore;
use crate::service::watcher::Watcher;
use crate::store::SledStore;
use crate::timeline::{Format, render};

/// How often the game day reads its log to see whether the people finished it.
const POLL: Duration = Duration::from_millis(200);

/// Everything the game day says goes through here, marked DRILL (thread names too).
struct Marked {
    inner: Arc<dyn Chat>,
}

#[async_trait]
impl Chat for Marked {
    async fn post(&self, channel: &ChannelId, message: &Message) -> Result<MessageRef, ChatError> {
        self.inner.post(channel, &mark(message)).await
    }

    async fn update(&self, target: &MessageRef, message: &Message) -> Result<(), ChatError> {
        self.inner.update(target, &mark(message)).await
    }

    async fn reply(&self, target: &MessageRef, message: &Message) -> Result<MessageRef, ChatError> {
        self.inner.reply(target, &mark(message)).await
    }

    async fn open_thread(
        &self,
        channel: &ChannelId,
        from: Option<&MessageRef>,
        name: &str,
    ) -> Result<ChannelId, ChatError> {
        self.inner.open_thread(channel, from, &marked(name)).await
    }

    async fn attach(
        &self,
        channel: &ChannelId,
        message: &Message,
        files: &[Attachment],
    ) -> Result<MessageRef, ChatError> {
        self.inner.attach(channel, &mark(message), files).await
    }
}

#[async_trait]
impl GameDays for ChatDrills {
    async fn start(&self, start: GameDayStart) -> anyhow::Result<GameDay> {
        start_gameday(start, self.clock.clone()).await
    }
}

/// What the game day's own loop needs once the people play.
struct Play {
    store: Arc<SledStore>,
    /// The same log as the bot and the engine see it: closed at the end, so the log is let go
    /// although they may live on.
    shared: Arc<Closable>,
    engine: Engine,
    chat: Arc<dyn Chat>,
    channel: ChannelId,
    config: Arc<Config>,
    /// The config the game day started from, with the real feeds: the detection bound.
    base: Config,
    targets: Vec<Target>,
    scenario: String,
    script: Arc<Scripted>,
    /// Kept until the game day ends: the app, AWS and the providers' stand-ins.
    _stand: Arc<StandIns>,
}

/// Builds a game day on its own log in `start.dir` and sets the outage going; the returned
/// future plays it to its end and posts the debrief.
pub async fn start_gameday(start: GameDayStart, clock: Arc<dyn Clock>) -> anyhow::Result<GameDay> {
    let targets = crate::drill::targets(&start.config, &start.runbooks, start.scenario)?;
    let stand = StandIns::start(chrono::Duration::minutes(12), DRILL_SECRET)
        .await
        .context("starting the stand-ins")?;
    let config = Arc::new(drill_config(&start.config, &stand.url(""), &targets, None));
    // As in every drill: nothing of it moves the live metrics.
    let quiet = crate::metrics::Recorder::off();
    let store = Arc::new(SledStore::open(&start.dir)?.with_metrics(quiet));
    let shared = Arc::new(Closable::new(store.clone()));
    let chat: Arc<dyn Chat> = Arc::new(Marked { inner: start.chat });
    let env = crate::service::env::step_env(
        config.clone(),
        clock.clone(),
        chat.clone(),
        start.channel.clone(),
        Arc::new(drill_secrets(&config, None)),
    )
    .await;
    stand.watch_standby(standin::Standby {
        aws: env.aws.clone(),
        config: config.clone(),
    });
    stand.answer_with(suite_examples(&config, &start.runbooks));
    let engine = Engine::new(env, shared.clone()).with_metrics(quiet);
    let (stop, stopped) = watch::channel(None);
    let bot = Arc::new(
        Bot::new(
            config.clone(),
            start.runbooks.clone(),
            engine.clone(),
            shared.clone(),
        )
        .stopping(stop.clone()),
    );
    let script = Arc::new(Scripted {
        heroku_down: AtomicBool::new(false),
        openai_down: AtomicBool::new(false),
    });
    let play = Play {
        store,
        shared,
        engine,
        chat,
        channel: start.channel,
        config,
        base: start.config,
        targets,
        scenario: start.scenario.as_str().to_owned(),
        script,
        _stand: stand,
    };
    let watcher = Watcher::new(
        &play.config,
        play.shared.clone(),
        play.chat.clone(),
        play.channel.clone(),
        clock,
    )
    .with_source(play.script.clone())
    .with_metrics(quiet);
    Ok(GameDay {
        bot,
        stop,
        ended: Box::pin(async move {
            let (halt, halted) = watch::channel(false);
            let watching = tokio::spawn(watcher.run(halted));
            if let Err(err) = play.play(stopped, halt, watching).await {
                tracing::error!(error = format!("{err:#}"), "the game day failed");
                let message = Message {
                    content: format!("🧪 DRILL game day {} failed: {err:#}", play.scenario),
                    ..Message::default()
                };
                let _ = play.chat.post(&play.channel, &message).await;
            }
            // The log is let go once `play` (its last other holder) is dropped here.
            play.shared.close();
        }),
    })
}

impl Play {
    /// The outage, the people's play until it ends, and the debrief.
    async fn play(
        &self,
        mut stopped: watch::Receiver<Option<Person>>,
        halt: watch::Sender<bool>,
        watching: tokio::task::JoinHandle<()>,
    ) -> anyhow::Result<()> {
        self.store.append(NewEvent::of(
            Actor::Scheduler,
            DrillStarted {
                providers: self.targets.iter().map(|t| t.provider.clone()).collect(),
                mode: Some(DrillMode::Gameday),
            },
        ))?;
        // Settle on green, then the disaster.
        tokio::time::sleep(Duration::from_millis(800)).await;
        for t in &self.targets {
            self.store.append(NewEvent::of(
                Actor::Scheduler,
                DrillOutageSimulated {
                    provider: t.provider.clone(),
                    detection_bound: Some(DetectionBound::of(&self.base, &t.provider).to_string()),
                },
            ))?;
            self.flip(t, true);
        }
        let deadline = tokio::time::Instant::now() + self.config.drill.gameday_timeout.get();
        let mut marked_incident = None;
        let (reason, by) = loop {
            let played = played(&self.store.all()?);
            if let Some(incident) = played
                .incident
                .clone()
                .filter(|i| marked_incident.as_ref() != Some(i))
            {
                self.store.append(
                    NewEvent::of(Actor::Scheduler, DrillMarked { drill: true })
                        .incident(incident.clone()),
                )?;
                marked_incident = Some(incident);
            }
            if played.complete() {
                break (DrillEndReason::Finished, None);
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break (DrillEndReason::TimedOut, None),
                changed = stopped.changed() => {
                    let who = stopped.borrow().clone();
                    match (changed, who) {
                        (Ok(()), Some(who)) => break (DrillEndReason::Stopped, Some(who)),
                        (Ok(()), None) => {}
                        // Nobody can stop it any more: it times out.
                        (Err(_), _) => {
                            tokio::time::sleep_until(deadline).await;
                            break (DrillEndReason::TimedOut, None);
                        }
                    }
                }
                () = tokio::time::sleep(POLL) => {}
            }
        };
        // Nothing new starts; the providers come back; the watcher stops.
        self.engine.begin_shutdown();
        for t in &self.targets {
            self.flip(t, false);
        }
        let _ = halt.send(true);
        let _ = watching.await;
        self.end(reason, by).await
    }

    fn flip(&self, target: &Target, down: bool) {
        if target.provider == "heroku" {
            &self.script.heroku_down
        } else {
            &self.script.openai_down
        }
        .store(down, Ordering::SeqCst);
    }

    /// Logs how it ended (and the results when it finished), then posts the debrief.
    async fn end(&self, reason: DrillEndReason, by: Option<Person>) -> anyhow::Result<()> {
        let before = played(&self.store.all()?);
        let stalled = (reason != DrillEndReason::Finished)
            .then(|| before.stalled())
            .flatten();
        let actor = by.map_or(Actor::Scheduler, |p| Actor::User {
            id: p.id,
            name: p.name,
        });
        let mut ended = NewEvent::of(
            actor,
            DrillEnded {
                reason,
                stalled: stalled.map(|p| p.label().to_owned()),
                mode: Some(DrillMode::Gameday),
            },
        );
        if let Some(incident) = &before.incident {
            ended = ended.incident(incident.clone());
        }
        self.store.append(ended)?;
        let events = self.store.all()?;
        if reason == DrillEndReason::Finished
            && let Some(finished) = self.finished(&events, &before)
        {
            self.store.append(finished)?;
        }
        // Whoever took part, in which role, as `lifeboat training` and readiness read it.
        let records = crate::training::records_of(&self.store.all()?);
        self.store.append_batch(
            records
                .into_iter()
                .map(|record| {
                    let incident = record.incident.clone().map(IncidentId);
                    let event = NewEvent::of(Actor::Scheduler, record);
                    match incident {
                        Some(incident) => event.incident(incident),
                        None => event,
                    }
                })
                .collect(),
        )?;
        self.store.flush()?;
        let events = self.store.all()?;
        let played = played(&events);
        let measured = measured(&events, &played, &self.config.objectives);
        let extra = self.figure_lines(&events, &played, &measured);
        let text = debrief(
            &self.scenario,
            &played,
            &measured,
            &self.config.objectives,
            &extra,
        );
        self.post(&events, &played, &text).await;
        Ok(())
    }

    /// `drill.finished` for a finished game day: the drilled protocols' results as the log
    /// measured them, recorded as `gameday`.
    fn finished(&self, events: &[Event], played: &Played) -> Option<NewEvent> {
        let incident = played.incident.clone()?;
        let summary = crate::timeline::summarize(
            &crate::incident::incident_events(events, &incident),
            &incident,
        );
        let outcomes: Vec<Outcome> = self
            .targets
            .iter()
            .filter_map(|t| {
                let run = summary.runs.iter().find(|r| r.runbook == t.runbook)?;
                Some(Outcome {
                    provider: t.provider.clone(),
                    runbook: t.runbook.clone(),
                    run: run.run.0.clone(),
                    detection: Duration::ZERO,
                    recovery: Duration::ZERO,
                    rto: self
                        .config
                        .objectives
                        .rto_for(t.workstream)
                        .map(|d| d.get())
                        .unwrap_or_default(),
                    data_loss: None,
                    rpo: self.config.objectives.rpo.get(),
                    status: run.status.clone(),
                    workstream_has_data: false,
                    bound: DetectionBound::of(&self.base, &t.provider),
                })
            })
            .collect();
        if outcomes.is_empty() {
            return None;
        }
        let mut drilled = Drilled {
            outcomes,
            incident,
            data: String::new(),
            // A game day from chat or the console always runs on the simulated AWS.
            real_aws: false,
        };
        crate::drill::as_logged(&mut drilled, events);
        Some(crate::drill::finished(&drilled, DrillMode::Gameday))
    }

    /// Posts the debrief and the drill incident's post-mortem in the game day's thread (the
    /// drill incident's), or in the channel when nobody declared it.
    async fn post(&self, events: &[Event], played: &Played, text: &str) {
        let thread = crate::ports::chat::incident_thread(events).unwrap_or(self.channel.clone());
        let mut files = Vec::new();
        if let Some(incident) = &played.incident {
            match self.postmortem(events, incident) {
                Ok(file) => files.push(file),
                Err(err) => tracing::warn!(
                    error = format!("{err:#}"),
                    "the game day's post-mortem could not be rendered"
                ),
            }
        }
        // Discord takes 2000 characters a message: a longer debrief goes as a file too.
        let content = if text.chars().count() > 1800 {
            files.push(Attachment {
                filename: "gameday-debrief.txt".into(),
                bytes: text.as_bytes().to_vec(),
            });
            let cut: String = text.chars().take(1700).collect();
            format!("```{cut}\n…```(the whole debrief is attached)")
        } else {
            format!("```{text}```")
        };
        let message = Message {
            content,
            ..Message::default()
        };
        if let Err(err) = self.chat.attach(&thread, &message, &files).await {
            tracing::error!(error = %err, "the game day's debrief could not be posted");
        }
    }

    /// Each drilled provider's figures as every drill reports them (`drill::figures`):
    /// Lifeboat's pipeline as measured, and the detection bound of the configured intervals.
    fn figure_lines(
        &self,
        events: &[Event],
        played: &Played,
        measured: &[Measured],
    ) -> Vec<String> {
        let summary = played.incident.as_ref().map(|incident| {
            crate::timeline::summarize(
                &crate::incident::incident_events(events, incident),
                incident,
            )
        });
        let mut lines = Vec::new();
        for t in &self.targets {
            let detection = summary.as_ref().and_then(|s| {
                s.simulated_outages
                    .iter()
                    .find(|d| d.provider == t.provider)
                    .and_then(|d| d.detection_ms)
                    .map(|ms| Duration::from_millis(ms.max(0) as u64))
            });
            let run = measured.iter().find(|m| m.runbook == t.runbook);
            let figures = Figures {
                pipeline: Pipeline {
                    detection,
                    polled_every: DRILL_POLL,
                    recovery: run.and_then(|m| m.recovery),
                },
                bound: DetectionBound::of(&self.base, &t.provider),
                data_loss: DataLoss::from_measured(run.and_then(|m| m.data_loss), false),
            };
            lines.push(format!("{}:", t.provider));
            lines.extend(
                figures
                    .lines()
                    .into_iter()
                    .map(|l| l.trim_start().to_owned()),
            );
        }
        lines
    }

    fn postmortem(&self, events: &[Event], incident: &IncidentId) -> anyhow::Result<Attachment> {
        let markdown = render(events, incident, Format::Markdown, &self.config.objectives)?;
        Ok(Attachment {
            filename: format!("drill-{incident}.md"),
            bytes: format!(
                "> **DRILL** (game day {}): the outage was simulated; the people and their decisions were real.\n\n{markdown}",
                self.scenario
            )
            .into_bytes(),
        })
    }
}

/// `lifeboat drill SCENARIO --gameday`: a game day on the terminal. People type their
/// commands (`/as alice responder`, `/incident declare …`, `/approve REQ-…`); it ends as a
/// game day from chat does, and its debrief prints here.
pub async fn run_console(
    base: &Config,
    runbooks: &[crate::runbook::Runbook],
    scenario: crate::domain::Scenario,
    data_dir: &Path,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let mut config = base.clone();
    config.aws.endpoint_url = None;
    config.aws.mode = crate::config::AwsMode::Simulated;
    let chat: Arc<dyn Chat> = Arc::new(crate::chat::console::ConsoleChat::stdout());
    let game = start_gameday(
        GameDayStart {
            config,
            runbooks: runbooks.to_vec(),
            scenario,
            dir: data_dir.to_owned(),
            chat,
            channel: ChannelId("incident".into()),
        },
        clock,
    )
    .await?;
    println!(
        "== DRILL game day {}: a simulated outage for people to play. Set who you are with `/as NAME ROLE,ROLE`; /help lists the commands; /drill stop ends it ==",
        scenario.as_str()
    );
    let commands = tokio::spawn(crate::chat::console::command_loop_marked(
        game.bot,
        tokio::io::BufReader::new(tokio::io::stdin()),
        marked,
    ));
    game.ended.await;
    commands.abort();
    Ok(())
}
