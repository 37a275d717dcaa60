//! Bad input on the signaling socket and the REST API gets a clear answer: an error
//! message, a 4xx, or a close code with a reason. Never a panic, never a hang.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use vchat_tests::{TestServer, init_logging};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &TestServer) -> anyhow::Result<Ws> {
    let url = format!("{}/ws", server.base.replacen("http://", "ws://", 1));
    Ok(tokio_tungstenite::connect_async(url).await?.0)
}

/// The next text message, or the close frame's (code, reason).
async fn next(ws: &mut Ws) -> Result<Value, (u16, String)> {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), ws.next()).await {
            Err(_) => return Err((0, "timeout".into())),
            Ok(None) => return Err((1006, "closed without a close frame".into())),
            Ok(Some(Err(e))) => return Err((1006, e.to_string())),
            Ok(Some(Ok(Message::Text(t)))) => {
                return Ok(serde_json::from_str(&t).expect("server sends JSON"));
            }
            Ok(Some(Ok(Message::Close(Some(f))))) => {
                return Err((u16::from(f.code), f.reason.to_string()));
            }
            Ok(Some(Ok(Message::Close(None)))) => return Err((1005, String::new())),
            Ok(Some(Ok(_))) => {}
        }
    }
}

async fn close_after(server: &TestServer, first: Message) -> (u16, String) {
    let mut ws = connect(server).await.expect("connects");
    ws.send(first).await.expect("sends");
    loop {
        match next(&mut ws).await {
            Ok(_) => continue,
            Err(close) => return close,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signaling_gets_close_codes_with_reasons() -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start().await?;
    let tokens = server.create_room(&["a", "b"]).await?;

    let (code, reason) = close_after(&server, Message::text("not json")).await;
    assert_eq!(
        (code, reason.as_str()),
        (4400, "the first message must be a JSON join message")
    );
    let (code, _) = close_after(
        &server,
        Message::text(json!({"type": "offer", "sdp": "x"}).to_string()),
    )
    .await;
    assert_eq!(code, 4400, "offer before join");
    let (code, reason) = close_after(
        &server,
        Message::text(json!({"type": "join", "token": "forged.token.here"}).to_string()),
    )
    .await;
    assert_eq!((code, reason.as_str()), (4401, "invalid join token"));
    let (code, _) = close_after(&server, Message::binary(vec![1, 2, 3])).await;
    assert_eq!(code, 1003, "binary frames");
    let (code, _) = close_after(&server, Message::text("x".repeat(200_000))).await;
    assert_eq!(code, 1009, "oversized message");

    // Joined: malformed messages get error messages and the session goes on.
    let mut ws = connect(&server).await?;
    ws.send(Message::text(
        json!({"type": "join", "token": tokens[0]}).to_string(),
    ))
    .await?;
    assert_eq!(next(&mut ws).await.expect("welcome")["type"], "welcome");
    ws.send(Message::text("{\"type\":\"fly\"}")).await?;
    let error = next(&mut ws).await.expect("an error message");
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "bad-message");
    ws.send(Message::text(
        json!({"type": "offer", "sdp": "v=0 garbage"}).to_string(),
    ))
    .await?;
    let error = next(&mut ws).await.expect("an error message");
    assert_eq!(
        (error["type"].as_str(), error["code"].as_str()),
        (Some("error"), Some("bad-sdp"))
    );
    ws.send(Message::text(
        json!({"type": "answer", "sdp": "v=0"}).to_string(),
    ))
    .await?;
    let error = next(&mut ws).await.expect("an error message");
    assert_eq!(error["code"], "unexpected-answer");
    // A flood is cut off.
    for _ in 0..300 {
        if ws
            .send(Message::text(
                json!({"type": "candidate", "candidate": null}).to_string(),
            ))
            .await
            .is_err()
        {
            break;
        }
    }
    let mut code = 0;
    while let Ok(_) | Err((0, _)) = next(&mut ws).await.inspect_err(|e| {
        code = e.0;
    }) {
        if code != 0 {
            break;
        }
    }
    assert_eq!(code, u16::from(CloseCode::Policy), "too many messages");

    // A second session of the same participant replaces the first.
    let mut first = connect(&server).await?;
    first
        .send(Message::text(
            json!({"type": "join", "token": tokens[1]}).to_string(),
        ))
        .await?;
    assert_eq!(next(&mut first).await.expect("welcome")["type"], "welcome");
    let mut second = connect(&server).await?;
    second
        .send(Message::text(
            json!({"type": "join", "token": tokens[1]}).to_string(),
        ))
        .await?;
    assert_eq!(next(&mut second).await.expect("welcome")["type"], "welcome");
    let mut replaced = None;
    while replaced.is_none() {
        if let Err(close) = next(&mut first).await {
            replaced = Some(close);
        }
    }
    assert_eq!(replaced.map(|c| c.0), Some(4409));

    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_api_requests_get_4xx_with_reasons() -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start().await?;
    let client = reqwest::Client::new();
    let url = format!("{}/api/rooms", server.base);

    let r = client.post(&url).send().await?;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = client.post(&url).bearer_auth("wrong").send().await?;
    assert_eq!(r.status(), 401);
    for (body, needle) in [
        ("{", "not a valid room request"),
        ("{\"room\":\"../etc\"}", "bad room id"),
        ("{\"participants\":[]}", "give 1 to"),
        ("{\"participants\":[{\"name\":\"\"}]}", "names are"),
        (
            "{\"participants\":[{\"name\":\"a\",\"id\":\"x\"},{\"name\":\"b\",\"id\":\"x\"}]}",
            "appears twice",
        ),
        ("{\"ttl_secs\":5}", "ttl_secs"),
        ("{\"unknown\":1}", "unknown field"),
        // A form feed is white space to Rust's `is_ascii_whitespace`, not to JSON: it is
        // a broken body, not a missing one.
        ("\u{c}", ""),
    ] {
        let r = client
            .post(&url)
            .bearer_auth(&server.api_token)
            .body(body)
            .send()
            .await?;
        assert_eq!(r.status(), 400, "{body}");
        let json: Value = r.json().await?;
        let message = json["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{body}: {message}");
    }
    let r = client
        .post(&url)
        .bearer_auth(&server.api_token)
        .body(vec![b' '; 100_000])
        .send()
        .await?;
    assert_eq!(r.status(), 413, "oversized body");
    let r = client
        .get(format!("{}/no/such/page", server.base))
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    server.stop().await
}
