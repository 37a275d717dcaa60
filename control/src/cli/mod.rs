//! The command line: its arguments, and what each command does.

pub mod backup;
pub mod doctor;
pub mod intercom_sim;
pub mod merge;
pub mod serve;
pub mod user;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};

/// Runs the command `cli` names.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(load(&args)?),
        Command::Config(args) => {
            let config = load(&args)?;
            print!("{}", toml::to_string_pretty(&config)?);
            Ok(())
        }
        Command::User(UserCommand::Add(args)) => user::add(load(&args.serve)?, &args),
        Command::Backup(args) => backup::backup(&load(&args.serve)?, &args.to),
        Command::Restore(args) => {
            let config = load(&args.serve)?;
            backup::restore(&args.from, &config.data_dir)
        }
        Command::Doctor(args) => doctor::run(&load(&args)?),
        Command::IntercomSim(args) => intercom_sim::run(args),
        Command::Recording(RecordingCommand::Merge(args)) => {
            merge::merge(&args.captures, &args.out, &args.audio)
        }
    }
}

/// The configuration the flags, the environment and the file say.
pub fn load(args: &ServeArgs) -> anyhow::Result<Config> {
    let overrides = Overrides {
        http: args.http,
        data_dir: args.data.clone(),
    };
    Config::load(args.config.as_deref(), std::env::vars(), &overrides)
        .context("invalid configuration")
}

/// vchat: self-hosted real-time video for customer service and intercoms.
#[derive(Debug, Parser)]
#[command(name = "vchat", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: web pages, API, signaling and media, in one process.
    Serve(ServeArgs),
    /// Print the configuration `serve` would use (secrets redacted), then exit.
    Config(ServeArgs),
    /// Manage users (the first admin, before anyone can log in).
    #[command(subcommand)]
    User(UserCommand),
    /// Copy the data folder (store, files, certificates, secrets) while the server runs.
    ///
    /// Example: `vchat backup --data /var/lib/vchat /backups/vchat-2026-12-03`
    Backup(BackupArgs),
    /// Put a backup into a new or empty data folder (refuses a newer schema).
    ///
    /// Example: `vchat restore /backups/vchat-2026-12-03 --data /var/lib/vchat`
    Restore(RestoreArgs),
    /// Check a deployment and say what to fix: addresses and ports, UDP, the
    /// certificate, the clock, disk space, the media libraries.
    Doctor(ServeArgs),
    /// Work with recordings' files by hand.
    #[command(subcommand)]
    Recording(RecordingCommand),
    /// Simulated door panels on /intercom (tests, benchmarks, trying it out).
    IntercomSim(intercom_sim::SimArgs),
}

/// `vchat recording ...`.
#[derive(Debug, Subcommand)]
pub enum RecordingCommand {
    /// Merge a call's capture files into one WebM, as the server does after a call
    /// (client left, agent right, the client's video).
    ///
    /// Example: `vchat recording merge data/recordings/capture/<room> call.webm`
    Merge(RecordingMergeArgs),
}

/// `vchat recording merge`.
#[derive(Debug, clap::Args)]
pub struct RecordingMergeArgs {
    /// The folder of the call's capture files (`*.vcrec`).
    pub captures: PathBuf,
    /// The WebM file to write.
    pub out: PathBuf,
    /// How to make the stereo track: `auto` (the parties' own packets when they are
    /// all 20 ms, else re-encoded), `passthrough` or `reencode`.
    #[arg(long, default_value = "auto", value_parser = ["auto", "passthrough", "reencode"])]
    pub audio: String,
}

/// `vchat backup`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Where the data folder is (the same settings as `serve`).
    #[command(flatten)]
    pub serve: ServeArgs,
    /// A new or empty folder to write the backup into.
    pub to: PathBuf,
}

/// `vchat restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The folder `vchat backup` wrote.
    pub from: PathBuf,
    /// The data folder to restore into (`--data`; new or empty).
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `vchat user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input (one line).
    ///
    /// Example: `echo 'a long password' | vchat user add --login admin --role admin`
    Add(UserAddArgs),
}

/// `vchat user add`.
#[derive(Debug, clap::Args)]
pub struct UserAddArgs {
    /// Where the store is (the same settings as `serve`).
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Login name (3 to 64 of a-z, 0-9, '.', '_', '-', '@').
    #[arg(long)]
    pub login: String,
    /// Display name [default: the login].
    #[arg(long)]
    pub name: Option<String>,
    /// Role: admin, supervisor or agent.
    #[arg(long, default_value = "admin")]
    pub role: String,
    /// Tenant id [default: root].
    #[arg(long, default_value = "root")]
    pub tenant: String,
}

/// Where `serve` takes its settings from. Every other setting is a `VCHAT_*` variable
/// or a key in the config file.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A TOML config file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// HTTP listen address [env: VCHAT_HTTP] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Data folder [env: VCHAT_DATA_DIR] [default: ./data]
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}
