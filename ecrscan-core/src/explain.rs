//! What a config selects right now, and why: the accounts, repositories and
//! images it takes, each with the clause that took it, and what it leaves
//! out and why — a dry run of the plan, which starts and records nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::backend::ScanBackend;
use crate::config::{RepositoryRef, ScanConfig};
use crate::select::{Chosen, ImageSelector, LeftOut, select};

/// An account of an organization, taken or left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountExplained {
    /// The account ID.
    pub id: String,
    /// Its name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Why it was left out (`suspended or closing`, `excluded`); `None`:
    /// taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_out: Option<String>,
}

/// A repository a config takes or leaves out, and, taken, its images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepositoryExplained {
    /// The account.
    pub registry: String,
    /// The region.
    pub region: String,
    /// The repository (or, where listing failed, the config's pattern).
    pub repository: String,
    /// Why it was taken (`the config's repository`, `matches prod/*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken: Option<String>,
    /// Why it was left out (`excluded by prod/legacy-*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_out: Option<String>,
    /// Why it (or its account's repositories) could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The images taken, each with the clauses that took it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Chosen>,
    /// The images left out, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images_left_out: Vec<LeftOut>,
    /// Listed tags no image has.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_tags: Vec<String>,
}

/// What [`explain`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The config.
    pub config_id: Uuid,
    /// When it was judged (recency clauses count from then).
    pub at: DateTime<Utc>,
    /// For an organization: its accounts, taken or left out; why they
    /// could not be listed otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<AccountExplained>,
    /// Why the organization's accounts could not be listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts_error: Option<String>,
    /// The repositories, taken and left out, by account, region and name.
    pub repositories: Vec<RepositoryExplained>,
}

impl Explanation {
    /// How many images the config takes.
    pub fn images(&self) -> usize {
        self.repositories.iter().map(|r| r.images.len()).sum()
    }
}

/// What `config` selects at `now` through `backend` — listings and
/// resolutions only: nothing is started, and with a backend that records
/// nothing (ECR itself), nothing is recorded.
pub async fn explain(
    config: &ScanConfig,
    backend: &dyn ScanBackend,
    now: DateTime<Utc>,
) -> Explanation {
    let mut explanation = Explanation {
        config_id: config.id,
        at: now,
        accounts: Vec::new(),
        accounts_error: None,
        repositories: Vec::new(),
    };
    let accounts: Vec<String> = if config.is_organization() {
        match backend.list_accounts().await {
            Ok(accounts) => {
                let mut taken = Vec::new();
                for account in accounts {
                    let left_out = if !account.active {
                        Some("suspended or closing".to_owned())
                    } else if !config.takes_account(&account.id) {
                        Some("excluded".to_owned())
                    } else {
                        taken.push(account.id.clone());
                        None
                    };
                    explanation.accounts.push(AccountExplained {
                        id: account.id,
                        name: account.name,
                        left_out,
                    });
                }
                taken
            }
            Err(err) => {
                explanation.accounts_error = Some(err.to_string());
                return explanation;
            }
        }
    } else {
        vec![config.registry.clone()]
    };
    let selector = ImageSelector::of(config);
    let pattern = config.repository_pattern();
    for account in accounts {
        let place = |repository: &str| RepositoryExplained {
            registry: account.clone(),
            region: config.region.clone(),
            repository: repository.to_owned(),
            taken: None,
            left_out: None,
            error: None,
            images: Vec::new(),
            images_left_out: Vec::new(),
            missing_tags: Vec::new(),
        };
        let names: Vec<(String, Result<String, String>)> = match &pattern {
            None => vec![(
                config.repository.clone(),
                Ok("the config's repository".to_owned()),
            )],
            Some(pattern) => match backend.list_repositories(&account, &config.region).await {
                Ok(names) => names
                    .into_iter()
                    .filter(|name| pattern.matches(name))
                    .map(|name| {
                        let verdict = match config.excluded_by(&name) {
                            None => Ok(format!("matches {pattern}")),
                            Some(excluded) => Err(format!("excluded by {excluded}")),
                        };
                        (name, verdict)
                    })
                    .collect(),
                Err(err) => {
                    explanation.repositories.push(RepositoryExplained {
                        error: Some(format!("cannot list the repositories: {err}")),
                        ..place(&config.repository)
                    });
                    continue;
                }
            },
        };
        for (name, verdict) in names {
            let mut explained = place(&name);
            match verdict {
                Err(reason) => {
                    explained.left_out = Some(reason);
                }
                Ok(taken) => {
                    explained.taken = Some(taken);
                    match RepositoryRef::new(&config.region, &account, name.as_str()) {
                        Ok(repository) => {
                            let tags = if selector.needs_listing() {
                                Vec::new()
                            } else {
                                config.tags.clone()
                            };
                            match backend.resolve_images(&repository, &tags).await {
                                Ok(resolution) => {
                                    let selected = select(&resolution.images, &selector, now);
                                    explained.images = selected.chosen;
                                    explained.images_left_out = selected.left_out;
                                    explained.missing_tags = selected.missing_tags;
                                    for tag in resolution.missing_tags {
                                        if !explained.missing_tags.contains(&tag) {
                                            explained.missing_tags.push(tag);
                                        }
                                    }
                                }
                                Err(err) => explained.error = Some(err.to_string()),
                            }
                        }
                        Err(err) => explained.error = Some(err.to_string()),
                    }
                }
            }
            explanation.repositories.push(explained);
        }
    }
    explanation.repositories.sort_by(|a, b| {
        (&a.registry, &a.region, &a.repository).cmp(&(&b.registry, &b.region, &b.repository))
    });
    explanation
}

#[cfg(test)]
#[path = "explain_tests.rs"]
mod tests;
