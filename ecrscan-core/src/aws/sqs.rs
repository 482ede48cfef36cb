//! [`WorkQueue`] on Amazon SQS.

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
    QueueAttributeName, SendMessageBatchRequestEntry,
};
use futures::StreamExt;
use tokio::sync::OnceCell;

use super::describe;
use crate::queue::{BATCH, QueueError, Received, WorkItem, WorkQueue};

/// The message attribute that carries why a message was dead-lettered.
pub const REASON_ATTRIBUTE: &str = "ecrscan-reason";

/// How many SendMessageBatch calls one send makes at once.
pub const SEND_CONCURRENCY: usize = 8;

/// The longest reason kept in a dead-lettered message's attribute.
const MAX_REASON_CHARS: usize = 1_000;

/// A queue's redrive policy, as far as workers need it.
#[derive(Debug, Clone, Default)]
struct Redrive {
    dead_letter_url: Option<String>,
    max_receives: Option<u32>,
}

/// An SQS queue of [`WorkItem`]s. Its dead-letter queue and receive limit
/// come from the queue's `RedrivePolicy` (read once), unless given.
#[derive(Debug, Clone)]
pub struct SqsWorkQueue {
    client: Client,
    url: String,
    redrive: std::sync::Arc<OnceCell<Redrive>>,
}

impl SqsWorkQueue {
    /// The queue at `url`.
    pub fn new(sdk_config: &aws_config::SdkConfig, url: impl Into<String>) -> SqsWorkQueue {
        SqsWorkQueue {
            client: Client::new(sdk_config),
            url: url.into(),
            redrive: std::sync::Arc::new(OnceCell::new()),
        }
    }

    /// The queue at `url`, dead-lettering to `dead_letter_url` at receive
    /// `max_receives`, without reading the queue's attributes (for a worker
    /// allowed to send to the dead-letter queue but not to read attributes).
    pub fn with_dead_letter(
        sdk_config: &aws_config::SdkConfig,
        url: impl Into<String>,
        dead_letter_url: impl Into<String>,
        max_receives: u32,
    ) -> SqsWorkQueue {
        let queue = SqsWorkQueue::new(sdk_config, url);
        let _ = queue.redrive.set(Redrive {
            dead_letter_url: Some(dead_letter_url.into()),
            max_receives: Some(max_receives),
        });
        queue
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn failed<E>(
        &self,
        action: &'static str,
        err: &aws_sdk_sqs::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
    ) -> QueueError
    where
        E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        QueueError::Failed {
            queue: self.url.clone(),
            action,
            message: describe(err),
        }
    }

    fn refused(&self, action: &'static str, message: String) -> QueueError {
        QueueError::Failed {
            queue: self.url.clone(),
            action,
            message,
        }
    }

    async fn redrive(&self) -> Result<&Redrive, QueueError> {
        self.redrive
            .get_or_try_init(|| async {
                let attributes = self
                    .client
                    .get_queue_attributes()
                    .queue_url(&self.url)
                    .attribute_names(QueueAttributeName::RedrivePolicy)
                    .send()
                    .await
                    .map_err(|err| self.failed("GetQueueAttributes", &err))?;
                let Some(policy) = attributes
                    .attributes()
                    .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy))
                else {
                    return Ok(Redrive::default());
                };
                let policy: serde_json::Value = serde_json::from_str(policy).map_err(|err| {
                    self.refused(
                        "GetQueueAttributes",
                        format!("RedrivePolicy is not JSON: {err}"),
                    )
                })?;
                let max_receives = match &policy["maxReceiveCount"] {
                    serde_json::Value::Number(n) => n.as_u64(),
                    serde_json::Value::String(s) => s.parse().ok(),
                    _ => None,
                }
                .and_then(|n| u32::try_from(n).ok());
                let dead_letter_url = match policy["deadLetterTargetArn"].as_str() {
                    Some(arn) => Some(self.url_of(arn).await?),
                    None => None,
                };
                Ok(Redrive {
                    dead_letter_url,
                    max_receives,
                })
            })
            .await
    }

    /// Sends at most [`BATCH`] items with one SendMessageBatch; entries SQS
    /// failed on its side (throttled, internal) are sent again, a few times.
    async fn send_batch(&self, chunk: &[WorkItem]) -> Result<(), QueueError> {
        let mut entries: Vec<(String, String)> = chunk
            .iter()
            .enumerate()
            .map(|(i, item)| (i.to_string(), item.to_body()))
            .collect();
        for attempt in 0..5u32 {
            if entries.is_empty() {
                return Ok(());
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            let mut request = self.client.send_message_batch().queue_url(&self.url);
            for (id, body) in &entries {
                request = request.entries(
                    SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(body)
                        .build()
                        .map_err(|err| self.refused("SendMessageBatch", err.to_string()))?,
                );
            }
            let answer = request
                .send()
                .await
                .map_err(|err| self.failed("SendMessageBatch", &err))?;
            if let Some(sender_fault) = answer.failed().iter().find(|f| f.sender_fault()) {
                return Err(self.refused(
                    "SendMessageBatch",
                    format!(
                        "{}: {}",
                        sender_fault.code(),
                        sender_fault.message().unwrap_or_default()
                    ),
                ));
            }
            let failed: Vec<&str> = answer.failed().iter().map(|f| f.id()).collect();
            entries.retain(|(id, _)| failed.contains(&id.as_str()));
        }
        if entries.is_empty() {
            Ok(())
        } else {
            Err(self.refused(
                "SendMessageBatch",
                format!("{} messages still failing after 5 attempts", entries.len()),
            ))
        }
    }

    /// The URL of the queue with this ARN (`arn:PARTITION:sqs:REGION:ACCOUNT:NAME`).
    async fn url_of(&self, arn: &str) -> Result<String, QueueError> {
        let parts: Vec<&str> = arn.split(':').collect();
        let [_, _, "sqs", _, account, name] = parts.as_slice() else {
            return Err(self.refused(
                "GetQueueUrl",
                format!(
                    "{:?} is not an SQS queue ARN",
                    arn.chars().take(200).collect::<String>()
                ),
            ));
        };
        self.client
            .get_queue_url()
            .queue_name(*name)
            .queue_owner_aws_account_id(*account)
            .send()
            .await
            .map_err(|err| self.failed("GetQueueUrl", &err))?
            .queue_url
            .ok_or_else(|| self.refused("GetQueueUrl", "no URL in the answer".into()))
    }
}

#[async_trait::async_trait]
impl WorkQueue for SqsWorkQueue {
    async fn send(&self, items: &[WorkItem]) -> Result<(), QueueError> {
        let batches: Vec<Vec<WorkItem>> = items.chunks(BATCH).map(<[WorkItem]>::to_vec).collect();
        let mut sends = futures::stream::iter(
            batches
                .into_iter()
                .map(|batch| async move { self.send_batch(&batch).await }),
        )
        .buffer_unordered(SEND_CONCURRENCY);
        while let Some(sent) = sends.next().await {
            sent?;
        }
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        let answer = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, BATCH) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|err| self.failed("ReceiveMessage", &err))?;
        Ok(answer
            .messages()
            .iter()
            .filter_map(|message| {
                Some(Received {
                    message_id: message.message_id()?.to_owned(),
                    receipt: message.receipt_handle()?.to_owned(),
                    body: message.body().unwrap_or_default().to_owned(),
                    receive_count: message
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1),
                })
            })
            .collect())
    }

    async fn delete(&self, messages: &[Received]) -> Result<(), QueueError> {
        for chunk in messages.chunks(BATCH) {
            let mut request = self.client.delete_message_batch().queue_url(&self.url);
            for (i, message) in chunk.iter().enumerate() {
                request = request.entries(
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&message.receipt)
                        .build()
                        .map_err(|err| self.refused("DeleteMessageBatch", err.to_string()))?,
                );
            }
            let answer = request
                .send()
                .await
                .map_err(|err| self.failed("DeleteMessageBatch", &err))?;
            if let Some(failure) = answer.failed().first() {
                // The message comes back when its visibility ends; done work
                // done again is an already_scanned answer.
                tracing::warn!(queue = %self.url, code = failure.code(), "a message could not be deleted");
            }
        }
        Ok(())
    }

    async fn release(&self, message: &Received, after: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(&message.receipt)
            .visibility_timeout(after.as_secs().min(43_200) as i32)
            .send()
            .await
            .map_err(|err| self.failed("ChangeMessageVisibility", &err))?;
        Ok(())
    }

    async fn dead_letter(&self, message: &Received, reason: &str) -> Result<bool, QueueError> {
        let Some(dead_letter_url) = self.redrive().await?.dead_letter_url.clone() else {
            return Ok(false);
        };
        let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
        self.client
            .send_message()
            .queue_url(&dead_letter_url)
            .message_body(&message.body)
            .message_attributes(
                REASON_ATTRIBUTE,
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(if reason.is_empty() {
                        "unknown"
                    } else {
                        &reason
                    })
                    .build()
                    .map_err(|err| self.refused("SendMessage", err.to_string()))?,
            )
            .send()
            .await
            .map_err(|err| self.failed("SendMessage", &err))?;
        if !message.receipt.is_empty() {
            self.delete(std::slice::from_ref(message)).await?;
        }
        Ok(true)
    }

    async fn max_receives(&self) -> Result<Option<u32>, QueueError> {
        Ok(self.redrive().await?.max_receives)
    }

    async fn is_drained(&self) -> Result<bool, QueueError> {
        let attributes = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|err| self.failed("GetQueueAttributes", &err))?;
        let count = |name: QueueAttributeName| {
            attributes
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(count(QueueAttributeName::ApproximateNumberOfMessages)
            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            + count(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            == 0)
    }
}
