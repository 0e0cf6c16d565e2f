//! Crash safety through the real binary: `lifeboat run --console` is killed with SIGKILL in
//! the middle of a run, started again, and finishes the run without repeating a finished step.

use std::time::Duration;

use crate::support::console::{Running, request_id};
use crate::support::http::{HttpServer, Reply};
use crate::support::{lifeboat, stderr, stdout};

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
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("commands")).unwrap();
    std::fs::write(dir.path().join("commands/slow-switch.toml"), RUNBOOK).unwrap();
    std::fs::write(
        dir.path().join("lifeboat.toml"),
        format!(
            "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n\n[server]\nlisten = \"127.0.0.1:0\"\n\n[vars]\nbase = \"{}\"\n",
            server.base_url()
        ),
    )
    .unwrap();

    let mut bot = Running::start(dir.path()).patience(Duration::from_secs(20));
    bot.wait_for("Lifeboat is watching");
    bot.say("/runbook run slow-switch --as alice --roles responder");
    let request = request_id(&bot.wait_for("requests `slow-switch`"));
    // Alice cannot approve her own request; Bob can.
    bot.say(&format!("/approve {request} --as alice --roles approver"));
    bot.wait_for("two-person rule");
    bot.say(&format!("/approve {request} --as bob --roles approver"));
    bot.wait_for("▶ pause");
    assert_eq!(server.hits("/first"), 1);
    // SIGKILL in the middle of the wait: no chance to clean up.
    bot.child.kill().unwrap();
    bot.child.wait().unwrap();
    assert_eq!(server.hits("/last"), 0);

    let mut bot = Running::start(dir.path()).patience(Duration::from_secs(20));
    bot.wait_for("Resuming unfinished run(s)");
    bot.wait_for("🏁 slow-switch finished");
    assert_eq!(server.hits("/first"), 1, "a finished step ran again");
    assert_eq!(server.hits("/last"), 1);
    bot.sigterm();
    assert!(bot.child.wait().unwrap().success());

    let out = lifeboat(dir.path(), &["audit", "verify", "--data-dir", "data"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("chain intact"));
}
