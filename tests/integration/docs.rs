//! The reference in `docs/` keeps up with the code: every key of the typed config is
//! documented in `docs/config.md`, and every relative link in README.md and `docs/` resolves.
//! (Every CLI command and flag is checked against `docs/commands.md` by `src/main.rs`'s tests,
//! where clap's command tree is.)

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};

use crate::support::root;

/// Every key path of `lifeboat::config::Config`, e.g. `aws.ecs.services.name`, found by
/// deserializing it from a probe that records the serde field names of every struct it is asked
/// for and then offers each field a plausible value (so nested sections are walked too).
fn config_keys() -> BTreeSet<String> {
    let keys = RefCell::new(BTreeSet::new());
    let probe = Probe {
        path: "",
        keys: &keys,
    };
    if let Err(err) = <lifeboat::config::Config as serde::Deserialize>::deserialize(probe) {
        panic!(
            "the config walker could not offer a value the typed config accepts ({err}): \
             teach `Probe` the new kind of value"
        );
    }
    keys.into_inner()
}

#[derive(Clone, Copy)]
struct Probe<'a> {
    path: &'a str,
    keys: &'a RefCell<BTreeSet<String>>,
}

type Error = de::value::Error;

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = Error;

    /// Anything not asked for by type: a string is the most common scalar in a TOML config.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_bool(false)
    }
    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u64(1)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u64(1)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u64(1)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u64(1)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u64(1)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u64(1)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u64(1)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u64(1)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_f64(0.5)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_f64(0.5)
    }
    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_char('x')
    }
    /// A duration is the strictest string the config parses (names and ids take it too); the
    /// few keys of another type get a sample of theirs.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let leaf = self.path.rsplit('.').next().unwrap_or("");
        visitor.visit_str(match leaf {
            "listen" => "127.0.0.1:0",
            "code" => "image_tag",
            _ => "1s",
        })
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_bytes(b"x")
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_bytes(b"x")
    }
    /// Optional sections are walked as if present.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }
    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }
    /// An array of tables (`[[feeds]]`, `services = [{ ... }]`) has one element, walked under
    /// the array's own path.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(OneElement { probe: Some(self) })
    }
    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }
    /// Free-form maps (`[vars]`, `[parity] processes`) have no keys of their own.
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(de::value::MapDeserializer::new(std::iter::empty::<(
            String,
            String,
        )>()))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let mut keys = self.keys.borrow_mut();
        for field in fields {
            keys.insert(join(self.path, field));
        }
        drop(keys);
        visitor.visit_map(Fields {
            probe: self,
            fields: fields.iter(),
            current: None,
        })
    }
    /// The first variant a config enum names (`simulated`, `statuspage`, ...).
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let first: &str = variants.first().copied().unwrap_or("");
        visitor.visit_enum(first.into_deserializer())
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

struct OneElement<'a> {
    probe: Option<Probe<'a>>,
}

impl<'de> SeqAccess<'de> for OneElement<'_> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.probe.take() {
            Some(probe) => seed.deserialize(probe).map(Some),
            None => Ok(None),
        }
    }
}

struct Fields<'a> {
    probe: Probe<'a>,
    fields: std::slice::Iter<'static, &'static str>,
    current: Option<&'static str>,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(field) = self.fields.next() else {
            return Ok(None);
        };
        self.current = Some(field);
        seed.deserialize(field.into_deserializer()).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let path = join(self.probe.path, self.current.unwrap_or(""));
        seed.deserialize(Probe {
            path: &path,
            keys: self.probe.keys,
        })
    }
}

/// `docs/config.md` split into its sections: each heading that names one or more config
/// sections (`## [aws.ecs]`, `## [[feeds]]`) owns the text up to the next heading.
fn documented_sections(text: &str) -> Vec<(Vec<String>, String)> {
    let mut sections: Vec<(Vec<String>, String)> = Vec::new();
    for (line, heading) in lines_and_headings(text) {
        if heading {
            let names: Vec<String> = line
                .split('[')
                .skip(1)
                .filter_map(|rest| rest.split(']').next())
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect();
            sections.push((names, String::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    sections
}

/// What is missing from `docs/config.md` for `keys`: a key is documented when it names a
/// section with a heading, when a section with a heading lies inside it (`llm` for
/// `[llm.openai]`), or when the nearest enclosing section's text names it and every part of it
/// below that section in backticks (`services` and `name` under `[aws.ecs]`).
fn undocumented_config_keys(keys: &BTreeSet<String>, doc: &str) -> Vec<String> {
    let sections = documented_sections(doc);
    let headed: BTreeSet<&str> = sections
        .iter()
        .flat_map(|(names, _)| names.iter().map(String::as_str))
        .collect();
    let mut missing = Vec::new();
    for key in keys {
        if headed.contains(key.as_str())
            || headed
                .iter()
                .any(|name| name.starts_with(&format!("{key}.")))
        {
            continue;
        }
        let parts: Vec<&str> = key.split('.').collect();
        let section = (1..parts.len())
            .rev()
            .map(|n| parts[..n].join("."))
            .find(|prefix| headed.contains(prefix.as_str()));
        let Some(section) = section else {
            missing.push(format!("[{key}] (no heading names the section)"));
            continue;
        };
        let below = &parts[section.split('.').count()..];
        let documented = sections
            .iter()
            .filter(|(names, _)| names.contains(&section))
            .any(|(_, body)| below.iter().all(|part| body.contains(&format!("`{part}`"))));
        if !documented {
            missing.push(format!(
                "{key} (as `{}` under [{section}])",
                below.join("`, `")
            ));
        }
    }
    missing
}

#[test]
fn every_config_key_is_documented_in_docs_config_md() {
    let keys = config_keys();
    // The walker must see deep keys, or this test proves nothing.
    for known in [
        "store.data_dir",
        "aws.ecs.services.name",
        "comms.email.smtp_host",
        "feeds.url",
    ] {
        assert!(keys.contains(known), "the walker missed {known}: {keys:?}");
    }
    let doc = std::fs::read_to_string(root().join("docs/config.md")).unwrap();
    let missing = undocumented_config_keys(&keys, &doc);
    assert!(
        missing.is_empty(),
        "docs/config.md does not document these config keys (serde field names of \
         lifeboat::config::Config): {missing:#?}"
    );
}

#[test]
fn the_check_finds_a_missing_key_and_accepts_a_documented_one() {
    let keys: BTreeSet<String> = [
        "llm",
        "llm.openai",
        "llm.openai.model",
        "aws",
        "aws.ecs.services.name",
        "vars",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let doc = "# Config\n## `[llm.openai]`, `[llm.anthropic]`\n`model`\n## `[aws]`\n## `[aws.ecs]`\n`services = [{ name }]`\n";
    assert_eq!(
        undocumented_config_keys(&keys, doc),
        vec![
            "aws.ecs.services.name (as `services`, `name` under [aws.ecs])".to_owned(),
            "[vars] (no heading names the section)".to_owned(),
        ]
    );
    let doc = format!("{doc}`services`, `name`\n## [vars]\n");
    assert!(undocumented_config_keys(&keys, &doc).is_empty());
}

/// Every relative link in README.md and `docs/*.md` (`[text](path)` or `[text](path#anchor)`)
/// names a file or folder of the repository.
#[test]
fn every_relative_link_in_the_readme_and_docs_resolves() {
    let root = root();
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for target in text
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
        {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let resolved = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            let found = resolved.exists()
                && (anchor.is_empty()
                    || std::fs::read_to_string(&resolved)
                        .is_ok_and(|text| anchors(&text).contains(anchor)));
            if !found {
                broken.push(format!(
                    "{}: {target}",
                    page.strip_prefix(&root).unwrap().display()
                ));
            }
        }
    }
    assert!(broken.is_empty(), "links to nothing: {broken:#?}");
}

/// The anchors GitHub gives a Markdown file's headings: lower case, spaces as `-`, punctuation
/// but `-` and `_` dropped.
fn anchors(text: &str) -> BTreeSet<String> {
    lines_and_headings(text)
        .filter(|(_, heading)| *heading)
        .map(|(line, _)| {
            line.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// Each line of a Markdown text, and whether it is a heading (a `#` line outside a fenced
/// code block).
fn lines_and_headings(text: &str) -> impl Iterator<Item = (&str, bool)> {
    let mut fenced = false;
    text.lines().map(move |line| {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        (line, !fenced && line.starts_with('#'))
    })
}
