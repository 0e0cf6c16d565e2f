//! The watcher loop: polls every feed on its own interval (with jitter) concurrently, feeds
//! the observations to the pure `Monitor` one at a time, and carries out its effects —
//! events in the store, alerts through `Chat`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::{Instrument, info_span, instrument, warn};

use crate::chat::render::{self, ProviderInfo};
use crate::config::{Config, WatchConfig};
use crate::domain::event::NewEvent;
use crate::domain::{Actor, HealthLevel};
use crate::events::{AlertFailed, AlertRecovered, AlertState, Payload};
use crate::feeds::fetch::{FeedSpec, Fetched, Fetcher, Validators};
use crate::feeds::monitor::{AlertView, Effect, FeedInfo, Monitor, WatchSettings};
use crate::feeds::{FeedError, ProviderHealth};
use crate::ports::chat::{ChannelId, Chat, MessageRef};
use crate::ports::clock::Clock;
use crate::ports::store::EventStore;
use crate::retry::{Asked, Policy};

impl From<&WatchConfig> for WatchSettings {
    fn from(w: &WatchConfig) -> Self {
        let minutes = |d: crate::duration::HumanDuration| {
            chrono::Duration::from_std(d.get()).unwrap_or(chrono::Duration::MAX)
        };
        Self {
            debounce: w.debounce,
            flap_changes: w.flap_changes,
            flap_window: minutes(w.flap_window),
            unreadable_after: minutes(w.unreadable_after),
        }
    }
}

/// Where observations come from: HTTP in production (`Fetcher`); a scripted source in tests
/// that run the whole loop under paused time, where real sockets and a paused clock do not mix.
#[async_trait::async_trait]
pub trait FeedSource: Send + Sync {
    async fn fetch(&self, spec: &FeedSpec, validators: &Validators) -> Result<Fetched, FeedError>;
}

#[async_trait::async_trait]
impl FeedSource for Fetcher {
    async fn fetch(&self, spec: &FeedSpec, validators: &Validators) -> Result<Fetched, FeedError> {
        Fetcher::fetch(self, spec, validators).await
    }
}

struct Poller {
    index: usize,
    spec: FeedSpec,
    interval: Duration,
    jitter: f64,
}

/// Everything the watcher needs, built once from config.
pub struct Watcher {
    pollers: Vec<Poller>,
    monitor: Monitor,
    providers: BTreeMap<String, ProviderInfo>,
    store: Arc<dyn EventStore>,
    chat: Arc<dyn Chat>,
    channel: ChannelId,
    clock: Arc<dyn Clock>,
    source: Arc<dyn FeedSource>,
    alert_messages: BTreeMap<String, MessageRef>,
    metrics: crate::metrics::Recorder,
    /// `[aws] mode = "simulated"`: alerts say SIMULATED.
    simulated: bool,
}

impl Watcher {
    pub fn new(
        config: &Config,
        store: Arc<dyn EventStore>,
        chat: Arc<dyn Chat>,
        channel: ChannelId,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let pollers = config
            .feeds
            .iter()
            .enumerate()
            .map(|(index, feed)| {
                let mut spec = FeedSpec::from_config(feed);
                spec.max_body = config.watch.max_body;
                Poller {
                    index,
                    spec,
                    interval: feed.interval.get(),
                    jitter: config.watch.jitter,
                }
            })
            .collect();
        let infos = config
            .feeds
            .iter()
            .map(|f| FeedInfo {
                name: f.name.clone(),
                provider: f.provider.clone(),
            })
            .collect();
        let simulated = config.aws.mode == crate::config::AwsMode::Simulated;
        let providers = config
            .providers
            .iter()
            .map(|p| {
                let info = ProviderInfo {
                    title: p.title.clone().unwrap_or_else(|| p.name.clone()),
                    runbook: p.runbook.clone(),
                    simulated,
                };
                (p.name.clone(), info)
            })
            .collect();
        let mut watcher = Self {
            simulated,
            pollers,
            monitor: Monitor::new(WatchSettings::from(&config.watch), infos),
            providers,
            store,
            chat,
            channel,
            clock,
            source: Arc::new(Fetcher::new()),
            alert_messages: BTreeMap::new(),
            metrics: crate::metrics::Recorder::live(),
        };
        watcher.restore_open_alerts();
        watcher
    }

    /// Replaces where observations come from (tests, drills).
    pub fn with_source(mut self, source: Arc<dyn FeedSource>) -> Self {
        self.source = source;
        self
    }

    /// Replaces where metrics go (a drill turns them off).
    pub fn with_metrics(mut self, metrics: crate::metrics::Recorder) -> Self {
        self.metrics = metrics;
        self
    }

    /// Alerts posted before a restart and not yet recovered are edited, never posted twice.
    fn restore_open_alerts(&mut self) {
        // Per provider, its events from its newest alert posted or recovered on.
        let Ok(events) = crate::views::alert_events(self.store.as_ref(), None) else {
            return;
        };
        let mut open: BTreeMap<String, (AlertView, MessageRef)> = BTreeMap::new();
        for event in events {
            match event.payload() {
                Ok(Payload::AlertPosted(posted)) => {
                    let restored = (|| {
                        let view = AlertView {
                            alert_id: posted.alert_id,
                            provider: posted.provider.clone(),
                            level: posted.level?,
                            confirmed: posted.confirmed,
                            sources: Vec::new(),
                            incidents: Vec::new(),
                            opened_at: event.at,
                        };
                        Some((view, posted.message?))
                    })();
                    if let Some(entry) = restored {
                        open.insert(posted.provider, entry);
                    }
                }
                Ok(Payload::AlertRecovered(recovered)) => {
                    open.remove(&recovered.alert.provider);
                }
                _ => {}
            }
        }
        for (provider, (view, message)) in open {
            self.monitor.restore_alert(view);
            self.alert_messages.insert(provider, message);
        }
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let (tx, mut rx) = mpsc::channel::<(usize, ProviderHealth)>(64);
        let mut tasks = Vec::new();
        for poller in std::mem::take(&mut self.pollers) {
            let span = info_span!("poll", feed = %poller.spec.url);
            let task = poll_loop(
                poller,
                self.source.clone(),
                self.clock.clone(),
                tx.clone(),
                shutdown.clone(),
            );
            tasks.push(tokio::spawn(task.instrument(span)));
        }
        drop(tx);
        loop {
            tokio::select! {
                observation = rx.recv() => match observation {
                    Some((index, health)) => self.handle(index, &health).await,
                    None => break,
                },
                _ = shutdown.changed() => break,
            }
        }
        for task in tasks {
            task.abort();
        }
    }

    /// One observation through the monitor, and its effects carried out in order.
    #[instrument(skip_all, fields(feed = index, level = %health.level))]
    pub async fn handle(&mut self, index: usize, health: &ProviderHealth) {
        let now = self.clock.now();
        let effects = self.monitor.observe(index, health, now);
        self.count(index, health);
        for effect in effects {
            self.apply(effect).await;
        }
    }

    /// Metrics for one observation: the poll, and its provider's settled level (the worst
    /// settled level of the provider's feeds).
    fn count(&self, index: usize, health: &ProviderHealth) {
        let levels = self.monitor.levels();
        let Some((info, _)) = levels.get(index) else {
            return;
        };
        self.metrics
            .feed_polled(&info.name, health.level != HealthLevel::Unknown);
        if let Some(level) = levels
            .iter()
            .filter(|(f, _)| f.provider == info.provider)
            .filter_map(|(_, level)| *level)
            .max()
        {
            self.metrics.provider_level(&info.provider, level);
        }
    }

    async fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Record { feed, payload } => {
                let actor = feed.map_or(Actor::Bot, |name| Actor::Feed { name });
                self.append(NewEvent::of(actor, payload));
            }
            Effect::OpenAlert(alert) => {
                let message = render::alert(&alert, &self.provider_info(&alert.provider));
                match self.chat.post(&self.channel, &message).await {
                    Ok(posted) => {
                        self.metrics.alert(&alert.provider, "posted");
                        self.append(NewEvent::of(
                            Actor::Bot,
                            Payload::AlertPosted(alert_state(&alert, Some(&posted))),
                        ));
                        self.alert_messages.insert(alert.provider.clone(), posted);
                    }
                    Err(err) => {
                        self.metrics.alert(&alert.provider, "failed");
                        warn!(error = %err, provider = %alert.provider, "alert could not be posted");
                        self.append(NewEvent::of(
                            Actor::Bot,
                            AlertFailed {
                                provider: alert.provider.clone(),
                                alert_id: alert.alert_id.clone(),
                                error: err.to_string(),
                            },
                        ));
                    }
                }
            }
            Effect::UpdateAlert(alert) => {
                self.metrics.alert(&alert.provider, "updated");
                let message = render::alert(&alert, &self.provider_info(&alert.provider));
                if let Some(target) = self.alert_messages.get(&alert.provider)
                    && let Err(err) = self.chat.update(target, &message).await
                {
                    warn!(error = %err, provider = %alert.provider, "alert could not be edited");
                }
                self.append(NewEvent::of(
                    Actor::Bot,
                    Payload::AlertUpdated(alert_state(&alert, None)),
                ));
            }
            Effect::AlertReply { provider, text } => {
                if let Some(target) = self.alert_messages.get(&provider)
                    && let Err(err) = self.chat.reply(target, &render::notice(&text)).await
                {
                    warn!(error = %err, %provider, "vendor update could not be posted");
                }
            }
            Effect::Recovered { alert, at } => {
                self.metrics.alert(&alert.provider, "recovered");
                let message = render::recovered(&alert, &self.provider_info(&alert.provider), at);
                let posted = self.chat.post(&self.channel, &message).await;
                if let Err(err) = &posted {
                    warn!(error = %err, provider = %alert.provider, "recovery notice could not be posted");
                }
                self.alert_messages.remove(&alert.provider);
                self.append(NewEvent::of(
                    Actor::Bot,
                    AlertRecovered {
                        alert: alert_state(&alert, posted.as_ref().ok()),
                        duration_secs: Some((at - alert.opened_at).num_seconds()),
                        duration_ms: Some((at - alert.opened_at).num_milliseconds()),
                    },
                ));
            }
            Effect::Notice { feed, text } => {
                if let Err(err) = self.chat.post(&self.channel, &render::notice(&text)).await {
                    warn!(error = %err, %feed, "notice could not be posted");
                }
            }
        }
    }

    fn provider_info(&self, provider: &str) -> ProviderInfo {
        self.providers
            .get(provider)
            .cloned()
            .unwrap_or_else(|| ProviderInfo {
                title: provider.to_owned(),
                runbook: None,
                simulated: self.simulated,
            })
    }

    fn append(&self, event: NewEvent) {
        if let Err(err) = self.store.append(event) {
            tracing::error!(error = %err, "event could not be stored");
        }
    }
}

fn alert_state(alert: &AlertView, message: Option<&MessageRef>) -> AlertState {
    AlertState {
        alert_id: alert.alert_id.clone(),
        provider: alert.provider.clone(),
        level: Some(alert.level),
        confirmed: alert.confirmed,
        sources: alert.sources.clone(),
        incidents: alert.incidents.iter().map(|i| i.id.clone()).collect(),
        message: message.cloned(),
    }
}

/// Polls one feed until shutdown. A 304 repeats the last snapshot; `Retry-After` stretches
/// the wait; any error becomes an `unknown` observation with its reason.
async fn poll_loop(
    poller: Poller,
    source: Arc<dyn FeedSource>,
    clock: Arc<dyn Clock>,
    tx: mpsc::Sender<(usize, ProviderHealth)>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut validators = Validators::default();
    let mut last: Option<ProviderHealth> = None;
    // The interval, varied by up to ±jitter so feeds sharing an interval drift apart, and
    // stretched (never cut) by a `Retry-After`, which has no cap here (as before).
    let policy = Policy::every(poller.interval)
        .jittered(poller.jitter)
        .asked(Asked::AtLeast(Duration::MAX));
    loop {
        let result = source.fetch(&poller.spec, &validators).await;
        let mut asked = None;
        let health = match result {
            Ok(Fetched::Changed {
                health,
                validators: fresh,
            }) => {
                validators = fresh;
                health
            }
            Ok(Fetched::NotModified) => match &last {
                Some(previous) => ProviderHealth {
                    fetched_at: clock.now(),
                    ..previous.clone()
                },
                None => unknown(
                    &poller.spec,
                    &clock,
                    &FeedError::Malformed {
                        kind: "http",
                        detail: "304 Not Modified before any snapshot".into(),
                    },
                ),
            },
            Err(err) => {
                if let FeedError::RateLimited {
                    retry_after_secs: Some(secs),
                    ..
                } = err
                {
                    asked = Some(Duration::from_secs(secs));
                }
                unknown(&poller.spec, &clock, &err)
            }
        };
        if health.level != HealthLevel::Unknown {
            last = Some(health.clone());
        }
        if tx.send((poller.index, health)).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(policy.delay(1, asked)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

fn unknown(spec: &FeedSpec, clock: &Arc<dyn Clock>, err: &FeedError) -> ProviderHealth {
    ProviderHealth::unknown(spec.kind, &spec.url, clock.now(), err)
}
