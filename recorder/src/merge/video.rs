//! The client's video: RTP of each join segment put back into whole frames
//! (RFC 7741 VP8 depacketization), starting at the segment's first keyframe, each
//! with its place on the timeline — to be copied into the file, never re-encoded.

use crate::capture::{Capture, Frame, Record};
use crate::timeline::order;
use crate::timeline::place::rtp_offset_us;

/// A whole video frame.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFrame {
    /// Milliseconds after the timeline's start.
    pub pts_ms: i64,
    /// A keyframe.
    pub key: bool,
    /// The VP8 frame.
    pub data: Vec<u8>,
}

/// Counters of the depacketization.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct VideoStats {
    /// Frames rebuilt.
    pub frames: u64,
    /// Frames dropped (a packet of them was lost, or they came before a keyframe).
    pub dropped: u64,
}

/// The VP8 payload after the payload descriptor, and whether the packet starts a
/// frame (S=1, partition 0).
fn vp8_payload(p: &[u8]) -> Option<(bool, &[u8])> {
    let first = *p.first()?;
    let start = first & 0x10 != 0 && first & 0x07 == 0;
    let mut at = 1;
    if first & 0x80 != 0 {
        let ext = *p.get(at)?;
        at += 1;
        if ext & 0x80 != 0 {
            at += if *p.get(at)? & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            at += 1;
        }
        if ext & 0x30 != 0 {
            at += 1;
        }
    }
    Some((start, p.get(at..)?))
}

/// Width and height of a VP8 keyframe (RFC 6386 §9.1).
pub fn vp8_size(frame: &[u8]) -> Option<(u32, u32)> {
    if frame.len() < 10 || frame[0] & 1 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u32::from(u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff);
    let h = u32::from(u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff);
    Some((w, h))
}

/// The frames of `captures` (the client's VP8 segments) on a timeline starting at
/// `origin_us`, in presentation order.
pub fn vp8_frames(captures: &[Capture], origin_us: i64) -> (Vec<VideoFrame>, VideoStats) {
    let mut out = Vec::new();
    let mut stats = VideoStats::default();
    for c in captures {
        let packets: Vec<Frame> = c
            .records
            .iter()
            .filter_map(|r| match r {
                Record::Frame(f) => Some(f.clone()),
                _ => None,
            })
            .collect();
        let packets = order(packets).frames;
        let Some(first) = packets.first() else {
            continue;
        };
        let base_us = c.header.wallclock_us + first.arrival_us as i64 - origin_us;
        let first_ts = first.rtp_ts;
        let mut seen_key = false;
        let mut prev_seq: Option<u64> = None;
        let mut i = 0;
        while i < packets.len() {
            // The packets of one frame share a timestamp.
            let ts = packets[i].rtp_ts;
            let mut j = i;
            while j < packets.len() && packets[j].rtp_ts == ts {
                j += 1;
            }
            let group = &packets[i..j];
            i = j;
            // Contiguity from the ordered packets, so a retransmission that arrived late
            // still repairs the stream.
            let after_loss = prev_seq.is_some_and(|p| group[0].seq_first != p + 1);
            prev_seq = Some(group[group.len() - 1].seq_last);
            let whole = group
                .windows(2)
                .all(|w| w[1].seq_first == w[0].seq_last + 1);
            let mut data = Vec::new();
            let mut starts = false;
            let mut ok = whole;
            for (k, p) in group.iter().enumerate() {
                match vp8_payload(&p.payload) {
                    Some((start, body)) => {
                        if k == 0 {
                            starts = start;
                        }
                        data.extend_from_slice(body);
                    }
                    None => ok = false,
                }
            }
            if !ok || !starts || data.is_empty() {
                // Frames after an incomplete one reference it: wait for a keyframe.
                seen_key = false;
                stats.dropped += 1;
                continue;
            }
            let key = data[0] & 1 == 0;
            if !seen_key && !key {
                stats.dropped += 1;
                continue;
            }
            // After a loss inside the stream, wait for the next keyframe: frames that
            // reference a missing one would decode as garbage.
            if after_loss && !key && seen_key {
                seen_key = false;
                stats.dropped += 1;
                continue;
            }
            seen_key = true;
            stats.frames += 1;
            out.push(VideoFrame {
                pts_ms: (base_us + rtp_offset_us(ts, first_ts, c.header.clock_rate)) / 1000,
                key,
                data,
            });
        }
    }
    out.sort_by_key(|f| f.pts_ms);
    (out, stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Header;

    fn capture(packets: Vec<(u64, u64, Vec<u8>)>) -> Capture {
        Capture {
            header: Header {
                call: "c".into(),
                role: "client".into(),
                kind: "video".into(),
                codec: "vp8".into(),
                fmtp: String::new(),
                clock_rate: 90_000,
                wallclock_us: 1_000_000,
                segment: 0,
                ssrc: 1,
            },
            records: packets
                .into_iter()
                .map(|(seq, ts, payload)| {
                    Record::Frame(Frame {
                        arrival_us: ts / 90 * 1000,
                        rtp_ts: ts,
                        seq_first: seq,
                        seq_last: seq,
                        flags: 0,
                        payload,
                    })
                })
                .collect(),
            torn_bytes: 0,
            closed: true,
        }
    }

    fn key(n: u8) -> Vec<u8> {
        vec![
            0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, n,
        ]
    }
    fn delta(n: u8) -> Vec<u8> {
        vec![0x10, 0x01, n]
    }
    fn cont(n: u8) -> Vec<u8> {
        vec![0x00, n]
    }

    #[test]
    fn frames_after_a_loss_wait_for_the_next_keyframe_and_late_repairs_count() {
        let c = capture(vec![
            (1, 0, key(1)),
            (2, 3000, delta(2)),
            (3, 3000, cont(2)),
            // seq 4 lost: the frame at 6000 is incomplete, 9000 references it.
            (5, 6000, cont(3)),
            (6, 9000, delta(4)),
            (7, 12000, key(5)),
            (9, 15000, delta(6)), // 8 arrives late (retransmitted), below
            (8, 12000, cont(5)),
        ]);
        let (frames, stats) = vp8_frames(&[c], 1_000_000);
        let times: Vec<i64> = frames.iter().map(|f| f.pts_ms).collect();
        assert_eq!(times, [0, 33, 133, 166], "{frames:?}");
        assert!(frames[0].key && frames[2].key);
        assert_eq!(stats.dropped, 2);
        assert_eq!(vp8_size(&frames[0].data), Some((320, 240)));
    }
}
