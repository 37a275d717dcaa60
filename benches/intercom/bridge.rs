//! The intercom bridge's pass-through path, end to end in one SFU engine: N calls,
//! each a room with a panel (the engine's virtual participant, PCMU) and a browser
//! (an in-memory str0m peer that offers Opus, PCMU and PCMA, and is answered PCMU).
//!
//! Every 20 ms of virtual time each panel hands the engine a frame (5 % of them a slot
//! late, as over a jittery link) and each browser sends one PCMU packet; the engine
//! takes the browser's SRTP, passes its payload to the panel, ticks every call's jitter
//! buffer and writes the panel's audio to the browser as SRTP. What is timed is the
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

fn panel(call: usize) -> SessionId {
    SessionId(1_000_000 + call as u64)
}

/// `calls` rooms, each with its panel and one browser, all connected.
fn calls(calls: usize) -> TestNet {
    let mut net = TestNet::with_limits(EngineLimits::default());
    for c in 0..calls {
        let now = net.now;
        net.engine.handle_command(
            now,
            Command::Bridge {
                session: panel(c),
                room: RoomId::new(&format!("door-{c}")).expect("room id"),
                participant: ParticipantId::new("client").expect("id"),
                name: format!("Door {c}"),
                law: Law::Ulaw,
            },
        );
        net.join(
            &format!("door-{c}"),
            "agent",
            Publish {
                audio: true,
                video: false,
                h264: false,
            },
        );
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
}

/// Runs `steps` 20 ms steps of every call.
fn talk(net: &mut TestNet, steps: u64, first: u64, run: &mut Run) {
    let calls = net.clients.len();
    let mut held: Vec<(usize, u64)> = Vec::new();
    let mut out = Vec::with_capacity(4096);
    let mut seen = vec![0usize; calls];
    for (i, c) in net.clients.iter().enumerate() {
        seen[i] = c.received.values().map(|r| r.log.len()).sum();
    }
    for step in 0..steps {
        let n = first + step;
        net.now += STEP;
        let now = net.now;
        // Untimed: each browser's packet, encrypted.
        let mut datagrams = Vec::with_capacity(calls);
        for i in 0..calls {
            net.clients[i].send_rtp(false, &frame(440.0, n), now);
            let addr = net.clients[i].addr;
            datagrams.push((addr, net.take_client_datagrams(i)));
        }
        let before = CountingAlloc::allocations();
        let start = Instant::now();
        // The panels' frames: 5 % a slot late (they come with the next step's).
        let late = std::mem::take(&mut held);
        for (call, m) in late {
            let at = now - STEP / 2;
            net.engine.handle_bridge_frame(
                now,
                panel(call),
                &LinkFrame::new(m as u16, (m * 160) as u32, at, &frame(1000.0, m)),
            );
        }
        for call in 0..calls {
            if (n * 7 + call as u64 * 13).is_multiple_of(20) {
                held.push((call, n));
                continue;
            }
            net.engine.handle_bridge_frame(
                now,
                panel(call),
                &LinkFrame::new(n as u16, (n * 160) as u32, now, &frame(1000.0, n)),
            );
        }
        for (addr, ds) in &datagrams {
            for d in ds {
                net.engine.handle_datagram(now, *addr, d);
            }
        }
        net.engine.handle_timeout(now);
        while let Some(o) = net.engine.poll_output() {
            out.push(black_box(o));
        }
        while let Some(f) = net.engine.poll_bridge_output() {
            black_box(f);
            run.frames_to_device += 1;
        }
        run.spent += start.elapsed();
        run.allocations += CountingAlloc::allocations() - before;
        run.steps += 1;
        for call in 0..calls {
            run.sent_at.insert((call, n as u8), now);
        }
        // Untimed: the browsers take their packets.
        for o in out.drain(..) {
            net.take_output(o);
        }
        for (i, c) in net.clients.iter().enumerate() {
            let log: Vec<_> = c.received.values().flat_map(|r| r.log.iter()).collect();
            for entry in log.iter().skip(seen[i]) {
                let number = entry.3.first().copied().unwrap_or(0);
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
        "\ncalls  µs/call/s  calls/core  allocs/frame  late %  concealed %  added latency ms (p50 / p99 / max)"
    );
    let mut rows = Vec::new();
    for &n in sizes {
        let mut net = calls(n);
        let mut warm = Run::default();
        talk(&mut net, 50, 0, &mut warm);
        net.engine.take_stats();
        let mut run = Run::default();
        talk(&mut net, steps, 50, &mut run);
        let stats = net.engine.take_stats().bridge;
        let seconds = steps as f64 * STEP.as_secs_f64();
        let us_per_call_second = run.spent.as_secs_f64() * 1e6 / (n as f64 * seconds);
        let calls_per_core = 1e6 / us_per_call_second;
        let frames = (stats.frames_in + stats.frames_to_device).max(1);
        let allocs = run.allocations as f64 / frames as f64;
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
            run.frames_to_device >= (n as u64 * steps) * 95 / 100,
            "the panels hear the browsers: {} frames for {} call-steps",
            run.frames_to_device,
            n as u64 * steps
        );
        assert!(!lat.is_empty(), "the browsers hear the panels");
        println!(
            "{n:>5}  {us_per_call_second:>9.1}  {calls_per_core:>10.0}  {allocs:>12.2}  {late:>6.2}  {concealed:>11.2}  {p50:>5.1} / {p99:>5.1} / {max:>5.1}"
        );
        rows.push(serde_json::json!({
            "calls": n,
            "us_per_call_second": us_per_call_second,
            "calls_per_core": calls_per_core,
            "allocations_per_frame": allocs,
            "late_percent": late,
            "concealed_percent": concealed,
            "frames_from_devices": stats.frames_in,
            "frames_to_devices": stats.frames_to_device,
            "added_latency_ms": { "p50": p50, "p99": p99, "max": max },
        }));
    }
    if std::env::var_os("VCHAT_BENCH_WRITE").is_some() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/results");
        let json = serde_json::json!({
            "what": "intercom bridge, pass-through (PCMU both ways), engine time per call",
            "steps_of_20ms": steps,
            "late_frames": "5 % of panel frames arrive a 20 ms slot late",
            "rows": rows,
        });
        std::fs::write(
            format!("{dir}/intercom-bridge.json"),
            serde_json::to_string_pretty(&json).expect("json"),
        )
        .expect("write the results");
        let points = |key: &str| -> Vec<(f64, f64)> {
            rows.iter()
                .filter_map(|r| Some((r["calls"].as_f64()?, r[key].as_f64()?)))
                .collect()
        };
        let chart = line_chart(
            "Intercom calls through one engine, pass-through",
            "calls in the engine",
            "engine µs per call-second",
            &[Series {
                name: "µs of engine time per call per second (both ways)".into(),
                points: points("us_per_call_second"),
            }],
        );
        std::fs::write(format!("{dir}/intercom-bridge.svg"), chart).expect("write the chart");
    }
}
