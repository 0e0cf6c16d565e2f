//! Drills: a simulated disaster run end to end, offline, through the real pipeline — stand-in
//! status feeds flip to an outage, the watcher alerts, an incident is declared, two simulated
//! people request and approve the runbook, the real engine executes it against the simulated
//! AWS (or `[aws] endpoint_url`) and local stand-ins for the app and the LLM providers — and
//! the measured detection time, time to recovery and data-loss window are compared with the
//! plan's objectives. Everything is logged like a real incident, marked as a drill.

pub mod history;
mod standin;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use async_trait::async_trait;
use serde_json::json;

use crate::approval::Person;
use crate::chat::bot::Bot;
use crate::chat::command::Command;
use crate::chat::recorder::RecordingChat;
use crate::config::{AwsMode, Config, FeedConfig, FeedKind, LlmProviderConfig, WatchConfig};
use crate::domain::event::NewEvent;
use crate::domain::{Actor, Scenario, Workstream};
use crate::duration::{HumanDuration, format_elapsed};
use crate::engine::Engine;
use crate::feeds::fetch::{FeedSpec, Fetched, Validators};
use crate::feeds::{FeedError, ParseContext, ProviderHealth, parse, probe};
use crate::ports::aws::AwsEdges;
use crate::ports::chat::{ChannelId, Chat, ChatError, Message, MessageRef};
use crate::ports::clock::TokioClock;
use crate::ports::store::EventStore;
use crate::runbook::Runbook;
use crate::runbook::state::RunStatus;
use crate::service::watcher::{FeedSource, Watcher};
use crate::steps::StepEnv;
use crate::steps::confirm::{Answer, Answers};
use crate::store::SledStore;

use standin::StandIns;

/// One provider the drill takes down.
#[derive(Debug, Clone)]
struct Target {
    provider: String,
    title: String,
    runbook: String,
    workstream: Workstream,
}

/// A finished drill: what it measured and the incident it logged.
#[derive(Debug, Clone)]
pub struct Drilled {
    pub outcomes: Vec<Outcome>,
    pub incident: crate::domain::IncidentId,
}

/// What a drill measured for one workstream.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub provider: String,
    pub runbook: String,
    pub run: String,
    pub detection: Duration,
    pub recovery: Duration,
    pub rto: Duration,
    pub data_loss: Option<Duration>,
    pub rpo: Duration,
    pub status: String,
}

impl Outcome {
    pub fn rto_met(&self) -> bool {
        self.status == "succeeded" && self.recovery <= self.rto
    }

    pub fn rpo_met(&self) -> bool {
        self.data_loss.is_none_or(|d| d <= self.rpo)
    }
}

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

/// The marker every message of a drill carries.
pub const DRILL_MARK: &str = "[DRILL]";

/// The value a drill gives every secret (API keys, tokens) its runbooks use: the real ones
/// are never read. The stand-ins insist on it, so it really goes through the pipeline.
pub const DRILL_SECRET: &str = "drill-not-a-secret-5b1e";

/// `text` with the drill marker in front, unless it already starts with it.
fn marked(text: &str) -> String {
    if text.starts_with(DRILL_MARK) {
        text.to_owned()
    } else if text.is_empty() {
        DRILL_MARK.to_owned()
    } else {
        format!("{DRILL_MARK} {text}")
    }
}

/// The message with the drill marker in front of its content (alerts, run requests and
/// progress, team notifications: everything said during a drill).
fn mark(message: &Message) -> Message {
    Message {
        content: marked(&message.content),
        ..message.clone()
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
        files: &[crate::ports::chat::Attachment],
    ) -> Result<MessageRef, ChatError> {
        let message = mark(message);
        print_line(&crate::chat::console::render_text(&message));
        self.recorder.attach(channel, &message, files).await
    }
}

fn print_line(text: &str) {
    println!("{}", text.trim_end());
}

fn person(name: &str, role: &str) -> Person {
    Person {
        id: format!("drill-{name}"),
        name: format!("{name} (drill)"),
        roles: vec![role.to_owned()],
    }
}

/// The drill's config: the user's, with feeds, AWS, LLM endpoints and company values pointed
/// at the stand-ins. Secrets are fake and never leave the machine.
fn drill_config(base: &Config, stand: &StandIns, targets: &[Target]) -> Config {
    let mut config = base.clone();
    let feed = |name: &str, provider: &str, kind: FeedKind| FeedConfig {
        name: name.to_owned(),
        provider: provider.to_owned(),
        kind,
        url: format!("drill://{name}"),
        interval: HumanDuration(Duration::from_millis(250)),
        timeout: HumanDuration::from_secs(2),
        components: Vec::new(),
        regions: Vec::new(),
        services: Vec::new(),
        expect_status: Some(200),
        body_contains: None,
        max_latency: None,
    };
    config.feeds = targets
        .iter()
        .flat_map(|t| {
            let kind = if t.provider == "heroku" {
                FeedKind::Heroku
            } else {
                FeedKind::Statuspage
            };
            [
                feed(&format!("{}-status", t.provider), &t.provider, kind),
                feed(
                    &format!("{}-probe", t.provider),
                    &t.provider,
                    FeedKind::Probe,
                ),
            ]
        })
        .collect();
    config.watch = WatchConfig {
        jitter: 0.0,
        ..WatchConfig::default()
    };
    if config.aws.endpoint_url.is_none() {
        config.aws.mode = AwsMode::Simulated;
    }
    for (key, value) in [
        ("app_url", stand.url("")),
        ("backup_status_url", stand.url("/backups/latest.json")),
        ("llm_switch_url", stand.url("/config-vars")),
        ("restore_command", "true".to_owned()),
        ("integrity_command", "true".to_owned()),
    ] {
        config.vars.insert(key.to_owned(), value);
    }
    for (name, slot) in [
        ("openai", &mut config.llm.openai),
        ("anthropic", &mut config.llm.anthropic),
    ] {
        let provider = slot.get_or_insert_with(|| LlmProviderConfig {
            base_url: String::new(),
            key_env: format!("{}_API_KEY", name.to_uppercase()),
            model: "drill".into(),
            timeout: HumanDuration::from_secs(10),
        });
        provider.base_url = stand.url("");
    }
    // A drill tells no one outside it: no team webhook or page, no client notice by webhook,
    // announcement channel or email. Notices still go to the drill's own chat and log.
    for team in &mut config.teams {
        team.webhook_url = None;
        team.pagerduty_routing_key_env = None;
    }
    config.comms.webhook_url = None;
    config.comms.announcement_channel_id = None;
    config.comms.email = None;
    config
}

/// Runs a drill. `data_dir` gets the drill's event log.
pub async fn run(
    base: &Config,
    runbooks: &[Runbook],
    scenario: Scenario,
    data_dir: &Path,
) -> anyhow::Result<Drilled> {
    let wanted: &[&str] = match scenario {
        Scenario::HerokuOutage => &["heroku"],
        Scenario::OpenaiOutage => &["openai"],
        Scenario::Both => &["heroku", "openai"],
    };
    let mut targets = Vec::new();
    for name in wanted {
        let provider = base
            .provider(name)
            .with_context(|| format!("the drill needs a [[providers]] entry named `{name}`"))?;
        let runbook = provider
            .runbook
            .clone()
            .with_context(|| format!("provider `{name}` maps to no runbook"))?;
        if !runbooks.iter().any(|r| r.name == runbook) {
            bail!("provider `{name}` maps to runbook `{runbook}`, which is not loaded");
        }
        targets.push(Target {
            provider: (*name).to_owned(),
            title: provider.title.clone().unwrap_or_else(|| (*name).to_owned()),
            runbook,
            workstream: provider.workstream,
        });
    }

    let stand = StandIns::start(chrono::Duration::minutes(12), DRILL_SECRET)
        .await
        .context("starting the stand-ins")?;
    let config = Arc::new(drill_config(base, &stand, &targets));
    // The drill runs inside the live process (`/drill start`): none of its components may move
    // the live metrics, or a simulated outage would show (and page) as a real one.
    let quiet = crate::metrics::Recorder::off();
    let store = Arc::new(SledStore::open(data_dir)?.with_metrics(quiet));
    let recorder = Arc::new(RecordingChat::new());
    let chat: Arc<dyn Chat> = Arc::new(Tee {
        recorder: recorder.clone(),
    });
    let channel = ChannelId("drill".into());
    let secrets: BTreeMap<String, String> = config
        .secret_env_vars()
        .into_iter()
        .chain(["HEROKU_API_KEY"])
        .map(|v| (v.to_owned(), DRILL_SECRET.to_owned()))
        .collect();
    let answers = Arc::new(Answers::default());
    let env = StepEnv {
        config: config.clone(),
        aws: AwsEdges::connect(&config.aws).await,
        http: crate::ports::http::client(),
        chat: chat.clone(),
        channel: channel.clone(),
        answers: answers.clone(),
        secrets: Arc::new(secrets),
        llm: Arc::new(crate::llm::HttpLlm::new(crate::ports::http::client())),
        clock: Arc::new(crate::ports::clock::TokioClock::new()),
        comms: Default::default(),
    };
    let engine = Engine::new(env, store.clone()).with_metrics(quiet);
    let bot = Bot::new(config.clone(), runbooks.to_vec(), engine, store.clone());
    let script = Arc::new(Scripted {
        heroku_down: AtomicBool::new(false),
        openai_down: AtomicBool::new(false),
    });
    let watcher = Watcher::new(
        &config,
        store.clone(),
        chat.clone(),
        channel,
        Arc::new(TokioClock::new()),
    )
    .with_source(script.clone())
    .with_metrics(quiet);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let watching = tokio::spawn(watcher.run(stopped));
    // The drill's commander answers every confirm question with yes.
    let answering = {
        let answers = answers.clone();
        tokio::spawn(async move {
            loop {
                for key in answers.open() {
                    answers.answer(
                        &key,
                        Answer {
                            yes: true,
                            by: "commander (drill)".into(),
                        },
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let result = drive(&bot, &store, &recorder, &script, &config, &targets).await;
    answering.abort();
    let _ = stop.send(true);
    let _ = watching.await;
    store.flush()?;
    let mut drilled = result?;
    // Every figure as the post-mortem reports it, read back from the log so both agree:
    // detection from the logged simulated outage to the confirmed alert, time to recovery
    // (RTO) from the first signal to the runbook's success, the data-loss window from the
    // restored backup's age.
    let events = store.all()?;
    let summary = crate::timeline::summarize(
        &crate::incident::incident_events(&events, &drilled.incident),
        &drilled.incident,
    );
    for outcome in &mut drilled.outcomes {
        if let Some(ms) = summary
            .simulated_outages
            .iter()
            .find(|d| d.provider == outcome.provider)
            .and_then(|d| d.detection_ms)
        {
            outcome.detection = Duration::from_millis(ms.max(0) as u64);
        }
        if let Some(run) = summary.runs.iter().find(|r| r.run.as_str() == outcome.run) {
            if let Some(ms) = run.achieved_rto_ms {
                outcome.recovery = Duration::from_millis(ms.max(0) as u64);
            }
            outcome.data_loss = run
                .achieved_rpo_secs
                .map(Duration::from_secs)
                .or(outcome.data_loss);
        }
    }
    store.append(
        NewEvent::new(
            Actor::Scheduler,
            "drill.finished",
            json!({
                "results": drilled.outcomes.iter().map(|o| json!({
                    "provider": o.provider, "runbook": o.runbook, "run": o.run, "status": o.status,
                    "detection_ms": o.detection.as_millis() as u64, "recovery_ms": o.recovery.as_millis() as u64,
                    "rto_secs": o.rto.as_secs(), "data_loss_secs": o.data_loss.map(|d| d.as_secs()),
                    "rpo_secs": o.rpo.as_secs(), "rto_met": o.rto_met(), "rpo_met": o.rpo_met(),
                })).collect::<Vec<_>>(),
            }),
        )
        .incident(drilled.incident.clone()),
    )?;
    store.flush()?;
    Ok(drilled)
}

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

async fn drive(
    bot: &Bot,
    store: &Arc<SledStore>,
    recorder: &RecordingChat,
    script: &Scripted,
    config: &Config,
    targets: &[Target],
) -> anyhow::Result<Drilled> {
    println!(
        "== DRILL: {} — everything below is simulated ==",
        targets
            .iter()
            .map(|t| t.title.as_str())
            .collect::<Vec<_>>()
            .join(" + ")
    );
    store.append(NewEvent::new(
        Actor::Scheduler,
        "drill.started",
        json!({ "providers": targets.iter().map(|t| &t.provider).collect::<Vec<_>>() }),
    ))?;
    // Settle on green, then the disaster.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let outage = Instant::now();
    for t in targets {
        println!("== {DRILL_MARK} {} goes down ==", t.title);
        // Logged at the flip: the drill's detection time counts from this event.
        store.append(NewEvent::new(
            Actor::Scheduler,
            "drill.outage_simulated",
            json!({ "provider": t.provider }),
        ))?;
        if t.provider == "heroku" {
            &script.heroku_down
        } else {
            &script.openai_down
        }
        .store(true, Ordering::SeqCst);
    }
    let mut detections = BTreeMap::new();
    for t in targets {
        let title = t.title.clone();
        wait_until(
            &format!("the {title} alert"),
            Duration::from_secs(30),
            || {
                recorder
                    .posts()
                    .iter()
                    .any(|m| m.content.contains("CONFIRMED") && m.content.contains(&title))
                    .then_some(())
            },
        )
        .await?;
        detections.insert(t.provider.clone(), outage.elapsed());
    }

    let commander = person("commander", "responder");
    let title = format!(
        "[DRILL] {} outage",
        targets
            .iter()
            .map(|t| t.title.as_str())
            .collect::<Vec<_>>()
            .join(" + ")
    );
    print_reply(
        bot.handle(
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
    let (incident, _) = bot
        .open_incident()
        .ok_or_else(|| anyhow!("the drill incident was not declared"))?;
    store.append(
        NewEvent::new(Actor::Scheduler, "drill.marked", json!({ "drill": true }))
            .incident(incident.clone()),
    )?;

    let mut runs = Vec::new();
    for t in targets {
        let reply = bot
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
            .find_map(|b| b.custom_id.strip_prefix("approve:").map(str::to_owned))
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
            let reply = bot
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

    let mut outcomes = Vec::new();
    for (t, run) in runs {
        let view = wait_until(&format!("run {run}"), Duration::from_secs(120), || {
            bot.runs()
                .into_iter()
                .find(|v| v.run.as_str() == run && v.status.is_terminal())
        })
        .await?;
        let recovery = outage.elapsed();
        let data_loss = crate::incident::restored_backup_age_secs(&store.by_run(&view.run)?)
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
            recovery,
            rto: config
                .objectives
                .rto_for(t.workstream)
                .map(|d| d.get())
                .unwrap_or_default(),
            data_loss,
            rpo: config.objectives.rpo.get(),
            status,
        });
    }

    for t in targets {
        println!("== {DRILL_MARK} {} comes back ==", t.title);
        if t.provider == "heroku" {
            &script.heroku_down
        } else {
            &script.openai_down
        }
        .store(false, Ordering::SeqCst);
    }
    for t in targets {
        let title = t.title.clone();
        wait_until(
            &format!("the {title} recovery notice"),
            Duration::from_secs(30),
            || {
                recorder
                    .posts()
                    .iter()
                    .any(|m| m.content.contains("[RECOVERED]") && m.content.contains(&title))
                    .then_some(())
            },
        )
        .await?;
    }
    print_reply(bot.handle(Command::IncidentResolve, &commander).await);
    Ok(Drilled { outcomes, incident })
}

/// Prints a command's reply (run requests, approvals), marked like every drill message.
fn print_reply(reply: crate::chat::bot::Reply) {
    print_line(&crate::chat::console::render_text(&mark(&reply.message)));
}

/// The results table a drill ends with.
pub fn summary(outcomes: &[Outcome]) -> String {
    let mut out = String::from("\n== Drill results ==\n");
    for o in outcomes {
        let verdict = |met: bool| if met { "met" } else { "MISSED" };
        out.push_str(&format!(
            "{} → {} ({}, run {})\n  detection time   {} (simulated outage → confirmed alert)\n  time to recovery {} (first signal → runbook verified; RTO {}: {})\n  data-loss window {} (RPO {}: {})\n",
            o.provider,
            o.runbook,
            o.status,
            o.run,
            format_elapsed(o.detection),
            format_elapsed(o.recovery),
            HumanDuration(o.rto),
            verdict(o.rto_met()),
            o.data_loss
                .map(|d| format!("{}, the age of the restored backup", format_elapsed(d)))
                .unwrap_or_else(|| "none (no data restored)".into()),
            HumanDuration(o.rpo),
            verdict(o.rpo_met()),
        ));
    }
    out
}
