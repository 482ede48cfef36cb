//! The HTML report: its golden page, its escaping of hostile text, its size
//! at 5,000 images, the fleet trend it draws, and the page in a real
//! headless browser (tests/support/check_report.py, Selenium driving
//! Debian's Chromium).
//!
//! `UPDATE_GOLDEN=1 cargo test -p ecrscan-core --test it report` rewrites
//! the golden page.

use std::path::PathBuf;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ecrscan_core::changes::ChangeCounts;
use ecrscan_core::render::{
    HtmlReport, html_content_security_policy, write_html_report, write_json_summary,
};
use ecrscan_core::suppress::{Suppression, stale_rules};
use ecrscan_core::trend::{TREND_DAYS, TrendPoint, fleet_trend};
use ecrscan_core::{
    Change, ChangeKind, DigestScan, Finding, ImageRef, ImageScanResult, Origin, ScanStatus,
    Severity, SeverityCounts, Summary, SummaryRow,
};
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap()
}

/// What AWS might send in any string; none of it may run or vanish.
const IMG: &str = "<img src=x onerror=\"window.__pwned='img'\">";
const SCRIPT: &str = "</script><script>window.__pwned='script'</script>";
const ATTRIBUTE: &str = "\"><svg onload=\"window.__pwned='svg'\">";

struct Fleet {
    summary: Summary,
    changes: Vec<Change>,
    rules: Vec<Suppression>,
}

impl Fleet {
    fn report(&self, trend: &[TrendPoint], api_url: Option<&str>) -> Vec<u8> {
        let report = HtmlReport {
            summary: &self.summary,
            changes: &self.changes,
            suppressions: &self.rules,
            trend,
            api_url,
        };
        let mut page = Vec::new();
        write_html_report(&report, now(), &mut page).unwrap();
        page
    }

    fn trend(&self) -> Vec<TrendPoint> {
        fleet_trend(&self.summary, &self.changes, TREND_DAYS, now())
    }

    fn json_summary(&self) -> Vec<u8> {
        let mut json = Vec::new();
        write_json_summary(&self.summary, now(), &mut json).unwrap();
        json
    }
}

fn digest(i: usize) -> String {
    format!("sha256:{i:064x}")
}

fn finding(name: &str, severity: Severity, description: &str) -> Finding {
    let mut finding = Finding::new(name, severity);
    finding.description = Some(description.into());
    finding.package_name = Some("openssl".into());
    finding.package_version = Some("3.0.2-0ubuntu1.10".into());
    finding.uri = Some(format!("https://nvd.nist.gov/vuln/detail/{name}"));
    finding
}

fn counts(pairs: &[(Severity, u64)]) -> SeverityCounts {
    pairs.iter().copied().collect()
}

fn row(
    registry: &str,
    repository: &str,
    tag: &str,
    i: usize,
    status: ScanStatus,
    severity_counts: SeverityCounts,
    suppressed_counts: SeverityCounts,
) -> SummaryRow {
    SummaryRow {
        config_id: Uuid::from_u128(0x6c3b_5b4e_8e5b_4a7b_9c1d_2f3e_4d5c_6b7a),
        region: "us-west-2".into(),
        registry: registry.into(),
        result: ImageScanResult {
            image: ImageRef {
                repository: repository.into(),
                tag: Some(tag.into()),
                digest: Some(digest(i)),
                ..ImageRef::default()
            },
            scan: DigestScan {
                status,
                status_description: (status == ScanStatus::Failed).then(|| IMG.to_owned()),
                scan_completed_at: (status == ScanStatus::Complete)
                    .then(|| now() - Duration::hours(3)),
                vulnerability_source_updated_at: None,
                severity_counts,
                findings: Vec::new(),
            },
            origin: Origin::Recorded {
                checked_at: now() - Duration::hours(2) + Duration::minutes(i as i64 % 60),
            },
            findings_changed_at: None,
            suppressed_counts,
        },
    }
}

fn change(
    kind: ChangeKind,
    row: &SummaryRow,
    detected_at: DateTime<Utc>,
    before: SeverityCounts,
    after: SeverityCounts,
    new: Vec<Finding>,
) -> Change {
    Change {
        id: Uuid::new_v5(
            &Uuid::NAMESPACE_OID,
            format!("{detected_at}{:?}", row.result.image.digest).as_bytes(),
        ),
        kind,
        region: row.region.clone(),
        registry: row.registry.clone(),
        repository: row.result.image.repository.clone(),
        digest: row.result.image.digest.clone().unwrap_or_default(),
        previous_digest: None,
        tags: row.result.image.tag.clone().into_iter().collect(),
        scan_completed_at: Some(detected_at),
        previous_scan_completed_at: None,
        detected_at,
        new,
        fixed: Vec::new(),
        severity_changed: Vec::new(),
        counts: ChangeCounts { before, after },
        resurfaced: Vec::new(),
        suppressed: Vec::new(),
        truncated: false,
    }
}

fn rule(id: u128, vulnerability: &str, reason: &str, expires: &str, created: &str) -> Suppression {
    Suppression::from_stored_json(
        serde_json::json!({
            "id": Uuid::from_u128(id),
            "created": created,
            "vulnerability": vulnerability,
            "repository": "test/*",
            "reason": reason,
            "expires": expires,
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap()
}

/// Four images of two repositories in two accounts, one failed, with
/// changes over the last three weeks, three rules (one expired, one
/// expiring soon) and hostile text from AWS in a description, a title, a
/// link, a tag and a status description.
fn small_fleet() -> Fleet {
    use Severity::*;
    let ubuntu = row(
        "123456789012",
        "test/ubuntu",
        "16.04",
        1,
        ScanStatus::Complete,
        counts(&[(Critical, 1), (High, 2), (Low, 5)]),
        counts(&[(Medium, 1)]),
    );
    let latest = row(
        "123456789012",
        "test/ubuntu",
        ATTRIBUTE,
        2,
        ScanStatus::Complete,
        counts(&[(High, 1), (Informational, 3)]),
        SeverityCounts::new(),
    );
    let api = row(
        "210987654321",
        "prod/api",
        "v1.4.2",
        3,
        ScanStatus::Complete,
        counts(&[(Medium, 2)]),
        SeverityCounts::new(),
    );
    let broken = row(
        "210987654321",
        "prod/api",
        "v1.4.1",
        4,
        ScanStatus::Failed,
        SeverityCounts::new(),
        SeverityCounts::new(),
    );
    let mut hostile = finding("CVE-2026-1234", Critical, IMG);
    hostile.title = Some(SCRIPT.into());
    hostile.uri = Some("javascript:window.__pwned='link'".into());
    let changes = vec![
        change(
            ChangeKind::FindingsChanged,
            &ubuntu,
            now() - Duration::days(2),
            counts(&[(High, 2), (Medium, 1), (Low, 5)]),
            counts(&[(Critical, 1), (High, 2), (Medium, 1), (Low, 5)]),
            vec![hostile],
        ),
        change(
            ChangeKind::Baseline,
            &api,
            now() - Duration::days(5),
            SeverityCounts::new(),
            counts(&[(Medium, 2)]),
            Vec::new(),
        ),
        change(
            ChangeKind::Baseline,
            &ubuntu,
            now() - Duration::days(20),
            SeverityCounts::new(),
            counts(&[(High, 2), (Medium, 1), (Low, 5)]),
            Vec::new(),
        ),
        change(
            ChangeKind::Baseline,
            &latest,
            now() - Duration::days(20),
            SeverityCounts::new(),
            counts(&[(High, 1), (Informational, 3)]),
            Vec::new(),
        ),
    ];
    let rules = vec![
        rule(
            1,
            "CVE-2019-5188",
            "e2fsck is not in the runtime path",
            "2027-06-30",
            "2026-11-01T09:00:00Z",
        ),
        rule(
            2,
            "CVE-2016-2779",
            SCRIPT,
            "2026-12-08",
            "2026-11-01T09:00:00Z",
        ),
        rule(
            3,
            "CVE-2018-1000001",
            "fixed in the next base image",
            "2026-11-30",
            "2026-10-01T09:00:00Z",
        ),
    ];
    let rule_matches = [(Uuid::from_u128(1), 1u64)].into_iter().collect();
    let warnings = stale_rules(&rules, &rule_matches, now());
    Fleet {
        summary: Summary {
            rows: vec![ubuntu, latest, api, broken],
            rule_matches,
            warnings,
        },
        changes,
        rules,
    }
}

/// `images` images over 250 repositories of 3 accounts, counts spread over
/// every severity, a change for each of the first 500 and 40 rules: what a
/// big fleet's report holds.
fn big_fleet(images: usize) -> Fleet {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let accounts = ["111111111111", "222222222222", "333333333333"];
    let mut rows = Vec::with_capacity(images);
    let mut changes = Vec::new();
    for i in 0..images {
        let mut severity_counts = SeverityCounts::new();
        for severity in Severity::ALL {
            severity_counts.add(severity, next() % 4);
        }
        let status = if i % 97 == 0 {
            ScanStatus::Failed
        } else {
            ScanStatus::Complete
        };
        if status == ScanStatus::Failed {
            severity_counts = SeverityCounts::new();
        }
        let row = row(
            accounts[i % 3],
            &format!("team-{}/service-{}", i % 25, i % 250),
            &format!("v1.{}.{}", i / 100, i % 100),
            i,
            status,
            severity_counts.clone(),
            counts(&[(Severity::Low, next() % 2)]),
        );
        if i < 500 && status == ScanStatus::Complete {
            changes.push(change(
                ChangeKind::FindingsChanged,
                &row,
                now() - Duration::hours(1 + (i as i64 % 300)),
                severity_counts.without(&counts(&[(Severity::High, 1)])),
                severity_counts,
                vec![finding(
                    &format!("CVE-2026-{i:05}"),
                    Severity::High,
                    "A buffer overflow in the parser allows remote attackers to execute code via crafted input.",
                )],
            ));
        }
        rows.push(row);
    }
    changes.sort_by_key(|change| std::cmp::Reverse(change.detected_at));
    let rules: Vec<Suppression> = (0..40)
        .map(|i| {
            rule(
                1000 + i,
                &format!("CVE-2025-{i:05}"),
                "not reachable from the service's entry points",
                "2027-03-31",
                "2026-11-01T09:00:00Z",
            )
        })
        .collect();
    Fleet {
        summary: Summary {
            rows,
            ..Summary::default()
        },
        changes,
        rules,
    }
}

#[test]
fn the_report_is_the_golden_page() {
    let fleet = small_fleet();
    let page = fleet.report(&fleet.trend(), Some("https://api.example.com/Prod"));
    ecrscan_core::testing::assert_golden(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
        "report.html",
        &page,
    );
}

#[test]
fn hostile_text_is_escaped_wherever_it_lands() {
    let fleet = small_fleet();
    let page =
        String::from_utf8(fleet.report(&fleet.trend(), Some("https://api.example.com/Prod")))
            .unwrap();
    // The page's own script is its only one, and no markup came in.
    assert_eq!(page.matches("<script").count(), 1);
    assert_eq!(page.matches("</script>").count(), 1);
    for markup in ["<img", "<svg onload", "onerror=\"", "javascript:"] {
        let outside_text = page.matches(markup).count();
        assert_eq!(outside_text, 0, "{markup} reached the page as markup");
    }
    // Shown as text: in a change's description and title, a tag, a
    // status's title attribute, a rule's reason.
    assert!(page.contains("&lt;img src=x onerror=&quot;window.__pwned=&#39;img&#39;&quot;&gt;"));
    assert!(
        page.contains(
            "&lt;/script&gt;&lt;script&gt;window.__pwned=&#39;script&#39;&lt;/script&gt;"
        )
    );
    assert!(page.contains("<td class=\"name\">&quot;&gt;&lt;svg onload="));
    // A link that is not http(s) is not a link.
    assert!(!page.contains("href=\"javascript"));
    assert!(page.contains("CVE-2026-1234"));
}

#[test]
fn the_page_carries_its_own_policy_naming_its_script_and_style() {
    let fleet = small_fleet();
    let page = String::from_utf8(fleet.report(&[], None)).unwrap();
    let policy = html_content_security_policy();
    assert!(policy.starts_with("default-src 'none'; script-src 'sha256-"));
    let escaped = policy.replace('\'', "&#39;");
    assert!(page.contains(&format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"{escaped}\">"
    )));
    // Without an API URL there are no links to findings.
    assert!(!page.contains("/findings/"));
    assert!(page.contains("No history recorded yet."));
}

#[test]
fn the_trend_is_todays_counts_less_the_changes_since_each_day() {
    use Severity::*;
    let fleet = small_fleet();
    let trend = fleet.trend();
    assert_eq!(trend.len(), TREND_DAYS as usize + 1);
    assert_eq!(trend.last().unwrap().at, now());
    assert!(trend.windows(2).all(|pair| pair[0].at < pair[1].at));
    // Now: every complete image's counts, suppressed ones included.
    assert_eq!(
        trend.last().unwrap().counts,
        counts(&[
            (Critical, 1),
            (High, 3),
            (Medium, 3),
            (Low, 5),
            (Informational, 3)
        ])
    );
    // The point at the end of the day `days_ago` days before today.
    let on = |days_ago: i64| {
        let end = (now() - Duration::days(days_ago - 1))
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        trend
            .iter()
            .find(|point| point.at == end)
            .map(|point| point.counts.clone())
            .unwrap()
    };
    // Before the critical arrived two days ago; before prod/api's baseline
    // five days ago; before anything was recorded.
    assert_eq!(
        on(3),
        counts(&[(High, 3), (Medium, 3), (Low, 5), (Informational, 3)])
    );
    assert_eq!(
        on(6),
        counts(&[(High, 3), (Medium, 1), (Low, 5), (Informational, 3)])
    );
    assert_eq!(trend[0].counts, SeverityCounts::new());
}

#[test]
fn a_report_of_5000_images_stays_under_5_mb() {
    let fleet = big_fleet(5000);
    let page = fleet.report(&fleet.trend(), Some("https://api.example.com/Prod"));
    eprintln!("a report of 5,000 images: {} bytes", page.len());
    assert!(page.len() < 5_000_000, "{} bytes", page.len());
    assert_eq!(
        String::from_utf8(page)
            .unwrap()
            .matches("<tr data-worst=")
            .count(),
        5000
    );
}

/// The pages a browser checks, written to `target/tmp/report-check/`.
fn browser_fixtures() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-check");
    std::fs::create_dir_all(&dir).unwrap();
    let small = small_fleet();
    std::fs::write(
        dir.join("small.html"),
        small.report(&small.trend(), Some("https://api.example.com/Prod")),
    )
    .unwrap();
    std::fs::write(dir.join("small.json"), small.json_summary()).unwrap();
    let big = big_fleet(5000);
    std::fs::write(
        dir.join("big.html"),
        big.report(&big.trend(), Some("https://api.example.com/Prod")),
    )
    .unwrap();
    std::fs::write(dir.join("big.json"), big.json_summary()).unwrap();
    dir
}

#[test]
fn the_report_works_in_a_real_browser_and_runs_no_injected_script() {
    let Some(python) = ecrscan_core::testing::test_browser() else {
        return;
    };
    let dir = browser_fixtures();
    let output = std::process::Command::new(python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/check_report.py"))
        .args(["--summary", "small.json", "--hostile", "small.html"])
        .args([
            "--summary",
            "big.json",
            "--screenshot",
            "big.png",
            "big.html",
        ])
        .current_dir(&dir)
        .output()
        .expect("run the browser check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser check failed:\n{stdout}\n{stderr}"
    );
    eprintln!("{stdout}");
    assert!(stdout.contains("small.html: ok"), "{stdout}");
    assert!(stdout.contains("big.html: ok"), "{stdout}");
}
