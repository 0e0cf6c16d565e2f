//! The watcher's decisions, pure: successive `ProviderHealth` observations in, effects out
//! (events to record, alerts to post, edit or close). No I/O and no clock of its own, so
//! debounce, flapping and confirmation are unit-tested in milliseconds.
//!
//! Rules:
//! - a feed's level changes only after `debounce` consecutive observations agree;
//! - `unknown` (unreadable) never moves a level: it starts a timer, and a "feed unreadable"
//!   notice is posted once after `unreadable_after`;
//! - `flap_changes` level changes within `flap_window` mark a feed as flapping: one notice,
//!   and it neither opens nor closes alerts until it has been still for a window;
//! - a provider gets one alert per outage: opened when a feed reaches `degraded` or worse,
//!   **confirmed** when two of its feeds agree, edited as levels and vendor incidents change,
//!   and closed by one recovery notice when every feed is back.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

use super::{ProviderHealth, VendorIncident};
use crate::domain::HealthLevel;
use crate::events::{
    FeedFlapping, FeedLevelChanged, FeedObserved, FeedReadable, FeedSettled, FeedUnreadable,
    Payload, VendorIncidentChanged,
};

/// Tunables, from `[watch]` in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSettings {
    pub debounce: u32,
    pub flap_changes: usize,
    pub flap_window: Duration,
    pub unreadable_after: Duration,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            debounce: 2,
            flap_changes: 4,
            flap_window: Duration::minutes(30),
            unreadable_after: Duration::minutes(5),
        }
    }
}

/// One watched feed, as the monitor knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedInfo {
    pub name: String,
    pub provider: String,
}

/// A provider's alert as it should currently read.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertView {
    /// Stable for the whole outage; carried by the alert's buttons.
    pub alert_id: String,
    pub provider: String,
    pub level: HealthLevel,
    pub confirmed: bool,
    /// Each feed of the provider and its current level.
    pub sources: Vec<(String, HealthLevel)>,
    pub incidents: Vec<VendorIncident>,
    pub opened_at: DateTime<Utc>,
}

/// What the watcher must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Append an event (actor `feed:<feed>`, or the bot when `feed` is `None`).
    Record {
        feed: Option<String>,
        payload: Payload,
    },
    /// Post a new alert in the incident channel.
    OpenAlert(AlertView),
    /// Edit the provider's open alert.
    UpdateAlert(AlertView),
    /// Reply under the provider's open alert (a vendor incident update).
    AlertReply { provider: String, text: String },
    /// Post the recovery notice and close the alert.
    Recovered { alert: AlertView, at: DateTime<Utc> },
    /// A notice that is not an outage alert (unreadable feed, flapping).
    Notice { feed: String, text: String },
}

#[derive(Debug, Clone, Default)]
struct FeedState {
    stable: Option<HealthLevel>,
    candidate: Option<(HealthLevel, u32)>,
    last_raw: Option<HealthLevel>,
    incidents: BTreeMap<String, VendorIncident>,
    unreadable_since: Option<DateTime<Utc>>,
    unreadable_reported: bool,
    changes: VecDeque<DateTime<Utc>>,
    flapping: bool,
}

impl FeedState {
    /// The level this feed contributes to its provider's alert; `None` while it is flapping
    /// or has not settled yet.
    fn settled(&self) -> Option<HealthLevel> {
        if self.flapping { None } else { self.stable }
    }
}

/// The feed an observation is about, for the events and notices it gives.
struct FeedEvents {
    feed: String,
    provider: String,
}

impl FeedEvents {
    /// An event recorded as the feed's.
    fn record(&self, payload: Payload) -> Effect {
        Effect::Record {
            feed: Some(self.feed.clone()),
            payload,
        }
    }

    fn notice(&self, text: String) -> Effect {
        Effect::Notice {
            feed: self.feed.clone(),
            text,
        }
    }
}

/// The steps of one observation, each on the feed's own state.
impl FeedState {
    /// Records the raw level when it differs from the last observation's.
    fn note_raw_level(
        &mut self,
        health: &ProviderHealth,
        about: &FeedEvents,
        effects: &mut Vec<Effect>,
    ) {
        if self.last_raw != Some(health.level) {
            effects.push(
                about.record(
                    FeedObserved {
                        provider: about.provider.clone(),
                        from: self.last_raw,
                        to: Some(health.level),
                        summary: health.summary.clone(),
                        reason: health.reason.clone(),
                    }
                    .into(),
                ),
            );
            self.last_raw = Some(health.level);
        }
    }

    /// An unreadable observation moves no level: it starts the timer, and once the feed has
    /// been unreadable for `unreadable_after` one notice says so.
    fn note_unreadable(
        &mut self,
        health: &ProviderHealth,
        now: DateTime<Utc>,
        settings: &WatchSettings,
        about: &FeedEvents,
        effects: &mut Vec<Effect>,
    ) {
        let since = *self.unreadable_since.get_or_insert(now);
        if self.unreadable_reported || now - since < settings.unreadable_after {
            return;
        }
        self.unreadable_reported = true;
        let reason = health.reason.clone().unwrap_or_else(|| "unknown".into());
        effects.push(
            about.record(
                FeedUnreadable {
                    provider: about.provider.clone(),
                    since: Some(since),
                    reason: reason.clone(),
                }
                .into(),
            ),
        );
        let FeedEvents { feed, provider } = about;
        effects.push(about.notice(format!(
            "Feed `{feed}` ({provider}) has been unreadable since {}: {reason}. Its last known level stands; check the source.",
            since.format("%H:%M UTC")
        )));
    }

    /// A readable observation stops the unreadable timer, and says so if it had been reported.
    fn note_readable_again(&mut self, about: &FeedEvents, effects: &mut Vec<Effect>) {
        if self.unreadable_since.take().is_some() && self.unreadable_reported {
            self.unreadable_reported = false;
            effects.push(
                about.record(
                    FeedReadable {
                        provider: about.provider.clone(),
                    }
                    .into(),
                ),
            );
            let FeedEvents { feed, provider } = about;
            effects.push(about.notice(format!("Feed `{feed}` ({provider}) is readable again.")));
        }
    }

    /// Records the vendor incidents opened, updated or resolved, and keeps them; whether the
    /// provider's open alert must be edited to show them.
    fn follow_vendor_incidents(
        &mut self,
        health: &ProviderHealth,
        alert_open: bool,
        about: &FeedEvents,
        effects: &mut Vec<Effect>,
    ) -> bool {
        effects.extend(diff_incidents(
            self,
            &about.feed,
            &about.provider,
            health,
            alert_open,
        ));
        // Keep the alert's incident list current even without a level change.
        let alert_changed =
            (!health.incidents.is_empty() || !self.incidents.is_empty()) && alert_open;
        self.incidents = health
            .incidents
            .iter()
            .map(|i| (i.id.clone(), i.clone()))
            .collect();
        alert_changed
    }

    /// Settles the level once `debounce` observations in a row agree, recording the signal
    /// the change gives; whether the settled level changed.
    fn debounce_level(
        &mut self,
        health: &ProviderHealth,
        now: DateTime<Utc>,
        settings: &WatchSettings,
        about: &FeedEvents,
        effects: &mut Vec<Effect>,
    ) -> bool {
        let level = health.level;
        if self.stable == Some(level) {
            self.candidate = None;
            return false;
        }
        let count = match self.candidate {
            Some((l, n)) if l == level => n + 1,
            _ => 1,
        };
        self.candidate = Some((level, count));
        if count < settings.debounce {
            return false;
        }
        self.candidate = None;
        let from = self.stable.replace(level);
        let change = FeedLevelChanged {
            provider: about.provider.clone(),
            from,
            to: Some(level),
            summary: health.summary.clone(),
        };
        if let Some(signal) = signal(change) {
            effects.push(about.record(signal));
        }
        if from.is_some() {
            self.changes.push_back(now);
        }
        true
    }

    /// Flapping: too many settled changes within the window hold the feed's alerts, until it
    /// has been still for a window; whether the feed started or stopped flapping.
    fn track_flapping(
        &mut self,
        now: DateTime<Utc>,
        settings: &WatchSettings,
        about: &FeedEvents,
        effects: &mut Vec<Effect>,
    ) -> bool {
        while self
            .changes
            .front()
            .is_some_and(|t| now - *t > settings.flap_window)
        {
            self.changes.pop_front();
        }
        if !self.flapping && self.changes.len() >= settings.flap_changes {
            self.flapping = true;
            effects.push(
                about.record(
                    FeedFlapping {
                        provider: about.provider.clone(),
                        changes: self.changes.len(),
                        window_secs: settings.flap_window.num_seconds(),
                    }
                    .into(),
                ),
            );
            let FeedEvents { feed, provider } = about;
            effects.push(about.notice(format!(
                "Feed `{feed}` ({provider}) is flapping: {} level changes within {} minutes. Alerts from it are held until it settles.",
                self.changes.len(),
                settings.flap_window.num_minutes()
            )));
            true
        } else if self.flapping && self.changes.is_empty() {
            self.flapping = false;
            effects.push(
                about.record(
                    FeedSettled {
                        provider: about.provider.clone(),
                        level: self.stable,
                    }
                    .into(),
                ),
            );
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
pub struct Monitor {
    settings: WatchSettings,
    feeds: Vec<(FeedInfo, FeedState)>,
    alerts: BTreeMap<String, AlertView>,
}

fn is_bad(level: HealthLevel) -> bool {
    level >= HealthLevel::Degraded
}

impl Monitor {
    pub fn new(settings: WatchSettings, feeds: Vec<FeedInfo>) -> Self {
        Self {
            settings,
            feeds: feeds
                .into_iter()
                .map(|f| (f, FeedState::default()))
                .collect(),
            alerts: BTreeMap::new(),
        }
    }

    /// Restores an alert that was open before a restart, so it is edited rather than posted again.
    pub fn restore_alert(&mut self, alert: AlertView) {
        self.alerts.insert(alert.provider.clone(), alert);
    }

    pub fn open_alert(&self, provider: &str) -> Option<&AlertView> {
        self.alerts.get(provider)
    }

    /// The current settled level of every feed (for `/dr status`).
    pub fn levels(&self) -> Vec<(&FeedInfo, Option<HealthLevel>)> {
        self.feeds.iter().map(|(f, s)| (f, s.stable)).collect()
    }

    /// One observation of feed `index` at `now`: the raw level recorded when it moves, then
    /// either the unreadable timer (an `unknown` level) or the feed's vendor incidents and
    /// debounced level, then flapping; the provider's alert is re-evaluated when any of that
    /// may change it.
    pub fn observe(
        &mut self,
        index: usize,
        health: &ProviderHealth,
        now: DateTime<Utc>,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        let settings = self.settings.clone();
        let Some((info, state)) = self.feeds.get_mut(index) else {
            return effects;
        };
        let about = FeedEvents {
            feed: info.name.clone(),
            provider: info.provider.clone(),
        };
        let alert_open = self.alerts.contains_key(&about.provider);

        state.note_raw_level(health, &about, &mut effects);
        let mut provider_changed = false;
        if health.level == HealthLevel::Unknown {
            state.note_unreadable(health, now, &settings, &about, &mut effects);
        } else {
            state.note_readable_again(&about, &mut effects);
            provider_changed |=
                state.follow_vendor_incidents(health, alert_open, &about, &mut effects);
            provider_changed |= state.debounce_level(health, now, &settings, &about, &mut effects);
        }
        provider_changed |= state.track_flapping(now, &settings, &about, &mut effects);

        if provider_changed {
            effects.extend(self.evaluate_provider(&about.provider, now));
        }
        effects
    }

    /// Opens, updates or closes the provider's alert from its feeds' settled levels.
    fn evaluate_provider(&mut self, provider: &str, now: DateTime<Utc>) -> Vec<Effect> {
        let feeds: Vec<&(FeedInfo, FeedState)> = self
            .feeds
            .iter()
            .filter(|(f, _)| f.provider == provider)
            .collect();
        let sources: Vec<(String, HealthLevel)> = feeds
            .iter()
            .map(|(f, s)| (f.name.clone(), s.stable.unwrap_or(HealthLevel::Unknown)))
            .collect();
        let bad: Vec<HealthLevel> = feeds
            .iter()
            .filter_map(|(_, s)| s.settled())
            .filter(|l| is_bad(*l))
            .collect();
        let incidents: Vec<VendorIncident> = feeds
            .iter()
            .flat_map(|(_, s)| s.incidents.values().cloned())
            .collect();
        // Recovery needs every non-flapping feed settled and fine, and none still flapping.
        let all_fine = feeds
            .iter()
            .all(|(_, s)| !s.flapping && s.stable.is_none_or(|l| !is_bad(l)));
        let level = bad.iter().copied().max();
        let confirmed = bad.len() >= 2;

        match (self.alerts.get(provider).cloned(), level) {
            (None, Some(level)) => {
                let alert = AlertView {
                    alert_id: format!("{provider}-{}", now.format("%Y%m%d%H%M%S")),
                    provider: provider.to_owned(),
                    level,
                    confirmed,
                    sources,
                    incidents,
                    opened_at: now,
                };
                self.alerts.insert(provider.to_owned(), alert.clone());
                vec![Effect::OpenAlert(alert)]
            }
            (Some(mut alert), Some(level)) => {
                let changed = alert.level != level
                    || alert.confirmed != confirmed
                    || alert.sources != sources
                    || alert.incidents != incidents;
                if !changed {
                    return Vec::new();
                }
                alert.level = level;
                // Once two sources agreed, the alert stays confirmed for this outage.
                alert.confirmed |= confirmed;
                alert.sources = sources;
                alert.incidents = incidents;
                self.alerts.insert(provider.to_owned(), alert.clone());
                vec![Effect::UpdateAlert(alert)]
            }
            (Some(mut alert), None) if all_fine => {
                self.alerts.remove(provider);
                alert.sources = sources;
                alert.incidents = incidents;
                vec![Effect::Recovered { alert, at: now }]
            }
            _ => Vec::new(),
        }
    }
}

/// The settled signal a level change gives, by where it goes: an outage, a degradation, a
/// recovery (from a bad level) or maintenance; none for a change to health from nothing.
fn signal(change: FeedLevelChanged) -> Option<Payload> {
    let was_bad = change.from.is_some_and(is_bad);
    Some(match change.to? {
        HealthLevel::PartialOutage | HealthLevel::MajorOutage => Payload::FeedOutage(change),
        HealthLevel::Degraded => Payload::FeedDegraded(change),
        HealthLevel::Operational | HealthLevel::Maintenance if was_bad => {
            Payload::FeedRecovered(change)
        }
        HealthLevel::Maintenance => Payload::FeedMaintenance(change),
        _ => return None,
    })
}

/// Vendor incidents opened, updated or resolved since the last readable observation.
fn diff_incidents(
    state: &FeedState,
    feed: &str,
    provider: &str,
    health: &ProviderHealth,
    alert_open: bool,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    let record =
        |variant: fn(VendorIncidentChanged) -> Payload, incident: &VendorIncident| Effect::Record {
            feed: Some(feed.to_owned()),
            payload: variant(VendorIncidentChanged {
                provider: provider.to_owned(),
                incident: Some(incident.clone()),
            }),
        };
    for incident in &health.incidents {
        match state.incidents.get(&incident.id) {
            None => effects.push(record(Payload::VendorIncidentOpened, incident)),
            Some(old)
                if old.status != incident.status
                    || old.latest_update != incident.latest_update
                    || old.impact != incident.impact =>
            {
                effects.push(record(Payload::VendorIncidentUpdated, incident));
                if alert_open {
                    effects.push(Effect::AlertReply {
                        provider: provider.to_owned(),
                        text: format!(
                            "{} update on \"{}\": {}{}",
                            provider,
                            incident.title,
                            incident.status,
                            incident
                                .latest_update
                                .as_deref()
                                .map(|u| format!(" — {u}"))
                                .unwrap_or_default()
                        ),
                    });
                }
            }
            Some(_) => {}
        }
    }
    for (id, old) in &state.incidents {
        if !health.incidents.iter().any(|i| &i.id == id) {
            effects.push(record(Payload::VendorIncidentResolved, old));
        }
    }
    effects
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthLevel::*;

    fn health(level: HealthLevel) -> ProviderHealth {
        ProviderHealth {
            kind: "heroku".into(),
            url: "http://127.0.0.1/".into(),
            level,
            summary: level.to_string(),
            incidents: Vec::new(),
            components: Vec::new(),
            fetched_at: Utc::now(),
            reason: (level == Unknown).then(|| "timed out after 10s".into()),
        }
    }

    fn incident(id: &str, status: &str) -> VendorIncident {
        VendorIncident {
            id: id.into(),
            title: "API errors".into(),
            status: status.into(),
            impact: MajorOutage,
            started_at: None,
            updated_at: None,
            url: None,
            latest_update: Some(format!("we are {status}")),
        }
    }

    fn monitor() -> Monitor {
        Monitor::new(
            WatchSettings::default(),
            vec![
                FeedInfo {
                    name: "heroku-status".into(),
                    provider: "heroku".into(),
                },
                FeedInfo {
                    name: "app-probe".into(),
                    provider: "heroku".into(),
                },
            ],
        )
    }

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn alerts(effects: &[Effect]) -> Vec<&Effect> {
        effects
            .iter()
            .filter(|e| !matches!(e, Effect::Record { .. }))
            .collect()
    }

    fn kinds(effects: &[Effect]) -> Vec<&'static str> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Record { payload, .. } => payload.kind().map(|k| k.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_single_blip_does_nothing() {
        let mut m = monitor();
        m.observe(0, &health(Operational), t(0));
        m.observe(0, &health(Operational), t(1));
        let effects = m.observe(0, &health(MajorOutage), t(2));
        assert!(alerts(&effects).is_empty());
        let effects = m.observe(0, &health(Operational), t(3));
        assert!(alerts(&effects).is_empty());
        assert!(!kinds(&effects).contains(&"feed.recovered"));
    }

    #[test]
    fn two_observations_open_an_unconfirmed_alert_and_the_probe_confirms_it() {
        let mut m = monitor();
        for i in 0..2 {
            m.observe(0, &health(Operational), t(i));
            m.observe(1, &health(Operational), t(i));
        }
        assert!(
            m.observe(0, &health(MajorOutage), t(2))
                .iter()
                .all(|e| !matches!(e, Effect::OpenAlert(_)))
        );
        let effects = m.observe(0, &health(MajorOutage), t(3));
        let opened = effects.iter().find_map(|e| match e {
            Effect::OpenAlert(a) => Some(a),
            _ => None,
        });
        let alert = opened.expect("alert opened");
        assert!(!alert.confirmed);
        assert_eq!(alert.level, MajorOutage);
        assert!(kinds(&effects).contains(&"feed.outage"));

        m.observe(1, &health(MajorOutage), t(3));
        let effects = m.observe(1, &health(MajorOutage), t(4));
        match alerts(&effects).as_slice() {
            [Effect::UpdateAlert(a)] => assert!(a.confirmed),
            other => panic!("expected one update, got {other:?}"),
        }
        // Still down: nothing new.
        assert!(alerts(&m.observe(0, &health(MajorOutage), t(5))).is_empty());
    }

    #[test]
    fn recovery_needs_every_feed_back_and_is_posted_once() {
        let mut m = monitor();
        for i in 0..2 {
            m.observe(0, &health(MajorOutage), t(i));
            m.observe(1, &health(MajorOutage), t(i));
        }
        assert!(m.open_alert("heroku").is_some_and(|a| a.confirmed));
        for i in 2..4 {
            let effects = m.observe(0, &health(Operational), t(i));
            assert!(
                !effects
                    .iter()
                    .any(|e| matches!(e, Effect::Recovered { .. }))
            );
        }
        m.observe(1, &health(Operational), t(4));
        let effects = m.observe(1, &health(Operational), t(5));
        assert_eq!(
            effects
                .iter()
                .filter(|e| matches!(e, Effect::Recovered { .. }))
                .count(),
            1
        );
        assert!(m.open_alert("heroku").is_none());
        assert!(alerts(&m.observe(1, &health(Operational), t(6))).is_empty());
    }

    #[test]
    fn unreadable_never_alerts_but_is_noticed_once_after_the_delay() {
        let mut m = monitor();
        m.observe(0, &health(Operational), t(0));
        m.observe(0, &health(Operational), t(1));
        let mut notices = 0;
        for i in 2..20 {
            let effects = m.observe(0, &health(Unknown), t(i));
            assert!(!effects.iter().any(|e| matches!(e, Effect::OpenAlert(_))));
            notices += effects
                .iter()
                .filter(|e| matches!(e, Effect::Notice { .. }))
                .count();
            if i < 7 {
                assert_eq!(notices, 0, "too early at minute {i}");
            }
        }
        assert_eq!(notices, 1);
        let effects = m.observe(0, &health(Operational), t(21));
        assert!(kinds(&effects).contains(&"feed.readable"));
    }

    #[test]
    fn flapping_is_reported_once_and_holds_alerts() {
        let mut m = Monitor::new(
            WatchSettings {
                debounce: 1,
                ..WatchSettings::default()
            },
            vec![FeedInfo {
                name: "f".into(),
                provider: "p".into(),
            }],
        );
        let mut flapping = 0;
        let mut opened_while_flapping = 0;
        for i in 0..12 {
            let level = if i % 2 == 0 { Operational } else { MajorOutage };
            let effects = m.observe(0, &health(level), t(i));
            if flapping > 0 {
                opened_while_flapping += effects
                    .iter()
                    .filter(|e| matches!(e, Effect::OpenAlert(_) | Effect::Recovered { .. }))
                    .count();
            }
            flapping += kinds(&effects)
                .iter()
                .filter(|k| **k == "feed.flapping")
                .count();
        }
        assert_eq!(flapping, 1);
        assert_eq!(
            opened_while_flapping, 0,
            "a flapping feed neither opens nor closes alerts"
        );
        // Still for a whole window: settles, and the alert recovers once.
        m.observe(0, &health(Operational), t(12));
        let effects = m.observe(0, &health(Operational), t(60));
        assert!(kinds(&effects).contains(&"feed.settled"), "{effects:?}");
        assert_eq!(
            effects
                .iter()
                .filter(|e| matches!(e, Effect::Recovered { .. }))
                .count(),
            1
        );
    }

    #[test]
    fn vendor_incidents_are_recorded_and_updates_reply_to_the_alert() {
        let mut m = monitor();
        let mut down = health(MajorOutage);
        down.incidents = vec![incident("abc", "investigating")];
        let effects = m.observe(0, &down, t(0));
        assert!(kinds(&effects).contains(&"vendor.incident_opened"));
        m.observe(0, &down, t(1));
        assert!(m.open_alert("heroku").is_some());
        // Same incident again: nothing.
        assert!(!kinds(&m.observe(0, &down, t(2))).contains(&"vendor.incident_opened"));
        down.incidents = vec![incident("abc", "identified")];
        let effects = m.observe(0, &down, t(3));
        assert!(kinds(&effects).contains(&"vendor.incident_updated"));
        assert!(
            effects.iter().any(
                |e| matches!(e, Effect::AlertReply { text, .. } if text.contains("identified"))
            )
        );
        let effects = m.observe(0, &health(Operational), t(4));
        assert!(kinds(&effects).contains(&"vendor.incident_resolved"));
    }

    #[test]
    fn maintenance_is_not_an_outage() {
        let mut m = monitor();
        for i in 0..3 {
            let effects = m.observe(0, &health(Maintenance), t(i));
            assert!(!effects.iter().any(|e| matches!(e, Effect::OpenAlert(_))));
        }
    }
}
