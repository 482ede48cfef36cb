//! A fault-injecting HTTP proxy for tests: between ecrscan and moto server,
//! it answers with 500s and throttling errors, resets connections, holds
//! answers past any time limit, and goes down with its upstream.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::MotoServer;

/// What the proxy does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward it and its answer.
    Pass,
    /// Answer `500 Internal Server Error` with an AWS `ServerException`.
    ServerError,
    /// Answer `400 Bad Request` with an AWS `ThrottlingException`.
    Throttle,
    /// Reset the connection without answering.
    Reset,
    /// Answer nothing for a minute.
    Hang,
    /// Forward the request's head and half its body, then close both
    /// connections: the server gets a request cut in the middle of its
    /// body, the client no answer.
    CutBody,
    /// Forward the whole request and wait for the server's answer, then
    /// reset the client's connection without it: the request took effect,
    /// and the client cannot know.
    DropAnswer,
}

/// A request the proxy received, as its plan sees it.
#[derive(Debug, Clone, Copy)]
pub struct ProxiedRequest<'a> {
    /// Its position among the proxy's requests, from 0.
    pub index: usize,
    /// The HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// The request target, e.g. `/bucket/key.json?x-id=GetObject`.
    pub path: &'a str,
    /// The `X-Amz-Target` header of a JSON protocol call, e.g.
    /// `AmazonEC2ContainerRegistry_V20150921.StartImageScan`; empty if none.
    pub target: &'a str,
    /// The request body.
    pub body: &'a [u8],
}

/// A proxy on a free port of 127.0.0.1 that applies `plan(n)` to the n-th
/// request (from 0); stopped on drop.
///
/// Each request is forwarded on its own upstream connection. When the
/// upstream refuses a connection (e.g. the emulator was killed), the proxy
/// goes down with it: that request's connection is closed unanswered and
/// the proxy stops listening, so later connections are refused as the
/// upstream's would be.
#[derive(Debug)]
pub struct FaultProxy {
    port: u16,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
    /// The emulator the proxy kills, while it lives.
    doomed: Option<Arc<Mutex<Option<MotoServer>>>>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts the proxy in front of `127.0.0.1:upstream`.
    ///
    /// # Panics
    ///
    /// When no port of 127.0.0.1 can be bound.
    pub async fn start(
        upstream: u16,
        plan: impl Fn(usize) -> Fault + Send + Sync + 'static,
    ) -> FaultProxy {
        FaultProxy::start_by_request(upstream, move |request| plan(request.index)).await
    }

    /// Starts the proxy in front of `127.0.0.1:upstream`, applying
    /// `plan(request)` by what each request is (its method and path), not
    /// only by when it comes: a plan that one slow answer cannot shift.
    ///
    /// # Panics
    ///
    /// When no port of 127.0.0.1 can be bound.
    pub async fn start_by_request(
        upstream: u16,
        plan: impl Fn(&ProxiedRequest<'_>) -> Fault + Send + Sync + 'static,
    ) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port on 127.0.0.1");
        let port = listener
            .local_addr()
            .expect("the bound listener's address")
            .port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let plan = Arc::new(plan);
        let upstream_gone = Arc::new(Notify::new());
        let task = tokio::spawn(async move {
            loop {
                let mut client = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => client,
                        Err(_) => return,
                    },
                    () = upstream_gone.notified() => return,
                };
                let (counter, plan, upstream_gone) = (
                    Arc::clone(&counter),
                    Arc::clone(&plan),
                    Arc::clone(&upstream_gone),
                );
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut client).await else {
                        return;
                    };
                    let index = counter.fetch_add(1, Ordering::SeqCst);
                    let line = request
                        .split(|&b| b == b'\n')
                        .next()
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default();
                    let mut parts = line.split(' ');
                    let method = parts.next().unwrap_or_default().to_owned();
                    let path = parts.next().unwrap_or_default().to_owned();
                    let end = request
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .unwrap_or(request.len());
                    let target = String::from_utf8_lossy(&request[..end])
                        .lines()
                        .find_map(|line| {
                            let (name, value) = line.split_once(':')?;
                            name.eq_ignore_ascii_case("x-amz-target")
                                .then(|| value.trim().to_owned())
                        })
                        .unwrap_or_default();
                    let body = request.get(end + 4..).unwrap_or_default();
                    match plan(&ProxiedRequest {
                        index,
                        method: &method,
                        path: &path,
                        target: &target,
                        body,
                    }) {
                        Fault::Pass => {
                            let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await
                            else {
                                upstream_gone.notify_one();
                                let _ = client.set_zero_linger();
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
                        Fault::CutBody => {
                            if let Ok(mut server) =
                                TcpStream::connect(("127.0.0.1", upstream)).await
                            {
                                let whole = close_after(&request);
                                let head = whole
                                    .windows(4)
                                    .position(|w| w == b"\r\n\r\n")
                                    .map_or(whole.len(), |end| end + 4);
                                let cut = head + (whole.len() - head) / 2;
                                let _ = server.write_all(&whole[..cut]).await;
                                let _ = server.shutdown().await;
                            }
                            let _ = client.set_zero_linger();
                            return;
                        }
                        Fault::DropAnswer => {
                            if let Ok(mut server) =
                                TcpStream::connect(("127.0.0.1", upstream)).await
                                && server.write_all(&close_after(&request)).await.is_ok()
                            {
                                let mut response = Vec::new();
                                let _ = server.read_to_end(&mut response).await;
                            }
                            let _ = client.set_zero_linger();
                            return;
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
            doomed: None,
        }
    }

    /// A proxy in front of `emulator` that passes every request, and kills
    /// the emulator when request `at_request` (from 0) arrives: the
    /// emulator dying in the middle of a run. That request and all later
    /// ones find no one listening.
    pub async fn killing(emulator: MotoServer, at_request: usize) -> FaultProxy {
        let upstream = emulator.port();
        let doomed = Arc::new(Mutex::new(Some(emulator)));
        let killer = Arc::clone(&doomed);
        let mut proxy = FaultProxy::start(upstream, move |n| {
            if n == at_request {
                // Dropping the server kills it.
                let emulator = killer.lock().map(|mut alive| alive.take());
                drop(emulator);
            }
            Fault::Pass
        })
        .await;
        proxy.doomed = Some(doomed);
        proxy
    }

    /// Whether the proxy has killed its emulator (see [`FaultProxy::killing`]).
    pub fn killed_its_emulator(&self) -> bool {
        self.doomed
            .as_ref()
            .is_some_and(|doomed| doomed.lock().is_ok_and(|alive| alive.is_none()))
    }

    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many requests the proxy has received.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// An AWS SDK configuration for the proxy: dummy credentials, region
    /// `us-west-2`, `attempts` attempts per call 10 ms apart, 800 ms per
    /// attempt and 5 s per call.
    #[cfg(feature = "aws")]
    pub fn sdk_config(&self, attempts: u32) -> aws_config::SdkConfig {
        super::local_sdk_config(
            &self.endpoint(),
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(10)),
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(800))
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
    }
}

/// One HTTP request: the head and a `Content-Length` body.
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
