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
//! - [`comms`]: team notifications on every route; client-notice drafts (facts from the log, templates, LLM polish), approval and delivery.
//! - [`check`]: `lifeboat check`: config, runbooks and templates cross-checked.
//! - [`store`]: the append-only, hash-chained event log on sled.
//! - [`steps`]: one module per runbook step kind, acting through the edges.
//! - [`chat`]: the `Chat` edge (Discord, console, recorder; incident threads, file attachments), typed commands, the bot core, pure message rendering, and the loopback gate that honours Discord's `retry_after` when serenity's ratelimiter is off.
//! - [`aws`]: building the AWS SDK clients from config (the standard chain + `endpoint_url`).
//! - [`docs`]: the living DRP document in Markdown, rendered from the config and runbooks.
//! - [`iam`]: the least-privilege AWS IAM policy, generated from the config and runbooks.
//! - [`telemetry`]: tracing set-up.
//! - [`drill`]: simulated disasters run end to end offline, measured against the objectives.
//! - [`clock`]: wall time that follows tokio time, so tests can pause it.
//! - [`metrics`]: Lifeboat's own Prometheus metrics (one registry per process).
//! - [`server`]: `/healthz`, `/metrics` and `/backup` for operators, served by `lifeboat run`.
//! - [`incident`]: incidents (lifecycle, severity, commander, notes) and their RTO clocks,
//!   checkpoints and forecasts, folded from the log.
//! - [`scheduler`]: the timer loop: RTO checkpoints, drill and plan-review reminders, the RPO watch.
//! - [`readiness`]: is the standby ready? ECS, DNS TTL, the Anthropic key, backup age, drills.
//! - [`timeline`]: an incident's events → post-mortem in Markdown, JSON, CSV or HTML (with an SVG chart).
//!
//! The core (domain, decisions, rendering) does no I/O; adapters sit at the edges.

pub mod approval;
pub mod aws;
pub mod chat;
pub mod check;
pub mod comms;
pub mod config;
pub mod docs;
pub mod domain;
pub mod drill;
pub mod duration;
pub mod engine;
pub mod feeds;
pub mod iam;
pub mod incident;
pub mod llm;
pub mod metrics;
pub mod ports;
pub mod readiness;
pub mod reminders;
pub mod runbook;
pub mod service;
pub mod status;
pub mod steps;
pub mod store;
pub mod telemetry;
pub mod timeline;
pub mod toml_source;
