//! The AWS implementations' shared parts — settings, SDK configuration,
//! error descriptions — and [`EcrBackend`](ecr::EcrBackend). The S3 store
//! lives with the other stores, in [`store`](crate::store).
//!
//! Both take an [`aws_config::SdkConfig`], so the standard AWS configuration
//! applies: the credential chain and profiles, the region, and
//! `AWS_ENDPOINT_URL` (or a per-service `AWS_ENDPOINT_URL_S3`,
//! `AWS_ENDPOINT_URL_ECR`) for a local emulator.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[cfg(feature = "ecr")]
pub mod ecr;
#[cfg(feature = "notify")]
pub mod notify;
#[cfg(feature = "sqs")]
pub mod sqs;
#[cfg(all(feature = "s3", feature = "ecr", feature = "notify"))]
pub mod wiring;

/// How ecrscan talks to AWS, on top of the standard AWS configuration.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// A named profile (`--profile`); else `AWS_PROFILE` or the default.
    pub profile: Option<String>,
    /// The region (`--region`); else `AWS_REGION` or the profile's. Configs
    /// name their own region for ECR; this one is used for S3.
    pub region: Option<String>,
    /// A custom endpoint (`--endpoint-url`), e.g. a local emulator; else
    /// `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// Attempts per call, retries included, with adaptive backoff. `None`
    /// keeps the standard configuration: `AWS_MAX_ATTEMPTS` and
    /// `AWS_RETRY_MODE`, the profile's `max_attempts` and `retry_mode`, else
    /// 3 attempts in standard mode.
    pub max_attempts: Option<u32>,
    /// The time limit of one call, retries included (default 60 s).
    pub operation_timeout: Option<Duration>,
    /// The time limit of one attempt (default 20 s).
    pub attempt_timeout: Option<Duration>,
}

/// The default time limit of one AWS call, retries included.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// The default time limit of one attempt of an AWS call.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// The region used when none is configured anywhere.
pub const FALLBACK_REGION: &str = "us-east-1";

/// Loads the standard AWS configuration with `settings` applied: bounded
/// adaptive retries and time limits on every call.
pub async fn load_sdk_config(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        TimeoutConfig::builder()
            .operation_timeout(
                settings
                    .operation_timeout
                    .unwrap_or(DEFAULT_OPERATION_TIMEOUT),
            )
            .operation_attempt_timeout(settings.attempt_timeout.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT))
            .connect_timeout(Duration::from_secs(5))
            .build(),
    );
    // Without an explicit setting, AWS_MAX_ATTEMPTS, AWS_RETRY_MODE and the
    // profile's settings apply (the SDK's default: standard mode, 3 attempts).
    if let Some(max_attempts) = settings.max_attempts {
        loader =
            loader.retry_config(RetryConfig::adaptive().with_max_attempts(max_attempts.max(1)));
    }
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &settings.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return config
            .into_builder()
            .region(aws_config::Region::from_static(FALLBACK_REGION))
            .build();
    }
    config
}

/// Describes an AWS SDK error in one line, for logs and reports: the AWS
/// error code and message for service errors, the cause for transport
/// failures. Never includes request signatures or credentials.
pub(crate) fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().unwrap_or("UnknownError");
            match inner.message() {
                Some(message) if !message.is_empty() => format!("{code}: {message}"),
                _ => format!("{code} (HTTP {})", service.raw().status().as_u16()),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(failure) => {
            let mut text = String::from("could not reach the AWS endpoint");
            if failure.is_timeout() {
                text.push_str(" (timed out)");
            }
            let mut source = StdError::source(err);
            while let Some(cause) = source {
                let _ = write!(text, ": {cause}");
                source = cause.source();
            }
            text
        }
        SdkError::ResponseError(_) => {
            "the AWS endpoint sent a response that could not be read".to_owned()
        }
        SdkError::ConstructionFailure(_) => "the request could not be built".to_owned(),
        _ => "unknown AWS SDK error".to_owned(),
    }
}

/// The AWS error code of a service error.
pub(crate) fn code<E>(err: &SdkError<E, HttpResponse>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

pub(crate) fn is_timeout<E>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(failure) => failure.is_timeout(),
        _ => false,
    }
}

/// AWS error codes that mean "throttled".
pub(crate) fn is_throttling_code(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "ProvisionedThroughputExceededException"
            | "TransactionInProgressException"
            | "RequestLimitExceeded"
            | "BandwidthLimitExceeded"
            | "RequestThrottled"
            | "SlowDown"
            | "PriorRequestNotComplete"
            | "EC2ThrottledException"
    )
}

/// AWS error codes that mean "access denied".
pub(crate) fn is_access_denied_code(code: &str) -> bool {
    matches!(
        code,
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "Forbidden"
    )
}
