//! Whole workflows against moto server: scan, summary, findings, changes,
//! the S3 store.

use ecrscan_core::testing::MotoServer;
use serde_json::json;

use super::fixtures::*;

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

    // The HTML report: to a file named by -o html --output, or by its
    // extension alone, with the JSON summary's totals; the gate still gates.
    let page = dir.path().join("report.html");
    let html = cli(&[
        "summary",
        "-o",
        "html",
        "--output",
        page.to_str().unwrap(),
        "--fail-on",
        "CRITICAL",
    ]);
    assert_eq!(html.code, 3, "{}", html.stderr);
    assert!(html.stdout.is_empty(), "the page went to the file");
    assert!(
        html.stderr.contains("wrote the summary of 3 images to"),
        "{}",
        html.stderr
    );
    let written = std::fs::read_to_string(&page).unwrap();
    assert!(written.starts_with("<!DOCTYPE html>"));
    for (severity, count) in [("CRITICAL", 2), ("HIGH", 2), ("MEDIUM", 1), ("LOW", 0)] {
        assert!(
            written.contains(&format!("<dd data-severity=\"{severity}\">{count}</dd>")),
            "{severity} {count}"
        );
    }
    let by_extension = dir.path().join("fleet.htm");
    assert_eq!(
        cli(&["summary", "--output", by_extension.to_str().unwrap()]).code,
        0
    );
    assert!(
        std::fs::read_to_string(&by_extension)
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
    let to_stdout = cli(&["summary", "-o", "html"]);
    assert!(to_stdout.stdout.starts_with("<!DOCTYPE html>"));
    let unknown = cli(&["summary", "--output", "report.pdf"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("say the format too"),
        "{}",
        unknown.stderr
    );

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
