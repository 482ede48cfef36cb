//! The scan worker: the batches of queued work Lambda's SQS event source
//! hands to ScanWorkerFunc.
//!
//! Each message is worked on until the invocation's deadline draws near;
//! what is done is deleted by Lambda, the rest is reported as batch item
//! failures (`ReportBatchItemFailures`), which Lambda returns to the queue.
//! A message failing at its last receive goes to the dead-letter queue with
//! its reason, sent by the worker itself so the reason travels with it.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use ecrscan_core::queue::{Received, Settlement, WorkDone, WorkQueue, requeue, work_on};
use ecrscan_core::{ScanBackend, ScanOptions};

/// How long before the invocation's deadline no new work is started: a
/// quarter of the time left, at most 30 s (what one ECR call may take).
pub fn work_deadline(time_left: Duration) -> Duration {
    time_left.saturating_sub((time_left / 4).min(Duration::from_secs(30)))
}

/// What one batch came to, for the log and the replay output.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BatchCounts {
    /// Scans started.
    pub started: usize,
    /// Images already scanned within ECR's quota period, or scanned continuously.
    pub already_scanned: usize,
    /// Selections resolved into queued scans.
    pub resolved: usize,
    /// Messages with nothing to do (the image is gone, ECR cannot scan it).
    pub skipped: usize,
    /// Messages returned to the queue after a failure.
    pub returned: usize,
    /// Messages not tried before the deadline: returned, or at their last
    /// receive sent again as new messages.
    pub deferred: usize,
    /// Messages moved to the dead-letter queue.
    pub dead_lettered: usize,
    /// Messages hidden until their image's scan quota frees.
    pub waiting: usize,
}

/// Works on the batch until `deadline` and returns the messages to return
/// to the queue. A message at or past `max_receives` that fails again is
/// sent to `queue`'s dead-letter queue with its reason instead.
pub async fn work_on_batch(
    event: SqsEvent,
    backend: &dyn ScanBackend,
    queue: &dyn WorkQueue,
    options: &ScanOptions,
    deadline: tokio::time::Instant,
    max_receives: Option<u32>,
) -> (SqsBatchResponse, BatchCounts) {
    let mut response = SqsBatchResponse::default();
    let mut counts = BatchCounts::default();
    let mut messages = Vec::with_capacity(event.records.len());
    for record in event.records {
        let Some(message_id) = record.message_id else {
            // Lambda always sets it; without one, nothing can be reported.
            tracing::warn!("a record without a message id was ignored");
            continue;
        };
        messages.push(Received {
            message_id,
            // Lambda deletes what is not reported as failed; the handle
            // lets a message wait for its image's scan quota.
            receipt: record.receipt_handle.unwrap_or_default(),
            body: record.body.unwrap_or_default(),
            receive_count: record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1),
        });
    }
    let report = work_on(messages, backend, queue, options, Some(deadline)).await;
    for (message, settlement) in report {
        match settlement {
            Settlement::Done(done) => match done {
                WorkDone::Scan(ecrscan_core::ScanOutcome::Started) => counts.started += 1,
                WorkDone::Scan(_) => counts.already_scanned += 1,
                WorkDone::Resolved(_) => counts.resolved += 1,
                WorkDone::Skipped(reason) => {
                    tracing::info!(message_id = %message.message_id, %reason, "nothing to do");
                    counts.skipped += 1;
                }
            },
            Settlement::Deferred => {
                counts.deferred += 1;
                let last = max_receives.is_some_and(|max| message.receive_count >= max);
                // At its last receive, a fresh copy: the queue's redrive never
                // dead-letters a message that was not tried.
                if last && matches!(requeue(queue, &message).await, Ok(true)) {
                    continue;
                }
                response.add_failure(message.message_id);
            }
            Settlement::WaitForQuota { delay } => {
                let last = max_receives.is_some_and(|max| message.receive_count >= max);
                if last {
                    counts.already_scanned += 1;
                    continue;
                }
                // Hidden until the quota frees; reported as failed, so that
                // Lambda keeps it.
                if let Err(err) = queue.release(&message, delay).await {
                    tracing::warn!(message_id = %message.message_id, error = %err, "cannot hold the message until the scan quota frees; it returns after the queue's visibility timeout");
                }
                tracing::info!(message_id = %message.message_id, seconds = delay.as_secs(), "waiting for the image's scan quota to free");
                counts.waiting += 1;
                response.add_failure(message.message_id);
            }
            Settlement::Retry { reason } => {
                let last = max_receives.is_some_and(|max| message.receive_count >= max);
                if last {
                    match queue.dead_letter(&message, &reason).await {
                        Ok(true) => {
                            tracing::warn!(message_id = %message.message_id, %reason, "moved to the dead-letter queue");
                            counts.dead_lettered += 1;
                            continue;
                        }
                        Ok(false) => {}
                        Err(err) => {
                            tracing::warn!(message_id = %message.message_id, error = %err, "cannot dead-letter; returned to the queue")
                        }
                    }
                }
                tracing::info!(message_id = %message.message_id, %reason, "returned to the queue");
                counts.returned += 1;
                response.add_failure(message.message_id);
            }
        }
    }
    (response, counts)
}
