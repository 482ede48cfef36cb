//! Webhook signatures checked by an independent implementation: the
//! Standard Webhooks reference library (Python, `standardwebhooks` from
//! PyPI, installed into ./.venv by the test command).

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::TimeZone;
use ecrscan_core::webhooks::{WebhookSigner, cloud_event};
use ecrscan_core::{Change, DigestScan, Finding, RepositoryRef, ScanStatus, Severity};

fn change() -> Change {
    let repository = RepositoryRef::new("us-west-2", "123456789012", "test/ubuntu").unwrap();
    let at = |s: i64| chrono::Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap();
    let scan = |completed: i64, findings: Vec<Finding>| {
        let mut scan = DigestScan::without_findings(ScanStatus::Complete, None);
        scan.scan_completed_at = Some(at(completed));
        scan.findings = findings;
        scan
    };
    let mut hostile = Finding::new("CVE-2026-1234", Severity::Critical);
    hostile.description = Some("\"quoted\" \\ back\u{0}slash, ünïcode, </script>".into());
    Change::of_result(
        &repository,
        "sha256:abcd",
        &["latest".into()],
        Some(&scan(0, vec![])),
        &scan(100, vec![hostile]),
        at(200),
    )
    .unwrap()
}

#[test]
fn the_reference_library_accepts_ecrscans_signatures_and_rejects_tampering() {
    let Some(python) = ecrscan_core::testing::test_python() else {
        return;
    };
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let signer = WebhookSigner::from_secret(secret).unwrap();
    let change = change();
    let body = serde_json::to_vec(&cloud_event(&change, "urn:ecrscan:test")).unwrap();
    let timestamp = chrono::Utc::now().timestamp();
    let headers = signer.headers(&change.id.to_string(), timestamp, &body);
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
message = json.load(sys.stdin)
body = bytes.fromhex(message["body"])
wh = Webhook(message["secret"])
payload = wh.verify(body, message["headers"])
assert payload["id"] == message["headers"]["webhook-id"], payload["id"]
assert payload["specversion"] == "1.0" and payload["type"] == "dev.ecrscan.image.findings_changed"
for tampered in (body + b" ", body.replace(b"CRITICAL", b"LOW", 1)):
    try:
        wh.verify(tampered, message["headers"])
    except WebhookVerificationError:
        pass
    else:
        raise SystemExit("a tampered body verified")
print("verified")
"#;
    let message = serde_json::json!({
        "secret": secret,
        "body": body.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "headers": headers.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
    });
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(message.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "verified");
}
