//! `lifeboat iam-policy`: the least-privilege AWS IAM policy Lifeboat needs, generated from the
//! config (which zone, records, cluster and services) and the runbooks (which step kinds run).
//!
//! Each action below is one API call made in `src/aws/` (an integration test holds the two in
//! step): `ecs_scale` reads and updates services; `llm_switch` registers task definition
//! revisions and updates services; `route53_upsert` reads a record then UPSERTs it;
//! `route53_wait` follows the change; `lifeboat readiness`, `parity` and `plan` only read;
//! `[data.backups] bucket` lists, reads and writes objects under its prefix; `[ha] table` (in
//! `src/ha/`) is read, written conditionally and created.
//! Resources are the configured ones, by ARN, except where AWS offers no resource-level
//! permission (`ecs:DescribeTaskDefinition`) or cannot know the name in advance (change ids).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::config::{AwsConfig, AwsMode, Config};
use crate::ports::aws::normalize_name;
use crate::runbook::{Runbook, StepAction};

/// Stands for the account id in ARNs when `[aws] account_id` is not set.
pub const ACCOUNT_PLACEHOLDER: &str = "ACCOUNT_ID_NOT_SET";

/// A generated policy and what the operator should know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The IAM policy document (`Version`, `Statement`).
    pub document: Value,
    /// Things to fix or know before attaching it (printed on stderr).
    pub notes: Vec<String>,
}

impl Policy {
    /// Every action the policy allows, e.g. `ecs:UpdateService`.
    pub fn actions(&self) -> BTreeSet<String> {
        self.document["Statement"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect()
    }
}

/// The ARN partition of a region (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// A record name as `route53:ChangeResourceRecordSetsNormalizedRecordNames` compares it:
/// lowercase, no trailing dot, and every character other than `a-z 0-9 - _ .` as `\` + three
/// octal digits (`*` is `\052`).
pub fn normalized_record_name(name: &str) -> String {
    let name = normalize_name(name);
    let name = name.strip_suffix('.').unwrap_or(&name);
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'-' | b'_' | b'.')
        {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("\\{byte:03o}"));
        }
    }
    out
}

/// What the runbooks make Lifeboat do to AWS.
#[derive(Debug, Default)]
struct Usage {
    /// Services scaled by `ecs_scale` steps.
    scaled: BTreeSet<String>,
    /// Records (name, type) changed by `route53_upsert` steps.
    changed: BTreeSet<(String, String)>,
    waits_for_changes: bool,
    /// Services an `llm_switch` may deploy a new task definition revision to.
    switched: BTreeSet<String>,
}

fn usage(config: &Config, runbooks: &[Runbook]) -> Usage {
    let mut usage = Usage::default();
    for step in runbooks.iter().flat_map(|r| &r.steps) {
        match &step.action {
            StepAction::EcsScale(args) => {
                if let Some(ecs) = &config.aws.ecs {
                    usage.scaled.extend(
                        ecs.services
                            .iter()
                            .filter(|s| args.services.is_empty() || args.services.contains(&s.name))
                            .map(|s| s.name.clone()),
                    );
                }
            }
            StepAction::Route53Upsert(args) => {
                if let Some(dns) = &config.aws.dns {
                    usage.changed.extend(
                        dns.records
                            .iter()
                            .filter(|r| args.records.is_empty() || args.records.contains(&r.name))
                            .map(|r| (r.name.clone(), r.record_type.to_ascii_uppercase())),
                    );
                }
            }
            StepAction::Route53Wait(_) => usage.waits_for_changes = true,
            StepAction::LlmSwitch(args) => {
                if let Some(ecs) = &config.aws.ecs {
                    usage.switched.extend(
                        ecs.services
                            .iter()
                            .filter(|s| args.services.is_empty() || args.services.contains(&s.name))
                            .map(|s| s.name.clone()),
                    );
                }
            }
            _ => {}
        }
    }
    usage
}

fn statement(sid: &str, actions: &[&str], resources: Vec<String>) -> Value {
    json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": if resources.len() == 1 { json!(resources[0]) } else { json!(resources) },
    })
}

/// The policy for `config` and `runbooks`. Pure.
pub fn policy(config: &Config, runbooks: &[Runbook]) -> Policy {
    let aws = &config.aws;
    let part = partition(&aws.region);
    let mut notes = Vec::new();
    let account = account_id(aws, &mut notes);
    if aws.mode == AwsMode::Simulated {
        notes.push(
            "[aws] mode is simulated: this is the policy `mode = \"live\"` will need".to_owned(),
        );
    }
    let used = usage(config, runbooks);
    let mut statements = dns_statements(aws, part, &used, &mut notes);
    statements.extend(ecs_statements(aws, part, &account, &used, &mut notes));
    statements.extend(backup_statements(config, part));
    statements.extend(ha_statements(config, part, &account, &mut notes));
    Policy {
        document: json!({ "Version": "2012-10-17", "Statement": statements }),
        notes,
    }
}

/// `[aws] account_id`, or the placeholder with a note to replace it.
fn account_id(aws: &AwsConfig, notes: &mut Vec<String>) -> String {
    match &aws.account_id {
        Some(id) => id.clone(),
        None => {
            notes.push(format!(
                "[aws] account_id is not set: the ECS ARNs say {ACCOUNT_PLACEHOLDER}; set it (or replace the placeholder) before attaching the policy"
            ));
            ACCOUNT_PLACEHOLDER.to_owned()
        }
    }
}

/// Route 53 in the configured zone: reading its records, UPSERTing only the records the
/// runbooks move (by name, type and action), following changes when a runbook waits for them.
fn dns_statements(
    aws: &AwsConfig,
    part: &str,
    used: &Usage,
    notes: &mut Vec<String>,
) -> Vec<Value> {
    let mut statements = Vec::new();
    let Some(dns) = &aws.dns else {
        if !used.changed.is_empty() || used.waits_for_changes {
            notes.push("runbooks move DNS but the config has no [aws.dns]".to_owned());
        }
        return statements;
    };
    let zone = dns.zone_id.trim();
    let zone = zone.strip_prefix("/hostedzone/").unwrap_or(zone);
    let zone_arn = format!("arn:{part}:route53:::hostedzone/{zone}");
    // Readiness and `route53_upsert` (which records what it replaces) read the records.
    statements.push(statement(
        "ReadStandbyRecords",
        &["route53:ListResourceRecordSets"],
        vec![zone_arn.clone()],
    ));
    if !used.changed.is_empty() {
        let names: BTreeSet<String> = used
            .changed
            .iter()
            .map(|(name, _)| normalized_record_name(name))
            .collect();
        let types: BTreeSet<&str> = used.changed.iter().map(|(_, t)| t.as_str()).collect();
        let mut moved = statement(
            "MoveStandbyRecords",
            &["route53:ChangeResourceRecordSets"],
            vec![zone_arn],
        );
        moved["Condition"] = json!({
            "ForAllValues:StringEquals": {
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
                "route53:ChangeResourceRecordSetsRecordTypes": types,
                "route53:ChangeResourceRecordSetsActions": ["UPSERT"],
            }
        });
        statements.push(moved);
    }
    if used.waits_for_changes {
        // Change ids are only known once a change is made.
        statements.push(statement(
            "FollowDnsChanges",
            &["route53:GetChange"],
            vec![format!("arn:{part}:route53:::change/*")],
        ));
    }
    statements
}

/// ECS in the standby cluster: describing the cluster and its services, updating only the
/// services the runbooks scale or switch, registering task definitions for an LLM switch.
fn ecs_statements(
    aws: &AwsConfig,
    part: &str,
    account: &str,
    used: &Usage,
    notes: &mut Vec<String>,
) -> Vec<Value> {
    let mut statements = Vec::new();
    let Some(ecs) = &aws.ecs else {
        if !used.scaled.is_empty() {
            notes.push("runbooks scale ECS services but the config has no [aws.ecs]".to_owned());
        }
        return statements;
    };
    let prefix = format!("arn:{part}:ecs:{}:{account}", aws.region);
    let service_arn = |name: &str| format!("{prefix}:service/{}/{name}", ecs.cluster);
    statements.push(statement(
        "ReadStandbyCluster",
        &["ecs:DescribeClusters"],
        vec![format!("{prefix}:cluster/{}", ecs.cluster)],
    ));
    statements.push(statement(
        "ReadStandbyServices",
        &["ecs:DescribeServices"],
        ecs.services.iter().map(|s| service_arn(&s.name)).collect(),
    ));
    if !used.scaled.is_empty() {
        statements.push(statement(
            "ScaleStandbyServices",
            &["ecs:UpdateService"],
            used.scaled.iter().map(|s| service_arn(s)).collect(),
        ));
    }
    if !used.switched.is_empty() {
        // After a hosting failover the LLM switch registers a new revision (no
        // resource-level permissions: "*") and deploys it to the services.
        statements.push(statement(
            "RegisterTaskDefinitions",
            &["ecs:RegisterTaskDefinition"],
            vec!["*".to_owned()],
        ));
        statements.push(statement(
            "DeployStandbyServices",
            &["ecs:UpdateService"],
            used.switched.iter().map(|s| service_arn(s)).collect(),
        ));
        notes.push(
            "runbooks switch the LLM on AWS by registering task definitions: if those name a task or execution role, also allow iam:PassRole on those roles (their ARNs are not in the config)".to_owned(),
        );
    }
    // DescribeTaskDefinition has no resource-level permissions: AWS requires "*".
    statements.push(statement(
        "ReadTaskDefinitions",
        &["ecs:DescribeTaskDefinition"],
        vec!["*".to_owned()],
    ));
    statements
}

/// The S3 backup store of `[data.backups]`: listing under the prefix (the newest backup),
/// reading (`HeadObject` and `GetObject` are both `s3:GetObject`) and writing
/// (`lifeboat db backup` and the schedule) objects under it, nothing else in the bucket.
fn backup_statements(config: &Config, part: &str) -> Vec<Value> {
    let Some(crate::config::BackupLocation::S3 { bucket, prefix }) =
        config.data.as_ref().and_then(|d| d.backups.location())
    else {
        return Vec::new();
    };
    let mut list = statement(
        "ListBackups",
        &["s3:ListBucket"],
        vec![format!("arn:{part}:s3:::{bucket}")],
    );
    list["Condition"] = json!({ "StringLike": { "s3:prefix": [format!("{prefix}*")] } });
    let objects = format!("arn:{part}:s3:::{bucket}/{prefix}*");
    vec![
        list,
        statement("ReadBackups", &["s3:GetObject"], vec![objects.clone()]),
        // A multipart upload's parts are PutObject; aborting a failed one is its own action.
        statement(
            "WriteBackups",
            &["s3:PutObject", "s3:AbortMultipartUpload"],
            vec![objects],
        ),
    ]
}

/// The `[ha]` table, and only it: the lease (`GetItem`, `UpdateItem`), the fenced appends (a
/// `TransactWriteItems` is authorised item by item: `ConditionCheckItem` on the lease, `PutItem`
/// for each event), the reads of the log (`Query`), each node's applied seq (`PutItem`), and
/// `lifeboat ha init` (`CreateTable`, `DescribeTable`).
fn ha_statements(
    config: &Config,
    part: &str,
    account: &str,
    notes: &mut Vec<String>,
) -> Vec<Value> {
    let Some(ha) = &config.ha else {
        return Vec::new();
    };
    let table = format!(
        "arn:{part}:dynamodb:{}:{account}:table/{}",
        config.aws.region, ha.table
    );
    notes.push(format!(
        "[ha]: CreateTable and DescribeTable on {} are only for `lifeboat ha init`; drop the InitHaTable statement once the table exists",
        ha.table
    ));
    vec![
        statement(
            "HaLeaseAndLog",
            &[
                "dynamodb:GetItem",
                "dynamodb:UpdateItem",
                "dynamodb:ConditionCheckItem",
                "dynamodb:PutItem",
                "dynamodb:Query",
            ],
            vec![table.clone()],
        ),
        statement(
            "InitHaTable",
            &["dynamodb:CreateTable", "dynamodb:DescribeTable"],
            vec![table],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Workstream;
    use crate::duration::HumanDuration;
    use crate::runbook::{EcsScale, OnFailure, Route53Upsert, Route53Wait, Side, Step};
    use crate::toml_source::TomlSource;

    const CONFIG: &str = r#"
[objectives]
hosting_rto = "4h"
llm_rto = "2h"
rpo = "1h"

[aws]
mode = "live"
region = "eu-west-1"
account_id = "123456789012"

[aws.ecs]
cluster = "standby"
services = [{ name = "web", standby = 3 }, { name = "worker", standby = 2 }]

[aws.dns]
zone_id = "/hostedzone/Z0123"
records = [
  { name = "App.Example.com.", primary = "a.herokudns.com", standby = "alb.aws.com" },
  { name = "*.example.com", type = "cname", primary = "a.herokudns.com", standby = "alb.aws.com" },
]
"#;

    fn config(text: &str) -> Config {
        Config::from_source(TomlSource::new("t.toml", text))
            .unwrap()
            .config
    }

    fn step(id: &str, action: StepAction) -> Step {
        Step {
            id: id.into(),
            title: id.into(),
            action,
            timeout: HumanDuration::from_secs(60),
            retries: 0,
            backoff: HumanDuration::from_secs(2),
            idempotent: true,
            on_failure: OnFailure::Abort,
        }
    }

    fn runbook(steps: Vec<Step>) -> Runbook {
        Runbook {
            name: "failover".into(),
            title: "Failover".into(),
            description: None,
            workstream: Workstream::Hosting,
            approval: Default::default(),
            params: Vec::new(),
            steps,
            source: "failover.toml".into(),
            file_hash: String::new(),
        }
    }

    fn failover() -> Runbook {
        runbook(vec![
            step(
                "scale",
                StepAction::EcsScale(EcsScale {
                    to: Side::Standby,
                    services: vec!["web".into()],
                    count: None,
                }),
            ),
            step(
                "dns",
                StepAction::Route53Upsert(Route53Upsert {
                    to: Side::Standby,
                    records: Vec::new(),
                }),
            ),
            step(
                "insync",
                StepAction::Route53Wait(Route53Wait {
                    change_of: "dns".into(),
                    poll: HumanDuration::from_secs(5),
                }),
            ),
        ])
    }

    fn by_sid<'a>(policy: &'a Policy, sid: &str) -> &'a Value {
        policy.document["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid}: {:#}", policy.document))
    }

    #[test]
    fn a_failover_gets_exactly_its_actions_on_the_configured_resources() {
        let p = policy(&config(CONFIG), &[failover()]);
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        assert_eq!(p.document["Version"], "2012-10-17");
        assert_eq!(
            p.actions().into_iter().collect::<Vec<_>>(),
            [
                "ecs:DescribeClusters",
                "ecs:DescribeServices",
                "ecs:DescribeTaskDefinition",
                "ecs:UpdateService",
                "route53:ChangeResourceRecordSets",
                "route53:GetChange",
                "route53:ListResourceRecordSets",
            ]
        );
        assert_eq!(
            by_sid(&p, "ScaleStandbyServices")["Resource"],
            "arn:aws:ecs:eu-west-1:123456789012:service/standby/web",
            "only the scaled service may be updated"
        );
        assert_eq!(
            by_sid(&p, "ReadStandbyServices")["Resource"],
            json!([
                "arn:aws:ecs:eu-west-1:123456789012:service/standby/web",
                "arn:aws:ecs:eu-west-1:123456789012:service/standby/worker"
            ])
        );
        assert_eq!(
            by_sid(&p, "ReadStandbyCluster")["Resource"],
            "arn:aws:ecs:eu-west-1:123456789012:cluster/standby"
        );
        let moved = by_sid(&p, "MoveStandbyRecords");
        assert_eq!(moved["Resource"], "arn:aws:route53:::hostedzone/Z0123");
        let condition = &moved["Condition"]["ForAllValues:StringEquals"];
        assert_eq!(
            condition["route53:ChangeResourceRecordSetsNormalizedRecordNames"],
            json!(["\\052.example.com", "app.example.com"])
        );
        assert_eq!(
            condition["route53:ChangeResourceRecordSetsRecordTypes"],
            json!(["CNAME"])
        );
        assert_eq!(
            condition["route53:ChangeResourceRecordSetsActions"],
            json!(["UPSERT"])
        );
        assert_eq!(
            by_sid(&p, "FollowDnsChanges")["Resource"],
            "arn:aws:route53:::change/*"
        );
        assert_eq!(by_sid(&p, "ReadTaskDefinitions")["Resource"], "*");
    }

    #[test]
    fn only_what_the_runbooks_do_is_allowed() {
        let p = policy(&config(CONFIG), &[]);
        let actions = p.actions();
        assert!(!actions.contains("ecs:UpdateService"), "{actions:?}");
        assert!(!actions.contains("route53:ChangeResourceRecordSets"));
        assert!(!actions.contains("route53:GetChange"));
        assert!(
            actions.contains("ecs:DescribeServices"),
            "readiness still reads"
        );
    }

    #[test]
    fn an_llm_switch_may_register_task_definitions_and_deploy_its_services() {
        let switch = runbook(vec![step(
            "flip",
            StepAction::LlmSwitch(crate::runbook::LlmSwitch {
                provider: "anthropic".into(),
                services: vec!["web".into()],
            }),
        )]);
        let p = policy(&config(CONFIG), &[switch]);
        assert_eq!(by_sid(&p, "RegisterTaskDefinitions")["Resource"], "*");
        assert_eq!(
            by_sid(&p, "DeployStandbyServices")["Resource"],
            "arn:aws:ecs:eu-west-1:123456789012:service/standby/web"
        );
        assert!(p.actions().contains("ecs:RegisterTaskDefinition"));
        assert!(
            p.notes.iter().any(|n| n.contains("iam:PassRole")),
            "{:?}",
            p.notes
        );
    }

    #[test]
    fn a_missing_account_id_is_a_marked_placeholder_with_a_note() {
        let text = CONFIG.replace("account_id = \"123456789012\"\n", "");
        let p = policy(&config(&text), &[failover()]);
        assert!(
            by_sid(&p, "ReadStandbyCluster")["Resource"]
                .as_str()
                .unwrap()
                .contains(":ACCOUNT_ID_NOT_SET:cluster/standby")
        );
        assert!(
            p.notes[0].contains("[aws] account_id is not set"),
            "{:?}",
            p.notes
        );
    }

    #[test]
    fn partitions_and_names_follow_aws_rules() {
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("us-east-1"), "aws");
        assert_eq!(
            normalized_record_name("WWW.Example.COM."),
            "www.example.com"
        );
        assert_eq!(
            normalized_record_name("*.a_b-c.example.com"),
            "\\052.a_b-c.example.com"
        );
    }
}
