//! A backend paced as `EcrBackend` paces its calls: each waits for its turn
//! at the rate of its action, and tells the rate it was accepted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::backend::{BackendError, Resolution, ScanBackend};
use crate::config::RepositoryRef;
use crate::finding::LatestScan;
use crate::ratelimit::{RateLimits, RatePolicy};

/// `inner` behind [`RateLimits`], counting the scans started.
pub struct Paced {
    inner: Arc<dyn ScanBackend>,
    limits: RateLimits,
    starts: AtomicUsize,
}

impl std::fmt::Debug for Paced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paced").finish_non_exhaustive()
    }
}

impl Paced {
    /// `inner` at the default adaptive rate, under `ceiling` calls a second
    /// per action when given (starting at it, as `EcrBackend` does).
    pub fn new(inner: Arc<dyn ScanBackend>, ceiling: Option<f64>) -> Paced {
        let mut policy = RatePolicy::adaptive(ceiling);
        if let Some(ceiling) = ceiling {
            policy.initial = ceiling;
        }
        Paced {
            inner,
            limits: RateLimits::adaptive(policy),
            starts: AtomicUsize::new(0),
        }
    }

    /// StartImageScan calls made.
    pub fn starts(&self) -> usize {
        self.starts.load(Ordering::Relaxed)
    }

    async fn paced<T>(
        &self,
        action: &str,
        repository: &RepositoryRef,
        call: impl Future<Output = T>,
    ) -> T {
        self.limits.acquire(action, &repository.region).await;
        let answer = call.await;
        self.limits.accepted(action, &repository.region);
        answer
    }
}

#[async_trait::async_trait]
impl ScanBackend for Paced {
    async fn list_repositories(
        &self,
        registry: &str,
        region: &str,
    ) -> Result<Vec<String>, BackendError> {
        let place = RepositoryRef {
            region: region.to_owned(),
            registry: registry.to_owned(),
            repository: String::new(),
        };
        self.paced(
            "ecr:DescribeRepositories",
            &place,
            self.inner.list_repositories(registry, region),
        )
        .await
    }

    async fn list_accounts(&self) -> Result<Vec<crate::backend::Account>, BackendError> {
        self.inner.list_accounts().await
    }

    async fn resolve_images(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Resolution, BackendError> {
        self.paced(
            "ecr:DescribeImages",
            repository,
            self.inner.resolve_images(repository, tags),
        )
        .await
    }

    async fn start_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<(), BackendError> {
        self.starts.fetch_add(1, Ordering::Relaxed);
        self.paced(
            "ecr:StartImageScan",
            repository,
            self.inner.start_scan(repository, digest),
        )
        .await
    }

    async fn scan_result(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<LatestScan, BackendError> {
        self.paced(
            "ecr:DescribeImageScanFindings",
            repository,
            self.inner.scan_result(repository, digest),
        )
        .await
    }
}
