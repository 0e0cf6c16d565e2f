//! The drivers: they may use everything. The wiring of `lifeboat run`, the loops that run in
//! it (feed watcher, scheduler), and the operators' HTTP endpoints.

pub mod scheduler;
pub mod server;
pub mod watcher;
