//! The `lifeboat` command line: parse arguments, load config, build adapters, run.
//! This is the only place that prints to stdout/stderr for people; everything else traces.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use lifeboat::chat::console::ConsoleChat;
use lifeboat::chat::discord;
use lifeboat::config::{Config, DEFAULT_CONFIG_PATH, FeedKind};
use lifeboat::domain::event::Verdict;
use lifeboat::feeds::fetch::FeedSpec;
use lifeboat::ports::chat::ChannelId;
use lifeboat::ports::clock::TokioClock;
use lifeboat::ports::store::EventStore;
use lifeboat::service::watcher::Watcher;
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

/// Exit codes: 0 success, 1 failure (invalid input, broken chain), 2 not possible here.
const FAILURE: u8 = 1;
const UNAVAILABLE: u8 = 2;

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
        Command::Run { config, console } => block_on(run(&config, console)),
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

/// Loads the config and the runbooks, reporting every problem; `None` when invalid.
fn load_all(config_path: &Path, command: &str) -> Option<lifeboat::check::Checked> {
    match lifeboat::check::check(config_path) {
        Ok(checked) => Some(checked),
        Err(errors) => {
            for error in &errors {
                eprintln!("{error}");
            }
            eprintln!("lifeboat {command}: the configuration is invalid; see `lifeboat check`");
            None
        }
    }
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
    let env = lifeboat::steps::StepEnv {
        aws: lifeboat::ports::aws::AwsEdges::connect(&config.aws).await,
        http: lifeboat::ports::http::client(),
        // A plan never posts: anything it would say goes nowhere.
        chat: Arc::new(lifeboat::chat::recorder::RecordingChat::new()),
        channel: ChannelId("plan".into()),
        answers: Arc::default(),
        secrets: Arc::new(lifeboat::config::ProcessEnv),
        llm: Arc::new(lifeboat::llm::HttpLlm::new(lifeboat::ports::http::client())),
        clock: Arc::new(lifeboat::ports::clock::TokioClock::new()),
        comms: Default::default(),
        config,
    };
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

/// `lifeboat run`: the watcher (and, as they land, the chat commands) until Ctrl-C or SIGTERM.
async fn run(config_path: &Path, console: bool) -> ExitCode {
    // First of all, so that a stop asked for during start-up is graceful too.
    let signalled = shutdown_signals();
    let Some(checked) = load_all(config_path, "run") else {
        return ExitCode::from(FAILURE);
    };
    let config = Arc::new(checked.config.config.clone());
    let runbooks = checked.runbooks.runbooks.clone();
    // Discord when a token is set (and --console is not given), else the terminal.
    let discord = match (&config.discord, console) {
        (Some(d), false) => d.token().map(|token| (d.clone(), token)),
        _ => None,
    };
    let guild = match &discord {
        Some((d, _)) => match d.guild_id.as_deref().map(discord::snowflake) {
            Some(Ok(id)) => Some(id),
            Some(Err(err)) => {
                eprintln!("lifeboat run: [discord] guild_id: {err}");
                return ExitCode::from(FAILURE);
            }
            None => {
                eprintln!("lifeboat run: [discord] guild_id is required to run on Discord");
                return ExitCode::from(FAILURE);
            }
        },
        None => None,
    };
    let store = match SledStore::open(&config.store.data_dir) {
        Ok(store) => Arc::new(store),
        Err(err) => {
            eprintln!("lifeboat run: {err}");
            return ExitCode::from(FAILURE);
        }
    };
    let channel = ChannelId(
        config
            .discord
            .as_ref()
            .and_then(|d| d.incident_channel_id.clone())
            .unwrap_or_else(|| "incident".to_owned()),
    );
    let chat: Arc<dyn lifeboat::ports::chat::Chat> = match &discord {
        Some((d, token)) => Arc::new(discord::DiscordChat::new(Arc::new(discord::build_http(
            token,
            d.api_base.as_deref(),
        )))),
        None => Arc::new(ConsoleChat::stdout()),
    };
    let env = lifeboat::steps::StepEnv {
        aws: lifeboat::ports::aws::AwsEdges::connect(&config.aws).await,
        http: lifeboat::ports::http::client(),
        chat: chat.clone(),
        channel: channel.clone(),
        answers: Arc::default(),
        secrets: Arc::new(lifeboat::config::ProcessEnv),
        llm: Arc::new(lifeboat::llm::HttpLlm::new(lifeboat::ports::http::client())),
        clock: Arc::new(lifeboat::ports::clock::TokioClock::new()),
        comms: Default::default(),
        config: config.clone(),
    };
    let engine = lifeboat::engine::Engine::new(env, store.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let gateway_health = Arc::new(lifeboat::chat::discord::DiscordGateway::default());
    let chat_health: Arc<dyn lifeboat::ports::chat::ChatHealth> = if discord.is_some() {
        gateway_health.clone()
    } else {
        Arc::new(lifeboat::chat::console::Console)
    };
    let serving = if config.server.enabled {
        match start_server(&config.server, store.clone(), chat_health, stopped.clone()).await {
            Ok(task) => Some(task),
            Err(code) => return code,
        }
    } else {
        None
    };
    let backups = config.store.backup_dir.clone().map(|dir| {
        println!(
            "Backing up the event log to {} every {} (keeping {}).",
            dir.display(),
            config.store.backup_every,
            config.store.backup_keep
        );
        tokio::spawn(lifeboat::store::backup::scheduled(
            store.clone(),
            dir,
            config.store.backup_every.get(),
            config.store.backup_keep,
            stopped.clone(),
        ))
    });
    lifeboat::metrics::prime(
        &config
            .feeds
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        &config
            .providers
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        &runbooks
            .iter()
            .map(|r| {
                let kinds = r.steps.iter().map(|s| s.action.kind().as_str()).collect();
                (r.name.as_str(), kinds)
            })
            .collect::<Vec<_>>(),
        if discord.is_some() {
            "discord"
        } else {
            "console"
        },
    );
    if discord.is_some() {
        println!(
            "Lifeboat is watching {} feed{} (Discord, AWS {:?}). Ctrl-C stops.",
            config.feeds.len(),
            if config.feeds.len() == 1 { "" } else { "s" },
            config.aws.mode
        );
    } else {
        println!(
            "Lifeboat is watching {} feed{} (console, AWS {:?}). Alerts appear below; type /help for commands; Ctrl-C stops.",
            config.feeds.len(),
            if config.feeds.len() == 1 { "" } else { "s" },
            config.aws.mode
        );
    }
    // A stop asked for during start-up reaches the engine at once, so no run starts a step.
    let mut early_stop = signalled.clone();
    let stopping_engine = engine.clone();
    tokio::spawn(async move {
        if early_stop.wait_for(|stop| *stop).await.is_ok() {
            stopping_engine.begin_shutdown();
        }
    });
    let recovered = if *signalled.borrow() {
        engine.begin_shutdown();
        println!("Stop asked for during start-up: unfinished runs resume on the next start.");
        Ok(Vec::new())
    } else {
        engine.recover(&runbooks)
    };
    match recovered {
        Ok(resumed) if !resumed.is_empty() => {
            let ids: Vec<String> = resumed.iter().map(|h| h.run.to_string()).collect();
            println!(
                "Resuming unfinished run(s) from the log: {}",
                ids.join(", ")
            );
        }
        Ok(_) => {}
        Err(err) => eprintln!("lifeboat run: cannot read unfinished runs: {err}"),
    }
    // RTO checkpoints, reminders and the RPO watch, until the same stop as the watcher.
    let scheduler = match lifeboat::service::scheduler::Scheduler::new(
        engine.env().clone(),
        runbooks.clone(),
        store.clone(),
        Arc::new(TokioClock::new()),
    ) {
        Ok(scheduler) => scheduler,
        Err(err) => {
            eprintln!("lifeboat run: {err}");
            return ExitCode::from(FAILURE);
        }
    };
    let mut scheduler_stop = stopped.clone();
    let scheduling = tokio::spawn(scheduler.run(async move {
        let _ = scheduler_stop.wait_for(|stop| *stop).await;
    }));
    let runbook_names: Vec<String> = runbooks.iter().map(|r| r.name.clone()).collect();
    let bot = Arc::new(lifeboat::chat::bot::Bot::new(
        config.clone(),
        runbooks,
        engine.clone(),
        store.clone(),
    ));
    let watcher = Watcher::new(
        &config,
        store.clone(),
        chat,
        channel,
        Arc::new(TokioClock::new()),
    );
    let watching = tokio::spawn(watcher.run(stopped));
    let code = match (discord, guild) {
        (Some((d, token)), Some(guild)) => {
            let gateway = (engine.clone(), gateway_health);
            serve_discord(&d, &token, guild, bot, runbook_names, gateway, signalled).await
        }
        _ => {
            let commands = tokio::spawn(lifeboat::chat::console::command_loop(
                bot,
                tokio::io::BufReader::new(tokio::io::stdin()),
            ));
            wait_for_shutdown_signal(signalled).await;
            // No new commands, no new runs; running steps get the grace below.
            engine.begin_shutdown();
            commands.abort();
            ExitCode::SUCCESS
        }
    };
    engine.begin_shutdown();
    // Printed once command intake has stopped (operators and tests wait for this line).
    println!("Stopping: no new commands are taken; running steps may finish first.");
    let grace = config.server.shutdown_grace;
    let unfinished = engine.drain(grace.get()).await;
    if !unfinished.is_empty() {
        let ids: Vec<String> = unfinished.iter().map(ToString::to_string).collect();
        println!(
            "The shutdown grace of {grace} ran out with run(s) mid-step: {}. They resume on the next start.",
            ids.join(", ")
        );
    }
    let _ = stop.send(true);
    let _ = watching.await;
    let _ = scheduling.await;
    if let Some(task) = serving {
        let _ = task.await;
    }
    if let Some(task) = backups {
        let _ = task.await;
    }
    if let Err(err) = store.flush() {
        eprintln!("lifeboat run: flushing the event log failed: {err}");
        return ExitCode::from(FAILURE);
    }
    println!("Lifeboat stopped.");
    code
}

/// The Discord side of `lifeboat run`: register when configured, then serve interactions
/// until Ctrl-C or SIGTERM (or until the gateway gives up).
async fn serve_discord(
    config: &lifeboat::config::DiscordConfig,
    token: &lifeboat::config::Secret,
    guild: u64,
    bot: Arc<lifeboat::chat::bot::Bot>,
    runbooks: Vec<String>,
    (engine, health): (
        lifeboat::engine::Engine,
        Arc<lifeboat::chat::discord::DiscordGateway>,
    ),
    signalled: tokio::sync::watch::Receiver<bool>,
) -> ExitCode {
    let incident_channel = config
        .incident_channel_id
        .as_deref()
        .and_then(|c| c.parse::<u64>().ok());
    let handler =
        discord::Handler::new(bot, guild, runbooks).with_incident_channel(incident_channel);
    let mut client = match discord::client(token, config.api_base.as_deref(), handler).await {
        Ok(client) => client,
        Err(err) => {
            eprintln!("lifeboat run: cannot set up the Discord client: {err}");
            return ExitCode::from(FAILURE);
        }
    };
    if config.register_on_start {
        match discord::register(&client.http, guild).await {
            Ok(n) => println!("Registered {n} slash commands."),
            Err(err) => eprintln!("lifeboat run: registering the slash commands failed: {err}"),
        }
    }
    let shards = client.shard_manager.clone();
    health.connect(shards.clone());
    let mut gateway = tokio::spawn(async move { client.start().await });
    let code = tokio::select! {
        () = wait_for_shutdown_signal(signalled) => {
            // No new runs; closing the gateway below stops new commands. Progress still
            // reaches the channel over REST while running steps finish.
            engine.begin_shutdown();
            ExitCode::SUCCESS
        }
        ended = &mut gateway => {
            match ended {
                Ok(Err(err)) => eprintln!("lifeboat run: the Discord connection ended: {err}"),
                Ok(Ok(())) => eprintln!("lifeboat run: the Discord connection ended"),
                Err(err) => eprintln!("lifeboat run: the Discord task failed: {err}"),
            }
            ExitCode::from(FAILURE)
        }
    };
    shards.shutdown_all().await;
    gateway.abort();
    code
}

/// Binds the operators' endpoints and serves them until `stopped`; the bound address is
/// printed (a `:0` port in the config picks a free one).
async fn start_server(
    server: &lifeboat::config::ServerConfig,
    store: Arc<SledStore>,
    chat: Arc<dyn lifeboat::ports::chat::ChatHealth>,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, ExitCode> {
    let listener = match lifeboat::service::server::bind(server.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!(
                "lifeboat run: cannot serve /healthz and /metrics on {}: {err} (change [server] listen, or set enabled = false)",
                server.listen
            );
            return Err(ExitCode::from(FAILURE));
        }
    };
    let bound = listener.local_addr().unwrap_or(server.listen);
    println!("Health and metrics on http://{bound} (/healthz, /metrics, /backup).");
    let ops = Arc::new(lifeboat::service::server::Ops { store, chat });
    Ok(tokio::spawn(async move {
        if let Err(err) = lifeboat::service::server::serve(listener, ops, stopped).await {
            tracing::error!(error = %err, "the health and metrics server stopped");
        }
    }))
}

/// `lifeboat register`: PUT the slash command list to the configured guild.
async fn register(config_path: &Path) -> ExitCode {
    let config = match Config::load(config_path) {
        Ok(loaded) => loaded.config,
        Err(errors) => {
            for error in errors {
                eprintln!("{error}");
            }
            eprintln!("lifeboat register: the configuration is invalid; see `lifeboat check`");
            return ExitCode::from(FAILURE);
        }
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

/// SIGTERM and SIGINT (Ctrl-C), registered at once rather than at the first wait: a signal
/// that arrives while `lifeboat run` is still starting is kept and stops it gracefully once it
/// is up, instead of killing it with the default action and the log unflushed. The receiver
/// turns true at the first one.
fn shutdown_signals() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            tokio::spawn(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                let _ = tx.send(true);
                // A second one means "now": a hung start-up or drain can still be killed.
                let interrupt = tokio::select! {
                    _ = term.recv() => false,
                    _ = int.recv() => true,
                };
                force_exit(interrupt);
            });
            return rx;
        }
    }
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = tx.send(true);
        let _ = tokio::signal::ctrl_c().await;
        force_exit(true);
    });
    rx
}

/// The exit code after a second stop signal: the shell's 128 + the signal's number.
fn forced_exit_code(interrupt: bool) -> u8 {
    if interrupt { 130 } else { 143 }
}

/// Leaves at once, without the graceful stop (the log's writes so far are durable).
fn force_exit(interrupt: bool) -> ! {
    eprintln!("lifeboat run: second stop signal; exiting now without waiting for running steps");
    std::process::exit(i32::from(forced_exit_code(interrupt)))
}

async fn wait_for_shutdown_signal(mut signalled: tokio::sync::watch::Receiver<bool>) {
    let _ = signalled.wait_for(|stop| *stop).await;
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
    let config = match Config::load(config_path) {
        Ok(loaded) => loaded.config,
        Err(errors) => {
            for error in &errors {
                eprintln!("{error}");
            }
            eprintln!("lifeboat export: the config (for the objectives) is invalid");
            return ExitCode::from(FAILURE);
        }
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

/// Writes the incident's post-mortem in every format beside the drill's log.
fn write_postmortems(
    data_dir: &Path,
    incident: &lifeboat::domain::IncidentId,
    config: &Config,
) -> anyhow::Result<Vec<PathBuf>> {
    use lifeboat::timeline::{Format, render};
    let store = SledStore::open(data_dir)?;
    let events = store.all()?;
    drop(store);
    let dir = PathBuf::from(format!("{}.postmortem", data_dir.display()));
    std::fs::create_dir_all(&dir)?;
    let mut paths = Vec::new();
    for format in [Format::Markdown, Format::Json, Format::Csv, Format::Html] {
        let text = render(&events, incident, format, &config.objectives)?;
        let path = dir.join(format!("{incident}.{}", format.extension()));
        std::fs::write(&path, text)?;
        paths.push(path);
    }
    Ok(paths)
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
    let outcomes = lifeboat::drill::run(
        &checked.config.config,
        &checked.runbooks.runbooks,
        scenario,
        &data_dir,
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
            match write_postmortems(&data_dir, &drilled.incident, &checked.config.config) {
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
    let env = lifeboat::steps::StepEnv {
        aws: lifeboat::ports::aws::AwsEdges::connect(&config.aws).await,
        http: lifeboat::ports::http::client(),
        // Readiness only reads: anything a step would say goes nowhere.
        chat: Arc::new(lifeboat::chat::recorder::RecordingChat::new()),
        channel: ChannelId("readiness".into()),
        answers: Arc::default(),
        secrets: Arc::new(lifeboat::config::ProcessEnv),
        llm: Arc::new(lifeboat::llm::HttpLlm::new(lifeboat::ports::http::client())),
        clock: Arc::new(lifeboat::ports::clock::TokioClock::new()),
        comms: Default::default(),
        config,
    };
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
            eprintln!(
                "lifeboat store backup: no --data-dir given and the config could not be read:"
            );
            for error in errors {
                eprintln!("  {error}");
            }
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
            match fetch_backup(server.listen).await {
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

/// GET /backup from the running bot (an unspecified listen address is reached on loopback).
async fn fetch_backup(listen: std::net::SocketAddr) -> anyhow::Result<Vec<u8>> {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/backup"))
        .timeout(std::time::Duration::from_secs(300))
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        anyhow::bail!("{status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body.to_vec())
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

#[cfg(test)]
mod tests {
    use super::forced_exit_code;

    #[test]
    fn a_forced_exit_reports_the_second_signal_as_the_shell_does() {
        assert_eq!(forced_exit_code(true), 130, "SIGINT is 2");
        assert_eq!(forced_exit_code(false), 143, "SIGTERM is 15");
    }
}
