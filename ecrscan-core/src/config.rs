//! Scan configs: which images of which repository to keep scanned.

use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use serde::de::{self, IgnoredAny};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::pattern::{NameKind, Pattern};

/// A registered scan config, as stored.
///
/// Its JSON is exactly the one of the AWS sample "amazon-ecr-continuous-scan",
/// so a bucket written by the sample is read unchanged and the sample reads
/// ours:
///
/// ```json
/// {"id":"6c3b5b4e-…","created":"1569927812","region":"us-west-2",
///  "registry":"123456789012","repository":"test/ubuntu","tags":["16.04","latest"]}
/// ```
///
/// `created` is written as a string of Unix seconds and read from a string or
/// a number. `tags` that are `null`, absent or `[]` mean "every tagged image
/// of the repository".
///
/// A `ScanConfig` is made from user input with [`ScanConfig::create`], which
/// assigns `id` and `created`: whatever a client sends for them is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScanConfig {
    /// A random (v4) UUID, assigned on creation.
    pub id: Uuid,
    /// When the config was created (whole seconds).
    #[serde(
        serialize_with = "serialize_unix_string",
        deserialize_with = "deserialize_unix"
    )]
    pub created: DateTime<Utc>,
    /// The AWS region of the registry, e.g. `us-west-2`.
    pub region: String,
    /// The registry: the 12-digit AWS account ID.
    pub registry: String,
    /// The repository name, e.g. `test/ubuntu`.
    pub repository: String,
    /// The tags to scan; empty means every tagged image. An entry with a
    /// `*` is a pattern ([`Pattern`](crate::pattern::Pattern)).
    #[serde(default, deserialize_with = "deserialize_tags")]
    pub tags: Vec<String>,
    /// Repository patterns taken out again (with a `repository` pattern).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_repositories: Vec<String>,
    /// Keep the N most recently pushed images of each repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub most_recent: Option<u32>,
    /// Keep images pushed within this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_within_days: Option<u32>,
    /// Keep images pulled within this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulled_within_days: Option<u32>,
    /// Accounts taken out of an `organization` registry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_accounts: Vec<String>,
}

/// The `registry` of a config that selects every ACTIVE account of the
/// caller's AWS Organization.
pub const ORGANIZATION: &str = "organization";

/// The most days a recency clause may name: ten years.
pub const MAX_DAYS: u32 = 3_650;

/// The most images `most_recent` may keep.
pub const MAX_MOST_RECENT: u32 = 10_000;

impl ScanConfig {
    /// Makes a new config from validated user input, with a new random id
    /// and `created` set to `now` (truncated to whole seconds).
    pub fn create(spec: ConfigSpec, now: DateTime<Utc>) -> ScanConfig {
        ScanConfig {
            id: Uuid::new_v4(),
            created: truncate_to_seconds(now),
            region: spec.region,
            registry: spec.registry,
            repository: spec.repository,
            tags: spec.tags,
            exclude_repositories: spec.selection.exclude_repositories,
            most_recent: spec.selection.most_recent,
            pushed_within_days: spec.selection.pushed_within_days,
            pulled_within_days: spec.selection.pulled_within_days,
            exclude_accounts: spec.selection.exclude_accounts,
        }
    }

    /// Parses a stored config and checks its fields with the same rules as
    /// user input, so nothing unusable (or hostile) enters a scan.
    pub fn from_stored_json(bytes: &[u8]) -> Result<ScanConfig, ConfigError> {
        let config: ScanConfig = serde_json::from_slice(bytes).map_err(ConfigError::Json)?;
        validate_all(
            &config.region,
            &config.registry,
            &config.repository,
            &config.tags,
            &config.options(),
        )?;
        Ok(config)
    }

    /// Checks every field with the rules of new input.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_all(
            &self.region,
            &self.registry,
            &self.repository,
            &self.tags,
            &self.options(),
        )
    }

    /// The optional selection fields.
    pub fn options(&self) -> SelectionOptions {
        SelectionOptions {
            exclude_repositories: self.exclude_repositories.clone(),
            most_recent: self.most_recent,
            pushed_within_days: self.pushed_within_days,
            pulled_within_days: self.pulled_within_days,
            exclude_accounts: self.exclude_accounts.clone(),
        }
    }

    /// Whether the config selects the accounts of an AWS Organization.
    pub fn is_organization(&self) -> bool {
        self.registry == ORGANIZATION
    }

    /// The repository pattern, when `repository` has a `*`.
    pub fn repository_pattern(&self) -> Option<Pattern> {
        self.repository
            .contains('*')
            .then(|| Pattern::parse(&self.repository, NameKind::Repository).ok())
            .flatten()
    }

    /// Whether a repository named `name` is one the config's repository
    /// (or pattern) takes and no exclusion takes out again.
    pub fn takes_repository(&self, name: &str) -> bool {
        let taken = match self.repository_pattern() {
            Some(pattern) => pattern.matches(name),
            None => self.repository == name,
        };
        taken && self.excluded_by(name).is_none()
    }

    /// The first of `exclude_repositories` that takes `name` out.
    pub fn excluded_by(&self, name: &str) -> Option<&str> {
        self.exclude_repositories
            .iter()
            .find(|excluded| {
                Pattern::parse(excluded, NameKind::Repository).is_ok_and(|p| p.matches(name))
            })
            .map(String::as_str)
    }

    /// Whether the config takes the account `registry` (its own, or an
    /// account of its organization it does not exclude).
    pub fn takes_account(&self, registry: &str) -> bool {
        if self.is_organization() {
            !self.exclude_accounts.iter().any(|a| a == registry)
        } else {
            self.registry == registry
        }
    }

    /// The one repository the config names: its registry is an account
    /// and its repository not a pattern. `None` for patterns and
    /// organizations, which the plan resolves to repositories.
    pub fn single_repository(&self) -> Option<RepositoryRef> {
        (!self.is_organization() && self.repository_pattern().is_none())
            .then(|| self.repository_ref())
    }

    /// The config's JSON in the sample's layout.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing this struct cannot fail: every field is a string or a list of them.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The repository this config names, as written (see
    /// [`ScanConfig::single_repository`] for configs with patterns or an
    /// organization).
    pub fn repository_ref(&self) -> RepositoryRef {
        RepositoryRef {
            region: self.region.clone(),
            registry: self.registry.clone(),
            repository: self.repository.clone(),
        }
    }

    /// Whether the config selects every tagged image rather than listed tags.
    pub fn all_tags(&self) -> bool {
        self.tags.is_empty()
    }
}

/// A repository in a registry in a region: what a [`ScanBackend`](crate::ScanBackend)
/// needs to find images.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RepositoryRef {
    /// The AWS region, e.g. `us-west-2`.
    pub region: String,
    /// The 12-digit account ID of the registry.
    pub registry: String,
    /// The repository name.
    pub repository: String,
}

impl RepositoryRef {
    /// A repository reference whose parts are checked with the rules of
    /// [`ConfigSpec`]: a region name, a 12-digit account ID and an ECR
    /// repository name.
    pub fn new(
        region: impl Into<String>,
        registry: impl Into<String>,
        repository: impl Into<String>,
    ) -> Result<RepositoryRef, ValidationError> {
        let repository = RepositoryRef {
            region: region.into(),
            registry: registry.into(),
            repository: repository.into(),
        };
        repository.validate()?;
        Ok(repository)
    }

    /// Checks every part with the rules of [`ConfigSpec`].
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_region(&self.region)?;
        validate_registry(&self.registry)?;
        validate_repository(&self.repository)
    }
}

impl fmt::Display for RepositoryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} in {}",
            self.registry, self.repository, self.region
        )
    }
}

/// Validated user input for a new scan config: region, registry, repository
/// and tags, and the optional selection fields ([`SelectionOptions`]).
/// `id` and `created`, if sent, are accepted and ignored; any other field
/// is rejected by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSpec {
    region: String,
    registry: String,
    repository: String,
    tags: Vec<String>,
    selection: SelectionOptions,
}

/// The optional fields of a config that narrow or widen what it selects,
/// beyond the AWS sample's: see the README's "Selecting images".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectionOptions {
    /// Repository patterns taken out again (with a `repository` pattern).
    pub exclude_repositories: Vec<String>,
    /// Keep the N most recently pushed images of each repository.
    pub most_recent: Option<u32>,
    /// Keep images pushed within this many days.
    pub pushed_within_days: Option<u32>,
    /// Keep images pulled within this many days.
    pub pulled_within_days: Option<u32>,
    /// Accounts taken out of an `organization` registry.
    pub exclude_accounts: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfigSpec {
    region: Option<String>,
    registry: Option<String>,
    repository: Option<String>,
    #[serde(default, deserialize_with = "deserialize_tags")]
    tags: Vec<String>,
    #[serde(default)]
    exclude_repositories: Vec<String>,
    most_recent: Option<u32>,
    pushed_within_days: Option<u32>,
    pulled_within_days: Option<u32>,
    #[serde(default)]
    exclude_accounts: Vec<String>,
    #[serde(default, rename = "id")]
    _id: Option<IgnoredAny>,
    #[serde(default, rename = "created")]
    _created: Option<IgnoredAny>,
}

impl ConfigSpec {
    /// Validates every field; the error names the field and the rule.
    ///
    /// ```
    /// use ecrscan_core::ConfigSpec;
    /// let err = ConfigSpec::new("us-west-2", "12345", "test/ubuntu", Vec::<String>::new()).unwrap_err();
    /// assert!(err.to_string().starts_with("invalid registry"));
    /// ```
    pub fn new(
        region: impl Into<String>,
        registry: impl Into<String>,
        repository: impl Into<String>,
        tags: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<ConfigSpec, ValidationError> {
        ConfigSpec::with_options(
            region,
            registry,
            repository,
            tags,
            SelectionOptions::default(),
        )
    }

    /// [`ConfigSpec::new`] with the optional selection fields.
    pub fn with_options(
        region: impl Into<String>,
        registry: impl Into<String>,
        repository: impl Into<String>,
        tags: impl IntoIterator<Item = impl Into<String>>,
        selection: SelectionOptions,
    ) -> Result<ConfigSpec, ValidationError> {
        let spec = ConfigSpec {
            region: region.into(),
            registry: registry.into(),
            repository: repository.into(),
            tags: tags.into_iter().map(Into::into).collect(),
            selection,
        };
        validate_all(
            &spec.region,
            &spec.registry,
            &spec.repository,
            &spec.tags,
            &spec.selection,
        )?;
        Ok(spec)
    }

    /// Parses and validates a JSON object such as the sample's
    /// `scan-config-*.json` files.
    pub fn from_json(bytes: &[u8]) -> Result<ConfigSpec, ConfigError> {
        let raw: RawConfigSpec = serde_json::from_slice(bytes).map_err(|err| {
            // serde names unknown, duplicate and missing fields, but not the
            // field of a value of the wrong type: find it.
            serde_json::from_slice::<serde_json::Value>(bytes)
                .ok()
                .and_then(|value| mistyped_field(&value))
                .map_or(ConfigError::Json(err), ConfigError::Invalid)
        })?;
        let region = raw.region.ok_or(ValidationError::missing("region"))?;
        let registry = raw.registry.ok_or(ValidationError::missing("registry"))?;
        let repository = raw
            .repository
            .ok_or(ValidationError::missing("repository"))?;
        let selection = SelectionOptions {
            exclude_repositories: raw.exclude_repositories,
            most_recent: raw.most_recent,
            pushed_within_days: raw.pushed_within_days,
            pulled_within_days: raw.pulled_within_days,
            exclude_accounts: raw.exclude_accounts,
        };
        Ok(ConfigSpec::with_options(
            region, registry, repository, raw.tags, selection,
        )?)
    }

    /// The optional selection fields.
    pub fn selection(&self) -> &SelectionOptions {
        &self.selection
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The registry (account ID).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository name.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tags; empty means every tagged image.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }
}

/// The first field of a config object whose value has the wrong JSON type.
fn mistyped_field(value: &serde_json::Value) -> Option<ValidationError> {
    use serde_json::Value;
    fn kind(value: &Value) -> &'static str {
        match value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "an object",
        }
    }
    let object = value.as_object()?;
    for field in ["most_recent", "pushed_within_days", "pulled_within_days"] {
        match object.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= u64::from(u32::MAX)) => {}
            Some(Value::Number(_)) => {
                return Some(ValidationError::new(
                    field,
                    "expected a whole number of at least 1",
                ));
            }
            Some(other) => {
                return Some(ValidationError::new(
                    field,
                    format!("expected a whole number, found {}", kind(other)),
                ));
            }
        }
    }
    for field in ["exclude_repositories", "exclude_accounts"] {
        match object.get(field) {
            None => {}
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
            Some(_) => {
                return Some(ValidationError::new(field, "expected a list of strings"));
            }
        }
    }
    for field in ["region", "registry", "repository"] {
        match object.get(field) {
            Some(value) if !value.is_string() => {
                return Some(ValidationError::new(
                    field,
                    format!("expected a string, found {}", kind(value)),
                ));
            }
            _ => {}
        }
    }
    match object.get("tags") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => items.iter().find(|item| !item.is_string()).map(|item| {
            ValidationError::new(
                "tags",
                format!("expected a list of strings, found {} in it", kind(item)),
            )
        }),
        Some(other) => Some(ValidationError::new(
            "tags",
            format!(
                "expected a list of strings (or null), found {}",
                kind(other)
            ),
        )),
    }
}

/// Why a config could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The input is not a JSON object of the expected shape: serde's message
    /// names the line and column, and the field when it is unknown,
    /// duplicated or missing. (A field of the wrong type is
    /// [`ConfigError::Invalid`].)
    #[error("invalid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// A field breaks a rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

impl ConfigError {
    /// The field at fault, if one is known.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid(err) => Some(err.field),
            ConfigError::Json(_) => None,
        }
    }
}

/// A field of a scan config breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {problem}")]
pub struct ValidationError {
    /// The field: `region`, `registry`, `repository` or `tags`.
    pub field: &'static str,
    /// What is wrong and what the rule is.
    pub problem: String,
}

impl ValidationError {
    pub(crate) fn new(field: &'static str, problem: impl Into<String>) -> Self {
        ValidationError {
            field,
            problem: problem.into(),
        }
    }

    pub(crate) fn missing(field: &'static str) -> Self {
        ValidationError::new(field, "the field is required")
    }
}

/// Quotes user input for an error message, bounded so a huge value does not
/// become a huge message.
pub(crate) fn quoted(value: &str) -> String {
    const MAX: usize = 80;
    if value.chars().count() <= MAX {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("{head:?}… ({} characters)", value.chars().count())
    }
}

/// Checks every field of a config with its rule.
fn validate_all(
    region: &str,
    registry: &str,
    repository: &str,
    tags: &[String],
    selection: &SelectionOptions,
) -> Result<(), ValidationError> {
    validate_region(region)?;
    if registry != ORGANIZATION {
        validate_registry(registry).map_err(|err| {
            ValidationError::new(
                "registry",
                format!(
                    "{} (or organization: every account of the AWS Organization)",
                    err.problem
                ),
            )
        })?;
    }
    let pattern = repository.contains('*');
    if pattern {
        Pattern::parse(repository, NameKind::Repository)
            .map_err(|err| ValidationError::new("repository", err.to_string()))?;
    } else {
        validate_repository(repository)?;
    }
    validate_tags(tags)?;
    if !selection.exclude_repositories.is_empty() && !pattern {
        return Err(ValidationError::new(
            "exclude_repositories",
            "excludes repositories from a repository pattern (e.g. prod/*); this config names one repository",
        ));
    }
    if selection.exclude_repositories.len() > 100 {
        return Err(ValidationError::new(
            "exclude_repositories",
            "at most 100 patterns",
        ));
    }
    for excluded in &selection.exclude_repositories {
        Pattern::parse(excluded, NameKind::Repository)
            .map_err(|err| ValidationError::new("exclude_repositories", err.to_string()))?;
    }
    if let Some(n) = selection.most_recent
        && !(1..=MAX_MOST_RECENT).contains(&n)
    {
        return Err(ValidationError::new(
            "most_recent",
            format!("{n} is not from 1 to {MAX_MOST_RECENT}"),
        ));
    }
    for (field, days) in [
        ("pushed_within_days", selection.pushed_within_days),
        ("pulled_within_days", selection.pulled_within_days),
    ] {
        if let Some(days) = days
            && !(1..=MAX_DAYS).contains(&days)
        {
            return Err(ValidationError::new(
                field,
                format!("{days} is not a number of days from 1 to {MAX_DAYS}"),
            ));
        }
    }
    if !selection.exclude_accounts.is_empty() && registry != ORGANIZATION {
        return Err(ValidationError::new(
            "exclude_accounts",
            "excludes accounts from registry organization; this config names one account",
        ));
    }
    if selection.exclude_accounts.len() > 1_000 {
        return Err(ValidationError::new(
            "exclude_accounts",
            "at most 1000 accounts",
        ));
    }
    for account in &selection.exclude_accounts {
        validate_registry(account)
            .map_err(|err| ValidationError::new("exclude_accounts", err.problem))?;
    }
    Ok(())
}

/// AWS region names: `us-west-2`, `eu-central-1`, `us-gov-west-1`,
/// `cn-north-1`, `ap-southeast-3`, `us-isob-east-1`, `eusc-de-east-1`.
pub(crate) fn validate_region(region: &str) -> Result<(), ValidationError> {
    let rule = "an AWS region name such as us-west-2, eu-central-1, us-gov-west-1 or cn-north-1";
    let parts: Vec<&str> = region.split('-').collect();
    let lower = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    let ok = region.len() <= 32
        && parts.len() >= 3
        && (2..=4).contains(&parts[0].len())
        && parts[..parts.len() - 1].iter().all(|p| lower(p))
        && parts
            .last()
            .is_some_and(|n| (1..=2).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "region",
            format!("{} is not {rule}", quoted(region)),
        ))
    }
}

pub(crate) fn validate_registry(registry: &str) -> Result<(), ValidationError> {
    if registry.len() == 12 && registry.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ValidationError::new(
            "registry",
            format!(
                "{} is not a 12-digit AWS account ID such as 123456789012",
                quoted(registry)
            ),
        ))
    }
}

/// ECR's rule: 2–256 characters; `/`-separated segments of lowercase
/// letters and digits, separated inside a segment by single `.`, `_` or `-`.
fn validate_repository(repository: &str) -> Result<(), ValidationError> {
    let rule = "ECR repository names are 2-256 characters: lowercase segments of letters and digits, \
                joined inside a segment by single '.', '_' or '-', and separated by '/'";
    let len = repository.chars().count();
    if !(2..=256).contains(&len) {
        return Err(ValidationError::new(
            "repository",
            format!("{} has {len} characters; {rule}", quoted(repository)),
        ));
    }
    if !repository.split('/').all(valid_repository_segment) {
        return Err(ValidationError::new(
            "repository",
            format!("{} breaks the naming rule; {rule}", quoted(repository)),
        ));
    }
    Ok(())
}

/// `[a-z0-9]+([._-][a-z0-9]+)*`
fn valid_repository_segment(segment: &str) -> bool {
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let bytes = segment.as_bytes();
    let mut previous_was_separator = true;
    for &b in bytes {
        if alnum(b) {
            previous_was_separator = false;
        } else if matches!(b, b'.' | b'_' | b'-') && !previous_was_separator {
            previous_was_separator = true;
        } else {
            return false;
        }
    }
    !bytes.is_empty() && !previous_was_separator
}

/// Whether `digest` is an image digest, `algorithm:hex` (a lowercase
/// algorithm of letters and digits, at most 128 hex digits).
pub fn is_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    !algorithm.is_empty()
        && algorithm.len() <= 32
        && algorithm
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && !hex.is_empty()
        && hex.len() <= 128
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The most tags a config may list: a selection that size is resolved in
/// a few calls, and a larger one is better written as every tagged image
/// (no tags).
pub const MAX_TAGS: usize = 1_000;

/// At most [`MAX_TAGS`]; each by Docker's rule: 1–128 characters of
/// `[A-Za-z0-9_.-]`, not starting with `.` or `-`; and no tag twice.
fn validate_tags(tags: &[String]) -> Result<(), ValidationError> {
    let rule = "Docker tags are 1-128 characters of letters, digits, '_', '.' and '-', \
                not starting with '.' or '-'";
    if tags.len() > MAX_TAGS {
        return Err(ValidationError::new(
            "tags",
            format!(
                "{} tags are listed; a config lists at most {MAX_TAGS} (none selects every tagged image)",
                tags.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(tags.len());
    for tag in tags {
        if tag.contains('*') {
            Pattern::parse(tag, NameKind::Tag)
                .map_err(|err| ValidationError::new("tags", err.to_string()))?;
            if !seen.insert(tag.as_str()) {
                return Err(ValidationError::new(
                    "tags",
                    format!("tag {} is listed twice", quoted(tag)),
                ));
            }
            continue;
        }
        let valid = (1..=128).contains(&tag.len())
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            && !tag.starts_with(['.', '-']);
        if !valid {
            return Err(ValidationError::new(
                "tags",
                format!("tag {} is not valid; {rule}", quoted(tag)),
            ));
        }
        if !seen.insert(tag.as_str()) {
            return Err(ValidationError::new(
                "tags",
                format!("tag {} is listed twice", quoted(tag)),
            ));
        }
    }
    Ok(())
}

fn truncate_to_seconds(time: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_opt(time.timestamp(), 0)
        .single()
        .unwrap_or(time)
}

fn serialize_unix_string<S: Serializer>(
    time: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.timestamp().to_string())
}

fn deserialize_unix<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Seconds {
        Number(i64),
        Text(String),
    }
    let seconds = match Seconds::deserialize(deserializer)? {
        Seconds::Number(n) => n,
        Seconds::Text(text) => text.trim().parse::<i64>().map_err(|_| {
            de::Error::custom(format!(
                "created: expected Unix seconds, found {}",
                quoted(&text)
            ))
        })?,
    };
    Utc.timestamp_opt(seconds, 0)
        .single()
        .ok_or_else(|| de::Error::custom(format!("created: {seconds} is out of range")))
}

fn deserialize_tags<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"id":"6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a","created":"1569927812","region":"us-west-2","registry":"123456789012","repository":"test/ubuntu","tags":["16.04","latest"]}"#;

    #[test]
    fn reads_and_writes_the_samples_json_exactly() {
        let config = ScanConfig::from_stored_json(SAMPLE.as_bytes()).unwrap();
        assert_eq!(config.created.timestamp(), 1569927812);
        assert_eq!(config.tags, ["16.04", "latest"]);
        assert_eq!(String::from_utf8(config.to_json()).unwrap(), SAMPLE);
    }

    #[test]
    fn created_reads_from_a_number_and_tags_from_null_or_absence() {
        let number = r#"{"id":"6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a","created":1569927812,"region":"us-west-2","registry":"123456789012","repository":"amazonlinux","tags":null}"#;
        let config = ScanConfig::from_stored_json(number.as_bytes()).unwrap();
        assert_eq!(config.created.timestamp(), 1569927812);
        assert!(config.all_tags());
        let absent = r#"{"id":"6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a","created":"1","region":"us-west-2","registry":"123456789012","repository":"amazonlinux"}"#;
        assert!(
            ScanConfig::from_stored_json(absent.as_bytes())
                .unwrap()
                .all_tags()
        );
        let bad = r#"{"id":"6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a","created":"yesterday","region":"us-west-2","registry":"123456789012","repository":"amazonlinux"}"#;
        let err = ScanConfig::from_stored_json(bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("created"), "{err}");
    }

    #[test]
    fn create_assigns_id_and_created_and_ignores_the_clients() {
        let spec = ConfigSpec::from_json(
            br#"{"id":"not-a-uuid","created":"0","region":"us-west-2","registry":"123456789012","repository":"test/centos","tags":["7"]}"#,
        )
        .unwrap();
        let now = Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap();
        let a = ScanConfig::create(spec.clone(), now);
        let b = ScanConfig::create(spec, now);
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.get_version_num(), 4);
        assert_eq!(a.created.timestamp(), 1_700_000_000);
        assert_eq!(a.created.timestamp_subsec_nanos(), 0);
        assert_eq!(a.tags, ["7"]);
    }

    fn error_of(json: &str) -> ConfigError {
        ConfigSpec::from_json(json.as_bytes()).unwrap_err()
    }

    #[test]
    fn unknown_fields_are_rejected_by_name() {
        let err = error_of(
            r#"{"region":"us-west-2","registry":"123456789012","repository":"a/b","tag":["x"]}"#,
        );
        assert!(err.to_string().contains("unknown field `tag`"), "{err}");
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let err = error_of(r#"{"region":"us-west-2","repository":"ab"}"#);
        assert_eq!(err.field(), Some("registry"));
        let err = error_of(r#"{"region":"us-west-2","registry":123456789012,"repository":"ab"}"#);
        assert_eq!(
            err.to_string(),
            "invalid registry: expected a string, found a number"
        );
        let err = error_of(
            r#"{"region":"us-west-2","registry":"123456789012","repository":"ab","tags":"latest"}"#,
        );
        assert_eq!(err.field(), Some("tags"));
        let err = error_of(
            r#"{"region":"us-west-2","registry":"123456789012","repository":"ab","tags":["a",1]}"#,
        );
        assert!(err.to_string().contains("found a number in it"), "{err}");
        let err = error_of(
            r#"{"region":"us-west-2","region":"eu-west-1","registry":"123456789012","repository":"ab"}"#,
        );
        assert!(
            err.to_string().contains("duplicate field `region`"),
            "{err}"
        );
        assert!(error_of("[1,2]").to_string().starts_with("invalid JSON"));
        assert!(error_of("{").to_string().starts_with("invalid JSON"));
    }

    #[test]
    fn regions() {
        for ok in [
            "us-west-2",
            "eu-central-1",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-3",
            "us-isob-east-1",
            "eusc-de-east-1",
            "il-central-1",
        ] {
            assert!(validate_region(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "us-west",
            "US-WEST-2",
            "us-west-2a",
            "uswest2",
            "us--west-2",
            "us-west-2/../x",
            "a-west-2",
            "us-west-123",
        ] {
            let err = validate_region(bad).unwrap_err();
            assert_eq!(err.field, "region", "{bad}");
            assert!(err.problem.contains("AWS region"), "{err}");
        }
    }

    #[test]
    fn registries() {
        assert!(validate_registry("123456789012").is_ok());
        for bad in [
            "",
            "12345678901",
            "1234567890123",
            "12345678901a",
            "１23456789012",
        ] {
            assert_eq!(validate_registry(bad).unwrap_err().field, "registry");
        }
    }

    #[test]
    fn repositories() {
        for ok in [
            "ab",
            "test/ubuntu",
            "amazonlinux",
            "a.b_c-d/e1/f-2",
            "x0",
            &"a".repeat(256),
        ] {
            assert!(validate_repository(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "Test/ubuntu",
            "test//ubuntu",
            "/test",
            "test/",
            "a..b",
            "a-",
            "-a",
            "a b",
            "../etc/passwd",
            "a%2Fb",
            "ünïcode",
            &"a".repeat(257),
        ] {
            let err = validate_repository(bad).unwrap_err();
            assert_eq!(err.field, "repository", "{bad}");
            assert!(err.problem.contains("2-256"), "{err}");
        }
    }

    #[test]
    fn tags() {
        assert!(validate_tags(&[]).is_ok());
        assert!(validate_tags(&["16.04".into(), "latest".into(), "v1_2-3".into()]).is_ok());
        assert!(validate_tags(&["A".repeat(128)]).is_ok());
        for bad in [
            "",
            ".hidden",
            "-x",
            "a/b",
            "a:b",
            "tag with space",
            &"a".repeat(129),
        ] {
            let err = validate_tags(&[bad.to_string()]).unwrap_err();
            assert_eq!(err.field, "tags", "{bad}");
        }
        let at_most: Vec<String> = (0..MAX_TAGS).map(|i| format!("v{i}")).collect();
        assert!(validate_tags(&at_most).is_ok());
        let too_many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("v{i}")).collect();
        let err = validate_tags(&too_many).unwrap_err();
        assert_eq!(err.field, "tags");
        assert!(err.problem.contains("at most 1000"), "{}", err.problem);
        let err = validate_tags(&["latest".into(), "latest".into()]).unwrap_err();
        assert!(err.problem.contains("twice"), "{err}");
    }

    #[test]
    fn error_messages_bound_huge_input() {
        let huge = "A".repeat(100_000);
        let err = ConfigSpec::new("us-west-2", "123456789012", huge, Vec::<String>::new())
            .unwrap_err()
            .to_string();
        assert!(err.len() < 500, "{} bytes", err.len());
        assert!(err.contains("100000 characters"), "{err}");
    }
}
