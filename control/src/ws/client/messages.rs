//! The JSON messages of the signaling WebSocket (schema: `docs/signaling.md`).

use serde::{Deserialize, Serialize};
use vchat_sfu::{LeaveReason, ParticipantInfo, PeerSignal};

use crate::ws::close;

/// What a browser may send. Every message is an object with a `type`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ClientMessage {
    /// First message: join the room the token names.
    Join {
        /// A join token from `POST /api/rooms`.
        token: String,
    },
    /// An SDP offer (the first one, or a renegotiation).
    Offer {
        /// The SDP.
        sdp: String,
    },
    /// The answer to the server's last offer.
    Answer {
        /// The SDP.
        sdp: String,
    },
    /// A trickled ICE candidate; `null` means the browser has gathered all.
    Candidate {
        /// `RTCIceCandidate.toJSON()`.
        #[serde(default)]
        candidate: Option<IceCandidate>,
    },
    /// Leave the room; the server closes the socket.
    Leave {},
}

/// `RTCIceCandidateInit`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    /// The `candidate:...` attribute.
    pub candidate: String,
    /// Its m-line.
    #[serde(default)]
    pub sdp_mid: Option<String>,
    /// Its m-line index.
    #[serde(default)]
    pub sdp_m_line_index: Option<u16>,
    /// The ICE ufrag.
    #[serde(default)]
    pub username_fragment: Option<String>,
}

/// A participant, as the browser sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Participant {
    /// Id, unique in the room.
    pub id: String,
    /// Display name.
    pub name: String,
}

impl From<&ParticipantInfo> for Participant {
    fn from(p: &ParticipantInfo) -> Self {
        Participant {
            id: p.id.to_string(),
            name: p.name.clone(),
        }
    }
}

/// An ICE server for `RTCPeerConnection`'s configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IceServer {
    /// `stun:`/`turn:`/`turns:` URLs.
    pub urls: Vec<String>,
    /// TURN username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    /// The join went through.
    #[serde(rename_all = "camelCase")]
    Welcome {
        /// The joining participant.
        participant: Participant,
        /// The room id.
        room: String,
        /// Everyone else already there.
        participants: Vec<Participant>,
        /// ICE servers to use (TURN, when configured).
        ice_servers: Vec<IceServer>,
    },
    /// The server's answer to the browser's offer.
    Answer {
        /// The SDP.
        sdp: String,
    },
    /// The server offers a change; the browser answers.
    Offer {
        /// The SDP.
        sdp: String,
    },
    /// Someone joined.
    ParticipantJoined {
        /// Who.
        participant: Participant,
    },
    /// Someone left.
    ParticipantLeft {
        /// Their id.
        participant: String,
        /// Why: `left`, `replaced`, `unreachable`, ...
        reason: String,
    },
    /// A track of `participant` arrives on m-line `mid` (announced before the offer
    /// that carries it).
    TrackAdded {
        /// Whose track.
        participant: String,
        /// The transceiver's mid.
        mid: String,
        /// `audio` or `video`.
        kind: String,
    },
    /// A track stopped (announced before the offer that removes it).
    TrackRemoved {
        /// Whose track.
        participant: String,
        /// The transceiver's mid.
        mid: String,
    },
    /// Who speaks now (from the audio levels the SFU reads on every packet).
    ActiveSpeaker {
        /// Their id.
        participant: String,
    },
    /// Something the browser asked could not be done; the session goes on.
    Error {
        /// A stable code.
        code: String,
        /// Words for people.
        message: String,
    },
    /// The session ends; the socket closes next.
    Bye {
        /// Why.
        reason: String,
    },
}

impl ServerMessage {
    /// The message for an SFU signal (all but `Joined`, which needs the control
    /// plane's context, and `Closed`, which ends the session).
    pub fn from_signal(signal: PeerSignal) -> Option<ServerMessage> {
        Some(match signal {
            PeerSignal::Answer { sdp } => ServerMessage::Answer { sdp },
            PeerSignal::Offer { sdp } => ServerMessage::Offer { sdp },
            PeerSignal::ParticipantJoined(p) => ServerMessage::ParticipantJoined {
                participant: (&p).into(),
            },
            PeerSignal::ParticipantLeft {
                participant,
                reason,
            } => ServerMessage::ParticipantLeft {
                participant: participant.to_string(),
                reason: reason.as_str().into(),
            },
            PeerSignal::TrackAdded {
                participant,
                mid,
                kind,
            } => ServerMessage::TrackAdded {
                participant: participant.to_string(),
                mid,
                kind: kind.as_str().into(),
            },
            PeerSignal::TrackRemoved { participant, mid } => ServerMessage::TrackRemoved {
                participant: participant.to_string(),
                mid,
            },
            PeerSignal::Error { code, message } => ServerMessage::Error {
                code: code.as_str().into(),
                message,
            },
            PeerSignal::ActiveSpeaker { participant } => ServerMessage::ActiveSpeaker {
                participant: participant.to_string(),
            },
            PeerSignal::Joined { .. } | PeerSignal::Closed { .. } => return None,
        })
    }
}

/// The close code and reason for a session the SFU ended.
pub fn close_for(reason: LeaveReason) -> (u16, &'static str) {
    match reason {
        LeaveReason::Left => (close::NORMAL, "left"),
        LeaveReason::Replaced => (
            close::REPLACED,
            "replaced by a newer session of the same participant",
        ),
        LeaveReason::ConnectTimeout => (close::TIMEOUT, "media did not connect in time"),
        LeaveReason::Unreachable => (close::TIMEOUT, "media stopped answering"),
        LeaveReason::RemoteClosed => (close::NORMAL, "the browser closed the media connection"),
        LeaveReason::Failed => (close::NORMAL, "the media connection failed"),
        LeaveReason::RoomFull => (close::ROOM_FULL, "the room is full"),
        LeaveReason::Shutdown => (close::GOING_AWAY, "the server is shutting down"),
        LeaveReason::RoomClosed => (close::NORMAL, "the call was ended"),
        LeaveReason::InternalError => (close::INTERNAL, "internal error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_from_the_documented_json() {
        let m: ClientMessage = serde_json::from_str(r#"{"type":"join","token":"t"}"#).unwrap();
        assert_eq!(m, ClientMessage::Join { token: "t".into() });
        let m: ClientMessage = serde_json::from_str(
            r#"{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 10.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}"#,
        )
        .unwrap();
        assert!(
            matches!(m, ClientMessage::Candidate { candidate: Some(c) } if c.sdp_m_line_index == Some(0))
        );
        let m: ClientMessage =
            serde_json::from_str(r#"{"type":"candidate","candidate":null}"#).unwrap();
        assert_eq!(m, ClientMessage::Candidate { candidate: None });
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"fly"}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"offer"}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"[1,2]"#).is_err());
    }

    #[test]
    fn server_messages_serialize_to_the_documented_json() {
        let m = ServerMessage::Welcome {
            participant: Participant {
                id: "a".into(),
                name: "A".into(),
            },
            room: "r".into(),
            participants: vec![],
            ice_servers: vec![],
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"type":"welcome","participant":{"id":"a","name":"A"},"room":"r","participants":[],"iceServers":[]}"#
        );
        let m = ServerMessage::TrackAdded {
            participant: "a".into(),
            mid: "3".into(),
            kind: "video".into(),
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"type":"track-added","participant":"a","mid":"3","kind":"video"}"#
        );
    }
}
