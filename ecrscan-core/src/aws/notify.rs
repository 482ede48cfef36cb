//! [`AwsTransport`] sends deliveries: HTTP POSTs for webhooks and Slack,
//! SNS `Publish`, EventBridge `PutEvents`. [`AwsSecrets`] reads webhook
//! secrets from the environment, files and AWS Secrets Manager.
//!
//! SNS, EventBridge and Secrets Manager are called in the region their ARN
//! names (a bus given by name: the configured region), with the standard
//! AWS configuration otherwise.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::channels::SecretRef;
use crate::deliveries::SendError;
use crate::notify::messages::Outgoing;
use crate::notify::{SecretSource, Transport, read_local_secret};

/// The time limit of one HTTP delivery.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an error response is kept, for the delivery's `last_error`.
const MAX_ERROR_BODY_BYTES: usize = 512;
/// How long a secret read from Secrets Manager is reused.
const SECRET_CACHE: Duration = Duration::from_secs(300);

/// The region an ARN names.
fn arn_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|region| !region.is_empty())
}

/// An AWS SDK error as a delivery outcome: timeouts, connection failures,
/// throttling and 5xx may pass on another attempt; other refusals will not.
fn send_error<E>(action: &str, err: &SdkError<E, HttpResponse>) -> SendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = format!("{action}: {}", super::describe(err));
    let retryable = match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            status >= 500
                || status == 429
                || super::code(err).is_some_and(super::is_throttling_code)
        }
        _ => true,
    };
    SendError { retryable, message }
}

/// One SDK client per region, made on first use.
struct PerRegion<C> {
    sdk: SdkConfig,
    make: fn(&SdkConfig, Option<&str>) -> C,
    clients: Mutex<HashMap<String, C>>,
}

impl<C: Clone> PerRegion<C> {
    fn new(sdk: SdkConfig, make: fn(&SdkConfig, Option<&str>) -> C) -> PerRegion<C> {
        PerRegion {
            sdk,
            make,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, region: Option<&str>) -> C {
        let key = region.unwrap_or_default().to_owned();
        let mut clients = match self.clients.lock() {
            Ok(clients) => clients,
            Err(poisoned) => poisoned.into_inner(),
        };
        clients
            .entry(key)
            .or_insert_with(|| (self.make)(&self.sdk, region))
            .clone()
    }
}

fn sns_client(sdk: &SdkConfig, region: Option<&str>) -> aws_sdk_sns::Client {
    let mut config = aws_sdk_sns::config::Builder::from(sdk);
    if let Some(region) = region {
        config = config.region(aws_config::Region::new(region.to_owned()));
    }
    aws_sdk_sns::Client::from_conf(config.build())
}

fn events_client(sdk: &SdkConfig, region: Option<&str>) -> aws_sdk_eventbridge::Client {
    let mut config = aws_sdk_eventbridge::config::Builder::from(sdk);
    if let Some(region) = region {
        config = config.region(aws_config::Region::new(region.to_owned()));
    }
    aws_sdk_eventbridge::Client::from_conf(config.build())
}

fn secrets_client(sdk: &SdkConfig, region: Option<&str>) -> aws_sdk_secretsmanager::Client {
    let mut config = aws_sdk_secretsmanager::config::Builder::from(sdk);
    if let Some(region) = region {
        config = config.region(aws_config::Region::new(region.to_owned()));
    }
    aws_sdk_secretsmanager::Client::from_conf(config.build())
}

/// Sends deliveries over HTTP, SNS and EventBridge.
pub struct AwsTransport {
    http: reqwest::Client,
    sns: PerRegion<aws_sdk_sns::Client>,
    events: PerRegion<aws_sdk_eventbridge::Client>,
}

impl std::fmt::Debug for AwsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsTransport").finish_non_exhaustive()
    }
}

/// A transport that could not be set up (no TLS roots).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client for deliveries: {0}")]
pub struct TransportSetupError(String);

impl AwsTransport {
    /// A transport over `sdk`'s AWS configuration; HTTP deliveries time out
    /// after [`HTTP_TIMEOUT`] and never follow redirects.
    pub fn new(sdk: &SdkConfig) -> Result<AwsTransport, TransportSetupError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("ecrscan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| TransportSetupError(err.without_url().to_string()))?;
        Ok(AwsTransport {
            http,
            sns: PerRegion::new(sdk.clone(), sns_client),
            events: PerRegion::new(sdk.clone(), events_client),
        })
    }

    async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), SendError> {
        // The URL stays out of every message: a Slack URL is a credential.
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = request.send().await.map_err(|err| {
            let err = err.without_url();
            let what = if err.is_timeout() {
                "timed out"
            } else if err.is_connect() {
                "could not connect"
            } else {
                "failed"
            };
            SendError::retryable(format!("the POST {what}: {err}"))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let mut excerpt = Vec::new();
        while excerpt.len() < MAX_ERROR_BODY_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                _ => break,
            }
        }
        excerpt.truncate(MAX_ERROR_BODY_BYTES);
        let excerpt: String = String::from_utf8_lossy(&excerpt)
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        let message = if status.is_redirection() {
            format!("HTTP {status}: the receiver redirects, and deliveries never follow redirects")
        } else if excerpt.trim().is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {}", excerpt.trim())
        };
        let retryable = status.is_server_error()
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::REQUEST_TIMEOUT;
        Err(SendError { retryable, message })
    }
}

#[async_trait::async_trait]
impl Transport for AwsTransport {
    async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        match message {
            Outgoing::Http { url, headers, body } => self.post(url, headers, body).await,
            Outgoing::Sns {
                topic_arn,
                message,
                attributes,
                fifo,
            } => {
                let mut publish = self
                    .sns
                    .client(arn_region(topic_arn))
                    .publish()
                    .topic_arn(topic_arn)
                    .message(message);
                for (name, value) in attributes {
                    let attribute = aws_sdk_sns::types::MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(value)
                        .build()
                        .map_err(|err| {
                            SendError::permanent(format!("SNS attribute {name}: {err}"))
                        })?;
                    publish = publish.message_attributes(name, attribute);
                }
                if let Some((group, deduplication)) = fifo {
                    publish = publish
                        .message_group_id(group)
                        .message_deduplication_id(deduplication);
                }
                publish
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|err| send_error("SNS Publish", &err))
            }
            Outgoing::EventBridge {
                bus,
                source,
                detail_type,
                detail,
                resources,
                time,
            } => {
                let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .source(source)
                    .detail_type(detail_type)
                    .detail(detail)
                    .set_resources(Some(resources.clone()))
                    .time(aws_smithy_types::DateTime::from_secs(time.timestamp()))
                    .set_event_bus_name(bus.clone())
                    .build();
                let region = bus
                    .as_deref()
                    .filter(|b| b.starts_with("arn:"))
                    .and_then(arn_region);
                let output = self
                    .events
                    .client(region)
                    .put_events()
                    .entries(entry)
                    .send()
                    .await
                    .map_err(|err| send_error("EventBridge PutEvents", &err))?;
                if output.failed_entry_count() == 0 {
                    return Ok(());
                }
                let failed = output.entries().first();
                let code = failed
                    .and_then(|e| e.error_code())
                    .unwrap_or("UnknownError");
                let text = failed.and_then(|e| e.error_message()).unwrap_or_default();
                let retryable = matches!(code, "InternalFailure" | "ThrottlingException");
                Err(SendError {
                    retryable,
                    message: format!("EventBridge PutEvents refused the event: {code} {text}")
                        .trim_end()
                        .to_owned(),
                })
            }
        }
    }
}

/// Webhook secrets from `env:`, `file:` and Secrets Manager ARNs (each
/// value reused for 5 minutes).
pub struct AwsSecrets {
    clients: PerRegion<aws_sdk_secretsmanager::Client>,
    cache: Mutex<HashMap<String, (Instant, String)>>,
}

impl std::fmt::Debug for AwsSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsSecrets").finish_non_exhaustive()
    }
}

impl AwsSecrets {
    /// Reads Secrets Manager secrets with `sdk`'s configuration.
    pub fn new(sdk: &SdkConfig) -> AwsSecrets {
        AwsSecrets {
            clients: PerRegion::new(sdk.clone(), secrets_client),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, arn: &str) -> Option<String> {
        let cache = self.cache.lock().ok()?;
        let (at, value) = cache.get(arn)?;
        (at.elapsed() < SECRET_CACHE).then(|| value.clone())
    }
}

#[async_trait::async_trait]
impl SecretSource for AwsSecrets {
    async fn secret(&self, reference: &SecretRef) -> Result<String, SendError> {
        if let Some(read) = read_local_secret(reference).await {
            return read;
        }
        let SecretRef::SecretsManager(arn) = reference else {
            return Err(SendError::retryable(format!("cannot read {reference}")));
        };
        if let Some(value) = self.cached(arn) {
            return Ok(value);
        }
        let output = self
            .clients
            .client(arn_region(arn))
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|err| {
                // A secret that cannot be read now may be readable once
                // fixed: the delivery waits.
                SendError::retryable(send_error("reading the webhook secret", &err).message)
            })?;
        let value = output
            .secret_string()
            .ok_or_else(|| SendError::retryable(format!("the secret {arn} has no string value")))?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(arn.clone(), (Instant::now(), value.to_owned()));
        }
        Ok(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_come_from_arns() {
        assert_eq!(
            arn_region("arn:aws:sns:eu-west-1:123456789012:alerts"),
            Some("eu-west-1")
        );
        assert_eq!(arn_region("default"), None);
        assert_eq!(arn_region("arn:aws:events::123456789012:x"), None);
    }
}
