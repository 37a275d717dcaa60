//! The recorder's tap: RTP of recorded rooms, gathered per track and handed out as
//! [`Output::Tap`] batches twice a second and when a track ends.

use std::collections::VecDeque;
use std::time::Instant;

use str0m::format::PayloadParams;
use str0m::media::KeyframeRequestKind;
use str0m::rtp::RtpPacket;

use super::{Engine, Output, Work};
use crate::ids::RoomId;
use crate::message::TrackKind;
use crate::peer::Peer;
use crate::slab::Key;
use crate::tap::{TapBuffer, Tapped};

impl Engine {
    /// Taps a packet of layer `layer` of a recorded track. The recording takes the
    /// best layer the publisher sends (the highest active one, chosen each quality
    /// tick) and moves to another only at its keyframe, rewritten so that the capture
    /// stays one stream: the merged file changes resolution, never breaks.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn tap(
        &mut self,
        from: Key,
        track: usize,
        layer: usize,
        keyframe: bool,
        packet: &RtpPacket,
        params: &PayloadParams,
        now: Instant,
    ) {
        let arrival = self.wall.at(now);
        let Some(publisher) = self.peers.get_mut(from) else {
            return;
        };
        let t = &mut publisher.tracks_in[track];
        let video = t.kind == TrackKind::Video;
        // Simulcast: wait for the first quality tick to name the best layer (a fifth
        // of a second) rather than start on whichever layer came first.
        let target = match t.tap_target {
            Some(target) => target,
            None if t.layers.len() == 1 => 0,
            None => return,
        };
        let mut ask = false;
        match t.tap_layer {
            Some(current) if current == layer => {
                // Still on another layer than the one wanted: its keyframe is asked
                // for again (once a second) until it comes.
                ask = current != target && t.tap.as_mut().is_some_and(|tap| tap.keyframe_due(now));
            }
            // The first packet of the recording: take its layer if it is the one wanted.
            None if layer == target => t.tap_layer = Some(layer),
            _ if layer == target && keyframe => {
                t.tap_rewrite
                    .switch(*packet.seq_no, packet.time.numer(), now);
                t.tap_layer = Some(layer);
            }
            _ => return,
        }
        let fresh = t.tap.is_none();
        let tap = t.tap.get_or_insert_with(TapBuffer::default);
        // A recording starts decodable, and recovers from a loss, with a keyframe.
        let (seq, ts) = t
            .tap_rewrite
            .rewrite(*packet.seq_no, packet.time.numer(), now);
        if video && (ask || fresh || tap.wants_keyframe(seq, now)) {
            tap.asked_keyframe(now);
            self.work.push_back(Work::Keyframe {
                publisher: from,
                mid: t.mid,
                layer: Some(target),
                kind: KeyframeRequestKind::Pli,
            });
        }
        let tapped = Tapped {
            arrival_us: arrival,
            seq,
            rtp_ts: ts,
            marker: packet.header.marker,
            ssrc: *packet.header.ssrc,
        };
        tap.push(tapped, &packet.payload, params);
    }

    /// Taps a slot of a virtual participant (an intercom): one audio track of one
    /// layer, nothing to choose or rewrite.
    pub(super) fn tap_bridge(
        &mut self,
        from: Key,
        tapped: Tapped,
        payload: &[u8],
        params: &PayloadParams,
    ) {
        let Some(t) = self
            .peers
            .get_mut(from)
            .and_then(|p| p.tracks_in.first_mut())
        else {
            return;
        };
        t.tap
            .get_or_insert_with(TapBuffer::default)
            .push(tapped, payload, params);
    }

    /// Starts or stops recording `room`: its publishers' RTP goes to the tap.
    pub(super) fn record(&mut self, room: &RoomId, on: bool, now: Instant) {
        let keys = self.rooms.get(room).cloned().unwrap_or_default();
        if on {
            self.recorded.insert(room.clone());
        } else {
            self.recorded.remove(room);
        }
        for key in keys {
            let Some(peer) = self.peers.get_mut(key) else {
                continue;
            };
            peer.recording = on;
            if !on {
                hand_over(&mut self.outputs, peer, true);
            }
        }
        let _ = now;
    }

    /// Hands every recorded track's gathered RTP to the tap (`closed`: nothing follows).
    pub(super) fn flush_tap(&mut self, closed: bool) {
        for peer in self.peers.iter_mut() {
            if peer.recording || peer.tracks_in.iter().any(|t| t.tap.is_some()) {
                hand_over(&mut self.outputs, peer, closed);
            }
        }
    }
}

/// Hands a peer's tapped tracks to the recorder (`closed`: nothing follows).
pub(super) fn hand_over(outputs: &mut VecDeque<Output>, peer: &mut Peer, closed: bool) {
    for t in peer.tracks_in.iter_mut() {
        let Some(buffer) = t.tap.as_mut() else {
            continue;
        };
        if buffer.is_empty() && !closed {
            continue;
        }
        if let Some(batch) = buffer.take(
            &peer.room,
            &peer.info.id,
            peer.session,
            t.kind,
            t.mid.to_string(),
            closed,
        ) {
            outputs.push_back(Output::Tap(batch));
        }
        if closed {
            t.tap = None;
        }
    }
}
