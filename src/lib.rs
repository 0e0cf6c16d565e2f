//! Lifeboat: a disaster-recovery chat-ops bot.
//!
//! # Layout
//!
//! Four layers, from the top down. An import only ever points down (or within its layer):
//! drivers use everything; adapters use the layers below them (the Discord handler and the
//! console call the bot); the engine, the steps and the bot act through the ports only; the
//! core imports nothing that does I/O.
//!
//! 1. **Drivers** ([`service`]; `main.rs` only parses the arguments and calls one): the wiring
//!    of `lifeboat run` (`service::app`) and the one-shot commands (`service::commands`), the
//!    one `StepEnv` builder and clock of a process (`service::env`), stopping
//!    (`service::shutdown`), the feed watcher and scheduler loops (the weekly parity check
//!    among the scheduler's), the operators' HTTP server, `lifeboat parity` and `llm-parity`
//!    (`service::parity`), and the drill runner (`service::drill`, with its throwaway PostgreSQL).
//! 2. **Adapters** (I/O; they implement the ports and decide no policy): [`chat`]'s `discord`
//!    (the only Discord client, with its `ratelimit` gate), `console` and `recorder`; [`aws`] (the SDK
//!    clients, the S3 backup store and the simulation); [`db`] (PostgreSQL through its tools in
//!    process groups, a directory of backups, the simulated data, a throwaway local cluster);
//!    [`llm`] (OpenAI and Anthropic over reqwest); [`ha`] (the `[ha]` pair on DynamoDB: the
//!    lease and its keeper); [`heroku`] (the Platform API over
//!    reqwest); [`store`] (sled,
//!    backups, the drill logs); `feeds::fetch`; `comms::deliver` and `comms::email`;
//!    [`telemetry`].
//! 3. **Engine, steps and the chat core** (act through ports only): [`engine`] (execute,
//!    persist, resume, dry-run plans), [`steps`] (one module per step kind), `chat::bot`,
//!    `chat::command`, `chat::render`, [`readiness`]' looking and `parity::gather`.
//! 4. **The core** (pure, unit-tested in place): [`ports`] (every trait an edge implements —
//!    `Chat`, `Dns`, `Containers`, `Llm`, `Platform`, `Clock`, `EventStore`, `Drills`, `Database`,
//!    `BackupStore` — with its value types), [`domain`] (vocabulary, the event envelope and its hash chain), [`config`],
//!    [`toml_source`], [`duration`], [`redact`] (the one redactor of secrets), [`runbook`]
//!    (model, loader, a run's folded state),
//!    [`approval`], [`incident`], [`status`], [`reminders`], [`timeline`], [`training`] (who
//!    took part in which game day, who is due), [`feeds`] (parsers
//!    and the monitor), [`comms`] (facts, templates, drafts, polish), [`drill`] (what a drill
//!    decides, its data, the drills on record), [`parity`] (the drift comparison and its rendering, the
//!    LLM parity suite and its checks, where the app runs now), [`check`], [`docs`], [`iam`],
//!    [`metrics`], [`retry`] (the one retry policy: tries, backoff, cap, jitter, a server's
//!    `Retry-After`), [`views`] (what the command paths read of the log, through the
//!    `EventStore` port's narrow queries, never the whole log).

pub mod approval;
pub mod aws;
pub mod chat;
pub mod check;
pub mod comms;
pub mod config;
pub mod db;
pub mod docs;
pub mod domain;
pub mod drill;
pub mod duration;
pub mod engine;
pub mod events;
pub mod feeds;
pub mod ha;
pub mod heroku;
pub mod iam;
pub mod incident;
pub mod llm;
pub mod metrics;
pub mod parity;
pub mod ports;
#[cfg(test)]
mod properties;
pub mod readiness;
pub mod redact;
pub mod reminders;
pub mod retry;
pub mod runbook;
pub mod service;
pub mod status;
pub mod steps;
pub mod store;
pub mod telemetry;
pub mod timeline;
pub mod toml_source;
pub mod training;
pub mod views;
