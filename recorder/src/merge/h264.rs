//! H.264 over RTP (RFC 6184, packetization mode 1 — what browsers send): NAL units
//! put back into Annex B access units, which are IDR, and the picture size from the
//! sequence parameter set; and (for tests and benchmarks) packetization.

use super::bits::Bits;

/// The Annex B start code written before each NAL unit.
pub const START: [u8; 4] = [0, 0, 0, 1];

/// NAL unit types used here.
pub const IDR: u8 = 5;
/// Sequence parameter set.
pub const SPS: u8 = 7;
/// Picture parameter set.
pub const PPS: u8 = 8;
const STAP_A: u8 = 24;
const FU_A: u8 = 28;

/// Appends the NAL units of one RTP payload to an access unit being rebuilt: `Some(true)`
/// when the payload starts a NAL unit (anything but a middle or last fragment),
/// `None` when it cannot be read.
pub fn append(payload: &[u8], out: &mut Vec<u8>) -> Option<bool> {
    let first = *payload.first()?;
    match first & 0x1f {
        1..=23 => {
            out.extend_from_slice(&START);
            out.extend_from_slice(payload);
            Some(true)
        }
        STAP_A => {
            let mut at = 1;
            while at < payload.len() {
                let size = usize::from(u16::from_be_bytes([
                    *payload.get(at)?,
                    *payload.get(at + 1)?,
                ]));
                let nal = payload.get(at + 2..at + 2 + size)?;
                if !nal.is_empty() {
                    out.extend_from_slice(&START);
                    out.extend_from_slice(nal);
                }
                at += 2 + size;
            }
            Some(true)
        }
        FU_A => {
            let header = *payload.get(1)?;
            if header & 0x80 != 0 {
                out.extend_from_slice(&START);
                out.push((first & 0xe0) | (header & 0x1f));
                out.extend_from_slice(payload.get(2..)?);
                Some(true)
            } else {
                out.extend_from_slice(payload.get(2..)?);
                Some(false)
            }
        }
        _ => None, // STAP-B, MTAP, FU-B: interleaved mode, which browsers do not use
    }
}

/// The NAL units of an Annex B access unit.
pub fn nals(frame: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = frame;
    std::iter::from_fn(move || {
        loop {
            let at = rest.windows(3).position(|w| w == [0, 0, 1])?;
            let body = &rest[at + 3..];
            let end = body
                .windows(3)
                .position(|w| w == [0, 0, 1])
                .map_or(body.len(), |e| {
                    // A four-byte start code's leading zero belongs to the next one.
                    if e > 0 && body[e - 1] == 0 { e - 1 } else { e }
                });
            rest = &body[end..];
            if end > 0 {
                return Some(&body[..end]);
            }
        }
    })
}

/// Whether an access unit holds an IDR picture (a keyframe).
pub fn is_idr(frame: &[u8]) -> bool {
    nals(frame).any(|n| n[0] & 0x1f == IDR)
}

/// The bytes of a NAL unit's payload without emulation prevention (RBSP).
fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Width and height from a sequence parameter set NAL unit (H.264 §7.3.2.1.1).
pub fn sps_size(nal: &[u8]) -> Option<(u32, u32)> {
    if nal.first()? & 0x1f != SPS {
        return None;
    }
    let data = rbsp(&nal[1..]);
    let mut b = Bits::new(&data);
    let profile = b.read(8)?;
    b.read(16)?; // constraint flags, level
    b.ue()?; // seq_parameter_set_id
    let mut chroma_format = 1;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format = b.ue()?;
        if chroma_format == 3 {
            b.read(1)?;
        }
        b.ue()?;
        b.ue()?;
        b.read(1)?;
        if b.read(1)? == 1 {
            for i in 0..if chroma_format == 3 { 12 } else { 8 } {
                if b.read(1)? == 1 {
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
            b.read(1)?;
            b.se()?;
            b.se()?;
            for _ in 0..b.ue()? {
                b.se()?;
            }
        }
        _ => {}
    }
    b.ue()?; // max_num_ref_frames
    b.read(1)?;
    let width_mbs = b.ue()? + 1;
    let height_units = b.ue()? + 1;
    let frame_mbs_only = b.read(1)?;
    if frame_mbs_only == 0 {
        b.read(1)?;
    }
    b.read(1)?;
    let (mut cl, mut cr, mut ct, mut cb) = (0, 0, 0, 0);
    if b.read(1)? == 1 {
        (cl, cr, ct, cb) = (b.ue()?, b.ue()?, b.ue()?, b.ue()?);
    }
    let (sub_w, sub_h) = match chroma_format {
        0 => (1, 1),
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let crop_x = sub_w;
    let crop_y = sub_h * (2 - frame_mbs_only);
    let width = width_mbs * 16 - crop_x * (cl + cr);
    let height = (2 - frame_mbs_only) * height_units * 16 - crop_y * (ct + cb);
    Some((width, height))
}

/// The RTP payloads of an Annex B access unit: NAL units that fit alone, parameter
/// sets aggregated with nothing else, bigger ones in FU-A fragments — for tests and
/// benchmarks that make captures.
pub fn payloads(frame: &[u8], max_payload: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for nal in nals(frame) {
        if nal.len() <= max_payload {
            out.push(nal.to_vec());
            continue;
        }
        let (head, body) = (nal[0], &nal[1..]);
        let chunks: Vec<&[u8]> = body.chunks(max_payload - 2).collect();
        for (k, chunk) in chunks.iter().enumerate() {
            let mut fu = (head & 0x1f) | if k == 0 { 0x80 } else { 0 };
            if k + 1 == chunks.len() {
                fu |= 0x40;
            }
            let mut p = vec![(head & 0xe0) | FU_A, fu];
            p.extend_from_slice(chunk);
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libx264's SPS for 640x360, High profile (coded as 640x368, cropped).
    const SPS_640X360: [u8; 26] = [
        0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03,
        0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2d, 0x96,
    ];

    #[test]
    fn access_units_come_back_from_single_aggregated_and_fragmented_packets() {
        let idr: Vec<u8> = [0x65]
            .into_iter()
            .chain((0..3000).map(|i| (i % 251) as u8 + 1))
            .collect();
        let pps = [0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];
        let mut frame = Vec::new();
        for nal in [&SPS_640X360[..], &pps[..], &idr[..]] {
            frame.extend_from_slice(&START);
            frame.extend_from_slice(nal);
        }
        let packets = payloads(&frame, 1200);
        assert_eq!(
            packets.len(),
            2 + 3,
            "SPS, PPS, then the IDR in three fragments"
        );
        // A STAP-A with the parameter sets, as browsers send them.
        let mut stap = vec![0x78];
        for nal in [&SPS_640X360[..], &pps[..]] {
            stap.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            stap.extend_from_slice(nal);
        }
        let mut rebuilt = Vec::new();
        assert_eq!(append(&stap, &mut rebuilt), Some(true));
        let mut starts = Vec::new();
        for p in &packets[2..] {
            starts.push(append(p, &mut rebuilt).unwrap());
        }
        assert_eq!(starts, [true, false, false]);
        assert_eq!(rebuilt, frame);
        assert!(is_idr(&rebuilt));
        assert_eq!(nals(&rebuilt).count(), 3);
        assert_eq!(sps_size(&SPS_640X360), Some((640, 360)));
        assert_eq!(append(&[0x79, 0, 1], &mut rebuilt), None, "STAP-B");
    }
}
