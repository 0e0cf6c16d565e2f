//! The one way a process builds what steps act through (`StepEnv`): AWS as `[aws]` says, the
//! databases and backups as `[data]` says (or their simulation), one
//! HTTP client shared with the LLM adapter, and the process's one clock. `lifeboat run`,
//! `plan`, `readiness` and drills all build theirs here; they differ only in where steps speak
//! and where secrets come from.

use std::sync::Arc;

use crate::config::{Config, ProcessEnv, SecretSource};
use crate::heroku::HerokuApi;
use crate::llm::HttpLlm;
use crate::ports::aws::AwsEdges;
use crate::ports::chat::{ChannelId, Chat};
use crate::ports::clock::Clock;
use crate::steps::StepEnv;

/// Builds a process's `StepEnv`: steps speak through `chat` in `channel`, read secrets from
/// `secrets`, and tell time by `clock` (the process's one clock, shared with the loops).
pub async fn step_env(
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
    chat: Arc<dyn Chat>,
    channel: ChannelId,
    secrets: Arc<dyn SecretSource>,
) -> StepEnv {
    let http = crate::ports::http::client();
    // Database URLs come from the same place as every other secret.
    let url_of = |var: &str| secrets.get(var);
    let data = crate::db::DataEdges::connect(&config, &url_of, None).await;
    StepEnv {
        aws: AwsEdges::connect(&config.aws).await,
        llm: Arc::new(HttpLlm::new(http.clone())),
        heroku: Arc::new(HerokuApi::new(http.clone())),
        http,
        chat,
        channel,
        answers: Arc::default(),
        secrets,
        comms: Default::default(),
        data,
        clock,
        config,
    }
}

/// The environment of a command that only reads (`plan`, `readiness`): anything a step would
/// say goes nowhere, secrets come from the process environment.
pub async fn reading_step_env(
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
    channel: &str,
) -> StepEnv {
    step_env(
        config,
        clock,
        Arc::new(crate::chat::recorder::RecordingChat::new()),
        ChannelId(channel.to_owned()),
        Arc::new(ProcessEnv),
    )
    .await
}
