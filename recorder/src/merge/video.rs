//! The client's video: RTP of each join segment put back into whole frames
//! (RFC 7741 VP8, RFC 9628 VP9 — its base spatial layer), starting at the segment's
//! first keyframe, each with its place on the timeline — to be copied into the file,
//! never re-encoded. Read as a stream: a frame of each segment at a time.

use super::party::ReadStats;
use super::{CaptureFrames, TrackFile};
use crate::capture::Frame;
use crate::timeline::OrderedFrames;
use crate::timeline::place::rtp_offset_us;

use super::{h264, vp9};

/// A whole video frame.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFrame {
    /// Milliseconds after the timeline's start.
    pub pts_ms: i64,
    /// A keyframe.
    pub key: bool,
    /// The coded frame.
    pub data: Vec<u8>,
}

/// The video codecs the merge copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// VP8.
    Vp8,
    /// VP9.
    Vp9,
    /// H.264 (written to MP4).
    H264,
}

impl VideoCodec {
    /// The codec of a capture header's `codec` name.
    pub fn from_name(name: &str) -> Option<VideoCodec> {
        match name {
            "vp8" => Some(VideoCodec::Vp8),
            "vp9" => Some(VideoCodec::Vp9),
            "h264" => Some(VideoCodec::H264),
            _ => None,
        }
    }

    /// Appends what an RTP payload adds to the frame being rebuilt.
    fn append(&self, p: &[u8], out: &mut Vec<u8>) -> Appended {
        let body = match self {
            VideoCodec::Vp8 => vp8_payload(p),
            VideoCodec::Vp9 => match vp9::descriptor(p) {
                // Upper spatial layers are left out: the base layer decodes alone.
                Some(d) if d.spatial > 0 => return Appended::Skipped,
                Some(d) => Some((d.start, &p[d.header_len..])),
                None => None,
            },
            VideoCodec::H264 => {
                return match h264::append(p, out) {
                    Some(start) => Appended::Data { start },
                    None => Appended::Bad,
                };
            }
        };
        match body {
            Some((start, body)) => {
                out.extend_from_slice(body);
                Appended::Data { start }
            }
            None => Appended::Bad,
        }
    }

    /// Whether a whole frame is a keyframe.
    pub fn is_key(&self, frame: &[u8]) -> bool {
        match self {
            VideoCodec::Vp8 => frame.first().is_some_and(|b| b & 1 == 0),
            VideoCodec::Vp9 => vp9::frame_info(frame).is_some_and(|(key, _)| key),
            VideoCodec::H264 => h264::is_idr(frame),
        }
    }

    /// A keyframe's width and height.
    pub fn size(&self, frame: &[u8]) -> Option<(u32, u32)> {
        match self {
            VideoCodec::Vp8 => vp8_size(frame),
            VideoCodec::Vp9 => vp9::frame_info(frame).and_then(|(_, size)| size),
            VideoCodec::H264 => h264::nals(frame).find_map(h264::sps_size),
        }
    }

    /// What a decoder needs before the first frame (H.264: its parameter sets, Annex B).
    pub fn extradata(&self, frame: &[u8]) -> Vec<u8> {
        match self {
            VideoCodec::H264 => h264_parameter_sets(frame),
            _ => Vec::new(),
        }
    }
}

/// The SPS and PPS NAL units of an access unit, Annex B.
fn h264_parameter_sets(frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for nal in h264::nals(frame).filter(|n| matches!(n[0] & 0x1f, h264::SPS | h264::PPS)) {
        out.extend_from_slice(&h264::START);
        out.extend_from_slice(nal);
    }
    out
}

/// What appending one RTP payload did.
enum Appended {
    /// Frame data went in; `start` when the payload begins a frame (or NAL unit).
    Data { start: bool },
    /// Nothing this merge keeps (an upper spatial layer).
    Skipped,
    /// Unreadable.
    Bad,
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

/// The RTP payloads of a VP8 frame (RFC 7741 §4.2, the minimal one-byte descriptor):
/// the inverse of the depacketization here, for tests and benchmarks that make
/// captures.
pub fn vp8_payloads(frame: &[u8], max_payload: usize) -> Vec<Vec<u8>> {
    frame
        .chunks(max_payload.max(2) - 1)
        .enumerate()
        .map(|(k, chunk)| {
            let mut p = Vec::with_capacity(chunk.len() + 1);
            p.push(if k == 0 { 0x10 } else { 0x00 });
            p.extend_from_slice(chunk);
            p
        })
        .collect()
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

/// The frames of one segment's ordered packets.
pub struct VideoFrames<I> {
    codec: VideoCodec,
    packets: I,
    lookahead: Option<Frame>,
    /// Microseconds from the timeline's origin to the segment's header clock.
    header_offset_us: i64,
    clock_rate: u32,
    /// The first packet's place (µs on the timeline) and RTP timestamp.
    base: Option<(i64, u64)>,
    seen_key: bool,
    prev_seq: Option<u64>,
    group: Vec<Frame>,
    /// H.264: the last SPS and PPS seen (Annex B).
    parameter_sets: Vec<u8>,
    /// Counters so far.
    pub stats: VideoStats,
}

impl<I: Iterator<Item = Frame>> VideoFrames<I> {
    /// The frames of `packets` (in RTP order) of a segment whose header clock is
    /// `header_offset_us` after the timeline's origin.
    pub fn new(codec: VideoCodec, packets: I, header_offset_us: i64, clock_rate: u32) -> Self {
        VideoFrames {
            codec,
            packets,
            lookahead: None,
            header_offset_us,
            clock_rate,
            base: None,
            seen_key: false,
            prev_seq: None,
            group: Vec::new(),
            parameter_sets: Vec::new(),
            stats: VideoStats::default(),
        }
    }

    /// Places the segment by `anchor` (RTP time `.1` goes at `.0` µs of the
    /// timeline) instead of by its first packet's arrival.
    pub fn anchored(mut self, anchor: Option<(i64, u64)>) -> Self {
        self.base = anchor;
        self
    }

    /// The packets being read.
    pub fn inner(&self) -> &I {
        &self.packets
    }

    fn next_packet(&mut self) -> Option<Frame> {
        self.lookahead.take().or_else(|| self.packets.next())
    }
}

impl<I: Iterator<Item = Frame>> Iterator for VideoFrames<I> {
    type Item = VideoFrame;

    fn next(&mut self) -> Option<VideoFrame> {
        loop {
            // The packets of one frame share a timestamp.
            self.group.clear();
            let first = self.next_packet()?;
            let ts = first.rtp_ts;
            let (base_us, first_ts) = *self.base.get_or_insert((
                self.header_offset_us + first.arrival_us as i64,
                first.rtp_ts,
            ));
            self.group.push(first);
            while let Some(p) = self.next_packet() {
                if p.rtp_ts != ts {
                    self.lookahead = Some(p);
                    break;
                }
                self.group.push(p);
            }
            let group = &self.group;
            // Contiguity from the ordered packets, so a retransmission that arrived late
            // still repairs the stream.
            let after_loss = self.prev_seq.is_some_and(|p| group[0].seq_first != p + 1);
            self.prev_seq = Some(group[group.len() - 1].seq_last);
            let whole = group
                .windows(2)
                .all(|w| w[1].seq_first == w[0].seq_last + 1);
            let mut data = Vec::with_capacity(group.iter().map(|p| p.payload.len() + 8).sum());
            let mut starts = None;
            let mut ok = whole;
            for p in group.iter() {
                match self.codec.append(&p.payload, &mut data) {
                    Appended::Data { start } => {
                        starts.get_or_insert(start);
                    }
                    Appended::Skipped => {}
                    Appended::Bad => ok = false,
                }
            }
            if !ok || starts != Some(true) || data.is_empty() {
                // Frames after an incomplete one reference it: wait for a keyframe.
                self.seen_key = false;
                self.stats.dropped += 1;
                continue;
            }
            if self.codec == VideoCodec::H264 {
                // An IDR sent without its parameter sets gets the last ones seen, so
                // every keyframe in the file decodes on its own.
                let sets = h264_parameter_sets(&data);
                if !sets.is_empty() {
                    self.parameter_sets = sets;
                } else if h264::is_idr(&data) && !self.parameter_sets.is_empty() {
                    data.splice(0..0, self.parameter_sets.iter().copied());
                }
            }
            let key = self.codec.is_key(&data);
            if !self.seen_key && !key {
                self.stats.dropped += 1;
                continue;
            }
            // After a loss inside the stream, wait for the next keyframe: frames that
            // reference a missing one would decode as garbage.
            if after_loss && !key && self.seen_key {
                self.seen_key = false;
                self.stats.dropped += 1;
                continue;
            }
            self.seen_key = true;
            self.stats.frames += 1;
            return Some(VideoFrame {
                pts_ms: (base_us + rtp_offset_us(ts, first_ts, self.clock_rate)) / 1000,
                key,
                data,
            });
        }
    }
}

type SegmentFrames = VideoFrames<OrderedFrames<CaptureFrames>>;

/// The client's video frames of every segment, in presentation order.
pub struct ClientVideo {
    segments: Vec<(SegmentFrames, Option<VideoFrame>)>,
    /// Files that could not be opened.
    pub unreadable: Vec<String>,
}

impl ClientVideo {
    /// The video of `files` (the client's segments, all in `codec`) on a timeline
    /// starting at `origin_us`, each placed by its anchor (see
    /// [`VideoFrames::anchored`]) or else by its arrival.
    pub fn new(
        codec: VideoCodec,
        files: &[(TrackFile, Option<(i64, u64)>)],
        origin_us: i64,
    ) -> ClientVideo {
        let mut segments = Vec::new();
        let mut unreadable = Vec::new();
        for (file, anchor) in files.iter().filter(|(f, _)| f.first_us.is_some()) {
            match file.open() {
                Ok(stream) => {
                    let mut frames = VideoFrames::new(
                        codec,
                        OrderedFrames::new(CaptureFrames(stream)),
                        file.header.wallclock_us - origin_us,
                        file.header.clock_rate,
                    )
                    .anchored(*anchor);
                    let head = frames.next();
                    segments.push((frames, head));
                }
                Err(e) => unreadable.push(format!("{}: {e}", file.path.display())),
            }
        }
        ClientVideo {
            segments,
            unreadable,
        }
    }

    /// The next frame's time (ms on the timeline), if any.
    pub fn peek(&self) -> Option<&VideoFrame> {
        self.segments
            .iter()
            .filter_map(|(_, head)| head.as_ref())
            .min_by_key(|f| f.pts_ms)
    }

    /// Counters of the depacketization and of reading the files.
    pub fn stats(&self) -> (VideoStats, ReadStats) {
        let mut video = VideoStats::default();
        let mut read = ReadStats::default();
        for (s, _) in &self.segments {
            video.frames += s.stats.frames;
            video.dropped += s.stats.dropped;
            read.torn_bytes += s.inner().inner().0.torn_bytes();
            read.duplicates += s.inner().reorder().duplicates as u64;
            read.late += s.inner().reorder().late as u64;
        }
        (video, read)
    }
}

impl Iterator for ClientVideo {
    type Item = VideoFrame;

    fn next(&mut self) -> Option<VideoFrame> {
        let (frames, head) = self
            .segments
            .iter_mut()
            .filter(|(_, head)| head.is_some())
            .min_by_key(|(_, head)| head.as_ref().map(|f| f.pts_ms))?;
        let next = frames.next();
        std::mem::replace(head, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Capture, Header, Record};
    use crate::timeline::order;

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
        let packets: Vec<Frame> = c
            .records
            .into_iter()
            .filter_map(|r| match r {
                Record::Frame(f) => Some(f),
                _ => None,
            })
            .collect();
        let mut it = VideoFrames::new(
            VideoCodec::Vp8,
            order(packets).frames.into_iter(),
            0,
            90_000,
        );
        let frames: Vec<VideoFrame> = it.by_ref().collect();
        let stats = it.stats;
        let times: Vec<i64> = frames.iter().map(|f| f.pts_ms).collect();
        assert_eq!(times, [0, 33, 133, 166], "{frames:?}");
        assert!(frames[0].key && frames[2].key);
        assert_eq!(stats.dropped, 2);
        assert_eq!(vp8_size(&frames[0].data), Some((320, 240)));
    }

    #[test]
    fn packetized_frames_come_back_whole() {
        let mut frame = key(9);
        frame.drain(..1); // the descriptor byte of the test payload
        frame.extend(std::iter::repeat_n(0x5a, 2500));
        let packets: Vec<Frame> = vp8_payloads(&frame, 1000)
            .into_iter()
            .enumerate()
            .map(|(k, payload)| Frame {
                arrival_us: 0,
                rtp_ts: 9000,
                seq_first: k as u64,
                seq_last: k as u64,
                flags: 0,
                payload,
            })
            .collect();
        assert_eq!(packets.len(), 3);
        let frames: Vec<VideoFrame> =
            VideoFrames::new(VideoCodec::Vp8, packets.into_iter(), 0, 90_000).collect();
        assert_eq!(frames.len(), 1);
        assert!(frames[0].key);
        assert_eq!(frames[0].data, frame);
    }
}
