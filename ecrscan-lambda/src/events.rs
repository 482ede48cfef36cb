//! Recording finished scans as ECR and Amazon Inspector announce them.
//!
//! EventBridge sends ECR's `ECR Image Scan` events (basic scanning) and
//! Amazon Inspector's `Inspector2 Scan` events (enhanced scanning) to the
//! `ecrscan-record-result` function, which reads the image's result from ECR
//! and records it, so summaries and feeds answer from fresh stored results.

use aws_lambda_events::event::ecr_scan::EcrScanEvent;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use ecrscan_core::{Applied, ConfigSpec, Recorder, RepositoryRef, ScanBackend, ScanStatus};
use serde::{Deserialize, Serialize};

/// The image whose scan finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedScan {
    /// Its repository.
    pub repository: RepositoryRef,
    /// Its digest.
    pub digest: String,
}

/// An event that cannot be recorded.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Not a scan event, or one missing a field.
    #[error("not a scan event this function records: {0}")]
    Unrecognized(String),
    /// The event names an invalid region, account or repository.
    #[error("the event names an invalid image: {0}")]
    Invalid(#[from] ecrscan_core::ValidationError),
}

/// Inspector's scan event detail (aws_lambda_events has no type for it).
#[derive(Debug, Deserialize, Serialize)]
struct InspectorScanDetail {
    #[serde(rename = "repository-name")]
    repository_name: String,
    #[serde(rename = "image-digest")]
    image_digest: String,
}

/// Which image an ECR or Inspector scan event is about.
pub fn finished_scan(event: &serde_json::Value) -> Result<FinishedScan, EventError> {
    let unrecognized = |what: &str| EventError::Unrecognized(what.to_owned());
    let detail_type = event
        .get("detail-type")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let (region, account, repository, digest) = match detail_type {
        "ECR Image Scan" => {
            let event: EcrScanEvent = serde_json::from_value(event.clone())
                .map_err(|err| EventError::Unrecognized(err.to_string()))?;
            (
                event.region.ok_or_else(|| unrecognized("no region"))?,
                event.account.ok_or_else(|| unrecognized("no account"))?,
                event
                    .detail
                    .repository_name
                    .ok_or_else(|| unrecognized("no repository-name"))?,
                event
                    .detail
                    .image_digest
                    .ok_or_else(|| unrecognized("no image-digest"))?,
            )
        }
        "Inspector2 Scan" => {
            let event: EventBridgeEvent<InspectorScanDetail> =
                serde_json::from_value(event.clone())
                    .map_err(|err| EventError::Unrecognized(err.to_string()))?;
            // Inspector names the repository by ARN: arn:PARTITION:ecr:REGION:ACCOUNT:repository/NAME.
            let arn = event.detail.repository_name;
            let mut parts = arn.splitn(6, ':');
            let (region, account, resource) = match (
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
            ) {
                (
                    Some("arn"),
                    Some(_),
                    Some("ecr"),
                    Some(region),
                    Some(account),
                    Some(resource),
                ) => (region.to_owned(), account.to_owned(), resource),
                _ => return Err(unrecognized("repository-name is not an ECR repository ARN")),
            };
            let repository = resource
                .strip_prefix("repository/")
                .ok_or_else(|| unrecognized("repository-name is not an ECR repository ARN"))?
                .to_owned();
            (region, account, repository, event.detail.image_digest)
        }
        other => {
            return Err(EventError::Unrecognized(format!(
                "detail-type {:?}",
                other.chars().take(60).collect::<String>()
            )));
        }
    };
    let spec = ConfigSpec::new(region, account, repository, Vec::<String>::new())?;
    Ok(FinishedScan {
        repository: RepositoryRef {
            region: spec.region().to_owned(),
            registry: spec.registry().to_owned(),
            repository: spec.repository().to_owned(),
        },
        digest,
    })
}

/// What an invocation returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recorded {
    /// `REPOSITORY@DIGEST`.
    pub image: String,
    /// The scan status read from ECR.
    pub status: ScanStatus,
    /// Findings read.
    pub findings: usize,
    /// What the record step did: `recorded`, `confirmed` (the same scan as
    /// recorded), `older` (a newer result is recorded) or `not_finished`.
    pub outcome: &'static str,
}

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The event is not one to record.
    #[error(transparent)]
    Event(#[from] EventError),
    /// ECR could not be read.
    #[error("cannot read the scan result: {0}")]
    Backend(#[from] ecrscan_core::BackendError),
    /// The result could not be recorded.
    #[error("cannot record the scan result: {0}")]
    Store(#[from] ecrscan_core::StoreError),
}

/// Reads the announced image's result from `live` (ECR) and records it with
/// the record step.
pub async fn record_finished_scan(
    event: &serde_json::Value,
    live: &dyn ScanBackend,
    recorder: &Recorder,
) -> Result<Recorded, RecordError> {
    let finished = finished_scan(event)?;
    let latest = live
        .scan_result(&finished.repository, &finished.digest)
        .await?;
    let recording = recorder
        .record_scan(
            &finished.repository,
            &finished.digest,
            &latest.scan,
            chrono::Utc::now(),
        )
        .await?;
    let outcome = match recording.applied {
        Applied::Recorded { .. } => "recorded",
        Applied::Confirmed => "confirmed",
        Applied::Older => "older",
        Applied::NotFinished => "not_finished",
    };
    tracing::info!(
        repository = %finished.repository,
        digest = %finished.digest,
        status = %latest.scan.status,
        findings = latest.scan.findings.len(),
        outcome,
        "scan result recorded"
    );
    Ok(Recorded {
        image: format!("{}@{}", finished.repository.repository, finished.digest),
        status: latest.scan.status,
        findings: latest.scan.findings.len(),
        outcome,
    })
}
