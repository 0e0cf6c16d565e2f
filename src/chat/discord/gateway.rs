//! Gateway health for `/healthz`: up when every shard is connected.

use std::sync::Arc;

use async_trait::async_trait;

use crate::ports::chat::ChatHealth;

/// Discord: up when every gateway shard is connected. The shard manager exists only once the
/// client is built, after the server is already answering, hence `connect`.
#[derive(Default)]
pub struct DiscordGateway {
    shards: std::sync::OnceLock<Arc<serenity::gateway::ShardManager>>,
}

impl DiscordGateway {
    /// Starts reporting on this client's shards.
    pub fn connect(&self, shards: Arc<serenity::gateway::ShardManager>) {
        let _ = self.shards.set(shards);
    }
}

#[async_trait]
impl ChatHealth for DiscordGateway {
    async fn check(&self) -> Result<(), String> {
        let Some(shards) = self.shards.get() else {
            return Err("the Discord client is not started yet".into());
        };
        let runners = shards.runners.lock().await;
        if runners.is_empty() {
            return Err("the Discord gateway has no shard running".into());
        }
        let down: Vec<String> = runners
            .iter()
            .filter(|(_, info)| info.stage != serenity::gateway::ConnectionStage::Connected)
            .map(|(id, info)| format!("shard {id} is {}", info.stage))
            .collect();
        if down.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the Discord gateway is not connected: {}",
                down.join(", ")
            ))
        }
    }
}
