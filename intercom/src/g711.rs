//! G.711 µ-law (PCMU) and A-law (PCMA), bit-exact with ffmpeg's `pcm_mulaw` and
//! `pcm_alaw`.
//!
//! Decoding goes through 256-entry tables built from the ITU formulas. Encoding goes
//! through a 16,384-entry table indexed by the sample's top 14 bits: each entry holds
//! the code whose decoded level is nearest, with the thresholds at the midpoints of
//! neighbouring decoded levels — the method of ffmpeg's `pcm_tablegen.h`, which
//! simpler segment arithmetic misses by one level at thresholds
//! (`shared/research/intercom.md` measured both). Tables are built at compile time, so
//! encoding or decoding a 20 ms frame is 160 table lookups.

/// µ-law code → 16-bit linear sample.
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// A-law code → 16-bit linear sample.
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

/// 16-bit linear sample → µ-law code.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    ULAW_ENCODE[((sample as i32 + 32768) >> 2) as usize]
}

/// 16-bit linear sample → A-law code.
pub fn linear_to_alaw(sample: i16) -> u8 {
    ALAW_ENCODE[((sample as i32 + 32768) >> 2) as usize]
}

/// The two G.711 laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    /// µ-law, PCMU.
    Ulaw,
    /// A-law, PCMA.
    Alaw,
}

impl Law {
    /// Decodes `codes` into `out` (same length).
    pub fn decode(self, codes: &[u8], out: &mut [i16]) {
        let table = match self {
            Law::Ulaw => &ULAW_DECODE,
            Law::Alaw => &ALAW_DECODE,
        };
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = table[c as usize];
        }
    }

    /// Encodes `samples` into `out` (same length).
    pub fn encode(self, samples: &[i16], out: &mut [u8]) {
        let table = match self {
            Law::Ulaw => &ULAW_ENCODE,
            Law::Alaw => &ALAW_ENCODE,
        };
        for (o, &s) in out.iter_mut().zip(samples) {
            *o = table[((s as i32 + 32768) >> 2) as usize];
        }
    }

    /// The code of silence (the one that decodes nearest to 0).
    pub fn silence(self) -> u8 {
        match self {
            Law::Ulaw => 0xff,
            Law::Alaw => 0xd5,
        }
    }
}

const SIGN: u8 = 0x80;
const QUANT: u8 = 0x0f;
const SEG_SHIFT: u32 = 4;
const ULAW_BIAS: i32 = 0x84;

/// The ITU A-law expansion: even bits inverted, 3-bit segment, 4-bit step.
const fn alaw_formula(code: u8) -> i32 {
    let a = code ^ 0x55;
    let step = (a & QUANT) as i32;
    let seg = ((a & 0x70) >> SEG_SHIFT) as u32;
    let magnitude = if seg == 0 {
        (2 * step + 1) << 3
    } else {
        (2 * step + 1 + 32) << (seg + 2)
    };
    if a & SIGN != 0 { magnitude } else { -magnitude }
}

/// The ITU µ-law expansion: all bits inverted, biased segments.
const fn ulaw_formula(code: u8) -> i32 {
    let u = !code;
    let biased = (((u & QUANT) as i32) << 3) + ULAW_BIAS;
    let shifted = biased << (((u & 0x70) >> SEG_SHIFT) as u32);
    if u & SIGN != 0 {
        ULAW_BIAS - shifted
    } else {
        shifted - ULAW_BIAS
    }
}

const fn level(law: Law, code: u8) -> i32 {
    match law {
        Law::Ulaw => ulaw_formula(code),
        Law::Alaw => alaw_formula(code),
    }
}

const fn decode_table(law: Law) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = level(law, code as u8) as i16;
        code += 1;
    }
    table
}

/// Codes in order of rising magnitude are `i ^ mask` (positive) and
/// `i ^ mask ^ 0x80` (negative), `i` in 0..128. Entry 8192 ± j covers samples
/// around ±4j; a step to the next code happens where the sample passes the midpoint
/// of two neighbouring levels (levels are in 16-bit units, the index in 4-sample
/// units: hence `(v1 + v2 + 4) >> 3`).
const fn encode_table(law: Law) -> [u8; 16384] {
    let mask: u8 = match law {
        Law::Ulaw => 0xff,
        Law::Alaw => 0xd5,
    };
    let mut table = [0u8; 16384];
    table[8192] = mask;
    let mut j: i32 = 1;
    let mut i: u8 = 0;
    while i < 127 {
        let v1 = level(law, i ^ mask);
        let v2 = level(law, (i + 1) ^ mask);
        let midpoint = (v1 + v2 + 4) >> 3;
        while j < midpoint {
            table[(8192 - j) as usize] = i ^ (mask ^ SIGN);
            table[(8192 + j) as usize] = i ^ mask;
            j += 1;
        }
        i += 1;
    }
    while j < 8192 {
        table[(8192 - j) as usize] = 127 ^ (mask ^ SIGN);
        table[(8192 + j) as usize] = 127 ^ mask;
        j += 1;
    }
    table[0] = table[1];
    table
}

static ULAW_DECODE: [i16; 256] = decode_table(Law::Ulaw);
static ALAW_DECODE: [i16; 256] = decode_table(Law::Alaw);
static ULAW_ENCODE: [u8; 16384] = encode_table(Law::Ulaw);
static ALAW_ENCODE: [u8; 16384] = encode_table(Law::Alaw);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_decodes_near_zero_and_round_trips() {
        for law in [Law::Ulaw, Law::Alaw] {
            let mut out = [0i16; 1];
            law.decode(&[law.silence()], &mut out);
            assert!(out[0].abs() <= 8, "{law:?} silence decodes to {}", out[0]);
        }
        assert_eq!(linear_to_ulaw(0), 0xff);
        assert_eq!(linear_to_alaw(0), 0xd5);
    }

    #[test]
    fn every_code_survives_a_round_trip() {
        for code in 0..=255u8 {
            let u = ulaw_to_linear(code);
            // µ-law has two zeros (0x7f and 0xff): both decode to 0, which encodes as 0xff.
            if u != 0 {
                assert_eq!(linear_to_ulaw(u), code, "µ-law {code:#04x} → {u}");
            }
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "A-law {code:#04x}"
            );
        }
    }
}
