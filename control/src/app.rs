//! The composition root: the one place that knows every part. [`assemble`] builds the
//! domain's dependencies and the router's state from a configuration, a store and a
//! media server; `server::start` gives it the real SFU, TURN and recorder, and a test
//! gives it [`crate::domain::media::NoMedia`] and a temporary folder
//! ([`standalone`]), then drives the router with `oneshot`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::config::{Config, Secret};
use crate::domain::auth::Auth;
use crate::domain::auth::secrets;
use crate::domain::auth::token::TokenSigner;
use crate::domain::events::EventBus;
use crate::domain::events::mqtt::Mirror;
use crate::domain::media::Media;
use crate::domain::{Deps, Inner};
use crate::metrics::Metrics;
use crate::state::{AppState, IceServers, MoreMetrics};
use crate::store::{Store, bootstrap};

/// What [`assemble`] takes besides the configuration.
pub struct Parts {
    /// The data folder (made and canonical).
    pub data_dir: PathBuf,
    /// The base of links people open.
    pub public_base: String,
    /// The records.
    pub store: Store,
    /// The event bus's MQTT mirror, if one is configured.
    pub mqtt: Option<Mirror>,
    /// The media server.
    pub media: Arc<dyn Media>,
    /// The relay's credentials for browsers, if it runs.
    pub ice: Option<Arc<dyn IceServers>>,
    /// Metrics of the other parts.
    pub more_metrics: Option<MoreMetrics>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Becomes `true` when the server starts draining.
    pub draining: watch::Receiver<bool>,
}

/// The join-token secret and the bootstrap API token: from the configuration, else
/// made once into the data folder.
pub fn secrets(config: &Config, data_dir: &Path) -> anyhow::Result<(Secret, Secret)> {
    let secret = match &config.secret {
        Some(secret) => secret.clone(),
        None => secrets::load_or_create(&data_dir.join("secret"))?,
    };
    let api_token = match &config.api_token {
        Some(token) => token.clone(),
        None => {
            let path = data_dir.join("api-token");
            let existed = path.exists();
            let token = secrets::load_or_create(&path)?;
            if !existed {
                tracing::info!("the REST API token is in {}", path.display());
            }
            token
        }
    };
    Ok((secret, api_token))
}

/// The domain's dependencies and the router's state.
pub fn assemble(config: Config, parts: Parts) -> anyhow::Result<AppState> {
    let (secret, api_token) = secrets(&config, &parts.data_dir)?;
    let recordings = crate::domain::recordings::file_store(&config, &parts.data_dir)?;
    let auth = Auth::new(
        parts.store.clone(),
        api_token,
        Duration::from_secs(config.auth.session_ttl_secs),
        config.auth.login_attempts_per_minute,
    );
    let openapi = crate::http::shared_document(&config);
    let deps = Deps::new(Inner {
        signer: TokenSigner::new(secret.expose().as_bytes()),
        public_base: parts.public_base,
        data_dir: parts.data_dir,
        events: EventBus::new(parts.store.clone(), parts.mqtt),
        store: parts.store,
        media: parts.media,
        auth,
        http: crate::domain::delivery::http_client(Duration::from_secs(
            config.delivery.http_timeout_secs,
        )),
        connectors: Default::default(),
        devices: Default::default(),
        speech: Default::default(),
        geocoder: Default::default(),
        recordings,
        draining: parts.draining,
        config,
    });
    Ok(AppState {
        deps,
        metrics: parts.metrics,
        ice: parts.ice,
        more_metrics: parts.more_metrics,
        openapi,
    })
}

/// A whole control plane on the embedded store in `data_dir`, with no media server,
/// TURN or recorder running: for tests of the router (`oneshot`) and of the domain.
pub async fn standalone(mut config: Config, data_dir: &Path) -> anyhow::Result<AppState> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    std::fs::create_dir_all(data_dir)?;
    let data_dir = data_dir.canonicalize()?;
    config.data_dir = data_dir.clone();
    let store = crate::store::open(&config.store, &data_dir)
        .await
        .context("cannot open the store")?;
    bootstrap::root_tenant(&store).await?;
    let (_, draining) = watch::channel(false);
    let public_base = config.public_base(config.http);
    assemble(
        config,
        Parts {
            data_dir,
            public_base,
            store,
            mqtt: None,
            media: Arc::new(crate::domain::media::NoMedia::default()),
            ice: None,
            more_metrics: None,
            metrics: Arc::new(Metrics::new()),
            draining,
        },
    )
}
