//! The S3 backup store: dumps under `[data.backups] bucket` and `prefix`, named by their
//! completion time, each with its completion time (and snapshot time and SHA-256) in the
//! object's metadata and its manifest beside it as `<key>.json`; a dump above 256 MiB goes up
//! as a multipart upload (one PutObject takes at most 5 GB). The client comes from the same
//! SDK config as Route 53 and ECS (`[aws]`: region, credentials chain, `endpoint_url`), with
//! path-style addressing so a loopback endpoint (moto) works.

use std::path::Path;

use async_trait::async_trait;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::error::{Call, classify};
use crate::db::dir_store::check_digest;
use crate::ports::aws::AwsError;
use crate::ports::data::{
    BackupInfo, BackupStore, DataError, LocalBackup, Manifest, key_time, stamp,
};

/// The S3 client for backups, from the shared SDK config.
pub fn client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        // Virtual-host names (`bucket.127.0.0.1`) do not resolve on loopback or in a VPC
        // endpoint without private DNS; path style works everywhere S3 does.
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

#[derive(Debug, Clone)]
pub struct S3Backups {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    /// Dumps larger than this go up in parts: one PutObject takes at most 5 GB.
    multipart_above: u64,
    part_size: u64,
}

/// Above this a dump is uploaded in parts (well under PutObject's 5 GB limit).
const MULTIPART_ABOVE: u64 = 256 * 1024 * 1024;
/// 10,000 parts of 64 MiB hold 640 GiB; S3 takes parts of 5 MiB to 5 GiB.
const PART_SIZE: u64 = 64 * 1024 * 1024;
/// S3's smallest part (all but the last).
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

fn data_error(err: AwsError) -> DataError {
    match err {
        AwsError::NotFound { .. } => DataError::NotFound(err.to_string()),
        AwsError::Throttled(_) | AwsError::Transient(_) => DataError::Store(err.to_string()),
        AwsError::TimedOut(m) => DataError::TimedOut(m),
        AwsError::Invalid(_) | AwsError::Other(_) => DataError::Store(err.to_string()),
    }
}

impl S3Backups {
    pub fn new(client: aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Self {
        Self {
            client,
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            multipart_above: MULTIPART_ABOVE,
            part_size: PART_SIZE,
        }
    }

    /// Uploads dumps larger than `above` bytes in parts of `part_size` (at least S3's 5 MiB).
    pub fn with_multipart(mut self, above: u64, part_size: u64) -> Self {
        self.multipart_above = above;
        self.part_size = part_size.max(MIN_PART_SIZE);
        self
    }

    /// Uploads `file` as `key` in parts; a failed upload is aborted, so no parts linger
    /// (and are billed) in the bucket.
    async fn put_in_parts(
        &self,
        file: &Path,
        size: u64,
        manifest: &Manifest,
        call: Call<'_>,
    ) -> Result<(), DataError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&manifest.key)
            .content_type("application/octet-stream")
            .metadata("completed-at", stamp(manifest.completed_at))
            .metadata("started-at", stamp(manifest.started_at))
            .metadata("sha256", &manifest.sha256)
            .send()
            .await
            .map_err(|e| {
                let call = Call {
                    operation: "CreateMultipartUpload",
                    ..call
                };
                data_error(classify(call, &e))
            })?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        let uploaded = self
            .upload_parts(file, size, &manifest.key, &upload_id, call)
            .await;
        let completed = match uploaded {
            Ok(parts) => self
                .client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(&manifest.key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    let call = Call {
                        operation: "CompleteMultipartUpload",
                        ..call
                    };
                    data_error(classify(call, &e))
                }),
            Err(err) => Err(err),
        };
        if completed.is_err() {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&manifest.key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        completed
    }

    async fn upload_parts(
        &self,
        file: &Path,
        size: u64,
        key: &str,
        upload_id: &str,
        call: Call<'_>,
    ) -> Result<Vec<CompletedPart>, DataError> {
        let mut parts = Vec::new();
        let mut offset = 0u64;
        let mut number = 1i32;
        while offset < size {
            let length = self.part_size.min(size - offset);
            let body = ByteStream::read_from()
                .path(file)
                .offset(offset)
                .length(Length::Exact(length))
                .build()
                .await
                .map_err(|e| DataError::Tool(format!("cannot read the dump: {e}")))?;
            let part = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(body)
                .send()
                .await
                .map_err(|e| {
                    let call = Call {
                        operation: "UploadPart",
                        ..call
                    };
                    data_error(classify(call, &e))
                })?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(part.e_tag().map(str::to_owned))
                    .build(),
            );
            offset += length;
            number += 1;
        }
        Ok(parts)
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    async fn manifest(&self, key: &str) -> Option<Manifest> {
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(format!("{key}.json"))
            .send()
            .await
            .ok()?;
        let bytes = got.body.collect().await.ok()?.into_bytes();
        serde_json::from_slice(&bytes).ok()
    }
}

#[async_trait]
impl BackupStore for S3Backups {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    async fn latest(&self) -> Result<Option<BackupInfo>, DataError> {
        let resource = self.location();
        let call = Call {
            operation: "ListObjectsV2",
            resource: &resource,
        };
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .into_paginator()
            .send();
        let mut newest: Option<(DateTime<Utc>, String)> = None;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| data_error(classify(call, &e)))?;
            for object in page.contents() {
                let Some(key) = object.key().filter(|k| k.ends_with(".dump")) else {
                    continue;
                };
                let modified = object
                    .last_modified()
                    .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
                let Some(at) = key_time(key).or(modified) else {
                    continue;
                };
                if newest
                    .as_ref()
                    .is_none_or(|(t, k)| (at, key) > (*t, k.as_str()))
                {
                    newest = Some((at, key.to_owned()));
                }
            }
        }
        match newest {
            Some((_, key)) => self.get(&key).await.map(Some),
            None => Ok(None),
        }
    }

    async fn get(&self, key: &str) -> Result<BackupInfo, DataError> {
        let location = self.url(key);
        let call = Call {
            operation: "HeadObject",
            resource: &location,
        };
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| match classify(call, &e) {
                err if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                    DataError::NotFound(format!("no backup {location}: {err}"))
                }
                err => data_error(err),
            })?;
        let manifest = self.manifest(key).await;
        let from_meta = head
            .metadata()
            .and_then(|m| m.get("completed-at"))
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let modified = head
            .last_modified()
            .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
        let completed_at = manifest
            .as_ref()
            .map(|m| m.completed_at)
            .or(from_meta)
            .or_else(|| key_time(key))
            .or(modified)
            .unwrap_or_else(Utc::now);
        Ok(BackupInfo {
            key: key.to_owned(),
            location,
            completed_at,
            size: head.content_length().unwrap_or_default().max(0) as u64,
            manifest,
        })
    }

    async fn put(&self, file: &Path, manifest: &Manifest) -> Result<BackupInfo, DataError> {
        let location = self.url(&manifest.key);
        let call = Call {
            operation: "PutObject",
            resource: &location,
        };
        let size = tokio::fs::metadata(file)
            .await
            .map_err(|e| DataError::Tool(format!("cannot read the dump: {e}")))?
            .len();
        // The manifest first: a dump is only listed once it is complete, with its manifest.
        let json = serde_json::to_vec_pretty(manifest).unwrap_or_default();
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(format!("{}.json", manifest.key))
            .content_type("application/json")
            .body(ByteStream::from(json))
            .send()
            .await
            .map_err(|e| data_error(classify(call, &e)))?;
        if size > self.multipart_above {
            self.put_in_parts(file, size, manifest, call).await?;
            return self.get(&manifest.key).await;
        }
        let body = ByteStream::from_path(file)
            .await
            .map_err(|e| DataError::Tool(format!("cannot read the dump: {e}")))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&manifest.key)
            .content_type("application/octet-stream")
            .metadata("completed-at", stamp(manifest.completed_at))
            .metadata("started-at", stamp(manifest.started_at))
            .metadata("sha256", &manifest.sha256)
            .body(body)
            .send()
            .await
            .map_err(|e| data_error(classify(call, &e)))?;
        self.get(&manifest.key).await
    }

    async fn fetch(&self, backup: &BackupInfo) -> Result<LocalBackup, DataError> {
        let call = Call {
            operation: "GetObject",
            resource: &backup.location,
        };
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&backup.key)
            .send()
            .await
            .map_err(|e| data_error(classify(call, &e)))?;
        let dir = tempfile::tempdir()
            .map_err(|e| DataError::Store(format!("no room for the download: {e}")))?;
        let path = dir.path().join("backup.dump");
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| DataError::Store(format!("cannot write the download: {e}")))?;
        let mut body = got.body;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                DataError::Store(format!(
                    "the download of {} broke off: {e}",
                    backup.location
                ))
            })?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(|e| DataError::Store(format!("cannot write the download: {e}")))?;
        }
        file.flush()
            .await
            .map_err(|e| DataError::Store(format!("cannot write the download: {e}")))?;
        if let Some(manifest) = &backup.manifest {
            check_digest(
                &backup.location,
                manifest,
                size,
                &hex::encode(hasher.finalize()),
            )?;
        }
        Ok(LocalBackup {
            path,
            _download: Some(dir),
        })
    }
}
