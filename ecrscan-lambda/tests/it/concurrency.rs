//! 200 concurrent `POST /configs` with interleaved deletes (each by two
//! clients at once) and listings, through the API, on the local-directory
//! store and the S3 store (moto): every listing answers with whole configs,
//! and the final listing is exactly the configs added and not deleted.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use ecrscan_core::testing::MotoServer;
use ecrscan_core::{ConfigStore, DirStore, MockScanBackend, S3Store};
use ecrscan_lambda::api::{AppState, app};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn storm(store: Arc<dyn ConfigStore>) {
    let router = app(AppState::new(
        Arc::clone(&store) as Arc<dyn ConfigStore>,
        Arc::new(MockScanBackend::new()),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let router = router.clone();
        tasks.spawn(async move {
            let body = format!(r#"{{"region":"us-west-2","registry":"123456789012","repository":"fleet/service-{i}","tags":["v{i}"]}}"#);
            let request = Request::post("/configs").header(header::CONTENT_TYPE, "application/json").body(Body::from(body)).unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["id"].as_str().unwrap().to_owned();
            // Every third config is deleted again, by two clients at once,
            // while the others are still being added.
            let deleted = i % 3 == 0;
            if deleted {
                let delete = || {
                    let request = Request::delete(format!("/configs/{id}")).body(Body::empty()).unwrap();
                    router.clone().oneshot(request)
                };
                let (first, second) = tokio::join!(delete(), delete());
                let statuses = [first.unwrap().status(), second.unwrap().status()];
                assert!(statuses.contains(&StatusCode::NO_CONTENT), "{statuses:?}");
                assert!(
                    statuses.iter().all(|s| *s == StatusCode::NO_CONTENT || *s == StatusCode::NOT_FOUND),
                    "{statuses:?}"
                );
            }
            (id, deleted)
        });
    }
    // Listings all the while: each answers, with whole configs only.
    let mut listings = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let router = router.clone();
        listings.spawn(async move {
            let response = router
                .oneshot(Request::get("/configs").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let configs: Vec<serde_json::Value> =
                serde_json::from_slice(&body).expect("a JSON array of configs");
            for config in configs {
                let repository = config["repository"].as_str().expect("a whole config");
                let n = repository
                    .strip_prefix("fleet/service-")
                    .expect("one of the storm's");
                assert_eq!(config["tags"], serde_json::json!([format!("v{n}")]));
            }
        });
    }
    while let Some(joined) = listings.join_next().await {
        joined.expect("no listing panicked");
    }
    let mut expected = BTreeSet::new();
    while let Some(joined) = tasks.join_next().await {
        let (id, deleted) = joined.expect("no task panicked");
        if !deleted {
            expected.insert(id);
        }
    }
    let listed: BTreeSet<String> = store
        .list()
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(listed.len(), 133);
    assert_eq!(listed, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_and_deletes_on_the_directory_store() {
    let dir = tempfile::tempdir().unwrap();
    storm(Arc::new(DirStore::open(dir.path()).await.unwrap())).await;
    let leftovers = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(".tmp-"))
        .count();
    assert_eq!(leftovers, 0, "no temporary files left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_and_deletes_on_the_s3_store() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_bucket("storm").await;
    storm(Arc::new(S3Store::new(&moto.sdk_config(), "storm", ""))).await;
}
