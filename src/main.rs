//! The `lifeboat` command line: parse arguments, load config, build adapters, run.
//! This is the only place that prints to stdout/stderr for people; everything else traces.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use lifeboat::chat::discord;
use lifeboat::config::{Config, DEFAULT_CONFIG_PATH, FeedKind};
use lifeboat::domain::event::Verdict;
use lifeboat::feeds::fetch::FeedSpec;
use lifeboat::ports::clock::TokioClock;
use lifeboat::ports::store::EventStore;
use lifeboat::service::app::{
    ConfigUse, FAILURE, UNAVAILABLE, load_all, load_config, report_config_errors,
};
use lifeboat::service::env::reading_step_env;
use lifeboat::store::SledStore;
use lifeboat::telemetry::{self, LogFormat};

/// Lifeboat: a disaster-recovery chat-ops bot.
///
/// It watches provider status feeds, runs the failover runbooks in commands/ once a second
/// person approves, keeps teams and clients informed, and records every event in a
/// tamper-evident log for the post-mortem.
#[derive(Debug, Parser)]
#[command(
    name = "lifeboat",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("LIFEBOAT_GIT_COMMIT"), ")"),
    propagate_version = true
)]
struct Cli {
    /// Log format on stderr (filter with RUST_LOG, e.g. RUST_LOG=lifeboat=debug).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the bot: Discord when a token is set, else the console.
    Run {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Use the terminal instead of Discord, even when a token is set.
        #[arg(long)]
        console: bool,
    },
    /// Validate the config, every runbook and every template; errors as file:line:col.
    Check {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Also fail on what only a demo may have: unset secrets, simulated AWS, loopback
        /// URLs, runbooks whose worst case exceeds their RTO.
        #[arg(long)]
        production: bool,
    },
    /// Fetch one status feed once and print its normalised health.
    Feed {
        #[arg(long, value_enum)]
        kind: FeedKindArg,
        #[arg(long)]
        url: String,
        /// Only these components count (repeatable); default: all.
        #[arg(long = "component")]
        components: Vec<String>,
        /// Print JSON instead of a human summary.
        #[arg(long)]
        json: bool,
    },
    /// Dry-run a runbook: what each step would change, reading current state only.
    Plan {
        runbook: String,
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// A runbook parameter, NAME=VALUE (repeatable).
        #[arg(long = "param", value_parser = parse_param)]
        params: Vec<(String, String)>,
        #[arg(long)]
        json: bool,
    },
    /// Simulate a disaster end to end, offline, and measure it against the objectives.
    Drill {
        /// heroku-outage, openai-outage or both.
        scenario: String,
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Export an incident's post-mortem timeline.
    Export {
        incident: String,
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// The event log's directory (default: [store] data_dir of the config).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// For the objectives the post-mortem measures against.
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Back up or restore the event log.
    Store {
        #[command(subcommand)]
        action: StoreAction,
    },
    /// Check the event log.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Is the standby ready? (ECS, DNS TTL, Anthropic key, backup age, last drill)
    Readiness {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Where to look for drills: this log and its drill-* logs (default: [store] data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Print the least-privilege AWS IAM policy the config and runbooks need (JSON).
    IamPolicy {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Render the living disaster-recovery plan (Markdown) from the config and runbooks.
    Docs {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Add the last drills' results from this log and its drill-* logs.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Register the slash commands with the configured Discord guild.
    Register {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum StoreAction {
    /// Write a consistent, compressed snapshot of the log (JSON Lines + gzip). Works on a
    /// stopped log directly, and while `lifeboat run` holds it, through its /backup endpoint.
    Backup {
        #[arg(long)]
        out: PathBuf,
        /// The event log's directory (default: [store] data_dir of the config).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// For the data directory and, while the bot runs, the [server] address to ask.
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Rebuild a log from a backup into a new (missing or empty) directory, checking every hash.
    Restore {
        file: PathBuf,
        #[arg(long)]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum AuditAction {
    /// Walk the hash chain; exit 1 at the first broken link.
    Verify {
        /// The event log's directory (default: [store] data_dir of the config).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FeedKindArg {
    Statuspage,
    Heroku,
    Sftrust,
    AwsHealth,
    Rss,
    Probe,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExportFormat {
    Md,
    Json,
    Csv,
    Html,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The bot says what it connects to and resumes; one-shot commands stay quiet but for trouble.
    let default_level = match &cli.command {
        Command::Run { .. } => "warn,lifeboat=info",
        _ => "warn",
    };
    telemetry::init(cli.log_format, default_level);
    match cli.command {
        Command::Check { config, production } => check(&config, production),
        Command::Audit {
            action: AuditAction::Verify { data_dir, config },
        } => audit_verify(data_dir, &config),
        Command::Store {
            action:
                StoreAction::Backup {
                    out,
                    data_dir,
                    config,
                },
        } => block_on(store_backup(&out, data_dir, &config)),
        Command::Store {
            action: StoreAction::Restore { file, data_dir },
        } => store_restore(&file, &data_dir),
        Command::Run { config, console } => block_on(lifeboat::service::app::run(&config, console)),
        Command::Feed {
            kind,
            url,
            components,
            json,
        } => block_on(feed(kind.into(), &url, components, json)),
        Command::Plan {
            runbook,
            config,
            params,
            json,
        } => block_on(plan(&config, &runbook, params.into_iter().collect(), json)),
        Command::Drill {
            scenario,
            config,
            data_dir,
        } => block_on(drill(&scenario, &config, data_dir)),
        Command::Export {
            incident,
            format,
            data_dir,
            out,
            config,
        } => export(&incident, format.into(), data_dir, out, &config),
        Command::Readiness { config, data_dir } => block_on(readiness(&config, data_dir)),
        Command::IamPolicy { config } => iam_policy(&config),
        Command::Docs {
            config,
            data_dir,
            out,
        } => docs(&config, data_dir, out),
        Command::Register { config } => block_on(register(&config)),
    }
}

/// Runs an async command on a fresh multi-threaded runtime.
fn block_on(future: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => {
            let code = runtime.block_on(future);
            // A pending read of the terminal must not keep the process alive.
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            code
        }
        Err(err) => {
            eprintln!("lifeboat: cannot start the async runtime: {err}");
            ExitCode::from(FAILURE)
        }
    }
}

impl From<FeedKindArg> for FeedKind {
    fn from(kind: FeedKindArg) -> Self {
        match kind {
            FeedKindArg::Statuspage => FeedKind::Statuspage,
            FeedKindArg::Heroku => FeedKind::Heroku,
            FeedKindArg::Sftrust => FeedKind::Sftrust,
            FeedKindArg::AwsHealth => FeedKind::AwsHealth,
            FeedKindArg::Rss => FeedKind::Rss,
            FeedKindArg::Probe => FeedKind::Probe,
        }
    }
}

/// `lifeboat feed`: exit 0 when the source was read and parsed, whatever the level; exit 2
/// with a one-line reason when it could not be.
async fn feed(kind: FeedKind, url: &str, components: Vec<String>, json: bool) -> ExitCode {
    let spec = FeedSpec::adhoc(kind, url, components);
    match lifeboat::feeds::fetch::fetch_once(&spec).await {
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

fn parse_param(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))
}

/// `lifeboat plan`: what each step would change, writing nothing.
async fn plan(
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
    let plan = lifeboat::engine::plan::plan(&env, runbook, &params).await;
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
async fn register(config_path: &Path) -> ExitCode {
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

impl From<ExportFormat> for lifeboat::timeline::Format {
    fn from(format: ExportFormat) -> Self {
        match format {
            ExportFormat::Md => Self::Markdown,
            ExportFormat::Json => Self::Json,
            ExportFormat::Csv => Self::Csv,
            ExportFormat::Html => Self::Html,
        }
    }
}

/// `lifeboat export`: an incident's post-mortem from the event log.
fn export(
    incident: &str,
    format: lifeboat::timeline::Format,
    data_dir: Option<PathBuf>,
    out: Option<PathBuf>,
    config_path: &Path,
) -> ExitCode {
    let Some(config) = load_config(config_path, "export", ConfigUse::Objectives) else {
        return ExitCode::from(FAILURE);
    };
    let data_dir = data_dir.unwrap_or_else(|| config.store.data_dir.clone());
    if !data_dir.is_dir() {
        eprintln!("lifeboat export: no event log at {}", data_dir.display());
        return ExitCode::from(FAILURE);
    }
    let events = match SledStore::open(&data_dir).and_then(|store| store.all()) {
        Ok(events) => events,
        Err(err) => {
            eprintln!("lifeboat export: {err}");
            return ExitCode::from(FAILURE);
        }
    };
    let id = lifeboat::domain::IncidentId(incident.to_owned());
    let text = match lifeboat::timeline::render(&events, &id, format, &config.objectives) {
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

/// `lifeboat drill`: a simulated disaster, offline, measured against the objectives.
async fn drill(scenario: &str, config_path: &Path, data_dir: Option<PathBuf>) -> ExitCode {
    let scenario: lifeboat::domain::Scenario = match scenario.parse() {
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
    let outcomes = lifeboat::service::drill::run(
        &checked.config.config,
        &checked.runbooks.runbooks,
        scenario,
        &data_dir,
        Arc::new(TokioClock::new()),
    )
    .await;
    match outcomes {
        Ok(drilled) => {
            let outcomes = drilled.outcomes;
            print!("{}", lifeboat::drill::summary(&outcomes));
            println!(
                "event log: {} (check it with `lifeboat audit verify --data-dir {}`)",
                data_dir.display(),
                data_dir.display()
            );
            match lifeboat::service::drill::write_postmortems(
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

fn check(config: &Path, production: bool) -> ExitCode {
    let checked = lifeboat::check::check(config).and_then(|checked| {
        if !production {
            return Ok(checked);
        }
        let is_set = |var: &str| lifeboat::config::Secret::from_env(var).is_some();
        let problems = lifeboat::check::production_problems(&checked, &is_set);
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
async fn readiness(config_path: &Path, data_dir: Option<PathBuf>) -> ExitCode {
    let Some(checked) = load_all(config_path, "readiness") else {
        return ExitCode::from(FAILURE);
    };
    let config = Arc::new(checked.config.config.clone());
    let data_dir = data_dir.unwrap_or_else(|| config.store.data_dir.clone());
    let drill_log = lifeboat::store::drill_logs::drill_events(&data_dir, true);
    // Readiness only reads: anything a step would say goes nowhere.
    let env = reading_step_env(config, Arc::new(TokioClock::new()), "readiness").await;
    let report = lifeboat::readiness::run(&env, &checked.runbooks.runbooks, &drill_log).await;
    print!("{}", report.render());
    if report.ready() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILURE)
    }
}

/// `lifeboat iam-policy`: the policy document on stdout, notes on stderr.
fn iam_policy(config_path: &Path) -> ExitCode {
    let Some(checked) = load_all(config_path, "iam-policy") else {
        return ExitCode::from(FAILURE);
    };
    let policy = lifeboat::iam::policy(&checked.config.config, &checked.runbooks.runbooks);
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

/// `lifeboat docs`: the living DRP document.
fn docs(config_path: &Path, data_dir: Option<PathBuf>, out: Option<PathBuf>) -> ExitCode {
    let Some(checked) = load_all(config_path, "docs") else {
        return ExitCode::from(FAILURE);
    };
    let drills = match &data_dir {
        Some(dir) if !dir.is_dir() => {
            eprintln!("lifeboat docs: no event log at {}", dir.display());
            return ExitCode::from(FAILURE);
        }
        Some(dir) => Some(lifeboat::drill::history::drills_from_events(
            &lifeboat::store::drill_logs::drill_events(dir, true),
        )),
        None => None,
    };
    let text = lifeboat::docs::render(
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
async fn store_backup(out: &Path, data_dir: Option<PathBuf>, config_path: &Path) -> ExitCode {
    use lifeboat::store::backup;
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
            "lifeboat store backup: no event log at {}",
            data_dir.display()
        );
        return ExitCode::from(FAILURE);
    }
    // Opening a directory that holds no log would create an empty one, and back it up.
    if !lifeboat::store::drill_logs::is_log(&data_dir) {
        eprintln!(
            "lifeboat store backup: {} holds no event log (no sled `conf` and `db`); check --data-dir or [store] data_dir",
            data_dir.display()
        );
        return ExitCode::from(FAILURE);
    }
    let summary = match SledStore::open(&data_dir) {
        Ok(store) => backup::backup_to_file(&store, out),
        Err(lifeboat::ports::store::StoreError::Locked { .. }) => {
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
            match backup::fetch_backup(server.listen).await {
                Ok(bytes) => backup::read(bytes.as_slice())
                    .and_then(|(_, summary)| backup::save_bytes(&bytes, out).map(|()| summary)),
                Err(err) => {
                    eprintln!(
                        "lifeboat store backup: {} is held by a running Lifeboat, which did not answer at {}: {err}",
                        data_dir.display(),
                        server.listen
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
fn store_restore(file: &Path, data_dir: &Path) -> ExitCode {
    match lifeboat::store::backup::restore(file, data_dir) {
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

fn audit_verify(data_dir: Option<PathBuf>, config: &Path) -> ExitCode {
    let data_dir = match data_dir {
        Some(dir) => dir,
        None => match load_config(config, "audit verify", ConfigUse::DataDir) {
            Some(config) => config.store.data_dir,
            None => return ExitCode::from(FAILURE),
        },
    };
    if !data_dir.is_dir() {
        eprintln!(
            "lifeboat audit verify: no event log at {}",
            data_dir.display()
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
        Ok(Verdict::Intact { events, head }) => {
            let head = head
                .map(|h| format!(", head {}", &h[..16]))
                .unwrap_or_default();
            println!("{events} events, chain intact{head}");
            ExitCode::SUCCESS
        }
        Ok(Verdict::Broken { seq, reason }) => {
            println!("chain broken at seq {seq}: {reason}");
            ExitCode::from(FAILURE)
        }
        Err(err) => {
            eprintln!("lifeboat audit verify: {err}");
            ExitCode::from(FAILURE)
        }
    }
}
