//! End to end: the shipped runbooks (`commands/*.toml`, loaded as they are) run by the real
//! `Engine` against real parts on loopback — the AWS SDK against moto, reqwest against local
//! servers speaking the providers' wire formats, the restore and integrity commands as real
//! programs — and the failures the DRP worries about, each checked both in the event log and
//! in the systems themselves.
//!
//! Every per-company value sits in a test config written here ([vars], [aws.ecs], [aws.dns],
//! [[teams]], [llm]), the way an operator would write it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Value, json};

use lifeboat::aws::AwsClients;
use lifeboat::chat::recorder::Recorded as ChatEntry;
use lifeboat::domain::Workstream;
use lifeboat::domain::event::Event;
use lifeboat::engine::plan::plan;
use lifeboat::engine::{Decision, EngineError};
use lifeboat::ports::aws::{
    AwsError, ClusterState, Containers, EnvChange, ServiceState, TaskDefinitionSpec,
    TaskDefinitionState,
};
use lifeboat::ports::chat::Message;
use lifeboat::ports::store::EventStore;
use lifeboat::runbook::state::RunStatus;
use lifeboat::runbook::{Runbook, load_file};

use crate::support::app::AppSpec;
use crate::support::app::runs::{alice, kinds};
use crate::support::heroku::{App as HerokuApp, HerokuServer};
use crate::support::http::{HttpServer, Reply};
use crate::support::llm::LlmServer;
use crate::support::moto::moto;
use crate::support::standby::{
    self, CLUSTER, ENGINEERING_CHANNEL, PRIMARY, Parts, RECORD, STANDBY, SUPPORT_CHANNEL, cname,
    counts,
};
use crate::support::{App, TestConfig, root, spawn_app};

/// The longest any wait in this module may take; a run that needs more has hung.
const WAIT: Duration = Duration::from_secs(20);
/// The interval of the short polls that find a question or an event.
const POLL: Duration = Duration::from_millis(10);

const INCIDENT_CHANNEL: &str = "incident";

const HEROKU_API_KEY: &str = "heroku-test-key-7f3a9c";
const OPENAI_KEY: &str = "sk-test-openai-4d2b";
const ANTHROPIC_KEY: &str = "sk-ant-test-91ce";
/// A config var the Heroku fake echoes back on every PATCH, as Heroku does with all of them.
const DATABASE_URL: &str = "postgres://app:db-pass-5e1d@db.internal:5432/app";

// ---------------------------------------------------------------------------------------------
// The engine and its log.

/// The real engine over the config's AWS edges (moto in live mode), a sled log on disk, the
/// chat recorder, and the secrets a production host would have in its environment: the app in
/// process.
struct World {
    app: App,
}

impl std::ops::Deref for World {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

impl World {
    async fn new(config: TestConfig) -> World {
        World::started(spawn_app(config)).await
    }

    /// The app whose steps act on ECS through `wrap` (e.g. a deploy that fails once).
    async fn with_containers(
        config: TestConfig,
        wrap: impl FnOnce(Arc<dyn Containers>) -> Arc<dyn Containers>,
    ) -> World {
        World::started(spawn_app(config).containers_through(wrap)).await
    }

    async fn started(spec: AppSpec<'_>) -> World {
        let app = spec
            .secret("HEROKU_API_KEY", HEROKU_API_KEY)
            .secret("OPENAI_API_KEY", OPENAI_KEY)
            .secret("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
            .patience(WAIT)
            .start()
            .await;
        World { app }
    }

    /// A runbook written for one test.
    fn runbook_named(&self, name: &str, text: &str) -> Runbook {
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        load_file(&path, &self.config).unwrap_or_else(|e| panic!("{name}: {e:#?}"))
    }

    /// Messages posted in `channel`.
    fn posted_in(&self, channel: &str) -> Vec<Message> {
        self.chat()
            .all()
            .into_iter()
            .filter_map(|entry| match entry {
                ChatEntry::Posted { at, message } if at.channel.0 == channel => Some(message),
                _ => None,
            })
            .collect()
    }
}

/// What a run that went step by step without a hitch logs.
fn clean_run(steps: &[&str]) -> Vec<String> {
    let mut expected = vec!["run.started".to_owned()];
    for step in steps {
        expected.push(format!("step.started {step}"));
        expected.push(format!("step.succeeded {step}"));
    }
    expected.push("run.succeeded".to_owned());
    expected
}

fn step_ids(runbook: &Runbook) -> Vec<&str> {
    runbook.steps.iter().map(|s| s.id.as_str()).collect()
}

fn find<'a>(events: &'a [Event], kind: &str, step: &str) -> &'a Event {
    events
        .iter()
        .find(|e| e.kind == kind && e.data["step"] == step)
        .unwrap_or_else(|| panic!("no `{kind} {step}` in {:#?}", kinds(events)))
}

// ---------------------------------------------------------------------------------------------
// The standby environment in moto.

/// The moto state a plan must not touch, as text: every record of the zone and both services.
async fn snapshot(aws: &AwsClients, zone_id: &str) -> String {
    let records = aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .send()
        .await
        .expect("list the records");
    let zones = aws
        .route53
        .list_hosted_zones()
        .send()
        .await
        .expect("list the zones");
    let services = aws
        .ecs
        .describe_services()
        .cluster(CLUSTER)
        .services("web")
        .services("worker")
        .send()
        .await
        .expect("describe the services");
    // The outputs' own request ids differ per call; the resources are what must not.
    format!(
        "{:#?}\n{:#?}\n{:#?}\n{:#?}",
        records.resource_record_sets(),
        zones.hosted_zones(),
        services.services(),
        services.failures()
    )
}

/// A world for the hosting runbooks against the shared moto server.
async fn hosting_world(endpoint: &str, zone_id: &str, parts: &Parts) -> World {
    World::new(standby::aws(
        standby::config(&parts.vars()),
        endpoint,
        zone_id,
    ))
    .await
}

// ---------------------------------------------------------------------------------------------
// 1 and 2: failover-hosting and failback-hosting.

/// Runs the shipped failover-hosting to success, answering its question.
async fn fail_over(world: &World) -> (Runbook, Vec<Event>) {
    let runbook = world.shipped("failover-hosting");
    let handle = world.start_run(&runbook, None);
    world.answer(&handle.run, "confirm-scope", true).await;
    let (status, events) = world.finish(handle).await;
    assert_eq!(
        status,
        RunStatus::Succeeded,
        "events: {:#?}",
        kinds(&events)
    );
    (runbook, events)
}

#[tokio::test]
async fn failover_hosting_scales_ecs_restores_moves_dns_and_tells_everyone() {
    let moto = moto().await;
    let aws = moto.clients().await;
    let zone_id = standby::seed(&aws, &["web", "worker"], 300).await;
    let parts = Parts::start(Duration::from_secs(10 * 60));
    // The zone id as people copy it from the console, without `/hostedzone/`.
    let bare_zone = zone_id.trim_start_matches("/hostedzone/");
    let world = hosting_world(&moto.endpoint(), bare_zone, &parts).await;
    assert_eq!(counts(&aws).await, [(0, 0), (0, 0)]);

    let (runbook, events) = fail_over(&world).await;

    // Every step, in the file's order, started and succeeded once.
    assert_eq!(kinds(&events), clean_run(&step_ids(&runbook)));

    // ECS runs the standby counts; Route 53 answers with the standby.
    assert_eq!(counts(&aws).await, [(3, 3), (2, 2)]);
    assert_eq!(
        cname(&aws, &zone_id).await,
        (vec![STANDBY.to_owned()], Some(60))
    );

    let scale = &find(&events, "step.succeeded", "scale-standby").data["output"];
    assert_eq!(scale["cluster"], CLUSTER);
    assert_eq!(
        scale["changes"],
        json!([
            {"service": "web", "from": 0, "to": 3},
            {"service": "worker", "from": 0, "to": 2},
        ])
    );

    // The DNS step recorded what it replaced, so the change can be reversed.
    let dns = &find(&events, "step.succeeded", "point-dns").data["output"];
    let previous = &dns["previous"][0];
    assert_eq!(previous["name"], RECORD);
    assert_eq!(previous["state"]["values"], json!([PRIMARY]));
    assert_eq!(previous["state"]["ttl"], 300);
    assert_eq!(dns["records"][0]["values"], json!([STANDBY]));
    let change_id = dns["change_id"].as_str().unwrap();
    assert_eq!(
        find(&events, "step.succeeded", "dns-insync").data["output"]["change_id"],
        change_id
    );

    // The backup's age is the measured data-loss window.
    // Without [data] the data steps act on the simulation: the simulated primary does not
    // answer, the stand-in backup is "restored", and nothing is counted, so no window is
    // claimed (the real restore is tested in `data.rs`).
    let copy = &find(&events, "step.succeeded", "copy-data").data;
    assert_eq!(copy["output"]["copied"], false);
    assert!(
        copy["summary"]
            .as_str()
            .unwrap()
            .contains("going on to the backup path"),
        "{copy}"
    );
    let restore = &find(&events, "step.succeeded", "restore").data;
    assert_eq!(restore["output"]["simulated"], true);
    assert!(
        restore["summary"]
            .as_str()
            .unwrap()
            .starts_with("simulated: restored")
    );
    // The stand-in backup's age is a constant, not a measurement: it is not reported.
    assert!(restore["output"]["backup_age_secs"].is_null(), "{restore}");
    let verify = &find(&events, "step.succeeded", "verify-data").data["output"];
    assert_eq!(verify["measured"], false);
    // No restore script runs any more.
    assert_eq!(parts.executions("restore-latest"), 0);
    assert_eq!(parts.executions("verify-integrity"), 0);

    // The smoke test reached the app once and was happy at once.
    assert_eq!(parts.app.hits("/health"), 1);
    assert_eq!(parts.backups.hits("/backups/latest.json"), 0);

    // The question was asked in the incident channel; each team was told in its own channel,
    // with its role mentioned; the client notice is a draft, with the data-loss window.
    let incident = world.posted_in(INCIDENT_CHANNEL);
    assert!(
        incident
            .iter()
            .any(|m| m.content.starts_with("❓ ") && m.content.contains("fail over to AWS?")),
        "{incident:#?}"
    );
    let engineering = world.posted_in(ENGINEERING_CHANNEL);
    assert_eq!(engineering.len(), 1, "{engineering:#?}");
    assert!(
        engineering[0]
            .content
            .starts_with("<@&400000000000000001> ")
            && engineering[0]
                .content
                .contains("Hosting failed over to AWS"),
        "{engineering:#?}"
    );
    let support = world.posted_in(SUPPORT_CHANNEL);
    assert_eq!(support.len(), 1, "{support:#?}");
    assert!(support[0].content.contains("AWS standby"), "{support:#?}");
    let drafts: Vec<&Message> = incident
        .iter()
        .filter(|m| m.content.starts_with("📝 DRAFT-") && m.content.contains("(clients · initial,"))
        .collect();
    assert_eq!(drafts.len(), 1, "{incident:#?}");
    assert!(
        drafts[0]
            .content
            .contains("Example Co: service continuity notice"),
        "{}",
        drafts[0].content
    );
    // Nothing measured, so the notice claims no window.
    assert!(
        !drafts[0].content.contains("Changes made in the"),
        "{}",
        drafts[0].content
    );
}

#[tokio::test]
async fn failback_hosting_after_a_failover_puts_dns_and_ecs_back() {
    let moto = moto().await;
    let aws = moto.clients().await;
    // This time the config carries the zone id exactly as Route 53 returns it.
    let zone_id = standby::seed(&aws, &["web", "worker"], 300).await;
    let parts = Parts::start(Duration::from_secs(10 * 60));
    let world = hosting_world(&moto.endpoint(), &zone_id, &parts).await;
    fail_over(&world).await;
    assert_eq!(counts(&aws).await, [(3, 3), (2, 2)]);

    let runbook = world.shipped("failback-hosting");
    let handle = world.start_run(&runbook, None);
    world.answer(&handle.run, "confirm-heroku", true).await;
    let (status, events) = world.finish(handle).await;
    assert_eq!(
        status,
        RunStatus::Succeeded,
        "events: {:#?}",
        kinds(&events)
    );
    assert_eq!(kinds(&events), clean_run(&step_ids(&runbook)));

    // Route 53 points at Heroku again; ECS is at the idle counts (the worker keeps one task).
    assert_eq!(
        cname(&aws, &zone_id).await,
        (vec![PRIMARY.to_owned()], Some(60))
    );
    assert_eq!(counts(&aws).await, [(0, 0), (1, 1)]);
    let dns = &find(&events, "step.succeeded", "point-dns").data["output"];
    assert_eq!(dns["previous"][0]["state"]["values"], json!([STANDBY]));
    // Writes on AWS stopped first (every service to 0), then the idle counts once DNS moved.
    assert_eq!(
        find(&events, "step.succeeded", "stop-writes").data["output"]["changes"],
        json!([
            {"service": "web", "from": 3, "to": 0},
            {"service": "worker", "from": 2, "to": 0},
        ])
    );
    assert_eq!(
        find(&events, "step.succeeded", "scale-idle").data["output"]["changes"],
        json!([
            {"service": "web", "from": 0, "to": 0},
            {"service": "worker", "from": 0, "to": 1},
        ])
    );

    // Failing back runs no restore script (none ships any more).
    assert_eq!(parts.executions("restore-latest"), 0);
    assert_eq!(parts.executions("verify-integrity"), 0);
    assert_eq!(parts.app.hits("/health"), 2, "one smoke test per run");
    let drafts = world
        .posted_in(INCIDENT_CHANNEL)
        .into_iter()
        .filter(|m| {
            m.content.starts_with("📝 DRAFT-") && m.content.contains("(clients · resolved,")
        })
        .count();
    assert_eq!(drafts, 1);
    assert!(
        world
            .posted_in(ENGINEERING_CHANNEL)
            .iter()
            .any(|m| m.content.contains("Hosting is back on Heroku")),
    );
}

// ---------------------------------------------------------------------------------------------
// 3: switch-llm and switch-llm-back.

/// A request as a fake provider received it, body included.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    headers: HashMap<String, String>,
    body: Value,
}

impl Received {
    fn new(method: &str, headers: &HeaderMap, body: &[u8]) -> Self {
        Received {
            method: method.to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// The outside world of the LLM protocol: both providers, Heroku's config-vars API and the
/// app, which answers its LLM health with whichever provider its config var names.
#[derive(Debug)]
struct LlmWorld {
    provider: Mutex<String>,
    anthropic: Mutex<Vec<Received>>,
    openai: Mutex<Vec<Received>>,
    switches: Mutex<Vec<Received>>,
}

impl LlmWorld {
    fn provider(&self) -> String {
        self.provider.lock().unwrap().clone()
    }
}

type Shared = State<Arc<LlmWorld>>;

fn json_reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// What a well-behaved provider answers: the shipped LLM parity suite's example for its
/// prompts (so switch-llm's gate passes), "pong" otherwise.
fn answer_to(request: &Value, otherwise: &str) -> String {
    static EXAMPLES: std::sync::OnceLock<BTreeMap<String, String>> = std::sync::OnceLock::new();
    let examples = EXAMPLES.get_or_init(|| {
        lifeboat::parity::suite::load(&root().join("config/llm-parity.toml"))
            .expect("the shipped suite loads")
            .prompts
            .into_iter()
            .filter_map(|p| p.example.map(|e| (p.prompt, e)))
            .collect()
    });
    let prompt = request["messages"][0]["content"]
        .as_str()
        .unwrap_or_default();
    examples
        .get(prompt)
        .cloned()
        .unwrap_or_else(|| otherwise.to_owned())
}

/// Anthropic's Messages API: `x-api-key` and `anthropic-version` or a 401 in its error format.
async fn anthropic_messages(State(world): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let received = Received::new("POST", &headers, &body);
    world.anthropic.lock().unwrap().push(received.clone());
    if received.header("x-api-key") != Some(ANTHROPIC_KEY)
        || received.header("anthropic-version").is_none()
    {
        return json_reply(
            StatusCode::UNAUTHORIZED,
            json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
        );
    }
    json_reply(
        StatusCode::OK,
        json!({
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": answer_to(&received.body, "pong")}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 14, "output_tokens": 4}
        }),
    )
}

/// OpenAI's chat completions: a bearer key or a 401 in its error format.
async fn openai_completions(State(world): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let received = Received::new("POST", &headers, &body);
    world.openai.lock().unwrap().push(received.clone());
    if received.header("authorization") != Some(&format!("Bearer {OPENAI_KEY}")) {
        return json_reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
        );
    }
    json_reply(
        StatusCode::OK,
        json!({
            "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "object": "chat.completion",
            "created": 1741569952,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": answer_to(&received.body, "Pong."), "refusal": null},
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 14, "completion_tokens": 2, "total_tokens": 16}
        }),
    )
}

/// Heroku's Platform API `PATCH /apps/{app}/config-vars`: answers with every config var of
/// the app, secrets included, as the real one does.
async fn heroku_config_vars(State(world): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let received = Received::new("PATCH", &headers, &body);
    world.switches.lock().unwrap().push(received.clone());
    if received.header("authorization") != Some(&format!("Bearer {HEROKU_API_KEY}")) {
        return json_reply(
            StatusCode::UNAUTHORIZED,
            json!({"id": "unauthorized", "message": "Invalid credentials provided."}),
        );
    }
    match received.body["LLM_PROVIDER"].as_str() {
        Some(provider @ ("openai" | "anthropic")) => {
            *world.provider.lock().unwrap() = provider.to_owned();
            json_reply(
                StatusCode::OK,
                json!({"DATABASE_URL": DATABASE_URL, "LLM_PROVIDER": provider}),
            )
        }
        _ => json_reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"id": "invalid_params", "message": "LLM_PROVIDER must be openai or anthropic"}),
        ),
    }
}

/// The app's own LLM health: which provider it uses now.
async fn app_llm_health(State(world): Shared) -> Response {
    json_reply(
        StatusCode::OK,
        json!({"status": "ok", "llm_provider": world.provider()}),
    )
}

/// A router served on a free loopback port for as long as this lives.
struct Served {
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    async fn start(router: Router) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Served { base, task }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn switch_llm_and_back_speak_each_providers_wire_format_and_flip_the_app() {
    let world_state = Arc::new(LlmWorld {
        provider: Mutex::new("openai".into()),
        anthropic: Mutex::default(),
        openai: Mutex::default(),
        switches: Mutex::default(),
    });
    let anthropic = Served::start(
        Router::new()
            .route("/v1/messages", post(anthropic_messages))
            .with_state(world_state.clone()),
    )
    .await;
    let openai = Served::start(
        Router::new()
            .route("/v1/chat/completions", post(openai_completions))
            .with_state(world_state.clone()),
    )
    .await;
    let heroku = Served::start(
        Router::new()
            .route("/apps/example-app/config-vars", patch(heroku_config_vars))
            .with_state(world_state.clone()),
    )
    .await;
    let app = Served::start(
        Router::new()
            .route("/health/llm", get(app_llm_health))
            .with_state(world_state.clone()),
    )
    .await;
    let llm = json!({
        "openai": { "base_url": openai.base, "key_env": "OPENAI_API_KEY", "model": "gpt-4o-mini" },
        "anthropic": { "base_url": anthropic.base, "key_env": "ANTHROPIC_API_KEY", "model": "claude-sonnet-4-5" },
    });
    let world = World::new(
        standby::config(&[
            ("app_url", app.base.clone()),
            (
                "llm_switch_url",
                format!("{}/apps/example-app/config-vars", heroku.base),
            ),
        ])
        .set("llm", llm)
        .set(
            "heroku",
            json!({ "app": "example-app", "api_base": heroku.base }),
        ),
    )
    .await;

    // OpenAI → Anthropic.
    let runbook = world.shipped("switch-llm");
    let handle = world.start_run(&runbook, None);
    let (status, events) = world.finish(handle).await;
    assert_eq!(
        status,
        RunStatus::Succeeded,
        "events: {:#?}",
        kinds(&events)
    );
    // A clean run, with the gate's result recorded in the middle of its step.
    let mut expected = clean_run(&step_ids(&runbook));
    let gate = expected
        .iter()
        .position(|k| k == "step.started gate-anthropic")
        .unwrap();
    expected.insert(gate + 1, "llm.parity_gated".to_owned());
    assert_eq!(kinds(&events), expected);
    assert_eq!(world_state.provider(), "anthropic");

    // The probe, then the gate's parity suite, each prompt once.
    let suite_size = lifeboat::parity::suite::load(&root().join("config/llm-parity.toml"))
        .unwrap()
        .prompts
        .len();
    let probes = world_state.anthropic.lock().unwrap().clone();
    assert_eq!(probes.len(), 1 + suite_size, "{probes:#?}");
    let probe = &probes[0];
    assert_eq!(probe.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(probe.header("content-type"), Some("application/json"));
    assert_eq!(probe.body["model"], "claude-sonnet-4-5");
    assert_eq!(
        probe.body["messages"],
        json!([{"role": "user", "content": "Reply with the single word: pong"}])
    );
    assert!(probe.body["max_tokens"].as_u64().unwrap() > 0);
    assert!(world_state.openai.lock().unwrap().is_empty());
    let probed = &find(&events, "step.succeeded", "probe-anthropic").data["output"];
    assert_eq!(probed["answer"], "pong");
    let gate = &find(&events, "step.succeeded", "gate-anthropic").data["output"];
    assert_eq!(gate["gate"], "open");
    assert_eq!(gate["passed"], suite_size);

    let switches = world_state.switches.lock().unwrap().clone();
    assert_eq!(switches.len(), 1, "{switches:#?}");
    let switch = &switches[0];
    assert_eq!(switch.method, "PATCH");
    assert_eq!(switch.body, json!({"LLM_PROVIDER": "anthropic"}));
    assert_eq!(
        switch.header("authorization"),
        Some(format!("Bearer {HEROKU_API_KEY}").as_str())
    );
    assert_eq!(
        switch.header("accept"),
        Some("application/vnd.heroku+json; version=3")
    );
    assert_eq!(switch.header("content-type"), Some("application/json"));
    // The app runs on Heroku (no failover in the log): the switch went through its Platform API.
    let flipped = &find(&events, "step.succeeded", "flip-switch").data["output"];
    assert_eq!(flipped["platform"], "heroku");
    assert_eq!(flipped["app"], "example-app");
    assert_eq!(
        (&flipped["variable"], &flipped["value"]),
        (&json!("LLM_PROVIDER"), &json!("anthropic"))
    );
    let verified = &find(&events, "step.succeeded", "verify-app").data["output"];
    assert_eq!(verified["url"], format!("{}/health/llm", app.base));
    assert!(
        world
            .posted_in(ENGINEERING_CHANNEL)
            .iter()
            .any(|m| m.content.contains("now go to Anthropic"))
    );

    // Anthropic → OpenAI.
    let runbook = world.shipped("switch-llm-back");
    let handle = world.start_run(&runbook, None);
    let (status, back) = world.finish(handle).await;
    assert_eq!(status, RunStatus::Succeeded, "events: {:#?}", kinds(&back));
    let mut expected = clean_run(&step_ids(&runbook));
    let gate = expected
        .iter()
        .position(|k| k == "step.started gate-openai")
        .unwrap();
    expected.insert(gate + 1, "llm.parity_gated".to_owned());
    assert_eq!(kinds(&back), expected);
    assert_eq!(world_state.provider(), "openai");
    let probes = world_state.openai.lock().unwrap().clone();
    assert_eq!(probes.len(), 1 + suite_size, "{probes:#?}");
    assert_eq!(probes[0].body["model"], "gpt-4o-mini");
    assert_eq!(
        probes[0].body["messages"],
        json!([{"role": "user", "content": "Reply with the single word: pong"}])
    );
    assert_eq!(world_state.anthropic.lock().unwrap().len(), 1 + suite_size);
    let switches = world_state.switches.lock().unwrap().clone();
    assert_eq!(switches.len(), 2);
    assert_eq!(switches[1].method, "PATCH");
    assert_eq!(switches[1].body, json!({"LLM_PROVIDER": "openai"}));
    assert_eq!(
        switches[1].header("authorization"),
        Some(format!("Bearer {HEROKU_API_KEY}").as_str())
    );
    assert!(
        world
            .posted_in(ENGINEERING_CHANNEL)
            .iter()
            .any(|m| m.content.contains("back on OpenAI"))
    );

    // Neither the keys nor what Heroku echoed back reached the log.
    let log = serde_json::to_string(&[events, back].concat()).unwrap();
    for secret in [HEROKU_API_KEY, OPENAI_KEY, ANTHROPIC_KEY, DATABASE_URL] {
        assert!(!log.contains(secret), "{secret} is in the event log");
    }
}

/// [llm], [heroku] and [app] on the support servers.
fn with_llm(
    config: TestConfig,
    openai: &LlmServer,
    anthropic: &LlmServer,
    anthropic_timeout: &str,
    heroku: &HerokuServer,
) -> TestConfig {
    config
        .set(
            "llm",
            json!({
                "openai": { "base_url": openai.base_url(), "key_env": "OPENAI_API_KEY", "model": "gpt-4o-mini" },
                "anthropic": {
                    "base_url": anthropic.base_url(),
                    "key_env": "ANTHROPIC_API_KEY",
                    "model": "claude-sonnet-4-5",
                    "timeout": anthropic_timeout,
                },
            }),
        )
        .set(
            "heroku",
            json!({ "app": "example-app", "api_base": heroku.base_url(), "timeout": "5s" }),
        )
        .set("app.container", "app")
}

/// Heroku's app with its LLM variable on OpenAI and a database URL it echoes on PATCH.
fn heroku_app() -> HerokuServer {
    HerokuServer::start(
        "example-app",
        HEROKU_API_KEY,
        HerokuApp {
            config_vars: [
                ("LLM_PROVIDER".to_owned(), Some("openai".to_owned())),
                ("DATABASE_URL".to_owned(), Some(DATABASE_URL.to_owned())),
            ]
            .into_iter()
            .collect(),
            ..HerokuApp::default()
        },
    )
}

fn shipped_suite() -> std::path::PathBuf {
    root().join("config/llm-parity.toml")
}

#[tokio::test]
async fn the_gate_stops_the_switch_before_the_flip_when_anthropic_answers_wrongly_or_slowly() {
    let openai = LlmServer::start(OPENAI_KEY);
    let anthropic = LlmServer::start(ANTHROPIC_KEY);
    let heroku = heroku_app();
    let app = HttpServer::start();
    app.reply("/health/llm", Reply::json(r#"{"provider":"anthropic"}"#));
    let world = World::new(with_llm(
        standby::config(&[("app_url", app.base_url())]),
        &openai,
        &anthropic,
        "1s",
        &heroku,
    ))
    .await;
    let runbook = world.shipped("switch-llm");
    let suite = lifeboat::parity::suite::load(&shipped_suite()).unwrap();
    let incident = lifeboat::domain::IncidentId("INC-20261205-090000".into());
    world
        .store
        .append(
            lifeboat::domain::event::NewEvent::new(
                alice(),
                "incident.declared",
                json!({ "title": "OpenAI down" }),
            )
            .incident(incident.clone()),
        )
        .unwrap();

    for (how, script) in [
        // Wrongly: it answers, but never what the prompts ask for.
        ("wrongly", Duration::ZERO),
        // Slowly: only the probe's prompt is quick; the rest outlast the 1s provider timeout.
        ("slowly", Duration::from_millis(1500)),
    ] {
        if how == "wrongly" {
            anthropic.answer_all("I would rather not say.", Duration::ZERO);
            anthropic.answer("Reply with the single word: pong", "pong", Duration::ZERO);
        } else {
            for prompt in &suite.prompts {
                anthropic.answer(&prompt.prompt, prompt.example.as_deref().unwrap(), script);
            }
            anthropic.answer("Reply with the single word: pong", "pong", Duration::ZERO);
        }
        let handle = world.start_run(&runbook, Some(incident.clone()));
        let (status, events) = world.finish(handle).await;
        match &status {
            RunStatus::Failed { step, .. } => assert_eq!(step, "gate-anthropic", "{how}"),
            other => panic!(
                "{how}: the run should stop at the gate, not {other:?}: {:#?}",
                kinds(&events)
            ),
        }
        assert!(
            !kinds(&events).iter().any(|k| k.ends_with("flip-switch")),
            "{how}: the flip never started: {:#?}",
            kinds(&events)
        );
        let gated = events
            .iter()
            .find(|e| e.kind == "llm.parity_gated")
            .unwrap_or_else(|| panic!("{how}: no gate event: {:#?}", kinds(&events)));
        assert_eq!(gated.data["gate"], "closed", "{how}");
        assert_eq!(
            gated.data["passed"], 1,
            "{how}: only the pong prompt passes"
        );
        assert_eq!(gated.incident.as_ref(), Some(&incident));
        let failed = find(&events, "step.failed", "gate-anthropic");
        let error = failed.data["error"].as_str().unwrap();
        assert!(error.contains("anthropic: 1 of 5 passed (20%)"), "{error}");
        assert!(
            error.contains("below the minimum 90%: the switch stops here"),
            "{error}"
        );
        if how == "slowly" {
            assert!(error.contains("did not answer within 1s"), "{error}");
        } else {
            assert!(error.contains("is not valid JSON"), "{error}");
        }
    }
    // Nothing reached Heroku: the app still uses OpenAI.
    assert!(heroku.seen().is_empty(), "{:#?}", heroku.seen());
    assert_eq!(heroku.config_var("LLM_PROVIDER").as_deref(), Some("openai"));
    // The gate's result is in the post-mortem.
    let postmortem = lifeboat::timeline::render(
        &world.store.all().unwrap(),
        &incident,
        lifeboat::timeline::Format::Markdown,
        &world.config.objectives,
    )
    .unwrap();
    assert!(
        postmortem.contains("LLM parity gate for anthropic: 1 of 5 prompts passed (20%, minimum 90%): closed, the switch stops"),
        "{postmortem}"
    );
    assert!(
        openai.prompts().is_empty(),
        "the gate only asks the provider taking over"
    );
}

/// The app's task definition as it should be before a switch: a revision (app:2) with
/// `LLM_PROVIDER` set to OpenAI, which web and worker run.
async fn on_openai_revision(aws: &AwsClients) {
    aws.ecs
        .register_task_definition()
        .family("app")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("example/app:1")
                .memory(512)
                .environment(
                    aws_sdk_ecs::types::KeyValuePair::builder()
                        .name("LLM_PROVIDER")
                        .value("openai")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    for service in ["web", "worker"] {
        aws.ecs
            .update_service()
            .cluster(CLUSTER)
            .service(service)
            .task_definition("app:2")
            .send()
            .await
            .unwrap();
    }
}

/// The task definition a service runs, and the LLM variable of its `app` container, in moto.
async fn running(aws: &AwsClients, service: &str) -> (String, Option<String>) {
    let described = aws
        .ecs
        .describe_services()
        .cluster(CLUSTER)
        .services(service)
        .send()
        .await
        .unwrap();
    let td = described.services()[0]
        .task_definition()
        .unwrap()
        .to_owned();
    (td.clone(), llm_var(aws, &td).await)
}

async fn llm_var(aws: &AwsClients, task_definition: &str) -> Option<String> {
    let found = aws
        .ecs
        .describe_task_definition()
        .task_definition(task_definition)
        .send()
        .await
        .unwrap();
    let td = found.task_definition().unwrap();
    td.container_definitions()[0]
        .environment()
        .iter()
        .find(|kv| kv.name() == Some("LLM_PROVIDER"))
        .and_then(|kv| kv.value().map(str::to_owned))
}

/// Both disasters: Heroku fails and hosting fails over to AWS; then OpenAI fails. The switch
/// reads from the log that the app now runs on AWS and changes the standby's task definition,
/// not Heroku's config; the switch back returns to the revision it came from.
#[tokio::test]
async fn after_a_hosting_failover_the_switch_registers_a_revision_and_the_switch_back_returns() {
    let moto = moto().await;
    let aws = moto.clients().await;
    let zone_id = standby::seed(&aws, &["web", "worker"], 60).await;
    let parts = Parts::start(Duration::from_secs(10 * 60));
    let openai = LlmServer::start(OPENAI_KEY);
    openai.answer_suite(&shipped_suite());
    let anthropic = LlmServer::start(ANTHROPIC_KEY);
    anthropic.answer_suite(&shipped_suite());
    let heroku = heroku_app();
    let config = standby::aws(standby::config(&parts.vars()), &moto.endpoint(), &zone_id);
    let world = World::new(with_llm(config, &openai, &anthropic, "10s", &heroku)).await;

    on_openai_revision(&aws).await;

    // Disaster one: Heroku is down; hosting fails over to AWS.
    fail_over(&world).await;
    assert_eq!(
        running(&aws, "web").await,
        ("app:2".to_owned(), Some("openai".to_owned()))
    );

    // Disaster two: OpenAI is down.
    parts
        .app
        .reply("/health/llm", Reply::json(r#"{"provider":"anthropic"}"#));
    let runbook = world.shipped("switch-llm");
    let (status, events) = world.finish(world.start_run(&runbook, None)).await;
    assert_eq!(status, RunStatus::Succeeded, "{:#?}", kinds(&events));
    let flipped = &find(&events, "step.succeeded", "flip-switch").data["output"];
    assert_eq!(flipped["platform"], "aws", "{flipped:#}");
    assert_eq!(
        flipped["services"],
        json!([
            {"service": "web", "from": "app:2", "to": "app:3", "how": "registered"},
            {"service": "worker", "from": "app:2", "to": "app:3", "how": "registered"},
        ])
    );
    // A new revision carries the new value and runs on both services; the old one is kept.
    for service in ["web", "worker"] {
        let (td, value) = running(&aws, service).await;
        assert!(td.ends_with("app:3"), "{service} runs {td}");
        assert_eq!(value.as_deref(), Some("anthropic"));
    }
    assert_eq!(
        llm_var(&aws, "app:2").await.as_deref(),
        Some("openai"),
        "app:2 is unchanged"
    );
    let old = aws
        .ecs
        .describe_task_definition()
        .task_definition("app:2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        old.task_definition().unwrap().status().map(|s| s.as_str()),
        Some("ACTIVE"),
        "the old revision is kept for switch-llm-back"
    );
    // The app no longer reads Heroku's config: nothing was sent there.
    assert!(heroku.seen().is_empty(), "{:#?}", heroku.seen());

    // OpenAI is back: the switch back returns both services to app:2 (no new revision).
    parts
        .app
        .reply("/health/llm", Reply::json(r#"{"provider":"openai"}"#));
    let back = world.shipped("switch-llm-back");
    let (status, events) = world.finish(world.start_run(&back, None)).await;
    assert_eq!(status, RunStatus::Succeeded, "{:#?}", kinds(&events));
    let returned = &find(&events, "step.succeeded", "flip-switch").data["output"];
    assert_eq!(
        returned["services"],
        json!([
            {"service": "web", "from": "app:3", "to": "app:2", "how": "returned"},
            {"service": "worker", "from": "app:3", "to": "app:2", "how": "returned"},
        ])
    );
    for service in ["web", "worker"] {
        assert!(running(&aws, service).await.0.ends_with("app:2"));
    }
    let families = aws
        .ecs
        .list_task_definitions()
        .family_prefix("app")
        .send()
        .await
        .unwrap();
    assert_eq!(
        families.task_definition_arns().len(),
        3,
        "no fourth revision"
    );
    assert!(heroku.seen().is_empty());
}

/// Moto's ECS, but the first deploy to one service fails (as a deploy can, half-way through a
/// switch of several services).
struct FailingDeployOnce {
    inner: Arc<dyn Containers>,
    service: &'static str,
    failed: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Containers for FailingDeployOnce {
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceState>, AwsError> {
        self.inner.describe_services(cluster, names).await
    }

    async fn scale_service(
        &self,
        cluster: &str,
        name: &str,
        desired: u32,
    ) -> Result<ServiceState, AwsError> {
        self.inner.scale_service(cluster, name, desired).await
    }

    async fn describe_cluster(&self, cluster: &str) -> Result<ClusterState, AwsError> {
        self.inner.describe_cluster(cluster).await
    }

    async fn describe_task_definition(&self, td: &str) -> Result<TaskDefinitionState, AwsError> {
        self.inner.describe_task_definition(td).await
    }

    async fn task_definition_spec(&self, td: &str) -> Result<TaskDefinitionSpec, AwsError> {
        self.inner.task_definition_spec(td).await
    }

    async fn register_revision(&self, td: &str, changes: &[EnvChange]) -> Result<String, AwsError> {
        self.inner.register_revision(td, changes).await
    }

    async fn deploy(
        &self,
        cluster: &str,
        service: &str,
        td: &str,
    ) -> Result<ServiceState, AwsError> {
        if service == self.service && !self.failed.swap(true, Ordering::SeqCst) {
            return Err(AwsError::Transient(format!(
                "the deploy of {service} failed (injected, once)"
            )));
        }
        self.inner.deploy(cluster, service, td).await
    }
}

/// A switch on AWS that fails half-way (web moved to the new revision, worker's deploy failed)
/// and is retried: the retry reuses the revision the first attempt registered (no fourth
/// revision), and the switch back still returns both services to where they came from.
#[tokio::test]
async fn a_switch_on_aws_retried_after_a_partial_deploy_reuses_its_revision_and_returns() {
    let moto = moto().await;
    let aws = moto.clients().await;
    let zone_id = standby::seed(&aws, &["web", "worker"], 60).await;
    let parts = Parts::start(Duration::from_secs(10 * 60));
    let openai = LlmServer::start(OPENAI_KEY);
    openai.answer_suite(&shipped_suite());
    let anthropic = LlmServer::start(ANTHROPIC_KEY);
    anthropic.answer_suite(&shipped_suite());
    let heroku = heroku_app();
    let config = standby::aws(standby::config(&parts.vars()), &moto.endpoint(), &zone_id);
    let config = with_llm(config, &openai, &anthropic, "10s", &heroku);
    let world = World::with_containers(config, |inner| {
        Arc::new(FailingDeployOnce {
            inner,
            service: "worker",
            failed: Default::default(),
        })
    })
    .await;
    on_openai_revision(&aws).await;
    fail_over(&world).await;

    parts
        .app
        .reply("/health/llm", Reply::json(r#"{"provider":"anthropic"}"#));
    let runbook = world.shipped("switch-llm");
    let (status, events) = world.finish(world.start_run(&runbook, None)).await;
    assert_eq!(status, RunStatus::Succeeded, "{:#?}", kinds(&events));
    let retried = find(&events, "step.retrying", "flip-switch");
    assert!(
        retried.data["error"]
            .as_str()
            .unwrap()
            .contains("the deploy of worker failed"),
        "{retried:#?}"
    );
    // Each move was recorded before it was made, the failed one too.
    let moves: Vec<Value> = events
        .iter()
        .filter(|e| e.kind == "llm.revision_deployed")
        .map(|e| {
            json!([
                e.data["service"],
                e.data["from"],
                e.data["to"],
                e.data["how"]
            ])
        })
        .collect();
    assert_eq!(
        moves,
        [
            json!(["web", "app:2", "app:3", "registered"]),
            json!(["worker", "app:2", "app:3", "registered"]),
            json!(["worker", "app:2", "app:3", "reused"]),
        ]
    );
    let flipped = &find(&events, "step.succeeded", "flip-switch").data["output"];
    assert_eq!(
        flipped["services"],
        json!([
            {"service": "web", "from": "app:3", "to": "app:3", "how": "unchanged"},
            {"service": "worker", "from": "app:2", "to": "app:3", "how": "reused"},
        ])
    );
    for service in ["web", "worker"] {
        let (td, value) = running(&aws, service).await;
        assert!(td.ends_with("app:3"), "{service} runs {td}");
        assert_eq!(value.as_deref(), Some("anthropic"));
    }
    async fn revisions(aws: &AwsClients) -> usize {
        aws.ecs
            .list_task_definitions()
            .family_prefix("app")
            .send()
            .await
            .unwrap()
            .task_definition_arns()
            .len()
    }
    assert_eq!(revisions(&aws).await, 3, "no app:4");

    // The switch back finds both services' way back, web's from the first attempt.
    parts
        .app
        .reply("/health/llm", Reply::json(r#"{"provider":"openai"}"#));
    let back = world.shipped("switch-llm-back");
    let (status, events) = world.finish(world.start_run(&back, None)).await;
    assert_eq!(status, RunStatus::Succeeded, "{:#?}", kinds(&events));
    let returned = &find(&events, "step.succeeded", "flip-switch").data["output"];
    assert_eq!(
        returned["services"],
        json!([
            {"service": "web", "from": "app:3", "to": "app:2", "how": "returned"},
            {"service": "worker", "from": "app:3", "to": "app:2", "how": "returned"},
        ])
    );
    for service in ["web", "worker"] {
        assert!(running(&aws, service).await.0.ends_with("app:2"));
    }
    assert_eq!(revisions(&aws).await, 3);
    assert!(heroku.seen().is_empty());
}

/// Heroku's error classes through the engine: a refused token fails the flip after exactly one
/// PATCH; a rate limit with `Retry-After: 2` is waited out (at least 2 s) and the next attempt
/// succeeds.
#[tokio::test]
async fn switch_llm_on_heroku_stops_at_a_refused_token_and_waits_out_a_rate_limit() {
    let openai = LlmServer::start(OPENAI_KEY);
    let anthropic = LlmServer::start(ANTHROPIC_KEY);
    anthropic.answer_suite(&shipped_suite());
    let heroku = heroku_app();
    let app = HttpServer::start();
    app.reply("/health/llm", Reply::json(r#"{"provider":"anthropic"}"#));
    let world = World::new(with_llm(
        standby::config(&[("app_url", app.base_url())]),
        &openai,
        &anthropic,
        "10s",
        &heroku,
    ))
    .await;
    let runbook = world.shipped("switch-llm");
    let patches = || heroku.seen().iter().filter(|s| s.method == "PATCH").count();

    heroku.fail_with(Some((
        401,
        json!({"id": "unauthorized", "message": "Invalid credentials provided."}),
        Vec::new(),
    )));
    let (status, events) = world.finish(world.start_run(&runbook, None)).await;
    match &status {
        RunStatus::Failed { step, .. } => assert_eq!(step, "flip-switch"),
        other => panic!("{other:?}: {:#?}", kinds(&events)),
    }
    assert_eq!(patches(), 1, "a refused token is not tried again");
    assert!(
        !events
            .iter()
            .any(|e| e.kind == "step.retrying" && e.data["step"] == "flip-switch"),
        "{:#?}",
        kinds(&events)
    );
    let failed = find(&events, "step.failed", "flip-switch");
    assert!(
        failed.data["error"]
            .as_str()
            .unwrap()
            .contains("Heroku refused the token (401 unauthorized)"),
        "{failed:#?}"
    );

    heroku.fail_with(Some((
        429,
        json!({"id": "rate_limit", "message": "Your account reached the API rate limit"}),
        vec![("Retry-After".to_owned(), "2".to_owned())],
    )));
    let handle = world.start_run(&runbook, None);
    // Only the first PATCH of this run is limited.
    tokio::time::timeout(WAIT, async {
        while patches() < 2 {
            tokio::time::sleep(POLL).await;
        }
    })
    .await
    .expect("the flip sent its PATCH");
    heroku.fail_with(None);
    let (status, events) = world.finish(handle).await;
    assert_eq!(status, RunStatus::Succeeded, "{:#?}", kinds(&events));
    let retrying = find(&events, "step.retrying", "flip-switch");
    assert!(
        retrying.data["delay_ms"].as_u64().unwrap() >= 2000,
        "{retrying:#?}"
    );
    assert_eq!(patches(), 3);
    assert_eq!(
        heroku.config_var("LLM_PROVIDER").as_deref(),
        Some("anthropic")
    );
}

// ---------------------------------------------------------------------------------------------
// 4: plan.

#[tokio::test]
async fn plan_reads_moto_and_writes_nothing() {
    let moto = moto().await;
    let aws = moto.clients().await;
    let zone_id = standby::seed(&aws, &["web", "worker"], 300).await;
    let parts = Parts::start(Duration::from_secs(10 * 60));
    let world = hosting_world(&moto.endpoint(), &zone_id, &parts).await;
    let before = snapshot(&aws, &zone_id).await;

    let failover = plan(
        world.engine.env(),
        &world.shipped("failover-hosting"),
        &BTreeMap::new(),
    )
    .await;
    let failback = plan(
        world.engine.env(),
        &world.shipped("failback-hosting"),
        &BTreeMap::new(),
    )
    .await;

    assert_eq!(
        snapshot(&aws, &zone_id).await,
        before,
        "a plan changed moto's state"
    );
    let text = failover.human();
    for line in [
        "service web desired 0 → 3".to_owned(),
        "service worker desired 0 → 2".to_owned(),
        format!("{RECORD} CNAME {PRIMARY} → {STANDBY} (TTL 60)"),
        "into the simulated standby with 1 jobs".to_owned(),
    ] {
        assert!(text.contains(&line), "no `{line}` in:\n{text}");
    }
    assert!(!text.contains("cannot read"), "{text}");
    let text = failback.human();
    for line in [
        "service web desired 0 (unchanged)".to_owned(),
        "service worker desired 0 → 1".to_owned(),
        format!("{RECORD} CNAME {PRIMARY} (unchanged)"),
    ] {
        assert!(text.contains(&line), "no `{line}` in:\n{text}");
    }
    // Nothing ran and nothing was logged.
    assert_eq!(parts.executions("restore-latest"), 0);
    assert_eq!(parts.backups.hits("/backups/latest.json"), 0);
    assert_eq!(parts.app.hits("/health"), 0);
    assert!(world.store.last().unwrap().is_none());

    // The snapshot does see writes: one scale, and it differs.
    aws.ecs
        .update_service()
        .cluster(CLUSTER)
        .service("web")
        .desired_count(1)
        .send()
        .await
        .expect("scale web");
    assert_ne!(snapshot(&aws, &zone_id).await, before);
}

// ---------------------------------------------------------------------------------------------
// 5: failures.

const SMOKE_ONLY: &str = r#"
name = "smoke-only"
title = "Smoke-test the app"
workstream = "hosting"

[[steps]]
id = "smoke"
title = "Smoke-test the public endpoints"
kind = "http_check"
with = { url = "${vars.app_url}/health", expect_status = 200, body_contains = "ok", poll = "100ms" }
timeout = "1s"
on_failure = "pause"

[[steps]]
id = "notify-engineering"
kind = "notify"
with = { team = "engineering", message = "The smoke test passed." }
"#;

#[tokio::test]
async fn a_smoke_test_failing_until_its_timeout_pauses_the_run_naming_the_step() {
    let app = HttpServer::start();
    app.reply(
        "/health",
        Reply::bytes("upstream unavailable").with_status(503),
    );
    let world = World::new(standby::config(&[("app_url", app.base_url())])).await;
    let runbook = world.runbook_named("smoke-only", SMOKE_ONLY);
    let handle = world.start_run(&runbook, None);

    let paused = world.step_event(&handle.run, "run.paused", "smoke").await;
    let reason = paused.data["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("step `smoke` failed: ")
            && reason.contains("answered 503 (expected 200) for 1s"),
        "{reason}"
    );
    let failed = find(&world.run_events(&handle.run), "step.failed", "smoke").clone();
    assert_eq!(failed.data["on_failure"], "pause");
    assert_eq!(failed.data["output"]["status"], 503);
    let polls = app.hits("/health");
    assert!(polls >= 3, "polled every 100ms for 1s, got {polls}");
    let active = world.engine.active().unwrap();
    assert!(
        matches!(&active[..], [view] if matches!(&view.status, RunStatus::Paused { step, .. } if step == "smoke")),
        "{active:#?}"
    );
    assert!(world.posted_in(ENGINEERING_CHANNEL).is_empty());

    // A human fixes the app and retries: the run goes on from the paused step.
    app.reply("/health", Reply::json(r#"{"status":"ok"}"#));
    tokio::time::timeout(WAIT, async {
        while world
            .engine
            .decide(&handle.run, Decision::Retry, alice())
            .is_err()
        {
            tokio::time::sleep(POLL).await;
        }
    })
    .await
    .expect("the paused run takes a decision");
    let (status, events) = world.finish(handle).await;
    assert_eq!(
        status,
        RunStatus::Succeeded,
        "events: {:#?}",
        kinds(&events)
    );
    let k = kinds(&events);
    let tail: Vec<&str> = k.iter().map(String::as_str).skip(3).collect();
    assert_eq!(
        tail,
        [
            "run.paused smoke",
            "run.resumed smoke",
            "step.started smoke",
            "step.succeeded smoke",
            "step.started notify-engineering",
            "step.succeeded notify-engineering",
            "run.succeeded"
        ],
        "{k:#?}"
    );
    assert_eq!(world.posted_in(ENGINEERING_CHANNEL).len(), 1);
}

#[tokio::test]
async fn a_missing_ecs_service_fails_the_step_naming_cluster_and_service() {
    let moto = moto().await;
    let aws = moto.clients().await;
    // The config lists web and worker; the worker service was never created.
    let zone_id = standby::seed(&aws, &["web"], 300).await;
    let parts = Parts::start(Duration::from_secs(10 * 60));
    let world = hosting_world(&moto.endpoint(), &zone_id, &parts).await;
    let runbook = world.shipped("failover-hosting");
    let handle = world.start_run(&runbook, None);
    world.answer(&handle.run, "confirm-scope", true).await;
    let (status, events) = world.finish(handle).await;

    let RunStatus::Failed { step, error } = &status else {
        panic!(
            "expected a failed run, got {status:?}; {:#?}",
            kinds(&events)
        );
    };
    assert_eq!(step, "scale-standby");
    assert!(
        error.starts_with(&format!(
            "ECS service worker in cluster {CLUSTER} not found"
        )),
        "{error}"
    );
    // Not found is never retried, though the step allows two retries.
    let failed = find(&events, "step.failed", "scale-standby");
    assert_eq!(failed.data["retryable"], false);
    assert_eq!(failed.data["attempts"], 1);
    assert!(
        !kinds(&events)
            .iter()
            .any(|k| k.starts_with("step.retrying"))
    );
    assert_eq!(
        kinds(&events).last().map(String::as_str),
        Some("run.failed scale-standby")
    );
    // Nothing after it ran.
    assert!(!kinds(&events).iter().any(|k| k.ends_with(" backup-age")));
    assert_eq!(parts.executions("restore-latest"), 0);
    assert_eq!(
        cname(&aws, &zone_id).await,
        (vec![PRIMARY.to_owned()], Some(300))
    );
    // Nothing half-done: the existing service was not scaled before the missing one was found.
    let web = aws
        .ecs
        .describe_services()
        .cluster(CLUSTER)
        .services("web")
        .send()
        .await
        .expect("describe web");
    assert_eq!(web.services()[0].desired_count(), 0);
}

const STALE_CHECK: &str = r#"
name = "stale-check"
title = "Check the backup, then move DNS"
workstream = "hosting"

[[steps]]
id = "confirm-scope"
kind = "confirm"
with = { question = "fail over to AWS?" }

[[steps]]
id = "backup-age"
kind = "backup_check"
with = { url = "${vars.backup_status_url}", time_pointer = "/latest/completed_at" }
retries = 2

[[steps]]
id = "point-dns"
kind = "route53_upsert"
with = { to = "standby" }

[[steps]]
id = "dns-insync"
kind = "route53_wait"
with = { change_of = "point-dns" }
"#;

#[tokio::test]
async fn a_backup_older_than_the_rpo_stops_the_run_before_dns_moves() {
    let moto = moto().await;
    let aws = moto.clients().await;
    let zone_id = standby::seed(&aws, &["web", "worker"], 300).await;
    let parts = Parts::start(Duration::from_secs(2 * 3600));
    let world = hosting_world(&moto.endpoint(), &zone_id, &parts).await;
    // The shipped runbooks check a backup's age inside `db_restore` (tested on a real
    // database in `data.rs`); a runbook may still check one by URL, before DNS moves.
    let runbook = world.runbook_named("stale-check", STALE_CHECK);
    let handle = world.start_run(&runbook, None);
    world.answer(&handle.run, "confirm-scope", true).await;
    let (status, events) = world.finish(handle).await;

    let RunStatus::Failed { step, error } = &status else {
        panic!(
            "expected a failed run, got {status:?}; {:#?}",
            kinds(&events)
        );
    };
    assert_eq!(step, "backup-age");
    assert!(
        error.starts_with("latest backup is 2h 00m old, older than the RPO of 1h"),
        "{error}"
    );
    let failed = find(&events, "step.failed", "backup-age");
    assert_eq!(failed.data["attempts"], 1, "a stale backup is not retried");
    let age = failed.data["output"]["age_secs"].as_u64().unwrap();
    assert!((7200..=7230).contains(&age), "age_secs {age}");

    // No DNS event at all, and Route 53 still answers with Heroku.
    let k = kinds(&events);
    assert!(
        !k.iter()
            .any(|e| e.ends_with(" point-dns") || e.ends_with(" dns-insync")),
        "{k:#?}"
    );
    assert_eq!(
        cname(&aws, &zone_id).await,
        (vec![PRIMARY.to_owned()], Some(300))
    );
    assert_eq!(parts.executions("restore-latest"), 0);
    assert_eq!(parts.backups.hits("/backups/latest.json"), 1);
}

const FLIP: &str = r#"
name = "flip"
title = "Flip the provider switch"
workstream = "llm"

[[steps]]
id = "flip-switch"
kind = "http_request"
retries = 2
backoff = "50ms"

[steps.with]
method = "PATCH"
url = "${vars.llm_switch_url}"
headers = { Authorization = "Bearer ${env.HEROKU_API_KEY}" }
json = { LLM_PROVIDER = "anthropic" }
expect_status = [200]
"#;

#[tokio::test]
async fn an_http_request_answered_500_then_200_is_retried_once_and_succeeds() {
    // Answers in turn (the last one repeats), counting requests.
    let server = HttpServer::start();
    server.script(
        "/apps/example-app/config-vars",
        &[
            (
                500,
                r#"{"id":"internal_server_error","message":"Internal server error."}"#,
            ),
            (200, r#"{"LLM_PROVIDER":"anthropic"}"#),
        ],
    );
    let world = World::new(standby::config(&[(
        "llm_switch_url",
        server.url("/apps/example-app/config-vars"),
    )]))
    .await;
    let handle = world.start_run(&world.runbook_named("flip", FLIP), None);
    let (status, events) = world.finish(handle).await;
    assert_eq!(
        status,
        RunStatus::Succeeded,
        "events: {:#?}",
        kinds(&events)
    );
    assert_eq!(server.total_hits(), 2);
    assert_eq!(
        kinds(&events),
        [
            "run.started",
            "step.started flip-switch",
            "step.retrying flip-switch",
            "step.succeeded flip-switch",
            "run.succeeded"
        ]
    );
    let retrying = find(&events, "step.retrying", "flip-switch");
    assert_eq!(retrying.data["attempt"], 1);
    assert!(
        retrying.data["error"]
            .as_str()
            .unwrap()
            .contains("answered 500 (expected 200)"),
        "{retrying:?}"
    );
    assert_eq!(
        find(&events, "step.succeeded", "flip-switch").data["attempts"],
        2
    );
}

#[tokio::test]
async fn an_http_request_refused_with_422_is_not_retried() {
    let server = HttpServer::start();
    server.script(
        "/apps/example-app/config-vars",
        &[(
            422,
            r#"{"id":"invalid_params","message":"LLM_PROVIDER is not a valid value"}"#,
        )],
    );
    let world = World::new(standby::config(&[(
        "llm_switch_url",
        server.url("/apps/example-app/config-vars"),
    )]))
    .await;
    let handle = world.start_run(&world.runbook_named("flip", FLIP), None);
    let (status, events) = world.finish(handle).await;
    let RunStatus::Failed { step, error } = &status else {
        panic!(
            "expected a failed run, got {status:?}; {:#?}",
            kinds(&events)
        );
    };
    assert_eq!(step, "flip-switch");
    assert!(
        error.contains("answered 422 (expected 200)")
            && error.contains("LLM_PROVIDER is not a valid value"),
        "{error}"
    );
    assert_eq!(server.total_hits(), 1, "a refusal is not sent again");
    let failed = find(&events, "step.failed", "flip-switch");
    assert_eq!(failed.data["retryable"], false);
    assert_eq!(failed.data["attempts"], 1);
    assert!(
        !kinds(&events)
            .iter()
            .any(|k| k.starts_with("step.retrying"))
    );
}

// ---------------------------------------------------------------------------------------------
// 6: one run per workstream.

#[tokio::test]
async fn two_concurrent_hosting_runs_one_starts_the_other_is_refused_naming_it() {
    let moto = moto().await;
    let aws = moto.clients().await;
    let zone_id = standby::seed(&aws, &["web", "worker"], 300).await;
    let parts = Parts::start(Duration::from_secs(10 * 60));
    let world = Arc::new(hosting_world(&moto.endpoint(), &zone_id, &parts).await);
    let runbooks = [
        world.shipped("failover-hosting"),
        world.shipped("failback-hosting"),
    ];

    // Both requests reach the engine at the same moment, from two threads.
    let barrier = Arc::new(Barrier::new(2));
    let attempts = runbooks.clone().map(|runbook| {
        let (world, barrier) = (world.clone(), barrier.clone());
        tokio::task::spawn_blocking(move || {
            barrier.wait();
            let result = world.engine.start(&runbook, BTreeMap::new(), None, alice());
            (runbook, result)
        })
    });
    let mut started = Vec::new();
    let mut refused = Vec::new();
    for attempt in attempts {
        let (runbook, result) = tokio::time::timeout(WAIT, attempt)
            .await
            .expect("start returns at once")
            .unwrap();
        match result {
            Ok(handle) => started.push((runbook, handle)),
            Err(err) => refused.push((runbook, err)),
        }
    }
    assert_eq!((started.len(), refused.len()), (1, 1));
    let (winner, handle) = started.pop().unwrap();
    let (loser, err) = refused.pop().unwrap();
    assert_ne!(winner.name, loser.name);
    match &err {
        EngineError::Busy {
            workstream,
            run,
            runbook,
        } => {
            assert_eq!(*workstream, Workstream::Hosting);
            assert_eq!(run, &handle.run);
            assert_eq!(runbook, &winner.name);
        }
        other => panic!("expected Busy, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(handle.run.as_str()) && message.contains(&winner.name),
        "{message}"
    );

    // The winner waits on its question; a "no" ends it before AWS is touched.
    world.answer(&handle.run, &winner.steps[0].id, false).await;
    let (status, _) = world.finish(handle).await;
    assert!(matches!(status, RunStatus::Failed { .. }), "{status:?}");
    assert_eq!(counts(&aws).await, [(0, 0), (0, 0)]);
    assert_eq!(
        cname(&aws, &zone_id).await,
        (vec![PRIMARY.to_owned()], Some(300))
    );
    // Only one run was ever logged.
    let runs: std::collections::BTreeSet<_> = world
        .store
        .range(1..=world.store.last().unwrap().unwrap().seq)
        .unwrap()
        .into_iter()
        .filter_map(|e| e.run)
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
}
