//! Deliveries over real wire traffic: SNS read back through an SQS
//! subscription, EventBridge through a rule targeting SQS, a webhook secret
//! from Secrets Manager (all on moto server), and a local webhook receiver
//! that checks every signature with the Standard Webhooks reference library,
//! fails the first attempts, and is down for a whole run.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use ecrscan_core::aws::notify::{AwsSecrets, AwsTransport};
use ecrscan_core::channels::{Channel, Target};
use ecrscan_core::deliveries::{DeliveryState, RetryPolicy};
use ecrscan_core::notify::{ChangeOutbox, Notifier, NotifyOptions};
use ecrscan_core::store::{ChannelStore, MemoryStore};
use ecrscan_core::testing::MotoServer;
use ecrscan_core::{Change, DigestScan, Finding, RepositoryRef, ScanStatus, Severity};

fn change(n: u32) -> Change {
    let repository = RepositoryRef::new("us-west-2", "123456789012", "test/ubuntu").unwrap();
    let at = |s: i64| Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap();
    let scan = |completed: i64, findings: Vec<Finding>| {
        let mut scan = DigestScan::without_findings(ScanStatus::Complete, None);
        scan.scan_completed_at = Some(at(completed));
        scan.findings = findings;
        scan
    };
    let mut finding = Finding::new(format!("CVE-2026-{n:04}"), Severity::Critical);
    finding.description = Some("\"quoted\" </script> <!channel> ünïcode".into());
    Change::of_result(
        &repository,
        &format!("sha256:{}", "a".repeat(64)),
        &["latest".into()],
        Some(&scan(0, vec![])),
        &scan(i64::from(n) * 100, vec![finding]),
        at(i64::from(n) * 100 + 1),
    )
    .unwrap()
}

fn fast_options() -> NotifyOptions {
    NotifyOptions {
        policy: RetryPolicy {
            first_backoff: Duration::from_millis(20),
            ..RetryPolicy::default()
        },
        channel_cache: Duration::ZERO,
        ..NotifyOptions::default()
    }
}

async fn notifier_over(moto: &MotoServer, channels: &[Channel]) -> (Arc<MemoryStore>, Notifier) {
    let store = Arc::new(MemoryStore::new());
    for channel in channels {
        store.put_channel(channel).await.unwrap();
    }
    let sdk = moto.sdk_config();
    let notifier = Notifier::new(
        store.clone(),
        Arc::new(AwsTransport::new(&sdk).unwrap()),
        Arc::new(AwsSecrets::new(&sdk)),
        fast_options(),
    );
    (store, notifier)
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    (url, arn)
}

async fn received(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<serde_json::Value> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_deliveries_arrive_with_filterable_attributes() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let sdk = moto.sdk_config();
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let topic = sns
        .create_topic()
        .name("ecrscan-alerts")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let (queue_url, queue_arn) = queue(&sqs, "alerts").await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .unwrap();
    let channel = Channel::create(
        Target::Sns {
            topic_arn: topic.clone(),
        },
        Severity::High,
        false,
        Utc::now(),
    )
    .unwrap();
    let (_, notifier) = notifier_over(&moto, std::slice::from_ref(&channel)).await;
    let change = change(1);
    assert_eq!(
        notifier
            .enqueue(std::slice::from_ref(&change), Utc::now())
            .await
            .unwrap(),
        1
    );
    let report = notifier.deliver_due(Utc::now()).await;
    assert_eq!(report.delivered, 1, "{report:?}");

    let messages = received(&sqs, &queue_url).await;
    let [notification] = &messages[..] else {
        panic!("one message: {messages:?}")
    };
    assert_eq!(notification["TopicArn"], topic.as_str());
    let attributes = &notification["MessageAttributes"];
    assert_eq!(attributes["kind"]["Value"], "findings_changed");
    assert_eq!(attributes["severity"]["Value"], "CRITICAL");
    assert_eq!(attributes["repository"]["Value"], "test/ubuntu");
    let event: serde_json::Value =
        serde_json::from_str(notification["Message"].as_str().unwrap()).unwrap();
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["id"], change.id.to_string());
    assert_eq!(event["type"], "dev.ecrscan.image.findings_changed");
    assert_eq!(event["data"]["new"][0]["name"], "CVE-2026-0001");

    // Delivered once: another pass sends nothing.
    assert_eq!(notifier.deliver_due(Utc::now()).await.delivered, 0);
    assert!(received(&sqs, &queue_url).await.is_empty());

    // A topic that does not exist is a refusal: failed, not retried.
    let gone = Channel::create(
        Target::Sns {
            topic_arn: "arn:aws:sns:us-west-2:123456789012:no-such-topic".into(),
        },
        Severity::High,
        false,
        Utc::now(),
    )
    .unwrap();
    let (store, notifier) = notifier_over(&moto, std::slice::from_ref(&gone)).await;
    notifier
        .enqueue(std::slice::from_ref(&change), Utc::now())
        .await
        .unwrap();
    let report = notifier.deliver_due(Utc::now()).await;
    assert_eq!(report.failed, 1, "{report:?}");
    let delivery = store.list_deliveries(gone.id).await.unwrap().items[0]
        .record
        .clone()
        .unwrap();
    assert_eq!(delivery.state, DeliveryState::Failed);
    assert!(
        delivery.last_error.as_deref().unwrap().contains("NotFound"),
        "{:?}",
        delivery.last_error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_deliveries_reach_a_rule_target() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let sdk = moto.sdk_config();
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (queue_url, queue_arn) = queue(&sqs, "routed").await;
    events
        .create_event_bus()
        .name("security")
        .send()
        .await
        .unwrap();
    events
        .put_rule()
        .name("ecrscan-changes")
        .event_bus_name("security")
        .event_pattern(r#"{"source":["ecrscan"],"detail-type":["ECR Image Findings Changed"]}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("ecrscan-changes")
        .event_bus_name("security")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let channel = Channel::create(
        Target::Eventbridge {
            bus: Some("security".into()),
        },
        Severity::High,
        false,
        Utc::now(),
    )
    .unwrap();
    let (_, notifier) = notifier_over(&moto, std::slice::from_ref(&channel)).await;
    let change = change(1);
    notifier
        .enqueue(std::slice::from_ref(&change), Utc::now())
        .await
        .unwrap();
    let report = notifier.deliver_due(Utc::now()).await;
    assert_eq!(report.delivered, 1, "{report:?}");
    let events = received(&sqs, &queue_url).await;
    let [event] = &events[..] else {
        panic!("one event: {events:?}")
    };
    assert_eq!(event["source"], "ecrscan");
    assert_eq!(event["detail-type"], "ECR Image Findings Changed");
    assert_eq!(event["detail"]["id"], change.id.to_string());
    assert_eq!(event["detail"]["new"][0]["severity"], "CRITICAL");
    assert_eq!(
        event["resources"][0],
        "arn:aws:ecr:us-west-2:123456789012:repository/test/ubuntu"
    );
}

struct Receiver(Child);

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_receiver(port: u16, secret: &str, log: &Path, script: &str) -> Receiver {
    let mut child = Command::new(
        ecrscan_core::testing::test_python()
            .expect("the test tools' Python (scripts/ensure-moto.sh)"),
    )
    .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/webhook_receiver.py"))
    .args([&port.to_string(), secret, log.to_str().unwrap(), script])
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .expect("the webhook receiver");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");
    Receiver(child)
}

fn log_lines(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_signed_with_a_secrets_manager_secret_survive_failures_and_a_receiver_down_for_a_run()
 {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let secrets = aws_sdk_secretsmanager::Client::new(&moto.sdk_config());
    let arn = secrets
        .create_secret()
        .name("ecrscan/webhook")
        .secret_string(secret)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let channel = Channel::create(
        Target::Webhook {
            url: format!("http://127.0.0.1:{port}/hooks/ecrscan"),
            secret: arn.parse().unwrap(),
        },
        Severity::High,
        false,
        Utc::now(),
    )
    .unwrap();
    let (store, notifier) = notifier_over(&moto, std::slice::from_ref(&channel)).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("received.jsonl");

    // Fails the first attempt (500), resets the second, accepts the third.
    let receiver = start_receiver(port, secret, &log, "500,reset,ok");
    let first = change(1);
    notifier
        .enqueue(std::slice::from_ref(&first), Utc::now())
        .await
        .unwrap();
    let report = notifier.deliver_due(Utc::now()).await;
    assert_eq!(report.delivered, 1, "{report:?}");
    let lines = log_lines(&log);
    let answers: Vec<&str> = lines
        .iter()
        .map(|l| l["answer"].as_str().unwrap())
        .collect();
    assert_eq!(
        answers,
        ["500", "reset", "ok"],
        "verified by standardwebhooks"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["webhook_id"] == first.id.to_string()),
        "one idempotency key over the retries"
    );
    assert_eq!(lines[2]["id"], first.id.to_string());
    assert_eq!(lines[2]["type"], "dev.ecrscan.image.findings_changed");
    assert_eq!(
        lines[2]["data"]["new"][0]["description"],
        "\"quoted\" </script> <!channel> ünïcode"
    );
    drop(receiver);

    // Down for a whole run: the change waits.
    let second = change(2);
    notifier
        .enqueue(std::slice::from_ref(&second), Utc::now())
        .await
        .unwrap();
    let report = notifier.deliver_due(Utc::now()).await;
    assert_eq!((report.delivered, report.retry_later), (0, 1), "{report:?}");
    let [status] = &notifier.status().await.unwrap()[..] else {
        panic!()
    };
    assert_eq!(status.pending, 1);
    assert!(
        status.outstanding[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("could not connect"),
        "{:?}",
        status.outstanding[0].last_error
    );

    // Back, but a run right away waits out the time between runs.
    let _receiver = start_receiver(port, secret, &log, "ok");
    let report = notifier.deliver_due(Utc::now()).await;
    assert_eq!((report.delivered, report.waiting), (0, 1), "{report:?}");
    // The next run, a minute later: delivered, signed, once.
    let report = notifier
        .deliver_due(Utc::now() + chrono::Duration::minutes(2))
        .await;
    assert_eq!(report.delivered, 1, "{report:?}");
    let lines = log_lines(&log);
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3]["answer"], "ok");
    assert_eq!(lines[3]["id"], second.id.to_string());
    let deliveries = store.list_deliveries(channel.id).await.unwrap().items;
    assert!(
        deliveries
            .iter()
            .all(|d| d.record.as_ref().unwrap().state == DeliveryState::Delivered)
    );
    assert_eq!(notifier.deliver_due(Utc::now()).await.delivered, 0);
    assert_eq!(log_lines(&log).len(), 4, "nothing is sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_refuses_is_failed_and_one_that_redirects_is_not_followed() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // SAFETY: no other thread of this test binary reads this variable.
    unsafe { std::env::set_var("ECRSCAN_TEST_WEBHOOK_SECRET", secret) };
    let channel = Channel::create(
        Target::Webhook {
            url: format!("http://127.0.0.1:{port}/"),
            secret: "env:ECRSCAN_TEST_WEBHOOK_SECRET".parse().unwrap(),
        },
        Severity::High,
        false,
        Utc::now(),
    )
    .unwrap();
    let (store, notifier) = notifier_over(&moto, std::slice::from_ref(&channel)).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("received.jsonl");
    let _receiver = start_receiver(port, secret, &log, "410,302");
    notifier
        .enqueue(&[change(1), change(2)], Utc::now())
        .await
        .unwrap();
    let report = notifier.deliver_due(Utc::now()).await;
    assert_eq!(report.failed, 2, "{report:?}");
    assert_eq!(log_lines(&log).len(), 2, "one attempt each");
    let errors: Vec<String> = store
        .list_deliveries(channel.id)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|d| d.record.and_then(|d| d.last_error))
        .collect();
    assert!(errors[0].starts_with("HTTP 410"), "{errors:?}");
    assert!(errors[1].contains("never follow redirects"), "{errors:?}");
}
