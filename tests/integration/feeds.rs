//! Reading status feeds through the real `Fetcher` (reqwest) against a local HTTP server:
//! every real capture and our own payloads give the right level, and every bad answer gives
//! the right `FeedError` (hence `unknown` with a reason), never a panic.

use crate::support::{capture, own};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use lifeboat::config::FeedKind;
use lifeboat::domain::HealthLevel;
use lifeboat::feeds::fetch::{
    FeedSpec, Fetched, Fetcher, ProbeExpectations, Validators, fetch_once,
};
use lifeboat::feeds::{FeedError, ProviderHealth};

use crate::support::http::{HttpServer, Reply, dead_port_url};

fn spec(kind: FeedKind, url: &str) -> FeedSpec {
    FeedSpec::adhoc(kind, url, Vec::new())
}

/// Serves `body` at `/feed` and reads it once.
async fn replay(
    kind: FeedKind,
    body: Vec<u8>,
    tweak: impl FnOnce(&mut FeedSpec),
) -> Result<ProviderHealth, FeedError> {
    let server = HttpServer::start();
    server.reply("/feed", Reply::bytes(body));
    let mut spec = spec(kind, &server.url("/feed"));
    tweak(&mut spec);
    fetch_once(&spec).await
}

async fn level_of(kind: FeedKind, body: Vec<u8>, tweak: impl FnOnce(&mut FeedSpec)) -> HealthLevel {
    match replay(kind, body, tweak).await {
        Ok(health) => health.level,
        Err(err) => panic!("{kind}: {err}"),
    }
}

/// The error, after checking that it becomes `unknown` with that reason.
async fn error_of(kind: FeedKind, body: Vec<u8>) -> FeedError {
    let err = replay(kind, body, |_| {})
        .await
        .expect_err("the read should fail");
    let health = ProviderHealth::unknown(kind, "http://x", chrono::Utc::now(), &err);
    assert_eq!(health.level, HealthLevel::Unknown);
    assert_eq!(health.reason, Some(err.to_string()));
    err
}

fn regions(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn every_real_capture_gives_its_sources_md_level() {
    use FeedKind::*;
    use HealthLevel::*;
    for (file, kind, want) in [
        (
            "anthropic_statuspage_summary_operational.json",
            Statuspage,
            Operational,
        ),
        (
            "anthropic_statuspage_summary_incident_2026-10-07.json",
            Statuspage,
            PartialOutage,
        ),
        (
            "openai_incidentio_summary_operational_2026-07.json",
            Statuspage,
            Operational,
        ),
        (
            "openai_incidentio_summary_degraded_2026-09-29.json",
            Statuspage,
            Degraded,
        ),
        (
            "github_statuspage_summary_operational_2019.json",
            Statuspage,
            Operational,
        ),
        (
            "github_statuspage_summary_major_outage_2020.json",
            Statuspage,
            MajorOutage,
        ),
        // Not in SOURCES.md's table; nothing in them is open.
        (
            "github_statuspage_incidents_resolved_2024.json",
            Statuspage,
            Operational,
        ),
        (
            "github_statuspage_components_2024.json",
            Statuspage,
            Operational,
        ),
        (
            "heroku_v4_current_status_green_SHAPE_cli_test.json",
            Heroku,
            Operational,
        ),
        (
            "heroku_v4_current_status_red_SHAPE_cli_test.json",
            Heroku,
            MajorOutage,
        ),
        // Not in the table either: one active minor impact on Heroku Apps.
        (
            "heroku_sftrust_incidents_active_SHAPE_cli_test.json",
            Sftrust,
            Degraded,
        ),
        // Both items say "Service is operating normally:".
        ("aws_status_rss_all_2021-12.xml", Rss, Operational),
    ] {
        assert_eq!(level_of(kind, capture(file), |_| {}).await, want, "{file}");
    }
}

#[tokio::test]
async fn aws_currentevents_depends_on_the_region_and_service_filter() {
    let body = capture("aws_health_currentevents.json");
    let in_use = level_of(FeedKind::AwsHealth, body.clone(), |s| {
        s.ctx.regions = regions(&["me-central-1"]);
        s.ctx.services = regions(&["sts"]);
    })
    .await;
    assert_eq!(in_use, HealthLevel::MajorOutage);
    let elsewhere = level_of(FeedKind::AwsHealth, body.clone(), |s| {
        s.ctx.regions = regions(&["us-east-1", "us-west-2"]);
        s.ctx.services = regions(&["ecs", "route53", "sts"]);
    })
    .await;
    assert_eq!(elsewhere, HealthLevel::Operational);

    // The same payload as the live endpoint sends it: UTF-16LE with a BOM.
    let text = String::from_utf8(body).unwrap();
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let live_form = level_of(FeedKind::AwsHealth, utf16, |s| {
        s.ctx.regions = regions(&["me-south-1"]);
    })
    .await;
    assert_eq!(live_form, HealthLevel::MajorOutage);
}

#[tokio::test]
async fn own_payloads_cover_every_kind() {
    use FeedKind::*;
    use HealthLevel::*;
    for (file, kind, want) in [
        ("statuspage_under_maintenance.json", Statuspage, Maintenance),
        ("incidentio_full_outage.json", Statuspage, MajorOutage),
        ("heroku_yellow.json", Heroku, Degraded),
        ("sftrust_active.json", Sftrust, MajorOutage),
        ("aws_rss_disruption.xml", Rss, MajorOutage),
        ("statuspage_history.atom", Rss, Degraded),
    ] {
        assert_eq!(level_of(kind, own(file), |_| {}).await, want, "{file}");
    }
    let utf16 = level_of(AwsHealth, own("aws_health_utf16le_bom.json"), |s| {
        s.ctx.regions = regions(&["us-east-1"]);
        s.ctx.services = regions(&["ecs"]);
    })
    .await;
    assert_eq!(utf16, PartialOutage);
}

#[tokio::test]
async fn a_read_carries_kind_url_incidents_and_the_user_agent() {
    let server = HttpServer::start();
    server.reply(
        "/api/v2/summary.json",
        Reply::json(capture(
            "openai_incidentio_summary_degraded_2026-09-29.json",
        )),
    );
    let url = server.url("/api/v2/summary.json");
    let health = fetch_once(&spec(FeedKind::Statuspage, &url)).await.unwrap();
    assert_eq!(health.kind, "statuspage");
    assert_eq!(health.url, url);
    assert_eq!(health.summary, "Partial System Degradation");
    assert_eq!(health.incidents.len(), 2);
    assert_eq!(health.reason, None);
    let agent = server.last_request("/api/v2/summary.json").unwrap();
    assert_eq!(
        agent.header("user-agent"),
        Some(concat!("lifeboat/", env!("CARGO_PKG_VERSION")))
    );
    let json = serde_json::to_value(&health).unwrap();
    for key in [
        "kind",
        "url",
        "level",
        "summary",
        "incidents",
        "components",
        "fetched_at",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
    assert!(
        health
            .human()
            .contains("incident [investigating, degraded]")
    );
}

#[tokio::test]
async fn an_html_error_page_is_malformed() {
    let html = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>502</h1></body></html>".to_vec();
    for kind in [
        FeedKind::Statuspage,
        FeedKind::Heroku,
        FeedKind::Sftrust,
        FeedKind::AwsHealth,
    ] {
        match error_of(kind, html.clone()).await {
            FeedError::Malformed { detail, .. } => {
                assert!(
                    detail.starts_with("got HTML or XML instead of JSON"),
                    "{detail}"
                )
            }
            other => panic!("{kind}: {other:?}"),
        }
    }
    match error_of(FeedKind::Rss, html).await {
        FeedError::Malformed {
            kind: "rss",
            detail,
        } => {
            assert!(detail.starts_with("not an RSS or Atom feed"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn truncated_json_is_malformed() {
    let mut body = capture("anthropic_statuspage_summary_incident_2026-10-07.json");
    body.truncate(body.len() / 2);
    match error_of(FeedKind::Statuspage, body).await {
        FeedError::Malformed {
            kind: "statuspage",
            detail,
        } => {
            assert!(detail.starts_with("truncated JSON"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn valid_json_of_the_wrong_shape_is_malformed() {
    // A Heroku payload on a Statuspage feed and the reverse: both are JSON, neither fits.
    match error_of(FeedKind::Statuspage, br#"{"error": "not found"}"#.to_vec()).await {
        FeedError::Malformed { detail, .. } => {
            assert!(
                detail.contains("none of `status`, `components`, `incidents`"),
                "{detail}"
            )
        }
        other => panic!("{other:?}"),
    }
    match error_of(
        FeedKind::Heroku,
        capture("github_statuspage_summary_operational_2019.json"),
    )
    .await
    {
        FeedError::Malformed {
            kind: "heroku",
            detail,
        } => {
            assert!(
                detail.starts_with("JSON is not a Heroku v4 current-status"),
                "{detail}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        error_of(FeedKind::AwsHealth, br#"{"events": []}"#.to_vec()).await,
        FeedError::Malformed {
            kind: "aws-health",
            ..
        }
    ));
}

#[tokio::test]
async fn a_20_mib_body_is_too_large() {
    let err = error_of(FeedKind::Statuspage, vec![b' '; 20 * 1024 * 1024]).await;
    assert_eq!(
        err,
        FeedError::TooLarge {
            limit: 2 * 1024 * 1024
        }
    );
}

/// A server that sends no `Content-Length` and streams until it closes: the cap must hold
/// while reading, not only on the announced length.
#[tokio::test]
async fn the_body_cap_holds_without_a_content_length() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/feed", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        // Bounds the test even if the client stops reading without hanging up.
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0usize;
        // Stops as soon as the client hangs up; never more than 20 MiB.
        while sent < 20 * 1024 * 1024 && stream.write_all(&chunk).is_ok() {
            sent += chunk.len();
        }
        sent
    });
    let mut spec = spec(FeedKind::Statuspage, &url);
    spec.max_body = 256 * 1024;
    let err = fetch_once(&spec).await.unwrap_err();
    assert_eq!(err, FeedError::TooLarge { limit: 256 * 1024 });
    // Joined off the runtime: the client's connection task must run to close the socket.
    let sent = tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
    assert!(
        sent < 20 * 1024 * 1024,
        "the client kept reading: {sent} bytes"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let server = HttpServer::start();
    server.reply("/feed", Reply::json("{}").delay(Duration::from_secs(3600)));
    let mut spec = spec(FeedKind::Heroku, &server.url("/feed"));
    spec.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = fetch_once(&spec).await.unwrap_err();
    assert_eq!(err, FeedError::Timeout(Duration::from_millis(300)));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.hits("/feed"), 1);
}

#[tokio::test]
async fn http_500_is_a_status_error() {
    let server = HttpServer::start();
    server.reply("/feed", Reply::bytes("oops").with_status(500));
    let err = fetch_once(&spec(FeedKind::Statuspage, &server.url("/feed")))
        .await
        .unwrap_err();
    assert_eq!(err, FeedError::Status { status: 500 });
    assert_eq!(err.to_string(), "HTTP 500");
}

#[tokio::test]
async fn rate_limits_carry_retry_after() {
    let server = HttpServer::start();
    server.reply("/feed", Reply::status(429).header("retry-after", "7"));
    let err = fetch_once(&spec(FeedKind::Heroku, &server.url("/feed")))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        FeedError::RateLimited {
            status: 429,
            retry_after_secs: Some(7)
        }
    );
    let later = (chrono::Utc::now() + chrono::Duration::seconds(120))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    server.reply("/feed", Reply::status(503).header("retry-after", &later));
    match fetch_once(&spec(FeedKind::Heroku, &server.url("/feed"))).await {
        Err(FeedError::RateLimited {
            status: 503,
            retry_after_secs: Some(secs),
        }) => assert!((100..=120).contains(&secs), "{secs}"),
        other => panic!("{other:?}"),
    }
    server.reply("/feed", Reply::status(503));
    assert_eq!(
        fetch_once(&spec(FeedKind::Heroku, &server.url("/feed"))).await,
        Err(FeedError::RateLimited {
            status: 503,
            retry_after_secs: None
        })
    );
}

#[tokio::test]
async fn connection_refused_is_unreachable() {
    let err = fetch_once(&spec(FeedKind::Statuspage, &dead_port_url("/feed")))
        .await
        .unwrap_err();
    match &err {
        FeedError::Unreachable(detail) => assert!(!detail.contains('\n'), "{detail}"),
        other => panic!("{other:?}"),
    }
    let health = ProviderHealth::unknown(FeedKind::Statuspage, "u", chrono::Utc::now(), &err);
    assert!(health.reason.unwrap().starts_with("unreachable: "));
}

#[tokio::test]
async fn invalid_utf8_is_malformed() {
    let body = b"{\"status\": {\"indicator\": \"none\", \"description\": \"\xC3\x28\"}}".to_vec();
    for kind in [FeedKind::Statuspage, FeedKind::Rss] {
        match error_of(kind, body.clone()).await {
            FeedError::Malformed { detail, .. } => {
                assert!(detail.starts_with("invalid UTF-8"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn rss_with_no_items_is_malformed() {
    let body = br#"<?xml version="1.0" encoding="UTF-8"?>
        <rss version="2.0"><channel><title>Amazon Web Services Service Status</title>
        <link>http://status.aws.amazon.com/</link></channel></rss>"#
        .to_vec();
    assert_eq!(
        error_of(FeedKind::Rss, body).await,
        FeedError::Malformed {
            kind: "rss",
            detail: "the feed has no items".to_owned()
        }
    );
}

#[tokio::test]
async fn an_etag_makes_the_next_read_conditional_and_304_is_not_modified() {
    let server = HttpServer::start();
    server.reply(
        "/feed",
        Reply::json(capture(
            "heroku_v4_current_status_green_SHAPE_cli_test.json",
        ))
        .header("etag", "\"v1\"")
        .header("last-modified", "Wed, 21 Oct 2026 07:28:00 GMT"),
    );
    let spec = spec(FeedKind::Heroku, &server.url("/feed"));
    let fetcher = Fetcher::new();
    let first = fetcher.fetch(&spec, &Validators::default()).await.unwrap();
    let Fetched::Changed { health, validators } = first else {
        panic!("{first:?}");
    };
    assert_eq!(health.level, HealthLevel::Operational);
    assert_eq!(
        validators,
        Validators {
            etag: Some("\"v1\"".to_owned()),
            last_modified: Some("Wed, 21 Oct 2026 07:28:00 GMT".to_owned()),
        }
    );
    let unconditional = server.last_request("/feed").unwrap();
    assert_eq!(unconditional.header("if-none-match"), None);

    server.reply("/feed", Reply::status(304).header("etag", "\"v1\""));
    let second = fetcher.fetch(&spec, &validators).await.unwrap();
    assert_eq!(second, Fetched::NotModified);
    let conditional = server.last_request("/feed").unwrap();
    assert_eq!(conditional.header("if-none-match"), Some("\"v1\""));
    assert_eq!(
        conditional.header("if-modified-since"),
        Some("Wed, 21 Oct 2026 07:28:00 GMT")
    );
    assert_eq!(server.hits("/feed"), 2);
    let seen: Vec<_> = server
        .requests("/feed")
        .into_iter()
        .map(|r| (r.method, r.uri))
        .collect();
    assert_eq!(
        seen,
        [
            ("GET".into(), "/feed".into()),
            ("GET".into(), "/feed".into())
        ]
    );
}

fn probe_spec(server: &HttpServer, expect: ProbeExpectations) -> FeedSpec {
    let mut spec = spec(FeedKind::Probe, &server.url("/health"));
    spec.probe = expect;
    spec
}

fn expectations() -> ProbeExpectations {
    ProbeExpectations {
        expect_status: 200,
        body_contains: Some("\"db\":\"ok\"".to_owned()),
        max_latency: Some(Duration::from_millis(400)),
    }
}

#[tokio::test]
async fn a_healthy_probe_is_operational_and_never_conditional() {
    let server = HttpServer::start();
    server.reply(
        "/health",
        Reply::json(r#"{"db":"ok"}"#).header("etag", "\"h1\""),
    );
    let spec = probe_spec(&server, expectations());
    let stale = Validators {
        etag: Some("\"h1\"".to_owned()),
        last_modified: None,
    };
    let Fetched::Changed { health, validators } =
        Fetcher::new().fetch(&spec, &stale).await.unwrap()
    else {
        panic!("a probe always reads");
    };
    assert_eq!(health.level, HealthLevel::Operational, "{}", health.summary);
    assert_eq!(health.kind, "probe");
    assert_eq!(validators, Validators::default());
    assert_eq!(
        server
            .last_request("/health")
            .unwrap()
            .header("if-none-match"),
        None
    );
}

#[tokio::test]
async fn a_probe_judges_wrong_status_missing_text_and_slowness() {
    let server = HttpServer::start();
    let spec = probe_spec(&server, expectations());

    server.reply("/health", Reply::json(r#"{"db":"ok"}"#).with_status(503));
    let health = fetch_once(&spec)
        .await
        .expect("a wrong status is a result, not an error");
    assert_eq!(health.level, HealthLevel::MajorOutage);
    assert!(
        health.summary.starts_with("HTTP 503 in "),
        "{}",
        health.summary
    );
    assert!(
        health.summary.ends_with(", expected 200"),
        "{}",
        health.summary
    );

    server.reply("/health", Reply::json(r#"{"db":"down"}"#));
    let health = fetch_once(&spec).await.unwrap();
    assert_eq!(health.level, HealthLevel::MajorOutage);
    assert!(
        health.summary.contains("the body lacks"),
        "{}",
        health.summary
    );

    server.reply(
        "/health",
        Reply::json(r#"{"db":"ok"}"#).delay(Duration::from_millis(700)),
    );
    let health = fetch_once(&spec).await.unwrap();
    assert_eq!(health.level, HealthLevel::Degraded);
    assert!(
        health.summary.contains("slower than the 400 ms threshold"),
        "{}",
        health.summary
    );
}

#[tokio::test]
async fn a_probe_errors_only_when_it_gets_no_answer() {
    let mut dead = spec(FeedKind::Probe, &dead_port_url("/health"));
    dead.probe = expectations();
    assert!(matches!(
        fetch_once(&dead).await,
        Err(FeedError::Unreachable(_))
    ));

    let server = HttpServer::start();
    server.reply(
        "/health",
        Reply::json("{}").delay(Duration::from_secs(3600)),
    );
    let mut slow = probe_spec(&server, expectations());
    slow.timeout = Duration::from_millis(300);
    assert_eq!(
        fetch_once(&slow).await,
        Err(FeedError::Timeout(Duration::from_millis(300)))
    );
}
