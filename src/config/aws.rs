//! `[aws]`: simulated or live AWS, with the ECS services and DNS records a failover touches.

use serde::Deserialize;

use crate::duration::HumanDuration;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AwsMode {
    /// In memory, seeded from this config: for demos and drills, never for a real failover.
    #[default]
    Simulated,
    /// The real AWS APIs through the SDK (with `endpoint_url` when set).
    Live,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    #[serde(default)]
    pub mode: AwsMode,
    #[serde(default = "default_region")]
    pub region: String,
    /// Overrides every AWS endpoint (moto in tests, a VPC endpoint, ...).
    pub endpoint_url: Option<String>,
    /// The 12-digit account that holds the standby, for the ARNs of `lifeboat iam-policy`.
    pub account_id: Option<String>,
    /// The standby ECS environment.
    pub ecs: Option<EcsConfig>,
    /// The DNS records that move between the primary and the standby.
    pub dns: Option<DnsConfig>,
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            mode: AwsMode::default(),
            region: default_region(),
            endpoint_url: None,
            account_id: None,
            ecs: None,
            dns: None,
        }
    }
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcsConfig {
    pub cluster: String,
    pub services: Vec<EcsServiceConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcsServiceConfig {
    pub name: String,
    /// Desired count while AWS serves the app.
    pub standby: u32,
    /// Desired count while the primary (Heroku) serves the app.
    #[serde(default)]
    pub idle: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    pub zone_id: String,
    /// TTL of the records Lifeboat writes, in seconds.
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    /// The longest TTL `lifeboat readiness` accepts on the live records (resolvers keep the
    /// old answer that long after DNS moves).
    #[serde(default = "default_max_ttl")]
    pub max_ttl: HumanDuration,
    pub records: Vec<DnsRecordConfig>,
}

fn default_ttl() -> u32 {
    60
}

fn default_max_ttl() -> HumanDuration {
    HumanDuration::from_secs(300)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsRecordConfig {
    pub name: String,
    #[serde(rename = "type", default = "default_record_type")]
    pub record_type: String,
    /// The value while the primary serves (e.g. `myapp.herokudns.com`).
    pub primary: String,
    /// The value while the standby serves (e.g. the AWS load balancer's name).
    pub standby: String,
}

fn default_record_type() -> String {
    "CNAME".to_owned()
}
