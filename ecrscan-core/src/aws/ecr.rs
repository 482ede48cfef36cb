//! The Amazon ECR scan backend.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_sdk_ecr::Client;
use aws_sdk_ecr::config::http::HttpResponse;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::operation::describe_image_scan_findings::DescribeImageScanFindingsOutput;
use aws_sdk_ecr::operation::start_image_scan::StartImageScanError;
use aws_sdk_ecr::types::{
    DescribeImagesFilter, EnhancedImageScanFinding, ImageIdentifier, ImageScanFinding,
    ScanFrequency, ScanType, TagStatus,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    Error as OperationError, FinalizerInterceptorContextRef, InterceptorContext,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use super::{code, describe, is_access_denied_code, is_throttling_code, is_timeout};
use crate::backend::{Account, BackendError, Image, Resolution, ScanBackend};
use crate::config::RepositoryRef;
use crate::finding::{DigestScan, Finding, FindingKind, LatestScan, ScanStatus};
use crate::ratelimit::{RateLimits, RatePolicy};
use crate::severity::{Severity, SeverityCounts};

/// Options of the [`EcrBackend`].
#[derive(Debug, Clone)]
pub struct EcrBackendOptions {
    /// `maxResults` of DescribeRepositories, DescribeImages and
    /// DescribeImageScanFindings (1–1000).
    pub page_size: i32,
    /// A hard ceiling of calls a second to each ECR API action in each
    /// account and region. Under it (or under [`ratelimit::DEFAULT_CEILING`]
    /// without one) the rate adapts to ECR's throttling: see
    /// [`crate::ratelimit`].
    ///
    /// [`ratelimit::DEFAULT_CEILING`]: crate::ratelimit::DEFAULT_CEILING
    pub calls_per_second: Option<NonZeroU32>,
    /// The role to assume in a registry of another account than the
    /// caller's: a template of its ARN, `{account}` and `{partition}`
    /// filled in, e.g. `arn:{partition}:iam::{account}:role/ecrscan-reader`.
    /// `None`: the caller's own credentials for every registry (enough for
    /// registries whose policy lets the caller in).
    pub assume_role: Option<String>,
    /// The external id the roles ask for, if any.
    pub external_id: Option<String>,
}

impl Default for EcrBackendOptions {
    fn default() -> Self {
        EcrBackendOptions {
            page_size: 1000,
            calls_per_second: None,
            assume_role: None,
            external_id: None,
        }
    }
}

/// The partition of a region: `aws`, `aws-cn`, `aws-us-gov`, …
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("eusc-") {
        "aws-eusc"
    } else {
        "aws"
    }
}

/// The role of `account` a template names, for `region`'s partition.
pub fn role_arn(template: &str, account: &str, region: &str) -> String {
    template
        .replace("{account}", account)
        .replace("{partition}", partition_of(region))
}

/// Scans and findings from Amazon ECR.
///
/// - One SDK client per account and region, made on first use from the
///   shared [`SdkConfig`] (so its credentials, retries, time limits and
///   endpoint apply) and reused.
/// - Listed tags are resolved with DescribeImages (one call per 100 tags);
///   when a batch names a missing tag, its tags are picked from one listing
///   of every tagged image, never one call per tag. Untagged images
///   are skipped.
/// - Before the first StartImageScan in a registry, its scanning
///   configuration is read once with GetRegistryScanningConfiguration. An
///   ENHANCED (Amazon Inspector) registry takes no manual scans: a
///   repository its continuous rule's filters match is
///   [`BackendError::ContinuousScanning`], one only its scan-on-push rule
///   matches [`BackendError::ScanOnPushOnly`], and one no rule matches
///   [`BackendError::NotCovered`] (never scanned: a gap to report).
/// - StartImageScan's LimitExceededException (one basic scan per image per
///   day) is [`BackendError::ScanQuotaExceeded`] at once: the SDK would
///   otherwise retry it as throttling.
/// - Findings come from every page of DescribeImageScanFindings, basic and
///   enhanced.
/// - Every call (every page) waits for its turn at the adaptive rate of its
///   action, account and region ([`crate::ratelimit`]); every attempt the
///   SDK makes, retries included, tells that rate whether ECR throttled it.
/// - Every tagged image comes from the pages of DescribeImages, with when
///   it was pushed and last pulled and whether it is archived.
/// - A registry of another account than the caller's (GetCallerIdentity,
///   asked once) is read with the role [`EcrBackendOptions::assume_role`]
///   names, when one is set: one session per account and region, kept
///   fresh by the SDK's credential cache. A role that cannot be assumed
///   fails that account's calls with [`BackendError::CannotAssumeRole`];
///   every other account goes on.
/// - An AWS Organization's accounts come from the pages of
///   organizations:ListAccounts, with the caller's credentials.
#[derive(Debug)]
pub struct EcrBackend {
    sdk_config: SdkConfig,
    options: EcrBackendOptions,
    clients: Mutex<HashMap<(String, String), Client>>,
    sessions: Mutex<HashMap<RegistryKey, Arc<Session>>>,
    caller: OnceCell<Option<String>>,
    limits: Arc<RateLimits>,
    scan_types: Mutex<HashMap<RegistryKey, Arc<OnceCell<RegistryScanType>>>>,
    organizations: Option<aws_sdk_organizations::Client>,
}

/// (region, registry), or (registry, region) for clients and sessions.
type RegistryKey = (String, String);

/// A client with a session of an account's role, made once (or why not,
/// and when that was found: a role that could not be assumed is tried
/// again after [`SESSION_RETRY`]).
type Session = OnceCell<(std::time::Instant, Result<Client, BackendError>)>;

/// How long a role that could not be assumed is not tried again: one run
/// asks once, and a long-lived process notices a fixed role.
const SESSION_RETRY: std::time::Duration = std::time::Duration::from_secs(300);

/// A registry's scanning configuration, as far as starting scans goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RegistryScanType {
    Basic,
    /// Amazon Inspector scans the repositories its rules' filters match:
    /// each rule's frequency and filters.
    Enhanced(Vec<(EnhancedFrequency, Vec<String>)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EnhancedFrequency {
    Continuous,
    OnPush,
}

impl RegistryScanType {
    /// Why no scan of `repository` is started, or `None`: start one.
    fn no_manual_scan(&self, repository: &str) -> Option<BackendError> {
        let RegistryScanType::Enhanced(rules) = self else {
            return None;
        };
        let covered_by = |frequency: EnhancedFrequency| {
            rules.iter().any(|(rule, filters)| {
                *rule == frequency && filters.iter().any(|f| filter_matches(f, repository))
            })
        };
        // A repository both rules match is scanned continuously.
        Some(if covered_by(EnhancedFrequency::Continuous) {
            BackendError::ContinuousScanning
        } else if covered_by(EnhancedFrequency::OnPush) {
            BackendError::ScanOnPushOnly
        } else {
            BackendError::NotCovered
        })
    }
}

/// Whether an enhanced scanning filter matches a repository name, as ECR
/// documents it: a filter without `*` matches every name that contains it;
/// with `*`, the whole name, each `*` standing for zero or more characters.
pub(crate) fn filter_matches(filter: &str, name: &str) -> bool {
    if !filter.contains('*') {
        return name.contains(filter);
    }
    let (filter, name) = (filter.as_bytes(), name.as_bytes());
    let (mut f, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if f < filter.len() && filter[f] == b'*' {
            star = Some((f, n));
            f += 1;
        } else if f < filter.len() && filter[f] == name[n] {
            f += 1;
            n += 1;
        } else if let Some((star_f, star_n)) = star {
            f = star_f + 1;
            n = star_n + 1;
            star = Some((star_f, star_n + 1));
        } else {
            return false;
        }
    }
    filter[f..].iter().all(|&b| b == b'*')
}

impl EcrBackend {
    /// A backend using `sdk_config` for every region.
    pub fn new(sdk_config: &SdkConfig) -> EcrBackend {
        EcrBackend::with_options(sdk_config, EcrBackendOptions::default())
    }

    /// A backend with options.
    pub fn with_options(sdk_config: &SdkConfig, options: EcrBackendOptions) -> EcrBackend {
        EcrBackend {
            sdk_config: sdk_config.clone(),
            limits: Arc::new(RateLimits::adaptive(rate_policy(options.calls_per_second))),
            options,
            clients: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            caller: OnceCell::new(),
            scan_types: Mutex::new(HashMap::new()),
            organizations: None,
        }
    }

    /// Uses `client` for AWS Organizations instead of one made from the SDK
    /// config.
    pub fn with_organizations_client(
        mut self,
        client: aws_sdk_organizations::Client,
    ) -> EcrBackend {
        self.organizations = Some(client);
        self
    }

    /// Where the rate of an action applies: an account in a region. What
    /// [`EcrBackend::rate_limits`] is asked with.
    pub fn rate_place(registry: &str, region: &str) -> String {
        format!("{registry}@{region}")
    }

    /// The client-side rate limits, e.g. to see how many calls were made.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.limits
    }

    /// Uses `client` for the registry `registry` in `region` instead of one
    /// made from the SDK config (e.g. a client with its own interceptors or
    /// HTTP client).
    pub fn with_client(
        self,
        registry: impl Into<String>,
        region: impl Into<String>,
        client: Client,
    ) -> EcrBackend {
        let (registry, region) = (registry.into(), region.into());
        let client = Client::from_conf(
            client
                .config()
                .to_builder()
                .interceptor(self.rate_feedback(&registry, &region))
                .build(),
        );
        self.clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert((registry, region), client);
        self
    }

    fn rate_feedback(&self, registry: &str, region: &str) -> RateFeedback {
        RateFeedback {
            limits: Arc::clone(&self.limits),
            place: EcrBackend::rate_place(registry, region),
        }
    }

    /// Waits for a turn of `action` in the registry's account and region.
    async fn turn(&self, action: &str, repository: &RepositoryRef) {
        self.limits
            .acquire(
                action,
                &EcrBackend::rate_place(&repository.registry, &repository.region),
            )
            .await;
    }

    /// The caller's account, asked of STS once; `None` when STS cannot say
    /// (then every registry is read with the caller's credentials).
    async fn caller_account(&self) -> Option<&str> {
        self.caller
            .get_or_init(|| async {
                let sts = aws_sdk_sts::Client::new(&self.sdk_config);
                match sts.get_caller_identity().send().await {
                    Ok(identity) => identity.account().map(str::to_owned),
                    Err(err) => {
                        tracing::warn!(error = %describe(&err), "cannot tell the caller's account; reading every registry with its credentials");
                        None
                    }
                }
            })
            .await
            .as_deref()
    }

    /// The client for the registry `registry` in `region`: the caller's
    /// credentials, or a session of the account's role.
    async fn client(&self, registry: &str, region: &str) -> Result<Client, BackendError> {
        let key = (registry.to_owned(), region.to_owned());
        if let Some(client) = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&key)
        {
            return Ok(client.clone());
        }
        let own = match &self.options.assume_role {
            None => true,
            Some(_) => self
                .caller_account()
                .await
                .is_none_or(|caller| caller == registry),
        };
        if own {
            let mut clients = self
                .clients
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let client = clients.entry(key).or_insert_with(|| {
                Client::from_conf(
                    aws_sdk_ecr::config::Builder::from(&self.sdk_config)
                        .region(aws_sdk_ecr::config::Region::new(region.to_owned()))
                        .interceptor(self.rate_feedback(registry, region))
                        .build(),
                )
            });
            return Ok(client.clone());
        }
        let cell = {
            let mut sessions = self
                .sessions
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let session = sessions.entry(key).or_default();
            if let Some((at, Err(_))) = session.get()
                && at.elapsed() >= SESSION_RETRY
            {
                *session = Arc::default();
            }
            Arc::clone(session)
        };
        cell.get_or_init(|| async {
            (
                std::time::Instant::now(),
                self.session_client(registry, region).await,
            )
        })
        .await
        .1
        .clone()
    }

    /// A client with a session of `registry`'s role, checked by getting its
    /// first credentials.
    async fn session_client(&self, registry: &str, region: &str) -> Result<Client, BackendError> {
        use aws_credential_types::provider::ProvideCredentials;
        let template = self.options.assume_role.as_deref().unwrap_or_default();
        let role = role_arn(template, registry, region);
        // STS allows session names of 2-64 characters of [\w+=,.@-].
        let session_name: String = format!("ecrscan-{registry}").chars().take(64).collect();
        let mut builder = aws_config::sts::AssumeRoleProvider::builder(&role)
            .session_name(session_name)
            .region(aws_config::Region::new(region.to_owned()));
        if let Some(external_id) = &self.options.external_id {
            builder = builder.external_id(external_id);
        }
        let provider = builder.configure(&self.sdk_config).build().await;
        if let Err(err) = provider.provide_credentials().await {
            return Err(BackendError::CannotAssumeRole {
                role,
                message: credentials_error_code(&err),
            });
        }
        Ok(Client::from_conf(
            aws_sdk_ecr::config::Builder::from(&self.sdk_config)
                .region(aws_sdk_ecr::config::Region::new(region.to_owned()))
                .credentials_provider(provider)
                .interceptor(self.rate_feedback(registry, region))
                .build(),
        ))
    }

    async fn registry_scan_type(&self, repository: &RepositoryRef) -> RegistryScanType {
        let cell = {
            let mut scan_types = self
                .scan_types
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            Arc::clone(
                scan_types
                    .entry((repository.region.clone(), repository.registry.clone()))
                    .or_default(),
            )
        };
        let lookup = cell
            .get_or_try_init(|| async {
                let client = self
                    .client(&repository.registry, &repository.region)
                    .await
                    .map_err(|err| err.to_string())?;
                self.turn("ecr:GetRegistryScanningConfiguration", repository)
                    .await;
                match client.get_registry_scanning_configuration().send().await {
                    Ok(output) if output.registry_id() == Some(repository.registry.as_str()) => {
                        let configuration = output.scanning_configuration();
                        Ok(match configuration.and_then(|c| c.scan_type()) {
                            Some(ScanType::Enhanced) => RegistryScanType::Enhanced(
                                configuration
                                    .map(|c| c.rules())
                                    .unwrap_or_default()
                                    .iter()
                                    .filter_map(|rule| {
                                        let frequency = match rule.scan_frequency() {
                                            ScanFrequency::ContinuousScan => {
                                                EnhancedFrequency::Continuous
                                            }
                                            ScanFrequency::ScanOnPush => EnhancedFrequency::OnPush,
                                            _ => return None,
                                        };
                                        let filters = rule
                                            .repository_filters()
                                            .iter()
                                            .map(|f| f.filter().to_owned())
                                            .collect();
                                        Some((frequency, filters))
                                    })
                                    .collect(),
                            ),
                            _ => RegistryScanType::Basic,
                        })
                    }
                    // Another account's registry: its settings aren't visible; StartImageScan will tell.
                    Ok(_) => Ok(RegistryScanType::Basic),
                    Err(err) => Err(describe(&err)),
                }
            })
            .await;
        match lookup {
            Ok(scan_type) => scan_type.clone(),
            Err(error) => {
                // Not cached: the next scan in this registry asks again.
                tracing::warn!(
                    region = %repository.region,
                    registry = %repository.registry,
                    %error,
                    "cannot read the registry's scanning configuration; assuming basic scanning"
                );
                RegistryScanType::Basic
            }
        }
    }

    async fn images_by_tags(
        &self,
        client: &Client,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Resolution, BackendError> {
        let mut digest_tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut missing_tags = Vec::new();
        // Every tagged image, listed once when a batch has a missing tag.
        let mut listed: Option<BTreeMap<String, String>> = None;
        for batch in tags.chunks(100) {
            match self.describe_tags(client, repository, batch).await {
                Ok(found) => {
                    for (tag, digest) in found {
                        digest_tags.entry(digest).or_default().push(tag);
                    }
                }
                // One missing tag fails the whole batch: pick the batch's
                // tags from the listing of every tagged image (pages of
                // 1,000), never one call per tag.
                Err(BackendError::ImageNotFound { .. }) => {
                    let by_tag = match &mut listed {
                        Some(listed) => listed,
                        None => {
                            let all = self.all_tagged_images(client, repository).await?;
                            listed.insert(
                                all.images
                                    .into_iter()
                                    .flat_map(|image| {
                                        let digest = image.digest;
                                        image.tags.into_iter().map(move |tag| (tag, digest.clone()))
                                    })
                                    .collect(),
                            )
                        }
                    };
                    for tag in batch {
                        match by_tag.get(tag) {
                            Some(digest) => digest_tags
                                .entry(digest.clone())
                                .or_default()
                                .push(tag.clone()),
                            None => missing_tags.push(tag.clone()),
                        }
                    }
                }
                Err(err) => return Err(err),
            }
        }
        // Tags come back in whichever order; keep the ones asked for, sorted.
        let images = digest_tags
            .into_iter()
            .map(|(digest, mut image_tags)| {
                image_tags.sort();
                image_tags.dedup();
                Image::tagged(digest, image_tags)
            })
            .collect();
        Ok(Resolution {
            images,
            missing_tags,
        })
    }

    /// (tag, digest) for every asked tag that exists.
    async fn describe_tags(
        &self,
        client: &Client,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Vec<(String, String)>, BackendError> {
        let ids = tags
            .iter()
            .map(|tag| ImageIdentifier::builder().image_tag(tag).build())
            .collect();
        self.turn("ecr:DescribeImages", repository).await;
        let output = client
            .describe_images()
            .registry_id(&repository.registry)
            .repository_name(&repository.repository)
            .set_image_ids(Some(ids))
            .send()
            .await
            .map_err(|err| map_error("ecr:DescribeImages", repository, tags.join(","), err))?;
        let mut found = Vec::new();
        for detail in output.image_details() {
            let Some(digest) = detail.image_digest() else {
                continue;
            };
            for tag in detail.image_tags() {
                if tags.contains(tag) {
                    found.push((tag.clone(), digest.to_owned()));
                }
            }
        }
        Ok(found)
    }

    async fn all_tagged_images(
        &self,
        client: &Client,
        repository: &RepositoryRef,
    ) -> Result<Resolution, BackendError> {
        let mut images: BTreeMap<String, Image> = BTreeMap::new();
        let mut next_token: Option<String> = None;
        // One rate-limit token per call made: the pages are asked for one by one.
        loop {
            self.turn("ecr:DescribeImages", repository).await;
            let page = client
                .describe_images()
                .registry_id(&repository.registry)
                .repository_name(&repository.repository)
                .filter(
                    DescribeImagesFilter::builder()
                        .tag_status(TagStatus::Tagged)
                        .build(),
                )
                .max_results(self.options.page_size)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|err| map_error("ecr:DescribeImages", repository, String::new(), err))?;
            for detail in page.image_details() {
                // Untagged images (an emulator may list them despite the filter) are not selected.
                let Some(digest) = detail.image_digest() else {
                    continue;
                };
                if detail.image_tags().is_empty() {
                    continue;
                }
                let image = images.entry(digest.to_owned()).or_insert_with(|| Image {
                    digest: digest.to_owned(),
                    ..Image::default()
                });
                image.tags.extend(detail.image_tags().iter().cloned());
                image.pushed_at = image
                    .pushed_at
                    .or(detail.image_pushed_at().and_then(chrono_time));
                image.last_pulled_at = image
                    .last_pulled_at
                    .or(detail.last_recorded_pull_time().and_then(chrono_time));
                image.archived |= detail
                    .image_status()
                    .is_some_and(|status| status.as_str() == "ARCHIVED");
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => break,
            }
        }
        let images = images
            .into_values()
            .map(|mut image| {
                image.tags.sort();
                image.tags.dedup();
                image
            })
            .collect();
        Ok(Resolution {
            images,
            missing_tags: Vec::new(),
        })
    }
}

#[async_trait::async_trait]
impl ScanBackend for EcrBackend {
    async fn list_repositories(
        &self,
        registry: &str,
        region: &str,
    ) -> Result<Vec<String>, BackendError> {
        let client = self.client(registry, region).await?;
        let place = RepositoryRef {
            region: region.to_owned(),
            registry: registry.to_owned(),
            repository: String::new(),
        };
        let mut names = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            self.turn("ecr:DescribeRepositories", &place).await;
            let page = client
                .describe_repositories()
                .registry_id(registry)
                .max_results(self.options.page_size)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|err| map_error("ecr:DescribeRepositories", &place, String::new(), err))?;
            names.extend(
                page.repositories()
                    .iter()
                    .filter_map(|repository| repository.repository_name())
                    .map(str::to_owned),
            );
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => break,
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, BackendError> {
        let client = self
            .organizations
            .clone()
            .unwrap_or_else(|| aws_sdk_organizations::Client::new(&self.sdk_config));
        let mut accounts = Vec::new();
        let mut next_token: Option<String> = None;
        // A token seen before would page forever.
        let mut seen_tokens = std::collections::HashSet::new();
        loop {
            self.limits
                .acquire("organizations:ListAccounts", "global")
                .await;
            let page = client
                .list_accounts()
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|err| map_plain_error("organizations:ListAccounts", err))?;
            for account in page.accounts() {
                let Some(id) = account.id() else {
                    continue;
                };
                // `State` replaces the deprecated `Status`; either says
                // ACTIVE of an account that can be read.
                #[allow(deprecated)]
                let active = match (account.state(), account.status()) {
                    (Some(state), _) => state.as_str() == "ACTIVE",
                    (None, Some(status)) => status.as_str() == "ACTIVE",
                    (None, None) => true,
                };
                accounts.push(Account {
                    id: id.to_owned(),
                    name: account.name().map(str::to_owned),
                    active,
                });
            }
            match page.next_token() {
                Some(token) if !token.is_empty() && !seen_tokens.contains(token) => {
                    seen_tokens.insert(token.to_owned());
                    next_token = Some(token.to_owned());
                }
                _ => break,
            }
        }
        accounts.sort_by(|a, b| a.id.cmp(&b.id));
        accounts.dedup_by(|a, b| a.id == b.id);
        Ok(accounts)
    }

    async fn resolve_images(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Resolution, BackendError> {
        let client = self
            .client(&repository.registry, &repository.region)
            .await?;
        if tags.is_empty() {
            self.all_tagged_images(&client, repository).await
        } else {
            self.images_by_tags(&client, repository, tags).await
        }
    }

    async fn start_scan(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<(), BackendError> {
        if let Some(reason) = self
            .registry_scan_type(repository)
            .await
            .no_manual_scan(&repository.repository)
        {
            return Err(reason);
        }
        let client = self
            .client(&repository.registry, &repository.region)
            .await?;
        self.turn("ecr:StartImageScan", repository).await;
        client
            .start_image_scan()
            .registry_id(&repository.registry)
            .repository_name(&repository.repository)
            .image_id(ImageIdentifier::builder().image_digest(digest).build())
            .customize()
            .config_override(
                aws_sdk_ecr::config::Builder::default().retry_classifier(ScanQuotaIsFinal),
            )
            .send()
            .await
            .map_err(|err| {
                if err
                    .as_service_error()
                    .is_some_and(StartImageScanError::is_limit_exceeded_exception)
                {
                    BackendError::ScanQuotaExceeded
                } else {
                    map_error("ecr:StartImageScan", repository, digest.to_owned(), err)
                }
            })?;
        Ok(())
    }

    async fn scan_result(
        &self,
        repository: &RepositoryRef,
        digest: &str,
    ) -> Result<LatestScan, BackendError> {
        let client = self
            .client(&repository.registry, &repository.region)
            .await?;
        let mut scan: Option<DigestScan> = None;
        let mut counted_by_ecr = false;
        let mut next_token: Option<String> = None;
        // One rate-limit token per call made: the pages are asked for one by one.
        loop {
            self.turn("ecr:DescribeImageScanFindings", repository).await;
            let sent = client
                .describe_image_scan_findings()
                .registry_id(&repository.registry)
                .repository_name(&repository.repository)
                .image_id(ImageIdentifier::builder().image_digest(digest).build())
                .max_results(self.options.page_size)
                .set_next_token(next_token.take())
                .send()
                .await;
            let page = match sent {
                Ok(page) => page,
                Err(err) => {
                    return match code(&err) {
                        Some("ScanNotFoundException") => Ok(LatestScan::live(
                            DigestScan::without_findings(ScanStatus::NotScanned, None),
                        )),
                        Some("UnsupportedImageTypeException") => {
                            // AWS's own message goes to the log only; the
                            // status says what it means.
                            tracing::info!(
                                repository = %repository.repository,
                                digest,
                                message = err.message().unwrap_or_default(),
                                "ECR cannot scan this image type"
                            );
                            Ok(LatestScan::live(DigestScan::without_findings(
                                ScanStatus::UnsupportedImage,
                                Some(UNSUPPORTED_IMAGE_DESCRIPTION.to_owned()),
                            )))
                        }
                        _ => Err(map_error(
                            "ecr:DescribeImageScanFindings",
                            repository,
                            digest.to_owned(),
                            err,
                        )),
                    };
                }
            };
            let scan = scan.get_or_insert_with(|| first_page(&page));
            if let Some(findings) = page.image_scan_findings() {
                if let Some(counts) = findings.finding_severity_counts()
                    && !counted_by_ecr
                {
                    scan.severity_counts = counts
                        .iter()
                        .map(|(severity, count)| {
                            (
                                severity_of(severity.as_str()),
                                u64::try_from(*count).unwrap_or(0),
                            )
                        })
                        .collect();
                    counted_by_ecr = true;
                }
                scan.findings
                    .extend(findings.findings().iter().map(basic_finding));
                scan.findings
                    .extend(findings.enhanced_findings().iter().map(enhanced_finding));
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => break,
            }
        }
        let mut scan =
            scan.unwrap_or_else(|| DigestScan::without_findings(ScanStatus::NotScanned, None));
        if !counted_by_ecr {
            scan.severity_counts = scan
                .findings
                .iter()
                .map(|f| (f.severity, 1))
                .collect::<SeverityCounts>();
        }
        scan.findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(LatestScan::live(scan))
    }
}

fn first_page(page: &DescribeImageScanFindingsOutput) -> DigestScan {
    let status = page.image_scan_status();
    let findings = page.image_scan_findings();
    DigestScan {
        status: status
            .and_then(|s| s.status())
            .map(|s| {
                ScanStatus::parse(s.as_str()).unwrap_or_else(|| {
                    tracing::warn!(status = s.as_str(), "unknown scan status from ECR");
                    ScanStatus::Failed
                })
            })
            .unwrap_or(ScanStatus::NotScanned),
        status_description: status.and_then(|s| s.description()).map(str::to_owned),
        scan_completed_at: findings
            .and_then(|f| f.image_scan_completed_at())
            .and_then(chrono_time),
        vulnerability_source_updated_at: findings
            .and_then(|f| f.vulnerability_source_updated_at())
            .and_then(chrono_time),
        severity_counts: SeverityCounts::new(),
        findings: Vec::new(),
    }
}

fn chrono_time(time: &aws_sdk_ecr::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(time.secs(), time.subsec_nanos())
}

fn severity_of(name: &str) -> Severity {
    name.parse().unwrap_or_else(|_| {
        tracing::warn!(
            severity = name,
            "unknown severity from ECR; counted as UNDEFINED"
        );
        Severity::Undefined
    })
}

fn basic_finding(finding: &ImageScanFinding) -> Finding {
    let attributes: BTreeMap<String, String> = finding
        .attributes()
        .iter()
        .filter_map(|a| Some((a.key().to_owned(), a.value()?.to_owned())))
        .collect();
    let score = ["CVSS3_SCORE", "CVSS2_SCORE"]
        .iter()
        .find_map(|key| attributes.get(*key)?.parse::<f64>().ok())
        .filter(|score| score.is_finite());
    Finding {
        kind: FindingKind::Basic,
        name: finding.name().unwrap_or("unnamed finding").to_owned(),
        title: None,
        description: finding.description().map(str::to_owned),
        uri: finding.uri().map(str::to_owned),
        severity: finding
            .severity()
            .map_or(Severity::Undefined, |s| severity_of(s.as_str())),
        score,
        package_name: attributes.get("package_name").cloned(),
        package_version: attributes.get("package_version").cloned(),
        fixed_in_version: None,
        fix_available: None,
        first_observed_at: None,
        file_path: None,
        attributes,
        suppressed: None,
    }
}

fn enhanced_finding(finding: &EnhancedImageScanFinding) -> Finding {
    let details = finding.package_vulnerability_details();
    let package = details.and_then(|d| d.vulnerable_packages().first());
    let name = details
        .and_then(|d| d.vulnerability_id())
        .or(finding.title())
        .unwrap_or("unnamed finding");
    Finding {
        kind: FindingKind::Enhanced,
        name: name.to_owned(),
        title: finding.title().map(str::to_owned),
        description: finding.description().map(str::to_owned),
        uri: details.and_then(|d| d.source_url()).map(str::to_owned),
        severity: finding.severity().map_or(Severity::Undefined, severity_of),
        score: Some(finding.score()).filter(|score| *score > 0.0 && score.is_finite()),
        package_name: package.and_then(|p| p.name()).map(str::to_owned),
        package_version: package.and_then(|p| p.version()).map(str::to_owned),
        fixed_in_version: package
            .and_then(|p| p.fixed_in_version())
            .map(str::to_owned),
        fix_available: finding.fix_available().map(str::to_owned),
        first_observed_at: finding.first_observed_at().and_then(chrono_time),
        file_path: package.and_then(|p| p.file_path()).map(str::to_owned),
        attributes: BTreeMap::new(),
        suppressed: None,
    }
}

/// Turns an SDK error into a [`BackendError`].
fn map_error<E>(
    action: &str,
    repository: &RepositoryRef,
    image: String,
    err: SdkError<E, HttpResponse>,
) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if is_timeout(&err) {
        return BackendError::Timeout {
            action: action.to_owned(),
        };
    }
    match code(&err) {
        Some("RepositoryNotFoundException") => BackendError::RepositoryNotFound {
            repository: repository.clone(),
        },
        Some("ImageNotFoundException") => BackendError::ImageNotFound {
            image: format!("{}:{image}", repository.repository),
        },
        Some("UnsupportedImageTypeException") => BackendError::UnsupportedImage {
            message: err.message().unwrap_or("unsupported image type").to_owned(),
        },
        Some(code) if is_throttling_code(code) => BackendError::Throttled {
            code: code.to_owned(),
        },
        Some(code) if is_access_denied_code(code) => BackendError::AccessDenied {
            action: action.to_owned(),
            message: err.message().unwrap_or(code).to_owned(),
        },
        _ if matches!(err, SdkError::DispatchFailure(_)) => BackendError::Unreachable {
            action: action.to_owned(),
            message: describe(&err),
        },
        code => BackendError::Other {
            action: action.to_owned(),
            code: code.map(str::to_owned),
            message: describe(&err),
        },
    }
}

/// Turns an SDK error of a call about no repository into a [`BackendError`].
fn map_plain_error<E>(action: &str, err: SdkError<E, HttpResponse>) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let place = RepositoryRef {
        region: String::new(),
        registry: String::new(),
        repository: String::new(),
    };
    map_error(action, &place, String::new(), err)
}

/// The AWS error code (else the first line of the message) of why
/// credentials could not be had: what `cannot assume …:` is followed by.
fn credentials_error_code(err: &aws_credential_types::provider::error::CredentialsError) -> String {
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if let Some(sdk) = cause.downcast_ref::<SdkError<AssumeRoleError, HttpResponse>>() {
            return match code(sdk) {
                Some(code) => code.to_owned(),
                None => match sdk {
                    SdkError::ServiceError(service) if service.raw().status().as_u16() == 403 => {
                        "AccessDenied".to_owned()
                    }
                    other => describe(other),
                },
            };
        }
        source = cause.source();
    }
    err.to_string()
        .lines()
        .next()
        .unwrap_or("unknown")
        .to_owned()
}

/// The status description of an image ECR cannot scan (its operating
/// system or package manager, or its media type).
pub const UNSUPPORTED_IMAGE_DESCRIPTION: &str = "ECR cannot scan this image: its operating system, package manager or media type is not supported";

/// The rate policy of a backend: adaptive, under `ceiling` when one is set
/// (starting at it: a ceiling is what its user wants).
fn rate_policy(ceiling: Option<NonZeroU32>) -> RatePolicy {
    let ceiling = ceiling.map(|c| f64::from(c.get()));
    let mut policy = RatePolicy::adaptive(ceiling);
    if let Some(ceiling) = ceiling {
        policy.initial = ceiling;
    }
    policy
}

/// Tells the rate of each ECR action whether ECR throttled each attempt the
/// SDK made (retries included): the signal the adaptive rate follows.
#[derive(Debug)]
struct RateFeedback {
    limits: Arc<RateLimits>,
    place: String,
}

/// The error code of an ECR operation's error, from the SDK's type-erased
/// error.
fn operation_error_code(err: &OperationError) -> Option<&str> {
    use aws_sdk_ecr::operation::{
        describe_image_scan_findings::DescribeImageScanFindingsError,
        describe_images::DescribeImagesError, describe_repositories::DescribeRepositoriesError,
        get_registry_scanning_configuration::GetRegistryScanningConfigurationError,
    };
    if let Some(err) = err.downcast_ref::<DescribeRepositoriesError>() {
        return err.code();
    }
    if let Some(err) = err.downcast_ref::<DescribeImagesError>() {
        return err.code();
    }
    if let Some(err) = err.downcast_ref::<DescribeImageScanFindingsError>() {
        return err.code();
    }
    if let Some(err) = err.downcast_ref::<StartImageScanError>() {
        // LimitExceededException is the daily scan quota, not a rate.
        return err.code().filter(|code| *code != "LimitExceededException");
    }
    if let Some(err) = err.downcast_ref::<GetRegistryScanningConfigurationError>() {
        return err.code();
    }
    None
}

impl Intercept for RateFeedback {
    fn name(&self) -> &'static str {
        "ecrscan: adaptive rate feedback"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let action = format!("ecr:{}", metadata.name());
        let status = context
            .response()
            .map(|response| response.status().as_u16());
        match context.output_or_error() {
            Some(Ok(_)) => self.limits.accepted(&action, &self.place),
            Some(Err(err)) => {
                let throttled = status == Some(429)
                    || err
                        .as_operation_error()
                        .and_then(operation_error_code)
                        .is_some_and(is_throttling_code);
                if throttled {
                    self.limits.throttled(&action, &self.place);
                } else if status.is_some_and(|status| status < 500) {
                    // Refused for a reason of its own: ECR answered, at this rate.
                    self.limits.accepted(&action, &self.place);
                }
            }
            None => {}
        }
        Ok(())
    }
}

/// Stops the SDK from retrying StartImageScan's LimitExceededException (the
/// daily scan quota), which its default classifiers take for throttling.
#[derive(Debug)]
struct ScanQuotaIsFinal;

impl ClassifyRetry for ScanQuotaIsFinal {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let quota_reached = ctx
            .output_or_error()
            .and_then(|result| result.err())
            .and_then(|err| err.as_operation_error())
            .and_then(|err| err.downcast_ref::<StartImageScanError>())
            .is_some_and(StartImageScanError::is_limit_exceeded_exception);
        if quota_reached {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "ecrscan: the scan quota is final"
    }

    fn priority(&self) -> RetryClassifierPriority {
        // Runs first, and a RetryForbidden ends the classification.
        RetryClassifierPriority::run_before(RetryClassifierPriority::http_status_code_classifier())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_filters_match_as_ecr_documents() {
        // Without a wildcard: every name containing the filter.
        assert!(filter_matches("prod", "team/prod-api"));
        assert!(!filter_matches("prod", "team/dev-api"));
        // With one: the whole name.
        assert!(filter_matches("prod*", "prod/api"));
        assert!(!filter_matches("prod*", "team/prod"));
        assert!(filter_matches("*", "anything/at/all"));
        assert!(filter_matches("*/api", "team/api"));
        assert!(filter_matches("a*b*c", "aXbYbZc"));
        assert!(!filter_matches("a*b*c", "aXbYbZ"));
        assert!(filter_matches("prod-**", "prod-"));
    }

    #[test]
    fn continuous_rules_win_and_uncovered_repositories_are_named() {
        let registry = RegistryScanType::Enhanced(vec![
            (EnhancedFrequency::OnPush, vec!["*".into()]),
            (EnhancedFrequency::Continuous, vec!["prod*".into()]),
        ]);
        assert_eq!(
            registry.no_manual_scan("prod/api"),
            Some(BackendError::ContinuousScanning)
        );
        assert_eq!(
            registry.no_manual_scan("dev/api"),
            Some(BackendError::ScanOnPushOnly)
        );
        let narrow =
            RegistryScanType::Enhanced(vec![(EnhancedFrequency::Continuous, vec!["prod*".into()])]);
        assert_eq!(
            narrow.no_manual_scan("dev/api"),
            Some(BackendError::NotCovered)
        );
        assert_eq!(RegistryScanType::Basic.no_manual_scan("dev/api"), None);
    }
}
