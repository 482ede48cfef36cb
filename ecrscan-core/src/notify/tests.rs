use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::TimeZone;

use super::*;
use crate::channels::Channel;
use crate::config::RepositoryRef;
use crate::finding::{DigestScan, Finding, ScanStatus};
use crate::recorder::Recorder;
use crate::severity::Severity;
use crate::store::{MemoryStore, ResultStore};

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

fn change_with(severity: Severity, n: u32) -> Change {
    let mut change = messages::test_change(at(0));
    change.id = Uuid::from_u128(u128::from(n) + 1);
    change.repository = "test/ubuntu".into();
    change.new = vec![Finding::new(format!("CVE-2026-{n:04}"), severity)];
    change.detected_at = at(i64::from(n));
    change
}

/// What a transport was asked to send, and what it answers, in order.
struct ScriptedTransport {
    answers: StdMutex<Vec<Result<(), SendError>>>,
    sent: StdMutex<Vec<Outgoing>>,
}

impl ScriptedTransport {
    fn new(answers: Vec<Result<(), SendError>>) -> Arc<ScriptedTransport> {
        Arc::new(ScriptedTransport {
            answers: StdMutex::new(answers),
            sent: StdMutex::new(Vec::new()),
        })
    }

    fn sent(&self) -> Vec<Outgoing> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Transport for ScriptedTransport {
    async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        self.sent.lock().unwrap().push(message.clone());
        let mut answers = self.answers.lock().unwrap();
        if answers.is_empty() {
            Ok(())
        } else {
            answers.remove(0)
        }
    }
}

fn sns_channel(min: Severity) -> Channel {
    Channel::create(
        Target::Sns {
            topic_arn: "arn:aws:sns:us-west-2:123456789012:alerts".into(),
        },
        min,
        false,
        at(0),
    )
    .unwrap()
}

async fn notifier_with(
    channels: &[Channel],
    transport: Arc<dyn Transport>,
    secrets: Arc<dyn SecretSource>,
) -> (Arc<MemoryStore>, Notifier) {
    let store = Arc::new(MemoryStore::new());
    for channel in channels {
        store.put_channel(channel).await.unwrap();
    }
    let options = NotifyOptions {
        channel_cache: std::time::Duration::ZERO,
        ..NotifyOptions::default()
    };
    let notifier = Notifier::new(store.clone(), transport, secrets, options);
    (store, notifier)
}

async fn deliveries(store: &MemoryStore, channel: &Channel) -> Vec<Delivery> {
    store
        .list_deliveries(channel.id)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|v| v.record)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn changes_are_queued_once_for_the_channels_that_want_them_and_delivered_once() {
    let high = sns_channel(Severity::High);
    let critical = sns_channel(Severity::Critical);
    let transport = ScriptedTransport::new(Vec::new());
    let (store, notifier) = notifier_with(
        &[high.clone(), critical.clone()],
        transport.clone(),
        Arc::new(LocalSecrets),
    )
    .await;
    let changes = [
        change_with(Severity::High, 1),
        change_with(Severity::Low, 2),
    ];

    assert_eq!(notifier.enqueue(&changes, at(10)).await.unwrap(), 1);
    assert_eq!(
        notifier.enqueue(&changes, at(11)).await.unwrap(),
        0,
        "idempotent"
    );
    assert!(deliveries(&store, &critical).await.is_empty());

    let report = notifier.deliver_due(at(20)).await;
    assert_eq!(report.delivered, 1, "{report:?}");
    assert_eq!(transport.sent().len(), 1);
    let [delivered] = &deliveries(&store, &high).await[..] else {
        panic!("one delivery")
    };
    assert_eq!(delivered.state, DeliveryState::Delivered);
    assert_eq!(delivered.attempts, 1);

    // Queued again (another writer), and another pass: nothing is sent twice.
    assert_eq!(notifier.enqueue(&changes, at(30)).await.unwrap(), 0);
    assert_eq!(
        notifier.deliver_due(at(40)).await,
        DeliveryReport::default()
    );
    assert_eq!(transport.sent().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn retryable_failures_are_retried_within_the_run_then_kept_for_the_next() {
    let channel = sns_channel(Severity::High);
    let down = || Err(SendError::retryable("HTTP 503"));
    let transport = ScriptedTransport::new(vec![
        down(),
        Ok(()),
        // The second change: down for the whole run.
        down(),
        down(),
        down(),
    ]);
    let (store, notifier) = notifier_with(
        std::slice::from_ref(&channel),
        transport.clone(),
        Arc::new(LocalSecrets),
    )
    .await;
    notifier
        .enqueue(&[change_with(Severity::High, 1)], at(0))
        .await
        .unwrap();
    let report = notifier.deliver_due(at(1)).await;
    assert_eq!((report.delivered, report.retry_later), (1, 0));
    assert_eq!(deliveries(&store, &channel).await[0].attempts, 2);

    notifier
        .enqueue(
            &[
                change_with(Severity::High, 2),
                change_with(Severity::Critical, 3),
            ],
            at(2),
        )
        .await
        .unwrap();
    let report = notifier.deliver_due(at(3)).await;
    assert_eq!(
        (report.delivered, report.retry_later, report.deferred),
        (0, 1, 1),
        "the channel is down: the third change waits without being tried"
    );
    assert_eq!(transport.sent().len(), 2 + 3);
    let pending: Vec<Delivery> = deliveries(&store, &channel)
        .await
        .into_iter()
        .filter(|d| d.state == DeliveryState::Pending)
        .collect();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].last_error.as_deref(), Some("HTTP 503"));

    // The next run: the channel is back.
    let report = notifier.deliver_due(at(100)).await;
    assert_eq!((report.delivered, report.retry_later), (2, 0));
    assert!(
        deliveries(&store, &channel)
            .await
            .iter()
            .all(|d| d.state == DeliveryState::Delivered)
    );
}

#[tokio::test(start_paused = true)]
async fn a_refusal_is_failed_not_retried_until_requeued() {
    let channel = sns_channel(Severity::High);
    let transport = ScriptedTransport::new(vec![Err(SendError::permanent("HTTP 404"))]);
    let (store, notifier) = notifier_with(
        std::slice::from_ref(&channel),
        transport.clone(),
        Arc::new(LocalSecrets),
    )
    .await;
    notifier
        .enqueue(&[change_with(Severity::High, 1)], at(0))
        .await
        .unwrap();
    assert_eq!(notifier.deliver_due(at(1)).await.failed, 1);
    assert_eq!(transport.sent().len(), 1, "one attempt only");
    assert_eq!(notifier.deliver_due(at(2)).await, DeliveryReport::default());

    let [status] = &notifier.status().await.unwrap()[..] else {
        panic!()
    };
    assert_eq!((status.pending, status.failed, status.delivered), (0, 1, 0));
    assert_eq!(
        status.outstanding[0].last_error.as_deref(),
        Some("HTTP 404")
    );

    assert_eq!(notifier.requeue_failed(None, at(3)).await.unwrap(), 1);
    assert_eq!(notifier.deliver_due(at(4)).await.delivered, 1);
    assert_eq!(
        deliveries(&store, &channel).await[0].state,
        DeliveryState::Delivered
    );
}

#[tokio::test(start_paused = true)]
async fn a_delivery_claimed_by_another_sender_is_left_to_it_until_the_lease_runs_out() {
    let channel = sns_channel(Severity::High);
    let transport = ScriptedTransport::new(Vec::new());
    let (store, notifier) = notifier_with(
        std::slice::from_ref(&channel),
        transport.clone(),
        Arc::new(LocalSecrets),
    )
    .await;
    notifier
        .enqueue(&[change_with(Severity::High, 1)], at(0))
        .await
        .unwrap();
    let listed = store.list_deliveries(channel.id).await.unwrap().items;
    let claimed = listed[0]
        .record
        .clone()
        .unwrap()
        .claimed(at(0), &RetryPolicy::default());
    store
        .put_delivery(&claimed, PutMode::Update(listed[0].version.clone()))
        .await
        .unwrap();
    assert_eq!(notifier.deliver_due(at(60)).await.delivered, 0);
    assert!(transport.sent().is_empty());
    assert_eq!(notifier.deliver_due(at(301)).await.delivered, 1);
}

#[tokio::test(start_paused = true)]
async fn delivered_records_are_pruned_after_the_keep_period() {
    let channel = sns_channel(Severity::High);
    let (store, notifier) = notifier_with(
        std::slice::from_ref(&channel),
        ScriptedTransport::new(Vec::new()),
        Arc::new(LocalSecrets),
    )
    .await;
    notifier
        .enqueue(&[change_with(Severity::High, 1)], at(0))
        .await
        .unwrap();
    notifier.deliver_due(at(1)).await;
    assert_eq!(notifier.deliver_due(at(86_400)).await.pruned, 0);
    assert_eq!(notifier.deliver_due(at(15 * 86_400)).await.pruned, 1);
    assert!(deliveries(&store, &channel).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn webhooks_are_signed_with_the_secret_read_when_sending() {
    let secret_ref: SecretRef = "env:ECRSCAN_TEST_UNUSED".parse().unwrap();
    let channel = Channel::create(
        Target::Webhook {
            url: "http://127.0.0.1:9/hook".into(),
            secret: secret_ref.clone(),
        },
        Severity::High,
        false,
        at(0),
    )
    .unwrap();
    let mut secrets = MockSecretSource::new();
    secrets
        .expect_secret()
        .withf(move |r| *r == secret_ref)
        .returning(|_| Ok("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()));
    let transport = ScriptedTransport::new(Vec::new());
    let (_, notifier) = notifier_with(
        std::slice::from_ref(&channel),
        transport.clone(),
        Arc::new(secrets),
    )
    .await;
    let change = change_with(Severity::Critical, 1);
    notifier
        .enqueue(std::slice::from_ref(&change), at(0))
        .await
        .unwrap();
    assert_eq!(notifier.deliver_due(at(1)).await.delivered, 1);
    let [Outgoing::Http { url, headers, body }] = &transport.sent()[..] else {
        panic!("one HTTP message")
    };
    assert_eq!(url, "http://127.0.0.1:9/hook");
    let signer = WebhookSigner::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let timestamp: i64 = headers
        .iter()
        .find(|(n, _)| n == "webhook-timestamp")
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert!(headers.contains(&(
        "webhook-signature".into(),
        signer.sign(&change.id.to_string(), timestamp, body)
    )));
}

#[tokio::test(start_paused = true)]
async fn a_missing_secret_keeps_the_delivery_pending_and_says_why() {
    let channel = Channel::create(
        Target::Webhook {
            url: "http://127.0.0.1:9/hook".into(),
            secret: "env:ECRSCAN_TEST_SECRET_THAT_IS_NOT_SET".parse().unwrap(),
        },
        Severity::High,
        false,
        at(0),
    )
    .unwrap();
    let transport = ScriptedTransport::new(Vec::new());
    let (store, notifier) = notifier_with(
        std::slice::from_ref(&channel),
        transport.clone(),
        Arc::new(LocalSecrets),
    )
    .await;
    notifier
        .enqueue(&[change_with(Severity::High, 1)], at(0))
        .await
        .unwrap();
    assert_eq!(notifier.deliver_due(at(1)).await.retry_later, 1);
    assert!(transport.sent().is_empty());
    let error = deliveries(&store, &channel).await[0]
        .last_error
        .clone()
        .unwrap();
    assert!(
        error.contains("ECRSCAN_TEST_SECRET_THAT_IS_NOT_SET"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn channels_test_sends_a_marked_event_and_reports_a_failure() {
    let channel = sns_channel(Severity::Critical);
    let transport = ScriptedTransport::new(vec![Err(SendError::permanent("AuthorizationError"))]);
    let (store, notifier) = notifier_with(
        std::slice::from_ref(&channel),
        transport.clone(),
        Arc::new(LocalSecrets),
    )
    .await;
    let err = notifier.test(channel.id, at(0)).await.unwrap_err();
    assert!(err.to_string().contains("AuthorizationError"));
    notifier.test(channel.id, at(1)).await.unwrap();
    let Outgoing::Sns { attributes, .. } = &transport.sent()[1] else {
        panic!()
    };
    assert!(attributes.contains(&("kind".into(), "test".into())));
    assert!(
        deliveries(&store, &channel).await.is_empty(),
        "a test is not queued"
    );
    assert!(matches!(
        notifier.test(Uuid::nil(), at(2)).await,
        Err(NotifyError::Store(StoreError::NotFound { .. }))
    ));
}

struct FailingOutbox(AtomicUsize);

#[async_trait::async_trait]
impl ChangeOutbox for FailingOutbox {
    async fn enqueue(&self, _: &[Change], _: DateTime<Utc>) -> Result<usize, StoreError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(StoreError::Backend {
            store: "test".into(),
            message: "down".into(),
            source: None,
        })
    }
}

fn scan(completed: i64, cve: &str) -> DigestScan {
    let mut scan = DigestScan::without_findings(ScanStatus::Complete, None);
    scan.scan_completed_at = Some(at(completed));
    scan.findings.push(Finding::new(cve, Severity::High));
    scan.severity_counts.add(Severity::High, 1);
    scan
}

#[tokio::test(start_paused = true)]
async fn the_record_step_queues_deliveries_before_it_stores_a_change() {
    let repository = RepositoryRef::new("us-west-2", "123456789012", "test/ubuntu").unwrap();
    let digest = format!("sha256:{}", "a".repeat(64));
    let channel = sns_channel(Severity::High);
    let (store, notifier) = notifier_with(
        std::slice::from_ref(&channel),
        ScriptedTransport::new(Vec::new()),
        Arc::new(LocalSecrets),
    )
    .await;
    let recorder = Recorder::new(store.clone()).with_outbox(Arc::new(notifier));
    recorder
        .record_scan(&repository, &digest, &scan(0, "CVE-1"), at(1))
        .await
        .unwrap();
    assert!(
        deliveries(&store, &channel).await.is_empty(),
        "a baseline is not sent"
    );
    let recording = recorder
        .record_scan(&repository, &digest, &scan(100, "CVE-2"), at(101))
        .await
        .unwrap();
    assert_eq!(recording.changes.len(), 1);
    let queued = deliveries(&store, &channel).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].change, recording.changes[0]);

    // An outbox that cannot queue: the change is not stored, so the next
    // recording of the same result computes it again.
    let failing = Arc::new(FailingOutbox(AtomicUsize::new(0)));
    let other = Arc::new(MemoryStore::new());
    let recorder = Recorder::new(other.clone()).with_outbox(failing.clone());
    recorder
        .record_scan(&repository, &digest, &scan(0, "CVE-1"), at(1))
        .await
        .unwrap_err();
    assert_eq!(failing.0.load(Ordering::SeqCst), 1);
    assert!(other.list_changes().await.unwrap().items.is_empty());
}

#[tokio::test(start_paused = true)]
async fn one_channel_can_be_sent_alone_and_deleting_a_channel_deletes_its_deliveries() {
    let first = sns_channel(Severity::High);
    let second = sns_channel(Severity::High);
    let transport = ScriptedTransport::new(Vec::new());
    let (store, notifier) = notifier_with(
        &[first.clone(), second.clone()],
        transport.clone(),
        Arc::new(LocalSecrets),
    )
    .await;
    let changes = [
        change_with(Severity::High, 1),
        change_with(Severity::Critical, 2),
    ];
    assert_eq!(notifier.enqueue(&changes, at(10)).await.unwrap(), 4);

    let report = notifier.send_pending(Some(first.id), at(20)).await.unwrap();
    assert_eq!(report.delivered, 2, "{report:?}");
    assert_eq!(transport.sent().len(), 2);
    assert!(
        deliveries(&store, &second)
            .await
            .iter()
            .all(|d| d.state == DeliveryState::Pending),
        "the other channel is left for its own run"
    );
    assert!(matches!(
        notifier
            .send_pending(Some(Uuid::from_u128(7)), at(20))
            .await,
        Err(StoreError::NotFound { .. })
    ));

    assert_eq!(delete_channel(store.as_ref(), second.id).await.unwrap(), 2);
    assert!(deliveries(&store, &second).await.is_empty());
    // Queued for it afterwards from a channel cache: `rm` again cleans up.
    store
        .put_delivery(
            &Delivery::queue(second.id, change_with(Severity::High, 3), at(25)),
            PutMode::Create,
        )
        .await
        .unwrap();
    assert_eq!(delete_channel(store.as_ref(), second.id).await.unwrap(), 1);
    assert!(matches!(
        delete_channel(store.as_ref(), second.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(deliveries(&store, &first).await.len(), 2, "untouched");
    assert!(matches!(
        store.get_channel(second.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        notifier.deliver_due(at(30)).await,
        DeliveryReport::default()
    );
}

#[tokio::test(start_paused = true)]
async fn slack_messages_link_to_the_selecting_configs_feed_and_configs_are_read_only_to_send() {
    use crate::config::{ConfigSpec, ScanConfig};
    use crate::store::MockConfigStore;

    let slack = Channel::create(
        Target::Slack {
            url: "https://hooks.slack.com/services/T0/B0/x".into(),
        },
        Severity::High,
        false,
        at(0),
    )
    .unwrap();
    let config = ScanConfig::create(
        ConfigSpec::new(
            "us-west-2",
            "123456789012",
            "test/ubuntu",
            Vec::<String>::new(),
        )
        .unwrap(),
        at(0),
    );
    let transport = ScriptedTransport::new(Vec::new());
    let store = Arc::new(MemoryStore::new());
    store.put_channel(&slack).await.unwrap();
    let mut configs = MockConfigStore::new();
    let listed = config.clone();
    configs.expect_list().times(1).returning(move || {
        Ok(crate::store::Listing {
            items: vec![listed.clone()],
            skipped: Vec::new(),
        })
    });
    let notifier = Notifier::new(
        store.clone(),
        transport.clone(),
        Arc::new(LocalSecrets),
        NotifyOptions {
            channel_cache: std::time::Duration::ZERO,
            ..NotifyOptions::default().with_api_url(Some("https://api.example.com/Prod/".into()))
        },
    )
    .with_configs(Arc::new(configs));

    // Nothing due: no config is read (mockall fails on a second list).
    assert_eq!(notifier.deliver_due(at(1)).await, DeliveryReport::default());

    let in_account = |n| {
        let mut change = change_with(Severity::Critical, n);
        change.region = "us-west-2".into();
        change.registry = "123456789012".into();
        change
    };
    let mut unselected = in_account(2);
    unselected.repository = "other/app".into();
    let changes = [in_account(1), unselected];
    assert_eq!(notifier.enqueue(&changes, at(10)).await.unwrap(), 2);
    assert_eq!(notifier.deliver_due(at(20)).await.delivered, 2);
    let bodies: Vec<String> = transport
        .sent()
        .iter()
        .map(|sent| match sent {
            Outgoing::Http { body, .. } => String::from_utf8_lossy(body).into_owned(),
            other => panic!("a Slack POST, not {other:?}"),
        })
        .collect();
    let linked = |body: &str, link: &str| body.contains(link);
    let feed = format!("https://api.example.com/Prod/findings/{}", config.id);
    assert_eq!(
        bodies.iter().filter(|b| linked(b, &feed)).count(),
        1,
        "{bodies:?}"
    );
    assert_eq!(
        bodies
            .iter()
            .filter(|b| linked(b, "https://api.example.com/Prod/changes.atom"))
            .count(),
        1,
        "an image no config selects links to the changes feed: {bodies:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_outage_does_not_use_up_the_attempts_of_many_quick_runs() {
    let channel = sns_channel(Severity::High);
    let down = || Err(SendError::retryable("HTTP 503"));
    let transport = ScriptedTransport::new((0..1_000).map(|_| down()).collect());
    let (store, notifier) = notifier_with(
        std::slice::from_ref(&channel),
        transport.clone(),
        Arc::new(LocalSecrets),
    )
    .await;
    notifier
        .enqueue(&[change_with(Severity::Critical, 1)], at(0))
        .await
        .unwrap();
    // A recorder invocation every second for 50 seconds: one run tries.
    let mut waiting = 0;
    for second in 0..50 {
        waiting += notifier.deliver_due(at(second)).await.waiting;
    }
    assert_eq!(transport.sent().len(), 3, "one run of 3 attempts");
    assert_eq!(waiting, 49);
    let [pending] = &deliveries(&store, &channel).await[..] else {
        panic!("one delivery")
    };
    assert_eq!(pending.state, DeliveryState::Pending);
    assert_eq!(pending.attempts, 3);
    // A minute later the next run tries again; `channels retry` need not wait.
    assert_eq!(notifier.deliver_due(at(70)).await.retry_later, 1);
    assert_eq!(transport.sent().len(), 6);
    let report = notifier.send_pending(None, at(71)).await.unwrap();
    assert_eq!((report.retry_later, report.waiting), (1, 0), "{report:?}");
    assert_eq!(transport.sent().len(), 9);
}
