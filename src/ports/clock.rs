//! Wall time for decisions that tests must control. Timers use tokio time, so under
//! `tokio::time::pause` this clock advances exactly as far as the paused runtime does.

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// UTC anchored at creation and advanced by tokio's monotonic clock.
#[derive(Debug, Clone)]
pub struct TokioClock {
    base: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn new() -> Self {
        Self {
            base: Utc::now(),
            start: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.start.elapsed();
        self.base + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_paused_tokio_time() {
        let clock = TokioClock::new();
        let t0 = clock.now();
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        assert_eq!((clock.now() - t0).num_seconds(), 3600);
    }
}
