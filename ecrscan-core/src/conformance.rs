//! The [`ConfigStore`] conformance suite: the trait's contract as code.
//!
//! Every store implementation runs [`run_all`] (or the single checks) from
//! its own tests, against an empty store:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let store = ecrscan_core::MemoryStore::new();
//! ecrscan_core::conformance::run_all(&store).await;
//! # }
//! ```
//!
//! The checks panic (like `assert!`) when the store breaks the contract.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use uuid::Uuid;

use crate::config::{ConfigSpec, ScanConfig};
use crate::store::{ConfigStore, StoreError};

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

/// Runs every check, in order. The store must be empty at the start; it is
/// empty again at the end.
pub async fn run_all(store: &dyn ConfigStore) {
    empty_store_lists_nothing(store).await;
    put_then_get_returns_the_config(store).await;
    put_replaces_a_config_with_the_same_id(store).await;
    unknown_ids_are_not_found(store).await;
    delete_removes_and_then_is_not_found(store).await;
    list_is_sorted_by_created_then_id(store).await;
    every_tag_selection_round_trips(store).await;
}

/// Runs [`run_all`] and then [`concurrent_puts_and_deletes`] on a shared store.
pub async fn run_all_shared(store: Arc<dyn ConfigStore>) {
    run_all(store.as_ref()).await;
    concurrent_puts_and_deletes(store).await;
}

/// An empty store lists nothing.
pub async fn empty_store_lists_nothing(store: &dyn ConfigStore) {
    let listed = store.list().await.expect("list of an empty store");
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
    assert_eq!(store.list().await.expect("list").len(), 1);
    store.delete(config.id).await.expect("delete");
}

/// `get` and `delete` of an id never stored are `NotFound` with that id.
pub async fn unknown_ids_are_not_found(store: &dyn ConfigStore) {
    let id = Uuid::new_v4();
    match store.get(id).await {
        Err(StoreError::NotFound { id: missing }) => assert_eq!(missing, id),
        other => panic!("get of an unknown id: expected NotFound, got {other:?}"),
    }
    match store.delete(id).await {
        Err(StoreError::NotFound { id: missing }) => assert_eq!(missing, id),
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
    assert_eq!(store.list().await.expect("list"), vec![keep.clone()]);
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
    assert_eq!(store.list().await.expect("list"), configs);
    assert_eq!(store.list().await.expect("second list"), configs);
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
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, expected);
    for id in expected {
        store.delete(id).await.expect("delete");
    }
}

/// The [`ResultStore`](crate::results::ResultStore) contract: records round
/// trip, replace each other by key, are absent until put, and invalid
/// digests are refused rather than turned into keys.
pub async fn results_round_trip(store: &dyn crate::results::ResultStore) {
    use crate::backend::{DigestScan, Image, Resolution};
    use crate::config::RepositoryRef;
    use crate::finding::{Finding, ScanStatus};
    use crate::results::{RecordedResolution, RecordedScan};
    use crate::severity::Severity;

    let repository = RepositoryRef {
        region: "us-west-2".into(),
        registry: "123456789012".into(),
        repository: "test/ubuntu".into(),
    };
    let digest = format!("sha256:{}", "ab".repeat(32));
    let at = |seconds| {
        Utc.timestamp_opt(seconds, 0)
            .single()
            .expect("a valid timestamp")
    };
    assert_eq!(
        store
            .get_scan(&repository, &digest)
            .await
            .expect("get_scan"),
        None
    );
    let mut scan = DigestScan::without_findings(ScanStatus::Complete, Some("done".into()));
    scan.findings
        .push(Finding::new("CVE-2019-5188", Severity::Medium));
    scan.severity_counts.add(Severity::Medium, 1);
    let first = RecordedScan {
        recorded_at: at(100),
        scan,
    };
    store
        .put_scan(&repository, &digest, &first)
        .await
        .expect("put_scan");
    assert_eq!(
        store
            .get_scan(&repository, &digest)
            .await
            .expect("get_scan"),
        Some(first.clone())
    );
    let second = RecordedScan {
        recorded_at: at(200),
        scan: DigestScan::without_findings(ScanStatus::InProgress, None),
    };
    store
        .put_scan(&repository, &digest, &second)
        .await
        .expect("put_scan");
    assert_eq!(
        store
            .get_scan(&repository, &digest)
            .await
            .expect("get_scan"),
        Some(second)
    );
    let other_repository = RepositoryRef {
        repository: "test/centos".into(),
        ..repository.clone()
    };
    assert_eq!(
        store
            .get_scan(&other_repository, &digest)
            .await
            .expect("get_scan"),
        None
    );
    for hostile in [
        "../../etc/passwd",
        "sha256:../../x",
        "sha256:",
        ":abc",
        "sha256:zz",
    ] {
        assert!(
            store.put_scan(&repository, hostile, &first).await.is_err(),
            "{hostile}"
        );
    }

    let tags = vec!["latest".to_owned(), "16.04".to_owned()];
    let resolution = RecordedResolution {
        recorded_at: at(300),
        resolution: Resolution {
            images: vec![Image {
                digest: digest.clone(),
                tags: vec!["16.04".into(), "latest".into()],
            }],
            missing_tags: vec![],
        },
    };
    assert_eq!(
        store
            .get_resolution(&repository, &tags)
            .await
            .expect("get_resolution"),
        None
    );
    store
        .put_resolution(&repository, &tags, &resolution)
        .await
        .expect("put_resolution");
    let same_tags_other_order = vec!["16.04".to_owned(), "latest".to_owned()];
    assert_eq!(
        store
            .get_resolution(&repository, &same_tags_other_order)
            .await
            .expect("get_resolution"),
        Some(resolution)
    );
    assert_eq!(
        store
            .get_resolution(&repository, &[])
            .await
            .expect("get_resolution"),
        None,
        "all tags is another selection"
    );
}
