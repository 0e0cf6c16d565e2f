//! Every runbook, template and config shipped with the project validates, the systemd unit is
//! hardened and its command lines run, and the README says what the code does: none can rot.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use lifeboat::runbook::StepKind;

use crate::support::{lifeboat, root, stderr};

#[test]
fn the_shipped_config_runbooks_and_templates_validate() {
    let root = root();
    // Paths in the config are relative to the working directory: cargo runs tests from
    // the project root, as the README runs Lifeboat.
    let checked = lifeboat::check::check(&root.join("config/lifeboat.toml"))
        .unwrap_or_else(|errors| panic!("shipped files are invalid: {errors:#?}"));
    let names: Vec<&str> = checked
        .runbooks
        .runbooks
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    for expected in [
        "failover-hosting",
        "failback-hosting",
        "switch-llm",
        "switch-llm-back",
        "restore-data",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let files = std::fs::read_dir(root.join("commands")).unwrap().count();
    assert_eq!(
        files,
        names.len(),
        "every file in commands/ is a loaded runbook"
    );
    let templates = std::fs::read_dir(root.join("config/templates"))
        .unwrap()
        .count();
    assert_eq!(checked.templates.len(), templates);
}

#[test]
fn failover_hosting_follows_the_drp_order() {
    let root = root();
    let config = lifeboat::config::Config::load(&root.join("config/lifeboat.toml")).unwrap();
    let runbook =
        lifeboat::runbook::load_file(&root.join("commands/failover-hosting.toml"), &config.config)
            .unwrap();
    let kinds: Vec<StepKind> = runbook.steps.iter().map(|s| s.action.kind()).collect();
    let position = |k: StepKind| kinds.iter().position(|x| *x == k).unwrap();
    assert!(position(StepKind::EcsScale) < position(StepKind::DbCopy));
    assert!(
        position(StepKind::DbCopy) < position(StepKind::DbRestore),
        "a direct copy first, the backup (its age checked by the restore) otherwise"
    );
    assert!(
        position(StepKind::DbRestore) < position(StepKind::DbVerify)
            && position(StepKind::DbVerify) < position(StepKind::Route53Upsert),
        "data restored and verified before DNS moves"
    );
    for name in ["failover-hosting", "restore-data", "failback-hosting"] {
        let text =
            std::fs::read_to_string(root.join("commands").join(format!("{name}.toml"))).unwrap();
        assert!(
            !text.contains("restore_command") && !text.contains("integrity_command"),
            "{name}"
        );
    }
    let failback =
        lifeboat::runbook::load_file(&root.join("commands/failback-hosting.toml"), &config.config)
            .unwrap();
    let ids: Vec<&str> = failback.steps.iter().map(|s| s.id.as_str()).collect();
    let at = |id: &str| ids.iter().position(|x| *x == id).unwrap();
    assert!(
        at("stop-writes") < at("copy-back") && at("verify-data") < at("point-dns"),
        "{ids:?}"
    );
    assert!(position(StepKind::Route53Upsert) < position(StepKind::HttpCheck));
}

/// `deploy/lifeboat.service` as (section, key, value), comments and blank lines left out.
fn unit_directives() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(root().join("deploy/lifeboat.service")).unwrap();
    let mut section = String::new();
    let mut directives = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("lifeboat.service:{}: not key=value: {line}", n + 1));
        directives.push((section.clone(), key.to_owned(), value.to_owned()));
    }
    directives
}

/// The one value of `key` in `[Service]`.
fn service(directives: &[(String, String, String)], key: &str) -> String {
    let values: Vec<&String> = directives
        .iter()
        .filter(|(s, k, _)| s == "Service" && k == key)
        .map(|(_, _, v)| v)
        .collect();
    assert_eq!(values.len(), 1, "[Service] {key}: {values:?}");
    values[0].clone()
}

/// systemd's time span for `TimeoutStopSec` (`60`, `90s`, `5min`, `1min 30s`).
fn systemd_span(text: &str) -> Duration {
    let mut total = Duration::ZERO;
    for part in text.split_whitespace() {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        let n: u64 = digits.parse().unwrap_or_else(|_| panic!("bad span {text}"));
        let unit = &part[digits.len()..];
        total += match unit {
            "" | "s" | "sec" => Duration::from_secs(n),
            "min" | "m" => Duration::from_secs(n * 60),
            "ms" | "msec" => Duration::from_millis(n),
            other => panic!("unit {other} in {text}"),
        };
    }
    total
}

#[test]
fn the_systemd_unit_is_hardened_and_outlasts_the_shutdown_grace() {
    let unit = unit_directives();
    for (key, want) in [
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("StateDirectory", "lifeboat"),
        ("NoNewPrivileges", "yes"),
        ("Restart", "on-failure"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("KillSignal", "SIGTERM"),
        // The bot's own working directory is its private state directory.
        ("WorkingDirectory", "/var/lib/lifeboat"),
    ] {
        assert_eq!(service(&unit, key), want, "[Service] {key}");
    }
    // systemd sends SIGKILL after TimeoutStopSec: it must leave the default grace, and the
    // shipped config's, time to let a step finish and the log be flushed.
    let stop = systemd_span(&service(&unit, "TimeoutStopSec"));
    let default_grace = lifeboat::config::ServerConfig::default()
        .shutdown_grace
        .get();
    let shipped = lifeboat::config::Config::load(&root().join("config/lifeboat.toml"))
        .unwrap()
        .config;
    for grace in [default_grace, shipped.server.shutdown_grace.get()] {
        assert!(
            stop > grace + Duration::from_secs(5),
            "TimeoutStopSec {stop:?} leaves no time after a grace of {grace:?}"
        );
    }
    assert!(
        unit.iter()
            .any(|(s, k, v)| s == "Install" && k == "WantedBy" && v == "multi-user.target")
    );
}

/// The unit's command line for `key`, with the installed paths mapped to this checkout.
fn unit_command(key: &str, config: &Path) -> Vec<String> {
    let line = service(&unit_directives(), key);
    let mut words = line.split_whitespace();
    assert_eq!(
        words.next(),
        Some("/usr/local/bin/lifeboat"),
        "{key}={line}"
    );
    words
        .map(|w| {
            if w == "/etc/lifeboat/lifeboat.toml" {
                config.display().to_string()
            } else {
                w.to_owned()
            }
        })
        .collect()
}

/// The unit checks the config for production before it starts the bot: the shipped config is
/// the offline demo (simulated AWS), which the unit must refuse to start as a service.
#[test]
fn the_units_exec_start_pre_checks_for_production_and_refuses_the_demo_config() {
    let args = unit_command("ExecStartPre", &root().join("config/lifeboat.toml"));
    assert_eq!(args.first().map(String::as_str), Some("check"), "{args:?}");
    assert!(args.iter().any(|a| a == "--production"), "{args:?}");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = lifeboat(&root(), &args, &[]);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
    assert!(stderr(&out).contains("simulated"), "{}", stderr(&out));
    // Without --production the same config is valid: only the production start refuses it.
    let plain: Vec<&str> = args.into_iter().filter(|a| *a != "--production").collect();
    let out = lifeboat(&root(), &plain, &[]);
    assert_eq!(out.status.code(), Some(0), "{plain:?}: {}", stderr(&out));
}

/// `ExecStart` as the unit runs it: the shipped config with the data directory in a temporary
/// state directory (what `StateDirectory` gives), no feeds (they would reach the real
/// providers), a free port and the token in the environment (a service has no terminal, so
/// without one it would refuse to start), on the fake Discord; it serves, and stops with exit
/// 0 on the unit's `KillSignal` well within `TimeoutStopSec`.
#[test]
fn the_units_exec_start_runs_and_stops_on_its_kill_signal() {
    let root = root();
    let state = tempfile::tempdir().unwrap();
    let mut config: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("config/lifeboat.toml")).unwrap())
            .unwrap();
    config.remove("feeds");
    config["store"]["data_dir"] =
        toml::Value::from(state.path().join("data").display().to_string());
    config["server"]["listen"] = toml::Value::from("127.0.0.1:0");
    let fake = crate::support::discord::FakeDiscord::start();
    config["discord"]
        .as_table_mut()
        .unwrap()
        .insert("api_base".into(), toml::Value::from(fake.api_base()));
    for (key, dir) in [("runbooks", "commands"), ("templates", "config/templates")] {
        config["paths"][key] = toml::Value::from(root.join(dir).display().to_string());
    }
    let path = state.path().join("lifeboat.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    let args = unit_command("ExecStart", &path);
    assert_eq!(args.first().map(String::as_str), Some("run"), "{args:?}");

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .current_dir(state.path())
        .args(&args)
        .env("LIFEBOAT_DISCORD_TOKEN", crate::support::app::TOKEN)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen
        .iter()
        .any(|l: &String| l.contains("Lifeboat is watching"))
    {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(50)) {
            seen.push(line);
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "`lifeboat {}` did not start:\n{}\n{}",
                args.join(" "),
                seen.join("\n"),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.starts_with("Health and metrics on http://127.0.0.1:")),
        "{seen:?}"
    );
    let signal = service(&unit_directives(), "KillSignal");
    let status = std::process::Command::new("kill")
        .args([
            format!("-{}", signal.trim_start_matches("SIG")),
            child.id().to_string(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let limit = systemd_span(&service(&unit_directives(), "TimeoutStopSec"));
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > limit {
            let _ = child.kill();
            panic!("not stopped within TimeoutStopSec {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Read to the end of the output (the reader thread hangs up at EOF), so the last line is
    // never missed however slowly it arrives; bounded in case something still holds the pipe.
    let drained = Instant::now() + Duration::from_secs(10);
    while Instant::now() < drained {
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => seen.push(line),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    assert_eq!(status.code(), Some(0), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("Lifeboat stopped."));
    assert!(
        state.path().join("data").is_dir(),
        "the log lives in the state directory"
    );
}

/// The gateway intents named in backticks in `text` among `known`.
fn intents_named(text: &str, known: &[String]) -> BTreeSet<String> {
    known
        .iter()
        .filter(|name| text.contains(&format!("`{name}`")))
        .cloned()
        .collect()
}

#[test]
fn the_readme_names_exactly_the_gateway_intents_the_code_asks_for() {
    let known: Vec<String> = serenity::all::GatewayIntents::all()
        .iter_names()
        .map(|(name, _)| name.to_owned())
        .collect();
    assert!(known.iter().any(|n| n == "MESSAGE_CONTENT"), "{known:?}");
    let code = std::fs::read_to_string(root().join("src/chat/discord/connect.rs")).unwrap();
    let used: BTreeSet<String> = code
        .split("GatewayIntents::")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect();
    assert!(
        !used.is_empty(),
        "no intent found in src/chat/discord/connect.rs"
    );
    for name in &used {
        assert!(known.contains(name), "{name} is not a gateway intent");
    }
    // None of them is privileged, as the README promises.
    for privileged in ["GUILD_MEMBERS", "GUILD_PRESENCES", "MESSAGE_CONTENT"] {
        assert!(!used.contains(privileged), "{privileged} is privileged");
    }
    // Both the Discord section and the deployment section say so.
    for (page, heading) in [
        ("docs/chat.md", "## Discord\n"),
        ("docs/operations.md", "## Running it for real\n"),
    ] {
        let readme = std::fs::read_to_string(root().join(page)).unwrap();
        let start = readme
            .find(heading)
            .unwrap_or_else(|| panic!("{page} has no {heading:?}"));
        let section = &readme[start + heading.len()..];
        let section = &section[..section.find("\n## ").unwrap_or(section.len())];
        assert_eq!(
            intents_named(section, &known),
            used,
            "the intents in {page} {heading:?} differ from the code's"
        );
        assert!(section.contains("intent"), "{heading:?}");
    }
}

/// A user's clone has nothing beside it: no file of the project may read outside the
/// repository (the real captures the tests replay are copied into `tests/fixtures/`).
#[test]
fn nothing_reads_outside_the_repository() {
    let root = root();
    let mut offenders = Vec::new();
    let mut stack: Vec<std::path::PathBuf> =
        ["src", "tests", "benches", "scripts", "config", ".ci"]
            .iter()
            .map(|d| root.join(d))
            .chain([root.join("build.rs"), root.join("Cargo.toml")])
            .collect();
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        // Spelled in two pieces so that this test does not find itself.
        let sibling = concat!("../", "shared");
        if text.contains(sibling) {
            offenders.push(path.strip_prefix(&root).unwrap().display().to_string());
        }
    }
    assert!(
        offenders.is_empty(),
        "these files read a sibling folder a user's clone does not have: {offenders:?}"
    );
    for capture in [
        "SOURCES.md",
        "anthropic_statuspage_summary_incident_2026-10-07.json",
        "heroku_v4_current_status_red_SHAPE_cli_test.json",
    ] {
        assert!(
            root.join("tests/fixtures/feeds/captured")
                .join(capture)
                .is_file(),
            "{capture} is kept in the repository"
        );
    }
}
