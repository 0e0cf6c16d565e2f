//! The drivers: they may use everything. The wiring of `lifeboat run` ([`app`]) and the
//! one-shot commands ([`commands`], [`parity`] for `lifeboat parity` and `llm-parity`, and
//! [`ha_commands`] for `lifeboat ha` and `audit verify --table`), the one way a process builds its `StepEnv`
//! ([`env`](mod@env)), stopping ([`shutdown`]), following and leading an HA pair ([`leading`]), the loops that run in `lifeboat run` (feed
//! [`watcher`], [`scheduler`]), the operators' HTTP [`server`], the drill runner
//! ([`drill`]), and `lifeboat training` with the chat's members ([`training`]).

pub mod app;
pub mod commands;
pub mod drill;
pub mod env;
pub mod ha_commands;
pub mod leading;
pub mod parity;
pub mod scheduler;
pub mod server;
pub mod shutdown;
pub mod training;
pub mod watcher;
