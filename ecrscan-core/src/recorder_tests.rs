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
                ..Image::default()
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
            ..Image::default()
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

fn with_finding(seconds: i64, cve: &str, severity: Severity) -> DigestScan {
    let mut scan = completed_at(seconds, "CVE-BASE");
    scan.findings.push(Finding::new(cve, severity));
    scan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_recording_one_result_store_one_change() {
    let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
    let writers: Vec<_> = (0..10)
        .map(|_| {
            let recorder = Recorder::new(Arc::clone(&store));
            tokio::spawn(async move {
                recorder
                    .record_scan(&repository(), DIGEST, &completed_at(0, "CVE-1"), at(10))
                    .await
                    .unwrap()
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let listing = store.list_changes().await.unwrap();
    assert_eq!(listing.items.len(), 1, "{:?}", listing.items);
    assert_eq!(listing.items[0].kind, crate::changes::ChangeKind::Baseline);
    // The same result read again later changes nothing.
    Recorder::new(Arc::clone(&store))
        .record_scan(&repository(), DIGEST, &completed_at(0, "CVE-1"), at(20))
        .await
        .unwrap();
    assert_eq!(store.list_changes().await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn a_newer_result_records_what_changed() {
    let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
    let recorder = Recorder::new(Arc::clone(&store));
    recorder
        .record_scan(&repository(), DIGEST, &completed_at(0, "CVE-BASE"), at(1))
        .await
        .unwrap();
    let recording = recorder
        .record_scan(
            &repository(),
            DIGEST,
            &with_finding(100, "CVE-NEW", Severity::Critical),
            at(101),
        )
        .await
        .unwrap();
    assert_eq!(recording.changes.len(), 1);
    let change = &recording.changes[0];
    assert_eq!(change.kind, crate::changes::ChangeKind::FindingsChanged);
    assert_eq!(change.new[0].name, "CVE-NEW");
    // The same scan again: no new change; an older one: none either.
    for scan in [
        with_finding(100, "CVE-NEW", Severity::Critical),
        completed_at(0, "CVE-BASE"),
    ] {
        let again = recorder
            .record_scan(&repository(), DIGEST, &scan, at(200))
            .await
            .unwrap();
        assert!(again.changes.is_empty());
    }
    let listing = store.list_changes().await.unwrap();
    let kinds: Vec<_> = listing.items.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            crate::changes::ChangeKind::FindingsChanged,
            crate::changes::ChangeKind::Baseline
        ],
        "newest first"
    );
}

async fn tag_moved_changes(store: &Arc<dyn ResultStore>) -> Vec<crate::changes::Change> {
    store
        .list_changes()
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|c| c.kind == crate::changes::ChangeKind::TagMoved)
        .collect()
}

fn latest_at(digest: &str) -> Resolution {
    Resolution {
        images: vec![Image {
            digest: digest.into(),
            tags: vec!["latest".into()],
            ..Image::default()
        }],
        missing_tags: vec![],
    }
}

#[tokio::test]
async fn a_tag_move_is_a_change_whichever_is_recorded_first() {
    const OLD: &str = "sha256:aaaa";
    const NEW: &str = "sha256:bbbb";
    let old_scan = with_finding(0, "CVE-OLD", Severity::High);
    let new_scan = with_finding(50, "CVE-NEWER", Severity::Critical);
    let tags = vec!["latest".to_owned()];
    // The new digest's result is known when the move is seen.
    let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
    let recorder = Recorder::new(Arc::clone(&store));
    recorder
        .record_resolution(&repository(), &tags, &latest_at(OLD), at(0))
        .await
        .unwrap();
    recorder
        .record_scan(&repository(), OLD, &old_scan, at(1))
        .await
        .unwrap();
    recorder
        .record_scan(&repository(), NEW, &new_scan, at(60))
        .await
        .unwrap();
    assert!(tag_moved_changes(&store).await.is_empty());
    recorder
        .record_resolution(&repository(), &tags, &latest_at(NEW), at(70))
        .await
        .unwrap();
    let moved = tag_moved_changes(&store).await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].previous_digest.as_deref(), Some(OLD));
    assert_eq!(moved[0].digest, NEW);
    assert_eq!(moved[0].new[0].name, "CVE-NEWER");
    assert_eq!(moved[0].fixed[0].name, "CVE-OLD");
    let first_id = moved[0].id;

    // The move is seen before the new digest has a result: the change comes
    // with its first result, with the same id.
    let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
    let recorder = Recorder::new(Arc::clone(&store));
    recorder
        .record_resolution(&repository(), &tags, &latest_at(OLD), at(0))
        .await
        .unwrap();
    recorder
        .record_scan(&repository(), OLD, &old_scan, at(1))
        .await
        .unwrap();
    recorder
        .record_resolution(&repository(), &tags, &latest_at(NEW), at(70))
        .await
        .unwrap();
    assert!(tag_moved_changes(&store).await.is_empty());
    let recording = recorder
        .record_scan(&repository(), NEW, &new_scan, at(80))
        .await
        .unwrap();
    assert_eq!(recording.changes.len(), 2, "its baseline and the tag move");
    let moved = tag_moved_changes(&store).await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].id, first_id);
    // Later results of the new digest are findings changes, not new moves.
    recorder
        .record_scan(
            &repository(),
            NEW,
            &with_finding(90, "CVE-LATER", Severity::Low),
            at(95),
        )
        .await
        .unwrap();
    assert_eq!(tag_moved_changes(&store).await.len(), 1);
}

#[tokio::test]
async fn a_change_that_cannot_be_stored_leaves_the_result_unrecorded() {
    let mut results = MockResultStore::new();
    results.expect_get_digest().returning(|_, _| Ok(None));
    results.expect_get_tags().returning(|_| Ok(None));
    results.expect_put_change().returning(|_| {
        Err(StoreError::Backend {
            store: "s3://b/".into(),
            message: "unreachable".into(),
            source: None,
        })
    });
    results.expect_put_digest().never();
    let recorder = Recorder::new(Arc::new(results));
    assert!(
        recorder
            .record_scan(&repository(), DIGEST, &completed_at(0, "CVE-1"), at(1))
            .await
            .is_err(),
        "so the next writer computes the change again"
    );
}

#[tokio::test]
async fn a_rollup_that_cannot_be_written_leaves_the_record_unwritten() {
    // The rollup is written first: a summary never serves a row older than
    // the record, because no record is written past a failed rollup.
    let mut results = MockResultStore::new();
    results.expect_get_digest().returning(|_, _| Ok(None));
    results.expect_get_tags().returning(|_| Ok(None));
    results.expect_put_change().returning(|_| Ok(true));
    results.expect_get_rollup().returning(|_| {
        Err(StoreError::Backend {
            store: "s3://b/".into(),
            message: "503 Slow Down".into(),
            source: None,
        })
    });
    results.expect_put_digest().never();
    let recorder = Recorder::new(Arc::new(results));
    let err = recorder
        .record_scan(&repository(), DIGEST, &completed_at(0, "CVE-1"), at(1))
        .await
        .expect_err("the record step fails, and its caller retries");
    assert!(err.to_string().contains("503 Slow Down"), "{err}");
    assert!(
        recorder
            .record_started(&repository(), DIGEST, at(2))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_record_keeps_when_the_findings_last_changed_and_serves_it() {
    let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
    let recorder = Recorder::new(Arc::clone(&store));
    let changed_at = |recording: &Recording| recording.findings_changed_at;
    // Times of the past: a record from the future is never served.
    let base = Utc::now() - Duration::days(1);
    let at = |seconds: i64| base + Duration::seconds(seconds);
    let scan_at = |seconds: i64, findings: DigestScan| {
        let mut scan = findings;
        scan.scan_completed_at = Some(at(seconds));
        scan
    };
    let completed_at = |seconds: i64, cve: &str| scan_at(seconds, completed_at(0, cve));
    let with_finding = |seconds: i64, cve: &str, severity: Severity| {
        scan_at(seconds, with_finding(0, cve, severity))
    };
    let baseline = recorder
        .record_scan(&repository(), DIGEST, &completed_at(0, "CVE-BASE"), at(1))
        .await
        .unwrap();
    assert_eq!(
        changed_at(&baseline),
        Some(at(1)),
        "the first result counts"
    );
    // A newer scan with the same findings: not a change.
    let same = recorder
        .record_scan(&repository(), DIGEST, &completed_at(50, "CVE-BASE"), at(51))
        .await
        .unwrap();
    assert!(same.changes.is_empty());
    assert_eq!(changed_at(&same), Some(at(1)));
    let changed = recorder
        .record_scan(
            &repository(),
            DIGEST,
            &with_finding(100, "CVE-NEW", Severity::Critical),
            at(101),
        )
        .await
        .unwrap();
    assert_eq!(changed_at(&changed), Some(at(101)));
    let older = recorder
        .record_scan(&repository(), DIGEST, &completed_at(0, "CVE-BASE"), at(200))
        .await
        .unwrap();
    assert_eq!(
        changed_at(&older),
        Some(at(101)),
        "an older result changes nothing"
    );

    // Served with the recorded result, and after a live read.
    let mut ecr = MockScanBackend::new();
    let newest = with_finding(100, "CVE-NEW", Severity::Critical);
    ecr.expect_scan_result()
        .returning(move |_, _| Ok(newest.clone().into()));
    let ecr: Arc<dyn ScanBackend> = Arc::new(ecr);
    for read_from in [ReadFrom::Recorded, ReadFrom::Live] {
        let backend = RecordingBackend::with_recorder(
            Arc::clone(&ecr),
            Recorder::with_options(
                Arc::clone(&store),
                RecordOptions {
                    max_age: Duration::days(100_000),
                    ..RecordOptions::default()
                },
            ),
            read_from,
        );
        let latest = backend.scan_result(&repository(), DIGEST).await.unwrap();
        assert_eq!(latest.findings_changed_at, Some(at(101)), "{read_from:?}");
    }
}

/// A rule for `cve` everywhere, made at `at(0)`, expiring at `expires`.
fn rule(cve: &str, expires: crate::suppress::Expiry) -> crate::suppress::Suppression {
    crate::suppress::SuppressionSpec::new(
        crate::suppress::RuleInput {
            vulnerability: cve.into(),
            reason: Some("not reachable".into()),
            expires: Some(expires),
            ..Default::default()
        },
        at(0),
    )
    .unwrap()
    .create()
}

#[tokio::test]
async fn a_covered_new_finding_is_set_aside_and_resurfaces_when_its_rule_expires() {
    use crate::channels::{Channel, Target};
    use crate::store::SuppressionStore;
    use crate::suppress::Expiry;
    let store = Arc::new(MemoryStore::new());
    let results: Arc<dyn ResultStore> = store.clone();
    let rules: Arc<dyn SuppressionStore> = store.clone();
    let accepted = rule("CVE-ACCEPTED", Expiry::At(at(300)));
    rules.put_suppression(&accepted).await.unwrap();
    // A fresh cache per step: the test's clock moves faster than a minute.
    let recorder = || {
        Recorder::new(Arc::clone(&results))
            .with_suppressions(Arc::new(CachedSuppressions::new(Arc::clone(&rules))))
    };
    let channel = Channel::create(
        Target::Sns {
            topic_arn: "arn:aws:sns:us-west-2:123456789012:ecrscan".into(),
        },
        Severity::Low,
        false,
        at(0),
    )
    .unwrap();
    recorder()
        .record_scan(&repository(), DIGEST, &completed_at(0, "CVE-BASE"), at(1))
        .await
        .unwrap();
    let mut both = with_finding(100, "CVE-ACCEPTED", Severity::Critical);
    both.findings.push(Finding::new("CVE-OPEN", Severity::High));
    let recording = recorder()
        .record_scan(&repository(), DIGEST, &both, at(101))
        .await
        .unwrap();
    let change = &recording.changes[0];
    assert_eq!(
        change
            .new
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["CVE-OPEN"],
        "the covered finding is not new to anyone"
    );
    assert_eq!(change.suppressed.len(), 1);
    assert_eq!(
        change.suppressed[0].suppressed.as_ref().unwrap().rule,
        accepted.id
    );
    // Only the accepted finding new: nothing worth sending.
    let mut only_accepted = change.clone();
    only_accepted.new.clear();
    assert!(!channel.wants(&only_accepted));

    // The next day's scan, same findings, before the rule expires: no change.
    let mut next_day = both.clone();
    next_day.scan_completed_at = Some(at(200));
    let quiet = recorder()
        .record_scan(&repository(), DIGEST, &next_day, at(201))
        .await
        .unwrap();
    assert!(quiet.changes.is_empty(), "{:?}", quiet.changes);

    // After its expiry, the next result lists it as resurfaced, and it is sent.
    let mut after_expiry = both.clone();
    after_expiry.scan_completed_at = Some(at(400));
    let resurfacing = recorder()
        .record_scan(&repository(), DIGEST, &after_expiry, at(401))
        .await
        .unwrap();
    assert_eq!(resurfacing.changes.len(), 1, "{:?}", resurfacing.changes);
    let change = &resurfacing.changes[0];
    assert_eq!(change.kind, crate::changes::ChangeKind::FindingsChanged);
    assert!(change.new.is_empty());
    assert_eq!(
        change
            .resurfaced
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["CVE-ACCEPTED"]
    );
    assert!(channel.wants(change));
    // Counted once: the result after that has nothing to say.
    let mut later = both;
    later.scan_completed_at = Some(at(500));
    let settled = recorder()
        .record_scan(&repository(), DIGEST, &later, at(501))
        .await
        .unwrap();
    assert!(settled.changes.is_empty(), "{:?}", settled.changes);
}

#[tokio::test]
async fn a_removed_rule_resurfaces_its_findings_and_unreadable_rules_judge_nothing() {
    use crate::store::SuppressionStore;
    use crate::suppress::Expiry;
    let store = Arc::new(MemoryStore::new());
    let results: Arc<dyn ResultStore> = store.clone();
    let rules: Arc<dyn SuppressionStore> = store.clone();
    let accepted = rule("CVE-ACCEPTED", Expiry::Never);
    rules.put_suppression(&accepted).await.unwrap();
    let recorder = || {
        Recorder::new(Arc::clone(&results))
            .with_suppressions(Arc::new(CachedSuppressions::new(Arc::clone(&rules))))
    };
    recorder()
        .record_scan(
            &repository(),
            DIGEST,
            &with_finding(0, "CVE-ACCEPTED", Severity::High),
            at(1),
        )
        .await
        .unwrap();
    let record = store
        .get_digest(&repository(), DIGEST)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.record.unwrap().suppressed.len(),
        1,
        "the baseline notes what rules covered"
    );

    // Rules that cannot be read: the change is recorded unjudged, and the
    // record keeps what it noted (no false resurfacing later).
    let mut failing = crate::store::MockSuppressionStore::new();
    failing.expect_list_suppressions().returning(|| {
        Err(StoreError::Backend {
            store: "test".into(),
            message: "down".into(),
            source: None,
        })
    });
    let unjudged = Recorder::new(Arc::clone(&results))
        .with_suppressions(Arc::new(CachedSuppressions::new(Arc::new(failing))));
    let mut second = with_finding(100, "CVE-ACCEPTED", Severity::High);
    second
        .findings
        .push(Finding::new("CVE-OTHER", Severity::Low));
    let recording = unjudged
        .record_scan(&repository(), DIGEST, &second, at(101))
        .await
        .unwrap();
    assert!(recording.changes[0].resurfaced.is_empty());
    let record = store
        .get_digest(&repository(), DIGEST)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.record.unwrap().suppressed.len(), 1);

    rules.delete_suppression(accepted.id).await.unwrap();
    let mut third = second.clone();
    third.scan_completed_at = Some(at(200));
    let recording = recorder()
        .record_scan(&repository(), DIGEST, &third, at(201))
        .await
        .unwrap();
    assert_eq!(recording.changes.len(), 1);
    assert_eq!(recording.changes[0].resurfaced[0].name, "CVE-ACCEPTED");
}

#[tokio::test]
async fn the_quota_answer_says_when_it_frees_from_the_recorded_start() {
    let store = Arc::new(MemoryStore::new());
    let mut live = MockScanBackend::new();
    live.expect_start_scan()
        .returning(|_, _| Err(BackendError::ScanQuotaExceeded));
    let backend = RecordingBackend::new(Arc::new(live), store.clone(), ReadFrom::Live);
    // No record of a start: ECR's answer as it is.
    assert_eq!(
        backend.start_scan(&repository(), DIGEST).await,
        Err(BackendError::ScanQuotaExceeded)
    );
    let started = Utc::now() - Duration::hours(23);
    Recorder::new(store.clone())
        .record_started(&repository(), DIGEST, started)
        .await
        .unwrap();
    assert_eq!(
        backend.start_scan(&repository(), DIGEST).await,
        Err(BackendError::ScanQuotaFreesAt {
            at: started + Duration::hours(24)
        })
    );
}
