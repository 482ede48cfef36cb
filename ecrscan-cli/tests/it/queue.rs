//! `ecrscan scan --queue` and `ecrscan worker` on moto's SQS and ECR: two
//! workers in parallel start every digest exactly once (counted at a proxy
//! in front of the emulator), drain the queue, and under injected faults
//! lose no image: each is started, or in the dead-letter queue with its
//! reason.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use ecrscan_core::testing::{Fault, FaultProxy, MotoServer};

const START_IMAGE_SCAN: &str = "AmazonEC2ContainerRegistry_V20150921.StartImageScan";

type Env = Vec<(&'static str, String)>;

fn ecrscan(store: &Path, env: &Env, endpoint: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ecrscan"));
    command
        .env("ECRSCAN_STORE", store)
        .env_remove("ECR_SCAN_CONFIG_BUCKET")
        .env_remove("AWS_PROFILE")
        .envs(env.iter().cloned())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

fn text(output: &Output) -> (i32, String, String) {
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Two repositories of tagged images on moto and three configs selecting
/// them (two overlap); returns every digest.
async fn fleet(moto: &MotoServer, store: &Path) -> Vec<String> {
    let mut digests = Vec::new();
    for (repository, images) in [("fleet/a", 12), ("fleet/b", 8)] {
        moto.create_repository(repository).await;
        for i in 0..images {
            digests.push(
                moto.push_image(
                    repository,
                    &format!("{repository}-{i}"),
                    &[&format!("t{i}")],
                )
                .await,
            );
        }
    }
    let add = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_ecrscan"))
            .env("ECRSCAN_STORE", store)
            .args([
                "configs",
                "add",
                "--region",
                "us-west-2",
                "--registry",
                "123456789012",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{:?}", text(&output));
    };
    add(&["--repository", "fleet/a"]);
    add(&["--repository", "fleet/b"]);
    add(&["--repository", "fleet/a", "--tag", "t0", "--tag", "t1"]);
    digests.sort();
    digests
}

/// The work queue with a dead-letter queue after `max_receives` receives.
async fn queues(moto: &MotoServer, max_receives: u32) -> (aws_sdk_sqs::Client, String, String) {
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
    let dead_letter = sqs
        .create_queue()
        .queue_name("work-dlq")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let policy = serde_json::json!({
        "deadLetterTargetArn": "arn:aws:sqs:us-west-2:123456789012:work-dlq",
        "maxReceiveCount": max_receives,
    });
    let work = sqs
        .create_queue()
        .queue_name("work")
        .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
        .attributes(QueueAttributeName::VisibilityTimeout, "60")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (sqs, work, dead_letter)
}

/// A proxy in front of moto counting StartImageScan calls per digest, and
/// answering 500 to every one for `failing` (the SDK's retries included).
async fn counting_proxy(
    moto: &MotoServer,
    failing: Option<String>,
) -> (FaultProxy, Arc<Mutex<BTreeMap<String, usize>>>) {
    let starts = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let seen = Arc::clone(&starts);
    let proxy = FaultProxy::start_by_request(moto.port(), move |request| {
        if request.target != START_IMAGE_SCAN {
            return Fault::Pass;
        }
        let body: serde_json::Value = serde_json::from_slice(request.body).unwrap_or_default();
        let digest = body["imageId"]["imageDigest"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if failing.as_deref() == Some(digest.as_str()) {
            return Fault::ServerError;
        }
        *seen.lock().unwrap().entry(digest).or_default() += 1;
        Fault::Pass
    })
    .await;
    (proxy, starts)
}

async fn waiting(sqs: &aws_sdk_sqs::Client, queue: &str) -> u64 {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let count = |name: QueueAttributeName| -> u64 {
        attributes
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    count(QueueAttributeName::ApproximateNumberOfMessages)
        + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_start_every_digest_exactly_once_and_drain_the_queue() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let digests = fleet(&moto, &store).await;
    let (sqs, work, dead_letter) = queues(&moto, 3).await;
    let (proxy, starts) = counting_proxy(&moto, None).await;
    let endpoint = proxy.endpoint();

    let env = moto.env();
    let (store_for, work_for, endpoint_for) = (store.clone(), work.clone(), endpoint.clone());
    let env_for = env.clone();
    let queued = tokio::task::spawn_blocking(move || {
        ecrscan(&store_for, &env_for, &endpoint_for)
            .args(["scan", "--queue", &work_for, "-o", "json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let (code, stdout, stderr) = text(&queued);
    assert_eq!(code, 0, "{stderr}");
    let enqueued: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        enqueued["scans"],
        digests.len(),
        "each digest queued once: {stdout}"
    );
    assert_eq!(enqueued["resolved"], 3);
    assert!(starts.lock().unwrap().is_empty(), "queueing starts nothing");

    let workers: Vec<_> = (0..2)
        .map(|_| {
            ecrscan(&store, &env, &endpoint)
                .args(["worker", "--queue", &work, "--until-empty"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs = tokio::task::spawn_blocking(move || {
        workers
            .into_iter()
            .map(|worker| worker.wait_with_output().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let mut done = 0;
    for output in &outputs {
        let (code, stdout, stderr) = text(output);
        assert_eq!(code, 0, "{stdout}{stderr}");
        done += stdout
            .split(' ')
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("a count: {stdout}"));
    }
    assert_eq!(
        done,
        digests.len(),
        "the two workers together did every message once"
    );
    let starts = starts.lock().unwrap().clone();
    assert_eq!(
        starts.keys().cloned().collect::<Vec<_>>(),
        digests,
        "every digest started"
    );
    assert!(
        starts.values().all(|n| *n == 1),
        "each exactly once: {starts:?}"
    );
    assert_eq!(waiting(&sqs, &work).await, 0, "the queue is drained");
    assert_eq!(waiting(&sqs, &dead_letter).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_keeps_failing_ends_in_the_dead_letter_queue_with_its_reason() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let digests = fleet(&moto, &store).await;
    let failing = digests[3].clone();
    let (sqs, work, dead_letter) = queues(&moto, 1).await;
    let (proxy, starts) = counting_proxy(&moto, Some(failing.clone())).await;
    let endpoint = proxy.endpoint();

    let env = moto.env();
    let (store_for, work_for, endpoint_for) = (store.clone(), work.clone(), endpoint.clone());
    let env_for = env.clone();
    let outputs = tokio::task::spawn_blocking(move || {
        let queued = ecrscan(&store_for, &env_for, &endpoint_for)
            .args(["scan", "--queue", &work_for])
            .output()
            .unwrap();
        let worker = ecrscan(&store_for, &env_for, &endpoint_for)
            .args([
                "--max-attempts",
                "2",
                "worker",
                "--queue",
                &work_for,
                "--until-empty",
            ])
            .output()
            .unwrap();
        (queued, worker)
    })
    .await
    .unwrap();
    let (code, stdout, stderr) = text(&outputs.0);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = text(&outputs.1);
    assert_eq!(
        code, 1,
        "a dead-lettered image fails the run: {stdout}{stderr}"
    );
    assert!(
        stdout.starts_with(&format!(
            "{} done, 0 returned to the queue, 0 waiting for their scan quota, 1 dead-lettered",
            digests.len() - 1
        )),
        "{stdout}"
    );
    assert!(stderr.contains("dead-lettered"), "{stderr}");

    let starts = starts.lock().unwrap().clone();
    let mut others = digests.clone();
    others.retain(|d| *d != failing);
    assert_eq!(starts.keys().cloned().collect::<Vec<_>>(), others);
    assert_eq!(waiting(&sqs, &work).await, 0);
    let dead = sqs
        .receive_message()
        .queue_url(&dead_letter)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    assert_eq!(dead.messages().len(), 1);
    let message = &dead.messages()[0];
    let body: serde_json::Value = serde_json::from_str(message.body().unwrap()).unwrap();
    assert_eq!(body["kind"], "scan");
    assert_eq!(body["digest"], failing.as_str());
    let reason = message
        .message_attributes()
        .and_then(|a| a.get("ecrscan-reason"))
        .and_then(|v| v.string_value())
        .unwrap_or_default();
    assert!(
        reason.contains("StartImageScan"),
        "the reason says what failed: {reason}"
    );
}
