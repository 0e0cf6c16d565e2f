//! Shared test support: the moto launcher, a scripted local HTTP server, a fake Discord, and helpers to run the `lifeboat` binary.

pub mod console;
pub mod discord;
pub mod http;
pub mod moto;
pub mod standby;

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

/// A real provider capture, read in place from `../shared/fixtures/feeds/` (never copied
/// into the project); fails clearly when that folder is absent.
pub fn capture(file: &str) -> Vec<u8> {
    let dir = root().join("../shared/fixtures/feeds");
    assert!(
        dir.is_dir(),
        "the real captures folder {} is missing: these tests replay the provider payloads kept there (see SOURCES.md)",
        dir.display()
    );
    std::fs::read(dir.join(file)).unwrap_or_else(|err| panic!("cannot read capture {file}: {err}"))
}

/// One of the project's own payloads in `tests/fixtures/feeds/`.
pub fn own(file: &str) -> Vec<u8> {
    let path = root().join("tests/fixtures/feeds").join(file);
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}
