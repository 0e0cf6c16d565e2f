//! The logs drills leave beside the live one: `lifeboat drill` and `/drill start` each write
//! their own sled log in a `drill-*` directory of the data directory. Finding them and reading
//! their events, without ever creating a log by opening a directory that holds none.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::SledStore;
use crate::domain::event::Event;
use crate::drill::history::{DrillRecord, drills_from_events};
use crate::ports::store::EventStore;

/// Whether sled has written a log in `dir`: opening anything else would create an empty log
/// as a side effect of reading.
pub fn is_log(dir: &Path) -> bool {
    dir.join("conf").is_file() && dir.join("db").exists()
}

/// Every event of the logs drills leave: `data_dir` itself (when `include_main`, and when it
/// can be opened: a running bot holds it) and each `drill-*` directory inside it, where
/// `lifeboat drill` writes by default. Logs that cannot be read are skipped with a warning.
pub fn drill_events(data_dir: &Path, include_main: bool) -> Vec<Event> {
    let mut dirs = Vec::new();
    if include_main && is_log(data_dir) {
        dirs.push(data_dir.to_owned());
    }
    if let Ok(entries) = std::fs::read_dir(data_dir) {
        let mut drills: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                is_log(p)
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("drill-"))
            })
            .collect();
        drills.sort();
        dirs.extend(drills);
    }
    let mut events = Vec::new();
    for dir in dirs {
        match SledStore::open(&dir).and_then(|s| s.all()) {
            Ok(mut found) => events.append(&mut found),
            Err(err) => {
                tracing::warn!(dir = %dir.display(), error = %err, "a log was skipped for drills");
            }
        }
    }
    events
}

/// The `drill-*` logs in `data_dir` not in `known` (none when `data_dir` cannot be listed).
fn unread_drill_logs<'a>(
    data_dir: &Path,
    known: &'a BTreeSet<PathBuf>,
) -> impl Iterator<Item = PathBuf> + 'a {
    std::fs::read_dir(data_dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            !known.contains(p)
                && is_log(p)
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("drill-"))
        })
}

/// The finished drills of each `drill-*` log in `data_dir` not in `known`. A log that cannot
/// be opened (a drill still writing it holds its lock) is left for a later pass.
pub fn read_drill_logs(
    data_dir: &Path,
    known: &BTreeSet<PathBuf>,
) -> BTreeMap<PathBuf, Vec<DrillRecord>> {
    unread_drill_logs(data_dir, known)
        .filter_map(|dir| {
            match SledStore::open(&dir).and_then(|s| s.all()) {
                Ok(events) => Some((dir, drills_from_events(&events))),
                Err(err) => {
                    tracing::debug!(dir = %dir.display(), error = %err, "a drill log is not readable yet");
                    None
                }
            }
        })
        .collect()
}

/// The events of `kind` in each `drill-*` log in `data_dir` not in `known` (the training
/// records of the game days), as `read_drill_logs` reads them: a log still locked is left for a
/// later pass.
pub fn read_drill_log_events(
    data_dir: &Path,
    known: &BTreeSet<PathBuf>,
    kind: &str,
) -> BTreeMap<PathBuf, Vec<Event>> {
    unread_drill_logs(data_dir, known)
        .filter_map(|dir| match SledStore::open(&dir).and_then(|s| s.by_kinds(&[kind])) {
            Ok(events) => Some((dir, events)),
            Err(err) => {
                tracing::debug!(dir = %dir.display(), error = %err, "a drill log is not readable yet");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use crate::domain::event::NewEvent;

    #[test]
    fn drill_logs_are_found_beside_the_main_log_and_nothing_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let append = |path: &Path, kind: &str| {
            let store = SledStore::open(path).unwrap();
            store
                .append(NewEvent::new(Actor::Scheduler, kind, serde_json::json!({})))
                .unwrap();
        };
        // Only drill-* folders (and the data dir itself, when it holds a log) count.
        assert!(drill_events(dir.path(), true).is_empty());
        std::fs::create_dir(dir.path().join("drill-empty")).unwrap();
        std::fs::create_dir(dir.path().join("other")).unwrap();
        assert!(drill_events(dir.path(), true).is_empty());
        assert!(
            std::fs::read_dir(dir.path().join("drill-empty"))
                .unwrap()
                .next()
                .is_none(),
            "a folder without a log is not opened (which would create one)"
        );
        append(&dir.path().join("drill-1"), "drill.finished");
        append(&dir.path().join("other"), "drill.finished");
        let kinds = |events: Vec<Event>| events.into_iter().map(|e| e.kind).collect::<Vec<_>>();
        assert_eq!(kinds(drill_events(dir.path(), true)), ["drill.finished"]);
        append(dir.path(), "incident.declared");
        assert_eq!(
            kinds(drill_events(dir.path(), true)),
            ["incident.declared", "drill.finished"]
        );
        assert_eq!(
            kinds(drill_events(dir.path(), false)),
            ["drill.finished"],
            "the bot reads its own log itself"
        );
    }
}
