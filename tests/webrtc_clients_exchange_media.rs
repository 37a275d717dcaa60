//! Two WebRTC clients that share no code with vchat (webrtc-rs) join one room through
//! the real signaling socket and UDP path: each receives the other's audio and video
//! RTP, in the codec it was sent in, and the other's data-channel messages.

use std::sync::atomic::Ordering;
use std::time::Duration;

use vchat_sfu::relay;
use vchat_tests::{RtcClient, TestServer, VideoCodec, init_logging, stream_media};

async fn exchange(codec_a: VideoCodec, codec_b: VideoCodec) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start().await?;
    let tokens = server.create_room(&["alice", "bob"]).await?;
    let a = RtcClient::join(&server, &tokens[0], "alice", codec_a).await?;
    let b = RtcClient::join(&server, &tokens[1], "bob", codec_b).await?;

    // Until the SFU's offers are answered, nothing flows; wait for the first packets.
    let mut seq = 1;
    let started = tokio::time::Instant::now();
    while [&a, &b].iter().any(|c| {
        c.received.audio.load(Ordering::Relaxed) == 0
            || c.received.video.load(Ordering::Relaxed) == 0
    }) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "media never started flowing"
        );
        stream_media(&[&a, &b], seq, 5).await?;
        seq += 5;
    }
    let before: Vec<(u64, u64)> = [&a, &b]
        .iter()
        .map(|c| {
            (
                c.received.audio.load(Ordering::Relaxed),
                c.received.video.load(Ordering::Relaxed),
            )
        })
        .collect();

    // Then 100 rounds of 20 ms: two seconds of media each way, all of which must arrive.
    stream_media(&[&a, &b], seq, 100).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    for ((me, other, other_codec), (audio0, video0)) in
        [(&a, "bob", codec_b), (&b, "alice", codec_a)]
            .into_iter()
            .zip(before)
    {
        let audio = me.received.audio.load(Ordering::Relaxed) - audio0;
        let video = me.received.video.load(Ordering::Relaxed) - video0;
        assert!(
            audio >= 98,
            "{} got {audio} audio packets from {other}",
            me.tap.local_addr()
        );
        assert!(
            video >= 98,
            "{} got {video} video packets from {other}",
            me.tap.local_addr()
        );
        let last = me.received.last.lock().unwrap().clone();
        for (kind, mime, payload) in &last {
            let text = String::from_utf8_lossy(payload);
            assert!(
                text.contains(&format!("{other}-")),
                "{kind} payload {text:?} comes from {other}"
            );
            if kind == "video" {
                let expected = match other_codec {
                    VideoCodec::Vp8 => "video/vp8",
                    VideoCodec::H264 => "video/h264",
                };
                assert_eq!(mime, expected, "video arrives in the codec {other} sent");
            }
        }
        assert_eq!(last.len(), 2, "both audio and video arrived");
    }

    a.send_message("hi bob").await?;
    b.send_message("hi alice").await?;
    for (client, from, text) in [(&b, "alice", "hi bob"), (&a, "bob", "hi alice")] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let messages = client.received.messages.lock().unwrap().clone();
            if let Some(frame) = messages.iter().find_map(|m| {
                relay::decode(m).map(|f| (f.from.to_string(), f.text, f.payload.to_vec()))
            }) {
                assert!(
                    frame.0.len() == 16,
                    "the sender is named by its participant id: {}",
                    frame.0
                );
                assert!(frame.1, "text stays text");
                assert_eq!(frame.2, text.as_bytes(), "message from {from}");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no message reached the client from {from}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    assert!(server.metric("vchat_sfu_rtp_forwarded_total").await? >= 360.0);
    a.close().await?;
    b.close().await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vp8_clients_exchange_audio_video_and_messages() -> anyhow::Result<()> {
    exchange(VideoCodec::Vp8, VideoCodec::Vp8).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h264_client_and_a_vp8_client_each_get_the_others_codec() -> anyhow::Result<()> {
    exchange(VideoCodec::H264, VideoCodec::Vp8).await
}
