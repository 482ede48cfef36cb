//! The S3 store and the ECR backend against real AWS wire traffic from a
//! local emulator (moto server on 127.0.0.1, started and stopped by each
//! test).

use std::sync::Arc;

use aws_sdk_ecr::types::{
    RegistryScanningRule, ScanFrequency, ScanType, ScanningRepositoryFilter,
    ScanningRepositoryFilterType,
};
use chrono::Utc;
use ecrscan_core::conformance::{objects_conform, run_all_shared, sample_config};
use ecrscan_core::testing::MotoServer;
use ecrscan_core::{
    ConfigSpec, ConfigStore, EcrBackend, RepositoryRef, S3Store, ScanBackend, ScanConfig,
    ScanOptions, ScanOutcome, ScanStatus, Severity, collect_summary, rescan,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_conforms_with_and_without_prefix() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_bucket("configs").await;
    run_all_shared(Arc::new(S3Store::new(&moto.sdk_config(), "configs", ""))).await;
    let prefixed = S3Store::new(&moto.sdk_config(), "configs", "team-a/scan");
    // run_all_shared includes the results round trip.
    run_all_shared(Arc::new(prefixed.clone())).await;
    // Create-only and compare-and-swap writes with S3's If-None-Match and If-Match.
    objects_conform(Arc::new(prefixed.clone())).await;
    let config = ecrscan_core::conformance::sample_config("test/ubuntu", &[], 1);
    prefixed.put(&config).await.unwrap();
    assert_eq!(
        prefixed.list().await.unwrap().items,
        vec![config],
        "results are not listed as configs"
    );
}

#[tokio::test]
async fn s3_store_reads_a_bucket_the_aws_sample_wrote_and_writes_what_it_reads() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let s3 = moto.create_bucket("sample-bucket").await;
    let put = |key: &'static str, body: String| {
        let s3 = s3.clone();
        async move {
            s3.put_object()
                .bucket("sample-bucket")
                .key(key)
                .body(body.into_bytes().into())
                .send()
                .await
                .expect("put object");
        }
    };
    // What the Go sample writes: created as a string, tags null or a list.
    put(
        "3f2504e0-4f89-41d3-9a0c-0305e82c3301.json",
        r#"{"id":"3f2504e0-4f89-41d3-9a0c-0305e82c3301","created":"1569927812","region":"us-west-2","registry":"123456789012","repository":"amazonlinux","tags":null}"#.into(),
    )
    .await;
    put(
        "7c9e6679-7425-40de-944b-e07fc1f90ae7.json",
        r#"{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","created":"1569927900","region":"us-west-2","registry":"123456789012","repository":"test/ubuntu","tags":["16.04","latest"]}"#.into(),
    )
    .await;
    // Foreign and broken objects are skipped, not fatal.
    put("README.md", "# not a config".into()).await;
    put("broken.json", "{\"id\":".into()).await;
    put(
        "nested/5b1e3c1a-0000-4000-8000-000000000000.json",
        "{}".into(),
    )
    .await;

    let store = S3Store::new(&moto.sdk_config(), "sample-bucket", "");
    let listed = store.list().await.expect("list").items;
    let repositories: Vec<&str> = listed.iter().map(|c| c.repository.as_str()).collect();
    assert_eq!(repositories, ["amazonlinux", "test/ubuntu"]);
    assert!(listed[0].all_tags());
    assert_eq!(listed[1].tags, ["16.04", "latest"]);

    // What we write has the sample's field names and types.
    let spec = ConfigSpec::new("eu-central-1", "123456789012", "test/centos", ["7"]).unwrap();
    let ours = ScanConfig::create(spec, Utc::now());
    store.put(&ours).await.expect("put");
    let raw = s3
        .get_object()
        .bucket("sample-bucket")
        .key(format!("{}.json", ours.id))
        .send()
        .await
        .expect("get object")
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let json: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let object = json.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["created", "id", "region", "registry", "repository", "tags"]
    );
    assert!(object["created"].is_string());
    assert_eq!(
        object["created"],
        json!(ours.created.timestamp().to_string())
    );
    assert_eq!(object["tags"], json!(["7"]));
    assert_eq!(store.list().await.unwrap().items.len(), 3);
}

#[tokio::test]
async fn s3_store_reports_a_missing_bucket_clearly() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let store = S3Store::new(&moto.sdk_config(), "no-such-bucket", "");
    let err = store.list().await.unwrap_err().to_string();
    assert!(err.contains("s3://no-such-bucket/"), "{err}");
    assert!(err.contains("NoSuchBucket"), "{err}");
}

fn config(repository: &str, tags: &[&str]) -> ScanConfig {
    sample_config(repository, tags, 1_764_230_400)
}

fn findings_result(repository: &str, digest: &str) -> serde_json::Value {
    json!({
        "registryId": "123456789012",
        "repositoryName": repository,
        "imageId": {"imageDigest": digest},
        "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
        "imageScanFindings": {
            "imageScanCompletedAt": 1764230400,
            "vulnerabilitySourceUpdatedAt": 1764200000,
            "findingSeverityCounts": {"CRITICAL": 1, "MEDIUM": 1},
            "findings": [
                {"name": "CVE-2019-5188", "description": "A code execution vulnerability <exists> in e2fsck & friends.",
                 "uri": "https://people.canonical.com/~ubuntu-security/cve/2019/CVE-2019-5188.html", "severity": "MEDIUM",
                 "attributes": [{"key": "package_name", "value": "e2fsprogs"}, {"key": "package_version", "value": "1.42.13"}, {"key": "CVSS2_SCORE", "value": "4.6"}]},
                {"name": "CVE-2019-3462", "description": "apt redirect injection", "uri": "https://people.canonical.com/~ubuntu-security/cve/2019/CVE-2019-3462.html",
                 "severity": "CRITICAL", "attributes": [{"key": "package_name", "value": "apt"}, {"key": "package_version", "value": "1.2.29"}]}
            ]
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecr_rescan_then_summary_end_to_end() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_repository("test/ubuntu").await;
    moto.create_repository("amazonlinux").await;
    let ubuntu = moto
        .push_image("test/ubuntu", "a", &["16.04", "latest"])
        .await;
    let old_ubuntu = moto.push_image("test/ubuntu", "b", &["14.04"]).await;
    let amazonlinux = moto.push_image("amazonlinux", "c", &["2018.03"]).await;
    let _untagged = moto.push_image("amazonlinux", "d", &[]).await;
    assert_ne!(ubuntu, old_ubuntu);
    moto.set_scan_findings(
        "us-west-2",
        &json!([
            findings_result("test/ubuntu", &ubuntu),
            findings_result("test/ubuntu", &ubuntu),
            findings_result("test/ubuntu", &ubuntu)
        ]),
    );

    let configs = vec![
        config("test/ubuntu", &["16.04", "latest", "missing"]),
        config("amazonlinux", &[]),
        config("no/such-repo", &["1"]),
    ];
    let backend = EcrBackend::new(&moto.sdk_config());

    // Before any scan: NOT_SCANNED; a missing tag and a missing repository keep their statuses.
    let before = collect_summary(
        &configs,
        &backend,
        &ScanOptions::default(),
        &ecrscan_core::Suppressions::none(),
    )
    .await;
    let statuses: Vec<(String, ScanStatus)> = before
        .rows
        .iter()
        .map(|r| {
            (
                format!(
                    "{}:{}",
                    r.result.image.repository,
                    r.result.image.tag.as_deref().unwrap_or("*")
                ),
                r.result.scan.status,
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("test/ubuntu:16.04".to_owned(), ScanStatus::NotScanned),
            ("test/ubuntu:latest".to_owned(), ScanStatus::NotScanned),
            ("test/ubuntu:missing".to_owned(), ScanStatus::TagNotFound),
            ("amazonlinux:2018.03".to_owned(), ScanStatus::NotScanned),
            ("no/such-repo:1".to_owned(), ScanStatus::RepositoryNotFound),
        ]
    );

    let first = rescan(&configs, &backend, &ScanOptions::default()).await;
    let outcomes: Vec<(Option<&str>, ScanOutcome)> = first
        .images
        .iter()
        .map(|r| (r.tag.as_deref(), r.outcome))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (Some("16.04"), ScanOutcome::Started),
            (Some("latest"), ScanOutcome::Started),
            (Some("missing"), ScanOutcome::Failed),
            (Some("2018.03"), ScanOutcome::Started),
            (Some("1"), ScanOutcome::Failed),
        ]
    );
    assert_eq!(first.images[0].digest.as_deref(), Some(ubuntu.as_str()));
    assert_eq!(
        first.images[3].digest.as_deref(),
        Some(amazonlinux.as_str())
    );
    assert!(
        first.images[4]
            .reason
            .as_deref()
            .unwrap()
            .contains("not found"),
        "{:?}",
        first.images[4]
    );

    // The second run within the day hits ECR's quota: already_scanned, not an error.
    let second = rescan(&configs, &backend, &ScanOptions::default()).await;
    assert_eq!(
        (second.started, second.already_scanned, second.failed),
        (0, 3, 2)
    );

    let after = collect_summary(
        &configs,
        &backend,
        &ScanOptions::default(),
        &ecrscan_core::Suppressions::none(),
    )
    .await;
    let ubuntu_row = &after.rows[0].result;
    assert_eq!(ubuntu_row.scan.status, ScanStatus::Complete);
    assert_eq!(ubuntu_row.scan.severity_counts.get(Severity::Critical), 1);
    assert_eq!(ubuntu_row.scan.severity_counts.get(Severity::Medium), 1);
    assert!(
        ubuntu_row.scan.findings.is_empty(),
        "a summary holds counts"
    );
    assert_eq!(
        ubuntu_row.scan.scan_completed_at.map(|t| t.timestamp()),
        Some(1764230400)
    );
    // The findings, as a feed reads them.
    let results = ecrscan_core::collect_results(
        &configs[0],
        &backend,
        &ScanOptions::default(),
        &ecrscan_core::Suppressions::none(),
        ecrscan_core::scan::SuppressedFindings::Hidden,
    )
    .await;
    let ubuntu = &results[0];
    assert_eq!(ubuntu.scan.findings[0].name, "CVE-2019-3462");
    assert_eq!(
        ubuntu.scan.findings[1].package_name.as_deref(),
        Some("e2fsprogs")
    );
    assert_eq!(ubuntu.scan.findings[1].score, Some(4.6));
    assert_eq!(results[1].scan.findings, ubuntu.scan.findings);
    assert_eq!(after.rows[3].result.scan.status, ScanStatus::Complete);
}

#[tokio::test]
async fn ecr_every_tagged_image_groups_tags_by_digest_and_skips_untagged() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_repository("test/centos").await;
    let seven = moto
        .push_image("test/centos", "e", &["7", "7.9", "latest"])
        .await;
    let eight = moto.push_image("test/centos", "f", &["8"]).await;
    moto.push_image("test/centos", "g", &[]).await;
    let backend = EcrBackend::new(&moto.sdk_config());
    let repository = RepositoryRef {
        region: "us-west-2".into(),
        registry: "123456789012".into(),
        repository: "test/centos".into(),
    };
    let resolution = backend
        .resolve_images(&repository, &[])
        .await
        .expect("resolve");
    let mut images: Vec<(String, Vec<String>)> = resolution
        .images
        .into_iter()
        .map(|i| (i.digest, i.tags))
        .collect();
    images.sort();
    let mut expected = vec![
        (
            seven,
            vec!["7".to_owned(), "7.9".to_owned(), "latest".to_owned()],
        ),
        (eight, vec!["8".to_owned()]),
    ];
    expected.sort();
    assert_eq!(images, expected);
}

#[tokio::test]
async fn ecr_enhanced_registry_is_continuous_and_gets_no_scan_request() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_repository("inspected/app").await;
    moto.push_image("inspected/app", "h", &["v1"]).await;
    moto.ecr()
        .put_registry_scanning_configuration()
        .scan_type(ScanType::Enhanced)
        .rules(
            RegistryScanningRule::builder()
                .scan_frequency(ScanFrequency::ContinuousScan)
                .repository_filters(
                    ScanningRepositoryFilter::builder()
                        .filter("*")
                        .filter_type(ScanningRepositoryFilterType::Wildcard)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("put registry scanning configuration");
    let backend = EcrBackend::new(&moto.sdk_config());
    let report = rescan(
        &[config("inspected/app", &["v1"])],
        &backend,
        &ScanOptions::default(),
    )
    .await;
    assert_eq!(report.images[0].outcome, ScanOutcome::Continuous);
    // No StartImageScan went out: moto still has no scan for the image.
    let summary = collect_summary(
        &[config("inspected/app", &["v1"])],
        &backend,
        &ScanOptions::default(),
        &ecrscan_core::Suppressions::none(),
    )
    .await;
    assert_eq!(summary.rows[0].result.scan.status, ScanStatus::NotScanned);
}

#[tokio::test]
async fn ecr_unreachable_endpoint_is_a_clear_failure_per_image() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let port = moto.port();
    drop(moto);
    let sdk_config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-west-2"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("testing", "testing", None, None, "test"),
            ),
        )
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let backend = EcrBackend::new(&sdk_config);
    let report = rescan(
        &[config("test/ubuntu", &["16.04"])],
        &backend,
        &ScanOptions::default(),
    )
    .await;
    assert_eq!(report.failed, 1);
    let reason = report.images[0].reason.as_deref().unwrap();
    assert!(reason.contains("ecr:DescribeImages"), "{reason}");
    assert!(reason.contains("could not reach"), "{reason}");
}

/// A repository on moto holding the conformance suite's fixture.
async fn backend_fixture(moto: &MotoServer) -> ecrscan_core::conformance::BackendFixture {
    moto.create_repository("conform/app").await;
    let shared = moto
        .push_image("conform/app", "conform-1", &["v1", "latest"])
        .await;
    let single = moto.push_image("conform/app", "conform-2", &["v2"]).await;
    let untagged = moto.push_image("conform/app", "conform-3", &[]).await;
    let repository = RepositoryRef::new("us-west-2", "123456789012", "conform/app").unwrap();
    ecrscan_core::conformance::BackendFixture {
        missing_repository: RepositoryRef {
            repository: "conform/missing".into(),
            ..repository.clone()
        },
        repository,
        images: vec![
            (shared, vec!["v1".into(), "latest".into()]),
            (single.clone(), vec!["v2".into()]),
        ],
        untagged: Some(untagged),
        unscanned: Some(single),
    }
}

#[tokio::test]
async fn the_ecr_backend_conforms_on_moto() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let fixture = backend_fixture(&moto).await;
    let backend = EcrBackend::new(&moto.sdk_config());
    ecrscan_core::conformance::backend_conforms(&backend, &fixture).await;
}

#[tokio::test]
async fn the_recorder_over_the_s3_store_conforms_on_moto() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_bucket("recorded").await;
    let fixture = backend_fixture(&moto).await;
    let store = Arc::new(S3Store::new(&moto.sdk_config(), "recorded", ""));
    for read_from in [
        ecrscan_core::ReadFrom::Live,
        ecrscan_core::ReadFrom::Recorded,
    ] {
        let recorder = ecrscan_core::RecordingBackend::new(
            Arc::new(EcrBackend::new(&moto.sdk_config())),
            store.clone(),
            read_from,
        );
        ecrscan_core::conformance::backend_conforms(&recorder, &fixture).await;
    }
}
