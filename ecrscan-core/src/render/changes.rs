//! Changes as text and JSON.

use std::io::{self, Write};

use chrono::SecondsFormat;
use serde::Serialize;

use crate::changes::{Change, ChangeKind};
use crate::finding::Finding;
use crate::severity::SeverityCounts;

use super::short_digest;

/// `test/ubuntu:latest (sha256:ab12…)`, or the repository and digest alone.
fn image(change: &Change) -> String {
    let tag = change
        .tags
        .first()
        .map(|tag| format!(":{tag}"))
        .unwrap_or_default();
    format!(
        "{}{tag} ({})",
        crate::render::printable(&change.repository),
        short_digest(&change.digest)
    )
}

fn counts_text(counts: &SeverityCounts) -> String {
    if counts.is_empty() {
        return "no findings".to_owned();
    }
    counts
        .iter()
        .map(|(severity, count)| format!("{severity} {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn finding_text(finding: &Finding) -> String {
    let mut text = crate::render::printable(&finding.name);
    for part in [&finding.package_name, &finding.package_version]
        .into_iter()
        .flatten()
    {
        text.push(' ');
        text.push_str(&crate::render::printable(part));
    }
    text
}

/// Writes changes as text: a header per change, then one line per new,
/// resurfaced, raised (or lowered), fixed and suppressed finding, e.g.
/// `NEW  CRITICAL  CVE-2026-1234  openssl 3.0.1  test/ubuntu:latest (sha256:ab12…)`.
/// Nothing at all for no changes. Every AWS-provided string is written
/// with control characters replaced, so it cannot move the terminal.
pub fn write_text_changes(changes: &[Change], out: &mut dyn Write) -> io::Result<()> {
    for change in changes {
        let image = image(change);
        let when = change
            .detected_at
            .to_rfc3339_opts(SecondsFormat::Secs, true);
        let place = format!("{image} in {}/{}", change.region, change.registry);
        let counts = match change.kind {
            ChangeKind::Baseline => counts_text(&change.counts.after),
            _ => format!(
                "{} -> {}",
                counts_text(&change.counts.before),
                counts_text(&change.counts.after)
            ),
        };
        match (change.kind, &change.previous_digest) {
            (ChangeKind::TagMoved, Some(from)) => writeln!(
                out,
                "{when}  tag moved  {place}, from {}: {counts}",
                short_digest(from)
            )?,
            (kind, _) => writeln!(
                out,
                "{when}  {}  {place}: {counts}",
                kind.as_str().replace('_', " ")
            )?,
        }
        for finding in &change.new {
            writeln!(
                out,
                "NEW     {:<9} {}  {image}",
                finding.severity.as_str(),
                finding_text(finding)
            )?;
        }
        for finding in &change.resurfaced {
            writeln!(
                out,
                "RESURFACED {:<9} {}  {image}  (its suppression ended)",
                finding.severity.as_str(),
                finding_text(finding)
            )?;
        }
        for raised in &change.severity_changed {
            let label = if raised.to > raised.from {
                "RAISED "
            } else {
                "LOWERED"
            };
            writeln!(
                out,
                "{label} {:<9} {}  {image}  (was {})",
                raised.to.as_str(),
                finding_text(&raised.finding),
                raised.from
            )?;
        }
        for finding in &change.fixed {
            writeln!(
                out,
                "FIXED   {:<9} {}  {image}",
                finding.severity.as_str(),
                finding_text(finding)
            )?;
        }
        for finding in &change.suppressed {
            let rule = finding
                .suppressed
                .as_ref()
                .map(|mark| format!("  (suppressed by {})", mark.rule))
                .unwrap_or_default();
            writeln!(
                out,
                "SUPPRESSED {:<9} {}  {image}{rule}",
                finding.severity.as_str(),
                finding_text(finding)
            )?;
        }
    }
    Ok(())
}

/// The JSON document of changes: `{"changes":[CHANGE…]}`, newest first.
#[derive(Debug, Serialize)]
pub struct JsonChanges<'a> {
    /// The changes.
    pub changes: &'a [Change],
    /// For a page of them, the first change of the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_start: Option<usize>,
}

/// Writes changes as the README's JSON, pretty-printed, with a final newline.
pub fn write_json_changes(changes: &[Change], out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(
        &mut *out,
        &JsonChanges {
            changes,
            next_start: None,
        },
    )?;
    writeln!(out)
}

/// Writes one page of changes as JSON: as many changes from `start` as fit
/// in `max_bytes` (at least one), with `"next_start": N` when more remain,
/// which it also returns. A `start` past the end gives an empty page.
pub fn write_json_changes_page(
    changes: &[Change],
    start: usize,
    max_bytes: usize,
    out: &mut Vec<u8>,
) -> io::Result<Option<usize>> {
    let rest = changes.get(start..).unwrap_or_default();
    let origin = out.len();
    let mut count = rest.len();
    loop {
        out.truncate(origin);
        let next_start = (count < rest.len()).then_some(start + count);
        serde_json::to_writer_pretty(
            &mut *out,
            &JsonChanges {
                changes: &rest[..count],
                next_start,
            },
        )?;
        writeln!(out)?;
        let written = out.len() - origin;
        if written <= max_bytes || count <= 1 {
            return Ok(next_start);
        }
        count = (count.saturating_mul(max_bytes) / written * 19 / 20).clamp(1, count - 1);
    }
}
