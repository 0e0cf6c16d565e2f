//! The DNS port: what Lifeboat does with Route 53 (read a record, point records at one side,
//! follow a change until it is INSYNC), its value types, and the pure rules that make a change
//! batch acceptable to Route 53 (lowercase FQDNs with a trailing dot). The adapter over
//! `aws-sdk-route53` is `crate::aws::Route53Dns`; the simulation `crate::aws::SimulatedAws`.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::AwsError;
use crate::config::DnsRecordConfig;
use crate::runbook::Side;

/// The record types Route 53 knows, as its API spells them (`aws_sdk_route53::types::RrType`;
/// a unit test of the adapter keeps the two lists equal).
pub const RECORD_TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV",
    "SSHFP", "SVCB", "TLSA", "TXT",
];

/// A record as Route 53 holds it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordState {
    /// Lowercase FQDN with a trailing dot.
    pub name: String,
    /// `CNAME`, `A`, ...
    #[serde(rename = "type")]
    pub rtype: String,
    /// `None` for alias records, which have no TTL of their own.
    pub ttl: Option<u32>,
    pub values: Vec<String>,
    /// The target of an alias record (values are then empty). Kept so an event shows what
    /// was really there: a change cannot restore an alias through `values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_target: Option<String>,
}

/// One record to UPSERT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordChange {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub values: Vec<String>,
    pub ttl: u32,
}

impl RecordChange {
    /// The change that points a configured record at one side of the failover.
    pub fn for_side(record: &DnsRecordConfig, ttl: u32, side: Side) -> Self {
        let value = match side {
            Side::Primary => &record.primary,
            Side::Standby => &record.standby,
        };
        RecordChange {
            name: record.name.clone(),
            rtype: record.record_type.clone(),
            values: vec![value.clone()],
            ttl,
        }
    }
}

/// What a record held just before a change, so the change can be reversed and recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    /// `None` when the record did not exist.
    pub state: Option<RecordState>,
}

/// A submitted change batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsChange {
    /// The bare change id (without `/change/`).
    pub change_id: String,
    pub status: ChangeStatus,
    /// One entry per change, in the order given.
    pub previous: Vec<PreviousRecord>,
}

/// Whether Route 53's name servers all answer with a change yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeStatus {
    Pending,
    #[serde(rename = "INSYNC")]
    InSync,
}

impl fmt::Display for ChangeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangeStatus::Pending => "PENDING",
            ChangeStatus::InSync => "INSYNC",
        })
    }
}

/// Route 53, as far as a failover needs it.
#[async_trait::async_trait]
pub trait Dns: Send + Sync {
    /// The record `name`/`rtype` in the zone, or `None` when there is none.
    async fn current_record(
        &self,
        zone_id: &str,
        name: &str,
        rtype: &str,
    ) -> Result<Option<RecordState>, AwsError>;

    /// UPSERTs every record in one change batch, after reading what each held before.
    async fn point_records(
        &self,
        zone_id: &str,
        changes: &[RecordChange],
    ) -> Result<DnsChange, AwsError>;

    /// Where a change stands; accepts the id with or without its `/change/` prefix.
    async fn change_status(&self, change_id: &str) -> Result<ChangeStatus, AwsError>;
}

/// `App.Example.com` → `app.example.com.`: the form Route 53 stores and answers with.
pub fn normalize_name(name: &str) -> String {
    let name = name.trim().to_ascii_lowercase();
    if name.ends_with('.') {
        name
    } else {
        format!("{name}.")
    }
}

/// The id without the `/change/` prefix that real Route 53 puts on it (moto leaves it off).
pub fn bare_change_id(id: &str) -> &str {
    let id = id.trim();
    id.strip_prefix("/change/").unwrap_or(id)
}

pub(crate) fn bare_zone_id(id: &str) -> &str {
    let id = id.trim();
    id.strip_prefix("/hostedzone/").unwrap_or(id)
}

pub(crate) fn normalize_type(rtype: &str) -> Result<String, AwsError> {
    let upper = rtype.trim().to_ascii_uppercase();
    if RECORD_TYPES.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(AwsError::Invalid(format!(
            "`{rtype}` is not a Route 53 record type (known: {})",
            RECORD_TYPES.join(", ")
        )))
    }
}

/// Checks and normalises a change batch: names (and CNAME targets) as lowercase FQDNs, known
/// types, at least one value, one CNAME target, each record at most once (Route 53 rejects
/// a batch that touches a record twice).
pub fn normalize_changes(changes: &[RecordChange]) -> Result<Vec<RecordChange>, AwsError> {
    if changes.is_empty() {
        return Err(AwsError::Invalid("no records to change".into()));
    }
    let mut seen = BTreeSet::new();
    let mut normalized = Vec::with_capacity(changes.len());
    for change in changes {
        let name = normalize_name(&change.name);
        if name == "." {
            return Err(AwsError::Invalid("a record needs a name".into()));
        }
        let rtype = normalize_type(&change.rtype)?;
        let values: Vec<String> = change
            .values
            .iter()
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(|v| {
                if rtype == "CNAME" {
                    normalize_name(v)
                } else {
                    v.to_owned()
                }
            })
            .collect();
        if values.is_empty() {
            return Err(AwsError::Invalid(format!("{name} {rtype}: no value given")));
        }
        if rtype == "CNAME" && values.len() > 1 {
            return Err(AwsError::Invalid(format!(
                "{name} CNAME: a CNAME has exactly one target, got {}",
                values.len()
            )));
        }
        if !seen.insert((name.clone(), rtype.clone())) {
            return Err(AwsError::Invalid(format!(
                "{name} {rtype} appears twice in one change"
            )));
        }
        normalized.push(RecordChange {
            name,
            rtype,
            values,
            ttl: change.ttl,
        });
    }
    Ok(normalized)
}

/// Polls until the change is INSYNC, or gives up after `timeout`. Throttling and transient
/// errors while polling do not end the wait; anything else does.
pub async fn wait_insync(
    dns: &dyn Dns,
    change_id: &str,
    poll: Duration,
    timeout: Duration,
) -> Result<(), AwsError> {
    super::poll_until(
        "Route 53 change",
        poll,
        timeout,
        || async {
            Ok(match dns.change_status(change_id).await? {
                ChangeStatus::InSync => super::Poll::Done(()),
                ChangeStatus::Pending => super::Poll::Pending(()),
            })
        },
        |_, last_error| {
            let why = last_error.map_or_else(
                || "still PENDING".to_owned(),
                |err| format!("last poll failed: {err}"),
            );
            AwsError::TimedOut(format!(
                "Route 53 change {} not INSYNC after {}: {why}",
                bare_change_id(change_id),
                crate::duration::HumanDuration(timeout)
            ))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn change(name: &str, rtype: &str, values: &[&str]) -> RecordChange {
        RecordChange {
            name: name.into(),
            rtype: rtype.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            ttl: 60,
        }
    }

    #[test]
    fn names_become_lowercase_fqdns() {
        assert_eq!(normalize_name("App.Example.COM"), "app.example.com.");
        assert_eq!(normalize_name(" app.example.com. "), "app.example.com.");
    }

    #[test]
    fn change_ids_lose_their_prefix() {
        assert_eq!(bare_change_id("/change/C2682N5HXP0BZ4"), "C2682N5HXP0BZ4");
        assert_eq!(bare_change_id("C2682N5HXP0BZ4"), "C2682N5HXP0BZ4");
    }

    #[test]
    fn cname_targets_are_normalised_other_values_are_not() {
        let normalized = normalize_changes(&[
            change(
                "App.Example.com",
                "cname",
                &["WEB-ALB.us-east-1.elb.amazonaws.com"],
            ),
            change("app.example.com", "TXT", &["\"Hello World\""]),
        ])
        .unwrap();
        assert_eq!(
            normalized[0],
            RecordChange {
                name: "app.example.com.".into(),
                rtype: "CNAME".into(),
                values: vec!["web-alb.us-east-1.elb.amazonaws.com.".into()],
                ttl: 60,
            }
        );
        assert_eq!(normalized[1].values, ["\"Hello World\""]);
    }

    #[test]
    fn bad_batches_are_invalid() {
        let cases = [
            (vec![], "no records"),
            (
                vec![change("a.example.com", "CNAMEX", &["x"])],
                "not a Route 53 record type",
            ),
            (vec![change("a.example.com", "A", &[" "])], "no value"),
            (
                vec![change("a.example.com", "CNAME", &["x", "y"])],
                "exactly one target",
            ),
            (
                vec![
                    change("a.example.com", "CNAME", &["x"]),
                    change("A.example.com.", "cname", &["y"]),
                ],
                "appears twice",
            ),
            (vec![change("", "A", &["10.0.0.1"])], "needs a name"),
        ];
        for (changes, expected) in cases {
            let err = normalize_changes(&changes).unwrap_err();
            assert!(matches!(err, AwsError::Invalid(_)), "{err:?}");
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn a_configured_record_gives_the_change_for_each_side() {
        let record = DnsRecordConfig {
            name: "app.example.com".into(),
            record_type: "CNAME".into(),
            primary: "myapp.herokudns.com".into(),
            standby: "web-alb.elb.amazonaws.com".into(),
        };
        let standby = RecordChange::for_side(&record, 60, Side::Standby);
        assert_eq!(standby.values, ["web-alb.elb.amazonaws.com"]);
        assert_eq!(standby.ttl, 60);
        let primary = RecordChange::for_side(&record, 60, Side::Primary);
        assert_eq!(primary.values, ["myapp.herokudns.com"]);
    }

    #[test]
    fn change_status_serialises_as_aws_writes_it() {
        assert_eq!(
            serde_json::to_string(&ChangeStatus::InSync).unwrap(),
            "\"INSYNC\""
        );
        assert_eq!(
            serde_json::to_string(&ChangeStatus::Pending).unwrap(),
            "\"PENDING\""
        );
        assert_eq!(ChangeStatus::InSync.to_string(), "INSYNC");
    }

    /// Answers PENDING until `pending` polls have been made, then INSYNC (or keeps failing).
    struct FakeDns {
        answers: Mutex<Vec<Result<ChangeStatus, AwsError>>>,
        polls: Mutex<u32>,
    }

    impl FakeDns {
        fn new(mut answers: Vec<Result<ChangeStatus, AwsError>>) -> Self {
            answers.reverse();
            Self {
                answers: Mutex::new(answers),
                polls: Mutex::new(0),
            }
        }

        fn polls(&self) -> u32 {
            *self.polls.lock().unwrap()
        }
    }

    #[async_trait::async_trait]
    impl Dns for FakeDns {
        async fn current_record(
            &self,
            _: &str,
            _: &str,
            _: &str,
        ) -> Result<Option<RecordState>, AwsError> {
            panic!("wait_insync only polls change_status")
        }

        async fn point_records(&self, _: &str, _: &[RecordChange]) -> Result<DnsChange, AwsError> {
            panic!("wait_insync only polls change_status")
        }

        async fn change_status(&self, change_id: &str) -> Result<ChangeStatus, AwsError> {
            assert_eq!(change_id, "/change/C1");
            *self.polls.lock().unwrap() += 1;
            let mut answers = self.answers.lock().unwrap();
            if answers.len() > 1 {
                answers.pop().unwrap()
            } else {
                answers[0].clone()
            }
        }
    }

    const POLL: Duration = Duration::from_secs(5);

    #[tokio::test(start_paused = true)]
    async fn wait_insync_polls_until_insync() {
        let dns = FakeDns::new(vec![
            Ok(ChangeStatus::Pending),
            Err(AwsError::Throttled("slow down".into())),
            Ok(ChangeStatus::Pending),
            Ok(ChangeStatus::InSync),
        ]);
        wait_insync(&dns, "/change/C1", POLL, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(dns.polls(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_insync_times_out_naming_the_change() {
        let dns = FakeDns::new(vec![Ok(ChangeStatus::Pending)]);
        let started = tokio::time::Instant::now();
        let err = wait_insync(&dns, "/change/C1", POLL, Duration::from_secs(10 * 60))
            .await
            .unwrap_err();
        assert!(matches!(err, AwsError::TimedOut(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "Route 53 change C1 not INSYNC after 10m: still PENDING"
        );
        assert!(!err.is_retryable());
        assert_eq!(started.elapsed(), Duration::from_secs(10 * 60));
        assert_eq!(
            dns.polls(),
            10 * 60 / 5 + 1,
            "one poll every 5s, and one at the deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn wait_insync_stops_at_an_error_that_will_not_go_away() {
        let dns = FakeDns::new(vec![
            Ok(ChangeStatus::Pending),
            Err(AwsError::not_found("Route 53 change C1", "NoSuchChange")),
        ]);
        let err = wait_insync(&dns, "/change/C1", POLL, Duration::from_secs(30))
            .await
            .unwrap_err();
        assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
        assert_eq!(dns.polls(), 2);
    }
}
