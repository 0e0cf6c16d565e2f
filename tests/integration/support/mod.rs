//! Shared test support: the config builder, `spawn_app` (Lifeboat in process or as the real
//! binary), the fake Discord, the moto launcher and the standby it seeds, a pausable TCP proxy, a scripted local HTTP
//! server, and helpers to run one-shot `lifeboat` commands.

pub mod app;
pub mod config;
pub mod discord;
pub mod heroku;
pub mod http;
pub mod llm;
pub mod moto;
pub mod pair;
pub mod postgres;
pub mod proxy;
pub mod standby;

pub use app::{App, Binary, spawn_app};
pub use config::TestConfig;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The project root (where `config/` and `commands/` live).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the `lifeboat` binary in `dir` with `args` and a clean, predictable environment.
pub fn lifeboat(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    cmd.current_dir(dir).args(args).env_remove("RUST_LOG");
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.output().expect("the lifeboat binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A real provider capture, kept in `tests/fixtures/feeds/captured/` (origins in its
/// SOURCES.md).
pub fn capture(file: &str) -> Vec<u8> {
    let path = root().join("tests/fixtures/feeds/captured").join(file);
    std::fs::read(&path)
        .unwrap_or_else(|err| panic!("cannot read capture {}: {err}", path.display()))
}

/// One of the project's own payloads in `tests/fixtures/feeds/`.
pub fn own(file: &str) -> Vec<u8> {
    let path = root().join("tests/fixtures/feeds").join(file);
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}
