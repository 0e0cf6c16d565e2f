//! The event catalogue: every kind of event Lifeboat writes, named once ([`EventKind`]), and
//! what each carries (one serde struct per kind, in a file per subject). Writers build a
//! payload and turn it into a `NewEvent` ([`NewEvent::of`]); readers decode an `Event` into a
//! [`Payload`] ([`Event::payload`]) and match on its variants. Pure: no I/O.
//!
//! The payloads encode to the log's JSON exactly as earlier versions wrote it (field names,
//! `null` against omitted, numbers, nesting): each event's hash covers its bytes, so one changed
//! byte would break `audit verify` of every existing log. `tests/fixtures/events/` holds events
//! written by the code before this catalogue; a test decodes and re-encodes each of them.
//!
//! Decoding is as tolerant as the readers before it: a field missing from an older (or
//! hand-made) event decodes to its default or `None`, a nested value the readers used to
//! ignore when it did not parse decodes to its default, and a kind this version does not know
//! decodes to [`Payload::Unknown`], so export and verify never stop at one.

pub mod comms;
pub mod data;
pub mod drill;
pub mod feed;
pub mod incident;
pub mod parity;
pub mod run;
pub mod step;
pub mod training;
pub mod upkeep;

#[cfg(test)]
mod tests;

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

pub use comms::*;
pub use data::*;
pub use drill::*;
pub use feed::*;
pub use incident::*;
pub use parity::*;
pub use run::*;
pub use step::*;
pub use training::*;
pub use upkeep::*;

use crate::domain::event::{Event, NewEvent};
use crate::domain::{Actor, MessageRef};

/// Names every kind once, with its payload type: generates [`EventKind`] (and its strings)
/// and [`Payload`] (a variant per kind), and their decoding and encoding.
macro_rules! catalogue {
    ($($variant:ident = $kind:literal => $payload:ty,)*) => {
        /// Every kind of event Lifeboat writes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind {
            $($variant,)*
        }

        impl EventKind {
            /// Every kind, in the catalogue's order.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)*];

            /// The kind as the log stores it, e.g. `incident.declared`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$variant => $kind,)*
                }
            }

            /// The kind a stored name stands for; `None` for a kind this version does not know.
            pub fn parse(kind: &str) -> Option<EventKind> {
                match kind {
                    $($kind => Some(EventKind::$variant),)*
                    _ => None,
                }
            }
        }

        /// An event's data, decoded: one variant per kind.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Payload {
            $($variant($payload),)*
            /// A kind this version does not know (written by a newer one, or since removed).
            Unknown { kind: String, data: Value },
        }

        impl Payload {
            /// Its kind; `None` when unknown.
            pub fn kind(&self) -> Option<EventKind> {
                match self {
                    $(Payload::$variant(_) => Some(EventKind::$variant),)*
                    Payload::Unknown { .. } => None,
                }
            }

            /// Decodes the data of an event of kind `kind`.
            pub fn decode(kind: &str, data: &Value) -> Result<Payload, DecodeError> {
                match EventKind::parse(kind) {
                    $(Some(EventKind::$variant) => {
                        decode::<$payload>(EventKind::$variant, data).map(Payload::$variant)
                    })*
                    None => Ok(Payload::Unknown {
                        kind: kind.to_owned(),
                        data: data.clone(),
                    }),
                }
            }

            /// The data as the log stores it.
            pub fn to_data(&self) -> Value {
                match self {
                    $(Payload::$variant(payload) => encode(payload),)*
                    Payload::Unknown { data, .. } => data.clone(),
                }
            }
        }
    };
}

catalogue! {
    FeedObserved = "feed.observed" => FeedObserved,
    FeedDegraded = "feed.degraded" => FeedLevelChanged,
    FeedOutage = "feed.outage" => FeedLevelChanged,
    FeedRecovered = "feed.recovered" => FeedLevelChanged,
    FeedMaintenance = "feed.maintenance" => FeedLevelChanged,
    FeedUnreadable = "feed.unreadable" => FeedUnreadable,
    FeedReadable = "feed.readable" => FeedReadable,
    FeedFlapping = "feed.flapping" => FeedFlapping,
    FeedSettled = "feed.settled" => FeedSettled,
    VendorIncidentOpened = "vendor.incident_opened" => VendorIncidentChanged,
    VendorIncidentUpdated = "vendor.incident_updated" => VendorIncidentChanged,
    VendorIncidentResolved = "vendor.incident_resolved" => VendorIncidentChanged,
    AlertPosted = "alert.posted" => AlertState,
    AlertUpdated = "alert.updated" => AlertState,
    AlertFailed = "alert.failed" => AlertFailed,
    AlertRecovered = "alert.recovered" => AlertRecovered,
    IncidentDeclared = "incident.declared" => IncidentDeclared,
    IncidentResolved = "incident.resolved" => IncidentResolved,
    IncidentReviewed = "incident.reviewed" => IncidentReviewed,
    IncidentThreadOpened = "incident.thread_opened" => IncidentThreadOpened,
    NoteAdded = "note.added" => NoteAdded,
    ClockCheckpoint = "clock.checkpoint" => ClockCheckpoint,
    ClockCheckpointFailed = "clock.checkpoint_failed" => ClockCheckpointFailed,
    CommandRefused = "command.refused" => CommandRefused,
    RunRequested = "run.requested" => RunRequested,
    RunApprovalCounted = "run.approval_counted" => RunApprovalCounted,
    ApprovalRefused = "approval.refused" => ApprovalRefused,
    RunApproved = "run.approved" => RunApproved,
    RunDenied = "run.denied" => RunDenied,
    RunBreakGlass = "run.break_glass" => RunBreakGlass,
    RunBreakGlassAcknowledged = "run.break_glass_acknowledged" => RunBreakGlassAcknowledged,
    RunRequestExpired = "run.request_expired" => RunRequestExpired,
    RunStarted = "run.started" => RunStarted,
    RunPaused = "run.paused" => RunPaused,
    RunResumed = "run.resumed" => RunResumed,
    RunCancelRequested = "run.cancel_requested" => RunCancelRequested,
    RunSucceeded = "run.succeeded" => RunSucceeded,
    RunFailed = "run.failed" => RunFailed,
    RunAborted = "run.aborted" => RunAborted,
    RunCancelled = "run.cancelled" => RunCancelled,
    StepStarted = "step.started" => StepStarted,
    StepRetrying = "step.retrying" => StepRetrying,
    StepSucceeded = "step.succeeded" => StepSucceeded,
    StepFailed = "step.failed" => StepFailed,
    StepSkipped = "step.skipped" => StepSkipped,
    StepInterrupted = "step.interrupted" => StepInterrupted,
    CommsDrafted = "comms.drafted" => CommsDrafted,
    CommsEdited = "comms.edited" => CommsEdited,
    CommsApproved = "comms.approved" => CommsApproved,
    CommsApprovalRefused = "comms.approval_refused" => CommsApprovalRefused,
    CommsDiscarded = "comms.discarded" => CommsDiscarded,
    CommsResend = "comms.resend" => CommsResend,
    CommsSent = "comms.sent" => CommsSent,
    CommsDeliveryFailed = "comms.delivery_failed" => CommsDeliveryFailed,
    NotifyDelivered = "notify.delivered" => NotifyDelivered,
    NotifyFailed = "notify.failed" => NotifyFailed,
    DrillRequested = "drill.requested" => DrillRequested,
    DrillStarted = "drill.started" => DrillStarted,
    DrillOutageSimulated = "drill.outage_simulated" => DrillOutageSimulated,
    DrillMarked = "drill.marked" => DrillMarked,
    DrillFinished = "drill.finished" => DrillFinished,
    DrillEnded = "drill.ended" => DrillEnded,
    PlanReviewed = "plan.reviewed" => PlanReviewed,
    ReminderPosted = "reminder.posted" => ReminderPosted,
    ReminderFailed = "reminder.failed" => ReminderFailed,
    RpoBreached = "rpo.breached" => RpoMeasured,
    RpoRecovered = "rpo.recovered" => RpoMeasured,
    RpoReadable = "rpo.readable" => RpoMeasured,
    RpoUnreadable = "rpo.unreadable" => RpoUnreadable,
    RpoAlertFailed = "rpo.alert_failed" => RpoAlertFailed,
    DbBackupTaken = "db.backup_taken" => DbBackupTaken,
    DbBackupFailed = "db.backup_failed" => DbBackupFailed,
    DbDataLossAccepted = "db.data_loss_accepted" => DbDataLossAccepted,
    ParityChecked = "parity.checked" => ParityChecked,
    ParityUnreadable = "parity.unreadable" => ParityUnreadable,
    ParityAlertFailed = "parity.alert_failed" => ParityAlertFailed,
    LlmParityGated = "llm.parity_gated" => LlmParityGated,
    LlmRevisionDeployed = "llm.revision_deployed" => LlmRevisionDeployed,
    TrainingRecorded = "training.recorded" => TrainingRecorded,
}

impl EventKind {
    /// The kinds about one provider, which carry its name: `feed.*`, `vendor.*`, `alert.*`.
    pub fn is_about_a_provider(self) -> bool {
        use EventKind::*;
        matches!(
            self,
            FeedObserved
                | FeedDegraded
                | FeedOutage
                | FeedRecovered
                | FeedMaintenance
                | FeedUnreadable
                | FeedReadable
                | FeedFlapping
                | FeedSettled
                | VendorIncidentOpened
                | VendorIncidentUpdated
                | VendorIncidentResolved
                | AlertPosted
                | AlertUpdated
                | AlertFailed
                | AlertRecovered
        )
    }
}

impl EventKind {
    /// The kinds of a run request's approval trail, which name the request (see
    /// [`Payload::request`]).
    pub fn names_a_request(self) -> bool {
        use EventKind::*;
        matches!(
            self,
            RunRequested
                | RunApprovalCounted
                | ApprovalRefused
                | RunApproved
                | RunDenied
                | RunRequestExpired
                | RunBreakGlass
                | RunBreakGlassAcknowledged
        )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        EventKind::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown event kind `{name}`")))
    }
}

/// An event of a known kind whose data does not decode as that kind's payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the data of a `{kind}` event does not decode: {reason}")]
pub struct DecodeError {
    pub kind: EventKind,
    pub reason: String,
}

fn decode<T: DeserializeOwned>(kind: EventKind, data: &Value) -> Result<T, DecodeError> {
    T::deserialize(data).map_err(|err| DecodeError {
        kind,
        reason: err.to_string(),
    })
}

fn encode<T: Serialize>(payload: &T) -> Value {
    // Cannot fail: payloads are plain data whose maps have string keys (the catalogue's tests
    // encode every kind).
    serde_json::to_value(payload).unwrap_or_default()
}

/// Where a scheduled message went (`clock.checkpoint`, `reminder.posted`, `rpo.*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Always `true`: a message that could not be posted records a failure instead.
    pub delivered: bool,
    pub message: MessageRef,
}

impl Delivery {
    pub fn posted(message: MessageRef) -> Self {
        Self {
            delivered: true,
            message,
        }
    }
}

impl Payload {
    /// The provider a `feed.*`, `vendor.*`, `alert.*` or `drill.outage_simulated` event is
    /// about.
    pub fn provider(&self) -> Option<&str> {
        use Payload::*;
        Some(match self {
            FeedObserved(p) => &p.provider,
            FeedDegraded(p) | FeedOutage(p) | FeedRecovered(p) | FeedMaintenance(p) => &p.provider,
            FeedUnreadable(p) => &p.provider,
            FeedReadable(p) => &p.provider,
            FeedFlapping(p) => &p.provider,
            FeedSettled(p) => &p.provider,
            VendorIncidentOpened(p) | VendorIncidentUpdated(p) | VendorIncidentResolved(p) => {
                &p.provider
            }
            AlertPosted(p) | AlertUpdated(p) => &p.provider,
            AlertFailed(p) => &p.provider,
            AlertRecovered(p) => &p.alert.provider,
            DrillOutageSimulated(p) => &p.provider,
            _ => return None,
        })
    }

    /// The run request an approval-trail event is about (`run.requested`,
    /// `run.approval_counted`, `approval.refused`, `run.approved`, `run.denied`,
    /// `run.request_expired`).
    pub fn request(&self) -> Option<&str> {
        use Payload::*;
        Some(match self {
            RunRequested(p) => &p.request,
            RunApprovalCounted(p) => &p.request,
            ApprovalRefused(p) => &p.request,
            RunApproved(p) => &p.request,
            RunDenied(p) => &p.request,
            RunRequestExpired(p) => &p.request,
            RunBreakGlass(p) => &p.request,
            RunBreakGlassAcknowledged(p) => &p.request,
            _ => return None,
        })
    }

    /// The alert an `alert.*` event is about.
    pub fn alert_id(&self) -> Option<&str> {
        use Payload::*;
        Some(match self {
            AlertPosted(p) | AlertUpdated(p) => &p.alert_id,
            AlertFailed(p) => &p.alert_id,
            AlertRecovered(p) => &p.alert.alert_id,
            _ => return None,
        })
    }

    /// The alert's state in `alert.posted`, `alert.updated` and `alert.recovered`.
    pub fn alert(&self) -> Option<&AlertState> {
        match self {
            Payload::AlertPosted(p) | Payload::AlertUpdated(p) => Some(p),
            Payload::AlertRecovered(p) => Some(&p.alert),
            _ => None,
        }
    }
}

impl Event {
    /// Its kind; `None` for a kind this version does not know.
    pub fn event_kind(&self) -> Option<EventKind> {
        EventKind::parse(&self.kind)
    }

    /// Whether it is of kind `kind`.
    pub fn is(&self, kind: EventKind) -> bool {
        self.kind == kind.as_str()
    }

    /// Its data, decoded as its kind's payload.
    pub fn payload(&self) -> Result<Payload, DecodeError> {
        Payload::decode(&self.kind, &self.data)
    }

    /// Its data as `T` when it is of `T`'s kind and decodes; `None` otherwise. Cheap for the
    /// other kinds: the kind is compared before anything is decoded.
    pub fn data_as<T: OfOneKind>(&self) -> Option<T> {
        if !self.is(T::KIND) {
            return None;
        }
        T::deserialize(&self.data).ok()
    }
}

impl NewEvent {
    /// The event `actor` records with `payload` (its kind is the payload's).
    pub fn of(actor: Actor, payload: impl Into<Payload>) -> NewEvent {
        let payload = payload.into();
        let kind = match &payload {
            Payload::Unknown { kind, .. } => kind.clone(),
            known => known
                .kind()
                .map(EventKind::as_str)
                .unwrap_or_default()
                .to_owned(),
        };
        NewEvent::new(actor, kind, payload.to_data())
    }
}

/// A payload type that belongs to one kind only (the shared ones, such as
/// [`FeedLevelChanged`], name their variant instead: `Payload::FeedOutage(change)`).
pub trait OfOneKind: DeserializeOwned + Into<Payload> {
    const KIND: EventKind;
}

/// `OfOneKind` and `From<payload> for Payload` for the payload types of one kind, each named
/// like its kind's variant.
macro_rules! one_kind {
    ($($variant:ident),* $(,)?) => {
        $(
            impl From<$variant> for Payload {
                fn from(payload: $variant) -> Payload {
                    Payload::$variant(payload)
                }
            }

            impl OfOneKind for $variant {
                const KIND: EventKind = EventKind::$variant;
            }
        )*
    };
}

one_kind!(
    FeedObserved,
    FeedUnreadable,
    FeedReadable,
    FeedFlapping,
    FeedSettled,
    AlertFailed,
    AlertRecovered,
    IncidentDeclared,
    IncidentResolved,
    IncidentReviewed,
    IncidentThreadOpened,
    NoteAdded,
    ClockCheckpoint,
    ClockCheckpointFailed,
    CommandRefused,
    RunRequested,
    RunApprovalCounted,
    ApprovalRefused,
    RunApproved,
    RunDenied,
    RunBreakGlass,
    RunBreakGlassAcknowledged,
    RunRequestExpired,
    RunStarted,
    RunPaused,
    RunResumed,
    RunCancelRequested,
    RunSucceeded,
    RunFailed,
    RunAborted,
    RunCancelled,
    StepStarted,
    StepRetrying,
    StepSucceeded,
    StepFailed,
    StepSkipped,
    StepInterrupted,
    CommsDrafted,
    CommsEdited,
    CommsApproved,
    CommsApprovalRefused,
    CommsDiscarded,
    CommsResend,
    CommsSent,
    CommsDeliveryFailed,
    NotifyDelivered,
    NotifyFailed,
    DrillRequested,
    DrillStarted,
    DrillOutageSimulated,
    DrillMarked,
    DrillFinished,
    DrillEnded,
    PlanReviewed,
    ReminderPosted,
    ReminderFailed,
    RpoUnreadable,
    RpoAlertFailed,
    DbBackupTaken,
    DbBackupFailed,
    DbDataLossAccepted,
    ParityChecked,
    ParityUnreadable,
    ParityAlertFailed,
    LlmParityGated,
    LlmRevisionDeployed,
    TrainingRecorded,
);

/// Decoding as tolerant as the readers before the catalogue were.
mod lenient {
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer};

    /// A value of another shape than `T` reads as `T`'s default (the old readers parsed these
    /// fields with `.ok()` or `.unwrap_or_default()`).
    pub fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: DeserializeOwned + Default,
    {
        let value = serde_json::Value::deserialize(d)?;
        Ok(T::deserialize(value).unwrap_or_default())
    }
}
