//! Optional LLM polish of a rendered draft, with the DRP's provider fallback: OpenAI first,
//! Anthropic when OpenAI errs, times out or answers 5xx. A circuit breaker skips a provider
//! that just failed for a configured while. The facts are kept verbatim: an answer that lost
//! one of them is rejected and the template's text is kept.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::{CommsConfig, Config, LlmProviderConfig, SecretSource};
use crate::ports::llm::{Llm, LlmRequest};

/// The order the DRP prescribes.
pub const PROVIDERS: [&str; 2] = ["openai", "anthropic"];

/// Room for a notice of a few paragraphs.
const POLISH_MAX_TOKENS: u32 = 1024;

/// Which providers are skipped, and until when. Time is tokio's, so tests can advance it.
#[derive(Debug, Default)]
pub struct Breaker {
    open_until: Mutex<BTreeMap<String, Instant>>,
}

impl Breaker {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Instant>> {
        self.open_until.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How much longer `provider` is skipped, if it is.
    pub fn open_for(&self, provider: &str, now: Instant) -> Option<Duration> {
        self.lock()
            .get(provider)
            .filter(|until| **until > now)
            .map(|until| *until - now)
    }

    /// Skips `provider` for `cooldown` from `now`.
    pub fn trip(&self, provider: &str, now: Instant, cooldown: Duration) {
        self.lock().insert(provider.to_owned(), now + cooldown);
    }

    /// A provider that answered is healthy again.
    pub fn close(&self, provider: &str) {
        self.lock().remove(provider);
    }
}

/// What happened with one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub provider: String,
    /// `skipped` (breaker open or no key), `failed`, `rejected` (a fact was lost) or `wrote`.
    pub outcome: String,
    pub detail: String,
}

/// The draft's final text and how it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Polished {
    pub text: String,
    /// `openai`, `anthropic`, or `template` when no model's text was kept.
    pub writer: String,
    pub attempts: Vec<Attempt>,
    /// Why the template's text was kept, when polish was asked for and did not happen.
    pub note: Option<String>,
}

impl Polished {
    /// The template's own text, unpolished.
    pub fn template(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            writer: "template".to_owned(),
            attempts: Vec::new(),
            note: None,
        }
    }

    /// Whether a provider other than the first one tried wrote the draft.
    pub fn fell_back(&self) -> bool {
        self.writer != "template"
            && self
                .attempts
                .first()
                .is_some_and(|a| a.provider != self.writer)
    }
}

/// The facts of `required` missing from `text`.
pub fn missing_facts<'a>(text: &str, required: &'a [String]) -> Vec<&'a str> {
    required
        .iter()
        .map(String::as_str)
        .filter(|fact| !text.contains(fact))
        .collect()
}

/// The instruction sent with the draft.
pub fn prompt(draft: &str, audience: &str, facts: &[String]) -> String {
    format!(
        "You edit incident notices for {audience}. Rewrite the notice below so it reads clearly and \
         calmly, emphasising continuity of service and quality. Keep the first line if it starts \
         with \"Subject:\". Copy each of these facts exactly, character for character: {}. \
         Do not add facts, times, promises or names. Answer with the notice only.\n\n{draft}",
        facts
            .iter()
            .map(|f| format!("\"{f}\""))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Tries the providers in order and returns the first answer that kept every fact in
/// `facts` that the template's `text` states.
pub async fn polish(
    llm: &dyn Llm,
    config: &Config,
    secrets: &dyn SecretSource,
    breaker: &Breaker,
    text: &str,
    audience: &str,
    facts: &[String],
) -> Polished {
    let required: Vec<String> = facts
        .iter()
        .filter(|f| text.contains(f.as_str()))
        .cloned()
        .collect();
    let polisher = Polisher {
        llm,
        secrets,
        breaker,
        comms: &config.comms,
        prompt: prompt(text, audience, &required),
        required,
    };
    let mut attempts = Vec::new();
    let mut rejected = None;
    for name in PROVIDERS {
        let Some(provider) = config.llm.provider(name) else {
            continue;
        };
        match polisher.turn(name, provider, &mut attempts).await {
            Turn::Wrote(polished) => {
                return Polished {
                    text: polished,
                    writer: name.to_owned(),
                    attempts,
                    note: None,
                };
            }
            Turn::Rejected(why) => {
                // A model that rewrites facts is not down: keep the template's words.
                rejected = Some(why);
                break;
            }
            Turn::Next => {}
        }
    }
    template_kept(text, attempts, rejected)
}

/// What one provider's turn gave.
enum Turn {
    /// Its text, which kept every fact.
    Wrote(String),
    /// Why its text was refused: it lost a fact.
    Rejected(String),
    /// Skipped or failed: the next provider's turn.
    Next,
}

/// One polish request, tried provider by provider.
struct Polisher<'a> {
    llm: &'a dyn Llm,
    secrets: &'a dyn SecretSource,
    breaker: &'a Breaker,
    comms: &'a CommsConfig,
    prompt: String,
    /// The facts the template's text states, which the answer must keep verbatim.
    required: Vec<String>,
}

impl Polisher<'_> {
    /// Asks provider `name` unless its breaker is open or its key unset, and records the
    /// attempt: a retryable failure trips the breaker, an answer closes it.
    async fn turn(
        &self,
        name: &str,
        provider: &LlmProviderConfig,
        attempts: &mut Vec<Attempt>,
    ) -> Turn {
        let mut attempt = |outcome: &str, detail: String| {
            attempts.push(Attempt {
                provider: name.to_owned(),
                outcome: outcome.to_owned(),
                detail,
            });
        };
        if let Some(left) = self.breaker.open_for(name, Instant::now()) {
            attempt(
                "skipped",
                format!(
                    "circuit open for {} more after a failure",
                    crate::duration::format_elapsed(left)
                ),
            );
            return Turn::Next;
        }
        let Some(key) = self.secrets.get(&provider.key_env) else {
            attempt("skipped", format!("{} is not set", provider.key_env));
            return Turn::Next;
        };
        let timeout = self.comms.polish_timeout.get().min(provider.timeout.get());
        let answer = self
            .llm
            .complete(LlmRequest {
                provider: name,
                config: provider,
                key: &key,
                prompt: &self.prompt,
                max_tokens: POLISH_MAX_TOKENS,
                timeout,
            })
            .await;
        match answer {
            Ok(done) => {
                self.breaker.close(name);
                let missing = missing_facts(&done.text, &self.required);
                if missing.is_empty() {
                    attempt(
                        "wrote",
                        done.model.unwrap_or_else(|| provider.model.clone()),
                    );
                    info!(provider = name, "draft polished");
                    return Turn::Wrote(done.text);
                }
                let why = format!(
                    "{name}'s text dropped or changed {}",
                    missing
                        .iter()
                        .map(|m| format!("\"{m}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                warn!(provider = name, %why, "polished draft rejected");
                attempt("rejected", why.clone());
                Turn::Rejected(why)
            }
            Err(err) => {
                if err.is_retryable() {
                    self.breaker
                        .trip(name, Instant::now(), self.comms.breaker_cooldown.get());
                }
                warn!(provider = name, error = %err, "polish failed");
                attempt("failed", err.to_string());
                Turn::Next
            }
        }
    }
}

/// The template's text, with a note saying why no model's text was kept.
fn template_kept(text: &str, attempts: Vec<Attempt>, rejected: Option<String>) -> Polished {
    let note = match rejected {
        Some(why) => format!("template text kept: {why}"),
        None if attempts.is_empty() => "template text kept: no LLM provider is configured".into(),
        None => format!(
            "template text kept: no LLM provider could polish it ({})",
            attempts
                .iter()
                .map(|a| format!("{}: {}", a.provider, a.detail))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    Polished {
        text: text.to_owned(),
        writer: "template".to_owned(),
        attempts,
        note: Some(note),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_must_survive_verbatim() {
        let facts = vec!["2026-11-25 10:00 UTC".to_owned(), "25m 00s".to_owned()];
        assert!(missing_facts("since 2026-11-25 10:00 UTC, 25m 00s lost", &facts).is_empty());
        assert_eq!(
            missing_facts("since 10:00 on 25 Nov, 25m 00s lost", &facts),
            ["2026-11-25 10:00 UTC"]
        );
        let p = prompt("Subject: x\n\nbody", "clients", &facts);
        assert!(p.contains("\"25m 00s\"") && p.ends_with("body"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_breaker_opens_for_the_cooldown_only() {
        let b = Breaker::default();
        let now = Instant::now();
        assert_eq!(b.open_for("openai", now), None);
        b.trip("openai", now, Duration::from_secs(60));
        assert_eq!(
            b.open_for("openai", now + Duration::from_secs(10)),
            Some(Duration::from_secs(50))
        );
        assert_eq!(b.open_for("anthropic", now), None);
        assert_eq!(b.open_for("openai", now + Duration::from_secs(60)), None);
        b.trip("openai", now, Duration::from_secs(60));
        b.close("openai");
        assert_eq!(b.open_for("openai", now), None);
    }

    #[test]
    fn a_fallback_is_named() {
        let mut p = Polished::template("t");
        assert!(!p.fell_back());
        p.writer = "anthropic".into();
        p.attempts.push(Attempt {
            provider: "openai".into(),
            outcome: "failed".into(),
            detail: "500".into(),
        });
        assert!(p.fell_back());
    }
}
