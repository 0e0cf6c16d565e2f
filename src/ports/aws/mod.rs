//! The AWS ports: `Dns` (Route 53) and `Containers` (ECS), named after what a runbook does,
//! their value types, the one error type `AwsError`, and `AwsEdges`, the pair a runbook acts
//! through. The SDK adapters and the simulation that implement them are `crate::aws`.

mod dns;
mod ecs;
mod task_definition;

use std::sync::Arc;
use std::time::Duration;

use crate::config::AwsMode;

pub use dns::{
    ChangeStatus, Dns, DnsChange, PreviousRecord, RECORD_TYPES, RecordChange, RecordState,
    bare_change_id, normalize_changes, normalize_name, wait_insync,
};
pub(crate) use dns::{bare_zone_id, normalize_type};
pub use ecs::{
    ClusterState, Containers, ServiceState, TaskDefinitionState, is_stable, service_resource,
    task_definition_name, wait_stable,
};
pub use task_definition::{ContainerSpec, EnvChange, TaskDefinitionSpec};

/// What went wrong talking to Route 53 or ECS. Every message names the resource involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    /// The zone, record, change, cluster or service does not exist (or no longer does).
    #[error("{resource} not found: {detail}")]
    NotFound { resource: String, detail: String },
    /// AWS asked us to slow down (rate limits, a previous change still being applied).
    #[error("throttled: {0}")]
    Throttled(String),
    /// AWS refused the request as it stands (validation): the same request will fail again.
    #[error("rejected: {0}")]
    Invalid(String),
    /// 5xx answers, timeouts, refused or dropped connections: another attempt may succeed.
    #[error("transient failure: {0}")]
    Transient(String),
    /// A wait gave up: the resource never reached the wanted state in time. Not retried, since
    /// the step's own timeout already bounded how long anyone wanted to wait.
    #[error("{0}")]
    TimedOut(String),
    /// Anything else: access denied, missing credentials, an answer we cannot interpret.
    #[error("{0}")]
    Other(String),
}

impl AwsError {
    /// Whether another attempt of the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, AwsError::Throttled(_) | AwsError::Transient(_))
    }

    pub(crate) fn not_found(resource: impl Into<String>, detail: impl Into<String>) -> Self {
        AwsError::NotFound {
            resource: resource.into(),
            detail: detail.into(),
        }
    }
}

/// What one poll of a wait loop found.
pub(crate) enum Poll<T, S> {
    /// The wait is over.
    Done(T),
    /// Not yet; this is what it looked like.
    Pending(S),
}

/// Polls `check` every `poll` until it reports `Done`, fails with a non-retryable error, or
/// `timeout` passes. Throttling and transient errors keep polling; at the deadline (always
/// checked once more there) `give_up` explains with the last state seen and the last error.
/// Sleeps through tokio time, so tests can pause it.
pub(crate) async fn poll_until<T, S, Fut>(
    what: &str,
    poll: Duration,
    timeout: Duration,
    mut check: impl FnMut() -> Fut,
    give_up: impl FnOnce(Option<S>, Option<AwsError>) -> AwsError,
) -> Result<T, AwsError>
where
    Fut: std::future::Future<Output = Result<Poll<T, S>, AwsError>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_state = None;
    loop {
        let last_error = match check().await {
            Ok(Poll::Done(done)) => return Ok(done),
            Ok(Poll::Pending(state)) => {
                last_state = Some(state);
                None
            }
            Err(err) if err.is_retryable() => {
                tracing::warn!(what, error = %err, "a poll failed; polling on");
                Some(err)
            }
            Err(err) => return Err(err),
        };
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(give_up(last_state, last_error));
        }
        tokio::time::sleep(poll.min(deadline - now)).await;
    }
}

/// The two edges a runbook acts through, real or simulated as `[aws] mode` says.
#[derive(Clone)]
pub struct AwsEdges {
    pub dns: Arc<dyn Dns>,
    pub containers: Arc<dyn Containers>,
    pub mode: AwsMode,
}

impl std::fmt::Debug for AwsEdges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsEdges")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}
