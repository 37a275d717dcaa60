//! The capture format: what the recorder writes during a call, one append-only file
//! per track and join segment, so a crash loses at most the last unflushed second.
//!
//! ```text
//! file    = magic "VCHATREC" | version u16 | header_len u32 | header (JSON) | crc32(header) u32
//!           | record*
//! record  = body_len u32 | kind u8 | body | crc32(kind, body) u32
//! frame   (kind 1) = arrival_us u64 | rtp_ts u64 | seq_first u64 | seq_last u64 | flags u8 | payload
//!                    (the SFU's tap writes one per RTP packet: seq_first = seq_last, the
//!                    payload still packetized; flags: keyframe 1, contiguous 2,
//!                    talkspurt 4, RTP marker 8)
//! sender  (kind 2) = arrival_us u64 | ntp u64 | rtp_ts u64          (an RTCP sender report)
//! end     (kind 3) = arrival_us u64                                  (closed cleanly)
//! ```
//! All integers little-endian. `arrival_us` counts from the header's `wallclock_us`
//! (server arrival of the first frame); `rtp_ts` and sequence numbers are extended to
//! 64 bits by the writer's source (str0m extends them). A record whose length runs past
//! the end of the file or whose CRC does not match ends the readable part: that is the
//! torn tail a crash leaves, and it is dropped.

pub mod files;
pub mod format;
pub mod keyframe;
pub mod reader;
pub mod stream;
pub mod writer;

pub use format::{
    FLAG_CONTIGUOUS, FLAG_KEYFRAME, FLAG_MARKER, FLAG_TALKSPURT, Frame, Header, Record,
    SenderReport,
};
pub use reader::{Capture, ReadError, read};
pub use stream::{CaptureStream, OpenError};
pub use writer::Writer;
