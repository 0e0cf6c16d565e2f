//! The ports: every trait an edge implements, with its value types. Importable by every
//! layer; the adapters implement them, the core and the engine act through them.

pub mod aws;
pub mod chat;
pub mod clock;
pub mod data;
pub mod digest;
pub mod drill;
pub mod ha;
pub mod heroku;
pub mod http;
pub mod llm;
pub mod members;
pub mod store;
