use super::*;
use std::path::PathBuf;

use crate::toml_source::{Diagnostic, TomlSource};

const MINIMAL: &str = "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n";

fn load(text: &str) -> Result<LoadedConfig, Vec<Diagnostic>> {
    Config::from_source(TomlSource::new("lifeboat.toml", text))
}

fn errors(text: &str) -> Vec<String> {
    load(text)
        .expect_err("config should be rejected")
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn minimal_config_gets_defaults() {
    let loaded = load(MINIMAL).unwrap();
    let c = loaded.config;
    assert_eq!(c.objectives.hosting_rto.to_string(), "4h");
    assert_eq!(c.store.data_dir, PathBuf::from("data"));
    assert_eq!(c.aws.mode, AwsMode::Simulated);
    assert_eq!(c.schedule.drill_every.to_string(), "365d");
}

#[test]
fn unknown_key_names_the_key_and_its_position() {
    let text = format!("{MINIMAL}\n[store]\ndata_dri = \"x\"\n");
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("lifeboat.toml:7:1: unknown field `data_dri`"),
        "{errs:?}"
    );
}

#[test]
fn unknown_section_is_reported() {
    let errs = errors(&format!("{MINIMAL}[stor]\n"));
    assert!(errs[0].contains(":5:2: unknown section `stor`"), "{errs:?}");
}

#[test]
fn wrong_type_and_bad_duration_are_both_reported() {
    let text = "[objectives]\nhosting_rto = \"4 hours\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n\n[discord]\nregister_on_start = \"yes\"\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs.iter()
            .any(|e| e.contains(":2:15: invalid duration `4 hours`")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.contains(":7:21: invalid type")),
        "{errs:?}"
    );
}

#[test]
fn missing_required_field() {
    let errs = errors("[objectives]\nhosting_rto = \"4h\"\nrpo = \"1h\"\n");
    assert!(errs[0].contains("missing field `llm_rto`"), "{errs:?}");
    let errs = errors("[store]\n");
    assert!(errs[0].contains("missing section [objectives]"), "{errs:?}");
}

#[test]
fn feed_must_name_a_known_provider() {
    let text = format!(
        "{MINIMAL}[[providers]]\nname = \"heroku\"\nworkstream = \"hosting\"\n\n[[feeds]]\nname = \"f\"\nprovider = \"herok\"\nkind = \"heroku\"\nurl = \"http://127.0.0.1/x\"\n"
    );
    let errs = errors(&text);
    assert!(
        errs[0].contains(":11:1: feed `f` names provider `herok`"),
        "{errs:?}"
    );
}

#[test]
fn duplicate_team_names_are_rejected_with_both_lines() {
    let text = format!("{MINIMAL}[[teams]]\nname = \"eng\"\n[[teams]]\nname = \"eng\"\n");
    let errs = errors(&text);
    assert!(
        errs[0].contains(":8:1: duplicate name `eng` (first used at line 6)"),
        "{errs:?}"
    );
}

#[test]
fn urls_and_ids_are_checked() {
    let text = format!("{MINIMAL}[discord]\nguild_id = \"abc\"\napi_base = \"not a url\"\n");
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:?}");
}

#[test]
fn store_and_server_keys_are_typed_and_checked() {
    let loaded = load(MINIMAL).unwrap().config;
    assert_eq!(loaded.server.listen.to_string(), "127.0.0.1:9090");
    assert!(loaded.server.enabled);
    assert_eq!(loaded.server.shutdown_grace.to_string(), "30s");
    assert_eq!(loaded.store.backup_dir, None);
    let text = format!(
        "{MINIMAL}[store]\nbackup_dir = \"b\"\nbackup_every = \"15m\"\nbackup_keep = 3\n[server]\nlisten = \"127.0.0.1:0\"\nshutdown_grace = \"5s\"\n"
    );
    let c = load(&text).unwrap().config;
    assert_eq!(c.store.backup_dir, Some(PathBuf::from("b")));
    assert_eq!(
        (c.store.backup_every.to_string(), c.store.backup_keep),
        ("15m".into(), 3)
    );
    assert_eq!(c.server.listen.port(), 0);
    let errs = errors(&format!(
        "{MINIMAL}[store]\nbackup_keep = 0\nbackup_every = \"0s\"\n"
    ));
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs.iter()
            .any(|e| e.contains(":6:1: backup_keep must be at least 1")),
        "{errs:?}"
    );
    let errs = errors(&format!(
        "{MINIMAL}[server]\nlisten = \"localhost\"\nport = 1\n"
    ));
    assert!(errs[0].contains(":6:"), "{errs:?}");
}

#[test]
fn comms_and_team_routes_are_checked() {
    let c = load(MINIMAL).unwrap().config;
    assert_eq!(c.comms.attempts, 3);
    assert!(!c.comms.author_may_approve && c.comms.email.is_none());
    let text = format!(
        "{MINIMAL}[[teams]]\nname = \"eng\"\npagerduty_routing_key_env = \"PD\"\n[comms]\nattempts = 0\nannouncement_channel_id = \"x1\"\n[comms.email]\nsmtp_host = \"127.0.0.1\"\nfrom = \"status@example.com\"\nrecipients = [\"not an address\"]\nusername_env = \"U\"\n"
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 4, "{errs:?}");
    for expected in [
        ":9:1: attempts must be at least 1",
        "`x1` is not a Discord id",
        "recipients[0] `not an address`",
        "username_env and password_env",
    ] {
        assert!(errs.iter().any(|e| e.contains(expected)), "{errs:?}");
    }
    let text = format!(
        "{MINIMAL}[[teams]]\nname = \"eng\"\npagerduty_routing_key_env = \"PD\"\n[comms.email]\nsmtp_host = \"h\"\nfrom = \"s@example.com\"\nrecipients = [\"a@example.com\"]\nusername_env = \"U\"\npassword_env = \"P\"\n"
    );
    let c = load(&text).unwrap().config;
    assert_eq!(c.teams[0].events_url, PAGERDUTY_EVENTS_URL);
    assert_eq!(c.comms.email.as_ref().unwrap().smtp_port, 587);
    let vars = c.secret_env_vars();
    assert!(
        ["PD", "U", "P"].iter().all(|v| vars.contains(v)),
        "{vars:?}"
    );
}

#[test]
fn secrets_never_print() {
    let s = Secret::new("hunter2");
    assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
    assert_eq!(s.expose(), "hunter2");
}

#[test]
fn ha_is_off_by_default_and_takes_its_defaults() {
    assert!(load(MINIMAL).unwrap().config.ha.is_none());
    let text = format!("{MINIMAL}\n[ha]\ntable = \"lifeboat-ha\"\nnode_id = \"eu-1\"\n");
    let ha = load(&text).unwrap().config.ha.unwrap();
    assert_eq!(ha.node_id(), "eu-1");
    assert_eq!(
        ha.timing(),
        LeaseTiming {
            lease: std::time::Duration::from_secs(10),
            renew: std::time::Duration::from_secs(3),
            skew_margin: std::time::Duration::from_secs(1),
        }
    );
    let unnamed = format!("{MINIMAL}\n[ha]\ntable = \"lifeboat-ha\"\n");
    assert!(
        !load(&unnamed)
            .unwrap()
            .config
            .ha
            .unwrap()
            .node_id()
            .is_empty()
    );
}

#[test]
fn ha_timings_that_cannot_work_are_located() {
    let text = format!(
        "{MINIMAL}\n[ha]\ntable = \"no\"\nnode_id = \"a b\"\nlease = \"10s\"\nrenew = \"9s\"\nskew_margin = \"1s\"\n"
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs.iter()
            .any(|e| e.contains(":7:1: `no` is not a DynamoDB table name")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains(":8:1: `a b` is not a node id")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains(":10:1: renew (9s) must be shorter than lease - skew_margin")),
        "{errs:?}"
    );
    let skew = format!(
        "{MINIMAL}\n[ha]\ntable = \"lifeboat-ha\"\nlease = \"2s\"\nrenew = \"1s\"\nskew_margin = \"2s\"\n"
    );
    let errs = errors(&skew);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("skew_margin (2s) must be shorter than the lease (2s)"));
}

#[test]
fn production_wants_a_named_node_and_room_for_a_lost_renewal() {
    let text = format!(
        "{MINIMAL}\n[ha]\ntable = \"lifeboat-ha\"\nlease = \"10s\"\nrenew = \"5s\"\nskew_margin = \"1s\"\n"
    );
    let loaded = load(&text).unwrap();
    let mut errors = Vec::new();
    let ha = loaded.config.ha.as_ref().unwrap();
    ha.production_problems(&loaded.source, &mut errors);
    let errs: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].contains(":6:2: [ha] has no node_id"), "{errs:?}");
    assert!(
        errs[1].contains(":9:1: renew (5s) leaves no room for a lost renewal"),
        "{errs:?}"
    );
    let fine = format!("{MINIMAL}\n[ha]\ntable = \"lifeboat-ha\"\nnode_id = \"eu-1\"\n");
    let loaded = load(&fine).unwrap();
    let mut errors = Vec::new();
    loaded
        .config
        .ha
        .as_ref()
        .unwrap()
        .production_problems(&loaded.source, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
}
