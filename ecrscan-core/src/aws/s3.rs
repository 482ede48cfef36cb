//! The S3 config store: the AWS sample's bucket layout.

use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use futures::{StreamExt, TryStreamExt};
use uuid::Uuid;

use super::{code, describe, is_access_denied_code};
use crate::config::{RepositoryRef, ScanConfig};
use crate::results::{
    RecordedResolution, RecordedScan, ResultStore, checked_scan_key, decode, encode, resolution_key,
};
use crate::store::{ConfigStore, StoreError, sort_configs};

/// Scan configs in an S3 bucket: one object per config at
/// `<prefix><id>.json`, holding the AWS sample's JSON, so a bucket written
/// by the sample is read unchanged and the sample reads ours.
///
/// - `list` follows ListObjectsV2 continuation tokens and reads objects
///   with bounded concurrency; keys that don't end in `.json`, objects in
///   "subdirectories" below the prefix, and objects that aren't valid
///   configs are skipped and logged.
/// - `get` and `delete` of a missing id are [`StoreError::NotFound`]
///   (`delete` checks with HeadObject first, as S3 deletes are idempotent).
/// - With a custom endpoint (`AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_S3`,
///   e.g. an emulator) the client uses path-style addressing.
/// - Objects over 64 KiB and objects below a sub-prefix (such as
///   `results/`) are not configs and are not read.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    read_concurrency: usize,
}

/// Objects larger than this are not scan configs (one is a few hundred bytes).
const MAX_CONFIG_BYTES: i64 = 64 * 1024;

/// The default number of objects `list` reads at once.
pub const DEFAULT_READ_CONCURRENCY: usize = 16;

impl S3Store {
    /// A store in `bucket` under `prefix` (empty, or ending in `/`), with a
    /// client made from `sdk_config`.
    pub fn new(
        sdk_config: &SdkConfig,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> S3Store {
        // A custom endpoint (an emulator, a gateway) rarely serves virtual-hosted buckets.
        let force_path_style = sdk_config.endpoint_url().is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some_and(|url| !url.is_empty());
        let client = Client::from_conf(
            aws_sdk_s3::config::Builder::from(sdk_config)
                .force_path_style(force_path_style)
                .build(),
        );
        S3Store::with_client(client, bucket, prefix)
    }

    /// A store using an existing client.
    pub fn with_client(
        client: Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> S3Store {
        let mut prefix = prefix.into();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        S3Store {
            client,
            bucket: bucket.into(),
            prefix,
            read_concurrency: DEFAULT_READ_CONCURRENCY,
        }
    }

    /// Sets how many objects `list` reads at once (at least 1).
    pub fn with_read_concurrency(mut self, read_concurrency: usize) -> S3Store {
        self.read_concurrency = read_concurrency.max(1);
        self
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key_of(&self, id: Uuid) -> String {
        format!("{}{id}.json", self.prefix)
    }

    fn error<E>(
        &self,
        action: &str,
        key: Option<&str>,
        err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> StoreError
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let location = match key {
            Some(key) => format!("s3://{}/{key}", self.bucket),
            None => format!("s3://{}/{}", self.bucket, self.prefix),
        };
        let message = match code(&err) {
            Some(code) if is_access_denied_code(code) => {
                format!("access denied to s3:{action} on {location}")
            }
            _ => format!("s3:{action} on {location} failed: {}", describe(&err)),
        };
        StoreError::Backend {
            store: format!("s3://{}/{}", self.bucket, self.prefix),
            message,
            source: Some(Box::new(err)),
        }
    }

    /// Reads one config object; `Ok(None)` if it does not exist.
    async fn read(&self, key: &str) -> Result<Option<ScanConfig>, StoreError> {
        let Some(bytes) = self.get_bytes(key).await? else {
            return Ok(None);
        };
        ScanConfig::from_stored_json(&bytes)
            .map(Some)
            .map_err(|err| StoreError::Corrupt {
                key: format!("s3://{}/{key}", self.bucket),
                message: err.to_string(),
            })
    }

    /// An object's bytes; `Ok(None)` if it does not exist.
    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let output = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => output,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(err) => return Err(self.error("GetObject", Some(key), err)),
        };
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|err| StoreError::Backend {
                store: format!("s3://{}/{}", self.bucket, self.prefix),
                message: format!("reading s3://{}/{key} failed: {err}", self.bucket),
                source: Some(Box::new(err)),
            })?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|err| self.error("PutObject", Some(key), err))?;
        Ok(())
    }

    /// Every key directly under the prefix that ends in `.json`, all pages.
    async fn config_keys(&self) -> Result<Vec<String>, StoreError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| self.error("ListBucket", None, err))?;
            for prefix in page.common_prefixes().iter().filter_map(|p| p.prefix()) {
                tracing::debug!(prefix, bucket = %self.bucket, "not listing configs below a sub-prefix");
            }
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                if object.size().is_some_and(|size| size > MAX_CONFIG_BYTES) {
                    tracing::warn!(key, bucket = %self.bucket, size = object.size(), "skipping an object too large to be a scan config");
                } else if key.ends_with(".json") {
                    keys.push(key.to_owned());
                } else {
                    tracing::warn!(key, bucket = %self.bucket, "skipping an object that is not a scan config (*.json)");
                }
            }
        }
        Ok(keys)
    }
}

#[async_trait::async_trait]
impl ConfigStore for S3Store {
    async fn put(&self, config: &ScanConfig) -> Result<(), StoreError> {
        self.put_bytes(&self.key_of(config.id), config.to_json())
            .await
    }

    async fn get(&self, id: Uuid) -> Result<ScanConfig, StoreError> {
        let key = self.key_of(id);
        match self.read(&key).await? {
            None => Err(StoreError::NotFound { id }),
            Some(config) if config.id != id => Err(StoreError::Corrupt {
                key: format!("s3://{}/{key}", self.bucket),
                message: format!("the object holds the config {}", config.id),
            }),
            Some(config) => Ok(config),
        }
    }

    async fn list(&self) -> Result<Vec<ScanConfig>, StoreError> {
        let keys = self.config_keys().await?;
        let read: Vec<Option<ScanConfig>> = futures::stream::iter(keys)
            .map(|key| async move {
                match self.read(&key).await {
                    Ok(Some(config)) if key != self.key_of(config.id) => {
                        tracing::warn!(%key, id = %config.id, "skipping a scan config stored under another id's key");
                        Ok(None)
                    }
                    Ok(config) => Ok(config),
                    Err(StoreError::Corrupt { key, message }) => {
                        tracing::warn!(%key, %message, "skipping an unreadable scan config");
                        Ok(None)
                    }
                    Err(StoreError::Backend { message, source, .. })
                        if source
                            .as_deref()
                            .and_then(|source| source.downcast_ref::<SdkError<GetObjectError, HttpResponse>>())
                            .and_then(|err| err.as_service_error())
                            .and_then(|err| err.meta().code())
                            .is_some_and(is_access_denied_code) =>
                    {
                        tracing::warn!(%key, error = %message, "skipping a scan config that cannot be read");
                        Ok(None)
                    }
                    Err(err) => Err(err),
                }
            })
            .buffer_unordered(self.read_concurrency)
            .try_collect()
            .await?;
        let mut configs: Vec<ScanConfig> = read.into_iter().flatten().collect();
        sort_configs(&mut configs);
        Ok(configs)
    }

    async fn delete(&self, id: Uuid) -> Result<(), StoreError> {
        let key = self.key_of(id);
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(_) => {}
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {
                return Err(StoreError::NotFound { id });
            }
            Err(err) => return Err(self.error("GetObject", Some(&key), err)),
        }
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|err| self.error("DeleteObject", Some(&key), err))?;
        Ok(())
    }
}

/// Results are kept below the config prefix, at `<prefix>results/…`
/// (see [`scan_key`](crate::results::scan_key) and
/// [`resolution_key`](crate::results::resolution_key)); the config listing
/// does not descend into it.
#[async_trait::async_trait]
impl ResultStore for S3Store {
    async fn put_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
        scan: &RecordedScan,
    ) -> Result<(), StoreError> {
        let key = format!("{}{}", self.prefix, checked_scan_key(repository, digest)?);
        self.put_bytes(&key, encode(scan)).await
    }

    async fn get_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<Option<RecordedScan>, StoreError> {
        let key = format!("{}{}", self.prefix, checked_scan_key(repository, digest)?);
        Ok(self
            .get_bytes(&key)
            .await?
            .and_then(|bytes| decode(&key, &bytes)))
    }

    async fn put_resolution(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
        resolution: &RecordedResolution,
    ) -> Result<(), StoreError> {
        let key = format!("{}{}", self.prefix, resolution_key(repository, tags));
        self.put_bytes(&key, encode(resolution)).await
    }

    async fn get_resolution(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Option<RecordedResolution>, StoreError> {
        let key = format!("{}{}", self.prefix, resolution_key(repository, tags));
        Ok(self
            .get_bytes(&key)
            .await?
            .and_then(|bytes| decode(&key, &bytes)))
    }
}
