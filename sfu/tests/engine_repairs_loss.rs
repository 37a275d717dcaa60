//! Video lost on either leg is repaired by NACK and RTX: upstream, the SFU asks the
//! publisher to resend and forwards the repair; downstream, it resends from its own
//! buffer when the subscriber asks. Audio is not resent (it would come too late).

use std::time::Duration;

use str0m::media::MediaKind;
use vchat_sfu::testkit::{Publish, TestNet};

fn call_with_loss(upstream: bool) -> (u64, u64) {
    let mut net = TestNet::new();
    let a = net.join("r", "alice", Publish::audio_video());
    let b = net.join("r", "bob", Publish::audio_video());
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    net.run_until(Duration::from_millis(300), |_| false);
    // Every 10th RTP datagram on one leg is lost.
    if upstream {
        net.upstream_loss = Some((a, 10));
    } else {
        net.downstream_loss = Some((b, 10));
    }
    for _ in 0..300 {
        let now = net.now;
        net.clients[a].send_rtp(true, b"video", now);
        net.clients[a].send_rtp(false, b"audio", now);
        net.progress(Duration::from_millis(10));
    }
    net.upstream_loss = None;
    net.downstream_loss = None;
    net.run_until(Duration::from_secs(1), |_| false);
    (
        net.clients[b].received_of(MediaKind::Video),
        net.clients[b].received_of(MediaKind::Audio),
    )
}

#[test]
fn video_lost_between_publisher_and_sfu_is_resent() {
    let (video, audio) = call_with_loss(true);
    assert_eq!(
        video, 300,
        "every video packet arrives, the lost ones resent"
    );
    assert!(audio < 300, "audio is not resent: {audio} of 300 arrived");
}

#[test]
fn video_lost_between_sfu_and_subscriber_is_resent() {
    let (video, audio) = call_with_loss(false);
    assert_eq!(
        video, 300,
        "every video packet arrives, the lost ones resent"
    );
    assert!(audio < 300, "audio is not resent: {audio} of 300 arrived");
}
