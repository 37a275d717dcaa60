//! `vchat intercom-sim`: N simulated door panels on `/intercom` (docs/intercom.md),
//! for the tests and the benchmark. Each connects (at a bounded rate), says `hello`
//! and its status, pings, answers every command (`open_door` with `door_state`, the
//! rest with `result`), rings and streams a 1 kHz tone when asked to, and reconnects
//! with a back-off when its connection drops. A progress line each second says how
//! many are connected; with `--listen` it also says the dominant frequency of what the
//! panels hear from their calls, and `--report` writes the counters as JSON each
//! second (the end-to-end tests read it).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vchat_intercom::frame::{AudioHeader, Codec};
use vchat_intercom::g711::Law;
use vchat_intercom::message::{
    DeviceMessage, Hangup, Hello, Ring, ServerMessage, Status, StatusValue,
};

/// `vchat intercom-sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// The intercom endpoint.
    #[arg(long, default_value = "ws://127.0.0.1:8080/intercom")]
    pub url: String,
    /// How many devices.
    #[arg(long, default_value_t = 1)]
    pub devices: usize,
    /// Device ids are this and a number (`sim-00001`).
    #[arg(long, default_value = "sim-")]
    pub prefix: String,
    /// Create the devices first through the REST API with this admin or API token
    /// (they are removed and added again, so their secrets are known).
    #[arg(long, env = "VCHAT_API_TOKEN")]
    pub provision_token: Option<String>,
    /// A file of `device secret` lines: read when not provisioning, written when
    /// provisioning.
    #[arg(long)]
    pub secrets: Option<PathBuf>,
    /// New connections per second at most.
    #[arg(long, default_value_t = 500)]
    pub connect_rate: u32,
    /// Each device rings every this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    pub ring_every: u64,
    /// Seconds each call talks (a 1 kHz tone) before the device hangs up.
    #[arg(long, default_value_t = 10)]
    pub talk: u64,
    /// The codecs the panels offer in `hello`, preferred first (`PCMA`, `PCMU`,
    /// `L16/16000`, `opus`).
    #[arg(long, value_delimiter = ',', default_value = "PCMA,PCMU")]
    pub codecs: Vec<String>,
    /// Each device rings at most this many times (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub rings: u64,
    /// Decode what the panels hear in their calls and measure its dominant frequency
    /// (a second at a time).
    #[arg(long)]
    pub listen: bool,
    /// Write the counters to this file as JSON, every second.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Only add the devices (with --provision-token and --secrets), then stop.
    #[arg(long)]
    pub provision_only: bool,
    /// Stop after this many seconds (0: run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    pub duration: u64,
}

#[derive(Default)]
struct Counters {
    connected: AtomicU64,
    sessions: AtomicU64,
    closes: AtomicU64,
    rings: AtomicU64,
    commands: AtomicU64,
    frames_out: AtomicU64,
    frames_in: AtomicU64,
    answered: AtomicU64,
    /// Calls vchat hung up.
    hung_up: AtomicU64,
    /// The dominant frequency heard in the last full second of a call, Hz, and its
    /// share of that second's energy, in thousandths.
    heard_hz: AtomicU64,
    heard_share: AtomicU64,
}

/// What each simulated panel does.
#[derive(Debug, Clone, Copy)]
struct Behaviour {
    codecs: &'static [String],
    ring_every: u64,
    talk: u64,
    rings: u64,
    listen: bool,
}

/// Runs the simulator.
pub fn run(args: SimArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(simulate(args))
}

async fn simulate(args: SimArgs) -> anyhow::Result<()> {
    let ids: Vec<String> = (1..=args.devices)
        .map(|i| format!("{}{i:05}", args.prefix))
        .collect();
    let secrets = match &args.provision_token {
        Some(token) => provision(&args, token, &ids).await?,
        None => read_secrets(&args, &ids)?,
    };
    if args.provision_only {
        return Ok(());
    }
    let counters = Arc::new(Counters::default());
    // Shared by every panel task for the run.
    let codecs: &'static [String] = Vec::leak(args.codecs.clone());
    let started = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / args.connect_rate.max(1) as f64);
    for (i, (id, secret)) in ids.iter().zip(secrets).enumerate() {
        let (url, id, counters) = (args.url.clone(), id.clone(), counters.clone());
        let behaviour = Behaviour {
            codecs,
            ring_every: args.ring_every,
            talk: args.talk,
            rings: args.rings,
            listen: args.listen,
        };
        let first = started + gap * i as u32;
        tokio::spawn(async move { device(url, id, secret, first, behaviour, counters).await });
    }
    let end = (args.duration > 0).then(|| started + Duration::from_secs(args.duration));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        let c = &counters;
        eprintln!(
            "{:>5.0} s  connected {}/{}  sessions {}  closed {}  rings {}  commands {}  audio frames out {} in {}",
            started.elapsed().as_secs_f64(),
            c.connected.load(Ordering::Relaxed),
            args.devices,
            c.sessions.load(Ordering::Relaxed),
            c.closes.load(Ordering::Relaxed),
            c.rings.load(Ordering::Relaxed),
            c.commands.load(Ordering::Relaxed),
            c.frames_out.load(Ordering::Relaxed),
            c.frames_in.load(Ordering::Relaxed),
        );
        if args.listen {
            eprintln!(
                "        answered {}  hung up by vchat {}  heard {} Hz ({:.0} % of the energy)",
                c.answered.load(Ordering::Relaxed),
                c.hung_up.load(Ordering::Relaxed),
                c.heard_hz.load(Ordering::Relaxed),
                c.heard_share.load(Ordering::Relaxed) as f64 / 10.0,
            );
        }
        if let Some(path) = &args.report {
            let report = json!({
                "connected": c.connected.load(Ordering::Relaxed),
                "sessions": c.sessions.load(Ordering::Relaxed),
                "rings": c.rings.load(Ordering::Relaxed),
                "answered": c.answered.load(Ordering::Relaxed),
                "hung_up": c.hung_up.load(Ordering::Relaxed),
                "commands": c.commands.load(Ordering::Relaxed),
                "frames_out": c.frames_out.load(Ordering::Relaxed),
                "frames_in": c.frames_in.load(Ordering::Relaxed),
                "heard_hz": c.heard_hz.load(Ordering::Relaxed),
                "heard_share": c.heard_share.load(Ordering::Relaxed) as f64 / 1000.0,
            });
            // Whole or not at all: a reader never sees half a file.
            let tmp = path.with_extension("tmp");
            if std::fs::write(&tmp, report.to_string()).is_ok() {
                let _ = std::fs::rename(&tmp, path);
            }
        }
        if end.is_some_and(|e| Instant::now() >= e) {
            break;
        }
    }
    Ok(())
}

/// Removes and adds the devices through the API, keeping their new secrets.
async fn provision(args: &SimArgs, token: &str, ids: &[String]) -> anyhow::Result<Vec<String>> {
    let base = args.url.replacen("ws", "http", 1);
    let base = base
        .strip_suffix("/intercom")
        .context("the URL ends in /intercom")?
        .to_owned();
    let http = reqwest::Client::new();
    let listed: Vec<serde_json::Value> = http
        .get(format!("{base}/api/devices"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()
        .context("cannot list devices (is the token an admin's?)")?
        .json()
        .await?;
    for d in listed
        .iter()
        .filter(|d| ids.iter().any(|id| d["device"] == id.as_str()))
    {
        let id = d["id"].as_str().unwrap_or_default();
        http.delete(format!("{base}/api/devices/{id}"))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?;
    }
    let mut secrets = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let created: serde_json::Value = http
            .post(format!("{base}/api/devices"))
            .bearer_auth(token)
            .json(&json!({ "device": id, "name": format!("Simulated panel {}", i + 1) }))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("cannot add {id}"))?
            .json()
            .await?;
        secrets.push(created["secret"].as_str().context("a secret")?.to_owned());
        if (i + 1) % 1000 == 0 || i + 1 == ids.len() {
            eprintln!("added {}/{} devices", i + 1, ids.len());
        }
    }
    if let Some(path) = &args.secrets {
        let lines: String = ids
            .iter()
            .zip(&secrets)
            .map(|(d, s)| format!("{d} {s}\n"))
            .collect();
        std::fs::write(path, lines).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(secrets)
}

fn read_secrets(args: &SimArgs, ids: &[String]) -> anyhow::Result<Vec<String>> {
    let path = args
        .secrets
        .as_ref()
        .context("give --provision-token, or --secrets with a file of `device secret` lines")?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let known: std::collections::HashMap<&str, &str> =
        text.lines().filter_map(|l| l.split_once(' ')).collect();
    ids.iter()
        .map(|id| {
            known
                .get(id.as_str())
                .map(|s| s.to_string())
                .with_context(|| format!("{} has no secret for {id}", path.display()))
        })
        .collect()
}

/// One device, for ever: connect, run a session, back off, again.
async fn device(
    url: String,
    id: String,
    secret: String,
    first: Instant,
    behaviour: Behaviour,
    counters: Arc<Counters>,
) {
    tokio::time::sleep_until(first.into()).await;
    let mut backoff = Duration::from_secs(1);
    let mut rung = 0u64;
    loop {
        let ran = session(&url, &id, &secret, behaviour, &mut rung, &counters).await;
        counters.closes.fetch_add(1, Ordering::Relaxed);
        if ran.is_ok_and(|long| long) {
            backoff = Duration::from_secs(1);
        }
        // Jittered, so that a restart of vchat does not bring every panel back at once.
        let jitter = Duration::from_millis(random_below(1000));
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// One session; `Ok(true)` when it lasted long enough to reset the back-off.
async fn session(
    url: &str,
    id: &str,
    secret: &str,
    behaviour: Behaviour,
    rung: &mut u64,
    c: &Counters,
) -> anyhow::Result<bool> {
    let Behaviour {
        ring_every, talk, ..
    } = behaviour;
    let mut ear = behaviour.listen.then(Ear::default);
    let mut request = url.into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        vchat_intercom::session::SUBPROTOCOL.parse()?,
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    let hello = DeviceMessage::Hello(Hello {
        version: 1,
        device: id.to_owned(),
        secret: Some(secret.to_owned()),
        token: None,
        firmware: "sim-1.0".into(),
        model: "vchat intercom-sim".into(),
        codecs: behaviour.codecs.to_vec(),
        tenant: None,
    });
    ws.send(Message::text(hello.to_json())).await?;
    let opened = Instant::now();
    let mut ping_secs = 15;
    let mut codec = Codec::Pcma;
    let mut welcomed = false;
    let mut next_ring = ring_every
        .gt(&0)
        .then(|| Instant::now() + Duration::from_secs(random_below(ring_every.max(1))));
    let mut call: Option<(u32, Instant, u16)> = None;
    let mut call_no = 0u32;
    let mut next_ping = Instant::now() + Duration::from_secs(ping_secs);
    let mut next_frame = Instant::now();
    let (mut phase, mut buf, mut codes) = (0usize, Vec::with_capacity(700), [0u8; 640]);
    let mut opus_enc: Option<opus::Encoder> = None;
    let result = loop {
        // Idle panels wake only to ping (no timer per 20 ms unless a call talks).
        let talking = call.is_some_and(|(_, _, seq)| seq != u16::MAX);
        let wake = [
            Some(next_ping),
            next_ring,
            call.map(|(_, until, _)| until),
            talking.then_some(next_frame),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(next_ping);
        tokio::select! {
            frame = ws.next() => {
                let Some(Ok(frame)) = frame else { break Ok(()) };
                match frame {
                    Message::Text(text) => {
                        let Ok(message) = serde_json::from_str::<ServerMessage>(&text) else { continue };
                        let reply = match message {
                            ServerMessage::Welcome(w) => {
                                welcomed = true;
                                ping_secs = w.ping_secs.max(1) as u64;
                                codec = Codec::from_name(&w.codec).unwrap_or(Codec::Pcma);
                                c.connected.fetch_add(1, Ordering::Relaxed);
                                c.sessions.fetch_add(1, Ordering::Relaxed);
                                let mut status = Status::default();
                                status.values.insert("online".into(), StatusValue::Bool(true));
                                status.values.insert("door".into(), StatusValue::Text("closed".into()));
                                status.values.insert("sip".into(), StatusValue::Text("registered".into()));
                                let opened = DeviceMessage::Log(vchat_intercom::message::Log {
                                    level: vchat_intercom::message::LogLevel::Info,
                                    text: format!("session opened (intercom-sim, codec {})", codec.name()),
                                    at: None,
                                });
                                ws.send(Message::text(opened.to_json())).await?;
                                Some(DeviceMessage::Status(status))
                            }
                            ServerMessage::OpenDoor { id, relay } => {
                                c.commands.fetch_add(1, Ordering::Relaxed);
                                Some(DeviceMessage::DoorState(vchat_intercom::message::DoorState {
                                    relay,
                                    state: vchat_intercom::message::DoorPosition::Open,
                                    id: Some(id),
                                }))
                            }
                            ServerMessage::Reboot { id } | ServerMessage::Config { id, .. } | ServerMessage::Play { id, .. } => {
                                c.commands.fetch_add(1, Ordering::Relaxed);
                                Some(DeviceMessage::Result(vchat_intercom::message::CommandResult { id, ok: true, error: None }))
                            }
                            ServerMessage::Ping(l) => Some(DeviceMessage::Pong(l)),
                            ServerMessage::Answered { call: n, .. } => {
                                c.answered.fetch_add(1, Ordering::Relaxed);
                                if let Some((current, _, _)) = &call && *current == n {
                                    call = Some((n, Instant::now() + Duration::from_secs(talk), 0));
                                    next_frame = Instant::now();
                                }
                                None
                            }
                            ServerMessage::Hangup(Hangup { call: n, .. }) => {
                                c.hung_up.fetch_add(1, Ordering::Relaxed);
                                if call.is_some_and(|(current, _, _)| current == n) {
                                    call = None;
                                }
                                None
                            }
                            _ => None,
                        };
                        if let Some(reply) = reply {
                            ws.send(Message::text(reply.to_json())).await?;
                        }
                    }
                    Message::Binary(data) => {
                        c.frames_in.fetch_add(1, Ordering::Relaxed);
                        if let Some(ear) = ear.as_mut() && let Ok((header, payload)) = AudioHeader::parse(&data) {
                            ear.hear(header.codec, payload, c);
                        }
                    }
                    Message::Close(_) => break Ok(()),
                    _ => {}
                }
            }
            _ = tokio::time::sleep_until(wake.into()), if welcomed => {
                let now = Instant::now();
                if now >= next_ping {
                    ws.send(Message::text(DeviceMessage::Ping(Default::default()).to_json())).await?;
                    next_ping = now + Duration::from_secs(ping_secs);
                }
                if next_ring.is_some_and(|t| now >= t) && call.is_none() && (behaviour.rings == 0 || *rung < behaviour.rings) {
                    *rung += 1;
                    call_no += 1;
                    let ring = DeviceMessage::Ring(Ring { call: call_no, kind: vchat_intercom::message::CallKind::Sip, flat: Some("1".into()), address: None, codec: None });
                    ws.send(Message::text(ring.to_json())).await?;
                    c.rings.fetch_add(1, Ordering::Relaxed);
                    // Until an agent answers; rung out after 60 s.
                    call = Some((call_no, now + Duration::from_secs(60), u16::MAX));
                    next_ring = Some(now + Duration::from_secs(ring_every));
                }
                if let Some((n, until, seq)) = call {
                    if now >= until {
                        let reason = if seq == u16::MAX { "no_answer" } else { "caller" };
                        ws.send(Message::text(DeviceMessage::Hangup(Hangup { call: n, reason: reason.into() }).to_json())).await?;
                        call = None;
                    } else if seq != u16::MAX && now >= next_frame {
                        next_frame = if now > next_frame + Duration::from_millis(100) {
                            now + Duration::from_millis(20)
                        } else {
                            next_frame + Duration::from_millis(20)
                        };
                        // 20 ms of a 1 kHz tone at the codec's rate, half scale.
                        // Opus frames run on a 48 kHz clock (docs/intercom.md).
                        let rate = if codec == Codec::Opus { 48_000 } else { codec.sample_rate() as usize };
                        let per_frame = rate / 50;
                        let samples: Vec<i16> = (0..per_frame).map(|i| {
                            let t = (phase + i) as f64 / rate as f64;
                            (16_000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16
                        }).collect();
                        phase += per_frame;
                        let len = match codec {
                            Codec::Pcmu | Codec::Pcma => {
                                let law = if codec == Codec::Pcmu { Law::Ulaw } else { Law::Alaw };
                                law.encode(&samples, &mut codes[..per_frame]);
                                per_frame
                            }
                            Codec::L16 => {
                                for (i, s) in samples.iter().enumerate() {
                                    codes[2 * i..2 * i + 2].copy_from_slice(&s.to_le_bytes());
                                }
                                2 * per_frame
                            }
                            Codec::Opus => {
                                if opus_enc.is_none() {
                                    opus_enc = Some(opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)?);
                                }
                                match opus_enc.as_mut() {
                                    Some(enc) => enc.encode(&samples, &mut codes)?,
                                    None => 0,
                                }
                            }
                        };
                        let header = AudioHeader { codec, flags: 0, seq, ts: seq as u32 * per_frame as u32, call: n };
                        header.write(&codes[..len], &mut buf);
                        ws.send(Message::binary(buf.clone())).await?;
                        c.frames_out.fetch_add(1, Ordering::Relaxed);
                        call = Some((n, until, seq.wrapping_add(1) % u16::MAX));
                    }
                }
            }
        }
    };
    if welcomed {
        c.connected.fetch_sub(1, Ordering::Relaxed);
    }
    result.map(|()| opened.elapsed() > Duration::from_secs(30))
}

fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).expect("system randomness");
    u64::from_le_bytes(b) % n.max(1)
}

/// What a listening panel heard: a second of samples at a time, and its dominant
/// frequency (Goertzel, 50–3,950 Hz in 10 Hz steps).
struct Ear {
    samples: Vec<f32>,
    rate: f64,
    opus: Option<opus::Decoder>,
}

impl Default for Ear {
    fn default() -> Ear {
        Ear {
            samples: Vec::with_capacity(48_000),
            rate: 8000.0,
            opus: None,
        }
    }
}

impl Ear {
    fn hear(&mut self, codec: Codec, payload: &[u8], c: &Counters) {
        let mut pcm = [0i16; 960];
        let n = match codec {
            Codec::Pcmu | Codec::Pcma => {
                let law = if codec == Codec::Pcmu {
                    Law::Ulaw
                } else {
                    Law::Alaw
                };
                let n = payload.len().min(pcm.len());
                law.decode(&payload[..n], &mut pcm[..n]);
                n
            }
            Codec::L16 => {
                let n = (payload.len() / 2).min(pcm.len());
                for (i, s) in pcm.iter_mut().take(n).enumerate() {
                    *s = i16::from_le_bytes([payload[2 * i], payload[2 * i + 1]]);
                }
                n
            }
            Codec::Opus => {
                if self.opus.is_none() {
                    self.opus = opus::Decoder::new(48_000, opus::Channels::Mono).ok();
                }
                match self
                    .opus
                    .as_mut()
                    .map(|d| d.decode(payload, &mut pcm, false))
                {
                    Some(Ok(n)) => n,
                    _ => return,
                }
            }
        };
        self.rate = if codec == Codec::Opus {
            48_000.0
        } else {
            f64::from(codec.sample_rate())
        };
        self.samples.extend(pcm[..n].iter().map(|s| f32::from(*s)));
        if self.samples.len() < self.rate as usize {
            return;
        }
        let total: f64 = self.samples.iter().map(|s| f64::from(*s).powi(2)).sum();
        let mut best = (0u64, 0f64);
        for hz in (50..4000).step_by(10) {
            let power = goertzel(&self.samples, hz as f64, self.rate);
            if power > best.1 {
                best = (hz, power);
            }
        }
        // Goertzel's power over N samples is N/2 × the energy of a sine at that bin.
        let share = if total > 0.0 {
            (best.1 * 2.0 / self.samples.len() as f64 / total).min(1.0)
        } else {
            0.0
        };
        c.heard_hz.store(best.0, Ordering::Relaxed);
        c.heard_share
            .store((share * 1000.0) as u64, Ordering::Relaxed);
        self.samples.clear();
    }
}

/// The power of frequency `hz` in `samples` (Goertzel's algorithm).
fn goertzel(samples: &[f32], hz: f64, rate: f64) -> f64 {
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / rate).cos();
    let (mut q1, mut q2) = (0f64, 0f64);
    for s in samples {
        let q0 = coeff * q1 - q2 + f64::from(*s);
        q2 = q1;
        q1 = q0;
    }
    q1 * q1 + q2 * q2 - coeff * q1 * q2
}
