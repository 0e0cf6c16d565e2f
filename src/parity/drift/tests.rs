//! The comparison and its rendering, on observations built by hand.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::parity::render;
use crate::ports::aws::ContainerSpec;
use crate::ports::digest::ValueDigest;
use crate::toml_source::TomlSource;

const CONFIG: &str = r#"
[objectives]
hosting_rto = "4h"
llm_rto = "2h"
rpo = "1h"

[aws.ecs]
cluster = "standby"
services = [{ name = "web", standby = 3 }, { name = "worker", standby = 3 }]

[heroku]
app = "example-app"

[parity]
ignore = ["HEROKU_*"]
must_match = ["LLM_PROVIDER"]
"#;

fn config() -> Config {
    Config::from_source(TomlSource::new("t.toml", CONFIG))
        .unwrap()
        .config
}

fn spec(image: &str, env: &[(&str, &str)], secrets: &[&str]) -> TaskDefinitionSpec {
    TaskDefinitionSpec {
        name: "app:3".into(),
        status: "ACTIVE".into(),
        containers: vec![ContainerSpec {
            name: "app".into(),
            image: image.into(),
            environment: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), ValueDigest::of(v)))
                .collect(),
            secrets: secrets
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<BTreeSet<_>>(),
            labels: BTreeMap::new(),
        }],
    }
}

fn service(name: &str, standby: u32, spec: &TaskDefinitionSpec) -> ServiceSeen {
    ServiceSeen {
        name: name.into(),
        standby,
        state: Ok(ServiceState {
            name: name.into(),
            desired: 0,
            running: 0,
            pending: 0,
            deployments: 1,
            status: "ACTIVE".into(),
            task_definition: Some(format!("arn:aws:ecs:r:1:task-definition/{}", spec.name)),
        }),
        task_definition: Some(Ok(spec.clone())),
    }
}

fn vars(items: &[(&str, &str)]) -> ConfigVars {
    ConfigVars(
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Some(ValueDigest::of(v))))
            .collect(),
    )
}

fn process(kind: &str, quantity: u32) -> Process {
    Process {
        kind: kind.into(),
        quantity,
        size: "Standard-1X".into(),
    }
}

/// Production and standby alike.
fn mirrored() -> Observations {
    let td = spec(
        "example/app:abc1234",
        &[("LLM_PROVIDER", "openai"), ("FEATURE", "on")],
        &["DATABASE_URL"],
    );
    Observations {
        at: chrono::Utc::now(),
        heroku: HerokuSeen {
            app: "example-app".into(),
            config_vars: Ok(vars(&[
                ("DATABASE_URL", "postgres://u:hunter2@db/app"),
                ("LLM_PROVIDER", "openai"),
                ("FEATURE", "on"),
                ("HEROKU_APP_NAME", "example-app"),
            ])),
            formation: Ok(vec![
                process("web", 2),
                process("worker", 3),
                process("release", 0),
            ]),
            release: Ok(Release {
                version: 42,
                commit: Some("abc1234def567890".into()),
                description: "Deploy abc1234".into(),
            }),
        },
        ecs: Ok(EcsSeen {
            cluster: "standby".into(),
            services: vec![service("web", 3, &td), service("worker", 3, &td)],
        }),
        health: vec![HealthSeen {
            url: "https://app.example.com/health/llm".into(),
            expect_status: 200,
            expect_any: vec!["anthropic".into(), "openai".into()],
            max_latency: Some(std::time::Duration::from_secs(30)),
            answer: Ok((200, r#"{"provider":"openai"}"#.into())),
            latency: Some(std::time::Duration::from_millis(40)),
        }],
    }
}

#[test]
fn a_mirror_has_no_drift() {
    let report = compare(&config(), &mirrored());
    assert!(report.drifted().is_empty(), "{:#?}", report.findings);
    assert!(report.unknown().is_empty(), "{:#?}", report.findings);
    let table = render::table(&report);
    for text in [
        "ok      config var LLM_PROVIDER",
        "must match: the values are equal",
        "ok      process web",
        "web: standby 3",
        "code app:3 (web, worker)",
        "image tag abc1234",
        "health https://app.example.com/health/llm",
        "answered 200 naming openai",
        "NO DRIFT: all 6 checks match",
    ] {
        assert!(table.contains(text), "missing {text:?} in:\n{table}");
    }
    let checks = render::readiness_checks(&report);
    assert!(checks.iter().all(|c| c.ok), "{checks:#?}");
    assert_eq!(checks.len(), 4);
}

#[test]
fn each_kind_of_drift_is_reported_by_name() {
    let mut obs = mirrored();
    obs.heroku.config_vars = Ok(vars(&[
        ("DATABASE_URL", "postgres://u:hunter2@db/app"),
        ("LLM_PROVIDER", "anthropic"),
        ("NEW_FLAG", "1"),
    ]));
    obs.heroku.formation = Ok(vec![
        process("web", 2),
        process("worker", 4),
        process("clock", 1),
    ]);
    let old = spec(
        "example/app:9f8e7d6",
        &[("LLM_PROVIDER", "openai"), ("FEATURE", "on")],
        &["DATABASE_URL"],
    );
    obs.ecs = Ok(EcsSeen {
        cluster: "standby".into(),
        services: vec![service("web", 3, &old), service("worker", 3, &old)],
    });
    obs.health[0].answer = Ok((503, "Service Unavailable".into()));
    let report = compare(&config(), &obs);
    let drifted: Vec<String> = report.drifted().iter().map(|f| f.key()).collect();
    assert_eq!(
        drifted,
        [
            "config_var:LLM_PROVIDER",
            "config_var:NEW_FLAG",
            "config_var:FEATURE",
            "process:worker",
            "process:clock",
            "code:app:3 (web, worker)",
            "health:https://app.example.com/health/llm",
        ]
    );
    let table = render::table(&report);
    for text in [
        "DRIFT   config var NEW_FLAG ",
        "missing from app:3 (web, worker)",
        "on the standby only: Heroku does not set it",
        "values differ (compared by SHA-256; neither is shown)",
        "a failover scales worker to 3, fewer than the 4 Heroku runs",
        "DRIFT   process clock",
        "no ECS service",
        "image tag 9f8e7d6",
        "answered 503; the runbooks expect 200 with anthropic or openai",
        "DRIFT: 7 of 9 checks differ",
    ] {
        assert!(table.contains(text), "missing {text:?} in:\n{table}");
    }
    assert!(!table.contains("hunter2"));
    assert_eq!(
        report.drift_keys().len(),
        7,
        "keys identify each drift once"
    );
    let alert = render::alert(&report, &["config_var:NEW_FLAG".to_owned()]);
    assert!(alert.contains("1 new since the last check"), "{alert}");
    assert!(alert.contains("• NEW config var NEW_FLAG"), "{alert}");
    assert!(alert.contains("• still process worker"), "{alert}");
    let failed: Vec<String> = render::readiness_checks(&report)
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.line())
        .collect();
    assert_eq!(failed.len(), 4, "{failed:#?}");
    assert!(
        failed[0].starts_with("FAIL  parity config vars: LLM_PROVIDER: must match"),
        "{failed:#?}"
    );
}

#[test]
fn what_cannot_be_read_is_unknown_not_drift() {
    let mut obs = mirrored();
    let why =
        "the environment variable HEROKU_API_KEY (the Platform API token) is not set".to_owned();
    obs.heroku.config_vars = Err(why.clone());
    obs.heroku.formation = Err(why.clone());
    obs.heroku.release = Err(why);
    obs.health[0].answer = Err("cannot connect: refused".into());
    let report = compare(&config(), &obs);
    assert!(report.drifted().is_empty());
    let unread = report.unreadable.as_ref().expect("Heroku unreadable");
    assert_eq!(unread.side, ReadSide::Heroku);
    assert!(unread.reason.contains("HEROKU_API_KEY"), "{unread:?}");
    // The standby unreadable while Heroku answers: the blame is on AWS.
    let mut standby_down = mirrored();
    for service in match &mut standby_down.ecs {
        Ok(ecs) => &mut ecs.services,
        Err(_) => unreachable!(),
    } {
        service.state = Err(AwsError::Transient("connection refused".into()));
        service.task_definition = None;
    }
    let unread = compare(&config(), &standby_down)
        .unreadable
        .expect("AWS unreadable");
    assert_eq!(unread.side, ReadSide::Aws);
    assert!(compare(&config(), &mirrored()).unreadable.is_none());
    assert_eq!(
        render::verdict(&report),
        "UNKNOWN: no drift found, but 4 of 4 checks could not be read"
    );
    let lines: Vec<String> = render::readiness_checks(&report)
        .iter()
        .map(|c| c.line())
        .collect();
    assert_eq!(
        lines,
        [
            "FAIL  parity config vars: names: could not read Heroku's config vars: the environment variable HEROKU_API_KEY (the Platform API token) is not set",
            "FAIL  parity processes: formation: could not read Heroku's formation: the environment variable HEROKU_API_KEY (the Platform API token) is not set",
            "FAIL  parity code: release: could not read Heroku's current release: the environment variable HEROKU_API_KEY (the Platform API token) is not set",
            "FAIL  app endpoint https://app.example.com/health/llm: could not reach it: cannot connect: refused",
        ]
    );
}

#[test]
fn must_match_secrets_cannot_be_compared_and_commits_match_by_prefix() {
    let mut obs = mirrored();
    let td = spec(
        "example/app:abc1234def567890",
        &[("FEATURE", "on")],
        &["DATABASE_URL", "LLM_PROVIDER"],
    );
    obs.ecs = Ok(EcsSeen {
        cluster: "standby".into(),
        services: vec![service("web", 3, &td), service("worker", 3, &td)],
    });
    let report = compare(&config(), &obs);
    let unknown: Vec<String> = report.unknown().iter().map(|f| f.key()).collect();
    assert_eq!(unknown, ["config_var:LLM_PROVIDER"]);
    assert!(report.drifted().is_empty(), "{:#?}", report.findings);
    assert!(same_commit("ABC1234", "abc1234def"));
    assert!(!same_commit("abc12", "abc1234def"));
    assert!(!same_commit("v42", "abc1234"));
}

#[test]
fn a_misconfigured_app_container_is_one_unknown_finding_not_drift_on_every_var() {
    let config = Config::from_source(TomlSource::new(
        "t.toml",
        format!("{CONFIG}\n[app]\ncontainer = \"web-app\"\n"),
    ))
    .unwrap()
    .config;
    let report = compare(&config, &mirrored());
    assert!(report.drifted().is_empty(), "{:#?}", report.findings);
    let vars: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.area == Area::ConfigVar)
        .collect();
    assert_eq!(vars.len(), 1, "{vars:#?}");
    assert_eq!(vars[0].status, Status::Unknown);
    assert_eq!(vars[0].subject, "task definition app:3");
    assert!(
        vars[0]
            .detail
            .contains("[app] container = \"web-app\" names no container of app:3 (it has: app)"),
        "{}",
        vars[0].detail
    );
    let code: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.area == Area::Code)
        .collect();
    assert_eq!(code.len(), 1);
    assert_eq!(code[0].status, Status::Unknown);
    assert!(code[0].detail.contains("\"web-app\""), "{}", code[0].detail);
}

#[test]
fn a_health_endpoint_slower_than_the_runbooks_allow_is_drift() {
    let mut obs = mirrored();
    obs.health[0].max_latency = Some(std::time::Duration::from_millis(500));
    obs.health[0].latency = Some(std::time::Duration::from_millis(900));
    let report = compare(&config(), &obs);
    let slow = report
        .findings
        .iter()
        .find(|f| f.area == Area::Health)
        .unwrap();
    assert_eq!(slow.status, Status::Drift);
    assert_eq!(slow.standby, "answered 200 in 900 ms");
    assert!(
        slow.detail
            .contains("slower than the runbooks allow (500ms)"),
        "{}",
        slow.detail
    );
}
