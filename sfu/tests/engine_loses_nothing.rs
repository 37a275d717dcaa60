//! On a clean network every forwarded packet arrives, in both kinds.

use std::time::Duration;

use str0m::media::MediaKind;
use vchat_sfu::testkit::{Publish, TestNet};

#[test]
fn every_packet_sent_is_received_once() {
    let mut net = TestNet::new();
    let a = net.join("r", "alice", Publish::audio_video());
    let b = net.join("r", "bob", Publish::audio_video());
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    // Let the SFU's offer to each be answered before counting.
    net.run_until(Duration::from_millis(500), |_| false);
    for _ in 0..100 {
        let now = net.now;
        net.clients[a].send_rtp(true, b"v", now);
        net.clients[a].send_rtp(false, b"a", now);
        net.progress(Duration::from_millis(20));
    }
    net.run_until(Duration::from_millis(500), |_| false);
    assert_eq!(net.clients[b].received_of(MediaKind::Audio), 100);
    assert_eq!(net.clients[b].received_of(MediaKind::Video), 100);
}
