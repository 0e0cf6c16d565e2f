//! `[llm]`: the LLM providers (OpenAI, Anthropic) the app can be switched between.

use serde::Deserialize;

use super::Secret;
use crate::duration::HumanDuration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    pub openai: Option<LlmProviderConfig>,
    pub anthropic: Option<LlmProviderConfig>,
}

impl LlmConfig {
    pub fn provider(&self, name: &str) -> Option<&LlmProviderConfig> {
        match name {
            "openai" => self.openai.as_ref(),
            "anthropic" => self.anthropic.as_ref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmProviderConfig {
    pub base_url: String,
    /// Name of the environment variable that holds the API key.
    pub key_env: String,
    pub model: String,
    #[serde(default = "default_llm_timeout")]
    pub timeout: HumanDuration,
}

fn default_llm_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}

impl LlmProviderConfig {
    pub fn key(&self) -> Option<Secret> {
        Secret::from_env(&self.key_env)
    }
}
