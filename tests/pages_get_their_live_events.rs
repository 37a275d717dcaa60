//! `GET /api/live`: a page's one socket for live updates. Staff (by their session
//! cookie) get the events of the calls they see, an agent not another agent's; the
//! call's client (by its join token) gets its own chat with the message itself, and
//! nothing of the delivery or the agent's side; a socket that says nothing, or the
//! wrong thing, is closed with a code and a reason.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vchat_tests::TestServer;
use vchat_tests::api::{Api, Auth, Org};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn live(base: &str, cookie: Option<&str>, token: Option<&str>) -> anyhow::Result<Socket> {
    let mut request =
        format!("{}/api/live", base.replace("http://", "ws://")).into_client_request()?;
    if let Some(c) = cookie {
        request.headers_mut().insert("cookie", c.parse()?);
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    let hello = match token {
        Some(t) => json!({ "type": "hello", "token": t }),
        None => json!({ "type": "hello" }),
    };
    ws.send(Message::text(hello.to_string())).await?;
    Ok(ws)
}

/// The messages that arrive within `wait`, until a close (returned as `close:<code>`).
async fn read_for(ws: &mut Socket, wait: Duration) -> Vec<Value> {
    let mut out = Vec::new();
    let end = tokio::time::Instant::now() + wait;
    while let Ok(Some(Ok(m))) = tokio::time::timeout_at(end, ws.next()).await {
        match m {
            Message::Text(t) => out.push(serde_json::from_str(&t).unwrap()),
            Message::Close(c) => {
                out.push(json!(format!(
                    "close:{}",
                    c.map_or(0, |c| u16::from(c.code))
                )));
                break;
            }
            _ => {}
        }
    }
    out
}

fn kinds(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m["type"] == "event")
        .map(|m| m["event"]["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_page_gets_the_events_it_may_see() -> anyhow::Result<()> {
    let server =
        TestServer::start_with(&[("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000")]).await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let cookie = |name: &str| match org.as_(name) {
        Auth::Cookie(c) => c.clone(),
        _ => unreachable!("users sign in with cookies"),
    };
    let mut agent = live(&server.base, Some(&cookie("agentA")), None).await?;
    let mut other = live(&server.base, Some(&cookie("agentA2")), None).await?;
    let mut sup = live(&server.base, Some(&cookie("supA")), None).await?;
    for ws in [&mut agent, &mut other, &mut sup] {
        let ready = read_for(ws, Duration::from_millis(500)).await;
        assert_eq!(ready[0]["type"], "ready", "{ready:?}");
        assert_eq!(ready[0]["audience"], "staff");
    }

    let (i, token) = api
        .open_link(org.as_("agentA"), &json!({ "client": { "name": "Live" } }))
        .await?;
    let id = i["id"].as_str().unwrap();
    let mut client = live(&server.base, None, Some(&token)).await?;
    let ready = read_for(&mut client, Duration::from_millis(500)).await;
    assert_eq!(ready[0]["audience"], "client", "{ready:?}");
    api.expect(
        org.as_("agentA"),
        "POST",
        &format!("/api/interactions/{id}/messages"),
        Some(&json!({ "text": "live hello" })),
        201,
    )
    .await?;
    api.expect(
        &Auth::Bearer(token.clone()),
        "POST",
        &format!("/api/interactions/{id}/client-state"),
        Some(&json!({ "state": "connecting" })),
        204,
    )
    .await?;

    let seen = read_for(&mut agent, Duration::from_millis(800)).await;
    assert!(
        kinds(&seen).contains(&"chat.message".to_string()),
        "{seen:?}"
    );
    assert!(
        kinds(&seen).contains(&"client.state".to_string()),
        "{seen:?}"
    );
    let chat = seen
        .iter()
        .find(|m| m["event"]["kind"] == "chat.message")
        .unwrap();
    assert_eq!(
        chat["message"]["text"], "live hello",
        "the message comes with its event"
    );
    let sup_seen = read_for(&mut sup, Duration::from_millis(300)).await;
    assert!(
        kinds(&sup_seen).contains(&"client.state".to_string()),
        "supervisors see their tenant's calls"
    );
    let other_seen = read_for(&mut other, Duration::from_millis(300)).await;
    assert!(
        kinds(&other_seen).is_empty(),
        "another agent's call is not shown: {other_seen:?}"
    );
    let client_seen = read_for(&mut client, Duration::from_millis(300)).await;
    assert_eq!(
        kinds(&client_seen),
        ["chat.message"],
        "the client sees its chat only: {client_seen:?}"
    );
    assert_eq!(client_seen[0]["message"]["text"], "live hello");

    // Refusals: bad credentials, not a hello, nothing at all.
    let mut forged = live(&server.base, None, Some("not-a-token")).await?;
    assert_eq!(
        read_for(&mut forged, Duration::from_secs(1)).await,
        [json!("close:4401")]
    );
    let mut nobody = live(&server.base, None, None).await?;
    assert_eq!(
        read_for(&mut nobody, Duration::from_secs(1)).await,
        [json!("close:4401")]
    );
    let (mut rude, _) = tokio_tungstenite::connect_async(format!(
        "{}/api/live",
        server.base.replace("http://", "ws://")
    ))
    .await?;
    rude.send(Message::text("{\"type\":\"subscribe\"}")).await?;
    assert_eq!(
        read_for(&mut rude, Duration::from_secs(1)).await,
        [json!("close:4400")]
    );
    server.stop().await
}
