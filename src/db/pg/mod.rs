//! The real `Database`: PostgreSQL through its own tools (`pg_dump`, `pg_restore`, `psql`) run
//! as processes. Credentials travel in libpq variables, never in argv; every line a tool says
//! is redacted before it leaves this module.
//!
//! One idea per file: finding the tools (`tools`), the statistics query and the dump's row
//! counter (`stats`), a dump's digest (`digest`), the `Database` port on the tools
//! (`database`) and the `pg_dump | pg_restore` pipeline of a copy (`pipeline`); here, the
//! connections and how one tool runs.

mod database;
mod digest;
mod pipeline;
mod stats;
mod tools;

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use super::process::{self, RunError, Stdout, Tool};
use super::url::{ConnInfo, Redactor};
use crate::config::{DataConfig, Secret};
use crate::ports::data::{DataError, Side};

pub use digest::digest;
pub use stats::{CopyCounter, stats_query};
pub use tools::Tools;

/// One side's connection, or why there is none.
#[derive(Debug, Clone)]
struct Conn {
    var: String,
    info: Result<ConnInfo, String>,
}

/// PostgreSQL through its tools. Its derived `Debug` shows no secret: `ConnInfo` prints only
/// what it describes (host, database) and `Redactor` only how many secrets it holds.
#[derive(Debug, Clone)]
pub struct PgTools {
    primary: Conn,
    standby: Conn,
    tools: Result<Tools, String>,
    connect_timeout: Duration,
    /// Every secret of both URLs: a tool may print either side's.
    secrets: Redactor,
}

impl PgTools {
    /// From `[data]`, the URLs read through `url_of` (the process environment in production).
    pub fn new(config: &DataConfig, url_of: &dyn Fn(&str) -> Option<Secret>) -> Self {
        let conn = |var: &str| Conn {
            var: var.to_owned(),
            info: match url_of(var) {
                None => Err(format!("the URL variable {var} is not set")),
                Some(url) => ConnInfo::parse(&url).map_err(|e| format!("{var}: {e}")),
            },
        };
        let primary = conn(&config.primary_url_env);
        let standby = conn(&config.standby_url_env);
        let secrets = Redactor::new(
            [&primary, &standby]
                .iter()
                .filter_map(|c| c.info.as_ref().ok())
                .flat_map(|i| i.secrets().iter().cloned())
                .collect(),
        );
        Self {
            primary,
            standby,
            tools: Tools::find(config.tools_dir.as_deref()),
            connect_timeout: config.connect_timeout.get(),
            secrets,
        }
    }

    fn conn(&self, side: Side) -> &Conn {
        match side {
            Side::Primary => &self.primary,
            Side::Standby => &self.standby,
        }
    }

    fn tools(&self) -> Result<&Tools, DataError> {
        self.tools.as_ref().map_err(|e| DataError::Setup(e.clone()))
    }

    /// The libpq environment of one side.
    fn env(&self, side: Side) -> Result<Vec<(String, String)>, DataError> {
        let conn = self.conn(side);
        let info = conn
            .info
            .as_ref()
            .map_err(|e| DataError::Setup(format!("{} database: {e}", side_name(side))))?;
        let info = info.clone().with_default(
            "PGCONNECT_TIMEOUT",
            self.connect_timeout.as_secs().max(1).to_string(),
        );
        let mut env: Vec<(String, String)> = info
            .env()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        // Timestamps come back in UTC; the sessions say who they are in pg_stat_activity.
        env.push(("PGTZ".into(), "UTC".into()));
        env.push(("PGAPPNAME".into(), "lifeboat".into()));
        Ok(env)
    }

    /// The environment of a tool that writes into `side`: its sessions are named
    /// `lifeboat-restore`, so a later restore can end the ones a killed Lifeboat left behind.
    fn writer_env(&self, side: Side) -> Result<Vec<(String, String)>, DataError> {
        let mut env = self.env(side)?;
        for (k, v) in &mut env {
            if k == "PGAPPNAME" {
                *v = RESTORE_APP.into();
            }
        }
        Ok(env)
    }

    /// Ends the sessions of an earlier restore or copy into `side` that still run: after a
    /// SIGKILL of Lifeboat its `pg_restore` (in its own process group) lives on, and two
    /// restores at once would interleave. The retry then starts from a clean target.
    async fn end_leftovers(&self, side: Side, limit: Duration) -> Result<(), DataError> {
        let ended = self
            .psql(
                side,
                &format!(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND application_name = '{RESTORE_APP}' AND pid <> pg_backend_pid()"
                ),
                limit,
            )
            .await?;
        if ended.trim() != "0" {
            tracing::warn!(
                sessions = ended.trim(),
                "ended the sessions of an earlier restore"
            );
            // Let the leftover tools notice and exit before the new restore starts.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    }

    fn redact(&self, text: &str) -> String {
        self.secrets.redact(text)
    }

    fn tool(&self, program: &Path, args: &[&str], env: Vec<(String, String)>) -> Tool {
        Tool {
            program: program.to_owned(),
            args: args.iter().map(OsString::from).collect(),
            env,
            redactor: self.secrets.clone(),
        }
    }

    /// Runs a tool; a failure becomes a redacted `DataError` made by `fail`.
    async fn run(
        &self,
        tool: &Tool,
        limit: Duration,
        stdout: Stdout<'_>,
        fail: fn(String) -> DataError,
    ) -> Result<process::Ran, DataError> {
        let name = tool.name();
        match process::run(tool, limit, stdout).await {
            Ok(ran) if ran.status.success() => Ok(ran),
            Ok(ran) => Err(fail(format!(
                "{name} {}: {}",
                process::describe_exit(ran.status),
                process::excerpt(&ran.stderr)
            ))),
            Err(RunError::Spawn(why)) => Err(DataError::Setup(format!("cannot run {name}: {why}"))),
            Err(RunError::Wait(why)) => {
                Err(DataError::Tool(format!("lost track of {name}: {why}")))
            }
            Err(RunError::TimedOut { stderr }) => Err(DataError::TimedOut(format!(
                "{name} did not finish within {} and was killed with its workers{}",
                crate::duration::format_elapsed(limit),
                match stderr.trim() {
                    "" => String::new(),
                    said => format!(": {}", process::excerpt(said)),
                }
            ))),
        }
    }

    async fn psql(&self, side: Side, sql: &str, limit: Duration) -> Result<String, DataError> {
        let tools = self.tools()?;
        let tool = self.tool(
            &tools.psql,
            &["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
            self.env(side)?,
        );
        let ran = self
            .run(&tool, limit, Stdout::Capture(4 << 20), DataError::Tool)
            .await?;
        Ok(ran.stdout)
    }
}

/// The application name of the sessions that write into a database.
const RESTORE_APP: &str = "lifeboat-restore";

/// The side as the messages name it.
fn side_name(side: Side) -> &'static str {
    match side {
        Side::Primary => "primary",
        Side::Standby => "standby",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_holds_no_url_or_password() {
        let config: DataConfig = toml::from_str(
            r#"
primary_url_env = "P"
standby_url_env = "S"
backups = { dir = "/tmp/nowhere" }
"#,
        )
        .unwrap();
        let urls = |var: &str| {
            Some(Secret::new(format!(
                "postgres://app:pw-{var}-9f2c@db.example.com:5432/main"
            )))
        };
        let pg = PgTools::new(&config, &urls);
        let tool = pg.tool(
            Path::new("/usr/bin/psql"),
            &["-c", "SELECT 1"],
            pg.env(Side::Primary).unwrap(),
        );
        for shown in [format!("{pg:?}"), format!("{tool:?}"), format!("{pg:#?}")] {
            assert!(
                !shown.contains("pw-P-9f2c") && !shown.contains("pw-S-9f2c"),
                "{shown}"
            );
            assert!(!shown.contains("app:"), "{shown}");
        }
        assert!(
            format!("{tool:?}").contains("PGPASSWORD"),
            "names are shown"
        );
    }

    #[test]
    fn an_unset_url_variable_is_named_as_it_is_spelled() {
        let config: DataConfig = toml::from_str(
            r#"
primary_url_env = "HEROKU_DATABASE_URL"
standby_url_env = "AWS_DATABASE_URL"
backups = { dir = "/tmp/nowhere" }
"#,
        )
        .unwrap();
        let pg = PgTools::new(&config, &|_: &str| None);
        let Err(DataError::Setup(message)) = pg.env(Side::Primary) else {
            panic!("an unset variable is a set-up error");
        };
        assert_eq!(
            message,
            "primary database: the URL variable HEROKU_DATABASE_URL is not set"
        );
    }
}
