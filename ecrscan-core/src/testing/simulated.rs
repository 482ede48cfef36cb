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

use crate::backend::{Account, BackendError, Image, Resolution, ScanBackend};
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
    repositories: BTreeMap<RepositoryRef, Vec<Image>>,
    accounts: Option<Vec<Account>>,
    denied: BTreeMap<String, String>,
    findings: HashMap<String, Vec<Finding>>,
    scans: Mutex<HashMap<(RepositoryRef, String), DateTime<Utc>>>,
    latency: Duration,
    cap: Option<DefaultDirectRateLimiter>,
    calls: AtomicUsize,
    calls_by_action: Mutex<BTreeMap<&'static str, usize>>,
}

impl SimulatedEcr {
    /// An empty registry answering at once.
    pub fn new() -> SimulatedEcr {
        SimulatedEcr::default()
    }

    /// Adds an image with these tags (none: an untagged image) to a
    /// repository, creating the repository.
    pub fn with_image(
        self,
        repository: &RepositoryRef,
        digest: &str,
        tags: &[&str],
    ) -> SimulatedEcr {
        let mut tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
        tags.sort();
        self.with_image_details(
            repository,
            Image {
                digest: digest.to_owned(),
                tags,
                ..Image::default()
            },
        )
    }

    /// Adds an image with its push and pull times and archive status.
    pub fn with_image_details(mut self, repository: &RepositoryRef, image: Image) -> SimulatedEcr {
        self.repositories
            .entry(repository.clone())
            .or_default()
            .push(image);
        self
    }

    /// The accounts of the caller's organization (without them,
    /// [`ScanBackend::list_accounts`] fails as outside an organization).
    pub fn with_accounts(mut self, accounts: Vec<Account>) -> SimulatedEcr {
        self.accounts = Some(accounts);
        self
    }

    /// Every call about the registry `account` fails as a role that cannot
    /// be assumed.
    pub fn with_role_denied(mut self, account: &str) -> SimulatedEcr {
        self.denied.insert(
            account.to_owned(),
            format!("arn:aws:iam::{account}:role/ecrscan-reader"),
        );
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

    /// Calls of one action answered so far: `list_accounts`,
    /// `list_repositories`, `resolve_images`, `start_scan` or
    /// `scan_result`.
    pub fn calls_of(&self, action: &str) -> usize {
        self.calls_by_action
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(action)
            .copied()
            .unwrap_or(0)
    }

    async fn call(&self, action: &'static str) {
        if let Some(cap) = &self.cap {
            cap.until_ready().await;
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        *self
            .calls_by_action
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(action)
            .or_default() += 1;
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    fn allowed(&self, registry: &str) -> Result<(), BackendError> {
        match self.denied.get(registry) {
            Some(role) => Err(BackendError::CannotAssumeRole {
                role: role.clone(),
                message: "AccessDenied".into(),
            }),
            None => Ok(()),
        }
    }

    fn images(&self, repository: &RepositoryRef) -> Result<&Vec<Image>, BackendError> {
        self.allowed(&repository.registry)?;
        self.repositories
            .get(repository)
            .ok_or_else(|| BackendError::RepositoryNotFound {
                repository: repository.clone(),
            })
    }
}

#[async_trait::async_trait]
impl ScanBackend for SimulatedEcr {
    async fn list_repositories(
        &self,
        registry: &str,
        region: &str,
    ) -> Result<Vec<String>, BackendError> {
        self.call("list_repositories").await;
        self.allowed(registry)?;
        Ok(self
            .repositories
            .keys()
            .filter(|repository| repository.registry == registry && repository.region == region)
            .map(|repository| repository.repository.clone())
            .collect())
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, BackendError> {
        self.call("list_accounts").await;
        let mut accounts = self.accounts.clone().ok_or_else(|| BackendError::Other {
            action: "organizations:ListAccounts".into(),
            code: Some("AWSOrganizationsNotInUseException".into()),
            message: "the simulated caller is in no organization".into(),
        })?;
        accounts.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(accounts)
    }

    async fn resolve_images(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Resolution, BackendError> {
        self.call("resolve_images").await;
        let images = self.images(repository)?;
        let mut selected: BTreeMap<&str, Image> = BTreeMap::new();
        for image in images {
            for tag in &image.tags {
                if tags.is_empty() || tags.contains(tag) {
                    let entry = selected.entry(&image.digest).or_insert_with(|| Image {
                        tags: Vec::new(),
                        ..image.clone()
                    });
                    entry.tags.push(tag.clone());
                }
            }
        }
        let missing_tags = tags
            .iter()
            .filter(|tag| !images.iter().any(|image| image.tags.contains(tag)))
            .cloned()
            .collect();
        Ok(Resolution {
            images: selected.into_values().collect(),
            missing_tags,
        })
    }

    async fn start_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<(), BackendError> {
        self.call("start_scan").await;
        if !self
            .images(repository)?
            .iter()
            .any(|image| image.digest == digest)
        {
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
        self.call("scan_result").await;
        if !self
            .images(repository)?
            .iter()
            .any(|image| image.digest == digest)
        {
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
