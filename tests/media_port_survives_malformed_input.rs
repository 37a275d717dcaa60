//! A panic is a bug, never bad input. While a call is up, every truncation of the STUN,
//! DTLS and SRTP datagrams a real client sent, and 1,000 random datagrams, go into the
//! media port — from the client's own address and from a stranger's. The server stays
//! up and the call goes on.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;
use vchat_tests::{RtcClient, TestServer, VideoCodec, init_logging, stream_media};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_random_datagrams_do_not_break_a_call() -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start().await?;
    let tokens = server.create_room(&["alice", "bob"]).await?;
    let a = RtcClient::join(&server, &tokens[0], "alice", VideoCodec::Vp8).await?;
    a.tap.capture(true);
    let b = RtcClient::join(&server, &tokens[1], "bob", VideoCodec::Vp8).await?;
    stream_media(&[&a, &b], 1, 50).await?;
    a.send_message("captured message").await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.tap.capture(false);

    // What Alice sent while Bob joined: her consent checks (STUN), DTLS records, SRTP
    // and SRTCP.
    let samples = a.tap.captured();
    let count = |range: std::ops::Range<u8>| {
        samples
            .iter()
            .filter(|s| s.first().is_some_and(|b| range.contains(b)))
            .count()
    };
    let (stun, dtls, srtp) = (count(0..2), count(20..64), count(128..192));
    assert!(
        stun > 0 && dtls > 0 && srtp > 0,
        "captured STUN {stun}, DTLS {dtls}, SRTP {srtp}"
    );

    let media = server.media_addrs();
    let stranger = UdpSocket::bind("127.0.0.1:0").await?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut fed = 0u64;
    let before = b.received.video.load(Ordering::Relaxed);
    for (i, sample) in samples.iter().enumerate() {
        for len in 0..=sample.len() {
            for to in &media {
                a.tap.inject(*to, &sample[..len]).await?;
                stranger.send_to(&sample[..len], to).await?;
                fed += 2;
            }
        }
        if i % 10 == 0 {
            // Keep the call itself going while the garbage flows.
            stream_media(&[&a, &b], 100 + i as u16, 1).await?;
        }
    }
    for _ in 0..1000 {
        let len = rng.random_range(0..1500);
        let datagram: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        for to in &media {
            a.tap.inject(*to, &datagram).await?;
            stranger.send_to(&datagram, to).await?;
            fed += 2;
        }
    }
    eprintln!(
        "fed {fed} malformed datagrams ({} captured: {stun} STUN, {dtls} DTLS, {srtp} SRTP)",
        samples.len()
    );

    // The call goes on: a fresh burst all arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mid = b.received.video.load(Ordering::Relaxed);
    stream_media(&[&a, &b], 30000, 100).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = b.received.video.load(Ordering::Relaxed);
    assert!(
        after - mid >= 98,
        "bob got {} of 100 video packets after the garbage (before it: {before})",
        after - mid
    );
    assert!(
        a.received.video.load(Ordering::Relaxed) > 100,
        "alice still receives"
    );

    let health = reqwest::get(format!("{}/healthz", server.base)).await?;
    assert!(health.status().is_success(), "server healthy");
    assert_eq!(server.metric("vchat_sfu_peer_panics_total").await?, 0.0);
    assert!(
        server
            .metric("vchat_sfu_unknown_source_packets_total")
            .await?
            > 1000.0,
        "strangers are counted, not served"
    );
    a.close().await?;
    b.close().await?;
    server.stop().await
}
