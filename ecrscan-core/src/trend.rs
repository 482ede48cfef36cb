//! The fleet's findings over time, rebuilt from the recorded changes.
//!
//! A digest's record keeps only its last few results, but every change of
//! its findings is kept under `changes/` with the counts before and after.
//! So the findings of today's images on any earlier day are today's counts
//! less every change recorded since: [`fleet_trend`].

use std::collections::HashMap;

use chrono::{DateTime, Days, Utc};
use serde::{Deserialize, Serialize};

use crate::changes::{Change, ChangeKind};
use crate::finding::ScanStatus;
use crate::scan::Summary;
use crate::severity::{Severity, SeverityCounts};

/// The days a report's trend covers by default.
pub const TREND_DAYS: u32 = 30;

/// The fleet's findings at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    /// The time: the end of a day, or `now` for the last point.
    pub at: DateTime<Utc>,
    /// Findings per severity of the summary's images at that time,
    /// suppressed ones included (rules are judged now, not then).
    pub counts: SeverityCounts,
}

type Image<'a> = (&'a str, &'a str, &'a str, &'a str);

/// The findings of the summary's scanned images (rows with a complete
/// scan) at the end of each of the last `days` days and at `now`, oldest
/// first: `days + 1` points.
///
/// Each point is the images' counts now (suppressed findings included)
/// less the changes of their findings (`baseline` and `findings_changed`)
/// detected after it; an image counts nothing before its baseline. Changes
/// of other images are ignored, so the trend is that of today's fleet.
/// Changes pruned from the store take their history with them: the points
/// before the oldest kept change show the counts as of that change.
pub fn fleet_trend(
    summary: &Summary,
    changes: &[Change],
    days: u32,
    now: DateTime<Utc>,
) -> Vec<TrendPoint> {
    let mut rows_of: HashMap<Image<'_>, i128> = HashMap::new();
    let mut running = [0i128; Severity::ALL.len()];
    for row in &summary.rows {
        let scan = &row.result.scan;
        let Some(digest) = row.result.image.digest.as_deref() else {
            continue;
        };
        if scan.status != ScanStatus::Complete {
            continue;
        }
        *rows_of
            .entry((
                &row.region,
                &row.registry,
                &row.result.image.repository,
                digest,
            ))
            .or_insert(0) += 1;
        for (severity, count) in scan
            .severity_counts
            .iter()
            .chain(row.result.suppressed_counts.iter())
        {
            running[index(severity)] += i128::from(count);
        }
    }

    let mut deltas: Vec<(DateTime<Utc>, [i128; Severity::ALL.len()])> = changes
        .iter()
        .filter(|change| change.kind != ChangeKind::TagMoved && change.detected_at <= now)
        .filter_map(|change| {
            let rows = *rows_of.get(&(
                change.region.as_str(),
                change.registry.as_str(),
                change.repository.as_str(),
                change.digest.as_str(),
            ))?;
            let mut delta = [0i128; Severity::ALL.len()];
            for (severity, count) in change.counts.after.iter() {
                delta[index(severity)] += i128::from(count) * rows;
            }
            for (severity, count) in change.counts.before.iter() {
                delta[index(severity)] -= i128::from(count) * rows;
            }
            Some((change.detected_at, delta))
        })
        .collect();
    deltas.sort_by_key(|(detected_at, _)| std::cmp::Reverse(*detected_at));

    let start_of_today = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|midnight| midnight.and_utc())
        .unwrap_or(now);
    let mut times = vec![now];
    times.extend(
        (0..days).filter_map(|back| start_of_today.checked_sub_days(Days::new(u64::from(back)))),
    );

    let mut undone = deltas.iter().peekable();
    let mut points: Vec<TrendPoint> = times
        .into_iter()
        .map(|at| {
            while let Some((_, delta)) = undone.next_if(|(detected_at, _)| *detected_at > at) {
                for (total, change) in running.iter_mut().zip(delta) {
                    *total -= change;
                }
            }
            let counts = Severity::ALL
                .iter()
                .zip(running)
                .map(|(severity, count)| {
                    (*severity, u64::try_from(count.max(0)).unwrap_or(u64::MAX))
                })
                .collect();
            TrendPoint { at, counts }
        })
        .collect();
    points.reverse();
    points
}

fn index(severity: Severity) -> usize {
    Severity::ALL
        .iter()
        .position(|known| *known == severity)
        .unwrap_or(Severity::ALL.len() - 1)
}
