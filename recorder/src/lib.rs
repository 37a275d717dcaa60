//! vchat's call recorder: crash-safe capture of each call's media during the call,
//! then one file per call — the client's audio in the left channel, the agent's in
//! the right, the client's video only.
//!
//! - [`capture`]: the versioned, append-only, checksummed per-track file format, its
//!   sans-IO writer (flushed at least once a second), the driver that writes what the
//!   SFU's tap hands over, and readers (whole, or streaming) that drop a torn tail;
//! - [`timeline`]: the timestamp rules of the merge — RTP clocks past the wrap,
//!   ordering and duplicates (also through a bounded window while streaming), what to
//!   do in each gap (FEC, concealment, silence), join segments placed by wall clock,
//!   lip sync from RTCP sender reports;
//! - [`merge`]: the file of a call, streamed — the parties' Opus side by side (their
//!   own packets as two streams, or decoded and encoded again), the client's VP8/VP9
//!   (WebM) or H.264 (MP4) copied, muxed by libavformat (ffmpeg-next);
//! - [`store`]: where recordings are kept — a local folder or an S3-compatible bucket,
//!   with ranges, multipart uploads and presigned URLs, one suite for both.
//!
//! Unsafe code lives in one place: `merge::codec_parameters` sets the stream extra
//! data ffmpeg-next has no safe call for.

#![deny(unsafe_code)]

pub mod capture;
pub mod merge;
pub mod store;
pub mod timeline;
