//! The ECS calls of parity and the LLM switch: describe a task definition's containers
//! (environment values hashed as they are read), register a new revision with some variables
//! changed (everything else copied), and point a service at a task definition.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair, TaskDefinition};

use super::super::error::{Call, classify};
use super::{EcsContainers, to_service_state};
use crate::ports::aws::{
    AwsError, ContainerSpec, EnvChange, ServiceState, TaskDefinitionSpec, service_resource,
    task_definition_name,
};
use crate::ports::digest::ValueDigest;

fn resource(task_definition: &str) -> String {
    format!(
        "ECS task definition {}",
        task_definition_name(task_definition)
    )
}

/// `family:revision` of a described task definition.
fn name_of(found: &TaskDefinition, asked: &str) -> String {
    match (found.family(), found.revision()) {
        (Some(family), revision) if revision > 0 => format!("{family}:{revision}"),
        _ => task_definition_name(asked).to_owned(),
    }
}

fn container_spec(container: &ContainerDefinition) -> ContainerSpec {
    ContainerSpec {
        name: container.name.clone().unwrap_or_default(),
        image: container.image.clone().unwrap_or_default(),
        environment: container
            .environment
            .iter()
            .flatten()
            .filter_map(|kv| {
                let name = kv.name.clone()?;
                Some((
                    name,
                    ValueDigest::of(kv.value.as_deref().unwrap_or_default()),
                ))
            })
            .collect(),
        secrets: container
            .secrets
            .iter()
            .flatten()
            .map(|s| s.name.clone())
            .collect::<BTreeSet<String>>(),
        labels: container
            .docker_labels
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// The container definitions with `changes` applied (a variable replaced where it is, else
/// added), or the name of a container that does not exist.
fn changed(
    containers: &[ContainerDefinition],
    changes: &[EnvChange],
) -> Result<Vec<ContainerDefinition>, String> {
    let mut out = containers.to_vec();
    for change in changes {
        let container = out
            .iter_mut()
            .find(|c| c.name.as_deref() == Some(change.container.as_str()))
            .ok_or_else(|| change.container.clone())?;
        let environment = container.environment.get_or_insert_with(Vec::new);
        environment.retain(|kv| kv.name.as_deref() != Some(change.name.as_str()));
        environment.push(
            KeyValuePair::builder()
                .name(&change.name)
                .value(&change.value)
                .build(),
        );
    }
    Ok(out)
}

impl EcsContainers {
    /// DescribeTaskDefinition. ECS answers a task definition it cannot find with a bare
    /// ClientException ("Unable to describe task definition."): for this call that means
    /// missing.
    pub(super) async fn fetch_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<TaskDefinition, AwsError> {
        let resource = resource(task_definition);
        let answer = self
            .client
            .describe_task_definition()
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|err| {
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
        answer.task_definition.ok_or_else(|| {
            AwsError::not_found(&resource, "DescribeTaskDefinition returned nothing")
        })
    }

    pub(super) async fn spec(&self, task_definition: &str) -> Result<TaskDefinitionSpec, AwsError> {
        let found = self.fetch_task_definition(task_definition).await?;
        Ok(TaskDefinitionSpec {
            name: name_of(&found, task_definition),
            status: found.status().map_or("UNKNOWN", |s| s.as_str()).to_owned(),
            containers: found
                .container_definitions()
                .iter()
                .map(container_spec)
                .collect(),
        })
    }

    /// RegisterTaskDefinition with everything the described one has but `changes` (tags are
    /// not copied: they need ListTagsForResource and are not part of what runs; inference
    /// accelerators are no longer offered by ECS).
    pub(super) async fn register(
        &self,
        task_definition: &str,
        changes: &[EnvChange],
    ) -> Result<String, AwsError> {
        let found = self.fetch_task_definition(task_definition).await?;
        let resource = resource(task_definition);
        let containers = changed(found.container_definitions(), changes).map_err(|missing| {
            AwsError::Invalid(format!("{resource} has no container `{missing}`"))
        })?;
        let answer = self
            .client
            .register_task_definition()
            .set_family(found.family.clone())
            .set_task_role_arn(found.task_role_arn.clone())
            .set_execution_role_arn(found.execution_role_arn.clone())
            .set_network_mode(found.network_mode.clone())
            .set_container_definitions(Some(containers))
            .set_volumes(found.volumes.clone())
            .set_placement_constraints(found.placement_constraints.clone())
            .set_requires_compatibilities(found.requires_compatibilities.clone())
            .set_cpu(found.cpu.clone())
            .set_memory(found.memory.clone())
            .set_pid_mode(found.pid_mode.clone())
            .set_ipc_mode(found.ipc_mode.clone())
            .set_proxy_configuration(found.proxy_configuration.clone())
            .set_ephemeral_storage(found.ephemeral_storage.clone())
            .set_runtime_platform(found.runtime_platform.clone())
            .set_enable_fault_injection(found.enable_fault_injection)
            .send()
            .await
            .map_err(|err| {
                classify(
                    Call {
                        operation: "RegisterTaskDefinition",
                        resource: &resource,
                    },
                    &err,
                )
            })?;
        let registered = answer.task_definition.ok_or_else(|| {
            AwsError::Other(format!(
                "RegisterTaskDefinition on {resource} returned no task definition"
            ))
        })?;
        let name = name_of(&registered, task_definition);
        tracing::info!(from = %task_definition_name(task_definition), to = %name, "task definition registered");
        Ok(name)
    }

    /// UpdateService with another task definition; the state from before it.
    pub(super) async fn update_task_definition(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
    ) -> Result<ServiceState, AwsError> {
        let resource = service_resource(cluster, service);
        let answer = self
            .client
            .describe_services()
            .cluster(cluster)
            .services(service)
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
        let before = answer
            .services()
            .first()
            .map(|s| to_service_state(s, service))
            .ok_or_else(|| AwsError::not_found(&resource, "DescribeServices returned nothing"))?;
        self.client
            .update_service()
            .cluster(cluster)
            .service(service)
            .task_definition(task_definition)
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
        tracing::info!(service, to = task_definition, "service deployed");
        Ok(before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, env: &[(&str, &str)]) -> ContainerDefinition {
        let mut c = ContainerDefinition::builder()
            .name(name)
            .image("example/app:1");
        for (k, v) in env {
            c = c.environment(KeyValuePair::builder().name(*k).value(*v).build());
        }
        c.build()
    }

    #[test]
    fn a_change_replaces_or_adds_the_variable_in_its_container_only() {
        let containers = [
            container("app", &[("LLM_PROVIDER", "openai"), ("A", "1")]),
            container("sidecar", &[]),
        ];
        let change = EnvChange {
            container: "app".into(),
            name: "LLM_PROVIDER".into(),
            value: "anthropic".into(),
        };
        let out = changed(&containers, std::slice::from_ref(&change)).unwrap();
        let env: Vec<(&str, &str)> = out[0]
            .environment()
            .iter()
            .map(|kv| (kv.name().unwrap(), kv.value().unwrap()))
            .collect();
        assert_eq!(env, [("A", "1"), ("LLM_PROVIDER", "anthropic")]);
        assert!(out[1].environment().is_empty());
        let missing = EnvChange {
            container: "web".into(),
            ..change
        };
        assert_eq!(changed(&containers, &[missing]).unwrap_err(), "web");
        let spec = container_spec(&out[0]);
        assert_eq!(
            spec.environment["LLM_PROVIDER"],
            ValueDigest::of("anthropic")
        );
    }
}
