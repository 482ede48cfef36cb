//! The suppression routes of the HTTP API, and what a rule does to the
//! summary and the findings feed, through `oneshot` over a memory store.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use ecrscan_core::{ConfigSpec, ConfigStore, MemoryStore, ScanConfig, SuppressionStore};
use ecrscan_lambda::api::{AppState, app};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::api::backend;

fn router(store: Arc<MemoryStore>) -> Router {
    app(AppState {
        suppressions: Some(store.clone()),
        ..AppState::new(store, Arc::new(backend()))
    })
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Option<String>, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        location,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn post(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|err| panic!("not JSON ({err}): {body}"))
}

const RULE: &str = r#"{"vulnerability":"CVE-2016-2779","reason":"runuser is not in the image's runtime path","expires":"2099-01-01","repository":"test/*","ticket":"SEC-42"}"#;

#[tokio::test]
async fn rules_are_created_listed_read_and_deleted() {
    let store = Arc::new(MemoryStore::new());
    let router = router(store.clone());
    let (status, location, body) = send(&router, post("/suppressions", RULE)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = json(&body)["id"].as_str().unwrap().to_owned();
    assert_eq!(location, Some(format!("/suppressions/{id}")));
    let stored = store.get_suppression(id.parse().unwrap()).await.unwrap();
    assert_eq!(stored.reason, "runuser is not in the image's runtime path");
    assert_eq!(stored.ticket.as_deref(), Some("SEC-42"));

    for uri in ["/suppressions", "/suppressions/"] {
        let (status, _, body) = send(&router, get(uri)).await;
        assert_eq!(status, StatusCode::OK);
        let rules = json(&body);
        assert_eq!(rules.as_array().unwrap().len(), 1);
        assert_eq!(rules[0]["id"], id.as_str());
        assert_eq!(rules[0]["expires"], "2099-01-01T00:00:00Z");
        assert_eq!(rules[0]["repository"], "test/*");
    }
    let (status, _, body) = send(&router, get(&format!("/suppressions/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["vulnerability"], "CVE-2016-2779");

    let delete = |id: &str| {
        Request::delete(format!("/suppressions/{id}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(&router, delete(&id)).await.0, StatusCode::NO_CONTENT);
    assert_eq!(send(&router, delete(&id)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        send(&router, get(&format!("/suppressions/{id}"))).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _, body) = send(&router, get("/suppressions/not-a-uuid")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json(&body)["error"].as_str().unwrap().contains("UUID"));
}

#[tokio::test]
async fn invalid_rules_are_400_naming_the_field_and_nothing_is_stored() {
    let store = Arc::new(MemoryStore::new());
    let router = router(store.clone());
    for (body, expected) in [
        (
            r#"{"vulnerability":"CVE-2016-2779","expires":"never"}"#,
            "invalid reason",
        ),
        (
            r#"{"vulnerability":"CVE-2016-2779","reason":"x"}"#,
            "invalid expires",
        ),
        (
            r#"{"vulnerability":"CVE-2016-2779","reason":"x","expires":"2001-01-01"}"#,
            "not in the future",
        ),
        (
            r#"{"vulnerability":"CVE-2016-2779","reason":"x","expires":"never","repository":"Test/*"}"#,
            "invalid repository",
        ),
        (
            r#"{"vulnerability":"CVE-2016-2779","reason":"x","expires":"never","tag":"a/b"}"#,
            "invalid tag",
        ),
        (
            r#"{"vulnerability":"CVE-2016-2779","reason":"x","expires":"never","status":"affected"}"#,
            "invalid status",
        ),
        (
            r#"{"vulnerability":"CVE-2016-2779","reason":"x","expires":"never","owner":"me"}"#,
            "unknown field `owner`",
        ),
        (
            r#"{"reason":"x","expires":"never"}"#,
            "invalid vulnerability",
        ),
        ("[1]", "invalid JSON"),
    ] {
        let (status, _, answer) = send(&router, post("/suppressions", body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let error = json(&answer)["error"].as_str().unwrap().to_owned();
        assert!(error.contains(expected), "{body}: {error}");
    }
    let not_json = Request::post("/suppressions")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(RULE))
        .unwrap();
    assert_eq!(
        send(&router, not_json).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let huge = format!(
        r#"{{"vulnerability":"CVE-2016-2779","reason":"{}","expires":"never"}}"#,
        "x".repeat(70 * 1024)
    );
    assert_eq!(
        send(&router, post("/suppressions", &huge)).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert!(store.list_suppressions().await.unwrap().items.is_empty());
}

#[tokio::test]
async fn a_rule_leaves_the_summary_counts_and_the_feed_unless_asked_for() {
    let store = Arc::new(MemoryStore::new());
    let spec = ConfigSpec::from_json(
        br#"{"region":"us-west-2","registry":"123456789012","repository":"test/ubuntu","tags":["16.04"]}"#,
    )
    .unwrap();
    let config = ScanConfig::create(spec, chrono::Utc::now());
    store.put(&config).await.unwrap();
    let router = router(store.clone());
    assert_eq!(
        send(&router, post("/suppressions", RULE)).await.0,
        StatusCode::CREATED
    );

    let (status, _, body) = send(&router, get("/summary?format=json")).await;
    assert_eq!(status, StatusCode::OK);
    let summary = json(&body);
    assert_eq!(
        summary["images"][0]["severity_counts"],
        serde_json::json!({"LOW": 1})
    );
    assert_eq!(
        summary["images"][0]["suppressed_counts"],
        serde_json::json!({"HIGH": 1})
    );
    assert_eq!(summary["totals"], serde_json::json!({"LOW": 1}));
    assert_eq!(summary["suppressed_totals"], serde_json::json!({"HIGH": 1}));
    assert_eq!(summary["warnings"], serde_json::json!([]));
    let (_, _, text) = send(&router, get("/summary")).await;
    assert_eq!(
        text,
        "Results for test/ubuntu:16.04 in us-west-2:\n LOW: 1\n SUPPRESSED: 1\n\n"
    );

    let id = config.id;
    let (_, _, hidden) = send(&router, get(&format!("/findings/{id}"))).await;
    assert_eq!(hidden.matches("<entry>").count(), 1);
    assert!(!hidden.contains("CVE-2016-2779"));
    let (status, _, shown) =
        send(&router, get(&format!("/findings/{id}?suppressed=include"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown.matches("<entry>").count(), 2);
    assert!(
        shown.contains("found CVE-2016-2779 (suppressed)"),
        "{shown}"
    );
    assert!(
        shown.contains("Suppression reason: runuser is not in the image&apos;s runtime path")
            || shown.contains("Suppression reason: runuser is not in the image's runtime path"),
        "{shown}"
    );
    assert!(roxmltree::Document::parse(&shown).is_ok());
    let (status, _, _) = send(&router, get(&format!("/findings/{id}?suppressed=maybe"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
