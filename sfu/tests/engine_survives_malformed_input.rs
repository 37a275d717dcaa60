//! A panic means a bug in vchat or str0m, never bad input. Every truncation of the
//! datagrams a real session sends, and random bytes, go into a live call from the
//! participant's own address and from a stranger's; the call goes on.

use std::net::SocketAddr;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use str0m::media::MediaKind;
use vchat_sfu::testkit::{Publish, TestNet};

#[test]
fn truncated_and_random_datagrams_do_not_break_the_call() {
    let mut net = TestNet::new();
    let a = net.join("r", "alice", Publish::audio_video());
    let b = net.join("r", "bob", Publish::audio_video());

    // Alice's side of the handshake and call, as it went on the wire.
    net.clients[a].capture = Some(Vec::new());
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    for _ in 0..20 {
        let now = net.now;
        net.clients[a].send_rtp(true, b"some video payload for the capture", now);
        net.clients[a].send_rtp(false, b"audio", now);
        net.progress(Duration::from_millis(20));
    }
    net.clients[a].send_message("a message for the capture");
    net.progress(Duration::from_millis(20));
    let samples = net.clients[a].capture.take().unwrap_or_default();
    let kinds = |first: u8| {
        samples
            .iter()
            .filter(|s| {
                s.first().is_some_and(|b| match first {
                    0 => *b < 2,
                    20 => (20..64).contains(b),
                    _ => (128..192).contains(b),
                })
            })
            .count()
    };
    assert!(
        kinds(0) > 0 && kinds(20) > 0 && kinds(128) > 0,
        "captured STUN, DTLS and SRTP"
    );

    let stranger: SocketAddr = "203.0.113.9:4444".parse().unwrap();
    let alice = net.clients[a].addr;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut fed = 0;
    for sample in &samples {
        for len in 0..=sample.len() {
            net.inject(alice, &sample[..len]);
            net.inject(stranger, &sample[..len]);
            fed += 2;
        }
        // And the same with one byte flipped.
        let mut flipped = sample.clone();
        let at = rng.random_range(0..flipped.len());
        flipped[at] ^= 1 << rng.random_range(0..8);
        net.inject(alice, &flipped);
        fed += 1;
    }
    for _ in 0..1000 {
        let len = rng.random_range(0..1500);
        let datagram: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        net.inject(alice, &datagram);
        net.inject(stranger, &datagram);
        fed += 2;
    }
    assert!(fed > 2000);

    let before = net.clients[b].received_of(MediaKind::Video);
    for _ in 0..100 {
        let now = net.now;
        net.clients[a].send_rtp(true, b"still here", now);
        net.progress(Duration::from_millis(10));
    }
    let after = net.clients[b].received_of(MediaKind::Video);
    assert!(
        after - before >= 95,
        "the call went on: {} packets after the garbage",
        after - before
    );
    assert!(net.clients.iter().all(|c| !c.closed), "nobody was dropped");
}
