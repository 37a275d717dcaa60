//! Who is in which room: joins, leaves, the tracks each publishes and who receives
//! them, and the deadlines that drop peers that never connect or stop answering.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use str0m::bwe::Bitrate;
use str0m::media::Mid;
use str0m::{Candidate, Output as RtcOutput, Rtc};

use super::recording::hand_over;
use super::{CLOSE_DRAIN_LIMIT, Engine, HOUSEKEEPING, Output, Work};
use crate::ids::{RoomId, SessionId};
use crate::message::{ErrorCode, LeaveReason, ParticipantInfo, PeerSignal, SfuEvent, TrackKind};
use crate::peer::{Peer, Priority};
use crate::slab::Key;

impl Engine {
    pub(super) fn join(
        &mut self,
        now: Instant,
        session: SessionId,
        room: RoomId,
        info: ParticipantInfo,
    ) {
        self.join_as(now, session, room, info, None);
    }

    /// A participant joins: a browser, or an intercom's virtual participant
    /// (`bridge`). Its key, unless it was turned away.
    pub(super) fn join_as(
        &mut self,
        now: Instant,
        session: SessionId,
        room: RoomId,
        info: ParticipantInfo,
        bridge: Option<Box<crate::bridge::Bridge>>,
    ) -> Option<Key> {
        if self.shutting_down {
            self.outputs.push_back(Output::Signal(
                session,
                PeerSignal::Closed {
                    reason: LeaveReason::Shutdown,
                },
            ));
            return None;
        }
        // The same participant again (a reload, a reconnect): the new session wins.
        let members = self.rooms.get(&room).cloned().unwrap_or_default();
        if let Some(old) = members
            .iter()
            .find(|k| self.peers.get(**k).is_some_and(|p| p.info.id == info.id))
        {
            self.remove(*old, LeaveReason::Replaced, now);
        }
        let members = self.rooms.get(&room).cloned().unwrap_or_default();
        if members.len() >= self.limits.max_participants_per_room {
            self.outputs.push_back(Output::Signal(
                session,
                PeerSignal::Error {
                    code: ErrorCode::RoomFull,
                    message: format!("room is full ({} participants)", members.len()),
                },
            ));
            self.outputs.push_back(Output::Signal(
                session,
                PeerSignal::Closed {
                    reason: LeaveReason::RoomFull,
                },
            ));
            return None;
        }

        let rtc = self.new_rtc(now, self.room_audio.get(&room).copied());
        let start_seq = rand::random::<u16>() & 0x7fff;
        let key = self.peers.insert_with(|key| {
            Peer::new(
                key,
                session,
                room.clone(),
                info.clone(),
                rtc,
                now,
                start_seq,
            )
        });
        let recorded = self.recorded.contains(&room);
        let peer = self.peers.get_mut(key)?;
        peer.recording = recorded;
        if bridge.is_some() {
            // Nothing reaches a virtual participant over the network: it is connected
            // from the start and known to no demux.
            peer.bridge = bridge;
            peer.connected = true;
        } else {
            self.demux.register_ufrag(peer.ufrag.clone(), key);
        }
        self.sessions.insert(session, key);
        self.rooms.entry(room.clone()).or_default().push(key);

        let others: Vec<ParticipantInfo> = members
            .iter()
            .filter_map(|k| self.peers.get(*k))
            .map(|p| p.info.clone())
            .collect();
        if let Some(peer) = self.peers.get_mut(key) {
            peer.signal(PeerSignal::Joined {
                participants: others,
            });
        }
        for other in &members {
            let Some(other_peer) = self.peers.get_mut(*other) else {
                continue;
            };
            other_peer.signal(PeerSignal::ParticipantJoined(info.clone()));
            let session = other_peer.session;
            self.outputs.extend(
                other_peer
                    .outbox
                    .drain(..)
                    .map(|s| Output::Signal(session, s)),
            );
            let Some(other_peer) = self.peers.get_mut(*other) else {
                continue;
            };
            let other_info = other_peer.info.clone();
            let tracks: Vec<(Mid, TrackKind, Priority)> = other_peer
                .tracks_in
                .iter()
                .map(|t| (t.mid, t.kind, t.priority))
                .collect();
            for track in other_peer.tracks_in.iter_mut() {
                track.subscribers.push(key);
            }
            if let Some(peer) = self.peers.get_mut(key) {
                for (mid, kind, priority) in tracks {
                    peer.subscribe(*other, &other_info, mid, kind, priority);
                }
            }
        }
        if self.next_housekeeping.is_none() {
            self.next_housekeeping = Some(now + HOUSEKEEPING);
        }
        tracing::info!(%room, participant = %info.id, %session, worker = self.worker, "joined");
        self.drain(key, now);
        Some(key)
    }

    /// A new peer's `Rtc`; `law`: the room has an intercom and speaks its G.711 law
    /// instead of Opus (every browser offers both laws), so its audio passes through.
    pub(super) fn new_rtc(&self, now: Instant, law: Option<vchat_intercom::g711::Law>) -> Rtc {
        use vchat_intercom::g711::Law;
        // VP8 and H.264 are what every browser vchat supports (Safari 14 lacks VP9), and
        // an SFU cannot transcode: a codec only some can decode would leave others blank.
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(law.is_none(), false)
            .enable_pcmu(law == Some(Law::Ulaw), false)
            .enable_pcma(law == Some(Law::Alaw), false)
            .enable_vp8(true)
            .enable_h264(true)
            // TWCC-based estimation of the path to this peer: what chooses its layers.
            // With it comes str0m's pacer, which sends one packet per timeout pass
            // (see `Engine::poll_rtc`).
            .enable_bwe(
                self.limits
                    .bandwidth_estimation
                    .then(|| Bitrate::from(crate::quality::INITIAL_ESTIMATE)),
            )
            // With it, its unsmoothed estimate, in the peer's stats (see
            // `Peer::raw_estimate`).
            .set_stats_interval(
                self.limits
                    .bandwidth_estimation
                    .then_some(crate::quality::QUALITY_TICK),
            )
            .set_crypto_provider(self.crypto.clone())
            .set_dtls_cert(self.cert.clone())
            .build(now);
        if let Ok(candidate) = Candidate::host(self.local_addr, "udp") {
            rtc.add_local_candidate(candidate);
        }
        rtc
    }

    pub(super) fn track_added(&mut self, publisher: Key, mid: Mid, kind: TrackKind, now: Instant) {
        let Some(peer) = self.peers.get(publisher) else {
            return;
        };
        let info = peer.info.clone();
        let room = peer.room.clone();
        let priority = peer
            .tracks_in
            .iter()
            .find(|t| t.mid == mid)
            .map_or(Priority::Camera, |t| t.priority);
        let members: Vec<Key> = self
            .rooms
            .get(&room)
            .map(|m| m.iter().copied().filter(|k| *k != publisher).collect())
            .unwrap_or_default();
        tracing::info!(%room, participant = %info.id, %mid, kind = kind.as_str(), "track published");
        self.outputs
            .push_back(Output::Event(SfuEvent::TrackPublished {
                room,
                participant: info.id.clone(),
                kind,
            }));
        for sub in &members {
            if let Some(sub_peer) = self.peers.get_mut(*sub) {
                sub_peer.subscribe(publisher, &info, mid, kind, priority);
            }
        }
        if let Some(track) = self
            .peers
            .get_mut(publisher)
            .and_then(|p| p.tracks_in.iter_mut().find(|t| t.mid == mid))
        {
            for sub in &members {
                if !track.subscribers.contains(sub) {
                    track.subscribers.push(*sub);
                }
            }
        }
        for sub in members {
            self.with_peer(sub, now, |peer| peer.negotiate(now));
        }
    }

    pub(super) fn track_removed(&mut self, publisher: Key, mid: Mid, now: Instant) {
        let Some(peer) = self.peers.get_mut(publisher) else {
            return;
        };
        let Some(index) = peer.tracks_in.iter().position(|t| t.mid == mid) else {
            return;
        };
        let track = peer.tracks_in.remove(index);
        for sub in track.subscribers {
            self.with_peer(sub, now, |peer| {
                peer.unsubscribe(publisher, Some(mid));
                peer.negotiate(now);
            });
        }
    }

    pub(super) fn remove(&mut self, key: Key, reason: LeaveReason, now: Instant) {
        let Some(mut peer) = self.peers.remove(key) else {
            return;
        };
        hand_over(&mut self.outputs, &mut peer, true);
        if self.sessions.get(&peer.session) == Some(&key) {
            self.sessions.remove(&peer.session);
        }
        self.demux.forget(key, &peer.ufrag, &peer.addrs);
        let members = match self.rooms.get_mut(&peer.room) {
            Some(members) => {
                members.retain(|k| *k != key);
                let rest = members.clone();
                if rest.is_empty() {
                    self.rooms.remove(&peer.room);
                }
                rest
            }
            None => Vec::new(),
        };

        // Say goodbye on the wire (RTCP BYE, DTLS close_notify), best effort.
        if peer.rtc.is_alive() && catch_unwind(AssertUnwindSafe(|| peer.rtc.close())).is_ok() {
            for _ in 0..CLOSE_DRAIN_LIMIT {
                match catch_unwind(AssertUnwindSafe(|| peer.rtc.poll_output())) {
                    Ok(Ok(RtcOutput::Transmit(t))) => self.transmits.push_back(t),
                    Ok(Ok(RtcOutput::Event(_))) => {}
                    _ => break,
                }
            }
        }
        peer.signal(PeerSignal::Closed { reason });
        let session = peer.session;
        self.outputs
            .extend(peer.outbox.drain(..).map(|s| Output::Signal(session, s)));
        tracing::info!(room = %peer.room, participant = %peer.info.id, %reason, "left");
        if let Some(bridge) = &peer.bridge {
            self.stats.bridge.add(&bridge.stats);
        }
        self.bridge_left(key, &peer.room, peer.bridge.is_some());
        self.outputs.push_back(Output::Event(SfuEvent::PeerGone {
            room: peer.room.clone(),
            participant: peer.info.id.clone(),
            reason,
        }));

        if self.shutting_down {
            // Everyone is leaving: no renegotiation with those who stay a moment longer.
            return;
        }
        for track in &peer.tracks_in {
            for sub in &track.subscribers {
                self.with_peer(*sub, now, |p| p.unsubscribe(key, Some(track.mid)));
            }
        }
        for track in &peer.tracks_out {
            if let Some(publisher) = self.peers.get_mut(track.publisher) {
                for t in publisher.tracks_in.iter_mut() {
                    t.subscribers.retain(|k| *k != key);
                }
            }
        }
        for other in members {
            self.with_peer(other, now, |p| {
                p.signal(PeerSignal::ParticipantLeft {
                    participant: peer.info.id.clone(),
                    reason,
                });
                p.negotiate(now);
            });
        }
    }

    pub(super) fn housekeeping(&mut self, now: Instant) {
        self.flush_tap(false);
        let mut expired = Vec::new();
        let quiet_after = self.limits.media_inactive_after;
        for peer in self.peers.iter_mut() {
            if let (Some(limit), Some(since)) = (quiet_after, peer.connected_at)
                && !peer.media_quiet
            {
                let quiet_for = now.duration_since(peer.last_rtp.unwrap_or(since));
                if quiet_for >= limit {
                    peer.media_quiet = true;
                    self.outputs
                        .push_back(Output::Event(SfuEvent::MediaInactive {
                            room: peer.room.clone(),
                            participant: peer.info.id.clone(),
                            quiet_for,
                        }));
                }
            }
            if !peer.connected && now.duration_since(peer.created) > self.limits.connect_timeout {
                expired.push((peer.key, LeaveReason::ConnectTimeout));
            } else if peer
                .unreachable_since
                .is_some_and(|t| now.duration_since(t) > self.limits.disconnect_timeout)
            {
                expired.push((peer.key, LeaveReason::Unreachable));
            } else {
                // Retries an offer the browser never answered.
                self.work.push_back(Work::Negotiate { peer: peer.key });
            }
        }
        for (key, reason) in expired {
            self.remove(key, reason, now);
        }
    }
}
