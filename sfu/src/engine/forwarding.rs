//! RTP from a publisher to everyone who receives the track, and data-channel
//! messages to the rest of the room. The per-packet path: no allocation, no lock, no
//! channel.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::Mid;
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite};
use str0m::{Input, Rtc};

use super::{Engine, Output};
use crate::forward::{Rewrite, matching_pt};
use crate::message::{SfuEvent, TrackKind};
use crate::peer::Peer;
use crate::quality::codec::{keyframe_size, starts_keyframe, vp8_ids, vp8_write_ids};
use crate::quality::{LAYER_IDLE, LAYER_LAGGING};
use crate::relay;
use crate::slab::Key;

/// A VP8 picture id and TL0PICIDX as one subscriber gets them.
type Vp8Out = (u16, u8);

impl Engine {
    /// Sends one RTP packet of `from` to everyone who receives that track (of a
    /// simulcast track: to those whose chosen layer it belongs to).
    pub(super) fn forward(&mut self, from: Key, packet: RtpPacket, now: Instant) {
        let Some(publisher) = self.peers.get_mut(from) else {
            return;
        };
        let Some((track, layer)) = publisher.track_in_index(packet.header.ssrc) else {
            self.stats.forward_drops += 1;
            return;
        };
        let Some(params) = publisher.track_in_params(track, packet.header.payload_type) else {
            self.stats.forward_drops += 1;
            return;
        };
        publisher.keyframe_due(track, layer, now);
        publisher.last_rtp = Some(now);
        let codec = params.spec().codec;
        let video = publisher.tracks_in[track].kind == TrackKind::Video;
        // Read once per packet: whether a switch may happen here, and the VP8 ids a
        // switch rewrites.
        let keyframe = video && starts_keyframe(codec, &packet.payload);
        let vp8 = if video && codec == Codec::Vp8 {
            vp8_ids(&packet.payload)
        } else {
            None
        };
        let woke = {
            let t = &mut publisher.tracks_in[track];
            // Taken as stopped after this long (see `Peer::layer_infos`).
            let idle = if t.layers.len() > 1 {
                LAYER_LAGGING
            } else {
                LAYER_IDLE
            };
            let l = &mut t.layers[layer];
            l.bytes += packet.payload.len() as u64;
            let woke = l
                .last_packet
                .is_none_or(|at| now.duration_since(at) >= idle);
            l.last_packet = Some(now);
            // A layer starts (or starts again): its subscribers choose now, so this
            // very packet may be the first they get; a recording moves up to it now
            // too (a layer coming back starts with a keyframe, which a tick later
            // has gone by).
            if woke && video && t.tap_target.is_some_and(|target| layer > target) {
                t.tap_target = Some(layer);
            }
            let woke = (woke && video).then(|| t.subscribers.clone());
            if keyframe && let Some((_, height)) = keyframe_size(codec, &packet.payload) {
                l.height = height;
            }
            if !video {
                t.speaker.add(
                    packet.header.ext_vals.audio_level,
                    packet.header.ext_vals.voice_activity,
                );
            }
            woke
        };
        let recording = publisher.recording;
        for sub in woke.into_iter().flatten() {
            self.allocate(sub, now);
        }
        if recording {
            self.tap(from, track, layer, keyframe, &packet, &params, now);
        }
        let Some(publisher) = self.peers.get_mut(from) else {
            return;
        };
        if publisher.media_quiet {
            // Rare (once per quiet spell): the only event sent from this path.
            publisher.media_quiet = false;
            self.outputs.push_back(Output::Event(SfuEvent::MediaActive {
                room: publisher.room.clone(),
                participant: publisher.info.id.clone(),
            }));
        }
        let source_mid = publisher.tracks_in[track].mid;
        let layers = publisher.tracks_in[track].layers.len();
        let wallclock = capture_wallclock(publisher, track, layer, &packet);
        // Only the extensions that describe the media itself travel on; transport ones
        // (TWCC, abs-send-time, mid, rid) belong to each hop.
        let ext_vals = ExtensionValues {
            audio_level: packet.header.ext_vals.audio_level,
            voice_activity: packet.header.ext_vals.voice_activity,
            video_orientation: packet.header.ext_vals.video_orientation,
            video_content_type: packet.header.ext_vals.video_content_type,
            ..ExtensionValues::default()
        };

        let mut rewritten: Option<(Vp8Out, Arc<[u8]>)> = None;
        let count = publisher.tracks_in[track].subscribers.len();
        for i in 0..count {
            let Some(sub_key) = self
                .peers
                .get(from)
                .and_then(|p| p.tracks_in.get(track))
                .and_then(|t| t.subscribers.get(i))
                .copied()
            else {
                break;
            };
            let Some(sub) = self.peers.get_mut(sub_key) else {
                continue;
            };
            if sub.bridge.is_some() {
                // An intercom: the audio goes to its device (video it cannot show).
                if !video {
                    self.bridge_hears(sub_key, from, codec, *packet.seq_no, &packet.payload, now);
                }
                continue;
            }
            let Some((out, out_mid)) = sub.open_track_out(from, source_mid) else {
                continue;
            };
            if !sub.connected {
                continue;
            }
            let start_seq = sub.start_seq;
            let rtc = &sub.rtc;
            let t = &mut sub.tracks_out[out];
            if video {
                let target = t.chooser.target();
                if target.is_none() {
                    // Paused (or not chosen yet): nothing of this track.
                    t.current = None;
                    continue;
                }
                if t.current != Some(layer) {
                    // Between layers only at a keyframe; a track of one layer starts
                    // anywhere (the subscriber asks for a keyframe if it needs one).
                    let single = layers == 1 && t.current.is_none();
                    // With nothing flowing (a start, or back after an outage), any
                    // keyframe at or below the target starts the picture; the target's
                    // own keyframe moves it up later.
                    let start =
                        keyframe && t.current.is_none() && target.is_some_and(|g| layer <= g);
                    let at_target = target == Some(layer) && (keyframe || single);
                    if !(at_target || start) {
                        continue;
                    }
                    // The chosen layer's keyframe: switch here.
                    t.forward
                        .switch(packet.seq_no, packet.header.timestamp, vp8.as_ref(), now);
                    if t.current.is_some() {
                        self.stats.layer_switches += 1;
                    }
                    t.current = Some(layer);
                    t.asked_keyframe = None;
                }
            }
            let rewrite = t.forward.rewrite_at(
                packet.seq_no,
                packet.header.payload_type,
                packet.header.timestamp,
                start_seq,
                now,
                || matching_pt(&params, negotiated_params(rtc, out_mid)),
            );
            let (seq_no, pt, ts) = match rewrite {
                Rewrite::Send { seq_no, pt, ts } => (seq_no, pt, ts),
                Rewrite::TooOld => continue,
                Rewrite::NoCodec => {
                    self.stats.forward_drops += 1;
                    continue;
                }
            };
            // The payload is shared by every subscriber; only one whose VP8 ids a layer
            // switch moved gets a copy, shared again by those moved alike.
            let payload = match vp8.as_ref() {
                Some(ids) if !t.forward.vp8_unchanged() => {
                    let out_ids = t.forward.vp8_ids_out(ids, seq_no);
                    match &rewritten {
                        Some((cached, arc)) if *cached == out_ids => Arc::clone(arc),
                        _ => {
                            let mut copy = packet.payload.to_vec();
                            vp8_write_ids(&mut copy, ids, out_ids.0, out_ids.1);
                            let arc: Arc<[u8]> = copy.into();
                            rewritten = Some((out_ids, Arc::clone(&arc)));
                            arc
                        }
                    }
                }
                Some(ids) => {
                    t.forward.vp8_ids_out(ids, seq_no);
                    packet.payload.clone()
                }
                None => packet.payload.clone(),
            };
            let write = RtpWrite::new(pt, seq_no, ts, wallclock, payload)
                .marker(packet.header.marker)
                .ext_vals(ext_vals.clone())
                .nackable(video);
            self.write_to(sub_key, out_mid, write, now);
        }
    }

    /// Writes one RTP packet to subscriber `sub_key` on its m-line `out_mid`. Written
    /// now, sent when the batch ends (see `flush_dirty`): the packets of a frame to one
    /// subscriber leave together, in one timeout pass and, where the kernel allows, one
    /// GSO send.
    pub(super) fn write_to(&mut self, sub_key: Key, out_mid: Mid, write: RtpWrite, now: Instant) {
        let Some(sub) = self.peers.get_mut(sub_key) else {
            return;
        };
        let written = catch_unwind(AssertUnwindSafe(|| {
            let mut direct = sub.rtc.direct_api();
            let Some(stream) = direct.stream_tx_by_mid(out_mid, None) else {
                return false;
            };
            stream.write_rtp(write);
            true
        }));
        match written {
            Ok(true) => {
                self.stats.rtp_forwarded += 1;
                if !sub.dirty {
                    sub.dirty = true;
                    self.dirty.push(sub_key);
                }
            }
            Ok(false) => self.stats.forward_drops += 1,
            Err(_) => self.peer_panicked(sub_key, now),
        }
    }

    /// Releases what forwarding wrote to subscribers: one timeout pass and drain per
    /// subscriber touched since the last flush.
    pub(super) fn flush_dirty(&mut self) {
        let now = self.now;
        while let Some(key) = self.dirty.pop() {
            if !self.peers.get(key).is_some_and(|p| p.dirty) {
                continue; // released by a later receive in the same batch
            }
            self.with_peer(key, now, |peer| {
                peer.dirty = false;
                // str0m releases queued packets as time passes; passing `now` sends them
                // in the drain that follows, not a timer tick later.
                let _ = peer.rtc.handle_input(Input::Timeout(now));
            });
        }
        self.run_work(now);
    }

    /// Hands a data-channel message to every other participant, on their channel of
    /// the same label.
    pub(super) fn relay(
        &mut self,
        from: Key,
        channel: ChannelId,
        text: bool,
        data: &[u8],
        now: Instant,
    ) {
        let Some(sender) = self.peers.get(from) else {
            return;
        };
        let Some(label) = sender
            .channels
            .iter()
            .find(|(c, _)| *c == channel)
            .map(|(_, l)| l.clone())
        else {
            return;
        };
        let frame = relay::encode(sender.info.id.as_str(), text, data);
        let members = self.rooms.get(&sender.room).cloned().unwrap_or_default();
        for key in members {
            if key == from {
                continue;
            }
            let sent = self.with_peer(key, now, |peer| {
                let id = peer.channel_for_label(&label)?;
                peer.rtc.channel(id)?.write(true, &frame).ok()
            });
            if let Some(Some(_)) = sent {
                self.stats.channel_messages += 1;
            }
        }
    }
}

/// The payload params a peer negotiated on its m-line `mid`.
pub(super) fn negotiated_params(
    rtc: &Rtc,
    mid: Mid,
) -> impl Iterator<Item = &str0m::format::PayloadParams> {
    let pts = rtc.media(mid).map(|m| m.remote_pts()).unwrap_or(&[]);
    rtc.codec_config()
        .params()
        .iter()
        .filter(move |p| pts.contains(&p.pt()))
}

/// When the publisher captured this packet, on our clock.
///
/// The publisher's sender reports tie its RTP clock to its wall clock, the same for
/// its audio and video; passing that on (rather than our arrival time) keeps lip sync
/// at the subscriber. The first report anchors the publisher's clock to ours; before
/// any report, arrival time stands in. Wall-clock arithmetic happens once per report,
/// not per packet: each track caches where its latest report falls on our clock.
fn capture_wallclock(
    publisher: &mut Peer,
    track: usize,
    layer: usize,
    packet: &RtpPacket,
) -> Instant {
    let Some(info) = packet.last_sender_info else {
        return packet.timestamp;
    };
    let (rtp_secs, base) = match publisher.tracks_in[track].layers[layer].sr_mapping {
        Some((ntp, rtp_secs, base)) if ntp == info.ntp_time => (rtp_secs, base),
        _ => {
            let rtp_secs = info.rtp_time.as_seconds();
            let since_report = packet.time.as_seconds() - rtp_secs;
            let (anchor_ntp, anchor_instant) = *publisher.ntp_anchor.get_or_insert_with(|| {
                // This packet's capture time on the publisher's clock is our arrival.
                let captured = shift_system(info.ntp_time, since_report).unwrap_or(info.ntp_time);
                (captured, packet.timestamp)
            });
            let base = match info.ntp_time.duration_since(anchor_ntp) {
                Ok(ahead) => anchor_instant.checked_add(ahead),
                Err(behind) => anchor_instant.checked_sub(behind.duration()),
            };
            let Some(base) = base else {
                return packet.timestamp;
            };
            publisher.tracks_in[track].layers[layer].sr_mapping =
                Some((info.ntp_time, rtp_secs, base));
            (rtp_secs, base)
        }
    };
    let since_report = packet.time.as_seconds() - rtp_secs;
    let wallclock = if since_report >= 0.0 {
        base.checked_add(Duration::from_secs_f64(since_report))
    } else {
        base.checked_sub(Duration::from_secs_f64(-since_report))
    };
    wallclock.unwrap_or(packet.timestamp)
}

fn shift_system(t: std::time::SystemTime, secs: f64) -> Option<std::time::SystemTime> {
    if secs >= 0.0 {
        t.checked_add(Duration::from_secs_f64(secs))
    } else {
        t.checked_sub(Duration::from_secs_f64(-secs))
    }
}
