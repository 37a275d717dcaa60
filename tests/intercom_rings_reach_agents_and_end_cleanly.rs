//! An intercom's ring becomes an interaction of kind `intercom` that every agent of its
//! tenant sees ringing (and no one else); one agent rejects it, and the panel hears
//! `rejected`; the next ring is answered by the first agent to ask (the second gets
//! 409), the panel joins the room and hears `answered`, the door opens from the call,
//! and the visitor hangs up: the interaction ends and its CDR says who answered, when,
//! and the door. A visitor who gives up while it rings leaves a cancelled call.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use vchat_tests::TestServer;
use vchat_tests::api::{Api, Org};
use vchat_tests::panel::{Socket, add_device, login, next_json, send};

async fn ring(socket: &mut Socket, call: u32, flat: &str) -> anyhow::Result<String> {
    send(
        socket,
        json!({"type": "ring", "call": call, "kind": "sip", "flat": flat}),
    )
    .await?;
    let ringing = next_json(socket).await?;
    assert_eq!(ringing["type"], "ringing", "{ringing}");
    assert_eq!(ringing["call"], call);
    Ok(ringing["interaction"]
        .as_str()
        .context("interaction")?
        .to_owned())
}

async fn state_becomes(api: &Api, org: &Org, id: &str, want: &str) -> anyhow::Result<Value> {
    for _ in 0..100 {
        let i = api
            .expect(
                org.as_("supA"),
                "GET",
                &format!("/api/interactions/{id}"),
                None,
                200,
            )
            .await?;
        if i["state"] == want {
            return Ok(i);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("interaction {id} never became {want}")
}

fn ringing_ids(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rings_reach_the_tenants_agents_and_end_cleanly() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let server = TestServer::start().await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let added = add_device(&api, &org, "lenina-5-2", "Lenina 5, entrance 2").await?;
    let secret = added["secret"].as_str().context("secret")?.to_owned();
    let mut door = login(&server, "lenina-5-2", &secret, &["PCMU"]).await?;

    // 1. A ring: every agent of tenant A sees it; tenant B's do not.
    let first = ring(&mut door, 1, "42").await?;
    for agent in ["agentA", "agentA2"] {
        let list = api
            .expect(org.as_(agent), "GET", "/api/intercom/calls", None, 200)
            .await?;
        assert_eq!(ringing_ids(&list), vec![first.clone()], "{agent}: {list}");
        assert_eq!(list[0]["kind"], "intercom");
        assert!(
            list[0]["link_url"].is_null(),
            "no link to an intercom's call"
        );
        assert_eq!(list[0]["agent"], "");
        assert_eq!(list[0]["client"]["name"], "Lenina 5, entrance 2 · 42");
        assert_eq!(list[0]["intercom"]["flat"], "42");
        assert_eq!(list[0]["intercom"]["call_kind"], "sip");
    }
    let other = api
        .expect(org.as_("agentB"), "GET", "/api/intercom/calls", None, 200)
        .await?;
    assert_eq!(ringing_ids(&other), Vec::<String>::new());
    api.expect(
        org.as_("agentB"),
        "GET",
        &format!("/api/interactions/{first}"),
        None,
        404,
    )
    .await?;
    api.expect(
        org.as_("agentB"),
        "POST",
        &format!("/api/interactions/{first}/answer"),
        None,
        404,
    )
    .await?;

    // agentA2 turns it down: the panel hears it, and it can no longer be answered.
    let rejected = api
        .expect(
            org.as_("agentA2"),
            "POST",
            &format!("/api/interactions/{first}/reject"),
            None,
            200,
        )
        .await?;
    assert_eq!(rejected["state"], "cancelled");
    assert_eq!(rejected["end_reason"], "rejected");
    let hangup = next_json(&mut door).await?;
    assert_eq!(
        (
            hangup["type"].as_str(),
            hangup["call"].as_u64(),
            hangup["reason"].as_str()
        ),
        (Some("hangup"), Some(1), Some("rejected"))
    );
    let late = api
        .call(
            org.as_("agentA"),
            "POST",
            &format!("/api/interactions/{first}/answer"),
            None,
        )
        .await?;
    assert_eq!(late.status, 409, "{}", late.json);

    // 2. The next ring is answered by agentA; agentA2 is too late.
    let second = ring(&mut door, 2, "7").await?;
    let join = api
        .expect(
            org.as_("agentA"),
            "POST",
            &format!("/api/interactions/{second}/answer"),
            None,
            200,
        )
        .await?;
    assert!(
        join["token"].as_str().is_some_and(|t| !t.is_empty()),
        "{join}"
    );
    assert_eq!(join["room"], second.as_str());
    let answered = next_json(&mut door).await?;
    assert_eq!(
        (
            answered["type"].as_str(),
            answered["call"].as_u64(),
            answered["by"].as_str()
        ),
        (Some("answered"), Some(2), Some("agentA"))
    );
    let again = api
        .call(
            org.as_("agentA2"),
            "POST",
            &format!("/api/interactions/{second}/answer"),
            None,
        )
        .await?;
    assert!(
        again.status == 409 || again.status == 404,
        "{} {}",
        again.status,
        again.json
    );
    // The panel is the call's client: it joined the room, so the call is connected.
    let connected = state_becomes(&api, &org, &second, "connected").await?;
    assert_eq!(connected["agent"], org.users["agentA"].as_str());
    assert_eq!(
        connected["intercom"]["answered_by"],
        org.users["agentA"].as_str()
    );
    // Only the one who answered (or a supervisor) opens the door.
    api.expect(
        org.as_("agentA2"),
        "POST",
        &format!("/api/interactions/{second}/door"),
        None,
        404,
    )
    .await?;
    let door_api = {
        let api = Api::new(&server.base);
        let auth = org.as_("agentA").clone();
        let second = second.clone();
        tokio::spawn(async move {
            api.call(
                &auth,
                "POST",
                &format!("/api/interactions/{second}/door"),
                Some(&json!({"relay": 2})),
            )
            .await
        })
    };
    let open = next_json(&mut door).await?;
    assert_eq!(open["type"], "open_door", "{open}");
    assert_eq!(open["relay"], 2);
    send(
        &mut door,
        json!({"type": "door_state", "relay": 2, "state": "open", "id": open["id"]}),
    )
    .await?;
    let reply = door_api.await??;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json, json!({"ok": true, "door": "open"}));

    // The visitor hangs up: the call ends, and its CDR tells the story.
    send(
        &mut door,
        json!({"type": "hangup", "call": 2, "reason": "caller"}),
    )
    .await?;
    let ended = state_becomes(&api, &org, &second, "ended").await?;
    assert_eq!(ended["end_reason"], "the visitor hung up");
    let mut cdr = Value::Null;
    for _ in 0..100 {
        let page = api
            .expect(org.as_("supA"), "GET", "/api/cdrs", None, 200)
            .await?;
        if let Some(c) = page["items"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["interaction"] == second.as_str()))
        {
            cdr = c.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cdr["kind"], "intercom", "{cdr}");
    assert_eq!(cdr["agent"], org.users["agentA"].as_str());
    assert_eq!(cdr["end_reason"], "the visitor hung up");
    let call = &cdr["intercom"];
    assert_eq!(call["device_id"], "lenina-5-2");
    assert_eq!(call["flat"], "7");
    assert_eq!(call["answered_by"], org.users["agentA"].as_str());
    assert_eq!(call["answered_by_name"], "agentA");
    assert_eq!(call["doors_opened"], 1);
    assert_eq!(call["door_opened_by"], org.users["agentA"].as_str());
    assert!(call["answered_at"].as_i64() >= call["rang_at"].as_i64());
    assert!(call["door_opened_at"].as_i64() >= call["answered_at"].as_i64());

    // 3. A visitor who gives up while it rings: cancelled, and no longer ringing.
    let third = ring(&mut door, 3, "1").await?;
    send(
        &mut door,
        json!({"type": "hangup", "call": 3, "reason": "caller"}),
    )
    .await?;
    let gave_up = state_becomes(&api, &org, &third, "cancelled").await?;
    assert_eq!(gave_up["end_reason"], "the visitor hung up");
    let list = api
        .expect(org.as_("agentA"), "GET", "/api/intercom/calls", None, 200)
        .await?;
    assert_eq!(ringing_ids(&list), Vec::<String>::new());

    // A call with a client has no door.
    let client_call = api
        .expect(
            org.as_("agentA"),
            "POST",
            "/api/interactions",
            Some(&json!({"client": {"name": "Ivan"}})),
            201,
        )
        .await?;
    let no_door = api
        .call(
            org.as_("agentA"),
            "POST",
            &format!(
                "/api/interactions/{}/door",
                client_call["id"].as_str().unwrap()
            ),
            None,
        )
        .await?;
    assert_eq!(no_door.status, 409, "{}", no_door.json);
    server.stop().await
}
