//! The drivers: they may use everything. The wiring of `lifeboat run` ([`app`]), the one way a
//! process builds its `StepEnv` ([`env`](mod@env)), stopping ([`shutdown`]), the loops that run in it
//! (feed [`watcher`], [`scheduler`]) and the operators' HTTP [`server`].

pub mod app;
pub mod drill;
pub mod env;
pub mod scheduler;
pub mod server;
pub mod shutdown;
pub mod watcher;
