//! The company's pre-configured AWS standby, created in moto: the hosted zone with the app's
//! CNAME at Heroku, the ECS cluster, one task definition and services at desired 0. Shared
//! by the failover, comms and drill tests so they exercise the same environment.

use aws_sdk_ecs::types::ContainerDefinition;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use lifeboat::aws::AwsClients;

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
