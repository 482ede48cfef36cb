//! The HTML report: one self-contained page of the fleet's findings.
//!
//! No script, style, font or image comes from anywhere else: the page works
//! offline and as a CI artifact, and carries its own Content-Security-Policy
//! that allows only its inline script and style (by hash) and no requests.
//! Every string from AWS or a user is escaped for where it lands (text or a
//! quoted attribute; the SVG's text is HTML text); the script reads only
//! the page's own attributes. Without scripts the page shows everything,
//! sorted worst first; the script adds sorting and filtering of the images.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use base64::Engine as _;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use sha2::{Digest as _, Sha256};

use crate::changes::{Change, ChangeKind};
use crate::finding::{Finding, ScanStatus};
use crate::scan::{Summary, SummaryRow};
use crate::severity::{Severity, SeverityCounts};
use crate::suppress::{Expiry, Staleness, Suppression};
use crate::trend::TrendPoint;

use super::short_digest;

/// What an HTML report shows.
#[derive(Debug, Clone, Copy)]
pub struct HtmlReport<'a> {
    /// The images and their counts, judged by the rules in force.
    pub summary: &'a Summary,
    /// The recorded changes, newest first (as
    /// [`ResultStore::list_changes`](crate::store::ResultStore::list_changes)
    /// gives them): the report lists those of the last [`RECENT_CHANGES`].
    pub changes: &'a [Change],
    /// Every suppression rule, expired ones included.
    pub suppressions: &'a [Suppression],
    /// The fleet's findings over time ([`fleet_trend`](crate::trend::fleet_trend)).
    pub trend: &'a [TrendPoint],
    /// The API's base URL (`https://…/Prod`, or `""` for links relative to
    /// the server's root), for links to each image's findings; `None`: no
    /// links.
    pub api_url: Option<&'a str>,
}

/// How far back the report lists changes.
pub const RECENT_CHANGES: Duration = Duration::days(7);

/// Findings listed per change and list (new, fixed, …); the rest counted.
const FINDINGS_PER_LIST: usize = 20;
/// Characters of a finding's description shown.
const DESCRIPTION_CHARS: usize = 300;
/// Characters of a name in a chart label.
const LABEL_CHARS: usize = 40;
/// Repositories in the bar chart (all are in the table).
const CHART_REPOSITORIES: usize = 25;
/// Changes listed (the newest).
const MAX_CHANGES: usize = 200;

const STYLE: &str = include_str!("html/report.css");
const SCRIPT: &str = include_str!("html/report.js");

/// The severities the page shows one by one; the rest count as "other".
const SHOWN: [Severity; 4] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
];

fn sha256_source(text: &str) -> String {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

/// The page's Content-Security-Policy: nothing may load, only its own
/// inline script and style run (by their SHA-256), no form goes anywhere.
/// The page carries it in a `<meta>` element; a server sends it as a header
/// too, with `frame-ancestors 'none'` (which a `<meta>` cannot carry).
pub fn html_content_security_policy() -> String {
    format!(
        "default-src 'none'; script-src {}; style-src {}; img-src data:; base-uri 'none'; form-action 'none'",
        sha256_source(SCRIPT),
        sha256_source(STYLE)
    )
}

/// Escapes text for HTML text or a double- or single-quoted attribute.
fn esc(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            // Control characters other than tab and newline are not
            // allowed in HTML; show them as the replacement character.
            c if c.is_control() && c != '\t' && c != '\n' => escaped.push('\u{fffd}'),
            c => escaped.push(c),
        }
    }
    escaped
}

fn cut(text: &str, chars: usize) -> String {
    let mut shortened: String = text.chars().take(chars).collect();
    if shortened.len() < text.len() {
        shortened.push('…');
    }
    shortened
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn class_of(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        _ => "other",
    }
}

/// 6 for CRITICAL down to 1 for the unranked severities; 0 for none.
fn rank(severity: Option<Severity>) -> u8 {
    match severity {
        Some(Severity::Critical) => 6,
        Some(Severity::High) => 5,
        Some(Severity::Medium) => 4,
        Some(Severity::Low) => 3,
        Some(Severity::Informational) => 2,
        Some(_) => 1,
        None => 0,
    }
}

fn other(counts: &SeverityCounts) -> u64 {
    counts
        .iter()
        .filter(|(severity, _)| !SHOWN.contains(severity))
        .fold(0u64, |sum, (_, count)| sum.saturating_add(count))
}

/// Only `http` and `https` links are followed; anything else is text.
fn safe_link(uri: &str) -> Option<&str> {
    let lower = uri.trim_start().get(..8).unwrap_or("").to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then_some(uri)
}

/// Writes the report as one HTML5 page. A pure function of its data and
/// `now`: the same input always gives the same bytes.
///
/// - a header with the totals per severity (unsuppressed, as the JSON
///   summary's `totals`), the suppressed total, and when the results were
///   recorded;
/// - the fleet's findings per severity over time (inline SVG, each line
///   with its own dash pattern and label), with the numbers in a table;
/// - a bar per repository (the 25 worst) of its counts, each severity
///   with its own fill pattern, and the counts as text;
/// - the images, worst first, with their counts, status and links;
/// - the changes given (new, fixed, raised and resurfaced findings);
/// - the suppression rules: what each covers, and which have expired,
///   expire soon or cover nothing.
pub fn write_html_report(
    report: &HtmlReport<'_>,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut page = String::with_capacity(4096 + report.summary.rows.len() * 700);
    head(&mut page, now);
    header(&mut page, report.summary, now);
    page.push_str("<main>\n");
    trend_chart(&mut page, report.trend);
    repository_bars(&mut page, report.summary);
    images(&mut page, report.summary, report.api_url);
    changes(&mut page, report.changes, now);
    suppressions(&mut page, report.summary, report.suppressions);
    page.push_str("</main>\n");
    let _ = write!(
        page,
        "<footer><p>ecrscan {}. Counts leave out findings that suppression rules cover.</p></footer>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    out.write_all(page.as_bytes())
}

fn head(page: &mut String, now: DateTime<Utc>) {
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <title>ecrscan report, {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&html_content_security_policy()),
        time(now)
    );
}

fn header(page: &mut String, summary: &Summary, now: DateTime<Utc>) {
    let mut totals = SeverityCounts::new();
    let mut suppressed = SeverityCounts::new();
    let mut recorded: Vec<DateTime<Utc>> = Vec::new();
    let mut live = 0usize;
    let mut failed = 0usize;
    for row in &summary.rows {
        totals.merge(&row.result.scan.severity_counts);
        suppressed.merge(&row.result.suppressed_counts);
        match row.result.origin.recorded_at() {
            Some(at) => recorded.push(at),
            None => live += 1,
        }
        if row.result.scan.status == ScanStatus::Failed {
            failed += 1;
        }
    }
    let _ = write!(
        page,
        "<header>\n<h1>ecrscan report</h1>\n<p class=\"generated\">Generated <time datetime=\"{0}\">{0}</time>. ",
        time(now)
    );
    match (recorded.iter().min(), recorded.iter().max()) {
        (Some(oldest), Some(newest)) if oldest == newest => {
            let _ = write!(
                page,
                "Results recorded at <time datetime=\"{0}\">{0}</time>",
                time(*oldest)
            );
        }
        (Some(oldest), Some(newest)) => {
            let _ = write!(
                page,
                "Results recorded from <time datetime=\"{0}\">{0}</time> to <time datetime=\"{1}\">{1}</time>",
                time(*oldest),
                time(*newest)
            );
        }
        _ => page.push_str("No recorded results"),
    }
    if live > 0 {
        let _ = write!(page, "; {live} read from ECR for this report");
    }
    page.push_str(".</p>\n<dl class=\"totals\" id=\"totals\">\n");
    for severity in SHOWN {
        let _ = writeln!(
            page,
            "<div class=\"total {}\"><dt>{}</dt><dd data-severity=\"{}\">{}</dd></div>",
            class_of(severity),
            severity.as_str(),
            severity.as_str(),
            totals.get(severity)
        );
    }
    let _ = writeln!(
        page,
        "<div class=\"total other\"><dt>OTHER</dt><dd data-severity=\"OTHER\">{}</dd></div>\n\
         <div class=\"total suppressed\"><dt>SUPPRESSED</dt><dd data-severity=\"SUPPRESSED\">{}</dd></div>\n\
         <div class=\"total images\"><dt>IMAGES</dt><dd id=\"image-count\">{}</dd></div>\n\
         <div class=\"total failed\"><dt>FAILED</dt><dd id=\"failed-count\">{failed}</dd></div>",
        other(&totals),
        suppressed.total(),
        summary.rows.len()
    );
    page.push_str("</dl>\n</header>\n");
}

/// Dash patterns and marker shapes per line, so the chart reads without colour.
const LINES: [(&str, &str, &str); 5] = [
    ("CRITICAL", "", "square"),
    ("HIGH", "9 4", "diamond"),
    ("MEDIUM", "3 3", "circle"),
    ("LOW", "12 3 3 3", "triangle"),
    ("OTHER", "1 4", "cross"),
];

/// The counts the page shows one by one: CRITICAL, HIGH, MEDIUM, LOW and
/// the rest together.
fn columns(counts: &SeverityCounts) -> [u64; 5] {
    [
        counts.get(Severity::Critical),
        counts.get(Severity::High),
        counts.get(Severity::Medium),
        counts.get(Severity::Low),
        other(counts),
    ]
}

fn marker(shape: &str, x: f64, y: f64) -> String {
    match shape {
        "square" => format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"6\" height=\"6\"/>",
            x - 3.0,
            y - 3.0
        ),
        "diamond" => format!("<path d=\"M{x:.1} {:.1}l4 4l-4 4l-4 -4z\"/>", y - 4.0),
        "circle" => format!("<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\"/>"),
        "triangle" => format!("<path d=\"M{x:.1} {:.1}l4 7h-8z\"/>", y - 4.0),
        _ => format!(
            "<path d=\"M{:.1} {:.1}l6 6m0 -6l-6 6\" class=\"cross\"/>",
            x - 3.0,
            y - 3.0
        ),
    }
}

fn trend_chart(page: &mut String, trend: &[TrendPoint]) {
    page.push_str("<section id=\"trend\">\n<h2>Findings over time</h2>\n");
    let (Some(first), Some(last)) = (trend.first(), trend.last()) else {
        page.push_str("<p>No history recorded yet.</p>\n</section>\n");
        return;
    };
    let _ = writeln!(
        page,
        "<p>Findings per severity of today's images (suppressed ones included) from {} to {}, rebuilt from the recorded changes.</p>",
        first.at.format("%Y-%m-%d"),
        time(last.at)
    );
    let (width, height, left, right, top, bottom) = (760.0, 280.0, 48.0, 150.0, 16.0, 36.0);
    let plot_width = width - left - right;
    let plot_height = height - top - bottom;
    let values: Vec<[u64; 5]> = trend.iter().map(|point| columns(&point.counts)).collect();
    let max = values
        .iter()
        .flat_map(|row| row.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let x_of = |i: usize| {
        if trend.len() < 2 {
            left + plot_width
        } else {
            left + plot_width * i as f64 / (trend.len() - 1) as f64
        }
    };
    let y_of = |value: u64| top + plot_height - plot_height * value as f64 / max as f64;
    let _ = write!(
        page,
        "<svg class=\"chart\" role=\"img\" aria-labelledby=\"trend-title\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\">\n\
         <title id=\"trend-title\">Findings per severity over time</title>\n"
    );
    for fraction in [0.0, 0.5, 1.0] {
        let value = (max as f64 * fraction).round() as u64;
        let y = y_of(value);
        let _ = writeln!(
            page,
            "<line class=\"grid\" x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{value}</text>",
            left + plot_width,
            left - 6.0,
            y + 4.0
        );
    }
    let ticks = [0, trend.len() / 2, trend.len() - 1];
    for (n, &i) in ticks.iter().enumerate() {
        if n > 0 && ticks[n - 1] == i {
            continue;
        }
        let anchor = match n {
            0 => "start",
            1 => "middle",
            _ => "end",
        };
        let _ = writeln!(
            page,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            x_of(i),
            height - 12.0,
            trend[i].at.format("%Y-%m-%d")
        );
    }
    for (line, (name, dashes, shape)) in LINES.iter().enumerate() {
        if line == 4 && values.iter().all(|row| row[4] == 0) {
            continue;
        }
        let class = name.to_ascii_lowercase();
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, row)| format!("{:.1},{:.1}", x_of(i), y_of(row[line])))
            .collect();
        let dash = if dashes.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{dashes}\"")
        };
        let _ = write!(
            page,
            "<g class=\"series {class}\"><title>{name}</title><polyline fill=\"none\" points=\"{}\"{dash}/>",
            points.join(" ")
        );
        let step = (trend.len() / 10).max(1);
        for (i, row) in values.iter().enumerate() {
            if i % step == 0 || i + 1 == values.len() {
                page.push_str(&marker(shape, x_of(i), y_of(row[line])));
            }
        }
        // The legend: a sample of the line (its dashes and marker), the
        // severity and its latest count; one line apart, as equal values
        // would overlap at the lines' ends.
        let latest = values.last().map_or(0, |row| row[line]);
        let sample_x = left + plot_width + 8.0;
        let sample_y = top + 10.0 + 18.0 * line as f64;
        let _ = write!(
            page,
            "<polyline fill=\"none\" points=\"{sample_x:.1},{sample_y:.1} {:.1},{sample_y:.1}\"{dash}/>{}",
            sample_x + 28.0,
            marker(shape, sample_x + 14.0, sample_y)
        );
        let _ = writeln!(
            page,
            "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\">{name} {latest}</text></g>",
            sample_x + 34.0,
            sample_y + 4.0
        );
    }
    page.push_str("</svg>\n<details><summary>The numbers</summary>\n<table class=\"numbers\"><thead><tr><th scope=\"col\">Day</th>");
    for (name, _, _) in LINES {
        let _ = write!(page, "<th scope=\"col\">{name}</th>");
    }
    page.push_str("</tr></thead><tbody>\n");
    for (point, row) in trend.iter().zip(&values) {
        let _ = write!(page, "<tr><th scope=\"row\">{}</th>", time(point.at));
        for value in row {
            let _ = write!(page, "<td>{value}</td>");
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody></table>\n</details>\n</section>\n");
}

fn repository_name(row: &SummaryRow, accounts: bool) -> String {
    if accounts {
        format!("{} ({})", row.result.image.repository, row.registry)
    } else {
        row.result.image.repository.clone()
    }
}

fn repository_bars(page: &mut String, summary: &Summary) {
    page.push_str("<section id=\"repositories\">\n<h2>Findings per repository</h2>\n");
    let accounts = super::many_accounts(summary);
    let mut by_repository: BTreeMap<(String, String, String), SeverityCounts> = BTreeMap::new();
    for row in &summary.rows {
        by_repository
            .entry((
                row.registry.clone(),
                row.region.clone(),
                repository_name(row, accounts),
            ))
            .or_default()
            .merge(&row.result.scan.severity_counts);
    }
    let mut worst: Vec<(String, [u64; 5])> = by_repository
        .into_iter()
        .map(|((_, _, name), counts)| (name, columns(&counts)))
        .filter(|(_, counts)| counts.iter().any(|count| *count > 0))
        .collect();
    if worst.is_empty() {
        page.push_str("<p>No findings.</p>\n</section>\n");
        return;
    }
    let repositories = worst.len();
    worst.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    worst.truncate(CHART_REPOSITORIES);
    let max = worst
        .iter()
        .map(|(_, counts)| counts.iter().fold(0u64, |sum, c| sum.saturating_add(*c)))
        .max()
        .unwrap_or(1)
        .max(1);
    let (width, label_width, counts_width, bar_height, gap) = (760.0, 250.0, 190.0, 16.0, 8.0);
    let bar_width = width - label_width - counts_width;
    let height = 40.0 + (bar_height + gap) * worst.len() as f64;
    let _ = write!(
        page,
        "<svg class=\"chart bars\" role=\"img\" aria-labelledby=\"bars-title\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\">\n\
         <title id=\"bars-title\">Findings per repository, worst first</title>\n<defs>\n\
         <pattern id=\"fill-critical\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\"><rect width=\"6\" height=\"6\" class=\"critical\"/></pattern>\n\
         <pattern id=\"fill-high\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\"><rect width=\"6\" height=\"6\" class=\"high\"/><path d=\"M0 6L6 0\" class=\"hatch\"/></pattern>\n\
         <pattern id=\"fill-medium\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\"><rect width=\"6\" height=\"6\" class=\"medium\"/><circle cx=\"3\" cy=\"3\" r=\"1.2\" class=\"dot\"/></pattern>\n\
         <pattern id=\"fill-low\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\"><rect width=\"6\" height=\"6\" class=\"low\"/><path d=\"M0 3H6M3 0V6\" class=\"hatch\"/></pattern>\n\
         <pattern id=\"fill-other\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\"><rect width=\"6\" height=\"6\" class=\"other\"/></pattern>\n\
         </defs>\n"
    );
    let legend = ["critical", "high", "medium", "low", "other"];
    for (i, class) in legend.iter().enumerate() {
        let x = label_width + i as f64 * 96.0;
        let _ = writeln!(
            page,
            "<rect x=\"{x}\" y=\"6\" width=\"14\" height=\"14\" fill=\"url(#fill-{class})\" class=\"legend\"/><text class=\"axis\" x=\"{}\" y=\"18\">{}</text>",
            x + 18.0,
            class.to_ascii_uppercase()
        );
    }
    for (n, (name, counts)) in worst.iter().enumerate() {
        let y = 32.0 + (bar_height + gap) * n as f64;
        let _ = write!(
            page,
            "<g class=\"bar\"><title>{}</title><text class=\"name\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            esc(name),
            label_width - 8.0,
            y + 12.0,
            esc(&cut(name, LABEL_CHARS))
        );
        let mut x = label_width;
        for (count, class) in counts.iter().zip(legend) {
            if *count == 0 {
                continue;
            }
            let w = (bar_width * *count as f64 / max as f64).max(2.0);
            let _ = write!(
                page,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{bar_height}\" fill=\"url(#fill-{class})\"><title>{} {count}</title></rect>",
                class.to_ascii_uppercase()
            );
            x += w;
        }
        let text: Vec<String> = counts
            .iter()
            .zip(["C", "H", "M", "L", "O"])
            .filter(|(count, _)| **count > 0)
            .map(|(count, letter)| format!("{letter} {count}"))
            .collect();
        let _ = writeln!(
            page,
            "<text class=\"counts\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            label_width + bar_width + 8.0,
            y + 12.0,
            text.join(" · ")
        );
    }
    page.push_str("</svg>\n");
    if repositories > worst.len() {
        let _ = writeln!(
            page,
            "<p>The {} worst of {repositories} repositories with findings; every image is in the table below. C critical, H high, M medium, L low, O other.</p>",
            worst.len()
        );
    } else {
        page.push_str("<p>C critical, H high, M medium, L low, O other.</p>\n");
    }
    page.push_str("</section>\n");
}

/// The images' order without a script: worst first, then by name.
fn sort_key(row: &SummaryRow) -> ([u64; 5], &str, &str) {
    (
        columns(&row.result.scan.severity_counts),
        row.result.image.repository.as_str(),
        row.result.image.tag.as_deref().unwrap_or(""),
    )
}

fn images(page: &mut String, summary: &Summary, api_url: Option<&str>) {
    page.push_str("<section id=\"images\">\n<h2>Images</h2>\n");
    page.push_str(
        "<div class=\"controls\" id=\"controls\" hidden>\
         <label>Filter <input id=\"filter\" type=\"search\" placeholder=\"repository, tag, digest, account…\"></label> \
         <label>At least <select id=\"min-severity\"><option value=\"0\">any</option><option value=\"6\">CRITICAL</option>\
         <option value=\"5\">HIGH</option><option value=\"4\">MEDIUM</option><option value=\"3\">LOW</option></select></label> \
         <output id=\"shown\" aria-live=\"polite\"></output></div>\n",
    );
    page.push_str(
        "<table id=\"images-table\">\n<thead><tr>\
         <th scope=\"col\" data-sort=\"account\">Account</th>\
         <th scope=\"col\" data-sort=\"region\">Region</th>\
         <th scope=\"col\" data-sort=\"repository\">Repository</th>\
         <th scope=\"col\" data-sort=\"tag\">Tag</th>\
         <th scope=\"col\" data-sort=\"digest\">Digest</th>\
         <th scope=\"col\" data-sort=\"status\">Status</th>\
         <th scope=\"col\" data-sort=\"critical\" data-type=\"number\">CRITICAL</th>\
         <th scope=\"col\" data-sort=\"high\" data-type=\"number\">HIGH</th>\
         <th scope=\"col\" data-sort=\"medium\" data-type=\"number\">MEDIUM</th>\
         <th scope=\"col\" data-sort=\"low\" data-type=\"number\">LOW</th>\
         <th scope=\"col\" data-sort=\"other\" data-type=\"number\">Other</th>\
         <th scope=\"col\" data-sort=\"suppressed\" data-type=\"number\">Suppressed</th>\
         <th scope=\"col\" data-sort=\"scanned\">Scanned</th>",
    );
    if api_url.is_some() {
        page.push_str("<th scope=\"col\">Findings</th>");
    }
    page.push_str("</tr></thead>\n<tbody>\n");
    let mut rows: Vec<&SummaryRow> = summary.rows.iter().collect();
    rows.sort_by(|a, b| {
        let (a_counts, a_repository, a_tag) = sort_key(a);
        let (b_counts, b_repository, b_tag) = sort_key(b);
        b_counts
            .cmp(&a_counts)
            .then_with(|| a_repository.cmp(b_repository))
            .then_with(|| a_tag.cmp(b_tag))
    });
    for row in rows {
        image_row(page, row, api_url);
    }
    page.push_str("</tbody>\n</table>\n</section>\n");
}

fn image_row(page: &mut String, row: &SummaryRow, api_url: Option<&str>) {
    let result = &row.result;
    let scan = &result.scan;
    let counts = &scan.severity_counts;
    let tag = result.image.tag.as_deref().unwrap_or("");
    let digest = result.image.digest.as_deref().unwrap_or("");
    let scanned = scan.scan_completed_at.map(time).unwrap_or_default();
    let _ = write!(page, "<tr data-worst=\"{}\">", rank(counts.highest()));
    let _ = write!(
        page,
        "<td>{}</td><td>{}</td><td class=\"name\">{}</td><td class=\"name\">{}</td><td class=\"digest\" title=\"{}\">{}</td>",
        esc(&row.registry),
        esc(&row.region),
        esc(&result.image.repository),
        if tag.is_empty() {
            "<span class=\"none\">none</span>".to_owned()
        } else {
            esc(tag)
        },
        esc(digest),
        esc(&short_digest(digest))
    );
    match scan.status_description.as_deref() {
        Some(description) => {
            let _ = write!(
                page,
                "<td class=\"status\" title=\"{}\">{}</td>",
                esc(description),
                scan.status.as_str()
            );
        }
        None => {
            let _ = write!(page, "<td class=\"status\">{}</td>", scan.status.as_str());
        }
    }
    for severity in SHOWN {
        count_cell(page, counts.get(severity), class_of(severity));
    }
    count_cell(page, other(counts), "other");
    count_cell(page, result.suppressed_counts.total(), "suppressed");
    let _ = write!(page, "<td>{scanned}</td>");
    if let Some(base) = api_url {
        let config = row.config_id;
        let _ = write!(
            page,
            "<td><a href=\"{0}/findings/{config}\">feed</a> <a href=\"{0}/findings/{config}?format=json\">JSON</a></td>",
            esc(base.trim_end_matches('/'))
        );
    }
    page.push_str("</tr>\n");
}

fn count_cell(page: &mut String, count: u64, class: &str) {
    if count == 0 {
        page.push_str("<td class=\"count zero\">0</td>");
    } else {
        let _ = write!(page, "<td class=\"count {class}\">{count}</td>");
    }
}

fn changes(page: &mut String, changes: &[Change], now: DateTime<Utc>) {
    let since = now - RECENT_CHANGES;
    let recent: Vec<&Change> = changes
        .iter()
        .filter(|change| change.detected_at >= since && change.detected_at <= now)
        .collect();
    let _ = writeln!(
        page,
        "<section id=\"changes\">\n<h2>Changes since {}</h2>",
        since.format("%Y-%m-%d %H:%M UTC")
    );
    if recent.is_empty() {
        page.push_str("<p>No changes recorded.</p>\n</section>\n");
        return;
    }
    let mut new = 0usize;
    let mut fixed = 0usize;
    let mut raised = 0usize;
    for change in &recent {
        new += change.new.len();
        fixed += change.fixed.len();
        raised += change
            .severity_changed
            .iter()
            .filter(|c| c.to.is_at_least(c.from) && c.to != c.from)
            .count();
    }
    let _ = writeln!(
        page,
        "<p>{} changes: {new} new, {fixed} fixed and {raised} raised findings.</p>",
        recent.len()
    );
    for change in recent.iter().take(MAX_CHANGES) {
        change_entry(page, change);
    }
    if recent.len() > MAX_CHANGES {
        let _ = writeln!(
            page,
            "<p>And {} older changes (<code>ecrscan changes</code> lists them all).</p>",
            recent.len() - MAX_CHANGES
        );
    }
    page.push_str("</section>\n");
}

fn change_entry(page: &mut String, change: &Change) {
    let tags = if change.tags.is_empty() {
        String::new()
    } else {
        format!(":{}", change.tags.join(","))
    };
    let kind = match change.kind {
        ChangeKind::Baseline => "first result",
        ChangeKind::FindingsChanged => "findings changed",
        ChangeKind::TagMoved => "tag moved",
    };
    let detected = time(change.detected_at);
    let _ = write!(
        page,
        "<article class=\"change\">\n<h3><span class=\"kind\">{kind}</span> {}{} <span class=\"digest\" title=\"{}\">{}</span></h3>\n\
         <p class=\"meta\">{} {} · detected <time datetime=\"{detected}\">{detected}</time>",
        esc(&change.repository),
        esc(&tags),
        esc(&change.digest),
        esc(&short_digest(&change.digest)),
        esc(&change.registry),
        esc(&change.region),
    );
    page.push_str("</p>\n");
    if let Some(previous) = &change.previous_digest {
        let _ = writeln!(
            page,
            "<p>Moved from <span class=\"digest\" title=\"{}\">{}</span>.</p>",
            esc(previous),
            esc(&short_digest(previous))
        );
    }
    finding_list(page, "New", &change.new);
    finding_list(page, "Fixed", &change.fixed);
    let raised: Vec<Finding> = change
        .severity_changed
        .iter()
        .map(|c| {
            let mut finding = c.finding.clone();
            finding.title = Some(format!(
                "{} → {}{}",
                c.from.as_str(),
                c.to.as_str(),
                finding
                    .title
                    .as_deref()
                    .map(|title| format!(": {title}"))
                    .unwrap_or_default()
            ));
            finding
        })
        .collect();
    finding_list(page, "Severity changed", &raised);
    finding_list(page, "Resurfaced", &change.resurfaced);
    page.push_str("</article>\n");
}

fn finding_list(page: &mut String, heading: &str, findings: &[Finding]) {
    if findings.is_empty() {
        return;
    }
    let _ = writeln!(
        page,
        "<h4>{heading} ({})</h4>\n<ul class=\"findings\">",
        findings.len()
    );
    for finding in findings.iter().take(FINDINGS_PER_LIST) {
        let name = match finding.uri.as_deref().and_then(safe_link) {
            Some(uri) => format!(
                "<a href=\"{}\" rel=\"noreferrer\">{}</a>",
                esc(uri),
                esc(&finding.name)
            ),
            None => esc(&finding.name),
        };
        let package = match (&finding.package_name, &finding.package_version) {
            (Some(name), Some(version)) => format!(" in {} {}", esc(name), esc(version)),
            (Some(name), None) => format!(" in {}", esc(name)),
            _ => String::new(),
        };
        let _ = write!(
            page,
            "<li><span class=\"severity {}\">{}</span> {name}{package}",
            class_of(finding.severity),
            finding.severity.as_str()
        );
        if let Some(title) = &finding.title {
            let _ = write!(page, ": {}", esc(&cut(title, DESCRIPTION_CHARS)));
        }
        if let Some(description) = &finding.description {
            let _ = write!(
                page,
                "<p class=\"description\">{}</p>",
                esc(&cut(description, DESCRIPTION_CHARS))
            );
        }
        if let Some(mark) = &finding.suppressed {
            let _ = write!(
                page,
                " <span class=\"suppressed\">suppressed by {}</span>",
                mark.rule
            );
        }
        page.push_str("</li>\n");
    }
    if findings.len() > FINDINGS_PER_LIST {
        let _ = writeln!(
            page,
            "<li>and {} more</li>",
            findings.len() - FINDINGS_PER_LIST
        );
    }
    page.push_str("</ul>\n");
}

fn suppressions(page: &mut String, summary: &Summary, rules: &[Suppression]) {
    page.push_str("<section id=\"suppressions\">\n<h2>Suppressions</h2>\n");
    if rules.is_empty() {
        page.push_str("<p>No suppression rules.</p>\n</section>\n");
        return;
    }
    let warning_of: BTreeMap<uuid::Uuid, &crate::suppress::SuppressionWarning> = summary
        .warnings
        .iter()
        .map(|warning| (warning.rule, warning))
        .collect();
    let _ = writeln!(
        page,
        "<p>{} rules; {} worth a look.</p>",
        rules.len(),
        warning_of.len()
    );
    page.push_str(
        "<table id=\"suppressions-table\">\n<thead><tr><th scope=\"col\">Vulnerability</th><th scope=\"col\">Scope</th>\
         <th scope=\"col\">Reason</th><th scope=\"col\">Expires</th><th scope=\"col\">Covers</th>\
         <th scope=\"col\">State</th><th scope=\"col\">Rule</th></tr></thead>\n<tbody>\n",
    );
    let mut ordered: Vec<&Suppression> = rules.iter().collect();
    ordered.sort_by(|a, b| {
        warning_of
            .contains_key(&b.id)
            .cmp(&warning_of.contains_key(&a.id))
            .then_with(|| a.vulnerability.cmp(&b.vulnerability))
            .then_with(|| a.id.cmp(&b.id))
    });
    for rule in ordered {
        let covers = summary.rule_matches.get(&rule.id).copied().unwrap_or(0);
        let (state_class, state) = match warning_of.get(&rule.id).map(|warning| warning.kind) {
            Some(Staleness::Expired) => ("expired", "expired: its findings count again"),
            Some(Staleness::ExpiresSoon) => ("soon", "expires soon"),
            Some(Staleness::MatchedNothing) => ("stale", "covers no finding"),
            None => ("active", "active"),
        };
        let expires = match rule.expires {
            Expiry::Never => "never".to_owned(),
            Expiry::At(at) => time(at),
        };
        let _ = writeln!(
            page,
            "<tr class=\"{state_class}\"><td>{}</td><td>{}</td><td>{}</td><td>{expires}</td><td class=\"count\">{covers}</td><td>{state}</td><td class=\"digest\">{}</td></tr>",
            esc(&rule.vulnerability),
            esc(&rule.scope.describe()),
            esc(&cut(&rule.reason, DESCRIPTION_CHARS)),
            rule.id
        );
    }
    page.push_str("</tbody>\n</table>\n</section>\n");
}
