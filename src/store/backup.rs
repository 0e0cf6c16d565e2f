//! Backups of Lifeboat's own event log: a gzip-compressed JSON Lines snapshot that can be
//! taken while the bot appends, and restored into an empty data directory only after every
//! hash in it has been checked again.
//!
//! Format (one JSON value per line, gzip over the whole file):
//! - line 1, the header: `{"format":"lifeboat-backup","version":1,"schema":1,"created_at":..,"events":N,"head":H}`
//! - lines 2..=N+1: each event exactly as the log stores it (its canonical JSON);
//! - line N+2, the trailer: `{"end":"lifeboat-backup","events":N,"head":H}`.
//!
//! The trailer proves the file was not cut at a line boundary; gzip's CRC catches damage to
//! the compressed bytes; the hash chain catches any edit to an event, and the header and
//! trailer pin the count and the last hash.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{info, warn};

use super::SledStore;
use crate::domain::event::{ChainCheck, Event, GENESIS, verify_chain};
use crate::ports::store::{EventStore, StoreError};

/// The `format` of the header and the `end` of the trailer.
pub const FORMAT: &str = "lifeboat-backup";
/// The version of the file layout above.
pub const VERSION: u32 = 1;
/// Scheduled backups are named `lifeboat-<UTC time>.jsonl.gz`, so names sort by age.
const PREFIX: &str = "lifeboat-";
const SUFFIX: &str = ".jsonl.gz";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    version: u32,
    schema: u32,
    created_at: String,
    events: u64,
    head: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Trailer {
    end: String,
    events: u64,
    head: Option<String>,
}

/// What a backup holds: how many events and the hash of the last one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub events: u64,
    pub head: Option<String>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.head {
            Some(head) => write!(f, "{} events, last hash {head}", self.events),
            None => write!(f, "0 events"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The file is not a complete, untouched backup; `line` is 1-based, in the uncompressed text.
    #[error("line {line}: {reason}")]
    Invalid { line: u64, reason: String },
    #[error("the log cannot be backed up: it is broken at event {seq}: {reason}")]
    BrokenLog { seq: u64, reason: String },
    #[error("the restored log does not match the backup: {0}")]
    RestoredMismatch(String),
    #[error(
        "{path} is not empty: a restore never merges into an existing log; choose a new directory"
    )]
    TargetNotEmpty { path: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let context = context.into();
    move |source| BackupError::Io { context, source }
}

/// Writes `events` (a snapshot starting at seq 1) as a backup to `out`, after checking their
/// chain: a backup of a broken log could never be restored, so it is refused loudly.
pub fn write<W: Write>(events: &[Event], out: W) -> Result<Summary, BackupError> {
    let stored = events.iter().map(|e| (e.seq, e.to_bytes()));
    let summary = match verify_chain(stored, None) {
        ChainCheck::Intact { events, head } => Summary { events, head },
        ChainCheck::Broken { seq, reason } => return Err(BackupError::BrokenLog { seq, reason }),
    };
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        schema: crate::domain::event::SCHEMA_VERSION,
        created_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        events: summary.events,
        head: summary.head.clone(),
    };
    let trailer = Trailer {
        end: FORMAT.into(),
        events: summary.events,
        head: summary.head.clone(),
    };
    let mut gz = GzEncoder::new(out, Compression::default());
    let mut lines = vec![serde_json::to_vec(&header).unwrap_or_default()];
    lines.extend(events.iter().map(Event::to_bytes));
    lines.push(serde_json::to_vec(&trailer).unwrap_or_default());
    for line in &lines {
        gz.write_all(line)
            .and_then(|()| gz.write_all(b"\n"))
            .map_err(io_err("writing the backup"))?;
    }
    gz.finish()
        .and_then(|mut w| w.flush())
        .map_err(io_err("finishing the backup"))?;
    Ok(summary)
}

/// Takes a consistent snapshot of `store` and writes it to `path`, through a `.partial` file
/// renamed into place once complete and synced, so an interrupted backup never looks whole.
pub fn backup_to_file(store: &dyn EventStore, path: &Path) -> Result<Summary, BackupError> {
    let events = store.snapshot()?;
    let partial = partial_path(path);
    let file = std::fs::File::create(&partial)
        .map_err(io_err(format!("cannot create {}", partial.display())))?;
    let mut writer = std::io::BufWriter::new(file);
    let written = write(&events, &mut writer).and_then(|summary| {
        let file = writer
            .into_inner()
            .map_err(|e| e.into_error())
            .map_err(io_err("writing the backup"))?;
        file.sync_all()
            .map_err(io_err(format!("syncing {}", partial.display())))?;
        Ok(summary)
    });
    match written {
        Ok(summary) => {
            std::fs::rename(&partial, path).map_err(io_err(format!(
                "cannot move the backup to {}",
                path.display()
            )))?;
            Ok(summary)
        }
        Err(err) => {
            let _ = std::fs::remove_file(&partial);
            Err(err)
        }
    }
}

/// Writes already-verified backup bytes (e.g. fetched from a running bot) to `path` the
/// same careful way.
pub fn save_bytes(bytes: &[u8], path: &Path) -> Result<(), BackupError> {
    let partial = partial_path(path);
    let saved = std::fs::File::create(&partial).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(err) = saved {
        let _ = std::fs::remove_file(&partial);
        return Err(io_err(format!("cannot write {}", partial.display()))(err));
    }
    std::fs::rename(&partial, path).map_err(io_err(format!(
        "cannot move the backup to {}",
        path.display()
    )))
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Reads a backup, checking the header, every event's seq, chain link, hash and canonical
/// bytes, the trailer and gzip's CRC. The first problem stops it, with its line number.
pub fn read<R: Read>(input: R) -> Result<(Vec<Event>, Summary), BackupError> {
    let mut lines = Lines::new(input);
    let header = read_header(&mut lines)?;
    let (events, trailer) = read_events(&mut lines)?;
    let summary = Summary {
        events: events.len() as u64,
        head: events.last().map(|e| e.hash.clone()),
    };
    check_counts(&header, &trailer, &summary, lines.line_no)?;
    // Anything after the trailer, and the gzip CRC, which is checked at the end of the stream.
    if lines.next()? {
        return Err(invalid(lines.line_no, "data after the trailer".into()));
    }
    Ok((events, summary))
}

/// A line of the backup that is not what it should be.
fn invalid(line: u64, reason: String) -> BackupError {
    BackupError::Invalid { line, reason }
}

/// The uncompressed lines of a backup, numbered from 1.
struct Lines<R: Read> {
    reader: BufReader<GzDecoder<R>>,
    /// The number of the line last read (or of the end of the file, once reached).
    line_no: u64,
    /// The line last read, without its newline.
    buf: Vec<u8>,
}

impl<R: Read> Lines<R> {
    fn new(input: R) -> Self {
        Self {
            reader: BufReader::new(GzDecoder::new(input)),
            line_no: 0,
            buf: Vec::new(),
        }
    }

    /// Reads the next line into `buf`: `false` at a clean end of file.
    fn next(&mut self) -> Result<bool, BackupError> {
        self.buf.clear();
        self.line_no += 1;
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|err| {
                invalid(
                    self.line_no,
                    format!("the file is cut short or damaged (gzip: {err})"),
                )
            })?;
        if n == 0 {
            return Ok(false);
        }
        if self.buf.last() != Some(&b'\n') {
            return Err(invalid(
                self.line_no,
                "the line is incomplete: the backup was cut short".into(),
            ));
        }
        self.buf.pop();
        Ok(true)
    }
}

/// Line 1: a header of this format and version.
fn read_header<R: Read>(lines: &mut Lines<R>) -> Result<Header, BackupError> {
    if !lines.next()? {
        return Err(invalid(1, "the backup is empty".into()));
    }
    let header: Header = serde_json::from_slice(&lines.buf).map_err(|err| {
        invalid(
            1,
            format!("not a Lifeboat backup header ({err}); is this the right file?"),
        )
    })?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(invalid(
            1,
            format!(
                "format {} version {} is not {FORMAT} version {VERSION}",
                header.format, header.version
            ),
        ));
    }
    Ok(header)
}

/// The events up to the trailer, each checked against the one before it; then the trailer.
fn read_events<R: Read>(lines: &mut Lines<R>) -> Result<(Vec<Event>, Trailer), BackupError> {
    let mut events: Vec<Event> = Vec::new();
    loop {
        if !lines.next()? {
            return Err(invalid(
                lines.line_no,
                format!(
                    "the backup ends after event {} without its trailer: it was cut short",
                    events.len()
                ),
            ));
        }
        if let Ok(trailer) = serde_json::from_slice::<Trailer>(&lines.buf) {
            return Ok((events, trailer));
        }
        let event: Event = serde_json::from_slice(&lines.buf)
            .map_err(|err| invalid(lines.line_no, format!("not an event: {err}")))?;
        let prev = events.last().map_or(GENESIS, |e| e.hash.as_str());
        let expected = events.len() as u64 + 1;
        if let Some(reason) = event_problem(&event, expected, prev, &lines.buf) {
            return Err(invalid(lines.line_no, reason));
        }
        events.push(event);
    }
}

/// Why `event`, read from `line`, does not belong at seq `expected` after the hash `prev`;
/// `None` when it does.
fn event_problem(event: &Event, expected: u64, prev: &str, line: &[u8]) -> Option<String> {
    if event.seq != expected {
        Some(format!(
            "expected event {expected} but found event {}: an event was removed, added or reordered",
            event.seq
        ))
    } else if event.prev != prev {
        Some(format!(
            "event {} does not link to the event before it (prev hash differs)",
            event.seq
        ))
    } else if event.compute_hash() != event.hash {
        Some(format!(
            "event {} does not match its hash: it was edited",
            event.seq
        ))
    } else if event.to_bytes() != line {
        Some(format!(
            "event {} is not in its stored (canonical) form: it was edited",
            event.seq
        ))
    } else {
        None
    }
}

/// The trailer (at `trailer_line`) and the header must both name what the file holds.
fn check_counts(
    header: &Header,
    trailer: &Trailer,
    summary: &Summary,
    trailer_line: u64,
) -> Result<(), BackupError> {
    if trailer.end != FORMAT || trailer.events != summary.events || trailer.head != summary.head {
        return Err(invalid(
            trailer_line,
            format!(
                "the trailer says {} events ending in {:?}, but the file holds {}",
                trailer.events, trailer.head, summary
            ),
        ));
    }
    if header.events != summary.events || header.head != summary.head {
        return Err(invalid(
            1,
            format!(
                "the header says {} events ending in {:?}, but the file holds {}",
                header.events, header.head, summary
            ),
        ));
    }
    Ok(())
}

/// Restores the backup at `file` into `data_dir`, which must be missing or empty. The log is
/// built beside it and moved into place only once it verifies, with the backup's last hash.
pub fn restore(file: &Path, data_dir: &Path) -> Result<Summary, BackupError> {
    let target = data_dir.display().to_string();
    if data_dir.exists() {
        let mut entries =
            std::fs::read_dir(data_dir).map_err(io_err(format!("cannot read {target}")))?;
        if entries.next().is_some() {
            return Err(BackupError::TargetNotEmpty { path: target });
        }
    }
    let input =
        std::fs::File::open(file).map_err(io_err(format!("cannot open {}", file.display())))?;
    let (events, summary) = read(input)?;

    let name = data_dir.file_name().unwrap_or_default().to_string_lossy();
    let building = data_dir.with_file_name(format!(".{name}.restoring-{}", std::process::id()));
    if building.exists() {
        std::fs::remove_dir_all(&building)
            .map_err(io_err(format!("cannot clear {}", building.display())))?;
    }
    let built = (|| {
        let store = SledStore::open(&building)?;
        store.import(&events)?;
        let verdict = store.verify()?;
        store.flush()?;
        drop(store);
        match verdict {
            ChainCheck::Intact { events, head }
                if events == summary.events && head == summary.head =>
            {
                Ok(())
            }
            ChainCheck::Intact { events, head } => Err(BackupError::RestoredMismatch(format!(
                "it holds {events} events ending in {head:?}, not {summary}"
            ))),
            ChainCheck::Broken { seq, reason } => Err(BackupError::RestoredMismatch(format!(
                "its chain is broken at event {seq}: {reason}"
            ))),
        }
    })();
    if let Err(err) = built {
        let _ = std::fs::remove_dir_all(&building);
        return Err(err);
    }
    if data_dir.exists() {
        std::fs::remove_dir(data_dir).map_err(io_err(format!("cannot replace {target}")))?;
    }
    std::fs::rename(&building, data_dir)
        .map_err(io_err(format!("cannot move the restored log to {target}")))?;
    Ok(summary)
}

/// The file name of a scheduled backup taken at `at`.
pub fn scheduled_name(at: DateTime<Utc>) -> String {
    format!("{PREFIX}{}{SUFFIX}", at.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// Which scheduled backups to delete so that the newest `keep` remain. Other files are
/// never touched.
pub fn to_prune(names: &[String], keep: usize) -> Vec<String> {
    let mut ours: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        .collect();
    ours.sort_unstable_by(|a, b| b.cmp(a));
    ours.into_iter().skip(keep).cloned().collect()
}

/// Deletes the scheduled backups in `dir` beyond the newest `keep`; returns what it deleted.
pub fn prune(dir: &Path, keep: usize) -> Result<Vec<String>, BackupError> {
    let names: Vec<String> = std::fs::read_dir(dir)
        .map_err(io_err(format!("cannot list {}", dir.display())))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    let doomed = to_prune(&names, keep);
    for name in &doomed {
        std::fs::remove_file(dir.join(name))
            .map_err(io_err(format!("cannot delete old backup {name}")))?;
    }
    Ok(doomed)
}

/// One scheduled backup into `dir`, then retention.
pub fn backup_into(
    store: &dyn EventStore,
    dir: &Path,
    keep: usize,
) -> Result<(PathBuf, Summary), BackupError> {
    std::fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    let path = dir.join(scheduled_name(Utc::now()));
    let summary = backup_to_file(store, &path)?;
    prune(dir, keep)?;
    Ok((path, summary))
}

/// Backs the log up into `dir` every `every`, keeping the newest `keep`, until `shutdown`.
pub async fn scheduled(
    store: Arc<dyn EventStore>,
    dir: PathBuf,
    every: Duration,
    keep: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        let (store, dir) = (store.clone(), dir.clone());
        let done =
            tokio::task::spawn_blocking(move || backup_into(store.as_ref(), &dir, keep)).await;
        match done {
            Ok(Ok((path, summary))) => {
                crate::metrics::backup(true);
                info!(path = %path.display(), events = summary.events, "event log backed up");
            }
            Ok(Err(err)) => {
                crate::metrics::backup(false);
                warn!(error = %err, "scheduled backup failed");
            }
            Err(err) => {
                crate::metrics::backup(false);
                warn!(error = %err, "scheduled backup task failed");
            }
        }
    }
}

/// GET /backup from the running bot (an unspecified listen address is reached on loopback).
pub async fn fetch_backup(
    listen: std::net::SocketAddr,
    token: Option<&crate::config::Secret>,
) -> anyhow::Result<Vec<u8>> {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let mut request = reqwest::Client::new()
        .get(format!("http://{addr}/backup"))
        .timeout(std::time::Duration::from_secs(300));
    if let Some(token) = token {
        request = request.bearer_auth(token.expose());
    }
    let response = request.send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        anyhow::bail!("{status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use crate::domain::event::NewEvent;
    use serde_json::json;

    fn chain(n: u64) -> Vec<Event> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let e = Event::seal(
                    NewEvent::new(Actor::Bot, "test.event", json!({ "n": seq })),
                    seq,
                    Utc::now(),
                    &prev,
                );
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn plain(events: &[Event]) -> String {
        let mut gz = Vec::new();
        write(events, &mut gz).unwrap();
        let mut text = String::new();
        GzDecoder::new(gz.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    fn gzip(text: &str) -> Vec<u8> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap()
    }

    fn line_of(err: BackupError) -> u64 {
        match err {
            BackupError::Invalid { line, .. } => line,
            other => panic!("expected an invalid backup, got {other}"),
        }
    }

    #[test]
    fn a_backup_reads_back_to_the_same_events() {
        let events = chain(4);
        let mut gz = Vec::new();
        let written = write(&events, &mut gz).unwrap();
        let (read_back, summary) = read(gz.as_slice()).unwrap();
        assert_eq!(read_back, events);
        assert_eq!(summary, written);
        assert_eq!(summary.head.as_deref(), Some(events[3].hash.as_str()));
        let text = plain(&events);
        assert_eq!(text.lines().count(), 6);
        assert!(text.starts_with(r#"{"format":"lifeboat-backup","version":1,"#));
    }

    #[test]
    fn an_empty_log_backs_up_and_reads_back() {
        let mut gz = Vec::new();
        write(&[], &mut gz).unwrap();
        let (events, summary) = read(gz.as_slice()).unwrap();
        assert!(events.is_empty());
        assert_eq!(summary.head, None);
    }

    #[test]
    fn an_edited_event_is_refused_at_its_line() {
        let text = plain(&chain(5)).replace(r#"{"n":3}"#, r#"{"n":33}"#);
        let err = read(gzip(&text).as_slice()).unwrap_err();
        assert!(
            err.to_string().contains("event 3 does not match its hash"),
            "{err}"
        );
        assert_eq!(line_of(err), 4);
    }

    #[test]
    fn a_removed_line_and_a_cut_are_refused_with_their_line() {
        let text = plain(&chain(5));
        let lines: Vec<&str> = text.lines().collect();
        // Event 2 (line 3) removed.
        let removed = [&lines[..2], &lines[3..]].concat().join("\n") + "\n";
        assert_eq!(line_of(read(gzip(&removed).as_slice()).unwrap_err()), 3);
        // Cut after event 3 at a line boundary: the trailer is missing.
        let cut = lines[..4].join("\n") + "\n";
        let err = read(gzip(&cut).as_slice()).unwrap_err();
        assert!(err.to_string().contains("without its trailer"), "{err}");
        assert_eq!(line_of(err), 5);
        // Cut in the middle of a line.
        let mid = &text[..text.find(lines[2]).unwrap() + 10];
        assert_eq!(line_of(read(gzip(mid).as_slice()).unwrap_err()), 3);
    }

    #[test]
    fn compressed_bytes_cut_short_are_refused() {
        let mut gz = Vec::new();
        write(&chain(200), &mut gz).unwrap();
        let cut = &gz[..gz.len() / 2];
        let err = read(cut).unwrap_err();
        assert!(line_of(err) > 1);
        // Only the CRC and length footer missing.
        let err = read(&gz[..gz.len() - 4]).unwrap_err();
        assert!(err.to_string().contains("cut short or damaged"), "{err}");
    }

    #[test]
    fn a_header_that_lies_about_the_head_is_refused() {
        let events = chain(2);
        let text = plain(&events).replacen(&events[1].hash, &events[0].hash, 1);
        assert_eq!(line_of(read(gzip(&text).as_slice()).unwrap_err()), 1);
    }

    #[test]
    fn retention_keeps_the_newest_and_ignores_other_files() {
        let names: Vec<String> = [
            "lifeboat-20261125T100000.000Z.jsonl.gz",
            "notes.txt",
            "lifeboat-20261125T120000.000Z.jsonl.gz",
            "lifeboat-20261125T110000.000Z.jsonl.gz",
            "lifeboat-20261125T090000.000Z.jsonl.gz.partial",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            to_prune(&names, 2),
            vec!["lifeboat-20261125T100000.000Z.jsonl.gz".to_owned()]
        );
        assert!(to_prune(&names, 5).is_empty());
        let a = scheduled_name(Utc::now());
        assert!(a.starts_with(PREFIX) && a.ends_with(SUFFIX), "{a}");
    }
}
