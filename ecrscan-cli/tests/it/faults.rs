//! AWS that cannot be reached, or dies in the middle of a run: one clear
//! error line and exit 1.

use ecrscan_core::testing::{FaultProxy, MotoServer};

use super::fixtures::*;

#[tokio::test]
async fn an_unreachable_endpoint_is_one_clear_error() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let endpoint = moto.endpoint();
    let env = moto.env();
    drop(moto);
    let dir = tempfile::tempdir().unwrap();
    let mut command = ecrscan(dir.path());
    command.envs(env).env("AWS_ENDPOINT_URL", &endpoint).args([
        "--store",
        "s3://ecrscan-configs",
        "summary",
    ]);
    let result = run(&mut command);
    assert_eq!(result.code, 1);
    assert!(result.stdout.is_empty());
    assert_eq!(result.stderr.lines().count(), 1, "{}", result.stderr);
    assert!(result.stderr.starts_with("error: "), "{}", result.stderr);
    assert!(
        result.stderr.contains("could not reach the AWS endpoint"),
        "{}",
        result.stderr
    );
}

/// Runs `ecrscan ARGS` over six configs of one image each in a local
/// store, through a proxy that kills the emulator when the tenth request
/// arrives (six image listings come first); checks that the emulator was
/// killed and the configs are intact, and returns the run.
async fn run_killing_the_emulator(args: &'static [&'static str]) -> Option<Run> {
    let moto = MotoServer::start()?;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("configs");
    for i in 0..6 {
        let repository = format!("app/{i}");
        moto.create_repository(&repository).await;
        moto.push_image(&repository, &format!("cli-killed-{i}"), &["v1"])
            .await;
        let added = run(ecrscan(&store).args([
            "configs",
            "add",
            "--region",
            "us-west-2",
            "--registry",
            "123456789012",
            "--repository",
            &repository,
            "--tag",
            "v1",
        ]));
        assert_eq!(added.code, 0, "{}", added.stderr);
    }
    let configs_before = run(ecrscan(&store).args(["configs", "list", "--format", "json"]));
    let env = moto.env();
    let proxy = FaultProxy::killing(moto, 9).await;
    let endpoint = proxy.endpoint();
    let run_store = store.clone();
    let result = tokio::task::spawn_blocking(move || {
        run(ecrscan(&run_store)
            .envs(env)
            .env("AWS_ENDPOINT_URL", endpoint)
            .timeout(std::time::Duration::from_secs(120))
            .args(["--concurrency", "1", "--max-attempts", "2"])
            .args(args))
    })
    .await
    .unwrap();
    assert!(proxy.killed_its_emulator());
    let configs_after = run(ecrscan(&store).args(["configs", "list", "--format", "json"]));
    assert_eq!(
        configs_after.stdout, configs_before.stdout,
        "no config was lost"
    );
    Some(result)
}

/// Checks the error line of a run the emulator died in: `N of 6 images
/// failed`, the first because AWS could not be reached for `action`.
fn assert_unreachable_error(stderr_line: &str, failed: usize, action: &str) {
    assert!(
        stderr_line.starts_with(&format!(
            "error: {failed} of 6 images failed; the first failure: \
             could not reach AWS for {action}"
        )),
        "{stderr_line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_killed_in_the_middle_of_a_scan_is_a_clear_error() {
    let Some(scan) = run_killing_the_emulator(&["scan"]).await else {
        return;
    };
    assert_eq!(scan.code, 1, "{}\n{}", scan.stdout, scan.stderr);
    let started = scan
        .stdout
        .lines()
        .filter(|l| l.ends_with(" started"))
        .count();
    let failed: Vec<&str> = scan
        .stdout
        .lines()
        .filter(|l| l.contains(" failed: "))
        .collect();
    assert!(started >= 1, "{}", scan.stdout);
    assert!(!failed.is_empty(), "{}", scan.stdout);
    assert_eq!(started + failed.len(), 6, "{}", scan.stdout);
    for line in &failed {
        assert!(
            line.contains("failed: could not reach AWS for ecr:"),
            "{line}"
        );
    }
    let stderr: Vec<&str> = scan.stderr.lines().collect();
    assert_eq!(stderr.len(), 2, "{}", scan.stderr);
    assert_eq!(
        stderr[0],
        format!(
            "{started} started, 0 already scanned, 0 continuous, {} failed",
            failed.len()
        )
    );
    assert_unreachable_error(stderr[1], failed.len(), "ecr:StartImageScan");
    assert!(
        stderr[1].contains("could not reach the AWS endpoint: io error: client error (Connect): tcp connect error: Connection refused"),
        "{}",
        stderr[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_killed_in_the_middle_of_a_summary_is_a_clear_error() {
    let Some(summary) = run_killing_the_emulator(&["summary"]).await else {
        return;
    };
    assert_eq!(summary.code, 1, "{}\n{}", summary.stdout, summary.stderr);
    let read = summary.stdout.matches(" Status: NOT_SCANNED").count();
    let failed = summary.stdout.matches(" Status: FAILED").count();
    assert!(read >= 1, "{}", summary.stdout);
    assert!(failed >= 1, "{}", summary.stdout);
    assert_eq!(read + failed, 6, "{}", summary.stdout);
    let stderr: Vec<&str> = summary.stderr.lines().collect();
    assert_eq!(stderr.len(), 1, "{}", summary.stderr);
    assert_unreachable_error(stderr[0], failed, "ecr:DescribeImageScanFindings");
}

#[tokio::test]
async fn ecr_unreachable_with_the_local_store_is_a_clear_error() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let env = moto.env();
    drop(moto);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("configs");
    run(ecrscan(&store).args([
        "configs",
        "add",
        "--region",
        "us-west-2",
        "--registry",
        "123456789012",
        "--repository",
        "test/ubuntu",
    ]));
    let scan = run(ecrscan(&store).envs(env.clone()).arg("scan"));
    assert_eq!(scan.code, 1);
    assert!(
        scan.stdout
            .starts_with("test/ubuntu:* failed: could not reach AWS"),
        "{}",
        scan.stdout
    );
    assert_eq!(scan.stderr.lines().count(), 1, "{}", scan.stderr);
    assert!(scan.stderr.starts_with("error: no image could be scanned; the first failure: could not reach AWS for ecr:DescribeImages"), "{}", scan.stderr);
    let summary = run(ecrscan(&store).envs(env).arg("summary"));
    assert_eq!(summary.code, 1);
    assert_eq!(
        summary.stderr,
        "error: no scan result could be read; the first failure: could not reach AWS for ecr:DescribeImages\n"
    );
}
