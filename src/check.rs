//! `lifeboat check`: the config, every runbook and every template, loaded and cross-checked.
//! A typo in a DR config must fail here, not during the outage.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::{Config, LoadedConfig, Secret};
use crate::runbook::{self, LoadedRunbooks};
use crate::toml_source::{Diagnostic, Seg, TomlSource, line_col};

/// The variables a communication template may use: the fields of `comms::Facts`, filled
/// from the event log and config.
pub const TEMPLATE_FACTS: &[&str] = crate::comms::facts::VARIABLES;

/// Everything `check` validated, for its summary.
#[derive(Debug)]
pub struct Checked {
    pub config: LoadedConfig,
    pub runbooks: LoadedRunbooks,
    pub templates: Vec<PathBuf>,
    /// Each secret's environment variable and whether it is set.
    pub secrets: Vec<(String, bool)>,
}

/// Loads and cross-checks everything; on failure, every problem found.
pub fn check(config_path: &Path) -> Result<Checked, Vec<Diagnostic>> {
    let config = Config::load(config_path)?;
    let mut errors = Vec::new();
    let mut runbooks = runbook::load_dir(&config.config.paths.runbooks, &config.config);
    errors.append(&mut runbooks.errors);
    for (i, provider) in config.config.providers.iter().enumerate() {
        if let Some(name) = &provider.runbook
            && runbooks.get(name).is_none()
        {
            errors.push(config.source.error_at(
                &crate::key_path!["providers", i, "runbook"],
                format!(
                    "provider `{}` maps to runbook `{name}`, which is not in {}",
                    provider.name,
                    config.config.paths.runbooks.display()
                ),
            ));
        }
    }
    let (templates, mut template_errors) = check_templates(&config.config.paths.templates);
    errors.append(&mut template_errors);
    errors.extend(check_llm_suites(&config.config, &runbooks));
    let secrets = config
        .config
        .secret_env_vars()
        .into_iter()
        .map(|var| {
            let value = Secret::from_env(var);
            tracing::debug!(var, ?value, "secret looked up");
            (var.to_owned(), value.is_some())
        })
        .collect();
    if errors.is_empty() {
        Ok(Checked {
            config,
            runbooks,
            templates,
            secrets,
        })
    } else {
        Err(errors)
    }
}

/// Loads every LLM parity suite a runbook's `llm_parity` step uses (each file once): a gate
/// must not find a broken suite during the outage.
fn check_llm_suites(config: &Config, runbooks: &LoadedRunbooks) -> Vec<Diagnostic> {
    let mut paths = BTreeSet::new();
    for step in runbooks.runbooks.iter().flat_map(|r| &r.steps) {
        if let runbook::StepAction::LlmParity(args) = &step.action {
            paths.insert(
                args.suite
                    .clone()
                    .unwrap_or_else(|| config.parity.llm_suite_path(&config.paths)),
            );
        }
    }
    paths
        .iter()
        .filter_map(|path| crate::parity::suite::load(path).err())
        .flatten()
        .collect()
}

/// Parses every `*.j2` template; syntax errors and unknown variables are reported.
pub fn check_templates(dir: &Path) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        // No templates directory means no templates: the built-in texts are used.
        return (found, errors);
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "j2"))
        .collect();
    paths.sort();
    let env = minijinja::Environment::new();
    let known: BTreeSet<&str> = TEMPLATE_FACTS.iter().copied().collect();
    for path in paths {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) => {
                errors.push(Diagnostic {
                    file: path.clone(),
                    line: 1,
                    col: 1,
                    message: format!("cannot read template: {err}"),
                });
                continue;
            }
        };
        match env.template_from_str(&text) {
            Err(err) => errors.push(Diagnostic {
                file: path.clone(),
                line: err.line().unwrap_or(1),
                col: 1,
                message: format!("template syntax: {}", err.detail().unwrap_or("invalid")),
            }),
            Ok(template) => {
                let mut unknown: Vec<String> = template
                    .undeclared_variables(false)
                    .into_iter()
                    .filter(|v| !known.contains(v.as_str()))
                    .collect();
                unknown.sort();
                for name in unknown {
                    let offset = variable_offset(&text, &name);
                    let (line, col) = line_col(&text, offset);
                    errors.push(Diagnostic {
                        file: path.clone(),
                        line,
                        col,
                        message: format!(
                            "unknown variable `{name}` (templates may use: {})",
                            TEMPLATE_FACTS.join(", ")
                        ),
                    });
                }
            }
        }
        found.push(path);
    }
    (found, errors)
}

/// Where `name` is first used inside a `{{ }}` or `{% %}` tag of `text` (so a word in the
/// prose that happens to match does not point the error at the wrong line).
fn variable_offset(text: &str, name: &str) -> usize {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(open) = text[from..].find(['{']).map(|i| i + from) {
        let rest = &text[open..];
        let close = match rest.get(..2) {
            Some("{{") => "}}",
            Some("{%") => "%}",
            _ => {
                from = open + 1;
                continue;
            }
        };
        let end = rest.find(close).map_or(text.len(), |i| open + i);
        let tag = &text[open..end];
        let mut at = 0;
        while let Some(i) = tag[at..].find(name).map(|i| i + at) {
            let before = tag[..i].chars().next_back();
            let after = tag[i + name.len()..].chars().next();
            if !before.is_some_and(|c| is_ident(c) || c == '.') && !after.is_some_and(is_ident) {
                return open + i;
            }
            at = i + name.len();
        }
        from = end.max(open + 1);
    }
    text.find(name).unwrap_or(0)
}

impl Checked {
    /// The short human summary `check` prints on success.
    pub fn summary(&self) -> String {
        let c = &self.config.config;
        let mut out = String::new();
        let _ = writeln!(out, "{}: ok", self.config.source.path().display());
        let o = &c.objectives;
        let _ = write!(
            out,
            "objectives: hosting RTO {}, LLM RTO {}, RPO {}",
            o.hosting_rto, o.llm_rto, o.rpo
        );
        if let Some(data) = o.data_rto {
            let _ = write!(out, ", data RTO {data}");
        }
        out.push('\n');
        let _ = writeln!(out, "feeds: {}", c.feeds.len());
        for f in &c.feeds {
            let _ = writeln!(
                out,
                "  {} ({} for {}, every {})",
                f.name, f.kind, f.provider, f.interval
            );
        }
        let _ = writeln!(out, "runbooks: {}", self.runbooks.runbooks.len());
        for r in &self.runbooks.runbooks {
            let _ = writeln!(
                out,
                "  {} ({}, {} steps, {} approval{})",
                r.name,
                r.workstream,
                r.steps.len(),
                r.approval.approvals,
                if r.approval.approvals == 1 { "" } else { "s" }
            );
        }
        let teams: Vec<&str> = c.teams.iter().map(|t| t.name.as_str()).collect();
        let _ = writeln!(out, "teams: {} ({})", teams.len(), teams.join(", "));
        let _ = writeln!(out, "templates: {}", self.templates.len());
        let secrets: Vec<String> = self
            .secrets
            .iter()
            .map(|(var, set)| format!("{var} ({})", if *set { "set" } else { "unset" }))
            .collect();
        let _ = writeln!(out, "secrets: {}", config_join(&secrets));
        out
    }
}

fn config_join(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

// ---------------------------------------------------------------------------------------------
// `lifeboat check --production`: what is fine for a demo but fails a real recovery.

/// The worst case of one runbook: every step running to its timeout on every attempt, the
/// backoff between attempts at its longest (+20 % jitter), and, when the runbook moves DNS,
/// the TTL resolvers keep the old answer for. Steps run in sequence, so the longest path is
/// all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorstCase {
    pub total: std::time::Duration,
    /// Each step's share, in runbook order.
    pub steps: Vec<(String, std::time::Duration)>,
    /// The DNS TTL counted, when the runbook moves DNS.
    pub dns_ttl: Option<std::time::Duration>,
}

/// `WorstCase` of `runbook` with the DNS TTL `ttl_secs` (from `[aws.dns]`). Pure.
pub fn worst_case(runbook: &runbook::Runbook, ttl_secs: Option<u32>) -> WorstCase {
    use runbook::StepAction;
    use std::time::Duration;
    let mut steps = Vec::new();
    let mut moves_dns = false;
    for step in &runbook.steps {
        let timeout = step.timeout.get();
        let one = match &step.action {
            // A wait ends at its duration unless its timeout cuts it short; it is not retried.
            StepAction::Wait(wait) => wait.duration.get().min(timeout),
            action => {
                moves_dns |= matches!(action, StepAction::Route53Upsert(_));
                let attempts = step.retries.saturating_add(1);
                // The engine sleeps backoff × 2^(n-1) (±20 %) before retry n.
                let backoff: Duration = (0..step.retries.min(10))
                    .map(|n| step.backoff.get().saturating_mul(1 << n).mul_f64(1.2))
                    .sum();
                timeout.saturating_mul(attempts) + backoff
            }
        };
        steps.push((step.id.clone(), one));
    }
    let dns_ttl = ttl_secs
        .filter(|_| moves_dns)
        .map(|ttl| Duration::from_secs(u64::from(ttl)));
    let total = steps.iter().map(|(_, d)| *d).sum::<Duration>() + dns_ttl.unwrap_or_default();
    WorstCase {
        total,
        steps,
        dns_ttl,
    }
}

/// Whether `url` names this machine (`localhost`, `127.0.0.0/8`, `::1`, `0.0.0.0`).
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    let Some(host) = parsed.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip.is_unspecified(),
        Err(_) => {
            let domain = host.trim_end_matches('.').to_ascii_lowercase();
            domain == "localhost" || domain.ends_with(".localhost")
        }
    }
}

/// Visits every string in a TOML value with its key path.
fn walk_strings(value: &toml::Value, path: &mut Vec<Seg>, visit: &mut dyn FnMut(&[Seg], &str)) {
    match value {
        toml::Value::String(text) => visit(path, text),
        toml::Value::Table(table) => {
            for (key, value) in table {
                path.push(Seg::from(key.as_str()));
                walk_strings(value, path, visit);
                path.pop();
            }
        }
        toml::Value::Array(items) => {
            for (i, value) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                walk_strings(value, path, visit);
                path.pop();
            }
        }
        _ => {}
    }
}

fn last_key(path: &[Seg]) -> Option<&str> {
    match path.last() {
        Some(Seg::Key(key)) => Some(key.as_str()),
        _ => None,
    }
}

/// Everything `--production` adds to `check`, each problem located in its file. `is_set`
/// says whether an environment variable holds a value (the process environment in `main`).
pub fn production_problems(checked: &Checked, is_set: &dyn Fn(&str) -> bool) -> Vec<Diagnostic> {
    let config = &checked.config.config;
    let source = &checked.config.source;
    let mut errors = Vec::new();
    let raw = source
        .parse_at::<toml::Value>(&[])
        .ok()
        .flatten()
        .unwrap_or(toml::Value::Table(toml::Table::new()));

    unset_config_secrets(checked, &raw, is_set, &mut errors);
    unset_runbook_secrets(checked, is_set, &mut errors);
    if config.aws.mode == crate::config::AwsMode::Simulated {
        errors.push(simulated_aws(source));
    }
    data_problems(checked, &mut errors);
    if let Some(ha) = &config.ha {
        ha.production_problems(source, &mut errors);
    }
    errors.extend(unauthenticated_server(checked));
    loopback_urls(checked, &raw, &mut errors);
    runbooks_over_objective(checked, &mut errors);
    errors.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
    errors
}

/// Every secret the config names by environment variable (`token_env`, `key_env`,
/// `*_routing_key_env`, ...: a key ending in `_env`) that is not set, and the defaulted
/// Discord token variable, which is not in the file.
fn unset_config_secrets(
    checked: &Checked,
    raw: &toml::Value,
    is_set: &dyn Fn(&str) -> bool,
    errors: &mut Vec<Diagnostic>,
) {
    let config = &checked.config.config;
    let source = &checked.config.source;
    walk_strings(raw, &mut Vec::new(), &mut |path, var| {
        if let Some(key) = last_key(path)
            && key.ends_with("_env")
            && !is_set(var)
        {
            errors.push(source.error_at(
                path,
                format!("`{key}` names the environment variable {var}, which is not set"),
            ));
        }
    });
    // Defaulted secret names (a `[discord]` without `token_env`) are not in the file.
    if let Some(discord) = &config.discord
        && !source
            .keys_at(&crate::key_path!["discord"])
            .iter()
            .any(|k| k == "token_env")
        && !is_set(&discord.token_env)
    {
        errors.push(source.error_at(
            &crate::key_path!["discord"],
            format!(
                "the Discord token variable {} (the default `token_env`) is not set",
                discord.token_env
            ),
        ));
    }
}

/// Secrets the runbooks send (`${env.NAME}` in headers) that are not set, each once per runbook.
fn unset_runbook_secrets(
    checked: &Checked,
    is_set: &dyn Fn(&str) -> bool,
    errors: &mut Vec<Diagnostic>,
) {
    for rb in &checked.runbooks.runbooks {
        let Ok(rb_source) = TomlSource::read(&rb.source) else {
            continue;
        };
        let Some(rb_raw) = rb_source.parse_at::<toml::Value>(&[]).ok().flatten() else {
            continue;
        };
        let mut reported = BTreeSet::new();
        walk_strings(&rb_raw, &mut Vec::new(), &mut |path, text| {
            for r in crate::runbook::interp::references(text).unwrap_or_default() {
                if r.namespace == crate::runbook::interp::Namespace::Env
                    && !is_set(&r.name)
                    && reported.insert(r.name.clone())
                {
                    errors.push(rb_source.error_at(
                        path,
                        format!(
                            "runbook `{}` sends the secret ${{env.{}}}, but {} is not set",
                            rb.name, r.name, r.name
                        ),
                    ));
                }
            }
        });
    }
}

/// A simulated AWS would change nothing real: located at `[aws] mode` when the file says so.
fn simulated_aws(source: &TomlSource) -> Diagnostic {
    let at = if source
        .keys_at(&crate::key_path!["aws"])
        .iter()
        .any(|k| k == "mode")
    {
        crate::key_path!["aws", "mode"].to_vec()
    } else {
        Vec::new()
    };
    source.error_at(
        &at,
        "[aws] mode is `simulated`: a failover would change nothing real; set mode = \"live\"",
    )
}

/// The data steps against a simulation would restore nothing; the tools must be there, and
/// `db_verify` needs tables to count.
fn data_problems(checked: &Checked, errors: &mut Vec<Diagnostic>) {
    let config = &checked.config.config;
    let source = &checked.config.source;
    let data_steps: Vec<&str> = checked
        .runbooks
        .runbooks
        .iter()
        .filter(|rb| {
            rb.steps.iter().any(|s| {
                matches!(
                    s.action,
                    crate::runbook::StepAction::DbCopy(_)
                        | crate::runbook::StepAction::DbRestore(_)
                        | crate::runbook::StepAction::DbVerify(_)
                )
            })
        })
        .map(|rb| rb.name.as_str())
        .collect();
    match &config.data {
        None if !data_steps.is_empty() => errors.push(source.error_at(
            &[],
            format!(
                "there is no [data]: the data steps of {} would act on a simulation; name the primary's and the standby's URL variables, the backup store and the tables",
                data_steps.join(", ")
            ),
        )),
        None => {}
        Some(data) => {
            if let Err(missing) = crate::db::pg::Tools::find(data.tools_dir.as_deref()) {
                let at = if data.tools_dir.is_some() {
                    crate::key_path!["data", "tools_dir"].to_vec()
                } else {
                    crate::key_path!["data"].to_vec()
                };
                errors.push(source.error_at(&at, missing));
            }
            if data.tables.is_empty() {
                errors.push(source.error_at(
                    &crate::key_path!["data"],
                    "[data] lists no tables: db_verify could not count the restored data or measure the data-loss window",
                ));
            }
        }
    }
}

/// The operators' endpoints ask no one for credentials and `/backup` hands out the whole
/// event log: they stay on this machine (scrape through a local agent or a proxy that
/// authenticates). With `[server] token_env` they ask for a bearer token (that it is set is
/// checked with every other `*_env`).
fn unauthenticated_server(checked: &Checked) -> Option<Diagnostic> {
    let server = &checked.config.config.server;
    if !server.enabled || server.token_env.is_some() || server.listen.ip().is_loopback() {
        return None;
    }
    Some(checked.config.source.error_at(
        &crate::key_path!["server", "listen"],
        format!(
            "[server] listen = \"{}\" is not a loopback address: /healthz, /metrics and /backup (the whole event log) are served without authentication; listen on 127.0.0.1, or set [server] token_env to the variable holding a bearer token that /metrics and /backup then require",
            server.listen
        ),
    ))
}

/// Any URL that points at this machine: a feed or probe watching loopback sees only itself,
/// an endpoint on loopback is a test double left in.
fn loopback_urls(checked: &Checked, raw: &toml::Value, errors: &mut Vec<Diagnostic>) {
    let config = &checked.config.config;
    let source = &checked.config.source;
    walk_strings(raw, &mut Vec::new(), &mut |path, text| {
        if is_loopback_url(text) {
            let what = match path.first() {
                Some(Seg::Key(section)) if section == "feeds" => {
                    let kind = match path.get(1) {
                        Some(Seg::Index(i)) => config.feeds.get(*i).map(|f| f.kind),
                        _ => None,
                    };
                    if kind == Some(crate::config::FeedKind::Probe) {
                        "a probe"
                    } else {
                        "a feed"
                    }
                }
                _ => "a URL",
            };
            errors.push(source.error_at(
                path,
                format!("{what} points at this machine (`{text}`): in production it must reach the real service"),
            ));
        }
    });
}

/// Each runbook whose worst case exceeds its objective, with its three largest steps.
fn runbooks_over_objective(checked: &Checked, errors: &mut Vec<Diagnostic>) {
    let config = &checked.config.config;
    let source = &checked.config.source;
    let ttl = config.aws.dns.as_ref().map(|d| d.ttl);
    for rb in &checked.runbooks.runbooks {
        let Some(objective) = config.objectives.rto_for(rb.workstream) else {
            continue;
        };
        let worst = worst_case(rb, ttl);
        if worst.total <= objective.get() {
            continue;
        }
        let key = format!("{}_rto", rb.workstream);
        let mut largest = worst.steps.clone();
        largest.sort_by_key(|(_, d)| std::cmp::Reverse(*d));
        let largest: Vec<String> = largest
            .iter()
            .take(3)
            .map(|(id, d)| format!("{id} {}", crate::duration::format_elapsed(*d)))
            .collect();
        errors.push(source.error_at(
            &crate::key_path!["objectives", key.as_str()],
            format!(
                "runbook `{}` can take up to {} (step timeouts × attempts + backoff{}), more than {key} {objective}; largest: {}",
                rb.name,
                crate::duration::format_elapsed(worst.total),
                worst
                    .dns_ttl
                    .map(|t| format!(" + DNS TTL {}", crate::duration::HumanDuration(t)))
                    .unwrap_or_default(),
                largest.join(", ")
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const CONFIG: &str = r#"[objectives]
hosting_rto = "1h"
llm_rto = "2h"
rpo = "1h"

[paths]
runbooks = "commands"
templates = "templates"

[discord]
token_env = "DISCORD_TOKEN_UNSET"

[[providers]]
name = "heroku"
workstream = "hosting"

[[feeds]]
name = "status"
provider = "heroku"
kind = "heroku"
url = "http://127.0.0.1:9/status"

[[feeds]]
name = "probe"
provider = "heroku"
kind = "probe"
url = "http://localhost:8080/health"

[aws]
mode = "simulated"

[aws.dns]
zone_id = "Z1"
ttl = 300
records = [{ name = "app.example.com", primary = "a.herokudns.com", standby = "alb.aws.com" }]

[llm.anthropic]
base_url = "https://api.anthropic.com"
key_env = "SET_VAR"
model = "m"

[[teams]]
name = "engineering"
"#;

    const RUNBOOK: &str = r#"name = "failover"
title = "Fail over"
workstream = "hosting"

[[steps]]
id = "scale"
kind = "ecs_scale"
with = { to = "standby" }
timeout = "20m"
retries = 2

[[steps]]
id = "dns"
kind = "route53_upsert"
with = { to = "standby" }

[[steps]]
id = "flip"
kind = "http_request"
with = { url = "https://api.example.com/x", headers = { Authorization = "Bearer ${env.API_KEY_UNSET}" } }
"#;

    const ECS: &str =
        "\n[aws.ecs]\ncluster = \"standby\"\nservices = [{ name = \"web\", standby = 3 }]\n";

    fn checked(config: &str, runbook: &str) -> (tempfile::TempDir, Checked) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("commands")).unwrap();
        let config = config
            .replace(
                "\"commands\"",
                &format!("{:?}", dir.path().join("commands")),
            )
            .replace(
                "\"templates\"",
                &format!("{:?}", dir.path().join("templates")),
            );
        let config = config.replace("\n[aws.dns]", &format!("{ECS}\n[aws.dns]"));
        std::fs::write(dir.path().join("lifeboat.toml"), config).unwrap();
        std::fs::write(dir.path().join("commands/failover.toml"), runbook).unwrap();
        let checked = check(&dir.path().join("lifeboat.toml")).unwrap_or_else(|e| panic!("{e:#?}"));
        (dir, checked)
    }

    fn problems(dir: &tempfile::TempDir, checked: &Checked) -> Vec<String> {
        let prefix = format!("{}/", dir.path().display());
        production_problems(checked, &|var| var == "SET_VAR")
            .iter()
            .map(|d| d.to_string().replace(&prefix, ""))
            .collect()
    }

    #[test]
    fn every_production_problem_is_reported_at_its_key() {
        let (dir, checked) = checked(CONFIG, RUNBOOK);
        let found = problems(&dir, &checked);
        let expected = [
            "lifeboat.toml:11:1: `token_env` names the environment variable DISCORD_TOKEN_UNSET, which is not set",
            "commands/failover.toml:20:57: runbook `failover` sends the secret ${env.API_KEY_UNSET}, but API_KEY_UNSET is not set",
            "lifeboat.toml:30:1: [aws] mode is `simulated`: a failover would change nothing real; set mode = \"live\"",
            "lifeboat.toml:21:1: a feed points at this machine (`http://127.0.0.1:9/status`)",
            "lifeboat.toml:27:1: a probe points at this machine (`http://localhost:8080/health`)",
            "lifeboat.toml:2:1: runbook `failover` can take up to 1h 09m (step timeouts × attempts + backoff + DNS TTL 5m), more than hosting_rto 1h; largest: scale 1h 00m, dns 2m 00s, flip 2m 00s",
        ];
        for e in expected {
            assert!(
                found.iter().any(|f| f.starts_with(e)),
                "missing {e:?} in {found:#?}"
            );
        }
        assert_eq!(found.len(), expected.len(), "{found:#?}");
    }

    /// `CONFIG` with every demo setting replaced by what production uses.
    fn production_config() -> String {
        CONFIG
            .replace("DISCORD_TOKEN_UNSET", "SET_VAR")
            .replace("mode = \"simulated\"", "mode = \"live\"")
            .replace(
                "http://127.0.0.1:9/status",
                "https://status.heroku.com/api/v4/current-status",
            )
            .replace(
                "http://localhost:8080/health",
                "https://app.example.com/health",
            )
            .replace("hosting_rto = \"1h\"", "hosting_rto = \"4h\"")
    }

    #[test]
    fn a_production_config_passes() {
        let config = production_config();
        let runbook = RUNBOOK.replace("API_KEY_UNSET", "SET_VAR");
        let (dir, checked) = checked(&config, &runbook);
        assert_eq!(problems(&dir, &checked), Vec::<String>::new());
    }

    #[test]
    fn a_server_listening_beyond_loopback_is_a_production_problem() {
        let production = production_config();
        let runbook = RUNBOOK.replace("API_KEY_UNSET", "SET_VAR");
        for listen in ["0.0.0.0:9090", "10.1.2.3:9090", "[::]:9090"] {
            let config = format!("{production}\n[server]\nlisten = \"{listen}\"\n");
            let (dir, checked) = checked(&config, &runbook);
            let written = std::fs::read_to_string(dir.path().join("lifeboat.toml")).unwrap();
            let line = 1 + written
                .lines()
                .position(|l| l.starts_with("listen = "))
                .unwrap();
            let found = problems(&dir, &checked);
            assert_eq!(found.len(), 1, "{found:#?}");
            assert!(
                found[0].starts_with(&format!(
                    "lifeboat.toml:{line}:1: [server] listen = \"{listen}\" is not a loopback address: /healthz, /metrics and /backup (the whole event log) are served without authentication"
                )),
                "{found:#?}"
            );
        }
        // Beyond loopback with a bearer token: fine once its variable is set.
        let guarded = "[server]\nlisten = \"0.0.0.0:9090\"\ntoken_env = \"SERVER_TOKEN_UNSET\"\n";
        let (dir, with_token) = checked(&format!("{production}\n{guarded}"), &runbook);
        let found = problems(&dir, &with_token);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].ends_with(
                "`token_env` names the environment variable SERVER_TOKEN_UNSET, which is not set"
            ),
            "{found:#?}"
        );
        // Loopback, the default, no server at all, or a token: fine.
        for server in [
            "[server]\nlisten = \"0.0.0.0:9090\"\ntoken_env = \"SET_VAR\"\n",
            "[server]\nlisten = \"127.0.0.1:9090\"\n",
            "[server]\nlisten = \"[::1]:9090\"\n",
            "",
            "[server]\nenabled = false\nlisten = \"0.0.0.0:9090\"\n",
        ] {
            let config = format!("{production}\n{server}");
            let (dir, checked) = checked(&config, &runbook);
            assert_eq!(problems(&dir, &checked), Vec::<String>::new(), "{server}");
        }
    }

    #[test]
    fn a_defaulted_token_variable_still_counts_and_a_missing_aws_mode_is_simulated() {
        let config = CONFIG
            .replace("token_env = \"DISCORD_TOKEN_UNSET\"\n", "")
            .replace("mode = \"simulated\"\n", "");
        let (dir, checked) = checked(&config, RUNBOOK);
        let found = problems(&dir, &checked);
        assert!(
            found.iter().any(|f| f.contains(
                "the Discord token variable LIFEBOAT_DISCORD_TOKEN (the default `token_env`) is not set"
            )),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|f| f.contains("[aws] mode is `simulated`")),
            "{found:#?}"
        );
    }

    #[test]
    fn the_worst_case_counts_attempts_backoff_and_the_dns_ttl() {
        let (_dir, checked) = checked(CONFIG, RUNBOOK);
        let rb = &checked.runbooks.runbooks[0];
        let worst = worst_case(rb, Some(300));
        // scale: 3 × 20m + 2s × 1.2 + 4s × 1.2; dns and flip: 2m each; TTL 5m.
        assert_eq!(
            worst.steps[0],
            (
                "scale".to_owned(),
                Duration::from_secs(3600) + Duration::from_millis(7200)
            )
        );
        assert_eq!(worst.dns_ttl, Some(Duration::from_secs(300)));
        assert_eq!(
            worst.total,
            Duration::from_secs(3600 + 120 + 120 + 300) + Duration::from_millis(7200)
        );
        assert_eq!(worst_case(rb, None).dns_ttl, None);
    }

    #[test]
    fn loopback_urls_are_recognised() {
        for url in [
            "http://localhost/x",
            "http://LOCALHOST.:80",
            "http://app.localhost/",
            "http://127.0.0.1:9/",
            "http://127.8.9.1/",
            "http://[::1]:5000/",
            "http://0.0.0.0/",
            "ws://localhost:1/gateway",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for not in [
            "https://status.heroku.com/api",
            "http://10.0.0.1/",
            "not a url",
            "http://localhostile.com/",
        ] {
            assert!(!is_loopback_url(not), "{not}");
        }
    }
}
