//! One party's audio decoded onto the call's timeline: libopus with FEC for a single
//! lost packet and concealment for short losses, zeros before it joined, between
//! joins, in silences and after it left — handed out in blocks, so the merge never
//! holds more than a block of it.

use std::collections::VecDeque;

use super::party::{AudioItem, PartyTrack, ReadStats, packet_samples};

pub use super::party::RATE;

/// Samples of an Opus frame (20 ms), the block size of the merge.
pub const BLOCK: usize = 960;

/// A party's decoded audio, block by block.
pub struct PartyAudio {
    track: PartyTrack,
    decoder: opus::Decoder,
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
            AudioItem::Packet { payload, fec } => {
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
