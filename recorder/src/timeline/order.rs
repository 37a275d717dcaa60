//! Frames in presentation order, each once.

use crate::capture::Frame;

/// Frames sorted by RTP time, duplicates dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct Ordered {
    /// The frames.
    pub frames: Vec<Frame>,
    /// Frames that came again (retransmitted twice, say) and were dropped.
    pub duplicates: usize,
    /// Frames that arrived after a later one.
    pub reordered: usize,
}

/// Sorts by extended RTP timestamp, then sequence; a frame whose first sequence number
/// was seen already is a duplicate.
pub fn order(mut frames: Vec<Frame>) -> Ordered {
    let reordered = frames
        .windows(2)
        .filter(|w| (w[1].rtp_ts, w[1].seq_first) < (w[0].rtp_ts, w[0].seq_first))
        .count();
    frames.sort_by_key(|f| (f.seq_first, f.rtp_ts));
    let before = frames.len();
    frames.dedup_by_key(|f| f.seq_first);
    let duplicates = before - frames.len();
    frames.sort_by_key(|f| (f.rtp_ts, f.seq_first));
    Ordered {
        frames,
        duplicates,
        reordered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(seq: u64, ts: u64) -> Frame {
        Frame {
            arrival_us: seq * 20_000,
            rtp_ts: ts,
            seq_first: seq,
            seq_last: seq,
            flags: 0,
            payload: vec![seq as u8],
        }
    }

    #[test]
    fn reordered_and_duplicated_frames_come_out_once_in_order() {
        let input = vec![
            f(1, 960),
            f(3, 2880),
            f(2, 1920),
            f(3, 2880),
            f(4, 3840),
            f(2, 1920),
            f(5, 4800),
        ];
        let o = order(input);
        assert_eq!(
            o.frames.iter().map(|f| f.seq_first).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(o.duplicates, 2);
        assert_eq!(o.reordered, 2);
    }
}
