//! Finding severities as ECR and Amazon Inspector report them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The severity of a finding.
///
/// The order is by severity, `Critical` the greatest and `Untriaged` the
/// least (`Critical > High > Medium > Low > Informational > Undefined >
/// Untriaged`), so sorting a list in *descending* order (or iterating
/// [`Severity::ALL`]) puts the most severe first. `Untriaged` is what Amazon
/// Inspector reports before it has rated a vulnerability; it is ranked last
/// because nothing is known about it yet.
///
/// ```
/// use ecrscan_core::Severity;
/// assert!(Severity::Critical > Severity::High);
/// assert_eq!("high".parse::<Severity>().unwrap(), Severity::High);
/// assert!(Severity::Critical.is_at_least(Severity::High));
/// assert!(!Severity::Low.is_at_least(Severity::High));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// `CRITICAL`
    Critical,
    /// `HIGH`
    High,
    /// `MEDIUM`
    Medium,
    /// `LOW`
    Low,
    /// `INFORMATIONAL`
    Informational,
    /// `UNDEFINED`: ECR could not rate the finding.
    Undefined,
    /// `UNTRIAGED`: Amazon Inspector has not rated the finding yet.
    Untriaged,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 7] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Informational,
        Severity::Undefined,
        Severity::Untriaged,
    ];

    /// ECR's name for the severity, e.g. `"HIGH"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Informational => "INFORMATIONAL",
            Severity::Undefined => "UNDEFINED",
            Severity::Untriaged => "UNTRIAGED",
        }
    }

    /// 0 for the most severe, increasing as severity falls.
    fn rank(self) -> u8 {
        match self {
            Severity::Critical => 0,
            Severity::High => 1,
            Severity::Medium => 2,
            Severity::Low => 3,
            Severity::Informational => 4,
            Severity::Undefined => 5,
            Severity::Untriaged => 6,
        }
    }

    /// Whether `self` is `minimum` or more severe.
    pub fn is_at_least(self, minimum: Severity) -> bool {
        self >= minimum
    }
}

impl Ord for Severity {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.rank().cmp(&self.rank())
    }
}

impl PartialOrd for Severity {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a string that names no severity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown severity {:?}: expected one of CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, UNDEFINED, UNTRIAGED",
    self.0.chars().take(40).collect::<String>()
)]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;

    /// Parses ECR's names, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|severity| severity.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownSeverity(s.to_owned()))
    }
}

/// Finding counts per severity. Only non-zero counts are kept, so the JSON
/// form (`{"HIGH": 2, "LOW": 1}`) lists only severities that occur (a zero
/// read back, e.g. from a hand-edited record, is dropped). Iteration is
/// most severe first. Sums saturate: a count can be huge, never wrong in
/// sign or wrapped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SeverityCounts(BTreeMap<SeverityKey, u64>);

impl<'de> Deserialize<'de> for SeverityCounts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let counts = BTreeMap::<SeverityKey, u64>::deserialize(deserializer)?;
        Ok(counts
            .into_iter()
            .map(|(key, count)| (key.0, count))
            .collect())
    }
}

/// Orders the map most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
struct SeverityKey(Severity);

impl Ord for SeverityKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.cmp(&self.0)
    }
}

impl PartialOrd for SeverityKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl SeverityCounts {
    /// No findings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `count` findings of `severity` (saturating).
    pub fn add(&mut self, severity: Severity, count: u64) {
        if count > 0 {
            let known = self.0.entry(SeverityKey(severity)).or_insert(0);
            *known = known.saturating_add(count);
        }
    }

    /// The counts less `other`'s, severity by severity, none below zero.
    pub fn without(&self, other: &SeverityCounts) -> SeverityCounts {
        self.iter()
            .map(|(severity, count)| (severity, count.saturating_sub(other.get(severity))))
            .collect()
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &SeverityCounts) {
        for (severity, count) in other.iter() {
            self.add(severity, count);
        }
    }

    /// The count of `severity` (0 if none).
    pub fn get(&self, severity: Severity) -> u64 {
        self.0.get(&SeverityKey(severity)).copied().unwrap_or(0)
    }

    /// The non-zero counts, most severe first.
    pub fn iter(&self) -> impl Iterator<Item = (Severity, u64)> + '_ {
        self.0.iter().map(|(key, count)| (key.0, *count))
    }

    /// The sum of all counts (saturating).
    pub fn total(&self) -> u64 {
        self.0
            .values()
            .fold(0u64, |total, count| total.saturating_add(*count))
    }

    /// Whether there is no finding at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The most severe severity with a finding.
    pub fn highest(&self) -> Option<Severity> {
        self.0
            .iter()
            .find(|(_, count)| **count > 0)
            .map(|(key, _)| key.0)
    }
}

impl FromIterator<(Severity, u64)> for SeverityCounts {
    fn from_iter<T: IntoIterator<Item = (Severity, u64)>>(iter: T) -> Self {
        let mut counts = SeverityCounts::new();
        for (severity, count) in iter {
            counts.add(severity, count);
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_edited_counts_neither_overflow_nor_invent_a_severity() {
        let counts: SeverityCounts =
            serde_json::from_str(r#"{"CRITICAL": 0, "HIGH": 18446744073709551615, "LOW": 5}"#)
                .unwrap();
        assert_eq!(
            counts.highest(),
            Some(Severity::High),
            "a zero is no finding"
        );
        assert_eq!(counts.get(Severity::Critical), 0);
        assert_eq!(counts.total(), u64::MAX, "saturates instead of wrapping");
        let mut more = counts.clone();
        more.add(Severity::High, 10);
        assert_eq!(more.get(Severity::High), u64::MAX);
        assert_eq!(
            serde_json::to_string(&counts).unwrap(),
            r#"{"HIGH":18446744073709551615,"LOW":5}"#
        );
        let only_zero: SeverityCounts = serde_json::from_str(r#"{"CRITICAL": 0}"#).unwrap();
        assert!(only_zero.is_empty());
        assert_eq!(only_zero.highest(), None);
        let fewer = more.without(&[(Severity::Low, 9)].into_iter().collect());
        assert_eq!(fewer.get(Severity::Low), 0);
        assert_eq!(fewer.highest(), Some(Severity::High));
    }

    #[test]
    fn sorting_descending_puts_most_severe_first() {
        let mut all = vec![
            Severity::Low,
            Severity::Untriaged,
            Severity::Critical,
            Severity::Undefined,
            Severity::Informational,
            Severity::High,
            Severity::Medium,
        ];
        all.sort_by(|a, b| b.cmp(a));
        assert_eq!(all, Severity::ALL);
    }

    #[test]
    fn parses_ecr_strings_and_rejects_others() {
        for severity in Severity::ALL {
            assert_eq!(severity.as_str().parse::<Severity>(), Ok(severity));
            assert_eq!(
                serde_json::from_str::<Severity>(&format!("\"{severity}\"")).ok(),
                Some(severity)
            );
        }
        assert_eq!("Medium".parse::<Severity>(), Ok(Severity::Medium));
        let err = "SEVERE".parse::<Severity>().unwrap_err();
        assert!(err.to_string().contains("\"SEVERE\""), "{err}");
    }

    #[test]
    fn counts_keep_only_non_zero_most_severe_first() {
        let counts: SeverityCounts = [
            (Severity::Low, 3),
            (Severity::Critical, 1),
            (Severity::Medium, 0),
            (Severity::Low, 1),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            counts.iter().collect::<Vec<_>>(),
            vec![(Severity::Critical, 1), (Severity::Low, 4)]
        );
        assert_eq!(counts.total(), 5);
        assert_eq!(counts.highest(), Some(Severity::Critical));
        assert_eq!(
            serde_json::to_string(&counts).unwrap(),
            r#"{"CRITICAL":1,"LOW":4}"#
        );
    }
}
