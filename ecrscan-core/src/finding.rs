//! Findings and image scan results.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::severity::{Severity, SeverityCounts};

/// Which kind of ECR scan produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    /// ECR basic scanning (`findings`).
    Basic,
    /// ECR enhanced scanning by Amazon Inspector (`enhancedFindings`).
    Enhanced,
}

/// One vulnerability found in an image, from basic or enhanced scanning.
///
/// | field | basic (`ImageScanFinding`) | enhanced (`EnhancedImageScanFinding`) |
/// |---|---|---|
/// | `name` | `name` (the CVE id) | `packageVulnerabilityDetails.vulnerabilityId` |
/// | `title` | — | `title` |
/// | `description` | `description` | `description` |
/// | `uri` | `uri` | `packageVulnerabilityDetails.sourceUrl` |
/// | `severity` | `severity` | `severity` |
/// | `score` | `CVSS3_SCORE`, else `CVSS2_SCORE` attribute | `score` |
/// | `package_name`, `package_version` | `package_name`, `package_version` attributes | first vulnerable package |
/// | `fixed_in_version` | — | first vulnerable package's `fixedInVersion` |
/// | `fix_available` | — | `fixAvailable` (`YES`, `NO`, `PARTIAL`) |
/// | `first_observed_at` | — | `firstObservedAt` |
/// | `attributes` | every attribute | — |
///
/// Every string is AWS-provided and untrusted: renderers escape it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Basic or enhanced.
    pub kind: FindingKind,
    /// The vulnerability id, e.g. `CVE-2019-5188`.
    pub name: String,
    /// A one-line title (enhanced findings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A description of the vulnerability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A link to the vulnerability's details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The severity.
    pub severity: Severity,
    /// The CVSS score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The vulnerable package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_name: Option<String>,
    /// The installed version of the vulnerable package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_version: Option<String>,
    /// The version that fixes it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_in_version: Option<String>,
    /// Whether a fix is available: `YES`, `NO` or `PARTIAL` (enhanced findings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix_available: Option<String>,
    /// When Amazon Inspector first saw the finding (enhanced findings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_observed_at: Option<DateTime<Utc>>,
    /// The basic finding's attributes, e.g. `package_name`, `CVSS2_SCORE`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

impl Finding {
    /// A basic finding with the given name and severity and nothing else.
    pub fn new(name: impl Into<String>, severity: Severity) -> Finding {
        Finding {
            kind: FindingKind::Basic,
            name: name.into(),
            title: None,
            description: None,
            uri: None,
            severity,
            score: None,
            package_name: None,
            package_version: None,
            fixed_in_version: None,
            fix_available: None,
            first_observed_at: None,
            attributes: BTreeMap::new(),
        }
    }
}

/// An image: its repository and, as far as known, its tag and digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageRef {
    /// The repository name.
    pub repository: String,
    /// The tag, if the image was named by one.
    pub tag: Option<String>,
    /// The image digest (`sha256:…`), once resolved.
    pub digest: Option<String>,
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// The state of an image's scan: ECR's own statuses, plus three of
/// ecrscan's for images that could not be looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScanStatus {
    /// The scan finished; findings are known.
    Complete,
    /// A scan is running.
    InProgress,
    /// The scan failed.
    Failed,
    /// ECR cannot scan this image (e.g. its OS is not supported).
    UnsupportedImage,
    /// Enhanced scanning: the image is under continuous scanning.
    Active,
    /// Enhanced scanning: the scan is pending.
    Pending,
    /// Enhanced scanning: the image is too old to be scanned continuously.
    ScanEligibilityExpired,
    /// Enhanced scanning: findings cannot be shown.
    FindingsUnavailable,
    /// No scan of this image exists yet.
    NotScanned,
    /// The configured tag does not exist in the repository.
    TagNotFound,
    /// The repository does not exist.
    RepositoryNotFound,
}

impl ScanStatus {
    /// Every status, in declaration order.
    pub const ALL: [ScanStatus; 11] = [
        ScanStatus::Complete,
        ScanStatus::InProgress,
        ScanStatus::Failed,
        ScanStatus::UnsupportedImage,
        ScanStatus::Active,
        ScanStatus::Pending,
        ScanStatus::ScanEligibilityExpired,
        ScanStatus::FindingsUnavailable,
        ScanStatus::NotScanned,
        ScanStatus::TagNotFound,
        ScanStatus::RepositoryNotFound,
    ];

    /// The status as ECR spells it, e.g. `IN_PROGRESS`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanStatus::Complete => "COMPLETE",
            ScanStatus::InProgress => "IN_PROGRESS",
            ScanStatus::Failed => "FAILED",
            ScanStatus::UnsupportedImage => "UNSUPPORTED_IMAGE",
            ScanStatus::Active => "ACTIVE",
            ScanStatus::Pending => "PENDING",
            ScanStatus::ScanEligibilityExpired => "SCAN_ELIGIBILITY_EXPIRED",
            ScanStatus::FindingsUnavailable => "FINDINGS_UNAVAILABLE",
            ScanStatus::NotScanned => "NOT_SCANNED",
            ScanStatus::TagNotFound => "TAG_NOT_FOUND",
            ScanStatus::RepositoryNotFound => "REPOSITORY_NOT_FOUND",
        }
    }

    /// Parses ECR's spelling; `None` for a status this version doesn't know.
    pub fn parse(status: &str) -> Option<ScanStatus> {
        ScanStatus::ALL
            .into_iter()
            .find(|known| known.as_str() == status)
    }

    /// Whether findings are known: a finished basic scan, or an enhanced
    /// image under continuous scanning.
    pub fn has_findings(self) -> bool {
        matches!(self, ScanStatus::Complete | ScanStatus::Active)
    }

    /// Whether a scan is still to finish (`IN_PROGRESS` or `PENDING`).
    pub fn is_pending(self) -> bool {
        matches!(self, ScanStatus::InProgress | ScanStatus::Pending)
    }
}

impl fmt::Display for ScanStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known of one image's latest scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageScanResult {
    /// The image.
    pub image: ImageRef,
    /// The scan's status.
    pub status: ScanStatus,
    /// ECR's explanation of the status, or the reason the image could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_description: Option<String>,
    /// When the scan finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_completed_at: Option<DateTime<Utc>>,
    /// How recent the vulnerability database was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vulnerability_source_updated_at: Option<DateTime<Utc>>,
    /// Findings per severity, as ECR counted them.
    pub severity_counts: SeverityCounts,
    /// The findings, most severe first.
    pub findings: Vec<Finding>,
    /// When the result was recorded, for a result read from stored results;
    /// `None` when read from ECR just now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<DateTime<Utc>>,
}

impl ImageScanResult {
    /// A result with no scan data: the image's status says why.
    pub fn without_scan(
        image: ImageRef,
        status: ScanStatus,
        description: Option<String>,
    ) -> ImageScanResult {
        ImageScanResult {
            image,
            status,
            status_description: description,
            scan_completed_at: None,
            vulnerability_source_updated_at: None,
            severity_counts: SeverityCounts::new(),
            findings: Vec::new(),
            recorded_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_ecr_spelling_and_serde() {
        for status in ScanStatus::ALL {
            assert_eq!(ScanStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{status}\"")
            );
        }
        assert_eq!(ScanStatus::parse("complete"), None);
    }

    #[test]
    fn image_ref_displays_like_docker() {
        let image = ImageRef {
            repository: "test/ubuntu".into(),
            tag: Some("16.04".into()),
            digest: Some("sha256:ab".into()),
        };
        assert_eq!(image.to_string(), "test/ubuntu:16.04@sha256:ab");
    }
}
