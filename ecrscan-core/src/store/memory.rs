//! [`MemoryStore`]: objects in memory, for tests and embedding.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::RwLock;

use super::{ObjectMeta, ObjectStore, PutMode, StoreError, StoredObject, Version};

/// A store in memory (lost when dropped), for tests and embedding.
#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: RwLock<BTreeMap<String, (Vec<u8>, u64)>>,
    writes: AtomicU64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

fn version(counter: u64) -> Version {
    Version(counter.to_string())
}

#[async_trait::async_trait]
impl ObjectStore for MemoryStore {
    fn describe(&self) -> String {
        "memory://".to_owned()
    }

    async fn get(&self, key: &str, max_bytes: u64) -> Result<Option<StoredObject>, StoreError> {
        let objects = self.objects.read().await;
        let Some((bytes, counter)) = objects.get(key) else {
            return Ok(None);
        };
        if bytes.len() as u64 > max_bytes {
            return Err(StoreError::TooLarge {
                store: self.describe(),
                key: key.to_owned(),
                limit: max_bytes,
            });
        }
        Ok(Some(StoredObject {
            bytes: bytes.clone(),
            version: version(*counter),
        }))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<Version, StoreError> {
        let mut objects = self.objects.write().await;
        let current = objects.get(key).map(|(_, counter)| version(*counter));
        let allowed = match &mode {
            PutMode::Overwrite => true,
            PutMode::Create => current.is_none(),
            PutMode::Update(expected) => current.as_ref() == Some(expected),
        };
        if !allowed {
            return Err(StoreError::Conflict {
                store: self.describe(),
                key: key.to_owned(),
            });
        }
        let counter = self.writes.fetch_add(1, Ordering::Relaxed) + 1;
        objects.insert(key.to_owned(), (bytes, counter));
        Ok(version(counter))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.objects.write().await.remove(key).is_some())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let objects = self.objects.read().await;
        Ok(objects
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .filter(|(key, _)| !key[prefix.len()..].contains('/'))
            .map(|(key, (bytes, _))| ObjectMeta {
                key: key.clone(),
                size: Some(bytes.len() as u64),
            })
            .collect())
    }
}
