//! `lifeboat training`, and the training record's wiring: the chat's guild members through
//! Discord's REST route when a bot token is set (the `Members` port), read once per use.
//! The decisions are `crate::training`'s.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use super::app::{ConfigUse, FAILURE, load_config};
use crate::chat::discord;
use crate::config::Config;
use crate::ports::members::Members;
use crate::training::MembersRead;

/// The guild's members through Discord's REST API, when `[discord]` has a guild id and its
/// token is set; `None` otherwise (the console, an offline machine).
pub fn discord_members(config: &Config) -> Option<Arc<dyn Members>> {
    let d = config.discord.as_ref()?;
    let token = d.token()?;
    let guild = discord::snowflake(d.guild_id.as_deref()?).ok()?;
    let http = Arc::new(discord::build_http(&token, d.api_base.as_deref()));
    Some(Arc::new(discord::DiscordMembers::new(http, guild)))
}

/// What `members` lists (a failure is logged and stands as `Failed`).
pub async fn read_members(members: Option<&Arc<dyn Members>>) -> MembersRead {
    let Some(members) = members else {
        return MembersRead::NotConnected;
    };
    match members.members().await {
        Ok(found) => MembersRead::Read(found),
        Err(err) => {
            tracing::warn!(error = %err, "the guild's members could not be read");
            MembersRead::Failed(err.to_string())
        }
    }
}

/// `lifeboat training`: every person holding a responder, approver or communicator role with
/// their last game day or "never", from the training records of the logs in `data_dir` (and
/// its `drill-*` logs, as `lifeboat readiness` reads them). Exit 0; 1 when the config cannot
/// be read.
pub async fn training(config_path: &Path, data_dir: Option<PathBuf>) -> ExitCode {
    let Some(config) = load_config(config_path, "training", ConfigUse::Required) else {
        return ExitCode::from(FAILURE);
    };
    let data_dir = data_dir.unwrap_or_else(|| config.store.data_dir.clone());
    let events = match tokio::task::spawn_blocking(move || {
        crate::store::drill_logs::drill_events(&data_dir, true)
    })
    .await
    {
        Ok(events) => events,
        Err(err) => {
            eprintln!("lifeboat training: reading the logs failed: {err}");
            return ExitCode::from(FAILURE);
        }
    };
    let members = read_members(discord_members(&config).as_ref()).await;
    print!(
        "{}",
        crate::training::listing(&config, &members, &events, chrono::Utc::now())
    );
    ExitCode::SUCCESS
}
