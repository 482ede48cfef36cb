//! The Atom 1.0 (RFC 4287) feed of one config's findings, written as a
//! stream: memory stays near one entry's size plus an index of the findings,
//! whatever the number of findings.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::io::{self, Write};

use atom_syndication::Feed;
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use crate::config::ScanConfig;
use crate::finding::{Finding, ImageScanResult};
use crate::severity::Severity;

/// Options of [`write_atom_feed`] and [`atom_feed`].
#[derive(Debug, Clone, Default)]
pub struct FeedOptions {
    /// The feed's own URL, without query, for its `self` link, when known.
    /// The links to a filtered feed or to a page add `severity` and `start`
    /// query parameters.
    pub self_url: Option<String>,
    /// Keep only findings of this severity or more severe.
    pub min_severity: Option<Severity>,
    /// Write one page of the feed instead of all of it.
    pub page: Option<FeedPage>,
    /// Whether the results show suppressed findings (marked with their
    /// rule), so the feed's links keep `suppressed=include`.
    pub include_suppressed: bool,
}

/// One page of a paged feed (RFC 5005): the entries from `start` that fit
/// in `max_bytes`, and a `next` link to the rest when there is more.
///
/// A page holds at least one entry, whatever its size; a `start` past the
/// last entry gives a page without entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedPage {
    /// How many entries come before this page.
    pub start: usize,
    /// The most bytes the page's document may take.
    pub max_bytes: usize,
}

/// The namespace of the name-based (v5) UUIDs of feed entries.
const ENTRY_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5c1b_2f1e_8a4d_4e8b_9c3a_e0c5_ca9e_0001);

/// Written entries are handed to the writer in chunks of about this size.
const CHUNK_BYTES: usize = 64 * 1024;

/// Writes the Atom 1.0 (RFC 4287) feed of one config's findings as an XML
/// document, entry by entry.
///
/// - Feed: `id` `urn:uuid:<config id>`; title `ECR repository REPO in
///   REGION`; subtitle `Details of the image scan findings across the tags:
///   [t1] [t2] `; `updated` the latest scan completion (or `now` when no
///   scan has completed); an author; a link to the repository in the ECR
///   console and, when [`FeedOptions::self_url`] is set, a `self` link.
/// - One entry per (tag, finding), most severe first: title `[SEVERITY] in
///   image REPO:TAG found NAME`, a link to the finding's URI (when it is an
///   absolute http(s) URL), the description as plain-text summary, details
///   as plain-text content (ending with `Recorded at: <time>` for a result
///   read from stored results), `updated` the scan's completion time, and a
///   `urn:uuid:` id derived from the registry, repository, tag, digest,
///   vulnerability and package: the same finding in the same image keeps
///   its id across runs, so feed readers show only what is new.
/// - Text from AWS is escaped, and characters XML 1.0 forbids are replaced
///   by U+FFFD, so the feed is well-formed whatever AWS sends.
/// - With [`FeedOptions::page`], only that page's entries, and a `next`
///   link (to [`FeedOptions::self_url`] with `start=N`, or a relative
///   `?start=N` without it) when entries remain.
///
/// Only errors of `out` are returned. `out` receives the document in chunks
/// of about 64 KiB, so it needs no buffering of its own.
pub fn write_atom_feed(
    config: &ScanConfig,
    results: &[ImageScanResult],
    now: DateTime<Utc>,
    options: &FeedOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    render_feed(config, results, now, options, |chunk| {
        out.write_all(chunk.as_bytes())
    })
}

/// The feed [`write_atom_feed`] writes, as `atom_syndication`'s model (read
/// back from the written document), for callers that edit a feed before
/// publishing it.
///
/// # Errors
///
/// An error of the Atom reader; the written document is well-formed, so
/// this does not happen in practice.
pub fn atom_feed(
    config: &ScanConfig,
    results: &[ImageScanResult],
    now: DateTime<Utc>,
    options: &FeedOptions,
) -> Result<Feed, atom_syndication::Error> {
    let mut document = String::new();
    let Ok(()) = render_feed(config, results, now, options, |chunk| {
        document.push_str(chunk);
        Ok::<(), Infallible>(())
    });
    Feed::read_from(document.as_bytes())
}

/// Renders the feed, handing it to `emit` in chunks of about
/// [`CHUNK_BYTES`].
fn render_feed<E>(
    config: &ScanConfig,
    results: &[ImageScanResult],
    now: DateTime<Utc>,
    options: &FeedOptions,
    mut emit: impl FnMut(&str) -> Result<(), E>,
) -> Result<(), E> {
    let mut entries = Entries::new(config, results, now, options.min_severity);
    let Some(page) = options.page else {
        let mut xml = XmlBuffer::with_capacity(2 * CHUNK_BYTES);
        write_head(&mut xml, config, results, now, options, None);
        while let Some(entry) = entries.next_entry() {
            write_entry(&mut xml, &entry);
            if xml.doc.len() >= CHUNK_BYTES {
                emit(&xml.doc)?;
                xml.doc.clear();
            }
        }
        xml.raw(FEED_END);
        return emit(&xml.doc);
    };

    // The head, with the longest possible next link, bounds what the
    // entries may take.
    let mut head = XmlBuffer::with_capacity(4096);
    write_head(&mut head, config, results, now, options, Some(usize::MAX));
    let entry_bytes = page
        .max_bytes
        .saturating_sub(head.doc.len() + FEED_END.len());
    for _ in 0..page.start {
        if entries.next_distinct().is_none() {
            break;
        }
    }
    let mut body = XmlBuffer::with_capacity(entry_bytes.min(2 * CHUNK_BYTES));
    let mut next_start = None;
    let mut index = page.start;
    while let Some(entry) = entries.next_entry() {
        let before = body.doc.len();
        write_entry(&mut body, &entry);
        if body.doc.len() > entry_bytes && index > page.start {
            body.doc.truncate(before);
            next_start = Some(index);
            break;
        }
        index += 1;
    }
    head.doc.clear();
    write_head(&mut head, config, results, now, options, next_start);
    emit(&head.doc)?;
    emit(&body.doc)?;
    emit(FEED_END)
}

const FEED_END: &str = "\n</feed>\n";

/// The feed's distinct entries, in order.
struct Entries<'a> {
    config: &'a ScanConfig,
    results: &'a [ImageScanResult],
    selected: std::vec::IntoIter<(usize, &'a Finding)>,
    /// Each result's `updated` date, formatted.
    updated: Vec<String>,
    written_ids: HashSet<Uuid>,
    id_name: String,
    /// The same vulnerability, and so its URI, recurs across images.
    links: HashMap<&'a str, Option<String>>,
}

impl<'a> Entries<'a> {
    fn new(
        config: &'a ScanConfig,
        results: &'a [ImageScanResult],
        now: DateTime<Utc>,
        min_severity: Option<Severity>,
    ) -> Entries<'a> {
        let selected = selected_findings(results, min_severity);
        Entries {
            config,
            results,
            written_ids: HashSet::with_capacity(selected.len()),
            selected: selected.into_iter(),
            updated: results
                .iter()
                .map(|result| atom_date(result.scan.scan_completed_at.unwrap_or(now)))
                .collect(),
            id_name: String::new(),
            links: HashMap::new(),
        }
    }

    /// The next finding whose entry id was not seen before: its result's
    /// position, the finding and the id.
    fn next_distinct(&mut self) -> Option<(usize, &'a Finding, Uuid)> {
        for (position, finding) in self.selected.by_ref() {
            let id = entry_id(
                &mut self.id_name,
                self.config,
                &self.results[position],
                finding,
            );
            if self.written_ids.insert(id) {
                return Some((position, finding, id));
            }
        }
        None
    }

    /// The next entry, ready to write.
    fn next_entry(&mut self) -> Option<EntryParts<'_>> {
        let (position, finding, id) = self.next_distinct()?;
        let link = finding.uri.as_deref().and_then(|uri| {
            self.links
                .entry(uri)
                .or_insert_with(|| http_url(uri))
                .as_deref()
        });
        Some(EntryParts {
            result: &self.results[position],
            finding,
            id,
            updated: &self.updated[position],
            link,
        })
    }
}

/// The findings at or above `min_severity` as (position of the result,
/// finding): most severe first, then in the results' order, then by name
/// and package. Sorting these small pairs, not the entries, keeps the sort
/// cheap.
fn selected_findings(
    results: &[ImageScanResult],
    min_severity: Option<Severity>,
) -> Vec<(usize, &Finding)> {
    let mut selected: Vec<(usize, &Finding)> = results
        .iter()
        .enumerate()
        .flat_map(|(position, result)| {
            result
                .scan
                .findings
                .iter()
                .filter(move |finding| {
                    min_severity.is_none_or(|min| finding.severity.is_at_least(min))
                })
                .map(move |finding| (position, finding))
        })
        .collect();
    selected.sort_by(|(a_position, a), (b_position, b)| {
        b.severity
            .cmp(&a.severity)
            .then(a_position.cmp(b_position))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.package_name.cmp(&b.package_name))
    });
    selected
}

/// Writes the document's start and the feed's metadata; `next_start`, the
/// first entry of the next page, adds a `next` link.
fn write_head(
    xml: &mut XmlBuffer,
    config: &ScanConfig,
    results: &[ImageScanResult],
    now: DateTime<Utc>,
    options: &FeedOptions,
    next_start: Option<usize>,
) {
    let updated = results
        .iter()
        .filter_map(|result| result.scan.scan_completed_at)
        .max()
        .unwrap_or(now);
    let title = if config.single_repository().is_some() {
        format!("ECR repository {} in {}", config.repository, config.region)
    } else {
        format!(
            "ECR repositories {} of {} in {}",
            config.repository, config.registry, config.region
        )
    };
    write_preamble(xml, &title, config.id, updated);
    let console_title = format!("{} in the Amazon ECR console", config.repository);
    xml.empty(
        1,
        "link",
        &[
            ("href", &console_url(config)),
            ("rel", "alternate"),
            ("type", "text/html"),
            ("title", &console_title),
        ],
    );
    let base_url = options.self_url.as_deref().and_then(http_url);
    if let Some(base_url) = &base_url {
        let start = options.page.map_or(0, |page| page.start);
        xml.empty(
            1,
            "link",
            &[
                ("href", &page_url(base_url, options, start)),
                ("rel", "self"),
                ("type", "application/atom+xml"),
            ],
        );
    }
    if let Some(next_start) = next_start {
        // Without the feed's URL, a relative reference: the same document
        // with another query.
        let base_url = base_url.as_deref().unwrap_or("");
        xml.empty(
            1,
            "link",
            &[
                ("href", &page_url(base_url, options, next_start)),
                ("rel", "next"),
                ("type", "application/atom+xml"),
            ],
        );
    }
    xml.start(1, "subtitle", &[]);
    xml.text("Details of the image scan findings across the tags: ");
    if config.all_tags() {
        for tag in results
            .iter()
            .filter_map(|result| result.image.tag.as_deref())
        {
            xml.tag_in_brackets(tag);
        }
    } else {
        for tag in &config.tags {
            xml.tag_in_brackets(tag);
        }
    }
    xml.end("subtitle");
}

/// What one entry is written from.
struct EntryParts<'a> {
    result: &'a ImageScanResult,
    finding: &'a Finding,
    id: Uuid,
    /// The entry's `updated` date, formatted.
    updated: &'a str,
    /// The finding's URI, when it is an absolute http(s) URL.
    link: Option<&'a str>,
}

fn write_entry(xml: &mut XmlBuffer, entry: &EntryParts<'_>) {
    let EntryParts {
        result,
        finding,
        id,
        updated,
        link,
    } = *entry;
    let tag = result.image.tag.as_deref().unwrap_or("");
    xml.start(1, "entry", &[]);
    xml.start(2, "title", &[]);
    let title_start = xml.doc.len();
    xml.raw("[");
    xml.raw(finding.severity.as_str());
    xml.raw("] in image ");
    xml.text(&result.image.repository);
    xml.raw(":");
    xml.text(tag);
    xml.raw(" found ");
    xml.text(&finding.name);
    if finding.suppressed.is_some() {
        xml.raw(" (suppressed)");
    }
    let title_end = xml.doc.len();
    xml.end("title");
    xml.start(2, "id", &[]);
    xml.raw("urn:uuid:");
    xml.raw(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
    xml.end("id");
    xml.text_element(2, "updated", updated);
    xml.empty(
        2,
        "category",
        &[
            ("term", finding.severity.as_str()),
            ("scheme", "urn:ecrscan:severity"),
        ],
    );
    if finding.suppressed.is_some() {
        xml.empty(
            2,
            "category",
            &[
                ("term", "suppressed"),
                ("scheme", "urn:ecrscan:suppression"),
            ],
        );
    }
    if let Some(href) = link {
        xml.empty(2, "link", &[("href", href), ("rel", "alternate")]);
    }
    if let Some(first_observed_at) = finding.first_observed_at {
        xml.text_element(2, "published", &atom_date(first_observed_at));
    }
    xml.start(2, "summary", &[]);
    match finding
        .description
        .as_deref()
        .or(finding.title.as_deref())
        .filter(|text| !text.trim().is_empty())
    {
        Some(description) => xml.text(description),
        None => xml.repeat(title_start..title_end),
    }
    xml.end("summary");
    xml.start(2, "content", &[("type", "text")]);
    write_details(xml, finding, result);
    xml.end("content");
    xml.end_on_own_line(1, "entry");
}

/// The plain-text details of a finding: one `Key: value` line each.
fn write_details(xml: &mut XmlBuffer, finding: &Finding, result: &ImageScanResult) {
    if let Some(title) = &finding.title {
        xml.raw("Title: ");
        xml.text(title);
        xml.raw("\n");
    }
    xml.raw("Vulnerability: ");
    xml.text(&finding.name);
    xml.raw("\nSeverity: ");
    xml.raw(finding.severity.as_str());
    if let Some(score) = finding.score {
        xml.raw("\nScore: ");
        xml.raw(&score.to_string());
    }
    if let Some(package) = &finding.package_name {
        xml.raw("\nPackage: ");
        xml.text(package);
        if let Some(version) = &finding.package_version {
            xml.raw(" ");
            xml.text(version);
        }
    }
    if let Some(fixed_in) = &finding.fixed_in_version {
        xml.raw("\nFixed in: ");
        xml.text(fixed_in);
    }
    if let Some(fix) = &finding.fix_available {
        xml.raw("\nFix available: ");
        xml.text(fix);
    }
    if let Some(digest) = &result.image.digest {
        xml.raw("\nImage digest: ");
        xml.text(digest);
    }
    if let Some(recorded_at) = result.origin.recorded_at() {
        xml.raw("\nRecorded at: ");
        xml.raw(&atom_date(recorded_at));
    }
    if let Some(mark) = &finding.suppressed {
        xml.raw("\nSuppressed by: ");
        xml.raw(&mark.rule.to_string());
        xml.raw("\nSuppression reason: ");
        xml.text(&mark.reason);
        xml.raw("\nSuppression expires: ");
        xml.raw(&mark.expires.to_string());
    }
}

/// The entry's name-based id: the image, then the finding's
/// [`FindingKey`](crate::finding::FindingKey); `name` is a scratch buffer.
fn entry_id(
    name: &mut String,
    config: &ScanConfig,
    result: &ImageScanResult,
    finding: &Finding,
) -> Uuid {
    name.clear();
    // The image's own registry, region and repository: a config of
    // patterns or of an organization spans several.
    for part in [
        result.image.region.as_deref().unwrap_or(&config.region),
        result.image.registry.as_deref().unwrap_or(&config.registry),
        &result.image.repository,
        result.image.tag.as_deref().unwrap_or(""),
        result.image.digest.as_deref().unwrap_or(""),
    ] {
        name.push_str(part);
        name.push('\n');
    }
    finding.write_key(name);
    Uuid::new_v5(&ENTRY_ID_NAMESPACE, name.as_bytes())
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
    match config.single_repository() {
        Some(_) => format!(
            "https://{host}/ecr/repositories/private/{}/{}?region={region}",
            config.registry, config.repository
        ),
        // Patterns and organizations: the region's private repositories.
        None => format!("https://{host}/ecr/private-registry/repositories?region={region}"),
    }
}

/// An absolute http(s) URL, normalized (and percent-encoded) by the URL
/// parser; anything else — `javascript:`, relative, malformed — is dropped.
fn http_url(candidate: &str) -> Option<String> {
    let url = url::Url::parse(candidate.trim()).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host_str().is_some()).then(|| url.into())
}

/// The URL of the page of the feed at `base_url` that starts at `start`.
fn page_url(base_url: &str, options: &FeedOptions, start: usize) -> String {
    let mut url = base_url.to_owned();
    let mut separator = '?';
    if let Some(severity) = options.min_severity {
        url.push(separator);
        url.push_str("severity=");
        url.push_str(severity.as_str());
        separator = '&';
    }
    if options.include_suppressed {
        url.push(separator);
        url.push_str("suppressed=include");
        separator = '&';
    }
    if start > 0 {
        url.push(separator);
        url.push_str("start=");
        url.push_str(&start.to_string());
    }
    url
}

/// Atom dates: RFC 3339 to the second, UTC as `+00:00`.
fn atom_date(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// The bytes [`XmlBuffer::text`] stops at: markup characters, C0 controls
/// other than tab, line feed and carriage return, and the lead byte of
/// U+FFFE and U+FFFF.
const NEEDS_CARE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = !matches!(byte as u8, b'\t' | b'\n' | b'\r');
        byte += 1;
    }
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'&' as usize] = true;
    table[b'\'' as usize] = true;
    table[b'"' as usize] = true;
    table[0xef] = true;
    table
};

/// The XML declaration, the feed's start tag, and its title, id, updated,
/// author and generator.
fn write_preamble(xml: &mut XmlBuffer, title: &str, id: Uuid, updated: DateTime<Utc>) {
    xml.raw("<?xml version=\"1.0\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">");
    xml.text_element(1, "title", title);
    xml.start(1, "id", &[]);
    xml.raw("urn:uuid:");
    xml.raw(&id.to_string());
    xml.end("id");
    xml.text_element(1, "updated", &atom_date(updated));
    xml.start(1, "author", &[]);
    xml.text_element(2, "name", "ecrscan");
    xml.end_on_own_line(1, "author");
    xml.start(1, "generator", &[("version", env!("CARGO_PKG_VERSION"))]);
    xml.raw("ecrscan");
    xml.end("generator");
}

/// The feed id of the changes feed: the same for every ecrscan.
const CHANGES_FEED_ID: Uuid = Uuid::from_u128(0x3a9d_7c21_5e4b_4f60_8d1e_b2c4_f6a8_0004);

/// Writes the Atom 1.0 feed of `changes` (newest first, as given): one
/// entry per change with the change's id as `urn:uuid:` (stable: a feed
/// reader shows exactly what is new), `updated` when it was detected, a
/// title saying what changed, and the change in the text of `ecrscan
/// changes` as plain-text content. `self_url` adds a `self` link. Text from
/// AWS is escaped as in [`write_atom_feed`].
pub fn write_changes_feed(
    changes: &[crate::changes::Change],
    now: DateTime<Utc>,
    self_url: Option<&str>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut xml = XmlBuffer::with_capacity(CHUNK_BYTES);
    let updated = changes.iter().map(|c| c.detected_at).max().unwrap_or(now);
    write_preamble(
        &mut xml,
        "ecrscan: what changed in the scanned ECR images",
        CHANGES_FEED_ID,
        updated,
    );
    if let Some(url) = self_url.and_then(http_url) {
        xml.empty(
            1,
            "link",
            &[
                ("href", &url),
                ("rel", "self"),
                ("type", "application/atom+xml"),
            ],
        );
    }
    for change in changes {
        xml.start(1, "entry", &[]);
        xml.text_element(2, "title", &change_title(change));
        xml.start(2, "id", &[]);
        xml.raw("urn:uuid:");
        xml.raw(&change.id.to_string());
        xml.end("id");
        xml.text_element(2, "updated", &atom_date(change.detected_at));
        let mut text = Vec::new();
        super::write_text_changes(std::slice::from_ref(change), &mut text)?;
        xml.start(2, "content", &[("type", "text")]);
        xml.text(&String::from_utf8_lossy(&text));
        xml.end("content");
        xml.end_on_own_line(1, "entry");
        if xml.doc.len() >= CHUNK_BYTES {
            out.write_all(xml.doc.as_bytes())?;
            xml.doc.clear();
        }
    }
    xml.raw("\n</feed>\n");
    out.write_all(xml.doc.as_bytes())
}

/// `[CRITICAL] 2 new, 1 raised, 3 fixed in test/ubuntu:latest`, or
/// `Baseline of …`, or `Tag latest of test/ubuntu moved: …`.
fn change_title(change: &crate::changes::Change) -> String {
    use crate::changes::ChangeKind;
    let image = match change.tags.first() {
        Some(tag) => format!("{}:{tag}", change.repository),
        None => format!("{}@{}", change.repository, change.digest),
    };
    let raised = change
        .severity_changed
        .iter()
        .filter(|c| c.to > c.from)
        .count();
    let summary = format!(
        "{} new, {raised} raised, {} fixed",
        change.new.len(),
        change.fixed.len()
    );
    let severity = change
        .highest_new_severity()
        .map(|s| format!("[{s}] "))
        .unwrap_or_default();
    match change.kind {
        ChangeKind::Baseline => format!(
            "Baseline of {image}: {} findings",
            change.counts.after.total()
        ),
        ChangeKind::FindingsChanged => format!("{severity}{summary} in {image}"),
        ChangeKind::TagMoved => format!("{severity}{image} moved to another image: {summary}"),
    }
}

/// An XML document being written, indented by two spaces per level.
///
/// Every element starts on a new line; text goes through [`XmlBuffer::text`],
/// which escapes it.
struct XmlBuffer {
    doc: String,
}

impl XmlBuffer {
    fn with_capacity(capacity: usize) -> XmlBuffer {
        XmlBuffer {
            doc: String::with_capacity(capacity),
        }
    }

    /// Markup or text known to need no escaping.
    fn raw(&mut self, markup: &str) {
        self.doc.push_str(markup);
    }

    /// Character data: `<`, `>`, `&`, `'` and `"` escaped, and characters
    /// XML 1.0 forbids (C0 controls other than tab, line feed and carriage
    /// return; U+FFFE; U+FFFF) replaced by U+FFFD.
    fn text(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut copied = 0;
        let mut at = 0;
        while let Some(offset) = bytes[at..]
            .iter()
            .position(|&byte| NEEDS_CARE[usize::from(byte)])
        {
            at += offset;
            let (replacement, length) = match bytes[at] {
                b'<' => ("&lt;", 1),
                b'>' => ("&gt;", 1),
                b'&' => ("&amp;", 1),
                b'\'' => ("&apos;", 1),
                b'"' => ("&quot;", 1),
                // U+FFFE and U+FFFF
                0xef if bytes.get(at + 1) == Some(&0xbf)
                    && matches!(bytes.get(at + 2), Some(0xbe | 0xbf)) =>
                {
                    ("\u{fffd}", 3)
                }
                0xef => {
                    at += 1;
                    continue;
                }
                _ => ("\u{fffd}", 1),
            };
            // Both ends are at an ASCII byte or a UTF-8 lead byte: char boundaries.
            self.doc.push_str(&text[copied..at]);
            self.doc.push_str(replacement);
            at += length;
            copied = at;
        }
        self.doc.push_str(&text[copied..]);
    }

    /// Copies what was written at `range` again, e.g. an escaped title.
    fn repeat(&mut self, range: std::ops::Range<usize>) {
        self.doc.extend_from_within(range);
    }

    fn indent(&mut self, depth: usize) {
        self.doc.push('\n');
        for _ in 0..depth {
            self.doc.push_str("  ");
        }
    }

    fn open_tag(&mut self, depth: usize, name: &str, attributes: &[(&str, &str)]) {
        self.indent(depth);
        self.doc.push('<');
        self.doc.push_str(name);
        for (key, value) in attributes {
            self.doc.push(' ');
            self.doc.push_str(key);
            self.doc.push_str("=\"");
            self.text(value);
            self.doc.push('"');
        }
    }

    fn start(&mut self, depth: usize, name: &str, attributes: &[(&str, &str)]) {
        self.open_tag(depth, name, attributes);
        self.doc.push('>');
    }

    fn empty(&mut self, depth: usize, name: &str, attributes: &[(&str, &str)]) {
        self.open_tag(depth, name, attributes);
        self.doc.push_str("/>");
    }

    /// Closes an element on the line it started on (after its text).
    fn end(&mut self, name: &str) {
        self.doc.push_str("</");
        self.doc.push_str(name);
        self.doc.push('>');
    }

    /// Closes an element that holds elements.
    fn end_on_own_line(&mut self, depth: usize, name: &str) {
        self.indent(depth);
        self.end(name);
    }

    fn text_element(&mut self, depth: usize, name: &str, text: &str) {
        self.start(depth, name, &[]);
        self.text(text);
        self.end(name);
    }

    fn tag_in_brackets(&mut self, tag: &str) {
        self.raw("[");
        self.text(tag);
        self.raw("] ");
    }
}

#[cfg(test)]
mod tests {
    use super::XmlBuffer;

    fn escaped(text: &str) -> String {
        let mut xml = XmlBuffer::with_capacity(0);
        xml.text(text);
        xml.doc
    }

    /// The escaping rules, one character at a time.
    fn escaped_by_char(text: &str) -> String {
        text.chars()
            .map(|c| match c {
                '<' => "&lt;".to_owned(),
                '>' => "&gt;".to_owned(),
                '&' => "&amp;".to_owned(),
                '\'' => "&apos;".to_owned(),
                '"' => "&quot;".to_owned(),
                '\t' | '\n' | '\r' => c.to_string(),
                '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => "\u{fffd}".to_owned(),
                c => c.to_string(),
            })
            .collect()
    }

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            escaped(r#"<a href='x'>&"</a>"#),
            "&lt;a href=&apos;x&apos;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(escaped("plain text"), "plain text");
        assert_eq!(escaped(""), "");
    }

    #[test]
    fn characters_xml_forbids_become_replacement_characters() {
        assert_eq!(
            escaped("a\u{0}b\u{1b}c\u{1f}"),
            "a\u{fffd}b\u{fffd}c\u{fffd}"
        );
        assert_eq!(escaped("\u{fffe}\u{ffff}"), "\u{fffd}\u{fffd}");
        assert_eq!(escaped("tab\tline\ncr\r"), "tab\tline\ncr\r");
        // Neighbours of U+FFFE/U+FFFF share their lead bytes and are kept.
        assert_eq!(
            escaped("\u{fffd}\u{fffc}\u{f000}é€😀"),
            "\u{fffd}\u{fffc}\u{f000}é€😀"
        );
    }

    #[test]
    fn byte_scanning_agrees_with_the_rules_on_mixed_text() {
        let alphabet: Vec<char> =
            "a<>&'\"\t\n\r\u{0}\u{8}\u{b}\u{1f} é€😀\u{fffd}\u{fffe}\u{ffff}\u{efbf}"
                .chars()
                .collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2_000 {
            let text: String = (0..24)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % alphabet.len() as u64) as usize]
                })
                .collect();
            assert_eq!(escaped(&text), escaped_by_char(&text), "{text:?}");
        }
    }
}
