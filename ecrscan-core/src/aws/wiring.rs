//! One wiring of ecrscan's parts, shared by the CLI and every Lambda
//! function, so that no program builds its own stack and forgets a part
//! (the record step's outbox, the log redaction, a validated setting).
//!
//! [`Wiring::open`] opens the store; the rest is built on first use and
//! reused: the AWS configuration (loaded only when AWS is needed — a local
//! store and `configs list` never touch it), the ECR backend, the
//! notifier, the record step (whose changes are queued for the channels),
//! and the backends the operations read through.

use std::sync::Arc;

use aws_config::SdkConfig;
use tokio::sync::OnceCell;

use super::ecr::{EcrBackend, EcrBackendOptions};
use super::notify::{AwsSecrets, AwsTransport, TransportSetupError};
use super::{AwsSettings, load_sdk_config};
use crate::backend::ScanBackend;
use crate::notify::{ChangeOutbox, Notifier, NotifyOptions};
use crate::recorder::{CachedSuppressions, ReadFrom, RecordOptions, Recorder, RecordingBackend};
use crate::settings::InvalidSetting;
use crate::store::{
    ConfigStore, InvalidStoreLocation, ResultStore, Store, StoreError, StoreLocation,
    SuppressionStore,
};

/// What a program is wired with.
#[derive(Debug, Clone)]
pub struct WiringSettings {
    /// Where configs and results are kept.
    pub store: StoreLocation,
    /// How to talk to AWS.
    pub aws: AwsSettings,
    /// The ECR backend's options.
    pub ecr: EcrBackendOptions,
    /// The record step's options.
    pub record: RecordOptions,
    /// How changes are sent.
    pub notify: NotifyOptions,
}

impl WiringSettings {
    /// The settings a deployed function takes from its environment (see
    /// [`crate::settings::ENVIRONMENT`]): the store (`ECRSCAN_STORE`, else
    /// `ECR_SCAN_CONFIG_BUCKET`), `ECRSCAN_CALLS_PER_SECOND`,
    /// `ECRSCAN_ASSUME_ROLE`, `ECRSCAN_EXTERNAL_ID`,
    /// `ECRSCAN_RESULT_HISTORY` and `ECRSCAN_API_URL`, each validated; the
    /// AWS configuration is the standard one.
    pub fn from_env() -> Result<WiringSettings, WiringError> {
        let store = StoreLocation::from_env()?.ok_or(WiringError::NoStore)?;
        Ok(WiringSettings {
            store,
            aws: AwsSettings::default(),
            ecr: EcrBackendOptions {
                calls_per_second: crate::settings::calls_per_second()?,
                assume_role: crate::settings::assume_role()?,
                external_id: crate::settings::external_id()?,
                ..EcrBackendOptions::default()
            },
            record: RecordOptions::from_env()?,
            notify: NotifyOptions::default().with_api_url(crate::settings::var("ECRSCAN_API_URL")),
        })
    }
}

/// Why a program cannot be wired.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WiringError {
    /// Neither `ECRSCAN_STORE` nor `ECR_SCAN_CONFIG_BUCKET` is set.
    #[error(
        "no config store: set ECRSCAN_STORE (s3://bucket/prefix, file:///dir or a path) or ECR_SCAN_CONFIG_BUCKET"
    )]
    NoStore,
    /// The store location cannot be understood.
    #[error(transparent)]
    InvalidStore(#[from] InvalidStoreLocation),
    /// A setting is invalid.
    #[error(transparent)]
    Setting(#[from] InvalidSetting),
    /// The store cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client for webhooks cannot be built.
    #[error(transparent)]
    Transport(#[from] TransportSetupError),
}

/// The parts of a program, built once each.
pub struct Wiring {
    settings: WiringSettings,
    store: Arc<dyn Store>,
    sdk_config: OnceCell<SdkConfig>,
    ecr: OnceCell<Arc<dyn ScanBackend>>,
    notifier: OnceCell<Arc<Notifier>>,
    recorder: OnceCell<Recorder>,
}

impl std::fmt::Debug for Wiring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wiring")
            .field("store", &self.settings.store)
            .finish_non_exhaustive()
    }
}

impl Wiring {
    /// Opens the store (loading the AWS configuration first when the store
    /// is on S3).
    pub async fn open(settings: WiringSettings) -> Result<Wiring, WiringError> {
        let sdk_config = OnceCell::new();
        let store = match &settings.store {
            StoreLocation::S3 { .. } => {
                let config = load_sdk_config(&settings.aws).await;
                let store = settings.store.open(&config).await?;
                let _ = sdk_config.set(config);
                store
            }
            // Opening a local store needs no AWS configuration.
            other => other.open(&SdkConfig::builder().build()).await?,
        };
        tracing::debug!(store = %settings.store, "store opened");
        Ok(Wiring {
            settings,
            store,
            sdk_config,
            ecr: OnceCell::new(),
            notifier: OnceCell::new(),
            recorder: OnceCell::new(),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &WiringSettings {
        &self.settings
    }

    /// The store: configs, results, channels.
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// The store as a [`ConfigStore`].
    pub fn configs(&self) -> Arc<dyn ConfigStore> {
        self.store.clone()
    }

    /// The store as a [`ResultStore`].
    pub fn results(&self) -> Arc<dyn ResultStore> {
        self.store.clone()
    }

    /// The AWS configuration, loaded on first use.
    pub async fn sdk_config(&self) -> &SdkConfig {
        self.sdk_config
            .get_or_init(|| load_sdk_config(&self.settings.aws))
            .await
    }

    /// Amazon ECR, with its adaptive rates; every caller shares it (and so
    /// its rates and clients).
    pub async fn ecr(&self) -> Arc<dyn ScanBackend> {
        let sdk_config = self.sdk_config().await;
        Arc::clone(
            self.ecr
                .get_or_init(|| async {
                    let ecr: Arc<dyn ScanBackend> = Arc::new(EcrBackend::with_options(
                        sdk_config,
                        self.settings.ecr.clone(),
                    ));
                    ecr
                })
                .await,
        )
    }

    /// The notifier: the store's channels, sent to over the real transports.
    pub async fn notifier(&self) -> Result<Arc<Notifier>, WiringError> {
        let sdk_config = self.sdk_config().await;
        let notifier = self
            .notifier
            .get_or_try_init(|| async {
                let transport = AwsTransport::new(sdk_config)?;
                Ok::<_, WiringError>(Arc::new(
                    Notifier::new(
                        self.store.clone(),
                        Arc::new(transport),
                        Arc::new(AwsSecrets::new(sdk_config)),
                        self.settings.notify.clone(),
                    )
                    .with_configs(self.configs()),
                ))
            })
            .await?;
        Ok(Arc::clone(notifier))
    }

    /// Whether the notifier was built, i.e. whether anything may have been
    /// queued for the channels.
    pub fn notifier_built(&self) -> bool {
        self.notifier.initialized()
    }

    /// The record step over the store, queuing every change it stores for
    /// the channels and judging each by the store's suppression rules; one
    /// for the whole program, so that recordings into one repository are
    /// committed together.
    pub async fn recorder(&self) -> Result<Recorder, WiringError> {
        let notifier = self.notifier().await?;
        let recorder = self
            .recorder
            .get_or_init(|| async {
                let outbox: Arc<dyn ChangeOutbox> = notifier;
                let rules: Arc<dyn SuppressionStore> = self.store.clone();
                Recorder::with_options(self.results(), self.settings.record)
                    .with_outbox(outbox)
                    .with_suppressions(Arc::new(CachedSuppressions::new(rules)))
            })
            .await;
        Ok(recorder.clone())
    }

    /// ECR through the record step: everything read is recorded; with
    /// [`ReadFrom::Recorded`], fresh recorded results are served instead of
    /// asking ECR.
    pub async fn backend(&self, read_from: ReadFrom) -> Result<Arc<dyn ScanBackend>, WiringError> {
        let recorder = self.recorder().await?;
        Ok(Arc::new(RecordingBackend::with_recorder(
            self.ecr().await,
            recorder,
            read_from,
        )))
    }
}
