//! Message boundaries on stream transports (RFC 8656 §12.5): STUN messages and
//! ChannelData back to back, ChannelData padded to four bytes.

use crate::proto::channel_data::is_channel_data;
use crate::proto::message::HEADER_LEN;

/// The length of the first whole message in `buf`: `Ok(Some(n))` when `n` bytes hold
/// it, `Ok(None)` when more must arrive, `Err(())` when the stream cannot be TURN.
pub(crate) fn next_frame(buf: &[u8]) -> Result<Option<usize>, ()> {
    let [first, _, l0, l1, ..] = buf else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([*l0, *l1]));
    let frame = if is_channel_data(*first) {
        (4 + len).div_ceil(4) * 4
    } else if first & 0xc0 == 0 {
        HEADER_LEN + len
    } else {
        return Err(());
    };
    Ok((buf.len() >= frame).then_some(frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_found_whole_and_garbage_is_refused() {
        let mut stream = vec![0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0];
        stream.extend_from_slice(&[0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]);
        stream.extend_from_slice(&[0; 12]);
        assert_eq!(next_frame(&stream), Ok(Some(12)));
        assert_eq!(next_frame(&stream[12..]), Ok(Some(20)));
        assert_eq!(next_frame(&stream[..11]), Ok(None));
        assert_eq!(next_frame(&stream[..3]), Ok(None));
        assert_eq!(
            next_frame(&[0x16, 0x03, 0x01, 0x00]),
            Ok(None),
            "a TLS hello is a STUN-looking header here"
        );
        assert_eq!(next_frame(&[0xff, 0, 0, 0]), Err(()));
    }
}
