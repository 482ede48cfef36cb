//! Failing AWS: a fault-injecting HTTP proxy between ecrscan and moto server
//! answers with 500s and throttling errors, resets connections and holds
//! answers past the time limit. Retries recover what can be recovered; what
//! can't is reported per image with the AWS error; a run never hangs; configs
//! are never lost or half-written.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use chrono::Utc;
use ecrscan_core::testing::MotoServer;
use ecrscan_core::{
    ConfigSpec, ConfigStore, EcrBackend, S3Store, ScanConfig, ScanOptions, ScanOutcome, rescan,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Pass,
    ServerError,
    Throttle,
    Reset,
    Hang,
}

/// A proxy that applies `plan(n)` to the n-th request (from 0).
struct FaultProxy {
    port: u16,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                return Some(buffer);
            }
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// Rewrites the request to close the upstream connection after one answer.
fn close_after(request: &[u8]) -> Vec<u8> {
    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
        return request.to_vec();
    };
    let head = String::from_utf8_lossy(&request[..end]);
    let mut lines: Vec<&str> = head
        .lines()
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&request[end + 4..]);
    out
}

fn aws_error(status: &str, code: &str) -> Vec<u8> {
    let body = format!(r#"{{"__type":"{code}","message":"injected by the test proxy"}}"#);
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: {code}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl FaultProxy {
    async fn start(
        upstream: u16,
        plan: impl Fn(usize) -> Fault + Send + Sync + 'static,
    ) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let plan = Arc::new(plan);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let (counter, plan) = (Arc::clone(&counter), Arc::clone(&plan));
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut client).await else {
                        return;
                    };
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    match plan(n) {
                        Fault::Pass => {
                            let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await
                            else {
                                return;
                            };
                            if server.write_all(&close_after(&request)).await.is_err() {
                                return;
                            }
                            let mut response = Vec::new();
                            let _ = server.read_to_end(&mut response).await;
                            let _ = client.write_all(&response).await;
                        }
                        Fault::ServerError => {
                            let _ = client
                                .write_all(&aws_error(
                                    "500 Internal Server Error",
                                    "ServerException",
                                ))
                                .await;
                        }
                        Fault::Throttle => {
                            let _ = client
                                .write_all(&aws_error("400 Bad Request", "ThrottlingException"))
                                .await;
                        }
                        Fault::Reset => {
                            let _ = client.set_zero_linger();
                        }
                        Fault::Hang => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                        }
                    }
                    let _ = client.shutdown().await;
                });
            }
        });
        FaultProxy {
            port,
            requests,
            task,
        }
    }

    fn sdk_config(&self, attempts: u32) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-west-2"))
            .endpoint_url(format!("http://127.0.0.1:{}", self.port))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new(
                        "testing", "testing", None, None, "test",
                    ),
                ),
            )
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(attempts)
                    .with_initial_backoff(Duration::from_millis(10)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_millis(800))
                    .operation_timeout(Duration::from_secs(5))
                    .build(),
            )
            .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().expect("tokio"))
            .time_source(aws_smithy_async::time::SystemTimeSource::new())
            .build()
    }
}

fn config(repository: &str, tags: &[&str]) -> ScanConfig {
    ScanConfig::create(
        ConfigSpec::new(
            "us-west-2",
            "123456789012",
            repository,
            tags.iter().copied(),
        )
        .unwrap(),
        Utc::now(),
    )
}

/// Runs `rescan` with a guard: a run that hangs fails the test.
async fn guarded_rescan(
    configs: &[ScanConfig],
    backend: &EcrBackend,
) -> ecrscan_core::RescanReport {
    tokio::time::timeout(
        Duration::from_secs(60),
        rescan(configs, backend, &ScanOptions::default()),
    )
    .await
    .expect("the run finished")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_server_errors_and_resets_are_retried_and_recovered() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_repository("test/ubuntu").await;
    moto.push_image("test/ubuntu", "faults-a", &["16.04"]).await;
    // Every other request fails, alternately with a 500 and a reset connection.
    let proxy = FaultProxy::start(moto.port(), |n| match n % 4 {
        0 => Fault::ServerError,
        2 => Fault::Reset,
        _ => Fault::Pass,
    })
    .await;
    let backend = EcrBackend::new(&proxy.sdk_config(4));
    let report = guarded_rescan(&[config("test/ubuntu", &["16.04"])], &backend).await;
    assert_eq!(
        report.images[0].outcome,
        ScanOutcome::Started,
        "{:?}",
        report.images[0]
    );
    assert!(
        proxy.requests.load(Ordering::SeqCst) > 3,
        "failed requests were retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_throttling_is_reported_per_image_with_the_aws_code() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_repository("test/ubuntu").await;
    moto.push_image("test/ubuntu", "faults-b", &["16.04"]).await;
    // Listing passes; every StartImageScan and registry lookup is throttled.
    let proxy = FaultProxy::start(moto.port(), |n| {
        if n == 0 { Fault::Pass } else { Fault::Throttle }
    })
    .await;
    let backend = EcrBackend::new(&proxy.sdk_config(3));
    let report = guarded_rescan(&[config("test/ubuntu", &["16.04"])], &backend).await;
    assert_eq!(report.failed, 1);
    let reason = report.images[0].reason.as_deref().unwrap();
    assert!(reason.contains("ThrottlingException"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_past_the_time_limit_end_as_timeouts_not_hangs() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let proxy = FaultProxy::start(moto.port(), |_| Fault::Hang).await;
    let backend = EcrBackend::new(&proxy.sdk_config(2));
    let report = guarded_rescan(
        &[
            config("test/ubuntu", &["16.04"]),
            config("test/centos", &[]),
        ],
        &backend,
    )
    .await;
    assert_eq!(report.failed, 2);
    for image in &report.images {
        let reason = image.reason.as_deref().unwrap();
        assert!(reason.contains("timed out"), "{reason}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_loses_nothing_and_leaves_no_half_config() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_bucket("faulty").await;
    let direct = S3Store::new(&moto.sdk_config(), "faulty", "");
    let kept = config("test/ubuntu", &["16.04"]);
    direct.put(&kept).await.unwrap();
    // Through the proxy, every write fails: 500s then resets.
    let proxy = FaultProxy::start(moto.port(), |n| {
        if n % 2 == 0 {
            Fault::ServerError
        } else {
            Fault::Reset
        }
    })
    .await;
    let faulty = S3Store::new(&proxy.sdk_config(3), "faulty", "");
    let mut changed = kept.clone();
    changed.tags = vec!["latest".into()];
    let err = tokio::time::timeout(Duration::from_secs(60), faulty.put(&changed))
        .await
        .expect("the write finished")
        .unwrap_err();
    assert!(err.to_string().contains("s3:PutObject"), "{err}");
    assert_eq!(
        direct.list().await.unwrap(),
        vec![kept],
        "the old config is intact and alone"
    );
}
