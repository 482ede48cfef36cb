use chrono::{TimeZone, Utc};

use super::*;
use crate::suppress::Scope;

const D1: &str = "sha256:4e6c0e5b0f6cd1b1ff2e8b1c7a6f3e86f9a0fdb4c83e0b3a9c7e1f2d3b4a5c6d";
const D2: &str = "sha256:9f2d1c0b8a7e6d5c4b3a29180716253443526170819a2b3c4d5e6f708192a3b4";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap()
}

fn expires() -> Expiry {
    Expiry::At(Utc.with_ymd_and_hms(2027, 3, 31, 0, 0, 0).unwrap())
}

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vex")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn scopes(import: &VexImport) -> Vec<(String, String)> {
    let mut scopes: Vec<(String, String)> = import
        .rules
        .iter()
        .map(|rule| (rule.vulnerability.clone(), rule.scope.describe()))
        .collect();
    scopes.sort();
    scopes
}

#[test]
fn trivy_style_documents_become_rules_with_their_reasons_and_times() {
    let import = import(&fixture("trivy.openvex.json"), expires(), now()).unwrap();
    assert!(import.unmatched.is_empty(), "{:?}", import.unmatched);
    assert_eq!(
        scopes(&import),
        vec![
            (
                "CVE-2026-1234".into(),
                format!(
                    "registry 123456789012 region us-west-2 repository team/app digest {D1} package openssl@3.0.2-0ubuntu1.10"
                )
            ),
            (
                "CVE-2026-2222".into(),
                "registry 123456789012 region us-west-2 repository team/app".into()
            ),
            ("CVE-2026-3333".into(), "package curl".into()),
        ]
    );
    let openssl = import
        .rules
        .iter()
        .find(|rule| rule.vulnerability == "CVE-2026-1234")
        .unwrap();
    assert!(openssl.reason.starts_with("TLS is terminated"));
    assert_eq!(
        openssl.justification,
        Some(Justification::VulnerableCodeNotInExecutePath)
    );
    assert_eq!(openssl.expires, expires());
    assert_eq!(
        openssl.created,
        Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap(),
        "the document's timestamp"
    );
    assert_eq!(
        openssl.source.as_deref(),
        Some("openvex:https://vex.example.com/team/app/2026-11-30")
    );
    let fixed = import
        .rules
        .iter()
        .find(|rule| rule.vulnerability == "CVE-2026-2222")
        .unwrap();
    assert_eq!(fixed.status, VexStatus::Fixed);
    assert!(fixed.reason.starts_with("Patched in our base image"));
    let curl = import
        .rules
        .iter()
        .find(|rule| rule.vulnerability == "CVE-2026-3333")
        .unwrap();
    assert_eq!(
        curl.reason,
        "OpenVEX: not_affected, vulnerable_code_not_present"
    );
    let again = super::import(&fixture("trivy.openvex.json"), expires(), now()).unwrap();
    assert_eq!(
        again.rules.iter().map(|r| r.id).collect::<Vec<_>>(),
        import.rules.iter().map(|r| r.id).collect::<Vec<_>>(),
        "importing again makes the same ids, so it replaces"
    );
}

#[test]
fn grype_style_products_plain_references_and_tags() {
    let import = import(&fixture("grype.openvex.json"), Expiry::Never, now()).unwrap();
    assert!(import.unmatched.is_empty(), "{:?}", import.unmatched);
    assert_eq!(
        scopes(&import),
        vec![
            ("CVE-2026-4444".into(), format!("digest {D1}")),
            (
                "CVE-2026-4444".into(),
                format!("registry 123456789012 region us-west-2 repository team/app digest {D2}")
            ),
            (
                "CVE-2026-4444".into(),
                format!(
                    "registry 123456789012 region us-west-2 repository team/worker digest {D1}"
                )
            ),
            (
                "CVE-2026-5555".into(),
                "registry 123456789012 region eu-west-1 repository team/app tag release-7".into()
            ),
            (
                "CVE-2026-5555".into(),
                "registry 123456789012 region us-west-2 repository team/app tag v1.4.2".into()
            ),
        ]
    );
    let statement_time = Utc.with_ymd_and_hms(2026, 11, 29, 8, 30, 0).unwrap();
    assert!(
        import
            .rules
            .iter()
            .filter(|rule| rule.vulnerability == "CVE-2026-4444")
            .all(|rule| rule.created == statement_time),
        "a statement's own timestamp wins over the document's"
    );
}

#[test]
fn a_later_statement_for_the_same_vulnerability_and_product_overrides_an_earlier_one() {
    let import = import(&fixture("overrides.openvex.json"), expires(), now()).unwrap();
    assert_eq!(
        scopes(&import),
        vec![(
            "CVE-2026-6002".into(),
            "registry 123456789012 region us-west-2 repository team/app".into()
        )],
        "CVE-2026-6001 became affected later; CVE-2026-6002 became not_affected later"
    );
    assert_eq!(
        import.rules[0].reason,
        "Seccomp profile blocks the syscall."
    );
    assert_eq!(import.overridden, 2);
    assert_eq!(import.not_suppressing, 1);
}

#[test]
fn products_that_match_nothing_are_reported_not_guessed() {
    let import = import(&fixture("unmatched.openvex.json"), expires(), now()).unwrap();
    assert!(import.rules.is_empty(), "{:?}", scopes(&import));
    let reasons: Vec<(&str, &str)> = import
        .unmatched
        .iter()
        .map(|u| (u.at.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons[0]
            .1
            .contains("neither a repository_url nor a digest")
    );
    assert!(reasons[1].1.contains("not an Amazon ECR registry"));
    assert!(reasons[2].1.contains("neither an image"));
    assert_eq!(reasons[3].0, "statements[0].products[3].subcomponents[0]");
}

#[test]
fn malformed_documents_get_a_clear_error() {
    let error = |json: &str| {
        import(json.as_bytes(), expires(), now())
            .unwrap_err()
            .to_string()
    };
    let document = |statements: &str| {
        format!(
            r#"{{"@context":"https://openvex.dev/ns/v0.2.0","@id":"urn:x","author":"a","timestamp":"2026-11-30T00:00:00Z","version":1,"statements":{statements}}}"#
        )
    };
    assert!(error("{").starts_with("not JSON"));
    assert!(error("[]").contains("expected a JSON object"));
    assert!(error(r#"{"@id":"x"}"#).contains("@context"));
    assert!(error(&document("{}")).contains("statements: expected a list"));
    assert!(error(&document("[]")).contains("no statement"));
    assert!(
        error(&document(r#"[{"vulnerability":{},"status":"fixed"}]"#))
            .contains("statements[0].vulnerability.name")
    );
    assert!(
        error(&document(
            r#"[{"vulnerability":{"name":"CVE-2026-1"},"status":"ok"}]"#
        ))
        .contains("statements[0].status")
    );
    assert!(
        error(&document(
            r#"[{"vulnerability":{"name":"CVE-2026-1"},"status":"fixed","timestamp":"yesterday"}]"#
        ))
        .contains("statements[0].timestamp")
    );
    assert!(
        error(&document(
            r#"[{"vulnerability":{"name":"<script>"},"status":"fixed"}]"#
        ))
        .contains("invalid vulnerability")
    );
    // The spec's own README example has a trailing comma.
    assert!(error(r#"{"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{"vulnerability": {"name": "CVE-2023-12345",},}]}"#).starts_with("not JSON"));
    let v001 = document(
        r#"[{"vulnerability":"CVE-2026-1","status":"not_affected","justification":"component_not_present"}]"#,
    );
    let import = import(v001.as_bytes(), expires(), now()).unwrap();
    assert_eq!(
        import.rules.len(),
        1,
        "a v0.0.1 string vulnerability is read"
    );
    assert!(
        import.rules[0].scope.is_everywhere(),
        "no products: everywhere"
    );
}

#[test]
fn huge_documents_are_refused_before_work_is_done() {
    let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
    assert!(matches!(
        import(&big, expires(), now()),
        Err(VexError::TooLarge { .. })
    ));
    let statement = r#"{"vulnerability":{"name":"CVE-2026-1"},"status":"fixed"}"#;
    let many = vec![statement; MAX_STATEMENTS + 1].join(",");
    let document = format!(
        r#"{{"@context":"https://openvex.dev/ns/v0.2.0","@id":"urn:x","author":"a","timestamp":"2026-11-30T00:00:00Z","version":1,"statements":[{many}]}}"#
    );
    assert!(document.len() < MAX_DOCUMENT_BYTES);
    let err = import(document.as_bytes(), expires(), now()).unwrap_err();
    assert!(matches!(err, VexError::TooMany { .. }), "{err}");
}

#[test]
fn exported_rules_import_back_as_the_same_rules() {
    let mut rules = import(&fixture("trivy.openvex.json"), expires(), now())
        .unwrap()
        .rules;
    rules.extend(
        import(&fixture("grype.openvex.json"), expires(), now())
            .unwrap()
            .rules,
    );
    let (document, left_out) = export(&rules, "ecrscan test", now());
    assert!(left_out.is_empty(), "{left_out:?}");
    let back = import(&serde_json::to_vec(&document).unwrap(), expires(), now()).unwrap();
    assert!(back.unmatched.is_empty(), "{:?}", back.unmatched);
    let essence = |rules: &[Suppression]| {
        let mut essence: Vec<(
            String,
            Scope,
            String,
            Expiry,
            VexStatus,
            Option<Justification>,
        )> = rules
            .iter()
            .map(|rule| {
                (
                    rule.vulnerability.clone(),
                    rule.scope.clone(),
                    rule.reason.clone(),
                    rule.expires,
                    rule.status,
                    rule.justification,
                )
            })
            .collect();
        essence.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        essence
    };
    assert_eq!(essence(&back.rules), essence(&rules));
}

#[test]
fn rules_openvex_cannot_say_are_left_out_with_a_reason() {
    let rule = |input: RuleInput| {
        SuppressionSpec::new(
            RuleInput {
                reason: Some("r".into()),
                expires: Some(Expiry::Never),
                ..input
            },
            now(),
        )
        .unwrap()
        .create()
    };
    let wildcard = rule(RuleInput {
        vulnerability: "CVE-2026-1".into(),
        repository: Some("prod/*".into()),
        ..RuleInput::default()
    });
    let region_only = rule(RuleInput {
        vulnerability: "CVE-2026-2".into(),
        region: Some("us-west-2".into()),
        ..RuleInput::default()
    });
    let everywhere = rule(RuleInput {
        vulnerability: "CVE-2026-3".into(),
        ..RuleInput::default()
    });
    let (document, left_out) = export(
        &[wildcard.clone(), region_only.clone(), everywhere],
        "x",
        now(),
    );
    let mut ids: Vec<Uuid> = left_out.iter().map(|n| n.rule).collect();
    ids.sort();
    let mut expected = vec![wildcard.id, region_only.id];
    expected.sort();
    assert_eq!(ids, expected);
    let reason_of = |id| {
        left_out
            .iter()
            .find(|n| n.rule == id)
            .map(|n| n.reason.clone())
            .unwrap_or_default()
    };
    assert!(reason_of(wildcard.id).contains("no wildcards"));
    assert!(reason_of(region_only.id).contains("alone"));
    assert_eq!(document["statements"].as_array().unwrap().len(), 1);
    assert_eq!(document["@context"], CONTEXT);
}
