//! A typed runbook checked within itself and against the config: its name, workstream and
//! approval policy, each step's arguments and `${...}` references, every problem located as
//! `path:line:col`.

use std::collections::{BTreeMap, BTreeSet};

use super::interp::{self, Namespace};
use super::*;
use crate::config::{Config, join_or_none};
use crate::key_path;
use crate::toml_source::{Diagnostic, Seg, TomlSource};

/// Problems found while checking one runbook, each located in its file.
struct Problems<'a> {
    source: &'a TomlSource,
    found: Vec<Diagnostic>,
}

impl Problems<'_> {
    fn push(&mut self, path: &[Seg], message: String) {
        self.found.push(self.source.error_at(path, message));
    }
}

/// Checks within the runbook and against the config, in the order they are reported: the
/// runbook's own fields, then each step's id, arguments and `${...}` references.
pub(super) fn validate(source: &TomlSource, runbook: &Runbook, config: &Config) -> Vec<Diagnostic> {
    let mut problems = Problems {
        source,
        found: Vec::new(),
    };
    check_header(runbook, config, &mut problems);
    check_unapproved_runs_change_nothing(runbook, &mut problems);
    check_break_glass_before_expiry(runbook, &mut problems);
    let params = declared_params(runbook, &mut problems);
    let mut first_use: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, step) in runbook.steps.iter().enumerate() {
        check_step_id_unique(step, i, &mut first_use, &mut problems);
        check_step_against_config(runbook, i, config, &mut problems);
        check_step_references(step, i, &params, config, &mut problems);
    }
    problems.found
}

/// The runbook's name is a slug, its workstream has an objective, and it has steps.
fn check_header(runbook: &Runbook, config: &Config, problems: &mut Problems) {
    let name_ok = !runbook.name.is_empty()
        && runbook
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !name_ok {
        problems.push(
            &key_path!["name"],
            format!("runbook name `{}` must use a-z, 0-9 and -", runbook.name),
        );
    }
    if config.objectives.rto_for(runbook.workstream).is_none() {
        problems.push(
            &key_path!["workstream"],
            format!(
                "workstream `{}` has no objective: add {}_rto to [objectives]",
                runbook.workstream, runbook.workstream
            ),
        );
    }
    if runbook.steps.is_empty() {
        problems.push(
            &key_path!["steps"],
            "a runbook needs at least one [[steps]]".into(),
        );
    }
}

/// A run nobody approves must not change anything.
fn check_unapproved_runs_change_nothing(runbook: &Runbook, problems: &mut Problems) {
    if runbook.approval.approvals != 0 {
        return;
    }
    let changing: Vec<String> = runbook
        .steps
        .iter()
        .filter(|s| !read_only(&s.action))
        .map(|s| format!("`{}` ({})", s.id, s.action.kind().as_str()))
        .collect();
    if !changing.is_empty() {
        problems.push(
            &key_path!["approval", "approvals"],
            format!(
                "approvals = 0 is only for read-only runbooks (steps of kind {READ_ONLY}); these steps change things: {}",
                changing.join(", ")
            ),
        );
    }
}

/// Break-glass opens only while the request is alive: an expired request is refused.
fn check_break_glass_before_expiry(runbook: &Runbook, problems: &mut Problems) {
    if let Some(after) = runbook.approval.break_glass_after
        && after.get() >= runbook.approval.expires.get()
    {
        problems.push(
            &key_path!["approval", "break_glass_after"],
            format!(
                "break_glass_after ({after}) must be shorter than expires ({}): a request expires before the glass could be broken",
                runbook.approval.expires
            ),
        );
    }
}

/// The declared parameter names, each duplicate reported.
fn declared_params<'r>(runbook: &'r Runbook, problems: &mut Problems) -> BTreeSet<&'r str> {
    let mut params: BTreeSet<&str> = BTreeSet::new();
    for (i, param) in runbook.params.iter().enumerate() {
        if !params.insert(param.name.as_str()) {
            problems.push(
                &key_path!["params", i, "name"],
                format!("duplicate parameter `{}`", param.name),
            );
        }
    }
    params
}

/// Step `i`'s id is not used by an earlier step (`first_use` remembers where each id was first).
fn check_step_id_unique<'r>(
    step: &'r Step,
    i: usize,
    first_use: &mut BTreeMap<&'r str, usize>,
    problems: &mut Problems,
) {
    if let Some(first) = first_use.get(step.id.as_str()) {
        let first_line = problems
            .source
            .error_at(&key_path!["steps", *first, "id"], "")
            .line;
        problems.push(
            &key_path!["steps", i, "id"],
            format!(
                "duplicate step id `{}` (first used at line {first_line})",
                step.id
            ),
        );
    } else {
        first_use.insert(&step.id, i);
    }
}

/// Step `i`'s arguments against the config and the steps before it, by kind.
fn check_step_against_config(
    runbook: &Runbook,
    i: usize,
    config: &Config,
    problems: &mut Problems,
) {
    let step = &runbook.steps[i];
    let with = |field: &str| key_path!["steps", i, "with", field];
    match &step.action {
        StepAction::EcsScale(a) => check_ecs_services(a, i, config, problems),
        StepAction::Route53Upsert(a) => check_dns_records(a, i, config, problems),
        StepAction::Route53Wait(a) => {
            let earlier = runbook.steps[..i]
                .iter()
                .any(|s| s.id == a.change_of && s.action.kind() == StepKind::Route53Upsert);
            if !earlier {
                problems.push(
                    &with("change_of"),
                    format!(
                        "change_of = `{}` must name an earlier route53_upsert step",
                        a.change_of
                    ),
                );
            }
        }
        StepAction::LlmProbe(a) => {
            if config.llm.provider(&a.provider).is_none() {
                problems.push(
                    &with("provider"),
                    format!(
                        "LLM provider `{}` is not configured in [llm] (use openai or anthropic)",
                        a.provider
                    ),
                );
            }
        }
        StepAction::Notify(a) => check_notify(a, i, config, problems),
        StepAction::BackupCheck(a) => check_backup_source(a, i, problems),
        StepAction::Command(a) => {
            if a.argv.first().is_none_or(|p| p.is_empty()) {
                problems.push(
                    &with("argv"),
                    "argv needs at least the program to run".into(),
                );
            }
        }
        StepAction::HttpRequest(a) => {
            if http::Method::from_bytes(a.method.as_bytes()).is_err() {
                problems.push(
                    &with("method"),
                    format!("`{}` is not an HTTP method", a.method),
                );
            }
        }
        StepAction::DbCopy(a) => {
            if a.from == a.to {
                problems.push(
                    &with("to"),
                    "db_copy needs two different databases (from = \"primary\", to = \"standby\" or the reverse)".into(),
                );
            }
        }
        StepAction::LlmParity(_) | StepAction::LlmSwitch(_) => {
            for problem in crate::parity::config::step_problems(&step.action, config) {
                problems.push(&with("provider"), problem);
            }
        }
        StepAction::HttpCheck(_)
        | StepAction::CommsDraft(_)
        | StepAction::Confirm(_)
        | StepAction::Wait(_)
        | StepAction::DbRestore(_)
        | StepAction::DbVerify(_) => {}
    }
}

/// An `ecs_scale` step needs `[aws.ecs]`, and names only its services.
fn check_ecs_services(a: &EcsScale, i: usize, config: &Config, problems: &mut Problems) {
    let Some(ecs) = &config.aws.ecs else {
        problems.push(
            &key_path!["steps", i, "with", "to"],
            "ecs_scale needs [aws.ecs] in the config".into(),
        );
        return;
    };
    for (j, name) in a.services.iter().enumerate() {
        if !ecs.services.iter().any(|s| &s.name == name) {
            let known = join_or_none(ecs.services.iter().map(|s| s.name.as_str()));
            problems.push(
                &key_path!["steps", i, "with", "services", j],
                format!("unknown ECS service `{name}` (configured: {known})"),
            );
        }
    }
}

/// A `route53_upsert` step needs `[aws.dns]`, and names only its records.
fn check_dns_records(a: &Route53Upsert, i: usize, config: &Config, problems: &mut Problems) {
    let Some(dns) = &config.aws.dns else {
        problems.push(
            &key_path!["steps", i, "with", "to"],
            "route53_upsert needs [aws.dns] in the config".into(),
        );
        return;
    };
    for (j, name) in a.records.iter().enumerate() {
        if !dns.records.iter().any(|r| &r.name == name) {
            let known = join_or_none(dns.records.iter().map(|r| r.name.as_str()));
            problems.push(
                &key_path!["steps", i, "with", "records", j],
                format!("unknown DNS record `{name}` (configured: {known})"),
            );
        }
    }
}

/// A `notify` step names a configured team and exactly one of a message that parses as a
/// template or a template file that exists.
fn check_notify(a: &Notify, i: usize, config: &Config, problems: &mut Problems) {
    let with = |field: &str| key_path!["steps", i, "with", field];
    if config.team(&a.team).is_none() {
        let known = join_or_none(config.teams.iter().map(|t| t.name.as_str()));
        problems.push(
            &with("team"),
            format!("unknown team `{}` (teams in config: {known})", a.team),
        );
    }
    match (&a.message, &a.template) {
        (Some(_), Some(_)) | (None, None) => problems.push(
            &key_path!["steps", i, "with"],
            "notify needs exactly one of `message` or `template`".into(),
        ),
        (Some(message), None) => {
            if let Err(err) = crate::comms::template::check_source(message) {
                problems.push(&with("message"), err);
            }
        }
        (None, Some(name)) => {
            let dir = &config.paths.templates;
            let file = crate::comms::template::resolve_name(name);
            if !dir.join(&file).is_file() {
                problems.push(
                    &with("template"),
                    format!("no template `{file}` in {}", dir.display()),
                );
            }
        }
    }
}

/// A `backup_check` step reads its backup's age either by `url` (with `time_pointer`) or by
/// `command`, never both.
fn check_backup_source(a: &BackupCheck, i: usize, problems: &mut Problems) {
    let by_url = a.url.is_some();
    if by_url == a.command.is_some() {
        problems.push(
            &key_path!["steps", i, "with"],
            "backup_check needs exactly one of `url` (with `time_pointer`) or `command`".into(),
        );
    } else if by_url && a.time_pointer.is_none() {
        problems.push(
            &key_path!["steps", i, "with", "url"],
            "backup_check by `url` needs `time_pointer`".into(),
        );
    }
}

/// Every `${...}` anywhere in step `i`'s arguments parses and names a declared parameter or
/// a configured var.
fn check_step_references(
    step: &Step,
    i: usize,
    params: &BTreeSet<&str>,
    config: &Config,
    problems: &mut Problems,
) {
    let json = serde_json::to_value(&step.action).unwrap_or_default();
    let mut strings = Vec::new();
    collect_strings(&json, &mut Vec::new(), &mut strings);
    for (path, text) in strings {
        let mut at = key_path!["steps", i, "with"].to_vec();
        at.extend(path);
        match interp::references(&text) {
            Err(message) => problems.push(&at, message),
            Ok(refs) => {
                for r in refs {
                    let problem = match r.namespace {
                        Namespace::Params if !params.contains(r.name.as_str()) => Some(format!(
                            "`${{params.{}}}` is not declared in [[params]] (declared: {})",
                            r.name,
                            join_or_none(params.iter().copied())
                        )),
                        Namespace::Vars if !config.vars.contains_key(&r.name) => Some(format!(
                            "`${{vars.{}}}` is not set in [vars] of the config (set: {})",
                            r.name,
                            join_or_none(config.vars.keys().map(String::as_str))
                        )),
                        _ => None,
                    };
                    if let Some(message) = problem {
                        problems.push(&at, message);
                    }
                }
            }
        }
    }
}

/// The step kinds a runbook with `approvals = 0` may hold, as said in errors.
const READ_ONLY: &str =
    "http_check, llm_probe, backup_check by url, route53_wait, wait, confirm, db_verify";

/// Whether a step only looks, waits or asks: it changes no infrastructure, pages nobody and
/// runs no program. `notify` pages people, `comms_draft` prepares client messages, and
/// `backup_check` by `command` runs a program, so none of them is read-only.
fn read_only(action: &StepAction) -> bool {
    match action {
        StepAction::HttpCheck(_)
        | StepAction::LlmProbe(_)
        | StepAction::Route53Wait(_)
        | StepAction::Wait(_)
        | StepAction::Confirm(_)
        | StepAction::DbVerify(_) => true,
        StepAction::BackupCheck(a) => a.command.is_none(),
        StepAction::EcsScale(_)
        | StepAction::Route53Upsert(_)
        | StepAction::HttpRequest(_)
        | StepAction::Command(_)
        | StepAction::Notify(_)
        | StepAction::CommsDraft(_)
        | StepAction::DbCopy(_)
        | StepAction::DbRestore(_) => false,
        // The gate changes nothing, but it spends on a provider: not for unapproved runs.
        StepAction::LlmParity(_) | StepAction::LlmSwitch(_) => false,
    }
}

/// Every string in a JSON value with its key path (skipping the `kind` tag).
fn collect_strings(
    value: &serde_json::Value,
    path: &mut Vec<Seg>,
    out: &mut Vec<(Vec<Seg>, String)>,
) {
    match value {
        serde_json::Value::String(s) if path.first() != Some(&Seg::from("kind")) => {
            out.push((path.clone(), s.clone()));
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                collect_strings(item, path, out);
                path.pop();
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                path.push(Seg::from(key.as_str()));
                collect_strings(item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}
