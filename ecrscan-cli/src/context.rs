//! What every command shares: the store, ECR and the channels wired from
//! the global options, and reading ids and files given on the command line.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use ecrscan_core::aws::AwsSettings;
use ecrscan_core::aws::wiring::{Wiring, WiringSettings};
use ecrscan_core::notify::{Notifier, NotifyOptions};
use ecrscan_core::{
    EcrBackendOptions, ReadFrom, ScanBackend, ScanConfig, ScanOptions, Store, StoreLocation,
    Suppressions,
};
use uuid::Uuid;

use crate::cli::Cli;
use crate::failure::Failure;
use crate::output;

pub(crate) struct Context {
    wiring: Wiring,
    pub(crate) style: output::Style,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) options: ScanOptions,
    /// The deployed API's URL, for links (`--api-url`).
    pub(crate) api_url: Option<String>,
    send: bool,
}

impl Context {
    pub(crate) async fn new(cli: &Cli, style: output::Style) -> Result<Context, Failure> {
        let location = match &cli.store {
            Some(uri) => {
                uri.parse()
                    .map_err(|err: ecrscan_core::store::InvalidStoreLocation| {
                        Failure::Usage(err.to_string())
                    })?
            }
            None => {
                match StoreLocation::from_env().map_err(|err| Failure::Usage(err.to_string()))? {
                    Some(location) => location,
                    None => StoreLocation::Dir(default_store_dir()?),
                }
            }
        };
        let settings = WiringSettings {
            store: location,
            aws: AwsSettings {
                profile: cli.profile.clone(),
                region: cli.region.clone(),
                endpoint_url: cli.endpoint_url.clone(),
                max_attempts: cli.max_attempts,
                ..AwsSettings::default()
            },
            ecr: EcrBackendOptions {
                calls_per_second: cli.calls_per_second,
                assume_role: cli.assume_role.clone(),
                external_id: cli.external_id.clone(),
                ..EcrBackendOptions::default()
            },
            record: ecrscan_core::RecordOptions::from_env()
                .map_err(|err| Failure::Usage(err.to_string()))?,
            notify: NotifyOptions::default().with_api_url(cli.api_url.clone()),
        };
        let wiring = Wiring::open(settings).await?;
        Ok(Context {
            store: wiring.store(),
            wiring,
            style,
            send: !cli.no_send,
            api_url: cli.api_url.clone(),
            options: ScanOptions {
                concurrency: cli.concurrency.get(),
            },
        })
    }

    pub(crate) async fn sdk_config(&self) -> aws_config::SdkConfig {
        self.wiring.sdk_config().await.clone()
    }

    /// The store's channels, sent to over the real transports.
    pub(crate) async fn notifier(&self) -> Result<Arc<Notifier>, Failure> {
        Ok(self.wiring.notifier().await?)
    }

    /// ECR, through the store's recorded results: everything read is
    /// recorded, with its changes queued for the channels; with
    /// [`ReadFrom::Recorded`] finished results come from the store.
    pub(crate) async fn backend(
        &self,
        read_from: ReadFrom,
    ) -> Result<Arc<dyn ScanBackend>, Failure> {
        Ok(self.wiring.backend(read_from).await?)
    }

    /// ECR itself: what is read is not recorded.
    pub(crate) async fn ecr(&self) -> Arc<dyn ScanBackend> {
        self.wiring.ecr().await
    }

    /// The suppression rules at `now` (expired ones kept, to warn about);
    /// what the listing skipped is said on stderr.
    pub(crate) async fn suppressions(
        &self,
        now: chrono::DateTime<Utc>,
    ) -> Result<Suppressions, Failure> {
        let listing = self.store.list_suppressions().await?;
        for skipped in &listing.skipped {
            eprintln!("warning: skipped {}: {}", skipped.key, skipped.reason);
        }
        Ok(Suppressions::active_at(listing.items, now))
    }

    /// Sends what the command queued (and anything still pending), unless
    /// `--no-send`; says on stderr what did not go through.
    pub(crate) async fn send_queued(&self) -> Result<(), Failure> {
        if !self.send || !self.wiring.notifier_built() {
            return Ok(());
        }
        let report = self.notifier().await?.deliver_due(Utc::now()).await;
        output::delivery_report_note(&report);
        Ok(())
    }
}

fn default_store_dir() -> Result<PathBuf, Failure> {
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .ok_or_else(|| Failure::Usage("no store: set --store, ECRSCAN_STORE or HOME".into()))?;
    Ok(data_home.join("ecrscan/configs"))
}

pub(crate) fn parse_id(id: &str) -> Result<Uuid, Failure> {
    parse_uuid("config", id)
}

/// The id of a `kind` (config, channel), or a usage error naming it.
pub(crate) fn parse_uuid(kind: &str, id: &str) -> Result<Uuid, Failure> {
    Uuid::parse_str(id)
        .map_err(|_| Failure::Usage(format!("invalid {kind} id {id:?}: a {kind} id is a UUID")))
}

/// Reads at most `max_bytes` of a file, or of stdin for `-`: its name for
/// messages and its bytes; more is a usage error, never read whole.
pub(crate) fn read_input(path: &Path, max_bytes: u64) -> Result<(String, Vec<u8>), Failure> {
    let (name, read): (String, Box<dyn Read>) = if path == Path::new("-") {
        ("stdin".to_owned(), Box::new(io::stdin()))
    } else {
        let file = std::fs::File::open(path)
            .map_err(|err| Failure::Usage(format!("cannot read {}: {err}", path.display())))?;
        (path.display().to_string(), Box::new(file))
    };
    let mut bytes = Vec::new();
    read.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| Failure::Usage(format!("cannot read {name}: {err}")))?;
    if bytes.len() as u64 > max_bytes {
        return Err(Failure::Usage(format!(
            "{name} is larger than {max_bytes} bytes"
        )));
    }
    Ok((name, bytes))
}

/// Every readable config; what the listing skipped is said on stderr.
pub(crate) async fn list_configs(context: &Context) -> Result<Vec<ScanConfig>, Failure> {
    let listing = context.store.list().await?;
    for skipped in &listing.skipped {
        eprintln!("warning: skipped {}: {}", skipped.key, skipped.reason);
    }
    Ok(listing.items)
}
