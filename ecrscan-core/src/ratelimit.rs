//! Client-side rate control: an adaptive rate per AWS API action and region.
//!
//! Each (action, region) has its own rate, paced like a token bucket (calls
//! wait for their slot; nothing is dropped). The rate adapts to what AWS
//! answers, as TCP's congestion control does:
//!
//! - **slow start**: from [`RatePolicy::initial`], every accepted call adds
//!   [`RatePolicy::slow_start_gain`] calls a second, so the rate grows
//!   exponentially while nothing is throttled;
//! - **steady increase**: after the first throttling, every second of
//!   accepted calls adds [`RatePolicy::increase`] of the rate (at least half
//!   a call a second), so the time between two throttlings does not shrink
//!   as the rate grows;
//! - **multiplicative decrease**: a throttled call multiplies the rate by
//!   [`RatePolicy::decrease`] (by one half when it ends the slow start), at
//!   most once per [`RatePolicy::cut_interval`] (the calls already in flight
//!   are throttled too, and are one signal).
//!
//! The rate stays between [`RatePolicy::floor`] and [`RatePolicy::ceiling`].
//! A small fleet thus runs at the speed of its latency, and a large one
//! settles just under what AWS allows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// How a rate starts and adapts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatePolicy {
    /// Calls a second at first.
    pub initial: f64,
    /// The most calls a second, whatever AWS accepts.
    pub ceiling: f64,
    /// The fewest calls a second, however much AWS throttles.
    pub floor: f64,
    /// Calls a second added by each accepted call until the first
    /// throttling.
    pub slow_start_gain: f64,
    /// The share of the rate added by each second of accepted calls after
    /// it (at least half a call a second).
    pub increase: f64,
    /// The factor a throttling applies to the rate.
    pub decrease: f64,
    /// The shortest time between two decreases.
    pub cut_interval: Duration,
    /// Calls that may go at once after a pause.
    pub burst: f64,
}

/// The default ceiling of an adaptive rate: 1,000 calls a second.
pub const DEFAULT_CEILING: f64 = 1_000.0;

impl RatePolicy {
    /// The adaptive default: 100 calls a second at first, growing fast
    /// while AWS accepts them, up to `ceiling` (default
    /// [`DEFAULT_CEILING`]).
    pub fn adaptive(ceiling: Option<f64>) -> RatePolicy {
        let ceiling = ceiling.unwrap_or(DEFAULT_CEILING).max(1.0);
        RatePolicy {
            initial: 100f64.min(ceiling),
            ceiling,
            floor: 1f64.min(ceiling),
            slow_start_gain: 2.0,
            increase: 0.03,
            decrease: 0.8,
            cut_interval: Duration::from_millis(250),
            burst: 10f64.min(ceiling),
        }
    }

    /// A fixed rate of `per_second` calls a second, with bursts of as many:
    /// nothing adapts.
    pub fn fixed(per_second: f64) -> RatePolicy {
        let per_second = if per_second.is_nan() {
            MIN_RATE
        } else {
            per_second.clamp(MIN_RATE, MAX_RATE)
        };
        RatePolicy {
            initial: per_second,
            ceiling: per_second,
            floor: per_second,
            slow_start_gain: 0.0,
            increase: 0.0,
            decrease: 1.0,
            cut_interval: Duration::ZERO,
            burst: per_second.max(1.0),
        }
    }
}

/// A rate per (API action, region), adapting to throttling.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use ecrscan_core::ratelimit::{RateLimits, RatePolicy};
/// let limits = RateLimits::adaptive(RatePolicy::adaptive(None));
/// limits.acquire("ecr:StartImageScan", "us-west-2").await;
/// limits.throttled("ecr:StartImageScan", "us-west-2");
/// assert!(limits.rate("ecr:StartImageScan", "us-west-2") < 100.0);
/// # }
/// ```
#[derive(Debug)]
pub struct RateLimits {
    policy: RatePolicy,
    buckets: Mutex<HashMap<(String, String), Arc<Bucket>>>,
}

#[derive(Debug)]
struct Bucket {
    /// One caller at a time takes its slot, at the rate of that moment: a
    /// cut applies to the very next call, not after a queue of slots given
    /// at the old rate.
    gate: tokio::sync::Mutex<()>,
    pace: Mutex<Pace>,
    granted: AtomicU64,
    throttled: AtomicU64,
}

#[derive(Debug)]
struct Pace {
    rate: f64,
    /// The slot of the next call (earlier ones are burst credit).
    next: Instant,
    slow_start: bool,
    last_cut: Option<Instant>,
}

/// The slowest rate a bucket can have: a call every 1,000 seconds.
pub const MIN_RATE: f64 = 0.001;
/// The fastest rate a bucket can have: a million calls a second.
pub const MAX_RATE: f64 = 1e6;

fn finite_or_zero(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

/// The time between two calls at `rate` (kept between the bounds).
fn interval(rate: f64) -> Duration {
    Duration::from_secs_f64(1.0 / rate.clamp(MIN_RATE, MAX_RATE))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RateLimits {
    /// A fixed `per_second` calls a second per API action and region.
    pub fn new(per_second: std::num::NonZeroU32) -> RateLimits {
        RateLimits::adaptive(RatePolicy::fixed(f64::from(per_second.get())))
    }

    /// Rates that follow `policy`. Rates are kept between [`MIN_RATE`] and
    /// [`MAX_RATE`] whatever the policy says.
    pub fn adaptive(policy: RatePolicy) -> RateLimits {
        let rate = |value: f64| {
            if value.is_nan() {
                MIN_RATE
            } else {
                value.clamp(MIN_RATE, MAX_RATE)
            }
        };
        let ceiling = rate(policy.ceiling);
        let floor = rate(policy.floor).min(ceiling);
        let policy = RatePolicy {
            initial: rate(policy.initial).clamp(floor, ceiling),
            ceiling,
            floor,
            slow_start_gain: finite_or_zero(policy.slow_start_gain).max(0.0),
            increase: finite_or_zero(policy.increase).max(0.0),
            decrease: finite_or_zero(policy.decrease).clamp(0.0, 1.0),
            cut_interval: policy.cut_interval,
            burst: finite_or_zero(policy.burst).clamp(1.0, 1e6),
        };
        RateLimits {
            policy,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &RatePolicy {
        &self.policy
    }

    fn bucket(&self, action: &str, region: &str) -> Arc<Bucket> {
        let mut buckets = lock(&self.buckets);
        Arc::clone(
            buckets
                .entry((action.to_owned(), region.to_owned()))
                .or_insert_with(|| {
                    let now = Instant::now();
                    let credit =
                        interval(self.policy.initial).mul_f64((self.policy.burst - 1.0).max(0.0));
                    Arc::new(Bucket {
                        gate: tokio::sync::Mutex::new(()),
                        pace: Mutex::new(Pace {
                            rate: self.policy.initial,
                            // A new bucket starts with its burst.
                            next: now.checked_sub(credit).unwrap_or(now),
                            slow_start: true,
                            last_cut: None,
                        }),
                        granted: AtomicU64::new(0),
                        throttled: AtomicU64::new(0),
                    })
                }),
        )
    }

    /// Waits until a call to `action` in `region` is allowed.
    pub async fn acquire(&self, action: &str, region: &str) {
        let bucket = self.bucket(action, region);
        let _turn = bucket.gate.lock().await;
        let slot = {
            let pace = lock(&bucket.pace);
            let interval = interval(pace.rate);
            let now = Instant::now();
            let earliest = now
                .checked_sub(interval.mul_f64((self.policy.burst - 1.0).max(0.0)))
                .unwrap_or(now);
            pace.next.max(earliest)
        };
        tokio::time::sleep_until(slot).await;
        {
            let mut pace = lock(&bucket.pace);
            let interval = interval(pace.rate);
            pace.next = pace.next.max(slot) + interval;
        }
        bucket.granted.fetch_add(1, Ordering::Relaxed);
    }

    /// Notes that AWS accepted a call to `action` in `region`.
    pub fn accepted(&self, action: &str, region: &str) {
        let bucket = self.bucket(action, region);
        let mut pace = lock(&bucket.pace);
        let gain = if pace.slow_start {
            self.policy.slow_start_gain
        } else if self.policy.increase > 0.0 {
            self.policy.increase.max(0.5 / pace.rate)
        } else {
            0.0
        };
        pace.rate = (pace.rate + gain).min(self.policy.ceiling);
    }

    /// Notes that AWS throttled a call to `action` in `region`.
    pub fn throttled(&self, action: &str, region: &str) {
        let bucket = self.bucket(action, region);
        bucket.throttled.fetch_add(1, Ordering::Relaxed);
        let mut pace = lock(&bucket.pace);
        let now = Instant::now();
        let decrease = if pace.slow_start {
            self.policy.decrease.min(0.5)
        } else {
            self.policy.decrease
        };
        pace.slow_start = false;
        if pace
            .last_cut
            .is_some_and(|at| now.duration_since(at) < self.policy.cut_interval)
        {
            return;
        }
        pace.last_cut = Some(now);
        pace.rate = (pace.rate * decrease).clamp(self.policy.floor, self.policy.ceiling);
        // No burst credit right after a throttling.
        pace.next = pace.next.max(now);
    }

    /// The current rate of `action` in `region`, in calls a second.
    pub fn rate(&self, action: &str, region: &str) -> f64 {
        lock(&self.bucket(action, region).pace).rate
    }

    /// How many tokens of `action` in `region` were granted so far: the
    /// number of calls made.
    pub fn granted(&self, action: &str, region: &str) -> u64 {
        self.bucket(action, region).granted.load(Ordering::Relaxed)
    }

    /// How many calls of `action` in `region` AWS throttled so far.
    pub fn throttled_calls(&self, action: &str, region: &str) -> u64 {
        self.bucket(action, region)
            .throttled
            .load(Ordering::Relaxed)
    }
}

#[cfg(test)]
#[path = "ratelimit_tests.rs"]
mod tests;
