//! `vchat serve`: runs the server until Ctrl-C or SIGTERM, then stops gracefully (a
//! second signal stops at once).

use tracing_subscriber::EnvFilter;

use crate::config::Config;
use crate::server;

/// Serves `config` until asked to stop.
pub fn run(config: Config) -> anyhow::Result<()> {
    init_logging(&config.log);
    for name in &config.ignored_env {
        tracing::warn!("{name} is not a vchat setting; ignored");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vchat-control")
        .build()?
        .block_on(serve(config))
}

fn init_logging(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|e| {
        eprintln!("log filter {filter:?} is invalid ({e}); using \"info\"");
        EnvFilter::new("info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let running = server::start(config).await?;
    stop_requested().await;
    tracing::info!("stopping: new joins are refused (signal again to stop at once)");
    tokio::spawn(async {
        stop_requested().await;
        tracing::warn!("second stop signal: exiting now");
        std::process::exit(1);
    });
    running.shutdown().await
}

/// Ctrl-C or SIGTERM.
async fn stop_requested() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
