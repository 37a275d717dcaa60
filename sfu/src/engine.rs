//! The sans-IO heart of one worker: its rooms and peers.
//!
//! The engine takes commands, datagrams and time, and gives back datagrams to send
//! ([`Engine::poll_transmit`]) and the time it next wants to be woken
//! ([`Engine::poll_timeout`]). It never touches a socket or a clock, so tests and
//! benchmarks drive it with in-memory peers on their own time.
//!
//! Work that moves between peers (a packet to forward, a keyframe request to pass up, a
//! data-channel message to relay) goes through one queue, drained before each entry
//! point returns. That keeps each `Rtc` mutated by one call at a time and drained right
//! after, as str0m requires, without recursion.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::channel::ChannelId;
use str0m::crypto::CryptoProvider;
use str0m::crypto::dtls::DtlsCert;
use str0m::media::{KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

use crate::demux::Demux;
use crate::forward::{Rewrite, matching_pt};
use crate::ids::{ParticipantId, RoomId, SessionId};
use crate::message::{
    Command, ErrorCode, EventSink, LeaveReason, ParticipantInfo, PeerSignal, SfuEvent, SignalSink,
    TrackKind, WorkerStats,
};
use crate::peer::{OfferOutcome, OutState, Peer};
use crate::relay;
use crate::sdp;
use crate::slab::{Key, Slab};
use crate::tap::{TapBuffer, TapSenderReport, TapSink, WallClock, ntp_of};

/// How late a peer's timer may run. Within this time a packet from the peer usually
/// arrives, and str0m handles the due timer (NACK checks, TWCC feedback) in that
/// packet's pass for free; only peers that stay silent get a pass of their own.
const TIMER_SLACK: Duration = Duration::from_millis(10);
/// How often tapped media of recorded rooms is handed to the recorder.
const TAP_FLUSH: Duration = Duration::from_millis(500);
/// How often peers are checked for connect and reachability deadlines.
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// Most output one `Rtc` may produce while closing before we stop draining it.
const CLOSE_DRAIN_LIMIT: usize = 64;

/// Limits the engine enforces.
#[derive(Debug, Clone)]
pub struct EngineLimits {
    /// Most participants in one room.
    pub max_participants_per_room: usize,
    /// Time to connect before a new peer is dropped.
    pub connect_timeout: Duration,
    /// Time unreachable before a connected peer is dropped.
    pub disconnect_timeout: Duration,
    /// Largest relayed data-channel message.
    pub max_channel_message: usize,
    /// A connected peer that sends no RTP for this long is reported
    /// ([`SfuEvent::MediaInactive`]); `None`: never.
    pub media_inactive_after: Option<Duration>,
}

impl Default for EngineLimits {
    fn default() -> Self {
        let config = crate::SfuConfig::default();
        EngineLimits {
            max_participants_per_room: config.max_participants_per_room,
            connect_timeout: config.connect_timeout,
            disconnect_timeout: config.disconnect_timeout,
            max_channel_message: config.max_channel_message,
            media_inactive_after: config.media_inactive_after,
        }
    }
}

/// Work between peers that must not run inside another peer's drain.
enum Work {
    TrackAdded {
        publisher: Key,
        mid: Mid,
        kind: TrackKind,
    },
    TrackRemoved {
        publisher: Key,
        mid: Mid,
    },
    Keyframe {
        publisher: Key,
        mid: Mid,
        kind: KeyframeRequestKind,
    },
    Relay {
        from: Key,
        channel: ChannelId,
        text: bool,
        data: Vec<u8>,
    },
    Negotiate {
        peer: Key,
    },
    Remove {
        peer: Key,
        reason: LeaveReason,
    },
}

/// One worker's rooms and peers, without I/O.
pub struct Engine {
    worker: usize,
    local_addr: SocketAddr,
    limits: EngineLimits,
    crypto: Arc<CryptoProvider>,
    cert: DtlsCert,
    peers: Slab<Peer>,
    rooms: HashMap<RoomId, Vec<Key>>,
    sessions: HashMap<SessionId, Key>,
    demux: Demux,
    timers: BinaryHeap<Reverse<(Instant, Key)>>,
    transmits: VecDeque<Transmit>,
    work: VecDeque<Work>,
    stats: WorkerStats,
    events: EventSink,
    /// Subscribers with forwarded packets waiting for a timeout pass.
    dirty: Vec<Key>,
    /// The latest time an entry point was given.
    now: Instant,
    next_housekeeping: Option<Instant>,
    shutting_down: bool,
    /// Where tapped RTP of recorded rooms goes.
    tap: Option<Box<dyn TapSink>>,
    /// Rooms being recorded.
    recorded: std::collections::HashSet<RoomId>,
    /// Monotonic → wall clock, for tapped arrival times.
    wall: WallClock,
    /// When the tap is next handed over.
    next_tap_flush: Instant,
}

impl Engine {
    /// An engine whose media is reached at `local_addr` (the announced address).
    pub fn new(
        worker: usize,
        local_addr: SocketAddr,
        limits: EngineLimits,
        events: EventSink,
    ) -> Engine {
        let crypto = Arc::new(str0m::crypto::from_feature_flags());
        // One certificate per worker: generating one per peer would cost a key pair
        // per join, and browsers pin the fingerprint from SDP either way.
        let cert = crypto
            .dtls_provider
            .generate_certificate()
            .expect("the aws-lc-rs provider generates DTLS certificates");
        Engine {
            worker,
            local_addr,
            limits,
            crypto,
            cert,
            peers: Slab::new(),
            rooms: HashMap::new(),
            sessions: HashMap::new(),
            demux: Demux::default(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            work: VecDeque::new(),
            stats: WorkerStats {
                worker,
                ..WorkerStats::default()
            },
            events,
            dirty: Vec::new(),
            now: Instant::now(),
            next_housekeeping: None,
            shutting_down: false,
            tap: None,
            recorded: std::collections::HashSet::new(),
            wall: WallClock::now(Instant::now()),
            next_tap_flush: Instant::now(),
        }
    }

    /// The address announced in this engine's ICE candidates.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether a shutdown was asked for and every peer is gone.
    pub fn is_stopped(&self) -> bool {
        self.shutting_down && self.peers.len() == 0
    }

    /// Counters since the last call, and the current gauges.
    pub fn take_stats(&mut self) -> WorkerStats {
        self.stats.rooms = self.rooms.len() as u64;
        self.stats.peers = self.peers.len() as u64;
        std::mem::replace(
            &mut self.stats,
            WorkerStats {
                worker: self.worker,
                ..WorkerStats::default()
            },
        )
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if !self.dirty.is_empty() {
            self.flush_dirty();
        }
        self.transmits.pop_front()
    }

    /// When the engine next needs [`Engine::handle_timeout`].
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        if !self.dirty.is_empty() {
            return Some(self.now);
        }
        // Drop stale timer entries so the head is a real deadline.
        while let Some(Reverse((at, key))) = self.timers.peek().copied() {
            if self.scheduled(key) == Some(at) {
                break;
            }
            self.timers.pop();
        }
        let next_rtc = self.timers.peek().map(|Reverse((at, _))| *at + TIMER_SLACK);
        match (next_rtc, self.next_housekeeping) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the peer's `Rtc` wants its next timeout, if it is in the timer heap.
    fn scheduled(&self, key: Key) -> Option<Instant> {
        self.peers.get(key).and_then(|p| p.next_timeout)
    }

    /// Applies a command from the control plane.
    pub fn handle_command(&mut self, now: Instant, command: Command) {
        self.now = now;
        match command {
            Command::Join {
                session,
                room,
                participant,
                name,
                signals,
            } => self.join(
                now,
                session,
                room,
                ParticipantInfo {
                    id: participant,
                    name,
                },
                signals,
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
                        opened_tracks(peer)
                            .into_iter()
                            .filter(|t| !before.contains(t))
                            .collect::<Vec<_>>()
                    });
                    for (publisher, mid) in opened.unwrap_or_default() {
                        self.work.push_back(Work::Keyframe {
                            publisher,
                            mid,
                            kind: KeyframeRequestKind::Pli,
                        });
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
            // The worker loop handles these before the engine sees commands.
            Command::AttachRelay(_) | Command::FromRelay(_) => {}
            Command::AttachTap(sink) => self.tap = Some(sink),
            Command::Record { room, on } => self.record(&room, on, now),
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

    /// Takes one datagram that arrived on the media socket from `source`.
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) {
        self.now = now;
        self.stats.packets_in += 1;
        self.stats.bytes_in += datagram.len() as u64;
        let Some(key) = self.demux.lookup(source, datagram) else {
            self.stats.unknown_source += 1;
            return;
        };
        let Ok(receive) = Receive::new(Protocol::Udp, source, self.local_addr, datagram) else {
            return; // not STUN, DTLS, RTP or RTCP
        };
        let refused = self.with_peer(key, now, |peer| {
            // An error here is mostly about this one datagram (a bad DTLS record, say);
            // the connection goes on, and if it is really broken, ICE or DTLS time out.
            match peer.rtc.handle_input(Input::Receive(now, receive)) {
                // The receive ran a timeout pass at `now`: forwarded packets waiting for
                // this peer go out in the drain that follows, so it needs no pass of its
                // own at the end of the batch.
                Ok(()) => {
                    peer.dirty = false;
                    false
                }
                Err(e) => {
                    let text = e.to_string();
                    if let Some(why) = crate::dtls::explain(&text) {
                        // This handshake can never succeed: say why, to the client and
                        // to the operator, instead of timing out in silence.
                        tracing::warn!(participant = %peer.info.id, room = %peer.room, "{why} (DTLS said: {text})");
                        peer.error(ErrorCode::UnsupportedCertificate, why);
                        return true;
                    }
                    tracing::debug!(participant = %peer.info.id, "datagram refused: {text}");
                    false
                }
            }
        });
        if refused == Some(true) {
            self.work.push_back(Work::Remove {
                peer: key,
                reason: LeaveReason::Failed,
            });
        }
        self.run_work(now);
    }

    /// Registers the peer's local ufrag again when an ICE restart changed it; the old
    /// one stops naming it.
    fn learn_ufrag(&mut self, key: Key) {
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

    /// Lets time pass: str0m timers, deadlines, housekeeping.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.flush_dirty();
        // Recorded media reaches the capture files at least twice a second, so a crash
        // loses less than a second of it.
        if !self.recorded.is_empty() && now >= self.next_tap_flush {
            self.flush_tap(false);
            self.next_tap_flush = now + TAP_FLUSH;
        }
        while let Some(Reverse((at, key))) = self.timers.peek().copied() {
            if at + TIMER_SLACK > now {
                break;
            }
            self.timers.pop();
            if self.scheduled(key) != Some(at) {
                continue; // superseded
            }
            if let Some(peer) = self.peers.get_mut(key) {
                peer.next_timeout = None;
            }
            self.stats.timer_fires += 1;
            self.with_peer(key, now, |peer| {
                if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                    tracing::debug!(participant = %peer.info.id, "timeout handling failed: {e}");
                }
            });
        }
        if self.next_housekeeping.is_none_or(|at| at <= now) {
            self.housekeeping(now);
            self.next_housekeeping = (self.peers.len() > 0).then(|| now + HOUSEKEEPING);
        }
        self.run_work(now);
    }

    fn join(
        &mut self,
        now: Instant,
        session: SessionId,
        room: RoomId,
        info: ParticipantInfo,
        signals: SignalSink,
    ) {
        if self.shutting_down {
            let _ = signals.send(PeerSignal::Closed {
                reason: LeaveReason::Shutdown,
            });
            return;
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
            let _ = signals.send(PeerSignal::Error {
                code: ErrorCode::RoomFull,
                message: format!("room is full ({} participants)", members.len()),
            });
            let _ = signals.send(PeerSignal::Closed {
                reason: LeaveReason::RoomFull,
            });
            return;
        }

        let rtc = self.new_rtc(now);
        let start_seq = rand::random::<u16>() & 0x7fff;
        let key = self.peers.insert_with(|key| {
            Peer::new(
                key,
                session,
                room.clone(),
                info.clone(),
                rtc,
                signals,
                now,
                start_seq,
            )
        });
        let recorded = self.recorded.contains(&room);
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        peer.recording = recorded;
        self.demux.register_ufrag(peer.ufrag.clone(), key);
        self.sessions.insert(session, key);
        self.rooms.entry(room.clone()).or_default().push(key);

        let others: Vec<ParticipantInfo> = members
            .iter()
            .filter_map(|k| self.peers.get(*k))
            .map(|p| p.info.clone())
            .collect();
        if let Some(peer) = self.peers.get(key) {
            peer.signal(PeerSignal::Joined {
                participants: others,
            });
        }
        for other in &members {
            let Some(other_peer) = self.peers.get_mut(*other) else {
                continue;
            };
            other_peer.signal(PeerSignal::ParticipantJoined(info.clone()));
            let other_info = other_peer.info.clone();
            let tracks: Vec<(Mid, TrackKind)> = other_peer
                .tracks_in
                .iter()
                .map(|t| (t.mid, t.kind))
                .collect();
            for track in other_peer.tracks_in.iter_mut() {
                track.subscribers.push(key);
            }
            if let Some(peer) = self.peers.get_mut(key) {
                for (mid, kind) in tracks {
                    peer.subscribe(*other, &other_info, mid, kind);
                }
            }
        }
        if self.next_housekeeping.is_none() {
            self.next_housekeeping = Some(now + HOUSEKEEPING);
        }
        tracing::info!(%room, participant = %info.id, %session, worker = self.worker, "joined");
        self.drain(key, now);
    }

    fn new_rtc(&self, now: Instant) -> Rtc {
        // VP8 and H.264 are what every browser vchat supports (Safari 14 lacks VP9), and
        // an SFU cannot transcode: a codec only some can decode would leave others blank.
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .enable_h264(true)
            .set_crypto_provider(self.crypto.clone())
            .set_dtls_cert(self.cert.clone())
            .build(now);
        if let Ok(candidate) = Candidate::host(self.local_addr, "udp") {
            rtc.add_local_candidate(candidate);
        }
        rtc
    }

    /// Runs `f` on a peer, then drains it. A panic inside (a str0m bug) costs this peer,
    /// never the worker and its other rooms.
    fn with_peer<R>(
        &mut self,
        key: Key,
        now: Instant,
        f: impl FnOnce(&mut Peer) -> R,
    ) -> Option<R> {
        let peer = self.peers.get_mut(key)?;
        match catch_unwind(AssertUnwindSafe(|| f(peer))) {
            Ok(result) => {
                self.drain(key, now);
                Some(result)
            }
            Err(_) => {
                self.peer_panicked(key, now);
                None
            }
        }
    }

    fn peer_panicked(&mut self, key: Key, now: Instant) {
        self.stats.peer_panics += 1;
        if let Some(peer) = self.peers.get_mut(key) {
            tracing::error!(participant = %peer.info.id, room = %peer.room, "peer hit a bug and is dropped");
            // Its Rtc may be mid-change; do not run it again.
            peer.rtc.disconnect();
        }
        self.remove(key, LeaveReason::InternalError, now);
    }

    /// Polls a peer's `Rtc` until it only has a timeout left.
    fn drain(&mut self, key: Key, now: Instant) {
        // One guard for the whole drain rather than one per `poll_output`: the outputs
        // are large enums, and moving each through a closure's result costs a copy.
        if catch_unwind(AssertUnwindSafe(|| self.drain_unguarded(key, now))).is_err() {
            self.peer_panicked(key, now);
        }
    }

    fn drain_unguarded(&mut self, key: Key, now: Instant) {
        loop {
            let Some(peer) = self.peers.get_mut(key) else {
                return;
            };
            let output = match peer.rtc.poll_output() {
                Ok(output) => output,
                Err(e) => {
                    let text = e.to_string();
                    match crate::dtls::explain(&text) {
                        Some(why) => {
                            tracing::warn!(participant = %peer.info.id, room = %peer.room, "{why} (DTLS said: {text})");
                            peer.error(ErrorCode::UnsupportedCertificate, why);
                        }
                        None => {
                            tracing::info!(participant = %peer.info.id, "connection failed: {text}")
                        }
                    }
                    self.work.push_back(Work::Remove {
                        peer: key,
                        reason: LeaveReason::Failed,
                    });
                    return;
                }
            };
            match output {
                Output::Timeout(at) => {
                    if peer.next_timeout != Some(at) {
                        peer.next_timeout = Some(at);
                        self.timers.push(Reverse((at, key)));
                    }
                    return;
                }
                Output::Transmit(transmit) => {
                    if peer.last_destination != Some(transmit.destination) {
                        peer.last_destination = Some(transmit.destination);
                        self.demux.learn(transmit.destination, key, &mut peer.addrs);
                    }
                    self.transmits.push_back(transmit);
                }
                Output::Event(event) => self.on_event(key, event, now),
            }
        }
    }

    fn on_event(&mut self, key: Key, event: Event, now: Instant) {
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        match event {
            // Forwarding only writes to subscribers (they are flushed after the batch), so
            // it can run right here instead of queueing a 400-byte packet.
            Event::RtpPacket(packet) => self.forward(key, packet, now),
            Event::Connected => {
                peer.connected = true;
                peer.connected_at = Some(now);
                tracing::info!(participant = %peer.info.id, room = %peer.room, "media connected");
                let _ = self.events.send(SfuEvent::PeerConnected {
                    room: peer.room.clone(),
                    participant: peer.info.id.clone(),
                });
                // Whatever this peer receives needs a keyframe to start decoding.
                for track in &peer.tracks_out {
                    if let (OutState::Open(_), TrackKind::Video) = (track.state, track.kind) {
                        self.work.push_back(Work::Keyframe {
                            publisher: track.publisher,
                            mid: track.source_mid,
                            kind: KeyframeRequestKind::Pli,
                        });
                    }
                }
            }
            Event::IceConnectionStateChange(state) => match state {
                IceConnectionState::Disconnected => {
                    peer.unreachable_since.get_or_insert(now);
                }
                IceConnectionState::Connected | IceConnectionState::Completed => {
                    peer.unreachable_since = None;
                }
                _ => {}
            },
            Event::MediaAdded(added)
                if !peer.is_own_out_mid(added.mid) && added.direction.is_receiving() =>
            {
                let kind = track_kind(added.kind);
                if peer.add_track_in(added.mid, kind) {
                    self.work.push_back(Work::TrackAdded {
                        publisher: key,
                        mid: added.mid,
                        kind,
                    });
                }
            }
            Event::MediaChanged(changed) => {
                if peer.is_own_out_mid(changed.mid) {
                    return;
                }
                let publishing = peer.tracks_in.iter().any(|t| t.mid == changed.mid);
                if publishing && !changed.direction.is_receiving() {
                    self.work.push_back(Work::TrackRemoved {
                        publisher: key,
                        mid: changed.mid,
                    });
                } else if !publishing && changed.direction.is_receiving() {
                    let kind = peer.rtc.media(changed.mid).map(|m| track_kind(m.kind()));
                    if let Some(kind) = kind {
                        peer.add_track_in(changed.mid, kind);
                        self.work.push_back(Work::TrackAdded {
                            publisher: key,
                            mid: changed.mid,
                            kind,
                        });
                    }
                }
            }
            Event::SenderFeedback(feedback) => {
                // Recorded tracks keep their sender reports: the merge lines the
                // client's audio and video up with them.
                if let Some(tap) = peer
                    .tracks_in
                    .iter_mut()
                    .find(|t| t.mid == feedback.mid)
                    .and_then(|t| t.tap.as_mut())
                {
                    tap.push_sender(TapSenderReport {
                        arrival_us: self.wall.at(feedback.received_at),
                        ntp: ntp_of(feedback.sender_info.ntp_time),
                        rtp_ts: feedback.sender_info.rtp_time.numer(),
                    });
                }
            }
            Event::KeyframeRequest(request) => {
                if let Some(track) = peer.track_out_by_mid(request.mid) {
                    self.work.push_back(Work::Keyframe {
                        publisher: track.publisher,
                        mid: track.source_mid,
                        kind: request.kind,
                    });
                }
            }
            Event::ChannelOpen(id, label) => {
                tracing::debug!(participant = %peer.info.id, %label, "data channel open");
                peer.channels.retain(|(c, _)| *c != id);
                peer.channels.push((id, label));
            }
            Event::ChannelData(data) => {
                if data.data.len() > self.limits.max_channel_message {
                    tracing::debug!(participant = %peer.info.id, bytes = data.data.len(), "data-channel message too big to relay");
                } else {
                    self.work.push_back(Work::Relay {
                        from: key,
                        channel: data.id,
                        text: !data.binary,
                        data: data.data,
                    });
                }
            }
            Event::ChannelClose(id) => peer.channels.retain(|(c, _)| *c != id),
            Event::Closed => self.work.push_back(Work::Remove {
                peer: key,
                reason: LeaveReason::RemoteClosed,
            }),
            _ => {}
        }
    }

    fn run_work(&mut self, now: Instant) {
        while let Some(work) = self.work.pop_front() {
            match work {
                Work::TrackAdded {
                    publisher,
                    mid,
                    kind,
                } => self.track_added(publisher, mid, kind, now),
                Work::TrackRemoved { publisher, mid } => self.track_removed(publisher, mid, now),
                Work::Keyframe {
                    publisher,
                    mid,
                    kind,
                } => {
                    self.with_peer(publisher, now, |peer| peer.request_keyframe(mid, kind, now));
                }
                Work::Relay {
                    from,
                    channel,
                    text,
                    data,
                } => self.relay(from, channel, text, &data, now),
                Work::Negotiate { peer } => {
                    self.with_peer(peer, now, |peer| peer.negotiate(now));
                }
                Work::Remove { peer, reason } => self.remove(peer, reason, now),
            }
        }
    }

    /// Sends one RTP packet of `from` to everyone who receives that track.
    fn forward(&mut self, from: Key, packet: RtpPacket, now: Instant) {
        let Some(publisher) = self.peers.get_mut(from) else {
            return;
        };
        let Some(track) = publisher.track_in_index(packet.header.ssrc) else {
            self.stats.forward_drops += 1;
            return;
        };
        let Some(params) = publisher.track_in_params(track, packet.header.payload_type) else {
            self.stats.forward_drops += 1;
            return;
        };
        publisher.keyframe_due(track, now);
        publisher.last_rtp = Some(now);
        if publisher.recording {
            let t = &mut publisher.tracks_in[track];
            let video = t.kind == TrackKind::Video;
            let fresh = t.tap.is_none();
            let tap = t.tap.get_or_insert_with(TapBuffer::default);
            // A recording starts decodable, and recovers from a loss, with a keyframe.
            if video && (fresh || tap.wants_keyframe(*packet.seq_no, now)) {
                tap.asked_keyframe(now);
                self.work.push_back(Work::Keyframe {
                    publisher: from,
                    mid: t.mid,
                    kind: KeyframeRequestKind::Pli,
                });
            }
            tap.push(self.wall.at(now), &packet, &params);
        }
        if publisher.media_quiet {
            // Rare (once per quiet spell): the only event sent from this path.
            publisher.media_quiet = false;
            let _ = self.events.send(SfuEvent::MediaActive {
                room: publisher.room.clone(),
                participant: publisher.info.id.clone(),
            });
        }
        let source_mid = publisher.tracks_in[track].mid;
        let nackable = publisher.tracks_in[track].kind == TrackKind::Video;
        let wallclock = capture_wallclock(publisher, track, &packet);
        // Only the extensions that describe the media itself travel on; transport ones
        // (TWCC, abs-send-time, mid) belong to each hop.
        let ext_vals = ExtensionValues {
            audio_level: packet.header.ext_vals.audio_level,
            voice_activity: packet.header.ext_vals.voice_activity,
            video_orientation: packet.header.ext_vals.video_orientation,
            video_content_type: packet.header.ext_vals.video_content_type,
            ..ExtensionValues::default()
        };

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
            let Some(out) = sub
                .tracks_out
                .iter()
                .position(|t| t.publisher == from && t.source_mid == source_mid)
            else {
                continue;
            };
            let OutState::Open(out_mid) = sub.tracks_out[out].state else {
                continue;
            };
            if !sub.connected {
                continue;
            }
            let start_seq = sub.start_seq;
            let rtc = &sub.rtc;
            let rewrite = sub.tracks_out[out].forward.rewrite(
                packet.seq_no,
                packet.header.payload_type,
                start_seq,
                || matching_pt(&params, negotiated_params(rtc, out_mid)),
            );
            let (seq_no, pt) = match rewrite {
                Rewrite::Send { seq_no, pt } => (seq_no, pt),
                Rewrite::TooOld => continue,
                Rewrite::NoCodec => {
                    self.stats.forward_drops += 1;
                    continue;
                }
            };
            let write = RtpWrite::new(
                pt,
                seq_no,
                packet.header.timestamp,
                wallclock,
                packet.payload.clone(),
            )
            .marker(packet.header.marker)
            .ext_vals(ext_vals.clone())
            .nackable(nackable);
            // Written now, sent when the batch ends (see `flush_dirty`): the packets of a
            // frame to one subscriber leave together, in one timeout pass and, where the
            // kernel allows, one GSO send.
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
    }

    /// Releases what forwarding wrote to subscribers: one timeout pass and drain per
    /// subscriber touched since the last flush.
    fn flush_dirty(&mut self) {
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

    fn track_added(&mut self, publisher: Key, mid: Mid, kind: TrackKind, now: Instant) {
        let Some(peer) = self.peers.get(publisher) else {
            return;
        };
        let info = peer.info.clone();
        let room = peer.room.clone();
        let members: Vec<Key> = self
            .rooms
            .get(&room)
            .map(|m| m.iter().copied().filter(|k| *k != publisher).collect())
            .unwrap_or_default();
        tracing::info!(%room, participant = %info.id, %mid, kind = kind.as_str(), "track published");
        let _ = self.events.send(SfuEvent::TrackPublished {
            room,
            participant: info.id.clone(),
            kind,
        });
        for sub in &members {
            if let Some(sub_peer) = self.peers.get_mut(*sub) {
                sub_peer.subscribe(publisher, &info, mid, kind);
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

    fn track_removed(&mut self, publisher: Key, mid: Mid, now: Instant) {
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

    /// Hands a data-channel message to every other participant, on their channel of
    /// the same label.
    fn relay(&mut self, from: Key, channel: ChannelId, text: bool, data: &[u8], now: Instant) {
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

    fn remove(&mut self, key: Key, reason: LeaveReason, now: Instant) {
        let Some(mut peer) = self.peers.remove(key) else {
            return;
        };
        if let Some(sink) = self.tap.as_mut() {
            hand_over(sink.as_mut(), &mut peer, true);
        }
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
                    Ok(Ok(Output::Transmit(t))) => self.transmits.push_back(t),
                    Ok(Ok(Output::Event(_))) => {}
                    _ => break,
                }
            }
        }
        peer.signal(PeerSignal::Closed { reason });
        tracing::info!(room = %peer.room, participant = %peer.info.id, %reason, "left");
        let _ = self.events.send(SfuEvent::PeerGone {
            room: peer.room.clone(),
            participant: peer.info.id.clone(),
            reason,
        });

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

    /// Starts or stops recording `room`: its publishers' RTP goes to the tap.
    fn record(&mut self, room: &RoomId, on: bool, now: Instant) {
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
            if !on && let Some(sink) = self.tap.as_mut() {
                hand_over(sink.as_mut(), peer, true);
            }
        }
        let _ = now;
    }

    /// Hands every recorded track's gathered RTP to the tap (`closed`: nothing follows).
    fn flush_tap(&mut self, closed: bool) {
        let Some(sink) = self.tap.as_mut() else {
            return;
        };
        for peer in self.peers.iter_mut() {
            if peer.recording || peer.tracks_in.iter().any(|t| t.tap.is_some()) {
                hand_over(sink.as_mut(), peer, closed);
            }
        }
    }

    fn housekeeping(&mut self, now: Instant) {
        self.flush_tap(false);
        if self.wall.stale(now) {
            self.wall = WallClock::now(now);
        }
        let mut expired = Vec::new();
        let quiet_after = self.limits.media_inactive_after;
        for peer in self.peers.iter_mut() {
            if let (Some(limit), Some(since)) = (quiet_after, peer.connected_at)
                && !peer.media_quiet
            {
                let quiet_for = now.duration_since(peer.last_rtp.unwrap_or(since));
                if quiet_for >= limit {
                    peer.media_quiet = true;
                    let _ = self.events.send(SfuEvent::MediaInactive {
                        room: peer.room.clone(),
                        participant: peer.info.id.clone(),
                        quiet_for,
                    });
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

    /// The participants of a room, for tests and diagnostics.
    pub fn participants(&self, room: &RoomId) -> Vec<ParticipantId> {
        self.rooms
            .get(room)
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| self.peers.get(*k))
                    .map(|p| p.info.id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Hands a peer's tapped tracks to `sink`; `closed` ends them.
fn hand_over(sink: &mut dyn TapSink, peer: &mut Peer, closed: bool) {
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
            sink.deliver(batch);
        }
        if closed {
            t.tap = None;
        }
    }
}

fn opened_tracks(peer: &Peer) -> Vec<(Key, Mid)> {
    peer.tracks_out
        .iter()
        .filter(|t| t.kind == TrackKind::Video && matches!(t.state, OutState::Open(_)))
        .map(|t| (t.publisher, t.source_mid))
        .collect()
}

/// The payload params a peer negotiated on its m-line `mid`.
fn negotiated_params(rtc: &Rtc, mid: Mid) -> impl Iterator<Item = &str0m::format::PayloadParams> {
    let pts = rtc.media(mid).map(|m| m.remote_pts()).unwrap_or(&[]);
    rtc.codec_config()
        .params()
        .iter()
        .filter(move |p| pts.contains(&p.pt()))
}

fn track_kind(kind: MediaKind) -> TrackKind {
    match kind {
        MediaKind::Audio => TrackKind::Audio,
        MediaKind::Video => TrackKind::Video,
    }
}

/// When the publisher captured this packet, on our clock.
///
/// The publisher's sender reports tie its RTP clock to its wall clock, the same for
/// its audio and video; passing that on (rather than our arrival time) keeps lip sync
/// at the subscriber. The first report anchors the publisher's clock to ours; before
/// any report, arrival time stands in. Wall-clock arithmetic happens once per report,
/// not per packet: each track caches where its latest report falls on our clock.
fn capture_wallclock(publisher: &mut Peer, track: usize, packet: &RtpPacket) -> Instant {
    let Some(info) = packet.last_sender_info else {
        return packet.timestamp;
    };
    let (rtp_secs, base) = match publisher.tracks_in[track].sr_mapping {
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
            publisher.tracks_in[track].sr_mapping = Some((info.ntp_time, rtp_secs, base));
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
