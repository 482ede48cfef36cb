//! Pure renderers: the AWS sample's text summary, the JSON summary, the
//! Atom feed of one config's findings and the HTML report.
//!
//! Each is a function of its data and an explicit `now`, writing to any
//! [`io::Write`]; the same input always gives the same bytes.

use std::io::{self, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::finding::{Finding, ImageScanResult};
use crate::scan::{Summary, SummaryRow};
use crate::severity::{Severity, SeverityCounts};
use crate::suppress::SuppressionWarning;

mod atom;
mod changes;
mod html;
pub mod text;

pub use text::printable;

pub use atom::{FeedOptions, FeedPage, atom_feed, write_atom_feed, write_changes_feed};
pub use changes::{JsonChanges, write_json_changes, write_json_changes_page, write_text_changes};
pub use html::{HtmlReport, RECENT_CHANGES, html_content_security_policy, write_html_report};

/// Writes the summary as the AWS sample prints it: one block per image,
///
/// ```text
/// Results for test/ubuntu:16.04 in us-west-2:
///  HIGH: 2
///  LOW: 5
///
/// ```
///
/// with one line per non-zero severity, most severe first (so a finished
/// scan without findings has no line), exactly as the sample prints it;
/// findings suppression rules cover are left out of those lines and
/// counted on one more, ` SUPPRESSED: N`, for images that have any. An
/// image whose findings are not known shows its status instead:
/// ` Status: NOT_SCANNED`. (The JSON summary also carries ECR's or
/// ecrscan's explanation of a status.) A result read from stored results
/// rather than from ECR says how fresh it is: ` Recorded at: <RFC 3339>`.
///
/// A summary over more than one account names each row's account after
/// its region: `Results for prod/api:v1 in us-west-2 (222222222222):`.
pub fn write_text_summary(summary: &Summary, out: &mut dyn Write) -> io::Result<()> {
    let accounts = many_accounts(summary);
    summary
        .rows
        .iter()
        .try_for_each(|row| write_text_row(row, accounts, out))
}

/// `sha256:ab12cd34ef56…`: a digest's first 12 hex digits.
fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex)) if hex.chars().count() > 12 => {
            format!("{algorithm}:{}…", hex.chars().take(12).collect::<String>())
        }
        _ => digest.to_owned(),
    }
}

/// Whether the summary's rows are of more than one account.
pub fn many_accounts(summary: &Summary) -> bool {
    summary.rows.first().is_some_and(|first| {
        summary
            .rows
            .iter()
            .any(|row| row.registry != first.registry)
    })
}

fn write_text_row(row: &SummaryRow, accounts: bool, out: &mut dyn Write) -> io::Result<()> {
    let result = &row.result;
    let tag = result.image.tag.as_deref().unwrap_or("*");
    if accounts {
        writeln!(
            out,
            "Results for {}:{} in {} ({}):",
            result.image.repository, tag, row.region, row.registry
        )?;
    } else {
        writeln!(
            out,
            "Results for {}:{} in {}:",
            result.image.repository, tag, row.region
        )?;
    }
    if result.scan.status.has_findings() {
        for (severity, count) in result.scan.severity_counts.iter() {
            writeln!(out, " {severity}: {count}")?;
        }
        let suppressed = result.suppressed_counts.total();
        if suppressed > 0 {
            writeln!(out, " SUPPRESSED: {suppressed}")?;
        }
    } else {
        writeln!(out, " Status: {}", result.scan.status)?;
    }
    if let Some(recorded_at) = result.origin.recorded_at() {
        writeln!(out, " Recorded at: {}", rfc3339(recorded_at))?;
    }
    writeln!(out)
}

/// [`write_text_summary`] into a `String`.
pub fn text_summary(summary: &Summary) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_text_summary(summary, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The JSON summary.
///
/// ```json
/// {
///   "generated_at": "2026-11-27T10:00:00Z",
///   "images": [
///     {
///       "config_id": "6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a",
///       "region": "us-west-2",
///       "registry": "123456789012",
///       "repository": "test/ubuntu",
///       "tag": "16.04",
///       "digest": "sha256:…",
///       "status": "COMPLETE",
///       "scan_completed_at": "2026-11-27T09:58:12Z",
///       "severity_counts": {"HIGH": 2, "LOW": 5},
///       "suppressed_counts": {"CRITICAL": 1},
///       "total": 7,
///       "recorded_at": "2026-11-27T09:58:40Z"
///     }
///   ],
///   "totals": {"HIGH": 2, "LOW": 5},
///   "suppressed_totals": {"CRITICAL": 1},
///   "warnings": [
///     {"rule": "…", "vulnerability": "CVE-2026-1234", "kind": "expires_soon",
///      "expires": "2026-12-01T00:00:00Z", "message": "suppression … expires at …"}
///   ]
/// }
/// ```
///
/// - `tag` is `null` for a config whose repository could not be listed;
///   `digest` is `null` for a tag that could not be resolved;
///   `scan_completed_at` is `null` when no scan finished.
/// - `status` is one of [`ScanStatus`](crate::ScanStatus)'s names; when ECR
///   or ecrscan explains it, `status_description` is present too.
/// - `severity_counts` and `totals` list only non-zero severities, most
///   severe first, and leave out the findings suppression rules cover;
///   `suppressed_counts` and `suppressed_totals` count those. `totals` adds
///   up every image row.
/// - `warnings` lists the rules worth a look: `expired` (their findings
///   count again), `expires_soon` (within 7 days) and `matched_nothing`
///   (covering no finding of the latest results).
/// - `recorded_at` says how fresh a result read from stored results is;
///   it is `null` for a result read from ECR for this summary.
/// - Times are RFC 3339 in UTC, to the second.
/// - A page of the summary ([`write_summary_page`]) lists some of the
///   images, still with the `totals` of all of them, and `"next_start": N`,
///   the first image of the next page, when more remain.
#[derive(Debug, Serialize)]
pub struct JsonSummary<'a> {
    /// When the summary was made.
    pub generated_at: String,
    /// One entry per image.
    pub images: Vec<JsonSummaryImage<'a>>,
    /// Counts per severity over every image.
    pub totals: SeverityCounts,
    /// Suppressed findings per severity over every image.
    pub suppressed_totals: SeverityCounts,
    /// Suppression rules worth a look.
    pub warnings: &'a [SuppressionWarning],
    /// For a page of the summary, the first image of the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_start: Option<usize>,
}

/// One image of a [`JsonSummary`].
#[derive(Debug, Serialize)]
pub struct JsonSummaryImage<'a> {
    /// The config that selected the image.
    pub config_id: Uuid,
    /// The region.
    pub region: &'a str,
    /// The registry (account ID).
    pub registry: &'a str,
    /// The repository.
    pub repository: &'a str,
    /// The tag.
    pub tag: Option<&'a str>,
    /// The digest.
    pub digest: Option<&'a str>,
    /// The scan status.
    pub status: crate::finding::ScanStatus,
    /// ECR's or ecrscan's explanation of the status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_description: Option<&'a str>,
    /// When the scan finished.
    pub scan_completed_at: Option<String>,
    /// Findings per severity, but the suppressed ones.
    pub severity_counts: &'a SeverityCounts,
    /// Findings suppression rules cover, per severity.
    pub suppressed_counts: &'a SeverityCounts,
    /// All findings but the suppressed ones.
    pub total: u64,
    /// When the result was recorded, for a result read from stored
    /// results; `null` when read from ECR for this summary.
    pub recorded_at: Option<String>,
    /// When ecrscan last saw the image's findings change: its first
    /// recorded result, or the last one that differed from the one before
    /// (see `ecrscan changes`); `null` when not known: the image is not
    /// recorded, or its record predates this field and its findings have not
    /// changed since.
    pub last_changed_at: Option<String>,
}

impl<'a> JsonSummary<'a> {
    /// Builds the JSON summary of `summary` made at `now`.
    pub fn new(summary: &'a Summary, now: DateTime<Utc>) -> JsonSummary<'a> {
        JsonSummary {
            generated_at: rfc3339(now),
            images: summary.rows.iter().map(JsonSummaryImage::new).collect(),
            totals: totals(summary),
            suppressed_totals: suppressed_totals(summary),
            warnings: &summary.warnings,
            next_start: None,
        }
    }
}

impl<'a> JsonSummaryImage<'a> {
    fn new(row: &'a SummaryRow) -> JsonSummaryImage<'a> {
        let result = &row.result;
        JsonSummaryImage {
            config_id: row.config_id,
            region: &row.region,
            registry: &row.registry,
            repository: &result.image.repository,
            tag: result.image.tag.as_deref(),
            digest: result.image.digest.as_deref(),
            status: result.scan.status,
            status_description: result.scan.status_description.as_deref(),
            scan_completed_at: result.scan.scan_completed_at.map(rfc3339),
            severity_counts: &result.scan.severity_counts,
            suppressed_counts: &result.suppressed_counts,
            total: result.scan.severity_counts.total(),
            recorded_at: result.origin.recorded_at().map(rfc3339),
            last_changed_at: result.findings_changed_at.map(rfc3339),
        }
    }
}

fn totals(summary: &Summary) -> SeverityCounts {
    let mut totals = SeverityCounts::new();
    for row in &summary.rows {
        totals.merge(&row.result.scan.severity_counts);
    }
    totals
}

fn suppressed_totals(summary: &Summary) -> SeverityCounts {
    let mut totals = SeverityCounts::new();
    for row in &summary.rows {
        totals.merge(&row.result.suppressed_counts);
    }
    totals
}

/// Writes the [`JsonSummary`] of `summary`, pretty-printed, with a final newline.
pub fn write_json_summary(
    summary: &Summary,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &JsonSummary::new(summary, now))?;
    writeln!(out)
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A summary's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryFormat {
    /// [`write_text_summary`]'s, the AWS sample's.
    Text,
    /// [`write_json_summary`]'s.
    Json,
}

/// One page of a summary, for answers of bounded size: the image rows from
/// `start` that fit in `max_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryPage {
    /// How many image rows come before this page.
    pub start: usize,
    /// The most bytes the page may take.
    pub max_bytes: usize,
}

/// Writes one page of the summary to `out`: as many image rows from
/// `page.start` as fit in `page.max_bytes`, at least one. Returns the first
/// row of the next page when rows remain; the JSON page also says so as
/// `next_start`, and its `totals` still add up every image. A `start` past
/// the last row gives a page without rows.
pub fn write_summary_page(
    summary: &Summary,
    format: SummaryFormat,
    now: DateTime<Utc>,
    page: SummaryPage,
    out: &mut Vec<u8>,
) -> io::Result<Option<usize>> {
    let rows = summary.rows.get(page.start..).unwrap_or_default();
    let origin = out.len();
    match format {
        SummaryFormat::Text => {
            let accounts = many_accounts(summary);
            for (index, row) in rows.iter().enumerate() {
                let before = out.len();
                write_text_row(row, accounts, out)?;
                if out.len() - origin > page.max_bytes && index > 0 {
                    out.truncate(before);
                    return Ok(Some(page.start + index));
                }
            }
            Ok(None)
        }
        SummaryFormat::Json => {
            let mut json = JsonSummary {
                generated_at: rfc3339(now),
                images: rows.iter().map(JsonSummaryImage::new).collect(),
                totals: totals(summary),
                suppressed_totals: suppressed_totals(summary),
                warnings: &summary.warnings,
                next_start: None,
            };
            // Rows differ little in size: shrink the page in proportion
            // until it fits.
            loop {
                out.truncate(origin);
                serde_json::to_writer_pretty(&mut *out, &json)?;
                writeln!(out)?;
                let written = out.len() - origin;
                let count = json.images.len();
                if written <= page.max_bytes || count <= 1 {
                    return Ok(json.next_start);
                }
                let fitting =
                    (count.saturating_mul(page.max_bytes) / written * 19 / 20).clamp(1, count - 1);
                json.images.truncate(fitting);
                json.next_start = Some(page.start + fitting);
            }
        }
    }
}

/// The findings of one config's images as JSON: an array of
/// `{"repository","tag","digest","status","scan_completed_at","recorded_at","findings":[…]}`,
/// keeping only findings at or above `min_severity`. A finding a
/// suppression rule covers (shown only when asked for) carries
/// `"suppressed": {"rule", "reason", "expires"}`. `recorded_at` says how
/// fresh a result read from stored results is, as in [`JsonSummary`]; it is
/// `null` for a result read from ECR.
pub fn write_json_findings(
    results: &[ImageScanResult],
    min_severity: Option<Severity>,
    out: &mut dyn Write,
) -> io::Result<()> {
    #[derive(Serialize)]
    struct JsonImage<'a> {
        repository: &'a str,
        tag: Option<&'a str>,
        digest: Option<&'a str>,
        status: crate::finding::ScanStatus,
        scan_completed_at: Option<String>,
        recorded_at: Option<String>,
        findings: Vec<&'a Finding>,
    }
    let images: Vec<JsonImage<'_>> = results
        .iter()
        .map(|result| JsonImage {
            repository: &result.image.repository,
            tag: result.image.tag.as_deref(),
            digest: result.image.digest.as_deref(),
            status: result.scan.status,
            scan_completed_at: result.scan.scan_completed_at.map(rfc3339),
            recorded_at: result.origin.recorded_at().map(rfc3339),
            findings: result
                .scan
                .findings
                .iter()
                .filter(|f| min_severity.is_none_or(|min| f.severity.is_at_least(min)))
                .collect(),
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &images)?;
    writeln!(out)
}
