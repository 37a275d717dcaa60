//! One party's audio decoded onto the call's timeline: libopus with FEC for a single
//! lost packet and concealment for short losses (G.711: its tables, Appendix I
//! concealment, then up to 48 kHz), zeros before it joined, between joins, in silences
//! and after it left — handed out in blocks, so the merge never holds more than a
//! block of it.

use std::collections::VecDeque;

use vchat_intercom::g711::Law;
use vchat_intercom::plc::Concealer;

use super::party::{AudioCodec, AudioItem, PartyTrack, ReadStats, packet_samples};
use super::upsample::Upsampler;

pub use super::party::RATE;

/// Samples of an Opus frame (20 ms), the block size of the merge.
pub const BLOCK: usize = 960;

/// G.711's rate, and how far it is from the timeline's.
const NARROW_RATE: u32 = 8000;
const NARROW_FACTOR: usize = (RATE / NARROW_RATE) as usize;
/// G.711 concealed a 20 ms slot at a time.
const NARROW_SLOT: usize = 160;

/// A G.711 party's decoding state.
struct Narrowband {
    concealer: Concealer,
    upsampler: Upsampler,
    pcm: Vec<i16>,
}

/// A party's decoded audio, block by block.
pub struct PartyAudio {
    track: PartyTrack,
    decoder: opus::Decoder,
    /// Made at the party's first G.711 packet.
    narrow: Option<Box<Narrowband>>,
    /// The codec of the last packet (what a loss is concealed with).
    last: AudioCodec,
    /// Decoded samples waiting to be handed out.
    pending: VecDeque<i16>,
    /// The timeline position of the next sample handed out.
    position: u64,
    /// Samples of zeros still to hand out before the pending ones.
    zeros: u64,
    scratch: Vec<i16>,
    exhausted: bool,
    /// Frames that did not decode (counted, played as silence).
    pub decode_errors: u64,
}

impl PartyAudio {
    /// Decodes `track`.
    pub fn new(track: PartyTrack) -> Result<PartyAudio, opus::Error> {
        Ok(PartyAudio {
            track,
            decoder: opus::Decoder::new(RATE, opus::Channels::Mono)?,
            narrow: None,
            last: AudioCodec::Opus,
            pending: VecDeque::new(),
            position: 0,
            zeros: 0,
            scratch: vec![0; 5760],
            exhausted: false,
            decode_errors: 0,
        })
    }

    /// Whether everything of the party has been handed out (zeros follow).
    pub fn finished(&mut self) -> bool {
        while self.zeros == 0 && self.pending.is_empty() && !self.exhausted {
            if !self.advance() {
                self.exhausted = true;
            }
        }
        self.exhausted && self.zeros == 0 && self.pending.is_empty()
    }

    /// What reading the captures found.
    pub fn stats(&self) -> ReadStats {
        self.track.stats
    }

    /// Fills `out` with the next samples of the timeline.
    pub fn fill(&mut self, out: &mut [i16]) {
        let mut at = 0;
        while at < out.len() {
            if self.zeros > 0 {
                let n = (self.zeros as usize).min(out.len() - at);
                out[at..at + n].fill(0);
                self.zeros -= n as u64;
                self.position += n as u64;
                at += n;
            } else if !self.pending.is_empty() {
                let n = self.pending.len().min(out.len() - at);
                for (slot, s) in out[at..at + n].iter_mut().zip(self.pending.drain(..n)) {
                    *slot = s;
                }
                self.position += n as u64;
                at += n;
            } else if self.exhausted || !self.advance() {
                // Nothing more from this party: zeros to the end.
                self.exhausted = true;
                out[at..].fill(0);
                self.position += (out.len() - at) as u64;
                at = out.len();
            }
        }
    }

    /// Where the samples queued so far end on the timeline.
    fn queued_end(&self) -> u64 {
        self.position + self.zeros + self.pending.len() as u64
    }

    /// Decodes the next item into `pending` (or schedules zeros); false at the end.
    fn advance(&mut self) -> bool {
        let Some(item) = self.track.next() else {
            return false;
        };
        match item {
            AudioItem::Start(at) => {
                // A rejoin that overlaps the previous segment's tail starts where the
                // track is.
                let end = self.queued_end();
                if at > end {
                    self.zeros += at - end;
                }
            }
            AudioItem::Silence(samples) => self.queue_zeros(samples),
            AudioItem::Conceal(samples) if self.last != AudioCodec::Opus => {
                self.conceal_narrow(samples)
            }
            AudioItem::Conceal(samples) => {
                // Concealment in frames of at most 120 ms (what libopus accepts).
                let mut left = samples as usize;
                while left > 0 {
                    let n = left.min(5760) / 480 * 480;
                    if n == 0 {
                        self.queue_zeros(left as u64);
                        break;
                    }
                    match self.decoder.decode(&[], &mut self.scratch[..n], false) {
                        Ok(got) => self.pending.extend(&self.scratch[..got]),
                        Err(_) => self.queue_zeros(n as u64),
                    }
                    left -= n;
                }
            }
            AudioItem::Packet {
                payload,
                codec: AudioCodec::G711(law),
                ..
            } => {
                self.last = AudioCodec::G711(law);
                self.decode_narrow(law, &payload);
            }
            AudioItem::Packet { payload, fec, .. } => {
                self.last = AudioCodec::Opus;
                if fec > 0 {
                    let n = (fec as usize).min(self.scratch.len());
                    match self.decoder.decode(&payload, &mut self.scratch[..n], true) {
                        Ok(got) => self.pending.extend(&self.scratch[..got]),
                        Err(_) => self.queue_zeros(fec),
                    }
                }
                match self.decoder.decode(&payload, &mut self.scratch, false) {
                    Ok(n) => self.pending.extend(&self.scratch[..n]),
                    Err(_) => {
                        self.decode_errors += 1;
                        self.queue_zeros(packet_samples(&payload));
                    }
                }
            }
        }
        true
    }

    /// A G.711 packet, decoded and brought to 48 kHz.
    fn decode_narrow(&mut self, law: Law, payload: &[u8]) {
        let n = narrowband(&mut self.narrow);
        n.pcm.resize(payload.len(), 0);
        law.decode(payload, &mut n.pcm);
        n.concealer.good(&mut n.pcm);
        n.upsampler.process(&n.pcm, &mut self.pending);
    }

    /// `samples` (at 48 kHz) of a G.711 loss, made up from what came before it.
    fn conceal_narrow(&mut self, samples: u64) {
        let mut left = samples as usize / NARROW_FACTOR;
        let rest = samples - (left * NARROW_FACTOR) as u64;
        let n = narrowband(&mut self.narrow);
        while left > 0 {
            let len = left.min(NARROW_SLOT);
            n.pcm.resize(len, 0);
            n.concealer.conceal(&mut n.pcm);
            n.upsampler.process(&n.pcm, &mut self.pending);
            left -= len;
        }
        self.queue_zeros(rest);
    }

    /// Zeros after what is pending: pending samples come first, so zeros queued behind
    /// them are decoded as silence samples in `pending`.
    fn queue_zeros(&mut self, samples: u64) {
        if self.pending.is_empty() {
            self.zeros += samples;
        } else {
            self.pending
                .extend(std::iter::repeat_n(0, samples as usize));
        }
    }
}

/// A G.711 party's state, made at its first packet.
fn narrowband(narrow: &mut Option<Box<Narrowband>>) -> &mut Narrowband {
    narrow.get_or_insert_with(|| {
        Box::new(Narrowband {
            concealer: Concealer::new(NARROW_RATE),
            upsampler: Upsampler::new(NARROW_FACTOR),
            pcm: vec![0; NARROW_SLOT],
        })
    })
}
