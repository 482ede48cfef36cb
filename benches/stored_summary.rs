//! The summary of 5,000 images (1,000 configs × 5 tags) answered from
//! recorded results, in a local directory and in memory, with no call to
//! ECR; and, in the same run, the same summary over a backend answering at
//! once (the floor of the summary logic itself).
//!
//! `cargo bench -p ecrscan-core --bench stored_summary`

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use ecrscan_core::records::{DigestRecord, RecordedResolution, RecordedScan};
use ecrscan_core::render::write_text_summary;
use ecrscan_core::testing::SimulatedEcr;
use ecrscan_core::{
    ConfigSpec, ConfigStore, DigestScan, DirStore, Finding, Image, MemoryStore, PutMode, ReadFrom,
    RecordingBackend, Resolution, ResultStore, ScanConfig, ScanOptions, ScanStatus, Severity,
    Store, collect_summary,
};

const CONFIGS: usize = 1_000;
const TAGS: usize = 5;

fn digest(config: usize, tag: usize) -> String {
    format!("sha256:{:016x}{:048x}", config, tag)
}

fn scan() -> DigestScan {
    let mut scan = DigestScan::without_findings(ScanStatus::Complete, None);
    scan.scan_completed_at = Some(Utc.timestamp_opt(1_764_230_400, 0).unwrap());
    for (i, severity) in [Severity::High, Severity::Medium, Severity::Low]
        .into_iter()
        .enumerate()
    {
        let mut finding = Finding::new(format!("CVE-2026-{i:04}"), severity);
        finding.description = Some(
            "A flaw in a package allows remote attackers to cause a denial of service.".into(),
        );
        finding.package_name = Some("openssl".into());
        scan.severity_counts.add(severity, 1);
        scan.findings.push(finding);
    }
    scan
}

fn resolution(config: usize) -> Resolution {
    Resolution {
        images: (0..TAGS)
            .map(|t| Image {
                digest: digest(config, t),
                tags: vec![format!("t{t}")],
            })
            .collect(),
        missing_tags: vec![],
    }
}

/// A simulated ECR that answers at once, holding every config's images,
/// each scanned with `scan()`'s findings; counts its calls.
fn simulated_ecr(configs: &[ScanConfig]) -> SimulatedEcr {
    let scanned_at = Utc.timestamp_opt(1_764_230_400, 0).unwrap();
    let mut ecr = SimulatedEcr::new();
    for (i, config) in configs.iter().enumerate() {
        let repository = config.repository_ref();
        for t in 0..TAGS {
            let tag = format!("t{t}");
            ecr = ecr
                .with_image(&repository, &digest(i, t), &[&tag])
                .with_findings(&digest(i, t), scan().findings)
                .with_scan(&repository, &digest(i, t), scanned_at);
        }
    }
    ecr
}

async fn fill(store: &dyn Store) -> Vec<ScanConfig> {
    let recorded_at = Utc::now();
    let mut configs = Vec::new();
    for i in 0..CONFIGS {
        let tags: Vec<String> = (0..TAGS).map(|t| format!("t{t}")).collect();
        let spec = ConfigSpec::new(
            "us-west-2",
            "123456789012",
            format!("fleet/service-{i}"),
            tags.clone(),
        )
        .expect("valid");
        let config = ScanConfig::create(spec, recorded_at);
        store.put(&config).await.expect("put config");
        let repository = config.repository_ref();
        let resolution = RecordedResolution {
            recorded_at,
            resolution: resolution(i),
        };
        store
            .put_resolution(&repository, &tags, &resolution)
            .await
            .expect("put resolution");
        for t in 0..TAGS {
            let record = DigestRecord {
                results: vec![RecordedScan::new(scan(), recorded_at)],
                scan_started_at: None,
                findings_changed_at: None,
            };
            store
                .put_digest(&repository, &digest(i, t), &record, PutMode::Create)
                .await
                .expect("put scan");
        }
        configs.push(config);
    }
    configs
}

fn stored_summary(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let dir_store: Arc<dyn Store> =
        runtime.block_on(async { Arc::new(DirStore::open(dir.path()).await.expect("open")) });
    let memory_store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let configs = runtime.block_on(async {
        fill(dir_store.as_ref()).await;
        fill(memory_store.as_ref()).await
    });
    let options = ScanOptions { concurrency: 64 };

    let mut group = c.benchmark_group("summary_5000_images");
    group.sample_size(10);
    for (name, store) in [
        ("from_directory_store", &dir_store),
        ("from_memory_store", &memory_store),
    ] {
        let live = Arc::new(simulated_ecr(&configs));
        let backend = RecordingBackend::new(
            live.clone(),
            Arc::clone(store) as Arc<dyn ResultStore>,
            ReadFrom::Recorded,
        );
        let configs_store: Arc<dyn ConfigStore> = Arc::clone(store) as Arc<dyn ConfigStore>;
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let configs = configs_store.list().await.expect("list").items;
                    let summary = collect_summary(&configs, &backend, &options).await;
                    let mut out = Vec::new();
                    write_text_summary(&summary, &mut out).expect("render");
                    assert_eq!(summary.rows.len(), CONFIGS * TAGS);
                    out.len()
                })
            })
        });
        assert_eq!(live.calls(), 0, "{name} answered without ECR");
    }
    // The floor: the same summary over a backend that answers at once, configs in memory.
    let configs = runtime.block_on(memory_store.list()).expect("list").items;
    let instant = simulated_ecr(&configs);
    group.bench_function("logic_only_instant_backend", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let summary = collect_summary(&configs, &instant, &options).await;
                let mut out = Vec::new();
                write_text_summary(&summary, &mut out).expect("render");
                out.len()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, stored_summary);
criterion_main!(benches);
