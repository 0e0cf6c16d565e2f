//! The company's pre-configured AWS standby, created in moto: the hosted zone with the app's
//! CNAME at Heroku, the ECS cluster, one task definition and services at desired 0; and the
//! hosting side's local parts the runbooks check (backup status, the app, the restore and
//! integrity programs). Shared by the failover, comms and drill tests so they exercise the
//! same environment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_ecs::types::ContainerDefinition;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use lifeboat::aws::AwsClients;
use serde_json::json;

use super::TestConfig;
use super::http::{HttpServer, Reply};

pub const CLUSTER: &str = "lifeboat-standby";
pub const ZONE: &str = "example.com.";
pub const RECORD: &str = "app.example.com.";
/// Where the record points before a failover: Heroku.
pub const PRIMARY: &str = "app-example.herokudns.com.";
/// Where it points after one: the standby's load balancer.
pub const STANDBY: &str = "web-alb-123.us-east-1.elb.amazonaws.com.";
/// The teams' Discord channels.
pub const ENGINEERING_CHANNEL: &str = "300000000000000001";
pub const SUPPORT_CHANNEL: &str = "300000000000000002";

/// A complete config for the shipped runbooks: the shipped templates, the DRP's objectives,
/// two teams with their channels and roles, and `vars` (beside `company`); tests add `[aws]`
/// ([`aws`]), `[llm]` or `[data]`. (The shipped runbooks are loaded one by one, each against
/// it: `App::shipped`.)
pub fn config(vars: &[(&str, String)]) -> TestConfig {
    let mut config = TestConfig::minimal()
        .shipped_templates()
        .team(
            "engineering",
            json!({ "channel_id": ENGINEERING_CHANNEL, "role_id": "400000000000000001" }),
        )
        .team(
            "support",
            json!({ "channel_id": SUPPORT_CHANNEL, "role_id": "400000000000000002" }),
        )
        .var("company", "Example Co");
    for (name, value) in vars {
        config = config.var(name, value);
    }
    config
}

/// [aws] in live mode against moto, with this standby: two services (the worker keeps one
/// task while idle, so "back to idle" differs from "back to where it started") and one CNAME
/// in `zone_id`.
pub fn aws(config: TestConfig, endpoint: &str, zone_id: &str) -> TestConfig {
    config
        .moto(endpoint)
        .set(
            "aws.ecs",
            json!({
                "cluster": CLUSTER,
                "services": [
                    { "name": "web", "standby": 3, "idle": 0 },
                    { "name": "worker", "standby": 2, "idle": 1 },
                ],
            }),
        )
        .set(
            "aws.dns",
            json!({
                "zone_id": zone_id,
                "ttl": 60,
                "records": [{ "name": RECORD, "type": "CNAME", "primary": PRIMARY, "standby": STANDBY }],
            }),
        )
}

/// The CNAME's values and TTL, read straight from moto.
pub async fn cname(aws: &AwsClients, zone_id: &str) -> (Vec<String>, Option<i64>) {
    let listed = aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .send()
        .await
        .expect("list the records");
    let set = listed
        .resource_record_sets()
        .iter()
        .find(|s| s.name() == RECORD && s.r#type() == &RrType::Cname)
        .unwrap_or_else(|| panic!("no {RECORD} CNAME in {listed:?}"));
    let values = set
        .resource_records()
        .iter()
        .map(|r| r.value().to_owned())
        .collect();
    (values, set.ttl())
}

/// `(desired, running)` of web and worker, read straight from moto.
pub async fn counts(aws: &AwsClients) -> [(i32, i32); 2] {
    let described = aws
        .ecs
        .describe_services()
        .cluster(CLUSTER)
        .services("web")
        .services("worker")
        .send()
        .await
        .expect("describe the services");
    let of = |name: &str| {
        let service = described
            .services()
            .iter()
            .find(|s| s.service_name() == Some(name))
            .unwrap_or_else(|| panic!("no service {name} in {described:?}"));
        (service.desired_count(), service.running_count())
    };
    [of("web"), of("worker")]
}

/// Creates the standby with `services` at desired 0 and the record at `PRIMARY` with `ttl`.
/// Returns the zone id as Route 53 gives it (`/hostedzone/...`).
pub async fn seed(aws: &AwsClients, services: &[&str], ttl: i64) -> String {
    let zone = aws
        .route53
        .create_hosted_zone()
        .name(ZONE)
        .caller_reference("lifeboat-test-standby")
        .send()
        .await
        .expect("create the hosted zone");
    let zone_id = zone.hosted_zone().expect("a zone").id().to_owned();
    set_cname(aws, &zone_id, RECORD, PRIMARY, ttl).await;
    aws.ecs
        .create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .expect("create the cluster");
    aws.ecs
        .register_task_definition()
        .family("app")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("example/app:1")
                .memory(512)
                .build(),
        )
        .send()
        .await
        .expect("register the task definition");
    for name in services {
        aws.ecs
            .create_service()
            .cluster(CLUSTER)
            .service_name(*name)
            .task_definition("app")
            .desired_count(0)
            .send()
            .await
            .expect("create the service");
    }
    zone_id
}

/// Upserts the CNAME `name` → `value` with `ttl`.
pub async fn set_cname(aws: &AwsClients, zone_id: &str, name: &str, value: &str, ttl: i64) {
    let set = ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::Cname)
        .ttl(ttl)
        .resource_records(ResourceRecord::builder().value(value).build().unwrap())
        .build()
        .unwrap();
    let change = Change::builder()
        .action(ChangeAction::Upsert)
        .resource_record_set(set)
        .build()
        .unwrap();
    aws.route53
        .change_resource_record_sets()
        .hosted_zone_id(zone_id)
        .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
        .send()
        .await
        .expect("set the record");
}

/// The hosting side's local parts: the backup-status endpoint, the app's `/health`, and the
/// restore and integrity programs (which log each run).
pub struct Parts {
    dir: tempfile::TempDir,
    pub backups: HttpServer,
    pub app: HttpServer,
    pub restore: PathBuf,
    pub integrity: PathBuf,
}

impl Parts {
    /// The backup-status endpoint says the latest backup completed `backup_age` ago; the app's
    /// /health answers "ok".
    pub fn start(backup_age: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let backups = HttpServer::start();
        let completed = chrono::Utc::now() - chrono::Duration::from_std(backup_age).unwrap();
        let status = json!({
            "latest": {
                "id": "backup-2041",
                "completed_at": completed.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "size_bytes": 734003200_u64,
            }
        });
        backups.reply("/backups/latest.json", Reply::json(status.to_string()));
        let app = HttpServer::start();
        app.reply(
            "/health",
            Reply::json(r#"{"status":"ok","region":"us-east-1"}"#),
        );
        let log = dir.path().join("executions.log");
        let restore = program(dir.path(), "restore-latest", &log, "restored backup-2041");
        let integrity = program(dir.path(), "verify-integrity", &log, "12 tables verified");
        Parts {
            dir,
            backups,
            app,
            restore,
            integrity,
        }
    }

    /// The `[vars]` the hosting runbooks read: where the parts are.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("app_url", self.app.base_url()),
            (
                "backup_status_url",
                self.backups.url("/backups/latest.json"),
            ),
            ("restore_command", self.restore.display().to_string()),
            ("integrity_command", self.integrity.display().to_string()),
        ]
    }

    /// How often the program `name` ran.
    pub fn executions(&self, name: &str) -> usize {
        std::fs::read_to_string(self.dir.path().join("executions.log"))
            .unwrap_or_default()
            .lines()
            .filter(|line| *line == name)
            .count()
    }
}

/// An executable script that appends its name to `log` and prints `says`: run through argv,
/// with no shell in between, it needs its own shebang.
fn program(dir: &Path, name: &str, log: &Path, says: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho {name} >> '{}'\necho '{says}'\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
