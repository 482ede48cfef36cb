//! The local stores run the shared conformance suite, plus what only a
//! directory can show: foreign files, corrupt files and interrupted writes.

use std::sync::Arc;

use ecrscan_core::conformance::{
    objects_conform, results_round_trip, run_all_shared, sample_config,
};
use ecrscan_core::{ConfigStore, DirStore, MemoryStore, StoreError};

#[tokio::test]
async fn memory_store_conforms() {
    run_all_shared(Arc::new(MemoryStore::new())).await;
    results_round_trip(&MemoryStore::new()).await;
    objects_conform(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn dir_store_keeps_results_beside_configs_without_listing_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::open(dir.path()).await.unwrap();
    results_round_trip(&store).await;
    assert!(
        dir.path()
            .join("results/us-west-2/123456789012/test/ubuntu/@digests")
            .is_dir()
    );
    let config = sample_config("test/ubuntu", &[], 1);
    store.put(&config).await.unwrap();
    assert_eq!(store.list().await.unwrap().items, vec![config]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dir_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    run_all_shared(Arc::new(DirStore::open(dir.path()).await.unwrap())).await;
    objects_conform(Arc::new(DirStore::open(dir.path()).await.unwrap())).await;
}

#[tokio::test]
async fn dir_store_creates_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/configs");
    let store = DirStore::open(&nested).await.unwrap();
    let config = sample_config("test/ubuntu", &["16.04"], 1);
    store.put(&config).await.unwrap();
    assert!(nested.join(format!("{}.json", config.id)).is_file());
}

#[tokio::test]
async fn dir_store_writes_the_samples_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::open(dir.path()).await.unwrap();
    let config = sample_config("test/ubuntu", &["16.04", "latest"], 1_569_927_812);
    store.put(&config).await.unwrap();
    let written = std::fs::read_to_string(dir.path().join(format!("{}.json", config.id))).unwrap();
    assert_eq!(
        written,
        format!(
            r#"{{"id":"{}","created":"1569927812","region":"us-west-2","registry":"123456789012","repository":"test/ubuntu","tags":["16.04","latest"]}}"#,
            config.id
        )
    );
}

#[tokio::test]
async fn dir_store_lists_around_foreign_corrupt_and_half_written_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::open(dir.path()).await.unwrap();
    let good = sample_config("test/ubuntu", &[], 5);
    store.put(&good).await.unwrap();
    // A config written by the AWS sample: created as a string, tags null.
    let sample_id = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
    std::fs::write(
        dir.path().join(format!("{sample_id}.json")),
        format!(r#"{{"id":"{sample_id}","created":"1569927812","region":"eu-central-1","registry":"123456789012","repository":"amazonlinux","tags":null}}"#),
    )
    .unwrap();
    std::fs::write(dir.path().join("README.txt"), "not a config").unwrap();
    std::fs::write(dir.path().join("broken.json"), "{\"id\": ").unwrap();
    std::fs::write(dir.path().join("array.json"), "[1,2,3]").unwrap();
    std::fs::write(
        dir.path().join("hostile.json"),
        r#"{"id":"3f2504e0-4f89-41d3-9a0c-0305e82c3302","created":"1","region":"us-west-2/../../x","registry":"123456789012","repository":"a/b"}"#,
    )
    .unwrap();
    // What a crash in the middle of a put leaves behind.
    std::fs::write(dir.path().join(format!(".tmp-{}-x", good.id)), "{\"id\":").unwrap();
    std::fs::create_dir(dir.path().join("subdir.json")).unwrap();

    let listed = store.list().await.unwrap().items;
    let ids: Vec<String> = listed.iter().map(|c| c.id.to_string()).collect();
    // Sorted by created: ours (5) before the sample's (1569927812).
    assert_eq!(ids, vec![good.id.to_string(), sample_id.to_string()]);
    assert!(listed[1].tags.is_empty());
    assert_eq!(listed[1].region, "eu-central-1");
}

#[tokio::test]
async fn dir_store_get_of_a_corrupt_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::open(dir.path()).await.unwrap();
    let id = uuid::Uuid::new_v4();
    std::fs::write(dir.path().join(format!("{id}.json")), "garbage").unwrap();
    match store.get(id).await {
        Err(StoreError::Corrupt { key, message, .. }) => {
            assert!(key.ends_with(&format!("{id}.json")));
            assert!(message.contains("invalid JSON"), "{message}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // A file whose id doesn't match its name is not that config.
    let other = sample_config("test/ubuntu", &[], 1);
    std::fs::write(dir.path().join(format!("{id}.json")), other.to_json()).unwrap();
    assert!(matches!(
        store.get(id).await,
        Err(StoreError::Corrupt { .. })
    ));
}

#[cfg(unix)]
#[tokio::test]
async fn dir_store_reports_an_unwritable_directory_and_keeps_the_old_config() {
    use std::os::unix::fs::PermissionsExt;
    // Root writes whatever the permissions say: the test runs as nobody then.
    if ecrscan_core::testing::rerun_unprivileged_if_root(
        "local_stores::dir_store_reports_an_unwritable_directory_and_keeps_the_old_config",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::open(dir.path()).await.unwrap();
    let mut config = sample_config("test/ubuntu", &["1"], 1);
    store.put(&config).await.unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o500)).unwrap();
    assert!(
        std::fs::write(dir.path().join("probe"), "x").is_err(),
        "the directory is read-only for this user"
    );
    config.tags = vec!["2".into()];
    let result = store.put(&config).await;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let err = result.unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot write"), "{err}");
    assert_eq!(store.get(config.id).await.unwrap().tags, ["1"]);
}

#[tokio::test]
async fn dir_store_skips_a_config_stored_under_another_ids_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::open(dir.path()).await.unwrap();
    let config = sample_config("test/ubuntu", &[], 1);
    store.put(&config).await.unwrap();
    std::fs::write(dir.path().join("backup.json"), config.to_json()).unwrap();
    std::fs::write(
        dir.path().join(format!("{}.json", uuid::Uuid::new_v4())),
        config.to_json(),
    )
    .unwrap();
    assert_eq!(store.list().await.unwrap().items, vec![config]);
}

/// A FIFO named like a config would block a reader forever, and a symbolic
/// link to `/dev/zero` would be read until memory runs out; an oversized
/// file would be read whole. Listings skip all three and gets refuse them,
/// promptly.
#[cfg(unix)]
#[tokio::test]
async fn dir_store_neither_hangs_on_a_fifo_nor_reads_dev_zero_nor_an_oversized_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::open(dir.path()).await.unwrap();
    let good = sample_config("test/ubuntu", &[], 5);
    store.put(&good).await.unwrap();

    let fifo_id = uuid::Uuid::new_v4();
    let fifo = dir.path().join(format!("{fifo_id}.json"));
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", fifo.display());

    let zero_id = uuid::Uuid::new_v4();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join(format!("{zero_id}.json"))).unwrap();

    let large_id = uuid::Uuid::new_v4();
    let mut large = format!(
        r#"{{"id":"{large_id}","created":"1","region":"us-west-2","registry":"123456789012","repository":"big","tags":["#
    );
    while large.len() <= 100 * 1024 {
        large.push_str(r#""tag","#);
    }
    large.push_str(r#""last"]}"#);
    std::fs::write(dir.path().join(format!("{large_id}.json")), &large).unwrap();

    let bounded = std::time::Duration::from_secs(20);
    let listing = tokio::time::timeout(bounded, store.list())
        .await
        .expect("the listing returns instead of blocking on the FIFO")
        .unwrap();
    assert_eq!(listing.items, vec![good.clone()]);
    let skipped: Vec<&str> = listing.skipped.iter().map(|s| s.key.as_str()).collect();
    assert!(
        skipped
            .iter()
            .any(|key| key.contains(&large_id.to_string())),
        "the oversized config is reported as skipped: {skipped:?}"
    );

    for id in [fifo_id, zero_id] {
        let got = tokio::time::timeout(bounded, store.get(id))
            .await
            .expect("a get returns instead of blocking or reading forever");
        assert!(
            matches!(got, Err(StoreError::NotFound { .. })),
            "{id} is not a regular file, so not a config: {got:?}"
        );
    }
    let got = tokio::time::timeout(bounded, store.get(large_id))
        .await
        .unwrap();
    match got {
        Err(StoreError::Corrupt { message, .. }) => {
            assert!(message.contains("larger than"), "{message}")
        }
        other => panic!("expected the oversized config refused, got {other:?}"),
    }
    // The store still works around them.
    assert_eq!(store.get(good.id).await.unwrap(), good);
}
