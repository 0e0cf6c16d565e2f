//! `lifeboat drill` end to end through the binary, on the shipped config: the disaster, the
//! recovery, the measured objectives and an intact, drill-marked event log; the post-mortem
//! it writes (whose figures match the ones it prints, and `lifeboat export`'s output) and
//! which never contains a secret.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::support::{TestConfig, lifeboat, root, stderr, stdout};

/// The value after `label` on the line of the drill's results that contains it, up to the
/// first `,` or `(`: e.g. `457ms` for `detection time`.
fn figure<'a>(text: &'a str, label: &str) -> &'a str {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in\n{text}"));
    let rest = line.trim_start()[label.len()..].trim_start();
    rest.split([',', '(']).next().unwrap().trim_end()
}

/// The lines of the drill's results about `provider`.
fn results_of(text: &str, provider: &str) -> String {
    let results = text
        .split("== Drill results ==")
        .nth(1)
        .unwrap_or_else(|| panic!("no results in\n{text}"));
    let mut lines = results
        .lines()
        .skip_while(|l| !l.starts_with(&format!("{provider} → ")));
    let head = lines
        .next()
        .unwrap_or_else(|| panic!("no results for {provider} in\n{text}"));
    std::iter::once(head)
        .chain(lines.take_while(|l| l.starts_with("  ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The post-mortem files the drill printed under `post-mortem of INC-…:`, checked to exist.
fn postmortems(text: &str) -> (String, Vec<PathBuf>) {
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with("post-mortem of "));
    let head = lines
        .next()
        .unwrap_or_else(|| panic!("no post-mortem line in\n{text}"));
    let incident = head
        .trim_start_matches("post-mortem of ")
        .trim_end_matches(':')
        .to_owned();
    let paths: Vec<PathBuf> = lines
        .take_while(|l| l.starts_with("  "))
        .map(|l| PathBuf::from(l.trim()))
        .collect();
    (incident, paths)
}

fn drill(scenario: &str, config: &Path, data: &Path, env: &[(&str, &str)]) -> String {
    let out = lifeboat(
        &root(),
        &[
            "drill",
            scenario,
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        env,
    );
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{scenario}: {}\n{text}",
        stderr(&out)
    );
    text
}

#[test]
fn both_drills_recover_within_the_objectives_and_leave_an_intact_log() {
    for scenario in ["heroku-outage", "openai-outage", "both"] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("log");
        let out = lifeboat(
            &root(),
            &["drill", scenario, "--data-dir", data.to_str().unwrap()],
            &[],
        );
        let text = stdout(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{scenario}: {}\n{text}",
            stderr(&out)
        );
        assert!(text.contains("== Drill results =="), "{text}");
        assert!(!text.contains("MISSED"), "{text}");
        let expect: &[&str] = match scenario {
            "heroku-outage" => &[
                "heroku → failover-hosting (succeeded",
                "RTO 4h: met",
                // Offline there is no real database: no stand-in constant passes for a measurement.
                "data-loss window not measured (simulated data) (RPO 1h: not measured)",
                // Lifeboat's pipeline apart from what the configured intervals add.
                "(simulated outage → confirmed alert; Lifeboat's pipeline, the drill polling every 250ms)",
                "detection bound  with heroku-status every 60s and app-probe every 30s, a real outage is confirmed within ≈ 2 polls: 60–120 s + pipeline (the configured intervals; not measured)",
            ],
            "openai-outage" => &[
                "openai → switch-llm (succeeded",
                "RTO 2h: met",
                // The shipped config watches OpenAI with one feed: never confirmed.
                "detection bound  with openai-status every 60s, a real outage opens an alert within ≈ 2 polls: 60–120 s + pipeline, never confirmed (confirmation needs a second feed)",
                "data-loss window none (no data restored)",
            ],
            _ => &[
                "heroku → failover-hosting (succeeded",
                "openai → switch-llm (succeeded",
            ],
        };
        for line in expect {
            assert!(text.contains(line), "{scenario}: `{line}` missing:\n{text}");
        }

        // The post-mortem: written in every format, its path printed, and its figures are the
        // ones the drill printed (both read the log).
        let (incident, paths) = postmortems(&text);
        assert!(incident.starts_with("INC-"), "{incident}");
        let dir = PathBuf::from(format!("{}.postmortem", data.display()));
        let want: Vec<PathBuf> = ["md", "json", "csv", "html"]
            .iter()
            .map(|ext| dir.join(format!("{incident}.{ext}")))
            .collect();
        assert_eq!(paths, want, "{text}");
        for path in &paths {
            let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            assert!(len > 500, "{} is missing or empty", path.display());
        }
        let md = std::fs::read_to_string(&paths[0]).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&paths[1]).unwrap()).unwrap();
        assert_eq!(json["summary"]["drill"], true);
        assert_eq!(json["summary"]["severity"], "sev1");
        assert_eq!(json["summary"]["commander"], "commander (drill)");
        let providers: Vec<&str> = match scenario {
            "heroku-outage" => vec!["heroku"],
            "openai-outage" => vec!["openai"],
            _ => vec!["heroku", "openai"],
        };
        assert_eq!(
            json["summary"]["simulated_outages"]
                .as_array()
                .unwrap()
                .len(),
            providers.len()
        );
        for provider in &providers {
            let block = results_of(&text, provider);
            let detection = figure(&block, "detection time");
            assert!(
                md.contains(&format!(
                    "- Detection time of the drill for {provider}: {detection} (simulated outage → confirmed alert)"
                )),
                "{scenario}: printed detection {detection} for {provider} is not the post-mortem's:\n{md}"
            );
            let outage = json["summary"]["simulated_outages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["provider"] == *provider)
                .unwrap();
            let ms = outage["detection_ms"].as_i64().unwrap();
            assert!(ms > 0, "{outage}");
            assert!(
                md.contains(&format!("| Simulated outage of {provider} (drill) |")),
                "{md}"
            );
            // The post-mortem keeps the bound apart from the measured detection, as printed.
            let bound = figure(&block, "detection bound");
            assert!(
                md.contains(&format!(
                    "- Detection bound for {provider} under the configured intervals (not measured): {bound}"
                )),
                "{scenario}: no bound `{bound}` for {provider} in the post-mortem:\n{md}"
            );
        }
        // Time to recovery and data loss: the objectives table's figures.
        for (provider, ws, rto) in [("heroku", "hosting", "4h"), ("openai", "llm", "2h")] {
            if !providers.contains(&provider) {
                continue;
            }
            let block = results_of(&text, provider);
            let recovery = figure(&block, "time to recovery");
            let row = format!("| RTO {ws} | {rto} | {recovery} | met |");
            assert!(
                md.contains(&row),
                "{scenario}: printed recovery {recovery} is not the post-mortem's ({row}):\n{md}"
            );
            if provider == "heroku" {
                let loss = figure(&block, "data-loss window");
                let row = if loss.starts_with("not") {
                    "| RPO | 1h | no window measured: no real database restored, no backup checked | not measured |".to_owned()
                } else {
                    format!("| RPO | 1h | {loss} | met |")
                };
                assert!(md.contains(&row), "{loss}\n{md}");
            }
        }
        assert!(
            md.contains("recovered after") && !md.contains("recovered after 0ms"),
            "{md}"
        );

        // Every message of the drill carries the marker: alerts, requests, progress, teams.
        for marked in [
            // A drill's AWS is always simulated, so its alerts and run progress say so too.
            "[DRILL] SIMULATED — [CONFIRMED]",
            "[DRILL] [RECOVERED]",
            "[DRILL] 🚨 Incident",
            "[DRILL] SIMULATED — [RUN-",
            "[DRILL] <@&",
        ] {
            assert!(
                text.contains(marked),
                "{scenario}: no `{marked}` in\n{text}"
            );
        }
        for line in text.lines() {
            for unmarked in ["[CONFIRMED]", "[RECOVERED]", "[RUN-", "<@&", "✅", "📝"] {
                assert!(
                    !line.starts_with(unmarked),
                    "{scenario}: unmarked drill message `{line}`"
                );
            }
        }
        assert!(
            text.contains("[CONFIRMED]"),
            "the alert was confirmed by two signals"
        );
        assert!(text.contains("[RECOVERED]"), "one recovery notice");

        let verify = lifeboat(
            &root(),
            &["audit", "verify", "--data-dir", data.to_str().unwrap()],
            &[],
        );
        assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));

        let store = lifeboat::store::SledStore::open(&data).unwrap();
        use lifeboat::ports::store::EventStore;
        let events = store.all().unwrap();
        let finished = events
            .iter()
            .find(|e| e.kind == "drill.finished")
            .expect("drill.finished");
        assert!(
            finished.data["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["rto_met"] == true)
        );
        // A fully automatic drill on the simulation, recorded so (it does not count as the
        // plan's drill), each result with its detection bound.
        assert_eq!(finished.data["mode"], "automatic", "{finished:?}");
        assert_eq!(finished.data["real_aws"], false, "{finished:?}");
        assert!(
            finished.data["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["detection_bound"]
                    .as_str()
                    .unwrap()
                    .contains("a real outage")),
            "{finished:?}"
        );
        // No constant data-loss window anywhere: not in the report, the messages or the
        // post-mortem (the stand-in backup is 12 minutes old).
        for (what, said) in [("the output", &text), ("the post-mortem", &md)] {
            assert!(
                !said.contains("12m 0") && !said.contains("12m 1"),
                "{scenario}: a stand-in's age in {what}:\n{said}"
            );
        }
        // Offline, nothing was restored: no window in the record either.
        assert!(
            finished.data["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["data_loss_secs"].is_null()),
            "{finished:?}"
        );
        let data_line = if scenario == "openai-outage" {
            "data: none (the drilled runbooks move no data)"
        } else {
            "data: the simulation (no database restored"
        };
        assert!(text.contains(data_line), "{scenario}: {text}");
        for kind in [
            "drill.started",
            "drill.outage_simulated",
            "alert.posted",
            "incident.declared",
            "run.requested",
            "run.approved",
            "run.succeeded",
            "alert.recovered",
            "incident.resolved",
        ] {
            assert!(
                events.iter().any(|e| e.kind == kind),
                "{scenario}: {kind} missing"
            );
        }
    }
}

#[test]
fn a_tampered_drill_log_fails_audit_verify() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let out = lifeboat(
        &root(),
        &[
            "drill",
            "openai-outage",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    {
        let db = sled::Config::new()
            .path(&data)
            .flush_every_ms(None)
            .open()
            .unwrap();
        let events = db.open_tree("events").unwrap();
        let key = 10u64.to_be_bytes();
        let mut bytes = events.get(key).unwrap().unwrap().to_vec();
        let at = bytes.iter().position(|b| *b == b'"').unwrap();
        bytes.insert(at + 1, b'x');
        events.insert(key, bytes).unwrap();
        db.flush().unwrap();
    }
    let verify = lifeboat(
        &root(),
        &["audit", "verify", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        stdout(&verify).contains("chain broken at seq 10"),
        "{}",
        stdout(&verify)
    );
}

/// The step outputs of a drill's data steps and its `drill.finished` result for heroku, read
/// from the drill's log; checks that a real database was restored and the window measured.
fn assert_real_restore(data: &Path, text: &str, tables: &[&str]) {
    use lifeboat::ports::store::EventStore;
    let events = lifeboat::store::SledStore::open(data)
        .unwrap()
        .all()
        .unwrap();
    let output = |step: &str| {
        events
            .iter()
            .find(|e| e.kind == "step.succeeded" && e.data["step"] == step)
            .unwrap_or_else(|| panic!("no `{step}` succeeded in\n{text}"))
            .data["output"]
            .clone()
    };
    // The primary went down with Heroku: the backup path, from the backup the drill took.
    let copy = output("copy-data");
    assert_eq!(copy["copied"], false, "{copy}");
    assert!(
        copy["reason"]
            .as_str()
            .unwrap()
            .contains("drill_primary\" is not currently accepting connections"),
        "{copy}"
    );
    let taken = events
        .iter()
        .find(|e| e.kind == "db.backup_taken")
        .expect("the drill's backup is recorded");
    let restore = output("restore");
    assert_eq!(restore["simulated"], false, "{restore}");
    assert_eq!(restore["backup"], taken.data["key"], "{restore}");
    let verify = output("verify-data");
    assert_eq!(verify["measured"], true, "{verify}");
    assert_eq!(verify["data_loss_secs"], 720, "{verify}");
    let counted: Vec<(String, u64, u64)> = verify["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_owned(),
                t["rows"].as_u64().unwrap(),
                t["expected"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, u64, u64)> = tables
        .iter()
        .map(|t| ((*t).to_owned(), 2000, 2000))
        .collect();
    assert_eq!(counted, want, "{verify}");

    // The report, the post-mortem and `drill.finished` give the measured window: the seed's
    // gap of 12 minutes before the outage.
    assert!(
        text.contains("data-loss window 12m 00s, measured from the restored rows (RPO 1h: met)"),
        "{text}"
    );
    let (incident, paths) = postmortems(text);
    let md = std::fs::read_to_string(&paths[0]).unwrap();
    assert!(md.contains("| RPO | 1h | 12m 00s | met |"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&paths[1]).unwrap()).unwrap();
    assert_eq!(json["summary"]["incident"], incident.as_str());
    assert_eq!(
        json["summary"]["runs"][0]["achieved_rpo_secs"], 720,
        "{json:#}"
    );
    let finished = events
        .iter()
        .find(|e| e.kind == "drill.finished")
        .expect("drill.finished");
    assert_eq!(finished.data["results"][0]["data_loss_secs"], 720);
    assert_eq!(finished.data["results"][0]["rpo_met"], true);
}

#[test]
fn a_drill_with_postgres_restores_a_real_database_and_measures_the_seed_gap() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let out = lifeboat(
        &root(),
        &[
            "drill",
            "heroku-outage",
            "--postgres",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}\n{text}", stderr(&out));
    assert!(
        text.contains("data: a throwaway PostgreSQL on 127.0.0.1:"),
        "{text}"
    );
    // The shipped config has no [data]: the drill seeds its stand-in tables.
    assert_real_restore(&data, &text, &["public.orders", "public.events"]);
    let verify = lifeboat(
        &root(),
        &["audit", "verify", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
}

/// With `[data]` pointing at reachable databases, a drill (without `--postgres`) restores a
/// real database all the same, but in a throwaway cluster of its own: the configured primary,
/// standby and backup directory are exactly as they were.
#[test]
fn a_drill_with_data_configured_restores_in_a_throwaway_and_leaves_the_company_databases_alone() {
    use crate::support::postgres::{Db, seed, tables};

    let (primary, standby) = (Db::new("company_primary"), Db::new("company_standby"));
    seed(&primary, 100, "2026-11-25T10:00:00Z");
    standby.sql("CREATE TABLE marker (x int); INSERT INTO marker VALUES (1);");
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("company-backups");
    std::fs::create_dir(&backups).unwrap();
    let config = TestConfig::shipped()
        .set(
            "data",
            serde_json::json!({
                "primary_url_env": "DRILL_TEST_DATABASE_URL",
                "standby_url_env": "DRILL_TEST_STANDBY_URL",
                "backups": { "dir": backups.display().to_string() },
                "tables": tables(),
            }),
        )
        .write(dir.path());
    let data = dir.path().join("log");
    let text = drill(
        "heroku-outage",
        &config,
        &data,
        &[
            ("DRILL_TEST_DATABASE_URL", &primary.url()),
            ("DRILL_TEST_STANDBY_URL", &standby.url()),
        ],
    );
    assert!(
        text.contains("the configured databases and backups were not touched"),
        "{text}"
    );
    // The company's tables, seeded and verified in the throwaway.
    assert_real_restore(&data, &text, &["public.orders", "public.events"]);
    for url in [primary.url(), standby.url()] {
        assert!(!text.contains(&url), "{url} named in\n{text}");
    }
    assert_eq!(primary.count("SELECT count(*) FROM orders"), 100);
    assert_eq!(
        primary.count(
            "SELECT count(*) FROM pg_database WHERE datname = current_database() AND datallowconn"
        ),
        1,
        "the configured primary was not taken down"
    );
    assert_eq!(standby.count("SELECT count(*) FROM marker"), 1);
    assert_eq!(
        standby.count("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
        1,
        "nothing was restored into the configured standby"
    );
    assert_eq!(
        std::fs::read_dir(&backups).unwrap().count(),
        0,
        "no drill backup in the configured store"
    );
}

#[test]
fn an_unknown_scenario_is_refused() {
    let out = lifeboat(&root(), &["drill", "mars-outage"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("heroku-outage, openai-outage or both"));
}

#[test]
fn export_refuses_an_unknown_incident_and_a_missing_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    drop(lifeboat::store::SledStore::open(&data).unwrap());
    let out = lifeboat(
        &root(),
        &[
            "export",
            "INC-nope",
            "--format",
            "json",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("INC-nope"), "{}", stderr(&out));
    let missing = dir.path().join("missing");
    let out = lifeboat(
        &root(),
        &[
            "export",
            "INC-1",
            "--format",
            "csv",
            "--data-dir",
            missing.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no event log"), "{}", stderr(&out));
}

/// `lifeboat export` of a drill's incident, every format, to stdout and with `--out`: the same
/// bytes as the post-mortem the drill wrote.
#[test]
fn export_through_the_binary_equals_the_drills_postmortem() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let config = root().join("config/lifeboat.toml");
    let text = drill("heroku-outage", &config, &data, &[]);
    let (incident, paths) = postmortems(&text);
    for (format, written) in ["md", "json", "csv", "html"].iter().zip(&paths) {
        let expected = std::fs::read_to_string(written).unwrap();
        let args = [
            "export",
            incident.as_str(),
            "--format",
            format,
            "--data-dir",
            data.to_str().unwrap(),
        ];
        let out = lifeboat(&root(), &args, &[]);
        assert_eq!(out.status.code(), Some(0), "{format}: {}", stderr(&out));
        assert_eq!(stdout(&out), expected, "{format} on stdout");

        let file = dir.path().join(format!("export.{format}"));
        let mut with_out = args.to_vec();
        with_out.extend(["--out", file.to_str().unwrap()]);
        let out = lifeboat(&root(), &with_out, &[]);
        assert_eq!(out.status.code(), Some(0), "{format}: {}", stderr(&out));
        assert_eq!(
            stdout(&out).trim(),
            file.to_str().unwrap(),
            "prints the path"
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            expected,
            "{format} --out"
        );
    }
}

/// Secrets planted in the config (a key variable it names) and in the process environment
/// (the LLM keys, HEROKU_API_KEY and the Discord token the runbooks and bot read) never reach
/// any export of a real drill, nor does the stand-in key the drill's runbooks really send
/// (the stand-in app refuses the provider switch without it).
#[test]
fn no_export_of_a_drill_contains_a_secret() {
    const PLANTED: &str = "sk-planted-secret-93f1c0";
    let dir = tempfile::tempdir().unwrap();
    let shipped = TestConfig::shipped();
    assert_eq!(
        shipped
            .get("llm.anthropic.key_env")
            .and_then(|v| v.as_str()),
        Some("ANTHROPIC_API_KEY")
    );
    let config = shipped
        .set("llm.anthropic.key_env", "LIFEBOAT_PLANTED_ANTHROPIC_KEY")
        .write(dir.path());
    let env = [
        ("LIFEBOAT_PLANTED_ANTHROPIC_KEY", PLANTED),
        ("ANTHROPIC_API_KEY", PLANTED),
        ("OPENAI_API_KEY", PLANTED),
        ("HEROKU_API_KEY", PLANTED),
        ("LIFEBOAT_DISCORD_TOKEN", PLANTED),
    ];
    let data = dir.path().join("log");
    // Both scenarios: the LLM switch sends `Authorization: Bearer <key>` to the stand-in app.
    let text = drill("both", &config, &data, &env);
    assert!(text.contains("openai → switch-llm (succeeded"), "{text}");
    let secrets = [PLANTED, lifeboat::drill::DRILL_SECRET];
    let check = |what: &str, content: &str| {
        assert!(content.len() > 100, "{what} is empty");
        for secret in secrets {
            assert!(!content.contains(secret), "{what} contains {secret}");
        }
    };
    check("the drill's output", &text);

    let (incident, paths) = postmortems(&text);
    assert_eq!(paths.len(), 4);
    for path in &paths {
        check(
            &path.display().to_string(),
            &std::fs::read_to_string(path).unwrap(),
        );
    }
    for format in ["md", "json", "csv", "html"] {
        let out = lifeboat(
            &root(),
            &[
                "export",
                incident.as_str(),
                "--format",
                format,
                "--config",
                config.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
            ],
            &env,
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        check(&format!("export --format {format}"), &stdout(&out));
    }
    // The whole log, as `lifeboat store backup` exports it.
    let backup = dir.path().join("log.jsonl.gz");
    let out = lifeboat(
        &root(),
        &[
            "store",
            "backup",
            "--out",
            backup.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut lines = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&backup).unwrap())
        .read_to_string(&mut lines)
        .unwrap();
    assert!(lines.contains("switch-llm"), "the backup holds the run");
    check("the log backup", &lines);
}

/// `lifeboat drill heroku-outage` with `[aws] endpoint_url` set: the real AWS SDK against
/// moto, seeded with the standby (a hosted zone whose CNAME points at Heroku, the cluster, the
/// services at desired 0). The drill scales the services and moves the record in moto.
#[tokio::test]
async fn a_drill_against_moto_fails_over_the_real_apis() {
    use aws_sdk_route53::types::RrType;

    use crate::support::standby::{self, CLUSTER, RECORD};

    let moto = crate::support::moto::moto().await;
    let aws = moto.clients().await;
    let zone_id = standby::seed(&aws, &["web", "worker"], 60).await;

    // The shipped config, live against moto.
    let shipped = TestConfig::shipped();
    for (key, value) in [
        ("aws.mode", Some("simulated")),
        ("aws.endpoint_url", None),
        ("aws.dns.zone_id", Some("Z0123456789EXAMPLE")),
    ] {
        assert_eq!(
            shipped.get(key).and_then(|v| v.as_str()),
            value,
            "the shipped config changed: {key}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let config = shipped
        .set("aws.mode", "live")
        .set("aws.endpoint_url", moto.endpoint())
        .set("aws.dns.zone_id", &zone_id)
        .write(dir.path());
    let data = dir.path().join("log");
    let text = tokio::task::spawn_blocking(move || {
        drill(
            "heroku-outage",
            &config,
            &data,
            &[
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
        )
    })
    .await
    .unwrap();
    assert!(
        text.contains("heroku → failover-hosting (succeeded"),
        "{text}"
    );
    assert!(!text.contains("MISSED"), "{text}");
    assert!(!text.contains("CSIM"), "no simulated change id: {text}");

    // moto now has the standby scaled up and the record on AWS.
    let described = aws
        .ecs
        .describe_services()
        .cluster(CLUSTER)
        .services("web")
        .services("worker")
        .send()
        .await
        .expect("describe the services");
    let desired: Vec<(String, i32)> = described
        .services()
        .iter()
        .map(|s| (s.service_name().unwrap().to_owned(), s.desired_count()))
        .collect();
    assert_eq!(desired, [("web".to_owned(), 3), ("worker".to_owned(), 2)]);
    let listed = aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .expect("list the records");
    let values: Vec<&str> = listed
        .resource_record_sets()
        .iter()
        .filter(|s| s.name() == RECORD && s.r#type() == &RrType::Cname)
        .flat_map(|s| s.resource_records().iter().map(|r| r.value()))
        .collect();
    assert_eq!(values, ["web-alb-123.us-east-1.elb.amazonaws.com."]);
}

/// The exposition lines about the OpenAI provider and its feeds: no in-process test outside
/// a drill watches `openai`, so these change only if a drill records into the live registry.
fn openai_series() -> Vec<String> {
    lifeboat::metrics::encode()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.contains(r#"provider="openai""#) || l.contains(r#"feed="openai-"#))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_drill_in_the_live_process_leaves_the_live_metrics_alone() {
    let checked = lifeboat::check::check(&root().join("config/lifeboat.toml"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let dir = tempfile::tempdir().unwrap();
    let before = openai_series();
    let drilled = lifeboat::service::drill::run(
        &checked.config.config,
        &checked.runbooks.runbooks,
        lifeboat::domain::Scenario::OpenaiOutage,
        &dir.path().join("log"),
        std::sync::Arc::new(lifeboat::ports::clock::TokioClock::new()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    // The drill did see the simulated outage and alerted on it, in its own log...
    let events = lifeboat::ports::store::EventStore::all(
        &lifeboat::store::SledStore::open(&dir.path().join("log")).unwrap(),
    )
    .unwrap();
    assert!(!drilled.outcomes.is_empty());
    assert!(
        events
            .iter()
            .any(|e| e.kind == "alert.posted" && e.data["provider"] == "openai"),
        "the drill alerted"
    );
    // ...but no provider level, alert or feed poll of it reached the process's metrics.
    let after = openai_series();
    assert_eq!(before, after, "the drill moved live series");
    assert!(
        !after.iter().any(|l| l.contains("openai-probe")),
        "{after:?}"
    );
}
