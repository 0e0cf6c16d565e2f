//! The `lifeboat` command line: parse the arguments, call `lifeboat run`'s wiring
//! (`service::app`) or a one-shot command (`service::commands`), and exit with its code. Those
//! two are the only places that print for people; everything else traces.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use lifeboat::config::{DEFAULT_CONFIG_PATH, FeedKind};
use lifeboat::service::app::FAILURE;
use lifeboat::service::commands::{
    audit_verify, check, docs, drill, export, feed, iam_policy, plan, readiness, register,
    store_backup, store_restore,
};
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
        /// Restore a real database in a throwaway local PostgreSQL the drill starts (the
        /// default with [data]; never the configured databases) and measure the window.
        #[arg(long)]
        postgres: bool,
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
    /// The company's database: take a backup now.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// Check the event log.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Is the standby ready? (ECS, DNS TTL, Anthropic key, backup age, last drill, parity)
    Readiness {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Where to look for drills: this log and its drill-* logs (default: [store] data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Does the standby mirror production? Heroku's config var names, process types and
    /// release against the ECS task definitions and services, and the app's health endpoints.
    /// Exit 1 on drift, 2 when something could not be read.
    Parity {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Run the LLM parity suite against OpenAI and Anthropic side by side: pass rate and
    /// latency percentiles per provider. Exit 1 when one passes less than the minimum.
    LlmParity {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Another suite file (default: [parity] llm_suite).
        #[arg(long)]
        suite: Option<PathBuf>,
        #[arg(long)]
        json: bool,
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
enum DbAction {
    /// Dump the primary (`pg_dump --format=custom`) into `[data.backups]`, named by its
    /// completion time, and record `db.backup_taken` in the event log.
    Backup {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// The event log's directory (default: [store] data_dir of the config).
        #[arg(long)]
        data_dir: Option<PathBuf>,
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
        Command::Db {
            action: DbAction::Backup { config, data_dir },
        } => block_on(lifeboat::service::commands::db_backup(&config, data_dir)),
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
            postgres,
        } => block_on(drill(&scenario, &config, data_dir, postgres)),
        Command::Export {
            incident,
            format,
            data_dir,
            out,
            config,
        } => export(&incident, format.into(), data_dir, out, &config),
        Command::Readiness { config, data_dir } => block_on(readiness(&config, data_dir)),
        Command::Parity { config, json } => {
            block_on(lifeboat::service::parity::parity(&config, json))
        }
        Command::LlmParity {
            config,
            suite,
            json,
        } => block_on(lifeboat::service::parity::llm_parity(&config, suite, json)),
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

fn parse_param(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))
}
