//! A local directory as the backup store, for small set-ups (a disk the company backs up, a
//! mounted volume): each dump is `lifeboat-<completion time>.dump` with its manifest beside it
//! as `….dump.json`. Files are written as `.partial` and renamed when complete.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::pg::digest;
use crate::ports::data::{BackupInfo, BackupStore, DataError, LocalBackup, Manifest, key_time};

#[derive(Debug, Clone)]
pub struct DirBackups {
    dir: PathBuf,
}

impl DirBackups {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn io(&self, what: &str, err: std::io::Error) -> DataError {
        DataError::Store(format!("{what} in {}: {err}", self.dir.display()))
    }

    fn info(&self, key: &str) -> Result<BackupInfo, DataError> {
        let path = self.dir.join(key);
        let meta = std::fs::metadata(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                DataError::NotFound(format!("no backup {} in {}", key, self.dir.display()))
            }
            _ => self.io("cannot read the backup", e),
        })?;
        let manifest: Option<Manifest> = std::fs::read(manifest_path(&path))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let modified: DateTime<Utc> = meta
            .modified()
            .map(DateTime::from)
            .unwrap_or_else(|_| Utc::now());
        Ok(BackupInfo {
            key: key.to_owned(),
            location: path.display().to_string(),
            completed_at: manifest
                .as_ref()
                .map(|m| m.completed_at)
                .or_else(|| key_time(key))
                .unwrap_or(modified),
            size: meta.len(),
            manifest,
        })
    }
}

fn manifest_path(dump: &Path) -> PathBuf {
    let mut name = dump.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

#[async_trait]
impl BackupStore for DirBackups {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    async fn latest(&self) -> Result<Option<BackupInfo>, DataError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io("cannot list the backups", e)),
        };
        let mut newest: Option<BackupInfo> = None;
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".dump") {
                continue;
            }
            let info = self.info(&name)?;
            if newest
                .as_ref()
                .is_none_or(|n| (info.completed_at, &info.key) > (n.completed_at, &n.key))
            {
                newest = Some(info);
            }
        }
        Ok(newest)
    }

    async fn get(&self, key: &str) -> Result<BackupInfo, DataError> {
        if key.contains('/') || key.starts_with('.') {
            return Err(DataError::NotFound(format!(
                "`{key}` is not a backup name in {}",
                self.dir.display()
            )));
        }
        self.info(key)
    }

    async fn put(&self, file: &Path, manifest: &Manifest) -> Result<BackupInfo, DataError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| self.io("cannot create the directory", e))?;
        let target = self.dir.join(&manifest.key);
        let partial = self.dir.join(format!("{}.partial", manifest.key));
        let (from, to) = (file.to_owned(), partial.clone());
        tokio::task::spawn_blocking(move || std::fs::copy(from, to))
            .await
            .map_err(|e| DataError::Store(e.to_string()))?
            .map_err(|e| self.io("cannot write the backup", e))?;
        let json = serde_json::to_vec_pretty(manifest).unwrap_or_default();
        std::fs::write(manifest_path(&target), json)
            .map_err(|e| self.io("cannot write the manifest", e))?;
        std::fs::rename(&partial, &target).map_err(|e| self.io("cannot finish the backup", e))?;
        self.info(&manifest.key)
    }

    async fn fetch(&self, backup: &BackupInfo) -> Result<LocalBackup, DataError> {
        let path = self.dir.join(&backup.key);
        if let Some(manifest) = &backup.manifest {
            let (size, sha256) = digest(&path).await?;
            check_digest(&backup.location, manifest, size, &sha256)?;
        }
        Ok(LocalBackup {
            path,
            _download: None,
        })
    }
}

/// Size and checksum against the manifest: a truncated or altered dump is refused before any
/// database is touched.
pub fn check_digest(
    location: &str,
    manifest: &Manifest,
    size: u64,
    sha256: &str,
) -> Result<(), DataError> {
    if size != manifest.size {
        return Err(DataError::Corrupt(format!(
            "backup {location} is {size} bytes, its manifest says {}: it was cut short or changed",
            manifest.size
        )));
    }
    if sha256 != manifest.sha256 {
        return Err(DataError::Corrupt(format!(
            "backup {location} does not match its manifest's SHA-256: it was altered or damaged"
        )));
    }
    Ok(())
}
