//! Incidents and their RTO clocks, as pure state folded from the event log: the lifecycle
//! (declared → mitigating → recovered → resolved → reviewed), severity, commander, affected
//! workstreams, notes, one RTO clock per workstream with its checkpoints, and the forecast of
//! whether the remaining steps fit in the budget. No I/O and no clock: `now` is passed in.
//!
//! An incident's events are those [`incident_events`] selects (its own, its runs',
//! the involved providers' feed and alert events), so the status views and the post-mortem
//! read the same history the same way.

mod estimate;
mod fold;
mod related;
mod rto;
mod text;

pub use crate::domain::Severity;
pub use estimate::*;
pub use fold::*;
pub use related::*;
pub use rto::*;
pub use text::*;

#[cfg(test)]
mod tests;
