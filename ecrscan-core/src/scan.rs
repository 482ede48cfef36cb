//! The operations: re-scan every config's images, and collect their results.
//!
//! Both work over a list of configs and any [`ScanBackend`]. Each distinct
//! repository selection is resolved once, and each distinct image digest is
//! scanned (or read) once, however many tags or configs point at it. Calls
//! run concurrently up to [`ScanOptions::concurrency`]. One failing image or
//! config never stops the others: its failure is reported in its row.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::backend::{BackendError, DigestScan, Resolution, ScanBackend};
use crate::config::{RepositoryRef, ScanConfig};
use crate::finding::{ImageRef, ImageScanResult, ScanStatus};

/// How an operation talks to the backend.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// How many backend calls may be in flight at once (at least 1).
    pub concurrency: usize,
}

impl ScanOptions {
    /// The default number of concurrent backend calls.
    pub const DEFAULT_CONCURRENCY: usize = 8;
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            concurrency: Self::DEFAULT_CONCURRENCY,
        }
    }
}

/// The outcome of asking for a scan of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanOutcome {
    /// ECR accepted the scan request.
    Started,
    /// The image was scanned in the last 24 hours (ECR's quota); its latest
    /// results stand.
    AlreadyScanned,
    /// The registry scans continuously (enhanced scanning); nothing to start.
    Continuous,
    /// The scan could not be started; see the reason.
    Failed,
}

impl ScanOutcome {
    /// `started`, `already_scanned`, `continuous` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanOutcome::Started => "started",
            ScanOutcome::AlreadyScanned => "already_scanned",
            ScanOutcome::Continuous => "continuous",
            ScanOutcome::Failed => "failed",
        }
    }
}

impl fmt::Display for ScanOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to one image (one tag of one config) in a re-scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageScanReport {
    /// The config that selected the image.
    pub config_id: Uuid,
    /// The repository.
    pub repository: String,
    /// The tag; `None` when the config's repository could not be listed.
    pub tag: Option<String>,
    /// The digest, when the tag was resolved.
    pub digest: Option<String>,
    /// The outcome.
    pub outcome: ScanOutcome,
    /// Why it failed (for `failed`), or `None`.
    pub reason: Option<String>,
}

/// The result of [`rescan`]: one row per image, and counts per outcome.
///
/// The counts are of rows, i.e. of (config, tag) pairs: two tags of one
/// digest are one StartImageScan call but two `started` rows.
///
/// Its JSON is
/// `{"images":[{"config_id","repository","tag","digest","outcome","reason"}],"started":N,"already_scanned":N,"continuous":N,"failed":N}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescanReport {
    /// One row per (config, tag), in config order, then tag order.
    pub images: Vec<ImageScanReport>,
    /// Rows whose scan was started.
    pub started: usize,
    /// Rows already scanned within the quota period.
    pub already_scanned: usize,
    /// Rows in continuously scanned registries.
    pub continuous: usize,
    /// Rows that failed.
    pub failed: usize,
}

impl RescanReport {
    fn from_rows(images: Vec<ImageScanReport>) -> RescanReport {
        let count = |outcome| images.iter().filter(|row| row.outcome == outcome).count();
        RescanReport {
            started: count(ScanOutcome::Started),
            already_scanned: count(ScanOutcome::AlreadyScanned),
            continuous: count(ScanOutcome::Continuous),
            failed: count(ScanOutcome::Failed),
            images,
        }
    }
}

/// Progress of an operation, for progress bars: `done` of `total` backend
/// calls have finished. `total` is known once the configs are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Calls finished.
    pub done: usize,
    /// Calls to make.
    pub total: usize,
}

/// One image of one config in a summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// The config that selected the image.
    pub config_id: Uuid,
    /// The region of the registry.
    pub region: String,
    /// The registry (account ID).
    pub registry: String,
    /// The image's scan result.
    pub result: ImageScanResult,
}

/// The scan results of every image of a set of configs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// One row per (config, tag), in config order, then tag order.
    pub rows: Vec<SummaryRow>,
}

impl Summary {
    /// Whether any image still has a scan to finish.
    pub fn any_pending(&self) -> bool {
        self.rows.iter().any(|row| row.result.status.is_pending())
    }
}

/// Runs `calls` with at most `concurrency` in flight, reporting progress.
async fn run_bounded<K, V, F, Fut>(
    keys: Vec<K>,
    concurrency: usize,
    progress: &(dyn Fn(Progress) + Sync),
    call: F,
) -> HashMap<K, V>
where
    K: Clone + Eq + std::hash::Hash,
    F: Fn(K) -> Fut,
    Fut: Future<Output = V>,
{
    let total = keys.len();
    progress(Progress { done: 0, total });
    let mut results = HashMap::with_capacity(total);
    let mut calls = futures::stream::iter(keys.into_iter().map(|key| {
        let fut = call(key.clone());
        async move { (key, fut.await) }
    }))
    .buffer_unordered(concurrency.max(1));
    while let Some((key, value)) = calls.next().await {
        results.insert(key, value);
        progress(Progress {
            done: results.len(),
            total,
        });
    }
    results
}

type SelectionKey = (RepositoryRef, Vec<String>);
type DigestKey = (RepositoryRef, String);

/// The resolved images of every config: each distinct selection resolved once.
struct Resolved {
    by_selection: HashMap<SelectionKey, Result<Resolution, BackendError>>,
}

impl Resolved {
    async fn of(configs: &[ScanConfig], backend: &dyn ScanBackend, options: &ScanOptions) -> Self {
        let mut keys: Vec<SelectionKey> = configs
            .iter()
            .map(|config| (config.repository_ref(), config.tags.clone()))
            .collect();
        keys.sort();
        keys.dedup();
        let by_selection = run_bounded(keys, options.concurrency, &|_| {}, |key| async move {
            backend.resolve_images(&key.0, &key.1).await
        })
        .await;
        Resolved { by_selection }
    }

    fn of_config(&self, config: &ScanConfig) -> Result<&Resolution, &BackendError> {
        match self
            .by_selection
            .get(&(config.repository_ref(), config.tags.clone()))
        {
            Some(Ok(resolution)) => Ok(resolution),
            Some(Err(err)) => Err(err),
            None => unreachable!("every config's selection was resolved"),
        }
    }

    /// Every distinct digest, sorted.
    fn digests(&self) -> Vec<DigestKey> {
        let mut digests: Vec<DigestKey> = self
            .by_selection
            .iter()
            .filter_map(|(key, resolution)| Some((key, resolution.as_ref().ok()?)))
            .flat_map(|(key, resolution)| {
                resolution
                    .images
                    .iter()
                    .map(|image| (key.0.clone(), image.digest.clone()))
            })
            .collect();
        digests.sort();
        digests.dedup();
        digests
    }
}

/// One row per tag of a config: `(tag, Some(digest))` for resolved tags,
/// `(tag, None)` for missing ones, in the config's tag order (or sorted by
/// tag for every-tagged-image configs).
fn tag_rows(config: &ScanConfig, resolution: &Resolution) -> Vec<(String, Option<String>)> {
    let digest_of: BTreeMap<&str, &str> = resolution
        .images
        .iter()
        .flat_map(|image| {
            image
                .tags
                .iter()
                .map(|tag| (tag.as_str(), image.digest.as_str()))
        })
        .collect();
    if config.all_tags() {
        digest_of
            .into_iter()
            .map(|(tag, digest)| (tag.to_owned(), Some(digest.to_owned())))
            .collect()
    } else {
        config
            .tags
            .iter()
            .map(|tag| {
                (
                    tag.clone(),
                    digest_of.get(tag.as_str()).map(|d| d.to_string()),
                )
            })
            .collect()
    }
}

/// The tags a row stands for when the repository could not be resolved.
fn unresolved_tags(config: &ScanConfig) -> Vec<Option<String>> {
    if config.all_tags() {
        vec![None]
    } else {
        config.tags.iter().cloned().map(Some).collect()
    }
}

/// Starts a scan of every image of every config.
///
/// Each digest is scanned once, however many tags or configs select it; each
/// (config, tag) gets a row with the digest's outcome. Failures are reported
/// in their rows and never stop the others.
pub async fn rescan(
    configs: &[ScanConfig],
    backend: &dyn ScanBackend,
    options: &ScanOptions,
) -> RescanReport {
    rescan_with_progress(configs, backend, options, &|_| {}).await
}

/// [`rescan`], calling `progress` as scan requests finish.
pub async fn rescan_with_progress(
    configs: &[ScanConfig],
    backend: &dyn ScanBackend,
    options: &ScanOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> RescanReport {
    let resolved = Resolved::of(configs, backend, options).await;
    let started = run_bounded(
        resolved.digests(),
        options.concurrency,
        progress,
        |(repository, digest)| async move { backend.start_scan(&repository, &digest).await },
    )
    .await;

    let mut rows = Vec::new();
    for config in configs {
        let row = |tag: Option<String>, digest: Option<String>, outcome, reason| ImageScanReport {
            config_id: config.id,
            repository: config.repository.clone(),
            tag,
            digest,
            outcome,
            reason,
        };
        match resolved.of_config(config) {
            Err(err) => {
                for tag in unresolved_tags(config) {
                    rows.push(row(tag, None, ScanOutcome::Failed, Some(err.to_string())));
                }
            }
            Ok(resolution) => {
                for (tag, digest) in tag_rows(config, resolution) {
                    let Some(digest) = digest else {
                        let reason = format!("tag {tag} not found in {}", config.repository);
                        rows.push(row(Some(tag), None, ScanOutcome::Failed, Some(reason)));
                        continue;
                    };
                    let key = (config.repository_ref(), digest);
                    let (outcome, reason) = match started.get(&key) {
                        Some(Ok(())) => (ScanOutcome::Started, None),
                        Some(Err(BackendError::ScanQuotaExceeded)) => {
                            (ScanOutcome::AlreadyScanned, None)
                        }
                        Some(Err(BackendError::ContinuousScanning)) => {
                            (ScanOutcome::Continuous, None)
                        }
                        Some(Err(err)) => (ScanOutcome::Failed, Some(err.to_string())),
                        None => unreachable!("every resolved digest was scanned"),
                    };
                    rows.push(row(Some(tag), Some(key.1), outcome, reason));
                }
            }
        }
    }
    RescanReport::from_rows(rows)
}

/// Collects the latest scan result of every image of every config.
///
/// Each digest is read once, with all its findings; each (config, tag) gets
/// a row. A missing tag, a missing repository or an image never scanned is a
/// row with that status; an error reading one image is a row with status
/// `FAILED` and the error as its description.
pub async fn collect_summary(
    configs: &[ScanConfig],
    backend: &dyn ScanBackend,
    options: &ScanOptions,
) -> Summary {
    collect_summary_with_progress(configs, backend, options, &|_| {}).await
}

/// [`collect_summary`], calling `progress` as reads finish.
pub async fn collect_summary_with_progress(
    configs: &[ScanConfig],
    backend: &dyn ScanBackend,
    options: &ScanOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Summary {
    let resolved = Resolved::of(configs, backend, options).await;
    let mut scans: HashMap<DigestKey, Result<Arc<DigestScan>, BackendError>> = run_bounded(
        resolved.digests(),
        options.concurrency,
        progress,
        |(repository, digest)| async move {
            backend
                .scan_result(&repository, &digest)
                .await
                .map(Arc::new)
        },
    )
    .await;

    let mut rows = Vec::new();
    // Rows of scanned images get their findings at the end: the last row of
    // a digest takes them, the others (tags sharing it) get copies.
    let mut rows_with_findings: Vec<(usize, DigestKey)> = Vec::new();
    for config in configs {
        let row = |result| SummaryRow {
            config_id: config.id,
            region: config.region.clone(),
            registry: config.registry.clone(),
            result,
        };
        let image = |tag: Option<String>, digest: Option<String>| ImageRef {
            repository: config.repository.clone(),
            tag,
            digest,
        };
        match resolved.of_config(config) {
            Err(err) => {
                let (status, description) = status_of_error(err);
                for tag in unresolved_tags(config) {
                    rows.push(row(ImageScanResult::without_scan(
                        image(tag, None),
                        status,
                        Some(description.clone()),
                    )));
                }
            }
            Ok(resolution) => {
                for (tag, digest) in tag_rows(config, resolution) {
                    let Some(digest) = digest else {
                        rows.push(row(ImageScanResult::without_scan(
                            image(Some(tag), None),
                            ScanStatus::TagNotFound,
                            None,
                        )));
                        continue;
                    };
                    let key = (config.repository_ref(), digest);
                    let result = match scans.get(&key) {
                        Some(Ok(scan)) => {
                            rows_with_findings.push((rows.len(), key.clone()));
                            ImageScanResult {
                                image: image(Some(tag), Some(key.1)),
                                status: scan.status,
                                status_description: scan.status_description.clone(),
                                scan_completed_at: scan.scan_completed_at,
                                vulnerability_source_updated_at: scan
                                    .vulnerability_source_updated_at,
                                severity_counts: scan.severity_counts.clone(),
                                findings: Vec::new(),
                                recorded_at: scan.recorded_at,
                            }
                        }
                        Some(Err(err)) => {
                            let (status, description) = status_of_error(err);
                            ImageScanResult::without_scan(
                                image(Some(tag), Some(key.1)),
                                status,
                                Some(description),
                            )
                        }
                        None => unreachable!("every resolved digest was read"),
                    };
                    rows.push(row(result));
                }
            }
        }
    }
    let mut rows_left: HashMap<&DigestKey, usize> = HashMap::new();
    for (_, key) in &rows_with_findings {
        *rows_left.entry(key).or_default() += 1;
    }
    for (index, key) in &rows_with_findings {
        let left = rows_left.entry(key).or_default();
        *left -= 1;
        let findings = if *left == 0 {
            match scans.remove(key) {
                Some(Ok(scan)) => Arc::try_unwrap(scan)
                    .map_or_else(|shared| shared.findings.clone(), |scan| scan.findings),
                _ => Vec::new(),
            }
        } else {
            match scans.get(key) {
                Some(Ok(scan)) => scan.findings.clone(),
                _ => Vec::new(),
            }
        };
        rows[*index].result.findings = findings;
    }
    Summary { rows }
}

/// The scan results of one config's images (for its findings feed).
pub async fn collect_results(
    config: &ScanConfig,
    backend: &dyn ScanBackend,
    options: &ScanOptions,
) -> Vec<ImageScanResult> {
    collect_summary(std::slice::from_ref(config), backend, options)
        .await
        .rows
        .into_iter()
        .map(|row| row.result)
        .collect()
}

/// The status of an image that could not be read, and a description safe
/// to show to API clients; the full error goes to the log.
fn status_of_error(err: &BackendError) -> (ScanStatus, String) {
    let status = match err {
        BackendError::RepositoryNotFound { .. } => ScanStatus::RepositoryNotFound,
        BackendError::ImageNotFound { .. } => ScanStatus::TagNotFound,
        BackendError::UnsupportedImage { .. } => ScanStatus::UnsupportedImage,
        _ => {
            tracing::info!(error = %err, "cannot read a scan result");
            ScanStatus::Failed
        }
    };
    (status, err.public_message())
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
