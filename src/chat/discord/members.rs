//! The `Members` port over Discord's REST guild-members route (`GET /guilds/{g}/members`,
//! paged by 1000 after the last user id). Needs the bot's "server members" intent in the
//! Discord developer portal; without it Discord refuses and the training record falls back
//! to the roster.

use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::{GuildId, Http};

use crate::ports::chat::ChatError;
use crate::ports::members::{Member, Members};

/// Discord's largest page of members.
const PAGE: u64 = 1000;

pub struct DiscordMembers {
    http: Arc<Http>,
    guild: u64,
}

impl DiscordMembers {
    pub fn new(http: Arc<Http>, guild: u64) -> Self {
        Self { http, guild }
    }
}

#[async_trait]
impl Members for DiscordMembers {
    async fn members(&self) -> Result<Vec<Member>, ChatError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .http
                .get_guild_members(GuildId::new(self.guild), Some(PAGE), after)
                .await
                .map_err(|err| ChatError::Unavailable(format!("guild members: {err}")))?;
            let full = page.len() as u64 == PAGE;
            after = page.last().map(|m| m.user.id.get());
            out.extend(page.iter().map(|m| {
                let person = super::components::person(&m.user, Some(m));
                Member {
                    id: person.id,
                    name: person.name,
                    role_ids: person.roles,
                }
            }));
            if !full || after.is_none() {
                return Ok(out);
            }
        }
    }
}
