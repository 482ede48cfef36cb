//! [`S3Store`]: objects in an S3 bucket, in the AWS sample's layout.

use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;

use super::{ObjectMeta, ObjectStore, PutMode, StoreError, StoredObject, Version};
use crate::aws::{code, describe, is_access_denied_code};

/// Scan configs and results in an S3 bucket: configs at
/// `<prefix><id>.json`, holding the AWS sample's JSON, so a bucket written
/// by the sample is read unchanged and the sample reads ours; results below
/// `<prefix>results/`.
///
/// - Listings follow ListObjectsV2 continuation tokens, with `/` as the
///   delimiter: objects in "subdirectories" below a prefix are not listed.
/// - Reads are bounded: an object larger than the record it should be is
///   [`StoreError::TooLarge`] and is not downloaded.
/// - Create-only writes send `If-None-Match: *`, compare-and-swap writes
///   `If-Match: <ETag>`; S3's `412 Precondition Failed`,
///   `409 ConditionalRequestConflict` and (for `If-Match` on an object that
///   is gone) `NoSuchKey` are [`StoreError::Conflict`].
/// - AccessDenied (a bucket policy, a KMS key the caller may not use) is
///   [`StoreError::PermissionDenied`].
/// - With a custom endpoint (`AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_S3`,
///   e.g. an emulator) the client uses path-style addressing.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
}

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
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
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
        match code(&err) {
            Some(code) if is_access_denied_code(code) => StoreError::PermissionDenied {
                store: self.describe(),
                message: format!("access denied to s3:{action} on {location}"),
            },
            // If-Match on an object that is gone is NoSuchKey: the swap lost too.
            Some("NoSuchKey") if action == "PutObject" => StoreError::Conflict {
                store: self.describe(),
                key: location,
            },
            Some("PreconditionFailed" | "ConditionalRequestConflict") => StoreError::Conflict {
                store: self.describe(),
                key: location,
            },
            _ => {
                let status = match &err {
                    SdkError::ServiceError(service) => Some(service.raw().status().as_u16()),
                    _ => None,
                };
                if matches!(status, Some(412 | 409)) && action == "PutObject" {
                    return StoreError::Conflict {
                        store: self.describe(),
                        key: location,
                    };
                }
                StoreError::Backend {
                    store: self.describe(),
                    message: format!("s3:{action} on {location} failed: {}", describe(&err)),
                    source: Some(Box::new(err)),
                }
            }
        }
    }
}

/// An ETag as a version.
fn version_of(etag: Option<&str>) -> Version {
    Version(etag.unwrap_or_default().to_owned())
}

#[async_trait::async_trait]
impl ObjectStore for S3Store {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    async fn get(&self, key: &str, max_bytes: u64) -> Result<Option<StoredObject>, StoreError> {
        let full_key = format!("{}{key}", self.prefix);
        let output = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .send()
            .await
        {
            Ok(output) => output,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(err) => return Err(self.error("GetObject", Some(&full_key), err)),
        };
        let too_large = || StoreError::TooLarge {
            store: self.describe(),
            key: full_key.clone(),
            limit: max_bytes,
        };
        if output
            .content_length()
            .is_some_and(|length| u64::try_from(length).unwrap_or(u64::MAX) > max_bytes)
        {
            return Err(too_large());
        }
        let version = version_of(output.e_tag());
        let mut body = output.body;
        let mut bytes = Vec::new();
        loop {
            match body.try_next().await {
                Ok(Some(chunk)) => {
                    if (bytes.len() + chunk.len()) as u64 > max_bytes {
                        return Err(too_large());
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(err) => {
                    return Err(StoreError::Backend {
                        store: self.describe(),
                        message: format!("reading s3://{}/{full_key} failed: {err}", self.bucket),
                        source: Some(Box::new(err)),
                    });
                }
            }
        }
        Ok(Some(StoredObject { bytes, version }))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<Version, StoreError> {
        let full_key = format!("{}{key}", self.prefix);
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .content_type("application/json")
            .body(ByteStream::from(bytes));
        request = match mode {
            PutMode::Overwrite => request,
            PutMode::Create => request.if_none_match("*"),
            PutMode::Update(Version(etag)) => request.if_match(etag),
        };
        let output = request
            .send()
            .await
            .map_err(|err| self.error("PutObject", Some(&full_key), err))?;
        Ok(version_of(output.e_tag()))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let full_key = format!("{}{key}", self.prefix);
        // S3 deletes are idempotent: ask first whether there is anything.
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .send()
            .await
        {
            Ok(_) => {}
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {
                return Ok(false);
            }
            Err(err) => return Err(self.error("GetObject", Some(&full_key), err)),
        }
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .send()
            .await
            .map_err(|err| self.error("DeleteObject", Some(&full_key), err))?;
        Ok(true)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let full_prefix = format!("{}{prefix}", self.prefix);
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&full_prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| self.error("ListBucket", None, err))?;
            for object in page.contents() {
                let Some(key) = object.key().and_then(|key| key.strip_prefix(&self.prefix)) else {
                    continue;
                };
                objects.push(ObjectMeta {
                    key: key.to_owned(),
                    size: object.size().and_then(|size| u64::try_from(size).ok()),
                });
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }
}
