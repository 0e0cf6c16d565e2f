//! The `http_check`, `http_request`, `llm_probe`, `backup_check` and `command` steps, run
//! through `steps::execute` inside the same timeout the engine puts around every step, against
//! local servers speaking the real wire formats and real child processes.
//!
//! The servers are the scripted `support::http::HttpServer`, which records each request's
//! headers and body (the LLM wire formats, a JSON request body).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use lifeboat::domain::RunId;
use lifeboat::duration::HumanDuration;
use lifeboat::runbook::{
    BackupCheck, CommandStep, HttpCheck, HttpRequest, LlmProbe, OnFailure, Step, StepAction,
    load_file,
};
use lifeboat::steps::{StepEnv, StepError, StepInput, StepOutput, execute};

use crate::support::TestConfig;
use crate::support::app::steps_env;
use crate::support::http::{HttpServer, Recorded, Reply, dead_port_url};

const SWITCH_TOKEN: &str = "s3cret-switch-token-123";
const OPENAI_KEY: &str = "sk-test-openai-key-456";
const ANTHROPIC_KEY: &str = "sk-ant-test-key-789";

/// What the steps act through on `config`, with the secrets the tests' servers check.
async fn env_with(config: TestConfig) -> StepEnv {
    steps_env(
        &config,
        &[
            ("SWITCH_TOKEN", SWITCH_TOKEN),
            ("OPENAI_API_KEY", OPENAI_KEY),
            ("ANTHROPIC_API_KEY", ANTHROPIC_KEY),
        ],
    )
    .await
}

async fn env() -> StepEnv {
    env_with(TestConfig::minimal().var("provider", "anthropic")).await
}

fn step(action: StepAction, timeout: Duration) -> Step {
    Step {
        id: "under-test".into(),
        title: "under test".into(),
        action,
        timeout: HumanDuration(timeout),
        retries: 0,
        backoff: HumanDuration::from_secs(1),
        idempotent: true,
        on_failure: OnFailure::Abort,
    }
}

/// Runs one step as the engine does: inside `timeout(step.timeout)`. The step must finish on
/// its own first, so that its explanation, not the engine's bare timeout, is recorded.
async fn run(env: &StepEnv, step: &Step) -> Result<StepOutput, StepError> {
    let run = RunId::from("RUN-steps-test");
    let params = BTreeMap::from([("app".to_owned(), "myapp".to_owned())]);
    let earlier = BTreeMap::new();
    let input = StepInput {
        run: &run,
        incident: None,
        step,
        workstream: None,
        params: &params,
        earlier: &earlier,
        attempt: 1,
    };
    tokio::time::timeout(step.timeout.get(), execute(env, &input))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the engine's timeout fired before step `{}` gave its own answer",
                step.id
            )
        })
}

async fn act(
    env: &StepEnv,
    action: StepAction,
    timeout: Duration,
) -> Result<StepOutput, StepError> {
    run(env, &step(action, timeout)).await
}

/// Everything a step left behind, as the event log would get it.
fn recorded(result: &Result<StepOutput, StepError>) -> String {
    match result {
        Ok(out) => format!("{} {}", out.summary, out.data),
        Err(err) => format!("{} {}", err.message, err.data),
    }
}

/// A server that answers every request with `status` and the JSON `body`.
fn answering(status: u16, body: &str) -> HttpServer {
    let server = HttpServer::start();
    server.reply_to_all(Reply::json(body.to_owned()).with_status(status));
    server
}

/// The one request `server` received.
fn only(server: &HttpServer) -> Recorded {
    let seen = server.all_requests();
    assert_eq!(seen.len(), 1, "expected exactly one request, got {seen:?}");
    seen[0].clone()
}

// ---------------------------------------------------------------------------------------------
// http_check

fn http_check(url: String) -> HttpCheck {
    HttpCheck {
        url,
        expect_status: 200,
        body_contains: None,
        max_latency: None,
        poll: HumanDuration(Duration::from_millis(100)),
    }
}

#[tokio::test]
async fn http_check_healthy_answers_at_once() {
    let server = HttpServer::start();
    server.reply("/health", Reply::json(r#"{"status":"ok"}"#));
    let args = HttpCheck {
        body_contains: Some("\"ok\"".into()),
        max_latency: Some(HumanDuration::from_secs(2)),
        ..http_check(server.url("/health"))
    };
    let out = act(
        &env().await,
        StepAction::HttpCheck(args),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(out.data["url"], server.url("/health"));
    assert_eq!(out.data["status"], 200);
    assert_eq!(out.data["attempts"], 1);
    assert!(out.data["latency_ms"].as_u64().unwrap() < 2000);
    assert_eq!(server.hits("/health"), 1);
}

#[tokio::test]
async fn http_check_503_until_the_deadline_fails_without_retry_naming_the_status() {
    let server = HttpServer::start();
    server.reply("/health", Reply::status(503));
    let started = Instant::now();
    let err = act(
        &env().await,
        StepAction::HttpCheck(http_check(server.url("/health"))),
        Duration::from_secs(1),
    )
    .await
    .unwrap_err();
    let took = started.elapsed();
    assert!(!err.retryable, "the check had its whole window: {err:?}");
    assert!(
        err.message.starts_with(&format!(
            "{} answered 503 (expected 200) for 1s",
            server.url("/health")
        )),
        "{}",
        err.message
    );
    assert_eq!(err.data["status"], 503);
    let attempts = err.data["attempts"].as_u64().unwrap();
    assert!(
        attempts >= 4,
        "polled every 100 ms for ~1 s, got {attempts} attempts"
    );
    assert_eq!(server.hits("/health") as u64, attempts);
    assert!(
        took < Duration::from_secs(1),
        "finished before the engine's timeout: {took:?}"
    );
}

#[tokio::test]
async fn http_check_keeps_polling_until_the_endpoint_recovers() {
    let server = Arc::new(HttpServer::start());
    server.reply("/health", Reply::status(503));
    let later = server.clone();
    let flip = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(350)).await;
        later.reply("/health", Reply::bytes("ok"));
    });
    let out = act(
        &env().await,
        StepAction::HttpCheck(http_check(server.url("/health"))),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    flip.await.unwrap();
    assert_eq!(out.data["status"], 200);
    assert!(out.data["attempts"].as_u64().unwrap() >= 3, "{}", out.data);
}

#[tokio::test]
async fn http_check_without_the_body_marker_says_what_is_missing() {
    let server = HttpServer::start();
    server.reply("/health", Reply::bytes("<html>down for maintenance</html>"));
    let args = HttpCheck {
        body_contains: Some("\"ok\":true".into()),
        ..http_check(server.url("/health"))
    };
    let err = act(
        &env().await,
        StepAction::HttpCheck(args),
        Duration::from_secs(1),
    )
    .await
    .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message
            .contains("answered 200 without \"\\\"ok\\\":true\" in the body for 1s"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn http_check_too_slow_names_the_latency() {
    let server = HttpServer::start();
    server.reply(
        "/health",
        Reply::bytes("ok").delay(Duration::from_millis(300)),
    );
    let args = HttpCheck {
        max_latency: Some(HumanDuration(Duration::from_millis(100))),
        ..http_check(server.url("/health"))
    };
    let err = act(
        &env().await,
        StepAction::HttpCheck(args),
        Duration::from_secs(1),
    )
    .await
    .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message.contains("slower than 100ms for 1s"),
        "{}",
        err.message
    );
    assert!(
        err.data["latency_ms"].as_u64().unwrap() >= 300,
        "{}",
        err.data
    );
}

#[tokio::test]
async fn http_check_counts_refused_connections_as_unhealthy() {
    let url = dead_port_url("/health");
    let err = act(
        &env().await,
        StepAction::HttpCheck(http_check(url.clone())),
        Duration::from_secs(1),
    )
    .await
    .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message.starts_with(&format!("{url} was unreachable (")),
        "{}",
        err.message
    );
    assert!(err.data["attempts"].as_u64().unwrap() >= 2, "{}", err.data);
}

// ---------------------------------------------------------------------------------------------
// http_request

fn switch_request(url: String) -> HttpRequest {
    HttpRequest {
        method: "patch".into(),
        url,
        headers: BTreeMap::from([
            (
                "Authorization".to_owned(),
                "Bearer ${env.SWITCH_TOKEN}".to_owned(),
            ),
            (
                "Accept".to_owned(),
                "application/vnd.heroku+json; version=3".to_owned(),
            ),
        ]),
        json: Some(
            json!({ "LLM_PROVIDER": "${vars.provider}", "app": "${params.app}", "weights": [1, 2] }),
        ),
        expect_status: Vec::new(),
    }
}

#[tokio::test]
async fn http_request_sends_the_secret_header_and_the_expanded_body_but_records_neither_secret() {
    // The server echoes the token back, as a careless admin endpoint might.
    let server = answering(
        200,
        &format!(r#"{{"LLM_PROVIDER":"anthropic","echo":"{SWITCH_TOKEN}"}}"#),
    );
    let url = format!("{}/apps/myapp/config-vars", server.base_url());
    let result = act(
        &env().await,
        StepAction::HttpRequest(switch_request(url.clone())),
        Duration::from_secs(5),
    )
    .await;
    let seen = only(&server);
    assert_eq!(seen.method, "PATCH");
    assert_eq!(seen.path, "/apps/myapp/config-vars");
    assert_eq!(
        seen.header("authorization").unwrap(),
        format!("Bearer {SWITCH_TOKEN}")
    );
    assert_eq!(
        seen.header("accept").unwrap(),
        "application/vnd.heroku+json; version=3"
    );
    assert_eq!(seen.header("content-type").unwrap(), "application/json");
    assert_eq!(
        seen.json(),
        json!({ "LLM_PROVIDER": "anthropic", "app": "myapp", "weights": [1, 2] })
    );

    let everything = recorded(&result);
    assert!(
        !everything.contains(SWITCH_TOKEN),
        "the secret leaked: {everything}"
    );
    let out = result.unwrap();
    assert_eq!(out.data["method"], "PATCH");
    assert_eq!(out.data["url"], url);
    assert_eq!(out.data["status"], 200);
    assert_eq!(out.data["headers"], json!(["Accept", "Authorization"]));
    // A successful answer's body is never recorded (config-vars answers echo app secrets).
    assert!(out.data.get("body").is_none(), "{}", out.data);
    assert!(out.data["body_bytes"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn http_request_500_is_retryable_and_422_is_not() {
    let server = HttpServer::start();
    server.reply(
        "/switch",
        Reply::json(r#"{"error":"db down"}"#).with_status(500),
    );
    let env = env().await;
    let err = act(
        &env,
        StepAction::HttpRequest(switch_request(server.url("/switch"))),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(
        err.message.contains("answered 500 (expected 2xx)"),
        "{}",
        err.message
    );
    assert_eq!(err.data["status"], 500);
    // The header arrived; its value is recorded nowhere.
    let sent = server.last_request("/switch").unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {SWITCH_TOKEN}").as_str())
    );
    assert!(!recorded(&Err(err)).contains(SWITCH_TOKEN));

    server.reply(
        "/switch",
        Reply::json(r#"{"id":"invalid_params","message":"LLM_PROVIDER must be a string"}"#)
            .with_status(422),
    );
    let result = act(
        &env,
        StepAction::HttpRequest(switch_request(server.url("/switch"))),
        Duration::from_secs(5),
    )
    .await;
    assert!(!recorded(&result).contains(SWITCH_TOKEN));
    let err = result.unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(
        err.message
            .contains("answered 422 (expected 2xx): {\"id\":\"invalid_params\""),
        "{}",
        err.message
    );

    server.reply("/switch", Reply::status(429));
    let err = act(
        &env,
        StepAction::HttpRequest(switch_request(server.url("/switch"))),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(err.retryable, "throttled: {err:?}");
}

#[tokio::test]
async fn http_request_checks_the_expected_statuses_and_connection_errors_retry() {
    let server = HttpServer::start();
    server.reply("/switch", Reply::status(200));
    let args = HttpRequest {
        expect_status: vec![204],
        ..switch_request(server.url("/switch"))
    };
    let err = act(
        &env().await,
        StepAction::HttpRequest(args),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message.contains("answered 200 (expected 204)"),
        "{}",
        err.message
    );

    let err = act(
        &env().await,
        StepAction::HttpRequest(switch_request(dead_port_url("/switch"))),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(err.message.contains("cannot connect"), "{}", err.message);
}

#[tokio::test]
async fn http_request_timeout_is_retryable_and_named() {
    let server = HttpServer::start();
    server.reply("/switch", Reply::status(200).delay(Duration::from_secs(5)));
    let started = Instant::now();
    let err = act(
        &env().await,
        StepAction::HttpRequest(switch_request(server.url("/switch"))),
        Duration::from_millis(500),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(err.retryable);
    assert!(
        err.message.ends_with("timed out after 500ms"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn http_request_with_an_unset_secret_names_the_variable_only() {
    let server = HttpServer::start();
    let args = HttpRequest {
        headers: BTreeMap::from([("X-Api-Key".to_owned(), "${env.NOT_SET_ANYWHERE}".to_owned())]),
        ..switch_request(server.url("/switch"))
    };
    let err = act(
        &env().await,
        StepAction::HttpRequest(args),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(!err.retryable);
    assert!(err.message.contains("NOT_SET_ANYWHERE"), "{}", err.message);
    assert_eq!(server.hits("/switch"), 0, "nothing was sent");
}

// ---------------------------------------------------------------------------------------------
// llm_probe

async fn llm_env(openai: &str, anthropic: &str) -> StepEnv {
    env_with(TestConfig::minimal().set(
        "llm",
        json!({
            "openai": { "base_url": openai, "key_env": "OPENAI_API_KEY", "model": "gpt-4o-mini", "timeout": "5s" },
            "anthropic": { "base_url": anthropic, "key_env": "ANTHROPIC_API_KEY", "model": "claude-sonnet-4-5", "timeout": "5s" },
        }),
    ))
    .await
}

fn probe(provider: &str, expect: Option<&str>) -> StepAction {
    StepAction::LlmProbe(LlmProbe {
        provider: provider.into(),
        prompt: "Reply with the single word PONG. (${params.app})".into(),
        expect_contains: expect.map(str::to_owned),
        max_latency: Some(HumanDuration::from_secs(5)),
    })
}

const OPENAI_OK: &str = r#"{"id":"chatcmpl-AB1","object":"chat.completion","created":1764060000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"PONG","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":17,"completion_tokens":2,"total_tokens":19},"system_fingerprint":"fp_1"}"#;
const ANTHROPIC_OK: &str = r#"{"id":"msg_01XF","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Pong."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":18,"output_tokens":5}}"#;

#[tokio::test]
async fn llm_probe_speaks_openai_chat_completions() {
    let server = answering(200, OPENAI_OK);
    let env = llm_env(&server.base_url(), "http://127.0.0.1:9").await;
    let result = act(&env, probe("openai", Some("pong")), Duration::from_secs(10)).await;
    let seen = only(&server);
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        seen.header("authorization").unwrap(),
        format!("Bearer {OPENAI_KEY}")
    );
    assert_eq!(seen.header("content-type").unwrap(), "application/json");
    assert_eq!(
        seen.json(),
        json!({
            "model": "gpt-4o-mini",
            "messages": [{ "role": "user", "content": "Reply with the single word PONG. (myapp)" }],
            "max_tokens": 64,
        })
    );
    assert!(!recorded(&result).contains(OPENAI_KEY));
    let out = result.unwrap();
    assert_eq!(out.data["provider"], "openai");
    assert_eq!(out.data["model"], "gpt-4o-mini");
    assert_eq!(out.data["answer"], "PONG");
    assert!(out.data["latency_ms"].is_u64());
}

#[tokio::test]
async fn llm_probe_speaks_anthropic_messages() {
    let server = answering(200, ANTHROPIC_OK);
    let env = llm_env("http://127.0.0.1:9", &format!("{}/", server.base_url())).await;
    let result = act(
        &env,
        probe("anthropic", Some("PONG")),
        Duration::from_secs(10),
    )
    .await;
    let seen = only(&server);
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(seen.header("x-api-key").unwrap(), ANTHROPIC_KEY);
    assert_eq!(seen.header("anthropic-version").unwrap(), "2023-06-01");
    assert_eq!(seen.header("content-type").unwrap(), "application/json");
    assert!(seen.header("authorization").is_none());
    assert_eq!(
        seen.json(),
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 64,
            "messages": [{ "role": "user", "content": "Reply with the single word PONG. (myapp)" }],
        })
    );
    assert!(!recorded(&result).contains(ANTHROPIC_KEY));
    let out = result.unwrap();
    assert_eq!(out.data["provider"], "anthropic");
    assert_eq!(out.data["answer"], "Pong.");
}

#[tokio::test]
async fn llm_probe_server_errors_and_overload_are_retryable() {
    let server = HttpServer::start();
    let env = llm_env(&server.base_url(), &server.base_url()).await;
    server.reply(
        "/v1/chat/completions",
        Reply::json(r#"{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}"#)
            .with_status(500),
    );
    let err = act(&env, probe("openai", None), Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert_eq!(
        err.message,
        "openai answered 500: The server had an error while processing your request. (server_error)"
    );
    assert_eq!(err.data["status"], 500);

    server.reply(
        "/v1/messages",
        Reply::json(
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        )
        .with_status(529),
    );
    let err = act(&env, probe("anthropic", None), Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert_eq!(
        err.message,
        "anthropic answered 529: Overloaded (overloaded_error)"
    );
}

#[tokio::test]
async fn llm_probe_auth_failures_are_final_and_carry_the_providers_message() {
    let server = HttpServer::start();
    let env = llm_env(&server.base_url(), &server.base_url()).await;
    server.reply(
        "/v1/messages",
        Reply::json(r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_011"}"#)
            .with_status(401),
    );
    let err = act(&env, probe("anthropic", None), Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(!err.retryable);
    assert_eq!(
        err.message,
        "anthropic answered 401: invalid x-api-key (authentication_error)"
    );

    server.reply(
        "/v1/chat/completions",
        Reply::json(r#"{"error":{"message":"Incorrect API key provided: sk-test-***-456. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#)
            .with_status(401),
    );
    let err = act(&env, probe("openai", None), Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message
            .starts_with("openai answered 401: Incorrect API key provided"),
        "{}",
        err.message
    );
    assert!(
        err.message.ends_with("(invalid_api_key)"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn llm_probe_without_the_expected_text_fails_and_shows_the_answer() {
    let server = answering(200, ANTHROPIC_OK);
    let env = llm_env("http://127.0.0.1:9", &server.base_url()).await;
    let err = act(
        &env,
        probe("anthropic", Some("ready")),
        Duration::from_secs(10),
    )
    .await
    .unwrap_err();
    assert!(!err.retryable);
    assert_eq!(
        err.message,
        "anthropic answered without \"ready\": \"Pong.\""
    );
    assert_eq!(err.data["answer"], "Pong.");
}

#[tokio::test]
async fn llm_probe_without_a_key_names_the_variable() {
    let env = env_with(TestConfig::minimal().set(
        "llm.anthropic",
        json!({ "base_url": "http://127.0.0.1:9", "key_env": "LIFEBOAT_TEST_UNSET_KEY", "model": "m" }),
    ))
    .await;
    let err = act(&env, probe("anthropic", None), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(!err.retryable);
    assert_eq!(
        err.message,
        "no API key for anthropic: the environment variable LIFEBOAT_TEST_UNSET_KEY is not set"
    );
}

// ---------------------------------------------------------------------------------------------
// backup_check

fn rfc3339_ago(ago: Duration) -> String {
    (chrono::Utc::now() - chrono::Duration::from_std(ago).unwrap()).to_rfc3339()
}

fn backup_by_url(url: String) -> StepAction {
    StepAction::BackupCheck(BackupCheck {
        url: Some(url),
        time_pointer: Some("/latest/completed_at".into()),
        command: None,
        max_age: None,
    })
}

#[tokio::test]
async fn backup_check_fresh_records_the_age() {
    let server = HttpServer::start();
    let stamp = rfc3339_ago(Duration::from_secs(600));
    server.reply(
        "/backups",
        Reply::json(format!(
            r#"{{"latest":{{"id":"b-42","completed_at":"{stamp}"}}}}"#
        )),
    );
    let out = act(
        &env().await,
        backup_by_url(server.url("/backups")),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let age = out.data["age_secs"].as_u64().unwrap();
    assert!((600..=605).contains(&age), "{}", out.data);
    assert_eq!(out.data["max_age_secs"], 3600);
    assert!(out.data["completed_at"].as_str().unwrap().ends_with('Z'));
    assert!(
        out.summary.contains("within the RPO of 1h"),
        "{}",
        out.summary
    );
}

#[tokio::test]
async fn backup_check_older_than_the_rpo_stops_with_the_age() {
    let server = HttpServer::start();
    let stamp = rfc3339_ago(Duration::from_secs(72 * 60 + 5));
    server.reply(
        "/backups",
        Reply::json(format!(r#"{{"latest":{{"completed_at":"{stamp}"}}}}"#)),
    );
    let err = act(
        &env().await,
        backup_by_url(server.url("/backups")),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(!err.retryable);
    assert_eq!(
        err.message,
        "latest backup is 1h 12m old, older than the RPO of 1h"
    );
    assert!(err.data["age_secs"].as_u64().unwrap() >= 72 * 60);
    assert_eq!(err.data["max_age_secs"], 3600);
    assert!(err.data["completed_at"].is_string());
}

#[tokio::test]
async fn backup_check_malformed_answers_are_final_and_outages_retry() {
    let server = HttpServer::start();
    let env = env().await;
    server.reply("/backups", Reply::bytes("<html>oops</html>"));
    let err = act(
        &env,
        backup_by_url(server.url("/backups")),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message.contains("the answer is not JSON"),
        "{}",
        err.message
    );

    server.reply("/backups", Reply::json(r#"{"latest":null}"#));
    let err = act(
        &env,
        backup_by_url(server.url("/backups")),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message
            .ends_with("the answer has nothing at /latest/completed_at"),
        "{}",
        err.message
    );

    server.reply(
        "/backups",
        Reply::json(r#"{"latest":{"completed_at":"last tuesday"}}"#),
    );
    let err = act(
        &env,
        backup_by_url(server.url("/backups")),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message
            .contains("\"last tuesday\" is not an RFC 3339 time"),
        "{}",
        err.message
    );

    server.reply("/backups", Reply::status(503));
    let err = act(
        &env,
        backup_by_url(server.url("/backups")),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(err.retryable, "{err:?}");

    let err = act(
        &env,
        backup_by_url(dead_port_url("/backups")),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(err.retryable, "{err:?}");
}

#[tokio::test]
async fn backup_check_reads_a_commands_output_against_its_own_max_age() {
    let stamp = rfc3339_ago(Duration::from_secs(20 * 60));
    let by_command = |max: u64| {
        StepAction::BackupCheck(BackupCheck {
            url: None,
            time_pointer: None,
            command: Some(vec!["echo".into(), stamp.clone()]),
            max_age: Some(HumanDuration::from_secs(max)),
        })
    };
    let out = act(&env().await, by_command(30 * 60), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(out.data["age_secs"].as_u64().unwrap() >= 20 * 60);
    assert_eq!(out.data["source"], "command");

    let err = act(&env().await, by_command(15 * 60), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        err.message.ends_with("older than the maximum age of 15m"),
        "{}",
        err.message
    );

    let garbage = StepAction::BackupCheck(BackupCheck {
        url: None,
        time_pointer: None,
        command: Some(vec!["echo".into(), "no backups yet".into()]),
        max_age: None,
    });
    let err = act(&env().await, garbage, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message
            .starts_with("the output of `echo`: \"no backups yet\" is not"),
        "{}",
        err.message
    );
}

// ---------------------------------------------------------------------------------------------
// command

fn command(argv: &[&str], env_names: &[&str]) -> StepAction {
    StepAction::Command(CommandStep {
        argv: argv.iter().map(|a| (*a).to_owned()).collect(),
        env: env_names.iter().map(|a| (*a).to_owned()).collect(),
        workdir: None,
    })
}

#[tokio::test]
async fn command_success_captures_output() {
    let out = act(
        &env().await,
        command(&["echo", "restored", "${params.app}"], &[]),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(out.data["argv"], json!(["echo", "restored", "myapp"]));
    assert_eq!(out.data["exit_code"], 0);
    assert_eq!(out.data["stdout"], "restored myapp\n");
    assert_eq!(out.data["stderr"], "");
    assert_eq!(out.data["stdout_truncated"], false);
    assert!(out.data["duration_ms"].is_u64());
}

#[tokio::test]
async fn command_output_keeps_only_the_tail() {
    let out = act(
        &env().await,
        command(&["seq", "1", "3000"], &[]),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let stdout = out.data["stdout"].as_str().unwrap();
    assert_eq!(out.data["stdout_truncated"], true);
    assert!(
        stdout.starts_with('…') && stdout.ends_with("2999\n3000\n"),
        "{stdout}"
    );
    assert!(stdout.len() <= 4 * 1024 + '…'.len_utf8());
}

#[tokio::test]
async fn command_non_zero_exit_is_final_with_code_and_stderr() {
    let err = act(
        &env().await,
        command(&["ls", "/lifeboat-no-such-dir"], &[]),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message.starts_with("`ls` exited with code 2: "),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("/lifeboat-no-such-dir"),
        "{}",
        err.message
    );
    assert_eq!(err.data["exit_code"], 2);
    assert!(
        err.data["stderr"]
            .as_str()
            .unwrap()
            .contains("No such file"),
        "{}",
        err.data
    );
}

#[tokio::test]
async fn command_gets_only_path_and_the_allow_list() {
    assert!(
        std::env::var_os("HOME").is_some(),
        "the test needs HOME set"
    );
    assert!(
        std::env::var_os("CARGO").is_some(),
        "cargo sets CARGO for test processes; the test checks it is not inherited"
    );
    let out = act(
        &env().await,
        command(&["/usr/bin/env"], &["HOME", "LIFEBOAT_TEST_UNSET_VAR"]),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let stdout = out.data["stdout"].as_str().unwrap();
    let names: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once('=').map(|(n, _)| n))
        .collect();
    assert_eq!(names.len(), 2, "{stdout}");
    assert!(
        names.contains(&"HOME") && names.contains(&"PATH"),
        "{stdout}"
    );
    assert!(!stdout.contains("CARGO"), "{stdout}");
    // Names only: values are never recorded by the step itself.
    assert_eq!(out.data["env"], json!(["PATH", "HOME"]));
}

#[tokio::test]
async fn command_timeout_kills_the_child() {
    let started = Instant::now();
    // `exec` makes the printed pid that of `sleep` itself.
    let err = act(
        &env().await,
        command(&["sh", "-c", "echo $$; exec sleep 30"], &[]),
        Duration::from_millis(600),
    )
    .await
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(!err.retryable);
    assert_eq!(err.message, "`sh` timed out after 600ms and was killed");
    assert_eq!(err.data["timed_out"], true);
    let pid = err.data["stdout"].as_str().unwrap().trim().to_owned();
    assert!(
        pid.parse::<u32>().is_ok(),
        "output before the timeout is kept: {}",
        err.data
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} is still there"
    );
}

/// Whether `pid` still runs: gone, or a zombie waiting for a reaper (killed all the same).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_owned();
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn command_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    // A wrapper as a restore script is one: it starts a worker (here `sleep`) and waits for it;
    // the worker's pid is printed first.
    let wrapper = dir.path().join("restore-wrapper");
    std::fs::write(
        &wrapper,
        "#!/bin/sh
sleep 30 &
echo $!
wait
",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let err = act(
        &env().await,
        command(&[wrapper.to_str().unwrap()], &[]),
        Duration::from_millis(600),
    )
    .await
    .unwrap_err();
    assert_eq!(err.data["timed_out"], true, "{}", err.data);
    let grandchild = err.data["stdout"].as_str().unwrap().trim().to_owned();
    assert!(grandchild.parse::<u32>().is_ok(), "{}", err.data);
    // SIGKILL is delivered at once, but give the kernel a moment to tear the process down.
    let deadline = Instant::now() + Duration::from_secs(2);
    while running(&grandchild) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !running(&grandchild),
        "the wrapper's worker {grandchild} outlived the step's timeout"
    );
}

#[tokio::test]
async fn command_program_not_found_names_it() {
    let err = act(
        &env().await,
        command(&["lifeboat-no-such-program", "--x"], &[]),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(!err.retryable);
    assert_eq!(
        err.message,
        "cannot run `lifeboat-no-such-program`: program not found"
    );
}

#[tokio::test]
async fn command_runs_in_its_workdir() {
    let dir = tempfile::tempdir().unwrap();
    let action = StepAction::Command(CommandStep {
        argv: vec!["pwd".into()],
        env: Vec::new(),
        workdir: Some(dir.path().to_owned()),
    });
    let out = act(&env().await, action, Duration::from_secs(5))
        .await
        .unwrap();
    let printed = std::fs::canonicalize(out.data["stdout"].as_str().unwrap().trim()).unwrap();
    assert_eq!(printed, std::fs::canonicalize(dir.path()).unwrap());

    let missing = StepAction::Command(CommandStep {
        argv: vec!["pwd".into()],
        env: Vec::new(),
        workdir: Some(dir.path().join("nope")),
    });
    let err = act(&env().await, missing, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(err.message.contains("does not exist"), "{}", err.message);
}

// ---------------------------------------------------------------------------------------------
// From a runbook file, as an operator writes it.

#[tokio::test]
async fn steps_loaded_from_a_runbook_file_run() {
    let server = HttpServer::start();
    server.reply("/health", Reply::bytes("ok"));
    let env = env_with(
        TestConfig::minimal()
            .var("provider", "anthropic")
            .var("app_url", server.base_url()),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smoke.toml");
    std::fs::write(
        &path,
        r#"
name = "smoke"
title = "Smoke test"
workstream = "hosting"
params = [{ name = "app", default = "myapp" }]

[[steps]]
id = "health"
kind = "http_check"
timeout = "2s"
with = { url = "${vars.app_url}/health", body_contains = "ok", poll = "100ms" }

[[steps]]
id = "say"
kind = "command"
timeout = "2s"
with = { argv = ["echo", "${params.app}"] }
"#,
    )
    .unwrap();
    let runbook = load_file(&path, &env.config).unwrap_or_else(|errors| panic!("{errors:?}"));
    let health = run(&env, &runbook.steps[0]).await.unwrap();
    assert_eq!(health.data["status"], 200);
    let said = run(&env, &runbook.steps[1]).await.unwrap();
    assert_eq!(said.data["stdout"], "myapp\n");
    assert_eq!(server.hits("/health"), 1);
}
