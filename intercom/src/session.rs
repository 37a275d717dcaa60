//! One device connection as a state machine (sans-IO, like the SFU's peers and the
//! TURN core): text and binary frames and the time in; frames to send, a close code
//! and events out. The driver owns the WebSocket, the clock, authentication (it checks
//! the secret against the store: the session only asks) and the metrics.
//!
//! ```text
//! AwaitHello --hello--> Authenticating --accept--> Open --close--> Closed
//!      \ 10 s: 4408, other: 4400  \ reject: 4401    \ idle 3 × ping: 4408, flood: 1008
//! ```
//!
//! Malformed frames get an `error` frame and the connection stays; they are reported
//! in [`Output::Problem`], with the text to log at most once a minute per kind.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::frame::{AudioHeader, Codec, FrameError};
use crate::message::{
    CallKind, DeviceMessage, Hangup, Hello, Limits, Liveness, MAX_CALLS, MAX_FRAME_BYTES,
    MAX_TEXT_BYTES, ServerMessage, Welcome,
};

/// The WebSocket subprotocol of version 1.
pub const SUBPROTOCOL: &str = "vchat-intercom.1";
/// The default of `ping_secs`.
pub const PING_SECS: u32 = 15;
/// The time a device has to say `hello`.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames a second (text and binary) beyond which a second counts as flooding.
pub const FLOOD_FRAMES_PER_SEC: u32 = 200;
/// Text bytes a second beyond which a second counts as flooding.
pub const FLOOD_TEXT_BYTES_PER_SEC: usize = 64 * 1024;
/// Flooding seconds in a row that close the connection.
pub const FLOOD_SECONDS: u32 = 5;
/// How often a problem of one kind is logged.
pub const LOG_EVERY: Duration = Duration::from_secs(60);
/// Messages kept while the driver checks the credentials.
const PENDING_MAX: usize = 16;

/// Close codes of the protocol: those of vchat's other sockets (`ws::close` in the
/// control plane) where the meaning is the same.
pub mod close {
    /// Normal end.
    pub const NORMAL: u16 = 1000;
    /// vchat is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A flood: too many frames or bytes for too long.
    pub const FLOOD: u16 = 1008;
    /// Another frame before `hello`.
    pub const NOT_HELLO: u16 = 4400;
    /// Wrong secret, token or device.
    pub const AUTH_FAILED: u16 = 4401;
    /// No `hello` within 10 s, or nothing heard in 3 × `ping_secs`.
    pub const TIMEOUT: u16 = 4408;
    /// A newer connection of the same device.
    pub const REPLACED: u16 = 4409;
    /// Unsupported version or no codec in common.
    pub const UNSUPPORTED: u16 = 4415;
}

/// What went wrong with a frame, by kind (metric label and log key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Problem {
    /// A text frame that is not a valid message.
    BadMessage,
    /// A binary frame with a wrong version, codec or size.
    BadAudio,
    /// Audio or a call message for a call that is not up.
    NoCall,
    /// A second of more frames or bytes than allowed.
    Flood,
}

impl Problem {
    /// Every kind.
    pub const ALL: [Problem; 4] = [
        Problem::BadMessage,
        Problem::BadAudio,
        Problem::NoCall,
        Problem::Flood,
    ];

    /// The code in `error` frames and the metric label.
    pub fn code(self) -> &'static str {
        match self {
            Problem::BadMessage => "bad_message",
            Problem::BadAudio => "bad_audio",
            Problem::NoCall => "no_call",
            Problem::Flood => "flood",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A call on this connection, as the session sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The device's number for it.
    pub id: u32,
    /// SIP, analog or cluster.
    pub kind: CallKind,
    /// The codec of its audio frames.
    pub codec: Codec,
    /// Whether audio flows (answered at either side).
    pub up: bool,
    /// When the device rang.
    pub rang_at: Instant,
    /// When it was answered.
    pub answered_at: Option<Instant>,
}

/// What the driver acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A `hello` to check: answer [`Session::accept`] or [`Session::reject`].
    Hello(Hello),
    /// A message of an open session (not `hello`, `ping` or `pong`).
    Message(DeviceMessage),
    /// A call was answered, by an agent ([`Session::answer`]) or at the device.
    CallUp {
        /// The call.
        call: u32,
        /// SIP, analog or cluster.
        kind: CallKind,
    },
    /// A call ended, by a `hangup` either way or a close: the driver ends its
    /// interaction.
    CallEnded {
        /// The call.
        call: u32,
        /// SIP, analog or cluster.
        kind: CallKind,
        /// Why.
        reason: String,
        /// How long it rang.
        rang: Duration,
        /// How long it was up, if it was answered.
        talked: Option<Duration>,
    },
}

/// What the session wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this text frame.
    Text(String),
    /// Close the socket with this code and reason; nothing follows.
    Close(u16, String),
    /// Something for the driver.
    Event(Event),
    /// A frame was refused: count it; log `log` when given (once a minute per kind).
    Problem {
        /// The kind.
        kind: Problem,
        /// What to log, with how many were not logged since.
        log: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitHello,
    Authenticating,
    Open,
    Closed,
}

/// One device connection.
pub struct Session {
    state: State,
    opened: Instant,
    heard: Instant,
    /// The latest time the session was given.
    now: Instant,
    pinged: bool,
    ping_secs: u32,
    codec: Option<Codec>,
    device_codecs: Vec<Codec>,
    calls: Vec<Call>,
    pending: Vec<DeviceMessage>,
    out: VecDeque<Output>,
    flood_window: Instant,
    window_frames: u32,
    window_text: usize,
    flood_seconds: u32,
    problems_logged: [Option<Instant>; 4],
    problems_unlogged: [u64; 4],
}

impl Session {
    /// A connection that has just been upgraded at `now`; `ping_secs` as configured.
    pub fn new(now: Instant, ping_secs: u32) -> Session {
        Session {
            state: State::AwaitHello,
            opened: now,
            heard: now,
            now,
            pinged: false,
            ping_secs: ping_secs.max(1),
            codec: None,
            device_codecs: Vec::new(),
            calls: Vec::new(),
            pending: Vec::new(),
            out: VecDeque::new(),
            flood_window: now,
            window_frames: 0,
            window_text: 0,
            flood_seconds: 0,
            problems_logged: [None; 4],
            problems_unlogged: [0; 4],
        }
    }

    /// Whether the session is closed (after a [`Output::Close`]).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether `welcome` has been sent.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// The session's codec, once open.
    pub fn codec(&self) -> Option<Codec> {
        self.codec
    }

    /// The calls on this connection.
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Session::handle_timeout`] must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::AwaitHello | State::Authenticating => Some(self.opened + HELLO_TIMEOUT),
            State::Open if self.pinged => Some(self.heard + self.ping() * 3),
            State::Open => Some(self.heard + self.ping()),
            State::Closed => None,
        }
    }

    /// Time passes: the `hello` deadline, pings, the idle close.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        match self.state {
            State::AwaitHello if now >= self.opened + HELLO_TIMEOUT => {
                self.close(close::TIMEOUT, "no hello within 10 s");
            }
            State::Open if now >= self.heard + self.ping() * 3 => {
                let secs = self.ping_secs * 3;
                self.close(close::TIMEOUT, &format!("nothing heard for {secs} s"));
            }
            State::Open if !self.pinged && now >= self.heard + self.ping() => {
                self.pinged = true;
                self.send(&ServerMessage::Ping(Liveness::default()));
            }
            _ => {}
        }
    }

    /// A text frame arrived.
    pub fn handle_text(&mut self, now: Instant, text: &str) {
        self.now = self.now.max(now);
        if self.state == State::Closed || !self.count_frame(now, text.len()) {
            return;
        }
        let message = match DeviceMessage::parse(text) {
            Ok(m) => m,
            Err(e) if self.state == State::AwaitHello => {
                return self.close(
                    close::NOT_HELLO,
                    &format!("the first message must be hello: {}", e.reason),
                );
            }
            Err(e) => return self.refuse(now, Problem::BadMessage, e.id, &e.reason),
        };
        self.heard = now;
        self.pinged = false;
        match (self.state, message) {
            (State::AwaitHello, DeviceMessage::Hello(hello)) => self.hello(hello),
            (State::AwaitHello, _) => {
                self.close(close::NOT_HELLO, "the first message must be hello")
            }
            (_, DeviceMessage::Hello(_)) => self.refuse(
                now,
                Problem::BadMessage,
                None,
                "hello was already said on this connection",
            ),
            (State::Authenticating, m) => {
                if self.pending.len() < PENDING_MAX {
                    self.pending.push(m);
                } else {
                    self.refuse(
                        now,
                        Problem::BadMessage,
                        None,
                        "wait for welcome before sending more",
                    );
                }
            }
            (_, m) => self.message(now, m),
        }
    }

    /// A binary (audio) frame arrived: its header and payload when it is one of an up
    /// call, for the driver to take (no copy, no allocation).
    pub fn handle_binary<'a>(
        &mut self,
        now: Instant,
        frame: &'a [u8],
    ) -> Option<(AudioHeader, &'a [u8])> {
        self.now = self.now.max(now);
        if self.state == State::Closed || !self.count_frame(now, 0) {
            return None;
        }
        if self.state == State::AwaitHello {
            self.close(close::NOT_HELLO, "the first message must be hello");
            return None;
        }
        self.heard = now;
        self.pinged = false;
        let parsed = if frame.len() > MAX_FRAME_BYTES {
            Err(format!(
                "an audio frame is at most {MAX_FRAME_BYTES} bytes; this one is {}",
                frame.len()
            ))
        } else {
            AudioHeader::parse(frame).map_err(|e: FrameError| e.to_string())
        };
        let (header, payload) = match parsed {
            Ok(p) => p,
            Err(reason) => {
                self.refuse(now, Problem::BadAudio, None, &reason);
                return None;
            }
        };
        match self.calls.iter().find(|c| c.id == header.call) {
            Some(call) if call.up && call.codec == header.codec => Some((header, payload)),
            Some(call) if call.up => {
                let reason = format!(
                    "call {} carries {}, not {}",
                    call.id, call.codec, header.codec
                );
                self.refuse(now, Problem::BadAudio, None, &reason);
                None
            }
            _ => {
                let reason = format!("audio for call {}, which is not up", header.call);
                self.refuse(now, Problem::NoCall, None, &reason);
                None
            }
        }
    }

    /// The driver found the credentials right: open the session.
    pub fn accept(&mut self, session_id: &str) {
        if self.state != State::Authenticating {
            return;
        }
        let codec = self.device_codecs[0];
        self.codec = Some(codec);
        self.state = State::Open;
        self.send(&ServerMessage::Welcome(Welcome {
            session: session_id.to_owned(),
            codec: codec.name().to_owned(),
            ping_secs: self.ping_secs,
            limits: Limits {
                max_frame_bytes: MAX_FRAME_BYTES,
                max_text_bytes: MAX_TEXT_BYTES,
            },
        }));
        let now = self.heard;
        for m in std::mem::take(&mut self.pending) {
            self.message(now, m);
        }
    }

    /// The driver found the credentials wrong.
    pub fn reject(&mut self) {
        self.close(close::AUTH_FAILED, "authentication failed");
    }

    /// A newer connection of the same device took over.
    pub fn replaced(&mut self) {
        self.close(
            close::REPLACED,
            "replaced by a newer connection of this device",
        );
    }

    /// An admin removed the device.
    pub fn removed(&mut self) {
        self.close(close::AUTH_FAILED, "this device was removed");
    }

    /// vchat is shutting down.
    pub fn shutdown(&mut self) {
        self.close(close::GOING_AWAY, "vchat is shutting down");
    }

    /// The socket closed from the device's side (or broke): its calls end.
    pub fn closed_by_peer(&mut self) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.end_calls("disconnected");
        }
    }

    /// An agent answered `call` at `now`: audio may flow.
    pub fn answer(&mut self, now: Instant, call: u32, by: &str) -> bool {
        self.now = self.now.max(now);
        let Some(c) = self.calls.iter_mut().find(|c| c.id == call && !c.up) else {
            return false;
        };
        c.up = true;
        c.answered_at = Some(self.now);
        let kind = c.kind;
        self.send(&ServerMessage::Answered {
            call,
            by: by.to_owned(),
        });
        self.out
            .push_back(Output::Event(Event::CallUp { call, kind }));
        true
    }

    /// vchat ends `call` at `now` (`agent`, `rejected`, `no_answer`, `timeout`,
    /// `shutdown`).
    pub fn hangup(&mut self, now: Instant, call: u32, reason: &str) -> bool {
        self.now = self.now.max(now);
        let Some(at) = self.calls.iter().position(|c| c.id == call) else {
            return false;
        };
        let ended = self.calls.remove(at);
        self.send(&ServerMessage::Hangup(Hangup {
            call,
            reason: reason.to_owned(),
        }));
        self.ended(ended, reason);
        true
    }

    fn ended(&mut self, call: Call, reason: &str) {
        let end = self.now;
        self.out.push_back(Output::Event(Event::CallEnded {
            call: call.id,
            kind: call.kind,
            reason: reason.to_owned(),
            rang: call
                .answered_at
                .unwrap_or(end)
                .saturating_duration_since(call.rang_at),
            talked: call.answered_at.map(|a| end.saturating_duration_since(a)),
        }));
    }

    /// Sends a message of vchat's (a ringing, a command, a ping).
    pub fn send(&mut self, message: &ServerMessage) {
        if self.state != State::Closed {
            self.out.push_back(Output::Text(message.to_json()));
        }
    }

    fn ping(&self) -> Duration {
        Duration::from_secs(self.ping_secs as u64)
    }

    fn hello(&mut self, hello: Hello) {
        if hello.version != 1 {
            let v = hello.version;
            return self.close(
                close::UNSUPPORTED,
                &format!("protocol version {v} is not supported (1 is)"),
            );
        }
        let codecs: Vec<Codec> = hello
            .codecs
            .iter()
            .filter_map(|c| Codec::from_name(c))
            .collect();
        if codecs.is_empty() {
            let named = hello.codecs.join(", ");
            return self.close(
                close::UNSUPPORTED,
                &format!("no codec in common: {named} (vchat takes PCMU, PCMA, L16/16000, opus)"),
            );
        }
        self.device_codecs = codecs;
        self.state = State::Authenticating;
        self.out.push_back(Output::Event(Event::Hello(hello)));
    }

    fn message(&mut self, now: Instant, message: DeviceMessage) {
        match message {
            DeviceMessage::Ping(l) => return self.send(&ServerMessage::Pong(l)),
            DeviceMessage::Pong(_) => return,
            DeviceMessage::Ring(ref r) => {
                if self.calls.iter().any(|c| c.id == r.call) {
                    let reason = format!("call {} is already up on this connection", r.call);
                    return self.refuse(now, Problem::BadMessage, None, &reason);
                }
                if self.calls.len() >= MAX_CALLS {
                    return self.refuse(
                        now,
                        Problem::BadMessage,
                        None,
                        &format!("at most {MAX_CALLS} calls at once"),
                    );
                }
                let codec = match r.codec.as_deref() {
                    None => self.codec.expect("open sessions have a codec"),
                    Some(name) => match Codec::from_name(name)
                        .filter(|c| self.device_codecs.contains(c))
                    {
                        Some(c) => c,
                        None => {
                            let reason =
                                format!("ring: codec {name} is not one this device named in hello");
                            return self.refuse(now, Problem::BadMessage, None, &reason);
                        }
                    },
                };
                self.calls.push(Call {
                    id: r.call,
                    kind: r.kind,
                    codec,
                    up: false,
                    rang_at: now,
                    answered_at: None,
                });
            }
            DeviceMessage::Answered(c) => match self.calls.iter_mut().find(|x| x.id == c.call) {
                Some(call) if !call.up => {
                    call.up = true;
                    call.answered_at = Some(now);
                    let kind = call.kind;
                    self.out
                        .push_back(Output::Event(Event::CallUp { call: c.call, kind }));
                    return;
                }
                Some(_) => return,
                None => {
                    return self.refuse(
                        now,
                        Problem::NoCall,
                        None,
                        &format!("answered: call {} is not up", c.call),
                    );
                }
            },
            DeviceMessage::Hangup(ref h) => {
                let Some(at) = self.calls.iter().position(|c| c.id == h.call) else {
                    return self.refuse(
                        now,
                        Problem::NoCall,
                        None,
                        &format!("hangup: call {} is not up", h.call),
                    );
                };
                let ended = self.calls.remove(at);
                return self.ended(ended, &h.reason);
            }
            _ => {}
        }
        self.out.push_back(Output::Event(Event::Message(message)));
    }

    /// Counts a frame against the flood limits; false when the session closed for it.
    fn count_frame(&mut self, now: Instant, text_bytes: usize) -> bool {
        while now >= self.flood_window + Duration::from_secs(1) {
            let flooding = self.window_frames > FLOOD_FRAMES_PER_SEC
                || self.window_text > FLOOD_TEXT_BYTES_PER_SEC;
            if flooding {
                self.flood_seconds += 1;
                let (f, t) = (self.window_frames, self.window_text);
                self.problem(
                    now,
                    Problem::Flood,
                    &format!("{f} frames and {t} text bytes in one second"),
                );
            } else {
                self.flood_seconds = 0;
            }
            self.window_frames = 0;
            self.window_text = 0;
            self.flood_window += Duration::from_secs(1);
            if now >= self.flood_window + Duration::from_secs(2) {
                // A quiet gap: start the window now.
                self.flood_window = now;
                self.flood_seconds = 0;
            }
            if self.flood_seconds >= FLOOD_SECONDS {
                self.close(close::FLOOD, "flood: too many frames or bytes for 5 s");
                return false;
            }
        }
        self.window_frames += 1;
        self.window_text += text_bytes;
        true
    }

    fn refuse(&mut self, now: Instant, kind: Problem, id: Option<String>, reason: &str) {
        self.send(&ServerMessage::Error {
            code: kind.code().to_owned(),
            reason: reason.to_owned(),
            id,
        });
        self.problem(now, kind, reason);
    }

    fn problem(&mut self, now: Instant, kind: Problem, reason: &str) {
        let i = kind.index();
        let due = self.problems_logged[i].is_none_or(|t| now >= t + LOG_EVERY);
        let log = if due {
            let unlogged = std::mem::take(&mut self.problems_unlogged[i]);
            self.problems_logged[i] = Some(now);
            Some(if unlogged > 0 {
                format!("{reason} ({unlogged} more since the last report)")
            } else {
                reason.to_owned()
            })
        } else {
            self.problems_unlogged[i] += 1;
            None
        };
        self.out.push_back(Output::Problem { kind, log });
    }

    fn close(&mut self, code: u16, reason: &str) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.end_calls(match code {
            close::GOING_AWAY => "shutdown",
            close::REPLACED => "replaced",
            _ => "disconnected",
        });
        self.out.push_back(Output::Close(code, reason.to_owned()));
    }

    fn end_calls(&mut self, reason: &str) {
        for call in std::mem::take(&mut self.calls) {
            self.ended(call, reason);
        }
    }
}
