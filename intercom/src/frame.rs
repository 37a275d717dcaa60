//! The binary audio frame: a 12-byte header, then one packet of one call.
//!
//! ```text
//! byte 0: ver (4 bits, 1) | codec (4 bits)
//! byte 1: flags (bit 0: start of talk-spurt)
//! 2..4:   sequence, u16 big-endian
//! 4..8:   timestamp, u32 big-endian, samples at the codec's clock
//! 8..12:  call, u32 big-endian
//! 12..:   payload
//! ```

use std::fmt;

/// Bytes before the payload.
pub const HEADER_LEN: usize = 12;
/// The one protocol version.
pub const VERSION: u8 = 1;
/// The largest Opus packet (RFC 6716 §3.4: 1275 bytes per frame, at most 3 frames of
/// 20 ms in 60 ms).
const OPUS_MAX: usize = 3 * 1275;

/// Flag bit 0: the first frame after silence suppression.
pub const FLAG_TALKSPURT: u8 = 0x01;

/// The codecs of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, 8 kHz, one byte per sample.
    Pcmu,
    /// G.711 A-law, 8 kHz.
    Pcma,
    /// 16-bit linear PCM at 16 kHz, little-endian.
    L16,
    /// Opus, one packet, 48 kHz clock.
    Opus,
}

impl Codec {
    /// Every codec, in vchat's order of preference for pass-through (G.711 reaches
    /// browsers untouched; L16 must be transcoded).
    pub const ALL: [Codec; 4] = [Codec::Opus, Codec::Pcmu, Codec::Pcma, Codec::L16];

    /// The 4-bit number in the header.
    pub fn number(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 1,
            Codec::L16 => 2,
            Codec::Opus => 3,
        }
    }

    /// The codec of a header number.
    pub fn from_number(n: u8) -> Option<Codec> {
        Some(match n {
            0 => Codec::Pcmu,
            1 => Codec::Pcma,
            2 => Codec::L16,
            3 => Codec::Opus,
            _ => return None,
        })
    }

    /// The name in `hello` and `welcome`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::L16 => "L16/16000",
            Codec::Opus => "opus",
        }
    }

    /// The codec a `hello` names, if the protocol knows it.
    pub fn from_name(name: &str) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// Timestamp units per second.
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8_000,
            Codec::L16 => 16_000,
            Codec::Opus => 48_000,
        }
    }

    /// Samples per second of the PCM the codec carries (Opus: what vchat decodes it to).
    pub fn sample_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8_000,
            Codec::L16 | Codec::Opus => 16_000,
        }
    }

    /// Payload bytes per 10 ms, for the fixed-size codecs.
    fn bytes_per_10ms(self) -> Option<usize> {
        match self {
            Codec::Pcmu | Codec::Pcma => Some(80),
            Codec::L16 => Some(320),
            Codec::Opus => None,
        }
    }

    /// How many milliseconds a payload of `len` bytes holds, if it is a valid size:
    /// a multiple of 10 ms up to 60 ms for G.711 and L16; 1 to 3,825 bytes for Opus
    /// (its duration is in the packet: reported as 20).
    pub fn payload_ms(self, len: usize) -> Option<u32> {
        match self.bytes_per_10ms() {
            Some(per) => (len > 0 && len.is_multiple_of(per) && len / per <= 6)
                .then(|| (len / per) as u32 * 10),
            None => (1..=OPUS_MAX).contains(&len).then_some(20),
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The header of one audio frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioHeader {
    /// The payload's codec.
    pub codec: Codec,
    /// Flag bits ([`FLAG_TALKSPURT`]).
    pub flags: u8,
    /// +1 per frame, wrapping.
    pub seq: u16,
    /// In samples at the codec's clock.
    pub ts: u32,
    /// The call, as the device numbered it at `ring`.
    pub call: u32,
}

/// Why a binary frame was refused (`bad_audio`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer than 12 bytes.
    #[error("an audio frame has a 12-byte header; this one has {0} bytes")]
    Short(usize),
    /// Not version 1.
    #[error("audio frame version {0} is not supported (1 is)")]
    Version(u8),
    /// A codec number the protocol does not have.
    #[error("audio codec number {0} is unknown (0 PCMU, 1 PCMA, 2 L16, 3 Opus)")]
    Codec(u8),
    /// Flag bits other than bit 0.
    #[error("audio frame flags {0:#04x} set reserved bits")]
    Flags(u8),
    /// A payload that is not a multiple of 10 ms up to 60 ms.
    #[error("a {codec} payload of {len} bytes is not a multiple of 10 ms up to 60 ms")]
    Size {
        /// The frame's codec.
        codec: Codec,
        /// Its payload length.
        len: usize,
    },
}

impl AudioHeader {
    /// Reads a frame: its header and payload, or why it is refused.
    pub fn parse(frame: &[u8]) -> Result<(AudioHeader, &[u8]), FrameError> {
        if frame.len() < HEADER_LEN {
            return Err(FrameError::Short(frame.len()));
        }
        let version = frame[0] >> 4;
        if version != VERSION {
            return Err(FrameError::Version(version));
        }
        let codec =
            Codec::from_number(frame[0] & 0x0f).ok_or(FrameError::Codec(frame[0] & 0x0f))?;
        let flags = frame[1];
        if flags & !FLAG_TALKSPURT != 0 {
            return Err(FrameError::Flags(flags));
        }
        let payload = &frame[HEADER_LEN..];
        if codec.payload_ms(payload.len()).is_none() {
            return Err(FrameError::Size {
                codec,
                len: payload.len(),
            });
        }
        let header = AudioHeader {
            codec,
            flags,
            seq: u16::from_be_bytes([frame[2], frame[3]]),
            ts: u32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
            call: u32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]),
        };
        Ok((header, payload))
    }

    /// The 12 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = (VERSION << 4) | self.codec.number();
        b[1] = self.flags;
        b[2..4].copy_from_slice(&self.seq.to_be_bytes());
        b[4..8].copy_from_slice(&self.ts.to_be_bytes());
        b[8..12].copy_from_slice(&self.call.to_be_bytes());
        b
    }

    /// Appends the header and `payload` to `out` (cleared first).
    pub fn write(&self, payload: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.to_bytes());
        out.extend_from_slice(payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> AudioHeader {
        AudioHeader {
            codec: Codec::Pcmu,
            flags: FLAG_TALKSPURT,
            seq: 0xfffe,
            ts: 0x0102_0304,
            call: 7,
        }
    }

    #[test]
    fn a_frame_reads_back_as_written() {
        let mut out = Vec::new();
        header().write(&[0xff; 160], &mut out);
        assert_eq!(
            &out[..12],
            &[0x10, 0x01, 0xff, 0xfe, 1, 2, 3, 4, 0, 0, 0, 7]
        );
        let (h, payload) = AudioHeader::parse(&out).unwrap();
        assert_eq!(h, header());
        assert_eq!(payload.len(), 160);
    }

    #[test]
    fn sizes_are_multiples_of_ten_ms_up_to_sixty() {
        assert_eq!(Codec::Pcmu.payload_ms(80), Some(10));
        assert_eq!(Codec::Pcma.payload_ms(480), Some(60));
        assert_eq!(Codec::Pcmu.payload_ms(560), None);
        assert_eq!(Codec::Pcmu.payload_ms(159), None);
        assert_eq!(Codec::L16.payload_ms(640), Some(20));
        assert_eq!(Codec::L16.payload_ms(0), None);
        assert_eq!(Codec::Opus.payload_ms(3), Some(20));
        assert_eq!(Codec::Opus.payload_ms(4000), None);
    }

    #[test]
    fn bad_frames_say_what_is_wrong() {
        let mut out = Vec::new();
        header().write(&[0; 160], &mut out);
        assert_eq!(AudioHeader::parse(&out[..5]), Err(FrameError::Short(5)));
        let mut v2 = out.clone();
        v2[0] = 0x20;
        assert_eq!(AudioHeader::parse(&v2), Err(FrameError::Version(2)));
        let mut c9 = out.clone();
        c9[0] = 0x19;
        assert_eq!(AudioHeader::parse(&c9), Err(FrameError::Codec(9)));
        let mut fl = out.clone();
        fl[1] = 0x80;
        assert_eq!(AudioHeader::parse(&fl), Err(FrameError::Flags(0x80)));
        assert_eq!(
            AudioHeader::parse(&out[..100]),
            Err(FrameError::Size {
                codec: Codec::Pcmu,
                len: 88
            })
        );
        assert!(
            FrameError::Size {
                codec: Codec::L16,
                len: 3
            }
            .to_string()
            .contains("L16/16000 payload of 3 bytes")
        );
    }

    #[test]
    fn codec_names_are_those_of_hello() {
        for c in Codec::ALL {
            assert_eq!(Codec::from_name(c.name()), Some(c));
            assert_eq!(Codec::from_number(c.number()), Some(c));
        }
        assert_eq!(Codec::from_name("pcmu"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_name("G729"), None);
    }
}
