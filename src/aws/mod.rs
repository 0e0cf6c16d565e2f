//! The AWS adapters: the `Dns` (Route 53) and `Containers` (ECS) ports of `crate::ports::aws`
//! over the SDK clients built here from `[aws]` (the standard credential chain, the configured
//! region, an optional `endpoint_url` such as moto in tests or a VPC endpoint in production),
//! and the in-memory simulation used for drills and demos. `AwsEdges`' constructors live here,
//! beside the adapters they build. `s3` is the S3 backup store of `[data]`; the DynamoDB client
//! built here serves `crate::ha` (the `[ha]` pair's lease and replicated log).

mod dns;
mod ecs;
mod error;
mod s3;
mod simulated;

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_route53::config::{Credentials, Region};

use crate::config::{AwsConfig, AwsMode};
use crate::ports::aws::AwsEdges;

pub use dns::Route53Dns;
pub use ecs::EcsContainers;
pub use s3::{S3Backups, client as s3_client};
pub use simulated::SimulatedAws;

impl AwsEdges {
    /// Simulated edges seeded from config, or the real SDK clients with credentials from the
    /// standard AWS chain.
    pub async fn connect(aws: &AwsConfig) -> Self {
        match aws.mode {
            AwsMode::Simulated => Self::simulated(Arc::new(SimulatedAws::from_config(aws))),
            AwsMode::Live => Self::live(&AwsClients::connect(aws).await),
        }
    }

    /// As `connect`, with fixed credentials for the live mode (emulators, staging accounts).
    pub async fn connect_with_credentials(aws: &AwsConfig, credentials: Credentials) -> Self {
        match aws.mode {
            AwsMode::Simulated => Self::simulated(Arc::new(SimulatedAws::from_config(aws))),
            AwsMode::Live => {
                Self::live(&AwsClients::connect_with_credentials(aws, credentials).await)
            }
        }
    }

    /// The real adapters over already built clients.
    pub fn live(clients: &AwsClients) -> Self {
        Self {
            dns: Arc::new(Route53Dns::new(clients.route53.clone())),
            containers: Arc::new(EcsContainers::new(clients.ecs.clone())),
            mode: AwsMode::Live,
        }
    }

    /// Both edges over one simulation, so DNS and ECS changes share one world.
    pub fn simulated(simulation: Arc<SimulatedAws>) -> Self {
        Self {
            dns: simulation.clone(),
            containers: simulation,
            mode: AwsMode::Simulated,
        }
    }
}

/// The clients the failover steps use, built from one shared SDK config.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub route53: aws_sdk_route53::Client,
    pub ecs: aws_sdk_ecs::Client,
    /// For `[data.backups] bucket`.
    pub s3: aws_sdk_s3::Client,
    /// For `[ha] table` (see `crate::ha`).
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl AwsClients {
    /// Credentials from the standard AWS chain.
    pub async fn connect(aws: &AwsConfig) -> Self {
        Self::from_sdk_config(&sdk_config(aws, None).await)
    }

    /// Fixed credentials instead of the chain: for emulators (moto) and staging accounts
    /// whose keys are handed over explicitly.
    pub async fn connect_with_credentials(aws: &AwsConfig, credentials: Credentials) -> Self {
        Self::from_sdk_config(&sdk_config(aws, Some(credentials)).await)
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            route53: aws_sdk_route53::Client::new(sdk),
            ecs: aws_sdk_ecs::Client::new(sdk),
            s3: s3::client(sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
        }
    }
}

/// The SDK config every client is built from.
pub async fn sdk_config(
    aws: &AwsConfig,
    credentials: Option<Credentials>,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(aws.region.clone()))
        // Fail fast and let the runbook engine decide about retries beyond the SDK's own.
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if let Some(url) = &aws.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(credentials) = credentials {
        loader = loader.credentials_provider(credentials);
    }
    loader.load().await
}
