//! Where ecrscan keeps what it knows: the record traits, their one error
//! type, and the stores that implement them.
//!
//! - [`ConfigStore`] keeps scan configs, [`ResultStore`] keeps scan results;
//!   [`Store`] is both, what [`StoreLocation::open`] gives.
//! - [`ObjectStore`] is the byte-keyed layer below them: get, put (with
//!   create-only and compare-and-swap writes), delete and list of objects.
//!   Every type that implements it has both record traits, implemented once
//!   for all of them.
//! - [`MemoryStore`], [`DirStore`] and (feature `s3`) `S3Store` implement
//!   [`ObjectStore`], each in its own module.
//!
//! Layout of a store, relative to its root (a directory, or an S3 prefix):
//!
//! | key | what |
//! |---|---|
//! | `<id>.json` | a scan config, in the AWS sample's JSON |
//! | `results/REGION/REGISTRY/REPOSITORY/@digests/ALG-HEX.json` | a digest's recorded results ([`DigestRecord`](crate::records::DigestRecord)) |
//! | `results/REGION/REGISTRY/REPOSITORY/@tags.json` | where each tag pointed, and since when ([`TagRecord`](crate::records::TagRecord)) |
//! | `results/REGION/REGISTRY/REPOSITORY/@images/SELECTION.json` | what a selection of tags resolved to ([`RecordedResolution`](crate::records::RecordedResolution)) |
//! | `results/REGION/REGISTRY/@repositories.json` | a registry's repositories, as last listed ([`RecordedList`](crate::records::RecordedList)) |
//! | `results/@accounts.json` | the accounts of the caller's organization, as last listed |
//! | `results/REGION/REGISTRY/REPOSITORY/@findings.json` | the findings of the repository's images, each distinct finding once, for summaries with suppression rules ([`FindingIndex`](crate::records::FindingIndex)) |
//! | `results/REGION/REGISTRY/REPOSITORY/@rollup.json` | the repository's summary: every digest's latest counts and every selection's resolution, one object ([`Rollup`](crate::records::Rollup)) |
//! | `changes/<id>.json` | a change ([`Change`](crate::changes::Change)), written once |
//! | `channels/<id>.json` | a notification channel ([`Channel`](crate::channels::Channel)); its secret is only referred to |
//! | `suppressions/<id>.json` | a suppression rule ([`Suppression`](crate::suppress::Suppression)) |
//! | `deliveries/<channel>/<change>.json` | a change's delivery to a channel ([`Delivery`](crate::deliveries::Delivery)): queued once, claimed and settled by compare-and-swap |
//!
//! `@` never occurs in an ECR repository name, so no repository's records
//! can collide with another's.

use std::fmt;

use uuid::Uuid;

use crate::backend::Account;
use crate::changes::Change;
use crate::config::{RepositoryRef, ScanConfig};
use crate::records::{
    DigestRecord, FindingIndex, RecordedList, RecordedResolution, Rollup, TagRecord,
};

mod channels;
mod configs;
mod dir;
pub mod keys;
mod listing;
mod location;
mod memory;
mod objects;
mod results;
#[cfg(feature = "s3")]
mod s3;
mod suppressions;

pub use dir::DirStore;
pub use location::{InvalidStoreLocation, StoreLocation};
pub use memory::MemoryStore;
pub use objects::{MAX_RECORD_BYTES, ObjectMeta, ObjectStore, PutMode, StoredObject, Version};
#[cfg(feature = "s3")]
pub use s3::S3Store;

/// The kinds of record a store keeps, to say which one an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordKind {
    /// A scan config.
    Config,
    /// A digest's recorded scan results.
    ScanResult,
    /// A repository's tags and the digests they pointed at.
    Tags,
    /// What a selection of tags resolved to.
    Resolution,
    /// A repository's rollup.
    Rollup,
    /// A repository's finding index.
    FindingIndex,
    /// A recorded listing of repositories or accounts.
    Repositories,
    /// A change of an image's findings or tags.
    Change,
    /// A notification channel.
    Channel,
    /// A change on its way to a channel.
    Delivery,
    /// A suppression rule.
    Suppression,
    /// An object of the byte layer, below any record.
    Object,
}

impl RecordKind {
    /// The kind in plain words, e.g. `scan config`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Config => "scan config",
            RecordKind::ScanResult => "scan result",
            RecordKind::Tags => "tag record",
            RecordKind::Resolution => "image resolution",
            RecordKind::Rollup => "repository rollup",
            RecordKind::FindingIndex => "repository finding index",
            RecordKind::Repositories => "recorded listing",
            RecordKind::Change => "change",
            RecordKind::Channel => "notification channel",
            RecordKind::Delivery => "delivery",
            RecordKind::Suppression => "suppression rule",
            RecordKind::Object => "object",
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No record has this id.
    #[error("no {kind} with id {id}")]
    NotFound {
        /// What was asked for.
        kind: RecordKind,
        /// The id asked for.
        id: String,
    },
    /// The stored object exists but cannot be read as a record of its kind.
    #[error("the stored {kind} {key} is invalid: {message}")]
    Corrupt {
        /// What it should have been.
        kind: RecordKind,
        /// Where it is stored (file path or object key).
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A record's key would be built from a part that is not valid there
    /// (a digest that is not `algorithm:hex`, a repository with `..`).
    #[error("invalid key for a {kind}: {message}")]
    InvalidKey {
        /// The record's kind.
        kind: RecordKind,
        /// What is wrong, naming the part.
        message: String,
    },
    /// The store refused access: S3's AccessDenied (a bucket policy, a KMS
    /// key the caller cannot use), a file's permissions.
    #[error("{store} store: permission denied: {message}")]
    PermissionDenied {
        /// Which store, e.g. `s3://bucket/prefix`.
        store: String,
        /// What was refused.
        message: String,
    },
    /// A conditional write lost: the object was created or changed since it
    /// was read. Writers read again and retry.
    #[error("{store} store: {key} changed while it was being written")]
    Conflict {
        /// Which store.
        store: String,
        /// The key.
        key: String,
    },
    /// The object is larger than a record of its kind can be.
    #[error("{store} store: {key} is larger than {limit} bytes")]
    TooLarge {
        /// Which store.
        store: String,
        /// The key.
        key: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A listing found objects but could read none of them.
    #[error("{store} store: none of the {failed} {kind}s could be read; the first: {first}")]
    NothingReadable {
        /// Which store.
        store: String,
        /// What was listed.
        kind: RecordKind,
        /// How many objects failed.
        failed: usize,
        /// The first failure.
        first: String,
    },
    /// The store itself failed: I/O, network.
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

impl StoreError {
    /// A config id that is not in the store.
    pub fn config_not_found(id: Uuid) -> StoreError {
        StoreError::NotFound {
            kind: RecordKind::Config,
            id: id.to_string(),
        }
    }

    /// Whether this is [`StoreError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}

/// An object a listing skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where it is stored.
    pub key: String,
    /// Why it was skipped.
    pub reason: String,
    /// Whether its bytes could not be read at all (permissions, I/O), as
    /// opposed to read and found not to be a valid record.
    pub unreadable: bool,
}

/// What a listing found: the records it could read, and what it skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T> {
    /// The records, in the order the listing promises.
    pub items: Vec<T>,
    /// Objects that were skipped, each logged with `tracing::warn!`.
    pub skipped: Vec<Skipped>,
}

impl<T> Default for Listing<T> {
    fn default() -> Self {
        Listing {
            items: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

impl<T> Listing<T> {
    /// Objects whose bytes could not be read.
    pub fn unreadable(&self) -> usize {
        self.skipped.iter().filter(|s| s.unreadable).count()
    }
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
///   corrupt, not a config (a foreign file, a stray key, a config stored
///   under another id's name) or cannot be read at all is skipped, logged
///   with `tracing::warn!` and reported in [`Listing::skipped`]: one bad
///   object never fails the listing. A listing that found objects and could
///   read none of them is [`StoreError::NothingReadable`].
/// - All methods are safe to call concurrently.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait::async_trait]
pub trait ConfigStore: Send + Sync {
    /// Stores a config under its id.
    async fn put(&self, config: &ScanConfig) -> Result<(), StoreError>;
    /// Reads the config with this id.
    async fn get(&self, id: Uuid) -> Result<ScanConfig, StoreError>;
    /// Every config, sorted by `created` then `id`, and what was skipped.
    async fn list(&self) -> Result<Listing<ScanConfig>, StoreError>;
    /// Deletes the config with this id.
    async fn delete(&self, id: Uuid) -> Result<(), StoreError>;
}

/// Sorts configs the way [`ConfigStore::list`] promises.
pub fn sort_configs(configs: &mut [ScanConfig]) {
    configs.sort_by_key(|config| (config.created, config.id));
}

/// A record read together with its [`Version`], for a conditional write back.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// The record; `None` when the object exists but could not be read as
    /// one (it is logged, and can be replaced).
    pub record: Option<T>,
    /// The object's version.
    pub version: Version,
}

/// Keeps scan results between runs: the raw records, keyed by repository and
/// digest. Ordering, history and freshness are the
/// [`Recorder`](crate::recorder::Recorder)'s business, on top of this.
///
/// # Contract
///
/// - `put_*` with [`PutMode::Overwrite`] replaces what was recorded under the
///   same key; with [`PutMode::Create`] it fails with
///   [`StoreError::Conflict`] if a record exists; with
///   [`PutMode::Update`] it fails with [`StoreError::Conflict`] unless the
///   record is still at that version. A crash never leaves a half-written
///   record.
/// - `get_*` returns the last record put under the key with its version, or
///   `Ok(None)`. A record that exists but cannot be parsed is returned with
///   `record: None` and its version (and logged), so a writer can replace it.
/// - Keys: a digest record by (region, registry, repository, digest), a tag
///   record by repository, a resolution by (repository, tags), where no tags
///   means every tagged image and the tags' order does not matter, a change
///   by its id. Parts that are not valid in a key are
///   [`StoreError::InvalidKey`].
/// - A repository's rollup and finding index follow the digest records'
///   rules for conditional writes.
/// - Changes are written once: [`put_change`](ResultStore::put_change) of an
///   id that exists changes nothing, whatever number of writers try.
/// - Safe for concurrent use.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait::async_trait]
pub trait ResultStore: Send + Sync {
    /// The recorded results of a digest.
    async fn get_digest(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<Option<Versioned<DigestRecord>>, StoreError>;
    /// Writes the recorded results of a digest.
    async fn put_digest(
        &self,
        repository: &RepositoryRef,
        digest: &str,
        record: &DigestRecord,
        mode: PutMode,
    ) -> Result<Version, StoreError>;
    /// The repository's tag record.
    async fn get_tags(
        &self,
        repository: &RepositoryRef,
    ) -> Result<Option<Versioned<TagRecord>>, StoreError>;
    /// Writes the repository's tag record.
    async fn put_tags(
        &self,
        repository: &RepositoryRef,
        record: &TagRecord,
        mode: PutMode,
    ) -> Result<Version, StoreError>;
    /// What a selection of tags resolved to, as recorded.
    async fn get_resolution(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Option<RecordedResolution>, StoreError>;
    /// Records what a selection of tags resolved to (last writer wins: it is
    /// a cache, each record saying when it was made).
    async fn put_resolution(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
        resolution: &RecordedResolution,
    ) -> Result<(), StoreError>;
    /// The repository's rollup.
    async fn get_rollup(
        &self,
        repository: &RepositoryRef,
    ) -> Result<Option<Versioned<Rollup>>, StoreError>;
    /// Writes the repository's rollup.
    async fn put_rollup(
        &self,
        repository: &RepositoryRef,
        rollup: &Rollup,
        mode: PutMode,
    ) -> Result<Version, StoreError>;
    /// The repository's finding index.
    async fn get_findings(
        &self,
        repository: &RepositoryRef,
    ) -> Result<Option<Versioned<FindingIndex>>, StoreError>;
    /// Writes the repository's finding index.
    async fn put_findings(
        &self,
        repository: &RepositoryRef,
        index: &FindingIndex,
        mode: PutMode,
    ) -> Result<Version, StoreError>;
    /// A registry's repositories, as last recorded.
    async fn get_repositories(
        &self,
        registry: &str,
        region: &str,
    ) -> Result<Option<RecordedList<String>>, StoreError>;
    /// Records a registry's repositories (last writer wins: a cache).
    async fn put_repositories(
        &self,
        registry: &str,
        region: &str,
        listing: &RecordedList<String>,
    ) -> Result<(), StoreError>;
    /// The accounts of the caller's organization, as last recorded.
    async fn get_accounts(&self) -> Result<Option<RecordedList<Account>>, StoreError>;
    /// Records the accounts of the caller's organization.
    async fn put_accounts(&self, listing: &RecordedList<Account>) -> Result<(), StoreError>;
    /// Stores a change once, with a create-only write: `Ok(true)` when this
    /// call created it, `Ok(false)` when a change with its id exists
    /// (another writer recorded the same result).
    async fn put_change(&self, change: &Change) -> Result<bool, StoreError>;
    /// Every readable change, newest first (by `detected_at`, then id), and
    /// what the listing skipped.
    async fn list_changes(&self) -> Result<Listing<Change>, StoreError>;
}

/// Keeps notification channels.
///
/// # Contract
///
/// As [`ConfigStore`]'s, for channels: `put_channel` replaces by id;
/// `get_channel` and `delete_channel` of an unknown id are
/// [`StoreError::NotFound`]; `list_channels` returns every readable channel
/// sorted by `created` then `id`, skipping (and reporting) what it cannot
/// read, and fails only when it could read nothing. A stored channel is
/// checked as on creation: one edited to break the rules is not used.
///
/// Deliveries (one per channel and change, under
/// `deliveries/<channel>/<change>.json`) follow [`ResultStore`]'s rules for
/// conditional writes: [`PutMode::Create`] fails with
/// [`StoreError::Conflict`] when the delivery exists, [`PutMode::Update`]
/// unless it is still at that version. A delivery whose channel, change or
/// key disagree is skipped as corrupt.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait::async_trait]
pub trait ChannelStore: Send + Sync {
    /// Stores a channel under its id.
    async fn put_channel(&self, channel: &crate::channels::Channel) -> Result<(), StoreError>;
    /// The channel with this id.
    async fn get_channel(&self, id: Uuid) -> Result<crate::channels::Channel, StoreError>;
    /// Every channel.
    async fn list_channels(&self) -> Result<Listing<crate::channels::Channel>, StoreError>;
    /// Deletes the channel with this id.
    async fn delete_channel(&self, id: Uuid) -> Result<(), StoreError>;
    /// Writes a delivery under its channel and change, with `mode`'s
    /// conditions (queued with [`PutMode::Create`], claimed and settled with
    /// [`PutMode::Update`]).
    async fn put_delivery(
        &self,
        delivery: &crate::deliveries::Delivery,
        mode: PutMode,
    ) -> Result<Version, StoreError>;
    /// Every readable delivery of a channel with its version, oldest queued
    /// first, and what the listing skipped.
    async fn list_deliveries(
        &self,
        channel: Uuid,
    ) -> Result<Listing<Versioned<crate::deliveries::Delivery>>, StoreError>;
    /// Deletes a delivery: `Ok(false)` when there was none.
    async fn delete_delivery(&self, channel: Uuid, change: Uuid) -> Result<bool, StoreError>;
}

/// Keeps suppression rules.
///
/// # Contract
///
/// As [`ConfigStore`]'s, for rules: `put_suppression` replaces by id;
/// `get_suppression` and `delete_suppression` of an unknown id are
/// [`StoreError::NotFound`]; `list_suppressions` returns every readable
/// rule — expired ones too — sorted by `created` then `id`, skipping (and
/// reporting) what it cannot read, and fails only when it could read
/// nothing. A stored rule is checked as on creation (but for an expiry in
/// the past): one edited to break the rules is not used.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait::async_trait]
pub trait SuppressionStore: Send + Sync {
    /// Stores a rule under its id.
    async fn put_suppression(&self, rule: &crate::suppress::Suppression) -> Result<(), StoreError>;
    /// The rule with this id.
    async fn get_suppression(&self, id: Uuid) -> Result<crate::suppress::Suppression, StoreError>;
    /// Every rule.
    async fn list_suppressions(&self) -> Result<Listing<crate::suppress::Suppression>, StoreError>;
    /// Deletes the rule with this id.
    async fn delete_suppression(&self, id: Uuid) -> Result<(), StoreError>;
}

/// A store of configs, results, channels and suppressions: what
/// [`StoreLocation::open`] gives.
pub trait Store: ConfigStore + ResultStore + ChannelStore + SuppressionStore {}

impl<T: ConfigStore + ResultStore + ChannelStore + SuppressionStore> Store for T {}
