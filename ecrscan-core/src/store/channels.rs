//! [`ChannelStore`] for every [`ObjectStore`]: one `channels/<id>.json` per
//! notification channel.

use uuid::Uuid;

use super::listing::read_listed;
use super::{ChannelStore, Listing, ObjectStore, PutMode, RecordKind, StoreError};
use crate::channels::Channel;

/// A channel is a few hundred bytes.
const MAX_CHANNEL_BYTES: u64 = 64 * 1024;

fn channel_key(id: Uuid) -> String {
    format!("channels/{id}.json")
}

fn parse(store: &dyn ObjectStore, key: &str, bytes: &[u8]) -> Result<Channel, StoreError> {
    Channel::from_stored_json(bytes).map_err(|err| StoreError::Corrupt {
        kind: RecordKind::Channel,
        key: format!("{}/{key}", store.describe()),
        message: err.to_string(),
    })
}

#[async_trait::async_trait]
impl<S: ObjectStore> ChannelStore for S {
    async fn put_channel(&self, channel: &Channel) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(channel).unwrap_or_default();
        self.put(&channel_key(channel.id), bytes, PutMode::Overwrite)
            .await?;
        Ok(())
    }

    async fn get_channel(&self, id: Uuid) -> Result<Channel, StoreError> {
        let key = channel_key(id);
        let not_found = || StoreError::NotFound {
            kind: RecordKind::Channel,
            id: id.to_string(),
        };
        let object = self
            .get(&key, MAX_CHANNEL_BYTES)
            .await?
            .ok_or_else(not_found)?;
        let channel = parse(self, &key, &object.bytes)?;
        if channel.id != id {
            return Err(StoreError::Corrupt {
                kind: RecordKind::Channel,
                key,
                message: format!("it holds the channel {}", channel.id),
            });
        }
        Ok(channel)
    }

    async fn list_channels(&self) -> Result<Listing<Channel>, StoreError> {
        let keys = self
            .list("channels/")
            .await?
            .into_iter()
            .map(|object| object.key)
            .collect();
        let listing = Listing {
            items: Vec::new(),
            skipped: Vec::new(),
        };
        let mut listing = read_listed(
            self,
            keys,
            MAX_CHANNEL_BYTES,
            RecordKind::Channel,
            listing,
            |key, bytes| match Channel::from_stored_json(bytes) {
                Ok(channel) if key == channel_key(channel.id) => Ok(channel),
                Ok(channel) => Err(format!("it holds the channel {}", channel.id)),
                Err(err) => Err(err.to_string()),
            },
        )
        .await?;
        listing
            .items
            .sort_by_key(|channel| (channel.created, channel.id));
        Ok(listing)
    }

    async fn delete_channel(&self, id: Uuid) -> Result<(), StoreError> {
        if self.delete(&channel_key(id)).await? {
            Ok(())
        } else {
            Err(StoreError::NotFound {
                kind: RecordKind::Channel,
                id: id.to_string(),
            })
        }
    }
}
