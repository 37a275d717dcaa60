//! The whole life of interactions through the REST API and the signaling socket:
//! create → link opened → client joins (connected) → agent joins → chat → end, with
//! every step an event in order; scheduled ones start on time, unanswered ones
//! expire, and bad requests get 4xx with a reason.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use vchat_tests::TestServer;
use vchat_tests::api::{Api, Auth, Org, signal_join};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn wait_state(api: &Api, auth: &Auth, id: &str, state: &str) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    loop {
        let i = api
            .expect(auth, "GET", &format!("/api/interactions/{id}"), None, 200)
            .await?;
        if i["state"] == state {
            return Ok(i);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{id} stayed {} (wanted {state})",
            i["state"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interaction_lives_from_creation_to_its_end() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let server =
        TestServer::start_with(&[("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000")]).await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let agent = org.as_("agentA");

    // Bad requests say what is wrong.
    for (body, needle) in [
        (
            json!({ "client": { "name": "Ivan", "phone": "8-999" } }),
            "client.phone",
        ),
        (
            json!({ "client": { "name": "Ivan", "telegram_chat": "not a chat" } }),
            "telegram_chat",
        ),
        (
            json!({ "client": { "name": "Ivan" }, "fields": { "nope": "x" } }),
            "fields.nope",
        ),
        (
            json!({ "client": { "name": "Ivan" }, "scheduled_at": now_ms() - 3_600_000 }),
            "scheduled_at",
        ),
        (
            json!({ "client": { "name": "Ivan" }, "video": "three_way" }),
            "video",
        ),
        (
            json!({ "client": { "name": "Ivan" }, "colour": "red" }),
            "colour",
        ),
        (json!({ "client": { "name": "\u{7}" } }), "client.name"),
        (json!([1, 2]), "must be a JSON object"),
    ] {
        let r = api
            .call(agent, "POST", "/api/interactions", Some(&body))
            .await?;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.json["error"], "bad-request");
        let message = r.json["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{body}: {message}");
    }

    let created = api
        .expect(
            agent,
            "POST",
            "/api/interactions",
            Some(&json!({
                "client": { "name": "Ivan Petrov", "phone": "+79991234567" },
                "fields": { "case": "C-1" },
                "video": "one_way",
                "max_quality": "medium",
            })),
            201,
        )
        .await?;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["state"], "waiting");
    assert_eq!(created["recording"], true);
    assert_eq!(created["agent"], org.users["agentA"].as_str());
    let link_url = created["link_url"].as_str().unwrap();
    let code = created["link"].as_str().unwrap();
    assert!(code.len() >= 8, "{code}");
    assert_eq!(link_url, format!("{}/j/{code}", server.base));

    // The link: its page binds nothing (link previews fetch it too); the client's
    // consent binds it to the device (a cookie); the same device again is fine,
    // another device is refused.
    for _ in 0..2 {
        let preview = api
            .call(&Auth::None, "GET", &format!("/j/{code}"), None)
            .await?;
        assert_eq!(preview.status, 200);
        assert!(
            preview.headers.get("set-cookie").is_none(),
            "a preview binds nothing"
        );
    }
    let info = api
        .expect(&Auth::None, "GET", &format!("/api/links/{code}"), None, 200)
        .await?;
    assert_eq!(info["company"], "Company A");
    assert_eq!(info["consent_text"], "We record this call.");
    assert_eq!(info["opened_here"], false);
    let version = info["consent_version"].as_str().unwrap().to_string();
    let no_consent = api
        .call(&Auth::None, "POST", &format!("/api/links/{code}"), None)
        .await?;
    assert_eq!(no_consent.status, 400, "{}", no_consent.json);
    let stale = api
        .call(
            &Auth::None,
            "POST",
            &format!("/api/links/{code}"),
            Some(&json!({ "consent": { "version": "0000ffff" } })),
        )
        .await?;
    assert_eq!(stale.status, 409, "{}", stale.json);
    let opened = api
        .call(
            &Auth::None,
            "POST",
            &format!("/api/links/{code}"),
            Some(&json!({ "consent": { "version": version } })),
        )
        .await?;
    assert_eq!(opened.status, 200, "{}", opened.json);
    let device = opened.headers["set-cookie"]
        .to_str()?
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let again = api
        .call(
            &Auth::Cookie(device.clone()),
            "POST",
            &format!("/api/links/{code}"),
            None,
        )
        .await?;
    assert_eq!(again.status, 200, "{}", again.json);
    assert_eq!(again.json["branding"]["company_name"], "Company A");
    assert_eq!(
        again.json["branding"]["consent_text"],
        "We record this call."
    );
    let here = api
        .expect(
            &Auth::Cookie(device.clone()),
            "GET",
            &format!("/api/links/{code}"),
            None,
            200,
        )
        .await?;
    assert_eq!(here["opened_here"], true);
    let client_token = again.json["token"].as_str().unwrap().to_string();
    let stranger = api
        .call(&Auth::None, "GET", &format!("/j/{code}"), None)
        .await?;
    assert_eq!(stranger.status, 410, "another device");
    let stranger = api
        .call(
            &Auth::None,
            "POST",
            &format!("/api/links/{code}"),
            Some(&json!({ "consent": { "version": version } })),
        )
        .await?;
    assert_eq!(stranger.status, 410, "another device");
    for bad in ["nosuchcode1", "..%2F..%2Fetc", "a", "%00"] {
        let r = api
            .call(&Auth::None, "POST", &format!("/api/links/{bad}"), None)
            .await?;
        assert_eq!(r.status, 404, "{bad}");
    }

    // The client joins: connected.
    let mut client_ws = signal_join(&server.base, &client_token).await?;
    let connected = wait_state(&api, agent, &id, "connected").await?;
    assert!(connected["connected_at"].as_i64().is_some());

    // The agent joins with a staff token.
    let join = api
        .expect(
            agent,
            "POST",
            &format!("/api/interactions/{id}/join"),
            None,
            200,
        )
        .await?;
    let _agent_ws = signal_join(&server.base, join["token"].as_str().unwrap()).await?;

    // Chat from both sides, kept in order.
    api.expect(
        agent,
        "POST",
        &format!("/api/interactions/{id}/messages"),
        Some(&json!({ "text": "Hello, show me the meter" })),
        201,
    )
    .await?;
    let client = Auth::Bearer(client_token.clone());
    api.expect(
        &client,
        "POST",
        &format!("/api/interactions/{id}/messages"),
        Some(&json!({ "text": "Here it is" })),
        201,
    )
    .await?;
    let r = api
        .call(
            &client,
            "POST",
            &format!("/api/interactions/{id}/messages"),
            Some(&json!({ "text": "" })),
        )
        .await?;
    assert_eq!(r.status, 400);
    let chat = api
        .expect(
            &client,
            "GET",
            &format!("/api/interactions/{id}/messages"),
            None,
            200,
        )
        .await?;
    let texts: Vec<&str> = chat
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Hello, show me the meter", "Here it is"]);
    assert_eq!(chat[1]["from"], "client");
    assert_eq!(chat[1]["name"], "Ivan Petrov");
    // The client's token opens this interaction only.
    let other = api
        .expect(
            agent,
            "POST",
            "/api/interactions",
            Some(&json!({ "client": { "name": "Other" } })),
            201,
        )
        .await?;
    let r = api
        .call(
            &client,
            "GET",
            &format!(
                "/api/interactions/{}/messages",
                other["id"].as_str().unwrap()
            ),
            None,
        )
        .await?;
    assert_eq!(r.status, 404);
    let r = api
        .call(&client, "GET", &format!("/api/interactions/{id}"), None)
        .await?;
    assert_eq!(r.status, 401, "the client is not staff");

    // Changes while live; some are refused by state.
    let patched = api
        .expect(
            agent,
            "PATCH",
            &format!("/api/interactions/{id}"),
            Some(&json!({ "recording": false, "fields": { "case": "C-2" } })),
            200,
        )
        .await?;
    assert_eq!(patched["recording"], false);
    assert_eq!(patched["fields"]["case"], "C-2");
    let r = api
        .call(
            agent,
            "PATCH",
            &format!("/api/interactions/{id}"),
            Some(&json!({ "scheduled_at": now_ms() + 60_000 })),
        )
        .await?;
    assert_eq!(r.status, 409, "{}", r.json);
    let r = api
        .call(
            agent,
            "POST",
            &format!("/api/interactions/{id}/cancel"),
            None,
        )
        .await?;
    assert_eq!(r.status, 409, "a connected call ends, it is not cancelled");

    // End: the room closes, the client's socket is told.
    let ended = api
        .expect(
            agent,
            "POST",
            &format!("/api/interactions/{id}/end"),
            Some(&json!({ "reason": "resolved" })),
            200,
        )
        .await?;
    assert_eq!(ended["state"], "ended");
    assert_eq!(ended["end_reason"], "resolved");
    assert_eq!(ended["ended_by"], org.users["agentA"].as_str());
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        use futures_util::StreamExt;
        while let Some(Ok(m)) = client_ws.next().await {
            if let tokio_tungstenite::tungstenite::Message::Close(c) = m {
                return c.map(|c| c.reason.to_string());
            }
        }
        None
    })
    .await?;
    assert_eq!(closed.as_deref(), Some("the call was ended"));
    for (method, path, body) in [
        ("POST", format!("/api/interactions/{id}/end"), None),
        (
            "PATCH",
            format!("/api/interactions/{id}"),
            Some(json!({ "recording": true })),
        ),
        ("POST", format!("/api/interactions/{id}/join"), None),
        (
            "POST",
            format!("/api/interactions/{id}/messages"),
            Some(json!({ "text": "late" })),
        ),
    ] {
        let r = api.call(agent, method, &path, body.as_ref()).await?;
        assert_eq!(r.status, 409, "{method} {path}: {}", r.json);
    }
    let r = api
        .call(&Auth::Cookie(device), "GET", &format!("/j/{code}"), None)
        .await?;
    assert_eq!(r.status, 410, "the link of an ended call is gone");

    // Every step is an event, in order.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = api
        .expect(
            agent,
            "GET",
            &format!("/api/interactions/{id}/events"),
            None,
            200,
        )
        .await?;
    let kinds: Vec<String> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match e["data"]["role"].as_str() {
            Some(role) => format!("{}:{role}", e["kind"].as_str().unwrap()),
            None => e["kind"].as_str().unwrap().to_string(),
        })
        .collect();
    assert_eq!(
        kinds[..11],
        [
            "interaction.created",
            "link.opened",
            "consent.given",
            "participant.joined:client",
            "interaction.connected",
            "recording.started",
            "participant.joined:agent",
            "chat.message",
            "chat.message",
            "interaction.updated",
            "interaction.ended",
        ],
        "{kinds:?}"
    );
    // After the end: the leaves (the recording's merge and the CDR follow later).
    let mut rest: Vec<String> = kinds[10..]
        .iter()
        .filter(|k| k.starts_with("participant."))
        .cloned()
        .collect();
    rest.sort();
    assert_eq!(
        rest,
        ["participant.left:agent", "participant.left:client"],
        "{kinds:?}"
    );
    let ids: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "event ids sort in publish order");

    // Scheduled: waits for its time, then the link works.
    let later = api
        .expect(
            agent,
            "POST",
            "/api/interactions",
            Some(&json!({
                "client": { "name": "Later", "telegram_chat": "123456789" },
                "scheduled_at": now_ms() + 1500,
            })),
            201,
        )
        .await?;
    assert_eq!(later["state"], "scheduled");
    let later_id = later["id"].as_str().unwrap();
    wait_state(&api, agent, later_id, "waiting").await?;
    let cancelled = api
        .expect(
            agent,
            "POST",
            &format!("/api/interactions/{later_id}/cancel"),
            None,
            200,
        )
        .await?;
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(cancelled["end_reason"], "cancelled by agent");

    // Lists: agents see their own; supervisors their scope; filters and paging.
    let own = api
        .expect(agent, "GET", "/api/interactions?limit=200", None, 200)
        .await?;
    assert_eq!(own["total"], 3);
    let a1 = org.as_("agentA1");
    api.expect(
        a1,
        "POST",
        "/api/interactions",
        Some(&json!({ "client": { "name": "Branch client" } })),
        201,
    )
    .await?;
    let sup = org.as_("supA");
    let all = api
        .expect(sup, "GET", "/api/interactions", None, 200)
        .await?;
    assert_eq!(all["total"], 4, "company A and its branch");
    let page = api
        .expect(sup, "GET", "/api/interactions?limit=2&offset=1", None, 200)
        .await?;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        page["items"][0]["id"], all["items"][1]["id"],
        "newest first, paged"
    );
    let waiting = api
        .expect(sup, "GET", "/api/interactions?state=waiting", None, 200)
        .await?;
    assert_eq!(waiting["total"], 2);
    let by_agent = api
        .expect(
            sup,
            "GET",
            &format!("/api/interactions?agent={}", org.users["agentA1"]),
            None,
            200,
        )
        .await?;
    assert_eq!(by_agent["total"], 1);
    let sup_b = api
        .expect(org.as_("supB"), "GET", "/api/interactions", None, 200)
        .await?;
    assert_eq!(sup_b["total"], 0, "another company sees none");
    for q in [
        "limit=0",
        "limit=1000",
        "state=flying",
        "offset=-1",
        "sort=$where",
    ] {
        let r = api
            .call(sup, "GET", &format!("/api/interactions?{q}"), None)
            .await?;
        assert_eq!(r.status, 400, "{q}");
    }
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_link_expires() -> anyhow::Result<()> {
    let server = TestServer::start_with(&[
        ("VCHAT_INTERACTIONS_LINK_TTL_SECS", "2"),
        ("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000"),
    ])
    .await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let agent = org.as_("agentB");
    let created = api
        .expect(
            agent,
            "POST",
            "/api/interactions",
            Some(&json!({ "client": { "name": "Slow" } })),
            201,
        )
        .await?;
    let id = created["id"].as_str().unwrap();
    let expired = wait_state(&api, agent, id, "expired").await?;
    assert_eq!(expired["end_reason"], "link expired");
    let r = api
        .call(
            &Auth::None,
            "GET",
            &format!("/j/{}", created["link"].as_str().unwrap()),
            None,
        )
        .await?;
    assert_eq!(r.status, 410);
    server.stop().await
}
