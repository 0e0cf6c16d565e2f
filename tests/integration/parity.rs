//! `lifeboat parity`, its readiness lines, the weekly check and `lifeboat llm-parity`, against
//! real parts on loopback: a local server speaking Heroku's Platform API (config vars,
//! formation, releases with `Range` paging, slugs), the standby's task definitions and
//! services in moto (registered through the AWS SDK), the app's health endpoints, and local
//! OpenAI and Anthropic servers in their own wire formats.

use std::collections::BTreeMap;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair, Secret as EcsSecret};
use serde_json::{Value, json};

use lifeboat::aws::AwsClients;
use lifeboat::chat::recorder::RecordingChat;
use lifeboat::ports::aws::AwsEdges;
use lifeboat::ports::chat::ChannelId;
use lifeboat::ports::store::EventStore;
use lifeboat::service::scheduler::{ParityEffect, Scheduler};
use lifeboat::steps::StepEnv;
use lifeboat::store::SledStore;

use crate::support::heroku::{App, HerokuServer, Release};
use crate::support::http::{HttpServer, Reply};
use crate::support::llm::LlmServer;
use crate::support::moto::MotoServer;
use crate::support::{TestConfig, lifeboat, root, stderr, stdout};

const CLUSTER: &str = "lifeboat-standby";
const TOKEN_ENV: &str = "PARITY_TEST_HEROKU_TOKEN";
const TOKEN: &str = "heroku-parity-token-8d1e";
/// Config var values that must never be shown, stored or logged.
const DB_PASSWORD: &str = "s3cr3t-db-pass-71f0";
const SECRET_KEY_BASE: &str = "skb-secret-9a2c44e0";
const FLAG: &str = "flag-value-3e9d07";
const OPENAI_KEY: &str = "sk-parity-openai-5b21";
const ANTHROPIC_KEY: &str = "sk-ant-parity-0c3d";
/// The commit Heroku runs and the standby's image is tagged with.
const COMMIT: &str = "abc1234def9876543210";
const NEWER_COMMIT: &str = "fedcba9876543210abcd";

/// `text` as a TOML string (for the LLM suite files written here).
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// The config every parity test starts from: the shipped templates, the DRP's objectives and
/// the two teams.
fn base() -> TestConfig {
    TestConfig::minimal()
        .shipped_templates()
        .team("engineering", json!({}))
        .team("support", json!({}))
}

/// Production on Heroku: five config vars (one Heroku-only, ignored), web and worker, and
/// the current release (v52) behind a page of twelve newer failed deploys, so finding it
/// follows `Next-Range`.
fn production() -> App {
    let mut releases: Vec<Release> = (53..=64)
        .map(|version| Release {
            version,
            current: false,
            status: "failed",
            slug: None,
        })
        .collect();
    releases.push(Release {
        version: 52,
        current: true,
        status: "succeeded",
        slug: Some("slug-52".into()),
    });
    releases.push(Release {
        version: 51,
        current: false,
        status: "succeeded",
        slug: Some("slug-51".into()),
    });
    App {
        config_vars: [
            (
                "DATABASE_URL",
                format!("postgres://app:{DB_PASSWORD}@db.internal:5432/app"),
            ),
            ("SECRET_KEY_BASE", SECRET_KEY_BASE.to_owned()),
            ("LLM_PROVIDER", "openai".to_owned()),
            ("FEATURE_X", "on".to_owned()),
            ("HEROKU_APP_NAME", "example-app".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Some(v)))
        .collect(),
        formation: vec![
            ("web".into(), 2, "Standard-2X".into()),
            ("worker".into(), 2, "Standard-1X".into()),
        ],
        releases,
        slugs: [
            ("slug-52".to_owned(), Some(COMMIT.to_owned())),
            (
                "slug-51".to_owned(),
                Some("0123456789abcdef0123".to_owned()),
            ),
        ]
        .into_iter()
        .collect(),
    }
}

/// The standby in moto: one task definition (`app:1`, image tagged with `COMMIT`, the same
/// variables as production: plain ones in `environment`, secrets as references) run by the
/// web and worker services.
async fn seed_standby(aws: &AwsClients) {
    aws.ecs
        .create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .unwrap();
    let env = |k: &str, v: &str| KeyValuePair::builder().name(k).value(v).build();
    let secret = |k: &str| {
        EcsSecret::builder()
            .name(k)
            .value_from(format!(
                "arn:aws:ssm:us-east-1:123456789012:parameter/app/{k}"
            ))
            .build()
            .unwrap()
    };
    aws.ecs
        .register_task_definition()
        .family("app")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image(format!("example/app:{}", &COMMIT[..7]))
                .memory(512)
                .environment(env("LLM_PROVIDER", "openai"))
                .environment(env("FEATURE_X", "on"))
                .secrets(secret("DATABASE_URL"))
                .secrets(secret("SECRET_KEY_BASE"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    for name in ["web", "worker"] {
        aws.ecs
            .create_service()
            .cluster(CLUSTER)
            .service_name(name)
            .task_definition("app")
            .desired_count(0)
            .send()
            .await
            .unwrap();
    }
}

/// Everything `lifeboat parity` looks at.
struct Setup {
    dir: tempfile::TempDir,
    heroku: HerokuServer,
    app: HttpServer,
    endpoint: String,
    moto: MotoServer,
}

impl Setup {
    /// A private moto (the weekly check keeps state across calls), Heroku and the app, all
    /// mirrored.
    async fn mirrored() -> Setup {
        let moto = MotoServer::start();
        seed_standby(&moto.clients().await).await;
        let app = HttpServer::start();
        app.reply("/health", Reply::json(r#"{"status":"ok"}"#));
        app.reply(
            "/health/llm",
            Reply::json(r#"{"status":"ok","provider":"openai"}"#),
        );
        Setup {
            dir: tempfile::tempdir().unwrap(),
            heroku: HerokuServer::start("example-app", TOKEN, production()),
            app,
            endpoint: moto.endpoint(),
            moto,
        }
    }

    /// Production moved on without the standby: a new config var, a new process type, more
    /// workers than the standby runs, a newer release.
    fn drift(&self) {
        self.heroku.with_app(|app| {
            app.config_vars.insert("NEW_FLAG".into(), Some(FLAG.into()));
            app.formation
                .push(("clock".into(), 1, "Standard-1X".into()));
            app.formation[1].1 = 4;
            for release in &mut app.releases {
                release.current = false;
            }
            app.releases.push(Release {
                version: 65,
                current: true,
                status: "succeeded",
                slug: Some("slug-65".into()),
            });
            app.slugs
                .insert("slug-65".into(), Some(NEWER_COMMIT.to_owned()));
        });
    }

    /// What `lifeboat parity` reads: the shipped runbooks, [aws] live on moto with the
    /// standby's services and record, Heroku and the app on loopback, two LLM providers
    /// (never called: a closed port) and the weekly check.
    fn config(&self) -> TestConfig {
        base()
            .shipped_runbooks()
            .set("objectives.data_rto", "2h")
            .moto(&self.endpoint)
            .set(
                "aws.ecs",
                json!({
                    "cluster": CLUSTER,
                    "services": [{ "name": "web", "standby": 3 }, { "name": "worker", "standby": 2 }],
                }),
            )
            .set(
                "aws.dns",
                json!({
                    "zone_id": "Z0PARITYTEST",
                    "records": [{ "name": "app.example.com.", "primary": "app-example.herokudns.com.", "standby": "alb.example.com." }],
                }),
            )
            .set(
                "llm.openai",
                json!({ "base_url": "http://127.0.0.1:9", "key_env": "PARITY_TEST_OPENAI_KEY", "model": "gpt-4o-mini" }),
            )
            .set(
                "llm.anthropic",
                json!({ "base_url": "http://127.0.0.1:9", "key_env": "PARITY_TEST_ANTHROPIC_KEY", "model": "claude-sonnet-4-5" }),
            )
            .set(
                "heroku",
                json!({
                    "app": "example-app",
                    "token_env": TOKEN_ENV,
                    "api_base": self.heroku.base_url(),
                    "timeout": "5s",
                }),
            )
            .set("app.container", "app")
            .set(
                "parity",
                json!({
                    "ignore": ["HEROKU_*"],
                    "must_match": ["LLM_PROVIDER"],
                    "health_timeout": "3s",
                }),
            )
            .set("schedule.parity_every", "7d")
            .var("app_url", self.app.base_url())
    }

    /// Runs `lifeboat ARGS --config ...` with the Heroku token and moto's keys, tracing all.
    fn run(&self, args: &[&str]) -> Output {
        let path = self.config().write(self.dir.path());
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", path.to_str().unwrap()]);
        lifeboat(
            self.dir.path(),
            &all,
            &[
                (TOKEN_ENV, TOKEN),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
                ("RUST_LOG", "trace"),
            ],
        )
    }
}

/// Fails when any config var value (or the token) is in `text`.
fn assert_no_secret(what: &str, text: &str) {
    for secret in [DB_PASSWORD, SECRET_KEY_BASE, TOKEN, FLAG] {
        assert!(!text.contains(secret), "{what} contains {secret:?}");
    }
}

#[tokio::test]
async fn a_mirrored_standby_has_no_drift_and_exits_0() {
    let setup = Setup::mirrored().await;
    let out = setup.run(&["parity"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    for line in [
        "ok      config var LLM_PROVIDER",
        "must match: the values are equal (compared by SHA-256)",
        "ok      config var names",
        "ok      process web",
        "ok      process worker",
        "ok      code app:1 (web, worker)",
        "v52 abc1234def98",
        "image tag abc1234",
        "/health/llm",
        "answered 200 naming openai",
        "NO DRIFT: all 7 checks match",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // The current release sat behind a page of failed deploys: it was found by `Next-Range`.
    let releases: Vec<_> = setup
        .heroku
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("/releases"))
        .collect();
    assert_eq!(releases.len(), 2, "{releases:#?}");
    assert_eq!(
        releases[0].headers["range"],
        "version ..; order=desc, max=10"
    );
    assert!(releases[1].headers["range"].starts_with("version ]55.."));
    for seen in setup.heroku.seen() {
        assert_eq!(seen.method, "GET", "parity only reads");
        assert_eq!(
            seen.headers["accept"],
            "application/vnd.heroku+json; version=3"
        );
    }
    let json = setup.run(&["parity", "--json"]);
    assert_eq!(json.status.code(), Some(0));
    let value: Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(value["drift"], false);
    assert_eq!(value["app"], "example-app");
}

#[tokio::test]
async fn each_drift_is_reported_by_name_and_exits_1() {
    let setup = Setup::mirrored().await;
    setup.drift();
    let out = setup.run(&["parity"]);
    let text = stdout(&out);
    // The table an operator sees (shown with `cargo test -- --nocapture`).
    println!("{text}");
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    for line in [
        "DRIFT   config var NEW_FLAG",
        "missing from app:1 (web, worker)",
        "DRIFT   process worker",
        "a failover scales worker to 2, fewer than the 4 Heroku runs",
        "DRIFT   process clock",
        "no ECS service runs this process type",
        "DRIFT   code app:1 (web, worker)",
        "v65 fedcba987654",
        "the standby runs other code than Heroku's current release",
        "DRIFT: 4 of 9 checks differ",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    let json = setup.run(&["parity", "--json"]);
    assert_eq!(json.status.code(), Some(1));
    let value: Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(value["drift"], true);
    let drifted: Vec<String> = value["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "drift")
        .map(|f| {
            format!(
                "{} {}",
                f["area"].as_str().unwrap(),
                f["subject"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        drifted,
        [
            "config_var NEW_FLAG",
            "process worker",
            "process clock",
            "code app:1 (web, worker)"
        ]
    );
}

#[tokio::test]
async fn secret_values_never_appear_in_output_readiness_or_logs() {
    let setup = Setup::mirrored().await;
    setup.drift();
    // A must-match value that differs, so values are compared (by digest) and differ.
    setup.heroku.with_app(|app| {
        app.config_vars
            .insert("LLM_PROVIDER".into(), Some(SECRET_KEY_BASE.into()));
    });
    for args in [
        &["parity"][..],
        &["parity", "--json"][..],
        &["readiness", "--data-dir", "/nonexistent-parity"][..],
    ] {
        let out = setup.run(args);
        assert_no_secret(&format!("{args:?} stdout"), &stdout(&out));
        assert_no_secret(&format!("{args:?} stderr (RUST_LOG=trace)"), &stderr(&out));
    }
    let readiness = setup.run(&["readiness", "--data-dir", "/nonexistent-parity"]);
    let text = stdout(&readiness);
    assert_eq!(readiness.status.code(), Some(1), "{text}");
    for line in [
        "FAIL  parity config vars: LLM_PROVIDER: must match, but the values differ (compared by SHA-256; neither is shown); NEW_FLAG: set on Heroku, missing from the standby's task definition",
        "FAIL  parity processes: worker: a failover scales worker to 2, fewer than the 4 Heroku runs; clock: no ECS service runs this process type",
        "FAIL  parity code: app:1 (web, worker): the standby runs other code than Heroku's current release (v65: fedcba987654)",
        "/health: answered 200: as the runbooks expect (200 with ok)",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

/// The in-process scheduler over the setup's parts, with a log of its own.
async fn scheduler(setup: &Setup, store: Arc<SledStore>) -> (Scheduler, Arc<RecordingChat>) {
    let config = Arc::new(setup.config().config());
    let runbooks = lifeboat::runbook::load_dir(&config.paths.runbooks, &config).runbooks;
    let chat = Arc::new(RecordingChat::new());
    let secrets: BTreeMap<String, String> = [(TOKEN_ENV.to_owned(), TOKEN.to_owned())]
        .into_iter()
        .collect();
    let credentials =
        aws_sdk_route53::config::Credentials::new("testing", "testing", None, None, "moto");
    let env = StepEnv {
        aws: AwsEdges::connect_with_credentials(&config.aws, credentials).await,
        config: config.clone(),
        http: lifeboat::ports::http::client(),
        chat: chat.clone(),
        channel: ChannelId("incident".into()),
        answers: Arc::default(),
        secrets: Arc::new(secrets),
        llm: Arc::new(lifeboat::llm::HttpLlm::new(lifeboat::ports::http::client())),
        heroku: Arc::new(lifeboat::heroku::HerokuApi::new(
            lifeboat::ports::http::client(),
        )),
        clock: Arc::new(lifeboat::ports::clock::TokioClock::new()),
        comms: Default::default(),
        data: Default::default(),
    };
    let clock = env.clock.clone();
    let scheduler = Scheduler::new(env, runbooks, store, clock).unwrap();
    (scheduler, chat)
}

#[tokio::test]
async fn the_weekly_check_alerts_in_the_incident_channel_only_on_new_drift() {
    let setup = Setup::mirrored().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let (scheduler, chat) = scheduler(&setup, store.clone()).await;

    // Mirrored: recorded, nothing posted.
    assert_eq!(scheduler.watch_parity().await, Some(ParityEffect::Recorded));
    assert!(chat.posts().is_empty());

    // A config var added on Heroku: new drift, posted once.
    setup.heroku.with_app(|app| {
        app.config_vars.insert("NEW_FLAG".into(), Some(FLAG.into()));
    });
    assert_eq!(
        scheduler.watch_parity().await,
        Some(ParityEffect::Alerted {
            new: vec!["config_var:NEW_FLAG".into()]
        })
    );
    let posts = chat.posts();
    assert_eq!(posts.len(), 1);
    assert!(
        posts[0].content.contains("1 new since the last check"),
        "{}",
        posts[0].content
    );
    assert!(
        posts[0].content.contains("• NEW config var NEW_FLAG"),
        "{}",
        posts[0].content
    );

    // The same drift a week later: recorded, not posted again.
    assert_eq!(scheduler.watch_parity().await, Some(ParityEffect::Recorded));
    assert_eq!(chat.posts().len(), 1);

    // More workers on Heroku: only that is new; the old drift is listed as still there.
    setup.heroku.with_app(|app| app.formation[1].1 = 5);
    assert_eq!(
        scheduler.watch_parity().await,
        Some(ParityEffect::Alerted {
            new: vec!["process:worker".into()]
        })
    );
    let last = chat.posts().pop().unwrap().content;
    assert!(last.contains("• NEW process worker"), "{last}");
    assert!(last.contains("• still config var NEW_FLAG"), "{last}");

    // Heroku unreadable: recorded as such and posted (once), the last comparison still counts.
    setup.heroku.fail_with(Some((
        503,
        serde_json::json!({"id": "unavailable", "message": "API temporarily unavailable"}),
        Vec::new(),
    )));
    assert_eq!(
        scheduler.watch_parity().await,
        Some(ParityEffect::Unreadable {
            side: "heroku",
            alerted: true
        })
    );
    setup.heroku.fail_with(None);
    assert_eq!(scheduler.watch_parity().await, Some(ParityEffect::Recorded));
    assert_eq!(chat.posts().len(), 3);

    let events = store.all().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "parity.checked",
            "parity.checked",
            "parity.checked",
            "parity.checked",
            "parity.unreadable",
            "parity.checked"
        ]
    );
    let log = serde_json::to_string(&events).unwrap();
    assert_no_secret("the event log", &log);
    drop(setup.moto);
}

/// A check that cannot read a side says so once, naming the side and why, and not again while
/// it stays so; Heroku answering while the standby cannot be read is blamed on AWS.
#[tokio::test]
async fn an_unreadable_side_is_posted_once_with_its_reason_and_side() {
    let setup = Setup::mirrored().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let (scheduler, chat) = scheduler(&setup, store.clone()).await;

    setup.heroku.fail_with(Some((
        401,
        serde_json::json!({"id": "unauthorized", "message": "Invalid credentials provided."}),
        Vec::new(),
    )));
    for alerted in [true, false] {
        assert_eq!(
            scheduler.watch_parity().await,
            Some(ParityEffect::Unreadable {
                side: "heroku",
                alerted
            })
        );
    }
    let posts = chat.posts();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    for text in ["token", "cannot read Heroku (side: heroku)"] {
        assert!(posts[0].content.contains(text), "{}", posts[0].content);
    }

    // Heroku answers again, but the standby cannot be read: that is news, and AWS's.
    setup.heroku.fail_with(None);
    drop(setup.moto);
    assert_eq!(
        scheduler.watch_parity().await,
        Some(ParityEffect::Unreadable {
            side: "aws",
            alerted: true
        })
    );
    let posts = chat.posts();
    assert_eq!(posts.len(), 2);
    assert!(
        posts[1].content.contains("cannot read AWS (side: aws)"),
        "{}",
        posts[1].content
    );
    let sides: Vec<(String, Value)> = store
        .all()
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.data["side"].clone()))
        .collect();
    assert_eq!(
        sides,
        [
            ("parity.unreadable".to_owned(), Value::from("heroku")),
            ("parity.unreadable".to_owned(), Value::from("heroku")),
            ("parity.unreadable".to_owned(), Value::from("aws")),
        ]
    );
}

/// A Heroku that never answers: every call hangs (no timers of its own, so paused time runs).
#[derive(Default)]
struct HangingHeroku {
    calls: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl lifeboat::ports::heroku::Platform for HangingHeroku {
    async fn config_vars(
        &self,
        _: lifeboat::ports::heroku::PlatformTarget<'_>,
    ) -> Result<lifeboat::ports::heroku::ConfigVars, lifeboat::ports::heroku::PlatformError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::future::pending().await
    }

    async fn formation(
        &self,
        _: lifeboat::ports::heroku::PlatformTarget<'_>,
    ) -> Result<Vec<lifeboat::ports::heroku::Process>, lifeboat::ports::heroku::PlatformError> {
        std::future::pending().await
    }

    async fn current_release(
        &self,
        _: lifeboat::ports::heroku::PlatformTarget<'_>,
    ) -> Result<lifeboat::ports::heroku::Release, lifeboat::ports::heroku::PlatformError> {
        std::future::pending().await
    }

    async fn set_config_vars(
        &self,
        _: lifeboat::ports::heroku::PlatformTarget<'_>,
        _: &BTreeMap<String, String>,
    ) -> Result<(), lifeboat::ports::heroku::PlatformError> {
        panic!("the parity check only reads")
    }
}

/// The scheduler loop with a parity check that never ends: the RTO checkpoint of an incident
/// is still posted on time, and shutdown still ends the loop at once.
#[tokio::test(start_paused = true)]
async fn a_hanging_parity_check_holds_up_neither_checkpoints_nor_shutdown() {
    use lifeboat::domain::event::NewEvent;
    use lifeboat::domain::{Actor, IncidentId};

    let dir = tempfile::tempdir().unwrap();
    let runbooks = dir.path().join("commands");
    std::fs::create_dir_all(&runbooks).unwrap();
    let config = Arc::new(
        base()
            .set("paths.runbooks", runbooks.display().to_string())
            .set(
                "heroku",
                json!({ "app": "example-app", "token_env": TOKEN_ENV }),
            )
            .set("schedule.parity_every", "7d")
            .config(),
    );
    let store = Arc::new(SledStore::open(&dir.path().join("data")).unwrap());
    store
        .append(
            NewEvent::new(
                Actor::User {
                    id: "1".into(),
                    name: "alice".into(),
                },
                "incident.declared",
                serde_json::json!({"alert": null, "commander": "alice", "providers": ["heroku"], "severity": "sev1", "title": "Heroku down", "workstreams": ["hosting"]}),
            )
            .incident(IncidentId::from("INC-20261205-000000")),
        )
        .unwrap();
    let chat = Arc::new(RecordingChat::new());
    let heroku = Arc::new(HangingHeroku::default());
    let credentials =
        aws_sdk_route53::config::Credentials::new("testing", "testing", None, None, "moto");
    let env = StepEnv {
        aws: AwsEdges::connect_with_credentials(&config.aws, credentials).await,
        config: config.clone(),
        http: lifeboat::ports::http::client(),
        chat: chat.clone(),
        channel: ChannelId("incident".into()),
        answers: Arc::default(),
        secrets: Arc::new(BTreeMap::from([(TOKEN_ENV.to_owned(), TOKEN.to_owned())])),
        llm: Arc::new(lifeboat::llm::HttpLlm::new(lifeboat::ports::http::client())),
        heroku: heroku.clone(),
        clock: Arc::new(lifeboat::ports::clock::TokioClock::new()),
        comms: Default::default(),
        data: Default::default(),
    };
    let clock = env.clock.clone();
    let scheduler = Scheduler::new(env, Vec::new(), store.clone(), clock).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(scheduler.run(async move {
        let _ = stopped.await;
    }));

    // Half the hosting RTO (4h) and a little: the 50 % checkpoint is due.
    tokio::time::sleep(Duration::from_secs(2 * 3600 + 120)).await;
    assert_eq!(
        heroku.calls.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the check started (once) and still hangs"
    );
    let rto: Vec<_> = chat
        .posts()
        .into_iter()
        .filter(|m| m.content.contains("RTO"))
        .collect();
    assert_eq!(rto.len(), 1, "{:#?}", chat.posts());
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("shutdown ends the loop at once, the hanging check with it")
        .unwrap();
    let kinds: Vec<String> = store.all().unwrap().into_iter().map(|e| e.kind).collect();
    assert!(kinds.iter().all(|k| !k.starts_with("parity.")), "{kinds:?}");
    assert!(kinds.contains(&"clock.checkpoint".to_owned()), "{kinds:?}");
}

/// Against the simulated standby (`[aws] mode = "simulated"`, the shipped default), there is
/// nothing real to compare: one row says so, no drift is invented, exit 2 (unknown).
#[tokio::test]
async fn a_simulated_standby_is_not_compared() {
    let setup = Setup::mirrored().await;
    let config = setup.config().set("aws.mode", "simulated");
    let path = setup.dir.path().join("simulated.toml");
    std::fs::write(&path, config.text()).unwrap();
    let out = lifeboat(
        setup.dir.path(),
        &["parity", "--json", "--config", path.to_str().unwrap()],
        &[(TOKEN_ENV, TOKEN)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let value: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let findings = value["findings"].as_array().unwrap();
    let unknown: Vec<&Value> = findings
        .iter()
        .filter(|f| f["status"] == "unknown")
        .collect();
    assert_eq!(unknown.len(), 1, "{findings:#?}");
    assert_eq!(
        unknown[0]["detail"],
        "standby is simulated: no real standby to compare ([aws] mode = \"simulated\")"
    );
    assert!(
        findings.iter().all(|f| f["status"] != "drift"),
        "{findings:#?}"
    );
    assert_eq!(value["drift"], false);
}

// ---------------------------------------------------------------------------------------------
// `lifeboat llm-parity`.

struct Providers {
    dir: tempfile::TempDir,
    openai: LlmServer,
    anthropic: LlmServer,
}

impl Providers {
    fn start() -> Providers {
        let suite = root().join("config/llm-parity.toml");
        let openai = LlmServer::start(OPENAI_KEY);
        openai.answer_suite(&suite);
        let anthropic = LlmServer::start(ANTHROPIC_KEY);
        anthropic.answer_suite(&suite);
        Providers {
            dir: tempfile::tempdir().unwrap(),
            openai,
            anthropic,
        }
    }

    fn run(&self, json: bool) -> Output {
        self.run_with(if json { &["--json"][..] } else { &[][..] })
    }

    /// `lifeboat llm-parity ARGS` against the two local providers.
    fn run_with(&self, extra: &[&str]) -> Output {
        // No runbooks (an empty `commands/`, written by `write`): `llm-parity` needs only
        // [llm] and the suite.
        let path = base()
            .set(
                "llm.openai",
                json!({ "base_url": self.openai.base_url(), "key_env": "PARITY_OPENAI_KEY", "model": "gpt-4o-mini" }),
            )
            .set(
                "llm.anthropic",
                json!({
                    "base_url": self.anthropic.base_url(),
                    "key_env": "PARITY_ANTHROPIC_KEY",
                    "model": "claude-sonnet-4-5",
                    "timeout": "5s",
                }),
            )
            .set("parity.llm_min_pass", 0.8)
            .var("app_url", "http://127.0.0.1:9")
            .write(self.dir.path());
        let mut args = vec!["llm-parity", "--config", path.to_str().unwrap()];
        args.extend(extra);
        lifeboat(
            self.dir.path(),
            &args,
            &[
                ("PARITY_OPENAI_KEY", OPENAI_KEY),
                ("PARITY_ANTHROPIC_KEY", ANTHROPIC_KEY),
            ],
        )
    }
}

#[test]
fn llm_parity_prints_pass_rates_and_latency_percentiles_per_provider() {
    let providers = Providers::start();
    let out = providers.run(false);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    for line in [
        "PROMPT              OPENAI (gpt-4o-mini)",
        "ANTHROPIC (claude-sonnet-4-5)",
        "classify-ticket",
        "openai: 5 of 5 passed (100%), p50 ",
        "anthropic: 5 of 5 passed (100%), p50 ",
        "meets the minimum",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // Each provider heard every prompt in its own wire format, with its own key.
    assert_eq!(providers.openai.prompts().len(), 5);
    assert_eq!(providers.anthropic.prompts().len(), 5);
    assert!(
        providers
            .anthropic
            .headers()
            .iter()
            .all(|h| h["x-api-key"] == ANTHROPIC_KEY && h["anthropic-version"] == "2023-06-01")
    );
    assert!(
        providers
            .openai
            .headers()
            .iter()
            .all(|h| h["authorization"] == format!("Bearer {OPENAI_KEY}"))
    );
    assert!(!text.contains(ANTHROPIC_KEY) && !text.contains(OPENAI_KEY));

    // Anthropic answers two prompts wrongly and one slowly: 2 of 5, below 80 %: exit 1.
    let suite = lifeboat::parity::suite::load(&root().join("config/llm-parity.toml")).unwrap();
    let prompt = |id: &str| {
        suite
            .prompts
            .iter()
            .find(|p| p.id == id)
            .unwrap()
            .prompt
            .clone()
    };
    let a = &providers.anthropic;
    a.answer(
        &prompt("classify-ticket"),
        "It is about billing, fairly urgent.",
        Duration::ZERO,
    );
    a.answer(
        &prompt("extract-date"),
        "The third of March.",
        Duration::ZERO,
    );
    a.answer(&prompt("pong"), "pong", Duration::from_millis(5500));
    let out = providers.run(true);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let value: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(value["min_pass"], 0.8);
    let anthropic = &value["providers"][1];
    assert_eq!(anthropic["provider"], "anthropic");
    assert_eq!(
        (anthropic["passed"].as_u64(), anthropic["total"].as_u64()),
        (Some(2), Some(5))
    );
    assert_eq!(anthropic["meets_min"], false);
    assert!(anthropic["p50_ms"].is_u64());
    // `pong` timed out: it counts at its bound (5 s), not left out of the percentiles.
    assert!(
        anthropic["p95_ms"].as_u64().unwrap() >= 5000,
        "{}",
        anthropic["p95_ms"]
    );
    assert_eq!(anthropic["timed_out"], 1);
    let results = anthropic["results"].as_array().unwrap();
    let failures =
        |id: &str| results.iter().find(|r| r["id"] == id).unwrap()["failures"].to_string();
    assert!(failures("classify-ticket").contains("is not valid JSON"));
    assert!(failures("extract-date").contains("does not match"));
    assert!(
        failures("pong").contains("did not answer within 5s"),
        "{}",
        failures("pong")
    );
    let openai = &value["providers"][0];
    assert_eq!(openai["meets_min"], true);
    assert_eq!(openai["share"], 1.0);
    // The table an operator sees (shown with `cargo test -- --nocapture`).
    let out = providers.run(false);
    let text = stdout(&out);
    println!("{text}");
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("anthropic: 2 of 5 passed (40%)"), "{text}");
    assert!(text.contains("p95 ≥ 5000 ms (1 timed out)"), "{text}");
    assert!(text.contains("BELOW the minimum"), "{text}");
}

/// `max_latency` through the real path: a suite of one prompt bounded at 300 ms, Anthropic
/// answering correctly but after 600 ms (well within its 5 s timeout): it fails on latency.
#[test]
fn an_answer_slower_than_max_latency_fails_the_prompt() {
    let providers = Providers::start();
    let prompt = "Reply with the single word: quick";
    let suite = providers.dir.path().join("latency.toml");
    std::fs::write(
        &suite,
        format!(
            "max_tokens = 50\n\n[[prompts]]\nid = \"quick\"\nprompt = {}\nexample = \"quick\"\ncontains = [\"quick\"]\nmax_latency = \"300ms\"\n",
            quoted(prompt)
        ),
    )
    .unwrap();
    providers.openai.answer(prompt, "quick", Duration::ZERO);
    providers
        .anthropic
        .answer(prompt, "quick", Duration::from_millis(600));
    let out = providers.run_with(&["--suite", suite.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    for line in [
        "slower than 300ms",
        "openai: 1 of 1 passed (100%)",
        "anthropic: 0 of 1 passed (0%)",
        "BELOW the minimum",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(!text.contains("timed out"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// The adapters on their own.

#[tokio::test]
async fn the_heroku_adapter_speaks_the_platform_api_and_classifies_errors_like_aws() {
    use lifeboat::config::Secret;
    use lifeboat::heroku::HerokuApi;
    use lifeboat::ports::digest::ValueDigest;
    use lifeboat::ports::heroku::{Platform, PlatformError, PlatformTarget};

    fn target<'a>(base: &'a str, app: &'a str, token: &'a Secret) -> PlatformTarget<'a> {
        PlatformTarget {
            api_base: base,
            app,
            token,
            timeout: Duration::from_secs(5),
        }
    }
    let heroku = HerokuServer::start("example-app", TOKEN, production());
    let api = HerokuApi::new(lifeboat::ports::http::client());
    let token = &Secret::new(TOKEN);
    let base = heroku.base_url();
    let at = |app, token| target(&base, app, token);

    let vars = api.config_vars(at("example-app", token)).await.unwrap();
    assert_eq!(
        vars.0.keys().collect::<Vec<_>>(),
        [
            "DATABASE_URL",
            "FEATURE_X",
            "HEROKU_APP_NAME",
            "LLM_PROVIDER",
            "SECRET_KEY_BASE"
        ]
    );
    assert_eq!(vars.0["LLM_PROVIDER"], Some(ValueDigest::of("openai")));
    assert!(!format!("{vars:?}").contains(SECRET_KEY_BASE));
    let formation = api.formation(at("example-app", token)).await.unwrap();
    assert_eq!(
        formation
            .iter()
            .map(|p| (p.kind.as_str(), p.quantity, p.size.as_str()))
            .collect::<Vec<_>>(),
        [("web", 2, "Standard-2X"), ("worker", 2, "Standard-1X")]
    );
    let release = api.current_release(at("example-app", token)).await.unwrap();
    assert_eq!(
        (release.version, release.commit.as_deref()),
        (52, Some(COMMIT))
    );

    let vars = BTreeMap::from([("LLM_PROVIDER".to_owned(), "anthropic".to_owned())]);
    api.set_config_vars(at("example-app", token), &vars)
        .await
        .unwrap();
    assert_eq!(
        heroku.config_var("LLM_PROVIDER").as_deref(),
        Some("anthropic")
    );
    let patch = heroku
        .seen()
        .into_iter()
        .find(|s| s.method == "PATCH")
        .unwrap();
    assert_eq!(patch.path, "/apps/example-app/config-vars");
    assert_eq!(patch.headers["content-type"], "application/json");
    assert_eq!(patch.headers["authorization"], format!("Bearer {TOKEN}"));

    // 401/403 are final; 429 (with Retry-After) and 5xx may pass on another attempt.
    let wrong = &Secret::new("not-the-token");
    let err = api.formation(at("example-app", wrong)).await.unwrap_err();
    assert!(
        matches!(err, PlatformError::Refused { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("not-the-token"));
    let err = api.formation(at("other-app", token)).await.unwrap_err();
    assert!(matches!(err, PlatformError::NotFound { .. }), "{err:?}");
    heroku.fail_with(Some((
        429,
        serde_json::json!({"id": "rate_limit", "message": "Your account reached the API rate limit"}),
        vec![("Retry-After".to_owned(), "3".to_owned())],
    )));
    let err = api.config_vars(at("example-app", token)).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    heroku.fail_with(Some((
        503,
        serde_json::json!({"id": "unavailable", "message": "API temporarily unavailable"}),
        Vec::new(),
    )));
    let err = api
        .current_release(at("example-app", token))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PlatformError::Unavailable { status: 503, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    let dead = crate::support::http::dead_port_url("");
    let err = api
        .formation(target(&dead, "example-app", token))
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::Unreachable(_)), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn the_ecs_adapter_reads_task_definitions_registers_revisions_and_deploys_in_moto() {
    use lifeboat::aws::EcsContainers;
    use lifeboat::ports::aws::{AwsError, Containers, EnvChange};
    use lifeboat::ports::digest::ValueDigest;

    let moto = crate::support::moto::moto().await;
    let aws = moto.clients().await;
    seed_standby(&aws).await;
    let ecs = EcsContainers::new(aws.ecs.clone());

    let spec = ecs.task_definition_spec("app").await.unwrap();
    assert_eq!(
        (spec.name.as_str(), spec.status.as_str()),
        ("app:1", "ACTIVE")
    );
    let app = &spec.containers[0];
    assert_eq!(app.name, "app");
    assert_eq!(app.image_tag(), Some(&COMMIT[..7]));
    assert_eq!(
        app.environment.keys().collect::<Vec<_>>(),
        ["FEATURE_X", "LLM_PROVIDER"]
    );
    assert_eq!(app.environment["LLM_PROVIDER"], ValueDigest::of("openai"));
    assert_eq!(
        app.secrets.iter().collect::<Vec<_>>(),
        ["DATABASE_URL", "SECRET_KEY_BASE"]
    );

    let change = EnvChange {
        container: "app".into(),
        name: "LLM_PROVIDER".into(),
        value: "anthropic".into(),
    };
    let new = ecs.register_revision("app:1", &[change]).await.unwrap();
    assert_eq!(new, "app:2");
    let spec = ecs.task_definition_spec(&new).await.unwrap();
    let app = &spec.containers[0];
    assert_eq!(
        app.environment["LLM_PROVIDER"],
        ValueDigest::of("anthropic")
    );
    assert_eq!(
        app.environment["FEATURE_X"],
        ValueDigest::of("on"),
        "the rest is copied"
    );
    assert_eq!(app.secrets.len(), 2);
    assert_eq!(app.image_tag(), Some(&COMMIT[..7]));
    assert_eq!(
        ecs.task_definition_spec("app:1").await.unwrap().containers[0].environment["LLM_PROVIDER"],
        ValueDigest::of("openai"),
        "the old revision is untouched"
    );

    let before = ecs.deploy(CLUSTER, "web", &new).await.unwrap();
    assert!(before.task_definition.unwrap().ends_with("app:1"));
    let now = ecs
        .describe_services(CLUSTER, &["web".into()])
        .await
        .unwrap();
    assert!(
        now[0]
            .task_definition
            .as_deref()
            .unwrap()
            .ends_with("app:2")
    );

    let err = ecs.register_revision("ghost:1", &[]).await.unwrap_err();
    assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
    let err = ecs.deploy(CLUSTER, "ghost", &new).await.unwrap_err();
    assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
}

/// `lifeboat readiness` on the shipped config, offline (simulated AWS, no keys, no token; the
/// app's URL moved to a closed loopback port, so nothing leaves the machine): one line per
/// check, each saying what could not be reached and why.
#[test]
fn readiness_on_the_shipped_config_says_in_one_line_per_check_what_it_could_not_reach() {
    let data = tempfile::tempdir().unwrap();
    let app_url = crate::support::http::dead_port_url("");
    let shipped = TestConfig::shipped();
    assert_eq!(
        shipped.get("vars.app_url").and_then(|url| url.as_str()),
        Some("https://app.example.com"),
        "the shipped [vars] app_url moved"
    );
    let path = shipped.var("app_url", &app_url).write(data.path());
    let out = lifeboat(
        &root(),
        &[
            "readiness",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--config",
            path.to_str().unwrap(),
        ],
        &[
            ("HEROKU_API_KEY", ""),
            ("ANTHROPIC_API_KEY", ""),
            ("OPENAI_API_KEY", ""),
        ],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("Standby readiness at "), "{text}");
    assert!(lines.last().unwrap().starts_with("NOT READY: "), "{text}");
    for line in &lines[1..lines.len() - 1] {
        assert!(
            line.starts_with("ok    ") || line.starts_with("FAIL  "),
            "not one line per check: {line:?}"
        );
    }
    for expected in [
        "FAIL  anthropic key: the environment variable ANTHROPIC_API_KEY is not set",
        "FAIL  parity config vars: names: could not read Heroku's config vars: the environment variable HEROKU_API_KEY (the Platform API token) is not set",
        "FAIL  parity processes: formation: could not read Heroku's formation: the environment variable HEROKU_API_KEY",
        "FAIL  parity code: release: could not read Heroku's current release: the environment variable HEROKU_API_KEY",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    for endpoint in ["/health", "/health/llm"] {
        let line = format!(
            "FAIL  app endpoint {app_url}{endpoint}: could not reach it: cannot connect: Connection refused (os error 111)"
        );
        assert!(
            lines.contains(&line.as_str()),
            "missing {line:?} in:\n{text}"
        );
    }
}
