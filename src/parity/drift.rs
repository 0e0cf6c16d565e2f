//! The comparison itself, pure: what was seen on Heroku (config var names and digests, the
//! formation, the current release) and on the standby (each ECS service, its task definition)
//! and at the app's health endpoints, turned into findings — one per thing that matches,
//! differs (drift) or could not be read.

mod vars;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{CodeSource, Config};
use crate::ports::aws::{AwsError, ServiceState, TaskDefinitionSpec};
use crate::ports::heroku::{ConfigVars, Process, Release};

/// What was read from Heroku; each part may have failed on its own.
#[derive(Debug, Clone)]
pub struct HerokuSeen {
    pub app: String,
    pub config_vars: Result<ConfigVars, String>,
    pub formation: Result<Vec<Process>, String>,
    pub release: Result<Release, String>,
}

/// One configured ECS service of the standby.
#[derive(Debug, Clone)]
pub struct ServiceSeen {
    pub name: String,
    /// The count a failover scales it to (`[aws.ecs] services.standby`).
    pub standby: u32,
    pub state: Result<ServiceState, AwsError>,
    /// Read when the service names one.
    pub task_definition: Option<Result<TaskDefinitionSpec, AwsError>>,
}

#[derive(Debug, Clone)]
pub struct EcsSeen {
    pub cluster: String,
    pub services: Vec<ServiceSeen>,
}

/// One of the app's health endpoints, as the runbooks check it.
#[derive(Debug, Clone)]
pub struct HealthSeen {
    pub url: String,
    pub expect_status: u16,
    /// The body must contain one of these (the runbooks' `body_contains`); empty: any body.
    pub expect_any: Vec<String>,
    /// The lowest `max_latency` the runbooks' checks of it allow; `None`: no bound.
    pub max_latency: Option<Duration>,
    /// Status and body, or why there was no answer.
    pub answer: Result<(u16, String), String>,
    /// How long the answer took.
    pub latency: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct Observations {
    pub at: DateTime<Utc>,
    pub heroku: HerokuSeen,
    /// `Err` when the config has no `[aws.ecs]`.
    pub ecs: Result<EcsSeen, String>,
    pub health: Vec<HealthSeen>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    ConfigVar,
    Process,
    Code,
    Health,
}

impl Area {
    pub fn as_str(self) -> &'static str {
        match self {
            Area::ConfigVar => "config_var",
            Area::Process => "process",
            Area::Code => "code",
            Area::Health => "health",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Drift,
    /// Could not be read or compared.
    Unknown,
}

/// One row of the comparison. Never holds a value of a config var.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub area: Area,
    /// The variable, process type, task definition or URL.
    pub subject: String,
    pub heroku: String,
    pub standby: String,
    pub status: Status,
    pub detail: String,
}

impl Finding {
    /// What identifies this finding from one check to the next (for "new drift").
    pub fn key(&self) -> String {
        format!("{}:{}", self.area.as_str(), self.subject)
    }
}

/// The side that could not be read at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadSide {
    Heroku,
    Aws,
}

impl ReadSide {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadSide::Heroku => "heroku",
            ReadSide::Aws => "aws",
        }
    }

    /// For people: `Heroku` or `AWS`.
    pub fn name(self) -> &'static str {
        match self {
            ReadSide::Heroku => "Heroku",
            ReadSide::Aws => "AWS",
        }
    }
}

/// Nothing could be compared: one side could not be read at all, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    pub side: ReadSide,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParityReport {
    pub at: DateTime<Utc>,
    pub app: String,
    pub cluster: Option<String>,
    pub findings: Vec<Finding>,
    /// Set when a whole side could not be read (Heroku first): nothing was compared.
    pub unreadable: Option<Unreadable>,
}

impl ParityReport {
    pub fn drifted(&self) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| f.status == Status::Drift)
            .collect()
    }

    pub fn unknown(&self) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| f.status == Status::Unknown)
            .collect()
    }

    /// The keys of the drifted findings, sorted.
    pub fn drift_keys(&self) -> Vec<String> {
        let keys: BTreeSet<String> = self.drifted().iter().map(|f| f.key()).collect();
        keys.into_iter().collect()
    }
}

/// The side nothing could be read from, if any: Heroku when none of its three parts was read,
/// else AWS when there is no standby to read or none of its services could be read (a service
/// that is not found was read: that is drift).
fn unreadable(obs: &Observations) -> Option<Unreadable> {
    let heroku = &obs.heroku;
    if let (Err(why), Err(_), Err(_)) = (&heroku.config_vars, &heroku.formation, &heroku.release) {
        return Some(Unreadable {
            side: ReadSide::Heroku,
            reason: why.clone(),
        });
    }
    let reason = match &obs.ecs {
        Err(why) => why.clone(),
        Ok(ecs) => {
            let mut errors = ecs.services.iter().map(|s| match &s.state {
                Err(err) if !matches!(err, AwsError::NotFound { .. }) => Some(err.to_string()),
                _ => None,
            });
            match errors.next() {
                Some(Some(first)) if errors.all(|e| e.is_some()) => first,
                _ => return None,
            }
        }
    };
    Some(Unreadable {
        side: ReadSide::Aws,
        reason,
    })
}

/// Why the app's containers of `spec` cannot be found: `[app] container` names none of them.
/// Every variable would otherwise look missing from the standby.
fn missing_container(config: &Config, spec: &TaskDefinitionSpec) -> Option<String> {
    let name = config.app.container.as_deref()?;
    if spec.containers.iter().any(|c| c.name == name) {
        return None;
    }
    let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    Some(format!(
        "[app] container = \"{name}\" names no container of {} (it has: {}): fix [app] container",
        spec.name,
        names.join(", ")
    ))
}

/// A part of Heroku that could not be read: unknown, not drift.
fn unread_part(area: Area, subject: &str, what: &str, why: &str) -> Finding {
    finding(
        area,
        subject,
        "not read",
        "",
        Status::Unknown,
        format!("could not read Heroku's {what}: {why}"),
    )
}

/// The parts of Heroku that could not be read, shown even when the standby is not compared
/// (readiness must still say that the token is missing).
fn unread_heroku(heroku: &HerokuSeen) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Err(why) = &heroku.config_vars {
        out.push(unread_part(Area::ConfigVar, "names", "config vars", why));
    }
    if let Err(why) = &heroku.formation {
        out.push(unread_part(Area::Process, "formation", "formation", why));
    }
    if let Err(why) = &heroku.release {
        out.push(unread_part(Area::Code, "release", "current release", why));
    }
    out
}

fn finding(
    area: Area,
    subject: impl Into<String>,
    heroku: impl Into<String>,
    standby: impl Into<String>,
    status: Status,
    detail: impl Into<String>,
) -> Finding {
    Finding {
        area,
        subject: subject.into(),
        heroku: heroku.into(),
        standby: standby.into(),
        status,
        detail: detail.into(),
    }
}

/// Compares everything observed. Pure.
pub fn compare(config: &Config, obs: &Observations) -> ParityReport {
    use vars::config_vars;
    let mut findings = Vec::new();
    match &obs.ecs {
        Ok(ecs) => {
            findings.extend(config_vars(config, &obs.heroku, ecs));
            findings.extend(processes(config, &obs.heroku, ecs));
            findings.extend(code(config, &obs.heroku, ecs));
        }
        Err(why) => {
            findings.extend(unread_heroku(&obs.heroku));
            findings.push(finding(
                Area::Process,
                "standby",
                "",
                "",
                Status::Unknown,
                why.clone(),
            ));
        }
    }
    findings.extend(obs.health.iter().map(health));
    ParityReport {
        at: obs.at,
        app: obs.heroku.app.clone(),
        cluster: obs.ecs.as_ref().ok().map(|e| e.cluster.clone()),
        findings,
        unreadable: unreadable(obs),
    }
}

fn processes(config: &Config, heroku: &HerokuSeen, ecs: &EcsSeen) -> Vec<Finding> {
    let area = Area::Process;
    let formation = match &heroku.formation {
        Ok(formation) => formation,
        Err(why) => return vec![unread_part(area, "formation", "formation", why)],
    };
    let mut findings = Vec::new();
    for process in formation.iter().filter(|p| p.quantity > 0) {
        let on_heroku = format!("{} × {}", process.quantity, process.size);
        let Some(name) = config.parity.service_for(config, &process.kind) else {
            findings.push(finding(
                area,
                process.kind.as_str(),
                on_heroku,
                "no ECS service",
                Status::Drift,
                "no ECS service runs this process type: add one to [aws.ecs] (or map it in [parity] processes)",
            ));
            continue;
        };
        let Some(service) = ecs.services.iter().find(|s| s.name == name) else {
            continue;
        };
        let row = |standby: String, status, detail: String| {
            finding(
                area,
                process.kind.as_str(),
                on_heroku.clone(),
                standby,
                status,
                detail,
            )
        };
        findings.push(match &service.state {
            Err(err @ AwsError::NotFound { .. }) => row(
                format!("service {name} missing"),
                Status::Drift,
                err.to_string(),
            ),
            Err(err) => row(
                format!("service {name} not read"),
                Status::Unknown,
                err.to_string(),
            ),
            Ok(state) if state.status != "ACTIVE" => row(
                format!("service {name} {}", state.status),
                Status::Drift,
                format!(
                    "the ECS service is {}: it cannot be scaled up",
                    state.status
                ),
            ),
            Ok(_) if service.standby < process.quantity => row(
                format!("{name}: standby {}", service.standby),
                Status::Drift,
                format!(
                    "a failover scales {name} to {}, fewer than the {} Heroku runs",
                    service.standby, process.quantity
                ),
            ),
            Ok(_) => row(
                format!("{name}: standby {}", service.standby),
                Status::Ok,
                format!("standby {} ≥ Heroku {}", service.standby, process.quantity),
            ),
        });
    }
    findings
}

/// Whether two code versions name the same commit: equal, or one a prefix of the other (a
/// short SHA) of at least 7 characters.
pub fn same_commit(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim().to_ascii_lowercase(), b.trim().to_ascii_lowercase());
    if a == b {
        return true;
    }
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    short.len() >= 7 && long.starts_with(short.as_str())
}

fn code(config: &Config, heroku: &HerokuSeen, ecs: &EcsSeen) -> Vec<Finding> {
    let area = Area::Code;
    let release = match &heroku.release {
        Ok(release) => release,
        Err(why) => return vec![unread_part(area, "release", "current release", why)],
    };
    let Some(commit) = &release.commit else {
        return vec![finding(
            area,
            "release",
            format!("v{} (no commit)", release.version),
            "",
            Status::Unknown,
            "the current release's slug names no commit: the code cannot be compared",
        )];
    };
    let on_heroku = format!("v{} {}", release.version, short(commit));
    let mut findings = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for service in &ecs.services {
        let Some(Ok(spec)) = &service.task_definition else {
            continue;
        };
        if seen.contains(&spec.name.as_str()) {
            continue;
        }
        seen.push(&spec.name);
        let services: Vec<&str> = ecs
            .services
            .iter()
            .filter(|s| matches!(&s.task_definition, Some(Ok(t)) if t.name == spec.name))
            .map(|s| s.name.as_str())
            .collect();
        let subject = format!("{} ({})", spec.name, services.join(", "));
        if let Some(why) = missing_container(config, spec) {
            findings.push(finding(
                area,
                subject,
                on_heroku.clone(),
                "not compared",
                Status::Unknown,
                why,
            ));
            continue;
        }
        let containers = spec.app_containers(config.app.container.as_deref());
        let (what, version) = match &config.parity.code {
            CodeSource::ImageTag => (
                "image tag".to_owned(),
                containers.iter().find_map(|c| c.image_tag()),
            ),
            CodeSource::Label(label) => (
                format!("label {label}"),
                containers
                    .iter()
                    .find_map(|c| c.labels.get(label).map(String::as_str)),
            ),
        };
        findings.push(match version {
            None => finding(
                area,
                subject,
                on_heroku.clone(),
                format!("no {what}"),
                Status::Unknown,
                format!("the task definition has no {what} to compare with the release's commit"),
            ),
            Some(v) if same_commit(v, commit) => finding(
                area,
                subject,
                on_heroku.clone(),
                format!("{what} {v}"),
                Status::Ok,
                "the standby runs the code of Heroku's current release",
            ),
            Some(v) => finding(
                area,
                subject,
                on_heroku.clone(),
                format!("{what} {v}"),
                Status::Drift,
                format!(
                    "the standby runs other code than Heroku's current release (v{}: {})",
                    release.version,
                    short(commit)
                ),
            ),
        });
    }
    findings
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn health(seen: &HealthSeen) -> Finding {
    let area = Area::Health;
    let expected = if seen.expect_any.is_empty() {
        format!("{}", seen.expect_status)
    } else {
        format!(
            "{} with {}",
            seen.expect_status,
            seen.expect_any.join(" or ")
        )
    };
    match &seen.answer {
        Err(why) => finding(
            area,
            seen.url.as_str(),
            "",
            "no answer",
            Status::Unknown,
            format!("could not reach it: {why}"),
        ),
        Ok((status, _)) if *status != seen.expect_status => finding(
            area,
            seen.url.as_str(),
            "",
            format!("answered {status}"),
            Status::Drift,
            format!("answered {status}; the runbooks expect {expected}"),
        ),
        Ok((status, _))
            if seen
                .max_latency
                .zip(seen.latency)
                .is_some_and(|(max, took)| took > max) =>
        {
            let took = seen.latency.unwrap_or_default();
            let max = crate::duration::HumanDuration(seen.max_latency.unwrap_or_default());
            finding(
                area,
                seen.url.as_str(),
                "",
                format!("answered {status} in {} ms", took.as_millis()),
                Status::Drift,
                format!("slower than the runbooks allow ({max}): their check would fail on it"),
            )
        }
        Ok((status, body)) => {
            let named: Vec<&String> = seen
                .expect_any
                .iter()
                .filter(|needle| body.contains(needle.as_str()))
                .collect();
            if seen.expect_any.is_empty() || !named.is_empty() {
                // Which of several expected words it named (the provider of /health/llm).
                let with = named
                    .first()
                    .filter(|_| seen.expect_any.len() > 1)
                    .map(|n| format!(" naming {n}"))
                    .unwrap_or_default();
                finding(
                    area,
                    seen.url.as_str(),
                    "",
                    format!("answered {status}{with}"),
                    Status::Ok,
                    format!("as the runbooks expect ({expected})"),
                )
            } else {
                finding(
                    area,
                    seen.url.as_str(),
                    "",
                    format!("answered {status}"),
                    Status::Drift,
                    format!(
                        "answered {status} without {} in the body; the runbooks expect {expected}",
                        seen.expect_any.join(" or ")
                    ),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests;
