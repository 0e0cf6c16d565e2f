//! Lifeboat's integration tests: one binary, so the project links once.
//!
//! Real parts on loopback only: the `lifeboat` binary as a child process, the sled store on
//! disk, the AWS SDK clients against a local moto server.

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
mod drill;
mod engine;
mod failover;
mod feed_cli;
mod feeds;
mod ops;
mod parity;
mod readiness;
mod shipped_files;
mod steps;
mod store;
mod watcher;
