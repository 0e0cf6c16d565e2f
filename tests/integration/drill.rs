//! `lifeboat drill` end to end through the binary, on the shipped config: the disaster, the
//! recovery, the measured objectives and an intact, drill-marked event log.

use crate::support::{lifeboat, root, stderr, stdout};

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
                "data-loss window 12m",
            ],
            "openai-outage" => &["openai → switch-llm (succeeded", "RTO 2h: met"],
            _ => &[
                "heroku → failover-hosting (succeeded",
                "openai → switch-llm (succeeded",
            ],
        };
        for line in expect {
            assert!(text.contains(line), "{scenario}: `{line}` missing:\n{text}");
        }
        assert!(
            text.contains("[CONFIRMED]"),
            "the alert was confirmed by two signals"
        );
        assert!(text.contains("[RECOVERED]"), "one recovery notice");
        assert!(
            text.contains("[DRILL]"),
            "the incident is marked as a drill"
        );

        let verify = lifeboat(
            &root(),
            &["audit", "verify", "--data-dir", data.to_str().unwrap()],
            &[],
        );
        assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));

        let store = lifeboat::store::SledStore::open(&data).unwrap();
        use lifeboat::store::EventStore;
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
        for kind in [
            "drill.started",
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
