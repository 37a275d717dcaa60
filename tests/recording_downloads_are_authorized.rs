//! A recorded call's file: merged when the call ends, downloadable by the admins and
//! supervisors of its tenant and by the call's agent — with `Range` — and by nobody
//! else: other agents and other tenants get 404, no or expired credentials 401.

use std::time::Duration;

use serde_json::{Value, json};
use vchat_tests::api::{Api, Auth, Org, PASSWORD};
use vchat_tests::{RtcClient, TestServer, VideoCodec};

const SESSION_SECS: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_are_downloaded_by_whom_they_belong_to() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let ttl = SESSION_SECS.to_string();
    let server = TestServer::start_with(&[
        ("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000"),
        ("VCHAT_RECORDINGS_MERGE_GRACE_MS", "300"),
        ("VCHAT_AUTH_SESSION_TTL_SECS", &ttl),
    ])
    .await?;
    let started = std::time::Instant::now();
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let agent = org.as_("agentA");
    let call = api
        .open_call(agent, &json!({ "client": { "name": "Rec" } }))
        .await?;
    let id = call.id.clone();

    let client = RtcClient::join(&server, &call.client_token, "client", VideoCodec::Vp8).await?;
    let agent_rtc = RtcClient::join(&server, &call.staff_token, "agent", VideoCodec::Vp8).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = api
        .expect(
            agent,
            "GET",
            &format!("/api/interactions/{id}/recording"),
            None,
            200,
        )
        .await?;
    assert_eq!(during["state"], "recording");
    let r = api
        .call(agent, "GET", &format!("/api/recordings/{id}/file"), None)
        .await?;
    assert_eq!(r.status, 409, "not ready while the call runs");
    for seq in 0..50u16 {
        client.send_rtp(seq).await?;
        agent_rtc.send_rtp(seq).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    api.expect(
        agent,
        "POST",
        &format!("/api/interactions/{id}/end"),
        None,
        200,
    )
    .await?;
    let recording = api
        .wait_for(
            agent,
            &format!("/api/interactions/{id}/recording"),
            30,
            |r| r["state"] == "ready" || r["state"] == "failed",
        )
        .await?;
    println!("recording: {recording}");
    assert_eq!(recording["state"], "ready", "{recording}");
    let size = recording["size"].as_u64().unwrap();
    assert!(size > 0);
    assert!(recording["duration_ms"].as_i64().unwrap() >= 900);

    // Who may download it.
    let path = format!("/api/recordings/{id}/file");
    let http = reqwest::Client::new();
    for who in [
        "adminA", "supA", "agentA", "agentA2", "supA1", "agentA1", "adminB", "supB", "agentB",
    ] {
        let Auth::Cookie(cookie) = org.as_(who) else {
            unreachable!()
        };
        let r = http
            .get(format!("{}{path}", server.base))
            .header("cookie", cookie)
            .send()
            .await?;
        let expected = if ["adminA", "supA", "agentA"].contains(&who) {
            200
        } else {
            404
        };
        assert_eq!(r.status().as_u16(), expected, "{who}");
        if expected == 200 {
            assert_eq!(r.headers()["content-length"].to_str()?, size.to_string());
            assert!(
                r.headers()["content-disposition"]
                    .to_str()?
                    .starts_with("attachment; filename=\"call-")
            );
            assert_eq!(r.headers()["accept-ranges"], "bytes");
            let body = r.bytes().await?;
            assert_eq!(body.len() as u64, size);
            assert_eq!(&body[..4], &[0x1a, 0x45, 0xdf, 0xa3], "a WebM (EBML) file");
        }
        let meta = api
            .call(
                org.as_(who),
                "GET",
                &format!("/api/interactions/{id}/recording"),
                None,
            )
            .await?;
        assert_eq!(meta.status, expected, "{who} metadata");
    }
    for anon in [
        Auth::None,
        Auth::Cookie("vchat_session=forged".into()),
        Auth::Bearer("vct_forged".into()),
    ] {
        let r = api.call(&anon, "GET", &path, None).await?;
        assert_eq!(r.status, 401, "{anon:?}");
    }
    let r = api
        .call(
            org.as_("supA"),
            "GET",
            "/api/recordings/01NOSUCHRECORDING000000000/file",
            None,
        )
        .await?;
    assert_eq!(r.status, 404);

    // Ranges.
    let Auth::Cookie(cookie) = org.as_("supA") else {
        unreachable!()
    };
    let whole = http
        .get(format!("{}{path}", server.base))
        .header("cookie", cookie)
        .send()
        .await?
        .bytes()
        .await?;
    for (range, start, end) in [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, size - 1),
        ("bytes=-50", size - 50, size - 1),
    ] {
        let r = http
            .get(format!("{}{path}", server.base))
            .header("cookie", cookie)
            .header("range", range)
            .send()
            .await?;
        assert_eq!(r.status().as_u16(), 206, "{range}");
        assert_eq!(
            r.headers()["content-range"].to_str()?,
            format!("bytes {start}-{end}/{size}")
        );
        let body = r.bytes().await?;
        assert_eq!(&body[..], &whole[start as usize..=end as usize], "{range}");
    }
    let r = http
        .get(format!("{}{path}", server.base))
        .header("cookie", cookie)
        .header("range", format!("bytes={size}-"))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 416);
    assert_eq!(
        r.headers()["content-range"].to_str()?,
        format!("bytes */{size}")
    );

    // The CDR names the recording.
    let mut cdr = Value::Null;
    for _ in 0..50 {
        cdr = api
            .expect(
                agent,
                "GET",
                &format!("/api/interactions/{id}/cdr"),
                None,
                200,
            )
            .await
            .unwrap_or(Value::Null);
        if cdr["recording_id"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cdr["recording_id"], id.as_str(), "{cdr}");

    // An expired session: 401.
    let fresh = api.login("agenta", PASSWORD).await?;
    let left = Duration::from_secs(SESSION_SECS + 1).saturating_sub(started.elapsed());
    tokio::time::sleep(left).await;
    let r = api.call(org.as_("agentA"), "GET", &path, None).await?;
    assert_eq!(r.status, 401, "the first session expired");
    let _ = fresh;
    client.close().await?;
    agent_rtc.close().await?;
    server.stop().await
}
