//! The one WebSocket loop. It owns the socket and the clock; a [`Protocol`] — a state
//! machine without I/O, one per socket kind — decides what each message, input and
//! deadline means, and says so with [`Action`]s.
//!
//! The loop keeps what every kind shares: frames too big or broken close the socket
//! with a reason, binary frames are the protocol's to refuse, idle sockets are pinged
//! and closed when silent too long, every way out has a close code, and messages and
//! closes are counted.

use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use prometheus::IntCounterVec;
use tokio::sync::mpsc::UnboundedReceiver;

use super::close::{self, Close};

/// How often an idle socket is pinged.
pub const PING_INTERVAL: Duration = Duration::from_secs(20);
/// A socket silent for this long (not even a pong) is closed.
pub const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// What a protocol asks the loop to do.
#[derive(Debug, PartialEq)]
pub enum Action<E> {
    /// Send this text message.
    Send(String),
    /// Do this outside the protocol (the glue's effects: join a room, look something
    /// up); results come back as inputs.
    Effect(E),
    /// Close the socket with this code and reason; the session is over.
    Close(Close),
}

/// A socket kind's state machine: time and messages in, actions out.
pub trait Protocol {
    /// What arrives besides the socket's messages (signals, tasks, effect results).
    type Input;
    /// What the glue does for it.
    type Effect;

    /// The socket opened.
    fn on_open(&mut self, now: Instant) -> Vec<Action<Self::Effect>>;
    /// A text message arrived.
    fn on_text(&mut self, now: Instant, text: &str) -> Vec<Action<Self::Effect>>;
    /// An input arrived.
    fn on_input(&mut self, now: Instant, input: Self::Input) -> Vec<Action<Self::Effect>>;
    /// [`Protocol::poll_timeout`] passed.
    fn on_timeout(&mut self, now: Instant) -> Vec<Action<Self::Effect>>;
    /// When it next needs [`Protocol::on_timeout`], if ever.
    fn poll_timeout(&self) -> Option<Instant>;
    /// How it answers a binary frame.
    fn binary(&self) -> Close;
    /// How it ends a socket silent for [`IDLE_LIMIT`].
    fn idle(&self) -> Close;
}

/// Counters a socket kind keeps.
#[derive(Clone)]
pub struct Meters {
    /// Messages by direction (`in`, `out`).
    pub messages: IntCounterVec,
    /// Sockets the server closed, by reason.
    pub closed: IntCounterVec,
}

/// Runs `protocol` on `socket` until the session ends; `inputs` feed it, `effect`
/// does its effects (returning inputs they produce at once). Returns how it ended.
pub async fn run<P, F, Fut>(
    mut socket: WebSocket,
    protocol: &mut P,
    inputs: &mut UnboundedReceiver<P::Input>,
    meters: Option<&Meters>,
    mut effect: F,
) -> Close
where
    P: Protocol,
    F: FnMut(P::Effect) -> Fut,
    Fut: std::future::Future<Output = Vec<P::Input>>,
{
    let mut last_heard = Instant::now();
    let mut next_ping = last_heard + PING_INTERVAL;
    let mut pending = protocol.on_open(Instant::now());
    loop {
        // Apply what the protocol asked, feeding effects' results back in.
        while !pending.is_empty() {
            let mut next = Vec::new();
            for action in pending {
                match action {
                    Action::Send(text) => {
                        if let Some(m) = meters {
                            m.messages.with_label_values(&["out"]).inc();
                        }
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            return Close::new(close::NORMAL, "closed by the peer");
                        }
                    }
                    Action::Effect(e) => {
                        for input in effect(e).await {
                            next.extend(protocol.on_input(Instant::now(), input));
                        }
                    }
                    Action::Close(c) => {
                        if c.code != close::NORMAL
                            && let Some(m) = meters
                        {
                            m.closed.with_label_values(&[close::label(c.code)]).inc();
                        }
                        let frame = CloseFrame {
                            code: c.code,
                            reason: c.reason.into(),
                        };
                        let _ = socket.send(Message::Close(Some(frame))).await;
                        return c;
                    }
                }
            }
            pending = next;
        }
        let deadline = protocol
            .poll_timeout()
            .map_or(next_ping, |t| t.min(next_ping));
        tokio::select! {
            frame = socket.recv() => {
                let now = Instant::now();
                match frame {
                    None | Some(Ok(Message::Close(_))) => {
                        return Close::new(close::NORMAL, "closed by the peer");
                    }
                    Some(Ok(Message::Text(text))) => {
                        last_heard = now;
                        if let Some(m) = meters {
                            m.messages.with_label_values(&["in"]).inc();
                        }
                        pending = protocol.on_text(now, &text);
                    }
                    Some(Ok(Message::Binary(_))) => pending = vec![Action::Close(protocol.binary())],
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => last_heard = now,
                    Some(Err(e)) => {
                        pending = vec![Action::Close(frame_error(&e))];
                    }
                }
            }
            input = inputs.recv() => {
                if let Some(input) = input {
                    pending = protocol.on_input(Instant::now(), input);
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                let now = Instant::now();
                if now >= next_ping {
                    if now.duration_since(last_heard) > IDLE_LIMIT {
                        pending = vec![Action::Close(protocol.idle())];
                        continue;
                    }
                    if socket.send(Message::Ping(Default::default())).await.is_err() {
                        return Close::new(close::NORMAL, "closed by the peer");
                    }
                    next_ping = now + PING_INTERVAL;
                }
                if protocol.poll_timeout().is_some_and(|t| t <= now) {
                    pending = protocol.on_timeout(now);
                }
            }
        }
    }
}

/// The close for a frame the WebSocket layer refused. tungstenite says which in its
/// error type: a message or frame over the limit is `Capacity`.
pub(crate) fn frame_error(e: &axum::Error) -> Close {
    use std::error::Error as _;
    let too_big = e
        .source()
        .and_then(|s| s.downcast_ref::<tungstenite_error::Error>())
        .is_some_and(|t| matches!(t, tungstenite_error::Error::Capacity(_)));
    if too_big {
        Close::new(close::TOO_BIG, "message too big")
    } else {
        Close::new(close::PROTOCOL, "broken WebSocket framing")
    }
}

/// tungstenite's error type, as axum wraps it.
mod tungstenite_error {
    pub(super) use tokio_tungstenite::tungstenite::Error;
}
