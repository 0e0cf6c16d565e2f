//! The LLM parity suite (`config/llm-parity.toml`): prompts the app depends on, each with the
//! checks an answer must pass, so "Anthropic matches OpenAI" is measured rather than hoped.
//!
//! ```toml
//! max_tokens = 300                 # per prompt unless it says otherwise
//!
//! [[prompts]]
//! id = "classify-ticket"
//! prompt = "..."
//! example = '{"category": "billing", "urgency": 2}'   # a passing answer (drills, `check`)
//! contains = ["billing"]           # each, ignoring case
//! regex = ['"urgency":\s*[1-5]']   # each must match
//! json_schema = { type = "object", required = ["category"] }   # the answer is JSON of this shape
//! max_latency = "20s"
//! max_length = 400                 # characters
//! ```
//!
//! Loading checks everything a run would trip over (unique ids, at least one check, regexes
//! that compile, schemas within the supported subset) and that each `example` passes its own
//! content checks, reporting each problem as `path:line:col`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use super::schema::Schema;
use crate::duration::HumanDuration;
use crate::key_path;
use crate::toml_source::{Diagnostic, TomlSource};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuite {
    #[serde(default = "default_max_tokens")]
    max_tokens: u32,
    #[serde(default)]
    prompts: Vec<RawPrompt>,
}

fn default_max_tokens() -> u32 {
    400
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrompt {
    id: String,
    prompt: String,
    max_tokens: Option<u32>,
    example: Option<String>,
    #[serde(default)]
    contains: Vec<String>,
    #[serde(default)]
    regex: Vec<String>,
    json_schema: Option<toml::Value>,
    max_latency: Option<HumanDuration>,
    max_length: Option<usize>,
}

/// What an answer must satisfy.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    pub contains: Vec<String>,
    pub regex: Vec<Regex>,
    pub json_schema: Option<Schema>,
    pub max_latency: Option<Duration>,
    pub max_length: Option<usize>,
}

/// The JSON in an answer: the whole text, or the inside of one fenced block (models often
/// wrap JSON in ```json fences even when asked not to).
pub fn json_in(answer: &str) -> &str {
    let text = answer.trim();
    let Some(inner) = text.strip_prefix("```") else {
        return text;
    };
    let inner = inner.strip_suffix("```").unwrap_or(inner);
    // Drop the info string (`json`) on the opening line.
    match inner.split_once('\n') {
        Some((info, body)) if !info.trim().contains(['{', '[']) => body.trim(),
        _ => inner.trim(),
    }
}

impl Checks {
    /// Every check the answer fails, in words; empty when it passes. `latency` is `None`
    /// for an example (content checks only).
    pub fn judge(&self, answer: &str, latency: Option<Duration>) -> Vec<String> {
        let mut failures = Vec::new();
        let lower = answer.to_lowercase();
        for needle in &self.contains {
            if !lower.contains(&needle.to_lowercase()) {
                failures.push(format!("does not contain {needle:?}"));
            }
        }
        for regex in &self.regex {
            if !regex.is_match(answer) {
                failures.push(format!("does not match /{}/", regex.as_str()));
            }
        }
        if let Some(schema) = &self.json_schema {
            match serde_json::from_str::<serde_json::Value>(json_in(answer)) {
                Err(err) => failures.push(format!("is not valid JSON ({err})")),
                Ok(value) => {
                    for problem in schema.validate(&value) {
                        failures.push(format!("JSON {problem}"));
                    }
                }
            }
        }
        if let Some(max) = self.max_length {
            let len = answer.chars().count();
            if len > max {
                failures.push(format!("{len} characters, longer than {max}"));
            }
        }
        if let (Some(max), Some(took)) = (self.max_latency, latency)
            && took > max
        {
            failures.push(format!(
                "took {} ms, slower than {}",
                took.as_millis(),
                HumanDuration(max)
            ));
        }
        failures
    }

    fn is_empty(&self) -> bool {
        self.contains.is_empty()
            && self.regex.is_empty()
            && self.json_schema.is_none()
            && self.max_latency.is_none()
            && self.max_length.is_none()
    }
}

/// One prompt of the suite.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub id: String,
    pub prompt: String,
    pub max_tokens: u32,
    /// A known passing answer: drills' stand-in providers give it, `check` tests the checks
    /// with it.
    pub example: Option<String>,
    pub checks: Checks,
}

/// A loaded, validated suite.
#[derive(Debug, Clone)]
pub struct Suite {
    pub path: PathBuf,
    pub prompts: Vec<Prompt>,
}

/// Loads and validates the suite at `path`.
pub fn load(path: &Path) -> Result<Suite, Vec<Diagnostic>> {
    let source = TomlSource::read(path).map_err(|d| vec![d])?;
    from_source(&source)
}

pub fn from_source(source: &TomlSource) -> Result<Suite, Vec<Diagnostic>> {
    let raw: RawSuite = source.parse().map_err(|d| vec![d])?;
    let mut errors = Vec::new();
    if raw.prompts.is_empty() {
        errors.push(source.error_at(&[], "the suite has no [[prompts]]"));
    }
    let mut prompts = Vec::new();
    for (i, p) in raw.prompts.into_iter().enumerate() {
        let at = |key: &str| key_path!["prompts", i, key];
        if prompts.iter().any(|q: &Prompt| q.id == p.id) {
            errors.push(source.error_at(&at("id"), format!("duplicate prompt id `{}`", p.id)));
        }
        let mut regex = Vec::new();
        for (j, pattern) in p.regex.iter().enumerate() {
            match Regex::new(pattern) {
                Ok(r) => regex.push(r),
                Err(err) => errors.push(source.error_at(
                    &key_path!["prompts", i, "regex", j],
                    format!("invalid regex: {err}"),
                )),
            }
        }
        let json_schema = match &p.json_schema {
            None => None,
            Some(value) => match serde_json::to_value(value)
                .map_err(|e| e.to_string())
                .and_then(|v| Schema::parse(&v))
            {
                Ok(schema) => Some(schema),
                Err(err) => {
                    errors.push(source.error_at(&at("json_schema"), format!("json_schema: {err}")));
                    None
                }
            },
        };
        let checks = Checks {
            contains: p.contains,
            regex,
            json_schema,
            max_latency: p.max_latency.map(HumanDuration::get),
            max_length: p.max_length,
        };
        if checks.is_empty() {
            errors.push(source.error_at(
                &key_path!["prompts", i],
                format!(
                    "prompt `{}` has no check (contains, regex, json_schema, max_latency, max_length)",
                    p.id
                ),
            ));
        }
        if let Some(example) = &p.example {
            let failures = checks.judge(example, None);
            if !failures.is_empty() {
                errors.push(source.error_at(
                    &at("example"),
                    format!(
                        "the example of `{}` fails its own checks: {}",
                        p.id,
                        failures.join("; ")
                    ),
                ));
            }
        }
        prompts.push(Prompt {
            id: p.id,
            prompt: p.prompt,
            max_tokens: p.max_tokens.unwrap_or(raw.max_tokens),
            example: p.example,
            checks,
        });
    }
    if errors.is_empty() {
        Ok(Suite {
            path: source.path().to_owned(),
            prompts,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite(text: &str) -> Result<Suite, Vec<String>> {
        from_source(&TomlSource::new("llm-parity.toml", text))
            .map_err(|errors| errors.iter().map(ToString::to_string).collect())
    }

    const GOOD: &str = r#"
[[prompts]]
id = "pong"
prompt = "Reply with the single word: pong"
example = "Pong."
contains = ["pong"]
max_length = 20
max_latency = "10s"

[[prompts]]
id = "ticket"
prompt = "Classify"
max_tokens = 100
example = '''```json
{"category": "bug", "urgency": 2}
```'''
regex = ['"urgency":\s*[1-5]']
json_schema = { type = "object", required = ["category", "urgency"], properties = { urgency = { type = "integer", maximum = 5 } } }
"#;

    #[test]
    fn a_good_suite_loads_and_judges() {
        let s = suite(GOOD).unwrap();
        assert_eq!(s.prompts.len(), 2);
        assert_eq!(s.prompts[0].max_tokens, 400);
        assert_eq!(s.prompts[1].max_tokens, 100);
        let pong = &s.prompts[0].checks;
        assert!(
            pong.judge("PONG", Some(Duration::from_millis(300)))
                .is_empty()
        );
        assert_eq!(
            pong.judge("ping", Some(Duration::from_secs(11))),
            [
                "does not contain \"pong\"",
                "took 11000 ms, slower than 10s"
            ]
        );
        assert_eq!(
            pong.judge(&"pong ".repeat(10), None),
            ["50 characters, longer than 20"]
        );
        let ticket = &s.prompts[1].checks;
        assert!(
            ticket
                .judge(r#"{"category": "x", "urgency": 3}"#, None)
                .is_empty()
        );
        let failed = ticket.judge("It is a bug, urgency 3.", None);
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert!(failed[1].starts_with("is not valid JSON"), "{failed:?}");
        assert_eq!(
            ticket.judge(r#"{"category": "x", "urgency": 9}"#, None),
            [
                "does not match /\"urgency\":\\s*[1-5]/",
                "JSON /urgency: 9 is above the maximum 5"
            ]
        );
    }

    #[test]
    fn fenced_json_is_unwrapped() {
        assert_eq!(json_in("```json\n{\"a\": 1}\n```"), "{\"a\": 1}");
        assert_eq!(json_in("```{\"a\": 1}```"), "{\"a\": 1}");
        assert_eq!(json_in("  [1] "), "[1]");
    }

    #[test]
    fn mistakes_are_located() {
        let errs = suite(
            "[[prompts]]\nid = \"a\"\nprompt = \"p\"\nregex = [\"(\"]\n\n[[prompts]]\nid = \"a\"\nprompt = \"p\"\n\n[[prompts]]\nid = \"c\"\nprompt = \"p\"\nexample = \"no\"\ncontains = [\"yes\"]\njson_schema = { type = \"object\", anyOf = [] }\n",
        )
        .unwrap_err();
        assert!(
            errs.iter().any(|e| e.contains(":4:10: invalid regex")),
            "{errs:#?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains(":7:1: duplicate prompt id `a`")),
            "{errs:#?}"
        );
        assert!(
            errs.iter().any(|e| e.contains("prompt `a` has no check")),
            "{errs:#?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("json_schema: keyword `anyOf` is not supported")),
            "{errs:#?}"
        );
        assert!(
            errs.iter()
                .any(|e| e
                    .contains("the example of `c` fails its own checks: does not contain \"yes\"")),
            "{errs:#?}"
        );
        assert!(suite("").unwrap_err()[0].contains("the suite has no [[prompts]]"));
    }
}
