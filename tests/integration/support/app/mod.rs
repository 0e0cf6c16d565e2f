//! `spawn_app`: Lifeboat started for a test, either in this process or as the real binary.
//!
//! ```ignore
//! let app = spawn_app(TestConfig::minimal().runbook(RUNBOOK)).discord().start().await;
//! let run = app.request_and_approve("scale-up", &alice(), &bob()).await;
//! app.wait_event("run.succeeded").await;
//! app.stop().await;
//! ```
//!
//! In process ([`AppSpec::start`]) it is put together from what `lifeboat run` is made of
//! (`service::env::step_env`, the engine, the bot with its drills, the Discord handler and
//! client, the watcher): the config is written to a temp dir and read back, the runbooks loaded
//! from its `[paths] runbooks`, and the log kept under it. What differs from `lifeboat run` is
//! only where the outside world comes from: secrets from the test instead of the environment,
//! and moto's fixed credentials. Chat goes to the tests' recorder, or with
//! [`AppSpec::discord`] through serenity to a fake Discord started for the app.
//!
//! As the binary ([`AppSpec::binary`]) it is `lifeboat run` as a child process in that temp
//! dir: on the console, or with `.discord()` connected to the fake; see [`binary::Binary`].
//!
//! A test may put a wrapper between the steps and ECS ([`AppSpec::containers_through`]), to
//! make the outside world fail in ways moto and the simulation do not (a deploy that fails
//! once, half-way through a switch).
//!
//! Every wait is bounded by the app's patience (10 s in process, 60 s for the binary, unless
//! [`AppSpec::patience`] says).

pub mod binary;
pub mod logs;
pub mod runs;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_route53::config::Credentials;
use lifeboat::aws::SimulatedAws;
use lifeboat::chat::bot::{Bot, Reply};
use lifeboat::chat::command::{Command, Line, parse_line};
use lifeboat::chat::discord::{self, DiscordChat, Handler};
use lifeboat::chat::recorder::RecordingChat;
use lifeboat::config::{AwsMode, Config, Secret};
use lifeboat::db::DataEdges;
use lifeboat::domain::event::Event;
use lifeboat::engine::Engine;
use lifeboat::ports::aws::{AwsEdges, Containers};
use lifeboat::ports::chat::{ChannelId, Chat};
use lifeboat::ports::clock::{Clock, TokioClock};
use lifeboat::ports::store::EventStore;
use lifeboat::runbook::{Runbook, load_dir, load_file};
use lifeboat::service::drill::ChatDrills;
use lifeboat::service::env::step_env;
use lifeboat::service::watcher::Watcher;
use lifeboat::steps::StepEnv;
use lifeboat::store::SledStore;
use serde_json::{Value, json};
use serenity::all::ShardManager;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::logs::Logs;
use super::config::{TOKEN_ENV, TestConfig};
use super::discord::{CHANNEL, Call, FakeDiscord, GUILD, Member, button, content, slash, text};

pub use binary::Binary;

/// Not a real token; tests check it never reaches the logs.
pub const TOKEN: &str = "MTAfake.bot-token.never-logged-7f3c";

/// How long waits last unless the test says otherwise: in process, and for the binary (which
/// starts a process and may share a loaded machine).
const PATIENCE: Duration = Duration::from_secs(10);
const BINARY_PATIENCE: Duration = Duration::from_secs(60);

/// Writes what a test needs into the log before the app reads it.
type Seed<'a> = Box<dyn FnOnce(&SledStore) + 'a>;
/// Wraps the log the engine and the bot write through (e.g. a log that refuses some appends).
type Wrap<'a> = Box<dyn FnOnce(Arc<dyn EventStore>) -> Arc<dyn EventStore> + 'a>;
/// Wraps the ECS edge the steps act through (e.g. one whose first deploy fails).
type WrapContainers<'a> = Box<dyn FnOnce(Arc<dyn Containers>) -> Arc<dyn Containers> + 'a>;

/// What to start: the config, and where chat, secrets and time come from.
pub struct AppSpec<'a> {
    config: TestConfig,
    discord: bool,
    secrets: BTreeMap<String, String>,
    env: Vec<(String, String)>,
    seed: Option<Seed<'a>>,
    wrap: Option<Wrap<'a>>,
    containers: Option<WrapContainers<'a>>,
    watcher: bool,
    patience: Option<Duration>,
}

/// Lifeboat on `config`, with chat going to the tests' recorder unless `.discord()` is asked.
pub fn spawn_app<'a>(config: TestConfig) -> AppSpec<'a> {
    AppSpec {
        config,
        discord: false,
        secrets: BTreeMap::new(),
        env: Vec::new(),
        seed: None,
        wrap: None,
        containers: None,
        watcher: false,
        patience: None,
    }
}

impl<'a> AppSpec<'a> {
    /// Chat through serenity to a fake Discord started for the app (`[discord]` and `[access]`
    /// point at it, with `support::discord`'s guild, channel and roles).
    pub fn discord(mut self) -> Self {
        self.discord = true;
        self
    }

    /// A secret the app reads (in process: its secret source; the binary: its environment).
    pub fn secret(mut self, name: &str, value: &str) -> Self {
        self.secrets.insert(name.to_owned(), value.to_owned());
        self
    }

    /// An environment variable for the binary (e.g. `RUST_LOG`).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Writes into the log before the app (or the binary) opens it.
    pub fn seed(mut self, seed: impl FnOnce(&SledStore) + 'a) -> Self {
        self.seed = Some(Box::new(seed));
        self
    }

    /// The engine and the bot write through `wrap(log)`; the test still reads the log itself.
    pub fn store_through(
        mut self,
        wrap: impl FnOnce(Arc<dyn EventStore>) -> Arc<dyn EventStore> + 'a,
    ) -> Self {
        self.wrap = Some(Box::new(wrap));
        self
    }

    /// The steps act on ECS through `wrap(containers)` (moto's or the simulation's), in
    /// process only. The wrapper is made once and kept across [`App::restart`], as the cloud
    /// would be; the test still reads moto or the simulation itself.
    pub fn containers_through(
        mut self,
        wrap: impl FnOnce(Arc<dyn Containers>) -> Arc<dyn Containers> + 'a,
    ) -> Self {
        self.containers = Some(Box::new(wrap));
        self
    }

    /// Runs the feed watcher loop, as `lifeboat run` does, until [`App::stop`].
    pub fn watcher(mut self) -> Self {
        self.watcher = true;
        self
    }

    /// How long every wait of the app lasts before the test fails.
    pub fn patience(mut self, patience: Duration) -> Self {
        self.patience = Some(patience);
        self
    }

    /// Starts the app in this process.
    pub async fn start(self) -> App {
        let patience = self.patience.unwrap_or(PATIENCE);
        let discord = self.discord.then(|| {
            let logs = Logs::default();
            let guard = logs.install();
            let fake = FakeDiscord::start();
            fake.set_patience(patience);
            (logs, guard, fake)
        });
        let dir = tempfile::tempdir().unwrap();
        let mut config = self.config;
        if let Some((_, _, fake)) = &discord {
            config = config.discord(&fake.api_base()).access();
        }
        // The log (and the drill logs beside it) under the app's temp dir, whatever the
        // config says.
        config = config.data_dir(&dir.path().join("data"));
        let path = config.write(dir.path());
        let config = Arc::new(
            Config::load(&path)
                .unwrap_or_else(|errors| panic!("test config rejected: {errors:#?}"))
                .config,
        );
        let loaded = load_dir(&config.paths.runbooks, &config);
        assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
        let store = Arc::new(SledStore::open(&config.store.data_dir).unwrap());
        if let Some(seed) = self.seed {
            seed(&store);
        }
        let log: Arc<dyn EventStore> = store.clone();
        let written = match self.wrap {
            Some(wrap) => wrap(log),
            None => log,
        };
        let aws = match config.aws.mode {
            AwsMode::Simulated => {
                World::Simulated(Arc::new(SimulatedAws::from_config(&config.aws)))
            }
            // Tests point live mode at moto only, which takes any fixed credentials.
            AwsMode::Live => World::Live(
                AwsEdges::connect_with_credentials(&config.aws, moto_credentials()).await,
            ),
        };
        let containers = self.containers.map(|wrap| {
            wrap(match &aws {
                World::Simulated(simulation) => AwsEdges::simulated(simulation.clone()).containers,
                World::Live(edges) => edges.containers.clone(),
            })
        });
        let front = match discord {
            Some((logs, guard, fake)) => Front::Discord(Box::new(DiscordFront {
                fake,
                logs,
                session: None,
                _capture: guard,
            })),
            None => Front::Recorder(Arc::new(RecordingChat::new())),
        };
        let parts = Parts {
            config: config.clone(),
            aws,
            containers,
            secrets: Arc::new(self.secrets),
            // The process's one clock, as in `lifeboat run` (tokio's: paused time moves it).
            clock: Arc::new(TokioClock::new()),
        };
        let env = parts.env(&front).await;
        let engine = Engine::new(env, written.clone());
        let bot = parts.bot(loaded.runbooks.clone(), &engine, &written, &front);
        let mut app = App {
            config,
            runbooks: loaded.runbooks,
            store,
            engine,
            bot,
            written,
            front,
            parts,
            loops: Vec::new(),
            patience,
            dir,
        };
        if self.watcher {
            app.start_watcher();
        }
        app.connect().await;
        app
    }

    /// Starts `lifeboat run` in a temp dir holding the config (with `[server]` on a free
    /// port); on the console unless `.discord()` is asked.
    pub fn binary(self) -> Binary {
        assert!(
            self.containers.is_none(),
            "containers_through wraps the edge in process; the binary builds its own"
        );
        let patience = self.patience.unwrap_or(BINARY_PATIENCE);
        let fake = self.discord.then(|| {
            let fake = FakeDiscord::start();
            fake.set_patience(patience);
            Arc::new(fake)
        });
        let mut config = self.config.server_on_free_port();
        if let Some(fake) = &fake {
            config = config.discord(&fake.api_base()).access();
        }
        let mut env = self.env;
        env.extend(self.secrets);
        if fake.is_some() {
            env.push((TOKEN_ENV.to_owned(), TOKEN.to_owned()));
        }
        let project = config.project();
        if let Some(seed) = self.seed {
            // Written and closed before the binary opens (and locks) the log.
            let data = match config.get("store.data_dir").and_then(|d| d.as_str()) {
                Some(dir) => project.path().join(dir),
                None => project.data(),
            };
            let store = SledStore::open(&data).unwrap();
            seed(&store);
            store.flush().unwrap();
        }
        Binary::start(project, fake, env, patience)
    }
}

/// The outside world the app's steps act on: the simulation (kept across restarts, as the
/// cloud would be) or moto.
enum World {
    Simulated(Arc<SimulatedAws>),
    Live(AwsEdges),
}

/// What every (re)start of the engine and the bot is built from.
struct Parts {
    config: Arc<Config>,
    aws: World,
    /// The wrapped ECS edge, when the test asked for one (`containers_through`).
    containers: Option<Arc<dyn Containers>>,
    secrets: Arc<BTreeMap<String, String>>,
    clock: Arc<dyn Clock>,
}

impl Parts {
    /// A fresh `StepEnv` from the one builder `lifeboat run` uses, over the app's world.
    async fn env(&self, front: &Front) -> StepEnv {
        let (chat, channel): (Arc<dyn Chat>, ChannelId) = match front {
            Front::Recorder(recorder) => (recorder.clone(), incident_channel(&self.config)),
            Front::Discord(discord) => (Arc::new(discord.chat()), ChannelId(CHANNEL.to_string())),
        };
        let mut env = step_env(
            self.config.clone(),
            self.clock.clone(),
            chat,
            channel,
            self.secrets.clone(),
        )
        .await;
        match &self.aws {
            World::Simulated(simulation) => env.aws = AwsEdges::simulated(simulation.clone()),
            World::Live(edges) => {
                env.aws = edges.clone();
                // `[data]`'s S3 backups on moto too.
                env.data = data_edges(&self.config, &self.secrets).await;
            }
        }
        if let Some(containers) = &self.containers {
            env.aws.containers = containers.clone();
        }
        env
    }

    /// The bot as `lifeboat run` makes it: over the engine and the log, able to start drills.
    fn bot(
        &self,
        runbooks: Vec<Runbook>,
        engine: &Engine,
        log: &Arc<dyn EventStore>,
        front: &Front,
    ) -> Arc<Bot> {
        // The guild's members through the adapter, as `lifeboat run` wires them on Discord.
        let members = match front {
            Front::Recorder(_) => None,
            Front::Discord(discord) => Some(discord.members()),
        };
        Arc::new(
            Bot::new(self.config.clone(), runbooks, engine.clone(), log.clone())
                .with_drills(Arc::new(ChatDrills::new(self.clock.clone())))
                .with_members(members),
        )
    }
}

/// The databases and backups `[data]` names, their URLs from `secrets`, S3 on moto (with
/// its fixed credentials).
pub async fn data_edges(config: &Config, secrets: &BTreeMap<String, String>) -> DataEdges {
    let secrets = secrets.clone();
    DataEdges::connect(
        config,
        &move |var: &str| secrets.get(var).map(|s| Secret::new(s.clone())),
        Some(moto_credentials()),
    )
    .await
}

/// The credentials moto takes (any fixed ones do).
fn moto_credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "moto")
}

/// What a step acts through, from the one builder `lifeboat run` uses: `config`'s AWS (the
/// simulation unless it says live), `secrets`, and a chat recorder in the incident channel.
/// For tests of single steps, below the engine.
pub async fn steps_env(config: &TestConfig, secrets: &[(&str, &str)]) -> StepEnv {
    let secrets: BTreeMap<String, String> = secrets
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let config = Arc::new(config.config());
    let channel = incident_channel(&config);
    step_env(
        config,
        Arc::new(TokioClock::new()),
        Arc::new(RecordingChat::new()),
        channel,
        Arc::new(secrets),
    )
    .await
}

/// Where `lifeboat run` speaks when no Discord channel is configured.
fn incident_channel(config: &Config) -> ChannelId {
    ChannelId(
        config
            .discord
            .as_ref()
            .and_then(|d| d.incident_channel_id.clone())
            .unwrap_or_else(|| "incident".to_owned()),
    )
}

enum Front {
    Recorder(Arc<RecordingChat>),
    Discord(Box<DiscordFront>),
}

/// The fake Discord, the serenity client connected to it, and the logs they wrote.
struct DiscordFront {
    fake: FakeDiscord,
    logs: Logs,
    session: Option<(Arc<ShardManager>, JoinHandle<()>)>,
    _capture: logs::Installed,
}

impl DiscordFront {
    /// The Discord adapter on the fake, as `lifeboat run` builds it.
    fn chat(&self) -> DiscordChat {
        DiscordChat::new(Arc::new(discord::build_http(
            &Secret::new(TOKEN),
            Some(&self.fake.api_base()),
        )))
    }

    /// The `Members` port on the fake, as `lifeboat run` builds it.
    fn members(&self) -> Arc<dyn lifeboat::ports::members::Members> {
        let http = discord::build_http(&Secret::new(TOKEN), Some(&self.fake.api_base()));
        Arc::new(discord::DiscordMembers::new(Arc::new(http), GUILD))
    }

    async fn disconnect(&mut self) {
        if let Some((shards, gateway)) = self.session.take() {
            shards.shutdown_all().await;
            gateway.abort();
        }
    }
}

/// A running app in this process. Its parts are public for tests that reach below chat.
pub struct App {
    pub config: Arc<Config>,
    pub runbooks: Vec<Runbook>,
    /// The event log on disk.
    pub store: Arc<SledStore>,
    pub engine: Engine,
    pub bot: Arc<Bot>,
    /// What the engine and the bot write through (the log, unless `store_through` wrapped it).
    pub written: Arc<dyn EventStore>,
    front: Front,
    parts: Parts,
    loops: Vec<(watch::Sender<bool>, JoinHandle<()>)>,
    patience: Duration,
    pub dir: tempfile::TempDir,
}

impl App {
    /// The chat recorder (an app without Discord).
    pub fn chat(&self) -> &Arc<RecordingChat> {
        match &self.front {
            Front::Recorder(recorder) => recorder,
            Front::Discord(_) => panic!("this app speaks to the fake Discord, not the recorder"),
        }
    }

    /// The fake Discord (an app started with `.discord()`).
    pub fn fake(&self) -> &FakeDiscord {
        &self.discord().fake
    }

    /// Everything traced so far (an app started with `.discord()`).
    pub fn logs(&self) -> String {
        self.discord().logs.text()
    }

    /// Another Discord adapter on the fake, as a second process would have.
    pub fn discord_chat(&self) -> DiscordChat {
        self.discord().chat()
    }

    /// The simulated AWS the steps act on (an app whose `[aws]` is simulated).
    pub fn sim(&self) -> &Arc<SimulatedAws> {
        match &self.parts.aws {
            World::Simulated(simulation) => simulation,
            World::Live(_) => panic!("this app acts on moto, not the simulation"),
        }
    }

    fn discord(&self) -> &DiscordFront {
        match &self.front {
            Front::Discord(discord) => discord,
            Front::Recorder(_) => panic!("this app was started without .discord()"),
        }
    }

    /// Connects a serenity client with the bot's handler to the fake, as `lifeboat run`'s
    /// Discord side does, and waits for its gateway session.
    async fn connect(&mut self) {
        let Front::Discord(front) = &mut self.front else {
            return;
        };
        let names = self.runbooks.iter().map(|r| r.name.clone()).collect();
        // The incident channel is the config's (`.discord()` sets it to CHANNEL): the bot's rule.
        let handler = Handler::new(self.bot.clone(), GUILD, names);
        let sessions = front.fake.identifies();
        let mut client =
            discord::client(&Secret::new(TOKEN), Some(&front.fake.api_base()), handler)
                .await
                .expect("the client builds");
        let shards = client.shard_manager.clone();
        let gateway = tokio::spawn(async move {
            if let Err(err) = client.start().await {
                tracing::error!(error = %err, "client stopped");
            }
        });
        front.session = Some((shards, gateway));
        front.fake.wait_sessions(sessions + 1, self.patience).await;
    }

    fn start_watcher(&mut self) {
        let (chat, channel): (Arc<dyn Chat>, ChannelId) = match &self.front {
            Front::Recorder(recorder) => (recorder.clone(), incident_channel(&self.config)),
            Front::Discord(discord) => (Arc::new(discord.chat()), ChannelId(CHANNEL.to_string())),
        };
        let watcher = Watcher::new(
            &self.config,
            self.store.clone(),
            chat,
            channel,
            self.parts.clock.clone(),
        );
        let (stop, stopped) = watch::channel(false);
        self.loops.push((stop, tokio::spawn(watcher.run(stopped))));
    }

    /// Stops the app and starts it again over the same log (a new engine, bot and, with
    /// Discord, serenity client), as after a restart.
    pub async fn restart(&mut self) {
        if let Front::Discord(front) = &mut self.front {
            front.disconnect().await;
        }
        let env = self.parts.env(&self.front).await;
        self.engine = Engine::new(env, self.written.clone());
        self.bot = self.parts.bot(
            self.runbooks.clone(),
            &self.engine,
            &self.written,
            &self.front,
        );
        self.connect().await;
    }

    /// Another bot over the same engine and log (what a restarted bot reads back).
    pub fn new_bot(&self, runbooks: Vec<Runbook>) -> Bot {
        Bot::new(
            self.config.clone(),
            runbooks,
            self.engine.clone(),
            self.written.clone(),
        )
    }

    /// A runbook written for one test and loaded against the app's config (not offered by
    /// the bot, which has the config's runbooks).
    pub fn runbook(&self, text: &str) -> Runbook {
        let path = self.dir.path().join(format!("rb-{}.toml", text.len()));
        std::fs::write(&path, text).unwrap();
        load_file(&path, &self.config).unwrap_or_else(|e| panic!("{e:#?}"))
    }

    /// The app's log, every event.
    pub fn log(&self) -> Vec<Event> {
        self.store.all().unwrap()
    }

    /// The events of one run, oldest first.
    pub fn run_events(&self, run: &lifeboat::domain::RunId) -> Vec<Event> {
        self.store.by_run(run).unwrap()
    }

    /// The events of `kind`, oldest first.
    pub fn events(&self, kind: &str) -> Vec<Event> {
        self.log().into_iter().filter(|e| e.kind == kind).collect()
    }

    /// Waits for the first event of `kind`.
    pub async fn wait_event(&self, kind: &str) -> Event {
        self.wait_events(kind, 1).await.remove(0)
    }

    /// Waits until the log holds `n` events of `kind`; returns them.
    pub async fn wait_events(&self, kind: &str, n: usize) -> Vec<Event> {
        self.wait_for_event(&format!("{n} {kind} event(s)"), |events| {
            let found: Vec<Event> = events.iter().filter(|e| e.kind == kind).cloned().collect();
            (found.len() >= n).then_some(found)
        })
        .await
    }

    /// Waits until `pick` finds something in the log.
    pub async fn wait_for_event<T>(&self, what: &str, pick: impl Fn(&[Event]) -> Option<T>) -> T {
        let found = tokio::time::timeout(self.patience, async {
            loop {
                if let Some(found) = pick(&self.log()) {
                    return found;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            let kinds: Vec<String> = self.log().into_iter().map(|e| e.kind).collect();
            panic!("no {what} in the log within {:?}: {kinds:?}", self.patience)
        })
    }

    /// A console line (`/runbook run x --as alice --roles responder`) handled by the bot.
    pub async fn say(&self, line: &str) -> Reply {
        let Line::Command { command, who } = parse_line(line).unwrap() else {
            panic!("not a command: {line}")
        };
        self.bot.handle(command, &who.expect("--as NAME")).await
    }

    // -- Discord -----------------------------------------------------------------------------

    /// Pushes an interaction and waits for its acknowledgement: (token, callback).
    pub async fn interact(&self, payload: Value) -> (String, Call) {
        self.fake().interact(payload).await
    }

    /// `/command sub options` typed by `who` in the incident channel.
    pub async fn slash(
        &self,
        who: &Member,
        command: &str,
        sub: &str,
        options: Value,
    ) -> (String, Call) {
        self.interact(slash(GUILD, CHANNEL, who, command, sub, options))
            .await
    }

    /// `who` presses the button `custom_id` on `message` in the incident channel.
    pub async fn press(&self, who: &Member, custom_id: &str, message: Value) -> (String, Call) {
        self.interact(button(GUILD, CHANNEL, who, custom_id, message))
            .await
    }

    /// The follow-up the bot sent after `since` for an interaction token.
    pub async fn followup(&self, since: usize, token: &str) -> Call {
        self.fake().followup(since, token).await
    }

    // -- runs --------------------------------------------------------------------------------

    /// `who` requests `runbook`; returns the request message with its [Approve] [Deny].
    pub async fn request_run(&self, runbook: &str, who: &Member) -> Request {
        match &self.front {
            Front::Discord(front) => {
                Request::Message(request_on_discord(&front.fake, runbook, who).await)
            }
            Front::Recorder(_) => {
                let reply = self
                    .bot
                    .handle(
                        Command::RunbookRun {
                            name: runbook.into(),
                            params: BTreeMap::new(),
                        },
                        &who.person(),
                    )
                    .await;
                Request::Reply(reply)
            }
        }
    }

    /// `who` approves a request (on Discord, by its button); returns the run it started,
    /// once the log has its `run.approved`.
    pub async fn approve_run(&self, request: Request, who: &Member) -> String {
        let id = request.id();
        match (&self.front, request) {
            (Front::Discord(front), Request::Message(message)) => {
                approve_on_discord(&front.fake, message, who).await;
            }
            (Front::Recorder(_), Request::Reply(_)) => {
                let started = self
                    .bot
                    .handle(
                        Command::Approve {
                            request: id.clone(),
                        },
                        &who.person(),
                    )
                    .await;
                assert!(
                    started
                        .message
                        .content
                        .contains(&format!("{} approved", who.name)),
                    "{started:?}"
                );
            }
            _ => unreachable!("a request is answered where it was made"),
        }
        run_of_approval(&|| self.log(), &id, self.patience).await
    }

    /// `requester` asks for `runbook` and `approver` approves it; returns the run.
    pub async fn request_and_approve(
        &self,
        runbook: &str,
        requester: &Member,
        approver: &Member,
    ) -> String {
        let request = self.request_run(runbook, requester).await;
        self.approve_run(request, approver).await
    }

    /// Stops the loops and the Discord client. With Discord, checks that the token never
    /// reached the logs and (on a current-thread runtime, where the client logs on the test's
    /// thread) that the client's logs were caught at all.
    pub async fn stop(mut self) {
        for (stop, task) in std::mem::take(&mut self.loops) {
            let _ = stop.send(true);
            tokio::time::timeout(self.patience, task)
                .await
                .expect("the loop stops when asked")
                .unwrap();
        }
        if let Front::Discord(front) = &mut self.front {
            front.disconnect().await;
            let logs = front.logs.text();
            assert!(!logs.contains(TOKEN), "the bot token appeared in the logs");
            if tokio::runtime::Handle::current().runtime_flavor()
                == tokio::runtime::RuntimeFlavor::CurrentThread
            {
                assert!(
                    logs.contains("connected to Discord"),
                    "tracing did not capture the client's logs"
                );
            }
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        for (_, task) in &self.loops {
            task.abort();
        }
        if let Front::Discord(front) = &mut self.front {
            if let Some((_, gateway)) = &front.session {
                gateway.abort();
            }
            if std::thread::panicking() {
                eprintln!("--- last log lines ---\n{}", front.logs.tail(150));
            }
        }
    }
}

/// A run request as the requester saw it: the request message on Discord, the bot's reply
/// elsewhere.
pub enum Request {
    Message(Value),
    Reply(Reply),
}

impl Request {
    /// The request's id (`REQ-...`), from its [Approve] button.
    pub fn id(&self) -> String {
        let approve = match self {
            Request::Message(message) => message["components"][0]["components"][0]["custom_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            Request::Reply(reply) => reply
                .message
                .buttons
                .first()
                .map(|b| b.custom_id.clone())
                .unwrap_or_default(),
        };
        approve
            .strip_prefix("approve:")
            .unwrap_or_else(|| panic!("no [Approve] on the request: {approve:?}"))
            .to_owned()
    }

    /// The request message on Discord.
    pub fn message(&self) -> &Value {
        match self {
            Request::Message(message) => message,
            Request::Reply(_) => panic!("not a Discord request"),
        }
    }

    pub fn into_message(self) -> Value {
        match self {
            Request::Message(message) => message,
            Request::Reply(_) => panic!("not a Discord request"),
        }
    }
}

/// `/runbook run name:runbook` by `who`; the request message once the deferred answer is in.
pub async fn request_on_discord(fake: &FakeDiscord, runbook: &str, who: &Member) -> Value {
    let mark = fake.mark();
    let (token, _) = fake
        .interact(slash(
            GUILD,
            CHANNEL,
            who,
            "runbook",
            "run",
            json!([text("name", runbook)]),
        ))
        .await;
    fake.edited_original(mark, &token, "the request message")
        .await;
    fake.original(&token).expect("the request message")
}

/// `who` presses [Approve] on a request message; the follow-up says they approved.
pub async fn approve_on_discord(fake: &FakeDiscord, request: Value, who: &Member) -> Call {
    let approve = request["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mark = fake.mark();
    let (token, _) = fake
        .interact(button(GUILD, CHANNEL, who, &approve, request))
        .await;
    let started = fake.followup(mark, &token).await;
    assert!(
        content(&started.body).contains(&format!("{} approved", who.name)),
        "{}",
        started.body
    );
    started
}

/// The run that the approval of request `id` started, once `run.approved` is in the log.
pub async fn run_of_approval(
    log: &impl Fn() -> Vec<Event>,
    id: &str,
    patience: Duration,
) -> String {
    let approved = tokio::time::timeout(patience, async {
        loop {
            if let Some(e) = log()
                .into_iter()
                .find(|e| e.kind == "run.approved" && e.data["request"] == id)
            {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("run.approved in the log");
    approved.data["run"].as_str().unwrap().to_owned()
}
