//! Reading a bitstream MSB first, with exp-Golomb codes (H.264 §9.1), for the few
//! header fields the merge needs (frame sizes, frame types).

/// A bit reader over a byte slice.
pub(super) struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Bits<'a> {
    /// Reads from the start of `data`.
    pub(super) fn new(data: &'a [u8]) -> Self {
        Bits { data, at: 0 }
    }

    /// `n` bits (at most 32) as an unsigned number.
    pub(super) fn read(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.at / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.at % 8)) & 1);
            self.at += 1;
        }
        Some(v)
    }

    /// An unsigned exp-Golomb code, ue(v).
    pub(super) fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.read(1)? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some(((1u64 << zeros) - 1 + u64::from(self.read(zeros)?)) as u32)
    }

    /// A signed exp-Golomb code, se(v).
    pub(super) fn se(&mut self) -> Option<i32> {
        let k = self.ue()?;
        let magnitude = k.div_ceil(2) as i32;
        Some(if k % 2 == 1 { magnitude } else { -magnitude })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_codes_read_back() {
        // 1 | 010 | 011 | 00100 | 00101 → ue 0, 1, 2, 3, then se(4) = -2.
        let mut b = Bits::new(&[0b1010_0110, 0b0100_0010, 0b1000_0000]);
        assert_eq!(b.ue(), Some(0));
        assert_eq!(b.ue(), Some(1));
        assert_eq!(b.ue(), Some(2));
        assert_eq!(b.ue(), Some(3));
        assert_eq!(b.se(), Some(-2));
        assert_eq!(b.read(8), None);
    }
}
