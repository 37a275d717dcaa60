//! Two in-memory browsers in one room receive each other's audio, video and data.

use std::time::Duration;

use str0m::media::MediaKind;
use vchat_sfu::relay;
use vchat_sfu::testkit::{Publish, TestNet};

#[test]
fn two_participants_receive_each_others_media_and_messages() {
    let mut net = TestNet::new();
    let a = net.join("room1", "alice", Publish::audio_video());
    let b = net.join("room1", "bob", Publish::audio_video());
    assert!(
        net.run_until(Duration::from_secs(5), |n| n.all_connected()),
        "both connect"
    );

    for i in 0..200u32 {
        let now = net.now;
        let tag = |who: &str| format!("{who}-{i}").into_bytes();
        net.clients[a].send_rtp(true, &tag("a-video"), now);
        net.clients[a].send_rtp(false, &tag("a-audio"), now);
        net.clients[b].send_rtp(true, &tag("b-video"), now);
        net.clients[b].send_rtp(false, &tag("b-audio"), now);
        net.progress(Duration::from_millis(10));
    }
    net.run_until(Duration::from_millis(200), |_| false);

    for (me, other) in [(a, "a"), (b, "b")]
        .into_iter()
        .map(|(i, _)| (i, if i == a { "b" } else { "a" }))
    {
        let client = &net.clients[me];
        let video = client.received_of(MediaKind::Video);
        let audio = client.received_of(MediaKind::Audio);
        assert!(video > 150, "client {me} got {video} video packets");
        assert!(audio > 150, "client {me} got {audio} audio packets");
        let payloads: Vec<String> = client
            .received
            .values()
            .map(|r| String::from_utf8_lossy(&r.last_payload).into_owned())
            .collect();
        assert!(
            payloads.iter().all(|p| p.starts_with(other)),
            "{payloads:?} come from {other}"
        );
    }

    assert!(net.run_until(Duration::from_secs(2), |n| {
        n.clients.iter().all(|c| c.channel.is_some())
    }));
    assert!(net.clients[a].send_message("hello bob"));
    assert!(net.clients[b].send_message("hello alice"));
    assert!(net.run_until(Duration::from_secs(1), |n| {
        n.clients.iter().all(|c| !c.messages.is_empty())
    }));
    let to_b = relay::decode(&net.clients[b].messages[0]).expect("a relay frame");
    assert_eq!(
        (to_b.from, to_b.text, to_b.payload),
        ("alice", true, &b"hello bob"[..])
    );
    let to_a = relay::decode(&net.clients[a].messages[0]).expect("a relay frame");
    assert_eq!((to_a.from, to_a.payload), ("bob", &b"hello alice"[..]));
}
