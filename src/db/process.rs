//! Running the PostgreSQL tools: argv without secrets, an environment of `PATH` and the libpq
//! variables only, each tool the leader of its own process group so a timeout (or a dropped
//! future, or Lifeboat's own shutdown) kills everything it started — `pg_restore --jobs N`
//! forks N workers, and a killed leader would leave them restoring.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::url::Redactor;
pub(crate) use crate::steps::process_group::GroupGuard;

/// Bytes kept from the end of stderr: where tools say what went wrong.
const STDERR_KEPT: usize = 8 * 1024;

/// One tool to run. Its `Debug` names the variables, never their values (`PGPASSWORD`).
#[derive(Clone)]
pub(crate) struct Tool {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(String, String)>,
    /// What its stderr must not show.
    pub redactor: Redactor,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool")
            .field("program", &self.program)
            .field("args", &self.args)
            .field(
                "env",
                &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .field("redactor", &self.redactor)
            .finish()
    }
}

impl Tool {
    pub(crate) fn name(&self) -> String {
        self.program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The command, in a new process group (or `join`'s), with only `env` and `PATH`.
    pub(crate) fn command(&self, join: Option<i32>) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .process_group(join.unwrap_or(0))
            .kill_on_drop(true);
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        command
    }
}

/// How a tool ended.
#[derive(Debug)]
pub(crate) struct Ran {
    pub status: ExitStatus,
    /// Stdout, when captured (capped).
    pub stdout: String,
    /// The end of stderr, redacted.
    pub stderr: String,
}

#[derive(Debug)]
pub(crate) enum RunError {
    Spawn(String),
    /// Killed at the limit (with its whole group); what it said until then, redacted.
    TimedOut {
        stderr: String,
    },
    Wait(String),
}

/// What to do with stdout.
pub(crate) enum Stdout<'a> {
    /// Keep up to this many bytes.
    Capture(usize),
    /// Hand each chunk to this function (streaming, e.g. counting rows).
    Stream(&'a mut (dyn FnMut(&[u8]) + Send)),
}

/// Runs `tool` to its end or `limit`, stdin closed.
pub(crate) async fn run(tool: &Tool, limit: Duration, stdout: Stdout<'_>) -> Result<Ran, RunError> {
    let mut command = tool.command(None);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|err| spawn_error(tool, &err))?;
    let mut group = GroupGuard::of(&child);
    let out = child.stdout.take();
    let err = child.stderr.take();
    let mut stderr = Tail::new(&tool.redactor);
    let mut captured = Vec::new();
    let outcome = tokio::time::timeout(limit, async {
        let (_, _, status) = tokio::join!(
            async {
                match stdout {
                    Stdout::Capture(cap) => drain(out, |b| keep_head(&mut captured, b, cap)).await,
                    Stdout::Stream(f) => drain(out, f).await,
                }
            },
            drain(err, |b| stderr.push(b)),
            child.wait()
        );
        status
    })
    .await;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match outcome {
        Ok(Ok(status)) => {
            group.disarm();
            Ok(Ran {
                status,
                stdout: text(&captured),
                stderr: stderr.into_text(),
            })
        }
        Ok(Err(err)) => Err(RunError::Wait(err.to_string())),
        Err(_) => {
            group.kill();
            let _ = child.wait().await;
            Err(RunError::TimedOut {
                stderr: stderr.into_text(),
            })
        }
    }
}

pub(crate) fn spawn_error(tool: &Tool, err: &std::io::Error) -> RunError {
    RunError::Spawn(match err.kind() {
        std::io::ErrorKind::NotFound => format!("{} not found", tool.program.display()),
        std::io::ErrorKind::PermissionDenied => {
            format!("{}: permission denied", tool.program.display())
        }
        _ => format!("{}: {err}", tool.program.display()),
    })
}

pub(crate) async fn drain(pipe: Option<impl AsyncRead + Unpin>, mut sink: impl FnMut(&[u8])) {
    let Some(mut pipe) = pipe else { return };
    let mut buf = vec![0u8; 64 * 1024];
    // A read error ends the capture, not the program: its exit status still decides.
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        sink(&buf[..n]);
    }
}

/// The end of what a tool says on stderr, redacted *before* anything is cut: cutting first
/// could keep the tail of a password (or of a URL's user info), which no redaction matches.
pub(crate) struct Tail<'a> {
    buf: Vec<u8>,
    redactor: &'a Redactor,
}

impl<'a> Tail<'a> {
    pub(crate) fn new(redactor: &'a Redactor) -> Self {
        Self {
            buf: Vec::new(),
            redactor,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() <= 2 * STDERR_KEPT {
            return;
        }
        // Redact what has fully arrived (a character cut by the pipe waits for its rest), so
        // a secret is replaced whole before the cut; one still arriving is at the end, kept.
        let whole = complete_utf8(&self.buf);
        let mut redacted = self
            .redactor
            .redact(&String::from_utf8_lossy(&self.buf[..whole]))
            .into_bytes();
        redacted.extend_from_slice(&self.buf[whole..]);
        let mut cut = redacted.len().saturating_sub(STDERR_KEPT);
        // On a character boundary: no half character at the start of the excerpt.
        while cut < redacted.len() && redacted[cut] & 0xC0 == 0x80 {
            cut += 1;
        }
        redacted.drain(..cut);
        self.buf = redacted;
    }

    /// Everything kept, redacted.
    pub(crate) fn into_text(self) -> String {
        self.redactor.redact(&String::from_utf8_lossy(&self.buf))
    }
}

/// The length of `buf` without a UTF-8 character cut short at its end.
fn complete_utf8(buf: &[u8]) -> usize {
    let n = buf.len();
    for back in 1..=n.min(4) {
        let b = buf[n - back];
        if b & 0xC0 == 0x80 {
            continue;
        }
        let wants = match b {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        return if back < wants { n - back } else { n };
    }
    n
}

fn keep_head(buf: &mut Vec<u8>, bytes: &[u8], cap: usize) {
    let room = cap.saturating_sub(buf.len());
    buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// The last lines of stderr for a message: at most ~600 characters, trimmed.
pub(crate) fn excerpt(stderr: &str) -> String {
    let text = stderr.trim();
    if text.is_empty() {
        return "(nothing on stderr)".to_owned();
    }
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 600 {
        return text.to_owned();
    }
    format!("…{}", chars[chars.len() - 600..].iter().collect::<String>())
}

/// `exited with code 1`, `was killed by signal 9`.
pub(crate) fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        _ => format!("ended with {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Tool {
        Tool {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![("GREETING".into(), "hi".into())],
            redactor: Redactor::default(),
        }
    }

    #[tokio::test]
    async fn a_tool_sees_only_path_and_its_variables() {
        let ran = run(
            &sh("echo $GREETING; env | sort | cut -d= -f1"),
            Duration::from_secs(5),
            Stdout::Capture(1 << 16),
        )
        .await
        .unwrap();
        assert!(ran.status.success());
        let names: Vec<&str> = ran.stdout.lines().skip(1).collect();
        assert!(ran.stdout.starts_with("hi\n"), "{}", ran.stdout);
        for name in names {
            assert!(
                ["GREETING", "PATH", "PWD", "SHLVL", "_", "OLDPWD"].contains(&name),
                "unexpected variable {name}"
            );
        }
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        // The leader starts two workers (like pg_restore --jobs 2) and waits for them.
        let script = format!(
            "sleep 30 & echo $! >> {p}; sleep 30 & echo $! >> {p}; wait",
            p = pids.display()
        );
        let started = std::time::Instant::now();
        let err = run(&sh(&script), Duration::from_millis(500), Stdout::Capture(0))
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::TimedOut { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(200));
        let listed = std::fs::read_to_string(&pids).unwrap();
        for pid in listed.lines() {
            let alive = std::path::Path::new(&format!("/proc/{pid}")).exists()
                && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .unwrap_or_default()
                    .contains(") Z ");
            assert!(!alive, "worker {pid} outlived the timeout");
        }
    }

    #[test]
    fn stderr_keeps_its_end() {
        let none = Redactor::default();
        let mut tail = Tail::new(&none);
        for _ in 0..100 {
            tail.push(&[b'x'; 1000]);
        }
        assert!(tail.buf.len() <= 2 * STDERR_KEPT);
        assert_eq!(excerpt("  pg_restore: error: x\n"), "pg_restore: error: x");
        assert_eq!(excerpt(&"y".repeat(700)).chars().count(), 601);
    }

    #[test]
    fn a_secret_across_the_cut_is_redacted_before_it_is_cut() {
        let secret = "S3cret-standby-pw";
        let redactor = Redactor::new(vec![secret.to_owned()]);
        let mut tail = Tail::new(&redactor);
        // The cut (STDERR_KEPT from the end) falls 3 bytes before the secret's end.
        let mut said = vec![b'x'; STDERR_KEPT];
        said.extend_from_slice(format!("password is {secret}").as_bytes());
        said.extend(std::iter::repeat_n(b'y', STDERR_KEPT - 3));
        tail.push(&said);
        let text = tail.into_text();
        for end in 2..secret.len() {
            assert!(!text.contains(&secret[end..]), "{} kept", &secret[end..]);
        }
        // Arriving in pieces across the pushes, it is still caught whole.
        let mut tail = Tail::new(&redactor);
        for chunk in format!(
            "{}{secret}{}",
            "x".repeat(3 * STDERR_KEPT),
            "y".repeat(STDERR_KEPT)
        )
        .as_bytes()
        .chunks(7)
        {
            tail.push(chunk);
        }
        let text = tail.into_text();
        assert!(!text.contains("-pw") && !text.contains("S3c"), "{text}");
    }

    #[test]
    fn the_tail_is_cut_on_a_character_boundary() {
        let none = Redactor::default();
        let mut tail = Tail::new(&none);
        // 2-byte characters, fed in odd pieces: a piece may end inside one.
        for chunk in "é".repeat(3 * STDERR_KEPT).as_bytes().chunks(3) {
            tail.push(chunk);
        }
        let text = tail.into_text();
        assert!(!text.contains('\u{FFFD}'), "a character was cut");
        assert!(text.chars().all(|c| c == 'é'));
        assert_eq!(complete_utf8("aé".as_bytes()), 3);
        assert_eq!(complete_utf8(&"aé".as_bytes()[..2]), 1);
        assert_eq!(complete_utf8(&"a€".as_bytes()[..3]), 1);
    }
}
