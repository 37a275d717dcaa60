//! Whether an RTP payload starts a keyframe, per codec (RFC 7741 VP8, the VP9 RTP
//! payload format, RFC 6184 H.264).

/// Whether `payload` (one RTP packet's) begins a keyframe of `codec`.
pub fn starts_keyframe(codec: &str, payload: &[u8]) -> bool {
    match codec {
        "vp8" => vp8(payload),
        "vp9" => vp9(payload),
        "h264" => h264(payload),
        _ => false,
    }
}

fn vp8(p: &[u8]) -> bool {
    let Some(&first) = p.first() else {
        return false;
    };
    let start = first & 0x10 != 0;
    let partition = first & 0x07;
    if !start || partition != 0 {
        return false;
    }
    let mut at = 1;
    if first & 0x80 != 0 {
        // X: an extension byte, then its optional fields.
        let Some(&ext) = p.get(at) else { return false };
        at += 1;
        if ext & 0x80 != 0 {
            // I: picture id, 7 or 15 bits.
            let Some(&pid) = p.get(at) else { return false };
            at += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            at += 1; // L: TL0PICIDX
        }
        if ext & 0x30 != 0 {
            at += 1; // T or K: TID / KEYIDX
        }
    }
    // The VP8 payload header: P bit 0 is a keyframe.
    p.get(at).is_some_and(|b| b & 0x01 == 0)
}

fn vp9(p: &[u8]) -> bool {
    let Some(&first) = p.first() else {
        return false;
    };
    let inter_predicted = first & 0x40 != 0;
    let begins_frame = first & 0x08 != 0;
    !inter_predicted && begins_frame
}

fn h264(p: &[u8]) -> bool {
    let Some(&first) = p.first() else {
        return false;
    };
    match first & 0x1F {
        5 | 7 => true,
        // STAP-A: 16-bit sizes, then NAL units.
        24 => {
            let mut at = 1;
            while at + 2 < p.len() {
                let size = usize::from(u16::from_be_bytes([p[at], p[at + 1]]));
                if matches!(p[at + 2] & 0x1F, 5 | 7) {
                    return true;
                }
                at += 2 + size;
            }
            false
        }
        // FU-A: the start fragment of an IDR slice.
        28 => p.get(1).is_some_and(|h| h & 0x80 != 0 && h & 0x1F == 5),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframes_are_recognised_per_codec() {
        // VP8: S=1, PID=0, no extension; payload header P=0 → key.
        assert!(starts_keyframe("vp8", &[0x10, 0x00, 0x9d, 0x01, 0x2a]));
        assert!(
            !starts_keyframe("vp8", &[0x10, 0x01, 0x00]),
            "P=1: interframe"
        );
        assert!(
            !starts_keyframe("vp8", &[0x00, 0x00]),
            "not a partition start"
        );
        // X, I with a 15-bit picture id, then the payload header.
        assert!(starts_keyframe("vp8", &[0x90, 0x80, 0x81, 0x23, 0x00]));
        assert!(!starts_keyframe("vp8", &[0x90, 0x80, 0x81, 0x23, 0x01]));
        assert!(!starts_keyframe("vp8", &[0x90]), "cut short");
        // H.264: IDR, SPS, STAP-A with SPS, FU-A start of IDR; not a P slice.
        assert!(starts_keyframe("h264", &[0x65, 0x88]));
        assert!(starts_keyframe("h264", &[0x67, 0x42]));
        assert!(starts_keyframe(
            "h264",
            &[0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68]
        ));
        assert!(starts_keyframe("h264", &[0x7c, 0x85, 0x00]));
        assert!(
            !starts_keyframe("h264", &[0x7c, 0x05, 0x00]),
            "not the first fragment"
        );
        assert!(!starts_keyframe("h264", &[0x41, 0x9a]));
        // VP9: B=1, P=0.
        assert!(starts_keyframe("vp9", &[0x08]));
        assert!(!starts_keyframe("vp9", &[0x48]));
        assert!(!starts_keyframe("opus", &[0xfc]));
        assert!(!starts_keyframe("vp8", &[]));
    }
}
