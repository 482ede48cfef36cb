//! [`ResultStore`] for every [`ObjectStore`]: JSON records below `results/`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::keys::{
    accounts_key, change_key, digest_key, findings_key, repositories_key, resolution_key,
    rollup_key, tags_key,
};
use super::listing::read_listed;
use super::{
    Listing, MAX_RECORD_BYTES, ObjectStore, PutMode, RecordKind, ResultStore, StoreError, Version,
    Versioned,
};
use crate::backend::Account;
use crate::changes::Change;
use crate::config::RepositoryRef;
use crate::records::{
    DigestRecord, FindingIndex, RecordedList, RecordedResolution, Rollup, TagRecord,
};

/// A record as stored: JSON.
fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    // Records hold strings, numbers, maps with string keys and times only:
    // serializing them cannot fail.
    serde_json::to_vec(record).unwrap_or_default()
}

/// Reads a record; one that cannot be parsed is logged and comes back as
/// `record: None` with its version, so a writer can replace it.
async fn get_versioned<S: ObjectStore + ?Sized, T: DeserializeOwned>(
    store: &S,
    key: &str,
    kind: RecordKind,
) -> Result<Option<Versioned<T>>, StoreError> {
    let Some(object) = store.get(key, MAX_RECORD_BYTES).await? else {
        return Ok(None);
    };
    let record = match serde_json::from_slice(&object.bytes) {
        Ok(record) => Some(record),
        Err(err) => {
            tracing::warn!(store = %store.describe(), key, %kind, error = %err, "ignoring an unreadable record");
            None
        }
    };
    Ok(Some(Versioned {
        record,
        version: object.version,
    }))
}

#[async_trait::async_trait]
impl<S: ObjectStore> ResultStore for S {
    async fn get_digest(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<Option<Versioned<DigestRecord>>, StoreError> {
        get_versioned(
            self,
            &digest_key(repository, digest)?,
            RecordKind::ScanResult,
        )
        .await
    }

    async fn put_digest(
        &self,
        repository: &RepositoryRef,
        digest: &str,
        record: &DigestRecord,
        mode: PutMode,
    ) -> Result<Version, StoreError> {
        self.put(&digest_key(repository, digest)?, encode(record), mode)
            .await
    }

    async fn get_tags(
        &self,
        repository: &RepositoryRef,
    ) -> Result<Option<Versioned<TagRecord>>, StoreError> {
        get_versioned(self, &tags_key(repository)?, RecordKind::Tags).await
    }

    async fn put_tags(
        &self,
        repository: &RepositoryRef,
        record: &TagRecord,
        mode: PutMode,
    ) -> Result<Version, StoreError> {
        self.put(&tags_key(repository)?, encode(record), mode).await
    }

    async fn get_resolution(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Option<RecordedResolution>, StoreError> {
        let key = resolution_key(repository, tags)?;
        Ok(get_versioned(self, &key, RecordKind::Resolution)
            .await?
            .and_then(|versioned| versioned.record))
    }

    async fn put_resolution(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
        resolution: &RecordedResolution,
    ) -> Result<(), StoreError> {
        self.put(
            &resolution_key(repository, tags)?,
            encode(resolution),
            PutMode::Overwrite,
        )
        .await?;
        Ok(())
    }

    async fn get_rollup(
        &self,
        repository: &RepositoryRef,
    ) -> Result<Option<Versioned<Rollup>>, StoreError> {
        get_versioned(self, &rollup_key(repository)?, RecordKind::Rollup).await
    }

    async fn put_rollup(
        &self,
        repository: &RepositoryRef,
        rollup: &Rollup,
        mode: PutMode,
    ) -> Result<Version, StoreError> {
        self.put(&rollup_key(repository)?, encode(rollup), mode)
            .await
    }

    async fn get_findings(
        &self,
        repository: &RepositoryRef,
    ) -> Result<Option<Versioned<FindingIndex>>, StoreError> {
        get_versioned(self, &findings_key(repository)?, RecordKind::FindingIndex).await
    }

    async fn put_findings(
        &self,
        repository: &RepositoryRef,
        index: &FindingIndex,
        mode: PutMode,
    ) -> Result<Version, StoreError> {
        self.put(&findings_key(repository)?, encode(index), mode)
            .await
    }

    async fn get_repositories(
        &self,
        registry: &str,
        region: &str,
    ) -> Result<Option<RecordedList<String>>, StoreError> {
        Ok(get_versioned(
            self,
            &repositories_key(registry, region)?,
            RecordKind::Repositories,
        )
        .await?
        .and_then(|versioned| versioned.record))
    }

    async fn put_repositories(
        &self,
        registry: &str,
        region: &str,
        listing: &RecordedList<String>,
    ) -> Result<(), StoreError> {
        self.put(
            &repositories_key(registry, region)?,
            encode(listing),
            PutMode::Overwrite,
        )
        .await?;
        Ok(())
    }

    async fn get_accounts(&self) -> Result<Option<RecordedList<Account>>, StoreError> {
        Ok(
            get_versioned(self, &accounts_key(), RecordKind::Repositories)
                .await?
                .and_then(|versioned| versioned.record),
        )
    }

    async fn put_accounts(&self, listing: &RecordedList<Account>) -> Result<(), StoreError> {
        self.put(&accounts_key(), encode(listing), PutMode::Overwrite)
            .await?;
        Ok(())
    }

    async fn put_change(&self, change: &Change) -> Result<bool, StoreError> {
        match self
            .put(&change_key(change.id), encode(change), PutMode::Create)
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    async fn list_changes(&self) -> Result<Listing<Change>, StoreError> {
        let listing = Listing::default();
        let keys: Vec<String> = self
            .list("changes/")
            .await?
            .into_iter()
            .filter(|object| object.key.ends_with(".json"))
            .map(|object| object.key)
            .collect();
        let mut listing = read_listed(
            self,
            keys,
            MAX_RECORD_BYTES,
            RecordKind::Change,
            listing,
            |_, object| {
                serde_json::from_slice::<Change>(&object.bytes)
                    .map_err(|err| format!("not a change: {err}"))
            },
        )
        .await?;
        listing.items.sort_by(|a, b| {
            b.detected_at
                .cmp(&a.detected_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(listing)
    }
}
