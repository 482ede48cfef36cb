//! What a store records about images, and the pure rules that keep those
//! records in order: a digest's results with their history, where each tag
//! pointed, and what a selection of tags resolved to.
//!
//! The rules take an explicit `now`, like the renderers, so they are tested
//! without clocks; the [`Recorder`](crate::recorder::Recorder) applies them
//! to the store with conditional writes.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::backend::Resolution;
use crate::finding::{DigestScan, Finding, ScanStatus};
use crate::severity::Severity;

/// How far ahead of `now` a recorded time may be (clock skew between
/// writers) before it is treated as invalid.
pub const CLOCK_SKEW: Duration = Duration::minutes(5);

/// A digest's scan as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedScan {
    /// What ECR answered.
    pub scan: DigestScan,
    /// When ecrscan first recorded this scan.
    pub recorded_at: DateTime<Utc>,
    /// When ecrscan last read this same scan from ECR.
    pub checked_at: DateTime<Utc>,
}

impl RecordedScan {
    /// A scan first read at `now`.
    pub fn new(scan: DigestScan, now: DateTime<Utc>) -> RecordedScan {
        RecordedScan {
            scan,
            recorded_at: now,
            checked_at: now,
        }
    }

    /// Whether a recorded time lies in the future (past the clock skew):
    /// such a record is invalid, never served and always replaced.
    pub fn from_the_future(&self, now: DateTime<Utc>) -> bool {
        let limit = now + CLOCK_SKEW;
        self.checked_at > limit
            || self.recorded_at > limit
            || self.scan.scan_completed_at.is_some_and(|at| at > limit)
    }
}

/// How many complete results of a digest a store keeps, the latest
/// included: 2, the latest and the one before it (what changes are computed
/// against). [`RecordOptions::history`](crate::recorder::RecordOptions::history) sets it.
pub const DEFAULT_HISTORY: usize = 2;

/// Everything recorded about one digest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DigestRecord {
    /// Finished results, newest first: the first is the latest result (of
    /// any finished status); the rest are earlier complete results, at most
    /// the history setting of complete results in all.
    #[serde(default)]
    pub results: Vec<RecordedScan>,
    /// When a scan of the digest was last started: a result checked before
    /// that is not served, so the next read asks ECR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_started_at: Option<DateTime<Utc>>,
    /// When the record step last saw the digest's findings change: its
    /// first complete result (the baseline), or the last complete result
    /// whose findings differ from the one before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings_changed_at: Option<DateTime<Utc>>,
    /// The findings of the latest complete result that suppression rules
    /// covered when it was recorded: one that counts again at a later
    /// result (its rule expired or was removed) is listed as resurfaced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<crate::finding::FindingKey>,
    /// The record's version, growing with each write of the record step
    /// ([`DigestRecord::next_revision`]), so of two copies of a digest's
    /// record (the record and its row in the [`Rollup`]) the one with the
    /// higher revision is the newer. 0 for records written before revisions
    /// were kept.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revision: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// What [`DigestRecord::apply`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The scan is newer than the recorded one and is now the latest.
    Recorded {
        /// The latest complete result before it, when the new one is
        /// complete too: what the new one is compared with.
        previous: Option<RecordedScan>,
    },
    /// The same scan as the latest: only its `checked_at` moved.
    Confirmed,
    /// A newer scan is already recorded: nothing changed.
    Older,
    /// The scan is not finished (`IN_PROGRESS`, `PENDING`, `NOT_SCANNED`):
    /// nothing is recorded.
    NotFinished,
}

/// Whether a scan has a final answer worth recording.
fn is_finished(status: ScanStatus) -> bool {
    !matches!(
        status,
        ScanStatus::InProgress | ScanStatus::Pending | ScanStatus::NotScanned
    )
}

impl DigestRecord {
    /// The latest finished result.
    pub fn latest(&self) -> Option<&RecordedScan> {
        self.results.first()
    }

    /// The latest complete result (findings known).
    pub fn latest_complete(&self) -> Option<&RecordedScan> {
        self.results.iter().find(|r| r.scan.status.has_findings())
    }

    /// Records `scan`, read from ECR at `now`, keeping at most `history`
    /// complete results (at least 1).
    ///
    /// Ordering: a scan whose `scan_completed_at` is earlier than the
    /// latest's never replaces it ([`Applied::Older`]); the same time is the
    /// same scan ([`Applied::Confirmed`]). A scan without a completion time
    /// (a failed or unsupported image) is taken as the newest answer, but
    /// never removes complete results. A recorded result with a time in the
    /// future is invalid and always replaced.
    pub fn apply(&mut self, scan: DigestScan, now: DateTime<Utc>, history: usize) -> Applied {
        if !is_finished(scan.status) {
            return Applied::NotFinished;
        }
        self.results.retain(|r| !r.from_the_future(now));
        if self.scan_started_at.is_some_and(|at| at > now + CLOCK_SKEW) {
            self.scan_started_at = None;
        }
        if let Some(latest) = self.results.first_mut()
            && let (Some(new), Some(old)) = (scan.scan_completed_at, latest.scan.scan_completed_at)
        {
            if new < old {
                return Applied::Older;
            }
            if new == old && scan.status == latest.scan.status {
                latest.checked_at = latest.checked_at.max(now);
                return Applied::Confirmed;
            }
        }
        let previous = if scan.status.has_findings() {
            self.latest_complete().cloned()
        } else {
            None
        };
        self.results.insert(0, RecordedScan::new(scan, now));
        let mut complete = 0;
        let mut index = 0;
        self.results.retain(|r| {
            index += 1;
            if r.scan.status.has_findings() {
                complete += 1;
                complete <= history.max(1)
            } else {
                // Only the latest result may be an incomplete one.
                index == 1
            }
        });
        Applied::Recorded { previous }
    }

    /// Moves the revision on for a write at `now`: past the last one, and
    /// at least `now` in microseconds, so it keeps growing even after a
    /// damaged record was replaced or an older ecrscan rewrote it without
    /// its revision.
    pub fn next_revision(&mut self, now: DateTime<Utc>) {
        let clock = u64::try_from(now.timestamp_micros()).unwrap_or(0);
        self.revision = self.revision.saturating_add(1).max(clock);
    }

    /// The record as a [`Rollup`] keeps it: the latest result only, with
    /// its counts and without its findings, and the record's times and
    /// revision.
    pub fn rollup_row(&self) -> DigestRecord {
        DigestRecord {
            results: self
                .latest()
                .map(|latest| RecordedScan {
                    scan: latest.scan.without_finding_list(),
                    ..latest.clone()
                })
                .into_iter()
                .collect(),
            scan_started_at: self.scan_started_at,
            findings_changed_at: self.findings_changed_at,
            suppressed: Vec::new(),
            revision: self.revision,
        }
    }

    /// Notes that a scan was started at `at` (the latest start wins).
    pub fn started(&mut self, at: DateTime<Utc>) {
        self.scan_started_at = Some(self.scan_started_at.map_or(at, |known| known.max(at)));
    }

    /// The latest result if it may be served at `now` instead of asking ECR:
    /// checked within `max_age`, not in the future, and not older than the
    /// last scan started.
    pub fn servable(&self, now: DateTime<Utc>, max_age: Duration) -> Option<&RecordedScan> {
        let latest = self.latest()?;
        let fresh = !latest.from_the_future(now)
            && now - latest.checked_at <= max_age
            && self
                .scan_started_at
                .is_none_or(|started| started <= latest.checked_at);
        fresh.then_some(latest)
    }
}

/// Where a tag points, and where it pointed before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagState {
    /// The digest the tag points at.
    pub digest: String,
    /// When the tag was first seen at this digest.
    pub since: DateTime<Utc>,
    /// When the tag was last seen at this digest.
    pub seen_at: DateTime<Utc>,
    /// The digest it pointed at before, if it moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousDigest>,
}

/// A digest a tag pointed at before it moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousDigest {
    /// The digest.
    pub digest: String,
    /// When the tag was first seen at it.
    pub since: DateTime<Utc>,
    /// When the tag was last seen at it.
    pub until: DateTime<Utc>,
}

/// A tag seen at another digest than when it was last recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagMove {
    /// The tag.
    pub tag: String,
    /// The digest it pointed at.
    pub from: String,
    /// The digest it points at now.
    pub to: String,
    /// When the move was seen.
    pub seen_at: DateTime<Utc>,
}

/// A repository's tags, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRecord {
    /// By tag.
    #[serde(default)]
    pub tags: BTreeMap<String, TagState>,
}

impl TagRecord {
    /// Records the tags of `resolution`, seen at `seen_at`, and returns the
    /// tags that moved. An observation older than what is recorded for a
    /// tag changes nothing for it; tags not in the resolution stay as they
    /// are.
    pub fn observe(&mut self, resolution: &Resolution, seen_at: DateTime<Utc>) -> Vec<TagMove> {
        let mut moves = Vec::new();
        for image in &resolution.images {
            for tag in &image.tags {
                match self.tags.get_mut(tag) {
                    None => {
                        self.tags.insert(
                            tag.clone(),
                            TagState {
                                digest: image.digest.clone(),
                                since: seen_at,
                                seen_at,
                                previous: None,
                            },
                        );
                    }
                    Some(state) if state.seen_at > seen_at => {}
                    Some(state) if state.digest == image.digest => state.seen_at = seen_at,
                    Some(state) => {
                        moves.push(TagMove {
                            tag: tag.clone(),
                            from: state.digest.clone(),
                            to: image.digest.clone(),
                            seen_at,
                        });
                        *state = TagState {
                            digest: image.digest.clone(),
                            since: seen_at,
                            seen_at,
                            previous: Some(PreviousDigest {
                                digest: state.digest.clone(),
                                since: state.since,
                                until: state.seen_at,
                            }),
                        };
                    }
                }
            }
        }
        moves
    }
}

/// A repository's tags resolved to digests, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedResolution {
    /// When ecrscan read it from ECR.
    pub recorded_at: DateTime<Utc>,
    /// What ECR answered.
    pub resolution: Resolution,
}

impl RecordedResolution {
    /// Whether it may be served at `now`: read within `max_age`, and not
    /// from the future.
    pub fn is_fresh(&self, now: DateTime<Utc>, max_age: Duration) -> bool {
        self.recorded_at <= now + CLOCK_SKEW && now - self.recorded_at <= max_age
    }
}

/// A listing as recorded — a registry's repositories, an organization's
/// accounts — with when it was read, so that summaries need not ask again
/// while it is fresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedList<T> {
    /// When ecrscan read it from AWS.
    pub recorded_at: DateTime<Utc>,
    /// What AWS answered.
    pub items: Vec<T>,
}

impl<T> RecordedList<T> {
    /// Whether it may be served at `now`: read within `max_age`, and not
    /// from the future.
    pub fn is_fresh(&self, now: DateTime<Utc>, max_age: Duration) -> bool {
        self.recorded_at <= now + CLOCK_SKEW && now - self.recorded_at <= max_age
    }
}

/// How long a rollup keeps a selection not resolved since, or a digest no
/// selection names and nothing checked since: 7 days.
pub const ROLLUP_KEEP: Duration = Duration::days(7);

/// One finding as a rollup keeps it: what suppression rules judge, no more
/// — `[vulnerability, package, version, file path, severity]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IndexedFinding(
    /// The vulnerability id.
    pub String,
    /// The package's name.
    pub Option<String>,
    /// The package's version.
    pub Option<String>,
    /// Where the package is in the image.
    pub Option<String>,
    /// The severity.
    pub Severity,
);

impl IndexedFinding {
    /// The findings of `record`'s latest result, as a rollup keeps them
    /// (none when the latest result has no findings known).
    pub fn of_latest(record: &DigestRecord) -> Vec<IndexedFinding> {
        record
            .latest()
            .filter(|latest| latest.scan.status.has_findings())
            .map(|latest| {
                latest
                    .scan
                    .findings
                    .iter()
                    .map(|f| {
                        IndexedFinding(
                            f.name.clone(),
                            f.package_name.clone(),
                            f.package_version.clone(),
                            f.file_path.clone(),
                            f.severity,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The finding it stands for (identity and severity only).
    pub fn to_finding(&self) -> Finding {
        let mut finding = Finding::new(self.0.clone(), self.4);
        finding.package_name = self.1.clone();
        finding.package_version = self.2.clone();
        finding.file_path = self.3.clone();
        finding
    }
}

/// The findings of a repository's images, each distinct finding once: what
/// a summary judges suppression rules against without reading each image's
/// record. Kept beside the repository's [`Rollup`] under `@findings.json`
/// and read only by summaries with rules, so summaries without them pay
/// nothing for it. Images of one repository share most of their findings,
/// so each image is a short list of positions in one table.
///
/// Each entry carries the revision of the digest's record it was built
/// from: an entry whose revision is not the rollup row's is out of date,
/// and that row is judged from its record (which brings the index up to
/// date).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FindingIndex {
    /// Each distinct finding once.
    #[serde(default)]
    pub table: Vec<IndexedFinding>,
    /// Per digest with findings: the record's revision and the table
    /// positions of its latest result's findings (sorted, delta-coded as
    /// LEB128 varints, in unpadded URL-safe base64).
    #[serde(default)]
    pub digests: BTreeMap<String, (u64, String)>,
}

impl FindingIndex {
    /// Whether it indexes nothing.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether the entry of `digest` is the one of its record at `revision`.
    pub fn is_current(&self, digest: &str, revision: u64) -> bool {
        self.digests
            .get(digest)
            .is_some_and(|(indexed, _)| *indexed == revision)
    }

    /// The findings of `digest` at `positions` (sorted table positions;
    /// every finding for `None`), or `None` when it is not indexed.
    pub fn findings_of(
        &self,
        digest: &str,
        positions: Option<&[usize]>,
    ) -> Option<Vec<&IndexedFinding>> {
        let listed = decode_positions(&self.digests.get(digest)?.1)?;
        Some(
            listed
                .into_iter()
                .filter(|position| {
                    positions.is_none_or(|positions| {
                        positions.binary_search(&(*position as usize)).is_ok()
                    })
                })
                .filter_map(|position| self.table.get(position as usize))
                .collect(),
        )
    }

    /// Indexes `findings` as those of `digest`'s record at `revision`,
    /// unless a later revision is indexed; whether the index changed. A
    /// digest without findings has no entry: its row says it has none.
    pub fn merge(&mut self, digest: &str, revision: u64, findings: &[IndexedFinding]) -> bool {
        match self.digests.get(digest) {
            Some((indexed, _)) if *indexed > revision => return false,
            Some((indexed, _)) if *indexed == revision => return false,
            None if findings.is_empty() => return false,
            _ => {}
        }
        if findings.is_empty() {
            self.digests.remove(digest);
            return true;
        }
        let mut positions_of: HashMap<&IndexedFinding, u32> =
            HashMap::with_capacity(self.table.len());
        for (position, finding) in self.table.iter().enumerate() {
            positions_of.entry(finding).or_insert(position as u32);
        }
        let mut added = Vec::new();
        let mut positions = Vec::with_capacity(findings.len());
        for finding in findings {
            let position = match positions_of.get(finding) {
                Some(position) => *position,
                None => {
                    let position = (self.table.len() + added.len()) as u32;
                    added.push(finding.clone());
                    positions_of.insert(finding, position);
                    position
                }
            };
            positions.push(position);
        }
        drop(positions_of);
        self.table.extend(added);
        self.digests.insert(
            digest.to_owned(),
            (revision, encode_positions(&mut positions)),
        );
        true
    }

    /// Keeps only the digests `keep` says, and the table entries they use.
    pub fn retain_digests(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.digests.retain(|digest, _| keep(digest));
        let lists: Vec<(String, u64, Vec<u32>)> = self
            .digests
            .iter()
            .filter_map(|(digest, (revision, encoded))| {
                Some((digest.clone(), *revision, decode_positions(encoded)?))
            })
            .collect();
        let mut used = vec![false; self.table.len()];
        for (_, _, positions) in &lists {
            for &position in positions {
                if let Some(slot) = used.get_mut(position as usize) {
                    *slot = true;
                }
            }
        }
        if used.iter().all(|&u| u) && lists.len() == self.digests.len() {
            return;
        }
        let mut new_position = vec![u32::MAX; self.table.len()];
        let mut table = Vec::new();
        for (position, finding) in std::mem::take(&mut self.table).into_iter().enumerate() {
            if used[position] {
                new_position[position] = table.len() as u32;
                table.push(finding);
            }
        }
        self.table = table;
        self.digests = lists
            .into_iter()
            .map(|(digest, revision, positions)| {
                let mut positions: Vec<u32> = positions
                    .into_iter()
                    .filter_map(|p| new_position.get(p as usize).copied())
                    .filter(|&p| p != u32::MAX)
                    .collect();
                (digest, (revision, encode_positions(&mut positions)))
            })
            .collect();
    }
}

fn encode_positions(positions: &mut [u32]) -> String {
    use base64::Engine as _;
    positions.sort_unstable();
    let mut bytes = Vec::with_capacity(positions.len() * 2);
    let mut previous = 0u32;
    for (i, &position) in positions.iter().enumerate() {
        if i > 0 && position == previous {
            continue;
        }
        let mut delta = if i == 0 {
            position
        } else {
            position - previous
        };
        previous = position;
        loop {
            let byte = (delta & 0x7f) as u8;
            delta >>= 7;
            if delta == 0 {
                bytes.push(byte);
                break;
            }
            bytes.push(byte | 0x80);
        }
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The positions an encoded list holds; `None` when it is damaged.
fn decode_positions(encoded: &str) -> Option<Vec<u32>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()?;
    let mut positions = Vec::with_capacity(bytes.len());
    let mut value: u64 = 0;
    let mut shift = 0;
    let mut previous: u64 = 0;
    for byte in bytes {
        if shift > 28 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            let position = if positions.is_empty() {
                value
            } else {
                previous + value
            };
            previous = position;
            positions.push(u32::try_from(position).ok()?);
            value = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    (shift == 0).then_some(positions)
}

/// The summary of a repository, kept next to its records under
/// `@rollup.json` so that a summary reads one object per repository: each
/// digest's latest result as counts ([`DigestRecord::rollup_row`]), and
/// each selection of tags' last resolution. (The rows' findings, for
/// suppression rules, are kept apart: [`FindingIndex`].)
///
/// A rollup is a copy. The digest records and resolutions stay what is
/// true; [`Rollup::merge_digest`] and [`Rollup::merge_selection`] apply
/// their copies in any order and keep the newest, so a rollup can be
/// rebuilt from the records at any time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    /// The rows, by digest.
    #[serde(default)]
    pub digests: BTreeMap<String, DigestRecord>,
    /// The resolutions, by selection name
    /// ([`selection_name`](crate::store::keys::selection_name)).
    #[serde(default)]
    pub selections: BTreeMap<String, RecordedResolution>,
}

impl Rollup {
    /// Takes `record`'s row for `digest` unless the rollup holds a newer
    /// revision; returns whether the rollup changed.
    pub fn merge_digest(&mut self, digest: &str, record: &DigestRecord) -> bool {
        self.merge_row(digest, &record.rollup_row())
    }

    /// Takes `row` (a [`DigestRecord::rollup_row`]) for `digest` unless the
    /// rollup holds a newer revision; returns whether the rollup changed.
    pub fn merge_row(&mut self, digest: &str, row: &DigestRecord) -> bool {
        match self.digests.get(digest) {
            Some(known) if known.revision > row.revision || known == row => false,
            _ => {
                self.digests.insert(digest.to_owned(), row.clone());
                true
            }
        }
    }

    /// Drops what no summary will read again: selections not resolved for
    /// [`ROLLUP_KEEP`], and rows of digests that no kept selection names and
    /// that were not checked or started for as long (images deleted, tags
    /// moved on), so a rollup holds about the repository's current images.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        let cutoff = now - ROLLUP_KEEP;
        self.selections
            .retain(|_, resolution| resolution.recorded_at >= cutoff);
        let named: std::collections::HashSet<&str> = self
            .selections
            .values()
            .flat_map(|resolution| resolution.resolution.images.iter())
            .map(|image| image.digest.as_str())
            .collect();
        self.digests.retain(|digest, row| {
            let last_seen = row
                .latest()
                .map(|latest| latest.checked_at)
                .into_iter()
                .chain(row.scan_started_at)
                .max();
            named.contains(digest.as_str()) || last_seen.is_some_and(|at| at >= cutoff)
        });
    }

    /// Takes a selection's resolution unless the rollup holds a later one;
    /// returns whether the rollup changed.
    pub fn merge_selection(&mut self, name: &str, resolution: &RecordedResolution) -> bool {
        match self.selections.get(name) {
            Some(known) if known.recorded_at >= resolution.recorded_at => false,
            _ => {
                self.selections.insert(name.to_owned(), resolution.clone());
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::backend::Image;
    use crate::finding::Finding;
    use crate::severity::Severity;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
    }

    fn complete(completed: i64, cve: &str) -> DigestScan {
        let mut scan = DigestScan::without_findings(ScanStatus::Complete, None);
        scan.scan_completed_at = Some(at(completed));
        scan.findings.push(Finding::new(cve, Severity::High));
        scan.severity_counts.add(Severity::High, 1);
        scan
    }

    #[test]
    fn an_older_scan_never_replaces_a_newer_one_in_any_order() {
        let yesterday = complete(0, "CVE-1");
        let today = complete(86_400, "CVE-2");
        for order in [[&yesterday, &today], [&today, &yesterday]] {
            let mut record = DigestRecord::default();
            for scan in order {
                record.apply(scan.clone(), at(90_000), DEFAULT_HISTORY);
            }
            assert_eq!(record.latest().unwrap().scan, today);
        }
        let mut record = DigestRecord::default();
        record.apply(today.clone(), at(90_000), DEFAULT_HISTORY);
        assert_eq!(
            record.apply(yesterday, at(90_001), DEFAULT_HISTORY),
            Applied::Older
        );
    }

    #[test]
    fn recording_returns_the_previous_complete_result() {
        let mut record = DigestRecord::default();
        assert_eq!(
            record.apply(complete(0, "CVE-1"), at(10), 2),
            Applied::Recorded { previous: None }
        );
        assert_eq!(
            record.apply(complete(0, "CVE-1"), at(20), 2),
            Applied::Confirmed
        );
        assert_eq!(record.latest().unwrap().checked_at, at(20));
        assert_eq!(record.latest().unwrap().recorded_at, at(10));
        match record.apply(complete(100, "CVE-2"), at(110), 2) {
            Applied::Recorded {
                previous: Some(previous),
            } => {
                assert_eq!(previous.scan, complete(0, "CVE-1"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn history_is_bounded_and_failures_keep_complete_results() {
        let mut record = DigestRecord::default();
        for day in 0..5 {
            record.apply(complete(day * 100, "CVE-1"), at(day * 100 + 1), 3);
        }
        assert_eq!(record.results.len(), 3);
        assert_eq!(
            record
                .results
                .iter()
                .map(|r| r.scan.scan_completed_at.unwrap())
                .collect::<Vec<_>>(),
            vec![at(400), at(300), at(200)]
        );
        let failed = DigestScan::without_findings(ScanStatus::Failed, Some("boom".into()));
        record.apply(failed.clone(), at(500), 3);
        assert_eq!(record.latest().unwrap().scan.status, ScanStatus::Failed);
        assert_eq!(
            record.latest_complete().unwrap().scan.scan_completed_at,
            Some(at(400))
        );
        assert_eq!(record.results.len(), 4, "the failure, then 3 complete");
        // A newer complete result replaces the failure rather than keeping it as history.
        record.apply(complete(600, "CVE-3"), at(601), 3);
        assert!(record.results.iter().all(|r| r.scan.status.has_findings()));
        assert_eq!(record.results.len(), 3);
    }

    #[test]
    fn unfinished_scans_are_not_recorded_and_starting_keeps_the_result() {
        let mut record = DigestRecord::default();
        record.apply(complete(0, "CVE-1"), at(10), 2);
        for status in [
            ScanStatus::InProgress,
            ScanStatus::Pending,
            ScanStatus::NotScanned,
        ] {
            assert_eq!(
                record.apply(DigestScan::without_findings(status, None), at(20), 2),
                Applied::NotFinished
            );
        }
        record.started(at(30));
        assert_eq!(record.latest().unwrap().scan, complete(0, "CVE-1"));
        assert!(
            record.servable(at(40), Duration::hours(24)).is_none(),
            "a scan started after the result was checked: ask ECR"
        );
        record.apply(complete(35, "CVE-2"), at(40), 2);
        assert!(record.servable(at(41), Duration::hours(24)).is_some());
    }

    #[test]
    fn freshness_and_times_in_the_future() {
        let mut record = DigestRecord::default();
        record.apply(complete(0, "CVE-1"), at(10), 2);
        assert!(record.servable(at(10), Duration::hours(24)).is_some());
        assert!(
            record
                .servable(at(10 + 86_401), Duration::hours(24))
                .is_none()
        );
        // Recorded "tomorrow" by a writer with a wrong clock: never served, replaced.
        let mut future = DigestRecord::default();
        future.apply(complete(86_400 * 2, "CVE-9"), at(86_400 * 2), 2);
        assert!(future.servable(at(0), Duration::hours(24)).is_none());
        assert!(matches!(
            future.apply(complete(0, "CVE-1"), at(1), 2),
            Applied::Recorded { previous: None }
        ));
        assert_eq!(future.latest().unwrap().scan, complete(0, "CVE-1"));
        assert_eq!(future.results.len(), 1);
    }

    fn resolution(pairs: &[(&str, &str)]) -> Resolution {
        Resolution {
            images: pairs
                .iter()
                .map(|(tag, digest)| Image {
                    digest: (*digest).into(),
                    tags: vec![(*tag).into()],
                    ..Image::default()
                })
                .collect(),
            missing_tags: vec![],
        }
    }

    #[test]
    fn a_tag_move_keeps_the_previous_digest() {
        let mut tags = TagRecord::default();
        assert!(
            tags.observe(&resolution(&[("latest", "sha256:aa")]), at(0))
                .is_empty()
        );
        assert!(
            tags.observe(&resolution(&[("latest", "sha256:aa")]), at(10))
                .is_empty()
        );
        let moves = tags.observe(&resolution(&[("latest", "sha256:bb")]), at(20));
        assert_eq!(
            moves,
            vec![TagMove {
                tag: "latest".into(),
                from: "sha256:aa".into(),
                to: "sha256:bb".into(),
                seen_at: at(20)
            }]
        );
        let state = &tags.tags["latest"];
        assert_eq!(state.digest, "sha256:bb");
        assert_eq!(
            state.previous,
            Some(PreviousDigest {
                digest: "sha256:aa".into(),
                since: at(0),
                until: at(10)
            })
        );
        // A slow writer's older observation changes nothing.
        assert!(
            tags.observe(&resolution(&[("latest", "sha256:aa")]), at(15))
                .is_empty()
        );
        assert_eq!(tags.tags["latest"].digest, "sha256:bb");
    }

    #[test]
    fn revisions_keep_growing_after_a_reset() {
        let mut record = DigestRecord::default();
        record.next_revision(at(0));
        let first = record.revision;
        assert!(first > 1_000_000, "at least the clock in microseconds");
        record.next_revision(at(0));
        assert_eq!(
            record.revision,
            first + 1,
            "past the last one at the same time"
        );
        // A damaged record replaced, or rewritten by an older ecrscan: 0 again.
        let mut replaced = DigestRecord::default();
        replaced.next_revision(at(1));
        assert!(replaced.revision > record.revision);
        let mut rollup = Rollup::default();
        assert!(rollup.merge_digest("sha256:aa", &record));
        assert!(
            rollup.merge_digest("sha256:aa", &replaced),
            "the newer wins"
        );
        assert!(
            !rollup.merge_digest("sha256:aa", &record),
            "an older one never"
        );
    }

    #[test]
    fn a_rollup_forgets_what_no_summary_reads_again() {
        let now = at(30 * 86_400);
        let old = now - ROLLUP_KEEP - Duration::hours(1);
        let row = |checked| DigestRecord {
            results: vec![RecordedScan::new(complete(0, "CVE-1"), checked)],
            ..DigestRecord::default()
        };
        let mut rollup = Rollup::default();
        rollup.merge_selection(
            "all",
            &RecordedResolution {
                recorded_at: now,
                resolution: resolution(&[("latest", "sha256:named")]),
            },
        );
        rollup.merge_selection(
            "tags-gone",
            &RecordedResolution {
                recorded_at: old,
                resolution: resolution(&[("v1", "sha256:only-in-a-gone-selection")]),
            },
        );
        rollup.merge_digest("sha256:named", &row(old));
        rollup.merge_digest("sha256:only-in-a-gone-selection", &row(old));
        rollup.merge_digest("sha256:recent", &row(now));
        rollup.merge_digest("sha256:deleted", &row(old));
        rollup.prune(now);
        assert_eq!(
            rollup.selections.keys().collect::<Vec<_>>(),
            ["all"],
            "a selection not resolved for a week is gone"
        );
        assert_eq!(
            rollup
                .digests
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["sha256:named", "sha256:recent"]
        );
    }
}
