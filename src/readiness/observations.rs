//! Observations: what `gather` saw, the only input of `assess`.

use crate::config::{AwsMode, DnsRecordConfig};
use crate::drill::history::DrillRecord;
use crate::ports::aws::{AwsError, ClusterState, RecordState, ServiceState, TaskDefinitionState};
use crate::ports::llm::LlmError;
use chrono::{DateTime, Utc};
use std::time::Duration;
#[derive(Debug, Clone)]
pub struct Observations {
    pub now: DateTime<Utc>,
    pub aws_mode: AwsMode,
    /// `None` when the config has no `[aws.ecs]`.
    pub ecs: Option<EcsObserved>,
    /// `None` when the config has no `[aws.dns]`.
    pub dns: Option<DnsObserved>,
    pub anthropic: LlmObserved,
    /// One per distinct `backup_check` in the runbooks.
    pub backups: Vec<BackupObserved>,
    /// Every finished drill found in the logs.
    pub drills: Vec<DrillRecord>,
}

#[derive(Debug, Clone)]
pub struct EcsObserved {
    pub cluster: String,
    pub cluster_state: Result<ClusterState, AwsError>,
    pub services: Vec<ServiceObserved>,
}

#[derive(Debug, Clone)]
pub struct ServiceObserved {
    pub name: String,
    pub state: Result<ServiceState, AwsError>,
    /// Described when the service named one.
    pub task_definition: Option<Result<TaskDefinitionState, AwsError>>,
}

#[derive(Debug, Clone)]
pub struct DnsObserved {
    pub zone_id: String,
    /// The TTL a failover writes (`[aws.dns] ttl`), in seconds.
    pub configured_ttl: u32,
    pub max_ttl: Duration,
    pub records: Vec<RecordObserved>,
}

#[derive(Debug, Clone)]
pub struct RecordObserved {
    pub config: DnsRecordConfig,
    pub state: Result<Option<RecordState>, AwsError>,
}

#[derive(Debug, Clone)]
pub enum LlmObserved {
    NotConfigured,
    KeyUnset {
        env: String,
    },
    Answered {
        model: Option<String>,
        latency: Duration,
    },
    Failed(LlmError),
}

#[derive(Debug, Clone)]
pub struct BackupObserved {
    /// `runbook/step` of the first step that checks this source.
    pub checked_by: String,
    pub max_age: Duration,
    /// When the latest backup completed, or why that could not be read.
    pub completed_at: Result<DateTime<Utc>, String>,
}
