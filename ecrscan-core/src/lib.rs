//! # ecrscan-core
//!
//! Continuous vulnerability scanning for container images in Amazon ECR.
//!
//! ECR scans an image once, on push or when asked; new CVEs are published
//! every day. ecrscan keeps a list of [`ScanConfig`]s (a region, a registry,
//! a repository and optionally some tags), re-scans their images on a
//! schedule and reports what ECR found.
//!
//! The crate is built around two traits:
//!
//! - [`ConfigStore`] keeps scan configs and [`ResultStore`] scan results,
//!   both on the byte layer [`ObjectStore`]. [`MemoryStore`] and
//!   [`DirStore`] are always available; `S3Store` (feature `s3`) stores them
//!   in an S3 bucket exactly as the AWS sample "amazon-ecr-continuous-scan"
//!   does.
//! - [`ScanBackend`] resolves a config to images, starts scans and reads
//!   results. `EcrBackend` (feature `ecr`) talks to Amazon ECR.
//!
//! On top of them sit the operations — [`rescan`](scan::rescan),
//! [`collect_summary`](scan::collect_summary) — and the pure renderers in
//! [`render`]: the sample's text summary, a JSON summary and an Atom feed.
//!
//! ```
//! use std::sync::Arc;
//! use ecrscan_core::{ConfigSpec, ConfigStore, MemoryStore, ScanConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store: Arc<dyn ConfigStore> = Arc::new(MemoryStore::new());
//! let spec = ConfigSpec::from_json(
//!     br#"{"region":"us-west-2","registry":"123456789012","repository":"test/ubuntu","tags":["16.04"]}"#,
//! )?;
//! let config = ScanConfig::create(spec, chrono::Utc::now());
//! store.put(&config).await?;
//! assert_eq!(store.list().await?.items.len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! ## Cargo features
//!
//! | feature | what it adds |
//! |---|---|
//! | `s3` (default) | `S3Store`, the S3 config store |
//! | `ecr` (default) | `EcrBackend`, the Amazon ECR scan backend |
//! | `sqs` (default) | `SqsWorkQueue`, the scheduled scan's work queue on Amazon SQS |
//! | `logging` | [`logging::log_filter`], the log filter with credentials kept out |
//! | `mocks` | `MockConfigStore` and `MockScanBackend` (mockall) |
//! | `test-util` | [`conformance`], the `ConfigStore` conformance suite |
#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod backend;
pub mod changes;
pub mod channels;
pub mod config;
pub mod deliveries;
pub mod explain;
pub mod finding;
pub mod notify;
pub mod pattern;
pub mod queue;
pub mod ratelimit;
pub mod recorder;
pub mod records;
pub mod render;
mod rollups;
pub mod scan;
pub mod select;
pub mod settings;
pub mod severity;
pub mod store;
pub mod suppress;
pub mod trend;
pub mod webhooks;

#[cfg(feature = "test-util")]
pub mod conformance;
#[cfg(feature = "test-util")]
pub mod testing;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "logging")]
pub mod logging;

pub use backend::{Account, BackendError, FindingsWanted, Image, Resolution, ScanBackend};
pub use changes::{Change, ChangeKind};
pub use config::{
    ConfigError, ConfigSpec, RepositoryRef, ScanConfig, SelectionOptions, ValidationError,
};
pub use finding::{
    DigestScan, Finding, FindingKey, FindingKind, ImageRef, ImageScanResult, LatestScan, Origin,
    ScanStatus,
};
pub use recorder::{ReadFrom, RecordOptions, Recorder, Recording, RecordingBackend, RollupView};
pub use records::{Applied, DigestRecord, RecordedScan, Rollup, TagMove, TagRecord};
pub use scan::{
    ImageScanReport, RescanReport, ScanOptions, ScanOutcome, Summary, SummaryRow, collect_results,
    collect_summary, rescan,
};
pub use severity::{Severity, SeverityCounts};
pub use store::{
    ChannelStore, ConfigStore, DirStore, Listing, MemoryStore, ObjectStore, PutMode, RecordKind,
    ResultStore, Store, StoreError, StoreLocation, SuppressionStore,
};
pub use suppress::{Suppression, Suppressions};

#[cfg(feature = "mocks")]
pub use backend::MockScanBackend;
#[cfg(feature = "mocks")]
pub use store::MockConfigStore;
#[cfg(feature = "mocks")]
pub use store::MockResultStore;
#[cfg(feature = "mocks")]
pub use store::MockSuppressionStore;

#[cfg(feature = "s3")]
pub use store::S3Store;

#[cfg(feature = "ecr")]
pub use aws::ecr::{EcrBackend, EcrBackendOptions};

#[cfg(feature = "aws")]
pub use aws::{AwsSettings, load_sdk_config};

/// The README's Rust examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
