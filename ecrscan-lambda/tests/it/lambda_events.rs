//! Recorded API Gateway events, converted by `lambda_http` exactly as in
//! Lambda, reach the right route: REST APIs (v1, whose paths carry the
//! stage) and HTTP APIs (v2, with the `$default` or a named stage).

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::Utc;
use ecrscan_core::{ConfigSpec, ConfigStore, MemoryStore, MockScanBackend, Resolution, ScanConfig};
use ecrscan_lambda::api::{AppState, app};
use ecrscan_lambda::runtime::handle_lambda_request;
use http_body_util::BodyExt;

async fn setup() -> (Arc<MemoryStore>, ScanConfig, axum::Router) {
    let store = Arc::new(MemoryStore::new());
    let config = ScanConfig::create(
        ConfigSpec::new("us-west-2", "123456789012", "test/ubuntu", ["16.04"]).unwrap(),
        Utc::now(),
    );
    store.put(&config).await.unwrap();
    let mut backend = MockScanBackend::new();
    // ECR itself: no summary view.
    backend.expect_summary_view().returning(|_, _| None);
    backend.expect_resolve_images().returning(|_, tags| {
        Ok(Resolution {
            images: vec![],
            missing_tags: tags.to_vec(),
        })
    });
    let router = app(AppState {
        live_backend: Arc::new(MockScanBackend::new()),
        ..AppState::new(store.clone(), Arc::new(backend))
    });
    (store, config, router)
}

async fn invoke(router: &axum::Router, fixture: &str, config: &ScanConfig) -> (StatusCode, String) {
    let path = format!("{}/tests/events/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let event = std::fs::read_to_string(path)
        .unwrap()
        .replace("CONFIG_ID", &config.id.to_string());
    let request = lambda_http::request::from_str(&event).expect("lambda_http converts the event");
    let response = handle_lambda_request(router.clone(), request)
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn rest_api_get_with_stage_in_path() {
    let (_, config, router) = setup().await;
    let (status, body) = invoke(&router, "rest-v1-get-config.json", &config).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["id"], config.id.to_string());
}

#[tokio::test]
async fn rest_api_post_with_base64_body_and_trailing_slash() {
    let (store, config, router) = setup().await;
    let (status, body) = invoke(&router, "rest-v1-post-configs.json", &config).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let repositories: Vec<String> = store
        .list()
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.repository)
        .collect();
    assert!(repositories.contains(&"test/centos".to_owned()));
}

#[tokio::test]
async fn http_api_default_stage_with_query() {
    let (_, config, router) = setup().await;
    let (status, body) = invoke(&router, "http-v2-get-summary.json", &config).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value =
        serde_json::from_str(&body).expect("format=json reached the handler");
    assert_eq!(json["images"][0]["status"], "TAG_NOT_FOUND");
}

#[tokio::test]
async fn http_api_named_stage_delete() {
    let (store, config, router) = setup().await;
    let (status, body) = invoke(&router, "http-v2-delete-config-named-stage.json", &config).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(store.list().await.unwrap().items.is_empty());
}

#[tokio::test]
async fn the_feed_links_to_itself_through_api_gateway() {
    let (_, config, router) = setup().await;
    let event = std::fs::read_to_string(format!(
        "{}/tests/events/rest-v1-get-config.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("/configs/CONFIG_ID", "/findings/CONFIG_ID")
    .replace("CONFIG_ID", &config.id.to_string());
    let request = lambda_http::request::from_str(&event).unwrap();
    let response = handle_lambda_request(router, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let feed = String::from_utf8_lossy(&body);
    let expected = format!(
        r#"<link href="https://abc123defg.execute-api.us-west-2.amazonaws.com/Prod/findings/{}" rel="self""#,
        config.id
    );
    assert!(feed.contains(&expected), "{feed}");
}
