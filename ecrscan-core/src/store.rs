//! The [`ConfigStore`] trait and the local stores: [`MemoryStore`] and
//! [`DirStore`].

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use tokio::sync::RwLock;
use uuid::Uuid;

use crate::config::{RepositoryRef, ScanConfig};
use crate::results::{
    RecordedResolution, RecordedScan, ResultStore, checked_scan_key, decode, encode, resolution_key,
};

/// What can go wrong in a [`ConfigStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No config has this id.
    #[error("no scan config with id {id}")]
    NotFound {
        /// The id asked for.
        id: Uuid,
    },
    /// The stored object for this id exists but cannot be read as a config.
    #[error("the stored scan config {key} is invalid: {message}")]
    Corrupt {
        /// Where it is stored (file path or object key).
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The store itself failed: I/O, network, permissions.
    #[error("{store} store: {message}")]
    Backend {
        /// Which store, e.g. `s3://bucket/prefix`.
        store: String,
        /// What failed, in plain words.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// Keeps scan configs.
///
/// # Contract
///
/// Every implementation guarantees — and [`conformance`](crate::conformance)
/// checks — that:
///
/// - [`put`](ConfigStore::put) stores the config under its id, replacing any
///   config with that id; once it returns `Ok` the config is durable (as far
///   as the medium allows) and a crash during `put` never leaves a
///   half-written config.
/// - [`get`](ConfigStore::get) returns what was last put under the id, and
///   [`StoreError::NotFound`] for an id never put or since deleted.
/// - [`delete`](ConfigStore::delete) removes the config, and returns
///   [`StoreError::NotFound`] if there was none.
/// - [`list`](ConfigStore::list) returns every readable config, sorted by
///   `created` then `id` (so the order is deterministic). An object that is
///   corrupt or not a config (a foreign file, a stray key, a config stored
///   under another id's name) is skipped and its key logged with
///   `tracing::warn!`: one bad object never fails the listing.
/// - All methods are safe to call concurrently.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait::async_trait]
pub trait ConfigStore: Send + Sync {
    /// Stores a config under its id.
    async fn put(&self, config: &ScanConfig) -> Result<(), StoreError>;
    /// Reads the config with this id.
    async fn get(&self, id: Uuid) -> Result<ScanConfig, StoreError>;
    /// Every config, sorted by `created` then `id`.
    async fn list(&self) -> Result<Vec<ScanConfig>, StoreError>;
    /// Deletes the config with this id.
    async fn delete(&self, id: Uuid) -> Result<(), StoreError>;
}

/// Sorts configs the way [`ConfigStore::list`] promises.
pub fn sort_configs(configs: &mut [ScanConfig]) {
    configs.sort_by_key(|config| (config.created, config.id));
}

/// A store in memory, for tests and embedding.
#[derive(Debug, Default)]
pub struct MemoryStore {
    configs: RwLock<BTreeMap<Uuid, ScanConfig>>,
    records: RwLock<BTreeMap<String, Vec<u8>>>,
}

#[async_trait::async_trait]
impl ResultStore for MemoryStore {
    async fn put_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
        scan: &RecordedScan,
    ) -> Result<(), StoreError> {
        let key = checked_scan_key(repository, digest)?;
        self.records.write().await.insert(key, encode(scan));
        Ok(())
    }

    async fn get_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<Option<RecordedScan>, StoreError> {
        let key = checked_scan_key(repository, digest)?;
        Ok(self
            .records
            .read()
            .await
            .get(&key)
            .and_then(|bytes| decode(&key, bytes)))
    }

    async fn put_resolution(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
        resolution: &RecordedResolution,
    ) -> Result<(), StoreError> {
        self.records
            .write()
            .await
            .insert(resolution_key(repository, tags), encode(resolution));
        Ok(())
    }

    async fn get_resolution(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Option<RecordedResolution>, StoreError> {
        let key = resolution_key(repository, tags);
        Ok(self
            .records
            .read()
            .await
            .get(&key)
            .and_then(|bytes| decode(&key, bytes)))
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

#[async_trait::async_trait]
impl ConfigStore for MemoryStore {
    async fn put(&self, config: &ScanConfig) -> Result<(), StoreError> {
        self.configs.write().await.insert(config.id, config.clone());
        Ok(())
    }

    async fn get(&self, id: Uuid) -> Result<ScanConfig, StoreError> {
        self.configs
            .read()
            .await
            .get(&id)
            .cloned()
            .ok_or(StoreError::NotFound { id })
    }

    async fn list(&self) -> Result<Vec<ScanConfig>, StoreError> {
        let mut configs: Vec<ScanConfig> = self.configs.read().await.values().cloned().collect();
        sort_configs(&mut configs);
        Ok(configs)
    }

    async fn delete(&self, id: Uuid) -> Result<(), StoreError> {
        match self.configs.write().await.remove(&id) {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound { id }),
        }
    }
}

/// A store in a local directory: one `<id>.json` per config, in the AWS
/// sample's JSON.
///
/// A write goes to a temporary file in the same directory, is synced, then
/// renamed over the config's file, so readers and crashes see either the old
/// or the new config, never a part of one.
#[derive(Debug, Clone)]
pub struct DirStore {
    dir: PathBuf,
}

const TEMP_PREFIX: &str = ".tmp-";

impl DirStore {
    /// Opens (and creates, if needed) the directory.
    pub async fn open(dir: impl Into<PathBuf>) -> Result<DirStore, StoreError> {
        let dir = dir.into();
        let store = DirStore { dir };
        tokio::fs::create_dir_all(&store.dir)
            .await
            .map_err(|err| store.io_error("cannot create the directory", err))?;
        Ok(store)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, id: Uuid) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn io_error(&self, what: &str, err: io::Error) -> StoreError {
        StoreError::Backend {
            store: format!("directory {}", self.dir.display()),
            message: format!("{what}: {err}"),
            source: Some(Box::new(err)),
        }
    }

    /// Writes a file through a synced temporary file in the same directory
    /// and a rename, so a crash leaves the old file or the new one.
    async fn write_atomically(&self, target: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let dir = target.parent().unwrap_or(&self.dir);
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("record");
        let temp = dir.join(format!("{TEMP_PREFIX}{name}-{}", Uuid::new_v4()));
        let written = async {
            tokio::fs::create_dir_all(dir).await?;
            let mut file = tokio::fs::File::create(&temp).await?;
            tokio::io::AsyncWriteExt::write_all(&mut file, bytes).await?;
            file.sync_all().await?;
            drop(file);
            tokio::fs::rename(&temp, target).await
        }
        .await;
        if let Err(err) = written {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(self.io_error(&format!("cannot write {}", target.display()), err));
        }
        // Make the rename itself durable; not every platform can open a directory.
        if let Ok(dir) = tokio::fs::File::open(dir).await {
            let _ = dir.sync_all().await;
        }
        Ok(())
    }

    async fn read_record<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let path = self.dir.join(key);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(decode(key, &bytes)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(self.io_error(&format!("cannot read {}", path.display()), err)),
        }
    }

    /// Reads and parses one config file; `Ok(None)` if it does not exist.
    async fn read_config(&self, path: &Path) -> Result<Option<ScanConfig>, StoreError> {
        let bytes = match tokio::fs::read(path).await {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(self.io_error(&format!("cannot read {}", path.display()), err));
            }
        };
        ScanConfig::from_stored_json(&bytes)
            .map(Some)
            .map_err(|err| StoreError::Corrupt {
                key: path.display().to_string(),
                message: err.to_string(),
            })
    }
}

#[async_trait::async_trait]
impl ConfigStore for DirStore {
    async fn put(&self, config: &ScanConfig) -> Result<(), StoreError> {
        self.write_atomically(&self.path_of(config.id), &config.to_json())
            .await
    }

    async fn get(&self, id: Uuid) -> Result<ScanConfig, StoreError> {
        let path = self.path_of(id);
        match self.read_config(&path).await? {
            None => Err(StoreError::NotFound { id }),
            Some(config) if config.id != id => Err(StoreError::Corrupt {
                key: path.display().to_string(),
                message: format!("the file holds the config {}", config.id),
            }),
            Some(config) => Ok(config),
        }
    }

    async fn list(&self) -> Result<Vec<ScanConfig>, StoreError> {
        let mut entries = tokio::fs::read_dir(&self.dir)
            .await
            .map_err(|err| self.io_error("cannot list the directory", err))?;
        let mut configs = Vec::new();
        loop {
            let entry = match entries.next_entry().await {
                Ok(Some(entry)) => entry,
                Ok(None) => break,
                Err(err) => return Err(self.io_error("cannot list the directory", err)),
            };
            let path = entry.path();
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                tracing::warn!(key = %path.display(), "skipping a file whose name is not UTF-8");
                continue;
            };
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            if entry.file_type().await.is_ok_and(|kind| kind.is_dir()) {
                continue;
            }
            if !name.ends_with(".json") {
                tracing::warn!(key = %path.display(), "skipping a file that is not a scan config (*.json)");
                continue;
            }
            match self.read_config(&path).await {
                Ok(Some(config)) if path != self.path_of(config.id) => {
                    tracing::warn!(key = %path.display(), id = %config.id, "skipping a scan config stored under another id's name");
                }
                Ok(Some(config)) => configs.push(config),
                // Deleted between listing and reading.
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(key = %path.display(), error = %err, "skipping an unreadable scan config");
                }
            }
        }
        sort_configs(&mut configs);
        Ok(configs)
    }

    async fn delete(&self, id: Uuid) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.path_of(id)).await {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Err(StoreError::NotFound { id }),
            Err(err) => Err(self.io_error(&format!("cannot delete {id}.json"), err)),
        }
    }
}

#[async_trait::async_trait]
impl ResultStore for DirStore {
    async fn put_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
        scan: &RecordedScan,
    ) -> Result<(), StoreError> {
        let key = checked_scan_key(repository, digest)?;
        self.write_atomically(&self.dir.join(key), &encode(scan))
            .await
    }

    async fn get_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<Option<RecordedScan>, StoreError> {
        self.read_record(&checked_scan_key(repository, digest)?)
            .await
    }

    async fn put_resolution(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
        resolution: &RecordedResolution,
    ) -> Result<(), StoreError> {
        let key = resolution_key(repository, tags);
        self.write_atomically(&self.dir.join(key), &encode(resolution))
            .await
    }

    async fn get_resolution(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Option<RecordedResolution>, StoreError> {
        self.read_record(&resolution_key(repository, tags)).await
    }
}

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
    ) -> Result<std::sync::Arc<dyn crate::results::Store>, StoreError> {
        Ok(match self {
            #[cfg(feature = "s3")]
            StoreLocation::S3 { bucket, prefix } => {
                std::sync::Arc::new(crate::aws::s3::S3Store::new(sdk_config, bucket, prefix))
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
