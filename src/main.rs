//! The `lifeboat` command line: parse arguments, load config, build adapters, run.
//! This is the only place that prints to stdout/stderr for people; everything else traces.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use lifeboat::config::{Config, DEFAULT_CONFIG_PATH};
use lifeboat::store::{EventStore, SledStore, Verdict};
use lifeboat::telemetry::{self, LogFormat};

/// Lifeboat: a disaster-recovery chat-ops bot.
///
/// It watches provider status feeds, runs the failover runbooks in commands/ once a second
/// person approves, keeps teams and clients informed, and records every event in a
/// tamper-evident log for the post-mortem.
#[derive(Debug, Parser)]
#[command(name = "lifeboat", version, propagate_version = true)]
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
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        out: Option<PathBuf>,
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
    },
    /// Register the slash commands with the configured Discord guild.
    Register {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
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

/// Exit codes: 0 success, 1 failure (invalid input, broken chain), 2 not possible here.
const FAILURE: u8 = 1;
const UNAVAILABLE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format, "warn");
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Audit {
            action: AuditAction::Verify { data_dir, config },
        } => audit_verify(data_dir, &config),
        Command::Run { .. } => not_yet("run", "the chat bot (console and Discord)"),
        Command::Feed { .. } => not_yet("feed", "status feed fetching"),
        Command::Plan { .. } => not_yet("plan", "the runbook engine"),
        Command::Drill { .. } => not_yet("drill", "drills"),
        Command::Export { .. } => not_yet("export", "post-mortem export"),
        Command::Readiness { .. } => not_yet("readiness", "readiness checks"),
        Command::Register { .. } => not_yet("register", "the Discord adapter"),
    }
}

fn not_yet(command: &str, capability: &str) -> ExitCode {
    eprintln!("lifeboat {command}: not available yet ({capability} is still being built)");
    ExitCode::from(UNAVAILABLE)
}

fn check(config: &Path) -> ExitCode {
    match lifeboat::check::check(config) {
        Ok(checked) => {
            print!("{}", checked.summary());
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

fn audit_verify(data_dir: Option<PathBuf>, config: &Path) -> ExitCode {
    let data_dir = match data_dir {
        Some(dir) => dir,
        None => match Config::load(config) {
            Ok(loaded) => loaded.config.store.data_dir,
            Err(errors) => {
                eprintln!(
                    "lifeboat audit verify: no --data-dir given and the config could not be read:"
                );
                for error in errors {
                    eprintln!("  {error}");
                }
                return ExitCode::from(FAILURE);
            }
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
