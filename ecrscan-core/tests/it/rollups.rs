//! Summaries from rollups: one object read per repository once the results
//! are recorded, a missing rollup rebuilt from the records, nothing stale
//! served from one, and no update lost by concurrent recorders.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use ecrscan_core::conformance::sample_config;
use ecrscan_core::store::keys::{findings_key, rollup_key};
use ecrscan_core::store::{ObjectMeta, StoredObject, Version};
use ecrscan_core::testing::SimulatedEcr;
use ecrscan_core::{
    DigestScan, Finding, MemoryStore, ObjectStore, PutMode, ReadFrom, Recorder, RecordingBackend,
    RepositoryRef, ResultStore, ScanConfig, ScanOptions, ScanStatus, Severity, StoreError, Summary,
    collect_summary,
};

/// An [`ObjectStore`] that counts the reads of each key.
#[derive(Debug, Default)]
struct CountingStore {
    inner: MemoryStore,
    gets: Mutex<BTreeMap<String, usize>>,
}

impl CountingStore {
    fn take_gets(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.gets.lock().unwrap())
    }
}

#[async_trait::async_trait]
impl ObjectStore for CountingStore {
    fn describe(&self) -> String {
        "counting".into()
    }
    async fn get(&self, key: &str, max_bytes: u64) -> Result<Option<StoredObject>, StoreError> {
        *self.gets.lock().unwrap().entry(key.to_owned()).or_default() += 1;
        self.inner.get(key, max_bytes).await
    }
    async fn put(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<Version, StoreError> {
        self.inner.put(key, bytes, mode).await
    }
    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        self.inner.list(prefix).await
    }
}

fn repository(name: &str) -> RepositoryRef {
    sample_config(name, &[], 0).repository_ref()
}

fn digest(repository: usize, image: usize) -> String {
    format!("sha256:{repository:032x}{image:032x}")
}

const REPOSITORIES: usize = 3;
const IMAGES: usize = 5;

/// Three repositories of five tagged images, each scanned, each with
/// findings; a config for every tagged image of each, and one for two tags.
fn fleet() -> (Arc<SimulatedEcr>, Vec<ScanConfig>) {
    let scanned = Utc.timestamp_opt(1_760_000_000, 0).unwrap();
    let mut ecr = SimulatedEcr::new();
    let mut configs = Vec::new();
    for r in 0..REPOSITORIES {
        let repo = repository(&format!("team/app-{r}"));
        for i in 0..IMAGES {
            let tag = format!("v{i}");
            ecr = ecr
                .with_image(&repo, &digest(r, i), &[&tag])
                .with_scan(&repo, &digest(r, i), scanned)
                .with_findings(
                    &digest(r, i),
                    (0..=i)
                        .map(|n| Finding::new(format!("CVE-2026-{n:04}"), Severity::High))
                        .collect(),
                );
        }
        configs.push(sample_config(&repo.repository, &[], r as i64));
    }
    configs.push(sample_config("team/app-0", &["v1", "v3"], 10));
    (Arc::new(ecr), configs)
}

fn counts(summary: &Summary) -> Vec<(String, Option<String>, ScanStatus, u64)> {
    summary
        .rows
        .iter()
        .map(|row| {
            (
                row.result.image.repository.clone(),
                row.result.image.tag.clone(),
                row.result.scan.status,
                row.result.scan.severity_counts.total(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_summary_reads_one_rollup_per_repository_and_no_findings() {
    let (ecr, configs) = fleet();
    let store = Arc::new(CountingStore::default());
    let backend = RecordingBackend::new(ecr.clone(), store.clone(), ReadFrom::Recorded);
    let options = ScanOptions::default();

    let first = collect_summary(
        &configs,
        &backend,
        &options,
        &ecrscan_core::Suppressions::none(),
    )
    .await;
    assert_eq!(first.rows.len(), REPOSITORIES * IMAGES + 2);
    assert!(
        first
            .rows
            .iter()
            .all(|row| row.result.scan.status == ScanStatus::Complete)
    );
    let ecr_calls = ecr.calls();
    assert_eq!(ecr_calls, REPOSITORIES + 1 + REPOSITORIES * IMAGES);
    store.take_gets();

    let second = collect_summary(
        &configs,
        &backend,
        &options,
        &ecrscan_core::Suppressions::none(),
    )
    .await;
    assert_eq!(counts(&second), counts(&first));
    assert_eq!(ecr.calls(), ecr_calls, "nothing asked of ECR");
    let gets = store.take_gets();
    let expected: BTreeMap<String, usize> = (0..REPOSITORIES)
        .map(|r| {
            (
                rollup_key(&repository(&format!("team/app-{r}"))).unwrap(),
                1,
            )
        })
        .collect();
    assert_eq!(gets, expected, "one read per repository, of its rollup");
    assert!(
        second
            .rows
            .iter()
            .all(|row| row.result.scan.findings.is_empty()),
        "a summary holds counts, not findings"
    );
    // Each row says when it was recorded: nothing is passed off as live.
    assert!(
        second
            .rows
            .iter()
            .all(|row| row.result.origin.recorded_at().is_some())
    );
}

#[tokio::test]
async fn a_missing_rollup_is_rebuilt_from_the_records_without_asking_ecr() {
    let (ecr, configs) = fleet();
    let store = Arc::new(CountingStore::default());
    let backend = RecordingBackend::new(ecr.clone(), store.clone(), ReadFrom::Recorded);
    let options = ScanOptions::default();
    let first = collect_summary(
        &configs,
        &backend,
        &options,
        &ecrscan_core::Suppressions::none(),
    )
    .await;
    let calls = ecr.calls();
    let lost = repository("team/app-1");
    assert!(store.delete(&rollup_key(&lost).unwrap()).await.unwrap());
    // And a damaged one.
    let damaged = repository("team/app-2");
    store
        .put(
            &rollup_key(&damaged).unwrap(),
            b"{not json".to_vec(),
            PutMode::Overwrite,
        )
        .await
        .unwrap();

    let rebuilding = collect_summary(
        &configs,
        &backend,
        &options,
        &ecrscan_core::Suppressions::none(),
    )
    .await;
    assert_eq!(counts(&rebuilding), counts(&first));
    assert_eq!(ecr.calls(), calls, "the records answered, not ECR");
    for repository in [&lost, &damaged] {
        let rollup = store
            .get_rollup(repository)
            .await
            .unwrap()
            .and_then(|v| v.record)
            .expect("the rollup is back");
        assert_eq!(rollup.digests.len(), IMAGES);
        assert!(rollup.selections.contains_key("all"));
    }
    store.take_gets();
    let after = collect_summary(
        &configs,
        &backend,
        &options,
        &ecrscan_core::Suppressions::none(),
    )
    .await;
    assert_eq!(counts(&after), counts(&first));
    assert_eq!(store.take_gets().len(), REPOSITORIES);
}

#[tokio::test]
async fn a_rollup_row_older_than_a_started_scan_is_read_again() {
    let (ecr, configs) = fleet();
    let store = Arc::new(MemoryStore::new());
    let backend = RecordingBackend::new(ecr.clone(), store.clone(), ReadFrom::Recorded);
    let options = ScanOptions::default();
    collect_summary(
        &configs,
        &backend,
        &options,
        &ecrscan_core::Suppressions::none(),
    )
    .await;
    let calls = ecr.calls();
    // A scan started after the recorded result: that row is not served.
    let recorder = backend.recorder();
    recorder
        .record_started(&repository("team/app-0"), &digest(0, 2), Utc::now())
        .await
        .unwrap();
    collect_summary(
        &configs,
        &backend,
        &options,
        &ecrscan_core::Suppressions::none(),
    )
    .await;
    assert_eq!(
        ecr.calls(),
        calls + 1,
        "one digest read again, the others not"
    );

    // Older than the maximum age: every row is read again.
    let stale = backend.clone().with_max_age(chrono::Duration::zero());
    collect_summary(
        &configs,
        &stale,
        &options,
        &ecrscan_core::Suppressions::none(),
    )
    .await;
    assert!(ecr.calls() >= calls + 1 + REPOSITORIES * IMAGES);
}

/// Records `writers` results into one repository, each with its own
/// recorder (as separate processes would), all at once.
async fn record_concurrently(store: Arc<dyn ResultStore>, writers: usize) {
    let repo = repository("team/busy");
    let scanned = Utc.timestamp_opt(1_760_000_000, 0).unwrap();
    let tasks: Vec<_> = (0..writers)
        .map(|i| {
            let store = Arc::clone(&store);
            let repo = repo.clone();
            tokio::spawn(async move {
                let recorder = Recorder::new(store);
                let mut scan = DigestScan::without_findings(ScanStatus::Complete, None);
                scan.scan_completed_at = Some(scanned);
                scan.severity_counts.add(Severity::Medium, i as u64);
                recorder
                    .record_scan(&repo, &digest(9, i), &scan, Utc::now())
                    .await
                    .map(|_| ())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let rollup = store
        .get_rollup(&repo)
        .await
        .unwrap()
        .and_then(|v| v.record)
        .unwrap();
    assert_eq!(rollup.digests.len(), writers, "no update lost");
    for i in 0..writers {
        let row = &rollup.digests[&digest(9, i)];
        assert_eq!(row.results[0].scan.severity_counts.total(), i as u64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_recorders_lose_no_rollup_update() {
    record_concurrently(Arc::new(MemoryStore::new()), 200).await;
}

#[cfg(feature = "s3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_recorders_lose_no_rollup_update_on_s3() {
    let Some(moto) = ecrscan_core::testing::MotoServer::start() else {
        return;
    };
    moto.create_bucket("rollups").await;
    let store = ecrscan_core::S3Store::new(&moto.sdk_config(), "rollups", "");
    record_concurrently(Arc::new(store), 200).await;
}

#[cfg(feature = "s3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_summary_on_s3_costs_the_config_listing_and_one_get_per_repository() {
    use ecrscan_core::ConfigStore;
    use ecrscan_core::testing::{Fault, FaultProxy};

    let Some(moto) = ecrscan_core::testing::MotoServer::start() else {
        return;
    };
    moto.create_bucket("summary").await;
    let requests = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&requests);
    let proxy = FaultProxy::start_by_request(moto.port(), move |request| {
        seen.lock()
            .unwrap()
            .push(format!("{} {}", request.method, request.path));
        Fault::Pass
    })
    .await;
    let store = Arc::new(ecrscan_core::S3Store::new(
        &proxy.sdk_config(3),
        "summary",
        "",
    ));
    let (ecr, configs) = fleet();
    for config in &configs {
        ConfigStore::put(store.as_ref(), config).await.unwrap();
    }
    let backend = RecordingBackend::new(ecr.clone(), store.clone(), ReadFrom::Recorded);
    let options = ScanOptions::default();
    let listed = ConfigStore::list(store.as_ref()).await.unwrap().items;
    let first = collect_summary(
        &listed,
        &backend,
        &options,
        &ecrscan_core::Suppressions::none(),
    )
    .await;
    let calls = ecr.calls();
    requests.lock().unwrap().clear();

    let listed = ConfigStore::list(store.as_ref()).await.unwrap().items;
    let second = collect_summary(
        &listed,
        &backend,
        &options,
        &ecrscan_core::Suppressions::none(),
    )
    .await;
    assert_eq!(counts(&second), counts(&first));
    assert_eq!(ecr.calls(), calls);
    let requests = requests.lock().unwrap().clone();
    let gets: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("GET ") && r.contains("x-id=GetObject"))
        .collect();
    assert_eq!(
        gets.len(),
        configs.len() + REPOSITORIES,
        "one GET per config and one per repository: {requests:#?}"
    );
    assert_eq!(
        gets.iter()
            .filter(|r| r.contains("%40rollup.json") || r.contains("@rollup.json"))
            .count(),
        REPOSITORIES
    );
    assert_eq!(
        requests.len(),
        gets.len() + 1,
        "and one listing, nothing else: {requests:#?}"
    );
}

/// Waves of updates through one recorder: each wave's writer ends as the
/// next wave's starts, and no update fails or is lost in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_ending_never_fails_the_next_writers_updates() {
    let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
    let recorder = Recorder::new(Arc::clone(&store));
    let repo = repository("team/waves");
    for wave in 0..100 {
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let recorder = recorder.clone();
                let repo = repo.clone();
                tokio::spawn(async move {
                    recorder
                        .record_started(&repo, &digest(wave, i), Utc::now())
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().expect("every update is written");
        }
    }
    let rollup = store
        .get_rollup(&repo)
        .await
        .unwrap()
        .unwrap()
        .record
        .unwrap();
    assert_eq!(rollup.digests.len(), 300);
}

fn rule(cve: &str, repository: Option<&str>) -> ecrscan_core::suppress::Suppression {
    ecrscan_core::suppress::SuppressionSpec::new(
        ecrscan_core::suppress::RuleInput {
            vulnerability: cve.into(),
            repository: repository.map(str::to_owned),
            reason: Some("accepted".into()),
            expires: Some(ecrscan_core::suppress::Expiry::Never),
            ..Default::default()
        },
        Utc::now(),
    )
    .unwrap()
    .create()
}

/// Suppressed findings per (repository, tag).
fn suppressed(summary: &Summary) -> Vec<(String, Option<String>, u64, u64)> {
    summary
        .rows
        .iter()
        .map(|row| {
            (
                row.result.image.repository.clone(),
                row.result.image.tag.clone(),
                row.result.scan.severity_counts.total(),
                row.result.suppressed_counts.total(),
            )
        })
        .collect()
}

#[tokio::test]
async fn suppression_rules_are_judged_from_the_rollups_finding_index() {
    let (ecr, configs) = fleet();
    let store = Arc::new(CountingStore::default());
    let backend = RecordingBackend::new(ecr.clone(), store.clone(), ReadFrom::Recorded);
    let options = ScanOptions::default();
    let none = ecrscan_core::Suppressions::none();
    collect_summary(&configs, &backend, &options, &none).await;
    let ecr_calls = ecr.calls();
    store.take_gets();

    // Every image has CVE-2026-0000; images v3 and v4 have CVE-2026-0003.
    let everywhere = rule("CVE-2026-0000", None);
    let in_app_1 = rule("CVE-2026-0003", Some("team/app-1"));
    let nowhere = rule("CVE-1999-0001", None);
    let rules = ecrscan_core::Suppressions::active_at(
        [everywhere.clone(), in_app_1.clone(), nowhere.clone()],
        Utc::now(),
    );
    let summary = collect_summary(&configs, &backend, &options, &rules).await;
    assert_eq!(ecr.calls(), ecr_calls, "nothing asked of ECR");
    let gets = store.take_gets();
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    for r in 0..REPOSITORIES {
        let repo = repository(&format!("team/app-{r}"));
        expected.insert(rollup_key(&repo).unwrap(), 1);
        expected.insert(findings_key(&repo).unwrap(), 1);
    }
    assert_eq!(
        gets, expected,
        "judged from each repository's rollup and finding index alone"
    );
    for (repository, tag, open, hidden) in suppressed(&summary) {
        let image: u64 = tag.as_deref().unwrap()[1..].parse().unwrap();
        let expected_hidden = 1 + u64::from(repository == "team/app-1" && image >= 3);
        assert_eq!(hidden, expected_hidden, "{repository}:{tag:?}");
        assert_eq!(open + hidden, image + 1, "{repository}:{tag:?}");
    }
    assert_eq!(
        summary.rule_matches.get(&everywhere.id),
        Some(&((REPOSITORIES * IMAGES) as u64)),
        "each image counted once, however many configs select it"
    );
    assert_eq!(summary.rule_matches.get(&in_app_1.id), Some(&2));
    let warned: Vec<_> = summary.warnings.iter().map(|w| (w.rule, w.kind)).collect();
    assert_eq!(
        warned,
        vec![(
            nowhere.id,
            ecrscan_core::suppress::Staleness::MatchedNothing
        )]
    );
}

#[tokio::test]
async fn a_rollup_without_its_finding_index_is_healed_from_the_records_when_rules_need_it() {
    let (ecr, configs) = fleet();
    let store = Arc::new(CountingStore::default());
    let backend = RecordingBackend::new(ecr.clone(), store.clone(), ReadFrom::Recorded);
    let options = ScanOptions::default();
    let none = ecrscan_core::Suppressions::none();
    let expected = suppressed(&collect_summary(&configs, &backend, &options, &none).await);
    // As an ecrscan from before the index left them.
    for r in 0..REPOSITORIES {
        let repo = repository(&format!("team/app-{r}"));
        let index = store
            .get_findings(&repo)
            .await
            .unwrap()
            .unwrap()
            .record
            .unwrap();
        assert!(!index.is_empty());
        assert!(
            ObjectStore::delete(store.as_ref(), &findings_key(&repo).unwrap())
                .await
                .unwrap()
        );
    }
    store.take_gets();
    // Without rules, the index is not read at all.
    collect_summary(&configs, &backend, &options, &none).await;
    assert!(
        store
            .take_gets()
            .keys()
            .all(|key| key.ends_with("@rollup.json"))
    );

    let rules = ecrscan_core::Suppressions::active_at([rule("CVE-2026-0000", None)], Utc::now());
    let judged = collect_summary(&configs, &backend, &options, &rules).await;
    let gets = store.take_gets();
    assert_eq!(
        gets.keys().filter(|key| key.contains("/@digests/")).count(),
        REPOSITORIES * IMAGES,
        "each image's record read once: {gets:?}"
    );
    let with_rule: Vec<_> = expected
        .iter()
        .map(|(repository, tag, open, _)| (repository.clone(), tag.clone(), open - 1, 1))
        .collect();
    assert_eq!(suppressed(&judged), with_rule);
    // Healed: the next summary judges from the rollups and indexes again.
    let again = collect_summary(&configs, &backend, &options, &rules).await;
    assert_eq!(suppressed(&again), with_rule);
    let gets = store.take_gets();
    assert!(
        gets.keys()
            .all(|key| key.ends_with("@rollup.json") || key.ends_with("@findings.json")),
        "{gets:?}"
    );
}
