//! Durations as people write them in config and runbooks: `"500ms"`, `"90s"`, `"15m"`, `"4h"`, `"365d"`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A `std::time::Duration` that reads and writes the short human form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration `{0}`: write a whole number followed by ms, s, m, h or d (e.g. \"90s\", \"4h\", \"365d\")"
)]
pub struct ParseDurationError(String);

const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub fn get(self) -> Duration {
        self.0
    }
}

impl FromStr for HumanDuration {
    type Err = ParseDurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseDurationError(s.to_owned());
        let digits_end = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (number, unit) = s.split_at(digits_end);
        let number: u64 = number.parse().map_err(|_| err())?;
        let millis_per_unit = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, ms)| *ms)
            .ok_or_else(err)?;
        let millis = number.checked_mul(millis_per_unit).ok_or_else(err)?;
        Ok(Self(Duration::from_millis(millis)))
    }
}

impl fmt::Display for HumanDuration {
    /// The largest unit that divides the duration exactly, so `"4h"` prints back as `4h`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis == 0 {
            return f.write_str("0s");
        }
        let (unit, per) = UNITS
            .iter()
            .rev()
            .find(|(_, per)| millis.is_multiple_of(u128::from(*per)))
            .copied()
            .unwrap_or(("ms", 1));
        write!(f, "{}{unit}", millis / u128::from(per))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Formats a measured duration for people: `3h 12m`, `42s`, `850ms`.
pub fn format_elapsed(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{}ms", d.as_millis()),
        1..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("90s", Duration::from_secs(90)),
            ("15m", Duration::from_secs(900)),
            ("4h", Duration::from_secs(4 * 3600)),
            ("365d", Duration::from_secs(365 * 86_400)),
        ];
        for (text, expected) in cases {
            assert_eq!(
                text.parse::<HumanDuration>().unwrap().get(),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_what_people_mistype() {
        for bad in [
            "",
            "4",
            "h",
            "4 h",
            "4hours",
            "-1s",
            "1.5h",
            "4H",
            "99999999999999999999d",
        ] {
            let err = bad.parse::<HumanDuration>().unwrap_err();
            assert!(err.to_string().contains("invalid duration"), "{bad}: {err}");
        }
    }

    #[test]
    fn displays_in_the_largest_exact_unit() {
        for text in ["4h", "90s", "365d", "1500ms", "15m"] {
            assert_eq!(text.parse::<HumanDuration>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn elapsed_is_readable() {
        assert_eq!(format_elapsed(Duration::from_millis(850)), "850ms");
        assert_eq!(format_elapsed(Duration::from_secs(42)), "42s");
        assert_eq!(format_elapsed(Duration::from_secs(125)), "2m 05s");
        assert_eq!(
            format_elapsed(Duration::from_secs(3 * 3600 + 720)),
            "3h 12m"
        );
    }
}
