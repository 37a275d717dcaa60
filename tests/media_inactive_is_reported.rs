//! A connected party whose RTP stops is reported: `media.inactive` lands in the
//! interaction's events (and so in its CDR), and `media.active` when it comes back.
//! The client here is webrtc-rs, not vchat's code. Also: the metrics of the API
//! (per route template) and of interactions by state.

use std::time::Duration;

use serde_json::{Value, json};
use vchat_tests::api::{Api, Auth, Org};
use vchat_tests::{RtcClient, TestServer, VideoCodec};

async fn send_for(client: &RtcClient, from: u16, n: u16) -> anyhow::Result<()> {
    for seq in from..from + n {
        client.send_rtp(seq).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn kinds(api: &Api, auth: &Auth, id: &str) -> anyhow::Result<Vec<Value>> {
    let events = api
        .expect(
            auth,
            "GET",
            &format!("/api/interactions/{id}/events"),
            None,
            200,
        )
        .await?;
    Ok(events.as_array().unwrap().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_that_stops_sending_is_reported_inactive_then_active() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let server = TestServer::start_with(&[
        ("VCHAT_INTERACTIONS_MEDIA_INACTIVE_SECS", "1"),
        ("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000"),
    ])
    .await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let agent = org.as_("agentA");
    let (i, client_token) = api
        .open_link(agent, &json!({ "client": { "name": "Quiet" } }))
        .await?;
    let id = i["id"].as_str().unwrap().to_string();
    let client = RtcClient::join(&server, &client_token, "client", VideoCodec::Vp8).await?;

    send_for(&client, 0, 40).await?;
    // Silence: reported within a couple of housekeeping passes.
    let mut inactive = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        inactive = kinds(&api, agent, &id)
            .await?
            .into_iter()
            .find(|e| e["kind"] == "media.inactive");
        if inactive.is_some() {
            break;
        }
    }
    let inactive = inactive.expect("media.inactive after a second of silence");
    assert_eq!(inactive["data"]["participant"], "client");
    assert!(inactive["data"]["quiet_secs"].as_u64().unwrap() >= 1);
    // Once per quiet spell, not once a second.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let events = kinds(&api, agent, &id).await?;
    assert_eq!(
        events
            .iter()
            .filter(|e| e["kind"] == "media.inactive")
            .count(),
        1
    );

    send_for(&client, 40, 10).await?;
    let mut active = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        active = kinds(&api, agent, &id)
            .await?
            .iter()
            .any(|e| e["kind"] == "media.active");
        if active {
            break;
        }
    }
    assert!(active, "media.active when RTP resumes");
    assert!(server.metric("vchat_media_inactive_total").await? >= 1.0);

    // Metrics: interactions by state, requests by route template (no ids in labels).
    let text = reqwest::get(format!("{}/metrics", server.base))
        .await?
        .text()
        .await?;
    assert!(
        text.contains("vchat_interactions{state=\"connected\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("route=\"/api/interactions/{id}/events\""),
        "route templates"
    );
    assert!(!text.contains(&id), "no ids in metric labels");
    assert!(text.contains("vchat_http_request_duration_seconds_bucket"));

    // The CDR counts the quiet spell.
    api.expect(
        agent,
        "POST",
        &format!("/api/interactions/{id}/end"),
        None,
        200,
    )
    .await?;
    let mut cdr = Value::Null;
    for _ in 0..60 {
        let r = api
            .call(agent, "GET", &format!("/api/interactions/{id}/cdr"), None)
            .await?;
        if r.status == 200 {
            cdr = r.json;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cdr["media_inactive"], 1, "{cdr}");
    client.close().await?;
    server.stop().await
}
