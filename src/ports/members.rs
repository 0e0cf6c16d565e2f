//! The `Members` port: who is in the chat's guild and which role ids they hold, for the
//! training record (`crate::training`). The Discord adapter implements it over the REST
//! guild-members route; where no chat can list members, there is none.

use async_trait::async_trait;

use crate::ports::chat::ChatError;
pub use crate::training::Member;

#[async_trait]
pub trait Members: Send + Sync {
    /// Every member of the guild with their role ids.
    async fn members(&self) -> Result<Vec<Member>, ChatError>;
}
