//! Golden tests of the three renderers, and the feed's resistance to
//! hostile text.
//!
//! `UPDATE_GOLDEN=1 cargo test -p ecrscan-core --test it render` rewrites the
//! golden files; review the diff before committing it.

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use ecrscan_core::finding::FindingKind;
use ecrscan_core::render::{
    FeedOptions, FeedPage, SummaryFormat, SummaryPage, atom_feed, write_atom_feed,
    write_json_findings, write_json_summary, write_summary_page, write_text_summary,
};
use ecrscan_core::{
    DigestScan, Finding, ImageRef, ImageScanResult, Origin, ScanConfig, ScanStatus, Severity,
    SeverityCounts, Summary, SummaryRow,
};
use uuid::Uuid;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).unwrap()
}

fn config(id: &str, repository: &str, tags: &[&str]) -> ScanConfig {
    ScanConfig {
        id: Uuid::parse_str(id).unwrap(),
        created: at(1_569_927_812),
        region: "us-west-2".into(),
        registry: "123456789012".into(),
        repository: repository.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        exclude_repositories: Vec::new(),
        most_recent: None,
        pushed_within_days: None,
        pulled_within_days: None,
        exclude_accounts: Vec::new(),
    }
}

fn basic(
    name: &str,
    severity: Severity,
    package: &str,
    version: &str,
    description: &str,
) -> Finding {
    let mut finding = Finding::new(name, severity);
    finding.description = Some(description.into());
    finding.uri = Some(format!(
        "https://security-tracker.debian.org/tracker/{name}"
    ));
    finding.package_name = Some(package.into());
    finding.package_version = Some(version.into());
    finding
        .attributes
        .insert("package_name".into(), package.into());
    finding
        .attributes
        .insert("package_version".into(), version.into());
    finding
}

fn complete(repository: &str, tag: &str, digest: &str, findings: Vec<Finding>) -> ImageScanResult {
    let counts: SeverityCounts = findings.iter().map(|f| (f.severity, 1)).collect();
    ImageScanResult {
        image: ImageRef {
            repository: repository.into(),
            tag: Some(tag.into()),
            digest: Some(digest.into()),
            ..ImageRef::default()
        },
        scan: DigestScan {
            status: ScanStatus::Complete,
            status_description: Some("The scan was completed successfully.".into()),
            scan_completed_at: Some(at(1_764_230_400)),
            vulnerability_source_updated_at: Some(at(1_764_200_000)),
            severity_counts: counts,
            findings,
        },
        origin: Origin::Live,
        findings_changed_at: None,
        suppressed_counts: SeverityCounts::new(),
    }
}

const UBUNTU: &str = "6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a";
const CENTOS: &str = "0f4e1d2c-3b4a-4958-8776-655443322110";

fn ubuntu_findings() -> Vec<Finding> {
    vec![
        basic(
            "CVE-2016-2779",
            Severity::High,
            "util-linux",
            "2.27.1-6ubuntu3.10",
            "runuser in util-linux allows local users to escape to the parent session via a crafted TIOCSTI ioctl call.",
        ),
        basic(
            "CVE-2019-5188",
            Severity::Medium,
            "e2fsprogs",
            "1.42.13-1ubuntu1.1",
            "A code execution vulnerability exists in the directory rehashing functionality of E2fsprogs e2fsck 1.45.4.",
        ),
        basic(
            "CVE-2019-13627",
            Severity::Low,
            "libgcrypt20",
            "1.6.5-2ubuntu0.6",
            "It was discovered that there was a ECDSA timing attack in the libgcrypt20 cryptographic library.",
        ),
        basic(
            "CVE-2018-1000001",
            Severity::Critical,
            "glibc",
            "2.23-0ubuntu11",
            "In glibc 2.26 and earlier there is confusion in the usage of getcwd() by realpath().",
        ),
    ]
}

fn summary() -> Summary {
    let ubuntu = config(UBUNTU, "test/ubuntu", &["16.04", "latest"]);
    let centos = config(CENTOS, "test/centos", &["7", "8"]);
    let row = |config: &ScanConfig, result| SummaryRow {
        config_id: config.id,
        region: config.region.clone(),
        registry: config.registry.clone(),
        result,
    };
    Summary {
        rows: vec![
            row(
                &ubuntu,
                complete("test/ubuntu", "16.04", "sha256:1111", ubuntu_findings()),
            ),
            row(
                &ubuntu,
                ImageScanResult {
                    origin: Origin::Recorded {
                        checked_at: at(1_764_232_000),
                    },
                    findings_changed_at: Some(at(1_764_231_000)),
                    ..complete("test/ubuntu", "latest", "sha256:2222", vec![])
                },
            ),
            row(
                &centos,
                ImageScanResult::without_scan(
                    ImageRef {
                        repository: "test/centos".into(),
                        tag: Some("7".into()),
                        digest: Some("sha256:3333".into()),
                        ..ImageRef::default()
                    },
                    ScanStatus::NotScanned,
                    None,
                ),
            ),
            row(
                &centos,
                ImageScanResult::without_scan(
                    ImageRef {
                        repository: "test/centos".into(),
                        tag: Some("8".into()),
                        digest: None,
                        ..ImageRef::default()
                    },
                    ScanStatus::Failed,
                    Some("ecr:DescribeImageScanFindings failed:\nThrottlingException".into()),
                ),
            ),
        ],
        ..Summary::default()
    }
}

fn golden(name: &str, actual: &[u8]) {
    ecrscan_core::testing::assert_golden(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
        name,
        actual,
    );
}

#[test]
fn text_summary_is_the_samples_format() {
    let mut out = Vec::new();
    write_text_summary(&summary(), &mut out).unwrap();
    golden("summary.txt", &out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("Results for test/ubuntu:16.04 in us-west-2:\n CRITICAL: 1\n HIGH: 1\n MEDIUM: 1\n LOW: 1\n\n"));
}

#[test]
fn json_summary_is_documented_shape() {
    let mut out = Vec::new();
    write_json_summary(&summary(), at(1_764_234_000), &mut out).unwrap();
    golden("summary.json", &out);
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["generated_at"], "2025-11-27T09:00:00Z");
    assert_eq!(
        json["totals"],
        serde_json::json!({"CRITICAL":1,"HIGH":1,"MEDIUM":1,"LOW":1})
    );
    assert_eq!(json["images"][0]["total"], 4);
    assert_eq!(json["images"][3]["digest"], serde_json::Value::Null);
}

/// The findings feed of the golden file.
fn golden_findings_feed() -> Vec<u8> {
    let ubuntu = config(UBUNTU, "test/ubuntu", &["16.04", "latest"]);
    let results = vec![
        complete("test/ubuntu", "16.04", "sha256:1111", ubuntu_findings()),
        complete("test/ubuntu", "latest", "sha256:2222", vec![]),
    ];
    let options = FeedOptions {
        self_url: Some(format!("https://api.example.com/Prod/findings/{UBUNTU}")),
        min_severity: None,
        page: None,
        ..FeedOptions::default()
    };
    let mut out = Vec::new();
    write_atom_feed(&ubuntu, &results, at(1_764_234_000), &options, &mut out).unwrap();
    out
}

#[test]
fn atom_feed_golden() {
    golden("findings.atom", &golden_findings_feed());
}

#[test]
fn atom_feed_model_reads_back_what_was_written() {
    let ubuntu = config(UBUNTU, "test/ubuntu", &["16.04"]);
    let mut enhanced = Finding::new("CVE-2026-0001", Severity::Critical);
    enhanced.kind = FindingKind::Enhanced;
    enhanced.title = Some("CVE-2026-0001 - openssl".into());
    enhanced.score = Some(9.8);
    enhanced.fixed_in_version = Some("3.0.9".into());
    enhanced.fix_available = Some("YES".into());
    enhanced.first_observed_at = Some(at(1_764_000_000));
    enhanced.package_name = Some("openssl".into());
    let results = vec![complete(
        "test/ubuntu",
        "16.04",
        "sha256:1111",
        vec![enhanced],
    )];
    let options = FeedOptions {
        self_url: Some("https://api.example.com/Prod/findings/x".into()),
        min_severity: None,
        page: None,
        ..FeedOptions::default()
    };
    let feed = atom_feed(&ubuntu, &results, at(1_764_234_000), &options).unwrap();
    assert_eq!(feed.id, format!("urn:uuid:{UBUNTU}"));
    assert_eq!(feed.title.value, "ECR repository test/ubuntu in us-west-2");
    assert_eq!(
        feed.links
            .iter()
            .map(|l| l.rel.as_str())
            .collect::<Vec<_>>(),
        ["alternate", "self"]
    );
    let [entry] = feed.entries.as_slice() else {
        panic!("one entry expected: {:?}", feed.entries);
    };
    assert_eq!(
        entry.title.value,
        "[CRITICAL] in image test/ubuntu:16.04 found CVE-2026-0001"
    );
    assert_eq!(
        entry.published.map(|p| p.timestamp()),
        Some(1_764_000_000),
        "first observed is the entry's published date"
    );
    // Without a description, the title is the summary.
    assert_eq!(
        entry.summary.as_ref().map(|s| s.value.as_str()),
        Some("CVE-2026-0001 - openssl")
    );
    assert_eq!(
        entry.content.as_ref().and_then(|c| c.value.as_deref()),
        Some(
            "Title: CVE-2026-0001 - openssl\nVulnerability: CVE-2026-0001\nSeverity: CRITICAL\n\
             Score: 9.8\nPackage: openssl\nFixed in: 3.0.9\nFix available: YES\nImage digest: sha256:1111"
        )
    );
    let mut written = Vec::new();
    write_atom_feed(&ubuntu, &results, at(1_764_234_000), &options, &mut written).unwrap();
    assert_eq!(
        entry_texts(&String::from_utf8(written).unwrap(), "id"),
        std::slice::from_ref(&entry.id)
    );
}

#[test]
fn atom_feed_filters_by_severity_and_keeps_ids_stable() {
    let ubuntu = config(UBUNTU, "test/ubuntu", &["16.04"]);
    let results = vec![complete(
        "test/ubuntu",
        "16.04",
        "sha256:1111",
        ubuntu_findings(),
    )];
    let render = |min_severity, now| {
        let mut out = Vec::new();
        let options = FeedOptions {
            min_severity,
            ..FeedOptions::default()
        };
        write_atom_feed(&ubuntu, &results, now, &options, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    let all = render(None, at(1));
    let later = render(None, at(10_000_000_000));
    assert_eq!(
        all, later,
        "the feed must not depend on now when every scan completed"
    );
    let high = render(Some(Severity::High), at(1));
    let titles: Vec<String> = entry_texts(&high, "title");
    assert_eq!(
        titles,
        [
            "[CRITICAL] in image test/ubuntu:16.04 found CVE-2018-1000001",
            "[HIGH] in image test/ubuntu:16.04 found CVE-2016-2779",
        ]
    );
    let ids_all = entry_texts(&all, "id");
    let ids_high = entry_texts(&high, "id");
    assert_eq!(ids_all.len(), 4);
    assert_eq!(&ids_all[..2], &ids_high[..]);
}

/// 60 findings over three tags, some with a severity filter's worth of
/// variety, each entry a few hundred bytes.
fn many_results() -> Vec<ImageScanResult> {
    (0..3)
        .map(|image| {
            let findings = (0..20)
                .map(|i| {
                    let mut finding = Finding::new(
                        format!("CVE-2026-{i:04}"),
                        Severity::ALL[i % Severity::ALL.len()],
                    );
                    finding.description = Some(format!("Finding {i} in image {image}."));
                    finding.package_name = Some(format!("package-{i}"));
                    finding
                })
                .collect();
            complete(
                "test/ubuntu",
                &format!("v{image}"),
                &format!("sha256:{image}"),
                findings,
            )
        })
        .collect()
}

fn link_href(feed: &str, rel: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(feed).unwrap();
    doc.root_element()
        .children()
        .find(|n| n.has_tag_name("link") && n.attribute("rel") == Some(rel))
        .and_then(|n| n.attribute("href"))
        .map(str::to_owned)
}

#[test]
fn pages_hold_every_entry_once_in_order_within_their_size() {
    let ubuntu = config(UBUNTU, "test/ubuntu", &[]);
    let results = many_results();
    let base = format!("https://api.example.com/Prod/findings/{UBUNTU}");
    for min_severity in [None, Some(Severity::Medium)] {
        let render = |page| {
            let options = FeedOptions {
                self_url: Some(base.clone()),
                min_severity,
                page,
                ..FeedOptions::default()
            };
            let mut out = Vec::new();
            write_atom_feed(&ubuntu, &results, at(1), &options, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let whole = render(None);
        let all_ids = entry_texts(&whole, "id");
        assert!(all_ids.len() > 20, "{}", all_ids.len());
        assert_eq!(link_href(&whole, "next"), None);

        let max_bytes = 6_000;
        let mut paged_ids = Vec::new();
        let mut start = 0;
        let mut pages = 0;
        loop {
            let page = render(Some(FeedPage { start, max_bytes }));
            pages += 1;
            assert!(
                page.len() <= max_bytes,
                "page at {start}: {} bytes",
                page.len()
            );
            let ids = entry_texts(&page, "id");
            assert!(!ids.is_empty(), "page at {start} is empty");
            paged_ids.extend(ids);
            let severity = min_severity.map_or(String::new(), |s| format!("severity={s}&"));
            let expected_self = match start {
                0 if severity.is_empty() => base.clone(),
                0 => format!("{base}?{}", severity.trim_end_matches('&')),
                _ => format!("{base}?{severity}start={start}"),
            };
            assert_eq!(link_href(&page, "self"), Some(expected_self));
            let Some(next) = link_href(&page, "next") else {
                break;
            };
            let next_start: usize = next
                .strip_prefix(&format!("{base}?{severity}start="))
                .unwrap_or_else(|| panic!("next link {next}"))
                .parse()
                .unwrap();
            assert_eq!(next_start, paged_ids.len(), "next starts after this page");
            start = next_start;
        }
        assert!(pages > 2, "{pages} pages");
        assert_eq!(
            paged_ids, all_ids,
            "pages hold the feed's entries, in order"
        );
    }
}

#[test]
fn a_page_holds_at_least_one_entry_and_a_start_past_the_end_none() {
    let ubuntu = config(UBUNTU, "test/ubuntu", &[]);
    let results = many_results();
    let render = |start| {
        let options = FeedOptions {
            page: Some(FeedPage {
                start,
                max_bytes: 1,
            }),
            ..FeedOptions::default()
        };
        let mut out = Vec::new();
        write_atom_feed(&ubuntu, &results, at(1), &options, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    let first = render(0);
    assert_eq!(entry_texts(&first, "id").len(), 1);
    // Without the feed's URL, the next page is a relative reference.
    assert_eq!(link_href(&first, "next").as_deref(), Some("?start=1"));
    let last = render(59);
    assert_eq!(entry_texts(&last, "id").len(), 1);
    assert_eq!(link_href(&last, "next"), None);
    let past = render(60);
    assert!(entry_texts(&past, "id").is_empty());
    assert_eq!(link_href(&past, "next"), None);
    assert!(roxmltree::Document::parse(&render(usize::MAX)).is_ok());
}

/// A summary of `rows` images, each with a few findings.
fn big_summary(rows: usize) -> Summary {
    let ubuntu = config(UBUNTU, "test/ubuntu", &[]);
    Summary {
        rows: (0..rows)
            .map(|i| SummaryRow {
                config_id: ubuntu.id,
                region: ubuntu.region.clone(),
                registry: ubuntu.registry.clone(),
                result: complete(
                    "test/ubuntu",
                    &format!("v{i}"),
                    &format!("sha256:{i}"),
                    ubuntu_findings()[..1 + i % 4].to_vec(),
                ),
            })
            .collect(),
        ..Summary::default()
    }
}

#[test]
fn summary_pages_hold_every_image_once_in_order_within_their_size() {
    let summary = big_summary(300);
    let mut whole_text = Vec::new();
    write_text_summary(&summary, &mut whole_text).unwrap();
    let mut whole_json = Vec::new();
    write_json_summary(&summary, at(1), &mut whole_json).unwrap();
    let whole_json: serde_json::Value = serde_json::from_slice(&whole_json).unwrap();

    for format in [SummaryFormat::Text, SummaryFormat::Json] {
        let max_bytes = 4_000;
        let mut start = 0;
        let mut pages = 0;
        let mut text = Vec::new();
        let mut images = Vec::new();
        loop {
            let mut out = Vec::new();
            let next = write_summary_page(
                &summary,
                format,
                at(1),
                SummaryPage { start, max_bytes },
                &mut out,
            )
            .unwrap();
            pages += 1;
            assert!(
                out.len() <= max_bytes,
                "{format:?} page at {start}: {} bytes",
                out.len()
            );
            let rows_here = match format {
                SummaryFormat::Text => {
                    text.extend_from_slice(&out);
                    String::from_utf8(out)
                        .unwrap()
                        .matches("Results for ")
                        .count()
                }
                SummaryFormat::Json => {
                    let page: serde_json::Value = serde_json::from_slice(&out).unwrap();
                    assert_eq!(
                        page["totals"], whole_json["totals"],
                        "totals of every image"
                    );
                    assert_eq!(
                        page.get("next_start").and_then(|n| n.as_u64()),
                        next.map(|n| n as u64)
                    );
                    let here = page["images"].as_array().unwrap().clone();
                    let count = here.len();
                    images.extend(here);
                    count
                }
            };
            assert!(rows_here >= 1, "{format:?} page at {start} is empty");
            match next {
                Some(next) => {
                    assert_eq!(next, start + rows_here);
                    start = next;
                }
                None => break,
            }
        }
        assert!(pages > 3, "{format:?}: {pages} pages");
        match format {
            SummaryFormat::Text => assert_eq!(text, whole_text),
            SummaryFormat::Json => assert_eq!(&images, whole_json["images"].as_array().unwrap()),
        }
    }
}

#[test]
fn a_summary_page_holds_at_least_one_image_and_a_start_past_the_end_none() {
    let summary = big_summary(3);
    for format in [SummaryFormat::Text, SummaryFormat::Json] {
        let page = |start| {
            let mut out = Vec::new();
            let next = write_summary_page(
                &summary,
                format,
                at(1),
                SummaryPage {
                    start,
                    max_bytes: 1,
                },
                &mut out,
            )
            .unwrap();
            (String::from_utf8(out).unwrap(), next)
        };
        let (first, next) = page(0);
        assert_eq!(next, Some(1), "{format:?}");
        assert!(first.contains("test/ubuntu"), "{format:?}: {first}");
        assert_eq!(page(2).1, None, "{format:?}");
        let (past, next) = page(usize::MAX);
        assert_eq!(next, None);
        assert!(!past.contains("test/ubuntu"), "{format:?}: {past}");
    }
}

fn entry_texts(feed: &str, element: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(feed).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("entry"))
        .filter_map(|entry| entry.children().find(|c| c.has_tag_name(element)))
        .map(|n| n.text().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn json_findings_filter_by_severity() {
    let results = vec![complete(
        "test/ubuntu",
        "16.04",
        "sha256:1111",
        ubuntu_findings(),
    )];
    let mut out = Vec::new();
    write_json_findings(&results, Some(Severity::Medium), &mut out).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let names: Vec<&str> = json[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["CVE-2016-2779", "CVE-2019-5188", "CVE-2018-1000001"]
    );
    assert_eq!(
        json[0]["recorded_at"],
        serde_json::Value::Null,
        "read from ECR"
    );
}

#[test]
fn findings_from_stored_results_say_when_they_were_recorded() {
    let ubuntu = config(UBUNTU, "test/ubuntu", &["16.04"]);
    let mut result = complete("test/ubuntu", "16.04", "sha256:1111", ubuntu_findings());
    result.origin = Origin::Recorded {
        checked_at: at(1_764_231_000),
    };
    let results = vec![result];
    let mut json = Vec::new();
    write_json_findings(&results, None, &mut json).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json[0]["recorded_at"], "2025-11-27T08:10:00Z");
    let mut feed = Vec::new();
    write_atom_feed(
        &ubuntu,
        &results,
        at(1_764_234_000),
        &FeedOptions::default(),
        &mut feed,
    )
    .unwrap();
    let contents = entry_texts(&String::from_utf8(feed).unwrap(), "content");
    assert_eq!(contents.len(), 4);
    for content in contents {
        assert!(
            content.ends_with("\nRecorded at: 2025-11-27T08:10:00+00:00"),
            "{content}"
        );
    }
}

/// A small deterministic generator: no test may depend on chance.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "<",
            ">",
            "&",
            "&amp;",
            "]]>",
            "<![CDATA[",
            "\"",
            "'",
            "<script>alert(1)</script>",
            "\u{0}",
            "\u{1}",
            "\u{8}",
            "\u{b}",
            "\u{c}",
            "\u{1f}",
            "\u{7f}",
            "\u{85}",
            "\u{fffe}",
            "\u{ffff}",
            "\u{d7ff}",
            "\u{e000}",
            "\u{fffd}",
            "\u{10ffff}",
            "\u{202e}",
            "\u{feff}",
            "é",
            "日本語",
            "🦀",
            "\r\n",
            "\t",
            " ",
            "&#0;",
            "&#x1;",
            "<?xml version=\"1.0\"?>",
            "<!DOCTYPE x [<!ENTITY a \"b\">]>",
            "&a;",
            "javascript:alert(1)",
            "http://",
            "https://example.com/a b",
            "CVE-2026-0001",
            "x",
        ];
        let len = (self.next() % 12) as usize;
        (0..len)
            .map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize])
            .collect()
    }
}

#[test]
fn any_text_from_aws_gives_a_well_formed_feed() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let cfg = config(UBUNTU, "test/ubuntu", &[]);
    for case in 0..500u32 {
        let severity = Severity::ALL[(rng.next() % 7) as usize];
        let mut finding = Finding::new(rng.string(), severity);
        finding.kind = if case.is_multiple_of(2) {
            FindingKind::Basic
        } else {
            FindingKind::Enhanced
        };
        finding.title = Some(rng.string());
        finding.description = Some(rng.string());
        finding.uri = Some(rng.string());
        finding.package_name = Some(rng.string());
        finding.package_version = Some(rng.string());
        finding.fixed_in_version = Some(rng.string());
        finding.fix_available = Some(rng.string());
        let mut twin = finding.clone();
        twin.description = Some(rng.string());
        let results = vec![complete(
            "test/ubuntu",
            "latest",
            "sha256:1",
            vec![finding.clone(), twin],
        )];
        let mut out = Vec::new();
        write_atom_feed(&cfg, &results, at(1), &FeedOptions::default(), &mut out).unwrap();
        let xml = String::from_utf8(out).expect("the feed is UTF-8");
        let doc = roxmltree::Document::parse(&xml)
            .unwrap_or_else(|err| panic!("case {case}: not well-formed: {err}\n{xml}"));
        let model = atom_feed(&cfg, &results, at(1), &FeedOptions::default())
            .unwrap_or_else(|err| panic!("case {case}: atom_syndication cannot read it: {err}"));
        assert_eq!(model.entries.len(), 1, "case {case}");
        let entries: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("entry"))
            .collect();
        // Identical findings share an id and are shown once.
        assert_eq!(entries.len(), 1, "case {case}");
        let title = entries[0]
            .children()
            .find(|c| c.has_tag_name("title"))
            .and_then(|t| t.text())
            .unwrap_or_default();
        let expected_name: String = finding
            .name
            .chars()
            .map(|c| {
                if (c < ' ' && !"\t\n\r".contains(c)) || c == '\u{fffe}' || c == '\u{ffff}' {
                    '\u{fffd}'
                } else {
                    c
                }
            })
            .collect();
        assert!(
            title.ends_with(
                &format!("found {expected_name}")
                    .replace("\r\n", "\n")
                    .replace('\r', "\n")
            ),
            "case {case}: title {title:?} lost the name {expected_name:?}"
        );
        for link in doc.descendants().filter(|n| n.has_tag_name("link")) {
            let href = link.attribute("href").unwrap();
            assert!(
                href.starts_with("http://") || href.starts_with("https://"),
                "case {case}: {href}"
            );
        }
    }
}

fn changes_fixture() -> Vec<ecrscan_core::Change> {
    use ecrscan_core::Change;
    let repository =
        ecrscan_core::RepositoryRef::new("us-west-2", "123456789012", "test/ubuntu").unwrap();
    let scan = |completed: i64, findings: Vec<Finding>| DigestScan {
        status: ScanStatus::Complete,
        status_description: None,
        scan_completed_at: Some(at(completed)),
        vulnerability_source_updated_at: None,
        severity_counts: findings.iter().map(|f| (f.severity, 1)).collect(),
        findings,
    };
    let mut hostile = Finding::new("CVE-2026-<img src=x onerror=alert(1)>", Severity::Critical);
    hostile.package_name = Some("</content><script>x</script>".into());
    hostile.package_version = Some("1.0\u{1b}[31m&\u{0}".into());
    let baseline = Change::of_result(
        &repository,
        "sha256:1111111111111111111111111111111111111111",
        &["latest".into()],
        None,
        &scan(
            1_764_230_400,
            vec![Finding::new("CVE-2016-2779", Severity::High)],
        ),
        at(1_764_230_500),
    )
    .unwrap();
    let changed = Change::of_result(
        &repository,
        "sha256:1111111111111111111111111111111111111111",
        &["latest".into()],
        Some(&scan(
            1_764_230_400,
            vec![Finding::new("CVE-2016-2779", Severity::High)],
        )),
        &scan(1_764_316_800, vec![hostile]),
        at(1_764_316_900),
    )
    .unwrap();
    vec![changed, baseline]
}

#[test]
fn the_changes_feed_is_well_formed_atom_with_stable_ids_and_escaped_text() {
    let changes = changes_fixture();
    let mut out = Vec::new();
    ecrscan_core::render::write_changes_feed(
        &changes,
        at(1_764_400_000),
        Some("https://api.example.com/Prod/changes.atom"),
        &mut out,
    )
    .unwrap();
    let feed = String::from_utf8(out).unwrap();
    // For an external validator: ECRSCAN_WRITE_FEEDS=DIR writes the feed there.
    if let Some(dir) = std::env::var_os("ECRSCAN_WRITE_FEEDS") {
        std::fs::write(std::path::Path::new(&dir).join("changes.atom"), &feed).unwrap();
    }
    let doc = roxmltree::Document::parse(&feed).expect("well-formed XML");
    let entries: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("entry"))
        .collect();
    assert_eq!(entries.len(), 2);
    let ids: Vec<String> = entries
        .iter()
        .map(|e| {
            e.children()
                .find(|n| n.has_tag_name("id"))
                .and_then(|n| n.text())
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        ids,
        changes
            .iter()
            .map(|c| format!("urn:uuid:{}", c.id))
            .collect::<Vec<_>>()
    );
    assert!(
        !feed.contains("<script>") && !feed.contains("<img"),
        "{feed}"
    );
    let parsed = atom_syndication::Feed::read_from(feed.as_bytes()).expect("an Atom feed");
    assert_eq!(parsed.entries().len(), 2);
    let title = parsed.entries()[0].title().as_str();
    assert!(
        title.starts_with("[CRITICAL] 1 new, 0 raised, 1 fixed in test/ubuntu:latest"),
        "{title}"
    );
    let content = parsed.entries()[0]
        .content()
        .and_then(|c| c.value())
        .unwrap();
    assert!(
        content.contains("CVE-2026-<img src=x onerror=alert(1)>"),
        "shown as text: {content}"
    );
    assert!(
        !content.contains('\u{1b}'),
        "no terminal escapes reach the text"
    );
    assert_eq!(
        parsed.entries()[1].title().as_str(),
        "Baseline of test/ubuntu:latest: 1 findings"
    );
    assert_eq!(
        parsed
            .links()
            .iter()
            .find(|l| l.rel() == "self")
            .map(|l| l.href()),
        Some("https://api.example.com/Prod/changes.atom")
    );
}

/// Runs the independent Atom checker (tests/support/check_atom.py: the RFC
/// 4287 grammar through libxml2, and feedparser) on `feeds`; what it read of
/// each, by file name.
fn independently_checked(feeds: &[(&str, Vec<u8>)]) -> Option<Vec<serde_json::Value>> {
    let python = ecrscan_core::testing::test_python()?;
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = feeds
        .iter()
        .map(|(name, feed)| {
            let path = dir.path().join(name);
            std::fs::write(&path, feed).unwrap();
            path
        })
        .collect();
    let output = std::process::Command::new(python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/check_atom.py"))
        .args(&paths)
        .output()
        .expect("run the Atom checker");
    assert!(
        output.status.success(),
        "the Atom checker refused a feed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect(),
    )
}

#[test]
fn feeds_pass_an_independent_atom_validator_and_feed_reader() {
    let ubuntu = config(UBUNTU, "test/ubuntu", &["16.04", "latest"]);
    let findings = golden_findings_feed();

    // Hostile text from AWS in every field, 200 distinct findings.
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let hostile_findings: Vec<Finding> = (0..200)
        .map(|i| {
            let mut finding = Finding::new(
                format!("{}-{i}", rng.string()),
                Severity::ALL[(rng.next() % 7) as usize],
            );
            finding.title = Some(rng.string());
            finding.description = Some(rng.string());
            finding.uri = Some(rng.string());
            finding.package_name = Some(rng.string());
            finding.package_version = Some(rng.string());
            finding
        })
        .collect();
    let hostile_results = vec![complete(
        "test/ubuntu",
        "latest",
        "sha256:3333",
        hostile_findings,
    )];
    let mut hostile = Vec::new();
    write_atom_feed(
        &ubuntu,
        &hostile_results,
        at(1_764_234_000),
        &FeedOptions::default(),
        &mut hostile,
    )
    .unwrap();

    let changes = changes_fixture();
    let mut changes_feed = Vec::new();
    ecrscan_core::render::write_changes_feed(
        &changes,
        at(1_764_400_000),
        Some("https://api.example.com/Prod/changes.atom"),
        &mut changes_feed,
    )
    .unwrap();
    let mut no_changes = Vec::new();
    ecrscan_core::render::write_changes_feed(&[], at(1_764_400_000), None, &mut no_changes)
        .unwrap();

    let Some(read) = independently_checked(&[
        ("findings.atom", findings),
        ("hostile.atom", hostile),
        ("changes.atom", changes_feed),
        ("no-changes.atom", no_changes),
    ]) else {
        return;
    };
    let entries: Vec<u64> = read
        .iter()
        .map(|feed| feed["entries"].as_u64().unwrap())
        .collect();
    assert_eq!(entries[0], 4, "{read:?}");
    assert!(
        entries[1] >= 190,
        "distinct findings stay entries: {read:?}"
    );
    assert_eq!(entries[2..], [2, 0], "{read:?}");
    assert_eq!(
        read[2]["ids"],
        serde_json::json!(
            changes
                .iter()
                .map(|c| format!("urn:uuid:{}", c.id))
                .collect::<Vec<_>>()
        ),
        "a feed reader sees the change ids as entry ids"
    );
    assert_eq!(
        read[2]["titles"][0],
        "[CRITICAL] 1 new, 0 raised, 1 fixed in test/ubuntu:latest"
    );
}
