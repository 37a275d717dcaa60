//! One party's audio on the call's timeline: its join segments decoded (libopus, with
//! FEC for a single lost packet and concealment for short losses), zeros before it
//! joined, between joins, in silences and after it left — handed out in blocks, so
//! the merge never holds more than a block of it.

use std::collections::VecDeque;

use crate::capture::{Capture, Frame, Record};
use crate::timeline::{Step, order, plan_audio};

/// Samples per second of every decoded and merged track.
pub const RATE: u32 = 48_000;
/// Samples of one Opus frame (20 ms), the block size of the merge.
pub const BLOCK: usize = 960;

struct Segment {
    /// First sample on the call's timeline.
    start: u64,
    frames: Vec<Frame>,
    steps: Vec<Step>,
}

/// A party's audio, block by block.
pub struct PartyAudio {
    segments: VecDeque<Segment>,
    decoder: opus::Decoder,
    /// Decoded samples waiting to be handed out, and the timeline position of the
    /// first of them.
    pending: VecDeque<i16>,
    /// The timeline position of the next sample handed out.
    position: u64,
    /// Samples of zeros still to hand out before the pending ones (silence steps).
    zeros: u64,
    scratch: Vec<i16>,
    /// Frames that did not decode (counted, skipped as silence).
    pub decode_errors: u64,
}

/// Samples of an Opus packet at 48 kHz, or 960 when it cannot be read.
fn packet_samples(payload: &[u8]) -> u64 {
    opus::packet::get_nb_samples(payload, RATE).map_or(BLOCK as u64, |n| n as u64)
}

impl PartyAudio {
    /// The audio of `captures` (one party's audio segments), placed relative to
    /// `origin_us` (Unix µs of the timeline's start).
    pub fn new(captures: &[Capture], origin_us: i64) -> Result<PartyAudio, opus::Error> {
        let mut segments: Vec<Segment> = captures
            .iter()
            .filter_map(|c| {
                let frames: Vec<Frame> = c
                    .records
                    .iter()
                    .filter_map(|r| match r {
                        Record::Frame(f) if !f.payload.is_empty() => Some(f.clone()),
                        _ => None,
                    })
                    .collect();
                let ordered = order(frames).frames;
                let first = ordered.first()?;
                let frame_samples = packet_samples(&first.payload);
                // The first frame goes where the server saw it arrive; the others
                // follow the sender's RTP clock from there.
                let offset_us = c.header.wallclock_us + first.arrival_us as i64 - origin_us;
                let start = (offset_us.max(0) as u64 * u64::from(RATE)) / 1_000_000;
                let steps = plan_audio(&ordered, c.header.clock_rate, frame_samples);
                Some(Segment {
                    start,
                    frames: ordered,
                    steps,
                })
            })
            .collect();
        segments.sort_by_key(|s| s.start);
        Ok(PartyAudio {
            segments: segments.into(),
            decoder: opus::Decoder::new(RATE, opus::Channels::Mono)?,
            pending: VecDeque::new(),
            position: 0,
            zeros: 0,
            scratch: vec![0; 5760],
            decode_errors: 0,
        })
    }

    /// Where the party's last segment ends on the timeline (samples).
    pub fn end(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| {
                let span: u64 = s.steps.iter().map(|st| step_samples(st, &s.frames)).sum();
                s.start + span
            })
            .max()
            .unwrap_or(0)
    }

    /// Fills `out` with the next samples of the timeline.
    pub fn fill(&mut self, out: &mut [i16]) {
        for slot in out.iter_mut() {
            *slot = self.next_sample();
        }
    }

    fn next_sample(&mut self) -> i16 {
        loop {
            if self.zeros > 0 {
                self.zeros -= 1;
                self.position += 1;
                return 0;
            }
            if let Some(s) = self.pending.pop_front() {
                self.position += 1;
                return s;
            }
            // Nothing decoded waits: start the next step, or wait for the next segment.
            if !self.advance() {
                self.position += 1;
                return 0;
            }
        }
    }

    /// Decodes the next step into `pending` (or schedules zeros); false when nothing
    /// is due at the current position.
    fn advance(&mut self) -> bool {
        let Some(segment) = self.segments.front_mut() else {
            return false;
        };
        if segment.start > self.position {
            self.zeros = segment.start - self.position;
            return true;
        }
        if segment.steps.is_empty() {
            self.segments.pop_front();
            // A rejoin that overlaps the previous segment's tail starts where we are.
            return !self.segments.is_empty();
        }
        let step = segment.steps.remove(0);
        match step {
            Step::Silence { samples } => self.zeros = samples,
            Step::Decode { index } => {
                let payload = &segment.frames[index].payload;
                match self.decoder.decode(payload, &mut self.scratch, false) {
                    Ok(n) => self.pending.extend(&self.scratch[..n]),
                    Err(_) => {
                        self.decode_errors += 1;
                        self.zeros = packet_samples(payload);
                    }
                }
            }
            Step::Fec { next, samples } => {
                let payload = &segment.frames[next].payload;
                let n = (samples as usize).min(self.scratch.len());
                match self.decoder.decode(payload, &mut self.scratch[..n], true) {
                    Ok(got) => self.pending.extend(&self.scratch[..got]),
                    Err(_) => self.zeros = samples,
                }
            }
            Step::Conceal { samples } => {
                // Concealment in frames of at most 120 ms (what libopus accepts).
                let mut left = samples as usize;
                while left > 0 {
                    let n = left.min(5760) / 480 * 480;
                    if n == 0 {
                        self.zeros += left as u64;
                        break;
                    }
                    match self.decoder.decode(&[], &mut self.scratch[..n], false) {
                        Ok(got) => self.pending.extend(&self.scratch[..got]),
                        Err(_) => self.zeros += n as u64,
                    }
                    left -= n;
                }
            }
        }
        true
    }
}

fn step_samples(step: &Step, frames: &[Frame]) -> u64 {
    match step {
        Step::Decode { index } => packet_samples(&frames[*index].payload),
        Step::Fec { samples, .. } | Step::Conceal { samples } | Step::Silence { samples } => {
            *samples
        }
    }
}
