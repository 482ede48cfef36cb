//! OpenVEX exports checked by an independent implementation: the OpenVEX
//! JSON schema (vendored from openvex/spec) through python-jsonschema.

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use ecrscan_core::suppress::vex::{export, import};
use ecrscan_core::suppress::{Expiry, PackageScope, RuleInput, SuppressionSpec};

/// Runs tests/support/check_openvex.py on `documents`; whether each passed.
fn schema_check(documents: &[(&str, &serde_json::Value)]) -> Option<Vec<(bool, String)>> {
    let python = ecrscan_core::testing::test_python()?;
    let dir = tempfile::tempdir().unwrap();
    Some(
        documents
            .iter()
            .map(|(name, document)| {
                let path = dir.path().join(name);
                std::fs::write(&path, serde_json::to_vec_pretty(document).unwrap()).unwrap();
                let output = std::process::Command::new(&python)
                    .arg(
                        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                            .join("tests/support/check_openvex.py"),
                    )
                    .arg(&path)
                    .output()
                    .expect("run the OpenVEX checker");
                (
                    output.status.success(),
                    String::from_utf8_lossy(&output.stderr).into_owned(),
                )
            })
            .collect(),
    )
}

#[test]
fn exports_are_valid_openvex_and_the_checker_refuses_what_is_not() {
    let now = Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap();
    let fixture = |name: &str| {
        std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/vex")
                .join(name),
        )
        .unwrap()
    };
    let mut rules = import(&fixture("trivy.openvex.json"), Expiry::Never, now)
        .unwrap()
        .rules;
    rules.extend(
        import(&fixture("grype.openvex.json"), Expiry::Never, now)
            .unwrap()
            .rules,
    );
    let native = |input: RuleInput| {
        SuppressionSpec::new(
            RuleInput {
                reason: Some("not reachable: <b>\"quoted\"</b> & more".into()),
                expires: Some(Expiry::At(
                    Utc.with_ymd_and_hms(2027, 1, 31, 0, 0, 0).unwrap(),
                )),
                ..input
            },
            now,
        )
        .unwrap()
        .create()
    };
    rules.push(native(RuleInput {
        vulnerability: "GHSA-abcd-efgh-ijkl".into(),
        ..RuleInput::default()
    }));
    rules.push(native(RuleInput {
        vulnerability: "ALAS-2026-1234".into(),
        registry: Some("123456789012".into()),
        region: Some("cn-north-1".into()),
        repository: Some("team/app".into()),
        tag: Some("v1.4.2".into()),
        package: Some(PackageScope::parse("@scope/name@1.0.0")),
        justification: Some("vulnerable_code_cannot_be_controlled_by_adversary".into()),
        ..RuleInput::default()
    }));
    let (document, left_out) = export(&rules, "ecrscan tests", now);
    assert!(left_out.is_empty(), "{left_out:?}");
    assert_eq!(
        document["statements"].as_array().unwrap().len(),
        rules.len()
    );
    let mut invalid = document.clone();
    invalid["statements"][0]["vulnerability"] = serde_json::json!("CVE-2026-1234");
    let Some(results) = schema_check(&[("export.json", &document), ("invalid.json", &invalid)])
    else {
        return;
    };
    assert!(
        results[0].0,
        "the export breaks the schema: {}",
        results[0].1
    );
    assert!(
        !results[1].0,
        "the checker accepted a v0.0.1 string vulnerability"
    );
}
