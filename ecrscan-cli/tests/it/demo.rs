//! The one-command demo, end to end.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use ecrscan_core::testing::MotoServer;

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
    let report = stdout
        .lines()
        .find_map(|line| {
            line.strip_prefix("The HTML report is ")?
                .strip_suffix(" (open it in a browser)")
        })
        .expect("the demo says where the HTML report is");
    let page = std::fs::read_to_string(report).unwrap();
    assert!(
        page.starts_with("<!DOCTYPE html>"),
        "{}",
        &page[..page.len().min(200)]
    );
    assert!(page.contains("<td class=\"name\">test/ubuntu</td>"));
    assert!(
        page.contains("CVE-2026-1234"),
        "the new critical is among the changes"
    );
    // The demo's report in a real browser, and a screenshot for a human.
    if let Some(python) = ecrscan_core::testing::test_browser() {
        let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ecrscan-demo-report.png");
        let checked = StdCommand::new(python)
            .arg(root.join("ecrscan-core/tests/support/check_report.py"))
            .arg("--screenshot")
            .arg(&screenshot)
            .arg(report)
            .output()
            .unwrap();
        assert!(
            checked.status.success(),
            "the browser check of the demo's report failed:\n{}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
        assert!(screenshot.is_file());
    }
    let _ = std::fs::remove_dir_all(Path::new(feed).parent().unwrap());
}

/// The demo asks cargo where it built the binary (CARGO_TARGET_DIR and
/// other settings move it): a stand-in cargo reports a binary elsewhere,
/// and the demo uses that one.
#[test]
fn the_demo_runs_the_binary_cargo_says_it_built() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere/debug/ecrscan");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    std::fs::write(&elsewhere, "#!/bin/sh\n").unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let artifact = serde_json::json!({
        "reason": "compiler-artifact",
        "target": {"name": "ecrscan", "kind": ["bin"]},
        "executable": elsewhere,
    });
    let cargo = bin.join("cargo");
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/sh\necho '{{\"reason\":\"build-script-executed\"}}'\necho '{artifact}'\necho '{{\"reason\":\"build-finished\",\"success\":true}}'\n"
        ),
    )
    .unwrap();
    for file in [&cargo, &elsewhere] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = StdCommand::new("bash")
        .arg(root.join("scripts/demo.sh"))
        .arg("--print-binary")
        .env("PATH", path)
        .env_remove("ECRSCAN_BIN")
        .env("CARGO_TARGET_DIR", dir.path().join("elsewhere"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        elsewhere.to_str().unwrap()
    );
}
