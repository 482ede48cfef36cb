//! End to end: the `ecrscan-api` binary over HTTP, with the S3 store and
//! ECR on moto server, and the `ecrscan-start-scan` binary between.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ecrscan_core::testing::MotoServer;
use serde_json::json;

struct Api {
    child: Child,
    port: u16,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Api {
    fn start(moto: &MotoServer, store: &str) -> Api {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_ecrscan-api"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .envs(moto.env())
            .env("ECRSCAN_STORE", store)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start ecrscan-api");
        let api = Api { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "ecrscan-api did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        api
    }

    fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let body = body.unwrap_or("");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_scheduled_scan_over_moto() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_bucket("ecrscan-configs").await;
    moto.create_repository("test/ubuntu").await;
    let digest = moto
        .push_image("test/ubuntu", "ubuntu-16.04", &["16.04", "latest"])
        .await;
    let findings = json!({
        "registryId": "123456789012", "repositoryName": "test/ubuntu", "imageId": {"imageDigest": digest},
        "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
        "imageScanFindings": {
            "imageScanCompletedAt": 1764230400, "vulnerabilitySourceUpdatedAt": 1764200000,
            "findingSeverityCounts": {"HIGH": 1},
            "findings": [{"name": "CVE-2016-2779", "severity": "HIGH", "description": "runuser escape",
                          "uri": "https://people.canonical.com/~ubuntu-security/cve/2016/CVE-2016-2779.html",
                          "attributes": [{"key": "package_name", "value": "util-linux"}]}]
        }
    });
    moto.set_scan_findings(
        "us-west-2",
        &json!([findings.clone(), findings.clone(), findings]),
    );

    let store = "s3://ecrscan-configs/scan-configs";
    let api = Api::start(&moto, store);

    let (status, body) = api.request(
        "POST",
        "/configs/",
        Some(r#"{"region":"us-west-2","registry":"123456789012","repository":"test/ubuntu","tags":["16.04","latest"]}"#),
    );
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, body) = api.request("GET", "/configs", None);
    assert_eq!(status, 200);
    assert!(body.contains(&id));

    let (status, body) = api.request("GET", "/summary", None);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        "Results for test/ubuntu:16.04 in us-west-2:\n Status: NOT_SCANNED\n\nResults for test/ubuntu:latest in us-west-2:\n Status: NOT_SCANNED\n\n"
    );

    let scan = Command::new(env!("CARGO_BIN_EXE_ecrscan-start-scan"))
        .envs(moto.env())
        .env("ECRSCAN_STORE", store)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run ecrscan-start-scan");
    assert!(
        scan.status.success(),
        "{}",
        String::from_utf8_lossy(&scan.stderr)
    );
    let counts: serde_json::Value = serde_json::from_slice(&scan.stdout).unwrap();
    assert_eq!(
        counts,
        json!({"configs": 1, "skipped_configs": 0, "started": 2, "already_scanned": 0, "continuous": 0, "failed": 0,
               "notifications": {"delivered": 0, "retry_later": 0, "failed": 0, "deferred": 0, "waiting": 0, "pruned": 0, "errors": []}})
    );

    let (status, body) = api.request("GET", "/summary?format=json", None);
    assert_eq!(status, 200);
    let summary: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(summary["images"][0]["status"], "COMPLETE");
    assert_eq!(summary["totals"], json!({"HIGH": 2}));

    let (status, feed) = api.request("GET", &format!("/findings/{id}"), None);
    assert_eq!(status, 200);
    assert!(
        feed.contains("[HIGH] in image test/ubuntu:16.04 found CVE-2016-2779"),
        "{feed}"
    );
    assert!(roxmltree::Document::parse(&feed).is_ok());

    assert_eq!(
        api.request("DELETE", &format!("/configs/{id}"), None).0,
        204
    );
    let (status, body) = api.request("DELETE", &format!("/configs/{id}"), None);
    assert_eq!(status, 404, "{body}");
    assert_eq!(api.request("GET", &format!("/findings/{id}"), None).0, 404);
}

#[test]
fn api_without_a_store_says_what_to_set() {
    let output = Command::new(env!("CARGO_BIN_EXE_ecrscan-api"))
        .env_remove("ECRSCAN_STORE")
        .env_remove("ECR_SCAN_CONFIG_BUCKET")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ECRSCAN_STORE"), "{stderr}");
}

#[test]
fn every_binary_refuses_an_invalid_setting_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let binaries = [
        env!("CARGO_BIN_EXE_ecrscan-api"),
        env!("CARGO_BIN_EXE_ecrscan-start-scan"),
        env!("CARGO_BIN_EXE_ecrscan-record-result"),
        env!("CARGO_BIN_EXE_ecrscan-scan-worker"),
    ];
    for (name, value, rule) in [
        ("ECRSCAN_CALLS_PER_SECOND", "0", "from 1 to 10000"),
        ("ECRSCAN_CALLS_PER_SECOND", "abc", "from 1 to 10000"),
        ("ECRSCAN_RESULT_HISTORY", "0", "from 1 to 100"),
        ("ECRSCAN_MAX_RECEIVES", "many", "from 1 to 1000"),
    ] {
        for binary in binaries {
            if name == "ECRSCAN_MAX_RECEIVES" && !binary.ends_with("scan-worker") {
                continue;
            }
            let output = Command::new(binary)
                .env("ECRSCAN_STORE", dir.path())
                .env("ECRSCAN_WORK_QUEUE_URL", "http://127.0.0.1:9/queue")
                .env("ECRSCAN_DEAD_LETTER_QUEUE_URL", "http://127.0.0.1:9/dlq")
                .env(name, value)
                .env_remove("AWS_LAMBDA_RUNTIME_API")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_REGION", "us-west-2")
                .args(["--event", "/dev/null"])
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                !output.status.success(),
                "{binary} {name}={value}: {stderr}"
            );
            assert!(
                stderr.contains(&format!("{name}=\"{value}\" is not valid"))
                    && stderr.contains(rule),
                "{binary} {name}={value}: {stderr}"
            );
        }
    }
}

/// Runs `binary` with `stdin` as its standard input; its status, stdout and stderr.
fn run_with_stdin(
    binary: &str,
    args: &[&str],
    envs: Vec<(&'static str, String)>,
    stdin: &str,
) -> (bool, String, String) {
    let mut child = Command::new(binary)
        .args(args)
        .envs(envs)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_recorded_scan_event_replayed_outside_lambda_records_the_result() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_repository("replay/app").await;
    let digest = moto.push_image("replay/app", "replay-1", &["v1"]).await;
    let findings = json!({
        "registryId": "123456789012", "repositoryName": "replay/app", "imageId": {"imageDigest": digest},
        "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
        "imageScanFindings": {
            "imageScanCompletedAt": 1764230400,
            "findingSeverityCounts": {"CRITICAL": 1},
            "findings": [{"name": "CVE-2026-1234", "severity": "CRITICAL",
                          "attributes": [{"key": "package_name", "value": "openssl"}]}]
        }
    });
    moto.set_scan_findings("us-west-2", &json!([findings.clone(), findings]));
    // The scan that ECR's event announces.
    moto.ecr()
        .start_image_scan()
        .repository_name("replay/app")
        .image_id(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(&digest)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().to_str().unwrap().to_owned();
    let event = std::fs::read_to_string(format!(
        "{}/tests/events/ecr-image-scan.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("us-east-1", "us-west-2")
    .replace("my-repository-name", "replay/app")
    .replace(
        "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234",
        &digest,
    );
    let mut envs = moto.env();
    envs.push(("ECRSCAN_STORE", store.clone()));
    let binary = env!("CARGO_BIN_EXE_ecrscan-record-result");
    // A change the API recorded and queued (it never sends): the recorder
    // sends it after recording, to an SNS topic read back through SQS.
    let (topic, queue_url) = moto.topic_with_queue("changes").await;
    let channels = ecrscan_core::DirStore::open(&store).await.unwrap();
    let channel = ecrscan_core::channels::Channel::create(
        ecrscan_core::channels::Target::Sns {
            topic_arn: topic.clone(),
        },
        ecrscan_core::Severity::High,
        false,
        chrono::Utc::now(),
    )
    .unwrap();
    use ecrscan_core::ChannelStore;
    channels.put_channel(&channel).await.unwrap();
    let queued = ecrscan_core::notify::messages::test_change(chrono::Utc::now());
    channels
        .put_delivery(
            &ecrscan_core::deliveries::Delivery::queue(
                channel.id,
                queued.clone(),
                chrono::Utc::now(),
            ),
            ecrscan_core::store::PutMode::Create,
        )
        .await
        .unwrap();

    let (ok, stdout, stderr) = run_with_stdin(binary, &[], envs.clone(), &event);
    assert!(ok, "{stderr}");
    let mut recorded: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let notifications = recorded
        .as_object_mut()
        .unwrap()
        .remove("notifications")
        .unwrap();
    assert_eq!(
        recorded,
        json!({"image": format!("replay/app@{digest}"), "status": "COMPLETE", "findings": 1, "outcome": "recorded"})
    );
    assert_eq!(
        notifications,
        json!({"delivered": 1, "retry_later": 0, "failed": 0, "deferred": 0, "waiting": 0, "pruned": 0, "errors": []}),
        "the baseline it recorded is not sent; the queued change is"
    );
    let received = moto.drain_queue(&queue_url).await;
    let [notification] = &received[..] else {
        panic!("one message: {received:?}")
    };
    let event_sent: serde_json::Value =
        serde_json::from_str(notification["Message"].as_str().unwrap()).unwrap();
    assert_eq!(event_sent["id"], queued.id.to_string());
    let results = ecrscan_core::DirStore::open(&store).await.unwrap();
    let recorder = ecrscan_core::Recorder::new(std::sync::Arc::new(results));
    let repository =
        ecrscan_core::RepositoryRef::new("us-west-2", "123456789012", "replay/app").unwrap();
    let record = recorder
        .digest_record(&repository, &digest)
        .await
        .unwrap()
        .expect("the result is recorded");
    assert_eq!(
        record.latest().unwrap().scan.findings[0].name,
        "CVE-2026-1234"
    );

    // The same event again, from a file: the same scan, confirmed, not recorded twice.
    let file = dir.path().join("event.json");
    std::fs::write(&file, &event).unwrap();
    let (ok, stdout, stderr) = run_with_stdin(
        binary,
        &["--event", file.to_str().unwrap()],
        envs.clone(),
        "",
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains(r#""outcome":"confirmed""#), "{stdout}");
    let record = recorder
        .digest_record(&repository, &digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.results.len(), 1);

    // Bad events are clear errors, not panics.
    for (bad, expected) in [
        ("{not json", "not JSON"),
        (r#"{"detail-type":"Something Else"}"#, "not a scan event"),
    ] {
        let (ok, _, stderr) = run_with_stdin(binary, &[], envs.clone(), bad);
        assert!(!ok);
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[tokio::test]
async fn an_api_gateway_event_replayed_outside_lambda_gets_the_routers_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store = ecrscan_core::DirStore::open(dir.path()).await.unwrap();
    let config = ecrscan_core::conformance::sample_config("test/ubuntu", &["16.04"], 1);
    ecrscan_core::ConfigStore::put(&store, &config)
        .await
        .unwrap();
    let event = std::fs::read_to_string(format!(
        "{}/tests/events/rest-v1-get-config.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("CONFIG_ID", &config.id.to_string());
    let file = dir.path().join("event.json.in");
    std::fs::write(&file, event).unwrap();
    let envs = vec![
        ("ECRSCAN_STORE", dir.path().to_str().unwrap().to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_REGION", "us-west-2".to_owned()),
    ];
    let (ok, stdout, stderr) = run_with_stdin(
        env!("CARGO_BIN_EXE_ecrscan-api"),
        &["--event", file.to_str().unwrap()],
        envs,
        "",
    );
    assert!(ok, "{stderr}");
    let response: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(response["isBase64Encoded"], false);
    let body: serde_json::Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["id"], config.id.to_string());
    assert_eq!(body["repository"], "test/ubuntu");
}

/// The scheduled scan over SQS with the deployed binaries: `ecrscan-start-scan`
/// with `ECRSCAN_WORK_QUEUE_URL` queues one message per digest and starts
/// nothing; the messages, handed to `ecrscan-scan-worker` as Lambda's SQS
/// event source would, are started with no batch item failure, and a second
/// delivery of the same batch is ECR's quota answer, not a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_scan_queued_then_started_by_the_worker_binary() {
    use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_bucket("ecrscan-configs").await;
    moto.create_repository("team/app").await;
    let mut digests = Vec::new();
    for i in 0..3 {
        digests.push(
            moto.push_image("team/app", &format!("app-{i}"), &[&format!("v{i}")])
                .await,
        );
    }
    digests.sort();
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
    let dead_letter = sqs
        .create_queue()
        .queue_name("dlq")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let work = sqs
        .create_queue()
        .queue_name("work")
        .attributes(QueueAttributeName::VisibilityTimeout, "720")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let store = "s3://ecrscan-configs/";
    let config =
        r#"{"region":"us-west-2","registry":"123456789012","repository":"team/app","tags":[]}"#;
    let s3 = aws_sdk_s3::Client::new(&moto.sdk_config());
    s3.put_object()
        .bucket("ecrscan-configs")
        .key("3f2504e0-4f89-41d3-9a0c-0305e82c3301.json")
        .body(
            format!(
                r#"{{"id":"3f2504e0-4f89-41d3-9a0c-0305e82c3301","created":"1764230400",{}"#,
                &config[1..]
            )
            .into_bytes()
            .into(),
        )
        .send()
        .await
        .unwrap();
    let queue_env = |mut env: Vec<(&'static str, String)>| {
        env.push(("ECRSCAN_STORE", store.to_owned()));
        env.push(("ECRSCAN_WORK_QUEUE_URL", work.clone()));
        env.push(("ECRSCAN_DEAD_LETTER_QUEUE_URL", dead_letter.clone()));
        env.push(("ECRSCAN_MAX_RECEIVES", "5".to_owned()));
        env
    };

    let planned = Command::new(env!("CARGO_BIN_EXE_ecrscan-start-scan"))
        .envs(queue_env(moto.env()))
        .env("RUST_LOG", "warn")
        .output()
        .expect("run ecrscan-start-scan");
    assert!(
        planned.status.success(),
        "{}",
        String::from_utf8_lossy(&planned.stderr)
    );
    let counts: serde_json::Value = serde_json::from_slice(&planned.stdout).unwrap();
    assert_eq!(counts["scans"], 3, "{counts}");
    assert_eq!(counts["resolved"], 1, "{counts}");
    assert_eq!(counts["configs"], 1, "{counts}");

    // What Lambda's event source would hand over.
    let received = sqs
        .receive_message()
        .queue_url(&work)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let records: Vec<serde_json::Value> = received
        .messages()
        .iter()
        .map(|m| {
            json!({"messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                   "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                   "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-west-2:123456789012:work",
                   "awsRegion": "us-west-2"})
        })
        .collect();
    assert_eq!(records.len(), 3);
    let bodies: Vec<serde_json::Value> = records
        .iter()
        .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
        .collect();
    let mut queued: Vec<&str> = bodies
        .iter()
        .map(|b| b["digest"].as_str().unwrap())
        .collect();
    queued.sort_unstable();
    assert_eq!(
        queued,
        digests.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let event = json!({"Records": records}).to_string();

    let worker = env!("CARGO_BIN_EXE_ecrscan-scan-worker");
    for attempt in ["first delivery", "the same batch again"] {
        let (ok, stdout, stderr) = run_with_stdin(worker, &[], queue_env(moto.env()), &event);
        assert!(ok, "{attempt}: {stderr}");
        let out: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(
            out["response"],
            json!({"batchItemFailures": []}),
            "{attempt}: {out}"
        );
        assert_eq!(out["counts"]["dead_lettered"], 0, "{attempt}: {out}");
        let done = out["counts"]["started"].as_u64().unwrap()
            + out["counts"]["already_scanned"].as_u64().unwrap();
        assert_eq!(done, 3, "{attempt}: {out}");
    }
    // Every image has a scan now, as ECR reports it.
    let ecr = moto.ecr();
    for digest in &digests {
        let findings = ecr
            .describe_image_scan_findings()
            .repository_name("team/app")
            .image_id(
                aws_sdk_ecr::types::ImageIdentifier::builder()
                    .image_digest(digest)
                    .build(),
            )
            .send()
            .await;
        assert!(findings.is_ok(), "{digest}: {findings:?}");
    }
}
