//! The intercom bridge end to end in one SFU engine, on both paths: N calls, each a
//! room with a panel (the engine's virtual participant) and a browser (an in-memory
//! str0m peer that offers Opus, PCMU and PCMA).
//!
//! - **Pass-through:** a PCMU panel; the browser is answered PCMU.
//! - **Transcoding:** an L16 (16 kHz) panel; the browser speaks Opus, which the bridge
//!   decodes at 16 kHz for the panel, and the panel's slots are Opus-encoded at the
//!   default complexity (7) for the room.
//!
//! - **The anchor:** the same rooms with two browsers and no panel, each sending Opus:
//!   what the engine spends on a plain audio call, for the ratio.
//!
//! Every 20 ms of virtual time each panel sends a frame at its own phase (5 % of them
//! arrive a slot late, as over a jittery link) and each browser sends one packet. The
//! engine is driven as the worker's loop drives it: woken at its deadlines (rounded up
//! to the millisecond, as epoll waits) and when packets come, the panels' links read
//! at a wake-up 5 ms or more after the last read. It takes the browser's SRTP, passes
//! its audio to the panel, ticks every call's jitter buffer and writes the panel's
//! audio to the browser as SRTP. What is timed is the
//! engine alone — the browsers' own encryption and decryption are not — so the figure
//! is what a worker core spends per call, both ways, SRTP of the browser leg included.
//!
//! It also measures the latency the bridge adds from the panel to the browser (a
//! frame's arrival at the engine to its RTP reaching the browser, on the virtual clock:
//! the jitter buffer's delay and the tick's wait), and counts late frames, concealed
//! slots and allocations.
//!
//! Run: `cargo bench -p vchat-benches --bench bridge` (prints the table; with
//! `VCHAT_BENCH_WRITE=1` also writes `benches/results/intercom-bridge.{json,svg}`).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use vchat_benches::CountingAlloc;
use vchat_benches::svg::{Series, line_chart};
use vchat_intercom::g711::Law;
use vchat_sfu::bridge::BridgeCodec;
use vchat_sfu::bridge::link::LinkFrame;
use vchat_sfu::testkit::{Publish, TestNet};
use vchat_sfu::{Command, EngineLimits, ParticipantId, RoomId, SessionId};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const STEP: Duration = Duration::from_millis(20);

/// 20 ms of a tone in µ-law; the first byte numbers the frame (for the latency).
fn frame(hz: f64, n: u64) -> [u8; 160] {
    let mut pcm = [0i16; 160];
    for (i, s) in pcm.iter_mut().enumerate() {
        let t = (n * 160 + i as u64) as f64 / 8000.0;
        *s = (6000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16;
    }
    let mut out = [0u8; 160];
    Law::Ulaw.encode(&pcm, &mut out);
    out[0] = n as u8;
    out
}

/// 20 ms of a tone in L16 at 16 kHz, little-endian.
fn frame16(hz: f64, n: u64) -> Vec<u8> {
    (0..320u64)
        .flat_map(|i| {
            let t = (n * 320 + i) as f64 / 16_000.0;
            ((6000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16).to_le_bytes()
        })
        .collect()
}

/// One 20 ms Opus packet of a browser (440 Hz at 48 kHz), reused every step.
fn browser_opus() -> Vec<u8> {
    let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)
        .expect("an encoder");
    let pcm: Vec<i16> = (0..960)
        .map(|i| (6000.0 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / 48_000.0).sin()) as i16)
        .collect();
    let mut out = [0u8; 1500];
    let n = enc.encode(&pcm, &mut out).expect("encoded");
    out[..n].to_vec()
}

fn panel(call: usize) -> SessionId {
    SessionId(1_000_000 + call as u64)
}

/// `calls` rooms, each with its panel (in `codec`) and one browser — or, for the
/// anchor (`None`), two browsers — all connected.
fn calls(calls: usize, codec: Option<BridgeCodec>) -> TestNet {
    let mut net = TestNet::with_limits(EngineLimits::default());
    let audio = Publish {
        audio: true,
        video: false,
        h264: false,
    };
    for c in 0..calls {
        let now = net.now;
        let room = format!("door-{c}");
        match codec {
            Some(codec) => net.engine.handle_command(
                now,
                Command::Bridge {
                    session: panel(c),
                    room: RoomId::new(&room).expect("room id"),
                    participant: ParticipantId::new("client").expect("id"),
                    name: format!("Door {c}"),
                    codec,
                },
            ),
            None => {
                net.join(&room, "client", audio);
            }
        }
        net.join(&room, "agent", audio);
    }
    assert!(
        net.run_until(Duration::from_secs(30), |n| n.all_connected()),
        "every browser connects"
    );
    net.run_until(Duration::from_secs(2), |_| false);
    net
}

#[derive(Default)]
struct Run {
    spent: Duration,
    allocations: u64,
    frames_to_device: u64,
    steps: u64,
    /// Panel → browser: (frame sent at, frame number) by call, to match arrivals.
    sent_at: HashMap<(usize, u8), Instant>,
    latencies_ms: Vec<f64>,
    /// Times the engine was woken for a deadline between the browsers' packets.
    wakeups: u64,
}

/// How often the worker reads the links from the panels' socket tasks.
const LINK_READ: Duration = Duration::from_millis(5);

/// Where call `call`'s panel sends within each 20 ms (its own phase, 0–19 ms: panels
/// do not send in step with the worker's tick).
fn phase(call: usize) -> Duration {
    Duration::from_millis((call as u64 * 7) % 20)
}

/// Runs `steps` 20 ms steps of every call, as the worker would: the engine is woken
/// at each of its deadlines (the bridge's tick among them) and every 5 ms to read the
/// links, and each panel's frame reaches it at the first link read after it arrived.
fn talk(net: &mut TestNet, steps: u64, first: u64, codec: Option<BridgeCodec>, run: &mut Run) {
    let opus = browser_opus();
    let l16 = codec.is_some_and(|c| c.law().is_none());
    let anchor = codec.is_none();
    let browsers = net.clients.len();
    let calls = if anchor { browsers / 2 } else { browsers };
    let device = |m: u64, at: Instant| {
        if l16 {
            LinkFrame::new(m as u16, (m * 320) as u32, at, &frame16(1000.0, m))
        } else {
            LinkFrame::new(m as u16, (m * 160) as u32, at, &frame(1000.0, m))
        }
    };
    // Panel frames on their way: (arrived at, call, frame number).
    let mut on_the_way: Vec<(Instant, usize, u64)> = Vec::new();
    // When the worker last read the links.
    let mut last_read = net.now;
    let mut out = Vec::with_capacity(4096);
    let mut seen = vec![0usize; browsers];
    for (i, c) in net.clients.iter().enumerate() {
        seen[i] = c.received.values().map(|r| r.log.len()).sum();
    }
    for step in 0..steps {
        let n = first + step;
        let base = net.now;
        // Each panel sends frame n at its phase; 5 % of them arrive a slot late.
        for call in (0..calls).filter(|_| !anchor) {
            let sent = base + phase(call);
            run.sent_at.insert((call, n as u8), sent);
            let late = (n * 7 + call as u64 * 13).is_multiple_of(20);
            on_the_way.push((if late { sent + STEP } else { sent }, call, n));
        }
        // Untimed: each browser's packet, encrypted, for the step's end.
        let end = base + STEP;
        let mut datagrams = Vec::with_capacity(browsers);
        for i in 0..browsers {
            if l16 || anchor {
                net.clients[i].send_rtp(false, &opus, end);
            } else {
                net.clients[i].send_rtp(false, &frame(440.0, n), end);
            }
            let addr = net.clients[i].addr;
            datagrams.push((addr, net.take_client_datagrams(i)));
        }
        // The worker's wake-ups until the step's end, as its loop has them: at each
        // engine deadline (rounded up to the millisecond, as epoll waits through mio)
        // and when the browsers' packets come; at each, the links are read if 5 ms
        // have passed since they last were, then the engine's timeout pass runs.
        let mut wakes = 0;
        loop {
            let at = match net.engine.poll_timeout() {
                Some(due) if due < end && wakes < 64 => {
                    let ms =
                        (due.saturating_duration_since(base).as_micros() as u64).div_ceil(1000);
                    (base + Duration::from_millis(ms)).clamp(net.now, end)
                }
                _ => end,
            };
            wakes += 1;
            if at < end {
                run.wakeups += 1;
            }
            net.now = at;
            let before = CountingAlloc::allocations();
            let start = Instant::now();
            if at >= last_read + LINK_READ {
                last_read = at;
                for (arrived, call, m) in on_the_way.extract_if(.., |f| f.0 <= at) {
                    net.engine
                        .handle_bridge_frame(at, panel(call), &device(m, arrived));
                }
            }
            if at == end {
                for (addr, ds) in &datagrams {
                    for d in ds {
                        net.engine.handle_datagram(at, *addr, d);
                    }
                }
            }
            net.engine.handle_timeout(at);
            while let Some(o) = net.engine.poll_output() {
                out.push(black_box(o));
            }
            while let Some(f) = net.engine.poll_bridge_output() {
                black_box(f);
                run.frames_to_device += 1;
            }
            run.spent += start.elapsed();
            run.allocations += CountingAlloc::allocations() - before;
            // Untimed: the browsers take their packets.
            for o in out.drain(..) {
                net.take_output(o);
            }
            if at == end {
                break;
            }
        }
        run.steps += 1;
        for (i, c) in net.clients.iter().enumerate() {
            let log: Vec<_> = c.received.values().flat_map(|r| r.log.iter()).collect();
            for entry in log.iter().skip(seen[i]).filter(|_| !l16 && !anchor) {
                let number = entry.3.first().copied().unwrap_or(0);
                // Only frames as the panel sent them (not concealed ones).
                let sent_as = frame(1000.0, u64::from(number));
                if entry.3[..] != sent_as[..entry.3.len()] {
                    continue;
                }
                if let Some(sent) = run.sent_at.get(&(i, number)) {
                    run.latencies_ms
                        .push(entry.4.duration_since(*sent).as_secs_f64() * 1000.0);
                }
            }
            seen[i] = log.len();
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = !args.iter().any(|a| a == "--bench")
        || args.iter().any(|a| a == "--test" || a == "--quick");
    let sizes: &[usize] = if quick { &[20] } else { &[50, 100, 200, 400] };
    let steps = if quick { 100 } else { 500 };
    println!(
        "\npath           calls  µs/call/s  calls/core  allocs/20 ms  late %  concealed %  added latency ms (p50 / p99 / max)  wakes/s"
    );
    let mut rows = Vec::new();
    let paths = [
        ("pass-through", Some(BridgeCodec::G711(Law::Ulaw))),
        ("transcoding", Some(BridgeCodec::L16 { complexity: 7 })),
        ("two browsers", None),
    ];
    for (path, codec) in paths {
        for &n in sizes {
            let mut net = calls(n, codec);
            let mut warm = Run::default();
            talk(&mut net, 50, 0, codec, &mut warm);
            net.engine.take_stats();
            let mut run = Run::default();
            talk(&mut net, steps, 50, codec, &mut run);
            let stats = net.engine.take_stats().bridge;
            let seconds = steps as f64 * STEP.as_secs_f64();
            let us_per_call_second = run.spent.as_secs_f64() * 1e6 / (n as f64 * seconds);
            let calls_per_core = 1e6 / us_per_call_second;
            let wakes = run.wakeups as f64 / seconds;
            // Per call per 20 ms: both directions of one call's audio.
            let allocs = run.allocations as f64 / (n as u64 * steps) as f64;
            let late = 100.0 * stats.late as f64 / stats.frames_in.max(1) as f64;
            let concealed = 100.0 * stats.concealed_in as f64 / stats.slots_out.max(1) as f64;
            let mut lat = run.latencies_ms.clone();
            lat.sort_by(f64::total_cmp);
            let (p50, p99, max) = (
                percentile(&lat, 0.5),
                percentile(&lat, 0.99),
                lat.last().copied().unwrap_or(0.0),
            );
            assert!(
                codec.is_none() || run.frames_to_device >= (n as u64 * steps) * 95 / 100,
                "the panels hear the browsers: {} frames for {} call-steps",
                run.frames_to_device,
                n as u64 * steps
            );
            assert!(
                codec.is_none_or(|c| c.law().is_none()) || !lat.is_empty(),
                "the browsers hear the panels"
            );
            assert_eq!(
                stats.wrong_codec, 0,
                "every browser packet reached its panel"
            );
            println!(
                "{path:<13}  {n:>5}  {us_per_call_second:>9.1}  {calls_per_core:>10.0}  {allocs:>12.2}  {late:>6.2}  {concealed:>11.2}  {p50:>5.1} / {p99:>5.1} / {max:>5.1}  {wakes:>7.0}"
            );
            rows.push(serde_json::json!({
                "path": path,
                "calls": n,
                "us_per_call_second": us_per_call_second,
                "calls_per_core": calls_per_core,
                "allocations_per_call_per_20ms": allocs,
                "deadline_wakeups_per_second": wakes,
                "late_percent": late,
                "concealed_percent": concealed,
                "frames_from_devices": stats.frames_in,
                "frames_to_devices": stats.frames_to_device,
                "added_latency_ms": { "p50": p50, "p99": p99, "max": max },
            }));
        }
    }
    // Each path against the anchor, call for call.
    println!("\ncalls  pass-through / two browsers  transcoding / two browsers");
    let cost = |path: &str, n: usize| {
        rows.iter()
            .find(|r| r["path"] == path && r["calls"] == n)
            .and_then(|r| r["us_per_call_second"].as_f64())
            .unwrap_or(f64::NAN)
    };
    for &n in sizes {
        let anchor = cost("two browsers", n);
        println!(
            "{n:>5}  {:>28.2}  {:>27.2}",
            cost("pass-through", n) / anchor,
            cost("transcoding", n) / anchor
        );
    }
    if std::env::var_os("VCHAT_BENCH_WRITE").is_some() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/results");
        let json = serde_json::json!({
            "what": "intercom bridge, pass-through (PCMU both ways) and transcoding (L16 16 kHz <-> Opus, complexity 7, the default), engine time per call",
            "steps_of_20ms": steps,
            "late_frames": "5 % of panel frames arrive a 20 ms slot late",
            "rows": rows,
        });
        std::fs::write(
            format!("{dir}/intercom-bridge.json"),
            serde_json::to_string_pretty(&json).expect("json"),
        )
        .expect("write the results");
        let points = |path: &str| -> Vec<(f64, f64)> {
            rows.iter()
                .filter(|r| r["path"] == path)
                .filter_map(|r| Some((r["calls"].as_f64()?, r["calls_per_core"].as_f64()?)))
                .collect()
        };
        let chart = line_chart(
            "Intercom calls one engine core carries, both ways",
            "calls in the engine",
            "calls per core",
            &[
                Series {
                    name: "pass-through (PCMU)".into(),
                    points: points("pass-through"),
                },
                Series {
                    name: "transcoding (L16 ↔ Opus, complexity 7)".into(),
                    points: points("transcoding"),
                },
                Series {
                    name: "anchor: two browsers, no panel".into(),
                    points: points("two browsers"),
                },
            ],
        );
        std::fs::write(format!("{dir}/intercom-bridge.svg"), chart).expect("write the chart");
    }
}
