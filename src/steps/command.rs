//! `command`: run a program from the runbook (a `pg_restore` wrapper, an integrity check) —
//! argv only, never through a shell, with an environment made of the allow-list alone, its
//! output captured (the tail of each stream) and its life bounded by the step's timeout.
//!
//! The runner underneath (`run_program`) is shared with `backup_check`'s command source.

use std::ffi::OsString;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;
use tracing::{info, instrument, warn};

use super::http::within_step;
use super::process_group::GroupGuard;
use super::{StepEnv, StepError, StepInput, StepOutput};
use crate::runbook::CommandStep;

/// Bytes kept from the end of stdout and of stderr: the end is where programs say what went
/// wrong, and the event log must stay small.
pub(crate) const OUTPUT_KEPT: usize = 4 * 1024;

/// The end of a stream: the last `keep` bytes, and how many bytes passed in all.
#[derive(Debug, Clone)]
pub(crate) struct Tail {
    keep: usize,
    buf: Vec<u8>,
    total: u64,
}

impl Tail {
    pub(crate) fn new(keep: usize) -> Self {
        Self {
            keep,
            buf: Vec::new(),
            total: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        self.buf.extend_from_slice(bytes);
        // Trim in batches, not on every push, so a chatty program costs amortised O(n).
        if self.buf.len() > 2 * self.keep {
            let cut = self.buf.len() - self.keep;
            self.buf.drain(..cut);
        }
    }

    pub(crate) fn truncated(&self) -> bool {
        self.total > self.keep as u64
    }

    /// The kept bytes as text, starting with `…` when earlier output was dropped. A cut in
    /// the middle of a UTF-8 character skips that character's remaining bytes.
    pub(crate) fn text(&self) -> String {
        let mut kept = &self.buf[self.buf.len().saturating_sub(self.keep)..];
        if !self.truncated() {
            return String::from_utf8_lossy(kept).into_owned();
        }
        while let [first, rest @ ..] = kept {
            if first & 0b1100_0000 != 0b1000_0000 {
                break;
            }
            kept = rest;
        }
        format!("…{}", String::from_utf8_lossy(kept))
    }
}

/// A program to run and the only environment it gets.
#[derive(Debug)]
pub(crate) struct Invocation<'a> {
    pub argv: &'a [String],
    pub env: Vec<(String, OsString)>,
    pub workdir: Option<&'a Path>,
    pub limit: Duration,
}

#[derive(Debug)]
pub(crate) struct Finished {
    pub status: ExitStatus,
    pub stdout: Tail,
    pub stderr: Tail,
    pub duration: Duration,
}

#[derive(Debug)]
pub(crate) enum RunError {
    /// The program could not be started (not found, not executable, bad workdir).
    Spawn { program: String, reason: String },
    /// It ran past the limit and was killed; what it printed until then is kept.
    TimedOut {
        program: String,
        stdout: Tail,
        stderr: Tail,
        duration: Duration,
    },
    /// Waiting for it failed (the OS lost track of the child).
    Wait { program: String, reason: String },
}

/// Runs `argv[0]` with `argv[1..]`, stdin closed, output captured, killed at `limit`.
///
/// The program leads a process group of its own, and the whole group is killed at the limit or
/// when this future is dropped (the engine's own timeout, a cancellation): processes it started
/// in turn (a wrapper script's `pg_restore` and its workers) end with it.
pub(crate) async fn run_program(invocation: &Invocation<'_>) -> Result<Finished, RunError> {
    let Some((program, args)) = invocation.argv.split_first() else {
        return Err(RunError::Spawn {
            program: String::new(),
            reason: "argv is empty".into(),
        });
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(invocation.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = invocation.workdir {
        command.current_dir(dir);
    }
    let started = Instant::now();
    let mut child = command.spawn().map_err(|err| RunError::Spawn {
        program: program.clone(),
        reason: match err.kind() {
            std::io::ErrorKind::NotFound => "program not found".to_owned(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            _ => err.to_string(),
        },
    })?;
    let mut group = GroupGuard::of(&child);
    let mut stdout = Tail::new(OUTPUT_KEPT);
    let mut stderr = Tail::new(OUTPUT_KEPT);
    let out_pipe = child.stdout.take();
    let err_pipe = child.stderr.take();
    // Both pipes are drained while waiting: a program blocked on a full pipe never exits.
    let outcome = tokio::time::timeout(invocation.limit, async {
        let (_, _, status) = tokio::join!(
            drain(out_pipe, &mut stdout),
            drain(err_pipe, &mut stderr),
            child.wait()
        );
        status
    })
    .await;
    let duration = started.elapsed();
    match outcome {
        Ok(Ok(status)) => {
            group.disarm();
            Ok(Finished {
                status,
                stdout,
                stderr,
                duration,
            })
        }
        Ok(Err(err)) => Err(RunError::Wait {
            program: program.clone(),
            reason: err.to_string(),
        }),
        Err(_) => {
            // Kill the whole group and reap the leader, so nothing it started outlives the
            // step and no zombie stays.
            group.kill();
            if let Err(err) = child.wait().await {
                warn!(%program, %err, "reaping the timed-out program failed");
            }
            Err(RunError::TimedOut {
                program: program.clone(),
                stdout,
                stderr,
                duration,
            })
        }
    }
}

async fn drain(pipe: Option<impl AsyncRead + Unpin>, tail: &mut Tail) {
    let Some(mut pipe) = pipe else { return };
    let mut buf = [0u8; 8192];
    // A read error ends the capture, not the program: its exit status still decides.
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        tail.push(&buf[..n]);
    }
}

/// The environment a program gets: `PATH` (so that `argv[0]` is found the way an operator's
/// shell would find it, and so are the programs a wrapper script calls), then each
/// allow-listed variable that is set. Nothing else is inherited: the bot's own secrets
/// (Discord token, API keys) stay out of programs that do not ask for them.
pub(crate) fn allowed_env(
    allow: &[String],
    lookup: impl Fn(&str) -> Option<OsString>,
) -> (Vec<(String, OsString)>, Vec<String>) {
    let mut passed = Vec::new();
    let mut missing = Vec::new();
    let names =
        std::iter::once("PATH").chain(allow.iter().map(String::as_str).filter(|n| *n != "PATH"));
    for name in names {
        match lookup(name) {
            Some(value) => passed.push((name.to_owned(), value)),
            None if name == "PATH" => {}
            None => missing.push(name.to_owned()),
        }
    }
    (passed, missing)
}

/// How a program ended, in words: `exited with code 2`, `was killed by signal 9`.
pub(crate) fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with code {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    format!("ended with {status}")
}

/// The end of stderr for a message people read: its last lines, at most ~500 characters.
pub(crate) fn stderr_excerpt(stderr: &Tail) -> String {
    let text = stderr.text();
    let text = text.trim();
    if text.is_empty() {
        return "(nothing on stderr)".to_owned();
    }
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 500 {
        return text.to_owned();
    }
    format!("…{}", chars[chars.len() - 500..].iter().collect::<String>())
}

fn output_data(
    argv: &[String],
    env_names: &[&str],
    stdout: &Tail,
    stderr: &Tail,
    duration: Duration,
) -> Value {
    json!({
        "argv": argv,
        "env": env_names,
        "stdout": stdout.text(),
        "stdout_truncated": stdout.truncated(),
        "stderr": stderr.text(),
        "stderr_truncated": stderr.truncated(),
        "duration_ms": duration.as_millis() as u64,
    })
}

/// `command`: run the program; success is exit code 0.
#[instrument(skip_all, fields(run = %input.run, step = %input.step.id))]
pub async fn run(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &CommandStep,
) -> Result<StepOutput, StepError> {
    let argv = args
        .argv
        .iter()
        .map(|arg| input.expand(env, arg))
        .collect::<Result<Vec<_>, _>>()?;
    let program = match argv.first() {
        Some(program) if !program.is_empty() => program.clone(),
        _ => return Err(StepError::invalid("argv needs at least the program to run")),
    };
    if let Some(dir) = args.workdir.as_deref().filter(|d| !d.is_dir()) {
        return Err(StepError::invalid(format!(
            "workdir {} does not exist or is not a directory",
            dir.display()
        )));
    }
    let (vars, missing) = allowed_env(&args.env, |name| std::env::var_os(name));
    if !missing.is_empty() {
        // Not an error: an optional variable may legitimately be unset on this host.
        warn!(?missing, "allow-listed variables are not set");
    }
    let env_names: Vec<&str> = vars.iter().map(|(name, _)| name.as_str()).collect();
    info!(?argv, env = ?env_names, "running");
    let invocation = Invocation {
        argv: &argv,
        env: vars.clone(),
        workdir: args.workdir.as_deref(),
        limit: within_step(input.step.timeout.get()),
    };
    match run_program(&invocation).await {
        Ok(done) => {
            let mut output =
                output_data(&argv, &env_names, &done.stdout, &done.stderr, done.duration);
            output["exit_code"] = json!(done.status.code());
            let ms = done.duration.as_millis();
            if done.status.success() {
                info!(%program, duration_ms = ms as u64, "succeeded");
                Ok(StepOutput::new(
                    format!("`{program}` succeeded in {ms} ms"),
                    output,
                ))
            } else {
                let how = describe_exit(done.status);
                warn!(%program, %how, "failed");
                Err(StepError::invalid(format!(
                    "`{program}` {how}: {}",
                    stderr_excerpt(&done.stderr)
                ))
                .with_data(output))
            }
        }
        Err(RunError::Spawn { program, reason }) => Err(StepError::invalid(format!(
            "cannot run `{program}`: {reason}"
        ))
        .with_data(json!({ "argv": argv }))),
        // Not retried: the step's whole time went to this run, and a half-done command (a
        // restore) is for a human to judge before it runs again.
        Err(RunError::TimedOut {
            program,
            stdout,
            stderr,
            duration,
        }) => {
            warn!(%program, "timed out; killed");
            let mut output = output_data(&argv, &env_names, &stdout, &stderr, duration);
            output["timed_out"] = json!(true);
            Err(StepError::invalid(format!(
                "`{program}` timed out after {} and was killed",
                input.step.timeout
            ))
            .with_data(output))
        }
        Err(RunError::Wait { program, reason }) => Err(StepError::invalid(format!(
            "lost track of `{program}` while it ran: {reason}"
        ))
        .with_data(json!({ "argv": argv }))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_keeps_the_end_and_says_so() {
        let mut tail = Tail::new(8);
        tail.push(b"hello");
        assert_eq!((tail.text().as_str(), tail.truncated()), ("hello", false));
        tail.push(b" world, again");
        assert!(tail.truncated());
        assert_eq!(tail.text(), "…d, again");
        assert_eq!(tail.total, 18);
        // Many small pushes keep memory bounded.
        for _ in 0..1000 {
            tail.push(b"0123456789");
        }
        assert!(tail.buf.len() <= 16);
        assert_eq!(tail.text(), "…23456789");
    }

    #[test]
    fn a_tail_never_starts_inside_a_character() {
        let mut tail = Tail::new(4);
        tail.push("aé€".as_bytes()); // 1 + 2 + 3 bytes: the last 4 are é's second byte and €
        assert_eq!(tail.text(), "…€");
        let mut tail = Tail::new(4);
        tail.push("ab€".as_bytes()); // 5 bytes: the cut falls before `b`
        assert_eq!(tail.text(), "…b€");
    }

    #[test]
    fn only_path_and_the_allow_list_pass() {
        let host = |name: &str| match name {
            "PATH" => Some(OsString::from("/usr/bin:/bin")),
            "PGHOST" => Some(OsString::from("db")),
            _ => None,
        };
        let (vars, missing) =
            allowed_env(&["PGHOST".into(), "PGPASSWORD".into(), "PATH".into()], host);
        let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["PATH", "PGHOST"]);
        assert_eq!(missing, ["PGPASSWORD"]);
        let (vars, missing) = allowed_env(&[], |_| None);
        assert!(
            vars.is_empty() && missing.is_empty(),
            "an unset PATH is not reported"
        );
    }

    #[test]
    fn stderr_excerpts_are_short() {
        let mut tail = Tail::new(OUTPUT_KEPT);
        assert_eq!(stderr_excerpt(&tail), "(nothing on stderr)");
        tail.push(b"  pg_restore: error: connection refused\n");
        assert_eq!(
            stderr_excerpt(&tail),
            "pg_restore: error: connection refused"
        );
        tail.push("x".repeat(600).as_bytes());
        let excerpt = stderr_excerpt(&tail);
        assert_eq!(excerpt.chars().count(), 501);
        assert!(excerpt.starts_with('…'));
    }

    #[cfg(unix)]
    #[test]
    fn exits_are_described() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            describe_exit(ExitStatus::from_raw(2 << 8)),
            "exited with code 2"
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(9)),
            "was killed by signal 9"
        );
    }
}
