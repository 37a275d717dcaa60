//! A max-bundle offerer (Firefox, GStreamer's webrtcbin, any client that follows RFC
//! 8843 §6) gives every m-line after the first port 0 and `a=bundle-only`. Those lines
//! are live: the others are offered the video while its sender is still connecting,
//! the video reaches them, and an unchanged re-offer removes nothing.

use std::time::Duration;

use str0m::media::MediaKind;
use vchat_sfu::testkit::{Offerer, Publish, TestNet, max_bundle};
use vchat_sfu::{PeerSignal, TrackKind};

fn announced(net: &TestNet, to: usize, who: &str, kind: TrackKind) -> bool {
    net.clients[to].signals.iter().any(|s| {
        matches!(s, PeerSignal::TrackAdded { participant, kind: k, .. }
            if participant.as_str() == who && *k == kind)
    })
}

fn removed(net: &TestNet, to: usize, who: &str) -> usize {
    net.clients[to]
        .signals
        .iter()
        .filter(|s| matches!(s, PeerSignal::TrackRemoved { participant, .. } if participant.as_str() == who))
        .count()
}

#[test]
fn bundle_only_video_is_announced_before_dtls_and_survives_a_reoffer() {
    let mut net = TestNet::new();
    let bob = net.join("r", "bob", Publish::audio_video());
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));

    let alice = net.join_as(
        "r",
        "alice",
        Offerer {
            rewrite: max_bundle,
            ..Offerer::new(Publish::audio_video())
        },
    );
    let offer = net.clients[alice].last_offer.clone();
    assert!(
        offer.contains("m=video 0 ") && offer.contains("a=bundle-only"),
        "the offer is max-bundle: {offer}"
    );
    // Signals only: no datagram has moved, so alice's DTLS is not up.
    net.deliver_signals();
    assert!(!net.clients[alice].connected);
    assert!(
        announced(&net, bob, "alice", TrackKind::Video),
        "bob hears of alice's video before her DTLS is up: {:?}",
        net.clients[bob].signals
    );
    assert!(announced(&net, bob, "alice", TrackKind::Audio));

    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    net.run_until(Duration::from_millis(300), |_| false);
    for _ in 0..50 {
        let now = net.now;
        net.clients[alice].send_rtp(true, b"video", now);
        net.clients[alice].send_rtp(false, b"audio", now);
        net.progress(Duration::from_millis(20));
    }
    let video_before = net.clients[bob].received_of(MediaKind::Video);
    assert!(
        video_before >= 45,
        "alice's video reaches bob: {video_before}"
    );

    // The same offer again changes nothing: no track goes away, media goes on.
    net.reoffer(alice);
    net.run_until(Duration::from_millis(500), |_| false);
    assert_eq!(
        removed(&net, bob, "alice"),
        0,
        "{:?}",
        net.clients[bob].signals
    );
    for _ in 0..50 {
        let now = net.now;
        net.clients[alice].send_rtp(true, b"video", now);
        net.progress(Duration::from_millis(20));
    }
    let video_after = net.clients[bob].received_of(MediaKind::Video);
    assert!(
        video_after >= video_before + 45,
        "alice's video still reaches bob: {video_before} -> {video_after}"
    );
}
