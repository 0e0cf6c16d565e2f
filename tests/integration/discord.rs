//! The Discord adapter through the real serenity client against the in-process fake Discord
//! (`support::discord`), with the engine over the simulated AWS: slash commands, buttons,
//! the two-person rule, refusals, one thread per incident with the progress in it, buttons
//! disabled once decided or expired, exports and drill reports as uploaded files, autocomplete,
//! the draft-editing modal, registration, REST retries honouring `retry_after`, gateway
//! reconnects, and acknowledgement latency; also confirm and paused-run buttons, `/runbook
//! plan|status|resume|cancel`, commands from incident threads, approving after a restart,
//! simultaneous approvals, and an alert posted by the real feed watcher.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lifeboat::aws::SimulatedAws;
use lifeboat::chat::bot::Bot;
use lifeboat::chat::discord::{self, DiscordChat, Handler};
use lifeboat::config::{Config, Secret};
use lifeboat::engine::Engine;
use lifeboat::ports::aws::AwsEdges;
use lifeboat::ports::chat::{ChannelId, Chat, Message};
use lifeboat::ports::store::EventStore;
use lifeboat::runbook::load_file;
use lifeboat::service::drill::ChatDrills;
use lifeboat::steps::StepEnv;
use lifeboat::store::SledStore;
use lifeboat::toml_source::TomlSource;
use serde_json::{Value, json};
use serenity::all::ShardManager;

use crate::support::discord::{
    APP_ID, Call, FakeDiscord, Fault, Member, autocomplete, bot_message, button, slash, text,
};

const GUILD: u64 = 100_000_000_000_000_001;
const CHANNEL: u64 = 100_000_000_000_000_002;
const OTHER_GUILD: u64 = 100_000_000_000_000_009;
const RESPONDER: u64 = 200_000_000_000_000_001;
const APPROVER: u64 = 200_000_000_000_000_002;
/// Not a real token; the tests check it never reaches the logs.
const TOKEN: &str = "MTAfake.bot-token.never-logged-7f3c";
const WAIT: Duration = Duration::from_secs(10);

const RUNBOOK: &str = r#"
name = "scale-up"
title = "Scale up the standby"
workstream = "hosting"

[approval]
approvals = 1

[[steps]]
id = "scale"
kind = "ecs_scale"
with = { to = "standby" }
"#;

fn config(api_base: &str) -> Config {
    config_with(api_base, "")
}

/// The test config with `extra` TOML (providers, feeds, ...) appended.
fn config_with(api_base: &str, extra: &str) -> Config {
    let text = format!(
        r#"
[objectives]
hosting_rto = "4h"
llm_rto = "2h"
rpo = "1h"

[discord]
token_env = "LIFEBOAT_TEST_TOKEN_NOT_SET"
guild_id = "{GUILD}"
incident_channel_id = "{CHANNEL}"
api_base = "{api_base}"

[access]
responders = ["{RESPONDER}"]
approvers = ["{APPROVER}"]

[[teams]]
name = "db-oncall"

[[teams]]
name = "platform"

[aws.ecs]
cluster = "standby"
services = [{{ name = "web", standby = 3 }}]

[aws.dns]
zone_id = "Z1"
ttl = 60
records = [{{ name = "app.example.com", primary = "app.herokudns.com", standby = "alb.aws.example.com" }}]
{extra}"#
    );
    Config::from_source(TomlSource::new("discord.toml", &text))
        .unwrap_or_else(|e| panic!("{e:#?}"))
        .config
}

/// Everything traced during a test, at debug level and finer for the bot and serenity, kept
/// to grep for the token and printed if the test fails.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Installs a subscriber for this thread (the tests run on a current-thread runtime, so
    /// the client's tasks log here too).
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "debug,lifeboat=trace,serenity=trace,serenity::gateway::bridge=debug,hyper=info,h2=info,rustls=info,sled=info",
            ))
            .with_ansi(false)
            .with_writer(move || logs.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
}

struct Rig {
    fake: FakeDiscord,
    logs: Logs,
    store: Arc<SledStore>,
    config: Arc<Config>,
    runbooks: Vec<lifeboat::runbook::Runbook>,
    shards: Arc<ShardManager>,
    gateway: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Rig {
    async fn start() -> Self {
        Self::start_with(|base, dir| {
            let config = config(base);
            let path = dir.join("scale-up.toml");
            std::fs::write(&path, RUNBOOK).unwrap();
            let runbook = load_file(&path, &config).unwrap_or_else(|e| panic!("{e:#?}"));
            (config, vec![runbook])
        })
        .await
    }

    /// A rig on another config and runbooks, made from the fake's base URL and a temp dir.
    async fn start_with(
        make: impl FnOnce(&str, &std::path::Path) -> (Config, Vec<lifeboat::runbook::Runbook>),
    ) -> Self {
        let logs = Logs::default();
        let guard = logs.install();
        let fake = FakeDiscord::start();
        let base = fake.api_base();
        let dir = tempfile::tempdir().unwrap();
        let (config, runbooks) = make(&base, dir.path());
        let config = Arc::new(config);
        let store = Arc::new(SledStore::open(&dir.path().join("data")).unwrap());
        let (shards, gateway) = serve(&base, &config, &runbooks, &store).await;
        fake.wait_sessions(1, WAIT).await;
        Rig {
            fake,
            logs,
            store,
            config,
            runbooks,
            shards,
            gateway,
            _dir: dir,
            _guard: guard,
        }
    }

    /// Stops the bot and starts a new one (new bot, engine and serenity client) over the
    /// same event log, as after a restart.
    async fn restart(&mut self) {
        self.shards.shutdown_all().await;
        self.gateway.abort();
        let sessions = self.fake.identifies();
        let (shards, gateway) = serve(
            &self.fake.api_base(),
            &self.config,
            &self.runbooks,
            &self.store,
        )
        .await;
        self.shards = shards;
        self.gateway = gateway;
        self.fake.wait_sessions(sessions + 1, WAIT).await;
    }

    /// Pushes an interaction and waits for its callback (the acknowledgement).
    async fn interact(&self, payload: Value) -> (String, Call) {
        let mark = self.fake.mark();
        let id = payload["id"].as_str().unwrap().to_owned();
        let token = payload["token"].as_str().unwrap().to_owned();
        self.fake.push_interaction(payload);
        let callback = self
            .fake
            .wait_call(
                mark,
                "the interaction callback",
                |c| c.method == "POST" && c.path == format!("/interactions/{id}/{token}/callback"),
                WAIT,
            )
            .await;
        (token, callback)
    }

    /// The follow-up the bot sent for an interaction token.
    async fn followup(&self, since: usize, token: &str) -> Call {
        self.fake
            .wait_call(
                since,
                "the follow-up",
                |c| c.method == "POST" && c.path == format!("/webhooks/{APP_ID}/{token}"),
                WAIT,
            )
            .await
    }

    async fn stop(self) {
        self.shards.shutdown_all().await;
        self.gateway.abort();
        let logs = self.logs.text();
        assert!(!logs.contains(TOKEN), "the bot token appeared in the logs");
        assert!(
            logs.contains("connected to Discord"),
            "tracing did not capture the client's logs"
        );
    }
}

/// A bot over `store` served through a new serenity client against the fake at `base`.
async fn serve(
    base: &str,
    config: &Arc<Config>,
    runbooks: &[lifeboat::runbook::Runbook],
    store: &Arc<SledStore>,
) -> (Arc<ShardManager>, tokio::task::JoinHandle<()>) {
    let names: Vec<String> = runbooks.iter().map(|r| r.name.clone()).collect();
    let token = Secret::new(TOKEN);
    let chat = Arc::new(DiscordChat::new(Arc::new(discord::build_http(
        &token,
        Some(base),
    ))));
    let env = StepEnv {
        config: config.clone(),
        aws: AwsEdges::simulated(Arc::new(SimulatedAws::from_config(&config.aws))),
        http: lifeboat::ports::http::client(),
        chat,
        channel: ChannelId(CHANNEL.to_string()),
        answers: Arc::default(),
        secrets: Arc::new(BTreeMap::<String, String>::new()),
        llm: Arc::new(lifeboat::llm::HttpLlm::new(lifeboat::ports::http::client())),
        heroku: Arc::new(lifeboat::heroku::HerokuApi::new(
            lifeboat::ports::http::client(),
        )),
        clock: Arc::new(lifeboat::ports::clock::TokioClock::new()),
        comms: Default::default(),
        data: Default::default(),
    };
    let engine = Engine::new(env, store.clone());
    let drills = Arc::new(ChatDrills::new(engine.env().clock.clone()));
    let bot = Arc::new(
        Bot::new(config.clone(), runbooks.to_vec(), engine, store.clone()).with_drills(drills),
    );
    let handler = Handler::new(bot, GUILD, names).with_incident_channel(Some(CHANNEL));
    let mut client = discord::client(&token, Some(base), handler)
        .await
        .expect("the client builds");
    let shards = client.shard_manager.clone();
    let gateway = tokio::spawn(async move {
        if let Err(err) = client.start().await {
            tracing::error!(error = %err, "client stopped");
        }
    });
    (shards, gateway)
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.gateway.abort();
        if std::thread::panicking() {
            let logs = self.logs.text();
            let tail: Vec<&str> = logs.lines().rev().take(150).collect();
            eprintln!(
                "--- last log lines ---\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

fn alice() -> Member {
    Member::new(300_000_000_000_000_001, "alice", &[RESPONDER])
}
fn bob() -> Member {
    Member::new(300_000_000_000_000_002, "bob", &[APPROVER])
}
fn carol() -> Member {
    Member::new(300_000_000_000_000_003, "carol", &[RESPONDER])
}

/// Waits for the first event of `kind` in the log (appended once the REST call returned).
async fn wait_event(store: &SledStore, kind: &str) -> lifeboat::domain::event::Event {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(e) = store.all().unwrap().into_iter().find(|e| e.kind == kind) {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no {kind} event in the log"))
}

fn ephemeral(body: &Value) -> bool {
    body["flags"].as_u64().unwrap_or(0) & 64 == 64
        || body["data"]["flags"].as_u64().unwrap_or(0) & 64 == 64
}

fn content(body: &Value) -> String {
    body["content"]
        .as_str()
        .or(body["data"]["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn from_alert_to_declared_incident_to_approved_run_through_discord() {
    let rig = Rig::start().await;

    // An alert in the channel (posted through the same adapter); A declares from its button.
    let alert = lifeboat::chat::render::alert(
        &lifeboat::feeds::monitor::AlertView {
            alert_id: "heroku-20261125093000".into(),
            provider: "heroku".into(),
            level: lifeboat::domain::HealthLevel::MajorOutage,
            confirmed: true,
            sources: vec![(
                "heroku-status".into(),
                lifeboat::domain::HealthLevel::MajorOutage,
            )],
            incidents: Vec::new(),
            opened_at: chrono::Utc::now(),
        },
        &lifeboat::chat::render::ProviderInfo {
            title: "Heroku".into(),
            runbook: Some("scale-up".into()),
        },
    );
    let posted = DiscordChat::new(Arc::new(discord::build_http(
        &Secret::new(TOKEN),
        Some(&rig.fake.api_base()),
    )))
    .post(&ChannelId(CHANNEL.to_string()), &alert)
    .await
    .expect("the alert is posted");
    let alert_message = rig.fake.message(&posted.id).expect("stored");
    // Embeds keep their level colour; buttons sit in one action row.
    assert_eq!(
        alert_message["embeds"][0]["color"],
        lifeboat::ports::chat::Colour::Red.rgb()
    );
    let declare = alert_message["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(declare, "declare:heroku-20261125093000");
    let mark = rig.fake.mark();
    let (_, declared) = rig
        .interact(button(GUILD, CHANNEL, &alice(), &declare, alert_message))
        .await;
    assert_eq!(declared.body["type"], 4);
    assert!(!ephemeral(&declared.body), "{}", declared.body);
    assert!(
        content(&declared.body).contains("declared by alice"),
        "{}",
        declared.body
    );

    // The incident gets one thread, started from the alert it was declared from; on Discord
    // such a thread takes the message's id. The log records it, so a restart finds it.
    let opened = rig
        .fake
        .wait_call(
            mark,
            "the incident thread",
            |c| {
                c.method == "POST"
                    && c.path == format!("/channels/{CHANNEL}/messages/{}/threads", posted.id)
            },
            WAIT,
        )
        .await;
    let thread = posted.id.clone();
    let starter: u64 = thread.parse().unwrap();
    assert_eq!(rig.fake.threads(), [(starter, CHANNEL, Some(starter))]);
    assert!(
        opened.body["name"].as_str().unwrap().starts_with("INC-"),
        "{}",
        opened.body
    );
    let recorded = wait_event(&rig.store, lifeboat::ports::chat::THREAD_OPENED).await;
    assert_eq!(recorded.data["thread"], thread.as_str());
    let incident = recorded
        .incident
        .clone()
        .expect("recorded for the incident");

    // A requests the run: deferred at once, then the plan with Approve/Deny replaces it.
    let mark = rig.fake.mark();
    let (token, callback) = rig
        .interact(slash(
            GUILD,
            CHANNEL,
            &alice(),
            "runbook",
            "run",
            json!([text("name", "scale-up")]),
        ))
        .await;
    assert_eq!(callback.body["type"], 5, "a run request is deferred");
    let original = rig
        .fake
        .wait_call(
            mark,
            "the request message",
            |c| c.method == "PATCH" && c.path.ends_with(&format!("{token}/messages/@original")),
            WAIT,
        )
        .await;
    assert!(
        content(&original.body).contains("alice requests `scale-up`"),
        "{}",
        original.body
    );
    let buttons = &original.body["components"][0]["components"];
    let approve = buttons[0]["custom_id"].as_str().unwrap().to_owned();
    assert!(approve.starts_with("approve:REQ-"), "{buttons}");
    assert_eq!(
        buttons[1]["custom_id"],
        approve.replace("approve:", "deny:")
    );
    let request_message = rig.fake.original(&token).expect("the request message");

    // A's own approval: acknowledged, then refused privately.
    let mark = rig.fake.mark();
    let (token, callback) = rig
        .interact(button(
            GUILD,
            CHANNEL,
            &alice(),
            &approve,
            request_message.clone(),
        ))
        .await;
    assert_eq!(callback.body["type"], 6);
    let refusal = rig.followup(mark, &token).await;
    assert!(ephemeral(&refusal.body), "{}", refusal.body);
    assert!(
        content(&refusal.body).starts_with("Refused"),
        "{}",
        refusal.body
    );

    // Someone without the approver role: refused privately.
    let mark = rig.fake.mark();
    let (token, _) = rig
        .interact(button(
            GUILD,
            CHANNEL,
            &carol(),
            &approve,
            request_message.clone(),
        ))
        .await;
    let refusal = rig.followup(mark, &token).await;
    assert!(ephemeral(&refusal.body), "{}", refusal.body);
    assert!(
        content(&refusal.body).contains("approver role"),
        "{}",
        refusal.body
    );

    // B approves: the request's buttons are disabled saying who decided, the run starts,
    // said publicly and repeated in the thread, and its progress goes to the thread.
    let mark = rig.fake.mark();
    let (token, _) = rig
        .interact(button(GUILD, CHANNEL, &bob(), &approve, request_message))
        .await;
    let started = rig.followup(mark, &token).await;
    assert!(!ephemeral(&started.body), "{}", started.body);
    assert!(
        content(&started.body).contains("bob approved"),
        "{}",
        started.body
    );
    let settled = rig
        .fake
        .wait_call(
            mark,
            "the request message with its buttons disabled",
            |c| {
                c.method == "PATCH"
                    && c.path == format!("/webhooks/{APP_ID}/{token}/messages/@original")
            },
            WAIT,
        )
        .await;
    assert!(
        content(&settled.body).ends_with("**approved by bob**"),
        "{}",
        settled.body
    );
    let disabled = settled.body["components"][0]["components"]
        .as_array()
        .unwrap();
    assert_eq!(disabled.len(), 2, "{}", settled.body);
    assert!(
        disabled.iter().all(|b| b["disabled"] == true),
        "{}",
        settled.body
    );
    let in_thread = format!("/channels/{thread}/messages");
    let finished = rig
        .fake
        .wait_call(
            mark,
            "the run's last progress message, in the thread",
            |c| c.method == "POST" && c.path == in_thread && content(&c.body).contains("finished"),
            WAIT,
        )
        .await;
    assert!(
        content(&finished.body).starts_with("[RUN-"),
        "{}",
        finished.body
    );
    rig.fake
        .wait_call(
            mark,
            "the approval repeated in the thread",
            |c| {
                c.method == "POST"
                    && c.path == in_thread
                    && content(&c.body).contains("bob approved")
            },
            WAIT,
        )
        .await;
    let thread_messages: Vec<String> = rig
        .fake
        .calls()
        .iter()
        .skip(mark)
        .filter(|c| c.path == in_thread)
        .map(|c| content(&c.body))
        .collect();
    for expected in ["bob approved", "▶ scale", "✔ scale"] {
        assert!(
            thread_messages.iter().any(|p| p.contains(expected)),
            "{expected} not in the thread: {thread_messages:?}"
        );
    }
    assert!(
        !rig.fake
            .calls()
            .iter()
            .skip(mark)
            .any(|c| c.path == format!("/channels/{CHANNEL}/messages")),
        "progress leaked into the channel"
    );

    // `/timeline export format:md`: the post-mortem is uploaded to the thread as a file (a
    // multipart POST), byte for byte what `lifeboat export --format md` prints.
    let mark = rig.fake.mark();
    let (token, callback) = rig
        .interact(slash(
            GUILD,
            CHANNEL,
            &alice(),
            "timeline",
            "export",
            json!([text("format", "md")]),
        ))
        .await;
    assert_eq!(callback.body["type"], 5, "an export is deferred");
    let upload = rig
        .fake
        .wait_call(
            mark,
            "the post-mortem upload",
            |c| c.method == "POST" && c.path == in_thread && !c.files.is_empty(),
            WAIT,
        )
        .await;
    assert_eq!(upload.files.len(), 1);
    let file = &upload.files[0];
    assert_eq!(file.part, "files[0]");
    assert_eq!(file.filename, format!("postmortem-{incident}.md"));
    assert!(
        content(&upload.body).contains("Post-mortem"),
        "{}",
        upload.body
    );
    let expected = lifeboat::timeline::render(
        &rig.store.all().unwrap(),
        &incident,
        lifeboat::timeline::Format::Markdown,
        &rig.config.objectives,
    )
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&file.bytes), expected);
    let answer = rig.followup(mark, &token).await;
    assert!(ephemeral(&answer.body), "{}", answer.body);
    assert!(
        content(&answer.body).contains(&format!("<#{thread}>")),
        "{}",
        answer.body
    );
    rig.stop().await;
}

#[tokio::test]
async fn other_guilds_mistakes_and_refusals_are_answered_privately_and_autocomplete_works() {
    let rig = Rig::start().await;
    let (_, callback) = rig
        .interact(slash(
            OTHER_GUILD,
            CHANNEL,
            &alice(),
            "runbook",
            "run",
            json!([text("name", "scale-up")]),
        ))
        .await;
    assert_eq!(callback.body["type"], 4);
    assert!(ephemeral(&callback.body), "{}", callback.body);
    assert!(
        content(&callback.body).contains("own server"),
        "{}",
        callback.body
    );

    let (_, callback) = rig
        .interact(button(
            OTHER_GUILD,
            CHANNEL,
            &bob(),
            "approve:REQ-1",
            bot_message(CHANNEL, "a request from elsewhere"),
        ))
        .await;
    assert!(ephemeral(&callback.body), "{}", callback.body);

    // A state-changing command outside the incident channel is refused, privately.
    let (_, callback) = rig
        .interact(slash(
            GUILD,
            CHANNEL + 1,
            &alice(),
            "runbook",
            "run",
            json!([text("name", "scale-up")]),
        ))
        .await;
    assert!(ephemeral(&callback.body), "{}", callback.body);
    assert!(
        content(&callback.body).contains("taken only in"),
        "{}",
        callback.body
    );

    let (_, callback) = rig
        .interact(autocomplete(
            GUILD,
            CHANNEL,
            &alice(),
            "runbook",
            "run",
            "name",
            "scale",
        ))
        .await;
    assert_eq!(callback.body["type"], 8);
    assert_eq!(callback.body["data"]["choices"][0]["value"], "scale-up");

    // A slow command refused after it was deferred: the public "thinking" answer is removed
    // and the refusal goes to the user alone.
    let mallory = Member::new(300_000_000_000_000_009, "mallory", &[]);
    let mark = rig.fake.mark();
    let (token, callback) = rig
        .interact(slash(
            GUILD,
            CHANNEL,
            &mallory,
            "runbook",
            "run",
            json!([text("name", "scale-up")]),
        ))
        .await;
    assert_eq!(callback.body["type"], 5);
    let refusal = rig.followup(mark, &token).await;
    assert!(ephemeral(&refusal.body), "{}", refusal.body);
    assert!(
        content(&refusal.body).contains("needs the responder role"),
        "{}",
        refusal.body
    );
    assert!(
        rig.fake
            .calls()
            .iter()
            .skip(mark)
            .any(|c| c.method == "DELETE"
                && c.path == format!("/webhooks/{APP_ID}/{token}/messages/@original")),
        "the deferred answer was not removed"
    );

    // An unknown runbook: the same private answer.
    let mark = rig.fake.mark();
    let (token, _) = rig
        .interact(slash(
            GUILD,
            CHANNEL,
            &alice(),
            "runbook",
            "run",
            json!([text("name", "no-such-runbook")]),
        ))
        .await;
    let unknown = rig.followup(mark, &token).await;
    assert!(ephemeral(&unknown.body), "{}", unknown.body);
    assert!(
        content(&unknown.body).contains("no runbook `no-such-runbook`"),
        "{}",
        unknown.body
    );

    // Missing options and unknown buttons are explained privately, not dropped.
    let (_, callback) = rig
        .interact(slash(GUILD, CHANNEL, &alice(), "runbook", "run", json!([])))
        .await;
    assert!(ephemeral(&callback.body));
    assert!(
        content(&callback.body).contains("missing option"),
        "{}",
        callback.body
    );
    let (_, callback) = rig
        .interact(button(
            GUILD,
            CHANNEL,
            &bob(),
            "launch:missiles",
            bot_message(CHANNEL, "an old message"),
        ))
        .await;
    assert!(ephemeral(&callback.body));
    assert!(
        content(&callback.body).contains("unknown button"),
        "{}",
        callback.body
    );

    // An export with no open incident, or of an incident the log does not know: explained
    // privately (after the deferral), nothing uploaded.
    for (options, expected) in [
        (json!([text("format", "md")]), "no open incident"),
        (
            json!([text("format", "csv"), text("incident", "INC-404")]),
            "no events for incident INC-404",
        ),
    ] {
        let mark = rig.fake.mark();
        let (token, _) = rig
            .interact(slash(
                GUILD,
                CHANNEL,
                &alice(),
                "timeline",
                "export",
                options,
            ))
            .await;
        let answer = rig.followup(mark, &token).await;
        assert!(ephemeral(&answer.body), "{}", answer.body);
        assert!(content(&answer.body).contains(expected), "{}", answer.body);
        assert!(
            rig.fake
                .calls()
                .iter()
                .skip(mark)
                .all(|c| c.files.is_empty())
        );
    }
    rig.stop().await;
}

#[tokio::test]
async fn rest_calls_survive_a_429_and_a_500() {
    let rig = Rig::start().await;
    let chat = DiscordChat::new(Arc::new(discord::build_http(
        &Secret::new(TOKEN),
        Some(&rig.fake.api_base()),
    )));
    // Discord asks for 0.6 s, more than the 200 ms first backoff: the retry must wait for it.
    rig.fake
        .fail_next("/messages", Fault::RateLimited { retry_after: 0.6 });
    rig.fake.fail_next("/messages", Fault::ServerError);
    let mark = rig.fake.mark();
    let posted = chat
        .post(
            &ChannelId(CHANNEL.to_string()),
            &Message {
                content: "hello".into(),
                ..Message::default()
            },
        )
        .await
        .expect("posted after retries");
    let attempts: Vec<Call> = rig
        .fake
        .calls()
        .into_iter()
        .skip(mark)
        .filter(|c| c.path == format!("/channels/{CHANNEL}/messages"))
        .collect();
    assert_eq!(attempts.len(), 3, "429, 500, then success");
    let waited = attempts[1].at.duration_since(attempts[0].at);
    assert!(
        waited >= Duration::from_millis(590),
        "retried {waited:?} after a 429 asking for 600 ms"
    );
    // Only catches a wait far beyond the 600 ms asked (roomy for a loaded machine).
    assert!(
        waited < Duration::from_secs(15),
        "waited {waited:?}, far longer than asked"
    );
    let logs = rig.logs.text();
    assert!(
        logs.contains("Discord rate-limited the call") && logs.contains("wait_ms=600"),
        "the wait was not logged"
    );
    // The retries carry the first attempt's nonce, so Discord cannot post twice.
    let nonce = &attempts[0].body["nonce"];
    assert!(nonce.is_string(), "{}", attempts[0].body);
    assert!(
        attempts
            .iter()
            .all(|c| &c.body["nonce"] == nonce && c.body["enforce_nonce"] == true)
    );
    assert!(rig.fake.message(&posted.id).is_some());

    // An interaction whose callback is rate-limited is still acknowledged.
    rig.fake
        .fail_next("/callback", Fault::RateLimited { retry_after: 0.05 });
    let mark = rig.fake.mark();
    let payload = slash(GUILD, CHANNEL, &alice(), "runbook", "list", json!([]));
    let path = format!(
        "/interactions/{}/{}/callback",
        payload["id"].as_str().unwrap(),
        payload["token"].as_str().unwrap()
    );
    rig.fake.push_interaction(payload);
    let second = rig
        .fake
        .wait_call(mark + 1, "the retried callback", |c| c.path == path, WAIT)
        .await;
    assert_eq!(second.body["type"], 4);
    rig.stop().await;
}

#[tokio::test]
async fn a_gateway_reconnect_mid_flow_resumes_and_the_flow_completes() {
    let rig = Rig::start().await;
    let mark = rig.fake.mark();
    let (token, _) = rig
        .interact(slash(
            GUILD,
            CHANNEL,
            &alice(),
            "runbook",
            "run",
            json!([text("name", "scale-up")]),
        ))
        .await;
    rig.fake
        .wait_call(
            mark,
            "the request message",
            |c| c.method == "PATCH" && c.path.ends_with("/messages/@original"),
            WAIT,
        )
        .await;
    let request = rig.fake.original(&token).expect("the request message");
    let approve = request["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Discord asks the client to reconnect between the request and the approval.
    rig.fake.reconnect();
    rig.fake.wait_resumes(1, WAIT).await;
    assert_eq!(rig.fake.identifies(), 1, "resumed, not re-identified");

    let mark = rig.fake.mark();
    let (token, _) = rig
        .interact(button(GUILD, CHANNEL, &bob(), &approve, request))
        .await;
    let started = rig.followup(mark, &token).await;
    assert!(
        content(&started.body).contains("started"),
        "{}",
        started.body
    );
    rig.fake
        .wait_call(
            mark,
            "the run's end",
            |c| {
                c.path == format!("/channels/{CHANNEL}/messages")
                    && content(&c.body).contains("finished")
            },
            WAIT,
        )
        .await;
    rig.stop().await;
}

/// A slash declaration opens the thread from the declaration itself; autocomplete then
/// offers that incident's id and the configured teams.
#[tokio::test]
async fn a_declared_incident_gets_its_thread_and_autocomplete_offers_incidents_and_teams() {
    let rig = Rig::start().await;
    let mark = rig.fake.mark();
    let (token, callback) = rig
        .interact(slash(
            GUILD,
            CHANNEL,
            &alice(),
            "incident",
            "declare",
            json!([text("title", "Heroku down")]),
        ))
        .await;
    assert_eq!(callback.body["type"], 4);
    let declaration = rig.fake.original(&token).expect("the declaration message");
    let starter = declaration["id"].as_str().unwrap().to_owned();
    rig.fake
        .wait_call(
            mark,
            "the declaration read back",
            |c| {
                c.method == "GET"
                    && c.path == format!("/webhooks/{APP_ID}/{token}/messages/@original")
            },
            WAIT,
        )
        .await;
    let opened = rig
        .fake
        .wait_call(
            mark,
            "the thread from the declaration",
            |c| {
                c.method == "POST"
                    && c.path == format!("/channels/{CHANNEL}/messages/{starter}/threads")
            },
            WAIT,
        )
        .await;
    let declared = wait_event(&rig.store, lifeboat::ports::chat::THREAD_OPENED).await;
    let incident = declared.incident.clone().unwrap();
    assert_eq!(
        opened.body["name"],
        format!("{incident} Heroku down"),
        "{}",
        opened.body
    );

    // Private answers (a note's confirmation, the status) are not repeated in the thread.
    let mark = rig.fake.mark();
    rig.interact(slash(
        GUILD,
        CHANNEL,
        &alice(),
        "incident",
        "note",
        json!([text("text", "DNS TTL is 60 s")]),
    ))
    .await;
    let (_, callback) = rig
        .interact(slash(
            GUILD,
            CHANNEL,
            &alice(),
            "incident",
            "status",
            json!([]),
        ))
        .await;
    assert!(ephemeral(&callback.body));
    assert!(
        !rig.fake
            .calls()
            .iter()
            .skip(mark)
            .any(|c| c.path == format!("/channels/{starter}/messages")),
        "private answers stay private"
    );

    let (_, callback) = rig
        .interact(autocomplete(
            GUILD,
            CHANNEL,
            &alice(),
            "timeline",
            "export",
            "incident",
            "inc-",
        ))
        .await;
    assert_eq!(callback.body["type"], 8);
    assert_eq!(
        callback.body["data"]["choices"][0]["value"],
        incident.to_string(),
        "{}",
        callback.body
    );
    let (_, callback) = rig
        .interact(autocomplete(
            GUILD,
            CHANNEL,
            &alice(),
            "notify",
            "team",
            "team",
            "PLAT",
        ))
        .await;
    let choices = callback.body["data"]["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 1, "{}", callback.body);
    assert_eq!(choices[0]["value"], "platform");
    let (_, callback) = rig
        .interact(autocomplete(
            GUILD,
            CHANNEL,
            &alice(),
            "notify",
            "team",
            "team",
            "",
        ))
        .await;
    assert_eq!(
        callback.body["data"]["choices"].as_array().unwrap().len(),
        2,
        "{}",
        callback.body
    );
    // Another guild learns nothing.
    let (_, callback) = rig
        .interact(autocomplete(
            OTHER_GUILD,
            CHANNEL,
            &alice(),
            "notify",
            "team",
            "team",
            "",
        ))
        .await;
    assert_eq!(
        callback.body["data"]["choices"].as_array().unwrap().len(),
        0,
        "{}",
        callback.body
    );

    // The resolution, answered in the channel, is repeated in the thread it closes.
    let mark = rig.fake.mark();
    let (token, callback) = rig
        .interact(slash(
            GUILD,
            CHANNEL,
            &alice(),
            "incident",
            "resolve",
            json!([]),
        ))
        .await;
    // Resolving calls PagerDuty: deferred, then answered publicly.
    assert_eq!(callback.body["type"], 5, "{}", callback.body);
    let answer = rig
        .fake
        .wait_call(
            mark,
            "the resolution",
            |c| c.method == "PATCH" && c.path.ends_with(&format!("{token}/messages/@original")),
            WAIT,
        )
        .await;
    assert!(
        content(&answer.body).contains("resolved by alice"),
        "{}",
        answer.body
    );
    let echoed = rig
        .fake
        .wait_call(
            mark,
            "the resolution in the thread",
            |c| c.method == "POST" && c.path == format!("/channels/{starter}/messages"),
            WAIT,
        )
        .await;
    assert_eq!(content(&echoed.body), content(&answer.body));
    rig.stop().await;
}

/// A draft's [Edit] button answers with a form prefilled with the draft; the submitted form
/// becomes the draft's new text.
#[tokio::test]
async fn a_draft_is_edited_through_a_modal() {
    let rig = Rig::start().await;
    rig.interact(slash(
        GUILD,
        CHANNEL,
        &alice(),
        "incident",
        "declare",
        json!([text("title", "Heroku down")]),
    ))
    .await;
    wait_event(&rig.store, lifeboat::ports::chat::THREAD_OPENED).await;
    let mark = rig.fake.mark();
    let (token, callback) = rig
        .interact(slash(
            GUILD,
            CHANNEL,
            &alice(),
            "comms",
            "draft",
            json!([text("audience", "clients"), text("kind", "initial")]),
        ))
        .await;
    assert_eq!(callback.body["type"], 5, "drafting is deferred");
    let drafted = rig
        .fake
        .wait_call(
            mark,
            "the draft",
            |c| {
                c.path.ends_with(&format!("{token}/messages/@original"))
                    || c.path == format!("/webhooks/{APP_ID}/{token}")
            },
            WAIT,
        )
        .await;
    let buttons = drafted.body["components"][0]["components"]
        .as_array()
        .unwrap_or_else(|| panic!("no buttons on the draft: {}", drafted.body))
        .clone();
    let edit = buttons
        .iter()
        .filter_map(|b| b["custom_id"].as_str())
        .find(|id| id.starts_with("comms:edit:"))
        .unwrap_or_else(|| panic!("no edit button: {}", drafted.body))
        .to_owned();
    let draft_message = rig.fake.original(&token).expect("the draft message");

    let (_, callback) = rig
        .interact(button(
            GUILD,
            CHANNEL,
            &alice(),
            &edit,
            draft_message.clone(),
        ))
        .await;
    assert_eq!(callback.body["type"], 9, "a modal: {}", callback.body);
    assert_eq!(callback.body["data"]["custom_id"], edit.as_str());
    let input = &callback.body["data"]["components"][0]["components"][0];
    assert_eq!(input["style"], 2, "{input}");
    let before = input["value"].as_str().unwrap().to_owned();
    assert!(!before.is_empty(), "prefilled with the draft");

    let (_, callback) = rig
        .interact(crate::support::discord::modal_submit(
            GUILD,
            CHANNEL,
            &alice(),
            &edit,
            "text",
            "We are failing over to our standby; next update in 30 minutes.",
        ))
        .await;
    assert_eq!(callback.body["type"], 4, "{}", callback.body);
    let (_, callback) = rig
        .interact(button(GUILD, CHANNEL, &alice(), &edit, draft_message))
        .await;
    assert_eq!(
        callback.body["data"]["components"][0]["components"][0]["value"],
        "We are failing over to our standby; next update in 30 minutes.",
        "the form now holds the edited text"
    );

    // A form for a draft that does not exist, or from another guild, is refused privately.
    let (_, callback) = rig
        .interact(crate::support::discord::modal_submit(
            OTHER_GUILD,
            CHANNEL,
            &alice(),
            &edit,
            "text",
            "x",
        ))
        .await;
    assert!(ephemeral(&callback.body));
    let (_, callback) = rig
        .interact(button(
            GUILD,
            CHANNEL,
            &alice(),
            "comms:edit:D-404",
            bot_message(CHANNEL, "an old draft"),
        ))
        .await;
    assert!(ephemeral(&callback.body), "{}", callback.body);
    rig.stop().await;
}

#[tokio::test]
async fn register_puts_the_command_list() {
    let fake = FakeDiscord::start();
    let http = discord::build_http(&Secret::new(TOKEN), Some(&fake.api_base()));
    let n = discord::register(&http, GUILD).await.expect("registered");
    assert_eq!(n, 7);
    let put = fake
        .wait_call(0, "the PUT", |c| c.method == "PUT", WAIT)
        .await;
    assert_eq!(
        put.path,
        format!("/applications/{APP_ID}/guilds/{GUILD}/commands")
    );
    let names: Vec<&str> = put
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "incident", "runbook", "dr", "timeline", "drill", "notify", "comms"
        ]
    );
}

/// `lifeboat register` through the binary: the count on success, a clear exit 1 without a
/// token, and the token never printed.
#[test]
fn the_register_command_uses_the_configured_guild_and_token() {
    let fake = FakeDiscord::start();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n\n[discord]\ntoken_env = \"LB_TEST_TOKEN\"\nguild_id = \"{GUILD}\"\napi_base = \"{}\"\n",
        fake.api_base()
    );
    let path = dir.path().join("lifeboat.toml");
    std::fs::write(&path, text).unwrap();
    let config = path.to_str().unwrap();

    let out = crate::support::lifeboat(
        dir.path(),
        &["register", "--config", config],
        &[("LB_TEST_TOKEN", TOKEN), ("RUST_LOG", "trace")],
    );
    let (stdout, stderr) = (crate::support::stdout(&out), crate::support::stderr(&out));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Registered 7 slash commands"), "{stdout}");
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "token leaked"
    );
    assert!(fake.calls().iter().any(|c| c.method == "PUT"));

    let out = crate::support::lifeboat(dir.path(), &["register", "--config", config], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        crate::support::stderr(&out).contains("set the environment variable LB_TEST_TOKEN"),
        "{}",
        crate::support::stderr(&out)
    );
}

/// Acknowledgement latency (INTERACTION_CREATE sent → callback received), 200 interactions in
/// bursts of 10. Discord's limit is 3 s; loopback should be far below it. On a loaded CI machine
/// this only catches a hang; the real figure comes from `cargo bench --bench chat`.
#[tokio::test]
async fn acknowledgement_latency_over_200_interactions() {
    let rig = Rig::start().await;
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let mark = rig.fake.mark();
        let payloads: Vec<Value> = (0..10)
            .map(|_| slash(GUILD, CHANNEL, &alice(), "runbook", "list", json!([])))
            .collect();
        let ids: Vec<(String, String)> = payloads
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().unwrap().to_owned(),
                    p["token"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for payload in payloads {
            rig.fake.push_interaction(payload);
        }
        for (id, token) in ids {
            let path = format!("/interactions/{id}/{token}/callback");
            let call = rig
                .fake
                .wait_call(mark, "a callback", |c| c.path == path, WAIT)
                .await;
            let sent = rig.fake.sent_at(&id).unwrap();
            latencies.push(call.at.duration_since(sent));
        }
    }
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    eprintln!(
        "acknowledgement latency over {}: p50 {p50:?}, p99 {p99:?}",
        latencies.len()
    );
    assert!(
        p99 < Duration::from_secs(20),
        "p99 {p99:?}: acknowledgements hang"
    );
    rig.stop().await;
}

/// `lifeboat run` with a token set: registers on start, serves interactions over the fake,
/// and stops cleanly on SIGTERM, never printing the token.
#[tokio::test]
async fn the_run_command_serves_discord_until_sigterm() {
    let fake = FakeDiscord::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("commands")).unwrap();
    std::fs::write(dir.path().join("commands/scale-up.toml"), RUNBOOK).unwrap();
    let text = format!(
        r#"[store]
data_dir = "data"

[server]
listen = "127.0.0.1:0"

[paths]
runbooks = "commands"
templates = "{root}/config/templates"

[objectives]
hosting_rto = "4h"
llm_rto = "2h"
rpo = "1h"

[discord]
token_env = "LB_RUN_TOKEN"
guild_id = "{GUILD}"
incident_channel_id = "{CHANNEL}"
api_base = "{base}"
register_on_start = true

[access]
responders = ["{RESPONDER}"]
approvers = ["{APPROVER}"]

[aws.ecs]
cluster = "standby"
services = [{{ name = "web", standby = 3 }}]
"#,
        root = crate::support::root().display(),
        base = fake.api_base(),
    );
    std::fs::write(dir.path().join("lifeboat.toml"), text).unwrap();
    let check = crate::support::lifeboat(dir.path(), &["check", "--config", "lifeboat.toml"], &[]);
    assert!(check.status.success(), "{}", crate::support::stderr(&check));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .current_dir(dir.path())
        .args(["run", "--config", "lifeboat.toml"])
        .env("LB_RUN_TOKEN", TOKEN)
        .env("RUST_LOG", "debug")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Drain both pipes as the child writes, so debug logging can never block it.
    fn drain(pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut pipe = pipe;
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    }
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    // Whatever happens below, the child is stopped.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Stop(child);
    fake.wait_sessions(1, WAIT).await;
    fake.wait_call(0, "the registration", |c| c.method == "PUT", WAIT)
        .await;

    let mark = fake.mark();
    let payload = slash(GUILD, CHANNEL, &alice(), "runbook", "list", json!([]));
    let path = format!(
        "/interactions/{}/{}/callback",
        payload["id"].as_str().unwrap(),
        payload["token"].as_str().unwrap()
    );
    fake.push_interaction(payload);
    let callback = fake
        .wait_call(mark, "the callback", |c| c.path == path, WAIT)
        .await;
    assert!(
        content(&callback.body).contains("scale-up"),
        "{}",
        callback.body
    );

    // SIGTERM: a clean stop.
    let _ = std::process::Command::new("kill")
        .arg(child.0.id().to_string())
        .status();
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "lifeboat did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(status.success(), "{status:?}\n{stdout}\n{stderr}");
    assert!(stdout.contains("Registered 7 slash commands"), "{stdout}");
    assert!(stdout.contains("Lifeboat stopped."), "{stdout}");
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "the token leaked"
    );
}

const ASKING: &str = r#"
name = "ask-then-scale"
title = "Ask, then scale up"
workstream = "hosting"

[approval]
approvals = 1
requester_may_approve = true

[[steps]]
id = "ask"
kind = "confirm"
with = { question = "scale up now?" }

[[steps]]
id = "scale"
kind = "ecs_scale"
with = { to = "standby" }
"#;

/// The incident's thread is in the log: a restarted bot finds it and opens no second one;
/// a run's progress and its questions go to the thread, and an answered question settles.
#[tokio::test]
async fn the_incident_thread_survives_a_restart_and_holds_the_run() {
    use lifeboat::approval::Person;
    use lifeboat::chat::command::Command;
    use lifeboat::chat::recorder::Recorded;

    let bench = crate::engine::Bench::new();
    let runbook = bench.runbook(ASKING);
    let responder = Person {
        id: "alice".into(),
        name: "alice".into(),
        roles: vec!["responder".into(), "approver".into()],
    };
    let bot = Bot::new(
        bench.config.clone(),
        vec![runbook.clone()],
        bench.engine.clone(),
        bench.store.clone(),
    );
    let declared = bot
        .handle(
            Command::IncidentDeclare {
                title: "Heroku down".into(),
                severity: None,
                commander: None,
                alert: None,
            },
            &responder,
        )
        .await;
    assert!(!declared.ephemeral, "{declared:?}");
    let thread = bot.open_thread(None).await.expect("a thread");
    assert_eq!(bench.chat.threads(), std::slice::from_ref(&thread));
    drop(bot);

    let bot = Bot::new(
        bench.config.clone(),
        vec![runbook],
        bench.engine.clone(),
        bench.store.clone(),
    );
    assert_eq!(bot.incident_thread(), Some(thread.clone()));
    assert_eq!(bot.open_thread(None).await, Some(thread.clone()));
    assert_eq!(bench.chat.threads().len(), 1, "no second thread");

    let requested = bot
        .handle(
            Command::RunbookRun {
                name: "ask-then-scale".into(),
                params: BTreeMap::new(),
            },
            &responder,
        )
        .await;
    let request = requested.message.buttons[0]
        .custom_id
        .strip_prefix("approve:")
        .expect("an Approve button")
        .to_owned();
    // This runbook lets its requester approve.
    let started = bot.handle(Command::Approve { request }, &responder).await;
    assert!(!started.ephemeral, "{started:?}");
    tokio::time::timeout(
        WAIT,
        bench.chat.wait_for(|log| {
            log.iter().any(|r| matches!(r, Recorded::Posted { at, message } if at.channel == thread && message.content.contains("scale up now?")))
        }),
    )
    .await
    .expect("the question in the thread");
    let run = bot.runs().last().expect("a run").run.to_string();
    let answer = bot
        .handle(
            Command::Confirm {
                run: run.clone(),
                step: "ask".into(),
                yes: true,
            },
            &responder,
        )
        .await;
    assert_eq!(answer.settles.as_deref(), Some("confirmed by alice"));
    let again = bot
        .handle(
            Command::Confirm {
                run,
                step: "ask".into(),
                yes: true,
            },
            &responder,
        )
        .await;
    assert_eq!(
        again.settles.as_deref(),
        Some("no longer open"),
        "a stale button is disabled too"
    );
    tokio::time::timeout(
        WAIT,
        bench.chat.wait_for(|log| {
            log.iter().any(|r| matches!(r, Recorded::Posted { at, message } if at.channel == thread && message.content.contains("finished")))
        }),
    )
    .await
    .expect("the run finished in the thread");
    let in_channel = bench.chat.in_channel(&ChannelId("incident".into()));
    assert!(
        in_channel.iter().all(|m| !m.content.starts_with("[RUN-")),
        "progress leaked into the channel: {in_channel:?}"
    );
}

/// `/drill start` on the shipped config: answered at once, one drill at a time, and the
/// results (summary and Markdown post-mortem, both marked as a drill) posted when it ends,
/// while the live event log gets no drill incident.
#[tokio::test]
async fn a_drill_started_from_discord_reports_as_a_drill() {
    let rig = Rig::start_with(|_, dir| {
        let root = crate::support::root();
        let mut config = Config::load(&root.join("config/lifeboat.toml"))
            .unwrap_or_else(|e| panic!("{e:?}"))
            .config;
        // The drill's log is kept under the data dir: the rig's, not the checkout's.
        config.store.data_dir = dir.join("data");
        let loaded = lifeboat::runbook::load_dir(&root.join("commands"), &config);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        (config, loaded.runbooks)
    })
    .await;
    let mark = rig.fake.mark();
    let start = || {
        slash(
            GUILD,
            CHANNEL,
            &alice(),
            "drill",
            "start",
            json!([text("scenario", "heroku-outage")]),
        )
    };
    let (_, callback) = rig.interact(start()).await;
    assert_eq!(callback.body["type"], 4);
    assert!(!ephemeral(&callback.body));
    assert!(
        content(&callback.body).contains("DRILL heroku-outage started by alice"),
        "{}",
        callback.body
    );
    let (_, again) = rig.interact(start()).await;
    assert!(ephemeral(&again.body));
    assert!(
        content(&again.body).contains("already running"),
        "{}",
        again.body
    );

    let report = rig
        .fake
        .wait_call(
            mark,
            "the drill's report",
            |c| {
                c.method == "POST"
                    && c.path == format!("/channels/{CHANNEL}/messages")
                    && !c.files.is_empty()
            },
            Duration::from_secs(120),
        )
        .await;
    let said = content(&report.body);
    assert!(
        said.starts_with("🧪 DRILL heroku-outage finished"),
        "{said}"
    );
    assert!(
        said.contains("heroku → failover-hosting (succeeded"),
        "{said}"
    );
    let file = &report.files[0];
    assert!(
        file.filename.starts_with("drill-INC-") && file.filename.ends_with(".md"),
        "{}",
        file.filename
    );
    let markdown = String::from_utf8_lossy(&file.bytes);
    assert!(
        markdown.starts_with("> **DRILL** (heroku-outage)"),
        "{markdown}"
    );
    assert!(markdown.contains("failover-hosting"), "{markdown}");
    let live = rig.store.all().unwrap();
    assert!(live.iter().any(|e| e.kind == "drill.requested"));
    assert!(
        !live.iter().any(|e| e.kind == "incident.declared"),
        "the drill's incident stays in its own log"
    );
    rig.stop().await;
}

/// A denial from the buttons answers with the request message itself updated (type 7): its
/// buttons disabled and who decided; the denial is said publicly in a follow-up.
#[tokio::test]
async fn a_denied_request_has_its_buttons_disabled() {
    let rig = Rig::start().await;
    let mark = rig.fake.mark();
    let (token, _) = rig
        .interact(slash(
            GUILD,
            CHANNEL,
            &alice(),
            "runbook",
            "run",
            json!([text("name", "scale-up")]),
        ))
        .await;
    rig.fake
        .wait_call(
            mark,
            "the request message",
            |c| c.method == "PATCH" && c.path.ends_with(&format!("{token}/messages/@original")),
            WAIT,
        )
        .await;
    let request = rig.fake.original(&token).expect("the request message");
    let deny = request["components"][0]["components"][1]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(deny.starts_with("deny:REQ-"), "{deny}");

    let mark = rig.fake.mark();
    let (token, callback) = rig
        .interact(button(GUILD, CHANNEL, &bob(), &deny, request.clone()))
        .await;
    assert_eq!(callback.body["type"], 7, "{}", callback.body);
    assert!(
        content(&callback.body).ends_with("**denied by bob**"),
        "{}",
        callback.body
    );
    let buttons = callback.body["data"]["components"][0]["components"]
        .as_array()
        .unwrap();
    assert_eq!(buttons.len(), 2);
    assert!(buttons.iter().all(|b| b["disabled"] == true), "{buttons:?}");
    let said = rig.followup(mark, &token).await;
    assert!(!ephemeral(&said.body));
    assert!(content(&said.body).contains("bob denied"), "{}", said.body);
    let denied = wait_event(&rig.store, "run.denied").await;
    assert_eq!(
        denied.data["request"].as_str(),
        deny.strip_prefix("deny:"),
        "{denied:?}"
    );
    assert_eq!(denied.data["by"]["name"], "bob");

    // A press on the stale message answers privately and leaves the buttons disabled.
    let (_, callback) = rig
        .interact(button(GUILD, CHANNEL, &bob(), &deny, request))
        .await;
    assert_eq!(callback.body["type"], 7, "{}", callback.body);
    assert!(
        content(&callback.body).ends_with("**already decided**"),
        "{}",
        callback.body
    );
    rig.stop().await;
}

/// A request nobody approves in time: when it expires its message loses its buttons and says
/// so, and the log records the expiry.
#[tokio::test]
async fn an_expired_request_has_its_buttons_disabled() {
    let rig = Rig::start_with(|base, dir| {
        let config = config(base);
        let path = dir.join("hasty.toml");
        std::fs::write(
            &path,
            RUNBOOK
                .replace("scale-up", "hasty")
                .replace("approvals = 1", "approvals = 1\nexpires = \"1s\""),
        )
        .unwrap();
        let runbook = load_file(&path, &config).unwrap_or_else(|e| panic!("{e:#?}"));
        (config, vec![runbook])
    })
    .await;
    let mark = rig.fake.mark();
    let (token, _) = rig
        .interact(slash(
            GUILD,
            CHANNEL,
            &alice(),
            "runbook",
            "run",
            json!([text("name", "hasty")]),
        ))
        .await;
    rig.fake
        .wait_call(
            mark,
            "the request message",
            |c| c.method == "PATCH" && c.path.ends_with(&format!("{token}/messages/@original")),
            WAIT,
        )
        .await;
    let request = rig.fake.original(&token).expect("the request message");
    let id = request["id"].as_str().unwrap().to_owned();
    let expired = rig
        .fake
        .wait_call(
            mark,
            "the request message edited at expiry",
            |c| c.method == "PATCH" && c.path == format!("/channels/{CHANNEL}/messages/{id}"),
            WAIT,
        )
        .await;
    assert!(
        content(&expired.body).contains("**expired at "),
        "{}",
        expired.body
    );
    let buttons = expired.body["components"][0]["components"]
        .as_array()
        .unwrap();
    assert_eq!(buttons.len(), 2);
    assert!(buttons.iter().all(|b| b["disabled"] == true), "{buttons:?}");
    let logged = wait_event(&rig.store, "run.request_expired").await;
    assert_eq!(logged.data["runbook"], "hasty");

    // A late approval is refused as expired, privately.
    let mark = rig.fake.mark();
    let approve = request["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (token, _) = rig
        .interact(button(GUILD, CHANNEL, &bob(), &approve, request))
        .await;
    let refusal = rig.followup(mark, &token).await;
    assert!(ephemeral(&refusal.body));
    assert!(
        content(&refusal.body).contains("expired"),
        "{}",
        refusal.body
    );
    rig.stop().await;
}

/// Threads through the adapter alone: from a message (the thread takes its id) or standalone,
/// and replies to a message that started a thread land in that thread.
#[tokio::test]
async fn threads_and_replies_through_the_adapter() {
    let fake = FakeDiscord::start();
    let chat = DiscordChat::new(Arc::new(discord::build_http(
        &Secret::new(TOKEN),
        Some(&fake.api_base()),
    )));
    let channel = ChannelId(CHANNEL.to_string());
    let say = |text: &str| Message {
        content: text.into(),
        ..Message::default()
    };
    let alert = chat.post(&channel, &say("Heroku is down")).await.unwrap();
    let other = chat
        .post(&channel, &say("Anthropic is slow"))
        .await
        .unwrap();
    let thread = chat
        .open_thread(&channel, Some(&alert), &"INC-1 ".repeat(30))
        .await
        .unwrap();
    assert_eq!(thread.0, alert.id);
    let standalone = chat.open_thread(&channel, None, "INC-2").await.unwrap();
    assert_ne!(standalone.0, alert.id);
    let calls = fake.calls();
    let named = calls.iter().find(|c| c.path.ends_with("/threads")).unwrap();
    assert_eq!(
        named.body["name"].as_str().unwrap().chars().count(),
        100,
        "thread names are cut to Discord's 100"
    );
    assert_eq!(
        calls.last().unwrap().path,
        format!("/channels/{CHANNEL}/threads")
    );
    assert_eq!(calls.last().unwrap().body["type"], 11, "a public thread");

    let mark = fake.mark();
    let update = chat.reply(&alert, &say("identified")).await.unwrap();
    assert_eq!(update.channel, thread);
    let unthreaded = chat.reply(&other, &say("recovering")).await.unwrap();
    assert_eq!(unthreaded.channel, channel);
    let calls: Vec<Call> = fake.calls().into_iter().skip(mark).collect();
    assert_eq!(calls[0].path, format!("/channels/{}/messages", alert.id));
    assert_eq!(calls[1].path, format!("/channels/{CHANNEL}/messages"));
    assert_eq!(
        calls[1].body["message_reference"]["message_id"],
        other.id.as_str()
    );
}

/// Two requests for one runbook in the same second get different ids, and approvals pressed
/// at the same moment by several approvers start the run exactly once: the others are told
/// the request is already decided, and nothing logs a denial.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_approvals_start_the_run_once_and_request_ids_never_collide() {
    use lifeboat::approval::Person;
    use lifeboat::chat::command::Command;

    let bench = crate::engine::Bench::new();
    let runbook = bench.runbook(RUNBOOK);
    let bot = Arc::new(Bot::new(
        bench.config.clone(),
        vec![runbook],
        bench.engine.clone(),
        bench.store.clone(),
    ));
    let person = |id: &str, role: &str| Person {
        id: id.into(),
        name: id.into(),
        roles: vec![role.into()],
    };
    let alice = person("alice", "responder");
    let request = || Command::RunbookRun {
        name: "scale-up".into(),
        params: BTreeMap::new(),
    };
    let id_of = |reply: &lifeboat::chat::bot::Reply| {
        reply.message.buttons[0]
            .custom_id
            .strip_prefix("approve:")
            .expect("an Approve button")
            .to_owned()
    };
    let first = id_of(&bot.handle(request(), &alice).await);
    let second = id_of(&bot.handle(request(), &alice).await);
    assert_ne!(first, second, "two requests, two ids");
    for id in [&first, &second] {
        assert!(id.starts_with("REQ-20"), "date and time first: {id}");
        assert!(format!("approve:{id}").len() <= 100, "{id}");
        assert!(bot.pending_request(id).is_some(), "{id} is kept");
    }
    let logged: Vec<String> = bench
        .store
        .all()
        .unwrap()
        .iter()
        .filter(|e| e.kind == "run.requested")
        .map(|e| e.data["request"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(logged, [first.clone(), second.clone()]);

    let approvers = 8;
    let gate = Arc::new(tokio::sync::Barrier::new(approvers));
    let presses: Vec<_> = (0..approvers)
        .map(|n| {
            let (bot, gate, request) = (bot.clone(), gate.clone(), first.clone());
            tokio::spawn(async move {
                let who = person(&format!("approver-{n}"), "approver");
                gate.wait().await;
                bot.handle(Command::Approve { request }, &who).await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for press in presses {
        replies.push(press.await.expect("the press is handled"));
    }
    let started: Vec<_> = replies.iter().filter(|r| !r.ephemeral).collect();
    assert_eq!(started.len(), 1, "{replies:#?}");
    assert!(
        started[0].message.content.contains(": run RUN-"),
        "{:?}",
        started[0]
    );
    for refused in replies.iter().filter(|r| r.ephemeral) {
        assert_eq!(
            refused.message.content, "Refused: this request is already decided.",
            "{refused:?}"
        );
        assert_eq!(refused.settles.as_deref(), Some("already decided"));
    }
    let events = bench.store.all().unwrap();
    let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
    assert_eq!(count("run.approved"), 1);
    assert_eq!(count("run.approval_counted"), 1);
    assert_eq!(count("approval.refused"), approvers - 1);
    assert_eq!(count("run.denied"), 0, "no misleading denial");
    assert_eq!(count("run.started"), 1);
}

/// Alice requests `runbook` with `/runbook run`; returns the request message with its buttons.
async fn request_run(rig: &Rig, runbook: &str) -> Value {
    let mark = rig.fake.mark();
    let (token, _) = rig
        .interact(slash(
            GUILD,
            CHANNEL,
            &alice(),
            "runbook",
            "run",
            json!([text("name", runbook)]),
        ))
        .await;
    rig.fake
        .wait_call(
            mark,
            "the request message",
            |c| c.method == "PATCH" && c.path.ends_with(&format!("{token}/messages/@original")),
            WAIT,
        )
        .await;
    rig.fake.original(&token).expect("the request message")
}

/// Bob presses Approve on a request message; returns the run it started.
async fn approve_run(rig: &Rig, request: Value) -> String {
    let approve = request["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mark = rig.fake.mark();
    let (token, _) = rig
        .interact(button(GUILD, CHANNEL, &bob(), &approve, request))
        .await;
    let started = rig.followup(mark, &token).await;
    assert!(
        content(&started.body).contains("bob approved"),
        "{}",
        started.body
    );
    let id = approve.strip_prefix("approve:").unwrap();
    let approved = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(e) = rig
                .store
                .all()
                .unwrap()
                .into_iter()
                .find(|e| e.kind == "run.approved" && e.data["request"] == id)
            {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("run.approved in the log");
    approved.data["run"].as_str().unwrap().to_owned()
}

/// Waits for the bot's earliest message whose content starts with `start` and contains
/// `needle`.
async fn wait_message(rig: &Rig, start: &str, needle: &str) -> Value {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(m) = rig.fake.find_message(|m| {
                let said = m["content"].as_str().unwrap_or_default();
                said.starts_with(start) && said.contains(needle)
            }) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no message starting {start:?} with {needle:?}"))
}

/// Waits until the log holds `n` events of `kind`; returns them.
async fn wait_events(
    store: &SledStore,
    kind: &str,
    n: usize,
) -> Vec<lifeboat::domain::event::Event> {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            let events: Vec<_> = store
                .all()
                .unwrap()
                .into_iter()
                .filter(|e| e.kind == kind)
                .collect();
            if events.len() >= n {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("fewer than {n} {kind} events in the log"))
}

const ASK_THEN_FAIL: &str = r#"
name = "ask-then-fail"
title = "Ask, try, then scale up"
workstream = "hosting"

[approval]
approvals = 1

[[steps]]
id = "ask"
kind = "confirm"
with = { question = "scale up now?" }

[[steps]]
id = "try"
kind = "command"
on_failure = "pause"
with = { argv = ["false"] }

[[steps]]
id = "scale"
kind = "ecs_scale"
with = { to = "standby" }
"#;

fn rig_with(
    runbook: &'static str,
) -> impl FnOnce(&str, &std::path::Path) -> (Config, Vec<lifeboat::runbook::Runbook>) {
    move |base, dir| {
        let config = config(base);
        let path = dir.join("runbook.toml");
        std::fs::write(&path, runbook).unwrap();
        let runbook = load_file(&path, &config).unwrap_or_else(|e| panic!("{e:#?}"));
        (config, vec![runbook])
    }
}

/// A run's buttons pressed through serenity: the `confirm` step's [Confirm], then, once a
/// failing step pauses the run, [Skip] from the paused message's [Resume] [Skip] [Abort]; each
/// press settles its message (buttons disabled, who decided) and the run goes on to the end.
/// The failed step's message gives its duration.
#[tokio::test]
async fn confirm_and_paused_run_buttons_work_through_discord() {
    let rig = Rig::start_with(rig_with(ASK_THEN_FAIL)).await;
    // An open incident: the run's messages go to its thread, and are pressed there.
    let (_, declared) = rig
        .interact(slash(
            GUILD,
            CHANNEL,
            &alice(),
            "incident",
            "declare",
            json!([text("title", "Heroku down")]),
        ))
        .await;
    assert!(!ephemeral(&declared.body), "{}", declared.body);
    let opened = wait_event(&rig.store, lifeboat::ports::chat::THREAD_OPENED).await;
    let thread: u64 = opened.data["thread"].as_str().unwrap().parse().unwrap();
    let press = |custom_id: &str, message: Value| {
        crate::support::discord::in_thread(
            button(GUILD, CHANNEL, &carol(), custom_id, message),
            thread,
            CHANNEL,
        )
    };
    let request = request_run(&rig, "ask-then-fail").await;
    let run = approve_run(&rig, request).await;

    // The question, with [Confirm] [Reject]; carol (a responder) confirms.
    let question = wait_message(&rig, "❓ scale up now?", &run).await;
    assert_eq!(question["channel_id"], thread.to_string(), "in the thread");
    let ids: Vec<&str> = question["components"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            format!("confirm:{run}:ask:yes"),
            format!("confirm:{run}:ask:no")
        ],
        "{question}"
    );
    let (_, callback) = rig.interact(press(ids[0], question.clone())).await;
    assert_eq!(callback.body["type"], 7, "{}", callback.body);
    assert!(
        content(&callback.body).ends_with("**confirmed by carol**"),
        "{}",
        callback.body
    );
    let buttons = callback.body["data"]["components"][0]["components"]
        .as_array()
        .unwrap();
    assert_eq!(buttons.len(), 2);
    assert!(buttons.iter().all(|b| b["disabled"] == true), "{buttons:?}");
    let answered = wait_event(&rig.store, "step.succeeded").await;
    assert_eq!(answered.data["step"], "ask");

    // `try` fails and pauses the run: its failure says how long it took, and the paused
    // message carries [Resume] [Skip] [Abort].
    let failed = wait_message(&rig, &format!("[{run}]"), "✖ try").await;
    let said = failed["content"].as_str().unwrap();
    assert!(said.contains(" ms, 1 attempt(s)): "), "{said}");
    let paused = wait_message(&rig, &format!("[{run}]"), "⏸ paused").await;
    assert_eq!(paused["channel_id"], thread.to_string(), "in the thread");
    let ids: Vec<String> = paused["components"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["custom_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        ["retry", "skip", "abort"].map(|d| format!("run:{run}:{d}")),
        "{paused}"
    );
    let mark = rig.fake.mark();
    let (_, callback) = rig.interact(press(&ids[1], paused.clone())).await;
    assert_eq!(callback.body["type"], 7, "{}", callback.body);
    assert!(
        content(&callback.body).ends_with("**Skip chosen by carol**"),
        "{}",
        callback.body
    );
    let buttons = callback.body["data"]["components"][0]["components"]
        .as_array()
        .unwrap();
    assert_eq!(buttons.len(), 3);
    assert!(buttons.iter().all(|b| b["disabled"] == true), "{buttons:?}");
    let skipped = wait_event(&rig.store, "step.skipped").await;
    assert_eq!(skipped.data["step"], "try");
    assert!(
        skipped.actor.to_string().starts_with("carol ("),
        "{:?}",
        skipped.actor
    );
    let resumed = wait_event(&rig.store, "run.resumed").await;
    assert_eq!(resumed.data["decision"], "skip");
    rig.fake
        .wait_call(
            mark,
            "the run finishing",
            |c| c.method == "POST" && content(&c.body).contains("🏁 ask-then-fail finished"),
            WAIT,
        )
        .await;
    wait_event(&rig.store, "run.succeeded").await;

    // A stale press on the paused message: no longer paused, its buttons stay disabled.
    let (_, callback) = rig.interact(press(&ids[0], paused)).await;
    assert_eq!(callback.body["type"], 7, "{}", callback.body);
    assert!(
        content(&callback.body).ends_with("**no longer paused**"),
        "{}",
        callback.body
    );
    rig.stop().await;
}

const FAIL_THEN_SCALE: &str = r#"
name = "fail-then-scale"
title = "Try, then scale up"
workstream = "hosting"

[approval]
approvals = 1

[[steps]]
id = "try"
kind = "command"
on_failure = "pause"
with = { argv = ["false"] }

[[steps]]
id = "scale"
kind = "ecs_scale"
with = { to = "standby" }
"#;

/// `/runbook plan|status|resume|cancel` through serenity: the plan privately (deferred
/// first), the paused run in the status, a resume that retries (and pauses again), and a
/// cancel that ends the paused run; each in the log.
#[tokio::test]
async fn runbook_plan_status_resume_and_cancel_through_discord() {
    let rig = Rig::start_with(rig_with(FAIL_THEN_SCALE)).await;
    let ask = |sub: &str, options: Value| slash(GUILD, CHANNEL, &alice(), "runbook", sub, options);

    let mark = rig.fake.mark();
    let (token, callback) = rig
        .interact(ask("plan", json!([text("name", "fail-then-scale")])))
        .await;
    assert_eq!(callback.body["type"], 5, "a plan is deferred");
    let plan = rig.followup(mark, &token).await;
    assert!(ephemeral(&plan.body), "{}", plan.body);
    let said = content(&plan.body);
    assert!(said.starts_with("Plan for fail-then-scale"), "{said}");
    assert!(said.contains("on failure: pause"), "{said}");

    let request = request_run(&rig, "fail-then-scale").await;
    let run = approve_run(&rig, request).await;
    wait_event(&rig.store, "run.paused").await;

    let (_, status) = rig.interact(ask("status", json!([]))).await;
    assert_eq!(status.body["type"], 4);
    assert!(ephemeral(&status.body), "{}", status.body);
    let said = content(&status.body);
    assert!(
        said.contains(&format!(
            "run {run} (fail-then-scale): 0 steps done, PAUSED at try"
        )),
        "{said}"
    );

    let (_, resumed) = rig
        .interact(ask(
            "resume",
            json!([text("run", &run), text("decision", "retry")]),
        ))
        .await;
    assert!(ephemeral(&resumed.body), "{}", resumed.body);
    assert_eq!(content(&resumed.body), format!("{run}: Retry sent"));
    let resumed = wait_event(&rig.store, "run.resumed").await;
    assert_eq!(resumed.data["decision"], "retry");
    assert!(resumed.actor.to_string().starts_with("alice ("));
    // The retry fails again: paused a second time.
    wait_events(&rig.store, "run.paused", 2).await;

    let (_, cancelled) = rig
        .interact(ask("cancel", json!([text("run", &run)])))
        .await;
    assert!(ephemeral(&cancelled.body), "{}", cancelled.body);
    assert_eq!(
        content(&cancelled.body),
        format!("{run} will stop after its current step")
    );
    wait_event(&rig.store, "run.cancel_requested").await;
    let aborted = wait_event(&rig.store, "run.aborted").await;
    assert_eq!(aborted.data["step"], "try");
    assert!(
        aborted.actor.to_string().starts_with("alice ("),
        "{:?}",
        aborted.actor
    );
    assert!(
        !rig.store
            .all()
            .unwrap()
            .iter()
            .any(|e| e.kind == "step.succeeded"),
        "the cancelled run scaled nothing"
    );

    // Once it ended: nothing active, and deciding it again is refused.
    tokio::time::timeout(WAIT, async {
        loop {
            let (_, status) = rig.interact(ask("status", json!([]))).await;
            if content(&status.body).contains("runs: none active") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the run ends");
    let (_, again) = rig
        .interact(ask("resume", json!([text("run", &run)])))
        .await;
    assert!(ephemeral(&again.body), "{}", again.body);
    assert!(content(&again.body).contains(&run), "{}", again.body);
    rig.stop().await;
}

const THREAD: u64 = 100_000_000_000_000_077;
const ELSEWHERE: u64 = 100_000_000_000_000_003;

/// State-changing commands are taken in a thread under the incident channel (the
/// interaction's channel carries its parent), refused elsewhere with `command.refused`
/// logged, and `/incident resolve` (which calls PagerDuty) is deferred before its answer.
#[tokio::test]
async fn commands_in_incident_threads_are_taken_and_elsewhere_refused_and_logged() {
    let rig = Rig::start().await;
    let (_, declared) = rig
        .interact(slash(
            GUILD,
            CHANNEL,
            &alice(),
            "incident",
            "declare",
            json!([text("title", "Heroku down")]),
        ))
        .await;
    assert!(!ephemeral(&declared.body), "{}", declared.body);
    wait_event(&rig.store, lifeboat::ports::chat::THREAD_OPENED).await;

    let note = |channel: u64, text_: &str| {
        slash(
            GUILD,
            channel,
            &alice(),
            "incident",
            "note",
            json!([text("text", text_)]),
        )
    };
    let (_, noted) = rig
        .interact(crate::support::discord::in_thread(
            note(CHANNEL, "from the thread"),
            THREAD,
            CHANNEL,
        ))
        .await;
    assert!(ephemeral(&noted.body), "{}", noted.body);
    assert!(
        content(&noted.body).starts_with("note added to INC-"),
        "{}",
        noted.body
    );
    let added = wait_event(&rig.store, "note.added").await;
    assert_eq!(added.data["text"], "from the thread");

    // Another channel, and a thread under another channel: refused privately, and logged.
    for payload in [
        note(ELSEWHERE, "from elsewhere"),
        crate::support::discord::in_thread(note(ELSEWHERE, "from elsewhere"), THREAD, ELSEWHERE),
    ] {
        let (_, refused) = rig.interact(payload).await;
        assert!(ephemeral(&refused.body), "{}", refused.body);
        assert!(
            content(&refused.body).starts_with("Refused: `/incident note` changes state"),
            "{}",
            refused.body
        );
    }
    let refusals = wait_events(&rig.store, "command.refused", 2).await;
    for refusal in &refusals {
        assert_eq!(refusal.data["command"], "incident note");
        assert_eq!(refusal.data["needs"], "the incident channel");
        assert!(refusal.actor.to_string().starts_with("alice ("));
    }
    let notes = rig
        .store
        .all()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "note.added")
        .count();
    assert_eq!(notes, 1, "refused notes are not added");

    // `/incident resolve` from the thread: deferred, then answered publicly.
    let mark = rig.fake.mark();
    let (token, callback) = rig
        .interact(crate::support::discord::in_thread(
            slash(GUILD, CHANNEL, &alice(), "incident", "resolve", json!([])),
            THREAD,
            CHANNEL,
        ))
        .await;
    assert_eq!(callback.body["type"], 5, "a resolution is deferred");
    let answer = rig
        .fake
        .wait_call(
            mark,
            "the resolution",
            |c| c.method == "PATCH" && c.path.ends_with(&format!("{token}/messages/@original")),
            WAIT,
        )
        .await;
    assert!(
        content(&answer.body).contains("resolved"),
        "{}",
        answer.body
    );
    wait_event(&rig.store, "incident.resolved").await;
    rig.stop().await;
}

/// A request's [Approve] still works after a restart: a new bot over the same log, on a new
/// serenity client, finds the pending request and starts the run.
#[tokio::test]
async fn an_approve_button_works_after_a_restart() {
    let mut rig = Rig::start().await;
    let request = request_run(&rig, "scale-up").await;
    rig.restart().await;
    let run = approve_run(&rig, request).await;
    assert!(run.starts_with("RUN-"), "{run}");
    let succeeded = wait_event(&rig.store, "run.succeeded").await;
    assert_eq!(succeeded.run.map(|r| r.to_string()), Some(run));
    rig.stop().await;
}

/// The whole flow from a real alert: the feed watcher polls a local Statuspage server (a
/// real capture of a major outage) and posts its alert through the Discord adapter; alice
/// declares from the alert's button, the thread starts from the alert, bob approves the
/// proposed runbook, and the run's progress lands in the thread.
#[tokio::test]
async fn an_alert_from_the_feed_watcher_leads_to_an_approved_run_in_the_thread() {
    use lifeboat::service::watcher::Watcher;

    let status = crate::support::http::HttpServer::start();
    status.reply(
        "/api/v2/summary.json",
        crate::support::http::Reply::json(crate::support::capture(
            "github_statuspage_summary_major_outage_2020.json",
        )),
    );
    let feed = status.url("/api/v2/summary.json");
    let rig = Rig::start_with(move |base, dir| {
        let extra = format!(
            r#"
[watch]
debounce = 1
jitter = 0.0

[[providers]]
name = "github"
title = "GitHub"
workstream = "hosting"
runbook = "scale-up"

[[feeds]]
name = "github-status"
provider = "github"
kind = "statuspage"
url = "{feed}"
interval = "30s"
"#
        );
        let config = config_with(base, &extra);
        let path = dir.join("scale-up.toml");
        std::fs::write(&path, RUNBOOK).unwrap();
        let runbook = load_file(&path, &config).unwrap_or_else(|e| panic!("{e:#?}"));
        (config, vec![runbook])
    })
    .await;
    let chat = Arc::new(DiscordChat::new(Arc::new(discord::build_http(
        &Secret::new(TOKEN),
        Some(&rig.fake.api_base()),
    ))));
    let watcher = Watcher::new(
        &rig.config,
        rig.store.clone(),
        chat,
        ChannelId(CHANNEL.to_string()),
        Arc::new(lifeboat::ports::clock::TokioClock::new()),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let watching = tokio::spawn(watcher.run(stopped));

    let posted = wait_event(&rig.store, "alert.posted").await;
    assert_eq!(posted.data["provider"], "github");
    let alert_id = posted.data["alert_id"].as_str().unwrap().to_owned();
    let message_id = posted.data["message"]["id"].as_str().unwrap().to_owned();
    let alert = rig.fake.message(&message_id).expect("the alert message");
    assert_eq!(alert["channel_id"], CHANNEL.to_string());
    let buttons: Vec<&str> = alert["components"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(buttons[0], format!("declare:{alert_id}"), "{alert}");
    assert!(
        buttons.iter().any(|b| b.starts_with("plan:scale-up")),
        "the provider's runbook is proposed: {buttons:?}"
    );

    let (_, declared) = rig
        .interact(button(GUILD, CHANNEL, &alice(), buttons[0], alert.clone()))
        .await;
    assert!(
        content(&declared.body).contains("declared by alice"),
        "{}",
        declared.body
    );
    let opened = wait_event(&rig.store, lifeboat::ports::chat::THREAD_OPENED).await;
    assert_eq!(
        opened.data["thread"],
        message_id.as_str(),
        "started from the alert"
    );
    let incident = wait_event(&rig.store, "incident.declared").await;
    assert_eq!(incident.data["alert"], alert_id.as_str());
    assert_eq!(incident.data["providers"], json!(["github"]));

    let mark = rig.fake.mark();
    let request = request_run(&rig, "scale-up").await;
    let run = approve_run(&rig, request).await;
    let in_thread = format!("/channels/{message_id}/messages");
    rig.fake
        .wait_call(
            mark,
            "the run finishing in the thread",
            |c| {
                c.method == "POST"
                    && c.path == in_thread
                    && content(&c.body).starts_with(&format!("[{run}] 🏁"))
            },
            WAIT,
        )
        .await;
    assert!(status.hits("/api/v2/summary.json") >= 1);
    stop.send(true).unwrap();
    tokio::time::timeout(WAIT, watching)
        .await
        .expect("the watcher stops")
        .unwrap();
    rig.stop().await;
}
