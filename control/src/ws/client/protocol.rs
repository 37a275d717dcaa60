//! The browser's signaling session as a state machine, without I/O: texts, SFU
//! signals and time in, messages, effects and a close out (docs/signaling.md).
//!
//! The first message must be `join` with a valid token, within the join timeout; the
//! glue checks the token and joins the SFU ([`Effect::Join`]), then the SFU's `Joined`
//! becomes the `welcome`. After that, SDP and candidates go to the SFU, and its signals
//! come back, under a message-rate budget and a budget of malformed messages, until
//! either side ends the session.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use vchat_sfu::{PeerSignal, RoomId};

use super::messages::{ClientMessage, IceServer, Participant, ServerMessage, close_for};
use crate::ws::close::{self, Close};
use crate::ws::conn::{Action, Protocol};

/// Why a join is refused while the server stops.
pub const DRAINING: &str = "the server is shutting down; try again";
/// Unparseable messages tolerated before the socket is closed.
pub const BAD_MESSAGE_LIMIT: u32 = 10;

/// The session's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to send `join`.
    pub join_timeout: Duration,
    /// Messages per second, sustained (twice that in a burst).
    pub max_messages_per_second: u32,
}

/// What the glue does for the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Check the token and join its room; answer with [`Input::Joining`] or
    /// [`Input::Refused`].
    Join {
        /// The join token.
        token: String,
    },
    /// Hand the browser's SDP offer to the SFU.
    Offer(String),
    /// Hand the browser's answer to the SFU.
    Answer(String),
    /// Hand a trickled ICE candidate to the SFU.
    Candidate(String),
    /// The SFU said the participant is in: note the join.
    Joined,
}

/// What arrives besides the browser's messages.
#[derive(Debug)]
pub enum Input {
    /// The token was good and the SFU was asked: this is who joins where.
    Joining {
        /// The participant.
        participant: Participant,
        /// The room.
        room: RoomId,
        /// Its ICE servers.
        ice_servers: Vec<IceServer>,
    },
    /// The join was refused.
    Refused(Close),
    /// A signal of the SFU for this session.
    Signal(PeerSignal),
    /// The SFU will say nothing more (it stopped).
    SignalsEnded,
    /// The SFU no longer takes this session's commands (it is stopping).
    MediaGone,
}

#[derive(Debug)]
enum Stage {
    /// Waiting for `join`, until the deadline.
    AwaitingJoin { deadline: Instant },
    /// The token is being checked.
    Checking,
    /// Asked the SFU; waiting for its `Joined`.
    Joining {
        participant: Participant,
        room: RoomId,
        ice_servers: Vec<IceServer>,
    },
    /// In the room.
    Joined,
    /// Over.
    Closed,
}

/// Sustained `rate` messages per second, bursts of twice that.
#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    rate: f64,
    at: Instant,
}

impl TokenBucket {
    fn new(rate: u32, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: 2.0 * f64::from(rate),
            rate: f64::from(rate),
            at: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        self.tokens = (self.tokens
            + now.saturating_duration_since(self.at).as_secs_f64() * self.rate)
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

/// One browser's signaling session.
#[derive(Debug)]
pub struct ClientProtocol {
    stage: Stage,
    limits: Limits,
    draining: bool,
    bucket: TokenBucket,
    bad_messages: u32,
    /// Messages that came while the join was under way, handled once joined.
    early: VecDeque<String>,
    /// Whether the session got into its room.
    was_joined: bool,
}

type Actions = Vec<Action<Effect>>;

fn send(message: &ServerMessage) -> Action<Effect> {
    Action::Send(serde_json::to_string(message).expect("server messages serialize"))
}

fn close(code: u16, reason: &'static str) -> Action<Effect> {
    Action::Close(Close::new(code, reason))
}

impl ClientProtocol {
    /// A session opened at `now`; `draining`: the server takes no new joins.
    pub fn new(now: Instant, limits: Limits, draining: bool) -> ClientProtocol {
        ClientProtocol {
            stage: Stage::AwaitingJoin {
                deadline: now + limits.join_timeout,
            },
            limits,
            draining,
            bucket: TokenBucket::new(limits.max_messages_per_second, now),
            bad_messages: 0,
            early: VecDeque::new(),
            was_joined: false,
        }
    }

    /// Whether the session got into its room (the glue leaves it at the end).
    pub fn joined(&self) -> bool {
        self.was_joined
    }

    fn end(&mut self, action: Action<Effect>) -> Actions {
        self.stage = Stage::Closed;
        vec![action]
    }

    fn joined_text(&mut self, now: Instant, text: &str) -> Actions {
        if !self.bucket.take(now) {
            return self.end(close(close::POLICY, "too many messages"));
        }
        let message = match serde_json::from_str::<ClientMessage>(text) {
            Ok(message) => message,
            Err(e) => {
                self.bad_messages += 1;
                if self.bad_messages > BAD_MESSAGE_LIMIT {
                    return self.end(close(close::PROTOCOL, "too many malformed messages"));
                }
                return vec![send(&ServerMessage::Error {
                    code: "bad-message".into(),
                    message: e.to_string(),
                })];
            }
        };
        match message {
            ClientMessage::Join { .. } => vec![send(&ServerMessage::Error {
                code: "already-joined".into(),
                message: "this session has joined already".into(),
            })],
            ClientMessage::Offer { sdp } => vec![Action::Effect(Effect::Offer(sdp))],
            ClientMessage::Answer { sdp } => vec![Action::Effect(Effect::Answer(sdp))],
            ClientMessage::Candidate { candidate: Some(c) } => {
                vec![Action::Effect(Effect::Candidate(c.candidate))]
            }
            ClientMessage::Candidate { candidate: None } => Vec::new(),
            ClientMessage::Leave {} => self.end(close(close::NORMAL, "left")),
        }
    }
}

impl Protocol for ClientProtocol {
    type Input = Input;
    type Effect = Effect;

    fn on_open(&mut self, _now: Instant) -> Actions {
        if self.draining {
            return self.end(close(close::TRY_AGAIN_LATER, DRAINING));
        }
        Vec::new()
    }

    fn on_text(&mut self, now: Instant, text: &str) -> Actions {
        match self.stage {
            Stage::AwaitingJoin { .. } => match serde_json::from_str::<ClientMessage>(text) {
                Ok(ClientMessage::Join { token }) => {
                    self.stage = Stage::Checking;
                    vec![Action::Effect(Effect::Join { token })]
                }
                Ok(_) => self.end(close(close::PROTOCOL, "the first message must be join")),
                Err(_) => self.end(close(
                    close::PROTOCOL,
                    "the first message must be a JSON join message",
                )),
            },
            Stage::Checking | Stage::Joining { .. } => {
                // The browser may not wait for the welcome: keep what it said.
                if self.early.len() >= 2 * self.limits.max_messages_per_second as usize {
                    return self.end(close(close::POLICY, "too many messages"));
                }
                self.early.push_back(text.to_string());
                Vec::new()
            }
            Stage::Joined => self.joined_text(now, text),
            Stage::Closed => Vec::new(),
        }
    }

    fn on_input(&mut self, now: Instant, input: Input) -> Actions {
        match (std::mem::replace(&mut self.stage, Stage::Closed), input) {
            (
                Stage::Checking,
                Input::Joining {
                    participant,
                    room,
                    ice_servers,
                },
            ) => {
                self.stage = Stage::Joining {
                    participant,
                    room,
                    ice_servers,
                };
                Vec::new()
            }
            (Stage::Checking, Input::Refused(c)) => vec![Action::Close(c)],
            (
                Stage::Joining {
                    participant,
                    room,
                    ice_servers,
                },
                Input::Signal(PeerSignal::Joined { participants }),
            ) => {
                self.stage = Stage::Joined;
                self.was_joined = true;
                let mut out = vec![
                    send(&ServerMessage::Welcome {
                        participant,
                        room: room.to_string(),
                        participants: participants.iter().map(Participant::from).collect(),
                        ice_servers,
                    }),
                    Action::Effect(Effect::Joined),
                ];
                while let Some(text) = self.early.pop_front() {
                    let more = self.joined_text(now, &text);
                    let ended = more.iter().any(|a| matches!(a, Action::Close(_)));
                    out.extend(more);
                    if ended {
                        break;
                    }
                }
                out
            }
            (
                Stage::Joining { .. } | Stage::Joined,
                Input::Signal(PeerSignal::Closed { reason }),
            ) => {
                let (code, text) = close_for(reason);
                vec![
                    send(&ServerMessage::Bye {
                        reason: reason.as_str().into(),
                    }),
                    close(code, text),
                ]
            }
            (Stage::Joining { .. }, _) => {
                vec![close(close::INTERNAL, "the SFU did not answer")]
            }
            (Stage::Joined, Input::Signal(signal)) => {
                self.stage = Stage::Joined;
                ServerMessage::from_signal(signal)
                    .map(|m| vec![send(&m)])
                    .unwrap_or_default()
            }
            (Stage::Joined, Input::SignalsEnded | Input::MediaGone) => {
                vec![close(close::GOING_AWAY, "the server is shutting down")]
            }
            (stage, _) => {
                self.stage = stage;
                Vec::new()
            }
        }
    }

    fn on_timeout(&mut self, now: Instant) -> Actions {
        match self.stage {
            Stage::AwaitingJoin { deadline } if now >= deadline => {
                self.end(close(close::TIMEOUT, "no join message in time"))
            }
            _ => Vec::new(),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.stage {
            Stage::AwaitingJoin { deadline } => Some(deadline),
            _ => None,
        }
    }

    fn binary(&self) -> Close {
        Close::new(
            close::UNSUPPORTED_DATA,
            "binary messages are not part of the protocol",
        )
    }

    fn idle(&self) -> Close {
        Close::new(close::TIMEOUT, "no sign of life from the browser")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vchat_sfu::{LeaveReason, ParticipantId, ParticipantInfo};

    const LIMITS: Limits = Limits {
        join_timeout: Duration::from_secs(10),
        max_messages_per_second: 5,
    };

    /// The join checked: participant `c` into room `r`.
    fn joining() -> Input {
        Input::Joining {
            participant: Participant {
                id: "c".into(),
                name: "C".into(),
            },
            room: RoomId::new("r").unwrap(),
            ice_servers: vec![],
        }
    }

    fn joined(now: Instant) -> ClientProtocol {
        let mut p = ClientProtocol::new(now, LIMITS, false);
        assert_eq!(
            p.on_text(now, r#"{"type":"join","token":"t"}"#),
            vec![Action::Effect(Effect::Join { token: "t".into() })]
        );
        assert!(
            p.on_input(
                now,
                Input::Joining {
                    participant: Participant {
                        id: "client".into(),
                        name: "Ivan".into()
                    },
                    room: RoomId::new("r1").unwrap(),
                    ice_servers: vec![],
                }
            )
            .is_empty()
        );
        let out = p.on_input(
            now,
            Input::Signal(PeerSignal::Joined {
                participants: vec![ParticipantInfo {
                    id: ParticipantId::new("agent-1").unwrap(),
                    name: "Agent".into(),
                }],
            }),
        );
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(matches!(&out[0], Action::Send(t) if t.starts_with(r#"{"type":"welcome""#)));
        assert_eq!(out[1], Action::Effect(Effect::Joined));
        p
    }

    fn closes(actions: &[Action<Effect>]) -> Option<Close> {
        actions.iter().find_map(|a| match a {
            Action::Close(c) => Some(*c),
            _ => None,
        })
    }

    #[test]
    fn join_must_come_first_and_in_time() {
        let t0 = Instant::now();
        let mut p = ClientProtocol::new(t0, LIMITS, false);
        assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_secs(10)));
        assert!(p.on_timeout(t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(
            closes(&p.on_timeout(t0 + Duration::from_secs(10))),
            Some(Close::new(close::TIMEOUT, "no join message in time"))
        );
        let mut p = ClientProtocol::new(t0, LIMITS, false);
        assert_eq!(
            closes(&p.on_text(t0, r#"{"type":"leave"}"#)),
            Some(Close::new(
                close::PROTOCOL,
                "the first message must be join"
            ))
        );
        let mut p = ClientProtocol::new(t0, LIMITS, false);
        assert_eq!(
            closes(&p.on_text(t0, "[1]")).map(|c| c.code),
            Some(close::PROTOCOL)
        );
        let mut p = ClientProtocol::new(t0, LIMITS, true);
        assert_eq!(
            closes(&p.on_open(t0)),
            Some(Close::new(close::TRY_AGAIN_LATER, DRAINING))
        );
    }

    #[test]
    fn a_refused_join_or_a_full_room_closes_with_its_reason() {
        let t0 = Instant::now();
        let mut p = ClientProtocol::new(t0, LIMITS, false);
        p.on_text(t0, r#"{"type":"join","token":"bad"}"#);
        let refused = Close::new(close::UNAUTHORIZED, "invalid join token");
        assert_eq!(
            closes(&p.on_input(t0, Input::Refused(refused))),
            Some(refused)
        );

        let mut p = ClientProtocol::new(t0, LIMITS, false);
        p.on_text(t0, r#"{"type":"join","token":"t"}"#);
        p.on_input(t0, joining());
        let out = p.on_input(
            t0,
            Input::Signal(PeerSignal::Closed {
                reason: LeaveReason::RoomFull,
            }),
        );
        assert!(matches!(&out[0], Action::Send(t) if t.contains("bye")));
        assert_eq!(closes(&out).map(|c| c.code), Some(close::ROOM_FULL));
    }

    #[test]
    fn sdp_goes_to_the_sfu_and_signals_come_back() {
        let t0 = Instant::now();
        let mut p = joined(t0);
        assert_eq!(
            p.on_text(t0, r#"{"type":"offer","sdp":"v=0"}"#),
            vec![Action::Effect(Effect::Offer("v=0".into()))]
        );
        assert!(
            p.on_text(t0, r#"{"type":"candidate","candidate":null}"#)
                .is_empty()
        );
        let out = p.on_input(t0, Input::Signal(PeerSignal::Answer { sdp: "v=1".into() }));
        assert_eq!(
            out,
            vec![Action::Send(r#"{"type":"answer","sdp":"v=1"}"#.into())]
        );
        let out = p.on_text(t0, r#"{"type":"join","token":"t"}"#);
        assert!(matches!(&out[0], Action::Send(t) if t.contains("already-joined")));
        assert_eq!(
            closes(&p.on_text(t0, r#"{"type":"leave"}"#)),
            Some(Close::new(close::NORMAL, "left"))
        );
        assert!(p.joined());
    }

    #[test]
    fn messages_before_the_welcome_are_handled_after_it() {
        let t0 = Instant::now();
        let mut p = ClientProtocol::new(t0, LIMITS, false);
        p.on_text(t0, r#"{"type":"join","token":"t"}"#);
        assert!(
            p.on_text(t0, r#"{"type":"offer","sdp":"early"}"#)
                .is_empty()
        );
        p.on_input(t0, joining());
        let out = p.on_input(
            t0,
            Input::Signal(PeerSignal::Joined {
                participants: vec![],
            }),
        );
        assert_eq!(out[2], Action::Effect(Effect::Offer("early".into())));
    }

    #[test]
    fn the_rate_and_malformed_message_budgets_close_the_socket() {
        let t0 = Instant::now();
        let mut p = joined(t0);
        // A burst of twice the rate passes; the next message is over.
        for _ in 0..10 {
            assert!(closes(&p.on_text(t0, r#"{"type":"candidate","candidate":null}"#)).is_none());
        }
        assert_eq!(
            closes(&p.on_text(t0, r#"{"type":"candidate","candidate":null}"#)),
            Some(Close::new(close::POLICY, "too many messages"))
        );

        let mut p = joined(t0);
        let mut at = t0;
        for i in 0..BAD_MESSAGE_LIMIT {
            at += Duration::from_secs(1);
            let out = p.on_text(at, "not json");
            assert!(
                matches!(&out[..], [Action::Send(t)] if t.contains("bad-message")),
                "{i}: {out:?}"
            );
        }
        at += Duration::from_secs(1);
        assert_eq!(
            closes(&p.on_text(at, "not json")),
            Some(Close::new(close::PROTOCOL, "too many malformed messages"))
        );
    }

    #[test]
    fn the_sfu_ending_the_session_says_bye_with_the_reason() {
        let t0 = Instant::now();
        let mut p = joined(t0);
        let out = p.on_input(
            t0,
            Input::Signal(PeerSignal::Closed {
                reason: LeaveReason::Replaced,
            }),
        );
        assert_eq!(out.len(), 2);
        assert!(matches!(&out[0], Action::Send(t) if t == r#"{"type":"bye","reason":"replaced"}"#));
        assert_eq!(closes(&out).map(|c| c.code), Some(close::REPLACED));
        let mut p = joined(t0);
        assert_eq!(
            closes(&p.on_input(t0, Input::SignalsEnded)).map(|c| c.code),
            Some(close::GOING_AWAY)
        );
    }
}
