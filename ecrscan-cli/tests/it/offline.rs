//! Commands that need no AWS: configs, usage errors, completions, help, pipes.

use std::io::{BufRead, BufReader};
use std::process::{Command as StdCommand, Stdio};

use serde_json::json;

use super::fixtures::*;

#[test]
fn configs_add_list_show_rm() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("configs");
    let file = dir.path().join("scan-config-ubuntu.json");
    std::fs::write(&file, UBUNTU).unwrap();

    let added = run(ecrscan(&store).args(["configs", "add"]).arg(&file));
    assert_eq!(added.code, 0, "{}", added.stderr);
    assert!(added.stderr.is_empty(), "{}", added.stderr);
    let ubuntu_id = added.stdout.trim().to_owned();
    assert!(
        uuid::Uuid::parse_str(&ubuntu_id).is_ok(),
        "stdout is the id alone: {:?}",
        added.stdout
    );

    let flags = run(ecrscan(&store).args([
        "configs",
        "add",
        "--region",
        "eu-central-1",
        "--registry",
        "123456789012",
        "--repository",
        "test/centos",
        "--tag",
        "7",
    ]));
    assert_eq!(flags.code, 0, "{}", flags.stderr);
    let stdin = run(ecrscan(&store)
        .args(["configs", "add", "-"])
        .write_stdin(r#"{"region":"us-west-2","registry":"123456789012","repository":"amazonlinux","tags":null}"#));
    assert_eq!(stdin.code, 0, "{}", stdin.stderr);

    let listed = run(ecrscan(&store).args(["configs", "list", "-o", "json"]));
    assert_eq!(listed.code, 0);
    let configs: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(configs.as_array().unwrap().len(), 3);
    assert!(
        configs
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["created"].is_string())
    );

    let table = run(ecrscan(&store).args(["configs", "list"]));
    assert_eq!(table.code, 0);
    assert!(table.stdout.starts_with("ID  "), "{}", table.stdout);
    assert_eq!(table.stdout.lines().count(), 4);
    assert!(
        !table.stdout.contains('\u{1b}'),
        "no colour when not a terminal"
    );

    let shown = run(ecrscan(&store).args(["configs", "show", &ubuntu_id]));
    assert_eq!(shown.code, 0);
    let config: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(config["tags"], json!(["16.04", "latest"]));

    let removed = run(ecrscan(&store).args(["configs", "rm", &ubuntu_id]));
    assert_eq!(removed.code, 0);
    assert!(removed.stdout.is_empty());
    let again = run(ecrscan(&store).args(["configs", "rm", &ubuntu_id]));
    assert_eq!(again.code, 2);
    assert!(again.stdout.is_empty());
    assert_eq!(
        again.stderr,
        format!("error: no scan config with id {ubuntu_id}\n")
    );
}

#[test]
fn configs_list_golden() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path();
    for (id, created, repository, tags) in [
        (
            "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
            "1569927812",
            "amazonlinux",
            "null",
        ),
        (
            "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "1569927900",
            "test/ubuntu",
            r#"["16.04","latest"]"#,
        ),
        (
            "0f4e1d2c-3b4a-4958-8776-655443322110",
            "1569928000",
            "test/centos",
            r#"["7"]"#,
        ),
    ] {
        std::fs::write(
            store.join(format!("{id}.json")),
            format!(r#"{{"id":"{id}","created":"{created}","region":"us-west-2","registry":"123456789012","repository":"{repository}","tags":{tags}}}"#),
        )
        .unwrap();
    }
    let table = run(ecrscan(store).args(["configs", "list"]));
    assert_eq!(table.code, 0);
    golden("configs-list.txt", &table.stdout);
    let json = run(ecrscan(store).args(["configs", "list", "-o", "json"]));
    golden("configs-list.json", &json.stdout);
}

#[test]
fn invalid_input_exits_2_with_one_error_line_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("configs");
    let good = dir.path().join("good.json");
    let bad = dir.path().join("bad.json");
    std::fs::write(&good, UBUNTU).unwrap();
    std::fs::write(
        &bad,
        r#"{"region":"us-west-2","registry":"123456789012","repository":"Test/Ubuntu"}"#,
    )
    .unwrap();

    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "configs".into(),
                "add".into(),
                good.display().to_string(),
                bad.display().to_string(),
            ],
            "invalid repository",
        ),
        (
            vec![
                "configs".into(),
                "add".into(),
                dir.path().join("missing.json").display().to_string(),
            ],
            "cannot read",
        ),
        (vec!["configs".into(), "add".into()], "nothing to add"),
        (
            vec!["configs".into(), "show".into(), "../../etc/passwd".into()],
            "a config id is a UUID",
        ),
        (
            vec![
                "configs".into(),
                "show".into(),
                "6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a".into(),
            ],
            "no scan config with id",
        ),
        (
            vec![
                "findings".into(),
                "6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a".into(),
                "--min-severity".into(),
                "SEVERE".into(),
            ],
            "unknown severity",
        ),
        (
            vec!["summary".into(), "--wait".into(), "soon".into()],
            "invalid value",
        ),
        (
            vec![
                "--store".into(),
                "s3://Bad_Bucket".into(),
                "configs".into(),
                "list".into(),
            ],
            "invalid store location",
        ),
        (vec!["frobnicate".into()], "unrecognized subcommand"),
    ];
    for (args, expected) in cases {
        let result = run(ecrscan(&store).args(&args));
        assert_eq!(result.code, 2, "{args:?}: {}", result.stderr);
        assert!(result.stdout.is_empty(), "{args:?}: {}", result.stdout);
        let first = result.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error:"), "{args:?}: {}", result.stderr);
        assert!(
            result.stderr.contains(expected),
            "{args:?}: {}",
            result.stderr
        );
        assert!(!result.stderr.contains("panicked"), "{args:?}");
    }
    let listed = run(ecrscan(&store).args(["configs", "list", "-o", "json"]));
    assert_eq!(
        listed.stdout.trim(),
        "[]",
        "an invalid file among valid ones stores nothing"
    );
}

#[test]
fn completions_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let result = run(ecrscan(dir.path()).args(["completions", shell]));
        assert_eq!(result.code, 0, "{shell}");
        assert!(result.stdout.contains("ecrscan"), "{shell}");
        assert!(result.stdout.contains("summary"), "{shell}");
    }
}

#[test]
fn help_documents_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let result = run(ecrscan(dir.path()).arg("--help"));
    assert_eq!(result.code, 0);
    assert!(result.stdout.contains("3  findings at or above --fail-on"));
    for command in ["configs add", "scan", "summary", "findings"] {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push("--help");
        let help = run(ecrscan(dir.path()).args(&args));
        assert_eq!(help.code, 0, "{command}");
        assert!(help.stdout.contains("Example"), "{command} has examples");
    }
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..1500 {
        let id = uuid::Uuid::from_u128(0x4000_8000_0000_0000_0000 + i);
        std::fs::write(
            dir.path().join(format!("{id}.json")),
            format!(r#"{{"id":"{id}","created":"{i}","region":"us-west-2","registry":"123456789012","repository":"repo/number-{i}","tags":["a","b","c"]}}"#),
        )
        .unwrap();
    }
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("ecrscan"))
        .args(["configs", "list"])
        .env("ECRSCAN_STORE", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here: like `ecrscan configs list | head -1`.
    let output = child.wait_with_output().unwrap();
    assert!(first.starts_with("ID"));
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn an_invalid_history_setting_is_a_usage_error_not_the_default() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["0", "abc", "101", ""] {
        let result = run(ecrscan(dir.path())
            .env("ECRSCAN_RESULT_HISTORY", bad)
            .args(["configs", "list"]));
        assert_eq!(result.code, 2, "{bad:?}: {}", result.stderr);
        assert!(
            result.stderr.contains("ECRSCAN_RESULT_HISTORY")
                && result.stderr.contains("from 1 to 100"),
            "{}",
            result.stderr
        );
    }
    for (name, bad) in [
        ("ECRSCAN_CALLS_PER_SECOND", "0"),
        ("ECRSCAN_CALLS_PER_SECOND", "abc"),
        ("ECRSCAN_CONCURRENCY", "0"),
        ("ECRSCAN_CONCURRENCY", "2000"),
    ] {
        let result = run(ecrscan(dir.path()).env(name, bad).args(["configs", "list"]));
        assert_eq!(result.code, 2, "{name}={bad}: {}", result.stderr);
        assert!(
            result.stderr.contains(bad) && result.stderr.contains("whole number from 1 to"),
            "{name}={bad}: {}",
            result.stderr
        );
    }
    let result = run(ecrscan(dir.path())
        .env("ECRSCAN_RESULT_HISTORY", "5")
        .args(["configs", "list"]));
    assert_eq!(result.code, 0, "{}", result.stderr);
}
