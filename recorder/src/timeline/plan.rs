//! What to do at each point of an Opus track: decode a frame, rebuild one lost frame
//! from the next one's forward error correction, conceal a short loss, or play silence
//! (a DTX pause, a mute, a long loss).

use crate::capture::Frame;

/// Longest loss concealed by the decoder; longer ones become silence (concealment of
/// long gaps sounds worse than silence).
pub const MAX_CONCEAL_US: u64 = 100_000;

/// One step of decoding a track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Decode frame `index` of the ordered frames.
    Decode {
        /// Index into the frames.
        index: usize,
    },
    /// Rebuild the frame lost before frame `next` from its in-band FEC.
    Fec {
        /// The frame carrying the FEC.
        next: usize,
        /// Samples to rebuild.
        samples: u64,
    },
    /// Packet loss concealment for this many samples.
    Conceal {
        /// Samples.
        samples: u64,
    },
    /// Zeros.
    Silence {
        /// Samples.
        samples: u64,
    },
}

/// What fills the gap between two consecutive frames of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gap {
    /// None: the frame follows the previous one.
    None,
    /// One lost frame, rebuilt from the next one's FEC.
    Fec(u64),
    /// A short loss, concealed.
    Conceal(u64),
    /// The sender stopped (DTX, mute) or a long loss: zeros.
    Silence(u64),
}

/// The gap before `next` in an ordered Opus track at `clock_rate`, after a frame at
/// `prev_ts` (RTP) that ended sequence number `prev_seq` and lasted `prev_samples`.
pub fn gap(prev_ts: u64, prev_seq: u64, prev_samples: u64, next: &Frame, clock_rate: u32) -> Gap {
    let expected = prev_ts + prev_samples;
    let missing_samples = next.rtp_ts.saturating_sub(expected);
    let missing_packets = next.seq_first.saturating_sub(prev_seq + 1);
    let missing_us = missing_samples * 1_000_000 / u64::from(clock_rate.max(1));
    if missing_samples == 0 {
        Gap::None
    } else if missing_packets == 0 || missing_us > MAX_CONCEAL_US {
        Gap::Silence(missing_samples)
    } else if missing_packets == 1 && missing_samples <= prev_samples {
        Gap::Fec(missing_samples)
    } else {
        Gap::Conceal(missing_samples)
    }
}

/// The steps for `frames` (ordered, Opus at `clock_rate`, each `frame_samples` long),
/// so that the output has one sample per RTP tick from the first frame to the end of
/// the last.
pub fn plan_audio(frames: &[Frame], clock_rate: u32, frame_samples: u64) -> Vec<Step> {
    let mut steps = Vec::with_capacity(frames.len());
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            let prev = &frames[i - 1];
            match gap(prev.rtp_ts, prev.seq_last, frame_samples, f, clock_rate) {
                Gap::None => {}
                Gap::Silence(samples) => steps.push(Step::Silence { samples }),
                Gap::Fec(samples) => steps.push(Step::Fec { next: i, samples }),
                Gap::Conceal(samples) => steps.push(Step::Conceal { samples }),
            }
        }
        steps.push(Step::Decode { index: i });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(seq: u64, ts: u64) -> Frame {
        Frame {
            arrival_us: 0,
            rtp_ts: ts,
            seq_first: seq,
            seq_last: seq,
            flags: 0,
            payload: vec![],
        }
    }

    #[test]
    fn losses_and_silences_get_the_right_steps() {
        // 20 ms Opus frames at 48 kHz: 960 samples.
        let frames = [
            f(1, 0),
            f(2, 960),
            f(4, 2880),                           // one lost (seq 3): FEC from this one
            f(7, 5760),                           // two lost: conceal 1920
            f(8, 6720 + 48000),                   // seq continuous, 1 s later: DTX silence
            f(20, 6720 + 48000 + 960 + 11 * 960), // 11 lost, 220 ms: silence
        ];
        let steps = plan_audio(&frames, 48_000, 960);
        assert_eq!(
            steps,
            [
                Step::Decode { index: 0 },
                Step::Decode { index: 1 },
                Step::Fec {
                    next: 2,
                    samples: 960
                },
                Step::Decode { index: 2 },
                Step::Conceal { samples: 1920 },
                Step::Decode { index: 3 },
                Step::Silence { samples: 48000 },
                Step::Decode { index: 4 },
                Step::Silence { samples: 10560 },
                Step::Decode { index: 5 },
            ]
        );
        let samples: u64 = steps
            .iter()
            .map(|s| match s {
                Step::Decode { .. } => 960,
                Step::Fec { samples, .. }
                | Step::Conceal { samples }
                | Step::Silence { samples } => *samples,
            })
            .sum();
        let span = frames.last().unwrap().rtp_ts + 960 - frames[0].rtp_ts;
        assert_eq!(samples, span, "one sample per RTP tick");
    }
}
