//! The `Database` port on PostgreSQL's tools: probe, dump (with statistics from the dump's own
//! snapshot), check and read a dump, restore, copy, count.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::pipeline::copy_pipeline;
use super::stats::{CopyCounter, parse_stats, stats_query, table_name};
use super::{PgTools, digest, side_name};
use crate::config::TableConfig;
use crate::db::process::{self, GroupGuard, Stdout, Tail};
use crate::ports::data::{DataError, Database, DumpContents, Dumped, Side, TableStats};

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
