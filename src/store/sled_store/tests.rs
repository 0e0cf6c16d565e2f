//! The sled store's tests: appends chain and index, every index answers as a walk of the log,
//! indexes missing or stale are rebuilt on open, imports are indexed, locks and bad paths.

use std::ops::RangeInclusive;
use std::path::Path;

use chrono::Utc;
use serde_json::json;

use super::index::index_record;
use super::{SledStore, trees};
use crate::domain::Actor;
use crate::domain::event::{ChainCheck, Event, NewEvent};
use crate::domain::{IncidentId, RunId};
use crate::ports::store::{EventStore, Filed, StoreError};

#[test]
fn appends_chain_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let inc = IncidentId::from("INC-1");
    let run = RunId::from("RUN-1");
    let a = store
        .append(NewEvent::new(Actor::Bot, "incident.declared", json!({})).incident(inc.clone()))
        .unwrap();
    let b = store
        .append(
            NewEvent::new(Actor::Bot, "run.requested", json!({"runbook": "x"}))
                .incident(inc.clone())
                .run(run.clone()),
        )
        .unwrap();
    store
        .append(NewEvent::new(Actor::Scheduler, "reminder", json!({})))
        .unwrap();
    assert_eq!((a.seq, b.seq), (1, 2));
    assert_eq!(b.prev, a.hash);
    assert_eq!(store.by_incident(&inc).unwrap(), vec![a.clone(), b.clone()]);
    assert_eq!(store.by_run(&run).unwrap(), vec![b.clone()]);
    assert_eq!(store.range(2..=3).unwrap().len(), 2);
    assert_eq!(store.last().unwrap().unwrap().seq, 3);
    assert!(matches!(
        store.verify().unwrap(),
        ChainCheck::Intact { events: 3, .. }
    ));
}

fn kinds_log(store: &SledStore) {
    let inc = IncidentId::from("INC-1");
    let run = RunId::from("RUN-1");
    for (kind, incident, run) in [
        ("feed.observed", None, None),
        ("incident.declared", Some(&inc), None),
        ("run.started", Some(&inc), Some(&run)),
        ("feed.observed", None, None),
        ("note.added", Some(&inc), None),
        ("feed.outage", None, None),
        ("run.succeeded", Some(&inc), Some(&run)),
        ("incident.resolved", Some(&inc), None),
    ] {
        let mut event = NewEvent::new(Actor::Bot, kind, json!({}));
        if let Some(incident) = incident {
            event = event.incident(incident.clone());
        }
        if let Some(run) = run {
            event = event.run(run.clone());
        }
        store.append(event).unwrap();
    }
}

fn seqs(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

#[test]
fn the_kind_index_answers_by_kind_newest_first_and_filed() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    kinds_log(&store);
    let feeds = ["feed.observed", "feed.outage"];
    assert_eq!(seqs(&store.by_kinds(&feeds).unwrap()), vec![1, 4, 6]);
    assert_eq!(
        seqs(&store.recent_of_kinds(&feeds, u64::MAX, 10).unwrap()),
        vec![6, 4, 1]
    );
    assert_eq!(
        seqs(&store.recent_of_kinds(&feeds, 6, 1).unwrap()),
        vec![4],
        "pages back from a seq"
    );
    assert!(
        store
            .recent_of_kinds(&["nothing.like.this"], u64::MAX, 5)
            .unwrap()
            .is_empty()
    );
    let filed = store
        .filed(&["run.started", "run.succeeded", "incident.declared"])
        .unwrap();
    assert_eq!(
        filed,
        vec![
            Filed {
                seq: 2,
                kind: "incident.declared".into(),
                incident: Some("INC-1".into()),
                run: None,
            },
            Filed {
                seq: 3,
                kind: "run.started".into(),
                incident: Some("INC-1".into()),
                run: Some("RUN-1".into()),
            },
            Filed {
                seq: 7,
                kind: "run.succeeded".into(),
                incident: Some("INC-1".into()),
                run: Some("RUN-1".into()),
            },
        ]
    );
}

/// What a store answers through its indexes equals what the port's defaults find by
/// walking the whole log.
struct Walked<'a>(&'a SledStore);

impl EventStore for Walked<'_> {
    fn append(&self, _: NewEvent) -> Result<Event, StoreError> {
        unreachable!()
    }
    fn append_batch(&self, _: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
        unreachable!()
    }
    fn by_incident(&self, _: &IncidentId) -> Result<Vec<Event>, StoreError> {
        unreachable!()
    }
    fn by_run(&self, _: &RunId) -> Result<Vec<Event>, StoreError> {
        unreachable!()
    }
    fn range(&self, seqs: RangeInclusive<u64>) -> Result<Vec<Event>, StoreError> {
        self.0.range(seqs)
    }
    fn last(&self) -> Result<Option<Event>, StoreError> {
        self.0.last()
    }
    fn verify(&self) -> Result<ChainCheck, StoreError> {
        self.0.verify()
    }
    fn check_writable(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[test]
fn indexed_answers_match_a_walk_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    kinds_log(&store);
    let walked = Walked(&store);
    let kinds = ["feed.observed", "incident.resolved", "run.started"];
    assert_eq!(
        store.by_kinds(&kinds).unwrap(),
        walked.by_kinds(&kinds).unwrap()
    );
    assert_eq!(store.filed(&kinds).unwrap(), walked.filed(&kinds).unwrap());
    for (before, limit) in [(u64::MAX, 10), (8, 2), (2, 5), (1, 5)] {
        assert_eq!(
            store.recent_of_kinds(&kinds, before, limit).unwrap(),
            walked.recent_of_kinds(&kinds, before, limit).unwrap()
        );
    }
    assert!(store.open_incidents().unwrap().is_empty());
    assert!(store.open_runs().unwrap().is_empty());
    // A second incident, still open, with a run paused in it; a third declared after it.
    let (two, three) = (IncidentId::from("INC-2"), IncidentId::from("INC-3"));
    let run = RunId::from("RUN-2");
    store
        .append_batch(vec![
            NewEvent::new(Actor::Bot, "incident.declared", json!({})).incident(two.clone()),
            NewEvent::new(Actor::Bot, "run.started", json!({}))
                .incident(two.clone())
                .run(run.clone()),
            NewEvent::new(Actor::Bot, "run.paused", json!({}))
                .incident(two.clone())
                .run(run.clone()),
            NewEvent::new(Actor::Bot, "incident.declared", json!({})).incident(three.clone()),
        ])
        .unwrap();
    assert_eq!(store.open_incidents().unwrap(), vec![two, three]);
    assert_eq!(store.open_runs().unwrap(), vec![run]);
    assert_eq!(
        store.open_incidents().unwrap(),
        walked.open_incidents().unwrap()
    );
    assert_eq!(store.open_runs().unwrap(), walked.open_runs().unwrap());
}

/// A log of two providers' episodes (recoveries, raw flaps, settled signals, alerts),
/// incidents with runs and approval trails, a drill, one incident still open.
fn providers_log(store: &SledStore) -> Vec<IncidentId> {
    let feed = |kind: &str, provider: &str, to: &str| {
        NewEvent::new(
            Actor::Feed {
                name: format!("{provider}-status"),
            },
            kind,
            json!({ "provider": provider, "from": "operational", "to": to }),
        )
    };
    let alert = |kind: &str, provider: &str| {
        NewEvent::new(
            Actor::Bot,
            kind,
            json!({ "alert_id": format!("{provider}-1"), "provider": provider,
                    "level": "major_outage", "confirmed": true }),
        )
    };
    let on = |kind: &str, inc: &IncidentId, data: serde_json::Value| {
        NewEvent::new(Actor::Bot, kind, data).incident(inc.clone())
    };
    let ran = |kind: &str, inc: &IncidentId, run: &str, data: serde_json::Value| {
        on(kind, inc, data).run(RunId::from(run))
    };
    let ids: Vec<IncidentId> = ["INC-A", "INC-B", "INC-C", "INC-D"]
        .map(IncidentId::from)
        .to_vec();
    let [a, b, c, d] = [&ids[0], &ids[1], &ids[2], &ids[3]];
    let log = vec![
        feed("feed.observed", "openai", "degraded"),
        feed("feed.observed", "openai", "operational"),
        feed("feed.outage", "heroku", "major_outage"),
        feed("feed.recovered", "heroku", "operational"),
        feed("feed.observed", "heroku", "degraded"),
        feed("feed.degraded", "heroku", "degraded"),
        alert("alert.posted", "heroku"),
        feed("feed.observed", "openai", "degraded"),
        on("incident.declared", a, json!({ "title": "Heroku down" })),
        on(
            "run.requested",
            a,
            json!({ "request": "REQ-1", "runbook": "failover-hosting" }),
        ),
        NewEvent::new(
            Actor::Bot,
            "run.approval_counted",
            json!({ "request": "REQ-1" }),
        ),
        NewEvent::new(Actor::Bot, "run.denied", json!({ "request": "REQ-9" })),
        on(
            "run.approved",
            a,
            json!({ "request": "REQ-1", "runbook": "failover-hosting" }),
        ),
        ran(
            "run.started",
            a,
            "RUN-1",
            json!({ "runbook": "failover-hosting", "workstream": "hosting" }),
        ),
        NewEvent::new(
            Actor::Bot,
            "step.started",
            json!({ "step": "scale", "attempt": 1 }),
        )
        .run(RunId::from("RUN-1")),
        ran(
            "step.succeeded",
            a,
            "RUN-1",
            json!({ "step": "scale", "attempt": 1, "output": {} }),
        ),
        feed("feed.recovered", "heroku", "operational"),
        alert("alert.recovered", "heroku"),
        ran("run.succeeded", a, "RUN-1", json!({})),
        on("incident.resolved", a, json!({})),
        feed("feed.outage", "heroku", "major_outage"),
        NewEvent::new(
            Actor::Bot,
            "drill.started",
            json!({ "providers": ["openai"] }),
        ),
        NewEvent::new(
            Actor::Bot,
            "drill.outage_simulated",
            json!({ "provider": "openai" }),
        ),
        feed("feed.outage", "openai", "major_outage"),
        on(
            "incident.declared",
            b,
            json!({ "title": "DRILL: OpenAI down" }),
        ),
        on("note.added", b, json!({ "text": "noted" })),
        feed("feed.recovered", "openai", "operational"),
        on("incident.resolved", b, json!({})),
        on("incident.declared", c, json!({ "title": "Nothing wrong" })),
        on("incident.resolved", c, json!({})),
        on("incident.reviewed", c, json!({})),
        feed("feed.observed", "openai", "degraded"),
        on("incident.declared", d, json!({ "title": "Heroku again" })),
        ran(
            "run.started",
            d,
            "RUN-2",
            json!({ "runbook": "failover-hosting", "workstream": "hosting" }),
        ),
        feed("feed.degraded", "heroku", "degraded"),
        feed("rpo.breached", "heroku", "degraded"),
    ];
    store.append_batch(log).unwrap();
    ids
}

#[test]
fn the_provider_index_answers_as_a_walk_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    providers_log(&store);
    let walked = Walked(&store);
    assert_eq!(store.providers().unwrap(), vec!["heroku", "openai"]);
    assert_eq!(store.providers().unwrap(), walked.providers().unwrap());
    let head = store.last().unwrap().unwrap().seq;
    for provider in ["heroku", "openai", "nobody"] {
        for before in 0..=head + 1 {
            assert_eq!(
                store.episode_start(provider, before).unwrap(),
                walked.episode_start(provider, before).unwrap(),
                "{provider} before {before}"
            );
            assert_eq!(
                store.recent_of_provider(provider, before, 3).unwrap(),
                walked.recent_of_provider(provider, before, 3).unwrap()
            );
            assert_eq!(
                store.by_provider(provider, before..=head).unwrap(),
                walked.by_provider(provider, before..=head).unwrap()
            );
        }
    }
    let kinds = ["run.denied", "run.approval_counted", "feed.outage"];
    for from in 0..=head + 1 {
        assert_eq!(
            store.kinds_in(&kinds, from..=head - 3).unwrap(),
            walked.kinds_in(&kinds, from..=head - 3).unwrap()
        );
    }
    assert_eq!(store.episode_start("heroku", 9).unwrap(), Some(5));
    // A log indexed before the provider index existed (version 2) gets it on open.
    store.by_provider.clear().unwrap();
    store
        .meta
        .insert(trees::INDEX_KEY, serde_json::to_vec(&(2u32, head)).unwrap())
        .unwrap();
    store.flush().unwrap();
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.providers().unwrap(), vec!["heroku", "openai"]);
    assert_eq!(store.episode_start("heroku", 9).unwrap(), Some(5));
}

#[test]
fn the_views_read_through_indexes_what_the_folds_find_in_the_whole_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let ids = providers_log(&store);
    let all = store.all().unwrap();
    for id in &ids {
        let indexed = crate::views::incident_log(&store, id).unwrap();
        assert_eq!(
            seqs(&indexed),
            seqs(&crate::incident::incident_events(&all, id)),
            "{id}"
        );
        assert!(indexed.len() > 1, "{id}");
        assert_eq!(
            crate::incident::incident_events(&indexed, id),
            indexed,
            "what it selects selects itself: the folds may take it for the whole log"
        );
    }
    assert_eq!(
        crate::views::awaiting_review(&store).unwrap().map(|i| i.id),
        crate::incident::awaiting_review(&all).map(|i| i.id)
    );
    assert_eq!(
        crate::views::awaiting_review(&store).unwrap().map(|i| i.id),
        Some(ids[1].clone()),
        "the latest resolved, not the reviewed one after it"
    );
    let loaded = crate::config::Config::load(Path::new("config/lifeboat.toml")).unwrap();
    let config = loaded.config;
    let runbooks = crate::runbook::load_dir(Path::new("commands"), &config).runbooks;
    let now = Utc::now() + chrono::Duration::minutes(30);
    let picture = crate::views::dr_picture(&store, &config, &runbooks).unwrap();
    assert_eq!(
        crate::status::render(&config, &runbooks, &picture, now),
        crate::status::dr_status(&config, &runbooks, &all, now)
    );
    assert_eq!(picture.open.len(), 1);
    for alert in [None, Some("heroku-1"), Some("openai-1")] {
        let events = crate::views::alert_events(&store, alert).unwrap();
        assert_eq!(
            crate::incident::affected_at_declaration(&config, &events, alert),
            crate::incident::affected_at_declaration(&config, &all, alert),
            "{alert:?}"
        );
        assert!(events.len() < all.len());
    }
    assert_eq!(picture.rpo, crate::reminders::RpoState::Breached);
}

#[test]
fn missing_or_stale_indexes_are_rebuilt_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        kinds_log(&store);
        // A log written before the kind index existed: no kind entries, no index record.
        store.by_kind.clear().unwrap();
        store.by_incident.clear().unwrap();
        store.meta.remove(trees::INDEX_KEY).unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(
        seqs(&store.by_kinds(&["feed.observed"]).unwrap()),
        vec![1, 4]
    );
    assert_eq!(store.by_incident(&"INC-1".into()).unwrap().len(), 5);
    {
        // Indexes behind the head (their record says so) are rebuilt as well.
        store
            .meta
            .insert(trees::INDEX_KEY, index_record(3))
            .unwrap();
        store.by_kind.clear().unwrap();
        store.flush().unwrap();
    }
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(
        seqs(&store.by_kinds(&["incident.resolved"]).unwrap()),
        vec![8]
    );
    assert!(
        store.open_incidents().unwrap().is_empty(),
        "closed in order"
    );
    assert!(matches!(
        store.verify().unwrap(),
        ChainCheck::Intact { events: 8, .. }
    ));
}

#[test]
fn an_imported_log_is_indexed() {
    let from = tempfile::tempdir().unwrap();
    let source = SledStore::open(from.path()).unwrap();
    kinds_log(&source);
    let to = tempfile::tempdir().unwrap();
    let copy = SledStore::open(to.path()).unwrap();
    copy.import(&source.all().unwrap()).unwrap();
    assert_eq!(
        copy.filed(&["run.started"]).unwrap(),
        source.filed(&["run.started"]).unwrap()
    );
    drop(copy);
    // Its index record covers it: reopening does not rebuild (and would find the same).
    let copy = SledStore::open(to.path()).unwrap();
    assert_eq!(
        copy.meta.get(trees::INDEX_KEY).unwrap().unwrap().to_vec(),
        index_record(8)
    );
}

#[test]
fn a_second_open_of_the_same_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = SledStore::open(dir.path()).unwrap();
    // sled's lock is per process file handle: a second open in this process is refused too.
    match SledStore::open(dir.path()) {
        Err(StoreError::Locked { .. }) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[test]
fn a_file_in_place_of_the_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, b"x").unwrap();
    let err = SledStore::open(&file).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[test]
fn events_sealed_elsewhere_are_kept_only_when_they_continue_the_chain() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (
        SledStore::open(dir_a.path()).unwrap(),
        SledStore::open(dir_b.path()).unwrap(),
    );
    let inc = IncidentId::from("INC-9");
    let new = |n: u64| {
        NewEvent::new(Actor::Bot, "incident.declared", json!({ "n": n })).incident(inc.clone())
    };
    let sealed = a.seal_next(vec![new(1), new(2)]).unwrap();
    assert_eq!(a.last().unwrap(), None, "sealing alone stores nothing");
    a.append_sealed(sealed.clone()).unwrap();
    b.append_sealed(sealed.clone()).unwrap();
    assert_eq!(a.all().unwrap(), b.all().unwrap());
    assert_eq!(
        b.by_incident(&inc).unwrap().len(),
        2,
        "indexed like an append"
    );

    let next = a.seal_next(vec![new(3)]).unwrap();
    let mut tampered = next.clone();
    tampered[0].data = json!({ "n": 4 });
    assert!(matches!(
        b.append_sealed(tampered),
        Err(StoreError::Corrupt { seq: 3, .. })
    ));
    let mut gap = next.clone();
    gap[0].seq = 4;
    assert!(b.append_sealed(gap).is_err());
    assert!(
        b.append_sealed(sealed[1..].to_vec()).is_err(),
        "a replayed event"
    );
    b.append_sealed(next).unwrap();
    assert!(matches!(
        b.verify().unwrap(),
        ChainCheck::Intact { events: 3, .. }
    ));
}
