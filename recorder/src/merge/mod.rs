//! The merge after the call: one file with the client's audio in the left channel,
//! the agent's in the right, and the client's video copied without re-encoding —
//! muxed by libavformat (ffmpeg-next) into WebM.
//!
//! Two ways to the stereo track ([`AudioMode`]): the parties' own Opus packets put
//! side by side as the two streams of one Opus track (RFC 7845 channel mapping
//! family 1, no decoding, no encoding), or both decoded, placed and encoded again as
//! stereo Opus. Everything is read as a stream: memory does not grow with the call.

pub mod audio;
mod bits;
#[allow(unsafe_code)]
mod codec_parameters;
pub mod h264;
pub mod mux;
pub mod party;
pub mod passthrough;
pub mod upsample;
pub mod video;
pub mod vp9;

use std::path::{Path, PathBuf};

use crate::capture::{self, CaptureStream, Header, Record};
use crate::timeline::sync::Report;

pub use mux::{AudioMode, Container, MergeError, MergeOptions, MergeReport, merge, merge_with};

/// One capture file of the call.
#[derive(Debug, Clone)]
pub struct TrackFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its header.
    pub header: Header,
    /// Unix µs when the server received its first frame (none: no frame was captured).
    pub first_us: Option<i64>,
    /// The first frame's RTP timestamp.
    pub first_rtp_ts: Option<u64>,
    /// The first RTCP sender report near the start of the file.
    pub first_report: Option<Report>,
}

/// How many records from the start a sender report is looked for (a report comes
/// about once a second; this is tens of seconds of media).
const REPORT_SCAN: usize = 5000;

impl TrackFile {
    /// Opens the file for reading from the start.
    pub fn open(&self) -> Result<CaptureStream, capture::OpenError> {
        CaptureStream::open(&self.path)
    }
}

/// The capture files of one call, sorted by role and kind (only their headers and
/// first frames are read here).
#[derive(Debug, Default)]
pub struct CallCaptures {
    /// The client's audio segments.
    pub client_audio: Vec<TrackFile>,
    /// The agent's audio segments.
    pub agent_audio: Vec<TrackFile>,
    /// The client's video segments.
    pub client_video: Vec<TrackFile>,
    /// Files that could not be read (not captures, or a header cut by a crash).
    pub unreadable: Vec<String>,
}

impl CallCaptures {
    /// Finds every capture file in `dir`.
    pub fn open_dir(dir: &Path) -> std::io::Result<CallCaptures> {
        let mut out = CallCaptures::default();
        let mut paths: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == capture::files::EXTENSION)
            })
            .collect();
        paths.sort();
        for path in paths {
            let mut stream = match CaptureStream::open(&path) {
                Ok(s) => s,
                Err(e) => {
                    out.unreadable.push(format!("{}: {e}", path.display()));
                    continue;
                }
            };
            let header = stream.header().clone();
            let (mut first, mut first_report) = (None, None);
            for r in stream.by_ref().take(REPORT_SCAN) {
                match r {
                    Record::Frame(f) if first.is_none() => first = Some(f),
                    Record::Sender(s) if first_report.is_none() => {
                        first_report = Some(Report {
                            ntp: s.ntp,
                            rtp_ts: s.rtp_ts,
                        })
                    }
                    _ => {}
                }
                if first.is_some() && first_report.is_some() {
                    break;
                }
            }
            let file = TrackFile {
                path,
                first_us: first
                    .as_ref()
                    .map(|f| header.wallclock_us + f.arrival_us as i64),
                first_rtp_ts: first.map(|f| f.rtp_ts),
                first_report,
                header,
            };
            match (file.header.role.as_str(), file.header.kind.as_str()) {
                ("client", "audio") => out.client_audio.push(file),
                ("agent", "audio") => out.agent_audio.push(file),
                ("client", "video") => out.client_video.push(file),
                _ => {} // the agent's video is not recorded
            }
        }
        Ok(out)
    }

    /// The timeline's origin: the first media of the call (Unix µs).
    pub fn origin_us(&self) -> Option<i64> {
        self.client_audio
            .iter()
            .chain(&self.agent_audio)
            .chain(&self.client_video)
            .filter_map(|t| t.first_us)
            .min()
    }
}

/// The frames of a capture stream, other records skipped.
pub(crate) struct CaptureFrames(pub(crate) CaptureStream);

impl Iterator for CaptureFrames {
    type Item = capture::Frame;

    fn next(&mut self) -> Option<capture::Frame> {
        loop {
            match self.0.next()? {
                Record::Frame(f) => return Some(f),
                _ => continue,
            }
        }
    }
}
