//! One redactor for every secret Lifeboat knows: built once at start from the values of the
//! environment variables the config and the runbooks name (Discord token, LLM and PagerDuty
//! keys, SMTP login, `HEROKU_API_KEY`, database URLs, a runbook's `env = [...]` and
//! `${env.*}`), and applied where text leaves: the event log, chat, exports, log lines. Any
//! URL's user info (`scheme://user:password@host`) goes too, known or not. Pure: no I/O.

mod chat;

use std::sync::Arc;

pub use chat::RedactingChat;
use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::config::{Config, SecretSource};
use crate::runbook::interp::{Namespace, references};
use crate::runbook::{Runbook, StepAction};

/// What a secret becomes.
pub const REDACTED: &str = "[redacted]";

/// Values shorter than this are not treated as secrets: redacting `ab` everywhere would
/// garble every text and hide nothing worth hiding.
const MIN_SECRET: usize = 4;

/// Variables a runbook may pass to a command that are not secrets (paths, names, locale):
/// their values are everywhere in ordinary output.
const NOT_SECRET: [&str; 12] = [
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "LANG", "LC_ALL", "TZ", "TMPDIR", "PGHOST",
    "PGPORT",
];

/// The secrets no text may show, longest first so a URL goes before the password inside it.
/// Its `Debug` shows only how many it holds.
#[derive(Clone, Default)]
pub struct Redactor(Arc<[String]>);

impl Redactor {
    /// Exactly these strings (and any URL's user info).
    pub fn new(mut secrets: Vec<String>) -> Self {
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self(secrets.into())
    }

    /// Each value, and the password and user info of a value that is a URL (decoded and as
    /// written); values too short to be a secret are left out.
    pub fn of_values(values: impl IntoIterator<Item = String>) -> Self {
        Self::new(
            values
                .into_iter()
                .flat_map(|v| secret_parts(&v))
                .filter(|s| s.chars().count() >= MIN_SECRET)
                .collect(),
        )
    }

    /// The values, read from `source`, of every variable the config and the runbooks name as
    /// a secret (`secret_names`).
    pub fn for_process(config: &Config, runbooks: &[Runbook], source: &dyn SecretSource) -> Self {
        Self::of_values(
            secret_names(config, runbooks)
                .iter()
                .filter_map(|name| source.get(name))
                .map(|secret| secret.expose().to_owned()),
        )
    }

    /// Both sets.
    pub fn with(&self, other: &Redactor) -> Self {
        Self::new(self.0.iter().chain(other.0.iter()).cloned().collect())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every secret, and any URL's user info, replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.0)
    }

    /// Every string in `value` (keys too) redacted in place.
    pub fn redact_json(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                let clean = self.redact(s);
                if clean != *s {
                    *s = clean;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                let dirty: Vec<String> = map
                    .keys()
                    .filter(|k| self.redact(k) != **k)
                    .cloned()
                    .collect();
                for key in dirty {
                    if let Some(v) = map.remove(&key) {
                        map.insert(self.redact(&key), v);
                    }
                }
                map.values_mut().for_each(|v| self.redact_json(v));
            }
            _ => {}
        }
    }
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.0.len())
    }
}

/// Every variable whose value is a secret: the config's (`Config::secret_env_vars`), each
/// runbook step's `${env.NAME}` and each `command` step's `env = [...]` (but the few that
/// are plainly not secrets, such as `PATH` and `HOME`). Sorted, each once.
pub fn secret_names(config: &Config, runbooks: &[Runbook]) -> Vec<String> {
    let mut names: Vec<String> = config
        .secret_env_vars()
        .into_iter()
        .map(str::to_owned)
        .collect();
    for step in runbooks.iter().flat_map(|r| &r.steps) {
        if let StepAction::Command(command) = &step.action {
            names.extend(
                command
                    .env
                    .iter()
                    .filter(|n| !NOT_SECRET.contains(&n.as_str()))
                    .cloned(),
            );
        }
        let args = serde_json::to_value(&step.action).unwrap_or_default();
        let mut strings = Vec::new();
        collect_strings(&args, &mut strings);
        for text in strings {
            names.extend(
                references(text)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|r| r.namespace == Namespace::Env)
                    .map(|r| r.name),
            );
        }
    }
    names.sort();
    names.dedup();
    names
}

fn collect_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// A secret value and the forms it may show up in: for a URL with user info, also the
/// password (decoded, as written, and re-encoded) and the user info as written.
pub fn secret_parts(value: &str) -> Vec<String> {
    let text = value.trim();
    let mut parts = vec![text.to_owned()];
    if let Some(userinfo) = text
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|authority| authority.rsplit_once('@'))
        .map(|(userinfo, _)| userinfo)
    {
        parts.push(userinfo.to_owned());
        if let Some((_, password)) = userinfo.split_once(':') {
            let decoded = percent_decode_str(password)
                .decode_utf8_lossy()
                .into_owned();
            parts.push(decoded.replace('%', "%25"));
            parts.push(decoded);
            parts.push(password.to_owned());
        }
    }
    parts.retain(|p| !p.is_empty());
    parts
}

/// `text` with each of `secrets` replaced by `[redacted]`, and any `scheme://…@` user info
/// (from a URL nobody told us about) too.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if !secret.is_empty() && out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    redact_userinfo(&out)
}

/// `postgres://user:pw@host` → `postgres://[redacted]@host`, for URLs nobody told us about.
fn redact_userinfo(text: &str) -> String {
    if !text.contains("://") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str(REDACTED);
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toml_source::TomlSource;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn a_url_secret_goes_in_every_form() {
        let r = Redactor::of_values(["postgres://app:s3cr%2Ft@db:5432/app".to_owned()]);
        for said in [
            "postgres://app:s3cr%2Ft@db:5432/app",
            "password s3cr/t",
            "also s3cr%2Ft",
        ] {
            let clean = r.redact(said);
            assert!(!clean.contains("s3cr"), "{clean}");
            assert!(clean.contains(REDACTED), "{clean}");
        }
        // Any URL's user info, and short values are not secrets.
        assert_eq!(
            redact("see https://x:y@other:1/db now", &[]),
            "see https://[redacted]@other:1/db now"
        );
        assert_eq!(
            redact("http://example.com/a@b", &[]),
            "http://example.com/a@b"
        );
        assert!(Redactor::of_values(["ab".to_owned()]).is_empty());
        assert_eq!(format!("{r:?}"), format!("Redactor({} secrets)", r.len()));
    }

    #[test]
    fn json_strings_and_keys_are_redacted() {
        let r = Redactor::new(vec!["tok-123456".into()]);
        let mut v = json!({"stdout": "token=tok-123456", "n": 1, "list": ["a tok-123456"], "tok-123456": true});
        r.redact_json(&mut v);
        assert_eq!(
            v,
            json!({"stdout": "token=[redacted]", "n": 1, "list": ["a [redacted]"], "[redacted]": true})
        );
    }

    #[test]
    fn the_config_and_runbooks_name_the_secrets() {
        let text = "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n\
            [llm.anthropic]\nbase_url = \"https://api.anthropic.com\"\nkey_env = \"ANTH_KEY\"\nmodel = \"m\"\n";
        let config = Config::from_source(TomlSource::new("lifeboat.toml", text))
            .unwrap()
            .config;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        std::fs::write(
            &path,
            "name = \"r\"\ntitle = \"R\"\nworkstream = \"hosting\"\n\
             [[steps]]\nid = \"c\"\nkind = \"command\"\nwith = { argv = [\"restore\"], env = [\"PATH\", \"DB_PASSWORD\"] }\n\
             [[steps]]\nid = \"h\"\nkind = \"http_request\"\nwith = { url = \"https://x.example/\", headers = { Authorization = \"Bearer ${env.API_TOKEN}\" } }\n",
        )
        .unwrap();
        let runbook = crate::runbook::load_file(&path, &config).unwrap();
        let runbooks = vec![runbook];
        assert_eq!(
            secret_names(&config, &runbooks),
            ["ANTH_KEY", "API_TOKEN", "DB_PASSWORD"]
        );
        let values: BTreeMap<String, String> = [
            ("ANTH_KEY".to_owned(), "sk-ant-1234".to_owned()),
            ("DB_PASSWORD".to_owned(), "hunter22".to_owned()),
            ("PATH".to_owned(), "/usr/bin".to_owned()),
        ]
        .into();
        let r = Redactor::for_process(&config, &runbooks, &values);
        assert_eq!(
            r.redact("sk-ant-1234 hunter22 /usr/bin"),
            "[redacted] [redacted] /usr/bin"
        );
    }
}
