//! Lifeboat: a disaster-recovery chat-ops bot.
//!
//! # Layout
//! - [`domain`]: pure vocabulary (workstreams, health levels, actors, ids).
//! - [`duration`]: durations as people write them (`"90s"`, `"4h"`).
//! - [`feeds`]: provider status feeds and probes → `ProviderHealth`; the watcher.
//! - [`toml_source`]: TOML with positions, for `path:line:col` diagnostics.
//! - [`config`]: the typed, strict configuration and the `Secret` wrapper.
//! - [`runbook`]: runbooks as data: model, loading, validation.
//! - [`approval`]: roles and the two-person rule, as pure decisions.
//! - [`check`]: `lifeboat check`: config, runbooks and templates cross-checked.
//! - [`store`]: the append-only, hash-chained event log on sled.
//! - [`steps`]: one module per runbook step kind, acting through the edges.
//! - [`chat`]: the `Chat` edge (Discord, console, recorder), typed commands, the bot core and pure message rendering.
//! - [`aws`]: building the AWS SDK clients from config (the standard chain + `endpoint_url`).
//! - [`telemetry`]: tracing set-up.
//! - [`drill`]: simulated disasters run end to end offline, measured against the objectives.
//! - [`clock`]: wall time that follows tokio time, so tests can pause it.
//! - [`timeline`]: an incident's events → post-mortem in Markdown, JSON, CSV or HTML (with an SVG chart).
//!
//! The core (domain, decisions, rendering) does no I/O; adapters sit at the edges.

pub mod approval;
pub mod aws;
pub mod chat;
pub mod check;
pub mod clock;
pub mod config;
pub mod domain;
pub mod drill;
pub mod duration;
pub mod feeds;
pub mod runbook;
pub mod steps;
pub mod store;
pub mod telemetry;
pub mod timeline;
pub mod toml_source;
