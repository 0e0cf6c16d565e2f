//! A throwaway PostgreSQL cluster on loopback, for `lifeboat drill --postgres`, the tests and
//! the benchmark: `initdb` in a temp dir, `postgres` on 127.0.0.1 and a free port, trust
//! authentication for the user `lifeboat`. `initdb` and `postgres` refuse to run as root, so
//! as root they run as the `postgres` user (`runuser`). A watchdog stops the cluster and
//! removes its directory when this process ends, however it ends.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::pg::Tools;

/// A running cluster; stopped when dropped (or when the process exits).
pub struct LocalCluster {
    dir: PathBuf,
    port: u16,
    watchdog: Option<Child>,
}

fn server_bin(name: &str) -> Result<PathBuf, String> {
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_default();
    if let Some(found) = on_path {
        return Ok(found);
    }
    let bindir = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|d| PathBuf::from(d.trim()));
    bindir
        .map(|d| d.join(name))
        .filter(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "{name} not found on PATH or in `pg_config --bindir`: install the PostgreSQL server (Debian: apt-get install postgresql postgresql-client)"
            )
        })
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Closes every inherited descriptor above stderr, then runs the rest: the server outlives the
/// command that started it, and must not keep open what that command was handed (a build
/// lock held through `flock`, a pipe someone waits on). Bash, since dash cannot name a
/// descriptor above 9.
const CLOSE_FDS: &str = "for fd in /proc/$$/fd/*; do n=${fd##*/}; [ \"$n\" -gt 2 ] && eval \"exec $n>&-\"; done; exec \"$@\"";

/// `argv` as the `postgres` user when we are root, with no inherited descriptor.
fn as_owner(argv: &[&str]) -> Command {
    let mut command = if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", "bash", "-c", CLOSE_FDS, "bash"]);
        command
    } else {
        let mut command = Command::new("bash");
        command.args(["-c", CLOSE_FDS, "bash"]);
        command
    };
    command.args(argv);
    command
}

fn run(mut command: Command, what: &str) -> Result<(), String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    }
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

impl LocalCluster {
    /// Starts a new cluster (about a second). The error says what to install when the server
    /// programs are missing.
    pub fn start() -> Result<LocalCluster, String> {
        Tools::find(None)?;
        let initdb = server_bin("initdb")?;
        let pg_ctl = server_bin("pg_ctl")?;
        let dir = tempfile::Builder::new()
            .prefix("lifeboat-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?
            .keep();
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres:").arg(&dir);
                    c
                },
                "chown postgres",
            )?;
        }
        let data = dir.join("pg");
        let (initdb_s, data_s, dir_s) = (
            initdb.display().to_string(),
            data.display().to_string(),
            dir.display().to_string(),
        );
        let initialized = run(
            as_owner(&[
                &initdb_s,
                "-D",
                &data_s,
                "-A",
                "trust",
                "-U",
                "lifeboat",
                "-E",
                "UTF8",
                "--no-sync",
            ]),
            "initdb",
        );
        if let Err(err) = initialized {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(err);
        }
        let pg_ctl_s = pg_ctl.display().to_string();
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let options = format!(
                "-k {dir_s} -h 127.0.0.1 -p {port} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            );
            let log = dir.join("log").display().to_string();
            match run(
                as_owner(&[
                    &pg_ctl_s, "-D", &data_s, "-o", &options, "-l", &log, "-w", "start",
                ]),
                "pg_ctl start",
            ) {
                Ok(()) => {
                    let watchdog = watchdog(&pg_ctl_s, &data_s, &dir_s);
                    return Ok(LocalCluster {
                        dir,
                        port,
                        watchdog,
                    });
                }
                Err(err) => {
                    last = format!(
                        "{err}; log: {}",
                        std::fs::read_to_string(dir.join("log")).unwrap_or_default()
                    );
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(last)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `postgres://lifeboat@127.0.0.1:PORT/NAME`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://lifeboat@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs SQL in `database` (`psql -v ON_ERROR_STOP=1`), returning what it printed.
    pub fn sql(&self, database: &str, sql: &str) -> Result<String, String> {
        let psql = Tools::find(None)?.psql;
        let out = Command::new(psql)
            .args([
                "-X",
                "-A",
                "-t",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
            ])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "lifeboat",
                "-d",
                database,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(sql.as_bytes())?;
                }
                child.wait_with_output()
            })
            .map_err(|e| format!("cannot run psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "psql in {database}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Creates an empty database.
    pub fn create_database(&self, name: &str) -> Result<(), String> {
        self.sql("postgres", &format!("CREATE DATABASE \"{name}\";"))
            .map(|_| ())
    }
}

/// A shell that waits for our end of its stdin to close (this process ending), then stops the
/// cluster and removes its directory.
fn watchdog(pg_ctl: &str, data: &str, dir: &str) -> Option<Child> {
    let script = format!(
        "cat >/dev/null; {pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}"
    );
    // Stopping must be done by the owner; removing the directory too.
    let mut command = as_owner(&["sh", "-c", &script]);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
    }
}
