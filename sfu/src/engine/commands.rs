//! What the control plane asks of the engine: joins and leaves (see `membership`),
//! SDP offers and answers, trickled candidates, recording, closing rooms, shutdown.

use std::time::Instant;

use str0m::media::Mid;

use super::{Engine, Work};
use crate::message::{Command, LeaveReason, ParticipantInfo, TrackKind};
use crate::peer::{OfferOutcome, OutState, Peer};
use crate::sdp;
use crate::slab::Key;

impl Engine {
    /// Applies a command from the control plane.
    pub fn handle_command(&mut self, now: Instant, command: Command) {
        self.now = now;
        match command {
            Command::Join {
                session,
                room,
                participant,
                name,
            } => self.join(
                now,
                session,
                room,
                ParticipantInfo {
                    id: participant,
                    name,
                },
            ),
            Command::Bridge {
                session,
                room,
                participant,
                name,
                codec,
            } => self.join_bridge(
                now,
                session,
                room,
                ParticipantInfo {
                    id: participant,
                    name,
                },
                codec,
            ),
            Command::Offer { session, sdp } => {
                if let Some(key) = self.sessions.get(&session).copied() {
                    let outcome = self.with_peer(key, now, |peer| peer.accept_offer(&sdp));
                    match outcome {
                        Some(OfferOutcome::Answered(answer)) => {
                            // An offer with new ICE credentials restarts ICE (RFC 8839
                            // §4.4.1.1.1): str0m answers with a new local ufrag, which the
                            // browser's checks (perhaps from a new address) name from now on.
                            self.learn_ufrag(key);
                            // str0m announces media only once DTLS is up; the SDP says now
                            // which tracks the browser sends (and the answer, which of
                            // them the SFU took), so subscribers negotiate them while this
                            // peer is still connecting.
                            for (mid, kind, sending) in sdp::browser_tracks(&sdp, &answer) {
                                let Some(peer) = self.peers.get_mut(key) else {
                                    break;
                                };
                                let known = peer.tracks_in.iter().any(|t| t.mid == mid);
                                if sending
                                    && !peer.is_own_out_mid(mid)
                                    && peer.add_track_in(mid, kind)
                                {
                                    self.work.push_back(Work::TrackAdded {
                                        publisher: key,
                                        mid,
                                        kind,
                                    });
                                } else if !sending && known {
                                    self.work.push_back(Work::TrackRemoved {
                                        publisher: key,
                                        mid,
                                    });
                                }
                            }
                            self.work.push_back(Work::Negotiate { peer: key })
                        }
                        Some(OfferOutcome::IgnoredForGlare) => {
                            tracing::debug!(%session, "offer crossed ours; the browser rolls back")
                        }
                        Some(OfferOutcome::Refused) | None => {}
                    }
                }
            }
            Command::Answer { session, sdp } => {
                if let Some(key) = self.sessions.get(&session).copied() {
                    let opened = self.with_peer(key, now, |peer| {
                        let before: Vec<(Key, Mid)> = opened_tracks(peer);
                        peer.accept_answer(&sdp);
                        let opened = opened_tracks(peer)
                            .into_iter()
                            .filter(|t| !before.contains(t))
                            .collect::<Vec<_>>();
                        // The estimator's first probes ran before there was video to
                        // pad with; with the first video it starts over and probes.
                        if before.is_empty() && !opened.is_empty() && peer.estimate.is_some() {
                            peer.rtc
                                .bwe()
                                .reset(str0m::bwe::Bitrate::from(crate::quality::INITIAL_ESTIMATE));
                        }
                        opened
                    });
                    // Newly opened video needs a layer chosen and its keyframe asked for.
                    if opened.is_some_and(|o| !o.is_empty()) {
                        self.work.push_back(Work::Allocate { peer: key });
                    }
                    self.work.push_back(Work::Negotiate { peer: key });
                }
            }
            Command::Candidate { session, candidate } => {
                if let Some(key) = self.sessions.get(&session).copied() {
                    self.with_peer(key, now, |peer| peer.add_remote_candidate(&candidate));
                }
            }
            Command::Leave { session } => {
                if let Some(key) = self.sessions.get(&session).copied() {
                    self.remove(key, LeaveReason::Left, now);
                }
            }
            Command::Record { room, on } => self.record(&room, on, now),
            Command::SetVideoCap { room, max_height } => self.set_cap(&room, max_height, now),
            Command::CloseRoom { room } => {
                let keys = self.rooms.get(&room).cloned().unwrap_or_default();
                for key in keys {
                    self.remove(key, LeaveReason::RoomClosed, now);
                }
            }
            Command::Shutdown => {
                self.shutting_down = true;
                self.flush_tap(true);
                let keys: Vec<Key> = self.peers.keys().collect();
                for key in keys {
                    self.remove(key, LeaveReason::Shutdown, now);
                }
            }
        }
        self.run_work(now);
    }

    /// Registers the peer's local ufrag again when an ICE restart changed it; the old
    /// one stops naming it.
    pub(super) fn learn_ufrag(&mut self, key: Key) {
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        let now = peer.rtc.direct_api().local_ice_credentials().ufrag;
        if now == peer.ufrag {
            return;
        }
        let old = std::mem::replace(&mut peer.ufrag, now.clone());
        tracing::debug!(participant = %peer.info.id, "ICE restarted by the browser");
        self.demux.forget(key, &old, &[]);
        self.demux.register_ufrag(now, key);
    }
}

fn opened_tracks(peer: &Peer) -> Vec<(Key, Mid)> {
    peer.tracks_out
        .iter()
        .filter(|t| t.kind == TrackKind::Video && matches!(t.state, OutState::Open(_)))
        .map(|t| (t.publisher, t.source_mid))
        .collect()
}
