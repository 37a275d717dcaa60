//! vchat's call recorder (issue 7, not built yet): crash-safe capture of each call's
//! RTP, then one file per call — the client's audio in the left channel, the agent's
//! in the right, the client's video only — made with ffmpeg-next, kept in the file
//! store for supervisors to download.
//!
//! The crate exists so the workspace has its final shape; it has no code yet.
