//! Lifeboat's own metrics, for `GET /metrics` in the Prometheus/OpenMetrics text format.
//!
//! One registry for the process, reached through [`global`]: the call sites that count (the
//! watcher, the engine, the bot, the chat adapters, the store) are far apart and already
//! built by other constructors, and threading a handle through every one of them would buy
//! nothing but churn. Metrics only count; no decision reads them.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::domain::HealthLevel;

/// The content type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FeedLabels {
    pub feed: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabels {
    pub provider: String,
    /// `posted`, `updated`, `recovered`, `failed`.
    pub event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunLabels {
    pub runbook: String,
    /// `succeeded`, `failed`, `aborted`, `cancelled`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub kind: String,
    /// `succeeded` or `failed`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdapterLabels {
    /// `discord` or `console`.
    pub adapter: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LeaseLabels {
    /// `acquired` or `lost`.
    pub change: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

/// Every metric Lifeboat exports.
pub struct Metrics {
    registry: Registry,
    feed_polls: Family<FeedLabels, Counter>,
    feed_failures: Family<FeedLabels, Counter>,
    provider_level: Family<ProviderLabels, Gauge>,
    alerts: Family<AlertLabels, Counter>,
    runs: Family<RunLabels, Counter>,
    step_duration: HistogramFamily<StepLabels>,
    approval_wait: Histogram,
    chat_ack: HistogramFamily<AdapterLabels>,
    events_appended: Counter,
    append_failures: Counter,
    backups: Family<OutcomeLabels, Counter>,
    last_backup: Gauge,
    lease_changes: Family<LeaseLabels, Counter>,
    replication_lag: Gauge,
    fenced_appends: Counter,
}

/// Seconds, from 10 ms to about 3 h: steps range from an HTTP check to a database restore.
fn long_buckets() -> impl Iterator<Item = f64> {
    [
        0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 10800.0,
    ]
    .into_iter()
}

/// Seconds, from 1 ms to 10 s: Discord wants an acknowledgement within 3 s.
fn ack_buckets() -> impl Iterator<Item = f64> {
    [
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0,
    ]
    .into_iter()
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("lifeboat");
        let feed_polls = Family::<FeedLabels, Counter>::default();
        registry.register(
            "feed_polls",
            "Status feed polls, by feed",
            feed_polls.clone(),
        );
        let feed_failures = Family::<FeedLabels, Counter>::default();
        registry.register(
            "feed_poll_failures",
            "Status feed polls that could not be read or parsed, by feed",
            feed_failures.clone(),
        );
        let provider_level = Family::<ProviderLabels, Gauge>::default();
        registry.register(
            "provider_level",
            "Settled health level per provider: -1 unknown, 0 operational, 1 maintenance, 2 degraded, 3 partial outage, 4 major outage",
            provider_level.clone(),
        );
        let alerts = Family::<AlertLabels, Counter>::default();
        registry.register(
            "alerts",
            "Alerts in the incident channel, by provider and event (posted, updated, recovered, failed)",
            alerts.clone(),
        );
        let runs = Family::<RunLabels, Counter>::default();
        registry.register(
            "runs",
            "Finished runbook runs, by runbook and outcome",
            runs.clone(),
        );
        let step_duration: HistogramFamily<StepLabels> =
            Family::new_with_constructor(|| Histogram::new(long_buckets()));
        registry.register(
            "step_duration_seconds",
            "Runbook step durations (all attempts), by step kind and outcome",
            step_duration.clone(),
        );
        let approval_wait = Histogram::new(long_buckets());
        registry.register(
            "approval_wait_seconds",
            "Time from a run request to the approval that started it",
            approval_wait.clone(),
        );
        let chat_ack: HistogramFamily<AdapterLabels> =
            Family::new_with_constructor(|| Histogram::new(ack_buckets()));
        registry.register(
            "chat_ack_seconds",
            "Time from receiving a chat command to acknowledging it, by adapter",
            chat_ack.clone(),
        );
        let events_appended = Counter::default();
        registry.register(
            "events_appended",
            "Events appended to the event log",
            events_appended.clone(),
        );
        let append_failures = Counter::default();
        registry.register(
            "event_append_failures",
            "Appends the event log refused",
            append_failures.clone(),
        );
        let backups = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "backups",
            "Scheduled backups of the event log, by outcome",
            backups.clone(),
        );
        let last_backup = Gauge::default();
        registry.register(
            "last_backup_timestamp_seconds",
            "Unix time of the last successful scheduled backup (0: none yet)",
            last_backup.clone(),
        );
        let lease_changes = Family::<LeaseLabels, Counter>::default();
        registry.register(
            "ha_lease_changes",
            "Changes of this node's hold on the [ha] lease: acquired or lost",
            lease_changes.clone(),
        );
        let replication_lag = Gauge::default();
        registry.register(
            "ha_replication_lag_events",
            "Events in the [ha] table not yet in this node's local log",
            replication_lag.clone(),
        );
        let fenced_appends = Counter::default();
        registry.register(
            "ha_fenced_appends",
            "Appends the [ha] table refused because this node no longer held the lease at its epoch",
            fenced_appends.clone(),
        );
        Self {
            registry,
            feed_polls,
            feed_failures,
            provider_level,
            alerts,
            runs,
            step_duration,
            approval_wait,
            chat_ack,
            events_appended,
            append_failures,
            backups,
            last_backup,
            lease_changes,
            replication_lag,
            fenced_appends,
        }
    }
}

/// Histograms need their buckets: a family builds each labelled one with this.
type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// The exposition text of every metric.
pub fn encode() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &global().registry);
    out
}

/// Where a component's metrics go: the process registry, or nowhere. Components that also
/// run inside a drill (the watcher, the engine, the store) hold one, so that a drill in the
/// live process never moves the live series (a simulated outage must not page anyone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorder {
    live: bool,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::live()
    }
}

impl Recorder {
    /// Records into the process registry.
    pub const fn live() -> Self {
        Self { live: true }
    }

    /// Records nothing (drills).
    pub const fn off() -> Self {
        Self { live: false }
    }

    pub fn is_live(self) -> bool {
        self.live
    }

    pub fn feed_polled(self, feed: &str, ok: bool) {
        if self.live {
            feed_polled(feed, ok);
        }
    }

    pub fn provider_level(self, provider: &str, level: HealthLevel) {
        if self.live {
            provider_level(provider, level);
        }
    }

    pub fn alert(self, provider: &str, event: &str) {
        if self.live {
            alert(provider, event);
        }
    }

    pub fn run_finished(self, runbook: &str, outcome: &str) {
        if self.live {
            run_finished(runbook, outcome);
        }
    }

    pub fn step_finished(self, kind: &str, outcome: &str, took: Duration) {
        if self.live {
            step_finished(kind, outcome, took);
        }
    }

    pub fn events_appended(self, n: usize) {
        if self.live {
            events_appended(n);
        }
    }

    pub fn append_failed(self) {
        if self.live {
            append_failed();
        }
    }

    /// The `[ha]` lease was `acquired` or `lost` by this node.
    pub fn lease_changed(self, change: &str) {
        if self.live {
            global()
                .lease_changes
                .get_or_create(&LeaseLabels {
                    change: change.to_owned(),
                })
                .inc();
        }
    }

    /// Events in the `[ha]` table this node has not applied yet.
    pub fn replication_lag(self, events: u64) {
        if self.live {
            global()
                .replication_lag
                .set(i64::try_from(events).unwrap_or(i64::MAX));
        }
    }

    /// An append the `[ha]` table refused: the lease is no longer this node's at its epoch.
    pub fn append_fenced(self) {
        if self.live {
            global().fenced_appends.inc();
        }
    }
}

/// The gauge value of a health level; ordered like the levels, unknown below all.
pub fn level_value(level: HealthLevel) -> i64 {
    match level {
        HealthLevel::Unknown => -1,
        HealthLevel::Operational => 0,
        HealthLevel::Maintenance => 1,
        HealthLevel::Degraded => 2,
        HealthLevel::PartialOutage => 3,
        HealthLevel::MajorOutage => 4,
    }
}

/// Creates every series whose labels are known at start (at zero), so that each family is
/// exported, and `rate()` works, before the first event of its kind.
pub fn prime(feeds: &[&str], providers: &[&str], runbooks: &[(&str, Vec<&str>)], adapter: &str) {
    let m = global();
    for feed in feeds {
        let labels = FeedLabels {
            feed: (*feed).to_owned(),
        };
        let _ = m.feed_polls.get_or_create(&labels);
        let _ = m.feed_failures.get_or_create(&labels);
    }
    for provider in providers {
        for event in ["posted", "updated", "recovered", "failed"] {
            let _ = m.alerts.get_or_create(&AlertLabels {
                provider: (*provider).to_owned(),
                event: event.to_owned(),
            });
        }
    }
    for (runbook, kinds) in runbooks {
        for outcome in ["succeeded", "failed", "aborted", "cancelled"] {
            let _ = m.runs.get_or_create(&RunLabels {
                runbook: (*runbook).to_owned(),
                outcome: outcome.to_owned(),
            });
        }
        for kind in kinds {
            for outcome in ["succeeded", "failed"] {
                let _ = m.step_duration.get_or_create(&StepLabels {
                    kind: (*kind).to_owned(),
                    outcome: outcome.to_owned(),
                });
            }
        }
    }
    let _ = m.chat_ack.get_or_create(&AdapterLabels {
        adapter: adapter.to_owned(),
    });
    for outcome in ["succeeded", "failed"] {
        let _ = m.backups.get_or_create(&OutcomeLabels {
            outcome: outcome.to_owned(),
        });
    }
    for change in ["acquired", "lost"] {
        let _ = m.lease_changes.get_or_create(&LeaseLabels {
            change: change.to_owned(),
        });
    }
}

/// One poll of a feed, readable or not.
pub fn feed_polled(feed: &str, ok: bool) {
    let labels = FeedLabels {
        feed: feed.to_owned(),
    };
    let m = global();
    m.feed_polls.get_or_create(&labels).inc();
    if !ok {
        m.feed_failures.get_or_create(&labels).inc();
    }
}

/// A provider's settled level, after each observation.
pub fn provider_level(provider: &str, level: HealthLevel) {
    global()
        .provider_level
        .get_or_create(&ProviderLabels {
            provider: provider.to_owned(),
        })
        .set(level_value(level));
}

/// An alert posted, updated, recovered or failed to post.
pub fn alert(provider: &str, event: &str) {
    global()
        .alerts
        .get_or_create(&AlertLabels {
            provider: provider.to_owned(),
            event: event.to_owned(),
        })
        .inc();
}

/// A run that reached its end.
pub fn run_finished(runbook: &str, outcome: &str) {
    global()
        .runs
        .get_or_create(&RunLabels {
            runbook: runbook.to_owned(),
            outcome: outcome.to_owned(),
        })
        .inc();
}

/// A step that ended, with how long it took.
pub fn step_finished(kind: &str, outcome: &str, took: Duration) {
    global()
        .step_duration
        .get_or_create(&StepLabels {
            kind: kind.to_owned(),
            outcome: outcome.to_owned(),
        })
        .observe(took.as_secs_f64());
}

/// How long a run request waited for the approval that started it.
pub fn approval_waited(waited: Duration) {
    global().approval_wait.observe(waited.as_secs_f64());
}

/// How long a chat adapter took to acknowledge a command.
pub fn chat_acknowledged(adapter: &str, took: Duration) {
    global()
        .chat_ack
        .get_or_create(&AdapterLabels {
            adapter: adapter.to_owned(),
        })
        .observe(took.as_secs_f64());
}

/// Events the log accepted, or one append it refused.
pub fn events_appended(n: usize) {
    global().events_appended.inc_by(n as u64);
}

pub fn append_failed() {
    global().append_failures.inc();
}

/// A scheduled backup's outcome; a success also stamps the last-backup gauge.
pub fn backup(ok: bool) {
    let m = global();
    let outcome = if ok { "succeeded" } else { "failed" };
    m.backups
        .get_or_create(&OutcomeLabels {
            outcome: outcome.to_owned(),
        })
        .inc();
    if ok {
        m.last_backup.set(chrono::Utc::now().timestamp());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_exported_with_its_help() {
        prime(
            &["unit-feed"],
            &["unit-provider"],
            &[("unit-runbook", vec!["unit_kind"])],
            "unit",
        );
        feed_polled("unit-feed", false);
        provider_level("unit-provider", HealthLevel::PartialOutage);
        step_finished("unit_kind", "succeeded", Duration::from_millis(20));
        chat_acknowledged("unit", Duration::from_millis(2));
        let text = encode();
        for family in [
            "lifeboat_feed_polls_total",
            "lifeboat_feed_poll_failures_total",
            "lifeboat_provider_level",
            "lifeboat_alerts",
            "lifeboat_runs",
            "lifeboat_step_duration_seconds",
            "lifeboat_approval_wait_seconds",
            "lifeboat_chat_ack_seconds",
            "lifeboat_events_appended_total",
            "lifeboat_backups",
            "lifeboat_ha_lease_changes_total",
            "lifeboat_ha_replication_lag_events",
            "lifeboat_ha_fenced_appends_total",
        ] {
            assert!(text.contains(family), "{family} missing:\n{text}");
        }
        assert!(text.contains(r#"lifeboat_provider_level{provider="unit-provider"} 3"#));
        assert!(
            text.contains(r#"lifeboat_runs_total{runbook="unit-runbook",outcome="aborted"} 0"#),
            "{text}"
        );
        assert!(text.contains(
            r#"lifeboat_step_duration_seconds_bucket{le="0.05",kind="unit_kind",outcome="succeeded"} 1"#
        ) || text.contains(r#"lifeboat_step_duration_seconds_bucket{kind="unit_kind",outcome="succeeded",le="0.05"} 1"#), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn an_off_recorder_leaves_the_registry_alone() {
        Recorder::live().provider_level("unit-recorder", HealthLevel::Operational);
        let off = Recorder::off();
        off.provider_level("unit-recorder", HealthLevel::MajorOutage);
        off.alert("unit-recorder", "posted");
        off.feed_polled("unit-recorder-feed", true);
        off.run_finished("unit-recorder-runbook", "succeeded");
        let text = encode();
        assert!(
            text.contains(r#"lifeboat_provider_level{provider="unit-recorder"} 0"#),
            "{text}"
        );
        assert!(
            !text.contains(r#"provider="unit-recorder",event="posted""#),
            "{text}"
        );
        assert!(!text.contains("unit-recorder-feed"), "{text}");
        assert!(!text.contains("unit-recorder-runbook"), "{text}");
        assert!(Recorder::default().is_live());
    }

    #[test]
    fn levels_order_like_their_severity() {
        let levels = [
            HealthLevel::Unknown,
            HealthLevel::Operational,
            HealthLevel::Maintenance,
            HealthLevel::Degraded,
            HealthLevel::PartialOutage,
            HealthLevel::MajorOutage,
        ];
        let values: Vec<i64> = levels.into_iter().map(level_value).collect();
        assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");
    }
}
