//! What the CLI tests share: the binary with a clean environment, golden
//! files, and the AWS sample's walkthrough seeded on moto.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ecrscan_core::testing::MotoServer;
use serde_json::json;

pub fn ecrscan(store: &Path) -> Command {
    let mut command = Command::cargo_bin("ecrscan").unwrap();
    command
        .env("ECRSCAN_STORE", store)
        .env_remove("ECR_SCAN_CONFIG_BUCKET")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env("NO_COLOR", "1");
    command
}

pub fn golden(name: &str, actual: &str) {
    ecrscan_core::testing::assert_golden(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
        name,
        actual.as_bytes(),
    );
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(command: &mut Command) -> Run {
    let output = command.output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub const UBUNTU: &str = r#"{"region":"us-west-2","registry":"123456789012","repository":"test/ubuntu","tags":["16.04","latest"]}"#;

/// The AWS sample's walkthrough on moto, with known findings.
pub async fn walkthrough(moto: &MotoServer) {
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

pub fn with_moto(command: &mut Command, moto: &MotoServer) -> Command {
    let mut command = std::mem::replace(command, Command::cargo_bin("ecrscan").unwrap());
    command.envs(moto.env());
    command
}
