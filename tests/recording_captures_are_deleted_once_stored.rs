//! Capture files are a call's raw media: once its recording is merged and stored they
//! are only kept for `recordings.capture_retention_hours` (here 0: at once), and the
//! stored file stays downloadable. The publishers are webrtc-rs clients.

use std::time::Duration;

use serde_json::json;
use vchat_tests::api::{Api, Auth, Org};
use vchat_tests::{RtcClient, TestServer, VideoCodec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_go_once_the_recording_is_stored() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let server = TestServer::start_with(&[
        ("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000"),
        ("VCHAT_RECORDINGS_MERGE_GRACE_MS", "200"),
        ("VCHAT_RECORDINGS_CAPTURE_RETENTION_HOURS", "0"),
    ])
    .await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let agent = org.as_("agentA");
    let call = api
        .open_call(agent, &json!({ "client": { "name": "Kept briefly" } }))
        .await?;
    let id = call.id.clone();
    let client = RtcClient::join(&server, &call.client_token, "client", VideoCodec::Vp8).await?;
    let agent_rtc = RtcClient::join(&server, &call.staff_token, "agent", VideoCodec::Vp8).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for seq in 0..75u16 {
        client.send_rtp(seq).await?;
        agent_rtc.send_rtp(seq).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let captures = server
        .data_dir()
        .join("recordings")
        .join("capture")
        .join(&id);
    assert!(captures.is_dir(), "captured during the call");
    api.expect(
        agent,
        "POST",
        &format!("/api/interactions/{id}/end"),
        None,
        200,
    )
    .await?;
    let rec = api
        .wait_for(
            agent,
            &format!("/api/interactions/{id}/recording"),
            30,
            |r| r["state"] == "ready" || r["state"] == "failed",
        )
        .await?;
    assert_eq!(rec["state"], "ready", "{rec}");
    // The server marks the recording ready, then deletes the captures: a moment later.
    let mut waited_ms = 0;
    while captures.exists() && waited_ms < 10_000 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited_ms += 50;
    }
    assert!(
        !captures.exists(),
        "the captures are gone once the file is stored (waited {waited_ms} ms)"
    );
    let Auth::Cookie(cookie) = agent else {
        unreachable!()
    };
    let file = reqwest::Client::new()
        .get(format!("{}/api/recordings/{id}/file", server.base))
        .header("cookie", cookie)
        .send()
        .await?;
    assert_eq!(file.status(), 200);
    let bytes = file.bytes().await?;
    println!(
        "recording {} bytes ({} ms) stored; captures deleted",
        bytes.len(),
        rec["duration_ms"]
    );
    assert_eq!(bytes.len() as u64, rec["size"].as_u64().unwrap_or(0));
    let _ = client.close().await;
    let _ = agent_rtc.close().await;
    server.stop().await
}
