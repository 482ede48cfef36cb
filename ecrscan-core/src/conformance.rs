//! The conformance suites of the store traits: each trait's contract as code.
//!
//! Every store implementation runs [`run_all`] (or the single checks) from
//! its own tests, against an empty store:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let store = ecrscan_core::MemoryStore::new();
//! ecrscan_core::conformance::run_all(&store).await;
//! ecrscan_core::conformance::objects_conform(std::sync::Arc::new(store)).await;
//! # }
//! ```
//!
//! The checks panic (like `assert!`) when the store breaks the contract.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use uuid::Uuid;

use crate::config::{ConfigSpec, ScanConfig};
use crate::store::{
    ChannelStore, ConfigStore, ObjectStore, PutMode, ResultStore, Store, StoreError, Version,
};

/// A valid config with the given repository, created at `created` Unix seconds.
pub fn sample_config(repository: &str, tags: &[&str], created: i64) -> ScanConfig {
    let spec = ConfigSpec::new(
        "us-west-2",
        "123456789012",
        repository,
        tags.iter().copied(),
    )
    .expect("the conformance suite's sample config is valid");
    let now = Utc
        .timestamp_opt(created, 0)
        .single()
        .expect("a valid timestamp");
    ScanConfig::create(spec, now)
}

/// Runs every check of both record traits, in order. The store must be
/// empty at the start; its configs are gone again at the end.
pub async fn run_all(store: &dyn Store) {
    run_configs(store).await;
    results_round_trip(store).await;
    channels_round_trip(store).await;
    suppressions_round_trip(store).await;
}

/// The [`SuppressionStore`](crate::store::SuppressionStore) contract: rules
/// round trip (expired ones too), list sorted by `created`, and unknown
/// ids are `NotFound`. The store has no rules at the start and none at the
/// end.
pub async fn suppressions_round_trip(store: &dyn crate::store::SuppressionStore) {
    use crate::suppress::{Expiry, PackageScope, RuleInput, SuppressionSpec};
    let at = |seconds: i64| {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0)
            .single()
            .expect("a valid timestamp")
    };
    assert!(
        store
            .list_suppressions()
            .await
            .expect("list")
            .items
            .is_empty()
    );
    let rule = |vulnerability: &str, created: i64, expires: Expiry| {
        SuppressionSpec::new(
            RuleInput {
                vulnerability: vulnerability.into(),
                repository: Some("prod/*".into()),
                package: Some(PackageScope::parse("openssl@3.0.2")),
                reason: Some("not reachable".into()),
                expires: Some(expires),
                ..RuleInput::default()
            },
            at(created),
        )
        .expect("a valid rule")
        .create()
    };
    let mut later = rule("CVE-2026-0002", 20, Expiry::Never);
    later.created = at(20);
    // Expired by now: still kept and listed.
    let mut earlier = rule("CVE-2026-0001", 10, Expiry::At(at(15)));
    earlier.created = at(10);
    store.put_suppression(&later).await.expect("put");
    store.put_suppression(&earlier).await.expect("put");
    assert_eq!(store.get_suppression(later.id).await.expect("get"), later);
    assert_eq!(
        store.list_suppressions().await.expect("list").items,
        vec![earlier.clone(), later.clone()],
        "sorted by created"
    );
    let mut renewed = earlier.clone();
    renewed.expires = Expiry::Never;
    store.put_suppression(&renewed).await.expect("put replaces");
    assert_eq!(
        store.get_suppression(earlier.id).await.expect("get"),
        renewed
    );
    let unknown = Uuid::new_v4();
    assert!(
        store
            .get_suppression(unknown)
            .await
            .is_err_and(|e| e.is_not_found())
    );
    assert!(
        store
            .delete_suppression(unknown)
            .await
            .is_err_and(|e| e.is_not_found())
    );
    store.delete_suppression(later.id).await.expect("delete");
    store.delete_suppression(earlier.id).await.expect("delete");
    assert!(
        store
            .list_suppressions()
            .await
            .expect("list")
            .items
            .is_empty()
    );
}

/// The [`ChannelStore`](crate::store::ChannelStore) contract: channels round
/// trip, list sorted, and unknown ids are `NotFound`. The store has no
/// channels at the start and none at the end.
pub async fn channels_round_trip(store: &dyn crate::store::ChannelStore) {
    use crate::channels::{Channel, Target};
    use crate::severity::Severity;
    let at = |seconds: i64| {
        Utc.timestamp_opt(seconds, 0)
            .single()
            .expect("a valid timestamp")
    };
    assert!(store.list_channels().await.expect("list").items.is_empty());
    let webhook = Channel::create(
        Target::Webhook {
            url: "https://hooks.example.com/ecrscan".into(),
            secret: "env:ECRSCAN_HOOK_SECRET".parse().expect("a reference"),
        },
        Severity::High,
        false,
        at(2),
    )
    .expect("a valid channel");
    let sns = Channel::create(
        Target::Sns {
            topic_arn: "arn:aws:sns:us-west-2:123456789012:ecrscan".into(),
        },
        Severity::Critical,
        true,
        at(1),
    )
    .expect("a valid channel");
    store.put_channel(&webhook).await.expect("put");
    store.put_channel(&sns).await.expect("put");
    assert_eq!(store.get_channel(webhook.id).await.expect("get"), webhook);
    assert_eq!(
        store.list_channels().await.expect("list").items,
        vec![sns.clone(), webhook.clone()],
        "sorted by created"
    );
    let unknown = Uuid::new_v4();
    assert!(
        store
            .get_channel(unknown)
            .await
            .is_err_and(|e| e.is_not_found())
    );
    assert!(
        store
            .delete_channel(unknown)
            .await
            .is_err_and(|e| e.is_not_found())
    );
    deliveries_round_trip(store, sns.id).await;
    store.delete_channel(webhook.id).await.expect("delete");
    store.delete_channel(sns.id).await.expect("delete");
    assert!(store.list_channels().await.expect("list").items.is_empty());
}

/// Deliveries: queued once (create-only), claimed and settled by
/// compare-and-swap, listed oldest first per channel, deleted.
async fn deliveries_round_trip(store: &dyn ChannelStore, channel: Uuid) {
    use crate::deliveries::{Delivery, DeliveryState, RetryPolicy};

    let at = |seconds: i64| {
        chrono::DateTime::<chrono::Utc>::from_timestamp(1_800_000_000 + seconds, 0).expect("a time")
    };
    assert!(
        store
            .list_deliveries(channel)
            .await
            .expect("list")
            .items
            .is_empty()
    );
    let mut first = crate::notify::messages::test_change(at(0));
    first.id = Uuid::from_u128(1);
    let mut second = first.clone();
    second.id = Uuid::from_u128(2);
    let later = Delivery::queue(channel, second, at(20));
    let earlier = Delivery::queue(channel, first, at(10));
    store
        .put_delivery(&later, PutMode::Create)
        .await
        .expect("queue");
    let version = store
        .put_delivery(&earlier, PutMode::Create)
        .await
        .expect("queue");
    assert!(matches!(
        store.put_delivery(&earlier, PutMode::Create).await,
        Err(StoreError::Conflict { .. })
    ));
    let listed = store.list_deliveries(channel).await.expect("list");
    let queued: Vec<_> = listed
        .items
        .iter()
        .filter_map(|v| v.record.as_ref().map(|d| d.change.id))
        .collect();
    assert_eq!(
        queued,
        [Uuid::from_u128(1), Uuid::from_u128(2)],
        "oldest queued first"
    );
    assert_eq!(listed.items[0].version, version);
    assert!(
        store
            .list_deliveries(Uuid::new_v4())
            .await
            .expect("list")
            .items
            .is_empty(),
        "per channel"
    );

    let claimed = earlier.claimed(at(30), &RetryPolicy::default());
    let claimed_version = store
        .put_delivery(&claimed, PutMode::Update(version.clone()))
        .await
        .expect("claim");
    assert!(
        matches!(
            store.put_delivery(&claimed, PutMode::Update(version)).await,
            Err(StoreError::Conflict { .. })
        ),
        "a second claim with the old version loses"
    );
    let settled = claimed.after(1, Ok(()), at(31), &RetryPolicy::default());
    store
        .put_delivery(&settled, PutMode::Update(claimed_version))
        .await
        .expect("settle");
    let listed = store.list_deliveries(channel).await.expect("list");
    assert_eq!(
        listed.items[0].record.as_ref().map(|d| d.state),
        Some(DeliveryState::Delivered)
    );
    for id in [1, 2] {
        assert!(
            store
                .delete_delivery(channel, Uuid::from_u128(id))
                .await
                .expect("delete")
        );
    }
    assert!(
        !store
            .delete_delivery(channel, Uuid::from_u128(1))
            .await
            .expect("delete")
    );
    assert!(
        store
            .list_deliveries(channel)
            .await
            .expect("list")
            .items
            .is_empty()
    );
}

/// Runs every [`ConfigStore`] check, in order. The store must be empty at
/// the start; it is empty again at the end.
pub async fn run_configs(store: &dyn ConfigStore) {
    empty_store_lists_nothing(store).await;
    put_then_get_returns_the_config(store).await;
    put_replaces_a_config_with_the_same_id(store).await;
    unknown_ids_are_not_found(store).await;
    delete_removes_and_then_is_not_found(store).await;
    list_is_sorted_by_created_then_id(store).await;
    every_tag_selection_round_trips(store).await;
}

/// Runs [`run_all`], then [`concurrent_puts_and_deletes`] and
/// [`contended_writes_and_listings`] on a shared store.
pub async fn run_all_shared(store: Arc<dyn Store>) {
    run_all(store.as_ref()).await;
    concurrent_puts_and_deletes(Arc::clone(&store) as Arc<dyn ConfigStore>).await;
    contended_writes_and_listings(store).await;
}

/// An empty store lists nothing.
pub async fn empty_store_lists_nothing(store: &dyn ConfigStore) {
    let listed = store.list().await.expect("list of an empty store").items;
    assert!(
        listed.is_empty(),
        "expected an empty store, listed {listed:?}"
    );
}

/// `get` returns exactly what `put` stored.
pub async fn put_then_get_returns_the_config(store: &dyn ConfigStore) {
    let config = sample_config("test/ubuntu", &["16.04", "latest"], 1_569_927_812);
    store.put(&config).await.expect("put");
    assert_eq!(store.get(config.id).await.expect("get after put"), config);
    store.delete(config.id).await.expect("delete");
}

/// A second `put` with the same id replaces the first.
pub async fn put_replaces_a_config_with_the_same_id(store: &dyn ConfigStore) {
    let mut config = sample_config("test/centos", &["7"], 1_569_927_812);
    store.put(&config).await.expect("first put");
    config.tags = vec!["7".into(), "8".into()];
    store.put(&config).await.expect("second put");
    assert_eq!(store.get(config.id).await.expect("get").tags, ["7", "8"]);
    assert_eq!(store.list().await.expect("list").items.len(), 1);
    store.delete(config.id).await.expect("delete");
}

/// `get` and `delete` of an id never stored are `NotFound` with that id.
pub async fn unknown_ids_are_not_found(store: &dyn ConfigStore) {
    let id = Uuid::new_v4();
    match store.get(id).await {
        Err(StoreError::NotFound {
            kind: crate::store::RecordKind::Config,
            id: missing,
        }) => assert_eq!(missing, id.to_string()),
        other => panic!("get of an unknown id: expected NotFound, got {other:?}"),
    }
    match store.delete(id).await {
        Err(StoreError::NotFound {
            kind: crate::store::RecordKind::Config,
            id: missing,
        }) => assert_eq!(missing, id.to_string()),
        other => panic!("delete of an unknown id: expected NotFound, got {other:?}"),
    }
}

/// After `delete`, the config is gone from `get` and `list`, and a second
/// `delete` is `NotFound`.
pub async fn delete_removes_and_then_is_not_found(store: &dyn ConfigStore) {
    let keep = sample_config("keep/me", &[], 10);
    let remove = sample_config("remove/me", &[], 20);
    store.put(&keep).await.expect("put");
    store.put(&remove).await.expect("put");
    store.delete(remove.id).await.expect("delete");
    assert!(matches!(
        store.get(remove.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete(remove.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.list().await.expect("list").items, vec![keep.clone()]);
    store.delete(keep.id).await.expect("delete");
}

/// `list` is sorted by `created`, then `id`.
pub async fn list_is_sorted_by_created_then_id(store: &dyn ConfigStore) {
    let mut configs = vec![
        sample_config("c/third", &[], 300),
        sample_config("a/first", &[], 100),
        sample_config("b/second-a", &[], 200),
        sample_config("b/second-b", &[], 200),
    ];
    for config in &configs {
        store.put(config).await.expect("put");
    }
    configs.sort_by_key(|config| (config.created, config.id));
    assert_eq!(store.list().await.expect("list").items, configs);
    assert_eq!(store.list().await.expect("second list").items, configs);
    for config in &configs {
        store.delete(config.id).await.expect("delete");
    }
}

/// Configs with no tags ("every tagged image") and with tags survive a
/// round trip unchanged.
pub async fn every_tag_selection_round_trips(store: &dyn ConfigStore) {
    let all = sample_config("amazonlinux", &[], 1);
    let listed = sample_config("test/ubuntu", &["16.04", "latest", "v_1.2-3"], 2);
    store.put(&all).await.expect("put");
    store.put(&listed).await.expect("put");
    assert_eq!(store.get(all.id).await.expect("get"), all);
    assert_eq!(store.get(listed.id).await.expect("get"), listed);
    store.delete(all.id).await.expect("delete");
    store.delete(listed.id).await.expect("delete");
}

/// 64 concurrent puts and, interleaved, deletes of every other one: the
/// final listing is exactly the configs put and not deleted.
pub async fn concurrent_puts_and_deletes(store: Arc<dyn ConfigStore>) {
    let configs: Vec<ScanConfig> = (0..64)
        .map(|i| sample_config(&format!("concurrent/repo-{i}"), &["latest"], 1000 + i))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, config) in configs.iter().cloned().enumerate() {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            store.put(&config).await.expect("concurrent put");
            if i % 2 == 1 {
                store.delete(config.id).await.expect("concurrent delete");
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("a concurrent task panicked");
    }
    let expected: BTreeSet<Uuid> = configs.iter().step_by(2).map(|c| c.id).collect();
    let listed: BTreeSet<Uuid> = store
        .list()
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, expected);
    for id in expected {
        store.delete(id).await.expect("delete");
    }
}

/// Writers contending for the same keys while readers list: 8 configs,
/// each rewritten by 4 writers at once with their own tags, and listings
/// all the while. Every listing succeeds, skips nothing, and shows each
/// config whole — as first stored or as one writer wrote it, never a mix —
/// and the last state of each config is one writer's, whole.
pub async fn contended_writes_and_listings(store: Arc<dyn ConfigStore>) {
    const CONFIGS: usize = 8;
    const WRITERS: usize = 4;
    let originals: Vec<ScanConfig> = (0..CONFIGS)
        .map(|i| sample_config(&format!("contended/repo-{i}"), &["v0"], 2000 + i as i64))
        .collect();
    for config in &originals {
        store.put(config).await.expect("put before the contention");
    }
    let version = |config: &ScanConfig, writer: usize| {
        let mut written = config.clone();
        written.tags = (0..=writer)
            .map(|n| format!("writer-{writer}-tag-{n}"))
            .collect();
        written
    };
    let acceptable = |listed: &ScanConfig| {
        originals.iter().any(|original| {
            original.id == listed.id
                && (listed == original
                    || (0..WRITERS).any(|writer| *listed == version(original, writer)))
        })
    };
    let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let reader = {
        let (store, writing) = (Arc::clone(&store), Arc::clone(&writing));
        tokio::spawn(async move {
            let mut listings = Vec::new();
            loop {
                let listing = store.list().await.expect("a listing while writers write");
                listings.push(listing);
                if !writing.load(std::sync::atomic::Ordering::SeqCst) {
                    return listings;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut writers = tokio::task::JoinSet::new();
    for round in 0..2 {
        for config in &originals {
            for writer in 0..WRITERS {
                let store = Arc::clone(&store);
                let written = version(config, (writer + round) % WRITERS);
                writers.spawn(async move { store.put(&written).await.expect("a contended put") });
            }
        }
    }
    while let Some(joined) = writers.join_next().await {
        joined.expect("a writer panicked");
    }
    writing.store(false, std::sync::atomic::Ordering::SeqCst);
    let listings = reader.await.expect("the reader panicked");
    assert!(!listings.is_empty());
    for listing in &listings {
        assert!(
            listing.skipped.is_empty(),
            "a listing during writes skipped {:?}",
            listing.skipped
        );
        let contended: Vec<&ScanConfig> = listing
            .items
            .iter()
            .filter(|c| originals.iter().any(|o| o.id == c.id))
            .collect();
        assert_eq!(contended.len(), CONFIGS, "every config listed, once");
        for config in contended {
            assert!(acceptable(config), "a mixed or unknown config: {config:?}");
        }
    }
    for original in &originals {
        let last = store
            .get(original.id)
            .await
            .expect("get after the contention");
        assert!(
            (0..WRITERS).any(|writer| last == version(original, writer)),
            "the last state is one writer's: {last:?}"
        );
        store.delete(original.id).await.expect("delete");
    }
}

/// The [`ResultStore`](crate::store::ResultStore) contract: records round
/// trip with versions, create-only and compare-and-swap writes refuse what
/// they must, keys are per repository and digest, and invalid parts are
/// refused rather than turned into keys.
pub async fn results_round_trip(store: &dyn ResultStore) {
    use crate::backend::{Image, Resolution};
    use crate::config::RepositoryRef;
    use crate::finding::{DigestScan, Finding, ScanStatus};
    use crate::records::{DigestRecord, RecordedResolution, RecordedScan, Rollup, TagRecord};
    use crate::severity::Severity;

    let repository = RepositoryRef {
        region: "us-west-2".into(),
        registry: "123456789012".into(),
        repository: "test/ubuntu".into(),
    };
    let digest = format!("sha256:{}", "ab".repeat(32));
    let at = |seconds: i64| {
        Utc.timestamp_opt(seconds, 0)
            .single()
            .expect("a valid timestamp")
    };
    assert!(
        store
            .get_digest(&repository, &digest)
            .await
            .expect("get_digest")
            .is_none()
    );
    let mut scan = DigestScan::without_findings(ScanStatus::Complete, Some("done".into()));
    scan.findings
        .push(Finding::new("CVE-2019-5188", Severity::Medium));
    scan.severity_counts.add(Severity::Medium, 1);
    let first = DigestRecord {
        results: vec![RecordedScan::new(scan, at(100))],
        scan_started_at: None,
        findings_changed_at: Some(at(100)),
        suppressed: Vec::new(),
        revision: 1,
    };
    let version = store
        .put_digest(&repository, &digest, &first, PutMode::Create)
        .await
        .expect("put_digest");
    let read = store
        .get_digest(&repository, &digest)
        .await
        .expect("get_digest")
        .expect("the record just put");
    assert_eq!(read.record.as_ref(), Some(&first));
    assert_eq!(read.version, version);
    assert!(
        matches!(
            store
                .put_digest(&repository, &digest, &first, PutMode::Create)
                .await,
            Err(StoreError::Conflict { .. })
        ),
        "a create-only write of an existing record is a conflict"
    );
    let mut second = first.clone();
    second.started(at(200));
    let newer = store
        .put_digest(
            &repository,
            &digest,
            &second,
            PutMode::Update(version.clone()),
        )
        .await
        .expect("a compare-and-swap write at the current version");
    assert!(
        matches!(
            store
                .put_digest(&repository, &digest, &first, PutMode::Update(version))
                .await,
            Err(StoreError::Conflict { .. })
        ),
        "a compare-and-swap write at a stale version is a conflict"
    );
    let read = store
        .get_digest(&repository, &digest)
        .await
        .expect("get_digest")
        .expect("the record");
    assert_eq!(read.record, Some(second.clone()));
    assert_eq!(read.version, newer);
    store
        .put_digest(&repository, &digest, &first, PutMode::Overwrite)
        .await
        .expect("overwrite");
    assert_eq!(
        store
            .get_digest(&repository, &digest)
            .await
            .expect("get_digest")
            .and_then(|v| v.record),
        Some(first.clone())
    );
    let other_repository = RepositoryRef {
        repository: "test/centos".into(),
        ..repository.clone()
    };
    assert!(
        store
            .get_digest(&other_repository, &digest)
            .await
            .expect("get_digest")
            .is_none()
    );
    for hostile in [
        "../../etc/passwd",
        "sha256:../../x",
        "sha256:",
        ":abc",
        "sha256:zz",
    ] {
        assert!(
            matches!(
                store
                    .put_digest(&repository, hostile, &first, PutMode::Overwrite)
                    .await,
                Err(StoreError::InvalidKey { .. })
            ),
            "{hostile}"
        );
    }
    let escaping = RepositoryRef {
        repository: "../../../etc".into(),
        ..repository.clone()
    };
    assert!(matches!(
        store.get_digest(&escaping, &digest).await,
        Err(StoreError::InvalidKey { .. })
    ));

    assert!(
        store
            .get_tags(&repository)
            .await
            .expect("get_tags")
            .is_none()
    );
    let resolution = Resolution {
        images: vec![Image {
            digest: digest.clone(),
            tags: vec!["16.04".into(), "latest".into()],
            ..Image::default()
        }],
        missing_tags: vec![],
    };
    let mut tags_record = TagRecord::default();
    tags_record.observe(&resolution, at(300));
    store
        .put_tags(&repository, &tags_record, PutMode::Create)
        .await
        .expect("put_tags");
    assert_eq!(
        store
            .get_tags(&repository)
            .await
            .expect("get_tags")
            .and_then(|v| v.record),
        Some(tags_record)
    );

    let tags = vec!["latest".to_owned(), "16.04".to_owned()];
    let recorded = RecordedResolution {
        recorded_at: at(300),
        resolution,
    };
    assert_eq!(
        store
            .get_resolution(&repository, &tags)
            .await
            .expect("get_resolution"),
        None
    );
    store
        .put_resolution(&repository, &tags, &recorded)
        .await
        .expect("put_resolution");
    let same_tags_other_order = vec!["16.04".to_owned(), "latest".to_owned()];
    assert_eq!(
        store
            .get_resolution(&repository, &same_tags_other_order)
            .await
            .expect("get_resolution"),
        Some(recorded.clone())
    );
    assert_eq!(
        store
            .get_resolution(&repository, &[])
            .await
            .expect("get_resolution"),
        None,
        "all tags is another selection"
    );

    assert!(
        store
            .get_rollup(&repository)
            .await
            .expect("get_rollup")
            .is_none()
    );
    let mut rollup = Rollup::default();
    assert!(rollup.merge_digest(&digest, &first));
    assert!(rollup.merge_selection("all", &recorded));
    let version = store
        .put_rollup(&repository, &rollup, PutMode::Create)
        .await
        .expect("put_rollup");
    let read = store
        .get_rollup(&repository)
        .await
        .expect("get_rollup")
        .expect("the rollup just put");
    assert_eq!(read.record.as_ref(), Some(&rollup));
    assert!(
        read.record
            .iter()
            .flat_map(|r| r.digests.values())
            .all(|row| row.results.iter().all(|r| r.scan.findings.is_empty())),
        "a rollup keeps counts, not findings"
    );
    assert!(matches!(
        store
            .put_rollup(&repository, &rollup, PutMode::Create)
            .await,
        Err(StoreError::Conflict { .. })
    ));
    store
        .put_rollup(
            &repository,
            &Rollup::default(),
            PutMode::Update(version.clone()),
        )
        .await
        .expect("a compare-and-swap write at the current version");
    assert!(matches!(
        store
            .put_rollup(&repository, &rollup, PutMode::Update(version))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store.get_rollup(&escaping).await,
        Err(StoreError::InvalidKey { .. })
    ));

    // The finding index: its own object, with the same conditional writes.
    assert!(
        store
            .get_findings(&repository)
            .await
            .expect("get_findings")
            .is_none()
    );
    let mut index = crate::records::FindingIndex::default();
    assert!(index.merge(
        &digest,
        first.revision,
        &crate::records::IndexedFinding::of_latest(&first)
    ));
    let version = store
        .put_findings(&repository, &index, PutMode::Create)
        .await
        .expect("put_findings");
    let read = store
        .get_findings(&repository)
        .await
        .expect("get_findings")
        .expect("the index just put");
    assert_eq!(read.record.as_ref(), Some(&index));
    assert!(
        index
            .findings_of(&digest, None)
            .is_some_and(|findings| findings.len() == 1)
    );
    assert!(matches!(
        store
            .put_findings(
                &repository,
                &index,
                PutMode::Update(Version("stale".into()))
            )
            .await,
        Err(StoreError::Conflict { .. })
    ));
    store
        .put_findings(&repository, &index, PutMode::Update(version))
        .await
        .expect("a compare-and-swap write at the current version");
    assert!(matches!(
        store.get_findings(&escaping).await,
        Err(StoreError::InvalidKey { .. })
    ));
}

/// The [`ObjectStore`] contract: bounded reads, listing of direct children
/// only, deletes that say whether something was there, and create-only and
/// compare-and-swap writes that hold under concurrency (no lost update).
pub async fn objects_conform(store: Arc<dyn ObjectStore>) {
    assert!(
        store
            .get("conformance/a.json", 1024)
            .await
            .expect("get")
            .is_none()
    );
    store
        .put(
            "conformance/a.json",
            b"0123456789".to_vec(),
            PutMode::Overwrite,
        )
        .await
        .expect("put");
    store
        .put(
            "conformance/deeper/b.json",
            b"b".to_vec(),
            PutMode::Overwrite,
        )
        .await
        .expect("put");
    let listed: Vec<String> = store
        .list("conformance/")
        .await
        .expect("list")
        .into_iter()
        .map(|meta| meta.key)
        .collect();
    assert_eq!(listed, ["conformance/a.json"], "direct children only");
    assert!(matches!(
        store.get("conformance/a.json", 9).await,
        Err(StoreError::TooLarge { .. })
    ));
    assert_eq!(
        store
            .get("conformance/a.json", 10)
            .await
            .expect("get")
            .map(|o| o.bytes),
        Some(b"0123456789".to_vec())
    );
    assert!(store.delete("conformance/a.json").await.expect("delete"));
    assert!(!store.delete("conformance/a.json").await.expect("delete"));
    assert!(
        store
            .delete("conformance/deeper/b.json")
            .await
            .expect("delete")
    );

    // Ten writers race to create one object: exactly one wins.
    let creators: Vec<_> = (0..10)
        .map(|writer| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .put(
                        "conformance/once.json",
                        format!("{writer}").into_bytes(),
                        PutMode::Create,
                    )
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for creator in creators {
        match creator.await.expect("the task") {
            Ok(_) => created += 1,
            Err(StoreError::Conflict { .. }) => {}
            Err(err) => panic!("create-only put: {err}"),
        }
    }
    assert_eq!(created, 1, "exactly one create-only write wins");
    assert!(store.delete("conformance/once.json").await.expect("delete"));

    // Compare-and-swap increments from several writers lose no update.
    store
        .put("conformance/counter", b"0".to_vec(), PutMode::Create)
        .await
        .expect("put");
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for _ in 0..5 {
                    loop {
                        let current = store
                            .get("conformance/counter", 64)
                            .await
                            .expect("get")
                            .expect("the counter");
                        let value: u64 = String::from_utf8_lossy(&current.bytes)
                            .parse()
                            .expect("a number");
                        match store
                            .put(
                                "conformance/counter",
                                (value + 1).to_string().into_bytes(),
                                PutMode::Update(current.version),
                            )
                            .await
                        {
                            Ok(_) => break,
                            Err(StoreError::Conflict { .. }) => continue,
                            Err(err) => panic!("compare-and-swap put: {err}"),
                        }
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("the task");
    }
    let total = store
        .get("conformance/counter", 64)
        .await
        .expect("get")
        .expect("the counter");
    assert_eq!(total.bytes, b"40", "8 writers x 5 increments");
    assert!(matches!(
        store
            .put(
                "conformance/missing",
                b"x".to_vec(),
                PutMode::Update(total.version)
            )
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(store.delete("conformance/counter").await.expect("delete"));
}

/// What a [`ScanBackend`](crate::ScanBackend) under test holds, for
/// [`backend_conforms`].
#[derive(Debug, Clone)]
pub struct BackendFixture {
    /// A repository that exists.
    pub repository: crate::config::RepositoryRef,
    /// Every tagged image of it: (digest, its tags). At least one image,
    /// and one image with two tags is best.
    pub images: Vec<(String, Vec<String>)>,
    /// A digest of an untagged image in it, if there is one.
    pub untagged: Option<String>,
    /// A digest never scanned, if the backend can show one.
    pub unscanned: Option<String>,
    /// A repository that does not exist.
    pub missing_repository: crate::config::RepositoryRef,
}

/// The [`ScanBackend`](crate::ScanBackend) contract, against a backend that
/// holds `fixture`: resolutions name each digest once with its sorted tags
/// and never an untagged image; missing tags are listed, not errors; a
/// missing repository is `RepositoryNotFound`; a never-scanned image is
/// `NOT_SCANNED`; starting a scan is accepted, or refused only for the
/// quota or continuous scanning; results list findings most severe first;
/// concurrent calls agree.
pub async fn backend_conforms(backend: &dyn crate::ScanBackend, fixture: &BackendFixture) {
    use crate::backend::BackendError;
    use crate::finding::ScanStatus;

    let all = backend
        .resolve_images(&fixture.repository, &[])
        .await
        .expect("resolve every tagged image");
    let mut expected: Vec<(String, Vec<String>)> = fixture
        .images
        .iter()
        .map(|(digest, tags)| {
            let mut tags = tags.clone();
            tags.sort();
            (digest.clone(), tags)
        })
        .collect();
    expected.sort();
    let resolved: Vec<(String, Vec<String>)> = all
        .images
        .iter()
        .map(|image| (image.digest.clone(), image.tags.clone()))
        .collect();
    assert_eq!(
        resolved, expected,
        "every tagged image, each digest once, sorted"
    );
    assert!(all.missing_tags.is_empty());
    if let Some(untagged) = &fixture.untagged {
        assert!(
            all.images.iter().all(|image| &image.digest != untagged),
            "an untagged image is never selected"
        );
    }

    let (first_digest, first_tags) = &expected[0];
    let asked = vec![
        first_tags[0].clone(),
        "no-such-tag-1".to_owned(),
        "no-such-tag-2".to_owned(),
    ];
    let some = backend
        .resolve_images(&fixture.repository, &asked)
        .await
        .expect("resolve listed tags");
    assert_eq!(
        some.missing_tags,
        ["no-such-tag-1", "no-such-tag-2"],
        "in the order asked"
    );
    assert_eq!(some.images.len(), 1);
    assert_eq!(&some.images[0].digest, first_digest);
    assert_eq!(
        some.images[0].tags,
        [first_tags[0].clone()],
        "only the tags asked for"
    );

    match backend
        .resolve_images(&fixture.missing_repository, &[])
        .await
    {
        Err(BackendError::RepositoryNotFound { repository }) => {
            assert_eq!(repository, fixture.missing_repository);
        }
        other => panic!("a missing repository: expected RepositoryNotFound, got {other:?}"),
    }

    if let Some(unscanned) = &fixture.unscanned {
        let latest = backend
            .scan_result(&fixture.repository, unscanned)
            .await
            .expect("the result of a never-scanned image");
        assert_eq!(latest.scan.status, ScanStatus::NotScanned);
        assert!(latest.scan.findings.is_empty());
    }

    for attempt in ["first", "second"] {
        match backend.start_scan(&fixture.repository, first_digest).await {
            Ok(())
            | Err(BackendError::ScanQuotaExceeded)
            | Err(BackendError::ScanQuotaFreesAt { .. })
            | Err(BackendError::ScanOnPushOnly)
            | Err(BackendError::NotCovered)
            | Err(BackendError::ContinuousScanning) => {}
            Err(err) => panic!("the {attempt} start of a scan: {err}"),
        }
    }

    let latest = backend
        .scan_result(&fixture.repository, first_digest)
        .await
        .expect("the result of a scanned image");
    assert!(
        latest
            .scan
            .findings
            .windows(2)
            .all(|pair| pair[0].severity >= pair[1].severity),
        "findings most severe first"
    );
    let concurrent = futures::future::join_all(
        (0..8).map(|_| backend.scan_result(&fixture.repository, first_digest)),
    )
    .await;
    for result in concurrent {
        let result = result.expect("a concurrent read");
        assert_eq!(result.scan.status, latest.scan.status);
        assert_eq!(result.scan.findings.len(), latest.scan.findings.len());
    }
}

/// A [`SimulatedEcr`](crate::testing::SimulatedEcr) holding a fixture for
/// [`backend_conforms`]: two images (one with two tags, with findings), an
/// untagged one and one never scanned.
pub fn simulated_fixture() -> (crate::testing::SimulatedEcr, BackendFixture) {
    use crate::finding::Finding;
    use crate::severity::Severity;
    let repository = crate::config::RepositoryRef::new("us-west-2", "123456789012", "test/ubuntu")
        .expect("a valid repository");
    let fixture = BackendFixture {
        repository: repository.clone(),
        images: vec![
            ("sha256:aa".into(), vec!["latest".into(), "16.04".into()]),
            ("sha256:bb".into(), vec!["14.04".into()]),
        ],
        untagged: Some("sha256:cc".into()),
        unscanned: Some("sha256:bb".into()),
        missing_repository: crate::config::RepositoryRef::new(
            "us-west-2",
            "123456789012",
            "test/missing",
        )
        .expect("a valid repository"),
    };
    let ecr = crate::testing::SimulatedEcr::new()
        .with_image(&repository, "sha256:aa", &["latest", "16.04"])
        .with_image(&repository, "sha256:bb", &["14.04"])
        .with_image(&repository, "sha256:cc", &[])
        .with_findings(
            "sha256:aa",
            vec![
                Finding::new("CVE-2019-5188", Severity::Medium),
                Finding::new("CVE-2016-2779", Severity::High),
            ],
        );
    (ecr, fixture)
}
