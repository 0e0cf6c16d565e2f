//! The real `Database`: PostgreSQL through its own tools (`pg_dump`, `pg_restore`, `psql`) run
//! as processes. Credentials travel in libpq variables, never in argv; every line a tool says
//! is redacted before it leaves this module.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::process::{self, GroupGuard, RunError, Stdout, Tail, Tool};
use super::url::{ConnInfo, Redactor};
use crate::config::{DataConfig, Secret, TableConfig};
use crate::ports::data::{DataError, Database, DumpContents, Dumped, Side, TableStats};

/// Where the three tools are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub pg_dump: PathBuf,
    pub pg_restore: PathBuf,
    pub psql: PathBuf,
}

const TOOL_NAMES: [&str; 3] = ["pg_dump", "pg_restore", "psql"];

impl Tools {
    /// In `dir` when given; else on `PATH`, then in `pg_config --bindir` (where Debian puts
    /// them when only the server package is installed).
    pub fn find(dir: Option<&Path>) -> Result<Tools, String> {
        let search = |dirs: &[PathBuf]| -> Vec<Option<PathBuf>> {
            TOOL_NAMES
                .iter()
                .map(|name| dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p)))
                .collect()
        };
        let found = match dir {
            Some(dir) => search(&[dir.to_owned()]),
            None => {
                let path: Vec<PathBuf> = std::env::var_os("PATH")
                    .map(|p| std::env::split_paths(&p).collect())
                    .unwrap_or_default();
                let mut found = search(&path);
                if found.iter().any(Option::is_none)
                    && let Some(bindir) = pg_config_bindir()
                {
                    let more = search(&[bindir]);
                    for (slot, other) in found.iter_mut().zip(more) {
                        if slot.is_none() {
                            *slot = other;
                        }
                    }
                }
                found
            }
        };
        let missing: Vec<&str> = TOOL_NAMES
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(n, _)| *n)
            .collect();
        if !missing.is_empty() {
            let place = match dir {
                Some(dir) => format!(
                    "in [data] tools_dir {}{}",
                    dir.display(),
                    crate::toml_source::relative_path_hint(dir)
                ),
                None => "on PATH or in `pg_config --bindir`".to_owned(),
            };
            return Err(format!(
                "{} not found {place}: install the PostgreSQL client (Debian: apt-get install postgresql-client)",
                missing.join(", ")
            ));
        }
        let mut found = found.into_iter().flatten();
        let mut next = || found.next().unwrap_or_default();
        Ok(Tools {
            pg_dump: next(),
            pg_restore: next(),
            psql: next(),
        })
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn pg_config_bindir() -> Option<PathBuf> {
    let out = std::process::Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(dir.trim()))
        .filter(|d| d.is_dir())
}

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

/// `"schema"."table"` for SQL; names were checked by the config.
fn quoted(table: &TableConfig) -> String {
    let (schema, name) = table.parts();
    format!("\"{schema}\".\"{name}\"")
}

fn table_name(table: &TableConfig) -> String {
    let (schema, name) = table.parts();
    format!("{schema}.{name}")
}

/// One query for every table's count and newest row, as a JSON array on one line (`jsonb`
/// prints without the line breaks `json_agg` puts between elements).
pub fn stats_query(tables: &[TableConfig]) -> String {
    let parts: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                "SELECT '{}' AS \"table\", count(*) AS rows, max(\"{}\")::timestamptz AS newest FROM {}",
                table_name(t),
                t.freshness,
                quoted(t)
            )
        })
        .collect();
    format!(
        "SELECT coalesce(jsonb_agg(t), '[]') FROM ({}) t",
        parts.join(" UNION ALL ")
    )
}

fn parse_stats(text: &str) -> Result<Vec<TableStats>, DataError> {
    serde_json::from_str(text.trim())
        .map_err(|e| DataError::Tool(format!("psql answered something unexpected: {e}")))
}

/// Counts the rows of each `COPY … FROM stdin;` block in `pg_restore --data-only -f -` output.
#[derive(Debug, Default)]
pub struct CopyCounter {
    current: Option<String>,
    partial: Vec<u8>,
    pub counts: Vec<(String, u64)>,
}

impl CopyCounter {
    pub fn push(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(end) = self.partial[start..].iter().position(|b| *b == b'\n') {
            let line = self.partial[start..start + end].to_vec();
            self.line(&line);
            start += end + 1;
        }
        self.partial.drain(..start);
    }

    fn line(&mut self, line: &[u8]) {
        match &self.current {
            Some(_) if line == b"\\." => self.current = None,
            Some(_) => {
                if let Some(last) = self.counts.last_mut() {
                    last.1 += 1;
                }
            }
            None => {
                let text = String::from_utf8_lossy(line);
                if let Some(rest) = text.strip_prefix("COPY ")
                    && text.ends_with("FROM stdin;")
                {
                    let name = rest.split(" (").next().unwrap_or(rest).replace('"', "");
                    self.counts.push((name.clone(), 0));
                    self.current = Some(name);
                }
            }
        }
    }
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// `sha256` and size of a file, off the async threads.
pub async fn digest(path: &Path) -> Result<(u64, String), DataError> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let size = std::fs::metadata(&path)?.len();
        Ok::<_, std::io::Error>((size, sha256_file(&path)?))
    })
    .await
    .map_err(|e| DataError::Tool(e.to_string()))?
    .map_err(|e| DataError::Tool(format!("cannot read the dump: {e}")))
}

#[async_trait]
impl Database for PgTools {
    async fn probe(&self, side: Side, limit: Duration) -> Result<Duration, DataError> {
        let started = std::time::Instant::now();
        let out = self
            .psql(side, "SELECT 1", limit)
            .await
            .map_err(|e| match e {
                DataError::Tool(m) | DataError::TimedOut(m) => DataError::Unreachable(m),
                other => other,
            })?;
        if out.trim() != "1" {
            return Err(DataError::Unreachable(format!(
                "SELECT 1 answered {:?}",
                self.redact(out.trim())
            )));
        }
        Ok(started.elapsed())
    }

    async fn dump(
        &self,
        side: Side,
        file: &Path,
        tables: &[TableConfig],
        limit: Duration,
    ) -> Result<Dumped, DataError> {
        let tools = self.tools()?;
        let env = self.env(side)?;
        let deadline = tokio::time::Instant::now() + limit;
        // A session holding the snapshot the dump reads, so the statistics match it exactly.
        let session = self.tool(
            &tools.psql,
            &["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"],
            env.clone(),
        );
        let mut child = session
            .command(None)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| DataError::Setup(format!("cannot run psql: {e}")))?;
        let mut group = GroupGuard::of(&child);
        let mut stdin = child.stdin.take().expect("piped");
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let stderr_pipe = child.stderr.take();
        let started_at = Utc::now();
        let mut ask = async |sql: String| -> Result<String, DataError> {
            stdin
                .write_all(format!("{sql};\n").as_bytes())
                .await
                .map_err(|e| DataError::Unreachable(format!("psql stopped: {e}")))?;
            match tokio::time::timeout_at(deadline, lines.next_line()).await {
                Ok(Ok(Some(line))) => Ok(line),
                Ok(_) => Err(DataError::Unreachable("psql ended early".into())),
                Err(_) => Err(DataError::TimedOut("the snapshot session timed out".into())),
            }
        };
        let prepared = async {
            // BEGIN prints nothing with -q: the first line is the snapshot's id.
            let snapshot = ask(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT pg_export_snapshot()"
                    .into(),
            )
            .await?;
            let stats = if tables.is_empty() {
                Vec::new()
            } else {
                parse_stats(&ask(stats_query(tables)).await?)?
            };
            Ok::<_, DataError>((snapshot, stats))
        }
        .await;
        let (snapshot, stats) = match prepared {
            Ok(found) => found,
            Err(err) => {
                group.kill();
                let mut said = Tail::new(&self.secrets);
                process::drain(stderr_pipe, |b| said.push(b)).await;
                let said = process::excerpt(&said.into_text());
                return Err(match err {
                    DataError::Unreachable(m) => DataError::Unreachable(format!("{m}: {said}")),
                    other => other,
                });
            }
        };
        let file_arg = format!("--file={}", file.display());
        let snapshot_arg = format!("--snapshot={}", snapshot.trim());
        let dump = self.tool(
            &tools.pg_dump,
            &["--format=custom", &snapshot_arg, &file_arg, "--dbname="],
            env,
        );
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let dumped = self
            .run(&dump, left, Stdout::Capture(0), DataError::Tool)
            .await;
        let _ = stdin.write_all(b"COMMIT;\n").await;
        drop(stdin);
        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        group.kill();
        dumped?;
        let completed_at = Utc::now();
        let (size, sha256) = digest(file).await?;
        Ok(Dumped {
            started_at,
            completed_at,
            size,
            sha256,
            tables: stats,
        })
    }

    async fn check_dump(&self, file: &Path, limit: Duration) -> Result<usize, DataError> {
        let tools = self.tools()?;
        let path = file.display().to_string();
        let tool = self.tool(&tools.pg_restore, &["--list", &path], Vec::new());
        let ran = self
            .run(&tool, limit, Stdout::Capture(16 << 20), DataError::Corrupt)
            .await?;
        Ok(ran
            .stdout
            .lines()
            .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
            .count())
    }

    async fn dump_contents(
        &self,
        file: &Path,
        tables: &[TableConfig],
        limit: Duration,
    ) -> Result<DumpContents, DataError> {
        let tools = self.tools()?;
        let path = file.display().to_string();
        let list = self.tool(&tools.pg_restore, &["--list", &path], Vec::new());
        let listed = self
            .run(&list, limit, Stdout::Capture(16 << 20), DataError::Corrupt)
            .await?
            .stdout;
        let entries = listed.lines().filter(|l| !l.starts_with(';')).count();
        let has_data = |t: &TableConfig| {
            let (schema, name) = t.parts();
            let needle = format!(" TABLE DATA {schema} {name} ");
            listed.lines().any(|l| l.contains(&needle))
        };
        let present: Vec<&TableConfig> = tables.iter().filter(|t| has_data(t)).collect();
        let mut counter = CopyCounter::default();
        if !present.is_empty() {
            let mut args: Vec<String> = vec!["--data-only".into(), "--file=-".into()];
            for t in &present {
                let (schema, name) = t.parts();
                args.push(format!("--schema={schema}"));
                args.push(format!("--table={name}"));
            }
            args.push(path);
            let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let tool = self.tool(&tools.pg_restore, &arg_refs, Vec::new());
            let mut sink = |b: &[u8]| counter.push(b);
            self.run(&tool, limit, Stdout::Stream(&mut sink), DataError::Corrupt)
                .await?;
        }
        let tables = tables
            .iter()
            .map(|t| {
                let name = table_name(t);
                let rows = has_data(t).then(|| {
                    counter
                        .counts
                        .iter()
                        .filter(|(n, _)| *n == name)
                        .map(|(_, c)| c)
                        .sum()
                });
                (name, rows)
            })
            .collect();
        Ok(DumpContents { entries, tables })
    }

    async fn restore(
        &self,
        file: &Path,
        side: Side,
        jobs: u32,
        limit: Duration,
    ) -> Result<(), DataError> {
        let tools = self.tools()?;
        self.end_leftovers(side, limit).await?;
        let jobs = format!("--jobs={}", jobs.max(1));
        let path = file.display().to_string();
        let tool = self.tool(
            &tools.pg_restore,
            &[
                "--clean",
                "--if-exists",
                "--no-owner",
                // Heroku's roles do not exist on the standby: grants to them would fail.
                "--no-privileges",
                &jobs,
                "--dbname=",
                &path,
            ],
            self.writer_env(side)?,
        );
        self.run(&tool, limit, Stdout::Capture(0), DataError::Tool)
            .await
            .map(|_| ())
    }

    async fn copy(&self, from: Side, to: Side, limit: Duration) -> Result<(), DataError> {
        let tools = self.tools()?;
        self.end_leftovers(to, limit).await?;
        let dump = self.tool(
            &tools.pg_dump,
            &["--format=custom", "--dbname="],
            self.env(from)?,
        );
        let restore = self.tool(
            &tools.pg_restore,
            &[
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--dbname=",
            ],
            self.writer_env(to)?,
        );
        copy_pipeline(&dump, &restore, limit)
            .await
            .map_err(|e| match e {
                DataError::Tool(m) => DataError::Tool(self.redact(&m)),
                DataError::TimedOut(m) => DataError::TimedOut(self.redact(&m)),
                other => other,
            })
    }

    async fn table_stats(
        &self,
        side: Side,
        tables: &[TableConfig],
        limit: Duration,
    ) -> Result<Vec<TableStats>, DataError> {
        if tables.is_empty() {
            return Ok(Vec::new());
        }
        parse_stats(&self.psql(side, &stats_query(tables), limit).await?)
    }

    fn describe(&self, side: Side) -> String {
        let conn = self.conn(side);
        let what = side_name(side);
        match &conn.info {
            Ok(info) => format!("{what} {} ({})", info.describe(), conn.var),
            Err(_) => format!("{what} ({}, not set)", conn.var),
        }
    }
}

/// The side as the messages name it.
fn side_name(side: Side) -> &'static str {
    match side {
        Side::Primary => "primary",
        Side::Standby => "standby",
    }
}

/// `dump | restore`, both in one process group: a timeout kills both, and each one's failure
/// is reported with what it said.
async fn copy_pipeline(dump: &Tool, restore: &Tool, limit: Duration) -> Result<(), DataError> {
    let mut first = dump
        .command(None)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| DataError::Setup(format!("cannot run pg_dump: {e}")))?;
    let mut group = GroupGuard::of(&first);
    let pipe: Stdio = first
        .stdout
        .take()
        .expect("piped")
        .try_into()
        .map_err(|e| DataError::Setup(format!("cannot connect pg_dump to pg_restore: {e}")))?;
    let mut second = restore
        .command(group.pgid())
        .stdin(pipe)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| DataError::Setup(format!("cannot run pg_restore: {e}")))?;
    let (mut said_dump, mut said_restore) =
        (Tail::new(&dump.redactor), Tail::new(&restore.redactor));
    let (e1, e2) = (first.stderr.take(), second.stderr.take());
    let waited = tokio::time::timeout(limit, async {
        let (_, _, a, b) = tokio::join!(
            process::drain(e1, |b| said_dump.push(b)),
            process::drain(e2, |b| said_restore.push(b)),
            first.wait(),
            second.wait()
        );
        (a, b)
    })
    .await;
    let text = |said: Tail<'_>| process::excerpt(&said.into_text());
    match waited {
        Err(_) => {
            group.kill();
            Err(DataError::TimedOut(format!(
                "pg_dump | pg_restore did not finish within {} and was killed",
                crate::duration::format_elapsed(limit)
            )))
        }
        Ok((a, b)) => {
            group.disarm();
            let (a, b) = (
                a.map_err(|e| DataError::Tool(e.to_string()))?,
                b.map_err(|e| DataError::Tool(e.to_string()))?,
            );
            if !a.success() {
                return Err(DataError::Tool(format!(
                    "pg_dump {}: {}",
                    process::describe_exit(a),
                    text(said_dump)
                )));
            }
            if !b.success() {
                return Err(DataError::Tool(format!(
                    "pg_restore {}: {}",
                    process::describe_exit(b),
                    text(said_restore)
                )));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_blocks_are_counted_per_table() {
        let mut counter = CopyCounter::default();
        let text = "--\n-- Data\nCOPY public.orders (id, body) FROM stdin;\n1\ta\n2\tb\\nc\n\\.\n\nCOPY public.\"Users\" (id) FROM stdin;\n7\n\\.\n";
        // Fed in awkward chunks, as a pipe delivers it.
        for chunk in text.as_bytes().chunks(5) {
            counter.push(chunk);
        }
        assert_eq!(
            counter.counts,
            [
                ("public.orders".to_owned(), 2),
                ("public.Users".to_owned(), 1)
            ]
        );
    }

    #[test]
    fn the_stats_query_quotes_every_name() {
        let tables = vec![TableConfig {
            name: "billing.invoices".into(),
            freshness: "changed_at".into(),
        }];
        assert_eq!(
            stats_query(&tables),
            "SELECT coalesce(jsonb_agg(t), '[]') FROM (SELECT 'billing.invoices' AS \"table\", count(*) AS rows, max(\"changed_at\")::timestamptz AS newest FROM \"billing\".\"invoices\") t"
        );
        let parsed = parse_stats(
            r#"[{"table":"billing.invoices","rows":3,"newest":"2026-11-25T09:48:00.5+00:00"},{"table":"public.e","rows":0,"newest":null}]"#,
        )
        .unwrap();
        assert_eq!(parsed[0].rows, 3);
        assert_eq!(parsed[1].newest, None);
    }

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

    #[test]
    fn missing_tools_say_what_to_install() {
        let dir = tempfile::tempdir().unwrap();
        let err = Tools::find(Some(dir.path())).unwrap_err();
        assert!(
            err.starts_with("pg_dump, pg_restore, psql not found in [data] tools_dir")
                && err.contains("apt-get install postgresql-client"),
            "{err}"
        );
    }
}
