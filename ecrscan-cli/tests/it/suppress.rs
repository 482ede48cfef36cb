//! Suppression rules through the `ecrscan` binary, on moto server: counts
//! and exit codes before and after rules, a rule that expires during the
//! test, the feed with and without suppressed findings (valid Atom), an
//! OpenVEX round trip, and bad input that stores nothing.

use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use ecrscan_core::testing::MotoServer;
use serde_json::json;

use super::fixtures::*;

/// The independent Atom checker of the core's tests, when the test tools are installed.
fn check_atom(feeds: &[&Path]) {
    let Some(python) = ecrscan_core::testing::test_python() else {
        return;
    };
    let checker = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ecrscan-core/tests/support/check_atom.py");
    let output = std::process::Command::new(python)
        .arg(checker)
        .args(feeds)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "invalid Atom: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn json_of(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_change_counts_gates_and_feeds_and_expire_on_time() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    walkthrough(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("configs");
    let cli = |args: &[&str]| run(&mut with_moto(ecrscan(&store).args(args), &moto));
    let ubuntu = dir.path().join("ubuntu.json");
    std::fs::write(&ubuntu, UBUNTU).unwrap();
    let ubuntu_id = cli(&["configs", "add", ubuntu.to_str().unwrap()])
        .stdout
        .trim()
        .to_owned();
    assert_eq!(cli(&["scan"]).code, 0);

    let before = cli(&["summary", "-o", "json", "--fail-on", "HIGH"]);
    assert_eq!(before.code, 3, "{}", before.stderr);
    assert_eq!(
        json_of(&before.stdout)["totals"],
        json!({"CRITICAL": 2, "HIGH": 2})
    );

    // The CRITICAL apt finding, accepted for a month in test/* images.
    let apt = cli(&[
        "suppress",
        "add",
        "CVE-2019-3462",
        "--reason",
        "apt is not used at runtime",
        "--expires-in",
        "30d",
        "--repository",
        "test/*",
        "--package",
        "apt",
        "--justification",
        "vulnerable_code_not_in_execute_path",
    ]);
    assert_eq!(apt.code, 0, "{}", apt.stderr);
    let apt_id = apt.stdout.trim().to_owned();
    // The HIGH finding, accepted for a few seconds only.
    let expires =
        (Utc::now() + chrono::Duration::seconds(4)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let runuser = cli(&[
        "suppress",
        "add",
        "CVE-2016-2779",
        "--reason",
        "runuser is not in the image",
        "--expires",
        &expires,
    ]);
    assert_eq!(runuser.code, 0, "{}", runuser.stderr);
    let runuser_id = runuser.stdout.trim().to_owned();

    let judged = cli(&["summary", "-o", "json", "--fail-on", "HIGH"]);
    assert_eq!(
        judged.code, 0,
        "nothing left at HIGH or above: {}",
        judged.stderr
    );
    let summary = json_of(&judged.stdout);
    assert_eq!(summary["totals"], json!({}));
    assert_eq!(
        summary["suppressed_totals"],
        json!({"CRITICAL": 2, "HIGH": 2})
    );
    assert_eq!(
        summary["images"][0]["suppressed_counts"],
        json!({"CRITICAL": 1, "HIGH": 1})
    );
    assert_eq!(summary["warnings"][0]["kind"], "expires_soon");
    assert_eq!(summary["warnings"][0]["rule"], runuser_id.as_str());
    assert!(
        judged.stderr.contains("warning: suppression") && judged.stderr.contains("expires at"),
        "{}",
        judged.stderr
    );
    let text = cli(&["summary"]);
    let without_times: String = text
        .stdout
        .lines()
        .filter(|line| !line.starts_with(" Recorded at: "))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        without_times,
        "Results for test/ubuntu:16.04 in us-west-2:\n SUPPRESSED: 2\n\n\
         Results for test/ubuntu:latest in us-west-2:\n SUPPRESSED: 2\n\n"
    );
    let table = cli(&["summary", "-o", "table"]);
    assert!(
        table.stdout.lines().next().unwrap().ends_with("SUPPRESSED"),
        "{}",
        table.stdout
    );

    let listed = cli(&["suppress", "list", "-o", "json"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let rules = json_of(&listed.stdout);
    assert_eq!(rules.as_array().unwrap().len(), 2);
    let apt_rule = rules
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["id"] == apt_id.as_str())
        .unwrap();
    assert_eq!(apt_rule["covers"], 1, "one image (two tags of one digest)");
    assert_eq!(apt_rule["active"], true);
    assert_eq!(apt_rule["package"], json!({"name": "apt"}));
    let table = cli(&["suppress", "list"]);
    assert!(
        table.stdout.contains("CVE-2019-3462")
            && table.stdout.contains("repository test/* package apt"),
        "{}",
        table.stdout
    );

    // Feeds: without the covered findings by default, marked when asked.
    let hidden = cli(&["findings", &ubuntu_id, "--format", "json"]);
    let images = json_of(&hidden.stdout);
    assert!(
        images[0]["findings"].as_array().unwrap().is_empty(),
        "{images}"
    );
    let shown = cli(&[
        "findings",
        &ubuntu_id,
        "--format",
        "json",
        "--include-suppressed",
    ]);
    let images = json_of(&shown.stdout);
    assert_eq!(images[0]["findings"].as_array().unwrap().len(), 2);
    assert_eq!(
        images[0]["findings"][0]["suppressed"]["rule"],
        apt_id.as_str()
    );
    assert_eq!(
        images[0]["findings"][0]["suppressed"]["reason"],
        "apt is not used at runtime"
    );
    let hidden_feed = dir.path().join("hidden.atom");
    let shown_feed = dir.path().join("shown.atom");
    assert_eq!(
        cli(&[
            "findings",
            &ubuntu_id,
            "--output",
            hidden_feed.to_str().unwrap()
        ])
        .code,
        0
    );
    assert_eq!(
        cli(&[
            "findings",
            &ubuntu_id,
            "--include-suppressed",
            "--output",
            shown_feed.to_str().unwrap()
        ])
        .code,
        0
    );
    let shown_text = std::fs::read_to_string(&shown_feed).unwrap();
    assert_eq!(shown_text.matches("<entry>").count(), 4);
    assert!(shown_text.contains("term=\"suppressed\""));
    assert_eq!(
        std::fs::read_to_string(&hidden_feed)
            .unwrap()
            .matches("<entry>")
            .count(),
        0
    );
    check_atom(&[&hidden_feed, &shown_feed]);

    // The short rule expires: HIGH counts again and the gate closes.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let expired = cli(&["summary", "-o", "json", "--fail-on", "HIGH"]);
    assert_eq!(expired.code, 3, "{}", expired.stderr);
    let summary = json_of(&expired.stdout);
    assert_eq!(summary["totals"], json!({"HIGH": 2}));
    assert_eq!(summary["suppressed_totals"], json!({"CRITICAL": 2}));
    assert_eq!(summary["warnings"][0]["kind"], "expired");
    assert!(expired.stderr.contains("expired"), "{}", expired.stderr);
    let active = json_of(&cli(&["suppress", "list", "-o", "json"]).stdout);
    assert_eq!(active.as_array().unwrap().len(), 1);
    let all = json_of(&cli(&["suppress", "list", "-o", "json", "--all"]).stdout);
    assert_eq!(all.as_array().unwrap().len(), 2);

    // Export, remove everything, import back: the same rule. OpenVEX names
    // images, not patterns: the test/* rule is left out, said on stderr.
    let exact = cli(&[
        "suppress",
        "add",
        "CVE-2019-3462",
        "--reason",
        "apt is not used at runtime",
        "--no-expiry",
        "--registry",
        "123456789012",
        "--region",
        "us-west-2",
        "--repository",
        "test/ubuntu",
        "--package",
        "apt@1.2.29",
    ]);
    assert_eq!(exact.code, 0, "{}", exact.stderr);
    let exact_id = exact.stdout.trim().to_owned();
    let exported = cli(&["suppress", "export", "--author", "test"]);
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    assert!(
        exported
            .stderr
            .contains(&format!("rule {apt_id} is left out")),
        "{}",
        exported.stderr
    );
    let document = json_of(&exported.stdout);
    assert_eq!(document["statements"].as_array().unwrap().len(), 1);
    assert_eq!(
        document["statements"][0]["justification"],
        serde_json::Value::Null,
        "none was given"
    );
    let vex = dir.path().join("export.json");
    std::fs::write(&vex, &exported.stdout).unwrap();
    assert_eq!(
        cli(&["suppress", "rm", &apt_id, &runuser_id, &exact_id]).code,
        0
    );
    assert_eq!(cli(&["suppress", "rm", &apt_id]).code, 2, "unknown now");
    assert_eq!(cli(&["summary", "--fail-on", "CRITICAL"]).code, 3);
    let imported = cli(&["suppress", "import", vex.to_str().unwrap(), "--no-expiry"]);
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    assert!(
        imported.stderr.contains("imported 1 rules"),
        "{}",
        imported.stderr
    );
    let back = json_of(&cli(&["suppress", "list", "-o", "json"]).stdout);
    let rule = &back[0];
    assert_eq!(rule["vulnerability"], "CVE-2019-3462");
    assert_eq!(rule["registry"], "123456789012");
    assert_eq!(rule["region"], "us-west-2");
    assert_eq!(rule["repository"], "test/ubuntu");
    assert_eq!(rule["package"], json!({"name": "apt", "version": "1.2.29"}));
    assert_eq!(rule["reason"], "apt is not used at runtime");
    assert_eq!(rule["expires"], "never");
    assert_eq!(rule["covers"], 1);
    let gated = cli(&["summary", "--fail-on", "CRITICAL"]);
    assert_eq!(
        gated.code, 0,
        "the imported rule covers it again: {}",
        gated.stderr
    );
}

#[test]
fn bad_rules_and_documents_are_refused_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("configs");
    let cli = |args: &[&str]| run(ecrscan(&store).args(args));
    for (args, expected) in [
        (
            vec!["suppress", "add", "CVE-2026-1", "--expires-in", "1d"],
            "--reason",
        ),
        (
            vec!["suppress", "add", "CVE-2026-1", "--reason", "x"],
            "--expires",
        ),
        (
            vec![
                "suppress",
                "add",
                "CVE-2026-1",
                "--reason",
                "x",
                "--expires",
                "2001-01-01",
            ],
            "not in the future",
        ),
        (
            vec![
                "suppress",
                "add",
                "CVE-2026-1",
                "--reason",
                "x",
                "--no-expiry",
                "--repository",
                "Prod/*",
            ],
            "can never match",
        ),
        (
            vec![
                "suppress",
                "add",
                "CVE-2026-1",
                "--reason",
                "x",
                "--no-expiry",
                "--expires-in",
                "3d",
            ],
            "cannot be used with",
        ),
        (
            vec![
                "suppress",
                "add",
                "not a cve",
                "--reason",
                "x",
                "--no-expiry",
            ],
            "invalid vulnerability",
        ),
        (vec!["suppress", "rm", "nope"], "UUID"),
    ] {
        let result = cli(&args);
        assert_eq!(result.code, 2, "{args:?}: {}", result.stderr);
        assert!(
            result.stderr.contains(expected),
            "{args:?}: {}",
            result.stderr
        );
    }
    let huge = dir.path().join("huge.json");
    std::fs::write(&huge, vec![b' '; 10 * 1024 * 1024]).unwrap();
    let result = cli(&["suppress", "import", huge.to_str().unwrap(), "--no-expiry"]);
    assert_eq!(result.code, 2);
    assert!(result.stderr.contains("larger than"), "{}", result.stderr);
    let statement = r#"{"vulnerability":{"name":"CVE-2026-1"},"status":"fixed"}"#;
    let many = format!(
        r#"{{"@context":"https://openvex.dev/ns/v0.2.0","@id":"urn:x","author":"a","timestamp":"2026-11-30T00:00:00Z","version":1,"statements":[{}]}}"#,
        vec![statement; 100_000].join(",")
    );
    let many_file = dir.path().join("many.json");
    std::fs::write(&many_file, many).unwrap();
    let result = cli(&[
        "suppress",
        "import",
        many_file.to_str().unwrap(),
        "--no-expiry",
    ]);
    assert_eq!(result.code, 2);
    assert!(
        result.stderr.contains("larger than") || result.stderr.contains("split the document"),
        "{}",
        result.stderr
    );
    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        r#"{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":{}}]}"#,
    )
    .unwrap();
    let result = cli(&[
        "suppress",
        "import",
        broken.to_str().unwrap(),
        "--expires",
        "2099-01-01",
    ]);
    assert_eq!(result.code, 2);
    assert!(
        result.stderr.contains("not an OpenVEX document"),
        "{}",
        result.stderr
    );
    let listed = cli(&["suppress", "list", "-o", "json", "--all"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert_eq!(json_of(&listed.stdout), json!([]), "nothing stored");
}
