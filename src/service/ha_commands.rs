//! The one-shot commands of the `[ha]` pair: `lifeboat ha init` (create the table, or print
//! how to), `lifeboat ha status` (leader, epoch, lease age, each node's replication lag) and
//! `lifeboat audit verify --table` (the chain as the table holds it).

use std::path::Path;
use std::process::ExitCode;

use super::app::{ConfigUse, FAILURE, UNAVAILABLE, load_config};
use crate::config::{Config, HaConfig};
use crate::domain::event::ChainCheck;
use crate::ha::{Applied, Lease};

/// The config and its `[ha]`, or the reason printed and the exit code.
fn ha_config(config_path: &Path, command: &str) -> Result<(Config, HaConfig), ExitCode> {
    let config =
        load_config(config_path, command, ConfigUse::Required).ok_or(ExitCode::from(FAILURE))?;
    match config.ha.clone() {
        Some(ha) => Ok((config, ha)),
        None => {
            eprintln!(
                "lifeboat {command}: the config has no [ha] section (table, node_id, lease, renew, skew_margin): this node is a single node"
            );
            Err(ExitCode::from(FAILURE))
        }
    }
}

/// `lifeboat ha init`: creates the table (exit 0 also when it exists), or with `print` writes
/// the AWS CLI command and the CloudFormation resource that create it, touching nothing.
pub async fn ha_init(config_path: &Path, print: bool) -> ExitCode {
    let (config, ha) = match ha_config(config_path, "ha init") {
        Ok(found) => found,
        Err(code) => return code,
    };
    if print {
        print!("{}", creation_text(&ha.table, &config.aws.region));
        return ExitCode::SUCCESS;
    }
    let table = crate::ha::table(&config.aws, &ha).await;
    match table.create().await {
        Ok(true) => {
            println!(
                "created the DynamoDB table {} (on-demand, keys pk and sk)",
                ha.table
            );
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("the DynamoDB table {} already exists", ha.table);
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("lifeboat ha init: {err}");
            ExitCode::from(UNAVAILABLE)
        }
    }
}

/// What creates the table, for operators who provision through their own tooling.
pub fn creation_text(table: &str, region: &str) -> String {
    format!(
        "# AWS CLI:\n\
         aws dynamodb create-table --region {region} --table-name {table} \\\n  \
         --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S \\\n  \
         --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \\\n  \
         --billing-mode PAY_PER_REQUEST\n\
         \n\
         # CloudFormation:\n\
         Resources:\n  \
         LifeboatHaTable:\n    \
         Type: AWS::DynamoDB::Table\n    \
         Properties:\n      \
         TableName: {table}\n      \
         BillingMode: PAY_PER_REQUEST\n      \
         AttributeDefinitions:\n        \
         - {{ AttributeName: pk, AttributeType: S }}\n        \
         - {{ AttributeName: sk, AttributeType: S }}\n      \
         KeySchema:\n        \
         - {{ AttributeName: pk, KeyType: HASH }}\n        \
         - {{ AttributeName: sk, KeyType: RANGE }}\n      \
         PointInTimeRecoverySpecification:\n        \
         PointInTimeRecoveryEnabled: true\n"
    )
}

/// `lifeboat ha status`: exit 0 when read, 2 when the table could not be.
pub async fn ha_status(config_path: &Path, json: bool) -> ExitCode {
    let (config, ha) = match ha_config(config_path, "ha status") {
        Ok(found) => found,
        Err(code) => return code,
    };
    let table = crate::ha::table(&config.aws, &ha).await;
    let read = async {
        let lease = table.lease().await?;
        let last = table.last_seq().await?;
        let nodes = table.applied().await?;
        Ok::<_, crate::ha::TableError>((lease, last, nodes))
    };
    let (lease, last, nodes) = match read.await {
        Ok(read) => read,
        Err(err) => {
            eprintln!("lifeboat ha status: {err}");
            return ExitCode::from(UNAVAILABLE);
        }
    };
    let status = Status::of(
        &ha.table,
        lease,
        last,
        nodes,
        chrono::Utc::now().timestamp_millis(),
    );
    if json {
        println!("{}", status.json());
    } else {
        print!("{}", status.human());
    }
    ExitCode::SUCCESS
}

/// What `ha status` shows, computed from what the table holds at `now_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub table: String,
    /// The holder, when the lease is held and not expired.
    pub leader: Option<String>,
    pub epoch: u64,
    /// Since the holder's last renewal, in ms.
    pub lease_age_ms: Option<i64>,
    /// The highest seq in the table.
    pub last_seq: u64,
    /// (node, applied seq, lag in events, reported ms ago), by node id.
    pub nodes: Vec<(String, u64, u64, i64)>,
}

impl Status {
    pub fn of(
        table: &str,
        lease: Option<Lease>,
        last_seq: u64,
        mut nodes: Vec<Applied>,
        now_ms: i64,
    ) -> Self {
        nodes.sort_by(|a, b| a.node.cmp(&b.node));
        Self {
            table: table.to_owned(),
            leader: lease
                .as_ref()
                .filter(|l| !l.is_expired(now_ms))
                .map(|l| l.holder.clone()),
            epoch: lease.as_ref().map_or(0, |l| l.epoch),
            lease_age_ms: lease.map(|l| now_ms - l.renewed_ms),
            last_seq,
            nodes: nodes
                .into_iter()
                .map(|n| {
                    let lag = last_seq.saturating_sub(n.seq);
                    (n.node, n.seq, lag, now_ms - n.at_ms)
                })
                .collect(),
        }
    }

    pub fn human(&self) -> String {
        let mut out = format!("table {}\n", self.table);
        out += &match (&self.leader, self.lease_age_ms) {
            (Some(leader), Some(age)) => format!(
                "leader {leader} (epoch {}, lease renewed {} ago)\n",
                self.epoch,
                seconds(age)
            ),
            (None, Some(age)) => format!(
                "leader none: the lease (epoch {}) lapsed, last renewed {} ago\n",
                self.epoch,
                seconds(age)
            ),
            _ => "leader none: the lease was never taken\n".to_owned(),
        };
        out += &format!("log {} events\n", self.last_seq);
        for (node, applied, lag, ago) in &self.nodes {
            out += &format!(
                "node {node}: applied {applied}, lag {lag} events (reported {} ago)\n",
                seconds(*ago)
            );
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "table": self.table,
            "leader": self.leader,
            "epoch": self.epoch,
            "lease_age_ms": self.lease_age_ms,
            "last_seq": self.last_seq,
            "nodes": self.nodes.iter().map(|(node, applied, lag, ago)| serde_json::json!({
                "node": node, "applied": applied, "lag": lag, "reported_ms_ago": ago,
            })).collect::<Vec<_>>(),
        })
    }
}

fn seconds(ms: i64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// `lifeboat audit verify --table`: walks the chain as the `[ha]` table holds it.
pub async fn audit_verify_table(config_path: &Path) -> ExitCode {
    let (config, ha) = match ha_config(config_path, "audit verify --table") {
        Ok(found) => found,
        Err(code) => return code,
    };
    let table = crate::ha::table(&config.aws, &ha).await;
    match table.verify().await {
        Ok(ChainCheck::Intact { events, head }) => {
            let head = head
                .map(|h| format!(", head {}", &h[..16]))
                .unwrap_or_default();
            println!("{events} events in table {}, chain intact{head}", ha.table);
            ExitCode::SUCCESS
        }
        Ok(ChainCheck::Broken { seq, reason }) => {
            println!("chain broken at seq {seq} in table {}: {reason}", ha.table);
            ExitCode::from(FAILURE)
        }
        Err(err) => {
            eprintln!("lifeboat audit verify --table: {err}");
            ExitCode::from(UNAVAILABLE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_a_live_leader_and_each_nodes_lag() {
        let lease = Lease {
            holder: "eu-1".into(),
            epoch: 7,
            expires_ms: 20_000,
            renewed_ms: 10_000,
        };
        let nodes = vec![
            Applied {
                node: "us-1".into(),
                seq: 40,
                at_ms: 11_000,
            },
            Applied {
                node: "eu-1".into(),
                seq: 42,
                at_ms: 12_000,
            },
        ];
        let status = Status::of("t", Some(lease.clone()), 42, nodes, 12_500);
        assert_eq!(
            status.human(),
            "table t\nleader eu-1 (epoch 7, lease renewed 2.5s ago)\nlog 42 events\n\
             node eu-1: applied 42, lag 0 events (reported 0.5s ago)\n\
             node us-1: applied 40, lag 2 events (reported 1.5s ago)\n"
        );
        assert_eq!(status.json()["nodes"][1]["lag"], 2);
        let lapsed = Status::of("t", Some(lease), 42, Vec::new(), 30_000);
        assert_eq!(lapsed.leader, None);
        assert!(lapsed.human().contains("the lease (epoch 7) lapsed"));
        assert!(
            Status::of("t", None, 0, Vec::new(), 0)
                .human()
                .contains("never taken")
        );
    }

    #[test]
    fn the_printed_creation_matches_the_tables_keys() {
        let text = creation_text("lifeboat-ha", "eu-west-1");
        assert!(text.contains("--table-name lifeboat-ha"));
        assert!(text.contains("--region eu-west-1"));
        assert!(text.contains("AttributeName=pk,KeyType=HASH"));
        assert!(text.contains("AttributeName=sk,KeyType=RANGE"));
        assert!(text.contains("Type: AWS::DynamoDB::Table"));
    }
}
