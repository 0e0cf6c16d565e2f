//! Builds the AWS SDK clients from `[aws]`: the standard credential chain (environment,
//! profile, SSO, instance role), the configured region, and an optional `endpoint_url`
//! override (moto in tests, a VPC endpoint in production).

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_route53::config::{Credentials, Region};

use crate::config::AwsConfig;

/// The clients the failover steps use, built from one shared SDK config.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub route53: aws_sdk_route53::Client,
    pub ecs: aws_sdk_ecs::Client,
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
