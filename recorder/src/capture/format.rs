//! Encoding and decoding of the capture format's parts.

use serde::{Deserialize, Serialize};

use super::reader::ReadError;

/// The file's first bytes.
pub const MAGIC: &[u8; 8] = b"VCHATREC";
/// The format version this code writes and reads.
pub const VERSION: u16 = 1;
/// Largest header accepted when reading.
pub const MAX_HEADER: usize = 64 * 1024;
/// Largest record body accepted when reading (a video frame of a 4K keyframe fits).
pub const MAX_RECORD: usize = 16 * 1024 * 1024;

/// The frame is a keyframe.
pub const FLAG_KEYFRAME: u8 = 1;
/// No packets were lost between the previous frame and this one.
pub const FLAG_CONTIGUOUS: u8 = 2;
/// The first frame after a silence (DTX) gap.
pub const FLAG_TALKSPURT: u8 = 4;
/// The RTP marker bit (video: the last packet of a frame).
pub const FLAG_MARKER: u8 = 8;

const KIND_FRAME: u8 = 1;
const KIND_SENDER: u8 = 2;
const KIND_END: u8 = 3;

/// What a capture file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The call (interaction) id.
    pub call: String,
    /// `client` or `agent`.
    pub role: String,
    /// `audio` or `video`.
    pub kind: String,
    /// `opus`, `vp8`, `vp9`, `h264`.
    pub codec: String,
    /// The codec's fmtp line.
    pub fmtp: String,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Unix microseconds when the first frame arrived: `arrival_us` counts from here.
    pub wallclock_us: i64,
    /// The join segment (0 for the first join, +1 per rejoin or SSRC change).
    pub segment: u32,
    /// The sender's SSRC in this segment.
    pub ssrc: u32,
}

/// One media frame (depacketized).
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Microseconds after the header's wall clock when it arrived.
    pub arrival_us: u64,
    /// Extended RTP timestamp.
    pub rtp_ts: u64,
    /// First extended sequence number.
    pub seq_first: u64,
    /// Last extended sequence number.
    pub seq_last: u64,
    /// [`FLAG_KEYFRAME`] | [`FLAG_CONTIGUOUS`] | [`FLAG_TALKSPURT`].
    pub flags: u8,
    /// The codec payload.
    pub payload: Vec<u8>,
}

impl Frame {
    /// Whether it is a keyframe.
    pub fn is_keyframe(&self) -> bool {
        self.flags & FLAG_KEYFRAME != 0
    }
}

/// An RTCP sender report: maps the sender's RTP clock to its NTP wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    /// When it arrived (µs after the header's wall clock).
    pub arrival_us: u64,
    /// NTP timestamp (64-bit fixed point).
    pub ntp: u64,
    /// Extended RTP timestamp.
    pub rtp_ts: u64,
}

/// A record of the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A frame.
    Frame(Frame),
    /// A sender report.
    Sender(SenderReport),
    /// The writer closed the file cleanly.
    End {
        /// When.
        arrival_us: u64,
    },
}

/// Bytes of a file before its header's JSON: magic, version, JSON length.
pub const PREFIX: usize = 14;

/// Checks the start of a file (its first [`PREFIX`] bytes, or all of it when shorter)
/// and returns the length of the header's JSON.
pub fn header_prefix(start: &[u8]) -> Result<usize, ReadError> {
    if start.len() < 8 || &start[..8] != MAGIC {
        return Err(ReadError::NotCapture);
    }
    let version = u16::from_le_bytes(
        start
            .get(8..10)
            .ok_or(ReadError::Header)?
            .try_into()
            .expect("2 bytes"),
    );
    if version > VERSION {
        return Err(ReadError::Version(version));
    }
    let len = u32::from_le_bytes(
        start
            .get(10..14)
            .ok_or(ReadError::Header)?
            .try_into()
            .expect("4 bytes"),
    ) as usize;
    if len > MAX_HEADER {
        return Err(ReadError::Header);
    }
    Ok(len)
}

/// The header from the bytes after the prefix: its JSON and the JSON's CRC.
pub fn header_body(json_and_crc: &[u8]) -> Result<Header, ReadError> {
    let split = json_and_crc.len().checked_sub(4).ok_or(ReadError::Header)?;
    let (json, crc) = json_and_crc.split_at(split);
    if crc32fast::hash(json).to_le_bytes() != crc {
        return Err(ReadError::Header);
    }
    serde_json::from_slice(json).map_err(|_| ReadError::Header)
}

/// Appends the file's header.
pub fn encode_header(out: &mut Vec<u8>, header: &Header) {
    let json = serde_json::to_vec(header).expect("headers serialize");
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(
        &u32::try_from(json.len())
            .expect("small header")
            .to_le_bytes(),
    );
    out.extend_from_slice(&json);
    out.extend_from_slice(&crc32fast::hash(&json).to_le_bytes());
}

fn encode_record(out: &mut Vec<u8>, kind: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let kind_at = out.len();
    out.push(kind);
    body(out);
    let body_len = out.len() - kind_at - 1;
    out[len_at..len_at + 4]
        .copy_from_slice(&u32::try_from(body_len).expect("record fits").to_le_bytes());
    let crc = crc32fast::hash(&out[kind_at..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Appends a frame record whose payload is `payload` (the `payload` field of `frame`
/// is not read): writers with the bytes elsewhere need not copy them into a [`Frame`].
pub fn encode_frame(out: &mut Vec<u8>, frame: &Frame, payload: &[u8]) {
    encode_record(out, KIND_FRAME, |o| {
        o.extend_from_slice(&frame.arrival_us.to_le_bytes());
        o.extend_from_slice(&frame.rtp_ts.to_le_bytes());
        o.extend_from_slice(&frame.seq_first.to_le_bytes());
        o.extend_from_slice(&frame.seq_last.to_le_bytes());
        o.push(frame.flags);
        o.extend_from_slice(payload);
    });
}

/// Appends one record.
pub fn encode(out: &mut Vec<u8>, record: &Record) {
    match record {
        Record::Frame(f) => encode_frame(out, f, &f.payload),
        Record::Sender(s) => encode_record(out, KIND_SENDER, |o| {
            o.extend_from_slice(&s.arrival_us.to_le_bytes());
            o.extend_from_slice(&s.ntp.to_le_bytes());
            o.extend_from_slice(&s.rtp_ts.to_le_bytes());
        }),
        Record::End { arrival_us } => encode_record(out, KIND_END, |o| {
            o.extend_from_slice(&arrival_us.to_le_bytes());
        }),
    }
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// What decoding the next record found.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// A record and the bytes it took.
    Record(Record, usize),
    /// Nothing more (the input is empty).
    End,
    /// The rest is not a whole valid record (a torn tail, or damage).
    Torn,
}

/// Decodes the record at the start of `input`.
pub fn decode(input: &[u8]) -> Decoded {
    if input.is_empty() {
        return Decoded::End;
    }
    let Some(len) = input
        .get(..4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
    else {
        return Decoded::Torn;
    };
    if len > MAX_RECORD || input.len() < 4 + 1 + len + 4 {
        return Decoded::Torn;
    }
    let kind_and_body = &input[4..4 + 1 + len];
    let crc = u32::from_le_bytes(input[5 + len..9 + len].try_into().expect("4 bytes"));
    if crc32fast::hash(kind_and_body) != crc {
        return Decoded::Torn;
    }
    let body = &kind_and_body[1..];
    let record = match kind_and_body[0] {
        KIND_FRAME if body.len() >= 33 => Record::Frame(Frame {
            arrival_us: u64_at(body, 0).expect("checked"),
            rtp_ts: u64_at(body, 8).expect("checked"),
            seq_first: u64_at(body, 16).expect("checked"),
            seq_last: u64_at(body, 24).expect("checked"),
            flags: body[32],
            payload: body[33..].to_vec(),
        }),
        KIND_SENDER if body.len() == 24 => Record::Sender(SenderReport {
            arrival_us: u64_at(body, 0).expect("checked"),
            ntp: u64_at(body, 8).expect("checked"),
            rtp_ts: u64_at(body, 16).expect("checked"),
        }),
        KIND_END if body.len() == 8 => Record::End {
            arrival_us: u64_at(body, 0).expect("checked"),
        },
        // A valid CRC over an unknown kind is a newer writer's record: stop, as for damage.
        _ => return Decoded::Torn,
    };
    Decoded::Record(record, 4 + 1 + len + 4)
}
