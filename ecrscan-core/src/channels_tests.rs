use chrono::TimeZone;

use super::*;
use crate::changes::Change;
use crate::config::RepositoryRef;
use crate::finding::{DigestScan, Finding, ScanStatus};

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

fn webhook(url: &str) -> Target {
    Target::Webhook {
        url: url.into(),
        secret: "env:ECRSCAN_WEBHOOK_SECRET".parse().unwrap(),
    }
}

#[test]
fn secret_references_are_parsed_and_never_values() {
    assert_eq!(
        "env:HOOK_SECRET".parse::<SecretRef>().unwrap(),
        SecretRef::Env("HOOK_SECRET".into())
    );
    assert_eq!(
        "file:/run/secrets/hook".parse::<SecretRef>().unwrap(),
        SecretRef::File("/run/secrets/hook".into())
    );
    let arn = "arn:aws:secretsmanager:us-west-2:123456789012:secret:ecrscan/hook-AbCdEf";
    assert_eq!(
        arn.parse::<SecretRef>().unwrap(),
        SecretRef::SecretsManager(arn.into())
    );
    for bad in [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "env:",
        "env:1X",
        "env:A-B",
        "file:",
        "arn:aws:s3:::bucket",
        "arn:aws:secretsmanager:us-west-2:1234:secret:x",
    ] {
        let err = bad.parse::<SecretRef>().unwrap_err();
        assert_eq!(err.field, "secret", "{bad}");
    }
    // A raw secret given by mistake is neither stored nor echoed.
    let message = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        .parse::<SecretRef>()
        .unwrap_err()
        .to_string();
    assert!(!message.contains("MfKQ9r8"), "{message}");
    assert!(message.contains("never stored"), "{message}");
}

#[test]
fn targets_are_checked_naming_the_field() {
    for ok in [
        webhook("https://hooks.example.com/ecrscan"),
        webhook("http://127.0.0.1:8080/hook"),
        webhook("http://localhost:8080/hook"),
        webhook("http://[::1]:8080/hook"),
        Target::Slack {
            url: "https://hooks.slack.com/services/T000/B000/XXXX".into(),
        },
        Target::Sns {
            topic_arn: "arn:aws:sns:us-west-2:123456789012:ecrscan-changes".into(),
        },
        Target::Eventbridge { bus: None },
        Target::Eventbridge {
            bus: Some("ecrscan".into()),
        },
        Target::Eventbridge {
            bus: Some("arn:aws:events:us-west-2:123456789012:event-bus/ecrscan".into()),
        },
    ] {
        assert_eq!(ok.validate(), Ok(()), "{ok:?}");
    }
    for (bad, field) in [
        (webhook("http://hooks.example.com/ecrscan"), "url"),
        (webhook("http://10.0.0.1/hook"), "url"),
        (webhook("ftp://example.com/x"), "url"),
        (webhook("https://user:pass@example.com/x"), "url"),
        (webhook("not a url"), "url"),
        (
            Target::Slack {
                url: "https://evil.example.com/services/T/B/X".into(),
            },
            "url",
        ),
        (
            Target::Sns {
                topic_arn: "arn:aws:sqs:us-west-2:123456789012:queue".into(),
            },
            "topic_arn",
        ),
        (
            Target::Sns {
                topic_arn: "arn:aws:sns:us-west-2:123456789012:bad name".into(),
            },
            "topic_arn",
        ),
        (
            Target::Eventbridge {
                bus: Some("no spaces please".into()),
            },
            "bus",
        ),
        (
            Target::Eventbridge {
                bus: Some("arn:aws:events:us-west-2:123456789012:rule/x".into()),
            },
            "bus",
        ),
    ] {
        assert_eq!(bad.validate().unwrap_err().field, field, "{bad:?}");
    }
}

#[test]
fn a_channel_round_trips_as_json_with_its_secret_reference_only() {
    let channel = Channel::create(
        webhook("https://hooks.example.com/ecrscan"),
        Severity::Critical,
        true,
        now(),
    )
    .unwrap();
    let json = serde_json::to_value(&channel).unwrap();
    assert_eq!(json["type"], "webhook");
    assert_eq!(json["secret"], "env:ECRSCAN_WEBHOOK_SECRET");
    assert_eq!(json["min_severity"], "CRITICAL");
    let back = Channel::from_stored_json(&serde_json::to_vec(&channel).unwrap()).unwrap();
    assert_eq!(back, channel);
    // A stored channel that breaks the rules is refused when read.
    let mut tampered = json.clone();
    tampered["url"] = "http://169.254.169.254/latest/meta-data".into();
    assert_eq!(
        Channel::from_stored_json(&serde_json::to_vec(&tampered).unwrap())
            .unwrap_err()
            .field,
        "url"
    );
    assert!(Channel::from_stored_json(b"{\"type\":\"carrier-pigeon\"}").is_err());
}

#[test]
fn a_channel_wants_new_and_raised_findings_at_its_severity_and_never_baselines() {
    let repository = RepositoryRef::new("us-west-2", "123456789012", "test/ubuntu").unwrap();
    let scan = |completed: i64, findings: Vec<Finding>| {
        let mut scan = DigestScan::without_findings(ScanStatus::Complete, None);
        scan.scan_completed_at = Some(now() + chrono::Duration::seconds(completed));
        scan.findings = findings;
        scan
    };
    let change = |before: Vec<Finding>, after: Vec<Finding>| {
        Change::of_result(
            &repository,
            "sha256:aa",
            &[],
            Some(&scan(0, before)),
            &scan(1, after),
            now(),
        )
        .unwrap()
    };
    let high = Channel::create(
        Target::Eventbridge { bus: None },
        Severity::High,
        false,
        now(),
    )
    .unwrap();
    let with_fixed = Channel {
        include_fixed: true,
        ..high.clone()
    };
    let new_critical = change(vec![], vec![Finding::new("CVE-1", Severity::Critical)]);
    let new_low = change(vec![], vec![Finding::new("CVE-2", Severity::Low)]);
    let raised = change(
        vec![Finding::new("CVE-3", Severity::Medium)],
        vec![Finding::new("CVE-3", Severity::High)],
    );
    let lowered = change(
        vec![Finding::new("CVE-4", Severity::Critical)],
        vec![Finding::new("CVE-4", Severity::Low)],
    );
    let fixed = change(vec![Finding::new("CVE-5", Severity::Critical)], vec![]);
    assert!(high.wants(&new_critical));
    assert!(!high.wants(&new_low));
    assert!(high.wants(&raised));
    assert!(!high.wants(&lowered));
    assert!(!high.wants(&fixed));
    assert!(with_fixed.wants(&fixed));
    let baseline = Change::of_result(
        &repository,
        "sha256:aa",
        &[],
        None,
        &scan(0, vec![Finding::new("CVE-1", Severity::Critical)]),
        now(),
    )
    .unwrap();
    assert!(!with_fixed.wants(&baseline));
}
