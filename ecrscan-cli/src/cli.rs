//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ecrscan_core::Severity;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  an operation failed (e.g. some scans failed, AWS unreachable, access denied)
  2  invalid usage or input (unknown option, invalid config, unknown config id)
  3  findings at or above --fail-on";

const STORE_HELP: &str = "\
Where scan configs are kept: s3://bucket[/prefix], file:///dir or a path. \
Default: $ECR_SCAN_CONFIG_BUCKET (the AWS sample's bucket), else \
$XDG_DATA_HOME/ecrscan/configs (~/.local/share/ecrscan/configs)";

/// Keep Amazon ECR images under continuous vulnerability scanning.
///
/// ecrscan keeps a list of scan configs (a region, a registry, a repository
/// and optionally tags), starts ECR image scans for them, and reports the
/// findings as a summary or an Atom feed. AWS settings are the standard
/// ones: the credential chain, AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL.
#[derive(Debug, Parser)]
#[command(name = "ecrscan", version, after_help = EXIT_CODES, after_long_help = EXIT_CODES)]
pub struct Cli {
    #[arg(long, env = "ECRSCAN_STORE", value_name = "URI", help = STORE_HELP)]
    pub store: Option<String>,
    /// AWS profile to use.
    #[arg(long, env = "AWS_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region of the S3 store (a config names its registry's region).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// A custom AWS endpoint, e.g. a local emulator.
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Concurrent AWS calls.
    #[arg(long, env = "ECRSCAN_CONCURRENCY", default_value = "32", value_name = "N", value_parser = ecrscan_core::settings::parse_concurrency)]
    pub concurrency: std::num::NonZeroUsize,
    /// A hard ceiling of calls a second to each ECR API action in each region.
    /// Without one the rate adapts: it grows while ECR accepts calls and is
    /// cut when ECR throttles.
    #[arg(long, env = "ECRSCAN_CALLS_PER_SECOND", value_name = "N", value_parser = ecrscan_core::settings::parse_calls_per_second)]
    pub calls_per_second: Option<std::num::NonZeroU32>,
    /// The role to read registries of other accounts through: an ARN
    /// template, e.g. 'arn:{partition}:iam::{account}:role/ecrscan-reader'.
    /// Without one, the caller's credentials read every registry.
    #[arg(long, env = "ECRSCAN_ASSUME_ROLE", value_name = "ARN_TEMPLATE", value_parser = ecrscan_core::settings::parse_role_template, global = true)]
    pub assume_role: Option<String>,
    /// The external id those roles ask for.
    #[arg(long, env = "ECRSCAN_EXTERNAL_ID", value_name = "ID", value_parser = ecrscan_core::settings::parse_external_id, global = true, hide_env_values = true)]
    pub external_id: Option<String>,
    /// Attempts per AWS call, retries included (default: AWS_MAX_ATTEMPTS, else 3).
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// Queue notifications of the changes this command records without
    /// sending them (the deployed functions or `channels retry` send them).
    #[arg(long, global = true)]
    pub no_send: bool,
    /// The deployed API's URL, for links in notifications and their CloudEvents source.
    #[arg(long, env = "ECRSCAN_API_URL", value_name = "URL", global = true)]
    pub api_url: Option<String>,
    /// More logging on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage scan configs.
    #[command(subcommand)]
    Configs(ConfigsCommand),
    /// Start ECR image scans for every config (or the named ones).
    ///
    /// Prints one line per image: started, already_scanned (ECR allows one
    /// scan per image per 24 hours), continuous (the registry uses enhanced
    /// scanning) or failed: reason. Exits 1 if any image failed.
    ///
    /// With --queue, resolves the configs and queues one message per image
    /// on that SQS queue instead, for `ecrscan worker` processes or the
    /// deployed ScanWorkerFunc to start.
    #[command(
        after_help = "Examples:\n  ecrscan scan\n  ecrscan scan 6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a -o json\n  ecrscan scan --queue https://sqs.us-west-2.amazonaws.com/123456789012/ecrscan-work"
    )]
    Scan {
        /// Config ids; all configs when none is given.
        ids: Vec<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = ScanFormat::Text)]
        output: ScanFormat,
        /// Queue the work on this SQS queue (its URL) instead of scanning here.
        #[arg(long, value_name = "URL")]
        queue: Option<String>,
    },
    /// Start the scans queued on an SQS queue (by `ecrscan scan --queue` or
    /// the scheduled StartScanFunc), as one of any number of workers.
    ///
    /// Each message is deleted once done (started, already scanned today,
    /// continuous, or the image is gone), returned to the queue after a
    /// failure that may pass, and moved to the queue's dead-letter queue
    /// with its reason at its last receive (the queue's RedrivePolicy).
    /// Without --until-empty it runs until interrupted.
    #[command(
        after_help = "Examples:\n  ecrscan worker --queue https://sqs.us-west-2.amazonaws.com/123456789012/ecrscan-work --until-empty"
    )]
    Worker {
        /// The queue's URL.
        #[arg(long, value_name = "URL")]
        queue: String,
        /// Stop once the queue is drained: nothing waiting, nothing in flight.
        #[arg(long)]
        until_empty: bool,
    },
    /// Show the latest scan results of every image of every config.
    ///
    /// Finished results recorded in the store (by earlier runs, or by the
    /// deployed ecrscan-record-result function) are used as they are, with
    /// the time they were recorded; the rest is read from ECR and recorded.
    /// --live reads everything from ECR.
    #[command(
        after_help = "Examples:\n  ecrscan summary\n  ecrscan summary -o table --fail-on HIGH\n  ecrscan summary --wait 10m -o json"
    )]
    #[command(
        after_help = "Examples:\n  ecrscan summary -o table\n  ecrscan summary -o html --output report.html\n  ecrscan summary --output summary.json --fail-on CRITICAL"
    )]
    Summary {
        /// The format (text, the AWS sample's; json; table; html, a
        /// self-contained page) or a file to write instead of stdout; given
        /// twice, one of each. A file alone takes its format from its
        /// extension (.txt, .json, .html); write ./json for a file named json.
        #[arg(short, long, value_name = "FORMAT|FILE", action = clap::ArgAction::Append)]
        output: Vec<String>,
        /// Exit with code 3 when any image has a finding of this severity or worse.
        #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
        fail_on: Option<Severity>,
        /// Wait until no scan is in progress, at most this long (e.g. 30s, 10m).
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        wait: Option<std::time::Duration>,
        /// Read every result from ECR rather than from the results recorded in the store.
        #[arg(long)]
        live: bool,
    },
    /// Show one config's findings as an Atom feed or JSON.
    #[command(
        after_help = "Examples:\n  ecrscan findings 6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a --output findings.atom\n  ecrscan findings 6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a --format json --min-severity HIGH"
    )]
    Findings {
        /// The config id.
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = FindingsFormat::Atom)]
        format: FindingsFormat,
        /// Keep only findings of this severity or worse.
        #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
        min_severity: Option<Severity>,
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Read every result from ECR rather than from the results recorded in the store.
        #[arg(long)]
        live: bool,
        /// Show the findings suppression rules cover, marked with their rule.
        #[arg(long)]
        include_suppressed: bool,
    },
    /// Manage suppression rules: findings accepted with a reason, a scope and an expiry.
    ///
    /// A rule covers one vulnerability where its scope says (everywhere
    /// without one) until it expires. Covered findings leave summaries,
    /// --fail-on, feeds and notifications; when the rule expires or is
    /// removed they count again. Summaries warn about rules expiring within
    /// 7 days, expired ones, and ones that cover nothing.
    #[command(subcommand)]
    Suppress(Box<SuppressCommand>),
    /// Manage notification channels: where changes are sent.
    #[command(subcommand)]
    Channels(ChannelsCommand),
    /// Show what changed: new, fixed and raised findings, and tags that moved.
    ///
    /// Changes are recorded whenever a newer complete result of an image is
    /// recorded (by scan, summary, findings or the deployed functions): the
    /// first result of an image is a baseline (its counts only), later ones
    /// list what changed since the one before. Newest first; nothing is
    /// printed for an empty window.
    #[command(
        after_help = "Examples:\n  ecrscan changes --since 24h\n  ecrscan changes 6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a --min-severity HIGH -o json"
    )]
    Changes {
        /// Config ids: only changes of their images; all changes when none is given.
        ids: Vec<String>,
        /// Only changes detected since then: a time ago (24h, 7d) or an RFC 3339 time.
        #[arg(long, value_name = "WHEN", value_parser = parse_since)]
        since: Option<Since>,
        /// Keep only findings of this severity or worse (and changes that have any).
        #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
        min_severity: Option<Severity>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = ScanFormat::Text)]
        output: ScanFormat,
    },
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  ecrscan completions bash > /etc/bash_completion.d/ecrscan")]
    Completions {
        /// The shell.
        shell: Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigsCommand {
    /// Register scan configs from JSON files (like the AWS sample's scan-config-*.json) or from options.
    ///
    /// Prints the id of each new config. Every file is checked before any
    /// config is stored, so invalid input stores nothing.
    #[command(
        after_help = "Examples:\n  ecrscan configs add scan-config-ubuntu.json scan-config-centos.json\n  echo '{\"region\":\"us-west-2\",\"registry\":\"123456789012\",\"repository\":\"amazonlinux\"}' | ecrscan configs add -\n  ecrscan configs add --region us-west-2 --registry 123456789012 --repository test/ubuntu --tag 16.04 --tag latest"
    )]
    Add(AddArgs),
    /// List scan configs.
    #[command(after_help = "Examples:\n  ecrscan configs list\n  ecrscan configs list -o json")]
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        output: ListFormat,
    },
    /// Show what a config selects right now: its accounts, repositories and
    /// images, each with the clause that took it, and what it leaves out and
    /// why. A dry run: nothing is scanned or recorded.
    #[command(
        after_help = "Examples:\n  ecrscan configs explain 6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a\n  ecrscan --assume-role 'arn:{partition}:iam::{account}:role/ecrscan-reader' configs explain ID -o json"
    )]
    Explain {
        /// The config id.
        id: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = ExplainFormat::Text)]
        output: ExplainFormat,
    },
    /// Show one scan config as JSON.
    #[command(after_help = "Example:\n  ecrscan configs show 6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a")]
    Show {
        /// The config id.
        id: String,
    },
    /// Delete scan configs.
    #[command(after_help = "Example:\n  ecrscan configs rm 6c3b5b4e-8e5b-4a7b-9c1d-2f3e4d5c6b7a")]
    Rm {
        /// Config ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SuppressCommand {
    /// Add a rule; prints its id.
    #[command(
        after_help = "Examples:\n  ecrscan suppress add CVE-2026-1234 --reason 'TLS ends at the load balancer' --expires 2027-01-31 --repository 'prod/*' --package openssl\n  ecrscan suppress add GHSA-xxxx-xxxx-xxxx --reason 'dev only' --expires-in 30d --tag 'dev-*'\n  ecrscan suppress add ALAS-2026-1234 --reason 'accepted by the risk board' --no-expiry --ticket https://tickets.example.com/SEC-1"
    )]
    Add(Box<SuppressAddArgs>),
    /// List the rules in force, each with how many findings it covers now.
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        output: ListFormat,
        /// Expired rules too.
        #[arg(long)]
        all: bool,
    },
    /// Delete rules: their findings count again.
    Rm {
        /// Rule ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Import the not_affected and fixed statements of an OpenVEX document as rules.
    ///
    /// OpenVEX has no expiry: give one. Products are matched to images as
    /// Trivy and Grype do (pkg:oci URLs with repository_url, tag or digest,
    /// and registry references); products that match nothing are listed on
    /// stderr, never guessed. Importing a document again replaces its rules.
    #[command(
        after_help = "Examples:\n  ecrscan suppress import team.openvex.json --expires 2027-03-31\n  curl -s https://vex.example.com/app.json | ecrscan suppress import - --no-expiry"
    )]
    Import {
        /// The document (`-` for stdin).
        file: PathBuf,
        #[command(flatten)]
        expiry: ExpiryArgs,
    },
    /// Print the rules in force as one OpenVEX v0.2.0 document.
    ///
    /// Rules OpenVEX cannot say (patterns, a region alone) are left out and
    /// named on stderr.
    Export {
        /// The document's author.
        #[arg(long, default_value = "ecrscan")]
        author: String,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ExpiryArgs {
    /// When the rule stops applying: a date (its start, UTC) or an RFC 3339 time.
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,
    /// How long the rule applies from now, e.g. 30d, 12w.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub expires_in: Option<std::time::Duration>,
    /// The rule never expires (said explicitly; it is called out if it stops matching).
    #[arg(long)]
    pub no_expiry: bool,
}

#[derive(Debug, Args)]
pub struct SuppressAddArgs {
    /// The vulnerability, e.g. CVE-2026-1234, GHSA-xxxx-xxxx-xxxx, ALAS-2026-1234.
    pub vulnerability: String,
    /// Why the finding is accepted.
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub expiry: ExpiryArgs,
    /// Only in repositories matching this pattern (`*` matches anything, `/` included).
    #[arg(long, value_name = "PATTERN")]
    pub repository: Option<String>,
    /// Only in images with a tag matching this pattern.
    #[arg(long, value_name = "PATTERN")]
    pub tag: Option<String>,
    /// Only in this image digest.
    #[arg(long, value_name = "DIGEST")]
    pub digest: Option<String>,
    /// Only in this package, optionally one version: NAME[@VERSION].
    #[arg(long, value_name = "NAME[@VERSION]")]
    pub package: Option<String>,
    /// Only in this region.
    #[arg(long)]
    pub region: Option<String>,
    /// Only in this registry (12-digit account ID).
    #[arg(long, value_name = "ACCOUNT")]
    pub registry: Option<String>,
    /// The OpenVEX status: not_affected (default) or fixed.
    #[arg(long)]
    pub status: Option<String>,
    /// The OpenVEX justification, e.g. vulnerable_code_not_in_execute_path.
    #[arg(long)]
    pub justification: Option<String>,
    /// A ticket or link with more.
    #[arg(long, value_name = "URL")]
    pub ticket: Option<String>,
    /// Who accepts the risk (default: $USER).
    #[arg(long)]
    pub author: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// Add a channel; prints its id.
    ///
    /// A change is sent when it has a new or raised finding at or above
    /// --min-severity (default HIGH); baselines are never sent. Secrets are
    /// references (env:NAME, file:PATH or a Secrets Manager ARN), read when
    /// sending and never stored or printed.
    #[command(
        subcommand,
        after_help = "Examples:\n  ecrscan channels add webhook https://hooks.example.com/ecrscan --secret env:ECRSCAN_WEBHOOK_SECRET\n  ecrscan channels add sns arn:aws:sns:us-west-2:123456789012:ecrscan --min-severity CRITICAL\n  ecrscan channels add eventbridge"
    )]
    Add(AddChannel),
    /// List channels (secrets as their references).
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        output: ListFormat,
    },
    /// Delete channels, with their queued and delivered records.
    Rm {
        /// Channel ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Send a clearly marked test event to a channel now.
    ///
    /// Exits 1 when the channel does not accept it, with its answer.
    #[command(
        after_help = "Example:\n  ecrscan channels test 0b6f0c0e-3d0a-4c61-9f3e-6a1d2c3b4a59"
    )]
    Test {
        /// The channel id.
        id: String,
    },
    /// Send the pending deliveries now (of one channel, or of all).
    ///
    /// Deliveries that failed for a reason that may pass (a timeout, a 5xx,
    /// throttling) stay pending and are sent by every later run; --failed
    /// also retries those refused for good or out of attempts. Exits 1 when
    /// some are still not delivered.
    #[command(
        after_help = "Examples:\n  ecrscan channels retry\n  ecrscan channels retry 0b6f0c0e-3d0a-4c61-9f3e-6a1d2c3b4a59 --failed"
    )]
    Retry {
        /// The channel id; all channels when none is given.
        id: Option<String>,
        /// Also retry the failed deliveries.
        #[arg(long)]
        failed: bool,
    },
    /// Show the pending and failed deliveries of each channel.
    Status {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        output: ListFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum AddChannel {
    /// A CloudEvents JSON POST signed per Standard Webhooks (https, or http to loopback).
    Webhook {
        /// The receiver's URL.
        url: String,
        /// Where the whsec_ signing secret is read: env:NAME, file:PATH or a Secrets Manager ARN.
        #[arg(long, value_name = "REF")]
        secret: String,
        #[command(flatten)]
        options: ChannelOptions,
    },
    /// A Slack incoming webhook (https://hooks.slack.com/…).
    Slack {
        /// The incoming webhook's URL.
        url: String,
        #[command(flatten)]
        options: ChannelOptions,
    },
    /// An SNS topic: Publish of the CloudEvent, with kind, severity and repository attributes.
    Sns {
        /// The topic's ARN.
        topic_arn: String,
        #[command(flatten)]
        options: ChannelOptions,
    },
    /// An EventBridge bus: PutEvents with source ecrscan.
    Eventbridge {
        /// The bus's name or ARN (default: the default bus).
        bus: Option<String>,
        #[command(flatten)]
        options: ChannelOptions,
    },
}

#[derive(Debug, Args)]
pub struct ChannelOptions {
    /// Send changes with new or raised findings of this severity or worse.
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity, default_value = "HIGH")]
    pub min_severity: Severity,
    /// Also send changes that only fix findings.
    #[arg(long)]
    pub include_fixed: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// JSON files to read (`-` for stdin).
    #[arg(conflicts_with_all = ["region", "registry", "repository", "tags", "exclude_repositories", "most_recent", "pushed_within", "pulled_within", "exclude_accounts"])]
    pub files: Vec<PathBuf>,
    /// The registry's AWS region.
    #[arg(long, requires_all = ["registry", "repository"])]
    pub region: Option<String>,
    /// The registry: a 12-digit AWS account ID, or `organization` for every
    /// active account of the caller's AWS Organization.
    #[arg(long, requires_all = ["region", "repository"])]
    pub registry: Option<String>,
    /// The repository name, or a pattern: `*` matches any run of
    /// characters, `/` included (`prod/*`, `*/api`, `*`).
    #[arg(long, requires_all = ["region", "registry"])]
    pub repository: Option<String>,
    /// A tag or tag pattern to scan (repeatable, e.g. `v1.*`); none means
    /// every tagged image.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Repositories the pattern takes to leave out again (repeatable).
    #[arg(
        long = "exclude-repository",
        value_name = "PATTERN",
        requires = "repository"
    )]
    pub exclude_repositories: Vec<String>,
    /// Keep the N most recently pushed images of each repository.
    #[arg(long, value_name = "N", requires = "repository")]
    pub most_recent: Option<u32>,
    /// Keep images pushed within this time, e.g. 30d.
    #[arg(long, value_name = "DAYS", value_parser = parse_days, requires = "repository")]
    pub pushed_within: Option<u32>,
    /// Keep images pulled within this time, e.g. 14d (ECR records pulls
    /// about once a day; an image never pulled is not kept by this).
    #[arg(long, value_name = "DAYS", value_parser = parse_days, requires = "repository")]
    pub pulled_within: Option<u32>,
    /// An account of the organization to leave out (repeatable).
    #[arg(
        long = "exclude-account",
        value_name = "ACCOUNT",
        requires = "repository"
    )]
    pub exclude_accounts: Vec<String>,
}

/// A whole number of days: `30d`, `2w` or `30`.
fn parse_days(value: &str) -> Result<u32, String> {
    let days = if value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse::<u32>().ok()
    } else {
        humantime::parse_duration(value).ok().and_then(|duration| {
            let seconds = duration.as_secs();
            (seconds % 86_400 == 0 && duration.subsec_nanos() == 0)
                .then(|| u32::try_from(seconds / 86_400).ok())
                .flatten()
        })
    };
    days.filter(|days| *days > 0)
        .ok_or_else(|| format!("{value:?} is not a whole number of days, e.g. 30d or 2w"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    Text,
    Json,
    Table,
    Html,
}

impl SummaryFormat {
    fn named(name: &str) -> Option<SummaryFormat> {
        match name.to_ascii_lowercase().as_str() {
            "text" => Some(SummaryFormat::Text),
            "json" => Some(SummaryFormat::Json),
            "table" => Some(SummaryFormat::Table),
            "html" => Some(SummaryFormat::Html),
            _ => None,
        }
    }

    fn of_file(path: &std::path::Path) -> Option<SummaryFormat> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "txt" | "text" => Some(SummaryFormat::Text),
            "json" => Some(SummaryFormat::Json),
            "html" | "htm" => Some(SummaryFormat::Html),
            _ => None,
        }
    }
}

/// The summary's format and file from its `-o/--output` values: each a
/// format name or a file, at most one of each; a file alone names its
/// format by its extension; neither is text on stdout.
pub fn summary_output(values: &[String]) -> Result<(SummaryFormat, Option<PathBuf>), String> {
    let mut format = None;
    let mut file: Option<PathBuf> = None;
    for value in values {
        match SummaryFormat::named(value) {
            Some(named) if format.is_none() => format = Some(named),
            Some(_) => {
                return Err(format!(
                    "--output names two formats; {value:?} is the second (a file named {value} is ./{value})"
                ));
            }
            None if value.is_empty() => {
                return Err("--output: an empty value is neither a format nor a file".into());
            }
            None if file.is_none() => file = Some(PathBuf::from(value)),
            None => return Err(format!("--output names two files; {value:?} is the second")),
        }
    }
    let format = match (format, &file) {
        (Some(format), _) => format,
        (None, None) => SummaryFormat::Text,
        (None, Some(path)) => SummaryFormat::of_file(path).ok_or_else(|| {
            format!(
                "--output {}: say the format too (-o html, json, text or table), or name a .html, .json or .txt file",
                path.display()
            )
        })?,
    };
    Ok((format, file))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FindingsFormat {
    Atom,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

fn parse_severity(value: &str) -> Result<Severity, String> {
    value
        .parse()
        .map_err(|err: ecrscan_core::severity::UnknownSeverity| err.to_string())
}

/// `--since`: a time ago, or a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// This long before now.
    Ago(std::time::Duration),
    /// This time.
    At(chrono::DateTime<chrono::Utc>),
}

impl Since {
    /// The point in time, seen from `now`.
    pub fn at(self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        match self {
            Since::At(at) => at,
            Since::Ago(ago) => chrono::Duration::from_std(ago)
                .ok()
                .and_then(|ago| now.checked_sub_signed(ago))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
        }
    }
}

fn parse_since(value: &str) -> Result<Since, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(Since::At(at.with_timezone(&chrono::Utc)));
    }
    humantime::parse_duration(value)
        .map(Since::Ago)
        .map_err(|_| format!("{value:?} is neither a time ago (24h, 7d) nor an RFC 3339 time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_whole_days_in_any_unit() {
        assert_eq!(parse_days("30d"), Ok(30));
        assert_eq!(parse_days("2w"), Ok(14));
        assert_eq!(parse_days("14"), Ok(14));
        for bad in ["0d", "12h", "1.5d", "", "soon", "99999999999d"] {
            assert!(parse_days(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn summary_output_takes_a_format_a_file_or_one_of_each() {
        let values = |list: &[&str]| list.iter().map(|v| v.to_string()).collect::<Vec<_>>();
        assert_eq!(summary_output(&[]), Ok((SummaryFormat::Text, None)));
        assert_eq!(
            summary_output(&values(&["JSON"])),
            Ok((SummaryFormat::Json, None))
        );
        assert_eq!(
            summary_output(&values(&["html", "out/report.html"])),
            Ok((SummaryFormat::Html, Some(PathBuf::from("out/report.html"))))
        );
        assert_eq!(
            summary_output(&values(&["report.txt", "table"])),
            Ok((SummaryFormat::Table, Some(PathBuf::from("report.txt"))))
        );
        assert_eq!(
            summary_output(&values(&["fleet.HTM"])),
            Ok((SummaryFormat::Html, Some(PathBuf::from("fleet.HTM"))))
        );
        assert_eq!(
            summary_output(&values(&["./json"])),
            Err("--output ./json: say the format too (-o html, json, text or table), or name a .html, .json or .txt file".into())
        );
        for bad in [&["json", "html"][..], &["a.json", "b.json"], &[""]] {
            assert!(summary_output(&values(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
