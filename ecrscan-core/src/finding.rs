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
    /// Where in the image the vulnerable package is, when the scanner says
    /// (enhanced findings: the vulnerable package's `filePath`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
    /// The basic finding's attributes, e.g. `package_name`, `CVSS2_SCORE`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// The suppression rule that covers it, where suppressed findings are
    /// shown (`--include-suppressed`); never recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<crate::suppress::mark::SuppressionMark>,
}

/// The identity of a finding across scans of an image: the same
/// vulnerability in the same package version at the same place is the same
/// finding, whatever its severity, score or description say today.
///
/// Changes between two results of a digest are computed by key; the Atom
/// feed's entry ids derive from it.
///
/// ```
/// use ecrscan_core::{Finding, FindingKey, Severity};
/// let mut finding = Finding::new("CVE-2026-1234", Severity::High);
/// finding.package_name = Some("openssl".into());
/// finding.package_version = Some("3.0.1".into());
/// let mut raised = finding.clone();
/// raised.severity = Severity::Critical;
/// assert_eq!(finding.key(), raised.key());
/// assert_eq!(finding.key().to_string(), "CVE-2026-1234 openssl 3.0.1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FindingKey {
    /// The vulnerability id, e.g. `CVE-2026-1234`.
    pub vulnerability: String,
    /// The vulnerable package's name.
    pub package_name: Option<String>,
    /// The vulnerable package's installed version.
    pub package_version: Option<String>,
    /// Where the package is in the image, when the scanner says.
    pub file_path: Option<String>,
}

impl FindingKey {
    /// Appends the key's canonical text to `out`: the parts, each ended by
    /// a line feed but the version, then the file path after a line feed
    /// when there is one. Ids derived from keys hash this text.
    pub fn write_canonical(
        out: &mut String,
        vulnerability: &str,
        package_name: Option<&str>,
        package_version: Option<&str>,
        file_path: Option<&str>,
    ) {
        out.push_str(vulnerability);
        out.push('\n');
        out.push_str(package_name.unwrap_or(""));
        out.push('\n');
        out.push_str(package_version.unwrap_or(""));
        if let Some(path) = file_path {
            out.push('\n');
            out.push_str(path);
        }
    }
}

impl fmt::Display for FindingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.vulnerability)?;
        for part in [&self.package_name, &self.package_version, &self.file_path]
            .into_iter()
            .flatten()
        {
            write!(f, " {part}")?;
        }
        Ok(())
    }
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
            file_path: None,
            attributes: BTreeMap::new(),
            suppressed: None,
        }
    }

    /// The finding's identity across scans.
    pub fn key(&self) -> FindingKey {
        FindingKey {
            vulnerability: self.name.clone(),
            package_name: self.package_name.clone(),
            package_version: self.package_version.clone(),
            file_path: self.file_path.clone(),
        }
    }

    /// Appends the canonical text of [`Finding::key`] to `out`, without
    /// building the key.
    pub fn write_key(&self, out: &mut String) {
        FindingKey::write_canonical(
            out,
            &self.name,
            self.package_name.as_deref(),
            self.package_version.as_deref(),
            self.file_path.as_deref(),
        );
    }
}

/// An image: its repository and, as far as known, its registry, region,
/// tag and digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageRef {
    /// The registry (account ID) of the repository, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The region of the repository, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
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

/// The latest scan of one image digest: what a [`ScanBackend`](crate::ScanBackend)
/// answers, what a store records, and what the renderers show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestScan {
    /// The scan's status. `NotScanned` when no scan exists.
    pub status: ScanStatus,
    /// ECR's explanation of the status (ecrscan's own words for statuses
    /// it sets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_description: Option<String>,
    /// When the scan finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_completed_at: Option<DateTime<Utc>>,
    /// How recent the vulnerability database was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vulnerability_source_updated_at: Option<DateTime<Utc>>,
    /// Findings per severity.
    pub severity_counts: SeverityCounts,
    /// Every finding (all pages), most severe first.
    #[serde(default)]
    pub findings: Vec<Finding>,
}

impl DigestScan {
    /// A digest with the given status and no scan data.
    pub fn without_findings(status: ScanStatus, description: Option<String>) -> DigestScan {
        DigestScan {
            status,
            status_description: description,
            scan_completed_at: None,
            vulnerability_source_updated_at: None,
            severity_counts: SeverityCounts::new(),
            findings: Vec::new(),
        }
    }

    /// The same scan without its findings (status, times and counts only).
    pub fn without_finding_list(&self) -> DigestScan {
        DigestScan {
            status: self.status,
            status_description: self.status_description.clone(),
            scan_completed_at: self.scan_completed_at,
            vulnerability_source_updated_at: self.vulnerability_source_updated_at,
            severity_counts: self.severity_counts.clone(),
            findings: Vec::new(),
        }
    }
}

/// Where a scan result came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "origin", rename_all = "snake_case")]
pub enum Origin {
    /// Read from ECR just now.
    Live,
    /// Served from stored results, last read from ECR at `checked_at`.
    Recorded {
        /// When ecrscan last read this scan from ECR.
        checked_at: DateTime<Utc>,
    },
}

impl Origin {
    /// When a recorded result was last read from ECR; `None` for a live one.
    pub fn recorded_at(self) -> Option<DateTime<Utc>> {
        match self {
            Origin::Live => None,
            Origin::Recorded { checked_at } => Some(checked_at),
        }
    }
}

/// A digest's latest scan and where it came from: what
/// [`ScanBackend::scan_result`](crate::ScanBackend::scan_result) returns.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestScan {
    /// The scan.
    pub scan: DigestScan,
    /// Where it came from.
    pub origin: Origin,
    /// When ecrscan last saw the digest's findings change, where it has
    /// recorded the digest.
    pub findings_changed_at: Option<DateTime<Utc>>,
}

impl LatestScan {
    /// A scan read from ECR just now.
    pub fn live(scan: DigestScan) -> LatestScan {
        LatestScan {
            scan,
            origin: Origin::Live,
            findings_changed_at: None,
        }
    }
}

impl From<DigestScan> for LatestScan {
    fn from(scan: DigestScan) -> LatestScan {
        LatestScan::live(scan)
    }
}

/// One image (a tag, a digest) and its latest scan: a row of a summary, an
/// image of a feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageScanResult {
    /// The image.
    pub image: ImageRef,
    /// Its latest scan; for an image that could not be looked at, a scan
    /// without findings whose status says why.
    #[serde(flatten)]
    pub scan: DigestScan,
    /// Where the scan came from.
    #[serde(flatten)]
    pub origin: Origin,
    /// When ecrscan last saw the image's findings change (its first
    /// recorded result counts), where it has recorded the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings_changed_at: Option<DateTime<Utc>>,
    /// Findings per severity that suppression rules cover: left out of the
    /// scan's `severity_counts`.
    #[serde(default, skip_serializing_if = "SeverityCounts::is_empty")]
    pub suppressed_counts: SeverityCounts,
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
            scan: DigestScan::without_findings(status, description),
            origin: Origin::Live,
            findings_changed_at: None,
            suppressed_counts: SeverityCounts::new(),
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
            ..ImageRef::default()
        };
        assert_eq!(image.to_string(), "test/ubuntu:16.04@sha256:ab");
    }
}
