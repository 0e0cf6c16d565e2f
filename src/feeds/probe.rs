//! Our own synthetic check of an endpoint, judged purely from what it answered and how fast.
//!
//! A probe is the second, independent signal beside a vendor's feed: a wrong status or a
//! missing body marker means the endpoint does not work for us (major_outage); a slow but
//! correct answer is degraded.

use std::time::Duration;

use crate::domain::HealthLevel;

use super::Parsed;

/// What a healthy answer looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeExpectations {
    pub expect_status: u16,
    /// A substring a healthy body contains.
    pub body_contains: Option<String>,
    /// Slower than this counts as degraded.
    pub max_latency: Option<Duration>,
}

impl Default for ProbeExpectations {
    fn default() -> Self {
        Self {
            expect_status: 200,
            body_contains: None,
            max_latency: None,
        }
    }
}

pub fn evaluate(status: u16, body: &str, latency: Duration, expect: &ProbeExpectations) -> Parsed {
    let took = format_latency(latency);
    let (level, summary) = if status != expect.expect_status {
        (
            HealthLevel::MajorOutage,
            format!("HTTP {status} in {took}, expected {}", expect.expect_status),
        )
    } else if let Some(needle) = expect
        .body_contains
        .as_deref()
        .filter(|needle| !body.contains(*needle))
    {
        (
            HealthLevel::MajorOutage,
            format!("HTTP {status} in {took}, but the body lacks {needle:?}"),
        )
    } else if let Some(max) = expect.max_latency.filter(|max| latency > *max) {
        (
            HealthLevel::Degraded,
            format!(
                "HTTP {status} in {took}, slower than the {} threshold",
                format_latency(max)
            ),
        )
    } else {
        (HealthLevel::Operational, format!("HTTP {status} in {took}"))
    };
    Parsed {
        level: Some(level),
        summary,
        incidents: Vec::new(),
        components: Vec::new(),
    }
}

fn format_latency(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect() -> ProbeExpectations {
        ProbeExpectations {
            expect_status: 200,
            body_contains: Some("\"ok\":true".to_owned()),
            max_latency: Some(Duration::from_millis(500)),
        }
    }

    #[test]
    fn healthy_answer_is_operational() {
        let p = evaluate(200, "{\"ok\":true}", Duration::from_millis(42), &expect());
        assert_eq!(p.level, Some(HealthLevel::Operational));
        assert_eq!(p.summary, "HTTP 200 in 42 ms");
    }

    #[test]
    fn wrong_status_is_an_outage_even_with_the_right_body() {
        let p = evaluate(503, "{\"ok\":true}", Duration::from_millis(5), &expect());
        assert_eq!(p.level, Some(HealthLevel::MajorOutage));
        assert_eq!(p.summary, "HTTP 503 in 5 ms, expected 200");
    }

    #[test]
    fn missing_marker_is_an_outage() {
        let p = evaluate(
            200,
            "<html>maintenance</html>",
            Duration::from_millis(5),
            &expect(),
        );
        assert_eq!(p.level, Some(HealthLevel::MajorOutage));
        assert_eq!(
            p.summary,
            "HTTP 200 in 5 ms, but the body lacks \"\\\"ok\\\":true\""
        );
    }

    #[test]
    fn slow_answer_is_degraded_and_the_threshold_itself_is_not() {
        let p = evaluate(200, "{\"ok\":true}", Duration::from_millis(1200), &expect());
        assert_eq!(p.level, Some(HealthLevel::Degraded));
        assert_eq!(
            p.summary,
            "HTTP 200 in 1200 ms, slower than the 500 ms threshold"
        );
        let p = evaluate(200, "{\"ok\":true}", Duration::from_millis(500), &expect());
        assert_eq!(p.level, Some(HealthLevel::Operational));
        let p = evaluate(
            200,
            "",
            Duration::from_secs(12),
            &ProbeExpectations::default(),
        );
        assert_eq!(p.summary, "HTTP 200 in 12.0 s");
    }
}
