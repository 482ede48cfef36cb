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

/// Writes a file through a temporary file in the same directory (created
/// new with an unpredictable name, never through a symbolic link) and a
/// rename, then syncs the directory: readers never see half a file, and
/// the new file survives a crash once this returns.
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
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    let mut file = io::BufWriter::new(temp);
    write(&mut file)?;
    let temp = file.into_inner().map_err(|err| err.into_error())?;
    temp.as_file().sync_all()?;
    // On failure the temporary file is removed when dropped.
    temp.persist(path).map_err(|err| err.error)?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn colour_on(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A scan outcome, coloured when `style` says.
fn paint_outcome(outcome: ScanOutcome, style: Style) -> String {
    let code = match outcome {
        ScanOutcome::Started => "32",
        ScanOutcome::AlreadyScanned | ScanOutcome::Continuous | ScanOutcome::ScanOnPush => "36",
        ScanOutcome::NotCovered => "33",
        ScanOutcome::Failed => "31",
        ScanOutcome::NotReached => "33",
    };
    style.paint(outcome.as_str(), code)
}

/// The scan report for people: one line per image, `REPOSITORY:TAG
/// OUTCOME[: reason]`, each line starting with its account and region when
/// the report spans more than one.
pub fn scan_report(report: &RescanReport, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let first = report.images.first().map(|i| (&i.registry, &i.region));
    let places = report
        .images
        .iter()
        .any(|i| Some((&i.registry, &i.region)) != first);
    for image in &report.images {
        let place = if places {
            format!(
                "{} {} ",
                printable(&image.registry),
                printable(&image.region)
            )
        } else {
            String::new()
        };
        let tag = image.tag.as_deref().unwrap_or("*");
        let outcome = paint_outcome(image.outcome, style);
        let repository = printable(&image.repository);
        match (&image.outcome, &image.reason) {
            (ScanOutcome::Failed, Some(reason)) => writeln!(
                out,
                "{place}{repository}:{} {outcome}: {}",
                printable(tag),
                printable(reason)
            )?,
            _ => writeln!(out, "{place}{repository}:{} {outcome}", printable(tag))?,
        }
    }
    Ok(())
}

/// The scan's counts on stderr: `N started, N already scanned, N
/// continuous, N failed`, with the enhanced-scanning gaps when there are
/// any.
pub fn scan_counts_note(report: &RescanReport) {
    let mut note = format!(
        "{} started, {} already scanned, {} continuous, {} failed",
        report.started, report.already_scanned, report.continuous, report.failed
    );
    if report.scan_on_push > 0 {
        note.push_str(&format!(
            "; {} scanned on push only (not re-scanned)",
            report.scan_on_push
        ));
    }
    if report.not_covered > 0 {
        note.push_str(&format!(
            "; {} never scanned: no enhanced scanning rule covers their repositories",
            report.not_covered
        ));
    }
    eprintln!("{note}");
}

/// `text` with control characters (a terminal's escape sequences among
/// them) shown as `?`: text from AWS or a store is never trusted to be
/// harmless on a terminal.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

/// What a config selects, for people: its accounts (for an organization),
/// then each repository with the images it takes (`+`) and leaves out
/// (`-`), each with its clauses or reason.
pub fn config_explanation(
    explanation: &ecrscan_core::explain::Explanation,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    let taken_repositories = explanation
        .repositories
        .iter()
        .filter(|r| r.taken.is_some())
        .count();
    writeln!(
        out,
        "config {} selects {} image(s) in {} repositor{} at {}",
        explanation.config_id,
        explanation.images(),
        taken_repositories,
        if taken_repositories == 1 { "y" } else { "ies" },
        explanation.at.format("%Y-%m-%d %H:%M UTC"),
    )?;
    if let Some(error) = &explanation.accounts_error {
        writeln!(
            out,
            "{}",
            style.paint(
                &format!(
                    "cannot list the organization's accounts: {}",
                    printable(error)
                ),
                "31"
            )
        )?;
    }
    if !explanation.accounts.is_empty() {
        writeln!(out, "accounts:")?;
        for account in &explanation.accounts {
            let name = account
                .name
                .as_deref()
                .map(|name| format!(" {}", printable(name)))
                .unwrap_or_default();
            match &account.left_out {
                None => writeln!(out, "  + {}{name}", account.id)?,
                Some(reason) => writeln!(
                    out,
                    "  {} {}{name} ({reason})",
                    style.paint("-", "2"),
                    account.id
                )?,
            }
        }
    }
    for repository in &explanation.repositories {
        let place = format!(
            "{} {} {}",
            repository.registry,
            repository.region,
            printable(&repository.repository)
        );
        if let Some(error) = &repository.error {
            writeln!(
                out,
                "{place}: {}",
                style.paint(&format!("error: {}", printable(error)), "31")
            )?;
        } else if let Some(reason) = &repository.left_out {
            writeln!(
                out,
                "{place}: {}",
                style.paint(&format!("left out: {reason}"), "2")
            )?;
        } else {
            let why = repository.taken.as_deref().unwrap_or_default();
            writeln!(out, "{place}: {why}")?;
        }
        for chosen in &repository.images {
            writeln!(
                out,
                "  {} {} {}: {}",
                style.paint("+", "32"),
                chosen.image.digest,
                printable(&chosen.image.tags.join(",")),
                chosen.clauses.join(", ")
            )?;
        }
        for left_out in &repository.images_left_out {
            writeln!(
                out,
                "  {} {} {}: {}",
                style.paint("-", "2"),
                left_out.image.digest,
                printable(&left_out.image.tags.join(",")),
                left_out.reason
            )?;
        }
        for tag in &repository.missing_tags {
            writeln!(
                out,
                "  {} tag {} not found",
                style.paint("!", "33"),
                printable(tag)
            )?;
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
    let selections: Vec<String> = configs.iter().map(selection_text).collect();
    let any_selection = selections.iter().any(|s| !s.is_empty());
    let rows: Vec<Vec<(String, String)>> = configs
        .iter()
        .zip(selections)
        .map(|(config, selection)| {
            let tags = if config.tags.is_empty() {
                "(all tagged images)".to_owned()
            } else {
                config.tags.join(",")
            };
            let mut row = vec![
                plain(config.id.to_string()),
                plain(config.created.format("%Y-%m-%d %H:%M").to_string()),
                plain(config.region.clone()),
                plain(config.registry.clone()),
                plain(config.repository.clone()),
                plain(tags),
            ];
            if any_selection {
                row.push(plain(selection));
            }
            row
        })
        .collect();
    let mut header = vec![
        "ID",
        "CREATED (UTC)",
        "REGION",
        "REGISTRY",
        "REPOSITORY",
        "TAGS",
    ];
    if any_selection {
        header.push("SELECTION");
    }
    table(&header, &rows, out)
}

/// A config's fields beyond the sample's, briefly: `not prod/legacy-*;
/// most recent 3; pushed 30d; pulled 14d; not accounts 444455556666`.
fn selection_text(config: &ScanConfig) -> String {
    let mut parts = Vec::new();
    if !config.exclude_repositories.is_empty() {
        parts.push(format!("not {}", config.exclude_repositories.join(",")));
    }
    if let Some(n) = config.most_recent {
        parts.push(format!("most recent {n}"));
    }
    if let Some(days) = config.pushed_within_days {
        parts.push(format!("pushed {days}d"));
    }
    if let Some(days) = config.pulled_within_days {
        parts.push(format!("pulled {days}d"));
    }
    if !config.exclude_accounts.is_empty() {
        parts.push(format!(
            "not accounts {}",
            config.exclude_accounts.join(",")
        ));
    }
    parts.join("; ")
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
    let accounts = ecrscan_core::render::many_accounts(summary);
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
            ];
            if accounts {
                cells.push(plain(row.registry.clone()));
            }
            cells.push(status_cell(result.scan.status, style));
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
    let mut header = vec!["IMAGE", "REGION"];
    if accounts {
        header.push("ACCOUNT");
    }
    header.extend([
        "STATUS", "CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO", "OTHER", "TOTAL",
    ]);
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

    #[test]
    fn a_report_over_several_accounts_names_each_lines_account_and_hostile_text_is_defused() {
        let mut report = report();
        report.images[1].registry = "222222222222".into();
        report.images[1].reason = Some("denied\x1b[2J\x07".into());
        let off = Style {
            colour: false,
            colour_stderr: false,
        };
        let mut out = Vec::new();
        scan_report(&report, off, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "123456789012 us-west-2 test/ubuntu:16.04 started\n\
             222222222222 us-west-2 test/ubuntu:gone failed: denied?[2J?\n"
        );
    }

    #[test]
    fn an_explanation_lists_accounts_repositories_and_images_with_their_reasons() {
        use ecrscan_core::backend::Image;
        use ecrscan_core::explain::{AccountExplained, Explanation, RepositoryExplained};
        use ecrscan_core::select::{Chosen, LeftOut};
        let image = |digest: &str, tag: &str| Image {
            digest: digest.into(),
            tags: vec![tag.into()],
            ..Image::default()
        };
        let repository = |name: &str| RepositoryExplained {
            registry: "111111111111".into(),
            region: "us-west-2".into(),
            repository: name.into(),
            taken: None,
            left_out: None,
            error: None,
            images: Vec::new(),
            images_left_out: Vec::new(),
            missing_tags: Vec::new(),
        };
        let explanation = Explanation {
            config_id: Uuid::nil(),
            at: chrono::DateTime::from_timestamp(1_796_385_600, 0).unwrap(),
            accounts: vec![
                AccountExplained {
                    id: "111111111111".into(),
                    name: Some("central".into()),
                    left_out: None,
                },
                AccountExplained {
                    id: "333333333333".into(),
                    name: None,
                    left_out: Some("suspended or closing".into()),
                },
            ],
            accounts_error: None,
            repositories: vec![
                RepositoryExplained {
                    taken: Some("matches prod/*".into()),
                    images: vec![Chosen {
                        image: image("sha256:a2", "v1.1"),
                        clauses: vec!["every tagged image".into(), "most recent (#1 of 1)".into()],
                    }],
                    images_left_out: vec![LeftOut {
                        image: image("sha256:a4", "v0.1"),
                        reason: "archived".into(),
                    }],
                    ..repository("prod/api")
                },
                RepositoryExplained {
                    left_out: Some("excluded by prod/legacy-*".into()),
                    ..repository("prod/legacy-web")
                },
                RepositoryExplained {
                    error: Some("cannot assume arn:aws:iam::1:role/r: AccessDenied".into()),
                    ..repository("prod/*")
                },
            ],
        };
        let off = Style {
            colour: false,
            colour_stderr: false,
        };
        let mut out = Vec::new();
        config_explanation(&explanation, off, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "config 00000000-0000-0000-0000-000000000000 selects 1 image(s) in 1 repository at 2026-12-04 12:00 UTC
accounts:
  + 111111111111 central
  - 333333333333 (suspended or closing)
111111111111 us-west-2 prod/api: matches prod/*
  + sha256:a2 v1.1: every tagged image, most recent (#1 of 1)
  - sha256:a4 v0.1: archived
111111111111 us-west-2 prod/legacy-web: left out: excluded by prod/legacy-*
111111111111 us-west-2 prod/*: error: cannot assume arn:aws:iam::1:role/r: AccessDenied
"
        );
    }

    #[test]
    fn atomic_writes_replace_a_symlink_never_write_through_it_and_leave_nothing_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let report = dir.path().join("report.atom");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, &report).unwrap();
        write_file_atomically(&report, |out| out.write_all(b"<feed/>")).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&report).unwrap(), "<feed/>");
        assert!(std::fs::symlink_metadata(&report).unwrap().is_file());

        let failed = write_file_atomically(&report, |out| {
            out.write_all(b"half")?;
            Err(io::Error::other("the renderer failed"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&report).unwrap(), "<feed/>");
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["report.atom", "victim"], "no temporary file left");
    }
}
