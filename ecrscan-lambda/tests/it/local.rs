//! The local server (`ecrscan-api` outside Lambda): a bearer token off
//! loopback, a `Host` check against DNS rebinding, and handlers that stop
//! at their deadline.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use ecrscan_core::{ConfigSpec, ConfigStore, MemoryStore, MockScanBackend, ScanConfig};
use ecrscan_lambda::api::{AppState, app};
use ecrscan_lambda::local::LocalGuard;
use tower::ServiceExt;

const TOKEN: &str = "a-token-of-24-characters";

fn guarded(listen: &str, token: Option<&str>) -> axum::Router {
    let state = AppState::new(
        Arc::new(MemoryStore::new()),
        Arc::new(MockScanBackend::new()),
    );
    LocalGuard::new(
        listen.parse().unwrap(),
        token.map(str::to_owned),
        vec!["ecrscan.internal".into()],
    )
    .unwrap()
    .protect(app(state))
}

async fn status(router: &axum::Router, host: &str, authorization: Option<&str>) -> StatusCode {
    let mut request = Request::get("/configs").header(header::HOST, host);
    if let Some(authorization) = authorization {
        request = request.header(header::AUTHORIZATION, authorization);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    response.status()
}

#[tokio::test]
async fn a_token_is_asked_of_every_request_and_a_wrong_host_is_misdirected() {
    let router = guarded("0.0.0.0:3000", Some(TOKEN));
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        status(&router, "10.0.0.5:3000", Some(&bearer)).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&router, "ecrscan.internal:3000", Some(&bearer)).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&router, "10.0.0.5:3000", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(
            &router,
            "10.0.0.5:3000",
            Some("Bearer wrong-token-of-24-chars")
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&router, "rebound.attacker.example:3000", Some(&bearer)).await,
        StatusCode::MISDIRECTED_REQUEST
    );
    let refused = router
        .clone()
        .oneshot(
            Request::get("/configs")
                .header(header::HOST, "10.0.0.5:3000")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        refused.headers().get(header::WWW_AUTHENTICATE).unwrap(),
        "Bearer realm=\"ecrscan\""
    );
}

#[tokio::test]
async fn on_loopback_without_a_token_only_the_host_is_checked() {
    let router = guarded("127.0.0.1:3000", None);
    assert_eq!(
        status(&router, "localhost:3000", None).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&router, "127.0.0.1:3000", None).await,
        StatusCode::OK
    );
    // A page of attacker.example whose name now resolves to 127.0.0.1.
    assert_eq!(
        status(&router, "attacker.example:3000", None).await,
        StatusCode::MISDIRECTED_REQUEST
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_server_refuses_to_listen_off_loopback_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    for (token, says) in [
        (None, "needs ECRSCAN_API_TOKEN"),
        (Some("tiny-secret"), "at least 16 characters"),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ecrscan-api"));
        command
            .args(["--listen", &format!("0.0.0.0:{}", free_port())])
            .env("ECRSCAN_STORE", dir.path())
            .env_remove("ECRSCAN_API_TOKEN")
            .env_remove("AWS_LAMBDA_RUNTIME_API");
        if let Some(token) = token {
            command.env("ECRSCAN_API_TOKEN", token);
        }
        let output = command.output().unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{stderr}");
        assert!(
            !stderr.contains("tiny-secret"),
            "the token is not echoed: {stderr}"
        );
    }
}

#[test]
fn the_server_over_a_socket_wants_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecrscan-api"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("ECRSCAN_STORE", dir.path())
        .env("ECRSCAN_API_TOKEN", TOKEN)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "ecrscan-api did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let request = |host: &str, authorization: &str| {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "GET /configs HTTP/1.1\r\nHost: {host}\r\n{authorization}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response.get(9..12).unwrap_or_default().to_owned()
    };
    let bearer = format!("Authorization: Bearer {TOKEN}\r\n");
    let answers = [
        request(&format!("127.0.0.1:{port}"), &bearer),
        request(&format!("127.0.0.1:{port}"), ""),
        request("attacker.example", &bearer),
    ];
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answers, ["200", "401", "421"]);
}

#[tokio::test(start_paused = true)]
async fn a_request_past_its_deadline_is_503_and_its_calls_stop() {
    let store = Arc::new(MemoryStore::new());
    let spec = ConfigSpec::new("us-west-2", "123456789012", "test/slow", ["v1"]).unwrap();
    let config = ScanConfig::create(spec, chrono::Utc::now());
    store.put(&config).await.unwrap();
    let mut backend = MockScanBackend::new();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    backend.expect_resolve_images().returning(move |_, _| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(ecrscan_core::BackendError::Unreachable {
            action: "ecr:DescribeImages".into(),
            message: "unreachable".into(),
        })
    });
    let slow = SlowBackend(Arc::new(backend));
    let router = app(AppState {
        deadline: Duration::from_secs(25),
        ..AppState::new(store, Arc::new(slow))
    });
    let started = tokio::time::Instant::now();
    let response = router
        .oneshot(Request::get("/summary").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "60");
    assert_eq!(started.elapsed(), Duration::from_secs(25));
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the slow call was dropped with the request, never completed"
    );
}

/// A backend whose every resolution takes an hour.
struct SlowBackend(Arc<MockScanBackend>);

#[async_trait::async_trait]
impl ecrscan_core::ScanBackend for SlowBackend {
    async fn list_repositories(
        &self,
        registry: &str,
        region: &str,
    ) -> Result<Vec<String>, ecrscan_core::BackendError> {
        self.0.list_repositories(registry, region).await
    }
    async fn list_accounts(
        &self,
    ) -> Result<Vec<ecrscan_core::backend::Account>, ecrscan_core::BackendError> {
        self.0.list_accounts().await
    }
    async fn resolve_images(
        &self,
        repository: &ecrscan_core::RepositoryRef,
        tags: &[String],
    ) -> Result<ecrscan_core::Resolution, ecrscan_core::BackendError> {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        self.0.resolve_images(repository, tags).await
    }
    async fn start_scan(
        &self,
        repository: &ecrscan_core::RepositoryRef,
        digest: &str,
    ) -> Result<(), ecrscan_core::BackendError> {
        self.0.start_scan(repository, digest).await
    }
    async fn scan_result(
        &self,
        repository: &ecrscan_core::RepositoryRef,
        digest: &str,
    ) -> Result<ecrscan_core::LatestScan, ecrscan_core::BackendError> {
        self.0.scan_result(repository, digest).await
    }
}
