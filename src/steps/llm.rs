//! `llm_probe`: one test prompt through the `Llm` port, judged on the answer's content and
//! speed.

use serde_json::json;
use tracing::instrument;

use super::http::within_step;
use super::{StepEnv, StepError, StepInput, StepOutput};
use crate::ports::http::truncate_chars;
use crate::ports::llm::LlmRequest;
use crate::runbook::LlmProbe;

/// A probe only needs a word or two back; a small cap keeps it fast and cheap.
pub const PROBE_MAX_TOKENS: u32 = 64;
/// Characters of the answer kept in a probe's output.
const ANSWER_KEPT: usize = 500;

/// `llm_probe`: one test prompt, judged on the answer's content and speed.
#[instrument(skip_all, fields(run = %input.run, step = %input.step.id, provider = %args.provider))]
pub async fn probe(
    env: &StepEnv,
    input: &StepInput<'_>,
    args: &LlmProbe,
) -> Result<StepOutput, StepError> {
    let name = args.provider.as_str();
    let provider = env.config.llm.provider(name).ok_or_else(|| {
        StepError::invalid(format!(
            "LLM provider `{name}` is not configured in [llm] (use openai or anthropic)"
        ))
    })?;
    // Name the variable, never its value.
    let key = env.secrets.get(&provider.key_env).ok_or_else(|| {
        StepError::invalid(format!(
            "no API key for {name}: the environment variable {} is not set",
            provider.key_env
        ))
    })?;
    let prompt = input.expand(env, &args.prompt)?;
    let expect = args
        .expect_contains
        .as_deref()
        .map(|e| input.expand(env, e))
        .transpose()?;
    let timeout = provider
        .timeout
        .get()
        .min(within_step(input.step.timeout.get()));
    let mut output = json!({ "provider": name, "model": provider.model });

    let completion = env
        .llm
        .complete(LlmRequest {
            provider: name,
            config: provider,
            key: &key,
            prompt: &prompt,
            max_tokens: PROBE_MAX_TOKENS,
            timeout,
        })
        .await
        .map_err(|err| {
            if let Some(status) = err.status() {
                output["status"] = json!(status);
            }
            StepError {
                message: err.to_string(),
                retryable: err.is_retryable(),
                data: output.clone(),
                retry_after: None,
            }
        })?;
    let answer = truncate_chars(&completion.text, ANSWER_KEPT);
    let latency_ms = completion.latency.as_millis() as u64;
    output["latency_ms"] = json!(latency_ms);
    output["answer"] = json!(answer);

    // A probe that got the wrong answer or a slow one said no: not retried automatically.
    if let Some(expect) = expect.filter(|e| !contains_ignoring_case(&completion.text, e)) {
        return Err(StepError::invalid(format!(
            "{name} answered without {expect:?}: {:?}",
            truncate_chars(&completion.text, 120)
        ))
        .with_data(output));
    }
    if let Some(max) = args
        .max_latency
        .filter(|max| completion.latency > max.get())
    {
        return Err(StepError::invalid(format!(
            "{name} answered in {latency_ms} ms, slower than {max}"
        ))
        .with_data(output));
    }
    Ok(StepOutput::new(
        format!("{name} ({}) answered in {latency_ms} ms", provider.model),
        output,
    ))
}

fn contains_ignoring_case(text: &str, needle: &str) -> bool {
    text.to_lowercase().contains(&needle.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_text_is_matched_ignoring_case() {
        assert!(contains_ignoring_case("PONG!", "pong"));
        assert!(!contains_ignoring_case("ping", "pong"));
    }
}
