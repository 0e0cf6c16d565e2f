//! The config sections of parity and of the LLM switch: `[heroku]` (the production app and the
//! Platform API), `[app]` (what the app reads and answers, see docs/parity.md "What the app must
//! provide") and `[parity]` (what `lifeboat parity` compares and the LLM parity suite).
//! They are fields of `crate::config::Config`, validated with it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::config::{Config, PathsConfig};
use crate::duration::HumanDuration;
use crate::key_path;
use crate::runbook::StepAction;
use crate::toml_source::{Diagnostic, TomlSource};

/// Heroku's Platform API.
pub const HEROKU_API: &str = "https://api.heroku.com";

/// `[heroku]`: the production app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HerokuConfig {
    /// The app's name on Heroku.
    pub app: String,
    /// Name of the environment variable holding a Platform API token.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// The Platform API (tests point it at loopback).
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// Bounds each call.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

fn default_token_env() -> String {
    "HEROKU_API_KEY".to_owned()
}

fn default_api_base() -> String {
    HEROKU_API.to_owned()
}

fn default_timeout() -> HumanDuration {
    HumanDuration::from_secs(15)
}

/// `[app]`: the contract between the app and its runbooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The variable the app reads to pick its LLM provider (`openai` or `anthropic`).
    #[serde(default = "default_llm_var")]
    pub llm_var: String,
    /// The container of the ECS task definitions that runs the app (its environment is
    /// compared and switched); unset: a task definition's only container, or every one.
    pub container: Option<String>,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            llm_var: default_llm_var(),
            container: None,
        }
    }
}

fn default_llm_var() -> String {
    "LLM_PROVIDER".to_owned()
}

/// Where the code's version is read on ECS, to compare with the Heroku release's commit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CodeSource {
    /// The image tag (`repo/app:<commit>`).
    #[default]
    ImageTag,
    /// A Docker label of the container (e.g. `org.opencontainers.image.revision`).
    Label(String),
}

impl<'de> Deserialize<'de> for CodeSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "image_tag" => Ok(CodeSource::ImageTag),
            _ => match text.strip_prefix("label:") {
                Some(label) if !label.is_empty() => Ok(CodeSource::Label(label.to_owned())),
                _ => Err(serde::de::Error::custom(format!(
                    "`{text}`: use \"image_tag\" or \"label:NAME\""
                ))),
            },
        }
    }
}

/// `[parity]`: how the standby is compared with production, and the LLM parity suite.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParityConfig {
    /// Config var names never compared; a trailing `*` matches a prefix (`HEROKU_*`).
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Config vars whose values must be equal (compared by SHA-256; neither value is shown).
    #[serde(default)]
    pub must_match: Vec<String>,
    /// Heroku process type → ECS service; a type not listed maps to the service of its name.
    #[serde(default)]
    pub processes: BTreeMap<String, String>,
    /// `image_tag` (default) or `label:NAME`.
    #[serde(default)]
    pub code: CodeSource,
    /// Bounds each request to the app's health endpoints.
    #[serde(default = "default_health_timeout")]
    pub health_timeout: HumanDuration,
    /// The LLM parity suite (prompts and their checks); by default `llm-parity.toml` in the
    /// folder that holds `[paths] templates` (`config/`).
    pub llm_suite: Option<PathBuf>,
    /// The share of the suite (0.0–1.0) a provider must pass for the switch to go ahead.
    #[serde(default = "default_llm_min_pass")]
    pub llm_min_pass: f64,
}

impl Default for ParityConfig {
    fn default() -> Self {
        Self {
            ignore: Vec::new(),
            must_match: Vec::new(),
            processes: BTreeMap::new(),
            code: CodeSource::default(),
            health_timeout: default_health_timeout(),
            llm_suite: None,
            llm_min_pass: default_llm_min_pass(),
        }
    }
}

fn default_health_timeout() -> HumanDuration {
    HumanDuration::from_secs(5)
}

fn default_llm_min_pass() -> f64 {
    0.9
}

/// The suite's file name beside the templates folder.
pub const LLM_SUITE_FILE: &str = "llm-parity.toml";

impl ParityConfig {
    /// Where the LLM parity suite is read from.
    pub fn llm_suite_path(&self, paths: &PathsConfig) -> PathBuf {
        self.llm_suite.clone().unwrap_or_else(|| {
            paths.templates.parent().map_or_else(
                || PathBuf::from(LLM_SUITE_FILE),
                |dir| dir.join(LLM_SUITE_FILE),
            )
        })
    }

    /// Whether `name` is on the ignore list.
    pub fn ignored(&self, name: &str) -> bool {
        self.ignore
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == pattern,
            })
    }

    /// The ECS service a Heroku process type runs as on the standby, if any is configured.
    pub fn service_for<'a>(&'a self, config: &'a Config, process: &'a str) -> Option<&'a str> {
        let wanted = self.processes.get(process).map_or(process, String::as_str);
        config
            .aws
            .ecs
            .as_ref()?
            .services
            .iter()
            .find(|s| s.name == wanted)
            .map(|s| s.name.as_str())
    }
}

/// The checks of these sections that need the whole config.
pub fn validate(config: &Config, source: &TomlSource, errors: &mut Vec<Diagnostic>) {
    if let Some(heroku) = &config.heroku {
        if url::Url::parse(&heroku.api_base).is_err() {
            errors.push(source.error_at(
                &key_path!["heroku", "api_base"],
                format!("`{}` is not a valid URL", heroku.api_base),
            ));
        }
        if heroku.app.trim().is_empty() {
            errors
                .push(source.error_at(&key_path!["heroku", "app"], "app must name the Heroku app"));
        }
    }
    let parity = &config.parity;
    if !(0.0..=1.0).contains(&parity.llm_min_pass) {
        errors.push(source.error_at(
            &key_path!["parity", "llm_min_pass"],
            format!(
                "llm_min_pass {} must be a share between 0.0 and 1.0",
                parity.llm_min_pass
            ),
        ));
    }
    let services: Vec<&str> = config
        .aws
        .ecs
        .iter()
        .flat_map(|e| e.services.iter().map(|s| s.name.as_str()))
        .collect();
    for (process, service) in &parity.processes {
        if !services.contains(&service.as_str()) {
            errors.push(source.error_at(
                &key_path!["parity", "processes", process.as_str()],
                format!(
                    "process type `{process}` maps to ECS service `{service}`, which is not in [aws.ecs] services (configured: {})",
                    crate::config::join_or_none(services.iter().copied())
                ),
            ));
        }
    }
    if config.app.llm_var.trim().is_empty() {
        errors.push(source.error_at(&key_path!["app", "llm_var"], "llm_var must name a variable"));
    }
}

/// What is wrong with an `llm_parity` or `llm_switch` step for this config. What only a run
/// can tell (the suite's file, `[heroku]` while the app runs there) is reported by the step.
pub fn step_problems(action: &StepAction, config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    let provider = match action {
        StepAction::LlmParity(a) => {
            if let Some(min) = a.min_pass.filter(|m| !(0.0..=1.0).contains(m)) {
                problems.push(format!(
                    "min_pass {min} must be a share between 0.0 and 1.0"
                ));
            }
            &a.provider
        }
        StepAction::LlmSwitch(a) => {
            let known: Vec<&str> = config
                .aws
                .ecs
                .iter()
                .flat_map(|e| e.services.iter().map(|s| s.name.as_str()))
                .collect();
            for name in &a.services {
                if !known.contains(&name.as_str()) {
                    problems.push(format!(
                        "unknown ECS service `{name}` (configured: {})",
                        crate::config::join_or_none(known.iter().copied())
                    ));
                }
            }
            &a.provider
        }
        _ => return problems,
    };
    if config.llm.provider(provider).is_none() {
        problems.insert(
            0,
            format!(
                "LLM provider `{provider}` is not configured in [llm] (use openai or anthropic)"
            ),
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(extra: &str) -> Result<Config, Vec<String>> {
        let text =
            format!("[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n{extra}");
        Config::from_source(TomlSource::new("lifeboat.toml", text))
            .map(|l| l.config)
            .map_err(|errors| errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn defaults_and_patterns() {
        let c = load("[heroku]\napp = \"example\"\n").unwrap();
        let heroku = c.heroku.as_ref().unwrap();
        assert_eq!(heroku.api_base, HEROKU_API);
        assert_eq!(heroku.token_env, "HEROKU_API_KEY");
        assert!(c.secret_env_vars().contains(&"HEROKU_API_KEY"));
        assert_eq!(c.app.llm_var, "LLM_PROVIDER");
        assert_eq!(c.parity.code, CodeSource::ImageTag);
        assert_eq!(c.parity.llm_min_pass, 0.9);
        assert_eq!(
            c.parity.llm_suite_path(&c.paths),
            PathBuf::from("config/llm-parity.toml")
        );
        let c = load(
            "[parity]\nignore = [\"HEROKU_*\", \"PORT\"]\ncode = \"label:org.opencontainers.image.revision\"\n",
        )
        .unwrap();
        assert!(c.parity.ignored("HEROKU_SLUG_COMMIT"));
        assert!(c.parity.ignored("PORT"));
        assert!(!c.parity.ignored("PORTAL"));
        assert_eq!(
            c.parity.code,
            CodeSource::Label("org.opencontainers.image.revision".into())
        );
    }

    #[test]
    fn mistakes_are_located() {
        let errs =
            load("[parity]\nllm_min_pass = 1.5\nprocesses = { web = \"api\" }\n").unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs.iter().any(|e| e.contains(":6:1: llm_min_pass 1.5")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("process type `web` maps to ECS service `api`")),
            "{errs:?}"
        );
        let errs = load("[parity]\ncode = \"tag\"\n").unwrap_err();
        assert!(
            errs[0].contains("use \"image_tag\" or \"label:NAME\""),
            "{errs:?}"
        );
        let errs = load("[heroku]\napp = \"x\"\napi_base = \"nope\"\n").unwrap_err();
        assert!(errs[0].contains("`nope` is not a valid URL"), "{errs:?}");
    }
}
