//! Changes: what is new in an image since the last scan.
//!
//! The record step computes a [`Change`] whenever it records a complete
//! result of a digest, against that digest's previous complete result, by
//! [`FindingKey`]:
//!
//! - [`ChangeKind::FindingsChanged`]: new findings, fixed ones (gone), and
//!   ones whose severity changed; nothing changed means no change at all.
//! - [`ChangeKind::Baseline`]: the first complete result of a digest
//!   ecrscan has seen: its counts, and no per-finding lists (a new fleet
//!   must not page anyone 4,000 times).
//! - [`ChangeKind::TagMoved`]: a tag now points at another digest: the new
//!   digest's findings against the old digest's last result.
//!
//! A change's id is derived from what it is about — the digest, the two
//! scan times and the tag — so every writer that records the same result
//! computes the same id, and the store keeps it once (a create-only write).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::RepositoryRef;
use crate::finding::{DigestScan, Finding, FindingKey};
use crate::severity::{Severity, SeverityCounts};

/// What kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The first complete result of a digest.
    Baseline,
    /// Findings appeared, disappeared or changed severity.
    FindingsChanged,
    /// A tag moved to another digest.
    TagMoved,
}

impl ChangeKind {
    /// `baseline`, `findings_changed` or `tag_moved`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Baseline => "baseline",
            ChangeKind::FindingsChanged => "findings_changed",
            ChangeKind::TagMoved => "tag_moved",
        }
    }
}

/// A finding whose severity changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeverityChange {
    /// The finding as it is now.
    pub finding: Finding,
    /// Its severity before.
    pub from: Severity,
    /// Its severity now.
    pub to: Severity,
}

/// The counts before and after a change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeCounts {
    /// Findings per severity before (empty for a baseline).
    pub before: SeverityCounts,
    /// Findings per severity after.
    pub after: SeverityCounts,
}

/// What changed between two results, by [`FindingKey`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindingsDiff {
    /// Findings in the new result only, most severe first.
    pub new: Vec<Finding>,
    /// Findings in the old result only, most severe first.
    pub fixed: Vec<Finding>,
    /// Findings in both whose severity differs, most severe (now) first.
    pub severity_changed: Vec<SeverityChange>,
}

impl FindingsDiff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.fixed.is_empty() && self.severity_changed.is_empty()
    }
}

/// The findings of a result by key; a key listed twice (a scanner that
/// reports one vulnerability twice) counts once, at its highest severity.
fn by_key(findings: &[Finding]) -> BTreeMap<FindingKey, &Finding> {
    let mut keyed: BTreeMap<FindingKey, &Finding> = BTreeMap::new();
    for finding in findings {
        keyed
            .entry(finding.key())
            .and_modify(|known| {
                if finding.severity > known.severity {
                    *known = finding;
                }
            })
            .or_insert(finding);
    }
    keyed
}

fn most_severe_first(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.key().cmp(&b.key()))
    });
}

/// What changed from `before` to `after`.
pub fn diff(before: &[Finding], after: &[Finding]) -> FindingsDiff {
    let old = by_key(before);
    let new = by_key(after);
    let mut result = FindingsDiff::default();
    for (key, finding) in &new {
        match old.get(key) {
            None => result.new.push((*finding).clone()),
            Some(previous) if previous.severity != finding.severity => {
                result.severity_changed.push(SeverityChange {
                    finding: (*finding).clone(),
                    from: previous.severity,
                    to: finding.severity,
                });
            }
            Some(_) => {}
        }
    }
    for (key, finding) in &old {
        if !new.contains_key(key) {
            result.fixed.push((*finding).clone());
        }
    }
    most_severe_first(&mut result.new);
    most_severe_first(&mut result.fixed);
    result.severity_changed.sort_by(|a, b| {
        b.to.cmp(&a.to)
            .then_with(|| a.finding.key().cmp(&b.finding.key()))
    });
    result
}

/// Counts of findings by severity, each key once.
fn counts_of(findings: &[Finding]) -> SeverityCounts {
    by_key(findings)
        .values()
        .map(|finding| (finding.severity, 1))
        .collect()
}

/// One change of one image.
///
/// Its JSON is the README's `changes` schema: `id`, `kind`, `region`,
/// `registry`, `repository`, `digest`, `previous_digest`, `tags`,
/// `scan_completed_at`, `previous_scan_completed_at`, `detected_at`, `new`,
/// `fixed`, `severity_changed`, `counts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Derived from the digest, the two scan times and the tag: the same for
    /// every writer that records the same result.
    pub id: Uuid,
    /// What kind of change.
    pub kind: ChangeKind,
    /// The region.
    pub region: String,
    /// The registry (account ID).
    pub registry: String,
    /// The repository.
    pub repository: String,
    /// The digest whose result changed (for a tag move: the tag's new digest).
    pub digest: String,
    /// For a tag move, the digest the tag pointed at before.
    pub previous_digest: Option<String>,
    /// The tags of the digest, as far as known (for a tag move: the tag).
    pub tags: Vec<String>,
    /// When the new result's scan finished.
    pub scan_completed_at: Option<DateTime<Utc>>,
    /// When the result compared with finished.
    pub previous_scan_completed_at: Option<DateTime<Utc>>,
    /// When ecrscan saw the change.
    pub detected_at: DateTime<Utc>,
    /// New findings (none for a baseline).
    pub new: Vec<Finding>,
    /// Fixed findings.
    pub fixed: Vec<Finding>,
    /// Findings whose severity changed.
    pub severity_changed: Vec<SeverityChange>,
    /// The counts before and after.
    pub counts: ChangeCounts,
    /// Findings that count again because the suppression rule that covered
    /// them expired or was removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resurfaced: Vec<Finding>,
    /// New or raised findings a suppression rule covers, each marked with
    /// its rule: recorded, never notified.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<Finding>,
    /// Whether the lists were cut to fit a message (see
    /// [`Change::truncated_to`]); the counts are always whole.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

const CHANGE_ID_NAMESPACE: Uuid = Uuid::from_u128(0x8e2f_61a4_0c3b_4d57_b1e9_5a7c_d0f2_0003);

fn time_part(time: Option<DateTime<Utc>>) -> String {
    time.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The id of the change of `digest` from the result that finished at
/// `previous` to the one that finished at `current`, for `tag` (tag moves)
/// or none.
pub fn change_id(
    repository: &RepositoryRef,
    digest: &str,
    previous: Option<DateTime<Utc>>,
    current: Option<DateTime<Utc>>,
    tag: Option<&str>,
) -> Uuid {
    let name = [
        repository.region.as_str(),
        &repository.registry,
        &repository.repository,
        digest,
        &time_part(previous),
        &time_part(current),
        tag.unwrap_or(""),
    ]
    .join("\n");
    Uuid::new_v5(&CHANGE_ID_NAMESPACE, name.as_bytes())
}

impl Change {
    /// The change a newly recorded complete result of `digest` makes:
    /// a baseline without `previous`, else the findings that changed, or
    /// `None` when nothing did.
    pub fn of_result(
        repository: &RepositoryRef,
        digest: &str,
        tags: &[String],
        previous: Option<&DigestScan>,
        current: &DigestScan,
        detected_at: DateTime<Utc>,
    ) -> Option<Change> {
        let (kind, findings_diff) = match previous {
            None => (ChangeKind::Baseline, FindingsDiff::default()),
            Some(previous) => {
                let findings_diff = diff(&previous.findings, &current.findings);
                if findings_diff.is_empty() {
                    return None;
                }
                (ChangeKind::FindingsChanged, findings_diff)
            }
        };
        let previous_at = previous.and_then(|p| p.scan_completed_at);
        Some(Change {
            id: change_id(
                repository,
                digest,
                previous_at,
                current.scan_completed_at,
                None,
            ),
            kind,
            region: repository.region.clone(),
            registry: repository.registry.clone(),
            repository: repository.repository.clone(),
            digest: digest.to_owned(),
            previous_digest: None,
            tags: tags.to_vec(),
            scan_completed_at: current.scan_completed_at,
            previous_scan_completed_at: previous_at,
            detected_at,
            counts: ChangeCounts {
                before: previous.map(|p| counts_of(&p.findings)).unwrap_or_default(),
                after: counts_of(&current.findings),
            },
            new: findings_diff.new,
            fixed: findings_diff.fixed,
            severity_changed: findings_diff.severity_changed,
            resurfaced: Vec::new(),
            suppressed: Vec::new(),
            truncated: false,
        })
    }

    /// The change of findings that count again (`resurfaced`) in a result
    /// whose findings are otherwise the same as `previous`'s.
    pub fn of_resurfaced(
        repository: &RepositoryRef,
        digest: &str,
        tags: &[String],
        previous: &DigestScan,
        current: &DigestScan,
        resurfaced: Vec<Finding>,
        detected_at: DateTime<Utc>,
    ) -> Change {
        Change {
            id: change_id(
                repository,
                digest,
                previous.scan_completed_at,
                current.scan_completed_at,
                None,
            ),
            kind: ChangeKind::FindingsChanged,
            region: repository.region.clone(),
            registry: repository.registry.clone(),
            repository: repository.repository.clone(),
            digest: digest.to_owned(),
            previous_digest: None,
            tags: tags.to_vec(),
            scan_completed_at: current.scan_completed_at,
            previous_scan_completed_at: previous.scan_completed_at,
            detected_at,
            counts: ChangeCounts {
                before: counts_of(&previous.findings),
                after: counts_of(&current.findings),
            },
            new: Vec::new(),
            fixed: Vec::new(),
            severity_changed: Vec::new(),
            resurfaced,
            suppressed: Vec::new(),
            truncated: false,
        }
    }

    /// Moves the new and raised findings a rule of `suppressions` covers
    /// (in `image`) to [`Change::suppressed`], marked with their rule: what
    /// a rule covers is recorded, never notified.
    pub fn set_aside_suppressed(
        &mut self,
        suppressions: &crate::suppress::Suppressions,
        image: &crate::suppress::ImageContext<'_>,
    ) {
        if suppressions.is_empty() {
            return;
        }
        let mut suppressed = Vec::new();
        self.new
            .retain(|finding| match suppressions.rule_for(image, finding) {
                Some(rule) => {
                    let mut finding = finding.clone();
                    finding.suppressed = Some(rule.mark());
                    suppressed.push(finding);
                    false
                }
                None => true,
            });
        self.severity_changed.retain(|change| {
            if change.to <= change.from {
                return true;
            }
            match suppressions.rule_for(image, &change.finding) {
                Some(rule) => {
                    let mut finding = change.finding.clone();
                    finding.suppressed = Some(rule.mark());
                    suppressed.push(finding);
                    false
                }
                None => true,
            }
        });
        self.suppressed.extend(suppressed);
    }

    /// The change of `tag` moving from `previous_digest` (whose last
    /// complete result was `before`, if any) to `digest` (now `after`):
    /// what the tag's users gained and lost.
    #[allow(clippy::too_many_arguments)]
    pub fn of_tag_move(
        repository: &RepositoryRef,
        tag: &str,
        previous_digest: &str,
        digest: &str,
        before: Option<&DigestScan>,
        after: &DigestScan,
        detected_at: DateTime<Utc>,
    ) -> Change {
        let findings_diff = diff(
            before.map(|b| b.findings.as_slice()).unwrap_or_default(),
            &after.findings,
        );
        let previous_at = before.and_then(|b| b.scan_completed_at);
        Change {
            id: change_id(
                repository,
                digest,
                previous_at,
                after.scan_completed_at,
                Some(tag),
            ),
            kind: ChangeKind::TagMoved,
            region: repository.region.clone(),
            registry: repository.registry.clone(),
            repository: repository.repository.clone(),
            digest: digest.to_owned(),
            previous_digest: Some(previous_digest.to_owned()),
            tags: vec![tag.to_owned()],
            scan_completed_at: after.scan_completed_at,
            previous_scan_completed_at: previous_at,
            detected_at,
            counts: ChangeCounts {
                before: before.map(|b| counts_of(&b.findings)).unwrap_or_default(),
                after: counts_of(&after.findings),
            },
            new: findings_diff.new,
            fixed: findings_diff.fixed,
            severity_changed: findings_diff.severity_changed,
            resurfaced: Vec::new(),
            suppressed: Vec::new(),
            truncated: false,
        }
    }

    /// The change as at most `max_bytes` of JSON: when it is larger, the
    /// lists keep their first (most severe) findings — new ones first, then
    /// resurfaced, raised, fixed and suppressed — as many as fit, the tags
    /// their first 20 if needed, and `truncated` is set. The counts stay
    /// whole.
    pub fn truncated_to(&self, max_bytes: usize) -> Change {
        const KEPT_TAGS: usize = 20;
        let size = |change: &Change| {
            serde_json::to_vec(change)
                .map(|json| json.len())
                .unwrap_or(usize::MAX)
        };
        if size(self) <= max_bytes {
            return self.clone();
        }
        let total = self.new.len()
            + self.resurfaced.len()
            + self.severity_changed.len()
            + self.fixed.len()
            + self.suppressed.len();
        let keeping = |keep: usize| {
            let mut change = self.clone();
            change.truncated = true;
            change.new.truncate(keep);
            let keep = keep.saturating_sub(change.new.len());
            change.resurfaced.truncate(keep);
            let keep = keep.saturating_sub(change.resurfaced.len());
            change.severity_changed.truncate(keep);
            let keep = keep.saturating_sub(change.severity_changed.len());
            change.fixed.truncate(keep);
            let keep = keep.saturating_sub(change.fixed.len());
            change.suppressed.truncate(keep);
            change
        };
        let (mut fits, mut too_many) = (0, total + 1);
        while fits + 1 < too_many {
            let keep = fits + (too_many - fits) / 2;
            if size(&keeping(keep)) <= max_bytes {
                fits = keep;
            } else {
                too_many = keep;
            }
        }
        let mut change = keeping(fits);
        if size(&change) > max_bytes {
            change.tags.truncate(KEPT_TAGS);
        }
        change
    }

    /// The highest severity among the new, resurfaced and raised findings.
    pub fn highest_new_severity(&self) -> Option<Severity> {
        self.new
            .iter()
            .chain(&self.resurfaced)
            .map(|f| f.severity)
            .chain(
                self.severity_changed
                    .iter()
                    .filter(|c| c.to > c.from)
                    .map(|c| c.to),
            )
            .max()
    }

    /// The change with only the findings at or above `minimum` (counts
    /// unchanged); `None` when none is left and the change is not a
    /// baseline.
    pub fn at_least(&self, minimum: Severity) -> Option<Change> {
        let mut change = self.clone();
        change.new.retain(|f| f.severity.is_at_least(minimum));
        change.fixed.retain(|f| f.severity.is_at_least(minimum));
        change
            .resurfaced
            .retain(|f| f.severity.is_at_least(minimum));
        change
            .suppressed
            .retain(|f| f.severity.is_at_least(minimum));
        change
            .severity_changed
            .retain(|c| c.to.is_at_least(minimum) || c.from.is_at_least(minimum));
        let empty = change.new.is_empty()
            && change.fixed.is_empty()
            && change.resurfaced.is_empty()
            && change.severity_changed.is_empty();
        (change.kind == ChangeKind::Baseline || !empty).then_some(change)
    }
}

#[cfg(test)]
#[path = "changes_tests.rs"]
mod tests;

/// Whether `change` is about an image `config` selects: a repository it
/// takes (its account, its repository or pattern less exclusions), and
/// (for a config of listed tags or tag patterns) one of its tags when the
/// change knows the image's tags.
pub fn selected_by(change: &Change, config: &crate::config::ScanConfig) -> bool {
    let selector = crate::select::ImageSelector::of(config);
    change.region == config.region
        && config.takes_account(&change.registry)
        && config.takes_repository(&change.repository)
        && (config.all_tags()
            || change.tags.is_empty()
            || change
                .tags
                .iter()
                .any(|tag| selector.tags.iter().any(|entry| entry.matches(tag))))
}

/// Which changes to show: detected at or after `since`, about an image one
/// of `configs` selects (all when `None`), with findings at or above
/// `minimum` (see [`Change::at_least`]); newest first, as given.
pub fn select(
    changes: &[Change],
    configs: Option<&[crate::config::ScanConfig]>,
    since: Option<DateTime<Utc>>,
    minimum: Option<Severity>,
) -> Vec<Change> {
    changes
        .iter()
        .filter(|change| since.is_none_or(|since| change.detected_at >= since))
        .filter(|change| {
            configs.is_none_or(|configs| configs.iter().any(|c| selected_by(change, c)))
        })
        .filter_map(|change| match minimum {
            Some(minimum) => change.at_least(minimum),
            None => Some(change.clone()),
        })
        .collect()
}
