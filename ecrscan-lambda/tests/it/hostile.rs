//! A corpus of hostile requests against the router: every one gets a 4xx
//! JSON error naming the problem, nothing panics, and the store holds
//! exactly what it held before.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::Utc;
use ecrscan_core::{ConfigSpec, ConfigStore, DirStore, MemoryStore, MockScanBackend, ScanConfig};
use ecrscan_lambda::api::{AppState, app};
use http_body_util::BodyExt;
use tower::ServiceExt;

const VALID: &str = r#"{"region":"us-west-2","registry":"123456789012","repository":"test/ubuntu","tags":["16.04","latest"]}"#;

struct Case {
    what: String,
    request: Request<Body>,
}

fn post(what: impl Into<String>, content_type: Option<&str>, body: impl Into<Body>) -> Case {
    let mut request = Request::post("/configs");
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    Case {
        what: what.into(),
        request: request.body(body.into()).unwrap(),
    }
}

fn json(what: impl Into<String>, body: impl Into<Body>) -> Case {
    post(what, Some("application/json"), body)
}

fn request(method: Method, uri: &str) -> Case {
    Case {
        what: format!("{method} {uri}"),
        request: Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap(),
    }
}

fn corpus(existing: &ScanConfig) -> Vec<Case> {
    let mut cases = Vec::new();
    // Truncated JSON, at every length.
    for end in 0..VALID.len() {
        cases.push(json(format!("truncated at {end}"), VALID[..end].to_owned()));
    }
    // Every field with every wrong type, written as raw JSON text.
    for field in ["region", "registry", "repository", "tags"] {
        for wrong in [
            "1",
            "1.5",
            "true",
            "{}",
            r#"{"a":"b"}"#,
            "[1]",
            "-0",
            "1e400",
        ] {
            let mut fields = [
                ("region", r#""us-west-2""#),
                ("registry", r#""123456789012""#),
                ("repository", r#""test/ubuntu""#),
                ("tags", r#"["16.04"]"#),
            ];
            for (name, value) in fields.iter_mut() {
                if *name == field {
                    *value = wrong;
                }
            }
            let body = fields
                .iter()
                .map(|(name, value)| format!(r#""{name}":{value}"#))
                .collect::<Vec<_>>()
                .join(",");
            cases.push(json(format!("{field} = {wrong}"), format!("{{{body}}}")));
        }
        if field != "tags" {
            let mut value: serde_json::Value = serde_json::from_str(VALID).unwrap();
            value[field] = serde_json::Value::Null;
            cases.push(json(format!("{field} = null"), value.to_string()));
        }
    }
    // Huge numbers and numbers where strings belong.
    for number in [
        "123456789012345678901234567890",
        "1e400",
        "-1e400",
        "18446744073709551616",
        "0.0000000000000000000001",
    ] {
        cases.push(json(
            format!("registry number {number}"),
            format!(r#"{{"region":"us-west-2","registry":{number},"repository":"a/b"}}"#),
        ));
    }
    // Deep nesting.
    for depth in [200usize, 10_000, 100_000] {
        cases.push(json(
            format!("nested arrays {depth}"),
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        ));
        cases.push(json(
            format!("nested objects {depth}"),
            format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth)),
        ));
        cases.push(json(format!("nested tags {depth}"), format!(r#"{{"region":"us-west-2","registry":"123456789012","repository":"a/b","tags":{}{}}}"#, "[".repeat(depth), "]".repeat(depth))));
    }
    // Bodies of megabytes.
    for size in [65 * 1024, 1 << 20, 4 << 20] {
        cases.push(json(
            format!("{size}-byte body"),
            format!(r#"{{"region":"{}"}}"#, "a".repeat(size)),
        ));
        cases.push(json(format!("{size}-byte whitespace"), " ".repeat(size)));
    }
    // Duplicate and unknown keys.
    for extra in [
        r#","region":"eu-west-1""#,
        r#","repository":"x/y""#,
        r#","tags":[]"#,
        r#","Region":"us-west-2""#,
        r#","repositoryName":"a""#,
        r#","__proto__":{}"#,
        r#","":1"#,
        r#","tags ":[]"#,
    ] {
        cases.push(json(
            format!("extra key {extra}"),
            format!("{}{extra}}}", &VALID[..VALID.len() - 1]),
        ));
    }
    // Invalid UTF-8 and control characters.
    for bytes in [
        b"\xff\xfe\xfd".to_vec(),
        [b"{\"region\":\"us-west-2\xc0\xaf\",\"registry\":\"123456789012\",\"repository\":\"a/b\"}".as_slice()].concat(),
        b"{\"region\":\"us-west-2\",\"registry\":\"123456789012\",\"repository\":\"a/b\x00\"}".to_vec(),
        b"{\"region\":\"us-west-2\",\"registry\":\"123456789012\",\"repository\":\"\\u0000a/b\"}".to_vec(),
        b"{\"region\":\"us-west-2\",\"registry\":\"123456789012\",\"repository\":\"a/b\",\"tags\":[\"\\ud800\"]}".to_vec(),
    ] {
        cases.push(json(format!("bytes {:?}", String::from_utf8_lossy(&bytes)), bytes));
    }
    // Unicode look-alikes.
    for (field, value) in [
        ("region", "us\u{2010}west\u{2010}2"),
        ("region", "us-west-\u{0662}"),
        ("region", "\u{0443}s-west-2"),
        ("registry", "\u{FF11}23456789012"),
        ("registry", "12345678901\u{0662}"),
        ("repository", "t\u{0435}st/ubuntu"),
        ("repository", "test\u{2215}ubuntu"),
        ("repository", "test/ubuntu\u{200B}"),
        ("repository", "\u{FEFF}test/ubuntu"),
        ("tags", "latest\u{0301}"),
        ("tags", "l\u{0430}test"),
    ] {
        let mut body: serde_json::Value = serde_json::from_str(VALID).unwrap();
        body[field] = if field == "tags" {
            serde_json::json!([value])
        } else {
            serde_json::json!(value)
        };
        cases.push(json(
            format!("look-alike in {field}: {value:?}"),
            body.to_string(),
        ));
    }
    // Invalid values of every field.
    for (field, value) in [
        ("region", ""),
        ("region", "us-west-2/../../etc"),
        ("region", "x".repeat(1000).as_str()),
        ("registry", ""),
        ("registry", "../../../etc/pa"),
        ("registry", "123456789012 "),
        ("repository", ""),
        ("repository", "../../etc/passwd"),
        ("repository", "a/../b"),
        ("repository", "A/B"),
        ("repository", "a//b"),
        ("repository", "a".repeat(257).as_str()),
        ("repository", "a%2Fb"),
    ] {
        let mut body: serde_json::Value = serde_json::from_str(VALID).unwrap();
        body[field] = serde_json::json!(value);
        cases.push(json(
            format!("{field} = {:?}", value.chars().take(30).collect::<String>()),
            body.to_string(),
        ));
    }
    // Very long and otherwise invalid tags.
    for tag in [
        "a".repeat(129),
        "a".repeat(10_000),
        String::new(),
        ".hidden".into(),
        "-x".into(),
        "a/b".into(),
        "a:b".into(),
        "tag with space".into(),
        "<script>".into(),
    ] {
        let body = format!(
            r#"{{"region":"us-west-2","registry":"123456789012","repository":"a/b","tags":[{}]}}"#,
            serde_json::json!(tag)
        );
        cases.push(json(
            format!("tag {:?}", tag.chars().take(20).collect::<String>()),
            body,
        ));
    }
    cases.push(json(
        "10,000 tags",
        format!(
            r#"{{"region":"us-west-2","registry":"123456789012","repository":"a/b","tags":[{}]}}"#,
            vec!["\"x\""; 10_000].join(",")
        ),
    ));
    // Not objects at all.
    for body in [
        "null",
        "true",
        "1",
        "\"config\"",
        "[]",
        "[{}]",
        "{}",
        "NaN",
        "Infinity",
        "{\"region\":\"us-west-2\"}garbage",
    ] {
        cases.push(json(format!("body {body}"), body));
    }
    // Wrong content types.
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/xml"),
        Some("multipart/form-data; boundary=x"),
        Some("application/x-www-form-urlencoded"),
        Some("json"),
        Some("application/jsonx"),
        Some(""),
    ] {
        cases.push(post(
            format!("content type {content_type:?}"),
            content_type,
            VALID,
        ));
    }
    // Hostile ids and paths.
    let id = existing.id.to_string();
    for uri in [
        "/configs/..%2F..%2Fetc%2Fpasswd",
        "/configs/%2e%2e",
        "/configs/%00",
        "/configs/%2F",
        "/configs/..",
        "/configs/not-a-uuid",
        "/configs/0",
        "/findings/..%2Fsecret",
        "/findings/%252e%252e",
        "/findings/%0a",
        "/configs/6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a%2F..",
        "/findings/6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7",
        "/configs/6C3B5B4E8E5B4A7B9C1D2F3E4D5C6B7AX",
    ] {
        cases.push(request(Method::GET, uri));
        cases.push(request(Method::DELETE, uri));
    }
    for uri in [
        format!("/configs/{id}/extra"),
        format!("/findings/{id}/x"),
        "/configs/a/b/c".into(),
        "/summary/x".into(),
        "/..".into(),
        "/etc/passwd".into(),
        "/CONFIGS".into(),
        "/configs%2F".into(),
        "/%2e%2e/configs".into(),
    ] {
        cases.push(request(Method::GET, &uri));
    }
    cases.push(request(
        Method::GET,
        &format!("/findings/{id}?severity=SEVERE"),
    ));
    cases.push(request(
        Method::GET,
        &format!("/findings/{id}?severity={}", "A".repeat(10_000)),
    ));
    cases.push(request(Method::GET, "/summary?format=xml"));
    cases.push(request(Method::GET, "/summary?format=json&format=text"));
    // Wrong methods on every route.
    for (method, uri) in [
        (Method::PUT, "/configs".to_owned()),
        (Method::PATCH, "/configs".into()),
        (Method::DELETE, "/configs".into()),
        (Method::POST, format!("/configs/{id}")),
        (Method::PUT, format!("/configs/{id}")),
        (Method::PATCH, format!("/configs/{id}")),
        (Method::POST, "/summary".into()),
        (Method::PUT, "/summary/".into()),
        (Method::DELETE, "/summary".into()),
        (Method::POST, format!("/findings/{id}")),
        (Method::DELETE, format!("/findings/{id}")),
        (Method::TRACE, "/configs".into()),
        (Method::from_bytes(b"PROPFIND").unwrap(), "/configs".into()),
    ] {
        cases.push(request(method, &uri));
    }
    cases
}

async fn attack(store: Arc<dyn ConfigStore>) {
    let existing = ScanConfig::create(ConfigSpec::from_json(VALID.as_bytes()).unwrap(), Utc::now());
    store.put(&existing).await.unwrap();
    let before = store.list().await.unwrap().items;
    let router = app(AppState::new(
        Arc::clone(&store) as Arc<dyn ConfigStore>,
        Arc::new(MockScanBackend::new()),
    ));
    let cases = corpus(&existing);
    assert!(cases.len() >= 200, "{} cases", cases.len());
    for Case { what, request } in cases {
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(
            status.is_client_error(),
            "{what}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(content_type.as_deref(), Some("application/json"), "{what}");
        let json: serde_json::Value =
            serde_json::from_slice(&body).unwrap_or_else(|err| panic!("{what}: {err}"));
        let error = json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {json}"));
        assert!(
            !error.is_empty() && error.len() < 1_000,
            "{what}: {} bytes of error",
            error.len()
        );
        if status == StatusCode::BAD_REQUEST {
            assert!(
                [
                    "invalid",
                    "unknown",
                    "duplicate",
                    "expected",
                    "UUID",
                    "missing",
                    "required",
                    "recursion",
                    "EOF",
                    "format",
                    "severity",
                    "body"
                ]
                .iter()
                .any(|word| error.contains(word)),
                "{what}: the error names no problem: {error}"
            );
        }
    }
    assert_eq!(
        store.list().await.unwrap().items,
        before,
        "the store holds exactly what it held"
    );
}

#[tokio::test]
async fn hostile_requests_on_the_memory_store() {
    attack(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn hostile_requests_on_the_directory_store() {
    let dir = tempfile::tempdir().unwrap();
    attack(Arc::new(DirStore::open(dir.path()).await.unwrap())).await;
    // The store's own write lock is the only file beside the config.
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".ecrscan.lock")
        .collect();
    assert_eq!(
        files.len(),
        1,
        "one config file and nothing else: {files:?}"
    );
}
