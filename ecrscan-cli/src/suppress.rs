//! `ecrscan suppress`: suppression rules, native and OpenVEX.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use ecrscan_core::suppress::vex;
use ecrscan_core::suppress::{Expiry, PackageScope, RuleInput, SuppressionSpec};
use ecrscan_core::{ReadFrom, Suppression, Suppressions, collect_summary};
use uuid::Uuid;

use crate::cli::{ExpiryArgs, ListFormat, SuppressAddArgs, SuppressCommand};
use crate::context::{Context, list_configs, parse_uuid, read_input};
use crate::failure::Failure;
use crate::output;

/// Runs a `suppress` command.
pub async fn run(context: &Context, command: SuppressCommand) -> Result<ExitCode, Failure> {
    match command {
        SuppressCommand::Add(args) => add(context, *args).await,
        SuppressCommand::List { output, all } => list(context, output, all).await,
        SuppressCommand::Rm { ids } => rm(context, &ids).await,
        SuppressCommand::Import { file, expiry } => import(context, &file, &expiry).await,
        SuppressCommand::Export { author } => export(context, &author).await,
    }
}

/// The expiry the flags say, seen from `now`.
fn expiry(args: &ExpiryArgs, now: DateTime<Utc>) -> Result<Expiry, Failure> {
    if args.no_expiry {
        return Ok(Expiry::Never);
    }
    if let Some(duration) = args.expires_in {
        return chrono::Duration::from_std(duration)
            .ok()
            .and_then(|duration| now.checked_add_signed(duration))
            .map(Expiry::At)
            .ok_or_else(|| Failure::Usage("--expires-in is too long".into()));
    }
    match &args.expires {
        Some(text) => Expiry::parse(text).ok_or_else(|| {
            Failure::Usage(format!(
                "invalid --expires {:?}: a date (2027-01-31) or an RFC 3339 time",
                text.chars().take(80).collect::<String>()
            ))
        }),
        None => Err(Failure::Usage(
            "give --expires DATE, --expires-in DURATION or --no-expiry".into(),
        )),
    }
}

async fn add(context: &Context, args: SuppressAddArgs) -> Result<ExitCode, Failure> {
    let now = Utc::now();
    let expires = expiry(&args.expiry, now)?;
    let author = args
        .author
        .or_else(|| std::env::var("USER").ok().filter(|user| !user.is_empty()));
    let rule = SuppressionSpec::new(
        RuleInput {
            vulnerability: args.vulnerability,
            registry: args.registry,
            region: args.region,
            repository: args.repository,
            tag: args.tag,
            digest: args.digest,
            package: args.package.as_deref().map(PackageScope::parse),
            reason: Some(args.reason),
            expires: Some(expires),
            status: args.status,
            justification: args.justification,
            author,
            ticket: args.ticket,
        },
        now,
    )
    .map_err(|err| Failure::Usage(err.to_string()))?
    .create();
    context.store.put_suppression(&rule).await?;
    output::stdout(|out| writeln!(out, "{}", rule.id))?;
    Ok(ExitCode::SUCCESS)
}

async fn list(context: &Context, format: ListFormat, all: bool) -> Result<ExitCode, Failure> {
    let now = Utc::now();
    let suppressions = context.suppressions(now).await?;
    // What each rule covers now: a summary of every config, judged by them.
    let configs = list_configs(context).await?;
    let covers = if configs.is_empty() || suppressions.is_empty() {
        Default::default()
    } else {
        let backend = context.backend(ReadFrom::Recorded).await?;
        collect_summary(&configs, backend.as_ref(), &context.options, &suppressions)
            .await
            .rule_matches
    };
    let rules: Vec<&Suppression> = suppressions
        .all()
        .filter(|rule| all || rule.is_active(now))
        .collect();
    output::stdout(|out| match format {
        ListFormat::Json => {
            let listed: Vec<serde_json::Value> = rules
                .iter()
                .map(|rule| {
                    let mut value = serde_json::to_value(rule).unwrap_or_default();
                    if let Some(object) = value.as_object_mut() {
                        object.insert("active".into(), rule.is_active(now).into());
                        object.insert(
                            "covers".into(),
                            covers.get(&rule.id).copied().unwrap_or(0).into(),
                        );
                    }
                    value
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &listed)?;
            writeln!(out)
        }
        ListFormat::Table => output::suppressions_table(&rules, &covers, now, out),
    })?;
    context.send_queued().await?;
    Ok(ExitCode::SUCCESS)
}

async fn rm(context: &Context, ids: &[String]) -> Result<ExitCode, Failure> {
    let ids: Vec<Uuid> = ids
        .iter()
        .map(|id| parse_uuid("rule", id))
        .collect::<Result<_, _>>()?;
    for id in ids {
        context.store.delete_suppression(id).await?;
        eprintln!("deleted {id}: its findings count again");
    }
    Ok(ExitCode::SUCCESS)
}

async fn import(context: &Context, file: &Path, args: &ExpiryArgs) -> Result<ExitCode, Failure> {
    let now = Utc::now();
    let expires = expiry(args, now)?;
    let (name, bytes) = read_input(file, vex::MAX_DOCUMENT_BYTES as u64)?;
    let import = vex::import(&bytes, expires, now)
        .map_err(|err| Failure::Usage(format!("{name}: {err}")))?;
    for unmatched in &import.unmatched {
        eprintln!(
            "warning: {name}: {} ({}): {} matches nothing: {}",
            unmatched.at,
            ecrscan_core::render::printable(&unmatched.vulnerability),
            ecrscan_core::render::printable(&unmatched.product),
            unmatched.reason
        );
    }
    let mut stored = Vec::new();
    for rule in &import.rules {
        if let Err(err) = context.store.put_suppression(rule).await {
            // Take back what this import stored: nothing stays half.
            for id in stored {
                let _ = context.store.delete_suppression(id).await;
            }
            return Err(err.into());
        }
        stored.push(rule.id);
    }
    output::stdout(|out| {
        for rule in &import.rules {
            writeln!(out, "{}", rule.id)?;
        }
        Ok(())
    })?;
    eprintln!(
        "imported {} rules from {name}; {} statements make no rule (affected, under investigation), {} were overridden by later ones, {} products match nothing",
        import.rules.len(),
        import.not_suppressing,
        import.overridden,
        import.unmatched.len()
    );
    Ok(ExitCode::SUCCESS)
}

async fn export(context: &Context, author: &str) -> Result<ExitCode, Failure> {
    let now = Utc::now();
    let suppressions: Suppressions = context.suppressions(now).await?;
    let rules: Vec<Suppression> = suppressions.all().cloned().collect();
    let (document, left_out) = vex::export(&rules, author, now);
    for skipped in &left_out {
        eprintln!(
            "warning: rule {} is left out: {}",
            skipped.rule, skipped.reason
        );
    }
    output::stdout(|out| {
        serde_json::to_writer_pretty(&mut *out, &document)?;
        writeln!(out)
    })?;
    Ok(ExitCode::SUCCESS)
}
