//! The recorder's tap: in a recorded room every published track's RTP reaches the
//! recorder as `Output::Tap` per-track batches (once a second, payloads back to back), with codec,
//! clock rate and SSRC; a leave closes the publisher's tracks; rooms not recorded give
//! nothing; a recording's first video asks the publisher for a keyframe, and so does a
//! video loss while recording — at most once a second.

use std::time::Duration;

use vchat_sfu::tap::TapBatch;
use vchat_sfu::testkit::{Publish, TestNet};
use vchat_sfu::{Command, RoomId, TrackKind};

fn send(net: &mut TestNet, who: &[(usize, &str)], n: u32) {
    for i in 0..n {
        let now = net.now;
        for (c, tag) in who {
            net.clients[*c].send_rtp(true, format!("{tag}-video-{i}").as_bytes(), now);
            net.clients[*c].send_rtp(false, format!("{tag}-audio-{i}").as_bytes(), now);
        }
        net.progress(Duration::from_millis(20));
    }
}

#[test]
fn recorded_rooms_hand_every_published_track_to_the_tap() {
    let mut net = TestNet::new();
    let a = net.join("rec", "client", Publish::audio_video());
    let b = net.join("rec", "agent", Publish::audio_video());
    let c = net.join("plain", "other", Publish::audio_video());
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));

    // Before recording starts, nothing.
    send(&mut net, &[(a, "a"), (b, "b"), (c, "c")], 20);
    net.progress(Duration::from_millis(1500));
    assert!(net.taps.is_empty());

    let keyframes_before: Vec<u64> = net.clients.iter().map(|c| c.keyframe_requests).collect();
    let now = net.now;
    net.engine.handle_command(
        now,
        Command::Record {
            room: RoomId::new("rec").unwrap(),
            on: true,
        },
    );
    send(&mut net, &[(a, "a"), (b, "b"), (c, "c")], 100);
    for (i, before) in keyframes_before.iter().enumerate() {
        let asked = net.clients[i].keyframe_requests > *before;
        assert_eq!(
            asked,
            i != c,
            "client {i}: a recording starts with a keyframe request"
        );
    }
    net.run_until(Duration::from_millis(1500), |_| false);

    let batches = net.taps.clone();
    assert!(
        batches.iter().all(|b| b.room.as_str() == "rec"),
        "only the recorded room"
    );
    for (who, tag) in [("client", "a"), ("agent", "b")] {
        for kind in [TrackKind::Audio, TrackKind::Video] {
            let mine: Vec<&TapBatch> = batches
                .iter()
                .filter(|b| b.participant.as_str() == who && b.kind == kind)
                .collect();
            assert!(!mine.is_empty(), "{who} {kind:?}");
            let (codec, rate) = if kind == TrackKind::Audio {
                ("opus", 48_000)
            } else {
                ("vp8", 90_000)
            };
            assert!(
                mine.iter()
                    .all(|b| b.codec == codec && b.clock_rate == rate),
                "{who} {kind:?}"
            );
            let payloads: Vec<String> = mine
                .iter()
                .flat_map(|b| {
                    (0..b.packets.len())
                        .map(move |i| String::from_utf8_lossy(b.payload(i)).into_owned())
                })
                .collect();
            let word = if kind == TrackKind::Audio {
                "audio"
            } else {
                "video"
            };
            assert_eq!(payloads.len(), 100, "{who} {kind:?}: every packet once");
            assert_eq!(payloads[0], format!("{tag}-{word}-0"));
            assert_eq!(payloads[99], format!("{tag}-{word}-99"));
            let packets: Vec<_> = mine.iter().flat_map(|b| b.packets.iter()).collect();
            assert!(
                packets.windows(2).all(|w| w[1].seq > w[0].seq),
                "increasing sequence numbers: {:?}",
                packets.iter().map(|p| p.seq).collect::<Vec<_>>()
            );
            assert!(
                packets
                    .windows(2)
                    .all(|w| w[1].arrival_us >= w[0].arrival_us)
            );
            assert!(packets.windows(2).all(|w| w[1].rtp_ts > w[0].rtp_ts));
            assert!(!mine.iter().any(|b| b.closed));
        }
    }

    // A leave closes the leaver's tracks; stopping the recording closes the rest.
    net.leave(a);
    net.run_until(Duration::from_millis(200), |_| false);
    let closed: Vec<(String, TrackKind)> = net
        .taps
        .iter()
        .filter(|b| b.closed)
        .map(|b| (b.participant.to_string(), b.kind))
        .collect();
    assert_eq!(closed.len(), 2, "{closed:?}");
    assert!(closed.iter().all(|(p, _)| p == "client"));
    let now = net.now;
    net.engine.handle_command(
        now,
        Command::Record {
            room: RoomId::new("rec").unwrap(),
            on: false,
        },
    );
    net.exchange();
    let n = net.taps.len();
    assert_eq!(net.taps.iter().filter(|b| b.closed).count(), 4);
    send(&mut net, &[(b, "b")], 60);
    net.run_until(Duration::from_millis(1500), |_| false);
    assert_eq!(net.taps.len(), n, "nothing after the recording stopped");
}

#[test]
fn video_loss_while_recording_asks_for_a_keyframe_at_most_once_a_second() {
    let mut net = TestNet::new();
    let a = net.join("rec", "client", Publish::audio_video());
    let _b = net.join("rec", "agent", Publish::audio_video());
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    let now = net.now;
    net.engine.handle_command(
        now,
        Command::Record {
            room: RoomId::new("rec").unwrap(),
            on: true,
        },
    );
    send(&mut net, &[(a, "a")], 75); // 1.5 s: the recording's first request, long past
    let start = net.clients[a].keyframe_requests;
    assert!(start >= 1, "the recording's first keyframe request");

    // A clean second: no request.
    send(&mut net, &[(a, "a")], 50);
    assert_eq!(
        net.clients[a].keyframe_requests, start,
        "no loss, no request"
    );

    // Three video packets lost: the frames after them cannot be decoded — ask.
    net.clients[a].lose_rtp(true, 3);
    send(&mut net, &[(a, "a")], 5);
    let after_loss = net.clients[a].keyframe_requests;
    assert_eq!(after_loss, start + 1, "a loss asks for a keyframe");

    // Another loss 100 ms later: within the second, no second request.
    net.clients[a].lose_rtp(true, 2);
    send(&mut net, &[(a, "a")], 10);
    assert_eq!(
        net.clients[a].keyframe_requests, after_loss,
        "at most once a second"
    );

    // A loss of audio never asks (audio has no keyframes).
    send(&mut net, &[(a, "a")], 50);
    net.clients[a].lose_rtp(false, 3);
    send(&mut net, &[(a, "a")], 5);
    assert_eq!(
        net.clients[a].keyframe_requests, after_loss,
        "audio loss: no request"
    );

    // A video loss more than a second after the last request asks again.
    net.clients[a].lose_rtp(true, 1);
    send(&mut net, &[(a, "a")], 5);
    assert_eq!(net.clients[a].keyframe_requests, after_loss + 1);
    println!(
        "keyframe requests: {} at the start, then {} over three video losses and one audio loss",
        start,
        net.clients[a].keyframe_requests - start
    );
}
