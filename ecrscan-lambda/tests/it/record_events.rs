//! Recording finished scans announced by ECR and Amazon Inspector.

use std::sync::Arc;

use ecrscan_core::{DigestScan, MemoryStore, MockScanBackend, Recorder, ScanStatus};
use ecrscan_lambda::events::{EventError, FinishedScan, finished_scan, record_finished_scan};

fn event(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn an_ecr_image_scan_event_names_its_image() {
    let FinishedScan { repository, digest } = finished_scan(&event("ecr-image-scan.json")).unwrap();
    assert_eq!(repository.region, "us-east-1");
    assert_eq!(repository.registry, "123456789012");
    assert_eq!(repository.repository, "my-repository-name");
    assert_eq!(
        digest,
        "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"
    );
}

#[test]
fn an_inspector_scan_event_names_its_image_by_arn() {
    let FinishedScan { repository, digest } =
        finished_scan(&event("inspector2-scan.json")).unwrap();
    assert_eq!(repository.region, "us-east-2");
    assert_eq!(repository.repository, "amazon/amazon-ecs-sample");
    assert!(digest.starts_with("sha256:36c7b2"));
}

#[test]
fn an_event_forwarded_from_a_member_account_names_that_account() {
    // EventBridge keeps the source account of an event a member account's
    // rule forwards to the central bus (member-account.yaml).
    let mut forwarded = event("ecr-image-scan.json");
    forwarded["account"] = "222222222222".into();
    let FinishedScan { repository, .. } = finished_scan(&forwarded).unwrap();
    assert_eq!(repository.registry, "222222222222");

    let mut inspector = event("inspector2-scan.json");
    inspector["account"] = "999999999999".into();
    inspector["detail"]["repository-name"] =
        "arn:aws:ecr:us-east-2:333333333333:repository/prod/api".into();
    let FinishedScan { repository, .. } = finished_scan(&inspector).unwrap();
    assert_eq!(
        (repository.registry.as_str(), repository.repository.as_str()),
        ("333333333333", "prod/api"),
        "the repository's ARN names its account"
    );
}

#[test]
fn other_and_hostile_events_are_refused_clearly() {
    let mut other = event("ecr-image-scan.json");
    other["detail-type"] = "ECR Image Action".into();
    assert!(matches!(
        finished_scan(&other),
        Err(EventError::Unrecognized(_))
    ));

    let mut traversal = event("ecr-image-scan.json");
    traversal["detail"]["repository-name"] = "../../etc".into();
    assert!(matches!(
        finished_scan(&traversal),
        Err(EventError::Invalid(_))
    ));

    let mut not_arn = event("inspector2-scan.json");
    not_arn["detail"]["repository-name"] = "amazon/amazon-ecs-sample".into();
    let err = finished_scan(&not_arn).unwrap_err();
    assert!(err.to_string().contains("ARN"), "{err}");

    let mut no_digest = event("ecr-image-scan.json");
    no_digest["detail"]
        .as_object_mut()
        .unwrap()
        .remove("image-digest");
    assert!(finished_scan(&no_digest).is_err());
    assert!(finished_scan(&serde_json::json!([1, 2])).is_err());
}

#[tokio::test]
async fn the_announced_result_is_read_once_and_recorded() {
    let store = Arc::new(MemoryStore::new());
    let mut live = MockScanBackend::new();
    live.expect_scan_result()
        .times(1)
        .returning(|repository, digest| {
            assert_eq!(repository.repository, "my-repository-name");
            assert!(digest.starts_with("sha256:7f5b"));
            Ok(DigestScan::without_findings(ScanStatus::Complete, None).into())
        });
    let recorder = Recorder::new(store.clone());
    let recorded = record_finished_scan(&event("ecr-image-scan.json"), &live, &recorder)
        .await
        .unwrap();
    assert_eq!(recorded.status, ScanStatus::Complete);
    assert_eq!(recorded.outcome, "recorded");
    let finished = finished_scan(&event("ecr-image-scan.json")).unwrap();
    let stored = recorder
        .digest_record(&finished.repository, &finished.digest)
        .await
        .unwrap();
    assert_eq!(
        stored.and_then(|r| r.latest().map(|latest| latest.scan.status)),
        Some(ScanStatus::Complete)
    );
}
