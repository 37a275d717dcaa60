//! A connected call whose room stays empty for `interactions.empty_end_secs` ends by
//! itself ("everybody left", by the system), so the CDR and the recording do not wait
//! for an agent who closed the tab; a rejoin within the window carries the call on.
//! The client then reports its survey once (in the CDR), and what only a client
//! reports is refused to staff.

use std::time::Duration;

use serde_json::{Value, json};
use vchat_tests::TestServer;
use vchat_tests::api::{Api, Auth, Org, signal_join};

async fn state_after(api: &Api, auth: &Auth, id: &str, wait: Duration) -> anyhow::Result<Value> {
    tokio::time::sleep(wait).await;
    api.expect(auth, "GET", &format!("/api/interactions/{id}"), None, 200)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_call_ends_by_itself_and_takes_one_survey() -> anyhow::Result<()> {
    let server = TestServer::start_with(&[
        ("VCHAT_INTERACTIONS_EMPTY_END_SECS", "2"),
        ("VCHAT_INTERACTIONS_CDR_GRACE_MS", "200"),
        ("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000"),
    ])
    .await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let agent = org.as_("agentA");
    let call = api
        .open_call(
            agent,
            &json!({ "client": { "name": "Leaver" }, "recording": false }),
        )
        .await?;
    let client = Auth::Bearer(call.client_token.clone());
    let id = call.id.clone();

    // The client's reports: its own; staff who see the call are refused.
    for (path, body) in [
        ("client-state", json!({ "state": "connecting" })),
        (
            "client-check",
            json!({ "camera": "denied", "microphone": "granted", "cameras": 0, "front_camera": false, "back_camera": false, "mic_level": 0.4, "audio_output": false }),
        ),
    ] {
        api.expect(
            &client,
            "POST",
            &format!("/api/interactions/{id}/{path}"),
            Some(&body),
            204,
        )
        .await?;
        let r = api
            .call(
                agent,
                "POST",
                &format!("/api/interactions/{id}/{path}"),
                Some(&body),
            )
            .await?;
        assert_eq!(r.status, 403, "{}", r.json);
    }
    let bad = api
        .call(&client, "POST", &format!("/api/interactions/{id}/client-check"), Some(&json!({ "camera": "granted", "microphone": "granted", "cameras": 1, "front_camera": true, "back_camera": false, "mic_level": 1.5, "audio_output": true })))
        .await?;
    assert_eq!(bad.status, 400, "{}", bad.json);
    let early = api
        .call(
            &client,
            "POST",
            &format!("/api/interactions/{id}/survey"),
            Some(&json!({ "score": 5 })),
        )
        .await?;
    assert_eq!(
        early.status, 409,
        "no survey before the end: {}",
        early.json
    );

    // Both join, the client leaves and comes back within the window: it goes on.
    let c = signal_join(&server.base, &call.client_token).await?;
    let a = signal_join(&server.base, &call.staff_token).await?;
    drop(c);
    drop(a);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let c = signal_join(&server.base, &call.client_token).await?;
    let i = state_after(&api, agent, &id, Duration::from_secs(3)).await?;
    assert_eq!(
        i["state"], "connected",
        "a rejoin within the window carries on"
    );

    // Everybody gone for longer: it ends by itself.
    drop(c);
    let i = state_after(&api, agent, &id, Duration::from_secs(4)).await?;
    assert_eq!(i["state"], "ended");
    assert_eq!(i["end_reason"], "everybody left");
    assert_eq!(i["ended_by"], "system");

    // The survey: once, validated, in the CDR.
    for bad in [
        json!({ "score": 0 }),
        json!({ "score": 6 }),
        json!({ "score": 3, "extra": 1 }),
    ] {
        let r = api
            .call(
                &client,
                "POST",
                &format!("/api/interactions/{id}/survey"),
                Some(&bad),
            )
            .await?;
        assert_eq!(r.status, 400, "{bad}: {}", r.json);
    }
    api.expect(
        &client,
        "POST",
        &format!("/api/interactions/{id}/survey"),
        Some(&json!({ "score": 4, "comment": "Clear\nand quick" })),
        204,
    )
    .await?;
    let again = api
        .call(
            &client,
            "POST",
            &format!("/api/interactions/{id}/survey"),
            Some(&json!({ "score": 1 })),
        )
        .await?;
    assert_eq!(again.status, 409, "{}", again.json);
    let mut cdr = Value::Null;
    for _ in 0..50 {
        cdr = api
            .call(agent, "GET", &format!("/api/interactions/{id}/cdr"), None)
            .await?
            .json;
        if cdr["survey_score"] == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cdr["survey_score"], 4, "{cdr}");
    assert_eq!(cdr["survey_comment"], "Clear\nand quick");
    assert!(cdr["consent"]["version"].is_string(), "{cdr}");
    assert_eq!(cdr["device_check"]["camera"], "denied", "{cdr}");
    let written = api
        .expect(
            agent,
            "GET",
            &format!("/api/interactions/{id}/events"),
            None,
            200,
        )
        .await?
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "cdr.written")
        .count();
    assert_eq!(
        written, 1,
        "one cdr.written per call, the survey's re-fold is silent"
    );
    server.stop().await
}
