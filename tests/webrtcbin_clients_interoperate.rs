//! A WebRTC client that is not a browser — GStreamer's webrtcbin (Debian's 1.22,
//! `tests/gst/webrtcbin_client.py`) — against the SFU:
//! - it offers max-bundle (RFC 8843 §6: its video m-line has port 0 and
//!   `a=bundle-only`), and the others in the room are told of its audio *and* its video
//!   as soon as its offer is answered (before its DTLS, which here never comes up);
//! - with its own DTLS certificate, which is RSA, it cannot connect: vchat's DTLS
//!   verifies only ECDSA client certificates (as every browser has; str0m has no option
//!   for RSA). It is told so on the signaling socket, in words that name the
//!   certificate and what works, and the session ends at once instead of timing out.
//!
//! The test relays signaling between the server's `/ws` and the client's stdin/stdout;
//! everything runs in a network namespace the test makes (`vchat_tests::netns`): libnice
//! gathers no loopback candidate, so the media address is the namespace's veth one.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;
use vchat_tests::api::{Api, Org};
use vchat_tests::netns::Netns;
use vchat_tests::{RtcClient, TestServer, VideoCodec};

/// What a webrtcbin session came to.
struct Outcome {
    /// Every message the server sent on the signaling socket.
    heard: Vec<Value>,
    /// Whether webrtcbin's connection state reached `connected`.
    connected: bool,
    /// The offer webrtcbin made.
    offer: String,
}

/// Runs webrtcbin as the holder of `token` until it connects and `stay` has passed,
/// or the server ends the session, or `limit` runs out.
async fn webrtcbin(
    base: &str,
    token: &str,
    stay: Duration,
    limit: Duration,
) -> anyhow::Result<Outcome> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/gst/webrtcbin_client.py");
    let mut child = tokio::process::Command::new("/usr/bin/python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(if std::env::var_os("GST_DEBUG").is_some() { Stdio::inherit() } else { Stdio::null() })
        .kill_on_drop(true)
        .spawn()
        .context("python3 with GStreamer (python3-gi, gir1.2-gst-plugins-bad-1.0, gstreamer1.0-plugins-bad, gstreamer1.0-nice)")?;
    let mut to_child = child.stdin.take().context("stdin")?;
    let mut from_child = BufReader::new(child.stdout.take().context("stdout")?).lines();

    let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    ws.send(Message::text(
        json!({ "type": "join", "token": token }).to_string(),
    ))
    .await?;
    let mut outcome = Outcome {
        heard: Vec::new(),
        connected: false,
        offer: String::new(),
    };
    let deadline = tokio::time::Instant::now() + limit;
    let mut leave_at: Option<tokio::time::Instant> = None;
    loop {
        let until = leave_at.map_or(deadline, |l| l.min(deadline));
        tokio::select! {
            _ = tokio::time::sleep_until(until) => break,
            line = from_child.next_line() => {
                let Some(line) = line? else { break };
                let message: Value = serde_json::from_str(&line)?;
                match message["type"].as_str() {
                    Some("offer") => {
                        outcome.offer = message["sdp"].as_str().unwrap_or_default().to_string();
                        ws.send(Message::text(line)).await?;
                    }
                    Some("answer" | "candidate") => ws.send(Message::text(line)).await?,
                    Some("failed") => eprintln!("webrtcbin: {line}"),
                    Some("state") if message["connection"] == "connected" && !outcome.connected => {
                        outcome.connected = true;
                        leave_at = Some(tokio::time::Instant::now() + stay);
                    }
                    _ => {}
                }
            }
            frame = ws.next() => {
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        let message: Value = serde_json::from_str(&text)?;
                        if matches!(message["type"].as_str(), Some("answer" | "offer")) {
                            to_child.write_all(format!("{text}\n").as_bytes()).await?;
                        }
                        outcome.heard.push(message);
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                }
            }
        }
    }
    let _ = to_child.write_all(b"{\"type\":\"quit\"}\n").await;
    let _ = tokio::time::timeout(Duration::from_secs(3), child.wait()).await;
    Ok(outcome)
}

#[test]
fn webrtcbin_is_announced_and_told_why_its_rsa_certificate_cannot_connect() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    Netns::create("gst")?.run(rsa_call)
}

async fn rsa_call() -> anyhow::Result<()> {
    let server = TestServer::start_with(&[
        ("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000"),
        ("VCHAT_MEDIA_BIND_IP", Netns::ADDR),
    ])
    .await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let call = api
        .open_call(org.as_("agentA"), &json!({ "client": { "name": "Gst" } }))
        .await?;
    // The agent (webrtc-rs, ECDSA like every browser) is in the room first.
    let agent = RtcClient::join(&server, &call.staff_token, "agent", VideoCodec::Vp8).await?;

    let started = Instant::now();
    let outcome = webrtcbin(
        &server.base,
        &call.client_token,
        Duration::from_secs(1),
        Duration::from_secs(25),
    )
    .await?;
    let took = started.elapsed();
    assert!(
        outcome.offer.contains("m=video 0 ") && outcome.offer.contains("a=bundle-only"),
        "webrtcbin offers max-bundle: {}",
        outcome.offer
    );
    assert!(
        !outcome.connected,
        "an RSA client connected: then say RSA works"
    );
    let error = outcome
        .heard
        .iter()
        .find(|m| m["type"] == "error")
        .with_context(|| format!("no error message: {:?}", outcome.heard))?;
    println!(
        "webrtcbin was told, {:.1} s after it started: {error}",
        took.as_secs_f64()
    );
    assert_eq!(error["code"], "unsupported-certificate", "{error}");
    let text = error["message"].as_str().unwrap_or_default();
    assert!(text.contains("RSA") && text.contains("ECDSA"), "{text}");
    assert!(
        outcome.heard.iter().any(|m| m["type"] == "bye"),
        "then the session ends: {:?}",
        outcome.heard
    );
    assert!(
        took < Duration::from_secs(15),
        "told at once, not after the connect timeout: {took:?}"
    );

    // Its bundle-only video was announced to the agent like its audio.
    let announced: Vec<String> = agent
        .heard()
        .iter()
        .filter(|m| m["type"] == "track-added" && m["participant"] == "client")
        .map(|m| m["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    println!("the agent was told of webrtcbin's tracks: {announced:?}");
    assert!(
        announced.contains(&"audio".to_string()) && announced.contains(&"video".to_string()),
        "{announced:?}"
    );
    agent.close().await?;
    server.stop().await
}
