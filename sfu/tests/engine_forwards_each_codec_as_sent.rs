//! Video in either codec browsers share reaches the other side in that codec.

use std::time::Duration;

use str0m::format::Codec;
use str0m::media::MediaKind;
use vchat_sfu::testkit::{Publish, TestNet};

#[test]
fn h264_and_vp8_publishers_are_forwarded_in_their_own_codec() {
    let mut net = TestNet::new();
    let h264 = net.join(
        "r",
        "h264",
        Publish {
            audio: true,
            video: true,
            h264: true,
        },
    );
    let vp8 = net.join("r", "vp8", Publish::audio_video());
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    for _ in 0..100 {
        let now = net.now;
        net.clients[h264].send_rtp(true, b"h264 frame", now);
        net.clients[vp8].send_rtp(true, b"vp8 frame", now);
        net.progress(Duration::from_millis(10));
    }
    let video_codec = |c: usize| {
        let client = &net.clients[c];
        client
            .received
            .iter()
            .find(|(mid, _)| {
                client
                    .rtc
                    .media(**mid)
                    .is_some_and(|m| m.kind() == MediaKind::Video)
            })
            .and_then(|(_, r)| r.codec)
    };
    assert_eq!(
        video_codec(vp8),
        Some(Codec::H264),
        "the VP8 side receives H.264 as H.264"
    );
    assert_eq!(
        video_codec(h264),
        Some(Codec::Vp8),
        "the H.264 side receives VP8 as VP8"
    );
    assert!(net.clients[vp8].received_of(MediaKind::Video) >= 95);
    assert!(net.clients[h264].received_of(MediaKind::Video) >= 95);
}
