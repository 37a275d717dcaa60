//! Stopping: new joins are refused and health turns 503 at once, calls in progress go on
//! for the drain time, then every session is told goodbye (close 1001) and the server
//! stops cleanly.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use vchat_tests::{TestServer, init_logging};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn join(base: &str, token: &str) -> anyhow::Result<Ws> {
    let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    ws.send(Message::text(
        json!({"type": "join", "token": token}).to_string(),
    ))
    .await?;
    Ok(ws)
}

/// Messages until the close frame; returns them and the close code.
async fn until_close(ws: &mut Ws, limit: Duration) -> (Vec<Value>, Option<u16>) {
    let mut seen = Vec::new();
    let end = tokio::time::Instant::now() + limit;
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(end, ws.next()).await {
        match message {
            Message::Text(t) => seen.push(serde_json::from_str(&t).unwrap_or(Value::Null)),
            Message::Close(frame) => return (seen, frame.map(|f| u16::from(f.code))),
            _ => {}
        }
    }
    (seen, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_refuses_new_joins_then_says_goodbye() -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_with(&[("VCHAT_SHUTDOWN_DRAIN_TIMEOUT_SECS", "2")]).await?;
    let base = server.base.clone();
    let tokens = server.create_room(&["in-call", "late"]).await?;
    let mut in_call = join(&base, &tokens[0]).await?;
    let (welcome, _) = until_close(&mut in_call, Duration::from_millis(500)).await;
    assert_eq!(
        welcome.first().map(|m| m["type"].clone()),
        Some(json!("welcome"))
    );

    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;

    let health = reqwest::get(format!("{base}/healthz")).await?;
    assert_eq!(health.status(), 503, "health says draining");
    let mut late = join(&base, &tokens[1]).await?;
    let (_, code) = until_close(&mut late, Duration::from_secs(2)).await;
    assert_eq!(code, Some(1013), "a new join is refused: try again later");

    // The call in progress is still up during the drain, then told goodbye.
    let (messages, code) = until_close(&mut in_call, Duration::from_secs(10)).await;
    assert!(
        messages
            .iter()
            .any(|m| m["type"] == "bye" && m["reason"] == "shutdown"),
        "{messages:?}"
    );
    assert_eq!(code, Some(1001));
    stopping.await??;
    assert!(
        reqwest::get(format!("{base}/healthz")).await.is_err(),
        "the server is gone"
    );
    Ok(())
}
