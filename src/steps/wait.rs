//! `wait`: pause the run for a fixed time (let caches expire, let traffic drain).

use serde_json::json;

use super::{StepError, StepOutput};
use crate::runbook::WaitStep;

pub async fn run(args: &WaitStep) -> Result<StepOutput, StepError> {
    tokio::time::sleep(args.duration.get()).await;
    Ok(StepOutput::new(
        format!("waited {}", args.duration),
        json!({ "waited_ms": args.duration.get().as_millis() as u64 }),
    ))
}
