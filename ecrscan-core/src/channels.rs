//! Notification channels: where changes are sent — a signed webhook, a
//! Slack incoming webhook, an SNS topic or an EventBridge bus.
//!
//! Channels are kept in the store under `channels/<id>.json`. A channel
//! never holds a secret: a webhook's signing secret is a [`SecretRef`]
//! (`env:NAME`, `file:PATH` or a Secrets Manager ARN), read when sending.
//! Channels are created from the CLI only, never through the HTTP API, so
//! nobody with API access can make ecrscan send to an address of their
//! choosing.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::severity::Severity;

/// Where a webhook's signing secret is read from when sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable of the sending process.
    Env(String),
    /// A file (its content, trimmed).
    File(String),
    /// An AWS Secrets Manager secret, by ARN.
    SecretsManager(String),
}

/// A channel that cannot be used, naming the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {problem}")]
pub struct InvalidChannel {
    /// The field, e.g. `url`.
    pub field: &'static str,
    /// What is wrong.
    pub problem: String,
}

fn invalid(field: &'static str, problem: impl Into<String>) -> InvalidChannel {
    InvalidChannel {
        field,
        problem: problem.into(),
    }
}

/// A value for a message, cut to a length a person can read.
fn shown(value: &str) -> String {
    let cut: String = value.chars().take(120).collect();
    format!("{cut:?}")
}

impl FromStr for SecretRef {
    type Err = InvalidChannel;

    fn from_str(value: &str) -> Result<SecretRef, InvalidChannel> {
        let rule = "a secret reference is env:NAME, file:PATH or a Secrets Manager ARN \
                    (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME); the secret itself is never stored";
        if let Some(name) = value.strip_prefix("env:") {
            let valid = !name.is_empty()
                && name.len() <= 256
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !name.as_bytes()[0].is_ascii_digit();
            return if valid {
                Ok(SecretRef::Env(name.to_owned()))
            } else {
                Err(invalid(
                    "secret",
                    format!(
                        "{} is not an environment variable name; {rule}",
                        shown(value)
                    ),
                ))
            };
        }
        if let Some(path) = value.strip_prefix("file:") {
            return if !path.is_empty() && path.len() <= 4096 && !path.contains('\0') {
                Ok(SecretRef::File(path.to_owned()))
            } else {
                Err(invalid(
                    "secret",
                    format!("{} is not a file path; {rule}", shown(value)),
                ))
            };
        }
        if is_arn(value, "secretsmanager", |resource| {
            resource.starts_with("secret:")
        }) {
            return Ok(SecretRef::SecretsManager(value.to_owned()));
        }
        // Not shown: it may be the secret itself, given by mistake.
        Err(invalid(
            "secret",
            format!(
                "the value given is not a reference (not shown, in case it is the secret); {rule}"
            ),
        ))
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "env:{name}"),
            SecretRef::File(path) => write!(f, "file:{path}"),
            SecretRef::SecretsManager(arn) => f.write_str(arn),
        }
    }
}

impl Serialize for SecretRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<SecretRef, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` with a 12-digit account
/// and a resource `resource_ok` accepts.
fn is_arn(value: &str, service: &str, resource_ok: impl Fn(&str) -> bool) -> bool {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let [arn, partition, arn_service, region, account, resource] = parts[..] else {
        return false;
    };
    arn == "arn"
        && matches!(partition, "aws" | "aws-cn" | "aws-us-gov")
        && arn_service == service
        && !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !resource.is_empty()
        && value.len() <= 2048
        && resource.bytes().all(|b| b.is_ascii_graphic())
        && resource_ok(resource)
}

/// Whether `url` is https, or http to a loopback address (a local receiver).
fn check_webhook_url(
    url: &str,
    field: &'static str,
    https_host: Option<&str>,
) -> Result<(), InvalidChannel> {
    let parsed = url::Url::parse(url)
        .map_err(|err| invalid(field, format!("{} is not a URL: {err}", shown(url))))?;
    if url.len() > 2048 {
        return Err(invalid(field, "longer than 2048 characters"));
    }
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(domain)) => domain == "localhost",
        None => false,
    };
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(invalid(
                field,
                format!(
                    "{} must be https (http only to a loopback address)",
                    shown(url)
                ),
            ));
        }
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            field,
            "credentials do not belong in the URL; use --secret",
        ));
    }
    if let Some(host) = https_host
        && !(loopback || parsed.host_str() == Some(host))
    {
        return Err(invalid(
            field,
            format!("{} is not a URL on {host}", shown(url)),
        ));
    }
    Ok(())
}

/// Where a channel sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target {
    /// A CloudEvents 1.0 JSON body, signed per Standard Webhooks.
    Webhook {
        /// The receiver's URL (https, or http to loopback).
        url: String,
        /// Where the `whsec_…` signing secret is read from.
        secret: SecretRef,
    },
    /// A Slack incoming webhook.
    Slack {
        /// `https://hooks.slack.com/…`.
        url: String,
    },
    /// An SNS topic: `Publish` of the CloudEvent.
    Sns {
        /// The topic's ARN.
        topic_arn: String,
    },
    /// An EventBridge bus: `PutEvents`.
    Eventbridge {
        /// The bus's name or ARN; `None`: the default bus.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bus: Option<String>,
    },
}

impl Target {
    /// Checks the target's fields.
    pub fn validate(&self) -> Result<(), InvalidChannel> {
        match self {
            Target::Webhook { url, .. } => check_webhook_url(url, "url", None),
            Target::Slack { url } => check_webhook_url(url, "url", Some("hooks.slack.com")),
            Target::Sns { topic_arn } => {
                let ok = is_arn(topic_arn, "sns", |name| {
                    name.len() <= 256
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
                if ok {
                    Ok(())
                } else {
                    Err(invalid(
                        "topic_arn",
                        format!(
                            "{} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
                            shown(topic_arn)
                        ),
                    ))
                }
            }
            Target::Eventbridge { bus: None } => Ok(()),
            Target::Eventbridge { bus: Some(bus) } => {
                let name_ok = |name: &str| {
                    (1..=256).contains(&name.len())
                        && name.bytes().all(|b| {
                            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/')
                        })
                };
                let ok = if bus.starts_with("arn:") {
                    is_arn(bus, "events", |resource| {
                        resource.strip_prefix("event-bus/").is_some_and(name_ok)
                    })
                } else {
                    name_ok(bus)
                };
                if ok {
                    Ok(())
                } else {
                    Err(invalid(
                        "bus",
                        format!("{} is not an event bus name or ARN", shown(bus)),
                    ))
                }
            }
        }
    }

    /// `webhook`, `slack`, `sns` or `eventbridge`.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Webhook { .. } => "webhook",
            Target::Slack { .. } => "slack",
            Target::Sns { .. } => "sns",
            Target::Eventbridge { .. } => "eventbridge",
        }
    }

    /// Where it sends, for listings; a Slack URL (itself a credential) is cut
    /// to its host.
    pub fn destination(&self) -> String {
        match self {
            Target::Webhook { url, .. } => url.clone(),
            Target::Slack { .. } => "https://hooks.slack.com/…".to_owned(),
            Target::Sns { topic_arn } => topic_arn.clone(),
            Target::Eventbridge { bus } => bus.clone().unwrap_or_else(|| "default".to_owned()),
        }
    }
}

/// The default minimum severity of a channel: HIGH.
pub const DEFAULT_MIN_SEVERITY: Severity = Severity::High;

fn default_min_severity() -> Severity {
    DEFAULT_MIN_SEVERITY
}

/// A notification channel, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    /// A random (v4) UUID, assigned on creation.
    pub id: Uuid,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// Where it sends.
    #[serde(flatten)]
    pub target: Target,
    /// A change is sent when it holds a new or raised finding at or above this.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Also send changes that only fix findings.
    #[serde(default)]
    pub include_fixed: bool,
}

impl Channel {
    /// The channel as shown to people and API clients: a Slack URL, itself
    /// a credential, is cut to `https://hooks.slack.com/…`; a webhook's
    /// secret is only a reference anyway.
    pub fn redacted(&self) -> Channel {
        let mut shown = self.clone();
        if let Target::Slack { url } = &mut shown.target {
            *url = self.target.destination();
        }
        shown
    }

    /// A new channel, checked, with a new id, created at `now`.
    pub fn create(
        target: Target,
        min_severity: Severity,
        include_fixed: bool,
        now: DateTime<Utc>,
    ) -> Result<Channel, InvalidChannel> {
        target.validate()?;
        Ok(Channel {
            id: Uuid::new_v4(),
            created: now,
            target,
            min_severity,
            include_fixed,
        })
    }

    /// Parses a stored channel and checks it as on creation.
    pub fn from_stored_json(bytes: &[u8]) -> Result<Channel, InvalidChannel> {
        let channel: Channel = serde_json::from_slice(bytes)
            .map_err(|err| invalid("channel", format!("not a channel: {err}")))?;
        channel.target.validate()?;
        Ok(channel)
    }

    /// Whether `change` is sent to this channel: it has a new, resurfaced
    /// or raised finding at or above the minimum severity, or (with
    /// `include_fixed`) a fixed one. Baselines are never sent, nor findings
    /// a suppression rule covers.
    pub fn wants(&self, change: &crate::changes::Change) -> bool {
        if change.kind == crate::changes::ChangeKind::Baseline {
            return false;
        }
        let raised = change
            .severity_changed
            .iter()
            .any(|c| c.to > c.from && c.to.is_at_least(self.min_severity));
        let new = change
            .new
            .iter()
            .chain(&change.resurfaced)
            .any(|f| f.severity.is_at_least(self.min_severity));
        let fixed = self.include_fixed
            && change
                .fixed
                .iter()
                .any(|f| f.severity.is_at_least(self.min_severity));
        raised || new || fixed
    }
}

#[cfg(test)]
#[path = "channels_tests.rs"]
mod tests;
