use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{TimeZone, Utc};
use mockall::predicate::{always, eq};

use super::*;
use crate::backend::{Image, MockScanBackend};
use crate::finding::{DigestScan, Finding};
use crate::severity::{Severity, SeverityCounts};

fn config(repository: &str, tags: &[&str]) -> ScanConfig {
    crate::conformance::sample_config(repository, tags, 1_569_927_812)
}

fn image(digest: &str, tags: &[&str]) -> Image {
    Image {
        digest: digest.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..Image::default()
    }
}

fn resolution(images: Vec<Image>, missing: &[&str]) -> Resolution {
    Resolution {
        images,
        missing_tags: missing.iter().map(|t| t.to_string()).collect(),
    }
}

fn repo(name: &str) -> RepositoryRef {
    RepositoryRef {
        region: "us-west-2".into(),
        registry: "123456789012".into(),
        repository: name.into(),
    }
}

fn complete(counts: &[(Severity, u64)]) -> DigestScan {
    let findings = counts
        .iter()
        .flat_map(|&(severity, count)| {
            (0..count).map(move |i| Finding::new(format!("CVE-2026-{i:04}"), severity))
        })
        .collect();
    DigestScan {
        status: ScanStatus::Complete,
        status_description: None,
        scan_completed_at: Some(Utc.timestamp_opt(1_700_000_000, 0).unwrap()),
        vulnerability_source_updated_at: None,
        severity_counts: counts.iter().copied().collect::<SeverityCounts>(),
        findings,
    }
}

#[tokio::test]
async fn rescan_scans_each_digest_once_and_reports_every_tag() {
    // Two tags of one digest, a missing tag, and a second config naming the same digest.
    let ubuntu = config("test/ubuntu", &["16.04", "latest", "gone"]);
    let ubuntu_again = config("test/ubuntu", &["latest"]);
    let mut backend = MockScanBackend::new();
    backend
        .expect_resolve_images()
        .with(eq(repo("test/ubuntu")), always())
        .times(2)
        .returning(|_, tags| {
            if tags.len() == 3 {
                Ok(resolution(
                    vec![image("sha256:u", &["16.04", "latest"])],
                    &["gone"],
                ))
            } else {
                Ok(resolution(vec![image("sha256:u", &["latest"])], &[]))
            }
        });
    backend
        .expect_start_scan()
        .with(eq(repo("test/ubuntu")), eq("sha256:u"))
        .times(1)
        .returning(|_, _| Ok(()));

    let report = rescan(
        &[ubuntu.clone(), ubuntu_again.clone()],
        &backend,
        &ScanOptions::default(),
    )
    .await;

    let rows: Vec<(Uuid, Option<&str>, ScanOutcome)> = report
        .images
        .iter()
        .map(|row| (row.config_id, row.tag.as_deref(), row.outcome))
        .collect();
    assert_eq!(
        rows,
        vec![
            (ubuntu.id, Some("16.04"), ScanOutcome::Started),
            (ubuntu.id, Some("latest"), ScanOutcome::Started),
            (ubuntu.id, Some("gone"), ScanOutcome::Failed),
            (ubuntu_again.id, Some("latest"), ScanOutcome::Started),
        ]
    );
    assert_eq!(report.images[0].digest.as_deref(), Some("sha256:u"));
    assert!(
        report.images[2]
            .reason
            .as_deref()
            .unwrap()
            .contains("tag gone not found")
    );
    assert_eq!(
        (
            report.started,
            report.failed,
            report.already_scanned,
            report.continuous
        ),
        (3, 1, 0, 0)
    );
}

#[tokio::test]
async fn rescan_maps_backend_errors_to_outcomes_and_never_stops() {
    let configs = [
        config("quota/hit", &["a"]),
        config("enhanced/repo", &["b"]),
        config("throttled/repo", &["c"]),
        config("missing/repo", &["x", "y"]),
        config("all/tags", &[]),
        config("denied/repo", &[]),
    ];
    let mut backend = MockScanBackend::new();
    backend
        .expect_resolve_images()
        .times(6)
        .returning(|repository, tags| match repository.repository.as_str() {
            "missing/repo" => Err(BackendError::RepositoryNotFound {
                repository: repository.clone(),
            }),
            "denied/repo" => Err(BackendError::AccessDenied {
                action: "ecr:DescribeImages".into(),
                message: "not authorized".into(),
            }),
            "all/tags" => Ok(resolution(
                vec![
                    image("sha256:b2", &["v2"]),
                    image("sha256:a1", &["v1", "latest"]),
                ],
                &[],
            )),
            _ => Ok(resolution(
                vec![image(&format!("sha256:{}", tags[0]), &[&tags[0]])],
                &[],
            )),
        });
    backend
        .expect_start_scan()
        .times(5)
        .returning(|_, digest| match digest {
            "sha256:a" => Err(BackendError::ScanQuotaExceeded),
            "sha256:b" => Err(BackendError::ContinuousScanning),
            "sha256:c" => Err(BackendError::Throttled {
                code: "ThrottlingException".into(),
            }),
            _ => Ok(()),
        });

    let report = rescan(&configs, &backend, &ScanOptions { concurrency: 3 }).await;

    let rows: Vec<(&str, Option<&str>, ScanOutcome)> = report
        .images
        .iter()
        .map(|row| (row.repository.as_str(), row.tag.as_deref(), row.outcome))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("quota/hit", Some("a"), ScanOutcome::AlreadyScanned),
            ("enhanced/repo", Some("b"), ScanOutcome::Continuous),
            ("throttled/repo", Some("c"), ScanOutcome::Failed),
            ("missing/repo", Some("x"), ScanOutcome::Failed),
            ("missing/repo", Some("y"), ScanOutcome::Failed),
            ("all/tags", Some("latest"), ScanOutcome::Started),
            ("all/tags", Some("v1"), ScanOutcome::Started),
            ("all/tags", Some("v2"), ScanOutcome::Started),
            ("denied/repo", None, ScanOutcome::Failed),
        ]
    );
    assert!(
        report.images[2]
            .reason
            .as_deref()
            .unwrap()
            .contains("ThrottlingException")
    );
    assert!(
        report.images[3]
            .reason
            .as_deref()
            .unwrap()
            .contains("not found")
    );
    assert!(
        report.images[8]
            .reason
            .as_deref()
            .unwrap()
            .contains("ecr:DescribeImages")
    );
    assert_eq!(report.images[0].reason, None);
    assert_eq!(
        (
            report.started,
            report.already_scanned,
            report.continuous,
            report.failed
        ),
        (3, 1, 1, 4)
    );
}

#[tokio::test]
async fn rescan_report_json_has_the_documented_shape() {
    let cfg = config("test/centos", &["7"]);
    let mut backend = MockScanBackend::new();
    backend
        .expect_resolve_images()
        .returning(|_, _| Ok(resolution(vec![image("sha256:c", &["7"])], &[])));
    backend.expect_start_scan().returning(|_, _| Ok(()));
    let report = rescan(
        std::slice::from_ref(&cfg),
        &backend,
        &ScanOptions::default(),
    )
    .await;
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "images": [{
                "config_id": cfg.id.to_string(),
                "registry": "123456789012",
                "region": "us-west-2",
                "repository": "test/centos",
                "tag": "7",
                "digest": "sha256:c",
                "outcome": "started",
                "reason": null
            }],
            "started": 1, "already_scanned": 0, "continuous": 0, "failed": 0
        })
    );
}

#[tokio::test]
async fn summary_reads_each_digest_once_and_keeps_statuses() {
    let ubuntu = config("test/ubuntu", &["16.04", "latest", "gone"]);
    let centos = config("test/centos", &["7"]);
    let missing = config("missing/repo", &[]);
    let mut backend = MockScanBackend::new();
    backend
        .expect_resolve_images()
        .times(3)
        .returning(|repository, _| match repository.repository.as_str() {
            "test/ubuntu" => Ok(resolution(
                vec![image("sha256:u", &["16.04", "latest"])],
                &["gone"],
            )),
            "test/centos" => Ok(resolution(vec![image("sha256:c", &["7"])], &[])),
            _ => Err(BackendError::RepositoryNotFound {
                repository: repository.clone(),
            }),
        });
    backend
        .expect_scan_result()
        .with(eq(repo("test/ubuntu")), eq("sha256:u"))
        .times(1)
        .returning(|_, _| Ok(complete(&[(Severity::High, 2), (Severity::Low, 1)]).into()));
    backend
        .expect_scan_result()
        .with(eq(repo("test/centos")), eq("sha256:c"))
        .times(1)
        .returning(|_, _| Ok(DigestScan::without_findings(ScanStatus::NotScanned, None).into()));

    // Asked once, for each repository once.
    backend
        .expect_summary_view()
        .withf(|repositories: &[RepositoryRef], wanted| {
            let names: Vec<&str> = repositories.iter().map(|r| r.repository.as_str()).collect();
            names == ["missing/repo", "test/centos", "test/ubuntu"] && wanted.is_none()
        })
        .times(1)
        .returning(|_, _| None);
    let summary = collect_summary(
        &[ubuntu, centos, missing],
        &backend,
        &ScanOptions::default(),
        &crate::suppress::Suppressions::none(),
    )
    .await;

    let rows: Vec<(&str, Option<&str>, ScanStatus, u64)> = summary
        .rows
        .iter()
        .map(|row| {
            (
                row.result.image.repository.as_str(),
                row.result.image.tag.as_deref(),
                row.result.scan.status,
                row.result.scan.severity_counts.total(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("test/ubuntu", Some("16.04"), ScanStatus::Complete, 3),
            ("test/ubuntu", Some("latest"), ScanStatus::Complete, 3),
            ("test/ubuntu", Some("gone"), ScanStatus::TagNotFound, 0),
            ("test/centos", Some("7"), ScanStatus::NotScanned, 0),
            ("missing/repo", None, ScanStatus::RepositoryNotFound, 0),
        ]
    );
    // A summary holds counts, not findings.
    assert!(
        summary
            .rows
            .iter()
            .all(|row| row.result.scan.findings.is_empty())
    );
    assert!(!summary.any_pending());
}

#[tokio::test]
async fn summary_turns_a_failed_read_into_a_failed_row() {
    let cfg = config("flaky/repo", &["a", "b"]);
    let mut backend = MockScanBackend::new();
    backend.expect_resolve_images().returning(|_, _| {
        Ok(resolution(
            vec![image("sha256:a", &["a"]), image("sha256:b", &["b"])],
            &[],
        ))
    });
    backend.expect_summary_view().returning(|_, _| None);
    backend
        .expect_scan_result()
        .times(2)
        .returning(|_, digest| {
            if digest == "sha256:a" {
                Err(BackendError::Timeout {
                    action: "ecr:DescribeImageScanFindings".into(),
                })
            } else {
                Ok(DigestScan::without_findings(ScanStatus::InProgress, None).into())
            }
        });
    let summary = collect_summary(
        std::slice::from_ref(&cfg),
        &backend,
        &ScanOptions::default(),
        &crate::suppress::Suppressions::none(),
    )
    .await;
    assert_eq!(summary.rows[0].result.scan.status, ScanStatus::Failed);
    assert!(
        summary.rows[0]
            .result
            .scan
            .status_description
            .as_deref()
            .unwrap()
            .contains("timed out")
    );
    assert_eq!(summary.rows[1].result.scan.status, ScanStatus::InProgress);
    assert!(summary.any_pending());
}

#[tokio::test]
async fn progress_reports_every_finished_call() {
    let cfg = config("many/images", &[]);
    let mut backend = MockScanBackend::new();
    backend.expect_resolve_images().returning(|_, _| {
        Ok(resolution(
            (0..40)
                .map(|i| image(&format!("sha256:{i:02}"), &[&format!("t{i:02}")]))
                .collect(),
            &[],
        ))
    });
    backend
        .expect_start_scan()
        .times(40)
        .returning(|_, _| Ok(()));
    let seen = std::sync::Mutex::new(Vec::new());
    let report = rescan_with_progress(
        std::slice::from_ref(&cfg),
        &backend,
        &ScanOptions { concurrency: 4 },
        &|p: Progress| seen.lock().unwrap().push((p.done, p.total)),
    )
    .await;
    assert_eq!(report.started, 40);
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 41);
    assert_eq!(seen.first(), Some(&(0, 40)));
    assert_eq!(seen.last(), Some(&(40, 40)));
    assert!(seen.windows(2).all(|w| w[1].0 == w[0].0 + 1));
}

/// A backend whose calls take time, to observe real overlap.
#[derive(Default)]
struct SlowBackend {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

#[async_trait::async_trait]
impl ScanBackend for SlowBackend {
    async fn list_repositories(&self, _: &str, _: &str) -> Result<Vec<String>, BackendError> {
        Ok(Vec::new())
    }
    async fn list_accounts(&self) -> Result<Vec<crate::backend::Account>, BackendError> {
        Ok(Vec::new())
    }
    async fn resolve_images(
        &self,
        _: &RepositoryRef,
        _: &[String],
    ) -> Result<Resolution, BackendError> {
        Ok(resolution(
            (0..24)
                .map(|i| image(&format!("sha256:{i:02}"), &[&format!("t{i:02}")]))
                .collect(),
            &[],
        ))
    }
    async fn start_scan(&self, _: &RepositoryRef, _: &str) -> Result<(), BackendError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
    async fn scan_result(&self, _: &RepositoryRef, _: &str) -> Result<LatestScan, BackendError> {
        self.start_scan(&repo("x"), "").await?;
        Ok(DigestScan::without_findings(ScanStatus::NotScanned, None).into())
    }
}

#[tokio::test]
async fn calls_overlap_up_to_the_concurrency_and_no_further() {
    let backend = SlowBackend {
        in_flight: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    };
    let cfg = config("slow/repo", &[]);
    rescan(
        std::slice::from_ref(&cfg),
        &backend,
        &ScanOptions { concurrency: 6 },
    )
    .await;
    assert_eq!(backend.peak.load(Ordering::SeqCst), 6);
    backend.peak.store(0, Ordering::SeqCst);
    collect_summary(
        std::slice::from_ref(&cfg),
        &backend,
        &ScanOptions { concurrency: 1 },
        &crate::suppress::Suppressions::none(),
    )
    .await;
    assert_eq!(backend.peak.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn collect_results_gives_one_configs_rows_with_their_findings() {
    let cfg = config("test/ubuntu", &["latest", "16.04"]);
    let mut backend = MockScanBackend::new();
    backend.expect_resolve_images().returning(|_, _| {
        Ok(resolution(
            vec![image("sha256:u", &["latest", "16.04"])],
            &[],
        ))
    });
    backend
        .expect_scan_result()
        .times(1)
        .returning(|_, _| Ok(complete(&[(Severity::Critical, 1), (Severity::Low, 2)]).into()));
    // Feeds read the results themselves, never a summary view.
    backend.expect_summary_view().never();
    let results = collect_results(
        &cfg,
        &backend,
        &ScanOptions::default(),
        &crate::suppress::Suppressions::none(),
        crate::scan::SuppressedFindings::Hidden,
    )
    .await;
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].image.tag.as_deref(), Some("latest"));
    assert_eq!(results[0].scan.severity_counts.get(Severity::Critical), 1);
    // Both tags of the shared digest carry all its findings.
    assert_eq!(results[0].scan.findings.len(), 3);
    assert_eq!(results[1].scan.findings, results[0].scan.findings);
}

/// A backend for plan tests: two repositories, one failing; scans succeed
/// except on `sha256:quota`, which was scanned today.
fn planned_backend(starts: usize) -> MockScanBackend {
    let mut backend = MockScanBackend::new();
    backend.expect_resolve_images().returning(|repository, _| {
        match repository.repository.as_str() {
            "test/ubuntu" => Ok(resolution(
                vec![
                    image("sha256:a", &["16.04", "latest"]),
                    image("sha256:quota", &["old"]),
                ],
                &["gone"],
            )),
            "test/centos" => Ok(resolution(vec![image("sha256:c", &["7"])], &[])),
            _ => Err(BackendError::RepositoryNotFound {
                repository: repository.clone(),
            }),
        }
    });
    backend
        .expect_start_scan()
        .times(starts)
        .returning(|_, digest| {
            if digest == "sha256:quota" {
                Err(BackendError::ScanQuotaExceeded)
            } else {
                Ok(())
            }
        });
    backend
}

fn planned_configs() -> Vec<ScanConfig> {
    vec![
        config("test/ubuntu", &["16.04", "latest", "old", "gone"]),
        config("test/missing", &["1"]),
        config("test/centos", &[]),
        config("test/ubuntu", &["latest"]),
    ]
}

#[tokio::test]
async fn plan_then_execute_in_slices_makes_the_same_calls_and_report_as_rescan() {
    let configs = planned_configs();
    let whole = rescan(&configs, &planned_backend(3), &ScanOptions::default()).await;

    let backend = planned_backend(3);
    let plan = plan(&configs, &backend, &ScanOptions::default()).await;
    assert_eq!(plan.images.len(), 3, "each digest once: {:?}", plan.images);
    // The plan travels as JSON (a queue message) and comes back the same.
    let json = serde_json::to_string(&plan).unwrap();
    let plan: ScanPlan = serde_json::from_str(&json).unwrap();
    let (first, second) = plan.images.split_at(1);
    let mut execution = execute(first, &backend, &ScanOptions::default(), None, &|_| {}).await;
    let rest = execute(second, &backend, &ScanOptions::default(), None, &|_| {}).await;
    execution.done.extend(rest.done);
    let sliced = plan.report(&execution);
    assert_eq!(sliced, whole);
    assert_eq!(
        (
            whole.started,
            whole.already_scanned,
            whole.failed,
            whole.not_reached
        ),
        (4, 1, 2, 0),
        "{whole:?}"
    );
}

#[tokio::test]
async fn a_deadline_stops_starting_work_and_reports_the_rest() {
    let configs = planned_configs();
    let backend = planned_backend(0);
    let plan = plan(&configs, &backend, &ScanOptions::default()).await;
    let past = tokio::time::Instant::now();
    let execution = execute(
        &plan.images,
        &backend,
        &ScanOptions::default(),
        Some(past),
        &|_| {},
    )
    .await;
    assert!(execution.done.is_empty());
    assert_eq!(execution.not_reached, plan.images, "in plan order");
    let report = plan.report(&execution);
    assert_eq!(report.not_reached, 5, "{report:?}");
    assert_eq!(
        report.failed, 2,
        "the missing tag and repository still fail"
    );
    assert_eq!(
        execution.outcome_of(&plan.images[0]).map(|o| o.outcome),
        Some(ScanOutcome::NotReached)
    );
}

#[tokio::test(start_paused = true)]
async fn a_deadline_in_the_middle_of_a_run_lets_started_calls_finish() {
    let backend = SlowBackend::default();
    let configs = vec![config("test/slow", &[])];
    let plan = plan(&configs, &backend, &ScanOptions { concurrency: 2 }).await;
    assert_eq!(plan.images.len(), 24);
    // Each start takes 5 ms; two at a time: 12 ms lets three pairs start.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(12);
    let execution = execute(
        &plan.images,
        &backend,
        &ScanOptions { concurrency: 2 },
        Some(deadline),
        &|_| {},
    )
    .await;
    assert_eq!(execution.done.len(), 6, "{execution:?}");
    assert_eq!(execution.not_reached.len(), 18);
    assert_eq!(&execution.not_reached[..], &plan.images[6..]);
}

#[tokio::test]
async fn a_plan_past_its_deadline_resolves_nothing_and_reports_not_reached() {
    let mut backend = MockScanBackend::new();
    backend.expect_resolve_images().never();
    let cfg = config("late/repo", &["a", "b"]);
    let plan = plan_until(
        std::slice::from_ref(&cfg),
        &backend,
        &ScanOptions::default(),
        Some(tokio::time::Instant::now()),
    )
    .await;
    assert!(plan.images.is_empty());
    assert_eq!(
        plan.configs[0].repositories[0].selection,
        Selection::NotReached {
            tags: vec![Some("a".into()), Some("b".into())]
        }
    );
    let report = plan.report(&Execution::default());
    assert_eq!(report.not_reached, 2);
    assert_eq!(report.failed, 0);
}

mod selections {
    use super::*;
    use crate::config::{ConfigSpec, SelectionOptions};
    use crate::testing::organization::{
        CENTRAL, LOCKED, PAYMENTS, REGION, example_config, example_organization,
    };

    /// A second config sharing the first's listings: every tagged `v1.*`
    /// image of `prod/api` in the caller's account.
    fn central_api_config() -> ScanConfig {
        let spec = ConfigSpec::with_options(
            REGION,
            CENTRAL,
            "prod/a*",
            ["v1.*"],
            SelectionOptions::default(),
        )
        .unwrap();
        ScanConfig::create(spec, Utc::now())
    }

    #[tokio::test]
    async fn listings_are_made_once_per_run_however_many_configs_share_them() {
        let ecr = example_organization(Utc::now());
        let configs = vec![example_config(Utc::now()), central_api_config()];
        let plan = plan(&configs, &ecr, &ScanOptions::default()).await;
        assert_eq!(ecr.calls_of("list_accounts"), 1);
        assert_eq!(
            ecr.calls_of("list_repositories"),
            3,
            "central (shared by both configs), payments and the locked account"
        );
        assert_eq!(
            ecr.calls_of("resolve_images"),
            2,
            "prod/api once for both configs, prod/worker"
        );
        let digests: Vec<&str> = plan.images.iter().map(|i| i.digest.as_str()).collect();
        assert_eq!(digests, ["sha256:a1", "sha256:a2", "sha256:w1"]);
    }

    #[tokio::test]
    async fn a_role_that_cannot_be_assumed_fails_only_its_accounts_rows() {
        let ecr = example_organization(Utc::now());
        let configs = vec![example_config(Utc::now())];
        let report = rescan(&configs, &ecr, &ScanOptions::default()).await;
        let rows: Vec<(&str, &str, Option<&str>, ScanOutcome)> = report
            .images
            .iter()
            .map(|r| {
                (
                    r.registry.as_str(),
                    r.repository.as_str(),
                    r.tag.as_deref(),
                    r.outcome,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (CENTRAL, "prod/api", Some("v1.0"), ScanOutcome::Started),
                (CENTRAL, "prod/api", Some("v1.1"), ScanOutcome::Started),
                (PAYMENTS, "prod/worker", Some("v2"), ScanOutcome::Started),
                (LOCKED, "prod/*", None, ScanOutcome::Failed),
            ]
        );
        assert_eq!(
            report.images[3].reason.as_deref(),
            Some("cannot assume arn:aws:iam::555555555555:role/ecrscan-reader: AccessDenied")
        );
        assert_eq!((report.started, report.failed), (3, 1));
        assert_eq!(ecr.calls_of("start_scan"), 3);
    }

    #[tokio::test]
    async fn an_organization_that_cannot_be_listed_fails_its_config_and_no_other() {
        let ecr = crate::testing::SimulatedEcr::new().with_image(
            &repo("test/ubuntu"),
            "sha256:aa",
            &["latest"],
        );
        let configs = vec![
            example_config(Utc::now()),
            config("test/ubuntu", &["latest"]),
        ];
        let report = rescan(&configs, &ecr, &ScanOptions::default()).await;
        assert_eq!((report.started, report.failed), (1, 1), "{report:?}");
        let failed = &report.images[0];
        assert_eq!(failed.config_id, configs[0].id);
        assert!(
            failed
                .reason
                .as_deref()
                .is_some_and(|r| r.starts_with("organizations:ListAccounts failed")),
            "{failed:?}"
        );
    }
}

#[tokio::test]
async fn enhanced_scanning_gaps_are_reported_per_repository() {
    let configs = vec![
        config("prod/api", &["v1"]),
        config("dev/api", &["v1"]),
        config("sandbox/api", &["v1"]),
    ];
    let mut backend = MockScanBackend::new();
    backend.expect_resolve_images().returning(|repository, _| {
        Ok(resolution(
            vec![image(
                &format!("sha256:{}", repository.repository.len()),
                &["v1"],
            )],
            &[],
        ))
    });
    backend
        .expect_start_scan()
        .returning(|repository, _| match repository.repository.as_str() {
            "prod/api" => Err(BackendError::ContinuousScanning),
            "dev/api" => Err(BackendError::ScanOnPushOnly),
            _ => Err(BackendError::NotCovered),
        });
    let report = rescan(&configs, &backend, &ScanOptions::default()).await;
    let outcomes: Vec<(ScanOutcome, Option<&str>)> = report
        .images
        .iter()
        .map(|row| (row.outcome, row.reason.as_deref()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (ScanOutcome::Continuous, None),
            (ScanOutcome::ScanOnPush, None),
            (
                ScanOutcome::NotCovered,
                Some("no rule of the registry's enhanced scanning covers this repository")
            ),
        ]
    );
    assert_eq!(
        (
            report.continuous,
            report.scan_on_push,
            report.not_covered,
            report.failed
        ),
        (1, 1, 1, 0)
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["scan_on_push"], 1);
    assert_eq!(json["not_covered"], 1);
    assert_eq!(json["images"][1]["outcome"], "scan_on_push");
}
