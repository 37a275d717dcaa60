//! What fills each gap of an Opus track: nothing (the next frame follows), one lost
//! frame rebuilt from the next one's forward error correction, a short loss concealed,
//! or silence (a DTX pause, a mute, a long loss).

use crate::capture::Frame;

/// Longest loss concealed by the decoder; longer ones become silence (concealment of
/// long gaps sounds worse than silence).
pub const MAX_CONCEAL_US: u64 = 100_000;

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
    fn losses_and_silences_get_the_right_gaps() {
        // 20 ms Opus frames at 48 kHz: 960 samples.
        let frames = [
            f(1, 0),
            f(2, 960),
            f(4, 2880),                           // one lost (seq 3): FEC from this one
            f(7, 5760),                           // two lost: conceal 1920
            f(8, 6720 + 48000),                   // seq continuous, 1 s later: DTX silence
            f(20, 6720 + 48000 + 960 + 11 * 960), // 11 lost, 220 ms: silence
        ];
        let gaps: Vec<Gap> = frames
            .windows(2)
            .map(|w| gap(w[0].rtp_ts, w[0].seq_last, 960, &w[1], 48_000))
            .collect();
        assert_eq!(
            gaps,
            [
                Gap::None,
                Gap::Fec(960),
                Gap::Conceal(1920),
                Gap::Silence(48000),
                Gap::Silence(10560),
            ]
        );
        let samples: u64 = frames.len() as u64 * 960
            + gaps
                .iter()
                .map(|g| match g {
                    Gap::None => 0,
                    Gap::Fec(n) | Gap::Conceal(n) | Gap::Silence(n) => *n,
                })
                .sum::<u64>();
        let span = frames.last().unwrap().rtp_ts + 960 - frames[0].rtp_ts;
        assert_eq!(samples, span, "one sample per RTP tick");
    }
}
