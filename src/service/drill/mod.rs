//! Running a drill end to end: a bot, a watcher and the real engine on an event log of the
//! drill's own, stand-ins for everything outside (status feeds, the app, the LLM providers,
//! AWS simulated unless `[aws] endpoint_url` is set), two simulated people requesting and
//! approving. A driver: it builds everything `lifeboat run` builds. What the drill decides
//! (targets, config, marks, results, its data) is `crate::drill`. The data steps act on the
//! simulation, or on a throwaway PostgreSQL of the drill's own (`data`) with `--postgres` or
//! `[data]`. Also the post-mortems of a drill, read from its log, for `lifeboat drill` and for
//! drills started from chat.

mod closable;
mod data;
mod drive;
mod gameday;
mod standin;

pub use gameday::{run_console as gameday_on_console, start_gameday};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;

use super::env::step_env;
use super::watcher::{FeedSource, Watcher};
use crate::chat::bot::Bot;
use crate::chat::recorder::RecordingChat;
use crate::config::{Config, FeedKind};
use crate::domain::event::Event;
use crate::domain::{Actor, IncidentId, Scenario};
use crate::drill::data::DrillData;
use crate::drill::{DRILL_SECRET, Drilled, drill_config, mark, marked, report};
use crate::engine::Engine;
use crate::feeds::fetch::{FeedSpec, Fetched, Validators};
use crate::feeds::{FeedError, ParseContext, ProviderHealth, parse, probe};
use crate::ports::chat::{Attachment, ChannelId, Chat, ChatError, Message, MessageRef};
use crate::ports::clock::Clock;
use crate::ports::drill::{DrillReport, Drills};
use crate::ports::store::EventStore;
use crate::runbook::Runbook;
use crate::steps::confirm::{Answer, Answers};
use crate::store::SledStore;
use crate::timeline::{Format, render};

use standin::StandIns;

/// The feeds of a drill: status pages and probes whose health follows two switches.
struct Scripted {
    heroku_down: AtomicBool,
    openai_down: AtomicBool,
}

const HEROKU_GREEN: &str = r#"{"status":[{"system":"Apps","status":"green"},{"system":"Data","status":"green"},{"system":"Tools","status":"green"}],"scheduled":[],"incidents":[]}"#;
const HEROKU_RED: &str = r#"{"status":[{"system":"Apps","status":"red"},{"system":"Data","status":"green"},{"system":"Tools","status":"green"}],"scheduled":[],"incidents":[{"id":"drill-1","title":"[DRILL] Apps unavailable","state":"investigating","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","full_url":"https://status.heroku.com/incidents/drill-1","updates":[{"update_type":"investigating","contents":"Drill: simulated outage","created_at":"2026-01-01T00:00:00Z"}]}]}"#;
const OPENAI_GREEN: &str = r#"{"page":{"id":"drill","name":"OpenAI","url":"https://status.openai.com"},"status":{"indicator":"none","description":"All Systems Operational"},"components":[{"id":"c1","name":"API","status":"operational"}]}"#;
const OPENAI_RED: &str = r#"{"page":{"id":"drill","name":"OpenAI","url":"https://status.openai.com"},"status":{"indicator":"critical","description":"Major Outage"},"components":[{"id":"c1","name":"API","status":"major_outage"}],"incidents":[{"id":"drill-2","name":"[DRILL] API unavailable","status":"investigating","impact":"critical","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","incident_updates":[{"body":"Drill: simulated outage","status":"investigating","created_at":"2026-01-01T00:00:00Z"}]}]}"#;

#[async_trait]
impl FeedSource for Scripted {
    async fn fetch(&self, spec: &FeedSpec, _: &Validators) -> Result<Fetched, FeedError> {
        let heroku = spec.url.contains("heroku");
        let down = if heroku {
            &self.heroku_down
        } else {
            &self.openai_down
        }
        .load(Ordering::SeqCst);
        let parsed = match spec.kind {
            FeedKind::Probe => {
                let status = if down { 503 } else { 200 };
                probe::evaluate(status, "ok", Duration::from_millis(20), &spec.probe)
            }
            kind => {
                let body = match (heroku, down) {
                    (true, false) => HEROKU_GREEN,
                    (true, true) => HEROKU_RED,
                    (false, false) => OPENAI_GREEN,
                    (false, true) => OPENAI_RED,
                };
                parse(kind, body.as_bytes(), &ParseContext::default())?
            }
        };
        Ok(Fetched::Changed {
            health: ProviderHealth::from_parsed(spec.kind, &spec.url, chrono::Utc::now(), parsed),
            validators: Validators::default(),
        })
    }
}

/// Marks, prints and keeps everything the bot says, for the drill to watch.
struct Tee {
    recorder: Arc<RecordingChat>,
}

#[async_trait]
impl Chat for Tee {
    async fn post(&self, channel: &ChannelId, message: &Message) -> Result<MessageRef, ChatError> {
        let message = mark(message);
        print_line(&crate::chat::console::render_text(&message));
        self.recorder.post(channel, &message).await
    }

    async fn update(&self, target: &MessageRef, message: &Message) -> Result<(), ChatError> {
        let message = mark(message);
        print_line(&format!(
            "(edited) {}",
            crate::chat::console::render_text(&message)
        ));
        self.recorder.update(target, &message).await
    }

    async fn reply(&self, target: &MessageRef, message: &Message) -> Result<MessageRef, ChatError> {
        let message = mark(message);
        print_line(&crate::chat::console::render_text(&message));
        self.recorder.reply(target, &message).await
    }

    async fn open_thread(
        &self,
        channel: &ChannelId,
        from: Option<&MessageRef>,
        name: &str,
    ) -> Result<ChannelId, ChatError> {
        let name = marked(name);
        print_line(&format!("== thread: {name} =="));
        self.recorder.open_thread(channel, from, &name).await
    }

    async fn attach(
        &self,
        channel: &ChannelId,
        message: &Message,
        files: &[Attachment],
    ) -> Result<MessageRef, ChatError> {
        let message = mark(message);
        print_line(&crate::chat::console::render_text(&message));
        self.recorder.attach(channel, &message, files).await
    }
}

fn print_line(text: &str) {
    println!("{}", text.trim_end());
}

/// The examples of every LLM parity suite the runbooks gate on, by prompt: what the stand-in
/// providers answer, so a gate passes in a drill exactly when the suite's examples pass.
fn suite_examples(config: &Config, runbooks: &[Runbook]) -> BTreeMap<String, String> {
    let mut examples = BTreeMap::new();
    for step in runbooks.iter().flat_map(|r| &r.steps) {
        if let crate::runbook::StepAction::LlmParity(args) = &step.action {
            let path = args
                .suite
                .clone()
                .unwrap_or_else(|| config.parity.llm_suite_path(&config.paths));
            if let Ok(suite) = crate::parity::suite::load(&path) {
                examples.extend(
                    suite
                        .prompts
                        .into_iter()
                        .filter_map(|p| p.example.map(|e| (p.prompt, e))),
                );
            }
        }
    }
    examples
}

/// How a drill is run, beyond its scenario.
#[derive(Debug, Clone, Copy, Default)]
pub struct DrillOptions {
    /// Restore a real database in a throwaway PostgreSQL (`lifeboat drill --postgres`), even
    /// without `[data]`; fail when none can be started.
    pub postgres: bool,
}

/// Runs a drill. `data_dir` gets the drill's event log.
pub async fn run(
    base: &Config,
    runbooks: &[Runbook],
    scenario: Scenario,
    data_dir: &Path,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Drilled> {
    run_with(
        base,
        runbooks,
        scenario,
        data_dir,
        clock,
        DrillOptions::default(),
    )
    .await
}

/// The throwaway cluster `choice` asks for, or `None` and why the data is simulated.
async fn throwaway(
    base: &Config,
    choice: DrillData,
) -> anyhow::Result<(Option<data::Throwaway>, String)> {
    match choice {
        DrillData::Untouched => Ok((None, "none (the drilled runbooks move no data)".to_owned())),
        DrillData::Simulated => Ok((
            None,
            "the simulation (no database restored; `--postgres` or [data] restores one in a throwaway PostgreSQL)".to_owned(),
        )),
        DrillData::Throwaway { required } => match data::Throwaway::start(base).await {
            Ok(t) => {
                let text = t.describe(base);
                Ok((Some(t), text))
            }
            Err(err) if required => {
                Err(err.context("--postgres: no throwaway PostgreSQL could be started"))
            }
            Err(err) => Ok((
                None,
                format!("the simulation: no throwaway PostgreSQL could be started ({err:#})"),
            )),
        },
    }
}

/// Runs a drill with `options`. `data_dir` gets the drill's event log.
pub async fn run_with(
    base: &Config,
    runbooks: &[Runbook],
    scenario: Scenario,
    data_dir: &Path,
    clock: Arc<dyn Clock>,
    options: DrillOptions,
) -> anyhow::Result<Drilled> {
    let targets = crate::drill::targets(base, runbooks, scenario)?;
    let choice = crate::drill::data::choose(base, runbooks, &targets, options.postgres);
    let (throwaway, data_text) = throwaway(base, choice).await?;
    let drilled = drill(
        base,
        runbooks,
        &targets,
        data_dir,
        clock,
        throwaway.as_ref(),
    )
    .await;
    if let Some(t) = throwaway {
        t.stop().await;
    }
    let mut drilled = drilled?;
    drilled.data = data_text;
    Ok(drilled)
}

/// The drill itself, its data steps on `throwaway` when there is one.
async fn drill(
    base: &Config,
    runbooks: &[Runbook],
    targets: &[crate::drill::Target],
    data_dir: &Path,
    clock: Arc<dyn Clock>,
    throwaway: Option<&data::Throwaway>,
) -> anyhow::Result<Drilled> {
    let stand = StandIns::start(chrono::Duration::minutes(12), DRILL_SECRET)
        .await
        .context("starting the stand-ins")?;
    let config = Arc::new(drill_config(
        base,
        &stand.url(""),
        targets,
        throwaway.map(|t| t.data.clone()),
    ));
    // The drill runs inside the live process (`/drill start`): none of its components may move
    // the live metrics, or a simulated outage would show (and page) as a real one.
    let quiet = crate::metrics::Recorder::off();
    let store = Arc::new(SledStore::open(data_dir)?.with_metrics(quiet));
    let recorder = Arc::new(RecordingChat::new());
    let chat: Arc<dyn Chat> = Arc::new(Tee {
        recorder: recorder.clone(),
    });
    let channel = ChannelId("drill".into());
    let env = step_env(
        config.clone(),
        clock.clone(),
        chat.clone(),
        channel.clone(),
        Arc::new(drill_secrets(&config, throwaway)),
    )
    .await;
    stand.watch_standby(standin::Standby {
        aws: env.aws.clone(),
        config: config.clone(),
    });
    stand.answer_with(suite_examples(&config, runbooks));
    let answers = env.answers.clone();
    let edges = env.data.clone();
    let engine = Engine::new(env, store.clone()).with_metrics(quiet);
    let bot = Bot::new(config.clone(), runbooks.to_vec(), engine, store.clone());
    let script = Arc::new(Scripted {
        heroku_down: AtomicBool::new(false),
        openai_down: AtomicBool::new(false),
    });
    let watcher = Watcher::new(&config, store.clone(), chat.clone(), channel, clock)
        .with_source(script.clone())
        .with_metrics(quiet);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let watching = tokio::spawn(watcher.run(stopped));
    let answering = tokio::spawn(answer_yes(answers));

    let stage = drive::Stage {
        bot: &bot,
        store: &store,
        recorder: &recorder,
        script: &script,
        config: &config,
        base,
        targets,
        data: throwaway.map(|t| (t, &edges)),
    };
    let result = stage.drive().await;
    answering.abort();
    let _ = stop.send(true);
    let _ = watching.await;
    store.flush()?;
    let mut drilled = result?;
    drilled.real_aws = crate::drill::against_real_aws(&config, runbooks, targets);
    crate::drill::as_logged(&mut drilled, &store.all()?);
    store.append(crate::drill::finished(
        &drilled,
        crate::events::DrillMode::Automatic,
    ))?;
    store.flush()?;
    Ok(drilled)
}

/// A drill's secrets: every one a stand-in, but for the throwaway's URLs (the drill's own
/// variables).
fn drill_secrets(config: &Config, throwaway: Option<&data::Throwaway>) -> BTreeMap<String, String> {
    config
        .secret_env_vars()
        .into_iter()
        .chain(["HEROKU_API_KEY"])
        .map(|v| (v.to_owned(), DRILL_SECRET.to_owned()))
        .chain(throwaway.iter().flat_map(|t| t.secrets()))
        .collect()
}

/// The drill's people answer every open question with yes: the commander, or an approver
/// ("bob") where only an approver may answer (accepting more data loss). Runs until aborted.
async fn answer_yes(answers: Arc<Answers>) {
    loop {
        for key in answers.open() {
            let who = if answers.needs_approver(&key) {
                crate::drill::person("bob", "approver")
            } else {
                crate::drill::person("commander", "responder")
            };
            answers.answer_as(
                &key,
                Answer {
                    yes: true,
                    by: who.name.clone(),
                },
                Actor::User {
                    id: who.id,
                    name: who.name,
                },
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The drill's post-mortems in `formats`, rendered from its log in `data_dir` (read once).
/// `lifeboat drill` writes them all; a drill started from chat attaches the Markdown one.
pub fn postmortems(
    data_dir: &Path,
    incident: &IncidentId,
    config: &Config,
    formats: &[Format],
) -> anyhow::Result<Vec<(Format, String)>> {
    let store = SledStore::open(data_dir)?;
    let events = store.all()?;
    drop(store);
    formats
        .iter()
        .map(|&format| {
            Ok((
                format,
                render(&events, incident, format, &config.objectives)?,
            ))
        })
        .collect()
}

/// Writes the incident's post-mortem in every format beside the drill's log.
pub fn write_postmortems(
    data_dir: &Path,
    incident: &IncidentId,
    config: &Config,
) -> anyhow::Result<Vec<PathBuf>> {
    let formats = [Format::Markdown, Format::Json, Format::Csv, Format::Html];
    let rendered = postmortems(data_dir, incident, config, &formats)?;
    let dir = PathBuf::from(format!("{}.postmortem", data_dir.display()));
    std::fs::create_dir_all(&dir)?;
    let mut paths = Vec::new();
    for (format, text) in rendered {
        let path = dir.join(format!("{incident}.{}", format.extension()));
        std::fs::write(&path, text)?;
        paths.push(path);
    }
    Ok(paths)
}

/// The drills of `lifeboat run`'s bot: run inside the live process, on the process's clock,
/// and read from the `drill-*` logs beside the live one.
pub struct ChatDrills {
    clock: Arc<dyn Clock>,
}

impl ChatDrills {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock }
    }
}

#[async_trait]
impl Drills for ChatDrills {
    async fn run(
        &self,
        config: &Config,
        runbooks: &[Runbook],
        scenario: Scenario,
        dir: &Path,
    ) -> anyhow::Result<DrillReport> {
        // With [data], a drill from chat restores into a throwaway cluster of its own.
        let drilled = run(config, runbooks, scenario, dir, self.clock.clone()).await?;
        let (_, postmortem) = postmortems(dir, &drilled.incident, config, &[Format::Markdown])?
            .pop()
            .context("no post-mortem was rendered")?;
        Ok(DrillReport {
            summary: report(&drilled),
            incident: drilled.incident,
            postmortem,
        })
    }

    fn logged_events(&self, data_dir: &Path) -> Vec<Event> {
        crate::store::drill_logs::drill_events(data_dir, false)
    }
}
