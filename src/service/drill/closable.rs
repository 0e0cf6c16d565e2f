//! An event log a game day can let go of: its bot and engine live on after it ends (a request's
//! expiry timer holds the bot for up to its expiry), yet the drill's log must be released then,
//! for readiness, `lifeboat drills` and exports to open it. Closing drops this handle's log;
//! anything that still asks gets an error instead of holding the log's lock.

use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};

use crate::domain::event::{ChainCheck, Event, NewEvent};
use crate::domain::{IncidentId, RunId};
use crate::ports::store::{EventStore, Filed, StoreError};

pub(super) struct Closable {
    inner: Mutex<Option<Arc<dyn EventStore>>>,
}

impl Closable {
    pub(super) fn new(inner: Arc<dyn EventStore>) -> Self {
        Self {
            inner: Mutex::new(Some(inner)),
        }
    }

    /// Lets go of the log.
    pub(super) fn close(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    fn get(&self) -> Result<Arc<dyn EventStore>, StoreError> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Io("the game day is over: its log is closed".into()))
    }
}

impl EventStore for Closable {
    fn append(&self, event: NewEvent) -> Result<Event, StoreError> {
        self.get()?.append(event)
    }
    fn append_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
        self.get()?.append_batch(events)
    }
    fn by_incident(&self, incident: &IncidentId) -> Result<Vec<Event>, StoreError> {
        self.get()?.by_incident(incident)
    }
    fn by_run(&self, run: &RunId) -> Result<Vec<Event>, StoreError> {
        self.get()?.by_run(run)
    }
    fn range(&self, seqs: RangeInclusive<u64>) -> Result<Vec<Event>, StoreError> {
        self.get()?.range(seqs)
    }
    fn all(&self) -> Result<Vec<Event>, StoreError> {
        self.get()?.all()
    }
    fn by_kinds(&self, kinds: &[&str]) -> Result<Vec<Event>, StoreError> {
        self.get()?.by_kinds(kinds)
    }
    fn recent_of_kinds(
        &self,
        kinds: &[&str],
        before: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        self.get()?.recent_of_kinds(kinds, before, limit)
    }
    fn kinds_in(
        &self,
        kinds: &[&str],
        seqs: RangeInclusive<u64>,
    ) -> Result<Vec<Event>, StoreError> {
        self.get()?.kinds_in(kinds, seqs)
    }
    fn providers(&self) -> Result<Vec<String>, StoreError> {
        self.get()?.providers()
    }
    fn by_provider(
        &self,
        provider: &str,
        seqs: RangeInclusive<u64>,
    ) -> Result<Vec<Event>, StoreError> {
        self.get()?.by_provider(provider, seqs)
    }
    fn recent_of_provider(
        &self,
        provider: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        self.get()?.recent_of_provider(provider, before, limit)
    }
    fn episode_start(&self, provider: &str, before: u64) -> Result<Option<u64>, StoreError> {
        self.get()?.episode_start(provider, before)
    }
    fn filed(&self, kinds: &[&str]) -> Result<Vec<Filed>, StoreError> {
        self.get()?.filed(kinds)
    }
    fn open_incidents(&self) -> Result<Vec<IncidentId>, StoreError> {
        self.get()?.open_incidents()
    }
    fn open_runs(&self) -> Result<Vec<RunId>, StoreError> {
        self.get()?.open_runs()
    }
    fn last(&self) -> Result<Option<Event>, StoreError> {
        self.get()?.last()
    }
    fn verify(&self) -> Result<ChainCheck, StoreError> {
        self.get()?.verify()
    }
    fn snapshot(&self) -> Result<Vec<Event>, StoreError> {
        self.get()?.snapshot()
    }
    fn check_writable(&self) -> Result<(), StoreError> {
        self.get()?.check_writable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;

    #[test]
    fn a_closed_log_is_let_go_and_answers_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let sled: Arc<dyn EventStore> =
            Arc::new(crate::store::SledStore::open(dir.path()).unwrap());
        let log = Closable::new(sled.clone());
        log.append(NewEvent::new(
            Actor::Bot,
            "test.appended",
            serde_json::json!({}),
        ))
        .unwrap();
        assert_eq!(log.all().unwrap().len(), 1);
        log.close();
        assert!(log.all().is_err());
        drop(sled);
        // Nothing holds it any more: it opens again.
        let reopened = crate::store::SledStore::open(dir.path()).unwrap();
        assert_eq!(reopened.all().unwrap().len(), 1);
    }
}
