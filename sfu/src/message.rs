//! The messages between the control plane and the SFU's workers.
//!
//! Control sends [`Command`]s; a worker answers a session through that session's
//! [`SignalSink`] with [`PeerSignal`]s and reports to the control plane with [`SfuEvent`]s.
//! The engine itself sends nothing anywhere: it returns signals and events from
//! [`crate::Engine::poll_output`], and the worker hands them to these sinks.
//! Nothing else crosses the boundary, so the same messages could later travel between
//! processes or nodes.

use std::fmt;

use tokio::sync::mpsc::UnboundedSender;

use crate::ids::{ParticipantId, RoomId, SessionId};

/// Where a worker sends the signals meant for one session.
pub type SignalSink = UnboundedSender<PeerSignal>;
/// Where workers send what the control plane should know.
pub type EventSink = UnboundedSender<SfuEvent>;

/// A request from the control plane to the engine of the worker that owns the room.
#[derive(Debug)]
pub enum Command {
    /// A participant joins a room through a new signaling session.
    Join {
        /// The session; later commands name it.
        session: SessionId,
        /// The room to join; created on first join.
        room: RoomId,
        /// Who joins. A second session of the same participant replaces the first.
        participant: ParticipantId,
        /// Display name shown to the others.
        name: String,
    },
    /// An SDP offer from the session's browser.
    Offer {
        /// Whose offer.
        session: SessionId,
        /// The SDP text.
        sdp: String,
    },
    /// An SDP answer to the worker's last offer.
    Answer {
        /// Whose answer.
        session: SessionId,
        /// The SDP text.
        sdp: String,
    },
    /// A trickled ICE candidate (`candidate:...` attribute value).
    Candidate {
        /// Whose candidate.
        session: SessionId,
        /// The candidate attribute.
        candidate: String,
    },
    /// An intercom's virtual participant joins a room: its device's audio (in `codec`)
    /// goes in through [`crate::Engine::handle_bridge_frame`] and the room's comes out
    /// of [`crate::Engine::poll_bridge_output`]. A G.711 room speaks that law from now
    /// on: join it before the browsers. `Leave` ends it.
    Bridge {
        /// The virtual participant's session.
        session: SessionId,
        /// The room; created on first join.
        room: RoomId,
        /// Its participant id.
        participant: ParticipantId,
        /// Its display name (the panel's).
        name: String,
        /// The device's codec (and how it meets the room's).
        codec: crate::bridge::BridgeCodec,
    },
    /// The session ends: the participant leaves the room.
    Leave {
        /// Which session.
        session: SessionId,
    },
    /// Start (`on`) or stop recording a room.
    Record {
        /// The room.
        room: RoomId,
        /// Record or not.
        on: bool,
    },
    /// Close every peer of a room (the call was ended by the control plane).
    CloseRoom {
        /// The room.
        room: RoomId,
    },
    /// Cap the room's video at a frame height (`None`: no cap): no subscriber gets a
    /// layer taller than this. Applies at once to everyone in the room.
    SetVideoCap {
        /// The room.
        room: RoomId,
        /// Highest frame height forwarded.
        max_height: Option<u16>,
    },
    /// Close every peer and stop the worker.
    Shutdown,
}

/// A kind of media track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    /// Audio.
    Audio,
    /// Video.
    Video,
}

impl TrackKind {
    /// `audio` or `video`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackKind::Audio => "audio",
            TrackKind::Video => "video",
        }
    }
}

/// A participant as others see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantInfo {
    /// Id, unique in the room.
    pub id: ParticipantId,
    /// Display name.
    pub name: String,
}

/// What a worker tells one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerSignal {
    /// The join went through; these others are already in the room.
    Joined {
        /// Everyone else in the room.
        participants: Vec<ParticipantInfo>,
    },
    /// The SFU's answer to the session's offer.
    Answer {
        /// SDP text.
        sdp: String,
    },
    /// The SFU offers a change (tracks of others added or removed).
    Offer {
        /// SDP text.
        sdp: String,
    },
    /// Someone joined the room.
    ParticipantJoined(ParticipantInfo),
    /// Someone left the room.
    ParticipantLeft {
        /// Who.
        participant: ParticipantId,
        /// Why, in words.
        reason: LeaveReason,
    },
    /// A track of another participant is in the offer that follows, on `mid`.
    TrackAdded {
        /// Whose track.
        participant: ParticipantId,
        /// The m-line (transceiver) the browser will receive it on.
        mid: String,
        /// Audio or video.
        kind: TrackKind,
    },
    /// A track of another participant stopped.
    TrackRemoved {
        /// Whose track.
        participant: ParticipantId,
        /// The m-line it was received on.
        mid: String,
    },
    /// A request of the session could not be done; the session goes on.
    Error {
        /// Stable code, for programs.
        code: ErrorCode,
        /// Words for people.
        message: String,
    },
    /// The SFU dropped this session's peer; no more signals follow.
    Closed {
        /// Why.
        reason: LeaveReason,
    },
    /// Who speaks now in the room (from the audio levels of what each publishes).
    ActiveSpeaker {
        /// The speaker.
        participant: ParticipantId,
    },
}

/// Stable codes of [`PeerSignal::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The SDP could not be applied.
    BadSdp,
    /// The ICE candidate could not be parsed.
    BadCandidate,
    /// An answer came when no offer was outstanding.
    UnexpectedAnswer,
    /// The room is at its participant limit.
    RoomFull,
    /// The command named a session the worker does not know (already gone).
    UnknownSession,
    /// The client's DTLS certificate is of a kind the server cannot verify (RSA); the
    /// connection cannot come up.
    UnsupportedCertificate,
}

impl ErrorCode {
    /// The code as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadSdp => "bad-sdp",
            ErrorCode::BadCandidate => "bad-candidate",
            ErrorCode::UnexpectedAnswer => "unexpected-answer",
            ErrorCode::RoomFull => "room-full",
            ErrorCode::UnknownSession => "unknown-session",
            ErrorCode::UnsupportedCertificate => "unsupported-certificate",
        }
    }
}

/// Why a participant left or was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// The session said leave, or its socket closed.
    Left,
    /// A newer session of the same participant took over.
    Replaced,
    /// ICE or DTLS did not come up in time.
    ConnectTimeout,
    /// The browser stopped answering ICE consent checks.
    Unreachable,
    /// The browser closed the DTLS connection.
    RemoteClosed,
    /// The connection failed (a DTLS or SRTP error).
    Failed,
    /// The room was full.
    RoomFull,
    /// The server is shutting down.
    Shutdown,
    /// The call was ended (the room closed by the control plane).
    RoomClosed,
    /// The peer hit a bug and was dropped to protect the others.
    InternalError,
}

impl LeaveReason {
    /// The reason as sent on the wire and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveReason::Left => "left",
            LeaveReason::Replaced => "replaced",
            LeaveReason::ConnectTimeout => "connect-timeout",
            LeaveReason::Unreachable => "unreachable",
            LeaveReason::RemoteClosed => "remote-closed",
            LeaveReason::Failed => "failed",
            LeaveReason::RoomFull => "room-full",
            LeaveReason::Shutdown => "shutdown",
            LeaveReason::RoomClosed => "room-closed",
            LeaveReason::InternalError => "internal-error",
        }
    }
}

impl fmt::Display for LeaveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What workers report to the control plane.
#[derive(Debug, Clone)]
pub enum SfuEvent {
    /// ICE and DTLS are up: media can flow.
    PeerConnected {
        /// Room.
        room: RoomId,
        /// Participant.
        participant: ParticipantId,
    },
    /// A connected participant sent no RTP for a while.
    MediaInactive {
        /// Room.
        room: RoomId,
        /// Participant.
        participant: ParticipantId,
        /// How long it has been quiet.
        quiet_for: std::time::Duration,
    },
    /// A participant reported inactive sends RTP again.
    MediaActive {
        /// Room.
        room: RoomId,
        /// Participant.
        participant: ParticipantId,
    },
    /// A participant started sending a track.
    TrackPublished {
        /// Room.
        room: RoomId,
        /// Participant.
        participant: ParticipantId,
        /// Audio or video.
        kind: TrackKind,
    },
    /// A participant's peer is gone.
    PeerGone {
        /// Room.
        room: RoomId,
        /// Participant.
        participant: ParticipantId,
        /// Why.
        reason: LeaveReason,
    },
    /// Counters of one worker since its previous report.
    Stats(WorkerStats),
}

/// Traffic counters of one worker. Counts are since the previous report; `rooms` and
/// `peers`, `paused_video` and `estimates_bps` are current values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Which worker.
    pub worker: usize,
    /// Rooms the worker owns now.
    pub rooms: u64,
    /// Peers the worker owns now.
    pub peers: u64,
    /// Datagrams received on the media socket.
    pub packets_in: u64,
    /// Bytes received on the media socket.
    pub bytes_in: u64,
    /// Datagrams sent.
    pub packets_out: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// RTP packets handed to subscribers.
    pub rtp_forwarded: u64,
    /// RTP packets that could not be forwarded (no codec match, stream not ready).
    pub forward_drops: u64,
    /// Datagrams the kernel would not take (send buffer full) or refused.
    pub send_drops: u64,
    /// Send syscalls made (below `packets_out` when GSO coalesces).
    pub send_syscalls: u64,
    /// Times the worker woke up (I/O, commands or timers).
    pub wakeups: u64,
    /// Timer passes over peers (str0m timeouts).
    pub timer_fires: u64,
    /// Datagrams from addresses that belong to no peer.
    pub unknown_source: u64,
    /// Data-channel messages relayed (counted once per receiver).
    pub channel_messages: u64,
    /// Peers dropped because they hit a bug.
    pub peer_panics: u64,
    /// Subscribers moved from one simulcast layer to another.
    pub layer_switches: u64,
    /// Video tracks paused now at their subscriber for want of bandwidth.
    pub paused_video: u64,
    /// The bandwidth estimate of each connected peer's path now, bit/s.
    pub estimates_bps: Vec<u64>,
    /// Intercom calls in the worker's rooms now.
    pub bridges: u64,
    /// What the intercom bridges did.
    pub bridge: crate::bridge::BridgeStats,
}

impl WorkerStats {
    /// Adds the counters of `other` (not the gauges).
    pub fn add_counts(&mut self, other: &WorkerStats) {
        self.bridge.add(&other.bridge);
        self.packets_in += other.packets_in;
        self.bytes_in += other.bytes_in;
        self.packets_out += other.packets_out;
        self.bytes_out += other.bytes_out;
        self.rtp_forwarded += other.rtp_forwarded;
        self.forward_drops += other.forward_drops;
        self.send_drops += other.send_drops;
        self.send_syscalls += other.send_syscalls;
        self.wakeups += other.wakeups;
        self.timer_fires += other.timer_fires;
        self.unknown_source += other.unknown_source;
        self.channel_messages += other.channel_messages;
        self.peer_panics += other.peer_panics;
        self.layer_switches += other.layer_switches;
    }
}
