//! [`ConfigStore`] for every [`ObjectStore`]: one `<id>.json` per config at
//! the store's root, in the AWS sample's JSON.

use uuid::Uuid;

use super::keys::config_key;
use super::listing::read_listed;
use super::{
    ConfigStore, Listing, ObjectStore, PutMode, RecordKind, Skipped, StoreError, sort_configs,
};
use crate::config::ScanConfig;

/// Objects larger than this are not scan configs (one is a few hundred
/// bytes): they are skipped by listings and refused by `get`.
pub(crate) const MAX_CONFIG_BYTES: u64 = 64 * 1024;

fn parse(store: &dyn ObjectStore, key: &str, bytes: &[u8]) -> Result<ScanConfig, StoreError> {
    ScanConfig::from_stored_json(bytes).map_err(|err| StoreError::Corrupt {
        kind: RecordKind::Config,
        key: format!("{}/{key}", store.describe()),
        message: err.to_string(),
    })
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
        let mut listing = read_listed(
            self,
            keys,
            MAX_CONFIG_BYTES,
            RecordKind::Config,
            listing,
            |key, object| match ScanConfig::from_stored_json(&object.bytes) {
                Ok(config) if key != config_key(config.id) => Err(format!(
                    "it holds the config {}, stored under another id's name",
                    config.id
                )),
                Ok(config) => Ok(config),
                Err(err) => Err(format!("not a valid scan config: {err}")),
            },
        )
        .await?;
        sort_configs(&mut listing.items);
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
