//! Parity: is the standby a mirror of production, and does Anthropic answer like OpenAI?
//!
//! - [`config`]: the `[heroku]`, `[app]` and `[parity]` sections.
//! - [`drift`]: the comparison of Heroku (config var names and digests, formation, release)
//!   with the ECS standby (task definitions, services) and the app's health endpoints (pure).
//! - [`render`]: the table, `--json`, the chat alert and the readiness lines (pure).
//! - [`gather`]: the looking, through the `Platform` and `Containers` ports and reqwest GETs of
//!   the health endpoints; and the running of the LLM suite through the `Llm` port.
//! - [`watch`]: what the weekly check decides (when it is due, which drift is new; pure).
//! - [`hosting`]: where the app runs now, read from the log (pure), for the LLM switch.
//! - [`suite`], [`schema`]: the LLM parity suite's file and its checks (pure).
//! - [`llm`]: what a run of the suite measured: pass share and latency percentiles (pure).

pub mod config;
pub mod drift;
pub mod gather;
pub mod hosting;
pub mod llm;
pub mod render;
pub mod schema;
pub mod suite;
pub mod watch;
