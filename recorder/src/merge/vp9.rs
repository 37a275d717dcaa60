//! VP9 over RTP (RFC 9628): the payload descriptor, the frame header's size and type,
//! and (for tests and benchmarks) packetization.

use super::bits::Bits;

/// What a VP9 RTP payload holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    /// The packet starts a frame (B).
    pub start: bool,
    /// The packet ends a frame (E).
    pub end: bool,
    /// The frame is predicted from an earlier picture (P).
    pub inter: bool,
    /// The spatial layer (0 without layer indices).
    pub spatial: u8,
    /// The first layer's size from the scalability structure, when the packet has one.
    pub size: Option<(u32, u32)>,
    /// Where the VP9 data starts.
    pub header_len: usize,
}

/// Parses the payload descriptor (RFC 9628 §4.2).
pub fn descriptor(p: &[u8]) -> Option<Descriptor> {
    let first = *p.first()?;
    let (i, inter, l, f, b, e, v) = (
        first & 0x80 != 0,
        first & 0x40 != 0,
        first & 0x20 != 0,
        first & 0x10 != 0,
        first & 0x08 != 0,
        first & 0x04 != 0,
        first & 0x02 != 0,
    );
    let mut at = 1;
    if i {
        at += if *p.get(at)? & 0x80 != 0 { 2 } else { 1 };
    }
    let mut spatial = 0;
    if l {
        spatial = (*p.get(at)? >> 1) & 0x07;
        at += 1;
        if !f {
            at += 1; // TL0PICIDX
        }
    }
    if f && inter {
        // Up to three reference differences, each flagging whether another follows.
        for _ in 0..3 {
            let diff = *p.get(at)?;
            at += 1;
            if diff & 1 == 0 {
                break;
            }
        }
    }
    let mut size = None;
    if v {
        let ss = *p.get(at)?;
        at += 1;
        let layers = usize::from(ss >> 5) + 1;
        if ss & 0x10 != 0 {
            for k in 0..layers {
                let w = u16::from_be_bytes([*p.get(at)?, *p.get(at + 1)?]);
                let h = u16::from_be_bytes([*p.get(at + 2)?, *p.get(at + 3)?]);
                if k == 0 {
                    size = Some((u32::from(w), u32::from(h)));
                }
                at += 4;
            }
        }
        if ss & 0x08 != 0 {
            let groups = *p.get(at)?;
            at += 1;
            for _ in 0..groups {
                let g = *p.get(at)?;
                at += 1 + usize::from((g >> 2) & 0x03);
            }
        }
    }
    if at > p.len() {
        return None;
    }
    Some(Descriptor {
        start: b,
        end: e,
        inter,
        spatial,
        size,
        header_len: at,
    })
}

/// Whether a VP9 frame is a keyframe and, if so, its size (the uncompressed header,
/// VP9 bitstream specification §6.2).
pub fn frame_info(frame: &[u8]) -> Option<(bool, Option<(u32, u32)>)> {
    let mut b = Bits::new(frame);
    if b.read(2)? != 2 {
        return None; // frame_marker
    }
    let profile = b.read(1)? | (b.read(1)? << 1);
    if profile == 3 {
        b.read(1)?;
    }
    if b.read(1)? == 1 {
        return Some((false, None)); // show_existing_frame
    }
    let key = b.read(1)? == 0;
    if !key {
        return Some((false, None));
    }
    b.read(2)?; // show_frame, error_resilient_mode
    if b.read(24)? != 0x49_83_42 {
        return None;
    }
    if profile >= 2 {
        b.read(1)?; // ten_or_twelve_bit
    }
    let color_space = b.read(3)?;
    if color_space != 7 {
        b.read(1)?; // color_range
        if profile == 1 || profile == 3 {
            b.read(3)?;
        }
    } else if profile == 1 || profile == 3 {
        b.read(1)?;
    }
    let w = b.read(16)? + 1;
    let h = b.read(16)? + 1;
    Some((true, Some((w, h))))
}

/// The RTP payloads of a VP9 frame with a 15-bit picture id (RFC 9628, non-flexible
/// mode, no layers; keyframes carry the scalability structure with their size): for
/// tests and benchmarks that make captures.
pub fn payloads(frame: &[u8], picture_id: u16, max_payload: usize) -> Vec<Vec<u8>> {
    let info = frame_info(frame);
    let key = info.is_some_and(|(k, _)| k);
    let size = info.and_then(|(_, s)| s);
    let chunks: Vec<&[u8]> = frame.chunks(max_payload.max(16) - 12).collect();
    let last = chunks.len() - 1;
    chunks
        .into_iter()
        .enumerate()
        .map(|(k, chunk)| {
            let mut first = 0x80; // I
            if !key {
                first |= 0x40; // P
            }
            if k == 0 {
                first |= 0x08; // B
            }
            if k == last {
                first |= 0x04; // E
            }
            let ss = key && k == 0 && size.is_some();
            if ss {
                first |= 0x02; // V
            }
            let mut p = vec![
                first,
                0x80 | (picture_id >> 8) as u8 & 0x7f,
                picture_id as u8,
            ];
            if ss {
                let (w, h) = size.expect("checked");
                p.push(0x10); // one layer, sizes present, no picture groups
                p.extend_from_slice(&(w as u16).to_be_bytes());
                p.extend_from_slice(&(h as u16).to_be_bytes());
            }
            p.extend_from_slice(chunk);
            p
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_parse_with_and_without_layers_and_structures() {
        // I (15-bit id), B, V: SS with one 640x360 layer.
        let p = [0x8a, 0x81, 0x23, 0x10, 0x02, 0x80, 0x01, 0x68, 0xAA];
        let d = descriptor(&p).unwrap();
        assert!(d.start && !d.end && !d.inter);
        assert_eq!(d.size, Some((640, 360)));
        assert_eq!(&p[d.header_len..], &[0xAA]);
        // I (7-bit), P, L (spatial 1), non-flexible: TL0PICIDX follows; E.
        let p = [0xe4, 0x05, 0x02, 0x07, 0xBB];
        let d = descriptor(&p).unwrap();
        assert!(d.inter && d.end && !d.start);
        assert_eq!(d.spatial, 1);
        assert_eq!(&p[d.header_len..], &[0xBB]);
        // Flexible, P: two reference differences.
        let p = [0x58, 0x03, 0x04, 0xCC];
        assert_eq!(descriptor(&p).unwrap().header_len, 3);
        assert_eq!(descriptor(&[0x82]), None, "SS cut short");
    }
}
