//! Logs at every level never carry credentials or signatures.

use ecrscan_core::testing::MotoServer;

use super::fixtures::*;

#[tokio::test]
async fn logs_never_contain_credentials_or_signatures() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_repository("test/ubuntu").await;
    moto.push_image("test/ubuntu", "u", &["16.04"]).await;
    moto.create_bucket("secrets-test").await;
    let key_id = "AKIAECRSCANLOGTEST01";
    let secret = "ecrscan/log+test/secret/key/do-not-print";
    let token = "ecrscan-session-token-do-not-print";
    let dir = tempfile::tempdir().unwrap();
    for (level, args) in [
        (
            "trace",
            vec![
                "--store",
                "s3://secrets-test",
                "configs",
                "add",
                "--region",
                "us-west-2",
                "--registry",
                "123456789012",
                "--repository",
                "test/ubuntu",
                "--tag",
                "16.04",
            ],
        ),
        ("trace", vec!["--store", "s3://secrets-test", "scan"]),
        (
            "trace",
            vec!["--store", "s3://secrets-test", "summary", "--live"],
        ),
        (
            "debug",
            vec!["--store", "s3://secrets-test", "-vv", "summary"],
        ),
    ] {
        let mut command = ecrscan(dir.path());
        command
            .envs(moto.env())
            .env("AWS_ACCESS_KEY_ID", key_id)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_SESSION_TOKEN", token)
            .env("RUST_LOG", level)
            .args(&args);
        let result = run(&mut command);
        assert!(
            result.code == 0 || result.code == 1,
            "{args:?}: {}",
            result.stderr
        );
        assert!(
            result.stderr.len() > 100,
            "{args:?}: the logs were produced"
        );
        for leak in [
            key_id,
            secret,
            token,
            "Signature=",
            "x-amz-security-token: ",
            "authorization: AWS4",
        ] {
            assert!(!result.stderr.contains(leak), "{args:?} logged {leak:?}");
            assert!(!result.stdout.contains(leak), "{args:?} printed {leak:?}");
        }
    }
}
