//! The record step: every writer — the scheduled run, the event recorder,
//! the API and the CLI — records what ECR answered through a [`Recorder`],
//! so results are kept in order and with their history.
//!
//! - [`Recorder::record_scan`] records a digest's result and returns what it
//!   replaced: the previous complete result, which changes are computed
//!   against. A result whose scan finished earlier than the recorded one
//!   never replaces it, whatever the order of the writes; scans still to
//!   finish are not recorded. A bounded history of complete results is
//!   kept ([`RecordOptions::history`]).
//! - [`Recorder::record_started`] notes that a scan was started, without
//!   touching the last complete result; until a newer result is read, that
//!   digest is read from ECR again.
//! - [`Recorder::record_resolution`] records what a selection of tags
//!   resolved to and where each tag points, and returns the tags that moved
//!   to another digest, with the digest they left.
//!
//! Writes are compare-and-swap on the store ([`PutMode::Update`]), retried
//! when another writer got there first, so concurrent writers lose nothing.
//!
//! [`RecordingBackend`] puts the record step in front of a live
//! [`ScanBackend`]: it records what passes through it and, when asked to,
//! serves recorded results that are still fresh.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;

use crate::backend::{Account, BackendError, FindingsWanted, Resolution, ScanBackend};
use crate::changes::{Change, ChangeKind};
use crate::config::RepositoryRef;
use crate::finding::{DigestScan, Finding, FindingKey, LatestScan, Origin};
use crate::notify::ChangeOutbox;
use crate::records::{
    Applied, DEFAULT_HISTORY, DigestRecord, FindingIndex, IndexedFinding, RecordedList,
    RecordedResolution, RecordedScan, Rollup, TagMove, TagRecord,
};
use crate::rollups::{RollupUpdate, RollupWriter, back_off};
use crate::store::keys::selection_name;
use crate::store::{PutMode, RecordKind, ResultStore, StoreError, SuppressionStore};
use crate::suppress::{ImageContext, Suppressions};

/// How old a record may be and still be served: 24 hours.
pub const DEFAULT_MAX_AGE: Duration = Duration::hours(24);

/// How many times a conditional write is tried when other writers keep
/// changing the record in between; attempts after the first wait a random
/// time of up to 2, 4, … 1,024 ms, so racing writers spread out.
const MAX_WRITE_ATTEMPTS: u32 = 32;

/// Settings of the record step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordOptions {
    /// How many complete results of a digest are kept, the latest included
    /// (at least 1; default [`DEFAULT_HISTORY`], the latest and the one
    /// before it).
    pub history: usize,
    /// How old a recorded result may be and still be served instead of
    /// asking ECR (default [`DEFAULT_MAX_AGE`]).
    pub max_age: Duration,
}

/// The most complete results of a digest a store can be asked to keep.
pub const MAX_HISTORY: usize = 100;

impl RecordOptions {
    /// The options the environment sets: `ECRSCAN_RESULT_HISTORY`, how many
    /// complete results of each digest are kept (1 to [`MAX_HISTORY`],
    /// default [`DEFAULT_HISTORY`]). A value that is set but invalid is an
    /// error, never silently the default.
    pub fn from_env() -> Result<RecordOptions, crate::settings::InvalidSetting> {
        let mut options = RecordOptions::default();
        if let Some(history) = crate::settings::parse_var(
            "ECRSCAN_RESULT_HISTORY",
            &format!("a whole number from 1 to {MAX_HISTORY}"),
            |value| {
                value
                    .parse::<usize>()
                    .ok()
                    .filter(|history| (1..=MAX_HISTORY).contains(history))
            },
        )? {
            options.history = history;
        }
        Ok(options)
    }
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions {
            history: DEFAULT_HISTORY,
            max_age: DEFAULT_MAX_AGE,
        }
    }
}

/// What recording one result did.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// Whether the result was recorded, confirmed, older than the recorded
    /// one, or not finished; for a recorded complete result, the previous
    /// complete result it is compared with.
    pub applied: Applied,
    /// The digest's latest result as the store holds it now.
    pub latest: Option<RecordedScan>,
    /// The changes the result made (a baseline, the findings that changed,
    /// tags that moved to this digest), each stored once under `changes/`.
    pub changes: Vec<Change>,
    /// When the digest's findings last changed, as now recorded.
    pub findings_changed_at: Option<DateTime<Utc>>,
}

/// The findings of `scan` that `was_suppressed` lists and `covered` (what
/// rules cover now) does not: they count again.
fn resurfaced(
    scan: &DigestScan,
    was_suppressed: &[FindingKey],
    covered: &[FindingKey],
) -> Vec<Finding> {
    if was_suppressed.is_empty() {
        return Vec::new();
    }
    let was_suppressed: std::collections::BTreeSet<&FindingKey> = was_suppressed.iter().collect();
    let covered: std::collections::BTreeSet<&FindingKey> = covered.iter().collect();
    let mut resurfaced: Vec<Finding> = scan
        .findings
        .iter()
        .filter(|finding| {
            let key = finding.key();
            was_suppressed.contains(&key) && !covered.contains(&key)
        })
        .cloned()
        .collect();
    resurfaced.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.key().cmp(&b.key()))
    });
    resurfaced.dedup_by_key(|finding| finding.key());
    resurfaced
}

/// Where the record step reads the suppression rules it judges changes by.
#[async_trait::async_trait]
pub trait SuppressionSource: Send + Sync {
    /// The rules at `now` (expired ones only kept, not applied).
    async fn rules_at(&self, now: DateTime<Utc>) -> Result<Suppressions, StoreError>;
}

/// A [`SuppressionStore`]'s rules, listed at most once a minute: a
/// recording of many images reads them once.
pub struct CachedSuppressions {
    store: Arc<dyn SuppressionStore>,
    ttl: std::time::Duration,
    cached: tokio::sync::Mutex<Option<(tokio::time::Instant, Vec<crate::suppress::Suppression>)>>,
}

impl CachedSuppressions {
    /// The rules of `store`, reused for a minute.
    pub fn new(store: Arc<dyn SuppressionStore>) -> CachedSuppressions {
        CachedSuppressions {
            store,
            ttl: std::time::Duration::from_secs(60),
            cached: tokio::sync::Mutex::new(None),
        }
    }
}

#[async_trait::async_trait]
impl SuppressionSource for CachedSuppressions {
    async fn rules_at(&self, now: DateTime<Utc>) -> Result<Suppressions, StoreError> {
        let mut cached = self.cached.lock().await;
        if let Some((read_at, rules)) = cached.as_ref()
            && read_at.elapsed() < self.ttl
        {
            return Ok(Suppressions::active_at(rules.iter().cloned(), now));
        }
        let rules = self.store.list_suppressions().await?.items;
        *cached = Some((tokio::time::Instant::now(), rules.clone()));
        Ok(Suppressions::active_at(rules, now))
    }
}

/// The record step over a [`ResultStore`].
#[derive(Clone)]
pub struct Recorder {
    store: Arc<dyn ResultStore>,
    options: RecordOptions,
    outbox: Option<Arc<dyn ChangeOutbox>>,
    suppressions: Option<Arc<dyn SuppressionSource>>,
    rollups: Arc<RollupWriter>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn too_contended(repository: &RepositoryRef, kind: RecordKind) -> StoreError {
    StoreError::Conflict {
        store: format!("{kind} of {repository}"),
        key: format!("still changing after {MAX_WRITE_ATTEMPTS} attempts"),
    }
}

impl Recorder {
    /// Records into `store` with the default options.
    pub fn new(store: Arc<dyn ResultStore>) -> Recorder {
        Recorder::with_options(store, RecordOptions::default())
    }

    /// Records into `store` with `options`.
    pub fn with_options(store: Arc<dyn ResultStore>, options: RecordOptions) -> Recorder {
        Recorder {
            rollups: Arc::new(RollupWriter::new(Arc::clone(&store))),
            store,
            options,
            outbox: None,
            suppressions: None,
        }
    }

    /// Judges every change by the rules of `suppressions`: covered new
    /// and raised findings are set aside, never notified; findings whose
    /// rule is gone are listed as resurfaced.
    pub fn with_suppressions(mut self, suppressions: Arc<dyn SuppressionSource>) -> Recorder {
        self.suppressions = Some(suppressions);
        self
    }

    /// Queues every change for delivery in `outbox` before storing it, so
    /// no change is stored without its deliveries.
    pub fn with_outbox(mut self, outbox: Arc<dyn ChangeOutbox>) -> Recorder {
        self.outbox = Some(outbox);
        self
    }

    /// Queues `changes` in the outbox, then stores each once.
    async fn store_changes(
        &self,
        changes: &[Change],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        if let Some(outbox) = &self.outbox {
            outbox.enqueue(changes, now).await?;
        }
        for change in changes {
            self.store.put_change(change).await?;
        }
        Ok(())
    }

    /// Applies `update` to the repository's rollup.
    pub(crate) async fn update_rollup(
        &self,
        repository: &RepositoryRef,
        update: RollupUpdate,
    ) -> Result<(), StoreError> {
        self.rollups.update(repository, update).await
    }

    async fn update_rollup_row(
        &self,
        repository: &RepositoryRef,
        digest: &str,
        record: &DigestRecord,
    ) -> Result<(), StoreError> {
        self.update_rollup(repository, RollupUpdate::digest(digest, record))
            .await
    }

    /// The options.
    pub fn options(&self) -> RecordOptions {
        self.options
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ResultStore> {
        &self.store
    }

    /// Records `scan` of `digest`, read from ECR at `now`.
    pub async fn record_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
        scan: &DigestScan,
        now: DateTime<Utc>,
    ) -> Result<Recording, StoreError> {
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            back_off(attempt).await;
            let stored = self.store.get_digest(repository, digest).await?;
            let (mut record, mode) = match stored {
                Some(versioned) => (
                    versioned.record.unwrap_or_default(),
                    PutMode::Update(versioned.version),
                ),
                None => (DigestRecord::default(), PutMode::Create),
            };
            let applied = record.apply(scan.clone(), now, self.options.history);
            if matches!(applied, Applied::Older | Applied::NotFinished) {
                return Ok(Recording {
                    applied,
                    latest: record.latest().cloned(),
                    changes: Vec::new(),
                    findings_changed_at: record.findings_changed_at,
                });
            }
            // The changes are stored before the result: if storing fails,
            // the result is not recorded either, and the next writer computes
            // the same changes (same ids) again. Nothing is silently lost.
            let changes = match &applied {
                Applied::Recorded { previous } if scan.status.has_findings() => {
                    let (changes, suppressed) = self
                        .changes_of(
                            repository,
                            digest,
                            previous.as_ref(),
                            scan,
                            &record.suppressed,
                            now,
                        )
                        .await?;
                    if let Some(suppressed) = suppressed {
                        record.suppressed = suppressed;
                    }
                    changes
                }
                _ => Vec::new(),
            };
            if changes
                .iter()
                .any(|change| change.digest == digest && change.kind != ChangeKind::TagMoved)
            {
                record.findings_changed_at = Some(now);
            }
            record.next_revision(now);
            // The rollup first: if its write fails, so does the record step
            // (and the caller retries); a rollup is never behind its record.
            self.update_rollup_row(repository, digest, &record).await?;
            match self
                .store
                .put_digest(repository, digest, &record, mode)
                .await
            {
                Ok(_) => {
                    return Ok(Recording {
                        applied,
                        latest: record.latest().cloned(),
                        changes,
                        findings_changed_at: record.findings_changed_at,
                    });
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(too_contended(repository, RecordKind::ScanResult))
    }

    /// The changes a newly recorded complete result makes, stored: a
    /// baseline or the findings that changed, and for a digest's first
    /// result the moves of tags to it. Judged by the suppression rules at
    /// `now`: covered new and raised findings are set aside (never
    /// notified), and findings `was_suppressed` lists that no rule covers
    /// any more are resurfaced. Returns the changes and the findings rules
    /// cover now (`None` when the rules could not be read: then nothing is
    /// set aside nor resurfaced, and the record keeps what it had).
    async fn changes_of(
        &self,
        repository: &RepositoryRef,
        digest: &str,
        previous: Option<&RecordedScan>,
        scan: &DigestScan,
        was_suppressed: &[FindingKey],
        now: DateTime<Utc>,
    ) -> Result<(Vec<Change>, Option<Vec<FindingKey>>), StoreError> {
        let tag_record = self
            .store
            .get_tags(repository)
            .await?
            .and_then(|versioned| versioned.record)
            .unwrap_or_default();
        let tags: Vec<String> = tag_record
            .tags
            .iter()
            .filter(|(_, state)| state.digest == digest)
            .map(|(tag, _)| tag.clone())
            .collect();
        let mut changes = Vec::new();
        if let Some(change) = Change::of_result(
            repository,
            digest,
            &tags,
            previous.map(|p| &p.scan),
            scan,
            now,
        ) {
            changes.push(change);
        }
        if previous.is_none() {
            // The digest's first result, after a tag moved to it.
            for (tag, state) in &tag_record.tags {
                if state.digest != digest {
                    continue;
                }
                if let Some(moved_from) = &state.previous {
                    let before = self.latest_complete(repository, &moved_from.digest).await?;
                    changes.push(Change::of_tag_move(
                        repository,
                        tag,
                        &moved_from.digest,
                        digest,
                        before.as_ref(),
                        scan,
                        now,
                    ));
                }
            }
        }
        let suppressed_now = match self.rules_at(now).await {
            Some(rules) => {
                let image = ImageContext {
                    repository,
                    digest,
                    tags: &tags,
                };
                for change in &mut changes {
                    change.set_aside_suppressed(&rules, &image);
                }
                let mut covered: Vec<FindingKey> = scan
                    .findings
                    .iter()
                    .filter(|finding| rules.rule_for(&image, finding).is_some())
                    .map(Finding::key)
                    .collect();
                covered.sort();
                covered.dedup();
                let resurfaced: Vec<Finding> = resurfaced(scan, was_suppressed, &covered);
                if !resurfaced.is_empty()
                    && let Some(previous) = previous
                {
                    match changes.iter_mut().find(|change| {
                        change.digest == digest && change.kind == ChangeKind::FindingsChanged
                    }) {
                        Some(change) => change.resurfaced = resurfaced,
                        None => changes.push(Change::of_resurfaced(
                            repository,
                            digest,
                            &tags,
                            &previous.scan,
                            scan,
                            resurfaced,
                            now,
                        )),
                    }
                }
                Some(covered)
            }
            None => None,
        };
        self.store_changes(&changes, now).await?;
        Ok((changes, suppressed_now))
    }

    /// The suppression rules at `now`; `None` (after a warning) when they
    /// cannot be read.
    async fn rules_at(&self, now: DateTime<Utc>) -> Option<Suppressions> {
        let source = self.suppressions.as_ref()?;
        match source.rules_at(now).await {
            Ok(rules) => Some(rules),
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the suppression rules; changes are recorded unjudged");
                None
            }
        }
    }

    /// The latest complete result recorded for `digest`.
    async fn latest_complete(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<Option<DigestScan>, StoreError> {
        Ok(self
            .digest_record(repository, digest)
            .await?
            .and_then(|record| record.latest_complete().map(|r| r.scan.clone())))
    }

    /// Notes that a scan of `digest` was started at `at`.
    pub async fn record_started(
        &self,
        repository: &RepositoryRef,
        digest: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            back_off(attempt).await;
            let (mut record, mode) = match self.store.get_digest(repository, digest).await? {
                Some(versioned) => (
                    versioned.record.unwrap_or_default(),
                    PutMode::Update(versioned.version),
                ),
                None => (DigestRecord::default(), PutMode::Create),
            };
            record.started(at);
            record.next_revision(at);
            self.update_rollup_row(repository, digest, &record).await?;
            match self
                .store
                .put_digest(repository, digest, &record, mode)
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(too_contended(repository, RecordKind::ScanResult))
    }

    /// Records what the selection `tags` of `repository` resolved to, seen
    /// at `seen_at`, and returns the tags that moved.
    pub async fn record_resolution(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
        resolution: &Resolution,
        seen_at: DateTime<Utc>,
    ) -> Result<Vec<TagMove>, StoreError> {
        let cached = RecordedResolution {
            recorded_at: seen_at,
            resolution: resolution.clone(),
        };
        self.store.put_resolution(repository, tags, &cached).await?;
        self.update_rollup(
            repository,
            RollupUpdate::Selection {
                name: selection_name(tags),
                resolution: cached,
            },
        )
        .await?;
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            back_off(attempt).await;
            let (mut record, mode) = match self.store.get_tags(repository).await? {
                Some(versioned) => (
                    versioned.record.unwrap_or_default(),
                    PutMode::Update(versioned.version),
                ),
                None => (TagRecord::default(), PutMode::Create),
            };
            let before = record.clone();
            let moves = record.observe(resolution, seen_at);
            if record == before {
                return Ok(moves);
            }
            // A move to a digest whose result is known is a change now; one
            // to a digest not scanned yet becomes one with its first result.
            for moved in &moves {
                if let Some(after) = self.latest_complete(repository, &moved.to).await? {
                    let before = self.latest_complete(repository, &moved.from).await?;
                    let change = Change::of_tag_move(
                        repository,
                        &moved.tag,
                        &moved.from,
                        &moved.to,
                        before.as_ref(),
                        &after,
                        seen_at,
                    );
                    self.store_changes(std::slice::from_ref(&change), seen_at)
                        .await?;
                }
            }
            match self.store.put_tags(repository, &record, mode).await {
                Ok(_) => return Ok(moves),
                Err(StoreError::Conflict { .. }) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(too_contended(repository, RecordKind::Tags))
    }

    /// The recorded result of `digest` if it may be served at `now`.
    pub async fn servable_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<RecordedScan>, StoreError> {
        Ok(self
            .servable_record(repository, digest, now)
            .await?
            .and_then(|record| record.results.into_iter().next()))
    }

    /// The digest's record if its latest result may be served at `now`.
    async fn servable_record(
        &self,
        repository: &RepositoryRef,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DigestRecord>, StoreError> {
        Ok(self
            .store
            .get_digest(repository, digest)
            .await?
            .and_then(|versioned| versioned.record)
            .filter(|record| record.servable(now, self.options.max_age).is_some()))
    }

    /// Everything recorded about `digest`.
    pub async fn digest_record(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<Option<DigestRecord>, StoreError> {
        Ok(self
            .store
            .get_digest(repository, digest)
            .await?
            .and_then(|versioned| versioned.record))
    }

    /// The recorded resolution of a selection if it is younger than the
    /// maximum age at `now` (and not from the future).
    pub async fn fresh_resolution(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
        now: DateTime<Utc>,
    ) -> Result<Option<Resolution>, StoreError> {
        Ok(self
            .fresh_recorded_resolution(repository, tags, now)
            .await?
            .map(|record| record.resolution))
    }

    async fn fresh_recorded_resolution(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
        now: DateTime<Utc>,
    ) -> Result<Option<RecordedResolution>, StoreError> {
        Ok(self
            .store
            .get_resolution(repository, tags)
            .await?
            .filter(|record| record.is_fresh(now, self.options.max_age)))
    }
}

/// Which results a [`RecordingBackend`] answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// Recorded results where they are fresh; ECR for the rest.
    Recorded,
    /// Always ECR (and record what it says).
    Live,
}

/// A [`ScanBackend`] that puts the record step in front of a live backend:
/// what the live backend answers is recorded with a [`Recorder`] and, with
/// [`ReadFrom::Recorded`], fresh recorded results are served instead of
/// asking ECR.
///
/// - Finished scans (`COMPLETE`, `ACTIVE`, `FAILED`, …) are served from the
///   store with [`Origin::Recorded`], while checked within the maximum age
///   and not older than the last scan started.
/// - Scans still to finish (`IN_PROGRESS`, `PENDING`) and images never
///   scanned (`NOT_SCANNED`) are always read again from ECR, and not
///   recorded.
/// - A store that fails is logged and ECR answers: recording is never what
///   makes a read fail.
#[derive(Clone)]
pub struct RecordingBackend {
    live: Arc<dyn ScanBackend>,
    recorder: Recorder,
    read_from: ReadFrom,
}

impl std::fmt::Debug for RecordingBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingBackend")
            .field("read_from", &self.read_from)
            .field("recorder", &self.recorder)
            .finish_non_exhaustive()
    }
}

impl RecordingBackend {
    /// Records what `live` answers in `results`, reading as `read_from` says.
    pub fn new(
        live: Arc<dyn ScanBackend>,
        results: Arc<dyn ResultStore>,
        read_from: ReadFrom,
    ) -> RecordingBackend {
        RecordingBackend::with_recorder(live, Recorder::new(results), read_from)
    }

    /// Records what `live` answers with `recorder`.
    pub fn with_recorder(
        live: Arc<dyn ScanBackend>,
        recorder: Recorder,
        read_from: ReadFrom,
    ) -> RecordingBackend {
        RecordingBackend {
            live,
            recorder,
            read_from,
        }
    }

    /// Serves records only while checked within `max_age`.
    pub fn with_max_age(mut self, max_age: Duration) -> RecordingBackend {
        self.recorder.options.max_age = max_age;
        self
    }

    /// The record step it uses.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

impl RecordingBackend {
    /// The recorded resolution of a selection if it is fresh at `now`; a
    /// store that fails is logged (and ECR answers instead).
    async fn recorded_resolution(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
        now: DateTime<Utc>,
    ) -> Option<RecordedResolution> {
        self.recorder
            .fresh_recorded_resolution(repository, tags, now)
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, %repository, "cannot read recorded images; asking ECR");
                None
            })
    }

    /// The digest's record if its latest result may be served at `now`; a
    /// store that fails is logged (and ECR answers instead).
    async fn recorded_digest(
        &self,
        repository: &RepositoryRef,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Option<DigestRecord> {
        self.recorder
            .servable_record(repository, digest, now)
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, %repository, digest, "cannot read a recorded scan; asking ECR");
                None
            })
    }

    /// The quota error of a digest ECR would not scan: when it frees, if the
    /// record says when its last scan started less than 24 hours ago.
    async fn quota_frees_at(&self, repository: &RepositoryRef, digest: &str) -> BackendError {
        let now = Utc::now();
        let started = match self.recorder.store().get_digest(repository, digest).await {
            Ok(record) => record.and_then(|versioned| versioned.record?.scan_started_at),
            Err(err) => {
                tracing::warn!(error = %err, %repository, digest, "cannot read when the last scan started");
                None
            }
        };
        match started.map(|at| at + chrono::Duration::hours(24)) {
            Some(at) if at > now => BackendError::ScanQuotaFreesAt { at },
            _ => BackendError::ScanQuotaExceeded,
        }
    }

    /// Asks the live backend for a selection's images and records them.
    async fn resolve_live(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Resolution, BackendError> {
        let resolution = self.live.resolve_images(repository, tags).await?;
        match self
            .recorder
            .record_resolution(repository, tags, &resolution, Utc::now())
            .await
        {
            Ok(moves) => {
                for moved in moves {
                    tracing::info!(%repository, tag = %moved.tag, from = %moved.from, to = %moved.to, "tag moved");
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, %repository, "cannot record the images of a repository")
            }
        }
        Ok(resolution)
    }

    /// Asks the live backend for a digest's latest scan and records it.
    async fn read_live(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<LatestScan, BackendError> {
        let mut latest = self.live.scan_result(repository, digest).await?;
        match self
            .recorder
            .record_scan(repository, digest, &latest.scan, Utc::now())
            .await
        {
            Ok(recording) => latest.findings_changed_at = recording.findings_changed_at,
            Err(err) => {
                tracing::warn!(error = %err, %repository, digest, "cannot record a scan result")
            }
        }
        Ok(latest)
    }
}

fn recorded_latest(record: DigestRecord) -> Option<LatestScan> {
    let findings_changed_at = record.findings_changed_at;
    let latest = record.results.into_iter().next()?;
    Some(LatestScan {
        scan: latest.scan,
        origin: Origin::Recorded {
            checked_at: latest.checked_at,
        },
        findings_changed_at,
    })
}

#[async_trait::async_trait]
impl ScanBackend for RecordingBackend {
    /// With [`ReadFrom::Recorded`], the recorded listing while fresh; else
    /// the live backend's, recorded.
    async fn list_repositories(
        &self,
        registry: &str,
        region: &str,
    ) -> Result<Vec<String>, BackendError> {
        let store = self.recorder.store();
        let now = Utc::now();
        if self.read_from == ReadFrom::Recorded {
            match store.get_repositories(registry, region).await {
                Ok(Some(recorded)) if recorded.is_fresh(now, self.recorder.options.max_age) => {
                    return Ok(recorded.items);
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, registry, region, "cannot read recorded repositories; asking ECR")
                }
            }
        }
        let names = self.live.list_repositories(registry, region).await?;
        let recorded = RecordedList {
            recorded_at: now,
            items: names.clone(),
        };
        if let Err(err) = store.put_repositories(registry, region, &recorded).await {
            tracing::warn!(error = %err, registry, region, "cannot record the repositories");
        }
        Ok(names)
    }

    /// With [`ReadFrom::Recorded`], the recorded accounts while fresh; else
    /// the live backend's, recorded.
    async fn list_accounts(&self) -> Result<Vec<Account>, BackendError> {
        let store = self.recorder.store();
        let now = Utc::now();
        if self.read_from == ReadFrom::Recorded {
            match store.get_accounts().await {
                Ok(Some(recorded)) if recorded.is_fresh(now, self.recorder.options.max_age) => {
                    return Ok(recorded.items);
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read the recorded accounts; asking AWS")
                }
            }
        }
        let accounts = self.live.list_accounts().await?;
        let recorded = RecordedList {
            recorded_at: now,
            items: accounts.clone(),
        };
        if let Err(err) = store.put_accounts(&recorded).await {
            tracing::warn!(error = %err, "cannot record the accounts");
        }
        Ok(accounts)
    }

    async fn resolve_images(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Resolution, BackendError> {
        if self.read_from == ReadFrom::Recorded
            && let Some(recorded) = self.recorded_resolution(repository, tags, Utc::now()).await
        {
            return Ok(recorded.resolution);
        }
        self.resolve_live(repository, tags).await
    }

    async fn start_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<(), BackendError> {
        match self.live.start_scan(repository, digest).await {
            Ok(()) => {}
            Err(BackendError::ScanQuotaExceeded) => {
                return Err(self.quota_frees_at(repository, digest).await);
            }
            Err(err) => return Err(err),
        }
        if let Err(err) = self
            .recorder
            .record_started(repository, digest, Utc::now())
            .await
        {
            tracing::warn!(error = %err, %repository, digest, "cannot record a started scan");
        }
        Ok(())
    }

    async fn scan_result(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<LatestScan, BackendError> {
        if self.read_from == ReadFrom::Recorded
            && let Some(latest) = self
                .recorded_digest(repository, digest, Utc::now())
                .await
                .and_then(recorded_latest)
        {
            return Ok(latest);
        }
        self.read_live(repository, digest).await
    }

    /// With [`ReadFrom::Recorded`], a [`RollupView`] of the repositories.
    async fn summary_view(
        &self,
        repositories: &[RepositoryRef],
        wanted: &FindingsWanted,
    ) -> Option<Arc<dyn ScanBackend>> {
        if self.read_from == ReadFrom::Live {
            return None;
        }
        Some(Arc::new(
            RollupView::read(self.clone(), repositories, wanted.clone(), Utc::now()).await,
        ))
    }
}

/// How long a summary waits for a rollup it heals; the write goes on after.
const HEAL_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How many rollups a summary reads at once.
const ROLLUP_READS: usize = 32;

/// What a summary reads through a [`RecordingBackend`] with
/// [`ReadFrom::Recorded`]: each repository's [`Rollup`] (read once, when
/// the view is made), then, for what a rollup does not hold fresh, the
/// records (which heal the rollup) and last ECR (whose answers are recorded,
/// and so rolled up). A missing or damaged rollup is rebuilt this way by the
/// summary that finds it; nothing is served from a rollup unless fresh.
/// Results come with only the wanted findings ([`FindingsWanted`]: those
/// suppression rules name), from the repository's [`FindingIndex`], read
/// only then; a row the index lacks, or holds at another revision, is read
/// from its record when findings are wanted.
///
/// A summary asks for each selection and each digest once, so the view
/// hands each rollup entry out once and lets it go: the summary's rows
/// replace the rollups in memory rather than adding to them. Asked again,
/// the records answer.
#[derive(Debug)]
pub struct RollupView {
    rollups: std::sync::Mutex<HashMap<RepositoryRef, ViewedRollup>>,
    backend: RecordingBackend,
    wanted: FindingsWanted,
    now: DateTime<Utc>,
}

/// A rollup as a view keeps it: the rows and selections, and of its index
/// only which digests it holds and their wanted findings.
#[derive(Debug, Default)]
struct ViewedRollup {
    rollup: Rollup,
    indexed: HashSet<String>,
    wanted_findings: HashMap<String, Vec<Finding>>,
}

impl ViewedRollup {
    /// The rollup, with the wanted findings of the rows `index` holds up
    /// to date (an entry of the row's revision).
    fn new(rollup: Rollup, index: Option<FindingIndex>, wanted: &FindingsWanted) -> ViewedRollup {
        let mut viewed = ViewedRollup {
            rollup,
            ..ViewedRollup::default()
        };
        let Some(index) = index.filter(|_| !wanted.is_none()) else {
            return viewed;
        };
        let wanted_positions: Vec<usize> = index
            .table
            .iter()
            .enumerate()
            .filter(|(_, finding)| wanted.wants(&finding.0))
            .map(|(position, _)| position)
            .collect();
        for (digest, row) in &viewed.rollup.digests {
            if !index.is_current(digest, row.revision) {
                continue;
            }
            viewed.indexed.insert(digest.clone());
            if wanted_positions.is_empty() {
                continue;
            }
            if let Some(findings) = index.findings_of(digest, Some(&wanted_positions))
                && !findings.is_empty()
            {
                viewed.wanted_findings.insert(
                    digest.clone(),
                    findings
                        .into_iter()
                        .map(IndexedFinding::to_finding)
                        .collect(),
                );
            }
        }
        viewed
    }
}

impl RollupView {
    /// Reads the rollups of `repositories` from `backend`'s store at `now`;
    /// one that cannot be read is logged and left out. Of each rollup's
    /// finding index only the `wanted` findings are kept.
    pub async fn read(
        backend: RecordingBackend,
        repositories: &[RepositoryRef],
        wanted: FindingsWanted,
        now: DateTime<Utc>,
    ) -> RollupView {
        let reads = repositories.iter().cloned().map(|repository| {
            let store = Arc::clone(backend.recorder.store());
            let wanted = &wanted;
            async move {
                let rollup = match store.get_rollup(&repository).await {
                    Ok(rollup) => rollup.and_then(|versioned| versioned.record)?,
                    Err(err) => {
                        tracing::warn!(error = %err, %repository, "cannot read a rollup; reading the records");
                        return None;
                    }
                };
                // Only summaries with rules read the findings.
                let index = if wanted.is_none() {
                    None
                } else {
                    match store.get_findings(&repository).await {
                        Ok(index) => index.and_then(|versioned| versioned.record),
                        Err(err) => {
                            tracing::warn!(error = %err, %repository, "cannot read a finding index; reading the records");
                            None
                        }
                    }
                };
                Some((repository, ViewedRollup::new(rollup, index, wanted)))
            }
        });
        let rollups = futures::stream::iter(reads)
            .buffer_unordered(ROLLUP_READS)
            .filter_map(std::future::ready)
            .collect()
            .await;
        RollupView {
            rollups: std::sync::Mutex::new(rollups),
            backend,
            wanted,
            now,
        }
    }

    fn take_selection(&self, repository: &RepositoryRef, name: &str) -> Option<RecordedResolution> {
        let mut rollups = self.rollups.lock().unwrap_or_else(|e| e.into_inner());
        rollups.get_mut(repository)?.rollup.selections.remove(name)
    }

    /// The digest's row, with its wanted findings; `None` when the rollup
    /// lacks the row, or lacks the findings that are wanted.
    fn take_row(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Option<(DigestRecord, Vec<Finding>)> {
        let mut rollups = self.rollups.lock().unwrap_or_else(|e| e.into_inner());
        let viewed = rollups.get_mut(repository)?;
        let row = viewed.rollup.digests.remove(digest)?;
        let findings = viewed.wanted_findings.remove(digest).unwrap_or_default();
        let has_findings = row.latest().is_some_and(|latest| {
            latest.scan.status.has_findings() && !latest.scan.severity_counts.is_empty()
        });
        if !self.wanted.is_none() && has_findings && !viewed.indexed.contains(digest) {
            return None;
        }
        Some((row, findings))
    }

    fn max_age(&self) -> Duration {
        self.backend.recorder.options.max_age
    }

    /// Heals the rollup, which lacked what a record holds, waiting at most
    /// [`HEAL_WAIT`]; a failure is logged (the next summary tries again).
    async fn heal(&self, repository: &RepositoryRef, update: RollupUpdate) {
        let healing = self.backend.recorder.update_rollup(repository, update);
        match tokio::time::timeout(HEAL_WAIT, healing).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, %repository, "cannot update a rollup"),
            // The write goes on in its own task; the summary does not wait.
            Err(_) => tracing::info!(%repository, "a rollup update is slow; not waiting for it"),
        }
    }
}

#[async_trait::async_trait]
impl ScanBackend for RollupView {
    async fn list_repositories(
        &self,
        registry: &str,
        region: &str,
    ) -> Result<Vec<String>, BackendError> {
        self.backend.list_repositories(registry, region).await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, BackendError> {
        self.backend.list_accounts().await
    }

    async fn resolve_images(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Resolution, BackendError> {
        let name = selection_name(tags);
        if let Some(recorded) = self
            .take_selection(repository, &name)
            .filter(|recorded| recorded.is_fresh(self.now, self.max_age()))
        {
            return Ok(recorded.resolution);
        }
        if let Some(recorded) = self
            .backend
            .recorded_resolution(repository, tags, self.now)
            .await
        {
            let resolution = recorded.resolution.clone();
            let update = RollupUpdate::Selection {
                name,
                resolution: recorded,
            };
            self.heal(repository, update).await;
            return Ok(resolution);
        }
        self.backend.resolve_live(repository, tags).await
    }

    async fn start_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<(), BackendError> {
        self.backend.start_scan(repository, digest).await
    }

    async fn scan_result(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<LatestScan, BackendError> {
        if let Some((row, findings)) = self
            .take_row(repository, digest)
            .filter(|(row, _)| row.servable(self.now, self.max_age()).is_some())
            && let Some(mut latest) = recorded_latest(row)
        {
            latest.scan.findings = findings;
            return Ok(latest);
        }
        if let Some(record) = self
            .backend
            .recorded_digest(repository, digest, self.now)
            .await
        {
            self.heal(repository, RollupUpdate::digest(digest, &record))
                .await;
            let mut findings = record
                .latest()
                .map(|latest| latest.scan.findings.clone())
                .unwrap_or_default();
            self.wanted.keep_wanted(&mut findings);
            if let Some(mut latest) = recorded_latest(record.rollup_row()) {
                latest.scan.findings = findings;
                return Ok(latest);
            }
        }
        let mut latest = self.backend.read_live(repository, digest).await?;
        self.wanted.keep_wanted(&mut latest.scan.findings);
        Ok(latest)
    }
}

#[cfg(test)]
#[path = "recorder_tests.rs"]
mod tests;
