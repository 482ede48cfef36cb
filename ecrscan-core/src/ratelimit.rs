//! Client-side rate limits: a token bucket per AWS API action and region.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// A token bucket per (API action, region): at most `per_second` calls a
/// second to each, with bursts of up to `per_second`. Callers wait for a
/// token; nothing is dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::num::NonZeroU32;
/// use ecrscan_core::ratelimit::RateLimits;
/// let limits = RateLimits::new(NonZeroU32::new(20).unwrap());
/// limits.acquire("ecr:StartImageScan", "us-west-2").await;
/// # }
/// ```
#[derive(Debug)]
pub struct RateLimits {
    quota: Quota,
    buckets: Mutex<HashMap<(String, String), Arc<Bucket>>>,
}

#[derive(Debug)]
struct Bucket {
    limiter: DefaultDirectRateLimiter,
    granted: AtomicU64,
}

impl RateLimits {
    /// `per_second` calls a second per API action and region.
    pub fn new(per_second: NonZeroU32) -> RateLimits {
        RateLimits {
            quota: Quota::per_second(per_second),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn bucket(&self, action: &str, region: &str) -> Arc<Bucket> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(
            buckets
                .entry((action.to_owned(), region.to_owned()))
                .or_insert_with(|| {
                    Arc::new(Bucket {
                        limiter: RateLimiter::direct(self.quota),
                        granted: AtomicU64::new(0),
                    })
                }),
        )
    }

    /// Waits until a call to `action` in `region` is allowed.
    pub async fn acquire(&self, action: &str, region: &str) {
        let bucket = self.bucket(action, region);
        bucket.limiter.until_ready().await;
        bucket.granted.fetch_add(1, Ordering::Relaxed);
    }

    /// How many tokens of `action` in `region` were granted so far: the
    /// number of calls made.
    pub fn granted(&self, action: &str, region: &str) -> u64 {
        self.bucket(action, region).granted.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn each_action_and_region_has_its_own_bucket() {
        let limits = RateLimits::new(NonZeroU32::new(5).unwrap());
        let within = |action: &'static str, region: &'static str| {
            let limits = &limits;
            async move {
                tokio::time::timeout(Duration::from_millis(30), limits.acquire(action, region))
                    .await
                    .is_ok()
            }
        };
        for _ in 0..5 {
            assert!(
                within("ecr:StartImageScan", "us-west-2").await,
                "a burst passes at once"
            );
        }
        // The bucket is empty: the next token comes in 200 ms.
        assert!(!within("ecr:StartImageScan", "us-west-2").await);
        // Other actions and regions are not held up.
        assert!(within("ecr:StartImageScan", "eu-west-1").await);
        assert!(within("ecr:ListImages", "us-west-2").await);
    }
}
