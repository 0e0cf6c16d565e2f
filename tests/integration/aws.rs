//! The real `aws-sdk-route53` and `aws-sdk-ecs` clients, built by `lifeboat::aws`, reach a
//! local moto server through `endpoint_url`.

use aws_sdk_ecs::types::ContainerDefinition;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};

use crate::support::moto::moto;

#[tokio::test]
async fn route53_upsert_is_read_back() {
    let server = moto().await;
    let aws = server.clients().await;
    let zone = aws
        .route53
        .create_hosted_zone()
        .name("example.com.")
        .caller_reference("lifeboat-test")
        .send()
        .await
        .expect("create zone");
    let zone_id = zone.hosted_zone().expect("zone").id().to_owned();
    let record = ResourceRecordSet::builder()
        .name("app.example.com.")
        .r#type(RrType::Cname)
        .ttl(60)
        .resource_records(
            ResourceRecord::builder()
                .value("web-alb-123.us-east-1.elb.amazonaws.com.")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let change = Change::builder()
        .action(ChangeAction::Upsert)
        .resource_record_set(record)
        .build()
        .unwrap();
    let changed = aws
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
        .send()
        .await
        .expect("upsert");
    assert!(changed.change_info().is_some());

    let listed = aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .expect("list");
    let cname = listed
        .resource_record_sets()
        .iter()
        .find(|r| r.name() == "app.example.com." && *r.r#type() == RrType::Cname)
        .expect("the upserted record is there");
    assert_eq!(cname.ttl(), Some(60));
    assert_eq!(
        cname.resource_records()[0].value(),
        "web-alb-123.us-east-1.elb.amazonaws.com."
    );
}

#[tokio::test]
async fn ecs_service_is_scaled_from_zero_to_three() {
    let server = moto().await;
    let aws = server.clients().await;
    aws.ecs
        .create_cluster()
        .cluster_name("lifeboat-standby")
        .send()
        .await
        .expect("create cluster");
    let container = ContainerDefinition::builder()
        .name("web")
        .image("example/web:1")
        .memory(512)
        .build();
    aws.ecs
        .register_task_definition()
        .family("web")
        .container_definitions(container)
        .send()
        .await
        .expect("register task definition");
    aws.ecs
        .create_service()
        .cluster("lifeboat-standby")
        .service_name("web")
        .task_definition("web")
        .desired_count(0)
        .send()
        .await
        .expect("create service");
    aws.ecs
        .update_service()
        .cluster("lifeboat-standby")
        .service("web")
        .desired_count(3)
        .send()
        .await
        .expect("update service");
    let described = aws
        .ecs
        .describe_services()
        .cluster("lifeboat-standby")
        .services("web")
        .send()
        .await
        .expect("describe");
    let service = &described.services()[0];
    assert_eq!(service.service_name(), Some("web"));
    assert_eq!(service.desired_count(), 3);
    assert_eq!(service.running_count(), 3);
    assert!(described.failures().is_empty());
}

#[tokio::test]
async fn an_unknown_ecs_service_comes_back_as_a_failure() {
    let server = moto().await;
    let aws = server.clients().await;
    aws.ecs
        .create_cluster()
        .cluster_name("lifeboat-standby")
        .send()
        .await
        .expect("create cluster");
    let described = aws
        .ecs
        .describe_services()
        .cluster("lifeboat-standby")
        .services("nope")
        .send()
        .await
        .expect("describe");
    assert!(described.services().is_empty());
    assert_eq!(described.failures()[0].reason(), Some("MISSING"));
}
