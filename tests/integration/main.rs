//! Lifeboat's integration tests: one binary, so the project links once.
//!
//! Real parts on loopback only: the `lifeboat` binary as a child process, the sled store on
//! disk, the AWS SDK clients against a local moto server, serenity against the fake Discord.
//!
//! The rig is in `support/`: `TestConfig` builds the config a test needs, and
//! `spawn_app(config)` starts Lifeboat on it, in this process (`.start()`) or as the real
//! binary (`.binary()`), with chat going to the recorder or (`.discord()`) to the fake Discord;
//! the handle it gives back waits for events, presses buttons as a named person, and asks for
//! and approves runs (`request_and_approve`).

mod support;

mod aws;
mod aws_adapters;
mod bot;
mod cli;
mod clocks;
mod comms;
mod crash;
mod data;
mod discord;
mod docs;
mod drill;
mod engine;
mod failover;
mod feed_cli;
mod feeds;
mod gameday;
mod ha;
mod ha_store;
mod mentions;
mod ops;
mod parity;
mod production;
mod readiness;
mod redaction;
mod shipped_files;
mod simulated;
mod steps;
mod store;
mod training;
mod watcher;
