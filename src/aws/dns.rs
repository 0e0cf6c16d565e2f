//! The Route 53 adapter: the `Dns` port (`crate::ports::aws`) over `aws-sdk-route53`, and the
//! undoing of the escapes Route 53 puts in the names it returns.

use std::fmt;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus as SdkChangeStatus, ResourceRecord,
    ResourceRecordSet, RrType,
};
use tracing::instrument;

use super::error::{Call, classify};
use crate::ports::aws::{
    AwsError, ChangeStatus, Dns, DnsChange, PreviousRecord, RecordChange, RecordState,
    bare_change_id, bare_zone_id, normalize_changes, normalize_name, normalize_type,
};

/// Undoes Route 53's `\NNN` octal escapes in names it returns (`\052` is `*`).
fn unescape_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(code) = bytes
                .get(i + 1..i + 4)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        {
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn record_resource(zone_id: &str, name: &str, rtype: &str) -> String {
    format!("Route 53 record {name} {rtype} in hosted zone {zone_id}")
}

/// The real adapter: Route 53 through `aws-sdk-route53`.
#[derive(Debug, Clone)]
pub struct Route53Dns {
    client: aws_sdk_route53::Client,
}

impl Route53Dns {
    pub fn new(client: aws_sdk_route53::Client) -> Self {
        Self { client }
    }
}

fn to_record_state(set: &ResourceRecordSet) -> RecordState {
    RecordState {
        name: normalize_name(&unescape_name(set.name())),
        rtype: set.r#type().as_str().to_owned(),
        ttl: set.ttl().and_then(|ttl| u32::try_from(ttl).ok()),
        values: set
            .resource_records()
            .iter()
            .map(|r| r.value().to_owned())
            .collect(),
        alias_target: set.alias_target().map(|a| a.dns_name().to_owned()),
    }
}

fn to_change_status(status: &SdkChangeStatus, change_id: &str) -> Result<ChangeStatus, AwsError> {
    match status {
        SdkChangeStatus::Insync => Ok(ChangeStatus::InSync),
        SdkChangeStatus::Pending => Ok(ChangeStatus::Pending),
        other => Err(AwsError::Other(format!(
            "Route 53 change {change_id}: unknown status `{}`",
            other.as_str()
        ))),
    }
}

fn build_error(resource: &str, err: impl fmt::Display) -> AwsError {
    AwsError::Invalid(format!("{resource}: cannot build the request: {err}"))
}

#[async_trait::async_trait]
impl Dns for Route53Dns {
    #[instrument(skip_all, fields(zone_id = %zone_id, name = %name, rtype = %rtype))]
    async fn current_record(
        &self,
        zone_id: &str,
        name: &str,
        rtype: &str,
    ) -> Result<Option<RecordState>, AwsError> {
        let name = normalize_name(name);
        let rtype = normalize_type(rtype)?;
        let zone_id = bare_zone_id(zone_id);
        // Listing can only fail for the zone: a missing record is simply not listed.
        let zone_resource = format!("Route 53 hosted zone {zone_id}");
        // Listing starts at (name, type) in Route 53's order, so the first few entries are the
        // record itself, if it exists, and its routing-policy siblings.
        let listed = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .start_record_name(&name)
            .start_record_type(RrType::from(rtype.as_str()))
            .max_items(10)
            .send()
            .await
            .map_err(|err| {
                classify(
                    Call {
                        operation: "ListResourceRecordSets",
                        resource: &zone_resource,
                    },
                    &err,
                )
            })?;
        let matching: Vec<&ResourceRecordSet> = listed
            .resource_record_sets()
            .iter()
            .filter(|set| {
                normalize_name(&unescape_name(set.name())) == name && set.r#type().as_str() == rtype
            })
            .collect();
        if matching.iter().any(|set| set.set_identifier().is_some()) {
            // Weighted/failover/latency sets need their set identifier in every change;
            // overwriting them with a simple record would silently drop the routing policy.
            return Err(AwsError::Invalid(format!(
                "{} uses a routing policy (set identifiers); Lifeboat only moves simple records",
                record_resource(zone_id, &name, &rtype)
            )));
        }
        Ok(matching.first().map(|set| to_record_state(set)))
    }

    #[instrument(skip_all, fields(zone_id = %zone_id, records = changes.len(), change_id))]
    async fn point_records(
        &self,
        zone_id: &str,
        changes: &[RecordChange],
    ) -> Result<DnsChange, AwsError> {
        let zone_id = bare_zone_id(zone_id);
        let changes = normalize_changes(changes)?;
        let mut previous = Vec::with_capacity(changes.len());
        let mut batch = ChangeBatch::builder().comment("lifeboat");
        for change in &changes {
            let state = self
                .current_record(zone_id, &change.name, &change.rtype)
                .await?;
            previous.push(PreviousRecord {
                name: change.name.clone(),
                rtype: change.rtype.clone(),
                state,
            });
            let resource = record_resource(zone_id, &change.name, &change.rtype);
            let records = change
                .values
                .iter()
                .map(|value| ResourceRecord::builder().value(value).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| build_error(&resource, err))?;
            let set = ResourceRecordSet::builder()
                .name(&change.name)
                .r#type(RrType::from(change.rtype.as_str()))
                .ttl(i64::from(change.ttl))
                .set_resource_records(Some(records))
                .build()
                .map_err(|err| build_error(&resource, err))?;
            let upsert = Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(set)
                .build()
                .map_err(|err| build_error(&resource, err))?;
            batch = batch.changes(upsert);
        }
        let zone_resource = format!("Route 53 hosted zone {zone_id}");
        let batch = batch
            .build()
            .map_err(|err| build_error(&zone_resource, err))?;
        let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
        let batch_resource = format!("{zone_resource} (records {})", names.join(", "));
        let answer = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|err| {
                classify(
                    Call {
                        operation: "ChangeResourceRecordSets",
                        resource: &batch_resource,
                    },
                    &err,
                )
            })?;
        let info = answer.change_info().ok_or_else(|| {
            AwsError::Other(format!(
                "{batch_resource}: ChangeResourceRecordSets answered without ChangeInfo"
            ))
        })?;
        let change_id = bare_change_id(info.id()).to_owned();
        tracing::Span::current().record("change_id", change_id.as_str());
        let status = to_change_status(info.status(), &change_id)?;
        tracing::info!(%status, "records pointed");
        Ok(DnsChange {
            change_id,
            status,
            previous,
        })
    }

    #[instrument(skip_all, fields(change_id = %change_id))]
    async fn change_status(&self, change_id: &str) -> Result<ChangeStatus, AwsError> {
        let id = bare_change_id(change_id);
        let resource = format!("Route 53 change {id}");
        let answer = self
            .client
            .get_change()
            .id(id)
            .send()
            .await
            .map_err(|err| {
                classify(
                    Call {
                        operation: "GetChange",
                        resource: &resource,
                    },
                    &err,
                )
            })?;
        let info = answer.change_info().ok_or_else(|| {
            AwsError::Other(format!("{resource}: GetChange answered without ChangeInfo"))
        })?;
        to_change_status(info.status(), id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route53_escapes_are_undone() {
        assert_eq!(unescape_name("\\052.example.com."), "*.example.com.");
        assert_eq!(unescape_name("plain.example.com."), "plain.example.com.");
        assert_eq!(unescape_name("odd\\9x"), "odd\\9x");
    }

    #[test]
    fn the_record_types_are_route53s() {
        assert_eq!(crate::ports::aws::RECORD_TYPES, RrType::values());
    }
}
