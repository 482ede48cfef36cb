//! [`SuppressionStore`] for every [`ObjectStore`]: one
//! `suppressions/<id>.json` per rule.

use uuid::Uuid;

use super::listing::read_listed;
use super::{Listing, ObjectStore, PutMode, RecordKind, StoreError, SuppressionStore};
use crate::suppress::Suppression;

/// A rule is a few hundred bytes; its reason at most 4 KiB.
const MAX_SUPPRESSION_BYTES: u64 = 64 * 1024;

fn suppression_key(id: Uuid) -> String {
    format!("suppressions/{id}.json")
}

fn not_found(id: Uuid) -> StoreError {
    StoreError::NotFound {
        kind: RecordKind::Suppression,
        id: id.to_string(),
    }
}

#[async_trait::async_trait]
impl<S: ObjectStore> SuppressionStore for S {
    async fn put_suppression(&self, rule: &Suppression) -> Result<(), StoreError> {
        self.put(
            &suppression_key(rule.id),
            rule.to_json(),
            PutMode::Overwrite,
        )
        .await?;
        Ok(())
    }

    async fn get_suppression(&self, id: Uuid) -> Result<Suppression, StoreError> {
        let key = suppression_key(id);
        let object = match self.get(&key, MAX_SUPPRESSION_BYTES).await {
            Ok(Some(object)) => object,
            Ok(None) => return Err(not_found(id)),
            Err(StoreError::TooLarge { store, key, limit }) => {
                return Err(StoreError::Corrupt {
                    kind: RecordKind::Suppression,
                    key: format!("{store}/{key}"),
                    message: format!("larger than {limit} bytes"),
                });
            }
            Err(err) => return Err(err),
        };
        let corrupt = |message: String| StoreError::Corrupt {
            kind: RecordKind::Suppression,
            key: format!("{}/{key}", self.describe()),
            message,
        };
        let rule =
            Suppression::from_stored_json(&object.bytes).map_err(|err| corrupt(err.to_string()))?;
        if rule.id != id {
            return Err(corrupt(format!("it holds the rule {}", rule.id)));
        }
        Ok(rule)
    }

    async fn list_suppressions(&self) -> Result<Listing<Suppression>, StoreError> {
        let keys = self
            .list("suppressions/")
            .await?
            .into_iter()
            .map(|object| object.key)
            .collect();
        let mut listing = read_listed(
            self,
            keys,
            MAX_SUPPRESSION_BYTES,
            RecordKind::Suppression,
            Listing::default(),
            |key, object| match Suppression::from_stored_json(&object.bytes) {
                Ok(rule) if key == suppression_key(rule.id) => Ok(rule),
                Ok(rule) => Err(format!(
                    "it holds the rule {}, stored under another id's name",
                    rule.id
                )),
                Err(err) => Err(format!("not a valid suppression rule: {err}")),
            },
        )
        .await?;
        listing.items.sort_by_key(|rule| (rule.created, rule.id));
        Ok(listing)
    }

    async fn delete_suppression(&self, id: Uuid) -> Result<(), StoreError> {
        if self.delete(&suppression_key(id)).await? {
            Ok(())
        } else {
            Err(not_found(id))
        }
    }
}
