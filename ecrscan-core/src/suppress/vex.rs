//! OpenVEX v0.2.0 documents: rules read from them ([`import`]) and written
//! as them ([`export`]).
//!
//! A statement with status `not_affected` or `fixed` becomes one rule per
//! product (and subcomponent) it names; `affected` and
//! `under_investigation` make none, but like any statement they override
//! an earlier one: for the same vulnerability and product the statement
//! with the latest timestamp (the statement's, else the document's) wins,
//! as in Trivy. Products are matched to images as Trivy and Grype do:
//!
//! | product | scope |
//! |---|---|
//! | `pkg:oci/NAME@sha256:…?repository_url=ACCOUNT.dkr.ecr.REGION.amazonaws.com/PATH` | that digest of that repository (Trivy's form, `PATH` ending in `NAME`, and Grype's, `PATH` without it) |
//! | the same without the digest | every image of the repository |
//! | the same with `tag=T` (and no digest) | the images tagged `T` |
//! | `pkg:oci/NAME@sha256:…` without `repository_url` | that digest, wherever it is |
//! | `ACCOUNT.dkr.ecr.REGION.amazonaws.com/PATH@sha256:…` or `…/PATH:TAG` | that digest, or that tag |
//! | a package URL of another type (`pkg:deb/ubuntu/openssl@3.0.2`) | that package, everywhere |
//! | none (a statement without products) | everywhere |
//!
//! Subcomponents given as package URLs narrow a rule to that package (and
//! version, when the URL has one). Anything else — another registry, a
//! `pkg:oci` URL that names no repository or digest — is reported in
//! [`VexImport::unmatched`], never guessed.
//!
//! OpenVEX has no expiry: an import gives every rule the same one, said by
//! the caller. The reason is the statement's `impact_statement`, else its
//! `status_notes`, else its justification or status.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use packageurl::PackageUrl;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Expiry, Justification, PackageScope, RuleInput, Suppression, SuppressionSpec, VexStatus,
};

/// The `@context` of an OpenVEX v0.2.0 document.
pub const CONTEXT: &str = "https://openvex.dev/ns/v0.2.0";

/// The largest document [`import`] reads: 4 MiB.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// The most statements [`import`] reads from one document.
pub const MAX_STATEMENTS: usize = 10_000;

/// The most rules one import makes.
pub const MAX_RULES: usize = 10_000;

/// Why a document cannot be imported; nothing of it is stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VexError {
    /// Larger than [`MAX_DOCUMENT_BYTES`].
    #[error(
        "the document has {bytes} bytes; an OpenVEX document imported at once has at most {MAX_DOCUMENT_BYTES}"
    )]
    TooLarge {
        /// Its size.
        bytes: usize,
    },
    /// Not JSON.
    #[error("not JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// JSON, but not an OpenVEX document: `at` says where.
    #[error("not an OpenVEX document: {at}: {problem}")]
    Invalid {
        /// Where, e.g. `statements[3].vulnerability`.
        at: String,
        /// What is wrong.
        problem: String,
    },
    /// More statements, or rules, than one import takes.
    #[error("{what} ({count}); one import takes at most {limit}: split the document")]
    TooMany {
        /// What there were too many of.
        what: &'static str,
        /// How many.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A statement makes a rule that breaks a rule's rules.
    #[error("{at}: {error}")]
    Rule {
        /// Where.
        at: String,
        /// What is wrong.
        error: super::SuppressionError,
    },
}

/// A product or subcomponent no image or package of ecrscan's matches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unmatched {
    /// Where, e.g. `statements[2].products[0]`.
    pub at: String,
    /// The vulnerability.
    pub vulnerability: String,
    /// The product as written (cut to 200 characters).
    pub product: String,
    /// Why it matches nothing.
    pub reason: String,
}

/// What an import makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VexImport {
    /// The rules, one per statement and product (and subcomponent); their
    /// ids derive from the document's `@id`, the vulnerability and the
    /// scope, so importing the document again replaces them.
    pub rules: Vec<Suppression>,
    /// Statements that make no rule (`affected`, `under_investigation`),
    /// with what they override.
    pub not_suppressing: usize,
    /// Statements overridden by a later one for the same vulnerability
    /// and product.
    pub overridden: usize,
    /// Products and subcomponents that match nothing.
    pub unmatched: Vec<Unmatched>,
}

const IMPORT_NAMESPACE: Uuid = Uuid::from_u128(0x0b7e_5a3c_29d1_4e66_a1c8_73f2_de90_0005);

fn invalid(at: impl Into<String>, problem: impl Into<String>) -> VexError {
    VexError::Invalid {
        at: at.into(),
        problem: problem.into(),
    }
}

fn cut(text: &str) -> String {
    text.chars().take(200).collect()
}

/// One statement's claim about one target, before overriding.
struct Claim {
    vulnerability: String,
    target: Target,
    status: String,
    justification: Option<Justification>,
    reason: String,
    timestamp: DateTime<Utc>,
    order: usize,
}

/// A place a statement talks about, as a rule's scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Target {
    registry: Option<String>,
    region: Option<String>,
    repository: Option<String>,
    tag: Option<String>,
    digest: Option<String>,
    package: Option<(String, Option<String>)>,
}

impl Target {
    fn everywhere() -> Target {
        Target {
            registry: None,
            region: None,
            repository: None,
            tag: None,
            digest: None,
            package: None,
        }
    }

    fn key(&self, vulnerability: &str) -> String {
        format!("{}\n{self:?}", vulnerability.to_ascii_uppercase())
    }
}

/// Reads an OpenVEX document and makes its rules, each expiring at
/// `expires` and checked as new at `now`. Invalid input is an error and
/// makes nothing; products that match nothing are reported.
pub fn import(bytes: &[u8], expires: Expiry, now: DateTime<Utc>) -> Result<VexImport, VexError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(VexError::TooLarge { bytes: bytes.len() });
    }
    let document: Value = serde_json::from_slice(bytes).map_err(VexError::Json)?;
    let object = document
        .as_object()
        .ok_or_else(|| invalid("the document", "expected a JSON object"))?;
    let context = string(object.get("@context"), "@context")?;
    if !context.starts_with("https://openvex.dev/ns") {
        return Err(invalid(
            "@context",
            format!("{:?} is not an OpenVEX context ({CONTEXT})", cut(context)),
        ));
    }
    let id = string(object.get("@id"), "@id")?.to_owned();
    let author = object.get("author").and_then(Value::as_str).map(cut);
    let document_time = time(object.get("timestamp"), "timestamp")?;
    let statements = object
        .get("statements")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("statements", "expected a list of statements"))?;
    if statements.is_empty() {
        return Err(invalid("statements", "the document has no statement"));
    }
    if statements.len() > MAX_STATEMENTS {
        return Err(VexError::TooMany {
            what: "statements",
            count: statements.len(),
            limit: MAX_STATEMENTS,
        });
    }
    let mut claims: Vec<Claim> = Vec::new();
    let mut unmatched = Vec::new();
    for (index, statement) in statements.iter().enumerate() {
        let at = format!("statements[{index}]");
        read_statement(
            statement,
            &at,
            index,
            document_time,
            &mut claims,
            &mut unmatched,
        )?;
        if claims.len() > MAX_RULES {
            return Err(VexError::TooMany {
                what: "rules from products and subcomponents",
                count: claims.len(),
                limit: MAX_RULES,
            });
        }
    }
    // The latest statement about a vulnerability and a target wins; a tie
    // goes to the later one in the document.
    let mut latest: BTreeMap<String, Claim> = BTreeMap::new();
    let mut overridden = 0;
    for claim in claims {
        let key = claim.target.key(&claim.vulnerability);
        match latest.get(&key) {
            Some(known) if (known.timestamp, known.order) > (claim.timestamp, claim.order) => {
                overridden += 1;
            }
            Some(_) => {
                overridden += 1;
                latest.insert(key, claim);
            }
            None => {
                latest.insert(key, claim);
            }
        }
    }
    let mut rules = Vec::new();
    let mut not_suppressing = 0;
    for claim in latest.into_values() {
        if !matches!(claim.status.as_str(), "not_affected" | "fixed") {
            not_suppressing += 1;
            continue;
        }
        let target = claim.target.clone();
        let key = target.key(&claim.vulnerability);
        let at = format!("statements[{}]", claim.order);
        let spec = SuppressionSpec::new(
            RuleInput {
                vulnerability: claim.vulnerability.clone(),
                registry: target.registry,
                region: target.region,
                repository: target.repository,
                tag: target.tag,
                digest: target.digest,
                package: target
                    .package
                    .map(|(name, version)| PackageScope { name, version }),
                reason: Some(claim.reason),
                expires: Some(expires),
                status: Some(claim.status),
                justification: claim.justification.map(|j| j.as_str().to_owned()),
                author: author.clone(),
                ticket: None,
            },
            now,
        )
        .map_err(|error| VexError::Rule { at, error })?;
        let rule_id = Uuid::new_v5(&IMPORT_NAMESPACE, format!("{id}\n{key}").as_bytes());
        rules.push(spec.with_identity(rule_id, claim.timestamp, format!("openvex:{}", cut(&id))));
    }
    Ok(VexImport {
        rules,
        not_suppressing,
        overridden,
        unmatched,
    })
}

fn string<'a>(value: Option<&'a Value>, at: &str) -> Result<&'a str, VexError> {
    value
        .and_then(Value::as_str)
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| invalid(at, "expected a string"))
}

fn time(value: Option<&Value>, at: &str) -> Result<DateTime<Utc>, VexError> {
    let text = string(value, at)?;
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| invalid(at, format!("{:?} is not an RFC 3339 time", cut(text))))
}

fn read_statement(
    statement: &Value,
    at: &str,
    order: usize,
    document_time: DateTime<Utc>,
    claims: &mut Vec<Claim>,
    unmatched: &mut Vec<Unmatched>,
) -> Result<(), VexError> {
    let statement = statement
        .as_object()
        .ok_or_else(|| invalid(at, "expected a statement object"))?;
    // v0.2.0 writes an object with a name; v0.0.1 wrote the name alone.
    let vulnerability = match statement.get("vulnerability") {
        Some(Value::String(name)) => name.clone(),
        Some(Value::Object(vulnerability)) => string(
            vulnerability.get("name"),
            &format!("{at}.vulnerability.name"),
        )?
        .to_owned(),
        _ => {
            return Err(invalid(
                format!("{at}.vulnerability"),
                "expected an object with a name",
            ));
        }
    };
    let status = string(statement.get("status"), &format!("{at}.status"))?.to_owned();
    if !matches!(
        status.as_str(),
        "not_affected" | "affected" | "fixed" | "under_investigation"
    ) {
        return Err(invalid(
            format!("{at}.status"),
            format!(
                "{:?} is not an OpenVEX status (not_affected, affected, fixed, under_investigation)",
                cut(&status)
            ),
        ));
    }
    let justification = match statement.get("justification") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let text = string(Some(value), &format!("{at}.justification"))?;
            Some(Justification::parse(text).ok_or_else(|| {
                invalid(
                    format!("{at}.justification"),
                    format!("{:?} is not an OpenVEX justification", cut(text)),
                )
            })?)
        }
    };
    let timestamp = match statement.get("timestamp") {
        None | Some(Value::Null) => document_time,
        value => time(value, &format!("{at}.timestamp"))?,
    };
    let text = |field: &str| {
        statement
            .get(field)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    let reason = text("impact_statement")
        .or_else(|| text("status_notes"))
        .unwrap_or_else(|| match justification {
            Some(justification) => format!("OpenVEX: {status}, {}", justification.as_str()),
            None => format!("OpenVEX: {status}"),
        });
    let mut targets = Vec::new();
    match statement.get("products") {
        None | Some(Value::Null) => targets.push(Target::everywhere()),
        Some(Value::Array(products)) if products.is_empty() => targets.push(Target::everywhere()),
        Some(Value::Array(products)) => {
            for (index, product) in products.iter().enumerate() {
                let at = format!("{at}.products[{index}]");
                read_product(product, &at, &vulnerability, &mut targets, unmatched)?;
            }
        }
        Some(_) => {
            return Err(invalid(
                format!("{at}.products"),
                "expected a list of products",
            ));
        }
    }
    for target in targets {
        claims.push(Claim {
            vulnerability: vulnerability.clone(),
            target,
            status: status.clone(),
            justification,
            reason: reason.clone(),
            timestamp,
            order,
        });
    }
    Ok(())
}

/// A component's identifier: its `@id`, else its `identifiers.purl`.
fn component_id<'a>(
    component: &'a serde_json::Map<String, Value>,
    at: &str,
) -> Result<&'a str, VexError> {
    component
        .get("@id")
        .and_then(Value::as_str)
        .or_else(|| {
            component
                .get("identifiers")
                .and_then(|identifiers| identifiers.get("purl"))
                .and_then(Value::as_str)
        })
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| invalid(at, "a product needs an @id or an identifiers.purl"))
}

fn read_product(
    product: &Value,
    at: &str,
    vulnerability: &str,
    targets: &mut Vec<Target>,
    unmatched: &mut Vec<Unmatched>,
) -> Result<(), VexError> {
    let product = product
        .as_object()
        .ok_or_else(|| invalid(at, "expected a product object"))?;
    let id = component_id(product, at)?;
    let mut unmatched_product = |reason: String| {
        unmatched.push(Unmatched {
            at: at.to_owned(),
            vulnerability: vulnerability.to_owned(),
            product: cut(id),
            reason,
        });
    };
    let base = match image_target(id).or_else(|| digest_target(id, product).map(Ok)) {
        Some(Ok(target)) => target,
        Some(Err(reason)) => {
            unmatched_product(reason);
            return Ok(());
        }
        None => match package_target(id) {
            Some(target) => target,
            None => {
                unmatched_product(
                    "neither an image of an Amazon ECR repository nor a package URL".into(),
                );
                return Ok(());
            }
        },
    };
    let subcomponents = match product.get("subcomponents") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.iter().collect(),
        Some(_) => return Err(invalid(format!("{at}.subcomponents"), "expected a list")),
    };
    if subcomponents.is_empty() {
        targets.push(base);
        return Ok(());
    }
    for (index, subcomponent) in subcomponents.into_iter().enumerate() {
        let at = format!("{at}.subcomponents[{index}]");
        let subcomponent = subcomponent
            .as_object()
            .ok_or_else(|| invalid(&at, "expected a subcomponent object"))?;
        let id = component_id(subcomponent, &at)?;
        match package_target(id) {
            Some(package) if base.package.is_none() => targets.push(Target {
                package: package.package,
                ..base.clone()
            }),
            _ => unmatched.push(Unmatched {
                at,
                vulnerability: vulnerability.to_owned(),
                product: cut(id),
                reason: "a subcomponent is a package URL of a package in the image".into(),
            }),
        }
    }
    Ok(())
}

/// An image named by a `pkg:oci` URL or a registry reference: `None` when
/// `id` is neither; an error saying why when it names no image ecrscan
/// can find.
fn image_target(id: &str) -> Option<Result<Target, String>> {
    if id.starts_with("pkg:") {
        let purl = PackageUrl::from_str(id).ok()?;
        if purl.ty() != "oci" {
            return None;
        }
        let qualifiers = purl.qualifiers();
        let digest = purl.version().map(str::to_ascii_lowercase);
        let tag = qualifiers.get("tag").map(|tag| tag.to_string());
        let name = purl.name().to_ascii_lowercase();
        let Some(url) = qualifiers.get("repository_url") else {
            return Some(match digest {
                Some(digest) => Ok(Target {
                    digest: Some(digest),
                    ..Target::everywhere()
                }),
                None => Err(format!(
                    "pkg:oci/{name} has neither a repository_url nor a digest: it names no one repository"
                )),
            });
        };
        let (registry, region, path) = match ecr_repository(url) {
            Ok(parts) => parts,
            Err(reason) => return Some(Err(reason)),
        };
        // Trivy's repository_url ends with the image's name; Grype's stops
        // before it.
        let repository = if path.rsplit('/').next() == Some(name.as_str()) {
            path
        } else {
            format!("{path}/{name}")
        };
        return Some(Ok(Target {
            registry: Some(registry),
            region: Some(region),
            repository: Some(repository),
            tag: if digest.is_none() { tag } else { None },
            digest,
            package: None,
        }));
    }
    if !id.contains(".dkr.ecr.") {
        return None;
    }
    let (location, digest, tag) = match id.split_once('@') {
        Some((location, digest)) => (location, Some(digest.to_ascii_lowercase()), None),
        None => match id.rsplit_once(':') {
            Some((location, tag)) if !tag.contains('/') => (location, None, Some(tag.to_owned())),
            _ => (id, None, None),
        },
    };
    Some(
        ecr_repository(location).map(|(registry, region, repository)| Target {
            registry: Some(registry),
            region: Some(region),
            repository: Some(repository),
            tag,
            digest,
            package: None,
        }),
    )
}

/// An image named by its digest alone: an `@id` that is a digest, or a
/// product whose `hashes` give its `sha-256` (as Grype matches them).
fn digest_target(id: &str, product: &serde_json::Map<String, Value>) -> Option<Target> {
    let digest = if crate::config::is_digest(id) {
        Some(id.to_ascii_lowercase())
    } else {
        product
            .get("hashes")
            .and_then(|hashes| hashes.get("sha-256"))
            .and_then(Value::as_str)
            .map(|hex| format!("sha256:{}", hex.to_ascii_lowercase()))
            .filter(|digest| crate::config::is_digest(digest))
    }?;
    Some(Target {
        digest: Some(digest),
        ..Target::everywhere()
    })
}

/// `ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/PATH` as (account, region,
/// path).
fn ecr_repository(url: &str) -> Result<(String, String, String), String> {
    let url = url
        .trim_start_matches("https://")
        .trim_start_matches("oci://");
    let (host, path) = url
        .split_once('/')
        .ok_or_else(|| format!("{:?} names no repository", cut(url)))?;
    let host = host.to_ascii_lowercase();
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))
        .ok_or_else(|| format!("{:?} is not an Amazon ECR registry", cut(&host)))?;
    let (account, region) = rest
        .split_once(".dkr.ecr.")
        .ok_or_else(|| format!("{:?} is not an Amazon ECR registry", cut(&host)))?;
    let region = region.trim_end_matches(".fips").to_owned();
    Ok((
        account.to_owned(),
        region,
        path.trim_matches('/').to_owned(),
    ))
}

/// A package named by a package URL of a type other than `oci`.
fn package_target(id: &str) -> Option<Target> {
    let purl = PackageUrl::from_str(id).ok()?;
    if purl.ty() == "oci" {
        return None;
    }
    Some(Target {
        package: Some((purl.name().to_owned(), purl.version().map(str::to_owned))),
        ..Target::everywhere()
    })
}

/// A rule [`export`] left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotExported {
    /// The rule.
    pub rule: Uuid,
    /// Why OpenVEX cannot say it.
    pub reason: String,
}

/// The rules active at `now` as one OpenVEX v0.2.0 document by `author`,
/// and the rules OpenVEX cannot say (wildcards, a tag or repository
/// without its registry and region): what [`import`] reads back into the
/// same rules.
pub fn export(
    rules: &[Suppression],
    author: &str,
    now: DateTime<Utc>,
) -> (Value, Vec<NotExported>) {
    let mut statements = Vec::new();
    let mut left_out = Vec::new();
    let mut active: Vec<&Suppression> = rules.iter().filter(|rule| rule.is_active(now)).collect();
    active.sort_by_key(|rule| (rule.created, rule.id));
    for rule in active {
        match statement(rule) {
            Ok(statement) => statements.push(statement),
            Err(reason) => left_out.push(NotExported {
                rule: rule.id,
                reason,
            }),
        }
    }
    let id_name: String = statements
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    let document = json!({
        "@context": CONTEXT,
        "@id": format!("urn:uuid:{}", Uuid::new_v5(&IMPORT_NAMESPACE, id_name.as_bytes())),
        "author": author,
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Secs, true),
        "version": 1,
        "tooling": concat!("ecrscan ", env!("CARGO_PKG_VERSION")),
        "statements": statements,
    });
    (document, left_out)
}

fn statement(rule: &Suppression) -> Result<Value, String> {
    let scope = &rule.scope;
    let mut digest_product: Option<Value> = None;
    for pattern in [&scope.repository, &scope.tag].into_iter().flatten() {
        if pattern.is_wildcard() {
            return Err(format!("{pattern} is a pattern; OpenVEX has no wildcards"));
        }
    }
    let image = match (&scope.registry, &scope.region, &scope.repository) {
        (Some(registry), Some(region), Some(repository)) => {
            let name = repository.as_str().rsplit('/').next().unwrap_or_default();
            let mut purl = PackageUrl::new("oci", name).map_err(|err| err.to_string())?;
            if let Some(digest) = &scope.digest {
                purl.with_version(digest.clone())
                    .map_err(|err| err.to_string())?;
            }
            let host = if region.starts_with("cn-") {
                format!("{registry}.dkr.ecr.{region}.amazonaws.com.cn")
            } else {
                format!("{registry}.dkr.ecr.{region}.amazonaws.com")
            };
            purl.add_qualifier("repository_url", format!("{host}/{repository}"))
                .map_err(|err| err.to_string())?;
            if let (Some(tag), None) = (&scope.tag, &scope.digest) {
                purl.add_qualifier("tag", tag.as_str().to_owned())
                    .map_err(|err| err.to_string())?;
            } else if scope.tag.is_some() {
                return Err("a tag and a digest together; OpenVEX names one or the other".into());
            }
            Some(purl.to_string())
        }
        (None, None, None) if scope.tag.is_none() => match &scope.digest {
            // A digest alone: the product is the digest, with its hash for
            // tools that match images by hash (Grype).
            Some(digest) => {
                let hex = digest.split_once(':').map_or("", |(_, hex)| hex);
                digest_product = Some(json!({"@id": digest, "hashes": {"sha-256": hex}}));
                None
            }
            None => None,
        },
        _ => {
            return Err(
                "a registry, region or repository alone; OpenVEX names an image by all three"
                    .into(),
            );
        }
    };
    let package = scope.package.as_ref().map(|package| {
        let mut purl =
            PackageUrl::new("generic", package.name.clone()).map_err(|err| err.to_string())?;
        if let Some(version) = &package.version {
            purl.with_version(version.clone())
                .map_err(|err| err.to_string())?;
        }
        Ok::<String, String>(purl.to_string())
    });
    let package = package.transpose()?;
    let image = image.map(|image| json!({"@id": image})).or(digest_product);
    let products = match (image, package) {
        (Some(mut image), Some(package)) => {
            image["subcomponents"] = json!([{"@id": package}]);
            json!([image])
        }
        (Some(image), None) => json!([image]),
        (None, Some(package)) => json!([{"@id": package}]),
        (None, None) => json!([]),
    };
    let mut statement = json!({
        "vulnerability": {"name": rule.vulnerability},
        "timestamp": rule.created.to_rfc3339_opts(SecondsFormat::Secs, true),
        "status": rule.status.as_str(),
        "impact_statement": rule.reason,
    });
    if let Some(map) = statement.as_object_mut() {
        if products.as_array().is_some_and(|list| !list.is_empty()) {
            map.insert("products".into(), products);
        }
        if let Some(justification) = rule.justification {
            map.insert("justification".into(), json!(justification.as_str()));
        }
        if rule.status == VexStatus::Fixed {
            map.remove("impact_statement");
            map.insert("status_notes".into(), json!(rule.reason));
        }
    }
    Ok(statement)
}

#[cfg(test)]
#[path = "vex_tests.rs"]
mod tests;
