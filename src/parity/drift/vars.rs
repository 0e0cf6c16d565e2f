//! Config vars: every name Heroku sets must be in the standby's task definitions (and the
//! reverse, but for the ignored ones); values of the must-match ones compared by digest.

use std::collections::{BTreeMap, BTreeSet};

use super::{Area, EcsSeen, Finding, HerokuSeen, Status, finding};
use crate::config::Config;
use crate::ports::digest::ValueDigest;

/// A task definition and the services that run it, with what its app containers define.
struct TaskDefinitionView<'a> {
    name: String,
    services: Vec<&'a str>,
    variables: BTreeSet<&'a String>,
    environment: BTreeMap<&'a String, &'a ValueDigest>,
    secrets: BTreeSet<&'a String>,
}

impl TaskDefinitionView<'_> {
    fn label(&self) -> String {
        format!("{} ({})", self.name, self.services.join(", "))
    }
}

/// The task definitions of the readable services, each once, and findings for unreadable ones.
fn task_definitions<'a>(
    config: &Config,
    ecs: &'a EcsSeen,
    area: Area,
) -> (Vec<TaskDefinitionView<'a>>, Vec<Finding>) {
    let mut views: Vec<TaskDefinitionView<'a>> = Vec::new();
    let mut unread = Vec::new();
    for service in &ecs.services {
        let spec = match &service.task_definition {
            Some(Ok(spec)) => spec,
            Some(Err(err)) => {
                unread.push(finding(
                    area,
                    format!("task definition of {}", service.name),
                    "",
                    "not read",
                    Status::Unknown,
                    err.to_string(),
                ));
                continue;
            }
            None => continue,
        };
        if let Some(view) = views.iter_mut().find(|v| v.name == spec.name) {
            view.services.push(&service.name);
            continue;
        }
        if let Some(why) = super::missing_container(config, spec) {
            let subject = format!("task definition {}", spec.name);
            if !unread.iter().any(|f: &Finding| f.subject == subject) {
                unread.push(finding(
                    area,
                    subject,
                    "",
                    "not compared",
                    Status::Unknown,
                    why,
                ));
            }
            continue;
        }
        let containers = spec.app_containers(config.app.container.as_deref());
        views.push(TaskDefinitionView {
            name: spec.name.clone(),
            services: vec![&service.name],
            variables: containers.iter().flat_map(|c| c.variables()).collect(),
            environment: containers
                .iter()
                .flat_map(|c| c.environment.iter())
                .collect(),
            secrets: containers.iter().flat_map(|c| c.secrets.iter()).collect(),
        });
    }
    (views, unread)
}

pub(super) fn config_vars(config: &Config, heroku: &HerokuSeen, ecs: &EcsSeen) -> Vec<Finding> {
    let area = Area::ConfigVar;
    let vars = match &heroku.config_vars {
        Ok(vars) => vars,
        Err(why) => return vec![super::unread_part(area, "names", "config vars", why)],
    };
    let parity = &config.parity;
    let (views, mut findings) = task_definitions(config, ecs, area);
    if views.is_empty() {
        return findings;
    }
    let on_heroku: BTreeMap<&String, &Option<ValueDigest>> =
        vars.0.iter().filter(|(n, _)| !parity.ignored(n)).collect();
    let mut matched = 0;
    for (name, heroku_value) in &on_heroku {
        let missing: Vec<String> = views
            .iter()
            .filter(|v| !v.variables.contains(*name))
            .map(TaskDefinitionView::label)
            .collect();
        if !missing.is_empty() {
            findings.push(finding(
                area,
                name.as_str(),
                "set",
                format!("missing from {}", missing.join(", ")),
                Status::Drift,
                "set on Heroku, missing from the standby's task definition",
            ));
            continue;
        }
        if !parity.must_match.contains(name) {
            matched += 1;
            continue;
        }
        findings.push(must_match(name, heroku_value.as_ref(), &views));
    }
    let mut ecs_only: BTreeMap<&String, Vec<String>> = BTreeMap::new();
    for view in &views {
        for name in &view.variables {
            if !on_heroku.contains_key(name) && !parity.ignored(name) {
                ecs_only.entry(name).or_default().push(view.label());
            }
        }
    }
    for (name, labels) in ecs_only {
        findings.push(finding(
            area,
            name.as_str(),
            "not set",
            format!("in {}", labels.join(", ")),
            Status::Drift,
            "on the standby only: Heroku does not set it",
        ));
    }
    findings.push(finding(
        area,
        "names",
        format!("{} vars", on_heroku.len()),
        format!("{} task definition(s)", views.len()),
        Status::Ok,
        format!("{matched} more set on both sides"),
    ));
    findings
}

/// A must-match variable present on both sides: its values compared by digest.
fn must_match(
    name: &String,
    heroku_value: Option<&ValueDigest>,
    views: &[TaskDefinitionView<'_>],
) -> Finding {
    let area = Area::ConfigVar;
    let empty = ValueDigest::of("");
    let heroku_value = heroku_value.unwrap_or(&empty);
    let secret: Vec<String> = views
        .iter()
        .filter(|v| !v.environment.contains_key(name) && v.secrets.contains(name))
        .map(TaskDefinitionView::label)
        .collect();
    let differs: Vec<String> = views
        .iter()
        .filter(|v| v.environment.get(name).is_some_and(|d| *d != heroku_value))
        .map(TaskDefinitionView::label)
        .collect();
    if !differs.is_empty() {
        finding(
            area,
            name.as_str(),
            "set",
            format!("differs in {}", differs.join(", ")),
            Status::Drift,
            "must match, but the values differ (compared by SHA-256; neither is shown)",
        )
    } else if !secret.is_empty() {
        finding(
            area,
            name.as_str(),
            "set",
            format!("a secret reference in {}", secret.join(", ")),
            Status::Unknown,
            "must match, but on the standby it comes from a secret store: its value cannot be compared (keep must_match vars in `environment`)",
        )
    } else {
        finding(
            area,
            name.as_str(),
            "set",
            "same value",
            Status::Ok,
            "must match: the values are equal (compared by SHA-256)",
        )
    }
}
