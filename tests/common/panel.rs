//! A door panel's side of `GET /intercom` (docs/intercom.md) for the tests: connect
//! with the subprotocol, say `hello`, send JSON, read the next JSON (skipping vchat's
//! pings and any audio) or the close code.

use std::time::Duration;

use anyhow::Context as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::TestServer;

/// A panel's socket.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/intercom` asking for the protocol's subprotocol (and checks it is agreed).
pub async fn connect(server: &TestServer) -> anyhow::Result<Socket> {
    let mut request =
        format!("{}/intercom", server.base.replace("http://", "ws://")).into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "vchat-intercom.1".parse()?);
    let (socket, response) = tokio_tungstenite::connect_async(request).await?;
    anyhow::ensure!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            == Some("vchat-intercom.1"),
        "the subprotocol is agreed"
    );
    Ok(socket)
}

/// `hello` of `device` with `secret`, offering `codecs`.
pub fn hello(device: &str, secret: &str, codecs: &[&str]) -> Message {
    Message::text(
        json!({"type": "hello", "version": 1, "device": device, "secret": secret,
               "firmware": "4.2.0", "model": "AV-07T", "codecs": codecs})
        .to_string(),
    )
}

/// Tenant A's admin adds device `device` named `name`: the created record (`id`,
/// `tenant`, `secret`, ...).
pub async fn add_device(
    api: &crate::api::Api,
    org: &crate::api::Org,
    device: &str,
    name: &str,
) -> anyhow::Result<Value> {
    api.expect(
        org.as_("adminA"),
        "POST",
        "/api/devices",
        Some(&json!({"device": device, "name": name})),
        201,
    )
    .await
}

/// Connects and logs in; fails unless `welcome` comes back.
pub async fn login(
    server: &TestServer,
    device: &str,
    secret: &str,
    codecs: &[&str],
) -> anyhow::Result<Socket> {
    let mut socket = connect(server).await?;
    socket.send(hello(device, secret, codecs)).await?;
    let welcome = next_json(&mut socket).await?;
    anyhow::ensure!(welcome["type"] == "welcome", "{welcome}");
    Ok(socket)
}

/// Sends one JSON message.
pub async fn send(socket: &mut Socket, v: Value) -> anyhow::Result<()> {
    Ok(socket.send(Message::text(v.to_string())).await?)
}

/// The next JSON message, skipping vchat's pings and audio frames; within 10 s.
pub async fn next_json(socket: &mut Socket) -> anyhow::Result<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await?
            .context("socket ended")??
        {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t)?;
                if v["type"] != "ping" {
                    return Ok(v);
                }
            }
            Message::Close(f) => anyhow::bail!("closed: {f:?}"),
            _ => {}
        }
    }
}

/// The close code and reason vchat closes with, within 15 s.
pub async fn next_close(socket: &mut Socket) -> anyhow::Result<(u16, String)> {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), socket.next())
            .await?
            .context("socket ended")??
        {
            Message::Close(Some(f)) => return Ok((u16::from(f.code), f.reason.to_string())),
            Message::Close(None) => anyhow::bail!("closed without a code"),
            _ => {}
        }
    }
}
