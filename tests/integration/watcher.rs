//! The watcher end to end under paused tokio time: the real poll loop, monitor, store and
//! chat recorder, fed the real Heroku captures by a scripted source keyed on elapsed time.

use crate::support::{TestConfig, capture};
use std::sync::Arc;
use std::time::Duration;

use lifeboat::chat::recorder::{Recorded, RecordingChat};
use lifeboat::config::FeedKind;
use lifeboat::domain::event::Event;
use lifeboat::feeds::fetch::{FeedSpec, Fetched, Validators};
use lifeboat::feeds::probe::evaluate;
use lifeboat::feeds::{FeedError, ParseContext, ProviderHealth};
use lifeboat::ports::chat::ChannelId;
use lifeboat::ports::clock::TokioClock;
use lifeboat::ports::store::EventStore;
use lifeboat::service::watcher::{FeedSource, Watcher};
use lifeboat::store::SledStore;

/// Heroku's status and an app probe feeding one provider (the feeds are scripted below, so
/// their URLs are never fetched).
fn config() -> TestConfig {
    TestConfig::minimal()
        .set("watch.jitter", 0.0)
        .push(
            "providers",
            serde_json::json!({ "name": "heroku", "title": "Heroku", "workstream": "hosting", "runbook": "failover-hosting" }),
        )
        .feed(
            "heroku-status",
            "heroku",
            "heroku",
            "http://127.0.0.1:9/api/v4/current-status",
            "60s",
        )
        .feed("app-probe", "heroku", "probe", "http://127.0.0.1:9/health", "30s")
}

/// Heroku: green, a one-poll red blip at 2 min, red from 5 to 15 min, then green.
/// Probe: healthy, failing from 5 to 15 min, then healthy.
struct Script {
    start: tokio::time::Instant,
    green: Vec<u8>,
    red: Vec<u8>,
}

#[async_trait::async_trait]
impl FeedSource for Script {
    async fn fetch(&self, spec: &FeedSpec, _: &Validators) -> Result<Fetched, FeedError> {
        let t = self.start.elapsed().as_secs();
        let down = (300..900).contains(&t);
        let parsed = match spec.kind {
            FeedKind::Heroku => {
                let blip = (110..130).contains(&t);
                let body = if down || blip { &self.red } else { &self.green };
                lifeboat::feeds::parse(FeedKind::Heroku, body, &ParseContext::default())?
            }
            _ => {
                let status = if down { 503 } else { 200 };
                evaluate(status, "ok", Duration::from_millis(20), &spec.probe)
            }
        };
        let health = ProviderHealth::from_parsed(spec.kind, &spec.url, chrono::Utc::now(), parsed);
        Ok(Fetched::Changed {
            health,
            validators: Validators::default(),
        })
    }
}

fn kinds(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

#[tokio::test(start_paused = true)]
async fn heroku_goes_red_with_the_probe_and_comes_back() {
    let config = config().config();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let chat = Arc::new(RecordingChat::new());
    let script = Arc::new(Script {
        start: tokio::time::Instant::now(),
        green: capture("heroku_v4_current_status_green_SHAPE_cli_test.json"),
        red: capture("heroku_v4_current_status_red_SHAPE_cli_test.json"),
    });
    let watcher = Watcher::new(
        &config,
        store.clone(),
        chat.clone(),
        ChannelId("incident".into()),
        Arc::new(TokioClock::new()),
    )
    .with_source(script);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(watcher.run(stopped));

    // Before the outage: the blip at 2 min leaves no trace but an observation.
    tokio::time::sleep(Duration::from_secs(290)).await;
    assert!(
        chat.all().is_empty(),
        "nothing posted for a blip: {:?}",
        chat.all()
    );
    let events = store.all().unwrap();
    assert!(
        !kinds(&events).contains(&"feed.outage"),
        "{:?}",
        kinds(&events)
    );
    assert!(kinds(&events).contains(&"feed.observed"));

    tokio::time::sleep(Duration::from_secs(25 * 60)).await;
    let _ = stop.send(true);
    running.await.unwrap();

    let log = chat.all();
    let posts = chat.posts();
    let alerts: Vec<_> = posts
        .iter()
        .filter(|m| m.content.contains("CONFIRMED"))
        .collect();
    assert_eq!(alerts.len(), 1, "exactly one alert: {posts:#?}");
    let recoveries: Vec<_> = posts
        .iter()
        .filter(|m| m.content.starts_with("[RECOVERED]"))
        .collect();
    assert_eq!(
        recoveries.len(),
        1,
        "exactly one recovery notice: {posts:#?}"
    );
    // The alert ends up confirmed: the probe and the vendor feed agree.
    let last_version = log
        .iter()
        .rev()
        .find_map(|r| match r {
            Recorded::Updated { message, .. } => Some(message),
            Recorded::Posted { message, .. } if message.content.contains("CONFIRMED") => {
                Some(message)
            }
            _ => None,
        })
        .unwrap();
    assert!(
        last_version
            .content
            .trim_start_matches("SIMULATED — ")
            .starts_with("[CONFIRMED]"),
        "{last_version:#?}"
    );
    assert!(
        alerts[0]
            .buttons
            .iter()
            .any(|b| b.label == "Plan failover-hosting")
    );

    let events = store.all().unwrap();
    let k = kinds(&events);
    let count = |kind: &str| k.iter().filter(|x| **x == kind).count();
    assert_eq!(count("alert.posted"), 1, "{k:?}");
    assert_eq!(count("alert.recovered"), 1, "{k:?}");
    assert_eq!(count("feed.outage"), 2, "one per feed: {k:?}");
    assert_eq!(count("feed.recovered"), 2, "one per feed: {k:?}");
    let posted = events
        .iter()
        .position(|e| e.kind == "alert.posted")
        .unwrap();
    let recovered = events
        .iter()
        .position(|e| e.kind == "alert.recovered")
        .unwrap();
    assert!(posted < recovered);
    let confirmed = events
        .iter()
        .any(|e| e.kind.starts_with("alert.") && e.data["confirmed"] == true);
    assert!(confirmed, "{k:?}");
    // Observations are recorded by the feed that made them.
    let outage = events.iter().find(|e| e.kind == "feed.outage").unwrap();
    assert!(
        outage.actor.to_string().starts_with("feed:"),
        "{}",
        outage.actor
    );
    assert!(matches!(
        store.verify().unwrap(),
        lifeboat::domain::event::ChainCheck::Intact { .. }
    ));
}
