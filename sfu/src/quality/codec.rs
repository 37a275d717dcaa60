//! What the SFU needs to know of a video payload without decoding it: whether a packet
//! starts a keyframe (a layer switch may happen only there), the frame size a keyframe
//! announces (the call's cap is a height), and the VP8 picture ids that must stay
//! continuous when a subscriber moves between layers.
//!
//! VP8: the payload descriptor of RFC 7741 §4.2 and the key-frame header of RFC 6386
//! §9.1. H.264: NAL unit types of RFC 6184 §5.2 (single, STAP-A, FU-A) and the sequence
//! parameter set of ITU-T H.264 §7.3.2.1.1.

use str0m::format::Codec;

/// A VP8 payload descriptor's fields that a layer switch rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vp8Ids {
    /// Picture id and whether it is 15 bits (`M` set) rather than 7.
    pub(crate) picture_id: Option<(u16, bool)>,
    /// TL0PICIDX.
    pub(crate) tl0_pic_idx: Option<u8>,
    /// Temporal layer id, where the descriptor has one.
    pub(crate) tid: Option<u8>,
    /// Where the picture id starts in the payload.
    picture_id_at: usize,
    /// Where TL0PICIDX is in the payload.
    tl0_at: usize,
}

/// Reads the VP8 payload descriptor. `None`: too short to be VP8.
pub(crate) fn vp8_ids(payload: &[u8]) -> Option<Vp8Ids> {
    let first = *payload.first()?;
    let mut at = 1;
    let mut ids = Vp8Ids {
        picture_id: None,
        tl0_pic_idx: None,
        tid: None,
        picture_id_at: 0,
        tl0_at: 0,
    };
    if first & 0x80 == 0 {
        return Some(ids);
    }
    let ext = *payload.get(at)?;
    at += 1;
    if ext & 0x80 != 0 {
        let b = *payload.get(at)?;
        ids.picture_id_at = at;
        if b & 0x80 != 0 {
            let low = *payload.get(at + 1)?;
            ids.picture_id = Some(((u16::from(b & 0x7f) << 8) | u16::from(low), true));
            at += 2;
        } else {
            ids.picture_id = Some((u16::from(b), false));
            at += 1;
        }
    }
    if ext & 0x40 != 0 {
        ids.tl0_pic_idx = Some(*payload.get(at)?);
        ids.tl0_at = at;
        at += 1;
    }
    if ext & 0x30 != 0 {
        let b = *payload.get(at)?;
        if ext & 0x20 != 0 {
            ids.tid = Some(b >> 6);
        }
    }
    Some(ids)
}

/// Writes a picture id and TL0PICIDX into the descriptor `ids` was read from, in the
/// same widths.
pub(crate) fn vp8_write_ids(payload: &mut [u8], ids: &Vp8Ids, picture_id: u16, tl0: u8) {
    if let Some((_, long)) = ids.picture_id {
        if long {
            payload[ids.picture_id_at] = 0x80 | ((picture_id >> 8) as u8 & 0x7f);
            payload[ids.picture_id_at + 1] = picture_id as u8;
        } else {
            payload[ids.picture_id_at] = picture_id as u8 & 0x7f;
        }
    }
    if ids.tl0_pic_idx.is_some() {
        payload[ids.tl0_at] = tl0;
    }
}

/// Where the VP8 frame itself starts, after the descriptor.
fn vp8_frame_start(payload: &[u8]) -> Option<usize> {
    let first = *payload.first()?;
    let mut at = 1;
    if first & 0x80 != 0 {
        let ext = *payload.get(at)?;
        at += 1;
        if ext & 0x80 != 0 {
            at += if *payload.get(at)? & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            at += 1;
        }
        if ext & 0x30 != 0 {
            at += 1;
        }
    }
    (at < payload.len()).then_some(at)
}

/// Whether this packet is the first of a keyframe.
pub(crate) fn starts_keyframe(codec: Codec, payload: &[u8]) -> bool {
    match codec {
        Codec::Vp8 => {
            // S set and partition 0: the frame's first packet; P clear: a key frame.
            let Some(&first) = payload.first() else {
                return false;
            };
            if first & 0x10 == 0 || first & 0x0f != 0 {
                return false;
            }
            vp8_frame_start(payload).is_some_and(|at| payload[at] & 0x01 == 0)
        }
        Codec::H264 => h264_starts_keyframe(payload),
        _ => false,
    }
}

/// The frame size a keyframe's first packet announces, where it says.
pub(crate) fn keyframe_size(codec: Codec, payload: &[u8]) -> Option<(u16, u16)> {
    match codec {
        Codec::Vp8 => {
            let at = vp8_frame_start(payload)?;
            let frame = payload.get(at..at + 10)?;
            if frame[0] & 0x01 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
                return None;
            }
            let width = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
            let height = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
            Some((width, height))
        }
        Codec::H264 => h264_nals(payload)
            .find(|nal| nal.first().is_some_and(|h| h & 0x1f == 7))
            .and_then(sps_size),
        _ => None,
    }
}

const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const STAP_A: u8 = 24;
const FU_A: u8 = 28;

fn h264_starts_keyframe(payload: &[u8]) -> bool {
    let Some(&header) = payload.first() else {
        return false;
    };
    match header & 0x1f {
        NAL_IDR | NAL_SPS => true,
        STAP_A => h264_nals(payload).any(|nal| {
            nal.first()
                .is_some_and(|h| matches!(h & 0x1f, NAL_IDR | NAL_SPS))
        }),
        // The first fragment of an IDR slice.
        FU_A => payload
            .get(1)
            .is_some_and(|fu| fu & 0x80 != 0 && fu & 0x1f == NAL_IDR),
        _ => false,
    }
}

/// The whole NAL units in a packet: itself, or the units of a STAP-A.
fn h264_nals(payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    let stap = payload.first().is_some_and(|h| h & 0x1f == STAP_A);
    let mut rest = if stap { &payload[1..] } else { &[][..] };
    let mut single = (!stap && !payload.is_empty()).then_some(payload);
    std::iter::from_fn(move || {
        if let Some(one) = single.take() {
            return Some(one);
        }
        if rest.len() < 2 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let nal = rest.get(2..2 + len)?;
        rest = &rest[2 + len..];
        Some(nal)
    })
}

/// Bits of an SPS, emulation-prevention bytes removed on the fly.
struct Bits<'a> {
    data: &'a [u8],
    byte: usize,
    bit: u8,
    zeros: u8,
    current: u8,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Bits<'a> {
        Bits {
            data,
            byte: 0,
            bit: 8,
            zeros: 0,
            current: 0,
        }
    }

    fn bit(&mut self) -> Option<u32> {
        if self.bit == 8 {
            let mut b = *self.data.get(self.byte)?;
            self.byte += 1;
            if self.zeros >= 2 && b == 3 {
                b = *self.data.get(self.byte)?;
                self.byte += 1;
                self.zeros = 0;
            }
            self.zeros = if b == 0 { self.zeros + 1 } else { 0 };
            self.current = b;
            self.bit = 0;
        }
        let v = (self.current >> (7 - self.bit)) & 1;
        self.bit += 1;
        Some(u32::from(v))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0, |acc, _| Some((acc << 1) | self.bit()?))
    }

    /// Exp-Golomb, unsigned.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    fn se(&mut self) -> Option<i32> {
        let v = self.ue()?;
        Some(if v % 2 == 1 {
            v.div_ceil(2) as i32
        } else {
            -((v / 2) as i32)
        })
    }
}

/// Width and height from a sequence parameter set NAL unit (header byte included).
fn sps_size(nal: &[u8]) -> Option<(u16, u16)> {
    let mut b = Bits::new(nal.get(1..)?);
    let profile = b.bits(8)?;
    b.bits(16)?; // constraint flags, level
    b.ue()?; // seq_parameter_set_id
    let mut chroma_format = 1;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format = b.ue()?;
        if chroma_format == 3 {
            b.bit()?;
        }
        b.ue()?;
        b.ue()?;
        b.bit()?;
        if b.bit()? == 1 {
            let lists = if chroma_format == 3 { 12 } else { 8 };
            for i in 0..lists {
                if b.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + b.se()? + 256) % 256;
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
    }
    b.ue()?; // log2_max_frame_num_minus4
    match b.ue()? {
        0 => {
            b.ue()?;
        }
        1 => {
            b.bit()?;
            b.se()?;
            b.se()?;
            for _ in 0..b.ue()?.min(255) {
                b.se()?;
            }
        }
        _ => {}
    }
    b.ue()?; // max_num_ref_frames
    b.bit()?;
    let width_mbs = b.ue()? + 1;
    let height_units = b.ue()? + 1;
    let frame_mbs_only = b.bit()?;
    if frame_mbs_only == 0 {
        b.bit()?;
    }
    b.bit()?;
    let (mut crop_x, mut crop_y) = (0, 0);
    if b.bit()? == 1 {
        let (l, r, t, bottom) = (b.ue()?, b.ue()?, b.ue()?, b.ue()?);
        let (unit_x, unit_y) = match chroma_format {
            0 => (1, 2 - frame_mbs_only),
            1 => (2, 2 * (2 - frame_mbs_only)),
            2 => (2, 2 - frame_mbs_only),
            _ => (1, 2 - frame_mbs_only),
        };
        crop_x = (l + r) * unit_x;
        crop_y = (t + bottom) * unit_y;
    }
    let width = (width_mbs * 16).checked_sub(crop_x)?;
    let height = ((2 - frame_mbs_only) * height_units * 16).checked_sub(crop_y)?;
    Some((u16::try_from(width).ok()?, u16::try_from(height).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VP8 packet as libwebrtc writes the first one of a frame: X, S, 15-bit picture
    /// id, TL0PICIDX, TID/KEYIDX, then the frame.
    pub(crate) fn vp8(picture_id: u16, tl0: u8, key: Option<(u16, u16)>) -> Vec<u8> {
        let mut p = vec![
            0x90,
            0xe0,
            0x80 | (picture_id >> 8) as u8,
            picture_id as u8,
            tl0,
            0x20,
        ];
        match key {
            Some((w, h)) => {
                p.extend_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]);
                p.extend_from_slice(&w.to_le_bytes());
                p.extend_from_slice(&h.to_le_bytes());
            }
            None => p.extend_from_slice(&[0x11, 0x02, 0x00, 0x00]),
        }
        p
    }

    #[test]
    fn vp8_keyframes_and_their_size_are_seen() {
        let key = vp8(0x1234, 7, Some((1280, 720)));
        assert!(starts_keyframe(Codec::Vp8, &key));
        assert_eq!(keyframe_size(Codec::Vp8, &key), Some((1280, 720)));
        let delta = vp8(0x1235, 7, None);
        assert!(!starts_keyframe(Codec::Vp8, &delta));
        assert_eq!(keyframe_size(Codec::Vp8, &delta), None);
        // A later packet of the key frame does not start it.
        let mut middle = key.clone();
        middle[0] &= !0x10;
        assert!(!starts_keyframe(Codec::Vp8, &middle));
        assert!(!starts_keyframe(Codec::Vp8, &[]));
    }

    #[test]
    fn vp8_ids_are_read_and_rewritten_in_place() {
        let mut p = vp8(0x7ffe, 200, None);
        let ids = vp8_ids(&p).unwrap();
        assert_eq!(ids.picture_id, Some((0x7ffe, true)));
        assert_eq!(ids.tl0_pic_idx, Some(200));
        assert_eq!(ids.tid, Some(0));
        vp8_write_ids(&mut p, &ids, 5, 9);
        let again = vp8_ids(&p).unwrap();
        assert_eq!(again.picture_id, Some((5, true)));
        assert_eq!(again.tl0_pic_idx, Some(9));
        // Short picture ids stay short.
        let mut short = vec![0x90, 0x80, 0x05, 0x10, 0x02, 0x00];
        let ids = vp8_ids(&short).unwrap();
        assert_eq!(ids.picture_id, Some((5, false)));
        vp8_write_ids(&mut short, &ids, 0x81, 0);
        assert_eq!(vp8_ids(&short).unwrap().picture_id, Some((1, false)));
    }

    #[test]
    fn h264_idr_and_sps_start_keyframes_and_the_sps_gives_the_size() {
        // Constrained baseline SPSs as x264 writes them (VUI, emulation prevention);
        // 360 and 180 lines are cropped from whole macroblocks.
        let sps_720 = [
            0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03,
            0x00, 0x10, 0x00, 0x00, 0x03, 0x00, 0x20, 0xf1, 0x83, 0x24, 0x80,
        ];
        assert_eq!(sps_size(&sps_720), Some((1280, 720)));
        let sps_360 = [
            0x67, 0x42, 0xc0, 0x16, 0xd9, 0x00, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03,
            0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x02, 0x0f, 0x16, 0x2e, 0x48,
        ];
        assert_eq!(sps_size(&sps_360), Some((640, 360)));
        let sps_180 = [
            0x67, 0x42, 0xc0, 0x0b, 0xd9, 0x01, 0x41, 0x9f, 0x9f, 0x01, 0x10, 0x00, 0x00, 0x03,
            0x00, 0x10, 0x00, 0x00, 0x03, 0x00, 0x20, 0xf1, 0x42, 0xa4, 0x80,
        ];
        assert_eq!(sps_size(&sps_180), Some((320, 180)));
        assert!(starts_keyframe(Codec::H264, &sps_720));
        let mut stap = vec![0x78];
        for nal in [&sps_720[..], &[0x68, 0xce, 0x3c, 0x80][..]] {
            stap.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            stap.extend_from_slice(nal);
        }
        assert!(starts_keyframe(Codec::H264, &stap));
        assert_eq!(keyframe_size(Codec::H264, &stap), Some((1280, 720)));
        assert!(starts_keyframe(Codec::H264, &[0x7c, 0x85, 0x88]));
        assert!(!starts_keyframe(Codec::H264, &[0x7c, 0x05, 0x88]));
        assert!(!starts_keyframe(Codec::H264, &[0x41, 0x9a]));
        assert_eq!(sps_size(&[0x67, 0x42]), None);
    }
}
