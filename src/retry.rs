//! One retry policy for every caller that repeats a failed call or paces a loop: the engine's
//! step retries, comms delivery, the Discord REST retries and its rate-limit gate, and the
//! feed poller. Each caller keeps its own numbers (how many tries, the first wait, the cap,
//! the jitter, how long a server may make it wait); the arithmetic, and its tests, live here.

use std::hash::BuildHasher;
use std::time::Duration;

/// How a server's own word on the wait (`Retry-After`, a 429 body's `retry_after`) is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// The caller has no such word, or disregards it.
    Ignored,
    /// Wait at least what the server asked, at most this long: the backoff still applies
    /// when it asked for less.
    AtLeast(Duration),
    /// What the server asked replaces the backoff, at most this long; the backoff applies
    /// only when it did not say.
    Instead(Duration),
}

/// How often a call is tried and how long each pause lasts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Tries in all, the first included; `u32::MAX` for a loop that never gives up.
    pub attempts: u32,
    /// The pause after the first failure.
    pub base: Duration,
    /// Each further pause is this many times the one before (2: exponential; 1: constant).
    pub growth: u32,
    /// The longest computed pause, jitter included.
    pub cap: Duration,
    /// Each pause is varied by up to ± this fraction (0.2: ±20 %), so callers that failed
    /// together do not retry together.
    pub jitter: f64,
    pub asked: Asked,
}

/// What a caller says about one failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Not worth repeating.
    No,
    /// Worth repeating after the policy's pause.
    Yes,
    /// Worth repeating; the server asked to wait this long.
    After(Duration),
}

impl Policy {
    /// `attempts` tries, the pause doubling from `base`, no cap, no jitter, no server's word.
    pub const fn exponential(attempts: u32, base: Duration) -> Self {
        Self {
            attempts,
            base,
            growth: 2,
            cap: Duration::MAX,
            jitter: 0.0,
            asked: Asked::Ignored,
        }
    }

    /// A loop that never gives up, pausing `every` each time.
    pub const fn every(every: Duration) -> Self {
        Self {
            attempts: u32::MAX,
            base: every,
            growth: 1,
            cap: Duration::MAX,
            jitter: 0.0,
            asked: Asked::Ignored,
        }
    }

    pub const fn tries(self, attempts: u32) -> Self {
        Self { attempts, ..self }
    }

    pub const fn capped(self, cap: Duration) -> Self {
        Self { cap, ..self }
    }

    pub const fn jittered(self, jitter: f64) -> Self {
        Self { jitter, ..self }
    }

    pub const fn asked(self, asked: Asked) -> Self {
        Self { asked, ..self }
    }

    /// Whether another try follows failed attempt `attempt` (counted from 1).
    pub fn allows_another(&self, attempt: u32) -> bool {
        attempt < self.attempts
    }

    /// The pause after failed attempt `attempt` (counted from 1), `asked` being what the
    /// server asked for, with a fresh random draw for the jitter.
    pub fn delay(&self, attempt: u32, asked: Option<Duration>) -> Duration {
        self.delay_drawn(attempt, asked, random_unit())
    }

    /// [`Policy::delay`] with the jitter's draw given (`unit` in `[0, 1]`: 0 is the shortest
    /// pause, 1 the longest), so tests can pin it.
    pub fn delay_drawn(&self, attempt: u32, asked: Option<Duration>, unit: f64) -> Duration {
        let steps = attempt.saturating_sub(1);
        let factor = self.growth.max(1).saturating_pow(steps);
        let grown = self.base.saturating_mul(factor);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let jittered = if jitter > 0.0 {
            // `mul_f64` panics on an overflowing product: keep below what a Duration holds.
            let scale = 1.0 - jitter + 2.0 * jitter * unit.clamp(0.0, 1.0);
            Duration::try_from_secs_f64(grown.as_secs_f64() * scale).unwrap_or(Duration::MAX)
        } else {
            grown
        };
        let backoff = jittered.min(self.cap);
        match (self.asked, asked) {
            (Asked::AtLeast(max), Some(asked)) => backoff.max(asked.min(max)),
            (Asked::Instead(max), Some(asked)) => asked.min(max),
            _ => backoff,
        }
    }

    /// Runs `call` until it succeeds, `judge` says a failure is not worth repeating, or the
    /// tries are used up. `seen(attempt, result, last)` is told every result, `last` when no
    /// try follows it. Returns the last result and how many tries were made.
    pub async fn run<T, E, F, Fut>(
        &self,
        mut call: F,
        mut judge: impl FnMut(&E) -> Retry,
        mut seen: impl FnMut(u32, &Result<T, E>, bool),
    ) -> (Result<T, E>, u32)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 1;
        loop {
            let result = call().await;
            let retry = match &result {
                Ok(_) => Retry::No,
                Err(err) => judge(err),
            };
            let last = retry == Retry::No || !self.allows_another(attempt);
            seen(attempt, &result, last);
            if last {
                return (result, attempt);
            }
            let asked = match retry {
                Retry::After(wait) => Some(wait),
                Retry::No | Retry::Yes => None,
            };
            tokio::time::sleep(self.delay(attempt, asked)).await;
            attempt += 1;
        }
    }
}

/// A random number in `[0, 1]`, from the standard library's per-process random keys (no
/// crate needed for jitter).
pub fn random_unit() -> f64 {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let salt = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::collections::hash_map::RandomState::new().hash_one(salt) as f64 / u64::MAX as f64
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn pauses_grow_from_the_base_up_to_the_cap() {
        let p = Policy::exponential(5, 500 * MS).capped(Duration::from_secs(60));
        assert_eq!(p.delay_drawn(1, None, 0.5), 500 * MS);
        assert_eq!(p.delay_drawn(2, None, 0.5), Duration::from_secs(1));
        assert_eq!(p.delay_drawn(3, None, 0.5), Duration::from_secs(2));
        assert_eq!(p.delay_drawn(40, None, 0.5), Duration::from_secs(60));
        assert_eq!(
            p.delay_drawn(u32::MAX, None, 0.5),
            Duration::from_secs(60),
            "no overflow"
        );
        let constant = Policy::every(Duration::from_secs(30));
        assert_eq!(constant.delay_drawn(9, None, 0.5), Duration::from_secs(30));
        let uncapped = Policy::exponential(u32::MAX, Duration::MAX).jittered(0.2);
        assert_eq!(
            uncapped.delay_drawn(3, None, 1.0),
            Duration::MAX,
            "no panic"
        );
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_under_the_cap() {
        let base = Duration::from_secs(60);
        let p = Policy::every(base).jittered(0.1);
        assert_eq!(p.delay_drawn(1, None, 0.0), Duration::from_secs(54));
        assert_eq!(p.delay_drawn(1, None, 1.0), Duration::from_secs(66));
        for _ in 0..200 {
            let d = p.delay(1, None);
            assert!(
                d >= Duration::from_secs(54) && d <= Duration::from_secs(66),
                "{d:?}"
            );
        }
        assert_eq!(Policy::every(base).delay(1, None), base, "no jitter");
        let capped = Policy::exponential(3, Duration::from_secs(10))
            .jittered(0.2)
            .capped(Duration::from_secs(11));
        assert_eq!(capped.delay_drawn(1, None, 1.0), Duration::from_secs(11));
        assert_eq!(capped.delay_drawn(1, None, 0.0), Duration::from_secs(8));
    }

    #[test]
    fn a_servers_word_is_honoured_within_its_cap() {
        let floor = Policy::exponential(3, Duration::from_secs(1))
            .asked(Asked::AtLeast(Duration::from_secs(300)));
        assert_eq!(
            floor.delay_drawn(1, Some(7 * 1000 * MS), 0.5),
            Duration::from_secs(7)
        );
        assert_eq!(
            floor.delay_drawn(1, Some(100 * MS), 0.5),
            Duration::from_secs(1)
        );
        assert_eq!(
            floor.delay_drawn(1, Some(Duration::from_secs(86_400)), 0.5),
            Duration::from_secs(300)
        );
        let instead = Policy::every(500 * MS).asked(Asked::Instead(Duration::from_secs(10)));
        assert_eq!(instead.delay_drawn(1, Some(300 * MS), 0.5), 300 * MS);
        assert_eq!(instead.delay_drawn(1, None, 0.5), 500 * MS);
        assert_eq!(
            instead.delay_drawn(1, Some(Duration::from_secs(120)), 0.5),
            Duration::from_secs(10)
        );
        let deaf = Policy::exponential(3, Duration::from_secs(1));
        assert_eq!(
            deaf.delay_drawn(1, Some(Duration::from_secs(9)), 0.5),
            Duration::from_secs(1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn run_tries_as_often_as_allowed_and_pauses_between() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let mut seen = Vec::new();
        let (result, tries) = Policy::exponential(3, 200 * MS)
            .run(
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err::<(), _>("down")
                },
                |_| Retry::Yes,
                |attempt, result, last| seen.push((attempt, result.is_ok(), last)),
            )
            .await;
        assert_eq!((result, tries), (Err("down"), 3));
        assert_eq!(
            seen,
            [(1, false, false), (2, false, false), (3, false, true)]
        );
        assert_eq!(started.elapsed(), 600 * MS, "200 ms, then 400 ms");
    }

    #[tokio::test(start_paused = true)]
    async fn run_stops_at_success_or_at_a_failure_not_worth_repeating() {
        let calls = AtomicU32::new(0);
        let (result, tries) = Policy::exponential(5, 100 * MS)
            .run(
                || async {
                    if calls.fetch_add(1, Ordering::SeqCst) < 1 {
                        Err("x")
                    } else {
                        Ok(7)
                    }
                },
                |_| Retry::Yes,
                |_, _, _| {},
            )
            .await;
        assert_eq!((result, tries), (Ok(7), 2));
        let started = tokio::time::Instant::now();
        let (result, tries) = Policy::exponential(5, 100 * MS)
            .run(
                || async { Err::<(), _>("refused") },
                |_| Retry::No,
                |_, _, _| {},
            )
            .await;
        assert_eq!((result, tries), (Err("refused"), 1));
        assert_eq!(started.elapsed(), Duration::ZERO);
        let asked = Policy::exponential(2, 100 * MS).asked(Asked::AtLeast(Duration::from_secs(5)));
        let started = tokio::time::Instant::now();
        let _ = asked
            .run(
                || async { Err::<(), _>("throttled") },
                |_| Retry::After(Duration::from_secs(3)),
                |_, _, _| {},
            )
            .await;
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }
}
