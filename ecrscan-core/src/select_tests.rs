use chrono::TimeZone;

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap()
}

fn days_ago(days: i64) -> Option<DateTime<Utc>> {
    Some(now() - Duration::days(days))
}

fn image(
    digest: &str,
    tags: &[&str],
    pushed: Option<DateTime<Utc>>,
    pulled: Option<DateTime<Utc>>,
) -> Image {
    Image {
        digest: digest.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        pushed_at: pushed,
        last_pulled_at: pulled,
        archived: false,
    }
}

fn digests(chosen: &[Chosen]) -> Vec<&str> {
    chosen.iter().map(|c| c.image.digest.as_str()).collect()
}

fn repository() -> Vec<Image> {
    vec![
        image("sha256:01", &["v1.0.0"], days_ago(40), days_ago(1)),
        image(
            "sha256:02",
            &["v1.4.2-rc3", "release-7"],
            days_ago(20),
            None,
        ),
        image("sha256:03", &["v2.0"], days_ago(10), days_ago(30)),
        image("sha256:04", &["sha-3f2a9c1"], days_ago(2), None),
        image("sha256:05", &[], days_ago(1), None),
    ]
}

#[test]
fn tag_patterns_and_exact_tags_take_the_images_with_a_matching_tag() {
    let selector = ImageSelector {
        tags: vec![
            TagEntry::of("v1.*"),
            TagEntry::of("release-*"),
            TagEntry::of("v9"),
        ],
        ..ImageSelector::default()
    };
    assert!(selector.needs_listing());
    let selected = select(&repository(), &selector, now());
    assert_eq!(
        digests(&selected.chosen),
        ["sha256:02", "sha256:01"],
        "most recently pushed first"
    );
    let rc = &selected.chosen[0];
    assert_eq!(rc.image.tags, ["v1.4.2-rc3", "release-7"]);
    assert_eq!(
        rc.clauses,
        [
            "tag v1.4.2-rc3 matches v1.*",
            "tag release-7 matches release-*"
        ]
    );
    assert_eq!(selected.missing_tags, ["v9"]);
    let reasons: Vec<(&str, &str)> = selected
        .left_out
        .iter()
        .map(|l| (l.image.digest.as_str(), l.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("sha256:05", "untagged"),
            ("sha256:04", "no tag matches v1.*, release-*, v9"),
            ("sha256:03", "no tag matches v1.*, release-*, v9"),
        ]
    );
}

#[test]
fn every_tagged_image_without_entries_and_exact_lists_need_no_listing() {
    let every = select(&repository(), &ImageSelector::default(), now());
    assert_eq!(every.chosen.len(), 4);
    assert!(
        every
            .chosen
            .iter()
            .all(|c| c.clauses == ["every tagged image"])
    );
    let exact = ImageSelector {
        tags: vec![TagEntry::of("v2.0")],
        ..ImageSelector::default()
    };
    assert!(!exact.needs_listing());
}

#[test]
fn recency_clauses_keep_an_image_meeting_any_of_them() {
    let selector = ImageSelector {
        most_recent: Some(1),
        pushed_within_days: Some(15),
        pulled_within_days: Some(14),
        ..ImageSelector::default()
    };
    let selected = select(&repository(), &selector, now());
    assert_eq!(
        digests(&selected.chosen),
        ["sha256:04", "sha256:03", "sha256:01"],
        "the most recent; pushed 10 days ago; pulled yesterday"
    );
    assert_eq!(
        selected.chosen[0].clauses,
        [
            "every tagged image",
            "most recent (#1 of 1)",
            "pushed within 15 days"
        ]
    );
    assert_eq!(
        selected.chosen[2].clauses,
        ["every tagged image", "pulled within 14 days"]
    );
    let left: Vec<(&str, &str)> = selected
        .left_out
        .iter()
        .map(|l| (l.image.digest.as_str(), l.reason.as_str()))
        .collect();
    assert_eq!(
        left,
        [
            ("sha256:05", "untagged"),
            (
                "sha256:02",
                "not among the 1 most recent, not pushed within 15 days, never pulled"
            ),
        ]
    );
}

#[test]
fn recency_boundaries_are_inclusive_with_an_explicit_now() {
    let exactly = vec![
        image("sha256:aa", &["a"], days_ago(30), days_ago(14)),
        image(
            "sha256:bb",
            &["b"],
            Some(now() - Duration::days(30) - Duration::seconds(1)),
            Some(now() - Duration::days(14) - Duration::seconds(1)),
        ),
    ];
    let pushed = ImageSelector {
        pushed_within_days: Some(30),
        ..ImageSelector::default()
    };
    assert_eq!(
        digests(&select(&exactly, &pushed, now()).chosen),
        ["sha256:aa"]
    );
    let pulled = ImageSelector {
        pulled_within_days: Some(14),
        ..ImageSelector::default()
    };
    assert_eq!(
        digests(&select(&exactly, &pulled, now()).chosen),
        ["sha256:aa"]
    );
    let most_recent = ImageSelector {
        most_recent: Some(5),
        ..ImageSelector::default()
    };
    assert_eq!(
        select(&exactly, &most_recent, now()).chosen.len(),
        2,
        "fewer images than N: all"
    );
}

#[test]
fn archived_images_are_never_selected_and_do_not_take_a_rank() {
    let mut images = repository();
    images[3].archived = true; // sha-3f2a9c1, the most recently pushed tagged image
    let selector = ImageSelector {
        most_recent: Some(1),
        ..ImageSelector::default()
    };
    let selected = select(&images, &selector, now());
    assert_eq!(digests(&selected.chosen), ["sha256:03"]);
    assert!(
        selected
            .left_out
            .iter()
            .any(|l| l.image.digest == "sha256:04" && l.reason == "archived")
    );
    let exact = ImageSelector {
        tags: vec![TagEntry::of("sha-3f2a9c1")],
        ..ImageSelector::default()
    };
    assert!(
        select(&images, &exact, now()).chosen.is_empty(),
        "not even by name"
    );
}
