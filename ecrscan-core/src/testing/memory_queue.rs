//! A [`WorkQueue`] in memory, with SQS's visibility timeouts, receive
//! counts and a dead-letter queue: for tests and benchmarks of workers.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::queue::{BATCH, QueueError, Received, WorkItem, WorkQueue};

#[derive(Debug)]
struct Message {
    body: String,
    receive_count: u32,
    visible_at: Instant,
    receipt: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    messages: BTreeMap<u64, Message>,
    dead_letters: Vec<(String, String)>,
    sent: usize,
}

/// A queue in memory: a received message is hidden for the visibility
/// timeout, a settled one is gone, a dead-lettered one is kept with its
/// reason ([`MemoryQueue::dead_letters`]).
#[derive(Debug)]
pub struct MemoryQueue {
    state: Mutex<State>,
    visibility: Duration,
    max_receives: Option<u32>,
    latency: Duration,
}

impl MemoryQueue {
    /// A queue hiding received messages for `visibility`, dead-lettering
    /// at receive `max_receives` (none: never).
    pub fn new(visibility: Duration, max_receives: Option<u32>) -> MemoryQueue {
        MemoryQueue {
            state: Mutex::new(State::default()),
            visibility,
            max_receives,
            latency: Duration::ZERO,
        }
    }

    /// Every call takes `latency` (SQS answers in tens of milliseconds).
    pub fn with_latency(mut self, latency: Duration) -> MemoryQueue {
        self.latency = latency;
        self
    }

    async fn call(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Messages sent so far.
    pub fn sent(&self) -> usize {
        self.state().sent
    }

    /// Messages waiting or in flight.
    pub fn len(&self) -> usize {
        self.state().messages.len()
    }

    /// Whether no message waits or is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dead-lettered messages' bodies and reasons.
    pub fn dead_letters(&self) -> Vec<(String, String)> {
        self.state().dead_letters.clone()
    }

    fn take(&self, message: &Received) -> Option<Message> {
        let mut state = self.state();
        let id: u64 = message.message_id.parse().ok()?;
        let held = state.messages.get(&id)?.receipt.as_deref() == Some(message.receipt.as_str());
        if held || message.receipt.is_empty() {
            state.messages.remove(&id)
        } else {
            None
        }
    }
}

#[async_trait::async_trait]
impl WorkQueue for MemoryQueue {
    async fn send(&self, items: &[WorkItem]) -> Result<(), QueueError> {
        // As `SqsWorkQueue` sends: batches of 10, 8 at a time.
        let rounds = items.len().div_ceil(BATCH).div_ceil(8);
        for _ in 0..rounds {
            self.call().await;
        }
        let mut state = self.state();
        let now = Instant::now();
        for item in items {
            let id = state.next_id;
            state.next_id += 1;
            state.sent += 1;
            state.messages.insert(
                id,
                Message {
                    body: item.to_body(),
                    receive_count: 0,
                    visible_at: now,
                    receipt: None,
                },
            );
        }
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        self.call().await;
        let until = Instant::now() + wait;
        loop {
            let received: Vec<Received> = {
                let mut state = self.state();
                let now = Instant::now();
                let visibility = self.visibility;
                state
                    .messages
                    .iter_mut()
                    .filter(|(_, message)| message.visible_at <= now)
                    .take(max.clamp(1, BATCH))
                    .map(|(id, message)| {
                        message.receive_count += 1;
                        message.visible_at = now + visibility;
                        let receipt = uuid::Uuid::new_v4().to_string();
                        message.receipt = Some(receipt.clone());
                        Received {
                            message_id: id.to_string(),
                            receipt,
                            body: message.body.clone(),
                            receive_count: message.receive_count,
                        }
                    })
                    .collect()
            };
            if !received.is_empty() || Instant::now() >= until {
                return Ok(received);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn delete(&self, messages: &[Received]) -> Result<(), QueueError> {
        self.call().await;
        for message in messages {
            self.take(message);
        }
        Ok(())
    }

    async fn release(&self, message: &Received, after: Duration) -> Result<(), QueueError> {
        self.call().await;
        let mut state = self.state();
        if let Some(held) = message
            .message_id
            .parse()
            .ok()
            .and_then(|id: u64| state.messages.get_mut(&id))
            .filter(|held| held.receipt.as_deref() == Some(message.receipt.as_str()))
        {
            held.visible_at = Instant::now() + after;
        }
        Ok(())
    }

    async fn dead_letter(&self, message: &Received, reason: &str) -> Result<bool, QueueError> {
        self.call().await;
        let body = self
            .take(message)
            .map_or_else(|| message.body.clone(), |held| held.body);
        self.state().dead_letters.push((body, reason.to_owned()));
        Ok(true)
    }

    async fn max_receives(&self) -> Result<Option<u32>, QueueError> {
        Ok(self.max_receives)
    }

    async fn is_drained(&self) -> Result<bool, QueueError> {
        Ok(self.is_empty())
    }
}
