//! Sending changes to channels, at least once and never silently lost.
//!
//! The record step queues each change for every channel that wants it
//! ([`ChangeOutbox::enqueue`], before the change is stored); then
//! [`Notifier::deliver_due`] sends what is due: each delivery is claimed
//! with a compare-and-swap write, tried a few times with backoff
//! ([`RetryPolicy`]), and settled as delivered, failed (refused for good)
//! or pending for the next run. The change id is the idempotency key
//! receivers see (`webhook-id`, the CloudEvent `id`, the SNS FIFO
//! deduplication id).
//!
//! What is sent is built by [`messages`] (pure); how it is sent is a
//! [`Transport`] (HTTP, SNS, EventBridge: `aws::notify::AwsTransport`), and
//! a webhook's secret comes from a [`SecretSource`].

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use uuid::Uuid;

use crate::changes::Change;
use crate::channels::{Channel, SecretRef, Target};
use crate::config::ScanConfig;
use crate::deliveries::{Delivery, DeliveryState, RetryPolicy, SendError};
use crate::store::{ChannelStore, ConfigStore, PutMode, RecordKind, StoreError, Versioned};
use crate::webhooks::WebhookSigner;

pub mod messages;

use messages::{MessageContext, Notice, Outgoing};

/// Sends one message.
///
/// # Contract
///
/// `Ok` only when the receiver accepted the message (a 2xx, a published
/// message id, an entry without an error code). An error says whether
/// another attempt can help: timeouts, connection failures, throttling and
/// 5xx are [`SendError::retryable`]; other refusals are permanent. Never
/// follows a redirect.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Sends `message`.
    async fn send(&self, message: &Outgoing) -> Result<(), SendError>;
}

/// Reads a webhook's signing secret when sending.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait::async_trait]
pub trait SecretSource: Send + Sync {
    /// The secret `reference` names.
    async fn secret(&self, reference: &SecretRef) -> Result<String, SendError>;
}

/// The longest secret file read.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Reads `env:` and `file:` references; a Secrets Manager ARN needs
/// `aws::notify::AwsSecrets`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalSecrets;

/// Reads `env:` and `file:` references, the rest with `other`.
pub(crate) async fn read_local_secret(reference: &SecretRef) -> Option<Result<String, SendError>> {
    match reference {
        SecretRef::Env(name) => Some(std::env::var(name).map_err(|_| {
            SendError::retryable(format!(
                "the webhook secret's environment variable {name} is not set"
            ))
        })),
        SecretRef::File(path) => {
            let read = async {
                use tokio::io::AsyncReadExt;
                let file = tokio::fs::File::open(path).await?;
                let mut bytes = Vec::new();
                file.take(MAX_SECRET_FILE_BYTES)
                    .read_to_end(&mut bytes)
                    .await?;
                Ok::<_, std::io::Error>(bytes)
            };
            Some(match read.await {
                Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
                    SendError::retryable(format!("the webhook secret file {path} is not UTF-8"))
                }),
                Err(err) => Err(SendError::retryable(format!(
                    "cannot read the webhook secret file {path}: {err}"
                ))),
            })
        }
        SecretRef::SecretsManager(_) => None,
    }
}

#[async_trait::async_trait]
impl SecretSource for LocalSecrets {
    async fn secret(&self, reference: &SecretRef) -> Result<String, SendError> {
        match read_local_secret(reference).await {
            Some(read) => read,
            None => Err(SendError::retryable(format!(
                "reading {reference} needs AWS Secrets Manager, which this build has no client for"
            ))),
        }
    }
}

/// Where the record step queues changes for delivery before it stores them:
/// a [`Notifier`].
///
/// # Contract
///
/// `enqueue` is idempotent: queuing a change again (another writer, or a
/// retry after a crash) queues nothing new. An error means the changes may
/// not be queued, and the record step fails rather than store them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait::async_trait]
pub trait ChangeOutbox: Send + Sync {
    /// Queues `changes`, detected at `now`; returns how many deliveries
    /// were queued.
    async fn enqueue(&self, changes: &[Change], now: DateTime<Utc>) -> Result<usize, StoreError>;
}

/// How a [`Notifier`] sends.
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// The CloudEvents `source`: the API's URL when known, else
    /// `urn:ecrscan`.
    pub source: String,
    /// The API's URL, for links to findings feeds in Slack messages.
    pub api_url: Option<String>,
    /// Retries, leases and how long delivered records are kept.
    pub policy: RetryPolicy,
    /// How long the list of channels is reused by `enqueue`.
    pub channel_cache: std::time::Duration,
    /// How many channels are served at once by `deliver_due`.
    pub channel_concurrency: usize,
}

impl Default for NotifyOptions {
    fn default() -> NotifyOptions {
        NotifyOptions {
            source: "urn:ecrscan".to_owned(),
            api_url: None,
            policy: RetryPolicy::default(),
            channel_cache: std::time::Duration::from_secs(60),
            channel_concurrency: 8,
        }
    }
}

impl NotifyOptions {
    /// The options with the API's URL as source and link base.
    pub fn with_api_url(mut self, api_url: Option<String>) -> NotifyOptions {
        if let Some(url) = &api_url {
            self.source = url.trim_end_matches('/').to_owned();
        }
        self.api_url = api_url.map(|url| url.trim_end_matches('/').to_owned());
        self
    }
}

/// What one `deliver_due` pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Deliveries accepted by their channel.
    pub delivered: usize,
    /// Deliveries that failed this run and wait for the next.
    pub retry_later: usize,
    /// Deliveries refused for good, or out of attempts.
    pub failed: usize,
    /// Pending deliveries not tried this run, because their channel failed
    /// just before (they wait for the next run).
    pub deferred: usize,
    /// Pending deliveries not due: waiting between runs after failed ones,
    /// or held by another sender.
    pub waiting: usize,
    /// Delivered records pruned after the keep period.
    pub pruned: usize,
    /// Channels whose deliveries could not be read or written.
    pub errors: Vec<String>,
}

impl DeliveryReport {
    fn merge(&mut self, other: DeliveryReport) {
        self.delivered += other.delivered;
        self.retry_later += other.retry_later;
        self.failed += other.failed;
        self.deferred += other.deferred;
        self.waiting += other.waiting;
        self.pruned += other.pruned;
        self.errors.extend(other.errors);
    }
}

/// A channel's deliveries, for `channels status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelStatus {
    /// The channel.
    pub channel: Channel,
    /// Deliveries waiting for a run.
    pub pending: usize,
    /// Deliveries refused or out of attempts.
    pub failed: usize,
    /// Delivered records still kept.
    pub delivered: usize,
    /// The pending and failed deliveries, oldest first.
    pub outstanding: Vec<Delivery>,
    /// Delivery records that could not be read.
    pub unreadable: usize,
}

/// A channel `channels test` could not reach.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The channel could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The message was not accepted.
    #[error("the test event was not delivered: {0}")]
    Send(#[from] SendError),
}

/// Queues and sends changes.
pub struct Notifier {
    channels: Arc<dyn ChannelStore>,
    configs: Option<Arc<dyn ConfigStore>>,
    transport: Arc<dyn Transport>,
    secrets: Arc<dyn SecretSource>,
    options: NotifyOptions,
    cached_channels: Mutex<Option<(Instant, Arc<Vec<Channel>>)>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The configs that link Slack messages to findings feeds, read once per
/// pass and only when a message is sent.
type LinkConfigs = tokio::sync::OnceCell<Vec<ScanConfig>>;

/// The time `now` plus what the pass has spent since `started`.
fn later(now: DateTime<Utc>, started: tokio::time::Instant) -> DateTime<Utc> {
    now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default()
}

impl Notifier {
    /// A notifier over `channels`, sending with `transport` and reading
    /// webhook secrets from `secrets`.
    pub fn new(
        channels: Arc<dyn ChannelStore>,
        transport: Arc<dyn Transport>,
        secrets: Arc<dyn SecretSource>,
        options: NotifyOptions,
    ) -> Notifier {
        Notifier {
            channels,
            configs: None,
            transport,
            secrets,
            options,
            cached_channels: Mutex::new(None),
        }
    }

    /// Links Slack messages to the findings feed of the config that selects
    /// the image (with an API URL in the options).
    pub fn with_configs(mut self, configs: Arc<dyn ConfigStore>) -> Notifier {
        self.configs = Some(configs);
        self
    }

    /// The options.
    pub fn options(&self) -> &NotifyOptions {
        &self.options
    }

    async fn channels_for_enqueue(&self) -> Result<Arc<Vec<Channel>>, StoreError> {
        if let Ok(cached) = self.cached_channels.lock()
            && let Some((at, channels)) = cached.as_ref()
            && at.elapsed() < self.options.channel_cache
        {
            return Ok(Arc::clone(channels));
        }
        let channels = Arc::new(self.channels.list_channels().await?.items);
        if let Ok(mut cached) = self.cached_channels.lock() {
            *cached = Some((Instant::now(), Arc::clone(&channels)));
        }
        Ok(channels)
    }

    async fn context_for(&self, change: &Change, configs: &LinkConfigs) -> MessageContext {
        let findings_feed = match &self.options.api_url {
            Some(api) => {
                let configs = configs.get_or_init(|| self.configs_for_links()).await;
                Some(
                    match configs
                        .iter()
                        .find(|config| crate::changes::selected_by(change, config))
                    {
                        Some(config) => format!("{api}/findings/{}", config.id),
                        None => format!("{api}/changes.atom"),
                    },
                )
            }
            None => None,
        };
        MessageContext {
            source: self.options.source.clone(),
            findings_feed,
        }
    }

    /// Sends `change` to `channel` once.
    async fn send_once(
        &self,
        channel: &Channel,
        notice: &Notice<'_>,
        context: &MessageContext,
        now: DateTime<Utc>,
    ) -> Result<(), SendError> {
        let signer = match &channel.target {
            Target::Webhook { secret, .. } => {
                let value = self.secrets.secret(secret).await?;
                Some(WebhookSigner::from_secret(&value).map_err(|err| {
                    SendError::retryable(format!("the webhook secret {secret}: {err}"))
                })?)
            }
            _ => None,
        };
        let message = messages::message_for(channel, notice, context, signer.as_ref(), now)
            .ok_or_else(|| SendError::retryable("no signer for the webhook"))?;
        self.transport.send(&message).await
    }

    /// Tries `notice` up to the policy's attempts per run; the attempts made
    /// and the last outcome.
    async fn send_with_retries(
        &self,
        channel: &Channel,
        notice: &Notice<'_>,
        context: &MessageContext,
        now: DateTime<Utc>,
    ) -> (u32, Result<(), SendError>) {
        let started = tokio::time::Instant::now();
        let attempts = self.options.policy.attempts_per_run.max(1);
        let mut outcome = Ok(());
        for attempt in 1..=attempts {
            tokio::time::sleep(self.options.policy.backoff(attempt)).await;
            outcome = self
                .send_once(channel, notice, context, later(now, started))
                .await;
            match &outcome {
                Ok(()) => return (attempt, outcome),
                Err(err) if !err.retryable => return (attempt, outcome),
                Err(err) => tracing::warn!(
                    channel = %channel.id, change = %notice.change.id, attempt,
                    error = %err, "a delivery attempt failed"
                ),
            }
        }
        (attempts, outcome)
    }

    /// Sends a clearly marked test event to channel `id` now.
    pub async fn test(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), NotifyError> {
        let channel = self.channels.get_channel(id).await?;
        let change = messages::test_change(now);
        let notice = Notice {
            change: &change,
            test: true,
        };
        let context = MessageContext {
            source: self.options.source.clone(),
            findings_feed: self
                .options
                .api_url
                .as_ref()
                .map(|api| format!("{api}/changes.atom")),
        };
        let (_, outcome) = self
            .send_with_retries(&channel, &notice, &context, now)
            .await;
        Ok(outcome?)
    }

    /// Sends every due delivery of every channel, at `now`.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> DeliveryReport {
        match self.channels.list_channels().await {
            Ok(listing) => self.deliver_to(listing.items, now, false).await,
            Err(err) => DeliveryReport {
                errors: vec![format!("listing the channels: {err}")],
                ..DeliveryReport::default()
            },
        }
    }

    /// Sends every pending delivery of channel `only` (or of every channel)
    /// now, without waiting out the time between runs (`channels retry`);
    /// those another sender holds are left to it.
    pub async fn send_pending(
        &self,
        only: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<DeliveryReport, StoreError> {
        let channels = self.channels_of(only).await?;
        Ok(self.deliver_to(channels, now, true).await)
    }

    /// Channel `only`, or every channel.
    async fn channels_of(&self, only: Option<Uuid>) -> Result<Vec<Channel>, StoreError> {
        Ok(match only {
            Some(id) => vec![self.channels.get_channel(id).await?],
            None => self.channels.list_channels().await?.items,
        })
    }

    /// A pass over `channels`, a few at a time.
    async fn deliver_to(
        &self,
        channels: Vec<Channel>,
        now: DateTime<Utc>,
        ignore_run_backoff: bool,
    ) -> DeliveryReport {
        let configs = &LinkConfigs::new();
        let mut passes = futures::stream::iter(channels)
            .map(|channel| async move {
                self.deliver_channel(&channel, configs, now, ignore_run_backoff)
                    .await
            })
            .buffer_unordered(self.options.channel_concurrency.max(1));
        let mut report = DeliveryReport::default();
        while let Some(pass) = passes.next().await {
            report.merge(pass);
        }
        report
    }

    async fn configs_for_links(&self) -> Vec<ScanConfig> {
        let Some(configs) = &self.configs else {
            return Vec::new();
        };
        match configs.list().await {
            Ok(listing) => listing.items,
            Err(err) => {
                tracing::warn!(error = %err, "no config list for the links of notifications; they link to the changes feed");
                Vec::new()
            }
        }
    }

    async fn deliver_channel(
        &self,
        channel: &Channel,
        configs: &LinkConfigs,
        now: DateTime<Utc>,
        ignore_run_backoff: bool,
    ) -> DeliveryReport {
        let mut report = DeliveryReport::default();
        let policy = &self.options.policy;
        let started = tokio::time::Instant::now();
        let listing = match self.channels.list_deliveries(channel.id).await {
            Ok(listing) => listing,
            Err(err) => {
                report
                    .errors
                    .push(format!("the deliveries of channel {}: {err}", channel.id));
                return report;
            }
        };
        let mut channel_down = false;
        for Versioned { record, version } in listing.items {
            let Some(delivery) = record else { continue };
            let now = later(now, started);
            if delivery.is_prunable(now, policy) {
                match self
                    .channels
                    .delete_delivery(channel.id, delivery.change.id)
                    .await
                {
                    Ok(_) => report.pruned += 1,
                    Err(err) => report.errors.push(err.to_string()),
                }
                continue;
            }
            let due = if ignore_run_backoff {
                delivery.is_sendable(now)
            } else {
                delivery.is_due(now)
            };
            if !due {
                if delivery.state == DeliveryState::Pending {
                    report.waiting += 1;
                }
                continue;
            }
            if channel_down {
                report.deferred += 1;
                continue;
            }
            let claimed = delivery.claimed(now, policy);
            let claimed_version = match self
                .channels
                .put_delivery(&claimed, PutMode::Update(version))
                .await
            {
                Ok(version) => version,
                // Another sender took it.
                Err(StoreError::Conflict { .. }) => continue,
                Err(err) => {
                    report.errors.push(err.to_string());
                    continue;
                }
            };
            let notice = Notice {
                change: &claimed.change,
                test: false,
            };
            let context = self.context_for(&claimed.change, configs).await;
            let (attempts, outcome) = self
                .send_with_retries(channel, &notice, &context, now)
                .await;
            let settled = claimed.after(
                attempts,
                outcome.as_ref().map(|_| ()),
                later(now, started),
                policy,
            );
            match settled.state {
                DeliveryState::Delivered => report.delivered += 1,
                DeliveryState::Failed => report.failed += 1,
                DeliveryState::Pending => {
                    report.retry_later += 1;
                    channel_down = true;
                }
            }
            if let Err(err) = &outcome {
                tracing::warn!(
                    channel = %channel.id, change = %claimed.change.id,
                    state = settled.state.as_str(), error = %err, "a delivery did not go through"
                );
            }
            match self
                .channels
                .put_delivery(&settled, PutMode::Update(claimed_version))
                .await
            {
                Ok(_) => {}
                Err(StoreError::Conflict { .. }) => tracing::warn!(
                    channel = %channel.id, change = %claimed.change.id,
                    "a delivery was taken over while it was sent (its lease ran out)"
                ),
                Err(err) => report.errors.push(err.to_string()),
            }
        }
        report
    }

    /// The deliveries of every channel (each channel [redacted](Channel::redacted)).
    pub async fn status(&self) -> Result<Vec<ChannelStatus>, StoreError> {
        let mut statuses = Vec::new();
        for channel in self.channels.list_channels().await?.items {
            let channel = channel.redacted();
            let listing = self.channels.list_deliveries(channel.id).await?;
            let mut status = ChannelStatus {
                channel,
                pending: 0,
                failed: 0,
                delivered: 0,
                outstanding: Vec::new(),
                unreadable: listing.skipped.len(),
            };
            for delivery in listing.items.into_iter().filter_map(|v| v.record) {
                match delivery.state {
                    DeliveryState::Pending => status.pending += 1,
                    DeliveryState::Failed => status.failed += 1,
                    DeliveryState::Delivered => {
                        status.delivered += 1;
                        continue;
                    }
                }
                status.outstanding.push(delivery);
            }
            statuses.push(status);
        }
        Ok(statuses)
    }

    /// Makes failed deliveries (of channel `only`, or of all) pending again;
    /// returns how many.
    pub async fn requeue_failed(
        &self,
        only: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let channels = self.channels_of(only).await?;
        let mut requeued = 0;
        for channel in channels {
            for Versioned { record, version } in
                self.channels.list_deliveries(channel.id).await?.items
            {
                let Some(delivery) = record else { continue };
                if delivery.state != DeliveryState::Failed {
                    continue;
                }
                match self
                    .channels
                    .put_delivery(&delivery.requeued(now), PutMode::Update(version))
                    .await
                {
                    Ok(_) => requeued += 1,
                    Err(StoreError::Conflict { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(requeued)
    }
}

/// Deletes channel `id`, then its delivery records (so nothing more is
/// queued for it by this process); returns how many deliveries were
/// deleted. A channel already deleted whose records remain (a failure
/// halfway, or a process that queued for it from its channel cache, at most
/// [`NotifyOptions::channel_cache`] after) has them deleted; `NotFound` only
/// when there was neither.
pub async fn delete_channel(channels: &dyn ChannelStore, id: Uuid) -> Result<usize, StoreError> {
    let deleted_channel = match channels.delete_channel(id).await {
        Ok(()) => true,
        Err(StoreError::NotFound { .. }) => false,
        Err(err) => return Err(err),
    };
    let mut deleted = 0;
    for delivery in channels.list_deliveries(id).await?.items {
        if let Some(delivery) = delivery.record
            && channels.delete_delivery(id, delivery.change.id).await?
        {
            deleted += 1;
        }
    }
    if !deleted_channel && deleted == 0 {
        return Err(StoreError::NotFound {
            kind: RecordKind::Channel,
            id: id.to_string(),
        });
    }
    Ok(deleted)
}

#[async_trait::async_trait]
impl ChangeOutbox for Notifier {
    async fn enqueue(&self, changes: &[Change], now: DateTime<Utc>) -> Result<usize, StoreError> {
        if changes.is_empty() {
            return Ok(0);
        }
        let channels = self.channels_for_enqueue().await?;
        let mut queued = 0;
        for change in changes {
            for channel in channels.iter().filter(|channel| channel.wants(change)) {
                let delivery = Delivery::queue(channel.id, change.clone(), now);
                match self.channels.put_delivery(&delivery, PutMode::Create).await {
                    Ok(_) => queued += 1,
                    Err(StoreError::Conflict { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(queued)
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
