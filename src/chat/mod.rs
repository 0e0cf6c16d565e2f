//! Chat: the chat core (the bot, typed commands, pure message rendering) and the chat adapters
//! (Discord, the console, the tests' recorder, and the loopback gate that honours Discord's
//! `retry_after` when serenity's ratelimiter is off). The port they share (`Chat`, `Message`,
//! `Button`, `ChannelId`, the incident thread helpers) is [`crate::ports::chat`].

pub mod bot;
pub mod command;
pub mod console;
pub mod discord;
pub mod recorder;
pub mod render;
