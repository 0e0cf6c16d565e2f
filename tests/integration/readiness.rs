//! `lifeboat readiness` as an operator runs it, against real parts on loopback: the standby in
//! moto (a cluster, services, task definitions, a hosted zone and its record, seeded through
//! the AWS SDK), a local server speaking the Anthropic messages wire format and serving the
//! backup status, and the drill log a real `lifeboat drill both` wrote. Everything ready exits
//! 0; then one thing breaks at a time and exactly its line fails, with exit 1.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_ecs::types::ContainerDefinition;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use chrono::{SecondsFormat, Utc};

use lifeboat::aws::AwsClients;
use serde_json::json;

use crate::support::http::{HttpServer, Reply};
use crate::support::moto::{MotoServer, moto};
use crate::support::{TestConfig, lifeboat, root, stderr, stdout};

const CLUSTER: &str = "lifeboat-standby";
const RECORD: &str = "app.example.com.";
const PRIMARY: &str = "app-example.herokudns.com.";
const STANDBY: &str = "web-alb-123.us-east-1.elb.amazonaws.com.";
const KEY_ENV: &str = "READINESS_TEST_ANTHROPIC_KEY";
const KEY: &str = "sk-ant-readiness-test-3c1f";
const ANTHROPIC_OK: &str = r#"{"id":"msg_01XF","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"pong"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":18,"output_tokens":2}}"#;
const ANTHROPIC_401: &str = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_011CT"}"#;

/// A data directory holding the log of one real `lifeboat drill both` (both protocols
/// drilled, objectives met, but automatic: it does not count) and, beside it, the log of a
/// game day with the same results (which does), made once for the whole test binary.
fn drilled() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        use lifeboat::domain::Actor;
        use lifeboat::domain::event::NewEvent;
        use lifeboat::ports::store::EventStore;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("drill-readiness");
        let out = lifeboat(
            &root(),
            &["drill", "both", "--data-dir", log.to_str().unwrap()],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "the drill: {}", stderr(&out));
        let automatic = lifeboat::store::SledStore::open(&log)
            .unwrap()
            .all()
            .unwrap();
        let finished = automatic
            .iter()
            .find(|e| e.kind == "drill.finished")
            .expect("drill.finished");
        assert_eq!(finished.data["mode"], "automatic");
        assert_eq!(finished.data["real_aws"], false);
        let mut gameday = finished.data.clone();
        gameday["mode"] = "gameday".into();
        let store = lifeboat::store::SledStore::open(&dir.path().join("drill-gameday")).unwrap();
        store
            .append(NewEvent::new(Actor::Scheduler, "drill.finished", gameday))
            .unwrap();
        store.flush().unwrap();
        dir
    })
    .path()
}

/// The standby as it should be, in moto: a zone with the CNAME at the primary (TTL 60), the
/// cluster, and two services each with its own task definition. Returns the zone id.
async fn seed(aws: &AwsClients) -> String {
    let zone = aws
        .route53
        .create_hosted_zone()
        .name("example.com.")
        .caller_reference(format!(
            "readiness-{}",
            Utc::now().timestamp_nanos_opt().unwrap()
        ))
        .send()
        .await
        .expect("create zone");
    let zone_id = zone.hosted_zone().unwrap().id().to_owned();
    set_record(aws, &zone_id, ChangeAction::Upsert, 60).await;
    aws.ecs
        .create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .expect("create cluster");
    for name in ["web", "worker"] {
        aws.ecs
            .register_task_definition()
            .family(name)
            .container_definitions(
                ContainerDefinition::builder()
                    .name(name)
                    .image("example/app:1")
                    .memory(512)
                    .build(),
            )
            .send()
            .await
            .expect("register task definition");
        aws.ecs
            .create_service()
            .cluster(CLUSTER)
            .service_name(name)
            .task_definition(name)
            .desired_count(0)
            .send()
            .await
            .expect("create service");
    }
    zone_id
}

async fn set_record(aws: &AwsClients, zone_id: &str, action: ChangeAction, ttl: i64) {
    let set = ResourceRecordSet::builder()
        .name(RECORD)
        .r#type(RrType::Cname)
        .ttl(ttl)
        .resource_records(ResourceRecord::builder().value(PRIMARY).build().unwrap())
        .build()
        .unwrap();
    aws.route53
        .change_resource_record_sets()
        .hosted_zone_id(zone_id)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(action)
                        .resource_record_set(set)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("change the record");
}

/// Everything `lifeboat readiness` looks at, ready.
struct Standby {
    dir: tempfile::TempDir,
    server: HttpServer,
    endpoint: String,
    zone_id: String,
    data_dir: PathBuf,
    drill_every: &'static str,
    /// A service in the config that was never created.
    extra_service: Option<&'static str>,
}

impl Standby {
    async fn ready(moto: &MotoServer) -> Standby {
        let aws = moto.clients().await;
        let zone_id = seed(&aws).await;
        let server = HttpServer::start();
        server.reply("/v1/messages", Reply::json(ANTHROPIC_OK));
        let standby = Standby {
            dir: tempfile::tempdir().unwrap(),
            server,
            endpoint: moto.endpoint(),
            zone_id,
            data_dir: drilled().to_owned(),
            drill_every: "365d",
            extra_service: None,
        };
        standby.backup_completed(chrono::Duration::minutes(10));
        standby
    }

    /// The newest dump in `[data.backups]` (a directory here) completed `ago`.
    fn backup_completed(&self, ago: chrono::Duration) {
        let at = Utc::now() - ago;
        let dir = self.backups();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = lifeboat::ports::data::backup_key("", at);
        std::fs::write(dir.join(&key), b"PGDMP").unwrap();
        let stamp = at.to_rfc3339_opts(SecondsFormat::Millis, true);
        std::fs::write(
            dir.join(format!("{key}.json")),
            format!(
                r#"{{"format":"lifeboat-db-backup","version":1,"key":"{key}","started_at":"{stamp}","completed_at":"{stamp}","size":5,"sha256":"","tables":[]}}"#
            ),
        )
        .unwrap();
    }

    fn backups(&self) -> std::path::PathBuf {
        self.dir.path().join("backups")
    }

    fn config(&self) -> TestConfig {
        let base = self.server.base_url();
        let mut services = vec![
            json!({ "name": "web", "standby": 3, "idle": 0 }),
            json!({ "name": "worker", "standby": 2, "idle": 0 }),
        ];
        if let Some(name) = self.extra_service {
            services.push(json!({ "name": name, "standby": 1 }));
        }
        TestConfig::minimal()
            .shipped_runbooks()
            .shipped_templates()
            .set("objectives.data_rto", "2h")
            .provider("heroku", "hosting", Some("failover-hosting"))
            .provider("openai", "llm", Some("switch-llm"))
            .moto(&self.endpoint)
            .set(
                "aws.ecs",
                json!({ "cluster": CLUSTER, "services": services }),
            )
            .set(
                "aws.dns",
                json!({
                    "zone_id": self.zone_id,
                    "ttl": 60,
                    "records": [{ "name": RECORD, "type": "CNAME", "primary": PRIMARY, "standby": STANDBY }],
                }),
            )
            .set(
                "llm",
                json!({
                    "openai": { "base_url": base, "key_env": "READINESS_TEST_OPENAI_KEY", "model": "gpt-4o-mini" },
                    "anthropic": { "base_url": base, "key_env": KEY_ENV, "model": "claude-sonnet-4-5", "timeout": "10s" },
                }),
            )
            .team("engineering", json!({}))
            .team("support", json!({}))
            .set("schedule.drill_every", self.drill_every)
            .set(
                "data",
                json!({
                    "primary_url_env": "READINESS_TEST_DATABASE_URL",
                    "standby_url_env": "READINESS_TEST_STANDBY_URL",
                    "backups": { "dir": self.backups().display().to_string() },
                    "tables": [{ "name": "orders", "freshness": "updated_at" }],
                }),
            )
            .var("app_url", format!("{base}/app"))
            .var("standby_url", format!("{base}/standby"))
            .var("backup_status_url", format!("{base}/latest.json"))
            .var("restore_command", "/bin/true")
            .var("integrity_command", "/bin/true")
            .var("heroku_app", "example-app")
            .var("llm_switch_url", format!("{base}/switch"))
    }

    /// Runs `lifeboat readiness` as a child process with the AWS chain on moto's keys.
    fn readiness(&self) -> Output {
        let path = self.config().write(self.dir.path());
        lifeboat(
            self.dir.path(),
            &[
                "readiness",
                "--config",
                path.to_str().unwrap(),
                "--data-dir",
                self.data_dir.to_str().unwrap(),
            ],
            &[
                (KEY_ENV, KEY),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
        )
    }
}

/// Runs readiness and returns its failing lines, checking the exit code matches them.
fn failing(standby: &Standby) -> Vec<String> {
    let out = standby.readiness();
    let text = stdout(&out);
    assert!(!text.contains(KEY), "the key leaked:\n{text}");
    let failed: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .map(str::to_owned)
        .collect();
    let expected = if failed.is_empty() { 0 } else { 1 };
    assert_eq!(
        out.status.code(),
        Some(expected),
        "{text}\n{}",
        stderr(&out)
    );
    failed
}

/// Exactly one line fails, and it starts with `prefix`.
fn only_failure(standby: &Standby, prefix: &str) -> String {
    let failed = failing(standby);
    assert_eq!(
        failed.len(),
        1,
        "expected only {prefix:?} to fail: {failed:#?}"
    );
    assert!(
        failed[0].starts_with(prefix),
        "{:?} is not {prefix:?}",
        failed[0]
    );
    failed[0].clone()
}

#[tokio::test]
async fn a_ready_standby_passes_every_check() {
    let moto = moto().await;
    let standby = Standby::ready(&moto).await;
    let out = standby.readiness();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    for line in [
        "ok    aws: live, region us-east-1, endpoint http://127.0.0.1:",
        "ok    ecs cluster lifeboat-standby: exists, ACTIVE",
        "ok    ecs service web: exists, ACTIVE, desired 0 running 0",
        "ok    ecs service worker: exists, ACTIVE",
        "ok    ecs task definition of web: web:1 exists, ACTIVE",
        "ok    ecs task definition of worker: worker:1 exists, ACTIVE",
        "ok    dns ttl written on failover: [aws.dns] ttl 1m ≤ 5m",
        "ok    dns record app.example.com. CNAME: exists, points at the primary, TTL 1m ≤ 5m (the lower of [aws.dns] max_ttl 5m and 1/48 of the hosting RTO 4h (5m))",
        "ok    anthropic key: a test prompt was answered in",
        "ok    backup ([data.backups] ",
        "ok    drill of failover-hosting: last drilled",
        "ok    drill of switch-llm: last drilled",
        "READY: all 12 checks passed",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // The probe spoke the messages wire format with the key from the environment.
    let probe = standby.server.last_request("/v1/messages").expect("probed");
    assert_eq!(probe.method, "POST");
    assert_eq!(probe.header("x-api-key"), Some(KEY));
    assert_eq!(probe.header("anthropic-version"), Some("2023-06-01"));
}

#[tokio::test]
async fn a_missing_service_fails_its_line() {
    let moto = moto().await;
    let standby = Standby::ready(&moto).await;
    moto.clients()
        .await
        .ecs
        .delete_service()
        .cluster(CLUSTER)
        .service("worker")
        .force(true)
        .send()
        .await
        .expect("delete service");
    // ECS (and moto) keep a deleted service for a while, as INACTIVE.
    only_failure(
        &standby,
        "FAIL  ecs service worker: deleted (INACTIVE): it cannot be scaled up; create it again",
    );
}

#[tokio::test]
async fn a_service_that_never_existed_fails_its_line() {
    let moto = moto().await;
    let mut standby = Standby::ready(&moto).await;
    standby.extra_service = Some("api");
    let line = only_failure(
        &standby,
        "FAIL  ecs service api: ECS service api in cluster lifeboat-standby not found",
    );
    assert!(line.contains("MISSING"), "{line}");
}

#[tokio::test]
async fn a_missing_task_definition_fails_its_line() {
    let moto = moto().await;
    let standby = Standby::ready(&moto).await;
    let ecs = moto.clients().await.ecs;
    ecs.deregister_task_definition()
        .task_definition("web:1")
        .send()
        .await
        .expect("deregister");
    ecs.delete_task_definitions()
        .task_definitions("web:1")
        .send()
        .await
        .expect("delete");
    let line = only_failure(&standby, "FAIL  ecs task definition of web:");
    assert!(line.contains("not found"), "{line}");
}

#[tokio::test]
async fn a_record_ttl_above_the_limit_fails_its_line() {
    let moto = moto().await;
    let standby = Standby::ready(&moto).await;
    let aws = moto.clients().await;
    set_record(&aws, &standby.zone_id, ChangeAction::Upsert, 3600).await;
    let line = only_failure(
        &standby,
        "FAIL  dns record app.example.com. CNAME: TTL 1h > 5m (the lower of [aws.dns] max_ttl 5m and 1/48 of the hosting RTO 4h (5m))",
    );
    assert!(
        line.contains("resolvers would keep the old answer"),
        "{line}"
    );
}

#[tokio::test]
async fn a_missing_record_fails_its_line() {
    let moto = moto().await;
    let standby = Standby::ready(&moto).await;
    let aws = moto.clients().await;
    set_record(&aws, &standby.zone_id, ChangeAction::Delete, 60).await;
    only_failure(
        &standby,
        &format!(
            "FAIL  dns record app.example.com. CNAME: missing from hosted zone {}",
            standby.zone_id
        ),
    );
}

#[tokio::test]
async fn a_refused_anthropic_key_fails_its_line() {
    let moto = moto().await;
    let standby = Standby::ready(&moto).await;
    standby
        .server
        .reply("/v1/messages", Reply::json(ANTHROPIC_401).with_status(401));
    only_failure(
        &standby,
        "FAIL  anthropic key: the key was refused: anthropic answered 401: invalid x-api-key (authentication_error)",
    );
}

#[tokio::test]
async fn a_stale_backup_fails_its_line() {
    let moto = moto().await;
    let standby = Standby::ready(&moto).await;
    standby.backup_completed(chrono::Duration::minutes(125));
    let line = only_failure(&standby, "FAIL  backup ([data.backups] ");
    assert!(line.ends_with("2h 05m ago: older than 1h"), "{line}");
}

#[tokio::test]
async fn no_drill_fails_each_protocols_line() {
    let moto = moto().await;
    let mut standby = Standby::ready(&moto).await;
    let empty = tempfile::tempdir().unwrap();
    standby.data_dir = empty.path().to_owned();
    let failed = failing(&standby);
    assert_eq!(failed.len(), 2, "{failed:#?}");
    assert!(
        failed[0].starts_with(
            "FAIL  drill of failover-hosting: never drilled (the plan asks for one every 365d"
        ),
        "{failed:#?}"
    );
    assert!(failed[1].starts_with("FAIL  drill of switch-llm: never drilled"));
    assert!(
        std::fs::read_dir(empty.path()).unwrap().next().is_none(),
        "reading must not create a log"
    );
}

#[tokio::test]
async fn an_old_drill_fails_each_protocols_line() {
    let moto = moto().await;
    let mut standby = Standby::ready(&moto).await;
    drilled();
    // The drill is a second or more old by now: older than a one-second drill_every.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    standby.drill_every = "1s";
    let failed = failing(&standby);
    assert_eq!(failed.len(), 2, "{failed:#?}");
    for (line, protocol) in failed.iter().zip(["failover-hosting", "switch-llm"]) {
        assert!(
            line.starts_with(&format!("FAIL  drill of {protocol}: last drilled 20")),
            "{line}"
        );
        assert!(
            line.ends_with("older than [schedule] drill_every 1s"),
            "{line}"
        );
    }
}

/// `/dr readiness` in chat: the same checks, answered only to the person who asked, with
/// drills read from the bot's own log.
#[tokio::test]
async fn dr_readiness_answers_in_chat_with_the_same_checks() {
    use lifeboat::approval::Person;
    use lifeboat::chat::bot::Bot;
    use lifeboat::chat::command::Command;
    use lifeboat::domain::Actor;
    use lifeboat::domain::event::NewEvent;
    use lifeboat::ports::store::EventStore;

    let bench = crate::engine::bench().await;
    let rb = bench.runbook(
        "name = \"scale-up\"\ntitle = \"Scale up\"\nworkstream = \"hosting\"\n\n[[steps]]\nid = \"scale\"\nkind = \"ecs_scale\"\nwith = { to = \"standby\" }\n",
    );
    bench
        .store
        .append(NewEvent::new(
            Actor::Scheduler,
            "drill.finished",
            serde_json::json!({ "results": [{
                "provider": "heroku", "runbook": "scale-up", "run": "RUN-1", "status": "succeeded",
                "detection_ms": 400, "recovery_ms": 900, "rto_secs": 14400, "data_loss_secs": null,
                "rpo_secs": 3600, "rto_met": true, "rpo_met": true
            }], "mode": "gameday"}),
        ))
        .unwrap();
    let bot = Bot::new(
        bench.config.clone(),
        vec![rb],
        bench.engine.clone(),
        bench.store.clone(),
    );
    // Live probes are a responder's to trigger: anyone else is refused, privately, and the
    // refusal is logged.
    let anyone = Person {
        id: "7".into(),
        name: "eve".into(),
        roles: Vec::new(),
    };
    let refused = bot.handle(Command::DrReadiness, &anyone).await;
    assert!(refused.ephemeral);
    assert_eq!(
        refused.message.content,
        "Refused: `/dr readiness` needs the responder role."
    );
    let logged = bench.store.all().unwrap();
    assert!(
        logged
            .iter()
            .any(|e| e.kind == "command.refused" && e.data["command"] == "dr readiness"),
        "the refusal is logged"
    );
    let responder = Person {
        id: "8".into(),
        name: "dana".into(),
        roles: vec!["responder".into()],
    };
    let reply = bot.handle(Command::DrReadiness, &responder).await;
    assert!(reply.ephemeral, "a lookup, answered privately");
    let text = &reply.message.content;
    assert!(
        text.starts_with("**NOT READY: 3 of"),
        "the verdict first:\n{text}"
    );
    for line in [
        "FAIL  aws: [aws] mode is simulated",
        "ok    ecs cluster standby: exists, ACTIVE",
        "ok    ecs service web: exists, ACTIVE, desired 0 running 0",
        "ok    ecs task definition of worker: worker:1 exists, ACTIVE",
        "ok    dns record app.example.com. CNAME: exists, points at the primary, TTL 1m ≤ 5m",
        "FAIL  anthropic key: no [llm.anthropic] in the config",
        "FAIL  backup: no runbook has a backup_check step",
        "ok    drill of scale-up: last drilled",
        "NOT READY: 3 of",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}
