//! The sans-IO heart of one worker: its rooms and peers.
//!
//! The engine takes commands, datagrams and time (monotonic, and the wall clock now
//! and then), and gives back everything else from [`Engine::poll_output`] — datagrams
//! to send, signals for sessions, events for the control plane, tapped media for the
//! recorder — and the time it next wants to be woken ([`Engine::poll_timeout`]), as
//! str0m's `Rtc` does. It never touches a socket, a clock or a channel, so tests and
//! benchmarks drive it with in-memory peers on their own time.
//!
//! One file per concern: `bridging` (intercoms as virtual participants), `commands` (what the control plane asks: offers, answers,
//! candidates), `membership` (joins, leaves, tracks published and withdrawn,
//! deadlines), `forwarding` (RTP from a publisher to its subscribers, data-channel
//! relay) and `recording` (the recorder's tap).
//!
//! Work that moves between peers (a packet to forward, a keyframe request to pass up, a
//! data-channel message to relay) goes through one queue, drained before each entry
//! point returns. That keeps each `Rtc` mutated by one call at a time and drained right
//! after, as str0m requires, without recursion.

mod bridging;
mod commands;
mod forwarding;
mod membership;
mod quality;
mod recording;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use str0m::bwe::{Bitrate, BweKind};
use str0m::channel::ChannelId;
use str0m::crypto::CryptoProvider;
use str0m::crypto::dtls::DtlsCert;
use str0m::media::{KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::{Event, IceConnectionState, Input, Output as RtcOutput};

use crate::config::SfuConfig;
use crate::demux::Demux;
use crate::ids::{ParticipantId, RoomId, SessionId};
use crate::message::{ErrorCode, LeaveReason, PeerSignal, SfuEvent, TrackKind, WorkerStats};
use crate::peer::Peer;
use crate::slab::{Key, Slab};
use crate::tap::{TapBatch, TapSenderReport, WallClock, ntp_of};

/// How late a peer's timer may run. Within this time a packet from the peer usually
/// arrives, and str0m handles the due timer (NACK checks, TWCC feedback) in that
/// packet's pass for free; only peers that stay silent get a pass of their own.
const TIMER_SLACK: Duration = Duration::from_millis(10);
/// How often tapped media of recorded rooms is handed to the recorder.
const TAP_FLUSH: Duration = Duration::from_millis(500);
/// How often peers are checked for connect and reachability deadlines.
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// A timeout this close is due now: str0m's pacer asks for its next pass a
/// microsecond after the last.
const PACER_SOON: Duration = Duration::from_micros(50);
/// Most immediate timeout passes one drain gives a peer's pacer (one packet each).
const PACER_PASSES: usize = 256;
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
    /// Estimate each subscriber's bandwidth (str0m's TWCC estimator) and choose its
    /// simulcast layers by it; off: layers are chosen by the room's cap and what
    /// publishers send. Off by default until the estimate's way back up is quick
    /// enough (the engine tests measure it: down within a second, up too slowly).
    pub bandwidth_estimation: bool,
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits::from(&SfuConfig::default())
    }
}

impl From<&SfuConfig> for EngineLimits {
    fn from(config: &SfuConfig) -> Self {
        EngineLimits {
            max_participants_per_room: config.max_participants_per_room,
            connect_timeout: config.connect_timeout,
            disconnect_timeout: config.disconnect_timeout,
            max_channel_message: config.max_channel_message,
            media_inactive_after: config.media_inactive_after,
            bandwidth_estimation: false,
        }
    }
}

/// What the engine gives back, from [`Engine::poll_output`].
#[derive(Debug)]
pub enum Output {
    /// A datagram to send.
    Transmit(Transmit),
    /// A signal for one session's browser.
    Signal(SessionId, PeerSignal),
    /// News for the control plane.
    Event(SfuEvent),
    /// RTP of a recorded track, for the recorder.
    Tap(TapBatch),
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
        /// The layer (`None`: every layer).
        layer: Option<usize>,
        kind: KeyframeRequestKind,
    },
    /// Choose again what a subscriber gets (its estimate changed).
    Allocate {
        peer: Key,
    },
    /// Tell a peer's estimator what it should probe towards.
    Desired {
        peer: Key,
        bps: u64,
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
    /// Datagrams to send: the bulk of the output, kept apart from the rest.
    transmits: VecDeque<Transmit>,
    /// Signals, events and tapped media.
    outputs: VecDeque<Output>,
    work: VecDeque<Work>,
    stats: WorkerStats,
    /// Subscribers with forwarded packets waiting for a timeout pass.
    dirty: Vec<Key>,
    /// The latest time an entry point was given.
    now: Instant,
    next_housekeeping: Option<Instant>,
    shutting_down: bool,
    /// Rooms being recorded.
    recorded: HashSet<RoomId>,
    /// Monotonic → wall clock, for tapped arrival times.
    wall: WallClock,
    /// When the tap is next handed over.
    next_tap_flush: Instant,
    /// Each room's video cap (a frame height), where it has one.
    caps: HashMap<RoomId, u16>,
    /// When layer bitrates are next measured and choices checked.
    next_quality_tick: Instant,
    /// Each room's active speaker and its last score.
    speakers: HashMap<RoomId, (Key, f64)>,
    /// Virtual participants (intercoms), ticked every 20 ms.
    bridges: Vec<Key>,
    /// The G.711 law of rooms with an intercom in them.
    room_audio: HashMap<RoomId, vchat_intercom::g711::Law>,
    /// Frames for devices, from [`Engine::poll_bridge_output`].
    bridge_out: VecDeque<(SessionId, crate::bridge::link::LinkFrame)>,
    /// When the bridges next tick.
    next_bridge_tick: Option<Instant>,
}

impl Engine {
    /// An engine whose media is reached at `local_addr` (the announced address),
    /// started at `now`, when the wall clock read `wall`.
    pub fn new(
        worker: usize,
        local_addr: SocketAddr,
        limits: EngineLimits,
        now: Instant,
        wall: SystemTime,
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
            outputs: VecDeque::new(),
            work: VecDeque::new(),
            stats: WorkerStats {
                worker,
                ..WorkerStats::default()
            },
            dirty: Vec::new(),
            now,
            next_housekeeping: None,
            shutting_down: false,
            recorded: HashSet::new(),
            wall: WallClock::new(now, wall),
            next_tap_flush: now,
            caps: HashMap::new(),
            next_quality_tick: now,
            speakers: HashMap::new(),
            bridges: Vec::new(),
            room_audio: HashMap::new(),
            bridge_out: VecDeque::new(),
            next_bridge_tick: None,
        }
    }

    /// Tells the engine what the wall clock reads at `now`. Tapped media is stamped
    /// with wall-clock time; give it now and then (the worker: every second) so that
    /// steps of the system clock are followed.
    pub fn handle_wall_clock(&mut self, now: Instant, wall: SystemTime) {
        self.wall = WallClock::new(now, wall);
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
        self.stats.paused_video = self.peers.iter_mut().map(|p| p.paused_tracks).sum();
        self.stats.estimates_bps = self
            .peers
            .iter_mut()
            .filter_map(|p| p.share_estimate())
            .collect();
        for key in &self.bridges {
            if let Some(bridge) = self.peers.get_mut(*key).and_then(|p| p.bridge.as_mut()) {
                self.stats.bridge.add(&std::mem::take(&mut bridge.stats));
            }
        }
        self.stats.bridges = self.bridges.len() as u64;
        std::mem::replace(
            &mut self.stats,
            WorkerStats {
                worker: self.worker,
                ..WorkerStats::default()
            },
        )
    }

    /// The next thing the engine has for the outside: a datagram to send, a signal
    /// for a session, an event for the control plane or tapped media for the
    /// recorder. Poll until `None` after each input.
    pub fn poll_output(&mut self) -> Option<Output> {
        if !self.dirty.is_empty() {
            self.flush_dirty();
        }
        if let Some(output) = self.outputs.pop_front() {
            return Some(output);
        }
        self.transmits.pop_front().map(Output::Transmit)
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
        let quality = (self.peers.len() > 0).then_some(self.next_quality_tick);
        [
            next_rtc,
            self.next_housekeeping,
            quality,
            self.next_bridge_tick,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// When the peer's `Rtc` wants its next timeout, if it is in the timer heap.
    fn scheduled(&self, key: Key) -> Option<Instant> {
        self.peers.get(key).and_then(|p| p.next_timeout)
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
        if let Some(at) = self.next_bridge_tick
            && now >= at
        {
            self.bridge_tick(now);
            // One tick per 20 ms on average; after a stall, start again from now
            // rather than catch up in a burst.
            let next = at + crate::bridge::TICK;
            self.next_bridge_tick = Some(if next + crate::bridge::TICK < now {
                now + crate::bridge::TICK
            } else {
                next
            });
        }
        if now >= self.next_quality_tick {
            self.quality_tick(now);
            self.next_quality_tick = now + crate::quality::QUALITY_TICK;
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
        self.poll_rtc(key, now);
        // What the peer said while it ran (answers, offers, errors) goes out too.
        if let Some(peer) = self.peers.get_mut(key)
            && !peer.outbox.is_empty()
        {
            let session = peer.session;
            self.outputs
                .extend(peer.outbox.drain(..).map(|s| Output::Signal(session, s)));
        }
    }

    fn poll_rtc(&mut self, key: Key, now: Instant) {
        // The pacer releases one packet per timeout pass and asks for the next pass at
        // once: those passes run here, so a burst leaves in this drain.
        let mut passes = 0;
        loop {
            let Some(peer) = self.peers.get_mut(key) else {
                return;
            };
            if peer.bridge.is_some() {
                return; // a virtual participant's `Rtc` only holds its codecs
            }
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
                // "At once" is a microsecond later to the pacer.
                RtcOutput::Timeout(at) if at <= now + PACER_SOON && passes < PACER_PASSES => {
                    passes += 1;
                    let _ = peer.rtc.handle_input(Input::Timeout(now));
                }
                RtcOutput::Timeout(at) => {
                    if peer.next_timeout != Some(at) {
                        peer.next_timeout = Some(at);
                        self.timers.push(Reverse((at, key)));
                    }
                    return;
                }
                RtcOutput::Transmit(transmit) => {
                    if peer.last_destination != Some(transmit.destination) {
                        peer.last_destination = Some(transmit.destination);
                        self.demux.learn(transmit.destination, key, &mut peer.addrs);
                    }
                    self.transmits.push_back(transmit);
                }
                RtcOutput::Event(event) => self.on_event(key, event, now),
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
                self.outputs
                    .push_back(Output::Event(SfuEvent::PeerConnected {
                        room: peer.room.clone(),
                        participant: peer.info.id.clone(),
                    }));
                // Whatever this peer receives needs a keyframe to start decoding: what
                // was asked for before the connection was up is asked for again.
                for track in &mut peer.tracks_out {
                    track.asked_keyframe = None;
                }
                self.work.push_back(Work::Allocate { peer: key });
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
                // Recorded tracks keep their sender reports (of the layer recorded):
                // the merge lines the client's audio and video up with them.
                if let Some(t) = peer.tracks_in.iter_mut().find(|t| t.mid == feedback.mid)
                    && t.tap_layer.is_some()
                    && t.tap_layer == t.layers.iter().position(|l| l.rid == feedback.rid)
                    && let Some(tap) = t.tap.as_mut()
                {
                    tap.push_sender(TapSenderReport {
                        arrival_us: self.wall.at(feedback.received_at),
                        ntp: ntp_of(feedback.sender_info.ntp_time),
                        rtp_ts: t
                            .tap_rewrite
                            .report_ts(feedback.sender_info.rtp_time.numer()),
                    });
                }
            }
            Event::KeyframeRequest(request) => {
                if let Some(track) = peer.track_out_by_mid(request.mid) {
                    self.work.push_back(Work::Keyframe {
                        publisher: track.publisher,
                        mid: track.source_mid,
                        layer: track.current.or(track.chooser.target()),
                        kind: request.kind,
                    });
                }
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                let bps = estimate.as_u64();
                if peer.estimate != Some(bps) {
                    peer.estimate = Some(bps);
                    self.work.push_back(Work::Allocate { peer: key });
                }
            }
            Event::PeerStats(stats) => {
                let raw = stats.bwe_tx.map(|b| b.as_u64());
                if raw.is_some() && raw != peer.raw_estimate {
                    let before = peer.share_estimate();
                    peer.raw_estimate = raw;
                    if peer.share_estimate() != before {
                        self.work.push_back(Work::Allocate { peer: key });
                    }
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
                    layer,
                    kind,
                } => {
                    self.with_peer(publisher, now, |peer| {
                        peer.request_keyframe(mid, layer, kind, now)
                    });
                }
                Work::Allocate { peer } => self.allocate(peer, now),
                Work::Desired { peer, bps } => {
                    self.with_peer(peer, now, |peer| {
                        peer.rtc
                            .bwe()
                            .set_bitrate(Bitrate::ZERO, Bitrate::from(bps));
                    });
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

fn track_kind(kind: MediaKind) -> TrackKind {
    match kind {
        MediaKind::Audio => TrackKind::Audio,
        MediaKind::Video => TrackKind::Video,
    }
}
