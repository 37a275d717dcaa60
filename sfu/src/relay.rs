//! The frame a relayed data-channel message travels in.
//!
//! Browsers send plain messages on a labelled channel; the SFU hands each to every other
//! participant on their channel of the same label, wrapped so the receiver knows who
//! sent it — the sender cannot forge that part, the SFU writes it:
//!
//! ```text
//! byte 0      version, 1
//! byte 1      flags: bit 0 set = the payload was a text message (UTF-8)
//! byte 2      n = length of the sender's participant id (1..=64)
//! 3 .. 3+n    the sender's participant id (ASCII)
//! 3+n ..      the payload, as sent
//! ```
//!
//! Relayed frames are always sent as binary messages.

/// The frame format version.
pub const VERSION: u8 = 1;
/// Flag: the original message was text.
pub const FLAG_TEXT: u8 = 1;

/// Wraps `payload` from participant `from`.
pub fn encode(from: &str, text: bool, payload: &[u8]) -> Vec<u8> {
    let id = from.as_bytes();
    let id_len = id.len().min(u8::MAX as usize);
    let mut frame = Vec::with_capacity(3 + id_len + payload.len());
    frame.push(VERSION);
    frame.push(if text { FLAG_TEXT } else { 0 });
    frame.push(id_len as u8);
    frame.extend_from_slice(&id[..id_len]);
    frame.extend_from_slice(payload);
    frame
}

/// A decoded frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The sender's participant id.
    pub from: &'a str,
    /// Whether the original message was text.
    pub text: bool,
    /// The original message.
    pub payload: &'a [u8],
}

/// Reads a frame, or `None` if it is not one.
pub fn decode(frame: &[u8]) -> Option<Frame<'_>> {
    let [version, flags, id_len, rest @ ..] = frame else {
        return None;
    };
    if *version != VERSION || rest.len() < usize::from(*id_len) {
        return None;
    }
    let (id, payload) = rest.split_at(usize::from(*id_len));
    Some(Frame {
        from: std::str::from_utf8(id).ok()?,
        text: flags & FLAG_TEXT != 0,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let frame = encode("alice", true, b"{\"hi\":1}");
        assert_eq!(&frame[..3], &[1, 1, 5]);
        assert_eq!(
            decode(&frame),
            Some(Frame {
                from: "alice",
                text: true,
                payload: b"{\"hi\":1}"
            })
        );
        assert_eq!(decode(&encode("b", false, &[])).unwrap().payload, b"");
    }

    #[test]
    fn truncated_frames_are_refused() {
        let frame = encode("alice", false, b"x");
        for len in 0..8 {
            assert_eq!(decode(&frame[..len]), None, "length {len}");
        }
        assert_eq!(decode(&[2, 0, 0]), None, "unknown version");
    }
}
