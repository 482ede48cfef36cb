//! A delivery: one change on its way to one channel, as the store keeps it
//! (`deliveries/<channel>/<change>.json`), and the rules it moves by.
//!
//! A delivery is queued (`pending`) with a create-only write before the
//! change itself is stored, so a change is never recorded without its
//! deliveries, and a change queued twice is queued once. A sender claims a
//! pending delivery with a compare-and-swap write that pushes its
//! `next_attempt_at` past a lease, so two senders do not send it at once,
//! then writes what happened: `delivered`, `failed` (refused for good, or
//! out of attempts), or `pending` again for a later run.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::changes::Change;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet: sent by the next run that finds it due.
    Pending,
    /// Accepted by the channel.
    Delivered,
    /// Refused for good (a 4xx other than 408 and 429), or out of attempts.
    Failed,
}

impl DeliveryState {
    /// `pending`, `delivered` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

/// One change for one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The channel's id.
    pub channel: Uuid,
    /// The change sent (kept whole, so a delivery does not depend on
    /// anything else being readable).
    pub change: Change,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far, over all runs.
    pub attempts: u32,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// A pending delivery is not sent by a scheduled pass before this (the
    /// wait between runs after a failed one).
    pub next_attempt_at: DateTime<Utc>,
    /// While a sender holds it: until when (its lease).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_until: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the channel accepted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
}

/// How deliveries are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts within one run before the delivery waits for the next run.
    pub attempts_per_run: u32,
    /// The wait before the second attempt of a run; doubled for each next.
    pub first_backoff: std::time::Duration,
    /// The longest wait between two attempts of a run.
    pub max_backoff: std::time::Duration,
    /// The wait after a run whose attempts all failed; doubled after each
    /// next such run.
    pub first_run_backoff: Duration,
    /// The longest wait between two runs of a delivery.
    pub max_run_backoff: Duration,
    /// Attempts over all runs before a delivery is failed for good.
    pub max_attempts: u32,
    /// How long a claimed delivery is left to its sender before another
    /// may take it over (a sender that died).
    pub lease: Duration,
    /// How long a delivered record is kept (what makes a change queued again
    /// meanwhile a no-op) before it is pruned.
    pub keep_delivered: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts a run, 1 s then 2 s apart; the next run after 1 minute,
    /// then 2, 4, … up to an hour; 144 attempts in all (48 runs, about two
    /// days); a 5-minute lease; delivered records kept 14 days.
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts_per_run: 3,
            first_backoff: std::time::Duration::from_secs(1),
            max_backoff: std::time::Duration::from_secs(30),
            first_run_backoff: Duration::minutes(1),
            max_run_backoff: Duration::hours(1),
            max_attempts: 144,
            lease: Duration::minutes(5),
            keep_delivered: Duration::days(14),
        }
    }
}

impl RetryPolicy {
    /// The wait before the next run of a delivery that failed `attempts`
    /// times in all.
    pub fn run_backoff(&self, attempts: u32) -> Duration {
        let runs = attempts.div_ceil(self.attempts_per_run.max(1)).max(1);
        let factor = 1i32.checked_shl(runs - 1).unwrap_or(i32::MAX).max(1);
        self.first_run_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_run_backoff)
            .min(self.max_run_backoff)
    }

    /// The wait before attempt `attempt` (1-based) of a run: none before the
    /// first.
    pub fn backoff(&self, attempt: u32) -> std::time::Duration {
        if attempt <= 1 {
            return std::time::Duration::ZERO;
        }
        let doubled = self
            .first_backoff
            .saturating_mul(1u32.checked_shl(attempt - 2).unwrap_or(u32::MAX));
        doubled.min(self.max_backoff)
    }
}

/// Why an attempt failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// Timeouts, connection failures, 5xx, 408 and 429: try again.
    pub retryable: bool,
    /// What happened, for `channels status` and the logs.
    pub message: String,
}

impl SendError {
    /// A failure worth another attempt.
    pub fn retryable(message: impl Into<String>) -> SendError {
        SendError {
            retryable: true,
            message: message.into(),
        }
    }

    /// A refusal that another attempt would meet again.
    pub fn permanent(message: impl Into<String>) -> SendError {
        SendError {
            retryable: false,
            message: message.into(),
        }
    }
}

/// The longest error message kept in a delivery record.
const MAX_ERROR_CHARS: usize = 500;

impl Delivery {
    /// A new pending delivery of `change` to `channel`, due now.
    pub fn queue(channel: Uuid, change: Change, now: DateTime<Utc>) -> Delivery {
        Delivery {
            channel,
            change,
            state: DeliveryState::Pending,
            attempts: 0,
            queued_at: now,
            updated_at: now,
            next_attempt_at: now,
            claimed_until: None,
            last_error: None,
            delivered_at: None,
        }
    }

    /// Whether a sender may take it at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.is_sendable(now) && self.next_attempt_at <= now
    }

    /// Whether a sender may take it at `now`, waiting between runs or not
    /// (`channels retry`): pending and held by no sender.
    pub fn is_sendable(&self, now: DateTime<Utc>) -> bool {
        self.state == DeliveryState::Pending && self.claimed_until.is_none_or(|until| until <= now)
    }

    /// The record a sender writes to claim it for `policy.lease`.
    pub fn claimed(&self, now: DateTime<Utc>, policy: &RetryPolicy) -> Delivery {
        Delivery {
            claimed_until: Some(now + policy.lease),
            updated_at: now,
            ..self.clone()
        }
    }

    /// The record after `attempts` more attempts ending in `outcome`.
    pub fn after(
        &self,
        attempts: u32,
        outcome: Result<(), &SendError>,
        now: DateTime<Utc>,
        policy: &RetryPolicy,
    ) -> Delivery {
        let attempts = self.attempts.saturating_add(attempts);
        let mut next = Delivery {
            attempts,
            updated_at: now,
            next_attempt_at: now,
            claimed_until: None,
            ..self.clone()
        };
        match outcome {
            Ok(()) => {
                next.state = DeliveryState::Delivered;
                next.delivered_at = Some(now);
                next.last_error = None;
            }
            Err(err) => {
                let mut message: String = err.message.chars().take(MAX_ERROR_CHARS).collect();
                if !err.retryable {
                    next.state = DeliveryState::Failed;
                } else if attempts >= policy.max_attempts {
                    next.state = DeliveryState::Failed;
                    message = format!("gave up after {attempts} attempts: {message}");
                } else {
                    next.next_attempt_at = now + policy.run_backoff(attempts);
                }
                next.last_error = Some(message);
            }
        }
        next
    }

    /// The record a `channels retry --failed` writes: pending again, due now.
    pub fn requeued(&self, now: DateTime<Utc>) -> Delivery {
        Delivery {
            state: DeliveryState::Pending,
            attempts: 0,
            updated_at: now,
            next_attempt_at: now,
            claimed_until: None,
            ..self.clone()
        }
    }

    /// Whether a delivered record is old enough to prune.
    pub fn is_prunable(&self, now: DateTime<Utc>, policy: &RetryPolicy) -> bool {
        self.state == DeliveryState::Delivered
            && self
                .delivered_at
                .is_some_and(|at| at + policy.keep_delivered < now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::Change;

    fn change() -> Change {
        serde_json::from_value(serde_json::json!({
            "id": "6f1c2f6e-7d1f-5b5c-9c61-1d2b7e4f0a11",
            "kind": "findings_changed",
            "region": "us-west-2",
            "registry": "123456789012",
            "repository": "test/ubuntu",
            "digest": "sha256:aa",
            "tags": ["latest"],
            "scan_completed_at": "2026-12-01T00:00:00Z",
            "detected_at": "2026-12-01T00:00:00Z",
            "new": [], "fixed": [], "severity_changed": [],
            "counts": {"before": {}, "after": {}}
        }))
        .expect("a change")
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + minutes * 60, 0).expect("a time")
    }

    #[test]
    fn a_queued_delivery_is_due_until_claimed_and_again_when_the_lease_runs_out() {
        let policy = RetryPolicy::default();
        let queued = Delivery::queue(Uuid::nil(), change(), at(0));
        assert!(queued.is_due(at(0)));
        let claimed = queued.claimed(at(1), &policy);
        assert!(!claimed.is_due(at(2)));
        assert!(claimed.is_due(at(6)));
    }

    #[test]
    fn outcomes_move_the_state_as_the_rules_say() {
        let policy = RetryPolicy {
            max_attempts: 5,
            ..RetryPolicy::default()
        };
        let queued = Delivery::queue(Uuid::nil(), change(), at(0));

        let delivered = queued.after(2, Ok(()), at(1), &policy);
        assert_eq!(delivered.state, DeliveryState::Delivered);
        assert_eq!(delivered.attempts, 2);
        assert_eq!(delivered.delivered_at, Some(at(1)));

        let later = queued.after(3, Err(&SendError::retryable("HTTP 503")), at(1), &policy);
        assert_eq!(later.state, DeliveryState::Pending);
        assert!(
            !later.is_due(at(1)),
            "a failed run waits before the next, so an outage does not use up the attempts"
        );
        assert!(later.is_sendable(at(1)), "`channels retry` need not wait");
        assert!(later.is_due(at(2)), "1 minute after one failed run");
        assert_eq!(later.last_error.as_deref(), Some("HTTP 503"));

        let refused = queued.after(1, Err(&SendError::permanent("HTTP 404")), at(1), &policy);
        assert_eq!(refused.state, DeliveryState::Failed);

        let exhausted = later.after(2, Err(&SendError::retryable("HTTP 503")), at(2), &policy);
        assert_eq!(exhausted.state, DeliveryState::Failed);
        assert_eq!(exhausted.attempts, 5);
        assert!(
            exhausted
                .last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("gave up after 5 attempts"))
        );

        let requeued = refused.requeued(at(3));
        assert!(requeued.is_due(at(3)));
        assert_eq!(requeued.attempts, 0);
    }

    #[test]
    fn the_wait_between_runs_doubles_up_to_an_hour_and_the_attempts_last_about_two_days() {
        let policy = RetryPolicy::default();
        let minutes = |attempts| policy.run_backoff(attempts).num_minutes();
        assert_eq!(
            [1, 3, 4, 6, 9, 18, 300, u32::MAX].map(minutes),
            [1, 1, 2, 2, 4, 32, 60, 60]
        );
        let runs = policy.max_attempts / policy.attempts_per_run;
        let total: i64 = (1..=runs)
            .map(|run| minutes(run * policy.attempts_per_run))
            .sum();
        assert!((36 * 60..=60 * 60).contains(&total), "{total} minutes");
        let claimed = Delivery::queue(Uuid::nil(), change(), at(0)).claimed(at(0), &policy);
        assert!(!claimed.is_sendable(at(1)), "held by its sender");
    }

    #[test]
    fn long_error_messages_are_cut() {
        let policy = RetryPolicy::default();
        let queued = Delivery::queue(Uuid::nil(), change(), at(0));
        let failed = queued.after(
            1,
            Err(&SendError::permanent("x".repeat(10_000))),
            at(1),
            &policy,
        );
        assert_eq!(failed.last_error.map(|e| e.len()), Some(MAX_ERROR_CHARS));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let secs = |n| policy.backoff(n).as_secs();
        assert_eq!(
            [secs(1), secs(2), secs(3), secs(4), secs(10), secs(200)],
            [0, 1, 2, 4, 30, 30]
        );
    }

    #[test]
    fn delivered_records_are_pruned_after_the_keep_period_only() {
        let policy = RetryPolicy::default();
        let delivered =
            Delivery::queue(Uuid::nil(), change(), at(0)).after(1, Ok(()), at(0), &policy);
        assert!(!delivered.is_prunable(at(60 * 24 * 13), &policy));
        assert!(delivered.is_prunable(at(60 * 24 * 15), &policy));
        let pending = Delivery::queue(Uuid::nil(), change(), at(0));
        assert!(!pending.is_prunable(at(60 * 24 * 30), &policy));
    }
}
