//! In-memory browsers for tests and benchmarks of the [`Engine`].
//!
//! A [`TestNet`] holds one engine and any number of [`TestClient`]s — str0m peers that
//! play the browser's part (full ICE, DTLS client, SDP offerer) — and moves datagrams
//! between them on a virtual clock. Nothing touches a socket or the real clock, so a
//! minute-long call runs in milliseconds and runs the same every time.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc};

use crate::engine::{Engine, EngineLimits, Output as EngineOutput};
use crate::ids::{ParticipantId, RoomId, SessionId};
use crate::message::{Command, PeerSignal, SfuEvent};
use crate::tap::TapBatch;

/// The address the engine under test announces.
pub const SFU_ADDR: &str = "192.0.2.1:40000";
/// The data-channel label test clients open.
pub const CHANNEL: &str = "vchat";

/// What a test client sends.
#[derive(Debug, Clone, Copy)]
pub struct Publish {
    /// An audio m-line.
    pub audio: bool,
    /// A video m-line.
    pub video: bool,
    /// Publish video as H.264 instead of VP8.
    pub h264: bool,
}

impl Publish {
    /// Audio and VP8 video.
    pub fn audio_video() -> Publish {
        Publish {
            audio: true,
            video: true,
            h264: false,
        }
    }
}

/// How a test client offers: what it publishes, its video codecs (default: VP8 and
/// H.264, the one it sends first), and a rewrite of its offers' text on the way to the
/// engine (default: none).
pub struct Offerer {
    /// What it sends.
    pub publish: Publish,
    /// Its video codecs, the one it sends first; `None`: VP8 and H.264 as `publish`
    /// says.
    pub video_codecs: Option<Vec<Codec>>,
    /// Rewrites each offer before the engine sees it.
    pub rewrite: fn(&str) -> String,
    /// Publish video as simulcast layers with these rids, lowest first.
    pub simulcast: Option<&'static [&'static str]>,
}

impl Offerer {
    /// A client that offers what `publish` says, as str0m writes it.
    pub fn new(publish: Publish) -> Offerer {
        Offerer {
            publish,
            video_codecs: None,
            rewrite: str::to_string,
            simulcast: None,
        }
    }
}

/// An offer as a max-bundle offerer writes it (RFC 8843 §6, Firefox and GStreamer's
/// webrtcbin): every m-line after the first with port 0 and `a=bundle-only`.
pub fn max_bundle(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len() + 64);
    let mut seen_media = false;
    // Set after a secondary m= line: the attribute goes after its c= line, where
    // Firefox writes it.
    let mut owe_bundle_only = false;
    for line in sdp.split_inclusive("\r\n") {
        if owe_bundle_only && !line.starts_with("c=") {
            out.push_str("a=bundle-only\r\n");
            owe_bundle_only = false;
        }
        if let Some(rest) = line.strip_prefix("m=") {
            let mut fields = rest.splitn(3, ' ');
            let (kind, _port, tail) = (
                fields.next().unwrap_or_default(),
                fields.next(),
                fields.next().unwrap_or_default(),
            );
            if seen_media {
                out.push_str(&format!("m={kind} 0 {tail}"));
                owe_bundle_only = true;
                continue;
            }
            seen_media = true;
        }
        out.push_str(line);
        if owe_bundle_only && line.starts_with("c=") {
            out.push_str("a=bundle-only\r\n");
            owe_bundle_only = false;
        }
    }
    out
}

/// RTP received by a client on one m-line.
#[derive(Debug, Default, Clone)]
pub struct Received {
    /// Packets.
    pub packets: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Payload of the last packet.
    pub last_payload: Vec<u8>,
    /// Codec of the last packet.
    pub codec: Option<Codec>,
    /// Every packet: sequence number, RTP time, marker, the first 24 payload bytes,
    /// and when it arrived.
    pub log: Vec<(u64, u32, bool, Vec<u8>, Instant)>,
}

/// A browser stand-in.
pub struct TestClient {
    /// The client's str0m peer (RTP mode).
    pub rtc: Rtc,
    /// Its address.
    pub addr: SocketAddr,
    /// Its participant id.
    pub participant: ParticipantId,
    /// Its signaling session.
    pub session: SessionId,
    /// Signals the engine sent it, in order.
    pub signals: Vec<PeerSignal>,
    inbox: VecDeque<PeerSignal>,
    pending: Option<SdpPendingOffer>,
    /// The audio m-line it sends on.
    pub audio_mid: Option<Mid>,
    /// The video m-line it sends on.
    pub video_mid: Option<Mid>,
    /// The codec it sends video in.
    pub video_codec: Codec,
    /// Whether ICE and DTLS are up.
    pub connected: bool,
    /// RTP received, by m-line.
    pub received: HashMap<Mid, Received>,
    /// The data channel, once open.
    pub channel: Option<ChannelId>,
    /// Data-channel messages received.
    pub messages: Vec<Vec<u8>>,
    /// When set, every datagram the client sends is kept here (STUN, DTLS, SRTP).
    pub capture: Option<Vec<Vec<u8>>>,
    /// Keyframe requests (PLI or FIR) the engine sent it.
    pub keyframe_requests: u64,
    /// The rid of each keyframe request, in order (`None`: no simulcast).
    pub keyframe_rids: Vec<Option<String>>,
    /// Sequence numbers written per simulcast rid.
    layer_seq: HashMap<String, u64>,
    /// The last sequence number written on each further m-line (`send_on`).
    mid_seq: HashMap<Mid, u64>,
    /// Whether the engine dropped it.
    pub closed: bool,
    /// The last offer it sent, as the engine got it.
    pub last_offer: String,
    rewrite: fn(&str) -> String,
    /// The last sequence number written on the audio and on the video stream.
    seq: [u64; 2],
    next_timeout: Instant,
}

impl TestClient {
    /// Writes one RTP packet on the video (or audio) m-line.
    pub fn send_rtp(&mut self, video: bool, payload: &[u8], now: Instant) -> bool {
        let Some(mid) = (if video {
            self.video_mid
        } else {
            self.audio_mid
        }) else {
            return false;
        };
        let kind = if video {
            MediaKind::Video
        } else {
            MediaKind::Audio
        };
        // Audio in what the engine took: Opus, or a room's G.711 law.
        let pt = if video {
            self.negotiated_pt(mid, self.video_codec)
        } else {
            [Codec::Opus, Codec::PCMU, Codec::PCMA]
                .into_iter()
                .find_map(|c| self.negotiated_pt(mid, c))
        };
        let Some(pt) = pt else {
            return false;
        };
        let _ = kind;
        self.seq[usize::from(video)] += 1;
        let stream_seq = self.seq[usize::from(video)];
        let seq: SeqNo = stream_seq.into();
        let time = if video {
            (stream_seq * 3000) as u32
        } else {
            self.audio_ts(stream_seq)
        };
        let mut direct = self.rtc.direct_api();
        let Some(stream) = direct.stream_tx_by_mid(mid, None) else {
            return false;
        };
        stream.write_rtp(
            RtpWrite::new(pt, seq, time, now, payload.to_vec())
                .marker(video)
                .nackable(video),
        );
        true
    }

    /// The RTP time of audio packet `seq`: 20 ms at Opus's 48 kHz, or at G.711's 8 kHz.
    fn audio_ts(&self, seq: u64) -> u32 {
        let g711 = self
            .audio_mid
            .is_some_and(|mid| self.negotiated_pt(mid, Codec::Opus).is_none());
        (seq * if g711 { 160 } else { 960 }) as u32
    }

    /// The payload type of `codec` that the engine accepted on m-line `mid`.
    fn negotiated_pt(&self, mid: Mid, codec: Codec) -> Option<str0m::media::Pt> {
        let negotiated = self.rtc.media(mid)?.remote_pts();
        self.rtc
            .codec_config()
            .find(|p| p.spec().codec == codec && negotiated.contains(&p.pt()))
            .map(|p| p.pt())
    }

    /// Writes one RTP packet of simulcast layer `rid` on the video m-line, at RTP time
    /// `ts` (each layer numbers its own packets).
    pub fn send_layer(
        &mut self,
        rid: &str,
        payload: &[u8],
        ts: u32,
        marker: bool,
        now: Instant,
    ) -> bool {
        let Some(mid) = self.video_mid else {
            return false;
        };
        let seq = self.layer_seq.entry(rid.to_string()).or_insert(0);
        *seq += 1;
        let seq = *seq;
        self.write_video(mid, Some(rid), seq, payload, ts, marker, now)
    }

    /// Writes one RTP packet on video m-line `mid` (a second video track, such as a
    /// screen added with [`TestNet::add_track`]), numbered on its own, at RTP time `ts`.
    pub fn send_on(
        &mut self,
        mid: Mid,
        payload: &[u8],
        ts: u32,
        marker: bool,
        now: Instant,
    ) -> bool {
        let seq = self.mid_seq.entry(mid).or_insert(0);
        *seq += 1;
        let seq = *seq;
        self.write_video(mid, None, seq, payload, ts, marker, now)
    }

    /// Writes one nackable video packet of stream `rid` on m-line `mid`.
    #[allow(clippy::too_many_arguments)]
    fn write_video(
        &mut self,
        mid: Mid,
        rid: Option<&str>,
        seq: u64,
        payload: &[u8],
        ts: u32,
        marker: bool,
        now: Instant,
    ) -> bool {
        let Some(pt) = self.negotiated_pt(mid, self.video_codec) else {
            return false;
        };
        let mut direct = self.rtc.direct_api();
        let Some(stream) = direct.stream_tx_by_mid(mid, rid.map(Into::into)) else {
            return false;
        };
        stream.write_rtp(
            RtpWrite::new(pt, seq.into(), ts, now, payload.to_vec())
                .marker(marker)
                .nackable(true),
        );
        true
    }

    /// Loses the next `n` packets of the video (or audio) stream on the way: their
    /// sequence numbers and timestamps go by, nothing is sent.
    pub fn lose_rtp(&mut self, video: bool, n: u64) {
        self.seq[usize::from(video)] += n;
    }

    /// Sends a text message on the data channel.
    pub fn send_message(&mut self, text: &str) -> bool {
        let Some(id) = self.channel else { return false };
        self.rtc
            .channel(id)
            .is_some_and(|mut c| c.write(false, text.as_bytes()).is_ok())
    }

    /// RTP packets received over all m-lines of `kind`.
    pub fn received_of(&self, kind: MediaKind) -> u64 {
        self.received
            .iter()
            .filter(|(mid, _)| self.rtc.media(**mid).is_some_and(|m| m.kind() == kind))
            .map(|(_, r)| r.packets)
            .sum()
    }
}

/// An engine and its clients on a virtual clock.
pub struct TestNet {
    /// The virtual now.
    pub now: Instant,
    /// The engine under test.
    pub engine: Engine,
    /// The clients, in join order.
    pub clients: Vec<TestClient>,
    /// Events the engine reported.
    pub events: Vec<SfuEvent>,
    /// Tapped media the engine handed out for the recorder.
    pub taps: Vec<TapBatch>,
    /// Datagrams held back by [`TestNet::deliver_signals`].
    held: Vec<Transmit>,
    /// The path from the engine to each client, where one is set: a bottleneck.
    links: HashMap<usize, Link>,
    next_session: u64,
    /// Drop every n-th RTP datagram a client sends to the engine, by client index.
    pub upstream_loss: Option<(usize, u64)>,
    /// Drop every n-th RTP datagram the engine sends to a client, by client index.
    pub downstream_loss: Option<(usize, u64)>,
    rtp_counter: u64,
}

/// Whether a datagram is RTP (not RTCP, STUN or DTLS).
fn is_rtp(datagram: &[u8]) -> bool {
    datagram.len() > 1
        && (128..192).contains(&datagram[0])
        && !(64..96).contains(&(datagram[1] & 0x7f))
}

impl TestNet {
    /// An engine with default limits.
    pub fn new() -> TestNet {
        TestNet::with_limits(EngineLimits::default())
    }

    /// An engine with these limits.
    pub fn with_limits(limits: EngineLimits) -> TestNet {
        let addr = SFU_ADDR.parse().expect("valid address");
        // The virtual clock starts at the real now; nothing reads a clock after this.
        let now = Instant::now();
        TestNet {
            now,
            engine: Engine::new(0, addr, limits, now, SystemTime::now()),
            clients: Vec::new(),
            events: Vec::new(),
            taps: Vec::new(),
            held: Vec::new(),
            links: HashMap::new(),
            next_session: 1,
            upstream_loss: None,
            downstream_loss: None,
            rtp_counter: 0,
        }
    }

    /// A client joins `room` and offers what `publish` says plus a data channel.
    /// Returns its index in [`TestNet::clients`].
    pub fn join(&mut self, room: &str, participant: &str, publish: Publish) -> usize {
        self.join_as(room, participant, Offerer::new(publish))
    }

    /// A client joins as `offerer` describes: its codecs, and how its offers are
    /// written on the wire (what a non-browser client, or another browser, sends).
    pub fn join_as(&mut self, room: &str, participant: &str, offerer: Offerer) -> usize {
        let Offerer {
            publish,
            video_codecs,
            rewrite,
            simulcast,
        } = offerer;
        let index = self.clients.len();
        let addr: SocketAddr = format!("10.0.{}.{}:5000", index / 250, index % 250 + 1)
            .parse()
            .expect("address");
        // Audio as browsers offer it: Opus first, then both G.711 laws.
        let mut builder = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_pcmu(true, false)
            .enable_pcma(true, false);
        // Receiving, every client takes both codecs; the first one is what it sends.
        builder = match &video_codecs {
            Some(codecs) => codecs.iter().fold(builder, |b, codec| match codec {
                Codec::Vp8 => b.enable_vp8(true),
                Codec::Vp9 => b.enable_vp9(true),
                Codec::H264 => b.enable_h264(true),
                Codec::Av1 => b.enable_av1(true),
                _ => b,
            }),
            None if publish.h264 => builder.enable_h264(true).enable_vp8(true),
            None => builder.enable_vp8(true).enable_h264(true),
        };
        let mut rtc = builder.build(self.now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").expect("host candidate"));

        let session = SessionId(self.next_session);
        self.next_session += 1;
        let participant = ParticipantId::new(participant).expect("test participant id");
        self.engine.handle_command(
            self.now,
            Command::Join {
                session,
                room: RoomId::new(room).expect("test room id"),
                participant: participant.clone(),
                name: participant.to_string(),
            },
        );

        let mut change = rtc.sdp_api();
        let audio_mid = publish
            .audio
            .then(|| change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
        let layers = simulcast.map(|rids| {
            let mut s = Simulcast::new();
            for rid in rids {
                s.add_send_layer(SimulcastLayer::new(rid));
            }
            s
        });
        let video_mid = publish
            .video
            .then(|| change.add_media(MediaKind::Video, Direction::SendOnly, None, None, layers));
        change.add_channel(CHANNEL.into());
        let (offer, pending) = change.apply().expect("an offer");
        let sdp = rewrite(&offer.to_sdp_string());
        self.engine.handle_command(
            self.now,
            Command::Offer {
                session,
                sdp: sdp.clone(),
            },
        );

        self.clients.push(TestClient {
            rtc,
            addr,
            participant,
            session,
            signals: Vec::new(),
            inbox: VecDeque::new(),
            pending: Some(pending),
            audio_mid,
            video_mid,
            video_codec: match &video_codecs {
                Some(codecs) => codecs.first().copied().unwrap_or(Codec::Vp8),
                None if publish.h264 => Codec::H264,
                None => Codec::Vp8,
            },
            last_offer: sdp,
            rewrite,
            connected: false,
            received: HashMap::new(),
            channel: None,
            messages: Vec::new(),
            capture: None,
            keyframe_requests: 0,
            keyframe_rids: Vec::new(),
            layer_seq: HashMap::new(),
            mid_seq: HashMap::new(),
            closed: false,
            seq: [0; 2],
            next_timeout: self.now,
        });
        index
    }

    /// The client starts sending another track (a screen, say): it offers again.
    /// Returns the new m-line.
    pub fn add_track(&mut self, index: usize, kind: MediaKind) -> Mid {
        let client = &mut self.clients[index];
        let mut change = client.rtc.sdp_api();
        let mid = change.add_media(kind, Direction::SendOnly, None, None, None);
        let (offer, pending) = change.apply().expect("an offer");
        client.pending = Some(pending);
        if kind == MediaKind::Video && client.video_mid.is_none() {
            client.video_mid = Some(mid);
        }
        client.last_offer = (client.rewrite)(&offer.to_sdp_string());
        let (session, sdp) = (client.session, client.last_offer.clone());
        self.engine
            .handle_command(self.now, Command::Offer { session, sdp });
        mid
    }

    /// The client stops sending on `mid` (direction inactive) and offers again.
    pub fn stop_track(&mut self, index: usize, mid: Mid) {
        let client = &mut self.clients[index];
        let mut change = client.rtc.sdp_api();
        change.set_direction(mid, Direction::Inactive);
        let (offer, pending) = change.apply().expect("an offer");
        client.pending = Some(pending);
        client.last_offer = (client.rewrite)(&offer.to_sdp_string());
        let (session, sdp) = (client.session, client.last_offer.clone());
        self.engine
            .handle_command(self.now, Command::Offer { session, sdp });
    }

    /// The client restarts ICE from `addr` (a network change: a phone from Wi-Fi to
    /// mobile data): new ICE credentials in a new offer, its old address gone.
    pub fn restart_ice(&mut self, index: usize, addr: SocketAddr) {
        let client = &mut self.clients[index];
        client.addr = addr;
        // str0m drops or keeps the old candidates when the answer arrives; kept, they
        // are harmless here: whatever the client sends leaves from `addr`.
        client
            .rtc
            .add_local_candidate(Candidate::host(addr, "udp").expect("host candidate"));
        let mut change = client.rtc.sdp_api();
        change.ice_restart(true);
        let (offer, pending) = change.apply().expect("an ICE restart offer");
        client.pending = Some(pending);
        client.last_offer = (client.rewrite)(&offer.to_sdp_string());
        let (session, sdp) = (client.session, client.last_offer.clone());
        self.engine
            .handle_command(self.now, Command::Offer { session, sdp });
    }

    /// The client sends its last offer again, unchanged (as browsers do when a
    /// negotiation is triggered that changes nothing).
    pub fn reoffer(&mut self, index: usize) {
        let client = &self.clients[index];
        let (session, sdp) = (client.session, client.last_offer.clone());
        self.engine
            .handle_command(self.now, Command::Offer { session, sdp });
    }

    /// Hands every client the signals the engine sent it, and nothing else: no
    /// datagram moves, so no connection makes progress.
    pub fn deliver_signals(&mut self) {
        // A client's answer may make the engine offer again: signals until none move.
        for _ in 0..100 {
            while let Some(output) = self.engine.poll_output() {
                match output {
                    EngineOutput::Transmit(transmit) => self.held.push(transmit),
                    other => self.take_output(other),
                }
            }
            let mut moved = false;
            for i in 0..self.clients.len() {
                moved |= self.handle_signals(i);
            }
            if !moved {
                return;
            }
        }
    }

    /// The client leaves.
    pub fn leave(&mut self, index: usize) {
        let session = self.clients[index].session;
        self.engine
            .handle_command(self.now, Command::Leave { session });
        self.clients[index].closed = true;
    }

    /// Moves every pending signal, datagram and timeout once, then advances the clock
    /// by `step`.
    pub fn progress(&mut self, step: Duration) {
        self.exchange();
        self.now += step;
        let now = self.now;
        self.deliver_due(now);
        for i in 0..self.clients.len() {
            if !self.clients[i].closed && self.clients[i].next_timeout <= now {
                let _ = self.clients[i].rtc.handle_input(Input::Timeout(now));
                self.drain_client(i);
            }
        }
        self.engine.handle_timeout(now);
        self.exchange();
    }

    /// Progresses in 1 ms steps until `done` or `limit` of virtual time has passed.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&TestNet) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            self.progress(Duration::from_millis(1));
        }
        done(self)
    }

    /// Whether every client that is still in has ICE and DTLS up.
    pub fn all_connected(&self) -> bool {
        self.clients
            .iter()
            .filter(|c| !c.closed)
            .all(|c| c.connected)
    }

    /// Hands a datagram from `from` to the engine, as if received now.
    pub fn inject(&mut self, from: SocketAddr, datagram: &[u8]) {
        self.engine.handle_datagram(self.now, from, datagram);
    }

    /// Takes what client `index` wants to send, without delivering it (benchmarks hand
    /// it to the engine themselves).
    pub fn take_client_datagrams(&mut self, index: usize) -> Vec<Vec<u8>> {
        let now = self.now;
        let client = &mut self.clients[index];
        if client.next_timeout <= now {
            let _ = client.rtc.handle_input(Input::Timeout(now));
        }
        let mut out = Vec::new();
        loop {
            match client.rtc.poll_output() {
                Ok(Output::Transmit(t)) => out.push(t.contents.to_vec()),
                Ok(Output::Timeout(at)) => {
                    client.next_timeout = at;
                    break;
                }
                Ok(Output::Event(_)) => {}
                Err(_) => break,
            }
        }
        out
    }

    /// Moves signals and datagrams until there are none in flight.
    pub fn exchange(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            for transmit in std::mem::take(&mut self.held) {
                moved = true;
                self.deliver_to_client(transmit);
            }
            for i in 0..self.clients.len() {
                moved |= self.handle_signals(i);
                moved |= self.drain_client(i);
            }
            while let Some(output) = self.engine.poll_output() {
                moved = true;
                self.take_output(output);
            }
            if !moved {
                return;
            }
        }
    }

    /// Routes one output of the engine: a datagram to its client, a signal to its
    /// session's client, the rest to [`TestNet::events`] and [`TestNet::taps`].
    pub fn take_output(&mut self, output: EngineOutput) {
        match output {
            EngineOutput::Transmit(transmit) => self.deliver_to_client(transmit),
            EngineOutput::Signal(session, signal) => {
                if let Some(client) = self.clients.iter_mut().find(|c| c.session == session) {
                    client.inbox.push_back(signal);
                }
            }
            EngineOutput::Event(event) => self.events.push(event),
            EngineOutput::Tap(batch) => self.taps.push(batch),
        }
    }

    fn lose(&mut self, loss: Option<(usize, u64)>, client: usize, datagram: &[u8]) -> bool {
        let Some((who, every)) = loss else {
            return false;
        };
        if who != client || !is_rtp(datagram) {
            return false;
        }
        self.rtp_counter += 1;
        self.rtp_counter.is_multiple_of(every)
    }

    fn handle_signals(&mut self, i: usize) -> bool {
        let mut moved = false;
        while let Some(signal) = self.clients[i].inbox.pop_front() {
            moved = true;
            let client = &mut self.clients[i];
            match &signal {
                PeerSignal::Answer { sdp } => {
                    if let (Some(pending), Ok(answer)) =
                        (client.pending.take(), SdpAnswer::from_sdp_string(sdp))
                    {
                        client
                            .rtc
                            .sdp_api()
                            .accept_answer(pending, answer)
                            .expect("client accepts the answer");
                    }
                }
                PeerSignal::Offer { sdp } => {
                    let offer = SdpOffer::from_sdp_string(sdp).expect("engine offers valid SDP");
                    let answer = client
                        .rtc
                        .sdp_api()
                        .accept_offer(offer)
                        .expect("client accepts the offer");
                    let session = client.session;
                    self.engine.handle_command(
                        self.now,
                        Command::Answer {
                            session,
                            sdp: answer.to_sdp_string(),
                        },
                    );
                }
                PeerSignal::Closed { .. } => client.closed = true,
                _ => {}
            }
            self.clients[i].signals.push(signal);
        }
        moved
    }

    fn drain_client(&mut self, i: usize) -> bool {
        let mut moved = false;
        loop {
            let client = &mut self.clients[i];
            if client.closed {
                return moved;
            }
            let Ok(output) = client.rtc.poll_output() else {
                return moved;
            };
            match output {
                Output::Timeout(at) => {
                    client.next_timeout = at;
                    return moved;
                }
                Output::Transmit(transmit) => {
                    moved = true;
                    if let Some(capture) = &mut client.capture {
                        capture.push(transmit.contents.to_vec());
                    }
                    let from = client.addr;
                    if self.lose(self.upstream_loss, i, &transmit.contents) {
                        continue;
                    }
                    self.engine
                        .handle_datagram(self.now, from, &transmit.contents);
                }
                Output::Event(event) => match event {
                    Event::Connected => client.connected = true,
                    Event::RtpPacket(packet) => {
                        let mid = client
                            .rtc
                            .direct_api()
                            .stream_rx(&packet.header.ssrc)
                            .map(|s| s.mid());
                        let codec = client
                            .rtc
                            .codec_config()
                            .find(|p| p.pt() == packet.header.payload_type)
                            .map(|p| p.spec().codec);
                        if let Some(mid) = mid {
                            let r = client.received.entry(mid).or_default();
                            r.packets += 1;
                            r.bytes += packet.payload.len() as u64;
                            r.last_payload = packet.payload.to_vec();
                            r.codec = codec;
                            r.log.push((
                                *packet.seq_no,
                                packet.header.timestamp,
                                packet.header.marker,
                                packet.payload[..packet.payload.len().min(24)].to_vec(),
                                self.now,
                            ));
                        }
                    }
                    Event::ChannelOpen(id, _) => client.channel = Some(id),
                    Event::KeyframeRequest(request) => {
                        client.keyframe_requests += 1;
                        client
                            .keyframe_rids
                            .push(request.rid.map(|r| r.to_string()));
                    }
                    Event::ChannelData(data) => client.messages.push(data.data),
                    _ => {}
                },
            }
        }
    }

    /// Hands a datagram the engine sent to the client it is addressed to.
    pub fn deliver_to_client(&mut self, transmit: Transmit) {
        let now = self.now;
        let Some(i) = self
            .clients
            .iter()
            .position(|c| c.addr == transmit.destination && !c.closed)
        else {
            return;
        };
        if let Some(link) = self.links.get_mut(&i) {
            link.send(now, transmit);
            return;
        }
        self.receive_at_client(i, transmit);
    }

    /// Puts a bottleneck between the engine and client `index` (`None`: none), or
    /// changes the one there (its queue is kept).
    pub fn set_downlink(&mut self, index: usize, link: Option<LinkConfig>) {
        match link {
            None => {
                self.links.remove(&index);
            }
            Some(config) => {
                self.links
                    .entry(index)
                    .and_modify(|l| l.config = config)
                    .or_insert_with(|| Link::new(config));
            }
        }
    }

    /// What the bottleneck to client `index` dropped so far: (random losses, queue
    /// overflows).
    pub fn downlink_drops(&self, index: usize) -> (u64, u64) {
        self.links
            .get(&index)
            .map_or((0, 0), |l| (l.lost, l.overflowed))
    }

    /// Bytes the bottleneck to client `index` has carried so far, padding and
    /// retransmissions included.
    pub fn downlink_carried(&self, index: usize) -> u64 {
        self.links.get(&index).map_or(0, |l| l.carried)
    }

    fn deliver_due(&mut self, now: Instant) {
        let mut due = Vec::new();
        for (i, link) in self.links.iter_mut() {
            while let Some(t) = link.pop_due(now) {
                due.push((*i, t));
            }
        }
        for (i, transmit) in due {
            self.receive_at_client(i, transmit);
        }
    }

    fn receive_at_client(&mut self, i: usize, transmit: Transmit) {
        let now = self.now;
        if self.lose(self.downstream_loss, i, &transmit.contents) {
            return;
        }
        let Ok(receive) = Receive::new(
            Protocol::Udp,
            transmit.source,
            transmit.destination,
            &transmit.contents,
        ) else {
            return;
        };
        let _ = self.clients[i]
            .rtc
            .handle_input(Input::Receive(now, receive));
        self.drain_client(i);
    }
}

impl Default for TestNet {
    fn default() -> Self {
        TestNet::new()
    }
}

/// A bottleneck's shape.
#[derive(Debug, Clone, Copy)]
pub struct LinkConfig {
    /// Capacity, bit/s.
    pub rate_bps: u64,
    /// One-way delay on top of the queue.
    pub latency: Duration,
    /// Random loss, 0..1: the chance that a loss starts at a packet.
    pub loss: f64,
    /// Packets each loss takes in a row (1: independent losses; 5: bursts of five,
    /// as a radio fade or a full queue upstream does).
    pub burst: u32,
    /// The queue holds this much time at the rate; beyond it packets are dropped.
    pub queue: Duration,
}

impl LinkConfig {
    /// A link of `rate_bps` with 20 ms of delay, a 300 ms queue and no random loss.
    pub fn rate(rate_bps: u64) -> LinkConfig {
        LinkConfig {
            rate_bps,
            latency: Duration::from_millis(20),
            loss: 0.0,
            burst: 1,
            queue: Duration::from_millis(300),
        }
    }
}

/// A drop-tail bottleneck on virtual time: packets leave at the link's rate after
/// its delay; random loss from a seeded generator, so a run repeats exactly.
struct Link {
    config: LinkConfig,
    busy_until: Option<Instant>,
    in_flight: VecDeque<(Instant, Transmit)>,
    rng: u64,
    lost: u64,
    /// Packets still to drop in the current burst.
    burst_left: u32,
    overflowed: u64,
    /// Bytes put on the wire (UDP payload and IP/UDP headers).
    carried: u64,
}

impl Link {
    fn new(config: LinkConfig) -> Link {
        Link {
            config,
            busy_until: None,
            in_flight: VecDeque::new(),
            rng: 0x9e37_79b9_7f4a_7c15,
            lost: 0,
            burst_left: 0,
            overflowed: 0,
            carried: 0,
        }
    }

    fn random(&mut self) -> f64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn send(&mut self, now: Instant, transmit: Transmit) {
        if self.burst_left == 0 && self.config.loss > 0.0 && self.random() < self.config.loss {
            self.burst_left = self.config.burst.max(1);
        }
        if self.burst_left > 0 {
            self.burst_left -= 1;
            self.lost += 1;
            return;
        }
        let start = self.busy_until.map_or(now, |b| b.max(now));
        if start.duration_since(now) > self.config.queue {
            self.overflowed += 1;
            return;
        }
        let bits = (transmit.contents.len() as u64 + 28) * 8;
        self.carried += bits / 8;
        let on_wire = Duration::from_nanos(bits * 1_000_000_000 / self.config.rate_bps.max(1));
        let done = start + on_wire;
        self.busy_until = Some(done);
        self.in_flight
            .push_back((done + self.config.latency, transmit));
    }

    fn pop_due(&mut self, now: Instant) -> Option<Transmit> {
        if self.in_flight.front().is_some_and(|(at, _)| *at <= now) {
            return self.in_flight.pop_front().map(|(_, t)| t);
        }
        None
    }
}
