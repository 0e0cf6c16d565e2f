//! `lifeboat feed` and `lifeboat run --console` as a user meets them: the real binary against
//! local servers replaying the real captures and bad inputs.

use crate::support::capture;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::http::{HttpServer, Reply, dead_port_url};
use crate::support::{TestConfig, lifeboat, root, spawn_app, stderr, stdout};

fn feed(kind: &str, url: &str) -> (Option<i32>, String, String) {
    let out = lifeboat(
        &root(),
        &["feed", "--kind", kind, "--url", url, "--json"],
        &[],
    );
    (out.status.code(), stdout(&out), stderr(&out))
}

#[test]
fn every_real_capture_gives_its_level_through_the_cli() {
    let server = HttpServer::start();
    let cases = [
        (
            "statuspage",
            "anthropic_statuspage_summary_operational.json",
            "operational",
        ),
        (
            "statuspage",
            "anthropic_statuspage_summary_incident_2026-10-07.json",
            "partial_outage",
        ),
        (
            "statuspage",
            "openai_incidentio_summary_operational_2026-07.json",
            "operational",
        ),
        (
            "statuspage",
            "openai_incidentio_summary_degraded_2026-09-29.json",
            "degraded",
        ),
        (
            "statuspage",
            "github_statuspage_summary_operational_2019.json",
            "operational",
        ),
        (
            "statuspage",
            "github_statuspage_summary_major_outage_2020.json",
            "major_outage",
        ),
        (
            "heroku",
            "heroku_v4_current_status_green_SHAPE_cli_test.json",
            "operational",
        ),
        (
            "heroku",
            "heroku_v4_current_status_red_SHAPE_cli_test.json",
            "major_outage",
        ),
    ];
    for (kind, file, level) in cases {
        let path = format!("/{file}");
        server.reply(&path, Reply::json(capture(file)));
        let (code, out, err) = feed(kind, &server.url(&path));
        assert_eq!(code, Some(0), "{file}: {err}");
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["level"], level, "{file}");
        for key in [
            "kind",
            "url",
            "summary",
            "incidents",
            "components",
            "fetched_at",
        ] {
            assert!(json.get(key).is_some(), "{file}: {key} missing from {out}");
        }
    }
}

#[test]
fn bad_sources_exit_2_with_one_line() {
    let server = HttpServer::start();
    server.reply(
        "/html",
        Reply::bytes("<html><body>502 Bad Gateway</body></html>")
            .header("content-type", "text/html"),
    );
    server.reply(
        "/truncated",
        Reply::json(&capture("heroku_v4_current_status_red_SHAPE_cli_test.json")[..40]),
    );
    server.reply("/shape", Reply::json(r#"{"hello": "world"}"#));
    server.reply("/huge", Reply::json(vec![b' '; 20 * 1024 * 1024]));
    server.reply("/500", Reply::status(500));
    server.reply("/429", Reply::status(429).header("retry-after", "7"));
    server.reply("/utf8", Reply::json(vec![b'{', 0xff, 0xfe, b'}']));
    server.reply(
        "/empty-rss",
        Reply::bytes("<rss version=\"2.0\"><channel><title>x</title></channel></rss>"),
    );
    let cases = [
        ("heroku", server.url("/html"), "not a heroku payload"),
        ("heroku", server.url("/truncated"), "not a heroku payload"),
        (
            "statuspage",
            server.url("/shape"),
            "not a statuspage payload",
        ),
        ("heroku", server.url("/huge"), "larger than"),
        ("heroku", server.url("/500"), "HTTP 500"),
        ("heroku", server.url("/429"), "retry after Some(7)"),
        ("heroku", server.url("/utf8"), "UTF-8"),
        ("rss", server.url("/empty-rss"), "no items"),
        ("heroku", dead_port_url("/x"), "unreachable"),
    ];
    for (kind, url, expected) in cases {
        let (code, out, err) = feed(kind, &url);
        assert_eq!(code, Some(2), "{url}: stdout {out}");
        assert_eq!(err.lines().count(), 1, "{url}: {err}");
        assert!(
            err.contains(expected),
            "{url}: expected `{expected}` in {err}"
        );
    }
}

#[test]
fn a_feed_that_never_answers_times_out_with_exit_2() {
    let server = HttpServer::start();
    server.reply("/slow", Reply::json("{}").delay(Duration::from_secs(60)));
    let started = Instant::now();
    let (code, _, err) = feed("heroku", &server.url("/slow"));
    assert_eq!(code, Some(2));
    assert!(err.contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// `lifeboat run --console` on a config whose feeds point at a local server: flipping the
/// feed to red prints one confirmed alert; flipping it back prints the recovery notice.
#[test]
fn run_console_prints_alerts_when_a_local_feed_changes() {
    let server = HttpServer::start();
    let green = capture("heroku_v4_current_status_green_SHAPE_cli_test.json");
    let red = capture("heroku_v4_current_status_red_SHAPE_cli_test.json");
    server.reply("/heroku", Reply::json(green.clone()));
    server.reply("/health", Reply::bytes("ok"));
    // The shipped runbooks and templates, on the two local feeds.
    let mut bot = spawn_app(
        TestConfig::minimal()
            .shipped_runbooks()
            .shipped_templates()
            .set("objectives.data_rto", "2h")
            .set("watch.debounce", 2)
            .set("watch.jitter", 0.0)
            .push(
                "providers",
                json!({ "name": "heroku", "title": "Heroku", "workstream": "hosting", "runbook": "failover-hosting" }),
            )
            .feed("heroku-status", "heroku", "heroku", &server.url("/heroku"), "200ms")
            .feed("app-probe", "heroku", "probe", &server.url("/health"), "200ms")
            .set(
                "aws.ecs",
                json!({ "cluster": "standby", "services": [{ "name": "web", "standby": 3 }, { "name": "worker", "standby": 2 }] }),
            )
            .set(
                "aws.dns",
                json!({ "zone_id": "Z1", "records": [{ "name": "app.example.com.", "primary": "a.herokudns.com.", "standby": "alb.example.com." }] }),
            )
            .set(
                "llm",
                json!({
                    "openai": { "base_url": "http://127.0.0.1:9", "key_env": "OPENAI_API_KEY", "model": "m" },
                    "anthropic": { "base_url": "http://127.0.0.1:9", "key_env": "ANTHROPIC_API_KEY", "model": "m" },
                }),
            )
            .team("engineering", json!({}))
            .team("support", json!({}))
            .var("app_url", "http://127.0.0.1:9")
            .var("backup_status_url", "http://127.0.0.1:9/b")
            .var("restore_command", "/bin/true")
            .var("integrity_command", "/bin/true")
            .var("llm_switch_url", "http://127.0.0.1:9/s"),
    )
    .patience(Duration::from_secs(20))
    .binary();
    bot.wait_for("Lifeboat is watching 2 feeds");
    std::thread::sleep(Duration::from_millis(800));
    server.reply("/heroku", Reply::json(red));
    server.reply("/health", Reply::status(503));
    bot.wait_for("[CONFIRMED] Heroku major outage");
    server.reply("/heroku", Reply::json(green));
    server.reply("/health", Reply::bytes("ok"));
    bot.wait_for("[RECOVERED] Heroku is operational again");
    // SIGTERM: a clean stop.
    bot.sigterm();
    let status = bot.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let all = bot.seen().join("\n");
    assert_eq!(all.matches("[RECOVERED]").count(), 1, "{all}");
    assert!(all.contains("[Plan failover-hosting]"), "{all}");
    // The log it kept is intact.
    let out = lifeboat(
        bot.project.path(),
        &["audit", "verify", "--data-dir", "data"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
