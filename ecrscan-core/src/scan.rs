//! The operations: re-scan every config's images, and collect their results.
//!
//! Both work over a list of configs and any [`ScanBackend`]. Each distinct
//! repository selection is resolved once, and each distinct image digest is
//! scanned (or read) once, however many tags or configs point at it. Calls
//! run concurrently up to [`ScanOptions::concurrency`]. One failing image or
//! config never stops the others: its failure is reported in its row.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use std::fmt;
use std::sync::Arc;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::backend::FindingsWanted;
use crate::backend::{BackendError, Resolution, ScanBackend};
use crate::config::{RepositoryRef, ScanConfig};
use crate::finding::{ImageRef, ImageScanResult, LatestScan, ScanStatus};
use crate::select::{ImageSelector, select};
use crate::suppress::{ImageContext, Judged, SuppressionWarning, Suppressions};

/// How an operation talks to the backend.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// How many backend calls may be in flight at once (at least 1).
    pub concurrency: usize,
}

impl ScanOptions {
    /// The default number of concurrent backend calls: enough for a fleet
    /// to run at the speed of its latency (32 calls of 100 ms are 320 a
    /// second), under the adaptive rate of each ECR action.
    pub const DEFAULT_CONCURRENCY: usize = 32;
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
    /// The registry's enhanced scanning scans this repository on push only:
    /// its images are not re-scanned, and nothing can be started.
    ScanOnPush,
    /// No rule of the registry's enhanced scanning covers this repository:
    /// its images are never scanned, and nothing can be started.
    NotCovered,
    /// The scan could not be started; see the reason.
    Failed,
    /// The run's deadline came before the scan was asked for; a later run
    /// (or the queue) takes it.
    NotReached,
}

impl ScanOutcome {
    /// `started`, `already_scanned`, `continuous`, `scan_on_push`,
    /// `not_covered`, `failed` or `not_reached`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanOutcome::Started => "started",
            ScanOutcome::AlreadyScanned => "already_scanned",
            ScanOutcome::Continuous => "continuous",
            ScanOutcome::ScanOnPush => "scan_on_push",
            ScanOutcome::NotCovered => "not_covered",
            ScanOutcome::Failed => "failed",
            ScanOutcome::NotReached => "not_reached",
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
    /// The registry (account ID) of the repository.
    #[serde(default)]
    pub registry: String,
    /// The region of the repository.
    #[serde(default)]
    pub region: String,
    /// The repository (for a registry whose repositories could not be
    /// listed, the config's repository pattern).
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
/// `{"images":[{"config_id","registry","region","repository","tag","digest","outcome","reason"}],"started":N,"already_scanned":N,"continuous":N,"failed":N}`.
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
    /// Rows in repositories enhanced scanning scans on push only (only in
    /// the JSON when there are any).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub scan_on_push: usize,
    /// Rows in repositories enhanced scanning does not cover (only in the
    /// JSON when there are any).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_covered: usize,
    /// Rows that failed.
    pub failed: usize,
    /// Rows not reached before the run's deadline (only in the JSON when
    /// there are any).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_reached: usize,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

impl RescanReport {
    fn from_rows(images: Vec<ImageScanReport>) -> RescanReport {
        let count = |outcome| images.iter().filter(|row| row.outcome == outcome).count();
        RescanReport {
            started: count(ScanOutcome::Started),
            already_scanned: count(ScanOutcome::AlreadyScanned),
            continuous: count(ScanOutcome::Continuous),
            scan_on_push: count(ScanOutcome::ScanOnPush),
            not_covered: count(ScanOutcome::NotCovered),
            failed: count(ScanOutcome::Failed),
            not_reached: count(ScanOutcome::NotReached),
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

/// The scan results of every image of a set of configs, judged by the
/// suppression rules in force.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// One row per (config, tag), in config order, then tag order. Each
    /// row's counts leave out the findings rules cover
    /// ([`ImageScanResult::suppressed_counts`] has those).
    pub rows: Vec<SummaryRow>,
    /// How many findings each rule covered, each image counted once.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rule_matches: BTreeMap<Uuid, u64>,
    /// Rules worth a look: expired, expiring soon, or covering nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<SuppressionWarning>,
}

impl Summary {
    /// Whether any image still has a scan to finish.
    pub fn any_pending(&self) -> bool {
        self.rows
            .iter()
            .any(|row| row.result.scan.status.is_pending())
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

/// A selection resolved once per run however many configs share it: a
/// repository and its exact tags, or no tags for every tagged image (with
/// their details, which patterns and recency clauses then filter).
type SelectionKey = (RepositoryRef, Vec<String>);

/// One unit of scan work: a digest of a repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PlannedImage {
    /// The repository.
    pub repository: RepositoryRef,
    /// The digest.
    pub digest: String,
}

/// A tag a config selected, and the digest it resolved to (`None`: the tag
/// does not exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedTag {
    /// The tag.
    pub tag: String,
    /// Its digest.
    pub digest: Option<String>,
}

/// What one config selected in one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "selection", rename_all = "snake_case")]
pub enum Selection {
    /// The repository was resolved: one entry per tag, in the config's tag
    /// order for a list of tags, else sorted by tag.
    Resolved {
        /// The tags.
        tags: Vec<PlannedTag>,
    },
    /// The repository (or the account's repositories, or the organization's
    /// accounts) could not be listed.
    Failed {
        /// Why.
        error: BackendError,
        /// The tags the config names (`None` for every tagged image, or a
        /// selection by patterns or recency).
        tags: Vec<Option<String>>,
    },
    /// The plan's deadline came before it was resolved ([`plan_until`]); a
    /// later run, or a worker, resolves it.
    NotReached {
        /// The tags the config names (`None` for every tagged image, or a
        /// selection by patterns or recency).
        tags: Vec<Option<String>>,
    },
}

/// One repository of a config in a [`ScanPlan`]. For a failure before any
/// repository was known — the organization's accounts, or an account's
/// repositories, could not be listed — `repository` names the account and
/// the config's repository pattern, not a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryPlan {
    /// The repository.
    pub repository: RepositoryRef,
    /// What the config selected in it.
    pub selection: Selection,
}

/// One config in a [`ScanPlan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigPlan {
    /// The config.
    pub config_id: Uuid,
    /// The repositories it selects, each with its selection, sorted by
    /// account, region and repository.
    pub repositories: Vec<RepositoryPlan>,
}

/// The resolved, de-duplicated work of a set of configs: every digest once,
/// and each config's repositories and tags (or their resolution failures),
/// so that the work can be done here ([`execute`]) or handed out in slices,
/// and the per-image report rebuilt from the plan ([`ScanPlan::report`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanPlan {
    /// One entry per config, in the order given.
    pub configs: Vec<ConfigPlan>,
    /// Every distinct digest, sorted.
    pub images: Vec<PlannedImage>,
}

/// Resolves every config's images: each organization's accounts once, each
/// registry's repositories once, and each distinct selection once,
/// concurrently up to [`ScanOptions::concurrency`]; what fails is recorded
/// in its configs' plans, not returned as an error.
pub async fn plan(
    configs: &[ScanConfig],
    backend: &dyn ScanBackend,
    options: &ScanOptions,
) -> ScanPlan {
    plan_until(configs, backend, options, None).await
}

/// A repository a config selects, or where its listing failed (`None`: not
/// reached before the deadline), before any repository was known.
type Target = Result<RepositoryRef, (RepositoryRef, Option<BackendError>)>;

/// Where each config's repositories are, before their images are resolved:
/// the accounts of organizations and the repositories of patterns, listed
/// once each.
#[derive(Debug, Default)]
struct Expansion {
    /// Per config: its targets.
    configs: Vec<Vec<Target>>,
}

impl Expansion {
    /// Every distinct repository the configs select.
    fn repositories(&self) -> Vec<RepositoryRef> {
        let mut repositories: Vec<RepositoryRef> = self
            .configs
            .iter()
            .flatten()
            .filter_map(|target| target.as_ref().ok().cloned())
            .collect();
        repositories.sort();
        repositories.dedup();
        repositories
    }
}

fn reached(deadline: Option<tokio::time::Instant>) -> bool {
    deadline.is_none_or(|deadline| tokio::time::Instant::now() < deadline)
}

/// The repositories each config selects: an organization's active accounts
/// (not excluded), and a pattern's matching repositories (not excluded) in
/// each account, listed once each however many configs share them. A
/// failure (or the deadline, `None`) is kept where it happened.
async fn expand(
    configs: &[ScanConfig],
    backend: &dyn ScanBackend,
    options: &ScanOptions,
    deadline: Option<tokio::time::Instant>,
) -> Expansion {
    let accounts = if configs.iter().any(ScanConfig::is_organization) {
        if reached(deadline) {
            Some(backend.list_accounts().await)
        } else {
            None
        }
    } else {
        Some(Ok(Vec::new()))
    };
    // Each config's accounts, or why it has none.
    let config_accounts: Vec<Result<Vec<String>, Option<BackendError>>> = configs
        .iter()
        .map(|config| {
            if !config.is_organization() {
                return Ok(vec![config.registry.clone()]);
            }
            match &accounts {
                None => Err(None),
                Some(Err(err)) => Err(Some(err.clone())),
                Some(Ok(accounts)) => Ok(accounts
                    .iter()
                    .filter(|account| account.active && config.takes_account(&account.id))
                    .map(|account| account.id.clone())
                    .collect()),
            }
        })
        .collect();
    let mut listings: Vec<(String, String)> = configs
        .iter()
        .zip(&config_accounts)
        .filter(|(config, _)| config.repository_pattern().is_some())
        .flat_map(|(config, accounts)| {
            accounts
                .iter()
                .flatten()
                .map(|account| (account.clone(), config.region.clone()))
        })
        .collect();
    listings.sort();
    listings.dedup();
    let listed = run_bounded(
        listings,
        options.concurrency,
        &|_| {},
        |(account, region)| async move {
            if !reached(deadline) {
                return None;
            }
            Some(backend.list_repositories(&account, &region).await)
        },
    )
    .await;
    let place = |config: &ScanConfig, account: &str| RepositoryRef {
        region: config.region.clone(),
        registry: account.to_owned(),
        repository: config.repository.clone(),
    };
    let configs = configs
        .iter()
        .zip(config_accounts)
        .map(|(config, accounts)| {
            let accounts = match accounts {
                Ok(accounts) => accounts,
                Err(error) => return vec![Err((place(config, &config.registry), error))],
            };
            let mut targets = Vec::new();
            for account in accounts {
                if config.repository_pattern().is_none() {
                    targets.push(Ok(place(config, &account)));
                    continue;
                }
                match listed.get(&(account.clone(), config.region.clone())) {
                    Some(Some(Ok(names))) => targets.extend(
                        names
                            .iter()
                            .filter(|name| config.takes_repository(name))
                            .filter_map(|name| {
                                RepositoryRef::new(&config.region, &account, name.as_str()).ok()
                            })
                            .map(Ok),
                    ),
                    Some(Some(Err(err))) => {
                        targets.push(Err((place(config, &account), Some(err.clone()))))
                    }
                    _ => targets.push(Err((place(config, &account), None))),
                }
            }
            targets.sort_by(|a, b| {
                let key = |t: &Result<RepositoryRef, (RepositoryRef, Option<BackendError>)>| match t
                {
                    Ok(r) | Err((r, _)) => {
                        (r.registry.clone(), r.region.clone(), r.repository.clone())
                    }
                };
                key(a).cmp(&key(b))
            });
            targets
        })
        .collect();
    Expansion { configs }
}

/// The selection key of `config` in `repository`: its exact tags, or no
/// tags (every tagged image, with details) when patterns or recency ask
/// for a listing.
fn selection_key(config: &ScanConfig, repository: &RepositoryRef) -> SelectionKey {
    if ImageSelector::of(config).needs_listing() {
        (repository.clone(), Vec::new())
    } else {
        (repository.clone(), config.tags.clone())
    }
}

/// [`plan`], listing and resolving nothing at or after `deadline`: what
/// was not reached is [`Selection::NotReached`] in its configs' plans.
pub async fn plan_until(
    configs: &[ScanConfig],
    backend: &dyn ScanBackend,
    options: &ScanOptions,
    deadline: Option<tokio::time::Instant>,
) -> ScanPlan {
    let expansion = expand(configs, backend, options, deadline).await;
    resolve(configs, &expansion, backend, options, deadline, Utc::now()).await
}

/// Resolves the selections of an [`Expansion`] and builds the plan, judging
/// recency at `now`.
async fn resolve(
    configs: &[ScanConfig],
    expansion: &Expansion,
    backend: &dyn ScanBackend,
    options: &ScanOptions,
    deadline: Option<tokio::time::Instant>,
    now: DateTime<Utc>,
) -> ScanPlan {
    let mut keys: Vec<SelectionKey> = configs
        .iter()
        .zip(&expansion.configs)
        .flat_map(|(config, targets)| {
            targets
                .iter()
                .filter_map(|target| target.as_ref().ok())
                .map(move |repository| selection_key(config, repository))
        })
        .collect();
    keys.sort();
    keys.dedup();
    let resolved = run_bounded(keys, options.concurrency, &|_| {}, |key| async move {
        if !reached(deadline) {
            return None;
        }
        Some(backend.resolve_images(&key.0, &key.1).await)
    })
    .await;
    let mut images = Vec::new();
    let configs = configs
        .iter()
        .zip(&expansion.configs)
        .map(|(config, targets)| {
            let repositories = targets
                .iter()
                .map(|target| match target {
                    Err((repository, error)) => RepositoryPlan {
                        repository: repository.clone(),
                        selection: match error {
                            Some(error) => Selection::Failed {
                                error: error.clone(),
                                tags: unresolved_tags(config),
                            },
                            None => Selection::NotReached {
                                tags: unresolved_tags(config),
                            },
                        },
                    },
                    Ok(repository) => {
                        let selection = match resolved.get(&selection_key(config, repository)) {
                            Some(Some(Ok(resolution))) => {
                                let tags = selected_tags(config, resolution, now);
                                images.extend(tags.iter().filter_map(|planned| {
                                    planned.digest.as_ref().map(|digest| PlannedImage {
                                        repository: repository.clone(),
                                        digest: digest.clone(),
                                    })
                                }));
                                Selection::Resolved { tags }
                            }
                            Some(Some(Err(error))) => Selection::Failed {
                                error: error.clone(),
                                tags: unresolved_tags(config),
                            },
                            _ => Selection::NotReached {
                                tags: unresolved_tags(config),
                            },
                        };
                        RepositoryPlan {
                            repository: repository.clone(),
                            selection,
                        }
                    }
                })
                .collect();
            ConfigPlan {
                config_id: config.id,
                repositories,
            }
        })
        .collect();
    images.sort();
    images.dedup();
    ScanPlan { configs, images }
}

/// The tags `config` selects of `resolution` at `now`: in the config's
/// order for a list of exact tags (a missing one with no digest), else
/// sorted by tag. Archived images are never selected.
fn selected_tags(
    config: &ScanConfig,
    resolution: &Resolution,
    now: DateTime<Utc>,
) -> Vec<PlannedTag> {
    let selector = ImageSelector::of(config);
    let selected = select(&resolution.images, &selector, now);
    let digest_of: BTreeMap<&str, &str> = selected
        .chosen
        .iter()
        .flat_map(|chosen| {
            chosen
                .image
                .tags
                .iter()
                .map(|tag| (tag.as_str(), chosen.image.digest.as_str()))
        })
        .collect();
    if selector.needs_listing() {
        let mut tags: Vec<PlannedTag> = digest_of
            .iter()
            .map(|(tag, digest)| PlannedTag {
                tag: (*tag).to_owned(),
                digest: Some((*digest).to_owned()),
            })
            .chain(selected.missing_tags.iter().map(|tag| PlannedTag {
                tag: tag.clone(),
                digest: None,
            }))
            .collect();
        tags.sort_by(|a, b| a.tag.cmp(&b.tag));
        tags
    } else {
        config
            .tags
            .iter()
            .map(|tag| PlannedTag {
                tag: tag.clone(),
                digest: digest_of.get(tag.as_str()).map(|d| (*d).to_owned()),
            })
            .collect()
    }
}

/// What starting the scan of one image gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageOutcome {
    /// The outcome.
    pub outcome: ScanOutcome,
    /// Why it failed (for `failed`), or `None`.
    pub reason: Option<String>,
}

/// What [`execute`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// The images whose scan was asked for, and what came of it, in the
    /// order they finished.
    pub done: Vec<(PlannedImage, ImageOutcome)>,
    /// The images not started because the deadline came first, in plan order.
    pub not_reached: Vec<PlannedImage>,
}

impl Execution {
    /// The outcome of one image: done, or not reached.
    pub fn outcome_of(&self, image: &PlannedImage) -> Option<ImageOutcome> {
        self.done
            .iter()
            .find(|(done, _)| done == image)
            .map(|(_, outcome)| outcome.clone())
            .or_else(|| {
                self.not_reached.contains(image).then(|| ImageOutcome {
                    outcome: ScanOutcome::NotReached,
                    reason: Some("the run's deadline came before this image".into()),
                })
            })
    }
}

fn image_outcome(result: Result<(), BackendError>) -> ImageOutcome {
    let (outcome, reason) = match result {
        Ok(()) => (ScanOutcome::Started, None),
        Err(BackendError::ScanQuotaExceeded | BackendError::ScanQuotaFreesAt { .. }) => {
            (ScanOutcome::AlreadyScanned, None)
        }
        Err(BackendError::ContinuousScanning) => (ScanOutcome::Continuous, None),
        Err(BackendError::ScanOnPushOnly) => (ScanOutcome::ScanOnPush, None),
        Err(err @ BackendError::NotCovered) => (ScanOutcome::NotCovered, Some(err.to_string())),
        Err(err) => (ScanOutcome::Failed, Some(err.to_string())),
    };
    ImageOutcome { outcome, reason }
}

/// Starts a scan of each image, concurrently up to
/// [`ScanOptions::concurrency`], calling `progress` as requests finish. No
/// new scan is started at or after `deadline`: the images left are
/// [`Execution::not_reached`]. Calls already made finish (each is bounded by
/// the backend's time limits).
pub async fn execute(
    images: &[PlannedImage],
    backend: &dyn ScanBackend,
    options: &ScanOptions,
    deadline: Option<tokio::time::Instant>,
    progress: &(dyn Fn(Progress) + Sync),
) -> Execution {
    let total = images.len();
    progress(Progress { done: 0, total });
    let mut calls = futures::stream::iter(images.iter().map(|image| async move {
        if deadline.is_some_and(|deadline| tokio::time::Instant::now() >= deadline) {
            return (image, None);
        }
        let result = backend.start_scan(&image.repository, &image.digest).await;
        (image, Some(image_outcome(result)))
    }))
    .buffer_unordered(options.concurrency.max(1));
    let mut execution = Execution::default();
    let mut finished = 0;
    while let Some((image, outcome)) = calls.next().await {
        finished += 1;
        match outcome {
            Some(outcome) => execution.done.push((image.clone(), outcome)),
            None => execution.not_reached.push(image.clone()),
        }
        progress(Progress {
            done: finished,
            total,
        });
    }
    let order: HashMap<&PlannedImage, usize> = images
        .iter()
        .enumerate()
        .map(|(i, image)| (image, i))
        .collect();
    execution
        .not_reached
        .sort_by_key(|image| order.get(image).copied().unwrap_or(usize::MAX));
    execution
}

impl ScanPlan {
    /// The per-(config, repository, tag) report of an execution of this
    /// plan (or of several executions of its slices, merged): each row with
    /// its digest's outcome.
    pub fn report(&self, execution: &Execution) -> RescanReport {
        let outcomes: HashMap<&PlannedImage, &ImageOutcome> = execution
            .done
            .iter()
            .map(|(image, outcome)| (image, outcome))
            .collect();
        let mut rows = Vec::new();
        for config in &self.configs {
            for planned in &config.repositories {
                let repository = &planned.repository;
                let row = |tag: Option<String>, digest: Option<String>, outcome, reason| {
                    ImageScanReport {
                        config_id: config.config_id,
                        registry: repository.registry.clone(),
                        region: repository.region.clone(),
                        repository: repository.repository.clone(),
                        tag,
                        digest,
                        outcome,
                        reason,
                    }
                };
                match &planned.selection {
                    Selection::Failed { error, tags } => {
                        for tag in tags {
                            rows.push(row(
                                tag.clone(),
                                None,
                                ScanOutcome::Failed,
                                Some(error.to_string()),
                            ));
                        }
                    }
                    Selection::NotReached { tags } => {
                        for tag in tags {
                            rows.push(row(
                                tag.clone(),
                                None,
                                ScanOutcome::NotReached,
                                Some("the run's deadline came before this repository".into()),
                            ));
                        }
                    }
                    Selection::Resolved { tags } => {
                        for planned_tag in tags {
                            let Some(digest) = &planned_tag.digest else {
                                let reason = format!(
                                    "tag {} not found in {}",
                                    planned_tag.tag, repository.repository
                                );
                                rows.push(row(
                                    Some(planned_tag.tag.clone()),
                                    None,
                                    ScanOutcome::Failed,
                                    Some(reason),
                                ));
                                continue;
                            };
                            let image = PlannedImage {
                                repository: repository.clone(),
                                digest: digest.clone(),
                            };
                            let outcome = match outcomes.get(&image) {
                                Some(outcome) => (*outcome).clone(),
                                None => ImageOutcome {
                                    outcome: ScanOutcome::NotReached,
                                    reason: Some("not started in this run".into()),
                                },
                            };
                            rows.push(row(
                                Some(planned_tag.tag.clone()),
                                Some(digest.clone()),
                                outcome.outcome,
                                outcome.reason,
                            ));
                        }
                    }
                }
            }
        }
        RescanReport::from_rows(rows)
    }
}

/// The tags a row stands for when the repository could not be resolved.
fn unresolved_tags(config: &ScanConfig) -> Vec<Option<String>> {
    if ImageSelector::of(config).needs_listing() {
        vec![None]
    } else {
        config.tags.iter().cloned().map(Some).collect()
    }
}

/// Starts a scan of every image of every config: [`plan`], then
/// [`execute`] without a deadline, then [`ScanPlan::report`].
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
    let plan = plan(configs, backend, options).await;
    let execution = execute(&plan.images, backend, options, None, progress).await;
    plan.report(&execution)
}

/// Collects the latest scan result of every image of every config: status,
/// times and counts per severity, without the finding lists.
///
/// Each digest is read once, from the backend's
/// [`summary_view`](ScanBackend::summary_view) when it has one (stored
/// rollups: one read per repository); each (config, tag) gets a row. A missing tag, a missing repository or an image never scanned is a
/// row with that status; an error reading one image is a row with status
/// `FAILED` and the error as its description.
pub async fn collect_summary(
    configs: &[ScanConfig],
    backend: &dyn ScanBackend,
    options: &ScanOptions,
    suppressions: &Suppressions,
) -> Summary {
    collect_summary_with_progress(configs, backend, options, suppressions, &|_| {}).await
}

/// [`collect_summary`], calling `progress` as reads finish.
pub async fn collect_summary_with_progress(
    configs: &[ScanConfig],
    backend: &dyn ScanBackend,
    options: &ScanOptions,
    suppressions: &Suppressions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Summary {
    // Accounts and repositories are listed through the backend (recorded
    // listings while fresh), then read through its summary view.
    let expansion = expand(configs, backend, options, None).await;
    let wanted = FindingsWanted::of(suppressions.vulnerabilities());
    let view = backend
        .summary_view(&expansion.repositories(), &wanted)
        .await;
    let backend = view.as_deref().unwrap_or(backend);
    let plan = resolve(configs, &expansion, backend, options, None, Utc::now()).await;
    let mut summary = collect_rows(
        configs,
        &plan,
        backend,
        options,
        progress,
        Findings::Dropped(wanted),
        suppressions,
    )
    .await;
    summary.warnings = suppressions.warnings(&summary.rule_matches);
    summary
}

/// Whether rows keep their finding lists: all of them (for feeds), or only
/// the counts, judging the wanted findings.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Findings {
    /// Every finding; suppressed ones marked and kept (`true`) or left out.
    Kept { suppressed_shown: bool },
    /// None: the wanted ones are judged, then dropped.
    Dropped(FindingsWanted),
}

/// How a feed shows the findings suppression rules cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SuppressedFindings {
    /// Left out (the default).
    #[default]
    Hidden,
    /// Shown, each marked with its rule.
    Shown,
}

/// The rows of `configs`, read from `backend`.
async fn collect_rows(
    configs: &[ScanConfig],
    plan: &ScanPlan,
    backend: &dyn ScanBackend,
    options: &ScanOptions,
    progress: &(dyn Fn(Progress) + Sync),
    findings: Findings,
    suppressions: &Suppressions,
) -> Summary {
    // A rule's tag pattern judges an image by every tag the plan knows it
    // by (without rules, nothing to judge).
    let mut tags_of: HashMap<(&RepositoryRef, &str), Vec<String>> = HashMap::new();
    for planned in plan
        .configs
        .iter()
        .filter(|_| !suppressions.is_empty())
        .flat_map(|config| &config.repositories)
    {
        if let Selection::Resolved { tags } = &planned.selection {
            for PlannedTag { tag, digest } in tags {
                if let Some(digest) = digest {
                    tags_of
                        .entry((&planned.repository, digest.as_str()))
                        .or_default()
                        .push(tag.clone());
                }
            }
        }
    }
    for tags in tags_of.values_mut() {
        tags.sort();
        tags.dedup();
    }
    let no_tags: Vec<String> = Vec::new();
    let findings = &findings;
    let tags_of = &tags_of;
    let no_tags = &no_tags;
    let mut scans: HashMap<&PlannedImage, Result<(Arc<LatestScan>, Judged), BackendError>> =
        run_bounded(
            plan.images.iter().collect(),
            options.concurrency,
            progress,
            |image: &PlannedImage| async move {
                let mut latest = backend
                    .scan_result(&image.repository, &image.digest)
                    .await?;
                let context = ImageContext {
                    repository: &image.repository,
                    digest: &image.digest,
                    tags: tags_of
                        .get(&(&image.repository, image.digest.as_str()))
                        .unwrap_or(no_tags),
                };
                let judged = match findings {
                    Findings::Kept { suppressed_shown } => {
                        suppressions.judge(&context, &mut latest.scan.findings, *suppressed_shown)
                    }
                    Findings::Dropped(wanted) => {
                        wanted.keep_wanted(&mut latest.scan.findings);
                        let judged = suppressions.judge(&context, &mut latest.scan.findings, false);
                        latest.scan.findings = Vec::new();
                        judged
                    }
                };
                if latest.scan.status.has_findings() && !judged.counts.is_empty() {
                    latest.scan.severity_counts =
                        latest.scan.severity_counts.without(&judged.counts);
                }
                Ok((Arc::new(latest), judged))
            },
        )
        .await;
    let mut rule_matches: BTreeMap<uuid::Uuid, u64> = BTreeMap::new();
    for (_, judged) in scans.values().flatten() {
        for (rule, count) in &judged.by_rule {
            *rule_matches.entry(*rule).or_default() += count;
        }
    }

    // Rows find their digest's result by reference: no key is built per row.
    let planned_images: HashMap<(&RepositoryRef, &str), &PlannedImage> = plan
        .images
        .iter()
        .map(|image| ((&image.repository, image.digest.as_str()), image))
        .collect();
    let mut rows = Vec::with_capacity(plan.images.len());
    // Rows of scanned images get their findings at the end: the last row of
    // a digest takes them, the others (tags sharing it) get copies.
    let mut rows_with_findings: Vec<(usize, &PlannedImage)> = Vec::new();
    for (config, config_plan) in configs.iter().zip(&plan.configs) {
        for planned in &config_plan.repositories {
            let repository = &planned.repository;
            let row = |result| SummaryRow {
                config_id: config.id,
                region: repository.region.clone(),
                registry: repository.registry.clone(),
                result,
            };
            let image = |tag: Option<String>, digest: Option<String>| ImageRef {
                registry: Some(repository.registry.clone()),
                region: Some(repository.region.clone()),
                repository: repository.repository.clone(),
                tag,
                digest,
            };
            match &planned.selection {
                Selection::Failed { error, tags } => {
                    let (status, description) = status_of_error(error);
                    for tag in tags {
                        rows.push(row(ImageScanResult::without_scan(
                            image(tag.clone(), None),
                            status,
                            Some(description.clone()),
                        )));
                    }
                }
                // Summaries plan without a deadline; kept for completeness.
                Selection::NotReached { tags } => {
                    for tag in tags {
                        rows.push(row(ImageScanResult::without_scan(
                            image(tag.clone(), None),
                            ScanStatus::Failed,
                            Some("not resolved before the deadline".into()),
                        )));
                    }
                }
                Selection::Resolved { tags } => {
                    for PlannedTag { tag, digest } in tags {
                        let Some(digest) = digest else {
                            rows.push(row(ImageScanResult::without_scan(
                                image(Some(tag.clone()), None),
                                ScanStatus::TagNotFound,
                                None,
                            )));
                            continue;
                        };
                        let key = planned_images.get(&(repository, digest.as_str())).copied();
                        let result = match key.and_then(|key| scans.get(key)) {
                            Some(Ok((latest, judged))) => {
                                if let (Findings::Kept { .. }, Some(key)) = (findings, key) {
                                    rows_with_findings.push((rows.len(), key));
                                }
                                ImageScanResult {
                                    image: image(Some(tag.clone()), Some(digest.clone())),
                                    scan: latest.scan.without_finding_list(),
                                    origin: latest.origin,
                                    findings_changed_at: latest.findings_changed_at,
                                    suppressed_counts: judged.counts.clone(),
                                }
                            }
                            Some(Err(err)) => {
                                let (status, description) = status_of_error(err);
                                ImageScanResult::without_scan(
                                    image(Some(tag.clone()), Some(digest.clone())),
                                    status,
                                    Some(description),
                                )
                            }
                            None => ImageScanResult::without_scan(
                                image(Some(tag.clone()), Some(digest.clone())),
                                ScanStatus::Failed,
                                Some("not read".into()),
                            ),
                        };
                        rows.push(row(result));
                    }
                }
            }
        }
    }
    if let Findings::Dropped(_) = findings {
        return Summary {
            rows,
            rule_matches,
            warnings: Vec::new(),
        };
    }
    let mut rows_left: HashMap<&PlannedImage, usize> = HashMap::new();
    for (_, key) in &rows_with_findings {
        *rows_left.entry(*key).or_default() += 1;
    }
    for (index, key) in &rows_with_findings {
        let left = rows_left.entry(*key).or_default();
        *left -= 1;
        let findings = if *left == 0 {
            match scans.remove(key) {
                Some(Ok((latest, _))) => Arc::try_unwrap(latest).map_or_else(
                    |shared| shared.scan.findings.clone(),
                    |latest| latest.scan.findings,
                ),
                _ => Vec::new(),
            }
        } else {
            match scans.get(key) {
                Some(Ok((latest, _))) => latest.scan.findings.clone(),
                _ => Vec::new(),
            }
        };
        rows[*index].result.scan.findings = findings;
    }
    Summary {
        rows,
        rule_matches,
        warnings: Vec::new(),
    }
}

/// The scan results of one config's images, with every finding (for its
/// findings feed) but those suppression rules cover, which are left out or,
/// with [`SuppressedFindings::Shown`], marked with their rule.
pub async fn collect_results(
    config: &ScanConfig,
    backend: &dyn ScanBackend,
    options: &ScanOptions,
    suppressions: &Suppressions,
    suppressed: SuppressedFindings,
) -> Vec<ImageScanResult> {
    let configs = std::slice::from_ref(config);
    let plan = plan(configs, backend, options).await;
    collect_rows(
        configs,
        &plan,
        backend,
        options,
        &|_| {},
        Findings::Kept {
            suppressed_shown: suppressed == SuppressedFindings::Shown,
        },
        suppressions,
    )
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
