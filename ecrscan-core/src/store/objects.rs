//! The byte-keyed layer below the record traits.

use super::StoreError;

/// The largest record any store reads: larger objects are
/// [`StoreError::TooLarge`], never read whole. Scan results hold every
/// finding of a digest (tens of thousands at most, a few MiB) and a bounded
/// history of them.
pub const MAX_RECORD_BYTES: u64 = 64 * 1024 * 1024;

/// The version of a stored object, for conditional writes: an S3 ETag, a
/// hash of a file's bytes, a counter in memory. Opaque; only compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(pub String);

/// How [`ObjectStore::put`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutMode {
    /// Create or replace.
    Overwrite,
    /// Create only: [`StoreError::Conflict`] if the key exists (S3
    /// `If-None-Match: *`).
    Create,
    /// Replace only the object at this version: [`StoreError::Conflict`] if
    /// it changed or is gone (S3 `If-Match`).
    Update(Version),
}

/// An object's bytes and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The version, for [`PutMode::Update`].
    pub version: Version,
}

/// A listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Its key, relative to the store's root.
    pub key: String,
    /// Its size in bytes, when the listing says.
    pub size: Option<u64>,
}

/// Objects by key: the layer each store implements, and on which
/// [`ConfigStore`](super::ConfigStore) and [`ResultStore`](super::ResultStore)
/// are implemented once for all stores.
///
/// # Contract
///
/// - Keys are relative, `/`-separated, made of non-empty parts without `.`
///   or `..` parts; the record layer builds them (see [`keys`](super::keys)).
/// - [`get`](ObjectStore::get) returns the last bytes put under the key and
///   their version, `Ok(None)` for a missing key, and
///   [`StoreError::TooLarge`] for an object over `max_bytes` (without
///   reading it whole). Something that is not a regular object (a
///   directory, a FIFO, a device) is `Ok(None)`.
/// - [`put`](ObjectStore::put) is atomic: readers see the old bytes or the
///   new, never a part. [`PutMode::Create`] and [`PutMode::Update`] are
///   checked and applied in one step, also between processes, and fail with
///   [`StoreError::Conflict`].
/// - [`delete`](ObjectStore::delete) returns whether the key existed.
/// - [`list`](ObjectStore::list) returns the objects directly below a
///   prefix (`""` or ending in `/`), not those further down, sorted by key.
/// - Safe for concurrent use.
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// The store, for messages: `s3://bucket/prefix`, `directory /path`.
    fn describe(&self) -> String;
    /// Reads an object of at most `max_bytes`.
    async fn get(&self, key: &str, max_bytes: u64) -> Result<Option<StoredObject>, StoreError>;
    /// Writes an object.
    async fn put(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<Version, StoreError>;
    /// Deletes an object; whether it existed.
    async fn delete(&self, key: &str) -> Result<bool, StoreError>;
    /// The objects directly below `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError>;
}
