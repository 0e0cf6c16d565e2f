//! The ECS adapter: the `Containers` port (`crate::ports::aws`) over `aws-sdk-ecs`. The
//! calls of parity and the LLM switch (task definitions' contents, new revisions, deploys) are
//! in [`revision`].

mod revision;

use tracing::instrument;

use super::error::{Call, classify};
use crate::ports::aws::{
    AwsError, ClusterState, Containers, EnvChange, ServiceState, TaskDefinitionSpec,
    TaskDefinitionState, service_resource, task_definition_name,
};

/// DescribeServices takes at most this many services per call.
const DESCRIBE_BATCH: usize = 10;

/// The real adapter: ECS through `aws-sdk-ecs`.
#[derive(Debug, Clone)]
pub struct EcsContainers {
    client: aws_sdk_ecs::Client,
}

impl EcsContainers {
    pub fn new(client: aws_sdk_ecs::Client) -> Self {
        Self { client }
    }

    /// UpdateService with a new desired count, nothing else.
    async fn update_desired(
        &self,
        resource: &str,
        cluster: &str,
        name: &str,
        wanted: i32,
    ) -> Result<(), AwsError> {
        self.client
            .update_service()
            .cluster(cluster)
            .service(name)
            .desired_count(wanted)
            .send()
            .await
            .map(drop)
            .map_err(|err| {
                classify(
                    Call {
                        operation: "UpdateService",
                        resource,
                    },
                    &err,
                )
            })
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
        let before = self.describe_service(cluster, name).await?;
        self.update_desired(&resource, cluster, name, wanted)
            .await?;
        tracing::info!(from = before.desired, to = desired, "service scaled");
        Ok(before)
    }

    #[instrument(skip_all, fields(cluster = %cluster, service = %before.name, desired = desired))]
    async fn scale_known(
        &self,
        cluster: &str,
        before: &ServiceState,
        desired: u32,
    ) -> Result<(), AwsError> {
        let resource = service_resource(cluster, &before.name);
        let wanted = i32::try_from(desired).map_err(|_| {
            AwsError::Invalid(format!("{resource}: desired count {desired} is too large"))
        })?;
        self.update_desired(&resource, cluster, &before.name, wanted)
            .await?;
        tracing::info!(from = before.desired, to = desired, "service scaled");
        Ok(())
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
        let found = self.fetch_task_definition(task_definition).await?;
        let name = match (found.family(), found.revision()) {
            (Some(family), revision) if revision > 0 => format!("{family}:{revision}"),
            _ => task_definition_name(task_definition).to_owned(),
        };
        Ok(TaskDefinitionState {
            name,
            status: found.status().map_or("UNKNOWN", |s| s.as_str()).to_owned(),
        })
    }

    #[instrument(skip_all, fields(task_definition = %task_definition))]
    async fn task_definition_spec(
        &self,
        task_definition: &str,
    ) -> Result<TaskDefinitionSpec, AwsError> {
        self.spec(task_definition).await
    }

    #[instrument(skip_all, fields(task_definition = %task_definition, changes = changes.len()))]
    async fn register_revision(
        &self,
        task_definition: &str,
        changes: &[EnvChange],
    ) -> Result<String, AwsError> {
        self.register(task_definition, changes).await
    }

    #[instrument(skip_all, fields(cluster = %cluster, service = %service, task_definition = %task_definition))]
    async fn deploy(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
    ) -> Result<ServiceState, AwsError> {
        self.update_task_definition(cluster, service, task_definition)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_give_their_short_name() {
        assert_eq!(
            short_name("arn:aws:ecs:us-east-1:123456789012:service/standby/web"),
            "web"
        );
        assert_eq!(short_name("web"), "web");
    }
}
