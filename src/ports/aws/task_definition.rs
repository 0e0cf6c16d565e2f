//! What a task definition holds, as parity and the LLM switch read it: each container's image,
//! labels, and environment names (values only as digests; `secrets` are references and have
//! no value here at all), and the change the LLM switch registers as a new revision.

use std::collections::{BTreeMap, BTreeSet};

use crate::ports::digest::ValueDigest;

/// One container of a task definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// `environment`: name → digest of the value.
    pub environment: BTreeMap<String, ValueDigest>,
    /// `secrets`: names whose values come from SSM or Secrets Manager.
    pub secrets: BTreeSet<String>,
    /// `dockerLabels` (not secret: versions, owners).
    pub labels: BTreeMap<String, String>,
}

impl ContainerSpec {
    /// Every variable the container gets, plain or secret.
    pub fn variables(&self) -> impl Iterator<Item = &String> {
        self.environment.keys().chain(self.secrets.iter())
    }

    /// The image's tag (`repo/app:abc123` → `abc123`); `None` for an untagged or
    /// digest-pinned image.
    pub fn image_tag(&self) -> Option<&str> {
        let image = self.image.split('@').next().unwrap_or(&self.image);
        let last = image.rsplit('/').next().unwrap_or(image);
        last.split_once(':')
            .map(|(_, tag)| tag)
            .filter(|t| !t.is_empty())
    }
}

/// A task definition as ECS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDefinitionSpec {
    /// `family:revision`.
    pub name: String,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    pub containers: Vec<ContainerSpec>,
}

impl TaskDefinitionSpec {
    /// The containers that run the app: the one named `container` when given, else the only
    /// one, else all of them.
    pub fn app_containers(&self, container: Option<&str>) -> Vec<&ContainerSpec> {
        match container {
            Some(name) => self.containers.iter().filter(|c| c.name == name).collect(),
            None => self.containers.iter().collect(),
        }
    }
}

/// One variable set in one container of a new revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvChange {
    pub container: String,
    pub name: String,
    /// A plain value the runbook sets (a provider name), never a secret.
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(image: &str) -> ContainerSpec {
        ContainerSpec {
            name: "app".into(),
            image: image.into(),
            environment: BTreeMap::new(),
            secrets: BTreeSet::new(),
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn image_tags_are_read_from_the_last_path_segment() {
        assert_eq!(
            container("example/app:abc1234").image_tag(),
            Some("abc1234")
        );
        assert_eq!(
            container("123.dkr.ecr.us-east-1.amazonaws.com:443/app:v42").image_tag(),
            Some("v42")
        );
        assert_eq!(container("example/app").image_tag(), None);
        assert_eq!(container("example/app@sha256:0123").image_tag(), None);
        assert_eq!(container("registry:5000/app").image_tag(), None);
    }
}
