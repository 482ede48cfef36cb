//! Embedding ecrscan-core: register configs in a store, re-scan their
//! images through a `ScanBackend`, and render the summary and a feed.
//!
//! This backend is a hand-written in-memory registry, so the example runs
//! anywhere: `cargo run -p ecrscan-core --example embed`. In production,
//! use `ecrscan_core::EcrBackend` and `ecrscan_core::S3Store` instead.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use ecrscan_core::render::{FeedOptions, write_atom_feed, write_text_summary};
use ecrscan_core::{
    Account, BackendError, ConfigSpec, ConfigStore, DigestScan, Finding, Image, LatestScan,
    MemoryStore, RepositoryRef, Resolution, ScanBackend, ScanConfig, ScanOptions, ScanStatus,
    Severity, SeverityCounts, collect_results, collect_summary, rescan,
};

/// A registry in memory: repository → tag → digest, and the findings a scan reveals.
struct FakeRegistry {
    tags: BTreeMap<String, BTreeMap<String, String>>,
    findings: BTreeMap<String, Vec<Finding>>,
    scanned: Mutex<Vec<String>>,
}

#[async_trait]
impl ScanBackend for FakeRegistry {
    /// One registry: every repository, whatever the account and region.
    async fn list_repositories(&self, _: &str, _: &str) -> Result<Vec<String>, BackendError> {
        Ok(self.tags.keys().cloned().collect())
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, BackendError> {
        Err(BackendError::Other {
            action: "organizations:ListAccounts".into(),
            code: None,
            message: "this registry belongs to no organization".into(),
        })
    }

    async fn resolve_images(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Resolution, BackendError> {
        let known = self.tags.get(&repository.repository).ok_or_else(|| {
            BackendError::RepositoryNotFound {
                repository: repository.clone(),
            }
        })?;
        let mut by_digest: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut missing_tags = Vec::new();
        let wanted: Vec<&String> = if tags.is_empty() {
            known.keys().collect()
        } else {
            tags.iter().collect()
        };
        for tag in wanted {
            match known.get(tag) {
                Some(digest) => by_digest.entry(digest).or_default().push(tag.clone()),
                None => missing_tags.push(tag.clone()),
            }
        }
        let images = by_digest
            .into_iter()
            .map(|(digest, tags)| Image {
                digest: digest.to_owned(),
                tags,
                ..Image::default()
            })
            .collect();
        Ok(Resolution {
            images,
            missing_tags,
        })
    }

    async fn start_scan(&self, _: &RepositoryRef, digest: &str) -> Result<(), BackendError> {
        let mut scanned = self.scanned.lock().expect("not poisoned");
        if scanned.iter().any(|d| d == digest) {
            return Err(BackendError::ScanQuotaExceeded);
        }
        scanned.push(digest.to_owned());
        Ok(())
    }

    async fn scan_result(
        &self,
        _: &RepositoryRef,
        digest: &str,
    ) -> Result<LatestScan, BackendError> {
        if !self
            .scanned
            .lock()
            .expect("not poisoned")
            .iter()
            .any(|d| d == digest)
        {
            return Ok(DigestScan::without_findings(ScanStatus::NotScanned, None).into());
        }
        let findings = self.findings.get(digest).cloned().unwrap_or_default();
        Ok(DigestScan {
            status: ScanStatus::Complete,
            status_description: None,
            scan_completed_at: Some(Utc::now()),
            vulnerability_source_updated_at: None,
            severity_counts: findings
                .iter()
                .map(|f| (f.severity, 1))
                .collect::<SeverityCounts>(),
            findings,
        }
        .into())
    }
}

fn finding(name: &str, severity: Severity, package: &str, description: &str) -> Finding {
    let mut finding = Finding::new(name, severity);
    finding.package_name = Some(package.into());
    finding.description = Some(description.into());
    finding.uri = Some(format!(
        "https://security-tracker.debian.org/tracker/{name}"
    ));
    finding
}

fn registry() -> FakeRegistry {
    FakeRegistry {
        tags: BTreeMap::from([(
            "test/ubuntu".to_owned(),
            BTreeMap::from([
                ("16.04".to_owned(), "sha256:aaaa".to_owned()),
                ("latest".to_owned(), "sha256:aaaa".to_owned()),
            ]),
        )]),
        findings: BTreeMap::from([(
            "sha256:aaaa".to_owned(),
            vec![
                finding(
                    "CVE-2016-2779",
                    Severity::High,
                    "util-linux",
                    "runuser allows escaping to the parent session.",
                ),
                finding(
                    "CVE-2019-5188",
                    Severity::Medium,
                    "e2fsprogs",
                    "Code execution in e2fsck directory rehashing.",
                ),
            ],
        )]),
        scanned: Mutex::new(Vec::new()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = registry();
    let store: Arc<dyn ConfigStore> = Arc::new(MemoryStore::new());
    let spec = ConfigSpec::from_json(
        br#"{"region":"us-west-2","registry":"123456789012","repository":"test/ubuntu","tags":["16.04","latest"]}"#,
    )?;
    let config = ScanConfig::create(spec, Utc::now());
    store.put(&config).await?;

    let configs = store.list().await?.items;
    let options = ScanOptions::default();
    let report = rescan(&configs, &backend, &options).await;
    for image in &report.images {
        println!(
            "{}:{} {}",
            image.repository,
            image.tag.as_deref().unwrap_or("*"),
            image.outcome
        );
    }

    let summary = collect_summary(
        &configs,
        &backend,
        &options,
        &ecrscan_core::Suppressions::none(),
    )
    .await;
    let mut stdout = std::io::stdout().lock();
    write_text_summary(&summary, &mut stdout)?;

    let results = collect_results(
        &config,
        &backend,
        &options,
        &ecrscan_core::Suppressions::none(),
        ecrscan_core::scan::SuppressedFindings::Hidden,
    )
    .await;
    write_atom_feed(
        &config,
        &results,
        Utc::now(),
        &FeedOptions::default(),
        &mut stdout,
    )?;
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use ecrscan_core::conformance::{BackendFixture, backend_conforms};

    use super::*;

    #[tokio::test]
    async fn the_example_backend_conforms() {
        let repository = RepositoryRef::new("us-west-2", "123456789012", "test/ubuntu").unwrap();
        let fixture = BackendFixture {
            missing_repository: RepositoryRef {
                repository: "test/missing".into(),
                ..repository.clone()
            },
            repository,
            images: vec![("sha256:aaaa".into(), vec!["16.04".into(), "latest".into()])],
            untagged: None,
            unscanned: Some("sha256:aaaa".into()),
        };
        backend_conforms(&registry(), &fixture).await;
    }
}
