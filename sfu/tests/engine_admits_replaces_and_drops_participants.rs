//! Joining, leaving and being replaced, as the other participants see it.

use std::time::Duration;

use str0m::media::MediaKind;
use vchat_sfu::testkit::{Publish, TestNet};
use vchat_sfu::{EngineLimits, LeaveReason, PeerSignal, SfuEvent};

fn send_both(net: &mut TestNet, clients: &[usize], rounds: u32) {
    for _ in 0..rounds {
        let now = net.now;
        for &c in clients {
            if !net.clients[c].closed {
                net.clients[c].send_rtp(true, b"video", now);
                net.clients[c].send_rtp(false, b"audio", now);
            }
        }
        net.progress(Duration::from_millis(10));
    }
}

#[test]
fn a_third_participant_joining_and_leaving_does_not_disturb_the_call() {
    let mut net = TestNet::new();
    let a = net.join("r", "alice", Publish::audio_video());
    let b = net.join("r", "bob", Publish::audio_video());
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    send_both(&mut net, &[a, b], 50);
    let before = [
        net.clients[a].received_of(MediaKind::Video),
        net.clients[b].received_of(MediaKind::Video),
    ];

    let c = net.join("r", "carol", Publish::audio_video());
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    send_both(&mut net, &[a, b, c], 100);
    // Carol gets both others; the others get her on top.
    assert!(
        net.clients[c].received_of(MediaKind::Video) > 150,
        "carol sees alice and bob: {:?}",
        net.clients[c]
            .received
            .values()
            .map(|r| r.packets)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        net.clients[c].received.len(),
        4,
        "two tracks from each of two others"
    );
    assert_eq!(
        net.clients[a].received.len(),
        4,
        "alice now receives bob and carol"
    );
    for (me, &prior) in [a, b].iter().zip(&before) {
        let got = net.clients[*me].received_of(MediaKind::Video) - prior;
        assert!(
            got >= 190,
            "client {me} kept receiving video while carol joined: {got}"
        );
    }

    net.leave(c);
    let mid_leave = [
        net.clients[a].received_of(MediaKind::Video),
        net.clients[b].received_of(MediaKind::Video),
    ];
    send_both(&mut net, &[a, b], 100);
    for (me, &prior) in [a, b].iter().zip(&mid_leave) {
        let got = net.clients[*me].received_of(MediaKind::Video) - prior;
        assert!(
            got >= 95,
            "client {me} kept receiving after carol left: {got}"
        );
        let signals = &net.clients[*me].signals;
        assert!(signals.iter().any(|s| matches!(s, PeerSignal::ParticipantLeft { participant, reason: LeaveReason::Left } if participant.as_str() == "carol")));
        assert_eq!(
            signals.iter().filter(|s| matches!(s, PeerSignal::TrackRemoved { participant, .. } if participant.as_str() == "carol")).count(),
            2,
            "carol's audio and video were negotiated away"
        );
    }
    assert!(net.events.iter().any(
        |e| matches!(e, SfuEvent::PeerGone { participant, .. } if participant.as_str() == "carol")
    ));
}

#[test]
fn a_subscriber_joining_asks_the_publisher_for_a_keyframe() {
    let mut net = TestNet::new();
    let a = net.join("r", "alice", Publish::audio_video());
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    send_both(&mut net, &[a], 10);
    let before = net.clients[a].keyframe_requests;
    let b = net.join("r", "bob", Publish::audio_video());
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    send_both(&mut net, &[a, b], 20);
    assert!(
        net.clients[a].keyframe_requests > before,
        "alice was asked for a keyframe when bob subscribed"
    );
}

#[test]
fn the_same_participant_joining_again_replaces_the_old_session() {
    let mut net = TestNet::new();
    let old = net.join("r", "alice", Publish::audio_video());
    let b = net.join("r", "bob", Publish::audio_video());
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    let new = net.join("r", "alice", Publish::audio_video());
    assert!(net.run_until(Duration::from_secs(5), |n| n.clients[new].connected));
    assert!(net.clients[old].signals.contains(&PeerSignal::Closed {
        reason: LeaveReason::Replaced
    }));
    send_both(&mut net, &[new, b], 50);
    assert!(
        net.clients[b].received_of(MediaKind::Video) >= 45,
        "bob sees the new alice"
    );
    assert_eq!(net.engine.participants(&"r".parse_room()).len(), 2);
}

#[test]
fn a_full_room_turns_the_next_participant_away() {
    let limits = EngineLimits {
        max_participants_per_room: 2,
        ..EngineLimits::default()
    };
    let mut net = TestNet::with_limits(limits);
    net.join("r", "a", Publish::audio_video());
    net.join("r", "b", Publish::audio_video());
    let c = net.join("r", "c", Publish::audio_video());
    net.exchange();
    assert!(net.clients[c].signals.contains(&PeerSignal::Closed {
        reason: LeaveReason::RoomFull
    }));
    assert_eq!(net.engine.participants(&"r".parse_room()).len(), 2);
}

#[test]
fn peers_that_never_connect_or_go_silent_are_dropped() {
    let limits = EngineLimits {
        connect_timeout: Duration::from_secs(3),
        disconnect_timeout: Duration::from_secs(3),
        ..EngineLimits::default()
    };
    let mut net = TestNet::with_limits(limits);
    let a = net.join("r", "alice", Publish::audio_video());
    let b = net.join("r", "bob", Publish::audio_video());
    assert!(net.run_until(Duration::from_secs(2), |n| n.all_connected()));
    // Bob's browser vanishes without a word: nothing from him reaches the SFU any more.
    net.clients[b].closed = true;
    assert!(net.run_until(Duration::from_secs(60), |n| {
        n.clients[a].signals.iter().any(|s| {
            matches!(
                s,
                PeerSignal::ParticipantLeft {
                    reason: LeaveReason::Unreachable,
                    ..
                }
            )
        })
    }));

    // A session that never gets past signaling is gone after the connect timeout.
    let mut net = TestNet::with_limits(EngineLimits {
        connect_timeout: Duration::from_secs(3),
        ..EngineLimits::default()
    });
    let c = net.join("r", "carol", Publish::audio_video());
    net.clients[c].closed = true; // its datagrams never flow
    assert!(
        net.run_until(Duration::from_secs(10), |n| n.events.iter().any(
            |e| matches!(
                e,
                SfuEvent::PeerGone {
                    reason: LeaveReason::ConnectTimeout,
                    ..
                }
            )
        ))
    );
    assert!(net.engine.participants(&"r".parse_room()).is_empty());
}

trait ParseRoom {
    fn parse_room(&self) -> vchat_sfu::RoomId;
}
impl ParseRoom for str {
    fn parse_room(&self) -> vchat_sfu::RoomId {
        vchat_sfu::RoomId::new(self).unwrap()
    }
}
