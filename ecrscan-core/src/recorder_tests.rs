use chrono::TimeZone;

use super::*;
use crate::backend::{Image, MockScanBackend};
use crate::finding::{Finding, ScanStatus};
use crate::records::RecordedScan;
use crate::severity::Severity;
use crate::store::{MemoryStore, MockResultStore};

fn repository() -> RepositoryRef {
    RepositoryRef {
        region: "us-west-2".into(),
        registry: "123456789012".into(),
        repository: "test/ubuntu".into(),
    }
}

const DIGEST: &str = "sha256:0123456789abcdef";

fn complete() -> DigestScan {
    let mut scan = DigestScan::without_findings(ScanStatus::Complete, None);
    scan.scan_completed_at = Some(Utc::now() - Duration::minutes(5));
    scan.findings
        .push(Finding::new("CVE-2016-2779", Severity::High));
    scan
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

fn completed_at(seconds: i64, cve: &str) -> DigestScan {
    let mut scan = DigestScan::without_findings(ScanStatus::Complete, None);
    scan.scan_completed_at = Some(at(seconds));
    scan.findings.push(Finding::new(cve, Severity::High));
    scan.severity_counts.add(Severity::High, 1);
    scan
}

#[tokio::test]
async fn finished_results_are_served_from_the_store_once_recorded() {
    let store = Arc::new(MemoryStore::new());
    let mut live = MockScanBackend::new();
    live.expect_scan_result()
        .times(1)
        .returning(|_, _| Ok(complete().into()));
    live.expect_resolve_images().times(1).returning(|_, _| {
        Ok(Resolution {
            images: vec![Image {
                digest: DIGEST.into(),
                tags: vec!["latest".into()],
            }],
            missing_tags: vec![],
        })
    });
    let backend = RecordingBackend::new(Arc::new(live), store.clone(), ReadFrom::Recorded);
    let tags = vec!["latest".to_owned()];
    for _ in 0..3 {
        assert_eq!(
            backend
                .resolve_images(&repository(), &tags)
                .await
                .unwrap()
                .images
                .len(),
            1
        );
    }
    let first = backend.scan_result(&repository(), DIGEST).await.unwrap();
    assert_eq!(first.origin, Origin::Live, "read from ECR just now");
    let second = backend.scan_result(&repository(), DIGEST).await.unwrap();
    assert!(
        second.origin.recorded_at().is_some(),
        "served from the store, saying when it was recorded"
    );
    assert_eq!(second.scan.findings, first.scan.findings);
}

#[tokio::test]
async fn unfinished_results_and_started_scans_are_read_again() {
    let store = Arc::new(MemoryStore::new());
    let mut live = MockScanBackend::new();
    let mut calls = 0;
    live.expect_scan_result().times(3).returning(move |_, _| {
        calls += 1;
        Ok(match calls {
            1 => DigestScan::without_findings(ScanStatus::NotScanned, None),
            _ => complete(),
        }
        .into())
    });
    live.expect_start_scan().times(1).returning(|_, _| Ok(()));
    let backend = RecordingBackend::new(Arc::new(live), store.clone(), ReadFrom::Recorded);
    assert_eq!(
        backend
            .scan_result(&repository(), DIGEST)
            .await
            .unwrap()
            .scan
            .status,
        ScanStatus::NotScanned
    );
    // NOT_SCANNED is not served from the store: ECR is asked again.
    assert_eq!(
        backend
            .scan_result(&repository(), DIGEST)
            .await
            .unwrap()
            .scan
            .status,
        ScanStatus::Complete
    );
    // A new scan makes the recorded result stale, but keeps it.
    backend.start_scan(&repository(), DIGEST).await.unwrap();
    let recorded = store
        .get_digest(&repository(), DIGEST)
        .await
        .unwrap()
        .unwrap()
        .record
        .unwrap();
    assert!(recorded.scan_started_at.is_some());
    assert_eq!(
        recorded.latest().unwrap().scan.status,
        ScanStatus::Complete,
        "starting a scan keeps the last complete result"
    );
    assert_eq!(
        backend
            .scan_result(&repository(), DIGEST)
            .await
            .unwrap()
            .origin,
        Origin::Live
    );
}

#[tokio::test]
async fn records_older_than_the_maximum_age_are_read_again() {
    let store = Arc::new(MemoryStore::new());
    let mut old = DigestRecord::default();
    old.results.push(RecordedScan::new(
        complete(),
        Utc::now() - Duration::hours(25),
    ));
    store
        .put_digest(&repository(), DIGEST, &old, PutMode::Overwrite)
        .await
        .unwrap();
    let mut live = MockScanBackend::new();
    live.expect_scan_result()
        .times(1)
        .returning(|_, _| Ok(complete().into()));
    let backend = RecordingBackend::new(Arc::new(live), store.clone(), ReadFrom::Recorded);
    assert_eq!(
        backend
            .scan_result(&repository(), DIGEST)
            .await
            .unwrap()
            .origin,
        Origin::Live
    );
    // Now recorded afresh: served from the store.
    assert!(
        backend
            .scan_result(&repository(), DIGEST)
            .await
            .unwrap()
            .origin
            .recorded_at()
            .is_some()
    );
    let strict = RecordingBackend::new(
        Arc::new(MockScanBackend::new()),
        store.clone(),
        ReadFrom::Recorded,
    )
    .with_max_age(Duration::hours(1));
    assert!(
        strict
            .scan_result(&repository(), DIGEST)
            .await
            .unwrap()
            .origin
            .recorded_at()
            .is_some()
    );
}

#[tokio::test]
async fn live_reads_always_ask_ecr_and_record() {
    let store = Arc::new(MemoryStore::new());
    let mut live = MockScanBackend::new();
    live.expect_scan_result()
        .times(2)
        .returning(|_, _| Ok(complete().into()));
    let backend = RecordingBackend::new(Arc::new(live), store.clone(), ReadFrom::Live);
    backend.scan_result(&repository(), DIGEST).await.unwrap();
    backend.scan_result(&repository(), DIGEST).await.unwrap();
    assert!(
        store
            .get_digest(&repository(), DIGEST)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_failing_result_store_falls_back_to_ecr() {
    let failing = || StoreError::Backend {
        store: "s3://b/".into(),
        message: "unreachable".into(),
        source: None,
    };
    let mut results = MockResultStore::new();
    results
        .expect_get_digest()
        .returning(move |_, _| Err(failing()));
    let mut live = MockScanBackend::new();
    live.expect_scan_result()
        .times(1)
        .returning(|_, _| Ok(complete().into()));
    let backend = RecordingBackend::new(Arc::new(live), Arc::new(results), ReadFrom::Recorded);
    assert_eq!(
        backend
            .scan_result(&repository(), DIGEST)
            .await
            .unwrap()
            .scan
            .status,
        ScanStatus::Complete
    );
}

/// One writer's write, for trying every order of them.
type Write = dyn Fn(&Recorder) -> futures::future::BoxFuture<'_, ()>;

#[tokio::test]
async fn three_writers_interleaved_never_serve_yesterdays_result() {
    // The API reads yesterday's result; the scheduled run starts a scan; the
    // recorder records today's result; then the API's delayed write lands.
    let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
    let recorder = Recorder::new(Arc::clone(&store));
    let yesterday = completed_at(0, "CVE-OLD");
    let today = completed_at(86_400, "CVE-NEW");
    let now = at(86_500);
    let api_read = yesterday.clone();
    recorder
        .record_started(&repository(), DIGEST, at(86_000))
        .await
        .unwrap();
    let recorded = recorder
        .record_scan(&repository(), DIGEST, &today, now)
        .await
        .unwrap();
    assert!(matches!(
        recorded.applied,
        Applied::Recorded { previous: None }
    ));
    let delayed = recorder
        .record_scan(&repository(), DIGEST, &api_read, now)
        .await
        .unwrap();
    assert_eq!(delayed.applied, Applied::Older);
    let served = recorder
        .servable_scan(&repository(), DIGEST, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(served.scan, today);
    // Every order of the four writes ends with today's result.
    let writes: [&Write; 3] = [
        &|r| {
            Box::pin(async {
                r.record_scan(
                    &repository(),
                    DIGEST,
                    &completed_at(0, "CVE-OLD"),
                    at(86_500),
                )
                .await
                .unwrap();
            })
        },
        &|r| {
            Box::pin(async {
                r.record_started(&repository(), DIGEST, at(86_000))
                    .await
                    .unwrap();
            })
        },
        &|r| {
            Box::pin(async {
                r.record_scan(
                    &repository(),
                    DIGEST,
                    &completed_at(86_400, "CVE-NEW"),
                    at(86_500),
                )
                .await
                .unwrap();
            })
        },
    ];
    for order in [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ] {
        let recorder = Recorder::new(Arc::new(MemoryStore::new()));
        for index in order {
            writes[index](&recorder).await;
        }
        let record = recorder
            .digest_record(&repository(), DIGEST)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.latest().unwrap().scan, today, "{order:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_recorders_lose_no_history() {
    let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
    let recorder = Recorder::with_options(
        Arc::clone(&store),
        RecordOptions {
            history: 100,
            ..RecordOptions::default()
        },
    );
    let tasks: Vec<_> = (0..40)
        .map(|day| {
            let recorder = recorder.clone();
            tokio::spawn(async move {
                recorder
                    .record_scan(
                        &repository(),
                        DIGEST,
                        &completed_at(day * 100, "CVE-1"),
                        at(4_000),
                    )
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let record = recorder
        .digest_record(&repository(), DIGEST)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.latest().unwrap().scan.scan_completed_at,
        Some(at(3_900))
    );
    // Writes that arrived after a newer one are refused, never recorded
    // over it; the ones that were recorded are in order.
    let times: Vec<_> = record
        .results
        .iter()
        .map(|r| r.scan.scan_completed_at.unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);
}

#[tokio::test]
async fn history_is_kept_as_configured() {
    let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
    let recorder = Recorder::with_options(
        Arc::clone(&store),
        RecordOptions {
            history: 3,
            ..RecordOptions::default()
        },
    );
    let mut previous = None;
    for day in 0..5 {
        let recording = recorder
            .record_scan(
                &repository(),
                DIGEST,
                &completed_at(day * 100, &format!("CVE-{day}")),
                at(day * 100 + 1),
            )
            .await
            .unwrap();
        match recording.applied {
            Applied::Recorded { previous: replaced } => {
                assert_eq!(
                    replaced.map(|r| r.scan.findings[0].name.clone()),
                    previous,
                    "day {day}"
                );
            }
            other => panic!("{other:?}"),
        }
        previous = Some(format!("CVE-{day}"));
    }
    let record = recorder
        .digest_record(&repository(), DIGEST)
        .await
        .unwrap()
        .unwrap();
    let kept: Vec<_> = record
        .results
        .iter()
        .map(|r| r.scan.findings[0].name.as_str())
        .collect();
    assert_eq!(kept, ["CVE-4", "CVE-3", "CVE-2"]);
}

#[tokio::test]
async fn a_tag_move_is_recorded_with_the_previous_digest() {
    let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
    let recorder = Recorder::new(Arc::clone(&store));
    let resolution = |digest: &str| Resolution {
        images: vec![Image {
            digest: digest.into(),
            tags: vec!["latest".into()],
        }],
        missing_tags: vec![],
    };
    let tags = vec!["latest".to_owned()];
    assert!(
        recorder
            .record_resolution(&repository(), &tags, &resolution("sha256:aa"), at(0))
            .await
            .unwrap()
            .is_empty()
    );
    // The same repository resolved by another selection (every tag) sees the move too.
    let moves = recorder
        .record_resolution(&repository(), &[], &resolution("sha256:bb"), at(10))
        .await
        .unwrap();
    assert_eq!(moves.len(), 1);
    assert_eq!(
        (moves[0].from.as_str(), moves[0].to.as_str()),
        ("sha256:aa", "sha256:bb")
    );
    let record = store
        .get_tags(&repository())
        .await
        .unwrap()
        .unwrap()
        .record
        .unwrap();
    let latest = &record.tags["latest"];
    assert_eq!(latest.digest, "sha256:bb");
    assert_eq!(latest.since, at(10));
    assert_eq!(
        latest
            .previous
            .as_ref()
            .map(|p| (p.digest.as_str(), p.until)),
        Some(("sha256:aa", at(0)))
    );
}

#[tokio::test]
async fn an_unreadable_record_is_replaced() {
    let store = Arc::new(MemoryStore::new());
    crate::store::ObjectStore::put(
        store.as_ref(),
        &crate::store::keys::digest_key(&repository(), DIGEST).unwrap(),
        b"{not json".to_vec(),
        PutMode::Overwrite,
    )
    .await
    .unwrap();
    let recorder = Recorder::new(store.clone());
    recorder
        .record_scan(&repository(), DIGEST, &completed_at(0, "CVE-1"), at(1))
        .await
        .unwrap();
    assert_eq!(
        recorder
            .digest_record(&repository(), DIGEST)
            .await
            .unwrap()
            .unwrap()
            .latest()
            .unwrap()
            .scan,
        completed_at(0, "CVE-1")
    );
}
