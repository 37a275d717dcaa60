//! Placing join segments on the call's timeline by the server's wall clock.
//!
//! Each segment (a join, a rejoin, an SSRC change) starts where the server saw its
//! first frame; inside a segment, frames follow their sender's RTP clock. Different
//! senders' clocks are never compared: across parties only server arrival time counts.

use crate::capture::Header;

/// A segment's place on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// Index of the segment in the input.
    pub segment: usize,
    /// Where its first frame goes, in microseconds after the timeline's origin.
    pub offset_us: i64,
}

/// Places `segments` (with the RTP timestamp of each one's first frame — unused here but
/// kept for the caller's mapping) relative to `origin_us` (Unix µs: the call's start).
pub fn place(segments: &[Header], origin_us: i64) -> Vec<Placed> {
    let mut placed: Vec<Placed> = segments
        .iter()
        .enumerate()
        .map(|(segment, h)| Placed {
            segment,
            offset_us: h.wallclock_us - origin_us,
        })
        .collect();
    placed.sort_by_key(|p| (p.offset_us, p.segment));
    placed
}

/// Microseconds after a segment's start of RTP time `rtp_ts`, given its first frame's
/// `first_rtp_ts` and the clock rate.
pub fn rtp_offset_us(rtp_ts: u64, first_rtp_ts: u64, clock_rate: u32) -> i64 {
    let ticks = rtp_ts as i128 - first_rtp_ts as i128;
    (ticks * 1_000_000 / i128::from(clock_rate.max(1))) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(segment: u32, ssrc: u32, wallclock_us: i64) -> Header {
        Header {
            call: "c".into(),
            role: "client".into(),
            kind: "audio".into(),
            codec: "opus".into(),
            fmtp: String::new(),
            clock_rate: 48_000,
            wallclock_us,
            segment,
            ssrc,
        }
    }

    #[test]
    fn a_rejoin_with_a_new_ssrc_is_placed_by_wall_clock_not_rtp_time() {
        // The client joins at t=0, drops, rejoins 7.5 s later with another SSRC (and a
        // random new RTP start): the second segment starts at 7.5 s.
        let origin = 1_700_000_000_000_000;
        let segments = [h(1, 222, origin + 7_500_000), h(0, 111, origin)];
        let placed = place(&segments, origin);
        assert_eq!(
            placed,
            [
                Placed {
                    segment: 1,
                    offset_us: 0
                },
                Placed {
                    segment: 0,
                    offset_us: 7_500_000
                }
            ]
        );
        assert_eq!(rtp_offset_us(1_000_960, 1_000_000, 48_000), 20_000);
        assert_eq!(
            rtp_offset_us(4_000_000_000 + 48_000, 4_000_000_000, 48_000),
            1_000_000
        );
    }
}
