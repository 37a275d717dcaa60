//! The intercom bridge's codec costs and quality, per Opus complexity (issue 18):
//! a panel's G.711 speech transcoded to Opus at its own 8 kHz rate (no resampler) and
//! back, as the room would hear it, scored against the reference with objective
//! measures (PESQ, ITU-T P.862 narrowband, computed by benches/intercom/score_pesq.py; and a
//! log-spectral distance in dB, lower is closer), and timed per call per 20 ms
//! both ways; plus the pass-through path's device side (frame check, jitter buffer,
//! G.711) for comparison. Writes a JSON report and an SVG chart.
//!
//!   bash benches/intercom/codecs.sh       # prepares the speech, runs this, ~2 minutes

use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use opus::{Application, Bitrate, Channels, Decoder, Encoder};
use vchat_benches::svg::{Series, line_chart};
use vchat_intercom::frame::{AudioHeader, Codec};
use vchat_intercom::g711::Law;
use vchat_intercom::jitter::{JitterBuffer, Tick};
use vchat_intercom::session::Session;

#[derive(Parser)]
struct Args {
    /// Speech, 8 kHz mono s16le (the panel's side).
    #[arg(long)]
    speech8k: std::path::PathBuf,
    /// The same speech, 48 kHz mono s16le (a browser's side, for the way down).
    #[arg(long)]
    speech48k: std::path::PathBuf,
    /// The same speech, 16 kHz mono s16le (an L16 panel's side: the transcoding path
    /// as vchat runs it, scored wideband).
    #[arg(long)]
    speech16k: std::path::PathBuf,
    /// Where the JSON goes.
    #[arg(long)]
    out: std::path::PathBuf,
    /// Where the chart goes.
    #[arg(long)]
    chart: std::path::PathBuf,
    /// Passes over the speech per measurement (the best pass counts).
    #[arg(long, default_value_t = 3)]
    passes: usize,
    /// Where the reference and each complexity's decoded speech go (8 kHz s16le), for
    /// the PESQ scorer (benches/intercom/score_pesq.py).
    #[arg(long)]
    decoded_dir: std::path::PathBuf,
    /// PESQ scores by complexity (`{"0": 3.1, ...}`), once the scorer ran: merged
    /// into the report, and the default chosen by them.
    #[arg(long)]
    scores: Option<std::path::PathBuf>,
}

const FRAME_8K: usize = 160;
const FRAME_16K: usize = 320;
const FRAME_48K: usize = 960;

fn read_s16(path: &std::path::Path) -> anyhow::Result<Vec<i16>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect())
}

/// Mean log-spectral distance (dB) between `a` and `b` over 20 ms frames (Hann window,
/// 160-point DFT up to 4 kHz), frames where the reference is near silence left out.
fn log_spectral_distance(reference: &[f32], test: &[f32]) -> f64 {
    let n = FRAME_8K;
    let window: Vec<f64> = (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
        .collect();
    let spectrum = |x: &[f32]| -> Vec<f64> {
        (1..n / 2)
            .map(|k| {
                let (mut re, mut im) = (0.0, 0.0);
                for (i, &v) in x.iter().enumerate() {
                    let phase = -2.0 * std::f64::consts::PI * (k * i) as f64 / n as f64;
                    let w = v as f64 * window[i];
                    re += w * phase.cos();
                    im += w * phase.sin();
                }
                re * re + im * im + 1e-9
            })
            .collect()
    };
    let (mut sum, mut frames) = (0.0, 0usize);
    for (r, t) in reference.chunks_exact(n).zip(test.chunks_exact(n)) {
        let energy: f64 = r.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / n as f64;
        if energy < 1e-5 {
            continue;
        }
        let (sr, st) = (spectrum(r), spectrum(t));
        let d: f64 = sr
            .iter()
            .zip(&st)
            .map(|(a, b)| (10.0 * (a / b).log10()).powi(2))
            .sum::<f64>()
            / sr.len() as f64;
        sum += d.sqrt();
        frames += 1;
    }
    sum / frames.max(1) as f64
}

/// The lag (samples) at which `test` lines up with `reference` best.
fn best_lag(reference: &[f32], test: &[f32]) -> usize {
    let len = reference.len().min(test.len()).min(8000 * 10);
    (0..400)
        .max_by(|&a, &b| {
            let corr = |lag: usize| -> f64 {
                (0..len - lag)
                    .map(|i| reference[i] as f64 * test[i + lag] as f64)
                    .sum()
            };
            corr(a).partial_cmp(&corr(b)).unwrap()
        })
        .unwrap_or(0)
}

/// Opus at `rate` as the bridge sets it up for the room (`vchat_sfu::bridge`): VoIP,
/// 24 kbit/s, in-band FEC, a 5 % loss hint, at `complexity`.
fn bridge_encoder(rate: u32, complexity: i32) -> Result<Encoder, opus::Error> {
    let mut enc = Encoder::new(rate, Channels::Mono, Application::Voip)?;
    enc.set_bitrate(Bitrate::Bits(24_000))?;
    enc.set_complexity(complexity)?;
    enc.set_inband_fec(true)?;
    enc.set_packet_loss_perc(5)?;
    Ok(enc)
}

struct Measured {
    complexity: i32,
    /// An L16 panel's way up (Opus encode at 16 kHz) and down (the room's Opus
    /// decoded at 16 kHz, written as L16).
    up16_us: f64,
    down16_us: f64,
    up_us: f64,
    down_us: f64,
    lsd_db: f64,
    bytes_per_frame: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let speech = read_s16(&args.speech8k)?;
    let speech48 = read_s16(&args.speech48k)?;
    let frames = speech.len() / FRAME_8K;
    anyhow::ensure!(frames >= 500, "at least 10 s of speech");
    // What the panel sends: its speech through G.711 A-law.
    let mut codes = vec![0u8; frames * FRAME_8K];
    Law::Alaw.encode(&speech[..frames * FRAME_8K], &mut codes);
    let mut reference = vec![0i16; codes.len()];
    Law::Alaw.decode(&codes, &mut reference);
    let reference_f: Vec<f32> = reference.iter().map(|&s| s as f32 / 32768.0).collect();
    std::fs::create_dir_all(&args.decoded_dir)?;
    let raw: Vec<u8> = reference.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(args.decoded_dir.join("reference.raw"), raw)?;

    // The way down: a browser's fullband Opus at 32 kbit/s, encoded once.
    let mut browser = Encoder::new(48_000, Channels::Mono, Application::Voip)?;
    browser.set_bitrate(Bitrate::Bits(32_000))?;
    let mut room_packets = Vec::new();
    let mut packet = [0u8; 1500];
    for f in speech48.chunks_exact(FRAME_48K) {
        let n = browser.encode(f, &mut packet)?;
        room_packets.push(packet[..n].to_vec());
    }

    // An L16 panel's speech (16 kHz, nothing lost on its way): the wideband reference.
    let speech16 = read_s16(&args.speech16k)?;
    let frames16 = speech16.len() / FRAME_16K;
    let reference16: Vec<f32> = speech16[..frames16 * FRAME_16K]
        .iter()
        .map(|&s| s as f32 / 32768.0)
        .collect();
    let raw: Vec<u8> = speech16[..frames16 * FRAME_16K]
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    std::fs::write(args.decoded_dir.join("reference16.raw"), raw)?;

    let mut results = Vec::new();
    for complexity in [0, 1, 2, 3, 5, 7, 9, 10] {
        // Up from an L16 panel: Opus at its own 16 kHz, as the bridge encodes it.
        let (mut up16_best, mut down16_best) = (f64::MAX, f64::MAX);
        let mut decoded16 = Vec::with_capacity(speech16.len());
        for _ in 0..args.passes {
            let mut enc = bridge_encoder(16_000, complexity)?;
            let mut packets = Vec::with_capacity(frames16);
            let start = Instant::now();
            for chunk in speech16.chunks_exact(FRAME_16K) {
                let n = enc.encode(chunk, &mut packet)?;
                packets.push(packet[..n].to_vec());
            }
            up16_best = up16_best.min(start.elapsed().as_secs_f64() * 1e6 / frames16 as f64);
            let mut dec = Decoder::new(16_000, Channels::Mono)?;
            decoded16.clear();
            let mut out = [0i16; FRAME_16K];
            for p in &packets {
                let n = dec.decode(p, &mut out, false)?;
                decoded16.extend(out[..n].iter().map(|&s| s as f32 / 32768.0));
            }
            let mut down = Decoder::new(16_000, Channels::Mono)?;
            let mut l16 = [0u8; 2 * FRAME_16K];
            let start = Instant::now();
            for p in &room_packets {
                let n = down.decode(p, &mut out, false)?;
                for (i, s) in out[..n].iter().enumerate() {
                    l16[2 * i..2 * i + 2].copy_from_slice(&s.to_le_bytes());
                }
                std::hint::black_box(&l16);
            }
            down16_best =
                down16_best.min(start.elapsed().as_secs_f64() * 1e6 / room_packets.len() as f64);
        }
        let lag16 = best_lag(&reference16, &decoded16);
        let aligned: Vec<u8> = decoded16[lag16..]
            .iter()
            .flat_map(|&v| ((v * 32768.0) as i16).to_le_bytes())
            .collect();
        std::fs::write(args.decoded_dir.join(format!("w{complexity}.raw")), aligned)?;

        let (mut up_best, mut down_best) = (f64::MAX, f64::MAX);
        let mut decoded = Vec::with_capacity(codes.len());
        let mut bytes = 0usize;
        for _ in 0..args.passes {
            // Up: G.711 decode, Opus encode at 8 kHz (then, in the room, the browser decodes).
            let mut enc = bridge_encoder(8_000, complexity)?;
            let mut pcm = [0i16; FRAME_8K];
            let mut packets = Vec::with_capacity(frames);
            let start = Instant::now();
            for chunk in codes.chunks_exact(FRAME_8K) {
                Law::Alaw.decode(chunk, &mut pcm);
                let n = enc.encode(&pcm, &mut packet)?;
                packets.push(packet[..n].to_vec());
            }
            up_best = up_best.min(start.elapsed().as_secs_f64() * 1e6 / frames as f64);
            bytes = packets.iter().map(Vec::len).sum();
            // How the room hears it (not timed: the browser's work).
            let mut dec = Decoder::new(8_000, Channels::Mono)?;
            decoded.clear();
            let mut out = [0i16; FRAME_8K];
            for p in &packets {
                let n = dec.decode(p, &mut out, false)?;
                decoded.extend(out[..n].iter().map(|&s| s as f32 / 32768.0));
            }
            // Down: the room's Opus decoded straight to 8 kHz, G.711 encoded.
            let mut down = Decoder::new(8_000, Channels::Mono)?;
            let mut codes_out = [0u8; FRAME_8K];
            let start = Instant::now();
            for p in &room_packets {
                let n = down.decode(p, &mut out, false)?;
                Law::Alaw.encode(&out[..n], &mut codes_out[..n]);
            }
            down_best =
                down_best.min(start.elapsed().as_secs_f64() * 1e6 / room_packets.len() as f64);
        }
        let lag = best_lag(&reference_f, &decoded);
        let lsd = log_spectral_distance(&reference_f, &decoded[lag..]);
        let aligned: Vec<u8> = decoded[lag..]
            .iter()
            .flat_map(|&v| ((v * 32768.0) as i16).to_le_bytes())
            .collect();
        std::fs::write(args.decoded_dir.join(format!("c{complexity}.raw")), aligned)?;
        println!(
            "complexity {complexity:>2}: up {up_best:6.1} µs, down {down_best:5.1} µs per call per 20 ms; log-spectral distance {lsd:.2} dB (lag {lag} samples); {:.0} bytes per packet",
            bytes as f64 / frames as f64
        );
        results.push(Measured {
            complexity,
            up16_us: up16_best,
            down16_us: down16_best,
            up_us: up_best,
            down_us: down_best,
            lsd_db: lsd,
            bytes_per_frame: bytes as f64 / frames as f64,
        });
    }

    // The pass-through path's device side: the session checks the frame, the jitter
    // buffer takes it and plays a slot per tick, G.711 decodes it (for a mix-minus).
    let mut session = Session::new(Instant::now(), 15);
    session.handle_text(Instant::now(), r#"{"type":"hello","version":1,"device":"b","secret":"s","firmware":"1","model":"m","codecs":["PCMA"]}"#);
    session.accept("bench");
    session.handle_text(
        Instant::now(),
        r#"{"type":"ring","call":1,"kind":"sip","flat":"1"}"#,
    );
    session.answer(Instant::now(), 1, "bench");
    while session.poll_output().is_some() {}
    let mut jitter = JitterBuffer::new(8000, 1, Law::Alaw.silence());
    let mut frame = Vec::with_capacity(12 + FRAME_8K);
    let mut pcm = [0i16; FRAME_8K];
    let mut pass_best = f64::MAX;
    for pass in 0..args.passes {
        let t0 = Instant::now();
        let start = Instant::now();
        for (i, chunk) in codes.chunks_exact(FRAME_8K).enumerate() {
            let i = i + pass * frames;
            let now = t0 + std::time::Duration::from_millis(20 * i as u64);
            AudioHeader {
                codec: Codec::Pcma,
                flags: 0,
                seq: i as u16,
                ts: (i * FRAME_8K) as u32,
                call: 1,
            }
            .write(chunk, &mut frame);
            if let Some((h, payload)) = session.handle_binary(now, &frame) {
                jitter.push(now, h.seq, h.ts, payload);
            }
            if let Tick::Play(slot) = jitter.tick(now + std::time::Duration::from_millis(1)) {
                Law::Alaw.decode(slot, &mut pcm);
            }
        }
        pass_best = pass_best.min(start.elapsed().as_secs_f64() * 1e6 / frames as f64);
    }
    let js = jitter.stats();
    println!(
        "pass-through device side: {pass_best:.2} µs per call per 20 ms (played {}, concealed {})",
        js.played, js.concealed
    );

    // The default: the cheapest complexity whose PESQ is within 0.05 of the best
    // (by the log-spectral distance, within 0.1 dB, when PESQ did not run).
    let scores: Option<std::collections::BTreeMap<String, f64>> = match &args.scores {
        Some(path) => Some(serde_json::from_str(&std::fs::read_to_string(path)?)?),
        None => None,
    };
    let pesq = |c: i32| scores.as_ref().and_then(|s| s.get(&c.to_string()).copied());
    let pesq_wb = |c: i32| {
        scores
            .as_ref()
            .and_then(|s| s.get(&format!("wb{c}")).copied())
    };
    // The transcoding path as vchat runs it is the L16 panel's (G.711 passes through):
    // its wideband score chooses.
    let default = match &scores {
        Some(_) => {
            let best = results
                .iter()
                .filter_map(|r| pesq_wb(r.complexity))
                .fold(f64::MIN, f64::max);
            results
                .iter()
                .find(|r| pesq_wb(r.complexity).is_some_and(|p| p >= best - 0.05))
                .map_or(9, |r| r.complexity)
        }
        None => {
            let best = results.iter().map(|r| r.lsd_db).fold(f64::MAX, f64::min);
            results
                .iter()
                .find(|r| r.lsd_db <= best + 0.1)
                .map_or(9, |r| r.complexity)
        }
    };
    for r in &results {
        if let (Some(p), Some(w)) = (pesq(r.complexity), pesq_wb(r.complexity)) {
            println!(
                "complexity {:>2}: PESQ narrowband (P.862, G.711 panel) {p:.2}, wideband (P.862.2, L16 panel) {w:.2}; L16 codecs {:.1} µs per call per 20 ms",
                r.complexity,
                r.up16_us + r.down16_us
            );
        }
    }
    let chosen = results
        .iter()
        .find(|r| r.complexity == default)
        .expect("measured");
    let per_call = chosen.up16_us + chosen.down16_us;
    println!(
        "default complexity {default}: {per_call:.1} µs per L16 call per 20 ms for the codecs, {:.0} calls per core (codecs only)",
        20_000.0 / per_call
    );
    let json = serde_json::json!({
        "command": "bash benches/intercom/codecs.sh",
        "measure": "PESQ (python pesq 0.0.4, MOS-LQO, higher is better) of what the room decodes: ITU-T P.862 narrowband against a G.711 panel's speech transcoded at 8 kHz, and P.862.2 wideband against an L16 panel's 16 kHz speech transcoded at 16 kHz (the path vchat runs); and the narrowband log-spectral distance in dB (20 ms frames, 0-4 kHz), lower is closer",
        "default_rule": "the cheapest complexity whose wideband PESQ (L16 panels, the transcoding path vchat runs) is within 0.05 of the best",
        "rows": results.iter().map(|r| serde_json::json!({
            "complexity": r.complexity, "up_us": r.up_us, "down_us": r.down_us,
            "codec_us_per_call": r.up_us + r.down_us, "calls_per_core_codecs_only": 20_000.0 / (r.up_us + r.down_us),
            "lsd_db": r.lsd_db, "pesq_nb_mos_lqo": pesq(r.complexity), "bytes_per_packet": r.bytes_per_frame,
            "l16_up_us": r.up16_us, "l16_down_us": r.down16_us, "l16_codec_us_per_call": r.up16_us + r.down16_us,
            "l16_calls_per_core_codecs_only": 20_000.0 / (r.up16_us + r.down16_us), "pesq_wb_mos_lqo": pesq_wb(r.complexity),
        })).collect::<Vec<_>>(),
        "default_complexity": default,
        "pass_through_device_side_us": pass_best,
        "speech_seconds": frames as f64 / 50.0,
    });
    std::fs::write(&args.out, serde_json::to_string_pretty(&json)? + "\n")?;
    let chart = line_chart(
        "Opus complexity: cost and quality (G.711 and L16 panels ↔ room)",
        "complexity",
        "µs per call per 20 ms / PESQ × 20",
        &[
            Series {
                name: "codec µs per call per 20 ms".into(),
                points: results
                    .iter()
                    .map(|r| (r.complexity as f64, r.up_us + r.down_us))
                    .collect(),
            },
            Series {
                name: "PESQ narrowband × 20".into(),
                points: results
                    .iter()
                    .filter_map(|r| pesq(r.complexity).map(|p| (r.complexity as f64, p * 20.0)))
                    .collect(),
            },
            Series {
                name: "L16 codec µs per call per 20 ms".into(),
                points: results
                    .iter()
                    .map(|r| (r.complexity as f64, r.up16_us + r.down16_us))
                    .collect(),
            },
            Series {
                name: "PESQ wideband × 20".into(),
                points: results
                    .iter()
                    .filter_map(|r| pesq_wb(r.complexity).map(|p| (r.complexity as f64, p * 20.0)))
                    .collect(),
            },
        ],
    );
    std::fs::write(&args.chart, chart)?;
    println!("→ {} and {}", args.out.display(), args.chart.display());
    Ok(())
}
