//! `lifeboat run` as a child process in a project dir: on the console (type commands, wait for
//! lines) or connected to a fake Discord; its HTTP endpoint (the log read back through
//! `/backup` while it holds it), signals, a SIGKILL, a restart, and its exit. One handle for
//! every test that drives the real binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lifeboat::domain::event::Event;

use super::{approve_on_discord, request_on_discord, run_of_approval};
use crate::support::config::Project;
use crate::support::discord::{FakeDiscord, Member};

pub struct Binary {
    /// The project the binary runs in (`lifeboat.toml`, `commands/`, `data/`).
    pub project: Project,
    pub child: Child,
    /// The fake Discord it is connected to, when started with `.discord()` (shared by the two
    /// nodes of an HA pair).
    fake: Option<Arc<FakeDiscord>>,
    env: Vec<(String, String)>,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Everything printed, byte for byte (lines keep their newline).
    stdout: Arc<Mutex<String>>,
    stderr: Option<JoinHandle<String>>,
    seen: Vec<String>,
    addr: Option<SocketAddr>,
    patience: Duration,
}

impl Binary {
    pub(super) fn start(
        project: Project,
        fake: Option<Arc<FakeDiscord>>,
        env: Vec<(String, String)>,
        patience: Duration,
    ) -> Binary {
        let (child, stdin, lines, stdout, stderr) = spawn(&project, fake.is_none(), &env);
        Binary {
            project,
            child,
            fake,
            env,
            stdin,
            lines,
            stdout,
            stderr: Some(stderr),
            seen: Vec::new(),
            addr: None,
            patience,
        }
    }

    /// `lifeboat run --console` on a project the test prepared (e.g. ran a CLI command in
    /// first), with `env` (secrets, database URLs) and `patience` for its waits.
    pub fn console(project: Project, env: &[(&str, &str)], patience: Duration) -> Binary {
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Binary::start(project, None, env, patience)
    }

    /// `lifeboat run` on a project the test prepared, connected to `fake` (which another
    /// binary may share: the two nodes of an HA pair), with `env` and `patience`.
    pub fn on_discord(
        project: Project,
        fake: Arc<FakeDiscord>,
        env: &[(&str, &str)],
        patience: Duration,
    ) -> Binary {
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        env.push((
            crate::support::config::TOKEN_ENV.to_owned(),
            super::TOKEN.to_owned(),
        ));
        Binary::start(project, Some(fake), env, patience)
    }

    /// How long `wait_for` and `wait_event` wait from now on.
    pub fn set_patience(&mut self, patience: Duration) {
        self.patience = patience;
    }

    /// Starts the binary again in the same project (after it exited or was killed), as an
    /// operator would.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, stdin, lines, stdout, stderr) =
            spawn(&self.project, self.fake.is_none(), &self.env);
        self.child = child;
        self.stdin = stdin;
        self.lines = lines;
        self.stdout = stdout;
        self.stderr = Some(stderr);
        self.seen.clear();
        self.addr = None;
    }

    /// The fake Discord (a binary started with `.discord()`).
    pub fn fake(&self) -> &FakeDiscord {
        self.fake
            .as_deref()
            .expect("this binary was started without .discord()")
    }

    /// Types `line` into the console.
    pub fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("a console binary");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
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

    /// The address of the operators' endpoints, as `lifeboat run` prints it.
    pub fn endpoint(&mut self) -> SocketAddr {
        if let Some(addr) = self.addr {
            return addr;
        }
        const SERVING: &str = "Health and metrics on http://";
        let line = match self.seen.iter().find(|l| l.contains(SERVING)) {
            Some(line) => line.clone(),
            None => self.wait_for(SERVING),
        };
        let addr = line
            .split("http://")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        self.addr = Some(addr);
        addr
    }

    /// The log as the running binary holds it, read through its `/backup` endpoint.
    pub fn events(&mut self) -> Vec<Event> {
        let addr = self.endpoint();
        let (status, _, body) = crate::support::http::get(addr, "/backup");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        lifeboat::store::backup::read(body.as_slice())
            .expect("/backup serves a readable log")
            .0
    }

    /// Waits (blocking) until the log holds an event of `kind`.
    pub fn wait_event(&mut self, kind: &str) -> Event {
        let deadline = Instant::now() + self.patience;
        loop {
            let events = self.events();
            if let Some(event) = events.iter().find(|e| e.kind == kind) {
                return event.clone();
            }
            if Instant::now() > deadline {
                let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
                panic!("no {kind} event within {:?}: {kinds:?}", self.patience);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `who` asks for `runbook` on the console; returns the request id.
    pub fn request(&mut self, runbook: &str, who: &Member) -> String {
        self.say(&format!("/runbook run {runbook} {}", who.console_flags()));
        let line = self.wait_for(&format!("requests `{runbook}`"));
        request_id(&line)
    }

    /// `who` approves request `id` on the console.
    pub fn approve(&mut self, id: &str, who: &Member) {
        self.say(&format!("/approve {id} {}", who.console_flags()));
    }

    /// Requests and approves a run of `runbook` on the console (alice asks, bob approves).
    pub fn run(&mut self, runbook: &str) {
        let (alice, bob) = (
            Member::new(1, "alice", &[crate::support::discord::RESPONDER]),
            Member::new(2, "bob", &[crate::support::discord::APPROVER]),
        );
        let request = self.request(runbook, &alice);
        self.approve(&request, &bob);
    }

    /// `requester` asks for `runbook` and `approver` approves it, on the console or, for a
    /// binary connected to the fake Discord, by slash command and button; returns the run
    /// once the log has its `run.approved`.
    pub async fn request_and_approve(
        &mut self,
        runbook: &str,
        requester: &Member,
        approver: &Member,
    ) -> String {
        let id = match &self.fake {
            Some(fake) => {
                let request = request_on_discord(fake, runbook, requester).await;
                let id = super::Request::Message(request.clone()).id();
                approve_on_discord(fake, request, approver).await;
                id
            }
            None => {
                let id = self.request(runbook, requester);
                self.approve(&id, approver);
                id
            }
        };
        let patience = self.patience;
        let log = std::cell::RefCell::new(self);
        run_of_approval(&|| log.borrow_mut().events(), &id, patience).await
    }

    pub fn sigterm(&self) {
        self.signal("-TERM");
    }

    pub fn sigint(&self) {
        self.signal("-INT");
    }

    /// SIGKILL: no chance to clean up. Waits for the process to be gone.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the exit (bounded) and returns the exit code and every line this process
    /// printed.
    pub fn exit(&mut self, within: Duration) -> (Option<i32>, Vec<String>) {
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
                return (status.code(), self.seen.clone());
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

    /// As `exit`, then the whole of stdout and stderr as printed.
    pub fn exit_with_output(&mut self, within: Duration) -> (Option<i32>, String, String) {
        let (code, _) = self.exit(within);
        let stdout = self
            .stdout
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let stderr = self
            .stderr
            .take()
            .map(|reader| reader.join().unwrap())
            .unwrap_or_default();
        (code, stdout, stderr)
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        // Whatever happened in the test, the child is stopped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Spawned = (
    Child,
    Option<ChildStdin>,
    Receiver<String>,
    Arc<Mutex<String>>,
    JoinHandle<String>,
);

/// `lifeboat run --config lifeboat.toml` in the project (`--console` with a piped stdin when
/// `console`), no `RUST_LOG` unless `env` sets it, no Discord token on the console.
fn spawn(project: &Project, console: bool, env: &[(String, String)]) -> Spawned {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    command
        .current_dir(project.path())
        .args(["run", "--config", "lifeboat.toml"])
        .env_remove("LIFEBOAT_DISCORD_TOKEN")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if console {
        command.arg("--console").stdin(Stdio::piped());
    } else {
        command.stdin(Stdio::null());
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    let mut child = command.spawn().expect("the lifeboat binary starts");
    let stdin = child.stdin.take();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = Arc::new(Mutex::new(String::new()));
    let raw = stdout.clone();
    // Both pipes are drained as the child writes, so logging can never block it.
    std::thread::spawn(move || {
        let mut out = BufReader::new(out);
        let mut line = String::new();
        while matches!(out.read_line(&mut line), Ok(n) if n > 0) {
            raw.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_str(&line);
            if tx
                .send(line.trim_end_matches(['\n', '\r']).to_owned())
                .is_err()
            {
                break;
            }
            line.clear();
        }
    });
    let stderr = std::thread::spawn(move || {
        let mut err = err;
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    (child, stdin, lines, stdout, stderr)
}

/// The `REQ-...` id in a console line like "alice requests `x` (REQ-...)".
pub fn request_id(line: &str) -> String {
    line.split(['(', ')'])
        .find(|w| w.starts_with("REQ-"))
        .unwrap()
        .to_owned()
}
