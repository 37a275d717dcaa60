//! The SFU's forward path: one SRTP packet in, forwarded to K subscribers.
//!
//! A publisher and K subscribers (in-memory str0m peers) are connected to one
//! [`Engine`]. Each iteration the publisher encrypts one 1,100-byte video packet (not
//! timed); what is timed is the engine taking it — demux, SRTP decrypt, forwarding
//! decisions, K header rewrites, K SRTP encrypts — and handing out the K datagrams.
//!
//! Run: `cargo bench -p vchat-benches --bench forward`. Besides criterion's report it
//! prints ns per packet per subscriber and heap allocations per forwarded packet; with
//! `VCHAT_BENCH_WRITE=1` it also writes `benches/results/forward.{json,svg}`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use vchat_benches::CountingAlloc;
use vchat_benches::svg::{Series, line_chart};
use vchat_sfu::EngineLimits;
use vchat_sfu::testkit::{Publish, TestNet};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const SUBSCRIBERS: [usize; 5] = [1, 2, 4, 8, 16];
const PAYLOAD: [u8; 1100] = [0x5a; 1100];

/// A room of one publisher (client 0) and `k` subscribers, all connected, every track
/// negotiated.
fn room(k: usize) -> TestNet {
    let mut net = TestNet::with_limits(EngineLimits {
        max_participants_per_room: 64,
        ..EngineLimits::default()
    });
    net.join("bench", "publisher", Publish::audio_video());
    for i in 0..k {
        net.join(
            "bench",
            &format!("sub{i}"),
            Publish {
                audio: false,
                video: false,
                h264: false,
            },
        );
    }
    assert!(
        net.run_until(Duration::from_secs(10), |n| n.all_connected()),
        "room connects"
    );
    // Let every subscriber's offer be answered, then check forwarding works.
    net.run_until(Duration::from_millis(500), |_| false);
    let now = net.now;
    net.clients[0].send_rtp(true, &PAYLOAD, now);
    net.run_until(Duration::from_millis(200), |_| false);
    let reached = net.clients[1..]
        .iter()
        .filter(|c| c.received.values().any(|r| r.packets > 0))
        .count();
    assert_eq!(reached, k, "every subscriber receives");
    net
}

/// Forwards `packets` packets; returns (time spent in the engine, allocations there,
/// datagrams out).
fn forward(net: &mut TestNet, packets: u64) -> (Duration, u64, u64) {
    let from = net.clients[0].addr;
    let mut spent = Duration::ZERO;
    let mut allocations = 0;
    let mut sent = 0;
    let mut out = Vec::with_capacity(64);
    for i in 0..packets {
        let now = net.now;
        net.clients[0].send_rtp(true, &PAYLOAD, now);
        let datagrams = net.take_client_datagrams(0);
        let before = CountingAlloc::allocations();
        let start = Instant::now();
        for datagram in &datagrams {
            net.engine.handle_datagram(now, from, datagram);
        }
        while let Some(output) = net.engine.poll_output() {
            out.push(black_box(output));
        }
        spent += start.elapsed();
        allocations += CountingAlloc::allocations() - before;
        // Untimed: the subscribers take their packets, and STUN and RTCP answers reach
        // everyone, so the call stays up however long criterion runs it.
        sent += out.len() as u64;
        for output in out.drain(..) {
            net.take_output(output);
        }
        net.now += Duration::from_micros(200);
        // Keep the peers alive (RTCP, consent) outside the timed part.
        if i % 200 == 199 {
            net.progress(Duration::from_millis(1));
        }
    }
    (spent, allocations, sent)
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    // `cargo test --benches` (no `--bench`) and `-- --test` run everything once, briefly.
    let args: Vec<String> = std::env::args().collect();
    let quick = !args.iter().any(|a| a == "--bench")
        || args.iter().any(|a| a == "--test" || a == "--quick");
    let mut group = criterion.benchmark_group("forward_rtp");
    for k in SUBSCRIBERS {
        let mut net = room(k);
        group.throughput(Throughput::Elements(k as u64));
        group.bench_function(BenchmarkId::new("subscribers", k), |b| {
            b.iter_custom(|iters| forward(&mut net, iters).0)
        });
    }
    group.finish();

    // The figures RESULTS.md quotes: ns per packet per subscriber, allocations per
    // forwarded packet, over a fixed number of packets per room size.
    let packets = if quick { 200 } else { 20_000 };
    let mut rows = Vec::new();
    println!("\nsubscribers  ns/packet  ns/packet/subscriber  allocations/forwarded packet");
    for k in SUBSCRIBERS {
        let mut net = room(k);
        forward(&mut net, packets / 10); // warm-up
        let (spent, allocations, sent) = forward(&mut net, packets);
        assert!(
            sent >= packets * k as u64,
            "{sent} datagrams out for {packets} packets to {k}"
        );
        assert!(
            sent <= packets * k as u64 * 11 / 10,
            "{sent} datagrams out is mostly RTP"
        );
        let per_packet = spent.as_nanos() as f64 / packets as f64;
        let per_sub = per_packet / k as f64;
        let allocs = allocations as f64 / (packets * k as u64) as f64;
        println!("{k:>11}  {per_packet:>9.0}  {per_sub:>20.0}  {allocs:>28.2}");
        rows.push((k, per_packet, per_sub, allocs));
    }
    if std::env::var_os("VCHAT_BENCH_WRITE").is_some() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/results");
        let json = rows
            .iter()
            .map(|(k, p, s, a)| format!(r#"{{"subscribers":{k},"ns_per_packet":{p:.0},"ns_per_packet_per_subscriber":{s:.0},"allocations_per_forwarded_packet":{a:.2}}}"#))
            .collect::<Vec<_>>()
            .join(",\n  ");
        std::fs::write(format!("{dir}/forward.json"), format!("[\n  {json}\n]\n"))
            .expect("write forward.json");
        let svg = line_chart(
            "SFU forward path: one packet in, K out (ns per forwarded packet)",
            "subscribers (K)",
            "ns per packet per subscriber",
            &[Series {
                name: "vchat engine".into(),
                points: rows.iter().map(|r| (r.0 as f64, r.2)).collect(),
            }],
        );
        std::fs::write(format!("{dir}/forward.svg"), svg).expect("write forward.svg");
    }
    criterion.final_summary();
}
