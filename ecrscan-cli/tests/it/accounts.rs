//! Many accounts on moto: an AWS Organization with an active member, a
//! member whose role the caller may not assume and a suspended one; one
//! config selecting `prod/*` in every account, read through assumed roles
//! with moto's authentication on.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ecrscan_core::testing::{Fault, FaultProxy, MotoServer, push_image_with};
use serde_json::{Value, json};

use super::fixtures::*;

const CENTRAL: &str = "123456789012";
const ROLE_TEMPLATE: &str = "arn:{partition}:iam::{account}:role/ecrscan-reader";

/// The accounts of the organization, as moto numbered them.
struct Organization {
    payments: String,
    locked: String,
    old: String,
    /// The caller's IAM user's keys (auth is on: moto's test keys no
    /// longer work).
    access_key: (String, String),
}

fn text_of(xml: &str, element: &str) -> String {
    let document = roxmltree::Document::parse(xml).unwrap();
    document
        .descendants()
        .find(|node| node.has_tag_name(element))
        .and_then(|node| node.text())
        .unwrap_or_else(|| panic!("no {element} in {xml}"))
        .to_owned()
}

fn reader_role(moto: &MotoServer, account: &str) {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{CENTRAL}:root")}, "Action": "sts:AssumeRole"}]});
    moto.iam(
        account,
        "CreateRole",
        &[
            ("RoleName", "ecrscan-reader"),
            ("AssumeRolePolicyDocument", &trust.to_string()),
        ],
    );
    let read = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["ecr:Describe*", "ecr:List*", "ecr:BatchGet*", "ecr:Get*", "ecr:StartImageScan"], "Resource": "*"}]});
    moto.iam(
        account,
        "PutRolePolicy",
        &[
            ("RoleName", "ecrscan-reader"),
            ("PolicyName", "read"),
            ("PolicyDocument", &read.to_string()),
        ],
    );
}

fn finding_results(account: &str, repository: &str, digest: &str, cve: &str) -> Vec<Value> {
    let result = json!({
        "registryId": account, "repositoryName": repository, "imageId": {"imageDigest": digest},
        "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
        "imageScanFindings": {"imageScanCompletedAt": 1764230400, "vulnerabilitySourceUpdatedAt": 1764200000,
            "findingSeverityCounts": {"HIGH": 1},
            "findings": [{"name": cve, "severity": "HIGH", "uri": "https://nvd.nist.gov/vuln/detail/CVE-2026-0001",
                          "attributes": []}]}
    });
    vec![result; 8]
}

/// The organization: the caller (123456789012) with `prod/api` (two
/// images), `prod/legacy-web` and `dev/api`; `payments` with
/// `prod/worker`; `locked` with `prod/secret`, whose role the caller may
/// not assume; `old`, suspended, with `prod/ghost`. Authentication is on
/// when it returns.
async fn organization(moto: &MotoServer) -> Organization {
    let organizations = aws_sdk_organizations::Client::new(&moto.sdk_config());
    organizations
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for name in ["payments", "locked", "old"] {
        let created = organizations
            .create_account()
            .account_name(name)
            .email(format!("{name}@example.com"))
            .send()
            .await
            .unwrap();
        ids.push(
            created
                .create_account_status()
                .and_then(|status| status.account_id())
                .unwrap()
                .to_owned(),
        );
    }
    let [payments, locked, old] = <[String; 3]>::try_from(ids).unwrap();
    organizations
        .close_account()
        .account_id(&old)
        .send()
        .await
        .unwrap();

    moto.create_repository("prod/api").await;
    moto.create_repository("prod/legacy-web").await;
    moto.create_repository("dev/api").await;
    let api_1 = moto.push_image("prod/api", "api-1", &["v1.0"]).await;
    let api_2 = moto.push_image("prod/api", "api-2", &["v1.1"]).await;
    moto.push_image("prod/legacy-web", "legacy", &["v1"]).await;
    moto.push_image("dev/api", "dev", &["latest"]).await;
    let mut central_results = finding_results(CENTRAL, "prod/api", &api_1, "CVE-2026-0001");
    central_results.extend(finding_results(
        CENTRAL,
        "prod/api",
        &api_2,
        "CVE-2026-0002",
    ));
    moto.set_scan_findings("us-west-2", &json!(central_results));

    for (account, repository) in [
        (&payments, "prod/worker"),
        (&locked, "prod/secret"),
        (&old, "prod/ghost"),
    ] {
        let ecr = aws_sdk_ecr::Client::new(&moto.sdk_config_in(account).await);
        ecr.create_repository()
            .repository_name(repository)
            .send()
            .await
            .unwrap();
        let digest = push_image_with(&ecr, repository, account, &["v2"]).await;
        moto.set_scan_findings_in(
            account,
            "us-west-2",
            &json!(finding_results(
                account,
                repository,
                &digest,
                "CVE-2026-0003"
            )),
        );
        reader_role(moto, account);
    }

    moto.iam(CENTRAL, "CreateUser", &[("UserName", "ecrscan")]);
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ecr:*", "organizations:ListAccounts", "sts:GetCallerIdentity"], "Resource": "*"},
        {"Effect": "Allow", "Action": "sts:AssumeRole",
         "Resource": [format!("arn:aws:iam::{payments}:role/ecrscan-reader"),
                      format!("arn:aws:iam::{old}:role/ecrscan-reader")]}]});
    moto.iam(
        CENTRAL,
        "PutUserPolicy",
        &[
            ("UserName", "ecrscan"),
            ("PolicyName", "ecrscan"),
            ("PolicyDocument", &policy.to_string()),
        ],
    );
    let key = moto.iam(CENTRAL, "CreateAccessKey", &[("UserName", "ecrscan")]);
    let access_key = (
        text_of(&key, "AccessKeyId"),
        text_of(&key, "SecretAccessKey"),
    );
    moto.require_authentication();
    Organization {
        payments,
        locked,
        old,
        access_key,
    }
}

/// The AWS actions of requests through the proxy: the `X-Amz-Target` of
/// JSON calls, the `Action` of query calls.
type Calls = Arc<Mutex<Vec<String>>>;

async fn counting_proxy(moto: &MotoServer) -> (FaultProxy, Calls) {
    let calls: Calls = Arc::default();
    let seen = Arc::clone(&calls);
    let proxy = FaultProxy::start_by_request(moto.port(), move |request| {
        let action = match request.target.rsplit_once('.') {
            Some((_, action)) => action.to_owned(),
            None => String::from_utf8_lossy(request.body)
                .split('&')
                .find_map(|pair| pair.strip_prefix("Action="))
                .unwrap_or(request.path)
                .to_owned(),
        };
        seen.lock().unwrap().push(action);
        Fault::Pass
    })
    .await;
    (proxy, calls)
}

fn counts(calls: &Calls) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in calls.lock().unwrap().drain(..) {
        *counts.entry(call).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_config_selects_prod_repositories_in_every_account_of_the_organization() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let org = organization(&moto).await;
    let (proxy, calls) = counting_proxy(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("configs");
    let (key_id, secret) = org.access_key.clone();
    let endpoint = proxy.endpoint();
    let env = moto.env();
    let cli = move |args: &[&str]| {
        let mut command = ecrscan(&store);
        command
            .envs(env.clone())
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", &key_id)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .env("ECRSCAN_ASSUME_ROLE", ROLE_TEMPLATE)
            .args(args);
        run(&mut command)
    };
    let cli = Arc::new(cli);
    let call = |args: &'static [&'static str]| {
        let cli = Arc::clone(&cli);
        tokio::task::spawn_blocking(move || cli(args))
    };

    let added = call(&[
        "configs",
        "add",
        "--region",
        "us-west-2",
        "--registry",
        "organization",
        "--repository",
        "prod/*",
        "--exclude-repository",
        "prod/legacy-*",
    ])
    .await
    .unwrap();
    assert_eq!(added.code, 0, "{}", added.stderr);
    let id: &'static str = Box::leak(added.stdout.trim().to_owned().into_boxed_str());
    assert!(counts(&calls).is_empty(), "adding a config calls no AWS");

    let args: &'static [&'static str] =
        Box::leak(vec!["configs", "explain", id, "-o", "json"].into_boxed_slice());
    let explained = call(args).await.unwrap();
    assert_eq!(
        explained.code, 1,
        "a listing failed: exit 1\n{}",
        explained.stderr
    );
    let explanation: Value = serde_json::from_str(&explained.stdout).unwrap();
    let accounts: BTreeMap<&str, Option<&str>> = explanation["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a["left_out"].as_str()))
        .collect();
    assert_eq!(
        accounts,
        BTreeMap::from([
            (CENTRAL, None),
            (org.payments.as_str(), None),
            (org.locked.as_str(), None),
            (org.old.as_str(), Some("suspended or closing")),
        ])
    );
    let mut repositories: Vec<(String, String, Value)> = explanation["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let images: Vec<&str> = r["images"]
                .as_array()
                .map(|images| {
                    images
                        .iter()
                        .flat_map(|i| i["image"]["tags"].as_array().unwrap())
                        .map(|t| t.as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            let verdict = r
                .get("taken")
                .or(r.get("left_out"))
                .or(r.get("error"))
                .cloned()
                .unwrap_or(Value::Null);
            (
                r["registry"].as_str().unwrap().to_owned(),
                r["repository"].as_str().unwrap().to_owned(),
                json!({"images": images, "why": verdict}),
            )
        })
        .collect();
    repositories.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut expected = vec![
        (
            CENTRAL.to_owned(),
            "prod/api".to_owned(),
            json!({"images": ["v1.1", "v1.0"], "why": "matches prod/*"}),
        ),
        (
            CENTRAL.to_owned(),
            "prod/legacy-web".to_owned(),
            json!({"images": [], "why": "excluded by prod/legacy-*"}),
        ),
        (
            org.payments.clone(),
            "prod/worker".to_owned(),
            json!({"images": ["v2"], "why": "matches prod/*"}),
        ),
        (
            org.locked.clone(),
            "prod/*".to_owned(),
            json!({"images": [], "why": format!(
                "cannot list the repositories: cannot assume arn:aws:iam::{}:role/ecrscan-reader: AccessDenied",
                org.locked
            )}),
        ),
    ];
    expected.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(repositories, expected);
    let explain_calls = counts(&calls);
    assert_eq!(explain_calls.get("StartImageScan"), None, "a dry run");
    assert_eq!(explain_calls.get("ListAccounts"), Some(&1));
    assert_eq!(
        explain_calls.get("DescribeRepositories"),
        Some(&2),
        "the caller's and payments' (the locked account's role is refused first): {explain_calls:?}"
    );

    let scanned = call(&["scan"]).await.unwrap();
    assert_eq!(scanned.code, 1, "one account failed: {}", scanned.stderr);
    let mut lines: Vec<String> = scanned.stdout.lines().map(str::to_owned).collect();
    lines.sort();
    let mut expected = vec![
        format!("{CENTRAL} us-west-2 prod/api:v1.0 started"),
        format!("{CENTRAL} us-west-2 prod/api:v1.1 started"),
        format!("{} us-west-2 prod/worker:v2 started", org.payments),
        format!(
            "{0} us-west-2 prod/*:* failed: cannot assume arn:aws:iam::{0}:role/ecrscan-reader: AccessDenied",
            org.locked
        ),
    ];
    expected.sort();
    assert_eq!(lines, expected, "{}", scanned.stderr);
    let scan_calls = counts(&calls);
    assert_eq!(scan_calls.get("ListAccounts"), Some(&1), "{scan_calls:?}");
    assert_eq!(scan_calls.get("DescribeRepositories"), Some(&2));
    assert_eq!(
        scan_calls.get("DescribeImages"),
        Some(&2),
        "prod/api and prod/worker, once each"
    );
    assert_eq!(scan_calls.get("StartImageScan"), Some(&3));

    let summary = call(&["summary", "-o", "json"]).await.unwrap();
    assert_eq!(summary.code, 1, "one failed row: {}", summary.stderr);
    let summary: Value = serde_json::from_str(&summary.stdout).unwrap();
    let mut rows: Vec<(String, String, String, String)> = summary["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["registry"].as_str().unwrap_or_default().to_owned(),
                row["repository"].as_str().unwrap_or_default().to_owned(),
                row["tag"].as_str().unwrap_or("*").to_owned(),
                row["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    rows.sort();
    let mut expected = vec![
        (
            CENTRAL.into(),
            "prod/api".into(),
            "v1.0".into(),
            "COMPLETE".into(),
        ),
        (
            CENTRAL.into(),
            "prod/api".into(),
            "v1.1".into(),
            "COMPLETE".into(),
        ),
        (
            org.payments.clone(),
            "prod/worker".into(),
            "v2".into(),
            "COMPLETE".into(),
        ),
        (
            org.locked.clone(),
            "prod/*".into(),
            "*".into(),
            "FAILED".into(),
        ),
    ];
    expected.sort();
    assert_eq!(rows, expected, "{summary:#}");
    drop(proxy);
}
