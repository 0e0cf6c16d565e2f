//! No secret in any output (issue 16, item 2): the real binary runs a restore command and
//! calls an endpoint that both say the secrets they know; none of them appears in the log,
//! chat (the console), the traces or any export format.

use std::time::Duration;

use crate::support::discord::{APPROVER, Member, RESPONDER};
use crate::support::http::{HttpServer, Reply};
use crate::support::{TestConfig, lifeboat, spawn_app, stderr, stdout};

const DB_URL: &str = "postgres://restorer:Pg-pass-7781@127.0.0.1:5432/app";
const TOKEN: &str = "tok-leak-5521-abc";
const ANTHROPIC_KEY: &str = "sk-ant-leak-9090-xyz";
/// A URL nobody told Lifeboat about: its password goes all the same.
const STRANGER: &str = "https://bob:Url-pass-3131@elsewhere.example/x";

/// A restore that prints what it was given (as careless wrappers do), then a call to an
/// endpoint that echoes secrets in its error body.
const LEAKY: &str = r#"
name = "leaky"
title = "Steps that say their secrets"
workstream = "llm"

[[steps]]
id = "restore"
kind = "command"
with = { argv = ["sh", "-c", "echo \"restoring from $LEAK_DB_URL with $LEAK_TOKEN\"; echo \"auth $LEAK_TOKEN for $LEAK_DB_URL\" >&2"], env = ["LEAK_DB_URL", "LEAK_TOKEN", "PATH"] }

[[steps]]
id = "echo"
kind = "http_request"
with = { method = "POST", url = "${vars.base}/echo", headers = { Authorization = "Bearer ${env.LEAK_TOKEN}" } }
"#;

#[test]
fn a_command_and_an_endpoint_that_say_their_secrets_leave_none_in_any_output() {
    let server = HttpServer::start();
    server.reply(
        "/echo",
        Reply {
            status: 400,
            ..Reply::bytes(format!(
                "bad request: key {ANTHROPIC_KEY}, token {TOKEN}, db {DB_URL}, from {STRANGER}"
            ))
        },
    );
    let config = TestConfig::minimal()
        .var("base", server.base_url())
        .set(
            "llm.anthropic",
            serde_json::json!({"base_url": server.base_url(), "key_env": "LEAK_ANTHROPIC_KEY", "model": "m"}),
        )
        .runbook(LEAKY);
    let mut bot = spawn_app(config)
        .env("LEAK_DB_URL", DB_URL)
        .env("LEAK_TOKEN", TOKEN)
        .env("LEAK_ANTHROPIC_KEY", ANTHROPIC_KEY)
        .binary();
    bot.endpoint();
    bot.wait_for("Lifeboat is watching");
    let alice = Member::new(1, "alice", &[RESPONDER]);
    let bob = Member::new(2, "bob", &[APPROVER]);
    bot.say(&format!(
        "/incident declare Secrets everywhere {}",
        alice.console_flags()
    ));
    let declared = bot.wait_event("incident.declared");
    let incident = declared.incident.clone().expect("an incident id");
    let request = bot.request("leaky", &alice);
    bot.approve(&request, &bob);
    let failed = bot.wait_event("step.failed");
    assert_eq!(failed.data["step"], "echo", "{}", failed.data);
    let log = bot.events();
    let restored = log
        .iter()
        .find(|e| e.kind == "step.succeeded" && e.data["step"] == "restore")
        .expect("the restore ran");
    let said = restored.data.to_string();
    assert!(
        said.contains("restoring from [redacted] with [redacted]"),
        "{said}"
    );
    bot.sigterm();
    let (code, chat, traces) = bot.exit_with_output(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{chat}\n{traces}");
    assert!(chat.contains("400"), "the failure is posted: {chat}");
    assert!(traces.contains("echo"), "the failure is traced: {traces}");

    let mut exports = Vec::new();
    for format in ["md", "json", "csv", "html"] {
        let out = lifeboat(
            bot.project.path(),
            &[
                "export",
                &incident.to_string(),
                "--format",
                format,
                "--config",
                "lifeboat.toml",
            ],
            &[],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        exports.push(stdout(&out));
    }
    assert!(exports[1].contains("[redacted]"), "{}", exports[1]);
    let log_text: Vec<String> = log.iter().map(|e| e.data.to_string()).collect();
    let everything = format!(
        "{}\n{chat}\n{traces}\n{}",
        log_text.join("\n"),
        exports.join("\n")
    );
    for secret in [
        DB_URL,
        "Pg-pass-7781",
        "restorer:",
        TOKEN,
        ANTHROPIC_KEY,
        "Url-pass-3131",
        "bob:",
    ] {
        assert!(!everything.contains(secret), "`{secret}` leaked");
    }
}
