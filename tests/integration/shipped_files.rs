//! Every runbook, template and config shipped with the project validates: they can never rot.

use lifeboat::runbook::StepKind;

use crate::support::root;

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
    assert!(position(StepKind::EcsScale) < position(StepKind::BackupCheck));
    assert!(
        position(StepKind::BackupCheck) < position(StepKind::Command),
        "backup age checked before restore"
    );
    assert!(
        position(StepKind::Command) < position(StepKind::Route53Upsert),
        "data restored before DNS moves"
    );
    assert!(position(StepKind::Route53Upsert) < position(StepKind::HttpCheck));
}
