//! [`ChannelStore`] for every [`ObjectStore`]: one `channels/<id>.json` per
//! notification channel, one `deliveries/<channel>/<change>.json` per
//! change on its way to a channel.

use uuid::Uuid;

use super::listing::read_listed;
use super::{
    ChannelStore, Listing, MAX_RECORD_BYTES, ObjectStore, PutMode, RecordKind, StoreError, Version,
    Versioned,
};
use crate::channels::Channel;
use crate::deliveries::Delivery;

/// A channel is a few hundred bytes.
const MAX_CHANNEL_BYTES: u64 = 64 * 1024;

fn channel_key(id: Uuid) -> String {
    format!("channels/{id}.json")
}

fn delivery_dir(channel: Uuid) -> String {
    format!("deliveries/{channel}/")
}

fn delivery_key(channel: Uuid, change: Uuid) -> String {
    format!("deliveries/{channel}/{change}.json")
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
            |key, object| match Channel::from_stored_json(&object.bytes) {
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

    async fn put_delivery(
        &self,
        delivery: &Delivery,
        mode: PutMode,
    ) -> Result<Version, StoreError> {
        let bytes = serde_json::to_vec(delivery).unwrap_or_default();
        self.put(
            &delivery_key(delivery.channel, delivery.change.id),
            bytes,
            mode,
        )
        .await
    }

    async fn list_deliveries(
        &self,
        channel: Uuid,
    ) -> Result<Listing<Versioned<Delivery>>, StoreError> {
        let keys = self
            .list(&delivery_dir(channel))
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
            MAX_RECORD_BYTES,
            RecordKind::Delivery,
            listing,
            |key, object| match serde_json::from_slice::<Delivery>(&object.bytes) {
                Ok(delivery) if key == delivery_key(delivery.channel, delivery.change.id) => {
                    Ok(Versioned {
                        record: Some(delivery),
                        version: object.version,
                    })
                }
                Ok(delivery) => Err(format!(
                    "it holds the delivery of change {} to channel {}",
                    delivery.change.id, delivery.channel
                )),
                Err(err) => Err(format!("not a delivery: {err}")),
            },
        )
        .await?;
        listing.items.sort_by_key(|item| {
            item.record
                .as_ref()
                .map(|delivery| (delivery.queued_at, delivery.change.id))
        });
        Ok(listing)
    }

    async fn delete_delivery(&self, channel: Uuid, change: Uuid) -> Result<bool, StoreError> {
        self.delete(&delivery_key(channel, change)).await
    }
}
