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
use crate::tls::Certificates;
use crate::tls::acme::Acme;
use crate::tls::files::CertificateFiles;
use crate::tls::listener::TlsListener;
use crate::turn::TurnService;
use crate::turn::bridge::{ToSfu, ToTurn};
use crate::ws::messages::IceServer;

/// How long the HTTP server may take to close its connections once calls are closed.
const HTTP_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A started server.
pub struct Running {
    /// Where HTTP (or HTTPS) listens (the real port, when the config said 0).
    pub http_addr: SocketAddr,
    /// Whether that is HTTPS.
    pub https: bool,
    /// The plain-HTTP address that redirects to HTTPS, when there is one.
    pub redirect_addr: Option<SocketAddr>,
    /// The certificate of HTTPS and TURNS, when either is on.
    pub certificates: Option<Arc<Certificates>>,
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
    redirect: Option<JoinHandle<std::io::Result<()>>>,
}

impl IceServers for TurnService {
    fn for_participant(&self, participant: &str) -> Vec<IceServer> {
        self.ice_servers(participant)
    }
}

/// Starts everything `config` describes. Returns once every socket is bound.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    // One crypto stack for every rustls user in the process (TURNS, HTTPS, ACME):
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

    let https = config.https();
    let certificates = if https || (config.turn.enabled && config.turn.tls) {
        Some(certificates(&config, &data_dir)?)
    } else {
        None
    };
    let acme = match (&certificates, https && !config.tls.acme.names.is_empty()) {
        (Some(certs), true) => Some(Acme::new(&config.tls.acme, &data_dir, certs.clone())?),
        _ => None,
    };

    let turn = if config.turn.enabled {
        // Relayed browsers reach the SFU in-process: no UDP hop between the two.
        let to_sfu = Box::new(ToSfu::new(sfu.relay_inlets()));
        let turns = match &certificates {
            Some(c) if config.turn.tls => Some(c.turns_config()?),
            _ => None,
        };
        let turn = TurnService::start(&config, &data_dir, &media_addrs, Some(to_sfu), turns)?;
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
        let (certs, acme) = (certificates.clone(), acme.clone());
        Arc::new(move || {
            let mut text = capture_metrics(&capture.stats());
            if let Some(turn) = &turn {
                text.push_str(&turn.render_metrics());
            }
            if let Some(certs) = &certs {
                text.push_str(&crate::tls::metrics::render(certs, acme.as_deref()));
            }
            text
        })
    };

    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .with_context(|| {
            format!(
                "cannot listen for {} on {}",
                if https { "HTTPS" } else { "HTTP" },
                config.http
            )
        })?;
    let http_addr = listener.local_addr()?;
    let redirect_listener = match config.tls.redirect_from.filter(|_| https) {
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen for plain HTTP on {addr} (tls.redirect_from)")
        })?),
        None => None,
    };
    let redirect_addr = match &redirect_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let hsts = config.tls.hsts_max_age_secs;
    let (draining, draining_rx) = watch::channel(false);
    let (stop_http, stop_http_rx) = watch::channel(false);
    let public_base = config.public_base(http_addr);
    let config_summary = ServeSummary {
        https,
        files: config.tls.cert.is_some(),
        names: config.tls.acme.names.clone(),
        directory: config.tls.acme.directory.clone(),
    };
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
    crate::domain::devices::upload::spawn(deps.clone(), metrics.intercom.clone());
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
    let app = router(state.clone());
    let stopped = move || {
        let mut rx = stop_http_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let http = match (&certificates, https) {
        (Some(certs), true) => {
            let app = app.layer(axum::middleware::from_fn_with_state(
                (certs.clone(), hsts),
                crate::tls::strict_transport,
            ));
            let tls = TlsListener::start(listener, certs.https_config()?)?;
            tokio::spawn(
                axum::serve(
                    axum::serve::ListenerExt::tap_io(tls, |_| {}),
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(stopped())
                .into_future(),
            )
        }
        _ => tokio::spawn(
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stopped())
            .into_future(),
        ),
    };
    let redirect = match (redirect_listener, &certificates) {
        (Some(l), Some(certs)) => Some(tokio::spawn(
            axum::serve(
                l,
                crate::tls::redirect::router(certs.clone(), http_addr.port()),
            )
            .with_graceful_shutdown(stopped())
            .into_future(),
        )),
        _ => None,
    };
    if let Some(acme) = &acme {
        acme.spawn();
    }
    say_how_pages_are_served(
        &config_summary,
        http_addr,
        certificates.as_deref(),
        acme.is_some(),
    );
    let turn_addrs = turn.as_ref().map_or((None, None, None), |t| t.addrs());
    tracing::info!(
        http = %http_addr,
        media = ?media_addrs,
        turn = ?turn_addrs,
        data = %data_dir.display(),
        "vchat is serving; open {}/",
        state.deps.public_base
    );
    Ok(Running {
        http_addr,
        https,
        redirect_addr,
        certificates,
        media_addrs,
        data_dir,
        turn_addrs,
        state,
        sfu,
        turn,
        draining,
        stop_http,
        http,
        redirect,
    })
}

/// The certificate of HTTPS and TURNS: the configured files, or a self-signed pair
/// for every name and address this server is reached at (until ACME gives one).
fn certificates(config: &Config, data_dir: &std::path::Path) -> anyhow::Result<Arc<Certificates>> {
    let mut names = vec!["localhost".to_string()];
    let mut add = |n: String| {
        let n = n.trim_start_matches('[').trim_end_matches(']').to_string();
        if !n.is_empty() && !names.contains(&n) {
            names.push(n);
        }
    };
    for ip in [
        Some(config.http.ip()),
        config.turn.announce_ip,
        Some(config.turn.listen_ip),
    ]
    .into_iter()
    .flatten()
    .filter(|ip| !ip.is_unspecified())
    {
        add(ip.to_string());
    }
    add(crate::turn::tls_host(config));
    for name in &config.tls.acme.names {
        add(name.clone());
    }
    let files = CertificateFiles::resolve(
        config.tls.cert.as_deref(),
        config.tls.key.as_deref(),
        data_dir,
        &names,
    )?;
    files.watch()
}

/// What `vchat serve` prints about HTTPS: which it is doing, and for a self-signed
/// certificate, the fingerprint to check when trusting it.
fn say_how_pages_are_served(
    summary: &ServeSummary,
    at: SocketAddr,
    certs: Option<&Certificates>,
    acme: bool,
) {
    let Some(certs) = certs.filter(|_| summary.https) else {
        if at.ip().is_loopback() {
            tracing::info!(
                "plain HTTP on {at}: a loopback address, which browsers treat as a secure \
                 page; any other address or a public name turns HTTPS on"
            );
        } else {
            tracing::warn!(
                "tls.mode = off: plain HTTP on {at}; browsers give camera and microphone \
                 only to secure pages, so an HTTPS proxy must stand in front"
            );
        }
        return;
    };
    let current = certs.current();
    let fingerprint = current
        .end_entity_cert()
        .map(crate::tls::fingerprint)
        .unwrap_or_default();
    match (certs.trusted(), acme) {
        (true, true) => tracing::info!(
            "HTTPS on {at} with the ACME certificate for {:?} (stored; renewed before it ends)",
            summary.names
        ),
        (false, true) => tracing::info!(
            "HTTPS on {at}: ordering a certificate for {:?} from {}; a self-signed one \
             stands in until it comes",
            summary.names,
            summary.directory
        ),
        (_, false) if summary.files => {
            tracing::info!("HTTPS on {at} with the certificate of tls.cert (SHA-256 {fingerprint})")
        }
        _ => tracing::warn!(
            "HTTPS on {at} with a self-signed certificate: browsers warn until it is \
             trusted (README, \"Trusting the self-signed certificate\"); check its \
             SHA-256 fingerprint is {fingerprint}"
        ),
    }
}

/// What [`say_how_pages_are_served`] needs of the configuration.
struct ServeSummary {
    https: bool,
    files: bool,
    names: Vec<String>,
    directory: String,
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
    /// `http://` or `https://`, then the address HTTP listens on.
    pub fn base_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.http_addr)
    }

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
        if let Some(redirect) = self.redirect {
            redirect.abort();
        }
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
