//! A service that throttles above a fixed rate, and clients driving it
//! through [`RateLimits`]: how close the adaptive rate comes to what the
//! service allows, and how many calls it throttles on the way.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::ratelimit::RateLimits;

/// A service that accepts at most `per_second` calls a second (a token
/// bucket with `burst` tokens) and throttles the rest, as AWS does.
#[derive(Debug)]
pub struct ThrottlingService {
    per_second: f64,
    burst: f64,
    bucket: std::sync::Mutex<(f64, Instant)>,
}

impl ThrottlingService {
    /// A service accepting `per_second` calls a second, with bursts of `burst`.
    pub fn new(per_second: f64, burst: f64) -> ThrottlingService {
        ThrottlingService {
            per_second,
            burst,
            bucket: std::sync::Mutex::new((burst, Instant::now())),
        }
    }

    /// Whether a call arriving now is accepted.
    pub fn call(&self) -> bool {
        let mut bucket = self
            .bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let (tokens, at) = *bucket;
        let tokens =
            (tokens + now.duration_since(at).as_secs_f64() * self.per_second).min(self.burst);
        if tokens >= 1.0 {
            *bucket = (tokens - 1.0, now);
            true
        } else {
            *bucket = (tokens, now);
            false
        }
    }
}

/// What [`drive`] measured after its warm-up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriveReport {
    /// Accepted calls a second.
    pub accepted_per_second: f64,
    /// The share of calls throttled.
    pub throttled_share: f64,
}

/// `concurrency` clients call `service` through `limits` (one action, one
/// region) for `warm_up + measured`, each call taking `latency`; the
/// accepted rate and the throttled share over `measured`. Run it on a
/// runtime with paused time to simulate minutes in milliseconds.
pub async fn drive(
    limits: Arc<RateLimits>,
    service: Arc<ThrottlingService>,
    concurrency: usize,
    latency: Duration,
    warm_up: Duration,
    measured: Duration,
) -> DriveReport {
    let started = Instant::now();
    let measuring_from = started + warm_up;
    let until = measuring_from + measured;
    let accepted = Arc::new(AtomicU64::new(0));
    let throttled = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..concurrency)
        .map(|_| {
            let (limits, service) = (Arc::clone(&limits), Arc::clone(&service));
            let (accepted, throttled) = (Arc::clone(&accepted), Arc::clone(&throttled));
            tokio::spawn(async move {
                while Instant::now() < until {
                    limits.acquire("ecr:Simulated", "local").await;
                    tokio::time::sleep(latency / 2).await;
                    let ok = service.call();
                    tokio::time::sleep(latency / 2).await;
                    let counted = Instant::now() >= measuring_from && Instant::now() < until;
                    if ok {
                        limits.accepted("ecr:Simulated", "local");
                        if counted {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                    } else {
                        limits.throttled("ecr:Simulated", "local");
                        if counted {
                            throttled.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for client in clients {
        let _ = client.await;
    }
    let accepted = accepted.load(Ordering::Relaxed) as f64;
    let throttled = throttled.load(Ordering::Relaxed) as f64;
    DriveReport {
        accepted_per_second: accepted / measured.as_secs_f64(),
        throttled_share: if accepted + throttled > 0.0 {
            throttled / (accepted + throttled)
        } else {
            0.0
        },
    }
}
