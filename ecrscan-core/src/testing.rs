//! A local AWS emulator for tests: [`MotoServer`] starts `moto_server` on a
//! free port on 127.0.0.1 and stops it when dropped.
//!
//! The executable is `$ECRSCAN_MOTO_SERVER`, else
//! `.venv/bin/ecrscan-moto-server` in the workspace (moto answering one
//! request at a time, as AWS applies each request atomically; installed by
//! `scripts/ensure-moto.sh`), else `moto_server` on `PATH`. When none is found, [`MotoServer::start`] returns `None`
//! and says so loudly on stderr, so the test can return early — unless
//! `ECRSCAN_REQUIRE_MOTO` or `CI` is set, where a missing emulator is a
//! test failure. A test binary that skipped any says how many when it
//! exits, past the test harness's output capture.
//!
//! [`FaultProxy`] goes between ecrscan and the emulator to inject failures;
//! [`SimulatedEcr`] is a registry in memory for tests and benchmarks.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod fault_proxy;
mod golden;
mod memory_queue;
pub mod organization;
mod paced;
mod peak_heap;
mod simulated;
mod throttling;

pub use fault_proxy::{Fault, FaultProxy, ProxiedRequest};
pub use golden::assert_golden;
pub use memory_queue::MemoryQueue;
pub use paced::Paced;
pub use peak_heap::{PeakHeap, peak_heap_of};
pub use simulated::SimulatedEcr;
pub use throttling::{DriveReport, ThrottlingService, drive};

/// A running moto server; stopped on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
}

fn find_executable() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ECRSCAN_MOTO_SERVER") {
        return Some(PathBuf::from(path));
    }
    let workspace_venv =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/ecrscan-moto-server");
    if workspace_venv.is_file() {
        return Some(workspace_venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("moto_server"))
            .find(|candidate| candidate.is_file())
    })
}

/// The Python of the test tools' virtualenv (beside `moto_server`), which
/// has the independent checkers the tests run (feedparser, lxml, rnc2rng,
/// standardwebhooks); `None`, after a loud notice, when it is not installed
/// and not required.
///
/// # Panics
///
/// When it is required (`ECRSCAN_REQUIRE_MOTO` or `CI`) but missing.
pub fn test_python() -> Option<PathBuf> {
    let python = tools_python();
    if python.is_none() {
        assert!(
            !required(),
            "the test tools' Python not found: run scripts/ensure-moto.sh"
        );
        note_skipped("the test tools' Python");
    }
    python
}

/// The test tools' Python when a headless browser is there to drive: the
/// Chromium and chromedriver that `scripts/ensure-browser.sh` installs (or
/// `ECRSCAN_CHROMIUM` and `ECRSCAN_CHROMEDRIVER`), with Selenium in the
/// test tools. `None` when they are missing and not required.
///
/// # Panics
///
/// When they are required (`ECRSCAN_REQUIRE_BROWSER` or `CI`) but missing.
pub fn test_browser() -> Option<PathBuf> {
    let browser = |variable: &str, default: &str| {
        std::env::var_os(variable)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default))
    };
    let chromium = browser("ECRSCAN_CHROMIUM", "/usr/bin/chromium");
    let driver = browser("ECRSCAN_CHROMEDRIVER", "/usr/bin/chromedriver");
    let python = tools_python();
    let selenium = python.as_ref().is_some_and(|python| {
        Command::new(python)
            .args(["-c", "import selenium"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    });
    if chromium.is_file() && driver.is_file() && selenium {
        return python;
    }
    let required =
        std::env::var_os("ECRSCAN_REQUIRE_BROWSER").is_some() || std::env::var_os("CI").is_some();
    assert!(
        !required,
        "no headless browser to test with ({} and {} with Selenium in the test tools): run scripts/ensure-browser.sh",
        chromium.display(),
        driver.display()
    );
    note_skipped("a headless browser");
    None
}

/// The Python beside the emulator's launcher, where the test tools are.
fn tools_python() -> Option<PathBuf> {
    find_executable()
        .and_then(|moto| moto.parent().map(|dir| dir.join("python")))
        .filter(|python| python.is_file())
}

static SKIPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static REPORT_SKIPPED: std::sync::Once = std::sync::Once::new();

/// Counts a skipped test and, the first time, says so on stderr and
/// arranges for the count to be printed when the test binary exits. Both
/// are written to the process's stderr directly: the test harness captures
/// `eprintln!`, which would hide them.
fn note_skipped(what: &str) {
    SKIPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    REPORT_SKIPPED.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPING the tests that need {what}: run scripts/test.sh, which installs \
             the AWS emulator and the test tools (or set ECRSCAN_MOTO_SERVER) ***"
        );
        #[cfg(unix)]
        // SAFETY: registers a plain function without arguments, as atexit expects.
        unsafe {
            libc::atexit(report_skipped);
        }
    });
}

#[cfg(unix)]
extern "C" fn report_skipped() {
    let skipped = SKIPPED.load(std::sync::atomic::Ordering::Relaxed);
    let _ = writeln!(
        std::io::stderr(),
        "\n*** {skipped} test(s) were SKIPPED: they need the AWS emulator (moto server) and the \
         test tools. Run scripts/test.sh to run every test. ***\n"
    );
}

/// For tests of what file permissions deny: when the process runs as
/// root, which permissions do not stop, runs the test named `test` (its
/// full path in this test binary, e.g. `local_stores::a_test`) again in a
/// child process as the unprivileged user `nobody` (uid and gid 65534),
/// panics if it fails there, and returns `true`: the caller then returns.
/// Returns `false` for any other user: the caller tests as itself.
#[cfg(unix)]
pub fn rerun_unprivileged_if_root(test: &str) -> bool {
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return false;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = Command::new(exe)
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env("HOME", std::env::temp_dir())
        .uid(65534)
        .gid(65534)
        .output()
        .expect("the test binary runs as nobody");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{test} failed as the unprivileged user nobody:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    true
}

fn required() -> bool {
    std::env::var_os("ECRSCAN_REQUIRE_MOTO").is_some() || std::env::var_os("CI").is_some()
}

impl MotoServer {
    /// Starts a server, or returns `None` (after a loud notice) when no
    /// `moto_server` is installed and the emulator isn't required.
    ///
    /// # Panics
    ///
    /// When the emulator is required but missing, or fails to start.
    pub fn start() -> Option<MotoServer> {
        let Some(executable) = find_executable() else {
            if required() {
                panic!(
                    "moto_server not found: run scripts/ensure-moto.sh or set ECRSCAN_MOTO_SERVER"
                );
            }
            note_skipped("the AWS emulator (moto_server)");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("a free local port");
        let child = Command::new(&executable)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", executable.display()));
        let server = MotoServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.request("GET", "/moto-api/data.json", "").is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(server)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends one HTTP/1.1 request with a JSON body and returns the status
    /// code and body.
    pub fn request(&self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        self.request_with_headers(method, path, &[("Content-Type", "application/json")], body)
    }

    /// Sends one HTTP/1.1 request with these headers and returns the
    /// status code and body.
    pub fn request_with_headers(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let headers: String = headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{headers}\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| {
                std::io::Error::other(format!("not an HTTP response: {response:.80}"))
            })?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// Registers the results moto returns from DescribeImageScanFindings
    /// (`POST /moto-api/static/ecr/scan-finding-results`): each item is a
    /// whole DescribeImageScanFindings response, matched by repository and
    /// digest.
    pub fn set_scan_findings(&self, region: &str, results: &serde_json::Value) {
        self.set_scan_findings_in("123456789012", region, results);
    }

    /// [`MotoServer::set_scan_findings`] of the registry `account`.
    pub fn set_scan_findings_in(&self, account: &str, region: &str, results: &serde_json::Value) {
        let body =
            serde_json::json!({ "region": region, "account_id": account, "results": results });
        let (status, text) = self
            .request(
                "POST",
                "/moto-api/static/ecr/scan-finding-results",
                &body.to_string(),
            )
            .expect("moto answers");
        assert!(
            status < 300,
            "moto refused the scan findings: {status} {text}"
        );
    }

    /// The environment a child process needs to talk to this server (and
    /// never to AWS): endpoint, dummy credentials, region, no metadata
    /// service and no shared config files.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-west-2".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ]
    }

    /// An AWS SDK configuration for this server: dummy credentials, region
    /// `us-west-2`, 3 attempts per call and 30 s per call.
    #[cfg(feature = "aws")]
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        local_sdk_config(
            &self.endpoint(),
            aws_config::retry::RetryConfig::standard().with_max_attempts(3),
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
    }
}

/// Many accounts on the emulator: IAM in any account, SDK clients acting
/// in another account, and moto's authentication.
#[cfg(feature = "ecr")]
impl MotoServer {
    /// Calls IAM (`Action` and its parameters) in `account`, with
    /// authentication off; returns the XML answer.
    ///
    /// # Panics
    ///
    /// When moto refuses the call.
    pub fn iam(&self, account: &str, action: &str, parameters: &[(&str, &str)]) -> String {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", action)
            .append_pair("Version", "2010-05-08")
            .extend_pairs(parameters.iter().copied())
            .finish();
        let (status, text) = self
            .request_with_headers(
                "POST",
                "/",
                &[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    (
                        "Authorization",
                        "AWS4-HMAC-SHA256 Credential=testing/20261204/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
                    ),
                    ("x-moto-account-id", account),
                ],
                &body,
            )
            .expect("moto answers");
        assert!(status < 300, "moto refused iam:{action}: {status} {text}");
        text
    }

    /// An SDK configuration acting in `account`: the credentials of a role
    /// session moto hands out (with authentication off, into any account).
    pub async fn sdk_config_in(&self, account: &str) -> aws_config::SdkConfig {
        let sts = aws_sdk_sts::Client::new(&self.sdk_config());
        let credentials = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/moto-seeder"))
            .role_session_name("seeder")
            .send()
            .await
            .expect("moto hands out a session in any account")
            .credentials
            .expect("a session has credentials");
        self.sdk_config()
            .into_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new(
                        credentials.access_key_id,
                        credentials.secret_access_key,
                        Some(credentials.session_token),
                        None,
                        "moto-session",
                    ),
                ),
            )
            .build()
    }

    /// Switches moto's authentication on for the rest of this server's
    /// life: every request must then be signed with keys moto issued, and
    /// the caller's IAM policies are checked (cross-account trust policies
    /// are not).
    ///
    /// # Panics
    ///
    /// When moto refuses.
    pub fn require_authentication(&self) {
        let (status, text) = self
            .request_with_headers(
                "POST",
                "/moto-api/reset-auth",
                &[("Content-Type", "text/plain")],
                "0",
            )
            .expect("moto answers");
        assert!(status < 300, "moto refused reset-auth: {status} {text}");
    }
}

/// An AWS SDK configuration for an endpoint on this machine: dummy
/// credentials, region `us-west-2`, the given retries and time limits.
#[cfg(feature = "aws")]
fn local_sdk_config(
    endpoint: &str,
    retry: aws_config::retry::RetryConfig,
    timeouts: aws_config::timeout::TimeoutConfig,
) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-west-2"))
        .endpoint_url(endpoint)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("testing", "testing", None, None, "local"),
            ),
        )
        .retry_config(retry)
        .timeout_config(timeouts)
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().expect("tokio sleep"))
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .build()
}

/// Notification targets on the emulator, read back through SQS.
#[cfg(feature = "notify")]
impl MotoServer {
    /// Creates the SNS topic `name` with the SQS queue `name` subscribed to
    /// it (each message is SNS's JSON notification); the topic's ARN and the
    /// queue's URL.
    pub async fn topic_with_queue(&self, name: &str) -> (String, String) {
        let sdk = self.sdk_config();
        let sns = aws_sdk_sns::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let topic = sns
            .create_topic()
            .name(name)
            .send()
            .await
            .expect("create the topic on moto")
            .topic_arn
            .expect("a topic ARN");
        let queue_url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create the queue on moto")
            .queue_url
            .expect("a queue URL");
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(format!("arn:aws:sqs:us-west-2:123456789012:{name}"))
            .send()
            .await
            .expect("subscribe the queue on moto");
        (topic, queue_url)
    }

    /// Every message waiting in the queue, received and deleted, as JSON.
    pub async fn drain_queue(&self, queue_url: &str) -> Vec<serde_json::Value> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk_config());
        let mut messages = Vec::new();
        loop {
            let received = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive from moto");
            if received.messages().is_empty() {
                return messages;
            }
            for message in received.messages() {
                messages.push(
                    serde_json::from_str(message.body().unwrap_or_default())
                        .expect("a JSON message"),
                );
                if let Some(handle) = message.receipt_handle() {
                    sqs.delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("delete from moto");
                }
            }
        }
    }
}

/// Setting up AWS resources on the emulator.
#[cfg(all(feature = "s3", feature = "ecr"))]
impl MotoServer {
    /// Creates an S3 bucket in `us-west-2` and returns a client for it.
    pub async fn create_bucket(&self, name: &str) -> aws_sdk_s3::Client {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk_config())
                .force_path_style(true)
                .build(),
        );
        client
            .create_bucket()
            .bucket(name)
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::UsWest2)
                    .build(),
            )
            .send()
            .await
            .expect("create the bucket on moto");
        client
    }

    /// An ECR client for the emulator.
    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::new(&self.sdk_config())
    }

    /// Creates an ECR repository.
    pub async fn create_repository(&self, name: &str) {
        self.ecr()
            .create_repository()
            .repository_name(name)
            .send()
            .await
            .expect("create the repository on moto");
    }

    /// Pushes an image (a Docker schema-2 manifest whose layer is derived
    /// from `seed`, so different seeds give different digests) under each
    /// of `tags`, or untagged when `tags` is empty; returns its digest.
    pub async fn push_image(&self, repository: &str, seed: &str, tags: &[&str]) -> String {
        push_image_with(&self.ecr(), repository, seed, tags).await
    }
}

/// Pushes an image with `ecr` (see [`MotoServer::push_image`]): in the
/// account its credentials act in.
#[cfg(all(feature = "s3", feature = "ecr"))]
pub async fn push_image_with(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    seed: &str,
    tags: &[&str],
) -> String {
    let layer: String = format!("{:x}", u128::from_le_bytes(*seed_bytes(seed)))
        .chars()
        .cycle()
        .take(64)
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469,
                   "digest": format!("sha256:{}", "c".repeat(64))},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 26_000_000,
                    "digest": format!("sha256:{layer}")}],
    })
    .to_string();
    let tags: Vec<Option<&str>> = if tags.is_empty() {
        vec![None]
    } else {
        tags.iter().copied().map(Some).collect()
    };
    let mut digest = String::new();
    for tag in tags {
        let output = ecr
            .put_image()
            .repository_name(repository)
            .image_manifest(&manifest)
            .set_image_tag(tag.map(str::to_owned))
            .send()
            .await
            .expect("push the image to moto");
        digest = output
            .image()
            .and_then(|image| image.image_id())
            .and_then(|id| id.image_digest())
            .expect("moto returns the digest")
            .to_owned();
    }
    digest
}

/// 16 bytes that differ for different seeds (FNV-1a, twice).
#[cfg(all(feature = "s3", feature = "ecr"))]
fn seed_bytes(seed: &str) -> Box<[u8; 16]> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut out = [0u8; 16];
    for round in 0..2u8 {
        for byte in seed.bytes().chain([round]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        out[usize::from(round) * 8..usize::from(round) * 8 + 8]
            .copy_from_slice(&hash.to_le_bytes());
    }
    Box::new(out)
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
