//! [`StoreLocation`]: where a store is, as a user writes it, and opening it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

#[cfg(feature = "aws")]
use super::{DirStore, MemoryStore, Store, StoreError};

/// Where configs are kept, as a user writes it: `s3://bucket[/prefix]`,
/// `file:///dir`, `memory://` or a plain path.
///
/// ```
/// use ecrscan_core::StoreLocation;
/// assert_eq!(
///     "s3://my-bucket/configs".parse::<StoreLocation>().unwrap(),
///     StoreLocation::S3 { bucket: "my-bucket".into(), prefix: "configs/".into() },
/// );
/// assert_eq!(
///     "file:///var/lib/ecrscan".parse::<StoreLocation>().unwrap(),
///     StoreLocation::Dir("/var/lib/ecrscan".into()),
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An S3 bucket and a key prefix (empty, or ending in `/`).
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix.
        prefix: String,
    },
    /// A local directory.
    Dir(PathBuf),
    /// In memory (lost at exit).
    Memory,
}

/// A store location that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid store location {location:?}: {problem}")]
pub struct InvalidStoreLocation {
    /// What was given.
    pub location: String,
    /// What is wrong.
    pub problem: String,
}

impl FromStr for StoreLocation {
    type Err = InvalidStoreLocation;

    fn from_str(location: &str) -> Result<Self, Self::Err> {
        let invalid = |problem: &str| InvalidStoreLocation {
            location: location.to_owned(),
            problem: problem.to_owned(),
        };
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                });
            if !bucket_ok {
                return Err(invalid(
                    "an S3 bucket name is 3-63 lowercase letters, digits, '-' and '.'",
                ));
            }
            let prefix = prefix.trim_matches('/');
            let prefix = if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            };
            return Ok(StoreLocation::S3 {
                bucket: bucket.to_owned(),
                prefix,
            });
        }
        if let Some(path) = location.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(invalid(
                    "a file:// location needs an absolute path (file:///dir)",
                ));
            }
            return Ok(StoreLocation::Dir(PathBuf::from(path)));
        }
        if location == "memory://" {
            return Ok(StoreLocation::Memory);
        }
        if location.contains("://") {
            return Err(invalid(
                "expected s3://bucket[/prefix], file:///dir, memory:// or a path",
            ));
        }
        if location.is_empty() {
            return Err(invalid("the location is empty"));
        }
        Ok(StoreLocation::Dir(PathBuf::from(location)))
    }
}

impl StoreLocation {
    /// The location the environment names: `ECRSCAN_STORE`, else the AWS
    /// sample's `ECR_SCAN_CONFIG_BUCKET` (a bucket name, configs at its
    /// root), else `None`.
    pub fn from_env() -> Result<Option<StoreLocation>, InvalidStoreLocation> {
        if let Some(location) = std::env::var("ECRSCAN_STORE")
            .ok()
            .filter(|v| !v.is_empty())
        {
            return location.parse().map(Some);
        }
        if let Some(bucket) = std::env::var("ECR_SCAN_CONFIG_BUCKET")
            .ok()
            .filter(|v| !v.is_empty())
        {
            return format!("s3://{bucket}").parse().map(Some);
        }
        Ok(None)
    }

    /// Opens the store of configs and results. S3 locations use
    /// `sdk_config` and need the `s3` feature.
    #[cfg(feature = "aws")]
    pub async fn open(
        &self,
        sdk_config: &aws_config::SdkConfig,
    ) -> Result<std::sync::Arc<dyn Store>, StoreError> {
        Ok(match self {
            #[cfg(feature = "s3")]
            StoreLocation::S3 { bucket, prefix } => {
                std::sync::Arc::new(super::S3Store::new(sdk_config, bucket, prefix))
            }
            #[cfg(not(feature = "s3"))]
            StoreLocation::S3 { .. } => {
                return Err(StoreError::Backend {
                    store: self.to_string(),
                    message: "this build has no S3 support (cargo feature `s3`)".into(),
                    source: None,
                });
            }
            StoreLocation::Dir(dir) => std::sync::Arc::new(DirStore::open(dir).await?),
            StoreLocation::Memory => std::sync::Arc::new(MemoryStore::new()),
        })
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            StoreLocation::Dir(path) => write!(f, "{}", path.display()),
            StoreLocation::Memory => f.write_str("memory://"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_locations() {
        assert_eq!(
            "s3://bucket".parse::<StoreLocation>().unwrap(),
            StoreLocation::S3 {
                bucket: "bucket".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            "s3://bucket/a/b/".parse::<StoreLocation>().unwrap(),
            StoreLocation::S3 {
                bucket: "bucket".into(),
                prefix: "a/b/".into()
            }
        );
        assert_eq!(
            "./configs".parse::<StoreLocation>().unwrap(),
            StoreLocation::Dir("./configs".into())
        );
        assert_eq!(
            "memory://".parse::<StoreLocation>().unwrap(),
            StoreLocation::Memory
        );
        for bad in ["s3://", "s3://Bucket", "file://relative", "http://x", ""] {
            assert!(bad.parse::<StoreLocation>().is_err(), "{bad}");
        }
    }
}
