//! The `lifeboat` command line: parse the arguments, call `lifeboat run`'s wiring
//! (`service::app`) or a one-shot command (`service::commands`), and exit with its code. Those
//! two are the only places that print for people; everything else traces.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use lifeboat::config::{DEFAULT_CONFIG_PATH, FeedKind};
use lifeboat::service::app::FAILURE;
use lifeboat::service::commands::{
    audit_verify, check, docs, drill, drills, export, feed, gameday, iam_policy, plan, readiness,
    register, store_backup, store_restore,
};
use lifeboat::service::ha_commands;
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
        /// A game day: people play it on this terminal (declare, request, approve, confirm,
        /// approve the draft); only AWS, the providers and the app are simulated.
        #[arg(long, conflicts_with = "postgres")]
        gameday: bool,
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
    /// The active/standby pair on DynamoDB ([ha]): its table and its state.
    Ha {
        #[command(subcommand)]
        action: HaAction,
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
    /// Who holds a responder, approver or communicator role, and their last game day (or
    /// "never"), from the training records of the game days' logs.
    Training {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Where to look for game days: this log and its drill-* logs (default: [store] data_dir).
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
    /// The drills on record, newest first: how each was played (only a game day or a drill
    /// against real AWS counts as the plan's drill) and its figures.
    Drills {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Where to look: this log and its drill-* logs (default: [store] data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
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
    /// Print a completion script for a shell, e.g. `lifeboat completions bash >
    /// /etc/bash_completion.d/lifeboat` (see docs/commands.md for each shell).
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
}

/// The shells `lifeboat completions` writes for.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
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
        #[arg(long, conflicts_with = "table")]
        data_dir: Option<PathBuf>,
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Walk the chain in the [ha] table instead of a node's local log.
        #[arg(long)]
        table: bool,
    },
}

#[derive(Debug, Subcommand)]
enum HaAction {
    /// Create the [ha] table (on-demand; nothing happens when it exists).
    Init {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Print the AWS CLI command and the CloudFormation resource instead of creating it.
        #[arg(long)]
        print: bool,
    },
    /// The leader, its epoch, the lease's age and each node's replication lag.
    Status {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
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
            action:
                AuditAction::Verify {
                    data_dir,
                    config,
                    table,
                },
        } => {
            if table {
                block_on(ha_commands::audit_verify_table(&config))
            } else {
                audit_verify(data_dir, &config)
            }
        }
        Command::Ha {
            action: HaAction::Init { config, print },
        } => block_on(ha_commands::ha_init(&config, print)),
        Command::Ha {
            action: HaAction::Status { config, json },
        } => block_on(ha_commands::ha_status(&config, json)),
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
            gameday: false,
        } => block_on(drill(&scenario, &config, data_dir, postgres)),
        Command::Drill {
            scenario,
            config,
            data_dir,
            gameday: true,
            ..
        } => block_on(gameday(&scenario, &config, data_dir)),
        Command::Export {
            incident,
            format,
            data_dir,
            out,
            config,
        } => export(&incident, format.into(), data_dir, out, &config),
        Command::Readiness { config, data_dir } => block_on(readiness(&config, data_dir)),
        Command::Training { config, data_dir } => {
            block_on(lifeboat::service::training::training(&config, data_dir))
        }
        Command::Parity { config, json } => {
            block_on(lifeboat::service::parity::parity(&config, json))
        }
        Command::LlmParity {
            config,
            suite,
            json,
        } => block_on(lifeboat::service::parity::llm_parity(&config, suite, json)),
        Command::IamPolicy { config } => iam_policy(&config),
        Command::Drills { config, data_dir } => drills(&config, data_dir),
        Command::Docs {
            config,
            data_dir,
            out,
        } => docs(&config, data_dir, out),
        Command::Register { config } => block_on(register(&config)),
        Command::Completions { shell } => {
            completions(shell, &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}

/// Writes the completion script of `shell` for the whole command tree.
fn completions(shell: CompletionShell, out: &mut dyn std::io::Write) {
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut Cli::command(), "lifeboat", out);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command (`lifeboat store backup`) with each of its flags, from clap's tree.
    fn commands_and_flags() -> Vec<(String, Vec<String>)> {
        fn walk(command: &clap::Command, path: &str, out: &mut Vec<(String, Vec<String>)>) {
            for sub in command.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                let flags = sub
                    .get_arguments()
                    .filter(|arg| !arg.is_global_set())
                    .filter_map(|arg| arg.get_long())
                    .filter(|long| !["help", "version"].contains(long))
                    .map(|long| format!("--{long}"))
                    .collect();
                out.push((path.clone(), flags));
                walk(sub, &path, out);
            }
        }
        let mut out = Vec::new();
        walk(&Cli::command(), "lifeboat", &mut out);
        out
    }

    /// What `doc` lacks: each command needs a code span that starts with it (`lifeboat store
    /// backup --out FILE ...`), and each flag must be in one of those spans.
    fn undocumented(commands: &[(String, Vec<String>)], doc: &str) -> Vec<String> {
        let spans: Vec<&str> = doc.split('`').skip(1).step_by(2).collect();
        let mut missing = Vec::new();
        for (command, flags) in commands {
            let own: Vec<&str> = spans
                .iter()
                .copied()
                .filter(|span| {
                    span.strip_prefix(command.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
                })
                .collect();
            if own.is_empty() {
                missing.push(format!("`{command}`"));
                continue;
            }
            for flag in flags {
                let named = own.iter().any(|span| {
                    span.split(|c: char| !(c.is_alphanumeric() || c == '-'))
                        .any(|word| word == flag)
                });
                if !named {
                    missing.push(format!("`{command} {flag}`"));
                }
            }
        }
        missing
    }

    #[test]
    fn every_command_and_flag_is_documented_in_docs_commands_md() {
        let commands = commands_and_flags();
        assert!(
            commands
                .iter()
                .any(|(c, flags)| c == "lifeboat store backup"
                    && flags.contains(&"--out".to_owned())),
            "{commands:?}"
        );
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/commands.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let missing = undocumented(&commands, &doc);
        assert!(
            missing.is_empty(),
            "docs/commands.md does not document (as a code span starting with the command): {missing:#?}"
        );
        for global in Cli::command()
            .get_arguments()
            .filter_map(|arg| arg.get_long())
        {
            assert!(doc.contains(&format!("--{global}")), "global --{global}");
        }
    }

    #[test]
    fn the_check_names_a_missing_command_and_a_missing_flag() {
        let commands = vec![
            ("lifeboat store".to_owned(), vec![]),
            (
                "lifeboat store backup".to_owned(),
                vec!["--out".to_owned(), "--data-dir".to_owned()],
            ),
            ("lifeboat feed".to_owned(), vec![]),
        ];
        let doc = "`lifeboat store backup --out FILE [--data-dir-x D]` and `lifeboat feeder`";
        assert_eq!(
            undocumented(&commands, doc),
            ["`lifeboat store backup --data-dir`", "`lifeboat feed`"]
        );
    }

    #[test]
    fn completions_cover_every_command_in_each_shell() {
        for shell in [
            CompletionShell::Bash,
            CompletionShell::Zsh,
            CompletionShell::Fish,
        ] {
            let mut script = Vec::new();
            completions(shell, &mut script);
            let script = String::from_utf8(script).unwrap();
            // Fish names long flags without their dashes (`-l data-dir`).
            for word in [
                "lifeboat",
                "llm-parity",
                "iam-policy",
                "completions",
                "data-dir",
                "postgres",
            ] {
                assert!(script.contains(word), "{shell:?} lacks {word}");
            }
        }
    }
}
