//! The event log's storage: the sled `EventStore` (durable, one process per directory) and
//! backups of it. The port is `crate::ports::store`; the events and the chain's rules are
//! `crate::domain::event`.

pub mod backup;
pub mod drill_logs;
mod sled_store;

pub use sled_store::SledStore;
