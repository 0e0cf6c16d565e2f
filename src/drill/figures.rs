//! What a drill's figures mean. A drill polls its stand-in feeds every [`DRILL_POLL`], so the
//! detection it measures is Lifeboat's own pipeline, not how soon a real outage would be seen.
//! That is bounded by the configured intervals and the monitor's rules
//! (`crate::feeds::monitor`): a feed's level settles after `[watch] debounce` observations in
//! a row agree, and a provider's alert is confirmed once two of its feeds have settled bad.
//! [`DetectionBound`] computes that bound from the config; [`Figures`] carries a drill's
//! measured pipeline beside it, and the data-loss window only where real data was restored.
//! Pure: the drill runner, its report and the game day's debrief read these.

use std::fmt;
use std::time::Duration;

use crate::config::Config;
use crate::duration::format_elapsed;

/// How often a drill polls its stand-in feeds: fast, so a drill takes seconds. The detection a
/// drill measures includes about `debounce` of these polls instead of the configured ones.
pub const DRILL_POLL: Duration = Duration::from_millis(250);

/// One watched feed of a provider and how often it is polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Polled {
    pub feed: String,
    pub every: Duration,
}

/// How far the monitor gets with a provider's feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Two feeds or more: the alert is confirmed when the second one settles bad.
    Confirmed,
    /// One feed: an alert opens when it settles bad, but confirmation needs a second feed.
    OpenedOnly,
    /// No feed watches the provider: only people can declare its outage.
    Unwatched,
}

/// How soon after a real outage begins the configured intervals let Lifeboat see it, before
/// its own pipeline: a range, since the outage may begin just before or just after a poll.
///
/// A feed polled every `I` first sees the outage within `[0, I)` of its start, then needs
/// `debounce − 1` more polls to settle: `[(debounce − 1)·I, debounce·I)`. The alert is
/// confirmed when the second feed settles, so the range is the second smallest of the
/// feeds' lows to the second smallest of their highs. Nominal intervals: the watcher's jitter
/// (`[watch] jitter`, ±10 % by default) moves each poll a little either way, and a status page
/// the vendor updates late adds its own delay that no interval bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectionBound {
    pub provider: String,
    /// The provider's feeds, in config order.
    pub feeds: Vec<Polled>,
    /// Observations in a row a level change needs (`[watch] debounce`).
    pub polls: u32,
    pub reach: Reach,
    /// Earliest and latest the alert is confirmed (opened, for one feed) after the outage
    /// begins; zero when unwatched.
    pub low: Duration,
    pub high: Duration,
}

impl DetectionBound {
    /// The bound for `provider` under `config`'s feeds and `[watch]`.
    pub fn of(config: &Config, provider: &str) -> Self {
        let feeds: Vec<Polled> = config
            .feeds
            .iter()
            .filter(|f| f.provider == provider)
            .map(|f| Polled {
                feed: f.name.clone(),
                every: f.interval.get(),
            })
            .collect();
        Self::from_feeds(provider, feeds, config.watch.debounce)
    }

    /// The bound for `provider` watched by `feeds` with `debounce` (the pure rule).
    pub fn from_feeds(provider: &str, feeds: Vec<Polled>, debounce: u32) -> Self {
        // The monitor settles a level on the first observation when debounce is 0 or 1.
        let polls = debounce.max(1);
        let mut lows: Vec<Duration> = feeds.iter().map(|f| f.every * (polls - 1)).collect();
        let mut highs: Vec<Duration> = feeds.iter().map(|f| f.every * polls).collect();
        lows.sort();
        highs.sort();
        let (reach, nth) = match feeds.len() {
            0 => (Reach::Unwatched, None),
            1 => (Reach::OpenedOnly, Some(0)),
            _ => (Reach::Confirmed, Some(1)),
        };
        let pick = |v: &[Duration]| nth.and_then(|i| v.get(i).copied()).unwrap_or_default();
        Self {
            provider: provider.to_owned(),
            low: pick(&lows),
            high: pick(&highs),
            feeds,
            polls,
            reach,
        }
    }

    /// The range as people read it: `60–120 s`, or in milliseconds below a second.
    pub fn range(&self) -> String {
        let whole = |d: Duration| d.subsec_millis() == 0;
        if whole(self.low) && whole(self.high) && self.high >= Duration::from_secs(1) {
            format!("{}–{} s", self.low.as_secs(), self.high.as_secs())
        } else {
            format!("{}–{} ms", self.low.as_millis(), self.high.as_millis())
        }
    }
}

/// An interval as the config reads: `60s`, `250ms`.
fn every(d: Duration) -> String {
    if d.subsec_millis() == 0 && !d.is_zero() {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// `a`, `a and b`, `a, b and c`.
fn listed(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

impl fmt::Display for DetectionBound {
    /// "with heroku-status every 60s and app-probe every 30s, a real outage is confirmed
    /// within ≈ 2 polls: 60–120 s + pipeline".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let feeds: Vec<String> = self
            .feeds
            .iter()
            .map(|p| format!("{} every {}", p.feed, every(p.every)))
            .collect();
        let polls = self.polls;
        let s = if polls == 1 { "" } else { "s" };
        match self.reach {
            Reach::Unwatched => write!(
                f,
                "no feed watches {}: a real outage is seen only when people declare it",
                self.provider
            ),
            Reach::OpenedOnly => write!(
                f,
                "with {}, a real outage opens an alert within ≈ {polls} poll{s}: {} + pipeline, never confirmed (confirmation needs a second feed)",
                listed(&feeds),
                self.range()
            ),
            Reach::Confirmed => write!(
                f,
                "with {}, a real outage is confirmed within ≈ {polls} poll{s}: {} + pipeline",
                listed(&feeds),
                self.range()
            ),
        }
    }
}

/// The data-loss window of a drill: measured from restored data, or said not to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataLoss {
    /// Measured from the restored rows (`db_verify`) or a direct copy (`db_copy`).
    Measured(Duration),
    /// The runbook moves data but the drill's data was simulated: nothing to measure.
    NotMeasured,
    /// The runbook moves no data.
    NoData,
}

impl DataLoss {
    /// The window the log measured (`measured`), for a runbook that moves data or not.
    pub fn from_measured(measured: Option<Duration>, moves_data: bool) -> Self {
        match (measured, moves_data) {
            (Some(d), _) => Self::Measured(d),
            (None, true) => Self::NotMeasured,
            (None, false) => Self::NoData,
        }
    }

    pub fn measured(self) -> Option<Duration> {
        match self {
            Self::Measured(d) => Some(d),
            _ => None,
        }
    }
}

impl fmt::Display for DataLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Measured(d) => {
                write!(f, "{}, measured from the restored rows", format_elapsed(*d))
            }
            Self::NotMeasured => f.write_str("not measured (simulated data)"),
            Self::NoData => f.write_str("none (no data restored)"),
        }
    }
}

/// Lifeboat's own time in a drill, measured from its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pipeline {
    /// Simulated outage → confirmed alert, with the feeds polled every `polled_every`.
    pub detection: Option<Duration>,
    /// How often the drill polled its feeds ([`DRILL_POLL`] for an automatic drill).
    pub polled_every: Duration,
    /// First signal → the runbook verified.
    pub recovery: Option<Duration>,
}

/// A drill's figures for one provider, split by what they mean: Lifeboat's pipeline
/// (measured), the detection bound of the configured intervals (computed, not measured) and
/// the data-loss window (measured only from real data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    pub pipeline: Pipeline,
    pub bound: DetectionBound,
    pub data_loss: DataLoss,
}

impl Figures {
    /// The earliest and latest a real outage would be detected: the bound plus the pipeline's
    /// measured detection (which itself includes the drill's own, much shorter, polls).
    pub fn real_detection(&self) -> Option<(Duration, Duration)> {
        let pipeline = self.pipeline.detection?;
        (self.bound.reach != Reach::Unwatched)
            .then(|| (self.bound.low + pipeline, self.bound.high + pipeline))
    }

    /// The lines a drill report gives for these figures, each indented by two spaces.
    pub fn lines(&self) -> Vec<String> {
        let measured =
            |d: Option<Duration>| d.map_or_else(|| "not measured".to_owned(), format_elapsed);
        vec![
            format!(
                "  pipeline         {} to detect (simulated outage → confirmed alert, feeds polled every {}), {} to recover (first signal → runbook verified): Lifeboat's own time, measured",
                measured(self.pipeline.detection),
                every(self.pipeline.polled_every),
                measured(self.pipeline.recovery),
            ),
            format!(
                "  detection bound  {} (configured intervals, not measured)",
                self.bound
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toml_source::TomlSource;

    fn polled(feed: &str, secs: u64) -> Polled {
        Polled {
            feed: feed.into(),
            every: Duration::from_secs(secs),
        }
    }

    fn config(text: &str) -> Config {
        let base = "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n";
        Config::from_source(TomlSource::new("c.toml", format!("{base}{text}")))
            .unwrap_or_else(|e| panic!("{e:?}"))
            .config
    }

    const FEEDS: &str = "[[providers]]\nname = \"heroku\"\nworkstream = \"hosting\"\n\n\
        [[providers]]\nname = \"openai\"\nworkstream = \"llm\"\n\n\
        [[providers]]\nname = \"anthropic\"\nworkstream = \"llm\"\n\n\
        [[feeds]]\nname = \"heroku-status\"\nprovider = \"heroku\"\nkind = \"heroku\"\nurl = \"https://status.heroku.com\"\ninterval = \"60s\"\n\n\
        [[feeds]]\nname = \"openai-status\"\nprovider = \"openai\"\nkind = \"statuspage\"\nurl = \"https://status.openai.com\"\ninterval = \"60s\"\n\n\
        [[feeds]]\nname = \"heroku-probe\"\nprovider = \"heroku\"\nkind = \"probe\"\nurl = \"https://app.example.com/health\"\ninterval = \"30s\"\n";

    #[test]
    fn two_feeds_confirm_when_the_slower_settles() {
        let bound = DetectionBound::of(&config(FEEDS), "heroku");
        assert_eq!(bound.reach, Reach::Confirmed);
        assert_eq!(
            (bound.low, bound.high),
            (Duration::from_secs(60), Duration::from_secs(120))
        );
        assert_eq!(
            bound.to_string(),
            "with heroku-status every 60s and heroku-probe every 30s, a real outage is confirmed within ≈ 2 polls: 60–120 s + pipeline"
        );
    }

    #[test]
    fn the_debounce_sets_the_number_of_polls() {
        let bound = DetectionBound::of(
            &config(&format!("[watch]\ndebounce = 3\n{FEEDS}")),
            "heroku",
        );
        assert_eq!(bound.polls, 3);
        assert_eq!(bound.range(), "120–180 s");
        let once = DetectionBound::from_feeds("p", vec![polled("a", 60), polled("b", 30)], 1);
        assert_eq!(once.range(), "0–60 s");
        assert!(
            once.to_string().contains("within ≈ 1 poll: 0–60 s"),
            "{once}"
        );
    }

    #[test]
    fn with_three_feeds_the_second_to_settle_confirms() {
        let bound = DetectionBound::from_feeds(
            "aws",
            vec![polled("a", 120), polled("b", 30), polled("c", 60)],
            2,
        );
        // Lows 30, 60, 120 and highs 60, 120, 240: the second of each.
        assert_eq!(bound.range(), "60–120 s");
        assert!(
            bound.to_string().starts_with(
                "with a every 120s, b every 30s and c every 60s, a real outage is confirmed"
            ),
            "{bound}"
        );
    }

    #[test]
    fn one_feed_never_confirms_and_none_never_detects() {
        let one = DetectionBound::of(&config(FEEDS), "openai");
        assert_eq!(one.reach, Reach::OpenedOnly);
        assert_eq!(
            one.to_string(),
            "with openai-status every 60s, a real outage opens an alert within ≈ 2 polls: 60–120 s + pipeline, never confirmed (confirmation needs a second feed)"
        );
        let none = DetectionBound::of(&config(FEEDS), "anthropic");
        assert_eq!(none.reach, Reach::Unwatched);
        assert_eq!(
            none.to_string(),
            "no feed watches anthropic: a real outage is seen only when people declare it"
        );
    }

    #[test]
    fn sub_second_intervals_read_in_milliseconds() {
        let bound = DetectionBound::from_feeds(
            "p",
            vec![
                Polled {
                    feed: "a".into(),
                    every: DRILL_POLL,
                },
                Polled {
                    feed: "b".into(),
                    every: DRILL_POLL,
                },
            ],
            2,
        );
        assert_eq!(bound.range(), "250–500 ms");
        assert!(
            bound
                .to_string()
                .contains("a every 250ms and b every 250ms"),
            "{bound}"
        );
    }

    #[test]
    fn the_shipped_config_bounds_heroku_by_its_status_page_and_probe() {
        let shipped = Config::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(crate::config::DEFAULT_CONFIG_PATH),
        )
        .unwrap_or_else(|e| panic!("{e:?}"))
        .config;
        assert_eq!(
            DetectionBound::of(&shipped, "heroku").to_string(),
            "with heroku-status every 60s and app-probe every 30s, a real outage is confirmed within ≈ 2 polls: 60–120 s + pipeline"
        );
    }

    #[test]
    fn figures_keep_the_pipeline_apart_from_the_bound() {
        let figures = Figures {
            pipeline: Pipeline {
                detection: Some(Duration::from_millis(461)),
                polled_every: DRILL_POLL,
                recovery: Some(Duration::from_millis(67)),
            },
            bound: DetectionBound::of(&config(FEEDS), "heroku"),
            data_loss: DataLoss::from_measured(None, true),
        };
        assert_eq!(
            figures.real_detection(),
            Some((
                Duration::from_millis(60_461),
                Duration::from_millis(120_461)
            ))
        );
        let lines = figures.lines();
        assert!(lines[0].contains("461ms to detect"), "{lines:?}");
        assert!(lines[0].contains("polled every 250ms"), "{lines:?}");
        assert!(lines[0].contains("67ms to recover"), "{lines:?}");
        assert!(lines[1].contains("60–120 s + pipeline"), "{lines:?}");
        assert_eq!(
            figures.data_loss.to_string(),
            "not measured (simulated data)"
        );
        assert_eq!(
            DataLoss::from_measured(None, false).to_string(),
            "none (no data restored)"
        );
        assert_eq!(
            DataLoss::from_measured(Some(Duration::from_secs(720)), true).to_string(),
            "12m 00s, measured from the restored rows"
        );
    }
}
