//! Events as they sit in the log: the envelope, how it is sealed onto the hash chain, and the
//! pure walk that verifies a chain (the store and backups both use it). Every state Lifeboat
//! shows is derived from the log, so it must never lose, reorder or rewrite an event.
//!
//! Each event's `hash` is SHA-256 over the previous event's hash and the event's canonical
//! JSON (all fields but `hash`, keys in a fixed order); the first event's `prev` is 64 zeros.
//! Any changed byte, removed or reordered event breaks the chain at that event's seq.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Actor, IncidentId, RunId};

/// The version of the envelope below; bumped when its fields change meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// The `prev` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored event, exactly as it sits in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub seq: u64,
    #[serde(with = "rfc3339_millis")]
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub incident: Option<IncidentId>,
    pub run: Option<RunId>,
    pub kind: String,
    pub data: serde_json::Value,
    pub schema: u32,
    pub prev: String,
    pub hash: String,
}

/// What a caller appends; the store assigns seq, time, chain and hash.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub actor: Actor,
    pub incident: Option<IncidentId>,
    pub run: Option<RunId>,
    pub kind: String,
    pub data: serde_json::Value,
}

impl NewEvent {
    pub fn new(actor: Actor, kind: impl Into<String>, data: serde_json::Value) -> Self {
        Self {
            actor,
            incident: None,
            run: None,
            kind: kind.into(),
            data,
        }
    }

    pub fn incident(mut self, id: IncidentId) -> Self {
        self.incident = Some(id);
        self
    }

    pub fn run(mut self, id: RunId) -> Self {
        self.run = Some(id);
        self
    }
}

/// The hashed part of an event: every field but `hash`, in a fixed order.
#[derive(Serialize)]
struct Unhashed<'a> {
    seq: u64,
    #[serde(with = "rfc3339_millis")]
    at: &'a DateTime<Utc>,
    actor: &'a Actor,
    incident: &'a Option<IncidentId>,
    run: &'a Option<RunId>,
    kind: &'a str,
    data: &'a serde_json::Value,
    schema: u32,
    prev: &'a str,
}

impl Event {
    /// Seals a new event onto the chain after `prev`.
    pub fn seal(new: NewEvent, seq: u64, at: DateTime<Utc>, prev: &str) -> Event {
        // Stored times have millisecond precision; truncate now so the hash covers what is stored.
        let at = truncate_to_millis(at);
        let mut event = Event {
            seq,
            at,
            actor: new.actor,
            incident: new.incident,
            run: new.run,
            kind: new.kind,
            data: new.data,
            schema: SCHEMA_VERSION,
            prev: prev.to_owned(),
            hash: String::new(),
        };
        event.hash = event.compute_hash();
        event
    }

    /// SHA-256 over `prev` and the canonical JSON of the other fields.
    pub fn compute_hash(&self) -> String {
        let unhashed = Unhashed {
            seq: self.seq,
            at: &self.at,
            actor: &self.actor,
            incident: &self.incident,
            run: &self.run,
            kind: &self.kind,
            data: &self.data,
            schema: self.schema,
            prev: &self.prev,
        };
        let canonical = serde_json::to_vec(&unhashed).unwrap_or_default();
        let mut hasher = Sha256::new();
        hasher.update(self.prev.as_bytes());
        hasher.update(&canonical);
        hex::encode(hasher.finalize())
    }

    /// The exact bytes stored for this event (compact JSON; object keys sorted).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

fn truncate_to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

mod rfc3339_millis {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// The outcome of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    Intact { events: u64, head: Option<String> },
    Broken { seq: u64, reason: String },
}

/// Checks a sequence of `(key seq, stored bytes)` in key order. Pure, so the rules live in one
/// place whatever holds the bytes (sled, a backup file).
pub fn verify_chain<I>(stored: I, head: Option<(u64, String)>) -> ChainCheck
where
    I: IntoIterator<Item = (u64, Vec<u8>)>,
{
    let mut expected_seq = 1;
    let mut prev = GENESIS.to_owned();
    for (key, bytes) in stored {
        if key != expected_seq {
            let missing = expected_seq.min(key);
            return ChainCheck::Broken {
                seq: missing,
                reason: format!(
                    "expected event {expected_seq} but found {key}: an event was removed or reordered"
                ),
            };
        }
        let event: Event = match serde_json::from_slice(&bytes) {
            Ok(e) => e,
            Err(err) => {
                return ChainCheck::Broken {
                    seq: key,
                    reason: format!("stored bytes do not parse: {err}"),
                };
            }
        };
        let reason = if event.seq != key {
            Some(format!("stored under {key} but says seq {}", event.seq))
        } else if event.prev != prev {
            Some("its prev hash does not match the previous event's hash".to_owned())
        } else if event.compute_hash() != event.hash {
            Some("its content does not match its hash".to_owned())
        } else if event.to_bytes() != bytes {
            Some("its stored bytes are not in canonical form".to_owned())
        } else {
            None
        };
        if let Some(reason) = reason {
            return ChainCheck::Broken { seq: key, reason };
        }
        prev = event.hash;
        expected_seq += 1;
    }
    let count = expected_seq - 1;
    match head {
        Some((head_seq, head_hash)) if head_seq != count || (count > 0 && head_hash != prev) => {
            ChainCheck::Broken {
                seq: count + 1,
                reason: format!(
                    "the log ends at event {count} but its head record says {head_seq}: events after {count} were removed"
                ),
            }
        }
        _ => ChainCheck::Intact {
            events: count,
            head: (count > 0).then_some(prev),
        },
    }
}

/// A log built in memory for unit tests: each event sealed onto the chain at the time given.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    #[derive(Default)]
    pub(crate) struct Log(pub(crate) Vec<Event>);

    impl Log {
        pub(crate) fn at(&mut self, at: DateTime<Utc>, new: NewEvent) -> &mut Self {
            let prev = self.0.last().map_or(GENESIS.to_owned(), |e| e.hash.clone());
            let seq = self.0.len() as u64 + 1;
            self.0.push(Event::seal(new, seq, at, &prev));
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(n: u64) -> Vec<Event> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let e = Event::seal(
                    NewEvent::new(
                        Actor::Bot,
                        "test.event",
                        json!({"n": seq, "b": "x", "a": [1]}),
                    ),
                    seq,
                    Utc::now(),
                    &prev,
                );
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn stored(events: &[Event]) -> Vec<(u64, Vec<u8>)> {
        events.iter().map(|e| (e.seq, e.to_bytes())).collect()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let events = chain(5);
        let head = Some((5, events[4].hash.clone()));
        assert_eq!(
            verify_chain(stored(&events), head),
            ChainCheck::Intact {
                events: 5,
                head: Some(events[4].hash.clone())
            }
        );
    }

    #[test]
    fn any_changed_byte_is_found_at_its_seq() {
        let events = chain(5);
        let mut s = stored(&events);
        let bytes = &mut s[2].1;
        let pos = bytes.iter().position(|b| *b == b'x').unwrap();
        bytes[pos] = b'y';
        assert!(matches!(
            verify_chain(s, None),
            ChainCheck::Broken { seq: 3, .. }
        ));
    }

    #[test]
    fn whitespace_added_to_stored_json_is_found() {
        let events = chain(3);
        let mut s = stored(&events);
        s[1].1.insert(1, b' ');
        assert!(matches!(
            verify_chain(s, None),
            ChainCheck::Broken { seq: 2, .. }
        ));
    }

    #[test]
    fn removed_and_reordered_events_are_found() {
        let events = chain(5);
        let mut s = stored(&events);
        s.remove(1);
        assert!(matches!(
            verify_chain(s, None),
            ChainCheck::Broken { seq: 2, .. }
        ));
        let mut s = stored(&events);
        s.swap(2, 3);
        assert!(matches!(
            verify_chain(s, None),
            ChainCheck::Broken { seq: 3, .. }
        ));
        // Swapping the bytes under the keys (keys still in order) is found too.
        let mut s = stored(&events);
        let (a, b) = (s[2].1.clone(), s[3].1.clone());
        s[2].1 = b;
        s[3].1 = a;
        assert!(matches!(
            verify_chain(s, None),
            ChainCheck::Broken { seq: 3, .. }
        ));
    }

    #[test]
    fn a_removed_tail_is_found_through_the_head_record() {
        let events = chain(5);
        let head = Some((5, events[4].hash.clone()));
        let s = stored(&events[..4]);
        assert!(matches!(
            verify_chain(s, head),
            ChainCheck::Broken { seq: 5, .. }
        ));
    }

    #[test]
    fn times_are_stored_with_milliseconds() {
        let e = &chain(1)[0];
        let json: serde_json::Value = serde_json::from_slice(&e.to_bytes()).unwrap();
        let at = json["at"].as_str().unwrap();
        assert_eq!(at.len(), "2026-11-25T08:18:49.123Z".len(), "{at}");
        assert!(at.ends_with('Z'));
    }
}
