//! Scan results kept between runs, so summaries and feeds need not ask ECR
//! for every image on every request.
//!
//! A [`ResultStore`] keeps what a [`ScanBackend`] answered: the images a
//! repository's tags resolved to, and each digest's latest scan, with the
//! time it was recorded. [`RecordingBackend`] sits in front of a live
//! backend, records everything that passes through it and, when asked to
//! prefer recorded results, answers from the store:
//!
//! - finished scans (`COMPLETE`, `ACTIVE`, `FAILED`, …) are served from the
//!   store, marked with the time they were recorded;
//! - scans still to finish (`IN_PROGRESS`, `PENDING`) and images never
//!   scanned (`NOT_SCANNED`) are always read again from ECR;
//! - starting a scan records the digest as `IN_PROGRESS`, so the next read
//!   goes to ECR for the new result;
//! - records older than the maximum age (24 hours by default) are read
//!   again, so a result is never staler than that even without events;
//! - anything missing from the store, or a store that fails, falls back to
//!   ECR.
//!
//! In AWS, the `ecrscan-record-result` Lambda function records each
//! finished scan as ECR (or Amazon Inspector) announces it, so stored
//! results stay fresh without polling.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::backend::{BackendError, DigestScan, Resolution, ScanBackend};
use crate::config::RepositoryRef;
use crate::finding::ScanStatus;
use crate::store::StoreError;

/// A digest's scan, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedScan {
    /// When ecrscan read it from ECR.
    pub recorded_at: DateTime<Utc>,
    /// What ECR answered.
    pub scan: DigestScan,
}

/// A repository's tags resolved to digests, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedResolution {
    /// When ecrscan read it from ECR.
    pub recorded_at: DateTime<Utc>,
    /// What ECR answered.
    pub resolution: Resolution,
}

/// Keeps scan results between runs.
///
/// # Contract
///
/// - `put_*` replaces what was recorded under the same key; a crash never
///   leaves a half-written record.
/// - `get_*` returns the last record put under the key, or `Ok(None)`; a
///   record that cannot be read is `Ok(None)` (and logged), never an error
///   that hides the others.
/// - Keys: a scan by (region, registry, repository, digest); a resolution by
///   (region, registry, repository, tags), where no tags means every tagged
///   image.
/// - Safe for concurrent use.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait::async_trait]
pub trait ResultStore: Send + Sync {
    /// Records a digest's scan.
    async fn put_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
        scan: &RecordedScan,
    ) -> Result<(), StoreError>;
    /// The recorded scan of a digest.
    async fn get_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<Option<RecordedScan>, StoreError>;
    /// Records what a selection of tags resolved to.
    async fn put_resolution(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
        resolution: &RecordedResolution,
    ) -> Result<(), StoreError>;
    /// What a selection of tags resolved to, as recorded.
    async fn get_resolution(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Option<RecordedResolution>, StoreError>;
}

/// A store of both configs and results: what [`StoreLocation::open`](crate::StoreLocation::open) gives.
pub trait Store: crate::store::ConfigStore + ResultStore {}

impl<T: crate::store::ConfigStore + ResultStore> Store for T {}

/// Parses a stored record; a record that cannot be read is logged and
/// treated as absent.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Option<T> {
    match serde_json::from_slice(bytes) {
        Ok(record) => Some(record),
        Err(err) => {
            tracing::warn!(key, error = %err, "ignoring an unreadable result record");
            None
        }
    }
}

/// A record as stored: JSON.
pub(crate) fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    // Records hold strings, numbers and times only: serializing cannot fail.
    serde_json::to_vec(record).unwrap_or_default()
}

/// The key of a scan record, or a store error for an invalid digest.
pub(crate) fn checked_scan_key(
    repository: &RepositoryRef,
    digest: &str,
) -> Result<String, StoreError> {
    scan_key(repository, digest).ok_or_else(|| StoreError::Corrupt {
        key: digest.chars().take(80).collect(),
        message: "not an image digest (algorithm:hex)".into(),
    })
}

/// The relative location of a scan record: `results/scans/REGION/REGISTRY/REPOSITORY/DIGEST.json`,
/// with the digest's `:` written as `-`. `None` for a digest that is not
/// `algorithm:hex`, so no key can escape its directory.
pub fn scan_key(repository: &RepositoryRef, digest: &str) -> Option<String> {
    let (algorithm, hex) = digest.split_once(':')?;
    let valid = !algorithm.is_empty()
        && algorithm
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && !hex.is_empty()
        && hex.len() <= 128
        && hex.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| {
        format!(
            "results/scans/{}/{}/{}/{algorithm}-{hex}.json",
            repository.region, repository.registry, repository.repository
        )
    })
}

/// The relative location of a resolution record:
/// `results/images/REGION/REGISTRY/REPOSITORY/all.json` for every tagged
/// image, else `tags-<uuid of the sorted tags>.json`.
pub fn resolution_key(repository: &RepositoryRef, tags: &[String]) -> String {
    let selection = if tags.is_empty() {
        "all".to_owned()
    } else {
        let mut sorted: Vec<&str> = tags.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        let namespace = uuid::Uuid::from_u128(0x6d7a_1b3c_44e1_4c0b_9a55_3f1f_0b0e_0002);
        format!(
            "tags-{}",
            uuid::Uuid::new_v5(&namespace, sorted.join("\n").as_bytes())
        )
    };
    format!(
        "results/images/{}/{}/{}/{selection}.json",
        repository.region, repository.registry, repository.repository
    )
}

/// Which results a [`RecordingBackend`] answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// Recorded results where they are worth keeping; ECR for the rest.
    Recorded,
    /// Always ECR (and record what it says).
    Live,
}

/// A [`ScanBackend`] that records what a live backend answers in a
/// [`ResultStore`] and, with [`ReadFrom::Recorded`], answers from it.
///
/// Results served from the store carry their `recorded_at` time in
/// [`DigestScan::recorded_at`]; live results have none.
pub struct RecordingBackend {
    live: Arc<dyn ScanBackend>,
    results: Arc<dyn ResultStore>,
    read_from: ReadFrom,
    max_age: chrono::Duration,
}

/// How old a record may be and still be served: 24 hours.
pub const DEFAULT_MAX_AGE: chrono::Duration = chrono::Duration::hours(24);

impl std::fmt::Debug for RecordingBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingBackend")
            .field("read_from", &self.read_from)
            .finish_non_exhaustive()
    }
}

impl RecordingBackend {
    /// Records what `live` answers in `results`, reading as `read_from` says.
    pub fn new(
        live: Arc<dyn ScanBackend>,
        results: Arc<dyn ResultStore>,
        read_from: ReadFrom,
    ) -> RecordingBackend {
        RecordingBackend {
            live,
            results,
            read_from,
            max_age: DEFAULT_MAX_AGE,
        }
    }

    /// Serves records only while younger than `max_age`.
    pub fn with_max_age(mut self, max_age: chrono::Duration) -> RecordingBackend {
        self.max_age = max_age;
        self
    }

    fn fresh(&self, recorded_at: DateTime<Utc>) -> bool {
        Utc::now() - recorded_at <= self.max_age
    }

    async fn record_scan(&self, repository: &RepositoryRef, digest: &str, scan: &DigestScan) {
        let record = RecordedScan {
            recorded_at: Utc::now(),
            scan: scan.clone(),
        };
        if let Err(err) = self.results.put_scan(repository, digest, &record).await {
            tracing::warn!(error = %err, %repository, digest, "cannot record a scan result");
        }
    }
}

/// Whether a recorded scan can stand in for asking ECR again.
fn worth_serving(status: ScanStatus) -> bool {
    !matches!(
        status,
        ScanStatus::InProgress | ScanStatus::Pending | ScanStatus::NotScanned
    )
}

#[async_trait::async_trait]
impl ScanBackend for RecordingBackend {
    async fn resolve_images(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Resolution, BackendError> {
        if self.read_from == ReadFrom::Recorded {
            match self.results.get_resolution(repository, tags).await {
                Ok(Some(record)) if self.fresh(record.recorded_at) => return Ok(record.resolution),
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, %repository, "cannot read recorded images; asking ECR")
                }
            }
        }
        let resolution = self.live.resolve_images(repository, tags).await?;
        let record = RecordedResolution {
            recorded_at: Utc::now(),
            resolution: resolution.clone(),
        };
        if let Err(err) = self.results.put_resolution(repository, tags, &record).await {
            tracing::warn!(error = %err, %repository, "cannot record the images of a repository");
        }
        Ok(resolution)
    }

    async fn start_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<(), BackendError> {
        self.live.start_scan(repository, digest).await?;
        let started = DigestScan::without_findings(ScanStatus::InProgress, None);
        self.record_scan(repository, digest, &started).await;
        Ok(())
    }

    async fn scan_result(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<DigestScan, BackendError> {
        if self.read_from == ReadFrom::Recorded {
            match self.results.get_scan(repository, digest).await {
                Ok(Some(record))
                    if worth_serving(record.scan.status) && self.fresh(record.recorded_at) =>
                {
                    let mut scan = record.scan;
                    scan.recorded_at = Some(record.recorded_at);
                    return Ok(scan);
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, %repository, digest, "cannot read a recorded scan; asking ECR")
                }
            }
        }
        let scan = self.live.scan_result(repository, digest).await?;
        self.record_scan(repository, digest, &scan).await;
        Ok(scan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Image, MockScanBackend};
    use crate::finding::Finding;
    use crate::severity::Severity;
    use crate::store::MemoryStore;

    fn repository() -> RepositoryRef {
        RepositoryRef {
            region: "us-west-2".into(),
            registry: "123456789012".into(),
            repository: "test/ubuntu".into(),
        }
    }

    const DIGEST: &str = "sha256:0123456789abcdef";

    fn complete() -> DigestScan {
        let mut scan = DigestScan::without_findings(ScanStatus::Complete, None);
        scan.findings
            .push(Finding::new("CVE-2016-2779", Severity::High));
        scan
    }

    #[tokio::test]
    async fn finished_results_are_served_from_the_store_once_recorded() {
        let store = Arc::new(MemoryStore::new());
        let mut live = MockScanBackend::new();
        live.expect_scan_result()
            .times(1)
            .returning(|_, _| Ok(complete()));
        live.expect_resolve_images().times(1).returning(|_, _| {
            Ok(Resolution {
                images: vec![Image {
                    digest: DIGEST.into(),
                    tags: vec!["latest".into()],
                }],
                missing_tags: vec![],
            })
        });
        let backend = RecordingBackend::new(Arc::new(live), store.clone(), ReadFrom::Recorded);
        let tags = vec!["latest".to_owned()];
        for _ in 0..3 {
            assert_eq!(
                backend
                    .resolve_images(&repository(), &tags)
                    .await
                    .unwrap()
                    .images
                    .len(),
                1
            );
        }
        let first = backend.scan_result(&repository(), DIGEST).await.unwrap();
        assert_eq!(first.recorded_at, None, "read from ECR just now");
        let second = backend.scan_result(&repository(), DIGEST).await.unwrap();
        assert!(
            second.recorded_at.is_some(),
            "served from the store, saying when it was recorded"
        );
        assert_eq!(second.findings, first.findings);
    }

    #[tokio::test]
    async fn unfinished_results_and_started_scans_are_read_again() {
        let store = Arc::new(MemoryStore::new());
        let mut live = MockScanBackend::new();
        let mut calls = 0;
        live.expect_scan_result().times(3).returning(move |_, _| {
            calls += 1;
            Ok(match calls {
                1 => DigestScan::without_findings(ScanStatus::NotScanned, None),
                _ => complete(),
            })
        });
        live.expect_start_scan().times(1).returning(|_, _| Ok(()));
        let backend = RecordingBackend::new(Arc::new(live), store.clone(), ReadFrom::Recorded);
        assert_eq!(
            backend
                .scan_result(&repository(), DIGEST)
                .await
                .unwrap()
                .status,
            ScanStatus::NotScanned
        );
        // NOT_SCANNED is not served from the store: ECR is asked again.
        assert_eq!(
            backend
                .scan_result(&repository(), DIGEST)
                .await
                .unwrap()
                .status,
            ScanStatus::Complete
        );
        // A new scan makes the recorded result stale.
        backend.start_scan(&repository(), DIGEST).await.unwrap();
        let recorded = store
            .get_scan(&repository(), DIGEST)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(recorded.scan.status, ScanStatus::InProgress);
        assert_eq!(
            backend
                .scan_result(&repository(), DIGEST)
                .await
                .unwrap()
                .recorded_at,
            None
        );
    }

    #[tokio::test]
    async fn records_older_than_the_maximum_age_are_read_again() {
        let store = Arc::new(MemoryStore::new());
        let old = RecordedScan {
            recorded_at: Utc::now() - chrono::Duration::hours(25),
            scan: complete(),
        };
        store.put_scan(&repository(), DIGEST, &old).await.unwrap();
        let mut live = MockScanBackend::new();
        live.expect_scan_result()
            .times(1)
            .returning(|_, _| Ok(complete()));
        let backend = RecordingBackend::new(Arc::new(live), store.clone(), ReadFrom::Recorded);
        assert_eq!(
            backend
                .scan_result(&repository(), DIGEST)
                .await
                .unwrap()
                .recorded_at,
            None
        );
        // Now recorded afresh: served from the store.
        assert!(
            backend
                .scan_result(&repository(), DIGEST)
                .await
                .unwrap()
                .recorded_at
                .is_some()
        );
        let strict = RecordingBackend::new(
            Arc::new(MockScanBackend::new()),
            store.clone(),
            ReadFrom::Recorded,
        )
        .with_max_age(chrono::Duration::hours(1));
        assert!(
            strict
                .scan_result(&repository(), DIGEST)
                .await
                .unwrap()
                .recorded_at
                .is_some()
        );
    }

    #[tokio::test]
    async fn live_reads_always_ask_ecr_and_record() {
        let store = Arc::new(MemoryStore::new());
        let mut live = MockScanBackend::new();
        live.expect_scan_result()
            .times(2)
            .returning(|_, _| Ok(complete()));
        let backend = RecordingBackend::new(Arc::new(live), store.clone(), ReadFrom::Live);
        backend.scan_result(&repository(), DIGEST).await.unwrap();
        backend.scan_result(&repository(), DIGEST).await.unwrap();
        assert!(
            store
                .get_scan(&repository(), DIGEST)
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn a_failing_result_store_falls_back_to_ecr() {
        let mut results = MockResultStore::new();
        results.expect_get_scan().returning(|_, _| {
            Err(StoreError::Backend {
                store: "s3://b/".into(),
                message: "unreachable".into(),
                source: None,
            })
        });
        results.expect_put_scan().returning(|_, _, _| {
            Err(StoreError::Backend {
                store: "s3://b/".into(),
                message: "unreachable".into(),
                source: None,
            })
        });
        let mut live = MockScanBackend::new();
        live.expect_scan_result()
            .times(1)
            .returning(|_, _| Ok(complete()));
        let backend = RecordingBackend::new(Arc::new(live), Arc::new(results), ReadFrom::Recorded);
        assert_eq!(
            backend
                .scan_result(&repository(), DIGEST)
                .await
                .unwrap()
                .status,
            ScanStatus::Complete
        );
    }

    #[test]
    fn keys_stay_inside_their_directory() {
        assert_eq!(
            scan_key(&repository(), "sha256:ab12").as_deref(),
            Some("results/scans/us-west-2/123456789012/test/ubuntu/sha256-ab12.json")
        );
        for bad in [
            "",
            "sha256",
            "sha256:",
            "../x:ab",
            "sha256:ab/../../c",
            "SHA256:ab",
            "sha256:xyz",
        ] {
            assert_eq!(scan_key(&repository(), bad), None, "{bad}");
        }
        let a = resolution_key(&repository(), &["b".into(), "a".into()]);
        assert_eq!(a, resolution_key(&repository(), &["a".into(), "b".into()]));
        assert!(resolution_key(&repository(), &[]).ends_with("/all.json"));
    }
}
