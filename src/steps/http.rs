//! `http_check` and `http_request`: poll an endpoint until it answers as a healthy one does,
//! and make one request with side effects (flip a provider switch, call an admin endpoint).
//!
//! Secrets reach this module only as header values (`${env.NAME}`): they are sent and never
//! recorded. Outputs, errors and traces name the headers, never their values.
//!
//! The small HTTP helpers at the bottom (`within_step`, `read_capped`, `describe`, `classify`)
//! are shared with the `llm` and `backup` steps.

use std::fmt;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::{debug, info, instrument, warn};

use super::{StepEnv, StepError, StepInput, StepOutput};
use crate::duration::HumanDuration;
use crate::ports::http::{describe, read_capped, truncate_chars};
use crate::runbook::interp::{self, Namespace};
use crate::runbook::{HttpCheck, HttpRequest};

/// Longest wait for one health-check attempt, so that one hung connection cannot use up the
/// whole window of a check that is meant to poll.
const MAX_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Shortest wait for one attempt: a fast poll must still give a real server time to answer.
const MIN_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
/// Polling faster than this only hammers an endpoint that is trying to come back.
const MIN_POLL: Duration = Duration::from_millis(100);
/// How much of a health-check body is searched for `body_contains`.
const CHECK_BODY_LIMIT: usize = 1024 * 1024;
/// How much of an `http_request` answer is kept in its output.
pub(crate) const BODY_KEPT: usize = 2 * 1024;

/// What one health-check attempt saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attempt {
    Answered {
        status: u16,
        latency: Duration,
        body: String,
    },
    Unreachable(String),
    NoAnswer(Duration),
}

/// Why an attempt does not count as healthy; its `Display` completes "`<url>` ...".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Status {
        status: u16,
        expected: u16,
    },
    BodyMissing {
        status: u16,
        needle: String,
    },
    TooSlow {
        status: u16,
        latency: Duration,
        max: Duration,
    },
    Unreachable(String),
    NoAnswer(Duration),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Status { status, expected } => {
                write!(f, "answered {status} (expected {expected})")
            }
            Problem::BodyMissing { status, needle } => {
                write!(f, "answered {status} without {needle:?} in the body")
            }
            Problem::TooSlow {
                status,
                latency,
                max,
            } => write!(
                f,
                "answered {status} in {} ms, slower than {}",
                latency.as_millis(),
                HumanDuration(*max)
            ),
            Problem::Unreachable(reason) => write!(f, "was unreachable ({reason})"),
            Problem::NoAnswer(limit) => {
                write!(f, "did not answer within {}", HumanDuration(*limit))
            }
        }
    }
}

/// Whether one answer is healthy. The status is judged first, then the body, then the
/// latency, so the message names the most fundamental problem.
pub fn judge(status: u16, body: &str, latency: Duration, args: &HttpCheck) -> Result<(), Problem> {
    if status != args.expect_status {
        return Err(Problem::Status {
            status,
            expected: args.expect_status,
        });
    }
    if let Some(needle) = args.body_contains.as_deref().filter(|n| !body.contains(*n)) {
        return Err(Problem::BodyMissing {
            status,
            needle: needle.to_owned(),
        });
    }
    if let Some(max) = args
        .max_latency
        .map(HumanDuration::get)
        .filter(|max| latency > *max)
    {
        return Err(Problem::TooSlow {
            status,
            latency,
            max,
        });
    }
    Ok(())
}

/// `http_check`: GET the URL every `poll` until it is healthy or the step's time is up.
#[instrument(skip_all, fields(run = %input.run, step = %input.step.id))]
pub async fn check(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &HttpCheck,
) -> Result<StepOutput, StepError> {
    let url = valid_url(input.expand(env, &args.url)?)?;
    let window = input.step.timeout;
    let deadline = Instant::now() + within_step(window.get());
    let poll = args.poll.get().max(MIN_POLL);
    let mut attempts: u32 = 0;
    let mut last: Option<(Problem, Attempt)> = None;
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let limit = poll
            .clamp(MIN_ATTEMPT_TIMEOUT, MAX_ATTEMPT_TIMEOUT)
            .min(remaining);
        let cut_short = limit < poll.clamp(MIN_ATTEMPT_TIMEOUT, MAX_ATTEMPT_TIMEOUT);
        let seen = attempt(&env.http, &url, limit).await;
        let problem = match &seen {
            Attempt::Answered {
                status,
                latency,
                body,
            } => match judge(*status, body, *latency, args) {
                Ok(()) => {
                    info!(%url, status, latency_ms = latency.as_millis() as u64, attempts, "healthy");
                    return Ok(StepOutput::new(
                        format!(
                            "{url} answered {status} in {} ms (attempt {attempts})",
                            latency.as_millis()
                        ),
                        json!({
                            "url": url,
                            "status": status,
                            "latency_ms": latency.as_millis() as u64,
                            "attempts": attempts,
                        }),
                    ));
                }
                Err(problem) => problem,
            },
            Attempt::Unreachable(reason) => Problem::Unreachable(reason.clone()),
            Attempt::NoAnswer(limit) => Problem::NoAnswer(*limit),
        };
        debug!(%url, attempt = attempts, %problem, "not healthy yet");
        // An attempt the deadline cut short says less than the one before it ("did not
        // answer within 140ms" would hide "answered in 300 ms, slower than 100ms").
        let timed_out = matches!(seen, Attempt::NoAnswer(_));
        let (problem, seen) = match last.take() {
            Some(previous) if cut_short && timed_out => previous,
            _ => (problem, seen),
        };
        // Stop when the next attempt could not start before the deadline: waiting out the
        // rest of the window cannot change the answer.
        if Instant::now() + poll >= deadline {
            warn!(%url, attempts, %problem, "still unhealthy at the deadline");
            let mut output = json!({
                "url": url,
                "attempts": attempts,
                "window": window.to_string(),
                "problem": problem.to_string(),
            });
            if let Attempt::Answered {
                status, latency, ..
            } = &seen
            {
                output["status"] = json!(status);
                output["latency_ms"] = json!(latency.as_millis() as u64);
            }
            // Not retryable: the check already had its whole window; the runbook's
            // `on_failure` decides what happens next.
            return Err(StepError::invalid(format!(
                "{url} {problem} for {window} ({attempts} attempts)"
            ))
            .with_data(output));
        }
        last = Some((problem, seen));
        tokio::time::sleep(poll).await;
    }
}

async fn attempt(http: &reqwest::Client, url: &str, limit: Duration) -> Attempt {
    let started = Instant::now();
    let exchange = async {
        let mut response = http.get(url).send().await?;
        let status = response.status().as_u16();
        let (body, _) = read_capped(&mut response, CHECK_BODY_LIMIT).await?;
        Ok::<_, reqwest::Error>((status, body))
    };
    match tokio::time::timeout(limit, exchange).await {
        Ok(Ok((status, body))) => Attempt::Answered {
            status,
            latency: started.elapsed(),
            body: String::from_utf8_lossy(&body).into_owned(),
        },
        Ok(Err(err)) if err.is_timeout() => Attempt::NoAnswer(limit),
        Ok(Err(err)) => Attempt::Unreachable(describe(&err)),
        Err(_) => Attempt::NoAnswer(limit),
    }
}

/// What to do with an answer's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Accepted,
    /// The server is overloaded, throttling or failing: another attempt may succeed.
    Retry,
    /// The server refused the request as it stands: sending it again changes nothing.
    Refused,
}

/// Accepted statuses are `expect` (any 2xx when empty). Among the rest, 5xx, 429 (throttled)
/// and 408 (the server timed out waiting for us) may pass on a retry; anything else is a
/// refusal of the request itself (validation, auth, not found, an unexpected redirect).
pub fn classify(status: u16, expect: &[u16]) -> StatusClass {
    let accepted = if expect.is_empty() {
        (200..300).contains(&status)
    } else {
        expect.contains(&status)
    };
    if accepted {
        StatusClass::Accepted
    } else if status >= 500 || status == 429 || status == 408 {
        StatusClass::Retry
    } else {
        StatusClass::Refused
    }
}

/// Expands `${params.*}` / `${vars.*}` in every string value of a JSON body (keys are left
/// alone: they are the API's field names).
pub fn expand_json(
    value: &Value,
    expand: &mut impl FnMut(&str) -> Result<String, StepError>,
) -> Result<Value, StepError> {
    Ok(match value {
        Value::String(text) => Value::String(expand(text)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| expand_json(item, expand))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| Ok((key.clone(), expand_json(item, expand)?)))
                .collect::<Result<_, StepError>>()?,
        ),
        other => other.clone(),
    })
}

/// Replaces every occurrence of a secret in `text` (through the one redactor): a server that
/// echoes a header back must not get it into the event log.
fn redact(text: &str, secrets: &[String]) -> String {
    crate::redact::Redactor::new(secrets.to_vec()).redact(text)
}

/// The headers to send, with the values of those that use `${env.*}` (the secrets), kept
/// aside for redaction.
fn build_headers(
    env: &StepEnv,
    input: &StepInput<'_>,
    headers: &std::collections::BTreeMap<String, String>,
) -> Result<(HeaderMap, Vec<String>), StepError> {
    let mut map = HeaderMap::new();
    let mut secrets = Vec::new();
    for (name, template) in headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| StepError::invalid(format!("`{name}` is not a valid header name")))?;
        let value = input.expand_secret(env, template)?;
        // Error messages name the header only: the value may be a secret.
        let mut header_value = HeaderValue::from_str(value.expose()).map_err(|_| {
            StepError::invalid(format!(
                "the value of header `{name}` contains characters a header cannot carry"
            ))
        })?;
        // Redact each secret on its own too: a server echoing the bare token of
        // `Bearer ${env.TOKEN}` must not slip past a check for the whole header value.
        let env_refs: Vec<_> = interp::references(template)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.namespace == Namespace::Env)
            .collect();
        for reference in &env_refs {
            if let Some(secret) = env.secrets.get(&reference.name) {
                secrets.push(secret.expose().to_owned());
            }
        }
        if !env_refs.is_empty() {
            secrets.push(value.expose().to_owned());
        }
        // Keeps the value out of reqwest's and hyper's debug output.
        header_value.set_sensitive(true);
        map.append(header, header_value);
    }
    Ok((map, secrets))
}

/// `http_request`: one request; its answer decides success, a retry or a refusal.
#[instrument(skip_all, fields(run = %input.run, step = %input.step.id))]
pub async fn request(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &HttpRequest,
) -> Result<StepOutput, StepError> {
    // Methods are case-sensitive on the wire; runbook authors write `patch` as often as `PATCH`.
    let method = Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| StepError::invalid(format!("`{}` is not an HTTP method", args.method)))?;
    let url = valid_url(input.expand(env, &args.url)?)?;
    let (headers, secrets) = build_headers(env, input, &args.headers)?;
    let header_names: Vec<&String> = args.headers.keys().collect();
    let body = args
        .json
        .as_ref()
        .map(|j| expand_json(j, &mut |text| input.expand(env, text)))
        .transpose()?;
    let output = json!({ "method": method.as_str(), "url": url, "headers": header_names });

    let mut builder = env.http.request(method.clone(), &url).headers(headers);
    if let Some(body) = &body {
        builder = builder.json(body);
    }
    info!(%method, %url, headers = ?header_names, "sending");
    let started = Instant::now();
    let answer = match send_within(builder, &method, &url, input.step.timeout, &secrets).await {
        Ok(answer) => answer,
        Err(err) => return Err(err.with_data(output)),
    };
    judge_answer(
        &method,
        &url,
        answer,
        started.elapsed(),
        args,
        &secrets,
        output,
    )
}

/// An answer read within the step's time: its status and its body, cut at `BODY_KEPT`.
struct Received {
    status: u16,
    bytes: Vec<u8>,
    truncated: bool,
}

/// Sends the request and reads the answer within `timeout` (less the step's margin); a
/// timeout or a failure to send is worth a retry.
async fn send_within(
    builder: reqwest::RequestBuilder,
    method: &Method,
    url: &str,
    timeout: HumanDuration,
    secrets: &[String],
) -> Result<Received, StepError> {
    let exchange = async {
        let mut response = builder.send().await?;
        let status = response.status().as_u16();
        let (bytes, truncated) = read_capped(&mut response, BODY_KEPT).await?;
        Ok::<_, reqwest::Error>(Received {
            status,
            bytes,
            truncated,
        })
    };
    match tokio::time::timeout(within_step(timeout.get()), exchange).await {
        Err(_) => Err(StepError::retryable(format!(
            "{method} {url} timed out after {timeout}"
        ))),
        Ok(Err(err)) if err.is_timeout() => Err(StepError::retryable(format!(
            "{method} {url} timed out after {timeout}"
        ))),
        Ok(Err(err)) => {
            let reason = redact(&describe(&err), secrets);
            Err(StepError::retryable(format!(
                "{method} {url} failed: {reason}"
            )))
        }
        Ok(Ok(answer)) => Ok(answer),
    }
}

/// What the answer decides: success (its body not recorded), a retry or a refusal (its
/// redacted body kept for the people deciding what to do).
fn judge_answer(
    method: &Method,
    url: &str,
    answer: Received,
    latency: Duration,
    args: &HttpRequest,
    secrets: &[String],
    mut output: Value,
) -> Result<StepOutput, StepError> {
    let Received {
        status,
        bytes,
        truncated,
    } = answer;
    let text = redact(&String::from_utf8_lossy(&bytes), secrets);
    output["status"] = json!(status);
    output["body"] = json!(text);
    output["body_truncated"] = json!(truncated);
    output["latency_ms"] = json!(latency.as_millis() as u64);
    let expected = if args.expect_status.is_empty() {
        "2xx".to_owned()
    } else {
        args.expect_status
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let refused = || {
        format!(
            "{method} {url} answered {status} (expected {expected}): {}",
            snippet(&text)
        )
    };
    match classify(status, &args.expect_status) {
        StatusClass::Accepted => {
            // A successful answer is not recorded: endpoints such as Heroku's config-vars PATCH
            // echo every config var of the app, secrets included, and the log is forever.
            // Failures keep the (redacted) body, since people need it to decide what to do.
            if let Some(fields) = output.as_object_mut() {
                fields.remove("body");
                fields.insert("body_bytes".into(), json!(bytes.len()));
            }
            info!(%method, %url, status, latency_ms = latency.as_millis() as u64, "accepted");
            Ok(StepOutput::new(
                format!(
                    "{method} {url} answered {status} in {} ms",
                    latency.as_millis()
                ),
                output,
            ))
        }
        StatusClass::Retry => {
            warn!(%method, %url, status, "failed; a retry may help");
            Err(StepError::retryable(refused()).with_data(output))
        }
        StatusClass::Refused => {
            warn!(%method, %url, status, "refused");
            Err(StepError::invalid(refused()).with_data(output))
        }
    }
}

/// The start of an answer, on one line, for a message people read in chat.
fn snippet(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return "(empty body)".to_owned();
    }
    truncate_chars(&line, 200)
}

/// A URL reqwest will accept, checked once up front so that a typo fails at once instead of
/// counting as an unhealthy attempt until the deadline.
pub(crate) fn valid_url(url: String) -> Result<String, StepError> {
    match reqwest::Url::parse(&url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(url),
        Ok(parsed) => Err(StepError::invalid(format!(
            "`{url}`: scheme `{}` is not http or https",
            parsed.scheme()
        ))),
        Err(err) => Err(StepError::invalid(format!(
            "`{url}` is not a valid URL: {err}"
        ))),
    }
}

/// How long a step may act on its own: the step's timeout less a small reserve. The engine
/// wraps every step in the same timeout; finishing just before it means the step's own
/// explanation ("answered 503 for 10m") is what gets recorded, not a bare "timed out".
pub(crate) fn within_step(timeout: Duration) -> Duration {
    timeout.saturating_sub((timeout / 20).min(Duration::from_secs(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_args(body: Option<&str>, max_ms: Option<u64>) -> HttpCheck {
        HttpCheck {
            url: "http://x/health".into(),
            expect_status: 200,
            body_contains: body.map(str::to_owned),
            max_latency: max_ms.map(|ms| HumanDuration(Duration::from_millis(ms))),
            poll: HumanDuration::from_secs(1),
        }
    }

    #[test]
    fn judge_checks_status_then_body_then_latency() {
        let args = check_args(Some("\"ok\":true"), Some(500));
        let fast = Duration::from_millis(20);
        assert_eq!(judge(200, "{\"ok\":true}", fast, &args), Ok(()));
        assert_eq!(
            judge(503, "{\"ok\":true}", Duration::from_secs(9), &args),
            Err(Problem::Status {
                status: 503,
                expected: 200
            })
        );
        assert_eq!(
            judge(200, "maintenance", Duration::from_secs(9), &args),
            Err(Problem::BodyMissing {
                status: 200,
                needle: "\"ok\":true".into()
            })
        );
        let slow = judge(200, "{\"ok\":true}", Duration::from_millis(1200), &args).unwrap_err();
        assert_eq!(
            slow.to_string(),
            "answered 200 in 1200 ms, slower than 500ms"
        );
        // The threshold itself is still fast enough.
        assert_eq!(
            judge(200, "{\"ok\":true}", Duration::from_millis(500), &args),
            Ok(())
        );
    }

    #[test]
    fn problems_read_as_the_end_of_a_sentence() {
        assert_eq!(
            Problem::Status {
                status: 503,
                expected: 200
            }
            .to_string(),
            "answered 503 (expected 200)"
        );
        assert_eq!(
            Problem::BodyMissing {
                status: 200,
                needle: "ok".into()
            }
            .to_string(),
            "answered 200 without \"ok\" in the body"
        );
        assert_eq!(
            Problem::NoAnswer(Duration::from_secs(30)).to_string(),
            "did not answer within 30s"
        );
    }

    #[test]
    fn classification_retries_only_what_may_pass_later() {
        assert_eq!(classify(200, &[]), StatusClass::Accepted);
        assert_eq!(classify(204, &[]), StatusClass::Accepted);
        assert_eq!(classify(500, &[]), StatusClass::Retry);
        assert_eq!(classify(503, &[]), StatusClass::Retry);
        assert_eq!(classify(429, &[]), StatusClass::Retry);
        assert_eq!(classify(408, &[]), StatusClass::Retry);
        assert_eq!(classify(422, &[]), StatusClass::Refused);
        assert_eq!(classify(401, &[]), StatusClass::Refused);
        assert_eq!(classify(404, &[]), StatusClass::Refused);
        assert_eq!(classify(301, &[]), StatusClass::Refused);
        // An explicit list replaces "any 2xx".
        assert_eq!(classify(200, &[204]), StatusClass::Refused);
        assert_eq!(classify(409, &[200, 409]), StatusClass::Accepted);
        assert_eq!(classify(502, &[204]), StatusClass::Retry);
    }

    #[test]
    fn json_bodies_expand_string_values_at_any_depth_but_not_keys() {
        let body = json!({
            "${vars.k}": "${vars.k}",
            "nested": { "list": ["a-${params.p}", 3, true, null] },
        });
        let out = expand_json(&body, &mut |text| {
            Ok(text.replace("${vars.k}", "K").replace("${params.p}", "P"))
        })
        .unwrap();
        assert_eq!(
            out,
            json!({ "${vars.k}": "K", "nested": { "list": ["a-P", 3, true, null] } })
        );
        let err = expand_json(&json!(["${vars.missing}"]), &mut |_| {
            Err(StepError::invalid("no value"))
        })
        .unwrap_err();
        assert_eq!(err.message, "no value");
    }

    #[test]
    fn redaction_and_truncation() {
        assert_eq!(
            redact(
                "token=s3cret; again s3cret",
                &["s3cret".into(), String::new()]
            ),
            "token=[redacted]; again [redacted]"
        );
        // The whole header value and the bare token inside it are both caught.
        let secrets = ["tok3n".to_owned(), "Bearer tok3n".to_owned()];
        assert_eq!(
            redact("sent Bearer tok3n, echoed tok3n", &secrets),
            "sent [redacted], echoed [redacted]"
        );
        assert_eq!(truncate_chars("héllo", 2), "hé…");
        assert_eq!(truncate_chars("héllo", 5), "héllo");
        assert_eq!(
            snippet("  {\"error\":\n  \"bad\"}  "),
            "{\"error\": \"bad\"}"
        );
        assert_eq!(snippet(""), "(empty body)");
    }

    #[test]
    fn urls_are_checked_up_front() {
        assert!(valid_url("https://app.example.com/health".into()).is_ok());
        assert!(
            valid_url("ftp://x/y".into())
                .unwrap_err()
                .message
                .contains("not http or https")
        );
        assert!(
            valid_url("not a url".into())
                .unwrap_err()
                .message
                .contains("not a valid URL")
        );
    }

    #[test]
    fn a_step_keeps_a_little_time_before_the_engine_timeout() {
        assert_eq!(
            within_step(Duration::from_secs(1)),
            Duration::from_millis(950)
        );
        assert_eq!(
            within_step(Duration::from_secs(600)),
            Duration::from_secs(599)
        );
        assert_eq!(within_step(Duration::ZERO), Duration::ZERO);
    }
}
