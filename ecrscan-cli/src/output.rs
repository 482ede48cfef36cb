//! Terminal output: tables, colour, progress bars, logging, and errors.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use ecrscan_core::scan::Progress;
use ecrscan_core::{RescanReport, ScanConfig, ScanOutcome, ScanStatus, Severity, Summary};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::failure::Failure;

/// Whether output is coloured: decided once, by `main`, for stdout and
/// stderr, and handed to every printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Colour on stdout.
    pub colour: bool,
    /// Colour on stderr (logs).
    pub colour_stderr: bool,
}

impl Style {
    /// Colour on a terminal, never with `NO_COLOR`.
    pub fn detect() -> Style {
        Style {
            colour: colour_on(&io::stdout()),
            colour_stderr: colour_on(&io::stderr()),
        }
    }

    /// `text` in the ANSI colour `code` when colour is on.
    fn paint(self, text: &str, code: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// Logs go to stderr; warnings only unless `-v` or `RUST_LOG` asks for more.
pub fn init_logging(verbose: u8, style: Style) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(ecrscan_core::logging::log_filter(default))
        .with_writer(io::stderr)
        .with_ansi(style.colour_stderr)
        .init();
}

/// Prints a failure as one `error:` line and returns its exit code.
pub fn report(failure: &Failure) -> ExitCode {
    match failure {
        Failure::BrokenPipe => {}
        Failure::Usage(message) | Failure::Operation(message) => eprintln!("error: {message}"),
    }
    ExitCode::from(failure.exit_code())
}

/// Says on stderr that `failed` of `total` images failed, with the first
/// failure's reason; `none_worked` says it when every image failed (e.g.
/// `no image could be scanned`).
pub fn failures_note(failed: usize, total: usize, none_worked: &str, first_reason: &str) {
    if failed == 0 {
        return;
    }
    if failed == total {
        eprintln!("error: {none_worked}; the first failure: {first_reason}");
    } else {
        eprintln!("error: {failed} of {total} images failed; the first failure: {first_reason}");
    }
}

/// Writes to stdout, flushing at the end; a closed pipe is [`Failure::BrokenPipe`].
pub fn stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    write(&mut out)?;
    out.flush()?;
    Ok(())
}

/// Writes a file through a temporary file in the same directory and a
/// rename, so readers never see half a file.
pub fn write_file_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("not a file name"))?;
    let temp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = io::BufWriter::new(std::fs::File::create(&temp)?);
        write(&mut file)?;
        file.into_inner()
            .map_err(|err| err.into_error())?
            .sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn colour_on(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A scan outcome, coloured when `style` says.
fn paint_outcome(outcome: ScanOutcome, style: Style) -> String {
    let code = match outcome {
        ScanOutcome::Started => "32",
        ScanOutcome::AlreadyScanned | ScanOutcome::Continuous => "36",
        ScanOutcome::Failed => "31",
        ScanOutcome::NotReached => "33",
    };
    style.paint(outcome.as_str(), code)
}

/// The scan report for people: one line per image, `REPOSITORY:TAG
/// OUTCOME[: reason]`.
pub fn scan_report(report: &RescanReport, style: Style, out: &mut dyn Write) -> io::Result<()> {
    for image in &report.images {
        let tag = image.tag.as_deref().unwrap_or("*");
        let outcome = paint_outcome(image.outcome, style);
        match (&image.outcome, &image.reason) {
            (ScanOutcome::Failed, Some(reason)) => {
                writeln!(out, "{}:{tag} {outcome}: {reason}", image.repository)?
            }
            _ => writeln!(out, "{}:{tag} {outcome}", image.repository)?,
        }
    }
    Ok(())
}

/// A progress bar on stderr, shown only when stderr is a terminal.
pub fn progress_bar(message: &'static str) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}

/// Moves `bar` as an operation reports its progress.
pub fn advance(bar: &ProgressBar) -> impl Fn(Progress) + Sync + '_ {
    move |progress| {
        bar.set_length(progress.total as u64);
        bar.set_position(progress.done as u64);
    }
}

/// Writes rows as left-aligned columns separated by two spaces; the cells
/// may carry colour codes, which don't count towards the width.
fn table(header: &[&str], rows: &[Vec<(String, String)>], out: &mut dyn Write) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, (plain, _)) in row.iter().enumerate() {
            widths[i] = widths[i].max(plain.chars().count());
        }
    }
    let line = |cells: Vec<(String, String)>, out: &mut dyn Write| -> io::Result<()> {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, (plain, shown)) in cells.into_iter().enumerate() {
            text.push_str(&shown);
            if i < last {
                text.push_str(&" ".repeat(widths[i] - plain.chars().count() + 2));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(
        header
            .iter()
            .map(|h| (h.to_string(), h.to_string()))
            .collect(),
        out,
    )?;
    for row in rows {
        line(row.clone(), out)?;
    }
    Ok(())
}

fn plain(text: impl Into<String>) -> (String, String) {
    let text = text.into();
    (text.clone(), text)
}

/// Channels as a table: id, type, where they send, minimum severity, and
/// the secret's reference (never a secret).
pub fn channels_table(
    channels: &[ecrscan_core::channels::Channel],
    out: &mut dyn Write,
) -> io::Result<()> {
    use ecrscan_core::channels::Target;
    if channels.is_empty() {
        return writeln!(out, "no channels");
    }
    let rows: Vec<Vec<(String, String)>> = channels
        .iter()
        .map(|channel| {
            let secret = match &channel.target {
                Target::Webhook { secret, .. } => secret.to_string(),
                _ => "-".to_owned(),
            };
            let severity = if channel.include_fixed {
                format!("{} (+fixed)", channel.min_severity)
            } else {
                channel.min_severity.to_string()
            };
            vec![
                plain(channel.id.to_string()),
                plain(channel.target.kind().to_owned()),
                plain(channel.target.destination()),
                plain(severity),
                plain(secret),
            ]
        })
        .collect();
    table(
        &["ID", "TYPE", "DESTINATION", "MIN SEVERITY", "SECRET"],
        &rows,
        out,
    )
}

/// Each channel's deliveries: counts, then one line per pending or failed
/// delivery with its last error.
pub fn channel_status_table(
    statuses: &[ecrscan_core::notify::ChannelStatus],
    now: chrono::DateTime<chrono::Utc>,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    use ecrscan_core::deliveries::DeliveryState;
    use ecrscan_core::render::printable;
    if statuses.is_empty() {
        return writeln!(out, "no channels");
    }
    let rows: Vec<Vec<(String, String)>> = statuses
        .iter()
        .map(|status| {
            let failed = status.failed.to_string();
            let failed_cell = if status.failed > 0 {
                (failed.clone(), style.paint(&failed, "31"))
            } else {
                plain(failed)
            };
            vec![
                plain(status.channel.id.to_string()),
                plain(status.channel.target.kind().to_owned()),
                plain(status.channel.target.destination()),
                plain(status.pending.to_string()),
                failed_cell,
                plain(status.delivered.to_string()),
                plain(status.unreadable.to_string()),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "TYPE",
            "DESTINATION",
            "PENDING",
            "FAILED",
            "DELIVERED",
            "UNREADABLE",
        ],
        &rows,
        out,
    )?;
    for status in statuses.iter().filter(|s| !s.outstanding.is_empty()) {
        writeln!(out, "\n{}:", status.channel.id)?;
        for delivery in &status.outstanding {
            let change = &delivery.change;
            let state = match delivery.state {
                DeliveryState::Failed => style.paint("failed ", "31"),
                _ => "pending".to_owned(),
            };
            let age = (now - delivery.queued_at).num_minutes().max(0);
            writeln!(
                out,
                "  {state}  {}  {} {}@{}  {} attempts, queued {age} min ago{}",
                change.id,
                change.kind.as_str(),
                printable(&change.repository),
                printable(&change.digest),
                delivery.attempts,
                delivery
                    .last_error
                    .as_deref()
                    .map(|err| format!(": {}", printable(err)))
                    .unwrap_or_default()
            )?;
        }
    }
    Ok(())
}

/// Says on stderr what a delivery pass sent and what did not go through.
pub fn delivery_report_note(report: &ecrscan_core::notify::DeliveryReport) {
    if report.delivered > 0 {
        eprintln!("sent {} notifications", report.delivered);
    }
    let waiting = report.retry_later + report.deferred;
    if waiting > 0 {
        eprintln!(
            "warning: {waiting} notifications could not be sent now and stay queued (ecrscan channels status)"
        );
    }
    if report.failed > 0 {
        eprintln!(
            "warning: {} notifications were refused and marked failed (ecrscan channels status)",
            report.failed
        );
    }
    for error in &report.errors {
        eprintln!(
            "warning: notifications: {}",
            ecrscan_core::render::printable(error)
        );
    }
}

/// Suppression rules as a table: id, vulnerability, scope, expiry (or
/// `EXPIRED`), the findings each covers now, and the reason.
pub fn suppressions_table(
    rules: &[&ecrscan_core::Suppression],
    covers: &std::collections::BTreeMap<uuid::Uuid, u64>,
    now: chrono::DateTime<chrono::Utc>,
    out: &mut dyn Write,
) -> io::Result<()> {
    use ecrscan_core::render::printable;
    if rules.is_empty() {
        return writeln!(out, "no suppression rules");
    }
    let rows: Vec<Vec<(String, String)>> = rules
        .iter()
        .map(|rule| {
            let expires = if rule.is_active(now) {
                match rule.expires.at() {
                    Some(at) => at.format("%Y-%m-%d %H:%M").to_string(),
                    None => "never".to_owned(),
                }
            } else {
                "EXPIRED".to_owned()
            };
            let reason: String = printable(&rule.reason).chars().take(60).collect();
            vec![
                plain(rule.id.to_string()),
                plain(printable(&rule.vulnerability)),
                plain(printable(&rule.scope.describe())),
                plain(expires),
                plain(covers.get(&rule.id).copied().unwrap_or(0).to_string()),
                plain(reason),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "VULNERABILITY",
            "SCOPE",
            "EXPIRES (UTC)",
            "COVERS",
            "REASON",
        ],
        &rows,
        out,
    )
}

/// The configs as a table for people.
pub fn configs_table(configs: &[ScanConfig], out: &mut dyn Write) -> io::Result<()> {
    if configs.is_empty() {
        return writeln!(out, "no scan configs");
    }
    let rows: Vec<Vec<(String, String)>> = configs
        .iter()
        .map(|config| {
            let tags = if config.tags.is_empty() {
                "(all tagged images)".to_owned()
            } else {
                config.tags.join(",")
            };
            vec![
                plain(config.id.to_string()),
                plain(config.created.format("%Y-%m-%d %H:%M").to_string()),
                plain(config.region.clone()),
                plain(config.registry.clone()),
                plain(config.repository.clone()),
                plain(tags),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "CREATED (UTC)",
            "REGION",
            "REGISTRY",
            "REPOSITORY",
            "TAGS",
        ],
        &rows,
        out,
    )
}

fn severity_cell(severity: Severity, count: u64, style: Style) -> (String, String) {
    let text = count.to_string();
    let code = match severity {
        _ if count == 0 => return plain(text),
        Severity::Critical => "1;31",
        Severity::High => "31",
        Severity::Medium => "33",
        _ => return plain(text),
    };
    (text.clone(), style.paint(&text, code))
}

fn status_cell(status: ScanStatus, style: Style) -> (String, String) {
    let text = status.as_str().to_owned();
    let code = match status {
        ScanStatus::Complete | ScanStatus::Active => "32",
        ScanStatus::InProgress | ScanStatus::Pending | ScanStatus::NotScanned => "36",
        _ => "31",
    };
    (text.clone(), style.paint(&text, code))
}

/// The summary as a table: one image a line, counts per severity.
pub fn summary_table(summary: &Summary, style: Style, out: &mut dyn Write) -> io::Result<()> {
    if summary.rows.is_empty() {
        return writeln!(
            out,
            "no images: add scan configs with `ecrscan configs add`"
        );
    }
    let any_suppressed = summary
        .rows
        .iter()
        .any(|row| !row.result.suppressed_counts.is_empty());
    let rows: Vec<Vec<(String, String)>> = summary
        .rows
        .iter()
        .map(|row| {
            let result = &row.result;
            let counts = &result.scan.severity_counts;
            let mut cells = vec![
                plain(format!(
                    "{}:{}",
                    result.image.repository,
                    result.image.tag.as_deref().unwrap_or("*")
                )),
                plain(row.region.clone()),
                status_cell(result.scan.status, style),
            ];
            for severity in [
                Severity::Critical,
                Severity::High,
                Severity::Medium,
                Severity::Low,
                Severity::Informational,
            ] {
                cells.push(severity_cell(severity, counts.get(severity), style));
            }
            cells.push(plain(
                counts
                    .get(Severity::Undefined)
                    .saturating_add(counts.get(Severity::Untriaged))
                    .to_string(),
            ));
            cells.push(plain(counts.total().to_string()));
            if any_suppressed {
                cells.push(plain(result.suppressed_counts.total().to_string()));
            }
            cells
        })
        .collect();
    let mut header = vec![
        "IMAGE", "REGION", "STATUS", "CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO", "OTHER", "TOTAL",
    ];
    if any_suppressed {
        header.push("SUPPRESSED");
    }
    table(&header, &rows, out)
}

#[cfg(test)]
mod tests {
    use ecrscan_core::ImageScanReport;
    use uuid::Uuid;

    use super::*;

    fn report() -> RescanReport {
        let row = |tag: &str, outcome, reason: Option<&str>| ImageScanReport {
            config_id: Uuid::nil(),
            registry: "123456789012".into(),
            region: "us-west-2".into(),
            repository: "test/ubuntu".into(),
            tag: Some(tag.into()),
            digest: None,
            outcome,
            reason: reason.map(str::to_owned),
        };
        RescanReport {
            images: vec![
                row("16.04", ScanOutcome::Started, None),
                row("gone", ScanOutcome::Failed, Some("tag gone not found")),
            ],
            started: 1,
            failed: 1,
            ..RescanReport::default()
        }
    }

    #[test]
    fn printers_colour_only_when_told() {
        let mut plain = Vec::new();
        let off = Style {
            colour: false,
            colour_stderr: false,
        };
        scan_report(&report(), off, &mut plain).unwrap();
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            "test/ubuntu:16.04 started\ntest/ubuntu:gone failed: tag gone not found\n"
        );
        let mut coloured = Vec::new();
        let on = Style {
            colour: true,
            ..off
        };
        scan_report(&report(), on, &mut coloured).unwrap();
        let coloured = String::from_utf8(coloured).unwrap();
        assert!(coloured.contains("\x1b[32mstarted\x1b[0m"), "{coloured:?}");
        assert!(
            coloured.contains("\x1b[31mfailed\x1b[0m: tag gone"),
            "{coloured:?}"
        );
    }
}
