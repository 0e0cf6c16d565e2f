//! Acknowledgement latency of the Discord adapter: INTERACTION_CREATE sent by the in-process
//! fake Discord → the interaction callback received by it, through the real serenity client
//! (gateway over a loopback websocket, REST through Lifeboat's rate-limit gate).
//!
//! Three series, each printed as p50 / p99 / max:
//! - **immediate, one at a time**: `/runbook list`, answered in the callback itself;
//! - **immediate, bursts of 10**: the same, ten interactions pushed at once;
//! - **deferred**: `/runbook plan`, acknowledged with a type-5 defer before the plan is made.
//!
//! Discord's limit is 3 s. `cargo bench --bench chat`; `LIFEBOAT_BENCH_ROUNDS` sets the
//! interactions per series (default 200).

#[path = "../tests/integration/support/discord.rs"]
#[expect(
    dead_code,
    reason = "the fake serves the integration tests too; the bench uses part of it"
)]
mod fake;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lifeboat::aws::SimulatedAws;
use lifeboat::chat::bot::Bot;
use lifeboat::chat::discord::{self, DiscordChat, Handler};
use lifeboat::config::{Config, Secret};
use lifeboat::engine::Engine;
use lifeboat::ports::aws::AwsEdges;
use lifeboat::ports::chat::ChannelId;
use lifeboat::runbook::load_file;
use lifeboat::steps::StepEnv;
use lifeboat::store::SledStore;
use lifeboat::toml_source::TomlSource;
use serde_json::{Value, json};

use fake::{FakeDiscord, Member, slash, text};

const GUILD: u64 = 100_000_000_000_000_001;
const CHANNEL: u64 = 100_000_000_000_000_002;
const RESPONDER: u64 = 200_000_000_000_000_001;
const WAIT: Duration = Duration::from_secs(10);

const RUNBOOK: &str = r#"
name = "scale-up"
title = "Scale up the standby"
workstream = "hosting"

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
token_env = "LIFEBOAT_BENCH_TOKEN_NOT_SET"
guild_id = "{GUILD}"
incident_channel_id = "{CHANNEL}"
api_base = "{api_base}"

[access]
responders = ["{RESPONDER}"]

[aws.ecs]
cluster = "standby"
services = [{{ name = "web", standby = 3 }}]
"#
    );
    Config::from_source(TomlSource::new("bench.toml", &text))
        .unwrap_or_else(|e| panic!("{e:#?}"))
        .config
}

fn rounds() -> usize {
    std::env::var("LIFEBOAT_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// Pushes `payloads` at once and returns each one's latency to its callback.
async fn burst(fake: &FakeDiscord, payloads: Vec<Value>) -> Vec<Duration> {
    let mark = fake.mark();
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
        fake.push_interaction(payload);
    }
    let mut out = Vec::new();
    for (id, token) in ids {
        let path = format!("/interactions/{id}/{token}/callback");
        let call = fake
            .wait_call(mark, "a callback", |c| c.path == path, WAIT)
            .await;
        out.push(call.at.duration_since(fake.sent_at(&id).unwrap()));
    }
    out
}

fn report(name: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    let at = |q: usize| latencies[(latencies.len() * q / 100).min(latencies.len() - 1)];
    println!(
        "{name:<34} n={:<4} p50 {:>8.2?}  p99 {:>8.2?}  max {:>8.2?}",
        latencies.len(),
        at(50),
        at(99),
        latencies[latencies.len() - 1]
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let fake = FakeDiscord::start();
    let base = fake.api_base();
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = Arc::new(config(&base));
    let path = dir.path().join("scale-up.toml");
    std::fs::write(&path, RUNBOOK).expect("the runbook is written");
    let runbook = load_file(&path, &config).unwrap_or_else(|e| panic!("{e:#?}"));
    let store = Arc::new(SledStore::open(&dir.path().join("data")).expect("a store"));
    let token = Secret::new("bench.not-a-token");
    let env = StepEnv {
        config: config.clone(),
        aws: AwsEdges::simulated(Arc::new(SimulatedAws::from_config(&config.aws))),
        http: lifeboat::ports::http::client(),
        chat: Arc::new(DiscordChat::new(Arc::new(discord::build_http(
            &token,
            Some(&base),
        )))),
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
    let bot = Arc::new(Bot::new(config.clone(), vec![runbook], engine, store));
    // The incident channel comes from the config (`incident_channel_id`): the bot's rule.
    let handler = Handler::new(bot, GUILD, vec!["scale-up".into()]);
    let mut client = discord::client(&token, Some(&base), handler)
        .await
        .expect("the client builds");
    let shards = client.shard_manager.clone();
    let gateway = tokio::spawn(async move {
        let _ = client.start().await;
    });
    fake.wait_sessions(1, WAIT).await;
    let alice = Member::new(300_000_000_000_000_001, "alice", &[RESPONDER]);
    let list = || slash(GUILD, CHANNEL, &alice, "runbook", "list", json!([]));
    let plan = || {
        slash(
            GUILD,
            CHANNEL,
            &alice,
            "runbook",
            "plan",
            json!([text("name", "scale-up")]),
        )
    };
    let n = rounds();

    // Warm-up: connections, caches.
    burst(&fake, (0..10).map(|_| list()).collect()).await;

    let mut one = Vec::new();
    for _ in 0..n {
        one.extend(burst(&fake, vec![list()]).await);
    }
    let mut bursts = Vec::new();
    for _ in 0..n.div_ceil(10) {
        bursts.extend(burst(&fake, (0..10).map(|_| list()).collect()).await);
    }
    let mut deferred = Vec::new();
    for _ in 0..n {
        deferred.extend(burst(&fake, vec![plan()]).await);
    }
    println!("acknowledgement latency (INTERACTION_CREATE sent → callback received), loopback:");
    report("immediate, one at a time", one);
    report("immediate, bursts of 10", bursts);
    report("deferred (/runbook plan)", deferred);
    shards.shutdown_all().await;
    gateway.abort();
}
