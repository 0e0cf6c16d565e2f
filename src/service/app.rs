//! The wiring of `lifeboat run`: the config and runbooks, the event log, the chat adapter
//! (Discord or the console), one `StepEnv` and one clock for the engine, the bot, the watcher and
//! the scheduler, the operators' endpoints and scheduled backups; then a graceful stop. Also the
//! one way every command loads its config or says why it cannot.
//!
//! What it prints is `lifeboat run`'s own output: operators (and tests) wait for its lines.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::drill::ChatDrills;
use super::env::step_env;
use super::leading::{self, Led, Node};
use super::scheduler::Scheduler;
use super::shutdown::{shutdown_signals, wait_for_shutdown_signal};
use super::watcher::Watcher;
use crate::chat::bot::Bot;
use crate::chat::console::{Console, ConsoleChat};
use crate::chat::discord::{self, DiscordGateway};
use crate::check::Checked;
use crate::config::{BOUND_ADDRESS_FILE, Config, DiscordConfig, ProcessEnv, Secret};
use crate::engine::Engine;
use crate::ports::chat::{ChannelId, Chat, ChatHealth};
use crate::ports::clock::{Clock, TokioClock};
use crate::ports::ha::Leadership;
use crate::ports::members::Members;
use crate::ports::store::EventStore;
use crate::redact::{RedactingChat, Redactor};
use crate::runbook::Runbook;
use crate::store::SledStore;
use crate::toml_source::Diagnostic;

/// Exit codes: 0 success, 1 failure (invalid input, broken chain), 2 not possible here.
pub const FAILURE: u8 = 1;
pub const UNAVAILABLE: u8 = 2;

/// Why a command read the config: it decides how a config that cannot be read is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigUse {
    /// The command works from the config (and is told to see `lifeboat check`).
    Required,
    /// Only for the objectives a post-mortem measures against.
    Objectives,
    /// Only for `[store] data_dir`, as the default of a `--data-dir` not given.
    DataDir,
}

/// The one way a command says its config could not be read: every error, and what that means
/// for `lifeboat COMMAND`.
pub fn report_config_errors(command: &str, errors: &[Diagnostic], used: ConfigUse) {
    if used == ConfigUse::DataDir {
        eprintln!("lifeboat {command}: no --data-dir given and the config could not be read:");
        for error in errors {
            eprintln!("  {error}");
        }
        return;
    }
    for error in errors {
        eprintln!("{error}");
    }
    match used {
        ConfigUse::Objectives => {
            eprintln!("lifeboat {command}: the config (for the objectives) is invalid")
        }
        _ => eprintln!("lifeboat {command}: the configuration is invalid; see `lifeboat check`"),
    }
}

/// Loads the config alone, reporting every problem; `None` when it cannot be read.
pub fn load_config(config_path: &Path, command: &str, used: ConfigUse) -> Option<Config> {
    match Config::load(config_path) {
        Ok(loaded) => Some(loaded.config),
        Err(errors) => {
            report_config_errors(command, &errors, used);
            None
        }
    }
}

/// Loads the config and the runbooks, reporting every problem; `None` when invalid.
pub fn load_all(config_path: &Path, command: &str) -> Option<Checked> {
    match crate::check::check(config_path) {
        Ok(checked) => Some(checked),
        Err(errors) => {
            report_config_errors(command, &errors, ConfigUse::Required);
            None
        }
    }
}

/// Where `lifeboat run` serves commands: Discord (its section, the token, the guild) or, with
/// `None`, the terminal.
type DiscordTarget = Option<(DiscordConfig, Secret, u64)>;

/// Discord when a token is set (and `--console` is not given), else the terminal. A Discord
/// run needs a valid guild id.
fn discord_target(config: &Config, console: bool) -> Result<DiscordTarget, ExitCode> {
    let Some((d, token)) = (match (&config.discord, console) {
        (Some(d), false) => d.token().map(|token| (d.clone(), token)),
        _ => None,
    }) else {
        return Ok(None);
    };
    match d.guild_id.as_deref().map(discord::snowflake) {
        Some(Ok(guild)) => Ok(Some((d, token, guild))),
        Some(Err(err)) => {
            eprintln!("lifeboat run: [discord] guild_id: {err}");
            Err(ExitCode::from(FAILURE))
        }
        None => {
            eprintln!("lifeboat run: [discord] guild_id is required to run on Discord");
            Err(ExitCode::from(FAILURE))
        }
    }
}

/// Why `lifeboat run` without a token and without a terminal stops: a service (systemd) whose
/// token went missing must fail loudly, not sit listening to a stdin nobody types into.
fn missing_token(config: &Config) -> String {
    let variable = config.discord.as_ref().map_or_else(
        || "LIFEBOAT_DISCORD_TOKEN".to_owned(),
        |d| d.token_env.clone(),
    );
    format!(
        "no Discord token: the environment variable {variable} is not set and stdin is not a terminal; set {variable} (the variable [discord] token_env names) or pass --console"
    )
}

/// The chat adapter `lifeboat run` speaks through, and its incident channel.
fn chat_adapter(config: &Config, discord: &DiscordTarget) -> (Arc<dyn Chat>, ChannelId) {
    let channel = ChannelId(
        config
            .discord
            .as_ref()
            .and_then(|d| d.incident_channel_id.clone())
            .unwrap_or_else(|| "incident".to_owned()),
    );
    let chat: Arc<dyn Chat> = match discord {
        Some((d, token, _)) => Arc::new(discord::DiscordChat::new(Arc::new(discord::build_http(
            token,
            d.api_base.as_deref(),
        )))),
        None => Arc::new(ConsoleChat::stdout()),
    };
    (chat, channel)
}

/// `lifeboat run`: the watcher, the scheduler and the chat commands until Ctrl-C or SIGTERM.
pub async fn run(config_path: &Path, console: bool) -> ExitCode {
    // First of all, so that a stop asked for during start-up is graceful too.
    let signalled = shutdown_signals();
    let Some(checked) = load_all(config_path, "run") else {
        return ExitCode::from(FAILURE);
    };
    let config = Arc::new(checked.config.config.clone());
    let runbooks = checked.runbooks.runbooks.clone();
    let discord = match discord_target(&config, console) {
        Ok(discord) => discord,
        Err(code) => return code,
    };
    if discord.is_none() && !console && !std::io::stdin().is_terminal() {
        eprintln!("lifeboat run: {}", missing_token(&config));
        return ExitCode::from(FAILURE);
    }
    // Every secret the config and runbooks name: no log line, event or message shows one.
    let redactor = Redactor::for_process(&config, &runbooks, &ProcessEnv);
    crate::telemetry::redact_secrets(&redactor);
    let store = match open_store(&config, redactor.clone()) {
        Ok(store) => store,
        Err(code) => return code,
    };
    // With `[ha]` the lease keeper (a follower at first) and the replicated log; else a
    // single node's leadership and the local log.
    let node = match Node::start(&config, &store).await {
        Ok(node) => node,
        Err(err) => {
            eprintln!("lifeboat run: {err}");
            return ExitCode::from(FAILURE);
        }
    };
    let (leadership, log) = (node.leadership.clone(), node.log(&store));
    let (chat, channel) = chat_adapter(&config, &discord);
    let chat = RedactingChat::wrap(chat, redactor);
    // The process's one clock: the engine, the bot, the watcher and the scheduler read it.
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
    let env = step_env(
        config.clone(),
        clock.clone(),
        chat.clone(),
        channel.clone(),
        Arc::new(ProcessEnv),
    )
    .await;
    let engine = Engine::new(env, log.clone()).with_leadership(leadership.clone());
    let (stop, stopped) = watch::channel(false);
    let gateway_health = Arc::new(DiscordGateway::default());
    let chat_health: Arc<dyn ChatHealth> = if discord.is_some() {
        gateway_health.clone()
    } else {
        Arc::new(Console)
    };
    let ops = (store.clone(), chat_health, leadership.clone());
    let serving = match start_server(&config, ops, &stopped).await {
        Ok(task) => task,
        Err(code) => return code,
    };
    let backups = start_backups(&config, &store, &stopped);
    let tailing = node.tail(&stopped);
    prime_metrics(&config, &runbooks, discord.is_some());
    // A follower waits here; a single node passes at once.
    let led = node.lead(&signalled, chat.as_ref(), &channel).await;
    if !matches!(led, Led::Leading) {
        let stopping = Stopping {
            stop,
            tasks: [None, None, serving, backups, tailing],
        };
        let failed = stop_gracefully(&config, &engine, &store, stopping, false).await;
        node.release().await;
        return match led {
            Led::Failed(err) => {
                eprintln!(
                    "lifeboat run: {err}; exiting so that this node starts again as a follower"
                );
                ExitCode::from(leading::LOST_LEASE)
            }
            _ => failed.unwrap_or(ExitCode::SUCCESS),
        };
    }
    announce(&config, discord.is_some());
    // From here on, as after a restart: unfinished runs resume from the (replicated) log.
    resume_runs(&engine, &runbooks, &signalled);
    // The guild's members, for the training record (Discord only).
    let members = discord
        .as_ref()
        .and_then(|_| super::training::discord_members(&config));
    let scheduled = start_scheduler(&engine, &runbooks, &log, &clock, &stopped, members.clone());
    let scheduling = match scheduled {
        Ok(task) => task,
        Err(code) => return code,
    };
    let runbook_names: Vec<String> = runbooks.iter().map(|r| r.name.clone()).collect();
    let bot = Arc::new(
        Bot::new(config.clone(), runbooks, engine.clone(), log.clone())
            .with_drills(Arc::new(ChatDrills::new(clock.clone())))
            .with_members(members.clone()),
    );
    let watcher = Watcher::new(&config, log, chat, channel, clock);
    let watching = tokio::spawn(watcher.run(stopped));
    let gateway = (engine.clone(), gateway_health);
    let stops = (signalled, leadership.clone());
    let code = serve_commands(discord, bot, runbook_names, gateway, stops).await;
    let stopping = Stopping {
        stop,
        tasks: [Some(watching), Some(scheduling), serving, backups, tailing],
    };
    let lost = !leadership.may_act();
    let failed = stop_gracefully(&config, &engine, &store, stopping, lost).await;
    // After the drain: the runs' last events were appended under the lease.
    node.release().await;
    failed.unwrap_or(code)
}

/// The event log in the configured data directory, redacting every secret it is handed.
fn open_store(config: &Config, redactor: Redactor) -> Result<Arc<SledStore>, ExitCode> {
    match SledStore::open(&config.store.data_dir) {
        Ok(store) => Ok(Arc::new(store.with_redactor(redactor))),
        Err(err) => {
            eprintln!("lifeboat run: {err}");
            Err(ExitCode::from(FAILURE))
        }
    }
}

/// RTO checkpoints, reminders and the RPO watch, until the same stop as the watcher.
fn start_scheduler(
    engine: &Engine,
    runbooks: &[Runbook],
    store: &Arc<dyn EventStore>,
    clock: &Arc<dyn Clock>,
    stopped: &watch::Receiver<bool>,
    members: Option<Arc<dyn Members>>,
) -> Result<JoinHandle<()>, ExitCode> {
    let scheduler = match Scheduler::new(
        engine.env().clone(),
        runbooks.to_vec(),
        store.clone(),
        clock.clone(),
    ) {
        Ok(scheduler) => scheduler.with_members(members),
        Err(err) => {
            eprintln!("lifeboat run: {err}");
            return Err(ExitCode::from(FAILURE));
        }
    };
    let mut scheduler_stop = stopped.clone();
    Ok(tokio::spawn(scheduler.run(async move {
        let _ = scheduler_stop.wait_for(|stop| *stop).await;
    })))
}

/// Takes commands from Discord or, without a token, from the terminal, until a stop signal
/// or (in a pair) until this node may no longer act.
async fn serve_commands(
    discord: DiscordTarget,
    bot: Arc<Bot>,
    runbook_names: Vec<String>,
    (engine, gateway_health): (Engine, Arc<DiscordGateway>),
    (signalled, leadership): (watch::Receiver<bool>, Leadership),
) -> ExitCode {
    match discord {
        Some((d, token, guild)) => {
            let gateway = (engine, gateway_health);
            let stops = (signalled, leadership);
            serve_discord(&d, &token, guild, bot, runbook_names, gateway, stops).await
        }
        None => {
            let commands = tokio::spawn(crate::chat::console::command_loop(
                bot,
                tokio::io::BufReader::new(tokio::io::stdin()),
            ));
            let code = until_stopped(signalled, leadership).await;
            // No new commands, no new runs; running steps get the grace below.
            engine.begin_shutdown();
            commands.abort();
            code
        }
    }
}

/// Resolves at a stop signal (success) or when this node may no longer act ([`leading::LOST_LEASE`]).
async fn until_stopped(signalled: watch::Receiver<bool>, mut leadership: Leadership) -> ExitCode {
    tokio::select! {
        () = wait_for_shutdown_signal(signalled) => ExitCode::SUCCESS,
        () = leadership.lost() => {
            println!("Lost the lease: this node stops acting now and exits so that it starts again as a follower.");
            ExitCode::from(leading::LOST_LEASE)
        }
    }
}

/// What is still running once command intake has stopped, and how to tell it to stop.
struct Stopping {
    stop: watch::Sender<bool>,
    /// The watcher, the scheduler, the server, the backups and the tail of the pair's table
    /// (the last three when enabled).
    tasks: [Option<JoinHandle<()>>; 5],
}

/// Drains the runs within the shutdown grace, stops the loops and flushes the log. `Some` exit
/// code when the log could not be flushed.
async fn stop_gracefully(
    config: &Config,
    engine: &Engine,
    store: &SledStore,
    stopping: Stopping,
    lost: bool,
) -> Option<ExitCode> {
    engine.begin_shutdown();
    // Printed once command intake has stopped (operators and tests wait for this line).
    println!("Stopping: no new commands are taken; running steps may finish first.");
    let grace = config.server.shutdown_grace;
    // A deposed leader waits for nothing: its steps' ends could not be recorded (the log is
    // fenced) and the new leader already decides what to do with them.
    let unfinished = engine
        .drain(if lost {
            std::time::Duration::ZERO
        } else {
            grace.get()
        })
        .await;
    if !unfinished.is_empty() {
        let ids: Vec<String> = unfinished.iter().map(ToString::to_string).collect();
        println!(
            "The shutdown grace of {grace} ran out with run(s) mid-step: {}. They resume on the next start.",
            ids.join(", ")
        );
    }
    let _ = stopping.stop.send(true);
    for task in stopping.tasks.into_iter().flatten() {
        let _ = task.await;
    }
    if let Err(err) = store.flush() {
        eprintln!("lifeboat run: flushing the event log failed: {err}");
        return Some(ExitCode::from(FAILURE));
    }
    println!("Lifeboat stopped.");
    None
}

/// Scheduled backups of the log, when `[store] backup_dir` is set.
fn start_backups(
    config: &Config,
    store: &Arc<SledStore>,
    stopped: &watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    config.store.backup_dir.clone().map(|dir| {
        println!(
            "Backing up the event log to {} every {} (keeping {}).",
            dir.display(),
            config.store.backup_every,
            config.store.backup_keep
        );
        tokio::spawn(crate::store::backup::scheduled(
            store.clone(),
            dir,
            config.store.backup_every.get(),
            config.store.backup_keep,
            stopped.clone(),
        ))
    })
}

/// Every metric series this configuration will have, at zero, from the start.
fn prime_metrics(config: &Config, runbooks: &[Runbook], discord: bool) {
    crate::metrics::prime(
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
        if discord { "discord" } else { "console" },
    );
}

/// The line that says Lifeboat is up, and where.
fn announce(config: &Config, discord: bool) {
    if discord {
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
}

/// Carries on the runs the log says are unfinished, unless a stop was already asked for; a
/// stop asked for later during start-up reaches the engine at once, so no run starts a step.
fn resume_runs(engine: &Engine, runbooks: &[Runbook], signalled: &watch::Receiver<bool>) {
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
        engine.recover(runbooks)
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
}

/// The Discord side of `lifeboat run`: register when configured, then serve interactions
/// until Ctrl-C or SIGTERM (or until the gateway gives up).
async fn serve_discord(
    config: &DiscordConfig,
    token: &Secret,
    guild: u64,
    bot: Arc<Bot>,
    runbooks: Vec<String>,
    (engine, health): (Engine, Arc<DiscordGateway>),
    (signalled, leadership): (watch::Receiver<bool>, Leadership),
) -> ExitCode {
    let handler = discord::Handler::new(bot, guild, runbooks);
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
        code = until_stopped(signalled, leadership) => {
            // No new runs; closing the gateway below stops new commands. Progress still
            // reaches the channel over REST while running steps finish.
            engine.begin_shutdown();
            code
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

/// Binds the operators' endpoints (when `[server] enabled`) and serves them until `stopped`;
/// the bound address is printed (a `:0` port in the config picks a free one) and recorded in
/// the data dir for `lifeboat store backup`, until the server stops.
async fn start_server(
    config: &Config,
    (store, chat, leadership): (Arc<SledStore>, Arc<dyn ChatHealth>, Leadership),
    stopped: &watch::Receiver<bool>,
) -> Result<Option<JoinHandle<()>>, ExitCode> {
    let server = &config.server;
    if !server.enabled {
        return Ok(None);
    }
    let listener = match super::server::bind(server.listen).await {
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
    // Recorded before it is announced: whoever read the announcement finds the record.
    let recorded = config.store.data_dir.join(BOUND_ADDRESS_FILE);
    if let Err(err) = record_address(&recorded, bound) {
        tracing::warn!(error = %err, path = %recorded.display(), "the bound address could not be recorded; `lifeboat store backup` will use [server] listen");
    }
    println!("Health and metrics on http://{bound} (/healthz, /metrics, /backup).");
    let token = server.token();
    if server.token_env.is_some() && token.is_none() {
        eprintln!(
            "lifeboat run: [server] token_env names {}, which is not set",
            server.token_env.as_deref().unwrap_or_default()
        );
        return Err(ExitCode::from(FAILURE));
    }
    let ops = Arc::new(super::server::Ops {
        store,
        chat,
        token,
        leadership,
    });
    let stopped = stopped.clone();
    Ok(Some(tokio::spawn(async move {
        if let Err(err) = super::server::serve(listener, ops, stopped).await {
            tracing::error!(error = %err, "the health and metrics server stopped");
        }
        // Nobody answers there any more.
        let _ = std::fs::remove_file(&recorded);
    })))
}

/// Writes `addr` to `path` whole or not at all (a temp file renamed over it), so a reader
/// never sees half an address.
fn record_address(path: &Path, addr: std::net::SocketAddr) -> std::io::Result<()> {
    let partial = path.with_extension("addr.partial");
    std::fs::write(&partial, format!("{addr}\n"))?;
    std::fs::rename(&partial, path)
}
