//! Signaling for one participant, in vchat's protocol (docs/signaling.md) or in
//! janus's videoroom API over its WebSocket transport, so the same load runs on both.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::media::{Command, MediaThread, Publish};

/// Ids of peers (one per RTCPeerConnection), unique in the process.
pub fn next_peer_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

async fn ask<T>(
    media: &MediaThread,
    make: impl FnOnce(oneshot::Sender<anyhow::Result<T>>) -> Command,
) -> anyhow::Result<T> {
    let (reply, answer) = oneshot::channel();
    media.send(make(reply));
    answer.await.context("media thread stopped")?
}

/// One vchat participant: joins with `token`, publishes, answers the SFU's offers, and
/// stays until `stop`.
pub async fn vchat_participant(
    ws_url: String,
    token: String,
    media: Arc<MediaThread>,
    publish: Publish,
    measure_first_frame: bool,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let joined_at = measure_first_frame.then(Instant::now);
    let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await?;
    let (mut tx, mut rx) = ws.split();
    tx.send(Message::text(
        json!({"type": "join", "token": token}).to_string(),
    ))
    .await?;
    let id = next_peer_id();
    let mut offered = false;
    loop {
        tokio::select! {
            message = rx.next() => {
                let Some(Ok(message)) = message else { bail!("signaling closed") };
                let Message::Text(text) = message else {
                    if let Message::Close(frame) = message { bail!("signaling closed: {frame:?}") }
                    continue;
                };
                let m: Value = serde_json::from_str(&text)?;
                match m["type"].as_str() {
                    Some("welcome") if !offered => {
                        offered = true;
                        let sdp = ask(&media, |reply| Command::Offer { id, publish, joined_at, reply }).await?;
                        tx.send(Message::text(json!({"type": "offer", "sdp": sdp}).to_string())).await?;
                    }
                    Some("answer") => media.send(Command::RemoteAnswer { id, sdp: text_of(&m, "sdp") }),
                    Some("offer") => {
                        let sdp = text_of(&m, "sdp");
                        let answer = ask(&media, |reply| Command::RemoteOffer { id, sdp, reply }).await?;
                        tx.send(Message::text(json!({"type": "answer", "sdp": answer}).to_string())).await?;
                    }
                    Some("error") => eprintln!("vchat error: {m}"),
                    _ => {}
                }
            }
            _ = stop.changed() => {
                let _ = tx.send(Message::text(json!({"type": "leave"}).to_string())).await;
                return Ok(());
            }
        }
    }
}

fn text_of(m: &Value, key: &str) -> String {
    m[key].as_str().unwrap_or_default().to_string()
}

/// A WebSocket session with janus: requests by transaction, events by handle.
pub struct Janus {
    tx: Mutex<
        futures_util::stream::SplitSink<
            tokio_tungstenite::WebSocketStream<
                tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
            >,
            Message,
        >,
    >,
    pending: Arc<std::sync::Mutex<HashMap<String, oneshot::Sender<Value>>>>,
    session: AtomicU64,
    next_tx: AtomicU64,
}

impl Janus {
    /// Connects and creates a session. Events that answer no request go to the returned
    /// receiver.
    pub async fn connect(
        url: &str,
    ) -> anyhow::Result<(Arc<Janus>, mpsc::UnboundedReceiver<Value>)> {
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "janus-protocol".parse()?);
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        let (tx, mut rx) = ws.split();
        let pending: Arc<std::sync::Mutex<HashMap<String, oneshot::Sender<Value>>>> =
            Default::default();
        let (events_tx, events) = mpsc::unbounded_channel();
        {
            let pending = pending.clone();
            tokio::spawn(async move {
                while let Some(Ok(message)) = rx.next().await {
                    let Message::Text(text) = message else {
                        continue;
                    };
                    let Ok(m) = serde_json::from_str::<Value>(&text) else {
                        continue;
                    };
                    // "ack" only says a plugin message arrived; its answer comes later.
                    if m["janus"] == "ack" {
                        continue;
                    }
                    let waiter = m["transaction"]
                        .as_str()
                        .and_then(|t| pending.lock().ok()?.remove(t));
                    match waiter {
                        Some(waiter) => {
                            let _ = waiter.send(m);
                        }
                        None => {
                            let _ = events_tx.send(m);
                        }
                    }
                }
            });
        }
        let janus = Arc::new(Janus {
            tx: Mutex::new(tx),
            pending,
            session: AtomicU64::new(0),
            next_tx: AtomicU64::new(1),
        });
        let created = janus.request(json!({"janus": "create"})).await?;
        janus.session.store(
            created["data"]["id"].as_u64().context("session id")?,
            Ordering::Relaxed,
        );
        {
            // Janus drops sessions silent for 60 s.
            let janus = Arc::downgrade(&janus);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(25)).await;
                    let Some(janus) = janus.upgrade() else { return };
                    let _ = janus.send(json!({"janus": "keepalive"})).await;
                }
            });
        }
        Ok((janus, events))
    }

    async fn send(&self, mut body: Value) -> anyhow::Result<String> {
        let transaction = format!("t{}", self.next_tx.fetch_add(1, Ordering::Relaxed));
        body["transaction"] = json!(transaction);
        let session = self.session.load(Ordering::Relaxed);
        if session != 0 {
            body["session_id"] = json!(session);
        }
        self.tx
            .lock()
            .await
            .send(Message::text(body.to_string()))
            .await?;
        Ok(transaction)
    }

    /// Sends a request and waits for the answer to its transaction.
    pub async fn request(&self, mut body: Value) -> anyhow::Result<Value> {
        let transaction = format!("t{}", self.next_tx.fetch_add(1, Ordering::Relaxed));
        let (waiter, answer) = oneshot::channel();
        self.pending
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .insert(transaction.clone(), waiter);
        body["transaction"] = json!(transaction);
        let session = self.session.load(Ordering::Relaxed);
        if session != 0 {
            body["session_id"] = json!(session);
        }
        self.tx
            .lock()
            .await
            .send(Message::text(body.to_string()))
            .await?;
        let answer = tokio::time::timeout(Duration::from_secs(20), answer)
            .await
            .context("janus did not answer")??;
        if answer["janus"] == "error" || answer["plugindata"]["data"]["error"].is_string() {
            bail!("janus refused {}: {answer}", body["body"]["request"]);
        }
        Ok(answer)
    }

    /// Attaches a videoroom handle.
    pub async fn attach(&self) -> anyhow::Result<u64> {
        let attached = self
            .request(json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}))
            .await?;
        attached["data"]["id"].as_u64().context("handle id")
    }

    /// A videoroom request on `handle`, with an optional JSEP.
    pub async fn message(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut m = json!({"janus": "message", "handle_id": handle, "body": body});
        if let Some(jsep) = jsep {
            m["jsep"] = jsep;
        }
        self.request(m).await
    }

    /// Tells janus we have no more candidates (they are all in our SDP).
    pub async fn trickle_done(&self, handle: u64) -> anyhow::Result<()> {
        self.send(
            json!({"janus": "trickle", "handle_id": handle, "candidate": {"completed": true}}),
        )
        .await?;
        Ok(())
    }
}

/// Creates videoroom `room` for up to `publishers` publishers.
pub async fn janus_create_room(url: &str, room: u64, publishers: usize) -> anyhow::Result<()> {
    let (janus, _events) = Janus::connect(url).await?;
    let handle = janus.attach().await?;
    janus
        .message(
            handle,
            json!({
                "request": "create", "room": room, "publishers": publishers, "bitrate": 0,
                "audiocodec": "opus", "videocodec": "vp8", "notify_joining": false,
                "audiolevel_ext": true, "transport_wide_cc_ext": true, "fir_freq": 0,
            }),
            None,
        )
        .await?;
    Ok(())
}

/// One janus participant: a publisher handle, and a subscriber handle per other
/// publisher in the room (now or later); stays until `stop`.
pub async fn janus_participant(
    url: String,
    room: u64,
    name: String,
    media: Arc<MediaThread>,
    publish: Publish,
    measure_first_frame: bool,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let joined_at = measure_first_frame.then(Instant::now);
    let (janus, mut events) = Janus::connect(&url).await?;
    let publisher = janus.attach().await?;
    let joined = janus
        .message(
            publisher,
            json!({"request": "join", "ptype": "publisher", "room": room, "display": name}),
            None,
        )
        .await?;
    let data = &joined["plugindata"]["data"];
    let mut feeds: Vec<u64> = data["publishers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["id"].as_u64())
        .collect();

    let pub_id = next_peer_id();
    let publishing = publish.audio || publish.video;
    if publishing {
        let offer = ask(&media, |reply| Command::Offer {
            id: pub_id,
            publish,
            joined_at,
            reply,
        })
        .await?;
        let configured = janus
            .message(
                publisher,
                json!({"request": "publish", "audio": publish.audio, "video": publish.video}),
                Some(json!({"type": "offer", "sdp": offer})),
            )
            .await?;
        let answer = configured["jsep"]["sdp"]
            .as_str()
            .context("janus answered without SDP")?;
        media.send(Command::RemoteAnswer {
            id: pub_id,
            sdp: answer.to_string(),
        });
        janus.trickle_done(publisher).await?;
    }

    let mut handles: HashMap<u64, u64> = HashMap::new(); // janus handle -> peer id
    handles.insert(publisher, pub_id);
    let mut subscribed = Vec::new();
    loop {
        for feed in feeds.drain(..) {
            if subscribed.contains(&feed) {
                continue;
            }
            subscribed.push(feed);
            let handle = janus.attach().await?;
            let attached = janus
                .message(handle, json!({"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": feed}]}), None)
                .await?;
            let offer = attached["jsep"]["sdp"]
                .as_str()
                .context("janus offered no SDP")?
                .to_string();
            let id = next_peer_id();
            handles.insert(handle, id);
            let answer = ask(&media, |reply| Command::Answer {
                id,
                sdp: offer,
                joined_at,
                reply,
            })
            .await?;
            janus
                .message(
                    handle,
                    json!({"request": "start", "room": room}),
                    Some(json!({"type": "answer", "sdp": answer})),
                )
                .await?;
            janus.trickle_done(handle).await?;
        }
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { bail!("janus closed the socket") };
                match event["janus"].as_str() {
                    Some("trickle") => {
                        let peer = event["sender"].as_u64().and_then(|h| handles.get(&h)).copied();
                        if let (Some(id), Some(candidate)) = (peer, event["candidate"]["candidate"].as_str()) {
                            media.send(Command::RemoteCandidate { id, candidate: candidate.to_string() });
                        }
                    }
                    Some("event") => {
                        let data = &event["plugindata"]["data"];
                        feeds.extend(data["publishers"].as_array().into_iter().flatten().filter_map(|p| p["id"].as_u64()));
                    }
                    _ => {}
                }
            }
            _ = stop.changed() => return Ok(()),
        }
    }
}
