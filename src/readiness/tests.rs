//! Unit tests of the readiness decisions (moved unchanged from `readiness.rs`).

use super::*;
use crate::config::{AwsMode, Config};
use crate::domain::Workstream;
use crate::drill::history::DrillRecord;
use crate::drill::history::DrillResult;
use crate::ports::aws::{AwsError, ClusterState, RecordState, ServiceState, TaskDefinitionState};
use crate::ports::llm::LlmError;
use crate::runbook::Runbook;
use crate::steps::backup::parse_time;
use crate::toml_source::TomlSource;
use chrono::{DateTime, Utc};
use std::time::Duration;

const CONFIG: &str = r#"
[objectives]
hosting_rto = "4h"
llm_rto = "2h"
rpo = "1h"

[[providers]]
name = "heroku"
workstream = "hosting"
runbook = "failover-hosting"

[[providers]]
name = "openai"
workstream = "llm"
runbook = "switch-llm"

[aws]
mode = "live"

[aws.ecs]
cluster = "standby"
services = [{ name = "web", standby = 3 }]

[aws.dns]
zone_id = "Z1"
ttl = 60
records = [{ name = "app.example.com", primary = "app.herokudns.com", standby = "alb.aws.com" }]

[schedule]
drill_every = "365d"
"#;

fn config() -> Config {
    Config::from_source(TomlSource::new("t.toml", CONFIG))
        .unwrap()
        .config
}

fn runbook(name: &str, workstream: Workstream) -> Runbook {
    Runbook {
        name: name.into(),
        title: name.into(),
        description: None,
        workstream,
        approval: Default::default(),
        params: Vec::new(),
        steps: Vec::new(),
        source: "x.toml".into(),
        file_hash: String::new(),
    }
}

fn runbooks() -> Vec<Runbook> {
    vec![
        runbook("failover-hosting", Workstream::Hosting),
        runbook("switch-llm", Workstream::Llm),
    ]
}

fn now() -> DateTime<Utc> {
    parse_time("2026-11-25T12:00:00Z").unwrap()
}

fn result(runbook: &str, met: bool) -> DrillResult {
    DrillResult {
        provider: "p".into(),
        runbook: runbook.into(),
        run: "RUN-1".into(),
        status: "succeeded".into(),
        detection: Some(Duration::from_millis(400)),
        detection_bound: None,
        recovery: Some(Duration::from_secs(50)),
        rto: Some(Duration::from_secs(4 * 3600)),
        data_loss: Some(Duration::from_secs(720)),
        rpo: Some(Duration::from_secs(3600)),
        rto_met: met,
        rpo_met: true,
    }
}

fn drill(days_ago: i64, results: Vec<DrillResult>) -> DrillRecord {
    DrillRecord {
        at: now() - chrono::Duration::days(days_ago),
        incident: Some("INC-1".into()),
        results,
        // A game day: the kind of drill that counts as the plan's annual test.
        mode: crate::events::DrillMode::Gameday,
        real_aws: false,
    }
}

fn service(status: &str, td: Option<&str>) -> ServiceState {
    ServiceState {
        name: "web".into(),
        desired: 0,
        running: 0,
        pending: 0,
        deployments: 1,
        status: status.into(),
        task_definition: td.map(str::to_owned),
    }
}

fn record(ttl: Option<u32>, value: &str) -> RecordState {
    RecordState {
        name: "app.example.com.".into(),
        rtype: "CNAME".into(),
        ttl,
        values: vec![value.into()],
        alias_target: None,
    }
}

/// Everything ready.
fn ready() -> Observations {
    let c = config();
    Observations {
        now: now(),
        aws_mode: AwsMode::Live,
        ecs: Some(EcsObserved {
            cluster: "standby".into(),
            cluster_state: Ok(ClusterState {
                name: "standby".into(),
                status: "ACTIVE".into(),
            }),
            services: vec![ServiceObserved {
                name: "web".into(),
                state: Ok(service(
                    "ACTIVE",
                    Some("arn:aws:ecs:r:1:task-definition/web:3"),
                )),
                task_definition: Some(Ok(TaskDefinitionState {
                    name: "web:3".into(),
                    status: "ACTIVE".into(),
                })),
            }],
        }),
        dns: Some(DnsObserved {
            zone_id: "Z1".into(),
            configured_ttl: 60,
            max_ttl: Duration::from_secs(300),
            records: vec![RecordObserved {
                config: c.aws.dns.as_ref().unwrap().records[0].clone(),
                state: Ok(Some(record(Some(60), "app.herokudns.com."))),
            }],
        }),
        anthropic: LlmObserved::Answered {
            model: Some("claude-test".into()),
            latency: Duration::from_millis(300),
        },
        backups: vec![BackupObserved {
            checked_by: "failover-hosting/backup-age".into(),
            max_age: Duration::from_secs(3600),
            completed_at: Ok(now() - chrono::Duration::minutes(12)),
        }],
        drills: vec![drill(
            30,
            vec![result("failover-hosting", true), result("switch-llm", true)],
        )],
    }
}

fn report(obs: &Observations) -> Readiness {
    assess(&config(), &runbooks(), obs)
}

/// The single failing line, asserting there is exactly one.
fn failing(obs: &Observations) -> String {
    let r = report(obs);
    let failed: Vec<String> = r.checks.iter().filter(|c| !c.ok).map(Check::line).collect();
    assert_eq!(failed.len(), 1, "{}", r.render());
    assert!(!r.ready());
    failed[0].clone()
}

#[test]
fn everything_ready_gives_one_ok_line_per_check() {
    let r = report(&ready());
    assert!(r.ready(), "{}", r.render());
    let text = r.render();
    for line in [
        "ok    aws: live, region us-east-1",
        "ok    ecs cluster standby: exists, ACTIVE",
        "ok    ecs service web: exists, ACTIVE, desired 0 running 0",
        "ok    ecs task definition of web: web:3 exists, ACTIVE",
        "ok    dns ttl written on failover: [aws.dns] ttl 1m ≤ 5m (the lower of [aws.dns] max_ttl 5m and 1/48 of the hosting RTO 4h (5m))",
        "ok    dns record app.example.com. CNAME: exists, points at the primary, TTL 1m ≤ 5m",
        "ok    anthropic key: a test prompt was answered in 300ms by claude-test",
        "ok    backup (failover-hosting/backup-age): latest completed 2026-11-25T11:48:00Z, 12m 00s ago (within 1h)",
        "ok    drill of failover-hosting: last drilled 2026-10-26T12:00:00Z",
        "ok    drill of switch-llm: last drilled",
        "READY: all 10 checks passed",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn the_ttl_limit_is_the_lower_of_the_max_and_a_share_of_the_rto() {
    let (limit, rule) = ttl_limit(Duration::from_secs(4 * 3600), Duration::from_secs(300));
    assert_eq!(limit, Duration::from_secs(300));
    assert!(rule.contains("1/48 of the hosting RTO 4h (5m)"), "{rule}");
    let (limit, _) = ttl_limit(Duration::from_secs(3600), Duration::from_secs(300));
    assert_eq!(limit, Duration::from_secs(75));
    let (limit, _) = ttl_limit(Duration::from_secs(48 * 3600), Duration::from_secs(120));
    assert_eq!(limit, Duration::from_secs(120));
}

#[test]
fn simulated_aws_is_not_ready() {
    let mut obs = ready();
    obs.aws_mode = AwsMode::Simulated;
    assert!(failing(&obs).starts_with("FAIL  aws: [aws] mode is simulated"));
}

#[test]
fn ecs_problems_each_fail_their_line() {
    let mut obs = ready();
    obs.ecs.as_mut().unwrap().cluster_state = Err(AwsError::NotFound {
        resource: "ECS cluster standby".into(),
        detail: "DescribeClusters reports it MISSING".into(),
    });
    assert_eq!(
        failing(&obs),
        "FAIL  ecs cluster standby: ECS cluster standby not found: DescribeClusters reports it MISSING"
    );

    let mut obs = ready();
    let web = &mut obs.ecs.as_mut().unwrap().services[0];
    web.state = Err(AwsError::NotFound {
        resource: "ECS service web in cluster standby".into(),
        detail: "MISSING".into(),
    });
    web.task_definition = None;
    assert!(
        failing(&obs)
            .starts_with("FAIL  ecs service web: ECS service web in cluster standby not found")
    );

    let mut obs = ready();
    obs.ecs.as_mut().unwrap().services[0].state = Ok(service("DRAINING", Some("web:3")));
    assert_eq!(
        failing(&obs),
        "FAIL  ecs service web: being deleted (DRAINING): it cannot be scaled up"
    );

    let mut obs = ready();
    obs.ecs.as_mut().unwrap().services[0].task_definition = Some(Err(AwsError::NotFound {
        resource: "ECS task definition web:3".into(),
        detail: "Unable to describe task definition.".into(),
    }));
    assert_eq!(
        failing(&obs),
        "FAIL  ecs task definition of web: ECS task definition web:3 not found: Unable to describe task definition."
    );

    let mut obs = ready();
    obs.ecs.as_mut().unwrap().services[0].task_definition = Some(Ok(TaskDefinitionState {
        name: "web:3".into(),
        status: "INACTIVE".into(),
    }));
    assert!(failing(&obs).contains("web:3 is INACTIVE: deregistered"));

    let mut obs = ready();
    obs.ecs = None;
    assert!(failing(&obs).starts_with("FAIL  ecs: no [aws.ecs]"));
}

#[test]
fn dns_problems_each_fail_their_line() {
    let mut obs = ready();
    obs.dns.as_mut().unwrap().records[0].state = Ok(Some(record(Some(3600), "app.herokudns.com.")));
    let line = failing(&obs);
    assert!(
        line.starts_with("FAIL  dns record app.example.com. CNAME: TTL 1h > 5m"),
        "{line}"
    );

    let mut obs = ready();
    obs.dns.as_mut().unwrap().records[0].state = Ok(None);
    assert_eq!(
        failing(&obs),
        "FAIL  dns record app.example.com. CNAME: missing from hosted zone Z1"
    );

    let mut obs = ready();
    obs.dns.as_mut().unwrap().configured_ttl = 900;
    assert!(failing(&obs).starts_with("FAIL  dns ttl written on failover: [aws.dns] ttl 15m > 5m"));

    let mut obs = ready();
    obs.dns.as_mut().unwrap().records[0].state = Ok(Some(record(Some(60), "alb.aws.com")));
    assert!(report(&obs).render().contains("points at the standby"));
}

#[test]
fn the_anthropic_key_must_answer() {
    let mut obs = ready();
    obs.anthropic = LlmObserved::Failed(LlmError::Status {
        provider: "anthropic".into(),
        status: 401,
        message: "invalid x-api-key (authentication_error)".into(),
    });
    assert_eq!(
        failing(&obs),
        "FAIL  anthropic key: the key was refused: anthropic answered 401: invalid x-api-key (authentication_error)"
    );
    obs.anthropic = LlmObserved::KeyUnset {
        env: "ANTHROPIC_API_KEY".into(),
    };
    assert!(failing(&obs).contains("ANTHROPIC_API_KEY is not set"));
    obs.anthropic = LlmObserved::NotConfigured;
    assert!(failing(&obs).contains("no [llm.anthropic]"));
}

#[test]
fn the_backup_must_be_within_its_limit() {
    let mut obs = ready();
    obs.backups[0].completed_at = Ok(now() - chrono::Duration::minutes(61));
    assert_eq!(
        failing(&obs),
        "FAIL  backup (failover-hosting/backup-age): latest completed 2026-11-25T10:59:00Z, 1h 01m ago: older than 1h"
    );
    obs.backups[0].completed_at = Err("http://x answered 503".into());
    assert!(failing(&obs).ends_with(": http://x answered 503"));
    obs.backups.clear();
    assert!(failing(&obs).contains("no runbook has a backup_check step"));
}

#[test]
fn each_protocol_needs_a_recent_successful_drill() {
    let mut obs = ready();
    obs.drills = vec![drill(30, vec![result("failover-hosting", true)])];
    assert!(
        failing(&obs).starts_with(
            "FAIL  drill of switch-llm: never drilled (the plan asks for one every 365d"
        )
    );

    obs.drills = vec![
        drill(400, vec![result("switch-llm", true)]),
        drill(30, vec![result("failover-hosting", true)]),
    ];
    let line = failing(&obs);
    assert!(
        line.starts_with("FAIL  drill of switch-llm: last drilled 2025-10-21T12:00:00Z"),
        "{line}"
    );
    assert!(
        line.contains("400d 00h ago: older than [schedule] drill_every 365d"),
        "{line}"
    );

    obs.drills = vec![drill(
        3,
        vec![
            result("failover-hosting", false),
            result("switch-llm", true),
        ],
    )];
    assert!(failing(&obs).ends_with("but the RTO was missed"));

    // A newer drill supersedes an older failed one.
    obs.drills
        .push(drill(1, vec![result("failover-hosting", true)]));
    assert!(report(&obs).ready());
}

#[test]
fn only_a_game_day_or_a_drill_against_real_aws_counts_as_the_plans_drill() {
    use crate::events::DrillMode;
    let automatic = |days_ago: i64, real_aws: bool| DrillRecord {
        mode: DrillMode::Automatic,
        real_aws,
        ..drill(
            days_ago,
            vec![result("failover-hosting", true), result("switch-llm", true)],
        )
    };
    let mut obs = ready();
    // A fully automatic drill on the simulation: shown, and said not to count.
    obs.drills = vec![automatic(2, false)];
    let r = report(&obs);
    assert!(!r.ready(), "{}", r.render());
    let text = r.render();
    assert!(
        text.contains("FAIL  drill of failover-hosting: never drilled (the plan asks for one every 365d, by a game day or against real AWS: `/drill start … mode:gameday`); the automatic drill of 2026-11-23T12:00:00Z does not count (it measures Lifeboat's pipeline on the simulation, not the people)"),
        "{text}"
    );

    // The same drill against real AWS counts.
    obs.drills = vec![automatic(2, true)];
    let r = report(&obs);
    assert!(r.ready(), "{}", r.render());
    assert!(
        r.render().contains("ok    drill of failover-hosting: last drilled 2026-11-23T12:00:00Z (against real AWS), 2d 00h ago"),
        "{}",
        r.render()
    );

    // A game day counts; an automatic drill after it is shown and does not replace it.
    obs.drills = vec![
        drill(
            30,
            vec![result("failover-hosting", true), result("switch-llm", true)],
        ),
        automatic(2, false),
    ];
    let r = report(&obs);
    assert!(r.ready(), "{}", r.render());
    let text = r.render();
    assert!(
        text.contains("ok    drill of switch-llm: last drilled 2026-10-26T12:00:00Z (game day), 30d 00h ago (within 365d), objectives met; the automatic drill of 2026-11-23T12:00:00Z does not count"),
        "{text}"
    );
}
