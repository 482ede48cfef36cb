//! Every route and every error of the HTTP API, through `oneshot` (no
//! socket), over a memory store and a mock backend; and one test over a
//! real socket.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::Utc;
use ecrscan_core::{
    ConfigSpec, ConfigStore, DigestScan, Finding, Image, MemoryStore, MockConfigStore,
    MockScanBackend, Resolution, ScanConfig, ScanStatus, Severity, SeverityCounts, StoreError,
};
use ecrscan_lambda::api::{AppState, app};
use http_body_util::BodyExt;
use tower::ServiceExt;

pub(crate) fn backend() -> MockScanBackend {
    let mut backend = MockScanBackend::new();
    // ECR itself: no summary view.
    backend.expect_summary_view().returning(|_, _| None);
    backend
        .expect_resolve_images()
        .returning(|repository, tags| {
            if repository.repository == "missing/repo" {
                return Err(ecrscan_core::BackendError::RepositoryNotFound {
                    repository: repository.clone(),
                });
            }
            let tags: Vec<String> = if tags.is_empty() {
                vec!["latest".into()]
            } else {
                tags.to_vec()
            };
            Ok(Resolution {
                images: vec![Image {
                    digest: format!("sha256:{}", repository.repository.len()),
                    tags,
                    ..Image::default()
                }],
                missing_tags: vec![],
            })
        });
    backend.expect_scan_result().returning(|_, _| {
        let mut high = Finding::new("CVE-2016-2779", Severity::High);
        high.description = Some("runuser <escape> & \"friends\"".into());
        high.uri = Some("https://security-tracker.debian.org/tracker/CVE-2016-2779".into());
        let low = Finding::new("CVE-2019-13627", Severity::Low);
        Ok(DigestScan {
            status: ScanStatus::Complete,
            status_description: None,
            scan_completed_at: Some(Utc::now()),
            vulnerability_source_updated_at: None,
            severity_counts: [(Severity::High, 1), (Severity::Low, 1)]
                .into_iter()
                .collect::<SeverityCounts>(),
            findings: vec![high, low],
        }
        .into())
    });
    backend
}

fn router(store: Arc<dyn ConfigStore>) -> Router {
    router_with(store, backend())
}

fn router_with(store: Arc<dyn ConfigStore>, backend: MockScanBackend) -> Router {
    app(AppState {
        public_url: Some("https://api.example.com/Prod/".into()),
        ..AppState::new(store, Arc::new(backend))
    })
}

struct Answer {
    status: StatusCode,
    content_type: String,
    location: Option<String>,
    link: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }

    fn error(&self) -> String {
        assert!(
            self.content_type.starts_with("application/json"),
            "{}",
            self.content_type
        );
        self.json()["error"]
            .as_str()
            .expect("an error message")
            .to_owned()
    }
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let content_type = header(header::CONTENT_TYPE).unwrap_or_default();
    let location = header(header::LOCATION);
    let link = header(header::LINK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        content_type,
        location,
        link,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post_json(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

const UBUNTU: &str = r#"{"region":"us-west-2","registry":"123456789012","repository":"test/ubuntu","tags":["16.04","latest"]}"#;

#[tokio::test]
async fn configs_create_list_get_delete() {
    let store = Arc::new(MemoryStore::new());
    let router = router(store.clone());

    let created = send(&router, post_json("/configs/", UBUNTU)).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.location.as_deref(),
        Some(format!("/configs/{id}").as_str())
    );

    let second = send(&router, post_json("/configs", r#"{"region":"us-west-2","registry":"123456789012","repository":"amazonlinux","tags":null}"#)).await;
    assert_eq!(second.status, StatusCode::CREATED);

    for uri in ["/configs", "/configs/"] {
        let listed = send(&router, get(uri)).await;
        assert_eq!(listed.status, StatusCode::OK);
        let configs = listed.json();
        assert_eq!(configs.as_array().unwrap().len(), 2);
        assert!(configs[0]["created"].is_string(), "the sample's shape");
    }

    let one = send(&router, get(&format!("/configs/{id}"))).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json()["tags"], serde_json::json!(["16.04", "latest"]));

    let deleted = send(
        &router,
        Request::delete(format!("/configs/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.body.is_empty());
    let again = send(
        &router,
        Request::delete(format!("/configs/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.error().contains(&id));
    assert_eq!(
        send(&router, get(&format!("/configs/{id}"))).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(store.list().await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn create_ignores_a_clients_id_and_created() {
    let store = Arc::new(MemoryStore::new());
    let router = router(store.clone());
    let body = r#"{"id":"00000000-0000-4000-8000-000000000000","created":"1","region":"us-west-2","registry":"123456789012","repository":"test/centos","tags":["7"]}"#;
    let created = send(&router, post_json("/configs", body)).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let stored = store.list().await.unwrap().items;
    assert_ne!(
        stored[0].id.to_string(),
        "00000000-0000-4000-8000-000000000000"
    );
    assert!(stored[0].created.timestamp() > 1);
}

#[tokio::test]
async fn configs_take_patterns_recency_and_an_organization() {
    let store = Arc::new(MemoryStore::new());
    let router = router(store.clone());
    let body = r#"{"region":"us-west-2","registry":"organization","repository":"prod/*",
        "exclude_repositories":["prod/legacy-*"],"tags":["v1.*"],"most_recent":3,
        "pushed_within_days":30,"pulled_within_days":14,"exclude_accounts":["444455556666"]}"#;
    let created = send(&router, post_json("/configs", body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let stored = store.list().await.unwrap().items;
    let config = &stored[0];
    assert_eq!(config.registry, "organization");
    assert_eq!(config.exclude_repositories, ["prod/legacy-*"]);
    assert_eq!(
        (
            config.most_recent,
            config.pushed_within_days,
            config.pulled_within_days
        ),
        (Some(3), Some(30), Some(14))
    );
    // A GET answers the stored config, the sample's six fields first.
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let got = send(&router, get(&format!("/configs/{id}"))).await;
    let position = |key: &str| got.body.find(&format!("\"{key}\":")).unwrap();
    let sample: Vec<usize> = ["id", "created", "region", "registry", "repository", "tags"]
        .iter()
        .map(|key| position(key))
        .collect();
    assert!(sample.is_sorted(), "{}", got.body);
    assert!(sample[5] < position("exclude_repositories"), "{}", got.body);
    assert!(sample[5] < position("most_recent"), "{}", got.body);

    for (body, named) in [
        (
            r#"{"region":"us-west-2","registry":"123456789012","repository":"prod/*","most_recent":0}"#,
            "most_recent",
        ),
        (
            r#"{"region":"us-west-2","registry":"123456789012","repository":"PROD/*"}"#,
            "repository",
        ),
        (
            r#"{"region":"us-west-2","registry":"123456789012","repository":"app","exclude_accounts":["444455556666"]}"#,
            "exclude_accounts",
        ),
        (
            r#"{"region":"us-west-2","registry":"123456789012","repository":"app","pulled_within_days":-1}"#,
            "pulled_within_days",
        ),
    ] {
        let answer = send(&router, post_json("/configs", body)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(answer.error().contains(named), "{body}: {}", answer.error());
    }
    assert_eq!(store.list().await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn a_fresh_summary_reads_ecr_for_one_config_only() {
    let centos = r#"{"region":"us-west-2","registry":"123456789012","repository":"test/centos","tags":["7"]}"#;
    let (store, configs) = with_configs(&[UBUNTU, centos]).await;
    // Stored results: none; ECR: only the live backend answers.
    let mut stored = MockScanBackend::new();
    stored.expect_summary_view().returning(|_, _| None);
    stored.expect_resolve_images().never();
    let router = app(AppState {
        live_backend: Arc::new(backend()),
        ..AppState::new(store, Arc::new(stored))
    });
    let everything = send(&router, get("/summary?fresh=true")).await;
    assert_eq!(everything.status, StatusCode::BAD_REQUEST);
    assert!(
        everything.error().contains("config=ID"),
        "{}",
        everything.error()
    );
    let one = send(
        &router,
        get(&format!(
            "/summary?fresh=true&format=json&config={}",
            configs[0].id
        )),
    )
    .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    let repositories: Vec<String> = one.json()["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|image| image["repository"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(repositories, ["test/ubuntu", "test/ubuntu"]);
    assert_eq!(
        send(&router, get("/summary?config=not-a-uuid"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(
            &router,
            get("/summary?config=00000000-0000-4000-8000-000000000000")
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn invalid_configs_are_400_naming_the_field_and_nothing_is_stored() {
    let store = Arc::new(MemoryStore::new());
    let router = router(store.clone());
    let cases = [
        (
            r#"{"region":"us-west-2","registry":"12345","repository":"a/b"}"#,
            "registry",
        ),
        (
            r#"{"region":"mars-1","registry":"123456789012","repository":"a/b"}"#,
            "region",
        ),
        (
            r#"{"region":"us-west-2","registry":"123456789012","repository":"A/B"}"#,
            "repository",
        ),
        (
            r#"{"region":"us-west-2","registry":"123456789012","repository":"a/b","tags":["x","x"]}"#,
            "tags",
        ),
        (
            r#"{"region":"us-west-2","registry":"123456789012","repository":"a/b","tagz":[]}"#,
            "tagz",
        ),
        (
            r#"{"region":"us-west-2","registry":"123456789012"}"#,
            "repository",
        ),
        (
            r#"{"region":"us-west-2","registry":123456789012,"repository":"a/b"}"#,
            "invalid registry: expected a string, found a number",
        ),
        (r#"{"region":"us-west-2""#, "invalid JSON"),
        ("", "invalid JSON"),
        ("[]", "invalid JSON"),
    ];
    for (body, named) in cases {
        let answer = send(&router, post_json("/configs", body)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        let error = answer.error();
        assert!(error.contains(named), "{body}: {error}");
    }
    // More tags than a config may list: 400 naming the limit.
    let tags: Vec<String> = (0..1_001).map(|i| format!("v{i}")).collect();
    let body = serde_json::json!({"region": "us-west-2", "registry": "123456789012",
                                  "repository": "a/b", "tags": tags})
    .to_string();
    let answer = send(&router, post_json("/configs", body)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.error().contains("at most 1000"),
        "{}",
        answer.error()
    );
    assert!(store.list().await.unwrap().items.is_empty());
}

#[tokio::test]
async fn oversized_and_non_json_bodies_are_refused() {
    let store = Arc::new(MemoryStore::new());
    let router = router(store.clone());
    let big = format!(
        r#"{{"region":"us-west-2","registry":"123456789012","repository":"a/b","tags":["{}"]}}"#,
        "a".repeat(70 * 1024)
    );
    let answer = send(&router, post_json("/configs", big)).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer.error().contains("65536"));

    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = Request::post("/configs");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let answer = send(&router, request.body(Body::from(UBUNTU)).unwrap()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        assert!(answer.error().contains("application/json"));
    }
    let with_charset = Request::post("/configs")
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(UBUNTU))
        .unwrap();
    assert_eq!(
        send(&router, with_charset).await.status,
        StatusCode::CREATED
    );
    assert_eq!(store.list().await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn ids_that_are_not_uuids_are_400() {
    let router = router(Arc::new(MemoryStore::new()));
    for uri in [
        "/configs/not-a-uuid",
        "/findings/..%2F..%2Fetc%2Fpasswd",
        "/findings/123",
    ] {
        let answer = send(&router, get(uri)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(answer.error().contains("UUID"), "{uri}");
    }
    let answer = send(
        &router,
        Request::delete("/configs/x").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_in_json() {
    let router = router(Arc::new(MemoryStore::new()));
    let answer = send(&router, get("/nope")).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.error(), "no such route");
    for (method, uri) in [
        (Method::PUT, "/configs"),
        (Method::DELETE, "/summary"),
        (Method::POST, "/findings/x"),
    ] {
        let answer = send(
            &router,
            Request::builder()
                .method(method.clone())
                .uri(uri)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {uri}"
        );
        assert!(answer.error().contains("method not allowed"));
    }
}

async fn with_configs(specs: &[&str]) -> (Arc<MemoryStore>, Vec<ScanConfig>) {
    let store = Arc::new(MemoryStore::new());
    let mut configs = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let config = ScanConfig::create(
            ConfigSpec::from_json(spec.as_bytes()).unwrap(),
            Utc::now() + chrono::Duration::seconds(i as i64),
        );
        store.put(&config).await.unwrap();
        configs.push(config);
    }
    (store, configs)
}

#[tokio::test]
async fn summary_as_text_and_as_json() {
    let (store, configs) = with_configs(&[
        UBUNTU,
        r#"{"region":"eu-central-1","registry":"123456789012","repository":"missing/repo","tags":["1"]}"#,
    ])
    .await;
    let router = router(store);
    for uri in ["/summary", "/summary/"] {
        let text = send(&router, get(uri)).await;
        assert_eq!(text.status, StatusCode::OK);
        assert_eq!(text.content_type, "text/plain; charset=utf-8");
        assert_eq!(
            text.body,
            "Results for test/ubuntu:16.04 in us-west-2:\n HIGH: 1\n LOW: 1\n\n\
             Results for test/ubuntu:latest in us-west-2:\n HIGH: 1\n LOW: 1\n\n\
             Results for missing/repo:1 in eu-central-1:\n Status: REPOSITORY_NOT_FOUND\n\n"
        );
    }
    let by_query = send(&router, get("/summary?format=json")).await;
    let by_accept = send(
        &router,
        Request::get("/summary")
            .header(header::ACCEPT, "text/html, application/json;q=0.9")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    for answer in [by_query, by_accept] {
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.content_type, "application/json");
        let json = answer.json();
        assert_eq!(json["images"][0]["config_id"], configs[0].id.to_string());
        assert_eq!(
            json["images"][0]["severity_counts"],
            serde_json::json!({"HIGH": 1, "LOW": 1})
        );
        assert_eq!(json["images"][2]["status"], "REPOSITORY_NOT_FOUND");
        assert_eq!(json["totals"], serde_json::json!({"HIGH": 2, "LOW": 2}));
    }
    let bad = send(&router, get("/summary?format=xml")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.error().contains("xml"));
}

#[tokio::test]
async fn findings_feed_with_severity_filter() {
    let (store, configs) = with_configs(&[UBUNTU]).await;
    let router = router(store);
    let id = configs[0].id;
    let feed = send(&router, get(&format!("/findings/{id}"))).await;
    assert_eq!(feed.status, StatusCode::OK);
    assert_eq!(feed.content_type, "application/atom+xml; charset=utf-8");
    let doc = roxmltree::Document::parse(&feed.body).expect("well-formed XML");
    let titles: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("entry"))
        .filter_map(|e| e.children().find(|c| c.has_tag_name("title"))?.text())
        .collect();
    assert_eq!(titles.len(), 4, "two tags × two findings");
    assert!(titles[0].starts_with("[HIGH] in image test/ubuntu:"));
    assert!(
        feed.body
            .contains("runuser &lt;escape&gt; &amp; \"friends\"")
            || feed
                .body
                .contains("runuser &lt;escape&gt; &amp; &quot;friends&quot;")
    );
    let self_link = doc
        .descendants()
        .find(|n| n.has_tag_name("link") && n.attribute("rel") == Some("self"))
        .and_then(|n| n.attribute("href"));
    assert_eq!(
        self_link,
        Some(format!("https://api.example.com/Prod/findings/{id}").as_str())
    );

    let high = send(&router, get(&format!("/findings/{id}?severity=HIGH"))).await;
    assert_eq!(high.body.matches("<entry>").count(), 2);
    let lower_case = send(&router, get(&format!("/findings/{id}?severity=high"))).await;
    assert_eq!(lower_case.status, StatusCode::OK);
    let bad = send(&router, get(&format!("/findings/{id}?severity=SEVERE"))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.error().contains("SEVERE"));
    let unknown = send(&router, get(&format!("/findings/{}", uuid::Uuid::new_v4()))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn findings_feeds_over_lambdas_response_limit_come_in_pages() {
    let (store, configs) = with_configs(&[UBUNTU]).await;
    let mut backend = MockScanBackend::new();
    backend.expect_resolve_images().returning(|_, tags| {
        Ok(Resolution {
            images: vec![Image {
                digest: "sha256:1".into(),
                tags: tags.to_vec(),
                ..Image::default()
            }],
            missing_tags: vec![],
        })
    });
    // 1,200 findings × 2 tags of about 4 KB each: about 10 MB of feed.
    backend.expect_scan_result().returning(|_, _| {
        let findings: Vec<Finding> = (0..1_200)
            .map(|i| {
                let mut finding = Finding::new(format!("CVE-2026-{i:05}"), Severity::High);
                finding.description = Some("A long description. ".repeat(200));
                finding
            })
            .collect();
        Ok(DigestScan {
            status: ScanStatus::Complete,
            status_description: None,
            scan_completed_at: Some(Utc::now()),
            vulnerability_source_updated_at: None,
            severity_counts: [(Severity::High, 1_200)].into_iter().collect(),
            findings,
        }
        .into())
    });
    let router = router_with(store, backend);
    let id = configs[0].id;
    let mut uri = format!("/findings/{id}?severity=high");
    let mut titles = Vec::new();
    let mut pages = 0;
    loop {
        let page = send(&router, get(&uri)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.len() <= ecrscan_lambda::api::PAGE_BYTES,
            "{} bytes",
            page.body.len()
        );
        pages += 1;
        let doc = roxmltree::Document::parse(&page.body).expect("well-formed XML");
        titles.extend(
            doc.descendants()
                .filter(|n| n.has_tag_name("entry"))
                .filter_map(|e| e.children().find(|c| c.has_tag_name("title"))?.text())
                .map(str::to_owned),
        );
        let next = doc
            .root_element()
            .children()
            .find(|n| n.has_tag_name("link") && n.attribute("rel") == Some("next"))
            .and_then(|n| n.attribute("href"))
            .map(str::to_owned);
        let Some(next) = next else { break };
        uri = next
            .strip_prefix("https://api.example.com/Prod")
            .unwrap_or_else(|| panic!("next link {next}"))
            .to_owned();
        assert!(uri.contains("severity=HIGH&start="), "{uri}");
    }
    assert!(pages >= 3, "{pages} pages");
    assert_eq!(titles.len(), 2_400, "every entry once");
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), 2_400, "no entry twice");

    let bad = send(&router, get(&format!("/findings/{id}?start=-1"))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.error().contains("start"), "{}", bad.error());
}

#[tokio::test]
async fn summaries_over_lambdas_response_limit_come_in_pages() {
    let (store, _) = with_configs(&[
        r#"{"region":"us-west-2","registry":"123456789012","repository":"big/one","tags":[]}"#,
        r#"{"region":"us-west-2","registry":"123456789012","repository":"big/two","tags":[]}"#,
    ])
    .await;
    // 2 × 6,000 images of about 450 bytes of JSON each: about 5 MB.
    let mut backend = MockScanBackend::new();
    // ECR itself: no summary view.
    backend.expect_summary_view().returning(|_, _| None);
    backend.expect_resolve_images().returning(|repository, _| {
        Ok(Resolution {
            images: (0..6_000)
                .map(|i| Image {
                    digest: format!("sha256:{}-{i:064}", repository.repository),
                    tags: vec![format!("v{i}")],
                    ..Image::default()
                })
                .collect(),
            missing_tags: vec![],
        })
    });
    backend.expect_scan_result().returning(|_, _| {
        Ok(DigestScan {
            status: ScanStatus::Complete,
            status_description: Some("The scan was completed successfully.".into()),
            scan_completed_at: Some(Utc::now()),
            vulnerability_source_updated_at: None,
            severity_counts: [(Severity::High, 2), (Severity::Low, 1)]
                .into_iter()
                .collect(),
            findings: vec![],
        }
        .into())
    });
    let router = router_with(store, backend);
    let mut uri = "/summary?format=json".to_owned();
    let mut images = Vec::new();
    let mut pages = 0;
    loop {
        let page = send(&router, get(&uri)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.len() <= ecrscan_lambda::api::PAGE_BYTES,
            "{} bytes",
            page.body.len()
        );
        pages += 1;
        let json = page.json();
        assert_eq!(
            json["totals"],
            serde_json::json!({"HIGH": 24_000, "LOW": 12_000})
        );
        images.extend(json["images"].as_array().unwrap().iter().map(|image| {
            format!(
                "{}:{}",
                image["repository"].as_str().unwrap(),
                image["tag"].as_str().unwrap()
            )
        }));
        let Some(link) = page.link else {
            assert!(json.get("next_start").is_none());
            break;
        };
        let next_start = json["next_start"].as_u64().expect("next_start with a Link");
        assert_eq!(next_start as usize, images.len());
        assert_eq!(
            link,
            format!(
                "<https://api.example.com/Prod/summary?start={next_start}&format=json>; rel=\"next\""
            )
        );
        uri = format!("/summary?start={next_start}&format=json");
    }
    assert!(pages >= 2, "{pages} pages");
    assert_eq!(images.len(), 12_000, "every image once");
    images.sort();
    images.dedup();
    assert_eq!(images.len(), 12_000, "no image twice");

    // The sample's text format is small enough for one page; it has no Link.
    let text = send(&router, get("/summary")).await;
    assert_eq!(text.status, StatusCode::OK);
    assert_eq!(text.body.matches("Results for ").count(), 12_000);
    assert_eq!(text.link, None);
    for start in ["many", "-1", "1e3", "18446744073709551616", ""] {
        let bad = send(&router, get(&format!("/summary?start={start}"))).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "start={start}");
        assert!(bad.error().contains("start"), "{}", bad.error());
    }
    let past_the_end = send(
        &router,
        get("/summary?format=json&start=18446744073709551615"),
    )
    .await;
    assert_eq!(past_the_end.status, StatusCode::OK);
    assert_eq!(past_the_end.json()["images"], serde_json::json!([]));
    assert_eq!(past_the_end.link, None);
}

#[tokio::test]
async fn store_failures_are_plain_5xx_without_internals() {
    let mut store = MockConfigStore::new();
    store.expect_list().returning(|| {
        Err(StoreError::Backend {
            store: "s3://secret-bucket/".into(),
            message: "s3:ListBucket failed: AccessDenied: User arn:aws:iam::123456789012:user/x with AKIAEXAMPLEKEY".into(),
            source: None,
        })
    });
    store.expect_put().returning(|_| {
        Err(StoreError::Backend {
            store: "s3://secret-bucket/".into(),
            message: "timeout".into(),
            source: None,
        })
    });
    let router = router(Arc::new(store));
    for request in [
        get("/configs"),
        get("/summary"),
        post_json("/configs", UBUNTU),
    ] {
        let answer = send(&router, request).await;
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
        let error = answer.error();
        assert_eq!(error, "the config store could not be reached");
        assert!(!answer.body.contains("AKIA") && !answer.body.contains("secret-bucket"));
    }
}

#[tokio::test]
async fn serves_real_http_over_a_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (store, _) = with_configs(&[UBUNTU]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, router(store)).into_future());
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /configs HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("content-type: application/json")
    );
    assert!(response.contains(r#""repository":"test/ubuntu""#));
    server.abort();
}

#[tokio::test]
async fn cors_only_for_the_configured_origin() {
    let without = router(Arc::new(MemoryStore::new()));
    let request = || {
        Request::get("/configs")
            .header(header::ORIGIN, "https://dash.example.com")
            .body(Body::empty())
            .unwrap()
    };
    let response = without.clone().oneshot(request()).await.unwrap();
    assert!(
        response
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );

    let with = app(AppState {
        cors_allow_origin: Some(header::HeaderValue::from_static("https://dash.example.com")),
        ..AppState::new(Arc::new(MemoryStore::new()), Arc::new(backend()))
    });
    let response = with.clone().oneshot(request()).await.unwrap();
    assert_eq!(
        response
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .map(|v| v.to_str().unwrap()),
        Some("https://dash.example.com")
    );
    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri("/configs")
        .header(header::ORIGIN, "https://dash.example.com")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .body(Body::empty())
        .unwrap();
    let response = with.oneshot(preflight).await.unwrap();
    assert!(response.status().is_success());
    let methods = response
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_METHODS)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");
}

#[tokio::test]
async fn changes_newest_first_and_filtered() {
    use ecrscan_core::{Change, Recorder, ResultStore};
    let results = Arc::new(MemoryStore::new());
    let recorder = Recorder::new(results.clone());
    let repository =
        ecrscan_core::RepositoryRef::new("us-west-2", "123456789012", "test/ubuntu").unwrap();
    let scan = |seconds: i64, findings: Vec<Finding>| {
        let mut scan = DigestScan::without_findings(ScanStatus::Complete, None);
        scan.scan_completed_at = chrono::DateTime::from_timestamp(1_800_000_000 + seconds, 0);
        scan.findings = findings;
        scan
    };
    let at = |seconds: i64| chrono::DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap();
    recorder
        .record_scan(&repository, "sha256:aa", &scan(0, vec![]), at(1))
        .await
        .unwrap();
    recorder
        .record_scan(
            &repository,
            "sha256:aa",
            &scan(100, vec![Finding::new("CVE-2026-1234", Severity::Critical)]),
            at(101),
        )
        .await
        .unwrap();
    recorder
        .record_scan(
            &repository,
            "sha256:aa",
            &scan(
                200,
                vec![
                    Finding::new("CVE-2026-1234", Severity::Critical),
                    Finding::new("CVE-2026-9", Severity::Low),
                ],
            ),
            at(201),
        )
        .await
        .unwrap();
    let router = app(AppState {
        results: Some(results.clone() as Arc<dyn ResultStore>),
        ..AppState::new(Arc::new(MemoryStore::new()), Arc::new(backend()))
    });

    let answer = send(&router, get("/changes")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.content_type, "application/json");
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let changes: Vec<Change> = serde_json::from_value(json["changes"].clone()).unwrap();
    let kinds: Vec<&str> = changes.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds, ["findings_changed", "findings_changed", "baseline"]);
    assert_eq!(changes[0].new[0].name, "CVE-2026-9");

    let critical: serde_json::Value = serde_json::from_str(
        &send(&router, get("/changes/?min_severity=CRITICAL"))
            .await
            .body,
    )
    .unwrap();
    let names: Vec<&str> = critical["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["findings_changed", "baseline"],
        "the LOW-only change is left out"
    );

    let since = send(&router, get("/changes?since=2027-01-15T08:01:00Z")).await;
    let since: serde_json::Value = serde_json::from_str(&since.body).unwrap();
    assert_eq!(since["changes"].as_array().unwrap().len(), 2);

    for bad in [
        "/changes?since=yesterday",
        "/changes?min_severity=SEVERE",
        "/changes?start=-1",
    ] {
        let answer = send(&router, get(bad)).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            answer.body
        );
        assert!(answer.error().len() < 200);
    }
    let without = router_with(Arc::new(MemoryStore::new()), backend());
    assert_eq!(
        send(&without, get("/changes")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn channels_are_listed_with_secret_references_and_cannot_be_created() {
    use ecrscan_core::ChannelStore;
    use ecrscan_core::channels::{Channel, Target};
    let store = Arc::new(MemoryStore::new());
    let channel = Channel::create(
        Target::Webhook {
            url: "https://hooks.example.com/ecrscan".into(),
            secret: "env:ECRSCAN_WEBHOOK_SECRET".parse().unwrap(),
        },
        Severity::High,
        false,
        Utc::now(),
    )
    .unwrap();
    store.put_channel(&channel).await.unwrap();
    let slack = Channel::create(
        Target::Slack {
            url: "https://hooks.slack.com/services/T000/B000/SuperSecretToken".into(),
        },
        Severity::High,
        false,
        Utc::now() + chrono::Duration::seconds(1),
    )
    .unwrap();
    store.put_channel(&slack).await.unwrap();
    let router = app(AppState {
        channels: Some(store.clone() as Arc<dyn ChannelStore>),
        ..AppState::new(Arc::new(MemoryStore::new()), Arc::new(backend()))
    });
    let answer = send(&router, get("/channels")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let listed: Vec<Channel> = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&channel));
    assert!(answer.body.contains("env:ECRSCAN_WEBHOOK_SECRET"));
    assert!(
        !answer.body.contains("SuperSecretToken"),
        "a Slack URL is a credential: {}",
        answer.body
    );
    assert!(answer.body.contains("https://hooks.slack.com/…"));
    let post = send(
        &router,
        post_json(
            "/channels",
            r#"{"type":"webhook","url":"https://attacker.example.com/","secret":"env:X"}"#,
        ),
    )
    .await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(store.list_channels().await.unwrap().items.len(), 2);
}

/// The text between the first `open` and the `close` after it.
fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let start = text.find(open).expect(open) + open.len();
    let end = start + text[start..].find(close).expect(close);
    &text[start..end]
}

fn sha256_source(text: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text))
    )
}

#[tokio::test]
async fn the_root_is_the_html_report_with_a_policy_that_runs_only_its_own_script() {
    let (store, configs) = with_configs(&[UBUNTU]).await;
    let router = router(store);
    let response = router.clone().oneshot(get("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let header = |name: header::HeaderName| {
        headers
            .get(&name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(header(header::CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(header(header::CACHE_CONTROL), "no-store");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let page = String::from_utf8(body.to_vec()).unwrap();

    // Exactly the page's own script and style, by hash; nothing loads.
    let policy = header(header::CONTENT_SECURITY_POLICY);
    let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
    let script = between(&page, "<script>", "</script>");
    let style = between(&page, "<style>", "</style>");
    for expected in [
        "default-src 'none'".to_owned(),
        format!("script-src {}", sha256_source(script)),
        format!("style-src {}", sha256_source(style)),
        "base-uri 'none'".to_owned(),
        "form-action 'none'".to_owned(),
        "frame-ancestors 'none'".to_owned(),
    ] {
        assert!(
            directives.contains(&expected.as_str()),
            "{expected:?} not in {policy}"
        );
    }
    assert_eq!(page.matches("<script").count(), 1, "one script element");
    assert!(!policy.contains("unsafe"), "{policy}");

    // The same numbers as the JSON summary, and links to each image's feed.
    assert!(page.contains("<dd data-severity=\"HIGH\">2</dd>"), "{page}");
    assert!(page.contains("<dd data-severity=\"LOW\">2</dd>"));
    assert!(page.contains("<dd data-severity=\"CRITICAL\">0</dd>"));
    assert!(page.contains(&format!(
        "<a href=\"https://api.example.com/Prod/findings/{}\">feed</a>",
        configs[0].id
    )));
    assert!(page.contains("<td class=\"name\">test/ubuntu</td>"));
}

#[tokio::test]
async fn the_root_links_from_the_servers_root_without_a_public_url() {
    let (store, configs) = with_configs(&[UBUNTU]).await;
    let router = app(AppState::new(store, Arc::new(backend())));
    let answer = send(&router, get("/")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer
            .body
            .contains(&format!("<a href=\"/findings/{}\">feed</a>", configs[0].id))
    );
}
