//! ChannelData messages (RFC 8656 §12.4): the relay's hot path, four bytes of header.

/// The channel numbers clients may bind: RFC 5766's 0x4000–0x7FFF. RFC 8656 §12 narrows
/// it to 0x4FFF, but RFC 5766 clients (coturn's own tools among them) still pick from
/// the whole range, and ChannelData is told from STUN, DTLS and RTP by its first two
/// bits either way.
pub const CHANNELS: std::ops::RangeInclusive<u16> = 0x4000..=0x7fff;

/// A ChannelData message: its channel and its application data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelData<'a> {
    /// The channel number.
    pub channel: u16,
    /// The data, without padding.
    pub data: &'a [u8],
}

impl<'a> ChannelData<'a> {
    /// Reads a ChannelData message from the start of `bytes` (padding after the data,
    /// as TCP carries it, is allowed).
    pub fn parse(bytes: &'a [u8]) -> Option<ChannelData<'a>> {
        let [c0, c1, l0, l1, rest @ ..] = bytes else {
            return None;
        };
        let channel = u16::from_be_bytes([*c0, *c1]);
        if !CHANNELS.contains(&channel) {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        Some(ChannelData {
            channel,
            data: rest.get(..len)?,
        })
    }

    /// Writes header and data into `out` (cleared first); `pad` rounds the message up
    /// to a multiple of four, as stream transports require.
    pub fn write(out: &mut Vec<u8>, channel: u16, data: &[u8], pad: bool) {
        out.clear();
        out.extend_from_slice(&channel.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
        if pad {
            let padded = out.len().div_ceil(4) * 4;
            out.resize(padded, 0);
        }
    }
}

/// Whether the first byte starts a ChannelData message (0b01) rather than STUN (0b00).
pub fn is_channel_data(first: u8) -> bool {
    first & 0xc0 == 0x40
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_data_round_trips_and_refuses_what_is_not() {
        let mut out = Vec::new();
        ChannelData::write(&mut out, 0x4001, b"hello", true);
        assert_eq!(out.len(), 12);
        assert_eq!(
            ChannelData::parse(&out),
            Some(ChannelData {
                channel: 0x4001,
                data: b"hello"
            })
        );
        assert!(is_channel_data(out[0]));
        assert_eq!(
            ChannelData::parse(&out[..6]),
            None,
            "shorter than its length"
        );
        assert_eq!(
            ChannelData::parse(&[0x80, 0, 0, 0]),
            None,
            "channel 0x8000 is out of range"
        );
        assert_eq!(ChannelData::parse(&[0x3f, 0xff, 0, 0]), None);
    }
}
