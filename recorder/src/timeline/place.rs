//! Placing join segments on the call's timeline by the server's wall clock.
//!
//! Each segment (a join, a rejoin, an SSRC change) starts where the server saw its
//! first frame; inside a segment, frames follow their sender's RTP clock. Different
//! senders' clocks are never compared: across parties only server arrival time counts.

/// The first sample (at `rate`) of a segment whose first frame arrived `offset_us`
/// after the timeline's origin.
pub fn start_sample(offset_us: i64, rate: u32) -> u64 {
    u64::try_from(offset_us.max(0)).unwrap_or(0) * u64::from(rate) / 1_000_000
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

    #[test]
    fn starts_and_rtp_offsets_in_samples_and_microseconds() {
        assert_eq!(start_sample(7_500_000, 48_000), 360_000);
        assert_eq!(start_sample(-5, 48_000), 0, "nothing before the origin");
        assert_eq!(rtp_offset_us(1_000_960, 1_000_000, 48_000), 20_000);
        assert_eq!(
            rtp_offset_us(4_000_000_000 + 48_000, 4_000_000_000, 48_000),
            1_000_000
        );
    }
}
