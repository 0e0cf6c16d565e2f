//! `[aws] mode = "simulated"` says so: through the fake Discord, with the feed watcher, the
//! outage alert, the run request, the run's start, every progress message and its final
//! message all start with SIMULATED on the shipped (simulated) config, and none does with
//! `mode = "live"` against moto (an `endpoint_url` is real AWS as far as Lifeboat knows).

use std::time::Duration;

use serde_json::json;

use crate::support::app::Request;
use crate::support::discord::{APPROVER, Call, Member, RESPONDER, content};
use crate::support::http::{HttpServer, Reply};
use crate::support::moto::moto;
use crate::support::standby::{self, PRIMARY, RECORD};
use crate::support::{TestConfig, capture, spawn_app};

const WAIT: Duration = Duration::from_secs(20);
const MARK: &str = "SIMULATED — ";

/// Two AWS steps, so the run posts a progress message per step and a final one.
const RUNBOOK: &str = r#"
name = "point-dns"
title = "Point DNS at AWS"
workstream = "hosting"

[approval]
approvals = 1

[[steps]]
id = "point-dns"
title = "Point DNS at AWS"
kind = "route53_upsert"
with = { to = "standby" }

[[steps]]
id = "dns-insync"
title = "Wait until the DNS change is INSYNC"
kind = "route53_wait"
with = { change_of = "point-dns" }
"#;

fn alice() -> Member {
    Member::new(300_000_000_000_000_001, "alice", &[RESPONDER])
}
fn bob() -> Member {
    Member::new(300_000_000_000_000_002, "bob", &[APPROVER])
}

/// `config` with one local Statuspage feed in a major outage (a real capture) for a provider
/// whose runbook is [`RUNBOOK`], instead of the shipped feeds on the Internet.
fn watched(config: TestConfig, feed: &str) -> TestConfig {
    config
        .set("watch.debounce", 1)
        .set("watch.jitter", 0.0)
        .set("feeds", json!([]))
        .set(
            "providers",
            json!([{ "name": "github", "title": "GitHub", "workstream": "hosting", "runbook": "point-dns" }]),
        )
        .feed("github-status", "github", "statuspage", feed, "30s")
        .runbook(RUNBOOK)
}

/// What the alert, the request and the run said on the fake Discord: (alert text, alert
/// embed title, request text, every later message naming the run).
async fn what_was_said(config: TestConfig) -> (String, String, String, Vec<String>) {
    let status = HttpServer::start();
    status.reply(
        "/api/v2/summary.json",
        Reply::json(capture("github_statuspage_summary_major_outage_2020.json")),
    );
    let app = spawn_app(watched(config, &status.url("/api/v2/summary.json")))
        .discord()
        .watcher()
        .patience(WAIT)
        .start()
        .await;

    let posted = app.wait_event("alert.posted").await;
    let message_id = posted.data["message"]["id"].as_str().unwrap().to_owned();
    let alert = app.fake().message(&message_id).expect("the alert message");
    let alert_title = alert["embeds"][0]["title"].as_str().unwrap().to_owned();

    let mark = app.fake().mark();
    let request = app.request_run("point-dns", &alice()).await;
    let Request::Message(request_message) = &request else {
        unreachable!("a request on Discord is a message")
    };
    let request_text = content(request_message);
    let run = app.approve_run(request, &bob()).await;
    app.fake()
        .wait_call(
            mark,
            "the run's final message",
            |c| c.method == "POST" && content(&c.body).contains(&format!("[{run}] 🏁")),
            WAIT,
        )
        .await;
    let about_the_run: Vec<String> = app.fake().calls()[mark..]
        .iter()
        .filter(|c: &&Call| c.method == "POST")
        .map(|c| content(&c.body))
        .filter(|text| text.contains(&run))
        .collect();
    app.stop().await;
    (content(&alert), alert_title, request_text, about_the_run)
}

fn all_marked(said: &[String]) -> bool {
    said.iter().all(|s| s.starts_with(MARK))
}

#[tokio::test]
async fn with_the_shipped_simulated_config_every_alert_request_and_progress_says_simulated() {
    let (alert, title, request, run) = what_was_said(TestConfig::shipped()).await;
    assert!(alert.starts_with(MARK), "{alert}");
    assert!(title.starts_with(MARK), "{title}");
    assert!(request.starts_with(MARK), "{request}");
    // The start, a ▶ per step and the 🏁: every one of them.
    assert!(run.len() >= 4, "{run:#?}");
    assert!(run.iter().any(|s| s.contains("▶ point-dns")), "{run:#?}");
    assert!(run.iter().any(|s| s.contains("🏁")), "{run:#?}");
    assert!(all_marked(&run), "{run:#?}");
}

#[tokio::test]
async fn with_live_aws_against_moto_nothing_says_simulated() {
    let moto = moto().await;
    let zone_id = standby::seed(&moto.clients().await, &[], 60).await;
    let config = TestConfig::shipped().moto(&moto.endpoint()).set(
        "aws.dns",
        json!({
            "zone_id": zone_id,
            "ttl": 60,
            "records": [{ "name": RECORD, "type": "CNAME", "primary": PRIMARY, "standby": "web-alb-123.us-east-1.elb.amazonaws.com." }],
        }),
    );
    let (alert, title, request, run) = what_was_said(config).await;
    let everything: Vec<&String> = [&alert, &title, &request].into_iter().chain(&run).collect();
    assert!(run.len() >= 4, "{run:#?}");
    assert!(
        everything.iter().all(|s| !s.contains("SIMULATED")),
        "{everything:#?}"
    );
}
