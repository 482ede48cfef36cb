//! The scan worker with recorded SQS events: each message settled by what
//! ECR answered, partial batch failures for what may pass, the dead-letter
//! queue with its reason at the last receive, and the deadline reached in
//! the middle of a batch.

use std::sync::Mutex;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use ecrscan_core::testing::MemoryQueue;
use ecrscan_core::{
    BackendError, Image, LatestScan, MockScanBackend, RepositoryRef, Resolution, ScanBackend,
    ScanOptions,
};
use ecrscan_lambda::worker::{BatchCounts, work_deadline, work_on_batch};

fn recorded_batch() -> SqsEvent {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/events/sqs-work-batch.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

fn failures(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[tokio::test]
async fn a_recorded_batch_is_settled_message_by_message() {
    let mut backend = MockScanBackend::new();
    backend.expect_start_scan().returning(|repository, d| {
        assert_eq!(repository.repository, "team/app");
        assert_eq!(repository.region, "us-east-1");
        match d {
            d if d == digest(1) => Ok(()),
            d if d == digest(2) => Err(BackendError::ScanQuotaExceeded),
            _ => Err(BackendError::Throttled {
                code: "ThrottlingException".into(),
            }),
        }
    });
    backend
        .expect_resolve_images()
        .times(1)
        .returning(|_, tags| {
            assert_eq!(tags, ["latest"]);
            Ok(Resolution {
                images: vec![Image {
                    digest: digest(7),
                    tags: vec!["latest".into()],
                    ..Image::default()
                }],
                missing_tags: vec![],
            })
        });
    let queue = MemoryQueue::new(Duration::from_secs(60), Some(5));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (response, counts) = work_on_batch(
        recorded_batch(),
        &backend,
        &queue,
        &ScanOptions::default(),
        deadline,
        Some(5),
    )
    .await;
    // Throttled past the SDK's retries: back to the queue, for later.
    assert_eq!(
        failures(&response),
        ["6a5b2f2c-4a6b-4f0e-9b1e-3c2d1e0f9a8b"]
    );
    assert_eq!(
        counts,
        BatchCounts {
            started: 1,
            already_scanned: 1,
            resolved: 1,
            skipped: 0,
            returned: 1,
            deferred: 0,
            dead_lettered: 1,
            waiting: 0,
        }
    );
    // The resolved selection queued its image's scan.
    assert_eq!(queue.sent(), 1);
    // The hostile body at its fifth receive: dead-lettered with why, not retried forever.
    let dead = queue.dead_letters();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].0.contains("<script>"));
    assert!(dead[0].1.starts_with("not a work item"), "{}", dead[0].1);
    // The response is what Lambda reads.
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "6a5b2f2c-4a6b-4f0e-9b1e-3c2d1e0f9a8b"}]})
    );
}

/// A backend whose scans take 100 ms each.
struct SlowEcr {
    started: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl ScanBackend for SlowEcr {
    async fn list_repositories(&self, _: &str, _: &str) -> Result<Vec<String>, BackendError> {
        unreachable!("no listing in this batch")
    }
    async fn list_accounts(&self) -> Result<Vec<ecrscan_core::Account>, BackendError> {
        unreachable!("no listing in this batch")
    }
    async fn resolve_images(
        &self,
        _: &RepositoryRef,
        _: &[String],
    ) -> Result<Resolution, BackendError> {
        unreachable!("no resolve in this batch")
    }
    async fn start_scan(&self, _: &RepositoryRef, digest: &str) -> Result<(), BackendError> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.started.lock().unwrap().push(digest.to_owned());
        Ok(())
    }
    async fn scan_result(&self, _: &RepositoryRef, _: &str) -> Result<LatestScan, BackendError> {
        unreachable!("no reads in this batch")
    }
}

#[tokio::test(start_paused = true)]
async fn the_deadline_reached_mid_batch_returns_the_rest() {
    let mut event = recorded_batch();
    // The three scan messages, one at a time.
    event.records.truncate(3);
    let backend = SlowEcr {
        started: Mutex::new(Vec::new()),
    };
    let queue = MemoryQueue::new(Duration::from_secs(60), Some(5));
    let deadline = tokio::time::Instant::now() + Duration::from_millis(150);
    let (response, counts) = work_on_batch(
        event,
        &backend,
        &queue,
        &ScanOptions { concurrency: 1 },
        deadline,
        Some(5),
    )
    .await;
    assert_eq!(
        counts.started, 2,
        "started at 0 and 100 ms; the third came at 200 ms"
    );
    assert_eq!(
        failures(&response),
        ["6a5b2f2c-4a6b-4f0e-9b1e-3c2d1e0f9a8b"]
    );
    assert_eq!(backend.started.lock().unwrap().len(), 2);
}

#[test]
fn work_stops_a_quarter_of_the_time_left_before_the_deadline_at_most_30_s() {
    assert_eq!(
        work_deadline(Duration::from_secs(60)),
        Duration::from_secs(45)
    );
    assert_eq!(
        work_deadline(Duration::from_secs(600)),
        Duration::from_secs(570)
    );
    assert_eq!(work_deadline(Duration::ZERO), Duration::ZERO);
}

#[tokio::test]
async fn a_message_not_tried_at_its_last_receive_is_sent_again_not_dead_lettered() {
    let mut event = recorded_batch();
    event.records.truncate(1);
    event.records[0]
        .attributes
        .insert("ApproximateReceiveCount".into(), "5".into());
    let mut backend = MockScanBackend::new();
    backend.expect_start_scan().never();
    let queue = MemoryQueue::new(Duration::from_secs(60), Some(5));
    let (response, counts) = work_on_batch(
        event,
        &backend,
        &queue,
        &ScanOptions::default(),
        tokio::time::Instant::now(),
        Some(5),
    )
    .await;
    assert!(
        failures(&response).is_empty(),
        "acknowledged: a fresh copy took its place"
    );
    assert_eq!(counts.deferred, 1);
    assert_eq!(queue.sent(), 1);
    assert!(queue.dead_letters().is_empty());
}

/// A queue that only records which messages were held, and for how long.
#[derive(Default)]
struct HoldingQueue {
    held: Mutex<Vec<(String, Duration)>>,
}

#[async_trait::async_trait]
impl ecrscan_core::queue::WorkQueue for HoldingQueue {
    async fn send(
        &self,
        _: &[ecrscan_core::queue::WorkItem],
    ) -> Result<(), ecrscan_core::queue::QueueError> {
        Ok(())
    }
    async fn receive(
        &self,
        _: usize,
        _: Duration,
    ) -> Result<Vec<ecrscan_core::queue::Received>, ecrscan_core::queue::QueueError> {
        Ok(Vec::new())
    }
    async fn delete(
        &self,
        _: &[ecrscan_core::queue::Received],
    ) -> Result<(), ecrscan_core::queue::QueueError> {
        Ok(())
    }
    async fn release(
        &self,
        message: &ecrscan_core::queue::Received,
        after: Duration,
    ) -> Result<(), ecrscan_core::queue::QueueError> {
        self.held
            .lock()
            .unwrap()
            .push((message.receipt.clone(), after));
        Ok(())
    }
    async fn dead_letter(
        &self,
        _: &ecrscan_core::queue::Received,
        _: &str,
    ) -> Result<bool, ecrscan_core::queue::QueueError> {
        Ok(false)
    }
    async fn max_receives(&self) -> Result<Option<u32>, ecrscan_core::queue::QueueError> {
        Ok(Some(5))
    }
    async fn is_drained(&self) -> Result<bool, ecrscan_core::queue::QueueError> {
        Ok(true)
    }
}

#[tokio::test]
async fn a_message_whose_quota_frees_soon_is_held_until_then_and_kept() {
    let frees = chrono::Utc::now() + chrono::Duration::minutes(20);
    let mut backend = MockScanBackend::new();
    backend.expect_start_scan().returning(move |_, d| {
        if d == digest(2) {
            Err(BackendError::ScanQuotaFreesAt { at: frees })
        } else {
            Ok(())
        }
    });
    backend.expect_resolve_images().returning(|_, _| {
        Ok(Resolution {
            images: vec![],
            missing_tags: vec![],
        })
    });
    let queue = HoldingQueue::default();
    let event = recorded_batch();
    let waiting_message = event
        .records
        .iter()
        .find(|r| r.body.as_deref().is_some_and(|b| b.contains(&digest(2))))
        .cloned()
        .expect("the recorded batch scans digest 2");
    let (response, counts) = work_on_batch(
        event,
        &backend,
        &queue,
        &ScanOptions::default(),
        tokio::time::Instant::now() + Duration::from_secs(60),
        Some(5),
    )
    .await;
    assert_eq!(counts.waiting, 1);
    assert!(
        failures(&response).contains(&waiting_message.message_id.as_deref().unwrap()),
        "reported as failed, so Lambda keeps it"
    );
    let held = queue.held.lock().unwrap().clone();
    assert_eq!(held.len(), 1);
    assert_eq!(Some(&held[0].0), waiting_message.receipt_handle.as_ref());
    assert!(
        held[0].1 > Duration::from_secs(20 * 60) && held[0].1 <= Duration::from_secs(21 * 60),
        "{:?}",
        held[0].1
    );
}
