//! The container port: what Lifeboat does with ECS (read services' counts, scale a service,
//! wait until it is stable), its value types and the pure stability rule. The adapter over
//! `aws-sdk-ecs` is `crate::aws::EcsContainers`; the simulation `crate::aws::SimulatedAws`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::AwsError;
use super::task_definition::{EnvChange, TaskDefinitionSpec};
use crate::duration::HumanDuration;

/// A service's counts as ECS reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    pub name: String,
    pub desired: u32,
    pub running: u32,
    pub pending: u32,
    /// How many deployments are in flight; more than one means a rollout is under way.
    pub deployments: u32,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    /// The task definition the service runs (an ARN, or `family:revision`), when ECS says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
}

/// A cluster as ECS reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    pub name: String,
    /// `ACTIVE`, `PROVISIONING`, `DEPROVISIONING`, `FAILED` or `INACTIVE` (deleted).
    pub status: String,
}

/// A task definition as ECS reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDefinitionState {
    /// `family:revision`.
    pub name: String,
    /// `ACTIVE`, `INACTIVE` (deregistered) or `DELETE_IN_PROGRESS`.
    pub status: String,
}

/// ECS, as far as a failover needs it.
#[async_trait::async_trait]
pub trait Containers: Send + Sync {
    /// The services' states, in the order asked. A missing service is `NotFound`.
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceState>, AwsError>;

    /// One service's state: `NotFound` when ECS answers with none for it.
    async fn describe_service(&self, cluster: &str, name: &str) -> Result<ServiceState, AwsError> {
        self.describe_services(cluster, &[name.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| {
                AwsError::not_found(
                    service_resource(cluster, name),
                    "DescribeServices returned nothing",
                )
            })
    }

    /// Sets the desired count; returns the state from just before the change.
    async fn scale_service(
        &self,
        cluster: &str,
        name: &str,
        desired: u32,
    ) -> Result<ServiceState, AwsError>;

    /// Sets the desired count of a service whose state the caller has just read (`before`),
    /// without reading it again: one call instead of two. Adapters where the read costs
    /// nothing keep this default.
    async fn scale_known(
        &self,
        cluster: &str,
        before: &ServiceState,
        desired: u32,
    ) -> Result<(), AwsError> {
        self.scale_service(cluster, &before.name, desired)
            .await
            .map(drop)
    }

    /// The cluster's state. A missing cluster is `NotFound`.
    async fn describe_cluster(&self, cluster: &str) -> Result<ClusterState, AwsError>;

    /// A task definition (`family`, `family:revision` or ARN). A missing one is `NotFound`.
    async fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<TaskDefinitionState, AwsError>;

    /// What a task definition holds (containers, images, environment names and digests).
    async fn task_definition_spec(
        &self,
        task_definition: &str,
    ) -> Result<TaskDefinitionSpec, AwsError>;

    /// Registers a new revision of `task_definition`, the same but for `changes`; returns its
    /// `family:revision`. The old revision stays registered (a switch back may return to it).
    async fn register_revision(
        &self,
        task_definition: &str,
        changes: &[EnvChange],
    ) -> Result<String, AwsError>;

    /// Points the service at another task definition (a new deployment); returns the state
    /// from just before.
    async fn deploy(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
    ) -> Result<ServiceState, AwsError>;
}

/// Stable as ECS's own `services-stable` waiter means it, against the count we asked for: all
/// wanted tasks run and no rollout is in flight.
pub fn is_stable(state: &ServiceState, desired: u32) -> bool {
    state.running == desired && state.deployments == 1
}

pub fn service_resource(cluster: &str, name: &str) -> String {
    format!("ECS service {name} in cluster {cluster}")
}

fn plural(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Polls the service until it is stable at `desired`, or gives up after `timeout` with an
/// error naming the service and its last counts. Throttling and transient errors while
/// polling do not end the wait; anything else (a missing service) does.
pub async fn wait_stable(
    containers: &dyn Containers,
    cluster: &str,
    name: &str,
    desired: u32,
    poll: Duration,
    timeout: Duration,
) -> Result<ServiceState, AwsError> {
    super::poll_until(
        "ECS service",
        poll,
        timeout,
        || async {
            let state = containers.describe_service(cluster, name).await?;
            Ok(if is_stable(&state, desired) {
                super::Poll::Done(state)
            } else {
                super::Poll::Pending(state)
            })
        },
        |last_state: Option<ServiceState>, last_error| {
            let counts = match &last_state {
                Some(s) => format!(
                    "running {} of {desired}, {}",
                    s.running,
                    plural(s.deployments, "deployment", "deployments")
                ),
                None => "never described".to_owned(),
            };
            let error = last_error.map_or_else(String::new, |e| format!("; last poll failed: {e}"));
            AwsError::TimedOut(format!(
                "{} not stable after {}: {counts}{error}",
                service_resource(cluster, name),
                HumanDuration(timeout)
            ))
        },
    )
    .await
}

/// `family:revision` from a task definition ARN (`arn:...:task-definition/web:3` → `web:3`).
pub fn task_definition_name(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn state(running: u32, deployments: u32) -> ServiceState {
        ServiceState {
            name: "web".into(),
            desired: 3,
            running,
            pending: 3 - running,
            deployments,
            status: "ACTIVE".into(),
            task_definition: None,
        }
    }

    #[test]
    fn stable_means_all_running_and_one_deployment() {
        assert!(is_stable(&state(3, 1), 3));
        assert!(!is_stable(&state(2, 1), 3), "not all running");
        assert!(!is_stable(&state(3, 2), 3), "a rollout is in flight");
        assert!(!is_stable(&state(3, 0), 3), "no deployment at all");
        assert!(
            !is_stable(&state(3, 1), 2),
            "counts for another desired count"
        );
    }

    #[test]
    fn task_definition_arns_give_family_and_revision() {
        assert_eq!(
            task_definition_name("arn:aws:ecs:us-east-1:123456789012:task-definition/web:3"),
            "web:3"
        );
        assert_eq!(task_definition_name("web:3"), "web:3");
    }

    /// Answers with the scripted states in turn, repeating the last one.
    struct FakeContainers {
        answers: Mutex<Vec<Result<ServiceState, AwsError>>>,
        polls: Mutex<u32>,
    }

    impl FakeContainers {
        fn new(mut answers: Vec<Result<ServiceState, AwsError>>) -> Self {
            answers.reverse();
            Self {
                answers: Mutex::new(answers),
                polls: Mutex::new(0),
            }
        }

        fn polls(&self) -> u32 {
            *self.polls.lock().unwrap()
        }
    }

    #[async_trait::async_trait]
    impl Containers for FakeContainers {
        async fn describe_services(
            &self,
            cluster: &str,
            names: &[String],
        ) -> Result<Vec<ServiceState>, AwsError> {
            assert_eq!((cluster, names), ("standby", &["web".to_owned()][..]));
            *self.polls.lock().unwrap() += 1;
            let mut answers = self.answers.lock().unwrap();
            let answer = if answers.len() > 1 {
                answers.pop().unwrap()
            } else {
                answers[0].clone()
            };
            answer.map(|s| vec![s])
        }

        async fn scale_service(&self, _: &str, _: &str, _: u32) -> Result<ServiceState, AwsError> {
            panic!("wait_stable never scales")
        }

        async fn describe_cluster(&self, _: &str) -> Result<ClusterState, AwsError> {
            panic!("wait_stable never describes the cluster")
        }

        async fn describe_task_definition(&self, _: &str) -> Result<TaskDefinitionState, AwsError> {
            panic!("wait_stable never describes task definitions")
        }

        async fn task_definition_spec(&self, _: &str) -> Result<TaskDefinitionSpec, AwsError> {
            panic!("wait_stable never reads task definitions")
        }

        async fn register_revision(&self, _: &str, _: &[EnvChange]) -> Result<String, AwsError> {
            panic!("wait_stable never registers task definitions")
        }

        async fn deploy(&self, _: &str, _: &str, _: &str) -> Result<ServiceState, AwsError> {
            panic!("wait_stable never deploys")
        }
    }

    const POLL: Duration = Duration::from_secs(5);
    const FIFTEEN_MINUTES: Duration = Duration::from_secs(15 * 60);

    #[tokio::test(start_paused = true)]
    async fn wait_stable_polls_until_stable() {
        let fake = FakeContainers::new(vec![
            Ok(state(0, 2)),
            Err(AwsError::Transient("503".into())),
            Ok(state(2, 1)),
            Ok(state(3, 1)),
        ]);
        let stable = wait_stable(&fake, "standby", "web", 3, POLL, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(stable, state(3, 1));
        assert_eq!(fake.polls(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_stable_times_out_naming_the_service_and_its_counts() {
        let fake = FakeContainers::new(vec![Ok(state(1, 2))]);
        let started = tokio::time::Instant::now();
        let err = wait_stable(&fake, "standby", "web", 3, POLL, FIFTEEN_MINUTES)
            .await
            .unwrap_err();
        assert!(matches!(err, AwsError::TimedOut(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "ECS service web in cluster standby not stable after 15m: running 1 of 3, 2 deployments"
        );
        assert_eq!(started.elapsed(), FIFTEEN_MINUTES);
        assert_eq!(
            fake.polls(),
            15 * 60 / 5 + 1,
            "one poll every 5s, and one at the deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_poll_happens_at_the_deadline_even_off_the_poll_grid() {
        let fake = FakeContainers::new(vec![Ok(state(1, 1))]);
        let started = tokio::time::Instant::now();
        wait_stable(&fake, "standby", "web", 3, POLL, Duration::from_secs(12))
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(12));
        assert_eq!(fake.polls(), 4, "at 0s, 5s, 10s and 12s");
    }

    #[tokio::test(start_paused = true)]
    async fn wait_stable_gives_up_at_once_on_a_missing_service() {
        let fake = FakeContainers::new(vec![Err(AwsError::not_found(
            service_resource("standby", "web"),
            "MISSING",
        ))]);
        let err = wait_stable(&fake, "standby", "web", 3, POLL, Duration::from_secs(30))
            .await
            .unwrap_err();
        assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
        assert_eq!(fake.polls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_after_failing_polls_says_so() {
        let fake = FakeContainers::new(vec![Err(AwsError::Throttled("Rate exceeded".into()))]);
        let err = wait_stable(&fake, "standby", "web", 3, POLL, Duration::from_secs(60))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("never described"), "{text}");
        assert!(text.contains("Rate exceeded"), "{text}");
    }
}
