//! Crash safety through the real binary: `lifeboat run --console` is killed with SIGKILL in
//! the middle of a run, started again, and finishes the run without repeating a finished step.

use std::time::Duration;

use crate::support::discord::{APPROVER, Member, RESPONDER};
use crate::support::http::{HttpServer, Reply};
use crate::support::{Binary, TestConfig, lifeboat, spawn_app, stderr, stdout};
use serde_json::json;

const RUNBOOK: &str = r#"
name = "slow-switch"
title = "A switch with a slow middle"
workstream = "llm"

[[steps]]
id = "first"
kind = "http_request"
with = { method = "POST", url = "${vars.base}/first" }

[[steps]]
id = "pause"
kind = "wait"
with = { duration = "4s" }

[[steps]]
id = "last"
kind = "http_request"
with = { method = "POST", url = "${vars.base}/last" }
"#;

#[test]
fn a_run_killed_mid_step_resumes_without_repeating_finished_steps() {
    let server = HttpServer::start();
    server.reply("/first", Reply::json("{}"));
    server.reply("/last", Reply::json("{}"));
    let mut bot = spawn_app(
        TestConfig::minimal()
            .var("base", server.base_url())
            .runbook(RUNBOOK),
    )
    .patience(Duration::from_secs(20))
    .binary();
    let alice = Member::new(1, "alice", &[RESPONDER]);
    bot.wait_for("Lifeboat is watching");
    let request = bot.request("slow-switch", &alice);
    // Alice cannot approve her own request; Bob can.
    bot.approve(&request, &Member::new(1, "alice", &[APPROVER]));
    bot.wait_for("two-person rule");
    bot.approve(&request, &Member::new(2, "bob", &[APPROVER]));
    bot.wait_for("▶ pause");
    assert_eq!(server.hits("/first"), 1);
    // SIGKILL in the middle of the wait: no chance to clean up.
    bot.kill();
    assert_eq!(server.hits("/last"), 0);

    bot.restart();
    bot.wait_for("Resuming unfinished run(s)");
    bot.wait_for("🏁 slow-switch finished");
    assert_eq!(server.hits("/first"), 1, "a finished step ran again");
    assert_eq!(server.hits("/last"), 1);
    bot.sigterm();
    assert!(bot.child.wait().unwrap().success());

    let out = lifeboat(
        bot.project.path(),
        &["audit", "verify", "--data-dir", "data"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("chain intact"));
}

const RESTORE: &str = r#"
name = "restore-standby"
title = "Restore the newest backup into the standby"
workstream = "data"

[[steps]]
id = "restore"
kind = "db_restore"
with = { to = "standby" }

[[steps]]
id = "verify"
kind = "db_verify"
with = { on = "standby" }
"#;

/// SIGKILL while `pg_restore --jobs 2` writes into the standby: its workers live on in their
/// own process group, so the restarted Lifeboat ends their sessions, re-runs the interrupted
/// (idempotent) restore from a clean target and finishes with exactly the backup's rows.
#[test]
fn a_restore_killed_mid_pg_restore_resumes_from_clean_without_duplicate_rows() {
    use crate::support::postgres::{Db, seed, tables};

    let (primary, standby) = (Db::new("crash_primary"), Db::new("crash_standby"));
    // `events` has no key: a restore that appended to a half-done one would double rows.
    seed(&primary, 300_000, &chrono::Utc::now().to_rfc3339());
    let project = TestConfig::minimal()
        .set("objectives.data_rto", "2h")
        .server_on_free_port()
        .set(
            "data",
            json!({
                "primary_url_env": "CRASH_PRIMARY_URL",
                "standby_url_env": "CRASH_STANDBY_URL",
                "backups": { "dir": "backups" },
                "jobs": 2,
                "tables": tables(),
            }),
        )
        .runbook(RESTORE)
        .project();
    let (primary_url, standby_url) = (primary.url(), standby.url());
    let env = [
        ("CRASH_PRIMARY_URL", primary_url.as_str()),
        ("CRASH_STANDBY_URL", standby_url.as_str()),
    ];
    // The backup, through the CLI.
    let out = lifeboat(
        project.path(),
        &[
            "db",
            "backup",
            "--config",
            "lifeboat.toml",
            "--data-dir",
            "data",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("backup backups/lifeboat-"),
        "{}",
        stdout(&out)
    );

    let mut bot = Binary::console(project, &env, Duration::from_secs(60));
    bot.wait_for("Lifeboat is watching");
    let request = bot.request("restore-standby", &Member::new(1, "alice", &[RESPONDER]));
    bot.approve(&request, &Member::new(2, "bob", &[APPROVER]));
    bot.wait_for("▶ restore");
    // Wait until pg_restore is writing, then kill Lifeboat without warning.
    let writing = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lifeboat-restore' AND datname = current_database()";
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while standby.count(writing) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "pg_restore never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    bot.kill();

    bot.set_patience(Duration::from_secs(90));
    bot.restart();
    bot.wait_for("Resuming unfinished run(s)");
    bot.wait_for("🏁 restore-standby finished");
    assert_eq!(standby.count("SELECT count(*) FROM orders"), 300_000);
    assert_eq!(
        standby.count("SELECT count(*) FROM events"),
        300_000,
        "no duplicate rows"
    );
    assert_eq!(
        standby.count("SELECT count(DISTINCT ref) FROM events"),
        300_000
    );
    assert_eq!(standby.count(writing), 0, "no restore left running");
    bot.sigterm();
    assert!(bot.child.wait().unwrap().success());
    let out = lifeboat(
        bot.project.path(),
        &["audit", "verify", "--data-dir", "data"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
