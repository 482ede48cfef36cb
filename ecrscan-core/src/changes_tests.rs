use chrono::TimeZone;

use super::*;
use crate::finding::ScanStatus;

fn repository() -> RepositoryRef {
    RepositoryRef::new("us-west-2", "123456789012", "test/ubuntu").unwrap()
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

fn finding(cve: &str, package: &str, version: &str, severity: Severity) -> Finding {
    let mut finding = Finding::new(cve, severity);
    finding.package_name = Some(package.into());
    finding.package_version = Some(version.into());
    finding
}

fn scan(completed: i64, findings: Vec<Finding>) -> DigestScan {
    let mut scan = DigestScan::without_findings(ScanStatus::Complete, None);
    scan.scan_completed_at = Some(at(completed));
    scan.severity_counts = findings.iter().map(|f| (f.severity, 1)).collect();
    scan.findings = findings;
    scan
}

fn names(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.name.as_str()).collect()
}

#[test]
fn new_fixed_raised_and_lowered_findings_by_key() {
    let before = scan(
        0,
        vec![
            finding("CVE-1", "openssl", "3.0.1", Severity::High),
            finding("CVE-2", "zlib", "1.2", Severity::Medium),
            finding("CVE-3", "curl", "8.0", Severity::Low),
            finding("CVE-4", "bash", "5.1", Severity::High),
        ],
    );
    let after = scan(
        100,
        vec![
            finding("CVE-1", "openssl", "3.0.1", Severity::High),
            // Raised.
            finding("CVE-2", "zlib", "1.2", Severity::Critical),
            // Lowered.
            finding("CVE-4", "bash", "5.1", Severity::Low),
            // New, and the same CVE in another package version is another finding.
            finding("CVE-5", "glibc", "2.36", Severity::Critical),
            finding("CVE-1", "openssl", "3.0.2", Severity::High),
        ],
    );
    let change = Change::of_result(
        &repository(),
        "sha256:aa",
        &[],
        Some(&before),
        &after,
        at(200),
    )
    .expect("something changed");
    assert_eq!(change.kind, ChangeKind::FindingsChanged);
    assert_eq!(names(&change.new), ["CVE-5", "CVE-1"], "most severe first");
    assert_eq!(change.new[1].package_version.as_deref(), Some("3.0.2"));
    assert_eq!(names(&change.fixed), ["CVE-3"]);
    let changed: Vec<(&str, Severity, Severity)> = change
        .severity_changed
        .iter()
        .map(|c| (c.finding.name.as_str(), c.from, c.to))
        .collect();
    assert_eq!(
        changed,
        [
            ("CVE-2", Severity::Medium, Severity::Critical),
            ("CVE-4", Severity::High, Severity::Low)
        ]
    );
    assert_eq!(change.counts.before.total(), 4);
    assert_eq!(change.counts.after.get(Severity::Critical), 2);
    assert_eq!(change.highest_new_severity(), Some(Severity::Critical));
    assert_eq!(change.previous_scan_completed_at, Some(at(0)));
    assert_eq!(change.scan_completed_at, Some(at(100)));
}

#[test]
fn equal_results_make_no_change_whatever_the_order_or_the_descriptions() {
    let mut a = finding("CVE-1", "openssl", "3.0.1", Severity::High);
    let b = finding("CVE-2", "zlib", "1.2", Severity::Medium);
    let before = scan(0, vec![a.clone(), b.clone()]);
    a.description = Some("reworded by the scanner".into());
    a.score = Some(7.5);
    let after = scan(100, vec![b, a]);
    assert_eq!(
        Change::of_result(
            &repository(),
            "sha256:aa",
            &[],
            Some(&before),
            &after,
            at(200)
        ),
        None
    );
}

#[test]
fn a_finding_listed_twice_counts_once_at_its_highest_severity() {
    let twice = vec![
        finding("CVE-1", "openssl", "3.0.1", Severity::Medium),
        finding("CVE-1", "openssl", "3.0.1", Severity::High),
    ];
    let before = scan(0, vec![]);
    let after = scan(100, twice.clone());
    let change = Change::of_result(
        &repository(),
        "sha256:aa",
        &[],
        Some(&before),
        &after,
        at(200),
    )
    .unwrap();
    assert_eq!(change.new.len(), 1);
    assert_eq!(change.new[0].severity, Severity::High);
    assert_eq!(change.counts.after.total(), 1);
    // The same duplicate again is no change.
    let again = scan(200, twice);
    assert_eq!(
        Change::of_result(
            &repository(),
            "sha256:aa",
            &[],
            Some(&after),
            &again,
            at(300)
        ),
        None
    );
}

#[test]
fn a_first_result_is_a_baseline_with_counts_and_no_lists() {
    let first = scan(
        0,
        (0..4000)
            .map(|i| finding(&format!("CVE-{i}"), "pkg", "1", Severity::High))
            .collect(),
    );
    let change = Change::of_result(
        &repository(),
        "sha256:aa",
        &["latest".into()],
        None,
        &first,
        at(10),
    )
    .unwrap();
    assert_eq!(change.kind, ChangeKind::Baseline);
    assert!(change.new.is_empty() && change.fixed.is_empty() && change.severity_changed.is_empty());
    assert_eq!(change.counts.after.get(Severity::High), 4000);
    assert!(change.counts.before.is_empty());
    assert_eq!(
        change.highest_new_severity(),
        None,
        "a baseline alerts no one"
    );
    assert_eq!(change.tags, ["latest"]);
}

#[test]
fn a_tag_move_compares_the_new_digest_with_the_old_ones_last_result() {
    let old = scan(
        0,
        vec![finding("CVE-1", "openssl", "3.0.1", Severity::High)],
    );
    let new = scan(
        50,
        vec![finding("CVE-9", "openssl", "3.1.0", Severity::Critical)],
    );
    let change = Change::of_tag_move(
        &repository(),
        "latest",
        "sha256:old",
        "sha256:new",
        Some(&old),
        &new,
        at(60),
    );
    assert_eq!(change.kind, ChangeKind::TagMoved);
    assert_eq!(change.previous_digest.as_deref(), Some("sha256:old"));
    assert_eq!(change.digest, "sha256:new");
    assert_eq!(names(&change.new), ["CVE-9"]);
    assert_eq!(names(&change.fixed), ["CVE-1"]);
    assert_eq!(change.tags, ["latest"]);
}

#[test]
fn ids_are_the_same_for_the_same_change_and_differ_otherwise() {
    let repo = repository();
    let id = change_id(&repo, "sha256:aa", Some(at(0)), Some(at(100)), None);
    assert_eq!(
        id,
        change_id(&repo, "sha256:aa", Some(at(0)), Some(at(100)), None)
    );
    for other in [
        change_id(&repo, "sha256:bb", Some(at(0)), Some(at(100)), None),
        change_id(&repo, "sha256:aa", None, Some(at(100)), None),
        change_id(&repo, "sha256:aa", Some(at(0)), Some(at(101)), None),
        change_id(
            &repo,
            "sha256:aa",
            Some(at(0)),
            Some(at(100)),
            Some("latest"),
        ),
        change_id(
            &RepositoryRef {
                region: "eu-west-1".into(),
                ..repo.clone()
            },
            "sha256:aa",
            Some(at(0)),
            Some(at(100)),
            None,
        ),
    ] {
        assert_ne!(id, other);
    }
    // Detected at another time by another writer: the same change.
    let before = scan(0, vec![]);
    let after = scan(100, vec![finding("CVE-1", "p", "1", Severity::Low)]);
    let one = Change::of_result(&repo, "sha256:aa", &[], Some(&before), &after, at(200)).unwrap();
    let two = Change::of_result(&repo, "sha256:aa", &[], Some(&before), &after, at(900)).unwrap();
    assert_eq!(one.id, two.id);
}

#[test]
fn filtering_by_severity_keeps_counts_and_drops_empty_changes() {
    let before = scan(0, vec![finding("CVE-1", "a", "1", Severity::Low)]);
    let after = scan(
        100,
        vec![
            finding("CVE-2", "b", "1", Severity::Critical),
            finding("CVE-3", "c", "1", Severity::Low),
        ],
    );
    let change = Change::of_result(
        &repository(),
        "sha256:aa",
        &[],
        Some(&before),
        &after,
        at(200),
    )
    .unwrap();
    let high = change.at_least(Severity::High).unwrap();
    assert_eq!(names(&high.new), ["CVE-2"]);
    assert!(high.fixed.is_empty());
    assert_eq!(high.counts, change.counts);
    let only_low = Change::of_result(
        &repository(),
        "sha256:aa",
        &[],
        Some(&before),
        &scan(100, vec![]),
        at(200),
    )
    .unwrap();
    assert_eq!(only_low.at_least(Severity::High), None);
}

#[test]
fn the_json_has_the_documented_fields() {
    let change = Change::of_result(
        &repository(),
        "sha256:aa",
        &["latest".into()],
        Some(&scan(0, vec![])),
        &scan(
            100,
            vec![finding("CVE-1", "openssl", "3.0.1", Severity::High)],
        ),
        at(200),
    )
    .unwrap();
    let json = serde_json::to_value(&change).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "counts",
            "detected_at",
            "digest",
            "fixed",
            "id",
            "kind",
            "new",
            "previous_digest",
            "previous_scan_completed_at",
            "region",
            "registry",
            "repository",
            "scan_completed_at",
            "severity_changed",
            "tags"
        ]
    );
    assert_eq!(json["kind"], "findings_changed");
    assert_eq!(json["counts"]["after"]["HIGH"], 1);
    let back: Change = serde_json::from_value(json).unwrap();
    assert_eq!(back, change);
}

#[test]
fn pages_of_changes_fit_their_size_and_together_hold_every_change_once() {
    let changes: Vec<Change> = (0..40)
        .map(|i| {
            let findings = (0..20)
                .map(|j| finding(&format!("CVE-{i}-{j}"), "pkg", "1", Severity::High))
                .collect();
            Change::of_result(
                &repository(),
                &format!("sha256:{i:04x}"),
                &[],
                Some(&scan(0, vec![])),
                &scan(100, findings),
                at(i),
            )
            .unwrap()
        })
        .collect();
    let mut start = 0;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let mut page = Vec::new();
        let next =
            crate::render::write_json_changes_page(&changes, start, 16 * 1024, &mut page).unwrap();
        assert!(page.len() <= 16 * 1024, "page of {} bytes", page.len());
        let json: serde_json::Value = serde_json::from_slice(&page).unwrap();
        assert_eq!(
            json.get("next_start").and_then(|n| n.as_u64()),
            next.map(|n| n as u64)
        );
        for change in json["changes"].as_array().unwrap() {
            seen.push(change["id"].as_str().unwrap().to_owned());
        }
        pages += 1;
        match next {
            Some(next) => start = next,
            None => break,
        }
    }
    assert!(pages > 2, "{pages} pages");
    let expected: Vec<String> = changes.iter().map(|c| c.id.to_string()).collect();
    assert_eq!(seen, expected);
    let mut past_the_end = Vec::new();
    assert_eq!(
        crate::render::write_json_changes_page(&changes, 99, 16 * 1024, &mut past_the_end).unwrap(),
        None
    );
}

#[test]
fn a_change_too_large_for_a_message_keeps_its_most_severe_findings_and_whole_counts() {
    let before: Vec<Finding> = (0..300)
        .map(|n| finding(&format!("CVE-2026-{n:05}"), "old", "1", Severity::Low))
        .collect();
    let mut after: Vec<Finding> = (0..2_000)
        .map(|n| {
            let severity = if n < 5 {
                Severity::Critical
            } else {
                Severity::Medium
            };
            let mut f = finding(&format!("CVE-2027-{n:05}"), "pkg", "1", severity);
            f.description = Some("d".repeat(200));
            f
        })
        .collect();
    after.push(finding("CVE-2026-00000", "old", "1", Severity::High));
    let change = Change::of_result(
        &repository(),
        "sha256:aa",
        &["latest".to_owned()],
        Some(&scan(1, before)),
        &scan(2, after),
        at(3),
    )
    .expect("a change");
    let whole = serde_json::to_vec(&change).unwrap().len();
    assert!(whole > 256 * 1024, "the fixture is large: {whole}");

    let cut = change.truncated_to(64 * 1024);
    let json = serde_json::to_value(&cut).unwrap();
    assert!(serde_json::to_vec(&json).unwrap().len() <= 64 * 1024);
    assert_eq!(json["truncated"], true);
    assert_eq!(cut.counts, change.counts, "counts stay whole");
    assert!(cut.new.len() < change.new.len() && cut.new.len() > 50);
    assert!(
        cut.new[..5]
            .iter()
            .all(|f| f.severity == Severity::Critical),
        "the most severe are kept"
    );
    assert!(cut.fixed.is_empty() && cut.severity_changed.is_empty());

    let small = change.truncated_to(usize::MAX);
    assert_eq!(small, change);
    assert!(
        serde_json::to_value(&small)
            .unwrap()
            .get("truncated")
            .is_none()
    );

    let tiny = change.truncated_to(100);
    assert!(tiny.new.is_empty() && tiny.fixed.is_empty() && tiny.truncated);
}
