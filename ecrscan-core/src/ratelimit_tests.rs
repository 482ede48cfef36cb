use std::num::NonZeroU32;

use super::*;

async fn within(limits: &RateLimits, action: &str, region: &str) -> bool {
    tokio::time::timeout(Duration::from_millis(30), limits.acquire(action, region))
        .await
        .is_ok()
}

#[tokio::test(start_paused = true)]
async fn each_action_and_region_has_its_own_bucket() {
    let limits = RateLimits::new(NonZeroU32::new(5).unwrap());
    for _ in 0..5 {
        assert!(
            within(&limits, "ecr:StartImageScan", "us-west-2").await,
            "a burst passes at once"
        );
    }
    // The bucket is empty: the next token comes in 200 ms.
    assert!(!within(&limits, "ecr:StartImageScan", "us-west-2").await);
    // Other actions and regions are not held up.
    assert!(within(&limits, "ecr:StartImageScan", "eu-west-1").await);
    assert!(within(&limits, "ecr:ListImages", "us-west-2").await);
    // A fixed rate does not adapt.
    limits.accepted("ecr:ListImages", "us-west-2");
    limits.throttled("ecr:ListImages", "us-west-2");
    assert_eq!(limits.rate("ecr:ListImages", "us-west-2"), 5.0);
}

#[tokio::test(start_paused = true)]
async fn the_rate_grows_until_throttled_then_cuts_once_per_interval() {
    let policy = RatePolicy::adaptive(Some(400.0));
    let limits = RateLimits::adaptive(policy);
    let (action, region) = ("ecr:DescribeImageScanFindings", "us-west-2");
    assert_eq!(limits.rate(action, region), 100.0);
    for _ in 0..100 {
        limits.accepted(action, region);
    }
    assert_eq!(limits.rate(action, region), 300.0, "slow start: +2 a call");
    for _ in 0..100 {
        limits.accepted(action, region);
    }
    assert_eq!(limits.rate(action, region), 400.0, "held at the ceiling");

    limits.throttled(action, region);
    assert_eq!(
        limits.rate(action, region),
        200.0,
        "the end of slow start halves"
    );
    limits.throttled(action, region);
    assert_eq!(
        limits.rate(action, region),
        200.0,
        "the calls in flight are one signal"
    );
    tokio::time::advance(policy.cut_interval).await;
    limits.throttled(action, region);
    assert_eq!(limits.rate(action, region), 160.0);
    assert_eq!(limits.throttled_calls(action, region), 3);
    // Then each second of accepted calls adds 3 % of the rate.
    for _ in 0..160 {
        limits.accepted(action, region);
    }
    let rate = limits.rate(action, region);
    assert!((164.7..=164.9).contains(&rate), "{rate}");
    // Never below the floor.
    for _ in 0..100 {
        tokio::time::advance(policy.cut_interval).await;
        limits.throttled(action, region);
    }
    assert_eq!(limits.rate(action, region), 1.0);
}

#[tokio::test(start_paused = true)]
async fn the_pace_follows_the_rate() {
    let limits = RateLimits::adaptive(RatePolicy::fixed(10.0));
    let started = tokio::time::Instant::now();
    for _ in 0..30 {
        limits.acquire("ecr:ListImages", "us-west-2").await;
    }
    // 10 at once (the burst), then one every 100 ms.
    let elapsed = started.elapsed();
    assert!(
        (Duration::from_millis(1_900)..=Duration::from_millis(2_100)).contains(&elapsed),
        "{elapsed:?}"
    );
    assert_eq!(limits.granted("ecr:ListImages", "us-west-2"), 30);
}

/// Against a service that throttles above 200 calls a second, with 64
/// clients and 50 ms a call (in virtual time): the adaptive default settles
/// at 85 % or more of what the service allows, with under 5 % throttled.
#[tokio::test(start_paused = true)]
async fn the_adaptive_rate_converges_just_under_what_the_service_allows() {
    for cap in [20.0, 200.0] {
        let report = crate::testing::drive(
            Arc::new(RateLimits::adaptive(RatePolicy::adaptive(None))),
            Arc::new(crate::testing::ThrottlingService::new(cap, cap / 10.0)),
            64,
            Duration::from_millis(50),
            Duration::from_secs(30),
            Duration::from_secs(120),
        )
        .await;
        assert!(
            report.accepted_per_second >= 0.85 * cap,
            "cap {cap}: {report:?}"
        );
        assert!(report.throttled_share < 0.05, "cap {cap}: {report:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn any_policy_paces_without_panicking() {
    for rate in [0.0, -5.0, f64::NAN, f64::INFINITY, 1e-300, 1e300] {
        let limits = RateLimits::adaptive(RatePolicy::fixed(rate));
        limits.acquire("ecr:ListImages", "us-west-2").await;
        let mut policy = RatePolicy::adaptive(Some(rate));
        policy.floor = rate;
        policy.initial = rate;
        policy.burst = rate;
        policy.decrease = rate;
        let limits = RateLimits::adaptive(policy);
        limits.acquire("ecr:ListImages", "us-west-2").await;
        limits.throttled("ecr:ListImages", "us-west-2");
        limits.accepted("ecr:ListImages", "us-west-2");
        let now = limits.rate("ecr:ListImages", "us-west-2");
        assert!((MIN_RATE..=MAX_RATE).contains(&now), "{rate}: {now}");
    }
}
