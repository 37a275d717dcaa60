//! One browser's signaling WebSocket, from upgrade to close.
//!
//! The socket carries JSON text messages (see [`super::messages`]). The first must be
//! `join` with a valid token, within `signaling.join_timeout_secs`. After that, SDP and
//! candidates go to the SFU, and the SFU's signals come back, until either side ends
//! the session. Every way it can end has a close code and a reason.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use vchat_sfu::{ParticipantId, PeerSignal, RoomId};

use super::messages::{ClientMessage, Participant, ServerMessage, close, close_for};
use crate::app::App;
use crate::auth::token::unix_now;

/// How often the server pings an idle socket.
const PING_INTERVAL: Duration = Duration::from_secs(20);
/// A socket silent for this long (not even a pong) is closed.
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// Why a join is refused while the server stops.
const DRAINING: &str = "the server is shutting down; try again";
/// Unparseable messages tolerated before the socket is closed.
const BAD_MESSAGE_LIMIT: u32 = 10;

/// `GET /ws`: upgrades to the signaling WebSocket.
pub async fn upgrade(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(origin) = check_origin(&headers, &app) {
        app.metrics
            .signaling_rejected
            .with_label_values(&["origin"])
            .inc();
        return (
            StatusCode::FORBIDDEN,
            format!("origin {origin:?} may not open the signaling socket"),
        )
            .into_response();
    }
    let max = app.config.signaling.max_message_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            app.metrics.signaling_sessions.inc();
            let (code, reason) = run(&app, socket).await;
            app.metrics.signaling_sessions.dec();
            tracing::debug!(code, reason, "signaling socket closed");
        })
}

/// Browsers send `Origin` with every WebSocket handshake; a page from a foreign site
/// must not ride on a visitor's network position (cross-site WebSocket hijacking).
/// Programs that send no `Origin` at all are not browsers and are let through.
fn check_origin(headers: &HeaderMap, app: &App) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let same_host = origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host);
    let listed = app.config.allowed_origins.iter().any(|o| o == origin);
    let public = origin == app.public_base;
    if same_host || listed || public {
        Ok(())
    } else {
        Err(origin.to_string())
    }
}

/// A message that could not be sent: the socket is gone.
struct Gone;

struct Conn {
    socket: WebSocket,
    last_heard: Instant,
}

impl Conn {
    async fn send(&mut self, app: &App, message: &ServerMessage) -> Result<(), Gone> {
        let text = serde_json::to_string(message).expect("server messages serialize");
        app.metrics
            .signaling_messages
            .with_label_values(&["out"])
            .inc();
        self.socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|_| Gone)
    }

    async fn close(mut self, app: &App, code: u16, reason: &'static str) -> (u16, &'static str) {
        if code != close::NORMAL {
            app.metrics
                .signaling_rejected
                .with_label_values(&[reason_label(code)])
                .inc();
        }
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = self.socket.send(Message::Close(Some(frame))).await;
        (code, reason)
    }

    /// The next text message, or how the socket ended.
    async fn next_text(&mut self) -> Result<String, (u16, &'static str)> {
        loop {
            match self.socket.recv().await {
                None | Some(Ok(Message::Close(_))) => {
                    return Err((close::NORMAL, "closed by the browser"));
                }
                Some(Ok(Message::Text(text))) => {
                    self.last_heard = Instant::now();
                    return Ok(text.to_string());
                }
                Some(Ok(Message::Binary(_))) => {
                    return Err((
                        close::UNSUPPORTED_DATA,
                        "binary messages are not part of the protocol",
                    ));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => self.last_heard = Instant::now(),
                Some(Err(e)) => {
                    let text = e.to_string();
                    if text.contains("too long") || text.contains("Space limit") {
                        return Err((close::TOO_BIG, "message too big"));
                    }
                    return Err((close::PROTOCOL, "broken WebSocket framing"));
                }
            }
        }
    }
}

fn reason_label(code: u16) -> &'static str {
    match code {
        close::GOING_AWAY => "shutdown",
        close::UNSUPPORTED_DATA => "binary",
        close::POLICY => "rate",
        close::TOO_BIG => "too_big",
        close::INTERNAL => "internal",
        close::TRY_AGAIN_LATER => "draining",
        close::PROTOCOL => "protocol",
        close::UNAUTHORIZED => "token",
        close::ROOM_FULL => "room_full",
        close::TIMEOUT => "timeout",
        close::REPLACED => "replaced",
        _ => "other",
    }
}

/// Sustained `rate` messages per second, bursts of twice that.
struct TokenBucket {
    tokens: f64,
    rate: f64,
    at: Instant,
}

impl TokenBucket {
    fn new(rate: u32) -> TokenBucket {
        TokenBucket {
            tokens: 2.0 * f64::from(rate),
            rate: f64::from(rate),
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate)
            .min(2.0 * self.rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

async fn run(app: &Arc<App>, socket: WebSocket) -> (u16, &'static str) {
    let mut conn = Conn {
        socket,
        last_heard: Instant::now(),
    };
    if app.is_draining() {
        return conn.close(app, close::TRY_AGAIN_LATER, DRAINING).await;
    }

    // The first message must be a join.
    let join_timeout = Duration::from_secs(app.config.signaling.join_timeout_secs);
    let first = match tokio::time::timeout(join_timeout, conn.next_text()).await {
        Err(_) => {
            return conn
                .close(app, close::TIMEOUT, "no join message in time")
                .await;
        }
        Ok(Err((code, reason))) => return conn.close(app, code, reason).await,
        Ok(Ok(text)) => text,
    };
    app.metrics
        .signaling_messages
        .with_label_values(&["in"])
        .inc();
    let token = match serde_json::from_str::<ClientMessage>(&first) {
        Ok(ClientMessage::Join { token }) => token,
        Ok(_) => {
            return conn
                .close(app, close::PROTOCOL, "the first message must be join")
                .await;
        }
        Err(_) => {
            return conn
                .close(
                    app,
                    close::PROTOCOL,
                    "the first message must be a JSON join message",
                )
                .await;
        }
    };
    let claims = match app.signer.verify(&token, unix_now()) {
        Ok(claims) => claims,
        Err(e) => {
            tracing::debug!("join refused: {e}");
            let reason = match e {
                crate::auth::token::TokenError::Expired => "join token expired",
                _ => "invalid join token",
            };
            return conn.close(app, close::UNAUTHORIZED, reason).await;
        }
    };
    let (Ok(room), Ok(participant)) = (RoomId::new(&claims.room), ParticipantId::new(&claims.sub))
    else {
        return conn
            .close(
                app,
                close::UNAUTHORIZED,
                "join token names an invalid room or participant",
            )
            .await;
    };

    let (signals_tx, mut signals) = unbounded_channel();
    let session = match app.sfu.join(
        room.clone(),
        participant.clone(),
        claims.name.clone(),
        signals_tx,
    ) {
        Ok(session) => session,
        Err(_) => {
            return conn.close(app, close::TRY_AGAIN_LATER, DRAINING).await;
        }
    };

    // The SFU answers a join with Joined (or Closed, if the room is full).
    match signals.recv().await {
        Some(PeerSignal::Joined { participants }) => {
            let welcome = ServerMessage::Welcome {
                participant: Participant {
                    id: participant.to_string(),
                    name: claims.name.clone(),
                },
                room: room.to_string(),
                participants: participants.iter().map(Participant::from).collect(),
                ice_servers: app
                    .turn
                    .as_ref()
                    .map(|t| t.ice_servers(&participant.to_string()))
                    .unwrap_or_default(),
            };
            if conn.send(app, &welcome).await.is_err() {
                return (close::NORMAL, "closed by the browser");
            }
        }
        Some(PeerSignal::Closed { reason }) => {
            let (code, text) = close_for(reason);
            let _ = conn
                .send(
                    app,
                    &ServerMessage::Bye {
                        reason: reason.as_str().into(),
                    },
                )
                .await;
            return conn.close(app, code, text).await;
        }
        _ => {
            return conn
                .close(app, close::INTERNAL, "the SFU did not answer")
                .await;
        }
    }
    tracing::info!(%room, %participant, session = %session.id(), "signaling session joined");
    crate::interactions::participant_changed(app, room.as_str(), participant.as_str(), true).await;

    let result = joined_loop(app, &mut conn, &session, &mut signals).await;
    session.leave();
    crate::interactions::participant_changed(app, room.as_str(), participant.as_str(), false).await;
    match result {
        Ended::Browser => (close::NORMAL, "closed by the browser"),
        Ended::Close(code, reason) => conn.close(app, code, reason).await,
    }
}

enum Ended {
    /// The socket is gone; nothing to send.
    Browser,
    /// Close with this code and reason.
    Close(u16, &'static str),
}

async fn joined_loop(
    app: &Arc<App>,
    conn: &mut Conn,
    session: &vchat_sfu::Session,
    signals: &mut UnboundedReceiver<PeerSignal>,
) -> Ended {
    let mut bucket = TokenBucket::new(app.config.signaling.max_messages_per_second);
    let mut bad_messages = 0;
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    loop {
        tokio::select! {
            received = conn.next_text() => {
                let text = match received {
                    Ok(text) => text,
                    Err((close::NORMAL, _)) => return Ended::Browser,
                    Err((code, reason)) => return Ended::Close(code, reason),
                };
                app.metrics.signaling_messages.with_label_values(&["in"]).inc();
                if !bucket.take() {
                    return Ended::Close(close::POLICY, "too many messages");
                }
                let message = match serde_json::from_str::<ClientMessage>(&text) {
                    Ok(message) => message,
                    Err(e) => {
                        bad_messages += 1;
                        if bad_messages > BAD_MESSAGE_LIMIT {
                            return Ended::Close(close::PROTOCOL, "too many malformed messages");
                        }
                        let error = ServerMessage::Error { code: "bad-message".into(), message: e.to_string() };
                        if conn.send(app, &error).await.is_err() {
                            return Ended::Browser;
                        }
                        continue;
                    }
                };
                let sent = match message {
                    ClientMessage::Join { .. } => {
                        let error = ServerMessage::Error { code: "already-joined".into(), message: "this session has joined already".into() };
                        if conn.send(app, &error).await.is_err() {
                            return Ended::Browser;
                        }
                        Ok(())
                    }
                    ClientMessage::Offer { sdp } => session.offer(sdp),
                    ClientMessage::Answer { sdp } => session.answer(sdp),
                    ClientMessage::Candidate { candidate: Some(c) } => session.candidate(c.candidate),
                    ClientMessage::Candidate { candidate: None } => Ok(()),
                    ClientMessage::Leave {} => return Ended::Close(close::NORMAL, "left"),
                };
                if sent.is_err() {
                    return Ended::Close(close::GOING_AWAY, "the server is shutting down");
                }
            }
            signal = signals.recv() => {
                match signal {
                    Some(PeerSignal::Closed { reason }) => {
                        let _ = conn.send(app, &ServerMessage::Bye { reason: reason.as_str().into() }).await;
                        let (code, text) = close_for(reason);
                        return Ended::Close(code, text);
                    }
                    Some(signal) => {
                        if let Some(message) = ServerMessage::from_signal(signal)
                            && conn.send(app, &message).await.is_err() {
                                return Ended::Browser;
                            }
                    }
                    None => return Ended::Close(close::GOING_AWAY, "the server is shutting down"),
                }
            }
            _ = ping.tick() => {
                if conn.last_heard.elapsed() > IDLE_LIMIT {
                    return Ended::Close(close::TIMEOUT, "no sign of life from the browser");
                }
                if conn.socket.send(Message::Ping(Default::default())).await.is_err() {
                    return Ended::Browser;
                }
            }
        }
    }
}
