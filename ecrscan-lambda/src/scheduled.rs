//! The scheduled re-scan.

use ecrscan_core::queue::{Enqueued, QueueError, WorkQueue, enqueue_plan};
use ecrscan_core::{
    ConfigStore, RescanReport, ScanBackend, ScanOptions, ScanOutcome, StoreError, rescan,
};
use serde::Serialize;

/// What an invocation returns: the counts of the re-scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartScanCounts {
    /// Configs read from the store.
    pub configs: usize,
    /// Objects of the store skipped as unreadable or not configs (each logged).
    pub skipped_configs: usize,
    /// Images whose scan was started.
    pub started: usize,
    /// Images scanned within the last 24 hours.
    pub already_scanned: usize,
    /// Images in continuously scanned registries.
    pub continuous: usize,
    /// Images enhanced scanning scans on push only (only when any).
    #[serde(skip_serializing_if = "is_zero")]
    pub scan_on_push: usize,
    /// Images in repositories no enhanced scanning rule covers, never
    /// scanned (only when any).
    #[serde(skip_serializing_if = "is_zero")]
    pub not_covered: usize,
    /// Images that failed.
    pub failed: usize,
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum StartScanError {
    /// The configs could not be read.
    #[error("cannot read the scan configs: {0}")]
    Store(#[from] StoreError),
    /// Every image failed: nothing could be scanned.
    #[error("nothing could be scanned: all {0} images failed (see the log)")]
    AllFailed(usize),
    /// The work could not be queued.
    #[error("cannot queue the scans: {0}")]
    Queue(#[from] QueueError),
}

/// What a planning invocation returns: what it queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnqueueCounts {
    /// Configs read from the store.
    pub configs: usize,
    /// Objects of the store skipped as unreadable or not configs (each logged).
    pub skipped_configs: usize,
    /// What was queued.
    #[serde(flatten)]
    pub enqueued: Enqueued,
}

/// Plans the scheduled scan and queues it for the workers: each distinct
/// selection resolved (until `deadline`; the rest are queued for the
/// workers to resolve) and one message per digest.
pub async fn enqueue_scans(
    store: &dyn ConfigStore,
    backend: &dyn ScanBackend,
    queue: &dyn WorkQueue,
    options: &ScanOptions,
    deadline: Option<tokio::time::Instant>,
) -> Result<EnqueueCounts, StartScanError> {
    let listing = store.list().await?;
    for skipped in &listing.skipped {
        tracing::warn!(key = %skipped.key, reason = %skipped.reason, "a scan config was skipped");
    }
    let enqueued = enqueue_plan(&listing.items, backend, queue, options, deadline).await?;
    tracing::info!(
        scans = enqueued.scans,
        resolved = enqueued.resolved,
        left_to_resolve = enqueued.resolves,
        "scheduled scan queued"
    );
    Ok(EnqueueCounts {
        configs: listing.items.len(),
        skipped_configs: listing.skipped.len(),
        enqueued,
    })
}

/// Re-scans every config's images and logs one line per image.
///
/// Partial failures are logged and counted, not fatal; the invocation fails
/// only when the store cannot be read or every image failed.
pub async fn start_scans(
    store: &dyn ConfigStore,
    backend: &dyn ScanBackend,
    options: &ScanOptions,
) -> Result<StartScanCounts, StartScanError> {
    let listing = store.list().await?;
    for skipped in &listing.skipped {
        tracing::warn!(key = %skipped.key, reason = %skipped.reason, "a scan config was skipped");
    }
    let configs = listing.items;
    let report = rescan(&configs, backend, options).await;
    log_report(&report);
    if report.failed > 0 && report.failed == report.images.len() {
        return Err(StartScanError::AllFailed(report.failed));
    }
    Ok(StartScanCounts {
        configs: configs.len(),
        skipped_configs: listing.skipped.len(),
        started: report.started,
        already_scanned: report.already_scanned,
        continuous: report.continuous,
        scan_on_push: report.scan_on_push,
        not_covered: report.not_covered,
        failed: report.failed,
    })
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

fn log_report(report: &RescanReport) {
    for image in &report.images {
        let tag = image.tag.as_deref().unwrap_or("*");
        let digest = image.digest.as_deref().unwrap_or("-");
        match image.outcome {
            ScanOutcome::Failed => tracing::warn!(
                config_id = %image.config_id,
                repository = %image.repository,
                tag,
                digest,
                outcome = %image.outcome,
                reason = image.reason.as_deref().unwrap_or(""),
                "image scan failed"
            ),
            ScanOutcome::NotCovered => tracing::warn!(
                config_id = %image.config_id,
                repository = %image.repository,
                tag,
                digest,
                "never scanned: no rule of the registry's enhanced scanning covers the repository"
            ),
            _ => tracing::info!(
                config_id = %image.config_id,
                repository = %image.repository,
                tag,
                digest,
                outcome = %image.outcome,
                "image scan"
            ),
        }
    }
}
