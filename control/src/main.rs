//! The `vchat` binary.

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use vchat_control::cli::{Cli, Command, RecordingCommand, ServeArgs, UserCommand};
use vchat_control::config::{Config, Overrides};
use vchat_control::server;

// Every forwarded packet allocates and frees buffers on a media worker (str0m's API
// hands them over by value); mimalloc's thread-local free lists cost 7 % less CPU per
// packet than glibc's malloc in the A/B runs of benches/RESULTS.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if let Err(e) = run() {
        eprintln!("vchat: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = load(&args)?;
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
        Command::Config(args) => {
            let config = load(&args)?;
            print!("{}", toml::to_string_pretty(&config)?);
            Ok(())
        }
        Command::User(UserCommand::Add(args)) => {
            let config = load(&args.serve)?;
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let user = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(vchat_control::users::add(
                    &config,
                    &args.login,
                    args.name.as_deref(),
                    &args.role,
                    &args.tenant,
                    password,
                ))?;
            println!(
                "created {} {} (id {}) in tenant {}",
                user.role.as_str(),
                user.login,
                user.id,
                user.tenant
            );
            Ok(())
        }
        Command::Recording(RecordingCommand::Merge(args)) => {
            vchat_control::recordings::cli::merge(&args.captures, &args.out, &args.audio)
        }
    }
}

fn load(args: &ServeArgs) -> anyhow::Result<Config> {
    let overrides = Overrides {
        http: args.http,
        data_dir: args.data.clone(),
    };
    Config::load(args.config.as_deref(), std::env::vars(), &overrides)
        .context("invalid configuration")
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
