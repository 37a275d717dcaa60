//! What each subscriber gets: layer bitrates measured every tick, each subscriber's
//! share of its bandwidth estimate given out (screens first, then cameras), the room's
//! cap applied, the recorder's layer and the room's active speaker chosen.

use std::time::Instant;

use str0m::media::KeyframeRequestKind;

use super::{Engine, Output, Work};
use crate::ids::RoomId;
use crate::message::{PeerSignal, TrackKind};
use crate::quality::speaker::takes_over;
use crate::quality::{
    AUDIO_RESERVE, LAYER_IDLE, LayerInfo, MAX_LAYERS, QUALITY_TICK, SWITCH_KEYFRAME_RETRY, smooth,
};
use crate::slab::Key;

impl Engine {
    /// Sets (or lifts, with `None`) the room's video cap, a frame height; it applies
    /// to everyone in the room in this pass.
    pub(super) fn set_cap(&mut self, room: &RoomId, max_height: Option<u16>, now: Instant) {
        match max_height {
            Some(h) => self.caps.insert(room.clone(), h),
            None => self.caps.remove(room),
        };
        let keys = self.rooms.get(room).cloned().unwrap_or_default();
        for key in keys {
            self.allocate(key, now);
        }
    }

    pub(super) fn quality_tick(&mut self, now: Instant) {
        for peer in self.peers.iter_mut() {
            for t in peer.tracks_in.iter_mut() {
                for l in t.layers.iter_mut() {
                    l.bitrate = smooth(l.bitrate, std::mem::take(&mut l.bytes), QUALITY_TICK);
                }
            }
        }
        // The recorder takes the best layer each publisher sends.
        let keys: Vec<Key> = self.peers.keys().collect();
        for key in &keys {
            let Some(peer) = self.peers.get_mut(*key) else {
                continue;
            };
            for i in 0..peer.tracks_in.len() {
                let (infos, n) = peer.layer_infos(i, now);
                let best = (0..n).rev().find(|l| infos[*l].active);
                let t = &mut peer.tracks_in[i];
                if best.is_some() && best != t.tap_target {
                    t.tap_target = best;
                    if peer.recording && t.kind == TrackKind::Video && t.tap_layer.is_some() {
                        self.work.push_back(Work::Keyframe {
                            publisher: *key,
                            mid: t.mid,
                            layer: best,
                            kind: KeyframeRequestKind::Pli,
                        });
                    }
                }
            }
        }
        for key in keys {
            self.allocate(key, now);
        }
        self.speaker_tick();
        self.run_work(now);
    }

    /// Chooses what subscriber `key` gets of every video track it receives. Touches no
    /// `Rtc` (what must reach one is queued as work), so forwarding may call it.
    pub(super) fn allocate(&mut self, key: Key, now: Instant) {
        let Some(sub) = self.peers.get(key) else {
            return;
        };
        let cap = self.caps.get(&sub.room).copied();
        // Audio first: what the subscribed audio tracks take now is set aside.
        let audio: u64 = sub
            .tracks_out
            .iter()
            .filter(|t| t.kind == TrackKind::Audio)
            .map(|t| {
                self.peers
                    .get(t.publisher)
                    .and_then(|p| p.tracks_in.iter().find(|i| i.mid == t.source_mid))
                    .and_then(|i| i.layers.first())
                    .map_or(0, |l| match l.last_packet {
                        // Silent (muted, or not sent yet): nothing to set aside.
                        None => 0,
                        Some(at) if now.duration_since(at) >= LAYER_IDLE => 0,
                        Some(_) if l.bitrate > 0 => l.bitrate,
                        Some(_) => AUDIO_RESERVE,
                    })
            })
            .sum();
        let mut left = sub.share_estimate().map(|e| e.saturating_sub(audio));
        let mut desired = audio;
        // Screens first: when bandwidth is short, the camera goes down first.
        let mut order: [(u8, usize); 16] = [(0, 0); 16];
        let mut n = 0;
        for (i, t) in sub.tracks_out.iter().enumerate() {
            if t.kind == TrackKind::Video && n < order.len() {
                order[n] = (t.priority as u8, i);
                n += 1;
            }
        }
        order[..n].sort_unstable();
        let mut paused = 0;
        for &(_, out) in &order[..n] {
            let Some(sub) = self.peers.get(key) else {
                return;
            };
            let t = &sub.tracks_out[out];
            let (publisher, source_mid) = (t.publisher, t.source_mid);
            let Some(track) = self
                .peers
                .get(publisher)
                .and_then(|p| p.tracks_in.iter().position(|t| t.mid == source_mid))
            else {
                continue;
            };
            let (infos, layers) = match self.peers.get(publisher) {
                Some(p) => p.layer_infos(track, now),
                None => continue,
            };
            let mut infos = infos;
            // What the chosen layer takes from the subscriber's share: what it sends.
            let sends = infos[0].bitrate;
            if layers == 1 {
                // One layer: its rate is the publisher's own adaptation to its uplink;
                // it pauses only where no video fits at all.
                infos[0].bitrate = infos[0].bitrate.min(crate::quality::SINGLE_LAYER_NEED);
            }
            let infos: &[LayerInfo] = &infos[..layers.min(MAX_LAYERS)];
            let allowed = |i: usize| {
                infos[i].active && cap.is_none_or(|c| infos[i].height == 0 || infos[i].height <= c)
            };
            let best = (0..infos.len()).rev().find(|i| allowed(*i));
            if let Some(best) = best {
                desired += infos[best].bitrate;
            }
            let Some(sub) = self.peers.get_mut(key) else {
                return;
            };
            let t = &mut sub.tracks_out[out];
            let was = t.chooser.target();
            t.chooser.update(now, left, infos, cap);
            let target = t.chooser.target();
            if let (Some(l), Some(chosen)) = (left.as_mut(), target) {
                // A lone layer is judged by what it needs at least but takes what it
                // sends: a 500 kbit/s screen leaves the camera 500 kbit/s less.
                *l = l.saturating_sub(if layers == 1 {
                    sends
                } else {
                    infos[chosen].bitrate
                });
            }
            if target.is_none() {
                // Paused for want of bandwidth (not a publisher that sends nothing).
                if infos.iter().any(|i| i.active) {
                    paused += 1;
                }
                if was.is_some() {
                    t.current = None;
                }
                continue;
            }
            // The chosen layer is not flowing yet: its keyframe is needed, asked for
            // again now and then until it comes.
            // A new target is asked for at once (layers that come back together after
            // an outage each move the target up).
            if let Some(layer) = target
                && target != t.current
                && t.asked_keyframe.is_none_or(|(asked, at)| {
                    asked != layer || now.duration_since(at) >= SWITCH_KEYFRAME_RETRY
                })
            {
                t.asked_keyframe = Some((layer, now));
                self.work.push_back(Work::Keyframe {
                    publisher,
                    mid: source_mid,
                    layer: target,
                    kind: KeyframeRequestKind::Pli,
                });
            }
        }
        let Some(sub) = self.peers.get_mut(key) else {
            return;
        };
        sub.paused_tracks = paused;
        // Let the estimator probe towards what the best allowed layers would take,
        // with the headroom an up-switch needs.
        let desired = ((desired as f64 * crate::quality::choose::UP_HEADROOM * 1.05) as u64)
            .max(crate::quality::INITIAL_ESTIMATE / 2);
        // str0m probes by itself when the desired rate rises above its estimate, and
        // in application-limited spells. Tried and left out for now (the way down
        // then took up to 2.1 s and 2.7 s): asking str0m to sustain the next layer's
        // rate with padding, and probing again by halving the desired rate for a tick.
        if sub.desired.abs_diff(desired) * 10 > sub.desired {
            sub.desired = desired;
            self.work.push_back(Work::Desired {
                peer: key,
                bps: desired,
            });
        }
    }

    /// Picks each room's active speaker from this tick's audio levels and tells the
    /// room when it changes.
    fn speaker_tick(&mut self) {
        let rooms: Vec<RoomId> = self.rooms.keys().cloned().collect();
        for room in rooms {
            let members = self.rooms.get(&room).cloned().unwrap_or_default();
            let mut loudest: Option<(Key, f64)> = None;
            let mut current_score = None;
            let current = self.speakers.get(&room).map(|(k, _)| *k);
            for key in &members {
                let Some(peer) = self.peers.get_mut(*key) else {
                    continue;
                };
                let score = peer
                    .tracks_in
                    .iter_mut()
                    .filter(|t| t.kind == TrackKind::Audio)
                    .map(|t| t.speaker.take())
                    .fold(0.0, f64::max);
                if Some(*key) == current {
                    current_score = Some(score);
                }
                if score > 0.0 && loudest.is_none_or(|(_, s)| score > s) {
                    loudest = Some((*key, score));
                }
            }
            let Some((key, score)) = loudest else {
                continue;
            };
            if Some(key) == current || !takes_over(current_score, score) {
                if Some(key) == current {
                    self.speakers.insert(room.clone(), (key, score));
                }
                continue;
            }
            self.speakers.insert(room.clone(), (key, score));
            let Some(speaker) = self.peers.get(key).map(|p| p.info.id.clone()) else {
                continue;
            };
            for member in &members {
                if let Some(peer) = self.peers.get(*member) {
                    self.outputs.push_back(Output::Signal(
                        peer.session,
                        PeerSignal::ActiveSpeaker {
                            participant: speaker.clone(),
                        },
                    ));
                }
            }
        }
        self.speakers
            .retain(|room, _| self.rooms.contains_key(room));
    }
}
