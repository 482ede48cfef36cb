//! An organization to select from, for tests of patterns, recency and
//! many accounts.

use chrono::{DateTime, Duration, Utc};

use crate::backend::{Account, Image};
use crate::config::{ConfigSpec, RepositoryRef, ScanConfig, SelectionOptions};

use super::SimulatedEcr;

/// The region of [`example_organization`].
pub const REGION: &str = "us-west-2";
/// The caller's account: `prod/api` (four images), `prod/legacy-web`,
/// `dev/api`.
pub const CENTRAL: &str = "111111111111";
/// An active account: `prod/worker`.
pub const PAYMENTS: &str = "222222222222";
/// A suspended account: `prod/ghost`.
pub const SUSPENDED: &str = "333333333333";
/// An active account [`example_config`] excludes: `prod/sandbox`.
pub const SANDBOX: &str = "444444444444";
/// An active account whose role cannot be assumed: `prod/secret`.
pub const LOCKED: &str = "555555555555";

/// A repository of the organization.
pub fn repository(account: &str, name: &str) -> RepositoryRef {
    RepositoryRef {
        region: REGION.into(),
        registry: account.into(),
        repository: name.into(),
    }
}

fn image(
    digest: &str,
    tag: &str,
    pushed_days: i64,
    pulled_days: Option<i64>,
    now: DateTime<Utc>,
) -> Image {
    Image {
        digest: digest.into(),
        tags: vec![tag.into()],
        pushed_at: Some(now - Duration::days(pushed_days)),
        last_pulled_at: pulled_days.map(|days| now - Duration::days(days)),
        archived: false,
    }
}

/// Five accounts (see the constants) with their repositories; in
/// `prod/api`, pushed and pulled relative to `now`:
/// `sha256:a1` (`v1.0`, pushed 40 days ago, pulled 1 day ago),
/// `sha256:a2` (`v1.1`, pushed 5 days ago, never pulled),
/// `sha256:a3` (`v0.9`, pushed 100 days ago, pulled 60 days ago) and the
/// archived `sha256:a4` (`v0.1`, pushed 3 days ago, pulled today).
pub fn example_organization(now: DateTime<Utc>) -> SimulatedEcr {
    let account = |id: &str, name: &str, active: bool| Account {
        id: id.into(),
        name: Some(name.into()),
        active,
    };
    SimulatedEcr::new()
        .with_accounts(vec![
            account(CENTRAL, "central", true),
            account(PAYMENTS, "payments", true),
            account(SUSPENDED, "old", false),
            account(SANDBOX, "sandbox", true),
            account(LOCKED, "locked", true),
        ])
        .with_role_denied(LOCKED)
        .with_image_details(
            &repository(CENTRAL, "prod/api"),
            image("sha256:a1", "v1.0", 40, Some(1), now),
        )
        .with_image_details(
            &repository(CENTRAL, "prod/api"),
            image("sha256:a2", "v1.1", 5, None, now),
        )
        .with_image_details(
            &repository(CENTRAL, "prod/api"),
            image("sha256:a3", "v0.9", 100, Some(60), now),
        )
        .with_image_details(
            &repository(CENTRAL, "prod/api"),
            Image {
                archived: true,
                ..image("sha256:a4", "v0.1", 3, Some(0), now)
            },
        )
        .with_image_details(
            &repository(CENTRAL, "prod/legacy-web"),
            image("sha256:l1", "v1", 30, Some(1), now),
        )
        .with_image_details(
            &repository(CENTRAL, "dev/api"),
            image("sha256:d1", "latest", 1, Some(1), now),
        )
        .with_image_details(
            &repository(PAYMENTS, "prod/worker"),
            image("sha256:w1", "v2", 2, None, now),
        )
        .with_image_details(
            &repository(SUSPENDED, "prod/ghost"),
            image("sha256:g1", "v1", 2, None, now),
        )
        .with_image_details(
            &repository(SANDBOX, "prod/sandbox"),
            image("sha256:s1", "v1", 2, None, now),
        )
        .with_image_details(
            &repository(LOCKED, "prod/secret"),
            image("sha256:x1", "v1", 2, None, now),
        )
}

/// Every `prod/*` repository of every account but [`SANDBOX`], without
/// `prod/legacy-*`, the most recent image and any pulled within 14 days.
pub fn example_config(now: DateTime<Utc>) -> ScanConfig {
    let spec = ConfigSpec::with_options(
        REGION,
        crate::config::ORGANIZATION,
        "prod/*",
        Vec::<String>::new(),
        SelectionOptions {
            exclude_repositories: vec!["prod/legacy-*".into()],
            most_recent: Some(1),
            pulled_within_days: Some(14),
            exclude_accounts: vec![SANDBOX.into()],
            ..SelectionOptions::default()
        },
    )
    .expect("the example config is valid");
    ScanConfig::create(spec, now)
}
