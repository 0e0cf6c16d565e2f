//! `backup_check`: how old is the latest backup? Read from a JSON status endpoint (an RFC 3339
//! time at a JSON pointer) or from a command's stdout, and compared with the RPO. The age is
//! the measured data-loss window, so it is recorded (`age_secs`) whether the check passes or
//! fails; client notices and the timeline read it from there.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tracing::{info, instrument, warn};

use super::command::{
    Invocation, RunError, allowed_env, describe_exit, run_program, stderr_excerpt,
};
use super::http::{StatusClass, classify, valid_url, within_step};
use super::{StepEnv, StepError, StepInput, StepOutput};
use crate::duration::{HumanDuration, format_elapsed};
use crate::events::{BackupCheckOutput, read_output};
use crate::ports::http::{describe, read_capped, truncate_chars};
use crate::reminders::BackupReading;
use crate::runbook::BackupCheck;

/// Largest status document read: a backup status is a few hundred bytes.
const BODY_LIMIT: usize = 1024 * 1024;
/// A completion time this far in the future is put down to clock skew between hosts; beyond
/// it, the time is wrong (a time-zone slip) and trusting it could hide a stale backup.
const SKEW_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Where the completion time came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Url,
    Command,
}

/// Parses an RFC 3339 time, naming what was found when it is not one.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|err| {
            format!(
                "{:?} is not an RFC 3339 time like 2026-11-25T08:00:00Z ({err})",
                truncate_chars(text, 80)
            )
        })
}

/// The completion time at `pointer` in a JSON status document.
pub fn time_at(body: &[u8], pointer: &str) -> Result<DateTime<Utc>, String> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|err| format!("the answer is not JSON ({err})"))?;
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(format!(
            "time_pointer `{pointer}` is not a JSON pointer: it starts with `/`, e.g. `/latest/completed_at`"
        ));
    }
    match doc.pointer(pointer) {
        None => Err(format!("the answer has nothing at {pointer}")),
        Some(Value::String(text)) => parse_time(text).map_err(|err| format!("at {pointer}: {err}")),
        Some(other) => Err(format!(
            "at {pointer}: {} is not an RFC 3339 time string",
            truncate_chars(&other.to_string(), 80)
        )),
    }
}

/// What the age says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh {
        age: Duration,
    },
    TooOld {
        age: Duration,
    },
    /// Further in the future than clock skew explains.
    InFuture {
        by: Duration,
    },
}

/// Judges a completion time against `max_age` at `now`. Exactly `max_age` old is still fresh.
pub fn freshness(completed_at: DateTime<Utc>, now: DateTime<Utc>, max_age: Duration) -> Freshness {
    match (now - completed_at).to_std() {
        Ok(age) if age > max_age => Freshness::TooOld { age },
        Ok(age) => Freshness::Fresh { age },
        // Negative: the backup claims to complete after `now`.
        Err(_) => {
            let by = (completed_at - now).to_std().unwrap_or_default();
            if by <= SKEW_TOLERANCE {
                Freshness::Fresh {
                    age: Duration::ZERO,
                }
            } else {
                Freshness::InFuture { by }
            }
        }
    }
}

/// `backup_check`: measure the latest backup's age; fail when it is older than allowed.
#[instrument(skip_all, fields(run = %input.run, step = %input.step.id))]
pub async fn check(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &BackupCheck,
) -> Result<StepOutput, StepError> {
    let (max_age, limit_name) = match args.max_age {
        Some(max) => (max, format!("the maximum age of {max}")),
        None => (
            env.config.objectives.rpo,
            format!("the RPO of {}", env.config.objectives.rpo),
        ),
    };
    let limit = within_step(input.step.timeout.get());
    let (completed_at, source, origin) = match (&args.url, &args.command) {
        (Some(url), None) => {
            let pointer = args
                .time_pointer
                .as_deref()
                .ok_or_else(|| StepError::invalid("backup_check by `url` needs `time_pointer`"))?;
            let url = valid_url(input.expand(env, url)?)?;
            let at = from_endpoint(&env.http, &url, pointer, limit).await?;
            (at, Source::Url, url)
        }
        (None, Some(argv)) => {
            let argv = argv
                .iter()
                .map(|arg| input.expand(env, arg))
                .collect::<Result<Vec<_>, _>>()?;
            let at = from_command(&argv, limit, input.step.timeout).await?;
            (at, Source::Command, argv.join(" "))
        }
        _ => {
            return Err(StepError::invalid(
                "backup_check needs exactly one of `url` (with `time_pointer`) or `command`",
            ));
        }
    };
    let now = Utc::now();
    let stamp = completed_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut output = BackupCheckOutput {
        source: match source {
            Source::Url => "url",
            Source::Command => "command",
        }
        .to_owned(),
        from: origin,
        completed_at: Some(stamp.clone()),
        max_age_secs: max_age.get().as_secs(),
        age_secs: None,
    };
    let data = |output: &BackupCheckOutput| serde_json::to_value(output).unwrap_or_default();
    match freshness(completed_at, now, max_age.get()) {
        Freshness::Fresh { age } => {
            output.age_secs = Some(age.as_secs());
            info!(completed_at = %stamp, age_secs = age.as_secs(), "backup fresh enough");
            Ok(StepOutput::new(
                format!(
                    "latest backup completed at {stamp}, {} ago (within {limit_name})",
                    format_elapsed(age)
                ),
                data(&output),
            ))
        }
        Freshness::TooOld { age } => {
            output.age_secs = Some(age.as_secs());
            warn!(completed_at = %stamp, age_secs = age.as_secs(), "backup too old");
            Err(StepError::invalid(format!(
                "latest backup is {} old, older than {limit_name}",
                format_elapsed(age)
            ))
            .with_data(data(&output)))
        }
        Freshness::InFuture { by } => Err(StepError::invalid(format!(
            "latest backup claims to complete at {stamp}, {} from now: check the clock or time zone of its source",
            format_elapsed(by)
        ))
        .with_data(data(&output))),
    }
}

async fn from_endpoint(
    http: &reqwest::Client,
    url: &str,
    pointer: &str,
    limit: Duration,
) -> Result<DateTime<Utc>, StepError> {
    let exchange = async {
        let mut response = http.get(url).send().await?;
        let status = response.status().as_u16();
        let (body, _) = read_capped(&mut response, BODY_LIMIT).await?;
        Ok::<_, reqwest::Error>((status, body))
    };
    let (status, body) = match tokio::time::timeout(limit, exchange).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(err)) if err.is_timeout() => {
            return Err(StepError::retryable(format!(
                "{url} did not answer within {}",
                HumanDuration(limit)
            )));
        }
        Ok(Err(err)) => return Err(StepError::retryable(format!("{url}: {}", describe(&err)))),
        Err(_) => {
            return Err(StepError::retryable(format!(
                "{url} did not answer within {}",
                HumanDuration(limit)
            )));
        }
    };
    let refused = format!("{url} answered {status}");
    match classify(status, &[]) {
        StatusClass::Accepted => {}
        StatusClass::Retry => {
            return Err(
                StepError::retryable(refused).with_data(json!({ "url": url, "status": status }))
            );
        }
        StatusClass::Refused => {
            return Err(
                StepError::invalid(refused).with_data(json!({ "url": url, "status": status }))
            );
        }
    }
    // A malformed answer will be malformed next time too: not retryable.
    time_at(&body, pointer).map_err(|err| StepError::invalid(format!("{url}: {err}")))
}

async fn from_command(
    argv: &[String],
    limit: Duration,
    step_timeout: HumanDuration,
) -> Result<DateTime<Utc>, StepError> {
    let program = argv.first().cloned().unwrap_or_default();
    // PATH only: a status command needs no secrets from the bot's environment.
    let (vars, _) = allowed_env(&[], |name| std::env::var_os(name));
    let invocation = Invocation {
        argv,
        env: vars,
        workdir: None,
        limit,
    };
    let done = match run_program(&invocation).await {
        Ok(done) => done,
        Err(RunError::Spawn { program, reason }) => {
            return Err(StepError::invalid(format!(
                "cannot run `{program}`: {reason}"
            )));
        }
        // A read-only status query: another attempt may well answer in time.
        Err(RunError::TimedOut { program, .. }) => {
            return Err(StepError::retryable(format!(
                "`{program}` timed out after {step_timeout} and was killed"
            )));
        }
        Err(RunError::Wait { program, reason }) => {
            return Err(StepError::invalid(format!(
                "lost track of `{program}`: {reason}"
            )));
        }
    };
    if !done.status.success() {
        return Err(StepError::invalid(format!(
            "`{program}` {}: {}",
            describe_exit(done.status),
            stderr_excerpt(&done.stderr)
        )));
    }
    parse_time(&done.stdout.text())
        .map_err(|err| StepError::invalid(format!("the output of `{program}`: {err}")))
}

/// The RPO watch's reading of one `backup_check` result, decided here beside the output it
/// reads.
impl BackupReading {
    /// Reads `backup_check`'s result: a failure that measured an age is a stale backup; any
    /// other failure means the age is unknown.
    pub fn from_check(result: &Result<StepOutput, StepError>) -> Self {
        let (output, ok) = match result {
            Ok(out) => (&out.data, true),
            Err(err) => (&err.data, false),
        };
        let output: BackupCheckOutput = read_output(output);
        let completed_at = output.completed_at;
        match (output.age_secs.map(Duration::from_secs), ok) {
            (Some(age), true) => BackupReading::Fresh { age, completed_at },
            (Some(age), false) => BackupReading::TooOld { age, completed_at },
            (None, _) => BackupReading::Unreadable {
                error: match result {
                    Err(err) => err.message.clone(),
                    Ok(out) => format!("the check answered without an age: {}", out.summary),
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        parse_time(text).unwrap()
    }

    #[test]
    fn times_are_rfc3339_with_any_offset() {
        assert_eq!(at("2026-11-25T08:00:00Z"), at("2026-11-25T09:00:00+01:00"));
        assert_eq!(
            at("  2026-11-25T08:00:00.123Z\n"),
            at("2026-11-25T08:00:00.123+00:00")
        );
        let err = parse_time("yesterday").unwrap_err();
        assert!(
            err.starts_with("\"yesterday\" is not an RFC 3339 time"),
            "{err}"
        );
        assert!(
            parse_time("2026-11-25 08:00").is_err(),
            "no offset, no guess"
        );
    }

    #[test]
    fn the_time_is_read_at_the_pointer() {
        let body = br#"{"latest":{"id":"b-42","completed_at":"2026-11-25T08:00:00Z","size":12},"count":3}"#;
        assert_eq!(
            time_at(body, "/latest/completed_at").unwrap(),
            at("2026-11-25T08:00:00Z")
        );
        assert_eq!(
            time_at(body, "/latest/started_at").unwrap_err(),
            "the answer has nothing at /latest/started_at"
        );
        assert!(
            time_at(body, "/latest/size")
                .unwrap_err()
                .contains("12 is not an RFC 3339 time string")
        );
        assert!(
            time_at(body, "latest.completed_at")
                .unwrap_err()
                .contains("is not a JSON pointer")
        );
        assert!(
            time_at(b"<html>502</html>", "/latest")
                .unwrap_err()
                .contains("not JSON")
        );
        let bad = br#"{"latest":{"completed_at":"25/11/2026"}}"#;
        assert!(
            time_at(bad, "/latest/completed_at")
                .unwrap_err()
                .starts_with("at /latest/completed_at: \"25/11/2026\"")
        );
    }

    #[test]
    fn age_is_compared_with_the_limit() {
        let now = at("2026-11-25T10:00:00Z");
        let hour = Duration::from_secs(3600);
        assert_eq!(
            freshness(at("2026-11-25T09:30:00Z"), now, hour),
            Freshness::Fresh {
                age: Duration::from_secs(1800)
            }
        );
        assert_eq!(
            freshness(at("2026-11-25T09:00:00Z"), now, hour),
            Freshness::Fresh { age: hour }
        );
        assert_eq!(
            freshness(at("2026-11-25T08:48:00Z"), now, hour),
            Freshness::TooOld {
                age: Duration::from_secs(4320)
            }
        );
        // Two hosts' clocks a minute apart: fresh, age 0. An hour ahead: a wrong time zone.
        assert_eq!(
            freshness(at("2026-11-25T10:01:00Z"), now, hour),
            Freshness::Fresh {
                age: Duration::ZERO
            }
        );
        assert_eq!(
            freshness(at("2026-11-25T11:00:00Z"), now, hour),
            Freshness::InFuture { by: hour }
        );
    }

    #[test]
    fn the_too_old_message_reads_like_the_plan() {
        // The same formatting `check` uses.
        let age = Duration::from_secs(4320);
        let message = format!(
            "latest backup is {} old, older than the RPO of {}",
            format_elapsed(age),
            HumanDuration::from_secs(3600)
        );
        assert_eq!(
            message,
            "latest backup is 1h 12m old, older than the RPO of 1h"
        );
    }

    /// The RPO watch's readings (`crate::reminders`), with the stale reading it was written with.
    mod rpo_reading {
        use super::super::*;
        use crate::reminders::RpoEffect;

        fn old(secs: u64) -> BackupReading {
            BackupReading::TooOld {
                age: Duration::from_secs(secs),
                completed_at: None,
            }
        }

        #[test]
        fn readings_come_from_the_backup_checks_result() {
            let ok = Ok(StepOutput::new(
                "fine",
                json!({"age_secs": 600, "completed_at": "2026-01-01T00:00:00Z"}),
            ));
            assert_eq!(
                BackupReading::from_check(&ok),
                BackupReading::Fresh {
                    age: Duration::from_secs(600),
                    completed_at: Some("2026-01-01T00:00:00Z".into())
                }
            );
            let stale = Err(StepError::invalid("too old").with_data(json!({"age_secs": 7200})));
            assert!(matches!(
                BackupReading::from_check(&stale),
                BackupReading::TooOld { .. }
            ));
            let down = Err(StepError::retryable("x answered 503"));
            assert_eq!(
                BackupReading::from_check(&down),
                BackupReading::Unreadable {
                    error: "x answered 503".into()
                }
            );
            let text =
                RpoEffect::Breached.message(&old(4320), Duration::from_secs(3600), "rb", "s");
            assert!(
                text.contains("1h 12m old, older than the RPO of 1h 00m"),
                "{text}"
            );
        }
    }
}
