//! `lifeboat run --console` as a child process: type commands, wait for lines, signal it,
//! and read its exit. One helper for every test that drives the real binary's console.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

pub struct Running {
    pub child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    seen: Vec<String>,
    patience: Duration,
}

impl Running {
    /// Starts `lifeboat run --console --config lifeboat.toml` in `dir` (no Discord token, no
    /// `RUST_LOG`). `wait_for` gives up after 60 s unless `patience` says otherwise.
    pub fn start(dir: &Path) -> Running {
        Self::start_with_env(dir, &[])
    }

    /// As `start`, with extra environment variables (database URLs, ...).
    pub fn start_with_env(dir: &Path, env: &[(&str, &str)]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .current_dir(dir)
            .args(["run", "--console", "--config", "lifeboat.toml"])
            .envs(env.iter().copied())
            .env_remove("LIFEBOAT_DISCORD_TOKEN")
            .env_remove("RUST_LOG")
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
        Running {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            patience: Duration::from_secs(60),
        }
    }

    /// How long `wait_for` waits for a line before failing the test.
    pub fn patience(mut self, patience: Duration) -> Running {
        self.patience = patience;
        self
    }

    /// Types `line` into the console.
    pub fn say(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits for a line containing `needle` and returns it.
    pub fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + self.patience;
        while Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(50)) {
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

    /// Every line read so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// The address printed by `lifeboat run`.
    pub fn endpoint(&mut self) -> SocketAddr {
        let line = self.wait_for("Health and metrics on http://");
        line.split("http://")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Requests and approves a run of `runbook` (alice asks, bob approves).
    pub fn run(&mut self, runbook: &str) {
        self.say(&format!(
            "/runbook run {runbook} --as alice --roles responder"
        ));
        let line = self.wait_for(&format!("requests `{runbook}`"));
        let request = request_id(&line);
        self.say(&format!("/approve {request} --as bob --roles approver"));
    }

    pub fn sigterm(&self) {
        self.signal("-TERM");
    }

    pub fn sigint(&self) {
        self.signal("-INT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the exit (bounded) and returns the exit code and the rest of the output.
    pub fn exit(mut self, within: Duration) -> (Option<i32>, Vec<String>) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Read to the end of the output (the reader thread hangs up at EOF), so the last
                // lines are never missed however slowly they arrive; bounded in case something
                // else still holds the pipe open.
                let drained = Instant::now() + Duration::from_secs(10);
                while Instant::now() < drained {
                    match self.lines.recv_timeout(Duration::from_millis(100)) {
                        Ok(line) => self.seen.push(line),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                return (status.code(), self.seen);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("did not exit within {within:?}:\n{}", self.seen.join("\n"));
            }
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(line);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The `REQ-...` id in a console line like "alice requests `x` (REQ-...)".
pub fn request_id(line: &str) -> String {
    line.split(['(', ')'])
        .find(|w| w.starts_with("REQ-"))
        .unwrap()
        .to_owned()
}
