//! What the emulator cannot show — pagination (moto ignores `maxResults` and
//! `nextToken`), retries and every AWS error — tested against the SDK with
//! `aws-smithy-mocks`.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_ecr::operation::describe_image_scan_findings::DescribeImageScanFindingsOutput;
use aws_sdk_ecr::operation::describe_images::DescribeImagesOutput;
use aws_sdk_ecr::operation::get_registry_scanning_configuration::GetRegistryScanningConfigurationOutput;
use aws_sdk_ecr::operation::start_image_scan::StartImageScanOutput;
use aws_sdk_ecr::types::{
    Attribute, EnhancedImageScanFinding, FindingSeverity, ImageDetail, ImageScanFinding,
    ImageScanFindings, ImageScanStatus, PackageVulnerabilityDetails, RegistryScanningConfiguration,
    ScanStatus as EcrScanStatus, ScanType, VulnerablePackage,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use ecrscan_core::finding::FindingKind;
use ecrscan_core::{
    BackendError, ConfigStore, EcrBackend, RepositoryRef, S3Store, ScanBackend, ScanStatus,
    Severity,
};

fn repository() -> RepositoryRef {
    RepositoryRef {
        region: "us-west-2".into(),
        registry: "123456789012".into(),
        repository: "test/ubuntu".into(),
    }
}

fn retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
}

fn backend(rules: &[&Rule]) -> EcrBackend {
    backend_with(rules, ecrscan_core::EcrBackendOptions::default())
}

fn backend_with(rules: &[&Rule], options: ecrscan_core::EcrBackendOptions) -> EcrBackend {
    let client = mock_client!(aws_sdk_ecr, RuleMode::MatchAny, rules, |b| b
        .retry_config(retries()));
    let sdk_config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    EcrBackend::with_options(&sdk_config, options).with_client("123456789012", "us-west-2", client)
}

/// Where the rates of the test repository's calls apply: its account in its region.
fn place() -> String {
    EcrBackend::rate_place("123456789012", "us-west-2")
}

fn aws_error(code: &str, message: &str) -> String {
    format!(r#"{{"__type":"{code}","message":"{message}"}}"#)
}

fn basic_registry() -> Rule {
    mock!(aws_sdk_ecr::Client::get_registry_scanning_configuration).then_output(|| {
        GetRegistryScanningConfigurationOutput::builder()
            .registry_id("123456789012")
            .scanning_configuration(
                RegistryScanningConfiguration::builder()
                    .scan_type(ScanType::Basic)
                    .build(),
            )
            .build()
    })
}

#[tokio::test]
async fn every_tagged_image_follows_describe_images_pages_with_push_pull_and_archive() {
    use aws_sdk_ecr::primitives::DateTime as AwsTime;
    use aws_sdk_ecr::types::{ImageStatus, TagStatus};
    type Detail = (&'static str, Vec<&'static str>, i64, Option<i64>, bool);
    let page = |token: Option<&'static str>, next: Option<&'static str>, details: Vec<Detail>| {
        mock!(aws_sdk_ecr::Client::describe_images)
            .match_requests(move |req| {
                req.next_token() == token
                    && req.max_results() == Some(1000)
                    && req.filter().and_then(|f| f.tag_status()) == Some(&TagStatus::Tagged)
            })
            .then_output(move || {
                DescribeImagesOutput::builder()
                    .set_image_details(Some(
                        details
                            .iter()
                            .map(|(digest, tags, pushed, pulled, archived)| {
                                ImageDetail::builder()
                                    .image_digest(*digest)
                                    .set_image_tags(Some(
                                        tags.iter().map(|t| t.to_string()).collect(),
                                    ))
                                    .image_pushed_at(AwsTime::from_secs(*pushed))
                                    .set_last_recorded_pull_time(pulled.map(AwsTime::from_secs))
                                    .set_image_status(archived.then_some(ImageStatus::Archived))
                                    .build()
                            })
                            .collect(),
                    ))
                    .set_next_token(next.map(str::to_owned))
                    .build()
            })
    };
    let first = page(
        None,
        Some("t1"),
        vec![
            (
                "sha256:a",
                vec!["1"],
                1_800_000_000,
                Some(1_800_500_000),
                false,
            ),
            ("sha256:b", vec!["2"], 1_800_000_100, None, true),
        ],
    );
    let second = page(
        Some("t1"),
        Some("t2"),
        // A tag of sha256:a on a later page, and an untagged image despite the filter.
        vec![
            (
                "sha256:a",
                vec!["latest"],
                1_800_000_000,
                Some(1_800_500_000),
                false,
            ),
            ("sha256:c", vec![], 1_800_000_200, None, false),
        ],
    );
    let third = page(
        Some("t2"),
        None,
        vec![("sha256:d", vec!["4"], 1_800_000_300, None, false)],
    );
    let backend = backend(&[&first, &second, &third]);

    let resolution = backend
        .resolve_images(&repository(), &[])
        .await
        .expect("resolve");

    let images: Vec<(&str, Vec<&str>)> = resolution
        .images
        .iter()
        .map(|i| {
            (
                i.digest.as_str(),
                i.tags.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        images,
        vec![
            ("sha256:a", vec!["1", "latest"]),
            ("sha256:b", vec!["2"]),
            ("sha256:d", vec!["4"])
        ]
    );
    let a = &resolution.images[0];
    assert_eq!(a.pushed_at.map(|t| t.timestamp()), Some(1_800_000_000));
    assert_eq!(
        a.last_pulled_at.map(|t| t.timestamp()),
        Some(1_800_500_000),
        "lastRecordedPullTime, which moto lacks"
    );
    assert!(!a.archived);
    assert!(resolution.images[1].archived, "imageStatus ARCHIVED");
    assert_eq!(resolution.images[1].last_pulled_at, None, "never pulled");
    assert_eq!(
        (first.num_calls(), second.num_calls(), third.num_calls()),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn repositories_follow_describe_repositories_pages_of_1000() {
    use aws_sdk_ecr::operation::describe_repositories::DescribeRepositoriesOutput;
    use aws_sdk_ecr::types::Repository;
    let page =
        |token: Option<&'static str>, next: Option<&'static str>, names: std::ops::Range<usize>| {
            mock!(aws_sdk_ecr::Client::describe_repositories)
                .match_requests(move |req| {
                    req.next_token() == token
                        && req.max_results() == Some(1000)
                        && req.registry_id() == Some("123456789012")
                })
                .then_output(move || {
                    DescribeRepositoriesOutput::builder()
                        .set_repositories(Some(
                            names
                                .clone()
                                .map(|i| {
                                    Repository::builder()
                                        .repository_name(format!("team/app-{i:04}"))
                                        .build()
                                })
                                .collect(),
                        ))
                        .set_next_token(next.map(str::to_owned))
                        .build()
                })
        };
    let first = page(None, Some("r1"), 0..1000);
    let second = page(Some("r1"), None, 1000..1500);
    let backend = backend(&[&first, &second]);
    let names = backend
        .list_repositories("123456789012", "us-west-2")
        .await
        .expect("list");
    assert_eq!(names.len(), 1500);
    assert_eq!(names[0], "team/app-0000");
    assert_eq!(names[1499], "team/app-1499");
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    assert_eq!(
        backend
            .rate_limits()
            .granted("ecr:DescribeRepositories", &place()),
        2
    );
}

#[tokio::test]
async fn organization_accounts_follow_every_page_and_only_active_ones_are_active() {
    use aws_sdk_organizations::operation::list_accounts::ListAccountsOutput;
    #[allow(deprecated)]
    use aws_sdk_organizations::types::AccountStatus;
    use aws_sdk_organizations::types::{Account, AccountState};
    let account = |id: &str, state: Option<AccountState>| {
        let builder = Account::builder().id(id).name(format!("account-{id}"));
        match state {
            Some(state) => builder.state(state),
            // Before `State`, only the deprecated `Status` said it.
            #[allow(deprecated)]
            None => builder.status(AccountStatus::Suspended),
        }
        .build()
    };
    let first = mock!(aws_sdk_organizations::Client::list_accounts)
        .match_requests(|req| req.next_token().is_none())
        .then_output(move || {
            ListAccountsOutput::builder()
                .accounts(account("111111111111", Some(AccountState::Active)))
                .accounts(account("222222222222", Some(AccountState::Suspended)))
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_organizations::Client::list_accounts)
        .match_requests(|req| req.next_token() == Some("page-2"))
        .then_output(move || {
            ListAccountsOutput::builder()
                .accounts(account("333333333333", Some(AccountState::PendingClosure)))
                .accounts(account("444444444444", None))
                .accounts(account("055555555555", Some(AccountState::Active)))
                // A service that hands the same token back again must not
                // be paged forever.
                .next_token("page-2")
                .build()
        });
    let organizations = mock_client!(aws_sdk_organizations, RuleMode::MatchAny, [&first, &second]);
    let backend = backend(&[]).with_organizations_client(organizations);
    let accounts = backend.list_accounts().await.expect("accounts");
    let listed: Vec<(&str, bool)> = accounts.iter().map(|a| (a.id.as_str(), a.active)).collect();
    assert_eq!(
        listed,
        [
            ("055555555555", true),
            ("111111111111", true),
            ("222222222222", false),
            ("333333333333", false),
            ("444444444444", false),
        ]
    );
    assert_eq!(accounts[1].name.as_deref(), Some("account-111111111111"));
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn listed_tags_with_missing_ones_cost_one_describe_images_per_100_and_one_listing() {
    // 250 tags asked, of which 248 do not exist: DescribeImages fails each
    // batch of 100, and the tags come from one listing of every tagged image.
    let describe = mock!(aws_sdk_ecr::Client::describe_images)
        .match_requests(|req| !req.image_ids().is_empty())
        .then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                400.try_into().unwrap(),
                aws_smithy_types::body::SdkBody::from(aws_error(
                    "ImageNotFoundException",
                    "The image with imageId {imageTag:'gone'} does not exist",
                )),
            )
        });
    let list = mock!(aws_sdk_ecr::Client::describe_images)
        .match_requests(|req| req.image_ids().is_empty())
        .then_output(|| {
            DescribeImagesOutput::builder()
                .image_details(
                    ImageDetail::builder()
                        .image_digest("sha256:u")
                        .image_tags("16.04")
                        .image_tags("latest")
                        .build(),
                )
                .image_details(
                    ImageDetail::builder()
                        .image_digest("sha256:v")
                        .image_tags("unasked")
                        .build(),
                )
                .build()
        });
    let backend = backend(&[&list, &describe]);
    let mut tags: Vec<String> = (0..248).map(|i| format!("gone-{i}")).collect();
    tags.insert(7, "16.04".to_owned());
    tags.push("latest".to_owned());

    let resolution = backend
        .resolve_images(&repository(), &tags)
        .await
        .expect("resolve");

    assert_eq!(resolution.missing_tags.len(), 248);
    assert!(
        resolution
            .missing_tags
            .iter()
            .all(|t| t.starts_with("gone-"))
    );
    assert_eq!(resolution.images.len(), 1, "unasked tags are not selected");
    assert_eq!(resolution.images[0].digest, "sha256:u");
    assert_eq!(resolution.images[0].tags, ["16.04", "latest"]);
    assert_eq!(describe.num_calls(), 3, "one per 100 tags");
    assert_eq!(list.num_calls(), 1, "one listing, not one call per tag");
}

#[tokio::test]
async fn listed_tags_found_at_once_cost_one_call() {
    let batch = mock!(aws_sdk_ecr::Client::describe_images).then_output(|| {
        DescribeImagesOutput::builder()
            .image_details(
                ImageDetail::builder()
                    .image_digest("sha256:x")
                    .image_tags("7")
                    .image_tags("latest")
                    .build(),
            )
            .image_details(
                ImageDetail::builder()
                    .image_digest("sha256:y")
                    .image_tags("8")
                    .build(),
            )
            .build()
    });
    let backend = backend(&[&batch]);
    let tags = vec!["7".to_owned(), "8".to_owned()];
    let resolution = backend.resolve_images(&repository(), &tags).await.unwrap();
    assert_eq!(resolution.images.len(), 2);
    assert_eq!(resolution.images[0].tags, ["7"], "only the tags asked for");
    assert!(resolution.missing_tags.is_empty());
    assert_eq!(batch.num_calls(), 1);
}

fn basic_finding(i: usize) -> ImageScanFinding {
    ImageScanFinding::builder()
        .name(format!("CVE-2026-{i:05}"))
        .severity(if i.is_multiple_of(2) {
            FindingSeverity::High
        } else {
            FindingSeverity::Low
        })
        .uri(format!("https://cve.example/{i}"))
        .attributes(
            Attribute::builder()
                .key("package_name")
                .value("openssl")
                .build()
                .unwrap(),
        )
        .attributes(
            Attribute::builder()
                .key("CVSS3_SCORE")
                .value("8.1")
                .build()
                .unwrap(),
        )
        .build()
}

#[tokio::test]
async fn basic_findings_follow_every_page() {
    let page =
        |token: Option<&'static str>, next: Option<&'static str>, range: std::ops::Range<usize>| {
            mock!(aws_sdk_ecr::Client::describe_image_scan_findings)
                .match_requests(move |req| {
                    req.next_token() == token
                        && req.image_id().and_then(|i| i.image_digest()) == Some("sha256:u")
                })
                .then_output(move || {
                    DescribeImageScanFindingsOutput::builder()
                        .image_scan_status(
                            ImageScanStatus::builder()
                                .status(EcrScanStatus::Complete)
                                .build(),
                        )
                        .image_scan_findings(
                            ImageScanFindings::builder()
                                .image_scan_completed_at(
                                    aws_sdk_ecr::primitives::DateTime::from_secs(1_764_230_400),
                                )
                                .finding_severity_counts(FindingSeverity::High, 750)
                                .finding_severity_counts(FindingSeverity::Low, 750)
                                .set_findings(Some(range.clone().map(basic_finding).collect()))
                                .build(),
                        )
                        .set_next_token(next.map(str::to_owned))
                        .build()
                })
        };
    let first = page(None, Some("p2"), 0..1000);
    let second = page(Some("p2"), None, 1000..1500);
    let backend = backend(&[&first, &second]);
    let tokens = || {
        backend
            .rate_limits()
            .granted("ecr:DescribeImageScanFindings", &place())
    };
    assert_eq!(tokens(), 0);

    let scan = backend
        .scan_result(&repository(), "sha256:u")
        .await
        .expect("scan result")
        .scan;

    assert_eq!(scan.status, ScanStatus::Complete);
    assert_eq!(scan.findings.len(), 1500);
    assert_eq!(scan.severity_counts.get(Severity::High), 750);
    assert_eq!(scan.severity_counts.total(), 1500);
    assert!(
        scan.findings[..750]
            .iter()
            .all(|f| f.severity == Severity::High),
        "most severe first"
    );
    assert_eq!(scan.findings[0].score, Some(8.1));
    assert_eq!(scan.findings[0].package_name.as_deref(), Some("openssl"));
    assert_eq!(
        scan.scan_completed_at.map(|t| t.timestamp()),
        Some(1_764_230_400)
    );
    assert_eq!(tokens(), 2, "one token per page read");
}

#[tokio::test]
async fn a_summary_of_one_page_digests_takes_one_rate_limit_token_per_digest() {
    let findings = mock!(aws_sdk_ecr::Client::describe_image_scan_findings).then_output(|| {
        DescribeImageScanFindingsOutput::builder()
            .image_scan_status(
                ImageScanStatus::builder()
                    .status(EcrScanStatus::Complete)
                    .build(),
            )
            .image_scan_findings(
                ImageScanFindings::builder()
                    .set_findings(Some((0..3).map(basic_finding).collect()))
                    .build(),
            )
            .build()
    });
    let listing = mock!(aws_sdk_ecr::Client::describe_images).then_output(|| {
        DescribeImagesOutput::builder()
            .set_image_details(Some(
                (0..10)
                    .map(|i| {
                        ImageDetail::builder()
                            .image_digest(format!("sha256:{i:02}"))
                            .image_tags(format!("v{i}"))
                            .build()
                    })
                    .collect(),
            ))
            .build()
    });
    let backend = backend(&[&findings, &listing]);
    let config = ecrscan_core::conformance::sample_config("test/ubuntu", &[], 1);
    let summary = ecrscan_core::collect_summary(
        std::slice::from_ref(&config),
        &backend,
        &ecrscan_core::ScanOptions::default(),
        &ecrscan_core::Suppressions::none(),
    )
    .await;
    assert_eq!(summary.rows.len(), 10);
    let limits = backend.rate_limits();
    assert_eq!(
        limits.granted("ecr:DescribeImageScanFindings", &place()),
        10,
        "one token per one-page digest"
    );
    assert_eq!(findings.num_calls(), 10);
    assert_eq!(limits.granted("ecr:DescribeImages", &place()), 1);
    assert_eq!(listing.num_calls(), 1);
}

fn enhanced_finding(i: usize) -> EnhancedImageScanFinding {
    EnhancedImageScanFinding::builder()
        .title(format!("CVE-2026-{i:05} - openssl"))
        .description("A flaw in openssl.")
        .severity(if i == 0 { "CRITICAL" } else { "MEDIUM" })
        .score(9.8)
        .fix_available("YES")
        .first_observed_at(aws_sdk_ecr::primitives::DateTime::from_secs(1_700_000_000))
        .package_vulnerability_details(
            PackageVulnerabilityDetails::builder()
                .vulnerability_id(format!("CVE-2026-{i:05}"))
                .source_url(format!("https://nvd.nist.gov/vuln/detail/CVE-2026-{i:05}"))
                .vulnerable_packages(
                    VulnerablePackage::builder()
                        .name("openssl")
                        .version("3.0.1")
                        .fixed_in_version("3.0.7")
                        .build(),
                )
                .build(),
        )
        .build()
}

#[tokio::test]
async fn enhanced_findings_come_100_a_page_and_are_all_read() {
    let pages: Vec<Rule> = (0..3)
        .map(|p| {
            let token = (p > 0).then(|| format!("e{p}"));
            let next = (p < 2).then(|| format!("e{}", p + 1));
            mock!(aws_sdk_ecr::Client::describe_image_scan_findings)
                .match_requests(move |req| req.next_token() == token.as_deref())
                .then_output(move || {
                    let count = if p < 2 { 100 } else { 50 };
                    DescribeImageScanFindingsOutput::builder()
                        .image_scan_status(
                            ImageScanStatus::builder()
                                .status(EcrScanStatus::Active)
                                .build(),
                        )
                        .image_scan_findings(
                            ImageScanFindings::builder()
                                .set_enhanced_findings(Some(
                                    (p * 100..p * 100 + count).map(enhanced_finding).collect(),
                                ))
                                .build(),
                        )
                        .set_next_token(next.clone())
                        .build()
                })
        })
        .collect();
    let backend = backend(&pages.iter().collect::<Vec<_>>());

    let scan = backend
        .scan_result(&repository(), "sha256:e")
        .await
        .unwrap()
        .scan;

    assert_eq!(scan.status, ScanStatus::Active);
    assert_eq!(scan.findings.len(), 250);
    assert_eq!(scan.severity_counts.get(Severity::Critical), 1);
    assert_eq!(scan.severity_counts.get(Severity::Medium), 249);
    let first = &scan.findings[0];
    assert_eq!(first.kind, FindingKind::Enhanced);
    assert_eq!(first.name, "CVE-2026-00000");
    assert_eq!(first.title.as_deref(), Some("CVE-2026-00000 - openssl"));
    assert_eq!(first.severity, Severity::Critical);
    assert_eq!(first.score, Some(9.8));
    assert_eq!(first.package_version.as_deref(), Some("3.0.1"));
    assert_eq!(first.fixed_in_version.as_deref(), Some("3.0.7"));
    assert_eq!(first.fix_available.as_deref(), Some("YES"));
    assert_eq!(
        first.uri.as_deref(),
        Some("https://nvd.nist.gov/vuln/detail/CVE-2026-00000")
    );
    assert_eq!(
        first.first_observed_at.map(|t| t.timestamp()),
        Some(1_700_000_000)
    );
}

fn error_rule_describe_findings(status: u16, code: &'static str) -> Rule {
    mock!(aws_sdk_ecr::Client::describe_image_scan_findings).then_http_response(move || {
        aws_smithy_runtime_api::http::Response::new(
            status.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(aws_error(code, "details")),
        )
    })
}

#[tokio::test]
async fn scan_result_errors_become_statuses_or_typed_errors() {
    let cases: [(u16, &str, Result<ScanStatus, &str>); 5] = [
        (400, "ScanNotFoundException", Ok(ScanStatus::NotScanned)),
        (
            400,
            "UnsupportedImageTypeException",
            Ok(ScanStatus::UnsupportedImage),
        ),
        (
            400,
            "RepositoryNotFoundException",
            Err("RepositoryNotFound"),
        ),
        (400, "ImageNotFoundException", Err("ImageNotFound")),
        (400, "AccessDeniedException", Err("AccessDenied")),
    ];
    for (status, code, expected) in cases {
        let rule = error_rule_describe_findings(status, code);
        let backend = backend(&[&rule]);
        let result = backend.scan_result(&repository(), "sha256:u").await;
        match (expected, result) {
            (Ok(status), Ok(latest)) => {
                assert_eq!(latest.scan.status, status, "{code}");
                // AWS's message ("details") reaches the log, never a client.
                let description = latest.scan.status_description.unwrap_or_default();
                assert!(!description.contains("details"), "{code}: {description}");
                if status == ScanStatus::UnsupportedImage {
                    assert_eq!(
                        description,
                        ecrscan_core::aws::ecr::UNSUPPORTED_IMAGE_DESCRIPTION
                    );
                }
            }
            (
                Err("RepositoryNotFound"),
                Err(BackendError::RepositoryNotFound { repository: r }),
            ) => {
                assert_eq!(r, repository())
            }
            (Err("ImageNotFound"), Err(BackendError::ImageNotFound { image })) => {
                assert_eq!(image, "test/ubuntu:sha256:u")
            }
            (Err("AccessDenied"), Err(BackendError::AccessDenied { action, .. })) => {
                assert_eq!(action, "ecr:DescribeImageScanFindings")
            }
            (expected, got) => panic!("{code}: expected {expected:?}, got {got:?}"),
        }
        assert_eq!(rule.num_calls(), 1, "{code} is not retried");
    }
}

#[tokio::test]
async fn throttling_is_retried_within_bounds_then_reported_with_its_code() {
    let rule = error_rule_describe_findings(400, "ThrottlingException");
    let backend = backend(&[&rule]);
    let err = backend
        .scan_result(&repository(), "sha256:u")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        BackendError::Throttled {
            code: "ThrottlingException".into()
        }
    );
    assert_eq!(rule.num_calls(), 3, "max_attempts");
    let limits = backend.rate_limits();
    assert_eq!(
        limits.throttled_calls("ecr:DescribeImageScanFindings", &place()),
        3,
        "every attempt, retries included, tells the adaptive rate"
    );
    assert!(
        limits.rate("ecr:DescribeImageScanFindings", &place()) < 100.0,
        "the rate was cut"
    );
    assert_eq!(
        limits.rate("ecr:DescribeImages", &place()),
        100.0,
        "other actions keep theirs"
    );
}

fn in_progress() -> DescribeImageScanFindingsOutput {
    DescribeImageScanFindingsOutput::builder()
        .image_scan_status(
            ImageScanStatus::builder()
                .status(EcrScanStatus::InProgress)
                .build(),
        )
        .build()
}

#[tokio::test]
async fn accepted_calls_raise_the_adaptive_rate_and_a_ceiling_holds() {
    let rule = mock!(aws_sdk_ecr::Client::describe_image_scan_findings)
        .sequence()
        .http_status(400, Some(aws_error("ThrottlingException", "slow down")))
        .output(in_progress)
        .repeatedly()
        .build();
    let backend = backend(&[&rule]);
    for _ in 0..10 {
        backend
            .scan_result(&repository(), "sha256:u")
            .await
            .unwrap();
    }
    let limits = backend.rate_limits();
    let action = ("ecr:DescribeImageScanFindings", &place());
    assert_eq!(limits.throttled_calls(action.0, action.1), 1);
    // Halved to 50 when the slow start ended, then 10 accepted calls: each
    // second of calls (50 of them) adds 3 % of the rate, 1.5 calls a second.
    let rate = limits.rate(action.0, action.1);
    assert!((50.25..50.35).contains(&rate), "{rate}");

    let capped = backend_with(
        &[&rule],
        ecrscan_core::EcrBackendOptions {
            calls_per_second: std::num::NonZeroU32::new(5),
            ..ecrscan_core::EcrBackendOptions::default()
        },
    );
    for _ in 0..10 {
        capped.scan_result(&repository(), "sha256:u").await.unwrap();
    }
    assert_eq!(
        capped.rate_limits().rate(action.0, action.1),
        5.0,
        "a ceiling is hard"
    );
}

#[tokio::test]
async fn a_server_error_is_retried_and_recovers() {
    let rule = mock!(aws_sdk_ecr::Client::describe_image_scan_findings)
        .sequence()
        .http_status(500, Some(aws_error("ServerException", "internal")))
        .output(in_progress)
        .build();
    let backend = backend(&[&rule]);
    let scan = backend
        .scan_result(&repository(), "sha256:u")
        .await
        .unwrap()
        .scan;
    assert_eq!(scan.status, ScanStatus::InProgress);
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn the_scan_quota_is_final_not_retried_as_throttling() {
    let registry = basic_registry();
    let quota = mock!(aws_sdk_ecr::Client::start_image_scan).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            400.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(aws_error(
                "LimitExceededException",
                "The scan quota per image has been exceeded. Wait and try again.",
            )),
        )
    });
    let backend = backend(&[&registry, &quota]);
    let err = backend
        .start_scan(&repository(), "sha256:u")
        .await
        .unwrap_err();
    assert_eq!(err, BackendError::ScanQuotaExceeded);
    assert_eq!(
        quota.num_calls(),
        1,
        "LimitExceededException must not be retried"
    );
    assert_eq!(
        backend
            .rate_limits()
            .throttled_calls("ecr:StartImageScan", &place()),
        0,
        "the daily quota is not a rate"
    );
}

#[tokio::test]
async fn the_registry_scan_type_is_read_once_and_its_rules_say_how_each_repository_is_scanned() {
    use aws_sdk_ecr::types::{
        RegistryScanningRule, ScanFrequency, ScanningRepositoryFilter, ScanningRepositoryFilterType,
    };
    let rule = |frequency: ScanFrequency, filter: &str| {
        RegistryScanningRule::builder()
            .scan_frequency(frequency)
            .repository_filters(
                ScanningRepositoryFilter::builder()
                    .filter(filter)
                    .filter_type(ScanningRepositoryFilterType::Wildcard)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let (continuous, on_push) = (
        rule(ScanFrequency::ContinuousScan, "prod*"),
        rule(ScanFrequency::ScanOnPush, "test"),
    );
    let enhanced =
        mock!(aws_sdk_ecr::Client::get_registry_scanning_configuration).then_output(move || {
            GetRegistryScanningConfigurationOutput::builder()
                .registry_id("123456789012")
                .scanning_configuration(
                    RegistryScanningConfiguration::builder()
                        .scan_type(ScanType::Enhanced)
                        .rules(continuous.clone())
                        .rules(on_push.clone())
                        .build(),
                )
                .build()
        });
    let start = mock!(aws_sdk_ecr::Client::start_image_scan)
        .then_output(|| StartImageScanOutput::builder().build());
    let backend = backend(&[&enhanced, &start]);
    let in_repository = |name: &str| RepositoryRef {
        repository: name.into(),
        ..repository()
    };
    for (name, expected) in [
        ("prod/api", BackendError::ContinuousScanning),
        ("test/ubuntu", BackendError::ScanOnPushOnly),
        ("team/latest-tests", BackendError::ScanOnPushOnly),
        ("dev/api", BackendError::NotCovered),
    ] {
        for digest in ["sha256:1", "sha256:2"] {
            assert_eq!(
                backend.start_scan(&in_repository(name), digest).await,
                Err(expected.clone()),
                "{name}"
            );
        }
    }
    assert_eq!(enhanced.num_calls(), 1, "read once per registry");
    assert_eq!(
        start.num_calls(),
        0,
        "an enhanced registry takes no manual scan"
    );
}

#[tokio::test]
async fn start_scan_errors_are_typed() {
    for (code, check) in [
        ("ImageNotFoundException", "ImageNotFound"),
        ("RepositoryNotFoundException", "RepositoryNotFound"),
        ("UnsupportedImageTypeException", "UnsupportedImage"),
        ("AccessDeniedException", "AccessDenied"),
        ("ValidationException", "Other"),
    ] {
        let registry = basic_registry();
        let start = mock!(aws_sdk_ecr::Client::start_image_scan).then_http_response(move || {
            aws_smithy_runtime_api::http::Response::new(
                400.try_into().unwrap(),
                aws_smithy_types::body::SdkBody::from(aws_error(code, "not allowed here")),
            )
        });
        let backend = backend(&[&registry, &start]);
        let err = backend
            .start_scan(&repository(), "sha256:u")
            .await
            .unwrap_err();
        let ok = match &err {
            BackendError::ImageNotFound { .. } => check == "ImageNotFound",
            BackendError::RepositoryNotFound { .. } => check == "RepositoryNotFound",
            BackendError::UnsupportedImage { message } => {
                check == "UnsupportedImage" && message == "not allowed here"
            }
            BackendError::AccessDenied { action, .. } => {
                check == "AccessDenied" && action == "ecr:StartImageScan"
            }
            BackendError::Other {
                action,
                code,
                message,
            } => {
                assert_eq!(code.as_deref(), Some("ValidationException"));
                check == "Other"
                    && action == "ecr:StartImageScan"
                    && message.contains("ValidationException: not allowed here")
            }
            _ => false,
        };
        assert!(ok, "{code}: got {err:?}");
        let text = err.to_string();
        assert!(
            !text.contains("Credential") && !text.contains("Signature"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn s3_list_follows_continuation_tokens() {
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::Object;

    let ids: Vec<uuid::Uuid> = (0..2500u128)
        .map(|i| uuid::Uuid::from_u128(0x4000_8000_0000_0000_0000 + i))
        .collect();
    let pages: Vec<Rule> = ids
        .chunks(1000)
        .enumerate()
        .map(|(p, chunk)| {
            let token = (p > 0).then(|| format!("c{p}"));
            let next = (p < 2).then(|| format!("c{}", p + 1));
            let keys: Vec<String> = chunk.iter().map(|id| format!("cfg/{id}.json")).collect();
            mock!(aws_sdk_s3::Client::list_objects_v2)
                .match_requests(move |req| {
                    req.continuation_token() == token.as_deref() && req.prefix() == Some("cfg/")
                })
                .then_output(move || {
                    ListObjectsV2Output::builder()
                        .set_contents(Some(
                            keys.iter()
                                .map(|k| Object::builder().key(k).build())
                                .collect(),
                        ))
                        .set_next_continuation_token(next.clone())
                        .set_is_truncated(Some(next.is_some()))
                        .build()
                })
        })
        .collect();
    let get = mock!(aws_sdk_s3::Client::get_object).then_compute_output(|req| {
        let key = req.key().unwrap_or_default();
        let id = key.trim_start_matches("cfg/").trim_end_matches(".json");
        let body = format!(
            r#"{{"id":"{id}","created":"1569927812","region":"us-west-2","registry":"123456789012","repository":"test/ubuntu","tags":null}}"#
        );
        GetObjectOutput::builder().body(ByteStream::from(body.into_bytes())).build()
    });
    let mut rules: Vec<&Rule> = pages.iter().collect();
    rules.push(&get);
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &rules);
    let store = S3Store::with_client(client, "bucket", "cfg");

    let listed = store.list().await.expect("list").items;

    assert_eq!(listed.len(), 2500);
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(
        listed.iter().map(|c| c.id).collect::<Vec<_>>(),
        expected,
        "sorted by created, then id"
    );
    assert_eq!(get.num_calls(), 2500);
}
