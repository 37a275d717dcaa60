//! Intercoms in rooms: a door panel enters its call's room as a virtual participant of
//! the worker that owns the room, with one audio track and no `Rtc` of its own.
//!
//! A panel that speaks G.711 puts the room on its law for the room's life (every browser
//! offers PCMU and PCMA), so its audio passes through as RTP with no transcoding, both
//! ways. A panel that speaks L16 (16 kHz) is transcoded at its own rate: its slots are
//! Opus-encoded for the room (libopus takes 16 kHz directly, no resampler; the
//! complexity is a setting) and the browsers' Opus is decoded to 16 kHz for it.
//!
//! - **Device → room.** Frames come over the [`link`] with their arrival times and
//!   go into the call's jitter buffer; one 20 ms tick of the worker, for all its calls,
//!   takes a slot from each buffer (or conceals a missing one, G.711 Appendix I) and
//!   writes it as RTP to everyone in the room.
//! - **Room → device.** Each browser's RTP is handed on as it comes, its payload
//!   untouched; a gap in its sequence numbers is filled with concealed frames first.
//!   Only while two or more others speak does the bridge decode, add and encode (mix-
//!   minus: the panel never hears itself), once per tick.
//!
//! The engine holds a [`Bridge`] per virtual participant; [`link`] is the lock-free
//! pair of rings between the panel's socket task and the worker.

pub mod link;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use str0m::format::Codec;
use vchat_intercom::g711::Law;
use vchat_intercom::jitter::{JitterBuffer, Tick};
use vchat_intercom::plc::Concealer;

use crate::ids::SessionId;
use crate::slab::Key;
use link::LinkFrame;

/// Most samples of one 20 ms slot (Opus at 48 kHz; L16 has 320, G.711 160).
pub(crate) const SLOT: usize = 960;
/// Most bytes of one slot as the room or the device gets it (L16 at 16 kHz).
pub(crate) const SLOT_BYTES: usize = 640;
/// Samples a browser's packet may decode to (60 ms at 16 kHz).
const MAX_DECODED: usize = 960;
/// The bridge's tick.
pub(crate) const TICK: Duration = Duration::from_millis(20);
/// A browser heard within this long counts as speaking to the device (for mix-minus).
const ACTIVE_FOR: Duration = Duration::from_millis(200);
/// Most lost packets of a browser concealed at once; a longer gap is a new talk-spurt.
const MAX_CONCEALED: u64 = 3;
/// The Opus the room gets from an L16 panel: speech, 24 kbit/s, with in-band FEC.
const OPUS_BITRATE: i32 = 24_000;

/// How a panel's audio meets the room's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeCodec {
    /// G.711 in this law: the room speaks it too, nothing is transcoded.
    G711(Law),
    /// L16 at 16 kHz, little-endian: transcoded to and from the room's Opus, the
    /// encoder at this complexity (0–10).
    L16 {
        /// libopus's complexity.
        complexity: u8,
    },
    /// Opus (20 ms packets at 48 kHz): the room's own codec, passed through both ways;
    /// the browsers' jitter buffers take the panel's jitter. Only a mix of two or more
    /// speakers is decoded and encoded again (at this complexity).
    Opus {
        /// libopus's complexity for the mix.
        complexity: u8,
    },
}

impl BridgeCodec {
    /// The G.711 law the room must speak, if any.
    pub fn law(self) -> Option<Law> {
        match self {
            BridgeCodec::G711(law) => Some(law),
            BridgeCodec::L16 { .. } | BridgeCodec::Opus { .. } => None,
        }
    }

    /// Samples per 20 ms slot.
    fn samples(self) -> usize {
        match self {
            BridgeCodec::G711(_) => 160,
            BridgeCodec::L16 { .. } => 320,
            BridgeCodec::Opus { .. } => 960,
        }
    }

    fn clock(self) -> u32 {
        match self {
            BridgeCodec::G711(_) => 8000,
            BridgeCodec::L16 { .. } => 16_000,
            BridgeCodec::Opus { .. } => 48_000,
        }
    }

    /// The room's RTP codec.
    pub(crate) fn rtp(self) -> Codec {
        match self {
            BridgeCodec::G711(Law::Ulaw) => Codec::PCMU,
            BridgeCodec::G711(Law::Alaw) => Codec::PCMA,
            BridgeCodec::L16 { .. } | BridgeCodec::Opus { .. } => Codec::Opus,
        }
    }

    /// RTP timestamp units per 20 ms in the room.
    pub(crate) fn rtp_step(self) -> u32 {
        match self {
            BridgeCodec::G711(_) => 160,
            BridgeCodec::L16 { .. } | BridgeCodec::Opus { .. } => 960,
        }
    }

    /// The device's payload as samples; how many.
    fn decode_device(self, data: &[u8], pcm: &mut [i16]) -> usize {
        match self {
            BridgeCodec::G711(law) => {
                let n = data.len().min(pcm.len());
                law.decode(&data[..n], &mut pcm[..n]);
                n
            }
            BridgeCodec::L16 { .. } => {
                let n = (data.len() / 2).min(pcm.len());
                for (i, s) in pcm.iter_mut().take(n).enumerate() {
                    *s = i16::from_le_bytes([data[2 * i], data[2 * i + 1]]);
                }
                n
            }
            // Opus panels' frames never reach the jitter buffer.
            BridgeCodec::Opus { .. } => 0,
        }
    }

    /// Samples as the device's payload; its length.
    fn encode_device(self, pcm: &[i16], out: &mut [u8]) -> usize {
        match self {
            BridgeCodec::G711(law) => {
                let n = pcm.len().min(out.len());
                law.encode(&pcm[..n], &mut out[..n]);
                n
            }
            BridgeCodec::L16 { .. } => {
                let n = pcm.len().min(out.len() / 2);
                for (i, s) in pcm.iter().take(n).enumerate() {
                    out[2 * i..2 * i + 2].copy_from_slice(&s.to_le_bytes());
                }
                2 * n
            }
            // A mix for an Opus panel is encoded by the bridge's encoder instead.
            BridgeCodec::Opus { .. } => 0,
        }
    }
}

/// Counters of one bridge, summed into the worker's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Device frames taken from the link.
    pub frames_in: u64,
    /// Device frames dropped by the jitter buffer as late.
    pub late: u64,
    /// Device frames dropped as duplicates.
    pub duplicate: u64,
    /// Device slots concealed.
    pub concealed_in: u64,
    /// Device slots sent into the room.
    pub slots_out: u64,
    /// Frames sent to the device (passed through, concealed or mixed).
    pub frames_to_device: u64,
    /// Frames to the device made up for lost browser packets.
    pub concealed_out: u64,
    /// Frames to the device that were a mix of two or more speakers.
    pub mixed: u64,
    /// Browser packets in a codec other than the room's, or that did not decode
    /// (dropped).
    pub wrong_codec: u64,
}

impl BridgeStats {
    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &BridgeStats) {
        self.frames_in += other.frames_in;
        self.late += other.late;
        self.duplicate += other.duplicate;
        self.concealed_in += other.concealed_in;
        self.slots_out += other.slots_out;
        self.frames_to_device += other.frames_to_device;
        self.concealed_out += other.concealed_out;
        self.mixed += other.mixed;
        self.wrong_codec += other.wrong_codec;
    }
}

/// Someone in the room whose audio reaches the device.
struct Source {
    from: Key,
    last: Instant,
    last_seq: Option<u64>,
    plc: Concealer,
    /// Their Opus, decoded at the panel's rate (L16 panels only).
    decoder: Option<opus::Decoder>,
    /// Their latest 20 ms, while mixing.
    pcm: [i16; SLOT],
    filled: bool,
}

/// One virtual participant's audio state.
pub(crate) struct Bridge {
    pub(crate) codec: BridgeCodec,
    /// The room codec's payload params in the virtual participant's `Rtc`, set at
    /// join (so the tick does not search the codec table per slot).
    pub(crate) params: Option<str0m::format::PayloadParams>,
    jitter: JitterBuffer,
    plc: Concealer,
    /// The room's Opus, for an L16 panel.
    encoder: Option<opus::Encoder>,
    /// The injected track's next RTP sequence number, and its RTP time (extended:
    /// the 32-bit timestamp is its low half). The time runs on through silences, so
    /// the browsers and the recording place each talk-spurt where it was said.
    pub(crate) seq: u64,
    pub(crate) time: u64,
    /// The injected track's SSRC, as the recording names it.
    pub(crate) ssrc: u32,
    /// The last Opus panel timestamp followed (see [`Bridge::device_time`]).
    device_ts: Option<u32>,
    /// Whether the last tick sent a slot (a new talk-spurt gets the marker bit).
    talking: bool,
    /// To the device: the next sequence number and timestamp.
    out_seq: u16,
    out_ts: u32,
    sources: Vec<Source>,
    pub(crate) stats: BridgeStats,
}

impl Bridge {
    /// A bridge for `codec`; `None` if libopus refuses the encoder's settings.
    pub(crate) fn new(codec: BridgeCodec) -> Option<Bridge> {
        let encoder = |rate: u32, complexity: u8| -> Option<opus::Encoder> {
            let mut enc =
                opus::Encoder::new(rate, opus::Channels::Mono, opus::Application::Voip).ok()?;
            enc.set_complexity(i32::from(complexity.min(10))).ok()?;
            enc.set_bitrate(opus::Bitrate::Bits(OPUS_BITRATE)).ok()?;
            enc.set_inband_fec(true).ok()?;
            enc.set_packet_loss_perc(5).ok()?;
            Some(enc)
        };
        let (jitter, encoder) = match codec {
            BridgeCodec::G711(law) => (JitterBuffer::new(8000, 1, law.silence()), None),
            BridgeCodec::L16 { complexity } => (
                JitterBuffer::new(16_000, 2, 0),
                Some(encoder(16_000, complexity)?),
            ),
            // The buffer stays empty: an Opus panel's packets are passed on as they come.
            BridgeCodec::Opus { complexity } => (
                JitterBuffer::new(8000, 1, 0),
                Some(encoder(48_000, complexity)?),
            ),
        };
        Some(Bridge {
            codec,
            params: None,
            jitter,
            plc: Concealer::new(codec.clock()),
            encoder,
            seq: u64::from(rand::random::<u16>() & 0x7fff),
            time: u64::from(rand::random::<u32>()),
            ssrc: rand::random(),
            device_ts: None,
            talking: false,
            out_seq: 0,
            out_ts: 0,
            sources: Vec::new(),
            stats: BridgeStats::default(),
        })
    }

    /// The RTP time of this tick's slot. The clock goes on whether or not the tick
    /// sends one (an Opus panel's follows the panel's instead: [`Bridge::device_time`]).
    pub(crate) fn tick_time(&mut self) -> u64 {
        let time = self.time;
        if !matches!(self.codec, BridgeCodec::Opus { .. }) {
            self.time += u64::from(self.codec.rtp_step());
        }
        time
    }

    /// The room's RTP time of an Opus panel's packet stamped `ts`: the room's clock
    /// follows the panel's, its pauses included (a reordered packet goes back in
    /// time; only a newer one moves the clock).
    pub(crate) fn device_time(&mut self, ts: u32) -> u64 {
        let Some(last) = self.device_ts else {
            self.device_ts = Some(ts);
            return self.time;
        };
        let ahead = ts.wrapping_sub(last) as i32;
        let at = self.time.saturating_add_signed(i64::from(ahead));
        if ahead > 0 {
            self.time = at;
            self.device_ts = Some(ts);
        }
        at
    }

    /// A device frame from the link: buffered for the tick, or (`true`, an Opus
    /// panel's) to be passed into the room now.
    pub(crate) fn device_frame(&mut self, frame: &LinkFrame) -> bool {
        use vchat_intercom::jitter::Pushed;
        self.stats.frames_in += 1;
        if matches!(self.codec, BridgeCodec::Opus { .. }) {
            self.stats.slots_out += 1;
            return true;
        }
        match self
            .jitter
            .push(frame.at, frame.seq, frame.ts, frame.payload())
        {
            Pushed::Late => self.stats.late += 1,
            Pushed::Duplicate => self.stats.duplicate += 1,
            Pushed::Accepted | Pushed::Restarted => {}
        }
        false
    }

    /// This tick's 20 ms for the room, into `out`: (starts a talk-spurt, its length);
    /// `None` between talk-spurts.
    pub(crate) fn tick_in(
        &mut self,
        now: Instant,
        out: &mut [u8; SLOT_BYTES],
    ) -> Option<(bool, usize)> {
        let n = self.codec.samples();
        let mut pcm = [0i16; SLOT];
        let passed = match self.jitter.tick(now) {
            Tick::Play(data) => {
                let got = self.codec.decode_device(data, &mut pcm[..n]);
                let concealing = self.plc.concealing();
                self.plc.good(&mut pcm[..n]);
                // G.711 as it came, unless the join after a loss was smoothed.
                if self.codec.law().is_some() && !concealing {
                    out[..got].copy_from_slice(&data[..got]);
                    Some(got)
                } else {
                    None
                }
            }
            Tick::Conceal => {
                self.plc.conceal(&mut pcm[..n]);
                self.stats.concealed_in += 1;
                None
            }
            Tick::Idle => {
                self.talking = false;
                return None;
            }
        };
        let len = match passed {
            Some(len) => len,
            None => self.encode_room(&pcm[..n], out)?,
        };
        let starts = !self.talking;
        self.talking = true;
        self.stats.slots_out += 1;
        Some((starts, len))
    }

    /// Samples as the room's payload: G.711 encoded, or Opus for an L16 panel.
    fn encode_room(&mut self, pcm: &[i16], out: &mut [u8]) -> Option<usize> {
        match (self.codec, self.encoder.as_mut()) {
            (BridgeCodec::G711(law), _) => {
                law.encode(pcm, &mut out[..pcm.len()]);
                Some(pcm.len())
            }
            (BridgeCodec::L16 { .. } | BridgeCodec::Opus { .. }, Some(enc)) => {
                enc.encode(pcm, out).ok()
            }
            (BridgeCodec::L16 { .. } | BridgeCodec::Opus { .. }, None) => None,
        }
    }

    /// A browser's RTP payload (in `codec`) for the device. Passed on at once while it
    /// is the only one speaking (decoded first for an L16 panel); kept for the tick's
    /// mix otherwise.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn room_audio(
        &mut self,
        session: SessionId,
        from: Key,
        codec: Codec,
        seq: u64,
        payload: &[u8],
        now: Instant,
        out: &mut VecDeque<(SessionId, LinkFrame)>,
    ) {
        if codec != self.codec.rtp() {
            self.stats.wrong_codec += 1;
            return;
        }
        let clock = self.codec.clock();
        let index = match self.sources.iter().position(|s| s.from == from) {
            Some(i) => i,
            None => {
                let decoder = match self.codec {
                    BridgeCodec::L16 { .. } | BridgeCodec::Opus { .. } => {
                        opus::Decoder::new(clock, opus::Channels::Mono).ok()
                    }
                    BridgeCodec::G711(_) => None,
                };
                self.sources.push(Source {
                    from,
                    last: now,
                    last_seq: None,
                    plc: Concealer::new(clock),
                    decoder,
                    pcm: [0; SLOT],
                    filled: false,
                });
                self.sources.len() - 1
            }
        };
        let active = self
            .sources
            .iter()
            .filter(|s| s.from != from && now.duration_since(s.last) < ACTIVE_FOR)
            .count()
            + 1;
        let dev = self.codec;
        let source = &mut self.sources[index];
        source.last = now;
        if source.last_seq.is_some_and(|last| seq <= last) {
            return; // reordered or repeated: already concealed or passed on
        }
        let lost = source
            .last_seq
            .map_or(0, |last| seq.saturating_sub(last + 1));
        source.last_seq = Some(seq);
        if matches!(dev, BridgeCodec::Opus { .. }) && active == 1 {
            // The panel's own codec: as it came (its decoder conceals what was lost).
            // Nothing is decoded here; a mix that starts later starts its decoders
            // afresh (Opus settles within a packet).
            self.send_device(session, payload, now, out);
            return;
        }
        let mut pcm = [0i16; MAX_DECODED];
        let n = match (dev, source.decoder.as_mut()) {
            (BridgeCodec::G711(law), _) => {
                let n = payload.len().min(SLOT);
                law.decode(&payload[..n], &mut pcm[..n]);
                n
            }
            (BridgeCodec::L16 { .. } | BridgeCodec::Opus { .. }, Some(dec)) => {
                match dec.decode(payload, &mut pcm, false) {
                    Ok(n) => n.min(SLOT),
                    Err(_) => {
                        self.stats.wrong_codec += 1;
                        return;
                    }
                }
            }
            (BridgeCodec::L16 { .. } | BridgeCodec::Opus { .. }, None) => return,
        };
        if active > 1 {
            source.plc.good(&mut pcm[..n]);
            source.pcm[..n].copy_from_slice(&pcm[..n]);
            source.filled = true;
            return;
        }
        let mut frame = [0u8; SLOT_BYTES];
        if (1..=MAX_CONCEALED).contains(&lost) {
            for _ in 0..lost {
                let mut made_up = [0i16; SLOT];
                self.sources[index].plc.conceal(&mut made_up[..n]);
                let len = dev.encode_device(&made_up[..n], &mut frame);
                self.stats.concealed_out += 1;
                self.send_device(session, &frame[..len], now, out);
            }
        }
        let source = &mut self.sources[index];
        let concealing = source.plc.concealing();
        source.plc.good(&mut pcm[..n]);
        if dev.law().is_some() && !concealing {
            self.send_device(session, &payload[..n], now, out);
        } else {
            let len = dev.encode_device(&pcm[..n], &mut frame);
            self.send_device(session, &frame[..len], now, out);
        }
    }

    /// The tick's mix of everyone speaking, when two or more do.
    pub(crate) fn tick_out(
        &mut self,
        session: SessionId,
        now: Instant,
        out: &mut VecDeque<(SessionId, LinkFrame)>,
    ) {
        let filled = self.sources.iter().filter(|s| s.filled).count();
        if filled == 0 {
            return;
        }
        let n = self.codec.samples();
        let mut mix = [0i32; SLOT];
        for source in self.sources.iter_mut().filter(|s| s.filled) {
            for (m, s) in mix.iter_mut().zip(source.pcm.iter()).take(n) {
                *m += i32::from(*s);
            }
            source.filled = false;
        }
        let mut pcm = [0i16; SLOT];
        for (p, m) in pcm.iter_mut().zip(mix).take(n) {
            *p = m.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        }
        let mut frame = [0u8; 1500];
        let len = match (self.codec, self.encoder.as_mut()) {
            (BridgeCodec::Opus { .. }, Some(enc)) => match enc.encode(&pcm[..n], &mut frame) {
                Ok(len) => len,
                Err(_) => return,
            },
            _ => self.codec.encode_device(&pcm[..n], &mut frame),
        };
        if filled > 1 {
            self.stats.mixed += 1;
        }
        self.send_device(session, &frame[..len], now, out);
    }

    /// Forgets a participant who left.
    pub(crate) fn forget(&mut self, from: Key) {
        self.sources.retain(|s| s.from != from);
    }

    fn send_device(
        &mut self,
        session: SessionId,
        payload: &[u8],
        now: Instant,
        out: &mut VecDeque<(SessionId, LinkFrame)>,
    ) {
        out.push_back((
            session,
            LinkFrame::new(self.out_seq, self.out_ts, now, payload),
        ));
        let samples = match self.codec {
            BridgeCodec::G711(_) => payload.len(),
            BridgeCodec::L16 { .. } => payload.len() / 2,
            BridgeCodec::Opus { .. } => 960,
        };
        self.out_seq = self.out_seq.wrapping_add(1);
        self.out_ts = self.out_ts.wrapping_add(samples as u32);
        self.stats.frames_to_device += 1;
    }
}
