//! The `lifeboat` command line as a user meets it: `check` on good and bad files, `audit
//! verify`, clear failures, redacted secrets, and honest "not available yet" answers.

use std::path::Path;

use lifeboat::store::SledStore;

use crate::support::{lifeboat, root, stderr, stdout};

const CONFIG: &str = r#"[objectives]
hosting_rto = "4h"
llm_rto = "2h"
rpo = "1h"

[paths]
runbooks = "commands"
templates = "templates"

[[teams]]
name = "engineering"
"#;

const RUNBOOK: &str = r#"name = "demo"
title = "Demo"
workstream = "hosting"

[[steps]]
id = "tell"
kind = "notify"
with = { team = "engineering", message = "hello" }
"#;

/// A project folder with a config and one runbook, each replaceable.
fn project(config: &str, runbook: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("commands")).unwrap();
    std::fs::write(dir.path().join("lifeboat.toml"), config).unwrap();
    std::fs::write(dir.path().join("commands/demo.toml"), runbook).unwrap();
    dir
}

fn check(dir: &Path) -> (Option<i32>, String, String) {
    let out = lifeboat(dir, &["check", "--config", "lifeboat.toml"], &[]);
    (out.status.code(), stdout(&out), stderr(&out))
}

#[test]
fn check_passes_on_the_shipped_example_and_prints_a_summary() {
    let out = lifeboat(&root(), &["check"], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(text.contains("config/lifeboat.toml: ok"), "{text}");
    assert!(
        text.contains("objectives: hosting RTO 4h, LLM RTO 2h, RPO 1h"),
        "{text}"
    );
    assert!(
        text.contains("failover-hosting (hosting, 11 steps, 1 approval)"),
        "{text}"
    );
    assert!(text.contains("teams: 2 (engineering, support)"), "{text}");
}

#[test]
fn check_passes_on_a_small_project() {
    let dir = project(CONFIG, RUNBOOK);
    let (code, out, err) = check(dir.path());
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("demo (hosting, 1 steps, 1 approval)"), "{out}");
}

/// Each case: (config, runbook, the file:line:col and message expected on stderr).
#[test]
fn check_reports_each_kind_of_mistake_with_its_position() {
    let cases = [
        (
            CONFIG.replace("rpo = \"1h\"", "rpo = \"1h\"\nrto = \"1h\""),
            RUNBOOK.to_owned(),
            "lifeboat.toml:5:1: unknown field `rto`",
        ),
        (
            CONFIG.replace("name = \"engineering\"", "name = 42"),
            RUNBOOK.to_owned(),
            "lifeboat.toml:11:8: invalid type: integer `42`, expected a string",
        ),
        (
            CONFIG.replace("llm_rto = \"2h\"\n", ""),
            RUNBOOK.to_owned(),
            "lifeboat.toml:1:1: missing field `llm_rto`",
        ),
        (
            CONFIG.replace("\"4h\"", "\"4 hours\""),
            RUNBOOK.to_owned(),
            "lifeboat.toml:2:15: invalid duration `4 hours`",
        ),
        (
            CONFIG.to_owned(),
            RUNBOOK.replace("\"notify\"", "\"notfiy\""),
            "commands/demo.toml:7:8: unknown variant `notfiy`",
        ),
        (
            CONFIG.to_owned(),
            RUNBOOK.replace("team = \"engineering\"", "team = \"sales\""),
            "commands/demo.toml:8:10: unknown team `sales`",
        ),
        (
            CONFIG.to_owned(),
            format!(
                "{RUNBOOK}\n{}",
                &RUNBOOK[RUNBOOK.find("[[steps]]").unwrap()..]
            ),
            "commands/demo.toml:11:1: duplicate step id `tell` (first used at line 6)",
        ),
    ];
    for (config, runbook, expected) in cases {
        let dir = project(&config, &runbook);
        let (code, out, err) = check(dir.path());
        assert_eq!(
            code,
            Some(1),
            "expected failure for {expected}; stdout: {out}"
        );
        assert!(err.contains(expected), "expected `{expected}` in:\n{err}");
        assert!(out.is_empty(), "no summary on failure: {out}");
    }
}

#[test]
fn check_reports_every_error_not_just_the_first() {
    let config = CONFIG.replace("\"4h\"", "\"4x\"") + "\n[schedule]\ndrill_every = 365\n";
    let runbook = RUNBOOK.replace("team = \"engineering\"", "team = \"sales\"");
    let dir = project(&config, &runbook);
    let (code, _, err) = check(dir.path());
    assert_eq!(code, Some(1));
    assert!(
        err.contains("lifeboat.toml:2:15: invalid duration `4x`"),
        "{err}"
    );
    assert!(err.contains("lifeboat.toml:14:15: invalid type"), "{err}");
    assert!(err.contains("2 errors found"), "{err}");

    // With the config fixed, the runbook's error shows.
    let dir = project(CONFIG, &runbook);
    let (_, _, err) = check(dir.path());
    assert!(err.contains("unknown team `sales`"), "{err}");
}

#[test]
fn check_validates_templates() {
    let dir = project(CONFIG, RUNBOOK);
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/ok.md.j2"),
        "Since {{ started_at }}.\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("templates/bad.md.j2"),
        "Hello\nSince {{ strated_at }}.\n",
    )
    .unwrap();
    let (code, _, err) = check(dir.path());
    assert_eq!(code, Some(1));
    assert!(
        err.contains("templates/bad.md.j2:2:10: unknown variable `strated_at`"),
        "{err}"
    );
    std::fs::write(dir.path().join("templates/bad.md.j2"), "{% if %}\n").unwrap();
    let (_, _, err) = check(dir.path());
    assert!(
        err.contains("templates/bad.md.j2:1:1: template syntax"),
        "{err}"
    );
}

#[test]
fn a_missing_config_names_the_path_tried() {
    let dir = tempfile::tempdir().unwrap();
    let out = lifeboat(dir.path(), &["check", "--config", "nope.toml"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot read nope.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_data_dir_held_by_another_lifeboat_gets_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let _held = SledStore::open(dir.path()).unwrap();
    let out = lifeboat(
        &root(),
        &[
            "audit",
            "verify",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("is in use by another running Lifeboat"),
        "{err}"
    );
}

#[test]
fn an_unusable_data_dir_gets_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, "not a directory").unwrap();
    let out = lifeboat(
        &root(),
        &["audit", "verify", "--data-dir", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no event log at"), "{}", stderr(&out));
    let missing = dir.path().join("missing");
    let out = lifeboat(
        &root(),
        &["audit", "verify", "--data-dir", missing.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!missing.exists(), "verify never creates a log");
}

#[test]
fn audit_verify_reads_the_data_dir_from_the_config() {
    let dir = project(&format!("[store]\ndata_dir = \"log\"\n\n{CONFIG}"), RUNBOOK);
    drop(SledStore::open(&dir.path().join("log")).unwrap());
    let out = lifeboat(
        dir.path(),
        &["audit", "verify", "--config", "lifeboat.toml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "0 events, chain intact");
}

#[test]
fn later_capabilities_say_so_and_exit_2() {
    let cases: [&[&str]; 1] = [&["readiness"]];
    for args in cases {
        let out = lifeboat(&root(), args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("not available yet"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn help_explains_the_commands() {
    let out = lifeboat(&root(), &["--help"], &[]);
    let text = stdout(&out);
    for command in [
        "run",
        "check",
        "feed",
        "plan",
        "drill",
        "export",
        "audit",
        "readiness",
        "register",
    ] {
        assert!(
            text.contains(command),
            "{command} missing from --help:\n{text}"
        );
    }
    let out = lifeboat(&root(), &["audit", "verify", "--help"], &[]);
    assert!(stdout(&out).contains("--data-dir"));
}

#[test]
fn secrets_never_reach_the_logs() {
    let secret = "sk-test-4f9a1c2b-do-not-log";
    for format in ["human", "json"] {
        let out = lifeboat(
            &root(),
            &["--log-format", format, "check"],
            &[
                ("RUST_LOG", "trace"),
                ("LIFEBOAT_DISCORD_TOKEN", secret),
                ("OPENAI_API_KEY", secret),
                ("ANTHROPIC_API_KEY", secret),
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            !all.contains(secret),
            "secret leaked with --log-format {format}:\n{all}"
        );
        assert!(
            all.contains("[redacted]"),
            "the secrets were loaded and logged redacted:\n{all}"
        );
        assert!(all.contains("OPENAI_API_KEY (set)"), "{all}");
    }
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = lifeboat(&root(), &["--version"], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text.starts_with(concat!("lifeboat ", env!("CARGO_PKG_VERSION"), " (commit ")),
        "{text}"
    );
    let commit = text
        .split("(commit ")
        .nth(1)
        .unwrap()
        .trim_end()
        .trim_end_matches(')');
    assert!(!commit.is_empty() && commit != "unknown", "{text}");
}
