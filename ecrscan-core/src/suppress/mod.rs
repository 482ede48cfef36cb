//! Suppressions: findings a team has judged — the vulnerable code is not
//! reachable, the package is not in the runtime path, a fix is scheduled —
//! recorded as rules with a reason, a scope and an expiry, and honoured by
//! every summary, gate, feed and notification.
//!
//! A [`Suppression`] names a vulnerability and where it applies: any of a
//! registry, a region, a repository pattern, a tag pattern, a digest and a
//! package (name, optionally version); an empty scope means everywhere. It
//! always has a reason and an expiry (`never` must be said). Rules are
//! judged when a summary, feed, gate or change is produced, with the same
//! `now` as the renderers ([`Suppressions::active_at`]): a rule whose
//! expiry has come no longer applies, and its findings count again.
//!
//! A rule judges *images*, not names: an image (a digest) matches a tag
//! pattern when any of its tags does, so every row of one image shows the
//! same counts whichever tag or config selected it.
//!
//! When several rules cover a finding, the most specific one is shown (the
//! one with the most scope fields, a package version counting as one),
//! then the one that lasts longest, then the oldest.
//!
//! [`vex`] reads and writes rules as OpenVEX v0.2.0 documents.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::{RepositoryRef, ValidationError, quoted, validate_region, validate_registry};
use crate::finding::Finding;
use crate::pattern::{NameKind, Pattern};
use crate::severity::SeverityCounts;

pub mod mark;
pub mod vex;

pub use mark::{Expiry, SuppressionMark};

/// How soon an expiry makes a rule worth a warning: 7 days.
pub const EXPIRES_SOON: Duration = Duration::days(7);

/// The OpenVEX status a rule stands for: only the two that mean "this
/// finding needs no action" suppress anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VexStatus {
    /// The image is not affected by the vulnerability.
    #[default]
    NotAffected,
    /// The vulnerability is fixed in the image (the scanner has not caught up).
    Fixed,
}

impl VexStatus {
    /// `not_affected` or `fixed`.
    pub fn as_str(self) -> &'static str {
        match self {
            VexStatus::NotAffected => "not_affected",
            VexStatus::Fixed => "fixed",
        }
    }
}

/// OpenVEX's justifications for `not_affected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Justification {
    /// The vulnerable component is not in the image.
    ComponentNotPresent,
    /// The component is there, the vulnerable code is not.
    VulnerableCodeNotPresent,
    /// The vulnerable code is never executed.
    VulnerableCodeNotInExecutePath,
    /// An attacker cannot reach the vulnerable code with their input.
    VulnerableCodeCannotBeControlledByAdversary,
    /// Something else in the image mitigates it.
    InlineMitigationsAlreadyExist,
}

impl Justification {
    /// Every justification, in OpenVEX's order.
    pub const ALL: [Justification; 5] = [
        Justification::ComponentNotPresent,
        Justification::VulnerableCodeNotPresent,
        Justification::VulnerableCodeNotInExecutePath,
        Justification::VulnerableCodeCannotBeControlledByAdversary,
        Justification::InlineMitigationsAlreadyExist,
    ];

    /// OpenVEX's spelling, e.g. `vulnerable_code_not_in_execute_path`.
    pub fn as_str(self) -> &'static str {
        match self {
            Justification::ComponentNotPresent => "component_not_present",
            Justification::VulnerableCodeNotPresent => "vulnerable_code_not_present",
            Justification::VulnerableCodeNotInExecutePath => "vulnerable_code_not_in_execute_path",
            Justification::VulnerableCodeCannotBeControlledByAdversary => {
                "vulnerable_code_cannot_be_controlled_by_adversary"
            }
            Justification::InlineMitigationsAlreadyExist => "inline_mitigations_already_exist",
        }
    }

    /// Parses OpenVEX's spelling.
    pub fn parse(text: &str) -> Option<Justification> {
        Justification::ALL
            .into_iter()
            .find(|j| j.as_str() == text.trim())
    }
}

/// A package a rule is limited to: its name, and optionally one version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageScope {
    /// The package's name, e.g. `openssl`.
    pub name: String,
    /// Its version, e.g. `3.0.2`; `None` for every version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl PackageScope {
    /// Parses `NAME[@VERSION]` (a name may start with `@`, as npm's scopes do).
    pub fn parse(text: &str) -> PackageScope {
        match text.rfind('@') {
            Some(at) if at > 0 => PackageScope {
                name: text[..at].to_owned(),
                version: Some(text[at + 1..].to_owned()).filter(|v| !v.is_empty()),
            },
            _ => PackageScope {
                name: text.to_owned(),
                version: None,
            },
        }
    }
}

impl fmt::Display for PackageScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(version) = &self.version {
            write!(f, "@{version}")?;
        }
        Ok(())
    }
}

/// Where a rule applies: every field given must match; none given means
/// everywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    /// The registry (12-digit account ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A repository pattern ([`Pattern`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Pattern>,
    /// A tag pattern: the image has a tag that matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Pattern>,
    /// One image digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// One package (and optionally one version of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageScope>,
}

impl Scope {
    /// Whether the scope is everywhere.
    pub fn is_everywhere(&self) -> bool {
        *self == Scope::default()
    }

    /// How many fields narrow it (a package version counts as one more).
    pub fn specificity(&self) -> u32 {
        [
            self.registry.is_some(),
            self.region.is_some(),
            self.repository.is_some(),
            self.tag.is_some(),
            self.digest.is_some(),
            self.package.is_some(),
            self.package.as_ref().is_some_and(|p| p.version.is_some()),
        ]
        .into_iter()
        .filter(|&narrows| narrows)
        .count() as u32
    }

    /// Whether the scope takes in `image` (everything but the package).
    pub fn takes_image(&self, image: &ImageContext<'_>) -> bool {
        self.registry
            .as_deref()
            .is_none_or(|r| r == image.repository.registry)
            && self
                .region
                .as_deref()
                .is_none_or(|r| r == image.repository.region)
            && self
                .repository
                .as_ref()
                .is_none_or(|p| p.matches(&image.repository.repository))
            && self.digest.as_deref().is_none_or(|d| d == image.digest)
            && self
                .tag
                .as_ref()
                .is_none_or(|p| image.tags.iter().any(|tag| p.matches(tag)))
    }

    /// Whether the scope takes in the package of `finding`.
    pub fn takes_package(&self, finding: &Finding) -> bool {
        let Some(package) = &self.package else {
            return true;
        };
        finding
            .package_name
            .as_deref()
            .is_some_and(|name| name.eq_ignore_ascii_case(&package.name))
            && package
                .version
                .as_deref()
                .is_none_or(|version| finding.package_version.as_deref() == Some(version))
    }

    /// The scope in a few words, e.g. `prod/* tag v1.* package openssl@3.0.2`.
    pub fn describe(&self) -> String {
        if self.is_everywhere() {
            return "everywhere".to_owned();
        }
        let mut parts = Vec::new();
        if let Some(registry) = &self.registry {
            parts.push(format!("registry {registry}"));
        }
        if let Some(region) = &self.region {
            parts.push(format!("region {region}"));
        }
        if let Some(repository) = &self.repository {
            parts.push(format!("repository {repository}"));
        }
        if let Some(tag) = &self.tag {
            parts.push(format!("tag {tag}"));
        }
        if let Some(digest) = &self.digest {
            parts.push(format!("digest {digest}"));
        }
        if let Some(package) = &self.package {
            parts.push(format!("package {package}"));
        }
        parts.join(" ")
    }
}

/// An image as a rule sees it: its repository, digest and tags.
#[derive(Debug, Clone, Copy)]
pub struct ImageContext<'a> {
    /// The repository.
    pub repository: &'a RepositoryRef,
    /// The digest.
    pub digest: &'a str,
    /// Its tags, as far as known.
    pub tags: &'a [String],
}

/// A suppression rule, as stored under `suppressions/<id>.json`:
///
/// ```json
/// {"id":"…","created":"2026-12-04T10:00:00Z","vulnerability":"CVE-2026-1234",
///  "repository":"prod/*","package":{"name":"openssl","version":"3.0.2"},
///  "reason":"not reachable: TLS is terminated at the load balancer",
///  "expires":"2027-01-31T00:00:00Z","status":"not_affected",
///  "justification":"vulnerable_code_not_in_execute_path","ticket":"SEC-123"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// A random (v4) UUID, or for an imported OpenVEX statement one derived
    /// from the document and the statement (so importing again replaces).
    pub id: Uuid,
    /// When the rule was made (for an imported statement, its timestamp).
    #[serde(with = "rfc3339")]
    pub created: DateTime<Utc>,
    /// The vulnerability, e.g. `CVE-2026-1234`, `GHSA-…`, `ALAS-…`.
    pub vulnerability: String,
    /// Where it applies.
    #[serde(flatten)]
    pub scope: Scope,
    /// Why the finding is accepted.
    pub reason: String,
    /// When the rule stops applying.
    pub expires: Expiry,
    /// The OpenVEX status it stands for.
    #[serde(default)]
    pub status: VexStatus,
    /// The OpenVEX justification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<Justification>,
    /// Who made the rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// A ticket or link with more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// Where the rule came from, e.g. `openvex:https://…` for an import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        time: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Secs, true))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|_| serde::de::Error::custom("created: expected an RFC 3339 time"))
    }
}

/// What a suppression in a listing shows besides the rule: whether it
/// applies now.
impl Suppression {
    /// Whether the rule applies at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_after(now)
    }

    /// Whether the rule covers `finding` of `image` (whatever its expiry).
    pub fn covers(&self, image: &ImageContext<'_>, finding: &Finding) -> bool {
        finding.name.eq_ignore_ascii_case(&self.vulnerability)
            && self.scope.takes_package(finding)
            && self.scope.takes_image(image)
    }

    /// The mark a covered finding carries.
    pub fn mark(&self) -> SuppressionMark {
        SuppressionMark {
            rule: self.id,
            reason: self.reason.clone(),
            expires: self.expires,
        }
    }

    /// Parses a stored rule and checks it with the rules of new input
    /// (but an expiry in the past, which only makes it expired).
    pub fn from_stored_json(bytes: &[u8]) -> Result<Suppression, SuppressionError> {
        let rule: Suppression = serde_json::from_slice(bytes).map_err(SuppressionError::Json)?;
        rule.validate()
            .map_err(|err| err.for_rule(&rule.id.to_string()))?;
        Ok(rule)
    }

    /// The rule's JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Every field is a string, a list or a map of them.
        serde_json::to_vec(self).unwrap_or_default()
    }

    fn validate(&self) -> Result<(), ValidationError> {
        validate_vulnerability(&self.vulnerability)?;
        validate_scope(&self.scope)?;
        validate_text("reason", &self.reason, MAX_REASON, true)?;
        if let Some(author) = &self.author {
            validate_text("author", author, 256, true)?;
        }
        if let Some(ticket) = &self.ticket {
            validate_text("ticket", ticket, 2048, true)?;
        }
        if let Some(source) = &self.source {
            validate_text("source", source, 2048, true)?;
        }
        Ok(())
    }
}

/// The longest reason a rule may give.
pub const MAX_REASON: usize = 4096;

fn validate_vulnerability(vulnerability: &str) -> Result<(), ValidationError> {
    let ok = (3..=128).contains(&vulnerability.len())
        && vulnerability
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        && vulnerability
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "vulnerability",
            format!(
                "{} is not a vulnerability id such as CVE-2026-1234, GHSA-xxxx-xxxx-xxxx or ALAS-2026-1234 \
                 (3-128 letters, digits, '-', '_', '.' and ':')",
                quoted(vulnerability)
            ),
        ))
    }
}

fn validate_text(
    field: &'static str,
    text: &str,
    max: usize,
    required: bool,
) -> Result<(), ValidationError> {
    if required && text.trim().is_empty() {
        return Err(ValidationError::missing(field));
    }
    if text.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("it has {} characters; at most {max}", text.chars().count()),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ValidationError::new(
            field,
            "control characters are not allowed",
        ));
    }
    Ok(())
}

fn validate_scope(scope: &Scope) -> Result<(), ValidationError> {
    if let Some(registry) = &scope.registry {
        validate_registry(registry)?;
    }
    if let Some(region) = &scope.region {
        validate_region(region)?;
    }
    if let Some(repository) = &scope.repository {
        Pattern::parse(repository.as_str(), NameKind::Repository)
            .map_err(|err| ValidationError::new("repository", err.to_string()))?;
    }
    if let Some(tag) = &scope.tag {
        Pattern::parse(tag.as_str(), NameKind::Tag)
            .map_err(|err| ValidationError::new("tag", err.to_string()))?;
    }
    if let Some(digest) = &scope.digest
        && !crate::config::is_digest(digest)
    {
        return Err(ValidationError::new(
            "digest",
            format!("{} is not an image digest (sha256:<hex>)", quoted(digest)),
        ));
    }
    if let Some(package) = &scope.package {
        validate_text("package", &package.name, 256, true)?;
        if package.name.chars().any(char::is_whitespace) {
            return Err(ValidationError::new(
                "package",
                format!(
                    "{} has spaces; a package name has none",
                    quoted(&package.name)
                ),
            ));
        }
        if let Some(version) = &package.version {
            validate_text("package", version, 256, true)?;
        }
    }
    Ok(())
}

/// Why a rule could not be read: its JSON, or a field breaking a rule.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SuppressionError {
    /// Not a JSON object of the expected shape (serde names unknown,
    /// duplicate and missing fields).
    #[error("invalid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// A field breaks a rule.
    #[error("{0}")]
    Invalid(ValidationError),
    /// A field of the rule named `rule` (its id, or its vulnerability)
    /// breaks a rule.
    #[error("rule {rule}: {error}")]
    InRule {
        /// The rule.
        rule: String,
        /// The field and what is wrong.
        error: ValidationError,
    },
}

impl SuppressionError {
    /// The field at fault, when one is known.
    pub fn field(&self) -> Option<&str> {
        match self {
            SuppressionError::Invalid(err) | SuppressionError::InRule { error: err, .. } => {
                Some(err.field)
            }
            SuppressionError::Json(_) => None,
        }
    }
}

impl From<ValidationError> for SuppressionError {
    fn from(err: ValidationError) -> SuppressionError {
        SuppressionError::Invalid(err)
    }
}

impl ValidationError {
    fn for_rule(self, rule: &str) -> SuppressionError {
        SuppressionError::InRule {
            rule: rule.chars().take(80).collect(),
            error: self,
        }
    }
}

/// Validated input for a new rule: what a user sends (`POST
/// /suppressions`, `ecrscan suppress add`); [`SuppressionSpec::create`]
/// makes the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionSpec {
    rule: Suppression,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    vulnerability: Option<String>,
    registry: Option<String>,
    region: Option<String>,
    repository: Option<String>,
    tag: Option<String>,
    digest: Option<String>,
    package: Option<RawPackage>,
    reason: Option<String>,
    expires: Option<String>,
    status: Option<String>,
    justification: Option<String>,
    author: Option<String>,
    ticket: Option<String>,
    #[serde(default, rename = "id")]
    _id: Option<IgnoredAny>,
    #[serde(default, rename = "created")]
    _created: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawPackage {
    Text(String),
    Object(PackageScope),
}

/// The fields of a new rule, as a user gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleInput {
    /// The vulnerability id.
    pub vulnerability: String,
    /// Where it applies.
    pub registry: Option<String>,
    /// The region.
    pub region: Option<String>,
    /// A repository pattern.
    pub repository: Option<String>,
    /// A tag pattern.
    pub tag: Option<String>,
    /// A digest.
    pub digest: Option<String>,
    /// `NAME[@VERSION]`.
    pub package: Option<PackageScope>,
    /// Why.
    pub reason: Option<String>,
    /// Until when: required.
    pub expires: Option<Expiry>,
    /// `not_affected` (default) or `fixed`.
    pub status: Option<String>,
    /// An OpenVEX justification.
    pub justification: Option<String>,
    /// Who.
    pub author: Option<String>,
    /// A ticket.
    pub ticket: Option<String>,
}

impl SuppressionSpec {
    /// Checks every field of `input`, new at `now`: the error names the
    /// field and the rule. The expiry is required and must lie ahead.
    pub fn new(input: RuleInput, now: DateTime<Utc>) -> Result<SuppressionSpec, SuppressionError> {
        let vulnerability = input.vulnerability.trim().to_owned();
        validate_vulnerability(&vulnerability)?;
        let name = vulnerability.clone();
        let in_rule = |err: ValidationError| err.for_rule(&name);
        let reason = input
            .reason
            .ok_or_else(|| in_rule(ValidationError::missing("reason")))?;
        let expires = input.expires.ok_or_else(|| {
            in_rule(ValidationError::new(
                "expires",
                "the field is required: a date (2027-01-31), a time (RFC 3339), or never said explicitly",
            ))
        })?;
        if !expires.is_after(now) {
            return Err(in_rule(ValidationError::new(
                "expires",
                format!("{expires} is not in the future"),
            )));
        }
        let status = match input.status.as_deref().map(str::trim) {
            None | Some("not_affected") => VexStatus::NotAffected,
            Some("fixed") => VexStatus::Fixed,
            Some(other) => {
                return Err(in_rule(ValidationError::new(
                    "status",
                    format!(
                        "{} does not suppress; a rule's status is not_affected (the default) or fixed",
                        quoted(other)
                    ),
                )));
            }
        };
        let justification = input
            .justification
            .map(|text| {
                Justification::parse(&text).ok_or_else(|| {
                    in_rule(ValidationError::new(
                        "justification",
                        format!(
                            "{} is not an OpenVEX justification: one of {}",
                            quoted(&text),
                            Justification::ALL.map(Justification::as_str).join(", ")
                        ),
                    ))
                })
            })
            .transpose()?;
        let pattern = |text: Option<String>, kind: NameKind, field: &'static str| {
            text.map(|text| {
                Pattern::parse(&text, kind)
                    .map_err(|err| in_rule(ValidationError::new(field, err.to_string())))
            })
            .transpose()
        };
        let scope = Scope {
            registry: input.registry,
            region: input.region,
            repository: pattern(input.repository, NameKind::Repository, "repository")?,
            tag: pattern(input.tag, NameKind::Tag, "tag")?,
            digest: input.digest,
            package: input.package,
        };
        let rule = Suppression {
            id: Uuid::nil(),
            created: now,
            vulnerability,
            scope,
            reason,
            expires,
            status,
            justification,
            author: input.author,
            ticket: input.ticket,
            source: None,
        };
        rule.validate().map_err(in_rule)?;
        Ok(SuppressionSpec { rule })
    }

    /// Parses and checks a JSON object such as `POST /suppressions` takes:
    /// the rule's fields but `id`, `created` and `source` (`id` and
    /// `created`, if sent, are ignored), `package` as `"NAME[@VERSION]"` or
    /// `{"name","version"}`, and `expires` as a date, a time or `never`.
    pub fn from_json(
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> Result<SuppressionSpec, SuppressionError> {
        let raw: RawSpec = serde_json::from_slice(bytes).map_err(SuppressionError::Json)?;
        let vulnerability = raw
            .vulnerability
            .ok_or(ValidationError::missing("vulnerability"))?;
        let expires = raw
            .expires
            .map(|text| {
                Expiry::parse(&text).ok_or_else(|| {
                    ValidationError::new(
                        "expires",
                        format!(
                            "{} is not a date (2027-01-31), an RFC 3339 time or never",
                            quoted(&text)
                        ),
                    )
                    .for_rule(&vulnerability)
                })
            })
            .transpose()?;
        SuppressionSpec::new(
            RuleInput {
                vulnerability,
                registry: raw.registry,
                region: raw.region,
                repository: raw.repository,
                tag: raw.tag,
                digest: raw.digest,
                package: raw.package.map(|package| match package {
                    RawPackage::Text(text) => PackageScope::parse(&text),
                    RawPackage::Object(package) => package,
                }),
                reason: raw.reason,
                expires,
                status: raw.status,
                justification: raw.justification,
                author: raw.author,
                ticket: raw.ticket,
            },
            now,
        )
    }

    /// The rule, with a new random id and `created` (whole seconds).
    pub fn create(self) -> Suppression {
        let mut rule = self.rule;
        rule.id = Uuid::new_v4();
        rule.created = Utc
            .timestamp_opt(rule.created.timestamp(), 0)
            .single()
            .unwrap_or(rule.created);
        rule
    }

    /// The rule as it would be made, with `id` and `source` given (an
    /// import's derived id and its document).
    pub fn with_identity(self, id: Uuid, created: DateTime<Utc>, source: String) -> Suppression {
        let mut rule = self.rule;
        rule.id = id;
        rule.created = created;
        rule.source = Some(source);
        rule
    }
}

/// The rules that apply at one `now`, indexed by vulnerability: what
/// summaries, feeds, gates and changes are judged by.
///
/// It keeps the expired rules too, to call them out
/// ([`Suppressions::warnings`]).
#[derive(Debug, Clone, Default)]
pub struct Suppressions {
    now: Option<DateTime<Utc>>,
    all: Vec<Arc<Suppression>>,
    by_vulnerability: HashMap<String, Vec<Arc<Suppression>>>,
    count: usize,
}

impl Suppressions {
    /// No rules.
    pub fn none() -> Suppressions {
        Suppressions::default()
    }

    /// The rules of `rules` that apply at `now`, each vulnerability's in
    /// order of precedence.
    pub fn active_at(
        rules: impl IntoIterator<Item = Suppression>,
        now: DateTime<Utc>,
    ) -> Suppressions {
        let all: Vec<Arc<Suppression>> = rules.into_iter().map(Arc::new).collect();
        let mut by_vulnerability: HashMap<String, Vec<Arc<Suppression>>> = HashMap::new();
        let mut count = 0;
        for rule in all.iter().filter(|rule| rule.is_active(now)) {
            count += 1;
            by_vulnerability
                .entry(rule.vulnerability.to_ascii_uppercase())
                .or_default()
                .push(Arc::clone(rule));
        }
        for rules in by_vulnerability.values_mut() {
            rules.sort_by(|a, b| {
                b.scope
                    .specificity()
                    .cmp(&a.scope.specificity())
                    .then_with(|| match (a.expires, b.expires) {
                        (Expiry::Never, Expiry::Never) => std::cmp::Ordering::Equal,
                        (Expiry::Never, _) => std::cmp::Ordering::Less,
                        (_, Expiry::Never) => std::cmp::Ordering::Greater,
                        (Expiry::At(x), Expiry::At(y)) => y.cmp(&x),
                    })
                    .then_with(|| a.created.cmp(&b.created))
                    .then_with(|| a.id.cmp(&b.id))
            });
        }
        Suppressions {
            now: Some(now),
            all,
            by_vulnerability,
            count,
        }
    }

    /// Every rule given, expired ones included, in the order given.
    pub fn all(&self) -> impl Iterator<Item = &Suppression> {
        self.all.iter().map(Arc::as_ref)
    }

    /// The rules worth a look ([`stale_rules`]) when `matched` says how
    /// many findings each rule covered.
    pub fn warnings(&self, matched: &BTreeMap<Uuid, u64>) -> Vec<SuppressionWarning> {
        let Some(now) = self.now else {
            return Vec::new();
        };
        let rules: Vec<Suppression> = self.all().cloned().collect();
        stale_rules(&rules, matched, now)
    }

    /// Whether no rule applies.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How many rules apply.
    pub fn len(&self) -> usize {
        self.count
    }

    /// The `now` they were judged at.
    pub fn now(&self) -> Option<DateTime<Utc>> {
        self.now
    }

    /// The rule that covers `finding` of `image`, if any.
    pub fn rule_for(&self, image: &ImageContext<'_>, finding: &Finding) -> Option<&Suppression> {
        if self.count == 0 {
            return None;
        }
        self.by_vulnerability
            .get(&finding.name.to_ascii_uppercase())?
            .iter()
            .map(Arc::as_ref)
            .find(|rule| rule.covers(image, finding))
    }

    /// The vulnerabilities some rule names (upper case): the only findings
    /// a summary needs to judge.
    pub fn vulnerabilities(&self) -> HashSet<String> {
        self.by_vulnerability.keys().cloned().collect()
    }

    /// Judges the findings of one image: the suppressed ones are taken out
    /// of `findings` (or, with `keep`, marked with their rule and left in),
    /// and their counts returned with each rule's share.
    pub fn judge(
        &self,
        image: &ImageContext<'_>,
        findings: &mut Vec<Finding>,
        keep: bool,
    ) -> Judged {
        let mut judged = Judged::default();
        if self.is_empty() {
            return judged;
        }
        findings.retain_mut(|finding| match self.rule_for(image, finding) {
            Some(rule) => {
                judged.counts.add(finding.severity, 1);
                *judged.by_rule.entry(rule.id).or_default() += 1;
                if keep {
                    finding.suppressed = Some(rule.mark());
                }
                keep
            }
            None => true,
        });
        judged
    }
}

/// What judging one image's findings found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Judged {
    /// The suppressed findings per severity.
    pub counts: SeverityCounts,
    /// How many findings each rule covered.
    pub by_rule: BTreeMap<Uuid, u64>,
}

/// Why a rule is worth a look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Staleness {
    /// Its expiry has come: its findings count again. Renew it or remove it.
    Expired,
    /// It expires within [`EXPIRES_SOON`].
    ExpiresSoon,
    /// It covered no finding in the latest complete results: the image was
    /// fixed, or the rule never matched.
    MatchedNothing,
}

impl Staleness {
    /// `expired`, `expires_soon` or `matched_nothing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Staleness::Expired => "expired",
            Staleness::ExpiresSoon => "expires_soon",
            Staleness::MatchedNothing => "matched_nothing",
        }
    }
}

/// A rule worth a look, with a line for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressionWarning {
    /// The rule.
    pub rule: Uuid,
    /// Its vulnerability.
    pub vulnerability: String,
    /// Why.
    pub kind: Staleness,
    /// Its expiry.
    pub expires: Expiry,
    /// The warning in words.
    pub message: String,
}

/// The rules of `rules` worth a look at `now`: expired ones, ones expiring
/// within [`EXPIRES_SOON`], and active ones `matched` (findings covered per
/// rule, in the latest complete results) shows covering nothing. Ordered
/// by kind, then expiry, then vulnerability.
pub fn stale_rules(
    rules: &[Suppression],
    matched: &BTreeMap<Uuid, u64>,
    now: DateTime<Utc>,
) -> Vec<SuppressionWarning> {
    let mut warnings = Vec::new();
    for rule in rules {
        let printable = crate::render::text::printable(&rule.vulnerability);
        let (kind, message) = if !rule.is_active(now) {
            (
                Staleness::Expired,
                format!(
                    "suppression {} of {printable} expired at {}: its findings count again",
                    rule.id, rule.expires
                ),
            )
        } else if rule.expires.at().is_some_and(|at| at - now <= EXPIRES_SOON) {
            (
                Staleness::ExpiresSoon,
                format!(
                    "suppression {} of {printable} expires at {}",
                    rule.id, rule.expires
                ),
            )
        } else if matched.get(&rule.id).copied().unwrap_or(0) == 0 {
            (
                Staleness::MatchedNothing,
                format!(
                    "suppression {} of {printable} ({}) covers no finding in the latest results",
                    rule.id,
                    rule.scope.describe()
                ),
            )
        } else {
            continue;
        };
        warnings.push(SuppressionWarning {
            rule: rule.id,
            vulnerability: rule.vulnerability.clone(),
            kind,
            expires: rule.expires,
            message,
        });
    }
    warnings.sort_by(|a, b| {
        (a.kind as u8)
            .cmp(&(b.kind as u8))
            .then_with(|| a.expires.at().cmp(&b.expires.at()))
            .then_with(|| a.vulnerability.cmp(&b.vulnerability))
    });
    warnings
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
