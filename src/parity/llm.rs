//! What a run of the LLM parity suite against one provider measured, pure: which prompts
//! passed, the pass share, and latency percentiles (p50, p95), a prompt that timed out counted
//! at its bound. The running itself (through the `Llm` port) is `super::gather::run_suite`;
//! `lifeboat llm-parity` runs both providers side by side, the `llm_parity` gate of
//! `switch-llm` the one about to take over.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::suite::Suite;

/// One prompt's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptResult {
    pub id: String,
    /// How long the answer took; for a prompt that timed out, its bound (the answer took at
    /// least that long); `None` when the provider failed otherwise.
    pub latency: Option<Duration>,
    /// No answer within the bound: `latency` is the bound, a lower limit.
    pub timed_out: bool,
    /// Why it failed: the checks it missed, or the provider's error. Empty: passed.
    pub failures: Vec<String>,
    /// The start of the answer.
    pub answer: Option<String>,
}

impl PromptResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// One provider's run of the suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRun {
    pub provider: String,
    pub model: Option<String>,
    /// Why nothing was sent (not configured, no key); the run then passes nothing.
    pub skipped: Option<String>,
    pub results: Vec<PromptResult>,
    /// Prompts in the suite.
    pub total: usize,
}

/// The `p`-th percentile (0–100) by nearest rank; `None` for no samples.
pub fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

impl ProviderRun {
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }

    /// Passed prompts over the suite's prompts (0.0 when the suite is empty).
    pub fn share(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.passed() as f64 / self.total as f64
        }
    }

    fn latencies(&self) -> Vec<Duration> {
        self.results.iter().filter_map(|r| r.latency).collect()
    }

    /// Prompts that got no answer within their bound.
    pub fn timed_out(&self) -> usize {
        self.results.iter().filter(|r| r.timed_out).count()
    }

    /// The `p`-th percentile (timed-out prompts counted at their bound), and whether it is
    /// such a bound (the true value is at least that).
    fn percentile_of(&self, p: f64) -> Option<(Duration, bool)> {
        let at = percentile(&self.latencies(), p)?;
        let bound = self
            .results
            .iter()
            .any(|r| r.timed_out && r.latency.is_some_and(|l| l <= at));
        Some((at, bound))
    }

    pub fn p50(&self) -> Option<Duration> {
        percentile(&self.latencies(), 50.0)
    }

    pub fn p95(&self) -> Option<Duration> {
        percentile(&self.latencies(), 95.0)
    }

    pub fn meets(&self, min: f64) -> bool {
        self.skipped.is_none() && self.share() >= min
    }

    /// `anthropic: 4 of 5 passed (80%), p50 320 ms, p95 910 ms`.
    pub fn line(&self) -> String {
        if let Some(why) = &self.skipped {
            return format!("{}: not run: {why}", self.provider);
        }
        let ms = |d: Option<(Duration, bool)>| match d {
            None => "—".to_owned(),
            Some((d, false)) => format!("{} ms", d.as_millis()),
            Some((d, true)) => format!("≥ {} ms", d.as_millis()),
        };
        let timed_out = match self.timed_out() {
            0 => String::new(),
            n => format!(" ({n} timed out)"),
        };
        format!(
            "{}: {} of {} passed ({:.0}%), p50 {}, p95 {}{timed_out}",
            self.provider,
            self.passed(),
            self.total,
            self.share() * 100.0,
            ms(self.percentile_of(50.0)),
            ms(self.percentile_of(95.0))
        )
    }

    /// The failed prompts in words: `json-ticket: is not valid JSON (...)`.
    pub fn failures(&self) -> Vec<String> {
        self.results
            .iter()
            .filter(|r| !r.passed())
            .map(|r| format!("{}: {}", r.id, r.failures.join("; ")))
            .collect()
    }

    pub fn json(&self, min: f64) -> Value {
        json!({
            "provider": self.provider,
            "model": self.model,
            "skipped": self.skipped,
            "passed": self.passed(),
            "total": self.total,
            "share": self.share(),
            "meets_min": self.meets(min),
            "p50_ms": self.p50().map(|d| d.as_millis() as u64),
            "p95_ms": self.p95().map(|d| d.as_millis() as u64),
            "timed_out": self.timed_out(),
            "results": self.results.iter().map(|r| json!({
                "id": r.id,
                "passed": r.passed(),
                "latency_ms": r.latency.map(|d| d.as_millis() as u64),
                "timed_out": r.timed_out,
                "failures": r.failures,
                "answer": r.answer,
            })).collect::<Vec<_>>(),
        })
    }
}

/// `lifeboat llm-parity`'s table: one row per prompt, one column per provider, then each
/// provider's pass share and latency percentiles.
pub fn table(suite: &Suite, runs: &[ProviderRun], min: f64) -> String {
    let mut out = format!(
        "LLM parity suite {} ({} prompts), minimum pass share {:.0}%\n",
        suite.path.display(),
        suite.prompts.len(),
        min * 100.0
    );
    let mut rows: Vec<Vec<String>> = vec![
        std::iter::once("PROMPT".to_owned())
            .chain(runs.iter().map(|run| {
                format!(
                    "{} ({})",
                    run.provider.to_uppercase(),
                    run.model.as_deref().unwrap_or("?")
                )
            }))
            .collect(),
    ];
    for prompt in &suite.prompts {
        let mut row = vec![prompt.id.clone()];
        for run in runs {
            row.push(match run.results.iter().find(|r| r.id == prompt.id) {
                None => "—".to_owned(),
                Some(r) => {
                    let at_least = if r.timed_out { "≥" } else { "" };
                    let took = r
                        .latency
                        .map(|d| format!(" {at_least}{} ms", d.as_millis()))
                        .unwrap_or_default();
                    if r.passed() {
                        format!("pass{took}")
                    } else {
                        format!("FAIL{took}: {}", r.failures.join("; "))
                    }
                }
            });
        }
        rows.push(row);
    }
    // Every column but the last is padded to its widest cell.
    let columns = runs.len() + 1;
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 < columns {
                let _ = write!(line, "{cell:<width$}  ", width = widths[c]);
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for run in runs {
        let verdict = if run.meets(min) {
            "meets the minimum"
        } else {
            "BELOW the minimum"
        };
        let _ = writeln!(out, "{} — {verdict}", run.line());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_are_by_nearest_rank() {
        let samples: Vec<Duration> = (1..=20).map(|n| ms(n * 10)).collect();
        assert_eq!(percentile(&samples, 50.0), Some(ms(100)));
        assert_eq!(percentile(&samples, 95.0), Some(ms(190)));
        assert_eq!(percentile(&[ms(7)], 95.0), Some(ms(7)));
        assert_eq!(percentile(&[ms(300), ms(100)], 50.0), Some(ms(100)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn a_run_reports_its_share_and_latencies() {
        let result = |id: &str, latency: Option<u64>, failures: &[&str]| PromptResult {
            id: id.into(),
            latency: latency.map(ms),
            timed_out: false,
            failures: failures.iter().map(|f| (*f).to_owned()).collect(),
            answer: None,
        };
        let run = ProviderRun {
            provider: "anthropic".into(),
            model: Some("claude".into()),
            skipped: None,
            results: vec![
                result("a", Some(100), &[]),
                result("b", Some(300), &["is not valid JSON"]),
                result("c", None, &["anthropic answered 529: Overloaded"]),
                result("d", Some(200), &[]),
            ],
            total: 4,
        };
        assert_eq!(run.passed(), 2);
        assert_eq!(run.share(), 0.5);
        assert!(run.meets(0.5) && !run.meets(0.75));
        assert_eq!(
            run.line(),
            "anthropic: 2 of 4 passed (50%), p50 200 ms, p95 300 ms"
        );
        assert_eq!(
            run.failures(),
            [
                "b: is not valid JSON",
                "c: anthropic answered 529: Overloaded"
            ]
        );
        let skipped = ProviderRun {
            skipped: Some("the environment variable K is not set".into()),
            results: Vec::new(),
            ..run
        };
        assert!(!skipped.meets(0.0));
        // A prompt that timed out counts at its bound, and the line says so.
        let mut slow = skipped.clone();
        slow.skipped = None;
        slow.results = vec![
            result("a", Some(100), &[]),
            PromptResult {
                timed_out: true,
                ..result("b", Some(5000), &["anthropic did not answer within 5s"])
            },
        ];
        slow.total = 2;
        assert_eq!(slow.p95(), Some(ms(5000)));
        assert_eq!(
            slow.line(),
            "anthropic: 1 of 2 passed (50%), p50 100 ms, p95 ≥ 5000 ms (1 timed out)"
        );
        assert_eq!(
            skipped.line(),
            "anthropic: not run: the environment variable K is not set"
        );
    }
}
