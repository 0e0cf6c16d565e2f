//! An in-memory Route 53 and ECS for offline drills and demos (`[aws] mode = "simulated"`),
//! seeded from `[aws]` as the standby environment would look while the primary serves.
//! It answers like the real services where Lifeboat can tell (unknown zones, changes,
//! clusters and services are `NotFound`), but nothing here is ever a stand-in for testing the
//! real adapters: those are tested against moto.

mod revisions;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tracing::instrument;

use crate::config::AwsConfig;
use crate::ports::aws::{
    AwsError, ChangeStatus, ClusterState, ContainerSpec, Containers, Dns, DnsChange, EnvChange,
    PreviousRecord, RecordChange, RecordState, ServiceState, TaskDefinitionSpec,
    TaskDefinitionState, bare_change_id, bare_zone_id, normalize_changes, normalize_name,
    normalize_type, service_resource, task_definition_name,
};

/// Simulated AWS: both edges over one state, so a drill sees its own changes.
#[derive(Debug, Default)]
pub struct SimulatedAws {
    state: Mutex<State>,
    /// How many polls of a new change answer PENDING before it is INSYNC.
    polls_until_insync: u32,
}

/// Records by (name, type), per zone.
type Zone = BTreeMap<(String, String), RecordState>;

#[derive(Debug, Default)]
struct State {
    /// Services by name, per cluster.
    clusters: BTreeMap<String, BTreeMap<String, ServiceState>>,
    zones: BTreeMap<String, Zone>,
    /// Task definitions (`family:revision`) and their status.
    task_definitions: BTreeMap<String, String>,
    /// Their containers (environment values as digests), by `family:revision`.
    containers: BTreeMap<String, Vec<ContainerSpec>>,
    /// Polls left before each change is INSYNC.
    changes: BTreeMap<String, u32>,
    next_change: u64,
}

impl SimulatedAws {
    /// The configured ECS services at their `idle` counts (stable, nothing rolling out) and
    /// the configured records at their `primary` values with the configured TTL.
    pub fn from_config(aws: &AwsConfig) -> Self {
        let mut state = State::default();
        if let Some(ecs) = &aws.ecs {
            let services = ecs
                .services
                .iter()
                .map(|s| {
                    let service = ServiceState {
                        name: s.name.clone(),
                        desired: s.idle,
                        running: s.idle,
                        pending: 0,
                        deployments: 1,
                        status: "ACTIVE".to_owned(),
                        task_definition: Some(format!("{}:1", s.name)),
                    };
                    (s.name.clone(), service)
                })
                .collect();
            state.clusters.insert(ecs.cluster.clone(), services);
            // Each service runs revision 1 of a task definition named after it.
            state.task_definitions = ecs
                .services
                .iter()
                .map(|s| (format!("{}:1", s.name), "ACTIVE".to_owned()))
                .collect();
            state.containers = ecs
                .services
                .iter()
                .map(|s| {
                    (
                        format!("{}:1", s.name),
                        vec![revisions::seeded_container(&s.name)],
                    )
                })
                .collect();
        }
        if let Some(dns) = &aws.dns {
            let records = dns
                .records
                .iter()
                .map(|r| {
                    // Seeding must not fail: a bad type in config is reported when a step
                    // tries to change the record, as it would be against Route 53.
                    let rtype = r.record_type.trim().to_ascii_uppercase();
                    let value = if rtype == "CNAME" {
                        normalize_name(&r.primary)
                    } else {
                        r.primary.trim().to_owned()
                    };
                    let record = RecordState {
                        name: normalize_name(&r.name),
                        rtype,
                        ttl: Some(dns.ttl),
                        values: vec![value],
                        alias_target: None,
                    };
                    ((record.name.clone(), record.rtype.clone()), record)
                })
                .collect();
            state
                .zones
                .insert(bare_zone_id(&dns.zone_id).to_owned(), records);
        }
        Self {
            state: Mutex::new(state),
            polls_until_insync: 0,
        }
    }

    /// Gives the seeded records another TTL (e.g. a long one, to show what `readiness`
    /// says about it).
    pub fn with_record_ttl(mut self, ttl: u32) -> Self {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        for record in state.zones.values_mut().flat_map(|zone| zone.values_mut()) {
            record.ttl = Some(ttl);
        }
        self
    }

    /// Forgets a service, as if it had been deleted from the cluster.
    pub fn without_service(self, cluster: &str, name: &str) -> Self {
        if let Some(services) = self.state().clusters.get_mut(cluster) {
            services.remove(name);
        }
        self
    }

    /// Forgets a task definition (`family:revision`), as if it had been deleted.
    pub fn without_task_definition(self, name: &str) -> Self {
        self.state().task_definitions.remove(name);
        self
    }

    /// New changes answer PENDING to their first `polls` status polls, then INSYNC.
    pub fn with_polls_until_insync(mut self, polls: u32) -> Self {
        self.polls_until_insync = polls;
        self
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update below is a single assignment, so a panic elsewhere cannot leave the
        // state half-changed: carry on with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn no_such_zone(zone_id: &str) -> AwsError {
    AwsError::not_found(
        format!("Route 53 hosted zone {zone_id}"),
        "NoSuchHostedZone: no hosted zone with this id (simulated)",
    )
}

#[async_trait::async_trait]
impl Dns for SimulatedAws {
    #[instrument(skip_all, fields(simulated = true, zone_id = %zone_id, name = %name))]
    async fn current_record(
        &self,
        zone_id: &str,
        name: &str,
        rtype: &str,
    ) -> Result<Option<RecordState>, AwsError> {
        let key = (normalize_name(name), normalize_type(rtype)?);
        let zone_id = bare_zone_id(zone_id);
        let state = self.state();
        let zone = state
            .zones
            .get(zone_id)
            .ok_or_else(|| no_such_zone(zone_id))?;
        Ok(zone.get(&key).cloned())
    }

    #[instrument(skip_all, fields(simulated = true, zone_id = %zone_id, records = changes.len()))]
    async fn point_records(
        &self,
        zone_id: &str,
        changes: &[RecordChange],
    ) -> Result<DnsChange, AwsError> {
        let changes = normalize_changes(changes)?;
        let zone_id = bare_zone_id(zone_id);
        let mut state = self.state();
        state.next_change += 1;
        let change_id = format!("CSIM{:010}", state.next_change);
        let zone = state
            .zones
            .get_mut(zone_id)
            .ok_or_else(|| no_such_zone(zone_id))?;
        let mut previous = Vec::with_capacity(changes.len());
        for change in changes {
            let key = (change.name.clone(), change.rtype.clone());
            let new = RecordState {
                name: change.name.clone(),
                rtype: change.rtype.clone(),
                ttl: Some(change.ttl),
                values: change.values,
                alias_target: None,
            };
            previous.push(PreviousRecord {
                name: change.name,
                rtype: change.rtype,
                state: zone.insert(key, new),
            });
        }
        state
            .changes
            .insert(change_id.clone(), self.polls_until_insync);
        let status = if self.polls_until_insync == 0 {
            ChangeStatus::InSync
        } else {
            ChangeStatus::Pending
        };
        tracing::info!(change_id, %status, "records pointed (simulated)");
        Ok(DnsChange {
            change_id,
            status,
            previous,
        })
    }

    #[instrument(skip_all, fields(simulated = true, change_id = %change_id))]
    async fn change_status(&self, change_id: &str) -> Result<ChangeStatus, AwsError> {
        let id = bare_change_id(change_id);
        let mut state = self.state();
        let left = state.changes.get_mut(id).ok_or_else(|| {
            AwsError::not_found(
                format!("Route 53 change {id}"),
                "NoSuchChange: no change with this id (simulated)",
            )
        })?;
        if *left == 0 {
            Ok(ChangeStatus::InSync)
        } else {
            *left -= 1;
            Ok(ChangeStatus::Pending)
        }
    }
}

fn no_such_cluster(cluster: &str, names: &str) -> AwsError {
    AwsError::not_found(
        service_resource(cluster, names),
        format!("ClusterNotFoundException: cluster {cluster} does not exist (simulated)"),
    )
}

fn missing_service(cluster: &str, name: &str) -> AwsError {
    AwsError::not_found(
        service_resource(cluster, name),
        "DescribeServices reports it MISSING (simulated)",
    )
}

#[async_trait::async_trait]
impl Containers for SimulatedAws {
    #[instrument(skip_all, fields(simulated = true, cluster = %cluster, services = ?names))]
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceState>, AwsError> {
        let state = self.state();
        let services = state
            .clusters
            .get(cluster)
            .ok_or_else(|| no_such_cluster(cluster, &names.join(", ")))?;
        names
            .iter()
            .map(|name| {
                services
                    .get(name)
                    .cloned()
                    .ok_or_else(|| missing_service(cluster, name))
            })
            .collect()
    }

    #[instrument(skip_all, fields(simulated = true, cluster = %cluster, service = %name, desired = desired))]
    async fn scale_service(
        &self,
        cluster: &str,
        name: &str,
        desired: u32,
    ) -> Result<ServiceState, AwsError> {
        let mut state = self.state();
        let service = state
            .clusters
            .get_mut(cluster)
            .ok_or_else(|| no_such_cluster(cluster, name))?
            .get_mut(name)
            .ok_or_else(|| missing_service(cluster, name))?;
        let before = service.clone();
        // The simulation has no tasks to start: the service is stable at once.
        service.desired = desired;
        service.running = desired;
        service.pending = 0;
        service.deployments = 1;
        tracing::info!(
            from = before.desired,
            to = desired,
            "service scaled (simulated)"
        );
        Ok(before)
    }

    #[instrument(skip_all, fields(simulated = true, cluster = %cluster))]
    async fn describe_cluster(&self, cluster: &str) -> Result<ClusterState, AwsError> {
        if self.state().clusters.contains_key(cluster) {
            Ok(ClusterState {
                name: cluster.to_owned(),
                status: "ACTIVE".to_owned(),
            })
        } else {
            Err(AwsError::not_found(
                format!("ECS cluster {cluster}"),
                "DescribeClusters reports it MISSING (simulated)",
            ))
        }
    }

    #[instrument(skip_all, fields(simulated = true, task_definition = %task_definition))]
    async fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<TaskDefinitionState, AwsError> {
        let name = task_definition_name(task_definition);
        let state = self.state();
        // A bare family means its latest revision.
        let found = if name.contains(':') {
            state.task_definitions.get_key_value(name)
        } else {
            state
                .task_definitions
                .range(format!("{name}:")..format!("{name};"))
                .next_back()
        };
        found
            .map(|(name, status)| TaskDefinitionState {
                name: name.clone(),
                status: status.clone(),
            })
            .ok_or_else(|| {
                AwsError::not_found(
                    format!("ECS task definition {name}"),
                    "DescribeTaskDefinition: Unable to describe task definition (simulated)",
                )
            })
    }

    #[instrument(skip_all, fields(simulated = true, task_definition = %task_definition))]
    async fn task_definition_spec(
        &self,
        task_definition: &str,
    ) -> Result<TaskDefinitionSpec, AwsError> {
        self.state().spec(task_definition)
    }

    #[instrument(skip_all, fields(simulated = true, task_definition = %task_definition))]
    async fn register_revision(
        &self,
        task_definition: &str,
        changes: &[EnvChange],
    ) -> Result<String, AwsError> {
        self.state().register(task_definition, changes)
    }

    #[instrument(skip_all, fields(simulated = true, cluster = %cluster, service = %service))]
    async fn deploy(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
    ) -> Result<ServiceState, AwsError> {
        self.state().deploy(cluster, service, task_definition)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{AwsMode, DnsConfig, DnsRecordConfig, EcsConfig, EcsServiceConfig};
    use crate::ports::aws::{wait_insync, wait_stable};

    fn config() -> AwsConfig {
        AwsConfig {
            mode: AwsMode::Simulated,
            ecs: Some(EcsConfig {
                cluster: "standby".into(),
                services: vec![
                    EcsServiceConfig {
                        name: "web".into(),
                        standby: 3,
                        idle: 0,
                    },
                    EcsServiceConfig {
                        name: "worker".into(),
                        standby: 2,
                        idle: 1,
                    },
                ],
            }),
            dns: Some(DnsConfig {
                zone_id: "/hostedzone/Z123".into(),
                ttl: 60,
                max_ttl: crate::duration::HumanDuration::from_secs(300),
                records: vec![DnsRecordConfig {
                    name: "App.Example.com".into(),
                    record_type: "CNAME".into(),
                    primary: "myapp.herokudns.com".into(),
                    standby: "web-alb.elb.amazonaws.com".into(),
                }],
            }),
            ..AwsConfig::default()
        }
    }

    fn standby_change() -> RecordChange {
        RecordChange {
            name: "app.example.com".into(),
            rtype: "CNAME".into(),
            values: vec!["web-alb.elb.amazonaws.com".into()],
            ttl: 60,
        }
    }

    #[tokio::test]
    async fn seeded_from_config_at_idle_counts_and_primary_values() {
        let sim = SimulatedAws::from_config(&config());
        let states = sim
            .describe_services("standby", &["web".into(), "worker".into()])
            .await
            .unwrap();
        assert_eq!(
            states
                .iter()
                .map(|s| (s.name.as_str(), s.desired, s.running))
                .collect::<Vec<_>>(),
            [("web", 0, 0), ("worker", 1, 1)]
        );
        let record = sim
            .current_record("Z123", "app.example.com.", "cname")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.values, ["myapp.herokudns.com."]);
        assert_eq!(record.ttl, Some(60));
    }

    #[tokio::test]
    async fn the_seeded_ttl_can_be_set() {
        let sim = SimulatedAws::from_config(&config()).with_record_ttl(3600);
        let record = sim
            .current_record("Z123", "app.example.com", "CNAME")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.ttl, Some(3600));
    }

    #[tokio::test]
    async fn pointing_records_returns_what_was_there() {
        let sim = SimulatedAws::from_config(&config());
        let change = sim
            .point_records("Z123", &[standby_change()])
            .await
            .unwrap();
        assert_eq!(change.status, ChangeStatus::InSync);
        assert_eq!(
            change.previous[0].state.as_ref().unwrap().values,
            ["myapp.herokudns.com."]
        );
        assert_eq!(
            sim.change_status(&format!("/change/{}", change.change_id))
                .await
                .unwrap(),
            ChangeStatus::InSync
        );
        let now = sim
            .current_record("Z123", "app.example.com", "CNAME")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(now.values, ["web-alb.elb.amazonaws.com."]);
        let again = sim
            .point_records("Z123", &[standby_change()])
            .await
            .unwrap();
        assert_ne!(again.change_id, change.change_id);
        assert_eq!(
            again.previous[0].state.as_ref().unwrap().values,
            ["web-alb.elb.amazonaws.com."]
        );
    }

    #[tokio::test]
    async fn a_new_record_has_no_previous_state() {
        let sim = SimulatedAws::from_config(&config());
        let mut change = standby_change();
        change.name = "api.example.com".into();
        let pointed = sim.point_records("Z123", &[change]).await.unwrap();
        assert_eq!(pointed.previous[0].name, "api.example.com.");
        assert_eq!(pointed.previous[0].state, None);
    }

    #[tokio::test]
    async fn unknown_things_are_not_found_like_in_aws() {
        let sim = SimulatedAws::from_config(&config());
        let err = sim
            .describe_services("standby", &["web".into(), "nope".into()])
            .await
            .unwrap_err();
        assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("ECS service nope in cluster standby not found"),
            "{err}"
        );
        let err = sim.scale_service("primary", "web", 3).await.unwrap_err();
        assert!(
            err.to_string().contains("service web in cluster primary"),
            "{err}"
        );
        let err = sim.scale_service("standby", "nope", 3).await.unwrap_err();
        assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
        let err = sim
            .point_records("ZOTHER", &[standby_change()])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("hosted zone ZOTHER"), "{err}");
        let err = sim.current_record("ZOTHER", "a.b", "A").await.unwrap_err();
        assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
        let err = sim.change_status("/change/C404").await.unwrap_err();
        assert!(err.to_string().contains("change C404"), "{err}");
        assert_eq!(
            sim.current_record("Z123", "nope.example.com", "CNAME")
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn invalid_batches_are_refused_before_anything_changes() {
        let sim = SimulatedAws::from_config(&config());
        let mut bad = standby_change();
        bad.values.clear();
        let err = sim
            .point_records("Z123", &[standby_change(), bad])
            .await
            .unwrap_err();
        assert!(matches!(err, AwsError::Invalid(_)), "{err:?}");
        let record = sim
            .current_record("Z123", "app.example.com", "CNAME")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.values, ["myapp.herokudns.com."]);
    }

    #[tokio::test(start_paused = true)]
    async fn scaling_is_stable_at_once_and_returns_the_state_before() {
        let sim = SimulatedAws::from_config(&config());
        let before = sim.scale_service("standby", "web", 3).await.unwrap();
        assert_eq!((before.desired, before.running), (0, 0));
        let stable = wait_stable(
            &sim,
            "standby",
            "web",
            3,
            Duration::from_secs(5),
            Duration::from_secs(15 * 60),
        )
        .await
        .unwrap();
        assert_eq!((stable.desired, stable.running, stable.pending), (3, 3, 0));
    }

    #[tokio::test]
    async fn clusters_and_task_definitions_are_seeded_and_can_be_removed() {
        let sim = SimulatedAws::from_config(&config());
        assert_eq!(
            sim.describe_cluster("standby").await.unwrap().status,
            "ACTIVE"
        );
        let err = sim.describe_cluster("other").await.unwrap_err();
        assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
        let web = sim
            .describe_services("standby", &["web".into()])
            .await
            .unwrap();
        let td = web[0].task_definition.clone().unwrap();
        assert_eq!(td, "web:1");
        assert_eq!(
            sim.describe_task_definition(&td).await.unwrap().name,
            "web:1"
        );
        assert_eq!(
            sim.describe_task_definition("web").await.unwrap().name,
            "web:1"
        );
        let sim = sim
            .without_task_definition("web:1")
            .without_service("standby", "worker");
        let err = sim.describe_task_definition("web:1").await.unwrap_err();
        assert!(err.to_string().contains("task definition web:1"), "{err}");
        assert!(sim.describe_task_definition("web").await.is_err());
        let err = sim
            .describe_services("standby", &["worker".into()])
            .await
            .unwrap_err();
        assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn changes_can_stay_pending_for_some_polls() {
        let sim = SimulatedAws::from_config(&config()).with_polls_until_insync(2);
        let change = sim
            .point_records("Z123", &[standby_change()])
            .await
            .unwrap();
        assert_eq!(change.status, ChangeStatus::Pending);
        let id = change.change_id.as_str();
        assert_eq!(sim.change_status(id).await.unwrap(), ChangeStatus::Pending);
        assert_eq!(sim.change_status(id).await.unwrap(), ChangeStatus::Pending);
        assert_eq!(sim.change_status(id).await.unwrap(), ChangeStatus::InSync);

        let next = sim
            .point_records("Z123", &[standby_change()])
            .await
            .unwrap();
        wait_insync(
            &sim,
            &next.change_id,
            Duration::from_secs(5),
            Duration::from_secs(15 * 60),
        )
        .await
        .unwrap();
    }
}
