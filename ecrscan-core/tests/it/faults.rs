//! Failing AWS: a fault-injecting HTTP proxy between ecrscan and moto server
//! answers with 500s and throttling errors, resets connections and holds
//! answers past the time limit. Retries recover what can be recovered; what
//! can't is reported per image with the AWS error; a run never hangs; configs
//! are never lost or half-written; an emulator killed in the middle of a run
//! fails the rest of the run, image by image, with a clear reason.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use ecrscan_core::conformance::sample_config;
use ecrscan_core::testing::{Fault, FaultProxy, MotoServer, ProxiedRequest};
use ecrscan_core::{
    ConfigStore, EcrBackend, S3Store, ScanConfig, ScanOptions, ScanOutcome, rescan,
};

fn config(repository: &str, tags: &[&str]) -> ScanConfig {
    sample_config(repository, tags, 1_764_230_400)
}

/// Runs `rescan` with a guard: a run that hangs fails the test.
async fn guarded_rescan(
    configs: &[ScanConfig],
    backend: &EcrBackend,
) -> ecrscan_core::RescanReport {
    tokio::time::timeout(
        Duration::from_secs(60),
        rescan(configs, backend, &ScanOptions::default()),
    )
    .await
    .expect("the run finished")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_server_errors_and_resets_are_retried_and_recovered() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_repository("test/ubuntu").await;
    moto.push_image("test/ubuntu", "faults-a", &["16.04"]).await;
    // Each request fails twice, with a 500 and then a reset connection,
    // and passes the third time.
    let proxy = FaultProxy::start_by_request(
        moto.port(),
        keyed(|_, _, attempt| match attempt {
            0 => Fault::ServerError,
            1 => Fault::Reset,
            _ => Fault::Pass,
        }),
    )
    .await;
    let backend = EcrBackend::new(&proxy.sdk_config(4));
    let report = guarded_rescan(&[config("test/ubuntu", &["16.04"])], &backend).await;
    assert_eq!(
        report.images[0].outcome,
        ScanOutcome::Started,
        "{:?}",
        report.images[0]
    );
    assert!(proxy.requests() >= 9, "each request was retried twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_throttling_is_reported_per_image_with_the_aws_code() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_repository("test/ubuntu").await;
    moto.push_image("test/ubuntu", "faults-b", &["16.04"]).await;
    // Listing passes; every StartImageScan and registry lookup is throttled.
    let proxy = FaultProxy::start_by_request(moto.port(), |request| {
        if request.target.ends_with(".DescribeImages") {
            Fault::Pass
        } else {
            Fault::Throttle
        }
    })
    .await;
    let backend = EcrBackend::new(&proxy.sdk_config(3));
    let report = guarded_rescan(&[config("test/ubuntu", &["16.04"])], &backend).await;
    assert_eq!(report.failed, 1);
    let reason = report.images[0].reason.as_deref().unwrap();
    assert!(reason.contains("ThrottlingException"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_past_the_time_limit_end_as_timeouts_not_hangs() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let proxy = FaultProxy::start(moto.port(), |_| Fault::Hang).await;
    let backend = EcrBackend::new(&proxy.sdk_config(2));
    let report = guarded_rescan(
        &[
            config("test/ubuntu", &["16.04"]),
            config("test/centos", &[]),
        ],
        &backend,
    )
    .await;
    assert_eq!(report.failed, 2);
    for image in &report.images {
        let reason = image.reason.as_deref().unwrap();
        assert!(reason.contains("timed out"), "{reason}");
    }
}

/// A plan by what each request is: `fault(method, path, attempt)` for the
/// `attempt`-th request (from 0) with that method and path, however the
/// others are ordered or delayed.
fn keyed(
    fault: impl Fn(&str, &str, usize) -> Fault + Send + Sync + 'static,
) -> impl Fn(&ProxiedRequest<'_>) -> Fault + Send + Sync + 'static {
    let attempts: Mutex<HashMap<String, usize>> = Mutex::default();
    move |request| {
        let path = request.path.split('?').next().unwrap_or_default();
        let key = format!("{} {path} {}", request.method, request.target);
        let attempt = {
            let mut attempts = attempts.lock().unwrap();
            let n = attempts.entry(key).or_default();
            *n += 1;
            *n - 1
        };
        fault(request.method, path, attempt)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_cut_in_the_middle_of_its_body_leaves_the_old_config_whole() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_bucket("faulty").await;
    let direct = S3Store::new(&moto.sdk_config(), "faulty", "");
    let kept = config("test/ubuntu", &["16.04"]);
    direct.put(&kept).await.unwrap();
    let key_path = format!("/faulty/{}.json", kept.id);
    // Every write of the config reaches the server cut in half; reads pass.
    let proxy = FaultProxy::start_by_request(
        moto.port(),
        keyed(move |method, path, _| {
            if method == "PUT" && path == key_path {
                Fault::CutBody
            } else {
                Fault::Pass
            }
        }),
    )
    .await;
    let faulty = S3Store::new(&proxy.sdk_config(3), "faulty", "");
    let mut changed = kept.clone();
    changed.tags = vec!["latest".into(), "a-much-longer-tag-to-cut".into()];
    let err = tokio::time::timeout(Duration::from_secs(60), faulty.put(&changed))
        .await
        .expect("the write finished")
        .unwrap_err();
    assert!(err.to_string().contains("s3:PutObject"), "{err}");
    assert!(proxy.requests() >= 3, "each attempt reached the server");
    assert_eq!(
        direct.list().await.unwrap().items,
        vec![kept.clone()],
        "the old config is intact and alone"
    );
    assert_eq!(direct.get(kept.id).await.unwrap(), kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_answer_is_lost_is_retried_and_stored_once_whole() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_bucket("faulty").await;
    let direct = S3Store::new(&moto.sdk_config(), "faulty", "");
    let kept = config("test/ubuntu", &["16.04"]);
    direct.put(&kept).await.unwrap();
    // The first write of the config takes effect, but its answer is lost
    // on the way back; the retry is answered.
    let proxy = FaultProxy::start_by_request(
        moto.port(),
        keyed(|method, _, attempt| {
            if method == "PUT" && attempt == 0 {
                Fault::DropAnswer
            } else {
                Fault::Pass
            }
        }),
    )
    .await;
    let faulty = S3Store::new(&proxy.sdk_config(3), "faulty", "");
    let mut changed = kept.clone();
    changed.tags = vec!["latest".into()];
    tokio::time::timeout(Duration::from_secs(60), faulty.put(&changed))
        .await
        .expect("the write finished")
        .expect("the retry is answered");
    assert_eq!(direct.list().await.unwrap().items, vec![changed]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_killed_in_the_middle_of_a_run_fails_the_rest_clearly() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let mut configs = Vec::new();
    for i in 0..6 {
        let repository = format!("app/{i}");
        moto.create_repository(&repository).await;
        moto.push_image(&repository, &format!("killed-{i}"), &["v1"])
            .await;
        configs.push(config(&repository, &["v1"]));
    }
    // Six image listings, a registry lookup and six StartImageScans: the
    // emulator dies when the tenth request arrives.
    let proxy = FaultProxy::killing(moto, 9).await;
    let backend = EcrBackend::new(&proxy.sdk_config(3));
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        rescan(&configs, &backend, &ScanOptions { concurrency: 1 }),
    )
    .await
    .expect("the run finished");
    assert!(proxy.killed_its_emulator());
    assert_eq!(report.images.len(), 6);
    assert!(report.started >= 1, "{report:?}");
    assert!(report.failed >= 1, "{report:?}");
    assert_eq!(report.started + report.failed, 6, "{report:?}");
    for image in report
        .images
        .iter()
        .filter(|image| image.outcome == ScanOutcome::Failed)
    {
        let reason = image.reason.as_deref().unwrap_or_default();
        assert!(
            reason.starts_with("could not reach AWS for ecr:"),
            "{reason}"
        );
    }
}

/// Three configs in bucket `listing`, written directly.
async fn three_configs(moto: &MotoServer) -> Vec<ScanConfig> {
    moto.create_bucket("listing").await;
    let direct = S3Store::new(&moto.sdk_config(), "listing", "");
    let configs: Vec<ScanConfig> = ["app/a", "app/b", "app/c"]
        .iter()
        .map(|repository| config(repository, &["v1"]))
        .collect();
    for config in &configs {
        direct.put(config).await.unwrap();
    }
    configs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_survives_one_unreadable_object_and_reports_it() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let configs = three_configs(&moto).await;
    let broken = format!("/listing/{}.json", configs[1].id);
    // Every attempt to read that one object fails; the listing and the
    // other objects pass.
    let proxy = FaultProxy::start_by_request(moto.port(), move |request| {
        if request.method == "GET" && request.path.starts_with(&broken) {
            Fault::ServerError
        } else {
            Fault::Pass
        }
    })
    .await;
    let store = S3Store::new(&proxy.sdk_config(2), "listing", "");
    let listing = tokio::time::timeout(Duration::from_secs(60), store.list())
        .await
        .expect("the listing finished")
        .expect("one bad object does not fail the listing");
    let mut expected = vec![configs[0].clone(), configs[2].clone()];
    ecrscan_core::store::sort_configs(&mut expected);
    assert_eq!(listing.items, expected);
    assert_eq!(listing.skipped.len(), 1, "{:?}", listing.skipped);
    assert_eq!(listing.skipped[0].key, format!("{}.json", configs[1].id));
    assert!(listing.skipped[0].unreadable);
    assert!(
        listing.skipped[0].reason.contains("s3:GetObject"),
        "{}",
        listing.skipped[0].reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_can_read_nothing_is_an_error() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    three_configs(&moto).await;
    // Every object read is refused, as with a KMS key the role cannot use.
    let proxy = FaultProxy::start_by_request(moto.port(), |request| {
        if request.method == "GET" && request.path.contains(".json") {
            Fault::ServerError
        } else {
            Fault::Pass
        }
    })
    .await;
    let store = S3Store::new(&proxy.sdk_config(2), "listing", "");
    let err = tokio::time::timeout(Duration::from_secs(60), store.list())
        .await
        .expect("the listing finished")
        .expect_err("nothing readable is an error, not an empty fleet");
    assert!(
        matches!(
            err,
            ecrscan_core::StoreError::NothingReadable { failed: 3, .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("none of the 3"), "{err}");
}
