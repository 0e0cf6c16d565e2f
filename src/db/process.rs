//! Running the PostgreSQL tools: argv without secrets, an environment of `PATH` and the libpq
//! variables only, each tool the leader of its own process group so a timeout (or a dropped
//! future, or Lifeboat's own shutdown) kills everything it started — `pg_restore --jobs N`
//! forks N workers, and a killed leader would leave them restoring.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

/// Bytes kept from the end of stderr: where tools say what went wrong.
const STDERR_KEPT: usize = 8 * 1024;

/// Kills a whole process group when dropped, unless disarmed after a clean exit.
pub(crate) struct GroupGuard {
    pgid: Option<Pid>,
}

impl GroupGuard {
    pub(crate) fn of(child: &Child) -> Self {
        Self {
            pgid: child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .and_then(Pid::from_raw),
        }
    }

    pub(crate) fn pgid(&self) -> Option<i32> {
        self.pgid.map(|p| p.as_raw_nonzero().get())
    }

    /// Kills every process of the group now.
    pub(crate) fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // ESRCH (all gone already) is the only expected error, and harmless.
            let _ = kill_process_group(pgid, Signal::KILL);
        }
    }

    /// The group ended by itself: nothing to kill (its id may be reused later).
    pub(crate) fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One tool to run.
#[derive(Debug, Clone)]
pub(crate) struct Tool {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(String, String)>,
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
    /// The end of stderr, not yet redacted.
    pub stderr: String,
}

#[derive(Debug)]
pub(crate) enum RunError {
    Spawn(String),
    /// Killed at the limit (with its whole group); what it said until then.
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
    let mut stderr = Vec::new();
    let mut captured = Vec::new();
    let outcome = tokio::time::timeout(limit, async {
        let (_, _, status) = tokio::join!(
            async {
                match stdout {
                    Stdout::Capture(cap) => drain(out, |b| keep_head(&mut captured, b, cap)).await,
                    Stdout::Stream(f) => drain(out, f).await,
                }
            },
            drain(err, |b| keep_tail(&mut stderr, b)),
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
                stderr: text(&stderr),
            })
        }
        Ok(Err(err)) => Err(RunError::Wait(err.to_string())),
        Err(_) => {
            group.kill();
            let _ = child.wait().await;
            Err(RunError::TimedOut {
                stderr: text(&stderr),
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

pub(crate) fn keep_tail(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(bytes);
    if buf.len() > 2 * STDERR_KEPT {
        let cut = buf.len() - STDERR_KEPT;
        buf.drain(..cut);
    }
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
        let mut buf = Vec::new();
        for _ in 0..100 {
            keep_tail(&mut buf, &[b'x'; 1000]);
        }
        assert!(buf.len() <= 2 * STDERR_KEPT);
        assert_eq!(excerpt("  pg_restore: error: x\n"), "pg_restore: error: x");
        assert_eq!(excerpt(&"y".repeat(700)).chars().count(), 601);
    }
}
