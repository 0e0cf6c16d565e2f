//! Crash safety through the real binary: `lifeboat run --console` is killed with SIGKILL in
//! the middle of a run, started again, and finishes the run without repeating a finished step.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::support::http::{HttpServer, Reply};
use crate::support::{lifeboat, stderr, stdout};

struct Bot {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Bot {
    fn start(dir: &std::path::Path) -> Bot {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .current_dir(dir)
            .args(["run", "--console", "--config", "lifeboat.toml"])
            .env_remove("LIFEBOAT_DISCORD_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Bot {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn say(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits for a line containing `needle` and returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
        }
        panic!(
            "`{needle}` never printed; output so far:\n{}",
            self.seen.join("\n")
        );
    }
}

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

    let mut bot = Bot::start(dir.path());
    bot.wait_for("Lifeboat is watching");
    bot.say("/runbook run slow-switch --as alice --roles responder");
    let line = bot.wait_for("requests `slow-switch`");
    let request = line
        .split(['(', ')'])
        .find(|w| w.starts_with("REQ-"))
        .unwrap()
        .to_owned();
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

    let mut bot = Bot::start(dir.path());
    bot.wait_for("Resuming unfinished run(s)");
    bot.wait_for("🏁 slow-switch finished");
    assert_eq!(server.hits("/first"), 1, "a finished step ran again");
    assert_eq!(server.hits("/last"), 1);
    let _ = Command::new("kill")
        .arg(bot.child.id().to_string())
        .status();
    assert!(bot.child.wait().unwrap().success());

    let out = lifeboat(dir.path(), &["audit", "verify", "--data-dir", "data"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("chain intact"));
}
