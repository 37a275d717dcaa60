//! Intercoms as virtual participants (see [`crate::bridge`]): joining one, its device
//! frames in, the 20 ms tick that sends every call's slot into its room, and browser
//! audio on its way to the device.

use std::sync::Arc;
use std::time::Instant;

use str0m::format::Codec;
use str0m::media::Mid;
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};

use super::{Engine, Output, Work};
use crate::bridge::link::LinkFrame;
use crate::bridge::{Bridge, BridgeCodec, SLOT_BYTES, TICK};
use crate::forward::{Rewrite, matching_pt};
use crate::ids::{RoomId, SessionId};
use crate::message::{ParticipantInfo, PeerSignal, TrackKind};
use crate::slab::Key;
use crate::tap::Tapped;

/// The m-line name of a virtual participant's one audio track.
const BRIDGE_MID: &str = "intercom";

impl Engine {
    /// A virtual participant joins `room` with the device's audio in `codec`. A G.711
    /// room speaks that law from now on (browsers that join get it instead of Opus);
    /// an L16 panel is transcoded to the room's Opus.
    pub(super) fn join_bridge(
        &mut self,
        now: Instant,
        session: SessionId,
        room: RoomId,
        info: ParticipantInfo,
        codec: BridgeCodec,
    ) {
        let refused = match (self.room_audio.get(&room), codec.law()) {
            (Some(room_law), Some(law)) => *room_law != law,
            (Some(_), None) => true,
            (None, Some(_)) => self.rooms.contains_key(&room),
            (None, None) => false,
        };
        let bridge = if refused { None } else { Bridge::new(codec) };
        let Some(bridge) = bridge else {
            self.outputs.push_back(Output::Signal(
                session,
                PeerSignal::Error {
                    code: crate::message::ErrorCode::BadSdp,
                    message: "the room's audio cannot take this panel's codec".into(),
                },
            ));
            self.outputs.push_back(Output::Signal(
                session,
                PeerSignal::Closed {
                    reason: crate::message::LeaveReason::Failed,
                },
            ));
            return;
        };
        if let Some(law) = codec.law() {
            self.room_audio.insert(room.clone(), law);
        }
        let Some(key) = self.join_as(now, session, room, info, Some(Box::new(bridge))) else {
            return;
        };
        self.bridges.push(key);
        self.next_bridge_tick.get_or_insert(now + TICK);
        if let Some(peer) = self.peers.get_mut(key) {
            let codec = codec.rtp();
            let params = peer
                .rtc
                .codec_config()
                .params()
                .iter()
                .find(|p| p.spec().codec == codec)
                .copied();
            if let Some(bridge) = peer.bridge.as_mut() {
                bridge.params = params;
            }
        }
        let mid = Mid::from(BRIDGE_MID);
        if let Some(peer) = self.peers.get_mut(key)
            && peer.add_track_in(mid, TrackKind::Audio)
        {
            self.work.push_back(Work::TrackAdded {
                publisher: key,
                mid,
                kind: TrackKind::Audio,
            });
        }
    }

    /// A device frame that came over the link of `session` (a virtual participant).
    pub fn handle_bridge_frame(&mut self, now: Instant, session: SessionId, frame: &LinkFrame) {
        self.now = now;
        let Some(key) = self.sessions.get(&session).copied() else {
            return;
        };
        let into_room_now = self
            .peers
            .get_mut(key)
            .and_then(|p| p.bridge.as_mut())
            .and_then(|bridge| {
                bridge
                    .device_frame(frame)
                    .then(|| bridge.device_time(frame.ts))
            });
        if let Some(time) = into_room_now {
            // An Opus panel's packet, as it came: the browsers' buffers take its jitter.
            self.inject(key, frame.payload(), false, time, now);
        }
    }

    /// The next frame for a device: (its virtual participant's session, the frame).
    /// Poll until `None` after each input, as [`Engine::poll_output`].
    pub fn poll_bridge_output(&mut self) -> Option<(SessionId, LinkFrame)> {
        self.bridge_out.pop_front()
    }

    /// One 20 ms tick for every call of this worker.
    pub(super) fn bridge_tick(&mut self, now: Instant) {
        let mut slot = [0u8; SLOT_BYTES];
        for i in 0..self.bridges.len() {
            let key = self.bridges[i];
            let Some(peer) = self.peers.get_mut(key) else {
                continue;
            };
            let session = peer.session;
            let Some(bridge) = peer.bridge.as_mut() else {
                continue;
            };
            bridge.tick_out(session, now, &mut self.bridge_out);
            let time = bridge.tick_time();
            let Some((marker, len)) = bridge.tick_in(now, &mut slot) else {
                continue;
            };
            self.inject(key, &slot[..len], marker, time, now);
        }
    }

    /// Writes one slot of a virtual participant's audio, of RTP time `time`, to
    /// everyone who receives it (and to the recording).
    fn inject(&mut self, from: Key, payload: &[u8], marker: bool, time: u64, now: Instant) {
        let Some(publisher) = self.peers.get_mut(from) else {
            return;
        };
        let Some(bridge) = publisher.bridge.as_mut() else {
            return;
        };
        let seq = bridge.seq;
        bridge.seq += 1;
        let ts = time as u32;
        let Some(params) = bridge.params else {
            return;
        };
        if publisher.recording {
            let tapped = Tapped {
                arrival_us: self.wall.at(now),
                seq,
                rtp_ts: time,
                marker,
                ssrc: bridge.ssrc,
            };
            self.tap_bridge(from, tapped, payload, &params);
        }
        let Some(publisher) = self.peers.get(from) else {
            return;
        };
        let Some(track) = publisher.tracks_in.first() else {
            return;
        };
        let source_mid = track.mid;
        // One payload for every subscriber (str0m keeps what it is given).
        let payload: Arc<[u8]> = Arc::from(payload);
        let subscribers = track.subscribers.len();
        for i in 0..subscribers {
            let Some(sub_key) = self
                .peers
                .get(from)
                .and_then(|p| p.tracks_in.first())
                .and_then(|t| t.subscribers.get(i))
                .copied()
            else {
                break;
            };
            let Some(sub) = self.peers.get_mut(sub_key) else {
                continue;
            };
            if !sub.connected || sub.bridge.is_some() {
                continue;
            }
            let Some((out, out_mid)) = sub.open_track_out(from, source_mid) else {
                continue;
            };
            let start_seq = sub.start_seq;
            let rtc = &sub.rtc;
            let rewrite = sub.tracks_out[out].forward.rewrite_at(
                SeqNo::from(seq),
                params.pt(),
                ts,
                start_seq,
                now,
                || matching_pt(&params, super::forwarding::negotiated_params(rtc, out_mid)),
            );
            let Rewrite::Send { seq_no, pt, ts } = rewrite else {
                self.stats.forward_drops += 1;
                continue;
            };
            let write = RtpWrite::new(pt, seq_no, ts, now, Arc::clone(&payload))
                .marker(marker)
                .ext_vals(ExtensionValues::default())
                .nackable(false);
            self.write_to(sub_key, out_mid, write, now);
        }
    }

    /// A browser's audio packet for a virtual participant subscribed to it.
    pub(super) fn bridge_hears(
        &mut self,
        sub: Key,
        from: Key,
        codec: Codec,
        seq: u64,
        payload: &[u8],
        now: Instant,
    ) {
        let Some(peer) = self.peers.get_mut(sub) else {
            return;
        };
        let session = peer.session;
        if let Some(bridge) = peer.bridge.as_mut() {
            bridge.room_audio(
                session,
                from,
                codec,
                seq,
                payload,
                now,
                &mut self.bridge_out,
            );
        }
    }

    /// A virtual participant, or someone its device hears, left.
    pub(super) fn bridge_left(&mut self, key: Key, room: &RoomId, bridged: bool) {
        if bridged {
            self.bridges.retain(|k| *k != key);
            if self.bridges.is_empty() {
                self.next_bridge_tick = None;
            }
        }
        for b in &self.bridges {
            if let Some(bridge) = self.peers.get_mut(*b).and_then(|p| p.bridge.as_mut()) {
                bridge.forget(key);
            }
        }
        if !self.rooms.contains_key(room) {
            self.room_audio.remove(room);
        }
    }
}
