//! `vchat-load`: a load generator of WebRTC clients for vchat and for janus.
//!
//! Clients are str0m peers in RTP mode, publishing pre-made Opus (~32 kbit/s) and VP8
//! (~1.5 Mbit/s) streams made with ffmpeg at first run, and subscribing to each other
//! in rooms of a chosen shape. The same load speaks vchat's signaling or janus's
//! videoroom API. Per run it measures forwarded packets/s, loss, one-way added latency,
//! join → first keyframe, and the SFU process's CPU and memory from /proc; it prints
//! progress, stops itself, and writes JSON.
//!
//! ```text
//! vchat-load --target vchat --url http://127.0.0.1:8080 --api-token-file data/api-token \
//!            --shape one-to-one --rooms 20 --duration 20 --pid $(pgrep -x vchat) --out run.json
//! ```

#![allow(unreachable_pub)] // a binary: `pub` marks what its modules offer each other

mod assets;
mod media;
mod procfs;
mod signal;
mod stats;
mod turn_client;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use serde_json::json;
use tokio::sync::{oneshot, watch};

use crate::assets::Assets;
use crate::media::{Command, MediaThread, Publish};
use crate::stats::Counters;
use crate::turn_client::TurnConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    Vchat,
    Janus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Shape {
    /// Two participants per room, both publishing audio and video (a call).
    OneToOne,
    /// Four participants per room, all publishing audio and video.
    Room4,
    /// One publisher and `--subscribers` viewers per room.
    Fanout,
    /// Two participants per room, audio only (the intercom shape).
    Audio,
}

#[derive(Debug, Parser)]
#[command(
    name = "vchat-load",
    about = "Load generator of WebRTC clients for vchat and janus"
)]
struct Args {
    /// Which SFU speaks at --url.
    #[arg(long, value_enum, default_value = "vchat")]
    target: Target,
    /// vchat: its HTTP base (http://127.0.0.1:8080); janus: its WebSocket (ws://127.0.0.1:8188).
    #[arg(long)]
    url: String,
    /// vchat: the REST API token, or a file holding it.
    #[arg(long)]
    api_token: Option<String>,
    #[arg(long)]
    api_token_file: Option<PathBuf>,
    /// Room shape.
    #[arg(long, value_enum, default_value = "one-to-one")]
    shape: Shape,
    /// Number of rooms.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Publishers send their video as three simulcast layers (160x120, 320x240 and
    /// 640x480, as a browser does); each subscriber gets one of them.
    #[arg(long)]
    simulcast: bool,
    /// Viewers per room, for --shape fanout.
    #[arg(long, default_value_t = 4)]
    subscribers: usize,
    /// Seconds over which participants join.
    #[arg(long, default_value_t = 3.0)]
    ramp: f64,
    /// Seconds to wait after the last join before measuring.
    #[arg(long, default_value_t = 3.0)]
    settle: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Media threads of the generator.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The server's process ids, for their CPU time and memory (summed); repeat for
    /// several processes (janus and coturn).
    #[arg(long)]
    pid: Vec<u32>,
    /// Relay every peer through this TURN server (UDP), as a browser behind a strict
    /// firewall would: the relayed address is each peer's only candidate.
    #[arg(long)]
    turn: Option<std::net::SocketAddr>,
    /// TURN user (long-term credentials).
    #[arg(long, default_value = "bench")]
    turn_user: String,
    /// TURN password.
    #[arg(long, default_value = "benchpass")]
    turn_password: String,
    /// Where the JSON result goes (also printed).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Folder of the generated media (default ~/.cache/vchat-load).
    #[arg(long)]
    assets: Option<PathBuf>,
    /// Address the clients' UDP sockets bind to (one that reaches the SFU's media).
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// A free-form label copied into the result.
    #[arg(long, default_value = "")]
    label: String,
}

struct Participant {
    room: usize,
    name: String,
    publish: Publish,
    /// Joins after every publisher of its room, so its wait for the first frame is the
    /// SFU's doing alone (not the others' joining).
    measure_first_frame: bool,
}

fn participants(args: &Args) -> Vec<Participant> {
    let mut out = Vec::new();
    // What a publisher with a camera sends.
    let camera = Publish {
        audio: true,
        video: true,
        simulcast: args.simulcast,
        rids_high_first: args.target == Target::Janus,
    };
    for room in 0..args.rooms {
        let (count, publishers, publish) = match args.shape {
            Shape::OneToOne => (2, 2, camera),
            Shape::Room4 => (4, 4, camera),
            Shape::Fanout => (1 + args.subscribers, 1, camera),
            Shape::Audio => (
                2,
                2,
                Publish {
                    audio: true,
                    video: false,
                    simulcast: false,
                    rids_high_first: false,
                },
            ),
        };
        for i in 0..count {
            let publish = if i < publishers {
                publish
            } else {
                Publish {
                    audio: false,
                    video: false,
                    simulcast: false,
                    rids_high_first: false,
                }
            };
            let last_to_join = if publishers < count {
                i >= publishers
            } else {
                i == count - 1
            };
            let measure_first_frame = args.shape != Shape::Audio && last_to_join;
            out.push(Participant {
                room,
                name: format!("r{room}p{i}"),
                publish,
                measure_first_frame,
            });
        }
    }
    out
}

fn main() -> anyhow::Result<()> {
    // reqwest's TLS (unused here: the API is plain HTTP on loopback) needs the process's
    // rustls provider chosen, as every binary of the workspace does.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio::task::LocalSet::new().block_on(&runtime, run(Args::parse()))
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.rooms == 0 || args.threads == 0 || args.duration <= 0.0 {
        bail!("--rooms, --threads and --duration must be positive");
    }
    // `VCHAT_LOAD_LOG=str0m=debug` shows what the clients' WebRTC stack does.
    if let Ok(filter) = std::env::var("VCHAT_LOAD_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    media::epoch();
    let assets = Arc::new(Assets::load_or_make(
        &args.assets.clone().unwrap_or_else(assets::default_dir),
    )?);
    let (video_bps, audio_bps) = assets.bitrates();
    eprintln!(
        "media: VP8 {:.0} kbit/s, Opus {:.0} kbit/s (before headers)",
        video_bps / 1000.0,
        audio_bps / 1000.0
    );

    let threads: Vec<Arc<MediaThread>> = (0..args.threads)
        .map(|i| {
            let turn = args.turn.map(|server| TurnConfig {
                server,
                user: args.turn_user.clone(),
                password: args.turn_password.clone(),
            });
            MediaThread::start(i, assets.clone(), args.bind, turn).map(Arc::new)
        })
        .collect::<anyhow::Result<_>>()?;
    let people = participants(&args);
    let total = people.len();
    let (stop_tx, stop) = watch::channel(false);
    // Hard limit: the run never outlives its plan by more than a minute.
    let deadline =
        Instant::now() + Duration::from_secs_f64(args.ramp + args.settle + args.duration + 60.0);

    let tokens = match args.target {
        Target::Vchat => Some(vchat_tokens(&args, &people).await?),
        Target::Janus => {
            for room in 0..args.rooms {
                let per_room = people.iter().filter(|p| p.room == room).count();
                signal::janus_create_room(&args.url, janus_room(room), per_room).await?;
            }
            None
        }
    };

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, p) in people.iter().enumerate() {
        let at = started + Duration::from_secs_f64(args.ramp * i as f64 / total as f64);
        tokio::time::sleep_until(at.into()).await;
        let media = threads[i % threads.len()].clone();
        let stop = stop.clone();
        let publish = p.publish;
        let name = p.name.clone();
        let run: std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>>>> =
            match &tokens {
                Some(tokens) => {
                    let ws = format!("{}/ws", args.url.replacen("http", "ws", 1));
                    Box::pin(signal::vchat_participant(
                        ws,
                        tokens[i].clone(),
                        media,
                        publish,
                        p.measure_first_frame,
                        stop,
                    ))
                }
                None => Box::pin(signal::janus_participant(
                    args.url.clone(),
                    janus_room(p.room),
                    name.clone(),
                    media,
                    publish,
                    p.measure_first_frame,
                    stop,
                )),
            };
        tasks.push(tokio::task::spawn_local(async move {
            let result = run.await;
            if let Err(e) = &result {
                eprintln!("participant {name}: {e:#}");
            }
            result
        }));
    }
    eprintln!(
        "{total} participants joined the signaling in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // Settle, showing progress.
    let settle_until = Instant::now() + Duration::from_secs_f64(args.settle);
    let mut last = snapshot(&threads).await;
    while Instant::now() < settle_until {
        tokio::time::sleep(Duration::from_secs(1)).await;
        last = progress(&threads, &last, &args, total, "settling").await;
    }
    check_tasks(&mut tasks)?;

    // Measure.
    for t in &threads {
        t.send(Command::ResetHistograms);
    }
    let cpu0 = procfs::cpu_seconds_all(&args.pid);
    let gen0 = procfs::cpu_seconds(std::process::id());
    let begin = snapshot(&threads).await;
    let window_start = Instant::now();
    let window = Duration::from_secs_f64(args.duration);
    let mut peak_rss = 0;
    last = begin.clone();
    while window_start.elapsed() < window && Instant::now() < deadline {
        tokio::time::sleep(
            Duration::from_secs(1).min(window.saturating_sub(window_start.elapsed())),
        )
        .await;
        last = progress(&threads, &last, &args, total, "measuring").await;
        if let Some((_, peak)) = procfs::memory_all(&args.pid) {
            peak_rss = peak_rss.max(peak);
        }
    }
    let seconds = window_start.elapsed().as_secs_f64();
    let end = snapshot(&threads).await;
    let cpu1 = procfs::cpu_seconds_all(&args.pid);
    let gen1 = procfs::cpu_seconds(std::process::id());
    let rss = procfs::memory_all(&args.pid);
    check_tasks(&mut tasks)?;

    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    for t in threads {
        if let Ok(mut t) = Arc::try_unwrap(t) {
            t.stop();
        }
    }

    let (c0, c1) = (&begin.0, &end.0);
    let received = c1.received - c0.received;
    let expected = c1.expected.saturating_sub(c0.expected);
    let sent = c1.sent - c0.sent;
    let loss = if expected == 0 {
        0.0
    } else {
        1.0 - (received as f64 / expected as f64).min(1.0)
    };
    let sfu_cpu = cpu0.zip(cpu1).map(|(a, b)| b - a);
    let gen_cpu = gen0.zip(gen1).map(|(a, b)| b - a);
    let generator_util = gen_cpu.map(|c| c / seconds / args.threads as f64);
    let result = json!({
        "label": args.label,
        "target": format!("{:?}", args.target).to_lowercase(),
        "shape": format!("{:?}", args.shape),
        "simulcast": args.simulcast,
        "rooms": args.rooms,
        "participants": total,
        "connected_peers": end.1,
        "seconds": seconds,
        "sent_pps": sent as f64 / seconds,
        "forwarded_pps": received as f64 / seconds,
        "forwarded_mbps": (c1.received_bytes - c0.received_bytes) as f64 * 8.0 / seconds / 1e6,
        "loss": loss,
        "latency_p50_us": c1.latency.quantile_us(0.50),
        "latency_p99_us": c1.latency.quantile_us(0.99),
        "latency_samples": c1.latency.count(),
        "first_frame_ms_p50": c1.first_frame.quantile_us(0.50) / 1000.0,
        "first_frame_ms_p99": c1.first_frame.quantile_us(0.99) / 1000.0,
        "first_frames": c1.first_frame.count(),
        "keyframe_requests": c1.keyframe_requests,
        // Which layer subscribers got: lowest first (one entry without simulcast).
        "video_packets_by_layer": c1.video_by_layer.iter().zip(c0.video_by_layer).map(|(b, a)| b - a).collect::<Vec<_>>(),
        "sfu_cpu_seconds": sfu_cpu,
        "sfu_cpu_util": sfu_cpu.map(|c| c / seconds),
        "sfu_cpu_us_per_forwarded_packet": sfu_cpu.filter(|_| received > 0).map(|c| c * 1e6 / received as f64),
        "sfu_rss_bytes": rss.map(|r| r.0),
        "sfu_peak_rss_bytes": rss.map(|r| r.1.max(peak_rss)),
        "generator_cpu_util": generator_util,
        // The generator's own core(s) near full: what it measured is its limit, not the SFU's.
        "generator_limited": generator_util.is_some_and(|u| u > 0.9),
    });
    let text = serde_json::to_string_pretty(&result)?;
    println!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, format!("{text}\n"))
            .with_context(|| format!("writing {}", out.display()))?;
    }
    if end.1 == 0 {
        bail!("no peer connected");
    }
    Ok(())
}

/// Janus keeps rooms until restarted: each run takes fresh numbers.
fn janus_room(room: usize) -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| (rand::random::<u32>() as u64) << 16) + room as u64
}

async fn vchat_tokens(args: &Args, people: &[Participant]) -> anyhow::Result<Vec<String>> {
    let token = match (&args.api_token, &args.api_token_file) {
        (Some(t), _) => t.clone(),
        (None, Some(file)) => std::fs::read_to_string(file)?.trim().to_string(),
        (None, None) => bail!("--api-token or --api-token-file is needed for vchat"),
    };
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for room in 0..args.rooms {
        let names: Vec<_> = people
            .iter()
            .filter(|p| p.room == room)
            .map(|p| json!({"name": p.name}))
            .collect();
        let response = client
            .post(format!("{}/api/rooms", args.url))
            .bearer_auth(&token)
            .json(&json!({ "participants": names }))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!(
                "room creation: {} {}",
                response.status(),
                response.text().await?
            );
        }
        let body: serde_json::Value = response.json().await?;
        for p in body["participants"].as_array().context("participants")? {
            tokens.push(p["token"].as_str().context("token")?.to_string());
        }
    }
    Ok(tokens)
}

async fn snapshot(threads: &[Arc<MediaThread>]) -> (Counters, usize) {
    let mut total = Counters::default();
    let mut connected = 0;
    for t in threads {
        let (reply, answer) = oneshot::channel();
        t.send(Command::Snapshot { reply });
        if let Ok((c, n)) = answer.await {
            total.merge(&c);
            connected += n;
        }
    }
    (total, connected)
}

async fn progress(
    threads: &[Arc<MediaThread>],
    last: &(Counters, usize),
    args: &Args,
    total: usize,
    phase: &str,
) -> (Counters, usize) {
    let now = snapshot(threads).await;
    let rx = now.0.received - last.0.received;
    let tx = now.0.sent - last.0.sent;
    let expected = now.0.expected.saturating_sub(last.0.expected);
    let loss = if expected == 0 {
        0.0
    } else {
        100.0 * (1.0 - (rx as f64 / expected as f64).min(1.0))
    };
    let cpu = procfs::cpu_seconds_all(&args.pid)
        .map_or(String::new(), |c| format!(" sfu-cpu-total {c:.1}s"));
    eprintln!(
        "[{phase}] {} peer connections up ({} participants) | sent {} pkt/s | forwarded {} pkt/s | loss {loss:.2}% | p99 {:.2} ms{cpu}",
        now.1,
        total,
        tx,
        rx,
        now.0.latency.quantile_us(0.99) / 1000.0,
    );
    now
}

fn check_tasks(tasks: &mut [tokio::task::JoinHandle<anyhow::Result<()>>]) -> anyhow::Result<()> {
    for task in tasks.iter() {
        if task.is_finished() {
            // A participant's signaling ended early: say why, and stop.
            bail!(
                "a participant's signaling ended early (see above); the SFU refused or dropped it"
            );
        }
    }
    Ok(())
}
