//! The media server as the domain sees it: join a room, record it, close it.
//!
//! The SFU implements it (`crate::media`); tests and control-only nodes use
//! [`NoMedia`], which refuses joins and remembers the other commands.

use std::sync::Mutex;

use tokio::sync::mpsc::UnboundedSender;
use vchat_sfu::{ParticipantId, PeerSignal, RoomId};

/// The server takes no new joins (it is stopping, or has no media server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the media server takes no new joins")]
pub struct Refused;

/// One participant's media session.
pub trait MediaSession: Send + Sync {
    /// The browser's SDP offer; the answer comes as a signal.
    fn offer(&self, sdp: String) -> Result<(), Refused>;
    /// The browser's answer to the server's last offer.
    fn answer(&self, sdp: String) -> Result<(), Refused>;
    /// A trickled ICE candidate.
    fn candidate(&self, candidate: String) -> Result<(), Refused>;
    /// An id for the logs.
    fn id(&self) -> String;
    /// Leaves the room now.
    fn leave(self: Box<Self>);
}

/// The media server.
pub trait Media: Send + Sync + 'static {
    /// Joins `participant` to `room`; the session's signals arrive on `signals`, the
    /// first being `Joined` or `Closed`.
    fn join(
        &self,
        room: RoomId,
        participant: ParticipantId,
        name: String,
        signals: UnboundedSender<PeerSignal>,
    ) -> Result<Box<dyn MediaSession>, Refused>;
    /// Bridges an intercom's call into `room` as participant `participant`: its
    /// session, and the link its audio crosses (see `vchat_sfu::bridge`).
    fn bridge(
        &self,
        room: RoomId,
        participant: ParticipantId,
        name: String,
        codec: vchat_sfu::bridge::BridgeCodec,
        signals: UnboundedSender<PeerSignal>,
    ) -> Result<(Box<dyn MediaSession>, vchat_sfu::bridge::link::DeviceEnd), Refused>;
    /// Starts or stops recording `room`.
    fn record(&self, room: RoomId, on: bool);
    /// Ends every session in `room`.
    fn close_room(&self, room: RoomId);
    /// Caps the video of `room` at `max_height` lines: no one there receives a
    /// taller simulcast layer (the apps also cap what they send).
    fn set_video_cap(&self, room: RoomId, max_height: Option<u16>);
}

/// Records the room ids a recording call or a close named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCall {
    /// `record(room, on)`.
    Record(String, bool),
    /// `close_room(room)`.
    Close(String),
    /// `set_video_cap(room, max_height)`.
    Cap(String, Option<u16>),
}

/// No media server: joins are refused, other commands are remembered.
#[derive(Debug, Default)]
pub struct NoMedia {
    calls: Mutex<Vec<MediaCall>>,
}

impl NoMedia {
    /// The commands so far.
    pub fn calls(&self) -> Vec<MediaCall> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Media for NoMedia {
    fn join(
        &self,
        _room: RoomId,
        _participant: ParticipantId,
        _name: String,
        _signals: UnboundedSender<PeerSignal>,
    ) -> Result<Box<dyn MediaSession>, Refused> {
        Err(Refused)
    }

    fn bridge(
        &self,
        _room: RoomId,
        _participant: ParticipantId,
        _name: String,
        _codec: vchat_sfu::bridge::BridgeCodec,
        _signals: UnboundedSender<PeerSignal>,
    ) -> Result<(Box<dyn MediaSession>, vchat_sfu::bridge::link::DeviceEnd), Refused> {
        Err(Refused)
    }

    fn record(&self, room: RoomId, on: bool) {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(MediaCall::Record(room.to_string(), on));
    }

    fn close_room(&self, room: RoomId) {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(MediaCall::Close(room.to_string()));
    }

    fn set_video_cap(&self, room: RoomId, max_height: Option<u16>) {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(MediaCall::Cap(room.to_string(), max_height));
    }
}
