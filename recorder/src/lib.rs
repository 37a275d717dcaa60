//! vchat's call recorder: crash-safe capture of each call's media during the call,
//! then one file per call — the client's audio in the left channel, the agent's in
//! the right, the client's video only.
//!
//! Built so far (issue 7 is in progress):
//! - [`capture`]: the versioned, append-only, checksummed per-track file format, its
//!   sans-IO writer (flushed at least once a second) and a reader that drops a torn
//!   tail;
//! - [`timeline`]: the timestamp rules of the merge — RTP clocks past the wrap,
//!   ordering and duplicates, what to do in each gap (FEC, concealment, silence), and
//!   join segments placed by wall clock;
//! - [`store`]: where recordings are kept — a local folder or an S3-compatible bucket,
//!   with ranges, multipart uploads and presigned URLs, one suite for both.
//!
//! Still to come: the tap in the SFU that feeds captures, the merge with ffmpeg-next,
//! and downloads through the control plane.

#![forbid(unsafe_code)]

pub mod capture;
pub mod merge;
pub mod store;
pub mod timeline;
