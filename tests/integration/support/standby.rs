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

use super::http::{HttpServer, Reply};

pub const CLUSTER: &str = "lifeboat-standby";
pub const ZONE: &str = "example.com.";
pub const RECORD: &str = "app.example.com.";
/// Where the record points before a failover: Heroku.
pub const PRIMARY: &str = "app-example.herokudns.com.";

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
