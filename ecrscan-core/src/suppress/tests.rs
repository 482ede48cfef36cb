use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::severity::Severity;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

fn input(vulnerability: &str) -> RuleInput {
    RuleInput {
        vulnerability: vulnerability.into(),
        reason: Some("not reachable".into()),
        expires: Some(Expiry::Never),
        ..RuleInput::default()
    }
}

fn rule(input: RuleInput) -> Suppression {
    SuppressionSpec::new(input, at(0)).unwrap().create()
}

fn repository(name: &str) -> RepositoryRef {
    RepositoryRef::new("us-west-2", "123456789012", name).unwrap()
}

fn finding(name: &str, package: &str, version: &str) -> Finding {
    let mut finding = Finding::new(name, Severity::High);
    finding.package_name = Some(package.into());
    finding.package_version = Some(version.into());
    finding
}

const DIGEST: &str = "sha256:aaaa";

fn image<'a>(repository: &'a RepositoryRef, tags: &'a [String]) -> ImageContext<'a> {
    ImageContext {
        repository,
        digest: DIGEST,
        tags,
    }
}

#[test]
fn an_empty_scope_covers_the_vulnerability_everywhere_and_nothing_else() {
    let everywhere = rule(input("CVE-2026-1234"));
    let ubuntu = repository("test/ubuntu");
    let tags = vec!["latest".to_owned()];
    assert!(everywhere.covers(
        &image(&ubuntu, &tags),
        &finding("CVE-2026-1234", "apt", "1")
    ));
    assert!(
        everywhere.covers(&image(&ubuntu, &[]), &finding("cve-2026-1234", "x", "2")),
        "ids compare without case"
    );
    assert!(!everywhere.covers(
        &image(&ubuntu, &tags),
        &finding("CVE-2026-9999", "apt", "1")
    ));
}

#[test]
fn each_scope_field_narrows() {
    let prod_api = repository("prod/api");
    let other_account = RepositoryRef::new("us-west-2", "210987654321", "prod/api").unwrap();
    let other_region = RepositoryRef::new("eu-west-1", "123456789012", "prod/api").unwrap();
    let staging = repository("staging/api");
    let v1 = vec!["v1.4.2".to_owned(), "latest".to_owned()];
    let v2 = vec!["v2.0".to_owned()];
    let openssl = finding("CVE-2026-1234", "openssl", "3.0.2");
    let openssl_new = finding("CVE-2026-1234", "openssl", "3.0.9");
    let curl = finding("CVE-2026-1234", "curl", "8.0");
    let cases: Vec<(RuleInput, ImageContext<'_>, &Finding, bool)> = vec![
        (
            RuleInput {
                registry: Some("123456789012".into()),
                ..input("CVE-2026-1234")
            },
            image(&prod_api, &v1),
            &openssl,
            true,
        ),
        (
            RuleInput {
                registry: Some("123456789012".into()),
                ..input("CVE-2026-1234")
            },
            image(&other_account, &v1),
            &openssl,
            false,
        ),
        (
            RuleInput {
                region: Some("us-west-2".into()),
                ..input("CVE-2026-1234")
            },
            image(&other_region, &v1),
            &openssl,
            false,
        ),
        (
            RuleInput {
                repository: Some("prod/*".into()),
                ..input("CVE-2026-1234")
            },
            image(&prod_api, &v1),
            &openssl,
            true,
        ),
        (
            RuleInput {
                repository: Some("prod/*".into()),
                ..input("CVE-2026-1234")
            },
            image(&staging, &v1),
            &openssl,
            false,
        ),
        (
            RuleInput {
                tag: Some("v1.*".into()),
                ..input("CVE-2026-1234")
            },
            image(&prod_api, &v1),
            &openssl,
            true,
        ),
        (
            RuleInput {
                tag: Some("v1.*".into()),
                ..input("CVE-2026-1234")
            },
            image(&prod_api, &v2),
            &openssl,
            false,
        ),
        (
            RuleInput {
                tag: Some("v1.*".into()),
                ..input("CVE-2026-1234")
            },
            image(&prod_api, &[]),
            &openssl,
            false,
        ),
        (
            RuleInput {
                digest: Some(DIGEST.into()),
                ..input("CVE-2026-1234")
            },
            image(&prod_api, &v2),
            &openssl,
            true,
        ),
        (
            RuleInput {
                digest: Some("sha256:bbbb".into()),
                ..input("CVE-2026-1234")
            },
            image(&prod_api, &v2),
            &openssl,
            false,
        ),
        (
            RuleInput {
                package: Some(PackageScope::parse("openssl")),
                ..input("CVE-2026-1234")
            },
            image(&prod_api, &v2),
            &openssl_new,
            true,
        ),
        (
            RuleInput {
                package: Some(PackageScope::parse("openssl")),
                ..input("CVE-2026-1234")
            },
            image(&prod_api, &v2),
            &curl,
            false,
        ),
        (
            RuleInput {
                package: Some(PackageScope::parse("openssl@3.0.2")),
                ..input("CVE-2026-1234")
            },
            image(&prod_api, &v2),
            &openssl,
            true,
        ),
        (
            RuleInput {
                package: Some(PackageScope::parse("openssl@3.0.2")),
                ..input("CVE-2026-1234")
            },
            image(&prod_api, &v2),
            &openssl_new,
            false,
        ),
    ];
    for (index, (input, image, finding, covered)) in cases.into_iter().enumerate() {
        let rule = rule(input);
        assert_eq!(
            rule.covers(&image, finding),
            covered,
            "case {index}: {}",
            rule.scope.describe()
        );
    }
}

#[test]
fn a_rule_applies_until_its_expiry_and_not_at_it() {
    let expires = at(100);
    let rule = SuppressionSpec::new(
        RuleInput {
            expires: Some(Expiry::At(expires)),
            ..input("CVE-2026-1234")
        },
        at(0),
    )
    .unwrap()
    .create();
    let ubuntu = repository("test/ubuntu");
    let found = finding("CVE-2026-1234", "apt", "1");
    let judged_at = |now| {
        Suppressions::active_at([rule.clone()], now)
            .rule_for(&image(&ubuntu, &[]), &found)
            .is_some()
    };
    assert!(judged_at(at(99)));
    assert!(!judged_at(at(100)), "at its expiry it no longer applies");
    assert!(!judged_at(at(101)));
    assert!(Expiry::Never.is_after(at(1_000_000_000)));
    assert_eq!(
        Expiry::parse("2027-01-31"),
        Some(Expiry::At(
            Utc.with_ymd_and_hms(2027, 1, 31, 0, 0, 0).unwrap()
        ))
    );
}

#[test]
fn the_most_specific_then_longest_lasting_then_oldest_rule_wins() {
    let ubuntu = repository("test/ubuntu");
    let found = finding("CVE-2026-1234", "openssl", "3.0.2");
    let broad = rule(input("CVE-2026-1234"));
    let by_package = rule(RuleInput {
        package: Some(PackageScope::parse("openssl")),
        ..input("CVE-2026-1234")
    });
    let by_version = rule(RuleInput {
        package: Some(PackageScope::parse("openssl@3.0.2")),
        expires: Some(Expiry::At(at(50))),
        ..input("CVE-2026-1234")
    });
    let rules = Suppressions::active_at(
        [broad.clone(), by_package.clone(), by_version.clone()],
        at(1),
    );
    assert_eq!(
        rules.rule_for(&image(&ubuntu, &[]), &found).unwrap().id,
        by_version.id
    );
    let rules = Suppressions::active_at([broad.clone(), by_package.clone(), by_version], at(60));
    assert_eq!(
        rules.rule_for(&image(&ubuntu, &[]), &found).unwrap().id,
        by_package.id
    );
    let mut short = rule(RuleInput {
        package: Some(PackageScope::parse("openssl")),
        expires: Some(Expiry::At(at(500))),
        ..input("CVE-2026-1234")
    });
    short.created = at(-100);
    let rules = Suppressions::active_at([short, by_package.clone()], at(1));
    assert_eq!(
        rules.rule_for(&image(&ubuntu, &[]), &found).unwrap().id,
        by_package.id,
        "never outlasts a date"
    );
}

#[test]
fn judging_takes_out_or_marks_and_counts_per_rule() {
    let ubuntu = repository("test/ubuntu");
    let rule = rule(RuleInput {
        package: Some(PackageScope::parse("openssl")),
        ..input("CVE-2026-1234")
    });
    let rules = Suppressions::active_at([rule.clone()], at(1));
    let all = vec![
        finding("CVE-2026-1234", "openssl", "3.0.2"),
        finding("CVE-2026-1234", "curl", "8"),
        finding("CVE-2026-0001", "openssl", "3.0.2"),
    ];
    let mut left = all.clone();
    let judged = rules.judge(&image(&ubuntu, &[]), &mut left, false);
    assert_eq!(left.len(), 2);
    assert_eq!(judged.counts.get(Severity::High), 1);
    assert_eq!(judged.by_rule.get(&rule.id), Some(&1));
    let mut marked = all;
    rules.judge(&image(&ubuntu, &[]), &mut marked, true);
    assert_eq!(marked.len(), 3);
    assert_eq!(marked[0].suppressed.as_ref().unwrap().rule, rule.id);
    assert_eq!(
        marked[0].suppressed.as_ref().unwrap().reason,
        "not reachable"
    );
    assert!(marked[1].suppressed.is_none());
}

#[test]
fn bad_input_names_the_field_and_the_rule() {
    let now = at(0);
    let error = |json: &str| SuppressionSpec::from_json(json.as_bytes(), now).unwrap_err();
    let err = error(r#"{"vulnerability":"CVE-2026-1234","expires":"never"}"#);
    assert_eq!(err.field(), Some("reason"));
    assert!(
        err.to_string()
            .starts_with("rule CVE-2026-1234: invalid reason"),
        "{err}"
    );
    let err = error(r#"{"vulnerability":"CVE-2026-1234","reason":"x"}"#);
    assert_eq!(err.field(), Some("expires"));
    assert!(err.to_string().contains("never said explicitly"), "{err}");
    let err = error(r#"{"vulnerability":"CVE-2026-1234","reason":"x","expires":"2020-01-01"}"#);
    assert!(err.to_string().contains("not in the future"), "{err}");
    let err = error(r#"{"vulnerability":"CVE-2026-1234","reason":"x","expires":"soon"}"#);
    assert_eq!(err.field(), Some("expires"));
    let err = error(
        r#"{"vulnerability":"CVE-2026-1234","reason":"x","expires":"never","repository":"Prod/*"}"#,
    );
    assert_eq!(err.field(), Some("repository"));
    assert!(err.to_string().contains("can never match"), "{err}");
    let err =
        error(r#"{"vulnerability":"CVE-2026-1234","reason":"x","expires":"never","tag":"-x*"}"#);
    assert_eq!(err.field(), Some("tag"));
    let err = error(
        r#"{"vulnerability":"CVE-2026-1234","reason":"x","expires":"never","status":"affected"}"#,
    );
    assert_eq!(err.field(), Some("status"));
    let err = error(
        r#"{"vulnerability":"CVE-2026-1234","reason":"x","expires":"never","justification":"because"}"#,
    );
    assert_eq!(err.field(), Some("justification"));
    let err =
        error(r#"{"vulnerability":"CVE-2026-1234","reason":"x","expires":"never","digest":"abc"}"#);
    assert_eq!(err.field(), Some("digest"));
    let err = error(r#"{"vulnerability":"<script>","reason":"x","expires":"never"}"#);
    assert_eq!(err.field(), Some("vulnerability"));
    let err =
        error(r#"{"vulnerability":"CVE-2026-1234","reason":"x","expires":"never","colour":"red"}"#);
    assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    let err = error(r#"{"vulnerability":"CVE-2026-1234","reason":"   ","expires":"never"}"#);
    assert_eq!(err.field(), Some("reason"));
    let long = format!(
        r#"{{"vulnerability":"CVE-2026-1234","reason":"{}","expires":"never"}}"#,
        "x".repeat(MAX_REASON + 1)
    );
    assert_eq!(error(&long).field(), Some("reason"));
}

#[test]
fn a_rule_round_trips_through_its_json_with_a_package_given_as_text() {
    let spec = SuppressionSpec::from_json(
        br#"{"vulnerability":"CVE-2026-1234","reason":"not reachable","expires":"2027-01-31",
             "repository":"prod/*","tag":"v1.*","package":"openssl@3.0.2","region":"us-west-2",
             "registry":"123456789012","justification":"vulnerable_code_not_in_execute_path",
             "ticket":"https://tickets.example.com/SEC-1","id":"ignored","created":"ignored"}"#,
        at(0),
    )
    .unwrap();
    let rule = spec.create();
    let read = Suppression::from_stored_json(&rule.to_json()).unwrap();
    assert_eq!(read, rule);
    assert_eq!(
        rule.scope.package,
        Some(PackageScope {
            name: "openssl".into(),
            version: Some("3.0.2".into())
        })
    );
    assert_eq!(rule.scope.specificity(), 6);
    let json: serde_json::Value = serde_json::from_slice(&rule.to_json()).unwrap();
    assert_eq!(json["expires"], "2027-01-31T00:00:00Z");
    assert_eq!(json["package"]["name"], "openssl");
    assert_eq!(json["status"], "not_affected");
}

#[test]
fn stale_rules_are_called_out() {
    let active = rule(RuleInput {
        expires: Some(Expiry::At(at(30 * 86_400))),
        ..input("CVE-2026-0001")
    });
    let soon = rule(RuleInput {
        expires: Some(Expiry::At(at(3 * 86_400))),
        ..input("CVE-2026-0002")
    });
    let expired = rule(RuleInput {
        expires: Some(Expiry::At(at(10))),
        ..input("CVE-2026-0003")
    });
    let unused = rule(input("CVE-2026-0004"));
    let mut matched = BTreeMap::new();
    matched.insert(active.id, 2);
    matched.insert(soon.id, 1);
    let warnings = stale_rules(
        &[active, soon.clone(), expired.clone(), unused.clone()],
        &matched,
        at(100),
    );
    let kinds: Vec<(Uuid, Staleness)> = warnings.iter().map(|w| (w.rule, w.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (expired.id, Staleness::Expired),
            (soon.id, Staleness::ExpiresSoon),
            (unused.id, Staleness::MatchedNothing)
        ]
    );
    assert!(
        warnings[0].message.contains("expired"),
        "{}",
        warnings[0].message
    );
}
