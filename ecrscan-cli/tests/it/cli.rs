//! The `ecrscan` binary, command by command: output, stdout/stderr
//! separation and exit codes, against the local-directory store and moto
//! server.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};

use assert_cmd::Command;
use ecrscan_core::testing::{FaultProxy, MotoServer};
use serde_json::json;

fn ecrscan(store: &Path) -> Command {
    let mut command = Command::cargo_bin("ecrscan").unwrap();
    command
        .env("ECRSCAN_STORE", store)
        .env_remove("ECR_SCAN_CONFIG_BUCKET")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env("NO_COLOR", "1");
    command
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("{}: {err} (UPDATE_GOLDEN=1 creates it)", path.display()));
    assert_eq!(actual, expected, "{name} differs from its golden file");
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(command: &mut Command) -> Run {
    let output = command.output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

const UBUNTU: &str = r#"{"region":"us-west-2","registry":"123456789012","repository":"test/ubuntu","tags":["16.04","latest"]}"#;

#[test]
fn configs_add_list_show_rm() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("configs");
    let file = dir.path().join("scan-config-ubuntu.json");
    std::fs::write(&file, UBUNTU).unwrap();

    let added = run(ecrscan(&store).args(["configs", "add"]).arg(&file));
    assert_eq!(added.code, 0, "{}", added.stderr);
    assert!(added.stderr.is_empty(), "{}", added.stderr);
    let ubuntu_id = added.stdout.trim().to_owned();
    assert!(
        uuid::Uuid::parse_str(&ubuntu_id).is_ok(),
        "stdout is the id alone: {:?}",
        added.stdout
    );

    let flags = run(ecrscan(&store).args([
        "configs",
        "add",
        "--region",
        "eu-central-1",
        "--registry",
        "123456789012",
        "--repository",
        "test/centos",
        "--tag",
        "7",
    ]));
    assert_eq!(flags.code, 0, "{}", flags.stderr);
    let stdin = run(ecrscan(&store)
        .args(["configs", "add", "-"])
        .write_stdin(r#"{"region":"us-west-2","registry":"123456789012","repository":"amazonlinux","tags":null}"#));
    assert_eq!(stdin.code, 0, "{}", stdin.stderr);

    let listed = run(ecrscan(&store).args(["configs", "list", "-o", "json"]));
    assert_eq!(listed.code, 0);
    let configs: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(configs.as_array().unwrap().len(), 3);
    assert!(
        configs
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["created"].is_string())
    );

    let table = run(ecrscan(&store).args(["configs", "list"]));
    assert_eq!(table.code, 0);
    assert!(table.stdout.starts_with("ID  "), "{}", table.stdout);
    assert_eq!(table.stdout.lines().count(), 4);
    assert!(
        !table.stdout.contains('\u{1b}'),
        "no colour when not a terminal"
    );

    let shown = run(ecrscan(&store).args(["configs", "show", &ubuntu_id]));
    assert_eq!(shown.code, 0);
    let config: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(config["tags"], json!(["16.04", "latest"]));

    let removed = run(ecrscan(&store).args(["configs", "rm", &ubuntu_id]));
    assert_eq!(removed.code, 0);
    assert!(removed.stdout.is_empty());
    let again = run(ecrscan(&store).args(["configs", "rm", &ubuntu_id]));
    assert_eq!(again.code, 2);
    assert!(again.stdout.is_empty());
    assert_eq!(
        again.stderr,
        format!("error: no scan config with id {ubuntu_id}\n")
    );
}

#[test]
fn configs_list_golden() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path();
    for (id, created, repository, tags) in [
        (
            "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
            "1569927812",
            "amazonlinux",
            "null",
        ),
        (
            "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "1569927900",
            "test/ubuntu",
            r#"["16.04","latest"]"#,
        ),
        (
            "0f4e1d2c-3b4a-4958-8776-655443322110",
            "1569928000",
            "test/centos",
            r#"["7"]"#,
        ),
    ] {
        std::fs::write(
            store.join(format!("{id}.json")),
            format!(r#"{{"id":"{id}","created":"{created}","region":"us-west-2","registry":"123456789012","repository":"{repository}","tags":{tags}}}"#),
        )
        .unwrap();
    }
    let table = run(ecrscan(store).args(["configs", "list"]));
    assert_eq!(table.code, 0);
    golden("configs-list.txt", &table.stdout);
    let json = run(ecrscan(store).args(["configs", "list", "-o", "json"]));
    golden("configs-list.json", &json.stdout);
}

#[test]
fn invalid_input_exits_2_with_one_error_line_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("configs");
    let good = dir.path().join("good.json");
    let bad = dir.path().join("bad.json");
    std::fs::write(&good, UBUNTU).unwrap();
    std::fs::write(
        &bad,
        r#"{"region":"us-west-2","registry":"123456789012","repository":"Test/Ubuntu"}"#,
    )
    .unwrap();

    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "configs".into(),
                "add".into(),
                good.display().to_string(),
                bad.display().to_string(),
            ],
            "invalid repository",
        ),
        (
            vec![
                "configs".into(),
                "add".into(),
                dir.path().join("missing.json").display().to_string(),
            ],
            "cannot read",
        ),
        (vec!["configs".into(), "add".into()], "nothing to add"),
        (
            vec!["configs".into(), "show".into(), "../../etc/passwd".into()],
            "a config id is a UUID",
        ),
        (
            vec![
                "configs".into(),
                "show".into(),
                "6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a".into(),
            ],
            "no scan config with id",
        ),
        (
            vec![
                "findings".into(),
                "6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a".into(),
                "--min-severity".into(),
                "SEVERE".into(),
            ],
            "unknown severity",
        ),
        (
            vec!["summary".into(), "--wait".into(), "soon".into()],
            "invalid value",
        ),
        (
            vec![
                "--store".into(),
                "s3://Bad_Bucket".into(),
                "configs".into(),
                "list".into(),
            ],
            "invalid store location",
        ),
        (vec!["frobnicate".into()], "unrecognized subcommand"),
    ];
    for (args, expected) in cases {
        let result = run(ecrscan(&store).args(&args));
        assert_eq!(result.code, 2, "{args:?}: {}", result.stderr);
        assert!(result.stdout.is_empty(), "{args:?}: {}", result.stdout);
        let first = result.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error:"), "{args:?}: {}", result.stderr);
        assert!(
            result.stderr.contains(expected),
            "{args:?}: {}",
            result.stderr
        );
        assert!(!result.stderr.contains("panicked"), "{args:?}");
    }
    let listed = run(ecrscan(&store).args(["configs", "list", "-o", "json"]));
    assert_eq!(
        listed.stdout.trim(),
        "[]",
        "an invalid file among valid ones stores nothing"
    );
}

#[test]
fn completions_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let result = run(ecrscan(dir.path()).args(["completions", shell]));
        assert_eq!(result.code, 0, "{shell}");
        assert!(result.stdout.contains("ecrscan"), "{shell}");
        assert!(result.stdout.contains("summary"), "{shell}");
    }
}

#[test]
fn help_documents_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let result = run(ecrscan(dir.path()).arg("--help"));
    assert_eq!(result.code, 0);
    assert!(result.stdout.contains("3  findings at or above --fail-on"));
    for command in ["configs add", "scan", "summary", "findings"] {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push("--help");
        let help = run(ecrscan(dir.path()).args(&args));
        assert_eq!(help.code, 0, "{command}");
        assert!(help.stdout.contains("Example"), "{command} has examples");
    }
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..1500 {
        let id = uuid::Uuid::from_u128(0x4000_8000_0000_0000_0000 + i);
        std::fs::write(
            dir.path().join(format!("{id}.json")),
            format!(r#"{{"id":"{id}","created":"{i}","region":"us-west-2","registry":"123456789012","repository":"repo/number-{i}","tags":["a","b","c"]}}"#),
        )
        .unwrap();
    }
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("ecrscan"))
        .args(["configs", "list"])
        .env("ECRSCAN_STORE", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here: like `ecrscan configs list | head -1`.
    let output = child.wait_with_output().unwrap();
    assert!(first.starts_with("ID"));
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

/// The AWS sample's walkthrough on moto, with known findings.
async fn walkthrough(moto: &MotoServer) {
    moto.create_repository("test/ubuntu").await;
    moto.create_repository("test/centos").await;
    let ubuntu = moto
        .push_image("test/ubuntu", "ubuntu", &["16.04", "latest"])
        .await;
    let centos = moto.push_image("test/centos", "centos", &["7"]).await;
    let result = |repository: &str,
                  digest: &str,
                  findings: serde_json::Value,
                  counts: serde_json::Value| {
        json!({
            "registryId": "123456789012", "repositoryName": repository, "imageId": {"imageDigest": digest},
            "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
            "imageScanFindings": {"imageScanCompletedAt": 1764230400, "vulnerabilitySourceUpdatedAt": 1764200000,
                                  "findingSeverityCounts": counts, "findings": findings}
        })
    };
    let ubuntu_findings = json!([
        {"name": "CVE-2019-3462", "severity": "CRITICAL", "description": "apt redirect injection",
         "uri": "https://people.canonical.com/~ubuntu-security/cve/2019/CVE-2019-3462.html",
         "attributes": [{"key": "package_name", "value": "apt"}, {"key": "package_version", "value": "1.2.29"}]},
        {"name": "CVE-2016-2779", "severity": "HIGH", "description": "runuser escape",
         "uri": "https://people.canonical.com/~ubuntu-security/cve/2016/CVE-2016-2779.html",
         "attributes": [{"key": "package_name", "value": "util-linux"}]}
    ]);
    let centos_findings = json!([
        {"name": "CVE-2019-5188", "severity": "MEDIUM", "description": "e2fsck rehash",
         "uri": "https://access.redhat.com/security/cve/CVE-2019-5188", "attributes": []}
    ]);
    let mut results = Vec::new();
    for _ in 0..4 {
        results.push(result(
            "test/ubuntu",
            &ubuntu,
            ubuntu_findings.clone(),
            json!({"CRITICAL": 1, "HIGH": 1}),
        ));
        results.push(result(
            "test/centos",
            &centos,
            centos_findings.clone(),
            json!({"MEDIUM": 1}),
        ));
    }
    moto.set_scan_findings("us-west-2", &json!(results));
}

fn with_moto(command: &mut Command, moto: &MotoServer) -> Command {
    let mut command = std::mem::replace(command, Command::cargo_bin("ecrscan").unwrap());
    command.envs(moto.env());
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_summary_findings_against_moto() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    walkthrough(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("configs");
    let cli = |args: &[&str]| run(&mut with_moto(ecrscan(&store).args(args), &moto));

    let before = cli(&["summary"]);
    assert_eq!(before.code, 0);
    assert_eq!(before.stdout, "", "no configs, no images");

    let ubuntu_file = dir.path().join("ubuntu.json");
    std::fs::write(&ubuntu_file, UBUNTU).unwrap();
    let ubuntu_id = cli(&["configs", "add", ubuntu_file.to_str().unwrap()])
        .stdout
        .trim()
        .to_owned();
    // `created` has whole seconds; a second apart keeps the listing order fixed.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    cli(&[
        "configs",
        "add",
        "--region",
        "us-west-2",
        "--registry",
        "123456789012",
        "--repository",
        "test/centos",
        "--tag",
        "7",
    ]);

    let not_scanned = cli(&["summary"]);
    assert_eq!(not_scanned.code, 0);
    assert!(
        not_scanned
            .stdout
            .contains("Results for test/ubuntu:16.04 in us-west-2:\n Status: NOT_SCANNED\n")
    );

    let scanned = cli(&["scan"]);
    assert_eq!(scanned.code, 0, "{}", scanned.stderr);
    assert_eq!(
        scanned.stdout,
        "test/ubuntu:16.04 started\ntest/ubuntu:latest started\ntest/centos:7 started\n"
    );
    assert_eq!(
        scanned.stderr,
        "3 started, 0 already scanned, 0 continuous, 0 failed\n"
    );

    let again = cli(&["scan", "-o", "json"]);
    assert_eq!(again.code, 0);
    let report: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(report["already_scanned"], 3);
    assert_eq!(report["images"][0]["outcome"], "already_scanned");
    assert_eq!(report["images"][0]["config_id"], ubuntu_id);
    assert!(
        report["images"][0]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(
        report["images"][0]
            .as_object()
            .unwrap()
            .contains_key("reason")
    );

    let text = cli(&["summary"]);
    assert_eq!(text.code, 0);
    golden("summary.txt", &text.stdout);
    let table = cli(&["summary", "-o", "table"]);
    golden("summary-table.txt", &table.stdout);
    let json = cli(&["summary", "-o", "json", "--wait", "5s"]);
    let summary: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        summary["totals"],
        json!({"CRITICAL": 2, "HIGH": 2, "MEDIUM": 1})
    );

    assert_eq!(cli(&["summary", "--fail-on", "HIGH"]).code, 3);
    assert_eq!(cli(&["summary", "--fail-on", "critical"]).code, 3);

    let feed = cli(&["findings", &ubuntu_id]);
    assert_eq!(feed.code, 0);
    assert!(roxmltree::Document::parse(&feed.stdout).is_ok());
    assert_eq!(
        feed.stdout.matches("<entry>").count(),
        4,
        "2 tags x 2 findings"
    );
    let high_json = cli(&[
        "findings",
        &ubuntu_id,
        "--format",
        "json",
        "--min-severity",
        "CRITICAL",
    ]);
    let images: serde_json::Value = serde_json::from_str(&high_json.stdout).unwrap();
    assert_eq!(images[0]["findings"].as_array().unwrap().len(), 1);
    assert_eq!(images[0]["findings"][0]["name"], "CVE-2019-3462");
    let out = dir.path().join("feed.atom");
    let written = cli(&["findings", &ubuntu_id, "--output", out.to_str().unwrap()]);
    assert_eq!(written.code, 0);
    assert!(written.stdout.is_empty(), "data went to the file");
    assert!(written.stderr.contains("wrote 4 findings"));
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("CVE-2016-2779")
    );
}

#[tokio::test]
async fn failed_scans_exit_1_with_reasons() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_repository("test/ubuntu").await;
    moto.push_image("test/ubuntu", "u", &["16.04"]).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("configs");
    let cli = |args: &[&str]| run(&mut with_moto(ecrscan(&store).args(args), &moto));
    cli(&[
        "configs",
        "add",
        "--region",
        "us-west-2",
        "--registry",
        "123456789012",
        "--repository",
        "test/ubuntu",
        "--tag",
        "16.04",
        "--tag",
        "gone",
    ]);
    cli(&[
        "configs",
        "add",
        "--region",
        "us-west-2",
        "--registry",
        "123456789012",
        "--repository",
        "no/such-repo",
    ]);
    let result = cli(&["scan"]);
    assert_eq!(result.code, 1);
    // Both configs were created in the same second: their order is by id.
    let mut lines: Vec<&str> = result.stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "no/such-repo:* failed: repository 123456789012/no/such-repo in us-west-2 not found",
            "test/ubuntu:16.04 started",
            "test/ubuntu:gone failed: tag gone not found in test/ubuntu",
        ]
    );
    let stderr: Vec<&str> = result.stderr.lines().collect();
    assert_eq!(
        stderr[0], "1 started, 0 already scanned, 0 continuous, 2 failed",
        "{}",
        result.stderr
    );
    // The first failure in the (random) order of the configs.
    assert!(
        [
            "error: 2 of 3 images failed; the first failure: \
             repository 123456789012/no/such-repo in us-west-2 not found",
            "error: 2 of 3 images failed; the first failure: tag gone not found in test/ubuntu",
        ]
        .contains(&stderr[1]),
        "{}",
        result.stderr
    );
    assert_eq!(stderr.len(), 2, "{}", result.stderr);
}

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

#[test]
fn the_demo_runs_end_to_end() {
    if MotoServer::start().is_none() {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = StdCommand::new("bash")
        .arg(root.join("scripts/demo.sh"))
        .env("ECRSCAN_BIN", assert_cmd::cargo::cargo_bin("ecrscan"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for expected in [
        "$ ecrscan configs add scan-config-amazonlinux.json scan-config-centos.json scan-config-ubuntu.json",
        "test/ubuntu:16.04 started",
        "test/ubuntu:latest already_scanned",
        "Results for test/ubuntu:16.04 in us-west-2:\n CRITICAL: 1\n",
        "Results for amazonlinux:2018.03 in us-west-2:\n MEDIUM: 2\n",
        "baseline  test/ubuntu:16.04 (sha256:",
        "tag moved  test/ubuntu:latest (sha256:",
        "NEW     CRITICAL  CVE-2026-1234 openssl 1.0.2g-1ubuntu4.20  test/ubuntu:latest",
        "FIXED   CRITICAL  CVE-2019-3462 apt",
        "exit code 3",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }
    let feed = stdout
        .lines()
        .find_map(|line| line.strip_prefix("Done. The Atom feed of test/ubuntu's findings is in "))
        .expect("the demo says where the feed is");
    let xml = std::fs::read_to_string(feed).unwrap();
    assert!(roxmltree::Document::parse(&xml).is_ok());
    let _ = std::fs::remove_dir_all(Path::new(feed).parent().unwrap());
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
    assert!(scan.stderr.starts_with("error: no image could be scanned; the first failure: could not reach AWS for ecr:ListImages"), "{}", scan.stderr);
    let summary = run(ecrscan(&store).envs(env).arg("summary"));
    assert_eq!(summary.code, 1);
    assert_eq!(
        summary.stderr,
        "error: no scan result could be read; the first failure: could not reach AWS for ecr:ListImages\n"
    );
}

#[tokio::test]
async fn the_s3_store_through_the_cli() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let s3 = moto.create_bucket("team-configs").await;
    let dir = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let mut command = ecrscan(dir.path());
        command
            .envs(moto.env())
            .env_remove("ECRSCAN_STORE")
            .env("ECR_SCAN_CONFIG_BUCKET", "team-configs")
            .args(args);
        run(&mut command)
    };
    let added = cli(&[
        "configs",
        "add",
        "--region",
        "us-west-2",
        "--registry",
        "123456789012",
        "--repository",
        "test/ubuntu",
        "--tag",
        "16.04",
    ]);
    assert_eq!(added.code, 0, "{}", added.stderr);
    let id = added.stdout.trim().to_owned();
    let listed = cli(&["configs", "list", "-o", "json"]);
    assert!(listed.stdout.contains(&id));
    let object = s3
        .head_object()
        .bucket("team-configs")
        .key(format!("{id}.json"))
        .send()
        .await;
    assert!(
        object.is_ok(),
        "stored at <id>.json at the bucket's root, as the sample does"
    );
    assert_eq!(cli(&["configs", "rm", &id]).code, 0);
    assert_eq!(cli(&["configs", "show", &id]).code, 2);
}

#[tokio::test]
async fn logs_never_contain_credentials_or_signatures() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_repository("test/ubuntu").await;
    moto.push_image("test/ubuntu", "u", &["16.04"]).await;
    moto.create_bucket("secrets-test").await;
    let key_id = "AKIAECRSCANLOGTEST01";
    let secret = "ecrscan/log+test/secret/key/do-not-print";
    let token = "ecrscan-session-token-do-not-print";
    let dir = tempfile::tempdir().unwrap();
    for (level, args) in [
        (
            "trace",
            vec![
                "--store",
                "s3://secrets-test",
                "configs",
                "add",
                "--region",
                "us-west-2",
                "--registry",
                "123456789012",
                "--repository",
                "test/ubuntu",
                "--tag",
                "16.04",
            ],
        ),
        ("trace", vec!["--store", "s3://secrets-test", "scan"]),
        (
            "trace",
            vec!["--store", "s3://secrets-test", "summary", "--live"],
        ),
        (
            "debug",
            vec!["--store", "s3://secrets-test", "-vv", "summary"],
        ),
    ] {
        let mut command = ecrscan(dir.path());
        command
            .envs(moto.env())
            .env("AWS_ACCESS_KEY_ID", key_id)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_SESSION_TOKEN", token)
            .env("RUST_LOG", level)
            .args(&args);
        let result = run(&mut command);
        assert!(
            result.code == 0 || result.code == 1,
            "{args:?}: {}",
            result.stderr
        );
        assert!(
            result.stderr.len() > 100,
            "{args:?}: the logs were produced"
        );
        for leak in [
            key_id,
            secret,
            token,
            "Signature=",
            "x-amz-security-token: ",
            "authorization: AWS4",
        ] {
            assert!(!result.stderr.contains(leak), "{args:?} logged {leak:?}");
            assert!(!result.stdout.contains(leak), "{args:?} printed {leak:?}");
        }
    }
}

#[test]
fn an_invalid_history_setting_is_a_usage_error_not_the_default() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["0", "abc", "101", ""] {
        let result = run(ecrscan(dir.path())
            .env("ECRSCAN_RESULT_HISTORY", bad)
            .args(["configs", "list"]));
        assert_eq!(result.code, 2, "{bad:?}: {}", result.stderr);
        assert!(
            result.stderr.contains("ECRSCAN_RESULT_HISTORY")
                && result.stderr.contains("from 1 to 100"),
            "{}",
            result.stderr
        );
    }
    let result = run(ecrscan(dir.path())
        .env("ECRSCAN_RESULT_HISTORY", "5")
        .args(["configs", "list"]));
    assert_eq!(result.code, 0, "{}", result.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_against_moto_baseline_then_what_changed() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_repository("test/ubuntu").await;
    let digest = moto.push_image("test/ubuntu", "changes", &["latest"]).await;
    let result_of = |digest: &str, completed: i64, findings: serde_json::Value| {
        json!({
            "registryId": "123456789012", "repositoryName": "test/ubuntu", "imageId": {"imageDigest": digest},
            "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
            "imageScanFindings": {"imageScanCompletedAt": completed, "findings": findings}
        })
    };
    let result =
        |completed: i64, findings: serde_json::Value| result_of(&digest, completed, findings);
    let openssl = json!({"name": "CVE-2026-1234", "severity": "HIGH",
        "attributes": [{"key": "package_name", "value": "openssl"}, {"key": "package_version", "value": "3.0.1"}]});
    let raised = json!({"name": "CVE-2026-1234", "severity": "CRITICAL",
        "attributes": [{"key": "package_name", "value": "openssl"}, {"key": "package_version", "value": "3.0.1"}]});
    let zlib = json!({"name": "CVE-2026-0001", "severity": "LOW",
        "attributes": [{"key": "package_name", "value": "zlib"}, {"key": "package_version", "value": "1.2"}]});
    let glibc = json!({"name": "CVE-2026-7777", "severity": "CRITICAL",
        "attributes": [{"key": "package_name", "value": "glibc"}, {"key": "package_version", "value": "2.36"}]});
    moto.set_scan_findings(
        "us-west-2",
        &json!([result(1_764_230_400, json!([openssl, zlib]))]),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("configs");
    let cli = |args: &[&str]| run(&mut with_moto(ecrscan(&store).args(args), &moto));
    assert_eq!(
        cli(&[
            "configs",
            "add",
            "--region",
            "us-west-2",
            "--registry",
            "123456789012",
            "--repository",
            "test/ubuntu",
            "--tag",
            "latest",
        ])
        .code,
        0
    );
    // Channels: an SNS topic read back through SQS, and a webhook that is down.
    let (topic, queue_url) = moto.topic_with_queue("changes").await;
    let sns_channel = cli(&["channels", "add", "sns", &topic]);
    assert_eq!(sns_channel.code, 0, "{}", sns_channel.stderr);
    let sns_channel = sns_channel.stdout.trim().to_owned();
    let secret = dir.path().join("webhook-secret");
    std::fs::write(&secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_url = format!(
        "http://127.0.0.1:{}/hook",
        down.local_addr().unwrap().port()
    );
    drop(down);
    let webhook_channel = cli(&[
        "channels",
        "add",
        "webhook",
        &down_url,
        "--secret",
        &format!("file:{}", secret.display()),
    ]);
    assert_eq!(webhook_channel.code, 0, "{}", webhook_channel.stderr);
    let webhook_channel = webhook_channel.stdout.trim().to_owned();
    let sns_messages = || moto.drain_queue(&queue_url);

    assert_eq!(cli(&["scan"]).code, 0);
    assert_eq!(
        cli(&["changes"]).stdout,
        "",
        "nothing recorded yet, nothing printed"
    );

    assert_eq!(cli(&["summary"]).code, 0);
    let baseline = cli(&["changes", "-o", "json"]);
    assert_eq!(baseline.code, 0, "{}", baseline.stderr);
    let json: serde_json::Value = serde_json::from_str(&baseline.stdout).unwrap();
    assert_eq!(json["changes"].as_array().unwrap().len(), 1);
    assert_eq!(json["changes"][0]["kind"], "baseline");
    assert_eq!(json["changes"][0]["tags"], json!(["latest"]));
    assert_eq!(
        json["changes"][0]["counts"]["after"],
        json!({"HIGH": 1, "LOW": 1})
    );
    assert!(sns_messages().await.is_empty(), "baselines are never sent");

    // A newer result of the same digest (a day later): moto gives one to an
    // image deleted and pushed again, scanned again.
    moto.ecr()
        .batch_delete_image()
        .repository_name("test/ubuntu")
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(&digest)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        moto.push_image("test/ubuntu", "changes", &["latest"]).await,
        digest
    );
    assert_eq!(cli(&["scan"]).code, 0);
    moto.set_scan_findings(
        "us-west-2",
        &json!([result(1_764_316_800, json!([raised, glibc]))]),
    );
    let summary = cli(&["summary", "--live"]);
    assert_eq!(summary.code, 0, "{}", summary.stderr);
    assert!(
        summary.stderr.contains("sent 1 notifications"),
        "{}",
        summary.stderr
    );
    assert!(
        summary
            .stderr
            .contains("1 notifications could not be sent now"),
        "the webhook is down: {}",
        summary.stderr
    );
    let sent = sns_messages().await;
    let [notification] = &sent[..] else {
        panic!("one SNS message: {sent:?}")
    };
    assert_eq!(
        notification["MessageAttributes"]["kind"]["Value"],
        "findings_changed"
    );
    assert_eq!(
        notification["MessageAttributes"]["severity"]["Value"],
        "CRITICAL"
    );
    let status = cli(&["channels", "status", "-o", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let of = |id: &str| {
        status
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["channel"]["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(of(&sns_channel)["delivered"], 1);
    assert_eq!(of(&sns_channel)["pending"], 0);
    let webhook_status = of(&webhook_channel);
    assert_eq!(webhook_status["pending"], 1);
    assert_eq!(webhook_status["outstanding"][0]["attempts"], 3);
    assert!(
        webhook_status["outstanding"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("connect"),
        "{webhook_status}"
    );
    let table = cli(&["channels", "status"]);
    assert!(
        table.stdout.contains("pending  ")
            && table
                .stdout
                .contains("findings_changed test/ubuntu@sha256:"),
        "{}",
        table.stdout
    );
    let retry = cli(&["channels", "retry", &webhook_channel]);
    assert_eq!(retry.code, 1, "still down: {}", retry.stderr);
    assert!(
        retry
            .stderr
            .contains("0 delivered, 1 still pending, 0 failed"),
        "{}",
        retry.stderr
    );
    let test = cli(&["channels", "test", &webhook_channel]);
    assert_eq!(test.code, 1);
    assert!(test.stderr.contains("not delivered"), "{}", test.stderr);
    let test = cli(&["channels", "test", &sns_channel]);
    assert_eq!(test.code, 0, "{}", test.stderr);
    let sent = sns_messages().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["MessageAttributes"]["kind"]["Value"], "test");

    let changed = cli(&["changes", "-o", "json"]);
    let json: serde_json::Value = serde_json::from_str(&changed.stdout).unwrap();
    let changes = json["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{}", changed.stdout);
    let latest = &changes[0];
    assert_eq!(latest["kind"], "findings_changed");
    assert_eq!(latest["digest"], json!(digest));
    assert_eq!(latest["new"][0]["name"], "CVE-2026-7777");
    assert_eq!(latest["fixed"][0]["name"], "CVE-2026-0001");
    assert_eq!(latest["severity_changed"][0]["from"], "HIGH");
    assert_eq!(latest["severity_changed"][0]["to"], "CRITICAL");
    assert_eq!(
        latest["new"][0]["package_name"], "glibc",
        "findings as `findings --format json` prints them"
    );
    let summary = cli(&["summary", "-o", "json"]);
    let summary: serde_json::Value = serde_json::from_str(&summary.stdout).unwrap();
    let last_changed = summary["images"][0]["last_changed_at"].as_str().unwrap();
    assert_eq!(
        last_changed[..19],
        latest["detected_at"].as_str().unwrap()[..19],
        "a summary row says when its image last changed"
    );

    let text = cli(&["changes", "--min-severity", "CRITICAL"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(
        lines[0].contains("findings changed  test/ubuntu:latest"),
        "{}",
        text.stdout
    );
    assert!(
        lines.iter().any(|l| l.starts_with(
            "NEW     CRITICAL  CVE-2026-7777 glibc 2.36  test/ubuntu:latest (sha256:"
        )),
        "{}",
        text.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("RAISED  CRITICAL  CVE-2026-1234 openssl 3.0.1")),
        "{}",
        text.stdout
    );
    assert!(
        !text.stdout.contains("CVE-2026-0001"),
        "LOW is below --min-severity"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("baseline  test/ubuntu:latest"))
    );

    let recent = cli(&["changes", "--since", "1h", "-o", "json"]);
    let recent: serde_json::Value = serde_json::from_str(&recent.stdout).unwrap();
    assert_eq!(recent["changes"].as_array().unwrap().len(), 2);
    let future = cli(&["changes", "--since", "2099-01-01T00:00:00Z"]);
    assert_eq!(future.stdout, "");
    let bad = cli(&["changes", "--since", "yesterday"]);
    assert_eq!(bad.code, 2);

    // The tag moves to a new image: its baseline, and what the tag's users
    // gained and lost. Queued with --no-send, sent by `channels retry`.
    let moved_to = moto
        .push_image("test/ubuntu", "changes-moved", &["latest"])
        .await;
    assert_ne!(moved_to, digest);
    let curl = json!({"name": "CVE-2026-4242", "severity": "HIGH",
        "attributes": [{"key": "package_name", "value": "curl"}, {"key": "package_version", "value": "8.0"}]});
    moto.set_scan_findings(
        "us-west-2",
        &json!([
            result(1_764_316_800, json!([raised, glibc])),
            result_of(&moved_to, 1_764_403_200, json!([raised, curl]))
        ]),
    );
    assert_eq!(cli(&["scan"]).code, 0);
    let summary = cli(&["summary", "--no-send"]);
    assert_eq!(summary.code, 0, "{}", summary.stderr);
    assert!(sns_messages().await.is_empty(), "--no-send only queues");
    let moved = cli(&["changes", "-o", "json"]);
    let json: serde_json::Value = serde_json::from_str(&moved.stdout).unwrap();
    let kinds: Vec<&str> = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    let mut sorted = kinds.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ["baseline", "baseline", "findings_changed", "tag_moved"],
        "{}",
        moved.stdout
    );
    let tag_moved = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "tag_moved")
        .unwrap();
    assert_eq!(tag_moved["digest"], json!(moved_to));
    assert_eq!(tag_moved["previous_digest"], json!(digest));
    assert_eq!(tag_moved["tags"], json!(["latest"]));
    assert_eq!(tag_moved["new"][0]["name"], "CVE-2026-4242");
    assert_eq!(tag_moved["fixed"][0]["name"], "CVE-2026-7777");
    assert_eq!(tag_moved["severity_changed"], json!([]));

    let retry = cli(&["channels", "retry", &sns_channel]);
    assert_eq!(retry.code, 0, "{}", retry.stderr);
    let sent = sns_messages().await;
    let [notification] = &sent[..] else {
        panic!("the tag move, once: {sent:?}")
    };
    assert_eq!(
        notification["MessageAttributes"]["kind"]["Value"],
        "tag_moved"
    );
    assert_eq!(cli(&["channels", "retry", &sns_channel]).code, 0);
    assert!(sns_messages().await.is_empty(), "delivered once");

    let removed = cli(&["channels", "rm", &webhook_channel]);
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    assert!(
        removed.stderr.contains("and 2 delivery records"),
        "{}",
        removed.stderr
    );
}

#[test]
fn channels_add_list_rm_with_secrets_as_references_only() {
    let dir = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| run(ecrscan(dir.path()).args(args));
    let webhook = cli(&[
        "channels",
        "add",
        "webhook",
        "https://hooks.example.com/ecrscan",
        "--secret",
        "env:ECRSCAN_WEBHOOK_SECRET",
        "--min-severity",
        "CRITICAL",
    ]);
    assert_eq!(webhook.code, 0, "{}", webhook.stderr);
    let webhook_id = webhook.stdout.trim().to_owned();
    assert!(uuid::Uuid::parse_str(&webhook_id).is_ok(), "{webhook_id}");
    let sns = cli(&[
        "channels",
        "add",
        "sns",
        "arn:aws:sns:us-west-2:123456789012:ecrscan-changes",
        "--include-fixed",
    ]);
    assert_eq!(sns.code, 0, "{}", sns.stderr);
    assert_eq!(cli(&["channels", "add", "eventbridge"]).code, 0);
    let slack = cli(&[
        "channels",
        "add",
        "slack",
        "https://hooks.slack.com/services/T000/B000/SuperSecretToken",
    ]);
    assert_eq!(slack.code, 0, "{}", slack.stderr);
    for format in ["table", "json"] {
        let listed = cli(&["channels", "list", "-o", format]);
        assert!(
            !listed.stdout.contains("SuperSecretToken"),
            "a Slack URL is a credential: {}",
            listed.stdout
        );
        let status = cli(&["channels", "status", "-o", format]);
        assert!(
            !status.stdout.contains("SuperSecretToken"),
            "{}",
            status.stdout
        );
    }
    assert_eq!(cli(&["channels", "rm", slack.stdout.trim()]).code, 0);

    let table = cli(&["channels", "list"]);
    assert_eq!(table.code, 0);
    assert!(
        table.stdout.contains("env:ECRSCAN_WEBHOOK_SECRET"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("HIGH (+fixed)"), "{}", table.stdout);
    let json: serde_json::Value =
        serde_json::from_str(&cli(&["channels", "list", "-o", "json"]).stdout).unwrap();
    let channels = json.as_array().unwrap();
    assert_eq!(channels.len(), 3);
    assert_eq!(channels[0]["type"], "webhook");
    assert_eq!(channels[0]["secret"], "env:ECRSCAN_WEBHOOK_SECRET");
    assert_eq!(channels[0]["min_severity"], "CRITICAL");

    // Bad input: exit 2 naming the problem, nothing stored, no secret echoed.
    for (args, expected) in [
        (
            vec![
                "channels",
                "add",
                "webhook",
                "http://hooks.example.com/x",
                "--secret",
                "env:S",
            ],
            "must be https",
        ),
        (
            vec![
                "channels",
                "add",
                "webhook",
                "https://h.example.com/x",
                "--secret",
                "whsec_SuperSecretValue123",
            ],
            "not a reference",
        ),
        (
            vec![
                "channels",
                "add",
                "slack",
                "https://evil.example.com/services/x",
            ],
            "hooks.slack.com",
        ),
        (
            vec![
                "channels",
                "add",
                "sns",
                "arn:aws:sqs:us-west-2:123456789012:q",
            ],
            "topic_arn",
        ),
        (
            vec!["channels", "add", "eventbridge", "bad bus"],
            "invalid bus",
        ),
    ] {
        let result = cli(&args);
        assert_eq!(result.code, 2, "{args:?}: {}", result.stderr);
        assert!(
            result.stderr.contains(expected),
            "{args:?}: {}",
            result.stderr
        );
        assert!(
            !result.stderr.contains("SuperSecretValue"),
            "{}",
            result.stderr
        );
    }
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&cli(&["channels", "list", "-o", "json"]).stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );

    assert_eq!(cli(&["channels", "rm", &webhook_id]).code, 0);
    let again = cli(&["channels", "rm", &webhook_id]);
    assert_eq!(again.code, 2, "an unknown id: {}", again.stderr);
    assert_eq!(cli(&["channels", "rm", "not-a-uuid"]).code, 2);
}
