//! A typed builder for the configs tests run on, instead of TOML strings written by hand and
//! patched with `.replace(...)`.
//!
//! Start from the smallest valid config ([`TestConfig::minimal`]) or from the shipped
//! `config/lifeboat.toml` ([`TestConfig::shipped`]), set what the test is about by key or
//! through the named helpers (moto, the fake Discord, feeds on local servers, teams, the data
//! dir), add the runbooks it needs, then either parse it ([`TestConfig::config`]) or write a
//! project for the binary ([`TestConfig::project`]: `lifeboat.toml` and `commands/` in a temp
//! dir).
//!
//! ```ignore
//! let project = TestConfig::minimal()
//!     .server_on_free_port()
//!     .var("base", server.base_url())
//!     .runbook(SLOW)
//!     .project();
//! ```
//!
//! Values are anything serde can write as TOML (`&str`, numbers, `bool`, `json!({...})` for a
//! table or an inline array of tables). Tests whose subject is the config file itself (positions
//! in `lifeboat check`'s errors) keep their literal text.

use std::path::{Path, PathBuf};

use lifeboat::config::Config;
use lifeboat::toml_source::TomlSource;
use serde::Serialize;
use toml::{Table, Value};

use super::discord::{APPROVER, CHANNEL, GUILD, RESPONDER};
use super::root;

/// The DRP's objectives: all a valid config needs.
const MINIMAL: &str = "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n";

/// The environment variable a Discord test config names for the bot token.
pub const TOKEN_ENV: &str = "LIFEBOAT_TEST_DISCORD_TOKEN";

#[derive(Debug, Clone)]
pub struct TestConfig {
    doc: Table,
    /// Runbook files to write beside the config, as (file stem, TOML text).
    runbooks: Vec<(String, String)>,
}

impl TestConfig {
    /// The smallest valid config: the objectives and nothing else.
    pub fn minimal() -> Self {
        Self::from_text(MINIMAL)
    }

    /// The shipped `config/lifeboat.toml`, with its runbooks and templates read from the
    /// checkout (its relative paths are taken from the working directory, which in a test is
    /// not the checkout).
    pub fn shipped() -> Self {
        let path = root().join("config/lifeboat.toml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
        Self::from_text(&text)
            .shipped_runbooks()
            .shipped_templates()
    }

    fn from_text(text: &str) -> Self {
        let doc = text
            .parse::<Table>()
            .unwrap_or_else(|err| panic!("test config is not TOML: {err}\n{text}"));
        Self {
            doc,
            runbooks: Vec::new(),
        }
    }

    /// Sets the dotted `key` (`"server.listen"`, `"llm.openai.base_url"`), creating tables.
    pub fn set(mut self, key: &str, value: impl Serialize) -> Self {
        let (parent, last) = self.parent(key);
        parent.insert(last.to_owned(), value_of(value));
        self
    }

    /// Appends one table to the array of tables at `key` (`[[feeds]]`, `[[teams]]`, ...).
    pub fn push(mut self, key: &str, entry: impl Serialize) -> Self {
        let entry = value_of(entry);
        assert!(entry.is_table(), "[[{key}]] entries are tables: {entry}");
        let (parent, last) = self.parent(key);
        match parent
            .entry(last.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(entries) => entries.push(entry),
            other => panic!("{key} is not an array of tables: {other}"),
        }
        self
    }

    /// The value at the dotted `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        let mut at = &self.doc;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            let value = at.get(part)?;
            if parts.peek().is_none() {
                return Some(value);
            }
            at = value.as_table()?;
        }
        None
    }

    // -- the sections tests set most ---------------------------------------------------------

    /// `[store] data_dir`.
    pub fn data_dir(self, dir: &Path) -> Self {
        self.set("store.data_dir", dir.display().to_string())
    }

    /// `[server] listen` on a port the OS picks (the binary prints the one it bound).
    pub fn server_on_free_port(self) -> Self {
        self.set("server.listen", "127.0.0.1:0")
    }

    /// `[discord]` pointing at a fake Discord at `api_base`, with the test guild and incident
    /// channel (`support::discord::{GUILD, CHANNEL}`) and the token in [`TOKEN_ENV`].
    pub fn discord(self, api_base: &str) -> Self {
        self.set("discord.token_env", TOKEN_ENV)
            .set("discord.guild_id", GUILD.to_string())
            .set("discord.incident_channel_id", CHANNEL.to_string())
            .set("discord.api_base", api_base)
    }

    /// `[access]`: the Discord role ids of responders and approvers (`support::discord`'s).
    pub fn access(self) -> Self {
        self.set("access.responders", [RESPONDER.to_string()])
            .set("access.approvers", [APPROVER.to_string()])
    }

    /// `[aws]` in live mode against a moto server at `endpoint`.
    pub fn moto(self, endpoint: &str) -> Self {
        self.set("aws.mode", "live")
            .set("aws.region", "us-east-1")
            .set("aws.endpoint_url", endpoint)
    }

    /// A `[[providers]]` entry; `runbook` is the one proposed on its outage.
    pub fn provider(self, name: &str, workstream: &str, runbook: Option<&str>) -> Self {
        let mut entry = Table::new();
        entry.insert("name".into(), name.into());
        entry.insert("workstream".into(), workstream.into());
        if let Some(runbook) = runbook {
            entry.insert("runbook".into(), runbook.into());
        }
        self.push("providers", entry)
    }

    /// A `[[feeds]]` entry of `kind` polling `url` (a local server) every `interval`.
    pub fn feed(self, name: &str, provider: &str, kind: &str, url: &str, interval: &str) -> Self {
        self.push(
            "feeds",
            serde_json::json!({
                "name": name, "provider": provider, "kind": kind, "url": url, "interval": interval,
            }),
        )
    }

    /// A `[[teams]]` entry: `name` plus whatever `more` sets (channel, role, routes).
    pub fn team(self, name: &str, more: serde_json::Value) -> Self {
        let mut entry = serde_json::json!({ "name": name });
        if let serde_json::Value::Object(more) = more {
            entry.as_object_mut().unwrap().extend(more);
        }
        self.push("teams", entry)
    }

    /// `[vars] name = value`.
    pub fn var(self, name: &str, value: impl Serialize) -> Self {
        self.set(&format!("vars.{name}"), value)
    }

    /// `[paths] runbooks`: the shipped `commands/`.
    pub fn shipped_runbooks(self) -> Self {
        self.set(
            "paths.runbooks",
            root().join("commands").display().to_string(),
        )
    }

    /// `[paths] templates`: the shipped `config/templates/`.
    pub fn shipped_templates(self) -> Self {
        self.set(
            "paths.templates",
            root().join("config/templates").display().to_string(),
        )
    }

    /// A runbook written into the project's `commands/` (named after its `name` key).
    pub fn runbook(mut self, text: &str) -> Self {
        let parsed: Table = text
            .parse()
            .unwrap_or_else(|err| panic!("test runbook is not TOML: {err}\n{text}"));
        let name = parsed
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("test runbook without a name:\n{text}"))
            .to_owned();
        self.runbooks.push((name, text.to_owned()));
        self
    }

    // -- results -----------------------------------------------------------------------------

    /// The config file's text.
    pub fn text(&self) -> String {
        toml::to_string(&self.doc).expect("a TOML table serialises")
    }

    /// The config as Lifeboat reads it; panics with every error and the text.
    pub fn config(&self) -> Config {
        let text = self.text();
        Config::from_source(TomlSource::new("lifeboat.toml", &text))
            .unwrap_or_else(|errors| panic!("test config rejected: {errors:#?}\n{text}"))
            .config
    }

    /// Writes `lifeboat.toml` into `dir`, and the runbooks into `dir/commands/` (which then
    /// becomes `[paths] runbooks`, by its full path so that the config reads the same from any
    /// working directory). Returns the config file's path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let mut this = self.clone();
        if !this.runbooks.is_empty() || this.get("paths.runbooks").is_none() {
            let commands = dir.join("commands");
            std::fs::create_dir_all(&commands).unwrap();
            for (name, text) in &this.runbooks {
                std::fs::write(commands.join(format!("{name}.toml")), text).unwrap();
            }
            this = this.set("paths.runbooks", commands.display().to_string());
        }
        let path = dir.join("lifeboat.toml");
        std::fs::write(&path, this.text()).unwrap();
        path
    }

    /// A temp dir holding the project (see [`TestConfig::write`]); the binary runs in it.
    pub fn project(&self) -> Project {
        let dir = tempfile::tempdir().unwrap();
        self.write(dir.path());
        Project { dir }
    }

    /// The table holding the last part of `key`, and that part.
    fn parent<'k>(&mut self, key: &'k str) -> (&mut Table, &'k str) {
        let (path, last) = match key.rsplit_once('.') {
            Some((path, last)) => (Some(path), last),
            None => (None, key),
        };
        let mut at = &mut self.doc;
        for part in path.into_iter().flat_map(|p| p.split('.')) {
            at = match at
                .entry(part.to_owned())
                .or_insert_with(|| Value::Table(Table::new()))
            {
                Value::Table(table) => table,
                other => panic!("{part} in {key} is not a table: {other}"),
            };
        }
        (at, last)
    }
}

/// A project on disk: `lifeboat.toml`, `commands/`, and the `data/` the binary keeps.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where the binary keeps its log (`data`, relative to the project).
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Writes another config file beside `lifeboat.toml` (e.g. one for the CLI).
    pub fn write_config(&self, file: &str, config: &TestConfig) {
        std::fs::write(self.dir.path().join(file), config.text()).unwrap();
    }
}

fn value_of(value: impl Serialize) -> Value {
    Value::try_from(value).unwrap_or_else(|err| panic!("not a TOML value: {err}"))
}
