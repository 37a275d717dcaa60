//! A recorded call's media lands in capture files while it runs: one per track and
//! join, with the right header (role, codec, clock rate), every RTP packet the
//! publishers sent, synced at least once a second, and closed when the call ends. A
//! call with recording off leaves nothing. The publishers are webrtc-rs clients.

use std::time::Duration;

use serde_json::json;
use vchat_recorder::capture::{Record, read};
use vchat_tests::api::{Api, Org};
use vchat_tests::{RtcClient, TestServer, VideoCodec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_call_is_captured_track_by_track() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let server =
        TestServer::start_with(&[("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000")]).await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let agent = org.as_("agentA");
    let mut calls = Vec::new();
    for recording in [true, false] {
        let call = api
            .open_call(
                agent,
                &json!({ "client": { "name": "Rec" }, "recording": recording }),
            )
            .await?;
        let id = call.id.clone();

        let client =
            RtcClient::join(&server, &call.client_token, "client", VideoCodec::Vp8).await?;
        let agent_rtc =
            RtcClient::join(&server, &call.staff_token, "agent", VideoCodec::H264).await?;
        // Media starts only when both are in and the call is connected (and recorded).
        tokio::time::sleep(Duration::from_millis(300)).await;
        for seq in 0..100u16 {
            client.send_rtp(seq).await?;
            agent_rtc.send_rtp(seq).await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        calls.push((id, client, agent_rtc));
    }
    // Mid-call (before the end), the first second of media is already on disk.
    let dir = server
        .data_dir()
        .join("recordings/capture")
        .join(&calls[0].0);
    let mut midway = 0;
    for entry in std::fs::read_dir(&dir)? {
        let bytes = std::fs::read(entry?.path())?;
        midway += read(&bytes).map(|c| c.records.len()).unwrap_or(0);
    }
    assert!(midway > 0, "synced during the call");

    for (id, client, agent_rtc) in calls.drain(..) {
        api.expect(
            agent,
            "POST",
            &format!("/api/interactions/{id}/end"),
            None,
            200,
        )
        .await?;
        // The server closed the call: closing the peers may only find them closed.
        let _ = client.close().await;
        let _ = agent_rtc.close().await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut files: Vec<_> = std::fs::read_dir(&dir)?
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        4,
        "client and agent, audio and video: {files:?}"
    );
    for path in &files {
        let capture = read(&std::fs::read(path)?)?;
        let h = &capture.header;
        let frames: Vec<_> = capture
            .records
            .iter()
            .filter_map(|r| match r {
                Record::Frame(f) => Some(f),
                _ => None,
            })
            .collect();
        println!(
            "{}: {} {} {} at {} Hz, {} frames, closed {}, torn bytes {}",
            path.file_name().unwrap().to_string_lossy(),
            h.role,
            h.kind,
            h.codec,
            h.clock_rate,
            frames.len(),
            capture.closed,
            capture.torn_bytes
        );
        assert_eq!(h.call, calls_id(&dir));
        assert!(capture.closed, "the end of the call closes every file");
        assert_eq!(capture.torn_bytes, 0);
        assert!(frames.len() >= 95, "{} frames of 100", frames.len());
        let expected_codec = match (h.role.as_str(), h.kind.as_str()) {
            (_, "audio") => "opus",
            ("client", "video") => "vp8",
            ("agent", "video") => "h264",
            other => panic!("{other:?}"),
        };
        assert_eq!(h.codec, expected_codec);
        assert_eq!(
            h.clock_rate,
            if h.kind == "audio" { 48_000 } else { 90_000 }
        );
        assert!(
            frames
                .windows(2)
                .all(|w| w[1].seq_first > w[0].seq_first && w[1].arrival_us >= w[0].arrival_us)
        );
        // The payloads are what the publisher sent (tagged with its name).
        let tag = if h.role == "client" {
            "client-"
        } else {
            "agent-"
        };
        assert!(
            frames
                .iter()
                .all(|f| String::from_utf8_lossy(&f.payload).contains(tag))
        );
        // 100 packets over ~2 s.
        let span = frames.last().unwrap().arrival_us - frames[0].arrival_us;
        assert!((1_500_000..4_000_000).contains(&span), "{span} µs");
    }
    let unrecorded = server.data_dir().join("recordings/capture");
    let rooms: Vec<_> = std::fs::read_dir(&unrecorded)?
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(rooms.len(), 1, "only the recorded call: {rooms:?}");
    assert!(server.metric("vchat_recorder_capture_frames_total").await? >= 380.0);
    server.stop().await
}

fn calls_id(dir: &std::path::Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}
