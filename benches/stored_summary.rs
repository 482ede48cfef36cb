//! Summaries from recorded results: time and peak heap, at 1,000, 10,000
//! and 100,000 images with 200 findings each (100 images per repository,
//! one config per repository for every tagged image), answered from each
//! repository's rollup without a call to ECR, the JSON summary streamed
//! to a sink as the CLI streams it to stdout; and, in the same run, the
//! baseline: the same summary at 1,000 images read one record per image
//! (what summaries did before rollups).
//!
//! The rollup fleets hold rollups and configs only: a summary never reads
//! a digest's own record when its rollup row is fresh, and holding 100,000
//! records of 200 findings (about 3 GB of JSON) in memory would measure
//! the bench machine, not the summary. Beside each rollup is its
//! repository's finding index, as the record step writes it: the images of
//! a repository share 180 findings and have 20 of their own.
//!
//! With suppression rules, the same summaries judge 10 rules from the
//! rollups' indexes: one on a finding every image has, nine on findings of
//! single images.
//!
//! `cargo bench -p ecrscan-core --bench stored_summary`

use std::sync::Arc;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use ecrscan_core::records::{
    DigestRecord, FindingIndex, IndexedFinding, RecordedResolution, RecordedScan,
};
use ecrscan_core::render::write_json_summary;
use ecrscan_core::suppress::{Expiry, RuleInput, SuppressionSpec};
use ecrscan_core::testing::{PeakHeap, SimulatedEcr, peak_heap_of};
use ecrscan_core::{
    BackendError, ConfigSpec, DigestScan, Finding, Image, LatestScan, MemoryStore, PutMode,
    ReadFrom, RecordingBackend, RepositoryRef, Resolution, ResultStore, Rollup, ScanBackend,
    ScanConfig, ScanOptions, ScanStatus, Severity, Store, Suppressions, collect_summary,
};

#[global_allocator]
static ALLOCATOR: PeakHeap = PeakHeap;

const IMAGES_PER_REPOSITORY: usize = 100;
const FINDINGS_PER_IMAGE: u64 = 200;

fn digest(repository: usize, image: usize) -> String {
    format!("sha256:{repository:032x}{image:032x}")
}

fn counted_scan() -> DigestScan {
    let mut scan = DigestScan::without_findings(ScanStatus::Complete, None);
    scan.scan_completed_at = Some(Utc::now() - chrono::Duration::hours(1));
    for (severity, count) in [
        (Severity::Critical, 5),
        (Severity::High, 45),
        (Severity::Medium, 100),
        (Severity::Low, 50),
    ] {
        scan.severity_counts.add(severity, count);
    }
    scan
}

/// Findings shared by every image of a repository; the rest are the image's own.
const SHARED_FINDINGS: u64 = 180;

fn scan_with_findings(image: usize) -> DigestScan {
    let mut scan = counted_scan();
    let severities = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];
    scan.findings = (0..FINDINGS_PER_IMAGE)
        .map(|n| {
            let number = if n < SHARED_FINDINGS {
                n
            } else {
                n + 1_000 * (image as u64 + 1)
            };
            let mut finding =
                Finding::new(format!("CVE-2026-{number:06}"), severities[n as usize % 4]);
            finding.description = Some(
                "A flaw in a package allows remote attackers to cause a denial of service.".into(),
            );
            finding.package_name = Some("openssl".into());
            finding
        })
        .collect();
    scan
}

fn resolution(repository: usize) -> Resolution {
    Resolution {
        images: (0..IMAGES_PER_REPOSITORY)
            .map(|i| Image {
                digest: digest(repository, i),
                tags: vec![format!("v{i}")],
                ..Image::default()
            })
            .collect(),
        missing_tags: vec![],
    }
}

/// A fleet of `images` images: configs, and each repository's rollup (or,
/// with `per_image_records`, each image's record of 200 findings and each
/// selection's resolution instead).
async fn fill(store: &dyn Store, images: usize, per_image_records: bool) -> Vec<ScanConfig> {
    let now = Utc::now();
    let mut configs = Vec::new();
    for r in 0..images / IMAGES_PER_REPOSITORY {
        let spec = ConfigSpec::new(
            "us-west-2",
            "123456789012",
            format!("fleet/service-{r}"),
            Vec::<String>::new(),
        )
        .expect("a valid config");
        let config = ScanConfig::create(spec, now);
        store.put(&config).await.expect("put config");
        let repository = config.repository_ref();
        let recorded = RecordedResolution {
            recorded_at: now,
            resolution: resolution(r),
        };
        if per_image_records {
            store
                .put_resolution(&repository, &[], &recorded)
                .await
                .expect("put resolution");
            for i in 0..IMAGES_PER_REPOSITORY {
                let record = DigestRecord {
                    results: vec![RecordedScan::new(scan_with_findings(i), now)],
                    ..DigestRecord::default()
                };
                store
                    .put_digest(&repository, &digest(r, i), &record, PutMode::Create)
                    .await
                    .expect("put record");
            }
        } else {
            let mut rollup = Rollup::default();
            let mut index = FindingIndex::default();
            rollup.merge_selection("all", &recorded);
            for i in 0..IMAGES_PER_REPOSITORY {
                let record = DigestRecord {
                    results: vec![RecordedScan::new(scan_with_findings(i), now)],
                    revision: 1,
                    ..DigestRecord::default()
                };
                rollup.merge_digest(&digest(r, i), &record);
                index.merge(&digest(r, i), 1, &IndexedFinding::of_latest(&record));
            }
            store
                .put_rollup(&repository, &rollup, PutMode::Create)
                .await
                .expect("put rollup");
            store
                .put_findings(&repository, &index, PutMode::Create)
                .await
                .expect("put finding index");
        }
        configs.push(config);
    }
    configs
}

/// One rule on a finding every image has, nine on findings of one image each.
fn ten_rules() -> Suppressions {
    let rule = |vulnerability: String| {
        SuppressionSpec::new(
            RuleInput {
                vulnerability,
                reason: Some("accepted".into()),
                expires: Some(Expiry::Never),
                ..RuleInput::default()
            },
            Utc::now(),
        )
        .expect("a valid rule")
        .create()
    };
    let mut rules = vec![rule("CVE-2026-000007".into())];
    rules.extend((0..9u64).map(|image| rule(format!("CVE-2026-{:06}", 180 + 1_000 * (image + 1)))));
    Suppressions::active_at(rules, Utc::now())
}

/// The summary read one record per image: the recording backend without
/// its rollup view.
struct PerImageRecords(RecordingBackend);

#[async_trait::async_trait]
impl ScanBackend for PerImageRecords {
    async fn list_repositories(
        &self,
        registry: &str,
        region: &str,
    ) -> Result<Vec<String>, BackendError> {
        self.0.list_repositories(registry, region).await
    }
    async fn list_accounts(&self) -> Result<Vec<ecrscan_core::Account>, BackendError> {
        self.0.list_accounts().await
    }
    async fn resolve_images(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Resolution, BackendError> {
        self.0.resolve_images(repository, tags).await
    }
    async fn start_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<(), BackendError> {
        self.0.start_scan(repository, digest).await
    }
    async fn scan_result(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<LatestScan, BackendError> {
        self.0.scan_result(repository, digest).await
    }
}

fn summaries(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let options = ScanOptions::default();
    let mut group = c.benchmark_group("summary_200_findings_per_image");
    group.sample_size(10);

    let mut run = |name: String,
                   store: Arc<dyn Store>,
                   backend: Arc<dyn ScanBackend>,
                   images,
                   rules: &Suppressions| {
        // One summary as the CLI makes it: the configs listed, the rows
        // collected, the JSON streamed out (to a sink here); returns how
        // long collecting and rendering took.
        let summarize = || {
            runtime.block_on(async {
                let begun = std::time::Instant::now();
                let configs = store.list().await.expect("list").items;
                let summary = collect_summary(&configs, backend.as_ref(), &options, rules).await;
                let collected = begun.elapsed();
                assert_eq!(summary.rows.len(), images);
                assert!(summary.rows.iter().all(|row| {
                    row.result.scan.severity_counts.total() + row.result.suppressed_counts.total()
                        == FINDINGS_PER_IMAGE
                }));
                if !rules.is_empty() {
                    assert!(
                        summary
                            .rows
                            .iter()
                            .all(|row| { !row.result.suppressed_counts.is_empty() })
                    );
                }
                let begun = std::time::Instant::now();
                write_json_summary(&summary, Utc::now(), &mut std::io::sink()).expect("render");
                (collected, begun.elapsed())
            })
        };
        let ((collected, rendered), peak) = peak_heap_of(summarize);
        eprintln!(
            "{name}: peak heap of one summary: {:.1} MB; collected in {:.0} ms, rendered in {:.0} ms",
            peak as f64 / 1e6,
            collected.as_secs_f64() * 1e3,
            rendered.as_secs_f64() * 1e3,
        );
        group.bench_function(&name, |b| b.iter(summarize));
    };

    let none = Suppressions::none();
    let rules = ten_rules();
    for images in [1_000, 10_000, 100_000] {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        runtime.block_on(fill(store.as_ref(), images, false));
        let live = Arc::new(SimulatedEcr::new());
        let backend = Arc::new(RecordingBackend::new(
            live.clone(),
            Arc::clone(&store) as Arc<dyn ResultStore>,
            ReadFrom::Recorded,
        ));
        run(
            format!("rollups_{images}_images"),
            Arc::clone(&store),
            backend.clone(),
            images,
            &none,
        );
        run(
            format!("rollups_{images}_images_10_rules"),
            store,
            backend,
            images,
            &rules,
        );
        assert_eq!(live.calls(), 0, "answered without ECR");
    }

    let images = 1_000;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    runtime.block_on(fill(store.as_ref(), images, true));
    let live = Arc::new(SimulatedEcr::new());
    let backend = Arc::new(PerImageRecords(RecordingBackend::new(
        live.clone(),
        Arc::clone(&store) as Arc<dyn ResultStore>,
        ReadFrom::Recorded,
    )));
    run(
        format!("baseline_per_image_records_{images}_images"),
        store,
        backend,
        images,
        &none,
    );
    assert_eq!(live.calls(), 0, "answered without ECR");
    group.finish();
}

criterion_group!(benches, summaries);
criterion_main!(benches);
