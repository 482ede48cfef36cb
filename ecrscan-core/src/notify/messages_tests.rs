use chrono::TimeZone;

use super::*;
use crate::changes::SeverityChange;

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

fn finding(name: &str, severity: Severity) -> Finding {
    let mut finding = Finding::new(name, severity);
    finding.package_name = Some("openssl".into());
    finding.package_version = Some("3.0.1".into());
    finding.uri = Some(format!("https://nvd.nist.gov/vuln/detail/{name}"));
    finding
}

fn change(new: Vec<Finding>) -> Change {
    let mut change = test_change(now());
    change.repository = "test/ubuntu".into();
    change.registry = "123456789012".into();
    change.region = "us-west-2".into();
    change.tags = vec!["latest".into()];
    change.counts.after = new.iter().map(|f| (f.severity, 1)).collect();
    change.new = new;
    change
}

fn context() -> MessageContext {
    MessageContext {
        source: "https://api.example.com/prod".into(),
        findings_feed: Some("https://api.example.com/prod/findings/abc".into()),
    }
}

fn signer() -> WebhookSigner {
    WebhookSigner::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("JSON")
}

#[test]
fn a_webhook_is_a_signed_cloud_event_with_the_change_as_data() {
    let change = change(vec![finding("CVE-2026-1234", Severity::Critical)]);
    let notice = Notice {
        change: &change,
        test: false,
    };
    let Outgoing::Http { url, headers, body } = webhook(
        "https://hooks.example.com/x",
        &notice,
        &context(),
        &signer(),
        now(),
    ) else {
        panic!("an HTTP message");
    };
    assert_eq!(url, "https://hooks.example.com/x");
    let event = json(&body);
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["id"], change.id.to_string());
    assert_eq!(event["type"], "dev.ecrscan.image.findings_changed");
    assert_eq!(event["source"], "https://api.example.com/prod");
    assert_eq!(
        event["subject"],
        format!("123456789012/us-west-2/test/ubuntu@{}", change.digest)
    );
    assert_eq!(event["data"]["new"][0]["name"], "CVE-2026-1234");
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .expect(name)
    };
    assert_eq!(header("webhook-id"), change.id.to_string());
    assert_eq!(header("webhook-timestamp"), "1800000000");
    assert_eq!(
        header("webhook-signature"),
        signer().sign(&change.id.to_string(), 1_800_000_000, &body)
    );
}

#[test]
fn test_events_are_marked_in_every_kind_of_message() {
    let change = test_change(now());
    let notice = Notice {
        change: &change,
        test: true,
    };
    let Outgoing::Http { body, .. } =
        webhook("https://h.example", &notice, &context(), &signer(), now())
    else {
        panic!()
    };
    assert_eq!(json(&body)["type"], TEST_EVENT_TYPE);
    let Outgoing::Http { body, .. } = slack("https://hooks.slack.com/x", &notice, &context())
    else {
        panic!()
    };
    assert!(json(&body)["text"].as_str().unwrap().starts_with("[TEST]"));
    let Outgoing::Sns { attributes, .. } =
        sns("arn:aws:sns:us-west-2:123456789012:t", &notice, &context())
    else {
        panic!()
    };
    assert!(attributes.contains(&("kind".into(), "test".into())));
    let Outgoing::EventBridge { detail_type, .. } = eventbridge(None, &notice) else {
        panic!()
    };
    assert_eq!(detail_type, "ecrscan Test Event");
    assert_ne!(test_change(now()).id, change.id, "each test event is new");
}

#[test]
fn slack_escapes_hostile_strings_and_links_only_plain_urls() {
    let mut hostile = finding(
        "<!channel> CVE-1 & <https://evil.example|click>",
        Severity::Critical,
    );
    hostile.uri = Some("https://evil.example/|<!here>".into());
    hostile.package_name = Some("pkg\u{1b}[2J<@U123>".into());
    let change = change(vec![hostile]);
    let notice = Notice {
        change: &change,
        test: false,
    };
    let Outgoing::Http { body, .. } = slack("https://hooks.slack.com/x", &notice, &context())
    else {
        panic!()
    };
    let text = String::from_utf8(body).unwrap();
    for forbidden in [
        "<!channel>",
        "<!here>",
        "<@U123>",
        "<https://evil",
        "\\u001b",
    ] {
        assert!(!text.contains(forbidden), "{forbidden} in {text}");
    }
    assert!(text.contains("&lt;!channel&gt;"));
    assert!(text.contains("<https://api.example.com/prod/findings/abc|Findings feed>"));
}

#[test]
fn slack_lists_the_top_findings_and_says_how_many_more() {
    let findings: Vec<Finding> = (0..25)
        .map(|n| finding(&format!("CVE-2026-{n:04}"), Severity::High))
        .collect();
    let mut change = change(findings);
    change.severity_changed.push(SeverityChange {
        finding: finding("CVE-2025-0001", Severity::Critical),
        from: Severity::Low,
        to: Severity::Critical,
    });
    let notice = Notice {
        change: &change,
        test: false,
    };
    let Outgoing::Http { body, .. } = slack("https://hooks.slack.com/x", &notice, &context())
    else {
        panic!()
    };
    let message = json(&body);
    let blocks = message["blocks"].as_array().unwrap();
    let list = blocks[2]["text"]["text"].as_str().unwrap();
    assert_eq!(list.matches("• ").count(), 10);
    assert!(list.ends_with("… and 16 more"), "{list}");
    assert!(
        list.contains(
            "<https://nvd.nist.gov/vuln/detail/CVE-2026-0000|CVE-2026-0000> openssl 3.0.1"
        )
    );
    assert!(
        blocks[1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("*Raised:* 1")
    );
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .contains("HIGH CVE-2026-0000")
    );
}

#[test]
fn sns_carries_filterable_attributes_and_fifo_ids() {
    let change = change(vec![finding("CVE-2026-1", Severity::High)]);
    let notice = Notice {
        change: &change,
        test: false,
    };
    let Outgoing::Sns {
        message,
        attributes,
        fifo,
        ..
    } = sns(
        "arn:aws:sns:us-west-2:123456789012:alerts",
        &notice,
        &context(),
    )
    else {
        panic!()
    };
    assert_eq!(
        attributes,
        vec![
            ("kind".to_owned(), "findings_changed".to_owned()),
            ("severity".to_owned(), "HIGH".to_owned()),
            ("repository".to_owned(), "test/ubuntu".to_owned()),
        ]
    );
    assert_eq!(fifo, None);
    assert_eq!(json(message.as_bytes())["id"], change.id.to_string());
    let Outgoing::Sns { fifo, .. } = sns(
        "arn:aws:sns:us-west-2:123456789012:alerts.fifo",
        &notice,
        &context(),
    ) else {
        panic!()
    };
    assert_eq!(fifo, Some(("test/ubuntu".into(), change.id.to_string())));
}

#[test]
fn large_changes_fit_every_limit_with_truncated_set() {
    let findings: Vec<Finding> = (0..5_000)
        .map(|n| {
            let mut f = finding(&format!("CVE-2026-{n:05}"), Severity::High);
            f.description = Some("x".repeat(300));
            f
        })
        .collect();
    let change = change(findings);
    let notice = Notice {
        change: &change,
        test: false,
    };
    let Outgoing::Http { body, .. } =
        webhook("https://h.example", &notice, &context(), &signer(), now())
    else {
        panic!()
    };
    assert!(body.len() <= MAX_WEBHOOK_BYTES, "{}", body.len());
    assert_eq!(json(&body)["data"]["truncated"], true);
    assert_eq!(json(&body)["data"]["counts"]["after"]["HIGH"], 5_000);

    let Outgoing::Sns {
        message,
        attributes,
        ..
    } = sns("arn:aws:sns:us-west-2:123456789012:t", &notice, &context())
    else {
        panic!()
    };
    let attribute_bytes: usize = attributes.iter().map(|(n, v)| n.len() + v.len() + 6).sum();
    assert!(message.len() + attribute_bytes <= MAX_SNS_BYTES);
    assert!(
        message.len() > MAX_SNS_BYTES - 4_096,
        "uses the room it has"
    );
    assert_eq!(json(message.as_bytes())["data"]["truncated"], true);

    let Outgoing::EventBridge {
        detail,
        detail_type,
        resources,
        ..
    } = eventbridge(Some("ops"), &notice)
    else {
        panic!()
    };
    let size = detail.len() + detail_type.len() + resources[0].len() + "ecrscan".len() + 14;
    assert!(size <= MAX_EVENTBRIDGE_BYTES);
    assert_eq!(json(detail.as_bytes())["truncated"], true);
}

#[test]
fn eventbridge_names_the_repository_and_the_kind() {
    let mut change = change(vec![finding("CVE-2026-1", Severity::High)]);
    change.kind = ChangeKind::TagMoved;
    change.region = "cn-north-1".into();
    let notice = Notice {
        change: &change,
        test: false,
    };
    let Outgoing::EventBridge {
        bus,
        source,
        detail_type,
        detail,
        resources,
        time,
    } = eventbridge(None, &notice)
    else {
        panic!()
    };
    assert_eq!(bus, None);
    assert_eq!(source, "ecrscan");
    assert_eq!(detail_type, "ECR Image Tag Moved");
    assert_eq!(
        resources,
        vec!["arn:aws-cn:ecr:cn-north-1:123456789012:repository/test/ubuntu".to_owned()]
    );
    assert_eq!(time, change.detected_at);
    let parsed: Change = serde_json::from_str(&detail).unwrap();
    assert_eq!(parsed, change);
}
