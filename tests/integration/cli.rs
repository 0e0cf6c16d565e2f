//! The `lifeboat` command line as a user meets it: `check` on good and bad files, `audit
//! verify`, `check --production`, `readiness` offline, `iam-policy`, `docs`, clear failures
//! and redacted secrets.

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

/// Relative paths are taken from the directory Lifeboat was started in: started elsewhere, each
/// error names that directory and says how to fix it.
#[test]
fn a_relative_path_not_found_names_the_directory_it_was_resolved_from() {
    let project = project(CONFIG, RUNBOOK);
    let elsewhere = tempfile::tempdir().unwrap();
    let from = elsewhere.path().canonicalize().unwrap();
    let fix = "run it from the project root, or make the path absolute";
    let config = project.path().join("lifeboat.toml");
    let out = lifeboat(&from, &["check", "--config", config.to_str().unwrap()], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "cannot read the runbook directory commands: No such file or directory (os error 2) \
             (a relative path, resolved from {}, the directory Lifeboat was started in: {fix})",
            from.display()
        )),
        "{err}"
    );
    // The same for the config file itself, and for a log directory.
    let out = lifeboat(&from, &["check", "--config", "lifeboat.toml"], &[]);
    assert!(
        stderr(&out).contains(&format!("resolved from {}", from.display()))
            && stderr(&out).contains(fix),
        "{}",
        stderr(&out)
    );
    let out = lifeboat(&from, &["audit", "verify", "--data-dir", "data"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "no event log at data (a relative path, resolved from {}",
            from.display()
        )) && stderr(&out).contains(fix),
        "{}",
        stderr(&out)
    );
    // An absolute path is its own explanation.
    let absent = from.join("absent");
    let out = lifeboat(
        &from,
        &["audit", "verify", "--data-dir", absent.to_str().unwrap()],
        &[],
    );
    assert!(!stderr(&out).contains(fix), "{}", stderr(&out));
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
fn readiness_of_a_demo_project_says_what_is_missing_and_exits_1() {
    // Nothing here reaches the network: simulated AWS, no LLM, no backup step.
    let dir = project(CONFIG, RUNBOOK);
    let out = lifeboat(
        dir.path(),
        &[
            "readiness",
            "--config",
            "lifeboat.toml",
            "--data-dir",
            "data",
        ],
        &[],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    for line in [
        "FAIL  aws: [aws] mode is simulated",
        "FAIL  ecs: no [aws.ecs] in the config",
        "FAIL  dns: no [aws.dns] in the config",
        "FAIL  anthropic key: no [llm.anthropic] in the config",
        "FAIL  backup: no runbook has a backup_check step",
        "FAIL  drill of demo: never drilled (the plan asks for one every 365d, by a game day or against real AWS: `/drill start … mode:gameday`)",
        "NOT READY: 6 of 6 checks failed",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(!dir.path().join("data").exists(), "readiness only reads");
}

/// A project that `check` accepts but `check --production` must not.
const DEMO_ONLY: &str = r#"
[discord]
token_env = "CLI_TEST_DISCORD_TOKEN"

[[providers]]
name = "app"
workstream = "hosting"

[[feeds]]
name = "app-probe"
provider = "app"
kind = "probe"
url = "http://127.0.0.1:8080/health"

[aws]
mode = "simulated"
"#;

#[test]
fn check_production_fails_on_what_only_a_demo_may_have() {
    let config = CONFIG.replace("hosting_rto = \"4h\"", "hosting_rto = \"1m\"") + DEMO_ONLY;
    let dir = project(&config, RUNBOOK);
    let (code, _, err) = check(dir.path());
    assert_eq!(code, Some(0), "plain check accepts a demo: {err}");

    let out = lifeboat(
        dir.path(),
        &["check", "--production", "--config", "lifeboat.toml"],
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for expected in [
        "lifeboat.toml:2:1: runbook `demo` can take up to 2m 00s (step timeouts × attempts + backoff), more than hosting_rto 1m; largest: tell 2m 00s",
        "lifeboat.toml:14:1: `token_env` names the environment variable CLI_TEST_DISCORD_TOKEN, which is not set",
        "lifeboat.toml:24:1: a probe points at this machine (`http://127.0.0.1:8080/health`): in production it must reach the real service",
        "lifeboat.toml:27:1: [aws] mode is `simulated`: a failover would change nothing real; set mode = \"live\"",
        "4 errors found",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(stdout(&out).is_empty(), "no summary on failure");

    // Fixed, it passes and says so.
    let config = CONFIG.to_owned()
        + &DEMO_ONLY
            .replace("http://127.0.0.1:8080", "https://app.example.com")
            .replace("simulated", "live");
    let dir = project(&config, RUNBOOK);
    let out = lifeboat(
        dir.path(),
        &["check", "--production", "--config", "lifeboat.toml"],
        &[("CLI_TEST_DISCORD_TOKEN", "a-token")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("production: ok"), "{}", stdout(&out));
}

/// The AWS API calls `src/aws/` and `src/ha/` make, as IAM actions (`dns.rs` is Route 53,
/// `ecs.rs` and `ecs/revision.rs` ECS, `s3.rs` S3, `ha/table.rs` and `ha/log.rs` DynamoDB):
/// every `.client.<operation>()` call chain there.
fn sdk_actions() -> std::collections::BTreeSet<String> {
    let mut actions = std::collections::BTreeSet::new();
    for (file, service) in [
        ("dns.rs", "route53"),
        ("ecs.rs", "ecs"),
        ("ecs/revision.rs", "ecs"),
        ("s3.rs", "s3"),
        ("../ha/table.rs", "dynamodb"),
        ("../ha/log.rs", "dynamodb"),
    ] {
        let text = std::fs::read_to_string(root().join("src/aws").join(file)).unwrap();
        let compact: String = text.split_whitespace().collect();
        for call in compact.split(".client.").skip(1) {
            let operation = call.split("()").next().unwrap();
            let pascal: String = operation
                .split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect();
            // S3's IAM actions are not named after its operations.
            let action = match (service, pascal.as_str()) {
                ("s3", "ListObjectsV2") => "ListBucket".to_owned(),
                ("s3", "HeadObject") => "GetObject".to_owned(),
                // The parts of a multipart upload are authorised as PutObject.
                ("s3", "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload") => {
                    "PutObject".to_owned()
                }
                // A transaction is authorised item by item: the lease's ConditionCheck and
                // each event's Put.
                ("dynamodb", "TransactWriteItems") => {
                    actions.insert("dynamodb:ConditionCheckItem".to_owned());
                    "PutItem".to_owned()
                }
                _ => pascal,
            };
            actions.insert(format!("{service}:{action}"));
        }
    }
    actions
}

#[test]
fn iam_policy_is_json_naming_exactly_the_calls_lifeboat_makes() {
    let out = lifeboat(&root(), &["iam-policy"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let policy: serde_json::Value =
        serde_json::from_str(&stdout(&out)).expect("the policy is one JSON document");
    assert_eq!(policy["Version"], "2012-10-17");
    let statements = policy["Statement"].as_array().unwrap();
    let mut actions = std::collections::BTreeSet::new();
    for s in statements {
        assert_eq!(s["Effect"], "Allow");
        assert!(s["Sid"].is_string());
        assert!(s["Resource"].is_string() || s["Resource"].is_array(), "{s}");
        for a in s["Action"].as_array().unwrap() {
            actions.insert(a.as_str().unwrap().to_owned());
        }
    }
    let calls = sdk_actions();
    assert!(calls.len() >= 10, "the scan found the calls: {calls:?}");
    // The shipped runbooks use every AWS step kind, so every call is needed, and no more;
    // the shipped config keeps its backups nowhere ([data] is commented out), so no S3, and
    // is a single node (no [ha]), so no DynamoDB.
    let (dynamodb, calls): (
        std::collections::BTreeSet<String>,
        std::collections::BTreeSet<String>,
    ) = calls.into_iter().partition(|a| a.starts_with("dynamodb:"));
    let (s3, others): (std::collections::BTreeSet<String>, _) =
        calls.iter().cloned().partition(|a| a.starts_with("s3:"));
    assert_eq!(actions, others);
    assert!(
        dynamodb.len() >= 5,
        "the scan found the [ha] calls: {dynamodb:?}"
    );
    // With backups in a bucket, exactly the S3 calls too, on the bucket and prefix only.
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(root().join("config/lifeboat.toml")).unwrap();
    std::fs::write(
        dir.path().join("lifeboat.toml"),
        format!(
            "{}\n[data]\nprimary_url_env = \"DATABASE_URL\"\nstandby_url_env = \"STANDBY_DATABASE_URL\"\nbackups = {{ bucket = \"example-db-backups\", prefix = \"pg/\" }}\n\n[ha]\ntable = \"lifeboat-ha\"\n",
            shipped
                .replace("runbooks = \"commands\"", &format!("runbooks = {:?}", root().join("commands")))
                .replace("templates = \"config/templates\"", &format!("templates = {:?}", root().join("config/templates")))
        ),
    )
    .unwrap();
    let out = lifeboat(
        dir.path(),
        &["iam-policy", "--config", "lifeboat.toml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let with_bucket: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let mut bucket_actions = std::collections::BTreeSet::new();
    for st in with_bucket["Statement"].as_array().unwrap() {
        for a in st["Action"].as_array().unwrap() {
            let a = a.as_str().unwrap();
            if a.starts_with("s3:") {
                bucket_actions.insert(a.to_owned());
                let resource = st["Resource"].as_str().unwrap();
                assert!(
                    resource == "arn:aws:s3:::example-db-backups"
                        || resource == "arn:aws:s3:::example-db-backups/pg/*",
                    "{st}"
                );
            }
        }
    }
    assert_eq!(bucket_actions, s3);
    // With [ha], exactly the DynamoDB calls, on that table only.
    let mut table_actions = std::collections::BTreeSet::new();
    for st in with_bucket["Statement"].as_array().unwrap() {
        for a in st["Action"].as_array().unwrap() {
            let a = a.as_str().unwrap();
            if a.starts_with("dynamodb:") {
                table_actions.insert(a.to_owned());
                assert_eq!(
                    st["Resource"],
                    "arn:aws:dynamodb:us-east-1:ACCOUNT_ID_NOT_SET:table/lifeboat-ha",
                    "{st}"
                );
            }
        }
    }
    assert_eq!(table_actions, dynamodb);
    // Resources are the configured ones.
    let text = stdout(&out);
    assert!(
        text.contains("arn:aws:route53:::hostedzone/Z0123456789EXAMPLE"),
        "{text}"
    );
    assert!(text.contains("arn:aws:ecs:us-east-1:ACCOUNT_ID_NOT_SET:service/lifeboat-standby/web"));
    assert!(
        stderr(&out).contains("[aws] account_id is not set"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn iam_policy_uses_the_configured_account() {
    let config = CONFIG.to_owned()
        + r#"
[aws]
mode = "live"
region = "eu-west-1"
account_id = "123456789012"

[aws.ecs]
cluster = "standby"
services = [{ name = "web", standby = 2 }]
"#;
    let runbook = RUNBOOK.to_owned()
        + "\n[[steps]]\nid = \"scale\"\nkind = \"ecs_scale\"\nwith = { to = \"standby\" }\n";
    let dir = project(&config, &runbook);
    let out = lifeboat(
        dir.path(),
        &["iam-policy", "--config", "lifeboat.toml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("arn:aws:ecs:eu-west-1:123456789012:service/standby/web"),
        "{text}"
    );
    assert!(
        !text.contains("route53"),
        "no DNS configured or moved: {text}"
    );
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));

    let bad = config.replace("123456789012", "12345");
    let dir = project(&bad, &runbook);
    let out = lifeboat(
        dir.path(),
        &["iam-policy", "--config", "lifeboat.toml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("`12345` is not an AWS account id (12 digits)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn docs_render_every_shipped_runbook_and_no_secret() {
    let secrets = [
        ("LIFEBOAT_DISCORD_TOKEN", "discord-secret-7a1f"),
        ("OPENAI_API_KEY", "sk-openai-secret-2b9c"),
        ("ANTHROPIC_API_KEY", "sk-ant-secret-5d0e"),
        ("HEROKU_API_KEY", "heroku-secret-8e3a"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("plan.md");
    let out = lifeboat(
        &root(),
        &["docs", "--out", out_file.to_str().unwrap()],
        &secrets,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&out_file).unwrap();
    let mut shipped = 0;
    for entry in std::fs::read_dir(root().join("commands")).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        let runbook: toml::Value = toml::from_str(&source).unwrap();
        let name = runbook["name"].as_str().unwrap();
        let title = runbook["title"].as_str().unwrap();
        assert!(
            text.contains(&format!("### {name}\n")),
            "{name} missing:\n{text}"
        );
        assert!(text.contains(title), "{title} missing");
        assert!(
            text.contains(&format!("### Training: {name}\n")),
            "training for {name} missing"
        );
        for step in runbook["steps"].as_array().unwrap() {
            let id = step["id"].as_str().unwrap();
            assert!(
                text.contains(&format!("(`{id}`, ")),
                "step {id} of {name} missing"
            );
            assert!(
                text.contains(&format!("| `{id}` | ")),
                "training row of step {id} of {name} missing"
            );
        }
        shipped += 1;
    }
    assert_eq!(shipped, 5);
    for (var, value) in secrets {
        assert!(!text.contains(value), "the value of {var} leaked");
        assert!(text.contains(&format!("`{var}`")), "{var} is named");
    }
    for section in [
        "## Objectives",
        "## Feeds watched",
        "## Protocols",
        "## Teams and routes",
        "## Who may act",
        "## Training",
        "`/confirm RUN-… confirm-scope yes`",
        "`/drill start scenario:heroku-outage mode:gameday`",
        "`/drill start scenario:openai-outage mode:gameday`",
        "## Upkeep",
        "## Last drills",
    ] {
        assert!(text.contains(section), "{section} missing");
    }

    // With a data dir, the drills recorded there are listed.
    let data = dir.path().join("data");
    let drill = lifeboat(
        &root(),
        &[
            "drill",
            "heroku-outage",
            "--data-dir",
            data.join("drill-1").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(drill.status.code(), Some(0), "{}", stderr(&drill));
    let out = lifeboat(
        &root(),
        &["docs", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("| heroku → `failover-hosting` | succeeded |"),
        "{text}"
    );
    let missing = lifeboat(
        &root(),
        &["docs", "--data-dir", "/nonexistent/lifeboat"],
        &[],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no event log at /nonexistent/lifeboat"));
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
        "iam-policy",
        "docs",
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

/// `/backup` hands out the whole log without authentication: `--production` keeps the
/// operators' server on loopback.
#[test]
fn check_production_fails_when_the_server_listens_beyond_loopback() {
    let production = CONFIG.to_owned()
        + &DEMO_ONLY
            .replace("http://127.0.0.1:8080", "https://app.example.com")
            .replace("simulated", "live");
    let exposed = format!("{production}\n[server]\nlisten = \"0.0.0.0:9090\"\n");
    let line = exposed
        .lines()
        .position(|l| l.starts_with("listen = "))
        .unwrap()
        + 1;
    let dir = project(&exposed, RUNBOOK);
    let (code, _, err) = check(dir.path());
    assert_eq!(code, Some(0), "plain check accepts it: {err}");
    let out = lifeboat(
        dir.path(),
        &["check", "--production", "--config", "lifeboat.toml"],
        &[("CLI_TEST_DISCORD_TOKEN", "a-token")],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "lifeboat.toml:{line}:1: [server] listen = \"0.0.0.0:9090\" is not a loopback address: /healthz, /metrics and /backup (the whole event log) are served without authentication; listen on 127.0.0.1"
        )),
        "{err}"
    );
    assert!(err.contains("1 error found"), "{err}");

    // On loopback, it passes.
    let local = exposed.replace("0.0.0.0:9090", "127.0.0.1:9090");
    let dir = project(&local, RUNBOOK);
    let out = lifeboat(
        dir.path(),
        &["check", "--production", "--config", "lifeboat.toml"],
        &[("CLI_TEST_DISCORD_TOKEN", "a-token")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("production: ok"), "{}", stdout(&out));
}
