//! A participant who starts or stops a track mid-call (screen sharing will) renegotiates,
//! and the others are offered the change: the new track reaches them, the stopped one
//! goes away.

use std::time::Duration;

use str0m::media::MediaKind;
use vchat_sfu::PeerSignal;
use vchat_sfu::testkit::{Publish, TestNet};

#[test]
fn a_track_added_and_stopped_mid_call_is_offered_to_the_others() {
    let mut net = TestNet::new();
    let a = net.join(
        "r",
        "alice",
        Publish {
            audio: true,
            video: false,
            h264: false,
        },
    );
    let b = net.join("r", "bob", Publish::audio_video());
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    net.run_until(Duration::from_millis(300), |_| false);
    assert_eq!(
        net.clients[b].received.len(),
        0,
        "nothing yet: alice sends no media"
    );

    let screen = net.add_track(a, MediaKind::Video);
    let offered = |n: &TestNet| {
        n.clients[b].signals.iter().any(|s| matches!(s, PeerSignal::TrackAdded { participant, kind: vchat_sfu::TrackKind::Video, .. } if participant.as_str() == "alice"))
    };
    assert!(
        net.run_until(Duration::from_secs(2), offered),
        "bob is offered alice's new video"
    );
    for _ in 0..50 {
        let now = net.now;
        net.clients[a].send_rtp(true, b"screen", now);
        net.progress(Duration::from_millis(20));
    }
    assert!(
        net.clients[b].received_of(MediaKind::Video) >= 45,
        "the new track reaches bob"
    );

    net.stop_track(a, screen);
    let removed = |n: &TestNet| {
        n.clients[b].signals.iter().any(|s| matches!(s, PeerSignal::TrackRemoved { participant, .. } if participant.as_str() == "alice"))
    };
    assert!(
        net.run_until(Duration::from_secs(2), removed),
        "bob is told the track stopped"
    );
    let offers = net.clients[b]
        .signals
        .iter()
        .filter(|s| matches!(s, PeerSignal::Offer { .. }))
        .count();
    assert!(
        offers >= 2,
        "one offer added the track, another removed it ({offers} offers)"
    );
}
