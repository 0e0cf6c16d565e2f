//! `[ha]`: the active/standby pair on DynamoDB (off when the section is absent). One table holds
//! the lease item and the replicated event log; the table is reached through `[aws]` (its
//! region, its `endpoint_url`, the standard credential chain).

use std::time::Duration;

use serde::Deserialize;

use crate::duration::HumanDuration;
use crate::key_path;
use crate::toml_source::{Diagnostic, TomlSource};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaConfig {
    /// The DynamoDB table of the lease and the log (`lifeboat ha init` creates it).
    pub table: String,
    /// This node's name in the lease and in `ha status`; default: the host name. The two
    /// nodes of a pair must differ.
    pub node_id: Option<String>,
    /// How long a lease lasts after each renewal.
    #[serde(default = "default_lease")]
    pub lease: HumanDuration,
    /// How often the holder renews it (and a follower tries to take it).
    #[serde(default = "default_renew")]
    pub renew: HumanDuration,
    /// The largest clock difference between the nodes' rates that is tolerated: a leader stops
    /// acting this long before its lease runs out by its own clock.
    #[serde(default = "default_skew_margin")]
    pub skew_margin: HumanDuration,
}

fn default_lease() -> HumanDuration {
    HumanDuration::from_secs(10)
}

fn default_renew() -> HumanDuration {
    HumanDuration::from_secs(3)
}

fn default_skew_margin() -> HumanDuration {
    HumanDuration::from_secs(1)
}

/// The lease's three durations, as the keeper uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    pub lease: Duration,
    pub renew: Duration,
    pub skew_margin: Duration,
}

impl HaConfig {
    /// The node id: the configured one, else the host name.
    pub fn node_id(&self) -> String {
        self.node_id.clone().unwrap_or_else(host_name)
    }

    pub fn timing(&self) -> LeaseTiming {
        LeaseTiming {
            lease: self.lease.get(),
            renew: self.renew.get(),
            skew_margin: self.skew_margin.get(),
        }
    }

    /// The table name follows DynamoDB's rules; the node id is printable; the renew interval
    /// leaves room for at least one more renewal before the leader stops acting.
    pub fn validate(&self, source: &TomlSource, errors: &mut Vec<Diagnostic>) {
        let table_ok = (3..=255).contains(&self.table.len())
            && self
                .table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !table_ok {
            errors.push(source.error_at(
                &key_path!["ha", "table"],
                format!(
                    "`{}` is not a DynamoDB table name: 3 to 255 characters among a-z A-Z 0-9 _ - .",
                    self.table
                ),
            ));
        }
        if let Some(node) = &self.node_id {
            let node_ok = !node.is_empty()
                && node.len() <= 128
                && node
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !node_ok {
                errors.push(source.error_at(
                    &key_path!["ha", "node_id"],
                    format!(
                        "`{node}` is not a node id: 1 to 128 characters among a-z A-Z 0-9 _ - ."
                    ),
                ));
            }
        }
        let LeaseTiming {
            lease,
            renew,
            skew_margin,
        } = self.timing();
        if renew.is_zero() {
            errors.push(source.error_at(&key_path!["ha", "renew"], "renew must be longer than 0s"));
        }
        if skew_margin >= lease {
            errors.push(source.error_at(
                &key_path!["ha", "skew_margin"],
                format!(
                    "skew_margin ({}) must be shorter than the lease ({}): the leader would never act",
                    self.skew_margin, self.lease
                ),
            ));
        } else if !renew.is_zero() && renew >= lease - skew_margin {
            errors.push(source.error_at(
                &key_path!["ha", "renew"],
                format!(
                    "renew ({}) must be shorter than lease - skew_margin ({} - {}): the leader would stop acting before its next renewal",
                    self.renew, self.lease, self.skew_margin
                ),
            ));
        }
    }
}

impl HaConfig {
    /// What `check --production` adds: a node id written down (a host name can change with a
    /// rebuilt machine or collide between containers, and two nodes with one id are one node
    /// to the lease), and room for a lost renewal before the leader stops acting (one dropped
    /// request must not stop a recovery).
    pub fn production_problems(&self, source: &TomlSource, errors: &mut Vec<Diagnostic>) {
        if self.node_id.is_none() {
            errors.push(source.error_at(
                &key_path!["ha"],
                format!(
                    "[ha] has no node_id: this node would be `{}` (its host name); name each node of the pair explicitly",
                    host_name()
                ),
            ));
        }
        let LeaseTiming {
            lease,
            renew,
            skew_margin,
        } = self.timing();
        if renew.saturating_mul(2) > lease.saturating_sub(skew_margin) {
            let renew_set = source
                .keys_at(&key_path!["ha"])
                .iter()
                .any(|k| k == "renew");
            let at = if renew_set {
                key_path!["ha", "renew"].to_vec()
            } else {
                key_path!["ha"].to_vec()
            };
            errors.push(source.error_at(
                &at,
                format!(
                    "renew ({}) leaves no room for a lost renewal: one unanswered request would stop the leader; keep 2 × renew within lease - skew_margin ({} - {})",
                    self.renew, self.lease, self.skew_margin
                ),
            ));
        }
    }
}

/// The host name (`uname -n`), or `lifeboat` when the system gives none.
pub fn host_name() -> String {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy().into_owned();
    if name.is_empty() {
        "lifeboat".to_owned()
    } else {
        name
    }
}
