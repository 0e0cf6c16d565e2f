//! The one-shot commands of `lifeboat` (everything but `run`, which is [`super::app`]): each
//! loads what it needs, calls the core or an adapter, prints for people and returns the exit
//! code. `main.rs` only parses the arguments and calls one of these.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use super::app::{ConfigUse, FAILURE, UNAVAILABLE, load_all, load_config, report_config_errors};
use super::env::reading_step_env;
use crate::chat::discord;
use crate::config::{BOUND_ADDRESS_FILE, Config, FeedKind};
use crate::domain::event::ChainCheck;
use crate::feeds::fetch::FeedSpec;
use crate::ports::clock::TokioClock;
use crate::ports::store::EventStore;
use crate::store::SledStore;
use crate::toml_source::relative_path_hint;

/// `lifeboat feed`: exit 0 when the source was read and parsed, whatever the level; exit 2
/// with a one-line reason when it could not be.
pub async fn feed(kind: FeedKind, url: &str, components: Vec<String>, json: bool) -> ExitCode {
    let spec = FeedSpec::adhoc(kind, url, components);
    match crate::feeds::fetch::fetch_once(&spec).await {
        Ok(health) => {
            if json {
                match serde_json::to_string_pretty(&health) {
                    Ok(text) => println!("{text}"),
                    Err(err) => {
                        eprintln!("lifeboat feed: cannot encode the result: {err}");
                        return ExitCode::from(FAILURE);
                    }
                }
            } else {
                println!("{}", health.human());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("lifeboat feed: {url}: {err}");
            ExitCode::from(UNAVAILABLE)
        }
    }
}

/// `lifeboat plan`: what each step would change, writing nothing.
pub async fn plan(
    config_path: &Path,
    name: &str,
    params: std::collections::BTreeMap<String, String>,
    json: bool,
) -> ExitCode {
    let Some(checked) = load_all(config_path, "plan") else {
        return ExitCode::from(FAILURE);
    };
    let Some(runbook) = checked.runbooks.get(name) else {
        let known: Vec<&str> = checked
            .runbooks
            .runbooks
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        eprintln!(
            "lifeboat plan: no runbook `{name}` (known: {})",
            known.join(", ")
        );
        return ExitCode::from(FAILURE);
    };
    let config = Arc::new(checked.config.config.clone());
    // A plan never posts: anything it would say goes nowhere.
    let env = reading_step_env(config, Arc::new(TokioClock::new()), "plan").await;
    let plan = crate::engine::plan::plan(&env, runbook, &params).await;
    if json {
        match serde_json::to_string_pretty(&plan) {
            Ok(text) => println!("{text}"),
            Err(err) => {
                eprintln!("lifeboat plan: {err}");
                return ExitCode::from(FAILURE);
            }
        }
    } else {
        print!("{}", plan.human());
        println!("Nothing was changed (dry run).");
    }
    ExitCode::SUCCESS
}

/// `lifeboat register`: PUT the slash command list to the configured guild.
pub async fn register(config_path: &Path) -> ExitCode {
    let Some(config) = load_config(config_path, "register", ConfigUse::Required) else {
        return ExitCode::from(FAILURE);
    };
    let Some(d) = &config.discord else {
        eprintln!("lifeboat register: the config has no [discord] section");
        return ExitCode::from(FAILURE);
    };
    let Some(token) = d.token() else {
        eprintln!(
            "lifeboat register: no bot token: set the environment variable {}",
            d.token_env
        );
        return ExitCode::from(FAILURE);
    };
    let guild = match d.guild_id.as_deref().map(discord::snowflake) {
        Some(Ok(id)) => id,
        Some(Err(err)) => {
            eprintln!("lifeboat register: [discord] guild_id: {err}");
            return ExitCode::from(FAILURE);
        }
        None => {
            eprintln!("lifeboat register: [discord] guild_id is required");
            return ExitCode::from(FAILURE);
        }
    };
    let http = discord::build_http(&token, d.api_base.as_deref());
    match discord::register(&http, guild).await {
        Ok(n) => {
            println!("Registered {n} slash commands with guild {guild}.");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("lifeboat register: Discord refused: {err}");
            ExitCode::from(FAILURE)
        }
    }
}

/// `lifeboat export`: an incident's post-mortem from the event log.
pub fn export(
    incident: &str,
    format: crate::timeline::Format,
    data_dir: Option<PathBuf>,
    out: Option<PathBuf>,
    config_path: &Path,
) -> ExitCode {
    let Some(config) = load_config(config_path, "export", ConfigUse::Objectives) else {
        return ExitCode::from(FAILURE);
    };
    let data_dir = data_dir.unwrap_or_else(|| config.store.data_dir.clone());
    if !data_dir.is_dir() {
        eprintln!(
            "lifeboat export: no event log at {}{}",
            data_dir.display(),
            relative_path_hint(&data_dir)
        );
        return ExitCode::from(FAILURE);
    }
    let mut events = match SledStore::open(&data_dir).and_then(|store| store.all()) {
        Ok(events) => events,
        Err(err) => {
            eprintln!("lifeboat export: {err}");
            return ExitCode::from(FAILURE);
        }
    };
    // A log written before redaction (or with a secret added since) still exports clean.
    let runbooks = crate::runbook::load_dir(&config.paths.runbooks, &config).runbooks;
    let redactor =
        crate::redact::Redactor::for_process(&config, &runbooks, &crate::config::ProcessEnv);
    for event in &mut events {
        redactor.redact_json(&mut event.data);
    }
    let id = crate::domain::IncidentId(incident.to_owned());
    let text = match crate::timeline::render(&events, &id, format, &config.objectives) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("lifeboat export: {err}");
            return ExitCode::from(FAILURE);
        }
    };
    match out {
        Some(path) => match std::fs::write(&path, text) {
            Ok(()) => {
                println!("{}", path.display());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("lifeboat export: cannot write {}: {err}", path.display());
                ExitCode::from(FAILURE)
            }
        },
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
    }
}

/// `lifeboat drill`: a simulated disaster, offline, measured against the objectives; with
/// `postgres` (or `[data]`), its data restored for real in a throwaway PostgreSQL.
pub async fn drill(
    scenario: &str,
    config_path: &Path,
    data_dir: Option<PathBuf>,
    postgres: bool,
) -> ExitCode {
    let scenario: crate::domain::Scenario = match scenario.parse() {
        Ok(s) => s,
        Err(err) => {
            eprintln!("lifeboat drill: {err}");
            return ExitCode::from(FAILURE);
        }
    };
    let Some(checked) = load_all(config_path, "drill") else {
        return ExitCode::from(FAILURE);
    };
    // Each drill gets its own log, so it never mixes with (or locks) the bot's.
    let data_dir = data_dir.unwrap_or_else(|| {
        checked.config.config.store.data_dir.join(format!(
            "drill-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        ))
    });
    let outcomes = crate::service::drill::run_with(
        &checked.config.config,
        &checked.runbooks.runbooks,
        scenario,
        &data_dir,
        Arc::new(TokioClock::new()),
        crate::service::drill::DrillOptions { postgres },
    )
    .await;
    match outcomes {
        Ok(drilled) => {
            print!("{}", crate::drill::report(&drilled));
            let outcomes = drilled.outcomes;
            println!(
                "event log: {} (check it with `lifeboat audit verify --data-dir {}`)",
                data_dir.display(),
                data_dir.display()
            );
            match crate::service::drill::write_postmortems(
                &data_dir,
                &drilled.incident,
                &checked.config.config,
            ) {
                Ok(paths) => {
                    println!("post-mortem of {}:", drilled.incident);
                    for path in paths {
                        println!("  {}", path.display());
                    }
                }
                Err(err) => {
                    eprintln!("lifeboat drill: the post-mortem could not be written: {err}")
                }
            }
            if outcomes.iter().all(|o| o.rto_met() && o.rpo_met()) {
                ExitCode::SUCCESS
            } else {
                eprintln!("lifeboat drill: an objective was missed");
                ExitCode::from(FAILURE)
            }
        }
        Err(err) => {
            eprintln!("lifeboat drill: {err:#}");
            ExitCode::from(FAILURE)
        }
    }
}

/// `lifeboat drill SCENARIO --gameday`: a game day played by people on this terminal, on a
/// log of its own; its debrief and post-mortem print (and are saved) when it ends.
pub async fn gameday(scenario: &str, config_path: &Path, data_dir: Option<PathBuf>) -> ExitCode {
    let scenario: crate::domain::Scenario = match scenario.parse() {
        Ok(s) => s,
        Err(err) => {
            eprintln!("lifeboat drill: {err}");
            return ExitCode::from(FAILURE);
        }
    };
    let Some(checked) = load_all(config_path, "drill") else {
        return ExitCode::from(FAILURE);
    };
    let data_dir = data_dir.unwrap_or_else(|| {
        checked.config.config.store.data_dir.join(format!(
            "drill-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        ))
    });
    match crate::service::drill::gameday_on_console(
        &checked.config.config,
        &checked.runbooks.runbooks,
        scenario,
        &data_dir,
        Arc::new(TokioClock::new()),
    )
    .await
    {
        Ok(()) => {
            println!(
                "event log: {} (check it with `lifeboat audit verify --data-dir {}`)",
                data_dir.display(),
                data_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("lifeboat drill: {err:#}");
            ExitCode::from(FAILURE)
        }
    }
}

pub fn check(config: &Path, production: bool) -> ExitCode {
    let checked = crate::check::check(config).and_then(|checked| {
        if !production {
            return Ok(checked);
        }
        let is_set = |var: &str| crate::config::Secret::from_env(var).is_some();
        let problems = crate::check::production_problems(&checked, &is_set);
        if problems.is_empty() {
            Ok(checked)
        } else {
            Err(problems)
        }
    });
    match checked {
        Ok(checked) => {
            print!("{}", checked.summary());
            if production {
                println!(
                    "production: ok (secrets set, AWS live, no loopback URLs, worst cases within the RTOs)"
                );
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for error in &errors {
                eprintln!("{error}");
            }
            let n = errors.len();
            eprintln!("{n} error{} found", if n == 1 { "" } else { "s" });
            ExitCode::from(FAILURE)
        }
    }
}

/// `lifeboat readiness`: is the standby ready? One line per check; exit 1 if any fails.
pub async fn readiness(config_path: &Path, data_dir: Option<PathBuf>) -> ExitCode {
    let Some(checked) = load_all(config_path, "readiness") else {
        return ExitCode::from(FAILURE);
    };
    let config = Arc::new(checked.config.config.clone());
    let data_dir = data_dir.unwrap_or_else(|| config.store.data_dir.clone());
    let drill_log = crate::store::drill_logs::drill_events(&data_dir, true);
    // Readiness only reads: anything a step would say goes nowhere.
    let env = reading_step_env(config, Arc::new(TokioClock::new()), "readiness").await;
    let members = super::training::read_members(
        super::training::discord_members(&checked.config.config).as_ref(),
    )
    .await;
    let report =
        crate::readiness::run(&env, &checked.runbooks.runbooks, &drill_log, &members).await;
    print!("{}", report.render());
    if report.ready() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILURE)
    }
}

/// `lifeboat iam-policy`: the policy document on stdout, notes on stderr.
pub fn iam_policy(config_path: &Path) -> ExitCode {
    let Some(checked) = load_all(config_path, "iam-policy") else {
        return ExitCode::from(FAILURE);
    };
    let policy = crate::iam::policy(&checked.config.config, &checked.runbooks.runbooks);
    for note in &policy.notes {
        eprintln!("lifeboat iam-policy: note: {note}");
    }
    match serde_json::to_string_pretty(&policy.document) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("lifeboat iam-policy: {err}");
            ExitCode::from(FAILURE)
        }
    }
}

/// `lifeboat drills`: the drills on record in the log and its `drill-*` logs, newest first.
pub fn drills(config_path: &Path, data_dir: Option<PathBuf>) -> ExitCode {
    let Some(checked) = load_all(config_path, "drills") else {
        return ExitCode::from(FAILURE);
    };
    let dir = data_dir.unwrap_or_else(|| checked.config.config.store.data_dir.clone());
    if !dir.is_dir() {
        eprintln!(
            "lifeboat drills: no event log at {}{}",
            dir.display(),
            relative_path_hint(&dir)
        );
        return ExitCode::from(FAILURE);
    }
    let drills = crate::drill::history::drills_from_events(
        &crate::store::drill_logs::drill_events(&dir, true),
    );
    print!("{}", crate::drill::history::render(&drills));
    ExitCode::SUCCESS
}

/// `lifeboat docs`: the living DRP document.
pub fn docs(config_path: &Path, data_dir: Option<PathBuf>, out: Option<PathBuf>) -> ExitCode {
    let Some(checked) = load_all(config_path, "docs") else {
        return ExitCode::from(FAILURE);
    };
    let drills = match &data_dir {
        Some(dir) if !dir.is_dir() => {
            eprintln!(
                "lifeboat docs: no event log at {}{}",
                dir.display(),
                relative_path_hint(dir)
            );
            return ExitCode::from(FAILURE);
        }
        Some(dir) => Some(crate::drill::history::drills_from_events(
            &crate::store::drill_logs::drill_events(dir, true),
        )),
        None => None,
    };
    let text = crate::docs::render(
        &checked.config.config,
        &checked.runbooks.runbooks,
        drills.as_deref(),
    );
    match out {
        Some(path) => match std::fs::write(&path, text) {
            Ok(()) => {
                println!("{}", path.display());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("lifeboat docs: cannot write {}: {err}", path.display());
                ExitCode::from(FAILURE)
            }
        },
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
    }
}

/// `lifeboat store backup`: straight from the log when no bot holds it, else from the
/// running bot's `/backup` (sled allows one process per log).
pub async fn store_backup(out: &Path, data_dir: Option<PathBuf>, config_path: &Path) -> ExitCode {
    use crate::store::backup;
    let config = Config::load(config_path).map(|loaded| loaded.config);
    let data_dir = match (data_dir, &config) {
        (Some(dir), _) => dir,
        (None, Ok(config)) => config.store.data_dir.clone(),
        (None, Err(errors)) => {
            report_config_errors("store backup", errors, ConfigUse::DataDir);
            return ExitCode::from(FAILURE);
        }
    };
    if !data_dir.is_dir() {
        eprintln!(
            "lifeboat store backup: no event log at {}{}",
            data_dir.display(),
            relative_path_hint(&data_dir)
        );
        return ExitCode::from(FAILURE);
    }
    // Opening a directory that holds no log would create an empty one, and back it up.
    if !crate::store::drill_logs::is_log(&data_dir) {
        eprintln!(
            "lifeboat store backup: {} holds no event log (no sled `conf` and `db`); check --data-dir or [store] data_dir",
            data_dir.display()
        );
        return ExitCode::from(FAILURE);
    }
    let summary = match SledStore::open(&data_dir) {
        Ok(store) => backup::backup_to_file(&store, out),
        Err(crate::ports::store::StoreError::Locked { .. }) => {
            let server = match &config {
                Ok(config) if config.server.enabled => config.server.clone(),
                _ => {
                    eprintln!(
                        "lifeboat store backup: {} is held by a running Lifeboat and no [server] endpoint is configured to ask it (see --config); stop the bot or enable [server]",
                        data_dir.display()
                    );
                    return ExitCode::from(FAILURE);
                }
            };
            // The address the bot recorded when it bound (a `:0` port is known only then);
            // the configured one when it recorded none.
            let listen = std::fs::read_to_string(data_dir.join(BOUND_ADDRESS_FILE))
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .unwrap_or(server.listen);
            match backup::fetch_backup(listen, server.token().as_ref()).await {
                Ok(bytes) => backup::read(bytes.as_slice())
                    .and_then(|(_, summary)| backup::save_bytes(&bytes, out).map(|()| summary)),
                Err(err) => {
                    eprintln!(
                        "lifeboat store backup: {} is held by a running Lifeboat, which did not answer at {listen}: {err}",
                        data_dir.display(),
                    );
                    return ExitCode::from(FAILURE);
                }
            }
        }
        Err(err) => {
            eprintln!("lifeboat store backup: {err}");
            return ExitCode::from(FAILURE);
        }
    };
    match summary {
        Ok(summary) => {
            println!("{}: {summary}", out.display());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("lifeboat store backup: {err}");
            ExitCode::from(FAILURE)
        }
    }
}

/// `lifeboat store restore`: a verified backup into a new log, then the same check as
/// `audit verify`.
pub fn store_restore(file: &Path, data_dir: &Path) -> ExitCode {
    match crate::store::backup::restore(file, data_dir) {
        Ok(summary) => {
            println!(
                "restored {summary} into {}; chain intact",
                data_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("lifeboat store restore: {}: {err}", file.display());
            ExitCode::from(FAILURE)
        }
    }
}

pub fn audit_verify(data_dir: Option<PathBuf>, config: &Path) -> ExitCode {
    let data_dir = match data_dir {
        Some(dir) => dir,
        None => match load_config(config, "audit verify", ConfigUse::DataDir) {
            Some(config) => config.store.data_dir,
            None => return ExitCode::from(FAILURE),
        },
    };
    if !data_dir.is_dir() {
        eprintln!(
            "lifeboat audit verify: no event log at {}{}",
            data_dir.display(),
            relative_path_hint(&data_dir)
        );
        return ExitCode::from(FAILURE);
    }
    let store = match SledStore::open(&data_dir) {
        Ok(store) => store,
        Err(err) => {
            eprintln!("lifeboat audit verify: {err}");
            return ExitCode::from(FAILURE);
        }
    };
    match store.verify() {
        Ok(ChainCheck::Intact { events, head }) => {
            let head = head
                .map(|h| format!(", head {}", &h[..16]))
                .unwrap_or_default();
            println!("{events} events, chain intact{head}");
            ExitCode::SUCCESS
        }
        Ok(ChainCheck::Broken { seq, reason }) => {
            println!("chain broken at seq {seq}: {reason}");
            ExitCode::from(FAILURE)
        }
        Err(err) => {
            eprintln!("lifeboat audit verify: {err}");
            ExitCode::from(FAILURE)
        }
    }
}

/// `lifeboat db backup`: one backup of the primary, recorded in the log when it is free (the
/// running bot holds it otherwise, and records its own scheduled backups).
pub async fn db_backup(config_path: &Path, data_dir: Option<PathBuf>) -> ExitCode {
    let Some(checked) = load_all(config_path, "db backup") else {
        return ExitCode::from(FAILURE);
    };
    let config = checked.config.config;
    let data_dir = data_dir.unwrap_or_else(|| config.store.data_dir.clone());
    match crate::db::cli::backup(&config, &data_dir).await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("lifeboat db backup: {err}");
            ExitCode::from(FAILURE)
        }
    }
}
