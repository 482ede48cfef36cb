//! The scheduled re-scan handler, over mocks.

use std::sync::Arc;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::Utc;
use ecrscan_core::{
    BackendError, ConfigSpec, ConfigStore, Image, MemoryStore, MockConfigStore, MockScanBackend,
    Resolution, ScanConfig, ScanOptions, StoreError,
};
use ecrscan_lambda::scheduled::{StartScanCounts, StartScanError, start_scans};

async fn store_with(repositories: &[&str]) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    for repository in repositories {
        let spec = ConfigSpec::new("us-west-2", "123456789012", *repository, ["latest"]).unwrap();
        store
            .put(&ScanConfig::create(spec, Utc::now()))
            .await
            .unwrap();
    }
    store
}

fn backend(
    start: impl Fn(&str) -> Result<(), BackendError> + Send + Sync + 'static,
) -> MockScanBackend {
    let mut backend = MockScanBackend::new();
    backend
        .expect_resolve_images()
        .returning(|repository, tags| {
            Ok(Resolution {
                images: vec![Image {
                    digest: format!("sha256:{}", repository.repository),
                    tags: tags.to_vec(),
                    ..Image::default()
                }],
                missing_tags: vec![],
            })
        });
    backend
        .expect_start_scan()
        .returning(move |_, digest| start(digest));
    backend
}

#[test]
fn a_recorded_schedule_event_parses() {
    let event = r#"{
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": "2026-11-27T00:00:00Z",
        "region": "us-west-2", "resources": ["arn:aws:events:us-west-2:123456789012:rule/ecrscan-StartScanFuncSchedule"],
        "detail": {}
    }"#;
    let parsed: EventBridgeEvent<serde_json::Value> = serde_json::from_str(event).unwrap();
    assert_eq!(parsed.source, "aws.events");
    assert_eq!(parsed.detail_type, "Scheduled Event");
}

#[tokio::test]
async fn partial_failures_are_counted_not_fatal() {
    let store = store_with(&["test/ubuntu", "test/centos", "amazonlinux"]).await;
    let backend = backend(|digest| match digest {
        "sha256:test/centos" => Err(BackendError::ScanQuotaExceeded),
        "sha256:amazonlinux" => Err(BackendError::AccessDenied {
            action: "ecr:StartImageScan".into(),
            message: "no".into(),
        }),
        _ => Ok(()),
    });
    let counts = start_scans(store.as_ref(), &backend, &ScanOptions::default())
        .await
        .unwrap();
    assert_eq!(
        counts,
        StartScanCounts {
            configs: 3,
            skipped_configs: 0,
            started: 1,
            already_scanned: 1,
            continuous: 0,
            scan_on_push: 0,
            not_covered: 0,
            failed: 1
        }
    );
    assert_eq!(
        serde_json::to_value(&counts).unwrap(),
        serde_json::json!({"configs": 3, "skipped_configs": 0, "started": 1, "already_scanned": 1, "continuous": 0, "failed": 1})
    );
}

#[tokio::test]
async fn the_invocation_fails_when_nothing_could_be_scanned() {
    let store = store_with(&["test/ubuntu", "test/centos"]).await;
    let backend = backend(|_| {
        Err(BackendError::Throttled {
            code: "ThrottlingException".into(),
        })
    });
    let err = start_scans(store.as_ref(), &backend, &ScanOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StartScanError::AllFailed(2)), "{err:?}");
}

#[tokio::test]
async fn the_invocation_fails_when_the_store_is_unreachable() {
    let mut store = MockConfigStore::new();
    store.expect_list().returning(|| {
        Err(StoreError::Backend {
            store: "s3://b/".into(),
            message: "could not reach the AWS endpoint".into(),
            source: None,
        })
    });
    let backend = MockScanBackend::new();
    let err = start_scans(&store, &backend, &ScanOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("cannot read the scan configs"),
        "{err}"
    );
}

#[tokio::test]
async fn no_configs_is_a_quiet_success() {
    let store = store_with(&[]).await;
    let counts = start_scans(
        store.as_ref(),
        &MockScanBackend::new(),
        &ScanOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(counts.configs, 0);
    assert_eq!(counts.failed, 0);
}
