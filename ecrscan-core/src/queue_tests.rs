use std::sync::Mutex;

use mockall::predicate::eq;

use super::*;
use crate::backend::{Image, MockScanBackend, Resolution};
use crate::conformance::sample_config;

fn repository(name: &str) -> RepositoryRef {
    sample_config(name, &[], 0).repository_ref()
}

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

fn message(item: &WorkItem, receive_count: u32) -> Received {
    Received {
        message_id: uuid::Uuid::new_v4().to_string(),
        receipt: "receipt".into(),
        body: item.to_body(),
        receive_count,
    }
}

fn scan_item(n: u8) -> WorkItem {
    WorkItem::Scan {
        repository: repository("app/one"),
        digest: digest(n),
    }
}

/// A queue that records what is done to it.
#[derive(Default)]
struct RecordingQueue {
    sent: Mutex<Vec<WorkItem>>,
    deleted: Mutex<Vec<String>>,
    released: Mutex<Vec<(String, Duration)>>,
    dead: Mutex<Vec<(String, String)>>,
    has_dead_letter_queue: bool,
}

#[async_trait::async_trait]
impl WorkQueue for RecordingQueue {
    async fn send(&self, items: &[WorkItem]) -> Result<(), QueueError> {
        self.sent.lock().unwrap().extend_from_slice(items);
        Ok(())
    }
    async fn receive(&self, _: usize, _: Duration) -> Result<Vec<Received>, QueueError> {
        Ok(Vec::new())
    }
    async fn delete(&self, messages: &[Received]) -> Result<(), QueueError> {
        assert!(messages.len() <= BATCH);
        self.deleted
            .lock()
            .unwrap()
            .extend(messages.iter().map(|m| m.message_id.clone()));
        Ok(())
    }
    async fn release(&self, message: &Received, after: Duration) -> Result<(), QueueError> {
        self.released
            .lock()
            .unwrap()
            .push((message.message_id.clone(), after));
        Ok(())
    }
    async fn dead_letter(&self, message: &Received, reason: &str) -> Result<bool, QueueError> {
        if !self.has_dead_letter_queue {
            return Ok(false);
        }
        self.dead
            .lock()
            .unwrap()
            .push((message.message_id.clone(), reason.to_owned()));
        Ok(true)
    }
    async fn max_receives(&self) -> Result<Option<u32>, QueueError> {
        Ok(Some(3))
    }
    async fn is_drained(&self) -> Result<bool, QueueError> {
        Ok(true)
    }
}

#[test]
fn work_items_round_trip_and_hostile_bodies_are_refused() {
    for item in [
        scan_item(1),
        WorkItem::Resolve {
            repository: repository("app/one"),
            tags: vec!["latest".into()],
        },
    ] {
        assert_eq!(WorkItem::from_body(&item.to_body()), Ok(item));
    }
    assert_eq!(
        scan_item(1).to_body(),
        format!(
            r#"{{"kind":"scan","repository":{{"region":"us-west-2","registry":"123456789012","repository":"app/one"}},"digest":"{}"}}"#,
            digest(1)
        )
    );
    let too_many_tags = serde_json::json!({
        "kind": "resolve",
        "repository": {"region": "us-west-2", "registry": "123456789012", "repository": "a"},
        "tags": vec!["t"; crate::config::MAX_TAGS + 1],
    })
    .to_string();
    for hostile in [
        String::new(),
        "not json".into(),
        r#"{"kind":"delete_everything"}"#.into(),
        r#"{"kind":"scan","repository":{"region":"us-west-2","registry":"123456789012","repository":"a"},"digest":"../../etc"}"#.into(),
        r#"{"kind":"scan","repository":{"region":"us-west-2","registry":"123456789012","repository":"../x"},"digest":"sha256:ab"}"#.into(),
        r#"{"kind":"scan","repository":{"region":"us-west-2","registry":"123456789012","repository":"a"},"digest":"sha256:ab","extra":1}"#.into(),
        too_many_tags,
        " ".repeat(MAX_MESSAGE_BYTES + 1),
    ] {
        let err = WorkItem::from_body(&hostile).expect_err(&hostile.chars().take(80).collect::<String>());
        assert!(err.len() < 400, "a short reason: {err}");
    }
}

#[tokio::test]
async fn each_answer_settles_its_message() {
    let mut backend = MockScanBackend::new();
    let answers: Vec<(u8, Result<(), BackendError>)> = vec![
        (1, Ok(())),
        (2, Err(BackendError::ScanQuotaExceeded)),
        (3, Err(BackendError::ContinuousScanning)),
        (
            4,
            Err(BackendError::ImageNotFound {
                image: "app/one@sha256:04".into(),
            }),
        ),
        (
            5,
            Err(BackendError::Throttled {
                code: "ThrottlingException".into(),
            }),
        ),
        (
            6,
            Err(BackendError::Timeout {
                action: "ecr:StartImageScan".into(),
            }),
        ),
    ];
    for (n, answer) in answers {
        backend
            .expect_start_scan()
            .with(eq(repository("app/one")), eq(digest(n)))
            .times(1)
            .return_once(move |_, _| answer);
    }
    let queue = RecordingQueue::default();
    let mut messages: Vec<Received> = (1..=6).map(|n| message(&scan_item(n), 1)).collect();
    messages.push(Received {
        body: "garbage".into(),
        ..message(&scan_item(9), 1)
    });
    let ids: Vec<String> = messages.iter().map(|m| m.message_id.clone()).collect();
    let report = work_on(messages, &backend, &queue, &ScanOptions::default(), None).await;
    let settlement_of = |id: &str| {
        report
            .iter()
            .find(|(m, _)| m.message_id == id)
            .map(|(_, s)| s.clone())
            .unwrap()
    };
    assert_eq!(
        settlement_of(&ids[0]),
        Settlement::Done(WorkDone::Scan(ScanOutcome::Started))
    );
    assert_eq!(
        settlement_of(&ids[1]),
        Settlement::Done(WorkDone::Scan(ScanOutcome::AlreadyScanned)),
        "the quota answer is final"
    );
    assert_eq!(
        settlement_of(&ids[2]),
        Settlement::Done(WorkDone::Scan(ScanOutcome::Continuous))
    );
    assert!(matches!(
        settlement_of(&ids[3]),
        Settlement::Done(WorkDone::Skipped(_))
    ));
    for retried in [&ids[4], &ids[5], &ids[6]] {
        assert!(matches!(settlement_of(retried), Settlement::Retry { .. }));
    }
    let Settlement::Retry { reason } = settlement_of(&ids[6]) else {
        unreachable!()
    };
    assert!(reason.starts_with("not a work item"), "{reason}");
}

#[tokio::test]
async fn nothing_is_started_past_the_deadline() {
    let mut backend = MockScanBackend::new();
    backend.expect_start_scan().never();
    let queue = RecordingQueue::default();
    let deadline = tokio::time::Instant::now();
    let report = work_on(
        vec![message(&scan_item(1), 1), message(&scan_item(2), 1)],
        &backend,
        &queue,
        &ScanOptions::default(),
        Some(deadline),
    )
    .await;
    assert_eq!(report.len(), 2);
    assert!(report.iter().all(|(_, s)| *s == Settlement::Deferred));
}

#[tokio::test]
async fn a_resolve_message_queues_a_scan_of_each_image() {
    let mut backend = MockScanBackend::new();
    backend
        .expect_resolve_images()
        .with(eq(repository("app/one")), eq(Vec::<String>::new()))
        .times(1)
        .returning(|_, _| {
            Ok(Resolution {
                images: vec![
                    Image {
                        digest: digest(1),
                        tags: vec!["a".into()],
                        ..Image::default()
                    },
                    Image {
                        digest: digest(2),
                        tags: vec!["b".into()],
                        ..Image::default()
                    },
                ],
                missing_tags: vec![],
            })
        });
    let queue = RecordingQueue::default();
    let resolve = WorkItem::Resolve {
        repository: repository("app/one"),
        tags: vec![],
    };
    let report = work_on(
        vec![message(&resolve, 1)],
        &backend,
        &queue,
        &ScanOptions::default(),
        None,
    )
    .await;
    assert_eq!(report[0].1, Settlement::Done(WorkDone::Resolved(2)));
    assert_eq!(
        *queue.sent.lock().unwrap(),
        vec![scan_item(1), scan_item(2)]
    );
}

#[tokio::test]
async fn settling_deletes_releases_and_dead_letters_at_the_last_receive() {
    let queue = RecordingQueue {
        has_dead_letter_queue: true,
        ..RecordingQueue::default()
    };
    let done: Vec<Received> = (0..12).map(|n| message(&scan_item(n), 1)).collect();
    let early = message(&scan_item(20), 2);
    let last = message(&scan_item(21), 3);
    let mut report: WorkReport = done
        .iter()
        .map(|m| {
            (
                m.clone(),
                Settlement::Done(WorkDone::Scan(ScanOutcome::Started)),
            )
        })
        .collect();
    let retry = || Settlement::Retry {
        reason: "ecr:StartImageScan failed: boom".into(),
    };
    report.push((early.clone(), retry()));
    report.push((last.clone(), retry()));
    let settled = settle(&queue, report, Some(3)).await;
    assert_eq!(settled.done, 12);
    assert_eq!(settled.retried, 1);
    assert_eq!(
        settled.dead_lettered,
        vec![(
            last.message_id.clone(),
            "ecr:StartImageScan failed: boom".to_owned()
        )]
    );
    assert_eq!(queue.deleted.lock().unwrap().len(), 12, "in batches of 10");
    assert_eq!(
        *queue.released.lock().unwrap(),
        vec![(early.message_id.clone(), retry_delay(2))]
    );
    assert_eq!(queue.dead.lock().unwrap().len(), 1);

    // Without a dead-letter queue the message goes back, for the queue's redrive.
    let queue = RecordingQueue::default();
    let settled = settle(&queue, vec![(last.clone(), retry())], Some(3)).await;
    assert_eq!((settled.retried, settled.dead_lettered.len()), (1, 0));
}

#[tokio::test]
async fn a_message_not_tried_is_never_dead_lettered() {
    let queue = RecordingQueue {
        has_dead_letter_queue: true,
        ..RecordingQueue::default()
    };
    let early = message(&scan_item(1), 1);
    let last = message(&scan_item(2), 3);
    let settled = settle(
        &queue,
        vec![
            (early.clone(), Settlement::Deferred),
            (last.clone(), Settlement::Deferred),
        ],
        Some(3),
    )
    .await;
    assert_eq!(settled.deferred, 2);
    assert!(settled.dead_lettered.is_empty());
    assert!(queue.dead.lock().unwrap().is_empty());
    // Back at once for another worker; at its last receive, a fresh copy.
    assert_eq!(
        *queue.released.lock().unwrap(),
        vec![(early.message_id.clone(), Duration::ZERO)]
    );
    assert_eq!(*queue.sent.lock().unwrap(), vec![scan_item(2)]);
    assert_eq!(
        *queue.deleted.lock().unwrap(),
        vec![last.message_id.clone()]
    );
}

/// A queue whose releases fail (an expired receipt).
struct ReleaseFails(RecordingQueue);

#[async_trait::async_trait]
impl WorkQueue for ReleaseFails {
    async fn send(&self, items: &[WorkItem]) -> Result<(), QueueError> {
        self.0.send(items).await
    }
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        self.0.receive(max, wait).await
    }
    async fn delete(&self, messages: &[Received]) -> Result<(), QueueError> {
        self.0.delete(messages).await
    }
    async fn release(&self, _: &Received, _: Duration) -> Result<(), QueueError> {
        Err(QueueError::Failed {
            queue: "q".into(),
            action: "ChangeMessageVisibility",
            message: "ReceiptHandleIsInvalid".into(),
        })
    }
    async fn dead_letter(&self, message: &Received, reason: &str) -> Result<bool, QueueError> {
        self.0.dead_letter(message, reason).await
    }
    async fn max_receives(&self) -> Result<Option<u32>, QueueError> {
        self.0.max_receives().await
    }
    async fn is_drained(&self) -> Result<bool, QueueError> {
        self.0.is_drained().await
    }
}

#[tokio::test]
async fn a_failed_settlement_never_stops_the_others() {
    let queue = ReleaseFails(RecordingQueue::default());
    let failed = message(&scan_item(1), 1);
    let done = message(&scan_item(2), 1);
    let settled = settle(
        &queue,
        vec![
            (
                failed,
                Settlement::Retry {
                    reason: "throttled".into(),
                },
            ),
            (
                done.clone(),
                Settlement::Done(WorkDone::Scan(ScanOutcome::Started)),
            ),
        ],
        Some(5),
    )
    .await;
    assert_eq!(
        settled.done, 1,
        "the started scan is deleted, not started again"
    );
    assert_eq!(*queue.0.deleted.lock().unwrap(), vec![done.message_id]);
    assert_eq!(settled.errors.len(), 1);
    assert!(settled.errors[0].contains("ReceiptHandleIsInvalid"));
}

#[test]
fn retries_wait_longer_each_time_up_to_fifteen_minutes() {
    assert_eq!(retry_delay(1), Duration::from_secs(30));
    assert_eq!(retry_delay(2), Duration::from_secs(60));
    assert_eq!(retry_delay(100), Duration::from_secs(900));
    assert_eq!(retry_delay(0), Duration::from_secs(30));
}

#[tokio::test]
async fn the_planner_queues_each_digest_once_and_leaves_what_it_cannot_resolve() {
    let configs = vec![
        sample_config("app/one", &[], 1),
        sample_config("app/one", &["a"], 2),
        sample_config("app/two", &[], 3),
        sample_config("app/gone", &[], 4),
    ];
    let mut backend = MockScanBackend::new();
    backend.expect_resolve_images().returning(|repository, _| {
        match repository.repository.as_str() {
            "app/one" => Ok(Resolution {
                images: vec![Image {
                    digest: digest(1),
                    tags: vec!["a".into()],
                    ..Image::default()
                }],
                missing_tags: vec![],
            }),
            "app/gone" => Err(BackendError::RepositoryNotFound {
                repository: repository.clone(),
            }),
            _ => Err(BackendError::Throttled {
                code: "ThrottlingException".into(),
            }),
        }
    });
    let queue = RecordingQueue::default();
    let enqueued = enqueue_plan(&configs, &backend, &queue, &ScanOptions::default(), None)
        .await
        .unwrap();
    assert_eq!(
        enqueued,
        Enqueued {
            resolved: 3,
            scans: 1,
            resolves: 1,
            over_quota: 0,
        }
    );
    let sent = queue.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert!(sent.contains(&scan_item(1)));
    assert!(sent.contains(&WorkItem::Resolve {
        repository: repository("app/two"),
        tags: vec![]
    }));

    // Past its deadline the planner resolves nothing and queues every selection.
    let mut idle = MockScanBackend::new();
    idle.expect_resolve_images().never();
    let queue = RecordingQueue::default();
    let enqueued = enqueue_plan(
        &configs,
        &idle,
        &queue,
        &ScanOptions::default(),
        Some(tokio::time::Instant::now()),
    )
    .await
    .unwrap();
    assert_eq!(enqueued.resolves, 4);
    assert_eq!(queue.sent.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn a_plan_queues_no_more_than_a_registrys_daily_quota() {
    let configs = vec![sample_config("app/one", &[], 1)];
    let mut backend = MockScanBackend::new();
    backend.expect_resolve_images().returning(|_, _| {
        Ok(Resolution {
            images: (1..=3)
                .map(|n| Image {
                    digest: digest(n),
                    tags: vec![format!("t{n}")],
                    ..Image::default()
                })
                .collect(),
            missing_tags: vec![],
        })
    });
    let queue = RecordingQueue::default();
    let enqueued =
        enqueue_plan_within(&configs, &backend, &queue, &ScanOptions::default(), None, 2)
            .await
            .unwrap();
    assert_eq!((enqueued.scans, enqueued.over_quota), (2, 1));
    assert_eq!(queue.sent.lock().unwrap().len(), 2);
    assert!(
        serde_json::to_string(&enqueued)
            .unwrap()
            .contains(r#""over_quota":1"#)
    );
}

#[tokio::test]
async fn an_image_reached_before_its_quota_frees_waits_for_it_then_is_done() {
    let soon = chrono::Utc::now() + chrono::Duration::minutes(30);
    let tomorrow = chrono::Utc::now() + chrono::Duration::hours(13);
    let mut backend = MockScanBackend::new();
    for (n, at) in [(1, soon), (2, tomorrow)] {
        backend
            .expect_start_scan()
            .with(eq(repository("app/one")), eq(digest(n)))
            .return_once(move |_, _| Err(BackendError::ScanQuotaFreesAt { at }));
    }
    let queue = RecordingQueue::default();
    let messages = vec![message(&scan_item(1), 1), message(&scan_item(2), 1)];
    let report = work_on(messages, &backend, &queue, &ScanOptions::default(), None).await;
    let mut waits = report.iter().filter_map(|(m, s)| match s {
        Settlement::WaitForQuota { delay } => Some((m.message_id.clone(), *delay)),
        _ => None,
    });
    let (waiting, delay) = waits
        .next()
        .expect("the image whose quota frees soon waits");
    assert!(waits.next().is_none(), "{report:?}");
    // Until the quota frees, and a minute more.
    assert!(
        delay > Duration::from_secs(30 * 60) && delay <= Duration::from_secs(31 * 60),
        "{delay:?}"
    );
    assert!(
        report
            .iter()
            .any(|(_, s)| *s == Settlement::Done(WorkDone::Scan(ScanOutcome::AlreadyScanned)))
    );

    let settled = settle(&queue, report, Some(5)).await;
    assert_eq!((settled.waiting, settled.done), (1, 1));
    assert_eq!(*queue.released.lock().unwrap(), vec![(waiting, delay)]);

    // At its last receive it waits no longer: done, as already scanned.
    let queue = RecordingQueue::default();
    let last = message(&scan_item(3), 5);
    let settled = settle(
        &queue,
        vec![(last.clone(), Settlement::WaitForQuota { delay })],
        Some(5),
    )
    .await;
    assert_eq!((settled.waiting, settled.done), (0, 1));
    assert_eq!(*queue.deleted.lock().unwrap(), vec![last.message_id]);
}
