//! What a finding covered by a suppression rule carries, and when a rule
//! stops applying: kept apart from the rules so that a
//! [`Finding`](crate::finding::Finding) can carry its mark.

use std::fmt;

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::config::quoted;

/// When a rule stops applying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// At this time (a date means its start, 00:00 UTC).
    At(DateTime<Utc>),
    /// Never: said explicitly, never assumed.
    Never,
}

impl Expiry {
    /// Parses `never`, a date (`2027-01-31`: its start, 00:00 UTC) or an
    /// RFC 3339 time.
    pub fn parse(text: &str) -> Option<Expiry> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("never") {
            return Some(Expiry::Never);
        }
        if let Ok(time) = DateTime::parse_from_rfc3339(text) {
            return Some(Expiry::At(time.with_timezone(&Utc)));
        }
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
        Some(Expiry::At(
            Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?),
        ))
    }

    /// Whether the rule still applies at `now`: until its time, not at it.
    pub fn is_after(self, now: DateTime<Utc>) -> bool {
        match self {
            Expiry::Never => true,
            Expiry::At(at) => now < at,
        }
    }

    /// The time, or `None` for never.
    pub fn at(self) -> Option<DateTime<Utc>> {
        match self {
            Expiry::At(at) => Some(at),
            Expiry::Never => None,
        }
    }
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expiry::Never => f.write_str("never"),
            Expiry::At(at) => f.write_str(&at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        }
    }
}

impl Serialize for Expiry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Expiry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Expiry, D::Error> {
        let text = String::deserialize(deserializer)?;
        Expiry::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expires: {} is not a date (2027-01-31), an RFC 3339 time or never",
                quoted(&text)
            ))
        })
    }
}

/// What a finding covered by a rule carries in feeds and JSON findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressionMark {
    /// The rule's id.
    pub rule: Uuid,
    /// The rule's reason.
    pub reason: String,
    /// When the rule stops applying.
    pub expires: Expiry,
}
