//! Notification channels through the CLI.

use super::fixtures::*;

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
