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
        json!({"configs": 1, "skipped_configs": 0, "started": 2, "already_scanned": 0, "continuous": 0, "failed": 0})
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
