//! The API function under its real Lambda runtime at `RUST_LOG=trace`: a
//! signed request's credentials never reach the logs, though the runtime
//! logs every raw event at trace.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const SIGNATURE: &str = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
const ACCESS_KEY: &str = "AKIAIOSFODNN7SECRETID";
const SESSION_TOKEN: &str = "FwoGZXIvYXdzEXAMPLESESSIONTOKENxyz";
const BODY: &str = "eyJyZWdpb24iOiJ1cy13ZXN0LTIiLCJyZWdpc3RyeSI6IjEyMzQ1Njc4OTAxMiIsInJlcG9zaXRvcnkiOiJ0ZXN0L2NlbnRvcyIsInRhZ3MiOlsiNyJdfQ==";

fn signed_event() -> String {
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20261204/us-west-2/execute-api/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature={SIGNATURE}"
    );
    serde_json::json!({
        "resource": "/configs", "path": "/configs", "httpMethod": "POST",
        "headers": {
            "Content-Type": "application/json", "Host": "abc123defg.execute-api.us-west-2.amazonaws.com",
            "Authorization": authorization, "X-Amz-Date": "20261204T120000Z",
            "X-Amz-Security-Token": SESSION_TOKEN
        },
        "multiValueHeaders": {
            "Content-Type": ["application/json"], "Host": ["abc123defg.execute-api.us-west-2.amazonaws.com"],
            "Authorization": [authorization], "X-Amz-Date": ["20261204T120000Z"],
            "X-Amz-Security-Token": [SESSION_TOKEN]
        },
        "queryStringParameters": null, "multiValueQueryStringParameters": null,
        "pathParameters": null, "stageVariables": null,
        "requestContext": {
            "resourceId": "m2n3b4", "resourcePath": "/configs", "httpMethod": "POST",
            "path": "/Prod/configs", "accountId": "123456789012", "protocol": "HTTP/1.1",
            "stage": "Prod", "requestTimeEpoch": 1795773600000u64,
            "requestId": "2a7b6c2e-2a3b-4c5d-8e9f-0a1b2c3d4e5f",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "aws-sdk", "accessKey": ACCESS_KEY},
            "domainName": "abc123defg.execute-api.us-west-2.amazonaws.com", "apiId": "abc123defg"
        },
        "body": BODY, "isBase64Encoded": true
    })
    .to_string()
}

/// Reads one HTTP/1.1 request: its request line and body.
fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((request_line, body))
}

/// A Lambda Runtime API on 127.0.0.1 that hands out one event and sends
/// the function's response to `responses`; later polls wait forever.
fn fake_runtime_api(event: String, responses: mpsc::Sender<String>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut handed_out = false;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some((request_line, body)) = read_request(&mut stream) else {
                continue;
            };
            if request_line.starts_with("GET /2018-06-01/runtime/invocation/next") {
                if handed_out {
                    // The next poll: hold it open, as Lambda does between events.
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_secs(120));
                        drop(stream);
                    });
                    continue;
                }
                handed_out = true;
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + 30_000;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Lambda-Runtime-Aws-Request-Id: 8476a536-e9f4-11e8-9739-2dfe598c3fcd\r\n\
                     Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                     Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-west-2:123456789012:function:ecrscan-api\r\n\
                     Lambda-Runtime-Trace-Id: Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1\r\n\
                     Content-Length: {}\r\n\r\n{event}",
                    event.len()
                );
            } else {
                let _ = stream.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
                let _ = responses.send(format!(
                    "{}{}",
                    request_line.trim(),
                    String::from_utf8_lossy(&body)
                ));
            }
        }
    });
    port
}

#[test]
fn the_api_function_at_trace_level_never_logs_a_signed_requests_credentials() {
    let store = tempfile::tempdir().unwrap();
    let (sender, responses) = mpsc::channel();
    let port = fake_runtime_api(signed_event(), sender);
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecrscan-api"))
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "ecrscan-api")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "stream")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/ecrscan-api")
        .env("ECRSCAN_STORE", store.path())
        .env("RUST_LOG", "trace")
        .env("AWS_REGION", "us-west-2")
        .env("AWS_ACCESS_KEY_ID", "AKIAFUNCTIONROLEKEY1")
        .env("AWS_SECRET_ACCESS_KEY", "functionsecret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let response = responses.recv_timeout(Duration::from_secs(60));
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    let response = response.unwrap_or_else(|_| panic!("no response from the function:\n{logs}"));
    assert!(
        response.contains("/response") && response.contains("\"statusCode\":201"),
        "the request was handled: {response}"
    );
    assert!(
        logs.contains("\"level\":\"DEBUG\"") || logs.contains("\"level\":\"TRACE\""),
        "trace logging is on:\n{logs}"
    );
    for secret in [
        SIGNATURE,
        ACCESS_KEY,
        SESSION_TOKEN,
        BODY,
        "AKIAFUNCTIONROLEKEY1",
    ] {
        assert!(!logs.contains(secret), "{secret} is in the logs:\n{logs}");
    }
}
