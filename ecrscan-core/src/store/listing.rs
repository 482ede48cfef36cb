//! Reading every listed object of one kind: what survives one bad object.

use futures::StreamExt;

use super::{Listing, ObjectStore, RecordKind, Skipped, StoreError, StoredObject};

/// How many objects a listing reads at once.
const READ_CONCURRENCY: usize = 16;

/// Reads `keys` (at most `max_bytes` each, concurrently) and parses each
/// object (its key, bytes and version) with `parse`, adding to `listing`: an object that cannot be read, or
/// parsed, is skipped, logged and reported; one deleted meanwhile is left
/// out. When objects were listed and none could be read at all, the listing
/// is [`StoreError::NothingReadable`]. The items come in no particular order.
pub(super) async fn read_listed<S, T>(
    store: &S,
    keys: Vec<String>,
    max_bytes: u64,
    kind: RecordKind,
    mut listing: Listing<T>,
    parse: impl Fn(&str, StoredObject) -> Result<T, String> + Sync,
) -> Result<Listing<T>, StoreError>
where
    S: ObjectStore + ?Sized,
{
    let mut reads = futures::stream::iter(keys)
        .map(|key| async move {
            let read = store.get(&key, max_bytes).await;
            (key, read)
        })
        .buffer_unordered(READ_CONCURRENCY);
    let mut read_any = false;
    let skip = |listing: &mut Listing<T>, key: String, reason: String, unreadable: bool| {
        tracing::warn!(store = %store.describe(), %key, %kind, %reason, "skipping an object");
        listing.skipped.push(Skipped {
            key,
            reason,
            unreadable,
        });
    };
    while let Some((key, read)) = reads.next().await {
        match read {
            Ok(Some(object)) => {
                read_any = true;
                match parse(&key, object) {
                    Ok(item) => listing.items.push(item),
                    Err(reason) => skip(&mut listing, key, reason, false),
                }
            }
            // Deleted between the listing and the read.
            Ok(None) => {}
            Err(err @ StoreError::TooLarge { .. }) => {
                skip(&mut listing, key, err.to_string(), false)
            }
            Err(err) => skip(&mut listing, key, err.to_string(), true),
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
            store: store.describe(),
            kind,
            failed: unreadable,
            first,
        });
    }
    listing.skipped.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(listing)
}
