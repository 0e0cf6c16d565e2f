//! A production start that cannot fail silently (issue 16, item 5), through the real binary:
//! no token and no terminal is an exit 1 naming the variable; the operators' endpoints record
//! the address they bound for `lifeboat store backup`, and with `[server] token_env` ask
//! `/metrics` and `/backup` for that bearer token.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use crate::support::{TestConfig, lifeboat, spawn_app, stderr, stdout};

const SERVER_TOKEN_ENV: &str = "LIFEBOAT_TEST_SERVER_TOKEN";
const SERVER_TOKEN: &str = "ops-token-9d2e";

/// `GET path` with the given extra header lines; the status code.
fn status_of(addr: SocketAddr, path: &str, headers: &str) -> u16 {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{headers}\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    String::from_utf8_lossy(&raw)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap()
}

/// Under systemd stdin is not a terminal: without the token `lifeboat run` must not fall back
/// to a console nobody reads.
#[test]
fn run_without_a_token_or_a_terminal_exits_1_naming_the_variable() {
    let project = TestConfig::minimal()
        .set("discord.token_env", "LIFEBOAT_TEST_UNSET_TOKEN")
        .set("discord.guild_id", "100000000000000001")
        .project();
    let out = lifeboat(project.path(), &["run", "--config", "lifeboat.toml"], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}\n{}", stdout(&out));
    assert!(
        err.contains("LIFEBOAT_TEST_UNSET_TOKEN is not set"),
        "{err}"
    );
    assert!(err.contains("--console"), "{err}");
    assert!(!project.data().exists(), "nothing was opened");
}

/// `listen = "127.0.0.1:0"`: the bot records the port it got in the data dir, `lifeboat store
/// backup` finds the running bot there, and a clean stop removes the record.
#[test]
fn store_backup_finds_a_bot_listening_on_port_0() {
    let mut bot = spawn_app(TestConfig::minimal()).binary();
    let addr = bot.endpoint();
    let recorded = bot
        .project
        .data()
        .join(lifeboat::config::BOUND_ADDRESS_FILE);
    assert_eq!(
        std::fs::read_to_string(&recorded).unwrap().trim(),
        addr.to_string()
    );
    let out = lifeboat(
        bot.project.path(),
        &[
            "store",
            "backup",
            "--out",
            "b.jsonl.gz",
            "--config",
            "lifeboat.toml",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(bot.project.path().join("b.jsonl.gz").exists());
    bot.sigterm();
    let (code, _) = bot.exit(Duration::from_secs(30));
    assert_eq!(code, Some(0));
    assert!(!recorded.exists(), "a stopped bot leaves no address behind");
}

/// `[server] token_env`: `/metrics` and `/backup` answer 401 without the bearer token and
/// serve with it; `/healthz` stays open; `lifeboat store backup` sends the token.
#[test]
fn metrics_and_backup_require_the_configured_bearer_token() {
    let mut bot = spawn_app(TestConfig::minimal().set("server.token_env", SERVER_TOKEN_ENV))
        .env(SERVER_TOKEN_ENV, SERVER_TOKEN)
        .binary();
    let addr = bot.endpoint();
    let bearer = format!("Authorization: Bearer {SERVER_TOKEN}\r\n");
    for path in ["/metrics", "/backup"] {
        assert_eq!(status_of(addr, path, ""), 401, "{path}");
        assert_eq!(
            status_of(addr, path, "Authorization: Bearer wrong\r\n"),
            401,
            "{path}"
        );
        assert_eq!(status_of(addr, path, &bearer), 200, "{path}");
    }
    assert_eq!(status_of(addr, "/healthz", ""), 200);

    let backup = |env: &[(&str, &str)]| {
        lifeboat(
            bot.project.path(),
            &[
                "store",
                "backup",
                "--out",
                "b.jsonl.gz",
                "--config",
                "lifeboat.toml",
            ],
            env,
        )
    };
    let refused = backup(&[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("401"), "{}", stderr(&refused));
    let out = backup(&[(SERVER_TOKEN_ENV, SERVER_TOKEN)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !format!("{}{}", stdout(&out), stderr(&out)).contains(SERVER_TOKEN),
        "the token is never printed"
    );
    bot.sigterm();
    bot.exit(Duration::from_secs(30));
}
