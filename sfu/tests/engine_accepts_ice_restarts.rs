//! A browser whose network changed restarts ICE: a new offer with new ICE credentials,
//! from a new address. The engine answers with new credentials of its own and learns
//! the new ufrag, so the checks from the new address find the peer, and media flows
//! again in the same session (no rejoin, no renegotiated tracks).

use std::time::Duration;

use str0m::media::MediaKind;
use vchat_sfu::testkit::{Publish, TestNet};

#[test]
fn media_resumes_after_an_ice_restart_from_a_new_address() {
    let mut net = TestNet::new();
    let a = net.join("r", "alice", Publish::audio_video());
    let b = net.join("r", "bob", Publish::audio_video());
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    let send = |net: &mut TestNet, rounds: usize| {
        for _ in 0..rounds {
            let now = net.now;
            net.clients[a].send_rtp(true, b"frame", now);
            net.progress(Duration::from_millis(20));
        }
    };
    send(&mut net, 25);
    let before = net.clients[b].received_of(MediaKind::Video);
    assert!(before >= 20, "media flows first: {before}");

    let old_ufrag = net.clients[a].last_offer.clone();
    // In memory only (the testkit moves datagrams itself): a new port of loopback.
    net.restart_ice(a, "127.0.0.9:6000".parse().unwrap());
    assert_ne!(old_ufrag, net.clients[a].last_offer, "a new offer");
    net.run_until(Duration::from_secs(3), |_| false);
    send(&mut net, 50);
    let after = net.clients[b].received_of(MediaKind::Video);
    assert!(
        after >= before + 40,
        "media from the new address reaches bob: {before} → {after}"
    );
    assert!(!net.clients[a].closed, "the same session goes on");
}
