//! `lifeboat check`: the config, every runbook and every template, loaded and cross-checked.
//! A typo in a DR config must fail here, not during the outage.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::{Config, LoadedConfig, Secret};
use crate::runbook::{self, LoadedRunbooks};
use crate::toml_source::{Diagnostic, line_col};

/// The variables a communication template may use (filled from the event log and config).
pub const TEMPLATE_FACTS: &[&str] = &[
    "company",
    "incident",
    "audience",
    "status",
    "providers",
    "services",
    "started_at",
    "steps_done",
    "expected_recovery",
    "data_loss_window",
    "now",
    "drill",
];

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
                    let offset = text.find(name.as_str()).unwrap_or(0);
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
