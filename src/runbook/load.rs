//! Loading `commands/*.toml`: every file parsed, every step typed by its kind, and every
//! reference checked against the config (by `super::validate`), with each problem located as
//! `path:line:col`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::*;
use crate::config::Config;
use crate::key_path;
use crate::toml_source::{Diagnostic, Seg, TomlSource};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRunbook {
    name: String,
    title: String,
    description: Option<String>,
    workstream: Workstream,
    #[serde(default)]
    approval: ApprovalPolicy,
    #[serde(default)]
    params: Vec<Param>,
    /// Typed one by one below, so that every bad step is reported.
    #[serde(default)]
    steps: Vec<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: String,
    title: Option<String>,
    kind: StepKind,
    /// Typed by `kind` below.
    #[serde(rename = "with")]
    _with: Option<toml::Value>,
    timeout: Option<HumanDuration>,
    #[serde(default)]
    retries: u32,
    backoff: Option<HumanDuration>,
    idempotent: Option<bool>,
    #[serde(default)]
    on_failure: OnFailure,
}

/// What a directory of runbooks gave: the good ones, and every problem found.
#[derive(Debug, Default)]
pub struct LoadedRunbooks {
    pub runbooks: Vec<Runbook>,
    pub errors: Vec<Diagnostic>,
}

impl LoadedRunbooks {
    pub fn get(&self, name: &str) -> Option<&Runbook> {
        self.runbooks.iter().find(|r| r.name == name)
    }
}

/// Loads every `*.toml` in `dir`, in name order, checked against `config`.
pub fn load_dir(dir: &Path, config: &Config) -> LoadedRunbooks {
    let mut loaded = LoadedRunbooks::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            loaded.errors.push(Diagnostic {
                file: dir.to_owned(),
                line: 1,
                col: 1,
                message: format!(
                    "cannot read the runbook directory {}: {err}{}",
                    dir.display(),
                    if err.kind() == std::io::ErrorKind::NotFound {
                        crate::toml_source::relative_path_hint(dir)
                    } else {
                        String::new()
                    }
                ),
            });
            return loaded;
        }
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    let mut first_file: BTreeMap<String, std::path::PathBuf> = BTreeMap::new();
    for path in paths {
        let source = match TomlSource::read(&path) {
            Ok(source) => source,
            Err(err) => {
                loaded.errors.push(err);
                continue;
            }
        };
        match load_source(&source, config) {
            Ok(runbook) => {
                if let Some(first) = first_file.get(&runbook.name) {
                    loaded.errors.push(source.error_at(
                        &key_path!["name"],
                        format!(
                            "duplicate runbook name `{}` (also in {})",
                            runbook.name,
                            first.display()
                        ),
                    ));
                } else {
                    first_file.insert(runbook.name.clone(), path.clone());
                    loaded.runbooks.push(runbook);
                }
            }
            Err(errors) => loaded.errors.extend(errors),
        }
    }
    loaded
}

/// Loads one runbook file, checked against `config`.
pub fn load_file(path: &Path, config: &Config) -> Result<Runbook, Vec<Diagnostic>> {
    let source = TomlSource::read(path).map_err(|d| vec![d])?;
    load_source(&source, config)
}

pub(crate) fn load_source(
    source: &TomlSource,
    config: &Config,
) -> Result<Runbook, Vec<Diagnostic>> {
    let raw: RawRunbook = source.parse().map_err(|d| vec![d])?;
    let mut errors = Vec::new();
    let mut steps = Vec::new();
    for i in 0..raw.steps.len() {
        match parse_step(source, i) {
            Ok(step) => steps.push(step),
            Err(err) => errors.push(err),
        }
    }
    let file_hash = hex::encode(Sha256::digest(source.text().as_bytes()));
    let runbook = Runbook {
        name: raw.name,
        title: raw.title,
        description: raw.description,
        workstream: raw.workstream,
        approval: raw.approval,
        params: raw.params,
        steps,
        source: source.path().to_owned(),
        file_hash,
    };
    // Reference checks need every step typed; report shape errors first.
    if errors.is_empty() {
        errors.extend(validate::validate(source, &runbook, config));
    }
    if errors.is_empty() {
        Ok(runbook)
    } else {
        Err(errors)
    }
}

fn parse_step(source: &TomlSource, i: usize) -> Result<Step, Diagnostic> {
    let at = key_path!["steps", i];
    let raw: RawStep = source
        .parse_at(&at)?
        .ok_or_else(|| source.error_at(&at, "missing step"))?;
    let with = key_path!["steps", i, "with"];
    let action = match raw.kind {
        StepKind::EcsScale => StepAction::EcsScale(args(source, &with)?),
        StepKind::Route53Upsert => StepAction::Route53Upsert(args(source, &with)?),
        StepKind::Route53Wait => StepAction::Route53Wait(args(source, &with)?),
        StepKind::HttpCheck => StepAction::HttpCheck(args(source, &with)?),
        StepKind::HttpRequest => StepAction::HttpRequest(args(source, &with)?),
        StepKind::LlmProbe => StepAction::LlmProbe(args(source, &with)?),
        StepKind::BackupCheck => StepAction::BackupCheck(args(source, &with)?),
        StepKind::Command => StepAction::Command(args(source, &with)?),
        StepKind::Notify => StepAction::Notify(args(source, &with)?),
        StepKind::CommsDraft => StepAction::CommsDraft(args(source, &with)?),
        StepKind::Confirm => StepAction::Confirm(args(source, &with)?),
        StepKind::Wait => StepAction::Wait(args(source, &with)?),
        StepKind::DbCopy => StepAction::DbCopy(args(source, &with)?),
        StepKind::DbRestore => StepAction::DbRestore(args(source, &with)?),
        StepKind::DbVerify => StepAction::DbVerify(args(source, &with)?),
        StepKind::LlmParity => StepAction::LlmParity(args(source, &with)?),
        StepKind::LlmSwitch => StepAction::LlmSwitch(args(source, &with)?),
    };
    Ok(Step {
        title: raw.title.unwrap_or_else(|| raw.id.clone()),
        id: raw.id,
        timeout: raw.timeout.unwrap_or_else(|| raw.kind.default_timeout()),
        retries: raw.retries,
        backoff: raw.backoff.unwrap_or(HumanDuration::from_secs(2)),
        idempotent: raw.idempotent.unwrap_or(raw.kind.idempotent_by_default()),
        on_failure: raw.on_failure,
        action,
    })
}

/// A step's `with` table as the kind's argument type; a missing table is an empty one.
fn args<T: DeserializeOwned>(source: &TomlSource, with: &[Seg]) -> Result<T, Diagnostic> {
    match source.parse_at::<T>(with)? {
        Some(args) => Ok(args),
        None => T::deserialize(toml::Value::Table(toml::Table::new())).map_err(|err| {
            let step = &with[..with.len() - 1];
            source.error_at(step, format!("`with`: {}", err.message()))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoadedConfig;

    fn config() -> LoadedConfig {
        let text = r#"
[objectives]
hosting_rto = "4h"
llm_rto = "2h"
rpo = "1h"

[vars]
app_url = "https://app.example.com"

[aws.ecs]
cluster = "standby"
services = [{ name = "web", standby = 3 }]

[aws.dns]
zone_id = "Z1"
records = [{ name = "app.example.com.", primary = "a.herokudns.com", standby = "alb.example.com" }]

[llm.anthropic]
base_url = "http://127.0.0.1:1"
key_env = "ANTHROPIC_API_KEY"
model = "claude"

[[teams]]
name = "engineering"
"#;
        Config::from_source(TomlSource::new("lifeboat.toml", text)).unwrap()
    }

    fn load(text: &str) -> Result<Runbook, Vec<String>> {
        let c = config();
        load_source(&TomlSource::new("rb.toml", text), &c.config)
            .map_err(|errs| errs.iter().map(ToString::to_string).collect())
    }

    const HEADER: &str =
        "name = \"failover-hosting\"\ntitle = \"Fail over\"\nworkstream = \"hosting\"\n";

    #[test]
    fn a_good_runbook_loads_with_defaults() {
        let text = format!(
            "{HEADER}\n[[steps]]\nid = \"scale\"\nkind = \"ecs_scale\"\nwith = {{ to = \"standby\" }}\n\n[[steps]]\nid = \"dns\"\nkind = \"route53_upsert\"\nwith = {{ to = \"standby\" }}\n\n[[steps]]\nid = \"dns-wait\"\nkind = \"route53_wait\"\nwith = {{ change_of = \"dns\" }}\n\n[[steps]]\nid = \"smoke\"\nkind = \"http_check\"\nwith = {{ url = \"${{vars.app_url}}/health\" }}\n\n[[steps]]\nid = \"restore\"\nkind = \"command\"\nwith = {{ argv = [\"restore.sh\"] }}\n"
        );
        let rb = load(&text).unwrap();
        assert_eq!(rb.steps.len(), 5);
        assert_eq!(rb.approval.approvals, 1);
        assert!(!rb.approval.requester_may_approve);
        assert!(rb.steps[0].idempotent);
        assert!(
            !rb.steps[4].idempotent,
            "commands are not idempotent by default"
        );
        assert_eq!(rb.steps[0].timeout.to_string(), "15m");
        assert_eq!(rb.file_hash.len(), 64);
    }

    #[test]
    fn unknown_step_kind_is_located() {
        let text = format!("{HEADER}\n[[steps]]\nid = \"x\"\nkind = \"ecs_scal\"\n");
        let errs = load(&text).unwrap_err();
        assert!(
            errs[0].starts_with("rb.toml:7:8: unknown variant `ecs_scal`"),
            "{errs:?}"
        );
    }

    #[test]
    fn every_bad_step_is_reported() {
        let text = format!(
            "{HEADER}\n[[steps]]\nid = \"a\"\nkind = \"wait\"\nwith = {{ duration = \"soon\" }}\n\n[[steps]]\nid = \"b\"\nkind = \"confirm\"\nwith = {{ questoin = \"ok?\" }}\n\n[[steps]]\nid = \"c\"\nkind = \"wait\"\n"
        );
        let errs = load(&text).unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(
            errs[0].contains(":8:21: invalid duration `soon`"),
            "{errs:?}"
        );
        assert!(
            errs[1].contains(":13:10: unknown field `questoin`"),
            "{errs:?}"
        );
        assert!(
            errs[2].contains(":15:1: `with`: missing field `duration`"),
            "{errs:?}"
        );
    }

    #[test]
    fn duplicate_step_id() {
        let text = format!(
            "{HEADER}\n[[steps]]\nid = \"a\"\nkind = \"wait\"\nwith = {{ duration = \"1s\" }}\n\n[[steps]]\nid = \"a\"\nkind = \"wait\"\nwith = {{ duration = \"1s\" }}\n"
        );
        let errs = load(&text).unwrap_err();
        assert_eq!(
            errs,
            vec!["rb.toml:11:1: duplicate step id `a` (first used at line 6)"]
        );
    }

    #[test]
    fn references_to_config_are_checked() {
        let text = format!(
            "{HEADER}\n[[steps]]\nid = \"n\"\nkind = \"notify\"\nwith = {{ team = \"sales\", message = \"hi\" }}\n\n[[steps]]\nid = \"w\"\nkind = \"route53_wait\"\nwith = {{ change_of = \"dns\" }}\n\n[[steps]]\nid = \"h\"\nkind = \"http_check\"\nwith = {{ url = \"${{vars.nope}}/x\" }}\n\n[[steps]]\nid = \"p\"\nkind = \"llm_probe\"\nwith = {{ provider = \"openai\", prompt = \"${{params.q}}\" }}\n\n[[steps]]\nid = \"e\"\nkind = \"ecs_scale\"\nwith = {{ to = \"standby\", services = [\"api\"] }}\n"
        );
        let errs = load(&text).unwrap_err();
        let all = errs.join("\n");
        assert!(
            all.contains("rb.toml:8:10: unknown team `sales` (teams in config: engineering)"),
            "{all}"
        );
        assert!(
            all.contains(":13:10: change_of = `dns` must name an earlier route53_upsert step"),
            "{all}"
        );
        assert!(all.contains("`${vars.nope}` is not set in [vars]"), "{all}");
        assert!(
            all.contains("LLM provider `openai` is not configured"),
            "{all}"
        );
        assert!(all.contains("`${params.q}` is not declared"), "{all}");
        assert!(
            all.contains("unknown ECS service `api` (configured: web)"),
            "{all}"
        );
        assert_eq!(errs.len(), 6, "{all}");
    }

    #[test]
    fn workstream_without_objective() {
        let text = "name = \"restore\"\ntitle = \"Restore\"\nworkstream = \"data\"\n[[steps]]\nid = \"w\"\nkind = \"wait\"\nwith = { duration = \"1s\" }\n";
        let errs = load(text).unwrap_err();
        assert!(
            errs[0].contains(":3:1: workstream `data` has no objective"),
            "{errs:?}"
        );
    }

    #[test]
    fn break_glass_after_must_be_shorter_than_expires() {
        let errs = load(&format!(
            "{HEADER}\n[approval]\nexpires = \"15m\"\nbreak_glass_after = \"15m\"\n\n[[steps]]\nid = \"ask\"\nkind = \"confirm\"\nwith = {{ question = \"ok?\" }}\n"
        ))
        .unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with(
                "rb.toml:7:1: break_glass_after (15m) must be shorter than expires (15m)"
            ),
            "{errs:?}"
        );
    }

    #[test]
    fn approvals_zero_only_for_read_only_runbooks() {
        let text = format!(
            "{HEADER}\n[approval]\napprovals = 0\n\n[[steps]]\nid = \"ask\"\nkind = \"confirm\"\nwith = {{ question = \"ok?\" }}\n\n[[steps]]\nid = \"scale\"\nkind = \"ecs_scale\"\nwith = {{ to = \"standby\" }}\n\n[[steps]]\nid = \"tell\"\nkind = \"notify\"\nwith = {{ team = \"engineering\", message = \"hi\" }}\n"
        );
        let errs = load(&text).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("rb.toml:6:1: approvals = 0 is only for read-only runbooks"),
            "{errs:?}"
        );
        assert!(
            errs[0].ends_with("these steps change things: `scale` (ecs_scale), `tell` (notify)"),
            "{errs:?}"
        );

        let checks = format!(
            "{HEADER}\n[approval]\napprovals = 0\n\n[[steps]]\nid = \"ask\"\nkind = \"confirm\"\nwith = {{ question = \"ok?\" }}\n\n[[steps]]\nid = \"smoke\"\nkind = \"http_check\"\nwith = {{ url = \"${{vars.app_url}}/health\" }}\n\n[[steps]]\nid = \"pause\"\nkind = \"wait\"\nwith = {{ duration = \"1s\" }}\n"
        );
        let rb = load(&checks).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(rb.approval.approvals, 0);
    }
}
