//! Starting and stopping the whole server: storage folder, secrets, SFU, TURN, the
//! recorder, HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use vchat_sfu::Sfu;

use crate::app::{Parts, assemble};
use crate::config::Config;
use crate::domain::callstore::CallStore;
use crate::domain::events::mqtt::Mirror;
use crate::domain::interactions::{Interactions, lifecycle};
use crate::domain::recordings::Recordings;
use crate::http::router;
use crate::metrics::Metrics;
use crate::state::{AppState, IceServers, MoreMetrics};
use crate::store::bootstrap;
use crate::turn::TurnService;
use crate::turn::bridge::{ToSfu, ToTurn};
use crate::ws::messages::IceServer;

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
    state: AppState,
    sfu: Arc<Sfu>,
    turn: Option<Arc<TurnService>>,
    draining: watch::Sender<bool>,
    stop_http: watch::Sender<bool>,
    http: JoinHandle<std::io::Result<()>>,
}

impl IceServers for TurnService {
    fn for_participant(&self, participant: &str) -> Vec<IceServer> {
        self.ice_servers(participant)
    }
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

    let store = crate::store::open(&config.store, &data_dir)
        .await
        .context("cannot open the store")?;
    bootstrap::root_tenant(&store).await?;
    let mqtt = match &config.events.mqtt_url {
        Some(url) => Some(Mirror::start(&config.events, url)?),
        None => None,
    };

    let metrics = Arc::new(Metrics::new());
    let (events_tx, mut sfu_events) = mpsc::unbounded_channel();
    let sfu = Arc::new(Sfu::start(config.sfu_config(), events_tx).context("cannot start the SFU")?);
    let media_addrs = sfu.media_addrs();

    // Recorded rooms' media goes from the SFU's workers to capture files.
    let capture = Arc::new(
        vchat_recorder::capture::files::CaptureFiles::start(
            &data_dir.join("recordings").join("capture"),
            lifecycle::role_of,
        )
        .context("cannot start the call recorder")?,
    );
    sfu.attach_tap(|_| Box::new(capture.sink()))
        .context("cannot link the SFU to the recorder")?;

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
        Some(Arc::new(turn))
    } else {
        None
    };
    let more_metrics: MoreMetrics = {
        let (capture, turn) = (capture.clone(), turn.clone());
        Arc::new(move || {
            let mut text = capture_metrics(&capture.stats());
            if let Some(turn) = &turn {
                text.push_str(&turn.render_metrics());
            }
            text
        })
    };

    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http))?;
    let http_addr = listener.local_addr()?;
    let (draining, draining_rx) = watch::channel(false);
    let (stop_http, mut stop_http_rx) = watch::channel(false);
    let public_base = config.public_base(http_addr);
    let state = assemble(
        config,
        Parts {
            data_dir: data_dir.clone(),
            public_base,
            store,
            mqtt,
            media: sfu.clone(),
            ice: turn.clone().map(|t| t as Arc<dyn IceServers>),
            more_metrics: Some(more_metrics),
            metrics: metrics.clone(),
            draining: draining_rx,
        },
    )?;
    let deps = state.deps.clone();
    // The SFU's events: counters for /metrics, and media activity for interactions.
    {
        let lifecycle = Interactions::from(deps.clone()).lifecycle();
        tokio::spawn(async move {
            while let Some(event) = sfu_events.recv().await {
                metrics.record(&event);
                lifecycle.sfu_event(&event);
            }
        });
    }
    let call_store = CallStore::from(deps.clone());
    call_store.spawn();
    // Calls that were live when the process last stopped cannot resume their media
    // (DTLS state is gone): close them as of the last heartbeat, so their records
    // are final and their CDRs get written.
    let last_alive = lifecycle::last_alive(&data_dir);
    lifecycle::spawn_heartbeat(data_dir.clone());
    let lifecycle = Interactions::from(deps.clone()).lifecycle();
    lifecycle.close_after_restart(last_alive).await?;
    lifecycle.spawn_clock();
    let recordings = Recordings::from(deps.clone());
    recordings.resume_unmerged().await?;
    recordings.sweep_captures_hourly();
    // CDRs a crash kept from being written (the grace period has passed for them).
    call_store.sweep(Duration::ZERO).await?;
    let http = tokio::spawn(
        axum::serve(
            listener,
            router(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop_http_rx.wait_for(|stop| *stop).await;
        })
        .into_future(),
    );
    let turn_addrs = turn.as_ref().map_or((None, None, None), |t| t.addrs());
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
        state,
        sfu,
        turn,
        draining,
        stop_http,
        http,
    })
}

/// The recorder's counters in the text format.
fn capture_metrics(c: &vchat_recorder::capture::files::CaptureStats) -> String {
    [
        (
            "vchat_recorder_capture_files_total",
            "Capture files opened (one per recorded track and join).",
            c.files,
        ),
        (
            "vchat_recorder_capture_frames_total",
            "RTP packets written to capture files.",
            c.frames,
        ),
        (
            "vchat_recorder_capture_bytes_total",
            "Bytes written to capture files.",
            c.bytes,
        ),
        (
            "vchat_recorder_capture_errors_total",
            "Capture batches that could not be written.",
            c.errors,
        ),
    ]
    .iter()
    .map(|(name, help, value)| {
        format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n")
    })
    .collect()
}

impl Running {
    /// The REST API token.
    pub fn api_token(&self) -> &str {
        self.state.deps.auth.bootstrap().expose()
    }

    /// Stops gracefully: refuse new joins, let calls run up to `shutdown.drain_timeout_secs`,
    /// close every peer (each session is told why), then close HTTP.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let metrics = self.state.metrics.clone();
        let _ = self.draining.send(true);
        metrics.draining.set(1);
        let drain = Duration::from_secs(self.state.deps.config.shutdown.drain_timeout_secs);
        // The relay takes no new allocations from now; running ones (calls in
        // progress) keep relaying until the drain deadline.
        if let Some(turn) = &self.turn {
            turn.drain(std::time::Instant::now() + drain);
        }
        if !drain.is_zero() {
            tracing::info!(
                "draining: new joins are refused; waiting up to {drain:?} for calls to end"
            );
            let deadline = tokio::time::Instant::now() + drain;
            while metrics.signaling_sessions.get() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        tracing::info!("closing calls");
        let (sfu, turn) = (self.sfu.clone(), self.turn.clone());
        tokio::task::spawn_blocking(move || {
            sfu.shutdown();
            if let Some(turn) = &turn {
                turn.join();
            }
        })
        .await?;
        // Sessions close their sockets as the SFU's goodbyes reach them.
        let deadline = tokio::time::Instant::now() + HTTP_CLOSE_GRACE;
        while metrics.signaling_sessions.get() > 0 && tokio::time::Instant::now() < deadline {
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
