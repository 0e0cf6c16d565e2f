//! The container edge: what Lifeboat does with ECS (read services' counts, scale a service,
//! wait until it is stable), the real adapter over `aws-sdk-ecs`, and the pure stability rule.

use std::time::Duration;

use aws_sdk_ecs::error::ProvideErrorMetadata;
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::error::{AwsError, Call, classify};
use crate::duration::HumanDuration;

/// DescribeServices takes at most this many services per call.
const DESCRIBE_BATCH: usize = 10;

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

    /// Sets the desired count; returns the state from just before the change.
    async fn scale_service(
        &self,
        cluster: &str,
        name: &str,
        desired: u32,
    ) -> Result<ServiceState, AwsError>;

    /// The cluster's state. A missing cluster is `NotFound`.
    async fn describe_cluster(&self, cluster: &str) -> Result<ClusterState, AwsError>;

    /// A task definition (`family`, `family:revision` or ARN). A missing one is `NotFound`.
    async fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<TaskDefinitionState, AwsError>;
}

/// Stable as ECS's own `services-stable` waiter means it, against the count we asked for: all
/// wanted tasks run and no rollout is in flight.
pub fn is_stable(state: &ServiceState, desired: u32) -> bool {
    state.running == desired && state.deployments == 1
}

pub(crate) fn service_resource(cluster: &str, name: &str) -> String {
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
    let names = [name.to_owned()];
    super::poll_until(
        "ECS service",
        poll,
        timeout,
        || async {
            let state = containers
                .describe_services(cluster, &names)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    AwsError::not_found(
                        service_resource(cluster, name),
                        "DescribeServices returned nothing for it",
                    )
                })?;
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

/// The real adapter: ECS through `aws-sdk-ecs`.
#[derive(Debug, Clone)]
pub struct EcsContainers {
    client: aws_sdk_ecs::Client,
}

impl EcsContainers {
    pub fn new(client: aws_sdk_ecs::Client) -> Self {
        Self { client }
    }
}

fn count(n: i32) -> u32 {
    // ECS never reports negative counts; treat one as nothing running rather than fail.
    u32::try_from(n).unwrap_or(0)
}

fn to_service_state(service: &aws_sdk_ecs::types::Service, asked: &str) -> ServiceState {
    ServiceState {
        name: service.service_name().unwrap_or(asked).to_owned(),
        desired: count(service.desired_count()),
        running: count(service.running_count()),
        pending: count(service.pending_count()),
        deployments: u32::try_from(service.deployments().len()).unwrap_or(u32::MAX),
        status: service.status().unwrap_or("UNKNOWN").to_owned(),
        task_definition: service.task_definition().map(str::to_owned),
    }
}

/// `family:revision` from a task definition ARN (`arn:...:task-definition/web:3` → `web:3`).
pub fn task_definition_name(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

/// The short name in a service ARN (`arn:...:service/cluster/web` → `web`).
fn short_name(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

#[async_trait::async_trait]
impl Containers for EcsContainers {
    #[instrument(skip_all, fields(cluster = %cluster, services = ?names))]
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceState>, AwsError> {
        let mut states = Vec::with_capacity(names.len());
        for batch in names.chunks(DESCRIBE_BATCH) {
            let resource = service_resource(cluster, &batch.join(", "));
            let answer = self
                .client
                .describe_services()
                .cluster(cluster)
                .set_services(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|err| {
                    classify(
                        Call {
                            operation: "DescribeServices",
                            resource: &resource,
                        },
                        &err,
                    )
                })?;
            if let Some(failure) = answer.failures().first() {
                let arn = failure.arn().unwrap_or("an unnamed service");
                let reason = failure.reason().unwrap_or("no reason given");
                let detail = failure
                    .detail()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default();
                let resource = service_resource(cluster, short_name(arn));
                return Err(if reason == "MISSING" {
                    AwsError::not_found(
                        resource,
                        format!("DescribeServices reports it MISSING{detail}"),
                    )
                } else {
                    AwsError::Other(format!(
                        "DescribeServices on {resource}: failure {reason}{detail}"
                    ))
                });
            }
            for asked in batch {
                let found = answer.services().iter().find(|s| {
                    s.service_name() == Some(asked.as_str())
                        || s.service_arn() == Some(asked.as_str())
                });
                match found {
                    Some(service) => states.push(to_service_state(service, asked)),
                    None => {
                        return Err(AwsError::not_found(
                            service_resource(cluster, asked),
                            "DescribeServices returned neither the service nor a failure for it",
                        ));
                    }
                }
            }
        }
        Ok(states)
    }

    #[instrument(skip_all, fields(cluster = %cluster, service = %name, desired = desired))]
    async fn scale_service(
        &self,
        cluster: &str,
        name: &str,
        desired: u32,
    ) -> Result<ServiceState, AwsError> {
        let resource = service_resource(cluster, name);
        let wanted = i32::try_from(desired).map_err(|_| {
            AwsError::Invalid(format!("{resource}: desired count {desired} is too large"))
        })?;
        let before = self
            .describe_services(cluster, &[name.to_owned()])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| AwsError::not_found(&resource, "DescribeServices returned nothing"))?;
        self.client
            .update_service()
            .cluster(cluster)
            .service(name)
            .desired_count(wanted)
            .send()
            .await
            .map_err(|err| {
                classify(
                    Call {
                        operation: "UpdateService",
                        resource: &resource,
                    },
                    &err,
                )
            })?;
        tracing::info!(from = before.desired, to = desired, "service scaled");
        Ok(before)
    }

    #[instrument(skip_all, fields(cluster = %cluster))]
    async fn describe_cluster(&self, cluster: &str) -> Result<ClusterState, AwsError> {
        let resource = format!("ECS cluster {cluster}");
        let answer = self
            .client
            .describe_clusters()
            .clusters(cluster)
            .send()
            .await
            .map_err(|err| {
                classify(
                    Call {
                        operation: "DescribeClusters",
                        resource: &resource,
                    },
                    &err,
                )
            })?;
        if let Some(failure) = answer.failures().first() {
            let reason = failure.reason().unwrap_or("no reason given");
            return Err(if reason == "MISSING" {
                AwsError::not_found(resource, "DescribeClusters reports it MISSING")
            } else {
                AwsError::Other(format!("DescribeClusters on {resource}: failure {reason}"))
            });
        }
        let found = answer
            .clusters()
            .first()
            .ok_or_else(|| AwsError::not_found(&resource, "DescribeClusters returned nothing"))?;
        Ok(ClusterState {
            name: found.cluster_name().unwrap_or(cluster).to_owned(),
            status: found.status().unwrap_or("UNKNOWN").to_owned(),
        })
    }

    #[instrument(skip_all, fields(task_definition = %task_definition))]
    async fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<TaskDefinitionState, AwsError> {
        let resource = format!(
            "ECS task definition {}",
            task_definition_name(task_definition)
        );
        let answer = self
            .client
            .describe_task_definition()
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|err| {
                // ECS answers a task definition it cannot find with a bare ClientException
                // ("Unable to describe task definition."): for this call that means missing.
                if err.as_service_error().and_then(|e| e.code()) == Some("ClientException") {
                    AwsError::not_found(
                        &resource,
                        format!(
                            "DescribeTaskDefinition: {}",
                            err.as_service_error()
                                .and_then(|e| e.message())
                                .unwrap_or("ClientException")
                        ),
                    )
                } else {
                    classify(
                        Call {
                            operation: "DescribeTaskDefinition",
                            resource: &resource,
                        },
                        &err,
                    )
                }
            })?;
        let found = answer.task_definition().ok_or_else(|| {
            AwsError::not_found(&resource, "DescribeTaskDefinition returned nothing")
        })?;
        let name = match (found.family(), found.revision()) {
            (Some(family), revision) if revision > 0 => format!("{family}:{revision}"),
            _ => task_definition_name(task_definition).to_owned(),
        };
        Ok(TaskDefinitionState {
            name,
            status: found.status().map_or("UNKNOWN", |s| s.as_str()).to_owned(),
        })
    }
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

    #[test]
    fn arns_give_their_short_name() {
        assert_eq!(
            short_name("arn:aws:ecs:us-east-1:123456789012:service/standby/web"),
            "web"
        );
        assert_eq!(short_name("web"), "web");
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
