//! `ecrscan configs`: add, list, show, explain and remove scan configs.

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;
use ecrscan_core::config::SelectionOptions;
use ecrscan_core::explain::explain;
use ecrscan_core::{ConfigError, ConfigSpec, ScanConfig};
use uuid::Uuid;

use crate::cli::{AddArgs, ConfigsCommand, ExplainFormat, ListFormat};
use crate::context::{Context, list_configs, parse_id, read_input};
use crate::failure::Failure;
use crate::output;

/// Runs a `configs` command.
pub async fn run(context: &Context, command: ConfigsCommand) -> Result<ExitCode, Failure> {
    match command {
        ConfigsCommand::Add(args) => add(context, args).await,
        ConfigsCommand::List { output } => list(context, output).await,
        ConfigsCommand::Show { id } => show(context, &id).await,
        ConfigsCommand::Explain { id, output } => explain_config(context, &id, output).await,
        ConfigsCommand::Rm { ids } => rm(context, &ids).await,
    }
}

/// The largest config file read: a config is a few hundred bytes.
const MAX_CONFIG_FILE_BYTES: u64 = 64 * 1024;

fn read_spec(path: &Path) -> Result<ConfigSpec, Failure> {
    let (name, bytes) = read_input(path, MAX_CONFIG_FILE_BYTES)?;
    ConfigSpec::from_json(&bytes)
        .map_err(|err: ConfigError| Failure::Usage(format!("{name}: {err}")))
}

fn spec_of_flags(args: &AddArgs) -> Result<Option<ConfigSpec>, Failure> {
    let (Some(region), Some(registry), Some(repository)) =
        (&args.region, &args.registry, &args.repository)
    else {
        return Ok(None);
    };
    ConfigSpec::with_options(
        region.as_str(),
        registry.as_str(),
        repository.as_str(),
        args.tags.iter().map(String::as_str),
        SelectionOptions {
            exclude_repositories: args.exclude_repositories.clone(),
            most_recent: args.most_recent,
            pushed_within_days: args.pushed_within,
            pulled_within_days: args.pulled_within,
            exclude_accounts: args.exclude_accounts.clone(),
        },
    )
    .map(Some)
    .map_err(|err| Failure::Usage(err.to_string()))
}

async fn add(context: &Context, args: AddArgs) -> Result<ExitCode, Failure> {
    let specs: Vec<ConfigSpec> = match spec_of_flags(&args)? {
        Some(spec) => vec![spec],
        None if args.files.is_empty() => {
            return Err(Failure::Usage(
                "nothing to add: give JSON files (or - for stdin), or --region, --registry and --repository".into(),
            ));
        }
        None => args
            .files
            .iter()
            .map(|path| read_spec(path))
            .collect::<Result<_, _>>()?,
    };
    let now = Utc::now();
    let configs: Vec<ScanConfig> = specs
        .into_iter()
        .map(|spec| ScanConfig::create(spec, now))
        .collect();
    for config in &configs {
        context.store.put(config).await?;
        output::stdout(|out| writeln!(out, "{}", config.id))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(context: &Context, format: ListFormat) -> Result<ExitCode, Failure> {
    let configs = list_configs(context).await?;
    output::stdout(|out| match format {
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &configs)?;
            writeln!(out)
        }
        ListFormat::Table => output::configs_table(&configs, out),
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn show(context: &Context, id: &str) -> Result<ExitCode, Failure> {
    let config = context.store.get(parse_id(id)?).await?;
    output::stdout(|out| {
        serde_json::to_writer_pretty(&mut *out, &config)?;
        writeln!(out)
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Exits 0 when the config selects at least one image and every listing
/// worked, [`crate::failure::SOME_FAILED`] when a listing failed.
async fn explain_config(
    context: &Context,
    id: &str,
    format: ExplainFormat,
) -> Result<ExitCode, Failure> {
    let config = context.store.get(parse_id(id)?).await?;
    let backend = context.ecr().await;
    let explanation = explain(&config, backend.as_ref(), Utc::now()).await;
    output::stdout(|out| match format {
        ExplainFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &explanation)?;
            writeln!(out)
        }
        ExplainFormat::Text => output::config_explanation(&explanation, context.style, out),
    })?;
    let failed = explanation.accounts_error.is_some()
        || explanation.repositories.iter().any(|r| r.error.is_some());
    Ok(if failed {
        ExitCode::from(crate::failure::SOME_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

async fn rm(context: &Context, ids: &[String]) -> Result<ExitCode, Failure> {
    let ids: Vec<Uuid> = ids
        .iter()
        .map(|id| parse_id(id))
        .collect::<Result<_, _>>()?;
    for id in ids {
        context.store.delete(id).await?;
        eprintln!("deleted {id}");
    }
    Ok(ExitCode::SUCCESS)
}
