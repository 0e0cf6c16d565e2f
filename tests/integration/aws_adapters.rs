//! Lifeboat's AWS edges (`Route53Dns`, `EcsContainers`, chosen by `AwsEdges::connect`) through
//! the real SDK clients against a local moto server: what the failover steps will see.

use std::time::Duration;

use aws_sdk_ecs::types::ContainerDefinition;
use aws_sdk_route53::config::Credentials;
use lifeboat::aws::{AwsClients, EcsContainers, Route53Dns};
use lifeboat::config::{
    AwsConfig, AwsMode, DnsConfig, DnsRecordConfig, EcsConfig, EcsServiceConfig,
};
use lifeboat::ports::aws::{
    AwsEdges, AwsError, ChangeStatus, Containers, Dns, RecordChange, wait_insync, wait_stable,
};

use crate::support::moto::{MotoServer, moto};

const POLL: Duration = Duration::from_millis(50);
const CLUSTER: &str = "lifeboat-standby";

async fn create_zone(aws: &AwsClients) -> String {
    let zone = aws
        .route53
        .create_hosted_zone()
        .name("example.com.")
        .caller_reference("lifeboat-adapters")
        .send()
        .await
        .expect("create zone");
    zone.hosted_zone().expect("zone").id().to_owned()
}

fn cname(name: &str, value: &str, ttl: u32) -> RecordChange {
    RecordChange {
        name: name.into(),
        rtype: "CNAME".into(),
        values: vec![value.into()],
        ttl,
    }
}

async fn create_cluster(aws: &AwsClients) {
    aws.ecs
        .create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .expect("create cluster");
}

/// An EC2 task definition and a service `name` at `desired` in the cluster.
async fn create_service(aws: &AwsClients, name: &str, desired: i32) {
    let container = ContainerDefinition::builder()
        .name(name)
        .image("example/web:1")
        .memory(512)
        .build();
    aws.ecs
        .register_task_definition()
        .family(name)
        .container_definitions(container)
        .send()
        .await
        .expect("register task definition");
    aws.ecs
        .create_service()
        .cluster(CLUSTER)
        .service_name(name)
        .task_definition(name)
        .desired_count(desired)
        .send()
        .await
        .expect("create service");
}

#[tokio::test]
async fn point_records_returns_the_previous_value_and_the_new_one_reads_back() {
    let server = moto().await;
    let aws = server.clients().await;
    let zone_id = create_zone(&aws).await;
    let dns = Route53Dns::new(aws.route53.clone());

    let first = dns
        .point_records(
            &zone_id,
            &[cname("app.example.com", "myapp.herokudns.com", 300)],
        )
        .await
        .expect("create the record through an UPSERT");
    assert_eq!(first.previous.len(), 1);
    assert_eq!(first.previous[0].name, "app.example.com.");
    assert_eq!(first.previous[0].state, None, "the record did not exist");

    let moved = dns
        .point_records(
            &zone_id,
            &[cname(
                "App.Example.COM",
                "WEB-ALB-123.us-east-1.elb.amazonaws.com",
                60,
            )],
        )
        .await
        .expect("point at the standby");
    let before = moved.previous[0].state.as_ref().expect("a previous value");
    assert_eq!(before.values, ["myapp.herokudns.com."]);
    assert_eq!(before.ttl, Some(300));
    assert!(
        !moved.change_id.starts_with("/change/"),
        "{}",
        moved.change_id
    );

    let now = dns
        .current_record(&zone_id, "app.example.com", "CNAME")
        .await
        .expect("read back")
        .expect("the record exists");
    assert_eq!(now.name, "app.example.com.");
    assert_eq!(now.rtype, "CNAME");
    assert_eq!(now.values, ["web-alb-123.us-east-1.elb.amazonaws.com."]);
    assert_eq!(now.ttl, Some(60));

    assert_eq!(
        dns.change_status(&moved.change_id)
            .await
            .expect("GetChange"),
        ChangeStatus::InSync
    );
    wait_insync(&dns, &moved.change_id, POLL, Duration::from_secs(10))
        .await
        .expect("INSYNC");
}

#[tokio::test]
async fn the_same_upsert_twice_is_fine_and_reports_itself_as_previous() {
    let server = moto().await;
    let aws = server.clients().await;
    let zone_id = create_zone(&aws).await;
    let dns = Route53Dns::new(aws.route53.clone());
    let changes = [
        cname("app.example.com", "web-alb.elb.amazonaws.com", 60),
        cname("www.example.com", "web-alb.elb.amazonaws.com", 60),
    ];
    dns.point_records(&zone_id, &changes).await.expect("first");
    let second = dns.point_records(&zone_id, &changes).await.expect("second");
    for previous in &second.previous {
        let state = previous.state.as_ref().expect("exists after the first");
        assert_eq!(state.values, ["web-alb.elb.amazonaws.com."], "{previous:?}");
    }
    assert_eq!(
        dns.current_record(&zone_id, "www.example.com.", "cname")
            .await
            .expect("read")
            .expect("exists")
            .values,
        ["web-alb.elb.amazonaws.com."]
    );
}

#[tokio::test]
async fn change_status_accepts_the_id_with_or_without_its_prefix() {
    let server = moto().await;
    let aws = server.clients().await;
    let zone_id = create_zone(&aws).await;
    let dns = Route53Dns::new(aws.route53.clone());
    let change = dns
        .point_records(&zone_id, &[cname("app.example.com", "a.example.net", 60)])
        .await
        .expect("upsert");
    for id in [
        change.change_id.clone(),
        format!("/change/{}", change.change_id),
    ] {
        assert_eq!(
            dns.change_status(&id).await.expect("GetChange"),
            ChangeStatus::InSync
        );
    }
}

#[tokio::test]
async fn an_unknown_hosted_zone_is_not_found_and_names_the_zone() {
    let server = moto().await;
    let aws = server.clients().await;
    let dns = Route53Dns::new(aws.route53.clone());
    let err = dns
        .point_records(
            "ZNOSUCHZONE",
            &[cname("app.example.com", "x.example.net", 60)],
        )
        .await
        .expect_err("no such zone");
    assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("ZNOSUCHZONE"), "{err}");
    let err = dns
        .current_record("ZNOSUCHZONE", "app.example.com", "CNAME")
        .await
        .expect_err("no such zone");
    assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_record_outside_the_zone_is_rejected_and_not_retried() {
    let server = moto().await;
    let aws = server.clients().await;
    let zone_id = create_zone(&aws).await;
    let dns = Route53Dns::new(aws.route53.clone());
    let err = dns
        .point_records(&zone_id, &[cname("app.example.org", "x.example.net", 60)])
        .await
        .expect_err("not in example.com");
    assert!(matches!(err, AwsError::Invalid(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("app.example.org."), "{err}");
}

#[tokio::test]
async fn scale_service_returns_the_state_before_and_wait_stable_sees_it_stable() {
    let server = moto().await;
    let aws = server.clients().await;
    create_cluster(&aws).await;
    create_service(&aws, "web", 0).await;
    let ecs = EcsContainers::new(aws.ecs.clone());

    let before = ecs.scale_service(CLUSTER, "web", 3).await.expect("scale");
    assert_eq!(
        (before.name.as_str(), before.desired, before.running),
        ("web", 0, 0)
    );

    let stable = wait_stable(&ecs, CLUSTER, "web", 3, POLL, Duration::from_secs(10))
        .await
        .expect("stable");
    assert_eq!(
        (stable.desired, stable.running, stable.deployments),
        (3, 3, 1)
    );
    assert_eq!(stable.status, "ACTIVE");

    let back = ecs
        .scale_service(CLUSTER, "web", 0)
        .await
        .expect("scale down");
    assert_eq!(back.desired, 3);
}

#[tokio::test]
async fn describe_services_keeps_the_order_asked() {
    let server = moto().await;
    let aws = server.clients().await;
    create_cluster(&aws).await;
    create_service(&aws, "web", 0).await;
    create_service(&aws, "worker", 0).await;
    let ecs = EcsContainers::new(aws.ecs.clone());
    let states = ecs
        .describe_services(CLUSTER, &["worker".into(), "web".into()])
        .await
        .expect("describe");
    let names: Vec<&str> = states.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["worker", "web"]);
}

#[tokio::test]
async fn a_missing_service_is_not_found_naming_cluster_and_service() {
    let server = moto().await;
    let aws = server.clients().await;
    create_cluster(&aws).await;
    create_service(&aws, "web", 0).await;
    let ecs = EcsContainers::new(aws.ecs.clone());

    let err = ecs
        .describe_services(CLUSTER, &["web".into(), "nope".into()])
        .await
        .expect_err("nope is missing");
    assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("ECS service nope in cluster lifeboat-standby not found"),
        "{err}"
    );

    let err = ecs
        .scale_service(CLUSTER, "nope", 3)
        .await
        .expect_err("nope is missing");
    assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("nope") && text.contains(CLUSTER), "{text}");

    let err = wait_stable(&ecs, CLUSTER, "nope", 3, POLL, Duration::from_secs(10))
        .await
        .expect_err("nope is missing");
    assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");

    let err = ecs
        .scale_service("no-such-cluster", "web", 3)
        .await
        .expect_err("no such cluster");
    assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("web")
            && text.contains("no-such-cluster")
            && text.contains("ClusterNotFound"),
        "{text}"
    );
}

#[tokio::test]
async fn a_service_still_starting_times_out_naming_its_counts() {
    // moto starts a service with desiredCount > 0 at runningCount = MOTO_ECS_SERVICE_RUNNING
    // and keeps it there until an UpdateService: a service that never settles on its own.
    let server = MotoServer::start_with_env(&[("MOTO_ECS_SERVICE_RUNNING", "1")]);
    let aws = server.clients().await;
    create_cluster(&aws).await;
    create_service(&aws, "web", 3).await;
    let ecs = EcsContainers::new(aws.ecs.clone());

    let err = wait_stable(&ecs, CLUSTER, "web", 3, POLL, Duration::from_millis(300))
        .await
        .expect_err("only one of three running");
    assert!(matches!(err, AwsError::TimedOut(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "ECS service web in cluster lifeboat-standby not stable after 300ms: running 1 of 3, 1 deployment"
    );

    let state = &ecs
        .describe_services(CLUSTER, &["web".into()])
        .await
        .expect("describe")[0];
    assert_eq!((state.desired, state.running, state.pending), (3, 1, 2));

    // Scaling (even to the same count) is what settles it in moto.
    ecs.scale_service(CLUSTER, "web", 3).await.expect("scale");
    wait_stable(&ecs, CLUSTER, "web", 3, POLL, Duration::from_secs(10))
        .await
        .expect("stable after the update");
}

fn configured(mode: AwsMode, endpoint: Option<String>) -> AwsConfig {
    AwsConfig {
        mode,
        endpoint_url: endpoint,
        ecs: Some(EcsConfig {
            cluster: CLUSTER.into(),
            services: vec![EcsServiceConfig {
                name: "web".into(),
                standby: 3,
                idle: 0,
            }],
        }),
        dns: Some(DnsConfig {
            zone_id: "ZSIMULATED".into(),
            ttl: 60,
            max_ttl: lifeboat::duration::HumanDuration::from_secs(300),
            records: vec![DnsRecordConfig {
                name: "app.example.com".into(),
                record_type: "CNAME".into(),
                primary: "myapp.herokudns.com".into(),
                standby: "web-alb.elb.amazonaws.com".into(),
            }],
        }),
        ..AwsConfig::default()
    }
}

#[tokio::test]
async fn connect_picks_the_adapter_from_the_mode() {
    let credentials = Credentials::new("testing", "testing", None, None, "moto");

    // Simulated: no server involved, seeded from config.
    let edges = AwsEdges::connect_with_credentials(
        &configured(AwsMode::Simulated, None),
        credentials.clone(),
    )
    .await;
    assert_eq!(edges.mode, AwsMode::Simulated);
    let record = edges
        .dns
        .current_record("ZSIMULATED", "app.example.com", "CNAME")
        .await
        .expect("seeded zone")
        .expect("seeded record");
    assert_eq!(record.values, ["myapp.herokudns.com."]);
    let before = edges
        .containers
        .scale_service(CLUSTER, "web", 3)
        .await
        .expect("seeded service");
    assert_eq!(before.desired, 0);

    // Live: the same calls reach moto, where neither the zone nor the cluster exists yet.
    let server = moto().await;
    let edges = AwsEdges::connect_with_credentials(
        &configured(AwsMode::Live, Some(server.endpoint())),
        credentials,
    )
    .await;
    assert_eq!(edges.mode, AwsMode::Live);
    let err = edges
        .dns
        .current_record("ZSIMULATED", "app.example.com", "CNAME")
        .await
        .expect_err("moto has no such zone");
    assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
    let aws = server.clients().await;
    create_cluster(&aws).await;
    create_service(&aws, "web", 0).await;
    let before = edges
        .containers
        .scale_service(CLUSTER, "web", 2)
        .await
        .expect("scale in moto");
    assert_eq!(before.desired, 0);
}
