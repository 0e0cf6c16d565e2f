//! The Discord adapter (serenity 0.12): delivers `Message`s over REST, defines and registers
//! the slash commands, and translates interactions into typed `Command`s for the bot core.
//! It only translates: every decision is the bot core's.
//!
//! One idea per file: `connect` (clients), `registry` (the slash commands), `slash` and
//! `components` (payload → `Command`), `message` (Discord's shape of a `Message`), `retry`
//! (delivery with retries), `deliver` (the `Chat` port), `handler` (interactions),
//! `gateway` (health), `members` (the guild's members, for the training record), `ratelimit` (the loopback gate honouring `retry_after`).

mod components;
mod connect;
mod deliver;
mod gateway;
mod handler;
mod members;
mod message;
pub mod ratelimit;
mod registry;
mod retry;
mod slash;

pub use components::{
    command_from_action, command_from_custom_id, command_from_modal, edit_modal, person,
};
pub use connect::{build_http, client, snowflake};
pub use deliver::DiscordChat;
pub use gateway::DiscordGateway;
pub use handler::{Handler, suggest};
pub use members::DiscordMembers;
pub use message::{disabled_rows, rows, settled_content, truncate};
pub use registry::{commands, register};
pub use slash::command_from;
#[cfg(test)]
pub use slash::command_from_payload;
