//! [`ConfigStore`] for every [`ObjectStore`]: one `<id>.json` per config at
//! the store's root, in the AWS sample's JSON.

use futures::StreamExt;
use uuid::Uuid;

use super::keys::config_key;
use super::{
    ConfigStore, Listing, ObjectStore, PutMode, RecordKind, Skipped, StoreError, sort_configs,
};
use crate::config::ScanConfig;

/// Objects larger than this are not scan configs (one is a few hundred
/// bytes): they are skipped by listings and refused by `get`.
pub(crate) const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// How many configs a listing reads at once.
const READ_CONCURRENCY: usize = 16;

fn parse(store: &dyn ObjectStore, key: &str, bytes: &[u8]) -> Result<ScanConfig, StoreError> {
    ScanConfig::from_stored_json(bytes).map_err(|err| StoreError::Corrupt {
        kind: RecordKind::Config,
        key: format!("{}/{key}", store.describe()),
        message: err.to_string(),
    })
}

/// One listed object: a config, nothing (deleted meanwhile), or why it was skipped.
enum Read {
    Config(ScanConfig),
    Gone,
    Skipped(Skipped),
}

async fn read_listed<S: ObjectStore + ?Sized>(store: &S, key: String) -> Read {
    let skipped = |reason: String, unreadable: bool| {
        tracing::warn!(store = %store.describe(), %key, %reason, "skipping an object that is not a readable scan config");
        Read::Skipped(Skipped {
            key: key.clone(),
            reason,
            unreadable,
        })
    };
    match store.get(&key, MAX_CONFIG_BYTES).await {
        Ok(None) => Read::Gone,
        Ok(Some(object)) => match ScanConfig::from_stored_json(&object.bytes) {
            Ok(config) if key != config_key(config.id) => skipped(
                format!(
                    "it holds the config {}, stored under another id's name",
                    config.id
                ),
                false,
            ),
            Ok(config) => Read::Config(config),
            Err(err) => skipped(format!("not a valid scan config: {err}"), false),
        },
        Err(err @ StoreError::TooLarge { .. }) => skipped(err.to_string(), false),
        Err(err) => skipped(err.to_string(), true),
    }
}

#[async_trait::async_trait]
impl<S: ObjectStore> ConfigStore for S {
    async fn put(&self, config: &ScanConfig) -> Result<(), StoreError> {
        ObjectStore::put(
            self,
            &config_key(config.id),
            config.to_json(),
            PutMode::Overwrite,
        )
        .await?;
        Ok(())
    }

    async fn get(&self, id: Uuid) -> Result<ScanConfig, StoreError> {
        let key = config_key(id);
        let object = match ObjectStore::get(self, &key, MAX_CONFIG_BYTES).await {
            Ok(Some(object)) => object,
            Ok(None) => return Err(StoreError::config_not_found(id)),
            Err(StoreError::TooLarge { store, key, limit }) => {
                return Err(StoreError::Corrupt {
                    kind: RecordKind::Config,
                    key: format!("{store}/{key}"),
                    message: format!("larger than {limit} bytes"),
                });
            }
            Err(err) => return Err(err),
        };
        let config = parse(self, &key, &object.bytes)?;
        if config.id != id {
            return Err(StoreError::Corrupt {
                kind: RecordKind::Config,
                key: format!("{}/{key}", self.describe()),
                message: format!("it holds the config {}", config.id),
            });
        }
        Ok(config)
    }

    async fn list(&self) -> Result<Listing<ScanConfig>, StoreError> {
        let mut listing = Listing {
            items: Vec::new(),
            skipped: Vec::new(),
        };
        let mut keys = Vec::new();
        for object in ObjectStore::list(self, "").await? {
            if object.size.is_some_and(|size| size > MAX_CONFIG_BYTES) {
                let reason = format!("larger than {MAX_CONFIG_BYTES} bytes: not a scan config");
                tracing::warn!(store = %self.describe(), key = %object.key, %reason, "skipping an object");
                listing.skipped.push(Skipped {
                    key: object.key,
                    reason,
                    unreadable: false,
                });
            } else if object.key.ends_with(".json") {
                keys.push(object.key);
            } else {
                tracing::warn!(store = %self.describe(), key = %object.key, "skipping an object that is not a scan config (*.json)");
                listing.skipped.push(Skipped {
                    key: object.key,
                    reason: "not a scan config (*.json)".into(),
                    unreadable: false,
                });
            }
        }
        let mut reads = futures::stream::iter(keys)
            .map(|key| read_listed(self, key))
            .buffer_unordered(READ_CONCURRENCY);
        let mut read_any = false;
        while let Some(read) = reads.next().await {
            match read {
                Read::Config(config) => {
                    read_any = true;
                    listing.items.push(config);
                }
                Read::Gone => {}
                Read::Skipped(skipped) => {
                    read_any |= !skipped.unreadable;
                    listing.skipped.push(skipped);
                }
            }
        }
        let unreadable = listing.unreadable();
        if !read_any && unreadable > 0 {
            let first = listing
                .skipped
                .iter()
                .find(|s| s.unreadable)
                .map(|s| format!("{}: {}", s.key, s.reason))
                .unwrap_or_default();
            return Err(StoreError::NothingReadable {
                store: self.describe(),
                kind: RecordKind::Config,
                failed: unreadable,
                first,
            });
        }
        sort_configs(&mut listing.items);
        listing.skipped.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listing)
    }

    async fn delete(&self, id: Uuid) -> Result<(), StoreError> {
        if ObjectStore::delete(self, &config_key(id)).await? {
            Ok(())
        } else {
            Err(StoreError::config_not_found(id))
        }
    }
}
