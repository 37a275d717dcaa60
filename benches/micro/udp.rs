//! Sending a video frame's packets to one subscriber over loopback: one syscall per
//! datagram against the worker's batched path (UDP GSO), per datagram.
//!
//! Run: `cargo bench -p vchat-benches --bench udp`.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use vchat_sfu::bench_net::UdpIo;

/// A 1.5 Mbit/s frame at 30 fps: six packets, the last shorter.
fn frame(to: SocketAddr) -> Vec<(SocketAddr, Vec<u8>)> {
    (0..6)
        .map(|i| (to, vec![0xab; if i == 5 { 700 } else { 1180 }]))
        .collect()
}

fn drain(receiver: &UdpSocket) {
    let mut buf = [0u8; 2048];
    while receiver.recv(&mut buf).is_ok() {}
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind");
    receiver.set_nonblocking(true).expect("nonblocking");
    let to = receiver.local_addr().expect("address");
    let plain = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut io =
        UdpIo::new(UdpSocket::bind("127.0.0.1:0").expect("bind"), 4 << 20).expect("socket");

    let mut group = criterion.benchmark_group("udp_send_frame");
    group.throughput(Throughput::Elements(6));
    group.bench_function(BenchmarkId::new("sendto_each", 6), |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let packets = frame(to);
                let start = Instant::now();
                for (dest, p) in &packets {
                    let _ = plain.send_to(p, dest);
                }
                spent += start.elapsed();
                drain(&receiver);
            }
            spent
        })
    });
    group.bench_function(BenchmarkId::new("gso_batch", 6), |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let mut packets = frame(to);
                let start = Instant::now();
                io.send_all(&mut packets);
                spent += start.elapsed();
                drain(&receiver);
            }
            spent
        })
    });
    group.finish();
    criterion.final_summary();
}
