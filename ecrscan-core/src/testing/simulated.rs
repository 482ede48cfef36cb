//! [`SimulatedEcr`]: a registry in memory that answers as ECR does, with an
//! optional latency per call and a cap on calls a second, for tests,
//! benchmarks and examples.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::backend::{BackendError, Image, Resolution, ScanBackend};
use crate::config::RepositoryRef;
use crate::finding::{DigestScan, Finding, LatestScan, ScanStatus};
use crate::severity::SeverityCounts;

/// A simulated ECR: repositories with tagged (and untagged) images, a scan
/// of a digest after `start_scan` with the findings it was given, ECR's one
/// scan per image per day, and per-call latency and a rate cap.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use ecrscan_core::testing::SimulatedEcr;
/// use ecrscan_core::{RepositoryRef, ScanBackend, ScanStatus};
/// let repository = RepositoryRef::new("us-west-2", "123456789012", "test/ubuntu").unwrap();
/// let ecr = SimulatedEcr::new().with_image(&repository, "sha256:aa", &["latest"]);
/// ecr.start_scan(&repository, "sha256:aa").await.unwrap();
/// let latest = ecr.scan_result(&repository, "sha256:aa").await.unwrap();
/// assert_eq!(latest.scan.status, ScanStatus::Complete);
/// # }
/// ```
#[derive(Debug, Default)]
pub struct SimulatedEcr {
    repositories: BTreeMap<RepositoryRef, Vec<(String, Vec<String>)>>,
    findings: HashMap<String, Vec<Finding>>,
    scans: Mutex<HashMap<(RepositoryRef, String), DateTime<Utc>>>,
    latency: Duration,
    cap: Option<DefaultDirectRateLimiter>,
    calls: AtomicUsize,
}

impl SimulatedEcr {
    /// An empty registry answering at once.
    pub fn new() -> SimulatedEcr {
        SimulatedEcr::default()
    }

    /// Adds an image with these tags (none: an untagged image) to a
    /// repository, creating the repository.
    pub fn with_image(
        mut self,
        repository: &RepositoryRef,
        digest: &str,
        tags: &[&str],
    ) -> SimulatedEcr {
        let mut tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
        tags.sort();
        self.repositories
            .entry(repository.clone())
            .or_default()
            .push((digest.to_owned(), tags));
        self
    }

    /// What a scan of `digest` finds.
    pub fn with_findings(mut self, digest: &str, findings: Vec<Finding>) -> SimulatedEcr {
        self.findings.insert(digest.to_owned(), findings);
        self
    }

    /// Marks `digest` as scanned at `at` (before the simulation starts).
    pub fn with_scan(
        self,
        repository: &RepositoryRef,
        digest: &str,
        at: DateTime<Utc>,
    ) -> SimulatedEcr {
        self.scans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert((repository.clone(), digest.to_owned()), at);
        self
    }

    /// Every call takes `latency`.
    pub fn with_latency(mut self, latency: Duration) -> SimulatedEcr {
        self.latency = latency;
        self
    }

    /// The service admits at most `per_second` calls a second, with bursts
    /// of `burst`; a caller over the cap waits (as a throttled call that is
    /// retried would).
    pub fn with_cap(mut self, per_second: NonZeroU32, burst: NonZeroU32) -> SimulatedEcr {
        self.cap = Some(RateLimiter::direct(
            Quota::per_second(per_second).allow_burst(burst),
        ));
        self
    }

    /// Calls answered so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    async fn call(&self) {
        if let Some(cap) = &self.cap {
            cap.until_ready().await;
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    fn images(
        &self,
        repository: &RepositoryRef,
    ) -> Result<&Vec<(String, Vec<String>)>, BackendError> {
        self.repositories
            .get(repository)
            .ok_or_else(|| BackendError::RepositoryNotFound {
                repository: repository.clone(),
            })
    }
}

#[async_trait::async_trait]
impl ScanBackend for SimulatedEcr {
    async fn resolve_images(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Resolution, BackendError> {
        self.call().await;
        let images = self.images(repository)?;
        let mut selected: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (digest, image_tags) in images {
            for tag in image_tags {
                if tags.is_empty() || tags.contains(tag) {
                    selected.entry(digest).or_default().push(tag.clone());
                }
            }
        }
        let missing_tags = tags
            .iter()
            .filter(|tag| {
                !images
                    .iter()
                    .any(|(_, image_tags)| image_tags.contains(tag))
            })
            .cloned()
            .collect();
        Ok(Resolution {
            images: selected
                .into_iter()
                .map(|(digest, tags)| Image {
                    digest: digest.to_owned(),
                    tags,
                })
                .collect(),
            missing_tags,
        })
    }

    async fn start_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<(), BackendError> {
        self.call().await;
        if !self.images(repository)?.iter().any(|(d, _)| d == digest) {
            return Err(BackendError::ImageNotFound {
                image: format!("{}@{digest}", repository.repository),
            });
        }
        let now = Utc::now();
        let mut scans = self
            .scans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = (repository.clone(), digest.to_owned());
        if scans
            .get(&key)
            .is_some_and(|at| now - *at < chrono::Duration::hours(24))
        {
            return Err(BackendError::ScanQuotaExceeded);
        }
        scans.insert(key, now);
        Ok(())
    }

    async fn scan_result(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<LatestScan, BackendError> {
        self.call().await;
        if !self.images(repository)?.iter().any(|(d, _)| d == digest) {
            return Err(BackendError::ImageNotFound {
                image: format!("{}@{digest}", repository.repository),
            });
        }
        let scanned_at = self
            .scans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&(repository.clone(), digest.to_owned()))
            .copied();
        let Some(scanned_at) = scanned_at else {
            return Ok(DigestScan::without_findings(ScanStatus::NotScanned, None).into());
        };
        let mut findings = self.findings.get(digest).cloned().unwrap_or_default();
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(DigestScan {
            status: ScanStatus::Complete,
            status_description: Some("The scan was completed successfully.".into()),
            scan_completed_at: Some(scanned_at),
            vulnerability_source_updated_at: None,
            severity_counts: findings
                .iter()
                .map(|f| (f.severity, 1))
                .collect::<SeverityCounts>(),
            findings,
        }
        .into())
    }
}
