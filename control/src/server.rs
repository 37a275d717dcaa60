//! Starting and stopping the whole server: storage folder, secrets, SFU, HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use vchat_sfu::Sfu;

use crate::app::{App, router};
use crate::auth::ratelimit::LoginLimiter;
use crate::auth::secrets;
use crate::auth::token::TokenSigner;
use crate::config::Config;
use crate::events::EventBus;
use crate::events::mqtt::Mirror;
use crate::metrics::Metrics;
use crate::store::bootstrap;
use crate::turn::TurnService;
use crate::turn::bridge::{ToSfu, ToTurn};
use crate::{callstore, interactions};

/// How long the HTTP server may take to close its connections once calls are closed.
const HTTP_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A started server.
pub struct Running {
    /// Where HTTP listens (the real port, when the config said 0).
    pub http_addr: SocketAddr,
    /// The SFU's media addresses, one per worker.
    pub media_addrs: Vec<SocketAddr>,
    /// The data folder.
    pub data_dir: PathBuf,
    /// The TURN relay's UDP, TCP and TLS listeners (none when off).
    pub turn_addrs: (Option<SocketAddr>, Option<SocketAddr>, Option<SocketAddr>),
    app: Arc<App>,
    draining: watch::Sender<bool>,
    stop_http: watch::Sender<bool>,
    http: JoinHandle<std::io::Result<()>>,
}

/// Starts everything `config` describes. Returns once every socket is bound.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    // One crypto stack for every rustls user in the process (TURNS now, HTTPS later):
    // aws-lc-rs, as str0m's DTLS. Fails harmlessly when already chosen.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data folder {}",
            config.data_dir.display()
        )
    })?;
    let data_dir = config.data_dir.canonicalize()?;
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

    let store = crate::store::open(&config.store, &data_dir)
        .await
        .context("cannot open the store")?;
    bootstrap::root_tenant(&store).await?;
    let mqtt = match &config.events.mqtt_url {
        Some(url) => Some(Mirror::start(&config.events, url)?),
        None => None,
    };
    let bus = EventBus::new(store.clone(), mqtt);

    let metrics = Arc::new(Metrics::new());
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let sfu = Sfu::start(config.sfu_config(), events_tx).context("cannot start the SFU")?;
    let media_addrs = sfu.media_addrs();
    // The SFU's events: counters for /metrics, and media activity for interactions
    // (once the app exists; events before that are about no interaction yet).
    let app_cell: Arc<std::sync::OnceLock<Arc<App>>> = Arc::default();
    {
        let metrics = metrics.clone();
        let app_cell = app_cell.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                metrics.record(&event);
                if let Some(app) = app_cell.get() {
                    interactions::sfu_event(app, &event);
                }
            }
        });
    }

    // Recorded rooms' media goes from the SFU's workers to capture files.
    let capture = vchat_recorder::capture::files::CaptureFiles::start(
        &data_dir.join("recordings").join("capture"),
        |participant| {
            if participant == interactions::CLIENT_PARTICIPANT {
                "client"
            } else {
                "agent"
            }
        },
    )
    .context("cannot start the call recorder")?;
    sfu.attach_tap(|_| Box::new(capture.sink()))
        .context("cannot link the SFU to the recorder")?;

    let recordings = crate::recordings::file_store(&config, &data_dir)?;
    if let vchat_recorder::store::FileStore::S3(s3) = &recordings {
        s3.ensure_bucket()
            .await
            .context("cannot reach the recordings bucket")?;
    }

    let turn = if config.turn.enabled {
        // Relayed browsers reach the SFU in-process: no UDP hop between the two.
        let to_sfu = Box::new(ToSfu::new(sfu.relay_inlets()));
        let turn = TurnService::start(&config, &data_dir, &media_addrs, Some(to_sfu))?;
        let inbox = turn.internal_inbox();
        let (ip, ports) = (
            config.turn.relay_ip,
            config.turn.min_port..=config.turn.max_port,
        );
        sfu.attach_relay(|_| Box::new(ToTurn::new(ip, ports.clone(), inbox.clone())))
            .context("cannot link the SFU to TURN")?;
        Some(turn)
    } else {
        None
    };

    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http))?;
    let http_addr = listener.local_addr()?;
    let (draining, draining_rx) = watch::channel(false);
    let (stop_http, mut stop_http_rx) = watch::channel(false);
    let app = Arc::new(App {
        signer: TokenSigner::new(secret.expose().as_bytes()),
        api_token,
        sfu,
        metrics,
        turn,
        draining: draining_rx,
        public_base: config.public_base(http_addr),
        store,
        events: bus,
        login_limiter: LoginLimiter::new(config.auth.login_attempts_per_minute),
        data_dir: data_dir.clone(),
        http: crate::delivery::http_client(Duration::from_secs(config.delivery.http_timeout_secs)),
        connectors: Default::default(),
        geocoder: Default::default(),
        capture,
        recordings,
        config,
    });
    let _ = app_cell.set(app.clone());
    callstore::spawn(app.clone());
    // Calls that were live when the process last stopped cannot resume their media
    // (DTLS state is gone): close them as of the last heartbeat, so their records
    // are final and their CDRs get written.
    let last_alive = interactions::last_alive(&data_dir);
    interactions::spawn_heartbeat(data_dir.clone());
    interactions::close_after_restart(&app, last_alive).await?;
    interactions::spawn_clock(app.clone());
    crate::recordings::resume_unmerged(app.clone()).await?;
    crate::recordings::sweep_captures_hourly(app.clone());
    // CDRs a crash kept from being written (the grace period has passed for them).
    callstore::sweep(&app, Duration::ZERO).await?;
    let http = tokio::spawn(
        axum::serve(
            listener,
            router(app.clone()).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop_http_rx.wait_for(|stop| *stop).await;
        })
        .into_future(),
    );
    let turn_addrs = app
        .turn
        .as_ref()
        .map_or((None, None, None), TurnService::addrs);
    tracing::info!(
        http = %http_addr,
        media = ?media_addrs,
        turn = ?turn_addrs,
        data = %data_dir.display(),
        "vchat is serving; open http://{http_addr}/"
    );
    Ok(Running {
        http_addr,
        media_addrs,
        data_dir,
        turn_addrs,
        app,
        draining,
        stop_http,
        http,
    })
}

impl Running {
    /// The REST API token.
    pub fn api_token(&self) -> &str {
        self.app.api_token.expose()
    }

    /// Stops gracefully: refuse new joins, let calls run up to `shutdown.drain_timeout_secs`,
    /// close every peer (each session is told why), then close HTTP.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.draining.send(true);
        self.app.metrics.draining.set(1);
        let drain = Duration::from_secs(self.app.config.shutdown.drain_timeout_secs);
        // The relay takes no new allocations from now; running ones (calls in
        // progress) keep relaying until the drain deadline.
        if let Some(turn) = &self.app.turn {
            turn.drain(std::time::Instant::now() + drain);
        }
        if !drain.is_zero() {
            tracing::info!(
                "draining: new joins are refused; waiting up to {drain:?} for calls to end"
            );
            let deadline = tokio::time::Instant::now() + drain;
            while self.app.metrics.signaling_sessions.get() > 0
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        tracing::info!("closing calls");
        let app = self.app.clone();
        tokio::task::spawn_blocking(move || {
            app.sfu.shutdown();
            if let Some(turn) = &app.turn {
                turn.join();
            }
        })
        .await?;
        // Sessions close their sockets as the SFU's goodbyes reach them.
        let deadline = tokio::time::Instant::now() + HTTP_CLOSE_GRACE;
        while self.app.metrics.signaling_sessions.get() > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.stop_http.send(true);
        match tokio::time::timeout(HTTP_CLOSE_GRACE, self.http).await {
            Ok(joined) => joined??,
            Err(_) => tracing::warn!(
                "HTTP connections still open after {HTTP_CLOSE_GRACE:?}; stopping anyway"
            ),
        }
        tracing::info!("stopped");
        Ok(())
    }
}
