//! The SFU as the domain's media server ([`crate::domain::media::Media`]).

use tokio::sync::mpsc::UnboundedSender;
use vchat_sfu::{ParticipantId, PeerSignal, RoomId, Session, Sfu};

use crate::domain::media::{Media, MediaSession, Refused};

impl Media for Sfu {
    fn join(
        &self,
        room: RoomId,
        participant: ParticipantId,
        name: String,
        signals: UnboundedSender<PeerSignal>,
    ) -> Result<Box<dyn MediaSession>, Refused> {
        Sfu::join(self, room, participant, name, signals)
            .map(|s| Box::new(s) as Box<dyn MediaSession>)
            .map_err(|_| Refused)
    }

    fn bridge(
        &self,
        room: RoomId,
        participant: ParticipantId,
        name: String,
        codec: vchat_sfu::bridge::BridgeCodec,
        signals: UnboundedSender<PeerSignal>,
    ) -> Result<(Box<dyn MediaSession>, vchat_sfu::bridge::link::DeviceEnd), Refused> {
        Sfu::bridge(self, room, participant, name, codec, signals)
            .map(|(s, link)| (Box::new(s) as Box<dyn MediaSession>, link))
            .map_err(|_| Refused)
    }

    fn record(&self, room: RoomId, on: bool) {
        Sfu::record(self, room, on);
    }

    fn close_room(&self, room: RoomId) {
        Sfu::close_room(self, room);
    }

    fn set_video_cap(&self, room: RoomId, max_height: Option<u16>) {
        Sfu::set_video_cap(self, room, max_height);
    }
}

impl MediaSession for Session {
    fn offer(&self, sdp: String) -> Result<(), Refused> {
        Session::offer(self, sdp).map_err(|_| Refused)
    }
    fn answer(&self, sdp: String) -> Result<(), Refused> {
        Session::answer(self, sdp).map_err(|_| Refused)
    }
    fn candidate(&self, candidate: String) -> Result<(), Refused> {
        Session::candidate(self, candidate).map_err(|_| Refused)
    }
    fn id(&self) -> String {
        Session::id(self).to_string()
    }
    fn leave(self: Box<Self>) {
        Session::leave(*self);
    }
}
