//! The [`ScanBackend`] trait: where images, scans and findings come from.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::RepositoryRef;
use crate::finding::{Finding, LatestScan};

/// Which findings a summary needs besides the counts: those of the
/// vulnerabilities suppression rules name, so the rules can be judged;
/// none without rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingsWanted(Option<Arc<HashSet<String>>>);

impl FindingsWanted {
    /// No findings: counts only.
    pub fn none() -> FindingsWanted {
        FindingsWanted(None)
    }

    /// The findings of these vulnerabilities (compared without case).
    pub fn of(vulnerabilities: impl IntoIterator<Item = String>) -> FindingsWanted {
        let set: HashSet<String> = vulnerabilities
            .into_iter()
            .map(|v| v.to_ascii_uppercase())
            .collect();
        FindingsWanted((!set.is_empty()).then(|| Arc::new(set)))
    }

    /// Whether no finding is wanted.
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// Whether `vulnerability` is wanted.
    pub fn wants(&self, vulnerability: &str) -> bool {
        self.0
            .as_ref()
            .is_some_and(|set| set.contains(&vulnerability.to_ascii_uppercase()))
    }

    /// Keeps only the wanted findings.
    pub fn keep_wanted(&self, findings: &mut Vec<Finding>) {
        if self.is_none() {
            findings.clear();
        } else {
            findings.retain(|finding| self.wants(&finding.name));
        }
    }
}

/// An image in a repository: one digest and the tags that point at it, and
/// — when every tagged image was listed — when it was pushed and last
/// pulled, and whether it is archived.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Image {
    /// The image digest, `sha256:…`.
    pub digest: String,
    /// The tags of this digest that were asked for (or all its tags, when
    /// every tagged image was asked for), sorted.
    pub tags: Vec<String>,
    /// When it was pushed (ECR's `imagePushedAt`), when listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When ECR last recorded a pull (`lastRecordedPullTime`, updated about
    /// once a day); `None` when never pulled or not listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pulled_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether ECR archived it (`imageStatus` `ARCHIVED`): never selected.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archived: bool,
}

impl Image {
    /// An image with these tags and no listing details.
    pub fn tagged(
        digest: impl Into<String>,
        tags: impl IntoIterator<Item = impl Into<String>>,
    ) -> Image {
        Image {
            digest: digest.into(),
            tags: tags.into_iter().map(Into::into).collect(),
            ..Image::default()
        }
    }
}

/// An account of an AWS Organization, as `organizations:ListAccounts` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The 12-digit account ID.
    pub id: String,
    /// Its name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it is active (not suspended or closing): only active
    /// accounts are scanned.
    pub active: bool,
}

/// The images a selection resolved to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// One entry per digest, sorted by digest; several selected tags of one
    /// digest are one image.
    pub images: Vec<Image>,
    /// Selected tags that don't exist in the repository, in the order asked.
    pub missing_tags: Vec<String>,
}

/// What can go wrong when asking a [`ScanBackend`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BackendError {
    /// The repository does not exist (or is not visible to the caller).
    #[error("repository {repository} not found")]
    RepositoryNotFound {
        /// The repository asked for.
        repository: RepositoryRef,
    },
    /// The image does not exist.
    #[error("image {image} not found")]
    ImageNotFound {
        /// The image asked for (digest or tag).
        image: String,
    },
    /// The image was scanned in the last 24 hours: ECR allows one basic
    /// scan per image per day.
    #[error("scan quota reached: the image was already scanned in the last 24 hours")]
    ScanQuotaExceeded,
    /// The quota is reached, and the recorded start of the image's last
    /// scan says when it frees: a run that reached the image a little
    /// earlier than the day before can try again then.
    #[error("scan quota reached: it frees at {at}")]
    ScanQuotaFreesAt {
        /// When the image's last scan is 24 hours old.
        at: chrono::DateTime<chrono::Utc>,
    },
    /// The registry uses continuous enhanced scanning (Amazon Inspector),
    /// which re-scans images by itself; a manual scan is neither needed nor
    /// possible.
    #[error("the registry uses continuous enhanced scanning")]
    ContinuousScanning,
    /// The registry's enhanced scanning scans this repository's images on
    /// push only: they are never re-scanned, and a manual scan is not
    /// possible.
    #[error("the registry's enhanced scanning scans this repository on push only")]
    ScanOnPushOnly,
    /// No rule of the registry's enhanced scanning matches this
    /// repository: its images are never scanned, and a manual scan is not
    /// possible.
    #[error("no rule of the registry's enhanced scanning covers this repository")]
    NotCovered,
    /// ECR cannot scan this image type.
    #[error("unsupported image: {message}")]
    UnsupportedImage {
        /// ECR's explanation.
        message: String,
    },
    /// AWS throttled the request and retries did not get it through.
    #[error("throttled by AWS ({code}) after retries")]
    Throttled {
        /// The AWS error code, e.g. `ThrottlingException`.
        code: String,
    },
    /// The caller may not perform the action.
    #[error("access denied to {action}: {message}")]
    AccessDenied {
        /// The API action, e.g. `ecr:StartImageScan`.
        action: String,
        /// AWS's message.
        message: String,
    },
    /// The request did not finish in time.
    #[error("{action} timed out")]
    Timeout {
        /// The API action that timed out.
        action: String,
    },
    /// The role of another account could not be assumed: that account's
    /// images cannot be read.
    #[error("cannot assume {role}: {message}")]
    CannotAssumeRole {
        /// The role's ARN.
        role: String,
        /// Why, e.g. `AccessDenied`.
        message: String,
    },
    /// AWS could not be reached: DNS, connection refused, TLS.
    #[error("could not reach AWS for {action}: {message}")]
    Unreachable {
        /// The API action.
        action: String,
        /// The transport's explanation.
        message: String,
    },
    /// Anything else, with the AWS error code when there is one.
    #[error("{action} failed: {message}")]
    Other {
        /// The API action that failed.
        action: String,
        /// The AWS error code, e.g. `ValidationException`.
        code: Option<String>,
        /// What went wrong, as AWS or the SDK said it.
        message: String,
    },
}

impl BackendError {
    /// A one-line description safe to show to API clients: the action and
    /// the AWS error code, without AWS's message (which can name the
    /// caller's role, account or resources). [`Display`](std::fmt::Display)
    /// gives the full details, for logs and the CLI.
    pub fn public_message(&self) -> String {
        match self {
            BackendError::AccessDenied { action, .. } => format!("access denied to {action}"),
            BackendError::UnsupportedImage { .. } => "ECR cannot scan this image type".to_owned(),
            BackendError::Unreachable { action, .. } => format!("could not reach AWS for {action}"),
            BackendError::Other {
                action,
                code: Some(code),
                ..
            } => format!("{action} failed ({code})"),
            BackendError::Other { action, .. } => format!("{action} failed"),
            other => other.to_string(),
        }
    }
}

/// Where images, scans and findings come from: Amazon ECR in production
/// (`EcrBackend`), a mock or a simulation in tests.
///
/// # Contract
///
/// - [`resolve_images`](ScanBackend::resolve_images) returns each digest
///   once, with the selected tags that point at it; with no tags selected it
///   returns every tagged image, never an untagged one; a selected tag that
///   does not exist is listed in [`Resolution::missing_tags`], not an error.
///   A missing repository is [`BackendError::RepositoryNotFound`]. With no
///   tags selected, each image comes with every one of its tags and, where
///   the backend knows them, when it was pushed and last pulled and whether
///   it is archived.
/// - [`list_repositories`](ScanBackend::list_repositories) returns every
///   repository name of a registry in a region, sorted, each once.
/// - [`list_accounts`](ScanBackend::list_accounts) returns every account of
///   the caller's AWS Organization (active or not), sorted by id; a backend
///   that knows no organization returns an error saying so.
/// - [`start_scan`](ScanBackend::start_scan) starts a scan of one digest. An
///   image already scanned within the quota period is
///   [`BackendError::ScanQuotaExceeded`]; a registry that scans
///   continuously is [`BackendError::ContinuousScanning`]. Neither is
///   retried.
/// - [`scan_result`](ScanBackend::scan_result) returns the latest scan of
///   one digest with *every* finding (all pages), and its
///   [`Origin`](crate::finding::Origin): live for a backend that asks ECR. An image never scanned is
///   `Ok` with [`ScanStatus::NotScanned`](crate::ScanStatus::NotScanned); an image ECR cannot scan is `Ok`
///   with [`ScanStatus::UnsupportedImage`](crate::ScanStatus::UnsupportedImage).
/// - Throttling and transient failures are retried within the backend's
///   bounds before an error is returned; no call blocks forever.
/// - Implementations are `Send + Sync` and are called concurrently.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait::async_trait]
pub trait ScanBackend: Send + Sync {
    /// Every repository of the registry `registry` in `region`, sorted.
    async fn list_repositories(
        &self,
        registry: &str,
        region: &str,
    ) -> Result<Vec<String>, BackendError>;

    /// Every account of the caller's AWS Organization, sorted by id.
    async fn list_accounts(&self) -> Result<Vec<Account>, BackendError>;

    /// Resolves tags of a repository to image digests; no tags means every
    /// tagged image.
    async fn resolve_images(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Resolution, BackendError>;

    /// Starts a scan of one image digest.
    async fn start_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<(), BackendError>;

    /// Reads the latest scan of one image digest, with every finding, and
    /// says where it came from.
    async fn scan_result(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<LatestScan, BackendError>;

    /// A backend to read the summary of images of `repositories` from, if
    /// this backend has a cheaper way than one `scan_result` per image. Its
    /// results need carry only the `wanted` findings (the counts are
    /// always whole).
    async fn summary_view(
        &self,
        _repositories: &[RepositoryRef],
        _wanted: &FindingsWanted,
    ) -> Option<std::sync::Arc<dyn ScanBackend>> {
        None
    }
}
