//! The scheduled scan over a queue: the planner sends the work as messages,
//! any number of workers (Lambda functions fed by SQS, or `ecrscan worker`
//! processes) take them. The queue is the distributed engine: visibility
//! timeouts hand each message to one worker at a time, a message not
//! settled comes back, and one that keeps failing goes to a dead-letter
//! queue.
//!
//! - [`WorkItem`]: one message — scan one image, or resolve one selection
//!   of tags (the planner leaves those it did not reach before its deadline
//!   to the workers).
//! - [`WorkQueue`]: what a queue does, with a contract; `SqsWorkQueue`
//!   (feature `sqs`) is Amazon SQS.
//! - [`enqueue_plan`]: the planner. [`work_on`]: what a worker does with a
//!   batch of messages, up to a deadline. [`settle`]: deleting, releasing
//!   or dead-lettering them with a [`WorkQueue`].
//!
//! Every message is settled one of three ways: done (ECR started the scan,
//! said it was already scanned today, scans continuously, or the image no
//! longer exists: deleted from the queue), retried (a failure that may pass,
//! or the deadline came first: returned to the queue), or, at its last
//! receive, sent to the dead-letter queue with the reason.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::backend::{BackendError, ScanBackend};
use crate::config::{RepositoryRef, ScanConfig};
use crate::scan::{ScanOptions, ScanOutcome, Selection, plan_until};
use crate::select::ImageSelector;

/// The largest message body read: SQS's limit.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// The most messages one send or receive handles: SQS's batch limit.
pub const BATCH: usize = 10;

/// The most tags a resolve message carries ([`MAX_TAGS`](crate::config::MAX_TAGS)
/// tags of at most 128 bytes stay well under [`MAX_MESSAGE_BYTES`]).
const _: () = assert!(crate::config::MAX_TAGS * 130 < MAX_MESSAGE_BYTES);

/// One unit of queued work. Its JSON is
/// `{"kind":"scan","repository":{"region","registry","repository"},"digest":"sha256:…"}`,
/// `{"kind":"resolve","repository":{…},"tags":["…"]}` or
/// `{"kind":"plan","config":{CONFIG}}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WorkItem {
    /// Start a scan of one image.
    Scan {
        /// The repository.
        repository: RepositoryRef,
        /// The image's digest.
        digest: String,
    },
    /// Resolve a selection of tags (none: every tagged image) and queue a
    /// scan of each image.
    Resolve {
        /// The repository.
        repository: RepositoryRef,
        /// The tags.
        #[serde(default)]
        tags: Vec<String>,
    },
    /// Plan a config (one narrowed to one account or repository, whose
    /// selection needs listings: patterns, recency, an organization) and
    /// queue a scan of each image it selects.
    Plan {
        /// The config.
        config: Box<ScanConfig>,
    },
}

impl WorkItem {
    /// The message body.
    pub fn to_body(&self) -> String {
        // Strings and a tag: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a message body, checking what it names.
    pub fn from_body(body: &str) -> Result<WorkItem, String> {
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(format!("a message of {} bytes is too large", body.len()));
        }
        let item: WorkItem =
            serde_json::from_str(body).map_err(|err| format!("not a work item: {err}"))?;
        if let WorkItem::Plan { config } = &item {
            config
                .validate()
                .map_err(|err| format!("not a work item: {err}"))?;
            return Ok(item);
        }
        let repository = match &item {
            WorkItem::Scan { repository, digest } => {
                if !crate::store::keys::is_digest(digest) {
                    return Err("not a work item: the digest is not algorithm:hex".into());
                }
                repository
            }
            WorkItem::Plan { .. } => return Ok(item),
            WorkItem::Resolve { repository, tags } => {
                if tags.len() > crate::config::MAX_TAGS {
                    return Err(format!(
                        "not a work item: more than {} tags",
                        crate::config::MAX_TAGS
                    ));
                }
                repository
            }
        };
        repository
            .validate()
            .map_err(|err| format!("not a work item: {err}"))?;
        Ok(item)
    }
}

/// A message as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The queue's id of the message.
    pub message_id: String,
    /// What settles it (SQS's receipt handle); empty for messages handed
    /// over by Lambda, which settles them itself.
    pub receipt: String,
    /// The body.
    pub body: String,
    /// How many times it was received, this time included.
    pub receive_count: u32,
}

/// What went wrong with a queue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The queue refused or failed a call.
    #[error("queue {queue}: {action} failed: {message}")]
    Failed {
        /// The queue (its URL).
        queue: String,
        /// The call, e.g. `SendMessageBatch`.
        action: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// A queue of work.
///
/// # Contract
///
/// - [`send`](WorkQueue::send) sends every item, in batches of at most
///   [`BATCH`], and fails if any could not be sent (after retries); items
///   sent before a failure stay sent.
/// - [`receive`](WorkQueue::receive) returns at most `max` messages (at most
///   [`BATCH`]), waiting up to `wait` for one; a received message is hidden
///   from other receivers until settled or until its visibility ends.
/// - [`delete`](WorkQueue::delete) settles a message for good;
///   [`release`](WorkQueue::release) makes it visible again after `after`.
/// - [`dead_letter`](WorkQueue::dead_letter) moves a message to the
///   dead-letter queue with its reason and deletes it: `Ok(false)` when the
///   queue has none (the message stays, for the queue's own redrive).
/// - [`max_receives`](WorkQueue::max_receives) is the queue's redrive
///   limit, if any: the receive at which a failing message is dead-lettered.
/// - [`is_drained`](WorkQueue::is_drained): no message waits or is in flight.
#[async_trait::async_trait]
pub trait WorkQueue: Send + Sync {
    /// Sends items.
    async fn send(&self, items: &[WorkItem]) -> Result<(), QueueError>;
    /// Receives messages.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError>;
    /// Deletes settled messages.
    async fn delete(&self, messages: &[Received]) -> Result<(), QueueError>;
    /// Returns a message to the queue after `after`.
    async fn release(&self, message: &Received, after: Duration) -> Result<(), QueueError>;
    /// Moves a message to the dead-letter queue with `reason`.
    async fn dead_letter(&self, message: &Received, reason: &str) -> Result<bool, QueueError>;
    /// The receive at which a failing message goes to the dead-letter queue.
    async fn max_receives(&self) -> Result<Option<u32>, QueueError>;
    /// Whether no message waits or is in flight.
    async fn is_drained(&self) -> Result<bool, QueueError>;
}

/// What a worker made of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The work is done: delete the message.
    Done(WorkDone),
    /// Not done, and may succeed later: return it to the queue (or, at its
    /// last receive, dead-letter it with the reason).
    Retry {
        /// Why.
        reason: String,
    },
    /// Not tried: the worker's deadline came first. Returned to the queue
    /// and never dead-lettered: at its last receive it is sent again as a
    /// new message ([`requeue`]) and this one deleted.
    Deferred,
    /// ECR's scan quota for the image frees in `delay` (at most
    /// [`MAX_QUOTA_WAIT`]): hidden until then, to be tried again, so an
    /// image a run reached a little earlier than the day before waits
    /// minutes, not a day. At its last receive it is done (already
    /// scanned) instead.
    WaitForQuota {
        /// How long to hide the message.
        delay: Duration,
    },
}

/// The longest a message waits for an image's scan quota to free: SQS
/// hides a message for at most 12 hours, and a quota further off frees
/// before the next daily run anyway.
pub const MAX_QUOTA_WAIT: Duration = Duration::from_secs(12 * 60 * 60);

/// The outcome of work that is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkDone {
    /// What asking for the scan gave: started, already scanned within the
    /// quota period, continuous scanning.
    Scan(ScanOutcome),
    /// The selection was resolved and this many scans were queued.
    Resolved(usize),
    /// Nothing to do: the image or repository no longer exists, or ECR
    /// cannot scan the image; says which.
    Skipped(String),
}

/// The messages of a batch, each with what became of it.
pub type WorkReport = Vec<(Received, Settlement)>;

/// Whether an error is final for the work (nothing to retry) or may pass.
fn settle_error(err: &BackendError) -> Settlement {
    match err {
        BackendError::ScanQuotaExceeded => {
            Settlement::Done(WorkDone::Scan(ScanOutcome::AlreadyScanned))
        }
        BackendError::ScanQuotaFreesAt { at } => {
            // A minute's margin for the clocks of ECR and of the recorder.
            match (*at + chrono::Duration::minutes(1) - chrono::Utc::now()).to_std() {
                Ok(delay) if delay <= MAX_QUOTA_WAIT => Settlement::WaitForQuota { delay },
                _ => Settlement::Done(WorkDone::Scan(ScanOutcome::AlreadyScanned)),
            }
        }
        BackendError::ScanOnPushOnly => Settlement::Done(WorkDone::Scan(ScanOutcome::ScanOnPush)),
        BackendError::NotCovered => Settlement::Done(WorkDone::Scan(ScanOutcome::NotCovered)),
        BackendError::ContinuousScanning => {
            Settlement::Done(WorkDone::Scan(ScanOutcome::Continuous))
        }
        BackendError::ImageNotFound { .. }
        | BackendError::RepositoryNotFound { .. }
        | BackendError::UnsupportedImage { .. } => {
            Settlement::Done(WorkDone::Skipped(err.to_string()))
        }
        other => Settlement::Retry {
            reason: other.to_string(),
        },
    }
}

/// Does the work of `messages` with `backend`, concurrently up to
/// [`ScanOptions::concurrency`], queueing the scans of resolved selections
/// on `queue`. No work is started at or after `deadline`: those messages
/// are [`Settlement::Deferred`], for another worker. A message that is not a
/// work item is retried too, so that it ends in the dead-letter queue with
/// its reason rather than disappearing.
pub async fn work_on(
    messages: Vec<Received>,
    backend: &dyn ScanBackend,
    queue: &dyn WorkQueue,
    options: &ScanOptions,
    deadline: Option<tokio::time::Instant>,
) -> WorkReport {
    futures::stream::iter(messages.into_iter().map(|message| async move {
        if deadline.is_some_and(|deadline| tokio::time::Instant::now() >= deadline) {
            return (message, Settlement::Deferred);
        }
        let settlement = match WorkItem::from_body(&message.body) {
            Err(reason) => Settlement::Retry { reason },
            Ok(WorkItem::Scan { repository, digest }) => {
                match backend.start_scan(&repository, &digest).await {
                    Ok(()) => Settlement::Done(WorkDone::Scan(ScanOutcome::Started)),
                    Err(err) => settle_error(&err),
                }
            }
            Ok(WorkItem::Resolve { repository, tags }) => {
                match backend.resolve_images(&repository, &tags).await {
                    Ok(resolution) => {
                        let scans: Vec<WorkItem> = resolution
                            .images
                            .into_iter()
                            .map(|image| WorkItem::Scan {
                                repository: repository.clone(),
                                digest: image.digest,
                            })
                            .collect();
                        match queue.send(&scans).await {
                            Ok(()) => Settlement::Done(WorkDone::Resolved(scans.len())),
                            Err(err) => Settlement::Retry {
                                reason: err.to_string(),
                            },
                        }
                    }
                    Err(err) => settle_error(&err),
                }
            }
            Ok(WorkItem::Plan { config }) => {
                let plan = plan_until(
                    std::slice::from_ref(config.as_ref()),
                    backend,
                    options,
                    deadline,
                )
                .await;
                let unresolved = plan
                    .configs
                    .iter()
                    .flat_map(|config| &config.repositories)
                    .find_map(|planned| match &planned.selection {
                        Selection::Failed { error, .. }
                            if !matches!(error, BackendError::RepositoryNotFound { .. }) =>
                        {
                            Some(Some(error.clone()))
                        }
                        Selection::NotReached { .. } => Some(None),
                        _ => None,
                    });
                let scans: Vec<WorkItem> = plan
                    .images
                    .into_iter()
                    .map(|image| WorkItem::Scan {
                        repository: image.repository,
                        digest: image.digest,
                    })
                    .collect();
                match (queue.send(&scans).await, unresolved) {
                    (Err(err), _) => Settlement::Retry {
                        reason: err.to_string(),
                    },
                    (Ok(()), Some(Some(error))) => settle_error(&error),
                    (Ok(()), Some(None)) => Settlement::Deferred,
                    (Ok(()), None) => Settlement::Done(WorkDone::Resolved(scans.len())),
                }
            }
        };
        (message, settlement)
    }))
    .buffer_unordered(options.concurrency.max(1))
    .collect()
    .await
}

/// How long a retried message stays hidden before it is tried again: 30 s
/// after its first receive, doubling, at most 15 minutes.
pub fn retry_delay(receive_count: u32) -> Duration {
    Duration::from_secs(30u64 << receive_count.saturating_sub(1).min(5))
        .min(Duration::from_secs(900))
}

/// What [`settle`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// Messages deleted as done.
    pub done: usize,
    /// Messages returned to the queue after a failure.
    pub retried: usize,
    /// Messages not tried (the deadline came first), returned or sent again.
    pub deferred: usize,
    /// Messages hidden until their image's scan quota frees.
    pub waiting: usize,
    /// Messages moved to the dead-letter queue, with their reasons.
    pub dead_lettered: Vec<(String, String)>,
    /// Settlements that failed (each such message comes back when its
    /// visibility ends).
    pub errors: Vec<String>,
}

/// Sends a deferred message again as a new message, so that its receive
/// count starts over: `Ok(false)` when its body is not a work item (it is
/// then retried, to end in the dead-letter queue with that reason).
pub async fn requeue(queue: &dyn WorkQueue, message: &Received) -> Result<bool, QueueError> {
    match WorkItem::from_body(&message.body) {
        Ok(item) => queue.send(std::slice::from_ref(&item)).await.map(|()| true),
        Err(_) => Ok(false),
    }
}

/// Settles a worked batch on `queue`: first deletes what is done (what
/// keeps it from being done again), then dead-letters what failed at its
/// last receive (`max_receives`), releases the other failures after
/// [`retry_delay`], and returns the deferred ones at once (sent again at
/// their last receive). A settlement that fails is reported in
/// [`Settled::errors`] and the others go on; that message comes back when
/// its visibility ends, so nothing is lost.
pub async fn settle(
    queue: &dyn WorkQueue,
    report: WorkReport,
    max_receives: Option<u32>,
) -> Settled {
    let mut settled = Settled::default();
    let (done, rest): (WorkReport, WorkReport) = report
        .into_iter()
        .partition(|(_, settlement)| matches!(settlement, Settlement::Done(_)));
    let done: Vec<Received> = done.into_iter().map(|(message, _)| message).collect();
    for chunk in done.chunks(BATCH) {
        match queue.delete(chunk).await {
            Ok(()) => settled.done += chunk.len(),
            Err(err) => settled.errors.push(err.to_string()),
        }
    }
    for (message, settlement) in rest {
        let last = max_receives.is_some_and(|max| message.receive_count >= max);
        let result = match settlement {
            Settlement::Done(_) => Ok(()),
            Settlement::Retry { reason } => {
                match if last {
                    queue.dead_letter(&message, &reason).await
                } else {
                    Ok(false)
                } {
                    Ok(true) => {
                        tracing::warn!(message_id = %message.message_id, %reason, "moved to the dead-letter queue");
                        settled
                            .dead_lettered
                            .push((message.message_id.clone(), reason));
                        Ok(())
                    }
                    Ok(false) => {
                        tracing::info!(message_id = %message.message_id, %reason, "returned to the queue");
                        settled.retried += 1;
                        queue
                            .release(&message, retry_delay(message.receive_count))
                            .await
                    }
                    Err(err) => Err(err),
                }
            }
            Settlement::WaitForQuota { delay } => {
                if last {
                    settled.done += 1;
                    queue.delete(std::slice::from_ref(&message)).await
                } else {
                    settled.waiting += 1;
                    queue.release(&message, delay).await
                }
            }
            Settlement::Deferred => {
                settled.deferred += 1;
                if last {
                    match requeue(queue, &message).await {
                        Ok(true) => queue.delete(std::slice::from_ref(&message)).await,
                        Ok(false) => queue.release(&message, Duration::ZERO).await,
                        Err(err) => Err(err),
                    }
                } else {
                    queue.release(&message, Duration::ZERO).await
                }
            }
        };
        if let Err(err) = result {
            tracing::warn!(message_id = %message.message_id, error = %err, "cannot settle; it comes back when its visibility ends");
            settled.errors.push(err.to_string());
        }
    }
    settled
}

/// How many basic scans ECR allows a registry in 24 hours: a plan queues
/// at most this many per registry (region and account).
pub const DAILY_SCAN_QUOTA: usize = 100_000;

/// What [`enqueue_plan`] queued.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Enqueued {
    /// Selections resolved here.
    pub resolved: usize,
    /// Scans queued for their images (each digest once).
    pub scans: usize,
    /// Selections queued for the workers to resolve: not reached before
    /// the deadline, or failed here (a worker tries again).
    pub resolves: usize,
    /// Digests left out: their registry's [`DAILY_SCAN_QUOTA`] was reached
    /// (only in the JSON when there are any).
    #[serde(skip_serializing_if = "is_zero")]
    pub over_quota: usize,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// The planner: [`plan_until`] `deadline`, then a scan queued for each
/// distinct digest of the plan; selections it could not resolve, or did not
/// reach, are queued as [`WorkItem::Resolve`] for the workers. Its calls
/// are one listing per selection and one SendMessageBatch per 10 messages.
///
/// At most [`DAILY_SCAN_QUOTA`] scans are queued per registry; the rest are
/// counted in [`Enqueued::over_quota`] and logged.
pub async fn enqueue_plan(
    configs: &[ScanConfig],
    backend: &dyn ScanBackend,
    queue: &dyn WorkQueue,
    options: &ScanOptions,
    deadline: Option<tokio::time::Instant>,
) -> Result<Enqueued, QueueError> {
    enqueue_plan_within(configs, backend, queue, options, deadline, DAILY_SCAN_QUOTA).await
}

async fn enqueue_plan_within(
    configs: &[ScanConfig],
    backend: &dyn ScanBackend,
    queue: &dyn WorkQueue,
    options: &ScanOptions,
    deadline: Option<tokio::time::Instant>,
    quota: usize,
) -> Result<Enqueued, QueueError> {
    let plan = plan_until(configs, backend, options, deadline).await;
    let mut enqueued = Enqueued::default();
    let mut selections = HashSet::new();
    let mut items: Vec<WorkItem> = Vec::new();
    for (config, config_plan) in configs.iter().zip(&plan.configs) {
        let selector = ImageSelector::of(config);
        // Every tagged image, or listed tags, resolve as they are; patterns
        // and recency need the whole listing, filtered.
        let needs_listing = selector.has_recency()
            || selector
                .tags
                .iter()
                .any(|entry| matches!(entry, crate::select::TagEntry::Pattern(_)));
        for planned in &config_plan.repositories {
            let repository = &planned.repository;
            let item = work_item_for(config, repository, needs_listing);
            if !selections.insert(item.clone()) {
                continue;
            }
            match &planned.selection {
                Selection::Resolved { .. } => enqueued.resolved += 1,
                Selection::Failed {
                    error: error @ BackendError::RepositoryNotFound { .. },
                    ..
                } => {
                    tracing::warn!(%error, "nothing to queue");
                    enqueued.resolved += 1;
                }
                Selection::Failed { error, .. } => {
                    tracing::warn!(%repository, %error, "cannot resolve; queued for a worker");
                    enqueued.resolves += 1;
                    items.push(item);
                }
                Selection::NotReached { .. } => {
                    enqueued.resolves += 1;
                    items.push(item);
                }
            }
        }
    }
    let mut per_registry: HashMap<(&str, &str), usize> = HashMap::new();
    for image in &plan.images {
        let registry = (
            image.repository.region.as_str(),
            image.repository.registry.as_str(),
        );
        let queued = per_registry.entry(registry).or_default();
        if *queued >= quota {
            if enqueued.over_quota == 0 {
                tracing::warn!(
                    region = registry.0,
                    registry = registry.1,
                    quota,
                    "the registry's daily scan quota is reached: the rest is left out"
                );
            }
            enqueued.over_quota += 1;
            continue;
        }
        *queued += 1;
        enqueued.scans += 1;
        items.push(WorkItem::Scan {
            repository: image.repository.clone(),
            digest: image.digest.clone(),
        });
    }
    queue.send(&items).await?;
    Ok(enqueued)
}

/// The work item that resolves `config`'s selection in `repository` on a
/// worker: every tagged image or a list of tags of one repository is
/// resolved as it is; tag patterns and recency clauses are planned, the
/// config narrowed to the repository (or, when the repository is a
/// pattern, to its account).
fn work_item_for(config: &ScanConfig, repository: &RepositoryRef, needs_listing: bool) -> WorkItem {
    let concrete = repository.validate().is_ok();
    if concrete && !needs_listing {
        return WorkItem::Resolve {
            repository: repository.clone(),
            tags: config.tags.clone(),
        };
    }
    let mut narrowed = config.clone();
    if repository.registry != crate::config::ORGANIZATION {
        narrowed.registry = repository.registry.clone();
        narrowed.exclude_accounts.clear();
    }
    if concrete {
        narrowed.repository = repository.repository.clone();
        narrowed.exclude_repositories.clear();
    }
    WorkItem::Plan {
        config: Box::new(narrowed),
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
