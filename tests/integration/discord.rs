//! The Discord adapter through the real serenity client against the in-process fake Discord
//! (`support::discord`), with the engine over the simulated AWS: slash commands, buttons,
//! the two-person rule, refusals, progress in the channel, registration, REST retries,
//! gateway reconnects, and acknowledgement latency.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lifeboat::aws::{AwsEdges, SimulatedAws};
use lifeboat::chat::bot::Bot;
use lifeboat::chat::discord::{self, DiscordChat, Handler};
use lifeboat::chat::{ChannelId, Chat, Message};
use lifeboat::config::{Config, Secret};
use lifeboat::runbook::engine::Engine;
use lifeboat::runbook::load_file;
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

[aws.ecs]
cluster = "standby"
services = [{{ name = "web", standby = 3 }}]

[aws.dns]
zone_id = "Z1"
ttl = 60
records = [{{ name = "app.example.com", primary = "app.herokudns.com", standby = "alb.aws.example.com" }}]
"#
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
    shards: Arc<ShardManager>,
    gateway: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Rig {
    async fn start() -> Self {
        let logs = Logs::default();
        let guard = logs.install();
        let fake = FakeDiscord::start();
        let base = fake.api_base();
        let dir = tempfile::tempdir().unwrap();
        let config = Arc::new(config(&base));
        let path = dir.path().join("scale-up.toml");
        std::fs::write(&path, RUNBOOK).unwrap();
        let runbook = load_file(&path, &config).unwrap_or_else(|e| panic!("{e:#?}"));
        let store = Arc::new(SledStore::open(&dir.path().join("data")).unwrap());
        let token = Secret::new(TOKEN);
        let chat = Arc::new(DiscordChat::new(Arc::new(discord::build_http(
            &token,
            Some(&base),
        ))));
        let env = StepEnv {
            config: config.clone(),
            aws: AwsEdges::simulated(Arc::new(SimulatedAws::from_config(&config.aws))),
            http: StepEnv::http_client(),
            chat,
            channel: ChannelId(CHANNEL.to_string()),
            answers: Arc::default(),
            secrets: Arc::new(BTreeMap::<String, String>::new()),
        };
        let engine = Engine::new(env, store.clone());
        let bot = Arc::new(Bot::new(config, vec![runbook], engine, store));
        let handler =
            Handler::new(bot, GUILD, vec!["scale-up".into()]).with_incident_channel(Some(CHANNEL));
        let mut client = discord::client(&token, Some(&base), handler)
            .await
            .expect("the client builds");
        let shards = client.shard_manager.clone();
        let gateway = tokio::spawn(async move {
            if let Err(err) = client.start().await {
                tracing::error!(error = %err, "client stopped");
            }
        });
        fake.wait_sessions(1, WAIT).await;
        Rig {
            fake,
            logs,
            shards,
            gateway,
            _dir: dir,
            _guard: guard,
        }
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
        lifeboat::chat::Colour::Red.rgb()
    );
    let declare = alert_message["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(declare, "declare:heroku-20261125093000");
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

    // B approves: the run starts, said publicly, and its progress reaches the channel.
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
    let finished = rig
        .fake
        .wait_call(
            mark,
            "the run's last progress message",
            |c| {
                c.method == "POST"
                    && c.path == format!("/channels/{CHANNEL}/messages")
                    && content(&c.body).contains("finished")
            },
            WAIT,
        )
        .await;
    assert!(
        content(&finished.body).starts_with("[RUN-"),
        "{}",
        finished.body
    );
    let progress: Vec<String> = rig
        .fake
        .calls()
        .iter()
        .skip(mark)
        .filter(|c| c.path == format!("/channels/{CHANNEL}/messages"))
        .map(|c| content(&c.body))
        .collect();
    assert!(
        progress.iter().any(|p| p.contains("▶ scale")),
        "{progress:?}"
    );
    assert!(
        progress.iter().any(|p| p.contains("✔ scale")),
        "{progress:?}"
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
    rig.stop().await;
}

#[tokio::test]
async fn rest_calls_survive_a_429_and_a_500() {
    let rig = Rig::start().await;
    let chat = DiscordChat::new(Arc::new(discord::build_http(
        &Secret::new(TOKEN),
        Some(&rig.fake.api_base()),
    )));
    rig.fake
        .fail_next("/messages", Fault::RateLimited { retry_after: 0.05 });
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

#[tokio::test]
async fn register_puts_the_command_list() {
    let fake = FakeDiscord::start();
    let http = discord::build_http(&Secret::new(TOKEN), Some(&fake.api_base()));
    let n = discord::register(&http, GUILD).await.expect("registered");
    assert_eq!(n, 3);
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
    assert_eq!(names, ["incident", "runbook", "dr"]);
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
    assert!(stdout.contains("Registered 3 slash commands"), "{stdout}");
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
/// bursts of 10. Discord's limit is 3 s; loopback should be far below it.
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
        p99 < Duration::from_secs(3),
        "p99 {p99:?} over Discord's limit"
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
    assert!(stdout.contains("Registered 3 slash commands"), "{stdout}");
    assert!(stdout.contains("Lifeboat stopped."), "{stdout}");
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "the token leaked"
    );
}
