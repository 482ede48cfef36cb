//! What each command does: read the arguments, call the core, print.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::CommandFactory;
use ecrscan_core::render::{
    FeedOptions, write_atom_feed, write_json_findings, write_json_summary, write_text_summary,
};
use ecrscan_core::scan::{SuppressedFindings, collect_summary_with_progress, rescan_with_progress};
use ecrscan_core::{
    ImageScanResult, ReadFrom, ScanConfig, ScanOutcome, ScanStatus, Summary, collect_results,
};
use uuid::Uuid;

use crate::cli::{Cli, Command, FindingsFormat, ListFormat, ScanFormat, Shell, SummaryFormat};
use crate::context::{Context, list_configs, parse_id, parse_uuid};
use crate::failure::{FINDINGS_FOUND, Failure, SOME_FAILED};
use crate::output;
use ecrscan_core::aws::sqs::SqsWorkQueue;
use ecrscan_core::queue::{
    BATCH, QueueError, Settled, Settlement, WorkDone, WorkQueue, enqueue_plan, settle, work_on,
};
use ecrscan_core::render::{HtmlReport, write_html_report};
use ecrscan_core::trend::{TREND_DAYS, TrendPoint, fleet_trend};

/// Runs the command; `Ok` carries the exit code of a command that ran.
pub async fn run(cli: Cli, style: output::Style) -> Result<ExitCode, Failure> {
    if let Command::Completions { shell } = cli.command {
        return completions(shell);
    }
    let context = Context::new(&cli, style).await?;
    match cli.command {
        Command::Configs(command) => crate::configs::run(&context, command).await,
        Command::Scan {
            ids,
            output,
            queue: Some(queue),
        } => enqueue(&context, &ids, output, &queue).await,
        Command::Scan { ids, output, .. } => scan(&context, &ids, output).await,
        Command::Worker { queue, until_empty } => worker(&context, &queue, until_empty).await,
        Command::Summary {
            output,
            fail_on,
            wait,
            live,
        } => {
            let (format, file) = crate::cli::summary_output(&output).map_err(Failure::Usage)?;
            summary(
                &context,
                format,
                file.as_deref(),
                fail_on,
                wait,
                read_from(live),
            )
            .await
        }
        Command::Findings {
            id,
            format,
            min_severity,
            output,
            live,
            include_suppressed,
        } => {
            let file = output.as_deref();
            let suppressed = if include_suppressed {
                SuppressedFindings::Shown
            } else {
                SuppressedFindings::Hidden
            };
            findings(
                &context,
                &id,
                format,
                min_severity,
                file,
                read_from(live),
                suppressed,
            )
            .await
        }
        Command::Suppress(command) => crate::suppress::run(&context, *command).await,
        Command::Channels(command) => channels(&context, command).await,
        Command::Changes {
            ids,
            since,
            min_severity,
            output,
        } => changes(&context, &ids, since, min_severity, output).await,
        Command::Completions { .. } => unreachable!("handled above"),
    }
}

async fn channels(
    context: &Context,
    command: crate::cli::ChannelsCommand,
) -> Result<ExitCode, Failure> {
    use crate::cli::{AddChannel, ChannelsCommand};
    use ecrscan_core::channels::{Channel, SecretRef, Target};
    match command {
        ChannelsCommand::Add(add) => {
            let usage =
                |err: ecrscan_core::channels::InvalidChannel| Failure::Usage(err.to_string());
            let (target, options) = match add {
                AddChannel::Webhook {
                    url,
                    secret,
                    options,
                } => {
                    let secret: SecretRef = secret.parse().map_err(usage)?;
                    (Target::Webhook { url, secret }, options)
                }
                AddChannel::Slack { url, options } => (Target::Slack { url }, options),
                AddChannel::Sns { topic_arn, options } => (Target::Sns { topic_arn }, options),
                AddChannel::Eventbridge { bus, options } => (Target::Eventbridge { bus }, options),
            };
            let channel = Channel::create(
                target,
                options.min_severity,
                options.include_fixed,
                Utc::now(),
            )
            .map_err(usage)?;
            context.store.put_channel(&channel).await?;
            output::stdout(|out| writeln!(out, "{}", channel.id))?;
        }
        ChannelsCommand::List { output: format } => {
            let listing = context.store.list_channels().await?;
            for skipped in &listing.skipped {
                eprintln!("warning: skipped {}: {}", skipped.key, skipped.reason);
            }
            output::stdout(|out| match format {
                ListFormat::Json => {
                    let shown: Vec<Channel> = listing.items.iter().map(Channel::redacted).collect();
                    serde_json::to_writer_pretty(&mut *out, &shown)?;
                    writeln!(out)
                }
                ListFormat::Table => output::channels_table(&listing.items, out),
            })?;
        }
        ChannelsCommand::Rm { ids } => {
            let ids: Vec<Uuid> = ids
                .iter()
                .map(|id| parse_channel_id(id))
                .collect::<Result<_, _>>()?;
            for id in ids {
                let deliveries =
                    ecrscan_core::notify::delete_channel(context.store.as_ref(), id).await?;
                eprintln!("deleted {id} and {deliveries} delivery records");
            }
        }
        ChannelsCommand::Test { id } => {
            let id = parse_channel_id(&id)?;
            let notifier = context.notifier().await?;
            return match notifier.test(id, Utc::now()).await {
                Ok(()) => {
                    eprintln!("the test event was delivered to {id}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(ecrscan_core::notify::NotifyError::Store(err)) => Err(err.into()),
                Err(err) => {
                    eprintln!("error: {err}");
                    Ok(ExitCode::from(SOME_FAILED))
                }
            };
        }
        ChannelsCommand::Retry { id, failed } => {
            let id = id.as_deref().map(parse_channel_id).transpose()?;
            let notifier = context.notifier().await?;
            let now = Utc::now();
            if failed {
                let requeued = notifier.requeue_failed(id, now).await?;
                eprintln!("{requeued} failed deliveries queued again");
            }
            let report = notifier.send_pending(id, now).await?;
            output::delivery_report_note(&report);
            let pending = report.retry_later + report.deferred + report.waiting;
            eprintln!(
                "{} delivered, {pending} still pending, {} failed",
                report.delivered, report.failed
            );
            if pending + report.failed > 0 || !report.errors.is_empty() {
                return Ok(ExitCode::from(SOME_FAILED));
            }
        }
        ChannelsCommand::Status { output: format } => {
            let statuses = context.notifier().await?.status().await?;
            output::stdout(|out| match format {
                ListFormat::Json => {
                    serde_json::to_writer_pretty(&mut *out, &statuses)?;
                    writeln!(out)
                }
                ListFormat::Table => {
                    output::channel_status_table(&statuses, Utc::now(), context.style, out)
                }
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_channel_id(id: &str) -> Result<Uuid, Failure> {
    parse_uuid("channel", id)
}

async fn changes(
    context: &Context,
    ids: &[String],
    since: Option<crate::cli::Since>,
    min_severity: Option<ecrscan_core::Severity>,
    format: ScanFormat,
) -> Result<ExitCode, Failure> {
    let configs = if ids.is_empty() {
        None
    } else {
        Some(selected_configs(context, ids).await?)
    };
    let listing = context.store.list_changes().await?;
    for skipped in &listing.skipped {
        eprintln!("warning: skipped {}: {}", skipped.key, skipped.reason);
    }
    let since = since.map(|since| since.at(Utc::now()));
    let selected =
        ecrscan_core::changes::select(&listing.items, configs.as_deref(), since, min_severity);
    output::stdout(|out| match format {
        ScanFormat::Text => ecrscan_core::render::write_text_changes(&selected, out),
        ScanFormat::Json => ecrscan_core::render::write_json_changes(&selected, out),
    })?;
    Ok(ExitCode::SUCCESS)
}

fn read_from(live: bool) -> ReadFrom {
    if live {
        ReadFrom::Live
    } else {
        ReadFrom::Recorded
    }
}

fn completions(shell: Shell) -> Result<ExitCode, Failure> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    output::stdout(|out| {
        clap_complete::generate(shell, &mut Cli::command(), "ecrscan", out);
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The named configs, or all of them.
async fn selected_configs(context: &Context, ids: &[String]) -> Result<Vec<ScanConfig>, Failure> {
    if ids.is_empty() {
        return list_configs(context).await;
    }
    let mut configs = Vec::new();
    for id in ids {
        configs.push(context.store.get(parse_id(id)?).await?);
    }
    Ok(configs)
}

fn work_queue(sdk_config: &aws_config::SdkConfig, url: &str) -> Result<SqsWorkQueue, Failure> {
    if !url.starts_with("https://") && !url.starts_with("http://") {
        return Err(Failure::Usage(format!(
            "--queue {:?} is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
            url.chars().take(200).collect::<String>()
        )));
    }
    Ok(SqsWorkQueue::new(sdk_config, url))
}

async fn enqueue(
    context: &Context,
    ids: &[String],
    format: ScanFormat,
    queue_url: &str,
) -> Result<ExitCode, Failure> {
    let configs = selected_configs(context, ids).await?;
    let sdk_config = context.sdk_config().await;
    let queue = work_queue(&sdk_config, queue_url)?;
    let backend = context.backend(ReadFrom::Live).await?;
    let enqueued = enqueue_plan(&configs, backend.as_ref(), &queue, &context.options, None)
        .await
        .map_err(|err| Failure::Operation(err.to_string()))?;
    output::stdout(|out| match format {
        ScanFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &enqueued)?;
            writeln!(out)
        }
        ScanFormat::Text => {
            writeln!(
                out,
                "queued {} scans from {} selections; {} selections left for the workers to resolve",
                enqueued.scans, enqueued.resolved, enqueued.resolves
            )?;
            if enqueued.over_quota > 0 {
                writeln!(
                    out,
                    "left out {} images: their registry's daily scan quota ({}) is reached",
                    enqueued.over_quota,
                    ecrscan_core::queue::DAILY_SCAN_QUOTA
                )?;
            }
            Ok(())
        }
    })?;
    context.send_queued().await?;
    Ok(ExitCode::SUCCESS)
}

async fn worker(
    context: &Context,
    queue_url: &str,
    until_empty: bool,
) -> Result<ExitCode, Failure> {
    let sdk_config = context.sdk_config().await;
    let queue = work_queue(&sdk_config, queue_url)?;
    let backend = context.backend(ReadFrom::Live).await?;
    let failed = |err: QueueError| Failure::Operation(err.to_string());
    let max_receives = queue.max_receives().await.map_err(failed)?;
    let mut total = Settled::default();
    loop {
        let wait = if until_empty {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(20)
        };
        let messages = queue.receive(BATCH, wait).await.map_err(failed)?;
        if messages.is_empty() {
            if until_empty && queue.is_drained().await.map_err(failed)? {
                break;
            }
            continue;
        }
        let mut report = work_on(messages, backend.as_ref(), &queue, &context.options, None).await;
        if until_empty {
            // A worker that stops when the queue is empty does not wait
            // hours for a quota: those images are already scanned today.
            for (_, settlement) in &mut report {
                if matches!(settlement, Settlement::WaitForQuota { .. }) {
                    *settlement = Settlement::Done(WorkDone::Scan(ScanOutcome::AlreadyScanned));
                }
            }
        }
        let settled = settle(&queue, report, max_receives).await;
        for (message_id, reason) in &settled.dead_lettered {
            eprintln!("dead-lettered {message_id}: {reason}");
        }
        for error in &settled.errors {
            eprintln!("warning: {error} (the message comes back when its visibility ends)");
        }
        total.done += settled.done;
        total.retried += settled.retried;
        total.deferred += settled.deferred;
        total.waiting += settled.waiting;
        total.dead_lettered.extend(settled.dead_lettered);
        context.send_queued().await?;
    }
    println!(
        "{} done, {} returned to the queue, {} waiting for their scan quota, {} dead-lettered",
        total.done,
        total.retried,
        total.waiting,
        total.dead_lettered.len()
    );
    Ok(if total.dead_lettered.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(SOME_FAILED)
    })
}

async fn scan(context: &Context, ids: &[String], format: ScanFormat) -> Result<ExitCode, Failure> {
    let configs = selected_configs(context, ids).await?;
    let backend = context.backend(ReadFrom::Live).await?;
    let bar = output::progress_bar("starting scans");
    let report = rescan_with_progress(
        &configs,
        backend.as_ref(),
        &context.options,
        &output::advance(&bar),
    )
    .await;
    bar.finish_and_clear();
    output::stdout(|out| match format {
        ScanFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &report)?;
            writeln!(out)
        }
        ScanFormat::Text => output::scan_report(&report, context.style, out),
    })?;
    if report.failed == 0 || report.failed < report.images.len() {
        output::scan_counts_note(&report);
    }
    if let Some(first) = report
        .images
        .iter()
        .find(|image| image.outcome == ScanOutcome::Failed)
    {
        output::failures_note(
            report.failed,
            report.images.len(),
            "no image could be scanned",
            first.reason.as_deref().unwrap_or("unknown"),
        );
    }
    context.send_queued().await?;
    Ok(if report.failed > 0 {
        ExitCode::from(SOME_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

async fn summary(
    context: &Context,
    format: SummaryFormat,
    file: Option<&Path>,
    fail_on: Option<ecrscan_core::Severity>,
    wait: Option<Duration>,
    read_from: ReadFrom,
) -> Result<ExitCode, Failure> {
    let configs = list_configs(context).await?;
    let backend = context.backend(read_from).await?;
    let deadline = wait.map(|wait| Instant::now() + wait);
    let (summary, now) = loop {
        let now = Utc::now();
        let suppressions = context.suppressions(now).await?;
        let bar = output::progress_bar("reading scan results");
        let summary = collect_summary_with_progress(
            &configs,
            backend.as_ref(),
            &context.options,
            &suppressions,
            &output::advance(&bar),
        )
        .await;
        bar.finish_and_clear();
        let pending = summary
            .rows
            .iter()
            .filter(|row| row.result.scan.status.is_pending())
            .count();
        match deadline {
            Some(deadline) if pending > 0 && Instant::now() < deadline => {
                let pause =
                    Duration::from_secs(10).min(deadline.saturating_duration_since(Instant::now()));
                eprintln!(
                    "{pending} scans in progress; checking again in {}s",
                    pause.as_secs().max(1)
                );
                tokio::time::sleep(pause).await;
            }
            _ => break (summary, now),
        }
    };
    for warning in &summary.warnings {
        eprintln!("warning: {}", warning.message);
    }
    let report = match format {
        SummaryFormat::Html => Some(report_data(context, &summary, now).await?),
        _ => None,
    };
    let render = |out: &mut dyn Write| match (format, &report) {
        (SummaryFormat::Text, _) => write_text_summary(&summary, out),
        (SummaryFormat::Json, _) => write_json_summary(&summary, now, out),
        (SummaryFormat::Table, _) => output::summary_table(&summary, context.style, out),
        (SummaryFormat::Html, Some((changes, rules, trend))) => {
            let report = HtmlReport {
                summary: &summary,
                changes,
                suppressions: rules,
                trend,
                api_url: context.api_url.as_deref(),
            };
            write_html_report(&report, now, out)
        }
        (SummaryFormat::Html, None) => Err(std::io::Error::other("the report's data is missing")),
    };
    match file {
        None => output::stdout(render)?,
        Some(path) => {
            output::write_file_atomically(path, render).map_err(|err| {
                Failure::Operation(format!("cannot write {}: {err}", path.display()))
            })?;
            eprintln!(
                "wrote the summary of {} images to {}",
                summary.rows.len(),
                path.display()
            );
        }
    }
    let failed: Vec<&ImageScanResult> = summary
        .rows
        .iter()
        .map(|row| &row.result)
        .filter(|result| result.scan.status == ScanStatus::Failed)
        .collect();
    if let Some(first) = failed.first() {
        output::failures_note(
            failed.len(),
            summary.rows.len(),
            "no scan result could be read",
            first
                .scan
                .status_description
                .as_deref()
                .unwrap_or("unknown"),
        );
    }
    context.send_queued().await?;
    Ok(ExitCode::from(summary_exit_code(&summary, fail_on)))
}

/// What the HTML report shows beside the summary: the recorded changes
/// (the report lists the last week's), every suppression rule, and the
/// fleet's trend over [`TREND_DAYS`] rebuilt from the changes.
async fn report_data(
    context: &Context,
    summary: &Summary,
    now: chrono::DateTime<Utc>,
) -> Result<
    (
        Vec<ecrscan_core::Change>,
        Vec<ecrscan_core::Suppression>,
        Vec<TrendPoint>,
    ),
    Failure,
> {
    let listing = context.store.list_changes().await?;
    for skipped in &listing.skipped {
        eprintln!("warning: skipped {}: {}", skipped.key, skipped.reason);
    }
    let trend = fleet_trend(summary, &listing.items, TREND_DAYS, now);
    let rules = context.suppressions(now).await?.all().cloned().collect();
    Ok((listing.items, rules, trend))
}

/// 3 when an image has a finding at or above `fail_on`, else 1 when an
/// image could not be read or its scan failed, else 0.
fn summary_exit_code(summary: &Summary, fail_on: Option<ecrscan_core::Severity>) -> u8 {
    let over_threshold = fail_on.is_some_and(|threshold| {
        summary.rows.iter().any(|row| {
            row.result
                .scan
                .severity_counts
                .highest()
                .is_some_and(|worst| worst.is_at_least(threshold))
        })
    });
    if over_threshold {
        FINDINGS_FOUND
    } else if summary
        .rows
        .iter()
        .any(|row| row.result.scan.status == ScanStatus::Failed)
    {
        SOME_FAILED
    } else {
        0
    }
}

async fn findings(
    context: &Context,
    id: &str,
    format: FindingsFormat,
    min_severity: Option<ecrscan_core::Severity>,
    output_file: Option<&Path>,
    read_from: ReadFrom,
    suppressed: SuppressedFindings,
) -> Result<ExitCode, Failure> {
    let config = context.store.get(parse_id(id)?).await?;
    let backend = context.backend(read_from).await?;
    let now = Utc::now();
    let suppressions = context.suppressions(now).await?;
    let results = collect_results(
        &config,
        backend.as_ref(),
        &context.options,
        &suppressions,
        suppressed,
    )
    .await;
    let render = |out: &mut dyn Write| match format {
        FindingsFormat::Atom => {
            let options = FeedOptions {
                min_severity,
                include_suppressed: suppressed == SuppressedFindings::Shown,
                ..FeedOptions::default()
            };
            write_atom_feed(&config, &results, now, &options, out)
        }
        FindingsFormat::Json => write_json_findings(&results, min_severity, out),
    };
    match output_file {
        None => output::stdout(render)?,
        Some(path) => {
            output::write_file_atomically(path, render).map_err(|err| {
                Failure::Operation(format!("cannot write {}: {err}", path.display()))
            })?;
            let count: usize = results
                .iter()
                .flat_map(|r| &r.scan.findings)
                .filter(|f| min_severity.is_none_or(|min| f.severity.is_at_least(min)))
                .count();
            eprintln!("wrote {count} findings to {}", path.display());
        }
    }
    context.send_queued().await?;
    let failed = results.iter().any(|r| r.scan.status == ScanStatus::Failed);
    Ok(if failed {
        ExitCode::from(SOME_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use ecrscan_core::{ImageRef, ImageScanResult, Severity, SummaryRow};

    use super::*;

    fn row(status: ScanStatus, counts: &[(Severity, u64)]) -> SummaryRow {
        let mut result = ImageScanResult::without_scan(
            ImageRef {
                repository: "a/b".into(),
                tag: Some("1".into()),
                digest: None,
                ..ImageRef::default()
            },
            status,
            None,
        );
        result.scan.severity_counts = counts.iter().copied().collect();
        SummaryRow {
            config_id: Uuid::nil(),
            region: "us-west-2".into(),
            registry: "123456789012".into(),
            result,
        }
    }

    #[test]
    fn exit_codes_of_summary() {
        let medium = Summary {
            rows: vec![row(ScanStatus::Complete, &[(Severity::Medium, 3)])],
            ..Summary::default()
        };
        assert_eq!(summary_exit_code(&medium, None), 0);
        assert_eq!(summary_exit_code(&medium, Some(Severity::High)), 0);
        assert_eq!(summary_exit_code(&medium, Some(Severity::Medium)), 3);
        assert_eq!(summary_exit_code(&medium, Some(Severity::Low)), 3);
        let failed = Summary {
            rows: vec![
                row(ScanStatus::Complete, &[(Severity::Critical, 1)]),
                row(ScanStatus::Failed, &[]),
            ],
            ..Summary::default()
        };
        assert_eq!(summary_exit_code(&failed, None), 1);
        assert_eq!(
            summary_exit_code(&failed, Some(Severity::High)),
            3,
            "findings over the threshold win"
        );
        let empty = Summary::default();
        assert_eq!(summary_exit_code(&empty, Some(Severity::Informational)), 0);
    }
}
