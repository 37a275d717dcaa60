//! One participant's WebRTC connection: a str0m `Rtc` in RTP mode and what the SFU
//! knows about it — the tracks it publishes, the tracks it receives and where each of
//! those stands in SDP negotiation.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::format::PayloadParams;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid};
use str0m::media::{Rid, Rids};
use str0m::rtp::Ssrc;
use str0m::{Candidate, Rtc};

use crate::forward::ForwardState;
use crate::ids::{RoomId, SessionId};
use crate::message::{ErrorCode, ParticipantInfo, PeerSignal, TrackKind};
use crate::quality::{Chooser, LayerInfo, MAX_LAYERS, SpeakerMeter};
use crate::slab::Key;

/// An unanswered offer of ours is dropped after this long and made again.
const OFFER_TIMEOUT: Duration = Duration::from_secs(10);
/// Most packets of one outgoing video stream kept for retransmission.
const RTX_CACHE_PACKETS: usize = 512;
/// How long packets are kept for retransmission.
const RTX_CACHE_AGE: Duration = Duration::from_secs(1);
/// Keyframe requests to one publisher track are sent at most this often (a burst of
/// subscribers costs the publisher a few keyframes, not one each).
const KEYFRAME_INTERVAL: Duration = Duration::from_millis(100);

pub(crate) struct Peer {
    pub(crate) key: Key,
    pub(crate) session: SessionId,
    pub(crate) room: RoomId,
    pub(crate) info: ParticipantInfo,
    pub(crate) rtc: Rtc,
    /// Signals for this peer's session, collected by the engine after each drain.
    pub(crate) outbox: Vec<PeerSignal>,
    pub(crate) ufrag: String,
    /// Addresses the demux routes to this peer.
    pub(crate) addrs: Vec<SocketAddr>,
    /// Where the last datagram went; a new address is learnt only when this changes.
    pub(crate) last_destination: Option<SocketAddr>,
    /// Forwarded packets were written and wait for a timeout pass.
    pub(crate) dirty: bool,
    /// When str0m wants `Input::Timeout` next, if that is in the engine's timer heap.
    pub(crate) next_timeout: Option<Instant>,
    pub(crate) created: Instant,
    pub(crate) connected: bool,
    /// When ICE and DTLS came up.
    pub(crate) connected_at: Option<Instant>,
    /// When the last RTP packet from this peer arrived.
    pub(crate) last_rtp: Option<Instant>,
    /// Reported as inactive, and not heard from since.
    pub(crate) media_quiet: bool,
    /// Its room is recorded: published RTP goes to the tap.
    pub(crate) recording: bool,
    pub(crate) unreachable_since: Option<Instant>,
    /// Our outstanding offer and when it was made.
    pending: Option<(SdpPendingOffer, Instant)>,
    /// Set once the browser's first offer is applied; we offer nothing before.
    has_remote_description: bool,
    pub(crate) tracks_in: Vec<TrackIn>,
    pub(crate) tracks_out: Vec<TrackOut>,
    pub(crate) channels: Vec<(ChannelId, String)>,
    /// First outgoing sequence number of every stream to this peer.
    pub(crate) start_seq: u16,
    /// Maps the publisher's sender-report clock onto ours: (capture time, our instant).
    pub(crate) ntp_anchor: Option<(std::time::SystemTime, Instant)>,
    /// What the bandwidth estimate of the path to this peer allows, bit/s; `None`
    /// until the first estimate.
    pub(crate) estimate: Option<u64>,
    /// str0m's estimate as its pacer uses it (`PeerStats::bwe_tx`), bit/s. The estimate
    /// event is the mean of the last 3 s of these, so after a fall it stays high for
    /// seconds while the pacer has already slowed down and the old layer queues up in
    /// it; layers are chosen on the lower of the two.
    pub(crate) raw_estimate: Option<u64>,
    /// The desired bitrate last given to str0m's estimator, bit/s.
    pub(crate) desired: u64,
    /// Video tracks it receives that are paused for want of bandwidth.
    pub(crate) paused_tracks: u64,
    /// An intercom's virtual participant: its audio state (its `rtc` is never
    /// connected and only holds the room's codecs).
    pub(crate) bridge: Option<Box<crate::bridge::Bridge>>,
}

/// Whose video goes first when bandwidth is short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Priority {
    /// A shared screen: a publisher's second video track.
    Screen,
    /// A camera.
    Camera,
}

/// One simulcast layer of a published track (a track without simulcast has one).
#[derive(Debug, Clone)]
pub(crate) struct LayerIn {
    pub(crate) rid: Option<Rid>,
    pub(crate) ssrc: Option<Ssrc>,
    /// Payload bytes since the last quality tick.
    pub(crate) bytes: u64,
    /// Smoothed bitrate, bit/s; 0 until measured.
    pub(crate) bitrate: u64,
    /// Frame height from the last keyframe; 0 until seen.
    pub(crate) height: u16,
    pub(crate) last_packet: Option<Instant>,
    /// The latest sender report: its NTP time, its RTP time in seconds, and where that
    /// NTP time falls on our clock.
    pub(crate) sr_mapping: Option<(std::time::SystemTime, f64, Instant)>,
}

impl LayerIn {
    fn new(rid: Option<Rid>) -> LayerIn {
        LayerIn {
            rid,
            ssrc: None,
            bytes: 0,
            bitrate: 0,
            height: 0,
            last_packet: None,
            sr_mapping: None,
        }
    }
}

/// A track this peer publishes.
pub(crate) struct TrackIn {
    pub(crate) mid: Mid,
    pub(crate) kind: TrackKind,
    /// Its layers, lowest first (the order of the offer's `a=simulcast` rids).
    pub(crate) layers: Vec<LayerIn>,
    pub(crate) priority: Priority,
    /// Audio levels heard since the last speaker tick.
    pub(crate) speaker: SpeakerMeter,
    /// The layer the recorder gets, the one it should get (the best sent), and the
    /// rewrite that keeps the capture one stream across a change.
    pub(crate) tap_layer: Option<usize>,
    pub(crate) tap_target: Option<usize>,
    pub(crate) tap_rewrite: crate::tap::TapRewrite,
    /// Payload params of the PTs seen, so forwarding need not search the codec table.
    pub(crate) params: Vec<PayloadParams>,
    /// Peers that receive this track.
    pub(crate) subscribers: Vec<Key>,
    /// A keyframe request held back by the interval, to send when it is over, per layer.
    keyframe_deferred: [Option<KeyframeRequestKind>; MAX_LAYERS],
    last_keyframe_request: [Option<Instant>; MAX_LAYERS],
    /// RTP gathered for the recorder since the last hand-over.
    pub(crate) tap: Option<crate::tap::TapBuffer>,
}

/// A track of another peer that this peer receives.
pub(crate) struct TrackOut {
    pub(crate) publisher: Key,
    pub(crate) publisher_info: ParticipantInfo,
    pub(crate) source_mid: Mid,
    pub(crate) kind: TrackKind,
    pub(crate) state: OutState,
    pub(crate) forward: ForwardState,
    /// The publisher's layer chosen for this subscriber, and its hysteresis.
    pub(crate) chooser: Chooser,
    /// The layer forwarded now; differs from the chosen one until its keyframe.
    pub(crate) current: Option<usize>,
    /// Which layer's keyframe was last asked for, and when.
    pub(crate) asked_keyframe: Option<(usize, Instant)>,
    pub(crate) priority: Priority,
}

/// Where an outgoing track stands in negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutState {
    /// Waiting for the next offer.
    ToOpen,
    /// In our outstanding offer on this mid.
    Negotiating(Mid),
    /// Answered: media flows on this mid.
    Open(Mid),
    /// To be stopped in the next offer.
    ToStop(Mid),
    /// Stopped in our outstanding offer.
    NegotiatingStop(Mid),
}

impl OutState {
    fn mid(self) -> Option<Mid> {
        match self {
            OutState::ToOpen => None,
            OutState::Negotiating(m)
            | OutState::Open(m)
            | OutState::ToStop(m)
            | OutState::NegotiatingStop(m) => Some(m),
        }
    }
}

/// What an offer from the browser led to.
pub(crate) enum OfferOutcome {
    /// Answered with this SDP.
    Answered(String),
    /// Our own offer is outstanding; the browser (the polite side) rolls back its own.
    IgnoredForGlare,
    Refused,
}

impl Peer {
    /// The bandwidth its layers are chosen on: the estimate, or str0m's unsmoothed one
    /// when that is lower (see [`Peer::raw_estimate`]).
    pub(crate) fn share_estimate(&self) -> Option<u64> {
        match (self.estimate, self.raw_estimate) {
            (Some(e), Some(r)) => Some(e.min(r)),
            (e, _) => e,
        }
    }

    pub(crate) fn new(
        key: Key,
        session: SessionId,
        room: RoomId,
        info: ParticipantInfo,
        mut rtc: Rtc,
        now: Instant,
        start_seq: u16,
    ) -> Peer {
        let ufrag = rtc.direct_api().local_ice_credentials().ufrag;
        Peer {
            key,
            session,
            room,
            info,
            rtc,
            outbox: Vec::new(),
            ufrag,
            addrs: Vec::new(),
            last_destination: None,
            dirty: false,
            next_timeout: None,
            created: now,
            connected_at: None,
            last_rtp: None,
            media_quiet: false,
            recording: false,
            connected: false,
            unreachable_since: None,
            pending: None,
            has_remote_description: false,
            tracks_in: Vec::new(),
            tracks_out: Vec::new(),
            channels: Vec::new(),
            start_seq,
            ntp_anchor: None,
            estimate: None,
            raw_estimate: None,
            desired: 0,
            paused_tracks: 0,
            bridge: None,
        }
    }

    pub(crate) fn signal(&mut self, signal: PeerSignal) {
        self.outbox.push(signal);
    }

    pub(crate) fn error(&mut self, code: ErrorCode, message: impl Into<String>) {
        self.signal(PeerSignal::Error {
            code,
            message: message.into(),
        });
    }

    pub(crate) fn accept_offer(&mut self, sdp: &str) -> OfferOutcome {
        if self.pending.is_some() {
            return OfferOutcome::IgnoredForGlare;
        }
        let offer = match SdpOffer::from_sdp_string(sdp) {
            Ok(offer) => offer,
            Err(e) => {
                tracing::info!(participant = %self.info.id, "offer does not parse: {e}");
                self.error(ErrorCode::BadSdp, format!("offer does not parse: {e}"));
                return OfferOutcome::Refused;
            }
        };
        match self.rtc.sdp_api().accept_offer(offer) {
            Ok(answer) => {
                self.has_remote_description = true;
                let sdp = answer.to_sdp_string();
                self.signal(PeerSignal::Answer { sdp: sdp.clone() });
                OfferOutcome::Answered(sdp)
            }
            Err(e) => {
                tracing::info!(participant = %self.info.id, "offer refused: {e}");
                self.error(ErrorCode::BadSdp, format!("offer refused: {e}"));
                OfferOutcome::Refused
            }
        }
    }

    pub(crate) fn accept_answer(&mut self, sdp: &str) {
        let Some((pending, _)) = self.pending.take() else {
            self.error(
                ErrorCode::UnexpectedAnswer,
                "no offer of ours is outstanding",
            );
            return;
        };
        let answer = match SdpAnswer::from_sdp_string(sdp) {
            Ok(answer) => answer,
            Err(e) => {
                self.rollback_offer();
                self.error(ErrorCode::BadSdp, format!("answer does not parse: {e}"));
                return;
            }
        };
        if let Err(e) = self.rtc.sdp_api().accept_answer(pending, answer) {
            self.rollback_offer();
            self.error(ErrorCode::BadSdp, format!("answer refused: {e}"));
            return;
        }
        for track in &mut self.tracks_out {
            if let OutState::Negotiating(mid) = track.state {
                track.state = OutState::Open(mid);
                // What a NACK can still ask for. str0m keeps 3 s by default: with the
                // payloads and per-packet state that is about 1 MB per video stream. One
                // second covers round trips to well past 500 ms.
                if track.kind == TrackKind::Video
                    && let Some(stream) = self.rtc.direct_api().stream_tx_by_mid(mid, None)
                {
                    stream.set_rtx_cache(RTX_CACHE_PACKETS, RTX_CACHE_AGE, Some(0.15));
                }
            }
        }
        tracing::debug!(participant = %self.info.id, "offer answered");
        // A stopped m-line is free for str0m to recycle; we forget the track.
        self.tracks_out
            .retain(|t| !matches!(t.state, OutState::NegotiatingStop(_)));
    }

    /// Forgets our outstanding offer: what it carried goes into the next one.
    fn rollback_offer(&mut self) {
        self.pending = None;
        for track in &mut self.tracks_out {
            track.state = match track.state {
                OutState::Negotiating(_) => OutState::ToOpen,
                OutState::NegotiatingStop(mid) => OutState::ToStop(mid),
                other => other,
            };
        }
    }

    pub(crate) fn add_remote_candidate(&mut self, candidate: &str) {
        let line = candidate.trim().trim_start_matches("a=");
        if line.is_empty() {
            return; // end of candidates
        }
        match Candidate::from_sdp_string(line) {
            Ok(candidate) => self.rtc.add_remote_candidate(candidate),
            // Browsers hide host addresses behind mDNS names, which we cannot resolve and
            // do not need: as ICE-lite we learn addresses from the browser's checks.
            Err(_) if line.contains(".local") => {}
            Err(e) => self.error(ErrorCode::BadCandidate, format!("{e}")),
        }
    }

    /// Makes an offer if tracks wait to be added or stopped and no offer is outstanding.
    pub(crate) fn negotiate(&mut self, now: Instant) {
        if let Some((_, since)) = &self.pending {
            if now.duration_since(*since) < OFFER_TIMEOUT {
                return;
            }
            tracing::debug!(participant = %self.info.id, "offer unanswered, offering again");
            self.rollback_offer();
        }
        if !self.has_remote_description {
            return;
        }
        if !self
            .tracks_out
            .iter()
            .any(|t| matches!(t.state, OutState::ToOpen | OutState::ToStop(_)))
        {
            return;
        }
        let mut added = Vec::new();
        let mut removed = Vec::new();
        let mut change = self.rtc.sdp_api();
        for track in &mut self.tracks_out {
            match track.state {
                OutState::ToOpen => {
                    let kind = match track.kind {
                        TrackKind::Audio => MediaKind::Audio,
                        TrackKind::Video => MediaKind::Video,
                    };
                    // The stream id is the publisher, so the browser groups a person's
                    // audio and video into one MediaStream.
                    let stream_id = track.publisher_info.id.to_string();
                    let track_id = format!("{}-{}", track.publisher_info.id, track.source_mid);
                    let mid = change.add_media(
                        kind,
                        Direction::SendOnly,
                        Some(stream_id),
                        Some(track_id),
                        None,
                    );
                    track.state = OutState::Negotiating(mid);
                    added.push((track.publisher_info.id.clone(), mid, track.kind));
                }
                OutState::ToStop(mid) => {
                    change.stop_media(mid);
                    track.state = OutState::NegotiatingStop(mid);
                    removed.push((track.publisher_info.id.clone(), mid));
                }
                _ => {}
            }
        }
        let Some((offer, pending)) = change.apply() else {
            return;
        };
        self.pending = Some((pending, now));
        tracing::debug!(participant = %self.info.id, added = added.len(), removed = removed.len(), "offering");
        for (participant, mid, kind) in added {
            self.signal(PeerSignal::TrackAdded {
                participant,
                mid: mid.to_string(),
                kind,
            });
        }
        for (participant, mid) in removed {
            self.signal(PeerSignal::TrackRemoved {
                participant,
                mid: mid.to_string(),
            });
        }
        self.signal(PeerSignal::Offer {
            sdp: offer.to_sdp_string(),
        });
    }

    /// Starts receiving `source_mid` of `publisher`.
    pub(crate) fn subscribe(
        &mut self,
        publisher: Key,
        info: &ParticipantInfo,
        source_mid: Mid,
        kind: TrackKind,
        priority: Priority,
    ) {
        if self
            .tracks_out
            .iter()
            .any(|t| t.publisher == publisher && t.source_mid == source_mid)
        {
            return;
        }
        self.tracks_out.push(TrackOut {
            publisher,
            publisher_info: info.clone(),
            source_mid,
            kind,
            state: OutState::ToOpen,
            forward: ForwardState::default(),
            chooser: Chooser::default(),
            current: None,
            asked_keyframe: None,
            priority,
        });
    }

    /// Stops receiving `source_mid` of `publisher` (or all its tracks, for `None`).
    pub(crate) fn unsubscribe(&mut self, publisher: Key, source_mid: Option<Mid>) {
        self.tracks_out.retain_mut(|t| {
            if t.publisher != publisher || source_mid.is_some_and(|m| m != t.source_mid) {
                return true;
            }
            match t.state {
                // Never offered: nothing to undo.
                OutState::ToOpen => false,
                OutState::Open(mid) | OutState::Negotiating(mid) => {
                    t.state = OutState::ToStop(mid);
                    true
                }
                OutState::ToStop(_) | OutState::NegotiatingStop(_) => true,
            }
        });
    }

    /// The track of `publisher`'s `source_mid` this peer receives, if its m-line is
    /// open: its index and the m-line.
    pub(crate) fn open_track_out(&self, publisher: Key, source_mid: Mid) -> Option<(usize, Mid)> {
        let index = self
            .tracks_out
            .iter()
            .position(|t| t.publisher == publisher && t.source_mid == source_mid)?;
        match self.tracks_out[index].state {
            OutState::Open(mid) => Some((index, mid)),
            _ => None,
        }
    }

    pub(crate) fn track_out_by_mid(&self, mid: Mid) -> Option<&TrackOut> {
        self.tracks_out.iter().find(|t| t.state.mid() == Some(mid))
    }

    pub(crate) fn is_own_out_mid(&self, mid: Mid) -> bool {
        self.tracks_out.iter().any(|t| t.state.mid() == Some(mid))
    }

    /// Asks the browser for a keyframe on layer `layer` of a track it publishes (`None`:
    /// every layer), at most every 100 ms per layer.
    pub(crate) fn request_keyframe(
        &mut self,
        mid: Mid,
        layer: Option<usize>,
        kind: KeyframeRequestKind,
        now: Instant,
    ) {
        let Some(track) = self.tracks_in.iter_mut().find(|t| t.mid == mid) else {
            return;
        };
        if track.kind != TrackKind::Video {
            return;
        }
        let layers = match layer {
            Some(l) => l..l + 1,
            None => 0..track.layers.len().max(1),
        };
        for l in layers.filter(|l| *l < MAX_LAYERS) {
            if track.last_keyframe_request[l]
                .is_some_and(|t| now.duration_since(t) < KEYFRAME_INTERVAL)
            {
                // Too soon after the last one, which may have come before this
                // subscriber could decode anything: ask again when the interval is
                // over, or it waits for the publisher's next natural keyframe.
                track.keyframe_deferred[l] = Some(kind);
                continue;
            }
            track.last_keyframe_request[l] = Some(now);
            track.keyframe_deferred[l] = None;
            let rid = track.layers.get(l).and_then(|layer| layer.rid);
            if let Some(stream) = self.rtc.direct_api().stream_rx_by_mid(mid, rid) {
                stream.request_keyframe(kind);
            }
        }
    }

    /// Sends a deferred keyframe request of layer `layer` of published track `index`
    /// once its interval is over. Cheap enough to call for every packet of the track.
    pub(crate) fn keyframe_due(&mut self, index: usize, layer: usize, now: Instant) {
        let track = &self.tracks_in[index];
        let Some(l) = (layer < MAX_LAYERS).then_some(layer) else {
            return;
        };
        let (Some(kind), Some(last)) = (track.keyframe_deferred[l], track.last_keyframe_request[l])
        else {
            return;
        };
        if now.duration_since(last) >= KEYFRAME_INTERVAL {
            let mid = track.mid;
            self.request_keyframe(mid, Some(l), kind, now);
        }
    }

    pub(crate) fn add_track_in(&mut self, mid: Mid, kind: TrackKind) -> bool {
        if self.tracks_in.iter().any(|t| t.mid == mid) {
            return false;
        }
        // The rids of the offer's simulcast line, in its order: lowest first, as the
        // SDK sends them. No simulcast: one layer.
        let rids: Vec<Rid> = match self.rtc.media(mid).map(|m| m.rids_rx()) {
            Some(Rids::Specific(rids)) => rids.clone(),
            _ => Vec::new(),
        };
        let layers = if rids.is_empty() {
            vec![LayerIn::new(None)]
        } else {
            rids.into_iter()
                .take(MAX_LAYERS)
                .map(|r| LayerIn::new(Some(r)))
                .collect()
        };
        let videos = self
            .tracks_in
            .iter()
            .filter(|t| t.kind == TrackKind::Video)
            .count();
        self.tracks_in.push(TrackIn {
            mid,
            kind,
            layers,
            priority: if kind == TrackKind::Video && videos > 0 {
                Priority::Screen
            } else {
                Priority::Camera
            },
            speaker: SpeakerMeter::default(),
            tap_layer: None,
            tap_target: None,
            tap_rewrite: crate::tap::TapRewrite::default(),
            params: Vec::new(),
            subscribers: Vec::new(),
            keyframe_deferred: [None; MAX_LAYERS],
            last_keyframe_request: [None; MAX_LAYERS],
            tap: None,
        });
        true
    }

    /// The published track and layer an RTP packet with `ssrc` belongs to.
    pub(crate) fn track_in_index(&mut self, ssrc: Ssrc) -> Option<(usize, usize)> {
        for (i, t) in self.tracks_in.iter().enumerate() {
            if let Some(l) = t.layers.iter().position(|l| l.ssrc == Some(ssrc)) {
                return Some((i, l));
            }
        }
        // First packet of this SSRC: ask str0m which m-line and rid it maps to.
        let (mid, rid) = {
            let mut direct = self.rtc.direct_api();
            let stream = direct.stream_rx(&ssrc)?;
            (stream.mid(), stream.rid())
        };
        let i = self.tracks_in.iter().position(|t| t.mid == mid)?;
        let track = &mut self.tracks_in[i];
        let l = match track.layers.iter().position(|l| l.rid == rid) {
            Some(l) => l,
            // A rid the offer did not list (or the rid was learnt late): its own layer.
            None if track.layers.len() < MAX_LAYERS => {
                track.layers.push(LayerIn::new(rid));
                track.layers.len() - 1
            }
            None => return None,
        };
        track.layers[l].ssrc = Some(ssrc);
        Some((i, l))
    }

    /// What the layers of published track `index` cost and show, lowest first.
    pub(crate) fn layer_infos(
        &self,
        index: usize,
        now: Instant,
    ) -> ([LayerInfo; MAX_LAYERS], usize) {
        let mut out = [LayerInfo {
            bitrate: 0,
            height: 0,
            active: false,
        }; MAX_LAYERS];
        let track = &self.tracks_in[index];
        let n = track.layers.len().min(MAX_LAYERS);
        let silent = |l: &LayerIn| l.last_packet.map(|t| now.duration_since(t));
        let freshest = track.layers.iter().take(n).filter_map(silent).min();
        for (i, layer) in track.layers.iter().take(n).enumerate() {
            out[i] = LayerInfo {
                bitrate: if layer.bitrate > 0 {
                    layer.bitrate
                } else {
                    crate::quality::default_bitrate(i, n)
                },
                height: layer.height,
                active: silent(layer).is_some_and(|s| {
                    s < crate::quality::LAYER_IDLE
                        && freshest.is_none_or(|f| s - f < crate::quality::LAYER_LAGGING)
                }),
            };
        }
        (out, n)
    }

    /// The codec behind payload type `pt` of published track `index`.
    pub(crate) fn track_in_params(
        &mut self,
        index: usize,
        pt: str0m::media::Pt,
    ) -> Option<PayloadParams> {
        let track = &self.tracks_in[index];
        if let Some(p) = track.params.iter().find(|p| p.pt() == pt) {
            return Some(*p);
        }
        let params = *self.rtc.codec_config().find(|p| p.pt() == pt)?;
        self.tracks_in[index].params.push(params);
        Some(params)
    }

    pub(crate) fn channel_for_label(&self, label: &str) -> Option<ChannelId> {
        self.channels
            .iter()
            .find(|(_, l)| l == label)
            .map(|(id, _)| *id)
    }
}
