//! Communications on loopback: facts from a recorded incident in the shipped templates, the
//! template check, LLM polish against local OpenAI / Anthropic wire-format servers (fallback,
//! both down, a dropped fact, the circuit breaker), team routes (webhook, PagerDuty) with
//! retries and failure reports, and a client notice drafted, edited, approved and delivered to
//! a real SMTP server (aiosmtpd), a webhook and an announcement channel; and, end to end, the
//! shipped `failover-hosting` on moto driven from the fake Discord through serenity
//! (`from_discord`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use lifeboat::approval::Person;
use lifeboat::chat::bot::Reply;
use lifeboat::chat::command::Command;
use lifeboat::config::Config;
use lifeboat::domain::event::{Event, NewEvent};
use lifeboat::domain::{Actor, IncidentId, RunId};
use lifeboat::ports::chat::{ChannelId, Chat, Message};
use lifeboat::ports::store::EventStore;
use lifeboat::runbook::load_file;
use lifeboat::runbook::state::RunStatus;
use lifeboat::store::SledStore;
use lifeboat::toml_source::TomlSource;

use crate::support::http::HttpServer;
use crate::support::{App, TestConfig, lifeboat, root, spawn_app, stderr, stdout};

// ---------------------------------------------------------------------------------------------
// A real SMTP server on loopback: aiosmtpd, writing each message it accepts to a file.

const SMTP_SERVER: &str = r#"
import datetime, ipaddress, json, logging, ssl, sys, time
from aiosmtpd.controller import Controller

# A refused TLS handshake is a test's expected outcome, not worth a traceback.
logging.getLogger("mail.log").setLevel(logging.CRITICAL)

def relay_certificate(folder):
    """A private CA (ca.pem, for the client to trust) and a certificate for 127.0.0.1 it signed."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    now = datetime.datetime.now(datetime.timezone.utc)
    def build(subject, issuer, public_key, signing_key, ca):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
             .public_key(public_key).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            b = (b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                  .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        return b.sign(signing_key, hashes.SHA256())
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lifeboat test CA")])
    ca = build(ca_name, ca_name, ca_key.public_key(), ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), ca_name, key.public_key(), ca_key, False)
    pem = serialization.Encoding.PEM
    open(folder + "/ca.pem", "wb").write(ca.public_bytes(pem))
    open(folder + "/relay.pem", "wb").write(leaf.public_bytes(pem))
    open(folder + "/relay.key", "wb").write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder + "/relay.pem", folder + "/relay.key")
    return context

class Keep:
    async def handle_DATA(self, server, session, envelope):
        with open(sys.argv[2], "a") as out:
            out.write(json.dumps({
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "tls": session.ssl is not None,
                "data": envelope.content.decode("utf-8", "replace"),
            }) + "\n")
        return "250 Message accepted"

def accept_any_login(server, session, envelope, mechanism, auth_data):
    with open(sys.argv[2] + ".logins", "a") as out:
        out.write(json.dumps({"tls": session.ssl is not None, "password": auth_data.password.decode()}) + "\n")
    return AuthResult(success=True)

options = {}
if len(sys.argv) > 3 and sys.argv[3] == "--login-in-clear":
    # A relay (or a middlebox that stripped STARTTLS) that takes a login without TLS.
    from aiosmtpd.smtp import AuthResult
    options = {"authenticator": accept_any_login, "auth_require_tls": False}
elif len(sys.argv) > 3:
    # Offer STARTTLS and refuse mail without it.
    options = {"tls_context": relay_certificate(sys.argv[3]), "require_starttls": True}
class BoundController(Controller):
    # Port 0 lets the OS pick a free port: learn the one bound before the start-up self-check
    # connects to it, and report it.
    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

controller = BoundController(Keep(), hostname="127.0.0.1", port=int(sys.argv[1]), **options)
controller.start()
print("ready", controller.port, flush=True)
while True:
    time.sleep(3600)
"#;

struct Smtp {
    child: Child,
    port: u16,
    mailbox: PathBuf,
}

impl Smtp {
    fn start(dir: &Path) -> Self {
        Self::launch(dir, false)
    }

    /// A plain relay on `port` (one a config already names).
    fn start_on(dir: &Path, port: u16) -> Self {
        Self::launch_on(dir, false, port)
    }

    /// A plain relay that offers AUTH without TLS and accepts any login.
    fn start_login_in_clear(dir: &Path) -> Self {
        Self::spawn(dir, &["--login-in-clear".into()], 0)
    }

    /// Logins the relay received: (over TLS, password).
    fn logins(&self) -> Vec<Value> {
        std::fs::read_to_string(self.mailbox.with_extension("jsonl.logins"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// A relay that offers STARTTLS (and requires it) with a certificate from a private CA,
    /// written to `dir/ca.pem`.
    fn start_tls(dir: &Path) -> Self {
        Self::launch(dir, true)
    }

    fn launch(dir: &Path, tls: bool) -> Self {
        Self::launch_on(dir, tls, 0)
    }

    fn launch_on(dir: &Path, tls: bool, port: u16) -> Self {
        let extra: Vec<std::ffi::OsString> = if tls {
            vec![dir.as_os_str().to_owned()]
        } else {
            Vec::new()
        };
        Self::spawn(dir, &extra, port)
    }

    /// Port 0: the relay binds a port the OS picks and reports it.
    fn spawn(dir: &Path, extra: &[std::ffi::OsString], port: u16) -> Self {
        let python = std::env::var_os("LIFEBOAT_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join(".venv/bin/python"));
        let mailbox = dir.join("mailbox.jsonl");
        let mut process = Process::new(&python);
        process
            .args(["-c", SMTP_SERVER, &port.to_string()])
            .arg(&mailbox);
        process.args(extra);
        let mut child = process
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} (run scripts/test, which installs aiosmtpd): {e}",
                    python.display()
                )
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "aiosmtpd did not start (is it installed in {}? scripts/test installs it): {line:?}",
                    python.display()
                )
            });
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            mailbox,
        }
    }

    fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.mailbox)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// A loopback port nothing listens on (yet).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// The bot over the real engine, a sled log and a chat recorder, with a recorded incident.

const OPENAI_KEY: &str = "sk-test-openai";
const ANTHROPIC_KEY: &str = "sk-ant-test";
const PD_KEY: &str = "R0UTINGKEY0123456789";
const SMTP_PASSWORD: &str = "smtp-pa55word-not-for-the-wire";

/// The comms bench: the app in process (chat recorder, simulated AWS) over a log that already
/// holds a failover in progress ([`record_incident`]), with every secret a route needs.
struct Bench {
    app: App,
    incident: IncidentId,
}

impl std::ops::Deref for Bench {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

/// The bench's config: the shipped templates, one communicator role, Heroku's runbook, quick
/// retries and a 5 s polish timeout, and the company's name. Tests add routes, LLMs and email.
fn comms() -> TestConfig {
    TestConfig::minimal()
        .shipped_templates()
        .set("access.communicators", ["900"])
        .push(
            "providers",
            json!({ "name": "heroku", "title": "Heroku", "workstream": "hosting", "runbook": "failover-hosting" }),
        )
        .set(
            "comms",
            json!({
                "services": ["the Example app"],
                "attempts": 3,
                "backoff": "10ms",
                "timeout": "3s",
                "polish_timeout": "5s",
                "breaker_cooldown": "1h",
            }),
        )
        .var("company", "Example")
}

async fn bench(config: TestConfig) -> Bench {
    bench_over(config, |store| store).await
}

/// A bench whose bot and engine write through `wrap(store)` (e.g. a store that refuses).
async fn bench_over(
    config: TestConfig,
    wrap: impl FnOnce(Arc<dyn EventStore>) -> Arc<dyn EventStore>,
) -> Bench {
    let app = spawn_app(config)
        .secret("OPENAI_API_KEY", OPENAI_KEY)
        .secret("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        .secret("PD_KEY", PD_KEY)
        .secret("SMTP_USER", "status")
        .secret("SMTP_PASSWORD", SMTP_PASSWORD)
        .seed(|store| {
            record_incident(store);
        })
        .store_through(wrap)
        .start()
        .await;
    Bench {
        app,
        incident: IncidentId("INC-20261125-100000".into()),
    }
}

/// A failover in progress: declared, a hosting run that restored a 25-minute-old backup.
fn record_incident(store: &dyn EventStore) -> IncidentId {
    let inc = IncidentId("INC-20261125-100000".into());
    let run = RunId("RUN-1".into());
    let events = [
        NewEvent::new(
            Actor::Bot,
            "incident.declared",
            json!({ "title": "Heroku down" }),
        )
        .incident(inc.clone()),
        NewEvent::new(
            Actor::Bot,
            "run.started",
            json!({ "runbook": "failover-hosting", "workstream": "hosting" }),
        )
        .incident(inc.clone())
        .run(run.clone()),
        NewEvent::new(
            Actor::Bot,
            "step.started",
            json!({ "step": "restore", "title": "Restore the last backup" }),
        )
        .incident(inc.clone())
        .run(run.clone()),
        NewEvent::new(
            Actor::Bot,
            "step.succeeded",
            json!({ "step": "restore", "kind": "backup_check", "output": { "age_secs": 1500 } }),
        )
        .incident(inc.clone())
        .run(run.clone()),
    ];
    for e in events {
        store.append(e).unwrap();
    }
    inc
}

impl Bench {
    /// The facts the log implies: start, expected recovery (start + hosting RTO), data loss.
    fn facts(&self) -> (String, String, &'static str) {
        let declared = &self.events("incident.declared")[0];
        let start = declared.at.format("%Y-%m-%d %H:%M UTC").to_string();
        let expected = (declared.at + chrono::Duration::hours(4))
            .format("%Y-%m-%d %H:%M UTC")
            .to_string();
        (start, expected, "25m 00s")
    }

    async fn line(&self, line: &str) -> Reply {
        self.app.say(line).await
    }

    fn bot_config(&self) -> Config {
        self.config.as_ref().clone()
    }

    fn posted(&self) -> Vec<Message> {
        self.chat().posts()
    }
}

fn person(name: &str, roles: &[&str]) -> Person {
    Person {
        id: name.into(),
        name: name.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

/// `[llm]`: OpenAI and Anthropic at local wire-format servers.
fn llm(openai: &HttpServer, anthropic: &HttpServer) -> Value {
    json!({
        "openai": { "base_url": openai.base_url(), "key_env": "OPENAI_API_KEY", "model": "gpt-4o-mini", "timeout": "5s" },
        "anthropic": { "base_url": anthropic.base_url(), "key_env": "ANTHROPIC_API_KEY", "model": "claude-sonnet-4-5", "timeout": "5s" },
    })
}

fn openai_answer(text: &str) -> String {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1764060000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": text, "refusal": null }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 100, "completion_tokens": 80, "total_tokens": 180 }
    })
    .to_string()
}

fn anthropic_answer(text: &str) -> String {
    json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [{ "type": "text", "text": text }],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": { "input_tokens": 100, "output_tokens": 80 }
    })
    .to_string()
}

const OPENAI_500: &str =
    r#"{"error":{"message":"The server had an error","type":"server_error","code":null}}"#;
const ANTHROPIC_529: &str =
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;

const ALICE: &str = "--as alice --roles responder,communicator";

// ---------------------------------------------------------------------------------------------
// Templates and facts

#[tokio::test]
async fn templates_render_the_facts_of_a_recorded_incident() {
    let b = bench(comms()).await;
    let (start, expected, loss) = b.facts();

    let reply = b
        .line(&format!("/comms draft clients initial {ALICE}"))
        .await;
    assert!(!reply.ephemeral, "{reply:?}");
    let text = &reply.message.content;
    assert!(text.contains("DRAFT-1"), "{text}");
    assert!(
        text.contains("Subject: Example: service continuity notice"),
        "{text}"
    );
    for fact in [
        start.as_str(),
        expected.as_str(),
        loss,
        "Heroku",
        "the Example app",
    ] {
        assert!(text.contains(fact), "`{fact}` missing from {text}");
    }
    let ids: Vec<&str> = reply
        .message
        .buttons
        .iter()
        .map(|b| b.custom_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "comms:edit:DRAFT-1",
            "comms:approve:DRAFT-1:v1",
            "comms:discard:DRAFT-1"
        ]
    );
    let drafted = &b.events("comms.drafted")[0];
    assert_eq!(drafted.incident.as_ref(), Some(&b.incident));
    assert_eq!(drafted.data["writer"], "template");
    assert_eq!(drafted.data["facts"]["data_loss_window"], loss);
    assert_eq!(drafted.data["facts"]["status"], "mitigating");
    assert_eq!(
        b.bot.draft_text("DRAFT-1").as_deref(),
        drafted.data["text"].as_str()
    );

    let reply = b
        .line(&format!("/comms draft internal initial {ALICE}"))
        .await;
    let text = &reply.message.content;
    assert!(text.contains("DRAFT-2"), "{text}");
    assert!(text.contains(b.incident.as_str()), "{text}");
    assert!(
        text.contains("Steps done: Restore the last backup"),
        "{text}"
    );

    let reply = b.line(&format!("/comms draft clients final {ALICE}")).await;
    assert!(reply.ephemeral);
    assert!(
        reply
            .message
            .content
            .contains("initial, update or resolved"),
        "{reply:?}"
    );
}

#[test]
fn a_template_with_an_unknown_variable_fails_check_with_file_and_line() {
    let project = TestConfig::minimal()
        .set("paths.templates", "templates")
        .project();
    let dir = &project.dir;
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    // "eta" also appears in the prose first: the error must point at the tag using it.
    std::fs::write(
        dir.path().join("templates/clients-update.md.j2"),
        "Subject: {{ company }}\n\nOur beta users are fine.\nExpected by {{ eta }}.\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("templates/clients-initial.md.j2"),
        "Since {{ started_at }}: {{ providers | join(\", \") }}.\n",
    )
    .unwrap();
    let out = lifeboat(dir.path(), &["check", "--config", "lifeboat.toml"], &[]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        err.contains("clients-update.md.j2:4:16: unknown variable `eta`"),
        "{err}"
    );
    assert!(!err.contains("clients-initial"), "{err}");
}

#[test]
fn a_notify_step_with_an_unknown_fact_or_template_fails_check_with_file_and_line() {
    // The runbook's positions in the errors below are those of this text, as written.
    let project = TestConfig::minimal()
        .set("paths.templates", "templates")
        .team("engineering", json!({}))
        .runbook(
            r#"name = "tell"
title = "Tell"
workstream = "hosting"

[[steps]]
id = "fine"
kind = "notify"
with = { team = "engineering", template = "internal-notify" }

[[steps]]
id = "eta"
kind = "notify"
with = { team = "engineering", message = "Since {{ started_at }}; back by {{ eta }}." }

[[steps]]
id = "missing"
kind = "notify"
with = { team = "engineering", template = "internal-pager" }

[[steps]]
id = "both"
kind = "notify"
with = { team = "engineering", message = "hi", template = "internal-notify" }
"#,
        )
        .project();
    let dir = &project.dir;
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/internal-notify.md.j2"),
        "{{ incident }} since {{ started_at }}\n",
    )
    .unwrap();
    let out = lifeboat(dir.path(), &["check", "--config", "lifeboat.toml"], &[]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        err.contains("tell.toml:13:32: unknown variable `eta` (messages may use: company,"),
        "{err}"
    );
    assert!(
        err.contains("tell.toml:18:32: no template `internal-pager.md.j2` in templates"),
        "{err}"
    );
    assert!(
        err.contains("tell.toml:23:")
            && err.contains("notify needs exactly one of `message` or `template`"),
        "{err}"
    );
    assert_eq!(
        err.matches("tell.toml:").count(),
        3,
        "the `fine` step passes: {err}"
    );
}

// ---------------------------------------------------------------------------------------------
// LLM polish

/// A polished notice that keeps every fact.
fn faithful(b: &Bench) -> String {
    let (start, expected, loss) = b.facts();
    format!(
        "Subject: Example: your service continues\n\nDear client,\n\nSince {start} our provider Heroku has had an outage. \
         We moved the Example app to our standby.\nFull service is expected by {expected}. Changes from the last {loss} may need re-entering.\n"
    )
}

#[tokio::test]
async fn openai_answering_500_falls_back_to_anthropic_and_the_fallback_is_logged() {
    let openai = HttpServer::start();
    let anthropic = HttpServer::start();
    let b = bench(
        comms()
            .set("comms.polish", true)
            .set("llm", llm(&openai, &anthropic)),
    )
    .await;
    openai.script("/v1/chat/completions", &[(500, OPENAI_500)]);
    let polished = faithful(&b);
    anthropic.script("/v1/messages", &[(200, &anthropic_answer(&polished))]);

    let reply = b
        .line(&format!("/comms draft clients initial {ALICE}"))
        .await;
    let text = &reply.message.content;
    assert!(text.contains(polished.trim()), "{text}");
    assert!(text.contains("polished by anthropic"), "{text}");
    assert!(
        text.contains("written by anthropic after a fallback (openai failed: openai answered 500"),
        "{text}"
    );

    let asked = &anthropic.requests("/v1/messages")[0];
    assert_eq!(asked.header("x-api-key").unwrap(), ANTHROPIC_KEY);
    assert_eq!(asked.header("anthropic-version").unwrap(), "2023-06-01");
    assert_eq!(asked.body["model"], "claude-sonnet-4-5");
    let prompt = asked.body["messages"][0]["content"].as_str().unwrap();
    assert!(prompt.contains("\"25m 00s\""), "{prompt}");
    assert!(prompt.contains("Dear customer"), "{prompt}");
    let first = &openai.requests("/v1/chat/completions")[0];
    assert_eq!(
        first.header("authorization").unwrap(),
        format!("Bearer {OPENAI_KEY}")
    );

    let drafted = &b.events("comms.drafted")[0];
    assert_eq!(drafted.data["writer"], "anthropic");
    assert_eq!(drafted.data["fallback"], true);
    assert_eq!(drafted.data["attempts"][0]["provider"], "openai");
    assert_eq!(drafted.data["attempts"][0]["outcome"], "failed");
    assert_eq!(drafted.data["attempts"][1]["outcome"], "wrote");
    assert_eq!(drafted.data["text"], polished.trim());
    let log = serde_json::to_string(&b.store.all().unwrap()).unwrap();
    assert!(!log.contains(OPENAI_KEY) && !log.contains(ANTHROPIC_KEY));
}

#[tokio::test]
async fn openai_not_answering_within_the_polish_timeout_falls_back_to_anthropic() {
    let openai = HttpServer::start();
    let anthropic = HttpServer::start();
    let b = bench(
        comms()
            .set("comms.polish", true)
            .set("comms.polish_timeout", "300ms")
            .set("llm", llm(&openai, &anthropic)),
    )
    .await;
    // OpenAI accepts the request and never answers in time.
    openai.script("/v1/chat/completions", &[(200, &openai_answer("too late"))]);
    openai.stall("/v1/chat/completions", Duration::from_secs(30));
    let polished = faithful(&b);
    anthropic.script("/v1/messages", &[(200, &anthropic_answer(&polished))]);

    let started = std::time::Instant::now();
    let reply = b
        .line(&format!("/comms draft clients initial {ALICE}"))
        .await;
    let took = started.elapsed();
    // Well short of the 30s stall, so the 300ms timeout cut it (roomy for a loaded machine).
    assert!(
        took < Duration::from_secs(20),
        "the draft waited {took:?} for a provider that never answers"
    );
    let text = &reply.message.content;
    assert!(text.contains(polished.trim()), "{text}");
    assert!(text.contains("polished by anthropic"), "{text}");
    assert!(
        text.contains("written by anthropic after a fallback (openai failed: "),
        "{text}"
    );
    assert_eq!(openai.requests("/v1/chat/completions").len(), 1);
    assert_eq!(anthropic.requests("/v1/messages").len(), 1);

    let drafted = &b.events("comms.drafted")[0];
    assert_eq!(drafted.data["writer"], "anthropic");
    assert_eq!(drafted.data["fallback"], true);
    let first = &drafted.data["attempts"][0];
    assert_eq!(first["provider"], "openai");
    assert_eq!(first["outcome"], "failed");
    assert_eq!(first["detail"], "openai did not answer within 300ms");
    assert!(
        text.contains("openai failed: openai did not answer within 300ms"),
        "the thread says why: {text}"
    );
    assert_eq!(drafted.data["attempts"][1]["outcome"], "wrote");
    assert_eq!(drafted.data["text"], polished.trim());

    // A timeout trips the breaker like a 5xx: the next draft skips OpenAI at once.
    b.line(&format!("/comms draft clients update {ALICE}"))
        .await;
    assert_eq!(openai.requests("/v1/chat/completions").len(), 1);
    let second = &b.events("comms.drafted")[1];
    assert_eq!(second.data["attempts"][0]["outcome"], "skipped");
}

#[tokio::test]
async fn with_both_providers_down_the_template_text_is_used_and_the_channel_says_so() {
    let openai = HttpServer::start();
    let anthropic = HttpServer::start();
    let b = bench(
        comms()
            .set("comms.polish", true)
            .set("llm", llm(&openai, &anthropic)),
    )
    .await;
    openai.script("/v1/chat/completions", &[(500, OPENAI_500)]);
    anthropic.script("/v1/messages", &[(529, ANTHROPIC_529)]);

    let reply = b
        .line(&format!("/comms draft clients initial {ALICE}"))
        .await;
    let text = &reply.message.content;
    assert!(!reply.ephemeral);
    assert!(
        text.contains("template text kept: no LLM provider could polish it"),
        "{text}"
    );
    assert!(text.contains("anthropic answered 529"), "{text}");
    assert!(text.contains("Dear customer"), "{text}");
    let drafted = &b.events("comms.drafted")[0];
    assert_eq!(drafted.data["writer"], "template");
    assert_eq!(drafted.data["text"], drafted.data["template_text"]);
}

#[tokio::test]
async fn a_model_output_that_drops_a_fact_is_rejected() {
    let openai = HttpServer::start();
    let anthropic = HttpServer::start();
    let b = bench(
        comms()
            .set("comms.polish", true)
            .set("llm", llm(&openai, &anthropic)),
    )
    .await;
    // The model "helpfully" rounds the data-loss window.
    let unfaithful = faithful(&b).replace("25m 00s", "half an hour");
    openai.script(
        "/v1/chat/completions",
        &[(200, &openai_answer(&unfaithful))],
    );

    let reply = b
        .line(&format!("/comms draft clients initial {ALICE}"))
        .await;
    let text = &reply.message.content;
    assert!(
        text.contains("template text kept: openai's text dropped or changed \"25m 00s\""),
        "{text}"
    );
    assert!(!text.contains("half an hour"), "{text}");
    assert!(text.contains("Dear customer"), "{text}");
    let drafted = &b.events("comms.drafted")[0];
    assert_eq!(drafted.data["writer"], "template");
    assert_eq!(drafted.data["attempts"][0]["outcome"], "rejected");
    assert_eq!(anthropic.requests("/v1/messages").len(), 0);
}

#[tokio::test]
async fn the_circuit_breaker_skips_a_dead_provider() {
    let openai = HttpServer::start();
    let anthropic = HttpServer::start();
    let b = bench(
        comms()
            .set("comms.polish", true)
            .set("llm", llm(&openai, &anthropic)),
    )
    .await;
    openai.script("/v1/chat/completions", &[(500, OPENAI_500)]);
    anthropic.script("/v1/messages", &[(200, &anthropic_answer(&faithful(&b)))]);

    b.line(&format!("/comms draft clients initial {ALICE}"))
        .await;
    let reply = b
        .line(&format!("/comms draft clients initial {ALICE}"))
        .await;
    assert!(
        reply.message.content.contains("polished by anthropic"),
        "{reply:?}"
    );
    assert_eq!(
        openai.requests("/v1/chat/completions").len(),
        1,
        "the open circuit skipped openai"
    );
    assert_eq!(anthropic.requests("/v1/messages").len(), 2);
    let second = &b.events("comms.drafted")[1];
    assert_eq!(second.data["attempts"][0]["provider"], "openai");
    assert_eq!(second.data["attempts"][0]["outcome"], "skipped");
    assert!(
        second.data["attempts"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("circuit open"),
        "{second:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Team routes

/// The engineering team with every route: its channel (and role), a webhook, PagerDuty.
fn team(config: TestConfig, webhook: &str, events_url: &str) -> TestConfig {
    config.team(
        "engineering",
        json!({
            "channel_id": "77",
            "role_id": "88",
            "webhook_url": webhook,
            "pagerduty_routing_key_env": "PD_KEY",
            "events_url": events_url,
        }),
    )
}

const PD_OK: &str =
    r#"{"status":"success","message":"Event processed","dedup_key":"INC-20261125-100000"}"#;

#[tokio::test]
async fn every_route_of_a_team_gets_a_well_formed_payload_and_recovery_resolves_the_page() {
    let ep = HttpServer::start();
    ep.script("/hook", &[(200, "ok")]);
    ep.script("/v2/enqueue", &[(202, PD_OK)]);
    let b = bench(team(comms(), &ep.url("/hook"), &ep.url("/v2/enqueue"))).await;

    let reply = b
        .line(&format!(
            "/notify team engineering Heroku is down; failing over {ALICE}"
        ))
        .await;
    assert!(!reply.ephemeral);
    assert!(
        reply
            .message
            .content
            .contains("notified engineering: discord ✔, webhook ✔, pagerduty ✔"),
        "{reply:?}"
    );
    let in_channel = b.chat().in_channel(&ChannelId("77".into()));
    assert_eq!(in_channel[0].content, "<@&88> Heroku is down; failing over");
    let hook = &ep.requests("/hook")[0];
    assert_eq!(hook.header("content-type").unwrap(), "application/json");
    assert_eq!(hook.body, json!({ "text": "Heroku is down; failing over" }));
    let page = &ep.requests("/v2/enqueue")[0];
    assert_eq!(page.body["routing_key"], PD_KEY);
    assert_eq!(page.body["event_action"], "trigger");
    assert_eq!(page.body["dedup_key"], b.incident.as_str());
    assert_eq!(
        page.body["payload"]["summary"],
        "Heroku is down; failing over"
    );
    assert_eq!(page.body["payload"]["severity"], "critical");
    assert_eq!(page.body["payload"]["source"], "lifeboat");

    let delivered: Vec<(String, u64)> = b
        .events("notify.delivered")
        .iter()
        .map(|e| {
            (
                e.data["route"].as_str().unwrap().to_owned(),
                e.data["attempt"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        delivered,
        [
            ("discord".to_owned(), 1),
            ("webhook".to_owned(), 1),
            ("pagerduty".to_owned(), 1)
        ]
    );
    let log = serde_json::to_string(&b.store.all().unwrap()).unwrap();
    assert!(
        !log.contains(PD_KEY),
        "the routing key stays out of the log"
    );

    let reply = b.line(&format!("/notify team enginering hi {ALICE}")).await;
    assert!(reply.ephemeral);
    assert!(
        reply
            .message
            .content
            .contains("no team `enginering` (teams: engineering)"),
        "{reply:?}"
    );

    // Without text, the team gets the notify template with the incident's facts.
    b.line(&format!("/notify team engineering {ALICE}")).await;
    let hook = &ep.requests("/hook")[1];
    let text = hook.body["text"].as_str().unwrap();
    assert!(text.starts_with(b.incident.as_str()), "{text}");
    assert!(text.contains("Data-loss window: 25m 00s"), "{text}");
    assert_eq!(
        ep.requests("/v2/enqueue")[1].body["dedup_key"],
        b.incident.as_str()
    );

    // Recovery resolves the same alert.
    let reply = b.line(&format!("/incident resolve {ALICE}")).await;
    assert!(
        reply
            .message
            .content
            .contains("engineering's page resolved"),
        "{reply:?}"
    );
    let resolve = ep.requests("/v2/enqueue").pop().unwrap();
    assert_eq!(
        resolve.body,
        json!({ "routing_key": PD_KEY, "event_action": "resolve", "dedup_key": b.incident.as_str() })
    );
}

#[tokio::test]
async fn a_route_that_fails_twice_then_succeeds_is_retried() {
    let ep = HttpServer::start();
    ep.script("/hook", &[(500, "down"), (502, "bad gateway"), (200, "ok")]);
    ep.script("/v2/enqueue", &[(202, PD_OK)]);
    let b = bench(team(comms(), &ep.url("/hook"), &ep.url("/v2/enqueue"))).await;

    let reply = b
        .line(&format!("/notify team engineering failing over {ALICE}"))
        .await;
    assert!(reply.message.content.contains("webhook ✔"), "{reply:?}");
    assert_eq!(ep.requests("/hook").len(), 3);
    let attempts: Vec<(String, u64)> = b
        .store
        .all()
        .unwrap()
        .iter()
        .filter(|e| e.kind.starts_with("notify.") && e.data["route"] == "webhook")
        .map(|e| (e.kind.clone(), e.data["attempt"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        attempts,
        [
            ("notify.failed".to_owned(), 1),
            ("notify.failed".to_owned(), 2),
            ("notify.delivered".to_owned(), 3)
        ]
    );
    assert!(
        !b.posted().iter().any(|m| m.content.starts_with("⚠️")),
        "a route that recovered is not reported"
    );
}

#[tokio::test]
async fn a_route_that_always_fails_is_reported_in_the_incident_channel() {
    let ep = HttpServer::start();
    ep.script("/hook", &[(503, "maintenance")]);
    let b = bench(team(comms(), &ep.url("/hook"), &ep.url("/v2/enqueue"))).await;
    ep.script("/v2/enqueue", &[(202, PD_OK)]);

    let reply = b
        .line(&format!("/notify team engineering failing over {ALICE}"))
        .await;
    assert!(reply.message.content.contains("webhook ✖"), "{reply:?}");
    assert_eq!(ep.requests("/hook").len(), 3, "attempts = 3");
    let failed = b.events("notify.failed");
    assert_eq!(failed.len(), 3);
    assert_eq!(failed[2].data["final"], true);
    let report = b.chat().in_channel(&ChannelId("incident".into()));
    assert!(
        report.iter().any(|m| m
            .content
            .starts_with("⚠️ Notifying engineering via webhook failed after 3 attempts: POST")
            && m.content.contains("503")),
        "{report:?}"
    );
}

#[tokio::test]
async fn with_the_incident_thread_open_failures_are_reported_in_the_thread() {
    let ep = HttpServer::start();
    ep.script("/hook", &[(503, "maintenance")]);
    ep.script("/v2/enqueue", &[(202, PD_OK)]);
    // Nothing listens on the relay's port: the email output fails on every attempt.
    let port = free_port();
    let b = bench(team(comms(), &ep.url("/hook"), &ep.url("/v2/enqueue")).set(
        "comms.email",
        json!({
            "smtp_host": "127.0.0.1", "smtp_port": port, "from": "status@example.com",
            "recipients": ["ops@client.example"], "timeout": "2s",
        }),
    ))
    .await;
    let thread = b
        .chat()
        .open_thread(&ChannelId("incident".into()), None, "INC-20261125-100000")
        .await
        .unwrap();
    b.store
        .append(
            NewEvent::new(
                Actor::Bot,
                lifeboat::ports::chat::THREAD_OPENED,
                json!({ "thread": thread.0 }),
            )
            .incident(b.incident.clone()),
        )
        .unwrap();

    b.line(&format!("/notify team engineering failing over {ALICE}"))
        .await;
    b.line(&format!("/comms draft clients update {ALICE}"))
        .await;
    let reply = b
        .line("/comms approve DRAFT-1 --as carol --roles communicator")
        .await;
    assert!(reply.message.content.contains("email ✖"), "{reply:?}");

    let in_thread: Vec<String> = b
        .chat()
        .in_channel(&thread)
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert!(
        in_thread
            .iter()
            .any(|m| m.starts_with("⚠️ Notifying engineering via webhook failed after 3 attempts")),
        "{in_thread:?}"
    );
    assert!(
        in_thread
            .iter()
            .any(|m| m.starts_with("⚠️ Sending DRAFT-1 via email failed after 3 attempts")),
        "{in_thread:?}"
    );
    assert!(
        !b.chat()
            .in_channel(&ChannelId("incident".into()))
            .iter()
            .any(|m| m.content.starts_with("⚠️")),
        "reports go to the thread, not the channel"
    );
}

// ---------------------------------------------------------------------------------------------
// Drafted, edited, approved, delivered

#[tokio::test]
async fn a_notice_is_drafted_edited_approved_by_a_communicator_and_sent_as_approved() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(dir.path());
    let ep = HttpServer::start();
    ep.script("/notice", &[(200, "ok")]);
    let b = bench(
        comms()
            .set("comms.announcement_channel_id", "555")
            .set("comms.webhook_url", ep.url("/notice"))
            .set(
                "comms.email",
                json!({
                    "smtp_host": "127.0.0.1",
                    "smtp_port": smtp.port,
                    "from": "Example Status <status@example.com>",
                    "recipients": ["ops@client-one.example", "it@client-two.example"],
                    "timeout": "5s",
                }),
            ),
    )
    .await;
    let (start, _, loss) = b.facts();

    let reply = b
        .line("/comms draft clients initial --as alice --roles responder")
        .await;
    assert!(reply.message.content.contains("DRAFT-1"), "{reply:?}");

    // The [Edit] modal sends the whole text back, line breaks included.
    let edited = format!(
        "Subject: Example: we keep running\n\nDear customer,\n\nSince {start} we run on our standby.\nChanges from the last {loss} may need re-entering.\n\nThe Example team"
    );
    let reply = b
        .bot
        .handle(
            Command::CommsEdit {
                draft: "DRAFT-1".into(),
                text: edited.clone(),
            },
            &person("dave", &["responder"]),
        )
        .await;
    assert!(
        reply.message.content.contains("edited by dave"),
        "{reply:?}"
    );
    assert_eq!(
        reply.message.buttons[1].custom_id, "comms:approve:DRAFT-1:v2",
        "the edited draft's [Approve] names the new version"
    );
    assert_eq!(
        b.bot.draft_text("DRAFT-1").as_deref(),
        Some(edited.as_str())
    );

    // A responder is not a communicator.
    let reply = b
        .line("/comms approve DRAFT-1 --as bob --roles responder,approver")
        .await;
    assert!(reply.ephemeral);
    assert!(
        reply
            .message
            .content
            .contains("needs the communicator role"),
        "{reply:?}"
    );
    // The author may not approve their own draft (by default), even as a communicator.
    let reply = b
        .line("/comms approve DRAFT-1 v2 --as alice --roles communicator")
        .await;
    assert!(
        reply
            .message
            .content
            .contains("another communicator must approve"),
        "{reply:?}"
    );
    assert!(smtp.messages().is_empty() && ep.requests("/notice").is_empty());

    // An approval of the text as drafted (v1, the default) no longer covers it.
    let reply = b
        .line("/comms approve DRAFT-1 --as carol --roles communicator")
        .await;
    assert!(reply.ephemeral);
    assert!(
        reply
            .message
            .content
            .contains("DRAFT-1 has changed since v1: it is now v2, edited by dave"),
        "{reply:?}"
    );
    assert!(smtp.messages().is_empty() && ep.requests("/notice").is_empty());

    // A communicator by Discord role id, approving the version read.
    let reply = b
        .bot
        .handle(
            Command::CommsApprove {
                draft: "DRAFT-1".into(),
                version: Some(2),
            },
            &Person {
                id: "123".into(),
                name: "carol".into(),
                roles: vec!["900".into()],
            },
        )
        .await;
    assert!(!reply.ephemeral);
    assert!(
        reply
            .message
            .content
            .contains("DRAFT-1 v2 approved by carol; sent: announcement ✔, webhook ✔, email ✔"),
        "{reply:?}"
    );

    let approved = &b.events("comms.approved")[0];
    assert_eq!(approved.data["text"], edited.as_str());
    assert_eq!(approved.data["version"], 2);
    // The email: right envelope, headers and body.
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0]["mail_from"], "status@example.com");
    assert_eq!(
        mail[0]["rcpt_tos"],
        json!(["ops@client-one.example", "it@client-two.example"])
    );
    let data = mail[0]["data"].as_str().unwrap().replace("\r\n", "\n");
    let (headers, body) = data.split_once("\n\n").unwrap();
    assert!(
        headers.contains("Subject: Example: we keep running"),
        "{headers}"
    );
    // Blind copies: each client gets it without seeing the other clients' addresses.
    assert!(!headers.contains("client-one"), "{headers}");
    assert!(
        headers.contains("From: \"Example Status\" <status@example.com>"),
        "{headers}"
    );
    assert!(headers.contains("Content-Type: text/plain"), "{headers}");
    let (_, expected_body) = edited.split_once("\n\n").unwrap();
    assert_eq!(body.trim(), expected_body);
    // The webhook and the announcement channel carry the approved text exactly.
    assert_eq!(ep.requests("/notice")[0].body, json!({ "text": edited }));
    assert_eq!(
        b.chat().in_channel(&ChannelId("555".into()))[0].content,
        edited
    );
    let sent = b.events("comms.sent");
    assert_eq!(sent.len(), 3);
    for e in &sent {
        assert_eq!(e.data["text"], edited.as_str(), "{e:?}");
    }
    // The number of recipients and their domains; the addresses stay in the config.
    assert_eq!(sent[2].data["recipient_count"], 2);
    assert_eq!(
        sent[2].data["recipient_domains"],
        json!(["client-one.example", "client-two.example"])
    );
    assert!(sent[2].data.get("recipients").is_none(), "{:?}", sent[2]);

    // Sent is final.
    let reply = b
        .line("/comms approve DRAFT-1 --as erin --roles communicator")
        .await;
    assert!(reply.message.content.contains("already sent"), "{reply:?}");
    let reply = b
        .line("/comms show DRAFT-1 --as erin --roles communicator")
        .await;
    assert!(
        reply.message.content.contains("is sent, approved by carol"),
        "{reply:?}"
    );
}

#[tokio::test]
async fn a_discarded_draft_cannot_be_approved_and_an_email_that_fails_is_reported() {
    // Nothing listens on this port: the email route fails on every attempt.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let b = bench(comms().set(
        "comms.email",
        json!({
            "smtp_host": "127.0.0.1", "smtp_port": port, "from": "status@example.com",
            "recipients": ["ops@client.example"], "timeout": "2s",
        }),
    ))
    .await;
    b.line(&format!("/comms draft clients update {ALICE}"))
        .await;
    b.line(&format!("/comms draft clients update {ALICE}"))
        .await;
    let reply = b.line(&format!("/comms discard DRAFT-1 {ALICE}")).await;
    assert!(
        reply.message.content.contains("DRAFT-1 discarded"),
        "{reply:?}"
    );
    let reply = b
        .line("/comms approve DRAFT-1 --as carol --roles communicator")
        .await;
    assert!(
        reply.message.content.contains("already discarded"),
        "{reply:?}"
    );

    let reply = b
        .line("/comms approve DRAFT-2 --as carol --roles communicator")
        .await;
    assert!(reply.message.content.contains("email ✖"), "{reply:?}");
    let failed = b.events("comms.delivery_failed");
    assert_eq!(failed.len(), 3);
    assert!(
        b.chat()
            .in_channel(&ChannelId("incident".into()))
            .iter()
            .any(|m| m
                .content
                .starts_with("⚠️ Sending DRAFT-2 via email failed after 3 attempts")),
        "{:?}",
        b.posted()
    );
    assert!(b.events("comms.sent").is_empty());
}

#[tokio::test]
async fn the_runbook_steps_notify_every_route_and_draft_for_approval() {
    let ep = HttpServer::start();
    ep.script("/hook", &[(200, "ok")]);
    ep.script("/v2/enqueue", &[(202, PD_OK)]);
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(dir.path());
    let b = bench(team(comms(), &ep.url("/hook"), &ep.url("/v2/enqueue")).set(
        "comms.email",
        json!({
            "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "from": "status@example.com",
            "recipients": ["ops@client.example"],
        }),
    ))
    .await;
    let path = b.dir.path().join("tell.toml");
    std::fs::write(
        &path,
        r#"
name = "tell"
title = "Tell everyone"
workstream = "hosting"

[[steps]]
id = "tell"
title = "Tell engineering"
kind = "notify"
with = { team = "engineering", message = "Hosting failed over to AWS." }

[[steps]]
id = "facts"
title = "Tell engineering the facts"
kind = "notify"
with = { team = "engineering", message = "${vars.company}: {{ incident }} since {{ started_at }}, data-loss window {{ data_loss_window }}." }

[[steps]]
id = "template"
title = "Tell engineering from the template"
kind = "notify"
with = { team = "engineering", template = "internal-notify" }

[[steps]]
id = "draft"
title = "Draft the client update"
kind = "comms_draft"
with = { audience = "clients", notice = "update" }
"#,
    )
    .unwrap();
    let rb = load_file(&path, &b.bot_config()).unwrap_or_else(|e| panic!("{e:#?}"));
    let handle = b
        .engine
        .start(&rb, BTreeMap::new(), Some(b.incident.clone()), Actor::Bot)
        .unwrap();
    let run = handle.run.clone();
    let status = tokio::time::timeout(Duration::from_secs(30), handle.task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, RunStatus::Succeeded);

    let text = format!("[{run}] Hosting failed over to AWS.");
    assert_eq!(ep.requests("/hook")[0].body, json!({ "text": text }));
    let page = &ep.requests("/v2/enqueue")[0];
    assert_eq!(page.body["dedup_key"], b.incident.as_str());
    assert_eq!(page.body["payload"]["summary"], text.as_str());
    let delivered = b.events("notify.delivered");
    assert_eq!(delivered.len(), 9, "three steps, three routes each");
    assert!(delivered[..3].iter().all(|e| e.data["run"] == run.as_str()
        && e.incident.as_ref() == Some(&b.incident)
        && e.data["text"] == text.as_str()));

    // A message may state the incident's facts; a template is rendered with them.
    let (start, expected, loss) = b.facts();
    assert_eq!(
        ep.requests("/hook")[1].body["text"],
        format!(
            "[{run}] Example: {} since {start}, data-loss window {loss}.",
            b.incident
        )
    );
    let templated = ep.requests("/hook")[2].body["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        templated.starts_with(&format!("[{run}] {} (", b.incident)),
        "{templated}"
    );
    for fact in [&start, &expected, loss] {
        assert!(templated.contains(fact), "{fact} not in {templated}");
    }
    assert!(
        templated.contains("Tell engineering the facts"),
        "the steps done so far: {templated}"
    );
    assert_eq!(
        ep.requests("/v2/enqueue")[2].body["payload"]["summary"],
        templated.lines().next().unwrap(),
        "PagerDuty's summary is the first line"
    );

    // The step's draft waits for a communicator like any other.
    let draft = b
        .posted()
        .into_iter()
        .find(|m| m.content.starts_with("📝 DRAFT-1"))
        .expect("the draft is posted in the incident channel");
    assert_eq!(draft.buttons[1].custom_id, "comms:approve:DRAFT-1:v1");
    assert!(draft.content.contains("25m 00s"), "{}", draft.content);
    let drafted = &b.events("comms.drafted")[0];
    assert_eq!(drafted.data["run"], run.as_str());
    assert_eq!(drafted.actor, Actor::Bot);
    let reply = b
        .line("/comms approve DRAFT-1 --as carol --roles communicator")
        .await;
    assert!(reply.message.content.contains("sent: email ✔"), "{reply:?}");
    let approved = drafted.data["text"].as_str().unwrap();
    assert_eq!(b.events("comms.approved")[0].data["text"], approved);
    let mail = smtp.messages();
    assert_eq!(mail[0]["rcpt_tos"], json!(["ops@client.example"]));
    let data = mail[0]["data"].as_str().unwrap().replace("\r\n", "\n");
    assert!(
        data.contains("Subject: Example: update on the service incident"),
        "{data}"
    );
    assert!(data.contains("25m 00s"), "{data}");

    // Recovery resolves the page the step opened.
    b.line(&format!("/incident resolve {ALICE}")).await;
    assert_eq!(
        ep.requests("/v2/enqueue").last().unwrap().body["event_action"],
        "resolve"
    );
}

#[tokio::test]
async fn email_goes_over_starttls_when_the_relay_offers_it_and_never_falls_back_to_plain() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start_tls(dir.path());
    let email = |ca_file: Option<&Path>| {
        let mut email = json!({
            "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "from": "status@example.com",
            "recipients": ["ops@client.example"], "timeout": "5s",
        });
        if let Some(ca) = ca_file {
            email["ca_file"] = json!(ca.display().to_string());
        }
        comms().set("comms.email", email)
    };
    let ca = dir.path().join("ca.pem");

    // Trusting the relay's private CA: the message goes through STARTTLS.
    let b = bench(email(Some(&ca))).await;
    b.line(&format!("/comms draft clients initial {ALICE}"))
        .await;
    let reply = b
        .line("/comms approve DRAFT-1 --as carol --roles communicator")
        .await;
    assert!(reply.message.content.contains("email ✔"), "{reply:?}");
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0]["tls"], true, "{mail:?}");

    // Not trusting it: the TLS handshake fails and nothing is sent in the clear.
    let b = bench(email(None)).await;
    b.line(&format!("/comms draft clients initial {ALICE}"))
        .await;
    let reply = b
        .line("/comms approve DRAFT-1 --as carol --roles communicator")
        .await;
    assert!(reply.message.content.contains("email ✖"), "{reply:?}");
    let failed = b.events("comms.delivery_failed");
    let error = failed[0].data["error"].as_str().unwrap();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert_eq!(smtp.messages().len(), 1, "no message in the clear");
}

// ---------------------------------------------------------------------------------------------
// Review fixes: TLS with a login, secrets in errors, drills, approval rules, resend, facts

#[tokio::test]
async fn with_a_login_email_is_never_sent_without_tls() {
    let dir = tempfile::tempdir().unwrap();
    // A relay that does not offer STARTTLS (or a middlebox that stripped it) and would take
    // the login in the clear.
    let smtp = Smtp::start_login_in_clear(dir.path());
    // `tls` unset, or set to `starttls` or `wrapper`; with a login unless `login` is false.
    let email = |tls: Option<&str>, login: bool| {
        let mut email = json!({
            "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "from": "status@example.com",
            "recipients": ["ops@client.example"], "timeout": "5s",
        });
        if login {
            email["username_env"] = json!("SMTP_USER");
            email["password_env"] = json!("SMTP_PASSWORD");
        }
        if let Some(tls) = tls {
            email["tls"] = json!(tls);
        }
        comms().set("comms.email", email)
    };
    for extra in [None, Some("starttls"), Some("wrapper")] {
        let b = bench(email(extra, true)).await;
        b.line(&format!("/comms draft clients initial {ALICE}"))
            .await;
        let reply = b
            .line("/comms approve DRAFT-1 --as carol --roles communicator")
            .await;
        assert!(
            reply.message.content.contains("email ✖"),
            "{extra:?}: {reply:?}"
        );
        let failed = b.events("comms.delivery_failed");
        assert_eq!(failed.len(), 3, "{extra:?}");
        let error = failed[0].data["error"].as_str().unwrap();
        if extra == Some("wrapper") {
            assert!(error.contains("refused or failed"), "{error}");
        } else {
            assert!(
                error.contains("a login needs TLS and the server did not offer STARTTLS"),
                "{extra:?}: {error}"
            );
        }
        assert!(b.events("comms.sent").is_empty());
        let log = serde_json::to_string(&b.store.all().unwrap()).unwrap();
        assert!(!log.contains(SMTP_PASSWORD));
        assert!(
            !b.posted().iter().any(|m| m.content.contains(SMTP_PASSWORD)),
            "{:?}",
            b.posted()
        );
    }
    assert!(smtp.messages().is_empty(), "nothing was sent in the clear");
    assert!(
        smtp.logins().is_empty(),
        "the password never crossed: {:?}",
        smtp.logins()
    );

    // Without a login, opportunistic STARTTLS still delivers to a plain relay.
    let b = bench(email(None, false)).await;
    b.line(&format!("/comms draft clients initial {ALICE}"))
        .await;
    let reply = b
        .line("/comms approve DRAFT-1 --as carol --roles communicator")
        .await;
    assert!(reply.message.content.contains("email ✔"), "{reply:?}");
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(smtp.messages()[0]["tls"], false);
}

#[tokio::test]
async fn a_webhook_token_never_reaches_events_or_chat_however_the_url_is_spelled() {
    let ep = HttpServer::start();
    let port = ep.base_url().rsplit(':').next().unwrap().to_owned();
    // The endpoint echoes the path in its 404 ("no reply scripted for /services/...").
    let answering = format!("http://LocalHost:{port}/services/T1/B1/ANSWERTOKEN");
    // Nothing listens here: reqwest's error would carry the (normalised) URL.
    let dead = format!("http://LOCALHOST:{}/services/T0/B0/DEADTOKEN", free_port());
    let b = bench(
        comms()
            .set("comms.webhook_url", &dead)
            .team("engineering", json!({ "webhook_url": answering }))
            .team("support", json!({ "webhook_url": dead })),
    )
    .await;
    let mut replies = Vec::new();
    for team in ["engineering", "support"] {
        let reply = b
            .line(&format!("/notify team {team} failing over {ALICE}"))
            .await;
        assert!(reply.message.content.contains("webhook ✖"), "{reply:?}");
        replies.push(reply.message.content);
    }
    assert_eq!(
        ep.requests("/services/T1/B1/ANSWERTOKEN").len(),
        3,
        "it was reached"
    );
    b.line(&format!("/comms draft clients initial {ALICE}"))
        .await;
    let reply = b
        .line("/comms approve DRAFT-1 --as carol --roles communicator")
        .await;
    assert!(reply.message.content.contains("webhook ✖"), "{reply:?}");
    replies.push(reply.message.content);

    let log = serde_json::to_string(&b.store.all().unwrap()).unwrap();
    let chat: Vec<String> = b.posted().into_iter().map(|m| m.content).collect();
    assert!(log.contains("notify.failed") && log.contains("comms.delivery_failed"));
    assert!(
        chat.iter().any(|m| m.contains("failed after 3 attempts")),
        "{chat:?}"
    );
    for token in ["ANSWERTOKEN", "DEADTOKEN", "/services/"] {
        assert!(!log.contains(token), "`{token}` in the log: {log}");
        for text in chat.iter().chain(&replies) {
            assert!(!text.contains(token), "`{token}` in chat: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_drill_never_reaches_the_real_teams_pagerduty_or_clients() {
    let ep = HttpServer::start();
    ep.script("/hook", &[(200, "ok")]);
    ep.script("/v2/enqueue", &[(202, PD_OK)]);
    ep.script("/notice", &[(200, "ok")]);
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(dir.path());
    let checked = lifeboat::check::check(&root().join("config/lifeboat.toml"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let mut config = checked.config.config;
    assert!(!config.teams.is_empty());
    for team in &mut config.teams {
        team.webhook_url = Some(ep.url("/hook"));
        team.pagerduty_routing_key_env = Some("LIFEBOAT_TEST_PD".into());
        team.events_url = ep.url("/v2/enqueue");
    }
    config.comms.webhook_url = Some(ep.url("/notice"));
    config.comms.announcement_channel_id = Some("555".into());
    config.comms.email = Some(lifeboat::config::EmailConfig {
        smtp_host: "127.0.0.1".into(),
        smtp_port: smtp.port,
        from: "status@example.com".into(),
        recipients: vec!["ops@client.example".into()],
        username_env: None,
        password_env: None,
        ca_file: None,
        tls: None,
        timeout: lifeboat::duration::HumanDuration::from_secs(5),
    });
    let data = dir.path().join("log");
    let drilled = lifeboat::service::drill::run(
        &config,
        &checked.runbooks.runbooks,
        lifeboat::domain::Scenario::HerokuOutage,
        &data,
        std::sync::Arc::new(lifeboat::ports::clock::TokioClock::new()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(!drilled.outcomes.is_empty());
    assert_eq!(
        ep.total_hits(),
        0,
        "no webhook, page or notice left the drill"
    );
    assert!(smtp.messages().is_empty(), "no email left the drill");

    let store = SledStore::open(&data).unwrap();
    let events = store.all().unwrap();
    let delivered: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == "notify.delivered")
        .collect();
    assert!(!delivered.is_empty(), "the drill's notify steps ran");
    assert!(
        delivered.iter().all(|e| e.data["route"] == "discord"),
        "{delivered:?}"
    );
    assert!(!events.iter().any(|e| e.kind == "comms.sent"));
}

/// A store that refuses appends of one kind, as a full disk would.
struct Refusing {
    inner: Arc<dyn EventStore>,
    kind: Mutex<Option<&'static str>>,
}

impl Refusing {
    fn refuse(&self, kind: Option<&'static str>) {
        *self.kind.lock().unwrap() = kind;
    }

    fn check(&self, event: &NewEvent) -> Result<(), lifeboat::ports::store::StoreError> {
        match *self.kind.lock().unwrap() {
            Some(kind) if event.kind == kind => Err(lifeboat::ports::store::StoreError::Io(
                "no space left on device".into(),
            )),
            _ => Ok(()),
        }
    }
}

impl EventStore for Refusing {
    fn append(&self, event: NewEvent) -> Result<Event, lifeboat::ports::store::StoreError> {
        self.check(&event)?;
        self.inner.append(event)
    }
    fn append_batch(
        &self,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Event>, lifeboat::ports::store::StoreError> {
        for e in &events {
            self.check(e)?;
        }
        self.inner.append_batch(events)
    }
    fn by_incident(
        &self,
        i: &IncidentId,
    ) -> Result<Vec<Event>, lifeboat::ports::store::StoreError> {
        self.inner.by_incident(i)
    }
    fn by_run(&self, r: &RunId) -> Result<Vec<Event>, lifeboat::ports::store::StoreError> {
        self.inner.by_run(r)
    }
    fn range(
        &self,
        seqs: std::ops::RangeInclusive<u64>,
    ) -> Result<Vec<Event>, lifeboat::ports::store::StoreError> {
        self.inner.range(seqs)
    }
    fn last(&self) -> Result<Option<Event>, lifeboat::ports::store::StoreError> {
        self.inner.last()
    }
    fn verify(
        &self,
    ) -> Result<lifeboat::domain::event::ChainCheck, lifeboat::ports::store::StoreError> {
        self.inner.verify()
    }
    fn check_writable(&self) -> Result<(), lifeboat::ports::store::StoreError> {
        self.inner.check_writable()
    }
}

#[tokio::test]
async fn an_edit_or_approval_the_log_refuses_does_not_happen() {
    let ep = HttpServer::start();
    ep.script("/notice", &[(200, "ok")]);
    let mut refusing = None;
    let b = bench_over(
        comms().set("comms.webhook_url", ep.url("/notice")),
        |inner| {
            let store = Arc::new(Refusing {
                inner,
                kind: Mutex::new(None),
            });
            refusing = Some(store.clone());
            store
        },
    )
    .await;
    let refusing = refusing.unwrap();
    b.line(&format!("/comms draft clients initial {ALICE}"))
        .await;
    let drafted = b.bot.draft_text("DRAFT-1").unwrap();

    refusing.refuse(Some("comms.edited"));
    let reply = b
        .line("/comms edit DRAFT-1 We are fine. --as dave --roles communicator")
        .await;
    assert!(reply.ephemeral);
    assert!(
        reply
            .message
            .content
            .contains("Not edited: the event log refused the edit (event log I/O failed: no space left on device); DRAFT-1 is unchanged."),
        "{reply:?}"
    );
    assert_eq!(
        b.bot.draft_text("DRAFT-1").as_deref(),
        Some(drafted.as_str())
    );

    refusing.refuse(Some("comms.approved"));
    let reply = b
        .line("/comms approve DRAFT-1 v1 --as carol --roles communicator")
        .await;
    assert!(reply.ephemeral);
    assert!(
        reply
            .message
            .content
            .contains("Not sent: the event log refused the approval"),
        "{reply:?}"
    );
    assert!(ep.requests("/notice").is_empty(), "nothing sent unapproved");
    assert!(b.events("comms.sent").is_empty());

    refusing.refuse(None);
    let reply = b
        .line("/comms approve DRAFT-1 v1 --as carol --roles communicator")
        .await;
    assert!(reply.message.content.contains("webhook ✔"), "{reply:?}");
    assert_eq!(ep.requests("/notice").len(), 1);
}

#[tokio::test]
async fn an_editor_may_not_approve_and_an_old_approve_button_is_refused() {
    let b = bench(comms()).await;
    let reply = b
        .line(&format!("/comms draft clients initial {ALICE}"))
        .await;
    assert!(
        reply.message.content.starts_with("📝 DRAFT-1 v1"),
        "{reply:?}"
    );
    let old_button = reply.message.buttons[1].custom_id.clone();
    let reply = b
        .line("/comms edit DRAFT-1 We are fine. --as carol --roles communicator")
        .await;
    assert!(reply.message.content.contains("DRAFT-1 v2"), "{reply:?}");

    // Carol edited it: she may not approve it alone.
    let reply = b
        .line("/comms approve DRAFT-1 v2 --as carol --roles communicator")
        .await;
    assert!(
        reply
            .message
            .content
            .contains("you edited DRAFT-1; another communicator must approve it"),
        "{reply:?}"
    );
    // Erin clicks the [Approve] under the text she read (v1): refused, the text changed.
    let command = lifeboat::chat::discord::command_from_custom_id(&old_button).unwrap();
    let reply = b
        .bot
        .handle(command, &person("erin", &["communicator"]))
        .await;
    assert!(
        reply
            .message
            .content
            .contains("DRAFT-1 has changed since v1: it is now v2, edited by carol"),
        "{reply:?}"
    );
    let refused = b.events("comms.approval_refused");
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[1].data["version"], 1);
    assert!(b.events("comms.approved").is_empty());
    let reply = b
        .line("/comms approve DRAFT-1 v2 --as erin --roles communicator")
        .await;
    assert!(
        reply
            .message
            .content
            .contains("DRAFT-1 v2 approved by erin"),
        "{reply:?}"
    );
}

#[tokio::test]
async fn an_approved_notice_that_failed_is_resent_only_where_it_is_missing() {
    let ep = HttpServer::start();
    ep.script("/notice", &[(200, "ok")]);
    let port = free_port();
    let b = bench(comms().set("comms.webhook_url", ep.url("/notice")).set(
        "comms.email",
        json!({
            "smtp_host": "127.0.0.1", "smtp_port": port, "from": "status@example.com",
            "recipients": ["ops@client.example"], "timeout": "5s",
        }),
    ))
    .await;
    b.line(&format!("/comms draft clients initial {ALICE}"))
        .await;
    let reply = b
        .line("/comms approve DRAFT-1 --as carol --roles communicator")
        .await;
    assert!(
        reply.message.content.contains("webhook ✔, email ✖"),
        "{reply:?}"
    );
    assert!(
        reply
            .message
            .content
            .contains("/comms resend DRAFT-1 retries the failed outputs"),
        "{reply:?}"
    );
    // Not before it is approved, not by a responder.
    b.line(&format!("/comms draft clients update {ALICE}"))
        .await;
    let reply = b
        .line("/comms resend DRAFT-2 --as carol --roles communicator")
        .await;
    assert!(
        reply
            .message
            .content
            .contains("DRAFT-2 is drafted, not approved"),
        "{reply:?}"
    );
    let reply = b
        .line("/comms resend DRAFT-1 --as bob --roles responder")
        .await;
    assert!(
        reply
            .message
            .content
            .contains("needs the communicator role"),
        "{reply:?}"
    );

    // The relay is back.
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start_on(dir.path(), port);
    let reply = b
        .line("/comms resend DRAFT-1 --as erin --roles communicator")
        .await;
    assert!(
        reply
            .message
            .content
            .contains("DRAFT-1 resent by erin: email ✔"),
        "{reply:?}"
    );
    assert!(!reply.message.content.contains("webhook"), "{reply:?}");
    assert_eq!(
        ep.requests("/notice").len(),
        1,
        "the webhook had it already"
    );
    assert_eq!(smtp.messages().len(), 1);
    let approved = b.events("comms.approved")[0].data["text"].clone();
    let sent = b.events("comms.sent");
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|e| e.data["text"] == approved));
    let reply = b
        .line("/comms resend DRAFT-1 --as erin --roles communicator")
        .await;
    assert!(
        reply
            .message
            .content
            .contains("already sent to every output (webhook, email)"),
        "{reply:?}"
    );

    // Approved, then the bot stopped before sending: a resend sends it everywhere.
    b.store
        .append(
            NewEvent::new(
                Actor::User {
                    id: "carol".into(),
                    name: "carol".into(),
                },
                "comms.approved",
                json!({ "draft": "DRAFT-2", "version": 1, "text": b.bot.draft_text("DRAFT-2") }),
            )
            .incident(b.incident.clone()),
        )
        .unwrap();
    let reply = b
        .line("/comms resend DRAFT-2 --as erin --roles communicator")
        .await;
    assert!(
        reply.message.content.contains("webhook ✔, email ✔"),
        "{reply:?}"
    );
    assert_eq!(smtp.messages().len(), 2);
}

#[tokio::test]
async fn a_drill_notice_keeps_its_marker_through_polish() {
    let openai = HttpServer::start();
    let anthropic = HttpServer::start();
    let b = bench(
        comms()
            .set("comms.polish", true)
            .set("llm", llm(&openai, &anthropic)),
    )
    .await;
    b.store
        .append(
            NewEvent::new(Actor::Scheduler, "drill.marked", json!({ "drill": true }))
                .incident(b.incident.clone()),
        )
        .unwrap();
    // Every other fact kept, the marker dropped.
    openai.script(
        "/v1/chat/completions",
        &[(200, &openai_answer(&faithful(&b)))],
    );
    let reply = b
        .line(&format!("/comms draft clients initial {ALICE}"))
        .await;
    let text = &reply.message.content;
    assert!(
        text.contains("template text kept: openai's text dropped or changed \"[DRILL]\""),
        "{text}"
    );
    assert!(text.contains("Subject: [DRILL] Example"), "{text}");
    let asked = &openai.requests("/v1/chat/completions")[0];
    assert!(
        asked.body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("\"[DRILL]\""),
        "the prompt asks to keep it"
    );

    // A faithful polish keeps it as written.
    let marked = faithful(&b).replacen("Subject: ", "Subject: [DRILL] ", 1);
    openai.script("/v1/chat/completions", &[(200, &openai_answer(&marked))]);
    let reply = b
        .line(&format!("/comms draft clients update {ALICE}"))
        .await;
    assert!(
        reply.message.content.contains("polished by openai"),
        "{reply:?}"
    );
    assert_eq!(b.events("comms.drafted")[1].data["text"], marked.trim());
}

#[test]
fn an_unknown_smtp_tls_mode_is_refused_with_its_place() {
    let text = "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n\n[comms.email]\nsmtp_host = \"127.0.0.1\"\nfrom = \"status@example.com\"\nrecipients = [\"ops@client.example\"]\ntls = \"ssl\"\n";
    let err = format!(
        "{:?}",
        Config::from_source(TomlSource::new("t.toml", text)).expect_err("refused")
    );
    assert!(err.contains("line: 10, col: 7"), "{err}");
    assert!(
        err.contains("unknown variant `ssl`, expected `starttls` or `wrapper`"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Done when: a `failover-hosting` run driven from Discord pages the teams on every route and
// gets a client notice drafted, edited, approved and emailed, all in the log.

mod from_discord {
    use super::*;

    use crate::support::discord::{
        CHANNEL, COMMUNICATOR, GUILD, Member, bot_message, button, content, custom_ids, ephemeral,
        modal_submit, text,
    };
    use crate::support::moto::moto;
    use crate::support::standby;

    const ENGINEERING: u64 = 110_000_000_000_000_003;
    const SUPPORT: u64 = 110_000_000_000_000_004;
    const ENGINEERING_ROLE: u64 = 410_000_000_000_000_001;
    const WAIT: Duration = Duration::from_secs(30);

    fn alice() -> Member {
        Member::new(
            310_000_000_000_000_001,
            "alice",
            &[crate::support::discord::RESPONDER],
        )
    }
    fn bob() -> Member {
        Member::new(
            310_000_000_000_000_002,
            "bob",
            &[crate::support::discord::APPROVER],
        )
    }
    fn carol() -> Member {
        Member::new(310_000_000_000_000_003, "carol", &[COMMUNICATOR])
    }
    fn dave() -> Member {
        Member::new(310_000_000_000_000_004, "dave", &[COMMUNICATOR])
    }

    struct Parts<'a> {
        moto: &'a str,
        zone_id: &'a str,
        routes: &'a HttpServer,
        smtp_port: u16,
        hosting: &'a standby::Parts,
    }

    /// The shipped `failover-hosting` on moto, with every team route, the email relay and
    /// the local parts it checks (the app adds `[discord]` and the responder and approver
    /// roles for the fake).
    fn config(p: &Parts<'_>) -> TestConfig {
        let failover = std::fs::read_to_string(root().join("commands/failover-hosting.toml"))
            .expect("the shipped failover-hosting");
        let config = TestConfig::minimal()
            .shipped_templates()
            .runbook(&failover)
            .set("access.communicators", [COMMUNICATOR.to_string()])
            .push(
                "providers",
                json!({ "name": "heroku", "title": "Heroku", "workstream": "hosting", "runbook": "failover-hosting" }),
            )
            .team(
                "engineering",
                json!({
                    "channel_id": ENGINEERING.to_string(),
                    "role_id": ENGINEERING_ROLE.to_string(),
                    "webhook_url": p.routes.url("/hook"),
                    "pagerduty_routing_key_env": "PD_KEY",
                    "events_url": p.routes.url("/v2/enqueue"),
                }),
            )
            .team("support", json!({ "channel_id": SUPPORT.to_string() }))
            .set(
                "comms",
                json!({ "services": ["the Example app"], "attempts": 3, "backoff": "10ms", "timeout": "5s" }),
            )
            .set(
                "comms.email",
                json!({
                    "smtp_host": "127.0.0.1",
                    "smtp_port": p.smtp_port,
                    "from": "Example Status <status@example.com>",
                    "recipients": ["ops@client-one.example", "it@client-two.example"],
                    "timeout": "5s",
                }),
            );
        let mut config = standby::aws(config, p.moto, p.zone_id).var("company", "Example Co");
        for (name, value) in p.hosting.vars() {
            config = config.var(name, value);
        }
        config
    }

    /// Decodes a quoted-printable body (RFC 2045: `=XX` bytes, `=` at a line's end joins it
    /// to the next), as a mail reader would.
    fn quoted_printable(body: &str) -> String {
        let mut bytes = Vec::new();
        let raw = body.as_bytes();
        let mut i = 0;
        while i < raw.len() {
            match raw[i] {
                b'=' if raw.get(i + 1) == Some(&b'\n') => i += 2,
                b'=' if i + 2 < raw.len() => {
                    let hex = std::str::from_utf8(&raw[i + 1..i + 3]).unwrap();
                    bytes.push(u8::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("=`{hex}`")));
                    i += 3;
                }
                b => {
                    bytes.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(bytes).unwrap()
    }

    /// An interaction made inside the incident's thread (a public thread of the channel).
    fn within_thread(mut payload: Value) -> Value {
        payload["channel"]["type"] = json!(11);
        payload["channel"]["parent_id"] = json!(CHANNEL.to_string());
        payload
    }

    #[tokio::test]
    async fn failover_hosting_from_discord_pages_every_route_and_emails_the_approved_notice() {
        // The world: moto with the standby, the backup status and the app, the restore and
        // integrity programs, the team routes, the SMTP relay, and the fake Discord.
        let moto = moto().await;
        let aws = moto.clients().await;
        let zone_id = standby::seed(&aws, &["web", "worker"], 300).await;
        let dir = tempfile::tempdir().unwrap();
        let parts = standby::Parts::start(Duration::from_secs(10 * 60));
        let routes = HttpServer::start();
        routes.script("/hook", &[(200, "ok")]);
        routes.script("/v2/enqueue", &[(202, PD_OK)]);
        let smtp = Smtp::start(dir.path());
        // The bot as `lifeboat run` wires it: the real engine over AWS edges on moto, a sled
        // log, serenity over the fake Discord, the shipped runbook.
        let bot = spawn_app(config(&Parts {
            moto: &moto.endpoint(),
            zone_id: &zone_id,
            routes: &routes,
            smtp_port: smtp.port,
            hosting: &parts,
        }))
        .discord()
        .secret("PD_KEY", PD_KEY)
        .patience(WAIT)
        .start()
        .await;
        let fake = bot.fake();
        let store = &bot.store;

        // alice declares the incident; it gets its thread.
        bot.slash(
            &alice(),
            "incident",
            "declare",
            json!([text("title", "Heroku down")]),
        )
        .await;
        let opened = bot.wait_event(lifeboat::ports::chat::THREAD_OPENED).await;
        let thread: u64 = opened.data["thread"].as_str().unwrap().parse().unwrap();
        let incident = opened.incident.clone().expect("the thread's incident");
        let declared = bot.wait_event("incident.declared").await;
        let in_thread = format!("/channels/{thread}/messages");

        // alice requests failover-hosting; bob approves it by its button.
        let request = bot.request_run("failover-hosting", &alice()).await;
        assert!(request.id().starts_with("REQ-"), "{}", request.message());
        let mark = fake.mark();
        bot.approve_run(request, &bob()).await;

        // The run asks its question in the thread; alice answers by its [Yes] button.
        let question = fake
            .wait_call(
                mark,
                "the confirm-scope question",
                |c| {
                    c.method == "POST"
                        && c.path == in_thread
                        && content(&c.body).starts_with("❓")
                        && content(&c.body).contains("fail over to AWS?")
                },
                WAIT,
            )
            .await;
        let yes = custom_ids(&question.body)
            .into_iter()
            .find(|id| id.starts_with("confirm:") && id.ends_with(":confirm-scope:yes"))
            .unwrap_or_else(|| panic!("no [Yes] button: {}", question.body));
        let (_, answered) = bot
            .interact(within_thread(button(
                GUILD,
                thread,
                &alice(),
                &yes,
                bot_message(thread, &content(&question.body)),
            )))
            .await;
        assert!(
            answered.body.to_string().contains("confirmed"),
            "{}",
            answered.body
        );

        // The run goes through on moto to the end.
        let finished = tokio::time::timeout(WAIT, async {
            loop {
                let events = store.all().unwrap();
                if let Some(end) = events
                    .iter()
                    .find(|e| e.kind == "run.succeeded" || e.kind == "run.failed")
                {
                    return end.clone();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            let kinds: Vec<String> = store.all().unwrap().into_iter().map(|e| e.kind).collect();
            panic!("the run did not end: {kinds:?}")
        });
        assert_eq!(finished.kind, "run.succeeded", "{finished:?}");
        let run = finished.run.clone().expect("the run's id");
        assert_eq!(finished.incident.as_ref(), Some(&incident));

        // Teams paged on every route: engineering in its channel with its role mentioned, on
        // its webhook and on PagerDuty (dedup_key = the incident); support in its channel.
        let engineering = fake
            .calls()
            .into_iter()
            .filter(|c| c.method == "POST" && c.path == format!("/channels/{ENGINEERING}/messages"))
            .map(|c| content(&c.body))
            .collect::<Vec<_>>();
        assert_eq!(engineering.len(), 1, "{engineering:?}");
        assert!(
            engineering[0].starts_with(&format!("<@&{ENGINEERING_ROLE}> [{run}] "))
                && engineering[0].contains("Hosting failed over to AWS"),
            "{engineering:?}"
        );
        let said = engineering[0]
            .strip_prefix(&format!("<@&{ENGINEERING_ROLE}> "))
            .unwrap()
            .to_owned();
        // The step's message states the incident's facts.
        assert!(
            said.contains(&format!("{incident} since "))
                // No [data] here: the simulation measures nothing, and the notice says so.
                && said.contains("data-loss window not measured")
                && said.contains("full service expected by "),
            "{said}"
        );
        let hook = routes.requests("/hook");
        assert_eq!(hook.len(), 1);
        assert_eq!(hook[0].header("content-type").unwrap(), "application/json");
        assert_eq!(hook[0].body, json!({ "text": said }));
        let page = routes.requests("/v2/enqueue");
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].body["routing_key"], PD_KEY);
        assert_eq!(page[0].body["event_action"], "trigger");
        assert_eq!(page[0].body["dedup_key"], incident.as_str());
        assert_eq!(page[0].body["payload"]["summary"], said.as_str());
        assert!(
            fake.calls().iter().any(|c| c.method == "POST"
                && c.path == format!("/channels/{SUPPORT}/messages")
                && content(&c.body).contains("AWS standby")),
            "support was not told"
        );
        let delivered: Vec<(String, String)> = store
            .all()
            .unwrap()
            .iter()
            .filter(|e| e.kind == "notify.delivered")
            .map(|e| {
                assert_eq!(e.incident.as_ref(), Some(&incident));
                assert_eq!(e.data["run"], run.as_str());
                (
                    e.data["team"].as_str().unwrap().to_owned(),
                    e.data["route"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = [
            ("engineering", "discord"),
            ("engineering", "webhook"),
            ("engineering", "pagerduty"),
            ("support", "discord"),
        ]
        .iter()
        .map(|(t, r)| (t.to_string(), r.to_string()))
        .collect();
        assert_eq!(delivered, expected);

        // The client notice was drafted in the thread with the facts: the incident's start
        // and the measured data-loss window (none without a real restore).
        let drafted = bot.wait_event("comms.drafted").await;
        assert_eq!(drafted.data["run"], run.as_str());
        let draft_text = drafted.data["text"].as_str().unwrap().to_owned();
        let start = declared.at.format("%Y-%m-%d %H:%M UTC").to_string();
        assert!(draft_text.contains(&start), "{draft_text}");
        // Nothing measured (simulated data), so no window is claimed to clients.
        assert!(!draft_text.contains("Changes made in the"), "{draft_text}");
        let posted = fake
            .calls()
            .into_iter()
            .find(|c| {
                c.method == "POST"
                    && c.path == in_thread
                    && content(&c.body).starts_with("📝 DRAFT-1 v1")
            })
            .expect("the draft is posted in the thread");
        assert!(content(&posted.body).ends_with(&draft_text));
        let ids = custom_ids(&posted.body);
        assert_eq!(
            ids,
            [
                "comms:edit:DRAFT-1",
                "comms:approve:DRAFT-1:v1",
                "comms:discard:DRAFT-1"
            ]
        );
        let draft_message = bot_message(thread, &content(&posted.body));

        // carol (a communicator) edits it through the modal, keeping the facts.
        let (_, form) = bot
            .interact(within_thread(button(
                GUILD,
                thread,
                &carol(),
                &ids[0],
                draft_message.clone(),
            )))
            .await;
        assert_eq!(form.body["type"], 9, "a modal: {}", form.body);
        let prefilled = form.body["data"]["components"][0]["components"][0]["value"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(prefilled, draft_text);
        let edited = prefilled
            .replacen(
                "Subject: Example Co: service continuity notice",
                "Subject: Example Co: we keep running",
                1,
            )
            .replace(
                "We will keep you informed.",
                "Our next update follows within the hour.",
            );
        assert_ne!(edited, prefilled);
        let (_, saved) = bot
            .interact(within_thread(modal_submit(
                GUILD,
                thread,
                &carol(),
                &ids[0],
                "text",
                &edited,
            )))
            .await;
        assert!(
            content(&saved.body).contains("edited by carol"),
            "{}",
            saved.body
        );
        let approve_v2 = "comms:approve:DRAFT-1:v2";
        assert!(
            custom_ids(&saved.body).iter().any(|id| id == approve_v2),
            "{}",
            saved.body
        );
        let edited_message = bot_message(thread, &content(&saved.body));

        // alice is no communicator: refused privately, nothing sent.
        let mark = fake.mark();
        let (token, _) = bot
            .interact(within_thread(button(
                GUILD,
                thread,
                &alice(),
                approve_v2,
                edited_message.clone(),
            )))
            .await;
        let refusal = bot.followup(mark, &token).await;
        assert!(ephemeral(&refusal.body), "{}", refusal.body);
        assert!(
            content(&refusal.body).contains("communicator"),
            "{}",
            refusal.body
        );
        assert!(smtp.messages().is_empty());

        // dave, another communicator, approves v2 by its button: it is emailed as approved.
        let mark = fake.mark();
        let (token, _) = bot
            .interact(within_thread(button(
                GUILD,
                thread,
                &dave(),
                approve_v2,
                edited_message,
            )))
            .await;
        let sent = bot.followup(mark, &token).await;
        assert!(!ephemeral(&sent.body), "{}", sent.body);
        assert!(
            content(&sent.body).contains("DRAFT-1 v2 approved by dave; sent: email ✔"),
            "{}",
            sent.body
        );
        let mail = smtp.messages();
        assert_eq!(mail.len(), 1, "{mail:?}");
        assert_eq!(mail[0]["mail_from"], "status@example.com");
        assert_eq!(
            mail[0]["rcpt_tos"],
            json!(["ops@client-one.example", "it@client-two.example"])
        );
        let data = mail[0]["data"].as_str().unwrap().replace("\r\n", "\n");
        let (headers, body) = data.split_once("\n\n").unwrap();
        assert!(
            headers.contains("Subject: Example Co: we keep running"),
            "{headers}"
        );
        let body = if headers.contains("Content-Transfer-Encoding: quoted-printable") {
            quoted_printable(body)
        } else {
            body.to_owned()
        };
        let (_, approved_body) = edited.split_once("\n\n").unwrap();
        assert_eq!(body.trim(), approved_body.trim());

        // All in the log: drafted by the run, edited by carol, approved by dave with the exact
        // text, sent with that text.
        let log = store.all().unwrap();
        let of = |kind: &str| -> Vec<&Event> { log.iter().filter(|e| e.kind == kind).collect() };
        let edit = of("comms.edited");
        assert_eq!(edit.len(), 1);
        assert_eq!(edit[0].data["text"], edited.as_str());
        assert!(matches!(&edit[0].actor, Actor::User { name, .. } if name == "carol"));
        let approved = of("comms.approved");
        assert_eq!(approved.len(), 1);
        assert_eq!(approved[0].data["text"], edited.as_str());
        assert_eq!(approved[0].data["version"], 2);
        assert!(matches!(&approved[0].actor, Actor::User { name, .. } if name == "dave"));
        assert_eq!(approved[0].incident.as_ref(), Some(&incident));
        let sent = of("comms.sent");
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].data["text"], edited.as_str());
        // The number of recipients and their domains; the addresses stay in the config.
        assert_eq!(sent[0].data["recipient_count"], 2);
        assert_eq!(
            sent[0].data["recipient_domains"],
            json!(["client-one.example", "client-two.example"])
        );
        assert!(!sent[0].data.to_string().contains("ops@"), "{:?}", sent[0]);
        assert_eq!(
            of("comms.approval_refused").len() + of("command.refused").len(),
            1
        );
        assert!(
            !serde_json::to_string(&log).unwrap().contains(PD_KEY),
            "the routing key stays out of the log"
        );

        bot.stop().await;
    }
}

#[tokio::test]
async fn a_parameter_typed_in_chat_is_sent_verbatim_never_run_as_a_template() {
    let ep = HttpServer::start();
    ep.script("/hook", &[(200, "ok"), (200, "ok")]);
    ep.script("/v2/enqueue", &[(202, PD_OK), (202, PD_OK)]);
    let b = bench(team(comms(), &ep.url("/hook"), &ep.url("/v2/enqueue"))).await;
    let path = b.dir.path().join("echo.toml");
    std::fs::write(
        &path,
        r#"
name = "echo"
title = "Echo a note"
workstream = "hosting"

[[params]]
name = "note"

[[steps]]
id = "plain"
title = "Say the note"
kind = "notify"
with = { team = "engineering", message = "Note: ${params.note}" }

[[steps]]
id = "facts"
title = "Say the note with the facts"
kind = "notify"
with = { team = "engineering", message = "{{ incident }}: ${params.note} (${vars.company})" }
"#,
    )
    .unwrap();
    let rb = load_file(&path, &b.bot_config()).unwrap_or_else(|e| panic!("{e:#?}"));
    let note = "{{ 7*7 }} {% if %} {# x";
    let handle = b
        .engine
        .start(
            &rb,
            BTreeMap::from([("note".to_owned(), note.to_owned())]),
            Some(b.incident.clone()),
            Actor::Bot,
        )
        .unwrap();
    let run = handle.run.clone();
    let status = tokio::time::timeout(Duration::from_secs(30), handle.task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, RunStatus::Succeeded);
    let hooks = ep.requests("/hook");
    assert_eq!(hooks[0].body["text"], format!("[{run}] Note: {note}"));
    assert_eq!(
        hooks[1].body["text"],
        format!("[{run}] {}: {note} (Example)", b.incident)
    );
}
