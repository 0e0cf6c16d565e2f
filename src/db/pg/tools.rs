//! Finding `pg_dump`, `pg_restore` and `psql`: in `[data] tools_dir`, else on `PATH`, else
//! where `pg_config --bindir` says.

use std::path::{Path, PathBuf};
use std::process::Stdio;

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

#[cfg(test)]
mod tests {
    use super::*;

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
