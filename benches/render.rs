//! Renderer benchmarks: the text summary, the JSON summary and the Atom feed
//! at 100, 10,000 and 100,000 findings, against a baseline in the same run:
//! the same findings written as JSON by serde_json (`json_findings`); and
//! the first 4 MiB page of the feed, as the HTTP API answers. Each
//! gets its time (criterion, writing into a `Vec`) and the peak heap memory of one render against the size of its
//! output (printed first): the renderer's own, writing to a sink that keeps
//! nothing, and with the output collected in a `Vec`.
//!
//! `cargo bench -p ecrscan-core --bench render`

use std::hint::black_box;
use std::io::{self, Write};

#[global_allocator]
static ALLOCATOR: PeakHeap = PeakHeap;

/// One renderer, writing to the given output.
type Render<'a> = dyn Fn(&mut dyn Write) + 'a;

/// Counts the bytes written to it and keeps none.
struct CountingSink(usize);

impl Write for CountingSink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

use chrono::{TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ecrscan_core::render::{
    FeedOptions, FeedPage, write_atom_feed, write_json_findings, write_json_summary,
    write_text_summary,
};
use ecrscan_core::testing::{PeakHeap, peak_heap_of};
use ecrscan_core::{
    ConfigSpec, DigestScan, Finding, ImageRef, ImageScanResult, Origin, ScanConfig, ScanStatus,
    Severity, SeverityCounts, Summary, SummaryRow,
};

const FINDINGS_PER_IMAGE: usize = 100;

fn results(findings: usize) -> (ScanConfig, Vec<ImageScanResult>) {
    let now = Utc.timestamp_opt(1_764_230_400, 0).unwrap();
    let spec = ConfigSpec::new(
        "us-west-2",
        "123456789012",
        "bench/app",
        Vec::<String>::new(),
    )
    .expect("valid");
    let config = ScanConfig::create(spec, now);
    let images = findings.div_ceil(FINDINGS_PER_IMAGE);
    let results = (0..images)
        .map(|image| {
            let count = FINDINGS_PER_IMAGE.min(findings - image * FINDINGS_PER_IMAGE);
            let findings: Vec<Finding> = (0..count)
                .map(|i| {
                    let mut f = Finding::new(format!("CVE-2026-{i:05}"), Severity::ALL[i % 7]);
                    f.description = Some(format!(
                        "A <crafted> input & \"quoted\" text in package {i} allows remote attackers to cause a denial of service."
                    ));
                    f.uri = Some(format!("https://security-tracker.debian.org/tracker/CVE-2026-{i:05}"));
                    f.package_name = Some(format!("package-{i}"));
                    f.package_version = Some("1.2.3-4".into());
                    f
                })
                .collect();
            ImageScanResult {
                image: ImageRef {
                    repository: "bench/app".into(),
                    tag: Some(format!("v{image}")),
                    digest: Some(format!("sha256:{image:064x}")),
                    ..ImageRef::default()
                },
                scan: DigestScan {
                    status: ScanStatus::Complete,
                    status_description: None,
                    scan_completed_at: Some(now),
                    vulnerability_source_updated_at: None,
                    severity_counts: findings.iter().map(|f| (f.severity, 1)).collect::<SeverityCounts>(),
                    findings,
                },
                origin: Origin::Live,
                findings_changed_at: None,
                suppressed_counts: SeverityCounts::new(),
            }
        })
        .collect();
    (config, results)
}

fn renderers(c: &mut Criterion) {
    let now = Utc.timestamp_opt(1_764_234_000, 0).unwrap();
    let mut group = c.benchmark_group("render");
    group.sample_size(10);
    for findings in [100usize, 10_000, 100_000] {
        let (config, results) = results(findings);
        let summary = Summary {
            rows: results
                .iter()
                .map(|result| SummaryRow {
                    config_id: config.id,
                    region: config.region.clone(),
                    registry: config.registry.clone(),
                    result: result.clone(),
                })
                .collect(),
            ..Summary::default()
        };
        let renders: [(&str, &Render); 3] = [
            ("atom_feed", &|out| {
                write_atom_feed(&config, &results, now, &FeedOptions::default(), out).unwrap()
            }),
            ("text_summary", &|out| {
                write_text_summary(&summary, out).unwrap()
            }),
            ("json_summary", &|out| {
                write_json_summary(&summary, now, out).unwrap()
            }),
        ];
        for (name, render) in renders {
            let (output, own_peak) = peak_heap_of(|| {
                let mut sink = CountingSink(0);
                render(&mut sink);
                sink.0
            });
            let (_, vec_peak) = peak_heap_of(|| {
                let mut out = Vec::new();
                render(&mut out);
                out.len()
            });
            eprintln!(
                "{name} of {findings} findings: output {output} bytes; peak heap of the renderer \
                 {own_peak} bytes ({:.2}x the output), with the output collected in a Vec \
                 {vec_peak} bytes ({:.2}x)",
                own_peak as f64 / output as f64,
                vec_peak as f64 / output as f64,
            );
        }
        group.throughput(Throughput::Elements(findings as u64));
        group.bench_with_input(
            BenchmarkId::new("atom_feed", findings),
            &results,
            |b, results| {
                b.iter(|| {
                    let mut out = Vec::new();
                    write_atom_feed(&config, results, now, &FeedOptions::default(), &mut out)
                        .unwrap();
                    black_box(out.len())
                })
            },
        );
        // What the HTTP API answers: the first page of at most 4 MiB.
        group.bench_with_input(
            BenchmarkId::new("atom_feed_first_page", findings),
            &results,
            |b, results| {
                let options = FeedOptions {
                    page: Some(FeedPage {
                        start: 0,
                        max_bytes: 4 * 1024 * 1024,
                    }),
                    ..FeedOptions::default()
                };
                b.iter(|| {
                    let mut out = Vec::new();
                    write_atom_feed(&config, results, now, &options, &mut out).unwrap();
                    black_box(out.len())
                })
            },
        );
        // The baseline: the same findings as JSON, by serde_json.
        group.bench_with_input(
            BenchmarkId::new("json_findings", findings),
            &results,
            |b, results| {
                b.iter(|| {
                    let mut out = Vec::new();
                    write_json_findings(results, None, &mut out).unwrap();
                    black_box(out.len())
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("text_summary", findings),
            &summary,
            |b, summary| {
                b.iter(|| {
                    let mut out = Vec::new();
                    write_text_summary(summary, &mut out).unwrap();
                    black_box(out.len())
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("json_summary", findings),
            &summary,
            |b, summary| {
                b.iter(|| {
                    let mut out = Vec::new();
                    write_json_summary(summary, now, &mut out).unwrap();
                    black_box(out.len())
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, renderers);
criterion_main!(benches);
