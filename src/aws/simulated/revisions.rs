//! Task definitions' contents in the simulation: what parity reads and the LLM switch changes
//! (new revisions, deploys). Each seeded service runs revision 1 of a task definition named
//! after it, with one container `app` and no variables.

use std::collections::{BTreeMap, BTreeSet};

use super::State;
use crate::ports::aws::{
    AwsError, ContainerSpec, EnvChange, ServiceState, TaskDefinitionSpec, service_resource,
    task_definition_name,
};
use crate::ports::digest::ValueDigest;

/// The container every seeded task definition has.
pub(super) fn seeded_container(service: &str) -> ContainerSpec {
    ContainerSpec {
        name: "app".to_owned(),
        image: format!("simulated/{service}:latest"),
        environment: BTreeMap::new(),
        secrets: BTreeSet::new(),
        labels: BTreeMap::new(),
    }
}

fn missing(name: &str) -> AwsError {
    AwsError::not_found(
        format!("ECS task definition {name}"),
        "DescribeTaskDefinition: Unable to describe task definition (simulated)",
    )
}

impl State {
    /// `family:revision` of a name, ARN or bare family (its latest revision).
    pub(super) fn resolve(&self, task_definition: &str) -> Option<String> {
        let name = task_definition_name(task_definition);
        if name.contains(':') {
            self.task_definitions
                .contains_key(name)
                .then(|| name.to_owned())
        } else {
            self.task_definitions
                .keys()
                .filter(|k| k.split_once(':').map(|(f, _)| f) == Some(name))
                .max_by_key(|k| revision(k))
                .cloned()
        }
    }

    pub(super) fn spec(&self, task_definition: &str) -> Result<TaskDefinitionSpec, AwsError> {
        let name = self
            .resolve(task_definition)
            .ok_or_else(|| missing(task_definition_name(task_definition)))?;
        Ok(TaskDefinitionSpec {
            status: self.task_definitions[&name].clone(),
            containers: self.containers.get(&name).cloned().unwrap_or_default(),
            name,
        })
    }

    pub(super) fn register(
        &mut self,
        task_definition: &str,
        changes: &[EnvChange],
    ) -> Result<String, AwsError> {
        let spec = self.spec(task_definition)?;
        let family = spec
            .name
            .split_once(':')
            .map_or(spec.name.as_str(), |(f, _)| f);
        let next = self
            .task_definitions
            .keys()
            .filter(|k| k.split_once(':').map(|(f, _)| f) == Some(family))
            .map(|k| revision(k))
            .max()
            .unwrap_or(0)
            + 1;
        let mut containers = spec.containers.clone();
        for change in changes {
            let container = containers
                .iter_mut()
                .find(|c| c.name == change.container)
                .ok_or_else(|| {
                    AwsError::Invalid(format!(
                        "ECS task definition {} has no container `{}` (simulated)",
                        spec.name, change.container
                    ))
                })?;
            container
                .environment
                .insert(change.name.clone(), ValueDigest::of(&change.value));
        }
        let name = format!("{family}:{next}");
        self.task_definitions
            .insert(name.clone(), "ACTIVE".to_owned());
        self.containers.insert(name.clone(), containers);
        Ok(name)
    }

    pub(super) fn deploy(
        &mut self,
        cluster: &str,
        service: &str,
        task_definition: &str,
    ) -> Result<ServiceState, AwsError> {
        let name = self
            .resolve(task_definition)
            .ok_or_else(|| missing(task_definition_name(task_definition)))?;
        let found = self
            .clusters
            .get_mut(cluster)
            .and_then(|services| services.get_mut(service))
            .ok_or_else(|| {
                AwsError::not_found(
                    service_resource(cluster, service),
                    "UpdateService: ServiceNotFoundException (simulated)",
                )
            })?;
        let before = found.clone();
        // No tasks to replace: the new deployment is the only one at once.
        found.task_definition = Some(name);
        found.running = found.desired;
        found.pending = 0;
        found.deployments = 1;
        Ok(before)
    }
}

fn revision(name: &str) -> u32 {
    name.rsplit_once(':')
        .and_then(|(_, r)| r.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::super::SimulatedAws;
    use crate::config::{AwsConfig, EcsConfig, EcsServiceConfig};
    use crate::ports::aws::{Containers, EnvChange};
    use crate::ports::digest::ValueDigest;

    fn sim() -> SimulatedAws {
        SimulatedAws::from_config(&AwsConfig {
            ecs: Some(EcsConfig {
                cluster: "standby".into(),
                services: vec![EcsServiceConfig {
                    name: "web".into(),
                    standby: 2,
                    idle: 0,
                }],
            }),
            ..AwsConfig::default()
        })
    }

    #[tokio::test]
    async fn a_new_revision_carries_the_change_and_the_old_one_stays() {
        let sim = sim();
        let seeded = sim.task_definition_spec("web").await.unwrap();
        assert_eq!(seeded.name, "web:1");
        assert_eq!(seeded.containers[0].name, "app");
        let change = EnvChange {
            container: "app".into(),
            name: "LLM_PROVIDER".into(),
            value: "anthropic".into(),
        };
        let new = sim.register_revision("web:1", &[change]).await.unwrap();
        assert_eq!(new, "web:2");
        let spec = sim.task_definition_spec("web").await.unwrap();
        assert_eq!(spec.name, "web:2", "a bare family is its latest revision");
        assert_eq!(
            spec.containers[0].environment["LLM_PROVIDER"],
            ValueDigest::of("anthropic")
        );
        assert!(
            sim.task_definition_spec("web:1").await.unwrap().containers[0]
                .environment
                .is_empty()
        );
        let before = sim.deploy("standby", "web", "web:2").await.unwrap();
        assert_eq!(before.task_definition.as_deref(), Some("web:1"));
        let now = sim
            .describe_services("standby", &["web".into()])
            .await
            .unwrap();
        assert_eq!(now[0].task_definition.as_deref(), Some("web:2"));
        let missing = EnvChange {
            container: "sidecar".into(),
            name: "X".into(),
            value: "1".into(),
        };
        assert!(sim.register_revision("web:2", &[missing]).await.is_err());
        assert!(sim.deploy("standby", "web", "web:9").await.is_err());
    }
}
