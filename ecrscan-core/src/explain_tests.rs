use chrono::TimeZone;

use super::*;
use crate::conformance::sample_config;
use crate::testing::organization::{
    CENTRAL, LOCKED, PAYMENTS, SANDBOX, SUSPENDED, example_config, example_organization,
};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap()
}

fn taken(explained: &RepositoryExplained) -> Vec<(&str, &[String])> {
    explained
        .images
        .iter()
        .map(|chosen| (chosen.image.digest.as_str(), chosen.clauses.as_slice()))
        .collect()
}

#[tokio::test]
async fn an_organization_config_explains_every_account_repository_and_image() {
    let ecr = example_organization(now());
    let explanation = explain(&example_config(now()), &ecr, now()).await;

    let accounts: Vec<(&str, Option<&str>)> = explanation
        .accounts
        .iter()
        .map(|a| (a.id.as_str(), a.left_out.as_deref()))
        .collect();
    assert_eq!(
        accounts,
        [
            (CENTRAL, None),
            (PAYMENTS, None),
            (SUSPENDED, Some("suspended or closing")),
            (SANDBOX, Some("excluded")),
            (LOCKED, None),
        ]
    );
    let repositories: Vec<(&str, &str, Option<&str>, Option<&str>)> = explanation
        .repositories
        .iter()
        .map(|r| {
            (
                r.registry.as_str(),
                r.repository.as_str(),
                r.taken.as_deref(),
                r.left_out.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        repositories,
        [
            (CENTRAL, "prod/api", Some("matches prod/*"), None),
            (
                CENTRAL,
                "prod/legacy-web",
                None,
                Some("excluded by prod/legacy-*")
            ),
            (PAYMENTS, "prod/worker", Some("matches prod/*"), None),
            (LOCKED, "prod/*", None, None),
        ],
        "dev/api does not match; the locked account's repositories cannot be listed"
    );

    let api = &explanation.repositories[0];
    assert_eq!(
        taken(api),
        [
            (
                "sha256:a2",
                &[
                    "every tagged image".to_owned(),
                    "most recent (#1 of 1)".to_owned()
                ][..]
            ),
            (
                "sha256:a1",
                &[
                    "every tagged image".to_owned(),
                    "pulled within 14 days".to_owned()
                ][..]
            ),
        ]
    );
    let left_out: Vec<(&str, &str)> = api
        .images_left_out
        .iter()
        .map(|l| (l.image.digest.as_str(), l.reason.as_str()))
        .collect();
    assert_eq!(
        left_out,
        [
            ("sha256:a4", "archived"),
            (
                "sha256:a3",
                "not among the 1 most recent, not pulled within 14 days"
            ),
        ]
    );
    assert_eq!(
        explanation.repositories[3].error.as_deref(),
        Some(
            "cannot list the repositories: cannot assume arn:aws:iam::555555555555:role/ecrscan-reader: AccessDenied"
        )
    );
    assert_eq!(explanation.images(), 3, "a2, a1 and the worker's w1");
    assert_eq!(ecr.calls_of("start_scan"), 0, "a dry run starts nothing");
}

#[tokio::test]
async fn a_single_repository_with_exact_tags_lists_nothing_and_names_missing_tags() {
    let ecr = crate::testing::SimulatedEcr::new().with_image(
        &crate::config::RepositoryRef {
            region: "us-west-2".into(),
            registry: "123456789012".into(),
            repository: "test/ubuntu".into(),
        },
        "sha256:aa",
        &["16.04", "latest"],
    );
    let config = sample_config("test/ubuntu", &["latest", "gone"], 1_569_927_812);
    let explanation = explain(&config, &ecr, now()).await;
    assert!(explanation.accounts.is_empty());
    let [repository] = explanation.repositories.as_slice() else {
        panic!("one repository: {explanation:?}");
    };
    assert_eq!(repository.taken.as_deref(), Some("the config's repository"));
    assert_eq!(
        taken(repository),
        [("sha256:aa", &["tag latest".to_owned()][..])]
    );
    assert_eq!(repository.missing_tags, ["gone"]);
    assert_eq!(ecr.calls_of("list_repositories"), 0);
    assert_eq!(ecr.calls_of("list_accounts"), 0);
}

#[tokio::test]
async fn an_organization_that_cannot_be_listed_says_why_and_goes_no_further() {
    let ecr = crate::testing::SimulatedEcr::new();
    let explanation = explain(&example_config(now()), &ecr, now()).await;
    let error = explanation.accounts_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("organizations:ListAccounts failed"),
        "{error}"
    );
    assert!(explanation.repositories.is_empty());
    assert_eq!(ecr.calls_of("list_repositories"), 0);
}

#[test]
fn the_json_names_what_was_taken_and_why() {
    let explanation = Explanation {
        config_id: Uuid::nil(),
        at: now(),
        accounts: Vec::new(),
        accounts_error: None,
        repositories: vec![RepositoryExplained {
            registry: CENTRAL.into(),
            region: "us-west-2".into(),
            repository: "prod/legacy-web".into(),
            taken: None,
            left_out: Some("excluded by prod/legacy-*".into()),
            error: None,
            images: Vec::new(),
            images_left_out: Vec::new(),
            missing_tags: Vec::new(),
        }],
    };
    let json = serde_json::to_value(&explanation).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "config_id": "00000000-0000-0000-0000-000000000000",
            "at": "2026-12-04T12:00:00Z",
            "repositories": [{
                "registry": CENTRAL,
                "region": "us-west-2",
                "repository": "prod/legacy-web",
                "left_out": "excluded by prod/legacy-*",
            }],
        })
    );
}
