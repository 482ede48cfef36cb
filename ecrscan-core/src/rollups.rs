//! Keeping each repository's [`Rollup`] in step with its records.
//!
//! Every write of the record step (a digest's result, a started scan, a
//! selection's resolution) comes with an update of the repository's
//! rollup, made before the record is written. Updates of one repository made in one process are committed
//! together: while one compare-and-swap write of the rollup is under way,
//! the updates that arrive wait and go out in the next write, so 32
//! concurrent recordings into one repository cost a few writes, not 32
//! rounds of conflicts. Writers in other processes meet at the store's
//! conditional writes ([`PutMode::Update`]) and retry. An update that
//! cannot be written is an error for the record step that made it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::config::RepositoryRef;
use crate::records::{DigestRecord, FindingIndex, IndexedFinding, RecordedResolution, Rollup};
use crate::store::{PutMode, ResultStore, StoreError};

/// How many times a rollup write is tried while other processes keep
/// changing it; attempts after the first wait a random time of up to 2, 4,
/// … 1,024 ms (about 55 s in all at worst).
const MAX_ROLLUP_ATTEMPTS: u32 = 64;

/// One change to a rollup.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RollupUpdate {
    /// A digest's record as now stored.
    Digest {
        /// The digest.
        digest: String,
        /// Its [row](DigestRecord::rollup_row).
        row: DigestRecord,
        /// Its latest result's findings, for the rollup's index.
        findings: Vec<IndexedFinding>,
    },
    /// A selection's resolution as now stored.
    Selection {
        /// The selection's name ([`selection_name`](crate::store::keys::selection_name)).
        name: String,
        /// The resolution.
        resolution: RecordedResolution,
    },
}

impl RollupUpdate {
    /// The update of `digest`'s row from its whole record.
    pub(crate) fn digest(digest: &str, record: &DigestRecord) -> RollupUpdate {
        RollupUpdate::Digest {
            digest: digest.to_owned(),
            row: record.rollup_row(),
            findings: IndexedFinding::of_latest(record),
        }
    }

    /// Applies the update; whether the rollup changed.
    fn merge_into(&self, rollup: &mut Rollup) -> bool {
        match self {
            RollupUpdate::Digest { digest, row, .. } => rollup.merge_row(digest, row),
            RollupUpdate::Selection { name, resolution } => {
                rollup.merge_selection(name, resolution)
            }
        }
    }
}

#[derive(Default)]
struct Pending {
    updates: Vec<RollupUpdate>,
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
    writing: bool,
}

/// Writes rollup updates, committing those of one repository together.
pub(crate) struct RollupWriter {
    store: Arc<dyn ResultStore>,
    pending: Mutex<HashMap<RepositoryRef, Pending>>,
}

impl std::fmt::Debug for RollupWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RollupWriter").finish_non_exhaustive()
    }
}

/// Waits before attempt `attempt` (from 0) of a conditional write (of a
/// rollup, or of a record of the record step): a random time of up to 2,
/// 4, … 1,024 ms, so racing writers spread out — also a crowd of
/// processes, each with one update of the same rollup.
pub(crate) async fn back_off(attempt: u32) {
    if attempt == 0 {
        return;
    }
    let ceiling_us = 1000u64 << attempt.min(10);
    let jitter = uuid::Uuid::new_v4().as_u128() as u64 % ceiling_us;
    tokio::time::sleep(std::time::Duration::from_micros(jitter)).await;
}

impl RollupWriter {
    pub(crate) fn new(store: Arc<dyn ResultStore>) -> RollupWriter {
        RollupWriter {
            store,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// Applies `update` to the repository's rollup, together with the other
    /// updates of the repository waiting meanwhile; returns once it is
    /// stored (or could not be). The write runs in a task of its own, so a caller that stops
    /// waiting never stops the others' updates.
    pub(crate) async fn update(
        self: &Arc<Self>,
        repository: &RepositoryRef,
        update: RollupUpdate,
    ) -> Result<(), StoreError> {
        let (sender, receiver) = oneshot::channel();
        let start_writing = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let entry = pending.entry(repository.clone()).or_default();
            entry.updates.push(update);
            entry.waiters.push(sender);
            !std::mem::replace(&mut entry.writing, true)
        };
        if start_writing {
            let writer = Arc::clone(self);
            let repository = repository.clone();
            tokio::spawn(async move { writer.write_pending(repository).await });
        }
        let failed = |message: String| StoreError::Backend {
            store: format!("rollup of {repository}"),
            message,
            source: None,
        };
        match receiver.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(failed(message)),
            Err(_) => Err(failed("the rollup write stopped".into())),
        }
    }

    /// Writes the repository's pending updates until none are left.
    async fn write_pending(&self, repository: RepositoryRef) {
        // Should this task stop early (a panic, its runtime shut down), the
        // guard fails the waiting callers and lets the next update write.
        let mut guard = Writing {
            writer: self,
            repository: &repository,
            armed: true,
        };
        loop {
            let (updates, waiters) = {
                let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                let Some(entry) = pending.get_mut(&repository) else {
                    guard.armed = false;
                    return;
                };
                if entry.updates.is_empty() {
                    // Under the lock: the next update starts a new writer.
                    pending.remove(&repository);
                    guard.armed = false;
                    return;
                }
                (
                    std::mem::take(&mut entry.updates),
                    std::mem::take(&mut entry.waiters),
                )
            };
            let written = write(self.store.as_ref(), &repository, &updates).await;
            if let Ok(rollup) = &written {
                // The index lags at worst: summaries with rules read what it
                // lacks from the records, which bring it up to date.
                if let Err(err) =
                    write_findings(self.store.as_ref(), &repository, &updates, rollup).await
                {
                    tracing::warn!(%repository, error = %err, "cannot update a finding index");
                }
            }
            let result = written.map(|_| ()).map_err(|err| err.to_string());
            if let Err(message) = &result {
                tracing::warn!(%repository, error = %message, updates = updates.len(), "cannot update a rollup");
            }
            for waiter in waiters {
                let _ = waiter.send(result.clone());
            }
        }
    }
}

/// Ends a repository's writing if [`RollupWriter::write_pending`] stops
/// before it is done (a panic, its runtime shut down): the entry is
/// removed, and callers still waiting get an error. Disarmed when the
/// writer ends normally, having removed the entry itself under the lock
/// (a later entry belongs to a later writer).
struct Writing<'a> {
    writer: &'a RollupWriter,
    repository: &'a RepositoryRef,
    armed: bool,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut pending = self
            .writer
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Dropping the senders tells their callers the write stopped.
        pending.remove(self.repository);
    }
}

/// Applies `updates` to the repository's rollup with a compare-and-swap
/// write, read again and retried while other writers change it; returns the
/// rollup as stored. A rollup that cannot be parsed is replaced.
pub(crate) async fn write(
    store: &dyn ResultStore,
    repository: &RepositoryRef,
    updates: &[RollupUpdate],
) -> Result<Rollup, StoreError> {
    for attempt in 0..MAX_ROLLUP_ATTEMPTS {
        back_off(attempt).await;
        let (mut rollup, mode) = match store.get_rollup(repository).await {
            Ok(Some(versioned)) => (
                versioned.record.unwrap_or_default(),
                PutMode::Update(versioned.version),
            ),
            Ok(None) => (Rollup::default(), PutMode::Create),
            // Too large to read: started again (what it lacks is read from
            // the records, and rolled up again, by the summaries).
            Err(StoreError::TooLarge { .. }) => (Rollup::default(), PutMode::Overwrite),
            Err(err) => return Err(err),
        };
        let mut changed = false;
        for update in updates {
            changed |= update.merge_into(&mut rollup);
        }
        if !changed {
            return Ok(rollup);
        }
        rollup.prune(chrono::Utc::now());
        match store.put_rollup(repository, &rollup, mode).await {
            Ok(_) => return Ok(rollup),
            Err(StoreError::Conflict { .. }) => continue,
            Err(err) => return Err(err),
        }
    }
    Err(StoreError::Conflict {
        store: format!("rollup of {repository}"),
        key: format!("still changing after {MAX_ROLLUP_ATTEMPTS} attempts"),
    })
}

/// Applies the findings of `updates` to the repository's finding index,
/// keeping the digests `rollup` keeps, with a compare-and-swap write read
/// again and retried while other writers change it.
pub(crate) async fn write_findings(
    store: &dyn ResultStore,
    repository: &RepositoryRef,
    updates: &[RollupUpdate],
    rollup: &Rollup,
) -> Result<(), StoreError> {
    if !updates
        .iter()
        .any(|update| matches!(update, RollupUpdate::Digest { .. }))
    {
        return Ok(());
    }
    for attempt in 0..MAX_ROLLUP_ATTEMPTS {
        back_off(attempt).await;
        let (mut index, mode) = match store.get_findings(repository).await {
            Ok(Some(versioned)) => (
                versioned.record.unwrap_or_default(),
                PutMode::Update(versioned.version),
            ),
            Ok(None) => (FindingIndex::default(), PutMode::Create),
            Err(StoreError::TooLarge { .. }) => (FindingIndex::default(), PutMode::Overwrite),
            Err(err) => return Err(err),
        };
        let mut changed = false;
        for update in updates {
            if let RollupUpdate::Digest {
                digest,
                row,
                findings,
            } = update
            {
                changed |= index.merge(digest, row.revision, findings);
            }
        }
        let before = index.digests.len();
        index.retain_digests(|digest| rollup.digests.contains_key(digest));
        changed |= index.digests.len() != before;
        if !changed {
            return Ok(());
        }
        match store.put_findings(repository, &index, mode).await {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict { .. }) => continue,
            Err(err) => return Err(err),
        }
    }
    Err(StoreError::Conflict {
        store: format!("finding index of {repository}"),
        key: format!("still changing after {MAX_ROLLUP_ATTEMPTS} attempts"),
    })
}
