//! Intercoms in rooms: a door panel enters its call's room as a virtual participant of
//! the worker that owns the room, with one audio track and no `Rtc` of its own.
//!
//! The room is put on the panel's G.711 law for its life (every browser offers PCMU and
//! PCMA), so its audio passes through as RTP with no transcoding, both ways:
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

use vchat_intercom::g711::Law;
use vchat_intercom::jitter::{JitterBuffer, Tick};
use vchat_intercom::plc::Concealer;

use crate::ids::SessionId;
use crate::slab::Key;
use link::LinkFrame;

/// Samples (and bytes) of one 20 ms G.711 slot.
pub(crate) const SLOT: usize = 160;
/// The bridge's tick.
pub(crate) const TICK: Duration = Duration::from_millis(20);
/// A browser heard within this long counts as speaking to the device (for mix-minus).
const ACTIVE_FOR: Duration = Duration::from_millis(200);
/// Most lost packets of a browser concealed at once; a longer gap is a new talk-spurt.
const MAX_CONCEALED: u64 = 3;

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
    /// Browser packets in a codec other than the room's (dropped).
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
    /// Its latest 20 ms, while mixing.
    pcm: [i16; SLOT],
    filled: bool,
}

/// One virtual participant's audio state.
pub(crate) struct Bridge {
    pub(crate) law: Law,
    jitter: JitterBuffer,
    plc: Concealer,
    /// The injected track's next RTP sequence number and timestamp.
    pub(crate) seq: u64,
    pub(crate) ts: u32,
    /// Whether the last tick sent a slot (a new talk-spurt gets the marker bit).
    talking: bool,
    /// To the device: the next sequence number and timestamp.
    out_seq: u16,
    out_ts: u32,
    sources: Vec<Source>,
    pub(crate) stats: BridgeStats,
}

impl Bridge {
    pub(crate) fn new(law: Law) -> Bridge {
        Bridge {
            law,
            jitter: JitterBuffer::new(8000, 1, law.silence()),
            plc: Concealer::new(8000),
            seq: u64::from(rand::random::<u16>() & 0x7fff),
            ts: rand::random(),
            talking: false,
            out_seq: 0,
            out_ts: 0,
            sources: Vec::new(),
            stats: BridgeStats::default(),
        }
    }

    /// A device frame from the link.
    pub(crate) fn device_frame(&mut self, frame: &LinkFrame) {
        use vchat_intercom::jitter::Pushed;
        self.stats.frames_in += 1;
        match self
            .jitter
            .push(frame.at, frame.seq, frame.ts, frame.payload())
        {
            Pushed::Late => self.stats.late += 1,
            Pushed::Duplicate => self.stats.duplicate += 1,
            Pushed::Accepted | Pushed::Restarted => {}
        }
    }

    /// This tick's 20 ms for the room, into `out`; `None` between talk-spurts. The
    /// bool: the slot starts a talk-spurt (RTP marker).
    pub(crate) fn tick_in(&mut self, now: Instant, out: &mut [u8; SLOT]) -> Option<bool> {
        let mut pcm = [0i16; SLOT];
        match self.jitter.tick(now) {
            Tick::Play(data) => {
                let n = data.len().min(SLOT);
                if self.plc.concealing() {
                    // Back after a loss: the join is smoothed, so the slot changes.
                    self.law.decode(&data[..n], &mut pcm[..n]);
                    self.plc.good(&mut pcm);
                    self.law.encode(&pcm, out);
                } else {
                    out[..n].copy_from_slice(&data[..n]);
                    self.law.decode(&data[..n], &mut pcm[..n]);
                    self.plc.good(&mut pcm);
                }
            }
            Tick::Conceal => {
                self.plc.conceal(&mut pcm);
                self.law.encode(&pcm, out);
                self.stats.concealed_in += 1;
            }
            Tick::Idle => {
                self.talking = false;
                return None;
            }
        }
        let starts = !self.talking;
        self.talking = true;
        self.stats.slots_out += 1;
        Some(starts)
    }

    /// A browser's RTP payload (`law`: its codec, if G.711) for the device. Passed on
    /// at once while it is the only one speaking; kept for the tick's mix otherwise.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn room_audio(
        &mut self,
        session: SessionId,
        from: Key,
        law: Option<Law>,
        seq: u64,
        payload: &[u8],
        now: Instant,
        out: &mut VecDeque<(SessionId, LinkFrame)>,
    ) {
        if law != Some(self.law) {
            self.stats.wrong_codec += 1;
            return;
        }
        let index = match self.sources.iter().position(|s| s.from == from) {
            Some(i) => i,
            None => {
                self.sources.push(Source {
                    from,
                    last: now,
                    last_seq: None,
                    plc: Concealer::new(8000),
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
        let law = self.law;
        let source = &mut self.sources[index];
        source.last = now;
        let lost = source
            .last_seq
            .map_or(0, |last| seq.saturating_sub(last + 1));
        if source.last_seq.is_some_and(|last| seq <= last) {
            return; // reordered or repeated: already concealed or passed on
        }
        source.last_seq = Some(seq);
        let n = payload.len().min(SLOT);
        let mut pcm = [0i16; SLOT];
        law.decode(&payload[..n], &mut pcm[..n]);
        if active > 1 {
            source.plc.good(&mut pcm[..n]);
            source.pcm = pcm;
            source.filled = true;
            return;
        }
        let mut frame = [0u8; SLOT];
        if (1..=MAX_CONCEALED).contains(&lost) {
            for _ in 0..lost {
                let mut made_up = [0i16; SLOT];
                self.sources[index].plc.conceal(&mut made_up[..n]);
                law.encode(&made_up[..n], &mut frame[..n]);
                self.stats.concealed_out += 1;
                self.send_device(session, &frame[..n], now, out);
            }
        }
        let source = &mut self.sources[index];
        if source.plc.concealing() {
            source.plc.good(&mut pcm[..n]);
            law.encode(&pcm[..n], &mut frame[..n]);
            self.send_device(session, &frame[..n], now, out);
        } else {
            source.plc.good(&mut pcm[..n]);
            self.send_device(session, &payload[..n], now, out);
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
        let mut mix = [0i32; SLOT];
        for source in self.sources.iter_mut().filter(|s| s.filled) {
            for (m, s) in mix.iter_mut().zip(source.pcm.iter()) {
                *m += i32::from(*s);
            }
            source.filled = false;
        }
        let mut pcm = [0i16; SLOT];
        for (p, m) in pcm.iter_mut().zip(mix) {
            *p = m.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        }
        let mut frame = [0u8; SLOT];
        self.law.encode(&pcm, &mut frame);
        if filled > 1 {
            self.stats.mixed += 1;
        }
        self.send_device(session, &frame, now, out);
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
        self.out_seq = self.out_seq.wrapping_add(1);
        self.out_ts = self.out_ts.wrapping_add(payload.len() as u32);
        self.stats.frames_to_device += 1;
    }
}
