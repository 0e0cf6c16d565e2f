//! `[data]`: the company's PostgreSQL databases and where their backups live. URLs are never
//! in the file: the primary (Heroku Postgres) and the standby (e.g. RDS) are each named by the
//! environment variable that holds the URL. Without `[data]`, the data steps act on a
//! simulation (drills and demos), which `check --production` refuses.

use std::path::PathBuf;

use serde::Deserialize;

use crate::duration::HumanDuration;
use crate::key_path;
use crate::toml_source::{Diagnostic, TomlSource};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The variable holding the primary's URL (Heroku sets `DATABASE_URL`).
    pub primary_url_env: String,
    /// The variable holding the standby's URL.
    pub standby_url_env: String,
    /// Where `lifeboat db backup` writes dumps and the restore reads them.
    pub backups: BackupsConfig,
    /// The tables `db_verify` counts, each with the column that says when a row last changed.
    #[serde(default)]
    pub tables: Vec<TableConfig>,
    /// Parallel jobs of `pg_restore`.
    #[serde(default = "default_jobs")]
    pub jobs: u32,
    /// Where `pg_dump`, `pg_restore` and `psql` are; default: `PATH`, then `pg_config --bindir`.
    pub tools_dir: Option<PathBuf>,
    /// How long a connection attempt may take before the database counts as not answering.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: HumanDuration,
}

/// Exactly one of an S3 bucket (through `[aws]`) or a local directory.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupsConfig {
    pub bucket: Option<String>,
    /// Key prefix inside the bucket, e.g. `postgres/`.
    #[serde(default)]
    pub prefix: String,
    pub dir: Option<PathBuf>,
}

/// Where the backups are, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupLocation {
    S3 { bucket: String, prefix: String },
    Dir(PathBuf),
}

impl BackupsConfig {
    pub fn location(&self) -> Option<BackupLocation> {
        match (&self.bucket, &self.dir) {
            (Some(bucket), None) => Some(BackupLocation::S3 {
                bucket: bucket.clone(),
                prefix: self.prefix.clone(),
            }),
            (None, Some(dir)) => Some(BackupLocation::Dir(dir.clone())),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// `table` or `schema.table`.
    pub name: String,
    /// A timestamp column set on every write, e.g. `updated_at`.
    pub freshness: String,
}

fn default_jobs() -> u32 {
    2
}

fn default_connect_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}

/// A plain SQL identifier: letters, digits, `_` and `$`, not starting with a digit. Names are
/// quoted when used, so this only keeps odd characters (and injection) out of queries.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && name.len() <= 63
}

impl TableConfig {
    /// `(schema, table)`, the schema `public` when none is written.
    pub fn parts(&self) -> (&str, &str) {
        self.name
            .split_once('.')
            .unwrap_or(("public", self.name.as_str()))
    }
}

impl DataConfig {
    /// Checks within the section, each problem at its key.
    pub fn validate(&self, source: &TomlSource, errors: &mut Vec<Diagnostic>) {
        for (key, var) in [
            ("primary_url_env", &self.primary_url_env),
            ("standby_url_env", &self.standby_url_env),
        ] {
            let name_ok = var
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !name_ok {
                errors.push(source.error_at(
                    &key_path!["data", key],
                    format!("`{var}` is not an environment variable name: write the name of the variable that holds the URL, never the URL"),
                ));
            }
        }
        if self.primary_url_env == self.standby_url_env {
            errors.push(source.error_at(
                &key_path!["data", "standby_url_env"],
                format!(
                    "the standby and the primary both read `{}`: a restore would overwrite the primary",
                    self.standby_url_env
                ),
            ));
        }
        let b = &self.backups;
        if b.location().is_none() {
            errors.push(source.error_at(
                &key_path!["data", "backups"],
                "[data.backups] needs exactly one of `bucket` (S3, through [aws]) or `dir` (a local directory)",
            ));
        }
        if b.dir.is_some() && !b.prefix.is_empty() {
            errors.push(source.error_at(
                &key_path!["data", "backups", "prefix"],
                "`prefix` is for a bucket; a directory holds its dumps directly",
            ));
        }
        if let Some(bucket) = &b.bucket {
            let ok = (3..=63).contains(&bucket.len())
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            if !ok {
                errors.push(source.error_at(
                    &key_path!["data", "backups", "bucket"],
                    format!("`{bucket}` is not an S3 bucket name (3-63 of a-z, 0-9, `-` and `.`)"),
                ));
            }
        }
        if self.jobs == 0 || self.jobs > 64 {
            errors
                .push(source.error_at(&key_path!["data", "jobs"], "jobs must be between 1 and 64"));
        }
        if self.connect_timeout.get().as_secs() == 0 {
            errors.push(source.error_at(
                &key_path!["data", "connect_timeout"],
                "connect_timeout must be at least 1s (libpq counts whole seconds)",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, table) in self.tables.iter().enumerate() {
            let (schema, name) = table.parts();
            if !is_identifier(schema) || !is_identifier(name) || name.contains('.') {
                errors.push(source.error_at(
                    &key_path!["data", "tables", i, "name"],
                    format!(
                        "`{}` is not a table name: write `table` or `schema.table` with letters, digits and `_`",
                        table.name
                    ),
                ));
            }
            if !is_identifier(&table.freshness) {
                errors.push(source.error_at(
                    &key_path!["data", "tables", i, "freshness"],
                    format!("`{}` is not a column name", table.freshness),
                ));
            }
            if !seen.insert((schema.to_owned(), name.to_owned())) {
                errors.push(source.error_at(
                    &key_path!["data", "tables", i, "name"],
                    format!("table `{}` is listed twice", table.name),
                ));
            }
        }
    }

    /// The secrets it reads.
    pub fn secret_env_vars(&self) -> [&str; 2] {
        [&self.primary_url_env, &self.standby_url_env]
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::toml_source::TomlSource;

    const BASE: &str = "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n";

    fn errors(data: &str) -> Vec<String> {
        match Config::from_source(TomlSource::new("c.toml", format!("{BASE}{data}"))) {
            Ok(_) => Vec::new(),
            Err(errs) => errs.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_good_section_loads() {
        let text = format!(
            "{BASE}[data]\nprimary_url_env = \"DATABASE_URL\"\nstandby_url_env = \"STANDBY_DATABASE_URL\"\nbackups = {{ bucket = \"example-db-backups\", prefix = \"pg/\" }}\ntables = [{{ name = \"orders\", freshness = \"updated_at\" }}, {{ name = \"billing.invoices\", freshness = \"changed_at\" }}]\n"
        );
        let loaded = Config::from_source(TomlSource::new("c.toml", text)).unwrap();
        let data = loaded.config.data.unwrap();
        assert_eq!(data.jobs, 2);
        assert_eq!(data.connect_timeout.to_string(), "10s");
        assert_eq!(data.tables[1].parts(), ("billing", "invoices"));
        assert_eq!(data.tables[0].parts(), ("public", "orders"));
    }

    #[test]
    fn mistakes_are_located() {
        let errs = errors(
            "[data]\nprimary_url_env = \"postgres://u:p@h/db\"\nstandby_url_env = \"S\"\nbackups = { bucket = \"B\", dir = \"/x\" }\njobs = 0\ntables = [{ name = \"o; drop\", freshness = \"u\" }]\n",
        );
        let all = errs.join("\n");
        assert!(
            all.contains("c.toml:6:1: `postgres://u:p@h/db` is not an environment variable name"),
            "{all}"
        );
        assert!(all.contains("needs exactly one of `bucket`"), "{all}");
        assert!(all.contains("jobs must be between 1 and 64"), "{all}");
        assert!(all.contains("`o; drop` is not a table name"), "{all}");
        let errs = errors(
            "[data]\nprimary_url_env = \"A\"\nstandby_url_env = \"A\"\nbackups = { dir = \"/x\" }\nretention = 3\n",
        );
        assert!(
            errs.iter().any(|e| e.contains("unknown field `retention`")),
            "{errs:?}"
        );
        let errs = errors(
            "[data]\nprimary_url_env = \"A\"\nstandby_url_env = \"A\"\nbackups = { dir = \"/x\" }\n",
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("a restore would overwrite the primary")),
            "{errs:?}"
        );
    }
}
