//! The generator's media threads: many str0m peers (RTP mode), each on its own UDP
//! socket, publishing the pre-made streams and counting what comes back.
//!
//! Every published payload carries a 12-byte trailer — the publisher's packet index and
//! its send time — so a subscriber in this process can tell loss and one-way latency
//! through the SFU without any help from it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, Input, Output, Rtc};

use crate::turn_client::{TurnClient, TurnConfig, Wrapped};
use tokio::sync::oneshot;

use crate::assets::Assets;
use crate::stats::Counters;

/// Size of the trailer: packet index (u32) and send time (u64 ns since [`epoch`]).
/// The index's top two bits name the simulcast layer (0 without simulcast), so a
/// subscriber counts each layer's packets apart and a layer switch is no loss.
pub const TRAILER: usize = 12;
const LAYER_SHIFT: u32 = 30;
/// The packet index without its layer bits.
const INDEX_MASK: u32 = (1 << LAYER_SHIFT) - 1;
/// Simulcast rids, lowest layer first, as the offer lists them.
const RIDS: [&str; 3] = ["l", "m", "h"];
const WAKER: Token = Token(usize::MAX);
const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
const VIDEO_INTERVAL: Duration = Duration::from_nanos(33_333_333);

/// The process-wide zero of send times.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Which tracks a peer sends.
#[derive(Clone, Copy, Debug)]
pub struct Publish {
    /// Opus.
    pub audio: bool,
    /// VP8.
    pub video: bool,
    /// VP8 as three simulcast layers (160x120, 320x240, 640x480) rather than one.
    pub simulcast: bool,
    /// The offer lists the rids highest first, as janus's janus.js does and janus
    /// expects (it takes the first for its best substream); vchat's SDK lists them
    /// lowest first.
    pub rids_high_first: bool,
}

/// Requests to a media thread.
pub enum Command {
    /// Make a peer that offers (publishing `publish`); reply with its offer.
    Offer {
        id: u64,
        publish: Publish,
        joined_at: Option<Instant>,
        reply: oneshot::Sender<anyhow::Result<String>>,
    },
    /// Make a peer that answers `sdp` (a janus subscriber); reply with its answer.
    Answer {
        id: u64,
        sdp: String,
        joined_at: Option<Instant>,
        reply: oneshot::Sender<anyhow::Result<String>>,
    },
    /// The SFU's answer to a peer's offer.
    RemoteAnswer { id: u64, sdp: String },
    /// An offer from the SFU to an existing peer; reply with the answer.
    RemoteOffer {
        id: u64,
        sdp: String,
        reply: oneshot::Sender<anyhow::Result<String>>,
    },
    /// A trickled candidate from the SFU.
    RemoteCandidate { id: u64, candidate: String },
    /// Current counters.
    Snapshot {
        reply: oneshot::Sender<(Counters, usize)>,
    },
    /// Forget the latency histogram (start of the measured window).
    ResetHistograms,
    /// Close every peer and stop.
    Stop,
}

/// A running media thread.
pub struct MediaThread {
    commands: Sender<Command>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl MediaThread {
    /// Starts a media thread sending `assets`.
    pub fn start(
        index: usize,
        assets: Arc<Assets>,
        bind: std::net::IpAddr,
        turn: Option<TurnConfig>,
    ) -> anyhow::Result<MediaThread> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (commands, inbox) = channel();
        let thread = std::thread::Builder::new()
            .name(format!("load-media-{index}"))
            .spawn(move || Loop::new(poll, inbox, assets, bind, turn).run())?;
        Ok(MediaThread {
            commands,
            waker,
            thread: Some(thread),
        })
    }

    /// Sends a command.
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
        let _ = self.waker.wake();
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        self.send(Command::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Timer {
    Rtc,
    Audio,
    Video,
}

struct Publisher {
    audio: Option<(Mid, u64, usize, u32)>,
    video: Option<(Mid, u64, usize, u32)>,
    /// With simulcast: each layer's next sequence number and packet index, lowest
    /// first (the frame index is `video`'s, shared).
    layers: Vec<(u64, u32)>,
    wants_keyframe: bool,
}

struct RecvStream {
    video: bool,
    /// The first and highest packet index seen of each simulcast layer.
    ranges: [Option<(u32, u32)>; 4],
    got_keyframe: bool,
}

struct Peer {
    id: u64,
    rtc: Rtc,
    socket: mio::net::UdpSocket,
    addr: SocketAddr,
    pending: Option<SdpPendingOffer>,
    publisher: Option<Publisher>,
    streams: HashMap<Ssrc, RecvStream>,
    /// When its participant started joining, if its join → first frame time counts.
    joined_at: Option<Instant>,
    connected: bool,
    next_timeout: Option<Instant>,
    /// With `--turn`: the allocation everything goes through.
    turn: Option<TurnClient>,
}

struct Loop {
    poll: Poll,
    inbox: Receiver<Command>,
    assets: Arc<Assets>,
    peers: Vec<Option<Peer>>,
    by_id: HashMap<u64, usize>,
    timers: BinaryHeap<Reverse<(Instant, usize, Timer)>>,
    counters: Counters,
    buf: Vec<u8>,
    wrapped: Vec<u8>,
    bind: std::net::IpAddr,
    turn: Option<TurnConfig>,
}

impl Loop {
    fn new(
        poll: Poll,
        inbox: Receiver<Command>,
        assets: Arc<Assets>,
        bind: std::net::IpAddr,
        turn: Option<TurnConfig>,
    ) -> Loop {
        Loop {
            poll,
            inbox,
            assets,
            peers: Vec::new(),
            by_id: HashMap::new(),
            timers: BinaryHeap::new(),
            counters: Counters::default(),
            buf: vec![0; 2048],
            wrapped: Vec::with_capacity(2048),
            bind,
            turn,
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            let timeout = self
                .timers
                .peek()
                .map(|Reverse((at, _, _))| at.saturating_duration_since(now));
            let timeout = timeout
                .unwrap_or(Duration::from_millis(50))
                .min(Duration::from_millis(50));
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != ErrorKind::Interrupted
            {
                eprintln!("load media thread: poll failed: {e}");
                return;
            }
            loop {
                match self.inbox.try_recv() {
                    Ok(Command::Stop) | Err(TryRecvError::Disconnected) => return,
                    Ok(command) => self.command(command),
                    Err(TryRecvError::Empty) => break,
                }
            }
            for event in events.iter() {
                if event.token() != WAKER {
                    self.read(event.token().0);
                }
            }
            self.fire_timers();
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Offer {
                id,
                publish,
                joined_at,
                reply,
            } => {
                let _ = reply.send(self.new_offerer(id, publish, joined_at));
            }
            Command::Answer {
                id,
                sdp,
                joined_at,
                reply,
            } => {
                let result = self
                    .new_peer(id, joined_at)
                    .and_then(|slot| self.accept_offer(slot, &sdp));
                let _ = reply.send(result);
            }
            Command::RemoteAnswer { id, sdp } => {
                if let Some(&slot) = self.by_id.get(&id) {
                    if let Some(peer) = self.peers[slot].as_mut()
                        && let (Some(pending), Ok(answer)) =
                            (peer.pending.take(), SdpAnswer::from_sdp_string(&sdp))
                        && let Err(e) = peer.rtc.sdp_api().accept_answer(pending, answer)
                    {
                        eprintln!("peer {id}: answer refused: {e}");
                    }
                    self.kick(slot);
                    self.drain(slot);
                }
            }
            Command::RemoteOffer { id, sdp, reply } => {
                let result = match self.by_id.get(&id) {
                    Some(&slot) => self.accept_offer(slot, &sdp),
                    None => Err(anyhow::anyhow!("no peer {id}")),
                };
                let _ = reply.send(result);
            }
            Command::RemoteCandidate { id, candidate } => {
                if let Some(&slot) = self.by_id.get(&id) {
                    if let (Some(peer), Ok(c)) = (
                        self.peers[slot].as_mut(),
                        Candidate::from_sdp_string(candidate.trim_start_matches("a=")),
                    ) {
                        peer.rtc.add_remote_candidate(c);
                    }
                    self.drain(slot);
                }
            }
            Command::Snapshot { reply } => {
                let connected = self.peers.iter().flatten().filter(|p| p.connected).count();
                let mut counters = self.counters.clone();
                counters.expected = self
                    .peers
                    .iter()
                    .flatten()
                    .flat_map(|p| p.streams.values())
                    .flat_map(|s| s.ranges.iter().flatten())
                    .map(|(first, max)| u64::from(max.wrapping_sub(*first)) + 1)
                    .sum();
                let _ = reply.send((counters, connected));
            }
            Command::ResetHistograms => {
                self.counters.latency = Default::default();
            }
            Command::Stop => {}
        }
    }

    fn new_peer(&mut self, id: u64, joined_at: Option<Instant>) -> anyhow::Result<usize> {
        let std_socket = std::net::UdpSocket::bind((self.bind, 0))?;
        let turn = match &self.turn {
            Some(config) => Some(TurnClient::allocate(&std_socket, config)?),
            None => None,
        };
        std_socket.set_nonblocking(true)?;
        let addr = std_socket.local_addr()?;
        let mut socket = mio::net::UdpSocket::from_std(std_socket);
        let slot = self
            .peers
            .iter()
            .position(Option::is_none)
            .unwrap_or_else(|| {
                self.peers.push(None);
                self.peers.len() - 1
            });
        self.poll
            .registry()
            .register(&mut socket, Token(slot), Interest::READABLE)?;
        let mut rtc = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .build(Instant::now());
        match &turn {
            // The relayed address is the only candidate (and its own base, so that
            // transmits from it are told apart).
            Some(t) => rtc.add_local_candidate(Candidate::relayed(t.relayed, t.relayed, "udp")?),
            None => rtc.add_local_candidate(Candidate::host(addr, "udp")?),
        };
        self.peers[slot] = Some(Peer {
            id,
            rtc,
            socket,
            addr,
            pending: None,
            publisher: None,
            streams: HashMap::new(),
            joined_at,
            connected: false,
            next_timeout: None,
            turn,
        });
        self.by_id.insert(id, slot);
        Ok(slot)
    }

    fn new_offerer(
        &mut self,
        id: u64,
        publish: Publish,
        joined_at: Option<Instant>,
    ) -> anyhow::Result<String> {
        let slot = self.new_peer(id, joined_at)?;
        let peer = self.peers[slot].as_mut().expect("just made");
        let mut change = peer.rtc.sdp_api();
        let audio = publish
            .audio
            .then(|| change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
        let layers = publish.simulcast.then(|| {
            let mut s = Simulcast::new();
            let mut rids = RIDS;
            if publish.rids_high_first {
                rids.reverse();
            }
            for rid in rids {
                s.add_send_layer(SimulcastLayer::new(rid));
            }
            s
        });
        let video = publish
            .video
            .then(|| change.add_media(MediaKind::Video, Direction::SendOnly, None, None, layers));
        if !publish.audio && !publish.video {
            // A viewer offers what a browser would: its data channel.
            change.add_channel("vchat".into());
        }
        let Some((offer, pending)) = change.apply() else {
            anyhow::bail!("nothing to offer");
        };
        peer.pending = Some(pending);
        let start = rand::random::<u16>() as u64;
        peer.publisher = Some(Publisher {
            audio: audio.map(|m| (m, start, 0, 0)),
            video: video.map(|m| (m, start, 0, 0)),
            layers: if publish.simulcast {
                vec![(start, 0); RIDS.len()]
            } else {
                Vec::new()
            },
            wants_keyframe: false,
        });
        let sdp = offer.to_sdp_string();
        self.drain(slot);
        Ok(sdp)
    }

    fn accept_offer(&mut self, slot: usize, sdp: &str) -> anyhow::Result<String> {
        let peer = self.peers[slot]
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("peer gone"))?;
        let offer = SdpOffer::from_sdp_string(sdp)?;
        let answer = peer.rtc.sdp_api().accept_offer(offer)?;
        let sdp = answer.to_sdp_string();
        self.kick(slot);
        self.drain(slot);
        Ok(sdp)
    }

    fn read(&mut self, slot: usize) {
        loop {
            let Some(peer) = self.peers.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            let (n, source) = match peer.socket.recv_from(&mut self.buf) {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => return,
            };
            let now = Instant::now();
            let (source, destination, bytes) = match peer.turn.as_mut() {
                Some(turn) if source == turn.server => match turn.unwrap(&self.buf[..n]) {
                    Some((remote, data)) => (remote, turn.relayed, data),
                    None => continue,
                },
                Some(_) => continue,
                None => (source, peer.addr, &self.buf[..n]),
            };
            if let Ok(receive) = Receive::new(Protocol::Udp, source, destination, bytes) {
                let _ = peer.rtc.handle_input(Input::Receive(now, receive));
            }
            self.drain(slot);
        }
    }

    /// str0m's ICE agent has no deadline until its first timeout: start its clock now
    /// that it has remote candidates, rather than waiting for a packet from the other
    /// side (an ICE-lite server behind TURN never sends one first).
    fn kick(&mut self, slot: usize) {
        if let Some(peer) = self.peers.get_mut(slot).and_then(Option::as_mut) {
            let _ = peer.rtc.handle_input(Input::Timeout(Instant::now()));
        }
    }

    fn drain(&mut self, slot: usize) {
        loop {
            let Some(peer) = self.peers.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            let output = match peer.rtc.poll_output() {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("peer {}: {e}", peer.id);
                    return;
                }
            };
            match output {
                Output::Timeout(at) => {
                    if peer.next_timeout != Some(at) {
                        peer.next_timeout = Some(at);
                        self.timers.push(Reverse((at, slot, Timer::Rtc)));
                    }
                    return;
                }
                Output::Transmit(t) => {
                    // UDP may drop; a full buffer here is load-generator overload.
                    match peer.turn.as_mut() {
                        Some(turn) => {
                            match turn.wrap(t.destination, &t.contents, &mut self.wrapped) {
                                Wrapped::Send | Wrapped::Bind => {
                                    let _ = peer.socket.send_to(&self.wrapped, turn.server);
                                }
                                Wrapped::Drop => {}
                            }
                        }
                        None => {
                            let _ = peer.socket.send_to(&t.contents, t.destination);
                        }
                    }
                }
                Output::Event(event) => self.event(slot, event),
            }
        }
    }

    fn event(&mut self, slot: usize, event: Event) {
        let now = Instant::now();
        let Some(peer) = self.peers.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        match event {
            Event::Connected => {
                peer.connected = true;
                if let Some(p) = &peer.publisher {
                    if p.audio.is_some() {
                        self.timers.push(Reverse((now, slot, Timer::Audio)));
                    }
                    if p.video.is_some() {
                        self.timers.push(Reverse((now, slot, Timer::Video)));
                    }
                }
            }
            Event::KeyframeRequest(_) => {
                self.counters.keyframe_requests += 1;
                if let Some(p) = &mut peer.publisher {
                    p.wants_keyframe = true;
                }
            }
            Event::RtpPacket(packet) => {
                let payload = &packet.payload;
                if payload.len() < TRAILER {
                    return;
                }
                let trailer = &payload[payload.len() - TRAILER..];
                let index = u32::from_be_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
                let sent = u64::from_be_bytes(trailer[4..12].try_into().expect("8 bytes"));
                let at = packet.timestamp.saturating_duration_since(epoch());
                self.counters.received += 1;
                self.counters.received_bytes += payload.len() as u64;
                self.counters
                    .latency
                    .record(at.saturating_sub(Duration::from_nanos(sent)));
                let ssrc = packet.header.ssrc;
                let video = !peer
                    .rtc
                    .direct_api()
                    .stream_rx(&ssrc)
                    .map(|s| s.mid())
                    .and_then(|m| peer.rtc.media(m))
                    .is_some_and(|m| m.kind() == MediaKind::Audio);
                let stream = peer.streams.entry(ssrc).or_insert(RecvStream {
                    video,
                    ranges: [None; 4],
                    got_keyframe: false,
                });
                let layer = (index >> LAYER_SHIFT) as usize;
                let index = index & INDEX_MASK;
                if stream.video {
                    self.counters.video_by_layer[layer] += 1;
                }
                let (_, max) = stream.ranges[layer].get_or_insert((index, index));
                if index.wrapping_sub(*max) & INDEX_MASK < 1 << (LAYER_SHIFT - 1) {
                    *max = index;
                }
                // A VP8 keyframe: descriptor with S set, then a frame tag whose low bit is 0.
                if stream.video
                    && !stream.got_keyframe
                    && payload.len() > 1
                    && payload[0] & 0x10 != 0
                    && payload[1] & 1 == 0
                {
                    stream.got_keyframe = true;
                    if let Some(joined_at) = peer.joined_at {
                        self.counters
                            .first_frame
                            .record(packet.timestamp.saturating_duration_since(joined_at));
                    }
                }
            }
            _ => {}
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, slot, timer))) = self.timers.peek().copied() {
            if at > now {
                return;
            }
            self.timers.pop();
            match timer {
                Timer::Rtc => {
                    let Some(peer) = self.peers.get_mut(slot).and_then(Option::as_mut) else {
                        continue;
                    };
                    if peer.next_timeout != Some(at) {
                        continue;
                    }
                    peer.next_timeout = None;
                    let _ = peer.rtc.handle_input(Input::Timeout(now));
                    self.drain(slot);
                }
                Timer::Audio => {
                    self.send_frame(slot, false, now);
                    self.timers
                        .push(Reverse((at + AUDIO_INTERVAL, slot, Timer::Audio)));
                }
                Timer::Video => {
                    self.send_frame(slot, true, now);
                    self.timers
                        .push(Reverse((at + VIDEO_INTERVAL, slot, Timer::Video)));
                }
            }
        }
    }

    fn send_frame(&mut self, slot: usize, video: bool, now: Instant) {
        let assets = self.assets.clone();
        let Some(peer) = self.peers.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let Some(publisher) = peer.publisher.as_mut() else {
            return;
        };
        let frames = if video { &assets.video } else { &assets.audio };
        let wants_keyframe = video && std::mem::take(&mut publisher.wants_keyframe);
        let Some((mid, seq, frame_index, packet_index)) = (if video {
            publisher.video.as_mut()
        } else {
            publisher.audio.as_mut()
        }) else {
            return;
        };
        let codec = if video { Codec::Vp8 } else { Codec::Opus };
        let negotiated = peer
            .rtc
            .media(*mid)
            .map(|m| m.remote_pts().to_vec())
            .unwrap_or_default();
        let Some(pt): Option<Pt> = peer
            .rtc
            .codec_config()
            .find(|p| p.spec().codec == codec && negotiated.contains(&p.pt()))
            .map(|p| p.pt())
        else {
            return;
        };
        if wants_keyframe {
            // An encoder answers a keyframe request with its next frame; the loop does
            // too (every simulcast layer has its keyframes on the same frames).
            while !frames[*frame_index % frames.len()].keyframe {
                *frame_index += 1;
            }
        }
        let index = *frame_index;
        let rtp_time = (index as u64 * if video { 3000 } else { 960 }) as u32;
        *frame_index += 1;
        let sent_ns = now.saturating_duration_since(epoch()).as_nanos() as u64;
        let mid = *mid;
        let mut written = 0;
        if video && !publisher.layers.is_empty() {
            for (layer, (seq, packet_index)) in publisher.layers.iter_mut().enumerate() {
                let frames = &assets.layers[layer];
                let frame = &frames[index % frames.len()];
                let rid: Rid = RIDS[layer].into();
                written += write_frame(
                    &mut peer.rtc,
                    (mid, Some(rid), pt),
                    frame,
                    (seq, packet_index, layer as u32),
                    (rtp_time, sent_ns, now),
                    true,
                );
            }
        } else {
            let frame = &frames[index % frames.len()];
            written += write_frame(
                &mut peer.rtc,
                (mid, None, pt),
                frame,
                (seq, packet_index, 0),
                (rtp_time, sent_ns, now),
                video,
            );
        }
        self.counters.sent += written;
        let _ = peer.rtc.handle_input(Input::Timeout(now));
        self.drain(slot);
    }
}

/// Writes one frame's packets on the stream of (m-line, rid) with payload type `pt`,
/// each with the trailer (packet index with the layer in its top bits, send time);
/// returns how many it wrote.
fn write_frame(
    rtc: &mut Rtc,
    (mid, rid, pt): (Mid, Option<Rid>, Pt),
    frame: &crate::assets::Frame,
    (seq, packet_index, layer): (&mut u64, &mut u32, u32),
    (rtp_time, sent_ns, now): (u32, u64, Instant),
    video: bool,
) -> u64 {
    let mut written = 0;
    for packet in &frame.packets {
        let index = (layer << LAYER_SHIFT) | (*packet_index & INDEX_MASK);
        let mut payload = Vec::with_capacity(packet.payload.len() + TRAILER);
        payload.extend_from_slice(&packet.payload);
        payload.extend_from_slice(&index.to_be_bytes());
        payload.extend_from_slice(&sent_ns.to_be_bytes());
        *packet_index = packet_index.wrapping_add(1);
        let seq_no: SeqNo = (*seq).into();
        *seq += 1;
        let mut direct = rtc.direct_api();
        let Some(stream) = direct.stream_tx_by_mid(mid, rid) else {
            return written;
        };
        stream.write_rtp(
            RtpWrite::new(pt, seq_no, rtp_time, now, payload)
                .marker(packet.marker || !video)
                .nackable(video),
        );
        written += 1;
    }
    written
}
