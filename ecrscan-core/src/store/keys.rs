//! The keys of records, built only from checked parts, so no key can leave
//! its directory or collide with another record's.

use crate::config::RepositoryRef;

use super::{RecordKind, StoreError};

/// The key of a config: `<id>.json` at the store's root.
pub fn config_key(id: uuid::Uuid) -> String {
    format!("{id}.json")
}

/// Where every record of a repository lives:
/// `results/REGION/REGISTRY/REPOSITORY/`, for checked parts only.
fn repository_dir(repository: &RepositoryRef, kind: RecordKind) -> Result<String, StoreError> {
    repository
        .validate()
        .map_err(|err| StoreError::InvalidKey {
            kind,
            message: err.to_string(),
        })?;
    Ok(format!(
        "results/{}/{}/{}/",
        repository.region, repository.registry, repository.repository
    ))
}

/// The key of a change: `changes/<id>.json`.
pub fn change_key(id: uuid::Uuid) -> String {
    format!("changes/{id}.json")
}

pub use crate::config::is_digest;

/// The key of a digest's record:
/// `results/REGION/REGISTRY/REPOSITORY/@digests/ALGORITHM-HEX.json`.
pub fn digest_key(repository: &RepositoryRef, digest: &str) -> Result<String, StoreError> {
    let dir = repository_dir(repository, RecordKind::ScanResult)?;
    if !is_digest(digest) {
        return Err(StoreError::InvalidKey {
            kind: RecordKind::ScanResult,
            message: format!(
                "{:?} is not an image digest (algorithm:hex)",
                digest.chars().take(80).collect::<String>()
            ),
        });
    }
    Ok(format!(
        "{dir}@digests/{}.json",
        digest.replacen(':', "-", 1)
    ))
}

/// The key of a repository's tag record: `results/REGION/REGISTRY/REPOSITORY/@tags.json`.
pub fn tags_key(repository: &RepositoryRef) -> Result<String, StoreError> {
    Ok(format!(
        "{}@tags.json",
        repository_dir(repository, RecordKind::Tags)?
    ))
}

/// The name of a selection of tags, the same whatever their order: `all`
/// for every tagged image, else `tags-<UUID v5 of the sorted tags>`.
pub fn selection_name(tags: &[String]) -> String {
    if tags.is_empty() {
        return "all".to_owned();
    }
    let mut sorted: Vec<&str> = tags.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let namespace = uuid::Uuid::from_u128(0x6d7a_1b3c_44e1_4c0b_9a55_3f1f_0b0e_0002);
    format!(
        "tags-{}",
        uuid::Uuid::new_v5(&namespace, sorted.join("\n").as_bytes())
    )
}

/// The key of a resolution record:
/// `results/REGION/REGISTRY/REPOSITORY/@images/SELECTION.json`, named by
/// [`selection_name`].
pub fn resolution_key(repository: &RepositoryRef, tags: &[String]) -> Result<String, StoreError> {
    let dir = repository_dir(repository, RecordKind::Resolution)?;
    Ok(format!("{dir}@images/{}.json", selection_name(tags)))
}

/// The key of a repository's rollup: `results/REGION/REGISTRY/REPOSITORY/@rollup.json`.
pub fn rollup_key(repository: &RepositoryRef) -> Result<String, StoreError> {
    Ok(format!(
        "{}@rollup.json",
        repository_dir(repository, RecordKind::Rollup)?
    ))
}

/// The key of a registry's recorded repositories:
/// `results/REGION/REGISTRY/@repositories.json` (`@` is in no repository
/// name, so no repository's directory is named so).
pub fn repositories_key(registry: &str, region: &str) -> Result<String, StoreError> {
    crate::config::validate_region(region)
        .and_then(|()| crate::config::validate_registry(registry))
        .map_err(|err| StoreError::InvalidKey {
            kind: RecordKind::Repositories,
            message: err.to_string(),
        })?;
    Ok(format!("results/{region}/{registry}/@repositories.json"))
}

/// The key of the recorded accounts of the caller's organization:
/// `results/@accounts.json`.
pub fn accounts_key() -> String {
    "results/@accounts.json".to_owned()
}

/// The key of a repository's finding index: `results/REGION/REGISTRY/REPOSITORY/@findings.json`.
pub fn findings_key(repository: &RepositoryRef) -> Result<String, StoreError> {
    Ok(format!(
        "{}@findings.json",
        repository_dir(repository, RecordKind::FindingIndex)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repository() -> RepositoryRef {
        RepositoryRef {
            region: "us-west-2".into(),
            registry: "123456789012".into(),
            repository: "test/ubuntu".into(),
        }
    }

    #[test]
    fn keys_stay_inside_their_directory() {
        assert_eq!(
            digest_key(&repository(), "sha256:ab12").unwrap(),
            "results/us-west-2/123456789012/test/ubuntu/@digests/sha256-ab12.json"
        );
        for bad in [
            "",
            "sha256",
            "sha256:",
            "../x:ab",
            "sha256:ab/../../c",
            "SHA256:ab",
            "sha256:xyz",
        ] {
            assert!(digest_key(&repository(), bad).is_err(), "{bad}");
        }
        let a = resolution_key(&repository(), &["b".into(), "a".into()]).unwrap();
        assert_eq!(
            a,
            resolution_key(&repository(), &["a".into(), "b".into()]).unwrap()
        );
        assert!(
            resolution_key(&repository(), &[])
                .unwrap()
                .ends_with("/@images/all.json")
        );
    }

    #[test]
    fn unchecked_repository_parts_are_refused() {
        for (region, registry, name) in [
            ("..", "123456789012", "test/ubuntu"),
            ("us-west-2", "../../etc", "test/ubuntu"),
            ("us-west-2", "123456789012", "../../../etc"),
            ("us-west-2", "123456789012", "x/@digests"),
            ("us-west-2", "123456789012", "a//b"),
        ] {
            let repository = RepositoryRef {
                region: region.into(),
                registry: registry.into(),
                repository: name.into(),
            };
            assert!(
                matches!(
                    digest_key(&repository, "sha256:ab"),
                    Err(StoreError::InvalidKey { .. })
                ),
                "{repository:?}"
            );
            assert!(tags_key(&repository).is_err());
            assert!(resolution_key(&repository, &[]).is_err());
            assert!(rollup_key(&repository).is_err());
        }
    }

    #[test]
    fn a_repository_named_like_a_record_does_not_collide() {
        // `xy/all.json` is a valid ECR name; its records live in its own
        // directory, and no record of `xy` is named `all.json` below `xy/`.
        let x = RepositoryRef {
            repository: "xy".into(),
            ..repository()
        };
        let tricky = RepositoryRef {
            repository: "xy/all.json".into(),
            ..repository()
        };
        let mut keys = vec![
            resolution_key(&x, &[]).unwrap(),
            tags_key(&x).unwrap(),
            digest_key(&x, "sha256:ab").unwrap(),
            rollup_key(&x).unwrap(),
            findings_key(&x).unwrap(),
        ];
        for key in [
            resolution_key(&tricky, &[]).unwrap(),
            tags_key(&tricky).unwrap(),
            digest_key(&tricky, "sha256:ab").unwrap(),
            rollup_key(&tricky).unwrap(),
            findings_key(&tricky).unwrap(),
        ] {
            for other in &keys {
                assert!(
                    !other.starts_with(&format!("{key}/"))
                        && !key.starts_with(&format!("{other}/")),
                    "{key} and {other}: one is a directory of the other"
                );
            }
            keys.push(key);
        }
    }
}
