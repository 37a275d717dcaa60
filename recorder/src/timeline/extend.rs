//! Extending 32-bit RTP timestamps (or 16-bit sequence numbers) to 64 bits.

/// Extends a wrapping counter of `BITS` bits, tolerating reordering of up to half the
/// counter's range: a value a little before the last one (a late packet from before a
/// wrap) maps below it instead of a whole cycle ahead.
#[derive(Debug, Clone, Copy)]
pub struct Extender<const BITS: u32> {
    last: Option<u64>,
}

impl<const BITS: u32> Default for Extender<BITS> {
    fn default() -> Self {
        Extender { last: None }
    }
}

impl<const BITS: u32> Extender<BITS> {
    const RANGE: u64 = 1 << BITS;
    const MASK: u64 = (1 << BITS) - 1;

    /// The extended value of `value` (the low `BITS` bits count).
    pub fn extend(&mut self, value: u64) -> u64 {
        let value = value & Self::MASK;
        let Some(last) = self.last else {
            // Start one cycle up, so values from just before the first one (reordered)
            // still have room below.
            let first = Self::RANGE + value;
            self.last = Some(first);
            return first;
        };
        let last_low = last & Self::MASK;
        let forward = value.wrapping_sub(last_low) & Self::MASK;
        let extended = if forward < Self::RANGE / 2 {
            last + forward
        } else {
            // Behind the last one: a late packet.
            last.saturating_sub((last_low.wrapping_sub(value)) & Self::MASK)
        };
        if extended > last {
            self.last = Some(extended);
        }
        extended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_timestamps_cross_the_wrap_without_a_jump() {
        let mut e = Extender::<32>::default();
        let a = e.extend(0xFFFF_F000);
        let b = e.extend(0xFFFF_FC40); // +3136
        let c = e.extend(0x0000_0880); // wrapped: +3136
        assert_eq!(b - a, 3136);
        assert_eq!(c - b, 3136);
        // A late packet from before the wrap lands before the wrap.
        let late = e.extend(0xFFFF_F820);
        assert!(late < b && late > a, "{a} {late} {b}");
        let d = e.extend(0x0000_14C0);
        assert_eq!(d - c, 3136);
    }

    #[test]
    fn sequence_numbers_wrap_at_16_bits() {
        let mut e = Extender::<16>::default();
        let xs: Vec<u64> = [65534, 65535, 0, 1, 65533, 2]
            .iter()
            .map(|v| e.extend(*v))
            .collect();
        assert_eq!(xs[1] - xs[0], 1);
        assert_eq!(xs[2] - xs[1], 1);
        assert_eq!(xs[3] - xs[2], 1);
        assert_eq!(xs[0] - xs[4], 1, "a reordered old one goes below");
        assert_eq!(xs[5] - xs[3], 1);
    }
}
