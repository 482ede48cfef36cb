//! Pure renderers: the AWS sample's text summary, the JSON summary and the
//! Atom feed of one config's findings.
//!
//! Each is a function of its data and an explicit `now`, writing to any
//! [`io::Write`]; the same input always gives the same bytes.

use std::io::{self, Write};

use atom_syndication::{
    Category, Content, Entry, Feed, FixedDateTime, Generator, Link, Person, Text,
};
use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::config::ScanConfig;
use crate::finding::{Finding, ImageScanResult};
use crate::scan::Summary;
use crate::severity::{Severity, SeverityCounts};

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
/// scan without findings has no line), exactly as the sample prints it. An
/// image whose findings are not known shows its status instead:
/// ` Status: NOT_SCANNED`. (The JSON summary also carries ECR's or
/// ecrscan's explanation of a status.) A result read from stored results
/// rather than from ECR says how fresh it is: ` Recorded at: <RFC 3339>`.
pub fn write_text_summary(summary: &Summary, out: &mut dyn Write) -> io::Result<()> {
    for row in &summary.rows {
        let result = &row.result;
        let tag = result.image.tag.as_deref().unwrap_or("*");
        writeln!(
            out,
            "Results for {}:{} in {}:",
            result.image.repository, tag, row.region
        )?;
        if result.status.has_findings() {
            for (severity, count) in result.severity_counts.iter() {
                writeln!(out, " {severity}: {count}")?;
            }
        } else {
            writeln!(out, " Status: {}", result.status)?;
        }
        if let Some(recorded_at) = result.recorded_at {
            writeln!(out, " Recorded at: {}", rfc3339(recorded_at))?;
        }
        writeln!(out)?;
    }
    Ok(())
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
///       "total": 7,
///       "recorded_at": "2026-11-27T09:58:40Z"
///     }
///   ],
///   "totals": {"HIGH": 2, "LOW": 5}
/// }
/// ```
///
/// - `tag` is `null` for a config whose repository could not be listed;
///   `digest` is `null` for a tag that could not be resolved;
///   `scan_completed_at` is `null` when no scan finished.
/// - `status` is one of [`ScanStatus`](crate::ScanStatus)'s names; when ECR
///   or ecrscan explains it, `status_description` is present too.
/// - `severity_counts` and `totals` list only non-zero severities, most
///   severe first; `totals` adds up every image row.
/// - `recorded_at` says how fresh a result read from stored results is;
///   it is `null` for a result read from ECR for this summary.
/// - Times are RFC 3339 in UTC, to the second.
#[derive(Debug, Serialize)]
pub struct JsonSummary<'a> {
    /// When the summary was made.
    pub generated_at: String,
    /// One entry per image.
    pub images: Vec<JsonSummaryImage<'a>>,
    /// Counts per severity over every image.
    pub totals: SeverityCounts,
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
    /// Findings per severity.
    pub severity_counts: &'a SeverityCounts,
    /// All findings.
    pub total: u64,
    /// When the result was recorded, for a result read from stored
    /// results; `null` when read from ECR for this summary.
    pub recorded_at: Option<String>,
}

impl<'a> JsonSummary<'a> {
    /// Builds the JSON summary of `summary` made at `now`.
    pub fn new(summary: &'a Summary, now: DateTime<Utc>) -> JsonSummary<'a> {
        let mut totals = SeverityCounts::new();
        let images = summary
            .rows
            .iter()
            .map(|row| {
                let result = &row.result;
                totals.merge(&result.severity_counts);
                JsonSummaryImage {
                    config_id: row.config_id,
                    region: &row.region,
                    registry: &row.registry,
                    repository: &result.image.repository,
                    tag: result.image.tag.as_deref(),
                    digest: result.image.digest.as_deref(),
                    status: result.status,
                    status_description: result.status_description.as_deref(),
                    scan_completed_at: result.scan_completed_at.map(rfc3339),
                    severity_counts: &result.severity_counts,
                    total: result.severity_counts.total(),
                    recorded_at: result.recorded_at.map(rfc3339),
                }
            })
            .collect();
        JsonSummary {
            generated_at: rfc3339(now),
            images,
            totals,
        }
    }
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

/// Options of [`atom_feed`].
#[derive(Debug, Clone, Default)]
pub struct FeedOptions {
    /// The feed's own URL, for its `self` link, when known.
    pub self_url: Option<String>,
    /// Keep only findings of this severity or more severe.
    pub min_severity: Option<Severity>,
}

/// The namespace of the name-based (v5) UUIDs of feed entries.
const ENTRY_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5c1b_2f1e_8a4d_4e8b_9c3a_e0c5_ca9e_0001);

/// The Atom 1.0 (RFC 4287) feed of one config's findings.
///
/// - Feed: `id` `urn:uuid:<config id>`; title `ECR repository REPO in
///   REGION`; subtitle `Details of the image scan findings across the tags:
///   [t1] [t2] `; `updated` the latest scan completion (or `now` when no
///   scan has completed); an author; a link to the repository in the ECR
///   console and, when [`FeedOptions::self_url`] is set, a `self` link.
/// - One entry per (tag, finding), most severe first: title `[SEVERITY] in
///   image REPO:TAG found NAME`, a link to the finding's URI (when it is an
///   absolute http(s) URL), the description as plain-text summary, details
///   as plain-text content, `updated` the scan's completion time, and a
///   `urn:uuid:` id derived from the registry, repository, tag, digest,
///   vulnerability and package: the same finding in the same image keeps
///   its id across runs, so feed readers show only what is new.
/// - Text from AWS is escaped, and characters XML 1.0 forbids are replaced
///   by U+FFFD, so the feed is well-formed whatever AWS sends.
pub fn atom_feed(
    config: &ScanConfig,
    results: &[ImageScanResult],
    now: DateTime<Utc>,
    options: &FeedOptions,
) -> Feed {
    let tags: Vec<&str> = if config.all_tags() {
        results
            .iter()
            .filter_map(|result| result.image.tag.as_deref())
            .collect()
    } else {
        config.tags.iter().map(String::as_str).collect()
    };
    let subtitle: String = tags.iter().map(|tag| format!("[{tag}] ")).collect();

    // Sort small keys, then build the (large) entries in order.
    let mut selected: Vec<(Severity, usize, &Finding, &ImageScanResult)> = Vec::new();
    for (position, result) in results.iter().enumerate() {
        for finding in &result.findings {
            if options
                .min_severity
                .is_none_or(|min| finding.severity.is_at_least(min))
            {
                selected.push((finding.severity, position, finding, result));
            }
        }
    }
    selected.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then_with(|| a.2.name.cmp(&b.2.name))
            .then_with(|| a.2.package_name.cmp(&b.2.package_name))
    });
    let mut seen_ids = std::collections::HashSet::with_capacity(selected.len());
    let mut entries = Vec::with_capacity(selected.len());
    for (_, _, finding, result) in selected {
        let id = entry_id(config, result, finding);
        if !seen_ids.insert(id.clone()) {
            continue;
        }
        let tag = result.image.tag.as_deref().unwrap_or("");
        let updated = result.scan_completed_at.unwrap_or(now);
        entries.push(feed_entry(config, tag, result, finding, id, updated));
    }

    let updated = results
        .iter()
        .filter_map(|result| result.scan_completed_at)
        .max()
        .unwrap_or(now);
    let mut links = vec![Link {
        href: console_url(config),
        rel: "alternate".into(),
        mime_type: Some("text/html".into()),
        title: Some(xml_safe(&format!(
            "{} in the Amazon ECR console",
            config.repository
        ))),
        ..Link::default()
    }];
    if let Some(self_url) = options.self_url.as_deref().and_then(http_url) {
        links.push(Link {
            href: self_url,
            rel: "self".into(),
            mime_type: Some("application/atom+xml".into()),
            ..Link::default()
        });
    }
    Feed {
        id: format!("urn:uuid:{}", config.id),
        title: Text::plain(format!(
            "ECR repository {} in {}",
            config.repository, config.region
        )),
        subtitle: Some(Text::plain(xml_safe(&format!(
            "Details of the image scan findings across the tags: {subtitle}"
        )))),
        updated: fixed(updated),
        authors: vec![Person {
            name: "ecrscan".into(),
            ..Person::default()
        }],
        generator: Some(Generator {
            value: "ecrscan".into(),
            uri: None,
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
        links,
        entries,
        ..Feed::default()
    }
}

fn feed_entry(
    config: &ScanConfig,
    tag: &str,
    result: &ImageScanResult,
    finding: &Finding,
    id: String,
    updated: DateTime<Utc>,
) -> Entry {
    let name = xml_safe(&finding.name);
    let title = format!(
        "[{}] in image {}:{} found {}",
        finding.severity, config.repository, tag, name
    );
    let description = finding
        .description
        .as_deref()
        .or(finding.title.as_deref())
        .filter(|text| !text.trim().is_empty())
        .map(xml_safe)
        .unwrap_or_else(|| title.clone());
    Entry {
        id,
        title: Text::plain(title),
        updated: fixed(updated),
        published: finding.first_observed_at.map(fixed),
        summary: Some(Text::plain(description)),
        content: Some(Content {
            value: Some(xml_safe(&finding_details(finding, result))),
            content_type: Some("text".into()),
            ..Content::default()
        }),
        links: finding
            .uri
            .as_deref()
            .and_then(http_url)
            .map(|href| Link {
                href,
                rel: "alternate".into(),
                ..Link::default()
            })
            .into_iter()
            .collect(),
        categories: vec![Category {
            term: finding.severity.as_str().into(),
            scheme: Some("urn:ecrscan:severity".into()),
            label: None,
        }],
        ..Entry::default()
    }
}

/// The plain-text details of a finding: one `Key: value` line each.
fn finding_details(finding: &Finding, result: &ImageScanResult) -> String {
    let mut lines = Vec::new();
    if let Some(title) = &finding.title {
        lines.push(format!("Title: {title}"));
    }
    lines.push(format!("Vulnerability: {}", finding.name));
    lines.push(format!("Severity: {}", finding.severity));
    if let Some(score) = finding.score {
        lines.push(format!("Score: {score}"));
    }
    if let Some(package) = &finding.package_name {
        match &finding.package_version {
            Some(version) => lines.push(format!("Package: {package} {version}")),
            None => lines.push(format!("Package: {package}")),
        }
    }
    if let Some(fixed_in) = &finding.fixed_in_version {
        lines.push(format!("Fixed in: {fixed_in}"));
    }
    if let Some(fix) = &finding.fix_available {
        lines.push(format!("Fix available: {fix}"));
    }
    if let Some(digest) = &result.image.digest {
        lines.push(format!("Image digest: {digest}"));
    }
    lines.join("\n")
}

fn entry_id(config: &ScanConfig, result: &ImageScanResult, finding: &Finding) -> String {
    let name = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
        config.region,
        config.registry,
        config.repository,
        result.image.tag.as_deref().unwrap_or(""),
        result.image.digest.as_deref().unwrap_or(""),
        finding.name,
        finding.package_name.as_deref().unwrap_or(""),
        finding.package_version.as_deref().unwrap_or(""),
    );
    format!(
        "urn:uuid:{}",
        Uuid::new_v5(&ENTRY_ID_NAMESPACE, name.as_bytes())
    )
}

/// The repository's page in the ECR console of the region's partition.
fn console_url(config: &ScanConfig) -> String {
    let region = &config.region;
    let host = if region.starts_with("cn-") {
        "console.amazonaws.cn".to_owned()
    } else if region.starts_with("us-gov-") {
        "console.amazonaws-us-gov.com".to_owned()
    } else {
        format!("{region}.console.aws.amazon.com")
    };
    format!(
        "https://{host}/ecr/repositories/private/{}/{}?region={region}",
        config.registry, config.repository
    )
}

/// An absolute http(s) URL, normalized (and percent-encoded) by the URL
/// parser; anything else — `javascript:`, relative, malformed — is dropped.
fn http_url(candidate: &str) -> Option<String> {
    let url = url::Url::parse(candidate.trim()).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host_str().is_some()).then(|| url.to_string())
}

/// Replaces characters XML 1.0 forbids (C0 controls other than tab, line
/// feed and carriage return; U+FFFE; U+FFFF) by U+FFFD.
fn xml_safe(text: &str) -> String {
    if !text.contains(forbidden_in_xml) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| if forbidden_in_xml(c) { '\u{fffd}' } else { c })
        .collect()
}

fn forbidden_in_xml(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// Atom dates, to the second.
fn fixed(time: DateTime<Utc>) -> FixedDateTime {
    time.with_nanosecond(0).unwrap_or(time).fixed_offset()
}

/// Writes the [`atom_feed`] as an XML document.
pub fn write_atom_feed(
    config: &ScanConfig,
    results: &[ImageScanResult],
    now: DateTime<Utc>,
    options: &FeedOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let feed = atom_feed(config, results, now, options);
    feed.write_with_config(
        &mut *out,
        atom_syndication::WriteConfig {
            write_document_declaration: true,
            indent_size: Some(2),
        },
    )
    .map_err(|err| match err {
        atom_syndication::Error::Xml(xml) => io::Error::other(xml.to_string()),
        other => io::Error::other(other.to_string()),
    })?;
    writeln!(out)
}

/// The findings of one config's images as JSON: an array of
/// `{"repository","tag","digest","status","scan_completed_at","findings":[…]}`,
/// keeping only findings at or above `min_severity`.
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
        findings: Vec<&'a Finding>,
    }
    let images: Vec<JsonImage<'_>> = results
        .iter()
        .map(|result| JsonImage {
            repository: &result.image.repository,
            tag: result.image.tag.as_deref(),
            digest: result.image.digest.as_deref(),
            status: result.status,
            scan_completed_at: result.scan_completed_at.map(rfc3339),
            findings: result
                .findings
                .iter()
                .filter(|f| min_severity.is_none_or(|min| f.severity.is_at_least(min)))
                .collect(),
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &images)?;
    writeln!(out)
}
